//! What both clients share besides the call plan: settings, the credential cache
//! (lookup, refresh lease, compare-and-set, as the [`SecretFlow`] state machine), request
//! preparation and tracing. No I/O and no waiting: the clients carry out the store
//! operations, waits and fetches the flow asks for.

use crate::config::{ClientConfig, TokenEndpoint, TokenSource};
use crate::error::{Error, StoreError};
use crate::plan::{CallPlan, Outcome, PlanSettings, Prepared, Step, TokenReply};
use crate::retry::Jitter;
use crate::store::{Clock, SecretKind, StoreHandle, StoredSecret, TokenStore};
use card_model::token::{GetAccessToken, GetCardApiTicket, GetStableAccessToken};
use card_model::{AccessToken, ApiTicket, CardExt, Endpoint, ResponseError, decode_response};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

mod flow;

pub(crate) use flow::*;

pub(crate) struct Core {
    pub config: ClientConfig,
    store: StoreHandle,
    clock: Arc<dyn Clock>,
    holder: String,
    /// The store keys, per credential kind.
    keys: [String; 2],
    seeds: AtomicU64,
    /// The host that answered the last finished call (an index into the hosts): the
    /// next call starts there (sticky failover). Shared by every clone of a client
    /// (they share this `Core`). `Relaxed` is enough: it is a hint that guards no other
    /// memory, and any index is valid (the plan takes it modulo the host count), so a
    /// call that reads it while a concurrent call updates it merely starts at the old
    /// or the new host; when concurrent calls end at different hosts, the last one wins.
    preferred_host: AtomicUsize,
    refreshes: [Mutex<RefreshRecord>; 2],
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("store", &self.store)
            .field("clock", &self.clock)
            .field("holder", &self.holder)
            .field(
                "preferred_host",
                &self.preferred_host.load(Ordering::Relaxed),
            )
            .finish()
    }
}

/// Some entropy without a dependency: std's per-process random hash keys and the time.
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

impl Core {
    pub fn new(
        config: ClientConfig,
        store: StoreHandle,
        clock: Arc<dyn Clock>,
        seed: Option<u64>,
        holder: Option<String>,
    ) -> Self {
        let holder = holder
            .unwrap_or_else(|| format!("wxcard-{}-{:016x}", std::process::id(), random_u64()));
        let key = |kind: SecretKind| format!("wxcard:{}:{}", kind.as_str(), config.namespace);
        let keys = [key(SecretKind::AccessToken), key(SecretKind::CardApiTicket)];
        Self {
            config,
            store,
            clock,
            holder,
            keys,
            seeds: AtomicU64::new(seed.unwrap_or_else(random_u64)),
            preferred_host: AtomicUsize::new(0),
            refreshes: Default::default(),
        }
    }

    fn next_seed(&self) -> u64 {
        Jitter::new(self.seeds.fetch_add(1, Ordering::Relaxed)).next_u64()
    }

    fn settings(&self) -> PlanSettings {
        PlanSettings {
            hosts: Arc::clone(&self.config.hosts),
            policy: self.config.retry.clone(),
            can_refresh: matches!(self.config.token_source, TokenSource::Credentials { .. }),
            seed: self.next_seed(),
            start_host: self.preferred_host.load(Ordering::Relaxed),
        }
    }

    /// Remembers `host` as the one the next call starts at. Written only when it
    /// changes, so that calls in steady state share the cache line read-only.
    fn prefer(&self, host: usize) {
        if self.preferred_host.load(Ordering::Relaxed) != host {
            self.preferred_host.store(host, Ordering::Relaxed);
        }
    }

    /// The plan of a call of `endpoint`.
    pub fn plan<E: Endpoint>(&self, endpoint: &E) -> Result<CallPlan<E::Response>, Error> {
        CallPlan::for_endpoint(endpoint, self.settings())
    }

