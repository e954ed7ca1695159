//! The faults that reach a lease through time rather than through loss:
//! stale deliveries of single messages long after their round, wall-clock
//! steps, restarts with another wall clock, host reboots, host suspends, and
//! the geo attributes `attr-prereq` tickets depend on. Also the bookkeeping
//! of CIB-flag overlaps (that of the availability check is in
//! `availability.rs`).

use super::*;
use crate::wire::codes::{OP_ACK, OP_REVOKE, OP_VOTE_FOR};

/// The clock a daemon times leases and protocol deadlines with, which
/// decides what a host suspend does to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SuspendClock {
    /// CLOCK_BOOTTIME counts the time the host was suspended: a suspend
    /// looks like a pause (the clock has jumped on resume).
    #[default]
    Boottime,
    /// CLOCK_MONOTONIC stands still while the host is suspended: on resume
    /// the daemon's clock is behind by the length of the suspend, so a
    /// lease it holds seems to have that much more to run.
    Monotonic,
}

/// What restarts when a member comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Only the daemon (a crash, or `systemctl restart`): its state file
    /// survives and the monotonic clock goes on.
    Daemon,
    /// The host (power loss, reboot): the state file is gone (it lives
    /// under /run) and the monotonic clock starts from a new origin.
    Host,
}

/// Which messages a stale delivery holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldKind {
    /// A step-down or release: VOTE_FOR naming no one.
    StepDown,
    Revoke,
    /// A vote for a candidate.
    Vote,
    /// An acknowledgement of a heartbeat, update or revoke.
    Ack,
    /// Whatever the member sends next.
    Any,
}

impl HoldKind {
    pub const ALL: [HoldKind; 5] = [
        HoldKind::StepDown,
        HoldKind::Revoke,
        HoldKind::Vote,
        HoldKind::Ack,
        HoldKind::Any,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HoldKind::StepDown => "step-down",
            HoldKind::Revoke => "revoke",
            HoldKind::Vote => "vote",
            HoldKind::Ack => "ack",
            HoldKind::Any => "any message",
        }
    }

    fn matches(self, msg: &TicketMsg) -> bool {
        let cmd = msg.header.cmd;
        match self {
            HoldKind::StepDown => cmd == OP_VOTE_FOR && msg.body.leader == NO_ONE,
            HoldKind::Revoke => cmd == OP_REVOKE,
            HoldKind::Vote => cmd == OP_VOTE_FOR && msg.body.leader != NO_ONE,
            HoldKind::Ack => cmd == OP_ACK,
            HoldKind::Any => true,
        }
    }
}

/// A stale delivery waiting to happen: the next matching message (every
/// copy of it sent at that instant, i.e. a whole broadcast) is delivered
/// `delay` ms late, after everything that happened in between.
#[derive(Clone, Debug)]
pub(super) struct Hold {
    from: Option<usize>,
    kind: HoldKind,
    delay: u64,
    /// Armed until then (true time).
    until: u64,
    /// When it caught its message.
    fired: Option<u64>,
    /// The message also goes out on time (a duplicate that arrives late).
    keep_copy: bool,
}

impl World {
    // ----- stale deliveries ---------------------------------------------

    /// Holds back the next `kind` message `from` sends (any member's with
    /// None) within `window` ms by `delay` ms.
    pub fn hold_next(
        &mut self,
        from: Option<usize>,
        kind: HoldKind,
        delay: u64,
        window: u64,
        keep_copy: bool,
    ) {
        self.stats.counters.holds += 1;
        let who = from.map_or("any member".to_string(), |m| format!("m{m}"));
        self.note(|| {
            format!(
                "stale delivery armed: the next {} from {who} arrives {delay}ms late{}",
                kind.name(),
                if keep_copy { " (and on time)" } else { "" }
            )
        });
        self.hold = Some(Hold {
            from,
            kind,
            delay,
            until: self.now + window,
            fired: None,
            keep_copy,
        });
    }

    /// Has the armed stale delivery caught its message (or is none armed)?
    pub fn hold_fired(&self) -> bool {
        self.hold.as_ref().is_none_or(|h| h.fired.is_some())
    }

