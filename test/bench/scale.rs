//! `make bench-scale`: both daemons at a few ticket counts, ours alone at
//! more; granting one by one, then holding everything for a while.

use std::time::{Duration, Instant};

use crate::cluster::*;
use crate::procfs::{cpu_secs, load, smaps, vol_ctxt};
use crate::{env_list, env_u64, Params, EXPIRE, RETRIES, TIMEOUT};

/// One run; returns the leader's RSS at the end (kB).
fn scale_one(side: Side, n: usize, p: &Params, after: u64, expire: u64) -> Result<u64, String> {
    let mut lab = new_cluster("s", side, &tickets_conf(n, expire, TIMEOUT, 0));
    let startup = start_cluster(&mut lab, p)?;
    let pid = pid_of(&lab, 0);
    let busy = settle(pid, Duration::from_secs(120));
    say!(
        "[{} {n}] start-up to list {startup:.2} s, busy {busy:.1} s more",
        side.name()
    );
    let rss0 = smaps(pid);
    let u0 = cpu_secs(pid);
    let t0 = Instant::now();
    let (gsecs, gfails) = grant_range(&lab, 1, n);
    let grant_cpu = cpu_secs(pid) - u0;
    let held_after_grant = list(&lab, 1)
        .map(|t| held_by(&t, &lab.hosts[0].addr))
        .unwrap_or(0);
    say!(
        "[{} {n}] start-up {startup:.2} s, RSS {} kB; granted one by one in {gsecs:.1} s ({gfails} client failures, {:.1} CPU s at the leader), held {held_after_grant}, load {}",
        side.name(), rss0.0, grant_cpu, load()
    );
    let (u1, c1, t1) = (cpu_secs(pid), vol_ctxt(pid), Instant::now());
    let mut samples = Vec::new();
    // The leader's own list, timed at every sample: it must keep answering
    // while it renews everything.
    let (mut lead_max, mut lead_fail) = (0.0f64, 0usize);
    while t1.elapsed() < Duration::from_secs(after) {
        std::thread::sleep(
            Duration::from_secs(15).min(Duration::from_secs(after).saturating_sub(t1.elapsed())),
        );
        let h = list(&lab, 1)
            .map(|t| held_by(&t, &lab.hosts[0].addr))
            .unwrap_or(0);
        samples.push(h);
        let (secs, out) = client(&lab, 0, &["list"]);
        lead_max = lead_max.max(secs);
        if !out.status.success()
            || held_by(&String::from_utf8_lossy(&out.stdout), &lab.hosts[0].addr)
                < h.min(held_after_grant)
        {
            lead_fail += 1;
        }
    }
    let (lo, hi) = (
        samples.iter().min().copied().unwrap_or(0),
        samples.iter().max().copied().unwrap_or(0),
    );
    say!(
        "[{} {n}] {} samples, held min {lo} max {hi}; leader's list: slowest {lead_max:.3} s, {lead_fail} failed or short",
        side.name(),
        samples.len()
    );
    let dt = t1.elapsed().as_secs_f64();
    let cpu_h = (cpu_secs(pid) - u1) * 3600.0 / dt;
    let wake = (vol_ctxt(pid) - c1) as f64 / dt;
    let rss = smaps(pid);
    let (lat, _, ok) = latency(&[&lab], &["list"], 5).remove(0);
    let bytes = list(&lab, 0).map(|t| t.len()).unwrap_or(0);
    let held_cib = {
        let xml = std::fs::read_to_string(cib_path(&lab, 0)).unwrap_or_default();
        xml.split('<')
            .filter(|e| e.starts_with("ticket_state") && e.contains("granted=\"true\""))
            .count()
    };
    let fails = count_log(&lab, "nobody won elections");
    let errors = count_log_ci(&lab, "error");
    let others: f64 = (1..3)
        .map(|k| cpu_secs(lab.hosts[k].daemon.as_ref().unwrap().id()))
        .sum();
    say!(
        "[{} {n}] over {dt:.0} s: held (site 1's list) {:?}, granted in leader's CIB {held_cib}, \"nobody won elections\" lines {fails}, log lines with \"error\" {errors}, leader CPU {cpu_h:.1} s/h (+children), {wake:.1} wake-ups/s, RSS {} kB PSS {} kB, list {lat:.4} s ({bytes} bytes, ok {ok}), other members' CPU total {others:.1} s, total elapsed {:.0} s, load {}",
        side.name(), samples, rss.0, rss.1, t0.elapsed().as_secs_f64(), load()
    );
    say!(
        "SCALE | {} | {n} | {startup:.2} | {gsecs:.1} | {held_after_grant} | {} | {held_cib} | {fails} | {:.1} | {cpu_h:.1} | {} | {lat:.4} | {ok}",
        side.name(), samples.last().copied().unwrap_or(0), grant_cpu, rss.0
    );
    Ok(rss.0)
}

pub fn scale(p: &Params) {
    let both = env_list(
        "BENCH_SCALE",
        if p.quick { &[100, 300] } else { &[300, 1000] },
    );
    let ours = env_list("BENCH_SCALE_OURS", if p.quick { &[1000] } else { &[10000] });
    let settle = env_u64("BENCH_SETTLE", if p.quick { 45 } else { 90 });
    let expire = env_u64("BENCH_SCALE_EXPIRE", EXPIRE);
    say!("scale: expire {expire}, timeout {TIMEOUT}, retries {RETRIES}; both at {both:?}, ours alone at {ours:?}; {settle} s after granting");
    say!("SCALE | impl | tickets | start-up s | grant all s | held after grant | held at end | granted in CIB | nobody-won lines | leader CPU s while granting | leader CPU s/h after | RSS kB | list s | list ok");
    let mut runs: Vec<(Side, usize)> = Vec::new();
    for &n in &both {
        runs.push((Side::Ours, n));
        runs.push((Side::C, n));
    }
    for &n in &ours {
        runs.push((Side::Ours, n));
    }
    let mut ours_rss: Vec<(usize, u64)> = Vec::new();
    for (side, n) in runs {
        match scale_one(side, n, p, settle, expire) {
            Ok(rss) if side == Side::Ours => ours_rss.push((n, rss)),
            Ok(_) => {}
            Err(e) => say!("[{} {n}] failed: {e}", side.name()),
        }
    }
    // Memory per ticket: what the leader's RSS grows by from the smallest
    // to the largest run, per ticket added (the daemon's fixed part cancels).
    ours_rss.sort();
    if let (Some(&(n0, r0)), Some(&(n1, r1))) = (ours_rss.first(), ours_rss.last()) {
        if n1 > n0 {
            let per = (r1 as f64 - r0 as f64) * 1024.0 / (n1 - n0) as f64;
            say!(
                "memory per ticket, ours: {per:.0} bytes (leader's RSS {r0} kB at {n0} tickets, {r1} kB at {n1}; target <= 1024)"
            );
        }
    }
    say!("load at end: {}", load());
}
