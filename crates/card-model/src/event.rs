//! Events WeChat pushes to the merchant's server (spec section 7), `user_get_card` first.
//!
//! WeChat POSTs a small flat XML document whose root is `<xml>`. [`parse_event`] turns it
//! into an [`Event`]: a typed [`UserGetCard`] for the card-claim event, and
//! [`Event::Other`] (keeping every field as text) for any other event or message.
//!
//! The parser is lenient where WeChat's own samples vary and strict where an attacker
//! could hurt:
//!
//! * Lenient: white space around a value is trimmed; a value may be CDATA, plain text or
//!   both (`<A> <![CDATA[x]]> </A>`); the XML declaration is optional; unknown elements
//!   are kept (in [`UserGetCard::extra`] or [`Event::Other`]'s `fields`); optional fields may
//!   be missing, and an empty optional field reads as `None`.
//! * Strict: the body is at most [`MAX_EVENT_BYTES`]; it must be UTF-8 and well-formed;
//!   a DOCTYPE is refused (so no entity is ever defined, let alone expanded); only the five
//!   predefined entities and character references are decoded; elements nest at most
//!   [`MAX_EVENT_DEPTH`] levels below `<xml>`, and names are at most [`MAX_NAME_BYTES`];
//!   a known field may appear only once. Every refusal is an [`EventError`]; no input makes
//!   the parser panic, and memory use is bounded by a small multiple of the (capped) input
//!   size.
//!
//! Speed: a body shaped as WeChat sends it (flat fields of CDATA or plain text, white
//! space between) is read by a small scanner over the borrowed bytes that performs the
//! same checks; anything else (declaration, comments, entities, nesting, attributes, and
//! every error) goes through quick-xml's borrowing reader. A property test checks that
//! both agree wherever the scanner answers. The scanner matches the tags of the spec's
//! fields in place (their opening and closing tags are constants), searches eight bytes
//! at a time for `<`, `&` and `]]>`, keeps values borrowed until the event is built, and
//! then allocates each non-empty string field once, at its exact size (no allocation for
//! an empty optional field or an empty extra map).
//!
//! Attributes are not part of WeChat's event format and are ignored.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use card_model::event::{Event, parse_event};
//!
//! let body = b"<xml><ToUserName><![CDATA[gh_fc0a06a20993]]></ToUserName>\
//!     <FromUserName><![CDATA[oZI8Fj040-be6rlDohc6gkoPOQTQ]]></FromUserName>\
//!     <CreateTime>1472551036</CreateTime><MsgType><![CDATA[event]]></MsgType>\
//!     <Event><![CDATA[user_get_card]]></Event>\
//!     <CardId><![CDATA[pZI8Fjwsy5fVPRBeD78J4RmqVvBc]]></CardId>\
//!     <IsGiveByFriend>0</IsGiveByFriend><OuterId>7</OuterId></xml>";
//! match parse_event(body)? {
//!     Event::UserGetCard(claim) => {
//!         assert_eq!(claim.card_id, "pZI8Fjwsy5fVPRBeD78J4RmqVvBc");
//!         assert_eq!(claim.outer_id, Some(7));
//!         assert_eq!(claim.is_give_by_friend, Some(false));
//!         assert_eq!(claim.user_card_code, None);
//!     }
//!     other => panic!("unexpected event {:?}", other.event_type()),
//! }
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use quick_xml::Reader;
use quick_xml::errors::IllFormedError;
use quick_xml::events::Event as XmlEvent;

/// The largest event body [`parse_event`] accepts, in bytes (64 KiB).
///
/// A `user_get_card` push is well under 1 KiB; the cap bounds the work and memory an
/// attacker can cause before any parsing starts.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// How many levels of elements may nest below the root `<xml>`.
///
/// `user_get_card` is flat (one level), but other pushes WeChat documents nest deeper:
/// `pic_sysphoto` carries `SendPicsInfo/PicList/item/PicMd5Sum` (four levels) and
/// `MASSSENDJOBFINISH` carries `CopyrightCheckResult/ResultList/item/...`. Four keeps those
/// parseable as [`Event::Other`] while still refusing deeply nested hostile documents.
pub const MAX_EVENT_DEPTH: usize = 4;

/// The longest element name accepted, in bytes.
///
/// WeChat's names are under 30 bytes. The cap keeps the path keys of nested unknown
/// elements (`Outer/Inner`) small, so that a 64 KiB body cannot be made to build
/// megabytes of keys.
pub const MAX_NAME_BYTES: usize = 64;

/// How many characters of an offending value or name an [`EventError`] repeats.
const MAX_ECHO_CHARS: usize = 64;

// The fields of `user_get_card` (spec 7.3), by slot index.
const TO_USER_NAME: usize = 0;
const FROM_USER_NAME: usize = 1;
const FRIEND_USER_NAME: usize = 2;
const CREATE_TIME: usize = 3;
const MSG_TYPE: usize = 4;
const EVENT: usize = 5;
const CARD_ID: usize = 6;
const IS_GIVE_BY_FRIEND: usize = 7;
const USER_CARD_CODE: usize = 8;
const OLD_USER_CARD_CODE: usize = 9;
const OUTER_ID: usize = 10;
const OUTER_STR: usize = 11;
const IS_RESTORE_MEMBER_CARD: usize = 12;
const IS_RECOMMEND_BY_FRIEND: usize = 13;
const UNION_ID: usize = 14;
const SOURCE_SCENE: usize = 15;
const KNOWN_COUNT: usize = 16;

const KNOWN_NAMES: [&str; KNOWN_COUNT] = [
    "ToUserName",
    "FromUserName",
    "FriendUserName",
    "CreateTime",
    "MsgType",
    "Event",
    "CardId",
    "IsGiveByFriend",
    "UserCardCode",
    "OldUserCardCode",
    "OuterId",
    "OuterStr",
    "IsRestoreMemberCard",
    "IsRecommendByFriend",
    "UnionId",
    "SourceScene",
];

/// The slot of a known field name, matched on bytes: the length and one byte pick the
/// only candidate, and a single comparison confirms it.
fn known_slot(name: &[u8]) -> Option<usize> {
    let slot = match name.len() {
        5 => EVENT,
        6 => CARD_ID,
        7 => match name.first() {
            Some(b'M') => MSG_TYPE,
            Some(b'O') => OUTER_ID,
            _ => UNION_ID,
        },
        8 => OUTER_STR,
        10 => match name.first() {
            Some(b'T') => TO_USER_NAME,
            _ => CREATE_TIME,
        },
        11 => SOURCE_SCENE,
        12 => match name.first() {
            Some(b'F') => FROM_USER_NAME,
            _ => USER_CARD_CODE,
        },
        14 => match name.first() {
            Some(b'F') => FRIEND_USER_NAME,
            _ => IS_GIVE_BY_FRIEND,
        },
        15 => OLD_USER_CARD_CODE,
        19 => match name.get(4) {
            Some(b's') => IS_RESTORE_MEMBER_CARD,
            _ => IS_RECOMMEND_BY_FRIEND,
        },
        _ => return None,
    };
    eq_short(name, KNOWN_NAMES[slot].as_bytes()).then_some(slot)
}

/// `Name>` for each known field: what follows the `<` of its opening tag.
const OPEN_TAGS: [&[u8]; KNOWN_COUNT] = [
    b"ToUserName>",
    b"FromUserName>",
    b"FriendUserName>",
    b"CreateTime>",
    b"MsgType>",
    b"Event>",
    b"CardId>",
    b"IsGiveByFriend>",
    b"UserCardCode>",
    b"OldUserCardCode>",
    b"OuterId>",
    b"OuterStr>",
    b"IsRestoreMemberCard>",
    b"IsRecommendByFriend>",
    b"UnionId>",
    b"SourceScene>",
];

