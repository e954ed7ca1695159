//! The ticket engine: booth's Raft-style lease protocol as a pure state machine.
//!
//! One [`Engine`] holds every ticket of one member (site or arbitrator) and what
//! it knows of its peers. It consumes events — a decoded peer message, a client
//! request, a finished handler, a passed deadline — each with the current time
//! passed in as a [`Clock`], and produces [`Output`]s for the daemon (or the
//! simulator) to execute. It never reads a clock, a random source, the
//! environment or a file, and never touches a socket or a process: randomness
//! comes from the seed it is given.
//!
//! The behaviour follows the C booth (spec `raft.md`) message for message, so
//! that C and Rust members interoperate; the deliberate differences — all of
//! them on the safe side and invisible on the wire — are listed in
//! `doc/compatibility.md` and marked `DIFF:` in the code.
//!
//! # Driving the engine
//!
//! The engine is driven the way quinn-proto's `Connection` is: the driver
//! (the daemon's loop, the simulator, a test) owns all I/O and time and
//! feeds the engine events; the engine answers only through its output
//! queue. The contract:
//!
//! ```text
//! let mut e = Engine::new(config, local_index, seed);
//! e.load_cib(clock, i, &state);          // sites: what the store holds, before start
//! e.start(clock);                        // once: state query to all peers
//! loop {
//!     // any input, each with the current time:
//!     e.handle_packet(clock, from, &msg);            // or handle_client,
//!     e.handle_handler_exit(clock, id, run, ok);     // handle_cib_written,
//!     e.handle_timeout(clock);                       // reconfigure, attr_* ...
//!     while let Some(out) = e.poll_output() { execute(out) }
//!     sleep until e.next_deadline() or the next event
//! }
//! ```
//!
//! - **Time.** Every input carries a [`Clock`]; its monotonic part must not
//!   go backwards (a smaller one is ignored, time never rewinds) and must
//!   count host suspend (the daemon uses CLOCK_BOOTTIME): leases are timed
//!   on it. The engine reads no clock of its own.
//! - **Deadlines.** After any input, [`Engine::next_deadline`] may have
//!   moved; read it again and call [`Engine::handle_timeout`] once it has
//!   passed. It may be "now" (a handler's exit is looked at on the next
//!   call): calling `handle_timeout` early is harmless, calling it late
//!   delays lease decisions by as much.
//! - **Outputs.** Inputs append to one queue, in order; nothing is lost if
//!   the driver makes several calls before draining it, or calls the
//!   engine while executing outputs (executing one output may feed an
//!   input back, e.g. a state-directory write confirmed at once). Execute
//!   outputs in the order polled: a later `WriteCib` of a ticket supersedes
//!   an earlier one. Drain before sleeping.
//! - **Identity.** Outputs and inputs that cross an asynchronous boundary
//!   name a ticket by its [`TicketId`] (handler runs, CIB confirmations)
//!   or by name (CIB writes, messages, attributes), never by position:
//!   [`Engine::reconfigure`] may add, remove and reorder tickets at any
//!   time, also while outputs are queued or handler runs and CIB writes are
//!   under way. Answers about tickets since removed are ignored.
//! - **Confirmations.** Report a CIB write with
//!   [`Engine::handle_cib_written`] only once it is durable in the store;
//!   report every [`Output::RunHandler`] with [`Engine::handle_handler_exit`]
//!   (an [`Output::StopHandler`] means its result no longer matters).
//! - **No callbacks.** The engine never calls the driver and never blocks.

/// `mutated!(self, Variant)`: is the deliberately broken variant switched on?
/// Without the `mutations` feature it is the constant `false`, so production
/// builds contain none of the broken code paths.
#[cfg(feature = "mutations")]
macro_rules! mutated {
    ($engine:expr, $m:ident) => {
        $engine.mutation == Some($crate::engine::Mutation::$m)
    };
}
#[cfg(not(feature = "mutations"))]
macro_rules! mutated {
    ($engine:expr, $m:ident) => {
        false
    };
}

