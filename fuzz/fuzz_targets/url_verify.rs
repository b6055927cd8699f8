//! URL verification from a fuzzed query string, with and without a freshness window.
#![no_main]

use std::time::Duration;

use card_push::{PushConfig, PushQuery, Token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    let plain = PushConfig::plain(Token::new("AAAAA").unwrap());
    let fresh = plain.clone().with_max_age(Duration::from_secs(300));
    if let Ok(q) = PushQuery::parse(&query) {
        let _ = plain.verify_url_at(&q, 1_714_036_504);
        let _ = fresh.verify_url_at(&q, 1_714_036_504);
        let _ = fresh.verify_url_at(&q, i64::MIN);
    }
});
