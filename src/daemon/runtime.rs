//! The event loop: one thread, one mio `Poll`. Sources: the UDP socket, the
//! TCP listener and each client connection, the pipes of child processes,
//! and the signal pipe. Deadlines (the engine's next one, client read
//! deadlines, child time limits, CIB retries) sit in a timer wheel, and the
//! loop sleeps until the earliest: with nothing to do it does not wake.
//!
//! Data flows one way: events become calls on the engine, the engine's
//! outputs are executed here. No protocol decision is made in this file.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, error, info, warn};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};

use super::children::{ChildId, Children, Finished};
use super::localtime;
use super::lockfile::{DaemonState, LockFile};
use super::replaymarks;
use super::signals::Signals;
use super::timer::{Ms, TimerId, TimerWheel};
use crate::cib::{self, StateDir};
use crate::config::{Config, MemberKind};
use crate::engine::{
    CibState, CibWrite, ClientId, Clock, Dropped, Engine, HandlerRun, Output, Time,
};
use crate::wire::codes::*;
use crate::wire::{
    self, AuthCheck, AuthKey, Framing, Header, PeerCounter, ReplayGuard, Request, Timestamp,
};

const UDP: Token = Token(0);
const TCP: Token = Token(1);
const SIGNALS: Token = Token(2);
const FIRST_DYNAMIC: usize = 16;

/// Connections served at once; more are closed at accept.
const MAX_CLIENTS: usize = 64;
/// A client must send its whole request within this time.
const CLIENT_READ_DEADLINE: Ms = 10_000;
/// `crm_ticket` calls taking longer are killed (and retried).
const CRM_TICKET_LIMIT: Ms = 30_000;
/// Output kept from the start-up query of all tickets (some 150 bytes a
/// ticket, more with geo attributes); beyond it, tickets load one by one.
const MAX_LOAD_ALL_OUTPUT: usize = 64 * 1024 * 1024;
/// Concurrent `crm_ticket -q` calls at start-up (one per ticket, when the
/// query of all tickets failed).
const MAX_PARALLEL_LOADS: usize = 8;
/// crm_ticket writes running at once. Pacemaker serialises CIB updates
/// anyway; a wave of renewals must not become a wave of processes.
const MAX_PARALLEL_CIB_WRITES: usize = 4;
/// Geo attribute writes are tried this many times (as the C booth does).
const ATTR_ATTEMPTS: u32 = 3;
/// Longest pause between retries of a failed CIB write.
const MAX_CIB_BACKOFF: Ms = 30_000;
/// Renewals wait this long for others to share one `cibadmin` run. Each
/// run parses and rewrites the whole CIB (some 50 ms of CPU with 1,000
/// tickets in a CIB file), so runs should be rare; the cost is an
/// `expires` in the CIB up to this much older than the lease.
const CIB_BATCH_DELAY: Ms = 2_000;
/// After this many failed batches in a row renewals go through
/// `crm_ticket` one by one (the site may lack `cibadmin`).
const CIB_BATCH_MAX_FAILURES: u32 = 3;
/// Environment variable naming the `cibadmin` program; empty disables
/// batched renewal writes.
pub const CIBADMIN_ENV: &str = "BOOTH_CIBADMIN";

/// Where this site keeps ticket state.
pub enum Store {
    /// Pacemaker's CIB through `crm_ticket` (a path or a name on PATH).
    Pacemaker(String),
    StateDir(StateDir),
    /// Arbitrators keep nothing.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerKind {
    Engine,
    ClientDeadline(Token),
    ChildDeadline(ChildId),
    CibRetry(usize),
    CibBatch,
    /// Write the replay marks (at most once a second).
    ReplayMarks,
}

