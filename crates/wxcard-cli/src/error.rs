//! The command line's error: one clear line, a detail for `--verbose`, an exit code.
//!
//! No variant holds a secret: the API errors come from `card-api`, whose `Display` and
//! `Debug` never carry a token, secret or full URL, and the CLI adds only file names,
//! line numbers, card ids and codes.

use std::fmt;
use std::path::Path;

/// Exit codes, documented in `wxcard --help`.
pub mod exit {
    /// Everything done.
    pub const OK: i32 = 0;
    /// The command ran, but codes are missing or were rejected (deposit, check).
    pub const INCOMPLETE: i32 = 1;
    /// Bad usage or configuration: a flag, missing credentials.
    pub const USAGE: i32 = 2;
    /// Bad input: a file or value fails validation; nothing of it was sent.
    pub const INPUT: i32 = 3;
    /// WeChat answered with an error code.
    pub const WECHAT: i32 = 4;
    /// WeChat could not be reached, or its answer could not be read.
    pub const NETWORK: i32 = 5;
    /// A local failure: a file or the journal could not be read or written.
    pub const LOCAL: i32 = 6;
}

/// The text of the exit codes for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done
  1  done, but codes are missing or were rejected (deposit, check)
  2  bad usage or configuration (a flag, missing credentials)
  3  bad input: a file or value fails validation; nothing of it was sent
  4  WeChat answered with an error code
  5  WeChat could not be reached, or its answer could not be read
  6  a local file or the journal could not be read or written";

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage or configuration.
    Usage(String),
    /// A file or value fails validation.
    Input(String),
    /// A call failed; `context` says which.
    Api {
        /// What the CLI was doing.
        context: String,
        /// The client's error.
        source: wxcard::Error,
    },
    /// A local I/O failure.
    Io {
        /// What the CLI was doing (names the file).
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A local failure that is not an `io::Error` (a corrupt journal, for example).
    Local(String),
}

impl CliError {
    /// An API error while doing `context`.
    pub fn api(context: impl Into<String>, source: wxcard::Error) -> Self {
        Self::Api {
            context: context.into(),
            source,
        }
    }

    /// An I/O error on `path` while doing `what` ("reading", "writing", ...).
    pub fn io(what: &str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            context: format!("{what} {}", path.display()),
            source,
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Input(_) => exit::INPUT,
            Self::Io { .. } | Self::Local(_) => exit::LOCAL,
            Self::Api { source, .. } => match source {
                wxcard::Error::Validation(_)
                | wxcard::Error::Config(_)
                | wxcard::Error::Encode(_) => exit::INPUT,
                wxcard::Error::WeChat(_) => exit::WECHAT,
                _ => exit::NETWORK,
            },
        }
    }

    /// The lines `--verbose` adds: the error's chain of causes.
    pub fn detail(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut next: Option<&dyn std::error::Error> = match self {
            Self::Api { source, .. } => {
                lines.push(format!("cause: {source:?}"));
                std::error::Error::source(source)
            }
            Self::Io { source, .. } => {
                lines.push(format!("cause: {source:?}"));
                std::error::Error::source(source)
            }
            _ => None,
        };
        while let Some(e) = next {
            lines.push(format!("caused by: {e}"));
            next = e.source();
        }
        lines
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) | Self::Input(m) | Self::Local(m) => f.write_str(m),
            Self::Api { context, source } => write!(f, "{context}: {source}"),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for CliError {}
