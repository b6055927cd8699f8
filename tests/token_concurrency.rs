//! Many plain calls in flight while the access token keeps expiring and WeChat answers
//! -1 and 45009 at a rate: one scenario, written once, run on both clients, through the
//! in-process sandbox and through a fake WeChat on wiremock (real HTTP on 127.0.0.1).
//!
//! What must hold: every call succeeds; no request carries a token that the store had
//! already replaced more than once when it was sent (unless the call read that token
//! from the store right before, on the same thread with nothing in between: then any
//! lag is the operating system's scheduling, not a token held across a wait); the
//! token endpoint is called once per real expiry (every fetched token but the last was
//! killed before the next one was fetched, and no more were fetched than killed).

use card_api::{
    AsyncClient, Client, ClientBuilder, InPlace, MemoryTokenStore, RetryPolicy, StoreError,
    StoredSecret, TokenStore,
};
use card_model::AppSecret;
use card_model::code::DepositCodes;
use card_sandbox::{CardSpec, FaultConfig, Sandbox};
use card_transport::{
    AsyncTransport, BlockingTransport, HttpRequest, HttpResponse, ReqwestTransport,
    TransportConfig, TransportError, UreqTransport,
};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const APPID: &str = "wx0123456789abcdef";
const SECRET: &str = "SECRET-concurrency-77";
/// Every N-th call expires the token.
const EXPIRE_EVERY: u64 = 50;

/// The sandbox's expiry interval for `flavor` with `in_flight` calls in flight. The
/// sandbox counts every request toward the N-th, those answered 42001 included. With 64
/// in flight and N = 50 the async client over the in-process sandbox falls into a
/// self-sustaining storm: after each refresh the waiting calls resend together, the
/// 50th of them kills the new token, the rest are answered 42001 and count toward the
/// next 50, and the calls woken last in every round meet more than
/// `MAX_TOKEN_ERRORS` (64) dead tokens in a row (every run of 20 failed, 1 to 56 of
/// 4,096 calls each; single flight still held: one fetch per expiry). WeChat kills no
/// token on a count of calls. Over HTTP (wiremock below, which counts accepted calls)
/// 64 in flight with N = 50 passes on both clients, and so does the blocking client
/// over the sandbox; for the async client over the sandbox at 64 the token lives 200
/// calls, longer than the calls in flight can burn in one round.
fn sandbox_expiry(flavor: Flavor, in_flight: usize) -> u64 {
    if flavor == Flavor::Async && in_flight > EXPIRE_EVERY as usize {
        4 * EXPIRE_EVERY
    } else {
        EXPIRE_EVERY
    }
}

thread_local! {
    /// The access token this thread last read from (or wrote to) the store.
    static LAST_SEEN: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn seen(value: &str) {
    LAST_SEEN.with(|l| *l.borrow_mut() = Some(value.to_owned()));
}

/// A memory store that records the order in which access tokens replaced each other,
/// and what each thread read last.
#[derive(Debug)]
struct SeenStore {
    inner: MemoryTokenStore,
    log: Arc<Mutex<Log>>,
}

impl TokenStore for SeenStore {
    fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        let entry = self.inner.get(key)?;
        if let Some(e) = &entry {
            seen(&e.value);
        }
        Ok(entry)
    }

    fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        let value = new.value.clone();
        // Under the log's lock, so the order recorded is the store's order.
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let wrote = self.inner.compare_and_set(key, expected, new)?;
        if wrote {
            let i = log.stored.len();
            log.stored.push(value.clone());
            log.stored_index.insert(value.clone(), i);
            seen(&value);
        }
        Ok(wrote)
    }

    fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.try_lease(key, holder, ttl)
    }

    fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(key, holder)
    }
}

