//! The async client over an `AsyncTokenStore`: lookups await the store, clients sharing
//! it refresh once, a failed token is replaced only by compare-and-set, store errors
//! surface, nothing secret is shown, and the blocking client refuses such a store.
#![cfg(feature = "async")]

use card_api::{
    AsyncClient, AsyncClientBuilder, AsyncTokenStore, Error, InPlace, ManualClock,
    MemoryTokenStore, StoreError, StoredSecret, TokenStore,
};
use card_model::AppSecret;
use card_model::token::GetCardApiTicket;
use card_transport::{HttpRequest, HttpResponse, async_fn};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "wxcard:access_token:wxAPP";
const NOW: u64 = 1_700_000_000_000;

/// An async store over a `MemoryTokenStore` that yields before each operation, counts
/// the operations, logs the compare-and-sets (key, expected) and can be made to fail.
#[derive(Debug)]
struct YieldingStore {
    inner: MemoryTokenStore,
    ops: AtomicUsize,
    swaps: Mutex<Vec<(String, Option<String>)>>,
    broken: AtomicBool,
}

impl YieldingStore {
    fn new(clock: Arc<ManualClock>) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryTokenStore::with_clock(clock),
            ops: AtomicUsize::new(0),
            swaps: Mutex::new(Vec::new()),
            broken: AtomicBool::new(false),
        })
    }

    async fn enter(&self) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.ops.fetch_add(1, Ordering::SeqCst);
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError::new("store unreachable"));
        }
        Ok(())
    }

    fn ops(&self) -> usize {
        self.ops.load(Ordering::SeqCst)
    }

    fn value(&self) -> Option<String> {
        self.inner.get(KEY).unwrap().map(|e| e.value)
    }
}

#[async_trait::async_trait]
impl AsyncTokenStore for YieldingStore {
    async fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        self.enter().await?;
        self.inner.get(key)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        self.enter().await?;
        self.swaps
            .lock()
            .unwrap()
            .push((key.to_owned(), expected.map(str::to_owned)));
        self.inner.compare_and_set(key, expected, new)
    }

    async fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.enter().await?;
        self.inner.try_lease(key, holder, ttl)
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.enter().await?;
        self.inner.release_lease(key, holder)
    }
}

/// A sync store that counts its operations.
#[derive(Debug, Default)]
struct CountingSyncStore {
    inner: MemoryTokenStore,
    ops: AtomicUsize,
}

impl TokenStore for CountingSyncStore {
    fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key)
    }

    fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.compare_and_set(key, expected, new)
    }

    fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.try_lease(key, holder, ttl)
    }

    fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.release_lease(key, holder)
    }
}

/// A fake WeChat: the token endpoint answers `tokens` in turn (the last one again when
/// they run out), slowly, after running `on_fetch`; the ticket endpoint answers 40001
/// to a token in `invalid` and succeeds otherwise. Records the tokens the ticket
/// endpoint saw.
struct Fake {
    tokens: Vec<&'static str>,
    fetches: AtomicUsize,
    invalid: Vec<&'static str>,
    seen: Mutex<Vec<String>>,
    on_fetch: Box<dyn Fn() + Send + Sync>,
}

impl Fake {
    fn new(tokens: &[&'static str], invalid: &[&'static str]) -> Arc<Self> {
        Self::with_hook(tokens, invalid, || {})
    }