    /// Disarms the stale delivery (messages already held still arrive).
    pub fn disarm_hold(&mut self) {
        self.hold = None;
    }

    /// The extra delay of a message being sent, if the armed hold takes it,
    /// and whether a copy goes out on time as well.
    pub(super) fn hold_delay(
        &mut self,
        from: usize,
        to: usize,
        msg: &TicketMsg,
    ) -> Option<(u64, bool)> {
        let now = self.now;
        let h = self.hold.as_mut()?;
        if h.until < now || h.fired.is_some_and(|f| f != now) {
            self.hold = None;
            return None;
        }
        if h.from.is_some_and(|f| f != from) || !h.kind.matches(msg) {
            return None;
        }
        h.fired = Some(now);
        let r = (h.delay, h.keep_copy);
        self.stats.counters.held += 1;
        self.health.link[from][to] = now;
        self.trace_msg(from, to, msg, &format!("held back {}ms", r.0));
        Some(r)
    }

    /// A held message arrives: the link was faulty until now.
    pub(super) fn held_arrives(&mut self, from: usize, to: usize, sent: u64, msg: &TicketMsg) {
        self.health.link[from][to] = self.now;
        let late = self.now - sent;
        self.trace_msg(
            from,
            to,
            msg,
            &format!("stale delivery ({late}ms after sending)"),
        );
    }

    // ----- clocks and restarts -------------------------------------------

    /// Steps member `m`'s wall clock by `delta` ms (an operator, NTP, a VM
    /// migration); its monotonic clock is unchanged.
    pub fn step_wall(&mut self, m: usize, delta: i64) {
        if delta == 0 {
            return;
        }
        self.stats.counters.wall_steps += 1;
        self.note(|| format!("wall clock of m{m} steps by {delta}ms"));
        self.setup.members[m].wall_offset_ms += delta;
        self.health.member[m] = self.health.member[m].max(self.now);
    }

    /// Stops member `m`'s host (the daemon with it); the next boot is a
    /// host reboot.
    pub fn power_off(&mut self, m: usize) {
        if !self.up(m) && self.members[m].reboot_pending {
            return;
        }
        self.crash(m);
        self.note(|| format!("host of m{m} goes down"));
        self.members[m].reboot_pending = true;
    }

    /// Restarts member `m` now: its daemon or its whole host, with the wall
    /// clock stepped by `wall_step` ms before the new daemon reads the CIB.
    pub fn restart(&mut self, m: usize, kind: Restart, wall_step: i64) {
        match kind {
            Restart::Daemon => self.crash(m),
            Restart::Host => self.power_off(m),
        }
        self.step_wall(m, wall_step);
        self.boot(m);
    }

    /// A host that went down boots: a new monotonic origin, no state file.
    pub(super) fn host_boot_if_pending(&mut self, m: usize) {
        if !std::mem::take(&mut self.members[m].reboot_pending) {
            return;
        }
        self.members[m].host_boots += 1;
        self.stats.counters.host_reboots += 1;
        self.members[m].state_file = None;
        let origin = mix(self.seed, 200 + m as u64, self.members[m].host_boots as u64);
        self.setup.members[m].mono_offset_ms = origin % 10_000_000_000;
        self.note(|| format!("host of m{m} boots"));
        let lease = self
            .cfg
            .tickets
            .iter()
            .map(|t| t.expire.as_millis() as u64)
            .max()
            .unwrap_or(0);
        self.health.fenced_until[m] = self.now + lease;
    }

    /// Host reboots of member `m` so far.
    pub fn host_boots(&self, m: usize) -> u32 {
        self.members[m].host_boots
    }

    /// Member `m`'s state file: what its daemon persisted (kept across
    /// daemon restarts, lost at a host reboot). The driver of an engine
    /// that persists state reads it at boot and writes it when asked.
    pub fn state_file(&self, m: usize) -> Option<&[u8]> {
        self.members[m].state_file.as_deref()
    }

    pub fn set_state_file(&mut self, m: usize, data: Option<Vec<u8>>) {
        self.members[m].state_file = data;
    }

