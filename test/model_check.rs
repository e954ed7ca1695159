//! The model checker (src/mc) as a program: `cargo test --test model_check`
//! runs the bounded searches of `make check`; `make model-check` runs the
//! exhaustive ones (MC=full). With the `mutations` feature it also shows
//! that the search finds the two dual-grant sequences of the engine before
//! its fixes (the `stale-release` and `keep-stale-cib-grant` variants).
//!
//! Environment: MC=quick|full|one; for MC=one: MC_START (fresh, granted,
//! failed-over), MC_DEPTH, MC_HORIZON (s), MC_TERMS, MC_BUDGET
//! (delays,drops,dups,crashes,admin,handler,clock), MC_LIVENESS=0|1, MUTATION=name.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use booth::mc::{explore, start_state, trace, Budget, Limits, Start};

/// States visited by all searches of this run.
static TOTAL: AtomicU64 = AtomicU64::new(0);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn budget(b: [u8; 7]) -> Budget {
    let [delays, drops, dups, crashes, admin, handler, clock] = b;
    Budget {
        delays,
        drops,
        dups,
        crashes,
        admin,
        handler_failures: handler,
        clock_steps: clock,
    }
}

fn limits(depth: usize, horizon_s: u64, budget: Budget) -> Limits {
    Limits {
        depth,
        horizon_ms: horizon_s * 1000,
        max_term: 6,
        budget,
        handler: true,
        liveness: true,
        live_horizon_ms: 3 * booth::mc::EXPIRE_S * 1000,
        max_states: 50_000_000,
        narrow: false,
    }
}

/// One search; true if it came out as `expect_violation` says.
fn run(name: &str, start: Start, lim: &Limits, mutation: Option<&str>, expect: bool) -> bool {
    let w = start_state(start, lim, mutation);
    let rep = explore(&w, lim);
    TOTAL.fetch_add(rep.states, Ordering::Relaxed);
    println!(
        "{name}: start {} at t={} ms, depth {}, {} states, {} transitions, {} liveness runs, \
         deepest {}, {:.1} s{}",
        start.name(),
        w.now,
        lim.depth,
        rep.states,
        rep.transitions,
        rep.liveness_checks,
        rep.max_depth,
        rep.elapsed.as_secs_f64(),
        if rep.truncated { " (TRUNCATED)" } else { "" }
    );
    match &rep.violation {
        Some((v, path)) => {
            println!("  found at depth {}: {v}", path.len());
            if std::env::var_os("MC_TRACE").is_some() || !expect {
                print!("{}", trace(&w, path));
            }
        }
        None => println!("  no violation"),
    }
    let ok = rep.violation.is_some() == expect && (expect || !rep.truncated);
    if !ok {
        println!(
            "  FAILED: expected {}",
            if expect { "a violation" } else { "none" }
        );
    }
    ok
}

