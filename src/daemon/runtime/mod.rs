//! The event loop: one thread, one mio `Poll`. Sources: the UDP socket, the
//! TCP listener and each client connection, the pipes of child processes,
//! and the signal pipe (SIGCHLD ends the state directory's store
//! processes too). Deadlines (the engine's, the CIB writer's, client
//! read deadlines, child time limits) sit in a timer wheel, and the loop
//! sleeps until the earliest: with nothing to do it does not wake.
//!
//! This is an executor. Decisions live in the [`Core`], a state machine
//! that never reads a clock nor touches a process: the protocol engine,
//! the CIB writer (batching, retries, held replies, start-up loads) and
//! the reload decision. Events become calls on it, its outputs are
//! executed here, by responsibility: `peers` (UDP), `clients` (TCP),
//! `jobs` (child processes and handlers), `store` (the writer's runs and
//! start-up).
//!
//! Tickets are named across asynchronous boundaries by their [`TicketId`]
//! or name, never by their position in the configuration, which a reload
//! may change.

mod alerts;
mod clients;
mod disk;
mod jobs;
mod json;
mod peers;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::{Duration, SystemTime};

use log::{error, info, warn};
use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token};

use super::children::{ChildId, Children};
use super::localtime;
use super::lockfile::LockFile;
use super::logging;
use super::promises::{self, PromiseFile};
use super::replaymarks;
use super::signals::Signals;
use super::timer::BootClock;
use super::timer::{Ms, TimerId, TimerWheel};
use crate::cib::StateDir;
use crate::config::Config;
use crate::core::{Core, Reloaded};
use crate::engine::{Clock, Promise, TicketId, Time};
use crate::wire::{AuthKey, ReplayGuard, Timestamp};

use clients::Client;
use jobs::Jobs;
use peers::{Drops, PeerStats};

pub use store::CIBADMIN_ENV;

const UDP: Token = Token(0);
const TCP: Token = Token(1);
const SIGNALS: Token = Token(2);
const FIRST_DYNAMIC: usize = 16;

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
    /// The core's next deadline (engine, CIB writer's batch or retry).
    Core,
    ClientDeadline(Token),
    ChildDeadline(ChildId),
    /// Write the replay marks (at most once a second).
    ReplayMarks,
    /// The reachability probe (only while alert agents are configured).
    AlertProbe,
    /// Watch the UDP socket again after a wave (peers.rs, `gather_wave`).
    GatherEnd,
    /// The time limit of the state directory's store process (by serial).
    StoreDeadline(u64),
    /// Trim the heap again after a burst (peers.rs, `trim_after_burst`).
    Trim,
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
    /// The promise record, opened, and what it held for this boot.
    pub promises: Option<(PromiseFile, BTreeMap<String, Promise>)>,
    pub seed: u64,
    /// Where the alert agents are (none there: no alerts).
    pub alerts_dir: std::path::PathBuf,
    /// Called once the daemon answers clients (to release the parent).
    pub on_ready: Option<Box<dyn FnOnce()>>,
    /// Installed before the lock file names the daemon (see
    /// [`Daemon::signals`]).
    pub signals: Signals,
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
    core: Core,
    clock: BootClock,
    timers: TimerWheel<TimerKind>,
    core_timer: Option<(TimerId, Ms)>,
    jobs: Jobs,
    /// The state directory's stores (child processes), from the first.
    stores: Option<disk::Stores>,
    /// The time limit of the store process running (timer, serial).
    store_timer: Option<(TimerId, u64)>,
    next_token: usize,
    clients: HashMap<Token, Client>,
    peers: Vec<PeerStats>,
    drops: Drops,
    /// Given up when no descriptor is left, to accept and close a
    /// connection that would otherwise wait unseen (see `on_accept`).
    spare_fd: Option<std::fs::File>,
    /// Work left for the next iteration by a per-iteration budget (the
    /// sockets are edge-triggered: no new event would report it).
    udp_more: bool,
    accept_more: bool,
    /// Heartbeats and updates sent in this iteration (a renewal wave).
    wave_sent: usize,
    /// This iteration ran the engine's deadline or ended a gathering
    /// window: what it sends is a renewal wave (or its next round), not an
    /// answer a client may be waiting for.
    wave_timer: bool,
    /// Datagrams sent in this iteration, and client replies by their size
    /// (peers.rs, `trim_after_burst`).
    burst: usize,
    /// The UDP socket is unwatched until this timer (a wave's
    /// acknowledgements are gathered).
    gather_timer: Option<TimerId>,
    trim_timer: Option<TimerId>,
    /// The largest wave gathered (datagrams the receive buffer holds).
    gather_max: Option<usize>,
    guards: Vec<ReplayGuard>,
    client_guard: ReplayGuard,
    replay: Option<replaymarks::Recorder>,
    replay_timer: Option<TimerId>,
    /// Where promises are recorded before anything is sent (promises.rs).
    promises: Option<PromiseFile>,
    /// SIGHUP came: reload once the outputs of this iteration are executed.
    reload_wanted: bool,
    started: bool,
    lock: Option<LockFile>,
    on_ready: Option<Box<dyn FnOnce()>>,
    stop: bool,
    alerting: alerts::AlertState,
}

