//! Invariants, checked after every step of a run.
//!
//! Safety, judged by the true (simulator) time, never by a member's clock:
//!
//! * **Dual grant**: at no instant do two sites have an automatic ticket
//!   "granted" in their CIB with the lease that grant stands for still
//!   running. A grant stands for the lease it was written for, or longer
//!   while its running daemon keeps it: as leader believing in a later
//!   lease end (a host whose lease clock stood still in a suspend), or, for
//!   a grant found in the CIB at start-up, until the daemon's own reading
//!   of its `expires` (a restart with the wall clock behind). A restarted
//!   daemon is given a grace period to hear from its peers (two timeouts,
//!   4d and a crm_ticket run) before such a grant stands by its reading:
//!   until then it stands for its lease, as if the daemon were still down;
//!   if the daemon still keeps it when the grace ends, the overlap with
//!   any site counts, reachable or not (the engine keeps a grant loaded
//!   without a record only as far as a majority confirms it). A CIB
//!   "granted" whose lease has
//!   ended and that no running daemon keeps does not count: Pacemaker would
//!   still act on it, but no protocol can stop a frozen, dead or slow
//!   member's CIB from lagging; such overlaps are measured apart (see
//!   CIB-flag overlaps below) and the obligations below make sure the lag
//!   is never the engine's doing.
//! * **Revoke at expiry**: a running (not frozen) site never leaves its last
//!   requested CIB state at "granted" past the end of that lease.
//! * **Revoke first on resume**: a member resumed from a pause with a grant
//!   whose lease ended while it was frozen revokes it locally before it does
//!   anything else with that ticket, on the very first event it handles.
//! * **Terms never go backwards** at a member within one process lifetime.
//! * **One vote per term**: a member votes for one candidate per term within
//!   one process lifetime (itself, when it is the candidate).
//! * **Leases are acknowledged**: whenever a leader's lease end changes, a
//!   majority of members (the leader included) has acknowledged that leader in
//!   that term with a lease lasting at least as long.
//! * The CIB `expires` a site writes is its lease end in its own wall clock,
//!   rounded to the second.
//! * No livelock: time always advances.
//!
//! Liveness (in healed phases, see `scenario`): failover within
//! `failover_bound` and not before the old lease end plus `acquire-after`
//! (failover-early), calm grants and revokes within `grant_bound` and
//! `revoke_bound`, and every -w/-C client answered.
//!
//! **Availability**, at all times: a site that leads an automatic ticket
//! and holds it in its CIB does not give it up (ask for the CIB revoke)
//! while, for the whole grace period before, (a) it and a majority of the
//! members (it included) were healthy: running, not frozen or suspended,
//! crm_ticket neither slow nor failing, the handler not failing and never
//! slower than the engine allows (the timeout, and what a renewal leaves
//! of the lease), the geo attributes meeting the ticket's prerequisites,
//! no restart, clock step or geostore change, and not within the longest
//! `expire` after a host reboot (a daemon without the record of what it
//! promised before fences itself for up to a lease, see
//! `engine/promise.rs`); (b) the links between it
//! and each of those members, both ways, had no cut, loss, duplication,
//! delay spikes or held-back (stale) messages; (c) it led the ticket
//! throughout; and (d) no client asked for a grant or revoke of the
//! ticket. The grace period is
//! `renewal-freq + 2 * timeout + 4d + crm + unit` (`World::
//! availability_grace`): a leader sends nothing between renewals, so what
//! a past fault left behind shows only at the next renewal, which must
//! then complete. Faults on a minority may go on throughout.
//!
//! **CIB-flag overlaps** are measured, not judged: every period in which
//! two or more sites' CIBs say "granted" for an automatic ticket, whatever
//! the leases (Pacemaker acts on the flag; a down or frozen holder's CIB
//! keeps it). Dual grants are the overlaps in which both grants stand.
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
    DoubleVote,
    LeaseBeyondAcks,
    CibExpiresMismatch,
    Livelock,
    Availability,
    FailoverEarly,
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
            Kind::DoubleVote => "double-vote",
            Kind::LeaseBeyondAcks => "lease-beyond-acknowledged",
            Kind::CibExpiresMismatch => "cib-expires-mismatch",
            Kind::Livelock => "livelock",
            Kind::Availability => "availability",
            Kind::FailoverEarly => "failover-early",
            Kind::FailoverLate => "failover-late",
            Kind::OperationLate => "operation-late",
            Kind::ClientUnanswered => "client-unanswered",
            Kind::Disagreement => "disagreement",
        }
    }
}

