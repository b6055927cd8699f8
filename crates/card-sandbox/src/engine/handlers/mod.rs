//! The endpoint handlers, one file per group. Each adds methods to
//! [`State`](super::State).

mod admin;
mod cards;
mod codes;
mod messages;
