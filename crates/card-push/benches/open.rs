//! Pushes opened per second: signature check, decryption and parsing of a typical
//! `user_get_card` push in safe mode (and the parts on their own, to see where the time
//! goes).

use std::hint::black_box;

use card_model::event::{UserGetCard, parse_event};
use card_push::testing::PushRequest;
use card_push::{EncodingAesKey, PushConfig, PushQuery, Token, crypto};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const NOW: i64 = 1_472_551_036;

fn claim() -> UserGetCard {
    let mut c = UserGetCard::new(
        "gh_fc0a06a20993",
        "oZI8Fj040-be6rlDohc6gkoPOQTQ",
        NOW,
        "pZI8Fjwsy5fVPRBeD78J4RmqVvBc",
    );
    c.is_give_by_friend = Some(false);
    c.user_card_code = Some("226009850808".to_owned());
    c.friend_user_name = Some(String::new());
    c.outer_id = Some(0);
    c.old_user_card_code = Some(String::new());
    c.outer_str = Some("12b".to_owned());
    c.is_restore_member_card = Some(false);
    c.is_recommend_by_friend = Some(false);
    c.union_id = Some("o6_bmasdasdsad6_2sgVt7hMZOPfL".to_owned());
    c
}

fn bench(c: &mut Criterion) {
    let key = || EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    let safe =
        PushConfig::safe(Token::new("spamtest").unwrap(), key(), "wx2c2769f8efd9abc2").unwrap();
    let plain = PushConfig::plain(Token::new("spamtest").unwrap());
    let xml = claim().to_xml();

    let mut g = c.benchmark_group("push");
    g.throughput(Throughput::Elements(1));
    for (name, config) in [
        ("open_safe_user_get_card", &safe),
        ("open_plain_user_get_card", &plain),
    ] {
        let r = PushRequest::new(config, &xml, NOW, "1320562132", &[7; 16]);
        let query = r.query_string().to_owned();
        let body = r.body().as_bytes().to_vec();
        // The whole job a web server asks for: parse the query, verify, decrypt, parse.
        assert!(
            config
                .open_at(&PushQuery::parse(&query).unwrap(), &body, NOW)
                .is_ok()
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                let q = PushQuery::parse(black_box(&query)).unwrap();
                config.open_at(&q, black_box(&body), NOW)
            });
        });
    }
    // The parts, for the profile.
    let sealed = crypto::encrypt(&key(), &[7; 16], xml.as_bytes(), "wx2c2769f8efd9abc2");
    g.bench_function("part_decrypt", |b| {
        b.iter(|| crypto::decrypt(&key(), black_box(&sealed)))
    });
    g.bench_function("part_parse_event", |b| {
        b.iter(|| parse_event(black_box(xml.as_bytes())))
    });
    let r = PushRequest::new(&safe, &xml, NOW, "1320562132", &[7; 16]);
    let query = r.query_string().to_owned();
    g.bench_function("part_query_parse", |b| {
        b.iter(|| PushQuery::parse(black_box(&query)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
