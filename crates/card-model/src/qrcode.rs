//! QR codes: `POST /card/qrcode/create` for one card (`QR_CARD`) or
//! several (`QR_MULTIPLE_CARD`), and the `showqrcode` image URL of the returned ticket.
//!
//! [`CreateQrCode`] is an enum with one variant per `action_name`, so the one-card and
//! the multi-card request are distinct shapes: a `QR_CARD` request holds one [`QrCard`]
//! and cannot carry a card list. Build it with [`CreateQrCode::card`] or
//! [`CreateQrCode::multiple`].
//!
//! ```
//! use card_model::Endpoint;
//! use card_model::qrcode::{CreateQrCode, QrCard, QrCardItem};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let one = CreateQrCode::card(QrCard::new("pFS7Fjg8kV1IdDz01r4SQwMkuCKc").outer_id(1))
//!     .expire_seconds(1800);
//! one.validate()?;
//! let body = String::from_utf8(card_model::encode_body(&one)?.unwrap_or_default())?;
//! assert_eq!(
//!     body,
//!     r#"{"action_name":"QR_CARD","expire_seconds":1800,"action_info":{"card":{"card_id":"pFS7Fjg8kV1IdDz01r4SQwMkuCKc","outer_id":1}}}"#
//! );
//!
//! let several = CreateQrCode::multiple(vec![
//!     QrCardItem::new("p1Pj9jgj3BcomSgtuW8B1wl-wo88"),
//!     QrCardItem::new("p1Pj9jgj3BcomSgtuW8B1wl-wo98"),
//! ]);
//! several.validate()?;
//!
//! let ticket = card_model::decode_response::<CreateQrCode>(
//!     br#"{"errcode":0,"errmsg":"ok","ticket":"gQH+8D/=","expire_seconds":"1800","url":"http://weixin.qq.com/q/x"}"#,
//! )?;
//! assert_eq!(ticket.expire_seconds, Some(1800));
//! assert_eq!(
//!     ticket.show_qrcode_image_url(),
//!     "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH%2B8D%2F%3D"
//! );
//! # Ok(())
//! # }
//! ```

use crate::endpoint::write_json_str;
use crate::limits::{MAX_CODE_CHARS, MAX_EXPIRE_SECONDS, MAX_OPENID_CHARS, MIN_EXPIRE_SECONDS};
use crate::plain::Plain;
use crate::validate::{card_id, count, optional, range};
use crate::{Endpoint, HttpMethod, ValidationError};
use serde::de::{self, Deserializer};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

/// The base of the QR image URL; the ticket follows, percent-encoded.
pub const SHOW_QRCODE_URL: &str = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=";

/// The card of a `QR_CARD` request (`action_info.card`).
///
/// `outer_id` and `outer_str` come back in the `user_get_card` event as `OuterId` and
/// `OuterStr`, for channel statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QrCard {
    /// The card (`card_id`). Required: it names the card to hand out.
    pub card_id: String,
    /// The code (`code`): required for custom-code cards, not for others or for
    /// deposit-mode cards. A QR with a code can be claimed once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Only this user may claim (`openid`); required for cards with `bind_openid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// `is_unique_code`: `true` gives the QR a random code and makes it single-use
    /// (the card must be approved and in stock). Absent means `false`. It may be set
    /// together with an explicit `code` (WeChat's own example does); that is not
    /// refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_unique_code: Option<bool>,
    /// Integer claim scene (`outer_id`), echoed back as `OuterId` in the claim event. An
    /// `i64` holds every integer WeChat can echo back; a numeric string is accepted when
    /// parsing.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::lenient::opt_int"
    )]
    pub outer_id: Option<i64>,
    /// String claim scene (`outer_str`), echoed back as `OuterStr`. Its length is not
    /// checked (WeChat documents no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_str: Option<String>,
}

impl QrCard {
    /// A card with only its `card_id`.
    pub fn new(card_id: impl Into<String>) -> Self {
        Self {
            card_id: card_id.into(),
            code: None,
            openid: None,
            is_unique_code: None,
            outer_id: None,
            outer_str: None,
        }
    }

    /// Sets `code`.
    #[must_use]
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets `openid`.
    #[must_use]
    pub fn openid(mut self, openid: impl Into<String>) -> Self {
        self.openid = Some(openid.into());
        self
    }

