//! Peer messages: building and sending them, receiving them (sender's view,
//! claims, stale hand-overs, acknowledgements) and dispatching them to the
//! handlers in votes.rs and follow.rs; the follower's shared steps (spec
//! raft.md §3–§5).

use super::ticket::State;
use super::Tix;
use super::{Dropped, Engine, Leader, Output};
use crate::wire::codes::*;
use crate::wire::{Cmd, Header, Reason, Rlt, TicketBody, TicketMsg, MAGIC, NO_ONE, VERSION};

/// The fields of a received ticket message the handlers use, with the leader
/// resolved to a member and the validity converted to milliseconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct In {
    pub from: usize,
    pub cmd: Cmd,
    pub request: Cmd,
    pub reason: Reason,
    pub result: Rlt,
    pub leader: Leader,
    pub term: u32,
    pub valid_ms: u64,
}

impl Engine {
    /// Milliseconds per unit of `term_valid_for`: seconds unless the
    /// configuration has sub-second times (the C booth's `TIME_MULT`).
    pub(super) fn valid_unit_ms(&self) -> u64 {
        if self.cfg.subsecond_times {
            1
        } else {
            1000
        }
    }

    /// Encodes a remaining time, rounding up so that a receiver never ends a
    /// lease earlier than we do (DIFF: the C booth truncates).
    pub(super) fn encode_valid(&self, ms: u64) -> u32 {
        let unit = self.valid_unit_ms();
        ms.div_ceil(unit).min(u32::MAX as u64) as u32
    }

    pub(super) fn leader_id(&self, l: Leader) -> Option<u32> {
        l.member().map(|m| self.site_id_of(m))
    }

    /// Our view of ticket `i` as a message (C `init_ticket_msg`).
    pub(super) fn build_msg(
        &self,
        i: Tix,
        cmd: Cmd,
        request: Cmd,
        reason: Reason,
        result: Rlt,
    ) -> TicketMsg {
        let tk = &self.tickets[i];
        let now = self.now.mono;
        let (leader, voted_for, term, left) = match (cmd, tk.state, tk.committed) {
            // A candidate answers state queries with its last committed copy.
            (OP_MY_INDEX, State::Candidate, Some(s)) => (
                s.leader,
                s.voted_for,
                s.term,
                s.term_expires
                    .map_or(0, |e| e.ms().saturating_sub(now.ms())),
            ),
            // DIFF: while our CIB revoke is being written we still hold the
            // ticket there, and say so (see Rare::release_hold), in the
            // term of that lease; a vote request of ours is in the term we
            // campaign in.
            _ if tk.release_hold.is_some_and(|h| h > now) && cmd != OP_VOTE_FOR => (
                Leader::of(self.me),
                None,
                if cmd == OP_REQ_VOTE || mutated!(self, HoldInAnyTerm) {
                    tk.current_term
                } else {
                    tk.lease.release_hold_term
                },
                tk.release_hold
                    .map_or(0, |h| h.ms().saturating_sub(now.ms())),
            ),
            _ => (
                tk.leader,
                tk.election.voted_for,
                tk.current_term,
                tk.time_left(now),
            ),
        };
        // A restarted holder's claim may reach past its own lease.
        let left = match tk.restart_claim {
            Some(c) if leader == Leader::of(self.me) => left.max(c.ms().saturating_sub(now.ms())),
            _ => left,
        };
        let leader = self
            .leader_id(leader)
            .or_else(|| voted_for.map(|v| self.site_id_of(usize::from(v))))
            .unwrap_or(NO_ONE);
        // DIFF: a leader's heartbeat offers a full lease; the lease counts
        // only once a majority has acknowledged it (see leader_update_ticket).
        let valid = if cmd == OP_HEARTBEAT && tk.state == State::Leader && !tk.cfg.is_manual() {
            self.encode_valid(tk.expire_ms())
        } else {
            self.encode_valid(left)
        };
        TicketMsg {
            header: Header {
                magic: MAGIC,
                version: VERSION,
                from: self.site_id_of(self.me),
                cmd,
                request,
                reason,
                result,
                ..Header::default()
            },
            body: TicketBody {
                name: tk.cfg.name.to_string(),
                leader,
                term,
                term_valid_for: valid,
            },
        }
    }

