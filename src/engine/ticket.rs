//! Per-ticket runtime state.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ClientId, HandlerRun, Time};
use std::sync::Arc;

use super::Tix;

use crate::config::TicketConfig;
use crate::wire::{Cmd, Reason, Rlt};

/// Raft role of this member for one ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Init,
    Follower,
    Candidate,
    Leader,
}

impl State {
    /// The four-letter names booth uses in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Init => "Init",
            State::Follower => "Fllw",
            State::Candidate => "Cndi",
            State::Leader => "Lead",
        }
    }
}

/// Who holds the ticket, as this member knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leader {
    /// Nothing known (printed "NONE").
    Unknown,
    /// Explicitly nobody: revoked or released (printed "none", sent as NO_ONE).
    NoOne,
    /// A configured member (always a site), by its index in a byte (at
    /// most 16 members): a `Leader` takes 2 bytes, not 16, and a ticket has
    /// one per member besides its own (see [`PeerView`]).
    Member(u8),
}

impl Leader {
    /// The configured member with index `m`.
    pub const fn of(m: usize) -> Leader {
        Leader::Member(member_byte(m))
    }

    pub fn member(self) -> Option<usize> {
        match self {
            Leader::Member(m) => Some(m as usize),
            _ => None,
        }
    }
}

/// Action the next cron run must take (C: `next_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextState {
    /// (Re)acquire the ticket.
    Leader,
    /// Run a revoke that was delayed behind an outstanding broadcast.
    Init,
    /// Nothing but clear the start-up postponement.
    Follower,
}

/// A member index kept in a byte: there are at most 16 members.
pub const fn member_byte(m: usize) -> u8 {
    debug_assert!(m < crate::config::MAX_MEMBERS);
    m as u8
}

/// The last committed copy of the ticket (C: `last_valid_tk`), reported by a
/// candidate in state answers and used to detect outdated terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Snapshot {
    pub term: u32,
    pub leader: Leader,
    /// A member index in a byte (at most 16 members), as in [`Leader`].
    pub voted_for: Option<u8>,
    pub term_expires: Option<Time>,
}

/// The before-acquire-handler of one ticket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Handler {
    #[default]
    Idle,
    Running(HandlerRun),
    Exited(bool),
}

impl Handler {
    /// Records a finished run; false if the run is not the current one.
    pub fn finish(&mut self, run: HandlerRun, ok: bool) -> bool {
        if *self == Handler::Running(run) {
            *self = Handler::Exited(ok);
            true
        } else {
            false
        }
    }
}

/// A grant or revoke client waiting for the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Waiter {
    pub client: ClientId,
    pub cmd: Cmd,
    pub options: u32,
}

/// A geo attribute: value and the wall-clock time (ms) of the last `set`
/// (None for attributes loaded from the CIB).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attr {
    pub value: String,
    pub set_at: Option<i64>,
}

/// What one ticket keeps about one member (see `Ticket::peers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PeerView {
    /// What the member voted for in the current election.
    pub vote: Option<Leader>,
    /// The lease end claimed for this member by anything we heard
    /// (heartbeats, updates, state answers, rejects — whatever their term,
    /// because failed elections inflate terms without leases) and, for
    /// ourselves, the lease we proved as leader. We vote for no one but a
    /// claimant while its claim runs; only the claimant's own revoke or
    /// step-down withdraws it (DIFF).
    pub claim: Option<Time>,
    /// The highest term heard from the member in any message: a member's
    /// term never goes back, so a release or revoke it sent in a lower term
    /// comes from a round it has since left (a datagram delayed in the
    /// network) and must not undo what it did since (DIFF).
    pub heard_term: u32,
}

