//! The call plan: one state machine per call that both clients execute.
//!
//! A plan does no I/O, reads no clock and never sleeps. Fed the outcome of its last
//! [`Step`], it says what to do next: get an access token, send a request to a host,
//! sleep, or finish. All of the policy lives here, tested without a network:
//!
//! * **Retries** ([`RetryPolicy`]): errcode -1, errcode 45009 (with a longer wait),
//!   connect failures, timeouts, broken connections and 5xx/429 statuses are retried
//!   with capped, jittered exponential backoff while attempts remain. A 429 or 503
//!   with `Retry-After: N` (seconds) is retried after N s (at least the backoff); when
//!   N s is longer than the policy's longest delay, the call gives up with that error.
//! * **Repeatability** ([`Endpoint::repeatable`]): a request that is not repeatable (a
//!   mass send or customer-service message without `clientmsgid`) is never sent again
//!   once WeChat may have acted on it: not after a timeout or broken connection, not
//!   after a 5xx (a proxy may have forwarded it), and not after errcode -1 ("system
//!   busy" does not prove the send was dropped, so we stay conservative). It *is* sent
//!   again after a connect/TLS failure (nothing was sent), after a token error and after
//!   45009 (WeChat refused the call without acting).
//! * **The token after a wait**: before the first request and after every backoff
//!   sleep the plan asks for the store's current token (a store read), never reusing
//!   the one it held before the wait: other callers may have replaced it meanwhile.
//! * **Token errors** (40001, 40014, 42001): the plan asks for another token, naming the
//!   one that failed, and repeats the call; this costs no retry attempt. If the store
//!   already holds another token (a concurrent caller replaced the failed one), the
//!   call takes it at no cost. Otherwise the failed token is replaced by a fetch
//!   (compare-and-set: only if the store still holds it), and that is the call's one
//!   refresh: a token error after the call's own fetch is returned unless another
//!   token can be had without fetching, or WeChat said the token this call fetched
//!   has expired (42001: it was valid; see [`MAX_TOKEN_FETCHES`]). At most
//!   [`MAX_TOKEN_ERRORS`] token errors are absorbed per call, so a server that rejects
//!   every token ends the call.
//! * **Failover**: hosts are tried in order. A connect or TLS failure moves to the next
//!   host at once, without consuming an attempt, until every host failed in the round;
//!   a timeout moves to the next host only when the request is repeatable (it is a
//!   retry, so it consumes an attempt).
//! * **Sticky failover**: a plan starts at [`PlanSettings::start_host`] (taken modulo
//!   the number of hosts, so any index is safe) and goes round the hosts from there,
//!   wrapping to host 0 after the last. When the call ends,
//!   [`CallPlan::answered_host`] names the host that gave the last HTTP answer (any
//!   status, any errcode: the host is reachable), or `None` when no host answered. The
//!   clients remember it and start their next call there, so a dead primary costs one
//!   failed connect, not one per call. A host that fails moves the preference on only
//!   when a later host actually answers; the plan itself keeps no shared state.

use crate::error::{Body, Error};
use crate::retry::{Jitter, RetryPolicy};
use card_model::{AccessToken, Auth, Endpoint, ErrCode, HttpMethod, ResponseError};
use card_transport::{HttpRequest, HttpResponse, TransportError, TransportErrorKind};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What the executing client must do next.
pub enum Step<T> {
    /// Send this request and report [`Outcome::Response`].
    Send(HttpRequest),
    /// Get the access token to use now and report [`Outcome::Token`]: the store's
    /// current one, fetched if it holds none that is usable. With `stale`, the token that
    /// WeChat just rejected: use the store's token if it is another one (another caller
    /// replaced it already: that costs nothing), else replace it.
    AccessToken {
        /// The rejected token, if any.
        stale: Option<AccessToken>,
        /// Whether this step may fetch a new token to replace `stale` (see
        /// [`MAX_TOKEN_FETCHES`]). When false and the store still holds `stale`, the
        /// answer is [`TokenReply::Unchanged`].
        may_fetch: bool,
    },
    /// Wait this long and report [`Outcome::Slept`].
    Sleep(Duration),
    /// The call is over.
    Done(Result<T, Error>),
}

impl<T> fmt::Debug for Step<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send(r) => write!(f, "Send({})", card_transport::redacted_target(r)),
            Self::AccessToken { stale, may_fetch } => write!(
                f,
                "AccessToken {{ stale: {}, may_fetch: {may_fetch} }}",
                stale.is_some()
            ),
            Self::Sleep(d) => write!(f, "Sleep({d:?})"),
            Self::Done(Ok(_)) => f.write_str("Done(Ok(..))"),
            Self::Done(Err(e)) => write!(f, "Done(Err({e:?}))"),
        }
    }
}

/// What happened to the last step.
pub enum Outcome {
    /// Nothing yet: the first call of [`CallPlan::next`].
    Start,
    /// The result of [`Step::Send`].
    Response(Result<HttpResponse, TransportError>),
    /// The result of [`Step::AccessToken`].
    Token(Result<TokenReply, Error>),
    /// [`Step::Sleep`] is over.
    Slept,
}

impl fmt::Debug for Outcome {
    /// Status and body length only: a token endpoint's body holds the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Start => f.write_str("Start"),
            Self::Response(Ok(r)) => {
                write!(f, "Response({}, {} bytes)", r.status(), r.body().len())
            }
            Self::Response(Err(e)) => write!(f, "Response(Err({:?}))", e.kind()),
            Self::Token(Ok(TokenReply::Token { fetched, .. })) => {
                write!(f, "Token(Ok([redacted], fetched: {fetched}))")
            }
            Self::Token(Ok(TokenReply::Unchanged)) => f.write_str("Token(Ok(Unchanged))"),
            Self::Token(Err(e)) => write!(f, "Token(Err({e:?}))"),
            Self::Slept => f.write_str("Slept"),
        }
    }
}

/// The answer to [`Step::AccessToken`].
pub enum TokenReply {
    /// The token to use.
    Token {
        /// The token.
        token: AccessToken,
        /// Whether this step fetched it from WeChat (rather than finding it in the
        /// store, where another caller may have put it).
        fetched: bool,
    },
    /// The step could not fetch (`may_fetch` was false) and the store holds no token
    /// other than the rejected one.
    Unchanged,
}

