//! One `deposit_all` run's bookkeeping: the chunks cut from the input, the fingerprints
//! that hold repeats of earlier chunks back, the report; see the [module docs](super).

use super::{
    ChunkJob, ChunkResult, DepositOptions, DepositReport, FailReason, FailedCode, Progress,
};
use crate::error::Error;
use card_model::Endpoint;
use card_model::code::GetDepositCount;
use card_model::limits::MAX_CODES_PER_CALL;
use foldhash::quality::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

/// The 64-bit fingerprint of a code, keyed: nobody can choose codes that collide
/// without the key.
type Fingerprint = fn(&RandomState, &str) -> u64;

pub(super) fn keyed_fingerprint(key: &RandomState, code: &str) -> u64 {
    // One write of the bytes: a fingerprint covers one code, so no terminator is needed.
    let mut hasher = key.build_hasher();
    hasher.write(code.as_bytes());
    hasher.finish()
}

/// The fingerprints are keyed hashes already: the set takes them as they are.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The most codes the fingerprint set is sized for up front (from the input's size
/// hint): 1 Mi codes, 18 MiB.
const PRESIZE_CODES: usize = 1 << 20;

/// The fewest held-back codes whose repeats are removed before the input ends.
pub(super) const COMPACT_MIN: usize = 1024;

/// What [`DepositJob::after_input`] hands out once the input has ended.
#[derive(Debug)]
pub(crate) enum AfterInput {
    /// A chunk to run now: the last, partly filled one, then the held-back repeats.
    Chunk(ChunkJob),
    /// Chunks handed out earlier are still running: complete one, then ask again.
    Wait,
    /// Every chunk has been handed out and completed.
    Done,
}

/// The overall bookkeeping of one `deposit_all` run; see the [module docs](super).
#[derive(Debug)]
pub(crate) struct DepositJob {
    card_id: Arc<str>,
    options: DepositOptions,
    total: Option<usize>,
    filling: Vec<String>,
    /// The indices of `filling` in the order of their codes: a code repeated inside the
    /// chunk is found by binary search (no hashing, no copy of the code).
    order: Vec<usize>,
    /// The key of `fingerprint`, random per job.
    key: RandomState,
    fingerprint: Fingerprint,
    /// The fingerprint of every code put into a chunk (not the codes themselves).
    seen: HashSet<u64, BuildHasherDefault<Prehashed>>,
    /// The fingerprints of `filling`'s codes, in the same order.
    prints: Vec<u64>,
    /// How many of `filling`'s codes were already looked up in `seen` (and added).
    settled: usize,
    /// Codes whose fingerprint an earlier code had (a repeat, or rarely a collision),
    /// held back until every other chunk has completed; sorted and without repeats
    /// once `deferred_ready`.
    pub(super) deferred: Vec<String>,
    /// The length of `deferred` at which its repeats are removed: twice its length
    /// without repeats (at least [`COMPACT_MIN`]).
    compact_at: usize,
    deferred_ready: bool,
    /// Whether the input has ended ([`after_input`](Self::after_input) was called).
    input_ended: bool,
    /// Chunks handed out so far (`report.chunks` of them are completed).
    issued: u64,
    pub(super) report: DepositReport,
    codes_done: u64,
    /// `codes_done` when progress was last reported.
    reported: u64,
    /// Whether new chunks are checked before they are sent.
    pre_check: bool,
}

