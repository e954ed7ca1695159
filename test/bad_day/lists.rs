//! `booth list` at the bad-day site, timed three ways (see
//! measure.rs), and the bounds the tests hold the daemon to.

use std::time::Duration;

use super::measure::ListTimes;
use super::{Bed, CLIENT_BOUND, LIST_BOUND, SITE};

/// `booth list` figures at the site through one situation (see
/// [`ListTimes`]): the client process as an administrator runs
/// it (it reads the configuration with every ticket, too), and a raw
/// request's first byte and whole reply (the daemon's share), with the
/// daemon's CPU time meanwhile.
pub struct Lists(ListTimes);

impl std::ops::Deref for Lists {
    type Target = ListTimes;
    fn deref(&self) -> &ListTimes {
        &self.0
    }
}

impl Lists {
    pub fn start(bed: &Bed) -> Lists {
        Lists(ListTimes::start(bed.site_pid()))
    }

    /// One `booth list` run and one raw request; both must answer.
    /// Returns the raw request's text.
    pub fn sample(&mut self, bed: &Bed) -> String {
        let (took, _) = bed.timed_list(SITE);
        self.0.client.push(took);
        self.sample_raw(bed)
    }

    /// A raw request only: many of these in a row find any long turn of
    /// the daemon's loop, without a client process's start-up between.
    pub fn sample_raw(&mut self, bed: &Bed) -> String {
        self.0.raw(SITE, bed.port)
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
        println!("{}", self.report_line(what));
    }
}