/// `</Name>` for each known field: its closing tag.
const CLOSE_TAGS: [&[u8]; KNOWN_COUNT] = [
    b"</ToUserName>",
    b"</FromUserName>",
    b"</FriendUserName>",
    b"</CreateTime>",
    b"</MsgType>",
    b"</Event>",
    b"</CardId>",
    b"</IsGiveByFriend>",
    b"</UserCardCode>",
    b"</OldUserCardCode>",
    b"</OuterId>",
    b"</OuterStr>",
    b"</IsRestoreMemberCard>",
    b"</IsRecommendByFriend>",
    b"</UnionId>",
    b"</SourceScene>",
];

/// The only known field whose opening tag can start with `rest` (the bytes after a
/// `<`), picked by one to three bytes; the caller confirms it against [`OPEN_TAGS`].
#[inline]
fn open_tag_candidate(rest: &[u8]) -> Option<usize> {
    let [b0, b1, b2, _, b4, b5, ..] = *rest else {
        return None;
    };
    Some(match b0 {
        b'T' => TO_USER_NAME,
        b'F' if b2 == b'o' => FROM_USER_NAME,
        b'F' => FRIEND_USER_NAME,
        b'C' if b1 == b'r' => CREATE_TIME,
        b'C' => CARD_ID,
        b'M' => MSG_TYPE,
        b'E' => EVENT,
        b'I' if b2 == b'G' => IS_GIVE_BY_FRIEND,
        b'I' if b4 == b's' => IS_RESTORE_MEMBER_CARD,
        b'I' => IS_RECOMMEND_BY_FRIEND,
        b'U' if b1 == b's' => USER_CARD_CODE,
        b'U' => UNION_ID,
        b'O' if b1 == b'l' => OLD_USER_CARD_CODE,
        b'O' if b5 == b'I' => OUTER_ID,
        b'O' => OUTER_STR,
        b'S' => SOURCE_SCENE,
        _ => return None,
    })
}

/// If `b` starts with `tag` (one of [`OPEN_TAGS`] or [`CLOSE_TAGS`]), its length.
#[inline(always)]
fn starts_with_tag(b: &[u8], tag: &[u8]) -> Option<usize> {
    let n = tag.len();
    eq_short(b.get(..n)?, tag).then_some(n)
}

/// Byte equality of short names with a few word compares: a `memcmp` call, or a byte
/// loop, costs more than the comparison itself.
#[inline(always)]
fn eq_short(a: &[u8], b: &[u8]) -> bool {
    fn word(s: &[u8], at: usize) -> u64 {
        match s.get(at..).and_then(<[u8]>::first_chunk::<8>) {
            Some(w) => u64::from_le_bytes(*w),
            None => 0,
        }
    }
    fn tail(s: &[u8]) -> u64 {
        s.last_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w))
    }
    fn half(s: &[u8]) -> u32 {
        s.first_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w))
    }
    fn half_tail(s: &[u8]) -> u32 {
        s.last_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w))
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        // Two overlapping halves (or words) cover the slice; a third word covers the
        // middle of 17 to 24 bytes.
        4..=7 => (half(a) ^ half(b)) | (half_tail(a) ^ half_tail(b)) == 0,
        8..=16 => (word(a, 0) ^ word(b, 0)) | (tail(a) ^ tail(b)) == 0,
        17..=24 => (word(a, 0) ^ word(b, 0)) | (word(a, 8) ^ word(b, 8)) | (tail(a) ^ tail(b)) == 0,
        _ => a == b,
    }
}

/// Why an event body was refused.
///
/// Variants about a field name it; values and names repeated here are cut to 64
/// characters, so an error stays small whatever the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The body is larger than [`MAX_EVENT_BYTES`]; it was not parsed.
    #[error("event body is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// The body's size in bytes.
        len: usize,
        /// The limit, [`MAX_EVENT_BYTES`].
        max: usize,
    },
    /// The body is not valid UTF-8.
    #[error("event body is not UTF-8 (first invalid byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Offset of the first byte that is not part of valid UTF-8.
        valid_up_to: usize,
    },
    /// The XML declaration names an encoding other than UTF-8.
    #[error("event body declares encoding {encoding:?}; only UTF-8 is accepted")]
    UnsupportedEncoding {
        /// The declared encoding.
        encoding: String,
    },
    /// The body contains a `<!DOCTYPE ...>`; refused so that no entity can be defined.
    #[error("event body contains a DOCTYPE declaration, which is refused")]
    Doctype,
    /// An entity reference other than `&lt;`, `&gt;`, `&amp;`, `&apos;`, `&quot;`.
    #[error("unknown entity reference &{name};")]
    UnknownEntity {
        /// The entity's name.
        name: String,
    },
    /// A character reference (`&#...;`) that names no valid character.
    #[error("invalid character reference &{reference};")]
    InvalidCharRef {
        /// The reference, without `&` and `;`.
        reference: String,
    },
    /// Elements nest more than [`MAX_EVENT_DEPTH`] levels below `<xml>`.
    #[error("elements nest more than {max} levels below <xml>")]
    TooDeep {
        /// The limit, [`MAX_EVENT_DEPTH`].
        max: usize,
    },
    /// The root element is not `<xml>`.
    #[error("root element is <{found}>, expected <xml>")]
    UnexpectedRoot {
        /// The root element's name.
        found: String,
    },
    /// An element's name is not an XML name (for example it holds `/` or `#`), or is
    /// longer than [`MAX_NAME_BYTES`].
    #[error("{name:?} is not a valid element name")]
    InvalidName {
        /// The offending name.
        name: String,
    },
    /// A closing tag does not match the open element.
    #[error("closing tag </{found}> does not match <{expected}>")]
    MismatchedEndTag {
        /// The open element's name.
        expected: String,
        /// The closing tag's name.
        found: String,
    },
    /// Text, CDATA or an element where none may be: before or after the root element,
    /// or directly inside `<xml>` rather than inside a field.
    #[error("unexpected content at byte offset {offset}")]
    UnexpectedContent {
        /// Byte offset in the body where it was found.
        offset: u64,
    },
    /// The body ends before the root element is closed (or holds no root element).
    #[error("event body ends before </xml>")]
    UnexpectedEof,
    /// The body is not well-formed XML, as reported by the XML reader.
    #[error("malformed XML at byte offset {offset}: {message}")]
    Malformed {
        /// Byte offset in the body where the problem was found.
        offset: u64,
        /// The XML reader's description.
        message: String,
    },
    /// One of the `user_get_card` fields of spec 7.3 (`MsgType`, `Event`, `CardId`, ...)
    /// appears more than once, in whatever event or message.
    #[error("field {field} appears more than once")]
    DuplicateField {
        /// The field's XML element name.
        field: &'static str,
    },
    /// A field of `user_get_card` holds child elements instead of text.
    #[error("field {field} holds elements instead of text")]
    NestedField {
        /// The field's XML element name.
        field: &'static str,
    },
    /// A required field is missing (`MsgType` for any event; `ToUserName`,
    /// `FromUserName`, `CreateTime` and `CardId` for `user_get_card`).
    #[error("required field {field} is missing")]
    MissingField {
        /// The field's XML element name.
        field: &'static str,
    },
    /// A numeric field is not an integer, or out of the `i64` range.
    #[error("field {field}: {value:?} is not an integer in the i64 range")]
    InvalidNumber {
        /// The field's XML element name.
        field: &'static str,
        /// The value as sent (cut to 64 characters).
        value: String,
    },
    /// A 0/1 flag holds something else.
    #[error("field {field}: {value:?} is not 0 or 1")]
    InvalidFlag {
        /// The field's XML element name.
        field: &'static str,
        /// The value as sent (cut to 64 characters).
        value: String,
    },
    /// [`UserGetCard::insert_extra`] was given a name that cannot be written back as
    /// XML or that would shadow a known field.
    #[error("{name:?} cannot be used as an extra field name")]
    InvalidExtraName {
        /// The refused name.
        name: String,
    },
}

