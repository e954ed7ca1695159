//! Runs the cluster simulator over many seeds (see `booth::sim`).
//!
//! Environment:
//! * `SEEDS=N` — run seeds FIRST_SEED..FIRST_SEED+N (default 400: the
//!   bounded run of `make check`; `make sim` runs 10000);
//! * `FIRST_SEED=S` — first seed (default 1);
//! * `SEED=S` — run this one seed and print its trace (replay);
//! * `TRACE=ticket|all` — with SEED, trace this ticket (default: the ticket
//!   of the first violation, else none);
//! * `SHOW=name` — with SEED, trace up to the first violation of this kind
//!   or known bug (e.g. `dual-grant`, `stale-ack`);
//! * `TRACE_LINES=N|all` — trace lines printed before a violation (300);
//! * `SIM_THREADS=N` — parallel seeds (default: available cores);
//! * `MUTATION=name` — run a deliberately broken engine (needs
//!   `--features mutations`);
//! * `STRICT=1` — count instances of the known engine bugs
//!   (`booth::sim::check::Known`) as violations too;
//! * `FAULTS=classic` — only the fault kinds from before issue #17 (no
//!   stale deliveries, wall-clock steps, host reboots, suspends, geostore
//!   changes);
//! * `SUSPEND_CLOCK=monotonic` — daemons time leases on CLOCK_MONOTONIC,
//!   which stands still while a host is suspended (default: boottime).
//!
//! Ends with `simulated: H hours, N seeds, V violations (D dual grants, A
//! availability losses), C CIB-flag overlaps (...); failover ...` and exits
//! non-zero if any invariant was broken.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use booth::sim::check::Known;
use booth::sim::world::SuspendClock;
use booth::sim::{run_seed, Options, SeedReport, Stats, Violation};

/// A number from the environment; unset or empty means none (make passes
/// empty variables).
fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    (!v.is_empty()).then(|| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
    })
}

fn options() -> Options {
    let mut o = Options::default();
    match std::env::var("FAULTS").as_deref() {
        Ok("classic") => o.classic_faults = true,
        Ok("") | Ok("all") | Err(_) => {}
        Ok(f) => panic!("FAULTS must be classic or all, not {f:?}"),
    }
    match std::env::var("SUSPEND_CLOCK").as_deref() {
        Ok("monotonic") => o.suspend_clock = SuspendClock::Monotonic,
        Ok("") | Ok("boottime") | Err(_) => {}
        Ok(c) => panic!("SUSPEND_CLOCK must be boottime or monotonic, not {c:?}"),
    }
    if let Ok(m) = std::env::var("MUTATION") {
        if !m.is_empty() {
            #[cfg(feature = "mutations")]
            {
                o.mutation = Some(booth::engine::Mutation::from_name(&m).unwrap_or_else(|| {
                    let names: Vec<&str> = booth::engine::Mutation::ALL
                        .iter()
                        .map(|m| m.name())
                        .collect();
                    panic!("unknown MUTATION {m:?}; one of {names:?}")
                }));
            }
            #[cfg(not(feature = "mutations"))]
            {
                eprintln!("MUTATION={m} needs a build with --features mutations");
                std::process::exit(2);
            }
        }
    }
    o
}

/// The command that replays `seed` exactly.
fn replay_command(seed: u64) -> String {
    let mut c = format!("make sim SEED={seed}");
    for var in ["MUTATION", "FAULTS", "SUSPEND_CLOCK"] {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => c.push_str(&format!(" {var}={v}")),
            _ => {}
        }
    }
    c
}

fn strict() -> bool {
    std::env::var("STRICT").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Does this violation make the run fail?
fn counts(v: &Violation) -> bool {
    v.known.is_none() || strict()
}

/// Runs `seed` again with a trace of the ticket of violation `v` and prints
/// the trace up to that violation.
fn print_failure(r: &SeedReport, v: Option<&Violation>, opts: &Options, filter: Option<String>) {
    println!("seed {}: {}", r.seed, r.shape);
    for v in &r.violations {
        println!("  {v}");
    }
    println!("replay: {}", replay_command(r.seed));
    let ticket = filter.or_else(|| v.and_then(|v| v.ticket.clone()));
    let mut o = opts.clone();
    o.trace = true;
    o.trace_ticket = ticket.clone().filter(|t| t != "all");
    let traced = run_seed(r.seed, &o);
    let lines = &traced.trace;
    // Up to and including the violation, if there is one.
    let end = v
        .and_then(|v| {
            lines
                .iter()
                .position(|l| l.contains("!!! VIOLATION") && l.contains(&v.detail))
        })
        .map_or(lines.len(), |p| p + 1);
    let keep = match std::env::var("TRACE_LINES").as_deref() {
        Ok("all") => end,
        Ok(v) => v.parse().unwrap_or(300),
        Err(_) => 300,
    };
    println!(
        "trace ({}; last {} of {} lines{}):",
        ticket.as_deref().unwrap_or("all tickets"),
        keep.min(end),
        end,
        if v.is_some() {
            " up to the violation"
        } else {
            ""
        }
    );
    for l in &lines[end.saturating_sub(keep)..end] {
        println!("{l}");
    }
}

fn summary_line(s: &Stats, violations: usize) -> String {
    let p = |q: f64| {
        s.failover
            .percentile(q)
            .map_or("-".to_string(), booth::sim::stats::secs)
    };
    let c = &s.counters;
    let overlap_max = s
        .cib_overlap
        .percentile(100.0)
        .map_or("-".to_string(), booth::sim::stats::secs);
    format!(
        "simulated: {:.1} hours, {} seeds, {} violations ({} dual grants, {} availability losses), {} CIB-flag overlaps (longest {}); failover p50 {}, p90 {}, p99 {}, max {}; {} reloads, {} CIB runs ({} batched, {} retried, {} failed, {} killed)",
        s.hours(),
        s.seeds,
        violations,
        c.dual_grants,
        c.availability_losses,
        c.cib_overlaps,
        overlap_max,
        p(50.0),
        p(90.0),
        p(99.0),
        p(100.0),
        c.reloads + c.reloads_deferred,
        c.cib_single_runs + c.cib_batches,
        c.cib_batches,
        c.cib_retries,
        c.cib_failures,
        c.cib_killed
    )
}

/// Instances of one known engine bug over the run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct KnownCount {
    known: Known,
    instances: u64,
    seeds: u64,
    first: u64,
    /// The smallest example: (members, tickets, time of the first
    /// instance, seed).
    smallest: (usize, usize, u64, u64),
}

