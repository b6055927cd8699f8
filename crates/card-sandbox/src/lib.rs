//! # card-sandbox
//!
//! An offline stand-in for WeChat's card-distribution server. It keeps its state in memory
//! and answers with the same JSON shapes and error codes as WeChat (HTTP 200 and an
//! `errcode`/`errmsg` envelope), so an application's tests run against realistic behaviour
//! with no network and no credentials.
//!
//! * [`Sandbox`] is a [`BlockingTransport`] and an [`AsyncTransport`]: hand a clone to a
//!   client and keep another to set up cards and read back what happened. Clones share one
//!   state. Requests are routed by URL path; the host is ignored, so any base URL works.
//! * `serve` runs it as an HTTP/1.1 server on a loopback port (feature `server`, on by
//!   default; the `card-sandbox` binary does that: `cargo run -p card-sandbox -- --port
//!   18080`), for any HTTP client in any language. Without the feature the crate is the
//!   in-process transport only and compiles no async runtime.
//! * Faults on demand, deterministic: [`FaultConfig`] (every N-th call, or random from a
//!   seed) and [`Sandbox::push_fault`] (scripted), changeable at runtime.
//! * [`Sandbox::user_get_card_event`] renders the XML push WeChat sends when a card is
//!   claimed (with `card_model::event`, so the parser reads it back); with a
//!   [`PushTarget`] the sandbox POSTs it, signed and (in safe mode) encrypted, to the
//!   merchant's callback URL, retrying as WeChat does, and records each try.
//!
//! ```
//! use card_sandbox::{CardSpec, Sandbox};
//! use card_transport::BlockingTransport;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::new();
//! let card_id = sandbox.create_card(CardSpec::deposit_mode())?;
//! let token = sandbox.issue_token();
//!
//! let request = http::Request::post(format!(
//!     "https://api.weixin.qq.com/card/code/deposit?access_token={}",
//!     token.expose()
//! ))
//! .body(format!(r#"{{"card_id":"{card_id}","code":["11111","22222","11111"]}}"#).into_bytes())?;
//! let response = sandbox.send(request)?;
//! let body: serde_json::Value = serde_json::from_slice(response.body())?;
//! assert_eq!(body["errcode"], 0);
//! assert_eq!(body["succ_code"], 2);
//! assert_eq!(body["duplicate_code"], 1);
//! assert_eq!(sandbox.deposited_count(&card_id), Some(2));
//! # Ok(())
//! # }
//! ```
//!
//! ## Endpoints and the codes they answer
//!
//! | Path | Method | Answers (besides 0) |
//! |---|---|---|
//! | `/cgi-bin/token` | GET | 40002 grant_type, 41002/41004 missing appid/secret, 40013 wrong appid, 40001 wrong secret |
//! | `/cgi-bin/stable_token` | POST | the same; returns the current stable token unless `force_refresh` |
//! | `/cgi-bin/ticket/getticket?type=wx_card` | GET | 40097 for another `type` |
//! | `/card/qrcode/create` | POST | 40053 bad `action_name`/`action_info`, 41012 missing card_id, 40073 unknown card, 41011 missing code of a (non-deposit) custom-code card, 40056 code not deposited, 45031 `is_unique_code` with stock 0, 40097 `expire_seconds` outside 60..=1800 |
//! | `/card/landingpage/create` | POST | 41011 missing field, 40097 bad `scene`, 41012/40073 card, 40071 custom-code card not in deposit mode |
//! | `/card/code/deposit` | POST | 41012/40073 card, 40071 not a custom-code card, 41011 no codes, 40109 more than 100, 40056 an empty or non-string code (nothing stored) |
//! | `/card/code/getdepositcount` | POST | 41012/40073 |
//! | `/card/code/checkcode` | POST | 41012/40073, 41011, 40109, 40056 |
//! | `/card/mpnews/gethtml` | POST | 41012/40073, 40071 |
//! | `/card/testwhitelist/set` | POST | 40097 more than 10 entries in total, or not arrays of strings |
//! | `/cgi-bin/message/mass/sendall`, `/mass/send`, `/mass/preview`, `/custom/send` | POST | 40008 `msgtype` not `wxcard`, 41011 missing field, 41012/40073/40071 card, 40080 `card_ext` not a JSON string of a `card_ext` signed with the current api_ticket, 40130 `touser` list not 2..=10000, 40003 empty openid, 45065 repeated `clientmsgid` (with the first `msg_id`) |
//!
//! Every endpoint but the token ones answers 41001 without `access_token`, 40001 for an
//! unknown token or one superseded longer ago than the grace period, 42001 for an expired
//! or fault-killed one. A wrong method answers 43001/43002; an empty body 44002; a body
//! that is not a JSON object 47001. An unknown path answers **HTTP 404** with
//! `{"errcode":404,...}`. Where WeChat documents no specific code (a bad `expire_seconds`,
//! too long a whitelist, an unknown card), the sandbox uses WeChat's generic ones (40097 "invalid
//! args", 40073 "invalid card id"). Error `errmsg`s end with `rid: ...`, as WeChat's do.
//!
//! The deposit answer's `succ_code`, `duplicate_code` and `fail_code` are **counts**. A code
//! fails when it is longer than [`SandboxBuilder::max_code_len`] bytes or a
//! [`FaultConfig::code_failure`] fault hits it; a failed code is not stored.
//!
//! ## Tokens
//!
//! Tokens are [`Sandbox::DEFAULT_TOKEN_LEN`] characters long (WeChat's are about as long;
//! clients should reserve 512) and differ from one sandbox to the next unless
//! [`SandboxBuilder::seed`] is given.
//!
//! Each `/cgi-bin/token` call issues a new token valid for `expires_in` (7200 s) on the
//! sandbox [`Clock`]; the previous one stays valid for the grace period
//! ([`SandboxBuilder::token_grace`], 300 s by default as on WeChat; set 0 to make a
//! superseded token fail at once). With a [`Clock::manual`] clock nothing expires until
//! [`Sandbox::advance`] moves time.
//!
//! `/cgi-bin/stable_token` keeps its own token, apart from `/cgi-bin/token`'s: the same
//! token while it has more than 5 minutes left (`expires_in` counts down); in its last 5
//! minutes a call gets a new one and the old one keeps working until it expires, so every
//! answer leaves at least 300 s. `force_refresh: true` issues a new token and the previous
//! one stops working at once; a second forced refresh less than 30 s after the previous
//! one returns the current token unchanged. (WeChat also caps forced refreshes at 20 a
//! day; the sandbox does not.)
//!
//! ## Faults
//!
//! Faults apply to endpoints that carry an access token ("API calls"), never to the token
//! endpoints or the admin routes. Periodic faults ([`FaultConfig::expire_token_every`],
//! [`FaultConfig::system_busy_every`], [`FaultConfig::rate_limited_every`]) answer on exact
//! calls counted from when the configuration was set; random ones are drawn from a seeded
//! PRNG; scripted ones ([`Sandbox::push_fault`]) come first. A `-1`, `45009` or `42001`
//! fault answers *instead of* processing the request, so a retry is honest (a deposit is
//! applied once). A dropped connection comes in
//! two kinds: before the effect (nothing happened) and after it (the effect is applied and
//! the answer is lost, as real networks do). Latency delays the answer: the blocking
//! transport sleeps, the async transport waits on a timer thread without blocking the
//! executor, the HTTP server waits on its runtime's timer.
//!
//! ## Admin routes (no token, never faulted)
//!
//! | Route | Does |
//! |---|---|
//! | `POST /sandbox/reset` | back to empty: cards, codes, tokens, records, counters, faults |
//! | `GET /sandbox/cards` | lists the cards |
//! | `POST /sandbox/cards` | `{"card_id"?, "use_custom_code"?, "get_custom_code_mode"?, "quantity"?}` creates a card (answers `card_id`); `{"cards": [...]}` creates several (answers `card_ids`) |
//! | `GET /sandbox/faults` | the fault configuration, scripted faults waiting, API calls counted |
//! | `POST /sandbox/faults` | replaces the fault configuration (absent fields are off) and appends `script` |
//! | `PATCH /sandbox/faults` | changes only the given fault fields |
//! | `DELETE /sandbox/faults` | no faults, no scripted faults |
//! | `GET /sandbox/counters` | requests (in all and per endpoint), API calls, errors answered, faults by kind, tokens issued, deposit calls, codes received / stored / duplicate / failed, largest batch |
//! | `GET /sandbox/sends` | the `wxcard` messages accepted, in order |
//! | `GET`, `POST /sandbox/clock` | reads the clock; `{"now"?, "advance"?}` sets it (setting `now` makes it manual) |
//! | `POST /sandbox/events/user_get_card` | `{"card_id", "code", "outer_id"?, "openid"?, "outer_str"?}` answers the event XML; with a push target set, the HTTP server also pushes it there (the header `x-sandbox-push-id` names the push) |
//! | `GET /sandbox/push_target` | where claims are pushed (URL, mode, AppID, tries; never the Token or key), or `null` |
//! | `POST`, `PUT /sandbox/push_target` | `{"url", "token", "mode"?, "aes_key"?, "appid"?, "timeout_ms"?, "attempts"?, "retry_pause_ms"?}` sets it (mode `safe` when `aes_key` is given, else `plain`; AppID: the sandbox's) |
//! | `DELETE /sandbox/push_target` | no more pushes |
//! | `GET /sandbox/pushes` | every push: card, code, URL, each try's status or error, outcome; counts by outcome |
//! | `POST /sandbox/pushes/redeliver` | `{"id"}` sends push `id` again, the very same request, as WeChat's retry does |
//! | `GET /sandbox/state` | a summary: time, cards, counts of records, whitelist |
//!
//! The crate's README shows each with `curl`.
#![deny(missing_docs)]