mod client;
mod cron;
mod election;
mod fingerprint;
mod follow;
mod lease;
#[cfg(feature = "mutations")]
mod mutation;
mod promise;
mod raft;
mod reload;
mod rng;
mod ticket;
mod ticket_id;
mod time;
mod votes;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::config::{Config, MemberKind};
use crate::wire::TicketMsg;

pub use client::{ListEntry, TimeCache};
#[cfg(feature = "mutations")]
pub use mutation::Mutation;
pub use promise::Promise;
pub use rng::Rng;
use ticket::Ticket;
pub use ticket::{Leader, State};
use ticket_id::{id_index, name_index};
pub use ticket_id::{TicketId, Tickets, Tix};
pub use time::{Clock, Time};

/// Outputs the queue keeps room for once drained (see `poll_output`).
const OUT_KEEP: usize = 64;

/// Identifies a client connection that waits for grant/revoke results.
pub type ClientId = u64;

/// Identifies one run of a ticket's before-acquire-handler, so that the exit of
/// a run the engine has since abandoned is not mistaken for a fresh result.
pub type HandlerRun = u64;

/// Ticket state as read from the CIB at start-up (`crm_ticket -q`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CibState {
    pub granted: bool,
    /// `owner` attribute: a site id, -1 for "nobody", absent or 0 for unknown.
    pub owner: Option<i64>,
    /// `expires`, Unix seconds.
    pub expires: Option<i64>,
    pub term: Option<u32>,
    /// Other attributes of the ticket state: geo attributes.
    pub attrs: Vec<(String, String)>,
}

/// The ticket as booth wants it recorded in the local CIB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CibWrite {
    /// The configuration's copy of the name, shared.
    pub ticket: Arc<str>,
    pub granted: bool,
    /// Leader's site id as a signed 32-bit number: -1 nobody, 0 unknown.
    pub owner: i32,
    /// Lease expiry, Unix seconds (rounded to nearest).
    pub expires: i64,
    pub term: u32,
}

/// What the engine asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send a ticket message to the member with this index. The header is
    /// complete except for authentication, which the driver adds. `resend`
    /// marks retransmissions (counted per peer by `booth peers`).
    Send {
        to: usize,
        msg: TicketMsg,
        resend: bool,
    },
    /// Record the ticket in the local CIB. A newer write for the same ticket
    /// supersedes an older one that has not run yet.
    WriteCib(CibWrite),
    /// Run the ticket's before-acquire-handler; report its exit with
    /// [`Engine::handle_handler_exit`].
    RunHandler {
        ticket: TicketId,
        run: HandlerRun,
        argv: Vec<String>,
        env: Vec<(String, String)>,
    },
    /// Stop a running handler; its result no longer matters.
    StopHandler { ticket: TicketId, run: HandlerRun },
    /// A `CL_RESULT` for a grant/revoke client; `last` means the request is
    /// finished and the connection can be closed after this reply.
    ClientReply {
        client: ClientId,
        msg: TicketMsg,
        last: bool,
    },
    /// Store (Some) or delete (None) a geo attribute in the local CIB.
    StoreAttr {
        ticket: String,
        name: String,
        value: Option<String>,
    },
}

/// Why a peer message was dropped; the daemon counts these in `booth peers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Unknown ticket name, unknown leader id, or a sender that is ourselves.
    Invalid,
}

/// The engine of one member.
#[derive(Clone)]
pub struct Engine {
    /// Shared: clones of an engine (the model checker's) share it.
    cfg: std::sync::Arc<Config>,
    me: usize,
    tickets: Tickets<Ticket>,
    /// Each ticket's stable id, by position, and the positions sorted by
    /// id, for finding a ticket by id by binary search (4 bytes a ticket;
    /// a hash map took some 28).
    ids: Vec<TicketId>,
    by_id: Vec<u32>,
    next_id: u64,
    /// Ticket positions sorted by name, for finding a ticket by name
    /// (packets and requests name their ticket) by binary search: 4 bytes
    /// a ticket instead of a map holding a copy of every name.
    by_name: Vec<u32>,
    rng: Rng,
    out: VecDeque<Output>,
    /// Pending cron deadlines, ordered, so that finding due tickets never
    /// scans every ticket.
    crons: BTreeSet<(Time, Tix)>,
    /// Tickets whose handler finished and must be looked at right away.
    handler_exited: BTreeSet<Tix>,
    /// Tickets whose promises changed since `take_promises` (promise.rs).
    promises_dirty: BTreeSet<Tix>,
    /// The promises of tickets a reload removed (or that the record holds
    /// but the configuration does not), by name: a ticket added back takes
    /// them back (reload.rs).
    removed: BTreeMap<String, Promise>,
    started_at: Time,
    started: bool,
    /// Tickets whose start-up state query waits for a later turn, oldest
    /// first (cron.rs, `send_queries`).
    queries: VecDeque<TicketId>,
    now: Clock,
    next_run: HandlerRun,
    /// A deliberately broken variant, for showing that the simulator catches
    /// it; compiled only into test builds with the `mutations` feature.
    #[cfg(feature = "mutations")]
    mutation: Option<Mutation>,
}

