//! The simulated cluster: each member runs the daemon's [`Core`] (engine,
//! CIB writer, reload) in true (virtual) time, with a network, per-member
//! clocks, each site's CIB behind `crm_ticket` and `cibadmin` runs that take
//! time, fail and hang, handler runs, reloads and clients. Every step (one
//! delivered message, one finished run or handler, one deadline, one client
//! request, one reload) is followed by the invariant checks of
//! [`super::check`].
//!
//! By responsibility: `step` (the event queue and one step of a member),
//! `net` (links and datagrams), `cib` (the CIB and the writer's runs),
//! `members` (boots, crashes, pauses), `clients`, `reload`, `checks` (per
//! step) and `faults` (time faults, availability and overlap bookkeeping).
//!
//! Modelling choices:
//! * Clocks: member m's monotonic clock reads `true time + mono_offset(m)`,
//!   its wall clock `WALL0 + true time + wall_offset(m)`; both run at the
//!   true rate. The checks translate everything to true time. The wall
//!   offset steps (`step_wall`); a host reboot gives the monotonic clock a
//!   new origin; with `SuspendClock::Monotonic` a suspend moves the
//!   monotonic origin back by its length (see `faults`).
//! * Stale deliveries: an armed hold delivers the next matching broadcast
//!   seconds to minutes late (`faults::Hold`).
//! * Network: per directed link a base delay plus uniform jitter; in chaos
//!   also loss, duplication, rare delay spikes (reordering) and cut links
//!   (symmetric or one-way). A message must find its link open both when it
//!   is sent and when it arrives.
//! * A frozen (paused) member handles nothing: datagrams wait in its socket
//!   buffer, which holds `inbox_cap` of them (the rest are dropped, as the
//!   kernel would); client requests, handler exits and CIB retries wait too.
//!   On resume its clock has jumped; the waiting events are handled in
//!   arrival order, then its deadlines.
//! * Each member runs the daemon's [`Core`]: the engine, the real CIB
//!   writer (batching renewals, coalescing, back-off, held replies, the
//!   writer cap, the start-up load) and the reload decision. The simulator
//!   executes the runs the writer asks for (`cib`): each `crm_ticket` or
//!   `cibadmin` run takes a while and changes the CIB only when it
//!   completes; a failing one exits non-zero or hangs until the writer's
//!   limit kills it (which may happen before or after it changed the CIB).
//!   A crash kills a running run either before or after it changed the
//!   CIB (chosen at random); the CIB survives.
//! * Handlers: each run exits after a random time, with a failure status at
//!   a random rate while the site's handler is degraded. A stopped run never
//!   reports.
//! * Clients talk to a member's daemon directly (no delay); a redirect is
//!   followed to the named leader (at most 3 times), a client without -w
//!   gives up at the third intermediate reply, as the C client does.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use super::check::{self, Ack, Kind, Known, Timing, Violation};
use super::gen::{Setup, WALL0};
use super::stats::Stats;
use super::trace;
use crate::cib::writer::{Outcome, RunId, RunKind};
use crate::config::{Config, MemberKind};
use crate::core::{Core, Output};
use crate::engine::{
    ClientId, Clock, Engine, HandlerRun, Leader, Rng, State, TicketId, TicketView, Time,
};
use crate::wire::codes::*;
use crate::wire::{Cmd, Reason, Rlt, TicketMsg, NO_ONE};

mod availability;
mod checks;
mod cib;
mod clients;
mod faults;
mod members;
mod net;
mod reload;
mod step;
pub use faults::{HoldKind, Restart, SuspendClock};
/// Result recorded for a client whose connection was closed (member crashed
/// or not running).
pub const CLOSED: Rlt = Rlt(u32::MAX);
/// Steps at one instant after which the run counts as a livelock.
const SPIN_LIMIT: u64 = 200_000;
/// Violations kept per run (the first ones matter).
const MAX_VIOLATIONS: usize = 20;

/// A simulator event at a true instant.
#[derive(Debug)]
enum Ev {
    Deliver {
        to: usize,
        from: usize,
        sent: u64,
        msg: TicketMsg,
        /// Held back as a stale delivery (see `faults::Hold`).
        held: bool,
    },
    /// A writer run (crm_ticket, cibadmin) of incarnation `inc` ends.
    RunDone {
        m: usize,
        inc: u32,
        run: RunId,
    },
    HandlerExit {
        m: usize,
        t: TicketId,
        run: HandlerRun,
        inc: u32,
        ok: bool,
    },
    Resume {
        m: usize,
        token: u64,
    },
}

