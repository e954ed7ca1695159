//! The daemon core: everything a member decides, as one state machine
//! without a clock, a socket, a process or a file. It joins the ticket
//! [`Engine`] (the protocol), the CIB [`Writer`] (batching, retries, held
//! replies, the start-up load) and the reload decision; the daemon's loop
//! and the simulator both drive it, so what the simulator checks is what
//! the daemon does.
//!
//! # Driving the core
//!
//! ```text
//! let mut c = Core::new(config, local_index, seed, backend);
//! c.restore_promises(recorded);          // what a previous run promised
//! c.start_loading(clock);                // Pacemaker sites: load the CIB
//! // or c.start(clock, states)           // state directory / arbitrator
//! loop {
//!     // any input, each with the current time:
//!     c.handle_packet(clock, from, &msg);        // handle_client, client_gone,
//!     c.run_finished(clock, run, outcome);       // handler_exit, reload,
//!     c.handle_timeout(clock);                   // attr_set, attr_delete ...
//!     while let Some(out) = c.poll_output() { execute(out) }
//!     sleep until c.next_deadline() or the next event
//! }
//! ```
//!
//! - **Time.** As for the engine: every input carries a [`Clock`] whose
//!   monotonic part counts host suspend; the writer is timed on the same
//!   monotonic milliseconds. A smaller clock than the last is ignored.
//! - **Outputs.** Inputs only queue work; [`Core::poll_output`] moves the
//!   engine's outputs through the writer (CIB writes, held success
//!   replies, geo attributes) and the writer's back into the engine
//!   (confirmed writes, the start-up load), and hands out what the driver
//!   must execute, in order. The first output after any change of the
//!   engine's promises is [`Output::Record`]: record it durably before
//!   executing anything after it. Drain before sleeping; calling inputs
//!   while draining is allowed (their outputs join the queue).
//! - **Runs.** Every [`Output::Spawn`] and [`Output::Store`] is reported
//!   with [`Core::run_finished`] (a run that could not start as a
//!   failure); a `Spawn` running longer than `limit_ms` is killed and
//!   reported with `killed` set. Every [`Output::RunHandler`] is reported
//!   with [`Core::handler_exit`] unless an [`Output::StopHandler`] for it
//!   came first.
//! - **Replies.** A success reply to a grant or revoke comes out only once
//!   the CIB write it depends on is in the store, as with the C booth,
//!   which runs `crm_ticket` before it answers.
//! - **Reload.** [`Core::reload`] takes the new configuration and answers
//!   at once: applied, rejected (the running one stays), deferred while
//!   the start-up load runs, or (a Pacemaker site) waiting for the CIB
//!   states of the tickets it adds, which start from them as at start-up;
//!   a deferred or waiting one is applied when that ends and reported with
//!   [`Output::Reloaded`]. Writes of removed tickets still
//!   go out and are retried; handler runs of removed tickets are stopped
//!   ([`Output::StopHandler`]). Tickets are named across every asynchronous
//!   boundary by [`TicketId`] or name, never by position.
//! - **No callbacks.** The core never calls the driver and never blocks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use log::info;

use crate::cib::writer::{self, AttrChange, Backend, Outcome, RunId, Writer};
use crate::config::Config;
use crate::engine::{
    self, CibState, CibWrite, ClientId, Clock, Dropped, Engine, HandlerRun, Promise, TicketId, Time,
};
use crate::wire::codes::RLT_SUCCESS;
use crate::wire::TicketMsg;

mod reload;

use reload::Adding;
#[cfg(test)]
mod tests;

/// A success reply held until the write it reports is in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub client: ClientId,
    pub msg: TicketMsg,
    pub last: bool,
}

/// The answer to a reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reloaded {
    Applied,
    /// The start-up load runs: applied when it ends.
    Deferred,
    /// The CIB states of the tickets it adds are being read: applied once
    /// read, each added ticket starting from its state (a grant its CIB
    /// still holds stands for a lease that may run; simulator seed 22948).
    Reading,
    /// Not applicable; the running configuration stays.
    Rejected(String),
}

