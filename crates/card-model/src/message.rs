//! `wxcard` messages: mass send by tag (`/cgi-bin/message/mass/sendall`), by
//! OpenID list (`/cgi-bin/message/mass/send`), preview (`/cgi-bin/message/mass/preview`)
//! and the customer-service message (`/cgi-bin/message/custom/send`).
//!
//! Every one carries `"msgtype":"wxcard"` ([`WxCardMsgType`], which cannot hold another
//! value) and a [`WxCard`]. Only non-custom-code cards, or custom-code cards after
//! deposit, can be sent this way.
//!
//! Sending a message twice delivers it twice, so none of these is repeatable after a
//! failure where WeChat may have acted, except a mass send that carries a
//! `clientmsgid`: WeChat refuses a second send with the same id.
//!
//! ```
//! use card_model::Endpoint;
//! use card_model::message::{MassSendByTag, PreviewCard, WxCard};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let send = MassSendByTag::to_tag(2, WxCard::new("pFS7Fjg8kV1IdDz01r4SQwMkuCKc"));
//! send.validate()?;
//! assert!(!send.repeatable());
//! let send = send.clientmsgid("spring-campaign-1");
//! assert!(send.repeatable());
//! let body = String::from_utf8(card_model::encode_body(&send)?.unwrap_or_default())?;
//! assert!(body.contains(r#""filter":{"is_to_all":false,"tag_id":2}"#));
//! assert!(body.contains(r#""msgtype":"wxcard""#));
//!
//! let preview = PreviewCard::to_wxname("afdvvf", WxCard::new("pFS7Fjg8kV1IdDz01r4SQwMkuCKc"));
//! preview.validate()?;
//! let r = card_model::decode_response::<PreviewCard>(br#"{"errcode":0,"errmsg":"preview success"}"#)?;
//! assert_eq!(r.msg_id, None);
//! # Ok(())
//! # }
//! ```

use crate::card_ext::CardExt;
use crate::limits::{
    MAX_CLIENTMSGID_BYTES, MAX_MASS_RECIPIENTS, MAX_OPENID_CHARS, MAX_USERNAME_CHARS,
    MIN_MASS_RECIPIENTS,
};
use crate::validate::{card_id, count, each_required, non_empty, required};
use crate::{Ack, Endpoint, HttpMethod, Problem, ValidationError};
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `msgtype` of every message here: always `"wxcard"` on the wire. Parsing refuses
/// any other value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WxCardMsgType;

impl WxCardMsgType {
    /// `"wxcard"`.
    pub const fn as_str(self) -> &'static str {
        "wxcard"
    }
}

impl Serialize for WxCardMsgType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("wxcard")
    }
}

struct MsgTypeVisitor;

impl Visitor<'_> for MsgTypeVisitor {
    type Value = WxCardMsgType;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"the string "wxcard""#)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<WxCardMsgType, E> {
        if v == "wxcard" {
            Ok(WxCardMsgType)
        } else {
            Err(E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
}

impl<'de> Deserialize<'de> for WxCardMsgType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(MsgTypeVisitor)
    }
}

/// The `wxcard` object of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WxCard {
    /// The card (`card_id`).
    pub card_id: String,
    /// A signed `card_ext` as JSON *text* (`card_ext`), not a nested object; build it
    /// with [`WxCard::card_ext`]. Text set by hand is checked like a parsed
    /// [`CardExt`] ([`CardExt::validate`]) before anything is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_ext: Option<String>,
}

impl WxCard {
    /// A card without `card_ext`.
    pub fn new(card_id: impl Into<String>) -> Self {
        Self {
            card_id: card_id.into(),
            card_ext: None,
        }
    }

    /// Attaches a signed `card_ext` (as its JSON text).
    #[must_use]
    pub fn card_ext(mut self, card_ext: &CardExt) -> Self {
        self.card_ext = Some(card_ext.to_json_string());
        self
    }

