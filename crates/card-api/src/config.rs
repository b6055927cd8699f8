//! Client configuration: the builder shared by both clients, and the settled config.

use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::store::{Clock, StoreHandle, SystemClock, TokenStore};
use card_model::{AccessToken, AppSecret};
use card_transport::TransportConfig;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The API host WeChat routes to the nearest access point.
pub const DEFAULT_BASE_URL: &str = "https://api.weixin.qq.com";

/// WeChat's documented backup hosts, in a sensible failover order: the general
/// disaster-recovery host, then the Shanghai, Shenzhen and Hong Kong access points.
/// Pass them to [`ClientBuilder::failover`].
pub const BACKUP_BASE_URLS: [&str; 4] = [
    "https://api2.weixin.qq.com",
    "https://sh.api.weixin.qq.com",
    "https://sz.api.weixin.qq.com",
    "https://hk.api.weixin.qq.com",
];

/// Which endpoint fetches access tokens from app credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenEndpoint {
    /// `GET /cgi-bin/token`: each fetch replaces the previous token.
    #[default]
    Token,
    /// `POST /cgi-bin/stable_token`: returns the token in force while it lives.
    StableToken,
}

/// Where access tokens come from.
#[derive(Clone)]
#[non_exhaustive]
pub enum TokenSource {
    /// A token the application manages elsewhere. It is used as given and never
    /// refreshed: a token error is returned to the caller.
    Fixed(AccessToken),
    /// App credentials: the client fetches, caches and refreshes tokens itself.
    Credentials {
        /// The AppID.
        appid: String,
        /// The AppSecret.
        secret: AppSecret,
        /// Which endpoint to fetch from.
        endpoint: TokenEndpoint,
    },
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(_) => f.write_str("Fixed([redacted])"),
            Self::Credentials {
                appid, endpoint, ..
            } => f
                .debug_struct("Credentials")
                .field("appid", appid)
                .field("secret", &"[redacted]")
                .field("endpoint", endpoint)
                .finish(),
        }
    }
}

/// The settled configuration of a client (see [`ClientBuilder`]).
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) hosts: Arc<[String]>,
    pub(crate) token_source: TokenSource,
    pub(crate) retry: RetryPolicy,
    pub(crate) refresh_margin: Duration,
    pub(crate) transport: TransportConfig,
    pub(crate) lease_ttl: Duration,
    pub(crate) lease_poll: Duration,
    pub(crate) namespace: String,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("hosts", &RedactedUrls(&self.hosts))
            .field("token_source", &self.token_source)
            .field("retry", &self.retry)
            .field("refresh_margin", &self.refresh_margin)
            .field("transport", &self.transport)
            .field("lease_ttl", &self.lease_ttl)
            .field("lease_poll", &self.lease_poll)
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// `url` with the password of its user information (`https://user:pass@host`) replaced
/// by `[redacted]`, for Debug output and error texts.
pub(crate) fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.into();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.into();
    };
    let user = rest[..at].split(':').next().unwrap_or_default();
    format!("{}{user}:[redacted]{}", &url[..scheme_end], &rest[at..]).into()
}

/// A list of URLs whose Debug output hides their passwords.
struct RedactedUrls<'a>(&'a [String]);

impl fmt::Debug for RedactedUrls<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|u| redact_url(u)))
            .finish()
    }
}

impl ClientConfig {
    /// The base URLs in failover order, the primary first.
    pub fn base_urls(&self) -> &[String] {
        &self.hosts
    }