    pub(super) fn send(&mut self, i: Tix, to: usize, cmd: Cmd, request: Cmd, result: Rlt) {
        let msg = self.build_msg(i, cmd, request, OR_JUST_SO, result);
        self.emit(Output::Send {
            to,
            msg,
            resend: false,
        });
    }

    pub(super) fn send_reject(&mut self, i: Tix, to: usize, result: Rlt, request: Cmd) {
        self.send(i, to, OP_REJECTED, request, result);
    }

    /// C `ticket_recv`: resolve the leader, count acknowledgements, dispatch.
    pub(super) fn ticket_recv(
        &mut self,
        i: Tix,
        from: usize,
        msg: &TicketMsg,
    ) -> Result<(), Dropped> {
        let leader = match msg.body.leader {
            NO_ONE => Leader::NoOne,
            id => match self.cfg.member_by_id(id) {
                // Only sites can hold tickets; anything else is a forgery.
                Some(m) if m.is_site() => Leader::of(m.index),
                _ => {
                    tk_warn!(
                        self.tickets[i],
                        "message with unknown leader {:#x} received",
                        id
                    );
                    return Err(Dropped::Invalid);
                }
            },
        };
        let m = In {
            from,
            cmd: msg.header.cmd,
            request: msg.header.request,
            reason: msg.header.reason,
            result: msg.header.result,
            leader,
            term: msg.body.term,
            valid_ms: msg.body.term_valid_for as u64 * self.valid_unit_ms(),
        };
        // Messages that carry the sender's own view of the ticket (a vote
        // carries its vote instead): record the lease it claims, and that we
        // have heard this member's view.
        if matches!(
            m.cmd,
            OP_HEARTBEAT | OP_UPDATE | OP_MY_INDEX | OP_REJECTED | OP_STATUS | OP_ACK
        ) {
            // DIFF: not from a message of a term its sender has since left
            // (delayed in the network: the lease it tells of is long over,
            // counted from now it would be a made-up one). A candidate's
            // state answer carries its last committed term on purpose.
            let stale = m.term < self.tickets[i].peers[from].heard_term
                && m.cmd != OP_MY_INDEX
                && !mutated!(self, StaleClaim);
            if let (Some(s), true, false) = (m.leader.member(), m.valid_ms > 0, stale) {
                self.note_claim_from(i, &m, s);
            }
            let others = self.all_bits() & !(1 << self.me);
            let tk = &mut self.tickets[i];
            tk.startup.views_heard |= 1 << from;
            if u32::from(tk.startup.views_heard) & others == others
                && tk.startup.vote_fence.take().is_some()
            {
                // A deferred election may go ahead now.
                if tk.deferred_election.is_some() {
                    tk.next_cron = Some(self.now.mono);
                }
            }
        }
        // DIFF: a release or revoke from a term its sender has since left
        // arrives late (the C booth resets the ticket, and may then elect a
        // second leader while the sender's newer lease runs).
        let heard = self.tickets[i].peers[from].heard_term;
        let release = (m.cmd == OP_VOTE_FOR && m.leader == Leader::NoOne) || m.cmd == OP_REVOKE;
        if release && m.term < heard && !mutated!(self, ReleaseOfAnyTerm) {
            tk_warn!(
                self.tickets[i],
                "{} from {} in term {} is stale (it has sent term {} since), ignoring",
                code_to_string(m.cmd),
                self.cfg.members[from].addr_string,
                m.term,
                heard
            );
            return Ok(());
        }
        self.tickets[i].peers[from].heard_term = heard.max(m.term);
        self.update_acks(i, &m);
        self.raft_answer(i, &m)
    }

