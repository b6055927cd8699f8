//! Custom-code deposit: `POST /card/code/deposit`,
//! `/card/code/getdepositcount` and `/card/code/checkcode`.
//!
//! A custom-code card (`use_custom_code: true`) created in deposit mode
//! (`get_custom_code_mode = "GET_CUSTOM_CODE_MODE_DEPOSIT"`) uploads its codes here, at
//! most [`MAX_CODES_PER_CALL`] per call, then verifies them with [`GetDepositCount`] and
//! [`CheckCodes`]. All three calls are repeatable: WeChat filters duplicate deposits.
//!
//! Every request that names a card or a code checks the same limits
//! ([`MAX_CARD_ID_CHARS`](crate::limits::MAX_CARD_ID_CHARS),
//! [`MAX_CODE_CHARS`]); wherever a `card_id` appears it
//! must also be free of white space.
//!
//! ```
//! use card_model::{Endpoint, code::{CheckCodes, DepositCodes}};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let deposit = DepositCodes::new("pDF3iY0_dVjb_Pua96MMewA96qvA", vec!["11111".into(), "22222".into()]);
//! deposit.validate()?;
//! let result = card_model::decode_response::<DepositCodes>(br#"{"errcode":0,"errmsg":"ok","succ_code":2}"#)?;
//! assert_eq!(result.deposited.map(|t| t.count()), Some(2));
//!
//! let check = CheckCodes::new("pDF3iY0_dVjb_Pua96MMewA96qvA", vec!["11111".into(), "44444".into()]);
//! let found = card_model::decode_response::<CheckCodes>(
//!     br#"{"errcode":0,"errmsg":"ok","exist_code":["11111"],"not_exist_code":["44444"]}"#,
//! )?;
//! assert_eq!(found.missing, ["44444"]);
//! # let _ = check;
//! # Ok(())
//! # }
//! ```

use crate::endpoint::{needs_json_escape, write_json_str};
use crate::limits::{MAX_CODE_CHARS, MAX_CODES_PER_CALL};
use crate::plain::Plain;
use crate::validate::{card_id, count, each_required, required};
use crate::{Endpoint, HttpMethod, Problem, ValidationError};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Checks one custom code as [`DepositCodes`] and [`CheckCodes`] do: non-empty, at
/// most [`MAX_CODE_CHARS`] characters, no control characters (a line break, tab or NUL).
///
/// # Errors
/// A [`ValidationError`] for the field `code`.
pub fn validate_code(code: &str) -> Result<(), ValidationError> {
    required("code", code, MAX_CODE_CHARS)?;
    if has_control(code) {
        return Err(ValidationError::new("code", CONTROL));
    }
    Ok(())
}

/// What a code with a control character is refused for.
const CONTROL: Problem = Problem::Invalid(
    "a code must not contain control characters (a line break, tab or NUL left over from a file, say)",
);

/// Whether `code` holds a control character (U+0000-U+001F, U+007F-U+009F): none of
/// WeChat's codes has one, and one in a code is nearly always a file's line end or
/// padding that would be stored as part of the code.
fn has_control(code: &str) -> bool {
    let bytes = code.as_bytes();
    // Branch-free over the bytes (it vectorises); the characters are looked at only
    // when there is a non-ASCII byte, which C1 controls need.
    let (ascii_control, non_ascii) = bytes.iter().fold((false, false), |(c, n), &b| {
        (c | (b < 0x20) | (b == 0x7f), n | (b >= 0x80))
    });
    ascii_control || (non_ascii && code.chars().any(char::is_control))
}

fn card_and_codes(card_id_value: &str, codes: &[String]) -> Result<(), ValidationError> {
    card_id("card_id", card_id_value)?;
    count("code", codes.len(), 1, MAX_CODES_PER_CALL)?;
    each_required("code", codes, MAX_CODE_CHARS)?;
    if let Some(i) = codes.iter().position(|code| has_control(code)) {
        return Err(ValidationError::new(format!("code[{i}]"), CONTROL));
    }
    Ok(())
}

