use super::job::{COMPACT_MIN, keyed_fingerprint};
use super::*;
use card_model::code::{CheckCodes, CodeCheck, CodeTally, DepositResult};
use card_model::limits::MAX_CODES_PER_CALL;
use foldhash::quality::RandomState;
use std::collections::HashSet;

/// A model card's deposit: each code refused (`fail_code`), stored, or already there
/// (counted in `sent_again`); the three counts.
fn store(
    stored: &mut std::collections::BTreeSet<String>,
    sent_again: &mut u64,
    codes: &[String],
    mut refused: impl FnMut(&String) -> bool,
) -> (u64, u64, u64) {
    let (mut succ, mut dup, mut fail) = (0, 0, 0);
    for code in codes {
        if refused(code) {
            fail += 1;
        } else if stored.insert(code.clone()) {
            succ += 1;
        } else {
            dup += 1;
            *sent_again += 1;
        }
    }
    (succ, dup, fail)
}

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
                    let refuse = &self.refuse;
                    let (succ, dup, fail) = store(
                        &mut self.stored,
                        &mut self.sent_again,
                        &deposit.code,
                        |code| refuse.contains(code),
                    );
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
                let (succ, dup, fail) = if acts {
                    let (faults, rng) = (self.faults, &mut self.rng);
                    store(
                        &mut self.stored,
                        &mut self.sent_again,
                        &deposit.code,
                        |_| faults && rng.one_in(50),
                    )
                } else {
                    (0, 0, 0)
                };
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
                    || (w[0].codes_done == w[1].codes_done && w[0].chunks_done < w[1].chunks_done)),
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
