//! `wxcard deposit`: a code file into a deposit-mode card, resumable.
//!
//! The file is checked in a first pass (nothing is sent if a line is bad), then streamed
//! in batches of [`BATCH_CODES`] codes to worker threads, each running
//! `Client::deposit_all` on one batch (which checks, deposits and verifies it in chunks
//! of 100). A batch's result is recorded in the [journal](crate::journal) once WeChat
//! has answered for all of it. Memory holds the batches in flight, the repeat detector
//! and the codes that end rejected or missing, never the whole file.

use crate::error::CliError;
use crate::input::{Code, CodeFile, LineOptions, Repeat};
use crate::journal::{BATCH_CODES, Header, Journal, Record, Unstored};
use crate::progress::Progress;
use crate::target::Target;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wxcard::bulk::{DepositOptions, FailReason};
use wxcard::{Client, GetDepositCount};

/// Batches in flight by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// What to import and how.
#[derive(Debug)]
pub struct Job<'a> {
    /// The card.
    pub card_id: &'a str,
    /// The codes.
    pub file: &'a CodeFile,
    /// How lines are read.
    pub lines: LineOptions,
    /// The journal, if any.
    pub journal: Option<PathBuf>,
    /// Batches in flight (at least 1).
    pub concurrency: usize,
}

/// The result of an import.
#[derive(Debug, Clone, Serialize)]
pub struct DepositReport {
    /// The card.
    pub card_id: String,
    /// The input's name.
    pub input: String,
    /// Codes in the file, repeats included.
    pub codes_in_file: u64,
    /// Distinct codes.
    pub unique_codes: u64,
    /// Codes this import stored (over all its runs).
    pub deposited: u64,
    /// Codes WeChat had before the import sent them.
    pub already_there: u64,
    /// Codes repeated in the file (deposited once).
    pub repeated: Vec<Repeat>,
    /// Codes WeChat refused, with the reason.
    pub rejected: Vec<Unstored>,
    /// Codes WeChat accepted that `checkcode` does not find.
    pub missing: Vec<Unstored>,
    /// Batches proven by the journal of an earlier run, neither sent nor checked again.
    pub resumed_batches: u64,
    /// Codes in those batches.
    pub resumed_codes: u64,
    /// Blank lines skipped.
    pub blank_lines_skipped: u64,
    /// The card's stored codes at the end (`getdepositcount`); `None` when that call
    /// failed.
    pub deposit_count: Option<u64>,
    /// The journal's path.
    pub journal: Option<String>,
    /// Wall time of this run, seconds.
    pub seconds: f64,
    /// Whether every distinct code is stored.
    pub complete: bool,
}

/// The state of one batch: its journal record(s) merged.
#[derive(Debug, Clone)]
struct BatchState {
    record: Record,
    from_journal: bool,
}

struct Batch {
    index: u64,
    codes: Vec<Code>,
}

