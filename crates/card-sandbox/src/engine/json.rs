//! JSON and query-string helpers: lenient reads of request fields, the WeChat answer
//! envelope, and the error a handler returns.

use super::Reply;
use card_model::ErrCode;
use card_transport::HttpResponse;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// An errcode and errmsg a handler answers.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) code: ErrCode,
    pub(crate) msg: Cow<'static, str>,
    /// Extra fields (45065 carries the earlier `msg_id`).
    pub(crate) extra: Option<(&'static str, Value)>,
}

/// An [`ApiError`] without extra fields.
pub(crate) fn err(code: ErrCode, msg: impl Into<Cow<'static, str>>) -> ApiError {
    ApiError {
        code,
        msg: msg.into(),
        extra: None,
    }
}

/// 40097 "invalid args: {what}".
pub(crate) fn invalid_args(what: impl std::fmt::Display) -> ApiError {
    err(ErrCode::InvalidArgs, format!("invalid args: {what}"))
}

/// 41011 "data format error: missing {what}".
pub(crate) fn missing(what: &str) -> ApiError {
    err(
        ErrCode::MissingField,
        format!("data format error: missing {what}"),
    )
}

/// A handler's answer: the fields of a success body, or an error.
pub(crate) type Answer = Result<Map<String, Value>, ApiError>;

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a query component (`+` is a space).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of `name` in a query string.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// An integer written as a number or a string holding one.
pub(crate) fn lenient_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-negative integer written as a number or a string holding one.
pub(crate) fn lenient_u64(v: &Value) -> Option<u64> {
    lenient_i64(v).and_then(|n| u64::try_from(n).ok())
}

/// A boolean written as `true`/`false`, `"true"`/`"false"` or 0/1.
pub(crate) fn lenient_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A field that is absent or null reads as `None`.
pub(crate) fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An optional string field; a number is read as its decimal text (lenient).
pub(crate) fn opt_string(
    obj: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, ApiError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid_args(key)),
    }
}

/// A required, non-empty string field.
pub(crate) fn req_string(obj: &Map<String, Value>, key: &'static str) -> Result<String, ApiError> {
    match opt_string(obj, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(missing(key)),
    }
}

/// An optional object field; `Err(())` when it holds something else.
pub(crate) fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, ()> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(()),
    }
}

/// Reads a code: a non-empty string, or an integer (lenient).
pub(crate) fn code_of(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// A success body: `fields` plus `errcode` 0 and `errmsg`.
pub(crate) fn ok_with(mut fields: Map<String, Value>, errmsg: &str) -> Map<String, Value> {
    fields.insert("errcode".into(), 0.into());
    fields.insert("errmsg".into(), errmsg.into());
    fields
}

/// A JSON response with this HTTP status.
pub(crate) fn json_response(status: u16, body: &Value) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = HttpResponse::new(bytes);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The HTTP 200 answer of a handler; an error's `errmsg` ends with a request id.
pub(crate) fn respond(answer: Answer, rid: u64) -> Reply {
    let body = match answer {
        Ok(fields) => Value::Object(fields),
        Err(e) => {
            let mut m = Map::new();
            m.insert("errcode".into(), e.code.as_i64().into());
            m.insert(
                "errmsg".into(),
                format!("{} rid: sbx-{rid:08x}", e.msg).into(),
            );
            if let Some((k, v)) = e.extra {
                m.insert(k.into(), v);
            }
            Value::Object(m)
        }
    };
    Reply::Respond(json_response(200, &body))
}

/// Parses a POST body as a JSON object, leniently: any JSON object goes.
pub(crate) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(err(ErrCode::EmptyPostData, "empty post data"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(err(ErrCode::DataFormatError, "data format error")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_params_decode() {
        let q = Some("access_token=a%2Bb%3D&type=wx_card&x&secret=s+t&bad=%zz%4");
        assert_eq!(query_param(q, "access_token").as_deref(), Some("a+b="));
        assert_eq!(query_param(q, "type").as_deref(), Some("wx_card"));
        assert_eq!(query_param(q, "x").as_deref(), Some(""));
        assert_eq!(query_param(q, "secret").as_deref(), Some("s t"));
        assert_eq!(query_param(q, "bad").as_deref(), Some("%zz%4"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param(None, "type"), None);
    }

    #[test]
    fn lenient_reads() {
        assert_eq!(lenient_i64(&json!("1800")), Some(1800));
        assert_eq!(lenient_i64(&json!(1800)), Some(1800));
        assert_eq!(lenient_i64(&json!(18.5)), None);
        assert_eq!(lenient_u64(&json!(-1)), None);
        assert_eq!(lenient_bool(&json!("true")), Some(true));
        assert_eq!(lenient_bool(&json!(0)), Some(false));
        assert_eq!(lenient_bool(&json!([])), None);
    }
}
