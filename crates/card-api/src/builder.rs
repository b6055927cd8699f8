//! The builders of both clients: one [`ClientBuilder<C>`] typed by the client it
//! builds. The settings both clients share are written once, in `impl<C>
//! ClientBuilder<C>`; the transport, the token store and `build` exist once per client,
//! so an async transport cannot go into the blocking builder (nor the reverse) and
//! `build` always returns the client that `Client::builder()` or
//! `AsyncClient::builder()` started.

use crate::config::{ClientConfig, DEFAULT_BASE_URL, TokenEndpoint, TokenSource};
use crate::core::Core;
use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::store::{Clock, StoreHandle, SystemClock, TokenStore};
use card_model::{AccessToken, AppSecret};
use card_transport::TransportConfig;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// Builds a client: `Client::builder()` gives a
/// `ClientBuilder<Client>`, `AsyncClient::builder()` a
/// `ClientBuilder<AsyncClient>` (`AsyncClientBuilder`, feature `async`).
///
/// Only the token source is required: [`access_token`](Self::access_token) or
/// [`app_credentials`](Self::app_credentials). The settings below are the same for
/// both clients, so a function that configures a `ClientBuilder<C>` works for either.
/// Each client's own builder adds `transport` (taken by value; an `Arc<T>` works too),
/// `token_store` and `build`, which returns that client: an async transport does not
/// fit the blocking builder, and `build` never returns the other client.
///
/// ```
/// # #[cfg(feature = "blocking")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use card_api::{BACKUP_BASE_URLS, Client, ClientBuilder, RetryPolicy};
/// use card_model::AppSecret;
/// use std::time::Duration;
///
/// // Shared settings, written once for either client.
/// fn configure<C>(builder: ClientBuilder<C>) -> ClientBuilder<C> {
///     builder
///         .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
///         .stable_token(true)
///         .failover(BACKUP_BASE_URLS)
///         .retry(RetryPolicy::new().max_attempts(4))
///         .refresh_margin(Duration::from_secs(300))
/// }
///
/// let builder = configure(Client::builder());
/// assert!(!format!("{builder:?}").contains("app-secret"));
/// let client: Client = builder.build()?; // the default transport (ureq)
/// assert_eq!(client.config().base_urls().len(), 5);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "blocking"))]
/// # fn main() {}
/// ```
#[cfg_attr(
    all(feature = "blocking", feature = "async"),
    doc = include_str!("builder_misuse.md")
)]
pub struct ClientBuilder<C> {
    base_url: String,
    failover: Vec<String>,
    token_source: Option<TokenSource>,
    retry: RetryPolicy,
    refresh_margin: Duration,
    transport_config: TransportConfig,
    /// A [`TokenStore`] (the blocking builder's store; the async client's default).
    sync_store: Option<Arc<dyn TokenStore>>,
    #[cfg(feature = "async")]
    async_store: Option<Arc<dyn crate::AsyncTokenStore>>,
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
    client: PhantomData<fn() -> C>,
}

/// The builder of an [`AsyncClient`](crate::AsyncClient) (feature `async`).
#[cfg(feature = "async")]
pub type AsyncClientBuilder = ClientBuilder<crate::AsyncClient>;

impl<C> Clone for ClientBuilder<C> {
    fn clone(&self) -> Self {
        Self {
            base_url: self.base_url.clone(),
            failover: self.failover.clone(),
            token_source: self.token_source.clone(),
            retry: self.retry.clone(),
            refresh_margin: self.refresh_margin,
            transport_config: self.transport_config.clone(),
            sync_store: self.sync_store.clone(),
            #[cfg(feature = "async")]
            async_store: self.async_store.clone(),
            clock: self.clock.clone(),
            seed: self.seed,
            lease_ttl: self.lease_ttl,
            lease_poll: self.lease_poll,
            namespace: self.namespace.clone(),
            holder: self.holder.clone(),
            #[cfg(feature = "blocking")]
            blocking_transport: self.blocking_transport.clone(),
            #[cfg(feature = "async")]
            async_transport: self.async_transport.clone(),
            client: PhantomData,
        }
    }
}

