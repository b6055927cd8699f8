//! The deposit journal: what an import has proven, so that a killed run resumes.
//!
//! A text file of JSON lines, only ever appended to:
//!
//! 1. a header naming the import: card id, SHA-1 of the input file, the target (base
//!    URL and AppID, never the secret), the line options and the batch size. A journal
//!    whose header does not match the command is refused, never reused;
//! 2. one record per finished batch (up to [`BATCH_CODES`] codes, in file order,
//!    numbered from 0), written only **after** WeChat answered every call of the batch
//!    (the batch's deposits were verified with `checkcode`), then flushed to disk
//!    (`fsync`) before anything else is recorded. It holds the batch's counts and the
//!    codes that ended rejected or missing, with their lines;
//! 3. a `retry` record when a later run deposits a batch's rejected or missing codes
//!    again; it replaces that batch's lists.
//!
//! On a new run, a batch with a record is not sent or checked again: the record proves
//! its codes stored. A batch without a record may have been cut anywhere, even after
//! WeChat stored some of its codes; a run that finds an earlier run's journal has
//! `deposit_all` resume (`DepositOptions::resume`): it checks such a batch's codes with
//! `checkcode` before it deposits the ones WeChat does not have, so a code WeChat
//! accepted is never sent twice. A line cut by a kill mid-write (no final newline) is
//! the only thing ever removed from the file.

use crate::error::CliError;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Codes per batch: one journal record, one `deposit_all` call.
pub const BATCH_CODES: usize = 1000;

const FORMAT: u32 = 1;

/// What identifies an import; a journal is reused only by the same import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The format version.
    pub wxcard_deposit_journal: u32,
    /// The card.
    pub card_id: String,
    /// SHA-1 of the input file.
    pub input_sha1: String,
    /// Base URL and AppID.
    pub target: String,
    /// Whether the first line was skipped as a header.
    pub header_line: bool,
    /// Whether blank lines were skipped.
    pub skip_blank: bool,
    /// Codes per batch.
    pub batch_codes: usize,
}

impl Header {
    /// The header of an import.
    pub fn new(
        card_id: &str,
        input_sha1: &str,
        target: String,
        header_line: bool,
        skip_blank: bool,
    ) -> Self {
        Self {
            wxcard_deposit_journal: FORMAT,
            card_id: card_id.to_owned(),
            input_sha1: input_sha1.to_owned(),
            target: without_user_info(&target),
            header_line,
            skip_blank,
            batch_codes: BATCH_CODES,
        }
    }
}

/// `target` ("URL as APPID") without the URL's user information: the journal is a file
/// next to the codes, and a base URL's password must not end up in it. (A valid base
/// URL holds no space, so the URL ends at the first one; everything between `://` and
/// the last `@` before it is user information, whatever characters the password has.)
pub(crate) fn without_user_info(target: &str) -> String {
    let url_end = target.find(' ').unwrap_or(target.len());
    let Some(start) = target[..url_end].find("://").map(|i| i + 3) else {
        return target.to_owned();
    };
    match target[start..url_end].rfind('@') {
        Some(at) => format!("{}{}", &target[..start], &target[start + at + 1..]),
        None => target.to_owned(),
    }
}

/// A code that did not end stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unstored {
    /// Its line in the input.
    pub line: u64,
    /// The code.
    pub code: String,
    /// Why (empty for a missing code: accepted by WeChat but not found).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// A finished batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The batch number (0-based, in file order).
    pub batch: u64,
    /// Whether this record replaces an earlier one's lists (a retry of its failures).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry: bool,
    /// The line of the batch's first code.
    pub first_line: u64,
    /// Codes in the batch (for a retry: codes retried).
    pub codes: u64,
    /// Codes this batch stored.
    pub deposited: u64,
    /// Codes found already stored.
    pub already: u64,
    /// Codes WeChat reported failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Unstored>,
    /// Codes WeChat accepted but `checkcode` did not find.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Unstored>,
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    earlier_run: bool,
}

