//! The credential flow: one caller's way to a usable access token or api_ticket, as a
//! pure state machine ([`SecretFlow`]) whose store operations, lock, waits and fetches
//! the clients carry out.

use super::*;

/// A freshly fetched credential.
pub(crate) struct Fetched {
    pub(super) value: String,
    pub(super) expires_in: u64,
}

/// A token-store operation a [`SecretFlow`] asks its client to carry out (on a
/// [`TokenStore`] or, in the async client, an `AsyncTokenStore`), answered with
/// [`SecretEvent::Stored`].
pub(crate) enum StoreOp<'a> {
    /// [`TokenStore::get`]: answered with [`StoreReply::Entry`].
    Get { key: &'a str },
    /// [`TokenStore::compare_and_set`]: answered with [`StoreReply::Flag`].
    CompareAndSet {
        key: &'a str,
        expected: Option<String>,
        new: StoredSecret,
    },
    /// [`TokenStore::try_lease`]: answered with [`StoreReply::Flag`].
    TryLease {
        key: &'a str,
        holder: &'a str,
        ttl: Duration,
    },
    /// [`TokenStore::release_lease`]: answered with [`StoreReply::Released`].
    ReleaseLease { key: &'a str, holder: &'a str },
}

/// What a store operation returned.
pub(crate) enum StoreReply {
    /// The entry [`StoreOp::Get`] read.
    Entry(Option<StoredSecret>),
    /// Whether [`StoreOp::CompareAndSet`] wrote, or [`StoreOp::TryLease`] got the lease.
    Flag(bool),
    /// [`StoreOp::ReleaseLease`] is done.
    Released,
}

impl StoreReply {
    fn mismatch() -> StoreError {
        StoreError::new("internal: a token-store answer did not match its operation")
    }

    fn entry(self) -> Result<Option<StoredSecret>, StoreError> {
        match self {
            Self::Entry(entry) => Ok(entry),
            _ => Err(Self::mismatch()),
        }
    }

    fn flag(self) -> Result<bool, StoreError> {
        match self {
            Self::Flag(flag) => Ok(flag),
            _ => Err(Self::mismatch()),
        }
    }
}

impl StoreOp<'_> {
    /// Carries the operation out on a synchronous store.
    pub fn run(self, store: &dyn TokenStore) -> Result<StoreReply, StoreError> {
        match self {
            Self::Get { key } => store.get(key).map(StoreReply::Entry),
            Self::CompareAndSet { key, expected, new } => store
                .compare_and_set(key, expected.as_deref(), new)
                .map(StoreReply::Flag),
            Self::TryLease { key, holder, ttl } => {
                store.try_lease(key, holder, ttl).map(StoreReply::Flag)
            }
            Self::ReleaseLease { key, holder } => store
                .release_lease(key, holder)
                .map(|()| StoreReply::Released),
        }
    }

    /// Carries the operation out on an async store.
    #[cfg(feature = "async")]
    pub async fn run_async(
        self,
        store: &dyn crate::store::AsyncTokenStore,
    ) -> Result<StoreReply, StoreError> {
        match self {
            Self::Get { key } => store.get(key).await.map(StoreReply::Entry),
            Self::CompareAndSet { key, expected, new } => store
                .compare_and_set(key, expected.as_deref(), new)
                .await
                .map(StoreReply::Flag),
            Self::TryLease { key, holder, ttl } => store
                .try_lease(key, holder, ttl)
                .await
                .map(StoreReply::Flag),
            Self::ReleaseLease { key, holder } => store
                .release_lease(key, holder)
                .await
                .map(|()| StoreReply::Released),
        }
    }
}

#[cfg(feature = "async")]
impl StoreHandle {
    /// Carries `op` out on whichever kind of store this is (a sync store is called
    /// in place, as it always was).
    pub async fn run(&self, op: StoreOp<'_>) -> Result<StoreReply, StoreError> {
        match self {
            Self::Sync(store) => op.run(store.as_ref()),
            Self::Async(store) => op.run_async(store.as_ref()).await,
        }
    }
}