    fn with_hook(
        tokens: &[&'static str],
        invalid: &[&'static str],
        on_fetch: impl Fn() + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            tokens: tokens.to_vec(),
            fetches: AtomicUsize::new(0),
            invalid: invalid.to_vec(),
            seen: Mutex::new(Vec::new()),
            on_fetch: Box::new(on_fetch),
        })
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn builder(self: &Arc<Self>, clock: Arc<ManualClock>) -> AsyncClientBuilder {
        let fake = Arc::clone(self);
        let transport = async_fn(move |req: HttpRequest| {
            let fake = Arc::clone(&fake);
            async move {
                let body = if req.uri().path() == "/cgi-bin/token" {
                    let n = fake.fetches.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    (fake.on_fetch)();
                    let token = fake.tokens[n.min(fake.tokens.len() - 1)];
                    format!(r#"{{"access_token":"{token}","expires_in":7200}}"#)
                } else {
                    let query = req.uri().query().unwrap_or_default().to_owned();
                    let token = query
                        .split('&')
                        .find_map(|p| p.strip_prefix("access_token="))
                        .unwrap_or_default()
                        .to_owned();
                    fake.seen.lock().unwrap().push(token.clone());
                    if fake.invalid.contains(&token.as_str()) {
                        r#"{"errcode":40001,"errmsg":"invalid credential"}"#.to_owned()
                    } else {
                        r#"{"errcode":0,"ticket":"TICKET","expires_in":7200}"#.to_owned()
                    }
                };
                Ok(HttpResponse::new(body.into_bytes()))
            }
        });
        AsyncClient::builder()
            .base_url("http://127.0.0.1:9")
            .app_credentials("wxAPP", AppSecret::new("SECRET-xyz"))
            .clock(clock)
            .refresh_lease(Duration::from_secs(30), Duration::from_millis(10))
            .transport(transport)
    }
}

#[tokio::test]
async fn lookups_await_the_async_store_and_not_the_sync_one() {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = YieldingStore::new(clock.clone());
    let sync_store = Arc::new(CountingSyncStore::default());
    let fake = Fake::new(&["T1"], &[]);
    let client = fake
        .builder(clock)
        .token_store(InPlace::new(sync_store.clone()))
        .token_store(store.clone()) // the later store wins
        .build()
        .unwrap();
    client.call(&GetCardApiTicket).await.unwrap();
    let after_first = store.ops();
    assert!(after_first > 0);
    client.call(&GetCardApiTicket).await.unwrap();
    assert!(
        store.ops() > after_first,
        "the second lookup reads the store"
    );
    assert_eq!(fake.fetches(), 1);
    assert_eq!(store.value().as_deref(), Some("T1"));
    assert_eq!(sync_store.ops.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_sharing_an_async_store_refresh_once() {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = YieldingStore::new(clock.clone());
    let fake = Fake::new(&["T1", "T2"], &[]);
    let clients: Vec<AsyncClient> = ["server-a", "server-b"]
        .into_iter()
        .map(|holder| {
            fake.builder(clock.clone())
                .token_store(store.clone())
                .holder_id(holder)
                .build()
                .unwrap()
        })
        .collect();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let client = clients[i % 2].clone();
            tokio::spawn(async move { client.call(&GetCardApiTicket).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(fake.fetches(), 1);
    assert!(fake.seen.lock().unwrap().iter().all(|t| t == "T1"));
    assert_eq!(store.value().as_deref(), Some("T1"));
}

/// A store that holds the token `OLD` (good for an hour), with no swap logged.
async fn holding_old() -> (Arc<ManualClock>, Arc<YieldingStore>, u64) {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = YieldingStore::new(clock.clone());
    let until = NOW + 3_600_000;
    store
        .compare_and_set(KEY, None, StoredSecret::new("OLD", until))
        .await
        .unwrap();
    store.swaps.lock().unwrap().clear();
    (clock, store, until)
}

/// One call that finds `OLD` invalid: one fetch, the call repeated with `used`, which
/// the store then holds; the only write was a compare-and-set over `OLD`.
async fn call_once_after_invalid_old(
    fake: &Arc<Fake>,
    clock: Arc<ManualClock>,
    store: &Arc<YieldingStore>,
    used: &str,
) {
    let client = fake
        .builder(clock)
        .token_store(store.clone())
        .build()
        .unwrap();
    client.call(&GetCardApiTicket).await.unwrap();
    assert_eq!(fake.fetches(), 1);
    assert_eq!(*fake.seen.lock().unwrap(), ["OLD", used]);
    assert_eq!(store.value().as_deref(), Some(used));
    assert_eq!(
        *store.swaps.lock().unwrap(),
        [(KEY.to_owned(), Some("OLD".to_owned()))]
    );
}

#[tokio::test]
async fn an_invalid_token_is_replaced_by_compare_and_set() {
    let (clock, store, _) = holding_old().await;
    let fake = Fake::new(&["NEW"], &["OLD"]);
    call_once_after_invalid_old(&fake, clock, &store, "NEW").await;
}

#[tokio::test]
async fn a_token_another_server_stored_during_the_fetch_is_kept() {
    let (clock, store, until) = holding_old().await;
    // While this client fetches, another server replaces OLD with OTHER.
    let other = store.clone();
    let fake = Fake::with_hook(&["NEW"], &["OLD"], move || {
        assert!(
            other
                .inner
                .compare_and_set(KEY, Some("OLD"), StoredSecret::new("OTHER", until))
                .unwrap()
        );
    });
    // The compare-and-set over OLD fails: OTHER stays and is used.
    call_once_after_invalid_old(&fake, clock, &store, "OTHER").await;
}

#[tokio::test]
async fn a_store_error_is_returned_as_such() {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = YieldingStore::new(clock.clone());
    store.broken.store(true, Ordering::SeqCst);
    let fake = Fake::new(&["T1"], &[]);
    let client = fake
        .builder(clock)
        .token_store(store.clone())
        .build()
        .unwrap();
    let e = client.call(&GetCardApiTicket).await.unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e:?}");
    let e = client.access_token().await.unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e:?}");
    assert_eq!(fake.fetches(), 0);
}

#[tokio::test]
async fn debug_with_an_async_store_shows_no_secret() {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = YieldingStore::new(clock.clone());
    let fake = Fake::new(&["TOKEN-abc"], &[]);
    let builder = fake.builder(clock).token_store(store.clone());
    let client = builder.clone().build().unwrap();
    client.call(&GetCardApiTicket).await.unwrap();
    assert_eq!(store.value().as_deref(), Some("TOKEN-abc"));
    for shown in [
        format!("{client:?}"),
        format!("{client:#?}"),
        format!("{builder:?}"),
    ] {
        assert!(
            !shown.contains("TOKEN-abc") && !shown.contains("SECRET-xyz"),
            "{shown}"
        );
    }
}

// The blocking builder takes no async store: that misuse does not compile (see the
// `compile_fail` examples on `ClientBuilder`).

/// A `TokenStore` shared by a blocking and an async client (through `InPlace`): one
/// fetch serves both.
#[cfg(feature = "blocking")]
#[tokio::test]
async fn a_sync_store_in_place_is_shared_with_a_blocking_client() {
    let clock = Arc::new(ManualClock::new(NOW));
    let shared = Arc::new(MemoryTokenStore::with_clock(clock.clone()));
    let fake = Fake::new(&["T1"], &[]);
    let client = fake
        .builder(clock.clone())
        .token_store(InPlace::new(shared.clone()))
        .build()
        .unwrap();
    client.call(&GetCardApiTicket).await.unwrap();
    assert_eq!(fake.fetches(), 1);
    let cached = TokenStore::get(shared.as_ref(), "wxcard:access_token:wxAPP")
        .unwrap()
        .expect("the async client wrote the shared store");
    let blocking = card_api::Client::builder()
        .app_credentials("wxAPP", AppSecret::new("SECRET-xyz"))
        .base_url("http://127.0.0.1:9")
        .clock(clock)
        .token_store(shared)
        .build()
        .unwrap();
    // No transport is reachable at 127.0.0.1:9: the token can only come from the store.
    let token = tokio::task::spawn_blocking(move || blocking.access_token())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.expose(), cached.value);
    assert_eq!(fake.fetches(), 1);
}
