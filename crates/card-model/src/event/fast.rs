//! The fast path: a scanner for pushes shaped as WeChat sends them.

use std::borrow::Cow;

use super::document::*;

/// `Name>` for each known field: what follows the `<` of its opening tag.
pub(super) const OPEN_TAGS: [&[u8]; KNOWN_COUNT] = [
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
pub(super) const CLOSE_TAGS: [&[u8]; KNOWN_COUNT] = [
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
pub(super) fn open_tag_candidate(rest: &[u8]) -> Option<usize> {
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
pub(super) fn starts_with_tag(b: &[u8], tag: &[u8]) -> Option<usize> {
    let n = tag.len();
    eq_short(b.get(..n)?, tag).then_some(n)
}

/// Eight copies of `0x01`: multiplying a byte by it fills a word with that byte.
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of each byte of a word.
pub(super) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the lowest zero byte of `v` (read little-endian).
///
/// Bytes above the first zero may be flagged too (the subtraction borrows through it),
/// but none below it is, so the lowest set bit is exact: that is all the searches use.
#[inline(always)]
pub(super) fn zero_byte_mask(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The offset in `b`, at or after `from`, of the first byte equal to `x` or to `y`.
///
/// A word-at-a-time search (eight bytes per step, a byte loop for the tail): the values
/// and names of a push are tens of bytes long, so this is most of the parser's scanning.
#[inline(always)]
pub(super) fn find_either(b: &[u8], from: usize, x: u8, y: u8) -> Option<usize> {
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
pub(super) fn find_byte(b: &[u8], from: usize, x: u8) -> Option<usize> {
    find_either(b, from, x, x)
}

/// The offset of the first `]]>` in `b`.
#[inline(always)]
pub(super) fn find_cdata_end(b: &[u8]) -> Option<usize> {
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
pub(super) fn end_tag(b: &[u8], i: usize, name: &str) -> Option<usize> {
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
pub(super) fn single_piece<'a>(input: &'a str, i: usize, name: &str) -> Option<(&'a str, usize)> {
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
pub(super) fn single_piece_known<'a>(
    input: &'a str,
    i: usize,
    close: &[u8],
) -> Option<(&'a str, usize)> {
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
pub(super) fn flat_content<'a>(
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
pub(super) fn is_ascii_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':')
}

impl<'a> Document<'a> {
    /// The fast path for the shape WeChat sends: `<xml>` holding flat fields whose content
    /// is plain text (no `&`) and CDATA, separated by white space; nothing before `<xml>`
    /// or after `</xml>` but white space. It checks as much as [`Document::read`] does for
    /// that shape (tag names match, known fields appear once, the root is closed) and
    /// builds the same document. `None` means "not that shape", including every error:
    /// the full reader then decides, and reports.
    #[cfg(test)]
    pub(super) fn read_flat(input: &'a str) -> Option<Self> {
        let mut doc = Document::new();
        doc.fill_flat(input)?;
        Some(doc)
    }

    /// [`Document::read_flat`] into `self`, which must be new; after `None` it holds
    /// part of the document and is to be dropped.
    #[inline]
    pub(super) fn fill_flat(&mut self, input: &'a str) -> Option<()> {
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
}
