//! Engine tests in virtual time: single transitions driven by hand, and small
//! clusters of real engines on a simulated network with a dual-grant watcher.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use super::*;
use crate::config::{
    AttrOp, AttrPrereq, Config, GrantType, MemberKind, TicketConfig, TicketMode, TicketSettings,
};
use crate::wire::codes::*;
use crate::wire::{
    Cmd, Header, Rlt, TicketBody, MAGIC, NO_ONE, OPT_IMMEDIATE, OPT_WAIT, OPT_WAIT_COMMIT, VERSION,
};

const WALL0: i64 = 1_700_000_000_000;

/// With ENGINE_TRACE set, engine log lines are printed with the virtual time
/// and the member they come from: the trace of a failing seed.
mod trace {
    use std::cell::Cell;

    thread_local! {
        pub static WHO: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
    }

    struct Tracer;

    impl log::Log for Tracer {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, r: &log::Record) {
            let (t, m) = WHO.with(|w| w.get());
            eprintln!(
                "{:>7}.{:03} m{m} {:5} {}",
                t / 1000,
                t % 1000,
                r.level(),
                crate::logline::text(r)
            );
        }
        fn flush(&self) {}
    }

    static TRACER: Tracer = Tracer;

    pub fn init() {
        if std::env::var_os("ENGINE_TRACE").is_some() {
            let _ = log::set_logger(&TRACER);
            log::set_max_level(log::LevelFilter::Debug);
        }
    }

    pub fn at(t: u64, m: usize) {
        WHO.with(|w| w.set((t, m)));
    }
}

/// `t` in `mode`, with a before-acquire-handler (whose verdict the
/// network's `HandlerPolicy` decides).
pub(super) fn with_handler(mut t: TicketConfig, mode: TicketMode) -> TicketConfig {
    t.mode = mode;
    t.before_acquire_handler = Some(vec!["/bin/check".into()]);
    t
}

pub(super) fn ticket(name: &str, expire: u64, timeout: u64, retries: u32) -> TicketConfig {
    TicketConfig::new(
        name,
        TicketSettings {
            expire: Duration::from_secs(expire),
            timeout: Duration::from_secs(timeout),
            retries,
            renewal_freq: Duration::from_secs(expire / 2),
            acquire_after: Duration::ZERO,
            before_acquire_handler: None,
            attr_prereqs: vec![],
            mode: TicketMode::Auto,
            weights: Default::default(),
        },
    )
}

fn config(kinds: &[MemberKind], tickets: Vec<TicketConfig>) -> Config {
    Config::synthetic(kinds, tickets, |i| 1000 + i as u32)
}

use MemberKind::{Arbitrator as A, Site as S};

fn clock(ms: u64) -> Clock {
    Clock::new(Time::from_ms(ms), WALL0 + ms as i64)
}

#[cfg(feature = "mutations")]
thread_local! {
    /// The mutation `rules_out_of_the_simulators_reach_fail_their_unit_tests`
    /// runs a test with (this thread only).
    static FORCED_MUTATION: std::cell::Cell<Option<Mutation>> = const { std::cell::Cell::new(None) };
}

/// Rules the simulator's seeds no longer reach (test/sim_mutations.rs
/// says which and why): broken, each still fails the unit test that shows
/// it, so a rule cannot silently stop mattering to any test.
/// (`make check` runs it: `cargo test --features mutations --lib
/// out_of_the_simulators_reach`.)
#[cfg(feature = "mutations")]
#[test]
fn rules_out_of_the_simulators_reach_fail_their_unit_tests() {
    let cases: [(Mutation, fn()); 3] = [
        (
            Mutation::QueryBeforeHold,
            stale::a_rebooted_holder_tells_its_hold_in_its_first_state_query,
        ),
        (
            Mutation::ForgetRemovedPromises,
            messages::a_ticket_removed_and_added_back_keeps_its_promises,
        ),
        (
            Mutation::HoldInAnyTerm,
            stale::a_release_hold_is_told_in_the_term_of_its_lease,
        ),
    ];
    for (m, test) in cases {
        // The real engine passes it...
        test();
        // ...the broken one does not.
        FORCED_MUTATION.with(|f| f.set(Some(m)));
        let caught = std::panic::catch_unwind(test).is_err();
        FORCED_MUTATION.with(|f| f.set(None));
        assert!(caught, "{}: not caught by its unit test", m.name());
    }
}

/// An engine for tests. ENGINE_MUTATION=name (with the `mutations`
/// feature) makes it a deliberately broken one, to show which test needs
/// which rule.
fn new_engine(cfg: Config, me: usize, seed: u64) -> Engine {
    #[allow(unused_mut)]
    let mut e = Engine::new(cfg, me, seed);
    #[cfg(feature = "mutations")]
    if let Some(m) = FORCED_MUTATION.with(|f| f.get()) {
        e.set_mutation(Some(m));
    } else if let Some(name) = std::env::var("ENGINE_MUTATION")
        .ok()
        .filter(|n| !n.is_empty())
    {
        e.set_mutation(Some(Mutation::from_name(&name).expect("mutation name")));
    }
    e
}

