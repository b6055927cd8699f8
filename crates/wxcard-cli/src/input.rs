//! Code files: one code per line, read as a stream.
//!
//! A file is read twice. The first pass ([`scan`]) checks every line (UTF-8, length,
//! blank lines), counts the codes, fingerprints the content (SHA-1, for the journal)
//! and finds which codes occur more than once: it keeps one 64-bit hash per code, then
//! sorts them, so 1,000,000 codes cost 8 MB. The second pass ([`Lines`] with
//! [`Dedup`]) streams the codes to the import; only the codes whose hash occurred
//! twice are kept as text, to tell a real repeat (reported, deposited once) from a hash
//! collision (deposited). Standard input is copied to a temporary file first.

use crate::error::CliError;
use sha1::{Digest, Sha1};
use std::collections::{HashMap, HashSet, hash_map::RandomState};
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use wxcard::model::limits::MAX_CODE_CHARS;

/// The longest line read (a header may be long; a code has at most 20 characters).
pub const MAX_LINE_BYTES: u64 = 64 * 1024;

/// How lines are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineOptions {
    /// The first line is a header, not a code.
    pub header: bool,
    /// Blank lines are skipped (otherwise they are an error).
    pub skip_blank: bool,
}

/// A code file: a path on disk (standard input is spooled to a temporary file).
#[derive(Debug)]
pub struct CodeFile {
    path: PathBuf,
    name: String,
    stdin: bool,
    _spool: Option<tempfile::NamedTempFile>,
}

impl CodeFile {
    /// Opens `arg`; `-` copies standard input to a temporary file.
    ///
    /// # Errors
    /// [`CliError::Io`] when the file cannot be opened or standard input copied.
    pub fn open(arg: &Path) -> Result<Self, CliError> {
        if arg == Path::new("-") {
            let mut spool = tempfile::NamedTempFile::new()
                .map_err(|e| CliError::io("creating a temporary file for", arg, e))?;
            std::io::copy(&mut std::io::stdin().lock(), spool.as_file_mut())
                .map_err(|e| CliError::io("reading", Path::new("standard input"), e))?;
            return Ok(Self {
                path: spool.path().to_owned(),
                name: "standard input".to_owned(),
                stdin: true,
                _spool: Some(spool),
            });
        }
        File::open(arg).map_err(|e| CliError::io("opening", arg, e))?;
        Ok(Self {
            path: arg.to_owned(),
            name: arg.display().to_string(),
            stdin: false,
            _spool: None,
        })
    }

    /// The name to show: the path, or "standard input".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the codes came from standard input.
    pub fn is_stdin(&self) -> bool {
        self.stdin
    }

    /// A fresh reader over the lines.
    ///
    /// # Errors
    /// [`CliError::Io`] when the file cannot be opened.
    pub fn lines(&self, options: LineOptions) -> Result<Lines<BufReader<File>>, CliError> {
        let file = File::open(&self.path).map_err(|e| CliError::io("opening", &self.path, e))?;
        Ok(Lines::new(
            BufReader::with_capacity(64 * 1024, file),
            options,
            self.name.clone(),
        ))
    }
}

/// One code and the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The line number.
    pub line: u64,
    /// The code, surrounding white space removed.
    pub code: String,
}

/// Reads codes line by line; errors name the line.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    options: LineOptions,
    name: String,
    buf: Vec<u8>,
    line: u64,
    /// Lines skipped as blank.
    pub blank_skipped: u64,
}

impl<R: BufRead> Lines<R> {
    /// Reads `reader`, naming it `name` in errors.
    pub fn new(reader: R, options: LineOptions, name: String) -> Self {
        Self {
            reader,
            options,
            name,
            buf: Vec::with_capacity(64),
            line: 0,
            blank_skipped: 0,
        }
    }