#[derive(Clone, Debug)]
pub struct Ticket {
    pub idx: Tix,
    /// Shared with the engine's configuration (not a copy of it).
    pub cfg: Arc<TicketConfig>,
    pub state: State,
    pub next_state: Option<NextState>,
    pub next_cron: Option<Time>,
    /// The value of `next_cron` present in the engine's deadline set.
    pub indexed_cron: Option<Time>,
    pub leader: Leader,
    pub lost_leader: Leader,
    pub current_term: u32,
    /// Per configured member, by index: its vote, its claimed lease and the
    /// highest term heard from it. Sized by the member count (three is the
    /// norm), not by the 16 members allowed: at 10,000 tickets every byte
    /// here counts ten thousand times.
    pub peers: Box<[PeerView]>,
    pub committed: Option<Snapshot>,
    /// What waiting grant and revoke clients are told next (see
    /// `Engine::notify_waiters`).
    pub outcome: Rlt,
    /// Manual tickets: bitmap of sites that claim to hold the ticket.
    pub sites_where_granted: u32,
    pub handler: Handler,
    /// Our promises as last handed to the driver (see `promise.rs`).
    pub promised: Option<super::Promise>,
    pub election: Election,
    pub lease: Lease,
    pub cib: CibView,
    pub round: Round,
    pub startup: Startup,
    /// The fields of [`Rare`], reached through `Deref` (`tk.waiters`, ...):
    /// None while all of them are empty (see [`Ticket::settle_rare`]).
    pub(super) rare: Option<Box<Rare>>,
}

/// Our part in elections: the one we run or vote in, and our vote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Election {
    /// An election is under way that we run or voted in (C: `in_election`).
    pub running: bool,
    /// Why we campaign (C: `election_reason`); sent with our vote requests.
    pub reason: Reason,
    /// A member index in a byte (at most 16 members), as in [`Leader`].
    pub voted_for: Option<u8>,
    /// The candidate this member voted for, per term, surviving ticket resets
    /// (DIFF: the C booth forgets its vote on reset and may vote twice in one
    /// term).
    pub vote_record: Option<VoteRecord>,
    /// Rejects of our candidacy are expected: no warning for each.
    pub expect_more_rejects: bool,
}

/// A vote: the candidate voted for in a term. The member index is kept in
/// a byte (at most 16 members): 12 bytes with the Option instead of 24.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VoteRecord {
    pub term: u32,
    candidate: u8,
}

impl VoteRecord {
    pub fn new(term: u32, candidate: usize) -> VoteRecord {
        VoteRecord {
            term,
            candidate: member_byte(candidate),
        }
    }

    pub fn candidate(self) -> usize {
        self.candidate as usize
    }
}

/// The lease of whoever holds the ticket, and our leader's renewal cycle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lease {
    /// When the lease we know of ends (C: `term_expires`).
    pub expires: Option<Time>,
    /// First transmission of the current heartbeat: the base of the lease a
    /// majority of acknowledgements proves.
    pub hb_sent_at: Option<Time>,
    pub last_renewal: Option<Time>,
    /// A majority acknowledged our leadership since we last took the ticket:
    /// only then may the CIB say "granted" (DIFF: the C booth's forced CIB
    /// write can record a grant right after an election win).
    pub proven: bool,
    /// How far the current renewal round has got (C: `ticket_updated`).
    pub renewal: Renewal,
    /// The leader whose heartbeat or update we last acknowledged, and the
    /// term it leads in: a claim from another site in an older term cannot
    /// be valid while that lease runs (that leader's election needed a
    /// majority that had seen the older lease end), see `note_claim`.
    pub acked_lead: Option<AckedLead>,
    /// The term of the lease the release hold (`Rare`) stands for: peers are told
    /// of the hold in that term, even after ours has moved on (a hold told
    /// in a newer term reads as a lease of that term: simulator seed 2074).
    pub release_hold_term: u32,
}

/// A leader's renewal round (C: `ticket_updated` 0, 1, 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Renewal {
    /// Heartbeat sent, no majority has acknowledged it yet.
    #[default]
    HeartbeatSent,
    /// A majority acknowledged: the lease is extended and the update sent.
    Extended,
    /// Written to the CIB as well.
    Written,
}

/// A leader we acknowledged, in the term it leads in (the member index in
/// a byte, as in [`VoteRecord`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AckedLead {
    leader: u8,
    pub term: u32,
}

impl AckedLead {
    pub fn new(leader: usize, term: u32) -> AckedLead {
        AckedLead {
            leader: member_byte(leader),
            term,
        }
    }

    pub fn leader(self) -> usize {
        self.leader as usize
    }
}