    /// Sets `is_unique_code`.
    #[must_use]
    pub fn is_unique_code(mut self, unique: bool) -> Self {
        self.is_unique_code = Some(unique);
        self
    }

    /// Sets `outer_id`.
    #[must_use]
    pub fn outer_id(mut self, outer_id: i64) -> Self {
        self.outer_id = Some(outer_id);
        self
    }

    /// Sets `outer_str`.
    #[must_use]
    pub fn outer_str(mut self, outer_str: impl Into<String>) -> Self {
        self.outer_str = Some(outer_str.into());
        self
    }

    fn check(&self) -> Result<(), ValidationError> {
        card_id("action_info.card.card_id", &self.card_id)?;
        optional(
            "action_info.card.code",
            self.code.as_deref(),
            MAX_CODE_CHARS,
        )?;
        optional(
            "action_info.card.openid",
            self.openid.as_deref(),
            MAX_OPENID_CHARS,
        )
    }
}

/// One card of a `QR_MULTIPLE_CARD` request (`action_info.multiple_card.card_list[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QrCardItem {
    /// The card (`card_id`).
    pub card_id: String,
    /// The code (`code`), for custom-code cards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// String claim scene (`outer_str`, later docs); length not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_str: Option<String>,
}

impl QrCardItem {
    /// An item with only its `card_id`.
    pub fn new(card_id: impl Into<String>) -> Self {
        Self {
            card_id: card_id.into(),
            code: None,
            outer_str: None,
        }
    }

    /// Sets `code`.
    #[must_use]
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets `outer_str`.
    #[must_use]
    pub fn outer_str(mut self, outer_str: impl Into<String>) -> Self {
        self.outer_str = Some(outer_str.into());
        self
    }
}

/// `POST /card/qrcode/create`: a QR code that puts one card (`QR_CARD`) or several
/// (`QR_MULTIPLE_CARD`) into the scanning user's wallet. Exchange the returned
/// [`QrCodeTicket`] for an image with [`QrCodeTicket::show_qrcode_image_url`].
///
/// Not repeatable: each call creates another QR code (and a unique-code QR consumes
/// stock).
///
/// `expire_seconds` is sent at top level. Parsing also accepts an older shape, where it
/// sits inside `action_info.card` (and is a string): the value is kept, moved to the
/// top level. Both places with different values are refused rather than one being
/// dropped. `expire_seconds` is accepted and sent for multi-card QRs too.
///
/// Validation: `card_id` 1..=32 characters, `code` 1..=20, `openid` 1..=32 (an optional
/// field, when present, may not be empty); `expire_seconds` in 60..=1800; a multi-card
/// QR holds at least one card. The number of cards is not capped here: WeChat documents
/// no maximum and answers 40053 (invalid action_info) beyond its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateQrCode {
    /// `QR_CARD`: one card.
    Card {
        /// Lifetime in seconds (`expire_seconds`); absent means long-lived (365 days).
        expire_seconds: Option<u32>,
        /// The card (`action_info.card`).
        card: QrCard,
    },
    /// `QR_MULTIPLE_CARD`: several cards in one QR.
    Multiple {
        /// Lifetime in seconds (`expire_seconds`).
        expire_seconds: Option<u32>,
        /// The cards (`action_info.multiple_card.card_list`).
        card_list: Vec<QrCardItem>,
    },
}

impl CreateQrCode {
    /// A `QR_CARD` request.
    pub fn card(card: QrCard) -> Self {
        Self::Card {
            expire_seconds: None,
            card,
        }
    }

    /// A `QR_MULTIPLE_CARD` request.
    pub fn multiple(card_list: Vec<QrCardItem>) -> Self {
        Self::Multiple {
            expire_seconds: None,
            card_list,
        }
    }

    /// Sets `expire_seconds` (60..=1800, checked by `validate`).
    #[must_use]
    pub fn expire_seconds(mut self, seconds: u32) -> Self {
        match &mut self {
            Self::Card { expire_seconds, .. } | Self::Multiple { expire_seconds, .. } => {
                *expire_seconds = Some(seconds);
            }
        }
        self
    }

    /// The lifetime set with [`expire_seconds`](Self::expire_seconds), if any.
    pub fn lifetime_seconds(&self) -> Option<u32> {
        match self {
            Self::Card { expire_seconds, .. } | Self::Multiple { expire_seconds, .. } => {
                *expire_seconds
            }
        }
    }