impl EventError {
    /// The XML element name of the field this error is about, if it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::DuplicateField { field }
            | Self::NestedField { field }
            | Self::MissingField { field }
            | Self::InvalidNumber { field, .. }
            | Self::InvalidFlag { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// A user claimed a card: the `user_get_card` event (spec 7.2, 7.3).
///
/// `MsgType` (`event`) and `Event` (`user_get_card`) are implied by the type. Elements the
/// spec does not list are kept in [`extra`](Self::extra). Construct one with
/// [`new`](Self::new) and set the optional fields directly:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use card_model::event::{Event, UserGetCard, parse_event};
///
/// let mut claim = UserGetCard::new("gh_fc0a06a20993", "oZI8Fj040-be6rlDohc6gkoPOQTQ", 1472551036, "pZI8Fjwsy5fVPRBeD78J4RmqVvBc");
/// claim.user_card_code = Some("226009850808".to_owned());
/// claim.outer_str = Some("12b".to_owned());
/// let body = claim.to_xml();
/// assert_eq!(parse_event(body.as_bytes())?, Event::UserGetCard(claim));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UserGetCard {
    /// `ToUserName`: the Official Account's original ID (`gh_...`).
    pub to_user_name: String,
    /// `FromUserName`: the claiming user's OpenID.
    pub from_user_name: String,
    /// `CreateTime`: when the message was created, in Unix seconds.
    pub create_time: i64,
    /// `CardId`: the claimed card.
    pub card_id: String,
    /// `FriendUserName`: the gifting friend's OpenID when `IsGiveByFriend` is 1.
    pub friend_user_name: Option<String>,
    /// `IsGiveByFriend`: whether the card was a gift from a friend (0/1 on the wire).
    pub is_give_by_friend: Option<bool>,
    /// `UserCardCode`: the code's serial number.
    pub user_card_code: Option<String>,
    /// `OldUserCardCode`: the code before a gift changed it.
    pub old_user_card_code: Option<String>,
    /// `OuterId`: the integer claim scene set at issuance (`outer_id`).
    pub outer_id: Option<i64>,
    /// `OuterStr`: the string claim scene set at issuance (`outer_str`).
    pub outer_str: Option<String>,
    /// `IsRestoreMemberCard`: whether this claim restores a deleted member card (0/1).
    pub is_restore_member_card: Option<bool>,
    /// `IsRecommendByFriend`: in the official sample but undocumented; presumably whether
    /// a friend's recommendation led to the claim (0/1).
    pub is_recommend_by_friend: Option<bool>,
    /// `UnionId`: the user's UnionID, when the account is bound to an Open Platform account.
    pub union_id: Option<String>,
    /// `SourceScene`: seen in real pushes (`SOURCE_SCENE_UNKNOW`, ...), undocumented.
    pub source_scene: Option<String>,
    /// Elements the spec does not list; private so that [`to_xml`](Self::to_xml) can
    /// always write them back (see [`insert_extra`](Self::insert_extra)).
    extra: BTreeMap<String, String>,
}

impl UserGetCard {
    /// A claim event with the required fields; every optional field is `None`.
    pub fn new(
        to_user_name: impl Into<String>,
        from_user_name: impl Into<String>,
        create_time: i64,
        card_id: impl Into<String>,
    ) -> Self {
        Self {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            create_time,
            card_id: card_id.into(),
            friend_user_name: None,
            is_give_by_friend: None,
            user_card_code: None,
            old_user_card_code: None,
            outer_id: None,
            outer_str: None,
            is_restore_member_card: None,
            is_recommend_by_friend: None,
            union_id: None,
            source_scene: None,
            extra: BTreeMap::new(),
        }
    }

    /// Elements the spec does not list, by name, with their trimmed text.
    ///
    /// A nested element is keyed by its path (`Outer/Inner`); the second, third, ...
    /// occurrence of the same path gets `#2`, `#3`, ... appended. An element that holds
    /// child elements is listed only if it also holds non-blank text.
    pub fn extra(&self) -> &BTreeMap<String, String> {
        &self.extra
    }

    /// Add (or replace) an extra element, returning the value it replaced.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidExtraName`] unless `name` is a `/`-separated path of at most
    /// [`MAX_EVENT_DEPTH`] XML names (each at most [`MAX_NAME_BYTES`] long), optionally followed by `#N` (N ≥ 2), whose first
    /// element is not one of the spec's fields.
    pub fn insert_extra(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Option<String>, EventError> {
        let name = name.into();
        if !is_extra_key(&name) {
            return Err(EventError::InvalidExtraName { name: echo(&name) });
        }
        Ok(self.extra.insert(name, value.into()))
    }

    /// Remove an extra element, returning its value.
    pub fn remove_extra(&mut self, name: &str) -> Option<String> {
        self.extra.remove(name)
    }

    /// The key WeChat's retry rules say to de-duplicate on: `FromUserName` + `CreateTime`.
    pub fn dedup_key(&self) -> (&str, i64) {
        (&self.from_user_name, self.create_time)
    }

    /// The event as WeChat pushes it: `<xml>` with strings in CDATA, numbers and flags
    /// as plain text, optional fields only when set, then the extra elements.
    ///
    /// [`parse_event`] reads the result back to an equal value, except that an optional
    /// string set to `Some("")` reads back as `None`, and `#N` suffixes of extra names are
    /// renumbered from `#2` in order. Strings are written as they are (a `]]>` inside one
    /// is split across two CDATA sections); characters XML 1.0 forbids, such as most
    /// control characters, are not filtered.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(400 + self.extra.len() * 32);
        out.push_str("<xml>");
        write_cdata(&mut out, "ToUserName", &self.to_user_name);
        write_cdata(&mut out, "FromUserName", &self.from_user_name);
        write_opt_cdata(&mut out, "FriendUserName", &self.friend_user_name);
        write_plain(&mut out, "CreateTime", self.create_time);
        write_cdata(&mut out, "MsgType", "event");
        write_cdata(&mut out, "Event", "user_get_card");
        write_cdata(&mut out, "CardId", &self.card_id);
        write_flag(&mut out, "IsGiveByFriend", self.is_give_by_friend);
        write_opt_cdata(&mut out, "UserCardCode", &self.user_card_code);
        write_opt_cdata(&mut out, "OldUserCardCode", &self.old_user_card_code);
        if let Some(id) = self.outer_id {
            write_plain(&mut out, "OuterId", id);
        }
        write_opt_cdata(&mut out, "OuterStr", &self.outer_str);
        write_flag(&mut out, "IsRestoreMemberCard", self.is_restore_member_card);
        write_flag(&mut out, "IsRecommendByFriend", self.is_recommend_by_friend);
        write_opt_cdata(&mut out, "UnionId", &self.union_id);
        write_opt_cdata(&mut out, "SourceScene", &self.source_scene);
        write_extra(&mut out, &self.extra);
        out.push_str("</xml>");
        out
    }
}

/// An event or message WeChat pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `MsgType` `event`, `Event` `user_get_card`: a user claimed a card.
    UserGetCard(UserGetCard),
    /// Any other event or message, with its fields as trimmed text.
    Other {
        /// `MsgType`, for example `event` or `text`.
        msg_type: String,
        /// `Event`, for example `user_del_card`; `None` for plain messages.
        event: Option<String>,
        /// Every other element, keyed as in [`UserGetCard::extra`] (nested elements by
        /// path, repeats with `#2`, `#3`, ...). Empty elements are kept as `""`.
        fields: BTreeMap<String, String>,
    },
}

impl Event {
    /// Parse a pushed XML body; the same as [`parse_event`].
    ///
    /// # Errors
    ///
    /// See [`parse_event`].
    pub fn from_xml(xml: &[u8]) -> Result<Self, EventError> {
        parse_event(xml)
    }

    /// The `MsgType` element.
    pub fn msg_type(&self) -> &str {
        match self {
            Self::UserGetCard(_) => "event",
            Self::Other { msg_type, .. } => msg_type,
        }
    }

