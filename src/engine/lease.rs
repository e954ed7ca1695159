//! The lease and what hangs on it: loss, revoke and hand-over, acquiring
//! (handler, prerequisites), CIB writes and wake-ups (spec raft.md §12–§20).

use super::cron::*;
use super::ticket::{DeferredRelease, Handler, Renewal, State, TermBump};
use super::Tix;
use super::{CibWrite, Engine, Leader, Output, Time};
use crate::config::{AttrOp, GrantType};
use crate::wire::codes::*;
use crate::wire::{Cmd, Reason, Rlt};
use std::time::Duration;

impl Engine {
    /// C `ticket_lost`: the lease ran out without renewal.
    pub(super) fn ticket_lost(&mut self, i: Tix) {
        let me = Leader::of(self.me);
        let tk = &self.tickets[i];
        let reason = if tk.leader != me {
            tk_warn!(tk, "lost at {}", self.addr_of(tk.leader));
            OR_TKT_LOST
        } else if matches!(tk.handler, Handler::Running(_)) {
            tk_warn!(tk, "handler timed out");
            OR_LOCAL_FAIL
        } else {
            tk_warn!(tk, "lost majority (revoking locally)");
            if tk.election.reason != OR_JUST_SO {
                tk.election.reason
            } else {
                OR_REACQUIRE
            }
        };
        let old = tk.leader;
        // Our CIB may still say "granted" within a lease (a grant loaded at
        // start-up that only looks over): keep our claim until the revoke
        // below is written.
        if old == me {
            self.begin_release_hold(i);
        }
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
            self.notify_waiters(i, None);
        }
        if self.is_site() {
            self.ticket_write(i);
            self.schedule_election(i, reason);
        }
    }

    /// C `start_revoke_ticket`.
    pub(super) fn start_revoke_ticket(&mut self, i: Tix) {
        tk_info!(self.tickets[i], "revoking ticket");
        self.tickets[i].peers[self.me].claim = None;
        self.tickets[i].save_committed();
        self.reset_ticket_and_set_no_leader(i);
        self.begin_release_hold(i);
        self.ticket_write(i);
        self.release_broadcast(i, OP_REVOKE, OP_ACK, OR_ADMIN);
        // DIFF: a grant still waiting (for its election or its commit) is
        // over: say so instead of leaving the client waiting for good.
        self.end_waiting_grants(i, RLT_SYNC_FAIL);
    }

    /// We give up a ticket our CIB may say we hold within its lease: until
    /// the revoke is written, our claim stays (see `Rare::release_hold`).
    pub(super) fn begin_release_hold(&mut self, i: Tix) {
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        if !tk.cib.granted || tk.cfg.is_manual() || mutated!(self, NoReleaseHold) {
            return;
        }
        if let Some(until) = tk.cib.granted_until.filter(|&u| u > now) {
            tk.release_hold = Some(until);
            tk.lease.release_hold_term = tk.current_term;
            tk.note_claim(self.me, until);
        }
    }

    /// Hands the ticket over (a revoke or a step-down) once our CIB no
    /// longer says "granted" within a lease: see `Rare::release_hold`.
    pub(super) fn release_broadcast(&mut self, i: Tix, cmd: Cmd, expect: Cmd, reason: Reason) {
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        if tk.release_hold.is_some_and(|h| h > now) {
            tk_info!(
                tk,
                "telling the other members once the CIB revoke is written"
            );
            tk.deferred_release = Some(DeferredRelease {
                cmd,
                expect,
                reason,
                hold_end: false,
            });
            return;
        }
        tk.release_hold = None;
        self.broadcast(i, cmd, expect, RLT_SUCCESS, reason);
    }

    /// The CIB revoke is written or its lease is over: withdraw our claim
    /// and send what was held back, unless we have since taken the ticket
    /// again or started something else.
    pub(super) fn end_release_hold(&mut self, i: Tix) {
        let me = self.me;
        let tk = &mut self.tickets[i];
        let Some(hold) = tk.release_hold.take() else {
            return;
        };
        if tk.peers[me].claim == Some(hold) {
            tk.peers[me].claim = None;
        }
        if let Some(d) = tk.deferred_release.take() {
            let free = !tk.is_owned() || d.hold_end;
            if tk.state != State::Leader && tk.state != State::Candidate && free {
                self.broadcast(i, d.cmd, d.expect, RLT_SUCCESS, d.reason);
            }
        }
    }

    /// C `acquire_ticket`: prerequisites, handler, then election or manual
    /// selection. Returns RLT_SUCCESS while in progress, else why it failed.
    pub(super) fn acquire_ticket(&mut self, i: Tix, reason: Reason) -> Rlt {
        if reason == OR_ADMIN && !self.attr_prereqs_ok(i, GrantType::Manual) {
            return RLT_ATTR_PREREQ;
        }
        match self.do_ext_prog(i, false) {
            ExtProg::Pass => {}
            ExtProg::Running => return RLT_SUCCESS,
            ExtProg::Failed => return RLT_EXT_FAILED,
        }
        if self.tickets[i].cfg.is_manual() {
            self.manual_selection(i);
            RLT_SUCCESS
        } else if self.new_election(i, Some(self.me), TermBump::IfUsed, reason) == Some(true) {
            RLT_SUCCESS
        } else {
            // DIFF: nothing started (another site's claimed lease runs) is
            // a failure too; the C booth reported success and its waiting
            // client was never answered.
            RLT_SYNC_FAIL
        }
    }

    /// C `manual_selection`: a manual ticket is taken without an election.
    pub(super) fn manual_selection(&mut self, i: Tix) {
        if !self.is_site() {
            return;
        }
        self.set_leader(i, Leader::of(self.me));
        let tk = &mut self.tickets[i];
        tk.state = State::Leader;
        tk.lease.proven = false;
        tk.election_end = None;
        tk.delay_commit = None;
        tk.save_committed();
        self.broadcast(i, OP_HEARTBEAT, OP_ACK, RLT_SUCCESS, OR_JUST_SO);
        self.tickets[i].lease.renewal = Renewal::HeartbeatSent;
    }

    /// The before-acquire-handler's verdict (C `do_ext_prog`).
    pub(super) fn do_ext_prog(&mut self, i: Tix, start_election: bool) -> ExtProg {
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
                    tk_warn!(self.tickets[i], "we are not allowed to acquire ticket");
                    self.ext_prog_failed(i, start_election);
                    // DIFF: the verdict every grant waiting for this handler
                    // waits for, told to each of them here, whichever path
                    // took it: a second grant or the cron may take it
                    // before the grant that started the handler comes back
                    // for it (simulator seed 2050: that one was never
                    // answered).
                    self.end_waiting_grants(i, RLT_EXT_FAILED);
                    ExtProg::Failed
                }
            }
        }
    }

    pub(super) fn handler_env(&self, i: Tix) -> Vec<(String, String)> {
        let tk = &self.tickets[i];
        // DIFF: 0 when the ticket is not owned, as documented (the C booth
        // passes the moment of its last reset).
        let expires = match (tk.is_owned(), tk.lease.expires) {
            (true, Some(e)) => (self.now.wall_of(e) + 500).div_euclid(1000),
            _ => 0,
        };
        vec![
            ("BOOTH_TICKET".into(), tk.cfg.name.to_string()),
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
    pub(super) fn ext_prog_failed(&mut self, i: Tix, start_election: bool) {
        let now = self.now.mono;
        let me = Leader::of(self.me);
        let tk = &self.tickets[i];
        if tk.cfg.is_manual() {
            if tk.leader == me {
                tk_warn!(
                    tk,
                    "external test failed on the specified machine, cannot acquire a manual ticket"
                );
                self.tickets[i].save_committed();
                self.reset_ticket(i);
                self.ticket_write(i);
            }
            return;
        }
        if start_election && tk.leader == me && tk.time_left(now) > 0 {
            // Step down: give the ticket away so that another site can take it.
            tk_warn!(tk, "handler failed, giving the ticket away");
            self.tickets[i].peers[self.me].claim = None;
            self.tickets[i].save_committed();
            self.reset_ticket(i);
            self.begin_release_hold(i);
            self.ticket_write(i);
            self.release_broadcast(i, OP_VOTE_FOR, OP_REQ_VOTE, OR_LOCAL_FAIL);
        }
    }

    pub(super) fn attr_prereqs_ok(&self, i: Tix, kind: GrantType) -> bool {
        let tk = &self.tickets[i];
        for p in tk.cfg.attr_prereqs.iter().filter(|p| p.grant_type == kind) {
            let have = tk.attrs.get(&p.name).map(|a| a.value.as_str());
            let ok = match p.op {
                AttrOp::Eq => have == Some(p.value.as_str()),
                AttrOp::Ne => have != Some(p.value.as_str()),
            };
            if !ok {
                tk_warn!(tk, "'{}' attr-prereq failed", p.name);
                return false;
            }
        }
        true
    }

    /// C `ticket_dangerous`: must the CIB grant still wait for the commit delay?
    pub(super) fn ticket_dangerous(&mut self, i: Tix) -> bool {
        let now = self.now.mono;
        let all_sites = self.site_bits();
        let tk = &mut self.tickets[i];
        let Some(dc) = tk.delay_commit else {
            return false;
        };
        if now >= dc || tk.round.acked & all_sites == all_sites {
            if now >= dc {
                tk_info!(tk, "ticket delay expired, committing to CIB");
            } else {
                tk_info!(tk, "all sites replied, committing to CIB");
            }
            tk.delay_commit = None;
            tk.cib.delay_logged = false;
            return false;
        }
        if !tk.cib.delay_logged {
            let left = dc.saturating_sub(now);
            tk_info!(
                tk,
                "delaying ticket commit to CIB for {}.{:03}s (or all sites are reached)",
                left.as_secs(),
                left.subsec_millis()
            );
            tk.cib.delay_logged = true;
        }
        true
    }

    /// C `ticket_write`: record our view in the local CIB (sites only).
    pub(super) fn ticket_write(&mut self, i: Tix) -> Written {
        if !self.is_site() {
            return Written::NotSite;
        }
        let me = Leader::of(self.me);
        let granted = self.tickets[i].leader == me;
        if granted {
            if self.ticket_dangerous(i) {
                return Written::Delayed;
            }
            if self.tickets[i].state != State::Leader || !self.tickets[i].lease.proven {
                tk_debug!(
                    self.tickets[i],
                    "ticket state not yet consistent, delaying ticket grant to CIB"
                );
                return Written::Delayed;
            }
        }
        let owner = self.cib_owner(self.tickets[i].leader);
        let tk = &mut self.tickets[i];
        let expires_at = tk.lease.expires.unwrap_or(self.now.mono);
        if granted {
            tk.cib.granted_until = Some(expires_at);
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
        tk.cib.update = false;
        tk.cib.granted = granted;
        self.emit(Output::WriteCib(w));
        Written::Yes
    }

    /// The CIB's `owner` for `leader`: its site id, -1 for nobody, 0 when
    /// unknown.
    pub(super) fn cib_owner(&self, leader: Leader) -> i32 {
        match leader {
            Leader::Unknown => 0,
            Leader::NoOne => -1,
            Leader::Member(m) => self.cfg.members[m as usize].site_id as i32,
        }
    }

    /// Our CIB says "granted" for a lease that has ended, and we have no
    /// newer proven lease to write there (say, re-acquiring after a restart,
    /// the new term not yet acknowledged): revoke it in the CIB now. The
    /// engine's state is left alone; a lease proven later is written as
    /// usual.
    pub(super) fn revoke_stale_cib_grant(&mut self, i: Tix) {
        let owner = self.cib_owner(self.tickets[i].leader);
        let tk = &mut self.tickets[i];
        let until = tk.cib.granted_until.unwrap_or(self.now.mono);
        tk_warn!(
            tk,
            "the lease in the CIB has ended and no newer one is proven yet, revoking it there"
        );
        tk.cib.granted = false;
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
    pub(super) fn set_ticket_wakeup(&mut self, i: Tix) {
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
                            tk.lease.expires.map(|e| {
                                Time::from_ms(e.ms().saturating_sub(slack.as_millis() as u64))
                            })
                        })
                        .flatten();
                    let mut t = tk.lease.last_renewal.map(|r| r + tk.cfg.renewal_freq);
                    if let (Some(a), Some(b)) = (t, by_lease) {
                        t = Some(a.min(b));
                    }
                    // Renewals leave in waves (see `renewal_wave`).
                    let mut t = t.map(|t| renewal_wave(t, now, tk.cfg.renewal_freq));
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
                    tk.lease.expires.map_or(t, |e| t.min(e.max(now)))
                }
                State::Candidate => match tk.election_retry {
                    Some(r) => r.at.max(now),
                    None => tk.election_end.unwrap_or(now + SOON),
                },
                State::Init | State::Follower => match (tk.is_owned(), tk.lease.expires) {
                    (true, Some(e)) => e + tk.cfg.acquire_after,
                    _ => idle,
                },
            }
        };
        // A deferred election goes ahead when the start-up fence lifts.
        if tk.deferred_election.is_some() {
            let at = tk.startup.vote_fence.map_or(now, |f| f.max(now));
            next = next.min(at);
        }
        // An exited handler's verdict is taken by the Init and Follower
        // crons (a grant waiting for it): soon, not at the idle hour (a
        // state answer re-arming the wake-up of a ticket still postponed
        // at start-up left a grant waiting, simulator seed 2001).
        if matches!(tk.handler, Handler::Exited(_))
            && matches!(tk.state, State::Init | State::Follower)
        {
            next = next.min(now + SOON);
        }
        // A running handler's exit wakes the ticket (handle_handler_exit);
        // polling it every few milliseconds would only burn CPU.
        let handler_running = matches!(tk.handler, Handler::Running(_));
        if tk.next_state.is_some() && !handler_running {
            next = if tk.round.expect.is_none() {
                now + SOON
            } else {
                now + tk.cfg.timeout
            };
        } else if tk.next_state.is_some() && next <= now {
            // Waiting for the handler, the pending step comes first at
            // every cron run: a deadline already past (an election's end)
            // would run it again and again without time advancing
            // (simulator seed 5827). The handler's exit wakes the ticket.
            self.tickets[i].next_cron = None;
            return;
        }
        self.tickets[i].next_cron = Some(next);
    }

    /// The lease end a leader can prove, for checks: `None` unless leading.
    pub fn proven_lease(&self, i: Tix) -> Option<Time> {
        let tk = &self.tickets[i];
        (tk.state == State::Leader && tk.leader == Leader::of(self.me) && tk.cib.granted)
            .then_some(tk.lease.expires)
            .flatten()
    }

    /// The lease end this member holds as leader on the strength of a
    /// majority's acknowledgements (an automatic ticket it leads, with its
    /// latest leadership acknowledged): what the simulator checks against the
    /// acknowledgements the followers sent. `None` otherwise, including right
    /// after an election win, whose lease is still tentative.
    pub fn acknowledged_lease(&self, i: Tix) -> Option<Time> {
        let tk = &self.tickets[i];
        (tk.state == State::Leader
            && tk.leader == Leader::of(self.me)
            && tk.lease.proven
            && !tk.cfg.is_manual())
        .then_some(tk.lease.expires)
        .flatten()
    }

    /// When the ticket's periodic work is next due (its `next_cron`), for
    /// checks that a member does not sleep through a leader's loss.
    pub fn ticket_wakeup(&self, i: Tix) -> Option<Time> {
        self.tickets[i].next_cron
    }
}

/// Longest period of the renewal waves (ms).
pub(super) const WAVE_MAX_MS: u64 = 2_000;

/// The period of the renewal waves of tickets renewed every `renewal_freq`:
/// at most a quarter of it (renewing up to that much early costs nothing
/// once a ticket is in step, and a lease keeps at least what it kept), at
/// most [`WAVE_MAX_MS`].
pub(super) fn wave_period(renewal_freq: Duration) -> u64 {
    (renewal_freq.as_millis() as u64 / 4).clamp(1, WAVE_MAX_MS)
}

/// When to renew a lease due for renewal at `due`: at the last wave (a
/// multiple of the period on the engine's clock) not after `due`, so
/// that the renewals of many tickets leave together and their
/// acknowledgements come back together; a ticket is renewed early, never
/// late. A wave already past (`due` within a period of `now`) is not
/// waited for: the renewal keeps `due`.
pub(super) fn renewal_wave(due: Time, now: Time, renewal_freq: Duration) -> Time {
    let q = wave_period(renewal_freq);
    let wave = Time::from_ms(due.ms() - due.ms() % q);
    if wave > now {
        wave
    } else {
        due
    }
}
