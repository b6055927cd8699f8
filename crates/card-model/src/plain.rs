//! A reader for the plain shape of the hot answers (`checkcode`, `deposit`, `qrcode`):
//! one flat JSON object whose keys are known, whose strings are ASCII without escapes,
//! whose numbers are non-negative integers, and whose `errcode` is `0`.
//!
//! It reads nothing else: any other byte (an escape, a non-ASCII or control byte, an
//! unknown or repeated key, `null`, a non-zero `errcode`, a fraction, trailing bytes)
//! makes it answer `None`, and [`decode_response`](crate::decode_response) then reads
//! the body with serde_json as before. So whenever it answers, it answers what the
//! serde path answers (tested against it), only without serde's per-element calls:
//! a `checkcode` answer names 100 codes.

use crate::limits::MAX_CODES_PER_CALL;

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
const QUOTE: u64 = u64::from_le_bytes([b'"'; 8]);
const BACKSLASH: u64 = u64::from_le_bytes([b'\\'; 8]);
const SPACE: u64 = u64::from_le_bytes([0x20; 8]);

/// The bytes of `word` that end a plain string or are not allowed in one (`"`, `\\`, a
/// control byte below 0x20, a non-ASCII byte), as their high bits. The lowest set bit
/// marks the first such byte exactly (the bits above it may be false alarms).
fn special(word: [u8; 8]) -> u64 {
    let v = u64::from_le_bytes(word);
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let below_space = v.wrapping_sub(SPACE) & !v;
    (v | below_space | has_zero(v ^ QUOTE) | has_zero(v ^ BACKSLASH)) & HIGH
}