/// How soon a held-back burst of log lines is summed up at the latest.
const LOG_TICK: Duration = Duration::from_secs(1);

impl Daemon {
    /// The signals the daemon handles. Installed before the lock file
    /// names the daemon: a monitor or a test that sends SIGUSR1 or SIGHUP
    /// as soon as it sees the pid killed the daemon (their default action)
    /// while it was still loading (found by `cli_binary` run as non-root).
    pub fn signals() -> io::Result<Signals> {
        Signals::install(&[
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGCHLD,
        ])
    }

    /// Boxed: the daemon lives on the heap, not in the frame of start-up
    /// code whose stack pages would stay resident for the daemon's life.
    pub fn new(s: Setup) -> io::Result<Box<Daemon>> {
        let poll = Poll::new()?;
        let signals = s.signals;
        jobs::raise_fd_limit();
        let n = s.cfg.members.len();
        let skew = s.cfg.maxtimeskew;
        let clock = BootClock::start();
        let mut core = Core::new(s.cfg.clone(), s.me, s.seed, store::backend(&s.store));
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
        let (promises, mut recorded) = match s.promises {
            Some((f, r)) => (Some(f), r),
            None => (None, BTreeMap::new()),
        };
        // What a previous run of this daemon (same boot) promised, on
        // this run's clock. (Changed in place: collecting into a B-tree
        // sorts, and each sort is another 4 kB of locked code, sort.rs.)
        let origin = clock.origin() as i64;
        for p in recorded.values_mut() {
            *p = promises::shifted(p, -origin);
        }
        core.restore_promises(recorded);
        Ok(Box::new(Daemon {
            promises,
            me: s.me,
            key: s.key,
            store: s.store,
            poll,
            udp: s.udp,
            tcp: s.tcp,
            signals,
            core,
            clock,
            timers: TimerWheel::new(0),
            core_timer: None,
            jobs: Jobs::new(Children::default()),
            stores: None,
            store_timer: None,
            next_token: FIRST_DYNAMIC,
            clients: HashMap::new(),
            peers: (0..n).map(|_| PeerStats::default()).collect(),
            drops: Drops::default(),
            spare_fd: std::fs::File::open("/dev/null").ok(),
            udp_more: false,
            accept_more: false,
            wave_sent: 0,
            wave_timer: false,
            burst: 0,
            gather_timer: None,
            trim_timer: None,
            gather_max: None,
            guards,
            client_guard,
            replay,
            replay_timer: None,
            reload_wanted: false,
            started: false,
            lock: s.lock,
            on_ready: s.on_ready,
            stop: false,
            alerting: alerts::AlertState::new(s.alerts_dir, n),
            cfg: s.cfg,
        }))
    }

    /// Milliseconds since start on a clock that counts suspend.
    fn now_ms(&self) -> Ms {
        self.clock.now_ms()
    }

    fn now(&self) -> Time {
        Time::from_ms(self.now_ms())
    }

    fn engine_clock(&self) -> Clock {
        Clock::new(self.now(), localtime::wall_ms())
    }

    fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    /// Runs until SIGTERM/SIGINT; returns the exit status.
    pub fn run(mut self: Box<Self>) -> i32 {
        self.poll
            .registry()
            .register(&mut self.signals.rx, SIGNALS, Interest::READABLE)
            .expect("register signal pipe");
        self.begin_loading();
        self.load_alerts();
        let mut events = Events::with_capacity(256);
        while !self.stop {
            let wakeup = self.timers.next_wakeup();
            let timeout = if self.udp_more || self.accept_more {
                // Budgeted work is left over: look at the sockets again
                // right away, after timers and other events had their turn.
                Some(Duration::ZERO)
            } else {
                let t = wakeup.map(|at| Duration::from_millis(at.saturating_sub(self.now_ms())));
                // A held-back burst of log lines is summed up within a
                // second of its end, even when nothing else happens.
                if logging::holding() {
                    Some(t.map_or(LOG_TICK, |t| t.min(LOG_TICK)))
                } else {
                    t
                }
            };
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
            let (mut udp, mut accept) = (self.udp_more, self.accept_more);
            for ev in events.iter() {
                match ev.token() {
                    SIGNALS => self.on_signals(),
                    UDP => udp = true,
                    TCP => accept = true,
                    t if self.jobs.owns(t) => self.jobs.on_readable(self.poll.registry(), t),
                    t => self.on_client(t, ev.is_readable(), ev.is_writable(), ev.is_error()),
                }
            }
            if udp {
                self.on_udp();
            }
            if accept {
                self.on_accept();
            }
            self.reap();
            self.reap_stores();
            self.drain();
            self.gather_wave();
            self.trim_after_burst();
            logging::tick();
        }
        info!("exiting");
        if let Some(s) = self.stores.take() {
            s.finish(std::time::Duration::from_millis(store::STORE_LIMIT));
        }
        if let Some(r) = self.replay.as_mut() {
            r.flush();
        }
        if let Some(lock) = self.lock.take() {
            let _ = lock.remove();
        }
        0
    }

