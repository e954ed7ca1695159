//! A hierarchical timer wheel for the daemon's deadlines.
//!
//! Four levels of 64 slots each: 16 ms, 1 s, 65 s and 70 min per slot, so a
//! deadline up to about 3 days away is placed in O(1), and anything further
//! waits in the last level. The loop asks for [`TimerWheel::next_wakeup`]
//! and sleeps until then; that instant is exact (the tick of the earliest
//! live timer), so an idle daemon wakes only when a timer is due: not at
//! the points where a far timer cascades to a lower level, and never for
//! a cancelled one (cancelling removes the entry from its slot, in time
//! proportional to the timers sharing that slot, a handful in the daemon).

use std::collections::HashMap;

/// Milliseconds of the daemon's clock (see [`BootClock`]).
pub type Ms = u64;

const SLOTS: usize = 64;
const LEVELS: usize = 4;
/// Granularity of level 0, in milliseconds (a power of two).
const TICK_SHIFT: u32 = 4;
/// Each level's slot spans 64 slots of the level below.
const LEVEL_SHIFT: u32 = 6;

/// Identifies a timer so it can be cancelled.
pub type TimerId = u64;

/// The tick at or after `at`: timers may fire up to a tick late, never early.
fn ceil_tick(at: Ms) -> u64 {
    at.div_ceil(1 << TICK_SHIFT)
}

#[derive(Clone, Copy, Debug)]
struct Entry<T> {
    id: TimerId,
    at: Ms,
    what: T,
}

/// Timers carrying a value `T` (what to do when they fire).
pub struct TimerWheel<T> {
    /// Boxed: 6 kB inline would make the loop's own struct, and each
    /// copy of it on the stack while the daemon starts, that much bigger
    /// (the stack pages start-up touches stay resident for good).
    levels: Box<[[Vec<Entry<T>>; SLOTS]]>,
    /// Occupancy bit per slot, to find the next non-empty slot quickly.
    occupied: [u64; LEVELS],
    /// The wheel's position, in ticks: every slot before it has been drained.
    now_tick: u64,
    next_id: TimerId,
    /// Every pending timer: the level and slot that hold it.
    live: HashMap<TimerId, (usize, usize)>,
}

