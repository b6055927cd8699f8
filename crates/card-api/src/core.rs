//! What both clients share besides the call plan: settings, the credential cache
//! (lookup, refresh lease, compare-and-set), request preparation and tracing. No I/O
//! except through the token store; no waiting.

use crate::config::{ClientConfig, TokenEndpoint, TokenSource};
use crate::error::{Error, StoreError};
use crate::plan::{CallPlan, Outcome, PlanSettings, Prepared, Step};
use crate::retry::Jitter;
use crate::store::{Clock, SecretKind, StoredSecret, TokenStore};
use card_model::token::{GetAccessToken, GetCardApiTicket, GetStableAccessToken};
use card_model::{AccessToken, ApiTicket, CardExt, Endpoint, ResponseError, decode_response};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A freshly fetched credential.
pub(crate) struct Fetched {
    value: String,
    expires_in: u64,
}

/// What a caller that found no usable credential does next.
pub(crate) enum Refresh {
    /// Someone else refreshed meanwhile: use this.
    Ready(String),
    /// Another server holds the refresh lease: wait, then ask again.
    Wait(Duration),
    /// This caller holds the lease: fetch, then [`Core::finish_refresh`].
    Fetch(Lease),
}

/// The refresh lease of one key, and the value the store held when it was taken.
pub(crate) struct Lease {
    kind: SecretKind,
    key: String,
    observed: Option<String>,
}

/// The last finished refresh of one credential kind in this process.
#[derive(Default)]
struct RefreshRecord {
    /// Refreshes finished so far.
    generation: u64,
    /// How the last one failed, if it did.
    failure: Option<Error>,
}

/// One caller's way to a usable credential once the cache had none: created before the
/// caller queues for the in-process refresh lock, so that it can tell whether the
/// refresh it waited for failed (then it gets that failure instead of fetching again).
pub(crate) struct RefreshState<'a> {
    core: &'a Core,
    kind: SecretKind,
    stale: Option<&'a str>,
    generation: u64,
    waited: u32,
}

impl RefreshState<'_> {
    /// The next thing to do; call it with the in-process refresh lock held.
    pub fn step(&mut self) -> Result<Refresh, Error> {
        let step = self
            .core
            .begin_refresh(self.kind, self.stale, self.waited, self.generation)?;
        if let Refresh::Wait(_) = step {
            self.waited += 1;
        }
        Ok(step)
    }
}

pub(crate) struct Core {
    pub config: ClientConfig,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    holder: String,
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
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
        seed: Option<u64>,
        holder: Option<String>,
    ) -> Self {
        let holder = holder
            .unwrap_or_else(|| format!("wxcard-{}-{:016x}", std::process::id(), random_u64()));
        Self {
            config,
            store,
            clock,
            holder,
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

    fn key(&self, kind: SecretKind) -> String {
        format!("wxcard:{}:{}", kind.as_str(), self.config.namespace)
    }

    fn usable(&self, entry: Option<&StoredSecret>, stale: Option<&str>) -> Option<String> {
        let entry = entry?;
        let fresh = self.clock.unix_millis() < entry.use_until_ms;
        (fresh && Some(entry.value.as_str()) != stale).then(|| entry.value.clone())
    }

    /// A usable cached credential of `kind`, other than `stale`.
    pub fn lookup(&self, kind: SecretKind, stale: Option<&str>) -> Result<Option<String>, Error> {
        if let (SecretKind::AccessToken, TokenSource::Fixed(token)) =
            (kind, &self.config.token_source)
        {
            return Ok(Some(token.expose().to_owned()));
        }
        let entry = self.store.get(&self.key(kind))?;
        Ok(self.usable(entry.as_ref(), stale))
    }

    fn record(&self, kind: SecretKind) -> MutexGuard<'_, RefreshRecord> {
        self.refreshes[kind.index()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Begins the way to a usable credential after [`lookup`](Self::lookup) found none.
    pub fn refresh<'a>(&'a self, kind: SecretKind, stale: Option<&'a str>) -> RefreshState<'a> {
        RefreshState {
            core: self,
            kind,
            stale,
            generation: self.record(kind).generation,
            waited: 0,
        }
    }

    /// Use what another caller stored meanwhile, share the failure of the refresh this
    /// caller waited for, take the lease, or wait for another server's refresh (bounded
    /// by the lease's lifetime).
    fn begin_refresh(
        &self,
        kind: SecretKind,
        stale: Option<&str>,
        waited: u32,
        generation: u64,
    ) -> Result<Refresh, Error> {
        if let Some(value) = self.lookup(kind, stale)? {
            return Ok(Refresh::Ready(value));
        }
        {
            let record = self.record(kind);
            if let (true, Some(failure)) = (record.generation != generation, &record.failure) {
                return Err(failure.shared_copy());
            }
        }
        let key = self.key(kind);
        if self
            .store
            .try_lease(&key, &self.holder, self.config.lease_ttl)?
        {
            // Another server may have written just before we took the lease.
            let entry = self.store.get(&key)?;
            if let Some(value) = self.usable(entry.as_ref(), stale) {
                self.release(&key);
                return Ok(Refresh::Ready(value));
            }
            return Ok(Refresh::Fetch(Lease {
                kind,
                key,
                observed: entry.map(|e| e.value),
            }));
        }
        let polls = self.config.lease_ttl.as_millis() / self.config.lease_poll.as_millis().max(1);
        if u128::from(waited) > polls + 1 {
            return Err(StoreError::new(format!(
                "gave up waiting for another holder's refresh of {}",
                kind.as_str()
            ))
            .into());
        }
        Ok(Refresh::Wait(self.config.lease_poll))
    }

    /// Stores a fetched credential (unless the store moved on meanwhile) and gives the
    /// lease back. Returns the credential to use.
    pub fn finish_refresh(
        &self,
        lease: Lease,
        fetched: Result<Fetched, Error>,
    ) -> Result<String, Error> {
        let result = fetched.and_then(|f| {
            let life = Duration::from_secs(f.expires_in);
            let margin = self.config.refresh_margin.min(life / 2);
            let until = self
                .clock
                .unix_millis()
                .saturating_add(u64::try_from((life - margin).as_millis()).unwrap_or(u64::MAX));
            let new = StoredSecret::new(f.value.clone(), until);
            if self
                .store
                .compare_and_set(&lease.key, lease.observed.as_deref(), new)?
            {
                return Ok(f.value);
            }
            // Someone else stored one meanwhile: converge on it while it is good.
            let entry = self.store.get(&lease.key)?;
            Ok(self.usable(entry.as_ref(), None).unwrap_or(f.value))
        });
        self.release(&lease.key);
        let mut record = self.record(lease.kind);
        record.generation += 1;
        record.failure = result.as_ref().err().map(Error::shared_copy);
        result
    }

    fn release(&self, key: &str) {
        if let Err(e) = self.store.release_lease(key, &self.holder) {
            tracing::warn!(error = %e, "could not release the refresh lease; it will expire");
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

/// The outcome of a token step, from the credential cache's answer.
pub(crate) fn token_outcome(value: Result<String, Error>) -> Outcome {
    Outcome::Token(value.map(AccessToken::new))
}

/// The value of a stale token, for the credential cache.
pub(crate) fn stale_value(stale: Option<&AccessToken>) -> Option<&str> {
    stale.map(AccessToken::expose)
}

/// An api_ticket from the cache's answer.
pub(crate) fn ticket(value: String) -> ApiTicket {
    ApiTicket::new(value)
}
