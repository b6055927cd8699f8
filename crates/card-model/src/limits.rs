//! Every documented size limit of the API, in one place. Requests check them in
//! [`Endpoint::validate`](crate::Endpoint::validate) before anything is sent.

/// At most this many codes go into one deposit or checkcode call (errcode 40109 beyond).
pub const MAX_CODES_PER_CALL: usize = 100;

/// Maximum length of a `card_id` (`string(32)`; real IDs have 28 characters).
pub const MAX_CARD_ID_CHARS: usize = 32;

/// Maximum length of a card code (`string(20)`).
///
/// WeChat documents this length on the QR-code endpoint; it is applied to every code
/// (QR codes, deposit, checkcode, `card_ext`), since a deposited code longer than that
/// could never be named in a QR code or a `card_ext`.
pub const MAX_CODE_CHARS: usize = 20;

/// Maximum length of an OpenID (`string(32)`; real ones have 28 characters).
pub const MAX_OPENID_CHARS: usize = 32;

/// The fewest OpenIDs a [`MassSendToOpenIds`](crate::MassSendToOpenIds) takes.
pub const MIN_MASS_RECIPIENTS: usize = 2;

/// The most OpenIDs a [`MassSendToOpenIds`](crate::MassSendToOpenIds) takes.
pub const MAX_MASS_RECIPIENTS: usize = 10_000;

/// Maximum size of a `clientmsgid`, in bytes (UTF-8); WeChat answers 45067
/// ("clientmsgid size out of limit") beyond it.
pub const MAX_CLIENTMSGID_BYTES: usize = 64;

/// At most this many test-whitelist entries, OpenIDs and usernames together.
pub const MAX_WHITELIST_ENTRIES: usize = 10;

/// Maximum length of a whitelisted WeChat ID (`username`, `string(32)`).
pub const MAX_USERNAME_CHARS: usize = 32;

/// The shortest allowed QR-code `expire_seconds`.
pub const MIN_EXPIRE_SECONDS: u32 = 60;

/// The longest allowed QR-code `expire_seconds`.
pub const MAX_EXPIRE_SECONDS: u32 = 1800;

/// Maximum length of a `card_ext`'s `nonce_str`.
pub const MAX_NONCE_CHARS: usize = 32;