impl Engine {
    /// `me` is the index of the local member in `cfg.members`.
    pub fn new(cfg: Config, me: usize, seed: u64) -> Engine {
        assert!(me < cfg.members.len(), "local member index out of range");
        let tickets = cfg
            .tickets
            .iter()
            .enumerate()
            .map(|(i, t)| Ticket::new(Tix::at(i), t.clone(), cfg.members.len()))
            .collect();
        let ids: Vec<TicketId> = (1..=cfg.tickets.len() as u64).map(TicketId).collect();
        Engine {
            by_name: name_index(&cfg),
            by_id: id_index(&ids),
            next_id: ids.len() as u64 + 1,
            ids,
            cfg: cfg.into(),
            me,
            tickets,
            rng: Rng::new(seed),
            out: VecDeque::new(),
            crons: BTreeSet::new(),
            handler_exited: BTreeSet::new(),
            promises_dirty: BTreeSet::new(),
            removed: BTreeMap::new(),
            started_at: Time::from_ms(0),
            started: false,
            queries: VecDeque::new(),
            now: Clock::default(),
            next_run: 1,
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn local_index(&self) -> usize {
        self.me
    }

    pub fn is_site(&self) -> bool {
        self.cfg.members[self.me].kind == MemberKind::Site
    }

    pub fn ticket_index(&self, name: &str) -> Option<Tix> {
        let tickets = &self.cfg.tickets;
        self.by_name
            .binary_search_by(|&i| (*tickets[i as usize].name).cmp(name))
            .ok()
            .map(|k| Tix::at(self.by_name[k] as usize))
    }

    /// The stable id of the ticket now at position `i`.
    pub fn ticket_id(&self, i: Tix) -> TicketId {
        self.ids[i.index()]
    }

    /// The stable id of the ticket of this name, if configured.
    pub fn ticket_id_by_name(&self, name: &str) -> Option<TicketId> {
        self.ticket_index(name).map(|i| self.ids[i.index()])
    }

    /// The current position of a ticket, if it is still configured.
    pub fn ticket_by_id(&self, id: TicketId) -> Option<Tix> {
        self.by_id
            .binary_search_by_key(&id, |&i| self.ids[i as usize])
            .ok()
            .map(|k| Tix::at(self.by_id[k] as usize))
    }

    /// Next output to execute, in the order the engine produced them.
    pub fn poll_output(&mut self) -> Option<Output> {
        let o = self.out.pop_front();
        // A burst (the start-up queries of 10,000 tickets, a renewal wave)
        // leaves the queue with room for all of it; give that back once it
        // is drained rather than hold it for the daemon's lifetime.
        if o.is_none() && self.out.capacity() > OUT_KEEP {
            self.out.shrink_to(OUT_KEEP);
        }
        o
    }

    /// The earliest instant at which [`Engine::handle_timeout`] has work to do.
    pub fn next_deadline(&self) -> Option<Time> {
        if !self.handler_exited.is_empty() || !self.queries.is_empty() {
            return Some(self.now.mono);
        }
        self.crons.iter().next().map(|&(t, _)| t)
    }

    /// Read-only view of a ticket for tests, the simulator and `booth list`.
    pub fn ticket_view(&self, i: Tix) -> TicketView {
        let tk = &self.tickets[i];
        TicketView {
            name: tk.cfg.name.to_string(),
            state: tk.state,
            leader: tk.leader,
            term: tk.current_term,
            term_expires: tk.lease.expires,
            cib_granted: tk.cib.granted,
            delay_commit: tk.delay_commit,
        }
    }

    pub fn ticket_count(&self) -> usize {
        self.tickets.len()
    }

    /// Every ticket's current position, in configuration order (the
    /// order of `Config::tickets`): for views over all tickets.
    pub fn ticket_positions(&self) -> impl DoubleEndedIterator<Item = Tix> + ExactSizeIterator {
        self.tickets.ids()
    }

    /// Applies the CIB state read at start-up, before [`Engine::start`].
    pub fn load_cib(&mut self, clock: Clock, ticket: Tix, state: &CibState) {
        self.now = clock;
        self.apply_cib_state(ticket, state);
    }

    /// Starts every ticket: state query to all peers. Call once.
    pub fn start(&mut self, clock: Clock) {
        self.now = clock;
        self.started_at = clock.mono;
        self.started = true;
        // The first tickets ask their peers now, the others on the next
        // turns (`send_queries`).
        for i in self.tickets.ids() {
            self.setup_ticket(i, i.index() < cron::QUERIES_PER_TURN);
            self.reindex(i);
        }
    }

    /// A ticket message from member `from` (already authenticated and mapped to
    /// a configured member by the driver).
    pub fn handle_packet(
        &mut self,
        clock: Clock,
        from: usize,
        msg: &TicketMsg,
    ) -> Result<(), Dropped> {
        self.advance(clock);
        if from == self.me || from >= self.cfg.members.len() {
            return Err(Dropped::Invalid);
        }
        let i = self.ticket_index(&msg.body.name).ok_or(Dropped::Invalid)?;
        self.query_first(i);
        let r = self.ticket_recv(i, from, msg);
        self.wake_at_followed_lease_end(i);
        self.reindex(i);
        r
    }

    /// DIFF: a member that follows a leader looks at the ticket again when
    /// that lease (plus acquire-after) is over, however it learned of the
    /// lease; the C booth may keep an earlier wakeup of up to an hour.
    fn wake_at_followed_lease_end(&mut self, i: Tix) {
        let me = Leader::of(self.me);
        let tk = &mut self.tickets[i];
        if tk.cfg.is_manual()
            || tk.leader == me
            || !tk.is_owned()
            || !matches!(tk.state, State::Follower | State::Init)
        {
            return;
        }
        if let Some(e) = tk.lease.expires {
            let at = e + tk.cfg.acquire_after;
            if tk.next_cron.is_none_or(|c| c > at) {
                tk.next_cron = Some(at);
            }
        }
    }

    /// Asks member `to` for its view of the first ticket (`OP_STATUS`, as
    /// at start-up; C peers answer it, changing nothing): the driver's
    /// reachability probe when alerts are configured. The driver keeps the
    /// answer (`OP_MY_INDEX` to request `OP_STATUS`) from the engine: the
    /// probe is a liveness check, not a state query.
    pub fn probe(&mut self, clock: Clock, to: usize) {
        self.advance(clock);
        if self.started && !self.tickets.is_empty() && to != self.me {
            use crate::wire::codes::{OP_STATUS, RLT_SUCCESS};
            self.send(
                Tix::FIRST,
                to,
                OP_STATUS,
                crate::wire::Cmd::NONE,
                RLT_SUCCESS,
            );
        }
    }

    /// A deadline may have passed: run every ticket that is due.
    pub fn handle_timeout(&mut self, clock: Clock) {
        self.advance(clock);
        self.run_due();
        self.send_queries();
    }

    /// A before-acquire-handler run finished (`ok` = exit status 0).
    /// A run of a ticket no longer configured is ignored.
    pub fn handle_handler_exit(
        &mut self,
        clock: Clock,
        ticket: TicketId,
        run: HandlerRun,
        ok: bool,
    ) {
        self.advance(clock);
        let Some(ticket) = self.ticket_by_id(ticket) else {
            return;
        };
        let tk = &mut self.tickets[ticket];
        if tk.handler.finish(run, ok) {
            self.handler_exited.insert(ticket);
        }
        self.run_due();
    }

    /// The driver wrote a ticket's state to the CIB (`granted` as written).
    /// A confirmed revoke ends the hold on handing the ticket over.
    /// A write of a ticket no longer configured is ignored.
    pub fn handle_cib_written(&mut self, clock: Clock, ticket: TicketId, granted: bool) {
        self.advance(clock);
        let Some(ticket) = self.ticket_by_id(ticket) else {
            return;
        };
        if granted || !self.started {
            return;
        }
        self.query_first(ticket);
        self.end_release_hold(ticket);
        self.reindex(ticket);
        self.run_due();
    }

    /// Processes the passage of time before anything else: a leader whose lease
    /// ran out drops the ticket before it reacts to any message (DIFF: the C
    /// booth may answer messages first and notice the expiry up to a poll
    /// interval or a resend timeout later, e.g. after a process pause).
    /// An event that reaches no ticket yet (a reload that waits for its
    /// CIB reads): the engine sees the time all the same, and what is due
    /// by then happens (a lease that ended is given up now, not at the
    /// next timer; simulator seed 202).
    pub fn see_time(&mut self, clock: Clock) {
        self.advance(clock);
    }

    fn advance(&mut self, clock: Clock) {
        if clock.mono >= self.now.mono {
            self.now = clock;
        } else {
            // A clock that goes backwards is a driver bug; never let time rewind.
            self.now.wall_ms = clock.wall_ms;
        }
        if !self.started {
            return;
        }
        let now = self.now.mono;
        let keep_expired = mutated!(self, LeaderKeepsExpiredTicket);
        // Every lease end and CIB grant end is also a cron deadline (see
        // `reindex`): only tickets whose deadline has come can qualify, so
        // no event costs a pass over all tickets.
        let due: Vec<Tix> = self
            .crons
            .range(..(Time::from_ms(now.ms() + 1), Tix::FIRST))
            .map(|&(_, i)| i)
            .collect();
        let lease_over = |t: &Ticket| {
            !t.cfg.is_manual()
                && !keep_expired
                && t.leader == Leader::of(self.me)
                && t.lease.expires.is_some_and(|e| e <= now)
        };
        let expired = due_where(&self.tickets, &due, lease_over, "lease end");
        for i in expired {
            self.query_first(i);
            self.ticket_lost(i);
            self.reindex(i);
        }
        // DIFF: a CIB grant never outlives its lease, also while we hold a
        // newer, still unproven lease (the C booth keeps the old grant in
        // the CIB through a re-acquisition).
        let grant_over = |t: &Ticket| {
            !t.cfg.is_manual()
                && !keep_expired
                && t.cib.granted
                && t.cib.granted_until.is_some_and(|u| u <= now)
        };
        let stale = due_where(&self.tickets, &due, grant_over, "CIB grant end");
        for i in stale {
            self.query_first(i);
            self.revoke_stale_cib_grant(i);
            self.reindex(i);
        }
    }

    fn run_due(&mut self) {
        if !self.started {
            return;
        }
        let now = self.now.mono;
        let mut due: Vec<Tix> = std::mem::take(&mut self.handler_exited)
            .into_iter()
            .collect();
        let later = self
            .crons
            .split_off(&(Time::from_ms(now.ms() + 1), Tix::FIRST));
        let mut expired = std::mem::replace(&mut self.crons, later);
        // The rest are still due and run at the next call, which the
        // deadline asks for at once: other inputs get their turn between.
        // Leases that ended were dropped before (`advance`), however many.
        if let Some(&first_left) = expired.iter().nth(cron::CRONS_PER_TURN) {
            let rest = expired.split_off(&first_left);
            self.crons.extend(rest);
        }
        for (_, i) in expired {
            self.tickets[i].indexed_cron = None;
            if self.tickets[i].release_hold.is_some_and(|h| h <= now) {
                self.end_release_hold(i);
            }
            // An entry may stand for a lease end already handled by advance().
            if self.tickets[i].next_cron.is_some_and(|c| c <= now) && !due.contains(&i) {
                self.tickets[i].next_cron = None;
                due.push(i);
            } else {
                self.reindex(i);
            }
        }
        for i in due {
            self.query_first(i);
            // The cron decides its next run; if it decides nothing, the
            // ticket's state does (C: "next_cron unchanged"). Comparing
            // values would mistake a re-set postponement for no decision.
            self.tickets[i].next_cron = None;
            self.ticket_cron(i);
            if self.tickets[i].next_cron.is_none() {
                self.set_ticket_wakeup(i);
            }
            self.reindex(i);
        }
    }

    /// Keeps the ordered deadline set in step with a ticket's `next_cron`.
    /// A leader's own lease end is a deadline too, whatever its cron says.
    fn reindex(&mut self, i: Tix) {
        self.check_promise(i);
        self.tickets[i].settle_rare();
        let me = Leader::of(self.me);
        let keep_expired = mutated!(self, LeaderKeepsExpiredTicket);
        let tk = &mut self.tickets[i];
        let expiry = (tk.leader == me && !tk.cfg.is_manual() && !keep_expired)
            .then_some(tk.lease.expires)
            .flatten();
        let mut due = match (tk.next_cron, expiry) {
            (Some(c), Some(e)) => Some(c.min(e)),
            (c, e) => c.or(e),
        };
        // So does the end of the lease our CIB's grant stands for.
        if tk.cib.granted && !tk.cfg.is_manual() && !keep_expired {
            if let Some(u) = tk.cib.granted_until {
                due = Some(due.map_or(u, |d| d.min(u)));
            }
        }
        // A held-back hand-over goes out when the hold ends at the latest.
        if let (Some(_), Some(hold)) = (tk.deferred_release, tk.release_hold) {
            due = Some(due.map_or(hold, |d| d.min(hold)));
        }
        if tk.indexed_cron == due {
            return;
        }
        if let Some(old) = tk.indexed_cron.take() {
            self.crons.remove(&(old, i));
        }
        if let Some(new) = due {
            self.crons.insert((new, i));
            tk.indexed_cron = Some(new);
        }
    }

    fn emit(&mut self, o: Output) {
        self.out.push_back(o);
    }

    fn n_members(&self) -> usize {
        self.cfg.members.len()
    }

    fn all_bits(&self) -> u32 {
        ((1u64 << self.n_members()) - 1) as u32
    }

    fn site_bits(&self) -> u32 {
        self.cfg
            .members
            .iter()
            .filter(|m| m.is_site())
            .fold(0, |b, m| b | 1 << m.index)
    }

    fn majority(&self, bits: u32) -> bool {
        bits.count_ones() as usize * 2 > self.n_members()
    }

    fn site_id_of(&self, member: usize) -> u32 {
        self.cfg.members[member].site_id
    }

    fn addr_of(&self, l: Leader) -> &str {
        match l {
            Leader::Unknown => "NONE",
            Leader::NoOne => "none",
            Leader::Member(m) => &self.cfg.members[m as usize].addr_string,
        }
    }
}

/// A snapshot of one ticket, for display and checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketView {
    pub name: String,
    pub state: State,
    pub leader: Leader,
    pub term: u32,
    pub term_expires: Option<Time>,
    /// What the engine last asked to be written to the CIB: granted here.
    pub cib_granted: bool,
    pub delay_commit: Option<Time>,
}

/// The tickets among `due` (those whose cron deadline has come) for which
/// `pred` holds. Debug builds check that no other ticket qualifies: every
/// `what` must be in the cron index.
fn due_where(
    tickets: &Tickets<Ticket>,
    due: &[Tix],
    pred: impl Fn(&Ticket) -> bool,
    what: &str,
) -> Vec<Tix> {
    let found: Vec<Tix> = due.iter().copied().filter(|&i| pred(&tickets[i])).collect();
    debug_assert_eq!(
        found.iter().copied().collect::<BTreeSet<_>>(),
        tickets
            .iter()
            .filter(|t| pred(t))
            .map(|t| t.idx)
            .collect::<BTreeSet<_>>(),
        "a {what} missing from the cron index"
    );
    found
}
