//! Where Redis is and how the stores use it.

use card_api::{Clock, StoreError, SystemClock};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Where Redis is (a `redis://` or `rediss://` URL) and how the stores use it. Cheap to
/// clone; every store made from it opens its own connections.
///
/// `Debug` shows neither the URL's password nor its user name.
///
/// ```
/// use card_redis::RedisConfig;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = RedisConfig::new("redis://:s3cret@127.0.0.1:6379/2")?
///     .prefix("staging:")
///     .timeout(Duration::from_millis(500))
///     .revalidate_after(Duration::from_secs(2));
/// assert!(!format!("{redis:?}").contains("s3cret"));
/// assert!(RedisConfig::new("http://127.0.0.1/").is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) client: redis::Client,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) revalidate_after: Duration,
    pub(crate) local_fallback: bool,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.client.get_connection_info();
        f.debug_struct("RedisConfig")
            .field("addr", &info.addr().to_string())
            .field(
                "tls",
                &matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }),
            )
            .field("db", &info.redis_settings().db())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("revalidate_after", &self.revalidate_after)
            .field("local_fallback", &self.local_fallback)
            .finish()
    }
}

impl RedisConfig {
    /// Redis at `url`: `redis://[[user]:password@]host[:port][/db]` or the same with
    /// `rediss://` for TLS (rustls, checked against the webpki roots). Nothing is
    /// connected yet: the stores connect on first use and reconnect after failures.
    ///
    /// Defaults: no key prefix, a 2 s timeout, local copies vouched for 1 s, no local
    /// fallback, the system clock.
    ///
    /// For a `rediss://` URL this installs rustls' *ring* crypto provider as the
    /// process's default, unless one is installed already.
    ///
    /// # Errors
    /// [`StoreError`] when the URL is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("rediss://") {
            // `rediss://` builds a rustls client configuration from the process's default
            // crypto provider: make sure there is one (ignored when one is already set).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(url).map_err(|e| {
            // The error may quote the URL, which may hold a password: keep only its kind.
            StoreError::new(format!("not a usable Redis URL ({:?})", e.kind()))
        })?;
        Ok(Self {
            client,
            prefix: String::new(),
            timeout: Duration::from_secs(2),
            revalidate_after: Duration::from_secs(1),
            local_fallback: false,
            clock: Arc::new(SystemClock),
        })
    }

    /// Trusts the CA certificate(s) in `pem` (PEM text) instead of the webpki roots, for
    /// a `rediss://` Redis whose certificate a private CA signed.
    ///
    /// ```
    /// use card_redis::RedisConfig;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
    /// assert!(RedisConfig::new("redis://127.0.0.1/")?.root_certificate(ca).is_err()); // not TLS
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StoreError`] when the URL is not `rediss://` or `pem` holds no usable certificate.
    pub fn root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Result<Self, StoreError> {
        let info = self.client.get_connection_info().clone();
        if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
            return Err(StoreError::new(
                "a root certificate needs a rediss:// (TLS) URL",
            ));
        }
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.into()),
        };
        self.client = redis::Client::build_with_tls(info, certificates)
            .map_err(|e| StoreError::new(format!("unusable root certificate ({:?})", e.kind())))?;
        Ok(self)
    }

    /// A prefix for every key the stores write (for example `"shop-1:"`), so that
    /// several applications or environments share one Redis database.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long to wait for a connection and for each answer before failing with a
    /// [`StoreError`] (at least 1 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a value read from (or written to) Redis is served from the local copy
    /// without asking Redis again. [`Duration::ZERO`] asks Redis on every read.
    pub fn revalidate_after(mut self, interval: Duration) -> Self {
        self.revalidate_after = interval;
        self
    }

    /// Whether `get` may answer with the local copy when Redis cannot be reached, as
    /// long as the copy's `use_until_ms` has not passed (off by default: without it,
    /// an unreachable Redis is an error once the copy is older than
    /// [`revalidate_after`](Self::revalidate_after)).
    pub fn local_fallback(mut self, enabled: bool) -> Self {
        self.local_fallback = enabled;
        self
    }

    /// The clock that decides when stored values expire (as the client's, which stores
    /// `use_until_ms` by it). Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The Redis key of a client's store key.
    pub(crate) fn token_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The Redis key of a client's refresh lease.
    pub(crate) fn lease_key(&self, key: &str) -> String {
        format!("{}{key}:lease", self.prefix)
    }

    /// The Redis key of a push's de-duplication mark.
    pub(crate) fn dedup_key(&self, namespace: &str, key: &str) -> String {
        format!("{}wxcard:dedup:{namespace}:{key}", self.prefix)
    }
}

/// Milliseconds, at least 1 (Redis refuses an expiry of 0).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A store error from a Redis error (whose text names no key, value or password).
pub(crate) fn store_error(operation: &str, e: redis::RedisError) -> StoreError {
    StoreError::with_source(format!("redis {operation} failed"), e)
}
