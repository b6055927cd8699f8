//! The document a push is read into (shared by the fast path and the full reader) and
//! the event built from it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::*;

// The fields of `user_get_card` (spec 7.3), by slot index.
pub(super) const TO_USER_NAME: usize = 0;
pub(super) const FROM_USER_NAME: usize = 1;
pub(super) const FRIEND_USER_NAME: usize = 2;
pub(super) const CREATE_TIME: usize = 3;
pub(super) const MSG_TYPE: usize = 4;
pub(super) const EVENT: usize = 5;
pub(super) const CARD_ID: usize = 6;
pub(super) const IS_GIVE_BY_FRIEND: usize = 7;
pub(super) const USER_CARD_CODE: usize = 8;
pub(super) const OLD_USER_CARD_CODE: usize = 9;
pub(super) const OUTER_ID: usize = 10;
pub(super) const OUTER_STR: usize = 11;
pub(super) const IS_RESTORE_MEMBER_CARD: usize = 12;
pub(super) const IS_RECOMMEND_BY_FRIEND: usize = 13;
pub(super) const UNION_ID: usize = 14;
pub(super) const SOURCE_SCENE: usize = 15;
pub(super) const KNOWN_COUNT: usize = 16;

pub(super) const KNOWN_NAMES: [&str; KNOWN_COUNT] = [
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
pub(super) fn known_slot(name: &[u8]) -> Option<usize> {
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

/// Byte equality of short names with a few word compares: a `memcmp` call, or a byte
/// loop, costs more than the comparison itself.
#[inline(always)]
pub(super) fn eq_short(a: &[u8], b: &[u8]) -> bool {
    pub(super) fn word(s: &[u8], at: usize) -> u64 {
        match s.get(at..).and_then(<[u8]>::first_chunk::<8>) {
            Some(w) => u64::from_le_bytes(*w),
            None => 0,
        }
    }
    pub(super) fn tail(s: &[u8]) -> u64 {
        s.last_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w))
    }
    pub(super) fn half(s: &[u8]) -> u32 {
        s.first_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w))
    }
    pub(super) fn half_tail(s: &[u8]) -> u32 {
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

/// Text collected for one element, borrowed from the input while it is a single piece.
#[derive(Debug, Default)]
pub(super) enum Text<'a> {
    #[default]
    Empty,
    Borrowed(&'a str),
    Owned(String),
}

impl<'a> Text<'a> {
    pub(super) fn push_str(&mut self, s: &'a str) {
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
    pub(super) fn push_tmp(&mut self, s: &str) {
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

    pub(super) fn push_cow(&mut self, s: Cow<'a, str>) {
        match s {
            Cow::Borrowed(b) => self.push_str(b),
            Cow::Owned(o) => self.push_tmp(&o),
        }
    }

    pub(super) fn append(&mut self, other: Text<'a>) {
        match other {
            Self::Empty => {}
            Self::Borrowed(b) => self.push_str(b),
            Self::Owned(o) => self.push_tmp(&o),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            Self::Empty => "",
            Self::Borrowed(b) => b,
            Self::Owned(o) => o,
        }
    }

    pub(super) fn into_cow(self) -> Cow<'a, str> {
        match self {
            Self::Empty => Cow::Borrowed(""),
            Self::Borrowed(b) => Cow::Borrowed(b),
            Self::Owned(o) => Cow::Owned(o),
        }
    }
}

pub(super) fn is_xml_space_byte(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// One open element below `<xml>`.
#[derive(Debug, Default)]
pub(super) struct Frame<'a> {
    pub(super) name: &'a str,
    /// The known field this is (only for direct children of `<xml>`).
    pub(super) slot: Option<usize>,
    pub(super) text: Text<'a>,
    /// White space after the last content, dropped if nothing follows it.
    pub(super) pending: Text<'a>,
    /// Whether any content (text, CDATA or reference) has been seen.
    pub(super) started: bool,
    pub(super) has_children: bool,
}

impl<'a> Frame<'a> {
    /// Plain text: leading white space of the element and trailing white space (held
    /// back until more content follows) are trimmed.
    pub(super) fn on_text(&mut self, t: &'a str) {
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
    pub(super) fn on_content(&mut self, s: Cow<'a, str>) {
        self.commit_pending();
        self.started = true;
        self.text.push_cow(s);
    }

    pub(super) fn commit_pending(&mut self) {
        if !matches!(self.pending, Text::Empty) {
            let pending = std::mem::take(&mut self.pending);
            self.text.append(pending);
        }
    }
}

/// Where the reader is relative to the root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Before the root element.
    Prolog,
    /// Inside `<xml>`.
    Root,
    /// After `</xml>`.
    Epilog,
}

/// The fields of a parsed document, still borrowing from the input where possible.
pub(super) struct Document<'a> {
    pub(super) slots: [Option<Cow<'a, str>>; KNOWN_COUNT],
    /// Bit `i` is set once known field `i` has started.
    pub(super) seen: u32,
    pub(super) extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// The `&'a str` of `piece`, which the slice reader always takes from `input` (already
/// checked as UTF-8), found without validating it again.
pub(super) fn reborrow<'a>(input: &'a str, piece: &[u8]) -> Result<&'a str, EventError> {
    let start = piece.as_ptr().addr().wrapping_sub(input.as_ptr().addr());
    start
        .checked_add(piece.len())
        .and_then(|end| input.get(start..end))
        .ok_or_else(|| EventError::Malformed {
            offset: 0,
            message: "the XML reader returned text that is not part of the input".to_owned(),
        })
}

pub(super) fn echo(s: &str) -> String {
    s.chars().take(MAX_ECHO_CHARS).collect()
}

pub(super) fn echo_bytes(b: &[u8]) -> String {
    echo(&String::from_utf8_lossy(b))
}

pub(super) fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || !c.is_ascii()
}

