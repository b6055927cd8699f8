//! The one description of an endpoint, and the shared request encoding and response
//! decoding that both clients use.

use crate::envelope::{Tap, TapDe, Text};
use crate::{ValidationError, WeChatError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET`: parameters travel in the query string, no body.
    Get,
    /// `POST`: a JSON body.
    Post,
}

impl HttpMethod {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// Which credential an endpoint carries in its query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// `access_token=...`: every API call except the token endpoints.
    AccessToken,
    /// Nothing: the token endpoints themselves, which carry the app credentials.
    None,
}

/// One WeChat endpoint, described once: a request type that knows its method, path,
/// response type, whether repeating it is harmless, and how to validate itself.
///
/// The clients in `card-api` execute any `Endpoint` the same way: validate, encode,
/// send with the access token, decode the envelope, decode the response.
///
/// ```
/// use card_model::{Endpoint, HttpMethod, Problem, ValidationError};
/// use serde::{Deserialize, Serialize};
///
/// /// A hypothetical endpoint, described in a few lines.
/// #[derive(Serialize)]
/// struct Ping {
///     card_id: String,
/// }
///
/// #[derive(Deserialize)]
/// struct Pong {
///     count: u64,
/// }
///
/// impl Endpoint for Ping {
///     type Response = Pong;
///     const METHOD: HttpMethod = HttpMethod::Post;
///     const PATH: &'static str = "/card/ping";
///     const REPEATABLE: bool = true;
///     fn validate(&self) -> Result<(), ValidationError> {
///         if self.card_id.is_empty() {
///             return Err(ValidationError::new("card_id", Problem::Empty));
///         }
///         Ok(())
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ping = Ping { card_id: "pFS7Fjg8kV1IdDz01r4SQwMkuCKc".into() };
/// ping.validate()?;
/// let body = card_model::encode_body(&ping)?.expect("POST has a body");
/// assert_eq!(body, br#"{"card_id":"pFS7Fjg8kV1IdDz01r4SQwMkuCKc"}"#);
/// let pong: Pong = card_model::decode_response::<Ping>(br#"{"errcode":0,"errmsg":"ok","count":3}"#)?;
/// assert_eq!(pong.count, 3);
/// # Ok(())
/// # }
/// ```
pub trait Endpoint: Serialize {
    /// What a successful call returns (the envelope's errcode/errmsg are checked
    /// before this is decoded).
    type Response: DeserializeOwned;
    /// The HTTP method.
    const METHOD: HttpMethod;
    /// The path below the API base URL, for example `/card/code/deposit`.
    const PATH: &'static str;
    /// Whether sending the same request twice is harmless (idempotent), so that it may be
    /// repeated after a timeout or a failure where WeChat may already have acted.
    const REPEATABLE: bool;
    /// The credential carried in the query string.
    const AUTH: Auth = Auth::AccessToken;
    /// Whether a response may carry a credential (an access token or a ticket). The
    /// clients never keep such a body, nor the text of its decoding error, in an error.
    const SECRET_RESPONSE: bool = false;

    /// Checks every documented limit. Called before anything is sent.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the field, the limit and the value's size.
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }

    /// Whether this particular request may be repeated. Defaults to
    /// [`Endpoint::REPEATABLE`]; a mass send that carries a `clientmsgid` (which lets
    /// WeChat drop a repeated send) overrides it.
    fn repeatable(&self) -> bool {
        Self::REPEATABLE
    }

    /// Query parameters besides `access_token`, for `GET` endpoints.
    fn query(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Appends the JSON body of a `POST` to `out`; called by [`encode_body`].
    ///
    /// The default writes the `Serialize` impl with serde_json, which is what every
    /// endpoint means by its body. An endpoint on a hot path may write the same bytes
    /// faster (the deposit and checkcode calls of 100 codes do); such an override must
    /// give exactly what serde_json gives, and is tested against it.
    ///
    /// # Errors
    /// Only if a type's `Serialize` fails, which the types of this crate never do.
    fn write_body(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, self)
    }

    /// Not part of the API (the answers of a few hot endpoints use it): reads a
    /// successful answer in its plain shape without serde, or gives `None` for any
    /// other body, which [`decode_response`] then reads as always. `Some` only where
    /// the serde path gives `Ok` with the same value.
    #[doc(hidden)]
    fn decode_plain(_body: &[u8]) -> Option<Self::Response> {
        None
    }
}