impl Journal {
    /// Opens (or creates) the journal at `path` for the import `header`; returns it
    /// with the records of earlier runs.
    ///
    /// # Errors
    /// [`CliError::Local`] when the journal belongs to another import or a complete
    /// line of it is not a record; [`CliError::Io`] on I/O failure.
    pub fn open(path: &Path, header: &Header) -> Result<(Self, Vec<Record>), CliError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| CliError::io("opening the journal", path, e))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                CliError::Local(format!("the journal {} is not text", path.display()))
            } else {
                CliError::io("reading the journal", path, e)
            }
        })?;
        // Only complete lines count: a kill may cut the last one.
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        let mut records = Vec::new();
        let mut journal = Self {
            file,
            path: path.to_owned(),
            earlier_run: false,
        };
        let mut lines = text[..complete].lines().enumerate();
        match lines.next() {
            None => {
                journal.truncate(0)?;
                journal.append_line(&json_line(header))?;
                sync_dir(path);
            }
            Some((_, first)) => {
                journal.earlier_run = true;
                let found: Header = serde_json::from_str(first).map_err(|_| {
                    CliError::Local(format!(
                        "{} is not a wxcard deposit journal; pass another --journal path",
                        path.display()
                    ))
                })?;
                if &found != header {
                    return Err(CliError::Local(format!(
                        "the journal {} belongs to another import (card, input file, target or line options differ); \
                         remove it to start over, or pass another --journal path",
                        path.display()
                    )));
                }
                for (i, line) in lines {
                    let damaged = |why: &dyn std::fmt::Display| {
                        CliError::Local(format!(
                            "the journal {} line {} is damaged ({why}); remove the journal to start over",
                            path.display(),
                            i + 1
                        ))
                    };
                    let record: Record = serde_json::from_str(line).map_err(|e| damaged(&e))?;
                    // Counts no run can have written would overflow the report's sums.
                    let stored = record.deposited.checked_add(record.already);
                    if record.codes > header.batch_codes as u64
                        || stored.is_none_or(|n| n > record.codes)
                    {
                        return Err(damaged(&"impossible counts"));
                    }
                    records.push(record);
                }
                if complete < text.len() {
                    journal.truncate(complete as u64)?;
                }
            }
        }
        Ok((journal, records))
    }

    fn truncate(&mut self, len: u64) -> Result<(), CliError> {
        self.file
            .set_len(len)
            .and_then(|()| self.file.seek(SeekFrom::End(0)).map(drop))
            .map_err(|e| CliError::io("writing the journal", &self.path, e))
    }

    fn append_line(&mut self, line: &str) -> Result<(), CliError> {
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| CliError::io("writing the journal", &self.path, e))
    }

    /// Whether an earlier run of this import wrote the journal (its header was there):
    /// then batches it does not record may have been sent, so they are checked before
    /// anything is deposited again.
    pub fn continues_earlier_run(&self) -> bool {
        self.earlier_run
    }

    /// Appends a record and flushes it to disk.
    ///
    /// # Errors
    /// [`CliError::Io`].
    pub fn append(&mut self, record: &Record) -> Result<(), CliError> {
        self.append_line(&json_line(record))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn json_line<T: Serialize>(value: &T) -> String {
    // These types serialize without failure (strings, numbers, lists).
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    line
}

/// Makes a new file's directory entry durable (best effort).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header::new("card", "abc", "http://x as wx1".into(), false, false)
    }

    fn record(batch: u64) -> Record {
        Record {
            batch,
            retry: false,
            first_line: batch * 1000 + 1,
            codes: 1000,
            deposited: 990,
            already: 10,
            rejected: vec![],
            missing: vec![Unstored {
                line: 7,
                code: "C7".into(),
                reason: String::new(),
            }],
        }
    }

    #[test]
    fn records_survive_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (mut j, old) = Journal::open(&path, &header()).unwrap();
        assert!(old.is_empty());
        j.append(&record(0)).unwrap();
        j.append(&record(1)).unwrap();
        drop(j);
        // a kill in the middle of writing a third record
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"batch":2,"first_li"#).unwrap();
        drop(f);
        let (mut j, old) = Journal::open(&path, &header()).unwrap();
        assert_eq!(old, [record(0), record(1)]);
        j.append(&record(2)).unwrap();
        drop(j);
        let (_, old) = Journal::open(&path, &header()).unwrap();
        assert_eq!(old, [record(0), record(1), record(2)]);
    }

    #[test]
    fn a_base_url_password_is_not_written_to_the_journal() {
        for (target, kept) in [
            (
                "http://gw:PASSWORD@127.0.0.1:9 as wx1",
                "http://127.0.0.1:9 as wx1",
            ),
            (
                "https://gw:PASS#WORD@proxy.example/wx as wx1",
                "https://proxy.example/wx as wx1",
            ),
            ("http://127.0.0.1:9 as wx1", "http://127.0.0.1:9 as wx1"),
            (
                "the in-process sandbox as wx1",
                "the in-process sandbox as wx1",
            ),
        ] {
            let header = Header::new("card", "abc", target.into(), false, false);
            assert_eq!(header.target, kept);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("j");
            drop(Journal::open(&path, &header).unwrap());
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("PASS"), "{text}");
        }
    }

    #[test]
    fn a_record_with_impossible_counts_is_damaged() {
        // An edited or corrupted journal must give an error, not overflow the sums of
        // the report (a panic in a debug build, wrong figures in a release build).
        for (field, value) in [
            ("deposited", u64::MAX),
            ("already", u64::MAX),
            ("deposited", 1001),
            ("codes", 1001),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("j");
            let (mut j, _) = Journal::open(&path, &header()).unwrap();
            j.append(&record(0)).unwrap();
            drop(j);
            let mut bad = serde_json::to_value(record(1)).unwrap();
            bad[field] = value.into();
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            writeln!(f, "{bad}").unwrap();
            drop(f);
            let e = Journal::open(&path, &header()).unwrap_err();
            assert!(e.to_string().contains("line 3 is damaged"), "{field}: {e}");
        }
    }

    #[test]
    fn another_import_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        drop(Journal::open(&path, &header()).unwrap());
        let mut other = header();
        other.input_sha1 = "def".into();
        let e = Journal::open(&path, &other).unwrap_err();
        assert!(e.to_string().contains("belongs to another import"), "{e}");
        std::fs::write(&path, "hello\n").unwrap();
        let e = Journal::open(&path, &header()).unwrap_err();
        assert!(
            e.to_string().contains("not a wxcard deposit journal"),
            "{e}"
        );
    }
}
