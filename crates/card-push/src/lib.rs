//! # card-push
//!
//! Receiving the pushes WeChat sends to a merchant's callback server (the
//! `user_get_card` event and others): URL verification, signature checks, decryption
//! in safe mode, de-duplication of WeChat's retries, and the answers that stop them.
//! Pure: no I/O and no web framework in the default features.
#![deny(missing_docs)]

pub mod dedup;

pub use dedup::{AsyncDedupStore, DedupError, DedupKey, DedupStore};
