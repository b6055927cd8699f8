//! De-duplication keys and the in-memory store.

use std::time::{Duration, Instant};

use card_model::event::{Event, UserGetCard, parse_event};
use card_push::{DedupKey, DedupStore, MemoryDedupStore};

fn claim(card: &str, code: &str) -> Event {
    let mut c = UserGetCard::new("gh_1", "oUser", 1_700_000_000, card);
    c.user_card_code = Some(code.to_owned());
    Event::UserGetCard(c)
}

#[test]
fn several_cards_in_the_same_second_have_distinct_keys() {
    let keys: Vec<DedupKey> = [("p1", "1"), ("p2", "2"), ("p3", "3"), ("p1", "4")]
        .iter()
        .map(|(card, code)| DedupKey::for_event(&claim(card, code)))
        .collect();
    for (i, a) in keys.iter().enumerate() {
        assert_eq!(a.as_str().len(), 40);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        for b in &keys[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // The same push again has the same key, and it does not reveal the user.
    assert_eq!(keys[0], DedupKey::for_event(&claim("p1", "1")));
    assert!(!format!("{:?}", keys[0]).contains("oUser"));
    // Field boundaries matter: "p1"+"23" is not "p12"+"3".
    assert_ne!(
        DedupKey::for_event(&claim("p1", "23")),
        DedupKey::for_event(&claim("p12", "3"))
    );
}

#[test]
fn msg_id_decides_when_present() {
    let a = parse_event(b"<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>a</Content><MsgId>42</MsgId></xml>").unwrap();
    let b = parse_event(b"<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>b</Content><MsgId>42</MsgId></xml>").unwrap();
    let c = parse_event(b"<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>a</Content><MsgId>43</MsgId></xml>").unwrap();
    assert_eq!(DedupKey::for_event(&a), DedupKey::for_event(&b));
    assert_ne!(DedupKey::for_event(&a), DedupKey::for_event(&c));
    // Events without MsgId: EventKey tells two scans apart.
    let scan = |key: &str| {
        parse_event(format!("<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>SCAN</Event><EventKey>{key}</EventKey></xml>").as_bytes()).unwrap()
    };
    assert_ne!(
        DedupKey::for_event(&scan("1")),
        DedupKey::for_event(&scan("2"))
    );
    assert_eq!(
        DedupKey::for_event(&scan("1")),
        DedupKey::for_event(&scan("1"))
    );
}

#[test]
fn memory_store_expires_and_stays_bounded() {
    let store = MemoryDedupStore::new(3);
    let t0 = Instant::now();
    let ttl = Duration::from_secs(15);
    let k = |n: u32| DedupKey::from_string(format!("k{n}"));
    assert!(store.first_seen_at(&k(1), ttl, t0));
    assert!(!store.first_seen_at(&k(1), ttl, t0 + Duration::from_secs(14)));
    // Expired: new again.
    assert!(store.first_seen_at(&k(1), ttl, t0 + Duration::from_secs(16)));
    // Capacity: never more than 3 keys, the oldest go first.
    let t1 = t0 + Duration::from_secs(20);
    for n in 2..10 {
        assert!(store.first_seen_at(&k(n), ttl, t1));
        assert!(store.len() <= 3);
    }
    assert!(!store.first_seen_at(&k(9), ttl, t1));
    assert!(
        store.first_seen_at(&k(2), ttl, t1),
        "evicted under pressure"
    );
    // Forgetting a key lets the next retry through.
    assert!(DedupStore::first_seen(&store, &k(50), ttl).unwrap());
    assert!(!DedupStore::first_seen(&store, &k(50), ttl).unwrap());
    store.forget(&k(50)).unwrap();
    assert!(DedupStore::first_seen(&store, &k(50), ttl).unwrap());
    assert!(format!("{store:?}").contains("capacity"));
}

#[test]
fn memory_store_sweeps_expired_keys() {
    let store = MemoryDedupStore::new(1000);
    let t0 = Instant::now();
    for n in 0..500 {
        store.first_seen_at(
            &DedupKey::from_string(n.to_string()),
            Duration::from_secs(15),
            t0,
        );
    }
    assert_eq!(store.len(), 500);
    store.first_seen_at(
        &DedupKey::from_string("late"),
        Duration::from_secs(15),
        t0 + Duration::from_secs(16),
    );
    assert_eq!(store.len(), 1);
}
