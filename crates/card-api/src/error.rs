//! The one error type of both clients, by how far the call got.

use card_model::{ErrCode, ValidationError, WeChatError};
use card_transport::{TransportError, TransportErrorKind};
use std::fmt;

/// How many bytes of an unexpected response body an [`Error`] keeps.
pub const MAX_KEPT_BODY: usize = 4096;

/// Why a call failed, by how far it got: invalid input (nothing sent), transport failure
/// (maybe sent), an unexpected HTTP status, an undecodable body, or a WeChat errcode.
///
/// Neither `Display` nor `Debug` of any variant carries an access token, an app secret
/// or an api_ticket: request URLs are never kept, transport errors show only their
/// kind, and bodies of credential endpoints are not kept at all.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request breaks a documented limit; nothing was sent.
    #[error("invalid request: {0}")]
    Validation(#[from] ValidationError),
    /// No complete response was received.
    #[error("{}", transport_text(source, *maybe_sent))]
    Transport {
        /// What failed; its kind is [`TransportError::kind`].
        #[source]
        source: TransportError,
        /// Whether WeChat may have received and acted on the request.
        maybe_sent: bool,
    },
    /// An HTTP status other than 2xx (for example a proxy's 502).
    #[error("unexpected HTTP status {status}")]
    Status {
        /// The status.
        status: http::StatusCode,
        /// The start of the body (at most [`MAX_KEPT_BODY`] bytes).
        body: Body,
    },
    /// Status 200, but the body is not the JSON this endpoint returns.
    #[error("undecodable response body: {source}")]
    Decode {
        /// The JSON error.
        #[source]
        source: serde_json::Error,
        /// The start of the body (at most [`MAX_KEPT_BODY`] bytes).
        body: Body,
    },
    /// WeChat answered with a non-zero errcode.
    #[error(transparent)]
    WeChat(#[from] WeChatError),
    /// The token store failed (an external store's connection, for example).
    #[error("token store: {0}")]
    Store(#[from] StoreError),
    /// The client is misconfigured or was used in a way that cannot work (nothing sent).
    #[error("configuration: {0}")]
    Config(String),
    /// The request could not be encoded as JSON (nothing sent).
    #[error("request could not be encoded: {0}")]
    Encode(#[source] serde_json::Error),
}

fn transport_text(source: &TransportError, maybe_sent: bool) -> String {
    let reach = if maybe_sent {
        "the request may have reached WeChat"
    } else {
        "the request was not sent"
    };
    format!("transport failure ({}); {reach}", source.kind())
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Validation(e) => f.debug_tuple("Validation").field(e).finish(),
            // The transport's own error chain may quote a URL: show only its kind.
            Self::Transport { source, maybe_sent } => f
                .debug_struct("Transport")
                .field("kind", &source.kind())
                .field("maybe_sent", maybe_sent)
                .finish(),
            Self::Status { status, body } => f
                .debug_struct("Status")
                .field("status", status)
                .field("body", body)
                .finish(),
            Self::Decode { source, body } => f
                .debug_struct("Decode")
                .field("source", source)
                .field("body", body)
                .finish(),
            Self::WeChat(e) => f.debug_tuple("WeChat").field(e).finish(),
            Self::Store(e) => f.debug_tuple("Store").field(e).finish(),
            Self::Config(m) => f.debug_tuple("Config").field(m).finish(),
            Self::Encode(e) => f.debug_tuple("Encode").field(e).finish(),
        }
    }
}

impl Error {
    /// A transport failure, with `maybe_sent` taken from its kind.
    pub fn transport(source: TransportError) -> Self {
        let maybe_sent = source.maybe_sent();
        Self::Transport { source, maybe_sent }
    }

    /// A copy of this error for the other callers that waited for the same token
    /// refresh (the error types underneath are not `Clone`: sources are rebuilt from
    /// their kind or text).
    pub(crate) fn shared_copy(&self) -> Self {
        use serde::de::Error as _;
        match self {
            Self::Validation(e) => Self::Validation(e.clone()),
            Self::Transport { source, maybe_sent } => Self::Transport {
                source: TransportError::from_kind(source.kind()),
                maybe_sent: *maybe_sent,
            },
            Self::Status { status, body } => Self::Status {
                status: *status,
                body: body.clone(),
            },
            Self::Decode { source, body } => Self::Decode {
                source: serde_json::Error::custom(source),
                body: body.clone(),
            },
            Self::WeChat(e) => Self::WeChat(e.clone()),
            Self::Store(e) => Self::Store(StoreError::new(e.to_string())),
            Self::Config(m) => Self::Config(m.clone()),
            Self::Encode(e) => Self::Encode(serde_json::Error::custom(e)),
        }
    }

    /// Whether the same call may succeed if made again later: errcode -1 or 45009, a
    /// connect failure, a timeout or a broken connection, a 5xx or 429 status.
    ///
    /// It says nothing about whether repeating is *harmless*: that is the endpoint's
    /// [`repeatable`](card_model::Endpoint::repeatable), which the clients check before
    /// they retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { source, .. } => matches!(
                source.kind(),
                TransportErrorKind::Connect | TransportErrorKind::Timeout | TransportErrorKind::Io
            ),
            Self::Status { status, .. } => {
                status.is_server_error() || *status == http::StatusCode::TOO_MANY_REQUESTS
            }
            Self::WeChat(e) => e.is_transient(),
            _ => false,
        }
    }

    /// Whether WeChat rejected the access token (40001, 40014, 42001).
    pub fn is_token_error(&self) -> bool {
        matches!(self, Self::WeChat(e) if e.is_token_error())
    }

    /// Whether the call timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport { source, .. } if source.kind() == TransportErrorKind::Timeout)
    }

    /// Whether WeChat may have received (and acted on) the request. `false` means it
    /// certainly did not: invalid input, configuration, a connect or TLS failure.
    pub fn maybe_sent(&self) -> bool {
        match self {
            Self::Validation(_) | Self::Config(_) | Self::Encode(_) | Self::Store(_) => false,
            Self::Transport { maybe_sent, .. } => *maybe_sent,
            Self::Status { .. } | Self::Decode { .. } | Self::WeChat(_) => true,
        }
    }

    /// The WeChat errcode, for [`Error::WeChat`].
    pub fn errcode(&self) -> Option<ErrCode> {
        match self {
            Self::WeChat(e) => Some(e.code),
            _ => None,
        }
    }
}