    // ---- outputs ----

    fn record_promises(&mut self, changes: Vec<(std::sync::Arc<str>, Promise)>) {
        if let Some(f) = self.promises.as_mut() {
            let origin = self.clock.origin() as i64;
            let abs: Vec<(std::sync::Arc<str>, Promise)> = changes
                .iter()
                .map(|(n, p)| (n.clone(), promises::shifted(p, origin)))
                .collect();
            f.record(&abs);
        }
    }

    /// Executes what the core asks for until it has nothing more, then
    /// applies a reload that SIGHUP asked for and re-arms its timer.
    fn drain(&mut self) {
        loop {
            while let Some(o) = self.core.poll_output() {
                self.core_output(o);
            }
            if !std::mem::take(&mut self.reload_wanted) {
                break;
            }
            self.reload();
        }
        if self.on_ready.is_some() && self.core.writer().load_retrying() {
            self.running_without_cib();
        }
        self.arm_core_timer();
        self.watch_alerts();
    }

    // ---- timers ----

    fn run_timers(&mut self) {
        let now = self.now_ms();
        for (_, kind) in self.timers.expire(now) {
            match kind {
                TimerKind::Core => {
                    self.core_timer = None;
                    // Renewals sent now leave as a wave (`gather_wave`).
                    self.wave_timer = true;
                    let c = self.engine_clock();
                    self.core.handle_timeout(c);
                }
                TimerKind::ClientDeadline(t) => self.client_deadline(t),
                TimerKind::ChildDeadline(id) => self.jobs.deadline(id),
                TimerKind::ReplayMarks => {
                    self.replay_timer = None;
                    if let Some(r) = self.replay.as_mut() {
                        r.flush();
                    }
                    self.arm_replay_timer();
                }
                TimerKind::AlertProbe => self.probe_tick(),
                TimerKind::Trim => self.trim_again(),
                TimerKind::GatherEnd => {
                    self.wave_timer = true;
                    self.gather_end();
                }
                TimerKind::StoreDeadline(serial) => self.store_deadline(serial),
            }
        }
    }

    /// Keeps one wheel entry at the core's next deadline.
    fn arm_core_timer(&mut self) {
        let want = self.core.next_deadline().map(|t| t.ms());
        self.core_timer = rearm(&mut self.timers, self.core_timer, want, TimerKind::Core);
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
                libc::SIGHUP => self.reload_wanted = true,
                libc::SIGUSR1 => self.log_tickets(),
                _ => {} // SIGCHLD: reaped below
            }
        }
    }

    /// Re-reads the configuration; the core decides whether it applies
    /// now, after the start-up load, or not at all.
    fn reload(&mut self) {
        let path = self.cfg.path.clone();
        info!("reloading {}", path.display());
        self.load_alerts();
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
        let clock = self.engine_clock();
        let stored = self.stored_states(&self.core.added_by(&new));
        let r = self.core.reload_stored(clock, new, stored);
        self.reloaded(r);
    }

    /// Reports what became of a reload (now or, deferred, later).
    pub(super) fn reloaded(&mut self, r: Reloaded) {
        match r {
            Reloaded::Applied => {
                self.cfg = self.core.config().clone();
                info!("configuration reloaded");
            }
            Reloaded::Deferred => {
                info!("the tickets' state is still loading: the new configuration is applied after")
            }
            Reloaded::Reading => {
                info!("reading the added tickets' state from the CIB: the new configuration is applied after")
            }
            Reloaded::Rejected(e) => {
                error!("cannot apply the new configuration: {e}; keeping the running one")
            }
        }
    }

    fn log_tickets(&self) {
        let local = |t| super::dump::LocalTime::from(localtime::local(t));
        let engine = self.core.engine();
        let views = engine.ticket_positions().map(|i| engine.ticket_view(i));
        // Asked for: every line of it, whatever the rate limit.
        for line in super::dump::ticket_lines(views, &self.cfg, self.engine_clock(), &local) {
            info!(target: logging::UNLIMITED, "{line}");
        }
        let log = logging::counters();
        if log.dropped + log.suppressed > 0 {
            info!(
                target: logging::UNLIMITED,
                "log lines lost: {}, suppressed by the rate limit: {}",
                log.dropped, log.suppressed
            );
        }
    }

    /// The current position of a ticket known by id (None once removed).
    fn position(&self, id: TicketId) -> Option<crate::engine::Tix> {
        self.core.engine().ticket_by_id(id)
    }
}

/// Moves a single wheel entry to `want` (or removes it).
fn rearm(
    timers: &mut TimerWheel<TimerKind>,
    old: Option<(TimerId, Ms)>,
    want: Option<Ms>,
    kind: TimerKind,
) -> Option<(TimerId, Ms)> {
    match (old, want) {
        (Some((id, at)), Some(w)) if at == w => Some((id, at)),
        (old, want) => {
            if let Some((id, _)) = old {
                timers.cancel(id);
            }
            want.map(|w| (timers.insert(w, kind), w))
        }
    }
}
