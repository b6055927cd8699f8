//! What the stores ask Redis and what they make of its answers, written once: when the
//! local copy answers, the keys, the commands and script arguments, and how a reply (or a
//! failure) becomes the store's result. The blocking and async stores only send the
//! commands this module builds and hand the replies back (I/O only).

use crate::cache::LocalCache;
use crate::config::{RedisConfig, millis, store_error};
use crate::scripts;
use card_api::{StoreError, StoredSecret};
use card_push::{DedupError, DedupKey};
use redis::{Cmd, RedisResult, ScriptInvocation};
use std::fmt;
use std::time::Duration;

/// The reply to the read of a credential: `HMGET key value use_until_ms`.
pub(crate) type Fields = (Option<String>, Option<String>);

/// Whether the connection itself failed (rather than the command): worth one more try on
/// a new connection.
pub(crate) fn broken(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// What a token store's `get` does.
pub(crate) enum Get {
    /// Answer with the local copy: Redis vouched for it recently.
    Local(StoredSecret),
    /// Ask Redis, then pass the reply to [`TokenProtocol::read_answer`].
    Ask(Read),
}

/// A read of a credential to send to Redis.
pub(crate) struct Read {
    command: Cmd,
    /// The local copy's epoch when the read started (see [`LocalCache::confirm_read`]).
    epoch: u64,
}

impl Read {
    /// The command to send; its reply is [`Fields`].
    pub fn command(&self) -> &Cmd {
        &self.command
    }
}

/// The decisions of a token store (blocking or async) over its configuration and local
/// copy.
pub(crate) struct TokenProtocol {
    config: RedisConfig,
    cache: LocalCache,
}

impl TokenProtocol {
    pub fn new(config: &RedisConfig) -> Self {
        Self {
            config: config.clone(),
            cache: LocalCache::new(config),
        }
    }

    /// `Debug` of a store named `name`: the configuration (which hides the URL's
    /// secrets) and the local copy's keys, never a value.
    pub fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("config", &self.config)
            .field("cache", &self.cache)
            .finish()
    }

    /// `get(key)`: the local copy while it is vouched for, otherwise a read of Redis.
    pub fn get(&self, key: &str) -> Get {
        if let Some(copy) = self.cache.vouched(key) {
            return Get::Local(copy);
        }
        let mut command = redis::cmd("HMGET");
        command
            .arg(self.config.token_key(key))
            .arg(&scripts::FIELDS[..]);
        Get::Ask(Read {
            command,
            epoch: self.cache.epoch(),
        })
    }

    /// What `get(key)` answers after Redis replied to `read` (or could not be reached).
    pub fn read_answer(
        &self,
        key: &str,
        read: Read,
        reply: RedisResult<Fields>,
    ) -> Result<Option<StoredSecret>, StoreError> {
        match reply {
            Ok(fields) => {
                let entry = scripts::entry(fields);
                self.cache.confirm_read(key, entry.as_ref(), read.epoch);
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

    /// The script that replaces `key`'s value by `new` only if Redis still holds
    /// `expected` (none: only if it holds nothing); the entry expires at
    /// `new.use_until_ms`. Its reply goes to
    /// [`compare_and_set_answer`](Self::compare_and_set_answer).
    pub fn compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &StoredSecret,
    ) -> ScriptInvocation<'static> {
        let ttl = new
            .use_until_ms
            .saturating_sub(self.config.clock.unix_millis())
            .max(1);
        let mut invocation = scripts::COMPARE_AND_SET.key(self.config.token_key(key));
        invocation
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or(""))
            .arg(&new.value)
            .arg(new.use_until_ms)
            .arg(ttl);
        invocation
    }

    /// What `compare_and_set(key, _, new)` answers after Redis replied: the local copy
    /// becomes `new` when it was written, and is dropped otherwise (the next read asks
    /// Redis).
    pub fn compare_and_set_answer(
        &self,
        key: &str,
        new: &StoredSecret,
        reply: RedisResult<i64>,
    ) -> Result<bool, StoreError> {
        match reply {
            Ok(1) => {
                self.cache.confirm_write(key, new);
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

    /// The script that takes (or renews) `key`'s refresh lease for `holder`. It drops the
    /// local copy first: the client asks for the lease when the token it had is missing,
    /// expiring or was rejected, so whatever happens next, the next read asks Redis.
    pub fn try_lease(&self, key: &str, holder: &str, ttl: Duration) -> ScriptInvocation<'static> {
        self.cache.forget(key);
        let mut invocation = scripts::TRY_LEASE.key(self.config.lease_key(key));
        invocation.arg(holder).arg(millis(ttl));
        invocation
    }

    /// Whether `holder` has `key`'s lease, from the reply to [`try_lease`](Self::try_lease).
    ///
    /// Drops the local copy again: a concurrent read (another caller of this store) may
    /// have filled it between the request and this reply with what Redis held *before*
    /// the lease was granted, when another server may still have been writing a new
    /// token. The holder's next read, which decides whether to fetch, must see what Redis
    /// holds under the lease, or it would fetch a token that replaces a good one.
    pub fn lease_answer(&self, key: &str, reply: RedisResult<i64>) -> Result<bool, StoreError> {
        self.cache.forget(key);
        reply
            .map(|got| got == 1)
            .map_err(|e| store_error("lease", e))
    }

    /// The script that gives `key`'s lease back if `holder` still has it.
    pub fn release_lease(&self, key: &str, holder: &str) -> ScriptInvocation<'static> {
        let mut invocation = scripts::RELEASE_LEASE.key(self.config.lease_key(key));
        invocation.arg(holder);
        invocation
    }

    /// The result of a lease release, from the reply to
    /// [`release_lease`](Self::release_lease).
    pub fn release_answer(reply: RedisResult<i64>) -> Result<(), StoreError> {
        reply.map(drop).map_err(|e| store_error("lease release", e))
    }
}

/// The decisions of a de-duplication store (blocking or async).
pub(crate) struct DedupProtocol {
    config: RedisConfig,
    namespace: String,
}

impl DedupProtocol {
    pub fn new(config: &RedisConfig, namespace: String) -> Self {
        Self {
            config: config.clone(),
            namespace,
        }
    }

    /// `Debug` of a store named `name`: configuration (without secrets) and namespace.
    pub fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("config", &self.config)
            .field("namespace", &self.namespace)
            .finish()
    }

    /// `SET <mark> 1 NX PX ttl`: marks `key` as seen for `ttl`. Never repeated on its own
    /// after a failure, since a repeat could take the push for its own retry.
    pub fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Cmd {
        let mut command = redis::cmd("SET");
        command
            .arg(self.config.dedup_key(&self.namespace, key.as_str()))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        command
    }

    /// Whether the push is seen for the first time, from the reply to
    /// [`first_seen`](Self::first_seen) (`nil` when the mark was there already).
    pub fn first_seen_answer(reply: RedisResult<redis::Value>) -> Result<bool, DedupError> {
        reply
            .map(|answer| !matches!(answer, redis::Value::Nil))
            .map_err(|e| DedupError::with_source("redis SET NX failed", e))
    }
}