impl<C> Default for ClientBuilder<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &crate::config::redact_url(&self.base_url))
            .field("failover", &crate::config::RedactedUrls(&self.failover))
            .field("token_source", &self.token_source)
            .field("retry", &self.retry)
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

impl<C> ClientBuilder<C> {
    /// A builder with the defaults: [`DEFAULT_BASE_URL`], no failover, the default
    /// [`RetryPolicy`], a 5-minute refresh margin, a fresh
    /// [`MemoryTokenStore`](crate::MemoryTokenStore), the system clock.
    ///
    /// The same as `Client::builder()` or
    /// `AsyncClient::builder()`, where the client is
    /// named: `ClientBuilder::<Client>::new()`.
    pub fn new() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            failover: Vec::new(),
            token_source: None,
            retry: RetryPolicy::new(),
            refresh_margin: Duration::from_secs(300),
            transport_config: crate::config::default_transport(),
            sync_store: None,
            #[cfg(feature = "async")]
            async_store: None,
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
            client: PhantomData,
        }
    }

    /// The primary base URL (`http` or `https`, optionally with a path prefix: a proxy,
    /// a local server). Default [`DEFAULT_BASE_URL`].
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Hosts to try, in order, after the primary (for example
    /// [`BACKUP_BASE_URLS`](crate::BACKUP_BASE_URLS)).
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
        self.transport_config = config;
        self
    }

    /// The clock that decides expiry (a [`ManualClock`](crate::ManualClock) in tests).
    /// Taken by value; an `Arc<T>` works too.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
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

    /// The shared part of building: the settled config, the clock, and the core
    /// around `store` (the sync store, or the in-memory default, unless the async
    /// builder passes its async store).
    fn core_with(self, store: Option<StoreHandle>) -> Result<Core, Error> {
        let token_source = self.token_source.ok_or_else(|| {
            Error::Config("no token source: call access_token() or app_credentials()".into())
        })?;
        if let TokenSource::Fixed(token) = &token_source
            && token.expose().trim().is_empty()
        {
            return Err(Error::Config("the access token is empty".into()));
        }
        let hosts = std::iter::once(self.base_url)
            .chain(self.failover)
            .map(|u| crate::config::normalize_base_url(&u))
            .collect::<Result<Vec<_>, _>>()?;
        let namespace = self.namespace.unwrap_or_else(|| match &token_source {
            TokenSource::Fixed(_) => "fixed".to_owned(),
            TokenSource::Credentials { appid, .. } => appid.clone(),
        });
        let lease_ttl = self.lease_ttl.unwrap_or_else(|| {
            self.retry
                .worst_case(&self.transport_config, hosts.len())
                .saturating_add(Duration::from_secs(1))
        });
        let config = ClientConfig {
            hosts: hosts.into(),
            token_source,
            retry: self.retry,
            refresh_margin: self.refresh_margin,
            transport: self.transport_config,
            lease_ttl,
            lease_poll: self.lease_poll.max(Duration::from_millis(1)),
            namespace,
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let store = store
            .or_else(|| self.sync_store.map(StoreHandle::Sync))
            .unwrap_or_else(|| {
                StoreHandle::Sync(Arc::new(crate::store::MemoryTokenStore::with_clock(
                    Arc::clone(&clock),
                )))
            });
        Ok(Core::new(config, store, clock, self.seed, self.holder))
    }
}

/// A builder not tied to a client, for the crate's unit tests of the shared core.
#[cfg(test)]
pub(crate) type ClientBuilderForTests = ClientBuilder<()>;

#[cfg(test)]
impl ClientBuilder<()> {
    /// The core alone.
    pub(crate) fn core(self) -> Result<Core, Error> {
        self.core_with(None)
    }

    /// The in-crate equivalent of a sync `token_store`.
    pub(crate) fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.sync_store = Some(store);
        self
    }
}

