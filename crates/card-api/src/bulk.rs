//! Bulk workflows built on the clients' single calls: the custom-code import
//! (`Client::deposit_all`, `AsyncClient::deposit_all` and
//! `AsyncClient::deposit_all_stream`), its [`DepositOptions`], [`Progress`] and
//! [`DepositReport`].
//!
//! * The input codes are read one by one; invalid ones are rejected up front
//!   (reported in [`DepositReport::failed`] with [`FailReason::Invalid`], never sent),
//!   a code repeated inside the chunk being filled is dropped (counted in
//!   [`DepositReport::duplicates`]), and the rest is cut into chunks of at most
//!   [`MAX_CODES_PER_CALL`] codes.
//! * A code that an earlier chunk already had is not put into a chunk: it is held
//!   back. The run keeps a 64-bit fingerprint of every code it put into a chunk (a hash
//!   keyed by a random key of the run, so nobody can choose codes that collide); a code
//!   whose fingerprint was seen before (a repeat, or rarely another code with the same
//!   fingerprint) waits until the input has ended and every other chunk has completed,
//!   on both clients. Then the held-back codes lose their repeats (compared as text,
//!   counted in [`DepositReport::duplicates`]) and are cut into chunks that are always
//!   checked with `checkcode` before anything is sent: a code found stored is *already
//!   present* (its first occurrence was counted by its own chunk, or the card held it
//!   before the run), the others are deposited as any chunk's codes. So no two chunks
//!   ever hold the same code, and a repeat is never sent to WeChat again.
//! * A fresh import costs two calls per chunk: `deposit`, then one `checkcode` to
//!   verify. When resuming ([`DepositOptions::resume`]), or once a deposit answer shows
//!   that the card already held some of the input (WeChat's `duplicate_code`: a resume
//!   without the flag), each chunk is checked *before* it is sent too, so codes already
//!   stored are not sent again. A deposit whose outcome is unknown (its answer was lost,
//!   or WeChat answered -1 or a 5xx) is not repeated blindly: the client's own retry
//!   does not re-send it inside `deposit_all`, and the chunk checks what WeChat holds
//!   before depositing the rest, so a code WeChat has accepted is never sent a second
//!   time. Codes still missing after an accepted deposit are deposited again up to
//!   [`DepositOptions::fail_retries`] times, then reported. A call that keeps failing
//!   (after the client's own retries) is repeated up to [`DepositOptions::max_rounds`]
//!   times, then the import stops with that error.
//! * Counting follows WeChat's answers: a code is *deposited* when this run's deposit
//!   stored it, *already present* when it was stored before (found by the pre-check,
//!   or answered as a duplicate). After a deposit whose answer was lost, the codes the
//!   check finds are counted as deposited by this run; since no other chunk holds them,
//!   that is exact whatever the input's repeats and whatever answers were lost, on both
//!   clients, sequential or concurrent. (One case stays unknowable: a code the card
//!   held *before* the run, in a chunk that is not checked first, whose deposit answer
//!   was lost, counts as deposited. Resume with [`DepositOptions::resume`] when the card
//!   may hold some of the input.) Every input code is counted once:
//!   [`codes_read`](DepositReport::codes_read) = `deposited + already_present +
//!   duplicates + failed.len() + verified_missing.len()`.
//!
//! Memory: the chunks in flight, 10-21 bytes per distinct code (its 8-byte fingerprint
//! and a control byte per slot of a hash table kept 7/16 to 7/8 full: about 12 bytes per
//! code at 100,000 codes, 19 at 1,000,000), and the held-back repeats themselves, as
//! text (their own repeats removed whenever the list doubles, so it holds at most twice
//! its distinct codes, or 1,024); no list of all codes is kept.
//! This is why verification is done per chunk (the `checkcode` right after its deposit)
//! rather than in a second pass over all codes; the final `getdepositcount` is the one
//! whole-card check. Codes that end up failed or missing are kept too, in the report.
//!
//! (Inside, the policy is a pure state machine per run and per chunk, without I/O;
//! both clients only carry out its steps.)

use crate::error::Error;
use card_model::code::{
    CheckCodes, CodeCheck, CodeList, DepositCodes, DepositResult, GetDepositCount,
};
use card_model::limits::MAX_CODES_PER_CALL;
use card_model::{Endpoint, ValidationError};
use foldhash::quality::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Default number of chunks the async client keeps in flight.
///
/// WeChat rate-limits the card API per account (45009 "reach max api daily quota" and
/// short-term frequency limits); a handful of concurrent calls hides the network's
/// latency without tripping those limits. Raise it only with a quota to match.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Settings of a `deposit_all` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepositOptions {
    concurrency: usize,
    max_rounds: u32,
    fail_retries: u32,
    resume: bool,
}

impl Default for DepositOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            max_rounds: 5,
            fail_retries: 2,
            resume: false,
        }
    }
}

impl DepositOptions {
    /// The defaults: [`DEFAULT_CONCURRENCY`] chunks in flight, 5 rounds, 2 fail retries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chunks in flight on the async client (at least 1; the blocking client runs one
    /// at a time). Default [`DEFAULT_CONCURRENCY`], chosen for WeChat's rate limits.
    #[must_use]
    pub fn concurrency(mut self, chunks: usize) -> Self {
        self.concurrency = chunks.max(1);
        self
    }

    /// How many times one chunk's call may fail with a repeatable error (after the
    /// client's own [`RetryPolicy`](crate::RetryPolicy)) before the import stops with
    /// that error (at least 1; default 5).
    #[must_use]
    pub fn max_rounds(mut self, rounds: u32) -> Self {
        self.max_rounds = rounds.max(1);
        self
    }

    /// How many times codes still missing after an accepted deposit (WeChat's
    /// `fail_code`) are deposited again before they are reported (default 2).
    #[must_use]
    pub fn fail_retries(mut self, retries: u32) -> Self {
        self.fail_retries = retries;
        self
    }

    /// Whether this run resumes an import (or repeats one): each chunk is then checked
    /// with `checkcode` before it is sent, and codes already stored are not sent again
    /// (default `false`: a fresh import, one `deposit` and one verifying `checkcode` per
    /// chunk; repeats inside the input are handled either way). Without it, a run that
    /// meets codes the card already holds sends one chunk of them again (WeChat answers
    /// them as duplicates and stores nothing) and checks every later chunk first.
    #[must_use]
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// The chunks in flight on the async client.
    pub fn chunks_in_flight(&self) -> usize {
        self.concurrency
    }
}

