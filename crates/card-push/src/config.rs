//! The callback configuration: Token, mode, EncodingAESKey and AppID.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;

/// The largest push body accepted by default, in bytes (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a configuration value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The callback Token is empty, longer than 128 bytes, or holds characters other than
    /// printable ASCII.
    #[error("the callback Token must be 1 to 128 printable ASCII characters")]
    InvalidToken,
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]`.
    #[error("the EncodingAESKey must be 43 characters of A-Z, a-z and 0-9 (got {len} characters)")]
    InvalidEncodingAesKey {
        /// How many characters were given.
        len: usize,
    },
    /// The AppID is empty, longer than 64 bytes, or holds characters other than
    /// printable ASCII.
    #[error("the AppID must be 1 to 64 printable ASCII characters")]
    InvalidAppId,
}

/// The callback Token set in the WeChat admin console: signs every request WeChat sends.
///
/// A secret: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Checks and wraps a Token.
    ///
    /// # Errors
    /// [`ConfigError::InvalidToken`] if it is empty, longer than 128 bytes or not
    /// printable ASCII.
    pub fn new(token: impl Into<String>) -> Result<Self, ConfigError> {
        let token = token.into();
        if token.is_empty() || token.len() > 128 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::InvalidToken);
        }
        Ok(Self(token))
    }

    /// The Token itself, for signing.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The EncodingAESKey set in the WeChat admin console: 43 characters of `[A-Za-z0-9]`,
/// the base64 form of the 32-byte AES-256 key of the encrypted modes.
///
/// A secret: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodingAesKey {
    key: [u8; 32],
}

impl EncodingAesKey {
    /// Checks and decodes an EncodingAESKey.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use card_push::EncodingAesKey;
    ///
    /// let key = EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?;
    /// assert_eq!(format!("{key:?}"), "EncodingAesKey([redacted])");
    /// assert!(EncodingAesKey::new("too-short").is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::InvalidEncodingAesKey`] unless it is 43 characters of `[A-Za-z0-9]`.
    pub fn new(encoding_aes_key: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::InvalidEncodingAesKey {
            len: encoding_aes_key.chars().count(),
        };
        if encoding_aes_key.len() != 43
            || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(invalid());
        }
        let mut text = [b'='; 44];
        text[..43].copy_from_slice(encoding_aes_key.as_bytes());
        // The 43rd character carries 4 bits that fall outside the 32 bytes; WeChat's keys
        // need not leave them zero, so decode without that check.
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_allow_trailing_bits(true)
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
        );
        let mut key = [0u8; 32];
        match engine.decode_slice(text, &mut key) {
            Ok(32) => Ok(Self { key }),
            _ => Err(invalid()),
        }
    }

    /// The 32-byte AES key.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodingAesKey([redacted])")
    }
}

impl fmt::Display for EncodingAesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How WeChat sends pushes to this callback URL (the "message encryption mode" of the
/// admin console).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Plaintext: the body is the event XML, signed through `signature`.
    Plain,
    /// Compatible: the body carries the plaintext fields and the encrypted message; the
    /// encrypted message is the one read. Plaintext pushes (no `encrypt_type=aes`) are
    /// accepted too, as during a switch of mode.
    Compatible,
    /// Safe: the body carries only the encrypted message, signed through
    /// `msg_signature`. Plaintext pushes are refused.
    Safe,
}

/// The keys of the encrypted modes.
#[derive(Clone)]
pub(crate) struct Crypto {
    pub(crate) key: EncodingAesKey,
    pub(crate) previous: Option<EncodingAesKey>,
    pub(crate) app_id: String,
}

/// Everything needed to check and open WeChat's pushes to one callback URL.
///
/// A secret holder: `Debug` shows the mode, the AppID and the limits, never the Token or
/// a key.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use card_push::{EncodingAesKey, Mode, PushConfig, Token};
///
/// let config = PushConfig::safe(
///     Token::new("spamtest")?,
///     EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?,
///     "wx2c2769f8efd9abc2",
/// )?;
/// assert_eq!(config.mode(), Mode::Safe);
/// assert!(!format!("{config:?}").contains("spamtest"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PushConfig {
    pub(crate) token: Token,
    pub(crate) mode: Mode,
    pub(crate) crypto: Option<Crypto>,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_age: Option<Duration>,
}

impl PushConfig {
    /// Plaintext mode: pushes are checked through `signature`.
    pub fn plain(token: Token) -> Self {
        Self {
            token,
            mode: Mode::Plain,
            crypto: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_age: None,
        }
    }

    /// Safe mode: pushes are encrypted with `key` and must carry `app_id` (the Official
    /// Account's AppID) after the message.
    ///
    /// # Errors
    /// [`ConfigError::InvalidAppId`] if `app_id` is empty, longer than 64 bytes or not
    /// printable ASCII.
    pub fn safe(
        token: Token,
        key: EncodingAesKey,
        app_id: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        Self::encrypted(Mode::Safe, token, key, app_id.into())
    }

    /// Compatible mode: as [`safe`](Self::safe), and plaintext pushes are accepted too.
    ///
    /// # Errors
    /// As [`safe`](Self::safe).
    pub fn compatible(
        token: Token,
        key: EncodingAesKey,
        app_id: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        Self::encrypted(Mode::Compatible, token, key, app_id.into())
    }

    fn encrypted(
        mode: Mode,
        token: Token,
        key: EncodingAesKey,
        app_id: String,
    ) -> Result<Self, ConfigError> {
        if app_id.is_empty() || app_id.len() > 64 || !app_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::InvalidAppId);
        }
        Ok(Self {
            token,
            mode,
            crypto: Some(Crypto {
                key,
                previous: None,
                app_id,
            }),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_age: None,
        })
    }

    /// The EncodingAESKey in use before the current one: a push the current key cannot
    /// open is tried with it (WeChat lets a merchant change the key while pushes are in
    /// flight). Ignored in plaintext mode.
    #[must_use]
    pub fn with_previous_key(mut self, previous: EncodingAesKey) -> Self {
        if let Some(crypto) = &mut self.crypto {
            crypto.previous = Some(previous);
        }
        self
    }

    /// The largest body accepted, in bytes ([`DEFAULT_MAX_BODY_BYTES`] unless set); a
    /// larger one is refused before any other work.
    #[must_use]
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Refuse requests whose signed `timestamp` is further than `max_age` from the
    /// current time (either way), so that a recorded push cannot be replayed later. Off
    /// unless set; WeChat retries within about 15 s, so a window of minutes is safe.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The AppID of the encrypted modes.
    pub fn app_id(&self) -> Option<&str> {
        self.crypto.as_ref().map(|c| c.app_id.as_str())
    }

    /// The largest body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }
}

impl fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushConfig")
            .field("token", &self.token)
            .field("mode", &self.mode)
            .field("app_id", &self.app_id())
            .field(
                "previous_key",
                &self.crypto.as_ref().is_some_and(|c| c.previous.is_some()),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_age", &self.max_age)
            .finish()
    }
}
