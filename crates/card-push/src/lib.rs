//! # card-push
//!
//! Receiving the pushes WeChat sends to a merchant's callback server (the
//! `user_get_card` event and others): URL verification, signature checks, decryption
//! in the encrypted modes, de-duplication of WeChat's retries, and the answers that stop
//! them. Pure: no I/O and no web framework in the default features; the `axum` feature
//! adds a ready handler.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use card_model::event::{Event, UserGetCard};
//! use card_push::{
//!     DedupStore, EncodingAesKey, MemoryDedupStore, PushConfig, PushQuery, SUCCESS, Token,
//!     DEFAULT_DEDUP_TTL, testing::PushRequest,
//! };
//!
//! let config = PushConfig::safe(
//!     Token::new("token")?,
//!     EncodingAesKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?,
//!     "wx2c2769f8efd9abc2",
//! )?;
//! let seen = MemoryDedupStore::default();
//!
//! // What the web server receives: the raw query string and the body.
//! let request = PushRequest::for_claim(&config, &UserGetCard::new("gh_1", "o1", 1_700_000_000, "p1"))?;
//! let push = config.open(&PushQuery::parse(request.query_string())?, request.body().as_bytes())?;
//! if seen.first_seen(push.dedup_key(), DEFAULT_DEDUP_TTL)? {
//!     if let Event::UserGetCard(claim) = push.event() {
//!         assert_eq!(claim.card_id, "p1");
//!     }
//! }
//! let answer = SUCCESS; // HTTP 200 with this body stops WeChat's retries.
//! # assert_eq!(answer, "success");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod config;
pub mod crypto;
pub mod dedup;
mod error;
mod open;
mod signature;
pub mod testing;

#[cfg(feature = "axum")]
pub mod axum;

pub use config::{ConfigError, DEFAULT_MAX_BODY_BYTES, EncodingAesKey, Mode, PushConfig, Token};
pub use dedup::{
    AsyncDedupStore, DEFAULT_DEDUP_CAPACITY, DEFAULT_DEDUP_TTL, DedupError, DedupKey, DedupStore,
    MemoryDedupStore,
};
pub use error::PushError;
pub use open::{MAX_QUERY_BYTES, Push, PushQuery, SUCCESS, random_bytes};