/// Instances of the known engine bugs over the run.
#[derive(Default)]
struct KnownTally {
    by: Vec<KnownCount>,
}

impl KnownTally {
    fn add(&mut self, r: &SeedReport) {
        for k in Known::ALL {
            let hits: Vec<&Violation> =
                r.violations.iter().filter(|v| v.known == Some(k)).collect();
            let Some(first) = hits.first() else {
                continue;
            };
            let size = (r.members, r.tickets, first.at, r.seed);
            match self.by.iter_mut().find(|e| e.known == k) {
                Some(e) => {
                    e.instances += hits.len() as u64;
                    e.seeds += 1;
                    e.first = e.first.min(r.seed);
                    e.smallest = e.smallest.min(size);
                }
                None => self.by.push(KnownCount {
                    known: k,
                    instances: hits.len() as u64,
                    seeds: 1,
                    first: r.seed,
                    smallest: size,
                }),
            }
        }
    }

    fn print(&self) {
        if self.by.is_empty() {
            return;
        }
        let mut by = self.by.clone();
        by.sort();
        println!(
            "findings reported apart ({}):",
            if strict() {
                "counted as violations (STRICT)"
            } else {
                "reported, not counted; STRICT=1 counts them"
            }
        );
        for e in by {
            let (members, tickets, at, seed) = e.smallest;
            println!(
                "  {}: {} in {} seeds, first seed {}; smallest: {} SHOW={} ({members} members, {tickets} tickets, at {})",
                e.known.name(),
                e.instances,
                e.seeds,
                e.first,
                replay_command(seed),
                e.known.name(),
                booth::sim::stats::secs(at)
            );
        }
    }
}

fn main() {
    let opts = options();
    if let Some(seed) = env_u64("SEED") {
        let r = run_seed(seed, &opts);
        let filter = std::env::var("TRACE").ok().filter(|t| !t.is_empty());
        let show = std::env::var("SHOW").ok().filter(|s| !s.is_empty());
        let first = match show {
            Some(name) => r
                .violations
                .iter()
                .find(|v| v.kind.name() == name || v.known.is_some_and(|k| k.name() == name)),
            None => r
                .violations
                .iter()
                .find(|v| counts(v))
                .or(r.violations.first()),
        };
        if first.is_some() || filter.is_some() {
            print_failure(&r, first, &opts, filter);
        } else {
            println!("seed {seed}: {}", r.shape);
        }
        print!("{}", r.stats.report());
        let mut k = KnownTally::default();
        k.add(&r);
        k.print();
        let n = r.violations.iter().filter(|v| counts(v)).count();
        println!("{}", summary_line(&r.stats, n));
        std::process::exit(if n == 0 { 0 } else { 1 });
    }
    let n = env_u64("SEEDS").unwrap_or(400);
    let first = env_u64("FIRST_SEED").unwrap_or(1);
    let threads = env_u64("SIM_THREADS")
        .map(|t| t as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |p| p.get()))
        .max(1);
    let next = AtomicU64::new(first);
    let total = Mutex::new((Stats::default(), KnownTally::default()));
    let failed: Mutex<Vec<SeedReport>> = Mutex::new(vec![]);
    let done = AtomicU64::new(0);
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first + n {
                    break;
                }
                let r = run_seed(seed, &opts);
                {
                    let mut t = total.lock().expect("not poisoned");
                    t.0.merge(&r.stats);
                    t.1.add(&r);
                }
                if r.violations.iter().any(counts) {
                    failed.lock().expect("not poisoned").push(r);
                }
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 200 && d % (n / 10) == 0 {
                    eprintln!("{d}/{n} seeds ({:.0}s)", start.elapsed().as_secs_f64());
                }
            });
        }
    });
    let (total, known) = total.into_inner().expect("not poisoned");
    let mut failed = failed.into_inner().expect("not poisoned");
    failed.sort_by_key(|r| r.seed);
    let violations: usize = failed
        .iter()
        .map(|r| r.violations.iter().filter(|v| counts(v)).count())
        .sum();
    if let Some(r) = failed.first() {
        let v = r.violations.iter().find(|v| counts(v));
        println!("FAILED");
        print_failure(r, v, &opts, None);
        if failed.len() > 1 {
            println!("other failing seeds:");
            for r in &failed[1..] {
                let v = r.violations.iter().find(|v| counts(v)).expect("failing");
                println!("  {} ({}): {v}", r.seed, replay_command(r.seed));
            }
        }
    }
    print!("{}", total.report());
    known.print();
    println!("{}", summary_line(&total, violations));
    if violations > 0 {
        std::process::exit(1);
    }
}