    /// The wire `action_name`: `"QR_CARD"` or `"QR_MULTIPLE_CARD"`.
    pub fn action_name(&self) -> &'static str {
        match self {
            Self::Card { .. } => "QR_CARD",
            Self::Multiple { .. } => "QR_MULTIPLE_CARD",
        }
    }
}

impl Endpoint for CreateQrCode {
    type Response = QrCodeTicket;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/qrcode/create";
    const REPEATABLE: bool = false;

    fn validate(&self) -> Result<(), ValidationError> {
        if let Some(seconds) = self.lifetime_seconds() {
            range(
                "expire_seconds",
                i64::from(seconds),
                i64::from(MIN_EXPIRE_SECONDS),
                i64::from(MAX_EXPIRE_SECONDS),
            )?;
        }
        match self {
            Self::Card { card, .. } => card.check(),
            Self::Multiple { card_list, .. } => {
                count(
                    "action_info.multiple_card.card_list",
                    card_list.len(),
                    1,
                    usize::MAX,
                )?;
                for (i, item) in card_list.iter().enumerate() {
                    let at = |e: ValidationError, name: &str| {
                        ValidationError::new(
                            format!("action_info.multiple_card.card_list[{i}].{name}"),
                            e.problem,
                        )
                    };
                    card_id("", &item.card_id).map_err(|e| at(e, "card_id"))?;
                    optional("", item.code.as_deref(), MAX_CODE_CHARS)
                        .map_err(|e| at(e, "code"))?;
                }
                Ok(())
            }
        }
    }

