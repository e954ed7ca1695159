//! Engine tests in virtual time: single transitions driven by hand, and small
//! clusters of real engines on a simulated network with a dual-grant watcher.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::{
    AttrOp, AttrPrereq, Config, GrantType, Member, MemberKind, TicketConfig, TicketMode, Transport,
    MAX_MEMBERS,
};
use crate::wire::codes::*;
use crate::wire::{
    Header, TicketBody, MAGIC, NO_ONE, OPT_IMMEDIATE, OPT_WAIT, OPT_WAIT_COMMIT, VERSION,
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
                r.args()
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

fn ticket(name: &str, expire: u64, timeout: u64, retries: u32) -> TicketConfig {
    TicketConfig {
        name: name.into(),
        expire: Duration::from_secs(expire),
        timeout: Duration::from_secs(timeout),
        retries,
        renewal_freq: Duration::from_secs(expire / 2),
        acquire_after: Duration::ZERO,
        before_acquire_handler: None,
        attr_prereqs: vec![],
        mode: TicketMode::Auto,
        weights: [0; MAX_MEMBERS],
    }
}

fn config(kinds: &[MemberKind], tickets: Vec<TicketConfig>) -> Config {
    let members = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| Member {
            index: i,
            kind,
            addr_string: format!("198.51.100.{}", i + 1),
            addr: format!("198.51.100.{}", i + 1).parse().unwrap(),
            port: 9929,
            site_id: 1000 + i as u32,
        })
        .collect();
    Config {
        path: PathBuf::from("/etc/booth/booth.conf"),
        name: "booth".into(),
        transport: Transport::Udp,
        port: 9929,
        authfile: None,
        enable_authfile: None,
        maxtimeskew: 600,
        members,
        member_text: Vec::new(),
        site_user: "hacluster".into(),
        site_group: "haclient".into(),
        arbitrator_user: "nobody".into(),
        arbitrator_group: "nobody".into(),
        debug: 0,
        tickets,
        subsecond_times: false,
        warnings: vec![],
    }
}

use MemberKind::{Arbitrator as A, Site as S};

fn clock(ms: u64) -> Clock {
    Clock::new(Time(ms), WALL0 + ms as i64)
}