    /// The next code, or `None` at the end.
    ///
    /// # Errors
    /// [`CliError::Input`] naming the line: invalid UTF-8, a blank line (unless
    /// skipped), a code longer than [`MAX_CODE_CHARS`] characters;
    /// [`CliError::Io`] when reading fails.
    pub fn next_code(&mut self) -> Result<Option<Code>, CliError> {
        loop {
            self.buf.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| CliError::io("reading", Path::new(&self.name), e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let line = self.line;
            if n as u64 > MAX_LINE_BYTES {
                // Not read further: a file without line breaks must not fill the memory.
                return Err(CliError::Input(format!(
                    "{} line {line}: longer than {MAX_LINE_BYTES} bytes; is this a file of one code per line?",
                    self.name
                )));
            }
            if line == 1 && self.options.header {
                continue;
            }
            let text = std::str::from_utf8(&self.buf).map_err(|e| {
                CliError::Input(format!(
                    "{} line {line}: not valid UTF-8 (byte {} of the line)",
                    self.name,
                    e.valid_up_to() + 1
                ))
            })?;
            // A UTF-8 byte order mark (spreadsheets write one) is not part of a code.
            let text = if line == 1 {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            } else {
                text
            };
            let code = text.trim();
            if code.is_empty() {
                if self.options.skip_blank {
                    self.blank_skipped += 1;
                    continue;
                }
                return Err(CliError::Input(format!(
                    "{} line {line}: blank line (pass --skip-blank to skip blank lines)",
                    self.name
                )));
            }
            let chars = code.chars().count();
            if chars > MAX_CODE_CHARS {
                let shown: String = code.chars().take(MAX_CODE_CHARS + 10).collect();
                return Err(CliError::Input(format!(
                    "{} line {line}: the code {shown:?} has {chars} characters; a code has at most {MAX_CODE_CHARS}",
                    self.name
                )));
            }
            return Ok(Some(Code {
                line,
                code: code.to_owned(),
            }));
        }
    }
}

/// A reader that feeds what passes through it to SHA-1.
struct Hashing<R> {
    inner: R,
    sha1: Sha1,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.sha1.update(&out[..n]);
        Ok(n)
    }
}

/// What the first pass found.
#[derive(Debug)]
pub struct Scan {
    /// Codes in the file, repeats included.
    pub codes: u64,
    /// Codes that repeat an earlier one (by hash; a collision counts here too).
    pub repeats: u64,
    /// Hex SHA-1 of the file's bytes.
    pub sha1: String,
    /// Blank lines skipped.
    pub blank_skipped: u64,
    dedup: Dedup,
}

impl Scan {
    /// The repeat detector for the second pass.
    pub fn into_dedup(self) -> Dedup {
        self.dedup
    }
}