    /// Records the lease a message says `site` holds. DIFF: never longer
    /// than a lease can be (`expire`, plus the second a restarted holder's
    /// CIB may round away), so a peer whose wall clock is wrong cannot lock
    /// the cluster out for longer; and not a claim of an older term than the
    /// lease of another site we acknowledged and that still runs (the C
    /// booth has no claims; see `Lease::acked_lead`).
    pub(super) fn note_claim_from(&mut self, i: Tix, m: &In, site: usize) {
        let now = self.now.mono;
        // Our own lease we know better than anyone: a peer's figure runs
        // longer (it counts from the arrival of our heartbeat), and taking
        // it would make us refuse the next leader after we lost the
        // ticket (found by the simulator, seed 1142).
        if site == self.me && !mutated!(self, StaleClaim) {
            return;
        }
        let tk = &self.tickets[i];
        let cap = tk.expire_ms() + 1000;
        let until = now + std::time::Duration::from_millis(m.valid_ms.min(cap));
        if let Some(acked) = tk.lease.acked_lead {
            let (lead, term) = (acked.leader(), acked.term);
            let running = tk.peers[lead].claim.is_some_and(|c| c > now);
            if lead != site && m.term < term && running && !mutated!(self, StaleClaim) {
                tk_debug!(
                    tk,
                    "{} claims a lease for {} in term {}, older than {}'s (term {}): stale",
                    self.cfg.members[m.from].addr_string,
                    self.cfg.members[site].addr_string,
                    m.term,
                    self.cfg.members[lead].addr_string,
                    term
                );
                return;
            }
        }
        self.tickets[i].note_claim(site, until);
    }

    pub(super) fn update_acks(&mut self, i: Tix, m: &In) {
        let all = self.all_bits();
        let tk = &mut self.tickets[i];
        // DIFF: the clause the C booth means to have — stop resending a
        // step-down once a site has started an election — actually works.
        if tk.round.request == OP_VOTE_FOR
            && tk.round.expect == Some(OP_REQ_VOTE)
            && m.cmd == OP_REQ_VOTE
        {
            tk.no_resends();
            return;
        }
        if m.request != tk.round.request || Some(m.cmd) != tk.round.expect {
            return;
        }
        // DIFF: an acknowledgement from another term answers an earlier
        // request, not the one outstanding (the C booth counts it, ends the
        // round and starts a new one, whose lease the stale answer backs).
        if m.cmd == OP_ACK && m.term != tk.current_term && !mutated!(self, AcksOfAnyTerm) {
            return;
        }
        tk.round.acked |= 1 << m.from;
        if tk.round.acked & all == all {
            let was_state_query = tk.round.expect == Some(OP_MY_INDEX);
            tk.no_resends();
            tk.startup.postpone = false;
            if was_state_query {
                // Everyone told us what it knows: no lease can be hidden from us.
                tk.startup.vote_fence = None;
            }
            self.set_ticket_wakeup(i);
        }
    }

