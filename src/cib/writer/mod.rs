//! The CIB writer: everything a site decides about recording tickets in its
//! store, as a state machine without a clock, a process or a file.
//!
//! Inputs: [`Writer::submit`] (a write the engine asked for),
//! [`Writer::finished`] (a run it asked for ended), [`Writer::reload`] (the
//! configured ticket names changed), [`Writer::handle_timeout`], each with
//! the current time passed in. Outputs are polled with
//! [`Writer::poll_output`]: runs to start ([`Output::Spawn`] for Pacemaker's
//! tools, [`Output::Store`] for the state directory), writes now in the
//! store ([`Output::Confirmed`]), client replies that may now be sent
//! ([`Output::Release`]), and the start-up load's result ([`Output::Loaded`]).
//! [`Writer::next_deadline`] says when to call `handle_timeout`.
//!
//! Tickets are known by name, the key of a ticket state in the CIB: a
//! reload that adds, removes or reorders tickets changes nothing here but
//! whether a ticket's slot is dropped once it has nothing left to write. A
//! removed ticket's last write (the engine revokes a ticket it no longer
//! manages) goes through the same slot and is retried like any other, so a
//! reload never loses a write, whatever phase the ticket's writes are in.
//!
//! What it does (as the runtime did before): a newer write of a ticket
//! supersedes a queued older one; state changes (grant, revoke, new owner)
//! each get their own `crm_ticket`, at most `max_writers` at once, FIFO
//! beyond; renewals, which change only `expires` and `term`, wait up to
//! [`BATCH_DELAY`] to share one `cibadmin` run; failed writes are retried
//! with a growing pause; success replies to clients are held until the
//! write they depend on is in the store.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use log::error;

use crate::cib;
use crate::engine::{CibState, CibWrite, TicketId, Time};
use crate::namemap::NameMap;

mod batch;
mod load;
mod slot;
mod store;

use slot::Slot;

pub use store::Stats;

/// Renewals wait this long (ms) for others to share one `cibadmin` run.
/// Each run parses and rewrites the whole CIB (some 50 ms of CPU with 1,000
/// tickets), so runs should be rare; the cost is an `expires` in the CIB
/// up to this much older than the lease.
pub const BATCH_DELAY: u64 = 2_000;
/// After this many failed batches in a row renewals go through
/// `crm_ticket` one by one (the site may lack `cibadmin`).
pub const BATCH_MAX_FAILURES: u32 = 3;
/// Longest pause (ms) between retries of a failed write.
pub const MAX_BACKOFF: u64 = 30_000;
/// `crm_ticket` and `cibadmin` runs taking longer (ms) are killed, and
/// count as failed (a write is retried).
pub const RUN_LIMIT: u64 = 30_000;
/// Concurrent `crm_ticket -q` runs at start-up (one per ticket, when the
/// query of all tickets failed).
pub const MAX_PARALLEL_LOADS: usize = 8;
/// Output kept from the start-up query of all tickets (some 150 bytes a
/// ticket, more with geo attributes); beyond it, tickets load one by one.
pub const MAX_LOAD_ALL_OUTPUT: usize = 64 * 1024 * 1024;

/// What a run the writer asked for does (for a driver that simulates
/// the programs rather than running them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// One ticket's state with `crm_ticket`, or renewals with `cibadmin`,
    /// or a state-directory store: these states, in order.
    Write(Vec<CibWrite>),
    /// The start-up query of every ticket (`crm_ticket -q`).
    LoadAll,
    /// The start-up query of one ticket.
    Load(String),
    /// The query of a ticket a reload added.
    LoadAdded(String),
    /// One query of every ticket (`crm_ticket -q`) for these, which a
    /// reload added.
    LoadAddedAll(Vec<String>),
}

/// Identifies one run the writer asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub u64);

/// Where the writes go.
#[derive(Clone, Debug)]
pub enum Backend {
    /// Pacemaker's tools: `crm_ticket` for state changes and loads,
    /// `cibadmin` (if any) for batched renewals; at most `max_writers`
    /// writes at once.
    Pacemaker {
        crm_ticket: String,
        cibadmin: Option<String>,
        max_writers: usize,
    },
    /// The built-in state directory: every write waiting when the output
    /// is polled goes out in one [`Output::Store`] (one sync for all).
    StateDir,
    /// Nothing is stored (arbitrators): writes are confirmed at once.
    None,
}