impl DepositJob {
    /// A job for `card_id`; `size_hint` is the input's, giving [`Progress::total`] when
    /// exact.
    ///
    /// # Errors
    /// [`Error::Validation`] for an invalid `card_id` (nothing is sent).
    pub fn new(
        card_id: &str,
        options: DepositOptions,
        size_hint: (usize, Option<usize>),
    ) -> Result<Self, Error> {
        GetDepositCount::new(card_id).validate()?;
        let total = match size_hint {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        Ok(Self {
            card_id: Arc::from(card_id),
            options,
            total,
            filling: Vec::with_capacity(MAX_CODES_PER_CALL),
            order: Vec::with_capacity(MAX_CODES_PER_CALL),
            key: RandomState::default(),
            fingerprint: keyed_fingerprint,
            // Sized for the input when it says how long it is (not trusting a huge
            // hint: the set grows as needed past it).
            seen: HashSet::with_capacity_and_hasher(
                size_hint.0.min(PRESIZE_CODES),
                BuildHasherDefault::default(),
            ),
            prints: Vec::with_capacity(MAX_CODES_PER_CALL),
            settled: 0,
            deferred: Vec::new(),
            compact_at: COMPACT_MIN,
            deferred_ready: false,
            input_ended: false,
            issued: 0,
            report: DepositReport::default(),
            codes_done: 0,
            reported: 0,
            pre_check: options.resume,
        })
    }

    /// The job with another fingerprint function (to force collisions).
    #[cfg(test)]
    pub(super) fn with_fingerprint(mut self, fingerprint: Fingerprint) -> Self {
        self.fingerprint = fingerprint;
        self
    }

    /// Takes one input code; returns a chunk when one is full.
    pub fn push(&mut self, code: String) -> Option<ChunkJob> {
        self.report.codes_read += 1;
        if let Err(e) = card_model::code::validate_code(&code) {
            self.codes_done += 1;
            self.report.failed.push(FailedCode {
                code,
                reason: FailReason::Invalid(e),
            });
            return None;
        }
        let filling = &self.filling;
        let at = self
            .order
            .binary_search_by(|&i| filling.get(i).map_or("", String::as_str).cmp(code.as_str()));
        let at = match at {
            Ok(_) => {
                self.codes_done += 1;
                self.report.duplicates += 1;
                return None;
            }
            Err(at) => at,
        };
        self.prints.push((self.fingerprint)(&self.key, &code));
        self.order.insert(at, self.filling.len());
        self.filling.push(code);
        if self.filling.len() >= MAX_CODES_PER_CALL {
            self.settle();
            if self.filling.len() >= MAX_CODES_PER_CALL {
                return self.flush();
            }
        }
        None
    }

    /// Looks the fingerprints of the codes added since the last time up in `seen`, all
    /// at once (the set is large and cold after a chunk's HTTP work; independent
    /// lookups overlap their cache misses), and adds them. A code whose fingerprint an
    /// earlier chunk had (a repeat, or rarely another code with the same fingerprint)
    /// leaves the chunk being filled: it waits until no other chunk can hold it. Two
    /// codes of this chunk with one fingerprint are distinct (exact repeats inside the
    /// chunk are dropped by `push`) and both stay.
    fn settle(&mut self) {
        let new = self.settled..self.filling.len();
        let mut earlier = [false; MAX_CODES_PER_CALL];
        for (flag, print) in earlier.iter_mut().zip(&self.prints[new.clone()]) {
            *flag = self.seen.contains(print);
        }
        let mut any = false;
        for (&flag, &print) in earlier.iter().zip(&self.prints[new.clone()]) {
            if flag {
                any = true;
            } else {
                self.seen.insert(print);
            }
        }
        if any {
            self.hold_back(new.start, &earlier);
        }
        self.settled = self.filling.len();
    }

    /// Moves the codes `earlier` marks (counted from `from`) out of the chunk being
    /// filled into the held-back list, keeping `order` right.
    fn hold_back(&mut self, from: usize, earlier: &[bool; MAX_CODES_PER_CALL]) {
        let codes = std::mem::replace(&mut self.filling, Vec::with_capacity(MAX_CODES_PER_CALL));
        let prints = std::mem::replace(&mut self.prints, Vec::with_capacity(MAX_CODES_PER_CALL));
        let mut new_index = [usize::MAX; MAX_CODES_PER_CALL];
        for (i, (code, print)) in codes.into_iter().zip(prints).enumerate() {
            if i >= from && earlier[i - from] {
                self.deferred.push(code);
            } else {
                new_index[i] = self.filling.len();
                self.filling.push(code);
                self.prints.push(print);
            }
        }
        self.order.retain(|&i| new_index[i] != usize::MAX);
        for i in &mut self.order {
            *i = new_index[*i];
        }
        if self.deferred.len() >= self.compact_at {
            self.compact_deferred();
        }
    }

    /// The chunk being filled, if it holds any code (after [`Self::settle`]).
    pub(super) fn flush(&mut self) -> Option<ChunkJob> {
        self.settle();
        if self.filling.is_empty() {
            return None;
        }
        self.order.clear();
        self.prints.clear();
        self.settled = 0;
        let codes = std::mem::replace(&mut self.filling, Vec::with_capacity(MAX_CODES_PER_CALL));
        Some(self.chunk(codes, self.pre_check))
    }

    fn chunk(&mut self, codes: Vec<String>, pre_check: bool) -> ChunkJob {
        self.issued += 1;
        ChunkJob::new(self.card_id.clone(), codes, &self.options, pre_check)
    }

    /// Call it when the input has ended, then again until it says [`AfterInput::Done`]
    /// ([`AfterInput::Wait`]: after completing a chunk). It hands out the last, partly
    /// filled chunk; then, once every chunk handed out has completed, the held-back
    /// codes without repeats, each of their chunks checked before anything is sent.
    pub fn after_input(&mut self) -> AfterInput {
        if !self.input_ended {
            self.input_ended = true;
            let last = self.flush();
            // No chunk is filled any more: the fingerprints are done with.
            self.seen = HashSet::default();
            self.prints = Vec::new();
            if let Some(chunk) = last {
                return AfterInput::Chunk(chunk);
            }
        }
        let running = self.issued > self.report.chunks;
        if !self.deferred_ready {
            if running {
                // The held-back codes wait until no other chunk can store them.
                return AfterInput::Wait;
            }
            self.prepare_deferred();
        }
        if !self.deferred.is_empty() {
            let at = self.deferred.len().saturating_sub(MAX_CODES_PER_CALL);
            let codes = self.deferred.split_off(at);
            return AfterInput::Chunk(self.chunk(codes, true));
        }
        if running {
            AfterInput::Wait
        } else {
            AfterInput::Done
        }
    }

    /// Removes the repeats among the held-back codes, exactly (they are compared as
    /// text). A held-back code whose earlier occurrence ended failed or missing is
    /// reported by its held-back occurrence alone: the earlier one moves to
    /// `duplicates`.
    fn prepare_deferred(&mut self) {
        self.deferred_ready = true;
        self.compact_deferred();
        let deferred = &mut self.deferred;
        let held = |code: &str| deferred.binary_search_by(|c| c.as_str().cmp(code)).is_ok();
        let r = &mut self.report;
        let (failed, missing) = (r.failed.len(), r.verified_missing.len());
        r.failed
            .retain(|f| matches!(f.reason, FailReason::Invalid(_)) || !held(&f.code));
        r.verified_missing.retain(|code| !held(code));
        let moved = (failed - r.failed.len() + missing - r.verified_missing.len()) as u64;
        r.duplicates += moved;
        deferred.shrink_to_fit();
    }

    /// Sorts the held-back codes and removes their repeats (counted in `duplicates`).
    /// Done when the list has doubled since the last time, so it holds at most twice
    /// its distinct codes (or [`COMPACT_MIN`]) however often the input repeats them
    /// (amortized `n log n`).
    fn compact_deferred(&mut self) {
        let deferred = &mut self.deferred;
        deferred.sort_unstable();
        let before = deferred.len();
        deferred.dedup();
        let repeats = (before - deferred.len()) as u64;
        self.report.duplicates += repeats;
        self.codes_done += repeats;
        self.compact_at = (2 * deferred.len()).max(COMPACT_MIN);
    }

    /// Merges a finished chunk into the report; the progress to report.
    pub fn complete(&mut self, chunk: ChunkResult) -> Progress {
        let r = &mut self.report;
        r.chunks += 1;
        r.deposited += chunk.deposited;
        r.already_present += chunk.already_present;
        r.deposit_calls += chunk.deposit_calls;
        r.failed.extend(chunk.failed);
        r.verified_missing.extend(chunk.missing);
        if chunk.answered_duplicates > 0 {
            // The card holds some of the input already: check the next chunks first.
            self.pre_check = true;
        }
        self.codes_done += chunk.codes as u64;
        self.reported = self.codes_done;
        self.progress()
    }

    /// Once every chunk has completed: the progress to report when codes were handled
    /// since the last report (rejected codes or repeats after the last chunk), so that
    /// the last report counts every code read.
    pub fn last_progress(&mut self) -> Option<Progress> {
        (self.codes_done > self.reported).then(|| {
            self.reported = self.codes_done;
            self.progress()
        })
    }

    /// The progress so far.
    pub fn progress(&self) -> Progress {
        Progress {
            chunks_done: self.report.chunks,
            codes_done: self.codes_done,
            total: self.total,
        }
    }

    /// The final `getdepositcount` request.
    pub fn count_request(&self) -> GetDepositCount {
        GetDepositCount::new(&*self.card_id)
    }

    /// The report, with the result of the final count.
    pub fn finish(mut self, deposit_count: Result<u64, Error>) -> DepositReport {
        debug_assert!(
            self.filling.is_empty() && self.deferred.is_empty(),
            "deposit job finished with codes not handed out"
        );
        match deposit_count {
            Ok(count) => self.report.deposit_count = Some(count),
            Err(error) => self.report.count_error = Some(error),
        }
        self.report
    }
}