    pub(super) fn raft_answer(&mut self, i: Tix, m: &In) -> Result<(), Dropped> {
        let tk = &self.tickets[i];
        // DIFF: "you are outdated, the ticket is revoked" answers a
        // candidate that re-takes a ticket it thinks was lost; the voters
        // that saw the revoke may well be in an older term (our failed
        // rounds raised ours). The C booth ignores the answer and campaigns
        // for good.
        let revoked_answer = m.cmd == OP_REJECTED
            && m.result == RLT_YOU_OUTDATED
            && m.leader == Leader::NoOne
            && tk.state == State::Candidate
            && tk.election.reason == OR_TKT_LOST;
        if m.cmd != OP_STATUS && tk.is_term_invalid(m.term) && !revoked_answer {
            tk_info!(
                tk,
                "got invalid term from {} ({}), ignoring",
                self.cfg.members[m.from].addr_string,
                m.term
            );
            // DIFF: tell the sender which term we have seen, so that a member
            // that restarted with an old term can catch up instead of being
            // ignored for good (replies to replies excepted, to avoid loops).
            if m.cmd != OP_REJECTED && !(m.cmd == OP_MY_INDEX && m.request == OP_MY_INDEX) {
                self.send(i, m.from, OP_MY_INDEX, OP_MY_INDEX, RLT_SUCCESS);
            }
            return Ok(());
        }
        // The live holder itself tells a restarted stale holder.
        if matches!(m.cmd, OP_HEARTBEAT | OP_UPDATE) && m.leader == Leader::of(m.from) {
            self.give_way_if_stale_own(i, m);
        }
        let tk = &self.tickets[i];
        let me = Leader::of(self.me);
        let now = self.now.mono;
        match m.cmd {
            OP_REQ_VOTE => self.answer_req_vote(i, m),
            OP_VOTE_FOR => self.process_vote_for(i, m),
            OP_ACK => {
                if tk.leader == me && tk.state == State::Leader {
                    self.process_ack(i, m);
                }
            }
            OP_HEARTBEAT => {
                if (tk.leader != me || tk.time_left(now) == 0)
                    && matches!(tk.state, State::Init | State::Follower | State::Candidate)
                {
                    return self.answer_heartbeat(i, m);
                }
                self.unexpected(i, m);
            }
            OP_UPDATE => {
                let ok_leader = (tk.leader != me && tk.leader == m.leader) || !tk.is_owned();
                if ok_leader && matches!(tk.state, State::Init | State::Follower | State::Candidate)
                {
                    self.process_update(i, m);
                } else {
                    self.unexpected(i, m);
                }
            }
            OP_REJECTED => self.process_rejected(i, m),
            OP_REVOKE => self.process_revoke(i, m),
            OP_MY_INDEX => self.process_my_index(i, m),
            OP_STATUS => {
                if !tk.election.running {
                    tk_debug!(
                        tk,
                        "sending status to {}",
                        self.cfg.members[m.from].addr_string
                    );
                    self.send(i, m.from, OP_MY_INDEX, OP_STATUS, RLT_SUCCESS);
                }
            }
            _ => {
                tk_warn!(
                    tk,
                    "unknown message {} from {}",
                    code_to_string(m.cmd),
                    self.cfg.members[m.from].addr_string
                );
                return Err(Dropped::Invalid);
            }
        }
        Ok(())
    }

    /// A heartbeat or update we did not expect (we lead, or another leader).
    pub(super) fn unexpected(&mut self, i: Tix, m: &In) {
        let now = self.now.mono;
        tk_warn!(
            self.tickets[i],
            "unexpected message {} from {} in state {}",
            code_to_string(m.cmd),
            self.cfg.members[m.from].addr_string,
            self.tickets[i].state.as_str()
        );
        self.mark_granted(i, m.from);
        if self.tickets[i].seems_ok(now) {
            self.send_reject(i, m.from, RLT_TERM_STILL_VALID, m.cmd);
        }
    }

    /// Manual tickets track every site that claims to hold them.
    pub(super) fn mark_granted(&mut self, i: Tix, site: usize) {
        let tk = &mut self.tickets[i];
        if tk.cfg.is_manual() {
            tk.sites_where_granted |= 1 << site;
        }
    }

    pub(super) fn unmark_granted(&mut self, i: Tix, l: Leader) {
        let tk = &mut self.tickets[i];
        if let (true, Some(m)) = (tk.cfg.is_manual(), l.member()) {
            tk.sites_where_granted &= !(1 << m);
        }
    }

    /// C `set_leader`: forgetting a leader unmarks it; a manual ticket's new
    /// leader is marked as holding it.
    pub(super) fn set_leader(&mut self, i: Tix, l: Leader) {
        if l == Leader::Unknown {
            let old = self.tickets[i].leader;
            self.unmark_granted(i, old);
        }
        self.tickets[i].leader = l;
        if let Some(m) = l.member() {
            self.mark_granted(i, m);
        }
    }