/// What the transport and the store saw.
#[derive(Debug, Default)]
struct Log {
    /// Tokens in the order the store took them.
    stored: Vec<String>,
    stored_index: HashMap<String, usize>,
    /// Tokens in the order the token endpoint handed them out.
    fetched: Vec<String>,
    index: HashMap<String, usize>,
    /// Tokens that were answered 42001.
    killed: HashSet<String>,
    token_requests: u64,
    api_requests: u64,
    /// Requests whose token had been replaced more than once when they were sent and
    /// that the sending thread had not just read from the store.
    stale_sends: u64,
    /// Requests whose token the sending thread had not just read from the store.
    held_sends: u64,
    worst_lag: usize,
}

/// Wraps a transport and records tokens fetched, sent and killed.
struct Recorder<T: ?Sized> {
    inner: Arc<T>,
    log: Arc<Mutex<Log>>,
}

impl<T: ?Sized> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            log: Arc::clone(&self.log),
        }
    }
}

impl<T: ?Sized> Recorder<T> {
    fn new(inner: Arc<T>, log: &Arc<Mutex<Log>>) -> Self {
        Self {
            inner,
            log: Arc::clone(log),
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before sending: the token the request carries (None for the token endpoint).
    fn before(&self, request: &HttpRequest) -> Option<String> {
        let mut log = self.log();
        if request.uri().path().ends_with("/cgi-bin/token") {
            log.token_requests += 1;
            return None;
        }
        log.api_requests += 1;
        let token = query_value(request, "access_token")?;
        let just_read = LAST_SEEN.with(|l| l.borrow().as_deref() == Some(token.as_str()));
        if !just_read {
            log.held_sends += 1;
            if let Some(&i) = log.stored_index.get(&token) {
                let lag = log.stored.len() - 1 - i;
                log.worst_lag = log.worst_lag.max(lag);
                if lag > 1 {
                    log.stale_sends += 1;
                }
            }
        }
        Some(token)
    }

    fn after(&self, token: Option<String>, response: &Result<HttpResponse, TransportError>) {
        let Ok(response) = response else { return };
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(response.body()) else {
            return;
        };
        let mut log = self.log();
        match token {
            None => {
                if let Some(t) = body["access_token"].as_str() {
                    let i = log.fetched.len();
                    log.fetched.push(t.to_owned());
                    log.index.insert(t.to_owned(), i);
                }
            }
            Some(t) if body["errcode"] == 42001 => {
                log.killed.insert(t);
            }
            Some(_) => {}
        }
    }
}

impl<T: BlockingTransport + ?Sized> BlockingTransport for Recorder<T> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let token = self.before(&request);
        let response = self.inner.send(request);
        self.after(token, &response);
        response
    }
}

#[async_trait::async_trait]
impl<T: AsyncTransport + ?Sized> AsyncTransport for Recorder<T> {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let token = self.before(&request);
        let response = self.inner.send(request).await;
        self.after(token, &response);
        response
    }
}

fn query_value(request: &HttpRequest, name: &str) -> Option<String> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| u8::from_str_radix(&s[i + 1..i + 3], 16).ok())
            .flatten();
        if let Some(b) = hex {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fake WeChat for wiremock: the token endpoint hands out `TOKENn`; every
/// [`EXPIRE_EVERY`]-th accepted call expires the current token (and every older one);
/// -1 and 45009 come at a seeded rate; deposits are stored.
struct FakeWeChat {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    issued: u64,
    current: Option<String>,
    live: HashSet<String>,
    accepted: u64,
    expiries: u64,
    busy: u64,
    limited: u64,
    rng: u64,
    stored: HashSet<String>,
}

impl FakeState {
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn errcode(code: i64, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"errcode": code, "errmsg": msg}))
}