    /// Records what member m's engine promised before its outputs are
    /// executed, as the daemon does (`daemon/promises.rs`, same line
    /// format; times on the member's monotonic clock, which a daemon restart
    /// keeps and a host reboot resets along with the file).
    pub(super) fn record_promises(
        &mut self,
        m: usize,
        changes: Vec<(std::sync::Arc<str>, crate::engine::Promise)>,
    ) {
        let mut all: std::collections::BTreeMap<String, crate::engine::Promise> = self
            .state_file(m)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(|t| {
                t.lines()
                    .filter_map(crate::daemon::promises::parse)
                    .collect()
            })
            .unwrap_or_default();
        all.extend(changes.into_iter().map(|(n, p)| (n.to_string(), p)));
        let text: String = all
            .iter()
            .map(|(n, p)| crate::daemon::promises::render(n, p) + "\n")
            .collect();
        self.members[m].state_file = Some(text.into_bytes());
    }

    /// Suspends member `m`'s host for `dur` ms: it is frozen and receives
    /// nothing; with `SuspendClock::Monotonic` its lease clock also stands
    /// still for that long.
    pub fn suspend(&mut self, m: usize, dur: u64) {
        if !self.running(m) {
            return;
        }
        self.stats.counters.suspends += 1;
        self.note(|| format!("host of m{m} suspends for {dur}ms"));
        self.pause(m, dur);
        self.stats.counters.pauses -= 1;
        self.members[m].suspended = true;
    }

    /// Resuming from a suspend: the monotonic clock missed its length.
    pub(super) fn end_suspend(&mut self, m: usize, since: u64) {
        if !std::mem::take(&mut self.members[m].suspended) {
            return;
        }
        if self.suspend_clock == SuspendClock::Monotonic {
            let lost = self.now - since;
            let p = &mut self.setup.members[m];
            p.mono_offset_ms = p.mono_offset_ms.saturating_sub(lost);
            self.note(|| format!("m{m}'s monotonic clock missed {lost}ms"));
        }
    }

    // ----- geo attributes ------------------------------------------------

    /// `geostore set` (or `delete` with None) at site `m`, if it runs.
    pub fn set_attr(&mut self, m: usize, t: usize, name: &str, value: Option<&str>) {
        if !self.running(m) || !self.is_site(m) {
            return;
        }
        if !self.serving(m) {
            // Its daemon loads the CIB: geostore waits to be accepted.
            let (name, value) = (name.to_string(), value.map(str::to_string));
            self.members[m]
                .waiting
                .push(Waiting::Attr { t, name, value });
            return;
        }
        self.stats.counters.attr_changes += 1;
        self.health.member[m] = self.health.member[m].max(self.now);
        let ticket = self.ticket_names[t].clone();
        self.note_ticket(t, || format!("geostore at m{m}: {name} = {value:?}"));
        self.call(m, |core, c| {
            let _ = match value {
                Some(v) => core.attr_set(c, &ticket, name, v),
                None => core.attr_delete(c, &ticket, name),
            };
        });
    }

    pub(super) fn store_attr(
        &mut self,
        m: usize,
        ticket: &str,
        name: String,
        value: Option<String>,
    ) {
        let Some(&t) = self.ticket_index.get(ticket) else {
            return;
        };
        match value {
            Some(v) => self.attrs[m][t].insert(name, v),
            None => self.attrs[m][t].remove(&name),
        };
    }

    /// Before the first boot: every site's CIB holds the attribute the
    /// `attr-prereq` tickets depend on, with a value that meets them.
    pub fn seed_attrs(&mut self) {
        use crate::sim::gen::{PREREQ_ATTR, PREREQ_OK};
        for t in 0..self.n_tickets() {
            if self.cfg.tickets[t].attr_prereqs.is_empty() {
                continue;
            }
            for m in 0..self.n() {
                if self.is_site(m) {
                    self.attrs[m][t].insert(PREREQ_ATTR.into(), PREREQ_OK.into());
                }
            }
        }
    }

    /// Do the attributes at `m` meet every prerequisite of ticket `t`?
    pub fn attrs_ok(&self, m: usize, t: usize) -> bool {
        self.attrs_meet(m, t, false)
    }