/// What a client does next on its way to a credential (see [`SecretFlow`]).
pub(crate) enum SecretStep<'a> {
    /// Carry out this store operation; answer [`SecretEvent::Stored`].
    Store(StoreOp<'a>),
    /// Take this process's refresh lock of the credential kind if it is free, and
    /// hold it until [`Done`](Self::Done); answer [`SecretEvent::Locked`], or
    /// [`SecretEvent::Busy`] when another caller holds it (then do not wait for it).
    TryLock,
    /// Wait until the caller that holds the refresh lock gives it back (do not take
    /// it: every caller waiting so wakes at once); answer [`SecretEvent::Unlocked`].
    AwaitUnlock,
    /// Take this process's refresh lock of the credential kind, waiting for it, and
    /// hold it until [`Done`](Self::Done); answer [`SecretEvent::Locked`].
    Lock,
    /// Another server holds the refresh lease: wait this long; answer
    /// [`SecretEvent::Slept`].
    Sleep(Duration),
    /// This caller holds the lease: drive this plan; answer [`SecretEvent::Fetched`].
    Fetch(Box<CallPlan<Fetched>>),
    /// The credential to use (`None`: `may_fetch` was false and the store holds
    /// nothing but the stale one), or why there is none.
    Done(Result<Option<Granted>, Error>),
}

/// A credential a [`SecretFlow`] ends with.
pub(crate) struct Granted {
    /// The token or ticket.
    pub value: String,
    /// Whether this flow fetched it (rather than finding it in the store).
    pub fetched: bool,
}

impl Granted {
    fn stored(value: String) -> Option<Self> {
        Some(Self {
            value,
            fetched: false,
        })
    }
}

/// What happened to the last [`SecretStep`].
pub(crate) enum SecretEvent {
    /// Nothing yet.
    Start,
    /// What the store operation returned.
    Stored(Result<StoreReply, StoreError>),
    /// The refresh lock is held.
    Locked,
    /// [`SecretStep::TryLock`]: another caller holds the lock.
    Busy,
    /// [`SecretStep::AwaitUnlock`] is over.
    Unlocked,
    /// The wait is over.
    Slept,
    /// What the fetch returned.
    Fetched(Result<Fetched, Error>),
}

/// Where a [`SecretFlow`] is: which answer it waits for.
pub(crate) enum Phase {
    /// Not started.
    Start,
    /// The first read of the cache.
    Lookup,
    /// Trying this process's refresh lock.
    Trying,
    /// Waiting for the refresh in progress in this process to end.
    Queued,
    /// Reading the cache after the refresh this caller waited for.
    Rechecking,
    /// Waiting for this process's refresh lock.
    Locking,
    /// Reading the cache again under the lock (or after a wait).
    Reading,
    /// Asking for the refresh lease.
    Leasing,
    /// Waiting for another server's refresh.
    Waiting,
    /// Reading the cache right after taking the lease.
    Rereading,
    /// Fetching; the value the store held when the lease was taken.
    Fetching { observed: Option<String> },
    /// Writing the fetched `value` with compare-and-set.
    Storing { value: String },
    /// The store moved on meanwhile: reading what it holds.
    Converging { value: String },
    /// Giving the lease back, then answering `then`; `finished` when a refresh ended
    /// (its outcome is recorded for the callers that waited for it).
    Releasing {
        then: Result<Granted, Error>,
        finished: bool,
    },
    /// Done.
    Over,
}

/// The last finished refresh of one credential kind in this process.
#[derive(Default)]
pub(crate) struct RefreshRecord {
    /// Refreshes finished so far.
    pub(crate) generation: u64,
    /// How the last one failed, if it did.
    pub(crate) failure: Option<Error>,
}

/// One caller's way to a usable credential of one kind (other than a stale one): the
/// whole credential logic as a pure state machine, like [`CallPlan`]. It decides; the
/// client carries out its [`SecretStep`]s (store operations, the in-process refresh
/// lock, waits, the fetch), blocking or async, and reports each as a [`SecretEvent`].
///
/// The way: read the cache; if it has nothing usable, queue for this process's refresh
/// lock (single flight), then, holding it: use what another caller stored meanwhile,
/// share the failure of the refresh this caller waited for, take the store's refresh
/// lease, or wait for another server's refresh (bounded by the lease's lifetime). The
/// lease holder reads the store once more, fetches, writes the new credential with
/// compare-and-set (only over the value it saw: it never clobbers one another server
/// stored meanwhile), and gives the lease back (a failure to do so is only warned
/// about: the lease expires).
pub(crate) struct SecretFlow<'a> {
    pub(super) core: &'a Core,
    pub(super) kind: SecretKind,
    pub(super) stale: Option<&'a str>,
    /// Whether this flow may fetch to replace `stale` (see [`Step::AccessToken`]).
    pub(super) may_fetch: bool,
    /// The refresh generation when this caller queued for the lock.
    pub(super) generation: u64,
    /// Times this caller found the refresh lock busy and waited for its end.
    pub(super) rounds: u32,
    pub(super) waited: u32,
    pub(super) phase: Phase,
}

