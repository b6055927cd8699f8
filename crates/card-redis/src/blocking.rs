//! The blocking stores: a small pool of synchronous Redis connections.

use crate::config::RedisConfig;
use crate::protocol::{DedupProtocol, Fields, Get, TokenProtocol, broken};
use card_api::{StoreError, StoredSecret, TokenStore};
use card_push::{DedupError, DedupKey, DedupStore};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Idle connections kept per store; more are opened when needed and closed after use.
const MAX_IDLE: usize = 64;

/// Synchronous connections to one Redis, opened on demand, reused while they work and
/// dropped after any error (so that a restarted Redis is reconnected to).
struct Pool {
    client: redis::Client,
    timeout: Duration,
    idle: Mutex<Vec<redis::Connection>>,
}

impl Pool {
    fn new(config: &RedisConfig) -> Self {
        Self {
            client: config.client.clone(),
            timeout: config.timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<redis::Connection>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }

    /// Runs `op` on a connection. With `repeatable`, an operation that failed on a
    /// reused connection because the connection broke (Redis restarted since) is run
    /// once more on a new one.
    fn run<T>(
        &self,
        repeatable: bool,
        mut op: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let reused = self.idle().pop();
        let was_reused = reused.is_some();
        let mut conn = match reused {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = match op(&mut conn) {
            Err(e) if was_reused && repeatable && broken(&e) => {
                conn = self.connect()?;
                op(&mut conn)
            }
            other => other,
        };
        if result.is_ok() {
            let mut idle = self.idle();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        result
    }
}

/// A [`TokenStore`] on Redis for the blocking `card_api::Client`, shared by every server
/// that uses the same Redis and key prefix. See the [crate](crate) documentation for the
/// keys, the local copy and what happens when Redis cannot be reached.
///
/// `Debug` shows no token, password or URL user.
pub struct RedisTokenStore {
    protocol: TokenProtocol,
    pool: Pool,
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.protocol.debug("RedisTokenStore", f)
    }
}

impl RedisTokenStore {
    /// A store on the Redis of `config`. Nothing is connected until the first operation.
    pub fn new(config: &RedisConfig) -> Self {
        Self {
            protocol: TokenProtocol::new(config),
            pool: Pool::new(config),
        }
    }
}

impl TokenStore for RedisTokenStore {
    fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        match self.protocol.get(key) {
            Get::Local(copy) => Ok(Some(copy)),
            Get::Ask(read) => {
                let reply = self
                    .pool
                    .run(true, |conn| read.command().query::<Fields>(conn));
                self.protocol.read_answer(key, read, reply)
            }
        }
    }

    fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: StoredSecret,
    ) -> Result<bool, StoreError> {
        let script = self.protocol.compare_and_set(key, expected, &new);
        let reply = self.pool.run(true, |conn| script.invoke::<i64>(conn));
        self.protocol.compare_and_set_answer(key, &new, reply)
    }

    fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let script = self.protocol.try_lease(key, holder, ttl);
        let reply = self.pool.run(true, |conn| script.invoke::<i64>(conn));
        self.protocol.lease_answer(key, reply)
    }

    fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let script = self.protocol.release_lease(key, holder);
        TokenProtocol::release_answer(self.pool.run(true, |conn| script.invoke::<i64>(conn)))
    }
}

/// A [`DedupStore`] on Redis (`SET key 1 NX PX ttl`), shared by every server that
/// uses the same Redis, key prefix and namespace: a push WeChat retries to another
/// server is recognised there too.
///
/// When Redis cannot be reached, [`first_seen`](DedupStore::first_seen) fails (the push
/// should then be answered with an error, so that WeChat retries it); it is never
/// repeated on its own, since a repeat could mistake the push for its own retry.
///
/// ```no_run
/// use card_push::{DedupKey, DedupStore};
/// use card_redis::{RedisConfig, RedisDedupStore};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dedup = RedisDedupStore::new(&RedisConfig::new("redis://127.0.0.1/")?, "wx1234567890abcdef");
/// let key = DedupKey::from_string("oUser:1700000000:user_get_card");
/// assert!(dedup.first_seen(&key, Duration::from_secs(60))?); // handle it
/// assert!(!dedup.first_seen(&key, Duration::from_secs(60))?); // a retry: skip it
/// # Ok(())
/// # }
/// ```
pub struct RedisDedupStore {
    protocol: DedupProtocol,
    pool: Pool,
}

impl fmt::Debug for RedisDedupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.protocol.debug("RedisDedupStore", f)
    }
}

impl RedisDedupStore {
    /// A store on the Redis of `config` whose keys live under `namespace` (the AppID,
    /// for example).
    pub fn new(config: &RedisConfig, namespace: impl Into<String>) -> Self {
        Self {
            protocol: DedupProtocol::new(config, namespace.into()),
            pool: Pool::new(config),
        }
    }
}

impl DedupStore for RedisDedupStore {
    fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError> {
        let command = self.protocol.first_seen(key, ttl);
        DedupProtocol::first_seen_answer(
            self.pool
                .run(false, |conn| command.query::<redis::Value>(conn)),
        )
    }
}
