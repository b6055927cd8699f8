//! Test whitelist: `POST /card/testwhitelist/set`.
//!
//! Whitelisted accounts may claim cards that are not yet approved. Each call replaces
//! the whole list, so always send the complete list.
//!
//! ```
//! use card_model::{Ack, Endpoint, whitelist::SetTestWhitelist};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let req = SetTestWhitelist::new(
//!     vec!["o1Pj9jmZvwSyyyyyyBa4aULW2mA".into()],
//!     vec!["afdvvf".into(), "abcd".into()],
//! );
//! req.validate()?;
//! let ack: Ack = card_model::decode_response::<SetTestWhitelist>(br#"{"errcode":0,"errmsg":"ok"}"#)?;
//! assert_eq!(ack, Ack::default());
//! # Ok(())
//! # }
//! ```

use crate::limits::{MAX_OPENID_CHARS, MAX_USERNAME_CHARS, MAX_WHITELIST_ENTRIES};
use crate::validate::each_required;
use crate::{Ack, Endpoint, HttpMethod, ValidationError};
use serde::{Deserialize, Serialize};

/// `POST /card/testwhitelist/set`: replaces the test whitelist.
///
/// An empty list is left out of the body. Replaces, so repeatable.
///
/// Validation: at most [`MAX_WHITELIST_ENTRIES`] entries in `openid` and `username`
/// together (reported on the field `openid+username`); every entry non-empty; an
/// `openid` at most [`MAX_OPENID_CHARS`] (32) characters, a `username` at most
/// [`MAX_USERNAME_CHARS`] (32). (WeChat's table once typed a whitelist `openid` as
/// `string(20)`; real OpenIDs have 28 characters, so the OpenID limit used everywhere
/// else applies.) A request
/// with no entry at all is accepted: the call replaces the list, and an empty list is
/// the only way to express "no test accounts" (WeChat may still refuse it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SetTestWhitelist {
    /// Test OpenIDs (`openid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openid: Vec<String>,
    /// Test WeChat IDs (`username`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub username: Vec<String>,
}

impl SetTestWhitelist {
    /// A whitelist of these OpenIDs and WeChat IDs.
    pub fn new(openid: Vec<String>, username: Vec<String>) -> Self {
        Self { openid, username }
    }
}

impl Endpoint for SetTestWhitelist {
    type Response = Ack;
    const METHOD: HttpMethod = HttpMethod::Post;
    const PATH: &'static str = "/card/testwhitelist/set";
    const REPEATABLE: bool = true;

    fn validate(&self) -> Result<(), ValidationError> {
        crate::validate::count(
            "openid+username",
            self.openid.len() + self.username.len(),
            0,
            MAX_WHITELIST_ENTRIES,
        )?;
        each_required("openid", &self.openid, MAX_OPENID_CHARS)?;
        each_required("username", &self.username, MAX_USERNAME_CHARS)
    }
}
