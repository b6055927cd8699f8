//! De-duplication of WeChat's retried pushes.
//!
//! WeChat retries a push that was not answered within 5 s, up to three times. A
//! [`DedupStore`] answers "is this the first time I see this key within the TTL?", so
//! a handler runs once per push. The store may be in process or shared by several
//! servers (Redis), so that a retry reaching another server is still skipped.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use card_model::event::Event;
use sha1::{Digest, Sha1};

use crate::signature::to_hex;

/// How long a push's key is remembered unless told otherwise: WeChat retries three
/// times, five seconds apart, so 15 s is the least; this leaves room for slow networks.
pub const DEFAULT_DEDUP_TTL: Duration = Duration::from_secs(60);

/// How many keys a [`MemoryDedupStore`] holds unless told otherwise.
pub const DEFAULT_DEDUP_CAPACITY: usize = 100_000;

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

    /// The key of a pushed event: its `MsgId` (with `ToUserName`) when it has one;
    /// otherwise `ToUserName`, `FromUserName`, `CreateTime`, `Event`, `EventKey`,
    /// `CardId` and `UserCardCode` together, so that several cards a user takes in the
    /// same second (a multi-card QR code, a batch add) are told apart.
    ///
    /// The text form is the 40-hex-digit SHA-1 of those fields (each length-prefixed, an
    /// absent field distinct from an empty one): bounded whatever the push holds, and
    /// free of the user's identifiers.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use card_model::event::{Event, UserGetCard};
    /// use card_push::DedupKey;
    ///
    /// let mut a = UserGetCard::new("gh_1", "o1", 1_700_000_000, "p1");
    /// a.user_card_code = Some("111".to_owned());
    /// let mut b = a.clone();
    /// b.user_card_code = Some("222".to_owned());
    /// let (a, b) = (Event::from(a), Event::from(b));
    /// assert_ne!(DedupKey::for_event(&a), DedupKey::for_event(&b));
    /// assert_eq!(DedupKey::for_event(&a), DedupKey::for_event(&a.clone()));
    /// assert_eq!(DedupKey::for_event(&a).as_str().len(), 40);
    /// # Ok(())
    /// # }
    /// ```
    pub fn for_event(event: &Event) -> Self {
        let mut hasher = Sha1::new();
        let mut put = |value: Option<&str>| match value {
            Some(v) => {
                let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
                hasher.update(len.to_be_bytes());
                hasher.update(v.as_bytes());
            }
            None => hasher.update(u32::MAX.to_be_bytes()),
        };
        match event {
            Event::UserGetCard(e) => {
                let extra = e.extra();
                if let Some(msg_id) = extra.get("MsgId").filter(|m| !m.is_empty()) {
                    put(Some("MsgId"));
                    put(Some(&e.to_user_name));
                    put(Some(msg_id));
                } else {
                    put(Some("Fields"));
                    put(Some(&e.to_user_name));
                    put(Some(&e.from_user_name));
                    put(Some(&e.create_time.to_string()));
                    put(Some("user_get_card"));
                    put(extra.get("EventKey").map(String::as_str));
                    put(Some(&e.card_id));
                    put(e.user_card_code.as_deref());
                }
            }
            Event::Other { event, fields, .. } => {
                let get = |name: &str| fields.get(name).map(String::as_str);
                if let Some(msg_id) = get("MsgId").filter(|m| !m.is_empty()) {
                    put(Some("MsgId"));
                    put(get("ToUserName"));
                    put(Some(msg_id));
                } else {
                    put(Some("Fields"));
                    put(get("ToUserName"));
                    put(get("FromUserName"));
                    put(get("CreateTime"));
                    put(event.as_deref());
                    put(get("EventKey"));
                    put(get("CardId"));
                    put(get("UserCardCode"));
                }
            }
            // Event may grow: hash its debug form, which holds every field.
            other => {
                put(Some("Debug"));
                put(Some(&format!("{other:?}")));
            }
        }
        Self(to_hex(&hasher.finalize().into()))
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

    /// Forgets `key`, so that WeChat's next retry of the push is handled (called when
    /// handling a new push failed). The default does nothing: the retry is then skipped.
    ///
    /// # Errors
    /// [`DedupError`] when the store cannot answer.
    fn forget(&self, key: &DedupKey) -> Result<(), DedupError> {
        let _ = key;
        Ok(())
    }
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

    /// As [`DedupStore::forget`].
    ///
    /// # Errors
    /// [`DedupError`] when the store cannot answer.
    async fn forget(&self, key: &DedupKey) -> Result<(), DedupError> {
        let _ = key;
        Ok(())
    }
}

#[async_trait::async_trait]
impl<T: DedupStore + ?Sized> AsyncDedupStore for T {
    async fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError> {
        DedupStore::first_seen(self, key, ttl)
    }

    async fn forget(&self, key: &DedupKey) -> Result<(), DedupError> {
        DedupStore::forget(self, key)
    }
}

/// An in-process [`DedupStore`]: keys expire after their TTL, and at most `capacity`
/// are held (when full, the oldest key is dropped first, so memory stays bounded under
/// any load; a retry of a push that old would then be handled again).
pub struct MemoryDedupStore {
    inner: Mutex<Memory>,
    capacity: usize,
}

struct Memory {
    /// Key to its expiry.
    expiries: HashMap<DedupKey, Instant>,
    /// Keys in the order they were recorded, with the expiry recorded then.
    order: VecDeque<(Instant, DedupKey)>,
}

impl MemoryDedupStore {
    /// A store holding at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Memory {
                expiries: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    /// How many keys are held (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.lock().expiries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        // A panic while holding the lock leaves consistent maps (every update is a
        // single insert or remove), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`DedupStore::first_seen`] at a given instant (the trait method uses the
    /// current one).
    pub fn first_seen_at(&self, key: &DedupKey, ttl: Duration, now: Instant) -> bool {
        let mut m = self.lock();
        // Sweep expired keys from the front, then make room.
        while let Some((at, _)) = m.order.front() {
            if *at > now && m.order.len() < self.capacity {
                break;
            }
            if let Some((at, old)) = m.order.pop_front() {
                // Drop the key only if this entry is its latest recording.
                if m.expiries.get(&old) == Some(&at) {
                    m.expiries.remove(&old);
                }
            }
        }
        if m.expiries.get(key).is_some_and(|&expiry| expiry > now) {
            return false;
        }
        let expiry = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        m.expiries.insert(key.clone(), expiry);
        m.order.push_back((expiry, key.clone()));
        true
    }
}

impl Default for MemoryDedupStore {
    fn default() -> Self {
        Self::new(DEFAULT_DEDUP_CAPACITY)
    }
}

impl fmt::Debug for MemoryDedupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDedupStore")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl DedupStore for MemoryDedupStore {
    fn first_seen(&self, key: &DedupKey, ttl: Duration) -> Result<bool, DedupError> {
        Ok(self.first_seen_at(key, ttl, Instant::now()))
    }

    fn forget(&self, key: &DedupKey) -> Result<(), DedupError> {
        self.lock().expiries.remove(key);
        Ok(())
    }
}