/// Writes `{"card_id":...,"code":[...]}`, the body of [`DepositCodes`] and
/// [`CheckCodes`], byte for byte as their derived `Serialize` does with serde_json
/// (tested), without serde_json's per-element calls: these bodies carry 100 codes.
fn write_card_and_codes(
    card_id: &str,
    codes: &[String],
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    let bytes: usize = codes.iter().map(|c| c.len() + 3).sum();
    out.reserve(card_id.len() + bytes + 24);
    out.extend_from_slice(br#"{"card_id":"#);
    write_json_str(card_id, out)?;
    out.extend_from_slice(br#","code":["#);
    if codes.iter().any(|code| needs_json_escape(code.as_bytes())) {
        for (i, code) in codes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(code, out)?;
        }
    } else if let Some((first, rest)) = codes.split_first() {
        // No code needs escaping (the usual case): copied as they are.
        out.push(b'"');
        out.extend_from_slice(first.as_bytes());
        for code in rest {
            out.extend_from_slice(br#"",""#);
            out.extend_from_slice(code.as_bytes());
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// `POST /card/code/deposit`: uploads up to [`MAX_CODES_PER_CALL`] custom codes for a
/// deposit-mode card. Call it only after the card was approved.
///
/// Repeatable: WeChat filters duplicate codes, and a failed deposit should be repeated
/// until it succeeds.
///
/// Validation: `card_id` 1..=32 characters without white space; `code` holds 1..=100 codes, none empty (or
/// blank), each at most [`MAX_CODE_CHARS`] characters and without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DepositCodes {
    /// The card (`card_id`).
    pub card_id: String,
    /// The codes (`code`).
    pub code: Vec<String>,
}

impl DepositCodes {
    /// A deposit of `code` into `card_id`.
    pub fn new(card_id: impl Into<String>, code: Vec<String>) -> Self {
        Self {
            card_id: card_id.into(),
            code,
        }
    }
}

impl Endpoint for DepositCodes {
    type Response = DepositResult;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/code/deposit";
    const REPEATABLE: bool = true;

    fn validate(&self) -> Result<(), ValidationError> {
        card_and_codes(&self.card_id, &self.code)
    }

    fn write_body(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        write_card_and_codes(&self.card_id, &self.code, out)
    }

    fn decode_plain(body: &[u8]) -> Option<DepositResult> {
        let mut result = DepositResult::default();
        Plain::new(body).object(|key, p| {
            let slot = match key {
                b"succ_code" => &mut result.deposited,
                b"duplicate_code" => &mut result.duplicates,
                b"fail_code" => &mut result.failed,
                _ => return None,
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(CodeTally::Count(p.u64()?));
            Some(())
        })?;
        Some(result)
    }
}

/// A tally in the deposit response: WeChat calls `succ_code` and `fail_code` a "number"
/// without fixing their wire type, so both a count and a list of codes are accepted (a
/// numeric string reads as a count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeTally {
    /// A number of codes.
    Count(u64),
    /// The codes themselves.
    Codes(Vec<String>),
}

impl CodeTally {
    /// How many codes the tally covers: the count, or the length of the list.
    pub fn count(&self) -> u64 {
        match self {
            Self::Count(n) => *n,
            Self::Codes(codes) => codes.len() as u64,
        }
    }

    /// The codes, when WeChat listed them.
    pub fn codes(&self) -> Option<&[String]> {
        match self {
            Self::Count(_) => None,
            Self::Codes(codes) => Some(codes),
        }
    }
}

impl Serialize for CodeTally {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Count(n) => serializer.serialize_u64(*n),
            Self::Codes(codes) => codes.serialize(serializer),
        }
    }
}

struct TallyVisitor;

impl<'de> Visitor<'de> for TallyVisitor {
    type Value = CodeTally;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a count of codes or a list of codes")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<CodeTally, E> {
        Ok(CodeTally::Count(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<CodeTally, E> {
        u64::try_from(v)
            .map(CodeTally::Count)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<CodeTally, E> {
        v.trim()
            .parse()
            .map(CodeTally::Count)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CodeTally, A::Error> {
        let mut codes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_CODES_PER_CALL));
        while let Some(code) = seq.next_element::<String>()? {
            codes.push(code);
        }
        Ok(CodeTally::Codes(codes))
    }
}

impl<'de> Deserialize<'de> for CodeTally {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TallyVisitor)
    }
}

/// The answer of [`DepositCodes`]. WeChat may leave out any of the three tallies, so
/// each is optional. Do not infer success from them: a zero errcode is the success,
/// then verify with [`GetDepositCount`] and [`CheckCodes`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DepositResult {
    /// Codes stored (WeChat's `succ_code`).
    #[serde(rename = "succ_code", default, skip_serializing_if = "Option::is_none")]
    pub deposited: Option<CodeTally>,
    /// Codes filtered as duplicates (WeChat's `duplicate_code`).
    #[serde(
        rename = "duplicate_code",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub duplicates: Option<CodeTally>,
    /// Codes that failed (WeChat's `fail_code`).
    #[serde(rename = "fail_code", default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<CodeTally>,
}

impl DepositResult {
    /// A result with the three tallies (for tests and the sandbox).
    pub fn new(
        deposited: Option<CodeTally>,
        duplicates: Option<CodeTally>,
        failed: Option<CodeTally>,
    ) -> Self {
        Self {
            deposited,
            duplicates,
            failed,
        }
    }
}

/// `POST /card/code/getdepositcount`: how many codes a card has stored.
///
/// Validation: `card_id` 1..=32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetDepositCount {
    /// The card (`card_id`).
    pub card_id: String,
}