#[cfg(test)]
impl TokenReply {
    /// A token found in the store, not fetched by this step.
    pub fn stored(token: AccessToken) -> Self {
        Self::Token {
            token,
            fetched: false,
        }
    }
}

/// How many token errors one call absorbs at most. Taking a token another caller
/// stored meanwhile costs no attempt and no fetch; the bound only guarantees that a
/// call ends against a server that rejects every token while other callers keep
/// replacing it.
pub const MAX_TOKEN_ERRORS: u32 = 64;

/// How many token fetches one call triggers at most to replace a token that failed
/// (besides a fetch because the store held no usable token at all): one, and, when WeChat answers a token this call fetched itself with 42001
/// ("expired": it was valid and has expired, as happens when tokens expire every few
/// calls under load), a few more for those real expiries. A token this call fetched
/// that is called *invalid* (40001, 40014) is never fetched again by this call.
pub const MAX_TOKEN_FETCHES: u32 = 4;

/// A call ready to go: everything taken from the endpoint, no token yet.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub method: HttpMethod,
    pub path: &'static str,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    pub auth: Auth,
    pub repeatable: bool,
    /// The response may carry a secret (token or ticket): never keep its body.
    pub secret_response: bool,
}

impl Prepared {
    /// Validates and encodes `endpoint`.
    pub fn new<E: Endpoint>(endpoint: &E) -> Result<Self, Error> {
        endpoint.validate()?;
        let body = card_model::encode_body(endpoint).map_err(Error::Encode)?;
        Ok(Self {
            method: E::METHOD,
            path: E::PATH,
            query: endpoint.query(),
            body,
            auth: E::AUTH,
            repeatable: endpoint.repeatable(),
            secret_response: E::SECRET_RESPONSE,
        })
    }
}

/// Everything a plan needs besides the call itself.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    /// Base URLs in failover order (no trailing slash), at least one.
    pub hosts: Arc<[String]>,
    /// The retry policy.
    pub policy: RetryPolicy,
    /// Whether a rejected token can be replaced (false for a fixed token).
    pub can_refresh: bool,
    /// The jitter seed of this call.
    pub seed: u64,
    /// The host to try first, an index into `hosts` taken modulo their number (so any
    /// value is safe): the clients pass the host that answered their last call.
    pub start_host: usize,
}

/// The state machine of one call. See the [module docs](self).
pub struct CallPlan<T> {
    call: Prepared,
    decode: fn(&[u8]) -> Result<T, ResponseError>,
    settings: PlanSettings,
    rng: Jitter,
    host: usize,
    /// Retry rounds begun, the first included.
    attempt: u32,
    /// Requests handed out.
    sends: u32,
    /// Hosts that failed to connect in the current round.
    unreachable: usize,
    /// The host that gave the last HTTP answer.
    answered: Option<usize>,
    /// Fetches this call triggered to replace a token that failed (its refreshes; a
    /// fetch because the store held no token at all is not one).
    fetches: u32,
    /// Whether the pending [`Step::AccessToken`] named a rejected token.
    replacing: bool,
    /// Token errors met so far.
    token_errors: u32,
    /// The last token error, returned when no other token can be had.
    token_error: Option<card_model::WeChatError>,
    token: Option<AccessToken>,
    errcode: Option<i64>,
    done: bool,
}

impl<T> fmt::Debug for CallPlan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallPlan")
            .field("path", &self.call.path)
            .field("host", &self.host)
            .field("attempt", &self.attempt)
            .field("sends", &self.sends)
            .field("fetches", &self.fetches)
            .field("token_errors", &self.token_errors)
            .finish_non_exhaustive()
    }
}

impl<T> CallPlan<T> {
    /// A plan for `endpoint`, after validating and encoding it.
    ///
    /// # Errors
    /// [`Error::Validation`] (or [`Error::Encode`]) when the request cannot be sent.
    pub fn for_endpoint<E>(endpoint: &E, settings: PlanSettings) -> Result<Self, Error>
    where
        E: Endpoint<Response = T>,
    {
        let decode: fn(&[u8]) -> Result<T, ResponseError> = card_model::decode_response::<E>;
        Ok(Self::new(Prepared::new(endpoint)?, decode, settings))
    }

    pub(crate) fn new(
        call: Prepared,
        decode: fn(&[u8]) -> Result<T, ResponseError>,
        settings: PlanSettings,
    ) -> Self {
        let host = settings
            .start_host
            .checked_rem(settings.hosts.len())
            .unwrap_or(0);
        Self {
            call,
            decode,
            rng: Jitter::new(settings.seed),
            settings,
            host,
            attempt: 1,
            sends: 0,
            unreachable: 0,
            answered: None,
            fetches: 0,
            replacing: false,
            token_errors: 0,
            token_error: None,
            token: None,
            errcode: None,
            done: false,
        }
    }

    /// This call is never repeated where WeChat may have acted, whatever its endpoint
    /// says: the caller finds out what happened itself (`deposit_all` checks a chunk
    /// whose deposit answer was lost before sending it again).
    pub(crate) fn once(mut self) -> Self {
        self.call.repeatable = false;
        self
    }