    /// The token source.
    pub fn token_source(&self) -> &TokenSource {
        &self.token_source
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// How long before WeChat's `expires_in` ends a cached token or ticket is replaced.
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// The settings for the default transports.
    pub fn transport_config(&self) -> &TransportConfig {
        &self.transport
    }

    /// The prefix of this client's keys in the token store (`wxcard:<kind>:<namespace>`).
    pub fn store_namespace(&self) -> &str {
        &self.namespace
    }
}

/// Builds a [`Client`](crate::Client) or an [`AsyncClient`](crate::AsyncClient).
///
/// Only the token source is required: [`access_token`](Self::access_token) or
/// [`app_credentials`](Self::app_credentials).
///
/// ```
/// use card_api::{ClientBuilder, RetryPolicy, BACKUP_BASE_URLS};
/// use card_model::AppSecret;
/// use std::time::Duration;
///
/// let builder = ClientBuilder::new()
///     .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
///     .stable_token(true)
///     .failover(BACKUP_BASE_URLS)
///     .retry(RetryPolicy::new().max_attempts(4))
///     .refresh_margin(Duration::from_secs(300));
/// assert!(!format!("{builder:?}").contains("app-secret"));
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    base_url: String,
    failover: Vec<String>,
    token_source: Option<TokenSource>,
    retry: RetryPolicy,
    refresh_margin: Duration,
    transport: TransportConfig,
    store: Option<StoreHandle>,
    clock: Option<Arc<dyn Clock>>,
    seed: Option<u64>,
    lease_ttl: Option<Duration>,
    lease_poll: Duration,
    namespace: Option<String>,
    holder: Option<String>,
    #[cfg(feature = "blocking")]
    blocking_transport: Option<Arc<dyn card_transport::BlockingTransport>>,
    #[cfg(feature = "async")]
    async_transport: Option<Arc<dyn card_transport::AsyncTransport>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &redact_url(&self.base_url))
            .field("failover", &RedactedUrls(&self.failover))
            .field("token_source", &self.token_source)
            .field("retry", &self.retry)
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    /// A builder with the defaults: [`DEFAULT_BASE_URL`], no failover, the default
    /// [`RetryPolicy`], a 5-minute refresh margin, a fresh
    /// [`MemoryTokenStore`](crate::MemoryTokenStore), the system clock.
    pub fn new() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            failover: Vec::new(),
            token_source: None,
            retry: RetryPolicy::new(),
            refresh_margin: Duration::from_secs(300),
            transport: default_transport(),
            store: None,
            clock: None,
            seed: None,
            lease_ttl: None,
            lease_poll: Duration::from_millis(50),
            namespace: None,
            holder: None,
            #[cfg(feature = "blocking")]
            blocking_transport: None,
            #[cfg(feature = "async")]
            async_transport: None,
        }
    }

    /// The primary base URL (`http` or `https`, optionally with a path prefix: a proxy,
    /// a local server).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Hosts to try, in order, after the primary (for example [`BACKUP_BASE_URLS`]).
    ///
    /// Failover is sticky: the client remembers the host that gave the last HTTP
    /// answer (any status or errcode: the host is reachable) and starts its next call
    /// there, going round the list from that host (after the last host comes the
    /// primary). So while the primary is down, only the call that finds it down pays a
    /// failed connect (or a timeout); later calls go straight to the backup that
    /// answered. The preference moves on only when another host actually answers, and
    /// there is no timed return to the primary: it is tried again when the host in use
    /// fails. Clones of a client share the preference; concurrent calls are fine (the
    /// one that ends last sets it). A call that first needs a token reads it again
    /// when the token arrives, so a client's very first call, whose token fetch found
    /// the primary down, sends the call itself straight to the backup.
    #[must_use]
    pub fn failover<I>(mut self, urls: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.failover.extend(urls.into_iter().map(Into::into));
        self
    }

    /// Uses a token the application manages itself; it is never refreshed.
    #[must_use]
    pub fn access_token(mut self, token: AccessToken) -> Self {
        self.token_source = Some(TokenSource::Fixed(token));
        self
    }

    /// Fetches tokens with app credentials from `/cgi-bin/token` (see
    /// [`stable_token`](Self::stable_token)).
    #[must_use]
    pub fn app_credentials(mut self, appid: impl Into<String>, secret: AppSecret) -> Self {
        self.token_source = Some(TokenSource::Credentials {
            appid: appid.into(),
            secret,
            endpoint: TokenEndpoint::Token,
        });
        self
    }

    /// With app credentials: fetch from `/cgi-bin/stable_token` (`true`) or
    /// `/cgi-bin/token` (`false`, the default).
    #[must_use]
    pub fn stable_token(mut self, stable: bool) -> Self {
        if let Some(TokenSource::Credentials { endpoint, .. }) = &mut self.token_source {
            *endpoint = if stable {
                TokenEndpoint::StableToken
            } else {
                TokenEndpoint::Token
            };
        }
        self
    }

    /// Any token source.
    #[must_use]
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.token_source = Some(source);
        self
    }

    /// The retry policy ([`RetryPolicy::disabled`] turns retrying off).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Replace a cached token or ticket this long before WeChat's `expires_in` ends
    /// (at most half its lifetime is taken). Default 5 minutes.
    #[must_use]
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Settings (timeouts, body limit) for the default transports. The client's
    /// default is a 2 s connect timeout and a 5 s timeout per exchange (WeChat answers
    /// in well under a second): with the default [`RetryPolicy`] a call that cannot
    /// succeed gives up within [`RetryPolicy::worst_case`] (29 s with one host; about
    /// 15.6 s against a silent server), twice that when the token must be fetched
    /// first.
    #[must_use]
    pub fn transport_config(mut self, config: TransportConfig) -> Self {
        self.transport = config;
        self
    }

    /// Where cached tokens and tickets live; share one store between clients (or, with
    /// an external store, between servers) to share one token. Works with both clients.
    /// Replaces an earlier [`async_token_store`](Self::async_token_store).
    #[must_use]
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(StoreHandle::Sync(store));
        self
    }

    /// Like [`token_store`](Self::token_store), with a store whose operations are
    /// awaited ([`AsyncTokenStore`](crate::AsyncTokenStore)): for the
    /// [`AsyncClient`](crate::AsyncClient) only. Building the blocking `Client` with
    /// it is an [`Error::Config`]. Replaces an earlier `token_store`.
    #[cfg(feature = "async")]
    #[must_use]
    pub fn async_token_store(mut self, store: Arc<dyn crate::AsyncTokenStore>) -> Self {
        self.store = Some(StoreHandle::Async(store));
        self
    }

    /// The clock that decides expiry (a [`ManualClock`](crate::ManualClock) in tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Seeds the retry jitter (and `card_ext` nonces), for reproducible tests.
    #[must_use]
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How long a refresh lease lasts, and how often a caller waiting for another
    /// server's refresh looks at the store again. Defaults: the longest a token fetch
    /// can take ([`RetryPolicy::worst_case`] with this client's timeouts and hosts,
    /// plus 1 s), so that no other server starts a fetch while one is still running,
    /// and 50 ms. A shorter lease makes waiting servers give up sooner, at the risk of
    /// a second fetch when a fetch is slow. The lease is given back as soon as the
    /// fetch ends, however it ends (an error, a panic, a dropped future).
    #[must_use]
    pub fn refresh_lease(mut self, ttl: Duration, poll: Duration) -> Self {
        self.lease_ttl = Some(ttl);
        self.lease_poll = poll;
        self
    }

    /// The namespace of this client's store keys. Defaults to the AppID (`fixed` for a
    /// fixed token).
    #[must_use]
    pub fn store_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// This client's name as a lease holder in the token store (default: random).
    #[must_use]
    pub fn holder_id(mut self, holder: impl Into<String>) -> Self {
        self.holder = Some(holder.into());
        self
    }

    /// The transport of the blocking client (default: `UreqTransport`).
    #[cfg(feature = "blocking")]
    #[must_use]
    pub fn transport(mut self, transport: Arc<dyn card_transport::BlockingTransport>) -> Self {
        self.blocking_transport = Some(transport);
        self
    }

    /// The transport of the async client (default: `ReqwestTransport`).
    #[cfg(feature = "async")]
    #[must_use]
    pub fn async_transport(mut self, transport: Arc<dyn card_transport::AsyncTransport>) -> Self {
        self.async_transport = Some(transport);
        self
    }

    /// Builds a blocking [`Client`](crate::Client).
    ///
    /// # Errors
    /// [`Error::Config`] without a token source, with an unusable base URL, or with an
    /// async token store (the blocking client cannot await it).
    #[cfg(feature = "blocking")]
    pub fn build(self) -> Result<crate::Client, Error> {
        let transport = match &self.blocking_transport {
            Some(t) => Arc::clone(t),
            None => Arc::new(card_transport::UreqTransport::new(self.transport.clone())),
        };
        let core = self.core()?;
        let store = match core.store() {
            StoreHandle::Sync(store) => Arc::clone(store),
            #[cfg(feature = "async")]
            StoreHandle::Async(_) => {
                return Err(Error::Config(
                    "the blocking client needs a TokenStore, not an AsyncTokenStore".into(),
                ));
            }
        };
        Ok(crate::Client::from_parts(core, store, transport))
    }

    /// Builds an [`AsyncClient`](crate::AsyncClient).
    ///
    /// # Errors
    /// [`Error::Config`] without a token source or with an unusable base URL;
    /// [`Error::Transport`] if the default transport's TLS backend cannot start.
    #[cfg(feature = "async")]
    pub fn build_async(self) -> Result<crate::AsyncClient, Error> {
        let transport = match &self.async_transport {
            Some(t) => Arc::clone(t),
            None => Arc::new(
                card_transport::ReqwestTransport::try_new(self.transport.clone())
                    .map_err(Error::transport)?,
            ),
        };
        Ok(crate::AsyncClient::from_parts(self.core()?, transport))
    }

    #[cfg_attr(not(any(feature = "blocking", feature = "async")), allow(dead_code))]
    pub(crate) fn core(self) -> Result<crate::core::Core, Error> {
        let token_source = self.token_source.ok_or_else(|| {
            Error::Config("no token source: call access_token() or app_credentials()".into())
        })?;
        let hosts = std::iter::once(self.base_url)
            .chain(self.failover)
            .map(|u| normalize_base_url(&u))
            .collect::<Result<Vec<_>, _>>()?;
        let namespace = self.namespace.unwrap_or_else(|| match &token_source {
            TokenSource::Fixed(_) => "fixed".to_owned(),
            TokenSource::Credentials { appid, .. } => appid.clone(),
        });
        let lease_ttl = self.lease_ttl.unwrap_or_else(|| {
            self.retry
                .worst_case(&self.transport, hosts.len())
                .saturating_add(Duration::from_secs(1))
        });
        let config = ClientConfig {
            hosts: hosts.into(),
            token_source,
            retry: self.retry,
            refresh_margin: self.refresh_margin,
            transport: self.transport,
            lease_ttl,
            lease_poll: self.lease_poll.max(Duration::from_millis(1)),
            namespace,
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let store = self.store.unwrap_or_else(|| {
            StoreHandle::Sync(Arc::new(crate::store::MemoryTokenStore::with_clock(
                Arc::clone(&clock),
            )))
        });
        Ok(crate::core::Core::new(
            config,
            store,
            clock,
            self.seed,
            self.holder,
        ))
    }
}

