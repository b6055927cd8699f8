//! `card_ext` and its SHA-1 card signature, and the callback URL-verification
//! signature.
//!
//! `card_ext` is a JSON *string* of per-issue data (code, openid, timestamp, nonce,
//! channel values) signed with the card `api_ticket`. It goes into
//! [`WxCard::card_ext`](crate::message::WxCard::card_ext) for `wxcard` messages, and to
//! the JS-SDK `wx.addCard`. The card signature is not the JS-SDK `wx.config` signature.
//!
//! ```
//! use card_model::ApiTicket;
//! use card_model::card_ext::{CardExt, card_signature};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // WeChat's documented example.
//! let ticket = ApiTicket::new("ojZ8YtyVyr30HheH3CM73y7h4jJE");
//! let ext = CardExt::sign(
//!     "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
//!     &ticket,
//!     1404896688,
//!     "123",
//!     Some("1434008071"),
//!     None,
//! )?;
//! assert_eq!(ext.signature(), "f137ab68b7f8112d20ee528ab6074564e2796250");
//! assert!(ext.verify("pjZ8Yt1XGILfi-FUsewpnnolGgZk", &ticket));
//! assert_eq!(
//!     ext.to_json_string(),
//!     r#"{"code":"1434008071","timestamp":"1404896688","nonce_str":"123","signature":"f137ab68b7f8112d20ee528ab6074564e2796250"}"#
//! );
//! assert_eq!(
//!     card_signature(&["1404896688", "pjZ8Yt1XGILfi-FUsewpnnolGgZk", "ojZ8YtyVyr30HheH3CM73y7h4jJE", "123", "1434008071"]),
//!     ext.signature()
//! );
//! # Ok(())
//! # }
//! ```

use crate::limits::{MAX_CODE_CHARS, MAX_NONCE_CHARS, MAX_OPENID_CHARS};
use crate::validate::{card_id, max_chars, optional, required};
use crate::{ApiTicket, Problem, ValidationError};
use serde::{Deserialize, Serialize, Serializer};
use sha1::{Digest, Sha1};

/// SHA-1 over `values` sorted by byte value and concatenated with no separator, as
/// lowercase hex: the card signature of a `card_ext` (and, with other inputs, the
/// callback signature). Empty values contribute nothing.
///
/// No value is copied: the sorted order is kept in a small array of references and
/// each value is fed to the hash in turn.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sig = card_model::card_ext::card_signature(&["b", "", "a"]);
/// assert_eq!(sig, card_model::card_ext::card_signature(&["ab"]));
/// assert_eq!(sig.len(), 40);
/// # Ok(())
/// # }
/// ```
pub fn card_signature(values: &[&str]) -> String {
    const INLINE: usize = 8;
    let mut inline = [""; INLINE];
    let mut spilled;
    let sorted: &mut [&str] = if values.len() <= INLINE {
        let part = &mut inline[..values.len()];
        part.copy_from_slice(values);
        part
    } else {
        spilled = values.to_vec();
        &mut spilled
    };
    // `str`'s ordering is byte-wise, which is the spec's dictionary order for ASCII.
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for value in sorted.iter() {
        hasher.update(value.as_bytes());
    }
    lower_hex(&hasher.finalize())
}

fn lower_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Compares two signatures in time independent of where they differ; hex case is
/// ignored.
fn signature_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

/// The callback URL-verification signature:
/// `hex(sha1(concat(sort([token, timestamp, nonce]))))`. WeChat sends it as the
/// `signature` query parameter; when it matches, answer with `echostr` unchanged.
///
/// ```
/// use card_model::card_ext::{callback_signature, verify_callback_signature};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sig = callback_signature("AAAAA", "1714036504", "1514711492");
/// assert_eq!(sig, "f464b24fc39322e44b38aa78f5edd27bd1441696");
/// assert!(verify_callback_signature("AAAAA", "1714036504", "1514711492", &sig));
/// # Ok(())
/// # }
/// ```
pub fn callback_signature(token: &str, timestamp: &str, nonce: &str) -> String {
    card_signature(&[token, timestamp, nonce])
}

