//! Repair rules for the documented JSON examples.
//!
//! Each rule is small, named and unit-tested. Text rules fix syntax (they only touch text
//! outside string literals, so they change nothing in a document that is already valid);
//! value rules fix values that the API's field types rule out. [`repair_json`] runs every
//! rule in the fixed order of [`TEXT_RULES`] then [`VALUE_RULES`] and records a rule only
//! when it changed something, so the manifest lists exactly the repairs a block needed.

use crate::json::{self, Json, ParseError};

/// A rule that rewrites the raw text of a JSON document.
pub struct TextRule {
    /// Stable name, as written in the manifest.
    pub name: &'static str,
    /// One-line description, as written in the manifest.
    pub description: &'static str,
    /// The rewrite.
    pub apply: fn(&str) -> String,
}

/// A rule that rewrites values of a parsed document; returns whether it changed anything.
pub struct ValueRule {
    /// Stable name, as written in the manifest.
    pub name: &'static str,
    /// One-line description, as written in the manifest.
    pub description: &'static str,
    /// The rewrite.
    pub apply: fn(&mut Json) -> bool,
}

/// Syntax rules, in the order they run.
pub const TEXT_RULES: &[TextRule] = &[
    TextRule {
        name: "line_comment",
        description: "remove a `//` comment (to the end of its line) outside string literals",
        apply: remove_line_comments,
    },
    TextRule {
        name: "nbsp_outside_strings",
        description: "replace U+00A0 NO-BREAK SPACE (from `&nbsp;`) outside string literals with a space",
        apply: nbsp_to_space,
    },
    TextRule {
        name: "fullwidth_comma",
        description: "replace a full-width comma U+FF0C outside string literals with `,`",
        apply: fullwidth_comma,
    },
    TextRule {
        name: "missing_comma",
        description: "insert the `,` missing between two members or elements",
        apply: insert_missing_commas,
    },
];

/// Value rules, in the order they run (after the document parses).
pub const VALUE_RULES: &[ValueRule] = &[
    ValueRule {
        name: "number_as_string",
        description: "a field typed as a number but written as a string of digits becomes the number (`\"1800\"` -> 1800)",
        apply: numbers_from_strings,
    },
    ValueRule {
        name: "id_spaces",
        description: "trim leading/trailing whitespace inside ID values (card_id, code, openid, ticket, username)",
        apply: trim_ids,
    },
    ValueRule {
        name: "url_spaces",
        description: "remove whitespace inside URL values (url, show_qrcode_url, banner, thumb_url): a URL holds no literal space",
        apply: strip_url_whitespace,
    },
];

/// Fields whose documented type is a number.
const NUMBER_FIELDS: &[&str] = &["expire_seconds", "outer_id", "page_id", "count", "errcode"];
/// Fields that hold identifiers (a string, or an array of strings).
const ID_FIELDS: &[&str] = &["card_id", "code", "openid", "ticket", "username"];
/// Fields that hold URLs.
const URL_FIELDS: &[&str] = &["url", "show_qrcode_url", "banner", "thumb_url"];

/// A document that still does not parse after every rule ran.
#[derive(Debug)]
pub struct RepairError {
    /// Rules that changed the text before parsing failed.
    pub applied: Vec<&'static str>,
    /// The strict parser's complaint about the repaired text.
    pub error: ParseError,
}

/// Repairs `text` into a valid document; returns it and the rules that changed something.
pub fn repair_json(text: &str) -> Result<(Json, Vec<&'static str>), RepairError> {
    let mut applied = Vec::new();
    let mut current = text.to_owned();
    for rule in TEXT_RULES {
        let next = (rule.apply)(&current);
        if next != current {
            applied.push(rule.name);
            current = next;
        }
    }
    let mut value = match json::parse(&current) {
        Ok(value) => value,
        Err(error) => return Err(RepairError { applied, error }),
    };
    for rule in VALUE_RULES {
        if (rule.apply)(&mut value) {
            applied.push(rule.name);
        }
    }
    Ok((value, applied))
}

/// Splits `text` into runs outside and inside string literals and feeds each character
/// outside strings to `outside`; string literals (with their quotes) are copied unchanged.
fn map_outside_strings(text: &str, mut outside: impl FnMut(char, &mut String)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else {
            outside(c, &mut out);
        }
    }
    out
}

fn nbsp_to_space(text: &str) -> String {
    map_outside_strings(text, |c, out| out.push(if c == '\u{a0}' { ' ' } else { c }))
}

fn fullwidth_comma(text: &str) -> String {
    map_outside_strings(text, |c, out| {
        out.push(if c == '\u{ff0c}' { ',' } else { c })
    })
}