/// Progress of a `deposit_all` run, reported after each chunk, and once more after the
/// last one when codes were handled since (rejected codes or repeats at the end of the
/// input, or an input with no valid code): the last report's `codes_done` is the number
/// of codes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Chunks finished.
    pub chunks_done: u64,
    /// Input codes fully handled (finished chunks, rejected codes, repeats); equal to
    /// the codes read at the end.
    pub codes_done: u64,
    /// The number of input codes, when the input's size hint is exact.
    pub total: Option<usize>,
}

/// Why a code was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// Rejected before sending: empty, blank or too long (nothing sent).
    Invalid(ValidationError),
    /// WeChat accepted the deposit call but reported the code in `fail_code`, and it was
    /// still missing after [`DepositOptions::fail_retries`] more deposits.
    Rejected,
}

/// A code that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedCode {
    /// The code.
    pub code: String,
    /// Why.
    pub reason: FailReason,
}

/// What a `deposit_all` run did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DepositReport {
    /// Input codes read.
    pub codes_read: u64,
    /// Codes this run stored (sent, then found by `checkcode`); on a card that held none
    /// of the input before, or in a resumed run, exactly the codes the card gained.
    pub deposited: u64,
    /// Input codes the card held before this run's deposit of them: found by a check
    /// before sending (a resumed import, chunks after WeChat answered duplicates, and
    /// the held-back repeats of codes an earlier chunk had: their first occurrence was
    /// counted by that chunk), or answered by WeChat as duplicates.
    pub already_present: u64,
    /// Input codes whose outcome is reported under another occurrence of the same code
    /// (compared as text, so the repeat is certain): repeats inside the chunk being
    /// filled and repeats among the held-back codes (see the [module docs](self)), both
    /// never sent; and an earlier occurrence that ended failed or missing when a
    /// held-back occurrence of the code was tried again (the later outcome is the
    /// code's).
    pub duplicates: u64,
    /// Codes not stored: rejected up front, or failed at WeChat (listed once per code).
    pub failed: Vec<FailedCode>,
    /// Codes WeChat accepted without reporting them failed that `checkcode` still does
    /// not find, after [`DepositOptions::fail_retries`] more deposits.
    pub verified_missing: Vec<String>,
    /// The card's stored codes per `getdepositcount` at the end; `None` when that call
    /// failed (see [`count_error`](Self::count_error); the rest of the report stands).
    pub deposit_count: Option<u64>,
    /// Why the final `getdepositcount` failed, when it did.
    pub count_error: Option<Error>,
    /// Chunks processed.
    pub chunks: u64,
    /// Deposit calls that WeChat accepted (errcode 0).
    pub deposit_calls: u64,
}

impl DepositReport {
    /// Whether every valid input code is stored (nothing failed and nothing missing)
    /// and the final count succeeded.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.verified_missing.is_empty() && self.count_error.is_none()
    }
}

impl Clone for DepositReport {
    fn clone(&self) -> Self {
        Self {
            codes_read: self.codes_read,
            deposited: self.deposited,
            already_present: self.already_present,
            duplicates: self.duplicates,
            failed: self.failed.clone(),
            verified_missing: self.verified_missing.clone(),
            deposit_count: self.deposit_count,
            count_error: self.count_error.as_ref().map(Error::shared_copy),
            chunks: self.chunks,
            deposit_calls: self.deposit_calls,
        }
    }
}

/// The 64-bit fingerprint of a code, keyed: nobody can choose codes that collide
/// without the key.
type Fingerprint = fn(&RandomState, &str) -> u64;