    /// The endpoint path, for logs.
    pub fn path(&self) -> &'static str {
        self.call.path
    }

    /// Requests sent so far (the attempt number of the last one).
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// The host (an index into [`PlanSettings::hosts`]) that gave the last HTTP answer
    /// of this call (any status, any errcode), or `None` while no host has answered.
    /// Read it when the call is [done](Step::Done): it is where the next call should
    /// start ([`PlanSettings::start_host`]).
    pub fn answered_host(&self) -> Option<usize> {
        self.answered
    }

    /// Moves the host this call tries first to `host` (taken modulo the number of
    /// hosts), as long as no request was sent yet; afterwards it does nothing. The
    /// clients call it when the access token arrives: fetching the token may itself have
    /// failed over, and the call should then start where the token fetch got an answer.
    pub fn start_at(&mut self, host: usize) {
        if self.sends == 0 {
            self.host = host.checked_rem(self.settings.hosts.len()).unwrap_or(0);
        }
    }

    /// The last errcode WeChat answered, if any.
    pub fn errcode(&self) -> Option<i64> {
        self.errcode
    }

    /// The next step, given the outcome of the previous one.
    pub fn next(&mut self, outcome: Outcome) -> Step<T> {
        if self.done {
            return Step::Done(Err(Error::Config(
                "call plan used after it finished".into(),
            )));
        }
        match outcome {
            // After a wait, the token held before it may have been replaced by other
            // callers meanwhile: ask for the current one (a store read).
            Outcome::Start | Outcome::Slept if self.call.auth == Auth::AccessToken => {
                self.token = None;
                self.current_token()
            }
            Outcome::Start | Outcome::Slept => self.send(),
            Outcome::Token(Ok(TokenReply::Token { token, fetched })) => {
                self.fetches += u32::from(fetched && self.replacing);
                self.replacing = false;
                self.token = Some(token);
                self.send()
            }
            Outcome::Token(Ok(TokenReply::Unchanged)) => {
                let error = self.token_error.take().map_or_else(
                    || Error::Config("no access token could be had".into()),
                    Error::WeChat,
                );
                self.finish(Err(error))
            }
            Outcome::Token(Err(e)) => self.finish(Err(e)),
            Outcome::Response(Err(e)) => self.on_transport_error(e),
            Outcome::Response(Ok(response)) => self.on_response(&response),
        }
    }

    fn finish(&mut self, result: Result<T, Error>) -> Step<T> {
        self.done = true;
        Step::Done(result)
    }

    fn current_token(&self) -> Step<T> {
        Step::AccessToken {
            stale: None,
            may_fetch: true,
        }
    }

    fn send(&mut self) -> Step<T> {
        if self.call.auth == Auth::AccessToken && self.token.is_none() {
            return self.current_token();
        }
        let Some(base) = self.settings.hosts.get(self.host) else {
            return self.finish(Err(Error::Config("no host to send the request to".into())));
        };
        match build_request(&self.call, base, self.token.as_ref()) {
            Ok(request) => {
                self.sends += 1;
                Step::Send(request)
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    fn next_host(&mut self) {
        self.host = (self.host + 1)
            .checked_rem(self.settings.hosts.len())
            .unwrap_or(0);
    }

    /// Retries after `error` if attempts remain, else returns it.
    fn retry_or(&mut self, error: Error, rate_limited: bool) -> Step<T> {
        self.retry_after_or(error, rate_limited, Duration::ZERO)
    }

    /// Retries after `error`, waiting at least `asked`, if attempts remain, else
    /// returns it.
    fn retry_after_or(&mut self, error: Error, rate_limited: bool, asked: Duration) -> Step<T> {
        if self.attempt >= self.settings.policy.attempts() {
            return self.finish(Err(error));
        }
        let delay = self
            .settings
            .policy
            .delay(self.attempt, rate_limited, &mut self.rng)
            .max(asked);
        self.attempt += 1;
        self.unreachable = 0;
        tracing::debug!(path = self.call.path, attempt = self.attempt, ?delay, error = %error, "retrying");
        Step::Sleep(delay)
    }

    fn on_transport_error(&mut self, source: TransportError) -> Step<T> {
        let kind = source.kind();
        let error = Error::transport(source);
        if !error.maybe_sent() {
            if kind == TransportErrorKind::InvalidUrl {
                return self.finish(Err(error));
            }
            // Nothing was sent: the next host, at once.
            self.unreachable += 1;
            self.next_host();
            if self.unreachable < self.settings.hosts.len() {
                return self.send();
            }
            if kind == TransportErrorKind::Connect {
                return self.retry_or(error, false);
            }
            return self.finish(Err(error));
        }
        if !self.call.repeatable {
            return self.finish(Err(error));
        }
        match kind {
            TransportErrorKind::Timeout | TransportErrorKind::Io => {
                self.next_host();
                self.retry_or(error, false)
            }
            _ => self.finish(Err(error)),
        }
    }

    fn on_response(&mut self, response: &HttpResponse) -> Step<T> {
        // The host answered: it is reachable, whatever the answer says.
        self.answered = Some(self.host);
        let status = response.status();
        let bytes = response.body();
        let body = || {
            if self.call.secret_response {
                Body::redacted(bytes)
            } else {
                // A proxy's page may echo the request, token and all.
                let token = self.token.as_ref().map_or("", |t| t.expose());
                Body::keep_scrubbed(bytes, &[token])
            }
        };
        if !status.is_success() {
            let error = Error::Status {
                status,
                body: body(),
            };
            if error.is_retryable() && self.call.repeatable {
                let asked = retry_after(response).unwrap_or(Duration::ZERO);
                if asked > self.settings.policy.longest_delay() {
                    // The server asks for a longer wait than the policy allows.
                    return self.finish(Err(error));
                }
                self.next_host();
                return self.retry_after_or(error, false, asked);
            }
            return self.finish(Err(error));
        }
        let wechat = match (self.decode)(bytes) {
            Ok(value) => return self.finish(Ok(value)),
            Err(ResponseError::Decode(source)) => {
                let body = body();
                // serde_json's text may quote a value of the body: for a credential,
                // keep only where decoding failed.
                let source = if self.call.secret_response {
                    serde::de::Error::custom(format_args!(
                        "{:?} error at line {} column {} (text withheld: the body may hold a credential)",
                        source.classify(),
                        source.line(),
                        source.column()
                    ))
                } else {
                    source
                };
                return self.finish(Err(Error::Decode { source, body }));
            }
            Err(ResponseError::WeChat(e)) => e,
        };
        self.errcode = Some(wechat.code.as_i64());
        if wechat.is_token_error()
            && self.call.auth == Auth::AccessToken
            && self.settings.can_refresh
            && self.token_errors < MAX_TOKEN_ERRORS
        {
            // WeChat refused the call without acting: safe to repeat with another
            // token. Taking one that another caller stored is free; fetching one is
            // this call's one refresh.
            let may_fetch = self.fetches == 0
                || (wechat.code == ErrCode::AccessTokenExpired && self.fetches < MAX_TOKEN_FETCHES);
            self.token_errors += 1;
            self.token_error = Some(wechat);
            self.replacing = true;
            return Step::AccessToken {
                stale: self.token.take(),
                may_fetch,
            };
        }
        match wechat.code {
            ErrCode::RateLimited => self.retry_or(wechat.into(), true),
            ErrCode::SystemBusy if self.call.repeatable => self.retry_or(wechat.into(), false),
            _ => self.finish(Err(wechat.into())),
        }
    }
}

/// The wait a 429 or 503 answer asks for with `Retry-After: <seconds>`. (The HTTP-date
/// form is not read: such an answer is retried after the policy's own backoff.)
fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let status = response.status();
    if status != http::StatusCode::TOO_MANY_REQUESTS
        && status != http::StatusCode::SERVICE_UNAVAILABLE
    {
        return None;
    }
    let value = response.headers().get(http::header::RETRY_AFTER)?;
    let secs: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// `base + path ? access_token & query`, with a JSON content type for bodies.
fn build_request(
    call: &Prepared,
    base: &str,
    token: Option<&AccessToken>,
) -> Result<HttpRequest, Error> {
    let mut url = String::with_capacity(base.len() + call.path.len() + 256);
    url.push_str(base);
    url.push_str(call.path);
    let mut sep = '?';
    let token_pair = token.map(|t| ("access_token", t.expose()));
    for (name, value) in token_pair
        .into_iter()
        .chain(call.query.iter().map(|(n, v)| (*n, v.as_str())))
    {
        url.push(sep);
        sep = '&';
        url.push_str(name);
        url.push('=');
        card_model::endpoint::percent_encode_into(value, &mut url);
    }
    let uri = http::Uri::try_from(url)
        .map_err(|_| Error::Config(format!("cannot build a request URL for {}", call.path)))?;
    // Built in place rather than through `http::request::Builder`, which moves the
    // request's parts at every step; the header value is a static one (no copy).
    let mut request = http::Request::new(call.body.clone().unwrap_or_default());
    *request.method_mut() = match call.method {
        HttpMethod::Get => http::Method::GET,
        HttpMethod::Post => http::Method::POST,
    };
    *request.uri_mut() = uri;
    if call.body.is_some() {
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize)]
    struct Op {
        n: u32,
        #[serde(skip)]
        repeatable: bool,
    }
    #[derive(Deserialize, Debug, PartialEq)]
    struct Out {
        n: u32,
    }
    impl Endpoint for Op {
        type Response = Out;
        const METHOD: HttpMethod = HttpMethod::Post;
        const PATH: &'static str = "/op";
        const REPEATABLE: bool = true;
        fn repeatable(&self) -> bool {
            self.repeatable
        }
    }

    fn settings(hosts: &[&str], policy: RetryPolicy) -> PlanSettings {
        PlanSettings {
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            policy,
            can_refresh: true,
            seed: 42,
            start_host: 0,
        }
    }

    fn plan(repeatable: bool, s: PlanSettings) -> CallPlan<Out> {
        CallPlan::for_endpoint(&Op { n: 1, repeatable }, s).unwrap()
    }

    fn ok(body: &str) -> Outcome {
        Outcome::Response(Ok(HttpResponse::new(body.as_bytes().to_vec())))
    }

    fn fail(kind: TransportErrorKind) -> Outcome {
        Outcome::Response(Err(TransportError::from_kind(kind)))
    }

    fn token(t: &str) -> Outcome {
        Outcome::Token(Ok(TokenReply::stored(AccessToken::new(t))))
    }

    fn fetched(t: &str) -> Outcome {
        Outcome::Token(Ok(TokenReply::Token {
            token: AccessToken::new(t),
            fetched: true,
        }))
    }

    #[track_caller]
    fn sent<T>(step: Step<T>) -> HttpRequest {
        match step {
            Step::Send(r) => r,
            other => panic!("expected Send, got {other:?}"),
        }
    }

    #[track_caller]
    fn done<T>(step: Step<T>) -> Result<T, Error> {
        match step {
            Step::Done(r) => r,
            other => panic!("expected Done, got {other:?}"),
        }
    }

    /// After a sleep: the plan asks for the current token; it gets `T`.
    #[track_caller]
    fn woke<T>(p: &mut CallPlan<T>) -> Step<T> {
        match p.next(Outcome::Slept) {
            Step::AccessToken {
                stale: None,
                may_fetch: true,
            } => p.next(token("T")),
            other => panic!("expected AccessToken, got {other:?}"),
        }
    }

    #[track_caller]
    fn slept<T>(step: Step<T>) -> Duration {
        match step {
            Step::Sleep(d) => d,
            other => panic!("expected Sleep, got {other:?}"),
        }
    }

    #[test]
    fn happy_path_builds_the_exact_request() {
        let mut p = plan(true, settings(&["https://h1"], RetryPolicy::new()));
        assert!(matches!(
            p.next(Outcome::Start),
            Step::AccessToken {
                stale: None,
                may_fetch: true
            }
        ));
        let r = sent(p.next(token("T/ok+1")));
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri().to_string(), "https://h1/op?access_token=T%2Fok%2B1");
        assert_eq!(r.body(), br#"{"n":1}"#);
        assert_eq!(
            r.headers()[http::header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert_eq!(r.headers().len(), 1);
        assert_eq!(r.version(), http::Version::HTTP_11);
        assert_eq!(
            done(p.next(ok(r#"{"errcode":0,"n":7}"#))).unwrap(),
            Out { n: 7 }
        );
        assert_eq!(p.sends(), 1);
        // a finished plan stays finished
        assert!(done(p.next(Outcome::Slept)).is_err());
    }

    #[test]
    fn token_expiry_refreshes_once_and_repeats() {
        let mut p = plan(false, settings(&["https://h"], RetryPolicy::disabled()));
        p.next(Outcome::Start);
        sent(p.next(token("OLD")));
        match p.next(ok(r#"{"errcode":42001,"errmsg":"access_token expired"}"#)) {
            Step::AccessToken {
                stale: Some(t),
                may_fetch: true,
            } => assert_eq!(t.expose(), "OLD"),
            other => panic!("{other:?}"),
        }
        let r = sent(p.next(fetched("NEW")));
        assert!(r.uri().query().unwrap().contains("access_token=NEW"));
        assert_eq!(done(p.next(ok(r#"{"n":2}"#))).unwrap(), Out { n: 2 });
        assert_eq!(p.sends(), 2);
    }

    #[test]
    fn a_token_error_after_the_calls_own_fetch_is_returned() {
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("A")));
        assert!(matches!(
            p.next(ok(r#"{"errcode":40001,"errmsg":"invalid credential"}"#)),
            Step::AccessToken {
                stale: Some(_),
                may_fetch: true
            }
        ));
        sent(p.next(fetched("B")));
        // the call fetched once and WeChat calls B invalid: it may only take a token
        // someone else stored
        assert!(matches!(
            p.next(ok(r#"{"errcode":40001,"errmsg":"invalid credential"}"#)),
            Step::AccessToken {
                stale: Some(_),
                may_fetch: false
            }
        ));
        let e = done(p.next(Outcome::Token(Ok(TokenReply::Unchanged)))).unwrap_err();
        assert!(e.is_token_error());
        assert_eq!(e.errcode().map(|c| c.as_i64()), Some(40001));
        assert_eq!(p.sends(), 2);
    }

    /// A token the call fetched that WeChat then calls expired did live: replacing it
    /// is a real expiry, allowed up to the bound of fetches per call.
    #[test]
    fn an_expired_own_token_may_be_replaced_within_the_bound() {
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::new()));
        p.next(Outcome::Start);
        // the first token, fetched because the store had none: not a refresh
        sent(p.next(fetched("F0")));
        for i in 1..=MAX_TOKEN_FETCHES {
            assert!(matches!(
                p.next(ok(r#"{"errcode":42001}"#)),
                Step::AccessToken {
                    stale: Some(_),
                    may_fetch: true
                }
            ));
            sent(p.next(fetched(&format!("F{i}"))));
        }
        assert!(matches!(
            p.next(ok(r#"{"errcode":42001}"#)),
            Step::AccessToken {
                stale: Some(_),
                may_fetch: false
            }
        ));
        // another caller's token is still free
        sent(p.next(token("OTHER")));
        assert_eq!(done(p.next(ok(r#"{"n":9}"#))).unwrap(), Out { n: 9 });
    }

    /// Other callers replacing the token is free: however many times it happens, the
    /// call neither fetches nor spends an attempt, within the safety bound.
    #[test]
    fn tokens_replaced_by_other_callers_cost_nothing() {
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::disabled()));
        p.next(Outcome::Start);
        sent(p.next(token("T0")));
        for i in 1..=MAX_TOKEN_ERRORS {
            match p.next(ok(r#"{"errcode":42001}"#)) {
                Step::AccessToken {
                    stale: Some(_),
                    may_fetch: true,
                } => {}
                other => panic!("{i}: {other:?}"),
            }
            let r = sent(p.next(token(&format!("T{i}"))));
            assert!(
                r.uri()
                    .query()
                    .unwrap()
                    .contains(&format!("access_token=T{i}"))
            );
        }
        let e = done(p.next(ok(r#"{"errcode":42001}"#))).unwrap_err();
        assert!(e.is_token_error());
    }

    /// The bug this guards against: a call that slept through a backoff resent with the
    /// token it held before the sleep, which other callers had replaced meanwhile.
    #[test]
    fn after_a_backoff_sleep_the_current_token_is_asked_for() {
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("OLD")));
        slept(p.next(ok(r#"{"errcode":-1}"#)));
        assert!(matches!(
            p.next(Outcome::Slept),
            Step::AccessToken {
                stale: None,
                may_fetch: true
            }
        ));
        let r = sent(p.next(token("CURRENT")));
        assert!(r.uri().query().unwrap().contains("access_token=CURRENT"));
        // and the token error budget is untouched: a 42001 now is still free
        assert!(matches!(
            p.next(ok(r#"{"errcode":42001}"#)),
            Step::AccessToken {
                may_fetch: true,
                ..
            }
        ));
        sent(p.next(fetched("NEW")));
        assert_eq!(done(p.next(ok(r#"{"n":4}"#))).unwrap(), Out { n: 4 });
        // a call without a token sleeps and resends as before
        let req = card_model::token::GetAccessToken::new("wx", card_model::AppSecret::new("s"));
        let mut p =
            CallPlan::for_endpoint(&req, settings(&["https://h"], RetryPolicy::new())).unwrap();
        sent(p.next(Outcome::Start));
        slept(p.next(ok(r#"{"errcode":-1}"#)));
        sent(p.next(Outcome::Slept));
    }

    #[test]
    fn a_fixed_token_is_not_refreshed() {
        let mut s = settings(&["https://h"], RetryPolicy::new());
        s.can_refresh = false;
        let mut p = plan(true, s);
        p.next(Outcome::Start);
        sent(p.next(token("FIXED")));
        assert!(
            done(p.next(ok(r#"{"errcode":40014}"#)))
                .unwrap_err()
                .is_token_error()
        );
    }

    #[test]
    fn token_fetch_failure_ends_the_call() {
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::new()));
        p.next(Outcome::Start);
        let e = done(p.next(Outcome::Token(Err(
            card_model::WeChatError::new(40013, "invalid appid").into(),
        ))));
        assert_eq!(e.unwrap_err().errcode(), Some(ErrCode::InvalidAppId));
        assert_eq!(p.sends(), 0);
    }

    #[test]
    fn system_busy_twice_then_success_takes_three_attempts() {
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        slept(p.next(ok(r#"{"errcode":-1,"errmsg":"system error"}"#)));
        sent(woke(&mut p));
        slept(p.next(ok(r#"{"errcode":-1,"errmsg":"system error"}"#)));
        sent(woke(&mut p));
        assert_eq!(done(p.next(ok(r#"{"n":3}"#))).unwrap(), Out { n: 3 });
        assert_eq!(p.sends(), 3);
    }

    #[test]
    fn attempts_are_bounded() {
        let mut p = plan(
            true,
            settings(&["https://h"], RetryPolicy::new().max_attempts(2)),
        );
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        slept(p.next(ok(r#"{"errcode":-1}"#)));
        sent(woke(&mut p));
        let e = done(p.next(ok(r#"{"errcode":-1}"#))).unwrap_err();
        assert_eq!(e.errcode(), Some(ErrCode::SystemBusy));
        assert_eq!(p.sends(), 2);
    }

    #[test]
    fn rate_limit_waits_longer_than_system_busy() {
        let policy = RetryPolicy::new().jitter(false);
        let mut a = plan(true, settings(&["https://h"], policy.clone()));
        a.next(Outcome::Start);
        sent(a.next(token("T")));
        let busy = slept(a.next(ok(r#"{"errcode":-1}"#)));
        let mut b = plan(true, settings(&["https://h"], policy));
        b.next(Outcome::Start);
        sent(b.next(token("T")));
        let limited = slept(b.next(ok(r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#)));
        assert!(limited > busy);
    }

    fn status(code: u16, retry_after: Option<&str>) -> Outcome {
        let mut r = HttpResponse::new(b"busy".to_vec());
        *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
        if let Some(v) = retry_after {
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, v.parse().unwrap());
        }
        Outcome::Response(Ok(r))
    }

    #[test]
    fn retry_after_is_honoured_within_the_longest_delay() {
        let policy = RetryPolicy::new()
            .base_delay(Duration::from_millis(10))
            .max_delay(Duration::from_secs(3));
        for code in [429, 503] {
            let mut p = plan(true, settings(&["https://h"], policy.clone()));
            p.next(Outcome::Start);
            sent(p.next(token("T")));
            assert_eq!(
                slept(p.next(status(code, Some("2")))),
                Duration::from_secs(2)
            );
            sent(woke(&mut p));
            // past the longest delay: give up with the error, nothing more sent
            let e = done(p.next(status(code, Some("4")))).unwrap_err();
            assert!(matches!(e, Error::Status { status, .. } if status == code));
            assert_eq!(p.sends(), 2);
        }
        // other statuses, a date, or garbage: the policy's own backoff
        for (code, value) in [
            (502, "2"),
            (429, "Wed, 21 Oct 2026 07:28:00 GMT"),
            (503, "x"),
        ] {
            let mut p = plan(true, settings(&["https://h"], policy.clone().jitter(false)));
            p.next(Outcome::Start);
            sent(p.next(token("T")));
            assert_eq!(
                slept(p.next(status(code, Some(value)))),
                Duration::from_millis(10)
            );
        }
        // a non-repeatable call is not retried whatever the header says
        let mut p = plan(false, settings(&["https://h"], policy));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        assert!(done(p.next(status(503, Some("1")))).is_err());
    }

    #[test]
    fn retries_off_sends_once() {
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::disabled()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        assert!(done(p.next(ok(r#"{"errcode":-1}"#))).is_err());
        let mut p = plan(
            true,
            settings(&["https://h1", "https://h2"], RetryPolicy::disabled()),
        );
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        assert!(
            done(p.next(fail(TransportErrorKind::Timeout)))
                .unwrap_err()
                .is_timeout()
        );
        assert_eq!(p.sends(), 1);
    }

    #[test]
    fn connect_failure_fails_over_at_once_even_without_retries() {
        let mut p = plan(
            false,
            settings(
                &["https://h1", "https://h2", "https://h3"],
                RetryPolicy::disabled(),
            ),
        );
        p.next(Outcome::Start);
        let r = sent(p.next(token("T")));
        assert_eq!(r.uri().host(), Some("h1"));
        let r = sent(p.next(fail(TransportErrorKind::Connect)));
        assert_eq!(r.uri().host(), Some("h2"));
        let r = sent(p.next(fail(TransportErrorKind::Tls)));
        assert_eq!(r.uri().host(), Some("h3"));
        let e = done(p.next(fail(TransportErrorKind::Connect))).unwrap_err();
        assert!(!e.maybe_sent());
    }

    #[test]
    fn all_hosts_down_is_a_retry_round() {
        let mut p = plan(
            true,
            settings(
                &["https://h1", "https://h2"],
                RetryPolicy::new().max_attempts(2),
            ),
        );
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        sent(p.next(fail(TransportErrorKind::Connect)));
        slept(p.next(fail(TransportErrorKind::Connect)));
        let r = sent(woke(&mut p));
        assert_eq!(r.uri().host(), Some("h1"));
        let r = sent(p.next(fail(TransportErrorKind::Connect)));
        assert_eq!(r.uri().host(), Some("h2"));
        assert_eq!(done(p.next(ok(r#"{"n":1}"#))).unwrap(), Out { n: 1 });
    }

    #[test]
    fn timeout_moves_on_only_when_repeatable() {
        let hosts = ["https://h1", "https://h2"];
        let mut p = plan(true, settings(&hosts, RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        slept(p.next(fail(TransportErrorKind::Timeout)));
        assert_eq!(sent(woke(&mut p)).uri().host(), Some("h2"));

        let mut p = plan(false, settings(&hosts, RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        let e = done(p.next(fail(TransportErrorKind::Timeout))).unwrap_err();
        assert!(e.is_timeout() && e.maybe_sent());
        assert_eq!(p.sends(), 1);
    }

    #[test]
    fn an_unsafe_send_is_never_repeated_where_wechat_may_have_acted() {
        let outcomes: [fn() -> Outcome; 5] = [
            || fail(TransportErrorKind::Timeout),
            || fail(TransportErrorKind::Io),
            || fail(TransportErrorKind::Other),
            || ok(r#"{"errcode":-1,"errmsg":"system error"}"#),
            || {
                let mut r = HttpResponse::new(b"bad gateway".to_vec());
                *r.status_mut() = http::StatusCode::BAD_GATEWAY;
                Outcome::Response(Ok(r))
            },
        ];
        for outcome in outcomes {
            let mut p = plan(
                false,
                settings(&["https://h1", "https://h2"], RetryPolicy::new()),
            );
            p.next(Outcome::Start);
            sent(p.next(token("T")));
            assert!(done(p.next(outcome())).is_err());
            assert_eq!(p.sends(), 1);
        }
        // but WeChat's refusal (45009) is retried: nothing was acted on
        let mut p = plan(false, settings(&["https://h"], RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        slept(p.next(ok(r#"{"errcode":45009}"#)));
    }

    #[test]
    fn status_and_decode_errors_keep_a_bounded_body() {
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::disabled()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        let mut r = HttpResponse::new(vec![b'x'; 10_000]);
        *r.status_mut() = http::StatusCode::NOT_FOUND;
        match done(p.next(Outcome::Response(Ok(r)))).unwrap_err() {
            Error::Status { status, body } => {
                assert_eq!(status, 404);
                assert_eq!(body.text().len(), crate::error::MAX_KEPT_BODY);
                assert_eq!(body.total_len(), 10_000);
            }
            other => panic!("{other:?}"),
        }
        let mut p = plan(true, settings(&["https://h"], RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        match done(p.next(ok("<html>"))).unwrap_err() {
            Error::Decode { body, .. } => assert_eq!(body.text(), "<html>"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn get_queries_are_encoded_and_unauthenticated_calls_need_no_token() {
        let req =
            card_model::token::GetAccessToken::new("wx app", card_model::AppSecret::new("s&=1"));
        let mut p = CallPlan::for_endpoint(
            &req,
            settings(&["http://127.0.0.1:9/base"], RetryPolicy::new()),
        )
        .unwrap();
        let r = sent(p.next(Outcome::Start));
        assert_eq!(r.method(), http::Method::GET);
        assert_eq!(
            r.uri().to_string(),
            "http://127.0.0.1:9/base/cgi-bin/token?grant_type=client_credential&appid=wx%20app&secret=s%26%3D1"
        );
        assert!(r.body().is_empty());
        assert!(r.headers().is_empty(), "a GET carries no content type");
        assert_eq!(r.version(), http::Version::HTTP_11);
        assert!(!format!("{:?}", Step::<()>::Send(r)).contains("s%26"));
        // a token error on the token endpoint itself is returned as is
        let e = done(p.next(ok(r#"{"errcode":40001,"errmsg":"invalid credential"}"#))).unwrap_err();
        assert!(e.is_token_error());
    }

    #[test]
    fn outcomes_and_steps_show_no_secret() {
        let shown = format!(
            "{:?} {:?} {:?}",
            ok(r#"{"access_token":"TOKEN-abc","expires_in":7200}"#),
            token("TOKEN-abc"),
            Step::<()>::AccessToken {
                stale: Some(AccessToken::new("TOKEN-abc")),
                may_fetch: true,
            },
        );
        assert!(!shown.contains("TOKEN-abc"), "{shown}");
        assert!(shown.contains("200 OK"), "{shown}");
    }

    /// Random outcomes, many times: every plan ends within a bounded number of steps,
    /// refreshes the token at most once, and a non-repeatable request is never sent
    /// again after an outcome where WeChat may have acted.
    #[test]
    fn random_outcomes_always_terminate_and_respect_repeatability() {
        let answers: [fn() -> Outcome; 9] = [
            || ok(r#"{"n":1}"#),
            || ok(r#"{"errcode":-1}"#),
            || ok(r#"{"errcode":45009}"#),
            || ok(r#"{"errcode":42001}"#),
            || ok(r#"{"errcode":40001}"#),
            || fail(TransportErrorKind::Connect),
            || fail(TransportErrorKind::Timeout),
            || fail(TransportErrorKind::Io),
            || {
                let mut r = HttpResponse::new(b"bad gateway".to_vec());
                *r.status_mut() = http::StatusCode::BAD_GATEWAY;
                Outcome::Response(Ok(r))
            },
        ];
        let mut rng = Jitter::new(2024);
        for run in 0..5_000u32 {
            let repeatable = run % 2 == 0;
            let attempts = 1 + (run % 4);
            let hosts = ["https://h1", "https://h2", "https://h3"];
            let n_hosts = 1 + (run as usize / 2) % 3;
            let mut p = plan(
                repeatable,
                settings(&hosts[..n_hosts], RetryPolicy::new().max_attempts(attempts)),
            );
            let mut outcome = Outcome::Start;
            let (mut steps, mut refreshes) = (0, 0);
            let mut acted = false; // WeChat may have acted on a request already
            loop {
                steps += 1;
                assert!(steps < 100, "run {run} does not end");
                match p.next(outcome) {
                    Step::Done(_) => break,
                    Step::Sleep(_) => outcome = Outcome::Slept,
                    Step::AccessToken { stale, may_fetch } => {
                        // the store still holds the stale token half of the time
                        let held = stale.is_some() && rng.next_u64() % 2 == 0;
                        outcome = if held && may_fetch {
                            refreshes += 1;
                            fetched("F")
                        } else if held {
                            Outcome::Token(Ok(TokenReply::Unchanged))
                        } else {
                            token("T")
                        };
                    }
                    Step::Send(_) => {
                        assert!(repeatable || !acted, "run {run}: unsafe repeat");
                        let i = usize::try_from(rng.next_u64() % 9).unwrap();
                        // -1, timeout, io and 502 leave WeChat maybe having acted
                        acted |= matches!(i, 1 | 6 | 7 | 8);
                        outcome = answers[i]();
                    }
                }
            }
            assert!(
                refreshes <= MAX_TOKEN_FETCHES,
                "run {run}: {refreshes} refreshes"
            );
            assert!(
                p.sends() <= attempts * u32::try_from(n_hosts).unwrap() + MAX_TOKEN_ERRORS,
                "run {run}"
            );
        }
    }

    fn from(hosts: &[&str], start_host: usize, policy: RetryPolicy) -> PlanSettings {
        PlanSettings {
            start_host,
            ..settings(hosts, policy)
        }
    }

    #[test]
    fn start_at_moves_the_first_host_only_before_anything_was_sent() {
        let hosts = ["https://h1", "https://h2", "https://h3"];
        let mut p = plan(false, from(&hosts, 0, RetryPolicy::disabled()));
        p.next(Outcome::Start);
        p.start_at(5); // 5 mod 3
        let r = sent(p.next(token("T")));
        assert_eq!(r.uri().host(), Some("h3"));
        // once a request went out, the host is the plan's own business
        p.start_at(0);
        let r = sent(p.next(fail(TransportErrorKind::Connect)));
        assert_eq!(r.uri().host(), Some("h1"));
        assert_eq!(done(p.next(ok(r#"{"n":1}"#))).unwrap(), Out { n: 1 });
        assert_eq!(p.answered_host(), Some(0));
    }

    #[test]
    fn a_plan_starts_at_its_start_host_and_wraps_around() {
        let hosts = ["https://h1", "https://h2", "https://h3"];
        let mut p = plan(false, from(&hosts, 1, RetryPolicy::disabled()));
        p.next(Outcome::Start);
        assert_eq!(sent(p.next(token("T"))).uri().host(), Some("h2"));
        let r = sent(p.next(fail(TransportErrorKind::Connect)));
        assert_eq!(r.uri().host(), Some("h3"));
        // after the last host comes the first
        let r = sent(p.next(fail(TransportErrorKind::Connect)));
        assert_eq!(r.uri().host(), Some("h1"));
        assert_eq!(p.answered_host(), None);
        assert_eq!(done(p.next(ok(r#"{"n":5}"#))).unwrap(), Out { n: 5 });
        assert_eq!(p.answered_host(), Some(0));
        assert_eq!(p.sends(), 3);
    }

    #[test]
    fn any_start_index_is_taken_modulo_the_host_count() {
        let hosts = ["https://h1", "https://h2", "https://h3"];
        for (start, first) in [
            (3, "h1"),
            (4, "h2"),
            (8, "h3"),
            (usize::MAX, "h1"), // 2^64 - 1 is a multiple of 3
            (usize::MAX - 1, "h3"),
        ] {
            let mut p = plan(true, from(&hosts, start, RetryPolicy::new()));
            p.next(Outcome::Start);
            let r = sent(p.next(token("T")));
            assert_eq!(r.uri().host(), Some(first), "start {start}");
        }
        let mut p = plan(
            true,
            from(&["https://only"], usize::MAX, RetryPolicy::new()),
        );
        p.next(Outcome::Start);
        assert_eq!(sent(p.next(token("T"))).uri().host(), Some("only"));
        // no host at all: an error, never a panic
        for start in [0, 5] {
            let mut p = plan(true, from(&[], start, RetryPolicy::new()));
            p.next(Outcome::Start);
            let e = done(p.next(token("T"))).unwrap_err();
            assert!(matches!(e, Error::Config(_)) && !e.maybe_sent(), "{e:?}");
        }
    }

    #[test]
    fn a_round_that_starts_at_host_k_covers_every_host_once() {
        let hosts = ["https://h1", "https://h2", "https://h3"];
        let mut p = plan(true, from(&hosts, 2, RetryPolicy::new().max_attempts(2)));
        p.next(Outcome::Start);
        assert_eq!(sent(p.next(token("T"))).uri().host(), Some("h3"));
        assert_eq!(
            sent(p.next(fail(TransportErrorKind::Connect))).uri().host(),
            Some("h1")
        );
        assert_eq!(
            sent(p.next(fail(TransportErrorKind::Tls))).uri().host(),
            Some("h2")
        );
        // every host failed in the round: a retry round, from the start host again
        slept(p.next(fail(TransportErrorKind::Connect)));
        assert_eq!(sent(woke(&mut p)).uri().host(), Some("h3"));
        sent(p.next(fail(TransportErrorKind::Connect)));
        sent(p.next(fail(TransportErrorKind::Connect)));
        let e = done(p.next(fail(TransportErrorKind::Connect))).unwrap_err();
        assert!(!e.maybe_sent());
        assert_eq!(p.answered_host(), None);
        assert_eq!(p.sends(), 6);
    }

    #[test]
    fn the_answered_host_is_the_one_that_gave_the_last_http_answer() {
        let hosts = ["https://h1", "https://h2"];
        // a WeChat error is an answer: the host is reachable
        let mut p = plan(false, from(&hosts, 0, RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        sent(p.next(fail(TransportErrorKind::Connect)));
        let e = done(p.next(ok(r#"{"errcode":40013,"errmsg":"invalid appid"}"#))).unwrap_err();
        assert_eq!(e.errcode(), Some(ErrCode::InvalidAppId));
        assert_eq!(p.answered_host(), Some(1));
        // so is a 5xx; a timeout on the next host is not, the answer before it counts
        let mut p = plan(true, from(&hosts, 1, RetryPolicy::new().max_attempts(2)));
        p.next(Outcome::Start);
        assert_eq!(sent(p.next(token("T"))).uri().host(), Some("h2"));
        let mut r = HttpResponse::new(b"bad gateway".to_vec());
        *r.status_mut() = http::StatusCode::BAD_GATEWAY;
        slept(p.next(Outcome::Response(Ok(r))));
        assert_eq!(p.answered_host(), Some(1));
        assert_eq!(sent(woke(&mut p)).uri().host(), Some("h1"));
        assert!(
            done(p.next(fail(TransportErrorKind::Timeout)))
                .unwrap_err()
                .is_timeout()
        );
        assert_eq!(p.answered_host(), Some(1));
        // a repeatable call that times out on its start host moves on, and the host
        // that answers is the one to start at next time
        let mut p = plan(true, from(&hosts, 0, RetryPolicy::new()));
        p.next(Outcome::Start);
        sent(p.next(token("T")));
        slept(p.next(fail(TransportErrorKind::Timeout)));
        assert_eq!(sent(woke(&mut p)).uri().host(), Some("h2"));
        done(p.next(ok(r#"{"n":1}"#))).unwrap();
        assert_eq!(p.answered_host(), Some(1));
    }

    /// The sticky-failover loop the clients run, without a network: each call starts
    /// where the last one was answered; a dead primary costs one failed connect in all.
    #[test]
    fn feeding_the_answered_host_back_skips_a_dead_primary() {
        let hosts = ["https://dead", "https://backup"];
        let mut start = 0;
        let mut dead_attempts = 0;
        for _ in 0..5 {
            let mut p = plan(true, from(&hosts, start, RetryPolicy::disabled()));
            p.next(Outcome::Start);
            let mut step = p.next(token("T"));
            loop {
                step = match step {
                    Step::Send(r) if r.uri().host() == Some("dead") => {
                        dead_attempts += 1;
                        p.next(fail(TransportErrorKind::Connect))
                    }
                    Step::Send(_) => p.next(ok(r#"{"n":1}"#)),
                    Step::Done(r) => {
                        r.unwrap();
                        break;
                    }
                    other => panic!("{other:?}"),
                };
            }
            start = p.answered_host().unwrap();
        }
        assert_eq!(dead_attempts, 1);
        assert_eq!(start, 1);
    }

    #[test]
    fn validation_fails_before_anything() {
        let req = card_model::token::GetAccessToken::new("", card_model::AppSecret::new("s"));
        let e =
            CallPlan::for_endpoint(&req, settings(&["https://h"], RetryPolicy::new())).unwrap_err();
        assert!(matches!(e, Error::Validation(_)) && !e.maybe_sent());
    }
}
