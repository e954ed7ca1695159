//! Time-driven behaviour: start-up, the per-ticket cron, elections, the
//! leader's heartbeat and renewal cycle, resends, lease expiry, the handler and
//! CIB writes (spec raft.md §6–§8, §12–§13, §15, §18–§20).

use std::time::Duration;

use log::{debug, info, warn};

use super::ticket::{Handler, NextState, State};
use super::{CibState, CibWrite, Engine, Leader, Output, Time};
use crate::config::{AttrOp, GrantType};
use crate::wire::codes::*;

/// "Near future" of the C booth: how soon a ticket with pending work runs.
const SOON: Duration = Duration::from_millis(10);
/// Longest sleep of an automatic ticket with nothing to do.
const IDLE_WAKEUP: Duration = Duration::from_secs(3600);
/// Manual tickets wake (and their leaders send heartbeats) this often.
const MANUAL_WAKEUP: Duration = Duration::from_secs(60);
/// Upper bound of the random delay before an election.
const MAX_ELECTION_DELAY_MS: u64 = 1000;

/// Result of asking for the before-acquire-handler's verdict.
pub(super) enum ExtProg {
    /// No handler, or it succeeded: go on.
    Pass,
    /// Started or still running: come back when it exits.
    Running,
    /// It failed (already handled by `ext_prog_failed`).
    Failed,
}

/// Result of a CIB write request.
#[derive(PartialEq, Eq)]
pub(super) enum Written {
    Yes,
    Delayed,
    NotSite,
}

impl Engine {
    pub(super) fn apply_cib_state(&mut self, i: usize, st: &CibState) {
        let me = self.me;
        let clock = self.now;
        let name = self.tickets[i].cfg.name.clone();
        let leader = match st.owner {
            Some(-1) => Leader::NoOne,
            // DIFF: 0 is what booth itself writes for "unknown" (a ticket
            // never granted): nothing to warn about (the C booth logs an
            // error and "no site matches" for every such ticket at start).
            Some(0) | None => Leader::Unknown,
            Some(o) => match self.cfg.member_by_id(o as u32) {
                Some(m) if m.is_site() => Leader::Member(m.index),
                _ => {
                    warn!("{name}: error storing attribute owner ({o})");
                    Leader::Unknown
                }
            },
        };
        // DIFF: no lease is longer than `expire` from any moment, so neither
        // is one loaded from the CIB, whatever our wall clock says of its
        // `expires` (a clock set back would make it hours long).
        let cap = clock.mono + self.tickets[i].cfg.expire;
        let tk = &mut self.tickets[i];
        tk.term_expires = st.expires.map(|e| clock.mono_of_unix(e).min(cap));
        tk.cib_granted_until = tk.term_expires.filter(|_| st.granted);
        tk.current_term = st.term.unwrap_or(0);
        tk.is_granted = st.granted;
        tk.cib_granted = st.granted;
        tk.leader = leader;
        if leader == Leader::Unknown {
            if st.owner.is_some_and(|o| o != 0) || st.granted {
                warn!("{name}: no site matches; site got reconfigured?");
            }
            if st.granted {
                warn!("{name}: granted here, assume it belonged to us");
                tk.leader = Leader::Member(me);
            }
        }
        for (k, v) in &st.attrs {
            tk.attrs.insert(
                k.clone(),
                super::ticket::Attr {
                    value: v.clone(),
                    set_at: None,
                },
            );
        }
        // DIFF: the CIB's `expires` is rounded down to the second; a grant of
        // ours may stand for a lease until the next second: claim that much
        // towards peers (see `Ticket::restart_claim`). The C booth announces
        // the rounded-down lease, and its peers may elect a successor while
        // the old grant is still valid.
        let claim = !mutated!(self, NoRestartClaim);
        if st.granted && tk.leader == Leader::Member(me) && !tk.cfg.is_manual() && claim {
            if let Some(e) = st.expires {
                let until = clock
                    .mono_of_unix(e.saturating_add(1))
                    .min(cap + std::time::Duration::from_secs(1));
                tk.restart_claim = Some(until);
                tk.note_claim(me, until);
            }
        }
        tk.cib_loaded = true;
    }

    /// C `setup_ticket`: state query to all peers at start-up.
    pub(super) fn setup_ticket(&mut self, i: usize) {
        let now = self.now.mono;
        if self.is_site() && self.tickets[i].cib_loaded {
            self.update_ticket_state(i, None);
            self.tickets[i].update_cib = true;
        } else if self.is_site() {
            self.tickets[i].update_cib = true;
        }
        let tk = &mut self.tickets[i];
        tk.start_postpone = true;
        // DIFF: a member that cannot know what it promised before it
        // started fences itself (see `Ticket::vote_fence`); one that got its
        // promises back (promise.rs) knows them.
        let forget = mutated!(self, ForgetPromises);
        let fence = (!tk.promises_restored || forget) && !mutated!(self, NoStartupFence);
        tk.vote_fence = fence.then(|| now + tk.cfg.expire);
        debug!("{}: broadcasting state query", tk.cfg.name);
        self.broadcast(i, OP_STATUS, OP_MY_INDEX, RLT_SUCCESS, 0);
        // A lease loaded from the CIB that already ran out is dropped now.
        let tk = &self.tickets[i];
        if !tk.cfg.is_manual()
            && tk.leader == Leader::Member(self.me)
            && tk.term_expires.is_some_and(|e| e <= now)
        {
            self.ticket_lost(i);
        }
    }

