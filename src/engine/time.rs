//! Time as the engine sees it: given by its driver with every event.

use std::fmt;
use std::num::NonZeroU64;
use std::time::Duration;

/// A point on the monotonic clock, in milliseconds from an arbitrary origin.
///
/// Kept as the milliseconds plus one in a `NonZeroU64`, so that an
/// `Option<Time>` (a ticket has a dozen) takes 8 bytes, not 16: at 10,000
/// tickets every byte of a ticket counts ten thousand times. The last
/// millisecond of the range is given up for it (times saturate below it).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(NonZeroU64);

impl Time {
    /// The latest time there is: adding to a time saturates here.
    pub const MAX_MS: u64 = u64::MAX - 1;

    pub const fn from_ms(ms: u64) -> Time {
        let ms = if ms > Time::MAX_MS { Time::MAX_MS } else { ms };
        match NonZeroU64::new(ms + 1) {
            Some(raw) => Time(raw),
            None => unreachable!(),
        }
    }
    pub const fn ms(self) -> u64 {
        self.0.get() - 1
    }
    pub fn saturating_sub(self, earlier: Time) -> Duration {
        Duration::from_millis(self.ms().saturating_sub(earlier.ms()))
    }
}

impl Default for Time {
    fn default() -> Time {
        Time::from_ms(0)
    }
}

/// As the plain milliseconds (`Time(1500)`), not the stored value.
impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Time({})", self.ms())
    }
}

impl std::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time::from_ms(self.ms().saturating_add(d.as_millis() as u64))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.ms() / 1000, self.ms() % 1000)
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
        self.wall_ms + (t.ms() as i64 - self.mono.ms() as i64)
    }

    /// Monotonic instant of a wall-clock time (Unix seconds), saturating at 0.
    pub fn mono_of_unix(&self, unix_secs: i64) -> Time {
        let delta = unix_secs.saturating_mul(1000) - self.wall_ms;
        Time::from_ms((self.mono.ms() as i64).saturating_add(delta).max(0) as u64)
    }
}