    /// The `Event` element, if any.
    pub fn event_type(&self) -> Option<&str> {
        match self {
            Self::UserGetCard(_) => Some("user_get_card"),
            Self::Other { event, .. } => event.as_deref(),
        }
    }
}

impl From<UserGetCard> for Event {
    fn from(event: UserGetCard) -> Self {
        Self::UserGetCard(event)
    }
}

/// Parse the XML body of a push from WeChat.
///
/// `MsgType` `event` with `Event` `user_get_card` (both compared ignoring ASCII case)
/// gives [`Event::UserGetCard`]; anything else gives [`Event::Other`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use card_model::event::{Event, parse_event};
///
/// let body = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\
///     <FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1</CreateTime>\
///     <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_del_card]]></Event>\
///     <CardId><![CDATA[p1]]></CardId><UserCardCode><![CDATA[12312312]]></UserCardCode></xml>";
/// let event = parse_event(body.as_bytes())?;
/// assert_eq!(event.event_type(), Some("user_del_card"));
/// if let Event::Other { fields, .. } = event {
///     assert_eq!(fields["UserCardCode"], "12312312");
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// An [`EventError`] if the body is too large, not UTF-8, not well-formed, hostile
/// (DOCTYPE, unknown entity, too deep), has no `MsgType`, lacks a required
/// `user_get_card` field, repeats one of its fields, or holds a number or flag that does
/// not parse.
pub fn parse_event(xml: &[u8]) -> Result<Event, EventError> {
    if xml.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge {
            len: xml.len(),
            max: MAX_EVENT_BYTES,
        });
    }
    let input = std::str::from_utf8(xml).map_err(|e| EventError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    // Pushes as WeChat sends them take the flat fast path; anything else, and every
    // error, goes through the full reader.
    // The document is filled and read in place: it is a few hundred bytes, and moving it
    // costs as much as parsing a field.
    let mut doc = Document::new();
    if doc.fill_flat(input).is_none() {
        doc = Document::read(input)?;
    }
    doc.take_event()
}

// ---------------------------------------------------------------------------------------
// Reading

/// Text collected for one element, borrowed from the input while it is a single piece.
#[derive(Debug, Default)]
enum Text<'a> {
    #[default]
    Empty,
    Borrowed(&'a str),
    Owned(String),
}

impl<'a> Text<'a> {
    fn push_str(&mut self, s: &'a str) {
        match self {
            Self::Empty => *self = Self::Borrowed(s),
            Self::Borrowed(b) => {
                let mut owned = String::with_capacity(b.len() + s.len());
                owned.push_str(b);
                owned.push_str(s);
                *self = Self::Owned(owned);
            }
            Self::Owned(o) => o.push_str(s),
        }
    }

    /// Append text that does not live as long as the input.
    fn push_tmp(&mut self, s: &str) {
        match self {
            Self::Empty => *self = Self::Owned(s.to_owned()),
            Self::Borrowed(b) => {
                let mut owned = String::with_capacity(b.len() + s.len());
                owned.push_str(b);
                owned.push_str(s);
                *self = Self::Owned(owned);
            }
            Self::Owned(o) => o.push_str(s),
        }
    }

    fn push_cow(&mut self, s: Cow<'a, str>) {
        match s {
            Cow::Borrowed(b) => self.push_str(b),
            Cow::Owned(o) => self.push_tmp(&o),
        }
    }

    fn append(&mut self, other: Text<'a>) {
        match other {
            Self::Empty => {}
            Self::Borrowed(b) => self.push_str(b),
            Self::Owned(o) => self.push_tmp(&o),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Empty => "",
            Self::Borrowed(b) => b,
            Self::Owned(o) => o,
        }
    }

    fn into_cow(self) -> Cow<'a, str> {
        match self {
            Self::Empty => Cow::Borrowed(""),
            Self::Borrowed(b) => Cow::Borrowed(b),
            Self::Owned(o) => Cow::Owned(o),
        }
    }
}

fn is_xml_space_byte(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// One open element below `<xml>`.
#[derive(Debug, Default)]
struct Frame<'a> {
    name: &'a str,
    /// The known field this is (only for direct children of `<xml>`).
    slot: Option<usize>,
    text: Text<'a>,
    /// White space after the last content, dropped if nothing follows it.
    pending: Text<'a>,
    /// Whether any content (text, CDATA or reference) has been seen.
    started: bool,
    has_children: bool,
}

impl<'a> Frame<'a> {
    /// Plain text: leading white space of the element and trailing white space (held
    /// back until more content follows) are trimmed.
    fn on_text(&mut self, t: &'a str) {
        // White space is ASCII, so every cut below falls on a character boundary.
        let bytes = t.as_bytes();
        let mut start = 0;
        if !self.started {
            while bytes.get(start).is_some_and(|&c| is_xml_space_byte(c)) {
                start += 1;
            }
        }
        let mut end = bytes.len();
        while end > start && is_xml_space_byte(bytes[end - 1]) {
            end -= 1;
        }
        if start == end {
            if start < bytes.len() {
                self.pending.push_str(t.get(start..).unwrap_or_default());
            }
            return;
        }
        self.commit_pending();
        self.started = true;
        self.text.push_str(t.get(start..end).unwrap_or_default());
        if end < bytes.len() {
            self.pending = Text::Borrowed(t.get(end..).unwrap_or_default());
        }
    }

    /// CDATA or a resolved reference: kept verbatim.
    fn on_content(&mut self, s: Cow<'a, str>) {
        self.commit_pending();
        self.started = true;
        self.text.push_cow(s);
    }

    fn commit_pending(&mut self) {
        if !matches!(self.pending, Text::Empty) {
            let pending = std::mem::take(&mut self.pending);
            self.text.append(pending);
        }
    }
}

/// Where the reader is relative to the root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the root element.
    Prolog,
    /// Inside `<xml>`.
    Root,
    /// After `</xml>`.
    Epilog,
}

/// The fields of a parsed document, still borrowing from the input where possible.
struct Document<'a> {
    slots: [Option<Cow<'a, str>>; KNOWN_COUNT],
    /// Bit `i` is set once known field `i` has started.
    seen: u32,
    extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// The `&'a str` of `piece`, which the slice reader always takes from `input` (already
/// checked as UTF-8), found without validating it again.
fn reborrow<'a>(input: &'a str, piece: &[u8]) -> Result<&'a str, EventError> {
    let start = piece.as_ptr().addr().wrapping_sub(input.as_ptr().addr());
    start
        .checked_add(piece.len())
        .and_then(|end| input.get(start..end))
        .ok_or_else(|| EventError::Malformed {
            offset: 0,
            message: "the XML reader returned text that is not part of the input".to_owned(),
        })
}

fn echo(s: &str) -> String {
    s.chars().take(MAX_ECHO_CHARS).collect()
}