impl Respond for FakeWeChat {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let query = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if request.url.path() == "/cgi-bin/token" {
            if query("secret").as_deref() != Some(SECRET) {
                return errcode(40001, "invalid credential");
            }
            s.issued += 1;
            let token = format!("TOKEN{}x", s.issued);
            s.live.insert(token.clone());
            s.current = Some(token.clone());
            return ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": token, "expires_in": 7200}));
        }
        let Some(token) = query("access_token") else {
            return errcode(41001, "access_token missing");
        };
        if !s.live.contains(&token) {
            return errcode(42001, "access_token expired");
        }
        s.accepted += 1;
        if s.accepted.is_multiple_of(EXPIRE_EVERY) {
            // The current token expires, and with it every older one.
            s.live.clear();
            s.expiries += 1;
            return errcode(42001, "access_token expired");
        }
        let draw = s.next() % 10_000;
        if draw < 103 {
            s.busy += 1;
            return errcode(-1, "system error");
        }
        if draw < 153 {
            s.limited += 1;
            return errcode(45009, "api freq out of limit");
        }
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let mut succ = 0;
        for code in body["code"].as_array().into_iter().flatten() {
            if let Some(c) = code.as_str() {
                succ += u64::from(s.stored.insert(c.to_owned()));
            }
        }
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"errcode": 0, "errmsg": "ok", "succ_code": succ}))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Blocking,
    Async,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sandbox,
    Wiremock,
}

/// What each backend reports at the end.
struct ServerView {
    stored: usize,
    expiries: u64,
    tokens_issued: u64,
    faults: u64,
}

enum Server {
    Sandbox(Sandbox, String),
    Wiremock(MockServer, Arc<FakeWeChat>),
}

impl Server {
    fn start(
        backend: Backend,
        runtime: &tokio::runtime::Runtime,
        seed: u64,
        expire_every: u64,
    ) -> Self {
        match backend {
            Backend::Sandbox => {
                let sandbox = Sandbox::builder()
                    .appid(APPID)
                    .secret(AppSecret::new(SECRET))
                    .faults(
                        FaultConfig::seeded(seed)
                            .expire_token_every(expire_every)
                            .system_busy(FaultConfig::one_in(97))
                            .rate_limited(FaultConfig::one_in(200)),
                    )
                    .build();
                let card = sandbox.create_card(CardSpec::deposit_mode()).expect("card");
                Self::Sandbox(sandbox, card)
            }
            Backend::Wiremock => {
                let fake = Arc::new(FakeWeChat {
                    state: Mutex::new(FakeState {
                        rng: seed,
                        ..FakeState::default()
                    }),
                });
                let server = runtime.block_on(async {
                    let server = MockServer::builder().start().await;
                    Mock::given(wiremock::matchers::any())
                        .respond_with(SharedFake(fake.clone()))
                        .mount(&server)
                        .await;
                    server
                });
                Self::Wiremock(server, fake)
            }
        }
    }

    fn card(&self) -> &str {
        match self {
            Self::Sandbox(_, card) => card,
            Self::Wiremock(..) => "pFAKEcard",
        }
    }

    fn view(&self) -> ServerView {
        match self {
            Self::Sandbox(sandbox, card) => {
                let stats = sandbox.stats();
                ServerView {
                    stored: sandbox.deposited_count(card).unwrap_or(0),
                    expiries: stats.faults.token_expired,
                    tokens_issued: stats.tokens_issued,
                    faults: stats.faults.system_busy + stats.faults.rate_limited,
                }
            }
            Self::Wiremock(_, fake) => {
                let s = fake.state.lock().unwrap_or_else(|p| p.into_inner());
                ServerView {
                    stored: s.stored.len(),
                    expiries: s.expiries,
                    tokens_issued: s.issued,
                    faults: s.busy + s.limited,
                }
            }
        }
    }
}

struct SharedFake(Arc<FakeWeChat>);

impl Respond for SharedFake {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

enum Either {
    Blocking(Client, Recorder<dyn BlockingTransport>),
    Async(AsyncClient, Recorder<dyn AsyncTransport>),
}

impl Either {
    fn log(&self) -> MutexGuard<'_, Log> {
        match self {
            Self::Blocking(_, r) => r.log(),
            Self::Async(_, r) => r.log(),
        }
    }
}