/// The start of a response body kept in an [`Error`]: at most [`MAX_KEPT_BODY`] bytes,
/// as (lossy) UTF-8 text. Bodies of credential endpoints (tokens, tickets) are never
/// kept: they may hold a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Body {
    text: String,
    total_len: usize,
    redacted: bool,
}

impl Body {
    /// Keeps the first [`MAX_KEPT_BODY`] bytes of `bytes` (cut on a character boundary).
    pub fn keep(bytes: &[u8]) -> Self {
        let head = &bytes[..bytes.len().min(MAX_KEPT_BODY)];
        let mut text = String::from_utf8_lossy(head).into_owned();
        if bytes.len() > MAX_KEPT_BODY && text.ends_with('\u{FFFD}') {
            // a multi-byte character cut in half
            text.pop();
        }
        Self {
            text,
            total_len: bytes.len(),
            redacted: false,
        }
    }

    /// Keeps only the length of a body that may carry a secret.
    pub fn redacted(bytes: &[u8]) -> Self {
        Self {
            text: String::new(),
            total_len: bytes.len(),
            redacted: true,
        }
    }

    /// The kept text (empty when redacted).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The length of the whole body in bytes.
    pub fn total_len(&self) -> usize {
        self.total_len
    }

    /// Whether the text is shorter than the body (cut or redacted).
    pub fn is_truncated(&self) -> bool {
        self.redacted || self.text.len() < self.total_len
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.redacted {
            write!(f, "[redacted: {} bytes]", self.total_len)
        } else if self.is_truncated() {
            write!(f, "{:?}... ({} bytes)", self.text, self.total_len)
        } else {
            fmt::Debug::fmt(&self.text, f)
        }
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A failure of a [`TokenStore`](crate::TokenStore).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A store error with a message (which must not contain a secret).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A store error caused by `source` (an external store's client error).
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_bounded_and_cut_on_a_char() {
        let big = "惠".repeat(3000); // 9000 bytes
        let b = Body::keep(big.as_bytes());
        assert!(b.text().len() <= MAX_KEPT_BODY);
        assert!(b.text().chars().all(|c| c == '惠'));
        assert_eq!(b.total_len(), 9000);
        assert!(b.is_truncated());
        let small = Body::keep(b"<html>bad gateway</html>");
        assert_eq!(small.text(), "<html>bad gateway</html>");
        assert!(!small.is_truncated());
        let r = Body::redacted(br#"{"access_token":"TOKEN-abc"}"#);
        assert!(!format!("{r:?}{r}").contains("TOKEN"));
    }

    #[test]
    fn helpers_classify() {
        let t = Error::transport(TransportError::from_kind(TransportErrorKind::Timeout));
        assert!(t.is_retryable() && t.is_timeout() && t.maybe_sent());
        let c = Error::transport(TransportError::from_kind(TransportErrorKind::Connect));
        assert!(c.is_retryable() && !c.maybe_sent());
        let w = Error::from(WeChatError::new(42001, "access_token expired"));
        assert!(w.is_token_error() && !w.is_retryable());
        assert_eq!(w.errcode(), Some(ErrCode::AccessTokenExpired));
        let busy = Error::from(WeChatError::new(-1, "system error"));
        assert!(busy.is_retryable());
        let s = Error::Status {
            status: http::StatusCode::BAD_GATEWAY,
            body: Body::keep(b"bad gateway"),
        };
        assert!(s.is_retryable());
        assert_eq!(s.errcode(), None);
    }

    #[test]
    fn transport_debug_hides_the_source_chain() {
        let e = Error::transport(TransportError::new(
            TransportErrorKind::Io,
            "GET https://api.weixin.qq.com/x?access_token=TOKEN-abc failed",
        ));
        let shown = format!("{e:?} {e}");
        assert!(!shown.contains("TOKEN-abc"), "{shown}");
        assert!(shown.contains("Io"));
    }
}
