//! The store's refresh lease under failure, on both clients: a holder that panics or
//! whose future is dropped gives the lease back at once; a lease wait that is given up
//! is shared with the callers queued behind it; a token that claims to expire at once
//! is kept for a floor. Counts are asserted (store operations, fetches), never durations.
#![cfg(all(feature = "blocking", feature = "async"))]

use card_api::{
    AsyncClient, AsyncTokenStore, Client, ClientBuilder, Error, InPlace, ManualClock,
    MemoryTokenStore, StoreError, StoredSecret, TokenStore,
};
use card_model::AppSecret;
use card_transport::{AsyncTransport, HttpRequest, HttpResponse, TransportError, async_fn};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const KEY: &str = "wxcard:access_token:wxAPP";
const NOW: u64 = 1_700_000_000_000;
/// Another server's name in the store.
const OTHER: &str = "other-server";

/// A memory store on a manual clock that counts `try_lease` calls; usable as either
/// kind of store.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryTokenStore,
    leases_tried: AtomicUsize,
    /// `get` calls so far, and the count `try_lease` waits for (see
    /// [`CountingStore::hold_leases_until_gets`]).
    gets: Mutex<(usize, usize)>,
    got: Condvar,
}

impl CountingStore {
    fn new(clock: &Arc<ManualClock>) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryTokenStore::with_clock(clock.clone()),
            leases_tried: AtomicUsize::new(0),
            gets: Mutex::new((0, 0)),
            got: Condvar::new(),
        })
    }

    /// Makes `try_lease` wait (10 s at most) until `get` was called `more` more times:
    /// callers started together have all looked at the store before the first of them
    /// tries the lease, however late their threads run.
    fn hold_leases_until_gets(&self, more: usize) {
        let mut gets = self.gets.lock().unwrap();
        gets.1 = gets.0 + more;
    }

    fn leases_tried(&self) -> usize {
        self.leases_tried.load(Ordering::SeqCst)
    }

    /// Whether another server could take the lease now (without the clock moving).
    fn lease_is_free(&self) -> bool {
        let free = self
            .inner
            .try_lease(KEY, OTHER, Duration::from_secs(3600))
            .unwrap();
        if free {
            self.inner.release_lease(KEY, OTHER).unwrap();
        }
        free
    }
}

impl TokenStore for CountingStore {
    fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        self.gets.lock().unwrap().0 += 1;
        self.got.notify_all();
        self.inner.get(key)
    }
    fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        self.inner.compare_and_set(key, expected, new)
    }
    fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let gets = self.gets.lock().unwrap();
        let (_gets, _) = self
            .got
            .wait_timeout_while(gets, Duration::from_secs(10), |(got, wanted)| got < wanted)
            .unwrap();
        self.leases_tried.fetch_add(1, Ordering::SeqCst);
        self.inner.try_lease(key, holder, ttl)
    }
    fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(key, holder)
    }
}

/// The same store behind the async trait (it yields before each operation).
#[derive(Debug)]
struct AsyncStore(Arc<CountingStore>);

#[async_trait::async_trait]
impl AsyncTokenStore for AsyncStore {
    async fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(key)
    }
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.compare_and_set(key, expected, new)
    }
    async fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.try_lease(key, holder, ttl)
    }
    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.release_lease(key, holder)
    }
}

fn builder<C>(clock: &Arc<ManualClock>) -> ClientBuilder<C> {
    ClientBuilder::new()
        .base_url("http://127.0.0.1:9")
        .app_credentials("wxAPP", AppSecret::new("SECRET"))
        .clock(clock.clone())
        .holder_id("this-server")
        .refresh_lease(Duration::from_millis(60), Duration::from_millis(5))
}

fn token_answer(expires_in: u64) -> HttpResponse {
    HttpResponse::new(
        format!(r#"{{"access_token":"TOKEN","expires_in":{expires_in}}}"#).into_bytes(),
    )
}

/// A blocking client whose token endpoint runs `token` (the one place this file
/// builds one).
fn blocking(
    clock: &Arc<ManualClock>,
    store: &Arc<CountingStore>,
    token: impl Fn() -> HttpResponse + Send + Sync + 'static,
) -> Client {
    let transport = move |_: HttpRequest| -> Result<HttpResponse, TransportError> { Ok(token()) };
    builder::<Client>(clock)
        .token_store(store.clone())
        .transport(Arc::new(transport))
        .build()
        .unwrap()
}

/// An async client over `transport` (the one place this file builds one).
fn asynchronous(
    builder: ClientBuilder<AsyncClient>,
    transport: impl AsyncTransport + 'static,
) -> AsyncClient {
    builder.transport(transport).build().unwrap()
}

#[test]
fn a_panicking_lease_holder_gives_the_lease_back() {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = CountingStore::new(&clock);
    let panicked = Arc::new(AtomicBool::new(false));
    let once = panicked.clone();
    let client = blocking(&clock, &store, move || {
        if !once.swap(true, Ordering::SeqCst) {
            panic!("the transport panics in the middle of the fetch");
        }
        token_answer(7200)
    });
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.access_token()));
    assert!(outcome.is_err() && panicked.load(Ordering::SeqCst));
    // The clock did not move: only the guard can have given the lease back.
    assert!(store.lease_is_free(), "the lease was left to expire");
    // and the client goes on (its refresh lock is not left poisoned for good)
    assert_eq!(client.access_token().unwrap().expose(), "TOKEN");
}