enum Purpose {
    /// `crm_ticket -q`: every ticket's state in one run.
    CibLoadAll,
    CibLoad {
        ticket: usize,
    },
    CibWrite {
        ticket: usize,
        write: CibWrite,
    },
    /// The revoke of a ticket no longer configured.
    CibWriteRemoved {
        ticket: String,
    },
    /// One `cibadmin` run writing renewals: (ticket, write, write number).
    CibBatch {
        items: Vec<(usize, CibWrite, u64)>,
    },
    Attr {
        ticket: String,
        name: String,
        value: Option<String>,
        attempt: u32,
    },
    Handler {
        ticket: usize,
        run: HandlerRun,
        /// Directory mode: programs still to run after this one.
        rest: Vec<PathBuf>,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
}

#[derive(Default)]
struct PeerStats {
    sent: u64,
    sent_err: u64,
    resends: u64,
    recv: u64,
    recv_err: u64,
    authfail: u64,
    invalid: u64,
    last_recv: i64,
}

#[derive(PartialEq, Eq)]
enum Phase {
    /// Reading the request.
    Reading,
    /// Request handed to the engine; replies may follow.
    Waiting,
    /// Final reply queued; close once it is written.
    Closing,
}

struct Client {
    stream: TcpStream,
    accepted_at: Ms,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    phase: Phase,
    deadline: Option<TimerId>,
    writable: bool,
}

#[derive(Default)]
struct CibSlot {
    inflight: Option<ChildId>,
    pending: Option<CibWrite>,
    retry: Option<TimerId>,
    failures: u32,
    /// Writes handed to this slot so far; the pending write carries the
    /// latest number, the one in flight its own.
    submitted: u64,
    inflight_seq: u64,
    /// Success replies held until a write at least as new as `.0` is in
    /// the CIB: (write number, client, reply, last).
    held_replies: Vec<(u64, Token, Vec<u8>, bool)>,
    /// Waiting in `Daemon::cib_queue` for a free writer.
    queued: bool,
    /// Granted flag and owner the CIB is known to hold (last successful
    /// write); a write that keeps both is a renewal and may be batched.
    written: Option<(bool, i32)>,
    /// Listed in `Daemon::batch_queue`.
    batched: bool,
    /// The start-up load found no state for this ticket in the CIB and
    /// nothing was written since: writing "not granted" changes no state.
    absent: bool,
}

impl CibSlot {
    fn busy(&self) -> bool {
        self.inflight.is_some() || self.pending.is_some() || self.retry.is_some()
    }
}

/// Everything the loop needs to start.
pub struct Setup {
    pub cfg: Config,
    pub me: usize,
    pub key: Option<AuthKey>,
    pub store: Store,
    pub udp: UdpSocket,
    pub tcp: TcpListener,
    pub lock: Option<LockFile>,
    /// The replay marks file, opened (with an authfile only).
    pub replay: Option<replaymarks::Loaded>,
    pub seed: u64,
    /// Called once the daemon answers clients (to release the parent).
    pub on_ready: Option<Box<dyn FnOnce()>>,
}

pub struct Daemon {
    cfg: Config,
    me: usize,
    key: Option<AuthKey>,
    store: Store,
    poll: Poll,
    udp: UdpSocket,
    tcp: TcpListener,
    signals: Signals,
    engine: Engine,
    epoch: Instant,
    timers: TimerWheel<TimerKind>,
    engine_timer: Option<(TimerId, Ms)>,
    children: Children<Purpose>,
    child_deadlines: HashMap<ChildId, TimerId>,
    next_token: usize,
    clients: HashMap<Token, Client>,
    peers: Vec<PeerStats>,
    guards: Vec<ReplayGuard>,
    client_guard: ReplayGuard,
    replay: Option<replaymarks::Recorder>,
    replay_timer: Option<TimerId>,
    cib: Vec<CibSlot>,
    loads_pending: Vec<usize>,
    loads_running: usize,
    /// crm_ticket writes running, the most allowed at once, and the tickets
    /// waiting for one of them (FIFO).
    cib_writers: usize,
    max_cib_writers: usize,
    cib_queue: VecDeque<usize>,
    /// Renewal writes go out together through this program (`cibadmin`);
    /// `None`: one `crm_ticket` per write.
    cibadmin: Option<String>,
    /// Tickets whose pending write waits for the next batch.
    batch_queue: Vec<usize>,
    batch_timer: Option<TimerId>,
    batch_running: bool,
    /// A batch is due but every writer was busy.
    batch_due: bool,
    /// The running batch left renewals behind for lack of room.
    batch_full: bool,
    batch_failures: u32,
    loaded: Vec<Option<CibState>>,
    started: bool,
    lock: Option<LockFile>,
    on_ready: Option<Box<dyn FnOnce()>>,
    stop: bool,
}

impl Daemon {
    pub fn new(s: Setup) -> io::Result<Daemon> {
        let poll = Poll::new()?;
        let signals = Signals::install(&[
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGCHLD,
        ])?;
        let n = s.cfg.members.len();
        let skew = s.cfg.maxtimeskew;
        let tickets = s.cfg.tickets.len();
        let epoch = Instant::now();
        let engine = Engine::new(s.cfg.clone(), s.me, s.seed);
        // Nothing signed before this daemon started is accepted; the marks
        // of the previous run raise the floors further.
        let start = Timestamp::from_system_time(SystemTime::now());
        let floor = replaymarks::start_floor(start);
        let mut guards: Vec<ReplayGuard> = (0..n)
            .map(|_| ReplayGuard::new(skew).with_floor(floor))
            .collect();
        let mut client_guard = ReplayGuard::new(skew).with_capacity(4096).with_floor(floor);
        let replay = s
            .replay
            .map(|l| replaymarks::Recorder::new(l, &s.cfg, start, &mut guards, &mut client_guard));
        Ok(Daemon {
            me: s.me,
            key: s.key,
            store: s.store,
            poll,
            udp: s.udp,
            tcp: s.tcp,
            signals,
            engine,
            epoch,
            timers: TimerWheel::new(0),
            engine_timer: None,
            children: Children::default(),
            child_deadlines: HashMap::new(),
            next_token: FIRST_DYNAMIC,
            clients: HashMap::new(),
            peers: (0..n).map(|_| PeerStats::default()).collect(),
            guards,
            client_guard,
            replay,
            replay_timer: None,
            cib: (0..tickets).map(|_| CibSlot::default()).collect(),
            loads_pending: Vec::new(),
            loads_running: 0,
            cib_writers: 0,
            // With CIB_file every crm_ticket rewrites one file without
            // locking: only one may run at a time, or updates are lost.
            max_cib_writers: if std::env::var_os("CIB_file").is_some() {
                1
            } else {
                MAX_PARALLEL_CIB_WRITES
            },
            cib_queue: VecDeque::new(),
            cibadmin: batch_program(),
            batch_queue: Vec::new(),
            batch_timer: None,
            batch_running: false,
            batch_due: false,
            batch_full: false,
            batch_failures: 0,
            loaded: vec![None; tickets],
            started: false,
            lock: s.lock,
            on_ready: s.on_ready,
            stop: false,
            cfg: s.cfg,
        })
    }

    fn now_ms(&self) -> Ms {
        self.epoch.elapsed().as_millis() as Ms
    }

    fn clock(&self) -> Clock {
        Clock::new(Time(self.now_ms()), localtime::wall_ms())
    }

    fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    /// Runs until SIGTERM/SIGINT; returns the exit status.
    pub fn run(mut self) -> i32 {
        self.poll
            .registry()
            .register(&mut self.signals.rx, SIGNALS, Interest::READABLE)
            .expect("register signal pipe");
        self.begin_loading();
        let mut events = Events::with_capacity(256);
        while !self.stop {
            let wakeup = self.timers.next_wakeup();
            let timeout = wakeup.map(|at| Duration::from_millis(at.saturating_sub(self.now_ms())));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    error!("poll failed: {e}");
                    return 1;
                }
            }
            if let Some(at) = wakeup {
                let late = self.now_ms().saturating_sub(at);
                if late > super::PAUSE_DISCARD_MS {
                    self.discard_queued_datagrams(late);
                }
            }
            // Time first: after a pause the engine drops expired leases
            // before it looks at anything that arrived meanwhile.
            self.run_timers();
            for ev in events.iter() {
                match ev.token() {
                    SIGNALS => self.on_signals(),
                    UDP => self.on_udp(),
                    TCP => self.on_accept(),
                    t if self.children.owns(t) => {
                        self.children.on_readable(self.poll.registry(), t);
                    }
                    t => self.on_client(t, ev.is_readable(), ev.is_writable(), ev.is_error()),
                }
            }
            self.reap();
            self.drain_engine();
        }
        info!("exiting");
        if let Some(r) = self.replay.as_mut() {
            r.flush();
        }
        if let Some(lock) = self.lock.take() {
            let _ = lock.remove();
        }
        0
    }

    // ---- start-up: CIB loads, then the engine, then the sockets ----

    fn begin_loading(&mut self) {
        let me_site = self.cfg.members[self.me].kind == MemberKind::Site;
        match &self.store {
            Store::Pacemaker(_) if me_site => {
                // One query for all tickets; one per ticket (as the C booth
                // does) only if that fails.
                let program = self.crm_ticket().to_string();
                let argv = cib::load_all_argv();
                match self.spawn(&program, &argv, &[], Purpose::CibLoadAll, CRM_TICKET_LIMIT) {
                    Some(id) => {
                        self.children.set_stdout_limit(id, MAX_LOAD_ALL_OUTPUT);
                        self.loads_running += 1;
                    }
                    None => self.load_one_by_one(),
                }
            }
            Store::StateDir(sd) => {
                for (i, t) in self.cfg.tickets.iter().enumerate() {
                    match sd.load(&t.name) {
                        Ok(st) => self.loaded[i] = st,
                        Err(e) => error!("{}: cannot read stored state: {e}", t.name),
                    }
                }
            }
            _ => {}
        }
        if self.loads_pending.is_empty() && self.loads_running == 0 {
            self.start_engine();
        }
    }

    fn load_one_by_one(&mut self) {
        self.loads_pending = (0..self.cfg.tickets.len()).rev().collect();
        self.start_loads();
    }

    /// The result of the all-tickets query: true when it was used.
    fn loaded_all(&mut self, f: &Finished<Purpose>) -> bool {
        let code = f.code();
        if f.success() && !f.truncated {
            match cib::parse_load_all(&String::from_utf8_lossy(&f.stdout)) {
                Ok(states) => {
                    let index = ticket_positions(&self.cfg);
                    let mut found = 0;
                    for (name, st) in states {
                        if let Some(&i) = index.get(name.as_str()) {
                            self.loaded[i] = Some(st);
                            found += 1;
                        }
                    }
                    for (slot, st) in self.cib.iter_mut().zip(&self.loaded) {
                        slot.absent = st.is_none();
                    }
                    info!(
                        "loaded the state of {found} of {} tickets from the CIB",
                        self.cfg.tickets.len()
                    );
                    return true;
                }
                Err(e) => error!("command \"crm_ticket -q\": {e}; loading tickets one by one"),
            }
        } else if !f.killed && cib::load_status_is_missing(code) {
            info!("command \"crm_ticket -q\", no ticket state in the CIB yet");
            for slot in self.cib.iter_mut() {
                slot.absent = true;
            }
            return true;
        } else {
            error!("command \"crm_ticket -q\" exit code {code}; loading tickets one by one");
        }
        false
    }

    fn start_loads(&mut self) {
        while self.loads_running < MAX_PARALLEL_LOADS {
            let Some(i) = self.loads_pending.pop() else {
                break;
            };
            let argv = cib::load_argv(&self.cfg.tickets[i].name);
            let program = self.crm_ticket().to_string();
            let purpose = Purpose::CibLoad { ticket: i };
            if self
                .spawn(&program, &argv, &[], purpose, CRM_TICKET_LIMIT)
                .is_some()
            {
                self.loads_running += 1;
            }
        }
    }

    fn crm_ticket(&self) -> &str {
        match &self.store {
            Store::Pacemaker(p) => p,
            _ => cib::CRM_TICKET,
        }
    }

    fn start_engine(&mut self) {
        let clock = self.clock();
        for (i, st) in std::mem::take(&mut self.loaded).into_iter().enumerate() {
            if let Some(st) = st {
                // What the CIB holds now: renewals keeping it may be batched.
                let owner = st.owner.and_then(|o| i32::try_from(o).ok());
                if let (Some(slot), Some(owner)) = (self.cib.get_mut(i), owner) {
                    slot.written = Some((st.granted, owner));
                }
                self.engine.load_cib(clock, i, &st);
            }
        }
        self.engine.start(clock);
        let reg = self.poll.registry();
        if let Err(e) = reg
            .register(&mut self.udp, UDP, Interest::READABLE)
            .and_then(|_| reg.register(&mut self.tcp, TCP, Interest::READABLE))
        {
            error!("cannot watch the sockets: {e}");
            self.stop = true;
            return;
        }
        self.started = true;
        if let Some(lock) = self.lock.as_mut() {
            if let Err(e) = lock.write_state(DaemonState::Started) {
                warn!("cannot update the lock file: {e}");
            }
        }
        let m = &self.cfg.members[self.me];
        info!(
            "BOOTH {} daemon started, node id is 0x{:08X} ({}).",
            m.kind.as_str(),
            m.site_id,
            m.site_id
        );
        if let Some(f) = self.on_ready.take() {
            f();
        }
        self.drain_engine();
        // Datagrams and connections may have queued while we loaded.
        self.on_udp();
        self.on_accept();
    }

    // ---- timers ----

    fn run_timers(&mut self) {
        let now = self.now_ms();
        for (_, kind) in self.timers.expire(now) {
            match kind {
                TimerKind::Engine => {
                    self.engine_timer = None;
                    if self.started {
                        let c = self.clock();
                        self.engine.handle_timeout(c);
                    }
                }
                TimerKind::ClientDeadline(t) => {
                    if let Some(c) = self.clients.get_mut(&t) {
                        c.deadline = None;
                        if c.phase == Phase::Reading {
                            debug!("client sent no complete request in time, closing");
                            self.close_client(t);
                        }
                    }
                }
                TimerKind::ChildDeadline(id) => {
                    self.child_deadlines.remove(&id);
                    if let Some(r) = self.children.get(id) {
                        warn!("{} takes too long, killing it", r.program);
                    }
                    self.children.kill(id);
                }
                TimerKind::CibRetry(i) => {
                    self.cib[i].retry = None;
                    self.cib_next(i);
                }
                TimerKind::CibBatch => {
                    self.batch_timer = None;
                    self.cib_flush_batch();
                }
                TimerKind::ReplayMarks => {
                    self.replay_timer = None;
                    if let Some(r) = self.replay.as_mut() {
                        r.flush();
                    }
                    self.arm_replay_timer();
                }
            }
        }
    }

    /// Keeps one wheel entry at the engine's next deadline.
    fn arm_engine_timer(&mut self) {
        let want = self.engine.next_deadline().map(|t| t.ms());
        match (self.engine_timer, want) {
            (Some((_, at)), Some(w)) if at == w => {}
            (old, want) => {
                if let Some((id, _)) = old {
                    self.timers.cancel(id);
                }
                self.engine_timer = want.map(|w| (self.timers.insert(w, TimerKind::Engine), w));
            }
        }
    }

    /// Schedules a write of changed replay marks, one second from now
    /// unless one is already due.
    fn arm_replay_timer(&mut self) {
        if self.replay_timer.is_none() && self.replay.as_ref().is_some_and(|r| r.dirty()) {
            let at = self.now_ms() + 1000;
            self.replay_timer = Some(self.timers.insert(at, TimerKind::ReplayMarks));
        }
    }

    // ---- signals ----

    fn on_signals(&mut self) {
        for sig in self.signals.drain() {
            match sig {
                libc::SIGTERM | libc::SIGINT => {
                    info!("caught signal {sig}");
                    self.stop = true;
                }
                libc::SIGHUP => self.reload(),
                libc::SIGUSR1 => self.log_tickets(),
                _ => {} // SIGCHLD: reaped below
            }
        }
    }

    fn reload(&mut self) {
        let path = self.cfg.path.clone();
        info!("reloading {}", path.display());
        let new = match Config::reload_from(&path, &self.cfg) {
            Ok(c) => c,
            Err(e) => {
                error!("{}: {e}; keeping the running configuration", path.display());
                return;
            }
        };
        if new.authfile != self.cfg.authfile {
            warn!("authfile changed: it takes effect at the next restart");
        }
        let clock = self.clock();
        match self.engine.reconfigure(clock, new.clone()) {
            Ok(()) => {
                // Per-ticket CIB slots follow the new ticket list by name.
                let old_index = ticket_positions(&self.cfg);
                let mut slots: Vec<CibSlot> = Vec::new();
                for t in &new.tickets {
                    slots.push(match old_index.get(t.name.as_str()) {
                        Some(&p) => std::mem::take(&mut self.cib[p]),
                        None => CibSlot::default(),
                    });
                }
                self.cib = slots;
                self.cfg = new;
                // Waiting tickets may have moved: queue them again.
                self.cib_queue.clear();
                self.batch_queue.clear();
                for i in 0..self.cib.len() {
                    self.cib[i].queued = false;
                    self.cib[i].batched = false;
                    self.cib_next(i);
                }
                info!("configuration reloaded");
            }
            Err(e) => error!("cannot apply the new configuration: {e}; keeping the running one"),
        }
    }

    fn log_tickets(&self) {
        let local = |t| super::dump::LocalTime::from(localtime::local(t));
        let views = (0..self.engine.ticket_count()).map(|i| self.engine.ticket_view(i));
        for line in super::dump::ticket_lines(views, &self.cfg, self.clock(), &local) {
            info!("{line}");
        }
    }

    // ---- UDP ----

    /// We woke up long after our deadline (the process was stopped or
    /// starved): whatever queued in the socket meanwhile is stale, and an
    /// old acknowledgement could be taken for an answer to a heartbeat we
    /// are about to send. Dropping it is no worse than losing it on the
    /// network.
    fn discard_queued_datagrams(&mut self, late_ms: u64) {
        if !self.started {
            return;
        }
        let mut buf = [0u8; 2048];
        let mut n = 0;
        loop {
            match self.udp.recv_from(&mut buf) {
                Ok(_) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        warn!("woke up {late_ms}ms late (paused?): discarded {n} queued datagrams");
    }

    fn on_udp(&mut self) {
        if !self.started {
            return;
        }
        let mut buf = [0u8; 2048];
        loop {
            match self.udp.recv_from(&mut buf) {
                Ok((n, src)) => {
                    let data = buf[..n].to_vec();
                    self.on_datagram(&data, src);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("UDP receive failed: {e}");
                    break;
                }
            }
        }
    }

    fn on_datagram(&mut self, data: &[u8], src: SocketAddr) {
        let Some(from_id) = wire::peek_from(data) else {
            debug!("datagram of {} bytes from {src} ignored", data.len());
            return;
        };
        let Some(m) = self.cfg.member_by_id(from_id).map(|m| m.index) else {
            warn!("unknown sender: {from_id:08x} (real: {})", src.ip());
            return;
        };
        if m == self.me {
            warn!("datagram from {src} claims to be from ourselves, dropped");
            return;
        }
        let member_addr = self.cfg.members[m].addr;
        let stats = &mut self.peers[m];
        stats.recv += 1;
        stats.last_recv = localtime::wall_ms().div_euclid(1000);
        // Without authentication the source address is the only check that
        // a datagram comes from the member it names (the C booth has none).
        if self.key.is_none() && !same_ip(src.ip(), member_addr) {
            warn!(
                "datagram claiming to be from {} came from {}, dropped",
                self.cfg.members[m].addr_string,
                src.ip()
            );
            stats.invalid += 1;
            return;
        }
        let now = Timestamp::from_system_time(SystemTime::now());
        let check = self.key.as_ref().map(|key| AuthCheck {
            key,
            guard: &mut self.guards[m],
            now,
        });
        let decoded = wire::decode_datagram_checked(data, check);
        if let Some(r) = self.replay.as_mut() {
            r.peer(m, self.guards[m].newest(), now);
            self.arm_replay_timer();
        }
        match decoded {
            Ok(msg) => {
                let c = self.clock();
                if let Err(Dropped::Invalid) = self.engine.handle_packet(c, m, &msg) {
                    self.peers[m].invalid += 1;
                }
            }
            Err(e) => {
                let addr = &self.cfg.members[m].addr_string;
                match e.counter() {
                    Some(PeerCounter::RecvError) => {
                        debug!("{addr}: bad datagram: {e}");
                        self.peers[m].recv_err += 1;
                    }
                    Some(PeerCounter::AuthFail) => {
                        warn!("{addr}: failed to authenticate ({e})");
                        self.peers[m].authfail += 1;
                    }
                    Some(PeerCounter::Invalid) => {
                        debug!("{addr}: invalid datagram: {e}");
                        self.peers[m].invalid += 1;
                    }
                    None => debug!("{addr}: {e}"),
                }
            }
        }
    }

    fn send_udp(&mut self, to: usize, msg: &wire::TicketMsg, resend: bool) {
        let now = Timestamp::from_system_time(SystemTime::now());
        let bytes = match wire::encode_ticket_msg(msg, self.key.as_ref().map(|k| (k, now))) {
            Ok(b) => b,
            Err(e) => {
                error!("cannot encode a message: {e}");
                return;
            }
        };
        let m = &self.cfg.members[to];
        let dest = SocketAddr::new(m.addr, m.port);
        let stats = &mut self.peers[to];
        stats.sent += 1;
        stats.resends += resend as u64;
        match self.udp.send_to(&bytes, dest) {
            Ok(n) if n == bytes.len() => {}
            Ok(_) => stats.sent_err += 1,
            Err(e) => {
                stats.sent_err += 1;
                debug!("sending to {dest} failed: {e}");
            }
        }
    }

    // ---- TCP clients ----

    fn on_accept(&mut self) {
        if !self.started {
            return;
        }
        loop {
            match self.tcp.accept() {
                Ok((mut stream, peer)) => {
                    if self.clients.len() >= MAX_CLIENTS && !self.evict_idle_client() {
                        warn!("too many client connections, refusing {peer}");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let t = self.token();
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        t,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        warn!("cannot watch client {peer}: {e}");
                        continue;
                    }
                    let deadline = self.now_ms() + CLIENT_READ_DEADLINE;
                    let timer = self.timers.insert(deadline, TimerKind::ClientDeadline(t));
                    let accepted_at = self.now_ms();
                    self.clients.insert(
                        t,
                        Client {
                            stream,
                            accepted_at,
                            inbuf: Vec::new(),
                            out: Vec::new(),
                            phase: Phase::Reading,
                            deadline: Some(timer),
                            writable: false,
                        },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("accept failed: {e}");
                    break;
                }
            }
        }
    }

    /// Makes room for a new connection by closing the oldest one that has
    /// not yet sent a complete request, so that idle connections cannot lock
    /// administrators out (clients waiting for a grant are kept).
    fn evict_idle_client(&mut self) -> bool {
        let oldest = self
            .clients
            .iter()
            .filter(|(_, c)| c.phase == Phase::Reading)
            .min_by_key(|(t, c)| (c.accepted_at, t.0))
            .map(|(&t, _)| t);
        match oldest {
            Some(t) => {
                debug!("connection table full: closing the oldest idle client");
                self.close_client(t);
                true
            }
            None => false,
        }
    }

    fn on_client(&mut self, t: Token, readable: bool, writable: bool, error: bool) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        if writable {
            c.writable = true;
        }
        if error {
            self.client_gone(t);
            return;
        }
        if readable {
            let mut gone = false;
            let mut chunk = [0u8; 1024];
            loop {
                match c.stream.read(&mut chunk) {
                    Ok(0) => {
                        // The client will send no more. A complete request is
                        // still served (it may have half-closed, bug 40 of the
                        // C booth); a partial one never completes.
                        if c.phase == Phase::Reading {
                            gone = true;
                        }
                        break;
                    }
                    Ok(n) => {
                        // Only the request matters; anything after it (C
                        // clients send 28 spare bytes) is read and dropped.
                        if c.phase == Phase::Reading && c.inbuf.len() < wire::MAX_MSG_LEN {
                            c.inbuf.extend_from_slice(&chunk[..n]);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
            if c.phase == Phase::Reading {
                self.try_request(t);
            }
            if gone
                && self
                    .clients
                    .get(&t)
                    .is_some_and(|c| c.phase == Phase::Reading)
            {
                self.close_client(t);
                return;
            }
        }
        self.flush_client(t);
    }

    fn try_request(&mut self, t: Token) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        let decoded = wire::decode_request(&c.inbuf, self.key.as_ref());
        let req = match decoded {
            Ok(Framing::Need(_)) => return,
            Ok(Framing::Complete { msg, .. }) => msg,
            Err(wire::DecodeError::Auth(e)) => {
                warn!("client failed to authenticate: {e}");
                let h = self.result_header(CL_RESULT, RLT_AUTH);
                self.reply_bytes(t, wire::encode_header_only(&h, self.sign()), true);
                return;
            }
            Err(e) => {
                debug!("bad client request: {e}");
                self.close_client(t);
                return;
            }
        };
        // Requests are processed once (the C daemon may run a buffered
        // grant again on later socket activity, bug 9).
        c.phase = Phase::Waiting;
        if let Some(d) = c.deadline.take() {
            self.timers.cancel(d);
        }
        if let (Some(key), Some(tag)) = (self.key.as_ref(), req.auth.as_ref()) {
            let _ = key;
            let now = Timestamp::from_system_time(SystemTime::now());
            if let Err(e) = self.client_guard.check(tag, now) {
                warn!("client request refused: {e}");
                let h = self.result_header(CL_RESULT, RLT_AUTH);
                self.reply_bytes(t, wire::encode_header_only(&h, self.sign()), true);
                return;
            }
            if let Some(r) = self.replay.as_mut() {
                r.clients(self.client_guard.newest());
                self.arm_replay_timer();
            }
        }
        self.dispatch(t, req.msg);
    }

    fn dispatch(&mut self, t: Token, req: Request) {
        let clock = self.clock();
        let id = t.0 as ClientId;
        match req {
            Request::Ticket(msg) => match msg.header.cmd {
                CMD_LIST => {
                    let text = self.engine.list_text(clock, &localtime::datetime);
                    self.text_reply(t, CL_LIST, text.as_bytes());
                }
                CMD_PEERS => {
                    let text = self.peers_text();
                    self.text_reply(t, CL_LIST, text.as_bytes());
                }
                CMD_GRANT | CMD_REVOKE => {
                    self.engine.handle_client(
                        clock,
                        id,
                        msg.header.cmd,
                        msg.header.options,
                        &msg.body.name,
                    );
                }
                _ => self.header_reply(t, RLT_INVALID_ARG),
            },
            Request::Attr { msg, strings_ok } => {
                let b = &msg.body;
                let cmd = msg.header.cmd;
                let r = match cmd {
                    ATTR_LIST => self
                        .engine
                        .attr_list(&b.ticket, &localtime::datetime)
                        .map(Some),
                    ATTR_GET => self
                        .engine
                        .attr_get(&b.ticket, &b.name)
                        .map(|v| Some(v + "\n")),
                    ATTR_SET if !strings_ok => {
                        warn!("attribute not stored: name or value not valid text");
                        Err(RLT_SYNC_FAIL)
                    }
                    ATTR_SET => self
                        .engine
                        .attr_set(clock, &b.ticket, &b.name, &b.value)
                        .map(|_| None),
                    ATTR_DEL => self
                        .engine
                        .attr_delete(clock, &b.ticket, &b.name)
                        .map(|_| None),
                    _ => Err(RLT_INVALID_ARG),
                };
                match r {
                    Ok(Some(text)) => self.text_reply(t, cmd, text.as_bytes()),
                    Ok(None) => self.header_reply(t, RLT_SUCCESS),
                    Err(code) => self.header_reply(t, code),
                }
            }
            Request::Other(_) => self.header_reply(t, RLT_INVALID_ARG),
        }
    }

    fn sign(&self) -> Option<(&AuthKey, Timestamp)> {
        self.key
            .as_ref()
            .map(|k| (k, Timestamp::from_system_time(SystemTime::now())))
    }

    fn result_header(&self, cmd: u32, result: u32) -> Header {
        let mut h = Header::new(cmd, self.cfg.members[self.me].site_id);
        h.result = result;
        h
    }

    fn header_reply(&mut self, t: Token, result: u32) {
        let h = self.result_header(CL_RESULT, result);
        let bytes = wire::encode_header_only(&h, self.sign());
        self.reply_bytes(t, bytes, true);
    }

    fn text_reply(&mut self, t: Token, cmd: u32, text: &[u8]) {
        let h = self.result_header(cmd, RLT_SUCCESS);
        match wire::encode_text_reply(&h, text, self.sign()) {
            Ok(bytes) => self.reply_bytes(t, bytes, true),
            Err(e) => {
                error!("cannot encode a reply: {e}");
                self.close_client(t);
            }
        }
    }

    fn reply_bytes(&mut self, t: Token, bytes: Vec<u8>, last: bool) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.out.extend_from_slice(&bytes);
            if last {
                c.phase = Phase::Closing;
            } else if c.phase == Phase::Reading {
                c.phase = Phase::Waiting;
            }
            self.flush_client(t);
        }
    }

    fn flush_client(&mut self, t: Token) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        while !c.out.is_empty() && c.writable {
            match c.stream.write(&c.out) {
                Ok(0) => break,
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.writable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.client_gone(t);
                    return;
                }
            }
        }
        if c.out.is_empty() && c.phase == Phase::Closing {
            self.close_client(t);
        }
    }

    /// The peer went away: forget any request it was waiting on.
    fn client_gone(&mut self, t: Token) {
        self.engine.client_gone(t.0 as ClientId);
        self.close_client(t);
    }

    fn close_client(&mut self, t: Token) {
        if let Some(mut c) = self.clients.remove(&t) {
            if let Some(d) = c.deadline.take() {
                self.timers.cancel(d);
            }
            let _ = self.poll.registry().deregister(&mut c.stream);
            if c.phase == Phase::Waiting {
                self.engine.client_gone(t.0 as ClientId);
            }
        }
    }

    fn peers_text(&self) -> String {
        let mut s = String::new();
        for m in &self.cfg.members {
            if m.index == self.me {
                continue;
            }
            let p = &self.peers[m.index];
            s.push_str(&format!(
                "{:<12} {}, last recv: {}\n\tSent pkts:{} error:{} resends:{}\n\tRecv pkts:{} error:{} authfail:{} invalid:{}\n\n",
                m.kind.as_str(),
                m.addr_string,
                localtime::datetime(p.last_recv),
                p.sent,
                p.sent_err,
                p.resends,
                p.recv,
                p.recv_err,
                p.authfail,
                p.invalid
            ));
        }
        s
    }

    // ---- child processes ----

    fn spawn(
        &mut self,
        program: &str,
        args: &[String],
        env: &[(String, String)],
        purpose: Purpose,
        limit: Ms,
    ) -> Option<ChildId> {
        let tokens = (self.token(), self.token());
        let program = program.to_string();
        match self
            .children
            .spawn(self.poll.registry(), &program, args, env, purpose, tokens)
        {
            Ok(id) => {
                let at = self.now_ms() + limit;
                let timer = self.timers.insert(at, TimerKind::ChildDeadline(id));
                self.child_deadlines.insert(id, timer);
                debug!("started {program} {}", args.join(" "));
                Some(id)
            }
            Err(e) => {
                error!("cannot run {program}: {e}");
                None
            }
        }
    }

    fn reap(&mut self) {
        for f in self.children.reap(self.poll.registry()) {
            if let Some(timer) = self.child_deadlines.remove(&f.id) {
                self.timers.cancel(timer);
            }
            for line in String::from_utf8_lossy(&f.stderr)
                .lines()
                .filter(|l| !l.is_empty())
            {
                debug!("{}: {line}", f.program);
            }
            self.child_done(f);
        }
    }

    fn child_done(&mut self, f: Finished<Purpose>) {
        let ok = f.success();
        let code = f.code();
        if let Purpose::CibLoadAll = f.purpose {
            self.loads_running -= 1;
            if !self.loaded_all(&f) {
                self.load_one_by_one();
            }
            if self.loads_pending.is_empty() && self.loads_running == 0 && !self.started {
                self.start_engine();
            }
            return;
        }
        match f.purpose {
            Purpose::CibLoadAll => {}
            Purpose::CibLoad { ticket } => {
                self.loads_running -= 1;
                let name = &self.cfg.tickets[ticket].name;
                if ok {
                    match cib::parse_load(&String::from_utf8_lossy(&f.stdout)) {
                        Ok(st) => self.loaded[ticket] = Some(st),
                        Err(e) => error!("{name}: {e}"),
                    }
                } else if !f.killed && cib::load_status_is_missing(code) {
                    info!("command \"crm_ticket -t {name} -q\", ticket not found");
                    self.cib[ticket].absent = true;
                } else {
                    error!("command \"crm_ticket -t {name} -q\" exit code {code}");
                }
                self.start_loads();
                if self.loads_pending.is_empty() && self.loads_running == 0 && !self.started {
                    self.start_engine();
                }
            }
            Purpose::CibWrite { ticket, write } => {
                self.cib_writers -= 1;
                self.cib_start_queued();
                if ticket >= self.cib.len() {
                    return;
                }
                let slot = &mut self.cib[ticket];
                slot.inflight = None;
                if ok {
                    debug!("{}: CIB updated (granted={})", write.ticket, write.granted);
                    let done = slot.inflight_seq;
                    self.cib_confirmed(ticket, &write, done);
                } else {
                    slot.written = None;
                    slot.absent = false;
                    slot.failures += 1;
                    error!(
                        "{}: crm_ticket failed (exit code {code}), will retry",
                        write.ticket
                    );
                    // Retry the newest wanted state after a growing pause.
                    if slot.pending.is_none() {
                        slot.pending = Some(write);
                    }
                    let pause = (1000u64 << slot.failures.min(5)).min(MAX_CIB_BACKOFF);
                    let at = self.now_ms() + pause;
                    let timer = self.timers.insert(at, TimerKind::CibRetry(ticket));
                    self.cib[ticket].retry = Some(timer);
                    return;
                }
                self.cib_next(ticket);
            }
            Purpose::CibWriteRemoved { ticket } => {
                if ok {
                    info!("{ticket}: revoked in the CIB (no longer configured)");
                } else {
                    error!("{ticket}: revoking it in the CIB failed (exit code {code}); it is no longer configured, revoke it by hand");
                }
            }
            Purpose::CibBatch { items } => {
                self.cib_writers -= 1;
                self.batch_running = false;
                self.cib_batch_done(items, ok, code);
                self.cib_start_queued();
            }
            Purpose::Attr {
                ticket,
                name,
                value,
                attempt,
            } => {
                if !ok && attempt < ATTR_ATTEMPTS {
                    self.store_attr_pacemaker(ticket, name, value, attempt + 1);
                } else if !ok {
                    error!("{ticket}: storing attribute '{name}' failed (exit code {code})");
                }
            }
            Purpose::Handler {
                ticket,
                run,
                mut rest,
                args,
                env,
            } => {
                if !ok {
                    let why = if f.killed {
                        "timed out".to_string()
                    } else {
                        format!("exit code {code}")
                    };
                    warn!("handler \"{}\" failed: {why}", f.program);
                }
                if ok && !rest.is_empty() {
                    let next = rest.remove(0);
                    self.run_handler_step(ticket, run, next, rest, args, env);
                    return;
                }
                let c = self.clock();
                self.engine.handle_handler_exit(c, ticket, run, ok);
            }
        }
    }

    // ---- engine outputs ----

    fn drain_engine(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Send { to, msg, resend } => self.send_udp(to, &msg, resend),
                Output::WriteCib(w) => self.write_cib(w),
                Output::RunHandler {
                    ticket,
                    run,
                    argv,
                    env,
                } => self.run_handler(ticket, run, argv, env),
                Output::StopHandler { ticket, run } => self.stop_handler(ticket, run),
                Output::ClientReply { client, msg, last } => {
                    let t = Token(client as usize);
                    let bytes = match wire::encode_ticket_msg(&msg, self.sign()) {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            error!("cannot encode a reply: {e}");
                            continue;
                        }
                    };
                    // "succeeded" means the CIB has it, as with the C daemon
                    // (which runs crm_ticket before it answers).
                    let slot = self
                        .cfg
                        .tickets
                        .iter()
                        .position(|t| t.name == msg.body.name);
                    match slot {
                        Some(i) if msg.header.result == RLT_SUCCESS && self.cib[i].busy() => {
                            let seq = self.cib[i].submitted;
                            self.cib[i].held_replies.push((seq, t, bytes, last));
                        }
                        _ => self.reply_bytes(t, bytes, last),
                    }
                }
                Output::StoreAttr {
                    ticket,
                    name,
                    value,
                } => self.store_attr(ticket, name, value),
            }
        }
        self.arm_engine_timer();
    }

    fn write_cib(&mut self, w: CibWrite) {
        let Some(i) = self.engine.ticket_index(&w.ticket) else {
            self.write_cib_removed(w);
            return;
        };
        match &self.store {
            Store::Pacemaker(_) => {
                // A newer state supersedes a queued older one.
                self.cib[i].submitted += 1;
                self.cib[i].pending = Some(w);
                self.cib_next(i);
            }
            Store::StateDir(sd) => match sd.write(&w) {
                Ok(()) => {
                    let c = self.clock();
                    self.engine.handle_cib_written(c, i, w.granted);
                }
                Err(e) => error!("{}: cannot store ticket state: {e}", w.ticket),
            },
            Store::None => {
                let c = self.clock();
                self.engine.handle_cib_written(c, i, w.granted);
            }
        }
    }

    /// The revoke of a ticket a reload removed from the configuration: it
    /// has no slot any more, so it is written once, outside the queues.
    fn write_cib_removed(&mut self, w: CibWrite) {
        match &self.store {
            Store::Pacemaker(_) => {
                let argv = cib::write_argv(&w, &self.cfg.name);
                let program = self.crm_ticket().to_string();
                self.spawn(
                    &program,
                    &argv,
                    &[],
                    Purpose::CibWriteRemoved { ticket: w.ticket },
                    CRM_TICKET_LIMIT,
                );
            }
            Store::StateDir(sd) => {
                if let Err(e) = sd.write(&w) {
                    error!("{}: cannot store ticket state: {e}", w.ticket);
                }
            }
            Store::None => {}
        }
    }

    /// A write of ticket `i` numbered `seq` is in the CIB: answer the
    /// clients waiting for it and tell the engine.
    fn cib_confirmed(&mut self, i: usize, w: &CibWrite, seq: u64) {
        let slot = &mut self.cib[i];
        slot.failures = 0;
        slot.written = Some((w.granted, w.owner));
        slot.absent = false;
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut slot.held_replies)
            .into_iter()
            .partition(|r| r.0 <= seq);
        slot.held_replies = wait;
        for (_, t, bytes, last) in ready {
            self.reply_bytes(t, bytes, last);
        }
        let c = self.clock();
        self.engine.handle_cib_written(c, i, w.granted);
    }

    /// Whether ticket `i`'s pending write only renews what the CIB holds.
    fn batchable(&self, i: usize) -> bool {
        let slot = &self.cib[i];
        self.cibadmin.is_some()
            && slot.pending.as_ref().is_some_and(|w| {
                slot.written == Some((w.granted, w.owner)) || (slot.absent && !w.granted)
            })
    }

    /// Starts the next queued write of ticket `i` if none is running.
    /// Renewals join the next batch; state changes (grant, revoke, a new
    /// owner) each get their own `crm_ticket`, as in the C booth.
    fn cib_next(&mut self, i: usize) {
        let slot = &self.cib[i];
        if slot.inflight.is_some() || slot.retry.is_some() || slot.pending.is_none() {
            return;
        }
        if self.batchable(i) {
            let slot = &mut self.cib[i];
            if !slot.batched {
                slot.batched = true;
                self.batch_queue.push(i);
            }
            self.arm_batch();
            return;
        }
        let slot = &mut self.cib[i];
        if self.cib_writers >= self.max_cib_writers {
            if !slot.queued {
                slot.queued = true;
                self.cib_queue.push_back(i);
            }
            return;
        }
        let Some(w) = slot.pending.take() else { return };
        let argv = cib::write_argv(&w, &self.cfg.name);
        let program = self.crm_ticket().to_string();
        let id = self.spawn(
            &program,
            &argv,
            &[],
            Purpose::CibWrite {
                ticket: i,
                write: w.clone(),
            },
            CRM_TICKET_LIMIT,
        );
        match id {
            Some(id) => {
                self.cib_writers += 1;
                self.cib[i].inflight = Some(id);
                self.cib[i].inflight_seq = self.cib[i].submitted;
            }
            None => {
                let slot = &mut self.cib[i];
                slot.pending = Some(w);
                slot.failures += 1;
                let pause = (1000u64 << slot.failures.min(5)).min(MAX_CIB_BACKOFF);
                let at = self.now_ms() + pause;
                self.cib[i].retry = Some(self.timers.insert(at, TimerKind::CibRetry(i)));
            }
        }
    }

    /// Schedules the next batch unless one is running or scheduled (a
    /// running batch schedules the next when it ends).
    fn arm_batch(&mut self) {
        if self.batch_timer.is_none() && !self.batch_running && !self.batch_due {
            let at = self.now_ms() + CIB_BATCH_DELAY;
            self.batch_timer = Some(self.timers.insert(at, TimerKind::CibBatch));
        }
    }

    /// Writes the queued renewals in one `cibadmin` run (as many as fit in
    /// one argument; the rest go in the next run, started when this ends).
    fn cib_flush_batch(&mut self) {
        if self.batch_running || self.batch_queue.is_empty() {
            return;
        }
        if self.cib_writers >= self.max_cib_writers {
            self.batch_due = true;
            return;
        }
        let Some(program) = self.cibadmin.clone() else {
            // Batching was given up: route everyone to crm_ticket.
            for i in std::mem::take(&mut self.batch_queue) {
                self.cib[i].batched = false;
                self.cib_next(i);
            }
            return;
        };
        let mut items = Vec::new();
        let mut elements = Vec::new();
        let mut bytes = cib::BATCH_XML_OVERHEAD;
        let mut left = Vec::new();
        let mut reroute = Vec::new();
        for i in std::mem::take(&mut self.batch_queue) {
            if i >= self.cib.len() || !self.cib[i].batched {
                continue;
            }
            if !left.is_empty() {
                left.push(i);
                continue;
            }
            let ready = self.batchable(i) && {
                let slot = &self.cib[i];
                slot.inflight.is_none() && slot.retry.is_none()
            };
            if !ready {
                self.cib[i].batched = false;
                reroute.push(i);
                continue;
            }
            let slot = &mut self.cib[i];
            let Some(w) = slot.pending.take() else {
                continue;
            };
            let e = cib::batch_element(&w, &self.cfg.name);
            if bytes + e.len() > cib::MAX_BATCH_XML && !elements.is_empty() {
                slot.pending = Some(w);
                left.push(i);
                continue;
            }
            bytes += e.len();
            slot.batched = false;
            items.push((i, w, slot.submitted));
            elements.push(e);
        }
        self.batch_queue = left;
        for i in reroute {
            self.cib_next(i);
        }
        if items.is_empty() {
            return;
        }
        self.batch_full = !self.batch_queue.is_empty();
        let argv = cib::batch_argv(&elements);
        let writes: Vec<(usize, CibWrite)> =
            items.iter().map(|(i, w, _)| (*i, w.clone())).collect();
        let n = items.len();
        match self.spawn(
            &program,
            &argv,
            &[],
            Purpose::CibBatch { items },
            CRM_TICKET_LIMIT,
        ) {
            Some(id) => {
                debug!("writing {n} ticket renewals in one CIB update");
                self.cib_writers += 1;
                self.batch_running = true;
                for (i, _) in writes {
                    self.cib[i].inflight = Some(id);
                    self.cib[i].inflight_seq = self.cib[i].submitted;
                }
            }
            None => {
                // Nothing was written: the renewals go one by one.
                warn!("cannot run {program}: renewals are written with crm_ticket one by one");
                self.cibadmin = None;
                for (i, w) in writes {
                    self.cib[i].pending.get_or_insert(w);
                    self.cib_next(i);
                }
            }
        }
    }

    /// A batch ended: confirm its writes, or retry them one by one.
    fn cib_batch_done(&mut self, items: Vec<(usize, CibWrite, u64)>, ok: bool, code: i32) {
        if ok {
            self.batch_failures = 0;
        } else {
            self.batch_failures += 1;
            error!(
                "writing {} ticket renewals with cibadmin failed (exit code {code}); writing them with crm_ticket",
                items.len()
            );
            if self.batch_failures >= CIB_BATCH_MAX_FAILURES && self.cibadmin.is_some() {
                warn!("cibadmin failed {CIB_BATCH_MAX_FAILURES} times in a row: renewals are written with crm_ticket one by one from now on");
                self.cibadmin = None;
            }
        }
        let mut touched = Vec::with_capacity(items.len());
        for (i, w, seq) in items {
            // A reload may have moved the ticket.
            let i = match self.cfg.tickets.get(i) {
                Some(t) if t.name == w.ticket => i,
                _ => match self.cfg.tickets.iter().position(|t| t.name == w.ticket) {
                    Some(p) => p,
                    None => continue,
                },
            };
            self.cib[i].inflight = None;
            if ok {
                self.cib_confirmed(i, &w, seq);
            } else {
                let slot = &mut self.cib[i];
                // Unknown now: the next write states everything again.
                slot.written = None;
                slot.absent = false;
                if slot.pending.is_none() {
                    slot.pending = Some(w);
                }
            }
            touched.push(i);
        }
        for i in touched {
            self.cib_next(i);
        }
        if self.batch_full {
            // More renewals wait than one run could carry: no pause.
            self.cib_flush_batch();
        } else if !self.batch_queue.is_empty() {
            self.arm_batch();
        }
    }

    /// Gives free writers to the tickets waiting for one, oldest first
    /// (a due batch first: it serves many tickets).
    fn cib_start_queued(&mut self) {
        if self.batch_due && self.cib_writers < self.max_cib_writers {
            self.batch_due = false;
            self.cib_flush_batch();
        }
        while self.cib_writers < self.max_cib_writers {
            let Some(i) = self.cib_queue.pop_front() else {
                return;
            };
            if let Some(slot) = self.cib.get_mut(i) {
                slot.queued = false;
                self.cib_next(i);
            }
        }
    }

    fn store_attr(&mut self, ticket: String, name: String, value: Option<String>) {
        match &self.store {
            Store::Pacemaker(_) => self.store_attr_pacemaker(ticket, name, value, 1),
            Store::StateDir(sd) => {
                if let Err(e) = sd.set_attr(&ticket, &name, value.as_deref()) {
                    error!("{ticket}: cannot store attribute '{name}': {e}");
                }
            }
            Store::None => {}
        }
    }

    fn store_attr_pacemaker(
        &mut self,
        ticket: String,
        name: String,
        value: Option<String>,
        attempt: u32,
    ) {
        let argv = cib::attr_argv(&ticket, &name, value.as_deref());
        let program = self.crm_ticket().to_string();
        self.spawn(
            &program,
            &argv,
            &[],
            Purpose::Attr {
                ticket,
                name,
                value,
                attempt,
            },
            CRM_TICKET_LIMIT,
        );
    }

    fn handler_limit(&self, ticket: usize) -> Ms {
        // A handler slower than the renewal period cannot keep a ticket.
        self.cfg
            .tickets
            .get(ticket)
            .map_or(60_000, |t| t.renewal_freq.as_millis() as Ms)
    }

    fn run_handler(
        &mut self,
        ticket: usize,
        run: HandlerRun,
        argv: Vec<String>,
        env: Vec<(String, String)>,
    ) {
        let Some((path, args)) = argv.split_first() else {
            let c = self.clock();
            self.engine.handle_handler_exit(c, ticket, run, false);
            return;
        };
        let path = PathBuf::from(path);
        let args = args.to_vec();
        if path.is_dir() {
            match handler_dir_entries(&path) {
                Ok(mut progs) if !progs.is_empty() => {
                    let first = progs.remove(0);
                    self.run_handler_step(ticket, run, first, progs, args, env);
                }
                Ok(_) => {
                    let c = self.clock();
                    self.engine.handle_handler_exit(c, ticket, run, true);
                }
                Err(e) => {
                    warn!("{}: cannot read handler directory: {e}", path.display());
                    let c = self.clock();
                    self.engine.handle_handler_exit(c, ticket, run, false);
                }
            }
        } else {
            self.run_handler_step(ticket, run, path, Vec::new(), args, env);
        }
    }

    fn run_handler_step(
        &mut self,
        ticket: usize,
        run: HandlerRun,
        program: PathBuf,
        rest: Vec<PathBuf>,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) {
        let limit = self.handler_limit(ticket);
        let prog = program.display().to_string();
        let purpose = Purpose::Handler {
            ticket,
            run,
            rest,
            args: args.clone(),
            env: env.clone(),
        };
        if self.spawn(&prog, &args, &env, purpose, limit).is_none() {
            let c = self.clock();
            self.engine.handle_handler_exit(c, ticket, run, false);
        }
    }

    fn stop_handler(&mut self, ticket: usize, run: HandlerRun) {
        let victims = self.children.find(|p| {
            matches!(p, Purpose::Handler { ticket: t, run: r, .. } if *t == ticket && *r == run)
        });
        for id in victims {
            self.children.kill(id);
        }
    }
}