    /// `QR_CARD` written by hand, byte for byte as the `Serialize` impl writes it with
    /// serde_json (tested); `QR_MULTIPLE_CARD` through serde_json.
    fn write_body(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        use std::io::Write as _;
        let Self::Card {
            expire_seconds,
            card,
        } = self
        else {
            return serde_json::to_writer(out, self);
        };
        out.extend_from_slice(br#"{"action_name":"QR_CARD""#);
        if let Some(seconds) = expire_seconds {
            out.extend_from_slice(br#","expire_seconds":"#);
            write!(out, "{seconds}").map_err(serde_json::Error::io)?;
        }
        out.extend_from_slice(br#","action_info":{"card":{"card_id":"#);
        write_json_str(&card.card_id, out)?;
        if let Some(code) = &card.code {
            out.extend_from_slice(br#","code":"#);
            write_json_str(code, out)?;
        }
        if let Some(openid) = &card.openid {
            out.extend_from_slice(br#","openid":"#);
            write_json_str(openid, out)?;
        }
        if let Some(unique) = card.is_unique_code {
            out.extend_from_slice(br#","is_unique_code":"#);
            out.extend_from_slice(if unique { b"true" } else { b"false" });
        }
        if let Some(outer_id) = card.outer_id {
            out.extend_from_slice(br#","outer_id":"#);
            write!(out, "{outer_id}").map_err(serde_json::Error::io)?;
        }
        if let Some(outer_str) = &card.outer_str {
            out.extend_from_slice(br#","outer_str":"#);
            write_json_str(outer_str, out)?;
        }
        out.extend_from_slice(b"}}}");
        Ok(())
    }

    fn decode_plain(body: &[u8]) -> Option<QrCodeTicket> {
        let (mut ticket, mut expire_seconds, mut url, mut show_qrcode_url) =
            (None, None, None, None);
        Plain::new(body).object(|key, p| {
            match key {
                b"ticket" if ticket.is_none() => ticket = Some(p.owned_string()?),
                b"expire_seconds" if expire_seconds.is_none() => {
                    expire_seconds = Some(u32::try_from(p.u64()?).ok()?);
                }
                b"url" if url.is_none() => url = Some(p.owned_string()?),
                b"show_qrcode_url" if show_qrcode_url.is_none() => {
                    show_qrcode_url = Some(p.owned_string()?);
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(QrCodeTicket {
            ticket: ticket?,
            expire_seconds,
            url: url.unwrap_or_default(),
            show_qrcode_url,
        })
    }
}

// --- wire shape -------------------------------------------------------------------

#[derive(Serialize)]
struct CardInfo<'a> {
    card: &'a QrCard,
}

#[derive(Serialize)]
struct MultipleInfo<'a> {
    multiple_card: CardList<'a>,
}

#[derive(Serialize)]
struct CardList<'a> {
    card_list: &'a [QrCardItem],
}

impl Serialize for CreateQrCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let expire = self.lifetime_seconds();
        let mut s =
            serializer.serialize_struct("CreateQrCode", 2 + usize::from(expire.is_some()))?;
        s.serialize_field("action_name", self.action_name())?;
        if let Some(seconds) = expire {
            s.serialize_field("expire_seconds", &seconds)?;
        } else {
            s.skip_field("expire_seconds")?;
        }
        match self {
            Self::Card { card, .. } => s.serialize_field("action_info", &CardInfo { card })?,
            Self::Multiple { card_list, .. } => s.serialize_field(
                "action_info",
                &MultipleInfo {
                    multiple_card: CardList { card_list },
                },
            )?,
        }
        s.end()
    }
}

#[derive(Deserialize)]
enum ActionName {
    #[serde(rename = "QR_CARD")]
    Card,
    #[serde(rename = "QR_MULTIPLE_CARD")]
    Multiple,
}

#[derive(Deserialize)]
struct RawRequest {
    action_name: ActionName,
    #[serde(default, deserialize_with = "crate::lenient::opt_u32")]
    expire_seconds: Option<u32>,
    action_info: RawInfo,
}

#[derive(Deserialize)]
struct RawInfo {
    card: Option<RawCard>,
    multiple_card: Option<RawList>,
}

/// `action_info.card` as it may arrive, including the older shape's misplaced
/// `expire_seconds`.
#[derive(Deserialize)]
struct RawCard {
    card_id: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    openid: Option<String>,
    #[serde(default)]
    is_unique_code: Option<bool>,
    #[serde(default, deserialize_with = "crate::lenient::opt_int")]
    outer_id: Option<i64>,
    #[serde(default)]
    outer_str: Option<String>,
    #[serde(default, deserialize_with = "crate::lenient::opt_u32")]
    expire_seconds: Option<u32>,
}

#[derive(Deserialize)]
struct RawList {
    card_list: Vec<QrCardItem>,
}

impl<'de> Deserialize<'de> for CreateQrCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawRequest::deserialize(deserializer)?;
        let RawInfo {
            card,
            multiple_card,
        } = raw.action_info;
        match (raw.action_name, card, multiple_card) {
            (ActionName::Card, Some(card), None) => {
                let expire_seconds = match (raw.expire_seconds, card.expire_seconds) {
                    (Some(top), Some(inner)) if top != inner => {
                        return Err(de::Error::custom(format!(
                            "expire_seconds is {top} at top level but {inner} in action_info.card"
                        )));
                    }
                    (top, inner) => top.or(inner),
                };
                Ok(Self::Card {
                    expire_seconds,
                    card: QrCard {
                        card_id: card.card_id,
                        code: card.code,
                        openid: card.openid,
                        is_unique_code: card.is_unique_code,
                        outer_id: card.outer_id,
                        outer_str: card.outer_str,
                    },
                })
            }
            (ActionName::Multiple, None, Some(list)) => Ok(Self::Multiple {
                expire_seconds: raw.expire_seconds,
                card_list: list.card_list,
            }),
            (ActionName::Card, _, _) => Err(de::Error::custom(
                "QR_CARD takes exactly action_info.card (and no multiple_card)",
            )),
            (ActionName::Multiple, _, _) => Err(de::Error::custom(
                "QR_MULTIPLE_CARD takes exactly action_info.multiple_card (and no card)",
            )),
        }
    }
}

// --- response -----------------------------------------------------------------------

/// The answer of [`CreateQrCode`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QrCodeTicket {
    /// The QR ticket (`ticket`), base64: exchange it for the image with
    /// [`QrCodeTicket::show_qrcode_image_url`] while it is valid.
    pub ticket: String,
    /// Lifetime in seconds (`expire_seconds`; in the example, not in the field table);
    /// a numeric string is accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::lenient::opt_u32"
    )]
    pub expire_seconds: Option<u32>,
    /// The content of the QR image (`url`), to render the QR yourself. Empty if WeChat
    /// leaves it out: the QR exists by then, so a missing `url` must not turn the
    /// answer of this non-repeatable call into an error.
    #[serde(default)]
    pub url: String,
    /// A page that shows the QR (`show_qrcode_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_qrcode_url: Option<String>,
}

impl QrCodeTicket {
    /// A response value (for tests and the sandbox).
    pub fn new(ticket: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            ticket: ticket.into(),
            expire_seconds: None,
            url: url.into(),
            show_qrcode_url: None,
        }
    }

    /// Sets `expire_seconds`.
    #[must_use]
    pub fn expire_seconds(mut self, seconds: u32) -> Self {
        self.expire_seconds = Some(seconds);
        self
    }

    /// Sets `show_qrcode_url`.
    #[must_use]
    pub fn show_qrcode_url(mut self, url: impl Into<String>) -> Self {
        self.show_qrcode_url = Some(url.into());
        self
    }

    /// The `showqrcode` image URL of this ticket:
    /// `https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=<percent-encoded ticket>`.
    /// No access token is needed to fetch it; an invalid ticket answers HTTP 404.
    pub fn show_qrcode_image_url(&self) -> String {
        show_qrcode_image_url(&self.ticket)
    }
}

/// The `showqrcode` image URL of `ticket`, with the ticket percent-encoded (base64's
/// `+`, `/` and `=` become `%2B`, `%2F` and `%3D`).
pub fn show_qrcode_image_url(ticket: &str) -> String {
    let mut url = String::with_capacity(SHOW_QRCODE_URL.len() + ticket.len() + 8);
    url.push_str(SHOW_QRCODE_URL);
    crate::endpoint::percent_encode_into(ticket, &mut url);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn qr_bodies_are_what_serde_json_writes(
            card_id in "\\PC{0,6}|[\"\\\\\u{0}-\u{1f}a]{0,3}",
            code in proptest::option::of("\\PC{0,4}|[\"\\\\\u{0}-\u{1f}a]{0,3}"),
            openid in proptest::option::of("[a-zA-Z0-9_-]{0,28}"),
            unique in proptest::option::of(proptest::bool::ANY),
            outer_id in proptest::option::of(proptest::num::i64::ANY),
            outer_str in proptest::option::of("\\PC{0,4}"),
            expire in proptest::option::of(proptest::num::u32::ANY),
            multiple in proptest::bool::ANY,
        ) {
            let mut card = QrCard::new(card_id.clone());
            card.code = code;
            card.openid = openid;
            card.is_unique_code = unique;
            card.outer_id = outer_id;
            card.outer_str = outer_str;
            let mut qr = if multiple {
                CreateQrCode::multiple(vec![QrCardItem::new(card_id)])
            } else {
                CreateQrCode::card(card)
            };
            if let Some(seconds) = expire {
                qr = qr.expire_seconds(seconds);
            }
            proptest::prop_assert_eq!(
                crate::encode_body(&qr).unwrap().unwrap(),
                serde_json::to_vec(&qr).unwrap()
            );
        }
    }

