//! Chaos actions of the faults that reach leases through time (see
//! `world::faults`): stale deliveries, a release delivered after the ticket
//! was taken again, wall-clock steps, restarts with another wall clock and
//! host reboots, host suspends, and geostore changes. Off with
//! `Options::classic_faults`.

use super::*;
use crate::sim::gen::{PREREQ_ATTR as ATTR, PREREQ_OK as ATTR_OK};
use crate::sim::world::{HoldKind, Restart};

impl Driver {
    /// One time fault; `roll` in 0..25.
    pub(super) fn time_fault(&mut self, roll: u64) {
        match roll {
            0..=3 => self.stale_delivery(),
            4..=7 => self.stale_release(),
            8 | 9 => self.restart_holder(),
            10..=12 => {
                let m = self.any_member();
                let delta = self.wall_delta();
                self.w.step_wall(m, delta);
            }
            13..=16 => self.restart_with_other_clock(),
            17..=20 => {
                let m = self.any_member();
                let dur = self.freeze_time();
                self.w.suspend(m, dur);
            }
            _ => self.geostore_change(),
        }
    }

    /// How long a stale message is held back: seconds to tens of seconds,
    /// sometimes beyond a lease.
    fn stale_delay(&mut self) -> u64 {
        match self.below(6) {
            0 | 1 => 1000 + self.below(4000),
            2..=4 => 5000 + self.below(25_000),
            _ => 1000 + self.below(2 * self.lease_cycle + 1),
        }
    }

    /// A wall-clock step: seconds, minutes or hours; more often backwards
    /// (a node whose clock lags, a reboot before NTP synced).
    fn wall_delta(&mut self) -> i64 {
        let mag = match self.below(4) {
            0 => 1 + self.below(10_000),
            1 => 1 + self.below(600_000),
            2 => 1 + self.below(3_600_000),
            _ => 3_600_000 + self.below(7_200_000),
        } as i64;
        if self.below(3) == 0 {
            mag
        } else {
            -mag
        }
    }

    /// Durations of pauses and suspends: short, about half a lease, or
    /// longer than a lease.
    pub(super) fn freeze_time(&mut self) -> u64 {
        let t = self.any_ticket();
        let expire = ms(self.w.cfg.tickets[t].expire);
        match self.below(3) {
            0 => 1 + self.below(self.max_timeout),
            1 => expire / 4 + self.below(expire / 2 + 1),
            _ => expire + self.below(self.lease_cycle + 1),
        }
    }

    /// The next message of some kind (from one member or any) arrives
    /// seconds later than it should, alone or as a late duplicate.
    fn stale_delivery(&mut self) {
        let from = (self.below(3) != 0).then(|| self.any_member());
        let kind = HoldKind::ALL[self.below(HoldKind::ALL.len() as u64) as usize];
        let delay = self.stale_delay();
        let window = 1000 + self.below(self.lease_cycle + 1);
        let keep_copy = self.below(2) == 0;
        self.w.hold_next(from, kind, delay, window, keep_copy);
    }

    /// A leader hands a ticket over — a step-down after its handler failed
    /// at a renewal, or an admin revoke — and that message reaches some
    /// members only seconds later, after the ticket was granted again
    /// (at the same site or another) in a newer term.
    fn stale_release(&mut self) {
        let led: Vec<(usize, usize)> = (0..self.w.n_tickets())
            .filter(|&t| !self.w.is_manual(t))
            .filter_map(|t| {
                (0..self.n())
                    .find(|&m| {
                        self.w.running(m)
                            && self.w.view(m, t).is_some_and(|v| {
                                v.state == State::Leader && v.leader.member() == Some(m)
                            })
                    })
                    .map(|m| (t, m))
            })
            .collect();
        if led.is_empty() {
            return self.stale_delivery();
        }
        let (t, m) = led[self.below(led.len() as u64) as usize];
        let tc = self.w.cfg.tickets[t].clone();
        let step_down = tc.before_acquire_handler.is_some() && self.below(2) == 0;
        let kind = if step_down {
            HoldKind::StepDown
        } else {
            HoldKind::Revoke
        };
        let delay = self.stale_delay();
        let timeout = ms(tc.timeout);
        let window = ms(tc.renewal_freq) + 4 * timeout;
        let keep_copy = self.below(3) == 0;
        self.w.hold_next(Some(m), kind, delay, window, keep_copy);
        if step_down {
            // Its handler fails at the next renewal; then it works again.
            self.w.set_handler_failing(m, true);
            let limit = self.w.now + window;
            while !self.w.hold_fired() && self.w.now < limit && !self.w.aborted {
                self.advance(timeout);
            }
            self.w.set_handler_failing(m, false);
        } else {
            let opts = if self.below(2) == 0 { OPT_WAIT } else { 0 };
            self.w.client_request(m, CMD_REVOKE, opts, t, None);
        }
        if !self.w.hold_fired() {
            self.w.disarm_hold();
            return;
        }
        // Granted again before the stale message arrives.
        let gap = self.below(delay / 2 + 1);
        self.advance(gap);
        let at = if self.below(3) == 0 { None } else { Some(m) };
        self.grant(t, at);
    }