impl GetDepositCount {
    /// The count query for `card_id`.
    pub fn new(card_id: impl Into<String>) -> Self {
        Self {
            card_id: card_id.into(),
        }
    }
}

impl Endpoint for GetDepositCount {
    type Response = DepositCount;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/code/getdepositcount";
    const REPEATABLE: bool = true;

    fn validate(&self) -> Result<(), ValidationError> {
        card_id("card_id", &self.card_id)
    }
}

/// The answer of [`GetDepositCount`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DepositCount {
    /// Codes successfully stored (`count`); a numeric string is accepted.
    #[serde(deserialize_with = "crate::lenient::u64")]
    pub count: u64,
}

impl DepositCount {
    /// A count (for tests and the sandbox).
    pub fn new(count: u64) -> Self {
        Self { count }
    }
}

/// `POST /card/code/checkcode`: which of up to [`MAX_CODES_PER_CALL`] codes are stored
///.
///
/// Validation: as [`DepositCodes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckCodes {
    /// The card (`card_id`).
    pub card_id: String,
    /// The codes to check (`code`).
    pub code: Vec<String>,
}

impl CheckCodes {
    /// A check of `code` against `card_id`.
    pub fn new(card_id: impl Into<String>, code: Vec<String>) -> Self {
        Self {
            card_id: card_id.into(),
            code,
        }
    }
}

impl Endpoint for CheckCodes {
    type Response = CodeCheck;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/code/checkcode";
    const REPEATABLE: bool = true;

    fn validate(&self) -> Result<(), ValidationError> {
        card_and_codes(&self.card_id, &self.code)
    }

    fn write_body(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        write_card_and_codes(&self.card_id, &self.code, out)
    }

    fn decode_plain(body: &[u8]) -> Option<CodeCheck> {
        let (mut existing, mut missing) = (None, None);
        Plain::new(body).object(|key, p| {
            let slot = match key {
                b"exist_code" => &mut existing,
                b"not_exist_code" => &mut missing,
                _ => return None,
            };
            if slot.is_some() {
                return None;
            }
            let (text, ends) = p.string_list()?;
            *slot = Some(CodeList::from_parts(text, ends));
            Some(())
        })?;
        Some(CodeCheck {
            existing: existing.unwrap_or_default(),
            missing: missing.unwrap_or_default(),
        })
    }
}

/// The answer of [`CheckCodes`]; an absent list reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeCheck {
    /// Codes that are stored (WeChat's `exist_code`).
    #[serde(rename = "exist_code", default)]
    pub existing: CodeList,
    /// Codes that are not stored (WeChat's `not_exist_code`).
    #[serde(rename = "not_exist_code", default)]
    pub missing: CodeList,
}

impl CodeCheck {
    /// A check result (for tests and the sandbox).
    pub fn new(existing: Vec<String>, missing: Vec<String>) -> Self {
        Self {
            existing: existing.into(),
            missing: missing.into(),
        }
    }
}