/// An engine for tests. ENGINE_MUTATION=name (with the `mutations`
/// feature) makes it a deliberately broken one, to show which test needs
/// which rule.
fn new_engine(cfg: Config, me: usize, seed: u64) -> Engine {
    #[allow(unused_mut)]
    let mut e = Engine::new(cfg, me, seed);
    #[cfg(feature = "mutations")]
    if let Some(name) = std::env::var("ENGINE_MUTATION")
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
    replies: Vec<(usize, ClientId, u32, bool)>,
    handler: Vec<HandlerPolicy>,
    handler_runs: usize,
    /// Whether CIB writes are reported back (a hung crm_ticket is not).
    cib_confirms: bool,
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
            if let Some(w) = self.cib[m].get(&tc.name) {
                let st = CibState {
                    granted: w.granted,
                    owner: Some(w.owner as i64),
                    expires: Some(w.expires),
                    term: Some(w.term),
                    attrs: vec![],
                };
                e.load_cib(c, t, &st);
            }
            if let Some(p) = self.promises[m].get(&tc.name) {
                assert!(e.restore_promise(t, p));
            }
        }
        e.start(c);
        self.engines[m] = Some(e);
        self.drain(m);
    }

    /// Member m's clock: true time, and its wall clock with its offset.
    fn clock_of(&self, m: usize) -> Clock {
        Clock::new(Time(self.now), WALL0 + self.now as i64 + self.wall_off[m])
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
            .map(|e| e.as_ref().map(|e| e.ticket_view(0)))
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
                self.promises[m].insert(name, p);
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
                    self.cib_true_end[m].insert(w.ticket.clone(), end);
                    self.cib[m].insert(w.ticket.clone(), w);
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
            .map(|t| t.0)
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
                    if e.next_deadline().is_some_and(|d| d.0 <= self.now) {
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

    fn client(&mut self, m: usize, id: ClientId, cmd: u32, options: u32, ticket: &str) {
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

    fn results(&self, id: ClientId) -> Vec<u32> {
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
        self.e(m).ticket_view(t).leader
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

mod probe;
mod restart;
mod stale;

#[test]
fn grant_on_fresh_cluster_commits_when_all_sites_answer() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, OPT_WAIT, "T");
    // First reply: in progress.
    assert_eq!(n.results(1), vec![RLT_MORE]);
    n.run_until(8_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SUCCESS]);
    assert!(
        n.replies.last().unwrap().3,
        "final reply closes the request"
    );
    assert!(n.granted_at(0, "T"));
    let b = n.cib[1].get("T").unwrap();
    assert!(!b.granted);
    assert_eq!(b.owner, 1000, "follower records the leader as owner");
    assert_eq!(n.leader_of(2, 0), Leader::Member(0));
    assert_eq!(n.e(0).ticket_view(0).state, State::Leader);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn first_grant_keeps_term_zero_and_reply_names_candidate() {
    let mut n = three(ticket("T", 60, 3, 3));
    let c = clock(n.now);
    let e = n.e_mut(0);
    e.handle_client(c, 9, CMD_GRANT, 0, "T");
    let mut reply = None;
    while let Some(o) = e.poll_output() {
        if let Output::ClientReply { msg, .. } = o {
            reply = Some(msg);
        }
    }
    let msg = reply.unwrap();
    assert_eq!(msg.header.cmd, CL_RESULT);
    assert_eq!(msg.header.result, RLT_MORE);
    assert_eq!(
        msg.body.leader, 1000,
        "a candidate names the site it voted for"
    );
    assert_eq!(
        msg.body.term, 0,
        "first grant on a fresh cluster does not bump the term"
    );
    assert_eq!(msg.body.term_valid_for, 0);
}

#[test]
fn leader_renews_and_keeps_ticket_for_many_leases() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(200_000);
    assert!(n.granted_at(0, "T"));
    let v = n.e(0).ticket_view(0);
    assert_eq!(v.state, State::Leader);
    assert!(
        v.term_expires.unwrap().0 > n.now,
        "lease keeps running ahead"
    );
    assert_eq!(n.leader_of(1, 0), Leader::Member(0));
    let w = n.cib[0].get("T").unwrap();
    assert!(
        w.expires * 1000 - WALL0 > n.now as i64 + 5_000,
        "CIB expiry refreshed"
    );
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn ticket_fails_over_when_leader_dies() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let lease_end = n.e(0).ticket_view(0).term_expires.unwrap().0;
    n.kill(0);
    n.run_until(lease_end + 10_000);
    assert!(n.granted_at(1, "T"), "site B took over");
    assert_eq!(n.leader_of(2, 0), Leader::Member(1));
    // B's grant must come after A's lease ended.
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn failover_delay_orders_the_surviving_sites() {
    // Two sites: the survivor starts within a quarter of the 1 s window.
    let mut e = Engine::new(config(&[S, S, A], vec![ticket("T", 20, 2, 3)]), 1, 7);
    e.tickets[0].lost_leader = Leader::Member(0);
    let most = (0..500).map(|_| e.failover_delay(0)).max().unwrap();
    assert!(most < Duration::from_millis(250), "{most:?}");
    // Three sites, the first lost: one slot of 500 ms each for the others.
    let cfg = config(&[S, S, S, A], vec![ticket("T", 20, 2, 3)]);
    let mut b = Engine::new(cfg.clone(), 1, 7);
    let mut c = Engine::new(cfg, 2, 7);
    b.tickets[0].lost_leader = Leader::Member(0);
    c.tickets[0].lost_leader = Leader::Member(0);
    for _ in 0..500 {
        assert!(b.failover_delay(0) < Duration::from_millis(125));
        let d = c.failover_delay(0).as_millis();
        assert!((500..625).contains(&d), "{d}");
    }
    // Ranks count only the sites that may campaign: with site 1 lost,
    // site 2 comes second (after site 0); with site 2 lost, site 1 does.
    c.tickets[0].lost_leader = Leader::Member(1);
    let d = c.failover_delay(0).as_millis();
    assert!((500..625).contains(&d), "{d}");
    b.tickets[0].lost_leader = Leader::Member(2);
    assert!(b.failover_delay(0) >= Duration::from_millis(500));
}

#[test]
fn isolated_leader_revokes_at_its_expiry_and_other_site_takes_over() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.isolate(0);
    let lease_end = n.e(0).ticket_view(0).term_expires.unwrap().0;
    n.run_until(lease_end);
    assert!(
        !n.granted_at(0, "T"),
        "revoked in the CIB at (not after) expiry"
    );
    n.run_until(lease_end + 10_000);
    assert!(n.granted_at(1, "T"));
    // Back together: A follows B and does not fight.
    n.heal();
    n.run_until(lease_end + 60_000);
    assert_eq!(n.leader_of(0, 0), Leader::Member(1));
    assert!(n.granted_at(1, "T") && !n.granted_at(0, "T"));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn paused_leader_drops_ticket_before_reacting_to_anything() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    // Freeze A (no events delivered to it) past its lease, then feed it one
    // message: its first output must be the CIB revoke.
    let lease_end = n.e(0).ticket_view(0).term_expires.unwrap().0;
    let mut a = n.engines[0].take().unwrap();
    n.run_until(lease_end + 5_000);
    let hb = n.e(1).build_msg(0, OP_HEARTBEAT, 0, 0, 0);
    let _ = a.handle_packet(clock(lease_end + 5_000), 1, &hb);
    match a.poll_output() {
        Some(Output::WriteCib(w)) => assert!(!w.granted),
        other => panic!("expected a CIB revoke first, got {other:?}"),
    }
}

#[test]
fn revoke_at_leader_and_redirect_elsewhere() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    n.client(1, 2, CMD_REVOKE, 0, "T");
    assert_eq!(n.results(2), vec![RLT_REDIRECT]);
    n.client(0, 3, CMD_REVOKE, 0, "T");
    n.run_until(12_000);
    assert_eq!(n.results(3), vec![RLT_SUCCESS]);
    assert!(!n.granted_at(0, "T"));
    assert_eq!(n.cib[1].get("T").unwrap().owner, -1);
    assert_eq!(n.leader_of(2, 0), Leader::NoOne);
    n.client(0, 4, CMD_REVOKE, 0, "T");
    assert_eq!(n.results(4), vec![RLT_TICKET_IDLE]);
    // Revoked tickets stay revoked: nobody starts an election.
    n.run_until(200_000);
    assert!(!n.granted_at(0, "T") && !n.granted_at(1, "T"));
}

