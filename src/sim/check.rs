//! Invariants, checked after every step of a run.
//!
//! Safety, judged by the true (simulator) time, never by a member's clock:
//!
//! * **Dual grant**: at no instant do two sites have an automatic ticket
//!   "granted" in their CIB with the lease that grant was written for still
//!   running. A CIB "granted" whose lease has ended does not count: Pacemaker
//!   would still act on it, but no protocol can stop a frozen, dead or slow
//!   member's CIB from lagging; those cases are counted apart
//!   (`Counters::stale_*`) and the obligations below make sure the lag is
//!   never the engine's doing.
//! * **Revoke at expiry**: a running (not frozen) site never leaves its last
//!   requested CIB state at "granted" past the end of that lease.
//! * **Revoke first on resume**: a member resumed from a pause with a grant
//!   whose lease ended while it was frozen revokes it locally before it does
//!   anything else with that ticket, on the very first event it handles.
//! * **Terms never go backwards** at a member within one process lifetime.
//! * **Leases are acknowledged**: whenever a leader's lease end changes, a
//!   majority of members (the leader included) has acknowledged that leader in
//!   that term with a lease lasting at least as long.
//! * The CIB `expires` a site writes is its lease end in its own wall clock,
//!   rounded to the second.
//! * No livelock: time always advances.
//!
//! Liveness (in healed phases, see `scenario`): failover within
//! `failover_bound`, calm grants and revokes within `grant_bound` and
//! `revoke_bound`, and every -w/-C client answered.
//!
//! Manual tickets have no leases and may be granted at several sites by
//! design (`booth grant -F`, or a grant where the owner is unknown); they take
//! part in everything else.

use std::fmt;

use crate::config::TicketConfig;
use crate::engine::Leader;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    DualGrant,
    GrantNotRevoked,
    ResumeNotRevokeFirst,
    TermBackwards,
    LeaseBeyondAcks,
    CibExpiresMismatch,
    Livelock,
    FailoverLate,
    OperationLate,
    ClientUnanswered,
    Disagreement,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::DualGrant => "dual-grant",
            Kind::GrantNotRevoked => "grant-not-revoked-at-expiry",
            Kind::ResumeNotRevokeFirst => "resume-without-revoke-first",
            Kind::TermBackwards => "term-backwards",
            Kind::LeaseBeyondAcks => "lease-beyond-acknowledged",
            Kind::CibExpiresMismatch => "cib-expires-mismatch",
            Kind::Livelock => "livelock",
            Kind::FailoverLate => "failover-late",
            Kind::OperationLate => "operation-late",
            Kind::ClientUnanswered => "client-unanswered",
            Kind::Disagreement => "disagreement",
        }
    }
}