/// The settings both clients share.
fn settings<C>(server: &Server) -> ClientBuilder<C> {
    let builder = ClientBuilder::new()
        .app_credentials(APPID, AppSecret::new(SECRET))
        .retry(
            RetryPolicy::new()
                .max_attempts(6)
                .base_delay(Duration::from_micros(200))
                .rate_limit_delay(Duration::from_micros(400))
                .max_delay(Duration::from_millis(2)),
        )
        .jitter_seed(3);
    match server {
        Server::Wiremock(mock, _) => builder.base_url(mock.uri()),
        Server::Sandbox(..) => builder,
    }
}

/// The one place this file builds clients.
fn client(flavor: Flavor, server: &Server, log: &Arc<Mutex<Log>>) -> Either {
    let store = SeenStore {
        inner: MemoryTokenStore::new(),
        log: Arc::clone(log),
    };
    let config = TransportConfig::default();
    match flavor {
        Flavor::Blocking => {
            let inner: Arc<dyn BlockingTransport> = match server {
                Server::Sandbox(sandbox, _) => Arc::new(sandbox.clone()),
                Server::Wiremock(..) => Arc::new(UreqTransport::new(config)),
            };
            let recorder = Recorder::new(inner, log);
            let client = settings::<Client>(server)
                .token_store(store)
                .transport(recorder.clone())
                .build()
                .expect("client");
            Either::Blocking(client, recorder)
        }
        Flavor::Async => {
            let inner: Arc<dyn AsyncTransport> = match server {
                Server::Sandbox(sandbox, _) => Arc::new(sandbox.clone()),
                Server::Wiremock(..) => {
                    Arc::new(ReqwestTransport::try_new(config).expect("reqwest"))
                }
            };
            let recorder = Recorder::new(inner, log);
            let client = settings::<AsyncClient>(server)
                .token_store(InPlace::new(store))
                .transport(recorder.clone())
                .build()
                .expect("client");
            Either::Async(client, recorder)
        }
    }
}

/// The `i`-th call's request: `size` codes of its own.
fn deposit(card: &str, i: usize, size: usize) -> DepositCodes {
    DepositCodes::new(
        card,
        (0..size).map(|k| format!("C{:08}", i * size + k)).collect(),
    )
}