/// Findings that are not counted as violations, each recognised precisely
/// so that it cannot hide a new failure, reported apart with a seed that
/// replays it; `STRICT=1` counts them too. The simulator found many more
/// classes of engine bugs (dual grants after restarts, through asynchronous
/// CIB revokes, tentative and borrowed leases, stale acknowledgements,
/// stuck grants); all were fixed and are violations again if they recur
/// (doc/simulator.md lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Known {
    /// A limit of the protocol, not of the engine: a lease backed by an
    /// acknowledgement of an earlier heartbeat that spent longer than the
    /// ticket's timeout in transit (a delay spike). Booth's messages name no
    /// heartbeat, so nothing on the wire tells such an answer from a fresh
    /// one; the leader's lease keeps a margin of one timeout for the transit
    /// of an answer (longer ones count as lost, as the resend logic does).
    AckBeyondTimeout,
    /// A failover needed more election rounds than the bound allows for:
    /// candidates with a majority of votes pre-empted by voters that start
    /// their own election after one timeout, split votes re-run in the same
    /// term, or a candidate stuck in an outdated term.
    ElectionRounds,
    /// A follower that learned of its leader from heartbeats alone keeps
    /// the wakeup it had before (up to an hour away when it was idle), so it
    /// notices the leader's loss only then.
    FollowerAsleep,
    /// A waiting grant of a manual ticket that another site leads as well
    /// (manual tickets take no election) never completes: the other leader
    /// refuses its heartbeats, so the grant gets no majority and no answer.
    ManualGrantStuck,
    /// Availability: a leader learns at a renewal that a peer has seen a
    /// newer term (raised by elections a member held while it was cut off
    /// or frozen, a fault on a minority) and re-acquires the ticket in a
    /// newer term; when that does not complete within what is left of the
    /// lease (renewal-freq close to expire), the ticket is lost although
    /// the holder and a majority are healthy. Recognised by the holder's
    /// term having risen past the term of its CIB grant when it gives the
    /// grant up.
    ReacquireLost,
}

impl Known {
    pub const ALL: [Known; 5] = [
        Known::AckBeyondTimeout,
        Known::ElectionRounds,
        Known::FollowerAsleep,
        Known::ManualGrantStuck,
        Known::ReacquireLost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Known::AckBeyondTimeout => "ack-beyond-timeout",
            Known::ElectionRounds => "election-rounds",
            Known::FollowerAsleep => "follower-asleep",
            Known::ManualGrantStuck => "manual-grant-stuck",
            Known::ReacquireLost => "reacquire-lost",
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
///
/// The bound counts from the loss; `failover_deadline` moves it on when
/// the last heartbeat took longer than d.
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

/// The failover deadline (true time) of a ticket whose leader was lost at
/// `lost`, given `offer`, the last time a member acknowledged a heartbeat
/// or update the leader had sent before (`World::late_lease_offer`):
///
/// ```text
///   lost + failover_bound + max(0, offer - lost - d)
/// ```
///
/// The bound's first term, d, is that last heartbeat in flight: a
/// follower takes a heartbeat's lease from its arrival (`expire` from then,
/// spec raft.md §5.3). One held back longer (a stale delivery left over
/// from before the heal, which the healed network does not cause) arrives
/// as a fresh one: booth's messages carry no send time or sequence
/// number, and the follower cannot refuse it by its own lease having ended
/// either, since a live leader's next renewal does that to a follower that
/// missed the last one the others acknowledged. The follower's acknowledged
/// lease then runs `expire` from that arrival, and the rest of the bound
/// (acquire-after, the relay of that lease, the election) follows it.
pub fn failover_deadline(t: &TicketConfig, tm: &Timing, lost: u64, offer: Option<u64>) -> u64 {
    let late = offer.map_or(0, |a| a.saturating_sub(lost + tm.max_delay));
    lost + failover_bound(t, tm) + late
}

/// A success reply waits until the CIB has the write it reports (the
/// daemon's writer holds it, as the C booth runs crm_ticket before it
/// answers): that write may first wait for one of the same ticket already
/// running (a renewal batch), then runs itself.
pub fn held_reply(tm: &Timing) -> u64 {
    2 * tm.max_crm
}

/// A grant asked for in a calm cluster (everyone up and reachable, no
/// faults, the ticket free everywhere) is answered within:
///
/// ```text
///   handler + timeout + r + 6d + 2 * 10 ms + held reply
/// ```
///
/// the handler run, the election (it ends as soon as every member voted,
/// else when it times out after timeout + r), the first heartbeat
/// acknowledged by every site (2d each way for votes and acks, 2d for the
/// commit-delay check to see all sites), and two "soon" timer slots.
pub fn grant_bound(t: &TicketConfig, tm: &Timing) -> u64 {
    tm.max_handler + ms(t.timeout) + election_delay(t) + 6 * tm.max_delay + 20 + held_reply(tm)
}

/// A revoke in a calm cluster is answered by the leader once its CIB has
/// the revoke (see `held_reply`), after the broadcast in progress when it
/// arrives, i.e. within a timeout; a non-leader redirects the client,
/// which asks the leader.
pub fn revoke_bound(t: &TicketConfig, tm: &Timing) -> u64 {
    ms(t.timeout) + 4 * tm.max_delay + 20 + held_reply(tm)
}