mod clock;
mod codes;
mod engine;
mod event;
mod fault;
mod push;
pub mod records;
#[cfg(feature = "server")]
mod server;
mod transport;

pub use clock::Clock;
pub use event::{Claim, DEFAULT_OPENID};
pub use fault::{Fault, FaultConfig};
pub use push::{MAX_PUSH_ATTEMPTS, PushAttempt, PushOutcome, PushRecord, PushTarget};
// `records::QrCard`, `records::LandingPage` and `records::LandingCard` stay in their
// module: card-model has request types of those names.
pub use records::{
    CardInfo, CardSpec, Channel, FaultCounts, GET_CUSTOM_CODE_MODE_DEPOSIT, QrTicket, SentMessage,
    Stats, Whitelist,
};
#[cfg(feature = "server")]
pub use server::{SecretArg, ServeArgs, ServeError, ServerConfig, ServerHandle, serve, serve_with};

use card_model::{AccessToken, ApiTicket, AppSecret};
use card_transport::{
    AsyncTransport, BlockingTransport, HttpRequest, HttpResponse, TransportError,
    TransportErrorKind,
};
use engine::{Config, Processed, Reply, State};
use fault::Faults;
use records::LandingPage;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A failed set-up call on the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SandboxError {
    /// No card has this id.
    UnknownCard(String),
    /// A card with this id exists already.
    DuplicateCard(String),
    /// A card id may not be empty.
    InvalidCardId,
    /// A code is empty, or the card's code store is full.
    InvalidCode,
    /// A push target is not usable (the reason says why).
    InvalidPushTarget(String),
    /// No push has this id.
    UnknownPush(u64),
    /// No push target is set.
    NoPushTarget,
    /// The operating system gave no random bytes to sign a push with.
    NoRandomness,
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCard(id) => write!(f, "no card with id {id:?}"),
            Self::DuplicateCard(id) => write!(f, "a card with id {id:?} exists already"),
            Self::InvalidCardId => f.write_str("a card id may not be empty"),
            Self::InvalidCode => f.write_str("a code is empty or the card's code store is full"),
            Self::InvalidPushTarget(why) => write!(f, "invalid push target: {why}"),
            Self::UnknownPush(id) => write!(f, "no push with id {id}"),
            Self::NoPushTarget => f.write_str("no push target is set"),
            Self::NoRandomness => f.write_str("the operating system gave no random bytes"),
        }
    }
}

