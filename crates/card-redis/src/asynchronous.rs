//! The async stores: one multiplexed connection per store, kept by redis' connection
//! manager, which reconnects after the connection breaks.

use crate::config::{RedisConfig, store_error};
use crate::protocol::{DedupProtocol, Fields, Get, TokenProtocol, broken};
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
    protocol: TokenProtocol,
    conn: ConnectionManager,
}

impl fmt::Debug for AsyncRedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.protocol.debug("AsyncRedisTokenStore", f)
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
            protocol: TokenProtocol::new(config),
            conn: manager(config)?,
        })
    }

    /// Runs a script on the connection (once more if the connection had broken).
    async fn invoke(&self, script: &redis::ScriptInvocation<'_>) -> redis::RedisResult<i64> {
        run(&self.conn, |mut conn| async move {
            script.invoke_async::<i64>(&mut conn).await
        })
        .await
    }
}

#[async_trait::async_trait]
impl AsyncTokenStore for AsyncRedisTokenStore {
    async fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        match self.protocol.get(key) {
            Get::Local(copy) => Ok(Some(copy)),
            Get::Ask(read) => {
                let command = read.command();
                let reply = run(&self.conn, |mut conn| async move {
                    command.query_async::<Fields>(&mut conn).await
                })
                .await;
                self.protocol.read_answer(key, read, reply)
            }
        }
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        let script = self.protocol.compare_and_set(key, expected, &new);
        let reply = self.invoke(&script).await;
        self.protocol.compare_and_set_answer(key, &new, reply)
    }

    async fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let script = self.protocol.try_lease(key, holder, ttl);
        self.protocol.lease_answer(key, self.invoke(&script).await)
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let script = self.protocol.release_lease(key, holder);
        TokenProtocol::release_answer(self.invoke(&script).await)
    }
}

/// An `AsyncDedupStore` on Redis (`SET key 1 NX PX ttl`) for async web servers; the
/// same keys as [`RedisDedupStore`](crate::RedisDedupStore), so both kinds of server
/// share the marks. A failure is reported, never repeated on its own.
pub struct AsyncRedisDedupStore {
    protocol: DedupProtocol,
    conn: ConnectionManager,
}

impl fmt::Debug for AsyncRedisDedupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.protocol.debug("AsyncRedisDedupStore", f)
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
            protocol: DedupProtocol::new(config, namespace.into()),
            conn: manager(config)?,
        })
    }
}

#[async_trait::async_trait]
impl AsyncDedupStore for AsyncRedisDedupStore {
    async fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError> {
        let command = self.protocol.first_seen(key, ttl);
        let mut conn = self.conn.clone();
        DedupProtocol::first_seen_answer(command.query_async::<redis::Value>(&mut conn).await)
    }
}
