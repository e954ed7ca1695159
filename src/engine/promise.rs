//! What a member has promised, kept across a restart of its daemon.
//!
//! A vote and an acknowledgement are promises: one vote per term, and no
//! vote or acknowledgement for another site while a lease we acknowledged
//! runs (the claims). A daemon that restarts and forgets them could elect a
//! second leader; without a record it must fence itself until it has heard
//! every member's view or a lease has run out (`Startup::vote_fence`), which
//! costs availability: a restarted arbitrator with one site down would not
//! acknowledge the other site's renewals for up to `expire`.
//!
//! So the engine hands its driver, before the driver executes the outputs
//! of an event, every ticket whose promises changed ([`Engine::take_promises`]);
//! the driver records them before it sends anything (Raft's rule: persistent
//! state is written before answering). A restarted daemon gives the records
//! back with [`Engine::restore_promise`] before [`Engine::start`]; such a
//! ticket needs no fence. Members are named by site id and times are on the
//! driver's clock, which must run on across a daemon restart (the daemon
//! uses CLOCK_BOOTTIME and keeps the record in a file that a host reboot
//! discards or invalidates: after a reboot the fence applies again).

use super::Tix;
use super::{Engine, Time};

/// One ticket's promises.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Promise {
    /// Our term: terms never go back, also across a restart.
    pub term: u32,
    /// The vote of a term: (term, site id of the candidate).
    pub vote: Option<(u32, u32)>,
    /// Leases we may have promised: (site id, end on the driver's clock).
    pub claims: Vec<(u32, Time)>,
    /// The end of a start-up fence still up (driver's clock): a daemon that
    /// started without a record does not know what it promised before, and
    /// neither does one restarted from the record it wrote meanwhile.
    pub fence: Option<Time>,
}

impl Engine {
    /// The promises of ticket `i` as they stand.
    pub(super) fn promise_of(&self, i: Tix) -> Promise {
        let tk = &self.tickets[i];
        // Exactly as many claims as there are: a vector collected from a
        // filter reserves room for four, 64 bytes for the usual one, and
        // a leader of 1,000 tickets keeps 1,000 of these.
        let mut claims = Vec::with_capacity(tk.peers.iter().filter(|p| p.claim.is_some()).count());
        claims.extend(self.claims_of(i));
        Promise {
            term: tk.current_term,
            vote: self.vote_of(i),
            claims,
            fence: tk.startup.vote_fence,
        }
    }

    /// Ticket `i`'s vote record, the candidate named by site id.
    fn vote_of(&self, i: Tix) -> Option<(u32, u32)> {
        let id = |m: usize| self.cfg.members[m].site_id;
        self.tickets[i]
            .election
            .vote_record
            .map(|v| (v.term, id(v.candidate())))
    }

