//! SIGHUP reloads: a member's daemon is given a new configuration, which
//! its core applies now, after its start-up load, or refuses. The
//! simulator's own ticket numbers stay those of the first configuration
//! (the universe of ticket names); a reload may add, remove and reorder
//! tickets at a member and change their renewal period, never the
//! timings the checks bound liveness with (expire, timeout,
//! acquire-after), and never a renewal period beyond the first one.

use super::*;
use crate::core::Reloaded;

impl World {
    /// The configuration daemons start with (the last one reloaded).
    pub fn live_config(&self) -> &Config {
        &self.live_cfg
    }

    /// Gives every daemon that boots from now on this configuration.
    pub fn set_live_config(&mut self, cfg: Config) {
        self.live_cfg = cfg;
    }

    /// SIGHUP at member `m` with configuration `cfg` (if its daemon runs;
    /// a frozen one reloads when it resumes, as the signal waits).
    pub fn reload(&mut self, m: usize, cfg: Config) {
        if !self.up(m) {
            return;
        }
        if self.paused(m) {
            self.members[m]
                .pending
                .push_back(Pending::Reload(Box::new(cfg)));
            return;
        }
        let names: Vec<&str> = cfg.tickets.iter().map(|t| &*t.name).collect();
        self.note(|| format!("reload m{m}: tickets {names:?}"));
        // A reload changes what a member does: the availability check
        // gives it its grace period again.
        // (Never earlier than a fence after a host reboot.)
        self.health.member[m] = self.health.member[m].max(self.now);
        let mut r = None;
        self.call(m, |core, c| r = Some(core.reload(c, cfg)));
        if let Some(r) = r {
            self.count_reload(m, &r);
        }
    }

    /// Counts what became of a reload (now, or later when deferred).
    pub(super) fn count_reload(&mut self, m: usize, r: &Reloaded) {
        let c = &mut self.stats.counters;
        match r {
            Reloaded::Applied => c.reloads += 1,
            Reloaded::Deferred => c.reloads_deferred += 1,
            Reloaded::Reading => c.reloads_reading += 1,
            Reloaded::Rejected(_) => c.reloads_rejected += 1,
        }
        self.note(|| format!("m{m}: reload {r:?}"));
    }
}