    /// C `ticket_broadcast`: send our view to every other member.
    pub(super) fn broadcast(&mut self, i: usize, cmd: u32, expect: u32, result: u32, reason: u32) {
        let now = self.now.mono;
        let msg = self.build_msg(i, cmd, 0, reason, result);
        let me_bit = 1u32 << self.me;
        let tk = &mut self.tickets[i];
        tk.deferred_release = None;
        tk.last_request = cmd;
        tk.last_reason = reason;
        if expect != 0 {
            tk.retry_number = 0;
            tk.acks_expected = expect;
            tk.acks_received = me_bit;
            tk.req_sent_at = now;
        }
        if cmd == OP_HEARTBEAT {
            tk.hb_sent_at = Some(now);
        }
        tk.next_cron = Some(now + tk.cfg.timeout);
        for to in 0..self.n_members() {
            if to != self.me {
                self.emit(Output::Send {
                    to,
                    msg: msg.clone(),
                    resend: false,
                });
            }
        }
    }

    /// C `schedule_election`: an election after a random delay (sites only).
    pub(super) fn schedule_election(&mut self, i: usize, reason: u32) {
        if !self.is_site() {
            return;
        }
        let delay = if reason == OR_TKT_LOST {
            self.failover_delay(i)
        } else {
            self.random_delay(i)
        };
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        tk.election_reason = reason;
        tk.next_cron = Some(now + delay);
    }

    /// DIFF: the delay before a failover election. The C booth draws it
    /// from the whole window (up to a second), so failover waits half a
    /// window on average even when only one site is left to take over.
    /// Here the window is split into one slot per site that may campaign
    /// (every site but the lost leader), in member order, and each site
    /// draws from the first quarter of its own slot: a lone survivor
    /// starts at once, several never start within three quarters of a slot
    /// of each other, and a silent first site only delays the next by its
    /// slot. Votes, not delays, keep the ticket single: this is liveness
    /// only.
    pub(super) fn failover_delay(&mut self, i: usize) -> Duration {
        let window = self.tickets[i].timeout_ms().min(MAX_ELECTION_DELAY_MS);
        let lost = self.tickets[i].lost_leader;
        let me = self.me;
        let candidates: Vec<usize> = self
            .cfg
            .members
            .iter()
            .filter(|m| m.is_site() && Leader::Member(m.index) != lost)
            .map(|m| m.index)
            .collect();
        let rank = candidates.iter().position(|&m| m == me).unwrap_or(0) as u64;
        let slot = window / (candidates.len().max(1) as u64);
        let jitter = (slot / 4).max(1);
        Duration::from_millis(rank * slot + self.rng.below(jitter))
    }

    fn random_delay(&mut self, i: usize) -> Duration {
        let max = self.tickets[i].timeout_ms().min(MAX_ELECTION_DELAY_MS);
        Duration::from_millis(self.rng.below(max))
    }

    /// C `disown_ticket`.
    pub(super) fn disown_ticket(&mut self, i: usize) {
        self.set_leader(i, Leader::Unknown);
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        tk.is_granted = false;
        tk.term_expires = Some(now);
    }

    /// C `reset_ticket`.
    pub(super) fn reset_ticket(&mut self, i: usize) {
        if let Handler::Running(run) = self.tickets[i].handler {
            let ticket = self.ticket_id(i);
            self.emit(Output::StopHandler { ticket, run });
        }
        self.tickets[i].handler = Handler::Idle;
        self.disown_ticket(i);
        let tk = &mut self.tickets[i];
        tk.no_resends();
        tk.lease_proven = false;
        tk.state = State::Init;
        tk.next_state = None;
        tk.voted_for = None;
        tk.in_election = false;
        tk.election_end = None;
    }

    pub(super) fn reset_ticket_and_set_no_leader(&mut self, i: usize) {
        self.reset_ticket(i);
        self.set_leader(i, Leader::NoOne);
    }

    /// C `ticket_cron`.
    pub(super) fn ticket_cron(&mut self, i: usize) {
        let now = self.now.mono;
        let keep_expired = mutated!(self, LeaderKeepsExpiredTicket);
        let tk = &mut self.tickets[i];
        if tk.start_postpone && now < self.started_at + tk.cfg.timeout {
            debug!("{}: ticket processing postponed", tk.cfg.name);
            tk.next_cron = Some(self.started_at + tk.cfg.timeout);
            return;
        }
        tk.start_postpone = false;
        if tk.vote_fence.is_none_or(|f| f <= now) {
            if let Some((pref, update, reason)) = tk.deferred_election.take() {
                self.new_election(i, pref, update, reason);
                return;
            }
        }
        let tk = &mut self.tickets[i];
        match tk.election_retry {
            Some(_) if tk.state != State::Candidate => tk.election_retry = None,
            Some((update_term, at)) if at <= now => {
                tk.election_retry = None;
                self.retry_election(i, update_term);
                return;
            }
            Some((_, at)) => {
                tk.next_cron = Some(at);
                return;
            }
            None => {}
        }
        let tk = &mut self.tickets[i];
        if tk.acks_expected == OP_MY_INDEX {
            // DIFF: the C booth asks once. Members that were not up yet are
            // asked again while our vote fence is up, so that a cluster
            // started one member at a time can elect without waiting a lease.
            let fenced = tk.vote_fence.is_some_and(|f| f > now);
            if fenced && tk.retry_number < tk.cfg.retries {
                tk.retry_number += 1;
                self.resend_msg(i);
            } else {
                self.tickets[i].no_resends();
            }
        }
        let tk = &mut self.tickets[i];
        let keep_own = keep_expired && tk.leader == Leader::Member(self.me);
        let expired_owned = !tk.cfg.is_manual()
            && !keep_own
            && tk.is_owned()
            && tk.term_expires.is_some_and(|e| e <= now);
        if let Some(ns) = tk.next_state.take() {
            self.process_next_state(i, ns);
        } else if expired_owned {
            self.ticket_lost(i);
        } else {
            self.next_action(i);
        }
        let tk = &self.tickets[i];
        if !tk.in_election && tk.update_cib {
            self.ticket_write(i);
        }
    }

