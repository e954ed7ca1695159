//! One seed's run: the phases, the fault scheduler and the workload.
//!
//! ```text
//! boot (staggered) -> initial grants ->
//!   { chaos -> heal -> settle -> calm window -> failover test } x epochs ->
//! heal -> final settle -> final checks
//! ```
//!
//! * **chaos**: faults and client requests at random times (mean gap per
//!   seed): crashes and restarts, pauses (short, about half a lease, or longer
//!   than a lease), symmetric partitions and one-way cuts, healing, per-link
//!   loss and duplication, delay spikes (reordering), slow or failing
//!   crm_ticket, failing handlers, grants (with and without -F, -w, -C),
//!   revokes, and clients that give up waiting; and the time faults
//!   (`time_faults`, off with `Options::classic_faults`): single messages
//!   delivered seconds to minutes late (a step-down, revoke, vote, ack or
//!   any message, alone or as a late duplicate), a leader's hand-over
//!   delivered after the ticket was granted again, wall-clock steps,
//!   restarts of a daemon or a host with the wall clock stepped, restarts
//!   of a holder, host suspends, and geostore changes of the attribute
//!   `attr-prereq` tickets depend on.
//! * **heal**: every fault removed, every member up and running, the geo
//!   attributes meeting the prerequisites again (stepped wall clocks stay).
//! * **settle**: one lease cycle plus the failover allowance, so that every
//!   lease from the chaos has ended or been renewed.
//! * **calm window**: grants of free tickets and revokes of held ones, each
//!   checked against its bound (`check::grant_bound`, `check::revoke_bound`).
//! * **failover test**: one site holding tickets is crashed, isolated,
//!   frozen or (time faults) suspended (leaving a majority); each ticket it
//!   held must be granted elsewhere within `check::failover_bound` (moved
//!   on by a heartbeat of the lost site that arrived late,
//!   `check::failover_deadline`), and not before its lease end plus
//!   acquire-after; the times are recorded. A
//!   frozen victim resumes at the end (and must revoke first); a crashed
//!   one comes back, with the time faults sometimes as a host reboot and
//!   with its wall clock stepped.
//! * **final checks**: after a long settle every member agrees on each
//!   automatic ticket's holder, and every -w/-C client has had its answer.

use super::check::{self, Kind, Known, Timing};
use super::gen;
use super::trace;
use super::world::{mix, World};
use super::{Options, SeedReport};
use crate::engine::{Rng, State};
use crate::wire::codes::*;
use crate::wire::{OPT_IMMEDIATE, OPT_WAIT, OPT_WAIT_COMMIT};

mod reloads;
mod time_faults;

struct Driver {
    w: World,
    rng: Rng,
    timing: Timing,
    /// Longest expire + acquire-after of any ticket.
    lease_cycle: u64,
    /// Longest failover allowance beyond expire + acquire-after.
    slack: u64,
    max_timeout: u64,
    /// Only the fault kinds from before issue #17.
    classic: bool,
}

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Runs one seed.
pub fn run(seed: u64, opts: &Options) -> SeedReport {
    if opts.trace {
        trace::start(opts.trace_ticket.clone());
    }
    let mut rng = Rng::new(mix(seed, 0, 0));
    let setup = gen::setup(&mut rng);
    let shape = setup.describe();
    #[allow(unused_mut)]
    let mut w = World::new(setup, seed);
    #[cfg(feature = "mutations")]
    w.set_mutation(opts.mutation);
    w.suspend_clock = opts.suspend_clock;
    w.seed_attrs();
    let s = &w.setup;
    let timing = Timing {
        max_delay: s.net.max_delay(),
        max_crm: s.members.iter().map(|m| m.crm_ms.1).max().unwrap_or(0),
        max_handler: s.members.iter().map(|m| m.handler_ms.1).max().unwrap_or(0),
        unit: if s.cfg.subsecond_times { 1 } else { 1000 },
    };
    let tickets = &s.cfg.tickets;
    let lease_cycle = tickets
        .iter()
        .map(|t| ms(t.expire) + ms(t.acquire_after))
        .max()
        .unwrap_or(0);
    let slack = tickets
        .iter()
        .map(|t| check::failover_bound(t, &timing) - ms(t.expire) - ms(t.acquire_after))
        .max()
        .unwrap_or(0);
    let max_timeout = tickets.iter().map(|t| ms(t.timeout)).max().unwrap_or(0);
    w.note(|| format!("seed {seed}: {shape}"));
    let mut d = Driver {
        w,
        rng,
        timing,
        lease_cycle,
        slack,
        max_timeout,
        classic: opts.classic_faults,
    };
    d.run();
    let mut w = d.w;
    w.close_overlaps();
    w.harvest_writers();
    w.stats.seeds = 1;
    w.stats.sim_ms = w.now;
    let trace = if opts.trace { trace::finish() } else { vec![] };
    SeedReport {
        seed,
        shape,
        members: w.n(),
        tickets: w.n_tickets(),
        violations: w.violations,
        stats: w.stats,
        trace,
    }
}