impl<T: Copy> TimerWheel<T> {
    pub fn new(now: Ms) -> TimerWheel<T> {
        TimerWheel {
            levels: (0..LEVELS)
                .map(|_| std::array::from_fn(|_| Vec::new()))
                .collect(),
            occupied: [0; LEVELS],
            now_tick: now >> TICK_SHIFT,
            next_id: 1,
            live: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Schedules `what` at `at` (a past instant fires at the next expiry).
    pub fn insert(&mut self, at: Ms, what: T) -> TimerId {
        let id = self.next_id;
        self.next_id += 1;
        self.place(Entry { id, at, what });
        id
    }

    /// Removes the timer; an id that already fired or was cancelled is
    /// ignored.
    pub fn cancel(&mut self, id: TimerId) {
        let Some((level, slot)) = self.live.remove(&id) else {
            return;
        };
        let entries = &mut self.levels[level][slot];
        if let Some(i) = entries.iter().position(|e| e.id == id) {
            entries.swap_remove(i);
        }
        if entries.is_empty() {
            self.occupied[level] &= !(1 << slot);
        }
    }

    /// Files the entry at the lowest level where its slot is less than a
    /// full turn ahead of the wheel's position. So at every level above 0 an
    /// entry sits in a slot after the current one, and the first occupied
    /// slot (counting from the current one) holds that level's earliest
    /// entries: what makes [`TimerWheel::next_wakeup`] exact.
    fn place(&mut self, e: Entry<T>) {
        let tick = ceil_tick(e.at).max(self.now_tick);
        let mut level = 0;
        while level + 1 < LEVELS
            && (tick >> (LEVEL_SHIFT * level as u32))
                - (self.now_tick >> (LEVEL_SHIFT * level as u32))
                >= SLOTS as u64
        {
            level += 1;
        }
        let shift = LEVEL_SHIFT * level as u32;
        // Beyond the last level's reach, park in the furthest slot; it is
        // re-placed when that slot comes round.
        let furthest = (self.now_tick >> shift) + SLOTS as u64 - 1;
        let slot = ((tick >> shift).min(furthest) as usize) % SLOTS;
        self.levels[level][slot].push(e);
        self.occupied[level] |= 1 << slot;
        self.live.insert(e.id, (level, slot));
    }

    /// The instant at which the earliest pending timer is due (its deadline
    /// rounded up to the tick, or the current tick if that has passed); None
    /// when no timer is pending.
    pub fn next_wakeup(&self) -> Option<Ms> {
        let mut best: Option<u64> = None;
        for level in 0..LEVELS {
            let bits = self.occupied[level];
            if bits == 0 {
                continue;
            }
            let shift = LEVEL_SHIFT * level as u32;
            let cur = (self.now_tick >> shift) as usize % SLOTS;
            let dist = bits.rotate_right(cur as u32).trailing_zeros() as usize;
            let slot = (cur + dist) % SLOTS;
            let t = self.levels[level][slot]
                .iter()
                .map(|e| ceil_tick(e.at))
                .min()
                .expect("an occupied slot holds entries")
                .max(self.now_tick);
            best = Some(best.map_or(t, |b| b.min(t)));
        }
        best.map(|t| t << TICK_SHIFT)
    }

    /// Advances to `now` and returns every timer due by then, in deadline order.
    pub fn expire(&mut self, now: Ms) -> Vec<(TimerId, T)> {
        let target = now >> TICK_SHIFT;
        let mut due: Vec<Entry<T>> = Vec::new();
        loop {
            // Cascade higher-level slots whose time has come into lower levels.
            for level in (1..LEVELS).rev() {
                let shift = LEVEL_SHIFT * level as u32;
                let slot = (self.now_tick >> shift) as usize % SLOTS;
                if self.occupied[level] & (1 << slot) != 0 {
                    self.occupied[level] &= !(1 << slot);
                    for e in std::mem::take(&mut self.levels[level][slot]) {
                        self.place(e);
                    }
                }
            }
            let slot = self.now_tick as usize % SLOTS;
            if self.occupied[0] & (1 << slot) != 0 {
                let entries = std::mem::take(&mut self.levels[0][slot]);
                self.occupied[0] &= !(1 << slot);
                for e in entries {
                    if ceil_tick(e.at) <= target {
                        self.live.remove(&e.id);
                        due.push(e);
                    } else {
                        self.place(e);
                    }
                }
            }
            if self.now_tick >= target {
                break;
            }
            self.now_tick = self.skip_to(target);
        }
        crate::sort::by_key(&mut due, |e| (e.at, e.id));
        due.into_iter().map(|e| (e.id, e.what)).collect()
    }

    /// The next tick at which anything can happen, not beyond `target`: jumps
    /// over empty stretches instead of visiting every slot.
    fn skip_to(&self, target: u64) -> u64 {
        let next = self
            .next_wakeup()
            .map(|t| t >> TICK_SHIFT)
            .unwrap_or(target)
            .max(self.now_tick + 1);
        // Never jump over a level-1+ slot boundary without cascading it.
        let boundary = ((self.now_tick >> LEVEL_SHIFT) + 1) << LEVEL_SHIFT;
        next.min(boundary).min(target)
    }
}

/// The daemon's time base: milliseconds since it started, on
/// CLOCK_BOOTTIME, which keeps counting while the host is suspended.
/// Leases are timed on it: a leader that resumes after its lease ran out
/// must see it as over (CLOCK_MONOTONIC stands still during a suspend, so a
/// lease timed on it would look unexpired). The loop's sleep (mio) stays a
/// relative timeout; only the instants are read here.
#[derive(Clone, Copy, Debug)]
pub struct BootClock {
    origin: Ms,
}

impl BootClock {
    pub fn start() -> BootClock {
        BootClock {
            origin: boottime_ms(),
        }
    }

    pub fn now_ms(&self) -> Ms {
        boottime_ms().saturating_sub(self.origin)
    }

    /// CLOCK_BOOTTIME (ms since boot) at this clock's zero: what turns its
    /// readings into ones that a restarted daemon in the same boot can
    /// compare with its own (the promise record).
    pub fn origin(&self) -> Ms {
        self.origin
    }
}

/// CLOCK_BOOTTIME in milliseconds.
fn boottime_ms() -> Ms {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes one timespec through a valid pointer.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    // Linux has had CLOCK_BOOTTIME since 2.6.39; it cannot fail there.
    assert_eq!(r, 0, "clock_gettime(CLOCK_BOOTTIME) failed");
    ts.tv_sec as Ms * 1000 + ts.tv_nsec as Ms / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_and_not_early() {
        let mut w = TimerWheel::new(1000);
        w.insert(1000 + 50, 'a');
        w.insert(1000 + 5_000, 'b');
        w.insert(1000 + 20, 'c');
        w.insert(1000 + 4_000_000, 'd');
        assert!(w.expire(1010).is_empty());
        let got: Vec<char> = w.expire(1100).into_iter().map(|x| x.1).collect();
        assert_eq!(got, vec!['c', 'a']);
        assert!(w.expire(5999).is_empty());
        assert_eq!(w.expire(6000).len(), 1);
        assert_eq!(w.len(), 1);
        assert!(w.expire(1000 + 3_999_999).is_empty());
        assert_eq!(w.expire(1000 + 4_000_015)[0].1, 'd');
        assert!(w.is_empty());
        assert_eq!(w.next_wakeup(), None);
    }

    #[test]
    fn cancel_and_past_deadlines() {
        let mut w = TimerWheel::new(0);
        let a = w.insert(100, 1);
        w.insert(10, 2);
        w.cancel(a);
        let got: Vec<i32> = w.expire(500).into_iter().map(|x| x.1).collect();
        assert_eq!(got, vec![2]);
        w.insert(0, 3);
        assert_eq!(w.next_wakeup(), Some(496));
        assert_eq!(w.expire(500)[0].1, 3);
    }

    /// Runs a loop that sleeps until `next_wakeup` and expires the wheel,
    /// until `until`; returns the instants at which it woke.
    fn wakeups<T: Copy>(w: &mut TimerWheel<T>, until: Ms) -> Vec<Ms> {
        let mut woke = Vec::new();
        while let Some(t) = w.next_wakeup().filter(|&t| t <= until) {
            woke.push(t);
            w.expire(t);
            assert!(woke.len() < 100, "wakes without end: {woke:?}");
        }
        woke
    }

    #[test]
    fn far_timers_wake_once() {
        // One timer an hour away: an idle daemon wakes once, when it is due
        // (a wake-up per level it cascades through costs an idle daemon
        // wake-ups that nothing asked for).
        let mut w = TimerWheel::new(0);
        w.insert(3_600_000, ());
        assert_eq!(wakeups(&mut w, u64::MAX), vec![3_600_000]);
        assert!(w.is_empty());
        // Also from an odd starting point, for deadlines at every level.
        for far in [40, 1_500, 70_000, 5_000_000, 400_000_000] {
            let mut w = TimerWheel::new(123_457);
            w.insert(123_457 + far, ());
            let woke = wakeups(&mut w, u64::MAX);
            assert_eq!(woke.len(), 1, "{far}: {woke:?}");
            assert!(woke[0] >= 123_457 + far && woke[0] < 123_457 + far + 16);
        }
    }

    #[test]
    fn cancelled_timers_cause_no_wakeup() {
        // The daemon cancels most timers it sets (a client's read deadline
        // when its request arrives, a child's time limit when it exits, the
        // engine's timer whenever its deadline moves): a cancelled timer
        // must not wake the loop, at its deadline or on its way there.
        let mut w = TimerWheel::new(1_000);
        w.insert(3_601_000, 'h');
        for (i, d) in [50u64, 900, 10_000, 30_000, 120_000, 600_000]
            .iter()
            .enumerate()
        {
            let id = w.insert(1_000 + d, 'x');
            if i % 2 == 0 {
                w.cancel(id);
            } else {
                w.insert(1_000 + d + 7, 'y');
                w.cancel(id);
            }
        }
        let woke = wakeups(&mut w, 3_600_000);
        assert_eq!(
            woke,
            vec![1_920, 31_008, 601_008],
            "only the live 'y' timers wake"
        );
        assert_eq!(wakeups(&mut w, u64::MAX), vec![3_601_008]);
    }

    #[test]
    fn matches_a_sorted_reference() {
        // Random schedule against a plain sorted list.
        let mut rng = 0x1234_5678_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut w = TimerWheel::new(0);
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let mut now = 0;
        for round in 0..3000u64 {
            let at = now + next() % [50, 2_000, 90_000, 5_000_000][(round % 4) as usize];
            let id = w.insert(at, round);
            reference.push((at, id));
            if next() % 5 == 0 {
                let (_, victim) = reference.swap_remove((next() % reference.len() as u64) as usize);
                w.cancel(victim);
            }
            now += next() % 3_000;
            let fired: Vec<u64> = w.expire(now).into_iter().map(|x| x.0).collect();
            let due = |r: &(u64, u64)| r.0.div_ceil(16) <= now >> 4;
            let mut expect: Vec<(u64, u64)> = reference.iter().copied().filter(due).collect();
            expect.sort();
            reference.retain(|r| !due(r));
            assert!(expect.iter().all(|r| r.0 <= now), "never early");
            assert_eq!(
                fired,
                expect.iter().map(|r| r.1).collect::<Vec<_>>(),
                "at {now}"
            );
            // The wake-up is exact: the tick of the earliest live timer.
            let earliest = reference.iter().map(|r| r.0).min();
            assert_eq!(
                w.next_wakeup(),
                earliest.map(|e| e.div_ceil(16).max(now >> 4) << 4),
                "at {now}"
            );
        }
    }

    #[test]
    fn the_boot_clock_starts_at_zero_and_keeps_pace_with_monotonic_time() {
        let c = BootClock::start();
        let t0 = std::time::Instant::now();
        assert!(c.now_ms() < 1000);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (boot, mono) = (c.now_ms(), t0.elapsed().as_millis() as u64);
        // Without a suspend in between, both clocks count the same time.
        assert!(
            boot >= 50 && boot + 20 >= mono && boot <= mono + 20,
            "{boot} vs {mono}"
        );
    }
}