    fn process_next_state(&mut self, i: usize, ns: NextState) {
        match ns {
            NextState::Leader => {
                if let Handler::Exited(_) = self.tickets[i].handler {
                    // DIFF: the C booth goes on only when it is not the
                    // leader, so a leader re-acquiring in a newer term with a
                    // handler configured never holds its election and keeps
                    // heartbeating in a term it does not lead.
                    let reason = if self.tickets[i].state == State::Leader {
                        OR_REACQUIRE
                    } else {
                        OR_ADMIN
                    };
                    let rv = self.acquire_ticket(i, reason);
                    if rv != 0 {
                        self.tickets[i].outcome = rv;
                        self.notify_waiters(i, 0);
                    }
                } else {
                    self.log_reacquire_reason(i);
                    self.acquire_ticket(i, OR_REACQUIRE);
                }
                // Come back for the rest once the handler has spoken.
                if matches!(self.tickets[i].handler, Handler::Running(_)) {
                    self.tickets[i].next_state = Some(NextState::Leader);
                }
            }
            NextState::Init => {
                self.tickets[i].no_resends();
                self.start_revoke_ticket(i);
                self.tickets[i].outcome = RLT_SUCCESS;
                self.notify_waiters(i, 0);
            }
            NextState::Follower => {}
        }
    }

    fn log_reacquire_reason(&self, i: usize) {
        let tk = &self.tickets[i];
        let now = self.now.mono;
        let me = Leader::Member(self.me);
        if tk.leader == me && tk.time_left(now) == 0 {
            warn!(
                "{}: granted here, but not valid anymore (will try to reacquire)",
                tk.cfg.name
            );
        } else if tk.is_granted && tk.leader != me && tk.is_owned() {
            warn!(
                "{}: granted here, but also {}, that's really too bad (will try to reacquire)",
                tk.cfg.name,
                self.addr_of(tk.leader)
            );
        } else if tk.is_granted && tk.leader != me {
            warn!(
                "{}: granted here, but we're not recorded as the grantee (will try to reacquire)",
                tk.cfg.name
            );
        } else {
            info!("{}: reacquiring ticket", tk.cfg.name);
        }
    }

    fn next_action(&mut self, i: usize) {
        let now = self.now.mono;
        let tk = &self.tickets[i];
        match tk.state {
            State::Init => self.init_action(i),
            State::Follower if tk.cfg.is_manual() => self.init_action(i),
            State::Follower => {
                if tk.leader != Leader::Unknown {
                    return;
                }
                if tk.voted_for.is_none() || !tk.in_election {
                    self.disown_ticket(i);
                    let started = self.new_election(i, None, 1, OR_AGAIN);
                    if started != Some(true) {
                        let tk = &mut self.tickets[i];
                        tk.next_cron = Some(now + tk.cfg.timeout);
                    }
                } else {
                    // We voted in someone's election: give it a timeout to end.
                    let tk = &mut self.tickets[i];
                    tk.in_election = false;
                    tk.next_cron = Some(now + tk.cfg.timeout);
                }
            }
            State::Candidate => self.elections_end(i),
            State::Leader => {
                if tk.acks_expected != 0 {
                    self.handle_resends(i);
                } else if let ExtProg::Pass = self.do_ext_prog(i, true) {
                    self.broadcast(i, OP_HEARTBEAT, OP_ACK, RLT_SUCCESS, 0);
                    self.tickets[i].ticket_updated = 0;
                }
            }
        }
    }

    fn init_action(&mut self, i: usize) {
        if let Handler::Exited(_) = self.tickets[i].handler {
            let rv = self.acquire_ticket(i, OR_ADMIN);
            if rv != 0 {
                self.tickets[i].delay_commit = None;
                self.tickets[i].outcome = rv;
                self.notify_waiters(i, 0);
            }
        } else if self.tickets[i].acks_expected != 0 {
            self.handle_resends(i);
        }
    }

