//! The one error type of every transport.

use std::fmt;

/// What failed while moving bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (refused, DNS, unreachable). The request was not sent.
    Connect,
    /// The request did not complete in time. It may have reached the server.
    Timeout,
    /// The TLS handshake or certificate check failed. The request was not sent.
    Tls,
    /// The connection broke after the request was (maybe) sent, or reading the body
    /// failed.
    Io,
    /// The response body is larger than the configured limit.
    TooLarge,
    /// The URL could not be used.
    InvalidUrl,
    /// Anything else.
    Other,
}

impl TransportErrorKind {
    /// Whether the server may have received (and acted on) the request. Only a failure to
    /// connect, a TLS failure or an unusable URL prove that nothing was sent.
    pub fn maybe_sent(self) -> bool {
        !matches!(self, Self::Connect | Self::Tls | Self::InvalidUrl)
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "could not connect",
            Self::Timeout => "timed out",
            Self::Tls => "TLS failure",
            Self::Io => "connection failed while exchanging data",
            Self::TooLarge => "response body too large",
            Self::InvalidUrl => "invalid URL",
            Self::Other => "transport failure",
        })
    }
}

/// A transport failure: its [`kind`](TransportError::kind) and, where there is one, the
/// underlying error as its `source()`. Its text never contains a URL's query string.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A new error of `kind` caused by `source`.
    pub fn new(
        kind: TransportErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// A new error of `kind` with no underlying cause.
    pub fn from_kind(kind: TransportErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// What failed.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// See [`TransportErrorKind::maybe_sent`].
    pub fn maybe_sent(&self) -> bool {
        self.kind.maybe_sent()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