/// A list of card codes held in one buffer: what [`CodeCheck`] answers with.
///
/// A checkcode answer names up to 100 codes; reading each into its own `String` would
/// cost 100 allocations per call (and 100 frees), so the codes are stored back to back in
/// one string and handed out as `&str`. It reads like a slice of strings: [`len`],
/// [`get`], [`iter`], [`contains`], `for code in &list`, and it compares equal to a
/// slice, array or `Vec` of strings with the same codes in the same order.
///
/// ```
/// use card_model::code::{CheckCodes, CodeList};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let found = card_model::decode_response::<CheckCodes>(
///     br#"{"errcode":0,"errmsg":"ok","exist_code":["11111","22222"],"not_exist_code":[]}"#,
/// )?;
/// let list: &CodeList = &found.existing;
/// assert_eq!(list.len(), 2);
/// assert_eq!(list.get(1), Some("22222"));
/// assert!(list.contains("11111"));
/// assert_eq!(*list, ["11111", "22222"]);
/// for code in list {
///     assert_eq!(code.len(), 5);
/// }
/// assert_eq!(list.to_vec(), vec!["11111".to_owned(), "22222".to_owned()]);
/// # Ok(())
/// # }
/// ```
///
/// [`len`]: CodeList::len
/// [`get`]: CodeList::get
/// [`iter`]: CodeList::iter
/// [`contains`]: CodeList::contains
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct CodeList {
    /// Every code, back to back.
    text: String,
    /// Where each code ends in `text`.
    ends: Vec<usize>,
}

impl CodeList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `codes` codes of `bytes` bytes in all.
    pub fn with_capacity(codes: usize, bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(codes),
        }
    }

    /// A list of the codes that end at `ends` in `text`.
    pub(crate) fn from_parts(text: String, ends: Vec<usize>) -> Self {
        debug_assert!(ends.windows(2).all(|w| w[0] <= w[1]));
        debug_assert!(ends.iter().all(|&end| text.is_char_boundary(end)));
        Self { text, ends }
    }

    /// Appends a code.
    pub fn push(&mut self, code: &str) {
        self.text.push_str(code);
        self.ends.push(self.text.len());
    }

    /// How many codes the list holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the list holds no code.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The code at `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        let start = match index {
            0 => 0,
            i => self.ends[i - 1],
        };
        self.text.get(start..end)
    }

    /// The codes in order.
    pub fn iter(&self) -> CodeIter<'_> {
        CodeIter {
            list: self,
            front: 0,
            back: self.ends.len(),
        }
    }

    /// Whether `code` is in the list (a linear scan).
    pub fn contains(&self, code: &str) -> bool {
        self.iter().any(|c| c == code)
    }

    /// The codes as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl fmt::Debug for CodeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The codes of a [`CodeList`], in order; see [`CodeList::iter`].
#[derive(Debug, Clone)]
pub struct CodeIter<'a> {
    list: &'a CodeList,
    front: usize,
    back: usize,
}

impl<'a> Iterator for CodeIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.front >= self.back {
            return None;
        }
        let code = self.list.get(self.front);
        self.front += 1;
        code
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back.saturating_sub(self.front);
        (n, Some(n))
    }
}

impl DoubleEndedIterator for CodeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.list.get(self.back)
    }
}

impl ExactSizeIterator for CodeIter<'_> {}

impl<'a> IntoIterator for &'a CodeList {
    type Item = &'a str;
    type IntoIter = CodeIter<'a>;

    fn into_iter(self) -> CodeIter<'a> {
        self.iter()
    }
}

impl<S: AsRef<str>> FromIterator<S> for CodeList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut list = Self::new();
        list.extend(iter);
        list
    }
}

impl<S: AsRef<str>> Extend<S> for CodeList {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for code in iter {
            self.push(code.as_ref());
        }
    }
}

impl From<Vec<String>> for CodeList {
    fn from(codes: Vec<String>) -> Self {
        codes.iter().collect()
    }
}

impl From<&[&str]> for CodeList {
    fn from(codes: &[&str]) -> Self {
        codes.iter().collect()
    }
}

impl<const N: usize> From<[&str; N]> for CodeList {
    fn from(codes: [&str; N]) -> Self {
        codes.iter().collect()
    }
}

