//! Deliberately broken engine variants (feature `mutations`, tests only).
//!
//! Each variant removes one safety rule at the exact place the engine applies
//! it. The simulator's tests switch one on and show that the invariant
//! checkers catch the result within a bounded number of seeds; a checker that
//! never fires on a broken engine proves nothing.

use super::Engine;

/// One deliberately broken rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutation {
    /// A leader whose lease ran out keeps the ticket (and its CIB grant)
    /// instead of dropping it at expiry.
    LeaderKeepsExpiredTicket,
    /// A member votes for every candidate that asks, several times per term.
    DoubleVote,
    /// The leader's lease runs from when the majority of acknowledgements
    /// arrived rather than from when the heartbeat was sent (the C booth's
    /// rule), so it outlasts the leases its followers acknowledged.
    LeaseFromAckArrival,
    /// A follower copies the term of the leader's message even when it is
    /// older than its own (the C booth's rule): terms go backwards.
    TermRegression,
    /// The safety rules of ours (issue #17: each must show as a dual grant
    /// in the simulator when broken).
    ///
    /// Claims are ignored: a member votes for, and acknowledges, a new
    /// candidate while another site's claimed lease still runs.
    IgnoreClaims,
    /// No start-up fence: a member that has just started votes and
    /// acknowledges at once, although it may have forgotten a lease it
    /// promised before.
    NoStartupFence,
    /// No release hold: a revoke or step-down is announced at once, while
    /// the CIB revoke is still being written.
    NoReleaseHold,
    /// No restart claim: a restarted holder announces the lease its CIB
    /// records, rounded down to the second.
    NoRestartClaim,
    /// No term filter on hand-overs: a step-down (VOTE_FOR naming no one)
    /// or REVOKE of an older term resets the ticket. The hook belongs in
    /// the term check of those two paths (issue #17, sequence 1).
    ReleaseOfAnyTerm,
    /// Acknowledgements of another term count for the round outstanding.
    AcksOfAnyTerm,
    /// A claim of an older term than a live lease we acknowledged is
    /// recorded all the same.
    StaleClaim,
    /// A grant loaded from the CIB is kept although a peer reports another
    /// site's live lease in a newer term.
    KeepStaleCibGrant,
    /// A member whose promises were given back after a restart trusts
    /// them less than it should: it fences itself as after a first start
    /// (liveness only; shows what the record buys).
    ForgetPromises,
    /// A restarted member trusts its recorded promises but its record lost
    /// the leases it acknowledged.
    ForgetClaims,
    /// A grant loaded from the CIB is trusted for as long as the wall
    /// clock makes its `expires`, capped at `expire`, however implausible.
    TrustWrongClock,
    /// A restarted holder ignores the lease end it recorded and trusts the
    /// CIB's `expires` as read by its (possibly stepped) wall clock.
    IgnoreRecordedLease,
    /// A leader told of another site's live lease in a newer term takes
    /// the term and stays leader when it may not campaign in it
    /// (availability: the live holder's renewals are refused).
    LeadNewerTerm,
    /// The promise record keeps no start-up fence: a daemon restarted
    /// while the previous one was still fenced (after a host reboot)
    /// starts without one.
    ForgetFence,
    /// A reload that removes a ticket forgets its promises: added back,
    /// the ticket starts as never seen (simulator seed 9972).
    ForgetRemovedPromises,
    /// A release hold is told in our current term, which may have moved
    /// on to one another site leads (simulator seed 2074).
    HoldInAnyTerm,
    /// A grant loaded from the CIB by a daemon started without a record
    /// (a host reboot) is kept as long as its wall clock reads the CIB's
    /// `expires`, whether or not a majority confirms it (simulator seed
    /// 8679).
    TrustUnconfirmedGrant,
}

impl Mutation {
    pub const ALL: [Mutation; 21] = [
        Mutation::LeaderKeepsExpiredTicket,
        Mutation::DoubleVote,
        Mutation::LeaseFromAckArrival,
        Mutation::TermRegression,
        Mutation::IgnoreClaims,
        Mutation::NoStartupFence,
        Mutation::NoReleaseHold,
        Mutation::NoRestartClaim,
        Mutation::ReleaseOfAnyTerm,
        Mutation::AcksOfAnyTerm,
        Mutation::StaleClaim,
        Mutation::KeepStaleCibGrant,
        Mutation::ForgetPromises,
        Mutation::ForgetClaims,
        Mutation::TrustWrongClock,
        Mutation::IgnoreRecordedLease,
        Mutation::LeadNewerTerm,
        Mutation::ForgetFence,
        Mutation::ForgetRemovedPromises,
        Mutation::HoldInAnyTerm,
        Mutation::TrustUnconfirmedGrant,
    ];

    /// Short name, as given on the command line (`MUTATION=...`).
    pub fn name(self) -> &'static str {
        match self {
            Mutation::LeaderKeepsExpiredTicket => "leader-keeps-expired-ticket",
            Mutation::DoubleVote => "double-vote",
            Mutation::LeaseFromAckArrival => "lease-from-ack-arrival",
            Mutation::TermRegression => "term-regression",
            Mutation::IgnoreClaims => "ignore-claims",
            Mutation::NoStartupFence => "no-startup-fence",
            Mutation::NoReleaseHold => "no-release-hold",
            Mutation::NoRestartClaim => "no-restart-claim",
            Mutation::ReleaseOfAnyTerm => "release-of-any-term",
            Mutation::AcksOfAnyTerm => "acks-of-any-term",
            Mutation::StaleClaim => "stale-claim",
            Mutation::KeepStaleCibGrant => "keep-stale-cib-grant",
            Mutation::ForgetPromises => "forget-promises",
            Mutation::ForgetClaims => "forget-claims",
            Mutation::TrustWrongClock => "trust-wrong-clock",
            Mutation::IgnoreRecordedLease => "ignore-recorded-lease",
            Mutation::LeadNewerTerm => "lead-newer-term",
            Mutation::ForgetFence => "forget-fence",
            Mutation::ForgetRemovedPromises => "forget-removed-promises",
            Mutation::HoldInAnyTerm => "hold-in-any-term",
            Mutation::TrustUnconfirmedGrant => "trust-unconfirmed-grant",
        }
    }

    pub fn from_name(s: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl Engine {
    /// Switches a broken variant on (or back off with `None`).
    pub fn set_mutation(&mut self, m: Option<Mutation>) {
        self.mutation = m;
    }
}