fn keyed_fingerprint(key: &RandomState, code: &str) -> u64 {
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
const COMPACT_MIN: usize = 1024;

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

/// The overall bookkeeping of one `deposit_all` run; see the [module docs](self).
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
    deferred: Vec<String>,
    /// The length of `deferred` at which its repeats are removed: twice its length
    /// without repeats (at least [`COMPACT_MIN`]).
    compact_at: usize,
    deferred_ready: bool,
    /// Whether the input has ended ([`after_input`](Self::after_input) was called).
    input_ended: bool,
    /// Chunks handed out so far (`report.chunks` of them are completed).
    issued: u64,
    report: DepositReport,
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
    fn with_fingerprint(mut self, fingerprint: Fingerprint) -> Self {
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
    fn flush(&mut self) -> Option<ChunkJob> {
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

/// What finished chunk contributes to the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct ChunkResult {
    /// Codes in the chunk.
    pub codes: usize,
    /// Codes stored by this chunk's deposits.
    pub deposited: u64,
    /// Codes stored before this chunk was sent.
    pub already_present: u64,
    /// Deposit calls WeChat accepted.
    pub deposit_calls: u64,
    /// Codes WeChat reported failed.
    pub failed: Vec<FailedCode>,
    /// Codes accepted but not found.
    pub missing: Vec<String>,
    /// Codes WeChat answered as duplicates (already stored when they arrived).
    pub answered_duplicates: u64,
}

/// What a [`ChunkJob`] wants done next.
#[derive(Debug)]
pub(crate) enum ChunkStep {
    /// Call `checkcode`, then feed [`ChunkEvent::Checked`].
    Check(CheckCodes),
    /// Call `deposit`, then feed [`ChunkEvent::Deposited`].
    Deposit(DepositCodes),
    /// The chunk is finished; an error stops the import.
    Done(Result<ChunkResult, Error>),
}

/// What happened to a [`ChunkJob`]'s last step.
#[derive(Debug)]
pub(crate) enum ChunkEvent {
    /// Nothing yet: the first call of [`ChunkJob::next`].
    Start,
    /// The answer of a [`ChunkStep::Check`], with the request's codes given back.
    Checked(Vec<String>, Result<CodeCheck, Error>),
    /// The answer of a [`ChunkStep::Deposit`], with the request's codes given back.
    Deposited(Vec<String>, Result<DepositResult, Error>),
}

/// A [`ChunkEvent`] without the codes it gave back.
enum Answer {
    Start,
    Checked(Result<CodeCheck, Error>),
    Deposited(Result<DepositResult, Error>),
}

/// The life of one chunk of at most [`MAX_CODES_PER_CALL`] codes; see the
/// [module docs](self).
#[derive(Debug)]
pub(crate) struct ChunkJob {
    card_id: Arc<str>,
    /// Codes not yet found stored.
    pending: Vec<String>,
    result: ChunkResult,
    /// Whether the chunk is checked before its first deposit.
    pre_check: bool,
    /// Whether a deposit of this chunk may have reached WeChat (codes found later
    /// are then counted as deposited, unless answered as duplicates).
    sent: bool,
    /// `sent` before the last deposit, restored when that one certainly was not sent.
    sent_before: bool,
    /// Duplicates WeChat answered since the last check.
    duplicates: u64,
    /// Failed calls so far.
    errors: u32,
    /// Deposits of this chunk that WeChat accepted.
    accepted: u32,
    /// `fail_code` of the last accepted deposit.
    last_failed: u64,
    max_rounds: u32,
    fail_retries: u32,
    done: bool,
}

impl ChunkJob {
    fn new(
        card_id: Arc<str>,
        codes: Vec<String>,
        options: &DepositOptions,
        pre_check: bool,
    ) -> Self {
        Self {
            card_id,
            result: ChunkResult {
                codes: codes.len(),
                ..ChunkResult::default()
            },
            pending: codes,
            pre_check,
            sent: false,
            sent_before: false,
            duplicates: 0,
            errors: 0,
            accepted: 0,
            last_failed: 0,
            max_rounds: options.max_rounds,
            fail_retries: options.fail_retries,
            done: false,
        }
    }

    /// The codes of the chunk not yet found stored.
    #[cfg(test)]
    pub fn pending(&self) -> &[String] {
        &self.pending
    }

    /// The chunk's codes are lent to the request (not copied) and come back with its
    /// answer ([`ChunkEvent`]).
    fn check(&mut self) -> ChunkStep {
        let codes = std::mem::take(&mut self.pending);
        ChunkStep::Check(CheckCodes::new(&*self.card_id, codes))
    }

    fn deposit(&mut self) -> ChunkStep {
        self.sent_before = self.sent;
        self.sent = true;
        let codes = std::mem::take(&mut self.pending);
        ChunkStep::Deposit(DepositCodes::new(&*self.card_id, codes))
    }

    /// Removes from `pending` every code that `existing` names; how many it removed.
    fn remove_found(&mut self, existing: &CodeList) -> u64 {
        let before = self.pending.len();
        // Answered in the order asked, every code found: nothing to look up.
        if existing.len() == before && existing.iter().zip(&self.pending).all(|(a, b)| a == b) {
            self.pending.clear();
            return before as u64;
        }
        // Otherwise binary searches in the sorted answer (no hashing; n log n at worst,
        // whatever the answer holds).
        let mut sorted: Vec<&str> = existing.iter().collect();
        sorted.sort_unstable();
        self.pending
            .retain(|c| sorted.binary_search(&c.as_str()).is_err());
        (before - self.pending.len()) as u64
    }

    fn finish(&mut self, result: Result<(), Error>) -> ChunkStep {
        self.done = true;
        ChunkStep::Done(result.map(|()| std::mem::take(&mut self.result)))
    }

    /// Counts a failed call; the next step: check what WeChat holds (never deposit
    /// blindly after a failure), or stop.
    fn failed_call(&mut self, error: Error) -> ChunkStep {
        self.errors += 1;
        let repeatable = error.is_retryable() || error.is_token_error();
        if !repeatable || self.errors >= self.max_rounds {
            return self.finish(Err(error));
        }
        self.check()
    }

    /// The next step, given what happened to the last one.
    pub fn next(&mut self, event: ChunkEvent) -> ChunkStep {
        if self.done {
            return ChunkStep::Done(Err(Error::Config(
                "deposit chunk driven after it finished".to_owned(),
            )));
        }
        // The codes lent to the last request come back first.
        let answer = match event {
            ChunkEvent::Start => Answer::Start,
            ChunkEvent::Checked(codes, answer) => {
                self.pending = codes;
                Answer::Checked(answer)
            }
            ChunkEvent::Deposited(codes, answer) => {
                self.pending = codes;
                Answer::Deposited(answer)
            }
        };
        match answer {
            Answer::Start if self.pre_check => self.check(),
            Answer::Start => self.deposit(),
            Answer::Checked(Err(e)) => self.failed_call(e),
            Answer::Deposited(Err(e)) => {
                if !e.maybe_sent() {
                    // Certainly not sent (a connect failure on every host, say).
                    self.sent = self.sent_before;
                }
                self.failed_call(e)
            }
            Answer::Deposited(Ok(answer)) => {
                self.accepted += 1;
                self.result.deposit_calls += 1;
                let dup = answer.duplicates.as_ref().map_or(0, |t| t.count());
                self.duplicates += dup;
                self.result.answered_duplicates += dup;
                self.last_failed = answer.failed.as_ref().map_or(0, |t| t.count());
                self.check()
            }
            Answer::Checked(Ok(check)) => {
                let found = self.remove_found(&check.existing);
                if self.sent {
                    // Found after a deposit: stored by it, except those WeChat called
                    // duplicates (stored before they arrived).
                    let dup = self.duplicates.min(found);
                    self.result.already_present += dup;
                    self.result.deposited += found - dup;
                } else {
                    self.result.already_present += found;
                }
                self.duplicates = 0;
                if self.pending.is_empty() {
                    return self.finish(Ok(()));
                }
                if self.accepted <= self.fail_retries {
                    return self.deposit();
                }
                let left = std::mem::take(&mut self.pending);
                if self.last_failed > 0 {
                    self.result
                        .failed
                        .extend(left.into_iter().map(|code| FailedCode {
                            code,
                            reason: FailReason::Rejected,
                        }));
                } else {
                    self.result.missing.extend(left);
                }
                self.finish(Ok(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use card_model::code::CodeTally;

    fn codes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("C{i:06}")).collect()
    }

    #[test]
    fn chunks_of_100_with_rejects_and_repeats() {
        let mut job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        let mut chunks = Vec::new();
        for c in codes(250) {
            chunks.extend(job.push(c));
        }
        assert!(job.push(String::new()).is_none());
        assert!(job.push("C000249".into()).is_none()); // repeat inside the chunk
        chunks.extend(job.flush());
        let sizes: Vec<usize> = chunks.iter().map(|c| c.pending().len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let report = job.finish(Ok(0));
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.failed.len(), 1);
        assert!(matches!(report.failed[0].reason, FailReason::Invalid(_)));
        assert_eq!(report.codes_read, 252);
    }

    #[test]
    fn repeats_leave_a_full_chunk_which_then_fills_up_and_still_drops_its_own_repeats() {
        let mut job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        let first = codes(100);
        let chunk = (first.iter().cloned().map(|c| job.push(c)).last()).flatten();
        assert_eq!(chunk.map(|c| c.pending().len()), Some(100));
        // 50 new codes and 50 repeats of the first chunk fill the next one to 100,
        // then the repeats leave it (held back) and it fills up again.
        let new: Vec<String> = (0..100).map(|i| format!("X{i:03}")).collect();
        for (i, code) in new[..50].iter().enumerate() {
            assert!(job.push(code.clone()).is_none());
            assert!(job.push(first[i].clone()).is_none());
        }
        // Repeats of codes still in the chunk are dropped (the order survived).
        for code in ["X049", "X000", "X025"] {
            assert!(job.push(code.into()).is_none());
        }
        let mut chunk = None;
        for code in &new[50..] {
            assert!(chunk.is_none(), "a chunk before it was full");
            chunk = job.push(code.clone());
        }
        let chunk = chunk.expect("the second chunk, full");
        assert_eq!(chunk.pending(), &new[..]);
        assert!(job.flush().is_none());
        assert_eq!(job.report.duplicates, 3);
        assert_eq!(job.deferred, &first[..50]);
    }

    /// The answer to `step`, a deposit, with its codes given back.
    fn deposited(step: ChunkStep, succ: u64, dup: u64, fail: u64) -> ChunkEvent {
        let tally = |n| (n > 0).then_some(CodeTally::Count(n));
        let answer = DepositResult::new(tally(succ), tally(dup), tally(fail));
        ChunkEvent::Deposited(deposit_codes(step), Ok(answer))
    }

    /// The codes of `step`, a deposit.
    #[track_caller]
    fn deposit_codes(step: ChunkStep) -> Vec<String> {
        match step {
            ChunkStep::Deposit(d) => d.code,
            other => panic!("expected a deposit, got {other:?}"),
        }
    }

    /// The answer to `check`: the codes of `stored` exist, the others do not.
    fn exist(check: CheckCodes, stored: &[&str]) -> ChunkEvent {
        let (yes, no) = check
            .code
            .iter()
            .cloned()
            .partition(|c| stored.contains(&c.as_str()));
        ChunkEvent::Checked(check.code, Ok(CodeCheck::new(yes, no)))
    }

    fn chunk_of(codes: &[&str], options: DepositOptions) -> (DepositJob, ChunkJob) {
        let mut job = DepositJob::new("card", options, (codes.len(), Some(codes.len()))).unwrap();
        for c in codes {
            assert!(job.push((*c).into()).is_none());
        }
        let chunk = job.flush().unwrap();
        (job, chunk)
    }

    #[test]
    fn repeats_inside_a_chunk_are_dropped_in_any_order_and_only_inside_it() {
        let mut job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        for c in ["b", "a", "c", "a", "b", "d", "c", "ab", ""] {
            assert!(job.push(c.into()).is_none());
        }
        let chunk = job.flush().unwrap();
        assert_eq!(chunk.pending(), ["b", "a", "c", "d", "ab"]);
        // a code of an earlier chunk is not put into the next one: it is held back
        assert!(job.push("a".into()).is_none());
        assert!(job.push("e".into()).is_none());
        assert_eq!(job.flush().unwrap().pending(), ["e"]);
        assert_eq!(job.deferred, ["a"]);
        // a full chunk of distinct codes given in descending order
        let mut full = None;
        for c in codes(MAX_CODES_PER_CALL).into_iter().rev() {
            full = job.push(c);
        }
        assert_eq!(full.unwrap().pending().len(), MAX_CODES_PER_CALL);
        assert_eq!((job.report.duplicates, job.report.failed.len()), (3, 1));
    }

    #[test]
    fn a_check_answered_in_any_order_finds_exactly_the_codes_it_names() {
        let (_, mut chunk) = chunk_of(&["a", "b", "c", "d"], DepositOptions::new());
        let step = chunk.next(ChunkEvent::Start);
        let ChunkStep::Check(check) = chunk.next(deposited(step, 4, 0, 0)) else {
            panic!()
        };
        assert_eq!(check.code, ["a", "b", "c", "d"]);
        // out of order, with a repeat and a code that was not asked: "b" is missing
        let answer = CodeCheck::new(
            ["d", "a", "x", "c", "a"].map(String::from).to_vec(),
            vec!["b".into()],
        );
        let again = chunk.next(ChunkEvent::Checked(check.code, Ok(answer)));
        let ChunkStep::Deposit(ref again_codes) = again else {
            panic!("the missing code is deposited again")
        };
        assert_eq!(again_codes.code, ["b"]);
        let ChunkStep::Check(check) = chunk.next(deposited(again, 1, 0, 0)) else {
            panic!()
        };
        let answer = CodeCheck::new(vec!["b".into()], vec![]);
        let ChunkStep::Done(Ok(r)) = chunk.next(ChunkEvent::Checked(check.code, Ok(answer))) else {
            panic!()
        };
        assert_eq!((r.deposited, r.already_present, r.deposit_calls), (4, 0, 2));
        assert!(r.missing.is_empty() && r.failed.is_empty());
    }

    #[test]
    fn a_fresh_chunk_is_deposited_then_verified_once() {
        let (mut job, mut chunk) = chunk_of(&["a", "b", "c"], DepositOptions::new());
        let step = chunk.next(ChunkEvent::Start);
        let ChunkStep::Deposit(ref dep) = step else {
            panic!("a fresh chunk is not checked first")
        };
        assert_eq!(dep.code, ["a", "b", "c"]);
        let ChunkStep::Check(check) = chunk.next(deposited(step, 3, 0, 0)) else {
            panic!()
        };
        let ChunkStep::Done(Ok(r)) = chunk.next(exist(check, &["a", "b", "c"])) else {
            panic!()
        };
        assert_eq!((r.deposited, r.already_present, r.deposit_calls), (3, 0, 1));
        let p = job.complete(r);
        assert_eq!((p.chunks_done, p.codes_done, p.total), (1, 3, Some(3)));
        let report = job.finish(Ok(3));
        assert!(report.is_complete());
    }

    #[test]
    fn chunk_retries_failed_codes_then_reports_them() {
        let (_, mut chunk) = chunk_of(&["a", "b", "c"], DepositOptions::new().resume(true));
        let ChunkStep::Check(check) = chunk.next(ChunkEvent::Start) else {
            panic!("a resumed chunk is checked first")
        };
        let step = chunk.next(exist(check, &["a"]));
        let ChunkStep::Deposit(ref dep) = step else {
            panic!()
        };
        assert_eq!(dep.code, ["b", "c"]);
        // WeChat fails "c" every time
        let mut step = chunk.next(deposited(step, 1, 0, 1));
        let mut deposits = 1;
        loop {
            step = match step {
                ChunkStep::Check(c) => chunk.next(exist(c, &["a", "b"])),
                ChunkStep::Deposit(d) => {
                    assert_eq!(d.code, ["c"]);
                    deposits += 1;
                    chunk.next(deposited(ChunkStep::Deposit(d), 0, 0, 1))
                }
                ChunkStep::Done(r) => {
                    let r = r.unwrap();
                    assert_eq!((r.already_present, r.deposited, r.deposit_calls), (1, 1, 3));
                    assert_eq!(r.failed.len(), 1);
                    assert_eq!(r.failed[0].code, "c");
                    break;
                }
            };
        }
        assert_eq!(deposits, 3);
    }

    #[test]
    fn a_deposit_whose_answer_was_lost_is_checked_before_anything_is_sent_again() {
        let (_, mut chunk) = chunk_of(&["a", "b"], DepositOptions::new());
        let codes = deposit_codes(chunk.next(ChunkEvent::Start));
        let lost = Error::transport(card_transport::TransportError::from_kind(
            card_transport::TransportErrorKind::Io,
        ));
        let ChunkStep::Check(check) = chunk.next(ChunkEvent::Deposited(codes, Err(lost))) else {
            panic!("a lost answer is checked, not re-sent")
        };
        assert_eq!(check.code, ["a", "b"]);
        // WeChat had stored both: nothing is sent again, and they count as this run's
        let ChunkStep::Done(Ok(r)) = chunk.next(exist(check, &["a", "b"])) else {
            panic!()
        };
        assert_eq!((r.deposited, r.already_present, r.deposit_calls), (2, 0, 0));
    }

    #[test]
    fn codes_answered_as_duplicates_are_already_present_and_switch_to_checking_first() {
        let mut job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        for c in ["a", "b"] {
            job.push(c.into());
        }
        let mut chunk = job.flush().unwrap();
        let step = chunk.next(ChunkEvent::Start);
        let ChunkStep::Check(check) = chunk.next(deposited(step, 1, 1, 0)) else {
            panic!()
        };
        let ChunkStep::Done(Ok(r)) = chunk.next(exist(check, &["a", "b"])) else {
            panic!()
        };
        assert_eq!((r.deposited, r.already_present), (1, 1));
        job.complete(r);
        // the card held some of the input: the next chunk is checked first
        job.push("c".into());
        let mut next = job.flush().unwrap();
        assert!(matches!(next.next(ChunkEvent::Start), ChunkStep::Check(_)));
    }

    #[test]
    fn a_failed_count_is_reported() {
        let job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        let report = job.finish(Err(Error::WeChat(card_model::WeChatError::new(-1, "busy"))));
        assert_eq!(report.deposit_count, None);
        assert!(!report.is_complete());
        assert_eq!(
            report
                .clone()
                .count_error
                .and_then(|e| e.errcode())
                .map(|c| c.as_i64()),
            Some(-1)
        );
    }

    #[test]
    fn failed_deposit_checks_before_sending_again_and_gives_up_after_bound() {
        let options = DepositOptions::new().max_rounds(2);
        let mut job = DepositJob::new("card", options, (0, None)).unwrap();
        job.push("a".into());
        let mut chunk = job.flush().unwrap();
        let codes = deposit_codes(chunk.next(ChunkEvent::Start));
        let busy = || Error::WeChat(card_model::WeChatError::new(-1, "system error"));
        // the deposit may have been applied: check again rather than re-send
        let step = chunk.next(ChunkEvent::Deposited(codes, Err(busy())));
        let ChunkStep::Check(check) = step else {
            panic!("expected a check, got {step:?}")
        };
        assert_eq!(check.code, ["a"]);
        let step = chunk.next(ChunkEvent::Checked(check.code, Err(busy())));
        assert!(matches!(step, ChunkStep::Done(Err(_))));
    }

    /// A card in memory that carries out a job's steps as WeChat would, optionally
    /// losing every deposit answer after acting.
    #[derive(Default)]
    struct Card {
        stored: std::collections::BTreeSet<String>,
        /// Codes WeChat reports in `fail_code`.
        refuse: std::collections::BTreeSet<String>,
        lose_deposit_answers: bool,
        /// Codes sent in a deposit while stored already.
        sent_again: u64,
    }

    impl Card {
        fn lost() -> Error {
            Error::transport(card_transport::TransportError::from_kind(
                card_transport::TransportErrorKind::Io,
            ))
        }

        fn run(&mut self, mut chunk: ChunkJob) -> ChunkResult {
            let mut event = ChunkEvent::Start;
            loop {
                event = match chunk.next(event) {
                    ChunkStep::Check(check) => {
                        let (yes, no) = check
                            .code
                            .iter()
                            .cloned()
                            .partition(|c| self.stored.contains(c));
                        ChunkEvent::Checked(check.code, Ok(CodeCheck::new(yes, no)))
                    }
                    ChunkStep::Deposit(deposit) => {
                        let (mut succ, mut dup, mut fail) = (0, 0, 0);
                        for code in &deposit.code {
                            if self.refuse.contains(code) {
                                fail += 1;
                            } else if self.stored.insert(code.clone()) {
                                succ += 1;
                            } else {
                                dup += 1;
                                self.sent_again += 1;
                            }
                        }
                        let tally = |n| (n > 0).then_some(CodeTally::Count(n));
                        let answer = if self.lose_deposit_answers {
                            Err(Self::lost())
                        } else {
                            Ok(DepositResult::new(tally(succ), tally(dup), tally(fail)))
                        };
                        ChunkEvent::Deposited(deposit.code, answer)
                    }
                    ChunkStep::Done(result) => return result.expect("chunk"),
                };
            }
        }

        /// The whole job, one chunk at a time (as the blocking client runs it).
        fn import(&mut self, mut job: DepositJob, input: &[&str]) -> DepositReport {
            for code in input {
                if let Some(chunk) = job.push((*code).to_owned()) {
                    let done = self.run(chunk);
                    job.complete(done);
                }
            }
            self.run_after_input(&mut job);
            job.finish(Ok(self.stored.len() as u64))
        }

        /// Runs what the job hands out once its input has ended, one chunk at a time.
        fn run_after_input(&mut self, job: &mut DepositJob) {
            loop {
                match job.after_input() {
                    AfterInput::Chunk(chunk) => {
                        let done = self.run(chunk);
                        job.complete(done);
                    }
                    AfterInput::Wait => panic!("nothing is running"),
                    AfterInput::Done => break,
                }
            }
        }
    }

    /// Every input code counted once.
    #[track_caller]
    fn assert_accounted(r: &DepositReport) {
        let sum = r.deposited
            + r.already_present
            + r.duplicates
            + r.failed.len() as u64
            + r.verified_missing.len() as u64;
        assert_eq!(sum, r.codes_read, "{r:?}");
    }

    #[test]
    fn repeats_of_earlier_chunks_wait_for_every_chunk_then_are_checked_first() {
        let all = codes(MAX_CODES_PER_CALL);
        let mut job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        let mut first = None;
        for c in &all {
            first = job.push(c.clone());
        }
        let first = first.expect("a full chunk");
        // half of them again, interleaved with new codes, one of them twice
        for (i, c) in all.iter().take(50).enumerate() {
            assert!(job.push(c.clone()).is_none());
            assert!(job.push(format!("N{i:03}")).is_none());
        }
        assert!(job.push(all[7].clone()).is_none());
        let AfterInput::Chunk(second) = job.after_input() else {
            panic!("the last chunk")
        };
        let new: Vec<String> = (0..50).map(|i| format!("N{i:03}")).collect();
        assert_eq!(second.pending(), new, "no repeat in a normal chunk");
        // both chunks in flight: the held-back codes wait for both
        assert!(matches!(job.after_input(), AfterInput::Wait));
        let mut card = Card {
            lose_deposit_answers: true,
            ..Card::default()
        };
        let done = card.run(second);
        job.complete(done);
        assert!(matches!(job.after_input(), AfterInput::Wait));
        let done = card.run(first);
        job.complete(done);
        let AfterInput::Chunk(held) = job.after_input() else {
            panic!("the held-back codes")
        };
        assert_eq!(held.pending(), &all[..50], "without repeats, sorted");
        assert!(held.pre_check, "checked before anything is sent");
        assert!(matches!(job.after_input(), AfterInput::Wait));
        let done = card.run(held);
        assert_eq!(
            (done.deposited, done.already_present, done.deposit_calls),
            (0, 50, 0)
        );
        let p = job.complete(done);
        assert_eq!((p.chunks_done, p.codes_done), (3, 201));
        assert!(matches!(job.after_input(), AfterInput::Done));
        let r = job.finish(Ok(150));
        assert_eq!(card.stored.len(), 150);
        assert_eq!((r.deposited, r.already_present, r.duplicates), (150, 50, 1));
        assert_eq!(card.sent_again, 0, "a stored code was sent again");
        assert_accounted(&r);
    }

    #[test]
    fn codes_repeated_many_times_are_held_back_about_twice_at_most() {
        let all = codes(MAX_CODES_PER_CALL);
        let mut input: Vec<&str> = Vec::new();
        for _ in 0..50 {
            input.extend(all.iter().map(String::as_str));
        }
        let mut job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        let mut card = Card::default();
        let mut most = 0;
        for code in &input {
            if let Some(chunk) = job.push((*code).to_owned()) {
                let done = card.run(chunk);
                job.complete(done);
            }
            most = most.max(job.deferred.len());
        }
        assert!(most <= COMPACT_MIN, "{most} held back");
        card.run_after_input(&mut job);
        let r = job.finish(Ok(100));
        assert_eq!(
            (r.deposited, r.already_present, r.duplicates),
            (100, 100, 4_800)
        );
        assert_eq!(r.chunks, 2);
        assert_accounted(&r);
    }

    #[test]
    fn interleaved_repeats_with_lost_answers_are_counted_as_the_card_holds_them() {
        // 1,300 distinct codes spread over 3,000 input lines, every deposit answer lost
        let input: Vec<String> = (0..3_000u64)
            .map(|i| format!("{:06}", (i * 7_919) % 1_300))
            .collect();
        let input: Vec<&str> = input.iter().map(String::as_str).collect();
        for resume in [false, true] {
            let mut card = Card {
                lose_deposit_answers: true,
                ..Card::default()
            };
            let job = DepositJob::new("card", DepositOptions::new().resume(resume), (0, None));
            let r = card.import(job.unwrap(), &input);
            assert_eq!(card.stored.len(), 1_300);
            assert_eq!(r.deposited, 1_300, "resume {resume}");
            assert_eq!(r.already_present + r.duplicates, 3_000 - 1_300);
            assert_eq!(card.sent_again, 0, "a stored code was sent again");
            assert_accounted(&r);
        }
    }

    #[test]
    fn a_distinct_code_with_a_colliding_fingerprint_is_still_deposited() {
        // every code has the same fingerprint
        let job = DepositJob::new("card", DepositOptions::new(), (0, None))
            .unwrap()
            .with_fingerprint(|_, _| 7);
        let mut card = Card {
            lose_deposit_answers: true,
            ..Card::default()
        };
        let first = codes(MAX_CODES_PER_CALL);
        let mut input: Vec<&str> = first.iter().map(String::as_str).collect();
        input.extend(["b", "c", "b", first[0].as_str()]);
        let r = card.import(job, &input);
        assert_eq!(card.stored.len(), MAX_CODES_PER_CALL + 2);
        // The first chunk's codes are distinct and all stay in it although their
        // fingerprints collide. Every later code collides with them: "b", "c", "b" and
        // the true repeat are held back, "b"'s repeat among them dropped; the true
        // repeat is found stored, "b" and "c" missing and deposited.
        assert_eq!(
            (r.deposited, r.already_present, r.duplicates),
            (MAX_CODES_PER_CALL as u64 + 2, 1, 1)
        );
        assert_eq!(r.chunks, 2);
        assert_eq!(card.sent_again, 0);
        assert!(r.is_complete(), "{r:?}");
        assert_accounted(&r);

        // "b" has the fingerprint of "a"; the rest their own
        fn b_is_a(key: &RandomState, code: &str) -> u64 {
            keyed_fingerprint(key, if code == "b" { "a" } else { code })
        }
        let job = DepositJob::new("card", DepositOptions::new(), (0, None))
            .unwrap()
            .with_fingerprint(b_is_a);
        let filler = codes(MAX_CODES_PER_CALL - 1);
        let mut input = vec!["a"];
        input.extend(filler.iter().map(String::as_str));
        input.extend(["b", "a", "b"]);
        let mut card = Card {
            lose_deposit_answers: true,
            ..Card::default()
        };
        let r = card.import(job, &input);
        // "a" and the filler make the first chunk; the next chunk's "b" collides with
        // "a" and is held back with the true repeat "a" ("b"'s own repeat dropped in
        // its chunk): "a" is found stored; "b" is deposited and counted so
        assert_eq!(card.stored.len(), MAX_CODES_PER_CALL + 1);
        assert!(card.stored.contains("b"));
        assert_eq!(
            (r.deposited, r.already_present, r.duplicates),
            (MAX_CODES_PER_CALL as u64 + 1, 1, 1)
        );
        assert_eq!(card.sent_again, 0);
        assert_accounted(&r);
    }

    #[test]
    fn a_repeat_of_a_failed_code_is_tried_again_and_reports_the_code_once() {
        let mut card = Card::default();
        card.refuse.insert("x".into());
        let filler = codes(MAX_CODES_PER_CALL - 1);
        let mut job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        assert!(job.push("x".into()).is_none());
        let mut first = None;
        for c in &filler {
            first = job.push(c.clone());
        }
        let done = card.run(first.expect("a full chunk"));
        assert_eq!(done.failed.len(), 1);
        job.complete(done);
        // the input's second "x" comes after its chunk was cut; WeChat takes it now
        assert!(job.push("x".into()).is_none());
        card.refuse.clear();
        card.run_after_input(&mut job);
        let r = job.finish(Ok(100));
        assert!(
            r.failed.is_empty(),
            "the stored code is not reported failed"
        );
        assert_eq!((r.deposited, r.already_present, r.duplicates), (100, 0, 1));
        assert_accounted(&r);
        // and one that keeps failing is listed once
        let mut card = Card::default();
        card.refuse.insert("x".into());
        let mut input = vec!["x"];
        let filler = codes(MAX_CODES_PER_CALL);
        input.extend(filler.iter().map(String::as_str));
        input.extend(["x", "x"]);
        let job = DepositJob::new("card", DepositOptions::new(), (0, None)).unwrap();
        let r = card.import(job, &input);
        let failed: Vec<&str> = r.failed.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(failed, ["x"]);
        assert_eq!(r.deposited, MAX_CODES_PER_CALL as u64);
        assert_eq!(r.duplicates, 2);
        assert_accounted(&r);
    }

    /// splitmix64, for the randomized runs below.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }

        fn one_in(&mut self, n: u64) -> bool {
            self.below(n) == 0
        }
    }

    /// A card in memory answering the steps of several chunks in flight, interleaved
    /// at random call by call, with random faults: answers lost after or before the
    /// effect, -1, 42001, connect failures (certainly not sent), codes in `fail_code`.
    struct Interleaved {
        rng: Rng,
        stored: std::collections::BTreeSet<String>,
        /// Codes sent in a deposit while stored already.
        sent_again: u64,
        faults: bool,
    }

    impl Interleaved {
        fn call_fault(&mut self) -> Option<(Error, bool)> {
            if !self.faults {
                return None;
            }
            let io = || {
                Error::transport(card_transport::TransportError::from_kind(
                    card_transport::TransportErrorKind::Io,
                ))
            };
            let wechat = |code, msg: &str| Error::WeChat(card_model::WeChatError::new(code, msg));
            // (error, whether the call acts anyway)
            match self.rng.below(40) {
                0..=4 => Some((io(), true)),
                5..=6 => Some((io(), false)),
                7 => Some((wechat(-1, "system error"), false)),
                8 => Some((wechat(42001, "access_token expired"), false)),
                9 => Some((wechat(45009, "api freq out of limit"), false)),
                10 => Some((
                    Error::transport(card_transport::TransportError::from_kind(
                        card_transport::TransportErrorKind::Connect,
                    )),
                    false,
                )),
                _ => None,
            }
        }

        /// Carries out `step`; the event to feed back, or the chunk's end.
        fn answer(&mut self, step: ChunkStep) -> Result<ChunkEvent, Result<ChunkResult, Error>> {
            match step {
                ChunkStep::Check(check) => {
                    let fault = self.call_fault();
                    let (yes, no) = check
                        .code
                        .iter()
                        .cloned()
                        .partition(|c| self.stored.contains(c));
                    let answer = match fault {
                        Some((e, _)) => Err(e),
                        None => Ok(CodeCheck::new(yes, no)),
                    };
                    Ok(ChunkEvent::Checked(check.code, answer))
                }
                ChunkStep::Deposit(deposit) => {
                    let fault = self.call_fault();
                    let acts = fault.as_ref().is_none_or(|(_, acts)| *acts);
                    let (mut succ, mut dup, mut fail) = (0, 0, 0);
                    if acts {
                        for code in &deposit.code {
                            if self.faults && self.rng.one_in(50) {
                                fail += 1;
                            } else if self.stored.insert(code.clone()) {
                                succ += 1;
                            } else {
                                dup += 1;
                                self.sent_again += 1;
                            }
                        }
                    }
                    let tally = |n| (n > 0).then_some(CodeTally::Count(n));
                    let answer = match fault {
                        Some((e, _)) => Err(e),
                        None => Ok(DepositResult::new(tally(succ), tally(dup), tally(fail))),
                    };
                    Ok(ChunkEvent::Deposited(deposit.code, answer))
                }
                ChunkStep::Done(result) => Err(result),
            }
        }

        /// Runs `input` as the async client does, with up to `limit` chunks in flight
        /// and their calls interleaved at random; the report (or the error that stopped
        /// the import) and every progress reported.
        fn import(
            &mut self,
            mut job: DepositJob,
            input: &[String],
            limit: usize,
        ) -> (Result<DepositReport, Error>, Vec<Progress>) {
            let mut progress = Vec::new();
            // each chunk in flight with the event to feed it next
            let mut in_flight: Vec<(ChunkJob, ChunkEvent)> = Vec::new();
            let mut codes = input.iter();
            let mut exhausted = false;
            // how eagerly the input is read while chunks are in flight (1: always, so
            // chunks wait at their start until the limit is reached)
            let read_one_in = 1 + self.rng.below(4);
            loop {
                if exhausted {
                    while in_flight.len() < limit {
                        match job.after_input() {
                            AfterInput::Chunk(chunk) => in_flight.push((chunk, ChunkEvent::Start)),
                            AfterInput::Wait => {
                                assert!(!in_flight.is_empty(), "waiting with nothing in flight");
                                break;
                            }
                            AfterInput::Done => break,
                        }
                    }
                    if in_flight.is_empty() {
                        break;
                    }
                } else if in_flight.len() < limit
                    && (in_flight.is_empty() || self.rng.one_in(read_one_in))
                {
                    match codes.next() {
                        Some(code) => {
                            if let Some(chunk) = job.push(code.clone()) {
                                in_flight.push((chunk, ChunkEvent::Start));
                            }
                        }
                        None => exhausted = true,
                    }
                    continue;
                }
                // one call of a chunk in flight, picked at random
                let at = self.rng.below(in_flight.len() as u64) as usize;
                let (mut chunk, event) = in_flight.swap_remove(at);
                let step = chunk.next(event);
                match self.answer(step) {
                    Ok(event) => in_flight.push((chunk, event)),
                    Err(Ok(done)) => progress.push(job.complete(done)),
                    Err(Err(e)) => return (Err(e), progress),
                }
            }
            progress.extend(job.last_progress());
            let count = self.stored.len() as u64;
            (Ok(job.finish(Ok(count))), progress)
        }
    }

    /// Codes as merchants number them (counters, prefixes, padding) get distinct
    /// fingerprints: a hash weak on such inputs would hold many fresh codes back and
    /// cost a `checkcode` per chunk of them. (A chance collision among these 300,000
    /// is about 2.4e-9.)
    #[test]
    fn sequential_codes_of_usual_shapes_do_not_collide() {
        let key = RandomState::default();
        let mut prints = HashSet::new();
        let shapes: [fn(u32) -> String; 3] = [
            |i| format!("{i:012}"),
            |i| format!("K{i}"),
            |i| format!("CARD-2026-{i:08x}"),
        ];
        for shape in shapes {
            for i in 0..100_000 {
                assert!(
                    prints.insert(keyed_fingerprint(&key, &shape(i))),
                    "{}",
                    shape(i)
                );
            }
        }
    }

    /// Codes that collide in a 16-value fingerprint.
    fn weak_fingerprint(key: &RandomState, code: &str) -> u64 {
        keyed_fingerprint(key, code) % 16
    }

    /// Random inputs (repeats near and far, invalid codes, empty input, only repeats),
    /// run with 1 to 8 chunks in flight whose calls interleave at random under random
    /// faults: every input code is counted once, `deposited` is what the card gained,
    /// no stored code is sent again, the progress ends at the codes read, the job never
    /// waits with nothing in flight and never finishes with codes not handed out.
    #[test]
    fn random_inputs_interleavings_and_faults_keep_the_report_exact() {
        let mut errors = 0;
        for seed in 0..400u64 {
            let mut rng = Rng(seed);
            let pool = 1 + rng.below(400) as usize;
            let len = match seed % 10 {
                0 => 0,
                1 => 1 + rng.below(5) as usize,
                _ => rng.below(900) as usize,
            };
            let input: Vec<String> = (0..len)
                .map(|_| match rng.below(60) {
                    0 => String::new(),
                    1 => "x".repeat(21),
                    _ => format!("K{:05}", rng.below(pool as u64)),
                })
                .collect();
            let limit = 1 + rng.below(8) as usize;
            let resume = rng.one_in(3);
            let max_rounds = if rng.one_in(4) { 2 } else { 1_000 };
            let options = DepositOptions::new()
                .concurrency(limit)
                .resume(resume)
                .max_rounds(max_rounds)
                .fail_retries(rng.below(3) as u32);
            let mut card = Interleaved {
                rng: Rng(seed ^ 0xA5A5),
                stored: Default::default(),
                sent_again: 0,
                faults: seed % 7 != 0,
            };
            // a resumed run on a card holding some of the input already
            if resume {
                for code in input.iter().filter(|_| rng.one_in(4)) {
                    if card_model::code::validate_code(code).is_ok() {
                        card.stored.insert(code.clone());
                    }
                }
            }
            let before = card.stored.len() as u64;
            let mut job = DepositJob::new("card", options, (len, Some(len))).unwrap();
            if rng.one_in(3) {
                job = job.with_fingerprint(weak_fingerprint);
            }
            let label = format!("seed {seed}, {len} codes, pool {pool}, {options:?}");
            let (report, progress) = card.import(job, &input, limit);
            assert_eq!(card.sent_again, 0, "{label}: a stored code was sent again");
            let r = match report {
                Ok(r) => r,
                Err(e) => {
                    assert!(max_rounds < 1_000, "{label}: {e}");
                    errors += 1;
                    continue;
                }
            };
            assert_accounted(&r);
            assert_eq!(r.codes_read, len as u64, "{label}");
            assert_eq!(
                r.deposited,
                card.stored.len() as u64 - before,
                "{label}: {r:?}"
            );
            // every distinct valid code is stored, failed or missing, and listed once
            let distinct: std::collections::BTreeSet<&String> = input
                .iter()
                .filter(|c| card_model::code::validate_code(c).is_ok())
                .collect();
            let mut listed: Vec<&String> = r
                .failed
                .iter()
                .filter(|f| !matches!(f.reason, FailReason::Invalid(_)))
                .map(|f| &f.code)
                .chain(&r.verified_missing)
                .collect();
            listed.sort();
            let listed_len = listed.len();
            listed.dedup();
            assert_eq!(listed.len(), listed_len, "{label}: a code listed twice");
            for code in &distinct {
                assert_ne!(
                    card.stored.contains(*code),
                    listed.binary_search(code).is_ok(),
                    "{label}: {code} both stored and listed, or neither"
                );
            }
            // progress: one per chunk, then one more when codes were handled after
            // the last chunk; growing; ending at the codes read
            for (i, p) in progress.iter().enumerate() {
                assert_eq!(p.chunks_done, (i as u64 + 1).min(r.chunks), "{label}");
                assert_eq!(p.total, Some(len), "{label}");
            }
            assert!(
                progress
                    .windows(2)
                    .all(|w| w[0].codes_done < w[1].codes_done
                        || (w[0].codes_done == w[1].codes_done
                            && w[0].chunks_done < w[1].chunks_done)),
                "{label}: {progress:?}"
            );
            let chunk_reports = r.chunks as usize;
            assert!(
                progress.len() == chunk_reports || progress.len() == chunk_reports + 1,
                "{label}: {progress:?}"
            );
            match progress.last() {
                Some(last) => assert_eq!(last.codes_done, r.codes_read, "{label}: {progress:?}"),
                None => assert_eq!(r.codes_read, 0, "{label}"),
            }
        }
        assert!(
            errors > 0,
            "some runs stop on a call failing past the bound"
        );
    }

    #[test]
    fn invalid_card_id_is_rejected() {
        assert!(DepositJob::new("", DepositOptions::new(), (0, None)).is_err());
    }
}
