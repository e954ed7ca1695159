//! Hashing of an engine's run-time state, for the model checker (`src/mc`),
//! which must recognise a state it has seen along another interleaving.
//!
//! Configuration is left out: every engine of one checked cluster has the
//! same, and hashing strings per state would cost more than the rest.
//! Each impl destructures its struct without `..`, so that a field added
//! later fails to compile here until it is hashed or deliberately skipped.

use std::hash::{Hash, Hasher};

use super::ticket::{Rare, Ticket};
use super::Engine;

impl Hash for Ticket {
    /// The groups (`Election`, `Lease`, ...) derive `Hash`, which covers
    /// every field of theirs.
    fn hash<H: Hasher>(&self, h: &mut H) {
        let Ticket {
            idx,
            cfg: _,
            state,
            next_state,
            next_cron,
            indexed_cron,
            leader,
            lost_leader,
            current_term,
            peers,
            committed,
            outcome,
            sites_where_granted,
            handler,
            promised,
            election,
            lease,
            cib,
            round,
            startup,
            rare: _,
        } = self;
        // Whether the rare fields are boxed does not count, only their values.
        let Rare {
            election_end,
            delay_commit,
            attrs,
            waiters,
            deferred_election,
            election_retry,
            release_hold,
            restart_claim,
            loaded_grant_term,
            deferred_release,
        } = &**self;
        (idx, state, next_state, next_cron, indexed_cron, leader).hash(h);
        (lost_leader, current_term, peers, committed, outcome).hash(h);
        (sites_where_granted, handler, promised).hash(h);
        (election, lease, cib, round, startup).hash(h);
        (election_end, delay_commit, attrs, waiters).hash(h);
        (deferred_election, election_retry, release_hold).hash(h);
        (restart_claim, loaded_grant_term, deferred_release).hash(h);
    }
}

impl Hash for Engine {
    /// Outputs not yet polled count by number only (a checker drains them
    /// after every event).
    fn hash<H: Hasher>(&self, h: &mut H) {
        let Engine {
            cfg: _,
            me,
            tickets,
            by_name: _,
            rng,
            out,
            crons,
            handler_exited,
            promises_dirty,
            removed,
            started_at,
            started,
            now,
            next_run,
            ids,
            by_id: _,
            next_id,
            queries,
            #[cfg(feature = "mutations")]
            mutation,
        } = self;
        (me, tickets, rng, out.len(), crons, handler_exited).hash(h);
        (promises_dirty, started_at, started, now, next_run).hash(h);
        (ids, next_id, removed, queries).hash(h);
        #[cfg(feature = "mutations")]
        mutation.hash(h);
    }
}