#[cfg(test)]
mod tests {
    //! The decisions without a Redis: what is asked, and what the replies make of the
    //! local copy (the stores' tests run the same paths against a real redis-server).

    use super::*;
    use std::sync::Arc;

    fn args(command: &Cmd) -> Vec<String> {
        command
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => "<cursor>".to_owned(),
            })
            .collect()
    }

    fn protocol() -> TokenProtocol {
        let clock = Arc::new(card_api::ManualClock::new(1_000));
        let config = RedisConfig::new("redis://127.0.0.1/")
            .unwrap()
            .prefix("p:")
            .clock(clock);
        TokenProtocol::new(&config)
    }

    fn ask(protocol: &TokenProtocol, key: &str) -> Read {
        match protocol.get(key) {
            Get::Ask(read) => read,
            Get::Local(_) => panic!("answered from the local copy"),
        }
    }

    fn io_error() -> redis::RedisError {
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()
    }

    #[test]
    fn a_read_asks_for_the_prefixed_hash_and_its_answer_is_vouched_for() {
        let protocol = protocol();
        let read = ask(&protocol, "wxcard:access_token:wx1");
        assert_eq!(
            args(read.command()),
            [
                "HMGET",
                "p:wxcard:access_token:wx1",
                "value",
                "use_until_ms"
            ]
        );
        let reply = Ok((Some("T1".to_owned()), Some("5000".to_owned())));
        let got = protocol.read_answer("wxcard:access_token:wx1", read, reply);
        assert_eq!(got.unwrap(), Some(StoredSecret::new("T1", 5_000)));
        assert!(matches!(
            protocol.get("wxcard:access_token:wx1"),
            Get::Local(s) if s.value == "T1"
        ));
        // A lease attempt drops the copy: the next read asks Redis.
        let _ = protocol.try_lease("wxcard:access_token:wx1", "h", Duration::from_secs(1));
        ask(&protocol, "wxcard:access_token:wx1");
    }

    #[test]
    fn a_read_that_lands_while_the_lease_is_asked_for_does_not_answer_the_holder() {
        let protocol = protocol();
        let _ = protocol.try_lease("k", "h", Duration::from_secs(1));
        // Another caller of this store reads meanwhile: what Redis held before the
        // lease was granted (another server may have written since).
        let read = ask(&protocol, "k");
        let old = Ok((Some("T-old".to_owned()), Some("5000".to_owned())));
        protocol.read_answer("k", read, old).unwrap();
        assert!(protocol.lease_answer("k", Ok(1)).unwrap());
        // The holder's re-read under the lease asks Redis.
        ask(&protocol, "k");
        // Also when the lease is someone else's (the poll reads again) or the attempt
        // failed.
        assert!(!protocol.lease_answer("k", Ok(0)).unwrap());
        assert!(protocol.lease_answer("k", Err(io_error())).is_err());
    }

    #[test]
    fn compare_and_set_replies_decide_the_local_copy() {
        let protocol = protocol();
        let new = StoredSecret::new("T2", 9_000);
        assert!(protocol.compare_and_set_answer("k", &new, Ok(1)).unwrap());
        assert!(matches!(protocol.get("k"), Get::Local(s) if s.value == "T2"));
        assert!(!protocol.compare_and_set_answer("k", &new, Ok(0)).unwrap());
        ask(&protocol, "k");
        assert!(protocol.compare_and_set_answer("k", &new, Ok(1)).unwrap());
        assert!(
            protocol
                .compare_and_set_answer("k", &new, Err(io_error()))
                .is_err()
        );
        ask(&protocol, "k");
    }

    #[test]
    fn an_unreachable_redis_is_a_store_error_unless_the_fallback_is_on() {
        let protocol = protocol();
        let read = ask(&protocol, "k");
        assert!(protocol.read_answer("k", read, Err(io_error())).is_err());

        let config = RedisConfig::new("redis://127.0.0.1/")
            .unwrap()
            .clock(Arc::new(card_api::ManualClock::new(1_000)))
            .local_fallback(true);
        let protocol = TokenProtocol::new(&config);
        protocol
            .compare_and_set_answer("k", &StoredSecret::new("T", 9_000), Ok(1))
            .unwrap();
        let _ = protocol.try_lease("k", "h", Duration::from_secs(1));
        let read = ask(&protocol, "k");
        let got = protocol.read_answer("k", read, Err(io_error())).unwrap();
        assert_eq!(got, Some(StoredSecret::new("T", 9_000)));
    }

    #[test]
    fn a_push_mark_is_set_once_with_its_lifetime() {
        let config = RedisConfig::new("redis://127.0.0.1/").unwrap().prefix("p:");
        let protocol = DedupProtocol::new(&config, "wx1".to_owned());
        let command = protocol.first_seen(&DedupKey::from_string("o:1:e"), Duration::from_secs(60));
        assert_eq!(
            args(&command),
            ["SET", "p:wxcard:dedup:wx1:o:1:e", "1", "NX", "PX", "60000"]
        );
        assert!(DedupProtocol::first_seen_answer(Ok(redis::Value::Okay)).unwrap());
        assert!(!DedupProtocol::first_seen_answer(Ok(redis::Value::Nil)).unwrap());
        assert!(DedupProtocol::first_seen_answer(Err(io_error())).is_err());
    }
}