#[cfg(feature = "blocking")]
impl crate::Client {
    /// A builder of a blocking client; finish it with
    /// [`build`](ClientBuilder::<Client>::build).
    ///
    /// [`Client`]: crate::Client
    pub fn builder() -> ClientBuilder<crate::Client> {
        ClientBuilder::new()
    }
}

#[cfg(feature = "blocking")]
impl ClientBuilder<crate::Client> {
    /// The transport (default: `UreqTransport` with
    /// [`transport_config`](Self::transport_config)). Any
    /// [`BlockingTransport`](card_transport::BlockingTransport): a backend, a closure,
    /// a test transport, the sandbox; taken by value, an `Arc<T>` works too.
    #[must_use]
    pub fn transport(
        mut self,
        transport: impl card_transport::BlockingTransport + 'static,
    ) -> Self {
        self.blocking_transport = Some(Arc::new(transport));
        self
    }

    /// Where cached tokens and tickets live (default: a fresh
    /// [`MemoryTokenStore`](crate::MemoryTokenStore)). Share one store between clients
    /// (pass clones of an `Arc`) or, with an external store, between servers, to share
    /// one token.
    #[must_use]
    pub fn token_store(mut self, store: impl TokenStore + 'static) -> Self {
        self.sync_store = Some(Arc::new(store));
        self
    }

    /// Builds the blocking [`Client`](crate::Client).
    ///
    /// # Errors
    /// [`Error::Config`] without a token source, with an empty access token, or with an
    /// unusable base URL.
    pub fn build(self) -> Result<crate::Client, Error> {
        let transport = match &self.blocking_transport {
            Some(t) => Arc::clone(t),
            None => Arc::new(card_transport::UreqTransport::new(
                self.transport_config.clone(),
            )),
        };
        let core = self.core_with(None)?;
        let store = match core.store() {
            StoreHandle::Sync(store) => Arc::clone(store),
            // The blocking builder has no way to set an async store.
            #[cfg(feature = "async")]
            StoreHandle::Async(_) => {
                return Err(Error::Config(
                    "the blocking client needs a TokenStore, not an AsyncTokenStore".into(),
                ));
            }
        };
        Ok(crate::Client::from_parts(core, store, transport))
    }
}

#[cfg(feature = "async")]
impl crate::AsyncClient {
    /// A builder of an async client; finish it with
    /// [`build`](ClientBuilder::<AsyncClient>::build).
    ///
    /// [`AsyncClient`]: crate::AsyncClient
    pub fn builder() -> AsyncClientBuilder {
        ClientBuilder::new()
    }
}

#[cfg(feature = "async")]
impl ClientBuilder<crate::AsyncClient> {
    /// The transport (default: `ReqwestTransport` with
    /// [`transport_config`](Self::transport_config)). Any
    /// [`AsyncTransport`](card_transport::AsyncTransport): a backend,
    /// [`async_fn`](card_transport::async_fn), a test transport, the sandbox; taken by
    /// value, an `Arc<T>` works too.
    #[must_use]
    pub fn transport(mut self, transport: impl card_transport::AsyncTransport + 'static) -> Self {
        self.async_transport = Some(Arc::new(transport));
        self
    }

    /// Where cached tokens and tickets live (default: a fresh
    /// [`MemoryTokenStore`](crate::MemoryTokenStore), called in place). An
    /// [`AsyncTokenStore`](crate::AsyncTokenStore), whose operations the client awaits:
    /// an external store with an async client (Redis, a database) blocks no runtime
    /// worker. A [`TokenStore`] fits through [`InPlace`](crate::InPlace), which calls
    /// it in place (right for a store that answers at once, such as a shared
    /// `MemoryTokenStore`). Taken by value; an `Arc<T>` works too.
    #[must_use]
    pub fn token_store(mut self, store: impl crate::AsyncTokenStore + 'static) -> Self {
        self.async_store = Some(Arc::new(store));
        self
    }

