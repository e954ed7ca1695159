//! Elections and the leader's rounds: starting and ending an election,
//! the heartbeat/update cycle and resends (spec raft.md §6–§8).

use super::cron::*;
use super::ticket::{DeferredElection, ElectionRetry, Renewal, State, TermBump, VoteRecord};
use super::Tix;
use super::{Engine, Leader, Output};
use crate::config::GrantType;
use crate::wire::codes::*;
use crate::wire::{Cmd, Reason};
use std::time::Duration;

impl Engine {
    /// C `new_election`. Returns None when nothing was started (arbitrator,
    /// unmet prerequisites), Some(false) when an election is already running,
    /// Some(true) when one was started.
    pub(super) fn new_election(
        &mut self,
        i: Tix,
        preference: Option<usize>,
        bump: TermBump,
        reason: Reason,
    ) -> Option<bool> {
        if !self.is_site() {
            return None;
        }
        let now = self.now.mono;
        let effective = if reason == OR_AGAIN {
            self.tickets[i].election.reason
        } else {
            reason
        };
        if matches!(effective, OR_TKT_LOST | OR_STEPDOWN)
            && !self.attr_prereqs_ok(i, GrantType::Auto)
        {
            tk_info!(
                self.tickets[i],
                "attribute prerequisite not met, not starting elections"
            );
            return None;
        }
        // DIFF: a site votes for itself only when it would vote for anyone:
        // not while another site's claimed lease runs. Taking over a lost
        // ticket also waits acquire-after past that lease, as it does past
        // the lease it followed (`wake_at_followed_lease_end`): without it,
        // a site whose own view of the lease ended first took the ticket
        // the moment the claim ran out (simulator seed 320).
        let tk = &self.tickets[i];
        let grace = if effective == OR_TKT_LOST {
            tk.cfg.acquire_after
        } else {
            Duration::ZERO
        };
        if let Some((holder, until)) = tk.claim_besides_within(self.me, now, grace) {
            tk_info!(
                tk,
                "not starting elections: {} holds a lease for {}ms more{}",
                self.cfg.members[holder].addr_string,
                until.ms() - now.ms(),
                if grace.is_zero() {
                    ""
                } else {
                    " (with acquire-after)"
                }
            );
            return None;
        }
        // DIFF: the start-up fence covers our own candidacy too: before we
        // know every member's view we may have forgotten a lease we
        // acknowledged. Only re-taking a lease our own CIB says we hold is
        // allowed (a restarted leader must not lose its ticket for it).
        let tk = &mut self.tickets[i];
        let fenced = tk.startup.vote_fence.filter(|&f| f > now);
        let own = tk.leader == Leader::of(self.me) || tk.cib.is_granted;
        if let (Some(lifts), false) = (fenced, own) {
            tk_info!(
                tk,
                "election deferred: started too recently to know every lease"
            );
            tk.deferred_election = Some(DeferredElection {
                preference,
                bump,
                reason,
            });
            tk.next_cron = Some(lifts);
            return Some(true);
        }
        let tk = &mut self.tickets[i];
        if tk.election_end.is_some_and(|e| e > now) {
            return Some(false);
        }
        // DIFF: never campaign in a term in which we voted for another site.
        let voted_other = tk
            .election
            .vote_record
            .is_some_and(|v| v.term == tk.current_term && v.candidate() != self.me);
        // DIFF: the C booth keeps the term for the first election after a
        // start (no snapshot yet); after a restart that term came back from
        // the CIB or our record and may be one we led (or revoked) in
        // before: a late message of that round would then be taken for
        // one of the new (simulator seed 2181: a revoke held back in the
        // network reset the followers of the re-won term). A fresh
        // cluster's first grant keeps term 0.
        let restarted = tk.committed.is_none() && (tk.cib.loaded || tk.startup.promises_restored);
        let raise = bump == TermBump::Always
            || voted_other
            || (bump == TermBump::IfUsed
                && (restarted || tk.committed.is_some_and(|s| s.term >= tk.current_term)));
        if raise {
            if tk.state != State::Candidate {
                tk.save_committed();
            }
            // Saturating: a (crafted) term at the top must not wrap to 0.
            tk.current_term = tk.current_term.saturating_add(1);
        }
        tk.election_end = Some(now + tk.cfg.timeout);
        tk.election.running = true;
        tk_info!(tk, "starting new election (term={})", tk.current_term);
        tk.clear_votes();
        let choice = preference.unwrap_or(self.me);
        tk.peers[self.me].vote = Some(Leader::of(choice));
        tk.election.voted_for = Some(super::ticket::member_byte(choice));
        tk.election.vote_record = Some(VoteRecord::new(tk.current_term, choice));
        tk.state = State::Candidate;
        if reason != OR_AGAIN {
            tk.election.reason = reason;
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
    pub(super) fn elections_end(&mut self, i: Tix) {
        let now = self.now.mono;
        let n = self.n_members();
        self.tickets[i].election.running = false;
        let tk = &self.tickets[i];
        let mut counts = [0usize; crate::config::MAX_MEMBERS];
        for m in tk.peers.iter().filter_map(|p| p.vote?.member()) {
            counts[m] += 1;
        }
        let winner = (0..n).find(|&m| counts[m] * 2 > n);
        let top = counts.iter().copied().max().unwrap_or(0);
        let tie = top > 0 && counts.iter().filter(|&&c| c == top).count() > 1;
        match winner {
            Some(w) if w == self.me => {
                tk_info!(tk, "granted successfully here");
                self.won_elections(i);
            }
            Some(w) => {
                tk_info!(tk, "ticket granted at {}", self.cfg.members[w].addr_string);
                // DIFF: follow the winner right away (its heartbeat will set the
                // real lease) and tell waiting clients; the C booth keeps
                // re-checking the votes and leaves the clients waiting.
                let tk = &mut self.tickets[i];
                tk.state = State::Follower;
                tk.election_end = None;
                tk.lease.expires = Some(now + tk.cfg.timeout);
                self.set_leader(i, Leader::of(w));
                self.leave_candidacy(i);
                self.set_ticket_wakeup(i);
            }
            None => {
                tk_info!(tk, "nobody won elections, new elections");
                self.tickets[i].outcome = RLT_MORE;
                self.notify_waiters(i, None);
                // DIFF: the next round starts after a random delay, as the
                // first one did. Candidates whose elections ended together
                // would otherwise split the votes again, round after round
                // (two sites without an arbitrator never elected anyone).
                let delay = self.random_delay(i);
                let tk = &mut self.tickets[i];
                tk.election_retry = Some(ElectionRetry {
                    bump: if tie {
                        TermBump::Always
                    } else {
                        TermBump::Keep
                    },
                    at: now + delay,
                });
                tk.next_cron = Some(now + delay);
            }
        }
    }

    /// The next round after an election nobody won (see elections_end).
    pub(super) fn retry_election(&mut self, i: Tix, bump: TermBump) {
        let now = self.now.mono;
        match self.new_election(i, None, bump, OR_AGAIN) {
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

    pub(super) fn won_elections(&mut self, i: Tix) {
        let now = self.now.mono;
        let all_sites = self.site_bits();
        self.set_leader(i, Leader::of(self.me));
        let tk = &mut self.tickets[i];
        tk.state = State::Leader;
        tk.lease.proven = false;
        // Tentative: nothing is written to the CIB before a majority has
        // acknowledged the first heartbeat.
        tk.lease.expires = Some(now + tk.cfg.expire);
        tk.election_end = None;
        tk.election.voted_for = None;
        if tk.delay_commit.is_some() && tk.round.acked & all_sites == all_sites {
            tk_debug!(tk, "reset delay commit as all sites replied");
            tk.delay_commit = None;
        }
        tk.save_committed();
        self.broadcast(i, OP_HEARTBEAT, OP_ACK, RLT_SUCCESS, OR_JUST_SO);
        self.tickets[i].lease.renewal = Renewal::HeartbeatSent;
    }

    /// C `leader_update_ticket`: a majority acknowledged our heartbeat.
    pub(super) fn leader_update_ticket(&mut self, i: Tix) {
        let now = self.now.mono;
        let from_arrival = mutated!(self, LeaseFromAckArrival);
        let tk = &mut self.tickets[i];
        let was_proven = tk.lease.proven;
        tk.lease.proven = true;
        if tk.lease.renewal == Renewal::Written {
            return;
        }
        if !tk.cfg.is_manual() && tk.lease.renewal == Renewal::HeartbeatSent {
            tk.lease.renewal = Renewal::Extended;
            tk.lease.last_renewal = Some(now);
            // DIFF: the lease runs from when the acknowledged heartbeat was
            // first sent, not from when the acks arrived: every member that
            // acknowledged holds the lease at least that long.
            if let Some(sent) = tk.lease.hb_sent_at {
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
                    until = until.max(tk.lease.expires.unwrap_or(until));
                }
                if until <= now {
                    // Answered so late (say, after a pause) that what it
                    // proves is already over.
                    tk_warn!(
                        tk,
                        "acknowledged too late to prove a lease, giving the ticket up"
                    );
                    tk.lease.expires = Some(until);
                    tk.lease.proven = false;
                    self.ticket_lost(i);
                    return;
                }
                tk.lease.expires = Some(until);
                tk.note_claim(self.me, until);
            }
            self.broadcast(i, OP_UPDATE, OP_ACK, RLT_SUCCESS, OR_JUST_SO);
        }
        match self.ticket_write(i) {
            Written::Yes => {
                self.tickets[i].lease.renewal = Renewal::Written;
                self.tickets[i].outcome = RLT_SUCCESS;
                self.notify_waiters(i, None);
            }
            Written::Delayed => {
                // Answers to this round may still complete the set of sites
                // (the election may have ended on a majority before every
                // site voted): announce "pending" only once a resend was
                // needed, not a few milliseconds before the commit.
                let tk = &self.tickets[i];
                let round_open = tk.round.expect.is_some() && tk.round.retry_number == 0;
                if tk.outcome != RLT_CIB_PENDING && !round_open {
                    self.tickets[i].outcome = RLT_CIB_PENDING;
                    self.notify_waiters(i, None);
                }
            }
            Written::NotSite => {}
        }
    }

    /// C `handle_resends`.
    pub(super) fn handle_resends(&mut self, i: Tix) {
        let me = self.me;
        let tk = &mut self.tickets[i];
        // The state query's resends are the cron's (`ticket_cron`, which
        // decides whether to ask again); resending here as well sent every
        // retry twice and used up the retries twice as fast.
        if tk.round.request == OP_STATUS {
            return;
        }
        // DIFF: a vote request is resent only while we are still a
        // candidate of that term: once we have voted for another site in it,
        // asking again would be a second vote of ours in the same term.
        if tk.round.request == OP_REQ_VOTE
            && (tk.state != State::Candidate
                || tk.election.vote_record != Some(VoteRecord::new(tk.current_term, me)))
        {
            tk.no_resends();
            self.set_ticket_wakeup(i);
            return;
        }
        tk.round.retry_number += 1;
        let name = tk.cfg.name.clone();
        if tk.round.retry_number > tk.cfg.retries {
            tk_info!(name, "giving up on sending retries");
            tk.no_resends();
            // DIFF: a manual ticket has no lease whose end would answer a
            // waiting grant: a grant no majority acknowledged has failed.
            let stranded = tk.cfg.is_manual()
                && tk.round.request == OP_HEARTBEAT
                && !tk.lease.proven
                && tk.waiters.iter().any(|w| w.cmd == CMD_GRANT);
            if stranded {
                tk_warn!(name, "no majority acknowledged the grant");
                tk.outcome = RLT_SYNC_FAIL;
                self.notify_waiters(i, Some(CMD_GRANT));
            }
            self.set_ticket_wakeup(i);
            return;
        }
        let acks = tk.round.acked;
        let try_no = tk.round.retry_number;
        if tk.round.request == OP_VOTE_FOR {
            tk_warn!(
                name,
                "no answers to our VtFr request to step down (try #{try_no}), we are alone"
            );
        } else if !self.majority(acks) {
            if acks.count_ones() <= 1 {
                tk_warn!(
                    name,
                    "no answers to our request (try #{try_no}), we are alone"
                );
            } else {
                tk_warn!(
                    name,
                    "not enough answers to our request (try #{try_no}): only got {} answers",
                    acks.count_ones()
                );
            }
        } else if try_no == 1 {
            for m in (0..self.n_members()).filter(|m| acks & (1 << m) == 0) {
                let mem = &self.cfg.members[m];
                tk_warn!(
                    name,
                    "{} {} didn't acknowledge our {}, will retry {} times",
                    mem.kind.as_str(),
                    mem.addr_string,
                    code_to_string(self.tickets[i].round.request),
                    self.tickets[i].cfg.retries
                );
            }
        }
        self.resend_msg(i);
        let tk = &self.tickets[i];
        if tk.state == State::Leader && self.majority(tk.round.acked) {
            self.leader_update_ticket(i);
        }
    }

    pub(super) fn resend_msg(&mut self, i: Tix) {
        let now = self.now.mono;
        let tk = &self.tickets[i];
        let (cmd, reason, acks) = (tk.round.request, tk.round.reason, tk.round.acked);
        // DIFF: resends keep their reason (the C booth sends 0).
        let msg = self.build_msg(i, cmd, Cmd::NONE, reason, RLT_SUCCESS);
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
}
