//! Where cached credentials live: the [`TokenStore`] trait, the in-memory store, and the
//! injectable [`Clock`].
//!
//! See [`TokenStore`] for how an external store maps onto the trait.

use crate::error::StoreError;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current time, injectable so that expiry is testable without sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn unix_millis(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to, for tests.
///
/// ```
/// use card_api::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new(1_700_000_000_000);
/// clock.advance(Duration::from_secs(7200));
/// assert_eq!(clock.unix_millis(), 1_700_007_200_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `unix_millis`.
    pub fn new(unix_millis: u64) -> Self {
        Self(AtomicU64::new(unix_millis))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, unix_millis: u64) {
        self.0.store(unix_millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn unix_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Which credential a store entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretKind {
    /// The access token.
    AccessToken,
    /// The card api_ticket.
    CardApiTicket,
}

impl SecretKind {
    /// A small index per kind, for per-kind state.
    pub(crate) fn index(self) -> usize {
        match self {
            Self::AccessToken => 0,
            Self::CardApiTicket => 1,
        }
    }

    /// The kind's part of a store key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::CardApiTicket => "card_api_ticket",
        }
    }
}

/// A cached credential: its value and the moment the client stops using it (WeChat's
/// expiry minus the refresh margin), in Unix milliseconds. `Debug` hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// The token or ticket.
    pub value: String,
    /// When it stops being used, in Unix milliseconds.
    pub use_until_ms: u64,
}

impl StoredSecret {
    /// A new entry.
    pub fn new(value: impl Into<String>, use_until_ms: u64) -> Self {
        Self {
            value: value.into(),
            use_until_ms,
        }
    }
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("value", &"[redacted]")
            .field("use_until_ms", &self.use_until_ms)
            .finish()
    }
}

/// Shared storage for cached credentials, keyed by strings such as
/// `wxcard:access_token:APPID` and `wxcard:card_api_ticket:APPID`.
///
/// # Sharing one token across servers
///
/// Fetching an access token invalidates the previous one (after 5 minutes), so all of a
/// merchant's servers should share one. The trait is written so that an external store
/// (Redis, a database) can implement it; nothing in it assumes one process:
///
/// | operation | Redis, for example |
/// |---|---|
/// | [`get`](TokenStore::get) | `HGETALL key` (value + expiry) |
/// | [`compare_and_set`](TokenStore::compare_and_set) | a Lua script: replace only if the stored value equals `expected` (or the key is absent when `expected` is `None`) |
/// | [`try_lease`](TokenStore::try_lease) | `SET key:lease holder NX PX ttl` |
/// | [`release_lease`](TokenStore::release_lease) | a Lua script: `DEL key:lease` only if it still holds `holder` |
///
/// Times are Unix milliseconds decided by the client's [`Clock`] and stored as data; a
/// lease's time-to-live is the store's own business (Redis expires it itself).
///
/// The methods are synchronous and expected to be short. An external store used from the
/// async client should answer quickly (or do its I/O on a blocking pool), or implement
/// `AsyncTokenStore` instead (feature `async`).
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The entry under `key`, expired or not.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError>;

    /// Writes `new` under `key` only if the entry's value is still `expected` (`None`:
    /// only if there is no entry). Returns whether it wrote. This is how a token that
    /// failed is replaced without clobbering one another caller already refreshed.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError>;

    /// Tries to take the refresh lease of `key` for `holder` for `ttl`. Returns whether
    /// `holder` now holds it (also when it already did). Only the lease holder fetches a
    /// new credential; the others wait and read the store again.
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives the lease of `key` back, if `holder` still holds it.
    ///
    /// # Errors
    /// When the store cannot be reached.
    fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError>;
}

/// The async twin of [`TokenStore`], for the [`AsyncClient`](crate::AsyncClient)
/// (feature `async`): the same four operations with the same meaning, awaited instead
/// of blocking a runtime worker. Implement it for an external store whose client is
/// async (Redis, a database); set it with the async builder's
/// [`token_store`](crate::AsyncClientBuilder::token_store).
///
/// Keys, values and times are those of [`TokenStore`] (see there for how Redis, for
/// example, maps onto the operations), so servers using either trait over the same
/// external store share one token. The blocking `Client` takes only a [`TokenStore`]
/// (an async store does not compile there); the async client takes a [`TokenStore`]
/// wrapped in [`InPlace`](crate::InPlace), which calls it in place.
///
/// ```
/// use card_api::{
///     AsyncClient, AsyncTokenStore, MemoryTokenStore, StoreError, StoredSecret, TokenStore,
/// };
/// use card_model::AppSecret;
/// use card_transport::test_util::{Exchange, ExpectedRequest, ReplayTransport, json_response};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// /// Stands for an async client of an external store.
/// #[derive(Debug, Default)]
/// struct MyStore(MemoryTokenStore);
///
/// #[async_trait::async_trait]
/// impl AsyncTokenStore for MyStore {
///     async fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
///         self.0.get(key)
///     }
///     async fn compare_and_set(
///         &self,
///         key: &str,
///         expected: Option<&str>,
///         new: StoredSecret,
///     ) -> Result<bool, StoreError> {
///         self.0.compare_and_set(key, expected, new)
///     }
///     async fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
///         self.0.try_lease(key, holder, ttl)
///     }
///     async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
///         self.0.release_lease(key, holder)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let replay = ReplayTransport::new([Exchange::new(
///     ExpectedRequest::get("/cgi-bin/token").any_query(),
///     json_response(200, r#"{"access_token":"TOKEN","expires_in":7200}"#),
/// )]);
/// let store = Arc::new(MyStore::default());
/// let client = AsyncClient::builder()
///     .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
///     .token_store(store.clone())
///     .transport(replay.clone())
///     .build()?;
/// assert_eq!(client.access_token().await?.expose(), "TOKEN");
/// assert_eq!(client.access_token().await?.expose(), "TOKEN"); // from the store
/// let cached = store.get("wxcard:access_token:wx1234567890abcdef").await?;
/// assert_eq!(cached.map(|e| e.value).as_deref(), Some("TOKEN"));
/// replay.finish()?;
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "async")]
#[async_trait::async_trait]
pub trait AsyncTokenStore: Send + Sync + fmt::Debug {
    /// The entry under `key`, expired or not.
    ///
    /// # Errors
    /// When the store cannot be read.
    async fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError>;

