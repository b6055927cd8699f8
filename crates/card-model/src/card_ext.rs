//! `card_ext` and its SHA-1 card signature.
