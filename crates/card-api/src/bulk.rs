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
//! * Each chunk is checked first (`checkcode`: codes already stored are not sent
//!   again, which is what makes a re-run resume an interrupted import), the missing
//!   ones deposited (`deposit`), then checked again to verify. After a failed call the
//!   chunk is checked before depositing again, so a code WeChat has accepted is never
//!   sent a second time. Codes still missing after an accepted deposit are deposited
//!   again up to [`DepositOptions::fail_retries`] times, then reported. A call that
//!   keeps failing (after the client's own retries) is repeated up to
//!   [`DepositOptions::max_rounds`] times, then the import stops with that error.
//!
//! Memory stays bounded by the chunks in flight: no list of all codes is kept. This is
//! why verification is done per chunk (the `checkcode` right after its deposit) rather
//! than in a second pass over all codes; the final `getdepositcount` is the one
//! whole-card check. Only codes that end up failed or missing are kept, in the report.
//!
//! (Inside, the policy is a pure state machine per run and per chunk, without I/O;
//! both clients only carry out its steps.)

use crate::error::Error;
use card_model::code::{CheckCodes, CodeCheck, DepositCodes, DepositResult, GetDepositCount};
use card_model::limits::MAX_CODES_PER_CALL;
use card_model::{Endpoint, ValidationError};
use std::collections::HashSet;
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
}

impl Default for DepositOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            max_rounds: 5,
            fail_retries: 2,
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
    pub fn concurrency(mut self, chunks: usize) -> Self {
        self.concurrency = chunks.max(1);
        self
    }

    /// How many times one chunk's call may fail with a repeatable error (after the
    /// client's own [`RetryPolicy`](crate::RetryPolicy)) before the import stops with
    /// that error (at least 1; default 5).
    pub fn max_rounds(mut self, rounds: u32) -> Self {
        self.max_rounds = rounds.max(1);
        self
    }

    /// How many times codes still missing after an accepted deposit (WeChat's
    /// `fail_code`) are deposited again before they are reported (default 2).
    pub fn fail_retries(mut self, retries: u32) -> Self {
        self.fail_retries = retries;
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepositReport {
    /// Input codes read.
    pub codes_read: u64,
    /// Codes this run stored (sent, then found by `checkcode`).
    pub deposited: u64,
    /// Codes found already stored before sending (a resumed or repeated import).
    pub already_present: u64,
    /// Codes repeated inside one chunk of the input (sent once).
    pub duplicates: u64,
    /// Codes not stored: rejected up front or failed at WeChat.
    pub failed: Vec<FailedCode>,
    /// Codes WeChat accepted without reporting them failed that `checkcode` still does
    /// not find, after [`DepositOptions::fail_retries`] more deposits.
    pub verified_missing: Vec<String>,
    /// The card's stored codes per `getdepositcount` at the end; `None` when that call
    /// failed (the rest of the report stands).
    pub deposit_count: Option<u64>,
    /// Chunks processed.
    pub chunks: u64,
    /// Deposit calls that WeChat accepted (errcode 0).
    pub deposit_calls: u64,
}

impl DepositReport {
    /// Whether every valid input code is stored: nothing failed and nothing missing.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.verified_missing.is_empty()
    }
}

