//! Lenient deserializers for what WeChat (and its documentation) really sends: numbers
//! written as strings (`"expire_seconds": "1800"`, `"tag_id": "2"`), and the reverse.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, or a string holding one")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v >= i64::MIN as f64 && v <= i64::MAX as f64 {
            Ok(v as i64)
        } else {
            Err(E::custom("not an integer"))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
    fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
        Ok(0)
    }
}

/// An integer written as a number or as a string; `null` reads as 0.
///
/// # Errors
/// When the value is neither.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(IntVisitor)
}

/// Like [`int`] for an optional field (`#[serde(default, deserialize_with = ...)]`).
///
/// # Errors
/// When the value is neither a number nor a numeric string.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(IntVisitor).map(Some)
}

/// A `u32` written as a number or as a string.
///
/// # Errors
/// When the value is neither, or out of range.
pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = int(d)?;
    u32::try_from(v).map_err(|_| de::Error::custom(format!("{v} is out of range for u32")))
}

/// Like [`u32`](fn@u32) for an optional field.
///
/// # Errors
/// When the value is neither a number nor a numeric string, or out of range.
pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    u32(d).map(Some)
}

/// A `u64` written as a number or as a string.
///
/// # Errors
/// When the value is neither, or negative.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = int(d)?;
    u64::try_from(v).map_err(|_| de::Error::custom(format!("{v} is negative")))
}
