//! `make bench` / `make bench-scale`: our daemon (the dynamic release build
//! and, when BENCH_STATIC names it, the static musl build) next to the C
//! booth 1.0 (/usr/sbin/boothd) in identical clusters of 2 sites + 1 arbitrator, each
//! member in its own network namespace (test/netns), both recording tickets
//! with the real `crm_ticket` against a CIB file, both started as in
//! production (realtime scheduling and mlockall; BENCH_NO_REALTIME=1 turns
//! that off for both).
//!
//! Environment:
//!   BENCH_QUICK=1       short windows, soak and ticket counts, 3 failover runs
//!   BENCH_SOAK=600      soak length in seconds
//!   BENCH_WINDOW=60     measuring window for wake-ups and CPU, seconds
//!   BENCH_TICKETS=1000  tickets in the main clusters
//!   BENCH_RUNS=10       failover runs per implementation
//!   BENCH_STATIC=path   the static build (make bench sets it); unset: no
//!                       static column
//!   BENCH_ONLY=ours|static|c  the main (memory, wake-up, CPU, soak) phase
//!                       for one side only; any other value (say "none")
//!                       skips all: latency and failover only
//!   BENCH_MODE=scale    the scale run instead (BENCH_SCALE="300 1000"
//!                       for both, 0 for none,
//!                       BENCH_SCALE_OURS="10000", BENCH_SETTLE=90,
//!                       BENCH_SCALE_EXPIRE=60,
//!                       BENCH_GRANT_CAP=900 s for granting one by one)
//!
//! Wake-ups are voluntary context switches of all the daemon's threads;
//! each window also counts the packets received in the daemon's network
//! namespace, so that wake-ups no packet explains can be told apart.
//! Namespaces are named bh<k>-bst..., bsw-bst... (see cluster.rs).
//!
//! Needs root, iproute2, nftables, Pacemaker's crm_ticket and cibadmin, and
//! the C booth. Prints raw samples, then the table.

macro_rules! say {
    ($($a:tt)*) => {{
        println!($($a)*);
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }};
}

#[path = "../common/mod.rs"]
mod common;
#[path = "../netns/mod.rs"]
mod netns;

mod cluster;
mod failover;
mod phases;
mod procfs;
mod scale;
mod table;

use std::process::Command;
use std::time::Duration;

use cluster::{client, latency, ms, static_bin, Side};
use failover::{failover_cluster, failover_runs, Failover, FO_TICKETS};
use phases::{end_soak, main_phase, Main};
use procfs::{load, median};

pub const EXPIRE: u64 = 60;
pub const TIMEOUT: u64 = 3;
pub const RETRIES: u64 = 3;

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

pub fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .split([' ', ','])
            .filter_map(|s| s.trim().parse().ok())
            .filter(|&n| n > 0)
            .collect(),
        _ => default.to_vec(),
    }
}

pub struct Params {
    pub quick: bool,
    pub soak: u64,
    pub window: u64,
    pub tickets: usize,
    pub runs: usize,
    pub realtime: bool,
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split_once(':').unwrap().1.trim().to_string())
        .unwrap_or_default();
    let sh = |c: &str| {
        Command::new("sh")
            .args(["-c", c])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    say!("machine: {cpu}, {} cores, {}", sh("nproc"), sh("uname -sr"));
    say!("memory: {}", sh("free -m | awk '/Mem:/{print $2\" MB\"}'"));
    say!("date: {}", sh("date -u '+%Y-%m-%d %H:%M UTC'"));
    say!("commit: {}", sh("git rev-parse --short HEAD 2>/dev/null; git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo '(modified)'").replace('\n', " "));
    say!(
        "C booth: {}",
        sh("dpkg-query -W -f '${Version}' booth 2>/dev/null")
    );
    let bins = [Side::Ours, Side::Static]
        .map(|s| (s.name(), s.daemon()))
        .map(|(n, b)| {
            // Named relative to the checkout: the output is committed, and
            // no path of this machine belongs in the repository.
            let shown = std::env::current_dir()
                .ok()
                .and_then(|d| {
                    std::path::Path::new(&b)
                        .strip_prefix(d)
                        .ok()
                        .map(|p| p.display().to_string())
                })
                .unwrap_or_else(|| b.to_string());
            format!(
                "{n} {shown} ({})",
                sh(&format!("file -b '{b}' | cut -d, -f1-2,5"))
            )
        });
    say!("binaries: {}", bins.join("; "));
    say!("load at start: {}", load());
}

