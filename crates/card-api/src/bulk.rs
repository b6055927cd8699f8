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
//! * A fresh import costs two calls per chunk: `deposit`, then one `checkcode` to
//!   verify. When resuming ([`DepositOptions::resume`]), or once a deposit answer shows
//!   that the card already held some of the input (WeChat's `duplicate_code`: a resume
//!   without the flag, or the same codes in two chunks), each chunk is checked *before*
//!   it is sent too, so codes already stored are not sent again. A deposit whose
//!   outcome is unknown (its answer was lost, or WeChat answered -1 or a 5xx) is not
//!   repeated blindly: the client's own retry does not re-send it inside `deposit_all`,
//!   and the chunk checks what WeChat holds before depositing the rest, so a code
//!   WeChat has accepted is never sent a second time. Codes still missing after an
//!   accepted deposit are deposited again up to [`DepositOptions::fail_retries`] times,
//!   then reported. A call that keeps failing (after the client's own retries) is
//!   repeated up to [`DepositOptions::max_rounds`] times, then the import stops with
//!   that error.
//! * Counting follows WeChat's answers, so a report agrees with what the card holds
//!   whatever the input's duplicates: a code is *deposited* when this run's deposit
//!   stored it, *already present* when it was stored before (found by the pre-check,
//!   or answered as a duplicate). After a deposit whose answer was lost, the codes the
//!   check finds are counted as deposited by this run.
//!
//! Memory stays bounded by the chunks in flight: no list of all codes is kept. This is
//! why verification is done per chunk (the `checkcode` right after its deposit) rather
//! than in a second pass over all codes; the final `getdepositcount` is the one
//! whole-card check. Only codes that end up failed or missing are kept, in the report.
//!
//! (Inside, the policy is a pure state machine per run and per chunk, without I/O;
//! both clients only carry out its steps.)

use crate::error::Error;
use card_model::code::{
    CheckCodes, CodeCheck, CodeList, DepositCodes, DepositResult, GetDepositCount,
};
use card_model::limits::MAX_CODES_PER_CALL;
use card_model::{Endpoint, ValidationError};
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
    /// chunk). Without it, a run that meets codes the card already holds sends one
    /// chunk of them again (WeChat answers them as duplicates and stores nothing) and
    /// checks every later chunk first.
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

/// Progress of a `deposit_all` run, reported after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Chunks finished.
    pub chunks_done: u64,
    /// Input codes fully handled (finished chunks, rejected codes, in-chunk repeats).
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
    /// Codes this run stored (sent, then found by `checkcode`).
    pub deposited: u64,
    /// Codes the card held before this run sent them: found by the pre-check of a
    /// resumed import, or answered as duplicates (the same code earlier in the input,
    /// or stored by an earlier run).
    pub already_present: u64,
    /// Codes repeated inside one chunk of the input (sent once).
    pub duplicates: u64,
    /// Codes not stored: rejected up front or failed at WeChat.
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
    report: DepositReport,
    codes_done: u64,
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
            report: DepositReport::default(),
            codes_done: 0,
            pre_check: options.resume,
        })
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
        match at {
            Ok(_) => {
                self.codes_done += 1;
                self.report.duplicates += 1;
                return None;
            }
            Err(at) => self.order.insert(at, self.filling.len()),
        }
        self.filling.push(code);
        if self.filling.len() >= MAX_CODES_PER_CALL {
            self.flush()
        } else {
            None
        }
    }

    /// The last, partly filled chunk, if any; call it when the input ends.
    pub fn flush(&mut self) -> Option<ChunkJob> {
        if self.filling.is_empty() {
            return None;
        }
        self.order.clear();
        let codes = std::mem::replace(&mut self.filling, Vec::with_capacity(MAX_CODES_PER_CALL));
        Some(ChunkJob::new(
            self.card_id.clone(),
            codes,
            &self.options,
            self.pre_check,
        ))
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
        self.progress()
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
        // the next chunk starts afresh: a code of the last one is not a repeat here
        assert!(job.push("a".into()).is_none());
        assert_eq!(job.flush().unwrap().pending(), ["a"]);
        // a full chunk of distinct codes given in descending order
        let mut full = None;
        for c in codes(MAX_CODES_PER_CALL).into_iter().rev() {
            full = job.push(c);
        }
        assert_eq!(full.unwrap().pending().len(), MAX_CODES_PER_CALL);
        let report = job.finish(Ok(0));
        assert_eq!((report.duplicates, report.failed.len()), (3, 1));
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

    #[test]
    fn invalid_card_id_is_rejected() {
        assert!(DepositJob::new("", DepositOptions::new(), (0, None)).is_err());
    }
}
