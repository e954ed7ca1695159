//! `booth list` at the bad-day site, timed three ways (see
//! measure.rs), and the bounds the tests hold the daemon to.

use std::time::{Duration, Instant};

use super::measure::{self, Times};
use super::{Bed, CLIENT_BOUND, LIST_BOUND, SITE};

/// `booth list` figures at the site through one situation: the client
/// process as an administrator runs it (it reads the configuration with
/// every ticket, too), and a raw request's first byte and whole reply
/// (the daemon's share), with the daemon's CPU time meanwhile.
pub struct Lists {
    pub client: Times,
    pub first_byte: Times,
    whole: Times,
    reply_len: usize,
    pid: u32,
    cpu0: Duration,
    t0: Instant,
}

impl Lists {
    pub fn start(bed: &Bed) -> Lists {
        let pid = bed.site_pid();
        Lists {
            client: Times::default(),
            first_byte: Times::default(),
            whole: Times::default(),
            reply_len: 0,
            pid,
            cpu0: measure::cpu_time(pid),
            t0: Instant::now(),
        }
    }

    /// One `booth list` run and one raw request; both must answer.
    /// Returns the raw request's text.
    pub fn sample(&mut self, bed: &Bed) -> String {
        let (took, _) = bed.timed_list(SITE);
        self.client.push(took);
        self.sample_raw(bed)
    }

    /// A raw request only: many of these in a row find any long turn of
    /// the daemon's loop, without a client process's start-up between.
    pub fn sample_raw(&mut self, bed: &Bed) -> String {
        let raw = measure::raw_list(SITE, bed.port);
        self.first_byte.push(raw.first_byte);
        self.whole.push(raw.whole);
        self.reply_len = raw.text.len();
        raw.text
    }

    /// The daemon's first byte within [`LIST_BOUND`], the client within
    /// [`CLIENT_BOUND`].
    pub fn check(&self, what: &str) {
        self.check_within(what, LIST_BOUND);
    }

    /// As [`Lists::check`], with another bound for the daemon.
    pub fn check_within(&self, what: &str, bound: Duration) {
        let (client, daemon) = (self.client.slowest(), self.first_byte.slowest());
        assert!(
            client < CLIENT_BOUND && daemon < bound,
            "{what}: booth list took {client:?}, the daemon's first byte {daemon:?}"
        );
    }

    pub fn report(&self, what: &str) {
        let cpu = measure::cpu_time(self.pid).saturating_sub(self.cpu0);
        println!(
            "{}",
            measure::list_report(
                what,
                (&self.client, &self.first_byte, &self.whole),
                self.reply_len,
                cpu,
                self.t0
            )
        );
    }
}