struct Scheduled {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Something a frozen member will handle when it resumes.
#[derive(Debug)]
enum Pending {
    Msg {
        from: usize,
        sent: u64,
        msg: TicketMsg,
    },
    HandlerExit {
        t: TicketId,
        run: HandlerRun,
        ok: bool,
    },
    Client(ClientId),
    /// A writer run ended while the member was frozen.
    RunDone(RunId, Outcome),
    /// SIGHUP came while the member was frozen.
    Reload(Box<Config>),
}

/// One CIB value of a ticket at a site, with what the simulator knows about
/// it beyond the CIB text: the exact lease it stands for.
#[derive(Clone, Debug)]
pub struct CibEntry {
    pub granted: bool,
    pub owner: i32,
    /// Unix seconds in the writer's wall clock.
    pub expires: i64,
    pub term: u32,
    /// True time the lease of a grant ends (for a grant written by an
    /// engine, exactly the engine's lease end).
    pub lease_end: i64,
    /// By when (true time) the member must have asked for a revoke; None
    /// once that has been reported as violated.
    pub revoke_by: Option<i64>,
    /// Read from the CIB at start-up rather than written by this daemon.
    pub loaded: bool,
    /// Order in which the daemons asked for their writes.
    pub seq: u64,
}

/// A client connection the daemon has not accepted yet (it loads the CIB).
#[derive(Debug)]
enum Waiting {
    Client(ClientId),
    Attr {
        t: usize,
        name: String,
        value: Option<String>,
    },
}

/// A site's CIB state of one ticket, and what its daemon asked for.
#[derive(Debug, Default)]
struct CibSlot {
    /// What `crm_ticket -q` would return now.
    value: Option<CibEntry>,
    /// The latest state this daemon asked for (its current incarnation).
    desired: Option<CibEntry>,
    /// The writes asked for lately, newest last: a run writes one of them
    /// (the writer may skip superseded ones), and the exact lease it stands
    /// for is looked up here.
    requested: VecDeque<CibEntry>,
    /// `seq` of the last revoke the daemon asked for (it stays if the
    /// daemon dies before the revoke is written): a grant in the CIB asked
    /// for before it has been given up.
    revoke_seq: u64,
}

#[derive(Clone, Copy, Debug)]
struct Pause {
    since: u64,
    token: u64,
}

struct MemberState {
    kind: MemberKind,
    core: Option<Core>,
    incarnation: u32,
    paused: Option<Pause>,
    pending: VecDeque<Pending>,
    inbox_len: usize,
    cib: Vec<CibSlot>,
    /// Writer runs under way (this incarnation), and whether each fails.
    runs: BTreeMap<RunId, cib::SimRun>,
    /// Handler runs started and not stopped.
    handlers: Vec<(TicketId, HandlerRun)>,
    /// Clients (`booth`, `geostore`) that connected while the daemon
    /// loaded the CIB: it accepts them once started.
    waiting: Vec<Waiting>,
    /// Per ticket: how often a reload removed it (see `vote_life`), and
    /// whether it is removed now.
    forgotten: Vec<u32>,
    absent: Vec<bool>,
    crm_slow: bool,
    crm_failing: bool,
    handler_failing: bool,
    /// Earliest `revoke_by` of this member's wanted grants (automatic
    /// tickets), with the ticket.
    revoke_due: Option<(i64, usize)>,
    /// When its daemon last started.
    booted_at: u64,
    /// Per ticket: the end of the grace its daemon has to hear from its
    /// peers before a grant it loaded from its CIB (at start-up, or for a
    /// ticket a reload added) stands by its own reading of `expires` (see
    /// `World::watch_kept_grants`).
    kept_grace_until: Vec<u64>,
    /// The host is suspended (the pause is a suspend, see `faults`).
    suspended: bool,
    /// The host went down with the daemon: the next boot is a host reboot.
    reboot_pending: bool,
    /// Host reboots so far.
    host_boots: u32,
    /// The daemon's state file: survives daemon restarts, not host reboots
    /// (see `World::state_file`).
    state_file: Option<Vec<u8>>,
}

/// Faults on one directed link, on top of the healthy delay.
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    pub cut: bool,
    /// Per mille.
    pub loss: u64,
    pub dup: u64,
}