/// Engine bugs the simulator found in the unmodified engine, recognised
/// precisely so that they are reported apart and do not hide new failures.
/// Each is described (with a seed that replays it) in the simulator's
/// report; `STRICT=1` counts them as violations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Known {
    /// A dual grant where the earlier holder had already asked for its CIB
    /// revoke (step-down or admin revoke) and sent the hand-over message in
    /// the same step; the new holder's grant landed before the old revoke.
    ReleasedBeforeRevoked,
    /// A leader's lease is backed by acknowledgements of an earlier
    /// heartbeat: acks are matched to the outstanding heartbeat by message
    /// type only, so a delayed ack of an older one counts for the current one.
    StaleAck,
    /// A site that restarted with a grant in its CIB takes a peer's state
    /// answer about its own lease (rounded up to the wire unit, or stretched
    /// by a late heartbeat) as its lease and keeps the grant past the leases
    /// a majority holds.
    OwnLeaseFromPeer,
    /// A site that re-acquires a ticket it holds (or held before a restart)
    /// keeps its CIB grant through the election, and after winning lets the
    /// tentative lease of the new term, not yet acknowledged, keep it.
    TentativeLease,
    /// A failover needed more election rounds than the bound allows for:
    /// candidates with a majority of votes pre-empted by voters that start
    /// their own election after one timeout, split votes re-run in the same
    /// term, or a candidate stuck in an outdated term.
    ElectionRounds,
    /// A waiting client is never answered because the ticket was revoked
    /// or lost before its request completed: the revoke and loss paths
    /// answer only some of the waiters (a -w/-C grant waiting for its
    /// commit; a -w revoke delayed behind a broadcast, whose pending revoke
    /// the loss of the ticket discards).
    WaiterStranded,
    /// A leader told of a newer term takes that term over without an
    /// election (`leader_behind_peer`, `leader_handle_newer_ticket`) and,
    /// when a before-acquire-handler is configured, never re-acquires: it
    /// goes on heartbeating in a term another site leads, and followers
    /// acknowledge both leaders.
    TermAdopted,
    /// A vote request with the step-down reason is granted whatever lease
    /// the voter holds; a step-down election retried after another site
    /// already took over (or started late) overrides the new leader's lease.
    StepdownOverridesLease,
    /// A follower that learned of its leader from heartbeats alone keeps
    /// the wakeup it had before (up to an hour away when it was idle), so it
    /// notices the leader's loss only then.
    FollowerAsleep,
    /// A leader that re-acquires (after hearing of a newer term) and loses
    /// the election to another site follows the winner without revoking its
    /// own CIB grant, which then outlives its lease.
    LostReelectionKeepsGrant,
    /// A waiting grant of a manual ticket that another site leads as well
    /// (manual tickets take no election) never completes: the other leader
    /// refuses its heartbeats, so the grant gets no majority and no answer.
    ManualGrantStuck,
    /// A restart forgets the member's commitments: its votes (not kept
    /// across a restart) and the lease it acknowledged (followers write the
    /// CIB on updates only, asynchronously, so the CIB may hold an older
    /// lease or none). The start-up vote fence lasts `expire` and does not
    /// cover the site's own candidacy. So a vote cast before a restart still
    /// counts for its candidate (typically one frozen meanwhile, which ends
    /// its election with the votes that waited in its socket buffer) while
    /// the restarted voter has voted for, or acknowledged, another site; or
    /// the restarted site campaigns when the lease it remembers ends, while
    /// the one it acknowledged still runs.
    RestartForgetsCommitment,
}

impl Known {
    pub const ALL: [Known; 12] = [
        Known::ReleasedBeforeRevoked,
        Known::StaleAck,
        Known::OwnLeaseFromPeer,
        Known::TentativeLease,
        Known::ElectionRounds,
        Known::WaiterStranded,
        Known::TermAdopted,
        Known::StepdownOverridesLease,
        Known::FollowerAsleep,
        Known::LostReelectionKeepsGrant,
        Known::ManualGrantStuck,
        Known::RestartForgetsCommitment,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Known::ReleasedBeforeRevoked => "released-before-revoked",
            Known::StaleAck => "stale-ack",
            Known::OwnLeaseFromPeer => "own-lease-from-peer",
            Known::TentativeLease => "tentative-lease",
            Known::ElectionRounds => "election-rounds",
            Known::WaiterStranded => "waiter-stranded",
            Known::TermAdopted => "term-adopted-without-election",
            Known::StepdownOverridesLease => "stepdown-overrides-lease",
            Known::FollowerAsleep => "follower-asleep",
            Known::LostReelectionKeepsGrant => "lost-reelection-keeps-grant",
            Known::ManualGrantStuck => "manual-grant-stuck",
            Known::RestartForgetsCommitment => "restart-forgets-commitment",
        }
    }
}

/// One broken invariant.
#[derive(Clone, Debug)]
pub struct Violation {
    pub kind: Kind,
    /// A known engine bug, reported apart.
    pub known: Option<Known>,
    /// True time, ms.
    pub at: u64,
    pub ticket: Option<String>,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(k) = self.known {
            write!(f, "[known: {}] ", k.name())?;
        }
        write!(
            f,
            "{} at t={}: {}{}",
            self.kind.name(),
            super::stats::secs(self.at),
            self.ticket
                .as_deref()
                .map(|t| format!("{t}: "))
                .unwrap_or_default(),
            self.detail
        )
    }
}

