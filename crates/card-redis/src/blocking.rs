//! The blocking stores: a small pool of synchronous Redis connections.

use crate::cache::LocalCache;
use crate::config::{RedisConfig, millis, store_error};
use crate::scripts;
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

/// Whether the connection itself failed (rather than the command).
fn broken(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// A [`TokenStore`] on Redis for the blocking `card_api::Client`, shared by every server
/// that uses the same Redis and key prefix. See the [crate](crate) documentation for the
/// keys, the local copy and what happens when Redis cannot be reached.
///
/// `Debug` shows no token, password or URL user.
pub struct RedisTokenStore {
    config: RedisConfig,
    pool: Pool,
    cache: LocalCache,
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("config", &self.config)
            .field("cache", &self.cache)
            .finish()
    }
}

impl RedisTokenStore {
    /// A store on the Redis of `config`. Nothing is connected until the first operation.
    pub fn new(config: &RedisConfig) -> Self {
        Self {
            config: config.clone(),
            pool: Pool::new(config),
            cache: LocalCache::new(config),
        }
    }

    fn read(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        let redis_key = self.config.token_key(key);
        let epoch = self.cache.epoch();
        let read = self.pool.run(true, |conn| {
            redis::cmd("HMGET")
                .arg(&redis_key)
                .arg(&scripts::FIELDS[..])
                .query::<(Option<String>, Option<String>)>(conn)
        });
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

impl TokenStore for RedisTokenStore {
    fn get(&self, key: &str) -> Result<Option<StoredSecret>, StoreError> {
        match self.cache.vouched(key) {
            Some(copy) => Ok(Some(copy)),
            None => self.read(key),
        }
    }

    fn compare_and_set(
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
        let wrote = self.pool.run(true, |conn| {
            scripts::COMPARE_AND_SET
                .key(&redis_key)
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or(""))
                .arg(&new.value)
                .arg(new.use_until_ms)
                .arg(ttl)
                .invoke::<i64>(conn)
        });
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

    fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        // The client asks for the lease when the token it had is missing, expiring or
        // was rejected: whatever happens next, read Redis again.
        self.cache.forget(key);
        let lease_key = self.config.lease_key(key);
        self.pool
            .run(true, |conn| {
                scripts::TRY_LEASE
                    .key(&lease_key)
                    .arg(holder)
                    .arg(millis(ttl))
                    .invoke::<i64>(conn)
            })
            .map(|got| got == 1)
            .map_err(|e| store_error("lease", e))
    }

    fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let lease_key = self.config.lease_key(key);
        self.pool
            .run(true, |conn| {
                scripts::RELEASE_LEASE
                    .key(&lease_key)
                    .arg(holder)
                    .invoke::<i64>(conn)
            })
            .map(drop)
            .map_err(|e| store_error("lease release", e))
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
    config: RedisConfig,
    namespace: String,
    pool: Pool,
}

impl fmt::Debug for RedisDedupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDedupStore")
            .field("config", &self.config)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl RedisDedupStore {
    /// A store on the Redis of `config` whose keys live under `namespace` (the AppID,
    /// for example).
    pub fn new(config: &RedisConfig, namespace: impl Into<String>) -> Self {
        Self {
            config: config.clone(),
            namespace: namespace.into(),
            pool: Pool::new(config),
        }
    }
}

impl DedupStore for RedisDedupStore {
    fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError> {
        let redis_key = self.config.dedup_key(&self.namespace, key.as_str());
        self.pool
            .run(false, |conn| {
                redis::cmd("SET")
                    .arg(&redis_key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl))
                    .query::<redis::Value>(conn)
            })
            .map(|answer| !matches!(answer, redis::Value::Nil))
            .map_err(|e| DedupError::with_source("redis SET NX failed", e))
    }
}