    /// C `new_election`. Returns None when nothing was started (arbitrator,
    /// unmet prerequisites), Some(false) when an election is already running,
    /// Some(true) when one was started.
    pub(super) fn new_election(
        &mut self,
        i: usize,
        preference: Option<usize>,
        update_term: u8,
        reason: u32,
    ) -> Option<bool> {
        if !self.is_site() {
            return None;
        }
        let now = self.now.mono;
        let effective = if reason == OR_AGAIN {
            self.tickets[i].election_reason
        } else {
            reason
        };
        if matches!(effective, OR_TKT_LOST | OR_STEPDOWN)
            && !self.attr_prereqs_ok(i, GrantType::Auto)
        {
            info!(
                "{}: attribute prerequisite not met, not starting elections",
                self.tickets[i].cfg.name
            );
            return None;
        }
        // DIFF: a site votes for itself only when it would vote for anyone:
        // not while another site's claimed lease runs.
        if let Some((holder, until)) = self.tickets[i].live_claim_besides(self.me, now) {
            info!(
                "{}: not starting elections: {} holds a lease for {}ms more",
                self.tickets[i].cfg.name,
                self.cfg.members[holder].addr_string,
                until.0 - now.0
            );
            return None;
        }
        // DIFF: the start-up fence covers our own candidacy too: before we
        // know every member's view we may have forgotten a lease we
        // acknowledged. Only re-taking a lease our own CIB says we hold is
        // allowed (a restarted leader must not lose its ticket for it).
        let tk = &mut self.tickets[i];
        let fenced = tk.vote_fence.filter(|&f| f > now);
        let own = tk.leader == Leader::Member(self.me) || tk.is_granted;
        if let (Some(lifts), false) = (fenced, own) {
            info!(
                "{}: election deferred: started too recently to know every lease",
                tk.cfg.name
            );
            tk.deferred_election = Some((preference, update_term, reason));
            tk.next_cron = Some(lifts);
            return Some(true);
        }
        let tk = &mut self.tickets[i];
        if tk.election_end.is_some_and(|e| e > now) {
            return Some(false);
        }
        // DIFF: never campaign in a term in which we voted for another site.
        let voted_other = tk
            .vote_record
            .is_some_and(|(term, who)| term == tk.current_term && who != self.me);
        let bump = update_term > 1
            || voted_other
            || (update_term == 1 && tk.committed.is_some_and(|s| s.term >= tk.current_term));
        if bump {
            if tk.state != State::Candidate {
                tk.save_committed();
            }
            // Saturating: a (crafted) term at the top must not wrap to 0.
            tk.current_term = tk.current_term.saturating_add(1);
        }
        tk.election_end = Some(now + tk.cfg.timeout);
        tk.in_election = true;
        info!(
            "{}: starting new election (term={})",
            tk.cfg.name, tk.current_term
        );
        tk.clear_votes();
        let choice = preference.unwrap_or(self.me);
        tk.votes[self.me] = Some(Leader::Member(choice));
        tk.voted_for = Some(choice);
        tk.vote_record = Some((tk.current_term, choice));
        tk.state = State::Candidate;
        if reason != OR_AGAIN {
            tk.election_reason = reason;
        }
        self.broadcast(i, OP_REQ_VOTE, OP_VOTE_FOR, RLT_SUCCESS, effective);
        // DIFF: every election, re-elections included, starts after a random
        // delay, so that competing candidates do not collide forever.
        let delay = self.random_delay(i);
        let tk = &mut self.tickets[i];
        tk.next_cron = tk.next_cron.map(|t| t + delay);
        Some(true)
    }

    /// C `elections_end`.
    pub(super) fn elections_end(&mut self, i: usize) {
        let now = self.now.mono;
        let n = self.n_members();
        self.tickets[i].in_election = false;
        let tk = &self.tickets[i];
        let mut counts = [0usize; crate::config::MAX_MEMBERS];
        for v in tk.votes.iter().take(n).flatten() {
            if let Leader::Member(m) = v {
                counts[*m] += 1;
            }
        }
        let winner = (0..n).find(|&m| counts[m] * 2 > n);
        let top = counts.iter().copied().max().unwrap_or(0);
        let tie = top > 0 && counts.iter().filter(|&&c| c == top).count() > 1;
        match winner {
            Some(w) if w == self.me => {
                info!("{}: granted successfully here", tk.cfg.name);
                self.won_elections(i);
            }
            Some(w) => {
                info!(
                    "{}: ticket granted at {}",
                    tk.cfg.name, self.cfg.members[w].addr_string
                );
                // DIFF: follow the winner right away (its heartbeat will set the
                // real lease) and tell waiting clients; the C booth keeps
                // re-checking the votes and leaves the clients waiting.
                let tk = &mut self.tickets[i];
                tk.state = State::Follower;
                tk.election_end = None;
                tk.term_expires = Some(now + tk.cfg.timeout);
                self.set_leader(i, Leader::Member(w));
                self.leave_candidacy(i);
                self.set_ticket_wakeup(i);
            }
            None => {
                info!("{}: nobody won elections, new elections", tk.cfg.name);
                self.tickets[i].outcome = RLT_MORE;
                self.notify_waiters(i, 0);
                // DIFF: the next round starts after a random delay, as the
                // first one did. Candidates whose elections ended together
                // would otherwise split the votes again, round after round
                // (two sites without an arbitrator never elected anyone).
                let delay = self.random_delay(i);
                let tk = &mut self.tickets[i];
                tk.election_retry = Some((if tie { 2 } else { 0 }, now + delay));
                tk.next_cron = Some(now + delay);
            }
        }
    }

    /// The next round after an election nobody won (see elections_end).
    fn retry_election(&mut self, i: usize, update_term: u8) {
        let now = self.now.mono;
        match self.new_election(i, None, update_term, OR_AGAIN) {
            Some(true) => {}
            Some(false) => {
                // All votes came in early; re-elect when this one ends.
                let tk = &mut self.tickets[i];
                tk.next_cron = tk.election_end;
            }
            None => {
                let tk = &mut self.tickets[i];
                tk.next_cron = Some(now + tk.cfg.timeout);
            }
        }
    }

    fn won_elections(&mut self, i: usize) {
        let now = self.now.mono;
        let all_sites = self.site_bits();
        self.set_leader(i, Leader::Member(self.me));
        let tk = &mut self.tickets[i];
        tk.state = State::Leader;
        tk.lease_proven = false;
        // Tentative: nothing is written to the CIB before a majority has
        // acknowledged the first heartbeat.
        tk.term_expires = Some(now + tk.cfg.expire);
        tk.election_end = None;
        tk.voted_for = None;
        if tk.delay_commit.is_some() && tk.acks_received & all_sites == all_sites {
            debug!("{}: reset delay commit as all sites replied", tk.cfg.name);
            tk.delay_commit = None;
        }
        tk.save_committed();
        self.broadcast(i, OP_HEARTBEAT, OP_ACK, RLT_SUCCESS, 0);
        self.tickets[i].ticket_updated = 0;
    }