    fn check(&self) -> Result<(), ValidationError> {
        card_id("wxcard.card_id", &self.card_id)?;
        if let Some(ext) = &self.card_ext {
            let is_object = ext.trim_start().starts_with('{')
                && serde_json::from_str::<IgnoredAny>(ext).is_ok();
            if !is_object {
                return Err(ValidationError::new(
                    "wxcard.card_ext",
                    Problem::Invalid("must be the JSON text of an object (see CardExt)"),
                ));
            }
            // Text set by hand is held to the limits of a signed card_ext.
            let parsed: CardExt = serde_json::from_str(ext).map_err(|_| {
                ValidationError::new(
                    "wxcard.card_ext",
                    Problem::Invalid(
                        "not a card_ext: it needs a timestamp and a signature (see CardExt)",
                    ),
                )
            })?;
            parsed.validate().map_err(|e| {
                ValidationError::new(format!("wxcard.card_ext.{}", e.field), e.problem)
            })?;
        }
        Ok(())
    }
}

fn clientmsgid(value: Option<&str>) -> Result<(), ValidationError> {
    let Some(id) = value else { return Ok(()) };
    non_empty("clientmsgid", id)?;
    if id.len() > MAX_CLIENTMSGID_BYTES {
        return Err(ValidationError::new(
            "clientmsgid",
            Problem::TooManyBytes {
                max: MAX_CLIENTMSGID_BYTES,
                actual: id.len(),
            },
        ));
    }
    Ok(())
}

/// The recipients of a [`MassSendByTag`] (`filter`): everyone, or one tag.
///
/// Build it with [`MassFilter::all`] or [`MassFilter::tag`]. The older `group_id` form
/// is not supported: WeChat's current API uses `tag_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MassFilter {
    /// `is_to_all`: `true` sends to every follower (and the message enters the
    /// account's history list).
    #[serde(default)]
    pub is_to_all: bool,
    /// The tag (`tag_id`): required when `is_to_all` is `false`, absent otherwise.
    /// Sent as a number; a numeric string is accepted when parsing (an old official
    /// example writes `"2"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::lenient::opt_int"
    )]
    pub tag_id: Option<i64>,
}

impl MassFilter {
    /// Every follower.
    pub fn all() -> Self {
        Self {
            is_to_all: true,
            tag_id: None,
        }
    }

    /// The followers with tag `tag_id`.
    pub fn tag(tag_id: i64) -> Self {
        Self {
            is_to_all: false,
            tag_id: Some(tag_id),
        }
    }

    fn check(&self) -> Result<(), ValidationError> {
        match (self.is_to_all, self.tag_id) {
            (false, None) => Err(ValidationError::new(
                "filter.tag_id",
                Problem::Invalid("required unless filter.is_to_all is true"),
            )),
            (true, Some(_)) => Err(ValidationError::new(
                "filter.tag_id",
                Problem::Invalid("must be absent when filter.is_to_all is true"),
            )),
            _ => Ok(()),
        }
    }
}

/// `POST /cgi-bin/message/mass/sendall`: mass-sends a card to all followers or to a tag
///. Success means the job was submitted; completion is pushed later.
///
/// Not repeatable, unless it carries a `clientmsgid` (see [`Endpoint::repeatable`]).
///
/// Validation: the filter names a tag unless it sends to all (and not both);
/// `wxcard.card_id` 1..=32 characters; `wxcard.card_ext`, when present, is JSON object
/// text; `clientmsgid`, when present, is non-empty and at most 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MassSendByTag {
    /// The recipients (`filter`).
    pub filter: MassFilter,
    /// The card (`wxcard`).
    pub wxcard: WxCard,
    /// `msgtype`: always `"wxcard"`.
    pub msgtype: WxCardMsgType,
    /// A de-duplication key (`clientmsgid`): WeChat refuses a second send with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clientmsgid: Option<String>,
}

