//! Following a leader: heartbeats, updates, acknowledgements, revokes,
//! rejects and state answers (spec raft.md §3, §5).

use super::raft::In;
use super::ticket::{AckedLead, NextState, State};
use super::Tix;
use super::{Dropped, Engine, Leader};
use crate::wire::codes::*;

impl Engine {
    pub(super) fn answer_heartbeat(&mut self, i: Tix, m: &In) -> Result<(), Dropped> {
        // DIFF: the C booth aborts on a heartbeat whose leader field names
        // someone other than its sender; such a message is simply invalid.
        if m.leader != Leader::of(m.from) {
            tk_warn!(
                self.tickets[i],
                "heartbeat from {} names another leader ({}), dropped",
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
            tk_warn!(
                tk,
                "heartbeat from {} with an outdated term {} (ours {})",
                self.cfg.members[m.from].addr_string,
                m.term,
                tk.current_term
            );
            // Our newer term may come from elections nobody won (say, while
            // we were cut off), and a C leader never takes it up. Follow
            // this leader without acknowledging it (an acknowledgement would
            // promise it a lease, which a vote of ours in the newer term may
            // contradict) rather than believe in none: we then neither
            // campaign against its lease nor show a stale view.
            // Not a heartbeat of a term its sender has since left (held
            // in the network: simulator seed 1692, a late failover): it
            // would renew a lease nobody offers any more.
            let now = self.now.mono;
            let unled = !tk.is_owned() || tk.leader == m.leader;
            let left_since = m.term < tk.peers[m.from].heard_term && !mutated!(self, StaleFollow);
            if unled
                && !left_since
                && m.valid_ms > 0
                && tk.live_claim_besides(m.from, now).is_none()
            {
                self.become_follower(i, m, m.leader);
            }
            self.send_reject(i, m.from, RLT_TERM_OUTDATED, m.cmd);
            return Ok(());
        }
        if self.refuse_other_leader(i, m) {
            return Ok(());
        }
        self.tickets[i].election.expect_more_rejects = false;
        self.newer_term(i, m, false);
        self.become_follower(i, m, m.leader);
        self.tickets[i].lease.acked_lead = Some(AckedLead::new(m.from, m.term));
        self.send(i, m.from, OP_ACK, OP_HEARTBEAT, RLT_SUCCESS);
        Ok(())
    }

    /// DIFF: an acknowledgement promises a lease as much as a vote does, so
    /// while another site's claimed lease runs we refuse (TVld) instead of
    /// following a new leader — even one with a higher term, whose election
    /// may rest on a vote we cast before restarting and forgot.
    pub(super) fn refuse_other_leader(&mut self, i: Tix, m: &In) -> bool {
        let now = self.now.mono;
        // DIFF: after a start the fence covers acknowledgements as well as
        // votes: what we promised before may be forgotten, and the leader we
        // forgot is known only once every member has told us its view.
        if self.tickets[i].startup.vote_fence.is_some_and(|f| now < f) {
            tk_debug!(
                self.tickets[i],
                "not acknowledging {} from {} yet: started too recently to know every lease",
                code_to_string(m.cmd),
                self.cfg.members[m.from].addr_string
            );
            return true;
        }
        let claim = self.tickets[i].live_claim_besides(m.from, now);
        let Some((holder, until)) = claim.filter(|_| !mutated!(self, IgnoreClaims)) else {
            return false;
        };
        tk_warn!(
            self.tickets[i],
            "{} from {} refused: {} holds a lease for {}ms more",
            code_to_string(m.cmd),
            self.cfg.members[m.from].addr_string,
            self.cfg.members[holder].addr_string,
            until.ms() - now.ms()
        );
        self.send_reject(i, m.from, RLT_TERM_STILL_VALID, m.cmd);
        true
    }

    pub(super) fn process_update(&mut self, i: Tix, m: &In) {
        let tk = &self.tickets[i];
        let outdated = m.term < tk.current_term;
        if outdated || (tk.is_owned() && tk.leader != Leader::of(m.from)) {
            tk_warn!(
                tk,
                "different leader {} wants to update our ticket, sending reject",
                self.cfg.members[m.from].addr_string
            );
            self.mark_granted(i, m.from);
            self.send_reject(i, m.from, RLT_TERM_OUTDATED, m.cmd);
            return;
        }
        tk_debug!(
            tk,
            "leader {} wants to update our ticket",
            self.cfg.members[m.from].addr_string
        );
        if self.refuse_other_leader(i, m) {
            return;
        }
        self.become_follower(i, m, m.leader);
        if self.is_site() {
            self.ticket_write(i);
        }
        self.set_ticket_wakeup(i);
        self.tickets[i].lease.acked_lead = Some(AckedLead::new(m.from, m.term));
        self.send(i, m.from, OP_ACK, OP_UPDATE, RLT_SUCCESS);
    }

    pub(super) fn process_ack(&mut self, i: Tix, m: &In) {
        if self.newer_term(i, m, false) {
            tk_warn!(
                self.tickets[i],
                "got higher term from {} ({})",
                self.cfg.members[m.from].addr_string,
                m.term
            );
            return;
        }
        let tk = &self.tickets[i];
        if m.term < tk.current_term {
            tk_warn!(
                tk,
                "unexpected term from {} ({} vs. {}) (ignoring)",
                self.cfg.members[m.from].addr_string,
                m.term,
                tk.current_term
            );
            return;
        }
        if tk.next_state == Some(NextState::Init) || tk.state == State::Init {
            return;
        }
        if matches!(m.request, OP_HEARTBEAT | OP_UPDATE)
            && m.term == tk.current_term
            && m.leader == Leader::of(self.me)
            && self.majority(tk.round.acked)
        {
            self.leader_update_ticket(i);
        }
    }

    pub(super) fn process_revoke(&mut self, i: Tix, m: &In) {
        let tk = &self.tickets[i];
        let sender = self.cfg.members[m.from].addr_string.clone();
        if tk.state == State::Init && tk.leader == Leader::NoOne {
            // Our earlier acknowledgement was probably lost.
            self.send(i, m.from, OP_ACK, OP_REVOKE, RLT_SUCCESS);
            return;
        }
        if tk.leader != Leader::of(m.from) {
            if tk.cfg.is_manual() {
                self.process_revoke_for_manual(i, m);
            } else if tk.peers[m.from].claim.is_some() {
                // DIFF: a claimant's own revoke withdraws its claim
                // (`PeerView::claim`), also where the claim came from
                // another member's word: a restarted holder's release
                // hold, relayed, whose end it tells with this revoke. It
                // is acknowledged, or the sender repeats it to every
                // member that does not take it for the leader.
                tk_info!(tk, "{sender} ends its claim on the ticket");
                self.tickets[i].peers[m.from].claim = None;
                self.send(i, m.from, OP_ACK, OP_REVOKE, RLT_SUCCESS);
            } else {
                tk_error!(
                    tk,
                    "{sender} wants to revoke ticket, but it is not granted there (ignoring)"
                );
            }
            return;
        }
        if tk.state != State::Follower {
            tk_error!(
                tk,
                "unexpected ticket revoke from {sender} (in state {}) (ignoring)",
                tk.state.as_str()
            );
            return;
        }
        tk_info!(tk, "{sender} revokes ticket");
        self.tickets[i].peers[m.from].claim = None;
        self.tickets[i].save_committed();
        self.reset_ticket_and_set_no_leader(i);
        if self.is_site() {
            self.ticket_write(i);
        }
        self.send(i, m.from, OP_ACK, OP_REVOKE, RLT_SUCCESS);
    }

    pub(super) fn process_revoke_for_manual(&mut self, i: Tix, m: &In) {
        self.send(i, m.from, OP_ACK, OP_REVOKE, RLT_SUCCESS);
        self.unmark_granted(i, Leader::of(m.from));
        let name = self.tickets[i].cfg.name.clone();
        let sender = &self.cfg.members[m.from].addr_string;
        if self.tickets[i].state == State::Leader {
            tk_warn!(
                name,
                "{sender} wants to revoke ticket, but this site is itself a leader"
            );
            self.broadcast(i, OP_HEARTBEAT, OP_ACK, RLT_SUCCESS, OR_JUST_SO);
        } else {
            tk_warn!(
                name,
                "{sender} wants to revoke ticket, but this site is not following it"
            );
        }
    }

    pub(super) fn process_rejected(&mut self, i: Tix, m: &In) {
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
            if !tk.election.expect_more_rejects {
                tk_warn!(
                    name,
                    "from {sender}: in state {}, got {} (unexpected reject)",
                    tk.state.as_str(),
                    code_to_string(m.result)
                );
            }
            return;
        }
        if m.leader == Leader::of(self.me) {
            tk_warn!(name, "ticket was granted to us (and we didn't know)");
            self.tickets[i].election.expect_more_rejects = true;
            return;
        }
        match m.result {
            RLT_TERM_OUTDATED => {
                tk_warn!(
                    name,
                    "ticket outdated (term {}), granted to {}",
                    m.term,
                    self.addr_of(m.leader)
                );
                self.tickets[i].election.expect_more_rejects = true;
                self.become_follower(i, m, m.leader);
            }
            RLT_TERM_STILL_VALID if m.leader.member().is_none() && tk.state == State::Candidate => {
                // DIFF: the voter follows nobody but still counts a lease
                // (of the lost leader, for a few milliseconds): that is a
                // refused vote, not a leader to follow. The C booth gives up
                // its campaign here, even when the other voters granted
                // their votes, and nothing restarts it.
                tk_warn!(name, "{sender} still counts a lease and refuses its vote");
            }
            RLT_TERM_STILL_VALID => {
                if tk.lost_leader == m.leader && tk.election.reason == OR_TKT_LOST {
                    tk_warn!(
                        name,
                        "{sender} still has the ticket valid, we'll backup a bit"
                    );
                } else if tk.lost_leader == m.leader {
                    tk_warn!(name, "{sender} unexpectedly rejects elections");
                } else {
                    tk_warn!(
                        name,
                        "ticket was granted to {} (and we didn't know)",
                        self.addr_of(m.leader)
                    );
                }
                self.tickets[i].election.expect_more_rejects = true;
                self.become_follower(i, m, m.leader);
            }
            RLT_YOU_OUTDATED => {
                self.tickets[i].election.expect_more_rejects = true;
                if m.leader.member().is_some() {
                    tk_warn!(
                        name,
                        "our ticket is outdated, granted to {}",
                        self.addr_of(m.leader)
                    );
                    self.become_follower(i, m, m.leader);
                } else {
                    tk_warn!(name, "our ticket is outdated and revoked");
                    self.set_leader(i, m.leader);
                    self.update_ticket_from_msg(i, m);
                    self.tickets[i].state = State::Init;
                    self.tickets[i].election.running = false;
                    self.tickets[i].election_retry = None;
                    self.leave_candidacy(i);
                    if !self.tickets[i].waiters.is_empty() {
                        self.tickets[i].outcome = RLT_SYNC_FAIL;
                        self.notify_waiters(i, None);
                    }
                }
            }
            other => {
                if !tk.election.expect_more_rejects {
                    tk_warn!(
                        name,
                        "from {sender}: in state {}, got {} (unexpected reject)",
                        tk.state.as_str(),
                        code_to_string(other)
                    );
                }
            }
        }
    }