/// What the harness does with a handler run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HandlerPolicy {
    Succeed,
    Fail,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Deliver {
        to: usize,
        from: usize,
        seq: u64,
    },
    HandlerExit {
        member: usize,
        ticket: TicketId,
        run: HandlerRun,
    },
    /// The (instant) CIB write is reported back to the engine.
    CibWritten {
        member: usize,
        ticket: TicketId,
        granted: bool,
    },
}

/// Picks messages out (for `Net::slow`).
type MsgMatch = fn(&TicketMsg) -> bool;

/// A cluster of engines on a simulated network, in virtual time.
struct Net {
    cfg: Config,
    engines: Vec<Option<Engine>>,
    now: u64,
    delay: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    msgs: BTreeMap<u64, TicketMsg>,
    cut: Vec<(usize, usize)>,
    /// The CIB of each site: ticket -> last write (survives restarts).
    cib: Vec<BTreeMap<String, CibWrite>>,
    /// The true time (ms) at which each CIB entry's `expires` falls, as
    /// the wall clock that wrote it meant it.
    cib_true_end: Vec<BTreeMap<String, i64>>,
    replies: Vec<(usize, ClientId, Rlt, bool)>,
    handler: Vec<HandlerPolicy>,
    handler_runs: usize,
    /// Whether CIB writes are reported back (a hung crm_ticket is not).
    cib_confirms: bool,
    /// Members whose crm_ticket fails: their writes change nothing and are
    /// never confirmed.
    cib_failing: Vec<bool>,
    violations: Vec<String>,
    seed: u64,
    /// Per-message faults: extra random delay, loss and duplication (per mille).
    jitter: u64,
    loss: u64,
    dup: u64,
    fault_rng: Rng,
    resends: usize,
    /// Every CIB write, in order: (time, member, write).
    cib_log: Vec<(u64, usize, CibWrite)>,
    /// Each member's wall clock minus the true one (ms): a clock that is
    /// wrong, or was stepped.
    wall_off: Vec<i64>,
    /// Extra transit time for matching messages: (from, to, matcher, ms).
    slow: Vec<(usize, usize, MsgMatch, u64)>,
    /// Each member's recorded promises (promise.rs): survive a restart of
    /// its daemon (`boot`), not a reboot of its host (`reboot`).
    promises: Vec<BTreeMap<String, Promise>>,
}

impl Net {
    fn new(kinds: &[MemberKind], tickets: Vec<TicketConfig>) -> Net {
        let cfg = config(kinds, tickets);
        let n = kinds.len();
        let mut net = Net {
            cfg,
            engines: (0..n).map(|_| None).collect(),
            now: 0,
            delay: 5,
            seq: 0,
            events: BinaryHeap::new(),
            msgs: BTreeMap::new(),
            cut: vec![],
            cib: vec![BTreeMap::new(); n],
            cib_true_end: vec![BTreeMap::new(); n],
            replies: vec![],
            handler: vec![HandlerPolicy::Succeed; n],
            handler_runs: 0,
            cib_confirms: true,
            cib_failing: vec![false; n],
            violations: vec![],
            seed: 1,
            jitter: 0,
            loss: 0,
            dup: 0,
            fault_rng: Rng::new(99),
            resends: 0,
            cib_log: vec![],
            wall_off: vec![0; n],
            slow: vec![],
            promises: vec![BTreeMap::new(); n],
        };
        for m in 0..n {
            net.boot(m);
        }
        net
    }

    fn boot(&mut self, m: usize) {
        trace::init();
        trace::at(self.now, m);
        if std::env::var_os("ENGINE_TRACE").is_some() {
            eprintln!("--- boot m{m} cib {:?}", self.cib[m]);
        }
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut e = new_engine(self.cfg.clone(), m, self.seed ^ m as u64);
        let c = self.clock_of(m);
        for (t, tc) in self.cfg.tickets.iter().enumerate() {
            if let Some(w) = self.cib[m].get(&*tc.name) {
                let st = CibState {
                    granted: w.granted,
                    owner: Some(w.owner as i64),
                    expires: Some(w.expires),
                    term: Some(w.term),
                    attrs: vec![],
                };
                e.load_cib(c, Tix::at(t), &st);
            }
            if let Some(p) = self.promises[m].get(&*tc.name) {
                assert!(e.restore_promise(Tix::at(t), p));
            }
        }
        e.start(c);
        self.engines[m] = Some(e);
        self.drain(m);
    }