fn echo_bytes(b: &[u8]) -> String {
    echo(&String::from_utf8_lossy(b))
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || !c.is_ascii()
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

/// An XML name, approximately (enough to exclude `/`, `#`, white space and punctuation,
/// so that path keys stay unambiguous), of at most [`MAX_NAME_BYTES`].
fn is_xml_name(s: &str) -> bool {
    if s.len() > MAX_NAME_BYTES {
        return false;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if is_name_start(c)) && chars.all(is_name_char)
}

fn is_whitespace_only(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = b.get(i) {
        i += 1;
    }
    i
}

/// Eight copies of `0x01`: multiplying a byte by it fills a word with that byte.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of each byte of a word.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the lowest zero byte of `v` (read little-endian).
///
/// Bytes above the first zero may be flagged too (the subtraction borrows through it),
/// but none below it is, so the lowest set bit is exact: that is all the searches use.
#[inline(always)]
fn zero_byte_mask(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The offset in `b`, at or after `from`, of the first byte equal to `x` or to `y`.
///
/// A word-at-a-time search (eight bytes per step, a byte loop for the tail): the values
/// and names of a push are tens of bytes long, so this is most of the parser's scanning.
#[inline(always)]
fn find_either(b: &[u8], from: usize, x: u8, y: u8) -> Option<usize> {
    let (px, py) = (ONES * u64::from(x), ONES * u64::from(y));
    let mut chunks = b.get(from..)?.chunks_exact(8);
    let mut i = from;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let m = zero_byte_mask(w ^ px) | zero_byte_mask(w ^ py);
        if m != 0 {
            // `trailing_zeros` of a non-zero u64 is below 64.
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let at = chunks.remainder().iter().position(|&c| c == x || c == y)?;
    Some(i + at)
}

/// The offset in `b`, at or after `from`, of the first byte equal to `x`.
#[inline(always)]
fn find_byte(b: &[u8], from: usize, x: u8) -> Option<usize> {
    find_either(b, from, x, x)
}

/// The offset of the first `]]>` in `b`.
#[inline(always)]
fn find_cdata_end(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = find_byte(b, from, b']')?;
        if b.get(at + 1..at + 3) == Some(b"]>") {
            return Some(at);
        }
        from = at + 1;
    }
}

/// If `</name>` starts at `b[i]`, the offset just past it.
fn end_tag(b: &[u8], i: usize, name: &str) -> Option<usize> {
    let n = name.len();
    let tag = b.get(i..i + n + 3)?;
    (tag[0] == b'<'
        && tag[1] == b'/'
        && eq_short(&tag[2..2 + n], name.as_bytes())
        && tag[2 + n] == b'>')
        .then_some(i + n + 3)
}

/// The content of an element from `input[i]` up to `</name>` when it is a single CDATA
/// section or a single run of plain text that needs no trimming, with the offset past
/// `</name>`.
fn single_piece<'a>(input: &'a str, i: usize, name: &str) -> Option<(&'a str, usize)> {
    let b = input.as_bytes();
    let rest = b.get(i..)?;
    if let Some(cdata) = rest.strip_prefix(b"<![CDATA[") {
        let len = find_cdata_end(cdata)?;
        let start = i + 9;
        let next = end_tag(b, start + len + 3, name)?;
        return Some((input.get(start..start + len)?, next));
    }
    let len = find_either(rest, 0, b'<', b'&')?;
    if len > 0 && (is_xml_space_byte(rest[0]) || is_xml_space_byte(rest[len - 1])) {
        return None;
    }
    let next = end_tag(b, i + len, name)?;
    Some((input.get(i..i + len)?, next))
}

/// [`single_piece`] for a known field, whose closing tag is `close`.
#[inline(always)]
fn single_piece_known<'a>(input: &'a str, i: usize, close: &[u8]) -> Option<(&'a str, usize)> {
    let b = input.as_bytes();
    let rest = b.get(i..)?;
    let (start, len, after) = match rest.strip_prefix(b"<![CDATA[") {
        Some(cdata) => {
            let len = find_cdata_end(cdata)?;
            (i + 9, len, i + 9 + len + 3)
        }
        None => {
            let len = find_either(rest, 0, b'<', b'&')?;
            if len > 0 && (is_xml_space_byte(rest[0]) || is_xml_space_byte(rest[len - 1])) {
                return None;
            }
            (i, len, i + len)
        }
    };
    let tag_len = starts_with_tag(b.get(after..)?, close)?;
    Some((input.get(start..start + len)?, after + tag_len))
}

/// The content of the element `name` from `input[*i]` to its closing tag, as the full
/// reader collects it (plain text trimmed at the edges, CDATA verbatim, pieces joined),
/// moving `*i` past the closing tag; `None` (leave the fast path) at a `&` or a child
/// element, or if the input ends first. `frame` is scratch space, left empty.
fn flat_content<'a>(
    input: &'a str,
    i: &mut usize,
    name: &str,
    frame: &mut Frame<'a>,
) -> Option<Text<'a>> {
    let b = input.as_bytes();
    frame.started = false;
    frame.text = Text::Empty;
    frame.pending = Text::Empty;
    loop {
        let stop = find_either(b, *i, b'<', b'&')?;
        if b[stop] == b'&' {
            return None;
        }
        if stop > *i {
            frame.on_text(input.get(*i..stop)?);
        }
        *i = stop;
        let rest = b.get(stop..)?;
        if let Some(cdata) = rest.strip_prefix(b"<![CDATA[") {
            let len = find_cdata_end(cdata)?;
            let start = stop + 9;
            frame.on_content(Cow::Borrowed(input.get(start..start + len)?));
            *i = start + len + 3;
        } else {
            *i = end_tag(b, stop, name)?;
            break;
        }
    }
    frame.pending = Text::Empty;
    Some(std::mem::take(&mut frame.text))
}

/// ASCII name bytes; a name with anything else leaves the fast path.
fn is_ascii_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':')
}

impl<'a> Document<'a> {
    fn new() -> Self {
        Document {
            slots: Default::default(),
            seen: 0,
            extra: Vec::new(),
        }
    }

    /// Record that known field `slot` starts; `false` if it already did.
    fn first_sight(&mut self, slot: usize) -> bool {
        let bit = 1u32 << slot;
        let first = self.seen & bit == 0;
        self.seen |= bit;
        first
    }

    /// The fast path for the shape WeChat sends: `<xml>` holding flat fields whose content
    /// is plain text (no `&`) and CDATA, separated by white space; nothing before `<xml>`
    /// or after `</xml>` but white space. It checks as much as [`Document::read`] does for
    /// that shape (tag names match, known fields appear once, the root is closed) and
    /// builds the same document. `None` means "not that shape", including every error:
    /// the full reader then decides, and reports.
    #[cfg(test)]
    fn read_flat(input: &'a str) -> Option<Self> {
        let mut doc = Document::new();
        doc.fill_flat(input)?;
        Some(doc)
    }

    /// [`Document::read_flat`] into `self`, which must be new; after `None` it holds
    /// part of the document and is to be dropped.
    #[inline]
    fn fill_flat(&mut self, input: &'a str) -> Option<()> {
        let doc = self;
        let b = input.as_bytes();
        let mut i = skip_space(b, 0);
        if !b.get(i..)?.starts_with(b"<xml>") {
            return None;
        }
        i += 5;
        let mut frame = Frame::default();
        loop {
            i = skip_space(b, i);
            if *b.get(i)? != b'<' {
                return None;
            }
            i += 1;
            let rest = b.get(i..)?;
            if *rest.first()? == b'/' {
                if !rest.starts_with(b"/xml>") {
                    return None;
                }
                i += 5;
                break;
            }
            // A known field's opening tag is matched in place: no search for `>`, no
            // name check (its name is known to be valid).
            if let Some(slot) = open_tag_candidate(rest) {
                if let Some(len) = starts_with_tag(rest, OPEN_TAGS[slot]) {
                    if !doc.first_sight(slot) {
                        return None;
                    }
                    i += len;
                    if let Some((value, next)) = single_piece_known(input, i, CLOSE_TAGS[slot]) {
                        doc.slots[slot] = Some(Cow::Borrowed(value));
                        i = next;
                        continue;
                    }
                    let name = KNOWN_NAMES[slot];
                    let text = flat_content(input, &mut i, name, &mut frame)?;
                    doc.slots[slot] = Some(text.into_cow());
                    continue;
                }
            }
            let name_start = i;
            i = find_byte(b, i, b'>')?;
            let name = input.get(name_start..i)?;
            i += 1;
            let slot = known_slot(name.as_bytes());
            match slot {
                Some(s) if !doc.first_sight(s) => return None,
                Some(_) => {}
                None if !name.bytes().all(is_ascii_name_byte) || !is_xml_name(name) => {
                    return None;
                }
                None => {}
            }
            // The common shapes, `<N><![CDATA[v]]></N>` and `<N>v</N>` with no white
            // space at the edges of `v`, need no trimming or joining.
            if let Some((value, next)) = single_piece(input, i, name) {
                doc.store(name, slot, Text::Borrowed(value));
                i = next;
                continue;
            }
            let text = flat_content(input, &mut i, name, &mut frame)?;
            doc.store(name, slot, text);
        }
        (skip_space(b, i) == b.len()).then_some(())
    }