fn remove_line_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            while chars.next_if(|&n| n != '\n').is_some() {}
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// What the last significant token outside strings was.
#[derive(Clone, Copy)]
enum Last {
    /// Nothing yet, or something this rule does not understand.
    Other,
    /// `{`, `[`, `:` or `,`: a value or key may follow.
    Separator,
    /// The end of a value (string, number, literal, `}` or `]`), at this byte offset.
    ValueEnd(usize),
}

fn insert_missing_commas(text: &str) -> String {
    let mut inserts = Vec::new();
    let mut depth = 0usize;
    let mut last = Last::Other;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let starts_value =
            c == '"' || c == '{' || c == '[' || c == '-' || c.is_ascii_alphanumeric();
        match last {
            Last::ValueEnd(end) if starts_value && depth > 0 => inserts.push(end),
            _ => {}
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                let mut escaped = false;
                let mut end = text.len();
                for (j, s) in iter.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if s == '\\' {
                        escaped = true;
                    } else if s == '"' {
                        end = j + 1;
                        break;
                    }
                }
                last = Last::ValueEnd(end);
            }
            '{' | '[' => {
                depth += 1;
                last = Last::Separator;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                last = Last::ValueEnd(i + 1);
            }
            ':' | ',' => last = Last::Separator,
            c if starts_value => {
                let mut end = i + c.len_utf8();
                while let Some((j, n)) = iter
                    .next_if(|&(_, n)| n.is_ascii_alphanumeric() || matches!(n, '+' | '-' | '.'))
                {
                    end = j + n.len_utf8();
                }
                last = Last::ValueEnd(end);
            }
            _ => last = Last::Other,
        }
    }
    let mut out = String::with_capacity(text.len() + inserts.len());
    let mut from = 0;
    for at in inserts {
        out.push_str(&text[from..at]);
        out.push(',');
        from = at;
    }
    out.push_str(&text[from..]);
    out
}

/// Calls `f` on every object member (key, value) of `value`, depth first; true if any
/// call returned true.
fn for_each_member(value: &mut Json, f: &mut impl FnMut(&str, &mut Json) -> bool) -> bool {
    let mut changed = false;
    match value {
        Json::Object(members) => {
            for (key, item) in members.iter_mut() {
                changed |= f(key, item);
                changed |= for_each_member(item, f);
            }
        }
        Json::Array(items) => {
            for item in items.iter_mut() {
                changed |= for_each_member(item, f);
            }
        }
        _ => {}
    }
    changed
}

/// Applies `f` to a string value, or to each string of an array value.
fn map_strings(value: &mut Json, f: &impl Fn(&str) -> String) -> bool {
    match value {
        Json::String(s) => {
            let new = f(s);
            let changed = new != *s;
            *s = new;
            changed
        }
        Json::Array(items) => items
            .iter_mut()
            .fold(false, |acc, item| map_strings(item, f) | acc),
        _ => false,
    }
}

fn numbers_from_strings(value: &mut Json) -> bool {
    for_each_member(value, &mut |key, item| {
        if !NUMBER_FIELDS.contains(&key) {
            return false;
        }
        let Json::String(s) = item else {
            return false;
        };
        let digits = s.trim();
        let is_integer = json::number_len(digits) == Some(digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'-');
        if is_integer {
            *item = Json::Number(digits.to_owned());
        }
        is_integer
    })
}

fn trim_ids(value: &mut Json) -> bool {
    for_each_member(value, &mut |key, item| {
        ID_FIELDS.contains(&key) && map_strings(item, &|s| s.trim().to_owned())
    })
}

