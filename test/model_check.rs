//! The model checker (src/mc) as a program: `cargo test --test model_check`
//! runs the bounded searches of `make check`; `make model-check` runs the
//! exhaustive ones (MC=full). With the `mutations` feature it also shows
//! that the search finds the two dual-grant sequences of the engine before
//! its fixes (the `stale-release` and `keep-stale-cib-grant` variants).
//!
//! Environment: MC=quick|full|one; for MC=one: MC_START (fresh, granted,
//! failed-over), MC_DEPTH, MC_HORIZON (s), MC_TERMS, MC_BUDGET
//! (drops,dups,crashes,admin,handler,clock), MC_LIVENESS=0|1, MUTATION=name.

use std::process::ExitCode;

use booth::mc::{explore, start_state, trace, Budget, Limits, Start};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn budget(drops: u8, dups: u8, crashes: u8, admin: u8, handler: u8, clock: u8) -> Budget {
    Budget {
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
    }
}

/// One search; true if it came out as `expect_violation` says.
fn run(name: &str, start: Start, lim: &Limits, mutation: Option<&str>, expect: bool) -> bool {
    let w = start_state(start, lim, mutation);
    let rep = explore(&w, lim);
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

fn main() -> ExitCode {
    let mode = env("MC").unwrap_or_else(|| "quick".into());
    let mut ok = true;
    match mode.as_str() {
        "one" => {
            let start =
                Start::from_name(&env("MC_START").unwrap_or("granted".into())).expect("MC_START");
            let depth = env("MC_DEPTH").map_or(12, |d| d.parse().expect("MC_DEPTH"));
            let horizon = env("MC_HORIZON").map_or(60, |d| d.parse().expect("MC_HORIZON"));
            let b: Vec<u8> = env("MC_BUDGET")
                .unwrap_or("1,1,1,1,1,1".into())
                .split(',')
                .map(|x| x.parse().expect("MC_BUDGET: six numbers"))
                .collect();
            let mut lim = limits(depth, horizon, budget(b[0], b[1], b[2], b[3], b[4], b[5]));
            if let Some(t) = env("MC_TERMS") {
                lim.max_term = t.parse().expect("MC_TERMS");
            }
            lim.liveness = env("MC_LIVENESS").is_none_or(|v| v != "0");
            let mutation = env("MUTATION");
            ok &= run("one", start, &lim, mutation.as_deref(), mutation.is_some());
        }
        _ => {
            eprintln!("MC={mode}: unknown mode");
            return ExitCode::FAILURE;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