impl<'a> SecretFlow<'a> {
    /// The next step, given what happened to the last one.
    pub fn next(&mut self, event: SecretEvent) -> SecretStep<'a> {
        let phase = std::mem::replace(&mut self.phase, Phase::Over);
        self.advance(phase, event)
            .unwrap_or_else(|e| SecretStep::Done(Err(e)))
    }

    fn key(&self) -> &'a str {
        self.core.key(self.kind)
    }

    /// The failure of a refresh (or of a lease wait) that ended in this process since
    /// this caller queued: it is this caller's too.
    fn shared_failure(&self) -> Result<(), Error> {
        let record = self.core.record(self.kind);
        match (record.generation != self.generation, &record.failure) {
            (true, Some(failure)) => Err(failure.shared_copy()),
            _ => Ok(()),
        }
    }

    fn get(&mut self, phase: Phase) -> SecretStep<'a> {
        self.phase = phase;
        SecretStep::Store(StoreOp::Get { key: self.key() })
    }

    /// Whether this caller may hold the store's refresh lease now: from asking for it
    /// until its release was carried out (giving back a lease one does not hold does
    /// nothing). While it does, the client keeps a drop guard that
    /// gives the lease back on any other way out (a panic, a dropped future).
    pub fn may_hold_lease(&self) -> bool {
        matches!(
            self.phase,
            Phase::Leasing
                | Phase::Rereading
                | Phase::Fetching { .. }
                | Phase::Storing { .. }
                | Phase::Converging { .. }
                | Phase::Releasing { .. }
        )
    }

    fn release(&mut self, then: Result<Granted, Error>, finished: bool) -> SecretStep<'a> {
        self.phase = Phase::Releasing { then, finished };
        SecretStep::Store(StoreOp::ReleaseLease {
            key: self.key(),
            holder: &self.core.holder,
        })
    }

    /// After the fetch: write what it got, or give the lease back on failure.
    fn fetched(
        &mut self,
        observed: Option<String>,
        fetched: Result<Fetched, Error>,
    ) -> SecretStep<'a> {
        let f = match fetched {
            Ok(f) => f,
            Err(e) => return self.release(Err(e), true),
        };
        let new = StoredSecret::new(f.value.clone(), self.core.use_until(f.expires_in));
        if f.expires_in < MIN_EXPIRES_IN {
            tracing::warn!(
                expires_in = f.expires_in,
                floor = MIN_EXPIRES_IN,
                "{} came with a very short lifetime; it is kept for the floor",
                self.kind.as_str()
            );
        }
        self.phase = Phase::Storing { value: f.value };
        SecretStep::Store(StoreOp::CompareAndSet {
            key: self.key(),
            expected: observed,
            new,
        })
    }

    fn advance(&mut self, phase: Phase, event: SecretEvent) -> Result<SecretStep<'a>, Error> {
        let core = self.core;
        // A usable entry's value is moved out (no copy of the token per call); an
        // unusable entry is kept whole.
        let usable = |reply: Result<StoreReply, StoreError>, stale| -> Result<_, Error> {
            Ok(match reply?.entry()? {
                Some(entry) if core.usable(&entry, stale) => (Some(entry.value), None),
                entry => (None, entry),
            })
        };
        Ok(match (phase, event) {
            (Phase::Start, SecretEvent::Start) => {
                if let (SecretKind::AccessToken, TokenSource::Fixed(token)) =
                    (self.kind, &core.config.token_source)
                {
                    return Ok(SecretStep::Done(Ok(Granted::stored(
                        token.expose().to_owned(),
                    ))));
                }
                self.get(Phase::Lookup)
            }
            (Phase::Lookup, SecretEvent::Stored(reply)) => {
                if let (Some(value), _) = usable(reply, self.stale)? {
                    return Ok(SecretStep::Done(Ok(Granted::stored(value))));
                }
                // Before queueing: a refresh that ends meanwhile was waited for.
                self.generation = core.record(self.kind).generation;
                self.phase = Phase::Trying;
                SecretStep::TryLock
            }
            (Phase::Trying, SecretEvent::Busy) => {
                // A refresh is in progress here: wait for its end along with every
                // other caller waiting for it, rather than one after another.
                self.phase = Phase::Queued;
                SecretStep::AwaitUnlock
            }
            (Phase::Queued, SecretEvent::Unlocked) => self.get(Phase::Rechecking),
            (Phase::Rechecking, SecretEvent::Stored(reply)) => {
                if let (Some(value), _) = usable(reply, self.stale)? {
                    return Ok(SecretStep::Done(Ok(Granted::stored(value))));
                }
                self.shared_failure()?;
                // Still nothing usable (that refresh was for another token): try again
                // without queueing one behind another, a few times, then queue.
                self.rounds += 1;
                if self.rounds < MAX_LOCK_ROUNDS {
                    self.phase = Phase::Trying;
                    return Ok(SecretStep::TryLock);
                }
                self.phase = Phase::Locking;
                SecretStep::Lock
            }
            (Phase::Trying | Phase::Locking, SecretEvent::Locked)
            | (Phase::Waiting, SecretEvent::Slept) => self.get(Phase::Reading),
            (Phase::Reading, SecretEvent::Stored(reply)) => {
                if let (Some(value), _) = usable(reply, self.stale)? {
                    return Ok(SecretStep::Done(Ok(Granted::stored(value))));
                }
                self.shared_failure()?;
                if !self.may_fetch {
                    // The store holds nothing better than the rejected token, and this
                    // caller may not fetch again.
                    return Ok(SecretStep::Done(Ok(None)));
                }
                self.phase = Phase::Leasing;
                SecretStep::Store(StoreOp::TryLease {
                    key: self.key(),
                    holder: &core.holder,
                    ttl: core.config.lease_ttl,
                })
            }
            (Phase::Leasing, SecretEvent::Stored(reply)) => {
                if reply?.flag()? {
                    // Another server may have written just before we took the lease.
                    return Ok(self.get(Phase::Rereading));
                }
                let polls =
                    core.config.lease_ttl.as_millis() / core.config.lease_poll.as_millis().max(1);
                if u128::from(self.waited) > polls + 1 {
                    let error: Error = StoreError::new(format!(
                        "gave up waiting for another holder's refresh of {}",
                        self.kind.as_str()
                    ))
                    .into();
                    // Shared with the callers queued behind this one, as a failed fetch
                    // is: they do not start a wait of their own.
                    let mut record = core.record(self.kind);
                    record.generation += 1;
                    record.failure = Some(error.shared_copy());
                    return Err(error);
                }
                self.waited += 1;
                self.phase = Phase::Waiting;
                SecretStep::Sleep(core.config.lease_poll)
            }
            (Phase::Rereading, SecretEvent::Stored(reply)) => match usable(reply, self.stale)? {
                (Some(value), _) => self.release(
                    Ok(Granted {
                        value,
                        fetched: false,
                    }),
                    false,
                ),
                (None, entry) => {
                    let observed = entry.map(|e| e.value);
                    match core.refresh_plan(self.kind) {
                        Ok(plan) => {
                            self.phase = Phase::Fetching { observed };
                            SecretStep::Fetch(Box::new(plan))
                        }
                        Err(e) => self.fetched(observed, Err(e)),
                    }
                }
            },
            (Phase::Fetching { observed }, SecretEvent::Fetched(fetched)) => {
                self.fetched(observed, fetched)
            }
            (Phase::Storing { value }, SecretEvent::Stored(reply)) => {
                match reply.and_then(StoreReply::flag) {
                    Ok(true) => self.release(
                        Ok(Granted {
                            value,
                            fetched: true,
                        }),
                        true,
                    ),
                    Ok(false) => self.get(Phase::Converging { value }),
                    Err(e) => self.release(Err(e.into()), true),
                }
            }
            (Phase::Converging { value }, SecretEvent::Stored(reply)) => {
                // Someone else stored one meanwhile: converge on it while it is good.
                let then = usable(reply, None).map(|(good, _)| Granted {
                    value: good.unwrap_or(value),
                    fetched: true,
                });
                self.release(then, true)
            }
            (Phase::Releasing { then, finished }, SecretEvent::Stored(reply)) => {
                if let Err(e) = reply {
                    tracing::warn!(error = %e, "could not release the refresh lease; it will expire");
                }
                if finished {
                    let mut record = core.record(self.kind);
                    record.generation += 1;
                    record.failure = then.as_ref().err().map(Error::shared_copy);
                }
                SecretStep::Done(then.map(Some))
            }
            _ => {
                return Err(StoreError::new(
                    "internal: the credential flow was driven out of order",
                )
                .into());
            }
        })
    }
}
