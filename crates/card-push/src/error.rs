//! Why a request from WeChat was refused.

use card_model::event::EventError;

/// Why a verification request or a push was refused.
///
/// No variant carries a secret or any part of a decrypted message; a signature mismatch
/// says nothing about how it differed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The body is larger than the configured cap; nothing else was done.
    #[error("push body is {len} bytes, more than the {max} allowed")]
    BodyTooLarge {
        /// The body's size in bytes.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The query string is longer than [`MAX_QUERY_BYTES`](crate::MAX_QUERY_BYTES).
    #[error("query string is {len} bytes, more than the {max} allowed")]
    QueryTooLong {
        /// The query's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A query parameter the check uses appears more than once.
    #[error("query parameter {name} appears more than once")]
    DuplicateParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// A query parameter the check needs is missing or empty.
    #[error("query parameter {name} is missing")]
    MissingParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// The signature does not match: the request does not come from WeChat (or the
    /// Token is wrong).
    #[error("signature does not match")]
    BadSignature,
    /// `timestamp` is not an integer.
    #[error("timestamp is not an integer")]
    InvalidTimestamp,
    /// `timestamp` is outside the freshness window: a late replay, or a clock far off.
    #[error("timestamp {timestamp} is more than {max_age_secs} s from the current time {now}")]
    Stale {
        /// The request's timestamp (Unix seconds).
        timestamp: i64,
        /// The current time (Unix seconds).
        now: i64,
        /// The window, in seconds.
        max_age_secs: u64,
    },
    /// The push is encrypted (`encrypt_type=aes`) but the configuration is plaintext.
    #[error("push is encrypted but no EncodingAESKey is configured")]
    EncryptionNotConfigured,
    /// The push is plaintext but the configuration is safe mode, which accepts only
    /// encrypted pushes.
    #[error("plaintext push refused in safe mode")]
    PlaintextRefused,
    /// `encrypt_type` names something other than `aes`.
    #[error("unsupported encrypt_type")]
    UnsupportedEncryptType,
    /// The body of an encrypted push has no (non-empty) `<Encrypt>` element.
    #[error("encrypted push body has no <Encrypt> element")]
    MissingEncrypt,
    /// The `<Encrypt>` text is not base64.
    #[error("encrypted message is not valid base64")]
    InvalidBase64,
    /// The ciphertext is shorter than 32 bytes or not a whole number of AES blocks.
    #[error("ciphertext of {len} bytes is not a whole number of blocks of at least 32 bytes")]
    InvalidCiphertextLength {
        /// The ciphertext's length in bytes.
        len: usize,
    },
    /// The decrypted padding is not 1 to 32 bytes of its own value (a wrong key or a
    /// tampered ciphertext).
    #[error("decrypted padding is invalid (wrong key or tampered message)")]
    InvalidPadding,
    /// The decrypted length field points past the end of the message (a wrong key or a
    /// tampered ciphertext).
    #[error("decrypted length field is invalid (wrong key or tampered message)")]
    InvalidLengthField,
    /// The AppID after the decrypted message is not the configured one.
    #[error("decrypted AppID is not the configured one")]
    AppIdMismatch,
    /// The operating system gave no random bytes (for a nonce or a random prefix).
    #[error("the operating system gave no random bytes")]
    NoRandomness,
    /// The (decrypted) message is not an event the parser accepts. Only the kind of
    /// problem and the field's name are kept, never a value.
    #[error("push is not a valid event: {problem}{}", field.map(|f| format!(" (field {f})")).unwrap_or_default())]
    InvalidEvent {
        /// What is wrong.
        problem: &'static str,
        /// The field concerned, if any.
        field: Option<&'static str>,
    },
}

impl PushError {
    /// The HTTP status to answer with: 401 when the request is not proven to come from
    /// WeChat (signature, timestamp), 413 for an over-size body, 400 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadSignature
            | Self::MissingParameter { .. }
            | Self::DuplicateParameter { .. }
            | Self::InvalidTimestamp
            | Self::Stale { .. } => 401,
            Self::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }

    pub(crate) fn from_event(e: &EventError) -> Self {
        let problem = match e {
            EventError::TooLarge { .. } => "too large",
            EventError::InvalidUtf8 { .. } => "not UTF-8",
            EventError::UnsupportedEncoding { .. } => "unsupported encoding",
            EventError::Doctype => "DOCTYPE refused",
            EventError::UnknownEntity { .. } => "unknown entity",
            EventError::InvalidCharRef { .. } => "invalid character reference",
            EventError::TooDeep { .. } => "nested too deep",
            EventError::UnexpectedRoot { .. } => "root element is not <xml>",
            EventError::InvalidName { .. } => "invalid element name",
            EventError::MismatchedEndTag { .. } => "mismatched closing tag",
            EventError::UnexpectedContent { .. } => "unexpected content",
            EventError::UnexpectedEof => "ends before </xml>",
            EventError::DuplicateField { .. } => "field repeated",
            EventError::NestedField { .. } => "field holds elements",
            EventError::MissingField { .. } => "required field missing",
            EventError::InvalidNumber { .. } => "invalid number",
            EventError::InvalidFlag { .. } => "invalid flag",
            _ => "malformed XML",
        };
        let field = match e {
            EventError::DuplicateField { field }
            | EventError::NestedField { field }
            | EventError::MissingField { field }
            | EventError::InvalidNumber { field, .. }
            | EventError::InvalidFlag { field, .. } => Some(*field),
            _ => None,
        };
        Self::InvalidEvent { problem, field }
    }
}