impl From<CodeList> for Vec<String> {
    fn from(list: CodeList) -> Self {
        list.to_vec()
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for CodeList {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>> PartialEq<&[S]> for CodeList {
    fn eq(&self, other: &&[S]) -> bool {
        *self == **other
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for CodeList {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for CodeList {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl Serialize for CodeList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for CodeList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;

        impl<'de> Visitor<'de> for ListVisitor {
            type Value = CodeList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of codes (strings)")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CodeList, A::Error> {
                // A checkcode answer holds up to 100 codes of a dozen bytes.
                let codes = seq.size_hint().unwrap_or(16).min(MAX_CODES_PER_CALL);
                let mut list = CodeList::with_capacity(codes, codes * 16);
                while seq.next_element_seed(PushCode(&mut list))?.is_some() {}
                Ok(list)
            }
        }

        deserializer.deserialize_seq(ListVisitor)
    }
}

/// Reads one string of a list straight into the list's buffer (no `String` per code).
struct PushCode<'l>(&'l mut CodeList);

impl<'de> de::DeserializeSeed<'de> for PushCode<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PushCode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a code (string)")
    }

    fn visit_str<E: de::Error>(self, code: &str) -> Result<(), E> {
        self.0.push(code);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Problem;

    fn codes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:05}")).collect()
    }

    #[test]
    fn a_code_with_a_control_character_is_refused_before_sending() {
        for bad in [
            "A1\r",
            "A\n1",
            "\tA1",
            "A1\u{0}",
            "A\u{7f}1",
            "A\u{85}1",
            "会员\u{9f}",
        ] {
            assert_eq!(validate_code(bad).unwrap_err().problem, CONTROL, "{bad:?}");
            let mut list = codes(5);
            list[3] = bad.to_owned();
            let error = DepositCodes::new("pCARD", list.clone())
                .validate()
                .expect_err("deposit refused");
            assert_eq!(error.field, "code[3]", "{bad:?}");
            assert_eq!(error.problem, CONTROL);
            let error = CheckCodes::new("pCARD", list)
                .validate()
                .expect_err("check refused");
            assert_eq!(error.field, "code[3]");
        }
        for good in ["A1", "会员卡-0001", "a b", "x\u{a0}y", "Ω-\u{a0}"] {
            assert!(validate_code(good).is_ok(), "{good:?}");
            let mut list = codes(5);
            list[0] = good.to_owned();
            assert!(
                DepositCodes::new("pCARD", list).validate().is_ok(),
                "{good:?}"
            );
        }
    }