#[test]
fn grant_errors_are_final_replies() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(2, 1, CMD_GRANT, 0, "T");
    assert_eq!(
        n.results(1),
        vec![RLT_SYNC_FAIL],
        "arbitrator refuses at once"
    );
    n.client(0, 2, CMD_GRANT, 0, "nope");
    assert_eq!(n.results(2), vec![RLT_INVALID_ARG]);
    n.client(0, 3, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    n.client(1, 4, CMD_GRANT, 0, "T");
    assert_eq!(n.results(4), vec![RLT_OVERGRANT]);
    n.client(0, 5, CMD_GRANT, 0, "T");
    assert_eq!(
        n.results(5),
        vec![RLT_SUCCESS],
        "re-grant where held is a no-op"
    );
    assert!(n.replies.iter().filter(|r| r.1 != 3).all(|r| r.3));
}

#[test]
fn grant_with_a_site_down_waits_for_the_commit_delay() {
    let mut t = ticket("T", 20, 2, 3);
    t.acquire_after = Duration::from_secs(5);
    let mut n = three(t);
    n.kill(1);
    n.client(0, 1, CMD_GRANT, OPT_WAIT | OPT_WAIT_COMMIT, "T");
    n.run_until(10_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_CIB_PENDING]);
    assert!(!n.granted_at(0, "T"), "not in the CIB during the delay");
    assert_eq!(n.e(0).ticket_view(0).state, State::Leader);
    let pending = n.e(0).list_text(clock(n.now), &|t| t.to_string());
    assert!(pending.contains("(commit pending until"), "{pending}");
    n.run_until(6_000 + 25_000 + 3_000);
    assert!(n.granted_at(0, "T"));
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_CIB_PENDING, RLT_SUCCESS]);
    assert!(n.violations.is_empty());
}

#[test]
fn grant_immediate_skips_the_commit_delay() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.kill(1);
    n.client(0, 1, CMD_GRANT, OPT_IMMEDIATE, "T");
    n.run_until(12_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SUCCESS]);
    assert!(n.granted_at(0, "T"));
}

#[test]
fn cib_pending_without_wait_commit_ends_the_request() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.kill(1);
    n.client(0, 1, CMD_GRANT, OPT_WAIT, "T");
    n.run_until(12_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_CIB_PENDING]);
    assert!(n.replies.last().unwrap().3);
}

#[test]
fn handler_gates_grant() {
    let mut t = ticket("T", 20, 2, 3);
    t.before_acquire_handler = Some(vec!["/bin/true".into()]);
    let mut n = three(t.clone());
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SUCCESS]);
    assert!(n.handler_runs >= 1);

    let mut n = three(t);
    n.handler[0] = HandlerPolicy::Fail;
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_EXT_FAILED]);
    assert!(!n.granted_at(0, "T"));
}