/// A transport that never answers, and tells `entered` each time a request reaches it.
fn never_answering_transport(entered: &Arc<Notify>) -> impl AsyncTransport + 'static {
    let entered = entered.clone();
    async_fn(move |_: HttpRequest| {
        let entered = entered.clone();
        async move {
            entered.notify_one();
            std::future::pending::<()>().await;
            Ok(token_answer(7200))
        }
    })
}

/// Runs `call` until its token fetch reached the transport, then drops it (a call that
/// never gets there fails the test rather than hanging it).
async fn drop_once_sent<T>(call: impl std::future::Future<Output = T>, entered: &Notify) {
    tokio::select! {
        _ = call => panic!("the fetch cannot have finished"),
        () = entered.notified() => {}
        () = tokio::time::sleep(Duration::from_secs(60)) => {
            panic!("the token fetch never reached the transport")
        }
    }
}

/// An async client whose token endpoint never answers.
fn never_answering(
    clock: &Arc<ManualClock>,
    store: Option<Arc<CountingStore>>,
    entered: &Arc<Notify>,
) -> AsyncClient {
    let transport = never_answering_transport(entered);
    let builder = builder::<AsyncClient>(clock);
    let builder = match store {
        Some(store) => builder.token_store(InPlace::new(store)),
        None => builder,
    };
    asynchronous(builder, transport)
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_fetch_gives_the_lease_back_with_a_sync_store() {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = CountingStore::new(&clock);
    let entered = Arc::new(Notify::new());
    let client = never_answering(&clock, Some(store.clone()), &entered);
    drop_once_sent(client.access_token(), &entered).await;
    assert_eq!(store.leases_tried(), 1, "the lease was taken");
    assert!(store.lease_is_free(), "the lease was left to expire");
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_fetch_gives_the_lease_back_with_an_async_store() {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = CountingStore::new(&clock);
    let entered = Arc::new(Notify::new());
    let client = asynchronous(
        builder::<AsyncClient>(&clock).token_store(AsyncStore(store.clone())),
        never_answering_transport(&entered),
    );
    drop_once_sent(client.access_token(), &entered).await;
    assert_eq!(store.leases_tried(), 1, "the lease was taken");
    // The release runs as a task (a drop cannot await): let it run.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(store.lease_is_free(), "the lease was left to expire");
}

/// Another server holds the lease and never finishes: one caller alone gives up
/// after a bounded number of looks at the store; then 8 callers at once give up after
/// the same number of looks in all: the callers queued behind the first share its
/// outcome instead of each starting a wait of its own.
fn queued_callers_share_a_given_up_wait(
    run: impl Fn(&Arc<ManualClock>, &Arc<CountingStore>, usize) -> Vec<Result<(), Error>>,
) {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = CountingStore::new(&clock);
    assert!(
        store
            .inner
            .try_lease(KEY, OTHER, Duration::from_secs(3600))
            .unwrap()
    );

    let alone = run(&clock, &store, 1);
    assert!(matches!(alone[..], [Err(Error::Store(_))]), "{alone:?}");
    let one_wait = store.leases_tried();
    assert!(one_wait > 2, "{one_wait}");

    let together = run(&clock, &store, 8);
    assert_eq!(together.len(), 8);
    for outcome in &together {
        assert!(matches!(outcome, Err(Error::Store(_))), "{outcome:?}");
    }
    assert_eq!(
        store.leases_tried() - one_wait,
        one_wait,
        "8 queued callers waited once in all"
    );
}

#[test]
fn queued_callers_share_a_given_up_wait_blocking() {
    queued_callers_share_a_given_up_wait(|clock, store, callers| {
        let client = blocking(clock, store, || token_answer(7200));
        // Each caller's first look, and the first caller's second before its lease.
        store.hold_leases_until_gets(callers + 1);
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..callers)
                .map(|_| scope.spawn(|| client.access_token().map(drop)))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        })
    });
}

#[test]
fn queued_callers_share_a_given_up_wait_async() {
    queued_callers_share_a_given_up_wait(|clock, store, callers| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let transport = async_fn(|_: HttpRequest| async { Ok(token_answer(7200)) });
        let client = asynchronous(
            builder::<AsyncClient>(clock).token_store(InPlace::new(store.clone())),
            transport,
        );
        runtime.block_on(async {
            let tasks: Vec<_> = (0..callers)
                .map(|_| {
                    let client = client.clone();
                    tokio::spawn(async move { client.access_token().await.map(drop) })
                })
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.unwrap());
            }
            outcomes
        })
    });
}

#[test]
fn a_token_said_to_expire_at_once_is_kept_for_a_floor() {
    let clock = Arc::new(ManualClock::new(NOW));
    let store = CountingStore::new(&clock);
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let client = blocking(&clock, &store, move || {
        counted.fetch_add(1, Ordering::SeqCst);
        token_answer(0)
    });
    for _ in 0..5 {
        client.access_token().unwrap();
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "expires_in 0 is not a fetch per call"
    );
    clock.advance(Duration::from_secs(20));
    client.access_token().unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // The floor (60 s, used up to half of it, as any lifetime) is over: fetched again.
    clock.advance(Duration::from_secs(11));
    client.access_token().unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}
