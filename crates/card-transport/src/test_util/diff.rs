//! Finding the first difference between an expected and an actual request part, and
//! saying where it is.

use serde_json::Value;

/// Longest rendering of a value in a message.
const MAX_SHOWN: usize = 120;

/// Whether a query parameter or JSON field with this name holds a secret whose value must
/// never be printed: any name containing `token`, `secret` or `ticket` (case-insensitive),
/// such as `access_token`, `secret`, `appsecret`, `api_ticket`.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["token", "secret", "ticket"]
        .iter()
        .any(|word| lower.contains(word))
}

/// `value` with the value of every secret-named field replaced by `"[redacted]"`.
pub(crate) fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_name(k) {
                        Value::String("[redacted]".to_owned())
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// `value` rendered as compact JSON, cut to a readable length.
pub(crate) fn show_json(value: &Value) -> String {
    shorten(&value.to_string())
}

/// `text` cut to a readable length.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_SHOWN {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX_SHOWN).collect();
        format!("{cut}…")
    }
}

/// Bytes shown as (lossy) text, quoted, cut to a readable length.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    format!("{:?}", shorten(&String::from_utf8_lossy(bytes)))
}

/// The first difference between two JSON values, as `path: what differs`, where `path`
/// starts at `root` (e.g. `body.card.code`). `None` when they are equal.
///
/// Objects are compared by key, whatever the order; arrays element by element; numbers
/// by value (`1` equals `1.0`); a string never equals a number.
pub(crate) fn first_json_difference(
    expected: &Value,
    actual: &Value,
    root: &str,
) -> Option<String> {
    let mut path = root.to_owned();
    diff_value(expected, actual, &mut path, None)
}

fn diff_value(
    expected: &Value,
    actual: &Value,
    path: &mut String,
    key: Option<&str>,
) -> Option<String> {
    let secret = key.is_some_and(is_secret_name);
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let len = path.len();
                push_key(path, k);
                let found = match a.get(k) {
                    None if is_secret_name(k) => Some(format!("{path}: missing")),
                    None => Some(format!("{path}: missing (expected {})", show_json(ev))),
                    Some(av) => diff_value(ev, av, path, Some(k)),
                };
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    push_key(path, k);
                    return Some(if is_secret_name(k) {
                        format!("{path}: unexpected field")
                    } else {
                        format!("{path}: unexpected field (got {})", show_json(av))
                    });
                }
            }
            None
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!(
                    "{path}: expected {} elements, got {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = diff_value(ev, av, path, key);
                path.truncate(len);
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        (Value::Number(e), Value::Number(a)) if numbers_equal(e, a) => None,
        (e, a) if e == a => None,
        _ if secret => Some(format!("{path}: value differs (not shown: secret)")),
        (e, a) => Some(format!(
            "{path}: expected {}, got {}",
            show_json(e),
            show_json(a)
        )),
    }
}

fn numbers_equal(e: &serde_json::Number, a: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (e.as_i64(), a.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (e.as_u64(), a.as_u64()) {
        return x == y;
    }
    match (e.as_f64(), a.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push_str(&format!("[{key:?}]"));
    }
}

/// The pairs of a query string, percent- and `+`-decoded, in order.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((name, value)) => (decode(name), decode(value)),
            None => (decode(part), String::new()),
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                });
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_difference_is_named_by_path() {
        let e = json!({"action_info": {"card": {"card_id": "p1", "code": "1"}}});
        let a = json!({"action_info": {"card": {"code": "2", "card_id": "p1"}}});
        assert_eq!(
            first_json_difference(&e, &a, "body").as_deref(),
            Some(r#"body.action_info.card.code: expected "1", got "2""#)
        );
    }

    #[test]
    fn key_order_and_number_form_do_not_matter() {
        let e = json!({"a": 1, "b": [1, 2.5]});
        let a: Value = serde_json::from_str(r#"{ "b" : [1.0, 2.5], "a" : 1 }"#).unwrap();
        assert_eq!(first_json_difference(&e, &a, "body"), None);
    }

    #[test]
    fn string_never_equals_number() {
        let e = json!({"n": 1});
        let a = json!({"n": "1"});
        assert_eq!(
            first_json_difference(&e, &a, "body").as_deref(),
            Some(r#"body.n: expected 1, got "1""#)
        );
    }

    #[test]
    fn missing_unexpected_and_array_differences() {
        let e = json!({"a": [1, {"x": 1}]});
        assert_eq!(
            first_json_difference(&e, &json!({}), "body").as_deref(),
            Some("body.a: missing (expected [1,{\"x\":1}])")
        );
        assert_eq!(
            first_json_difference(&e, &json!({"a": [1, {"x": 1}], "z": true}), "body").as_deref(),
            Some("body.z: unexpected field (got true)")
        );
        assert_eq!(
            first_json_difference(&e, &json!({"a": [1]}), "body").as_deref(),
            Some("body.a: expected 2 elements, got 1")
        );
        assert_eq!(
            first_json_difference(&e, &json!({"a": [1, {"x": 2}]}), "body").as_deref(),
            Some("body.a[1].x: expected 1, got 2")
        );
        assert_eq!(
            first_json_difference(&json!({"a b": 1}), &json!({"a b": 2}), "body").as_deref(),
            Some("body[\"a b\"]: expected 1, got 2")
        );
    }

    #[test]
    fn secret_fields_are_not_shown() {
        let msg = first_json_difference(
            &json!({"secret": "S1", "access_token": "T1"}),
            &json!({"secret": "S2"}),
            "body",
        )
        .unwrap();
        assert!(!msg.contains("S1") && !msg.contains("S2"), "{msg}");
        assert!(msg.starts_with("body.access_token: missing") || msg.starts_with("body.secret"));
    }

    #[test]
    fn query_is_decoded() {
        assert_eq!(
            parse_query("a=1&b=x%20y+z&c&d=%E4%B8%AD&e=%zz"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), String::new()),
                ("d".into(), "中".into()),
                ("e".into(), "%zz".into()),
            ]
        );
    }
}