/// The fixed engine: no property broken within each bound. (name, start,
/// depth, horizon in s, budget: delays, drops, dups, crashes, admin, handler, clock.)
type Search = (&'static str, Start, usize, u64, [u8; 7]);

const QUICK: [Search; 3] = [
    (
        "restart with the clock set back",
        Start::FailedOver,
        10,
        40,
        [1, 0, 0, 0, 0, 0, 1],
    ),
    (
        "every fault once, from a grant",
        Start::Granted,
        5,
        30,
        [1, 1, 1, 1, 1, 1, 1],
    ),
    (
        "every fault once, fresh cluster",
        Start::Fresh,
        5,
        30,
        [1, 1, 1, 1, 1, 1, 1],
    ),
];

const FULL: [Search; 4] = [
    (
        "restart with the clock set back",
        Start::FailedOver,
        12,
        60,
        [2, 0, 0, 0, 0, 0, 1],
    ),
    (
        "every fault once, from a grant",
        Start::Granted,
        6,
        60,
        [1, 1, 1, 1, 1, 1, 1],
    ),
    (
        "every fault once, fresh cluster",
        Start::Fresh,
        6,
        60,
        [1, 1, 1, 1, 1, 1, 1],
    ),
    SEQ1_BOUNDS,
];

/// The bounds under which the old engine's sequence 1 is found: two
/// datagrams held back, one handler failure and one grant at m0.
const SEQ1_BOUNDS: Search = (
    "the bounds of sequence 1",
    Start::Granted,
    20,
    30,
    [2, 0, 0, 0, 1, 1, 0],
);

/// The engine before the fixes of #17: each search must find its sequence.
/// (name, mutation, start, depth, horizon, budget)
#[cfg(feature = "mutations")]
type Find = (&'static str, &'static str, Start, usize, u64, [u8; 7]);
#[cfg(feature = "mutations")]
const FINDS: [Find; 2] = [
    (
        "#17 sequence 2: a holder restarted with its clock an hour behind",
        "keep-stale-cib-grant",
        Start::FailedOver,
        10,
        40,
        [1, 0, 0, 0, 0, 0, 1],
    ),
    (
        "#17 sequence 1: a late release from an older term",
        "release-of-any-term",
        Start::Granted,
        SEQ1_DEPTH,
        30,
        [2, 0, 0, 0, 1, 1, 0],
    ),
];
#[cfg(feature = "mutations")]
const SEQ1_DEPTH: usize = 20;

fn run_all(searches: &[Search]) -> bool {
    let mut ok = true;
    for &(name, start, depth, horizon, b) in searches {
        let mut lim = limits(depth, horizon, budget(b));
        // The sequence-1 bounds: the old engine's search, on the new one.
        if name == SEQ1_BOUNDS.0 {
            lim.narrow = true;
            lim.liveness = false;
        }
        ok &= run(name, start, &lim, None, false);
    }
    ok
}

/// `all`: also the searches too long for `make test` (sequence 1).
#[cfg(feature = "mutations")]
fn run_finds(all: bool) -> bool {
    let mut ok = true;
    // Every variant named here must exist, also for the searches that only
    // `make model-check` runs: a renamed variant must fail `make test`.
    for &(name, mutation, ..) in &FINDS {
        assert!(
            booth::engine::Mutation::from_name(mutation).is_some(),
            "{name}: no engine variant {mutation:?}"
        );
    }
    for &(name, mutation, start, depth, horizon, b) in &FINDS {
        if !all && depth > 12 {
            continue;
        }
        let mut lim = limits(depth, horizon, budget(b));
        lim.liveness = false;
        lim.narrow = true;
        ok &= run(name, start, &lim, Some(mutation), true);
    }
    ok
}

#[cfg(not(feature = "mutations"))]
fn run_finds(_all: bool) -> bool {
    true
}

fn main() -> ExitCode {
    let mode = env("MC").unwrap_or_else(|| "quick".into());
    let mut ok = true;
    let t0 = std::time::Instant::now();
    match mode.as_str() {
        // With the mutations feature (make test) only the searches for the
        // old sequences: the plain build runs the fixed engine's.
        "quick" if cfg!(feature = "mutations") => ok &= run_finds(false),
        "quick" => ok &= run_all(&QUICK),
        "full" => {
            ok &= run_all(&FULL);
            ok &= run_finds(true);
        }
        "one" => {
            let start =
                Start::from_name(&env("MC_START").unwrap_or("granted".into())).expect("MC_START");
            let depth = env("MC_DEPTH").map_or(12, |d| d.parse().expect("MC_DEPTH"));
            let horizon = env("MC_HORIZON").map_or(60, |d| d.parse().expect("MC_HORIZON"));
            let b: Vec<u8> = env("MC_BUDGET")
                .unwrap_or("1,1,1,1,1,1,1".into())
                .split(',')
                .map(|x| x.parse().expect("MC_BUDGET: seven numbers"))
                .collect();
            let b: [u8; 7] = b.try_into().expect("MC_BUDGET: seven numbers");
            let mut lim = limits(depth, horizon, budget(b));
            if let Some(t) = env("MC_TERMS") {
                lim.max_term = t.parse().expect("MC_TERMS");
            }
            lim.liveness = env("MC_LIVENESS").is_none_or(|v| v != "0");
            lim.narrow = env("MC_NARROW").is_some_and(|v| v == "1");
            let mutation = env("MUTATION");
            ok &= run("one", start, &lim, mutation.as_deref(), mutation.is_some());
        }
        _ => {
            eprintln!("MC={mode}: unknown mode");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "model check: {} states in {:.1} s",
        TOTAL.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64()
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