/// The first pass over a file; see the [module docs](self).
///
/// # Errors
/// The first bad line ([`Lines::next_code`]); [`CliError::Input`] when the file holds
/// no code.
pub fn scan(file: &CodeFile, options: LineOptions) -> Result<Scan, CliError> {
    let raw = File::open(&file.path).map_err(|e| CliError::io("opening", &file.path, e))?;
    let hashing = Hashing {
        inner: raw,
        sha1: Sha1::new(),
    };
    let mut lines = Lines::new(
        BufReader::with_capacity(64 * 1024, hashing),
        options,
        file.name.clone(),
    );
    let hasher = RandomState::new();
    let mut hashes: Vec<u64> = Vec::new();
    while let Some(code) = lines.next_code()? {
        hashes.push(hasher.hash_one(code.code.as_str()));
    }
    // Read to the end so that the fingerprint covers every byte.
    let blank_skipped = lines.blank_skipped;
    let mut hashing = lines.reader.into_inner();
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| CliError::io("reading", &file.path, e))?;
    let sha1 = hex(&hashing.sha1.finalize());
    if hashes.is_empty() {
        return Err(CliError::Input(format!("{} holds no code", file.name)));
    }
    let codes = hashes.len() as u64;
    hashes.sort_unstable();
    let mut repeated = HashSet::new();
    let mut repeats = 0;
    for pair in hashes.windows(2) {
        if pair[0] == pair[1] {
            repeats += 1;
            repeated.insert(pair[0]);
        }
    }
    Ok(Scan {
        codes,
        repeats,
        sha1,
        blank_skipped,
        dedup: Dedup {
            hasher,
            repeated,
            first: HashMap::new(),
        },
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A code that repeats an earlier line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Repeat {
    /// The line of the repeat.
    pub line: u64,
    /// The line where the code first occurs.
    pub first_line: u64,
    /// The code.
    pub code: String,
}

/// The second pass's repeat detector: exact, holding only the codes whose hash the
/// first pass saw more than once.
#[derive(Debug)]
pub struct Dedup {
    hasher: RandomState,
    repeated: HashSet<u64>,
    first: HashMap<String, u64>,
}

impl Dedup {
    /// `Some` when `code` repeats an earlier line.
    pub fn check(&mut self, code: &Code) -> Option<Repeat> {
        if self.repeated.is_empty() {
            return None;
        }
        if !self
            .repeated
            .contains(&self.hasher.hash_one(code.code.as_str()))
        {
            return None;
        }
        match self.first.get(&code.code) {
            Some(&first_line) => Some(Repeat {
                line: code.line,
                first_line,
                code: code.code.clone(),
            }),
            None => {
                self.first.insert(code.code.clone(), code.line);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &[u8], options: LineOptions) -> Result<Vec<Code>, CliError> {
        let mut lines = Lines::new(text, options, "t".into());
        let mut out = Vec::new();
        while let Some(c) = lines.next_code()? {
            out.push(c);
        }
        Ok(out)
    }

    #[test]
    fn header_blank_crlf_and_white_space() {
        let options = LineOptions {
            header: true,
            skip_blank: true,
        };
        let codes = read_all(b"code\r\n A1 \r\n\r\nB2\n  \nC3", options).unwrap();
        let got: Vec<(u64, &str)> = codes.iter().map(|c| (c.line, c.code.as_str())).collect();
        assert_eq!(got, [(2, "A1"), (4, "B2"), (6, "C3")]);
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_code() {
        // Spreadsheet programs save "UTF-8 CSV" with a BOM; it must not be deposited
        // as the first character of the first code.
        let codes = read_all(b"\xef\xbb\xbfCODE1\nCODE2\n", LineOptions::default()).unwrap();
        let got: Vec<&str> = codes.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(got, ["CODE1", "CODE2"]);
        let e = read_all(b"\xef\xbb\xbf\nA\n", LineOptions::default()).unwrap_err();
        assert!(e.to_string().contains("line 1: blank line"), "{e}");
    }

    #[test]
    fn errors_name_the_line() {
        let e = read_all(b"A\n\nB\n", LineOptions::default()).unwrap_err();
        assert!(e.to_string().contains("line 2: blank line"), "{e}");
        let e = read_all(b"A\nB\xff\n", LineOptions::default()).unwrap_err();
        assert!(e.to_string().contains("line 2: not valid UTF-8"), "{e}");
        let e = read_all(b"A\n123456789012345678901\n", LineOptions::default()).unwrap_err();
        assert!(e.to_string().contains("line 2: the code"), "{e}");
        assert!(e.to_string().contains("21 characters"), "{e}");
        // 20 characters, some multi-byte, are fine
        assert_eq!(
            read_all(
                "券券券券券券券券券券券券券券券券券券券券\n".as_bytes(),
                LineOptions::default()
            )
            .unwrap()
            .len(),
            1
        );
        // a huge line is refused without being read whole
        let huge = vec![b'x'; 200_000];
        let e = read_all(&huge, LineOptions::default()).unwrap_err();
        assert!(
            e.to_string().contains("line 1: longer than 65536 bytes"),
            "{e}"
        );
    }
}
