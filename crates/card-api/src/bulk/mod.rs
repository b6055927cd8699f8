//! Bulk workflows built on the clients' single calls: the custom-code import
//! (`Client::deposit_all`, `AsyncClient::deposit_all` and
//! `AsyncClient::deposit_all_stream`), its [`DepositOptions`], [`Progress`] and
//! [`DepositReport`].
//!
//! * The input codes are read one by one; invalid ones are rejected up front
//!   (reported in [`DepositReport::failed`] with [`FailReason::Invalid`], never sent),
//!   a code repeated inside the chunk being filled is dropped (counted in
//!   [`DepositReport::duplicates`]), and the rest is cut into chunks of at most
//!   [`MAX_CODES_PER_CALL`](card_model::limits::MAX_CODES_PER_CALL) codes.
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
use card_model::ValidationError;

mod chunk;
mod job;

pub(crate) use chunk::{ChunkEvent, ChunkJob, ChunkResult, ChunkStep};
pub(crate) use job::{AfterInput, DepositJob};

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

#[cfg(test)]
mod tests;