/// What the core asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Record these promises durably before executing any later output.
    Record(Vec<(std::sync::Arc<str>, Promise)>),
    /// Send a ticket message to member `to` (authenticated by the driver).
    Send {
        to: usize,
        msg: TicketMsg,
        resend: bool,
    },
    /// Answer a grant/revoke client; `last`: close after it.
    ClientReply {
        client: ClientId,
        msg: TicketMsg,
        last: bool,
    },
    /// Run `program` with `argv` (no shell) for the CIB writer; kill it
    /// after `limit_ms`; report with [`Core::run_finished`].
    Spawn {
        run: RunId,
        program: String,
        argv: Vec<String>,
        stdout_limit: Option<usize>,
        limit_ms: u64,
    },
    /// Write these states and attribute changes to the state directory,
    /// synced together; report with [`Core::run_finished`].
    Store {
        run: RunId,
        writes: Vec<CibWrite>,
        attrs: Vec<AttrChange>,
    },
    RunHandler {
        ticket: TicketId,
        run: HandlerRun,
        argv: Vec<String>,
        env: Vec<(String, String)>,
    },
    StopHandler {
        ticket: TicketId,
        run: HandlerRun,
    },
    /// Store (Some) or delete (None) a geo attribute with `crm_ticket`
    /// (Pacemaker sites; the state directory gets them through `Store`).
    StoreAttr {
        ticket: String,
        name: String,
        value: Option<String>,
    },
    /// The engine asked for this write and the writer has it (nothing to
    /// execute: for traces and the simulator's bookkeeping).
    Submitted(CibWrite),
    /// The start-up load is done and the engine started: open for peers
    /// and clients.
    Started,
    /// A deferred reload was applied or rejected now.
    Reloaded(Reloaded),
}

/// One member's core.
pub struct Core {
    engine: Engine,
    writer: Writer<Held>,
    backend_kind: Kind,
    out: VecDeque<Output>,
    clock: Clock,
    started: bool,
    recorded: BTreeMap<String, Promise>,
    /// A reload waiting for the start-up load to end (the newest), with
    /// the stored states of the tickets it adds (state directory).
    deferred: Option<(Config, Vec<(String, CibState)>)>,
    /// A reload waiting for the CIB states of the tickets it adds (see
    /// [`Reloaded::Reading`]).
    adding: Option<Adding>,
    /// Handler runs started and not yet ended or stopped.
    handlers: BTreeSet<(TicketId, HandlerRun)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pacemaker,
    StateDir,
    None,
}

