//! The main phase: one cluster per side with the configured number of
//! tickets; memory, idle and leader windows, then a soak.

use std::time::{Duration, Instant};

use crate::cluster::*;
use crate::procfs::{cpu_secs, load, measure_window, smaps, smaps_median, vol_ctxt, Window};
use crate::{Params, EXPIRE, TIMEOUT};

#[derive(Default, Clone)]
pub struct Main {
    /// The main phase ran (not skipped, not failed before the soak).
    pub ran: bool,
    pub startup: f64,
    pub settled: f64,
    pub startup_cpu: f64,
    pub soak_cib_granted: usize,
    pub error_lines: usize,
    pub rss_start: (u64, u64),
    pub rss_granted: (u64, u64),
    pub rss_soak: (u64, u64),
    pub idle: Option<Window>,
    pub leader: Vec<(usize, Window)>,
    pub soak_secs: f64,
    pub soak_cpu_per_h: f64,
    pub soak_wakeups: f64,
    pub soak_held: usize,
    pub list_big: f64,
    pub list_big_ok: bool,
    pub list_big_bytes: usize,
    pub grant_fails: usize,
    pub notes: Vec<String>,
}

/// A running main cluster in its soak.
pub struct Soak {
    pub cl: Cluster,
    pid: u32,
    t0: Instant,
    ctxt0: u64,
    cpu0: f64,
}

fn say_window(side: Side, what: &str, w: &Window) {
    say!(
        "[{}] {what}: {:.2} wake-ups/s ({} in {:.0} s), {} packets received ({:.2}/s), {:.2} CPU s/h, load {}",
        side.name(),
        w.wakeups_per_s(),
        w.wakeups,
        w.secs,
        w.packets,
        w.packets_per_s(),
        w.cpu_per_h,
        load()
    );
}

/// Start, settle, grant up to the configured count while measuring, and
/// leave the cluster running for the soak.
pub fn main_phase(side: Side, p: &Params, r: &mut Main) -> Result<Soak, String> {
    let n = p.tickets;
    let mut cl = new_cluster("m", side, &tickets_conf(n, EXPIRE, TIMEOUT, 0));
    say!(
        "[{}] main cluster, {n} tickets, load {}",
        side.name(),
        load()
    );
    r.startup = start_cluster(&mut cl, p)?;
    let pid = pid_of(&cl, 0);
    r.settled = settle(pid, Duration::from_secs(120));
    if r.settled >= 120.0 {
        r.notes.push(
            "still busy (CIB writes) 120 s after answering list: the idle window includes them"
                .into(),
        );
    }
    r.startup_cpu = cpu_secs(pid);
    r.rss_start = smaps_median(pid);
    say!(
        "[{}] start-up to list: {:.3} s, then busy for {:.1} s more, {:.2} CPU s so far (pid {pid}); RSS {} kB PSS {} kB",
        side.name(),
        r.startup,
        r.settled,
        r.startup_cpu,
        r.rss_start.0,
        r.rss_start.1
    );
    let w = measure_window(pid, p.window);
    say_window(side, "idle", &w);
    r.idle = Some(w);
    let steps: Vec<usize> = [1usize, 100, 1000, n]
        .into_iter()
        .filter(|&s| s <= n)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut granted = 0;
    for &step in &steps {
        let (secs, fails) = grant_range(&cl, granted + 1, step);
        say!(
            "[{}] granted tk{}..tk{step} one by one in {secs:.1} s, {fails} failed",
            side.name(),
            granted + 1
        );
        r.grant_fails += fails;
        granted = step;
        let held = wait_held(&cl, step, Duration::from_secs(300));
        if held < step {
            r.notes
                .push(format!("only {held} of {step} held before the window"));
        }
        let w = measure_window(pid, p.window);
        say_window(side, &format!("leader of {step} (held {held})"), &w);
        r.leader.push((step, w));
    }
    r.rss_granted = smaps_median(pid);
    r.list_big_bytes = list(&cl, 0).map(|t| t.len()).unwrap_or(0);
    say!(
        "[{}] leader of {n}: RSS {} kB PSS {} kB; list reply {} bytes",
        side.name(),
        r.rss_granted.0,
        r.rss_granted.1,
        r.list_big_bytes
    );
    Ok(Soak {
        ctxt0: vol_ctxt(pid),
        cpu0: cpu_secs(pid),
        cl,
        pid,
        t0: Instant::now(),
    })
}

pub fn end_soak(p: &Params, s: Soak, r: &mut Main) -> Cluster {
    let side = s.cl.side;
    let rest = Duration::from_secs(p.soak).saturating_sub(s.t0.elapsed());
    say!("[{}] soak: {} s left", side.name(), rest.as_secs());
    let end = Instant::now() + rest;
    let mut trend = Vec::new();
    loop {
        trend.push(format!(
            "{:.0}s:{}",
            s.t0.elapsed().as_secs_f64(),
            smaps(s.pid).0
        ));
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_secs(60)));
    }
    say!(
        "[{}] RSS kB during the soak: {}",
        side.name(),
        trend.join(" ")
    );
    let dt = s.t0.elapsed().as_secs_f64();
    r.soak_secs = dt;
    r.soak_cpu_per_h = (cpu_secs(s.pid) - s.cpu0) * 3600.0 / dt;
    r.soak_wakeups = (vol_ctxt(s.pid) - s.ctxt0) as f64 / dt;
    r.rss_soak = smaps_median(s.pid);
    r.soak_held = list(&s.cl, 1)
        .map(|t| held_by(&t, &s.cl.hosts[0].addr))
        .unwrap_or(0);
    say!(
        "[{}] after {dt:.0} s soak: RSS {} kB PSS {} kB, {:.2} CPU s/h, {:.2} wake-ups/s, {} held, load {}",
        side.name(),
        r.rss_soak.0,
        r.rss_soak.1,
        r.soak_cpu_per_h,
        r.soak_wakeups,
        r.soak_held,
        load()
    );
    r.soak_cib_granted = cib_granted_count(&s.cl, 0);
    r.error_lines = count_log_ci(&s.cl, "error");
    say!(
        "[{}] granted in the leader's CIB: {}; log lines with \"error\": {}",
        side.name(),
        r.soak_cib_granted,
        r.error_lines
    );
    let fails = count_log(&s.cl, "nobody won elections");
    if fails > 0 {
        r.notes
            .push(format!("{fails} \"nobody won elections\" log lines"));
    }
    s.cl
}