/// The JSON body of a request: `Some` for `POST`, `None` for `GET`. Non-ASCII text is
/// written as raw UTF-8, never as `\uXXXX` (WeChat rejects those with 40033).
///
/// # Errors
/// Only if a type's `Serialize` fails, which the types of this crate never do.
pub fn encode_body<E: Endpoint>(endpoint: &E) -> Result<Option<Vec<u8>>, serde_json::Error> {
    match E::METHOD {
        HttpMethod::Get => Ok(None),
        HttpMethod::Post => {
            let mut buf = Vec::with_capacity(128);
            endpoint.write_body(&mut buf)?;
            Ok(Some(buf))
        }
    }
}

/// The response of endpoints that answer only with the `errcode`/`errmsg` envelope
/// (`{"errcode":0,"errmsg":"ok"}`), such as `/card/testwhitelist/set` and
/// `/cgi-bin/message/custom/send`. The envelope is checked by [`decode_response`]
/// before this is decoded; any other field is accepted and ignored.
///
/// ```
/// use card_model::{Ack, whitelist::SetTestWhitelist};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ack: Ack = card_model::decode_response::<SetTestWhitelist>(br#"{"errcode":0,"errmsg":"ok"}"#)?;
/// assert_eq!(ack, Ack {});
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ack {}