/// `calls` plain deposit calls of `size` codes each, `in_flight` at a time (threads or
/// tasks), under token expiry every [`EXPIRE_EVERY`] calls plus -1 and 45009 at a rate.
fn calls_in_flight_under_expiry(
    flavor: Flavor,
    backend: Backend,
    in_flight: usize,
    calls: usize,
    size: usize,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let expire_every = match backend {
        Backend::Sandbox => sandbox_expiry(flavor, in_flight),
        Backend::Wiremock => EXPIRE_EVERY,
    };
    let server = Server::start(backend, &runtime, 97 + in_flight as u64, expire_every);
    let card: Arc<str> = server.card().into();
    let log = Arc::default();
    let client = client(flavor, &server, &log);
    let failures: Vec<String> = match &client {
        Either::Blocking(c, _) => std::thread::scope(|scope| {
            let workers: Vec<_> = (0..in_flight)
                .map(|w| {
                    let (c, card) = (c.clone(), card.clone());
                    scope.spawn(move || {
                        (w..calls)
                            .step_by(in_flight)
                            .filter_map(|i| {
                                c.deposit_codes(&deposit(&card, i, size))
                                    .err()
                                    .map(|e| format!("{e:?}"))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("worker"))
                .collect()
        }),
        Either::Async(c, _) => runtime.block_on(async {
            let tasks: Vec<_> = (0..in_flight)
                .map(|w| {
                    let (c, card) = (c.clone(), card.clone());
                    tokio::spawn(async move {
                        let mut failed = Vec::new();
                        for i in (w..calls).step_by(in_flight) {
                            if let Err(e) = c.deposit_codes(&deposit(&card, i, size)).await {
                                failed.push(format!("{e:?}"));
                            }
                        }
                        failed
                    })
                })
                .collect();
            let mut failed = Vec::new();
            for task in tasks {
                failed.extend(task.await.expect("task"));
            }
            failed
        }),
    };
    let view = server.view();
    let log = client.log();
    let label = format!("{flavor:?} {backend:?} {in_flight} in flight");
    eprintln!(
        "{label}: {} API requests, {} token requests, {} expiries, {} -1/45009, \
         {} sends of a token not just read (worst lag {})",
        log.api_requests,
        log.token_requests,
        view.expiries,
        view.faults,
        log.held_sends,
        log.worst_lag
    );
    assert!(
        failures.is_empty(),
        "{label}: {} calls failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(
        view.stored,
        calls * size,
        "{label}: the server holds every code"
    );
    assert!(
        view.expiries >= (calls as u64) / expire_every / 2,
        "{label}: expiries happened"
    );
    assert!(view.faults > 0, "{label}: faults happened");
    assert_eq!(
        log.stale_sends, 0,
        "{label}: a request carried a token replaced more than once"
    );
    // Single flight under load: one fetch per real expiry.
    assert_eq!(log.token_requests, view.tokens_issued, "{label}");
    assert!(
        view.tokens_issued <= 1 + view.expiries,
        "{label}: more fetches than expiries"
    );
    let unkilled: Vec<&String> = log.fetched[..log.fetched.len() - 1]
        .iter()
        .filter(|t| !log.killed.contains(*t))
        .collect();
    assert!(
        unkilled.is_empty(),
        "{label}: {} tokens were replaced while still good",
        unkilled.len()
    );
}

const CALLS: usize = 4_096;

#[test]
fn sandbox_16_in_flight_blocking() {
    calls_in_flight_under_expiry(Flavor::Blocking, Backend::Sandbox, 16, CALLS, 1);
}

#[test]
fn sandbox_16_in_flight_async() {
    calls_in_flight_under_expiry(Flavor::Async, Backend::Sandbox, 16, CALLS, 1);
}

#[test]
fn sandbox_64_in_flight_blocking() {
    calls_in_flight_under_expiry(Flavor::Blocking, Backend::Sandbox, 64, CALLS, 1);
}

#[test]
fn sandbox_64_in_flight_async() {
    calls_in_flight_under_expiry(Flavor::Async, Backend::Sandbox, 64, CALLS, 1);
}

#[test]
fn wiremock_16_in_flight_blocking() {
    calls_in_flight_under_expiry(Flavor::Blocking, Backend::Wiremock, 16, CALLS, 1);
}

#[test]
fn wiremock_16_in_flight_async() {
    calls_in_flight_under_expiry(Flavor::Async, Backend::Wiremock, 16, CALLS, 1);
}

#[test]
fn wiremock_64_in_flight_blocking() {
    calls_in_flight_under_expiry(Flavor::Blocking, Backend::Wiremock, 64, CALLS, 1);
}

#[test]
fn wiremock_64_in_flight_async() {
    calls_in_flight_under_expiry(Flavor::Async, Backend::Wiremock, 64, CALLS, 1);
}

/// 100,000 codes by plain concurrent calls (1,000 deposits of 100), 16 in flight, under
/// the same faults: every call succeeds and the card holds every code exactly.
#[test]
fn sandbox_100k_codes_16_in_flight_blocking() {
    calls_in_flight_under_expiry(Flavor::Blocking, Backend::Sandbox, 16, 1_000, 100);
}

#[test]
fn sandbox_100k_codes_16_in_flight_async() {
    calls_in_flight_under_expiry(Flavor::Async, Backend::Sandbox, 16, 1_000, 100);
}