    /// As [`World::attrs_ok`], once the `geostore` changes waiting for
    /// `m`'s daemon to finish loading are applied too: a change queued
    /// then lands after anything decided now (seed 3260: a wrong value
    /// queued during a fault phase landed after "heal everything" had
    /// found the attributes right).
    pub fn attrs_ok_once_applied(&self, m: usize, t: usize) -> bool {
        self.attrs_meet(m, t, true)
    }

    fn attrs_meet(&self, m: usize, t: usize, queued: bool) -> bool {
        self.cfg.tickets[t].attr_prereqs.iter().all(|p| {
            let waiting = queued
                .then(|| {
                    self.members[m].waiting.iter().rev().find_map(|w| match w {
                        Waiting::Attr { t: wt, name, value } if *wt == t && *name == p.name => {
                            Some(value.as_deref())
                        }
                        _ => None,
                    })
                })
                .flatten();
            let have = waiting.unwrap_or_else(|| self.attrs[m][t].get(&p.name).map(String::as_str));
            match p.op {
                crate::config::AttrOp::Eq => have == Some(p.value.as_str()),
                crate::config::AttrOp::Ne => have != Some(p.value.as_str()),
            }
        })
    }

    // ----- grants as the CIB and the daemon see them ---------------------

    /// How long site `o`'s CIB grant of ticket `t` (lease end `lease_end`)
    /// stands: its lease, or longer while o's daemon runs and still leads
    /// the ticket believing in a later lease end (it will not revoke the
    /// grant before then, so Pacemaker goes on acting on it).
    pub(super) fn vouched_end(&self, o: usize, t: usize, lease_end: i64) -> i64 {
        // A daemon still loading its CIB has decided nothing yet: its
        // grant stands as if it were down.
        if self.view(o, t).is_none() || !self.running(o) || !self.serving(o) {
            return lease_end;
        }
        // A grant it found in its CIB at start-up stands as long as its
        // daemon means to keep it: by its reading of the CIB's `expires`
        // in its own wall clock (see `revoke_deadline`), once its grace to
        // hear from its peers is over (`watch_kept_grants` judges it then);
        // until then it stands for its lease, as if the daemon were still
        // down (seed 1460: a grant elsewhere 6 ms after the start counted,
        // 7 ms earlier it would not have; the daemon revoked in 31 ms).
        let judged = self.now >= self.members[o].kept_grace_until[t];
        let loaded = judged
            && self.members[o].cib[t]
                .desired
                .as_ref()
                .is_some_and(|d| d.granted && d.loaded);
        let kept = if loaded {
            self.revoke_deadline(o, t).unwrap_or(lease_end)
        } else {
            lease_end
        };
        // As leader it keeps the grant for the lease it proved, unless it
        // has asked for the revoke already: a leader re-elected in a newer
        // term after its lease ran out (while it was frozen, say) holds a
        // tentative lease that no CIB grant stands for until a majority
        // acknowledges it (simulator seed 4163: counted as a dual grant
        // while the old grant's revoke was being written).
        let revoking = self.members[o].cib[t]
            .desired
            .as_ref()
            .is_some_and(|d| !d.granted);
        let acked = self
            .eidx(o, t)
            .and_then(|i| self.engine(o)?.acknowledged_lease(i));
        match acked {
            Some(x) if !revoking => kept.max(self.mono_to_true(o, x) as i64),
            _ => kept,
        }
    }

    /// After a boot: a grant the new daemon found in its CIB and still keeps
    /// a grace period later (time to hear from its peers: two timeouts, the
    /// messages both ways and a CIB write) while another site holds the
    /// ticket is a dual grant (Pacemaker acts on both flags; the other site
    /// may lose the ticket before either CIB is written again), reachable
    /// or not: the engine keeps a grant loaded without a record only as
    /// far as a majority confirms it (seeds 804, 6003, 8679 got past an
    /// exemption for sites it cannot reach).
    pub(super) fn watch_kept_grants(&mut self, m: usize) {
        self.watch_kept(m, None);
    }

    /// As [`World::watch_kept_grants`], for ticket `t` only, started by a
    /// reload from the state read from its CIB.
    pub(super) fn watch_kept_grant(&mut self, m: usize, t: usize) {
        self.watch_kept(m, Some(t));
    }