/// How a run ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// Exit code (or 128 + signal).
    pub code: i32,
    /// Killed for taking too long.
    pub killed: bool,
    /// The program could not be started at all.
    pub not_started: bool,
    pub stdout: Vec<u8>,
    /// More output came than was kept.
    pub truncated: bool,
}

impl Outcome {
    pub fn success() -> Outcome {
        Outcome {
            ok: true,
            ..Outcome::default()
        }
    }
    pub fn failure(code: i32) -> Outcome {
        Outcome {
            code,
            ..Outcome::default()
        }
    }
}

/// What the writer asks its driver to do, or tells it.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<R> {
    /// Run `program` with `argv` (no shell), killed after `limit_ms`;
    /// report its end with [`Writer::finished`].
    Spawn {
        run: RunId,
        program: String,
        argv: Vec<String>,
        /// Bytes of stdout to keep (None: the driver's default).
        stdout_limit: Option<usize>,
    },
    /// Write these ticket states and geo attribute changes (in order) to
    /// the state directory, synced together; report with
    /// [`Writer::finished`].
    Store {
        run: RunId,
        writes: Vec<CibWrite>,
        attrs: Vec<AttrChange>,
    },
    /// This write is in the store. `ticket` is the engine's id of the
    /// ticket that asked for it (None when it was no longer configured).
    Confirmed {
        ticket: Option<TicketId>,
        write: CibWrite,
    },
    /// A held reply may go out now.
    Release(R),
    /// The start-up load ended: each ticket state found in the CIB.
    Loaded(Vec<(String, CibState)>),
    /// What the CIB holds for a ticket a reload added (see
    /// [`Writer::load_added`]); None: nothing, or it could not be read.
    LoadedAdded(String, Option<CibState>),
}

/// A geo attribute set (Some) or deleted (None).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrChange {
    pub ticket: String,
    pub name: String,
    pub value: Option<String>,
}

/// The answer to [`Writer::reload`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// Apply the new configuration now.
    Apply,
    /// Not now: the start-up load is running. [`Writer::reload_due`] turns
    /// true when it may be applied.
    Deferred,
}

enum Run {
    Write {
        ticket: String,
        write: CibWrite,
    },
    /// (ticket, write, write number)
    Batch(Vec<(String, CibWrite, u64)>),
    Store(Vec<(String, CibWrite, u64)>),
    LoadAll,
    Load(String),
    /// The query of a ticket a reload added.
    LoadAdded(String),
    /// One query of every ticket, for the many a reload added.
    LoadAddedAll(Vec<String>),
}

/// The writer of one site. `R` is the driver's held reply.
pub struct Writer<R> {
    backend: Backend,
    cfg_name: String,
    /// By the name the configuration shares (one copy of each name).
    slots: NameMap<Slot<R>>,
    /// Tickets waiting for a free writer, oldest first.
    queue: VecDeque<String>,
    /// Tickets whose renewal waits for the next batch.
    batch: Vec<String>,
    batch_at: Option<Time>,
    batch_running: bool,
    /// A batch is due but every writer was busy.
    batch_due: bool,
    /// The running batch left renewals behind for lack of room.
    batch_full: bool,
    batch_failures: u32,
    retries: BTreeSet<(Time, String)>,
    writers: usize,
    runs: HashMap<RunId, Run>,
    next_run: u64,
    /// State-directory writes waiting for the next [`Output::Store`].
    store_queue: Vec<String>,
    /// Attribute changes waiting for the next store, in order.
    store_attrs: Vec<AttrChange>,
    store_running: bool,
    loading: bool,
    /// The configuration's names, shared (see `note_loaded`).
    loads_pending: Vec<Arc<str>>,
    /// Start-up queries of single tickets that failed, to run again: the
    /// engine starts only once every ticket's state is known (a grant it
    /// could not read would be one it neither keeps nor revokes).
    load_retries: BTreeSet<(Time, String)>,
    /// Queries of tickets a reload added that failed, to run again.
    rereads: BTreeSet<(Time, String)>,
    /// Failed queries of a ticket in a row (for the pause before the next).
    read_failures: HashMap<String, u32>,
    loads_running: usize,
    loaded: Vec<(String, CibState)>,
    reload_due: bool,
    reload_deferred: bool,
    now: Time,
    out: VecDeque<Output<R>>,
    stats: Stats,
}