impl MassSendByTag {
    /// A send to the followers with tag `tag_id`.
    pub fn to_tag(tag_id: i64, wxcard: WxCard) -> Self {
        Self::new(MassFilter::tag(tag_id), wxcard)
    }

    /// A send to every follower.
    pub fn to_all(wxcard: WxCard) -> Self {
        Self::new(MassFilter::all(), wxcard)
    }

    /// A send to `filter`.
    pub fn new(filter: MassFilter, wxcard: WxCard) -> Self {
        Self {
            filter,
            wxcard,
            msgtype: WxCardMsgType,
            clientmsgid: None,
        }
    }

    /// Sets `clientmsgid`, which makes the send safe to repeat.
    #[must_use]
    pub fn clientmsgid(mut self, id: impl Into<String>) -> Self {
        self.clientmsgid = Some(id.into());
        self
    }
}

impl Endpoint for MassSendByTag {
    type Response = MassSendResult;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/cgi-bin/message/mass/sendall";
    const REPEATABLE: bool = false;

    fn validate(&self) -> Result<(), ValidationError> {
        self.filter.check()?;
        self.wxcard.check()?;
        clientmsgid(self.clientmsgid.as_deref())
    }

    fn repeatable(&self) -> bool {
        self.clientmsgid.is_some()
    }
}

/// `POST /cgi-bin/message/mass/send`: mass-sends a card to a list of OpenIDs.
///
/// Not repeatable, unless it carries a `clientmsgid`.
///
/// Validation: `touser` holds 2..=10000 OpenIDs, each 1..=32 characters; the rest as
/// [`MassSendByTag`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MassSendToOpenIds {
    /// The recipients' OpenIDs (WeChat's `touser`).
    #[serde(rename = "touser")]
    pub recipients: Vec<String>,
    /// The card (`wxcard`).
    pub wxcard: WxCard,
    /// `msgtype`: always `"wxcard"`.
    pub msgtype: WxCardMsgType,
    /// A de-duplication key (`clientmsgid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clientmsgid: Option<String>,
}

impl MassSendToOpenIds {
    /// A send to `recipients` (OpenIDs).
    pub fn new(recipients: Vec<String>, wxcard: WxCard) -> Self {
        Self {
            recipients,
            wxcard,
            msgtype: WxCardMsgType,
            clientmsgid: None,
        }
    }

    /// Sets `clientmsgid`, which makes the send safe to repeat.
    #[must_use]
    pub fn clientmsgid(mut self, id: impl Into<String>) -> Self {
        self.clientmsgid = Some(id.into());
        self
    }
}

impl Endpoint for MassSendToOpenIds {
    type Response = MassSendResult;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/cgi-bin/message/mass/send";
    const REPEATABLE: bool = false;

    fn validate(&self) -> Result<(), ValidationError> {
        count(
            "touser",
            self.recipients.len(),
            MIN_MASS_RECIPIENTS,
            MAX_MASS_RECIPIENTS,
        )?;
        each_required("touser", &self.recipients, MAX_OPENID_CHARS)?;
        self.wxcard.check()?;
        clientmsgid(self.clientmsgid.as_deref())
    }

    fn repeatable(&self) -> bool {
        self.clientmsgid.is_some()
    }
}

/// The answer of a mass send: the job was submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MassSendResult {
    /// The send job (`msg_id`); a numeric string is accepted.
    #[serde(deserialize_with = "crate::lenient::u64")]
    pub msg_id: u64,
    /// `msg_data_id`, present only for mpnews sends; a numeric string is accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64"
    )]
    pub msg_data_id: Option<u64>,
}

impl MassSendResult {
    /// A response value (for tests and the sandbox).
    pub fn new(msg_id: u64) -> Self {
        Self {
            msg_id,
            msg_data_id: None,
        }
    }
}

fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    crate::lenient::u64(d).map(Some)
}