fn strip_url_whitespace(value: &mut Json) -> bool {
    for_each_member(value, &mut |key, item| {
        URL_FIELDS.contains(&key)
            && map_strings(item, &|s| {
                s.chars().filter(|c| !c.is_whitespace()).collect()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Json {
        json::parse(text).expect("test input is valid JSON")
    }

    #[test]
    fn line_comment_removed_outside_strings_only() {
        assert_eq!(
            remove_line_comments("{\"t\": \"a//b\",//获取ticket后\n\"n\": 1}"),
            "{\"t\": \"a//b\",\n\"n\": 1}"
        );
        assert_eq!(
            remove_line_comments("{\"u\": \"http://x\"}"),
            "{\"u\": \"http://x\"}"
        );
    }

    #[test]
    fn nbsp_replaced_outside_strings_only() {
        assert_eq!(
            nbsp_to_space("{\"outer_id\"\u{a0}: 1, \"s\": \"a\u{a0}b\"}"),
            "{\"outer_id\" : 1, \"s\": \"a\u{a0}b\"}"
        );
    }

    #[test]
    fn fullwidth_comma_replaced_outside_strings_only() {
        assert_eq!(
            fullwidth_comma("{\"errmsg\":\"ok\"\u{ff0c}\n\"t\":\"a\u{ff0c}b\"}"),
            "{\"errmsg\":\"ok\",\n\"t\":\"a\u{ff0c}b\"}"
        );
    }

    #[test]
    fn missing_comma_inserted_between_members() {
        assert_eq!(
            insert_missing_commas(
                "{\n\"errcode\":0,\n\"errmsg\":\"ok\"\n\"exist_code\":[\"1\"]\n}"
            ),
            "{\n\"errcode\":0,\n\"errmsg\":\"ok\",\n\"exist_code\":[\"1\"]\n}"
        );
        assert_eq!(
            insert_missing_commas("[1 \"a\" {} [] true]"),
            "[1, \"a\", {}, [], true]"
        );
        assert_eq!(
            insert_missing_commas("{\"a\": {\"b\": 1}\n\"c\": 2}"),
            "{\"a\": {\"b\": 1},\n\"c\": 2}"
        );
    }

    #[test]
    fn missing_comma_leaves_valid_documents_alone() {
        let valid = "{ \"a\" : [ 1 , -2.5e3 , \"x\\\"y\" ] , \"b\" : { } , \"c\" : null }";
        assert_eq!(insert_missing_commas(valid), valid);
    }

    #[test]
    fn number_as_string_only_for_number_fields() {
        let mut v = value(
            r#"{"card": {"expire_seconds": "1800", "code": "198374613512"}, "outer_id": "x"}"#,
        );
        assert!(numbers_from_strings(&mut v));
        assert_eq!(
            v,
            value(r#"{"card": {"expire_seconds": 1800, "code": "198374613512"}, "outer_id": "x"}"#)
        );
        let mut unchanged = value(r#"{"expire_seconds": 1800, "count": "12.5"}"#);
        assert!(!numbers_from_strings(&mut unchanged));
    }

    #[test]
    fn id_spaces_trimmed_in_strings_and_arrays() {
        let mut v = value(
            r#"{"card_id": " pDF3iY0_dVjb_Pua96MMewA96qvA ", "code": [" 1", "2 "], "name": " x "}"#,
        );
        assert!(trim_ids(&mut v));
        assert_eq!(
            v,
            value(
                r#"{"card_id": "pDF3iY0_dVjb_Pua96MMewA96qvA", "code": ["1", "2"], "name": " x "}"#
            )
        );
        assert!(!trim_ids(&mut v));
    }

    #[test]
    fn url_spaces_removed() {
        let mut v = value(
            r#"{"banner": "http://mmbiz.qpic.cn/mmbiz/iaL1LJM1mF9aRKPZJkmG8xXhiaHqkKSVMMWeN3hLut7X7h  icFN",
                "url": "http://weixin.qq.com/q/BHWya_zlfioH6fXeL16o ",
                "show_qrcode_url": " https://mp.weixin.qq.com/cgi-bin/showqrcode?  ticket=gQH98D%3D%3D",
                "content": "http: //x"}"#,
        );
        assert!(strip_url_whitespace(&mut v));
        assert_eq!(
            v,
            value(
                r#"{"banner": "http://mmbiz.qpic.cn/mmbiz/iaL1LJM1mF9aRKPZJkmG8xXhiaHqkKSVMMWeN3hLut7X7hicFN",
                "url": "http://weixin.qq.com/q/BHWya_zlfioH6fXeL16o",
                "show_qrcode_url": "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH98D%3D%3D",
                "content": "http: //x"}"#
            )
        );
    }

    #[test]
    fn repair_records_only_rules_that_changed_something() {
        let (v, applied) = repair_json("{\"a\": 1}\n").expect("valid");
        assert_eq!(v, value("{\"a\": 1}"));
        assert!(applied.is_empty());

        let src = "{\n\"expire_seconds\": \"1800\"\u{ff0c}\n\"outer_id\"\u{a0}: 1 // note\n\"card_id\": \" x \"\n}";
        let (v, applied) = repair_json(src).expect("repairable");
        assert_eq!(
            applied,
            [
                "line_comment",
                "nbsp_outside_strings",
                "fullwidth_comma",
                "missing_comma",
                "number_as_string",
                "id_spaces"
            ]
        );
        assert_eq!(
            v,
            value(r#"{"expire_seconds": 1800, "outer_id": 1, "card_id": "x"}"#)
        );
    }

    #[test]
    fn unrepairable_document_reports_the_parse_error() {
        let err = repair_json("{\"a\": 1,}").expect_err("trailing comma is not repaired");
        assert!(err.applied.is_empty());
        assert!(err.error.message.contains("member name"));
    }
}