/// The ticket as our CIB holds it, or as we asked it to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CibView {
    /// Last "granted" value the engine asked the CIB to hold.
    pub granted: bool,
    /// Lease end of the last "granted" state asked of (or loaded from) the
    /// CIB.
    pub granted_until: Option<Time>,
    /// The CIB held state for this ticket at start-up.
    pub loaded: bool,
    /// "granted" as loaded from the CIB at start-up (C: `is_granted`).
    pub is_granted: bool,
    /// Our view is to be written at the next cron run (C: `update_cib`).
    pub update: bool,
    /// The delay of the CIB commit has been logged.
    pub delay_logged: bool,
}

/// Our last broadcast and its retransmission until every member has
/// acknowledged it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Round {
    /// What we broadcast last (C: `last_request`), and why.
    pub request: Cmd,
    pub reason: Reason,
    /// The answer each member acknowledges with; None once no more are
    /// expected (C: `acks_expected`, 0).
    pub expect: Option<Cmd>,
    /// Members that acknowledged, as bits, ourselves included (C:
    /// `acks_received`).
    pub acked: u32,
    pub retry_number: u32,
    pub sent_at: Time,
}

/// What a start (or a reload that adds the ticket) leaves for a while.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Startup {
    /// Ticket processing waits a timeout after the start (C:
    /// `start_postpone`).
    pub postpone: bool,
    /// Until this instant (after a start) the member does not vote for a
    /// candidate other than the leader it knows, because it may have forgotten
    /// a lease it acknowledged before it started (DIFF).
    pub vote_fence: Option<Time>,
    /// Members whose own view of the ticket we have heard since we started
    /// (any message carrying the sender's view): once all have spoken, no
    /// lease can be hidden from us and the vote fence lifts. 16 bits: at
    /// most 16 members.
    pub views_heard: u16,
    /// The promises of a previous run of the daemon were given back: what
    /// we may have promised is known, so no start-up fence is needed.
    pub promises_restored: bool,
    /// The start-up state query waits for a later turn (`setup_ticket`):
    /// sent before anything else happens to the ticket.
    pub query_pending: bool,
    /// A grant of ours loaded from the CIB by a daemon that started without
    /// the record of its promises (a host reboot), until the start-up state
    /// query's round ends: the members known to hold its lease (bitmap, we
    /// ourselves included; 0 for none such grant). Only a majority keeps it
    /// (see `Engine::note_confirmation`). 16 bits: at most 16 members.
    pub unconfirmed: u16,
}

/// What a ticket seldom holds: client waits, geo attributes, a delayed
/// commit, a running election, and what start-up, a failed election or a
/// revoke leave behind for a while. At 10,000 tickets these fields inline
/// cost 184 bytes a ticket, nearly all of them empty: they are boxed, the box allocated by
/// the first write (`DerefMut`) and given back once all are empty again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rare {
    /// The end of the election we run.
    pub election_end: Option<Time>,
    pub delay_commit: Option<Time>,
    pub attrs: BTreeMap<String, Attr>,
    pub waiters: Vec<Waiter>,
    /// An election the start-up fence held back, started as soon as the
    /// fence lifts.
    pub deferred_election: Option<DeferredElection>,
    /// An election nobody won, to be run again after a random delay.
    pub election_retry: Option<ElectionRetry>,
    /// A CIB revoke of a grant that was still within its lease is being
    /// written: until the driver confirms it (or that lease ends) we keep
    /// our own claim, so the rest of the cluster cannot take the ticket while
    /// our CIB may still say "granted" (DIFF: the C booth writes the CIB
    /// synchronously before it tells anyone; our writes are asynchronous).
    pub release_hold: Option<Time>,
    /// A grant loaded from our CIB at start-up: the CIB keeps whole seconds,
    /// rounded down, so the lease it stands for may run up to a second past
    /// the loaded `expires`. Until then we tell peers our lease runs that
    /// far (they must not elect anyone while our old grant may still be
    /// valid) without extending our own lease or CIB grant.
    pub restart_claim: Option<Time>,
    /// The term of a grant of ours loaded from the CIB at start-up, while
    /// nothing has proven it since: another site's lease in a newer term
    /// makes it stale (see `give_way_if_stale_own`).
    pub loaded_grant_term: Option<u32>,
    /// The message that hands the ticket over (a revoke or a step-down),
    /// held back until `release_hold` ends.
    pub deferred_release: Option<DeferredRelease>,
}

