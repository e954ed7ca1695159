//! Peer messages: building them and reacting to them (spec raft.md §3–§5).

use log::{debug, error, info, warn};

use super::ticket::{NextState, State};
use super::{Dropped, Engine, Leader, Output};
use crate::wire::codes::*;
use crate::wire::{Header, TicketBody, TicketMsg, MAGIC, NO_ONE, VERSION};

/// The fields of a received ticket message the handlers use, with the leader
/// resolved to a member and the validity converted to milliseconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct In {
    pub from: usize,
    pub cmd: u32,
    pub request: u32,
    pub reason: u32,
    pub result: u32,
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

    fn leader_id(&self, l: Leader) -> Option<u32> {
        l.member().map(|m| self.site_id_of(m))
    }

    /// Our view of ticket `i` as a message (C `init_ticket_msg`).
    pub(super) fn build_msg(
        &self,
        i: usize,
        cmd: u32,
        request: u32,
        reason: u32,
        result: u32,
    ) -> TicketMsg {
        let tk = &self.tickets[i];
        let now = self.now.mono;
        let (leader, voted_for, term, left) = match (cmd, tk.state, tk.committed) {
            // A candidate answers state queries with its last committed copy.
            (OP_MY_INDEX, State::Candidate, Some(s)) => (
                s.leader,
                s.voted_for,
                s.term,
                s.term_expires.map_or(0, |e| e.0.saturating_sub(now.0)),
            ),
            // DIFF: while our CIB revoke is being written we still hold the
            // ticket there, and say so (see Ticket::release_hold).
            _ if tk.release_hold.is_some_and(|h| h > now) && cmd != OP_VOTE_FOR => (
                Leader::Member(self.me),
                None,
                tk.current_term,
                tk.release_hold.map_or(0, |h| h.0.saturating_sub(now.0)),
            ),
            _ => (tk.leader, tk.voted_for, tk.current_term, tk.time_left(now)),
        };
        // A restarted holder's claim may reach past its own lease.
        let left = match tk.restart_claim {
            Some(c) if leader == Leader::Member(self.me) => left.max(c.0.saturating_sub(now.0)),
            _ => left,
        };
        let leader = self
            .leader_id(leader)
            .or_else(|| voted_for.map(|v| self.site_id_of(v)))
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
                name: tk.cfg.name.clone(),
                leader,
                term,
                term_valid_for: valid,
            },
        }
    }

    pub(super) fn send(&mut self, i: usize, to: usize, cmd: u32, request: u32, result: u32) {
        let msg = self.build_msg(i, cmd, request, 0, result);
        self.emit(Output::Send {
            to,
            msg,
            resend: false,
        });
    }

    pub(super) fn send_reject(&mut self, i: usize, to: usize, result: u32, request: u32) {
        self.send(i, to, OP_REJECTED, request, result);
    }

    /// C `ticket_recv`: resolve the leader, count acknowledgements, dispatch.
    pub(super) fn ticket_recv(
        &mut self,
        i: usize,
        from: usize,
        msg: &TicketMsg,
    ) -> Result<(), Dropped> {
        let leader = match msg.body.leader {
            NO_ONE => Leader::NoOne,
            id => match self.cfg.member_by_id(id) {
                // Only sites can hold tickets; anything else is a forgery.
                Some(m) if m.is_site() => Leader::Member(m.index),
                _ => {
                    warn!(
                        "{}: message with unknown leader {:#x} received",
                        self.tickets[i].cfg.name, id
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
            let stale = m.term < self.tickets[i].heard_terms[from]
                && m.cmd != OP_MY_INDEX
                && !mutated!(self, StaleClaim);
            if let (Leader::Member(s), true, false) = (m.leader, m.valid_ms > 0, stale) {
                self.note_claim_from(i, &m, s);
            }
            let others = self.all_bits() & !(1 << self.me);
            let tk = &mut self.tickets[i];
            tk.views_heard |= 1 << from;
            if tk.views_heard & others == others && tk.vote_fence.take().is_some() {
                // A deferred election may go ahead now.
                if tk.deferred_election.is_some() {
                    tk.next_cron = Some(self.now.mono);
                }
            }
        }
        // DIFF: a release or revoke from a term its sender has since left
        // arrives late (the C booth resets the ticket, and may then elect a
        // second leader while the sender's newer lease runs).
        let heard = self.tickets[i].heard_terms[from];
        let release = (m.cmd == OP_VOTE_FOR && m.leader == Leader::NoOne) || m.cmd == OP_REVOKE;
        if release && m.term < heard && !mutated!(self, ReleaseOfAnyTerm) {
            warn!(
                "{}: {} from {} in term {} is stale (it has sent term {} since), ignoring",
                self.tickets[i].cfg.name,
                code_to_string(m.cmd),
                self.cfg.members[from].addr_string,
                m.term,
                heard
            );
            return Ok(());
        }
        self.tickets[i].heard_terms[from] = heard.max(m.term);
        self.update_acks(i, &m);
        self.raft_answer(i, &m)
    }

    /// Records the lease a message says `site` holds. DIFF: never longer
    /// than a lease can be (`expire`, plus the second a restarted holder's
    /// CIB may round away), so a peer whose wall clock is wrong cannot lock
    /// the cluster out for longer; and not a claim of an older term than the
    /// lease of another site we acknowledged and that still runs (the C
    /// booth has no claims; see `Ticket::acked_lead`).
    fn note_claim_from(&mut self, i: usize, m: &In, site: usize) {
        let now = self.now.mono;
        let tk = &self.tickets[i];
        let cap = tk.expire_ms() + 1000;
        let until = now + std::time::Duration::from_millis(m.valid_ms.min(cap));
        if let Some((lead, term)) = tk.acked_lead {
            let running = tk.claims[lead].is_some_and(|c| c > now);
            if lead != site && m.term < term && running && !mutated!(self, StaleClaim) {
                debug!(
                    "{}: {} claims a lease for {} in term {}, older than {}'s (term {}): stale",
                    tk.cfg.name,
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

    fn update_acks(&mut self, i: usize, m: &In) {
        let all = self.all_bits();
        let tk = &mut self.tickets[i];
        // DIFF: the clause the C booth means to have — stop resending a
        // step-down once a site has started an election — actually works.
        if tk.last_request == OP_VOTE_FOR && tk.acks_expected == OP_REQ_VOTE && m.cmd == OP_REQ_VOTE
        {
            tk.no_resends();
            return;
        }
        if m.request != tk.last_request || m.cmd != tk.acks_expected || tk.acks_expected == 0 {
            return;
        }
        // DIFF: an acknowledgement from another term answers an earlier
        // request, not the one outstanding (the C booth counts it, ends the
        // round and starts a new one, whose lease the stale answer backs).
        if m.cmd == OP_ACK && m.term != tk.current_term && !mutated!(self, AcksOfAnyTerm) {
            return;
        }
        tk.acks_received |= 1 << m.from;
        if tk.acks_received & all == all {
            let was_state_query = tk.acks_expected == OP_MY_INDEX;
            tk.no_resends();
            tk.start_postpone = false;
            if was_state_query {
                // Everyone told us what it knows: no lease can be hidden from us.
                tk.vote_fence = None;
            }
            self.set_ticket_wakeup(i);
        }
    }

    fn raft_answer(&mut self, i: usize, m: &In) -> Result<(), Dropped> {
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
            && tk.election_reason == OR_TKT_LOST;
        if m.cmd != OP_STATUS && tk.is_term_invalid(m.term) && !revoked_answer {
            info!(
                "{}: got invalid term from {} ({}), ignoring",
                tk.cfg.name, self.cfg.members[m.from].addr_string, m.term
            );
            // DIFF: tell the sender which term we have seen, so that a member
            // that restarted with an old term can catch up instead of being
            // ignored for good (replies to replies excepted, to avoid loops).
            if m.cmd != OP_REJECTED && !(m.cmd == OP_MY_INDEX && m.request == OP_MY_INDEX) {
                self.send(i, m.from, OP_MY_INDEX, OP_MY_INDEX, RLT_SUCCESS);
            }
            return Ok(());
        }
        let me = Leader::Member(self.me);
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
                if !tk.in_election {
                    debug!(
                        "{}: sending status to {}",
                        tk.cfg.name, self.cfg.members[m.from].addr_string
                    );
                    self.send(i, m.from, OP_MY_INDEX, OP_STATUS, RLT_SUCCESS);
                }
            }
            _ => {
                warn!(
                    "{}: unknown message {} from {}",
                    tk.cfg.name,
                    code_to_string(m.cmd),
                    self.cfg.members[m.from].addr_string
                );
                return Err(Dropped::Invalid);
            }
        }
        Ok(())
    }

    /// A heartbeat or update we did not expect (we lead, or another leader).
    fn unexpected(&mut self, i: usize, m: &In) {
        let now = self.now.mono;
        warn!(
            "{}: unexpected message {} from {} in state {}",
            self.tickets[i].cfg.name,
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
    pub(super) fn mark_granted(&mut self, i: usize, site: usize) {
        let tk = &mut self.tickets[i];
        if tk.cfg.is_manual() {
            tk.sites_where_granted |= 1 << site;
        }
    }

    fn unmark_granted(&mut self, i: usize, l: Leader) {
        let tk = &mut self.tickets[i];
        if let (true, Some(m)) = (tk.cfg.is_manual(), l.member()) {
            tk.sites_where_granted &= !(1 << m);
        }
    }

    /// C `set_leader`: forgetting a leader unmarks it; a manual ticket's new
    /// leader is marked as holding it.
    pub(super) fn set_leader(&mut self, i: usize, l: Leader) {
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
    fn newer_term(&mut self, i: usize, m: &In, in_election: bool) -> bool {
        let tk = &self.tickets[i];
        if m.leader == Leader::Member(self.me) || m.term <= tk.current_term {
            return false;
        }
        info!(
            "{}: from {}: higher term {} vs. {}, following {}",
            tk.cfg.name,
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

    fn term_too_low(&mut self, i: usize, m: &In) -> bool {
        let tk = &self.tickets[i];
        if m.term >= tk.current_term {
            return false;
        }
        info!(
            "{}: sending reject to {}, its term too low ({} vs. {})",
            tk.cfg.name, self.cfg.members[m.from].addr_string, m.term, tk.current_term
        );
        self.send_reject(i, m.from, RLT_TERM_OUTDATED, m.cmd);
        true
    }

    /// C `become_follower`, with the leader set in the same step.
    pub(super) fn become_follower(&mut self, i: usize, m: &In, leader: Leader) {
        let now = self.now.mono;
        let copy_term = mutated!(self, TermRegression);
        let tk = &mut self.tickets[i];
        let offered = now + std::time::Duration::from_millis(m.valid_ms);
        tk.term_expires = Some(tk.extended_expiry(self.me, leader, offered));
        // DIFF: terms never go backwards (C copies the message's term).
        tk.current_term = tk.current_term.max(m.term);
        if copy_term {
            tk.current_term = m.term;
        }
        tk.state = State::Follower;
        tk.delay_commit = None;
        tk.in_election = false;
        let was_granted = std::mem::take(&mut tk.is_granted) || tk.cib_granted;
        self.set_leader(i, leader);
        self.leave_candidacy(i);
        // DIFF: the C booth also resets the expiry it just copied when the CIB
        // said "granted" here, which later causes a spurious election and CIB
        // revoke; we keep the leader's lease and only correct the CIB. A
        // former leader (e.g. re-acquiring) that now follows another site
        // revokes its grant here too.
        if was_granted && self.is_site() && leader != Leader::Member(self.me) {
            self.ticket_write(i);
        }
    }

    /// A grant client waiting on an election we no longer run learns the
    /// outcome now (DIFF: the C booth leaves such clients waiting forever).
    pub(super) fn leave_candidacy(&mut self, i: usize) {
        let tk = &self.tickets[i];
        if tk.state != State::Candidate
            && tk.leader != Leader::Member(self.me)
            && tk.waiters.iter().any(|w| w.cmd == CMD_GRANT)
        {
            self.tickets[i].outcome = RLT_SYNC_FAIL;
            self.notify_waiters(i, CMD_GRANT);
        }
    }

    /// C `update_ticket_from_msg`.
    pub(super) fn update_ticket_from_msg(&mut self, i: usize, m: &In) {
        let now = self.now.mono;
        let tk = &mut self.tickets[i];
        let valid = m.valid_ms.min(tk.expire_ms());
        let offered = now + std::time::Duration::from_millis(valid);
        tk.term_expires = Some(tk.extended_expiry(self.me, m.leader, offered));
        // DIFF: never backwards, also for a candidate (C copies it then).
        tk.current_term = m.term.max(tk.current_term);
        debug!(
            "{}: updating from {} ({}/{})",
            tk.cfg.name, self.cfg.members[m.from].addr_string, m.term, m.valid_ms
        );
    }

    fn answer_req_vote(&mut self, i: usize, m: &In) {
        let now = self.now.mono;
        let tk = &self.tickets[i];
        let name = tk.cfg.name.clone();
        let sender = self.cfg.members[m.from].addr_string.clone();
        if m.reason == OR_TKT_LOST {
            if tk.state == State::Init && tk.leader == Leader::NoOne {
                self.send_reject(i, m.from, RLT_YOU_OUTDATED, m.cmd);
                return;
            }
            if tk.seems_ok(now) {
                self.send_reject(i, m.from, RLT_TERM_STILL_VALID, m.cmd);
                return;
            }
        }
        let left = tk.time_left(now);
        if tk.leader != Leader::Member(m.from) && left > 0 && m.reason != OR_STEPDOWN {
            warn!(
                "{name}: election from {sender} with reason {} rejected (we have {} as ticket owner), ticket still valid for {}ms",
                code_to_string(m.reason),
                self.addr_of(tk.leader),
                left
            );
            self.send_reject(i, m.from, RLT_TERM_STILL_VALID, m.cmd);
            return;
        }
        if self.term_too_low(i, m) {
            return;
        }
        let claim = self.tickets[i].live_claim_besides(m.from, now);
        if let Some((holder, until)) = claim.filter(|_| !mutated!(self, IgnoreClaims)) {
            warn!(
                "{name}: election from {sender} rejected: {} holds a lease for {}ms more",
                self.cfg.members[holder].addr_string,
                until.0 - now.0
            );
            self.send_reject(i, m.from, RLT_TERM_STILL_VALID, m.cmd);
            return;
        }
        // DIFF: a member that has just started may have forgotten a lease it
        // acknowledged before; it votes only for the leader it knows until a
        // lease could have run out or every peer has told it its state.
        let tk = &self.tickets[i];
        if tk.vote_fence.is_some_and(|f| now < f) && tk.leader != Leader::Member(m.from) {
            info!("{name}: not voting for {sender} yet: started too recently to know every lease");
            return;
        }
        if mutated!(self, DoubleVote) {
            // Forget this term's vote, so that every candidate gets one.
            let tk = &mut self.tickets[i];
            tk.voted_for = None;
            tk.vote_record = None;
        }
        self.tickets[i].in_election = true;
        if left == 0 {
            self.set_leader(i, Leader::Unknown);
        }
        if self.newer_term(i, m, true) {
            self.tickets[i].clear_votes();
        }
        // DIFF: the vote of this term is whatever we recorded for it, else
        // one for this candidate. The C booth answers with `voted_for`
        // whatever term it was set in, so a vote never recorded for the
        // current term could be followed by one for ourselves in it.
        self.cast_vote(i, m);
        let voted = self.tickets[i].voted_for;
        debug!(
            "{name}: answering vote request from {sender}: {}",
            voted.map_or("none", |v| self.cfg.members[v].addr_string.as_str())
        );
        let mut reply = self.build_msg(i, OP_VOTE_FOR, OP_REQ_VOTE, 0, RLT_SUCCESS);
        // A vote names the site voted for, whoever we believe leads.
        reply.body.leader = voted.map_or(NO_ONE, |v| self.site_id_of(v));
        self.emit(Output::Send {
            to: m.from,
            msg: reply,
            resend: false,
        });
    }

    /// Votes for the sender, unless we already voted for someone else in this
    /// term (the vote then stands, whatever reset happened in between).
    fn cast_vote(&mut self, i: usize, m: &In) {
        let tk = &mut self.tickets[i];
        let choice = match tk.vote_record {
            Some((term, who)) if term == tk.current_term => who,
            _ => m.from,
        };
        tk.voted_for = Some(choice);
        tk.vote_record = Some((tk.current_term, choice));
        if choice == m.from {
            tk.votes[m.from] = Some(m.leader);
        }
    }

    fn record_vote(&mut self, i: usize, m: &In) {
        let tk = &mut self.tickets[i];
        match tk.votes[m.from] {
            None => tk.votes[m.from] = Some(m.leader),
            Some(v) if v != m.leader => info!(
                "{}: {} voted previously for {:?} and now wants {:?}, ignoring",
                tk.cfg.name, self.cfg.members[m.from].addr_string, v, m.leader
            ),
            Some(_) => {}
        }
    }

    fn process_vote_for(&mut self, i: usize, m: &In) {
        let tk = &self.tickets[i];
        let sender = self.cfg.members[m.from].addr_string.clone();
        if m.leader == Leader::NoOne {
            if tk.leader == Leader::Member(m.from)
                && matches!(tk.state, State::Follower | State::Candidate)
            {
                info!(
                    "{}: {sender} wants to give the ticket away (ticket release)",
                    tk.cfg.name
                );
                self.tickets[i].claims[m.from] = None;
                self.tickets[i].save_committed();
                self.reset_ticket(i);
                self.tickets[i].state = State::Follower;
                if self.is_site() {
                    self.ticket_write(i);
                    self.schedule_election(i, OR_STEPDOWN);
                }
            } else {
                info!(
                    "{}: {sender} votes for none, ignoring (duplicate ticket release?)",
                    tk.cfg.name
                );
            }
            return;
        }
        if tk.state != State::Candidate {
            debug!(
                "{}: candidate status lost, ignoring VtFr from {sender}",
                tk.cfg.name
            );
            return;
        }
        if self.term_too_low(i, m) {
            return;
        }
        if self.newer_term(i, m, false) {
            // Someone is ahead of us: this election is over for us.
            self.tickets[i].clear_votes();
            return;
        }
        self.record_vote(i, m);
        let me = Leader::Member(self.me);
        let for_us = self.tickets[i]
            .votes
            .iter()
            .filter(|v| **v == Some(me))
            .count();
        // DIFF: a majority of votes decides at once (the C booth waits for
        // every vote or the election timeout, which delays every failover
        // by a timeout when a member is down).
        if self.tickets[i].acks_expected == 0 || for_us * 2 > self.n_members() {
            self.elections_end(i);
        }
    }

    fn answer_heartbeat(&mut self, i: usize, m: &In) -> Result<(), Dropped> {
        // DIFF: the C booth aborts on a heartbeat whose leader field names
        // someone other than its sender; such a message is simply invalid.
        if m.leader != Leader::Member(m.from) {
            warn!(
                "{}: heartbeat from {} names another leader ({}), dropped",
                self.tickets[i].cfg.name,
                self.cfg.members[m.from].addr_string,
                self.addr_of(m.leader)
            );
            return Err(Dropped::Invalid);
        }
        let tk = &self.tickets[i];
        if m.term < tk.current_term {
            // DIFF: the C booth accepts an older term from its own leader, or
            // when the ticket is not owned here, even after voting in a newer
            // term; acknowledging it would promise a lease to one leader while
            // our vote elects another. The sender learns our term instead.
            warn!(
                "{}: heartbeat from {} with an outdated term {} (ours {})",
                tk.cfg.name, self.cfg.members[m.from].addr_string, m.term, tk.current_term
            );
            // Our newer term may come from elections nobody won (say, while
            // we were cut off), and a C leader never takes it up. Follow
            // this leader without acknowledging it (an acknowledgement would
            // promise it a lease, which a vote of ours in the newer term may
            // contradict) rather than believe in none: we then neither
            // campaign against its lease nor show a stale view.
            let now = self.now.mono;
            let unled = !tk.is_owned() || tk.leader == m.leader;
            if unled && m.valid_ms > 0 && tk.live_claim_besides(m.from, now).is_none() {
                self.become_follower(i, m, m.leader);
            }
            self.send_reject(i, m.from, RLT_TERM_OUTDATED, m.cmd);
            return Ok(());
        }
        if self.refuse_other_leader(i, m) {
            return Ok(());
        }
        self.tickets[i].expect_more_rejects = false;
        self.newer_term(i, m, false);
        self.become_follower(i, m, m.leader);
        self.tickets[i].acked_lead = Some((m.from, m.term));
        self.send(i, m.from, OP_ACK, OP_HEARTBEAT, RLT_SUCCESS);
        Ok(())
    }

    /// DIFF: an acknowledgement promises a lease as much as a vote does, so
    /// while another site's claimed lease runs we refuse (TVld) instead of
    /// following a new leader — even one with a higher term, whose election
    /// may rest on a vote we cast before restarting and forgot.
    fn refuse_other_leader(&mut self, i: usize, m: &In) -> bool {
        let now = self.now.mono;
        // DIFF: after a start the fence covers acknowledgements as well as
        // votes: what we promised before may be forgotten, and the leader we
        // forgot is known only once every member has told us its view.
        if self.tickets[i].vote_fence.is_some_and(|f| now < f) {
            debug!(
                "{}: not acknowledging {} from {} yet: started too recently to know every lease",
                self.tickets[i].cfg.name,
                code_to_string(m.cmd),
                self.cfg.members[m.from].addr_string
            );
            return true;
        }
        let claim = self.tickets[i].live_claim_besides(m.from, now);
        let Some((holder, until)) = claim.filter(|_| !mutated!(self, IgnoreClaims)) else {
            return false;
        };
        warn!(
            "{}: {} from {} refused: {} holds a lease for {}ms more",
            self.tickets[i].cfg.name,
            code_to_string(m.cmd),
            self.cfg.members[m.from].addr_string,
            self.cfg.members[holder].addr_string,
            until.0 - now.0
        );
        self.send_reject(i, m.from, RLT_TERM_STILL_VALID, m.cmd);
        true
    }

    fn process_update(&mut self, i: usize, m: &In) {
        let tk = &self.tickets[i];
        let outdated = m.term < tk.current_term;
        if outdated || (tk.is_owned() && tk.leader != Leader::Member(m.from)) {
            warn!(
                "{}: different leader {} wants to update our ticket, sending reject",
                tk.cfg.name, self.cfg.members[m.from].addr_string
            );
            self.mark_granted(i, m.from);
            self.send_reject(i, m.from, RLT_TERM_OUTDATED, m.cmd);
            return;
        }
        debug!(
            "{}: leader {} wants to update our ticket",
            tk.cfg.name, self.cfg.members[m.from].addr_string
        );
        if self.refuse_other_leader(i, m) {
            return;
        }
        self.become_follower(i, m, m.leader);
        if self.is_site() {
            self.ticket_write(i);
        }
        self.set_ticket_wakeup(i);
        self.tickets[i].acked_lead = Some((m.from, m.term));
        self.send(i, m.from, OP_ACK, OP_UPDATE, RLT_SUCCESS);
    }

    fn process_ack(&mut self, i: usize, m: &In) {
        if self.newer_term(i, m, false) {
            warn!(
                "{}: got higher term from {} ({})",
                self.tickets[i].cfg.name, self.cfg.members[m.from].addr_string, m.term
            );
            return;
        }
        let tk = &self.tickets[i];
        if m.term < tk.current_term {
            warn!(
                "{}: unexpected term from {} ({} vs. {}) (ignoring)",
                tk.cfg.name, self.cfg.members[m.from].addr_string, m.term, tk.current_term
            );
            return;
        }
        if tk.next_state == Some(NextState::Init) || tk.state == State::Init {
            return;
        }
        if matches!(m.request, OP_HEARTBEAT | OP_UPDATE)
            && m.term == tk.current_term
            && m.leader == Leader::Member(self.me)
            && self.majority(tk.acks_received)
        {
            self.leader_update_ticket(i);
        }
    }

    fn process_revoke(&mut self, i: usize, m: &In) {
        let tk = &self.tickets[i];
        let sender = self.cfg.members[m.from].addr_string.clone();
        if tk.state == State::Init && tk.leader == Leader::NoOne {
            // Our earlier acknowledgement was probably lost.
            self.send(i, m.from, OP_ACK, OP_REVOKE, RLT_SUCCESS);
            return;
        }
        if tk.leader != Leader::Member(m.from) {
            if tk.cfg.is_manual() {
                self.process_revoke_for_manual(i, m);
            } else {
                error!(
                    "{}: {sender} wants to revoke ticket, but it is not granted there (ignoring)",
                    tk.cfg.name
                );
            }
            return;
        }
        if tk.state != State::Follower {
            error!(
                "{}: unexpected ticket revoke from {sender} (in state {}) (ignoring)",
                tk.cfg.name,
                tk.state.as_str()
            );
            return;
        }
        info!("{}: {sender} revokes ticket", tk.cfg.name);
        self.tickets[i].claims[m.from] = None;
        self.tickets[i].save_committed();
        self.reset_ticket_and_set_no_leader(i);
        if self.is_site() {
            self.ticket_write(i);
        }
        self.send(i, m.from, OP_ACK, OP_REVOKE, RLT_SUCCESS);
    }

    fn process_revoke_for_manual(&mut self, i: usize, m: &In) {
        self.send(i, m.from, OP_ACK, OP_REVOKE, RLT_SUCCESS);
        self.unmark_granted(i, Leader::Member(m.from));
        let name = self.tickets[i].cfg.name.clone();
        let sender = &self.cfg.members[m.from].addr_string;
        if self.tickets[i].state == State::Leader {
            warn!("{name}: {sender} wants to revoke ticket, but this site is itself a leader");
            self.broadcast(i, OP_HEARTBEAT, OP_ACK, RLT_SUCCESS, 0);
        } else {
            warn!("{name}: {sender} wants to revoke ticket, but this site is not following it");
        }
    }

    fn process_rejected(&mut self, i: usize, m: &In) {
        let tk = &self.tickets[i];
        let name = tk.cfg.name.clone();
        let sender = self.cfg.members[m.from].addr_string.clone();
        if tk.state == State::Leader
            && m.result == RLT_TERM_OUTDATED
            && (m.valid_ms == 0 || m.leader.member().is_none_or(|l| l == self.me))
        {
            self.leader_behind_peer(i, m);
            return;
        }
        if tk.state != State::Candidate {
            if !tk.expect_more_rejects {
                warn!(
                    "{name}: from {sender}: in state {}, got {} (unexpected reject)",
                    tk.state.as_str(),
                    code_to_string(m.result)
                );
            }
            return;
        }
        if m.leader == Leader::Member(self.me) {
            warn!("{name}: ticket was granted to us (and we didn't know)");
            self.tickets[i].expect_more_rejects = true;
            return;
        }
        match m.result {
            RLT_TERM_OUTDATED => {
                warn!(
                    "{name}: ticket outdated (term {}), granted to {}",
                    m.term,
                    self.addr_of(m.leader)
                );
                self.tickets[i].expect_more_rejects = true;
                self.become_follower(i, m, m.leader);
            }
            RLT_TERM_STILL_VALID if m.leader.member().is_none() && tk.state == State::Candidate => {
                // DIFF: the voter follows nobody but still counts a lease
                // (of the lost leader, for a few milliseconds): that is a
                // refused vote, not a leader to follow. The C booth gives up
                // its campaign here, even when the other voters granted
                // their votes, and nothing restarts it.
                warn!("{name}: {sender} still counts a lease and refuses its vote");
            }
            RLT_TERM_STILL_VALID => {
                if tk.lost_leader == m.leader && tk.election_reason == OR_TKT_LOST {
                    warn!("{name}: {sender} still has the ticket valid, we'll backup a bit");
                } else if tk.lost_leader == m.leader {
                    warn!("{name}: {sender} unexpectedly rejects elections");
                } else {
                    warn!(
                        "{name}: ticket was granted to {} (and we didn't know)",
                        self.addr_of(m.leader)
                    );
                }
                self.tickets[i].expect_more_rejects = true;
                self.become_follower(i, m, m.leader);
            }
            RLT_YOU_OUTDATED => {
                self.tickets[i].expect_more_rejects = true;
                if m.leader.member().is_some() {
                    warn!(
                        "{name}: our ticket is outdated, granted to {}",
                        self.addr_of(m.leader)
                    );
                    self.become_follower(i, m, m.leader);
                } else {
                    warn!("{name}: our ticket is outdated and revoked");
                    self.set_leader(i, m.leader);
                    self.update_ticket_from_msg(i, m);
                    self.tickets[i].state = State::Init;
                    self.tickets[i].in_election = false;
                    self.tickets[i].election_retry = None;
                    self.leave_candidacy(i);
                    if !self.tickets[i].waiters.is_empty() {
                        self.tickets[i].outcome = RLT_SYNC_FAIL;
                        self.notify_waiters(i, 0);
                    }
                }
            }
            other => {
                if !tk.expect_more_rejects {
                    warn!(
                        "{name}: from {sender}: in state {}, got {} (unexpected reject)",
                        tk.state.as_str(),
                        code_to_string(other)
                    );
                }
            }
        }
    }

    fn process_my_index(&mut self, i: usize, m: &In) {
        let now = self.now.mono;
        let tk = &self.tickets[i];
        let expired = m.valid_ms == 0;
        let diff = tk.my_last_term() as i64 - m.term as i64;
        let sender = self.cfg.members[m.from].addr_string.clone();
        if diff > 0 {
            // We know a newer term: tell the sender.
            self.send(i, m.from, OP_MY_INDEX, OP_MY_INDEX, RLT_SUCCESS);
            if self.tickets[i].state == State::Leader {
                info!(
                    "{}: sending ticket update to {sender}",
                    self.tickets[i].cfg.name
                );
                self.send(i, m.from, OP_UPDATE, OP_MY_INDEX, RLT_SUCCESS);
            }
            return;
        }
        if diff == 0 && expired {
            return;
        }
        if tk.state == State::Leader {
            if diff < 0 && !expired {
                warn!(
                    "{}: from {sender}: more up to date ticket at {}",
                    tk.cfg.name,
                    self.addr_of(m.leader)
                );
                self.leader_handle_newer_ticket(i, m);
            } else if diff < 0 {
                self.leader_behind_peer(i, m);
            }
            return;
        }
        if tk.state == State::Candidate && m.leader == Leader::Member(self.me) {
            return;
        }
        // DIFF: the C booth adopts the answer wholesale, so a peer that knows
        // a newer term but no lease makes us forget a lease we acknowledged,
        // and we would then vote while it still runs. Keep the lease; take
        // only the term.
        // DIFF: but a grant we hold only because our CIB said so at start-up
        // (nothing acknowledged since) gives way to another site's live
        // lease in a newer term: our CIB's `expires` may be read by a wall
        // clock that is wrong, and the C booth revokes here too.
        let me = Leader::Member(self.me);
        let stale_own = tk.leader == me
            && !tk.lease_proven
            && tk.state != State::Leader
            && !expired
            && m.leader.member().is_some_and(|l| l != self.me)
            && m.term > tk.current_term
            && !mutated!(self, KeepStaleCibGrant);
        if stale_own {
            warn!(
                "{}: {sender} reports a lease at {} in term {} (ours: {}), our CIB grant is stale",
                tk.cfg.name,
                self.addr_of(m.leader),
                m.term,
                tk.current_term
            );
            let tk = &mut self.tickets[i];
            tk.restart_claim = None;
            tk.claims[self.me] = None;
            tk.term_expires = None;
        } else if tk.is_owned() && tk.time_left(now) > 0 && (expired || m.leader != tk.leader) {
            let tk = &mut self.tickets[i];
            tk.current_term = tk.current_term.max(m.term);
            return;
        }
        self.update_ticket_from_msg(i, m);
        self.set_leader(i, m.leader);
        self.update_ticket_state(i, Some(m.from));
        self.tickets[i].save_committed();
        self.set_ticket_wakeup(i);
    }

    /// DIFF: a peer has seen a newer term than ours, without a live lease
    /// elsewhere. The C booth ignores this and the peer then ignores our
    /// (older) heartbeats for good; we take the ticket again above that term.
    fn leader_behind_peer(&mut self, i: usize, m: &In) {
        let tk = &mut self.tickets[i];
        if m.term <= tk.current_term || tk.next_state == Some(NextState::Leader) {
            return;
        }
        info!(
            "{}: {} has seen term {}, reacquiring in a newer term",
            tk.cfg.name, self.cfg.members[m.from].addr_string, m.term
        );
        tk.current_term = m.term;
        tk.save_committed();
        tk.next_state = Some(NextState::Leader);
        self.set_ticket_wakeup(i);
    }

    fn leader_handle_newer_ticket(&mut self, i: usize, m: &In) {
        let now = self.now.mono;
        let other_leader = m.leader.member().is_some_and(|l| l != self.me);
        let tk = &mut self.tickets[i];
        tk.current_term = tk.current_term.max(m.term);
        if other_leader || tk.time_left(now) > 0 {
            let tk = &self.tickets[i];
            error!(
                "{}: from {}: ticket granted to {}! (revoking locally)",
                tk.cfg.name,
                self.cfg.members[m.from].addr_string,
                self.addr_of(m.leader)
            );
        }
        self.tickets[i].next_state = Some(NextState::Leader);
    }

    /// C `update_ticket_state`: what our copy means after a state answer (or,
    /// with no sender, after loading the CIB).
    pub(super) fn update_ticket_state(&mut self, i: usize, sender: Option<usize>) {
        let now = self.now.mono;
        let me = Leader::Member(self.me);
        let from = sender.map_or("CIB".to_string(), |s| {
            self.cfg.members[s].addr_string.clone()
        });
        let name = self.tickets[i].cfg.name.clone();
        let leader_addr = self.addr_of(self.tickets[i].leader).to_string();
        let tk = &mut self.tickets[i];
        if tk.state == State::Candidate {
            info!("{name}: learned from {from} about newer ticket, stopping elections");
            tk.expect_more_rejects = true;
        }
        if tk.leader == me || tk.is_granted {
            // DIFF: whoever tells us (the C booth listens to the leader only).
            let live_elsewhere = sender.is_some()
                && tk.leader.member().is_some_and(|l| l != self.me)
                && tk.time_left(now) > 0;
            if live_elsewhere {
                warn!("{name}: ticket was granted here, but it's live at {leader_addr} (revoking here)");
                // DIFF: keep the live leader and its lease (the C booth forgets
                // both); only our CIB needs correcting.
                tk.is_granted = false;
                tk.state = State::Follower;
                tk.next_state = Some(NextState::Follower);
                if self.is_site() {
                    self.ticket_write(i);
                }
            } else {
                if tk.state == State::Candidate {
                    tk.state = State::Follower;
                }
                tk.next_state = Some(NextState::Leader);
            }
        } else if !tk.is_owned() {
            info!("{name}: ticket is not granted (from {from})");
            tk.state = State::Init;
        } else {
            info!("{name}: ticket granted to {leader_addr} (says {from})");
            tk.state = State::Follower;
            tk.next_state = Some(NextState::Follower);
        }
        self.leave_candidacy(i);
    }
}