    #[test]
    fn tally_accepts_count_list_and_numeric_string() {
        let r: DepositResult = serde_json::from_str(
            r#"{"succ_code":3,"duplicate_code":["1","2"],"fail_code":"0","x":1}"#,
        )
        .unwrap();
        assert_eq!(r.deposited, Some(CodeTally::Count(3)));
        assert_eq!(r.duplicates.as_ref().map(CodeTally::count), Some(2));
        assert_eq!(
            r.duplicates.as_ref().and_then(CodeTally::codes),
            Some(&["1".to_owned(), "2".to_owned()][..])
        );
        assert_eq!(r.failed, Some(CodeTally::Count(0)));
        assert!(serde_json::from_str::<DepositResult>(r#"{"fail_code":-1}"#).is_err());
        assert!(serde_json::from_str::<DepositResult>(r#"{"fail_code":"abc"}"#).is_err());
        assert!(serde_json::from_str::<DepositResult>(r#"{"fail_code":{}}"#).is_err());
        assert_eq!(
            serde_json::from_str::<DepositResult>("{}").unwrap(),
            DepositResult::default()
        );
    }

    #[test]
    fn code_list_reads_escaped_and_plain_codes_in_order() {
        let check: CodeCheck =
            serde_json::from_str(r#"{"exist_code":["11111","a\"b","\u4e2d\u6587",""],"x":[1]}"#)
                .unwrap();
        assert_eq!(check.existing, ["11111", "a\"b", "中文", ""]);
        assert_eq!(check.existing.len(), 4);
        assert!(check.missing.is_empty());
        assert_eq!(check.existing.get(3), Some(""));
        assert_eq!(check.existing.get(4), None);
        assert!(check.existing.contains("中文") && !check.existing.contains("1111"));
        let back: Vec<&str> = check.existing.iter().rev().collect();
        assert_eq!(back, ["", "中文", "a\"b", "11111"]);
        let mut it = check.existing.iter();
        assert_eq!(
            (it.next(), it.next_back(), it.len()),
            (Some("11111"), Some(""), 2)
        );
        assert_eq!(
            format!("{:?}", check.existing),
            r#"["11111", "a\"b", "中文", ""]"#
        );
    }

    #[test]
    fn code_list_rejects_what_is_not_a_list_of_strings() {
        for body in [
            r#"{"exist_code":[1]}"#,
            r#"{"exist_code":"11111"}"#,
            r#"{"exist_code":null}"#,
            r#"{"exist_code":[["1"]]}"#,
            r#"{"exist_code":["1",]}"#,
        ] {
            assert!(serde_json::from_str::<CodeCheck>(body).is_err(), "{body}");
        }
    }

    #[test]
    fn code_list_round_trips_and_compares_with_owned_lists() {
        let owned = codes(100);
        let list = CodeList::from(owned.clone());
        assert_eq!(list, owned);
        assert_eq!(list.to_vec(), owned);
        assert_eq!(Vec::<String>::from(list.clone()), owned);
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, serde_json::to_string(&owned).unwrap());
        assert_eq!(serde_json::from_str::<CodeList>(&json).unwrap(), list);
        assert_ne!(list, owned[..99]);
        assert_ne!(CodeList::from(["a", "bc"]), ["ab", "c"]);
        assert_eq!(CodeCheck::new(owned.clone(), vec![]).existing, owned);
    }

    #[test]
    fn code_bodies_are_what_serde_json_writes() {
        let odd = vec![
            "11111".to_owned(),
            "a\"b\\c".to_owned(),
            "\u{1}\n\t\u{1f}\u{7f}".to_owned(),
            "中文码".to_owned(),
            String::new(),
        ];
        let plain_odd = vec![
            String::new(),
            "中文码".to_owned(),
            "1".to_owned(),
            String::new(),
        ];
        for codes in [codes(100), odd, vec![], vec!["1".to_owned()], plain_odd] {
            let deposit = DepositCodes::new("p\"1", codes.clone());
            let check = CheckCodes::new("pDF3iY0_dVjb_Pua96MMewA96qvA", codes);
            assert_eq!(
                crate::encode_body(&deposit).unwrap().unwrap(),
                serde_json::to_vec(&deposit).unwrap()
            );
            assert_eq!(
                crate::encode_body(&check).unwrap().unwrap(),
                serde_json::to_vec(&check).unwrap()
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn code_list_keeps_any_strings(items in proptest::collection::vec(".{0,8}", 0..40)) {
            let list: CodeList = items.iter().collect();
            proptest::prop_assert_eq!(list.len(), items.len());
            proptest::prop_assert_eq!(&list, &items);
            let json = serde_json::to_string(&items).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<CodeList>(&json).unwrap(), list);
        }

        #[test]
        fn code_bodies_match_serde_json_for_any_text(
            card in "\\PC{0,4}|[\"\\\\\u{0}-\u{1f}]{0,3}",
            items in proptest::collection::vec("\\PC{0,6}|[\"\\\\\u{0}-\u{1f}\u{7f}a]{0,4}", 0..12),
        ) {
            let deposit = DepositCodes::new(card, items);
            proptest::prop_assert_eq!(
                crate::encode_body(&deposit).unwrap().unwrap(),
                serde_json::to_vec(&deposit).unwrap()
            );
        }
    }

    #[test]
    fn code_limits() {
        assert!(
            DepositCodes::new("c", codes(MAX_CODES_PER_CALL))
                .validate()
                .is_ok()
        );
        let e = DepositCodes::new("c", codes(101)).validate().unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.problem),
            (
                "code",
                Problem::TooMany {
                    max: 100,
                    actual: 101
                }
            )
        );
        let e = CheckCodes::new("c", vec![]).validate().unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.problem),
            ("code", Problem::TooFew { min: 1, actual: 0 })
        );
        let mut list = codes(3);
        list[2] = " ".into();
        let e = CheckCodes::new("c", list).validate().unwrap_err();
        assert_eq!((e.field.as_str(), e.problem), ("code[2]", Problem::Empty));
    }
}
