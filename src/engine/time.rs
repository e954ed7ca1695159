//! Time as the engine sees it: given by its driver with every event.

use std::fmt;
use std::time::Duration;

/// A point on the monotonic clock, in milliseconds from an arbitrary origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    pub fn ms(self) -> u64 {
        self.0
    }
    pub fn saturating_sub(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d.as_millis() as u64))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// The time of an event: the monotonic instant (all protocol timing) and the
/// wall clock at that instant (CIB `expires`, display, handler environment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Clock {
    pub mono: Time,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
}

impl Clock {
    pub fn new(mono: Time, wall_ms: i64) -> Clock {
        Clock { mono, wall_ms }
    }

    /// Wall-clock milliseconds of a monotonic instant, seen from this clock.
    pub fn wall_of(&self, t: Time) -> i64 {
        self.wall_ms + (t.0 as i64 - self.mono.0 as i64)
    }

    /// Monotonic instant of a wall-clock time (Unix seconds), saturating at 0.
    pub fn mono_of_unix(&self, unix_secs: i64) -> Time {
        let delta = unix_secs.saturating_mul(1000) - self.wall_ms;
        Time((self.mono.0 as i64).saturating_add(delta).max(0) as u64)
    }
}
