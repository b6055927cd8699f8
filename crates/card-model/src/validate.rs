//! Validation errors: what was wrong with a request before anything was sent.
//!
//! Every documented limit of the API is checked by the request type's
//! [`Endpoint::validate`](crate::Endpoint::validate) and reported as a [`ValidationError`]
//! that names the field, the limit and the size of the value that broke it.

use crate::limits::MAX_CARD_ID_CHARS;
use std::fmt;

/// A request that breaks a documented limit; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationError {
    /// The JSON path of the offending field, for example `code[3]` or
    /// `action_info.card.card_id`.
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A required string is empty (or only white space).
    Empty,
    /// A string is longer than the documented maximum (`string(N)`), counted in
    /// characters.
    TooLong {
        /// The documented maximum.
        max: usize,
        /// The value's length.
        actual: usize,
    },
    /// A string is longer than its documented maximum size in bytes (UTF-8), for the
    /// few limits WeChat counts in bytes (`clientmsgid`).
    TooManyBytes {
        /// The documented maximum, in bytes.
        max: usize,
        /// The value's size, in bytes.
        actual: usize,
    },
    /// A list holds fewer items than required.
    TooFew {
        /// The minimum number of items.
        min: usize,
        /// The number given.
        actual: usize,
    },
    /// A list holds more items than allowed.
    TooMany {
        /// The maximum number of items.
        max: usize,
        /// The number given.
        actual: usize,
    },
    /// A number lies outside its documented range.
    OutOfRange {
        /// The smallest allowed value.
        min: i64,
        /// The largest allowed value.
        max: i64,
        /// The value given.
        actual: i64,
    },
    /// A value is not allowed for another reason, described here.
    Invalid(&'static str),
}

impl ValidationError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, problem: Problem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match &self.problem {
            Problem::Empty => write!(f, "{field}: must not be empty"),
            Problem::TooLong { max, actual } => {
                write!(f, "{field}: {actual} characters, at most {max} allowed")
            }
            Problem::TooManyBytes { max, actual } => {
                write!(f, "{field}: {actual} bytes (UTF-8), at most {max} allowed")
            }
            Problem::TooFew { min, actual } => {
                write!(f, "{field}: {actual} items, at least {min} required")
            }
            Problem::TooMany { max, actual } => {
                write!(f, "{field}: {actual} items, at most {max} allowed")
            }
            Problem::OutOfRange { min, max, actual } => {
                write!(f, "{field}: {actual} is outside {min}..={max}")
            }
            Problem::Invalid(why) => write!(f, "{field}: {why}"),
        }
    }
}

impl std::error::Error for ValidationError {}

/// Checks that `value` is not empty or blank.
pub(crate) fn non_empty(field: &str, value: &str) -> Result<(), ValidationError> {
    // A visible ASCII first byte settles it without trimming.
    if value.as_bytes().first().is_some_and(u8::is_ascii_graphic) {
        return Ok(());
    }
    if value.trim().is_empty() {
        Err(ValidationError::new(field, Problem::Empty))
    } else {
        Ok(())
    }
}

/// Checks that `value` has at most `max` characters.
pub(crate) fn max_chars(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    // Byte length bounds the char count from above: skip counting for short ASCII.
    if value.len() <= max {
        return Ok(());
    }
    let actual = value.chars().count();
    if actual > max {
        Err(ValidationError::new(
            field,
            Problem::TooLong { max, actual },
        ))
    } else {
        Ok(())
    }
}

/// Checks that `value` is non-empty and has at most `max` characters.
pub(crate) fn required(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    non_empty(field, value)?;
    max_chars(field, value, max)
}

/// Checks that a list has between `min` and `max` items.
pub(crate) fn count(
    field: &str,
    actual: usize,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    if actual < min {
        Err(ValidationError::new(field, Problem::TooFew { min, actual }))
    } else if actual > max {
        Err(ValidationError::new(
            field,
            Problem::TooMany { max, actual },
        ))
    } else {
        Ok(())
    }
}

