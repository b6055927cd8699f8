//! De-duplication of WeChat's retried pushes.
//!
//! WeChat retries a push that was not answered within 5 s, up to three times. A
//! [`DedupStore`] answers "is this the first time I see this key within the TTL?", so
//! a handler runs once per push. The store may be in process or shared by several
//! servers (Redis), so that a retry reaching another server is still skipped.

use std::fmt;
use std::time::Duration;

/// The identity of one push, used to recognise WeChat's retries of it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DedupKey(String);

impl DedupKey {
    /// A key from its text form (as built from a push, or read back from a store).
    pub fn from_string(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key's text form: bounded in length and safe to use as part of a store key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DedupKey").field(&self.0).finish()
    }
}

/// A de-duplication store failed (for example, a shared store could not be reached).
#[derive(Debug, thiserror::Error)]
#[error("dedup store failed: {message}")]
pub struct DedupError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DedupError {
    /// An error with a message and no underlying cause.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and its underlying cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Remembers which pushes were already handled.
pub trait DedupStore: Send + Sync + fmt::Debug {
    /// Records `key` and answers `true` if it was not already recorded within `ttl`
    /// (the push is new and should be handled), `false` if it was (a retry).
    ///
    /// # Errors
    /// [`DedupError`] when the store cannot answer.
    fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError>;
}

/// The async twin of [`DedupStore`], for stores whose operations do I/O (a shared
/// store used from an async web server). Every [`DedupStore`] is one.
#[async_trait::async_trait]
pub trait AsyncDedupStore: Send + Sync + fmt::Debug {
    /// As [`DedupStore::first_seen`].
    ///
    /// # Errors
    /// [`DedupError`] when the store cannot answer.
    async fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError>;
}

#[async_trait::async_trait]
impl<T: DedupStore + ?Sized> AsyncDedupStore for T {
    async fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError> {
        DedupStore::first_seen(self, key, ttl)
    }
}