/// The client's default transport settings: timeouts a request handler can wait for
/// (see [`ClientBuilder::transport_config`]).
fn default_transport() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        ..TransportConfig::default()
    }
}

/// Checks a base URL (http/https, a host, no query) and drops a trailing `/`.
fn normalize_base_url(url: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Config(format!("base URL {:?}: {why}", redact_url(url)));
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    if uri.authority().is_none() {
        return Err(bad("no host"));
    }
    if uri.query().is_some() {
        return Err(bad("a base URL takes no query"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_base_url_is_never_printed() {
        assert_eq!(
            redact_url("https://user:pa55@proxy.example:8443/wx?x=1"),
            "https://user:[redacted]@proxy.example:8443/wx?x=1"
        );
        assert_eq!(redact_url("http://pa55@h/"), "http://pa55:[redacted]@h/");
        for plain in ["https://api.weixin.qq.com", "no scheme@all", "http://h/p@q"] {
            assert_eq!(redact_url(plain), plain);
        }
        let builder = ClientBuilder::new()
            .base_url("https://user:pa55word@127.0.0.1:9/")
            .failover(["http://other:pa55word@127.0.0.1:10"])
            .access_token(card_model::AccessToken::new("TOKEN-fixed"));
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("pa55word") && shown.contains("user:[redacted]@"),
            "{shown}"
        );
        let core = builder.clone().core().unwrap();
        let shown = format!("{:?} {core:#?}", core.config);
        assert!(
            !shown.contains("pa55word") && shown.contains("user:[redacted]@"),
            "{shown}"
        );
        assert!(!shown.contains("TOKEN-fixed"), "{shown}");
        let error = ClientBuilder::new()
            .base_url("ftp://user:pa55word@127.0.0.1/")
            .access_token(card_model::AccessToken::new("t"))
            .core()
            .unwrap_err();
        let shown = format!("{error:?} {error}");
        assert!(!shown.contains("pa55word"), "{shown}");
    }

    #[test]
    fn base_urls_are_checked_and_normalized() {
        assert_eq!(
            normalize_base_url("https://api.weixin.qq.com/").unwrap(),
            "https://api.weixin.qq.com"
        );
        assert_eq!(
            normalize_base_url("http://127.0.0.1:8080/wx").unwrap(),
            "http://127.0.0.1:8080/wx"
        );
        for bad in ["api.weixin.qq.com", "ftp://x", "https://x/?a=1", ""] {
            assert!(
                matches!(normalize_base_url(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let b = ClientBuilder::new().app_credentials("wxAPP", AppSecret::new("SECRET-xyz"));
        let shown = format!("{b:?}");
        assert!(
            shown.contains("wxAPP") && !shown.contains("SECRET-xyz"),
            "{shown}"
        );
        let b = ClientBuilder::new().access_token(AccessToken::new("TOKEN-abc"));
        assert!(!format!("{b:#?}").contains("TOKEN-abc"));
    }

    #[test]
    fn the_default_lease_outlives_the_longest_fetch() {
        let builder = ClientBuilder::new()
            .app_credentials("wx", AppSecret::new("s"))
            .failover(["https://b1", "https://b2"]);
        let config = builder.clone().core().unwrap().config.clone();
        let fetch = config.retry.worst_case(&config.transport, 3);
        assert!(
            config.lease_ttl > fetch,
            "{:?} vs {fetch:?}",
            config.lease_ttl
        );
        assert_eq!(config.transport.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.transport.timeout, Duration::from_secs(5));
        // a slower policy moves the lease with it; an explicit lease is kept
        let slow = builder
            .clone()
            .retry(RetryPolicy::new().max_attempts(6))
            .core()
            .unwrap();
        assert!(slow.config.lease_ttl > config.lease_ttl);
        let set = builder
            .refresh_lease(Duration::from_secs(3), Duration::from_millis(10))
            .core()
            .unwrap();
        assert_eq!(set.config.lease_ttl, Duration::from_secs(3));
    }

    #[test]
    fn stable_token_switches_the_endpoint() {
        let b = ClientBuilder::new()
            .app_credentials("wx", AppSecret::new("s"))
            .stable_token(true);
        assert!(matches!(
            b.token_source,
            Some(TokenSource::Credentials {
                endpoint: TokenEndpoint::StableToken,
                ..
            })
        ));
    }
}
