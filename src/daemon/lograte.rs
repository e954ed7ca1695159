//! Rate limiting of repeated log messages, per call site.
//!
//! With thousands of tickets one failing peer makes one `warn!` (or
//! `info!`) fire for every ticket on every resend. Each call site may log [`BURST`] lines per
//! [`WINDOW`]; the rest of the window's lines are counted and, once the
//! window is over, summed up in one "N similar messages suppressed" line.
//! Time is an input: the caller passes the instant.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Lines one call site may log per window.
pub const BURST: u32 = 10;
/// The window's length.
pub const WINDOW: Duration = Duration::from_secs(5);

/// A call site: source file and line.
pub type Site = (&'static str, u32);

#[derive(Debug)]
struct Window {
    start: Instant,
    passed: u32,
    suppressed: u64,
    /// The last suppressed line, quoted in the summary.
    last: String,
}

/// A finished burst: how many lines of one call site were held back.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary<K = Site> {
    pub site: K,
    pub suppressed: u64,
    pub last: String,
}

impl<K> Summary<K> {
    pub fn text(&self) -> String {
        format!(
            "{} similar messages suppressed (the last: {})",
            self.suppressed, self.last
        )
    }
}

/// The limiter, keyed by call site (`K`: a [`Site`], or one with more
/// said about it, such as its level).
#[derive(Debug)]
pub struct RateLimiter<K = Site> {
    sites: HashMap<K, Window>,
}

impl<K> Default for RateLimiter<K> {
    fn default() -> Self {
        RateLimiter {
            sites: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> RateLimiter<K> {
    /// Whether a line from `site` may be logged now; a line held back is
    /// counted (and `msg` kept for the summary).
    pub fn admit(&mut self, site: K, now: Instant, msg: &str) -> bool {
        let w = self.sites.entry(site).or_insert_with(|| Window {
            start: now,
            passed: 0,
            suppressed: 0,
            last: String::new(),
        });
        if now.saturating_duration_since(w.start) >= WINDOW && w.suppressed == 0 {
            // A quiet window ended: start a new one. (A window with held
            // back lines is reset by `finished`, after its summary.)
            w.start = now;
            w.passed = 0;
        }
        if w.passed < BURST {
            w.passed += 1;
            true
        } else {
            w.suppressed += 1;
            w.last.clear();
            w.last.push_str(msg);
            false
        }
    }

    /// Bursts whose window is over and that held lines back, oldest first;
    /// their sites start afresh. Quiet sites are forgotten after a window.
    pub fn finished(&mut self, now: Instant) -> Vec<Summary<K>> {
        let mut out = Vec::new();
        self.sites.retain(|&site, w| {
            if now.saturating_duration_since(w.start) < WINDOW {
                return true;
            }
            if w.suppressed == 0 {
                return false;
            }
            out.push((
                w.start,
                Summary {
                    site,
                    suppressed: w.suppressed,
                    last: std::mem::take(&mut w.last),
                },
            ));
            false
        });
        crate::sort::by_key(&mut out, |(start, _)| *start);
        out.into_iter().map(|(_, s)| s).collect()
    }

    /// Whether any burst is still holding lines back.
    pub fn holding(&self) -> bool {
        self.sites.values().any(|w| w.suppressed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Site = ("a.rs", 1);
    const B: Site = ("a.rs", 2);

    #[test]
    fn a_burst_passes_then_lines_are_counted_and_summed_up_once() {
        let t0 = Instant::now();
        let mut r = RateLimiter::default();
        let passed = (0..100)
            .filter(|i| r.admit(A, t0, &format!("line {i}")))
            .count();
        assert_eq!(passed, BURST as usize);
        // Another call site is not affected.
        assert!(r.admit(B, t0, "other"));
        assert!(r.finished(t0 + WINDOW / 2).is_empty());
        assert!(r.holding());
        let s = r.finished(t0 + WINDOW);
        assert_eq!(
            s,
            vec![Summary {
                site: A,
                suppressed: 100 - BURST as u64,
                last: "line 99".into()
            }]
        );
        assert_eq!(
            s[0].text(),
            "90 similar messages suppressed (the last: line 99)"
        );
        assert!(!r.holding());
        assert!(r.finished(t0 + WINDOW * 2).is_empty(), "reported once");
        // The site starts afresh.
        assert!(r.admit(A, t0 + WINDOW * 2, "again"));
    }

    #[test]
    fn a_steady_trickle_below_the_burst_is_never_suppressed() {
        let t0 = Instant::now();
        let mut r = RateLimiter::default();
        for i in 0..100u32 {
            let now = t0 + WINDOW / BURST * i;
            assert!(r.admit(A, now, "tick"), "line {i}");
            assert!(r.finished(now).is_empty());
        }
    }
}