    /// Writes `new` under `key` only if the entry's value is still `expected` (`None`:
    /// only if there is no entry). Returns whether it wrote. This is how a token that
    /// failed is replaced without clobbering one another caller already refreshed.
    ///
    /// # Errors
    /// When the store cannot be written.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError>;

    /// Tries to take the refresh lease of `key` for `holder` for `ttl`. Returns whether
    /// `holder` now holds it (also when it already did). Only the lease holder fetches a
    /// new credential; the others wait and read the store again.
    ///
    /// # Errors
    /// When the store cannot be reached.
    async fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives the lease of `key` back, if `holder` still holds it.
    ///
    /// # Errors
    /// When the store cannot be reached.
    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError>;
}

/// The store a client was built with: either kind. The blocking client accepts only
/// the sync kind (checked when it is built); the async client awaits either.
#[derive(Clone)]
pub(crate) enum StoreHandle {
    /// A [`TokenStore`].
    Sync(Arc<dyn TokenStore>),
    /// An [`AsyncTokenStore`].
    #[cfg(feature = "async")]
    Async(Arc<dyn AsyncTokenStore>),
}

impl fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sync(store) => fmt::Debug::fmt(store, f),
            #[cfg(feature = "async")]
            Self::Async(store) => fmt::Debug::fmt(store, f),
        }
    }
}

/// A [`TokenStore`] in this process's memory: shared by every client built with the same
/// `Arc`, not across processes.
///
/// ```
/// use card_api::{MemoryTokenStore, StoredSecret, TokenStore};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryTokenStore::new();
/// assert!(store.compare_and_set("k", None, StoredSecret::new("A", 10))?);
/// assert!(!store.compare_and_set("k", Some("B"), StoredSecret::new("C", 10))?);
/// assert!(store.compare_and_set("k", Some("A"), StoredSecret::new("C", 10))?);
/// assert!(store.try_lease("k", "me", Duration::from_secs(5))?);
/// assert!(!store.try_lease("k", "you", Duration::from_secs(5))?);
/// store.release_lease("k", "me")?;
/// assert!(store.try_lease("k", "you", Duration::from_secs(5))?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryTokenStore {
    clock: Arc<dyn Clock>,
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    entries: HashMap<String, StoredSecret>,
    leases: HashMap<String, (String, u64)>,
}

impl Default for MemoryTokenStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTokenStore {
    /// An empty store whose leases expire by the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store whose leases expire by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            inner: Mutex::new(MemoryInner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryInner> {
        // A panic elsewhere while holding the lock leaves the maps consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for MemoryTokenStore {
    fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        Ok(self.lock().entries.get(key).cloned())
    }

    fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let current = inner.entries.get(key).map(|e| e.value.as_str());
        if current != expected {
            return Ok(false);
        }
        inner.entries.insert(key.to_owned(), new);
        Ok(true)
    }

    fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = self.clock.unix_millis();
        let mut inner = self.lock();
        if let Some((owner, until)) = inner.leases.get(key) {
            if owner != holder && *until > now {
                return Ok(false);
            }
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        inner.leases.insert(
            key.to_owned(),
            (holder.to_owned(), now.saturating_add(ttl_ms)),
        );
        Ok(true)
    }

    fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner
            .leases
            .get(key)
            .is_some_and(|(owner, _)| owner == holder)
        {
            inner.leases.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_expire_by_the_injected_clock() {
        let clock = Arc::new(ManualClock::new(1_000));
        let store = MemoryTokenStore::with_clock(clock.clone());
        assert!(store.try_lease("k", "a", Duration::from_secs(10)).unwrap());
        assert!(store.try_lease("k", "a", Duration::from_secs(10)).unwrap());
        assert!(!store.try_lease("k", "b", Duration::from_secs(10)).unwrap());
        store.release_lease("k", "b").unwrap(); // not b's: no effect
        assert!(!store.try_lease("k", "b", Duration::from_secs(10)).unwrap());
        clock.advance(Duration::from_secs(11));
        assert!(store.try_lease("k", "b", Duration::from_secs(10)).unwrap());
        assert!(
            store
                .try_lease("other", "a", Duration::from_secs(10))
                .unwrap()
        );
    }

    #[test]
    fn compare_and_set_replaces_only_the_expected_value() {
        let store = MemoryTokenStore::new();
        assert!(store.get("k").unwrap().is_none());
        assert!(
            !store
                .compare_and_set("k", Some("X"), StoredSecret::new("Y", 1))
                .unwrap()
        );
        assert!(
            store
                .compare_and_set("k", None, StoredSecret::new("X", 1))
                .unwrap()
        );
        assert!(
            !store
                .compare_and_set("k", None, StoredSecret::new("Z", 1))
                .unwrap()
        );
        assert!(
            store
                .compare_and_set("k", Some("X"), StoredSecret::new("Y", 2))
                .unwrap()
        );
        assert_eq!(store.get("k").unwrap(), Some(StoredSecret::new("Y", 2)));
        assert!(!format!("{:?}", store.get("k").unwrap()).contains("\"Y\""));
        assert!(!format!("{store:?}").contains("\"Y\""));
    }
}
