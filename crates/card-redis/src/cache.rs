//! The local copy of what Redis last said, shared by the blocking and async token stores.

use crate::RedisConfig;
use card_api::{Clock, StoredSecret};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

struct Copy {
    secret: StoredSecret,
    /// When Redis last confirmed it (read it back, or took it by compare-and-set); none
    /// once it was dropped (kept only for the local fallback).
    confirmed: Option<Instant>,
}

/// Values by the client's store key, with when Redis vouched for them.
pub(crate) struct LocalCache {
    copies: RwLock<HashMap<String, Copy>>,
    /// Moves on every write or drop, so that a slow read from Redis that started before
    /// a write does not put an older value back.
    epoch: AtomicU64,
    revalidate_after: Duration,
    fallback: bool,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys and expiries only, never values.
        let copies = self.read();
        f.debug_struct("LocalCache")
            .field("keys", &copies.keys().collect::<Vec<_>>())
            .field("revalidate_after", &self.revalidate_after)
            .field("local_fallback", &self.fallback)
            .finish()
    }
}

impl LocalCache {
    pub fn new(config: &RedisConfig) -> Self {
        Self {
            copies: RwLock::default(),
            epoch: AtomicU64::new(0),
            revalidate_after: config.revalidate_after,
            fallback: config.local_fallback,
            clock: Arc::clone(&config.clock),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Copy>> {
        // The map stays consistent whatever panicked while holding the lock.
        self.copies.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Copy>> {
        self.copies.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The local copy of `key` while Redis vouches for it (confirmed less than
    /// `revalidate_after` ago) and it is still to be used.
    pub fn vouched(&self, key: &str) -> Option<StoredSecret> {
        if self.revalidate_after.is_zero() {
            return None;
        }
        let copies = self.read();
        let copy = copies.get(key)?;
        let usable = copy
            .confirmed
            .is_some_and(|at| at.elapsed() < self.revalidate_after)
            && self.clock.unix_millis() < copy.secret.use_until_ms;
        usable.then(|| copy.secret.clone())
    }

    /// With the local fallback on: the last confirmed copy of `key` while it is still to
    /// be used, however old its confirmation.
    pub fn fallback(&self, key: &str) -> Option<StoredSecret> {
        if !self.fallback {
            return None;
        }
        let copies = self.read();
        let copy = copies.get(key)?;
        (self.clock.unix_millis() < copy.secret.use_until_ms).then(|| copy.secret.clone())
    }

    /// The epoch to pass to [`confirm_read`](Self::confirm_read) for a read starting now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Records what a read of `key` from Redis answered, unless a write or drop happened
    /// since it started (`epoch`).
    pub fn confirm_read(&self, key: &str, entry: Option<&StoredSecret>, epoch: u64) {
        let mut copies = self.write();
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        Self::set(&mut copies, key, entry);
    }

    /// Records that Redis now holds `secret` under `key` (this store wrote it).
    pub fn confirm_write(&self, key: &str, secret: &StoredSecret) {
        let mut copies = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        Self::set(&mut copies, key, Some(secret));
    }

    /// Drops the copy of `key` (with the local fallback on, it stays only as a fallback):
    /// the next read asks Redis.
    pub fn forget(&self, key: &str) {
        let mut copies = self.write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if self.fallback {
            if let Some(copy) = copies.get_mut(key) {
                copy.confirmed = None;
            }
        } else {
            copies.remove(key);
        }
    }

    fn set(copies: &mut HashMap<String, Copy>, key: &str, entry: Option<&StoredSecret>) {
        match entry {
            Some(secret) => match copies.get_mut(key) {
                Some(copy) => {
                    copy.secret.clone_from(secret);
                    copy.confirmed = Some(Instant::now());
                }
                None => {
                    copies.insert(
                        key.to_owned(),
                        Copy {
                            secret: secret.clone(),
                            confirmed: Some(Instant::now()),
                        },
                    );
                }
            },
            None => {
                copies.remove(key);
            }
        }
    }
}