/// A failover test in progress: the lost site, and per watched ticket the
/// first time another site's CIB granted it, with the elections the other
/// members had started by then.
#[derive(Debug)]
struct FailoverWatch {
    victim: usize,
    /// When the site was lost (true time).
    since: u64,
    tickets: Vec<(usize, Option<(u64, usize)>)>,
    /// Per watched ticket: the last time another member acknowledged a
    /// heartbeat or update the lost site had sent before it was lost (see
    /// `World::late_lease_offer`).
    offers: BTreeMap<usize, u64>,
}

/// A grant or revoke client.
#[derive(Clone, Debug)]
pub struct Client {
    pub cmd: Cmd,
    pub ticket: usize,
    pub options: u32,
    /// The member it is connected to.
    pub member: usize,
    pub issued: u64,
    /// -w or -C: waits for the final answer however long it takes.
    pub waits: bool,
    intermediates: u32,
    redirects: u32,
    /// Final answer: time and result (`CLOSED` for a closed connection).
    pub answer: Option<(u64, Rlt)>,
    /// The CIB grant at the requesting site (grants), for latencies.
    pub committed: Option<u64>,
    /// Elections started for the ticket when it was issued.
    pub elections_before: usize,
    /// Its lateness has been reported already.
    pub late_reported: bool,
    /// Issued in a calm window: the answer is due by this time.
    pub due: Option<u64>,
}

/// The cluster in virtual time.
pub struct World {
    /// The first configuration: the simulator's ticket numbers and the
    /// timings the checks use.
    pub cfg: Config,
    /// What a daemon starting now is given (see `reload`).
    live_cfg: Config,
    pub setup: Setup,
    pub now: u64,
    seed: u64,
    seq: u64,
    tokens: u64,
    heap: BinaryHeap<Reverse<Scheduled>>,
    members: Vec<MemberState>,
    pub links: Vec<Vec<Link>>,
    /// Per mille of messages delayed by up to `spike_ms` more (reordering).
    pub spike_rate: u64,
    pub spike_ms: u64,
    net_rng: Rng,
    cib_rng: Rng,
    handler_rng: Rng,
    pub clients: BTreeMap<ClientId, Client>,
    next_client: ClientId,
    ticket_names: Vec<String>,
    ticket_index: BTreeMap<String, usize>,
    /// Per ticket, per member: the lease it last acknowledged.
    acks: Vec<Vec<Option<Ack>>>,
    /// Per member, per ticket: last term seen in this process lifetime.
    last_term: Vec<Vec<u32>>,
    /// Per member, per ticket: last proven lease end checked (true time).
    last_lease: Vec<Vec<Option<u64>>>,
    /// Per member, per ticket: its state after its last step.
    last_state: Vec<Vec<State>>,
    /// Per member, per ticket: since when it has led the ticket.
    leader_since: Vec<Vec<Option<u64>>>,
    /// Per ticket: (member, term) pairs where the member took the term over
    /// as leader without an election (it stayed leader while its term
    /// rose): the known `TermAdopted` bug.
    adopted: Vec<Vec<(usize, u32)>>,
    /// A resumed member's first engine call must revoke these tickets first.
    resume_watch: Option<(usize, Vec<usize>)>,
    /// The message being handled: sender, send time, command.
    delivering: Option<(usize, u64, Cmd)>,
    /// Per ticket, per member: first transmission of its latest heartbeat.
    hb_sent: Vec<Vec<u64>>,
    /// Per ticket: every election started (vote request broadcast) as
    /// (member, term), and the last (member, time) counted.
    elections: Vec<Vec<(usize, u32)>>,
    last_election: Vec<(usize, u64)>,
    /// Per ticket, per member: the reason and term of its last vote request.
    vote_reason: Vec<Vec<(Reason, u32)>>,
    /// Per ticket: every vote cast, as (voter, its incarnation, term,
    /// candidate).
    votes: Vec<std::collections::BTreeSet<(usize, u32, u32, usize)>>,
    pub violations: Vec<Violation>,
    pub stats: Stats,
    spins: u64,
    spin_at: u64,
    /// A livelock stops the run.
    pub aborted: bool,
    /// Failover test in progress.
    failover_watch: Option<FailoverWatch>,
    /// A stale delivery armed by the scenario.
    hold: Option<faults::Hold>,
    /// When faults last began or ended, for the availability check.
    health: availability::Health,
    /// Per ticket: since when two or more sites' CIBs say "granted".
    overlap_since: Vec<Option<u64>>,
    /// Per member, per ticket: geo attributes stored in the site's CIB.
    attrs: Vec<Vec<BTreeMap<String, String>>>,
    /// Per ticket: when a client last asked for a grant or revoke of it.
    last_request: Vec<u64>,
    /// Boots whose kept CIB grants are to be checked: (due, member, its
    /// incarnation, boot time).
    /// Grants loaded from a CIB to judge once their grace is over: (due,
    /// member, its incarnation, loaded at, ticket or None for all).
    kept_watch: Vec<(u64, usize, u32, u64, Option<usize>)>,
    /// Which clock the daemons time leases with (what a suspend does).
    pub suspend_clock: SuspendClock,
    #[cfg(feature = "mutations")]
    mutation: Option<crate::engine::Mutation>,
}