#[test]
fn handler_failing_at_renewal_makes_leader_step_down() {
    let mut t = ticket("T", 20, 2, 3);
    t.before_acquire_handler = Some(vec!["/bin/check".into()]);
    let mut n = three(t);
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(n.granted_at(0, "T"));
    n.handler[0] = HandlerPolicy::Fail;
    // Next renewal runs the handler, which fails: A gives the ticket away
    // and B (whose handler succeeds) takes it.
    n.run_until(40_000);
    assert!(!n.granted_at(0, "T"));
    assert!(n.granted_at(1, "T"));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn attr_prereq_for_manual_grants() {
    let mut t = ticket("T", 20, 2, 3);
    t.attr_prereqs = vec![AttrPrereq {
        grant_type: GrantType::Manual,
        name: "repl".into(),
        op: AttrOp::Eq,
        value: "ACTIVE".into(),
    }];
    let mut n = three(t);
    n.client(0, 1, CMD_GRANT, 0, "T");
    assert_eq!(n.results(1), vec![RLT_ATTR_PREREQ]);
    let c = clock(n.now);
    n.e_mut(0).attr_set(c, "T", "repl", "ACTIVE").unwrap();
    assert_eq!(n.e(0).attr_get("T", "repl").unwrap(), "ACTIVE");
    assert_eq!(n.e(0).attr_get("T", "x"), Err(RLT_NO_SUCH_ATTR));
    n.client(0, 2, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    assert_eq!(n.results(2), vec![RLT_MORE, RLT_SUCCESS]);
}

#[test]
fn manual_ticket_is_granted_without_election_and_listed_inf() {
    let mut t = ticket("M", 20, 2, 3);
    t.mode = TicketMode::Manual;
    let mut n = three(t);
    n.client(0, 1, CMD_GRANT, 0, "M");
    n.run_until(8_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SUCCESS]);
    assert!(n.granted_at(0, "M"));
    let text = n.e(1).list_text(clock(n.now), &|t| t.to_string());
    assert_eq!(
        text,
        "ticket: M, leader: 198.51.100.1, expires: INF [manual mode]\n"
    );
    // Manual tickets do not expire.
    n.run_until(500_000);
    assert!(n.granted_at(0, "M"));
    // Forced second grant at B: both lead, and list warns.
    n.client(1, 2, CMD_GRANT, 0, "M");
    assert_eq!(n.results(2), vec![RLT_OVERGRANT]);
    n.client(1, 3, CMD_GRANT, OPT_IMMEDIATE, "M");
    n.run_until(510_000);
    let text = n.e(0).list_text(clock(n.now), &|t| t.to_string());
    assert!(
        text.contains(
            "WARNING: The ticket M is granted to multiple sites: 198.51.100.1, 198.51.100.2."
        ),
        "{text}"
    );
}

#[test]
fn list_text_formats() {
    let mut n = three(ticket("T", 60, 3, 3));
    let fmt = |t: i64| format!("<{t}>");
    assert_eq!(
        n.e(0).list_text(clock(n.now), &fmt),
        "ticket: T, leader: NONE\n"
    );
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let text = n.e(1).list_text(clock(n.now), &fmt);
    assert!(
        text.starts_with("ticket: T, leader: 198.51.100.1, expires: <"),
        "{text}"
    );
    n.client(0, 2, CMD_REVOKE, 0, "T");
    n.run_until(12_000);
    assert_eq!(
        n.e(1).list_text(clock(n.now), &fmt),
        "ticket: T, leader: none\n"
    );
}

#[test]
fn restarted_leader_reacquires_without_revoking_in_between() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let term = n.e(0).ticket_view(0).term;
    n.kill(0);
    n.run_until(11_000);
    n.boot(0);
    n.run_until(30_000);
    let revokes = n
        .cib_log
        .iter()
        .filter(|(t, m, w)| *t >= 11_000 && *m == 0 && !w.granted)
        .count();
    assert_eq!(revokes, 0, "no spurious revoke while re-acquiring");
    assert_eq!(n.e(0).ticket_view(0).state, State::Leader);
    assert!(
        n.e(0).ticket_view(0).term > term,
        "re-acquired in a new term"
    );
    assert!(n.granted_at(0, "T"));
    assert_eq!(n.leader_of(1, 0), Leader::Member(0));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn restarted_follower_follows_the_live_leader() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    n.kill(1);
    n.run_until(12_000);
    n.boot(1);
    n.run_until(40_000);
    assert_eq!(n.leader_of(1, 0), Leader::Member(0));
    assert!(!n.granted_at(1, "T"));
    assert!(n.granted_at(0, "T"));
}

#[test]
fn restarted_arbitrator_does_not_help_elect_a_second_leader() {
    // A leads; B is cut off from A. The arbitrator's host reboots and it
    // forgets the lease it acknowledged: without the vote fence it would
    // vote for B while A's lease still runs.
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    n.cut.push((0, 1));
    n.cut.push((1, 0));
    n.cut.push((0, 2));
    n.cut.push((2, 0));
    n.kill(2);
    n.run_until(12_000);
    n.reboot(2);
    n.run_until(200_000);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    assert!(
        n.granted_at(1, "T"),
        "B gets the ticket once A's lease is over"
    );
}

#[test]
fn losing_candidate_tells_its_client() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, OPT_IMMEDIATE | OPT_WAIT, "T");
    n.client(1, 2, CMD_GRANT, OPT_IMMEDIATE | OPT_WAIT, "T");
    n.run_until(20_000);
    let a = n.results(1);
    let b = n.results(2);
    let won = |r: &[u32]| r.last() == Some(&RLT_SUCCESS);
    let lost = |r: &[u32]| r.last() == Some(&RLT_SYNC_FAIL);
    assert!(
        (won(&a) && lost(&b)) || (won(&b) && lost(&a)),
        "one wins, the other is told: {a:?} {b:?}"
    );
    assert!(n.violations.is_empty());
}

fn msg(from: u32, cmd: u32, leader: u32, term: u32, valid: u32) -> TicketMsg {
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

#[test]
fn malformed_peer_messages_change_nothing() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let before = n.e(1).ticket_view(0);
    let c = clock(n.now);
    let e = n.e_mut(1);
    // Heartbeat from the arbitrator naming A as leader (C aborts here).
    assert_eq!(
        e.handle_packet(c, 2, &msg(1002, OP_HEARTBEAT, 1000, 9, 60)),
        Err(Dropped::Invalid)
    );
    // Unknown leader id, leader 0, and an arbitrator as leader.
    assert_eq!(
        e.handle_packet(c, 0, &msg(1000, OP_HEARTBEAT, 77, 9, 60)),
        Err(Dropped::Invalid)
    );
    assert_eq!(
        e.handle_packet(c, 0, &msg(1000, OP_UPDATE, 0, 9, 60)),
        Err(Dropped::Invalid)
    );
    assert_eq!(
        e.handle_packet(c, 0, &msg(1000, OP_UPDATE, 1002, 9, 60)),
        Err(Dropped::Invalid)
    );
    // Unknown ticket, unknown command, message claiming to be from ourselves.
    let mut m = msg(1000, OP_HEARTBEAT, 1000, 9, 60);
    m.body.name = "other".into();
    assert_eq!(e.handle_packet(c, 0, &m), Err(Dropped::Invalid));
    assert_eq!(
        e.handle_packet(c, 0, &msg(1000, 0x1234_5678, 1000, 9, 60)),
        Err(Dropped::Invalid)
    );
    assert_eq!(
        e.handle_packet(c, 1, &msg(1001, OP_HEARTBEAT, 1001, 9, 60)),
        Err(Dropped::Invalid)
    );
    // A vote for nobody from a non-leader: ignored.
    let _ = e.handle_packet(c, 2, &msg(1002, OP_VOTE_FOR, NO_ONE, 9, 0));
    assert_eq!(e.ticket_view(0), before);
}