impl std::error::Error for SandboxError {}

/// Settings of a new [`Sandbox`]; see [`Sandbox::builder`].
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    config: Config,
    clock: Clock,
    faults: FaultConfig,
    push_target: Option<PushTarget>,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                appid: Sandbox::DEFAULT_APPID.to_owned(),
                secret: AppSecret::new(Sandbox::DEFAULT_SECRET),
                original_id: "gh_5a4e44424f58".to_owned(),
                token_ttl: 7200,
                token_grace: 300,
                token_len: Sandbox::DEFAULT_TOKEN_LEN,
                max_code_len: 128,
                seed: None,
            },
            clock: Clock::system(),
            faults: FaultConfig::default(),
            push_target: None,
        }
    }
}

impl SandboxBuilder {
    /// The AppID that `/cgi-bin/token` accepts (default [`Sandbox::DEFAULT_APPID`]).
    pub fn appid(mut self, appid: impl Into<String>) -> Self {
        self.config.appid = appid.into();
        self
    }

    /// The AppSecret that `/cgi-bin/token` accepts (default [`Sandbox::DEFAULT_SECRET`]).
    pub fn secret(mut self, secret: AppSecret) -> Self {
        self.config.secret = secret;
        self
    }

    /// The account's original id, the `ToUserName` of events (default `gh_5a4e44424f58`).
    pub fn original_id(mut self, original_id: impl Into<String>) -> Self {
        self.config.original_id = original_id.into();
        self
    }