    /// Builds the [`AsyncClient`](crate::AsyncClient).
    ///
    /// # Errors
    /// [`Error::Config`] without a token source, with an empty access token, or with an
    /// unusable base URL; [`Error::Transport`] if the default transport's TLS backend cannot start.
    pub fn build(mut self) -> Result<crate::AsyncClient, Error> {
        let transport = match &self.async_transport {
            Some(t) => Arc::clone(t),
            None => Arc::new(
                card_transport::ReqwestTransport::try_new(self.transport_config.clone())
                    .map_err(Error::transport)?,
            ),
        };
        let store = self.async_store.take().map(StoreHandle::Async);
        Ok(crate::AsyncClient::from_parts(
            self.core_with(store)?,
            transport,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let b = ClientBuilderForTests::new().app_credentials("wxAPP", AppSecret::new("SECRET-xyz"));
        let shown = format!("{b:?}");
        assert!(
            shown.contains("wxAPP") && !shown.contains("SECRET-xyz"),
            "{shown}"
        );
        let b = ClientBuilderForTests::new().access_token(AccessToken::new("TOKEN-abc"));
        assert!(!format!("{b:#?}").contains("TOKEN-abc"));
    }

    #[test]
    fn an_empty_fixed_access_token_is_refused_before_anything_is_sent() {
        // Otherwise every call goes out as `?access_token=` and comes back as 41001.
        for token in ["", "  "] {
            let error = ClientBuilderForTests::new()
                .access_token(AccessToken::new(token))
                .core()
                .unwrap_err();
            assert!(
                matches!(&error, Error::Config(m) if m.contains("access token is empty")),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_password_in_a_base_url_is_never_printed() {
        use crate::config::{normalize_base_url, redact_url};
        assert_eq!(
            redact_url("https://user:pa55@proxy.example:8443/wx?x=1"),
            "https://user:[redacted]@proxy.example:8443/wx?x=1"
        );
        assert_eq!(redact_url("http://pa55@h/"), "http://pa55:[redacted]@h/");
        // A password holding `/`, `?` or `#` (not percent-encoded) breaks the URL,
        // whose error must still not show it; so must a URL missing a slash.
        for (url, shown) in [
            (
                "http://gw:pa?55@127.0.0.1:1",
                "http://gw:[redacted]@127.0.0.1:1",
            ),
            (
                "http://gw:pa/55@127.0.0.1:1/wx",
                "http://gw:[redacted]@127.0.0.1:1/wx",
            ),
            (
                "http://gw:pa#55@127.0.0.1:1",
                "http://gw:[redacted]@127.0.0.1:1",
            ),
            (
                "http:/gw:pa55@127.0.0.1:1",
                "http:/gw:[redacted]@127.0.0.1:1",
            ),
            ("http:gw:pa55@127.0.0.1:1", "http:gw:[redacted]@127.0.0.1:1"),
            (
                "http://gw:12/34@127.0.0.1:1",
                "http://gw:[redacted]@127.0.0.1:1",
            ),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let error = normalize_base_url("http://gw:pa?55@127.0.0.1:1").unwrap_err();
        assert!(!error.to_string().contains("pa?55"), "{error}");
        for plain in ["https://api.weixin.qq.com", "no scheme@all", "http://h/p@q"] {
            assert_eq!(redact_url(plain), plain);
        }
        let builder = ClientBuilderForTests::new()
            .base_url("https://user:pa55word@127.0.0.1:9/")
            .failover(["http://other:pa55word@127.0.0.1:10"])
            .access_token(AccessToken::new("TOKEN-fixed"));
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
        let error = ClientBuilderForTests::new()
            .base_url("ftp://user:pa55word@127.0.0.1/")
            .access_token(AccessToken::new("t"))
            .core()
            .unwrap_err();
        let shown = format!("{error:?} {error}");
        assert!(!shown.contains("pa55word"), "{shown}");
    }

    #[test]
    fn the_default_lease_outlives_the_longest_fetch() {
        let builder = ClientBuilderForTests::new()
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
        let b = ClientBuilderForTests::new()
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

    #[test]
    fn no_token_source_is_a_config_error() {
        assert!(matches!(
            ClientBuilderForTests::new().core(),
            Err(Error::Config(_))
        ));
    }
}