/// Whether a new election raises the term (C: `update_term` 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TermBump {
    /// Keep it (unless we voted for another site in it).
    Keep,
    /// Raise it if an election has been held in it (or may have been,
    /// before a restart).
    IfUsed,
    /// Raise it: the last round ended in a tie.
    Always,
}

/// The arguments of an election the start-up fence held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeferredElection {
    pub preference: Option<usize>,
    pub bump: TermBump,
    pub reason: Reason,
}

/// The next round of an election nobody won, and when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ElectionRetry {
    pub bump: TermBump,
    pub at: Time,
}

/// A broadcast that hands the ticket over, held back (see
/// `Engine::release_broadcast`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeferredRelease {
    pub cmd: Cmd,
    pub expect: Cmd,
    pub reason: Reason,
    /// Sent also if we follow another leader by then: it only says our
    /// hold is over (a restarted holder's, see `setup_ticket`).
    pub hold_end: bool,
}

/// A ticket without a box reads these.
static NO_RARE: Rare = Rare {
    election_end: None,
    delay_commit: None,
    attrs: BTreeMap::new(),
    waiters: Vec::new(),
    deferred_election: None,
    election_retry: None,
    release_hold: None,
    restart_claim: None,
    loaded_grant_term: None,
    deferred_release: None,
};

impl std::ops::Deref for Ticket {
    type Target = Rare;
    fn deref(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&NO_RARE)
    }
}

impl std::ops::DerefMut for Ticket {
    fn deref_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
}

impl crate::logline::TicketName for Ticket {
    fn ticket_name(&self) -> &str {
        &self.cfg.name
    }
}

impl Ticket {
    /// A ticket in a cluster of `members` members.
    pub fn new(idx: Tix, cfg: Arc<TicketConfig>, members: usize) -> Ticket {
        Ticket {
            idx,
            cfg,
            state: State::Init,
            next_state: None,
            next_cron: None,
            indexed_cron: None,
            leader: Leader::Unknown,
            lost_leader: Leader::Unknown,
            current_term: 0,
            peers: vec![PeerView::default(); members].into_boxed_slice(),
            committed: None,
            outcome: Rlt::default(),
            sites_where_granted: 0,
            handler: Handler::Idle,
            promised: None,
            election: Election::default(),
            lease: Lease::default(),
            cib: CibView::default(),
            round: Round::default(),
            startup: Startup::default(),
            rare: None,
        }
    }

    /// Gives the box of [`Rare`] fields back once they are all empty
    /// (after every event that touched the ticket, see `Engine::reindex`).
    pub fn settle_rare(&mut self) {
        if self.rare.as_deref().is_some_and(|r| *r == NO_RARE) {
            self.rare = None;
        }
    }

    pub fn is_owned(&self) -> bool {
        matches!(self.leader, Leader::Member(_))
    }

    /// Milliseconds left of the current term (0 when unset or past).
    pub fn time_left(&self, now: Time) -> u64 {
        self.lease
            .expires
            .map_or(0, |e| e.ms().saturating_sub(now.ms()))
    }

    pub fn expire_ms(&self) -> u64 {
        self.cfg.expire.as_millis() as u64
    }

    pub fn timeout_ms(&self) -> u64 {
        self.cfg.timeout.as_millis() as u64
    }

    /// The expiry to keep when told `offered` for `leader`: news about the
    /// leader we already follow may extend the lease we know of, never
    /// shorten it (DIFF: the C booth takes the newest figure, so a peer with
    /// an older view could make us vote while a lease we acknowledged runs).
    /// News about our own lease (`me`) never extends it: only our own proof
    /// (or, after a restart, our CIB) says how long we hold the ticket, and a
    /// peer's figure runs later than ours (it counts from the arrival of our
    /// heartbeat and is rounded up on the wire).
    pub fn extended_expiry(&self, me: usize, leader: Leader, offered: Time) -> Time {
        match self.lease.expires {
            Some(known) if self.is_owned() && self.leader == leader => {
                if leader == Leader::of(me) {
                    known
                } else {
                    known.max(offered)
                }
            }
            _ => offered,
        }
    }

    /// Records that `site` claims a lease until `until`.
    pub fn note_claim(&mut self, site: usize, until: Time) {
        let c = &mut self.peers[site].claim;
        *c = Some(c.map_or(until, |t| t.max(until)));
    }