    /// The clock (default [`Clock::system`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// A token's lifetime, `expires_in` (default 7200 s).
    pub fn token_ttl(mut self, secs: i64) -> Self {
        self.config.token_ttl = secs;
        self
    }

    /// How long a token stays valid after a newer one was issued (default 300 s, as on
    /// WeChat).
    pub fn token_grace(mut self, secs: i64) -> Self {
        self.config.token_grace = secs;
        self
    }

    /// The length of issued access tokens, 32 to 512 characters (default
    /// [`Sandbox::DEFAULT_TOKEN_LEN`]; WeChat's are about as long and it asks clients to
    /// reserve 512).
    pub fn token_len(mut self, chars: usize) -> Self {
        self.config.token_len = chars.clamp(32, 512);
        self
    }

    /// Makes tokens, tickets and generated card ids the same from one run to the next.
    /// Without a seed each new sandbox issues different ones.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// The longest code, in bytes, that deposit stores; a longer one counts in `fail_code`
    /// (default 128).
    pub fn max_code_len(mut self, bytes: usize) -> Self {
        self.config.max_code_len = bytes;
        self
    }

    /// Random faults (default none).
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Where to push the `user_get_card` events of claims (default nowhere); see
    /// [`PushTarget`] for who delivers them and how.
    pub fn push_target(mut self, target: PushTarget) -> Self {
        self.push_target = Some(target);
        self
    }

    /// Builds the sandbox.
    pub fn build(self) -> Sandbox {
        let mut state = State::new(self.config, self.clock, Faults::new(self.faults));
        state.pushes.target = self.push_target;
        Sandbox {
            inner: Arc::new(Mutex::new(state)),
        }
    }
}

