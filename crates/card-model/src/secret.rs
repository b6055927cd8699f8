//! Secret newtypes: the access token, the app secret and the card api_ticket.
//!
//! Their `Debug` and `Display` print `[redacted]`, so a secret cannot reach a log or an
//! error message by accident; reading the value takes an explicit [`AccessToken::expose`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself. Call it only where the value goes on the wire.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self)
            }
        }
    };
}

secret_type!(
    /// An `access_token`: the credential every API call carries in its query string.
    /// It lives 7200 s and fetching a new one invalidates the old one (after 5 minutes).
    AccessToken
);
secret_type!(
    /// An Official Account's `AppSecret`, used only to fetch access tokens.
    AppSecret
);
secret_type!(
    /// The card `api_ticket` (`/cgi-bin/ticket/getticket?type=wx_card`), used only to sign
    /// `card_ext`. Not the JS-SDK `jsapi_ticket`.
    ApiTicket
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let t = AccessToken::new("TOKEN-abc");
        let s = AppSecret::new("SECRET-xyz");
        let k = ApiTicket::new("TICKET-123");
        for shown in [
            format!("{t:?}"),
            format!("{t}"),
            format!("{s:?}"),
            format!("{s}"),
            format!("{k:?}"),
            format!("{k:#?}"),
        ] {
            assert!(shown.contains("[redacted]"), "{shown}");
            assert!(!shown.contains("abc") && !shown.contains("xyz") && !shown.contains("123"));
        }
        assert_eq!(t.expose(), "TOKEN-abc");
    }
}