    pub(super) fn process_my_index(&mut self, i: Tix, m: &In) {
        self.note_confirmation(i, m);
        let now = self.now.mono;
        let tk = &self.tickets[i];
        let expired = m.valid_ms == 0;
        let diff = tk.my_last_term() as i64 - m.term as i64;
        let sender = self.cfg.members[m.from].addr_string.clone();
        if diff > 0 {
            // We know a newer term: tell the sender.
            self.send(i, m.from, OP_MY_INDEX, OP_MY_INDEX, RLT_SUCCESS);
            if self.tickets[i].state == State::Leader {
                tk_info!(self.tickets[i], "sending ticket update to {sender}");
                self.send(i, m.from, OP_UPDATE, OP_MY_INDEX, RLT_SUCCESS);
            }
            return;
        }
        if diff == 0 && expired {
            return;
        }
        if tk.state == State::Leader {
            if diff < 0 && !expired {
                tk_warn!(
                    tk,
                    "from {sender}: more up to date ticket at {}",
                    self.addr_of(m.leader)
                );
                self.leader_handle_newer_ticket(i, m);
            } else if diff < 0 {
                self.leader_behind_peer(i, m);
            }
            return;
        }
        if tk.state == State::Candidate && m.leader == Leader::of(self.me) {
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
        let gave_way = self.give_way_if_stale_own(i, m);
        let tk = &self.tickets[i];
        let keep = tk.is_owned() && tk.time_left(now) > 0 && (expired || m.leader != tk.leader);
        if keep && !gave_way {
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

    /// DIFF: a grant we hold only because our CIB said so at start-up
    /// (nothing acknowledged since) gives way to another site's live lease
    /// in a newer term than the one our CIB recorded, whoever tells us of
    /// it (a state answer, or the holder's heartbeat or update): our CIB's
    /// `expires` may be read by a wall clock that is wrong, and the C
    /// booth revokes here too. Our own term may have been raised since the
    /// start by an answer naming no leader, so the comparison is with the
    /// term of the grant. True when we gave way (the caller then follows
    /// the message's leader).
    pub(super) fn give_way_if_stale_own(&mut self, i: Tix, m: &In) -> bool {
        let tk = &self.tickets[i];
        let grant_term = tk.loaded_grant_term.unwrap_or(tk.current_term);
        let stale_own = tk.leader == Leader::of(self.me)
            && !tk.lease.proven
            && tk.state != State::Leader
            && m.valid_ms > 0
            && m.leader.member().is_some_and(|l| l != self.me)
            && m.term > grant_term
            && !mutated!(self, KeepStaleCibGrant);
        if !stale_own {
            return false;
        }
        tk_warn!(
            tk,
            "{} reports a lease at {} in term {} (our grant: term {}), our CIB grant is stale",
            self.cfg.members[m.from].addr_string,
            self.addr_of(m.leader),
            m.term,
            grant_term
        );
        let tk = &mut self.tickets[i];
        tk.restart_claim = None;
        tk.loaded_grant_term = None;
        tk.peers[self.me].claim = None;
        tk.lease.expires = None;
        tk.cib.is_granted = false;
        tk.state = State::Follower;
        self.set_leader(i, m.leader);
        // Revoke it in the CIB now, whatever else this message leads to
        // (a start-up fence may keep us from acknowledging its sender).
        if self.is_site() {
            self.ticket_write(i);
        }
        true
    }

    /// A state answer naming us as holder with a live lease confirms a
    /// grant we loaded without a record (`Startup::unconfirmed`): its
    /// sender holds that lease and votes for no one else while it runs.
    /// Our own lease is cut to the shortest lease a confirming member
    /// holds, counted safely: the answer was sent after we started, and
    /// its figure is rounded up to the wire unit. (An answer held back in
    /// the network since before our start is beyond what the wire can
    /// tell, as for acknowledgements: the protocol takes any message older
    /// than a timeout as lost.)
    pub(super) fn note_confirmation(&mut self, i: Tix, m: &In) {
        let unit = self.valid_unit_ms();
        let (me, now, started) = (self.me, self.now.mono, self.started_at);
        let tk = &mut self.tickets[i];
        if tk.startup.unconfirmed == 0 || m.leader != Leader::of(me) {
            return;
        }
        let until = started + std::time::Duration::from_millis(m.valid_ms.saturating_sub(unit));
        if until <= now {
            return;
        }
        tk.startup.unconfirmed |= 1 << m.from;
        tk.lease.expires = Some(tk.lease.expires.map_or(until, |e| e.min(until)));
    }

    /// The start-up state query's round is over (every member answered, or
    /// its timeout passed): a grant we loaded without a record that no
    /// majority confirmed is revoked, whatever our wall clock makes of the
    /// CIB's `expires` (simulator seed 8679: a holder cut off from
    /// everyone, its host rebooted with the wall clock 8 s behind, kept
    /// its grant 8 s past its lease while the others elected a new
    /// holder). True when it was revoked.
    pub(super) fn drop_unconfirmed_grant(&mut self, i: Tix) -> bool {
        let tk = &mut self.tickets[i];
        let holders = std::mem::take(&mut tk.startup.unconfirmed) as u32;
        let ours = tk.leader == Leader::of(self.me)
            && tk.cib.granted
            && tk.state != State::Leader
            && !tk.lease.proven;
        if !ours || self.majority(holders) {
            return false;
        }
        tk_warn!(self.tickets[i], "no majority confirms the grant our CIB holds, and without a record of our lease only our wall clock says how long it lasts: revoking it");
        self.ticket_lost(i);
        true
    }

    /// DIFF: a peer has seen a newer term than ours, without a live lease
    /// elsewhere. The C booth ignores this and the peer then ignores our
    /// (older) heartbeats for good; we take the ticket again above that term.
    pub(super) fn leader_behind_peer(&mut self, i: Tix, m: &In) {
        let tk = &mut self.tickets[i];
        if m.term <= tk.current_term || tk.next_state == Some(NextState::Leader) {
            return;
        }
        tk_info!(
            tk,
            "{} has seen term {}, reacquiring in a newer term",
            self.cfg.members[m.from].addr_string,
            m.term
        );
        tk.current_term = m.term;
        tk.save_committed();
        tk.next_state = Some(NextState::Leader);
        self.set_ticket_wakeup(i);
    }

    /// C `leader_handle_newer_ticket`: we lead, and a state answer tells
    /// of a newer term with a live lease (the caller checked both).
    pub(super) fn leader_handle_newer_ticket(&mut self, i: Tix, m: &In) {
        let now = self.now.mono;
        let other_leader = m.leader.member().is_some_and(|l| l != self.me);
        if other_leader || self.tickets[i].time_left(now) > 0 {
            let tk = &self.tickets[i];
            tk_error!(
                tk,
                "from {}: ticket granted to {}! (revoking locally)",
                self.cfg.members[m.from].addr_string,
                self.addr_of(m.leader)
            );
        }
        // DIFF: the C booth takes the newer term and re-runs the
        // acquisition, as a candidate. Ours refuses to campaign while
        // another site's claimed lease runs (`new_election`), which left us
        // leader in a term another site won, heartbeating in it: a member
        // holding a claim of each leader refuses both, and the live holder
        // lost the ticket at its next renewal although it and a majority
        // were healthy (simulator seed 745). So we do what the log says:
        // revoke locally and follow the live lease; like any follower, we
        // campaign again once it ends.
        if other_leader && !mutated!(self, LeadNewerTerm) {
            let mut m = *m;
            m.valid_ms = m.valid_ms.min(self.tickets[i].expire_ms());
            // Our round ends (resends, a handler run, a pending re-acquire);
            // the CIB grant, if we wrote one, is revoked by `become_follower`.
            self.reset_ticket(i);
            self.become_follower(i, &m, m.leader);
            if self.tickets[i].waiters.iter().any(|w| w.cmd == CMD_REVOKE) {
                self.tickets[i].outcome = RLT_SYNC_FAIL;
                self.notify_waiters(i, Some(CMD_REVOKE));
            }
            self.tickets[i].save_committed();
            self.set_ticket_wakeup(i);
            return;
        }
        let tk = &mut self.tickets[i];
        tk.current_term = tk.current_term.max(m.term);
        tk.next_state = Some(NextState::Leader);
    }

    /// C `update_ticket_state`: what our copy means after a state answer (or,
    /// with no sender, after loading the CIB).
    pub(super) fn update_ticket_state(&mut self, i: Tix, sender: Option<usize>) {
        let now = self.now.mono;
        let me = Leader::of(self.me);
        let from = sender.map_or("CIB".to_string(), |s| {
            self.cfg.members[s].addr_string.clone()
        });
        let name = self.tickets[i].cfg.name.clone();
        let leader_addr = self.addr_of(self.tickets[i].leader).to_string();
        let tk = &mut self.tickets[i];
        if tk.state == State::Candidate {
            tk_info!(
                name,
                "learned from {from} about newer ticket, stopping elections"
            );
            tk.election.expect_more_rejects = true;
        }
        if tk.leader == me || tk.cib.is_granted {
            // DIFF: whoever tells us (the C booth listens to the leader only).
            let live_elsewhere = sender.is_some()
                && tk.leader.member().is_some_and(|l| l != self.me)
                && tk.time_left(now) > 0;
            if live_elsewhere {
                tk_warn!(
                    name,
                    "ticket was granted here, but it's live at {leader_addr} (revoking here)"
                );
                // DIFF: keep the live leader and its lease (the C booth forgets
                // both); only our CIB needs correcting.
                tk.cib.is_granted = false;
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
            tk_info!(name, "ticket is not granted (from {from})");
            tk.state = State::Init;
        } else {
            tk_info!(name, "ticket granted to {leader_addr} (says {from})");
            tk.state = State::Follower;
            tk.next_state = Some(NextState::Follower);
        }
        self.leave_candidacy(i);
    }
}