/// Checks that `actual` lies in `min..=max`.
pub(crate) fn range(field: &str, actual: i64, min: i64, max: i64) -> Result<(), ValidationError> {
    if (min..=max).contains(&actual) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            Problem::OutOfRange { min, max, actual },
        ))
    }
}

/// Checks every item of a list with [`required`], naming the failing item `field[i]`.
/// The indexed name is only built on failure.
pub(crate) fn each_required(
    field: &str,
    items: &[String],
    max: usize,
) -> Result<(), ValidationError> {
    for (i, item) in items.iter().enumerate() {
        // What settles [`required`] for a usual code, inline: a visible ASCII first
        // byte and at most `max` bytes.
        let bytes = item.as_bytes();
        if bytes.len() <= max && bytes.first().is_some_and(u8::is_ascii_graphic) {
            continue;
        }
        required(field, item, max)
            .map_err(|e| ValidationError::new(format!("{field}[{i}]"), e.problem))?;
    }
    Ok(())
}

/// Checks an optional string: absent is fine, present must be non-empty and short enough.
pub(crate) fn optional(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<(), ValidationError> {
    match value {
        Some(v) => required(field, v, max),
        None => Ok(()),
    }
}

/// Checks a `card_id`: non-empty, at most [`MAX_CARD_ID_CHARS`], no white space (a card
/// ID never holds any, and one padded with spaces would name another card).
pub(crate) fn card_id(field: &str, value: &str) -> Result<(), ValidationError> {
    required(field, value, MAX_CARD_ID_CHARS)?;
    // For ASCII, `char::is_whitespace` is exactly these bytes: space, \t, \n, \x0b,
    // \x0c and \r.
    let white = if value.is_ascii() {
        value.bytes().any(|b| matches!(b, b' ' | b'\t'..=b'\r'))
    } else {
        value.chars().any(char::is_whitespace)
    };
    if white {
        return Err(ValidationError::new(
            field,
            crate::Problem::Invalid("a card ID must not contain white space"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_ids_with_white_space_are_refused_ascii_or_not() {
        for c in (0..=0x7f_u8)
            .map(char::from)
            .chain(['\u{85}', '\u{a0}', '\u{3000}', 'é'])
        {
            for id in [
                format!("{c}p1"),
                format!("p{c}1"),
                format!("p1{c}"),
                format!("中{c}"),
            ] {
                let refused = card_id("card_id", &id).is_err();
                let expected = id.chars().any(char::is_whitespace) || non_empty("", &id).is_err();
                assert_eq!(refused, expected, "{id:?}");
            }
        }
    }

    #[test]
    fn every_item_is_checked_whatever_its_first_byte() {
        let items: Vec<String> = [
            "1",
            "é",
            "\u{3000}",
            "",
            " ",
            "a".repeat(21).as_str(),
            "中".repeat(20).as_str(),
            "中".repeat(21).as_str(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for (i, item) in items.iter().enumerate() {
            let alone = required("code", item, 20).map_err(|e| e.problem);
            let mut list = vec!["ok".to_owned(); 3];
            list.insert(1, item.clone());
            let listed = each_required("code", &list, 20);
            match alone {
                Ok(()) => assert!(listed.is_ok(), "{i}: {item:?}"),
                Err(problem) => assert_eq!(
                    listed,
                    Err(ValidationError::new("code[1]", problem)),
                    "{i}: {item:?}"
                ),
            }
        }
    }

    #[test]
    fn messages_name_field_limit_and_size() {
        let e = count("code", 101, 1, 100).unwrap_err();
        assert_eq!(e.to_string(), "code: 101 items, at most 100 allowed");
        let e = range("expire_seconds", 59, 60, 1800).unwrap_err();
        assert_eq!(e.to_string(), "expire_seconds: 59 is outside 60..=1800");
        let e = max_chars("card_id", &"x".repeat(33), 32).unwrap_err();
        assert_eq!(e.to_string(), "card_id: 33 characters, at most 32 allowed");
        assert!(max_chars("title", "惠城优惠大派送", 7).is_ok());
        assert_eq!(
            non_empty("code[2]", " ").unwrap_err().to_string(),
            "code[2]: must not be empty"
        );
    }
}