    /// C `leader_update_ticket`: a majority acknowledged our heartbeat.
    pub(super) fn leader_update_ticket(&mut self, i: usize) {
        let now = self.now.mono;
        let from_arrival = mutated!(self, LeaseFromAckArrival);
        let tk = &mut self.tickets[i];
        let was_proven = tk.lease_proven;
        tk.lease_proven = true;
        if tk.ticket_updated >= 2 {
            return;
        }
        if !tk.cfg.is_manual() && tk.ticket_updated < 1 {
            tk.ticket_updated = 1;
            tk.last_renewal = Some(now);
            // DIFF: the lease runs from when the acknowledged heartbeat was
            // first sent, not from when the acks arrived: every member that
            // acknowledged holds the lease at least that long.
            if let Some(sent) = tk.hb_sent_at {
                let base = if from_arrival { now } else { sent };
                // DIFF: an acknowledgement names no heartbeat, so one sent
                // for the previous round just before this round began may be
                // counted for this one; the member that sent it holds the
                // lease from when it got that earlier heartbeat, which is at
                // most one transit of the answer earlier. The lease keeps a
                // margin of one timeout (a longer transit counts as loss),
                // unless renewals come later than that.
                let margin = tk
                    .cfg
                    .timeout
                    .min(tk.cfg.expire.saturating_sub(tk.cfg.renewal_freq));
                let margin = if from_arrival { Duration::ZERO } else { margin };
                let mut until = base + (tk.cfg.expire - margin);
                if was_proven {
                    // A round answered late never shortens a proven lease.
                    until = until.max(tk.term_expires.unwrap_or(until));
                }
                if until <= now {
                    // Answered so late (say, after a pause) that what it
                    // proves is already over.
                    warn!(
                        "{}: acknowledged too late to prove a lease, giving the ticket up",
                        tk.cfg.name
                    );
                    tk.term_expires = Some(until);
                    tk.lease_proven = false;
                    self.ticket_lost(i);
                    return;
                }
                tk.term_expires = Some(until);
                tk.note_claim(self.me, until);
            }
            self.broadcast(i, OP_UPDATE, OP_ACK, RLT_SUCCESS, 0);
        }
        match self.ticket_write(i) {
            Written::Yes => {
                self.tickets[i].ticket_updated = 2;
                self.tickets[i].outcome = RLT_SUCCESS;
                self.notify_waiters(i, 0);
            }
            Written::Delayed => {
                // Answers to this round may still complete the set of sites
                // (the election may have ended on a majority before every
                // site voted): announce "pending" only once a resend was
                // needed, not a few milliseconds before the commit.
                let tk = &self.tickets[i];
                let round_open = tk.acks_expected != 0 && tk.retry_number == 0;
                if tk.outcome != RLT_CIB_PENDING && !round_open {
                    self.tickets[i].outcome = RLT_CIB_PENDING;
                    self.notify_waiters(i, 0);
                }
            }
            Written::NotSite => {}
        }
    }

    /// C `handle_resends`.
    fn handle_resends(&mut self, i: usize) {
        let me = self.me;
        let tk = &mut self.tickets[i];
        // DIFF: a vote request is resent only while we are still a
        // candidate of that term: once we have voted for another site in it,
        // asking again would be a second vote of ours in the same term.
        if tk.last_request == OP_REQ_VOTE
            && (tk.state != State::Candidate || tk.vote_record != Some((tk.current_term, me)))
        {
            tk.no_resends();
            self.set_ticket_wakeup(i);
            return;
        }
        tk.retry_number += 1;
        let name = tk.cfg.name.clone();
        if tk.retry_number > tk.cfg.retries {
            info!("{name}: giving up on sending retries");
            tk.no_resends();
            // DIFF: a manual ticket has no lease whose end would answer a
            // waiting grant: a grant no majority acknowledged has failed.
            let stranded = tk.cfg.is_manual()
                && tk.last_request == OP_HEARTBEAT
                && !tk.lease_proven
                && tk.waiters.iter().any(|w| w.cmd == CMD_GRANT);
            if stranded {
                warn!("{name}: no majority acknowledged the grant");
                tk.outcome = RLT_SYNC_FAIL;
                self.notify_waiters(i, CMD_GRANT);
            }
            self.set_ticket_wakeup(i);
            return;
        }
        let acks = tk.acks_received;
        let try_no = tk.retry_number;
        if tk.last_request == OP_VOTE_FOR {
            warn!(
                "{name}: no answers to our VtFr request to step down (try #{try_no}), we are alone"
            );
        } else if !self.majority(acks) {
            if acks.count_ones() <= 1 {
                warn!("{name}: no answers to our request (try #{try_no}), we are alone");
            } else {
                warn!(
                    "{name}: not enough answers to our request (try #{try_no}): only got {} answers",
                    acks.count_ones()
                );
            }
        } else if try_no == 1 {
            for m in (0..self.n_members()).filter(|m| acks & (1 << m) == 0) {
                let mem = &self.cfg.members[m];
                warn!(
                    "{name}: {} {} didn't acknowledge our {}, will retry {} times",
                    mem.kind.as_str(),
                    mem.addr_string,
                    code_to_string(self.tickets[i].last_request),
                    self.tickets[i].cfg.retries
                );
            }
        }
        self.resend_msg(i);
        let tk = &self.tickets[i];
        if tk.state == State::Leader && self.majority(tk.acks_received) {
            self.leader_update_ticket(i);
        }
    }

    pub(super) fn resend_msg(&mut self, i: usize) {
        let now = self.now.mono;
        let tk = &self.tickets[i];
        let (cmd, reason, acks) = (tk.last_request, tk.last_reason, tk.acks_received);
        // DIFF: resends keep their reason (the C booth sends 0).
        let msg = self.build_msg(i, cmd, 0, reason, RLT_SUCCESS);
        let me = self.me;
        for to in (0..self.n_members()).filter(|&m| m != me && acks & (1 << m) == 0) {
            self.emit(Output::Send {
                to,
                msg: msg.clone(),
                resend: true,
            });
        }
        let tk = &mut self.tickets[i];
        tk.next_cron = Some(now + tk.cfg.timeout);
    }

