//! The sandbox's clock: the system clock shifted by an offset, or a manual clock that
//! moves only when told. Token expiry and event `CreateTime` read it.

use std::time::{SystemTime, UNIX_EPOCH};

/// How the sandbox tells the time (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The system clock plus an offset in seconds (which
    /// [`Sandbox::advance`](crate::Sandbox::advance) grows).
    System {
        /// Seconds added to the system time.
        offset: i64,
    },
    /// A clock that stands still at this time until set or advanced: token expiry is
    /// testable without sleeping.
    Manual {
        /// The current time, Unix seconds.
        now: i64,
    },
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::System { offset: 0 }
    }

    /// A manual clock starting at `now` (Unix seconds).
    pub fn manual(now: i64) -> Self {
        Self::Manual { now }
    }

    /// The current time, Unix seconds.
    pub fn now(&self) -> i64 {
        match *self {
            Self::System { offset } => system_now().saturating_add(offset),
            Self::Manual { now } => now,
        }
    }

    /// Moves the clock forward (or back, with a negative value).
    pub fn advance(&mut self, secs: i64) {
        match self {
            Self::System { offset } => *offset = offset.saturating_add(secs),
            Self::Manual { now } => *now = now.saturating_add(secs),
        }
    }
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