    /// The plan that fetches a fresh credential of `kind`. Its error bodies are never
    /// kept (they may hold the credential).
    pub fn refresh_plan(&self, kind: SecretKind) -> Result<CallPlan<Fetched>, Error> {
        fn secret_call<E: Endpoint>(endpoint: &E) -> Result<Prepared, Error> {
            let mut call = Prepared::new(endpoint)?;
            call.secret_response = true;
            Ok(call)
        }
        fn token<E: Endpoint<Response = card_model::token::AccessTokenResponse>>(
            body: &[u8],
        ) -> Result<Fetched, ResponseError> {
            decode_response::<E>(body).map(|r| Fetched {
                value: r.access_token.expose().to_owned(),
                expires_in: r.expires_in,
            })
        }
        fn ticket(body: &[u8]) -> Result<Fetched, ResponseError> {
            decode_response::<GetCardApiTicket>(body).map(|r| Fetched {
                value: r.ticket.expose().to_owned(),
                expires_in: r.expires_in,
            })
        }
        let settings = self.settings();
        match (kind, &self.config.token_source) {
            (SecretKind::CardApiTicket, _) => Ok(CallPlan::new(
                secret_call(&GetCardApiTicket)?,
                ticket,
                settings,
            )),
            (
                _,
                TokenSource::Credentials {
                    appid,
                    secret,
                    endpoint: TokenEndpoint::Token,
                },
            ) => Ok(CallPlan::new(
                secret_call(&GetAccessToken::new(appid.clone(), secret.clone()))?,
                token::<GetAccessToken>,
                settings,
            )),
            (
                _,
                TokenSource::Credentials {
                    appid,
                    secret,
                    endpoint: TokenEndpoint::StableToken,
                },
            ) => Ok(CallPlan::new(
                secret_call(&GetStableAccessToken::new(appid.clone(), secret.clone()))?,
                token::<GetStableAccessToken>,
                settings,
            )),
            (_, TokenSource::Fixed(_)) => Err(Error::Config(
                "a fixed access token cannot be refreshed".into(),
            )),
        }
    }

    /// The store the client was built with.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    fn key(&self, kind: SecretKind) -> &str {
        &self.keys[kind.index()]
    }

    /// Whether `entry` may be used now: not about to expire, and not `stale`.
    fn usable(&self, entry: &StoredSecret, stale: Option<&str>) -> bool {
        self.clock.unix_millis() < entry.use_until_ms && Some(entry.value.as_str()) != stale
    }

    /// When a credential WeChat gave for `expires_in` seconds stops being used. A
    /// lifetime under [`MIN_EXPIRES_IN`] (0, or a few seconds: a server's mistake) is
    /// taken as that floor, so that such an answer does not mean a fetch per call.
    fn use_until(&self, expires_in: u64) -> u64 {
        let life = Duration::from_secs(expires_in.max(MIN_EXPIRES_IN));
        let margin = self.config.refresh_margin.min(life / 2);
        self.clock
            .unix_millis()
            .saturating_add(u64::try_from((life - margin).as_millis()).unwrap_or(u64::MAX))
    }

    fn record(&self, kind: SecretKind) -> MutexGuard<'_, RefreshRecord> {
        self.refreshes[kind.index()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The way to a usable credential of `kind` other than `stale`; start it with
    /// [`SecretEvent::Start`].
    pub fn secret<'a>(
        &'a self,
        kind: SecretKind,
        stale: Option<&'a str>,
        may_fetch: bool,
    ) -> SecretFlow<'a> {
        SecretFlow {
            core: self,
            kind,
            stale,
            may_fetch: may_fetch || stale.is_none(),
            generation: 0,
            rounds: 0,
            waited: 0,
            phase: Phase::Start,
        }
    }

    /// A signed `card_ext` for `card_id` with a fresh timestamp and nonce.
    pub fn card_ext(
        &self,
        ticket: &ApiTicket,
        card_id: &str,
        code: Option<&str>,
        openid: Option<&str>,
    ) -> Result<CardExt, Error> {
        let (timestamp, nonce) = self.timestamp_and_nonce();
        Ok(CardExt::sign(
            card_id, ticket, timestamp, &nonce, code, openid,
        )?)
    }

    /// A fresh `card_ext` timestamp (Unix seconds) and nonce (16 letters and digits).
    fn timestamp_and_nonce(&self) -> (u64, String) {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = Jitter::new(self.next_seed() ^ random_u64());
        let nonce = (0..16)
            .map(|_| {
                let i = usize::try_from(rng.next_u64() % ALPHABET.len() as u64).unwrap_or(0);
                char::from(ALPHABET[i])
            })
            .collect();
        (self.clock.unix_millis() / 1000, nonce)
    }
}

