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
//!   be missing, and an empty optional field reads as `None`; an optional number or flag
//!   that does not parse (a 60-digit `OuterId`) reads as `None` with its text kept in
//!   [`UserGetCard::unparsed`], so the claim itself is never lost to it.
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

use std::collections::BTreeMap;

mod document;
mod fast;
mod full;
#[cfg(test)]
mod tests;
mod write;

use document::{Document, echo};
use write::is_extra_key;
use write::{write_cdata, write_extra, write_flag, write_opt_cdata, write_plain};

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
    /// A numeric field is not an integer, or out of the `i64` range: `CreateTime` when
    /// parsing (the claim cannot be read without it), an optional one from the
    /// `checked_` accessors of [`UserGetCard`].
    #[error("field {field}: {value:?} is not an integer in the i64 range")]
    InvalidNumber {
        /// The field's XML element name.
        field: &'static str,
        /// The value as sent (cut to 64 characters).
        value: String,
    },
    /// A 0/1 flag holds something else (from the `checked_` accessors of
    /// [`UserGetCard`]).
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
    /// `OuterId`: the integer claim scene set at issuance (`outer_id`). `None` when
    /// absent, empty, or not an `i64` (a 60-digit id, letters): the claim is still read,
    /// and [`checked_outer_id`](Self::checked_outer_id) and
    /// [`outer_id_text`](Self::outer_id_text) tell the cases apart.
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
    /// Optional numeric fields whose text is no valid value, by element name.
    unparsed: BTreeMap<&'static str, String>,
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
            unparsed: BTreeMap::new(),
        }
    }

    /// The optional numeric fields (`OuterId` and the 0/1 flags `IsGiveByFriend`,
    /// `IsRestoreMemberCard`, `IsRecommendByFriend`) whose text is no valid value, by
    /// element name, with the text as sent (trimmed). Their typed fields read `None`; the
    /// rest of the claim is read as usual, and [`to_xml`](Self::to_xml) writes the text
    /// back while the typed field stays `None`.
    pub fn unparsed(&self) -> &BTreeMap<&'static str, String> {
        &self.unparsed
    }

    /// `OuterId` as a number: `Ok(None)` when absent or empty.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use card_model::event::{Event, parse_event};
    ///
    /// let long = "1".repeat(60);
    /// let body = format!("<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>user_get_card</Event>\
    ///     <CardId>p1</CardId><OuterId>{long}</OuterId></xml>");
    /// let Event::UserGetCard(claim) = parse_event(body.as_bytes())? else { panic!() };
    /// assert_eq!(claim.outer_id, None);
    /// assert!(claim.checked_outer_id().is_err());
    /// assert_eq!(claim.outer_id_text().as_deref(), Some(long.as_str()));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`EventError::InvalidNumber`] when WeChat sent text that is not an `i64`.
    pub fn checked_outer_id(&self) -> Result<Option<i64>, EventError> {
        match (self.outer_id, self.unparsed.get("OuterId")) {
            (None, Some(text)) => Err(EventError::InvalidNumber {
                field: "OuterId",
                value: echo(text),
            }),
            (id, _) => Ok(id),
        }
    }

    /// `OuterId` as text: the number, or the text WeChat sent when it is no `i64`.
    pub fn outer_id_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match (self.outer_id, self.unparsed.get("OuterId")) {
            (Some(id), _) => Some(id.to_string().into()),
            (None, Some(text)) => Some(text.as_str().into()),
            (None, None) => None,
        }
    }

    /// `IsGiveByFriend` as a flag: `Ok(None)` when absent or empty.
    ///
    /// # Errors
    /// [`EventError::InvalidFlag`] when WeChat sent text other than `0` or `1`.
    pub fn checked_is_give_by_friend(&self) -> Result<Option<bool>, EventError> {
        self.checked_flag("IsGiveByFriend", self.is_give_by_friend)
    }

    /// `IsRestoreMemberCard` as a flag: `Ok(None)` when absent or empty.
    ///
    /// # Errors
    /// [`EventError::InvalidFlag`] when WeChat sent text other than `0` or `1`.
    pub fn checked_is_restore_member_card(&self) -> Result<Option<bool>, EventError> {
        self.checked_flag("IsRestoreMemberCard", self.is_restore_member_card)
    }

    /// `IsRecommendByFriend` as a flag: `Ok(None)` when absent or empty.
    ///
    /// # Errors
    /// [`EventError::InvalidFlag`] when WeChat sent text other than `0` or `1`.
    pub fn checked_is_recommend_by_friend(&self) -> Result<Option<bool>, EventError> {
        self.checked_flag("IsRecommendByFriend", self.is_recommend_by_friend)
    }

    fn checked_flag(
        &self,
        field: &'static str,
        value: Option<bool>,
    ) -> Result<Option<bool>, EventError> {
        match (value, self.unparsed.get(field)) {
            (None, Some(text)) => Err(EventError::InvalidFlag {
                field,
                value: echo(text),
            }),
            (v, _) => Ok(v),
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
    ///
    /// It is too coarse for claims: a user who takes several cards in the same second (a
    /// multi-card QR code, a batch add) sends several pushes with the same key. Add
    /// `CardId` and `UserCardCode` (as `card-push`'s `DedupKey::for_event` does) before
    /// skipping a push as a retry.
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
        self.write_flag_or_text(&mut out, "IsGiveByFriend", self.is_give_by_friend);
        write_opt_cdata(&mut out, "UserCardCode", &self.user_card_code);
        write_opt_cdata(&mut out, "OldUserCardCode", &self.old_user_card_code);
        match (self.outer_id, self.unparsed.get("OuterId")) {
            (Some(id), _) => write_plain(&mut out, "OuterId", id),
            (None, Some(text)) => write_cdata(&mut out, "OuterId", text),
            (None, None) => {}
        }
        write_opt_cdata(&mut out, "OuterStr", &self.outer_str);
        self.write_flag_or_text(&mut out, "IsRestoreMemberCard", self.is_restore_member_card);
        self.write_flag_or_text(&mut out, "IsRecommendByFriend", self.is_recommend_by_friend);
        write_opt_cdata(&mut out, "UnionId", &self.union_id);
        write_opt_cdata(&mut out, "SourceScene", &self.source_scene);
        write_extra(&mut out, &self.extra);
        out.push_str("</xml>");
        out
    }

    /// A flag, or the text WeChat sent for it when that was no flag.
    fn write_flag_or_text(&self, out: &mut String, name: &'static str, value: Option<bool>) {
        match (value, self.unparsed.get(name)) {
            (None, Some(text)) => write_cdata(out, name, text),
            (value, _) => write_flag(out, name, value),
        }
    }
}

/// An event or message WeChat pushed.
// The claim is the common case and is read into place; boxing it would cost an
// allocation per push to save copying a few hundred bytes.
#[allow(clippy::large_enum_variant)]
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
/// `user_get_card` field, repeats one of its fields, or holds a `CreateTime` that is no
/// integer. A bad optional number or flag does not refuse the claim: see
/// [`UserGetCard::unparsed`].
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