impl Driver {
    fn n(&self) -> usize {
        self.w.n()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    fn any_member(&mut self) -> usize {
        self.below(self.n() as u64) as usize
    }

    fn any_site(&mut self) -> usize {
        let sites: Vec<usize> = (0..self.n()).filter(|&m| self.w.is_site(m)).collect();
        sites[self.below(sites.len() as u64) as usize]
    }

    fn any_ticket(&mut self) -> usize {
        self.below(self.w.n_tickets() as u64) as usize
    }

    fn advance(&mut self, by: u64) {
        let t = self.w.now + by;
        self.w.run_until(t);
    }

    fn run(&mut self) {
        let n = self.n();
        for m in 0..n {
            self.w.boot(m);
            let gap = self.below(2000);
            self.advance(gap);
        }
        self.advance(2 * self.max_timeout);
        for t in 0..self.w.n_tickets() {
            if self.below(10) < 7 {
                self.grant(t, None);
                let gap = self.below(500);
                self.advance(gap);
            }
        }
        let epochs = self.w.setup.chaos.epochs;
        for epoch in 0..epochs {
            if self.w.aborted {
                return;
            }
            self.w.note(|| format!("epoch {epoch}: chaos"));
            self.chaos();
            self.heal_all();
            self.w.note(|| "settle".into());
            self.advance(self.lease_cycle + self.slack + 2 * self.max_timeout);
            self.calm_window();
            self.failover_test();
        }
        if self.w.aborted {
            return;
        }
        self.heal_all();
        self.w.note(|| "final settle".into());
        let settle_elections: Vec<usize> = (0..self.w.n_tickets())
            .map(|t| self.w.election_count(t))
            .collect();
        self.advance(2 * (self.lease_cycle + self.slack) + 4 * self.max_timeout);
        self.final_checks(&settle_elections);
    }

    /// A grant at a random site (sometimes an arbitrator) with random options.
    fn grant(&mut self, t: usize, m: Option<usize>) {
        let m = match m {
            Some(m) => m,
            None if self.below(20) == 0 => self.any_member(),
            None => self.any_site(),
        };
        let mut opts = 0;
        if self.below(4) == 0 {
            opts |= OPT_IMMEDIATE;
        }
        match self.below(20) {
            0..=9 => opts |= OPT_WAIT,
            10..=12 => opts |= OPT_WAIT | OPT_WAIT_COMMIT,
            _ => {}
        }
        self.w.client_request(m, CMD_GRANT, opts, t, None);
    }

    fn chaos(&mut self) {
        let dur = (self.lease_cycle * (50 + self.below(250)) / 100).max(20_000);
        let end = self.w.now + dur;
        let mean = self.w.setup.chaos.mean_gap_ms;
        loop {
            let gap = 1 + self.below(2 * mean);
            if self.w.now + gap >= end || self.w.aborted {
                break;
            }
            self.advance(gap);
            self.chaos_action();
        }
        self.w.run_until(end);
    }

    fn chaos_action(&mut self) {
        let n = self.n();
        let roll = self.below(if self.classic { 100 } else { 135 });
        match roll {
            0..=8 => {
                let m = self.any_member();
                self.w.crash(m);
            }
            9..=17 => {
                let down: Vec<usize> = (0..n).filter(|&m| !self.w.up(m)).collect();
                if !down.is_empty() {
                    let m = down[self.below(down.len() as u64) as usize];
                    self.w.boot(m);
                }
            }
            18..=24 => {
                let m = self.any_member();
                let t = self.any_ticket();
                let expire = ms(self.w.cfg.tickets[t].expire);
                let dur = match self.below(3) {
                    0 => 1 + self.below(self.max_timeout),
                    1 => expire / 4 + self.below(expire / 2 + 1),
                    _ => expire + self.below(self.lease_cycle + 1),
                };
                self.w.pause(m, dur);
            }
            25..=30 => {
                // Symmetric partition: two random sides.
                let side: Vec<bool> = (0..n).map(|_| self.below(2) == 0).collect();
                self.w.stats.counters.partitions += 1;
                self.w.note(|| format!("partition {side:?}"));
                for a in 0..n {
                    for b in 0..n {
                        if side[a] != side[b] {
                            self.w.links[a][b].cut = true;
                        }
                    }
                }
            }
            31..=35 => {
                // One-way cuts.
                self.w.stats.counters.partitions += 1;
                let k = 1 + self.below(n as u64);
                for _ in 0..k {
                    let a = self.any_member();
                    let b = self.any_member();
                    if a != b {
                        self.w.note(|| format!("cut m{a}->m{b}"));
                        self.w.links[a][b].cut = true;
                    }
                }
            }
            36..=43 => self.w.heal_network(),
            44..=50 => {
                let (max_loss, max_dup) = (self.w.setup.chaos.max_loss, self.w.setup.chaos.max_dup);
                let all = self.below(3) == 0;
                let (a0, b0) = (self.any_member(), self.any_member());
                for a in 0..n {
                    for b in 0..n {
                        if all || (a, b) == (a0, b0) {
                            let loss = self.below(max_loss + 1);
                            let dup = self.below(max_dup + 1);
                            self.w.links[a][b].loss = loss;
                            self.w.links[a][b].dup = dup;
                        }
                    }
                }
                self.w.note(|| format!("link quality changed (all: {all})"));
            }
            51..=53 => {
                let c = &self.w.setup.chaos;
                let (rate, spike) = (c.spike_rate, c.spike_ms);
                self.w.spike_rate = if self.w.spike_rate == 0 { rate } else { 0 };
                self.w.spike_ms = spike;
                let r = self.w.spike_rate;
                self.w
                    .note(|| format!("delay spikes: {r} per mille up to {spike}ms"));
            }
            54..=57 => {
                let m = self.any_site();
                let (slow, failing) = (self.below(2) == 0, self.below(2) == 0);
                self.w.set_crm(m, slow, failing);
            }
            58..=60 => {
                let m = self.any_site();
                let f = self.below(2) == 0;
                self.w.set_handler_failing(m, f);
            }
            61..=82 => {
                let t = self.any_ticket();
                self.grant(t, None);
            }
            83..=96 => {
                let t = self.any_ticket();
                let m = self.any_member();
                let opts = if self.below(2) == 0 { OPT_WAIT } else { 0 };
                self.w.client_request(m, CMD_REVOKE, opts, t, None);
            }
            125.. => self.reload_fault(roll - 125),
            100.. => self.time_fault(roll - 100),
            _ => {
                // A waiting client gives up (Ctrl-C).
                let waiting: Vec<u64> = self
                    .w
                    .clients
                    .iter()
                    .filter(|(_, c)| c.answer.is_none())
                    .map(|(&id, _)| id)
                    .collect();
                if !waiting.is_empty() {
                    let id = waiting[self.below(waiting.len() as u64) as usize];
                    self.w.abandon(id);
                }
            }
        }
    }

    /// Every fault removed: network healed, members up and running, CIB and
    /// handlers healthy.
    fn heal_all(&mut self) {
        self.w.note(|| "heal everything".into());
        self.w.disarm_hold();
        self.w.heal_network();
        for m in 0..self.n() {
            self.w.resume_now(m);
        }
        for m in 0..self.n() {
            if !self.w.up(m) {
                self.w.boot(m);
            }
            self.w.set_crm(m, false, false);
            self.w.set_handler_failing(m, false);
        }
        self.restore_config();
        self.restore_attrs();
    }

    /// The ticket is free: nobody holds it, every member is idle with no
    /// leader in mind.
    fn free(&self, t: usize) -> bool {
        self.w.holder(t).is_none()
            && (0..self.n()).all(|m| {
                self.w
                    .view(m, t)
                    .is_some_and(|v| v.state == State::Init && v.leader.member().is_none())
            })
    }

    /// The ticket is held by a leader every member knows of.
    fn settled_holder(&self, t: usize) -> Option<usize> {
        let h = self.w.holder(t)?;
        let all = (0..self.n()).all(|m| self.w.believed_leader(m, t) == Some(h));
        let leads = self.w.view(h, t).is_some_and(|v| v.state == State::Leader);
        (all && leads).then_some(h)
    }

    /// Grants and revokes in a calm cluster, each with its deadline.
    fn calm_window(&mut self) {
        self.w.note(|| "calm window".into());
        let nt = self.w.n_tickets();
        let k = 1 + self.below(nt.min(3) as u64) as usize;
        let mut chosen: Vec<usize> = vec![];
        while chosen.len() < k {
            let t = self.any_ticket();
            if !chosen.contains(&t) {
                chosen.push(t);
            }
        }
        let mut last_due = self.w.now;
        let before: Vec<usize> = (0..nt).map(|t| self.w.election_count(t)).collect();
        for t in chosen {
            let tc = self.w.cfg.tickets[t].clone();
            if self.free(t) {
                let m = self.any_site();
                let mut opts = if self.below(4) == 0 {
                    OPT_WAIT | OPT_WAIT_COMMIT
                } else {
                    OPT_WAIT
                };
                if self.below(3) == 0 {
                    opts |= OPT_IMMEDIATE;
                }
                let due = self.w.now + check::grant_bound(&tc, &self.timing);
                last_due = last_due.max(due);
                self.w.client_request(m, CMD_GRANT, opts, t, Some(due));
            } else if self.settled_holder(t).is_some() {
                let m = self.any_member();
                let due = self.w.now + check::revoke_bound(&tc, &self.timing);
                last_due = last_due.max(due);
                self.w.client_request(m, CMD_REVOKE, OPT_WAIT, t, Some(due));
            }
            let gap = self.below(1000);
            self.advance(gap);
        }
        self.w.run_until(last_due + 1);
        let late: Vec<_> = self
            .w
            .clients
            .iter()
            .filter(|(_, c)| c.answer.is_none() && c.due.is_some_and(|d| d < self.w.now))
            .map(|(&id, c)| (id, c.clone()))
            .collect();
        for (id, c) in late {
            self.w.late_reported(id);
            // Elections run again and again: the known election bugs.
            let rounds = self.w.rounds_since(c.ticket, before[c.ticket], None);
            // In a calm cluster one round decides; more mean the known
            // election bugs.
            let known = (rounds > 1).then_some(Known::ElectionRounds);
            self.w.violation_known(
                Kind::OperationLate,
                known,
                Some(c.ticket),
                format!(
                    "{} at m{} unanswered after {}ms",
                    code_to_string(c.cmd),
                    c.member,
                    self.w.now - c.issued
                ),
            );
        }
        // Let the new leases settle before the failover test.
        self.advance(2 * self.max_timeout);
    }

    /// Takes away one site holding tickets and checks that every ticket it
    /// held is granted elsewhere in time.
    fn failover_test(&mut self) {
        let n = self.n();
        if n - 1 < majority(n) {
            return;
        }
        let holders: Vec<usize> = (0..self.w.n_tickets())
            .filter(|&t| !self.w.is_manual(t))
            .filter_map(|t| self.settled_holder(t))
            .collect();
        if holders.is_empty() {
            return;
        }
        let victim = holders[self.below(holders.len() as u64) as usize];
        let q = self.w.now;
        let expect: Vec<(usize, i64, u64)> = (0..self.w.n_tickets())
            .filter(|&t| !self.w.is_manual(t) && self.settled_holder(t) == Some(victim))
            .map(|t| {
                let tc = &self.w.cfg.tickets[t];
                let end = self.w.cib_lease_end(victim, t).unwrap_or(q as i64);
                (t, end, q + check::failover_bound(tc, &self.timing))
            })
            .collect();
        // Long enough past the last deadline to time late failovers too.
        let window_end =
            expect.iter().map(|e| e.2).max().unwrap_or(q) + self.lease_cycle + self.slack;
        let how = self.below(if self.classic { 3 } else { 4 });
        self.w.note(|| {
            format!(
                "failover test: m{victim} {} holding {:?}",
                ["crashes", "is isolated", "freezes", "suspends"][how as usize],
                expect.iter().map(|e| e.0).collect::<Vec<_>>()
            )
        });
        self.w
            .watch_failover(victim, expect.iter().map(|e| e.0).collect());
        let elections_before: Vec<usize> = (0..self.w.n_tickets())
            .map(|t| self.w.election_count(t))
            .collect();
        match how {
            0 => self.w.crash(victim),
            1 => {
                for o in 0..n {
                    self.w.links[victim][o].cut = true;
                    self.w.links[o][victim].cut = true;
                }
            }
            2 => self.w.pause(victim, window_end - q),
            _ => self.w.suspend(victim, window_end - q),
        }
        // At each ticket's deadline: granted in time, or why not.
        let mut by_deadline = expect.clone();
        by_deadline.sort_by_key(|e| e.2);
        let mut late = vec![];
        for &(t, _, deadline) in &by_deadline {
            let deadline = self
                .w
                .run_to_failover_deadline(t, &self.timing, deadline, window_end);
            if self.w.failover_time(t).is_some_and(|at| at <= deadline) {
                continue;
            }
            let rounds = self.w.rounds_since(t, elections_before[t], Some(victim));
            // More rounds than the bound allows for, or a site asleep: the
            // known liveness bugs (see check::Known).
            let asleep = (0..n).any(|m| m != victim && self.w.asleep(m, t));
            let known = if rounds > check::ELECTION_ROUNDS {
                Some(Known::ElectionRounds)
            } else if asleep {
                Some(Known::FollowerAsleep)
            } else {
                None
            };
            late.push((t, rounds, known, deadline));
            self.w.stats.counters.failovers_late += 1;
        }
        self.w.run_until(window_end);
        for (t, old_end, _) in expect {
            let acquire_after = ms(self.w.cfg.tickets[t].acquire_after);
            if let Some((at, elections)) = self.w.failover_got(t) {
                let rounds =
                    self.w
                        .rounds_between(t, elections_before[t], Some(elections), Some(victim));
                self.w.stats.failover_rounds[(rounds as usize).min(7)] += 1;
                self.w.stats.counters.failovers += 1;
                self.w.stats.failover.add(at - q);
                let base = (old_end.max(q as i64) as u64) + acquire_after;
                self.w.stats.failover_excess.add(at.saturating_sub(base));
                if at < base {
                    // acquire-after checked from below: no site may take the
                    // ticket before the old lease plus acquire-after is over.
                    self.w.stats.counters.failovers_early += 1;
                    self.w.violation(
                        Kind::FailoverEarly,
                        Some(t),
                        format!(
                            "granted again {}ms after m{victim} was lost, {}ms before its lease end {old_end} plus acquire-after {acquire_after}ms",
                            at - q,
                            base - at
                        ),
                    );
                }
            }
            let Some(&(_, rounds, known, deadline)) = late.iter().find(|l| l.0 == t) else {
                continue;
            };
            let when = match self.w.failover_time(t) {
                Some(at) => format!("granted again {}ms", at - q),
                None => format!("not granted anywhere {}ms", self.w.now - q),
            };
            let offer = self
                .w
                .late_lease_offer(t)
                .filter(|&a| a > q + self.timing.max_delay)
                .map_or(String::new(), |a| {
                    format!(
                        " (a lease offer of m{victim} acknowledged {}ms after)",
                        a - q
                    )
                });
            self.w.violation_known(
                Kind::FailoverLate,
                known,
                Some(t),
                format!(
                    "{when} after m{victim} was lost, bound {}ms{offer}, {rounds} election rounds by then",
                    deadline - q
                ),
            );
        }
        self.w.watch_failover(usize::MAX, vec![]);
        match how {
            0 => self.reboot_victim(victim),
            1 => self.w.heal_network(),
            _ => self.w.resume_now(victim),
        }
    }

    /// Does every member agree with the CIB on who holds ticket `t`?
    fn agreed(&self, t: usize) -> bool {
        let holder = self.w.holder_or_writing(t);
        (0..self.n()).all(|m| self.w.believed_leader(m, t) == holder)
    }

    fn final_checks(&mut self, settle_elections: &[usize]) {
        // A change that happens to be under way at the end (an election, a
        // lease ending) must be over a few timeouts later.
        let disagree: Vec<usize> = (0..self.w.n_tickets())
            .filter(|&t| !self.w.is_manual(t) && !self.agreed(t))
            .collect();
        if !disagree.is_empty() {
            self.advance(
                4 * (self.max_timeout + 1000) + 4 * self.timing.max_delay + self.timing.max_crm,
            );
        }
        for (t, &settle_elections) in settle_elections.iter().enumerate() {
            if self.w.is_manual(t) || !disagree.contains(&t) {
                continue;
            }
            let holder = self.w.holder_or_writing(t);
            let beliefs: Vec<Option<usize>> = (0..self.n())
                .map(|m| self.w.believed_leader(m, t))
                .collect();
            if beliefs.iter().any(|&b| b != holder) {
                let views: Vec<String> = (0..self.n())
                    .map(|m| match self.w.view(m, t) {
                        Some(v) => {
                            format!(
                                "m{m}: {} {:?} term {} lease until {:?}",
                                v.state.as_str(),
                                v.leader,
                                v.term,
                                v.term_expires.map(|x| self.w.to_true(m, x))
                            )
                        }
                        None => format!("m{m}: down"),
                    })
                    .collect();
                let asleep = (0..self.n()).any(|m| self.w.asleep(m, t));
                let rounds = self.w.rounds_since(t, settle_elections, None);
                let known = if asleep {
                    Some(Known::FollowerAsleep)
                } else if rounds > check::ELECTION_ROUNDS {
                    Some(Known::ElectionRounds)
                } else {
                    None
                };
                self.w.violation_known(
                    Kind::Disagreement,
                    known,
                    Some(t),
                    format!(
                        "after the final settle the CIB holder is {holder:?}, members believe {beliefs:?} [{}]",
                        views.join("; ")
                    ),
                );
            }
        }
        for (id, c) in self.w.unanswered() {
            if c.waits {
                // A waiting client is always answered (a violation), but
                // at a candidate whose elections never conclude (a known
                // liveness limit)...
                let rounds = self.w.rounds_since(c.ticket, c.elections_before, None);
                // ...or for a manual ticket another site leads as well.
                let contested = self.w.is_manual(c.ticket)
                    && (0..self.n()).any(|o| {
                        o != c.member
                            && self
                                .w
                                .view(o, c.ticket)
                                .is_some_and(|v| v.state == State::Leader)
                    });
                let known = if contested {
                    Some(Known::ManualGrantStuck)
                } else if rounds > check::ELECTION_ROUNDS {
                    Some(Known::ElectionRounds)
                } else {
                    None
                };
                self.w.violation_known(
                    Kind::ClientUnanswered,
                    known,
                    Some(c.ticket),
                    format!(
                        "client {id} ({} at m{}, options {}) waiting since {}",
                        code_to_string(c.cmd),
                        c.member,
                        c.options,
                        super::stats::secs(c.issued)
                    ),
                );
            }
        }
    }
}
