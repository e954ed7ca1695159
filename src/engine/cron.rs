//! Time-driven behaviour: start-up (the CIB's state, the state query), the
//! per-ticket cron and what it decides next; elections are in election.rs,
//! the lease and CIB writes in lease.rs (spec raft.md §6, §15, §18–§20).

use super::Tix;
use std::time::Duration;

use super::ticket::{Handler, NextState, Renewal, State, TermBump};
use super::{CibState, Engine, Leader, Output};
use crate::wire::codes::*;
use crate::wire::{Cmd, Reason, Rlt};

/// "Near future" of the C booth: how soon a ticket with pending work runs.
pub(super) const SOON: Duration = Duration::from_millis(10);
/// Longest sleep of an automatic ticket with nothing to do.
pub(super) const IDLE_WAKEUP: Duration = Duration::from_secs(3600);
/// Manual tickets wake (and their leaders send heartbeats) this often.
pub(super) const MANUAL_WAKEUP: Duration = Duration::from_secs(60);
/// Upper bound of the random delay before an election.
pub(super) const MAX_ELECTION_DELAY_MS: u64 = 1000;
/// Tickets that send their start-up state query in one call (the start, a
/// reload, each [`Engine::handle_timeout`] while some wait). At 10,000
/// tickets, asking all at once was 20,000 datagrams in one turn of the
/// daemon's loop (0.2-0.3 s), during which no client was answered. In
/// turns of this many, a turn takes a few ms.
pub(super) const QUERIES_PER_TURN: usize = 128;
/// Tickets whose due cron runs in one call; the others wait for the next
/// call, which the deadline asks for at once. Tickets set up together
/// come due together (the resends of their queries, a wave of renewals):
/// at 10,000 tickets a turn that runs them all took 0.3-0.5 s, and
/// spreading the queries alone did not spread the resends for long: the
/// longer a turn takes, the more are due at the next.
pub(super) const CRONS_PER_TURN: usize = 128;

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
    pub(super) fn apply_cib_state(&mut self, i: Tix, st: &CibState) {
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
                Some(m) if m.is_site() => Leader::of(m.index),
                _ => {
                    tk_warn!(name, "error storing attribute owner ({o})");
                    Leader::Unknown
                }
            },
        };
        // DIFF: no lease is longer than `expire` from any moment, so neither
        // is one loaded from the CIB, whatever our wall clock says of its
        // `expires` (a clock set back would make it hours long).
        let cap = clock.mono + self.tickets[i].cfg.expire;
        let loaded = st.expires.map(|e| clock.mono_of_unix(e));
        // DIFF: and a grant whose `expires` lies further away than that
        // tells that our wall clock is behind (by at least the excess):
        // then it says nothing about how long the grant lasts, which is
        // taken as over (revoked at start, peers kept waiting until the
        // revoke is written or a lease could have run out). The C booth
        // keeps such a grant for as long as the wrong clock says.
        let second = std::time::Duration::from_secs(1);
        let trust_wrong = mutated!(self, TrustWrongClock);
        let keep_stale = mutated!(self, KeepStaleCibGrant);
        let trust_clock = trust_wrong || keep_stale;
        let behind = loaded.is_some_and(|e| e > cap + second) && !trust_clock;
        let implausible = st.granted && behind;
        if implausible {
            tk_warn!(name, "the CIB's grant runs out {} s from now by our clock, longer than a lease can: our wall clock must be behind; taking the grant as over", loaded.map_or(0, |e| e.ms().saturating_sub(clock.mono.ms()) / 1000));
        } else if behind && leader.member().is_some() {
            // DIFF: the same for another site's lease our CIB recorded as
            // we followed it: announced (capped at `expire`), it made our
            // peers refuse the live holder (simulator seed 3730). What we
            // promised is in our record, or fenced.
            tk_warn!(name, "the CIB's lease of {} runs out {} s from now by our clock, longer than a lease can: our wall clock must be behind; taking the lease as over", self.addr_of(leader), loaded.map_or(0, |e| e.ms().saturating_sub(clock.mono.ms()) / 1000));
        }
        let tk = &mut self.tickets[i];
        tk.lease.expires = if behind {
            Some(clock.mono)
        } else {
            loaded.map(|e| e.min(cap))
        };
        // DIFF: a grant whose `expires` is already past may still stand
        // for a running lease: our wall clock may have been set ahead
        // while we were down. It is revoked at once, but our CIB says
        // "granted" until that revoke is written, so we hold our claim
        // until then (`begin_release_hold`), for a lease at most.
        let looks_over = st.granted && loaded.is_some_and(|e| e <= clock.mono);
        tk.cib.granted_until = if implausible || (looks_over && !trust_clock) {
            Some(cap)
        } else {
            tk.lease.expires.filter(|_| st.granted)
        };
        tk.current_term = st.term.unwrap_or(0);
        tk.cib.is_granted = st.granted;
        tk.cib.granted = st.granted;
        tk.leader = leader;
        if leader == Leader::Unknown {
            if st.owner.is_some_and(|o| o != 0) || st.granted {
                tk_warn!(name, "no site matches; site got reconfigured?");
            }
            if st.granted {
                tk_warn!(name, "granted here, assume it belonged to us");
                tk.leader = Leader::of(me);
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
        // towards peers (see `Rare::restart_claim`). The C booth announces
        // the rounded-down lease, and its peers may elect a successor while
        // the old grant is still valid.
        let claim = !mutated!(self, NoRestartClaim);
        if st.granted && tk.leader == Leader::of(me) && !tk.cfg.is_manual() && claim {
            if let Some(e) = st.expires {
                let until = clock.mono_of_unix(e.saturating_add(1)).min(cap + second);
                tk.restart_claim = Some(until);
                tk.note_claim(me, until);
            }
        }
        if st.granted && tk.leader == Leader::of(me) {
            tk.loaded_grant_term = Some(tk.current_term);
        }
        tk.cib.loaded = true;
    }

    /// C `setup_ticket`: state query to all peers at start-up; `query_now`
    /// false puts the query off to a later turn (`send_queries`).
    pub(super) fn setup_ticket(&mut self, i: Tix, query_now: bool) {
        let now = self.now.mono;
        if self.is_site() && self.tickets[i].cib.loaded {
            self.update_ticket_state(i, None);
            self.tickets[i].cib.update = true;
        } else if self.is_site() {
            self.tickets[i].cib.update = true;
        }
        let tk = &mut self.tickets[i];
        tk.startup.postpone = true;
        // DIFF: a member that cannot know what it promised before it
        // started fences itself (see `Startup::vote_fence`); one that got its
        // promises back (promise.rs) knows them.
        let forget = mutated!(self, ForgetPromises);
        let fence = (!tk.startup.promises_restored || forget) && !mutated!(self, NoStartupFence);
        tk.startup.vote_fence = if fence {
            Some(now + tk.cfg.expire)
        } else {
            // The rest of a fence the record says is still up.
            tk.startup.vote_fence.filter(|&f| f > now)
        };
        // DIFF: a grant of ours that we hold only by our CIB and the wall
        // clock's reading of its `expires`, without a record of the lease
        // we proved (a host reboot), stands only as far as a majority
        // confirms it in answer to the state query below (see
        // `note_confirmation`). The C booth keeps it as long as the clock
        // says, and a clock set back while the host was down makes that
        // longer than the lease the grant was written for.
        let (me, site) = (self.me, self.cfg.members[self.me].is_site());
        let unsure = fence
            && site
            && tk.cib.granted
            && tk.leader == Leader::of(me)
            && !tk.cfg.is_manual()
            && tk.lease.expires.is_some_and(|e| e > now)
            && !mutated!(self, TrustUnconfirmedGrant);
        tk.startup.unconfirmed = if unsure { 1 << me } else { 0 };
        // A lease loaded from the CIB that already ran out is dropped now.
        let ran_out = !tk.cfg.is_manual()
            && tk.leader == Leader::of(self.me)
            && tk.lease.expires.is_some_and(|e| e <= now);
        // After a host reboot (no record) it is dropped before the state
        // query: the hold it leaves (below) goes out with the query. Said
        // afterwards, the query's "leader: us, no lease" lifted the
        // start-up fence of peers that had rebooted too, and they elected
        // another site within the old lease (simulator seed 9890). After a
        // daemon restart the record bounds the hold; told in the query as
        // well, a hold of a whole lease made peers refuse a live holder of
        // the same term (seed 2363).
        let query_first = tk.startup.promises_restored || mutated!(self, QueryBeforeHold);
        let ask_now = query_now || ran_out;
        if !ask_now {
            tk.startup.query_pending = true;
            let id = self.ticket_id(i);
            self.queries.push_back(id);
        } else if query_first {
            self.state_query(i);
        }
        if ran_out {
            let tk = &self.tickets[i];
            // DIFF: "ran out" may be our wall clock's reading of the CIB's
            // `expires`, and the clock may be ahead (a reboot before NTP
            // synced): the grant may still stand in truth. Until the CIB revoke is written we
            // keep our claim and report ourselves as holder, as for any
            // revoke within a lease (`Rare::release_hold`), for at most
            // `expire`; the peers that acknowledged the lease may have
            // rebooted too (simulator seed 2796: a second site granted
            // while the revoke was being written). With a record too: its
            // lease may run on while the clock, ahead, ends the CIB's
            // (seed 861: a later admin revoke was announced at once, the
            // grant no longer looking like ours).
            let unsure = tk.cib.granted && self.is_site();
            self.ticket_lost(i);
            if unsure && !mutated!(self, NoReleaseHold) {
                // One claim, the restart claim included, withdrawn when the
                // revoke is written (`end_release_hold`): kept beyond it,
                // our own claim made us refuse the live holder's heartbeats
                // (simulator seed 5844).
                let me = self.me;
                let tk = &mut self.tickets[i];
                let until = tk.peers[me]
                    .claim
                    .map_or(now + tk.cfg.expire, |c| c.max(now + tk.cfg.expire));
                tk.release_hold = Some(until);
                tk.lease.release_hold_term = tk.current_term;
                tk.note_claim(me, until);
                // The hold is told in the state answers (up to a whole
                // lease) and ends once the revoke is written, usually at
                // once: then say so, or peers keep the told hold and
                // refuse the leader we may follow meanwhile until it runs
                // out (simulator seeds 26065, 28391, 15376). A revoke
                // withdraws its sender's claim wherever it arrives.
                tk.deferred_release = Some(super::ticket::DeferredRelease {
                    cmd: OP_REVOKE,
                    expect: OP_ACK,
                    reason: OR_ADMIN,
                    hold_end: true,
                });
            }
        }
        if ask_now && !query_first {
            self.state_query(i);
        }
    }

    /// The state query (`OP_STATUS`, answered with `OP_MY_INDEX`) to all
    /// peers.
    fn state_query(&mut self, i: Tix) {
        let tk = &mut self.tickets[i];
        tk.startup.query_pending = false;
        tk_debug!(tk, "broadcasting state query");
        self.broadcast(i, OP_STATUS, OP_MY_INDEX, RLT_SUCCESS, OR_JUST_SO);
    }

    /// Anything that happens to a ticket happens after its start-up state
    /// query, as in the C booth, where every ticket asks before the first
    /// event: a query still put off goes out first.
    pub(super) fn query_first(&mut self, i: Tix) {
        if self.tickets[i].startup.query_pending {
            self.state_query(i);
        }
    }

    /// The next [`QUERIES_PER_TURN`] start-up state queries put off.
    pub(super) fn send_queries(&mut self) {
        let mut sent = 0;
        while sent < QUERIES_PER_TURN {
            let Some(id) = self.queries.pop_front() else {
                break;
            };
            // Gone with a reload, or asked already (`query_first`).
            let Some(i) = self.ticket_by_id(id) else {
                continue;
            };
            if self.tickets[i].startup.query_pending {
                self.state_query(i);
                self.reindex(i);
                sent += 1;
            }
        }
    }

    /// C `ticket_broadcast`: send our view to every other member.
    /// `expect` is the answer each member acknowledges with.
    pub(super) fn broadcast(&mut self, i: Tix, cmd: Cmd, expect: Cmd, result: Rlt, reason: Reason) {
        let now = self.now.mono;
        let msg = self.build_msg(i, cmd, Cmd::NONE, reason, result);
        let me_bit = 1u32 << self.me;
        let tk = &mut self.tickets[i];
        tk.deferred_release = None;
        tk.round.request = cmd;
        tk.round.reason = reason;
        tk.round.retry_number = 0;
        tk.round.expect = Some(expect);
        tk.round.acked = me_bit;
        tk.round.sent_at = now;
        if cmd == OP_HEARTBEAT {
            tk.lease.hb_sent_at = Some(now);
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
    pub(super) fn schedule_election(&mut self, i: Tix, reason: Reason) {
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
        tk.election.reason = reason;
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
    pub(super) fn failover_delay(&mut self, i: Tix) -> Duration {
        let window = self.tickets[i].timeout_ms().min(MAX_ELECTION_DELAY_MS);
        let lost = self.tickets[i].lost_leader;
        let me = self.me;
        let candidates: Vec<usize> = self
            .cfg
            .members
            .iter()
            .filter(|m| m.is_site() && Leader::of(m.index) != lost)
            .map(|m| m.index)
            .collect();
        let rank = candidates.iter().position(|&m| m == me).unwrap_or(0) as u64;
        let slot = window / (candidates.len().max(1) as u64);
        let jitter = (slot / 4).max(1);
        Duration::from_millis(rank * slot + self.rng.below(jitter))
    }

    pub(super) fn random_delay(&mut self, i: Tix) -> Duration {
        let max = self.tickets[i].timeout_ms().min(MAX_ELECTION_DELAY_MS);
        Duration::from_millis(self.rng.below(max))
    }

    /// C `disown_ticket`.
    pub(super) fn disown_ticket(&mut self, i: Tix) {
        self.set_leader(i, Leader::Unknown);
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        tk.cib.is_granted = false;
        tk.lease.expires = Some(now);
    }

    /// C `reset_ticket`.
    pub(super) fn reset_ticket(&mut self, i: Tix) {
        if let Handler::Running(run) = self.tickets[i].handler {
            let ticket = self.ticket_id(i);
            self.emit(Output::StopHandler { ticket, run });
        }
        // DIFF: a grant waiting for the handler this reset stops (or whose
        // verdict it drops) is over; the C booth left its client waiting
        // (simulator seed 5174: a peer's revoke during the handler).
        if self.tickets[i].handler != Handler::Idle {
            self.end_waiting_grants(i, RLT_SYNC_FAIL);
        }
        self.tickets[i].handler = Handler::Idle;
        self.disown_ticket(i);
        let tk = &mut self.tickets[i];
        tk.no_resends();
        tk.lease.proven = false;
        tk.state = State::Init;
        tk.next_state = None;
        tk.election.voted_for = None;
        tk.election.running = false;
        tk.election_end = None;
    }

    pub(super) fn reset_ticket_and_set_no_leader(&mut self, i: Tix) {
        self.reset_ticket(i);
        self.set_leader(i, Leader::NoOne);
    }

    /// C `ticket_cron`.
    pub(super) fn ticket_cron(&mut self, i: Tix) {
        let now = self.now.mono;
        let keep_expired = mutated!(self, LeaderKeepsExpiredTicket);
        let tk = &mut self.tickets[i];
        if tk.startup.postpone && now < self.started_at + tk.cfg.timeout {
            tk_debug!(tk, "ticket processing postponed");
            tk.next_cron = Some(self.started_at + tk.cfg.timeout);
            return;
        }
        tk.startup.postpone = false;
        if tk.startup.unconfirmed != 0 && self.drop_unconfirmed_grant(i) {
            return;
        }
        let tk = &mut self.tickets[i];
        if tk.startup.vote_fence.is_none_or(|f| f <= now) {
            if let Some(d) = tk.deferred_election.take() {
                let started = self.new_election(i, d.preference, d.bump, d.reason);
                // A grant deferred by the start-up fence that cannot go on
                // now (a lease learned meanwhile) is over: say so rather
                // than leave its client waiting (simulator seed 303).
                if started.is_none() {
                    self.end_waiting_grants(i, RLT_SYNC_FAIL);
                }
                return;
            }
        }
        let tk = &mut self.tickets[i];
        match tk.election_retry {
            Some(_) if tk.state != State::Candidate => tk.election_retry = None,
            Some(r) if r.at <= now => {
                tk.election_retry = None;
                self.retry_election(i, r.bump);
                return;
            }
            Some(r) => {
                tk.next_cron = Some(r.at);
                return;
            }
            None => {}
        }
        let tk = &mut self.tickets[i];
        if tk.round.expect == Some(OP_MY_INDEX) {
            // DIFF: the C booth asks once. Members that were not up yet are
            // asked again while our vote fence is up, so that a cluster
            // started one member at a time can elect without waiting a lease;
            // also after a restart with our promises given back (no fence),
            // so that we learn the leader before its next renewal.
            let fenced = tk.startup.vote_fence.is_some_and(|f| f > now);
            let asking =
                fenced || (tk.startup.promises_restored && now < self.started_at + tk.cfg.expire);
            if asking && tk.round.retry_number < tk.cfg.retries {
                tk.round.retry_number += 1;
                self.resend_msg(i);
            } else {
                self.tickets[i].no_resends();
            }
        }
        let tk = &mut self.tickets[i];
        let keep_own = keep_expired && tk.leader == Leader::of(self.me);
        let expired_owned = !tk.cfg.is_manual()
            && !keep_own
            && tk.is_owned()
            && tk.lease.expires.is_some_and(|e| e <= now);
        if let Some(ns) = tk.next_state.take() {
            self.process_next_state(i, ns);
        } else if expired_owned {
            self.ticket_lost(i);
        } else {
            self.next_action(i);
        }
        let tk = &self.tickets[i];
        if !tk.election.running && tk.cib.update {
            self.ticket_write(i);
        }
    }

    pub(super) fn process_next_state(&mut self, i: Tix, ns: NextState) {
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
                    if rv != RLT_SUCCESS {
                        self.tickets[i].outcome = rv;
                        self.notify_waiters(i, None);
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
                self.notify_waiters(i, None);
            }
            NextState::Follower => {}
        }
    }

    pub(super) fn log_reacquire_reason(&self, i: Tix) {
        let tk = &self.tickets[i];
        let now = self.now.mono;
        let me = Leader::of(self.me);
        if tk.leader == me && tk.time_left(now) == 0 {
            tk_warn!(
                tk,
                "granted here, but not valid anymore (will try to reacquire)"
            );
        } else if tk.cib.is_granted && tk.leader != me && tk.is_owned() {
            tk_warn!(
                tk,
                "granted here, but also {}, that's really too bad (will try to reacquire)",
                self.addr_of(tk.leader)
            );
        } else if tk.cib.is_granted && tk.leader != me {
            tk_warn!(
                tk,
                "granted here, but we're not recorded as the grantee (will try to reacquire)"
            );
        } else {
            tk_info!(tk, "reacquiring ticket");
        }
    }

    pub(super) fn next_action(&mut self, i: Tix) {
        let now = self.now.mono;
        let tk = &self.tickets[i];
        match tk.state {
            State::Init => self.init_action(i),
            State::Follower if tk.cfg.is_manual() => self.init_action(i),
            State::Follower => {
                if let Handler::Exited(_) = tk.handler {
                    // DIFF: a grant asked for while we follow no one (told
                    // "granted to none") ran the before-acquire-handler; the
                    // C booth takes such a grant further only in the Init
                    // state, so its client waited for good (simulator seed
                    // 1465).
                    self.grant_after_handler(i);
                    return;
                }
                if tk.leader != Leader::Unknown {
                    return;
                }
                if tk.election.voted_for.is_none() || !tk.election.running {
                    self.disown_ticket(i);
                    let started = self.new_election(i, None, TermBump::IfUsed, OR_AGAIN);
                    if started != Some(true) {
                        let tk = &mut self.tickets[i];
                        tk.next_cron = Some(now + tk.cfg.timeout);
                    }
                } else {
                    // We voted in someone's election: give it a timeout to end.
                    let tk = &mut self.tickets[i];
                    tk.election.running = false;
                    tk.next_cron = Some(now + tk.cfg.timeout);
                }
            }
            State::Candidate => self.elections_end(i),
            State::Leader => {
                if tk.round.expect.is_some() {
                    self.handle_resends(i);
                } else if let ExtProg::Pass = self.do_ext_prog(i, true) {
                    self.broadcast(i, OP_HEARTBEAT, OP_ACK, RLT_SUCCESS, OR_JUST_SO);
                    self.tickets[i].lease.renewal = Renewal::HeartbeatSent;
                }
            }
        }
    }

    pub(super) fn init_action(&mut self, i: Tix) {
        if let Handler::Exited(_) = self.tickets[i].handler {
            self.grant_after_handler(i);
        } else if self.tickets[i].round.expect.is_some() {
            self.handle_resends(i);
        }
    }

    /// An admin grant whose before-acquire-handler has exited: acquire
    /// (the handler's verdict is taken there), or answer the waiting
    /// clients why not. A follower that learned of a leader while the
    /// handler ran does not contest it: the grant is over.
    fn grant_after_handler(&mut self, i: Tix) {
        let rv = if self.tickets[i].state == State::Follower && self.tickets[i].is_owned() {
            self.tickets[i].handler = Handler::Idle;
            RLT_OVERGRANT
        } else {
            self.acquire_ticket(i, OR_ADMIN)
        };
        if rv != RLT_SUCCESS {
            // The verdict was for this grant, which is over (unmet
            // prerequisites return before the verdict is taken).
            self.tickets[i].handler = Handler::Idle;
            self.tickets[i].delay_commit = None;
            self.tickets[i].outcome = rv;
            self.notify_waiters(i, None);
        }
    }
}