/// A `clientmsgid` that no other send uses: `wxcard-` and 32 hexadecimal digits
/// (time and randomness). Keep it with the send: repeating the send with the same id
/// lets WeChat drop the duplicate.
///
/// ```
/// let id = card_api::new_clientmsgid();
/// assert!(id.starts_with("wxcard-") && id.len() <= 64);
/// assert_ne!(id, card_api::new_clientmsgid());
/// ```
pub fn new_clientmsgid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = Jitter::new(random_u64() ^ n).next_u64();
    format!("wxcard-{:016x}{a:016x}", random_u64().wrapping_add(n))
}

/// The tracing span of one call: the endpoint path, the attempt number and the
/// errcode; never the token, the secret or the URL.
pub(crate) fn call_span(path: &'static str) -> tracing::Span {
    tracing::info_span!(
        "wxcard_call",
        path,
        attempt = tracing::field::Empty,
        errcode = tracing::field::Empty
    )
}

impl Core {
    /// Called by both clients after each step of `plan`: records it on the call's
    /// span (the attempt number of each request, the errcode of each WeChat answer, 0
    /// when the call succeeds) and, when the call is over, remembers the host that
    /// answered it, if any (sticky failover).
    /// The outcome of a token step, from the credential cache's answer. A call that has
    /// not sent anything yet starts at the preferred host as it is now: the token fetch
    /// that just ran may have failed over (sticky failover for a client's first call).
    pub fn token_outcome<T>(
        &self,
        plan: &mut CallPlan<T>,
        value: Result<Option<Granted>, Error>,
    ) -> Outcome {
        plan.start_at(self.preferred_host.load(Ordering::Relaxed));
        Outcome::Token(value.map(|granted| match granted {
            Some(Granted { value, fetched }) => TokenReply::Token {
                token: AccessToken::new(value),
                fetched,
            },
            None => TokenReply::Unchanged,
        }))
    }

    pub fn observe<T>(&self, span: &tracing::Span, plan: &CallPlan<T>, step: &Step<T>) {
        if let Step::Done(_) = step {
            if let Some(host) = plan.answered_host() {
                self.prefer(host);
            }
        }
        observe(span, plan, step);
    }
}

/// Records a step of `plan` on its span: the attempt number of each request, the
/// errcode of each WeChat answer (0 when the call succeeds).
fn observe<T>(span: &tracing::Span, plan: &CallPlan<T>, step: &Step<T>) {
    match step {
        Step::Send(_) => {
            span.record("attempt", plan.sends());
        }
        Step::Done(Ok(_)) => {
            span.record("errcode", 0);
        }
        Step::Done(Err(e)) => {
            if let Some(code) = e.errcode() {
                span.record("errcode", code.as_i64());
            }
            tracing::debug!(parent: span, error = %e, "call failed");
        }
        Step::AccessToken { .. } | Step::Sleep(_) => {
            if let Some(code) = plan.errcode() {
                span.record("errcode", code);
            }
        }
    }
}

/// How many times a caller finds this process's refresh lock busy and waits for its
/// end with the others (all waking at once) before it queues for the lock itself.
const MAX_LOCK_ROUNDS: u32 = 8;

/// The shortest lifetime a fetched token or ticket is kept for, in seconds, whatever
/// `expires_in` said: WeChat's are 7200 s; an answer of 0 or a few seconds would
/// otherwise mean a fetch on every call. A credential that really dies sooner is
/// replaced on its first token error, as any other.
pub(crate) const MIN_EXPIRES_IN: u64 = 60;