/// Who receives a [`PreviewCard`]: exactly one of an OpenID (`touser`) or a WeChat ID
/// (`towxname`), so "both" and "neither" cannot be expressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PreviewRecipient {
    /// An OpenID, sent as `touser`.
    OpenId(String),
    /// A WeChat ID, sent as `towxname` (WeChat limits these to 100 previews a day).
    WxName(String),
}

/// `POST /cgi-bin/message/mass/preview`: sends a card preview to one user.
///
/// Not repeatable: a repeated preview is delivered twice.
///
/// Validation: the OpenID 1..=32 characters, or the WeChat ID 1..=32 (the whitelist's
/// `username` limit, the only documented length of a WeChat ID); the card as
/// [`MassSendByTag`]. Parsing refuses a body with both `touser` and `towxname` (WeChat
/// would let `towxname` win, silently dropping the other).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreviewCard {
    /// The recipient (`touser` or `towxname`).
    pub recipient: PreviewRecipient,
    /// The card (`wxcard`).
    pub wxcard: WxCard,
    /// `msgtype`: always `"wxcard"`.
    pub msgtype: WxCardMsgType,
}

impl PreviewCard {
    /// A preview to the user with this OpenID.
    pub fn to_openid(openid: impl Into<String>, wxcard: WxCard) -> Self {
        Self::new(PreviewRecipient::OpenId(openid.into()), wxcard)
    }

    /// A preview to the user with this WeChat ID.
    pub fn to_wxname(wxname: impl Into<String>, wxcard: WxCard) -> Self {
        Self::new(PreviewRecipient::WxName(wxname.into()), wxcard)
    }

    /// A preview to `recipient`.
    pub fn new(recipient: PreviewRecipient, wxcard: WxCard) -> Self {
        Self {
            recipient,
            wxcard,
            msgtype: WxCardMsgType,
        }
    }
}

impl Endpoint for PreviewCard {
    type Response = PreviewResult;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/cgi-bin/message/mass/preview";
    const REPEATABLE: bool = false;

    fn validate(&self) -> Result<(), ValidationError> {
        match &self.recipient {
            PreviewRecipient::OpenId(id) => required("touser", id, MAX_OPENID_CHARS)?,
            PreviewRecipient::WxName(name) => required("towxname", name, MAX_USERNAME_CHARS)?,
        }
        self.wxcard.check()
    }
}

impl Serialize for PreviewCard {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PreviewCard", 3)?;
        match &self.recipient {
            PreviewRecipient::OpenId(id) => s.serialize_field("touser", id)?,
            PreviewRecipient::WxName(name) => s.serialize_field("towxname", name)?,
        }
        s.serialize_field("wxcard", &self.wxcard)?;
        s.serialize_field("msgtype", &self.msgtype)?;
        s.end()
    }
}

#[derive(Deserialize)]
struct RawPreview {
    #[serde(default)]
    touser: Option<String>,
    #[serde(default)]
    towxname: Option<String>,
    wxcard: WxCard,
    msgtype: WxCardMsgType,
}

impl<'de> Deserialize<'de> for PreviewCard {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawPreview::deserialize(deserializer)?;
        let recipient = match (raw.touser, raw.towxname) {
            (Some(id), None) => PreviewRecipient::OpenId(id),
            (None, Some(name)) => PreviewRecipient::WxName(name),
            (Some(_), Some(_)) => {
                return Err(de::Error::custom(
                    "a preview goes to touser or towxname, not both",
                ));
            }
            (None, None) => return Err(de::Error::custom("a preview needs touser or towxname")),
        };
        Ok(Self {
            recipient,
            wxcard: raw.wxcard,
            msgtype: raw.msgtype,
        })
    }
}

/// The answer of [`PreviewCard`]; `msg_id` is sometimes absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PreviewResult {
    /// The message (`msg_id`), when WeChat sends one; a numeric string is accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64"
    )]
    pub msg_id: Option<u64>,
}

