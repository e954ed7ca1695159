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
            is_granted,
            term_expires,
            voted_for,
            peers,
            vote_record,
            current_term,
            ticket_updated,
            outcome,
            election_reason,
            delay_logged,
            last_request,
            last_reason,
            acks_expected,
            acks_received,
            retry_number,
            req_sent_at,
            hb_sent_at,
            start_postpone,
            vote_fence,
            last_renewal,
            update_cib,
            in_election,
            expect_more_rejects,
            committed,
            sites_where_granted,
            handler,
            cib_granted,
            cib_loaded,
            lease_proven,
            views_heard,
            cib_granted_until,
            acked_lead,
            promised,
            promises_restored,
            query_pending,
            release_hold_term,
            unconfirmed,
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
        (lost_leader, is_granted, term_expires, election_end).hash(h);
        (voted_for, peers, vote_record, current_term, ticket_updated).hash(h);
        (outcome, election_reason, delay_commit, delay_logged).hash(h);
        (last_request, last_reason, acks_expected, acks_received).hash(h);
        (retry_number, req_sent_at, hb_sent_at, start_postpone).hash(h);
        (vote_fence, last_renewal, update_cib, in_election).hash(h);
        (expect_more_rejects, committed, sites_where_granted, handler).hash(h);
        (attrs, waiters, cib_granted, cib_loaded, lease_proven).hash(h);
        (views_heard, deferred_election, election_retry).hash(h);
        (
            cib_granted_until,
            release_hold,
            restart_claim,
            loaded_grant_term,
        )
            .hash(h);
        (unconfirmed, deferred_release, acked_lead, release_hold_term).hash(h);
        (promised, promises_restored, query_pending).hash(h);
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