/// Gives a refresh lease back when dropped while armed: a lease holder that panics,
/// or whose future is dropped (a timeout, a web handler whose client went away), does
/// not leave every other server waiting for the lease to expire. The clients arm it
/// while [`SecretFlow::may_hold_lease`] says so.
pub(crate) struct LeaseGuard<'a> {
    core: &'a Core,
    kind: SecretKind,
    armed: bool,
}

impl<'a> LeaseGuard<'a> {
    pub fn new(core: &'a Core, kind: SecretKind) -> Self {
        Self {
            core,
            kind,
            armed: false,
        }
    }

    pub fn arm(&mut self, armed: bool) {
        self.armed = armed;
    }
}

impl Drop for LeaseGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let key = self.core.key(self.kind);
        let holder = &self.core.holder;
        match &self.core.store {
            StoreHandle::Sync(store) => {
                if let Err(error) = store.release_lease(key, holder) {
                    tracing::warn!(%error, "could not release the refresh lease; it will expire");
                }
            }
            #[cfg(feature = "async")]
            StoreHandle::Async(store) => {
                // Drop cannot await. Within a runtime, a store that answers without
                // waiting (`InPlace`, a memory store) is done after one poll, before the
                // next caller looks at it; any other release finishes as a task. (Outside
                // a runtime nothing is polled: a store on tokio's I/O would panic.)
                let (store, key, holder) = (Arc::clone(store), key.to_owned(), holder.clone());
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        let mut release = Box::pin(async move {
                            if let Err(error) = store.release_lease(&key, &holder).await {
                                tracing::warn!(%error, "could not release the refresh lease; it will expire");
                            }
                        });
                        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
                        if release.as_mut().poll(&mut context).is_pending() {
                            runtime.spawn(release);
                        }
                    }
                    Err(_) => {
                        tracing::warn!("no runtime to release the refresh lease; it will expire");
                    }
                }
            }
        }
    }
}

/// The value of a finished [`SecretFlow`] that was allowed to fetch.
pub(crate) fn granted_value(result: Result<Option<Granted>, Error>) -> Result<String, Error> {
    result?
        .map(|g| g.value)
        .ok_or_else(|| Error::Config("internal: no credential and no fetch allowed".into()))
}

/// The value of a stale token, for the credential cache.
pub(crate) fn stale_value(stale: Option<&AccessToken>) -> Option<&str> {
    stale.map(AccessToken::expose)
}