impl PreviewResult {
    /// A response value (for tests and the sandbox).
    pub fn new(msg_id: Option<u64>) -> Self {
        Self { msg_id }
    }
}

/// The customer-service account a message is sent as (`customservice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomService {
    /// The account, such as `test1@test` (`kf_account`).
    pub kf_account: String,
}

/// `POST /cgi-bin/message/custom/send`: sends a card to one user as a customer-service
/// message, within the reply window (45015 beyond it).
///
/// Not repeatable: a repeated message is delivered twice.
///
/// Validation: `touser` 1..=32 characters; `customservice.kf_account`, when present,
/// non-empty (no length is documented); the card as [`MassSendByTag`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendCustomerServiceCard {
    /// The recipient's OpenID (WeChat's `touser`).
    #[serde(rename = "touser")]
    pub recipient: String,
    /// `msgtype`: always `"wxcard"`.
    pub msgtype: WxCardMsgType,
    /// The card (`wxcard`).
    pub wxcard: WxCard,
    /// Send as this customer-service account (WeChat's `customservice`).
    #[serde(
        rename = "customservice",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_service: Option<CustomService>,
}

impl SendCustomerServiceCard {
    /// A message to `recipient` (an OpenID).
    pub fn new(recipient: impl Into<String>, wxcard: WxCard) -> Self {
        Self {
            recipient: recipient.into(),
            msgtype: WxCardMsgType,
            wxcard,
            customer_service: None,
        }
    }

    /// Sends as the customer-service account `kf_account`.
    #[must_use]
    pub fn kf_account(mut self, kf_account: impl Into<String>) -> Self {
        self.customer_service = Some(CustomService {
            kf_account: kf_account.into(),
        });
        self
    }
}

impl Endpoint for SendCustomerServiceCard {
    type Response = Ack;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/cgi-bin/message/custom/send";
    const REPEATABLE: bool = false;

    fn validate(&self) -> Result<(), ValidationError> {
        required("touser", &self.recipient, MAX_OPENID_CHARS)?;
        if let Some(cs) = &self.customer_service {
            non_empty("customservice.kf_account", &cs.kf_account)?;
        }
        self.wxcard.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgtype_is_always_wxcard() {
        assert_eq!(
            serde_json::to_string(&WxCardMsgType).unwrap(),
            r#""wxcard""#
        );
        assert!(serde_json::from_str::<WxCardMsgType>(r#""wxcard""#).is_ok());
        assert!(serde_json::from_str::<WxCardMsgType>(r#""mpnews""#).is_err());
        let bad = r#"{"touser":"o","msgtype":"text","wxcard":{"card_id":"c"}}"#;
        assert!(serde_json::from_str::<SendCustomerServiceCard>(bad).is_err());
    }

    #[test]
    fn preview_recipient_is_exactly_one() {
        let card = r#""wxcard":{"card_id":"c"},"msgtype":"wxcard""#;
        let p: PreviewCard =
            serde_json::from_str(&format!(r#"{{"towxname":"w",{card}}}"#)).unwrap();
        assert_eq!(p.recipient, PreviewRecipient::WxName("w".into()));
        assert!(
            serde_json::from_str::<PreviewCard>(&format!(
                r#"{{"touser":"o","towxname":"w",{card}}}"#
            ))
            .is_err()
        );
        assert!(serde_json::from_str::<PreviewCard>(&format!("{{{card}}}")).is_err());
    }

    #[test]
    fn filter_rules() {
        let card = WxCard::new("c");
        assert!(MassSendByTag::to_all(card.clone()).validate().is_ok());
        let mut both = MassSendByTag::to_all(card.clone());
        both.filter.tag_id = Some(1);
        assert_eq!(both.validate().unwrap_err().field, "filter.tag_id");
        let neither = MassSendByTag::new(
            MassFilter {
                is_to_all: false,
                tag_id: None,
            },
            card,
        );
        assert_eq!(neither.validate().unwrap_err().field, "filter.tag_id");
    }
}
