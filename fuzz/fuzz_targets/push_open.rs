//! Opening a push from fuzzed input, three ways: a raw query and body (the signature
//! check stops almost all of them); a fuzzed `<Encrypt>` text, correctly signed (reaches
//! base64, decryption, padding, length field and AppID checks); and a fuzzed message,
//! correctly encrypted and signed (reaches the event parser).
#![no_main]

use card_push::testing::PushRequest;
use card_push::{EncodingAesKey, PushConfig, PushQuery, Token, crypto};
use libfuzzer_sys::fuzz_target;
use sha1::{Digest, Sha1};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx2c2769f8efd9abc2";

fn configs() -> [PushConfig; 3] {
    let token = || Token::new("fuzztoken").unwrap();
    let key = || EncodingAesKey::new(KEY).unwrap();
    [
        PushConfig::plain(token()),
        PushConfig::safe(token(), key(), APP_ID).unwrap(),
        PushConfig::compatible(token(), key(), APP_ID)
            .unwrap()
            .with_previous_key(EncodingAesKey::new("ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut").unwrap()),
    ]
}

fn signed(encrypted: &str) -> (String, String) {
    let mut v = ["fuzztoken", "1409735669", "n", encrypted];
    v.sort_unstable();
    let sig: String = Sha1::digest(v.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (
        format!("timestamp=1409735669&nonce=n&encrypt_type=aes&msg_signature={sig}"),
        format!("<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let configs = configs();
    let config = &configs[usize::from(selector % 3)];
    match selector / 3 % 3 {
        0 => {
            // query \n body
            let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let query = String::from_utf8_lossy(&rest[..split]);
            let body = rest.get(split + 1..).unwrap_or_default();
            if let Ok(q) = PushQuery::parse(&query) {
                let _ = config.open_at(&q, body, 1_409_735_669);
            }
        }
        1 => {
            let text = String::from_utf8_lossy(rest);
            let (q, b) = signed(&text);
            if let Ok(q) = PushQuery::parse(&q) {
                let _ = config.open_at(&q, b.as_bytes(), 1_409_735_669);
            }
            let _ = crypto::decrypt(&EncodingAesKey::new(KEY).unwrap(), &text);
        }
        _ => {
            let msg = String::from_utf8_lossy(rest);
            let r = PushRequest::new(config, &msg, 1_409_735_669, "n", &[5; 16]);
            if let Ok(q) = r.query() {
                let _ = config.open_at(&q, r.body().as_bytes(), 1_409_735_669);
            }
        }
    }
});