impl<R> Writer<R> {
    /// `cfg_name` is recorded with every write (`booth-cfg-name`).
    pub fn new(backend: Backend, cfg_name: &str) -> Writer<R> {
        Writer {
            backend,
            cfg_name: cfg_name.to_string(),
            slots: NameMap::new(),
            queue: VecDeque::new(),
            batch: Vec::new(),
            batch_at: None,
            batch_running: false,
            batch_due: false,
            batch_full: false,
            batch_failures: 0,
            retries: BTreeSet::new(),
            writers: 0,
            runs: HashMap::new(),
            next_run: 1,
            store_queue: Vec::new(),
            store_attrs: Vec::new(),
            store_running: false,
            loading: false,
            loads_pending: Vec::new(),
            load_retries: BTreeSet::new(),
            rereads: BTreeSet::new(),
            read_failures: HashMap::new(),
            loads_running: 0,
            loaded: Vec::new(),
            reload_due: false,
            reload_deferred: false,
            now: Time::from_ms(0),
            out: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    pub fn poll_output(&mut self) -> Option<Output<R>> {
        if self.out.is_empty() {
            self.flush_store();
        }
        let o = self.out.pop_front();
        // The start-up confirmations of every ticket leave room for all of
        // them: give it back once drained (as the engine does).
        if o.is_none() && self.out.capacity() > 64 {
            self.out.shrink_to(64);
        }
        o
    }

    /// When [`Writer::handle_timeout`] has work to do.
    pub fn next_deadline(&self) -> Option<Time> {
        let retry = self.retries.iter().next().map(|(t, _)| *t);
        let reread = self.rereads.iter().next().map(|(t, _)| *t);
        let reload = self.load_retries.iter().next().map(|(t, _)| *t);
        [retry, self.batch_at, reread, reload]
            .into_iter()
            .flatten()
            .min()
    }

    /// Writes not yet confirmed, running or waiting (for status output).
    pub fn backlog(&self) -> usize {
        self.slots.values().filter(|s| s.busy()).count()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// What a run still running does (None once it was reported).
    pub fn run_kind(&self, run: RunId) -> Option<RunKind> {
        Some(match self.runs.get(&run)? {
            Run::Write { write, .. } => RunKind::Write(vec![write.clone()]),
            Run::Batch(items) | Run::Store(items) => {
                RunKind::Write(items.iter().map(|(_, w, _)| w.clone()).collect())
            }
            Run::LoadAll => RunKind::LoadAll,
            Run::Load(name) => RunKind::Load(name.clone()),
            Run::LoadAdded(name) => RunKind::LoadAdded(name.clone()),
            Run::LoadAddedAll(names) => RunKind::LoadAddedAll(names.clone()),
        })
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        while let Some((at, name)) = self.retries.first().cloned() {
            if at > now {
                break;
            }
            self.retries.pop_first();
            self.stats.retries += 1;
            if let Some(s) = self.slots.get_mut(name.as_str()) {
                if s.retry_at == Some(at) {
                    s.retry_at = None;
                }
            }
            self.next(&name);
        }
        if self.batch_at.is_some_and(|t| t <= now) {
            self.batch_at = None;
            self.flush_batch();
        }
        while let Some((at, name)) = self.rereads.first().cloned() {
            if at > now {
                break;
            }
            self.rereads.pop_first();
            self.read_added(name);
        }
        let mut due = false;
        while let Some((at, name)) = self.load_retries.first().cloned() {
            if at > now {
                break;
            }
            self.load_retries.pop_first();
            self.loads_pending.push(name.into());
            due = true;
        }
        if due {
            self.start_loads();
        }
    }

    /// Records the ticket state the engine wants in the store. A newer
    /// write supersedes a queued older one.
    pub fn submit(&mut self, now: Time, ticket: Option<TicketId>, w: CibWrite) {
        self.advance(now);
        let name = w.ticket.clone();
        if let Backend::None = self.backend {
            self.out.push_back(Output::Confirmed { ticket, write: w });
            return;
        }
        let s = self.slots.get_or_insert_with(name.clone(), Slot::new);
        // No id: the engine no longer has the ticket (its revoke after a
        // reload removed it); the slot goes once this write is done.
        s.id = ticket;
        if ticket.is_none() {
            s.configured = false;
        }
        s.submitted += 1;
        self.stats.submitted += 1;
        self.stats.coalesced += s.pending.is_some() as u64;
        s.pending = Some(w);
        self.next(&name);
    }

    /// Records a geo attribute change in the state directory with the
    /// next store (other backends store attributes themselves).
    pub fn set_attr(&mut self, change: AttrChange) {
        if let Backend::StateDir = self.backend {
            self.store_attrs.push(change);
        }
    }

    /// Holds a success reply about `ticket` until the newest write of it
    /// is stored; gives it back when nothing is being written.
    pub fn hold(&mut self, ticket: &str, reply: R) -> Option<R> {
        match self.slots.get_mut(ticket) {
            Some(s) if s.busy() => {
                let seq = s.submitted;
                s.held_mut().push((seq, reply));
                None
            }
            _ => Some(reply),
        }
    }

    /// The configured tickets are now `names`. Writes of removed tickets
    /// still go out (and are retried); their slots go once idle.
    pub fn reload(&mut self, now: Time, names: &[String]) -> Reload {
        self.advance(now);
        if self.loading {
            self.reload_deferred = true;
            self.stats.reloads_deferred += 1;
            return Reload::Deferred;
        }
        self.stats.reloads += 1;
        let keep: std::collections::HashSet<&str> = names.iter().map(|n| n.as_str()).collect();
        self.rereads.retain(|(_, n)| keep.contains(n.as_str()));
        let all: Vec<Arc<str>> = self.slots.keys().cloned().collect();
        for name in all {
            if let Some(s) = self.slots.get_mut(&name) {
                s.configured = keep.contains(&*name);
            }
            self.gc(&name);
        }
        Reload::Apply
    }

    /// A reload was deferred and may be applied now (reading clears it).
    pub fn reload_due(&mut self) -> bool {
        std::mem::take(&mut self.reload_due)
    }

    /// A run ended. Unknown runs are ignored.
    pub fn finished(&mut self, now: Time, run: RunId, o: Outcome) {
        self.advance(now);
        let Some(r) = self.runs.remove(&run) else {
            return;
        };
        self.stats.killed += o.killed as u64;
        match r {
            Run::Write { ticket, write } => {
                self.writers -= 1;
                if let Some(s) = self.slots.get_mut(ticket.as_str()) {
                    s.inflight = None;
                    let seq = s.inflight_seq;
                    if o.ok {
                        tk_debug!(ticket, "CIB updated (granted={})", write.granted);
                        self.confirmed(&ticket, write, seq);
                    } else {
                        tk_error!(
                            ticket,
                            "crm_ticket failed (exit code {}), will retry",
                            o.code
                        );
                        self.stats.failures += 1;
                        self.failed(&ticket, write);
                    }
                    self.next(&ticket);
                }
                self.start_queued();
            }
            Run::Batch(items) => {
                self.writers -= 1;
                self.batch_running = false;
                self.batch_done(items, &o);
                self.start_queued();
            }
            Run::Store(items) => {
                self.store_running = false;
                if !o.ok {
                    self.stats.failures += 1;
                    error!(
                        "cannot store the state of {} tickets, will retry",
                        items.len()
                    );
                }
                for (ticket, write, seq) in items {
                    if let Some(s) = self.slots.get_mut(ticket.as_str()) {
                        s.inflight = None;
                        if o.ok {
                            self.confirmed(&ticket, write, seq);
                        } else {
                            self.failed(&ticket, write);
                        }
                        self.next(&ticket);
                    }
                }
            }
            Run::LoadAll => {
                self.loads_running -= 1;
                if !self.loaded_all(&o) {
                    self.start_loads();
                } else {
                    self.loads_pending.clear();
                }
                self.maybe_loads_done();
            }
            Run::Load(name) => {
                self.loads_running -= 1;
                self.loaded_one(&name, &o);
                self.start_loads();
                self.maybe_loads_done();
            }
            Run::LoadAddedAll(names) => self.loaded_added_all(names, &o),
            Run::LoadAdded(name) => {
                let missing = !o.killed && cib::load_status_is_missing(o.code);
                let st =
                    o.ok.then(|| cib::parse_load(&String::from_utf8_lossy(&o.stdout)).ok())
                        .flatten();
                if st.is_none() && !missing {
                    // Not read: again after a growing pause.
                    let at = self.read_failed(&name);
                    self.rereads.insert((at, name));
                } else {
                    self.read_failures.remove(&name);
                    self.out.push_back(Output::LoadedAdded(name, st));
                }
            }
        }
    }

    fn advance(&mut self, now: Time) {
        self.now = self.now.max(now);
    }

    fn spawn(&mut self, r: Run, program: String, argv: Vec<String>, limit: Option<usize>) -> RunId {
        let run = RunId(self.next_run);
        self.next_run += 1;
        self.runs.insert(run, r);
        self.out.push_back(Output::Spawn {
            run,
            program,
            argv,
            stdout_limit: limit,
        });
        run
    }

    fn cibadmin(&self) -> Option<&str> {
        match &self.backend {
            Backend::Pacemaker { cibadmin, .. } => cibadmin.as_deref(),
            _ => None,
        }
    }

    fn max_writers(&self) -> usize {
        match &self.backend {
            Backend::Pacemaker { max_writers, .. } => *max_writers,
            _ => usize::MAX,
        }
    }

    fn confirmed(&mut self, ticket: &str, write: CibWrite, seq: u64) {
        let Some(s) = self.slots.get_mut(ticket) else {
            return;
        };
        s.failures = 0;
        self.stats.confirmed += 1;
        s.written = Some((write.granted, write.owner));
        s.absent = false;
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(s.held_mut())
            .into_iter()
            .partition(|r| r.0 <= seq);
        *s.held_mut() = wait;
        let id = s.id;
        for (_, r) in ready {
            self.out.push_back(Output::Release(r));
        }
        self.out.push_back(Output::Confirmed { ticket: id, write });
    }

    /// A write failed: retry the newest wanted state after a growing pause.
    fn failed(&mut self, ticket: &str, write: CibWrite) {
        let now = self.now;
        let Some(s) = self.slots.get_mut(ticket) else {
            return;
        };
        s.written = None;
        s.absent = false;
        s.failures += 1;
        s.pending.get_or_insert(write);
        let at = now + std::time::Duration::from_millis(backoff(s.failures));
        s.retry_at = Some(at);
        self.retries.insert((at, ticket.to_string()));
    }

    fn batchable(&self, s: &Slot<R>) -> bool {
        self.cibadmin().is_some()
            && s.pending.as_ref().is_some_and(|w| {
                s.written == Some((w.granted, w.owner)) || (s.absent && !w.granted)
            })
    }

    /// Starts the ticket's pending write if nothing of it runs or waits.
    fn next(&mut self, name: &str) {
        let Some(s) = self.slots.get(name) else {
            return;
        };
        if s.inflight.is_some() || s.retry_at.is_some() || s.pending.is_none() {
            self.gc(name);
            return;
        }
        if let Backend::StateDir = self.backend {
            let s = self.slots.get_mut(name).expect("slot");
            if !s.queued {
                s.queued = true;
                self.store_queue.push(name.to_string());
            }
            return;
        }
        if self.batchable(s) {
            let s = self.slots.get_mut(name).expect("slot");
            if !s.batched {
                s.batched = true;
                self.batch.push(name.to_string());
            }
            self.arm_batch();
            return;
        }
        let full = self.writers >= self.max_writers();
        let s = self.slots.get_mut(name).expect("slot");
        if full {
            if !s.queued {
                s.queued = true;
                self.queue.push_back(name.to_string());
            }
            return;
        }
        let Some(w) = s.pending.take() else { return };
        s.inflight_seq = s.submitted;
        let argv = cib::write_argv(&w, &self.cfg_name);
        let program = match &self.backend {
            Backend::Pacemaker { crm_ticket, .. } => crm_ticket.clone(),
            _ => unreachable!("only Pacemaker runs crm_ticket"),
        };
        let run = self.spawn(
            Run::Write {
                ticket: name.to_string(),
                write: w,
            },
            program,
            argv,
            None,
        );
        self.writers += 1;
        self.stats.single_runs += 1;
        if let Some(s) = self.slots.get_mut(name) {
            s.inflight = Some(run);
        }
    }

    /// A slot with nothing left to do gives its write bookkeeping back;
    /// a removed ticket's slot goes.
    fn gc(&mut self, name: &str) {
        let Some(s) = self.slots.get_mut(name) else {
            return;
        };
        s.settle();
        if !s.configured && !s.busy() && s.held().is_empty() {
            self.slots.remove(name);
        }
    }

    /// Gives free writers to the tickets waiting for one, oldest first (a
    /// due batch first: it serves many tickets).
    fn start_queued(&mut self) {
        if self.batch_due && self.writers < self.max_writers() {
            self.batch_due = false;
            self.flush_batch();
        }
        while self.writers < self.max_writers() {
            let Some(name) = self.queue.pop_front() else {
                return;
            };
            if let Some(s) = self.slots.get_mut(name.as_str()) {
                s.queued = false;
                self.next(&name);
            }
        }
    }
}

/// Pause before the retry after `failures` failures in a row (ms).
fn backoff(failures: u32) -> u64 {
    (1000u64 << failures.min(5)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests;