/// Whether `signature` is the [`callback_signature`] of the other three (hex case
/// ignored; compared without an early exit).
pub fn verify_callback_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    signature: &str,
) -> bool {
    signature_eq(&callback_signature(token, timestamp, nonce), signature)
}

fn u64_as_string<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// A signed `card_ext`. Build it with [`CardExt::sign`]; the signed fields
/// (`code`, `openid`, `timestamp`, `nonce_str`, `signature`) can then only be read, so
/// the signature cannot go stale. The unsigned channel fields are public: set them
/// afterwards.
///
/// On the wire `timestamp` is a string; absent fields are left out. Parsing accepts a
/// numeric `timestamp` too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardExt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    openid: Option<String>,
    #[serde(
        serialize_with = "u64_as_string",
        deserialize_with = "crate::lenient::u64"
    )]
    timestamp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce_str: Option<String>,
    /// The real claim time in the merchant's system (UTC+8 seconds) for
    /// `DATE_TYPE_FIX_TERM` cards (`fixed_begintimestamp`). Not signed: set it freely.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::lenient::opt_int"
    )]
    pub fixed_begintimestamp: Option<i64>,
    /// A channel string echoed as `OuterStr` in the claim event (`outer_str`; its
    /// length is not checked). Not signed: set it freely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_str: Option<String>,
    /// A channel integer (`outer_id`). Not signed: set it freely.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::lenient::opt_int"
    )]
    pub outer_id: Option<i64>,
    signature: String,
}

impl CardExt {
    /// Signs a `card_ext` for `card_id` with the card `api_ticket`: SHA-1 over the
    /// sorted values of api_ticket, timestamp, card_id, code, openid and nonce_str.
    ///
    /// `timestamp` is the current Unix time in seconds and `nonce_str` a fresh random
    /// string: WeChat refuses a repeated pair. WeChat accepts a `card_ext` without a
    /// nonce, but such a claim can be replayed, so a nonce is required here.
    ///
    /// # Errors
    /// A [`ValidationError`] when `card_id` is empty or longer than 32 characters, the
    /// ticket is empty, `nonce_str` is empty or longer than 32, `code` is present but
    /// empty or longer than 20, or `openid` is present but empty or longer than 32.
    pub fn sign(
        card_id_value: &str,
        api_ticket: &ApiTicket,
        timestamp: u64,
        nonce_str: &str,
        code: Option<&str>,
        openid: Option<&str>,
    ) -> Result<Self, ValidationError> {
        card_id("card_id", card_id_value)?;
        crate::validate::non_empty("api_ticket", api_ticket.expose())?;
        required("nonce_str", nonce_str, MAX_NONCE_CHARS)?;
        optional("code", code, MAX_CODE_CHARS)?;
        optional("openid", openid, MAX_OPENID_CHARS)?;
        let signature = signature_of(
            card_id_value,
            api_ticket,
            timestamp,
            nonce_str,
            code,
            openid,
        );
        Ok(Self {
            code: code.map(str::to_owned),
            openid: openid.map(str::to_owned),
            timestamp,
            nonce_str: Some(nonce_str.to_owned()),
            fixed_begintimestamp: None,
            outer_str: None,
            outer_id: None,
            signature,
        })
    }

    /// Whether the signature matches `card_id` and `api_ticket` (for a received or
    /// stored `card_ext`; the sandbox checks with it).
    pub fn verify(&self, card_id: &str, api_ticket: &ApiTicket) -> bool {
        let expected = signature_of(
            card_id,
            api_ticket,
            self.timestamp,
            self.nonce_str.as_deref().unwrap_or(""),
            self.code.as_deref(),
            self.openid.as_deref(),
        );
        signature_eq(&expected, &self.signature)
    }

