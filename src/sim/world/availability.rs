//! The availability check's bookkeeping: when each member and link last
//! changed its health, the grace period, and the check itself when a
//! holder gives a ticket up (see `check`, "Availability").

use super::*;

/// When faults on each member and link last began or ended (true time):
/// a member or link is healthy over [x - grace, x] if it is healthy at x and
/// its stamp is at most x - grace.
#[derive(Debug)]
pub(super) struct Health {
    pub(super) member: Vec<u64>,
    /// Until when each member may be fenced after a host reboot (a lease:
    /// the daemon has no record of what it promised). Apart from `member`,
    /// which later faults overwrite with earlier times (seed 5346: a pause
    /// after a reboot made a fenced arbitrator count as healthy).
    pub(super) fenced_until: Vec<u64>,
    pub(super) link: Vec<Vec<u64>>,
    /// The link faults as last seen, to stamp their changes.
    seen: Vec<Vec<Link>>,
    seen_spikes: u64,
}

impl Health {
    pub(super) fn new(n: usize) -> Health {
        Health {
            member: vec![0; n],
            fenced_until: vec![0; n],
            link: vec![vec![0; n]; n],
            seen: vec![vec![Link::default(); n]; n],
            seen_spikes: 0,
        }
    }
}

impl World {
    // ----- health, for the availability check ----------------------------

    /// Stamps the links whose faults changed since the last look (the
    /// scenario sets link faults directly).
    pub(super) fn sync_links(&mut self) {
        let n = self.n();
        let spikes = self.spike_rate;
        let h = &mut self.health;
        for a in 0..n {
            for b in 0..n {
                let l = self.links[a][b];
                let s = h.seen[a][b];
                if (l.cut, l.loss, l.dup) != (s.cut, s.loss, s.dup) || spikes != h.seen_spikes {
                    h.link[a][b] = self.now;
                    h.seen[a][b] = l;
                }
            }
        }
        h.seen_spikes = spikes;
    }

    fn member_healthy_since(&self, m: usize, t: usize, since: u64) -> bool {
        let ms = &self.members[m];
        let tc = &self.cfg.tickets[t];
        // A handler that may run longer than the engine gives it (a timeout,
        // or what is left of the lease at a renewal) fails on a healthy host
        // too.
        let slack = (tc.expire - tc.renewal_freq).as_millis() as u64;
        let allowed = (tc.timeout.as_millis() as u64)
            .min(slack.saturating_sub(2 * self.setup.net.max_delay()));
        let handler_ok = !ms.handler_failing
            && (tc.before_acquire_handler.is_none()
                || self.setup.members[m].handler_ms.1 < allowed);
        // (A daemon still loading its CIB is as good as down.)
        self.running(m)
            && self.serving(m)
            && !ms.crm_slow
            && !ms.crm_failing
            && handler_ok
            && self.attrs_ok(m, t)
            && self.health.member[m] <= since
            && self.health.fenced_until[m] <= since
    }

    fn link_healthy_since(&self, a: usize, b: usize, since: u64) -> bool {
        let l = self.links[a][b];
        !l.cut
            && l.loss == 0
            && l.dup == 0
            && self.spike_rate == 0
            && self.health.link[a][b] <= since
    }

    /// The grace period of the availability check for ticket `t`: long
    /// enough for the holder to reach its next renewal (between renewals
    /// a leader sends nothing, so what a fault left behind, such as a
    /// member's term raised by elections in a partition, shows only then)
    /// and complete it with every healthy member (two resend rounds, the
    /// messages both ways, the CIB write):
    ///
    /// ```text
    ///   renewal-freq + 2 * timeout + 4d + crm + unit
    /// ```
    pub fn availability_grace(&self, t: usize) -> u64 {
        let tc = &self.cfg.tickets[t];
        let d = self.setup.net.max_delay();
        let crm = self.longest_crm_run();
        let unit = if self.cfg.subsecond_times { 1 } else { 1000 };
        tc.renewal_freq.as_millis() as u64 + 2 * tc.timeout.as_millis() as u64 + 4 * d + crm + unit
    }

    /// Site `m` asks for the revoke of its CIB grant of ticket `t`: a
    /// violation if its CIB held the grant and it led the ticket while it
    /// and a majority of
    /// members, and the links between it and them, had been healthy for the
    /// grace period, and no client asked for a change of the ticket in that
    /// time.
    pub(super) fn grant_given_up(&mut self, m: usize, t: usize) {
        if self.is_manual(t) || !self.is_site(m) {
            return;
        }
        let granted = self.members[m].cib[t]
            .value
            .as_ref()
            .is_some_and(|v| v.granted);
        if !granted {
            return;
        }
        let Some(since) = self.now.checked_sub(self.availability_grace(t)) else {
            return;
        };
        // It led the ticket all along (a restarted holder that did not take
        // its grant up again, say, is not the case in point).
        let led = self.leader_since[m][t].is_some_and(|l| l <= since);
        if !led || self.last_request[t] > since || !self.member_healthy_since(m, t, since) {
            return;
        }
        let backing: Vec<usize> = (0..self.n())
            .filter(|&o| {
                o == m
                    || (self.member_healthy_since(o, t, since)
                        && self.link_healthy_since(m, o, since)
                        && self.link_healthy_since(o, m, since))
            })
            .collect();
        if backing.len() * 2 <= self.n() {
            return;
        }
        let view = self.view(m, t);
        let cib_term = self.members[m].cib[t].value.as_ref().map_or(0, |v| v.term);
        let known = view
            .as_ref()
            .is_some_and(|v| v.term > cib_term)
            .then_some(Known::ReacquireLost);
        let healthy_for = backing
            .iter()
            .map(|&o| {
                self.now
                    - self.health.member[o]
                        .max(self.health.link[m][o])
                        .max(self.health.link[o][m])
            })
            .min()
            .unwrap_or(0);
        self.violation_known(
            Kind::Availability,
            known,
            Some(t),
            format!(
                "m{m} lost the ticket it held while it and {backing:?} had been healthy and connected for {healthy_for}ms (grace {}ms); now {}",
                self.availability_grace(t),
                view.map_or("down".to_string(), |v| format!("{} leader {:?} term {}", v.state.as_str(), v.leader, v.term))
            ),
        );
    }

    /// The longest a `crm_ticket` run takes at any member (ms).
    pub(super) fn longest_crm_run(&self) -> u64 {
        self.setup
            .members
            .iter()
            .map(|p| p.crm_ms.1)
            .max()
            .unwrap_or(0)
    }
}