    /// A site that leads a ticket restarts its daemon at once (an upgrade,
    /// `systemctl restart`), its CIB sometimes slow: it comes back with a
    /// grant in its CIB whose lease runs, rounded down to the second.
    fn restart_holder(&mut self) {
        let holders: Vec<usize> = (0..self.n())
            .filter(|&m| {
                self.w.running(m)
                    && (0..self.w.n_tickets()).any(|t| {
                        !self.w.is_manual(t)
                            && self
                                .w
                                .cib_lease_end(m, t)
                                .is_some_and(|e| e > self.w.now as i64)
                    })
            })
            .collect();
        if holders.is_empty() {
            return;
        }
        let m = holders[self.below(holders.len() as u64) as usize];
        if self.below(2) == 0 {
            self.w.set_crm(m, true, false);
        }
        self.w.restart(m, Restart::Daemon, 0);
    }

    /// A member restarts — its daemon, or its whole host — with its wall
    /// clock stepped; at once, or it stays down until a later boot.
    fn restart_with_other_clock(&mut self) {
        let m = self.any_member();
        let kind = if self.below(2) == 0 {
            Restart::Host
        } else {
            Restart::Daemon
        };
        let delta = self.wall_delta();
        if self.below(2) == 0 {
            self.w.restart(m, kind, delta);
        } else {
            match kind {
                Restart::Host => self.w.power_off(m),
                Restart::Daemon => self.w.crash(m),
            }
            self.w.step_wall(m, delta);
        }
    }

    /// `geostore set/delete` of the attribute an `attr-prereq` ticket
    /// depends on, at one site: wrong, deleted, or right again.
    fn geostore_change(&mut self) {
        let with: Vec<usize> = (0..self.w.n_tickets())
            .filter(|&t| !self.w.cfg.tickets[t].attr_prereqs.is_empty())
            .collect();
        if with.is_empty() {
            return;
        }
        let t = with[self.below(with.len() as u64) as usize];
        let m = self.any_site();
        let value = match self.below(3) {
            0 => Some("DEGRADED"),
            1 => None,
            _ => Some(ATTR_OK),
        };
        self.w.set_attr(m, t, ATTR, value);
    }

    /// Every site's attributes meet the tickets' prerequisites again.
    pub(super) fn restore_attrs(&mut self) {
        for t in 0..self.w.n_tickets() {
            if self.w.cfg.tickets[t].attr_prereqs.is_empty() {
                continue;
            }
            for m in 0..self.n() {
                if self.w.is_site(m) && !self.w.attrs_ok_once_applied(m, t) {
                    self.w.set_attr(m, t, ATTR, Some(ATTR_OK));
                }
            }
        }
    }

    /// The crashed victim of a failover test comes back: its daemon, or
    /// its host, sometimes with a wall clock that moved (the issue #17
    /// shape: a holder restarting an hour behind after another site took
    /// the ticket).
    pub(super) fn reboot_victim(&mut self, victim: usize) {
        if self.classic {
            return self.w.boot(victim);
        }
        let host = self.below(2) == 0;
        let step = self.below(2) == 0;
        if host {
            self.w.power_off(victim);
        }
        if step {
            let delta = self.wall_delta();
            self.w.step_wall(victim, delta);
        }
        self.w.boot(victim);
    }
}