    fn watch_kept(&mut self, m: usize, ticket: Option<usize>) {
        let t_max = self
            .cfg
            .tickets
            .iter()
            .map(|t| t.timeout.as_millis() as u64)
            .max()
            .unwrap_or(0);
        let crm = self.longest_crm_run();
        let due = self.now + 2 * t_max + 4 * self.setup.net.max_delay() + crm;
        for (t, g) in self.members[m].kept_grace_until.iter_mut().enumerate() {
            if ticket.is_none_or(|x| x == t) {
                *g = due;
            }
        }
        let inc = self.members[m].incarnation;
        self.kept_watch.push((due, m, inc, self.now, ticket));
    }

    /// The boots whose grace period is over (see `watch_kept_grants`).
    pub(super) fn check_kept_grants(&mut self) {
        let now = self.now;
        let due: Vec<(u64, usize, u32, u64, Option<usize>)> = self
            .kept_watch
            .iter()
            .copied()
            .filter(|w| w.0 <= now)
            .collect();
        if due.is_empty() {
            return;
        }
        self.kept_watch.retain(|w| w.0 > now);
        for (_, m, inc, booted, ticket) in due {
            if self.members[m].incarnation == inc {
                self.check_kept(m, booted, ticket);
            }
        }
    }

    fn check_kept(&mut self, m: usize, booted: u64, ticket: Option<usize>) {
        let now = self.now as i64;
        for t in 0..self.n_tickets() {
            if self.is_manual(t) || ticket.is_some_and(|x| x != t) {
                continue;
            }
            let Some(d) = self.members[m].cib[t].desired.as_ref() else {
                continue;
            };
            let Some(mine) = self.members[m].cib[t].value.as_ref() else {
                continue;
            };
            if !(d.granted && d.loaded && mine.granted) {
                continue;
            }
            let kept = self.vouched_end(m, t, mine.lease_end);
            if kept <= now {
                continue;
            }
            let other = (0..self.n()).find(|&o| {
                o != m
                    && self.members[o].cib[t]
                        .value
                        .as_ref()
                        .is_some_and(|v| v.granted && self.vouched_end(o, t, v.lease_end) > now)
            });
            if let Some(o) = other {
                let wall = self.setup.members[m].wall_offset_ms;
                let lease_end = mine.lease_end;
                self.violation(
                    Kind::DualGrant,
                    Some(t),
                    format!(
                        "m{m} {} at {booted} (wall clock offset {wall}ms) and keeps the grant in its CIB until {kept} (its lease ended at {lease_end}) while m{o} holds the ticket",
                        if ticket.is_some() { "started the ticket by a reload" } else { "restarted" }
                    ),
                );
            }
        }
    }

    /// Keeps the CIB-flag overlap figures: periods in which two or more
    /// sites' CIBs say an automatic ticket is granted, whatever the leases
    /// (Pacemaker acts on the flag; dual grants are the overlaps in which
    /// both leases run).
    pub(super) fn update_overlap(&mut self, t: usize) {
        if self.is_manual(t) {
            return;
        }
        let granted = (0..self.n())
            .filter(|&m| {
                self.members[m].cib[t]
                    .value
                    .as_ref()
                    .is_some_and(|v| v.granted)
            })
            .count();
        match (self.overlap_since[t], granted >= 2) {
            (None, true) => {
                self.overlap_since[t] = Some(self.now);
                self.stats.counters.cib_overlaps += 1;
                self.note_ticket(t, || "CIB-flag overlap begins".into());
            }
            (Some(s), false) => {
                self.overlap_since[t] = None;
                self.stats.cib_overlap.add(self.now - s);
                self.note_ticket(t, || {
                    format!("CIB-flag overlap ends after {}ms", self.now - s)
                });
            }
            _ => {}
        }
    }

    /// Ends the overlaps still open at the end of a run.
    pub fn close_overlaps(&mut self) {
        for t in 0..self.n_tickets() {
            if let Some(s) = self.overlap_since[t].take() {
                self.stats.cib_overlap.add(self.now - s);
            }
        }
    }
}