    /// `code`, if signed with one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// `openid`, if signed with one.
    pub fn openid(&self) -> Option<&str> {
        self.openid.as_deref()
    }

    /// `timestamp` (Unix seconds).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `nonce_str`.
    pub fn nonce_str(&self) -> Option<&str> {
        self.nonce_str.as_deref()
    }

    /// `signature`: 40 lowercase hex digits.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// Checks the documented limits of a parsed `card_ext`: `nonce_str` at most 32
    /// characters, `code` at most 20, `openid` at most 32, and a signature of 40 hex
    /// digits. An empty `code`, `openid` or `nonce_str` counts as absent, as in the
    /// documented examples (`"code":"","openid":""`) and the signature rule.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field and the limit.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let short = |field: &str, value: &Option<String>, max: usize| match value {
            Some(v) => max_chars(field, v, max),
            None => Ok(()),
        };
        short("nonce_str", &self.nonce_str, MAX_NONCE_CHARS)?;
        short("code", &self.code, MAX_CODE_CHARS)?;
        short("openid", &self.openid, MAX_OPENID_CHARS)?;
        if self.signature.len() != 40 || !self.signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValidationError::new(
                "signature",
                Problem::Invalid("must be 40 hexadecimal digits (SHA-1)"),
            ));
        }
        Ok(())
    }

    /// The JSON text that goes into [`WxCard::card_ext`](crate::message::WxCard::card_ext)
    /// or the JS-SDK's `cardExt`.
    pub fn to_json_string(&self) -> String {
        // Serializing strings and integers into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn signature_of(
    card_id: &str,
    api_ticket: &ApiTicket,
    timestamp: u64,
    nonce_str: &str,
    code: Option<&str>,
    openid: Option<&str>,
) -> String {
    let timestamp = timestamp.to_string();
    card_signature(&[
        api_ticket.expose(),
        &timestamp,
        card_id,
        code.unwrap_or(""),
        openid.unwrap_or(""),
        nonce_str,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_card_signature_vector() {
        let values = [
            "1434008071",
            "1404896688",
            "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
            "ojZ8YtyVyr30HheH3CM73y7h4jJE",
            "123",
        ];
        assert_eq!(
            card_signature(&values),
            "f137ab68b7f8112d20ee528ab6074564e2796250"
        );
        // empty values contribute nothing; order of the inputs does not matter
        let mut shuffled = vec!["", "123", ""];
        shuffled.extend_from_slice(&values[..4]);
        shuffled.reverse();
        assert_eq!(
            card_signature(&shuffled),
            "f137ab68b7f8112d20ee528ab6074564e2796250"
        );
        // more values than the inline buffer holds
        let many: Vec<&str> = std::iter::repeat_n("", 20).chain(values).collect();
        assert_eq!(
            card_signature(&many),
            "f137ab68b7f8112d20ee528ab6074564e2796250"
        );
        // the concatenation from the spec hashes to the same value
        assert_eq!(
            card_signature(&[
                "12314048966881434008071ojZ8YtyVyr30HheH3CM73y7h4jJEpjZ8Yt1XGILfi-FUsewpnnolGgZk"
            ]),
            "f137ab68b7f8112d20ee528ab6074564e2796250"
        );
    }

    #[test]
    fn spec_callback_vectors() {
        assert_eq!(
            callback_signature("AAAAA", "1714036504", "1514711492"),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_eq!(
            callback_signature("AAAAA", "1714037059", "486452656"),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
        assert!(verify_callback_signature(
            "AAAAA",
            "1714037059",
            "486452656",
            "899CF89E464EFB63F54DDAC96B0A0A235F53AA78"
        ));
        assert!(!verify_callback_signature(
            "AAAAB",
            "1714037059",
            "486452656",
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        ));
        assert!(!verify_callback_signature(
            "AAAAA",
            "1714037059",
            "486452656",
            ""
        ));
    }

    #[test]
    fn card_ext_signs_verifies_and_round_trips() {
        let ticket = ApiTicket::new("ojZ8YtyVyr30HheH3CM73y7h4jJE");
        let mut ext = CardExt::sign(
            "pjZ8Yt1XGILfi-FUsewpnnolGgZk",
            &ticket,
            1404896688,
            "123",
            Some("1434008071"),
            None,
        )
        .unwrap();
        ext.outer_str = Some("12b".into());
        ext.outer_id = Some(7);
        ext.fixed_begintimestamp = Some(1404896000);
        // unsigned fields do not change the signature
        assert_eq!(ext.signature(), "f137ab68b7f8112d20ee528ab6074564e2796250");
        assert!(ext.verify("pjZ8Yt1XGILfi-FUsewpnnolGgZk", &ticket));
        assert!(!ext.verify("pjZ8Yt1XGILfi-FUsewpnnolGgZK", &ticket));
        assert!(!ext.verify("pjZ8Yt1XGILfi-FUsewpnnolGgZk", &ApiTicket::new("other")));
        ext.validate().unwrap();
        let json = ext.to_json_string();
        assert!(json.contains(r#""timestamp":"1404896688""#), "{json}");
        let back: CardExt = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ext);
        // a numeric timestamp is accepted
        let n: CardExt = serde_json::from_str(r#"{"timestamp":1402057159,"signature":"017bb17407c8e0058a66d72dcc61632b70f511ad","code":"","openid":""}"#).unwrap();
        assert_eq!(n.timestamp(), 1402057159);
        // the documented empty code and openid count as absent
        n.validate().unwrap();
        let long: CardExt = serde_json::from_str(&format!(
            r#"{{"timestamp":"1","signature":"{}","code":"{}"}}"#,
            "0".repeat(40),
            "1".repeat(21)
        ))
        .unwrap();
        assert_eq!(long.validate().unwrap_err().field, "code");
        let bad_sig: CardExt =
            serde_json::from_str(r#"{"timestamp":"1","signature":"xyz"}"#).unwrap();
        assert_eq!(bad_sig.validate().unwrap_err().field, "signature");
    }

    #[test]
    fn card_ext_limits() {
        let t = ApiTicket::new("t");
        let nonce32 = "n".repeat(32);
        assert!(CardExt::sign("c", &t, 1, &nonce32, None, None).is_ok());
        let e = CardExt::sign("c", &t, 1, &"n".repeat(33), None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nonce_str: 33 characters, at most 32 allowed"
        );
        let e = CardExt::sign("c", &t, 1, "", None, None).unwrap_err();
        assert_eq!(e.field, "nonce_str");
        assert!(
            CardExt::sign(
                "c",
                &t,
                1,
                "n",
                Some(&"1".repeat(20)),
                Some(&"o".repeat(32))
            )
            .is_ok()
        );
        let e = CardExt::sign("c", &t, 1, "n", Some(&"1".repeat(21)), None).unwrap_err();
        assert_eq!(e.to_string(), "code: 21 characters, at most 20 allowed");
        let e = CardExt::sign("c", &t, 1, "n", None, Some(&"o".repeat(33))).unwrap_err();
        assert_eq!(e.to_string(), "openid: 33 characters, at most 32 allowed");
        let e = CardExt::sign(&"c".repeat(33), &t, 1, "n", None, None).unwrap_err();
        assert_eq!(e.to_string(), "card_id: 33 characters, at most 32 allowed");
        let e = CardExt::sign("c", &ApiTicket::new(""), 1, "n", None, None).unwrap_err();
        assert_eq!(e.field, "api_ticket");
        // the ticket never shows in Debug
        let ext = CardExt::sign("c", &ApiTicket::new("SECRET-TICKET"), 1, "n", None, None).unwrap();
        assert!(!format!("{ext:?}").contains("SECRET"));
    }
}
