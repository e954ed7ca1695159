//! The simulated cluster: real engines driven in true (virtual) time, with a
//! network, per-member clocks, each site's CIB behind a crm_ticket that takes
//! time and can fail, handler runs, and clients. Every step (one delivered
//! message, one finished CIB write or handler, one engine deadline, one client
//! request) is followed by the invariant checks of [`super::check`].
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

use super::check::{Ack, Kind, Known, Violation};
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
use crate::wire::{TicketMsg, NO_ONE};

mod cib;
mod faults;
mod reload;
pub use faults::{HoldKind, Restart, SuspendClock};
/// Result recorded for a client whose connection was closed (member crashed
/// or not running).
pub const CLOSED: u32 = u32::MAX;
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
    /// Clients that connected while the daemon loaded the CIB.
    loading_clients: Vec<ClientId>,
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
    tickets: Vec<(usize, Option<(u64, usize)>)>,
}

/// A grant or revoke client.
#[derive(Clone, Debug)]
pub struct Client {
    pub cmd: u32,
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
    pub answer: Option<(u64, u32)>,
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
    delivering: Option<(usize, u64, u32)>,
    /// Per ticket, per member: first transmission of its latest heartbeat.
    hb_sent: Vec<Vec<u64>>,
    /// Per ticket: every election started (vote request broadcast) as
    /// (member, term), and the last (member, time) counted.
    elections: Vec<Vec<(usize, u32)>>,
    last_election: Vec<(usize, u64)>,
    /// Per ticket, per member: the reason and term of its last vote request.
    vote_reason: Vec<Vec<(u32, u32)>>,
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
    health: faults::Health,
    /// Per ticket: since when two or more sites' CIBs say "granted".
    overlap_since: Vec<Option<u64>>,
    /// Per member, per ticket: geo attributes stored in the site's CIB.
    attrs: Vec<Vec<BTreeMap<String, String>>>,
    /// Per ticket: when a client last asked for a grant or revoke of it.
    last_request: Vec<u64>,
    /// Boots whose kept CIB grants are to be checked: (due, member, its
    /// incarnation, boot time).
    kept_watch: Vec<(u64, usize, u32, u64)>,
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
                loading_clients: vec![],
                forgotten: vec![0; nt],
                absent: vec![false; nt],
                crm_slow: false,
                crm_failing: false,
                handler_failing: false,
                revoke_due: None,
                booted_at: 0,
                suspended: false,
                reboot_pending: false,
                host_boots: 0,
                state_file: None,
            })
            .collect();
        let ticket_names: Vec<String> = cfg.tickets.iter().map(|t| t.name.clone()).collect();
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
            vote_reason: vec![vec![(0, 0); n]; nt],
            votes: vec![Default::default(); nt],
            violations: vec![],
            stats: Stats::default(),
            spins: 0,
            spin_at: u64::MAX,
            aborted: false,
            failover_watch: None,
            hold: None,
            health: faults::Health::new(n),
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
    pub fn eidx(&self, m: usize, t: usize) -> Option<usize> {
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
            Time(self.now + p.mono_offset_ms),
            WALL0 + self.now as i64 + p.wall_offset_ms,
        )
    }

    /// A member's monotonic instant as true time.
    pub fn to_true(&self, m: usize, t: Time) -> u64 {
        self.mono_to_true(m, t)
    }

    fn mono_to_true(&self, m: usize, t: Time) -> u64 {
        t.0.saturating_sub(self.setup.members[m].mono_offset_ms)
    }

    /// True time of a CIB `expires` (Unix seconds) written or read at `m`.
    fn expires_to_true(&self, m: usize, expires: i64) -> i64 {
        expires * 1000 - WALL0 - self.setup.members[m].wall_offset_ms
    }

    /// The site whose CIB holds the ticket granted with its lease running.
    pub fn holder(&self, t: usize) -> Option<usize> {
        (0..self.n()).find(|&m| self.holds(m, t))
    }

    /// The site holding the ticket in its CIB, or, while its grant is being
    /// written, the running site that asked for a grant with a running lease.
    pub fn holder_or_writing(&self, t: usize) -> Option<usize> {
        self.holder(t).or_else(|| {
            (0..self.n()).find(|&m| {
                self.running(m)
                    && self.members[m].cib[t]
                        .desired
                        .as_ref()
                        .is_some_and(|d| d.granted && d.lease_end > self.now as i64)
            })
        })
    }

    pub fn holds(&self, m: usize, t: usize) -> bool {
        self.members[m].cib[t]
            .value
            .as_ref()
            .is_some_and(|v| v.granted && v.lease_end > self.now as i64)
    }

    /// The CIB grant's lease end at `m` (true time), if granted.
    pub fn cib_lease_end(&self, m: usize, t: usize) -> Option<i64> {
        self.members[m].cib[t]
            .value
            .as_ref()
            .filter(|v| v.granted)
            .map(|v| v.lease_end)
    }

    /// Marks a calm client's lateness as reported.
    pub fn late_reported(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.late_reported = true;
        }
    }

    /// Member `m` (running) follows a leader whose lease ended more than
    /// acquire-after ago, and will not look at the ticket again before
    /// another second has passed: the known follower-asleep bug.
    pub fn asleep(&self, m: usize, t: usize) -> bool {
        let (Some(e), Some(i)) = (self.engine(m).filter(|_| self.running(m)), self.eidx(m, t))
        else {
            return false;
        };
        let v = e.ticket_view(i);
        let aa = self.cfg.tickets[t].acquire_after.as_millis() as u64;
        let Some(end) = v.term_expires.map(|x| self.mono_to_true(m, x)) else {
            return false;
        };
        v.state == State::Follower
            && v.leader.member().is_some()
            && end + aa < self.now
            && e.ticket_wakeup(i)
                .is_none_or(|w| self.mono_to_true(m, w) > self.now + 1000)
    }

    /// Who member `m` believes holds the ticket (None if down or nobody).
    pub fn believed_leader(&self, m: usize, t: usize) -> Option<usize> {
        self.view(m, t).and_then(|v| v.leader.member())
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

    /// The earliest engine deadline of a running member, as true time.
    fn next_deadline(&self) -> Option<(u64, usize)> {
        let mut best: Option<(u64, usize)> = None;
        for (m, ms) in self.members.iter().enumerate() {
            if ms.paused.is_some() {
                continue;
            }
            if let Some(d) = ms.core.as_ref().and_then(|c| c.next_deadline()) {
                let t = self.mono_to_true(m, d).max(self.now);
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, m));
                }
            }
        }
        best
    }

    /// Runs until the true time `until`, one step at a time.
    pub fn run_until(&mut self, until: u64) {
        self.sync_links();
        while !self.aborted {
            let ev_at = self.heap.peek().map(|Reverse(s)| s.at);
            let dl = self.next_deadline();
            let t = match (ev_at, dl) {
                (Some(a), Some((b, _))) => a.min(b),
                (Some(a), None) => a,
                (None, Some((b, _))) => b,
                (None, None) => break,
            };
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            if self.now == self.spin_at {
                self.spins += 1;
                if self.spins > SPIN_LIMIT {
                    self.violation(
                        Kind::Livelock,
                        None,
                        format!("{SPIN_LIMIT} steps without time advancing"),
                    );
                    self.aborted = true;
                    break;
                }
            } else {
                (self.spin_at, self.spins) = (self.now, 0);
            }
            if ev_at == Some(t) {
                let Reverse(s) = self.heap.pop().expect("peeked");
                self.process(s.ev);
            } else if let Some((_, m)) = dl {
                self.call(m, |core, c| core.handle_timeout(c));
            }
            self.check_revokes();
        }
        self.now = self.now.max(until);
        self.check_revokes();
    }

    fn process(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver {
                to,
                from,
                sent,
                msg,
                held,
            } => {
                if held {
                    self.held_arrives(from, to, sent, &msg);
                }
                if self.links[from][to].cut {
                    self.trace_msg(from, to, &msg, "lost (link cut in flight)");
                    self.stats.counters.lost += 1;
                    return;
                }
                if !self.up(to) {
                    self.stats.counters.dropped_at_dead += 1;
                    return;
                }
                if self.paused(to) {
                    let ms = &mut self.members[to];
                    if ms.suspended {
                        // A suspended host receives nothing.
                        self.stats.counters.dropped_suspended += 1;
                        self.trace_msg(from, to, &msg, "dropped (host suspended)");
                    } else if ms.inbox_len < self.setup.members[to].inbox_cap {
                        ms.inbox_len += 1;
                        ms.pending.push_back(Pending::Msg { from, sent, msg });
                    } else {
                        self.stats.counters.dropped_full_buffer += 1;
                        self.trace_msg(from, to, &msg, "dropped (frozen, buffer full)");
                    }
                    return;
                }
                self.deliver(to, from, sent, msg);
            }
            Ev::RunDone { m, inc, run } => self.run_done(m, inc, run),
            Ev::HandlerExit { m, t, run, inc, ok } => {
                let ms = &mut self.members[m];
                if ms.core.is_none() || ms.incarnation != inc {
                    return;
                }
                let Some(p) = ms.handlers.iter().position(|&h| h == (t, run)) else {
                    return;
                };
                if ms.paused.is_some() {
                    ms.pending.push_back(Pending::HandlerExit { t, run, ok });
                    return;
                }
                ms.handlers.swap_remove(p);
                self.handler_exit(m, t, run, ok);
            }
            Ev::Resume { m, token } => self.resume(m, token),
        }
    }

    fn deliver(&mut self, to: usize, from: usize, sent: u64, msg: TicketMsg) {
        self.trace_msg(from, to, &msg, "recv");
        self.delivering = Some((from, sent, msg.header.cmd));
        self.call(to, |core, c| {
            let _ = core.handle_packet(c, from, &msg);
        });
        self.delivering = None;
    }

    fn handler_exit(&mut self, m: usize, id: TicketId, run: HandlerRun, ok: bool) {
        if let Some(t) = self.position(m, id) {
            self.note_ticket(t, || format!("m{m} handler run {run} exits ok={ok}"));
        }
        if !ok {
            self.stats.counters.handler_failures += 1;
        }
        self.call(m, |core, c| core.handler_exit(c, id, run, ok));
    }

    /// One call on member `m`'s core, then its outputs and the per-member
    /// checks.
    fn call(&mut self, m: usize, f: impl FnOnce(&mut Core, Clock)) {
        let clock = self.clock(m);
        trace::context(self.now, m);
        let Some(e) = self.members[m].core.as_mut() else {
            return;
        };
        f(e, clock);
        self.drain(m);
        self.after_call(m);
    }

    /// The simulator's number of a ticket named by id at member `m`.
    fn position(&self, m: usize, id: TicketId) -> Option<usize> {
        let e = self.engine(m)?;
        let i = e.ticket_by_id(id)?;
        self.ticket_index.get(&e.ticket_view(i).name).copied()
    }

    /// Which ticket an output concerns.
    fn output_ticket(&self, m: usize, o: &Output) -> Option<usize> {
        match o {
            Output::Send { msg, .. } | Output::ClientReply { msg, .. } => {
                self.ticket_index.get(&msg.body.name).copied()
            }
            Output::Submitted(w) => self.ticket_index.get(&w.ticket).copied(),
            Output::RunHandler { ticket, .. } | Output::StopHandler { ticket, .. } => {
                self.position(m, *ticket)
            }
            Output::StoreAttr { ticket, .. } => self.ticket_index.get(ticket).copied(),
            Output::Record(_)
            | Output::Spawn { .. }
            | Output::Store { .. }
            | Output::Started
            | Output::Reloaded(_) => None,
        }
    }

    fn drain(&mut self, m: usize) {
        let mut watch = match self.resume_watch.take() {
            Some((wm, v)) if wm == m => Some(v),
            other => {
                self.resume_watch = other;
                None
            }
        };
        while let Some(o) = self.members[m].core.as_mut().and_then(|c| c.poll_output()) {
            if let Some(w) = watch.as_mut() {
                // Stopping the acquire handler is bookkeeping and a failure
                // reply to a waiting client says nothing about holding the
                // ticket: neither is an action as its holder.
                let t = match &o {
                    Output::StopHandler { .. } => None,
                    Output::ClientReply { msg, .. } if msg.header.result != RLT_SUCCESS => None,
                    o => self.output_ticket(m, o).filter(|t| w.contains(t)),
                };
                if let Some(t) = t {
                    w.retain(|&x| x != t);
                    if !matches!(&o, Output::Submitted(cw) if !cw.granted) {
                        let d = self.members[m].cib[t].desired.as_ref();
                        let by = d.map_or(0, |d| d.revoke_by.unwrap_or(0));
                        let belief = self.kept_grant(m, t, by);
                        self.violation(
                            Kind::ResumeNotRevokeFirst,
                            Some(t),
                            format!(
                                "m{m} resumed with an expired grant; its first action for the ticket was {} (engine: {belief})",
                                describe(&o)
                            ),
                        );
                    }
                }
            }
            self.output(m, o);
        }
        if let Some(w) = watch {
            for t in w {
                let d = self.members[m].cib[t].desired.as_ref();
                let by = d.map_or(0, |d| d.revoke_by.unwrap_or(0));
                let belief = self.kept_grant(m, t, by);
                self.violation(
                    Kind::ResumeNotRevokeFirst,
                    Some(t),
                    format!("m{m} resumed with an expired grant and did not revoke it on its first event (engine: {belief})"),
                );
            }
        }
    }

    /// Which life of ticket `t` at member `m` a vote belongs to: a
    /// daemon restart, or a reload that removed the ticket and added it
    /// back, starts a new one (see `forget_ticket`).
    fn vote_life(&self, m: usize, t: usize) -> u32 {
        self.members[m].incarnation << 12 | self.members[m].forgotten[t]
    }

    /// A reload removed ticket `t` at member `m`: its engine forgot what
    /// it knew and promised of it, and fences a re-added ticket as after a
    /// restart without a record (`Ticket::vote_fence`); the checks of one
    /// process lifetime start over for it.
    fn forget_ticket(&mut self, m: usize, t: usize) {
        self.members[m].forgotten[t] += 1;
        self.last_term[m][t] = 0;
        self.last_state[m][t] = State::Init;
        self.leader_since[m][t] = None;
        self.last_lease[m][t] = None;
        self.note_ticket(t, || format!("m{m} forgets the ticket (reload)"));
    }

    /// Member `m` votes for `c` in `term`: one vote per term and life of
    /// the ticket (votes are not kept across a restart).
    fn record_vote(&mut self, t: usize, m: usize, term: u32, c: usize) {
        let inc = self.vote_life(m, t);
        let other = self.votes[t]
            .iter()
            .find(|&&(v, i, tm, c2)| v == m && i == inc && tm == term && c2 != c)
            .map(|x| x.3);
        if let Some(c2) = other {
            self.violation(
                Kind::DoubleVote,
                Some(t),
                format!("m{m} voted for m{c2} and for m{c} in term {term}"),
            );
        }
        self.votes[t].insert((m, inc, term, c));
    }

    fn output(&mut self, m: usize, o: Output) {
        match o {
            Output::Send { to, msg, resend } => {
                if msg.header.cmd == OP_ACK
                    && matches!(msg.header.request, OP_HEARTBEAT | OP_UPDATE)
                {
                    self.record_ack(m, to, &msg);
                }
                if let Some(&t) = self.ticket_index.get(&msg.body.name) {
                    if msg.header.cmd == OP_HEARTBEAT && !resend {
                        self.hb_sent[t][m] = self.now;
                    }
                    if msg.header.cmd == OP_REQ_VOTE {
                        self.vote_reason[t][m] = (msg.header.reason, msg.body.term);
                        // A candidate votes for itself.
                        self.record_vote(t, m, msg.body.term, m);
                    }
                    if msg.header.cmd == OP_VOTE_FOR && msg.header.request == OP_REQ_VOTE {
                        if let Some(c) = self.cfg.member_by_id(msg.body.leader) {
                            self.record_vote(t, m, msg.body.term, c.index);
                        }
                    }
                    if msg.header.cmd == OP_REQ_VOTE
                        && !resend
                        && self.last_election[t] != (m, self.now)
                    {
                        self.last_election[t] = (m, self.now);
                        self.elections[t].push((m, msg.body.term));
                    }
                }
                self.trace_msg(m, to, &msg, if resend { "resend" } else { "send" });
                self.transmit(m, to, msg);
            }
            Output::Record(changes) => self.record_promises(m, changes),
            Output::Submitted(w) => self.write_cib(m, w),
            Output::Spawn { run, limit_ms, .. } => self.spawn_run(m, run, limit_ms),
            Output::Store { run, .. } => self.spawn_run(m, run, u64::MAX),
            Output::Started => self.started(m),
            Output::Reloaded(r) => self.count_reload(m, &r),
            Output::RunHandler { ticket, run, .. } => {
                self.stats.counters.handler_runs += 1;
                let dur = pick(&mut self.handler_rng, self.setup.members[m].handler_ms);
                let ok = !(self.members[m].handler_failing
                    && self.handler_rng.below(1000) < self.setup.chaos.handler_fail);
                if let Some(t) = self.position(m, ticket) {
                    self.note_ticket(t, || format!("m{m} handler run {run} starts"));
                }
                self.members[m].handlers.push((ticket, run));
                let inc = self.members[m].incarnation;
                self.schedule(
                    self.now + dur,
                    Ev::HandlerExit {
                        m,
                        t: ticket,
                        run,
                        inc,
                        ok,
                    },
                );
            }
            Output::StopHandler { ticket, run } => {
                if let Some(t) = self.position(m, ticket) {
                    self.note_ticket(t, || format!("m{m} handler run {run} stopped"));
                }
                self.members[m].handlers.retain(|&h| h != (ticket, run));
            }
            Output::ClientReply { client, msg, last } => {
                self.client_reply(m, client, msg.header.result, last, msg.body.leader)
            }
            Output::StoreAttr {
                ticket,
                name,
                value,
            } => self.store_attr(m, &ticket, name, value),
        }
    }

    fn record_ack(&mut self, m: usize, to: usize, msg: &TicketMsg) {
        let Some(&t) = self.ticket_index.get(&msg.body.name) else {
            return;
        };
        let Some(v) = self.view(m, t) else {
            return;
        };
        let until = v.term_expires.map_or(0, |x| self.mono_to_true(m, x));
        let acked_sent = match self.delivering {
            Some((from, sent, cmd)) if from == to && matches!(cmd, OP_HEARTBEAT | OP_UPDATE) => {
                sent
            }
            _ => u64::MAX,
        };
        self.acks[t][m] = Some(Ack {
            leader: v.leader,
            term: v.term,
            until,
            acked_sent,
            at: self.now,
        });
    }

    fn trace_msg(&self, from: usize, to: usize, msg: &TicketMsg, what: &str) {
        if !trace::on() {
            return;
        }
        let leader = match msg.body.leader {
            NO_ONE => "none".to_string(),
            id => self
                .cfg
                .member_by_id(id)
                .map_or(format!("{id:#x}"), |m| format!("m{}", m.index)),
        };
        trace::push(Some(&msg.body.name), || {
            format!(
                "{} m{from}->m{to} {what} {} {} req={} reason={} result={} term={} leader={leader} valid={}",
                trace::stamp(self.now),
                code_to_string(msg.header.cmd),
                msg.body.name,
                code_to_string(msg.header.request),
                code_to_string(msg.header.reason),
                code_to_string(msg.header.result),
                msg.body.term,
                msg.body.term_valid_for
            )
        });
    }

    fn transmit(&mut self, from: usize, to: usize, msg: TicketMsg) {
        self.stats.counters.messages += 1;
        let link = self.links[from][to];
        if link.cut {
            self.stats.counters.lost += 1;
            self.trace_msg(from, to, &msg, "lost (link cut)");
            return;
        }
        if link.loss > 0 && self.net_rng.below(1000) < link.loss {
            self.stats.counters.lost += 1;
            self.trace_msg(from, to, &msg, "lost");
            return;
        }
        let copies = if link.dup > 0 && self.net_rng.below(1000) < link.dup {
            self.stats.counters.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = self.setup.net.base_ms[from][to]
                + self.net_rng.below(self.setup.net.jitter_ms[from][to] + 1);
            if self.spike_rate > 0 && self.net_rng.below(1000) < self.spike_rate {
                delay += self.net_rng.below(self.spike_ms + 1);
            }
            if let Some((extra, keep_copy)) = self.hold_delay(from, to, &msg) {
                self.schedule(
                    self.now + delay + extra,
                    Ev::Deliver {
                        to,
                        from,
                        sent: self.now,
                        msg: msg.clone(),
                        held: true,
                    },
                );
                if !keep_copy {
                    continue;
                }
            }
            self.schedule(
                self.now + delay,
                Ev::Deliver {
                    to,
                    from,
                    sent: self.now,
                    msg: msg.clone(),
                    held: false,
                },
            );
        }
    }

    // ----- per-step checks -----------------------------------------------

    /// Terms and proven leases of member `m` after one of its steps.
    fn after_call(&mut self, m: usize) {
        let Some(e) = self.engine(m) else {
            return;
        };
        let views: Vec<Option<(u32, State, Option<Time>)>> = (0..self.ticket_names.len())
            .map(|t| {
                let i = self.eidx(m, t)?;
                let v = e.ticket_view(i);
                Some((v.term, v.state, e.acknowledged_lease(i)))
            })
            .collect();
        for (t, view) in views.into_iter().enumerate() {
            let Some((term, state, lease)) = view else {
                if !std::mem::replace(&mut self.members[m].absent[t], true) {
                    self.forget_ticket(m, t);
                }
                continue;
            };
            self.members[m].absent[t] = false;
            let last = self.last_term[m][t];
            if term < last {
                self.violation(
                    Kind::TermBackwards,
                    Some(t),
                    format!("m{m}: term went from {last} back to {term}"),
                );
            }
            if state == State::Leader
                && self.last_state[m][t] == State::Leader
                && term > last
                && !self.adopted[t].contains(&(m, term))
            {
                self.adopted[t].push((m, term));
            }
            self.last_term[m][t] = term;
            if state != State::Leader {
                self.leader_since[m][t] = None;
            } else if self.last_state[m][t] != State::Leader {
                self.leader_since[m][t] = Some(self.now);
            }
            self.last_state[m][t] = state;
            if self.is_manual(t) {
                continue;
            }
            let lease = lease.map(|l| self.mono_to_true(m, l));
            if lease == self.last_lease[m][t] {
                continue;
            }
            self.last_lease[m][t] = lease;
            let Some(until) = lease else {
                continue;
            };
            let backing: Vec<usize> = (0..self.n())
                .filter(|&o| {
                    o == m
                        || self.acks[t][o]
                            .is_some_and(|a| a.leader == Leader::Member(m) && a.until >= until)
                })
                .collect();
            if backing.len() * 2 <= self.n() {
                // Acks of an earlier heartbeat than the one the lease is
                // counted from that spent longer than the ticket's timeout
                // in transit: beyond what the protocol can tell apart (see
                // Known::AckBeyondTimeout).
                let hb = self.hb_sent[t][m];
                let timeout = self.cfg.tickets[t].timeout.as_millis() as u64;
                let now = self.now;
                let with_late = (0..self.n())
                    .filter(|&o| {
                        o == m
                            || self.acks[t][o].is_some_and(|a| {
                                a.leader == Leader::Member(m)
                                    && (a.until >= until
                                        || (a.acked_sent < hb
                                            && now.saturating_sub(a.at) > timeout))
                            })
                    })
                    .count();
                let known = (with_late * 2 > self.n()).then_some(Known::AckBeyondTimeout);
                let acks: Vec<String> = (0..self.n())
                    .map(|o| match self.acks[t][o] {
                        Some(a) => format!(
                            "m{o}: {:?} term {} until {} (acking a message sent at {})",
                            a.leader, a.term, a.until, a.acked_sent as i64
                        ),
                        None => format!("m{o}: -"),
                    })
                    .collect();
                self.violation_known(
                    Kind::LeaseBeyondAcks,
                    known,
                    Some(t),
                    format!(
                        "leader m{m} (term {term}) holds a lease until {until}, acknowledged only by {backing:?} [{}]",
                        acks.join("; ")
                    ),
                );
            }
        }
    }

    /// How long a majority of the running members (`m` included) go on
    /// holding a lease for leader `m`, by their current views: until then no
    /// other site can be elected.
    fn view_backed(&self, m: usize, t: usize) -> i64 {
        let mut v: Vec<i64> = (0..self.n())
            .map(|o| match self.view(o, t) {
                Some(v) if v.leader == Leader::Member(m) => v
                    .term_expires
                    .map_or(i64::MIN, |x| self.mono_to_true(o, x) as i64),
                _ => i64::MIN,
            })
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v[self.n() / 2]
    }

    /// When member `m` must have asked for the revoke of its wanted grant of
    /// ticket `t`: at the end of the lease it wrote; for a grant it found in
    /// the CIB at start-up, at the end of the lease the CIB records or, if
    /// later, when a majority stops holding a lease for it (it may learn of a
    /// lease its previous run was granted from its peers).
    fn revoke_deadline(&self, m: usize, t: usize) -> Option<i64> {
        let d = self.members[m].cib[t].desired.as_ref()?;
        let by = d.revoke_by.filter(|_| d.granted)?;
        Some(if d.loaded {
            by.max(self.view_backed(m, t))
        } else {
            by
        })
    }

    /// Every running site must have asked for the revoke of a grant by the
    /// end of its lease.
    fn check_revokes(&mut self) {
        self.check_kept_grants();
        let now = self.now as i64;
        for m in 0..self.n() {
            // A daemon still loading its CIB cannot write it yet.
            if !self.running(m) || !self.serving(m) {
                continue;
            }
            while let Some((due, t)) = self.members[m].revoke_due.filter(|d| d.0 < now) {
                let by = self.revoke_deadline(m, t).unwrap_or(due);
                let d = self.members[m].cib[t]
                    .desired
                    .as_mut()
                    .expect("a wanted grant is due");
                if by >= now {
                    d.revoke_by = Some(by);
                } else {
                    d.revoke_by = None;
                    let loaded = d.loaded;
                    let belief = self.kept_grant(m, t, by);
                    self.violation(
                        Kind::GrantNotRevoked,
                        Some(t),
                        format!(
                            "m{m} still wants the ticket granted in its CIB {}ms after the lease ended at {by} ({}; engine: {belief})",
                            now - by,
                            if loaded { "grant read from the CIB at start-up" } else { "grant written by this daemon" },
                        ),
                    );
                }
                self.refresh_revoke_due(m);
            }
        }
    }

    /// What running member `m` believes about ticket `t`, for the report
    /// of a grant it keeps past its lease (whose end was `by`).
    fn kept_grant(&self, m: usize, t: usize, by: i64) -> String {
        let (Some(e), Some(i)) = (self.engine(m), self.eidx(m, t)) else {
            return "down".into();
        };
        let v = e.ticket_view(i);
        let lease = v.term_expires.map(|x| self.mono_to_true(m, x) as i64);
        // The patterns of the bugs of this kind found here (and fixed).
        let hint = if v.leader == Leader::Member(m) && lease.is_some_and(|l| l > by) {
            if e.acknowledged_lease(i).is_none() {
                "; believes in a lease nobody acknowledged"
            } else {
                "; believes in a longer lease"
            }
        } else if v.state == State::Follower && v.leader.member().is_some_and(|x| x != m) {
            "; follows another leader"
        } else {
            ""
        };
        format!(
            "{} leader {:?} term {} lease until {:?}{hint}",
            v.state.as_str(),
            v.leader,
            v.term,
            lease
        )
    }

    fn refresh_revoke_due(&mut self, m: usize) {
        let mut due: Option<(i64, usize)> = None;
        for (t, s) in self.members[m].cib.iter().enumerate() {
            if self.cfg.tickets[t].is_manual() {
                continue;
            }
            if let Some(by) = s
                .desired
                .as_ref()
                .filter(|d| d.granted)
                .and_then(|d| d.revoke_by)
            {
                if due.is_none_or(|(b, _)| by < b) {
                    due = Some((by, t));
                }
            }
        }
        self.members[m].revoke_due = due;
    }

    // ----- members -------------------------------------------------------

    /// Starts member `m`'s daemon: a fresh engine that reads the CIB.
    pub fn boot(&mut self, m: usize) {
        if self.up(m) {
            return;
        }
        self.stats.counters.boots += 1;
        self.note(|| format!("boot m{m}"));
        let inc = self.members[m].incarnation + 1;
        self.members[m].incarnation = inc;
        let boots = self.members[m].host_boots;
        self.host_boot_if_pending(m);
        let rebooted = self.members[m].host_boots != boots;
        let backend = if self.is_site(m) {
            World::backend()
        } else {
            crate::cib::writer::Backend::None
        };
        #[allow(unused_mut)]
        let mut core = Core::new(
            self.live_cfg.clone(),
            m,
            mix(self.seed, 100 + m as u64, inc as u64),
            backend,
        );
        #[cfg(feature = "mutations")]
        core.engine_mut().set_mutation(self.mutation);
        let clock = self.clock(m);
        trace::context(self.now, m);
        // What the previous daemon promised, if its record survived (a
        // daemon restart; a host reboot lost it): the daemon's own format.
        if let Some(text) = self.state_file(m).and_then(|b| std::str::from_utf8(b).ok()) {
            core.restore_promises(
                text.lines()
                    .filter_map(crate::daemon::promises::parse)
                    .collect(),
            );
        }
        // Sites load the CIB first (a crm_ticket run, see `cib`); the
        // engine starts when that ends (the geo attributes come with it).
        core.start_loading(clock);
        let ms = &mut self.members[m];
        ms.core = Some(core);
        ms.paused = None;
        ms.booted_at = self.now;
        // After a host reboot the daemon has no record of what it promised
        // and fences itself for up to a lease: it does not count as healthy
        // for availability until then (a known cost, doc/simulator.md).
        let fence = if rebooted {
            self.cfg
                .tickets
                .iter()
                .map(|t| t.expire.as_millis() as u64)
                .max()
                .unwrap_or(0)
        } else {
            0
        };
        self.health.member[m] = self.now + fence;
        self.last_term[m].iter_mut().for_each(|x| *x = 0);
        self.last_state[m].iter_mut().for_each(|x| *x = State::Init);
        self.leader_since[m].iter_mut().for_each(|x| *x = None);
        self.last_lease[m].iter_mut().for_each(|x| *x = None);
        self.refresh_revoke_due(m);
        self.drain(m);
        self.after_call(m);
    }

    /// Kills member `m`'s daemon: its memory is gone, its CIB stays.
    pub fn crash(&mut self, m: usize) {
        if !self.up(m) {
            return;
        }
        self.stats.counters.crashes += 1;
        self.note(|| format!("crash m{m}"));
        self.health.member[m] = self.now;
        self.harvest_writer(m);
        let ms = &mut self.members[m];
        ms.core = None;
        ms.paused = None;
        ms.suspended = false;
        ms.pending.clear();
        ms.loading_clients.clear();
        ms.inbox_len = 0;
        ms.handlers.clear();
        ms.incarnation += 1;
        for slot in &mut self.members[m].cib {
            slot.desired = None;
            slot.requested.clear();
        }
        self.kill_runs(m);
        self.refresh_revoke_due(m);
        let gone: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.member == m && c.answer.is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            self.finish(id, CLOSED);
        }
    }

    /// Freezes member `m` for `dur` ms.
    pub fn pause(&mut self, m: usize, dur: u64) {
        if !self.running(m) {
            return;
        }
        self.stats.counters.pauses += 1;
        self.note(|| format!("pause m{m} for {dur}ms"));
        self.health.member[m] = self.now;
        let token = self.token();
        self.members[m].paused = Some(Pause {
            since: self.now,
            token,
        });
        self.schedule(self.now + dur, Ev::Resume { m, token });
    }

    /// Resumes a frozen member now.
    pub fn resume_now(&mut self, m: usize) {
        if let Some(p) = self.members[m].paused {
            self.resume(m, p.token);
        }
    }

    fn resume(&mut self, m: usize, token: u64) {
        let Some(p) = self.members[m].paused.filter(|p| p.token == token) else {
            return;
        };
        self.members[m].paused = None;
        self.note(|| format!("resume m{m} (frozen since {})", trace::stamp(p.since)));
        self.health.member[m] = self.now;
        self.end_suspend(m, p.since);
        let now = self.now as i64;
        // (A daemon still loading its CIB has no engine running yet: its
        // start is its first action.)
        let loading = !self.serving(m);
        let watch: Vec<usize> = (0..self.n_tickets())
            .filter(|&t| !self.is_manual(t) && self.revoke_deadline(m, t).is_some_and(|b| b <= now))
            .filter(|_| !loading)
            .collect();
        self.stats.counters.resumed_expired += watch.len() as u64;
        if !watch.is_empty() {
            self.resume_watch = Some((m, watch));
        }
        let pending = std::mem::take(&mut self.members[m].pending);
        self.members[m].inbox_len = 0;
        // The daemon discards the datagrams it finds queued when it wakes up
        // later than its next deadline (see PAUSE_DISCARD_MS).
        let clock = self.clock(m);
        let late = self.members[m]
            .core
            .as_ref()
            .and_then(|c| c.next_deadline())
            .is_some_and(|d| clock.mono.0 > d.0 + crate::daemon::PAUSE_DISCARD_MS);
        for p in pending {
            if !self.up(m) {
                break;
            }
            match p {
                Pending::Msg { from, msg, .. } if late => {
                    self.stats.counters.discarded_after_pause += 1;
                    self.trace_msg(from, m, &msg, "discarded (queued while frozen)");
                }
                Pending::Msg { from, sent, msg } => self.deliver(m, from, sent, msg),
                Pending::HandlerExit { t, run, ok } => {
                    let hs = &mut self.members[m].handlers;
                    if let Some(i) = hs.iter().position(|&h| h == (t, run)) {
                        hs.swap_remove(i);
                        self.handler_exit(m, t, run, ok);
                    }
                }
                Pending::Client(id) => self.submit(id),
                Pending::RunDone(run, o) => self.call(m, |core, c| core.run_finished(c, run, o)),
                Pending::Reload(cfg) => self.reload(m, *cfg),
            }
        }
        if self.resume_watch.as_ref().is_some_and(|(wm, _)| *wm == m) {
            self.call(m, |core, c| core.handle_timeout(c));
        }
        self.resume_watch = None;
        self.check_revokes();
    }

    pub fn set_crm(&mut self, m: usize, slow: bool, failing: bool) {
        if (self.members[m].crm_slow, self.members[m].crm_failing) == (slow, failing) {
            return;
        }
        self.note(|| format!("crm_ticket at m{m}: slow={slow} failing={failing}"));
        self.health.member[m] = self.now;
        self.members[m].crm_slow = slow;
        self.members[m].crm_failing = failing;
    }

    pub fn set_handler_failing(&mut self, m: usize, failing: bool) {
        if self.members[m].handler_failing == failing {
            return;
        }
        self.note(|| format!("handler at m{m}: failing={failing}"));
        self.health.member[m] = self.now;
        self.members[m].handler_failing = failing;
    }

    /// Removes every network fault.
    pub fn heal_network(&mut self) {
        self.note(|| "network healed".to_string());
        for row in &mut self.links {
            for l in row {
                *l = Link::default();
            }
        }
        self.spike_rate = 0;
        self.sync_links();
    }

    // ----- clients -------------------------------------------------------

    /// A `booth grant|revoke` at member `m`; `due`: the answer is expected by
    /// then (calm windows).
    pub fn client_request(
        &mut self,
        m: usize,
        cmd: u32,
        options: u32,
        t: usize,
        due: Option<u64>,
    ) -> ClientId {
        let id = self.next_client;
        self.next_client += 1;
        if cmd == CMD_GRANT {
            self.stats.counters.grants += 1;
        } else {
            self.stats.counters.revokes += 1;
        }
        if due.is_some() {
            self.stats.counters.calm_ops += 1;
        }
        let waits = options & (crate::wire::OPT_WAIT | crate::wire::OPT_WAIT_COMMIT) != 0;
        self.clients.insert(
            id,
            Client {
                cmd,
                ticket: t,
                options,
                member: m,
                issued: self.now,
                waits,
                intermediates: 0,
                redirects: 0,
                answer: None,
                committed: None,
                elections_before: self.elections[t].len(),
                late_reported: false,
                due,
            },
        );
        self.note_ticket(t, || {
            format!(
                "client {id}: {} at m{m} options={options}",
                code_to_string(cmd)
            )
        });
        self.submit(id);
        id
    }

    fn submit(&mut self, id: ClientId) {
        let c = &self.clients[&id];
        let (m, cmd, options, t) = (c.member, c.cmd, c.options, c.ticket);
        // (Also when handed on by a redirect or a member waking up.)
        self.last_request[t] = self.now;
        if !self.up(m) {
            self.finish(id, CLOSED);
        } else if self.paused(m) {
            self.members[m].pending.push_back(Pending::Client(id));
        } else if !self.members[m].core.as_ref().is_some_and(|c| c.started()) {
            // The daemon accepts connections once it has loaded the CIB.
            self.members[m].loading_clients.push(id);
        } else {
            let name = self.ticket_names[t].clone();
            self.call(m, |core, c| core.handle_client(c, id, cmd, options, &name));
        }
    }

    fn client_reply(&mut self, m: usize, id: ClientId, result: u32, last: bool, leader: u32) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.answer.is_some() || c.member != m {
            return;
        }
        let t = c.ticket;
        self.note_ticket(t, || {
            format!(
                "client {id} gets {} from m{m}{}",
                code_to_string(result),
                if last { " (final)" } else { "" }
            )
        });
        let c = self.clients.get_mut(&id).expect("present");
        if result == RLT_REDIRECT {
            let target = self.cfg.member_by_id(leader).map(|x| x.index);
            match target {
                Some(to) if c.redirects < 3 && to != m => {
                    c.redirects += 1;
                    c.member = to;
                    self.submit(id);
                }
                _ => self.finish(id, result),
            }
        } else if last {
            self.finish(id, result);
        } else {
            c.intermediates += 1;
            if !c.waits && c.intermediates >= 3 {
                // The C client gives up waiting and disconnects.
                self.finish(id, result);
                if let Some(core) = self.members[m].core.as_mut() {
                    core.client_gone(id);
                }
            }
        }
    }

    fn finish(&mut self, id: ClientId, result: u32) {
        let now = self.now;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        c.answer = Some((now, result));
        let c = c.clone();
        self.stats.counters.client_answers += 1;
        if c.waits {
            self.stats.wait_answer.add(now - c.issued);
        }
        if let Some(due) = c.due {
            if c.cmd == CMD_GRANT {
                self.stats.grant_reply.add(now - c.issued);
            } else {
                self.stats.revoke_reply.add(now - c.issued);
            }
            if now > due && !c.late_reported {
                let rounds = self.rounds_since(c.ticket, c.elections_before, None);
                let known = (rounds > 1).then_some(Known::ElectionRounds);
                self.violation_known(
                    Kind::OperationLate,
                    known,
                    Some(c.ticket),
                    format!(
                        "{} at m{} answered {} after {}ms, bound {}ms",
                        code_to_string(c.cmd),
                        c.member,
                        code_to_string(result),
                        now - c.issued,
                        due - c.issued
                    ),
                );
            }
        }
    }

    /// The client stops waiting (Ctrl-C) and closes its connection.
    pub fn abandon(&mut self, id: ClientId) {
        let now = self.now;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.answer.is_some() {
            return;
        }
        c.answer = Some((now, CLOSED));
        let (m, t) = (c.member, c.ticket);
        self.note_ticket(t, || format!("client {id} gives up and disconnects"));
        if let Some(core) = self.members[m].core.as_mut() {
            core.client_gone(id);
        }
    }

    /// Starts (or, with no tickets, ends) watching for the tickets of a lost
    /// site to be granted elsewhere.
    pub fn watch_failover(&mut self, victim: usize, tickets: Vec<usize>) {
        self.failover_watch = (!tickets.is_empty()).then(|| FailoverWatch {
            victim,
            tickets: tickets.into_iter().map(|t| (t, None)).collect(),
        });
    }

    /// When a watched ticket was first granted at another site.
    pub fn failover_time(&self, t: usize) -> Option<u64> {
        self.failover_got(t).map(|g| g.0)
    }

    /// When a watched ticket was first granted at another site, and the
    /// elections started by then (see `election_count`).
    pub fn failover_got(&self, t: usize) -> Option<(u64, usize)> {
        let fw = self.failover_watch.as_ref()?;
        fw.tickets
            .iter()
            .find(|(x, _)| *x == t)
            .and_then(|(_, got)| *got)
    }

    /// Elections started for ticket `t` so far, as a mark for
    /// `rounds_between`.
    pub fn election_count(&self, t: usize) -> usize {
        self.elections[t].len()
    }

    /// Election rounds for ticket `t` between the marks `from` and `to`
    /// (now if None), not counting member `except`: the number of terms
    /// elections were started in, or the most elections one member started
    /// if that is more (it re-ran in the same term). Several sites
    /// campaigning at once in one term are one round.
    pub fn rounds_between(
        &self,
        t: usize,
        from: usize,
        to: Option<usize>,
        except: Option<usize>,
    ) -> u64 {
        let log = &self.elections[t][from..to.unwrap_or(self.elections[t].len())];
        let log: Vec<(usize, u32)> = log
            .iter()
            .copied()
            .filter(|&(m, _)| Some(m) != except)
            .collect();
        let mut terms: Vec<u32> = log.iter().map(|&(_, term)| term).collect();
        terms.sort_unstable();
        terms.dedup();
        let per_member = (0..self.n())
            .map(|m| log.iter().filter(|&&(x, _)| x == m).count())
            .max()
            .unwrap_or(0);
        terms.len().max(per_member) as u64
    }

    /// Election rounds for ticket `t` since the mark `from`.
    pub fn rounds_since(&self, t: usize, from: usize, except: Option<usize>) -> u64 {
        self.rounds_between(t, from, None, except)
    }

    /// Waiting clients without an answer, connected to a member that is up.
    pub fn unanswered(&self) -> Vec<(ClientId, Client)> {
        self.clients
            .iter()
            .filter(|(_, c)| c.answer.is_none() && self.up(c.member))
            .map(|(&id, c)| (id, c.clone()))
            .collect()
    }
}

/// A short description of an output, for violation reports.
fn describe(o: &Output) -> String {
    match o {
        Output::Send { to, msg, .. } => {
            format!("sending {} to m{to}", code_to_string(msg.header.cmd))
        }
        Output::Submitted(w) => format!("a CIB write (granted={})", w.granted),
        Output::RunHandler { .. } => "running the handler".into(),
        Output::StopHandler { .. } => "stopping the handler".into(),
        Output::ClientReply { msg, .. } => {
            format!("a client reply {}", code_to_string(msg.header.result))
        }
        Output::StoreAttr { .. } => "storing an attribute".into(),
        o => format!("{o:?}"),
    }
}