    fn read(input: &'a str) -> Result<Self, EventError> {
        let mut reader = Reader::from_str(input);
        // Well-formedness checks stay on (end names are the reader's default).
        reader.config_mut().check_comments = true;

        let mut doc = Document::new();
        let mut frames: [Frame<'a>; MAX_EVENT_DEPTH] = Default::default();
        // Number of open elements below <xml>.
        let mut depth = 0usize;
        let mut stage = Stage::Prolog;

        loop {
            let offset = reader.buffer_position();
            let event = reader.read_event().map_err(|e| match e {
                quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag {
                    expected,
                    found,
                }) => EventError::MismatchedEndTag {
                    expected: echo(&expected),
                    found: echo(&found),
                },
                e => EventError::Malformed {
                    offset: reader.error_position(),
                    message: e.to_string(),
                },
            })?;
            let empty = matches!(event, XmlEvent::Empty(_));
            match event {
                XmlEvent::Start(start) | XmlEvent::Empty(start) => {
                    let name = start.name();
                    let name = name.as_ref();
                    match stage {
                        Stage::Prolog => {
                            if name != b"xml" {
                                return Err(EventError::UnexpectedRoot {
                                    found: echo_bytes(name),
                                });
                            }
                            stage = if empty { Stage::Epilog } else { Stage::Root };
                        }
                        Stage::Epilog => return Err(EventError::UnexpectedContent { offset }),
                        Stage::Root => {
                            if depth == MAX_EVENT_DEPTH {
                                return Err(EventError::TooDeep {
                                    max: MAX_EVENT_DEPTH,
                                });
                            }
                            let slot = if depth == 0 { known_slot(name) } else { None };
                            if depth > 0 {
                                let parent = &mut frames[depth - 1];
                                if let Some(s) = parent.slot {
                                    return Err(EventError::NestedField {
                                        field: KNOWN_NAMES[s],
                                    });
                                }
                                parent.has_children = true;
                            }
                            let name = reborrow(input, name)?;
                            if let Some(s) = slot {
                                if !doc.first_sight(s) {
                                    return Err(EventError::DuplicateField {
                                        field: KNOWN_NAMES[s],
                                    });
                                }
                            } else if !is_xml_name(name) {
                                return Err(EventError::InvalidName { name: echo(name) });
                            }
                            let frame = &mut frames[depth];
                            frame.name = name;
                            frame.slot = slot;
                            frame.started = false;
                            frame.has_children = false;
                            // `text` and `pending` were left empty when the last
                            // element at this depth closed.
                            depth += 1;
                            if empty {
                                depth -= 1;
                                doc.close(&mut frames, depth);
                            }
                        }
                    }
                }
                XmlEvent::End(end) => {
                    let found = end.name();
                    let found = found.as_ref();
                    if stage != Stage::Root {
                        return Err(EventError::Malformed {
                            offset,
                            message: format!("unmatched closing tag </{}>", echo_bytes(found)),
                        });
                    }
                    if depth == 0 {
                        if found != b"xml" {
                            return Err(EventError::MismatchedEndTag {
                                expected: "xml".to_owned(),
                                found: echo_bytes(found),
                            });
                        }
                        stage = Stage::Epilog;
                    } else {
                        let expected = frames[depth - 1].name;
                        if found != expected.as_bytes() {
                            return Err(EventError::MismatchedEndTag {
                                expected: echo(expected),
                                found: echo_bytes(found),
                            });
                        }
                        depth -= 1;
                        doc.close(&mut frames, depth);
                    }
                }
                XmlEvent::Text(text) => {
                    if stage != Stage::Root || depth == 0 {
                        if is_whitespace_only(&text) {
                            continue;
                        }
                        return Err(EventError::UnexpectedContent { offset });
                    }
                    let text = reborrow(input, &text)?;
                    frames[depth - 1].on_text(text);
                }
                XmlEvent::CData(cdata) => {
                    if stage != Stage::Root || depth == 0 {
                        return Err(EventError::UnexpectedContent { offset });
                    }
                    let text = reborrow(input, &cdata)?;
                    frames[depth - 1].on_content(Cow::Borrowed(text));
                }
                XmlEvent::GeneralRef(reference) => {
                    if stage != Stage::Root || depth == 0 {
                        return Err(EventError::UnexpectedContent { offset });
                    }
                    let resolved: Cow<'a, str> = if reference.is_char_ref() {
                        match reference.resolve_char_ref() {
                            Ok(Some(c)) => Cow::Owned(c.to_string()),
                            _ => {
                                return Err(EventError::InvalidCharRef {
                                    reference: echo_bytes(&reference),
                                });
                            }
                        }
                    } else {
                        Cow::Borrowed(match &*reference {
                            b"lt" => "<",
                            b"gt" => ">",
                            b"amp" => "&",
                            b"apos" => "'",
                            b"quot" => "\"",
                            other => {
                                return Err(EventError::UnknownEntity {
                                    name: echo_bytes(other),
                                });
                            }
                        })
                    };
                    frames[depth - 1].on_content(resolved);
                }
                XmlEvent::Decl(decl) => {
                    if stage != Stage::Prolog {
                        return Err(EventError::Malformed {
                            offset,
                            message: "XML declaration after the start".to_owned(),
                        });
                    }
                    match decl.encoding() {
                        Some(Ok(enc))
                            if !enc.eq_ignore_ascii_case(b"utf-8")
                                && !enc.eq_ignore_ascii_case(b"utf8") =>
                        {
                            return Err(EventError::UnsupportedEncoding {
                                encoding: echo_bytes(&enc),
                            });
                        }
                        Some(Err(e)) => {
                            return Err(EventError::Malformed {
                                offset,
                                message: e.to_string(),
                            });
                        }
                        Some(Ok(_)) | None => {}
                    }
                }
                XmlEvent::DocType(_) => return Err(EventError::Doctype),
                XmlEvent::Comment(_) | XmlEvent::PI(_) => {}
                XmlEvent::Eof => {
                    if stage != Stage::Epilog {
                        return Err(EventError::UnexpectedEof);
                    }
                    return Ok(doc);
                }
            }
        }
    }

    /// The element `frames[depth]` has ended: store its value.
    fn close(&mut self, frames: &mut [Frame<'a>; MAX_EVENT_DEPTH], depth: usize) {
        let frame = &mut frames[depth];
        // Leave the frame's text empty for the next element at this depth.
        let text = std::mem::take(&mut frame.text);
        frame.pending = Text::Empty;
        if frame.has_children && text.as_str().is_empty() {
            return;
        }
        if depth == 0 {
            let (name, slot) = (frame.name, frame.slot);
            self.store(name, slot, text);
            return;
        }
        let mut key = String::new();
        for parent in &frames[..depth] {
            key.push_str(parent.name);
            key.push('/');
        }
        key.push_str(frames[depth].name);
        self.extra.push((Cow::Owned(key), text.into_cow()));
    }

    /// Store the value of a direct child of `<xml>`.
    fn store(&mut self, name: &'a str, slot: Option<usize>, text: Text<'a>) {
        match slot {
            Some(slot) => self.slots[slot] = Some(text.into_cow()),
            None => self.extra.push((Cow::Borrowed(name), text.into_cow())),
        }
    }

    #[cfg(test)]
    fn into_event(mut self) -> Result<Event, EventError> {
        self.take_event()
    }

    /// The event the document holds; `self` is left empty.
    #[inline(always)]
    fn take_event(&mut self) -> Result<Event, EventError> {
        let msg_type = self.slots[MSG_TYPE]
            .take()
            .ok_or(EventError::MissingField { field: "MsgType" })?;
        let event = self.slots[EVENT].take();
        let is_claim = msg_type.eq_ignore_ascii_case("event")
            && event
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case("user_get_card"));
        if !is_claim {
            let mut fields = extra_map(std::mem::take(&mut self.extra));
            for (slot, value) in self.slots.iter_mut().enumerate() {
                if let Some(value) = value.take() {
                    fields.insert(KNOWN_NAMES[slot].to_owned(), value.into_owned());
                }
            }
            return Ok(Event::Other {
                msg_type: msg_type.into_owned(),
                event: event.map(Cow::into_owned),
                fields,
            });
        }

        let s = &mut self.slots;
        let required = |s: &mut [Option<Cow<'a, str>>; KNOWN_COUNT], i: usize| {
            s[i].take()
                .map(Cow::into_owned)
                .ok_or(EventError::MissingField {
                    field: KNOWN_NAMES[i],
                })
        };
        let to_user_name = required(s, TO_USER_NAME)?;
        let from_user_name = required(s, FROM_USER_NAME)?;
        let create_time = match s[CREATE_TIME].take() {
            Some(v) => parse_int(CREATE_TIME, &v)?,
            None => {
                return Err(EventError::MissingField {
                    field: KNOWN_NAMES[CREATE_TIME],
                });
            }
        };
        let card_id = required(s, CARD_ID)?;
        let outer_id = match s[OUTER_ID].take() {
            Some(v) if !v.is_empty() => Some(parse_int(OUTER_ID, &v)?),
            _ => None,
        };
        Ok(Event::UserGetCard(UserGetCard {
            to_user_name,
            from_user_name,
            create_time,
            card_id,
            friend_user_name: optional(s, FRIEND_USER_NAME),
            is_give_by_friend: flag(s, IS_GIVE_BY_FRIEND)?,
            user_card_code: optional(s, USER_CARD_CODE),
            old_user_card_code: optional(s, OLD_USER_CARD_CODE),
            outer_id,
            outer_str: optional(s, OUTER_STR),
            is_restore_member_card: flag(s, IS_RESTORE_MEMBER_CARD)?,
            is_recommend_by_friend: flag(s, IS_RECOMMEND_BY_FRIEND)?,
            union_id: optional(s, UNION_ID),
            source_scene: optional(s, SOURCE_SCENE),
            extra: extra_map(std::mem::take(&mut self.extra)),
        }))
    }
}