/// An api_ticket from the cache's answer.
pub(crate) fn ticket(value: String) -> ApiTicket {
    ApiTicket::new(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::ClientBuilderForTests as ClientBuilder;
    use crate::store::{ManualClock, MemoryTokenStore};
    use card_model::AppSecret;

    const KEY: &str = "wxcard:access_token:wxAPP";

    fn setup() -> (Core, Arc<MemoryTokenStore>) {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let store = Arc::new(MemoryTokenStore::with_clock(clock.clone()));
        let core = ClientBuilder::new()
            .app_credentials("wxAPP", AppSecret::new("S"))
            .clock(clock)
            .token_store(store.clone())
            .refresh_lease(Duration::from_millis(100), Duration::from_millis(10))
            .holder_id("me")
            .core()
            .unwrap();
        (core, store)
    }

    /// Carries `flow` out on `store` to the end, fetching with `fetch`; returns its
    /// result and how many times it waited.
    fn run(
        flow: &mut SecretFlow<'_>,
        mut event: SecretEvent,
        store: &MemoryTokenStore,
        fetch: impl Fn() -> Result<Fetched, Error>,
    ) -> (Result<String, Error>, usize) {
        let mut sleeps = 0;
        loop {
            event = match flow.next(event) {
                SecretStep::Store(op) => SecretEvent::Stored(op.run(store)),
                SecretStep::Lock | SecretStep::TryLock => SecretEvent::Locked,
                SecretStep::AwaitUnlock => SecretEvent::Unlocked,
                SecretStep::Sleep(_) => {
                    sleeps += 1;
                    SecretEvent::Slept
                }
                SecretStep::Fetch(_) => SecretEvent::Fetched(fetch()),
                SecretStep::Done(result) => return (granted_value(result), sleeps),
            };
        }
    }

    fn fetched(value: &str) -> Result<Fetched, Error> {
        Ok(Fetched {
            value: value.to_owned(),
            expires_in: 7200,
        })
    }

    #[test]
    fn the_lease_holder_fetches_stores_and_gives_the_lease_back() {
        let (core, store) = setup();
        let mut flow = core.secret(SecretKind::AccessToken, None, true);
        let (result, sleeps) = run(&mut flow, SecretEvent::Start, &store, || fetched("NEW"));
        assert_eq!((result.unwrap().as_str(), sleeps), ("NEW", 0));
        assert_eq!(store.get(KEY).unwrap().unwrap().value, "NEW");
        assert!(
            store
                .try_lease(KEY, "other", Duration::from_secs(1))
                .unwrap()
        );
        // A second caller finds it in the cache.
        let mut flow = core.secret(SecretKind::AccessToken, None, true);
        let (result, _) = run(&mut flow, SecretEvent::Start, &store, || {
            panic!("no fetch expected")
        });
        assert_eq!(result.unwrap(), "NEW");
    }

    #[test]
    fn waiting_for_another_holders_lease_is_bounded_by_its_ttl() {
        let (core, store) = setup();
        assert!(
            store
                .try_lease(KEY, "other", Duration::from_secs(60))
                .unwrap()
        );
        let mut flow = core.secret(SecretKind::AccessToken, None, true);
        let (result, sleeps) = run(&mut flow, SecretEvent::Start, &store, || {
            panic!("no fetch expected")
        });
        assert!(matches!(result, Err(Error::Store(_))), "{result:?}");
        // 100 ms / 10 ms polls, plus the bound's slack.
        assert_eq!(sleeps, 12);
    }

    #[test]
    fn a_caller_queued_behind_a_failed_refresh_shares_its_failure() {
        let (core, store) = setup();
        let mut first = core.secret(SecretKind::AccessToken, None, true);
        let mut second = core.secret(SecretKind::AccessToken, None, true);
        for flow in [&mut first, &mut second] {
            let SecretStep::Store(op) = flow.next(SecretEvent::Start) else {
                panic!("a lookup first");
            };
            let event = SecretEvent::Stored(op.run(store.as_ref()));
            assert!(matches!(flow.next(event), SecretStep::TryLock));
        }
        let (result, _) = run(&mut first, SecretEvent::Locked, &store, || {
            Err(Error::Config("fetch failed".into()))
        });
        assert!(matches!(result, Err(Error::Config(_))));
        let (result, _) = run(&mut second, SecretEvent::Locked, &store, || {
            panic!("no second fetch")
        });
        assert!(matches!(result, Err(Error::Config(_))), "{result:?}");
        // The failed refresh gave the lease back.
        assert!(
            store
                .try_lease(KEY, "other", Duration::from_secs(1))
                .unwrap()
        );
    }

    #[test]
    fn events_out_of_order_end_the_flow_with_an_error() {
        let (core, _) = setup();
        let mut flow = core.secret(SecretKind::AccessToken, None, true);
        assert!(matches!(
            flow.next(SecretEvent::Slept),
            SecretStep::Done(Err(Error::Store(_)))
        ));
        assert!(matches!(
            flow.next(SecretEvent::Start),
            SecretStep::Done(Err(Error::Store(_)))
        ));
        let mut flow = core.secret(SecretKind::AccessToken, None, true);
        assert!(matches!(
            flow.next(SecretEvent::Start),
            SecretStep::Store(_)
        ));
        let wrong = SecretEvent::Stored(Ok(StoreReply::Flag(true)));
        assert!(matches!(
            flow.next(wrong),
            SecretStep::Done(Err(Error::Store(_)))
        ));
    }

    /// Drives `flow` with `event` and carries out store operations until it asks for
    /// something else; returns that step.
    fn until_not_store<'a>(
        flow: &mut SecretFlow<'a>,
        mut event: SecretEvent,
        store: &MemoryTokenStore,
    ) -> SecretStep<'a> {
        loop {
            match flow.next(event) {
                SecretStep::Store(op) => event = SecretEvent::Stored(op.run(store)),
                other => return other,
            }
        }
    }

    fn good(store: &MemoryTokenStore, value: &str) {
        let old = store.get(KEY).unwrap().map(|e| e.value);
        let entry = StoredSecret::new(value, 1_700_000_000_000 + 3_600_000);
        assert!(store.compare_and_set(KEY, old.as_deref(), entry).unwrap());
    }

    #[test]
    fn a_caller_that_may_not_fetch_takes_another_token_or_none() {
        let (core, store) = setup();
        good(&store, "OLD");
        // the store still holds the rejected token: no fetch, Unchanged
        let mut flow = core.secret(SecretKind::AccessToken, Some("OLD"), false);
        let step = until_not_store(&mut flow, SecretEvent::Start, &store);
        assert!(matches!(step, SecretStep::TryLock));
        let step = until_not_store(&mut flow, SecretEvent::Locked, &store);
        assert!(
            matches!(step, SecretStep::Done(Ok(None))),
            "no second fetch"
        );
        // another caller replaced it: taken at no cost
        good(&store, "NEW");
        let mut flow = core.secret(SecretKind::AccessToken, Some("OLD"), false);
        match until_not_store(&mut flow, SecretEvent::Start, &store) {
            SecretStep::Done(Ok(Some(g))) => assert!(g.value == "NEW" && !g.fetched),
            _ => panic!("expected the stored token"),
        }
    }

    #[test]
    fn callers_finding_the_lock_busy_wait_together_then_read_the_store() {
        let (core, store) = setup();
        good(&store, "OLD");
        let mut flow = core.secret(SecretKind::AccessToken, Some("OLD"), true);
        assert!(matches!(
            until_not_store(&mut flow, SecretEvent::Start, &store),
            SecretStep::TryLock
        ));
        // a refresh is running: wait for its end without taking the lock
        assert!(matches!(
            flow.next(SecretEvent::Busy),
            SecretStep::AwaitUnlock
        ));
        good(&store, "NEW"); // what that refresh stored
        match until_not_store(&mut flow, SecretEvent::Unlocked, &store) {
            SecretStep::Done(Ok(Some(g))) => assert!(g.value == "NEW" && !g.fetched),
            _ => panic!("expected the refreshed token"),
        }
        // a refresh that ended without replacing it: try again, then queue after
        // the bounded rounds
        let mut flow = core.secret(SecretKind::AccessToken, Some("NEW"), true);
        let mut step = until_not_store(&mut flow, SecretEvent::Start, &store);
        let mut rounds = 0;
        while let SecretStep::TryLock = step {
            rounds += 1;
            assert!(matches!(
                flow.next(SecretEvent::Busy),
                SecretStep::AwaitUnlock
            ));
            step = until_not_store(&mut flow, SecretEvent::Unlocked, &store);
        }
        assert!(matches!(step, SecretStep::Lock));
        assert_eq!(rounds, MAX_LOCK_ROUNDS);
        // once it holds the lock, it fetches, and says so
        let mut event = SecretEvent::Locked;
        let granted = loop {
            event = match flow.next(event) {
                SecretStep::Store(op) => SecretEvent::Stored(op.run(store.as_ref())),
                SecretStep::Fetch(_) => SecretEvent::Fetched(fetched("NEWER")),
                SecretStep::Done(result) => break result.unwrap().unwrap(),
                _ => panic!("unexpected step"),
            };
        };
        assert!(granted.value == "NEWER" && granted.fetched);
    }

    #[test]
    fn a_fixed_token_needs_no_store() {
        let core = ClientBuilder::new()
            .access_token(AccessToken::new("FIXED"))
            .core()
            .unwrap();
        let mut flow = core.secret(SecretKind::AccessToken, None, true);
        assert!(matches!(
            flow.next(SecretEvent::Start),
            SecretStep::Done(Ok(Some(ref t))) if t.value == "FIXED"
        ));
    }
}
