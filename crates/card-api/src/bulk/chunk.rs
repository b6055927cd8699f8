//! The life of one chunk of at most 100 codes: check, deposit, verify; see the
//! [module docs](super).

use super::{DepositOptions, FailReason, FailedCode};
use crate::error::Error;
use card_model::code::{CheckCodes, CodeCheck, CodeList, DepositCodes, DepositResult};
use std::sync::Arc;

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

/// The life of one chunk of at most [`MAX_CODES_PER_CALL`](card_model::limits::MAX_CODES_PER_CALL) codes; see the
/// [module docs](super).
#[derive(Debug)]
pub(crate) struct ChunkJob {
    card_id: Arc<str>,
    /// Codes not yet found stored.
    pending: Vec<String>,
    result: ChunkResult,
    /// Whether the chunk is checked before its first deposit.
    pub(super) pre_check: bool,
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
    pub(super) fn new(
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