    /// Member m's clock: true time, and its wall clock with its offset.
    fn clock_of(&self, m: usize) -> Clock {
        Clock::new(
            Time::from_ms(self.now),
            WALL0 + self.now as i64 + self.wall_off[m],
        )
    }

    /// The host of member m reboots: its daemon starts without the
    /// promises it recorded.
    fn reboot(&mut self, m: usize) {
        self.promises[m].clear();
        self.boot(m);
    }

    fn views(&self) -> Vec<Option<TicketView>> {
        self.engines
            .iter()
            .map(|e| e.as_ref().map(|e| e.ticket_view(Tix::at(0))))
            .collect()
    }

    fn kill(&mut self, m: usize) {
        if std::env::var_os("ENGINE_TRACE").is_some() {
            eprintln!("--- t={} kill m{m}", self.now);
        }
        self.engines[m] = None;
    }

    fn e(&self, m: usize) -> &Engine {
        self.engines[m].as_ref().unwrap()
    }

    fn e_mut(&mut self, m: usize) -> &mut Engine {
        self.engines[m].as_mut().unwrap()
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, ev)));
    }

    fn drain(&mut self, m: usize) {
        // Promises are recorded before anything is sent (promise.rs).
        if let Some(e) = self.engines[m].as_mut() {
            for (name, p) in e.take_promises() {
                self.promises[m].insert(name.to_string(), p);
            }
            // The record is complete: every ticket's promises as they
            // stand were handed over (check_promise missed no change).
            if e.started {
                for t in 0..e.tickets.len() {
                    let name = &e.tickets[Tix::at(t)].cfg.name;
                    assert_eq!(
                        self.promises[m].get(&**name),
                        Some(&e.promise_of(Tix::at(t))),
                        "member {m}, ticket {name}: promises changed but not handed over"
                    );
                }
            }
        }
        while let Some(o) = self.engines[m].as_mut().and_then(|e| e.poll_output()) {
            match o {
                Output::Send { to, msg, resend } => {
                    self.resends += resend as usize;
                    if self.cut.contains(&(m, to)) {
                        continue;
                    }
                    if self.fault_rng.below(1000) < self.loss {
                        continue;
                    }
                    let copies = if self.fault_rng.below(1000) < self.dup {
                        2
                    } else {
                        1
                    };
                    for _ in 0..copies {
                        self.seq += 1;
                        let seq = self.seq;
                        self.msgs.insert(seq, msg.clone());
                        let extra: u64 = self
                            .slow
                            .iter()
                            .filter(|(f, t, hit, _)| *f == m && *t == to && hit(&msg))
                            .map(|s| s.3)
                            .sum();
                        let at =
                            self.now + self.delay + extra + self.fault_rng.below(self.jitter + 1);
                        self.push(at, Ev::Deliver { to, from: m, seq });
                    }
                }
                Output::WriteCib(w) => {
                    if std::env::var_os("ENGINE_TRACE").is_some() {
                        eprintln!("--- t={} m{m} CIB {w:?}", self.now);
                    }
                    self.cib_log.push((self.now, m, w.clone()));
                    if self.cib_failing[m] {
                        continue;
                    }
                    // (A ticket dropped by a reload has no index left.)
                    let index = self.e(m).ticket_id_by_name(&w.ticket);
                    if let Some(ticket) = index.filter(|_| self.cib_confirms) {
                        let granted = w.granted;
                        self.push(
                            self.now,
                            Ev::CibWritten {
                                member: m,
                                ticket,
                                granted,
                            },
                        );
                    }
                    let end = w.expires * 1000 - WALL0 - self.wall_off[m];
                    self.cib_true_end[m].insert(w.ticket.to_string(), end);
                    self.cib[m].insert(w.ticket.to_string(), w);
                }
                Output::ClientReply { client, msg, last } => {
                    self.replies.push((m, client, msg.header.result, last));
                }
                Output::RunHandler { ticket, run, .. } => {
                    self.handler_runs += 1;
                    self.push(
                        self.now + 50,
                        Ev::HandlerExit {
                            member: m,
                            ticket,
                            run,
                        },
                    );
                }
                Output::StopHandler { .. } | Output::StoreAttr { .. } => {}
            }
        }
    }

    fn next_time(&self) -> Option<u64> {
        let ev = self.events.peek().map(|Reverse((t, _, _))| *t);
        let dl = self
            .engines
            .iter()
            .flatten()
            .filter_map(|e| e.next_deadline())
            .map(|t| t.ms())
            .min();
        match (ev, dl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs until `until` (absolute ms), checking safety after every step.
    fn run_until(&mut self, until: u64) {
        let (mut last, mut spins) = (u64::MAX, 0);
        while let Some(t) = self.next_time() {
            if t > until {
                break;
            }
            // The engine must make progress: a deadline that stays in the
            // past would spin the daemon's loop at full CPU.
            if t == last {
                spins += 1;
                assert!(spins < 10_000, "livelock at t={t}: {:?}", self.views());
            } else {
                (last, spins) = (t, 0);
            }
            self.now = self.now.max(t);
            while let Some(Reverse((at, _, _))) = self.events.peek() {
                if *at > self.now {
                    break;
                }
                let Reverse((_, _, ev)) = self.events.pop().unwrap();
                match ev {
                    Ev::Deliver { to, from, seq } => {
                        let msg = self.msgs.remove(&seq).unwrap();
                        if self.cut.contains(&(from, to)) {
                            continue;
                        }
                        let c = self.clock_of(to);
                        if let Some(e) = self.engines[to].as_mut() {
                            trace::at(self.now, to);
                            let _ = e.handle_packet(c, from, &msg);
                            self.drain(to);
                        }
                    }
                    Ev::HandlerExit {
                        member,
                        ticket,
                        run,
                    } => {
                        let ok = self.handler[member] == HandlerPolicy::Succeed;
                        let c = self.clock_of(member);
                        if let Some(e) = self.engines[member].as_mut() {
                            trace::at(self.now, member);
                            e.handle_handler_exit(c, ticket, run, ok);
                            self.drain(member);
                        }
                    }
                    Ev::CibWritten {
                        member,
                        ticket,
                        granted,
                    } => {
                        let c = self.clock_of(member);
                        if let Some(e) = self.engines[member].as_mut() {
                            trace::at(self.now, member);
                            e.handle_cib_written(c, ticket, granted);
                            self.drain(member);
                        }
                    }
                }
                self.check();
            }
            for m in 0..self.engines.len() {
                let c = self.clock_of(m);
                if let Some(e) = self.engines[m].as_mut() {
                    if e.next_deadline().is_some_and(|d| d.ms() <= self.now) {
                        trace::at(self.now, m);
                        e.handle_timeout(c);
                        self.drain(m);
                    }
                }
            }
            self.check();
        }
        self.now = self.now.max(until);
        self.check();
    }

    /// Safety: no two sites hold a ticket granted in their CIB with a lease
    /// that is still valid.
    fn check(&mut self) {
        for tc in &self.cfg.tickets {
            let holders: Vec<usize> = (0..self.engines.len())
                .filter(|&m| self.holds(m, &tc.name))
                .collect();
            if holders.len() > 1 {
                self.violations
                    .push(format!("t={} {}: held by {:?}", self.now, tc.name, holders));
            }
        }
    }

    fn holds(&self, m: usize, ticket: &str) -> bool {
        let Some(w) = self.cib[m].get(ticket) else {
            return false;
        };
        if !w.granted {
            return false;
        }
        // A CIB "granted" counts while the lease it was written for runs, by
        // the clock that wrote it (the CIB keeps the expiry in Unix seconds).
        self.cib_true_end[m][ticket] > self.now as i64
    }

    fn client(&mut self, m: usize, id: ClientId, cmd: Cmd, options: u32, ticket: &str) {
        let c = self.clock_of(m);
        trace::at(self.now, m);
        if std::env::var_os("ENGINE_TRACE").is_some() {
            eprintln!(
                "--- t={} client {} at m{m} opts {options}",
                self.now,
                code_to_string(cmd)
            );
        }
        self.e_mut(m).handle_client(c, id, cmd, options, ticket);
        self.drain(m);
    }

    fn results(&self, id: ClientId) -> Vec<Rlt> {
        self.replies
            .iter()
            .filter(|r| r.1 == id)
            .map(|r| r.2)
            .collect()
    }

    fn granted_at(&self, m: usize, ticket: &str) -> bool {
        self.cib[m].get(ticket).is_some_and(|w| w.granted)
    }

    fn leader_of(&self, m: usize, t: usize) -> Leader {
        self.e(m).ticket_view(Tix::at(t)).leader
    }

    fn isolate(&mut self, m: usize) {
        for o in 0..self.engines.len() {
            if o != m {
                self.cut.push((m, o));
                self.cut.push((o, m));
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }
}

fn three(t: TicketConfig) -> Net {
    let mut n = Net::new(&[S, S, A], vec![t]);
    n.run_until(6_000);
    n
}

mod cluster;
mod leaders;
mod list;
mod messages;
mod pacing;
mod probe;
mod restart;
mod stale;

fn msg(from: u32, cmd: Cmd, leader: u32, term: u32, valid: u32) -> TicketMsg {
    TicketMsg {
        header: Header {
            magic: MAGIC,
            version: VERSION,
            from,
            cmd,
            ..Header::default()
        },
        body: TicketBody {
            name: "T".into(),
            leader,
            term,
            term_valid_for: valid,
        },
    }
}