pub(super) fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

/// An XML name, approximately (enough to exclude `/`, `#`, white space and punctuation,
/// so that path keys stay unambiguous), of at most [`MAX_NAME_BYTES`].
pub(super) fn is_xml_name(s: &str) -> bool {
    if s.len() > MAX_NAME_BYTES {
        return false;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if is_name_start(c)) && chars.all(is_name_char)
}

pub(super) fn is_whitespace_only(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
}

pub(super) fn skip_space(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = b.get(i) {
        i += 1;
    }
    i
}

impl<'a> Document<'a> {
    pub(super) fn new() -> Self {
        Document {
            slots: Default::default(),
            seen: 0,
            extra: Vec::new(),
        }
    }

    /// Record that known field `slot` starts; `false` if it already did.
    pub(super) fn first_sight(&mut self, slot: usize) -> bool {
        let bit = 1u32 << slot;
        let first = self.seen & bit == 0;
        self.seen |= bit;
        first
    }

    /// Store the value of a direct child of `<xml>`.
    pub(super) fn store(&mut self, name: &'a str, slot: Option<usize>, text: Text<'a>) {
        match slot {
            Some(slot) => self.slots[slot] = Some(text.into_cow()),
            None => self.extra.push((Cow::Borrowed(name), text.into_cow())),
        }
    }

    #[cfg(test)]
    pub(super) fn into_event(mut self) -> Result<Event, EventError> {
        self.take_event()
    }

    /// The event the document holds; `self` is left empty.
    #[inline(always)]
    pub(super) fn take_event(&mut self) -> Result<Event, EventError> {
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
        // A bad optional number keeps the claim: its text goes to `unparsed`.
        let mut unparsed = BTreeMap::new();
        let outer_id = match s[OUTER_ID].take() {
            Some(v) if !v.is_empty() => match v.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    unparsed.insert(KNOWN_NAMES[OUTER_ID], v.into_owned());
                    None
                }
            },
            _ => None,
        };
        let is_give_by_friend = flag(s, IS_GIVE_BY_FRIEND, &mut unparsed);
        let is_restore_member_card = flag(s, IS_RESTORE_MEMBER_CARD, &mut unparsed);
        let is_recommend_by_friend = flag(s, IS_RECOMMEND_BY_FRIEND, &mut unparsed);
        Ok(Event::UserGetCard(UserGetCard {
            to_user_name,
            from_user_name,
            create_time,
            card_id,
            friend_user_name: optional(s, FRIEND_USER_NAME),
            is_give_by_friend,
            user_card_code: optional(s, USER_CARD_CODE),
            old_user_card_code: optional(s, OLD_USER_CARD_CODE),
            outer_id,
            outer_str: optional(s, OUTER_STR),
            is_restore_member_card,
            is_recommend_by_friend,
            union_id: optional(s, UNION_ID),
            source_scene: optional(s, SOURCE_SCENE),
            extra: extra_map(std::mem::take(&mut self.extra)),
            unparsed,
        }))
    }
}

pub(super) fn optional(
    slots: &mut [Option<Cow<'_, str>>; KNOWN_COUNT],
    i: usize,
) -> Option<String> {
    slots[i]
        .take()
        .filter(|v| !v.is_empty())
        .map(Cow::into_owned)
}

/// A 0/1 flag; any other text is kept in `unparsed` and reads as `None`.
pub(super) fn flag(
    slots: &mut [Option<Cow<'_, str>>; KNOWN_COUNT],
    i: usize,
    unparsed: &mut BTreeMap<&'static str, String>,
) -> Option<bool> {
    match slots[i].take()? {
        v if v.is_empty() => None,
        v if *v == *"0" => Some(false),
        v if *v == *"1" => Some(true),
        other => {
            unparsed.insert(KNOWN_NAMES[i], other.into_owned());
            None
        }
    }
}

pub(super) fn parse_int(i: usize, value: &str) -> Result<i64, EventError> {
    value.parse().map_err(|_| EventError::InvalidNumber {
        field: KNOWN_NAMES[i],
        value: echo(value),
    })
}

/// Collect extra elements, numbering repeats of a key `#2`, `#3`, ...
pub(super) fn extra_map(extra: Vec<(Cow<'_, str>, Cow<'_, str>)>) -> BTreeMap<String, String> {
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