    /// C `ticket_lost`: the lease ran out without renewal.
    pub(super) fn ticket_lost(&mut self, i: usize) {
        let me = Leader::Member(self.me);
        let tk = &self.tickets[i];
        let reason = if tk.leader != me {
            warn!("{}: lost at {}", tk.cfg.name, self.addr_of(tk.leader));
            OR_TKT_LOST
        } else if matches!(tk.handler, Handler::Running(_)) {
            warn!("{}: handler timed out", tk.cfg.name);
            OR_LOCAL_FAIL
        } else {
            warn!("{}: lost majority (revoking locally)", tk.cfg.name);
            if tk.election_reason != 0 {
                tk.election_reason
            } else {
                OR_REACQUIRE
            }
        };
        let old = tk.leader;
        self.tickets[i].lost_leader = old;
        self.tickets[i].save_committed();
        self.reset_ticket(i);
        self.tickets[i].state = State::Follower;
        // DIFF: a revoke delayed behind a broadcast is answered too (the C
        // booth forgets it with the lost ticket and the client waits).
        if self.tickets[i]
            .waiters
            .iter()
            .any(|w| w.cmd == CMD_GRANT || w.cmd == CMD_REVOKE)
        {
            self.tickets[i].outcome = RLT_SYNC_FAIL;
            self.notify_waiters(i, 0);
        }
        if self.is_site() {
            self.ticket_write(i);
            self.schedule_election(i, reason);
        }
    }

    /// C `start_revoke_ticket`.
    pub(super) fn start_revoke_ticket(&mut self, i: usize) {
        info!("{}: revoking ticket", self.tickets[i].cfg.name);
        self.tickets[i].claims[self.me] = None;
        self.tickets[i].save_committed();
        self.reset_ticket_and_set_no_leader(i);
        self.begin_release_hold(i);
        self.ticket_write(i);
        self.release_broadcast(i, OP_REVOKE, OP_ACK, OR_ADMIN);
        // DIFF: a grant still waiting (for its election or its commit) is
        // over: say so instead of leaving the client waiting for good.
        if self.tickets[i].waiters.iter().any(|w| w.cmd == CMD_GRANT) {
            self.tickets[i].outcome = RLT_SYNC_FAIL;
            self.notify_waiters(i, CMD_GRANT);
        }
    }

    /// We give up a ticket our CIB may say we hold within its lease: until
    /// the revoke is written, our claim stays (see `Ticket::release_hold`).
    fn begin_release_hold(&mut self, i: usize) {
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        if !tk.cib_granted || tk.cfg.is_manual() || mutated!(self, NoReleaseHold) {
            return;
        }
        if let Some(until) = tk.cib_granted_until.filter(|&u| u > now) {
            tk.release_hold = Some(until);
            tk.note_claim(self.me, until);
        }
    }

    /// Hands the ticket over (a revoke or a step-down) once our CIB no
    /// longer says "granted" within a lease: see `Ticket::release_hold`.
    fn release_broadcast(&mut self, i: usize, cmd: u32, expect: u32, reason: u32) {
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        if tk.release_hold.is_some_and(|h| h > now) {
            info!(
                "{}: telling the other members once the CIB revoke is written",
                tk.cfg.name
            );
            tk.deferred_release = Some((cmd, expect, reason));
            return;
        }
        tk.release_hold = None;
        self.broadcast(i, cmd, expect, RLT_SUCCESS, reason);
    }

    /// The CIB revoke is written or its lease is over: withdraw our claim
    /// and send what was held back, unless we have since taken the ticket
    /// again or started something else.
    pub(super) fn end_release_hold(&mut self, i: usize) {
        let me = self.me;
        let tk = &mut self.tickets[i];
        let Some(hold) = tk.release_hold.take() else {
            return;
        };
        if tk.claims[me] == Some(hold) {
            tk.claims[me] = None;
        }
        if let Some((cmd, expect, reason)) = tk.deferred_release.take() {
            if tk.state != State::Leader && tk.state != State::Candidate && !tk.is_owned() {
                self.broadcast(i, cmd, expect, RLT_SUCCESS, reason);
            }
        }
    }

    /// C `acquire_ticket`: prerequisites, handler, then election or manual
    /// selection. Returns 0 while in progress, else a result code.
    pub(super) fn acquire_ticket(&mut self, i: usize, reason: u32) -> u32 {
        if reason == OR_ADMIN && !self.attr_prereqs_ok(i, GrantType::Manual) {
            return RLT_ATTR_PREREQ;
        }
        match self.do_ext_prog(i, false) {
            ExtProg::Pass => {}
            ExtProg::Running => return 0,
            ExtProg::Failed => return RLT_EXT_FAILED,
        }
        if self.tickets[i].cfg.is_manual() {
            self.manual_selection(i);
            0
        } else if self.new_election(i, Some(self.me), 1, reason) == Some(false) {
            RLT_SYNC_FAIL
        } else {
            0
        }
    }

    /// C `manual_selection`: a manual ticket is taken without an election.
    pub(super) fn manual_selection(&mut self, i: usize) {
        if !self.is_site() {
            return;
        }
        self.set_leader(i, Leader::Member(self.me));
        let tk = &mut self.tickets[i];
        tk.state = State::Leader;
        tk.lease_proven = false;
        tk.election_end = None;
        tk.delay_commit = None;
        tk.save_committed();
        self.broadcast(i, OP_HEARTBEAT, OP_ACK, RLT_SUCCESS, 0);
        self.tickets[i].ticket_updated = 0;
    }

