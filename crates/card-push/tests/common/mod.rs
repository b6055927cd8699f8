//! Shared test helpers: the published sample configuration and raw encryption with a
//! chosen plaintext (to build malformed messages a correct sender never produces).
#![allow(dead_code)]

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use card_push::{EncodingAesKey, PushConfig, Token};

pub const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const OTHER_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut";
pub const TOKEN: &str = "spamtest";
pub const APP_ID: &str = "wx2c2769f8efd9abc2";

pub fn key(text: &str) -> EncodingAesKey {
    EncodingAesKey::new(text).expect("valid key")
}

pub fn safe() -> PushConfig {
    PushConfig::safe(Token::new(TOKEN).unwrap(), key(KEY), APP_ID).unwrap()
}

pub fn compatible() -> PushConfig {
    PushConfig::compatible(Token::new(TOKEN).unwrap(), key(KEY), APP_ID).unwrap()
}

pub fn plain() -> PushConfig {
    PushConfig::plain(Token::new(TOKEN).unwrap())
}

/// The 32 raw key bytes of an EncodingAESKey.
pub fn raw_key(text: &str) -> [u8; 32] {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let v = engine.decode(format!("{text}=")).unwrap();
    v.try_into().unwrap()
}

/// AES-256-CBC of `plaintext` (a whole number of 16-byte blocks) under the key, IV =
/// key[..16], as base64.
pub fn encrypt_raw(key_text: &str, plaintext: &[u8]) -> String {
    assert_eq!(plaintext.len() % 16, 0);
    let k = raw_key(key_text);
    let mut buf = plaintext.to_vec();
    let n = buf.len();
    cbc::Encryptor::<aes::Aes256>::new_from_slices(&k, &k[..16])
        .unwrap()
        .encrypt_padded::<NoPadding>(&mut buf, n)
        .unwrap();
    STANDARD.encode(buf)
}

/// `msg_signature` for an encrypted text, computed independently of the crate.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypted: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut v = [token, timestamp, nonce, encrypted];
    v.sort_unstable();
    let d = Sha1::digest(v.concat().as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The query and body of a safe-mode push of `encrypted`, correctly signed.
pub fn signed_envelope(encrypted: &str) -> (String, String) {
    let (ts, nonce) = ("1409735669", "1320562132");
    let sig = msg_signature(TOKEN, ts, nonce, encrypted);
    (
        format!("timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={sig}"),
        format!(
            "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        ),
    )
}
