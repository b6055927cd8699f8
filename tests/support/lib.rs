//! Shared helpers for the workspace integration tests.

pub mod canned;
pub mod clients;