fn main() {
    if !netns::available(true) {
        return;
    }
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let p = Params {
        quick,
        soak: env_u64("BENCH_SOAK", if quick { 60 } else { 600 }),
        window: env_u64("BENCH_WINDOW", if quick { 30 } else { 60 }),
        tickets: env_u64("BENCH_TICKETS", if quick { 100 } else { 1000 }) as usize,
        runs: env_u64("BENCH_RUNS", if quick { 3 } else { 10 }) as usize,
        realtime: !std::env::var("BENCH_NO_REALTIME").is_ok_and(|v| v == "1"),
    };
    machine();
    if std::env::var("BENCH_MODE").is_ok_and(|v| v == "scale") {
        scale::scale(&p);
        return;
    }
    say!(
        "mode: {}, soak {} s, window {} s, {} tickets (expire {EXPIRE}, timeout {TIMEOUT}, retries {RETRIES}), {} failover runs, realtime {}",
        if p.quick { "quick" } else { "full" }, p.soak, p.window, p.tickets, p.runs, p.realtime
    );
    let mut m: [Main; 3] = Default::default();
    // One main cluster at a time: at 1000 tickets either can keep both
    // cores busy, which would distort the others' figures.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (side, r) in [Side::Ours, Side::Static, Side::C]
        .into_iter()
        .zip(m.iter_mut())
    {
        if !only.is_empty() && only != side.name().to_lowercase() {
            r.notes
                .push(format!("main phase skipped (BENCH_ONLY={only})"));
            continue;
        }
        if side == Side::Static && static_bin().is_none() {
            r.notes
                .push("no static build (BENCH_STATIC; make bench sets it)".into());
            continue;
        }
        match main_phase(side, &p, r) {
            Ok(s) => {
                r.ran = true;
                let cl = end_soak(&p, s, r);
                let (med, v, ok) = latency(&[&cl], &["list"], 20).remove(0);
                (r.list_big, r.list_big_ok) = (med, ok);
                say!(
                    "[{}] list with {} tickets, ms: {} (all ok: {ok}), load {}",
                    side.name(),
                    p.tickets,
                    ms(&v),
                    load()
                );
            }
            Err(e) => r.notes.push(format!("main phase failed: {e}")),
        }
    }
    let mut fo = Failover::default();
    let mut fc = Failover::default();
    failover_phase(&p, &mut fo, &mut fc);
    say!("load at end: {}", load());
    let [mo, ms_, mc] = &m;
    table::report(&p, [mo, ms_, mc], &fo, &fc);
}

/// The failover clusters of ours (dynamic) and C: grant -w and list
/// latencies, then the failover runs.
fn failover_phase(p: &Params, fo: &mut Failover, fc: &mut Failover) {
    match (
        failover_cluster(Side::Ours, p, fo),
        failover_cluster(Side::C, p, fc),
    ) {
        (Ok(mut lo), Ok(mut lc)) => {
            let (mut go, mut gc) = (Vec::new(), Vec::new());
            for i in 1..=6 {
                let t = format!("tk{i}");
                for (cl, v, r) in [(&lo, &mut go, &mut *fo), (&lc, &mut gc, &mut *fc)] {
                    let (d, o) = client(cl, 0, &["grant", "-w", &t]);
                    if !o.status.success() {
                        r.notes.push(format!(
                            "grant -w {t}: {}",
                            String::from_utf8_lossy(&o.stderr).trim()
                        ));
                    }
                    v.push(d);
                }
            }
            say!("grant -w, ms, ours: {}", ms(&go));
            say!("grant -w, ms, C:    {}", ms(&gc));
            (fo.grant_w, fc.grant_w) = (median(&go), median(&gc));
            for i in 2..=6 {
                let t = format!("tk{i}");
                client(&lo, 0, &["revoke", &t]);
                client(&lc, 0, &["revoke", &t]);
            }
            std::thread::sleep(Duration::from_secs(2));
            let l = latency(&[&lo, &lc], &["list"], 20);
            (fo.list_small, fc.list_small) = (l[0].0, l[1].0);
            say!("list with {FO_TICKETS} tickets, ms, ours: {}", ms(&l[0].1));
            say!("list with {FO_TICKETS} tickets, ms, C:    {}", ms(&l[1].1));
            failover_runs(&mut lo, p, fo);
            drop(lo);
            failover_runs(&mut lc, p, fc);
        }
        (a, b) => {
            for (r, e) in [(fo, a.err()), (fc, b.err())] {
                if let Some(e) = e {
                    r.notes.push(format!("failover cluster failed: {e}"));
                }
            }
        }
    }
}