/// The overall bookkeeping of one `deposit_all` run; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct DepositJob {
    card_id: Arc<str>,
    options: DepositOptions,
    total: Option<usize>,
    filling: Vec<String>,
    seen: HashSet<String>,
    report: DepositReport,
    codes_done: u64,
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
            seen: HashSet::with_capacity(MAX_CODES_PER_CALL),
            report: DepositReport::default(),
            codes_done: 0,
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
        if self.seen.contains(&code) {
            self.codes_done += 1;
            self.report.duplicates += 1;
            return None;
        }
        self.seen.insert(code.clone());
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
        self.seen.clear();
        let codes = std::mem::replace(&mut self.filling, Vec::with_capacity(MAX_CODES_PER_CALL));
        Some(ChunkJob::new(self.card_id.clone(), codes, &self.options))
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

    /// The report, with the final count (`None` when the count call failed).
    pub fn finish(mut self, deposit_count: Option<u64>) -> DepositReport {
        self.report.deposit_count = deposit_count;
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
    /// The answer of a [`ChunkStep::Check`].
    Checked(Result<CodeCheck, Error>),
    /// The answer of a [`ChunkStep::Deposit`].
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
    /// Whether a deposit of this chunk may have reached WeChat.
    sent: bool,
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
    fn new(card_id: Arc<str>, codes: Vec<String>, options: &DepositOptions) -> Self {
        Self {
            card_id,
            result: ChunkResult {
                codes: codes.len(),
                ..ChunkResult::default()
            },
            pending: codes,
            sent: false,
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

    fn check(&self) -> ChunkStep {
        ChunkStep::Check(CheckCodes::new(&*self.card_id, self.pending.clone()))
    }

    fn finish(&mut self, result: Result<(), Error>) -> ChunkStep {
        self.done = true;
        ChunkStep::Done(result.map(|()| std::mem::take(&mut self.result)))
    }

    /// Counts a failed call; the next step (check again, or stop).
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
        match event {
            ChunkEvent::Start => self.check(),
            ChunkEvent::Checked(Err(e)) => self.failed_call(e),
            ChunkEvent::Deposited(Err(e)) => {
                self.sent |= e.maybe_sent();
                self.failed_call(e)
            }
            ChunkEvent::Deposited(Ok(answer)) => {
                self.sent = true;
                self.accepted += 1;
                self.result.deposit_calls += 1;
                self.last_failed = answer.failed.as_ref().map_or(0, |t| t.count());
                self.check()
            }
            ChunkEvent::Checked(Ok(check)) => {
                let exist: HashSet<&str> = check.existing.iter().collect();
                let before = self.pending.len();
                self.pending.retain(|c| !exist.contains(c.as_str()));
                let found = (before - self.pending.len()) as u64;
                if self.sent {
                    self.result.deposited += found;
                } else {
                    self.result.already_present += found;
                }
                if self.pending.is_empty() {
                    return self.finish(Ok(()));
                }
                if self.accepted <= self.fail_retries {
                    return ChunkStep::Deposit(DepositCodes::new(
                        &*self.card_id,
                        self.pending.clone(),
                    ));
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
        let report = job.finish(None);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.failed.len(), 1);
        assert!(matches!(report.failed[0].reason, FailReason::Invalid(_)));
        assert_eq!(report.codes_read, 252);
    }

    #[test]
    fn chunk_checks_deposits_verifies_and_retries_failures() {
        let mut job = DepositJob::new("card", DepositOptions::new(), (3, Some(3))).unwrap();
        for c in ["a", "b"] {
            assert!(job.push(c.into()).is_none());
        }
        job.push("c".into());
        let mut chunk = job.flush().unwrap();
        let ChunkStep::Check(check) = chunk.next(ChunkEvent::Start) else {
            panic!()
        };
        assert_eq!(check.code, ["a", "b", "c"]);
        let step = chunk.next(ChunkEvent::Checked(Ok(CodeCheck::new(
            vec!["a".into()],
            vec!["b".into(), "c".into()],
        ))));
        let ChunkStep::Deposit(dep) = step else {
            panic!()
        };
        assert_eq!(dep.code, ["b", "c"]);
        // WeChat fails "c" every time
        let mut step = chunk.next(ChunkEvent::Deposited(Ok(DepositResult::new(
            Some(CodeTally::Count(1)),
            None,
            Some(CodeTally::Count(1)),
        ))));
        let mut deposits = 1;
        loop {
            match step {
                ChunkStep::Check(c) => {
                    assert!(!c.code.contains(&"b".to_owned()) || deposits == 1);
                    step = chunk.next(ChunkEvent::Checked(Ok(CodeCheck::new(
                        c.code.iter().filter(|x| *x == "b").cloned().collect(),
                        vec!["c".into()],
                    ))));
                }
                ChunkStep::Deposit(d) => {
                    assert_eq!(d.code, ["c"]);
                    deposits += 1;
                    step = chunk.next(ChunkEvent::Deposited(Ok(DepositResult::new(
                        None,
                        None,
                        Some(CodeTally::Count(1)),
                    ))));
                }
                ChunkStep::Done(r) => {
                    let r = r.unwrap();
                    assert_eq!((r.already_present, r.deposited, r.deposit_calls), (1, 1, 3));
                    assert_eq!(r.failed.len(), 1);
                    assert_eq!(r.failed[0].code, "c");
                    let p = job.complete(r);
                    assert_eq!((p.chunks_done, p.codes_done, p.total), (1, 3, Some(3)));
                    break;
                }
            }
        }
        assert_eq!(deposits, 3);
    }

    #[test]
    fn failed_deposit_checks_before_sending_again_and_gives_up_after_bound() {
        let options = DepositOptions::new().max_rounds(2);
        let mut job = DepositJob::new("card", options, (0, None)).unwrap();
        job.push("a".into());
        let mut chunk = job.flush().unwrap();
        chunk.next(ChunkEvent::Start);
        chunk.next(ChunkEvent::Checked(Ok(CodeCheck::new(
            vec![],
            vec!["a".into()],
        ))));
        let busy = || Error::WeChat(card_model::WeChatError::new(-1, "system error"));
        // the deposit may have been applied: check again rather than re-send
        let step = chunk.next(ChunkEvent::Deposited(Err(busy())));
        assert!(matches!(step, ChunkStep::Check(_)));
        let step = chunk.next(ChunkEvent::Checked(Err(busy())));
        assert!(matches!(step, ChunkStep::Done(Err(_))));
    }

    #[test]
    fn invalid_card_id_is_rejected() {
        assert!(DepositJob::new("", DepositOptions::new(), (0, None)).is_err());
    }
}