    #[test]
    fn percent_encoding() {
        let mut s = String::new();
        crate::endpoint::percent_encode_into("aZ09-._~+/= %é", &mut s);
        assert_eq!(s, "aZ09-._~%2B%2F%3D%20%25%C3%A9");
        assert_eq!(
            show_qrcode_image_url(""),
            "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="
        );
    }

    #[test]
    fn mismatched_shapes_are_refused() {
        for bad in [
            r#"{"action_name":"QR_CARD","action_info":{"multiple_card":{"card_list":[{"card_id":"a"}]}}}"#,
            r#"{"action_name":"QR_MULTIPLE_CARD","action_info":{"card":{"card_id":"a"}}}"#,
            r#"{"action_name":"QR_CARD","action_info":{"card":{"card_id":"a"},"multiple_card":{"card_list":[]}}}"#,
            r#"{"action_name":"QR_SCENE","action_info":{"card":{"card_id":"a"}}}"#,
            r#"{"action_name":"QR_CARD","expire_seconds":60,"action_info":{"card":{"card_id":"a","expire_seconds":"1800"}}}"#,
        ] {
            assert!(serde_json::from_str::<CreateQrCode>(bad).is_err(), "{bad}");
        }
        // the same value in both places is accepted
        let q: CreateQrCode = serde_json::from_str(
            r#"{"action_name":"QR_CARD","expire_seconds":60,"action_info":{"card":{"card_id":"a","expire_seconds":60}}}"#,
        )
        .unwrap();
        assert_eq!(q.lifetime_seconds(), Some(60));
    }
}