/// SplitMix-style mixing of a seed with small integers.
pub fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut r = Rng::new(seed ^ a.rotate_left(17) ^ b.rotate_left(41) ^ 0xB007_5EED);
    r.next_u64()
}

fn pick(rng: &mut Rng, (lo, hi): (u64, u64)) -> u64 {
    lo + rng.below(hi.saturating_sub(lo) + 1)
}

impl World {
    pub fn new(setup: Setup, seed: u64) -> World {
        let cfg = setup.cfg.clone();
        let n = cfg.members.len();
        let nt = cfg.tickets.len();
        let members = setup
            .members
            .iter()
            .map(|p| MemberState {
                kind: p.kind,
                core: None,
                incarnation: 0,
                paused: None,
                pending: VecDeque::new(),
                inbox_len: 0,
                cib: (0..nt).map(|_| CibSlot::default()).collect(),
                runs: BTreeMap::new(),
                handlers: vec![],
                waiting: vec![],
                forgotten: vec![0; nt],
                absent: vec![false; nt],
                crm_slow: false,
                crm_failing: false,
                handler_failing: false,
                revoke_due: None,
                booted_at: 0,
                kept_grace_until: vec![0; nt],
                suspended: false,
                reboot_pending: false,
                host_boots: 0,
                state_file: None,
            })
            .collect();
        let ticket_names: Vec<String> = cfg.tickets.iter().map(|t| t.name.to_string()).collect();
        let ticket_index = ticket_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        World {
            setup,
            now: 0,
            seed,
            seq: 0,
            tokens: 0,
            heap: BinaryHeap::new(),
            members,
            links: vec![vec![Link::default(); n]; n],
            spike_rate: 0,
            spike_ms: 0,
            net_rng: Rng::new(mix(seed, 1, 0)),
            cib_rng: Rng::new(mix(seed, 2, 0)),
            handler_rng: Rng::new(mix(seed, 3, 0)),
            clients: BTreeMap::new(),
            next_client: 1,
            ticket_names,
            ticket_index,
            acks: vec![vec![None; n]; nt],
            last_term: vec![vec![0; nt]; n],
            last_lease: vec![vec![None; nt]; n],
            last_state: vec![vec![State::Init; nt]; n],
            leader_since: vec![vec![None; nt]; n],
            adopted: vec![vec![]; nt],
            resume_watch: None,
            delivering: None,
            hb_sent: vec![vec![0; n]; nt],
            elections: vec![vec![]; nt],
            last_election: vec![(usize::MAX, 0); nt],
            vote_reason: vec![vec![(Reason::default(), 0); n]; nt],
            votes: vec![Default::default(); nt],
            violations: vec![],
            stats: Stats::default(),
            spins: 0,
            spin_at: u64::MAX,
            aborted: false,
            failover_watch: None,
            hold: None,
            health: availability::Health::new(n),
            overlap_since: vec![None; nt],
            attrs: vec![vec![BTreeMap::new(); nt]; n],
            last_request: vec![0; nt],
            kept_watch: vec![],
            suspend_clock: SuspendClock::default(),
            #[cfg(feature = "mutations")]
            mutation: None,
            live_cfg: cfg.clone(),
            cfg,
        }
    }

    /// Runs every engine of this world with a deliberately broken rule.
    #[cfg(feature = "mutations")]
    pub fn set_mutation(&mut self, m: Option<crate::engine::Mutation>) {
        self.mutation = m;
    }