/// Why a response body did not give a response value.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// WeChat answered with a non-zero `errcode`.
    #[error(transparent)]
    WeChat(#[from] WeChatError),
    /// The body is not the JSON this endpoint returns.
    #[error("undecodable response body: {0}")]
    Decode(#[from] serde_json::Error),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, deserialize_with = "crate::lenient::int")]
    errcode: i64,
    #[serde(default, borrow)]
    errmsg: Option<std::borrow::Cow<'a, str>>,
}

/// Decodes a response body of endpoint `E`: the `errcode`/`errmsg` envelope (an absent
/// `errcode` means 0) and the response type.
///
/// The body is read once: the response type is decoded while the top-level `errcode`
/// and `errmsg` are taken out on the way. When the response type does not decode, or
/// does not read the body as an object, the envelope is read on its own, so a non-zero
/// errcode always wins over a decoding error.
///
/// A UTF-8 byte order mark before the JSON is skipped. A body that is not valid UTF-8
/// (a proxy's GBK `errmsg`, for example) still gives its non-zero errcode: the envelope
/// is then read from a lossy copy, with every invalid sequence in `errmsg` replaced by
/// U+FFFD.
///
/// # Errors
/// [`ResponseError::WeChat`] for a non-zero errcode, [`ResponseError::Decode`] for a body
/// that is not the expected JSON.
pub fn decode_response<E: Endpoint>(body: &[u8]) -> Result<E::Response, ResponseError> {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    match E::decode_plain(body) {
        Some(value) => Ok(value),
        None => decode_with_serde::<E>(body),
    }
}

/// [`decode_response`] without the plain reader, for the differential fuzz target
/// (`fuzz/fuzz_targets/answer_decode.rs`); built only under `cargo fuzz`.
#[cfg(fuzzing)]
#[doc(hidden)]
pub fn decode_response_with_serde<E: Endpoint>(body: &[u8]) -> Result<E::Response, ResponseError> {
    decode_with_serde::<E>(body.strip_prefix(UTF8_BOM).unwrap_or(body))
}

/// [`decode_response`] without the plain reader: the response type through serde_json,
/// `errcode`/`errmsg` taken out on the way. `body` has no byte order mark.
pub(crate) fn decode_with_serde<E: Endpoint>(body: &[u8]) -> Result<E::Response, ResponseError> {
    let mut tap = Tap::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let decoded = E::Response::deserialize(TapDe {
        inner: &mut de,
        tap: &mut tap,
    })
    .and_then(|value| de.end().map(|()| value));
    match decoded {
        Ok(value) if tap.saw_map => match tap.errcode {
            Some(code) if code != 0 => Err(WeChatError::new(
                code,
                tap.errmsg.map(Text::into_owned).unwrap_or_default(),
            )
            .into()),
            _ => Ok(value),
        },
        Ok(value) => envelope_error(body).map(|()| value),
        Err(error) => {
            envelope_error(body)?;
            Err(error.into())
        }
    }
}

/// The UTF-8 encoding of U+FEFF, which some servers and proxies put before a body.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads the envelope alone: `Err` for a non-zero errcode or a body that is not JSON.
///
/// A body with invalid UTF-8 is read again from a lossy copy, so that a non-zero
/// errcode is not hidden by a badly encoded `errmsg`. The copy is made only on this
/// error path.
fn envelope_error(body: &[u8]) -> Result<(), ResponseError> {
    let envelope: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(error) => {
            if std::str::from_utf8(body).is_ok() {
                return Err(error.into());
            }
            let lossy = String::from_utf8_lossy(body);
            return match serde_json::from_str::<Envelope<'_>>(&lossy) {
                Ok(envelope) if envelope.errcode != 0 => Err(WeChatError::new(
                    envelope.errcode,
                    envelope.errmsg.map(|m| m.into_owned()).unwrap_or_default(),
                )
                .into()),
                // errcode 0 or not JSON at all: the original error says what is wrong.
                _ => Err(error.into()),
            };
        }
    };
    if envelope.errcode != 0 {
        return Err(WeChatError::new(
            envelope.errcode,
            envelope.errmsg.map(|m| m.into_owned()).unwrap_or_default(),
        )
        .into());
    }
    Ok(())
}

/// Appends `value` to `out` as a JSON string, byte for byte as serde_json writes it
/// (raw UTF-8; `"`, `\\` and control characters escaped).
///
/// # Errors
/// Never in practice: the escaping path hands the string to serde_json.
#[inline]
pub(crate) fn write_json_str(value: &str, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    if needs_json_escape(value.as_bytes()) {
        return serde_json::to_writer(out, value);
    }
    out.reserve(value.len() + 2);
    out.push(b'"');
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
    Ok(())
}

/// Whether any byte is a control character, `"` or `\\` (what JSON must escape),
/// looked at eight bytes at a time (the last eight overlapping the ones before).
#[inline]
pub(crate) fn needs_json_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTE: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASH: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACE: u64 = u64::from_ne_bytes([0x20; 8]);
    // Exact tests: "some byte is zero" and "some byte is below 0x20" (0x20 <= 0x80).
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let escape_in = |word: &[u8; 8]| {
        let v = u64::from_ne_bytes(*word);
        (v.wrapping_sub(SPACE) & !v | has_zero(v ^ QUOTE) | has_zero(v ^ BACKSLASH)) & HIGH != 0
    };
    let Some(last) = bytes.last_chunk::<8>() else {
        return bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    };
    let mut chunks = bytes.chunks_exact(8);
    chunks.any(|chunk| chunk.first_chunk::<8>().is_some_and(escape_in)) || escape_in(last)
}

