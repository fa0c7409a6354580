//! Time as the engine sees it: milliseconds since the Unix epoch, always passed in.
//!
//! The session core never reads a clock; drivers do, through [`Clock`], so tests can run on
//! tokio's paused clock and recorded inputs replay to the same outputs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// This time plus `ms` milliseconds.
    pub fn plus_ms(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn ms_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// The drivers' clock: wall time at start plus tokio's monotonic time since, so that a paused
/// tokio clock (tests) pauses it too.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall_at_start: Timestamp,
    started: tokio::time::Instant,
}

impl Clock {
    /// A clock starting now, at this machine's wall time.
    pub fn new() -> Self {
        Self::starting_at(system_now())
    }

    /// A clock that reads `wall` now (another machine's time: a store's, so that every node
    /// on it tells the same time whatever its own clock says).
    pub fn starting_at(wall: Timestamp) -> Self {
        Self { wall_at_start: wall, started: tokio::time::Instant::now() }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.wall_at_start.plus_ms(self.started.elapsed().as_millis() as u64)
    }

    /// The tokio instant at which `at` is reached (for `sleep_until`).
    pub fn instant_at(&self, at: Timestamp) -> tokio::time::Instant {
        self.started + Duration::from_millis(at.ms_since(self.wall_at_start))
    }
}

/// This machine's wall time.
pub fn system_now() -> Timestamp {
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    Timestamp(wall.as_millis() as u64)
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