fn optional(slots: &mut [Option<Cow<'_, str>>; KNOWN_COUNT], i: usize) -> Option<String> {
    slots[i]
        .take()
        .filter(|v| !v.is_empty())
        .map(Cow::into_owned)
}

fn flag(
    slots: &mut [Option<Cow<'_, str>>; KNOWN_COUNT],
    i: usize,
) -> Result<Option<bool>, EventError> {
    match slots[i].as_deref() {
        None | Some("") => Ok(None),
        Some("0") => Ok(Some(false)),
        Some("1") => Ok(Some(true)),
        Some(other) => Err(EventError::InvalidFlag {
            field: KNOWN_NAMES[i],
            value: echo(other),
        }),
    }
}

fn parse_int(i: usize, value: &str) -> Result<i64, EventError> {
    value.parse().map_err(|_| EventError::InvalidNumber {
        field: KNOWN_NAMES[i],
        value: echo(value),
    })
}

/// Collect extra elements, numbering repeats of a key `#2`, `#3`, ...
fn extra_map(extra: Vec<(Cow<'_, str>, Cow<'_, str>)>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    if extra.is_empty() {
        return map;
    }
    // The last suffix used per repeated key, so numbering stays linear.
    let mut repeats: BTreeMap<String, usize> = BTreeMap::new();
    for (key, value) in extra {
        let value = value.into_owned();
        let key = match map.entry(key.into_owned()) {
            Entry::Vacant(slot) => {
                slot.insert(value);
                continue;
            }
            Entry::Occupied(slot) => slot.key().clone(),
        };
        let n = repeats.entry(key.clone()).or_insert(1);
        loop {
            *n += 1;
            let candidate = format!("{key}#{n}");
            if let Entry::Vacant(slot) = map.entry(candidate) {
                slot.insert(value);
                break;
            }
        }
    }
    map
}

// ---------------------------------------------------------------------------------------
// Writing

/// Split an extra key into its element path and its repeat number (1 when none).
fn split_extra_key(key: &str) -> (&str, usize) {
    if let Some((base, n)) = key.rsplit_once('#') {
        if let Ok(n) = n.parse::<usize>() {
            return (base, n);
        }
    }
    (key, 1)
}

fn is_extra_key(key: &str) -> bool {
    let base = match key.rsplit_once('#') {
        Some((base, n)) => {
            let ok = !n.starts_with('0')
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<usize>().is_ok_and(|n| n >= 2);
            if !ok {
                return false;
            }
            base
        }
        None => key,
    };
    let mut segments = 0;
    for (i, segment) in base.split('/').enumerate() {
        segments += 1;
        if !is_xml_name(segment) || (i == 0 && known_slot(segment.as_bytes()).is_some()) {
            return false;
        }
    }
    segments <= MAX_EVENT_DEPTH
}

fn write_cdata(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn push_cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    let mut parts = value.split("]]>");
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        // "]]>" cannot appear in CDATA: end the section after "]]" and start a new one.
        out.push_str("]]]]><![CDATA[>");
        out.push_str(part);
    }
    out.push_str("]]>");
}

fn write_opt_cdata(out: &mut String, name: &str, value: &Option<String>) {
    if let Some(value) = value {
        write_cdata(out, name, value);
    }
}

fn write_plain(out: &mut String, name: &str, value: i64) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "<{name}>{value}</{name}>");
}

fn write_flag(out: &mut String, name: &str, value: Option<bool>) {
    if let Some(value) = value {
        write_plain(out, name, i64::from(value));
    }
}

fn write_extra(out: &mut String, extra: &BTreeMap<String, String>) {
    if extra.is_empty() {
        return;
    }
    let mut entries: Vec<(&str, usize, &str)> = extra
        .iter()
        .map(|(k, v)| {
            let (base, n) = split_extra_key(k);
            (base, n, v.as_str())
        })
        .collect();
    // Repeats in numeric order, so that re-parsing numbers them the same way.
    entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (path, _, value) in entries {
        for segment in path.split('/') {
            out.push('<');
            out.push_str(segment);
            out.push('>');
        }
        push_cdata(out, value);
        for segment in path.rsplit('/') {
            out.push_str("</");
            out.push_str(segment);
            out.push('>');
        }
    }
}

#[cfg(test)]
mod tests {
    //! The fast path must agree with the full reader on everything it accepts.

    use super::*;
    use proptest::prelude::*;

    fn full(input: &str) -> Result<Event, EventError> {
        Document::read(input)?.into_event()
    }