/// Appends `value` to `out` with every byte other than the RFC 3986 unreserved ones
/// (`A-Z a-z 0-9 - . _ ~`) written as `%XX`: for query-string values and the showqrcode
/// ticket.
///
/// Not part of the API: shared with `card-api`, which builds query strings with it.
#[doc(hidden)]
pub fn percent_encode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let encode = |b: u8, out: &mut String| {
        out.push('%');
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    };
    out.reserve(value.len());
    // Runs of unreserved bytes (an access token is one run) are copied whole.
    let mut rest = value;
    loop {
        let at = unreserved_prefix(rest.as_bytes());
        out.push_str(&rest[..at]);
        let Some(&b) = rest.as_bytes().get(at) else {
            return;
        };
        // `at` starts a character (the bytes before it are ASCII); all of its bytes
        // are encoded.
        encode(b, out);
        let mut next = at + 1;
        while !rest.is_char_boundary(next) {
            encode(rest.as_bytes()[next], out);
            next += 1;
        }
        rest = &rest[next..];
    }
}

/// How many bytes at the start of `bytes` are unreserved, eight at a time.
fn unreserved_prefix(bytes: &[u8]) -> usize {
    let ok = |b: &u8| UNRESERVED[usize::from(*b)];
    let mut i = 0;
    while let Some(word) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        if !word.iter().fold(true, |all, b| all & ok(b)) {
            break;
        }
        i += 8;
    }
    i + bytes[i..].iter().take_while(|b| ok(b)).count()
}

