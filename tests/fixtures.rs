//! Fixture suite (filled by the fixtures issue).