    /// The before-acquire-handler's verdict (C `do_ext_prog`).
    pub(super) fn do_ext_prog(&mut self, i: usize, start_election: bool) -> ExtProg {
        let Some(argv) = self.tickets[i].cfg.before_acquire_handler.clone() else {
            return ExtProg::Pass;
        };
        match self.tickets[i].handler {
            Handler::Idle => {
                let run = self.next_run;
                self.next_run += 1;
                let env = self.handler_env(i);
                self.tickets[i].handler = Handler::Running(run);
                self.emit(Output::RunHandler {
                    ticket: self.ticket_id(i),
                    run,
                    argv,
                    env,
                });
                ExtProg::Running
            }
            Handler::Running(_) => ExtProg::Running,
            Handler::Exited(ok) => {
                self.tickets[i].handler = Handler::Idle;
                if ok {
                    ExtProg::Pass
                } else {
                    warn!(
                        "{}: we are not allowed to acquire ticket",
                        self.tickets[i].cfg.name
                    );
                    self.ext_prog_failed(i, start_election);
                    ExtProg::Failed
                }
            }
        }
    }

    fn handler_env(&self, i: usize) -> Vec<(String, String)> {
        let tk = &self.tickets[i];
        // DIFF: 0 when the ticket is not owned, as documented (the C booth
        // passes the moment of its last reset).
        let expires = match (tk.is_owned(), tk.term_expires) {
            (true, Some(e)) => (self.now.wall_of(e) + 500).div_euclid(1000),
            _ => 0,
        };
        vec![
            ("BOOTH_TICKET".into(), tk.cfg.name.clone()),
            (
                "BOOTH_LOCAL".into(),
                self.cfg.members[self.me].addr_string.clone(),
            ),
            ("BOOTH_CONF_NAME".into(), self.cfg.name.clone()),
            (
                "BOOTH_CONF_PATH".into(),
                self.cfg.path.display().to_string(),
            ),
            ("BOOTH_TICKET_EXPIRES".into(), expires.to_string()),
            // The term the ticket is (to be) held in, for handlers that fence.
            ("BOOTH_TICKET_TERM".into(), tk.current_term.to_string()),
        ]
    }

    /// C `ext_prog_failed`.
    fn ext_prog_failed(&mut self, i: usize, start_election: bool) {
        let now = self.now.mono;
        let me = Leader::Member(self.me);
        let tk = &self.tickets[i];
        if tk.cfg.is_manual() {
            if tk.leader == me {
                warn!(
                    "{}: external test failed on the specified machine, cannot acquire a manual ticket",
                    tk.cfg.name
                );
                self.tickets[i].save_committed();
                self.reset_ticket(i);
                self.ticket_write(i);
                // DIFF: a grant waiting for this acquisition has failed.
                if self.tickets[i].waiters.iter().any(|w| w.cmd == CMD_GRANT) {
                    self.tickets[i].outcome = RLT_EXT_FAILED;
                    self.notify_waiters(i, CMD_GRANT);
                }
            }
            return;
        }
        if start_election && tk.leader == me && tk.time_left(now) > 0 {
            // Step down: give the ticket away so that another site can take it.
            warn!("{}: handler failed, giving the ticket away", tk.cfg.name);
            self.tickets[i].claims[self.me] = None;
            self.tickets[i].save_committed();
            self.reset_ticket(i);
            self.begin_release_hold(i);
            self.ticket_write(i);
            self.release_broadcast(i, OP_VOTE_FOR, OP_REQ_VOTE, OR_LOCAL_FAIL);
            // DIFF: a grant still waiting for its commit has failed.
            if self.tickets[i].waiters.iter().any(|w| w.cmd == CMD_GRANT) {
                self.tickets[i].outcome = RLT_EXT_FAILED;
                self.notify_waiters(i, CMD_GRANT);
            }
        }
    }

    pub(super) fn attr_prereqs_ok(&self, i: usize, kind: GrantType) -> bool {
        let tk = &self.tickets[i];
        for p in tk.cfg.attr_prereqs.iter().filter(|p| p.grant_type == kind) {
            let have = tk.attrs.get(&p.name).map(|a| a.value.as_str());
            let ok = match p.op {
                AttrOp::Eq => have == Some(p.value.as_str()),
                AttrOp::Ne => have != Some(p.value.as_str()),
            };
            if !ok {
                warn!("{}: '{}' attr-prereq failed", tk.cfg.name, p.name);
                return false;
            }
        }
        true
    }

    /// C `ticket_dangerous`: must the CIB grant still wait for the commit delay?
    fn ticket_dangerous(&mut self, i: usize) -> bool {
        let now = self.now.mono;
        let all_sites = self.site_bits();
        let tk = &mut self.tickets[i];
        let Some(dc) = tk.delay_commit else {
            return false;
        };
        if now >= dc || tk.acks_received & all_sites == all_sites {
            if now >= dc {
                info!("{}: ticket delay expired, committing to CIB", tk.cfg.name);
            } else {
                info!("{}: all sites replied, committing to CIB", tk.cfg.name);
            }
            tk.delay_commit = None;
            tk.delay_logged = false;
            return false;
        }
        if !tk.delay_logged {
            let left = dc.saturating_sub(now);
            info!(
                "{}: delaying ticket commit to CIB for {}.{:03}s (or all sites are reached)",
                tk.cfg.name,
                left.as_secs(),
                left.subsec_millis()
            );
            tk.delay_logged = true;
        }
        true
    }