/// The in-memory card server. Cheap to clone: clones share one state.
///
/// It never panics on input: any request gets an answer (or, under a drop fault, a
/// transport error).
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Mutex<State>>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("Sandbox")
            .field("appid", &s.config.appid)
            .field("cards", &s.cards.len())
            .field("clock", &s.clock)
            .finish_non_exhaustive()
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// The AppID a default sandbox accepts.
    pub const DEFAULT_APPID: &'static str = "wx5a4e44424f580001";
    /// The AppSecret a default sandbox accepts.
    pub const DEFAULT_SECRET: &'static str = "sandbox-app-secret-0123456789abcdef";
    /// The length of an access token unless [`SandboxBuilder::token_len`] says otherwise.
    pub const DEFAULT_TOKEN_LEN: usize = 140;

    /// A sandbox with default settings: the system clock, no faults.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Settings for a new sandbox.
    ///
    /// ```
    /// use card_sandbox::{Clock, Sandbox};
    ///
    /// let sandbox = Sandbox::builder()
    ///     .clock(Clock::manual(1_700_000_000))
    ///     .token_grace(0)
    ///     .build();
    /// assert_eq!(sandbox.now(), 1_700_000_000);
    /// ```
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The AppID the token endpoint accepts.
    pub fn appid(&self) -> String {
        self.lock().config.appid.clone()
    }

    /// The AppSecret the token endpoint accepts.
    pub fn secret(&self) -> AppSecret {
        self.lock().config.secret.clone()
    }

    /// The account's original id (`gh_...`), the `ToUserName` of events.
    pub fn original_id(&self) -> String {
        self.lock().config.original_id.clone()
    }

    // --- set-up and inspection ----------------------------------------------------------

    /// Creates a card and returns its id.
    ///
    /// # Errors
    /// [`SandboxError::DuplicateCard`] when the spec names an id in use,
    /// [`SandboxError::InvalidCardId`] when it names an empty one.
    pub fn create_card(&self, spec: CardSpec) -> Result<String, SandboxError> {
        self.lock().create_card(spec)
    }

    /// A card, if it exists.
    pub fn card(&self, card_id: &str) -> Option<CardInfo> {
        self.lock().cards.get(card_id).map(|c| c.info(card_id))
    }

    /// All cards, sorted by id.
    pub fn cards(&self) -> Vec<CardInfo> {
        let s = self.lock();
        let mut cards: Vec<CardInfo> = s.cards.iter().map(|(id, c)| c.info(id)).collect();
        cards.sort_by(|a, b| a.card_id.cmp(&b.card_id));
        cards
    }

    /// Sets a card's stock, as WeChat's "modify stock" API would.
    ///
    /// # Errors
    /// [`SandboxError::UnknownCard`].
    pub fn set_quantity(&self, card_id: &str, quantity: u64) -> Result<(), SandboxError> {
        let mut s = self.lock();
        let card = s
            .cards
            .get_mut(card_id)
            .ok_or_else(|| SandboxError::UnknownCard(card_id.to_owned()))?;
        card.quantity = quantity;
        Ok(())
    }

    /// Stores codes directly, as if deposited earlier (for example to test a resumed
    /// import). Returns how many were new.
    ///
    /// # Errors
    /// [`SandboxError::UnknownCard`]; [`SandboxError::InvalidCode`] for an empty code (the
    /// codes before it are stored).
    pub fn preload_codes<I, S>(&self, card_id: &str, codes: I) -> Result<usize, SandboxError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut s = self.lock();
        let card = s
            .cards
            .get_mut(card_id)
            .ok_or_else(|| SandboxError::UnknownCard(card_id.to_owned()))?;
        let mut added = 0;
        for code in codes {
            let code = code.as_ref();
            if code.is_empty() {
                return Err(SandboxError::InvalidCode);
            }
            if card
                .codes
                .insert(code)
                .map_err(|_| SandboxError::InvalidCode)?
            {
                added += 1;
            }
        }
        Ok(added)
    }

    /// How many codes are deposited for a card (`None`: no such card).
    pub fn deposited_count(&self, card_id: &str) -> Option<usize> {
        self.lock().cards.get(card_id).map(|c| c.codes.len())
    }

    /// Whether a code is deposited for a card.
    pub fn is_deposited(&self, card_id: &str, code: &str) -> bool {
        self.lock()
            .cards
            .get(card_id)
            .is_some_and(|c| c.codes.contains(code))
    }

    /// The deposited codes of a card, in the order they were first stored.
    pub fn deposited_codes(&self, card_id: &str) -> Option<Vec<String>> {
        self.lock()
            .cards
            .get(card_id)
            .map(|c| c.codes.iter().map(str::to_owned).collect())
    }

    /// The `wxcard` messages accepted so far, in order.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.lock().messages.clone()
    }

    /// The current test whitelist.
    pub fn whitelist(&self) -> Whitelist {
        self.lock().whitelist.clone()
    }

    /// The QR tickets issued so far, in order.
    pub fn qr_tickets(&self) -> Vec<QrTicket> {
        self.lock().qr_tickets.clone()
    }

    /// The landing pages created so far, in order.
    pub fn landing_pages(&self) -> Vec<LandingPage> {
        self.lock().landing_pages.clone()
    }

    /// Counters: requests, errors, tokens, deposits, faults.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Requests per endpoint path (for example `"/card/code/deposit"`), admin routes
    /// included; requests to unknown paths count under `"other"`.
    pub fn requests_by_endpoint(&self) -> std::collections::BTreeMap<String, u64> {
        self.lock()
            .by_endpoint
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect()
    }

    /// Back to empty: no cards, codes, tokens, tickets, records or counters, and no
    /// faults (random, periodic or scripted). The AppID, secret, other settings and the
    /// clock stay.
    pub fn reset(&self) {
        self.lock().reset();
    }

    // --- credentials and time -----------------------------------------------------------

    /// Issues an access token as `/cgi-bin/token` would (superseding the previous one).
    pub fn issue_token(&self) -> AccessToken {
        AccessToken::new(self.lock().issue_token())
    }

    /// The current card `api_ticket` (issued on first use, renewed when expired), the one
    /// `/cgi-bin/ticket/getticket?type=wx_card` answers.
    pub fn api_ticket(&self) -> ApiTicket {
        ApiTicket::new(self.lock().api_ticket())
    }

    /// The sandbox time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.lock().clock.now()
    }

    /// Sets the time and makes the clock manual.
    pub fn set_now(&self, now: i64) {
        self.lock().clock = Clock::manual(now);
    }

    /// Moves the clock forward by `secs` (either kind of clock).
    pub fn advance(&self, secs: i64) {
        self.lock().clock.advance(secs);
    }

    // --- faults -------------------------------------------------------------------------

    /// Replaces the random fault configuration and restarts its PRNG from its seed (the
    /// scripted queue is kept).
    pub fn set_faults(&self, faults: FaultConfig) {
        self.lock().faults.reset(faults);
    }

    /// The random fault configuration.
    pub fn faults(&self) -> FaultConfig {
        self.lock().faults.config.clone()
    }

    /// Scripts a fault for the next API call that has none scripted yet (first in, first
    /// out). A scripted fault replaces the random draw for its call.
    ///
    /// ```
    /// use card_sandbox::{Fault, Sandbox};
    /// use card_transport::BlockingTransport;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = Sandbox::new();
    /// let token = sandbox.issue_token();
    /// sandbox.push_fault(Fault::SystemBusy);
    /// let url = format!("https://any.host/cgi-bin/ticket/getticket?type=wx_card&access_token={}", token.expose());
    /// let first = sandbox.send(http::Request::get(&url).body(Vec::new())?)?;
    /// assert!(String::from_utf8(first.into_body())?.contains("\"errcode\":-1"));
    /// let second = sandbox.send(http::Request::get(&url).body(Vec::new())?)?;
    /// assert!(String::from_utf8(second.into_body())?.contains("\"errcode\":0"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Drops the scripted faults not yet used.
    pub fn clear_scripted_faults(&self) {
        self.lock().faults.clear_queue();
    }

    /// How many scripted faults wait.
    pub fn scripted_faults(&self) -> usize {
        self.lock().faults.pending()
    }

    // --- events -------------------------------------------------------------------------

    /// The event WeChat pushes when a user claims a card, as a value: `ToUserName` is the
    /// account's original id, `CreateTime` the sandbox time.
    ///
    /// # Errors
    /// [`SandboxError::UnknownCard`].
    pub fn user_get_card(
        &self,
        claim: &Claim,
    ) -> Result<card_model::event::UserGetCard, SandboxError> {
        self.lock().user_get_card(claim)
    }

    /// The XML push WeChat sends when a user claims a card (written by
    /// [`card_model::event::UserGetCard::to_xml`], so
    /// [`card_model::event::parse_event`] reads it back).
    ///
    /// ```
    /// use card_model::event::{Event, parse_event};
    /// use card_sandbox::{CardSpec, Claim, Sandbox};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = Sandbox::new();
    /// let card_id = sandbox.create_card(CardSpec::new())?;
    /// let xml = sandbox.user_get_card_event(&Claim::new(&card_id, "1434008071").outer_id(1))?;
    /// assert!(xml.contains("<Event><![CDATA[user_get_card]]></Event>"));
    /// let Event::UserGetCard(claim) = parse_event(xml.as_bytes())? else {
    ///     return Err("not a user_get_card event".into());
    /// };
    /// assert_eq!(claim.outer_id, Some(1));
    /// assert_eq!(claim.user_card_code.as_deref(), Some("1434008071"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`SandboxError::UnknownCard`].
    pub fn user_get_card_event(&self, claim: &Claim) -> Result<String, SandboxError> {
        self.user_get_card(claim).map(|e| e.to_xml())
    }

    // --- pushes -------------------------------------------------------------------------

    /// Sets (`Some`) or clears (`None`) where claims are pushed; see [`PushTarget`].
    /// Pushes already under way finish with the target they started with.
    pub fn set_push_target(&self, target: Option<PushTarget>) {
        self.lock().pushes.target = target;
    }

    /// Where claims are pushed, if anywhere.
    pub fn push_target(&self) -> Option<PushTarget> {
        self.lock().pushes.target.clone()
    }

    /// Every push made (the last 10,000), oldest first, with its tries and outcome.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.lock().pushes.records()
    }

    /// The push numbered `id`.
    pub fn push_record(&self, id: u64) -> Option<PushRecord> {
        self.lock().pushes.record(id)
    }

    /// Renders the `user_get_card` event of `claim` and delivers it to the push target
    /// now, blocking until it is answered or every try failed (feature `server`). It
    /// runs the delivery on a thread of its own, so it may be called from any code,
    /// async code included (where it blocks the calling thread).
    ///
    /// ```
    /// use card_push::{PushConfig, Token};
    /// use card_sandbox::{CardSpec, Claim, PushOutcome, PushTarget, Sandbox};
    /// use std::time::Duration;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Nothing listens on port 9 of loopback: every try fails, and the record says so.
    /// let target = PushTarget::new("http://127.0.0.1:9/wechat", PushConfig::plain(Token::new("t")?))?
    ///     .with_attempts(2)
    ///     .with_retry_pause(Duration::ZERO);
    /// let sandbox = Sandbox::builder().push_target(target).build();
    /// let card_id = sandbox.create_card(CardSpec::new())?;
    /// let record = sandbox.push_claim(&Claim::new(&card_id, "1434008071"))?;
    /// assert_eq!(record.attempts.len(), 2);
    /// assert!(matches!(record.outcome, PushOutcome::Failed { .. }));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`SandboxError::UnknownCard`], [`SandboxError::NoPushTarget`], or
    /// [`SandboxError::NoRandomness`] when the push cannot be signed.
    #[cfg(feature = "server")]
    pub fn push_claim(&self, claim: &Claim) -> Result<PushRecord, SandboxError> {
        let job = {
            let mut state = self.lock();
            let event = state.user_get_card(claim)?;
            match state.pushes.prepare(&event) {
                None => return Err(SandboxError::NoPushTarget),
                Some(Err(_)) => return Err(SandboxError::NoRandomness),
                Some(Ok(job)) => job,
            }
        };
        let id = job.id;
        let sandbox = self.clone();
        let worker = std::thread::Builder::new()
            .name("card-sandbox-push".into())
            .spawn(move || -> std::io::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(push::send::deliver(sandbox, job));
                Ok(())
            });
        let failure = match worker.map(std::thread::JoinHandle::join) {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(format!("no runtime to send with: {e}")),
            Ok(Err(_)) => Some("the sending thread failed".to_owned()),
            Err(e) => Some(format!("no thread to send with: {e}")),
        };
        if let Some(reason) = failure {
            self.with_pushes(|p| p.finish(id, PushOutcome::Failed { reason }));
        }
        self.push_record(id).ok_or(SandboxError::UnknownPush(id))
    }

    pub(crate) fn with_pushes<R>(&self, f: impl FnOnce(&mut push::Pushes) -> R) -> R {
        f(&mut self.lock().pushes)
    }

    // --- requests -----------------------------------------------------------------------

    /// Processes a request without waiting for its latency; also the pushes it queued
    /// (taken under the same lock, so no other request's pushes are mixed in).
    pub(crate) fn process(&self, request: &HttpRequest) -> (Processed, Vec<push::PushJob>) {
        let mut state = self.lock();
        let processed = state.process(request);
        let jobs = state.pushes.take_queue();
        (processed, jobs)
    }

    /// Processes a request of the in-process transport: the pushes it queued are
    /// recorded as not sent (this transport has no runtime to send them with).
    fn process_in_process(&self, request: &HttpRequest) -> Processed {
        let (processed, jobs) = self.process(request);
        if !jobs.is_empty() {
            self.with_pushes(|p| {
                for job in jobs {
                    p.finish(
                        job.id,
                        PushOutcome::NotSent {
                            reason: push::IN_PROCESS.to_owned(),
                        },
                    );
                }
            });
        }
        processed
    }
}