/// The lease a member promised a leader by acknowledging its heartbeat or
/// update: its own view right after it sent the acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    pub leader: Leader,
    pub term: u32,
    /// End of the acknowledged lease, true time (ms).
    pub until: u64,
    /// When the acknowledged heartbeat or update was sent (true time).
    pub acked_sent: u64,
    /// When the acknowledgement was sent (true time).
    pub at: u64,
}

/// Timing facts of a run the bounds are derived from (ms).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Longest one-way delay of the healed network.
    pub max_delay: u64,
    /// Longest healthy crm_ticket run of any site.
    pub max_crm: u64,
    /// Longest handler run of any site.
    pub max_handler: u64,
    /// Wire unit of `term_valid_for` (1000, or 1 with sub-second times).
    pub unit: u64,
}

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// The random delay before an election: uniform in [0, min(timeout, 1 s)).
fn election_delay(t: &TicketConfig) -> u64 {
    ms(t.timeout).min(1000)
}

/// Election rounds the failover bound allows for (see `failover_bound`).
pub const ELECTION_ROUNDS: u64 = 3;

/// How long after the loss of its leader (a crash, an isolation or a freeze
/// at time 0, with the rest of the cluster healed, a majority up, and no
/// further faults) an automatic ticket is granted at another site at the
/// latest:
///
/// ```text
///   expire + acquire-after + D
///   D = d                                   last heartbeat still in flight
///     + unit + d                            one lease relay (state answer,
///                                           rounded up to the wire unit)
///     + R * (r + timeout + 2d + r + unit)   election rounds
///     + 2d + crm                            first heartbeat acknowledged,
///                                           CIB written
/// ```
///
/// with d the longest one-way delay, r = min(timeout, 1 s) the largest
/// random election delay, crm the longest crm_ticket run, and R =
/// [`ELECTION_ROUNDS`]. Reasoning: the followers' leases end at most d after
/// the leader's (the heartbeat offers `expire` from its arrival; the
/// acknowledged-lease check makes sure no follower holds more). A member
/// that restarts and learns the lease from a peer's state answer gets the
/// remaining time rounded up to the wire unit, one more unit + d. A follower
/// starts its election `acquire-after` after its lease end plus a random
/// delay r; it wins at the latest when the election times out (timeout + r
/// after it started, votes take 2d). A round can fail: a candidate that asks
/// a member whose lease runs a little longer is told so and follows the old
/// leader again until that (rounded-up) lease ends, or two candidates split
/// the votes; both cost a round of at most r + timeout + 2d + r + unit. R
/// rounds cover the observed worst cases (the simulator reports the
/// distribution of the part beyond expire + acquire-after). The winner's
/// first heartbeat is acknowledged within 2d and the grant reaches the CIB
/// after one crm_ticket run (a reacquire has no commit delay).
pub fn failover_bound(t: &TicketConfig, tm: &Timing) -> u64 {
    let d = tm.max_delay;
    let r = election_delay(t);
    let round = r + ms(t.timeout) + 2 * d + r + tm.unit;
    ms(t.expire)
        + ms(t.acquire_after)
        + d
        + tm.unit
        + d
        + ELECTION_ROUNDS * round
        + 2 * d
        + tm.max_crm
}

/// A grant asked for in a calm cluster (everyone up and reachable, no
/// faults, the ticket free everywhere) is answered within:
///
/// ```text
///   handler + timeout + r + 6d + 2 * 10 ms
/// ```
///
/// the handler run, the election (it ends as soon as every member voted,
/// else when it times out after timeout + r), the first heartbeat
/// acknowledged by every site (2d each way for votes and acks, 2d for the
/// commit-delay check to see all sites), and two "soon" timer slots.
pub fn grant_bound(t: &TicketConfig, tm: &Timing) -> u64 {
    tm.max_handler + ms(t.timeout) + election_delay(t) + 6 * tm.max_delay + 20
}

/// A revoke in a calm cluster is answered at once by the leader, or after
/// the broadcast in progress when it arrives, i.e. within a timeout; a
/// non-leader redirects the client, which asks the leader.
pub fn revoke_bound(t: &TicketConfig, tm: &Timing) -> u64 {
    ms(t.timeout) + 4 * tm.max_delay + 20
}