    /// C `ticket_write`: record our view in the local CIB (sites only).
    pub(super) fn ticket_write(&mut self, i: usize) -> Written {
        if !self.is_site() {
            return Written::NotSite;
        }
        let me = Leader::Member(self.me);
        let granted = self.tickets[i].leader == me;
        if granted {
            if self.ticket_dangerous(i) {
                return Written::Delayed;
            }
            if self.tickets[i].state != State::Leader || !self.tickets[i].lease_proven {
                debug!(
                    "{}: ticket state not yet consistent, delaying ticket grant to CIB",
                    self.tickets[i].cfg.name
                );
                return Written::Delayed;
            }
        }
        let owner = self.cib_owner(self.tickets[i].leader);
        let tk = &mut self.tickets[i];
        let expires_at = tk.term_expires.unwrap_or(self.now.mono);
        if granted {
            tk.cib_granted_until = Some(expires_at);
        }
        let w = CibWrite {
            ticket: tk.cfg.name.clone(),
            granted,
            owner,
            // DIFF: rounded down (C rounds to nearest): the CIB never shows
            // more lease than was proven.
            expires: self.now.wall_of(expires_at).div_euclid(1000),
            term: tk.current_term,
        };
        tk.update_cib = false;
        tk.cib_granted = granted;
        self.emit(Output::WriteCib(w));
        Written::Yes
    }

    /// The CIB's `owner` for `leader`: its site id, -1 for nobody, 0 when
    /// unknown.
    fn cib_owner(&self, leader: Leader) -> i32 {
        match leader {
            Leader::Unknown => 0,
            Leader::NoOne => -1,
            Leader::Member(m) => self.cfg.members[m].site_id as i32,
        }
    }

    /// Our CIB says "granted" for a lease that has ended, and we have no
    /// newer proven lease to write there (say, re-acquiring after a restart,
    /// the new term not yet acknowledged): revoke it in the CIB now. The
    /// engine's state is left alone; a lease proven later is written as
    /// usual.
    pub(super) fn revoke_stale_cib_grant(&mut self, i: usize) {
        let owner = self.cib_owner(self.tickets[i].leader);
        let tk = &mut self.tickets[i];
        let until = tk.cib_granted_until.unwrap_or(self.now.mono);
        warn!(
            "{}: the lease in the CIB has ended and no newer one is proven yet, revoking it there",
            tk.cfg.name
        );
        tk.cib_granted = false;
        let w = CibWrite {
            ticket: tk.cfg.name.clone(),
            granted: false,
            owner,
            expires: self.now.wall_of(until).div_euclid(1000),
            term: tk.current_term,
        };
        self.emit(Output::WriteCib(w));
    }

    /// C `set_ticket_wakeup`: when the ticket's cron must run next.
    pub(super) fn set_ticket_wakeup(&mut self, i: usize) {
        let now = self.now.mono;
        let tk = &self.tickets[i];
        let mut next = if tk.cfg.is_manual() {
            now + MANUAL_WAKEUP
        } else {
            let idle = now + IDLE_WAKEUP;
            match tk.state {
                State::Leader => {
                    // Renew `expire - renewal-freq` before the lease ends at
                    // the latest, as configured, also when the lease keeps a
                    // margin (see leader_update_ticket).
                    let slack = tk.cfg.expire.saturating_sub(tk.cfg.renewal_freq);
                    let by_lease = (!tk.cfg.is_manual())
                        .then(|| {
                            tk.term_expires
                                .map(|e| Time(e.0.saturating_sub(slack.as_millis() as u64)))
                        })
                        .flatten();
                    let mut t = tk.last_renewal.map(|r| r + tk.cfg.renewal_freq);
                    if let (Some(a), Some(b)) = (t, by_lease) {
                        t = Some(a.min(b));
                    }
                    if let Some(dc) = tk.delay_commit {
                        if t.is_none_or(|t| dc < t) {
                            t = Some(dc);
                        }
                    }
                    let t = match t {
                        Some(t) if t > now => t,
                        _ => now + SOON,
                    };
                    // The leader must notice its own expiry on time.
                    tk.term_expires.map_or(t, |e| t.min(e.max(now)))
                }
                State::Candidate => match tk.election_retry {
                    Some((_, at)) => at.max(now),
                    None => tk.election_end.unwrap_or(now + SOON),
                },
                State::Init | State::Follower => match (tk.is_owned(), tk.term_expires) {
                    (true, Some(e)) => e + tk.cfg.acquire_after,
                    _ => idle,
                },
            }
        };
        // A deferred election goes ahead when the start-up fence lifts.
        if tk.deferred_election.is_some() {
            let at = tk.vote_fence.map_or(now, |f| f.max(now));
            next = next.min(at);
        }
        // A running handler's exit wakes the ticket (handle_handler_exit);
        // polling it every few milliseconds would only burn CPU.
        let handler_running = matches!(tk.handler, Handler::Running(_));
        if tk.next_state.is_some() && !handler_running {
            next = if tk.acks_expected == 0 {
                now + SOON
            } else {
                now + tk.cfg.timeout
            };
        }
        self.tickets[i].next_cron = Some(next);
    }

    /// The lease end a leader can prove, for checks: `None` unless leading.
    pub fn proven_lease(&self, i: usize) -> Option<Time> {
        let tk = &self.tickets[i];
        (tk.state == State::Leader && tk.leader == Leader::Member(self.me) && tk.cib_granted)
            .then_some(tk.term_expires)
            .flatten()
    }

    /// The lease end this member holds as leader on the strength of a
    /// majority's acknowledgements (an automatic ticket it leads, with its
    /// latest leadership acknowledged): what the simulator checks against the
    /// acknowledgements the followers sent. `None` otherwise, including right
    /// after an election win, whose lease is still tentative.
    pub fn acknowledged_lease(&self, i: usize) -> Option<Time> {
        let tk = &self.tickets[i];
        (tk.state == State::Leader
            && tk.leader == Leader::Member(self.me)
            && tk.lease_proven
            && !tk.cfg.is_manual())
        .then_some(tk.term_expires)
        .flatten()
    }

    /// When the ticket's periodic work is next due (its `next_cron`), for
    /// checks that a member does not sleep through a leader's loss.
    pub fn ticket_wakeup(&self, i: usize) -> Option<Time> {
        self.tickets[i].next_cron
    }
}