/// The RFC 3986 unreserved bytes (`A-Z a-z 0-9 - . _ ~`), which percent-encoding keeps.
static UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrCode;

    #[derive(Serialize)]
    struct Probe;
    #[derive(Deserialize, Debug)]
    struct Out {
        #[serde(default)]
        n: u32,
    }
    impl Endpoint for Probe {
        type Response = Out;
        const METHOD: HttpMethod = HttpMethod::Post;
        const PATH: &'static str = "/probe";
        const REPEATABLE: bool = true;
    }

    /// A response type that is not a map at the top (a newtype over one): the tap never
    /// sees the object, so the envelope is read on its own.
    #[derive(Deserialize, Debug)]
    struct Wrapped(Out);
    struct WrappedProbe;
    impl Serialize for WrappedProbe {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_unit()
        }
    }
    impl Endpoint for WrappedProbe {
        type Response = Wrapped;
        const METHOD: HttpMethod = HttpMethod::Post;
        const PATH: &'static str = "/wrapped";
        const REPEATABLE: bool = true;
    }

    /// A response with a required field.
    #[derive(Deserialize, Debug)]
    struct Strict {
        #[allow(dead_code)]
        must: u32,
    }
    #[derive(Serialize)]
    struct StrictProbe;
    impl Endpoint for StrictProbe {
        type Response = Strict;
        const METHOD: HttpMethod = HttpMethod::Post;
        const PATH: &'static str = "/strict";
        const REPEATABLE: bool = true;
    }

    fn wechat(result: Result<impl std::fmt::Debug, ResponseError>) -> (i64, String) {
        match result {
            Err(ResponseError::WeChat(w)) => (w.code.as_i64(), w.errmsg),
            other => panic!("expected a WeChat error, got {other:?}"),
        }
    }

    #[test]
    fn one_pass_decoding_keeps_every_envelope_rule() {
        // errcode anywhere among the top-level keys, in any accepted spelling
        assert_eq!(
            wechat(decode_response::<Probe>(
                br#"{"n":1,"errmsg":"busy","errcode":-1}"#
            )),
            (-1, "busy".into())
        );
        assert_eq!(
            wechat(decode_response::<Probe>(
                br#"{"errc\u006fde":"40001","errmsg":"a\"b"}"#
            )),
            (40001, "a\"b".into())
        );
        // no errmsg, or a null one
        assert_eq!(
            wechat(decode_response::<Probe>(br#"{"errcode":45009}"#)),
            (45009, String::new())
        );
        assert_eq!(
            wechat(decode_response::<Probe>(
                br#"{"errcode":45009,"errmsg":null}"#
            )),
            (45009, String::new())
        );
        // errcode 0, null or absent: success, and the other keys still reach the type
        for body in [
            &br#"{"errcode":0,"errmsg":"ok","n":3}"#[..],
            br#"{"n":3,"errcode":null}"#,
            br#"{"n":3}"#,
            br#"{"errcode":"0","n":3,"errmsg":"ok"}"#,
        ] {
            assert_eq!(decode_response::<Probe>(body).unwrap().n, 3);
        }
        // an errcode nested deeper is not the envelope
        assert_eq!(
            decode_response::<Probe>(br#"{"x":{"errcode":1},"n":2}"#)
                .unwrap()
                .n,
            2
        );
        // a non-zero errcode wins over a body the type cannot read
        assert_eq!(
            wechat(decode_response::<StrictProbe>(
                br#"{"errcode":40073,"errmsg":"invalid card id"}"#
            )),
            (40073, "invalid card id".into())
        );
        // and over a type that never reads the top-level object
        assert_eq!(
            wechat(decode_response::<WrappedProbe>(
                br#"{"errcode":48001,"errmsg":"api unauthorized","n":1}"#
            )),
            (48001, "api unauthorized".into())
        );
        assert_eq!(
            decode_response::<WrappedProbe>(br#"{"errcode":0,"n":5}"#)
                .unwrap()
                .0
                .n,
            5
        );
        // errcode 0 but the type cannot read the body: a decoding error
        assert!(matches!(
            decode_response::<StrictProbe>(br#"{"errcode":0,"errmsg":"ok"}"#),
            Err(ResponseError::Decode(_))
        ));
        // duplicates, a bad errcode or errmsg, and trailing bytes are decoding errors
        for body in [
            &br#"{"errcode":0,"errcode":40001,"n":1}"#[..],
            br#"{"errmsg":"a","errmsg":"b","n":1}"#,
            br#"{"errcode":"x","n":1}"#,
            br#"{"errcode":[0],"n":1}"#,
            br#"{"errmsg":7,"n":1}"#,
            br#"{"n":1} x"#,
            br#"{"n":1"#,
            b"",
        ] {
            assert!(
                matches!(
                    decode_response::<Probe>(body),
                    Err(ResponseError::Decode(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_byte_order_mark_before_the_json_is_skipped() {
        assert_eq!(
            decode_response::<Probe>(b"\xEF\xBB\xBF{\"errcode\":0,\"n\":4}")
                .unwrap()
                .n,
            4
        );
        assert_eq!(
            wechat(decode_response::<StrictProbe>(
                b"\xEF\xBB\xBF{\"errcode\":45009,\"errmsg\":\"limit\"}"
            )),
            (45009, "limit".into())
        );
        // only one, and only at the start
        for body in [
            &b"\xEF\xBB\xBF\xEF\xBB\xBF{\"n\":1}"[..],
            b" \xEF\xBB\xBF{\"n\":1}",
            b"\xEF\xBB\xBF",
        ] {
            assert!(matches!(
                decode_response::<Probe>(body),
                Err(ResponseError::Decode(_))
            ));
        }
    }

    #[test]
    fn a_non_utf8_errmsg_does_not_hide_the_errcode() {
        // "系统繁忙" in GBK: invalid UTF-8
        let gbk: &[u8] = b"\xCF\xB5\xCD\xB3\xB7\xB1\xC3\xA6";
        let body = [&b"{\"errcode\":40056,\"errmsg\":\""[..], gbk, b"\"}"].concat();
        for result in [
            wechat(decode_response::<Probe>(&body)),
            wechat(decode_response::<StrictProbe>(&body)),
            wechat(decode_response::<WrappedProbe>(&body)),
        ] {
            assert_eq!(result.0, 40056);
            assert_eq!(result.1, String::from_utf8_lossy(gbk));
            assert!(result.1.contains('\u{FFFD}'));
        }
        // errcode 0 with invalid bytes, or invalid bytes that are not JSON: decoding errors
        let ok_body = [&b"{\"errcode\":0,\"errmsg\":\""[..], gbk, b"\",\"n\":1}"].concat();
        assert!(matches!(
            decode_response::<Probe>(&ok_body),
            Err(ResponseError::Decode(_))
        ));
        assert!(matches!(
            decode_response::<Probe>(gbk),
            Err(ResponseError::Decode(_))
        ));
    }

    #[test]
    fn json_escape_detection_matches_a_byte_scan() {
        let slow = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
        for special in [0u8, 0x1f, b'"', b'\\', 0x20, 0x21, 0x7f, 0x80, 0xff, b'a'] {
            for len in 0..20 {
                for at in 0..len {
                    let mut bytes = vec![b'7'; len];
                    bytes[at] = special;
                    assert_eq!(
                        needs_json_escape(&bytes),
                        slow(&bytes),
                        "{special} at {at} of {len}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn json_strings_are_what_serde_json_writes(value in "\\PC{0,24}|[\"\\\\\u{0}-\u{1f}a-z]{0,24}") {
            let mut out = Vec::new();
            write_json_str(&value, &mut out).unwrap();
            proptest::prop_assert_eq!(out, serde_json::to_vec(&value).unwrap());
        }
    }

    /// The byte-at-a-time percent-encoding that [`percent_encode_into`] must match.
    fn percent_encoded_byte_by_byte(value: &str) -> String {
        let mut out = String::new();
        for &b in value.as_bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    #[test]
    fn percent_encoding_copies_runs_and_encodes_every_other_byte() {
        for value in [
            "",
            "abc",
            "%",
            "a b",
            "é",
            "aé",
            "éa",
            "中文",
            "T/ok+1=",
            "~-._",
            "\u{0}\u{7f}\u{10ffff}",
        ] {
            let mut out = String::from("x=");
            percent_encode_into(value, &mut out);
            assert_eq!(out, format!("x={}", percent_encoded_byte_by_byte(value)));
        }
    }

    proptest::proptest! {
        #[test]
        fn percent_encoding_matches_a_byte_by_byte_encoder(value in "\\PC{0,24}|[-._~a-zA-Z0-9%+/= ]{0,40}") {
            let mut out = String::new();
            percent_encode_into(&value, &mut out);
            proptest::prop_assert_eq!(out, percent_encoded_byte_by_byte(&value));
        }
    }

    #[test]
    fn envelope_rules() {
        // absent errcode means success
        assert_eq!(decode_response::<Probe>(br#"{"n":7}"#).unwrap().n, 7);
        // errcode as a string is tolerated
        let e = decode_response::<Probe>(br#"{"errcode":"40001","errmsg":"invalid credential"}"#)
            .unwrap_err();
        match e {
            ResponseError::WeChat(w) => {
                assert_eq!(w.code, ErrCode::InvalidCredential);
                assert_eq!(w.errmsg, "invalid credential");
            }
            other => panic!("{other:?}"),
        }
        // unknown code, escaped errmsg kept verbatim
        let e =
            decode_response::<Probe>(br#"{"errcode":61234,"errmsg":"a\"b rid: 1"}"#).unwrap_err();
        assert!(
            matches!(e, ResponseError::WeChat(ref w) if w.code == ErrCode::Other(61234) && w.errmsg == "a\"b rid: 1")
        );
        // not JSON
        assert!(matches!(
            decode_response::<Probe>(b"<html>"),
            Err(ResponseError::Decode(_))
        ));
    }

    #[test]
    fn body_keeps_utf8() {
        #[derive(Serialize)]
        struct T {
            title: &'static str,
        }
        impl Endpoint for T {
            type Response = Out;
            const METHOD: HttpMethod = HttpMethod::Post;
            const PATH: &'static str = "/t";
            const REPEATABLE: bool = true;
        }
        let body = encode_body(&T {
            title: "惠城优惠"
        })
        .unwrap()
        .unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), r#"{"title":"惠城优惠"}"#);
    }
}
