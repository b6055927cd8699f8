//! One pass over a response body: the response type is decoded while the top-level
//! `errcode`/`errmsg` keys are taken out of the map on the way (a "tap" around the
//! deserializer), so the body is read once on success instead of twice.
//!
//! The tap only sees the top-level object, and only when the response type reads it
//! as a map (every derived struct does). Whenever that is not certain (the response
//! type did not decode, or never asked for the top-level map), [`decode_response`]
//! falls back to reading the envelope on its own, so a non-zero errcode is never missed.
//!
//! [`decode_response`]: crate::decode_response

use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A string read from the body: borrowed when it holds no escape.
#[derive(Debug)]
pub(crate) enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Borrowed(s) => s,
            Self::Owned(s) => s,
        }
    }

    pub(crate) fn into_owned(self) -> String {
        match self {
            Self::Borrowed(s) => s.to_owned(),
            Self::Owned(s) => s,
        }
    }
}

/// What the tap took out of the top-level object.
#[derive(Debug, Default)]
pub(crate) struct Tap<'de> {
    /// Whether the response type read the top-level value as a map.
    pub(crate) saw_map: bool,
    pub(crate) errcode: Option<i64>,
    pub(crate) errmsg: Option<Text<'de>>,
}

/// A deserializer that hands every visitor a [`TapVisitor`].
pub(crate) struct TapDe<'t, 'de, D> {
    pub(crate) inner: D,
    pub(crate) tap: &'t mut Tap<'de>,
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method($($arg,)* TapVisitor { inner: visitor, tap: self.tap })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for TapDe<'_, 'de, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor that passes everything through, except that a map is wrapped in a
/// [`TapMap`].
struct TapVisitor<'t, 'de, V> {
    inner: V,
    tap: &'t mut Tap<'de>,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TapVisitor<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.tap.saw_map = true;
        self.inner.visit_map(TapMap {
            inner: map,
            tap: self.tap,
        })
    }
}

/// The top-level object, minus `errcode` and `errmsg`, which go to the [`Tap`].
struct TapMap<'t, 'de, A> {
    inner: A,
    tap: &'t mut Tap<'de>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for TapMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.inner.next_key_seed(TextSeed)? else {
                return Ok(None);
            };
            match key.as_str() {
                "errcode" => {
                    if self.tap.errcode.is_some() {
                        return Err(de::Error::duplicate_field("errcode"));
                    }
                    self.tap.errcode = Some(self.inner.next_value_seed(IntSeed)?);
                }
                "errmsg" => {
                    if self.tap.errmsg.is_some() {
                        return Err(de::Error::duplicate_field("errmsg"));
                    }
                    self.tap.errmsg = self.inner.next_value_seed(OptTextSeed)?;
                }
                _ => {
                    return match key {
                        Text::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k)),
                        Text::Owned(k) => seed.deserialize(StrDeserializer::new(&k)),
                    }
                    .map(Some);
                }
            }
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Reads a string, borrowing it when the input allows.
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Text<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Text<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text::Owned(v))
    }
}

/// Reads `errmsg`: a string, or `null` for none.
struct OptTextSeed;

impl<'de> DeserializeSeed<'de> for OptTextSeed {
    type Value = Option<Text<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptTextSeed {
    type Value = Option<Text<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        TextSeed.deserialize(d).map(Some)
    }
}

/// Reads `errcode` leniently (a number, a numeric string, or `null` for 0).
struct IntSeed;

impl<'de> DeserializeSeed<'de> for IntSeed {
    type Value = i64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
        crate::lenient::int(d)
    }
}