    // ----- queries -------------------------------------------------------

    pub fn n(&self) -> usize {
        self.members.len()
    }

    pub fn n_tickets(&self) -> usize {
        self.ticket_names.len()
    }

    pub fn ticket_name(&self, t: usize) -> &str {
        &self.ticket_names[t]
    }

    pub fn is_site(&self, m: usize) -> bool {
        self.members[m].kind == MemberKind::Site
    }

    pub fn is_manual(&self, t: usize) -> bool {
        self.cfg.tickets[t].is_manual()
    }

    pub fn up(&self, m: usize) -> bool {
        self.members[m].core.is_some()
    }

    pub fn paused(&self, m: usize) -> bool {
        self.members[m].paused.is_some()
    }

    pub fn running(&self, m: usize) -> bool {
        self.up(m) && !self.paused(m)
    }

    /// Its daemon has loaded the CIB and runs its engine.
    pub fn serving(&self, m: usize) -> bool {
        self.members[m].core.as_ref().is_some_and(|c| c.started())
    }

    pub fn engine(&self, m: usize) -> Option<&Engine> {
        self.members[m].core.as_ref().map(|c| c.engine())
    }

    /// Where member `m`'s engine keeps ticket `t` now (a reload may add,
    /// remove and reorder its tickets; None: not configured there).
    pub fn eidx(&self, m: usize, t: usize) -> Option<crate::engine::Tix> {
        self.engine(m)?.ticket_index(&self.ticket_names[t])
    }

    /// Member `m`'s view of ticket `t` (None: down or not configured).
    pub fn view(&self, m: usize, t: usize) -> Option<TicketView> {
        Some(self.engine(m)?.ticket_view(self.eidx(m, t)?))
    }

    /// The member's clock now.
    pub fn clock(&self, m: usize) -> Clock {
        let p = &self.setup.members[m];
        Clock::new(
            Time::from_ms(self.now + p.mono_offset_ms),
            WALL0 + self.now as i64 + p.wall_offset_ms,
        )
    }

    /// A member's monotonic instant as true time.
    pub fn to_true(&self, m: usize, t: Time) -> u64 {
        self.mono_to_true(m, t)
    }

    fn mono_to_true(&self, m: usize, t: Time) -> u64 {
        t.ms().saturating_sub(self.setup.members[m].mono_offset_ms)
    }

    /// True time of a CIB `expires` (Unix seconds) written or read at `m`.
    fn expires_to_true(&self, m: usize, expires: i64) -> i64 {
        expires * 1000 - WALL0 - self.setup.members[m].wall_offset_ms
    }

    // ----- scheduling ----------------------------------------------------

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn token(&mut self) -> u64 {
        self.tokens += 1;
        self.tokens
    }

    pub fn violation(&mut self, kind: Kind, ticket: Option<usize>, detail: String) {
        self.violation_known(kind, None, ticket, detail);
    }

    /// A violation, possibly an instance of a known engine bug.
    pub fn violation_known(
        &mut self,
        kind: Kind,
        known: Option<Known>,
        ticket: Option<usize>,
        detail: String,
    ) {
        if known.is_none() {
            match kind {
                Kind::DualGrant => self.stats.counters.dual_grants += 1,
                Kind::Availability => self.stats.counters.availability_losses += 1,
                _ => {}
            }
        }
        let ticket = ticket.map(|t| self.ticket_names[t].clone());
        trace::push(ticket.as_deref(), || {
            format!(
                "{} !!! VIOLATION {}{}: {}",
                trace::stamp(self.now),
                kind.name(),
                known.map_or(String::new(), |k| format!(" [known: {}]", k.name())),
                detail
            )
        });
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(Violation {
                kind,
                known,
                at: self.now,
                ticket,
                detail,
            });
        }
    }

    /// Writes a line about the cluster (faults, phases) into the trace.
    pub fn note(&self, text: impl FnOnce() -> String) {
        trace::push(None, || {
            format!("{} --- {}", trace::stamp(self.now), text())
        });
    }

    fn note_ticket(&self, t: usize, text: impl FnOnce() -> String) {
        let name = &self.ticket_names[t];
        trace::push(Some(name), || {
            format!("{} {name}: {}", trace::stamp(self.now), text())
        });
    }
}