    /// Ticket `i`'s claims, by site id, in member order.
    fn claims_of(&self, i: Tix) -> impl Iterator<Item = (u32, Time)> + '_ {
        let id = |m: usize| self.cfg.members[m].site_id;
        self.tickets[i]
            .peers
            .iter()
            .enumerate()
            .filter_map(move |(m, p)| p.claim.map(|t| (id(m), t)))
    }

    /// Whether `p` is ticket `i`'s promises as they stand (what
    /// [`Engine::promise_of`] would build, compared without building it:
    /// this runs after every event that touched the ticket).
    fn promise_is(&self, i: Tix, p: &Promise) -> bool {
        let tk = &self.tickets[i];
        p.term == tk.current_term
            && p.fence == tk.startup.vote_fence
            && p.vote == self.vote_of(i)
            && self.claims_of(i).eq(p.claims.iter().copied())
    }

    /// Notes that ticket `i`'s promises may have changed (after every event
    /// that touched it).
    pub(super) fn check_promise(&mut self, i: Tix) {
        if !self.started {
            return;
        }
        if let Some(p) = &self.tickets[i].promised {
            if self.promise_is(i, p) {
                return;
            }
        }
        self.tickets[i].promised = Some(self.promise_of(i));
        self.promises_dirty.insert(i);
    }

    /// Tickets whose promises changed since the last call, by name: record
    /// them before executing the outputs that follow (see the module docs).
    pub fn take_promises(&mut self) -> Vec<(std::sync::Arc<str>, Promise)> {
        std::mem::take(&mut self.promises_dirty)
            .into_iter()
            .filter_map(|i| {
                let tk = &self.tickets[i];
                tk.promised.clone().map(|p| (tk.cfg.name.clone(), p))
            })
            .collect()
    }

    /// Gives a restarted member back the promises it recorded for ticket
    /// `i` (before [`Engine::start`]). A record naming a site that is no
    /// longer configured is refused (false): the ticket is then fenced as
    /// after a first start.
    pub fn restore_promise(&mut self, i: Tix, p: &Promise) -> bool {
        // The broken variant without a start-up fence has no record either:
        // a restarted member that knows nothing and fences nothing.
        if mutated!(self, NoStartupFence) {
            return false;
        }
        let member = |id: u32| self.cfg.member_by_id(id).map(|m| m.index);
        let vote = match p.vote {
            Some((t, id)) => match member(id) {
                Some(m) => Some((t, m)),
                None => return false,
            },
            None => None,
        };
        let mut claims = Vec::new();
        for &(id, until) in &p.claims {
            match member(id) {
                Some(m) => claims.push((m, until)),
                None => return false,
            }
        }
        let forget_claims = mutated!(self, ForgetClaims);
        let forget_fence = mutated!(self, ForgetFence);
        let tk = &mut self.tickets[i];
        tk.current_term = tk.current_term.max(p.term);
        // A fence the previous daemon had not lifted goes on (`start`
        // keeps it if it has not ended): the record of a daemon that
        // started without one misses whatever was promised before
        // (simulator seed 5328).
        if !forget_fence {
            tk.startup.vote_fence = p.fence;
        }
        if let Some((term, candidate)) = vote {
            tk.election.vote_record = Some(super::ticket::VoteRecord::new(term, candidate));
        }
        if !forget_claims {
            for (m, until) in claims {
                tk.note_claim(m, until);
            }
        }
        // Our own lease, as we proved it, on the clock that ran on across
        // the restart: a grant our CIB still holds lasts that long, not as
        // long as the CIB's `expires` read by a wall clock that may have
        // been set since (DIFF). No lease of ours in the record: the grant
        // is over (we released it, or never proved it).
        let me = self.me;
        // (keep-stale-cib-grant brings back issue #17's sequence 2 whole:
        // no record and no plausibility check either.)
        let ignore_recorded = mutated!(self, IgnoreRecordedLease);
        let keep_stale = mutated!(self, KeepStaleCibGrant);
        let ignore_record = ignore_recorded || keep_stale;
        let use_record = !ignore_record;
        let no_restart_claim = mutated!(self, NoRestartClaim);
        let tk = &mut self.tickets[i];
        let ours = tk.cib.granted && tk.leader == super::Leader::of(me);
        if ours && !tk.cfg.is_manual() && use_record {
            let proven = p
                .claims
                .iter()
                .find(|&&(id, _)| id == self.cfg.members[me].site_id)
                .map(|&(_, t)| t);
            let now = self.now.mono;
            let end = proven.unwrap_or(now);
            tk.lease.expires = Some(tk.lease.expires.map_or(end, |t| t.min(end)));
            tk.cib.granted_until = Some(tk.cib.granted_until.map_or(end, |t| t.min(end)));
            // (The broken variant without a restart claim announces only
            // what its CIB says, as before the record existed.)
            let claim = proven.filter(|_| !no_restart_claim);
            tk.restart_claim = claim;
            tk.peers[me].claim = claim;
        }
        tk.startup.promises_restored = true;
        true
    }
}
