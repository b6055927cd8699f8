//! Transports for tests (filled in by the transport issue).