    fn fast(input: &str) -> Option<Result<Event, EventError>> {
        Document::read_flat(input).map(Document::into_event)
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => prop::sample::select(KNOWN_NAMES.to_vec()).prop_map(str::to_owned),
            8 => "[A-Za-z_][A-Za-z0-9_.:-]{0,6}",
            1 => prop::sample::select(vec!["a b", "a/", "", "名", "1a", "a#"]).prop_map(str::to_owned),
        ]
    }

    fn space() -> impl Strategy<Value = String> {
        "[ \t\r\n]{0,2}"
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => ".{0,6}".prop_map(|s| format!("<![CDATA[{s}]]>")),
            6 => "[^<&]{0,6}",
            4 => space(),
            1 => prop::sample::select(vec![
                "&amp;", "]]>", "<![CDATA[x", "<b>1</b>", "<!--c-->", "1", "0", "event",
                "user_get_card", "]", "]]", "> ", "<",
            ])
            .prop_map(str::to_owned),
        ]
    }

    fn field() -> impl Strategy<Value = String> {
        (
            name(),
            prop::collection::vec(piece(), 0..4),
            prop::option::weighted(0.97, Just(())),
            space(),
        )
            .prop_map(|(name, pieces, closed, sp)| {
                let close = if closed.is_some() {
                    format!("</{name}>")
                } else {
                    "</other>".to_owned()
                };
                format!("{sp}<{name}>{}{close}", pieces.concat())
            })
    }

    fn document() -> impl Strategy<Value = String> {
        (
            space(),
            prop::collection::vec(field(), 0..10),
            prop::option::weighted(0.9, Just(())),
            space(),
            prop::sample::select(vec!["", "", "", "", "x", "<xml/>", "<!--c-->"]),
        )
            .prop_map(|(lead, fields, closed, trail, after)| {
                let fixed = "<MsgType>event</MsgType><Event>user_get_card</Event>\
                             <ToUserName>a</ToUserName><FromUserName>b</FromUserName>\
                             <CreateTime>1</CreateTime><CardId>c</CardId>";
                let close = if closed.is_some() { "</xml>" } else { "" };
                format!("{lead}<xml>{fixed}{}{close}{trail}{after}", fields.concat())
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn fast_path_agrees_with_full_reader(doc in document()) {
            if let Some(result) = fast(&doc) {
                prop_assert_eq!(result, full(&doc), "document: {:?}", doc);
            }
        }

        #[test]
        fn fast_path_agrees_on_generated_fields(
            fields in prop::collection::vec((name(), prop::collection::vec(piece(), 0..3)), 0..8),
        ) {
            let body: String = fields
                .iter()
                .map(|(n, p)| format!("<{n}>{}</{n}>", p.concat()))
                .collect();
            let doc = format!("<xml>{body}</xml>");
            if let Some(result) = fast(&doc) {
                prop_assert_eq!(result, full(&doc), "document: {:?}", doc);
            }
        }
    }

    #[test]
    fn wechat_shaped_pushes_take_the_fast_path() {
        let mut e = UserGetCard::new("gh_1", "o1", 1, "p1");
        e.outer_str = Some("a]]>b".to_owned());
        e.union_id = Some(" x ".to_owned());
        assert_eq!(
            e.insert_extra("Extra", "v").map_err(|e| e.to_string()),
            Ok(None)
        );
        let xml = e.to_xml();
        assert!(Document::read_flat(&xml).is_some());
        let later = "<xml>\n  <ToUserName> <![CDATA[gh]]> </ToUserName>\n  \
                     <CreateTime>1</CreateTime>\n  <MsgType> <![CDATA[event]]> </MsgType>\n</xml>\n";
        assert!(Document::read_flat(later).is_some());
        assert_eq!(fast(later), Some(full(later)));
    }

    #[test]
    fn tag_tables_match_the_known_names() {
        for (slot, name) in KNOWN_NAMES.iter().enumerate() {
            assert_eq!(OPEN_TAGS[slot], format!("{name}>").as_bytes(), "{name}");
            assert_eq!(CLOSE_TAGS[slot], format!("</{name}>").as_bytes(), "{name}");
            assert_eq!(open_tag_candidate(OPEN_TAGS[slot]), Some(slot), "{name}");
            assert_eq!(known_slot(name.as_bytes()), Some(slot), "{name}");
        }
        // Near misses of a known opening tag are not taken for it.
        for rest in [
            "ToUserName x=\"1\">",
            "ToUserNam>",
            "ToUserNames>",
            "ToUserName/>",
            "ToUserName >",
            "MsgTypeX>v",
            "Outer>",
        ] {
            let known = open_tag_candidate(rest.as_bytes())
                .and_then(|slot| starts_with_tag(rest.as_bytes(), OPEN_TAGS[slot]));
            assert_eq!(known, None, "{rest}");
        }
    }

    #[test]
    fn word_searches_find_the_first_match() {
        let hay = b"0123456789abcdef<ghijklmnop&qrstuvwxyz]]>";
        for from in 0..hay.len() {
            for (x, y) in [
                (b'<', b'&'),
                (b'&', b'<'),
                (b']', b']'),
                (b'z', b'<'),
                (b'#', b'%'),
            ] {
                let want = hay[from..]
                    .iter()
                    .position(|&c| c == x || c == y)
                    .map(|p| p + from);
                assert_eq!(find_either(hay, from, x, y), want, "{from} {x} {y}");
            }
        }
        assert_eq!(find_byte(hay, hay.len() + 3, b'<'), None);
        assert_eq!(find_cdata_end(b"a]b]]c]]>"), Some(6));
        assert_eq!(find_cdata_end(b"]]"), None);
        // Bytes above 0x80 (UTF-8 continuation bytes) are no false matches.
        let wide = "名名名名名<".as_bytes();
        assert_eq!(find_either(wide, 0, b'<', b'&'), Some(wide.len() - 1));
        for n in 0..30 {
            let a: Vec<u8> = (0..n).map(|i| b'a' + i as u8).collect();
            assert!(eq_short(&a, &a.clone()));
            for k in 0..n {
                let mut b = a.clone();
                b[k] ^= 0x20;
                assert!(!eq_short(&a, &b), "{n} {k}");
            }
        }
    }

    #[test]
    fn known_fields_in_every_shape_agree_with_the_full_reader() {
        let values = [
            "<![CDATA[v]]>",
            "<![CDATA[]]>",
            "<![CDATA[a]b]]]>",
            "v",
            "",
            " v ",
            " <![CDATA[ v ]]> ",
            "<![CDATA[a]]>b<![CDATA[c]]>",
            "a&amp;b",
            "&#x4E2D;",
            "<![CDATA[v]]",
            "<![CDATA[v]]></X>",
            "v</X>",
            "<b>1</b>",
            "名",
        ];
        for (slot, name) in KNOWN_NAMES.iter().enumerate() {
            for value in values {
                let field = format!("<{name}>{value}</{name}>");
                let mut doc = String::from("<xml>");
                if slot != MSG_TYPE {
                    doc.push_str("<MsgType>event</MsgType>");
                }
                if slot != EVENT {
                    doc.push_str("<Event>user_get_card</Event>");
                }
                for (other, fixed) in [
                    (TO_USER_NAME, "<ToUserName>a</ToUserName>"),
                    (FROM_USER_NAME, "<FromUserName>b</FromUserName>"),
                    (CREATE_TIME, "<CreateTime>1</CreateTime>"),
                    (CARD_ID, "<CardId>c</CardId>"),
                ] {
                    if other != slot {
                        doc.push_str(fixed);
                    }
                }
                doc.push_str(&field);
                doc.push_str("</xml>");
                let parsed = parse_event(doc.as_bytes());
                assert_eq!(parsed, full(&doc), "{doc}");
                let Some(quick) = fast(&doc) else {
                    continue;
                };
                assert_eq!(quick, parsed, "{doc}");
                // A repeat of a field the fast path reads is refused by the full reader.
                let twice = doc.replace(&field, &format!("{field}{field}"));
                assert!(fast(&twice).is_none(), "{twice}");
                assert!(
                    matches!(
                        parse_event(twice.as_bytes()),
                        Err(EventError::DuplicateField { .. })
                    ),
                    "{twice}"
                );
            }
        }
    }

    #[test]
    fn the_fast_path_declines_what_it_does_not_handle() {
        for doc in [
            "<?xml version=\"1.0\"?><xml><MsgType>e</MsgType></xml>",
            "<xml><MsgType>a&amp;b</MsgType></xml>",
            "<xml><MsgType>e</MsgType><!-- c --></xml>",
            "<xml><MsgType>e</MsgType><A><B>1</B></A></xml>",
            "<xml><MsgType>e</MsgType><A/></xml>",
            "<xml><MsgType>e</MsgType><A x=\"1\">v</A></xml>",
            "<xml><MsgType>e</MsgType></MsgType></xml>",
            "<xml><MsgType>e</MsgType><MsgType>f</MsgType></xml>",
            "<xml><MsgType>e</MsgType></xml>trailing",
            "<xml><MsgType>e</MsgType>",
            "<xml><MsgType>e</MsgType >",
        ] {
            assert!(Document::read_flat(doc).is_none(), "{doc}");
        }
    }
}