/// Runs an import.
///
/// # Errors
/// A bad line (nothing sent), a journal problem, or the error of a call that kept
/// failing; batches finished before it are in the journal.
pub fn run(
    client: &Client,
    target: &Target,
    job: &Job<'_>,
    progress_label: &str,
    quiet: bool,
) -> Result<DepositReport, CliError> {
    let started = Instant::now();
    // Nothing is sent for an invalid card id.
    wxcard::Endpoint::validate(&GetDepositCount::new(job.card_id))
        .map_err(|e| CliError::Input(format!("--card-id: {e}")))?;
    let scan = crate::input::scan(job.file, job.lines)?;
    let codes_in_file = scan.codes;
    let unique_codes = scan.codes - scan.repeats;
    let blank_lines_skipped = scan.blank_skipped;
    let header = Header::new(
        job.card_id,
        &scan.sha1,
        target.describe(),
        job.lines.header,
        job.lines.skip_blank,
    );
    let mut dedup = scan.into_dedup();

    let (journal, old) = match &job.journal {
        Some(path) => {
            let (journal, records) = Journal::open(path, &header)?;
            (Some(journal), records)
        }
        None => (None, Vec::new()),
    };
    let journal_path = journal.as_ref().map(|j| j.path().display().to_string());
    // A batch an earlier run may have sent is checked before it is deposited again.
    let resume = journal.as_ref().is_some_and(Journal::continues_earlier_run);
    let mut batches: BTreeMap<u64, BatchState> = BTreeMap::new();
    for record in old {
        merge(&mut batches, record, true);
    }
    let resumed_batches = batches.len() as u64;
    let resumed_codes: u64 = batches.values().map(|b| b.record.codes).sum();

    let progress = Progress::new(progress_label, unique_codes, quiet);
    progress.inc(resumed_codes);

    let journal = Mutex::new(journal);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<CliError>> = Mutex::new(None);
    let finished: Mutex<Vec<Record>> = Mutex::new(Vec::new());
    let mut repeated = Vec::new();
    let concurrency = job.concurrency.max(1);

    let fail = |e: CliError| {
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        stop.store(true, Ordering::SeqCst);
    };

    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Batch>(concurrency);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..concurrency {
            let rx = Arc::clone(&rx);
            let (journal, finished, stop, progress, fail) =
                (&journal, &finished, &stop, &progress, &fail);
            scope.spawn(move || {
                loop {
                    let batch = {
                        let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
                        rx.recv()
                    };
                    let Ok(batch) = batch else { break };
                    if stop.load(Ordering::SeqCst) {
                        continue; // drain
                    }
                    match deposit_batch(client, job.card_id, &batch, resume, progress) {
                        Ok(record) => {
                            let mut journal = journal.lock().unwrap_or_else(|p| p.into_inner());
                            if let Some(j) = journal.as_mut() {
                                if let Err(e) = j.append(&record) {
                                    fail(e);
                                    continue;
                                }
                            }
                            drop(journal);
                            finished
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(record);
                        }
                        Err(e) => fail(CliError::api(
                            format!(
                                "deposit of the batch from line {} stopped",
                                batch.codes.first().map_or(0, |c| c.line)
                            ),
                            e,
                        )),
                    }
                }
            });
        }
        // The reader: the second pass over the file.
        let read = (|| -> Result<(), CliError> {
            let mut lines = job.file.lines(job.lines)?;
            let mut index = 0u64;
            let mut codes = Vec::with_capacity(BATCH_CODES);
            let send = |index: u64, codes: Vec<Code>| -> bool {
                if batches.contains_key(&index) {
                    return true; // proven by the journal
                }
                tx.send(Batch { index, codes }).is_ok()
            };
            while let Some(code) = lines.next_code()? {
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                if let Some(repeat) = dedup.check(&code) {
                    repeated.push(repeat);
                    continue;
                }
                codes.push(code);
                if codes.len() == BATCH_CODES {
                    let full = std::mem::replace(&mut codes, Vec::with_capacity(BATCH_CODES));
                    if !send(index, full) {
                        return Ok(());
                    }
                    index += 1;
                }
            }
            if !codes.is_empty() {
                send(index, codes);
            }
            Ok(())
        })();
        drop(tx);
        match read {
            Ok(()) => {}
            // The first pass accepted every line: the file changed since.
            Err(CliError::Input(m)) => fail(CliError::Input(format!(
                "{m} (the file changed while it was imported)"
            ))),
            Err(other) => fail(other),
        }
    });

    for record in finished.into_inner().unwrap_or_else(|p| p.into_inner()) {
        merge(&mut batches, record, false);
    }
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        progress.abandon();
        let stored: u64 = batches
            .values()
            .map(|b| b.record.deposited + b.record.already)
            .sum();
        let note = if job.journal.is_some() {
            format!(
                "{stored} codes are stored and recorded in the journal; run the same command again to resume"
            )
        } else {
            format!("{stored} codes of finished batches are stored")
        };
        return Err(match e {
            CliError::Api { context, source } => CliError::Api {
                context: format!("{context} ({note})"),
                source,
            },
            other => other,
        });
    }

    // Codes earlier runs left rejected or missing get one more try.
    let mut journal = journal.into_inner().unwrap_or_else(|p| p.into_inner());
    let retry: Vec<(u64, Vec<Code>, u64)> = batches
        .values()
        .filter(|b| {
            b.from_journal && !(b.record.rejected.is_empty() && b.record.missing.is_empty())
        })
        .map(|b| {
            let codes = b
                .record
                .rejected
                .iter()
                .chain(&b.record.missing)
                .map(|u| Code {
                    line: u.line,
                    code: u.code.clone(),
                })
                .collect();
            (b.record.batch, codes, b.record.first_line)
        })
        .collect();
    for (index, codes, first_line) in retry {
        let batch = Batch { index, codes };
        let mut record = deposit_batch(client, job.card_id, &batch, true, &Progress::Hidden)
            .map_err(|e| CliError::api("deposit of earlier rejected or missing codes", e))?;
        record.retry = true;
        record.first_line = first_line;
        if let Some(j) = journal.as_mut() {
            j.append(&record)?;
        }
        merge(&mut batches, record, false);
    }
    progress.finish();

    let deposit_count = client
        .get_deposit_count(&GetDepositCount::new(job.card_id))
        .ok()
        .map(|c| c.count);
    let mut report = DepositReport {
        card_id: job.card_id.to_owned(),
        input: job.file.name().to_owned(),
        codes_in_file,
        unique_codes,
        deposited: 0,
        already_there: 0,
        repeated,
        rejected: Vec::new(),
        missing: Vec::new(),
        resumed_batches,
        resumed_codes,
        blank_lines_skipped,
        deposit_count,
        journal: journal_path,
        seconds: started.elapsed().as_secs_f64(),
        complete: false,
    };
    for b in batches.into_values() {
        report.deposited += b.record.deposited;
        report.already_there += b.record.already;
        report.rejected.extend(b.record.rejected);
        report.missing.extend(b.record.missing);
    }
    report.complete = report.rejected.is_empty() && report.missing.is_empty();
    Ok(report)
}

