//! The message encryption of WeChat's encrypted modes.
//!
//! The plaintext is `random (16 bytes) ‖ length of msg (4 bytes, big-endian) ‖ msg ‖ AppID`,
//! padded PKCS#7-style to a multiple of **32** bytes (so a pad is 1 to 32 bytes, each of
//! that value), encrypted with AES-256-CBC under the 32-byte key with the key's first 16
//! bytes as IV, and sent as base64.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::EncodingAesKey;
use crate::error::PushError;

/// The padding block of WeChat's PKCS#7 variant.
const PAD_BLOCK: usize = 32;
/// The random prefix's length.
const RANDOM_LEN: usize = 16;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

fn key_iv(key: &EncodingAesKey) -> (&[u8; 32], &[u8]) {
    let k = key.bytes();
    (k, &k[..16])
}

/// Encrypts `message` for `app_id` with a given 16-byte random prefix, returning the
/// base64 text WeChat's `<Encrypt>` element holds.
///
/// The prefix must be fresh random bytes in real use (see
/// [`random_bytes`](crate::random_bytes)); a fixed one makes tests exact.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use card_push::{EncodingAesKey, crypto};
///
/// let key = EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?;
/// let sealed = crypto::encrypt(&key, b"aaaabbbbccccdddd", "我是中文abcd123".as_bytes(), "wxb11529c136998cb6");
/// assert_eq!(sealed, "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==");
/// let opened = crypto::decrypt(&key, &sealed)?;
/// assert_eq!(opened.message(), "我是中文abcd123".as_bytes());
/// assert_eq!(opened.app_id(), b"wxb11529c136998cb6");
/// # Ok(())
/// # }
/// ```
pub fn encrypt(
    key: &EncodingAesKey,
    random: &[u8; RANDOM_LEN],
    message: &[u8],
    app_id: &str,
) -> String {
    let len = RANDOM_LEN + 4 + message.len() + app_id.len();
    let pad = PAD_BLOCK - len % PAD_BLOCK;
    let mut buf = Vec::with_capacity(len + pad);
    buf.extend_from_slice(random);
    // A message longer than 4 GiB cannot be pushed; its length field saturates.
    let msg_len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&msg_len.to_be_bytes());
    buf.extend_from_slice(message);
    buf.extend_from_slice(app_id.as_bytes());
    // `pad` is 1..=32, so it fits in a byte.
    buf.resize(len + pad, pad as u8);
    let (k, iv) = key_iv(key);
    let total = buf.len();
    let encrypted = match Enc::new_from_slices(k, iv) {
        Ok(enc) => enc
            .encrypt_padded::<NoPadding>(&mut buf, total)
            .map(<[u8]>::len)
            .is_ok(),
        Err(_) => false,
    };
    // Both cannot fail: the key is 32 bytes, the IV 16, and the buffer a whole number of
    // blocks. Should they, nothing unencrypted is returned.
    if !encrypted {
        return String::new();
    }
    STANDARD.encode(&buf)
}

/// A decrypted message: the message bytes and the AppID that followed them.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    buf: Vec<u8>,
    msg: std::ops::Range<usize>,
    app_id: std::ops::Range<usize>,
}

impl Decrypted {
    /// The message (for a push, the event XML).
    pub fn message(&self) -> &[u8] {
        self.buf.get(self.msg.clone()).unwrap_or_default()
    }

    /// The AppID trailer.
    pub fn app_id(&self) -> &[u8] {
        self.buf.get(self.app_id.clone()).unwrap_or_default()
    }
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("message_bytes", &self.msg.len())
            .field("app_id", &String::from_utf8_lossy(self.app_id()))
            .finish()
    }
}

/// Decrypts the base64 text of an `<Encrypt>` element and checks its structure (padding
/// and length field); the caller checks the AppID.
///
/// # Errors
/// [`PushError::InvalidBase64`], [`PushError::InvalidCiphertextLength`],
/// [`PushError::InvalidPadding`] or [`PushError::InvalidLengthField`]. A wrong key shows
/// as one of the last two (or, rarely, as a wrong AppID).
pub fn decrypt(key: &EncodingAesKey, encrypted: &str) -> Result<Decrypted, PushError> {
    let mut buf = STANDARD
        .decode(encrypted.as_bytes())
        .map_err(|_| PushError::InvalidBase64)?;
    decrypt_in_place(key, &mut buf)?.finish(buf)
}

/// Where the parts of a decrypted buffer lie.
struct Layout {
    msg: std::ops::Range<usize>,
    app_id: std::ops::Range<usize>,
}

impl Layout {
    fn finish(self, buf: Vec<u8>) -> Result<Decrypted, PushError> {
        Ok(Decrypted {
            buf,
            msg: self.msg,
            app_id: self.app_id,
        })
    }
}

/// Decrypts `buf` in place and finds the message and the AppID in it.
fn decrypt_in_place(key: &EncodingAesKey, buf: &mut [u8]) -> Result<Layout, PushError> {
    let len = buf.len();
    if len < PAD_BLOCK || len % 16 != 0 {
        return Err(PushError::InvalidCiphertextLength { len });
    }
    let (k, iv) = key_iv(key);
    let dec =
        Dec::new_from_slices(k, iv).map_err(|_| PushError::InvalidCiphertextLength { len })?;
    dec.decrypt_padded::<NoPadding>(buf)
        .map_err(|_| PushError::InvalidCiphertextLength { len })?;
    let pad = usize::from(buf[len - 1]);
    if pad == 0 || pad > PAD_BLOCK || buf[len - pad..].iter().any(|&b| usize::from(b) != pad) {
        return Err(PushError::InvalidPadding);
    }
    let content = RANDOM_LEN..len - pad;
    if content.len() < 4 {
        return Err(PushError::InvalidLengthField);
    }
    let field = [
        buf[content.start],
        buf[content.start + 1],
        buf[content.start + 2],
        buf[content.start + 3],
    ];
    let msg_len = usize::try_from(u32::from_be_bytes(field)).unwrap_or(usize::MAX);
    let msg_start = content.start + 4;
    let msg_end = msg_start
        .checked_add(msg_len)
        .filter(|&end| end <= content.end)
        .ok_or(PushError::InvalidLengthField)?;
    Ok(Layout {
        msg: msg_start..msg_end,
        app_id: msg_end..content.end,
    })
}

/// Decrypts with `key`, then checks the AppID: the message on success.
pub(crate) fn open_with(
    key: &EncodingAesKey,
    mut buf: Vec<u8>,
    app_id: &str,
) -> Result<Decrypted, PushError> {
    let layout = decrypt_in_place(key, &mut buf)?;
    if buf.get(layout.app_id.clone()) != Some(app_id.as_bytes()) {
        return Err(PushError::AppIdMismatch);
    }
    layout.finish(buf)
}

/// Decodes the base64 text of an `<Encrypt>` element.
pub(crate) fn decode_base64(encrypted: &[u8]) -> Result<Vec<u8>, PushError> {
    STANDARD
        .decode(encrypted)
        .map_err(|_| PushError::InvalidBase64)
}