#[test]
fn older_terms_change_nothing() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    // Bump the term with a revoke and a new grant.
    n.client(0, 2, CMD_REVOKE, 0, "T");
    n.run_until(12_000);
    n.client(1, 3, CMD_GRANT, 0, "T");
    n.run_until(20_000);
    let before = n.e(0).ticket_view(0);
    assert!(before.term >= 1);
    let c = clock(n.now);
    let e = n.e_mut(0);
    for cmd in [OP_HEARTBEAT, OP_UPDATE, OP_REVOKE, OP_REQ_VOTE] {
        let _ = e.handle_packet(c, 2, &msg(1002, cmd, NO_ONE, 0, 0));
    }
    assert_eq!(e.ticket_view(0).leader, before.leader);
    assert_eq!(e.ticket_view(0).term, before.term);
    assert_eq!(e.ticket_view(0).state, before.state);
}

#[test]
fn vote_requests_are_refused_while_lease_valid() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let c = clock(n.now);
    let term = n.e(2).ticket_view(0).term;
    let e = n.e_mut(2);
    let mut m = msg(1001, OP_REQ_VOTE, 1001, term + 1, 0);
    m.header.reason = OR_ADMIN;
    e.handle_packet(c, 1, &m).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    assert!(
        matches!(&out[..], [Output::Send { to: 1, msg, .. }] if msg.header.cmd == OP_REJECTED && msg.header.result == RLT_TERM_STILL_VALID),
        "{out:?}"
    );
    // A step-down reason alone does not lift A's lease...
    let mut m = msg(1001, OP_REQ_VOTE, 1001, term + 1, 0);
    m.header.reason = OR_STEPDOWN;
    e.handle_packet(c, 1, &m).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    assert!(
        matches!(&out[..], [Output::Send { to: 1, msg, .. }] if msg.header.result == RLT_TERM_STILL_VALID),
        "{out:?}"
    );
    // ...A's release does, and then the step-down election gets the vote.
    e.handle_packet(c, 0, &msg(1000, OP_VOTE_FOR, NO_ONE, term, 0))
        .unwrap();
    while e.poll_output().is_some() {}
    e.handle_packet(c, 1, &m).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    assert!(
        matches!(&out[..], [Output::Send { to: 1, msg, .. }] if msg.header.cmd == OP_VOTE_FOR && msg.body.leader == 1001),
        "{out:?}"
    );
}

#[test]
fn one_vote_per_term_even_after_a_reset() {
    let mut e = Engine::new(config(&[S, S, A], vec![ticket("T", 60, 3, 3)]), 2, 1);
    e.start(clock(0));
    while e.poll_output().is_some() {}
    // Past the start-up vote fence.
    let c = clock(70_000);
    let mut v = msg(1000, OP_REQ_VOTE, 1000, 5, 0);
    v.header.reason = OR_ADMIN;
    e.handle_packet(c, 0, &v).unwrap();
    // A revoke from "the leader" resets the ticket in C; the vote must stand.
    let mut w = msg(1001, OP_REQ_VOTE, 1001, 5, 0);
    w.header.reason = OR_ADMIN;
    e.handle_packet(c, 1, &w).unwrap();
    let votes: Vec<u32> = std::iter::from_fn(|| e.poll_output())
        .filter_map(|o| match o {
            Output::Send { msg, .. } if msg.header.cmd == OP_VOTE_FOR => Some(msg.body.leader),
            _ => None,
        })
        .collect();
    assert_eq!(votes, vec![1000, 1000]);
}

#[test]
fn deadlines_sleep_long_when_idle() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.run_until(10_000);
    let d = n.e(0).next_deadline().unwrap();
    assert!(
        d.0 >= n.now + 3_000_000,
        "no periodic tick when nothing is granted: {d:?}"
    );
}