impl Core {
    /// `me` is the index of the local member in `cfg.members`.
    pub fn new(cfg: Config, me: usize, seed: u64, backend: Backend) -> Core {
        let backend_kind = match backend {
            Backend::Pacemaker { .. } => Kind::Pacemaker,
            Backend::StateDir => Kind::StateDir,
            Backend::None => Kind::None,
        };
        Core {
            writer: Writer::new(backend, &cfg.name),
            engine: Engine::new(cfg, me, seed),
            backend_kind,
            out: VecDeque::new(),
            clock: Clock::default(),
            started: false,
            recorded: BTreeMap::new(),
            deferred: None,
            adding: None,
            handlers: BTreeSet::new(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// For inputs the core does not wrap (a reachability probe, the
    /// model checker's mutations); the outputs are still polled here.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    pub fn writer(&self) -> &Writer<Held> {
        &self.writer
    }

    pub fn config(&self) -> &Config {
        self.engine.config()
    }

    /// The engine started (the start-up load is over).
    pub fn started(&self) -> bool {
        self.started
    }

    /// What a previous run of this daemon promised, given back to the
    /// engine when it starts.
    pub fn restore_promises(&mut self, recorded: BTreeMap<String, Promise>) {
        self.recorded = recorded;
    }

    fn advance(&mut self, clock: Clock) {
        if clock.mono >= self.clock.mono {
            self.clock = clock;
        }
    }

    fn now(&self) -> Time {
        self.clock.mono
    }

    fn names(cfg: &Config) -> Vec<String> {
        cfg.tickets.iter().map(|t| t.name.to_string()).collect()
    }

    /// Loads every ticket's state from the CIB (Pacemaker sites); the
    /// engine starts when that ends ([`Output::Started`]). Other members
    /// start at once with nothing loaded.
    pub fn start_loading(&mut self, clock: Clock) {
        self.advance(clock);
        let site = self.engine.is_site();
        if self.backend_kind == Kind::Pacemaker && site {
            let names: Vec<_> = self
                .config()
                .tickets
                .iter()
                .map(|t| t.name.clone())
                .collect();
            self.writer.start_loading(self.now(), &names);
        } else {
            self.start(clock, Vec::new());
        }
    }

    /// Starts the engine with what the store held (the state directory,
    /// read by the driver; None: nothing stored for that ticket).
    pub fn start(&mut self, clock: Clock, loaded: Vec<(String, Option<CibState>)>) {
        self.advance(clock);
        // The writer's table is sorted by name: given in name order, each
        // new name goes on its end (10,000 tickets in configuration order
        // moved about 180 MB in it).
        let mut order: Vec<u32> = (0..loaded.len() as u32).collect();
        crate::sort::positions(&mut order, &|a, b| loaded[a].0.cmp(&loaded[b].0));
        self.writer.reserve_slots(loaded.len());
        for i in order {
            let (name, st) = &loaded[i as usize];
            // The configuration's copy of the name: the writer keeps it.
            let key = match self.engine.ticket_index(name) {
                Some(i) => self.config().tickets[i.index()].name.clone(),
                None => name.as_str().into(),
            };
            self.writer.note_loaded(key, st.as_ref());
        }
        let states = loaded
            .into_iter()
            .filter_map(|(name, st)| st.map(|st| (name, st)))
            .collect();
        self.start_engine(states);
    }

    fn start_engine(&mut self, states: Vec<(String, CibState)>) {
        if self.started {
            return;
        }
        let clock = self.clock;
        for (name, st) in states {
            if let Some(i) = self.engine.ticket_index(&name) {
                self.engine.load_cib(clock, i, &st);
            }
        }
        let mut restored = 0;
        for (name, p) in std::mem::take(&mut self.recorded) {
            match self.engine.ticket_index(&name) {
                Some(i) => restored += self.engine.restore_promise(i, &p) as usize,
                // Removed from the configuration: kept for a reload that
                // adds it back.
                None => self.engine.remember_removed(&name, p),
            }
        }
        if restored > 0 {
            info!("took back the promises of the previous run for {restored} ticket(s)");
        }
        self.engine.start(clock);
        self.started = true;
        self.out.push_back(Output::Started);
    }

    // ---- inputs ----

    /// A ticket message from member `from` (authenticated, mapped).
    pub fn handle_packet(
        &mut self,
        clock: Clock,
        from: usize,
        msg: &TicketMsg,
    ) -> Result<(), Dropped> {
        self.advance(clock);
        if !self.started {
            return Ok(());
        }
        self.engine.handle_packet(clock, from, msg)
    }

    /// A grant or revoke request.
    pub fn handle_client(
        &mut self,
        clock: Clock,
        client: ClientId,
        cmd: crate::wire::Cmd,
        options: u32,
        ticket: &str,
    ) {
        self.advance(clock);
        self.engine
            .handle_client(clock, client, cmd, options, ticket);
    }

    /// A waiting client went away.
    pub fn client_gone(&mut self, client: ClientId) {
        self.engine.client_gone(client);
    }

    /// `geostore set` (the engine's answer code on refusal).
    pub fn attr_set(
        &mut self,
        clock: Clock,
        ticket: &str,
        name: &str,
        v: &str,
    ) -> Result<(), crate::wire::Rlt> {
        self.advance(clock);
        if self.hold_attr(ticket, name, Some(v)) {
            return Ok(());
        }
        self.engine.attr_set(clock, ticket, name, v)
    }

    /// `geostore delete`.
    pub fn attr_delete(
        &mut self,
        clock: Clock,
        ticket: &str,
        name: &str,
    ) -> Result<(), crate::wire::Rlt> {
        self.advance(clock);
        if self.hold_attr(ticket, name, None) {
            return Ok(());
        }
        self.engine.attr_delete(clock, ticket, name)
    }

    /// A deadline may have passed (early calls are harmless).
    pub fn handle_timeout(&mut self, clock: Clock) {
        self.advance(clock);
        if self.started && self.engine.next_deadline().is_some_and(|d| d <= clock.mono) {
            self.engine.handle_timeout(clock);
        }
        if self.writer.next_deadline().is_some_and(|d| d <= clock.mono) {
            self.writer.handle_timeout(clock.mono);
        }
    }

    /// The earliest instant at which [`Core::handle_timeout`] has work.
    pub fn next_deadline(&self) -> Option<Time> {
        let e = self.engine.next_deadline().filter(|_| self.started);
        match (e, self.writer.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A writer run ([`Output::Spawn`], [`Output::Store`]) ended.
    pub fn run_finished(&mut self, clock: Clock, run: RunId, o: Outcome) {
        self.time_first(clock);
        self.writer.finished(clock.mono, run, o);
    }

    /// Time first: after a pause the engine drops expired leases before
    /// anything that ended meanwhile is looked at (a held reply released
    /// by a write that completed while the daemon was frozen must not go
    /// out before the engine has seen that its lease is over).
    fn time_first(&mut self, clock: Clock) {
        self.advance(clock);
        if self.started && self.engine.next_deadline().is_some_and(|d| d <= clock.mono) {
            self.engine.handle_timeout(clock);
        }
    }

    /// A handler run ended (`ok`: exit status 0).
    pub fn handler_exit(&mut self, clock: Clock, ticket: TicketId, run: HandlerRun, ok: bool) {
        self.advance(clock);
        self.handlers.remove(&(ticket, run));
        self.engine.handle_handler_exit(clock, ticket, run, ok);
    }

    // ---- outputs ----

    /// The next thing to execute (see the module docs for the order).
    pub fn poll_output(&mut self) -> Option<Output> {
        loop {
            if let Some(o) = self.out.pop_front() {
                return Some(o);
            }
            let p = self.engine.take_promises();
            if !p.is_empty() {
                return Some(Output::Record(p));
            }
            if let Some(o) = self.engine.poll_output() {
                self.engine_output(o);
                continue;
            }
            if let Some(o) = self.writer.poll_output() {
                self.writer_output(o);
                continue;
            }
            if self.writer.reload_due() {
                if let Some((cfg, stored)) = self.deferred.take() {
                    let r = self.apply(cfg, stored);
                    self.out.push_back(Output::Reloaded(r));
                    continue;
                }
            }
            return None;
        }
    }

    fn engine_output(&mut self, o: engine::Output) {
        let now = self.now();
        match o {
            engine::Output::Send { to, msg, resend } => {
                self.out.push_back(Output::Send { to, msg, resend })
            }
            engine::Output::WriteCib(w) => {
                // The name is looked up now: a ticket the engine no longer
                // has is a removed one (its last revoke).
                let id = self.engine.ticket_id_by_name(&w.ticket);
                self.out.push_back(Output::Submitted(w.clone()));
                self.writer.submit(now, id, w);
            }
            engine::Output::RunHandler {
                ticket,
                run,
                argv,
                env,
            } => {
                self.handlers.insert((ticket, run));
                self.out.push_back(Output::RunHandler {
                    ticket,
                    run,
                    argv,
                    env,
                });
            }
            engine::Output::StopHandler { ticket, run } => {
                if self.handlers.remove(&(ticket, run)) {
                    self.out.push_back(Output::StopHandler { ticket, run });
                }
            }
            engine::Output::ClientReply { client, msg, last } => {
                let held = Held { client, msg, last };
                let held = if held.msg.header.result == RLT_SUCCESS {
                    let name = held.msg.body.name.clone();
                    self.writer.hold(&name, held)
                } else {
                    Some(held)
                };
                if let Some(Held { client, msg, last }) = held {
                    self.out
                        .push_back(Output::ClientReply { client, msg, last });
                }
            }
            engine::Output::StoreAttr {
                ticket,
                name,
                value,
            } => match self.backend_kind {
                Kind::Pacemaker => self.out.push_back(Output::StoreAttr {
                    ticket,
                    name,
                    value,
                }),
                Kind::StateDir => self.writer.set_attr(AttrChange {
                    ticket,
                    name,
                    value,
                }),
                Kind::None => {}
            },
        }
    }

    fn writer_output(&mut self, o: writer::Output<Held>) {
        match o {
            writer::Output::Spawn {
                run,
                program,
                argv,
                stdout_limit,
            } => self.out.push_back(Output::Spawn {
                run,
                program,
                argv,
                stdout_limit,
                limit_ms: writer::RUN_LIMIT,
            }),
            writer::Output::Store { run, writes, attrs } => {
                self.out.push_back(Output::Store { run, writes, attrs })
            }
            writer::Output::Confirmed { ticket, write } => match ticket {
                Some(id) => self
                    .engine
                    .handle_cib_written(self.clock, id, write.granted),
                None if self.engine.ticket_id_by_name(&write.ticket).is_none() => tk_info!(
                    write.ticket,
                    "{} in the CIB (no longer configured)",
                    if write.granted { "granted" } else { "revoked" }
                ),
                None => {}
            },
            writer::Output::Release(Held { client, msg, last }) => self
                .out
                .push_back(Output::ClientReply { client, msg, last }),
            writer::Output::Loaded(states) => self.start_engine(states),
            writer::Output::LoadedAdded(name, st) => self.added_loaded(name, st),
        }
    }
}