/// The programs of a handler directory, in name order: executable regular
/// files only, names starting with '.' skipped (the C booth runs every entry
/// and fails on non-executables).
fn handler_dir_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    let mut progs = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let md = std::fs::metadata(e.path())?;
        if md.is_file() && md.permissions().mode() & 0o111 != 0 {
            progs.push(e.path());
        } else {
            debug!("{}: not an executable file, skipped", e.path().display());
        }
    }
    progs.sort();
    Ok(progs)
}

/// Compares addresses across IPv4 and IPv4-mapped IPv6 forms.
fn same_ip(a: std::net::IpAddr, b: std::net::IpAddr) -> bool {
    use std::net::IpAddr::*;
    let canon = |ip| match ip {
        V6(v6) => v6.to_ipv4_mapped().map_or(V6(v6), V4),
        v4 => v4,
    };
    canon(a) == canon(b)
}

/// The program for batched renewal writes: `BOOTH_CIBADMIN` if set (empty
/// disables batching), none when `BOOTH_CRM_TICKET` replaces crm_ticket
/// (a wrapper or test double sees every write), else `cibadmin`.
fn batch_program() -> Option<String> {
    match std::env::var(CIBADMIN_ENV) {
        Ok(p) if p.is_empty() => None,
        Ok(p) => Some(p),
        Err(_) if std::env::var_os(super::start::CRM_TICKET_ENV).is_some() => None,
        Err(_) => Some(cib::CIBADMIN.to_string()),
    }
}

/// Each configured ticket's position, by name.
fn ticket_positions(cfg: &Config) -> HashMap<&str, usize> {
    cfg.tickets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect()
}