/// Small randomised runs: random partitions, restarts and grants on several
/// cluster shapes, with the dual-grant watcher on. (The full simulator lives
/// in test/; this keeps the engine honest on its own.)
#[test]
fn randomised_faults_never_grant_twice() {
    let seeds: u64 = std::env::var("ENGINE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut held = 0;
    let first: u64 = std::env::var("ENGINE_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for seed in first..=seeds {
        let mut rng = Rng::new(seed);
        let shapes: [&[MemberKind]; 3] = [&[S, S, A], &[S, S, S], &[S, S, S, A, A]];
        let kinds = shapes[(seed % 3) as usize];
        let mut t = ticket("T", 10 + rng.below(20), 1, 3);
        t.acquire_after = Duration::from_millis(rng.below(3000));
        let mut n = Net::new(kinds, vec![t]);
        n.seed = seed;
        n.delay = 1 + rng.below(30);
        n.fault_rng = Rng::new(seed ^ 0xfa17);
        if seed % 2 == 0 {
            n.jitter = rng.below(400);
            n.loss = rng.below(300);
            n.dup = rng.below(100);
        }
        let sites: Vec<usize> = (0..kinds.len()).filter(|&m| kinds[m] == S).collect();
        let mut client = 100;
        for _step in 0..60 {
            let now = n.now;
            match rng.below(8) {
                0 | 1 => {
                    let s = sites[rng.below(sites.len() as u64) as usize];
                    if n.engines[s].is_some() {
                        client += 1;
                        let opt = if rng.below(4) == 0 { OPT_IMMEDIATE } else { 0 };
                        n.client(s, client, CMD_GRANT, opt, "T");
                    }
                }
                2 => {
                    let m = rng.below(kinds.len() as u64) as usize;
                    if n.engines[m].is_some() {
                        n.kill(m);
                    } else {
                        n.boot(m);
                    }
                }
                3 => {
                    let a = rng.below(kinds.len() as u64) as usize;
                    let b = rng.below(kinds.len() as u64) as usize;
                    n.cut.push((a, b));
                }
                4 => n.heal(),
                5 => {
                    let s = sites[rng.below(sites.len() as u64) as usize];
                    if n.engines[s].is_some() {
                        client += 1;
                        n.client(s, client, CMD_REVOKE, 0, "T");
                    }
                }
                _ => {}
            }
            n.run_until(now + rng.below(15_000));
        }
        n.heal();
        n.loss = 0;
        for m in 0..kinds.len() {
            if n.engines[m].is_none() {
                n.boot(m);
            }
        }
        n.run_until(n.now + 120_000);
        assert!(n.violations.is_empty(), "seed {seed}: {:?}", n.violations);
        // Healed and all up: everyone agrees on who holds the ticket.
        let holder = sites.iter().copied().find(|&s| n.holds(s, "T"));
        if let Some(h) = holder {
            held += 1;
            for m in 0..kinds.len() {
                assert_eq!(
                    n.leader_of(m, 0),
                    Leader::Member(h),
                    "seed {seed}: member {m}: {:?} kinds {kinds:?}",
                    n.views()
                );
            }
        }
    }
    eprintln!("randomised: {seeds} seeds, {held} ended with a holder");
    // The runs must exercise grants, not only idle clusters.
    assert!(
        held * 4 >= seeds + 1 - first,
        "only {held} of {seeds} runs ended with a holder"
    );
}

#[test]
fn reload_keeps_held_tickets_adds_and_removes_others() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let mut cfg = n.cfg.clone();
    cfg.tickets[0].expire = Duration::from_secs(90);
    cfg.tickets[0].renewal_freq = Duration::from_secs(45);
    cfg.tickets.push(ticket("U", 60, 3, 3));
    for m in 0..3 {
        let c = clock(n.now);
        n.e_mut(m).reconfigure(c, cfg.clone()).unwrap();
        n.drain(m);
    }
    n.cfg = cfg.clone();
    n.run_until(200_000);
    assert!(n.granted_at(0, "T"), "held ticket survives the reload");
    assert_eq!(n.e(0).ticket_view(0).state, State::Leader);
    n.client(1, 2, CMD_GRANT, 0, "U");
    n.run_until(210_000);
    assert_eq!(n.results(2), vec![RLT_MORE, RLT_SUCCESS]);
    assert!(n.violations.is_empty(), "{:?}", n.violations);

    // Dropping a ticket held here revokes it in the CIB.
    let mut fewer = cfg.clone();
    fewer.tickets.remove(0);
    let c = clock(n.now);
    n.e_mut(0).reconfigure(c, fewer).unwrap();
    n.drain(0);
    assert!(!n.granted_at(0, "T"));
    assert_eq!(n.e(0).ticket_count(), 1);

    // A different member list needs a restart.
    let mut moved = cfg;
    moved.members[2].site_id = 4242;
    let c = clock(n.now);
    assert!(n.e_mut(1).reconfigure(c, moved).is_err());
    assert_eq!(n.e(1).ticket_count(), 2);
}