fn merge(batches: &mut BTreeMap<u64, BatchState>, record: Record, from_journal: bool) {
    match batches.get_mut(&record.batch) {
        Some(state) if record.retry => {
            state.record.deposited += record.deposited;
            state.record.already += record.already;
            state.record.rejected = record.rejected;
            state.record.missing = record.missing;
        }
        _ => {
            batches.insert(
                record.batch,
                BatchState {
                    record,
                    from_journal,
                },
            );
        }
    }
}

fn deposit_batch(
    client: &Client,
    card_id: &str,
    batch: &Batch,
    resume: bool,
    progress: &Progress,
) -> Result<Record, wxcard::Error> {
    let mut reported = 0u64;
    let report = client.deposit_all(
        card_id,
        batch.codes.iter().map(|c| c.code.clone()),
        &DepositOptions::new().resume(resume),
        |p| {
            progress.inc(p.codes_done.saturating_sub(reported));
            reported = p.codes_done;
        },
    )?;
    let line_of = |code: &str| {
        batch
            .codes
            .iter()
            .find(|c| c.code == code)
            .map_or(0, |c| c.line)
    };
    let rejected = report
        .failed
        .iter()
        .map(|f| Unstored {
            line: line_of(&f.code),
            code: f.code.clone(),
            reason: match &f.reason {
                FailReason::Invalid(e) => format!("invalid: {e}"),
                FailReason::Rejected => {
                    "WeChat reported it failed (fail_code) on every deposit".to_owned()
                }
                other => format!("{other:?}"),
            },
        })
        .collect();
    let missing = report
        .verified_missing
        .iter()
        .map(|code| Unstored {
            line: line_of(code),
            code: code.clone(),
            reason: String::new(),
        })
        .collect();
    Ok(Record {
        batch: batch.index,
        retry: false,
        first_line: batch.codes.first().map_or(0, |c| c.line),
        codes: batch.codes.len() as u64,
        deposited: report.deposited,
        already: report.already_present,
        rejected,
        missing,
    })
}

/// The human-readable report.
pub fn render(report: &DepositReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "deposit into card {}: {} codes from {} ({} distinct)",
        report.card_id, report.codes_in_file, report.input, report.unique_codes
    );
    let _ = writeln!(s, "  deposited       {:>9}", report.deposited);
    let _ = writeln!(s, "  already there   {:>9}", report.already_there);
    let _ = writeln!(
        s,
        "  repeated        {:>9}{}",
        report.repeated.len(),
        if report.repeated.is_empty() {
            ""
        } else {
            "  (repeats in the file, deposited once)"
        }
    );
    list(
        &mut s,
        report.repeated.iter().map(|r| {
            format!(
                "line {}: {:?} repeats line {}",
                r.line, r.code, r.first_line
            )
        }),
    );
    let _ = writeln!(s, "  rejected        {:>9}", report.rejected.len());
    list(
        &mut s,
        report
            .rejected
            .iter()
            .map(|u| format!("line {}: {:?}: {}", u.line, u.code, u.reason)),
    );
    let _ = writeln!(s, "  missing         {:>9}", report.missing.len());
    list(
        &mut s,
        report.missing.iter().map(|u| {
            format!(
                "line {}: {:?}: accepted by WeChat but not found by checkcode",
                u.line, u.code
            )
        }),
    );
    if report.resumed_batches > 0 {
        let _ = writeln!(
            s,
            "  resumed: {} batches ({} codes) recorded by an earlier run, not sent or checked again",
            report.resumed_batches, report.resumed_codes
        );
    }
    if report.blank_lines_skipped > 0 {
        let _ = writeln!(s, "  blank lines skipped: {}", report.blank_lines_skipped);
    }
    match report.deposit_count {
        Some(n) => {
            let _ = writeln!(
                s,
                "  the card now holds {n} deposited codes (getdepositcount)"
            );
        }
        None => {
            let _ = writeln!(
                s,
                "  the card's deposit count could not be read (getdepositcount failed)"
            );
        }
    }
    if let Some(j) = &report.journal {
        let _ = writeln!(s, "  journal: {j}");
    }
    let _ = writeln!(s, "  time: {:.1} s", report.seconds);
    if report.complete {
        let _ = writeln!(s, "complete: every code in the file is stored");
    } else {
        let _ = writeln!(
            s,
            "INCOMPLETE: {} codes are not stored (run the same command again to retry them)",
            report.rejected.len() + report.missing.len()
        );
    }
    s
}

/// Up to 10 lines of a list, then a count of the rest.
fn list(s: &mut String, items: impl Iterator<Item = String>) {
    use std::fmt::Write;
    let mut n = 0;
    for item in items {
        if n < 10 {
            let _ = writeln!(s, "      {item}");
        }
        n += 1;
    }
    if n > 10 {
        let _ = writeln!(s, "      ... and {} more (see --report FILE)", n - 10);
    }
}