    /// C `newer_term`: a higher term from another site makes us its follower.
    pub(super) fn newer_term(&mut self, i: Tix, m: &In, in_election: bool) -> bool {
        let tk = &self.tickets[i];
        if m.leader == Leader::of(self.me) || m.term <= tk.current_term {
            return false;
        }
        tk_info!(
            tk,
            "from {}: higher term {} vs. {}, following {}",
            self.cfg.members[m.from].addr_string,
            m.term,
            tk.current_term,
            self.addr_of(m.leader)
        );
        self.tickets[i].state = State::Follower;
        if !in_election {
            self.set_leader(i, m.leader);
        }
        self.tickets[i].current_term = m.term;
        self.leave_candidacy(i);
        true
    }

    pub(super) fn term_too_low(&mut self, i: Tix, m: &In) -> bool {
        let tk = &self.tickets[i];
        if m.term >= tk.current_term {
            return false;
        }
        tk_info!(
            tk,
            "sending reject to {}, its term too low ({} vs. {})",
            self.cfg.members[m.from].addr_string,
            m.term,
            tk.current_term
        );
        self.send_reject(i, m.from, RLT_TERM_OUTDATED, m.cmd);
        true
    }

    /// C `become_follower`, with the leader set in the same step.
    pub(super) fn become_follower(&mut self, i: Tix, m: &In, leader: Leader) {
        let now = self.now.mono;
        let copy_term = mutated!(self, TermRegression);
        let tk = &mut self.tickets[i];
        let offered = now + std::time::Duration::from_millis(m.valid_ms);
        tk.lease.expires = Some(tk.extended_expiry(self.me, leader, offered));
        // DIFF: terms never go backwards (C copies the message's term).
        tk.current_term = tk.current_term.max(m.term);
        if copy_term {
            tk.current_term = m.term;
        }
        tk.state = State::Follower;
        tk.delay_commit = None;
        tk.election.running = false;
        let was_granted = std::mem::take(&mut tk.cib.is_granted) || tk.cib.granted;
        self.set_leader(i, leader);
        self.leave_candidacy(i);
        // DIFF: the C booth also resets the expiry it just copied when the CIB
        // said "granted" here, which later causes a spurious election and CIB
        // revoke; we keep the leader's lease and only correct the CIB. A
        // former leader (e.g. re-acquiring) that now follows another site
        // revokes its grant here too.
        if was_granted && self.is_site() && leader != Leader::of(self.me) {
            self.ticket_write(i);
        }
    }

    /// A grant client waiting on an election we no longer run learns the
    /// outcome now (DIFF: the C booth leaves such clients waiting forever).
    pub(super) fn leave_candidacy(&mut self, i: Tix) {
        let tk = &self.tickets[i];
        if tk.state != State::Candidate
            && tk.leader != Leader::of(self.me)
            && tk.waiters.iter().any(|w| w.cmd == CMD_GRANT)
        {
            self.tickets[i].outcome = RLT_SYNC_FAIL;
            self.notify_waiters(i, Some(CMD_GRANT));
        }
    }

    /// C `update_ticket_from_msg`.
    pub(super) fn update_ticket_from_msg(&mut self, i: Tix, m: &In) {
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        let valid = m.valid_ms.min(tk.expire_ms());
        let offered = now + std::time::Duration::from_millis(valid);
        tk.lease.expires = Some(tk.extended_expiry(self.me, m.leader, offered));
        // DIFF: never backwards, also for a candidate (C copies it then).
        tk.current_term = m.term.max(tk.current_term);
        tk_debug!(
            tk,
            "updating from {} ({}/{})",
            self.cfg.members[m.from].addr_string,
            m.term,
            m.valid_ms
        );
    }
}