/// The old holder's CIB revoke must be written before the others hear of
/// it: a new holder's grant could otherwise reach its CIB first.
#[test]
fn revoke_is_announced_once_the_cib_has_it() {
    let revk_sent = |n: &Net| n.msgs.values().any(|m| m.header.cmd == OP_REVOKE);
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    assert!(n.granted_at(0, "T"));
    n.client(0, 2, CMD_REVOKE, 0, "T");
    assert!(
        !n.granted_at(0, "T"),
        "the revoke is asked of the CIB at once"
    );
    assert!(
        !revk_sent(&n),
        "no revoke message before the CIB write is confirmed"
    );
    let now = n.now;
    n.run_until(now);
    assert!(revk_sent(&n), "sent once the write is confirmed");
    n.run_until(now + 1_000);
    assert_eq!(n.leader_of(1, 0), Leader::NoOne);

    // A CIB write that never completes holds the hand-over (and our vote)
    // until the lease recorded in the CIB has run out.
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let lease_end = n.e(0).ticket_view(0).term_expires.unwrap().0;
    n.cib_confirms = false;
    n.client(0, 2, CMD_REVOKE, 0, "T");
    n.client(1, 3, CMD_GRANT, 0, "T");
    n.run_until(lease_end - 1_000);
    assert!(!revk_sent(&n));
    assert!(
        !n.granted_at(1, "T"),
        "no grant elsewhere while our CIB may say granted"
    );
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    n.run_until(lease_end + 1);
    assert!(revk_sent(&n), "handed over when the recorded lease is over");
}

#[test]
fn resends_are_marked() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert_eq!(n.resends, 0, "a healthy grant needs no resends");
    n.kill(1);
    n.kill(2);
    // The next renewal heartbeat is unanswered: retried `retries` times to
    // each silent peer, then the leader gives up and drops at expiry.
    n.run_until(30_000);
    assert_eq!(n.resends, 2 * 3);
    assert!(!n.granted_at(0, "T"));
}