    /// A site other than `candidate` whose claimed lease still runs.
    pub fn live_claim_besides(&self, candidate: usize, now: Time) -> Option<(usize, Time)> {
        self.claim_besides_within(candidate, now, Duration::ZERO)
    }

    /// As [`Ticket::live_claim_besides`], each claim counted `grace`
    /// longer (acquire-after, for taking over a lost ticket).
    pub fn claim_besides_within(
        &self,
        candidate: usize,
        now: Time,
        grace: Duration,
    ) -> Option<(usize, Time)> {
        self.peers
            .iter()
            .enumerate()
            .filter(|&(s, _)| s != candidate)
            .filter_map(|(s, p)| p.claim.map(|t| (s, t + grace)))
            .filter(|&(_, t)| t > now)
            .max_by_key(|&(_, t)| t)
    }

    /// C `ticket_seems_ok`: does our copy look like a live lease?
    pub fn seems_ok(&self, now: Time) -> bool {
        let left = self.time_left(now);
        if left == 0 {
            return false;
        }
        match self.state {
            State::Candidate => false,
            State::Leader => true,
            State::Follower => left >= self.expire_ms() / 3,
            State::Init => false,
        }
    }

    /// Term of the last committed copy while campaigning, else the current one.
    pub fn my_last_term(&self) -> u32 {
        match (self.state, self.committed) {
            (State::Candidate, Some(s)) => s.term,
            _ => self.current_term,
        }
    }

    /// A message carries a term older than our last committed one.
    pub fn is_term_invalid(&self, term: u32) -> bool {
        self.committed.is_some_and(|s| s.term > term)
    }

    pub fn save_committed(&mut self) {
        self.committed = Some(Snapshot {
            term: self.current_term,
            leader: self.leader,
            voted_for: self.election.voted_for,
            term_expires: self.lease.expires,
        });
    }

    pub fn clear_votes(&mut self) {
        for p in self.peers.iter_mut() {
            p.vote = None;
        }
    }

    /// Stops expecting replies to the outstanding broadcast.
    pub fn no_resends(&mut self) {
        self.round.expect = None;
        self.round.retry_number = 0;
    }
}

#[cfg(test)]
mod footprint {
    /// What a ticket costs in the engine, at 10,000 tickets ten thousand
    /// times (doc/bench-results.txt, "Memory per ticket"): a field added
    /// here should be small or boxed. 16-member arrays and a copy of the
    /// ticket's settings once made it 1,352 bytes; 616 with the promise
    /// record's fence, 624 with the release hold's term, 448 with the
    /// seldom used fields boxed (`Rare`), 440 grouped (`Election`, `Lease`,
    /// ...; each group pads on its own, so member indices and bitmaps in the
    /// groups are kept in bytes), 368 with optional times in 8 bytes (a
    /// niche in `Time`), 288 with member indices in bytes (`Leader`,
    /// `voted_for`); a member's view from 40 bytes to 16.
    #[test]
    fn a_ticket_stays_small() {
        use std::mem::size_of;
        assert_eq!(size_of::<Option<super::Time>>(), 8);
        assert_eq!(size_of::<Option<super::Leader>>(), 2);
        assert!(
            size_of::<super::Ticket>() <= 288,
            "{}",
            size_of::<super::Ticket>()
        );
        assert!(size_of::<super::PeerView>() <= 16);
    }

    /// The rare fields are boxed only while one of them holds something.
    #[test]
    fn the_rare_fields_are_boxed_while_used() {
        use super::{Ticket, Tix, Waiter};
        let cfg = std::sync::Arc::new(crate::engine::tests::ticket("t", 60, 3, 3));
        let mut tk = Ticket::new(Tix::FIRST, cfg, 3);
        assert!(tk.rare.is_none() && tk.waiters.is_empty());
        let w = Waiter {
            client: 1,
            cmd: crate::wire::codes::CMD_GRANT,
            options: 0,
        };
        tk.waiters.push(w);
        tk.settle_rare();
        assert_eq!(tk.waiters, [w]);
        assert!(tk.rare.is_some());
        tk.waiters.clear();
        tk.settle_rare();
        assert!(tk.rare.is_none());
    }
}
