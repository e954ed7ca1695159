//! Elections seen from a voter and a candidate: vote requests and votes
//! (spec raft.md §4).

use super::raft::In;
use super::ticket::{State, VoteRecord};
use super::Tix;
use super::{Engine, Leader, Output};
use crate::wire::codes::*;
use crate::wire::NO_ONE;

impl Engine {
    pub(super) fn answer_req_vote(&mut self, i: Tix, m: &In) {
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
        if tk.leader != Leader::of(m.from) && left > 0 && m.reason != OR_STEPDOWN {
            tk_warn!(name, "election from {sender} with reason {} rejected (we have {} as ticket owner), ticket still valid for {}ms", code_to_string(m.reason), self.addr_of(tk.leader), left);
            self.send_reject(i, m.from, RLT_TERM_STILL_VALID, m.cmd);
            return;
        }
        if self.term_too_low(i, m) {
            return;
        }
        let claim = self.tickets[i].live_claim_besides(m.from, now);
        if let Some((holder, until)) = claim.filter(|_| !mutated!(self, IgnoreClaims)) {
            tk_warn!(
                name,
                "election from {sender} rejected: {} holds a lease for {}ms more",
                self.cfg.members[holder].addr_string,
                until.ms() - now.ms()
            );
            self.send_reject(i, m.from, RLT_TERM_STILL_VALID, m.cmd);
            return;
        }
        // DIFF: a member that has just started may have forgotten a lease it
        // acknowledged before; it votes only for the leader it knows until a
        // lease could have run out or every peer has told it its state.
        let tk = &self.tickets[i];
        if tk.startup.vote_fence.is_some_and(|f| now < f) && tk.leader != Leader::of(m.from) {
            tk_info!(
                name,
                "not voting for {sender} yet: started too recently to know every lease"
            );
            return;
        }
        if mutated!(self, DoubleVote) {
            // Forget this term's vote, so that every candidate gets one.
            let tk = &mut self.tickets[i];
            tk.election.voted_for = None;
            tk.election.vote_record = None;
        }
        self.tickets[i].election.running = true;
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
        let voted = self.tickets[i].election.voted_for.map(usize::from);
        tk_debug!(
            name,
            "answering vote request from {sender}: {}",
            voted.map_or("none", |v| self.cfg.members[v].addr_string.as_str())
        );
        let mut reply = self.build_msg(i, OP_VOTE_FOR, OP_REQ_VOTE, OR_JUST_SO, RLT_SUCCESS);
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
    pub(super) fn cast_vote(&mut self, i: Tix, m: &In) {
        let tk = &mut self.tickets[i];
        let choice = match tk.election.vote_record {
            Some(v) if v.term == tk.current_term => v.candidate(),
            _ => m.from,
        };
        tk.election.voted_for = Some(super::ticket::member_byte(choice));
        tk.election.vote_record = Some(VoteRecord::new(tk.current_term, choice));
        if choice == m.from {
            tk.peers[m.from].vote = Some(m.leader);
        }
    }

    pub(super) fn record_vote(&mut self, i: Tix, m: &In) {
        let tk = &mut self.tickets[i];
        match tk.peers[m.from].vote {
            None => tk.peers[m.from].vote = Some(m.leader),
            Some(v) if v != m.leader => tk_info!(
                tk,
                "{} voted previously for {:?} and now wants {:?}, ignoring",
                self.cfg.members[m.from].addr_string,
                v,
                m.leader
            ),
            Some(_) => {}
        }
    }

    pub(super) fn process_vote_for(&mut self, i: Tix, m: &In) {
        let tk = &self.tickets[i];
        let sender = self.cfg.members[m.from].addr_string.clone();
        if m.leader == Leader::NoOne {
            if tk.leader == Leader::of(m.from)
                && matches!(tk.state, State::Follower | State::Candidate)
            {
                tk_info!(
                    tk,
                    "{sender} wants to give the ticket away (ticket release)"
                );
                self.tickets[i].peers[m.from].claim = None;
                self.tickets[i].save_committed();
                self.reset_ticket(i);
                self.tickets[i].state = State::Follower;
                if self.is_site() {
                    self.ticket_write(i);
                    self.schedule_election(i, OR_STEPDOWN);
                }
            } else {
                tk_info!(
                    tk,
                    "{sender} votes for none, ignoring (duplicate ticket release?)"
                );
            }
            return;
        }
        if tk.state != State::Candidate {
            tk_debug!(tk, "candidate status lost, ignoring VtFr from {sender}");
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
        let me = Leader::of(self.me);
        let for_us = self.tickets[i]
            .peers
            .iter()
            .filter(|p| p.vote == Some(me))
            .count();
        // DIFF: a majority of votes decides at once (the C booth waits for
        // every vote or the election timeout, which delays every failover
        // by a timeout when a member is down).
        if self.tickets[i].round.expect.is_none() || for_us * 2 > self.n_members() {
            self.elections_end(i);
        }
    }
}