/// Drives member B of a 2-site + arbitrator cluster into each state, then
/// feeds it every message type from every peer with an older, equal and newer
/// term and several leader fields, checking each reaction against the
/// transitions raft.md allows, that terms never go backwards, and that no
/// grant reaches the CIB without a proven lease.
#[test]
fn every_message_in_every_state() {
    use State::*;
    let allowed = |from: State, to: State| {
        from == to
            || matches!(
                (from, to),
                (Init, Candidate)
                    | (Init, Follower)
                    | (Candidate, Follower)
                    | (Candidate, Init)
                    | (Candidate, Leader)
                    | (Follower, Candidate)
                    | (Follower, Init)
                    | (Leader, Follower)
                    | (Leader, Init)
                    | (Leader, Candidate)
            )
    };
    // Build B in each state.
    let mut states: Vec<(State, Engine)> = vec![];
    let mut n = three(ticket("T", 60, 3, 3));
    states.push((Init, n.e(1).clone()));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    states.push((Follower, n.e(1).clone()));
    let mut n = three(ticket("T", 60, 3, 3));
    n.kill(0);
    n.kill(2);
    n.client(1, 1, CMD_GRANT, 0, "T");
    states.push((Candidate, n.e(1).clone()));
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(1, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    states.push((Leader, n.e(1).clone()));
    for (s, e) in &states {
        assert_eq!(e.ticket_view(0).state, *s, "setup of {s:?}");
    }

    let cmds = [
        OP_STATUS,
        OP_MY_INDEX,
        OP_REQ_VOTE,
        OP_VOTE_FOR,
        OP_HEARTBEAT,
        OP_ACK,
        OP_UPDATE,
        OP_REVOKE,
        OP_REJECTED,
    ];
    let results = [0, RLT_TERM_OUTDATED, RLT_TERM_STILL_VALID, RLT_YOU_OUTDATED];
    let mut cases = 0;
    for (state, base) in &states {
        let t0 = base.ticket_view(0).term;
        let now = 10_500;
        for from in [0usize, 2] {
            for &cmd in &cmds {
                for term in [t0.saturating_sub(1), t0, t0 + 1] {
                    for leader in [NO_ONE, 1000, 1001] {
                        for &result in &results {
                            for valid in [0u32, 30] {
                                let mut e = base.clone();
                                while e.poll_output().is_some() {}
                                let mut m = msg(1000 + from as u32, cmd, leader, term, valid);
                                m.header.result = result;
                                m.header.request = if cmd == OP_ACK { OP_HEARTBEAT } else { 0 };
                                let _ = e.handle_packet(clock(now), from, &m);
                                cases += 1;
                                let after = e.ticket_view(0);
                                let what = format!(
                                    "{state:?} + {} from m{from} term {term} leader {leader:#x} result {} valid {valid} -> {after:?}",
                                    code_to_string(cmd),
                                    code_to_string(result)
                                );
                                assert!(allowed(*state, after.state), "{what}");
                                assert!(after.term >= t0, "term went backwards: {what}");
                                while let Some(o) = e.poll_output() {
                                    if let Output::WriteCib(w) = o {
                                        assert!(
                                            !w.granted
                                                || (after.state == Leader && *state == Leader),
                                            "grant without a proven lease: {what}"
                                        );
                                    }
                                }
                                // Time passing afterwards must not panic either.
                                e.handle_timeout(clock(now + 100_000));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(cases > 5000);
}

#[test]
fn failover_waits_for_acquire_after() {
    let mut t = ticket("T", 20, 2, 3);
    t.acquire_after = Duration::from_secs(5);
    let mut n = three(t);
    n.client(0, 1, CMD_GRANT, OPT_IMMEDIATE, "T");
    n.run_until(8_000);
    let lease_end = n.e(0).ticket_view(0).term_expires.unwrap().0;
    n.kill(0);
    n.run_until(lease_end + 4_900);
    assert!(
        !n.granted_at(1, "T"),
        "no election before expiry + acquire-after"
    );
    assert_eq!(n.e(1).ticket_view(0).state, State::Follower);
    n.run_until(lease_end + 5_000 + 3 * 2_000);
    assert!(
        n.granted_at(1, "T"),
        "taken within a few timeouts after that"
    );
}

#[test]
fn a_handler_finishing_during_start_up_postponement_does_not_stall_a_grant() {
    let mut t = ticket("T", 20, 2, 3);
    t.before_acquire_handler = Some(vec!["/bin/true".into()]);
    let mut n = Net::new(&[S, S, A], vec![t]);
    // The arbitrator never answers site A's state query, so A postpones
    // ticket processing for its first `timeout`; the grant's handler
    // (50 ms) ends inside that window.
    n.kill(2);
    n.run_until(100);
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(6_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SUCCESS]);
}

#[test]
fn auto_attr_prereq_gates_failover_elections() {
    let mut t = ticket("T", 20, 2, 3);
    t.attr_prereqs = vec![AttrPrereq {
        grant_type: GrantType::Auto,
        name: "repl".into(),
        op: AttrOp::Eq,
        value: "ACTIVE".into(),
    }];
    let mut n = three(t);
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(
        n.granted_at(0, "T"),
        "auto prerequisites do not gate admin grants"
    );
    n.kill(0);
    n.run_until(60_000);
    assert!(
        !n.granted_at(1, "T"),
        "B may not take the ticket without repl=ACTIVE"
    );
    let c = clock(n.now);
    n.e_mut(1).attr_set(c, "T", "repl", "ACTIVE").unwrap();
    n.run_until(70_000);
    assert!(n.granted_at(1, "T"), "it may once the attribute is set");
}

#[test]
fn the_highest_term_does_not_wrap() {
    let mut n = three(ticket("T", 20, 2, 3));
    // A heartbeat from B in the last possible term; then B vanishes and A
    // campaigns: its term must not wrap to 0.
    let c = clock(n.now);
    let _ = n
        .e_mut(0)
        .handle_packet(c, 1, &msg(1001, OP_HEARTBEAT, 1001, u32::MAX, 20));
    n.drain(0);
    assert_eq!(n.e(0).ticket_view(0).term, u32::MAX);
    n.kill(1);
    n.run_until(n.now + 60_000);
    assert_eq!(n.e(0).ticket_view(0).term, u32::MAX);
}

#[test]
fn a_restarted_holder_claims_the_second_its_cib_rounds_away() {
    // Our CIB says: granted to us until whole second E (10.3 s from now,
    // rounded down to 10 s); the lease it stands for may run until E + 1.
    let mut cfg = config(&[S, S, A], vec![ticket("T", 20, 2, 3)]);
    cfg.subsecond_times = true;
    let mut e = Engine::new(cfg, 0, 7);
    let st = CibState {
        granted: true,
        owner: Some(1000),
        expires: Some((WALL0 + 10_300) / 1000),
        term: Some(1),
        attrs: vec![],
    };
    e.load_cib(clock(0), 0, &st);
    e.start(clock(0));
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    let sent: Vec<&TicketMsg> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 2, "{out:?}");
    for m in sent {
        assert_eq!(m.body.leader, 1000);
        assert_eq!(m.body.term_valid_for, 11_000, "{m:?}");
    }
    // Our own lease is not extended.
    assert_eq!(e.ticket_view(0).term_expires, Some(Time(10_000)));
    // The peers answer the state query with the rounded-down lease.
    for (k, id) in [(1, 1001), (2, 1002)] {
        let _ = e.handle_packet(clock(100), k, &msg(id, OP_MY_INDEX, 1000, 1, 9_900));
    }
    while e.poll_output().is_some() {}
    // Past our lease (renewals unanswered), a peer asks for votes: refused
    // until the second has passed, granted after it.
    let mut ask = |at: u64, term: u32| -> Vec<Output> {
        let c = clock(at);
        e.advance(c);
        while e.poll_output().is_some() {}
        let mut v = msg(1001, OP_REQ_VOTE, 1001, term, 0);
        v.header.reason = OR_TKT_LOST;
        e.handle_packet(c, 1, &v).unwrap();
        std::iter::from_fn(|| e.poll_output()).collect()
    };
    let voted = |out: &[Output]| {
        out.iter().any(|o| matches!(o, Output::Send { to: 1, msg, .. } if msg.header.cmd == OP_VOTE_FOR && msg.body.leader == 1001))
    };
    let out = ask(10_400, 2);
    assert!(
        out.iter().any(|o| matches!(o, Output::Send { to: 1, msg, .. } if msg.header.result == RLT_TERM_STILL_VALID)),
        "{out:?}"
    );
    assert!(!voted(&out), "{out:?}");
    let out = ask(11_100, 3);
    assert!(voted(&out), "{out:?}");
}
