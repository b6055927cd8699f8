//! Forwarding impls that let the builders take stores and clocks by value while an
//! `Arc<T>` (shared with other clients or with the test that watches it) works too,
//! and [`InPlace`], which lets the async client use a [`TokenStore`].

use crate::error::StoreError;
use crate::store::{Clock, StoredSecret, TokenStore};
use std::sync::Arc;
use std::time::Duration;

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn unix_millis(&self) -> u64 {
        (**self).unix_millis()
    }
}

impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        (**self).get(key)
    }

    fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        (**self).compare_and_set(key, expected, new)
    }

    fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        (**self).try_lease(key, holder, ttl)
    }

    fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        (**self).release_lease(key, holder)
    }
}

#[cfg(feature = "async")]
pub use in_place::InPlace;

#[cfg(feature = "async")]
mod in_place {
    use super::*;
    use crate::store::AsyncTokenStore;

    #[async_trait::async_trait]
    impl<T: AsyncTokenStore + ?Sized> AsyncTokenStore for Arc<T> {
        async fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
            (**self).get(key).await
        }

        async fn compare_and_set(
            &self,
            key: &str,
            expected: Option<&str>,
            new: StoredSecret,
        ) -> Result<bool, StoreError> {
            (**self).compare_and_set(key, expected, new).await
        }

        async fn try_lease(
            &self,
            key: &str,
            holder: &str,
            ttl: Duration,
        ) -> Result<bool, StoreError> {
            (**self).try_lease(key, holder, ttl).await
        }

        async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
            (**self).release_lease(key, holder).await
        }
    }

    /// A [`TokenStore`] used by the [`AsyncClient`](crate::AsyncClient): its
    /// operations are called in place, on the runtime worker (feature `async`).
    ///
    /// Right for a store that answers at once, such as a
    /// [`MemoryTokenStore`](crate::MemoryTokenStore) shared with a blocking client. A
    /// store that waits on the network should implement [`AsyncTokenStore`] instead,
    /// so that no worker blocks. (Without a store, the async client uses a fresh
    /// in-memory store, called in place.)
    ///
    /// ```
    /// use card_api::{AsyncClient, InPlace, MemoryTokenStore};
    /// use card_model::AccessToken;
    /// use std::sync::Arc;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let shared = Arc::new(MemoryTokenStore::new());
    /// # #[cfg(feature = "blocking")]
    /// let blocking = card_api::Client::builder()
    ///     .access_token(AccessToken::new("TOKEN"))
    ///     .token_store(shared.clone())
    ///     .build()?;
    /// let asynchronous = AsyncClient::builder()
    ///     .access_token(AccessToken::new("TOKEN"))
    ///     .token_store(InPlace::new(shared))
    ///     .build()?;
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug, Clone)]
    pub struct InPlace<S>(S);

    impl<S: TokenStore> InPlace<S> {
        /// Wraps `store`.
        pub fn new(store: S) -> Self {
            Self(store)
        }

        /// The wrapped store.
        pub fn into_inner(self) -> S {
            self.0
        }
    }

    #[async_trait::async_trait]
    impl<S: TokenStore> AsyncTokenStore for InPlace<S> {
        async fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
            self.0.get(key)
        }

        async fn compare_and_set(
            &self,
            key: &str,
            expected: Option<&str>,
            new: StoredSecret,
        ) -> Result<bool, StoreError> {
            self.0.compare_and_set(key, expected, new)
        }

        async fn try_lease(
            &self,
            key: &str,
            holder: &str,
            ttl: Duration,
        ) -> Result<bool, StoreError> {
            self.0.try_lease(key, holder, ttl)
        }

        async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
            self.0.release_lease(key, holder)
        }
    }
}
