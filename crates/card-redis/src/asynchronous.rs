//! The async stores: one multiplexed connection per store, kept by redis' connection
//! manager, which reconnects after the connection breaks.

use crate::cache::LocalCache;
use crate::config::{RedisConfig, millis, store_error};
use crate::scripts;
use card_api::{AsyncTokenStore, StoreError, StoredSecret};
use card_push::{AsyncDedupStore, DedupError, DedupKey};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// A connection manager for `config`, connecting on first use. It needs a tokio runtime
/// (it spawns its reconnection task).
fn manager(config: &RedisConfig) -> Result<ConnectionManager, StoreError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(StoreError::new(
            "the async Redis stores must be created inside a tokio runtime",
        ));
    }
    let settings = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.timeout))
        .set_response_timeout(Some(config.timeout))
        // One attempt per connection: an unreachable Redis fails the operation at once
        // (the next operation tries again) instead of holding calls in a backoff.
        .set_number_of_retries(0);
    config
        .client
        .get_connection_manager_lazy(settings)
        .map_err(|e| store_error("connection set-up", e))
}

/// Whether the connection itself failed (the manager reconnects on its own).
fn broken(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// Runs `op` on the manager's connection; an operation whose connection had broken
/// (Redis restarted since) runs once more, on the new connection.
async fn run<T, F, Fut>(conn: &ConnectionManager, mut op: F) -> redis::RedisResult<T>
where
    F: FnMut(ConnectionManager) -> Fut,
    Fut: Future<Output = redis::RedisResult<T>>,
{
    match op(conn.clone()).await {
        Err(e) if broken(&e) => op(conn.clone()).await,
        other => other,
    }
}

/// An `AsyncTokenStore` on Redis for `card_api::AsyncClient` (set it with
/// `AsyncClient::builder().token_store(..)`). The same keys, local copy and failure behaviour
/// as [`RedisTokenStore`](crate::RedisTokenStore), so blocking and async servers share
/// one token.
///
/// ```no_run
/// use card_api::AsyncClient;
/// use card_model::AppSecret;
/// use card_redis::{AsyncRedisTokenStore, RedisConfig};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = RedisConfig::new("redis://127.0.0.1:6379/")?;
/// let client = AsyncClient::builder()
///     .app_credentials("wx1234567890abcdef", AppSecret::new("app-secret"))
///     .token_store(AsyncRedisTokenStore::new(&redis)?)
///     .build()?;
/// let token = client.access_token().await?;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
pub struct AsyncRedisTokenStore {
    config: RedisConfig,
    conn: ConnectionManager,
    cache: LocalCache,
}

impl fmt::Debug for AsyncRedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRedisTokenStore")
            .field("config", &self.config)
            .field("cache", &self.cache)
            .finish()
    }
}

impl AsyncRedisTokenStore {
    /// A store on the Redis of `config`; it connects on first use. Create it inside the
    /// tokio runtime that will use it (its connection manager runs a task there).
    ///
    /// # Errors
    /// [`StoreError`] outside a tokio runtime.
    pub fn new(config: &RedisConfig) -> Result<Self, StoreError> {
        Ok(Self {
            config: config.clone(),
            conn: manager(config)?,
            cache: LocalCache::new(config),
        })
    }

    async fn read(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        let redis_key = self.config.token_key(key);
        let epoch = self.cache.epoch();
        let read = run(&self.conn, |mut conn| {
            let cmd = {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(&redis_key).arg(&scripts::FIELDS[..]);
                cmd
            };
            async move {
                cmd.query_async::<(Option<String>, Option<String>)>(&mut conn)
                    .await
            }
        })
        .await;
        match read {
            Ok(fields) => {
                let entry = scripts::entry(fields);
                self.cache.confirm_read(key, entry.as_ref(), epoch);
                Ok(entry)
            }
            Err(e) => match self.cache.fallback(key) {
                Some(copy) => {
                    tracing::warn!(error = %e, "redis unreachable: using the local copy (local fallback)");
                    Ok(Some(copy))
                }
                None => Err(store_error("read", e)),
            },
        }
    }
}

#[async_trait::async_trait]
impl AsyncTokenStore for AsyncRedisTokenStore {
    async fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        match self.cache.vouched(key) {
            Some(copy) => Ok(Some(copy)),
            None => self.read(key).await,
        }
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        let redis_key = self.config.token_key(key);
        let ttl = new
            .use_until_ms
            .saturating_sub(self.config.clock.unix_millis())
            .max(1);
        let wrote = run(&self.conn, |mut conn| {
            let mut invocation = scripts::COMPARE_AND_SET.key(&redis_key);
            invocation
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or(""))
                .arg(&new.value)
                .arg(new.use_until_ms)
                .arg(ttl);
            async move { invocation.invoke_async::<i64>(&mut conn).await }
        })
        .await;
        match wrote {
            Ok(1) => {
                self.cache.confirm_write(key, &new);
                Ok(true)
            }
            Ok(_) => {
                self.cache.forget(key);
                Ok(false)
            }
            Err(e) => {
                self.cache.forget(key);
                Err(store_error("compare-and-set", e))
            }
        }
    }

    async fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.cache.forget(key);
        let lease_key = self.config.lease_key(key);
        run(&self.conn, |mut conn| {
            let mut invocation = scripts::TRY_LEASE.key(&lease_key);
            invocation.arg(holder).arg(millis(ttl));
            async move { invocation.invoke_async::<i64>(&mut conn).await }
        })
        .await
        .map(|got| got == 1)
        .map_err(|e| store_error("lease", e))
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let lease_key = self.config.lease_key(key);
        run(&self.conn, |mut conn| {
            let mut invocation = scripts::RELEASE_LEASE.key(&lease_key);
            invocation.arg(holder);
            async move { invocation.invoke_async::<i64>(&mut conn).await }
        })
        .await
        .map(drop)
        .map_err(|e| store_error("lease release", e))
    }
}

/// An `AsyncDedupStore` on Redis (`SET key 1 NX PX ttl`) for async web servers; the
/// same keys as [`RedisDedupStore`](crate::RedisDedupStore), so both kinds of server
/// share the marks. A failure is reported, never repeated on its own.
pub struct AsyncRedisDedupStore {
    config: RedisConfig,
    namespace: String,
    conn: ConnectionManager,
}

impl fmt::Debug for AsyncRedisDedupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRedisDedupStore")
            .field("config", &self.config)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl AsyncRedisDedupStore {
    /// A store on the Redis of `config` whose keys live under `namespace` (the AppID,
    /// for example); it connects on first use.
    ///
    /// # Errors
    /// [`StoreError`] outside a tokio runtime (the connection manager needs one).
    pub fn new(config: &RedisConfig, namespace: impl Into<String>) -> Result<Self, StoreError> {
        Ok(Self {
            config: config.clone(),
            namespace: namespace.into(),
            conn: manager(config)?,
        })
    }
}

#[async_trait::async_trait]
impl AsyncDedupStore for AsyncRedisDedupStore {
    async fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.config.dedup_key(&self.namespace, key.as_str()))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        let mut conn = self.conn.clone();
        cmd.query_async::<redis::Value>(&mut conn)
            .await
            .map(|answer| !matches!(answer, redis::Value::Nil))
            .map_err(|e| DedupError::with_source("redis SET NX failed", e))
    }
}