/// A cursor over a response body.
pub(crate) struct Plain<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Plain<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// The next byte after JSON white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// Consumes `byte` (after white space), or gives `None`.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Reads the whole body as one object and nothing after it. `errcode` (only as
    /// `0`) and `errmsg` (a plain string) are read here, at most once each; every other
    /// key goes to `member`, which reads its value or gives `None`.
    pub(crate) fn object(
        mut self,
        mut member: impl FnMut(&'a [u8], &mut Self) -> Option<()>,
    ) -> Option<()> {
        self.expect(b'{')?;
        let (mut errcode, mut errmsg) = (false, false);
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                let key = self.string()?;
                self.expect(b':')?;
                match key {
                    b"errcode" if !errcode => {
                        errcode = true;
                        self.expect(b'0')?;
                    }
                    b"errmsg" if !errmsg => {
                        errmsg = true;
                        self.string()?;
                    }
                    b"errcode" | b"errmsg" => return None,
                    _ => member(key, &mut self)?,
                }
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        // Only white space may follow.
        match self.peek() {
            None => Some(()),
            Some(_) => None,
        }
    }

    /// The bounds of a plain string's content (after white space): ASCII, no escape,
    /// no control byte.
    fn span(&mut self) -> Option<(usize, usize)> {
        self.expect(b'"')?;
        let start = self.at;
        let mut i = start;
        // Eight bytes at a time up to the first special byte, then byte by byte near
        // the end of the body.
        while let Some(word) = self.bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
            let found = special(*word);
            if found != 0 {
                i += (found.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        loop {
            match *self.bytes.get(i)? {
                b'"' => break,
                b if b < 0x20 || b == b'\\' || b >= 0x80 => return None,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        Some((start, i))
    }

    /// A plain string's bytes (ASCII).
    pub(crate) fn string(&mut self) -> Option<&'a [u8]> {
        let (start, end) = self.span()?;
        self.bytes.get(start..end)
    }

    /// A plain string, owned.
    pub(crate) fn owned_string(&mut self) -> Option<String> {
        String::from_utf8(self.string()?.to_vec()).ok()
    }

    /// A non-negative integer that fits a `u64`, written without sign, fraction or
    /// exponent (what follows is checked by the caller: only `,` or `}` may).
    pub(crate) fn u64(&mut self) -> Option<u64> {
        let first = self.peek()?;
        if !first.is_ascii_digit() {
            return None;
        }
        let mut value: u64 = 0;
        let start = self.at;
        while let Some(&b) = self.bytes.get(self.at) {
            if !b.is_ascii_digit() {
                break;
            }
            value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.at += 1;
        }
        // A leading zero is not JSON ("01").
        (first != b'0' || self.at == start + 1).then_some(value)
    }

    /// A list of at most [`MAX_CODES_PER_CALL`] plain strings: their text back to back
    /// (sized exactly) and where each ends in it, the parts of a
    /// [`CodeList`](crate::code::CodeList).
    pub(crate) fn string_list(&mut self) -> Option<(String, Vec<usize>)> {
        self.expect(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some((String::new(), Vec::new()));
        }
        let mut spans = [(0, 0); MAX_CODES_PER_CALL];
        let (mut n, mut bytes) = (0, 0);
        loop {
            let span = self.span()?;
            *spans.get_mut(n)? = span;
            n += 1;
            bytes += span.1 - span.0;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        let mut text = Vec::with_capacity(bytes);
        let mut ends = Vec::with_capacity(n);
        for &(start, end) in &spans[..n] {
            text.extend_from_slice(self.bytes.get(start..end)?);
            ends.push(text.len());
        }
        // ASCII only, so valid UTF-8 with every end on a character boundary.
        Some((String::from_utf8(text).ok()?, ends))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Endpoint;
    use crate::code::{CheckCodes, DepositCodes};
    use crate::endpoint::decode_with_serde;
    use crate::qrcode::CreateQrCode;
    use proptest::prelude::*;

    /// Whatever the plain reader answers, the serde path answers too.
    fn agrees<E: Endpoint>(body: &[u8]) -> bool
    where
        E::Response: PartialEq + std::fmt::Debug,
    {
        match E::decode_plain(body) {
            Some(plain) => {
                let serde = decode_with_serde::<E>(body);
                assert!(
                    matches!(&serde, Ok(value) if *value == plain),
                    "{}: plain {plain:?}, serde {serde:?}",
                    String::from_utf8_lossy(body)
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn the_usual_answers_take_the_plain_path() {
        let codes: Vec<String> = (0..100).map(|i| format!("{i:012}")).collect();
        let list = serde_json::to_string(&codes).unwrap();
        for body in [
            format!(r#"{{"errcode":0,"errmsg":"ok","exist_code":{list},"not_exist_code":[]}}"#),
            format!(r#"{{"exist_code":[],"not_exist_code":{list}}}"#),
            " {\n \"errcode\" : 0 ,\"exist_code\":[\"1\"]}\r\n".into(),
            "{}".into(),
        ] {
            assert!(agrees::<CheckCodes>(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"errcode":0,"errmsg":"ok","succ_code":100,"duplicate_code":0,"fail_code":0}"#,
            r#"{"succ_code":2}"#,
        ] {
            assert!(agrees::<DepositCodes>(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"errcode":0,"errmsg":"ok","ticket":"gQH+8D/=","expire_seconds":1800,"url":"http://weixin.qq.com/q/x","show_qrcode_url":"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH"}"#,
            r#"{"ticket":"t"}"#,
        ] {
            assert!(agrees::<CreateQrCode>(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn anything_unusual_goes_to_serde() {
        for body in [
            r#"{"errcode":40001,"errmsg":"invalid credential"}"#,
            r#"{"errcode":"0","exist_code":[]}"#,
            r#"{"errcode":null,"exist_code":[]}"#,
            r#"{"errcode":0,"errcode":0}"#,
            r#"{"errmsg":"a\"b"}"#,
            r#"{"errmsg":"中文"}"#,
            r#"{"exist_code":["a\u0062"]}"#,
            r#"{"exist_code":["中"]}"#,
            r#"{"exist_code":[1]}"#,
            r#"{"exist_code":null}"#,
            r#"{"exist_code":[],"exist_code":[]}"#,
            r#"{"exist_code":["1",]}"#,
            r#"{"exist_code":[],}"#,
            r#"{"other":1}"#,
            r#"{"exist_code":[]} x"#,
            r#"{"exist_code":[]"#,
            r#"["1"]"#,
            "",
        ] {
            assert!(!agrees::<CheckCodes>(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"succ_code":-1}"#,
            r#"{"succ_code":1.0}"#,
            r#"{"succ_code":1e2}"#,
            r#"{"succ_code":"1"}"#,
            r#"{"succ_code":["1"]}"#,
            r#"{"succ_code":null}"#,
            r#"{"succ_code":01}"#,
            r#"{"succ_code":1,"succ_code":1}"#,
        ] {
            assert!(!agrees::<DepositCodes>(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"url":"u"}"#,
            r#"{"ticket":"a\/b"}"#,
            r#"{"ticket":"t","expire_seconds":4294967296}"#,
            r#"{"ticket":"t","show_qrcode_url":null}"#,
            r#"{"ticket":"t","ticket":"t"}"#,
        ] {
            assert!(!agrees::<CreateQrCode>(body.as_bytes()), "{body}");
        }
    }

    /// Bodies near the plain shape: the endpoint's keys with values mostly of their
    /// plain kind, and anything else now and then (escaped, non-ASCII or control text,
    /// numbers of every form, `null`, unknown or repeated keys, an escaped key), any
    /// JSON white space, trailing bytes.
    fn near_plain(keys: &[&'static str]) -> impl Strategy<Value = String> {
        let ws = prop_oneof![
            6 => Just(""),
            1 => prop::sample::select(vec![" ", "\n", "\t\r ", "\u{a0}"]),
        ];
        let plain_text = "[0-9A-Za-z+/=_-]{0,14}".prop_map(|t| format!("\"{t}\""));
        let odd_text = prop_oneof![
            "\\PC{0,4}".prop_map(|t| serde_json::to_string(&t).unwrap()),
            "[\"\\\\\u{0}-\u{1f}\u{7f}a]{0,3}".prop_map(|t| serde_json::to_string(&t).unwrap()),
            "\\PC{0,4}|[\"\\\\\u{0}-\u{1f}\u{7f}a]{0,3}".prop_map(|t| format!("\"{t}\"")),
        ];
        let string = prop_oneof![6 => plain_text.clone(), 1 => odd_text];
        let number = prop_oneof![
            4 => (0..3u64).prop_map(|n| n.to_string()),
            4 => any::<u64>().prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec![
                "-1", "-0", "00", "01", "1.0", "1e2", "0.0", "18446744073709551616", "4294967296",
                "40001",
            ])
            .prop_map(str::to_owned),
        ];
        let list = prop::collection::vec((string.clone(), ws.clone()), 0..8).prop_map(|items| {
            let inner: Vec<String> = items
                .into_iter()
                .map(|(s, w)| format!("{w}{s}{w}"))
                .collect();
            format!("[{}]", inner.join(","))
        });
        let odd = prop::sample::select(vec!["null", "true", "{}", "[1]", "[\"1\",]", "0", "\"0\""])
            .prop_map(str::to_owned);
        let any_value = prop_oneof![string.clone(), number.clone(), list.clone(), odd];
        let typed = move |key: &str| -> BoxedStrategy<String> {
            match key {
                "errcode" => Just("0".to_owned()).boxed(),
                "exist_code" | "not_exist_code" => list.clone().boxed(),
                "succ_code" | "duplicate_code" | "fail_code" | "expire_seconds" => {
                    number.clone().boxed()
                }
                _ => string.clone().boxed(),
            }
        };
        let mut weighted: Vec<(u32, &'static str)> = keys.iter().map(|&k| (8, k)).collect();
        weighted.extend([
            (2, "errcode"),
            (2, "errmsg"),
            (1, "other"),
            (1, "errc\\u006fde"),
        ]);
        let key = prop::sample::select(
            weighted
                .iter()
                .flat_map(|&(w, k)| std::iter::repeat_n(k, w as usize))
                .collect::<Vec<_>>(),
        );
        let member = (key, ws.clone()).prop_flat_map(move |(k, w)| {
            prop_oneof![6 => typed(k), 1 => any_value.clone()]
                .prop_map(move |v| format!("\"{k}\"{w}:{w}{v}"))
        });
        let tail =
            prop_oneof![8 => Just(""), 1 => prop::sample::select(vec![" ", "\n", "x", ",", "}"])];
        (prop::collection::vec(member, 0..5), ws, tail)
            .prop_map(|(members, w, tail)| format!("{w}{{{w}{}{w}}}{w}{tail}", members.join(",")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_plain_checkcode_reader_agrees_with_serde(
            body in near_plain(&["exist_code", "not_exist_code", "exist_code", "not_exist_code"]),
        ) {
            agrees::<CheckCodes>(body.as_bytes());
        }

        #[test]
        fn the_plain_deposit_reader_agrees_with_serde(
            body in near_plain(&["succ_code", "duplicate_code", "fail_code"]),
        ) {
            agrees::<DepositCodes>(body.as_bytes());
        }

        #[test]
        fn the_plain_qrcode_reader_agrees_with_serde(
            body in near_plain(&["ticket", "ticket", "expire_seconds", "url", "show_qrcode_url"]),
        ) {
            agrees::<CreateQrCode>(body.as_bytes());
        }
    }

    /// Bodies chosen to trip a hand-written reader: whatever the plain reader answers
    /// for them, serde answers the same (`agrees` asserts it); the ones it must leave to
    /// serde are named.
    #[test]
    fn adversarial_bodies_agree_with_serde() {
        let hundred = |n: usize| {
            let codes: Vec<String> = (0..n).map(|i| format!("\"{i}\"")).collect();
            codes.join(",")
        };
        let plain_ok = [
            format!(r#"{{"exist_code":[{}]}}"#, hundred(100)),
            "{\"exist_code\":[\"a\u{7f}b\"]}".to_owned(),
            "\t{\r\n\"exist_code\"\n:\t[ \"1\" ,\r\"2\"\n] }\n\n".to_owned(),
            r#"{"errmsg":"","errcode":0,"not_exist_code":["*","?","0x1F","-0"]}"#.to_owned(),
            r#"{"exist_code":["12345678","123456789","1234567",""]}"#.to_owned(),
        ];
        for body in &plain_ok {
            assert!(agrees::<CheckCodes>(body.as_bytes()), "{body}");
        }
        let to_serde = [
            format!(r#"{{"exist_code":[{}]}}"#, hundred(101)),
            "\u{feff}{\"exist_code\":[]}".to_owned(),
            "{\"exist_code\":[\"a\u{0}b\"]}".to_owned(),
            "{\"exist_code\":[\"a\u{1f}\"]}".to_owned(),
            "{\"exist_code\":[]}\u{0}".to_owned(),
            "{\"exist_code\":[]}\u{b}".to_owned(),
            "{\u{c}\"exist_code\":[]}".to_owned(),
            r#"{"errcode":-0,"exist_code":[]}"#.to_owned(),
            r#"{"errcode":0.0,"exist_code":[]}"#.to_owned(),
            r#"{"errcode":00,"exist_code":[]}"#.to_owned(),
            r#"{"errcode":0e0,"exist_code":[]}"#.to_owned(),
            r#"{"errcode":0,"errmsg":null,"exist_code":[]}"#.to_owned(),
            r#"{"errcode":0,"errmsg":"ok","errmsg":"ok","exist_code":[]}"#.to_owned(),
            r#"{"exist_code":[["1"]]}"#.to_owned(),
            r#"{"exist_code":{"a":"1"}}"#.to_owned(),
            r#"{"exist_code":["1"]"not_exist_code":[]}"#.to_owned(),
            r#"{"exist_code":["1"],,"not_exist_code":[]}"#.to_owned(),
            r#"{,"exist_code":[]}"#.to_owned(),
            r#"{"exist_code":["1""2"]}"#.to_owned(),
            "{\"exist_code\":[\"\u{e9}\"]}".to_owned(),
            r#"{"EXIST_CODE":[]}"#.to_owned(),
            r#"{"exist_code" :[],"errcode":1}"#.to_owned(),
            r#"{"exist_code":[]}{}"#.to_owned(),
        ];
        for body in &to_serde {
            assert!(!agrees::<CheckCodes>(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"succ_code":0,"duplicate_code":18446744073709551615,"fail_code":1}"#,
            " {\"succ_code\" : 7 }\t",
        ] {
            assert!(agrees::<DepositCodes>(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"succ_code":18446744073709551616}"#,
            r#"{"succ_code":-0}"#,
            r#"{"succ_code":7 8}"#,
            r#"{"succ_code":+7}"#,
            r#"{"succ_code":7,}"#,
            r#"{"succ_code":1E2}"#,
            r#"{"succ_code":7.}"#,
        ] {
            assert!(!agrees::<DepositCodes>(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"ticket":"","expire_seconds":4294967295,"url":""}"#,
            r#"{"show_qrcode_url":"https://x/?a=*","ticket":"t"}"#,
        ] {
            assert!(agrees::<CreateQrCode>(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"ticket":"t","expire_seconds":0.5}"#,
            r#"{"ticket":"t","url":"u","url":"u"}"#,
            r#"{"ticket":"t","expire_seconds":"60"}"#,
        ] {
            assert!(!agrees::<CreateQrCode>(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn special_bytes_are_found_in_any_position() {
        let slow = |b: &[u8]| {
            b.iter()
                .any(|&c| c < 0x20 || c == b'"' || c == b'\\' || c >= 0x80)
        };
        for byte in [
            0u8, 0x1f, b'"', b'\\', 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xff, b'a',
        ] {
            for at in 0..8 {
                for filler in [b'7', b'"', 0x80] {
                    let mut eight = [b'7'; 8];
                    eight[at] = byte;
                    // what follows the first special byte does not move it
                    for later in eight.iter_mut().skip(at + 1) {
                        *later = filler;
                    }
                    let found = special(eight);
                    assert_eq!(found != 0, slow(&eight), "{byte} at {at}");
                    if slow(&eight[..=at]) {
                        assert_eq!(found.trailing_zeros() / 8, at as u32, "{byte} at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn strings_and_numbers() {
        let mut p = Plain::new(br#" "abcdefghijklmnopq" "a\"b" "#);
        assert_eq!(p.string(), Some(&b"abcdefghijklmnopq"[..]));
        assert_eq!(p.string(), None);
        for (text, value) in [
            ("0", Some(0)),
            ("7", Some(7)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("01", None),
            ("-1", None),
            ("\"1\"", None),
        ] {
            assert_eq!(Plain::new(text.as_bytes()).u64(), value, "{text}");
        }
        let mut p = Plain::new(b"[\"1\",\"22\" , \"\"]");
        let (text, ends) = p.string_list().unwrap();
        assert_eq!((text.as_str(), ends), ("122", vec![1, 3, 3]));
        let many = format!("[{}]", vec!["\"1\""; MAX_CODES_PER_CALL + 1].join(","));
        assert!(Plain::new(many.as_bytes()).string_list().is_none());
    }
}
