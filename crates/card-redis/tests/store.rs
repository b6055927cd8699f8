//! The stores against a real redis-server: compare-and-set, leases, expiry, keys,
//! de-duplication, the local copy, reconnection.

mod common;

use card_api::{AsyncTokenStore, StoredSecret, SystemClock, TokenStore};
use card_push::{AsyncDedupStore, DedupKey, DedupStore};
use card_redis::{
    AsyncRedisDedupStore, AsyncRedisTokenStore, RedisConfig, RedisDedupStore, RedisTokenStore,
};
use common::{RedisServer, raw, redis_url, unique_prefix};
use redis::Commands;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const KEY: &str = "wxcard:access_token:wxAPP";

fn now_ms() -> u64 {
    card_api::Clock::unix_millis(&SystemClock)
}

fn config(url: &str, test: &str) -> RedisConfig {
    RedisConfig::new(url)
        .expect("a redis url")
        .prefix(unique_prefix(test))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn compare_and_set_replaces_only_the_value_the_caller_saw() {
    let Some(url) = redis_url("compare_and_set_replaces_only_the_value_the_caller_saw") else {
        return;
    };
    let redis = config(&url, "cas");
    let store = RedisTokenStore::new(&redis);
    let until = now_ms() + 60_000;
    assert_eq!(store.get(KEY).unwrap(), None);
    assert!(
        !store
            .compare_and_set(KEY, Some("X"), StoredSecret::new("Y", until))
            .unwrap()
    );
    assert!(
        store
            .compare_and_set(KEY, None, StoredSecret::new("A", until))
            .unwrap()
    );
    assert!(
        !store
            .compare_and_set(KEY, None, StoredSecret::new("B", until))
            .unwrap()
    );
    assert!(
        !store
            .compare_and_set(KEY, Some("B"), StoredSecret::new("C", until))
            .unwrap()
    );
    assert!(
        store
            .compare_and_set(KEY, Some("A"), StoredSecret::new("C", until + 1))
            .unwrap()
    );
    assert_eq!(
        store.get(KEY).unwrap(),
        Some(StoredSecret::new("C", until + 1))
    );

    // What Redis holds: a hash under the prefixed key, expiring with the token.
    let mut conn = raw(&url);
    let key = format!("{}{KEY}", redis_prefix(&redis));
    let value: String = conn.hget(&key, "value").unwrap();
    let stored_until: u64 = conn.hget(&key, "use_until_ms").unwrap();
    assert_eq!((value.as_str(), stored_until), ("C", until + 1));
    let pttl: i64 = conn.pttl(&key).unwrap();
    assert!(pttl > 0 && pttl <= 60_001, "{pttl}");

    // Another store on the same Redis (another server) sees it, from Redis.
    let other = RedisTokenStore::new(&redis);
    assert_eq!(other.get(KEY).unwrap().map(|e| e.value), Some("C".into()));
}

/// The prefix of a config, read back through its Debug (which shows it).
fn redis_prefix(redis: &RedisConfig) -> String {
    let debug = format!("{redis:?}");
    let start = debug.find("prefix: \"").expect("prefix in debug") + "prefix: \"".len();
    let end = start + debug[start..].find('"').expect("end of prefix");
    debug[start..end].to_owned()
}

#[test]
fn compare_and_set_is_atomic_across_stores_and_threads() {
    let Some(url) = redis_url("compare_and_set_is_atomic_across_stores_and_threads") else {
        return;
    };
    let redis = config(&url, "cas-race");
    const THREADS: usize = 16;
    let stores: Vec<Arc<RedisTokenStore>> = (0..THREADS)
        .map(|_| Arc::new(RedisTokenStore::new(&redis)))
        .collect();
    let until = now_ms() + 60_000;
    assert!(
        stores[0]
            .compare_and_set(KEY, None, StoredSecret::new("v0", until))
            .unwrap()
    );
    for round in 0..50 {
        let barrier = Arc::new(Barrier::new(THREADS));
        let winners: usize = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .enumerate()
                .map(|(i, store)| {
                    let barrier = Arc::clone(&barrier);
                    s.spawn(move || {
                        let seen = format!("v{round}");
                        let new = StoredSecret::new(format!("v{}-{i}", round + 1), until);
                        barrier.wait();
                        store.compare_and_set(KEY, Some(&seen), new).unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(winners, 1, "round {round}: {winners} writers won");
        // Move on from whatever won, under a value every thread can name.
        let current = stores[0].get(KEY).unwrap().unwrap().value;
        assert!(
            current.starts_with(&format!("v{}-", round + 1)),
            "{current}"
        );
        assert!(
            stores[0]
                .compare_and_set(
                    KEY,
                    Some(&current),
                    StoredSecret::new(format!("v{}", round + 1), until)
                )
                .unwrap()
        );
    }
}

#[test]
fn the_lease_is_released_only_by_its_owner_and_expires() {
    let Some(url) = redis_url("the_lease_is_released_only_by_its_owner_and_expires") else {
        return;
    };
    let redis = config(&url, "lease");
    let a = RedisTokenStore::new(&redis);
    let b = RedisTokenStore::new(&redis);
    let long = Duration::from_secs(30);
    assert!(a.try_lease(KEY, "a", long).unwrap());
    assert!(a.try_lease(KEY, "a", long).unwrap(), "already the holder's");
    assert!(!b.try_lease(KEY, "b", long).unwrap());
    b.release_lease(KEY, "b").unwrap(); // not b's: no effect
    assert!(!b.try_lease(KEY, "b", long).unwrap());
    a.release_lease(KEY, "a").unwrap();
    assert!(b.try_lease(KEY, "b", long).unwrap());

    let mut conn = raw(&url);
    let lease_key = format!("{}{KEY}:lease", redis_prefix(&redis));
    let holder: String = conn.get(&lease_key).unwrap();
    assert_eq!(holder, "b");
    b.release_lease(KEY, "b").unwrap();
    assert!(!conn.exists::<_, bool>(&lease_key).unwrap());

    // A holder that never gives it back blocks the others only until it expires.
    assert!(a.try_lease(KEY, "a", Duration::from_millis(1000)).unwrap());
    assert!(!b.try_lease(KEY, "b", long).unwrap());
    let pttl: i64 = conn.pttl(&lease_key).unwrap();
    assert!(pttl > 0 && pttl <= 1000, "{pttl}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(b.try_lease(KEY, "b", long).unwrap());
}

#[test]
fn stored_values_expire_with_the_token() {
    let Some(url) = redis_url("stored_values_expire_with_the_token") else {
        return;
    };
    let redis = config(&url, "expiry");
    let store = RedisTokenStore::new(&redis);
    assert!(
        store
            .compare_and_set(KEY, None, StoredSecret::new("SHORT", now_ms() + 1000))
            .unwrap()
    );
    assert_eq!(
        store.get(KEY).unwrap().map(|e| e.value),
        Some("SHORT".into())
    );
    std::thread::sleep(Duration::from_millis(1500));
    // Gone from Redis (and the local copy is past its use_until).
    assert_eq!(store.get(KEY).unwrap(), None);
    let mut conn = raw(&url);
    let key = format!("{}{KEY}", redis_prefix(&redis));
    assert!(!conn.exists::<_, bool>(&key).unwrap());
    // An entry written already expired goes at once; the slot is free again.
    assert!(
        store
            .compare_and_set(KEY, None, StoredSecret::new("OLD", now_ms() - 1))
            .unwrap()
    );
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        store
            .compare_and_set(KEY, None, StoredSecret::new("NEW", now_ms() + 60_000))
            .unwrap()
    );
}

#[test]
fn keys_are_namespaced_by_prefix_kind_and_appid() {
    let Some(url) = redis_url("keys_are_namespaced_by_prefix_kind_and_appid") else {
        return;
    };
    let redis = config(&url, "keys");
    let prefix = redis_prefix(&redis);
    let store = RedisTokenStore::new(&redis);
    let until = now_ms() + 60_000;
    for key in [
        "wxcard:access_token:wxA",
        "wxcard:card_api_ticket:wxA",
        "wxcard:access_token:wxB",
    ] {
        assert!(
            store
                .compare_and_set(key, None, StoredSecret::new(key, until))
                .unwrap()
        );
        assert!(store.try_lease(key, "h", Duration::from_secs(5)).unwrap());
    }
    // Another prefix is another namespace.
    let elsewhere = RedisTokenStore::new(&redis.clone().prefix(unique_prefix("keys-other")));
    assert_eq!(elsewhere.get("wxcard:access_token:wxA").unwrap(), None);

    let mut conn = raw(&url);
    let mut keys: Vec<String> = conn.keys(format!("{prefix}*")).unwrap();
    keys.sort();
    let expected: Vec<String> = [
        "wxcard:access_token:wxA",
        "wxcard:access_token:wxA:lease",
        "wxcard:access_token:wxB",
        "wxcard:access_token:wxB:lease",
        "wxcard:card_api_ticket:wxA",
        "wxcard:card_api_ticket:wxA:lease",
    ]
    .iter()
    .map(|k| format!("{prefix}{k}"))
    .collect();
    assert_eq!(keys, expected);
}

#[test]
fn dedup_marks_a_push_once_per_ttl_across_stores() {
    let Some(url) = redis_url("dedup_marks_a_push_once_per_ttl_across_stores") else {
        return;
    };
    let redis = config(&url, "dedup");
    let a = RedisDedupStore::new(&redis, "wxAPP");
    let b = RedisDedupStore::new(&redis, "wxAPP");
    let other_app = RedisDedupStore::new(&redis, "wxOTHER");
    let key = DedupKey::from_string("oUser:1700000000:user_get_card");
    let ttl = Duration::from_millis(1000);
    assert!(DedupStore::first_seen(&a, &key, ttl).unwrap());
    assert!(!DedupStore::first_seen(&b, &key, ttl).unwrap());
    assert!(!DedupStore::first_seen(&a, &key, ttl).unwrap());
    assert!(
        DedupStore::first_seen(&other_app, &key, ttl).unwrap(),
        "namespaced"
    );
    let mut conn = raw(&url);
    let mark = format!(
        "{}wxcard:dedup:wxAPP:oUser:1700000000:user_get_card",
        redis_prefix(&redis)
    );
    let pttl: i64 = conn.pttl(&mark).unwrap();
    assert!(pttl > 0 && pttl <= 1000, "{pttl}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        DedupStore::first_seen(&b, &key, ttl).unwrap(),
        "after the ttl it is new"
    );

    // The async store shares the marks.
    runtime().block_on(async {
        let c = AsyncRedisDedupStore::new(&redis, "wxAPP").unwrap();
        assert!(!AsyncDedupStore::first_seen(&c, &key, ttl).await.unwrap());
        let fresh = DedupKey::from_string("oUser:1700000001:user_get_card");
        assert!(AsyncDedupStore::first_seen(&c, &fresh, ttl).await.unwrap());
        assert!(!DedupStore::first_seen(&a, &fresh, ttl).unwrap());
    });
}

#[test]
fn the_async_store_shares_keys_scripts_and_leases_with_the_blocking_one() {
    let Some(url) =
        redis_url("the_async_store_shares_keys_scripts_and_leases_with_the_blocking_one")
    else {
        return;
    };
    let redis = config(&url, "async");
    let blocking = RedisTokenStore::new(&redis);
    runtime().block_on(async {
        let store = AsyncRedisTokenStore::new(&redis).unwrap();
        let until = now_ms() + 60_000;
        assert_eq!(store.get(KEY).await.unwrap(), None);
        assert!(
            store
                .compare_and_set(KEY, None, StoredSecret::new("A", until))
                .await
                .unwrap()
        );
        assert!(
            !store
                .compare_and_set(KEY, Some("Z"), StoredSecret::new("B", until))
                .await
                .unwrap()
        );
        assert_eq!(
            blocking.get(KEY).unwrap().map(|e| e.value),
            Some("A".into())
        );
        assert!(
            blocking
                .compare_and_set(KEY, Some("A"), StoredSecret::new("B", until))
                .unwrap()
        );
        // The async store's local copy still says A until it revalidates or leases; a
        // lease attempt (what the client does with a rejected token) reads Redis again.
        assert!(
            store
                .try_lease(KEY, "async", Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert_eq!(
            store.get(KEY).await.unwrap().map(|e| e.value),
            Some("B".into())
        );
        assert!(
            !blocking
                .try_lease(KEY, "blocking", Duration::from_secs(5))
                .unwrap()
        );
        store.release_lease(KEY, "blocking").await.unwrap();
        assert!(
            !blocking
                .try_lease(KEY, "blocking", Duration::from_secs(5))
                .unwrap()
        );
        store.release_lease(KEY, "async").await.unwrap();
        assert!(
            blocking
                .try_lease(KEY, "blocking", Duration::from_secs(5))
                .unwrap()
        );
    });
}

#[test]
fn reads_are_served_locally_only_while_redis_vouches_for_them() {
    let Some(_) = redis_url("reads_are_served_locally_only_while_redis_vouches_for_them") else {
        return;
    };
    let mut server = RedisServer::start();
    let base = RedisConfig::new(&server.url())
        .unwrap()
        .timeout(Duration::from_secs(5));
    let until = now_ms() + 60_000;
    let vouched_long =
        RedisTokenStore::new(&base.clone().revalidate_after(Duration::from_secs(600)));
    let always_asks = RedisTokenStore::new(&base.clone().revalidate_after(Duration::ZERO));
    let fallback = RedisTokenStore::new(
        &base
            .clone()
            .revalidate_after(Duration::ZERO)
            .local_fallback(true),
    );
    assert!(
        vouched_long
            .compare_and_set(KEY, None, StoredSecret::new("T", until))
            .unwrap()
    );
    for store in [&vouched_long, &always_asks, &fallback] {
        assert_eq!(store.get(KEY).unwrap().map(|e| e.value), Some("T".into()));
    }

    server.stop();
    // Confirmed within its interval: served from the local copy.
    assert_eq!(
        vouched_long.get(KEY).unwrap().map(|e| e.value),
        Some("T".into())
    );
    // Not vouched for any more: a store error, never the old value.
    let e = always_asks.get(KEY).unwrap_err();
    assert!(e.to_string().contains("redis read failed"), "{e}");
    // With the local fallback: the last confirmed value while it is to be used...
    assert_eq!(
        fallback.get(KEY).unwrap().map(|e| e.value),
        Some("T".into())
    );
    // ...but a refresh needs Redis.
    assert!(
        fallback
            .try_lease(KEY, "h", Duration::from_secs(5))
            .is_err()
    );
    assert!(
        fallback
            .compare_and_set(KEY, Some("T"), StoredSecret::new("U", until))
            .is_err()
    );
    // A lease attempt drops the vouched copy: the next read asks Redis.
    assert!(
        vouched_long
            .try_lease(KEY, "h", Duration::from_secs(5))
            .is_err()
    );
    assert!(vouched_long.get(KEY).is_err());
}

#[test]
fn both_stores_reconnect_after_a_redis_restart() {
    let Some(_) = redis_url("both_stores_reconnect_after_a_redis_restart") else {
        return;
    };
    let mut server = RedisServer::start();
    let redis = RedisConfig::new(&server.url())
        .unwrap()
        .timeout(Duration::from_secs(5))
        .revalidate_after(Duration::ZERO);
    let blocking = RedisTokenStore::new(&redis);
    let dedup = RedisDedupStore::new(&redis, "wxAPP");
    let rt = runtime();
    let (store, async_dedup) = rt.block_on(async {
        (
            AsyncRedisTokenStore::new(&redis).unwrap(),
            AsyncRedisDedupStore::new(&redis, "wxAPP").unwrap(),
        )
    });
    let until = now_ms() + 60_000;
    let key = |n: u32| DedupKey::from_string(format!("push-{n}"));
    let ttl = Duration::from_secs(60);

    assert!(
        blocking
            .compare_and_set(KEY, None, StoredSecret::new("A", until))
            .unwrap()
    );
    assert!(DedupStore::first_seen(&dedup, &key(1), ttl).unwrap());
    rt.block_on(async {
        assert_eq!(
            store.get(KEY).await.unwrap().map(|e| e.value),
            Some("A".into())
        );
        assert!(
            !AsyncDedupStore::first_seen(&async_dedup, &key(1), ttl)
                .await
                .unwrap()
        );
    });

    server.stop();
    assert!(blocking.get(KEY).is_err());
    assert!(DedupStore::first_seen(&dedup, &key(2), ttl).is_err());
    rt.block_on(async {
        assert!(store.get(KEY).await.is_err());
        assert!(store.try_lease(KEY, "h", ttl).await.is_err());
        assert!(
            AsyncDedupStore::first_seen(&async_dedup, &key(2), ttl)
                .await
                .is_err()
        );
    });

    server.restart(); // empty: no persistence
    assert_eq!(blocking.get(KEY).unwrap(), None);
    assert!(
        blocking
            .compare_and_set(KEY, None, StoredSecret::new("B", until))
            .unwrap()
    );
    assert!(DedupStore::first_seen(&dedup, &key(2), ttl).unwrap());
    rt.block_on(async {
        // The connection manager reconnects in the background after the failures above;
        // an operation that meets the broken connection runs once more on the new one.
        let value = store.get(KEY).await.unwrap().map(|e| e.value);
        assert_eq!(value, Some("B".into()));
        assert!(store.try_lease(KEY, "h", ttl).await.unwrap());
        let mut seen = None;
        for _ in 0..50 {
            match AsyncDedupStore::first_seen(&async_dedup, &key(3), ttl).await {
                Ok(first) => {
                    seen = Some(first);
                    break;
                }
                // A dedup mark is never repeated on its own: the caller (WeChat) retries.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        assert_eq!(seen, Some(true));
    });
}

#[test]
fn debug_output_carries_no_token_and_no_password() {
    let Some(url) = redis_url("debug_output_carries_no_token_and_no_password") else {
        return;
    };
    let with_password = RedisConfig::new("redis://user:pa55word@127.0.0.1:1/").unwrap();
    let debug = format!("{with_password:?}");
    assert!(
        !debug.contains("pa55word") && !debug.contains("user"),
        "{debug}"
    );
    let store = RedisTokenStore::new(&with_password);
    let e = store.get(KEY).unwrap_err();
    assert!(!format!("{e} {e:?}").contains("pa55word"));

    let redis = config(&url, "debug");
    let store = RedisTokenStore::new(&redis);
    assert!(
        store
            .compare_and_set(
                KEY,
                None,
                StoredSecret::new("SECRET-TOKEN", now_ms() + 60_000)
            )
            .unwrap()
    );
    let _ = store.get(KEY).unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("SECRET-TOKEN"), "{debug}");
    assert!(debug.contains(KEY), "the keys are shown: {debug}");
    assert!(RedisConfig::new("not a url").is_err());
    assert!(RedisConfig::new("rediss://127.0.0.1:6380/").is_ok());
}

#[test]
fn rediss_urls_connect_with_rustls() {
    let Some(_) = redis_url("rediss_urls_connect_with_rustls") else {
        return;
    };
    let server = RedisServer::start_tls();
    let ca = include_str!("tls/ca.pem");
    let redis = RedisConfig::new(&server.tls_url())
        .unwrap()
        .timeout(Duration::from_secs(2))
        .root_certificate(ca)
        .unwrap();
    let store = RedisTokenStore::new(&redis);
    let until = now_ms() + 60_000;
    assert!(
        store
            .compare_and_set(KEY, None, StoredSecret::new("OVER-TLS", until))
            .unwrap()
    );
    assert_eq!(
        store.get(KEY).unwrap().map(|e| e.value),
        Some("OVER-TLS".into())
    );
    runtime().block_on(async {
        let store = AsyncRedisTokenStore::new(&redis).unwrap();
        assert!(
            store
                .try_lease(KEY, "h", Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert_eq!(
            store.get(KEY).await.unwrap().map(|e| e.value),
            Some("OVER-TLS".into())
        );
    });

    // The certificate is checked: without its CA (the webpki roots only), no connection.
    let untrusted = RedisTokenStore::new(&RedisConfig::new(&server.tls_url()).unwrap());
    assert!(untrusted.get(KEY).is_err());
    // TLS against a plain-text port fails cleanly.
    let plain = server.url().replace("redis://", "rediss://");
    let mismatch = RedisTokenStore::new(
        &RedisConfig::new(&plain)
            .unwrap()
            .timeout(Duration::from_millis(500)),
    );
    assert!(mismatch.get(KEY).is_err());
}

#[test]
fn async_stores_outside_a_runtime_are_an_error_not_a_panic() {
    // No Redis needed: nothing is connected.
    let redis = RedisConfig::new("redis://127.0.0.1:1/").unwrap();
    let e = AsyncRedisTokenStore::new(&redis).unwrap_err();
    assert!(e.to_string().contains("tokio runtime"), "{e}");
    assert!(AsyncRedisDedupStore::new(&redis, "wxAPP").is_err());
}
