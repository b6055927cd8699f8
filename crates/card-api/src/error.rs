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

/// The start of a response body kept in an [`Error`]: at most [`MAX_KEPT_BODY`] bytes
/// of (lossy) UTF-8 text, counted after the conversion. Bodies of credential endpoints
/// (tokens, tickets) are never kept: they may hold a secret. In the body of any other
/// call, the access token the call carried is replaced by `[redacted]` (a proxy's error
/// page may echo the request).
#[derive(Clone, PartialEq, Eq)]
pub struct Body {
    text: String,
    total_len: usize,
    truncated: bool,
    redacted: bool,
}

/// What replaces a secret found in a kept body.
const REDACTED: &str = "[redacted]";

impl Body {
    /// Keeps the start of `bytes`: at most [`MAX_KEPT_BODY`] bytes of text after the
    /// lossy UTF-8 conversion (each invalid byte becomes a 3-byte U+FFFD), cut on a
    /// character boundary. [`is_truncated`](Self::is_truncated) tells whether anything
    /// was cut.
    pub fn keep(bytes: &[u8]) -> Self {
        Self::keep_scrubbed(bytes, &[])
    }

    /// As [`keep`](Self::keep), with every occurrence of each of `secrets` (as it is,
    /// and percent-encoded) replaced by `[redacted]` before the text is cut, so that no
    /// secret survives, not even its start at the cut.
    pub(crate) fn keep_scrubbed(bytes: &[u8], secrets: &[&str]) -> Self {
        let secrets: Vec<String> = secrets
            .iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| {
                let mut encoded = String::new();
                card_model::endpoint::percent_encode_into(s, &mut encoded);
                [(*s).to_owned(), encoded]
            })
            .collect();
        // Enough input for MAX_KEPT_BODY bytes of text, and for any secret that starts
        // inside them to be seen whole.
        let longest = secrets.iter().map(String::len).max().unwrap_or(0);
        let mut window = &bytes[..bytes.len().min(MAX_KEPT_BODY + longest)];
        if window.len() < bytes.len() {
            // Do not turn a character cut by the window into a replacement character.
            if let Some(last) = window.utf8_chunks().last() {
                let cut = last.invalid().len();
                if cut < 4 {
                    window = &window[..window.len() - cut];
                }
            }
        }
        let mut text = String::from_utf8_lossy(window).into_owned();
        for secret in &secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        let mut truncated = window.len() < bytes.len();
        if text.len() > MAX_KEPT_BODY {
            let mut end = MAX_KEPT_BODY;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            truncated = true;
        }
        Self {
            text,
            total_len: bytes.len(),
            truncated,
            redacted: false,
        }
    }

    /// Keeps only the length of a body that may carry a secret.
    pub fn redacted(bytes: &[u8]) -> Self {
        Self {
            text: String::new(),
            total_len: bytes.len(),
            truncated: !bytes.is_empty(),
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

    /// Whether any part of the body is missing from the text (cut or redacted).
    pub fn is_truncated(&self) -> bool {
        self.redacted || self.truncated
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
    fn body_is_bounded_in_bytes_after_conversion() {
        // every byte invalid: 3 bytes of text each
        let invalid = vec![0xFFu8; 4095];
        let b = Body::keep(&invalid);
        assert!(b.text().len() <= MAX_KEPT_BODY, "{}", b.text().len());
        assert!(b.text().chars().all(|c| c == '\u{FFFD}'));
        assert_eq!(b.total_len(), 4095);
        assert!(b.is_truncated());
        for len in [0, 1, 1365, 1366, 4096, 4097, 20_000] {
            let b = Body::keep(&vec![0x80u8; len]);
            assert!(b.text().len() <= MAX_KEPT_BODY);
            assert_eq!(b.is_truncated(), len * 3 > MAX_KEPT_BODY, "{len}");
        }
        // ASCII at the limit is whole, one byte more is cut
        assert!(!Body::keep(&[b'a'; MAX_KEPT_BODY]).is_truncated());
        let b = Body::keep(&[b'a'; MAX_KEPT_BODY + 1]);
        assert!(b.is_truncated() && b.text().len() == MAX_KEPT_BODY);
        // a character cut by the end of the window is dropped, not replaced
        let mut cut = vec![b'a'; MAX_KEPT_BODY - 1];
        cut.extend_from_slice("惠惠".as_bytes());
        let b = Body::keep(&cut);
        assert!(b.is_truncated() && !b.text().contains('\u{FFFD}'));
        assert_eq!(b.text().len(), MAX_KEPT_BODY - 1);
    }

    #[test]
    fn secrets_in_a_kept_body_are_scrubbed_even_at_the_cut() {
        let token = "TOKEN-echoed-by-a-proxy_0123456789";
        let page = format!("<html>GET /card/code/deposit?access_token={token} 502</html>");
        let b = Body::keep_scrubbed(page.as_bytes(), &[token]);
        assert_eq!(
            b.text(),
            "<html>GET /card/code/deposit?access_token=[redacted] 502</html>"
        );
        // percent-encoded too
        let odd = "tok en/+";
        let b = Body::keep_scrubbed(b"x=tok%20en%2F%2B;", &[odd]);
        assert_eq!(b.text(), "x=[redacted];");
        // straddling the cut: no prefix of the secret is left
        for pad in MAX_KEPT_BODY - token.len()..MAX_KEPT_BODY + 2 {
            let mut body = "a".repeat(pad);
            body.push_str(token);
            body.push_str(&"b".repeat(100));
            let b = Body::keep_scrubbed(body.as_bytes(), &[token]);
            assert!(!b.text().contains("TOKEN"), "{pad}");
            assert!(b.text().len() <= MAX_KEPT_BODY && b.is_truncated());
        }
        // an empty secret changes nothing
        assert_eq!(Body::keep_scrubbed(b"abc", &[""]).text(), "abc");
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
