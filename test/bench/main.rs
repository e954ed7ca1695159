//! `make bench` / `make bench-scale`: our daemon next to the C booth 1.0
//! (/usr/sbin/boothd) in identical clusters of 2 sites + 1 arbitrator, each
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
//!   BENCH_ONLY=ours|c   the main (memory, wake-up, CPU, soak) phase for
//!                       one implementation only; any other value (say
//!                       "none") skips both: latency and failover only
//!   BENCH_MODE=scale    the scale run instead (BENCH_SCALE="300 1000"
//!                       for both, 0 for none,
//!                       BENCH_SCALE_OURS="10000", BENCH_SETTLE=90,
//!                       BENCH_SCALE_EXPIRE=60,
//!                       BENCH_GRANT_CAP=900 s for granting one by one)
//!
//! Needs root, iproute2, nftables, Pacemaker's crm_ticket and cibadmin, and
//! the C booth. Prints raw samples, then the table.

#[path = "../netns/mod.rs"]
mod netns;

use std::fs::OpenOptions;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netns::{Impl, Lab, C_BOOTHD, OURS};

const EXPIRE: u64 = 60;
const TIMEOUT: u64 = 3;
const RETRIES: u64 = 3;
// The failover cluster: short leases so that ten runs fit in minutes.
const FO_EXPIRE: u64 = 10;
const FO_TIMEOUT: u64 = 1;
const FO_ACQUIRE_AFTER: u64 = 0;
const FO_TICKETS: usize = 10;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .split([' ', ','])
            .filter_map(|s| s.trim().parse().ok())
            .filter(|&n| n > 0)
            .collect(),
        _ => default.to_vec(),
    }
}

struct Params {
    quick: bool,
    soak: u64,
    window: u64,
    tickets: usize,
    runs: usize,
    realtime: bool,
}

fn name(imp: Impl) -> &'static str {
    match imp {
        Impl::Rust => "ours",
        Impl::C => "C",
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

macro_rules! say {
    ($($a:tt)*) => {{
        println!($($a)*);
        let _ = std::io::stdout().flush();
    }};
}

// ---- /proc readings ----

fn smaps(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

fn vol_ctxt(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("voluntary_ctxt_switches:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime + cutime + cstime in seconds (children once reaped).
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // After the comm: state is field 3, utime 14 .. cstime 17.
    let ticks: u64 = if f.len() > 15 {
        f[11..15].iter().sum()
    } else {
        0
    };
    ticks as f64 / clk_tck()
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf takes a constant and has no other effect.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

#[derive(Clone)]
struct Window {
    wakeups_per_s: f64,
    cpu_per_h: f64,
}

fn measure_window(pid: u32, secs: u64) -> Window {
    let (c0, u0, t0) = (vol_ctxt(pid), cpu_secs(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, u1, dt) = (vol_ctxt(pid), cpu_secs(pid), t0.elapsed().as_secs_f64());
    Window {
        wakeups_per_s: (c1 - c0) as f64 / dt,
        cpu_per_h: (u1 - u0) * 3600.0 / dt,
    }
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[s.len() / 2]
}

// ---- clusters ----

fn tickets_conf(n: usize, expire: u64, timeout: u64, acquire_after: u64) -> String {
    let mut s = String::new();
    for i in 1..=n {
        s.push_str(&format!(
            "ticket = \"tk{i}\"\n  expire = {expire}\n  timeout = {timeout}\n  retries = {RETRIES}\n"
        ));
        if acquire_after > 0 {
            s.push_str(&format!("  acquire-after = {acquire_after}\n"));
        }
    }
    s
}

fn new_lab(tag: &str, imp: Impl, tail: &str) -> Lab {
    Lab::new(
        tag,
        &[("site", imp), ("site", imp), ("arbitrator", imp)],
        tail,
    )
}

fn cib_path(lab: &Lab, k: usize) -> std::path::PathBuf {
    lab.dir.join(format!("cib{k}.xml"))
}

/// Starts member `k` as in production (detached from us only by `-S`: no
/// fork, so the child we hold is the daemon itself); returns its PID.
fn spawn(lab: &mut Lab, k: usize, realtime: bool) -> u32 {
    let cib = cib_path(lab, k);
    if !cib.exists() {
        let xml = Command::new("cibadmin")
            .arg("--empty")
            .output()
            .unwrap()
            .stdout;
        std::fs::write(&cib, xml).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cib, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let h = &lab.hosts[k];
    let bin = match h.imp {
        Impl::Rust => OURS,
        Impl::C => C_BOOTHD,
    };
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(lab.dir.join(format!("m{k}.log")))
        .unwrap();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &h.ns, "env"])
        .arg(format!("CIB_file={}", cib.display()));
    if !realtime {
        cmd.arg("BOOTH_NO_REALTIME=1");
    }
    let child = cmd
        .args([bin, "daemon", "-S", "-c"])
        .arg(&lab.conf)
        .arg("-l")
        .arg(lab.dir.join(format!("m{k}.pid")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id();
    lab.hosts[k].daemon = Some(child);
    pid
}

fn kill(lab: &mut Lab, k: usize) {
    lab.kill(k);
}

/// Runs `f` on a thread moved into network namespace `ns` (setns acts on
/// the calling thread only), so that clients can be started and timed
/// without `ip netns exec` in between.
fn in_ns<R: Send>(ns: &str, f: impl FnOnce() -> R + Send) -> R {
    use std::os::fd::AsRawFd;
    let fd = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns(2) with a namespace file descriptor we hold.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap()
    })
}

/// The implementation's own client against its own daemon on host `k`;
/// seconds from spawn to exit (killed after 120 s).
fn client(lab: &Lab, k: usize, args: &[&str]) -> (f64, Output) {
    let bin = match lab.hosts[k].imp {
        Impl::Rust => OURS,
        Impl::C => "/usr/sbin/booth",
    };
    let conf = lab.conf.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    in_ns(&lab.hosts[k].ns, move || {
        let t0 = Instant::now();
        let child = Command::new(bin)
            .arg(&args[0])
            .arg("-c")
            .arg(&conf)
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let out = child.wait_with_output().unwrap();
            let _ = tx.send((Instant::now(), out));
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok((t1, out)) => ((t1 - t0).as_secs_f64(), out),
            Err(_) => {
                // SAFETY: kill(2) on the client we started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                let (t1, out) = rx.recv().unwrap();
                ((t1 - t0).as_secs_f64(), out)
            }
        }
    })
}

fn list(lab: &Lab, k: usize) -> Option<String> {
    let (_, o) = client(lab, k, &["list"]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn held_by(text: &str, addr: &str) -> usize {
    let pat = format!("leader: {addr},");
    text.lines().filter(|l| l.contains(&pat)).count()
}

/// Starts all three members; seconds until site 0 answers `booth list`.
fn start_cluster(lab: &mut Lab, p: &Params) -> Result<f64, String> {
    let t0 = Instant::now();
    for k in 0..lab.hosts.len() {
        spawn(lab, k, p.realtime);
    }
    let limit = Duration::from_secs(900);
    let mut up = None;
    while t0.elapsed() < limit {
        let (_, o) = client(lab, 0, &["list"]);
        if o.status.success() {
            up = Some(t0.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let up = up.ok_or("site 0 never answered list")?;
    for k in 1..lab.hosts.len() {
        while list(lab, k).is_none() {
            if t0.elapsed() > limit {
                return Err(format!("member {k} never answered list"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(up)
}

/// `n` samples of a client command at site 0 of each lab, the labs taking
/// turns (so that both see the same machine load). Per lab: median,
/// samples, all succeeded.
fn latency(labs: &[&Lab], args: &[&str], n: usize) -> Vec<(f64, Vec<f64>, bool)> {
    let mut r: Vec<(Vec<f64>, bool)> = labs.iter().map(|_| (Vec::new(), true)).collect();
    for _ in 0..n {
        for (i, lab) in labs.iter().enumerate() {
            let (t, o) = client(lab, 0, args);
            r[i].1 &= o.status.success();
            r[i].0.push(t);
        }
    }
    r.into_iter().map(|(v, ok)| (median(&v), v, ok)).collect()
}

fn ms(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{:.1}", x * 1000.0))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits until the daemon has stopped using CPU (start-up CIB reads done):
/// no change in its CPU time, children included, for 10 s (our daemon
/// writes every ticket's state a few seconds after start). Returns the
/// seconds until the last change.
fn settle(pid: u32, limit: Duration) -> f64 {
    let t0 = Instant::now();
    let mut last = (cpu_secs(pid), Instant::now());
    while t0.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(250));
        let c = cpu_secs(pid);
        if c != last.0 {
            last = (c, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(10) {
            return (last.1 - t0).as_secs_f64();
        }
    }
    t0.elapsed().as_secs_f64()
}

/// Grants tk{from}..=tk{to} one by one at site 0 (plain `grant`, no -w) in
/// one shell loop inside the namespace, giving up after BENCH_GRANT_CAP
/// seconds (default 900); returns (seconds, failures).
fn grant_range(lab: &Lab, from: usize, to: usize) -> (f64, usize) {
    let cap = env_u64("BENCH_GRANT_CAP", 900);
    if from > to {
        return (0.0, 0);
    }
    let bin = match lab.hosts[0].imp {
        Impl::Rust => format!("{OURS} grant"),
        Impl::C => "/usr/sbin/booth grant".to_string(),
    };
    let script = format!(
        "end=$(( $(date +%s) + {cap} )); for i in $(seq {from} {to}); do [ $(date +%s) -lt $end ] || {{ echo capped; break; }}; timeout 60 {bin} -c {} tk$i >/dev/null 2>&1 || echo fail; done",
        lab.conf.display()
    );
    let t0 = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.hosts[0].ns, "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let fails = text.lines().filter(|l| *l == "fail").count();
    if text.contains("capped") {
        say!("granting stopped after {cap} s (BENCH_GRANT_CAP)");
    }
    (t0.elapsed().as_secs_f64(), fails)
}

/// Waits until site 1 sees site 0 lead `n` tickets; returns how many it
/// sees at the end.
fn wait_held(lab: &Lab, n: usize, limit: Duration) -> usize {
    let t0 = Instant::now();
    let addr = lab.hosts[0].addr.clone();
    loop {
        let h = list(lab, 1).map(|t| held_by(&t, &addr)).unwrap_or(0);
        if h >= n || t0.elapsed() > limit {
            return h;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn count_log_ci(lab: &Lab, pat: &str) -> usize {
    (0..lab.hosts.len())
        .map(|k| {
            lab.log(k)
                .lines()
                .filter(|l| l.to_lowercase().contains(pat))
                .count()
        })
        .sum()
}

fn cib_granted_count(lab: &Lab, k: usize) -> usize {
    std::fs::read_to_string(cib_path(lab, k))
        .unwrap_or_default()
        .split('<')
        .filter(|e| e.starts_with("ticket_state") && e.contains("granted=\"true\""))
        .count()
}

fn count_log(lab: &Lab, pat: &str) -> usize {
    (0..lab.hosts.len())
        .map(|k| lab.log(k).matches(pat).count())
        .sum()
}

// ---- results ----

#[derive(Default, Clone)]
struct Main {
    /// The main phase ran (not skipped, not failed before the soak).
    ran: bool,
    startup: f64,
    settled: f64,
    startup_cpu: f64,
    soak_cib_granted: usize,
    error_lines: usize,
    rss_start: (u64, u64),
    rss_granted: (u64, u64),
    rss_soak: (u64, u64),
    idle: Option<Window>,
    leader: Vec<(usize, Window)>,
    soak_secs: f64,
    soak_cpu_per_h: f64,
    soak_wakeups: f64,
    soak_held: usize,
    list_big: f64,
    list_big_ok: bool,
    list_big_bytes: usize,
    grant_fails: usize,
    notes: Vec<String>,
}

#[derive(Default, Clone)]
struct Failover {
    startup: f64,
    list_small: f64,
    grant_w: f64,
    /// (failover seconds, lower bound seconds)
    runs: Vec<(f64, f64)>,
    notes: Vec<String>,
}

/// A running main cluster in its soak.
struct Soak {
    lab: Lab,
    pid: u32,
    t0: Instant,
    ctxt0: u64,
    cpu0: f64,
}

/// Start, settle, grant up to the configured count while measuring, and
/// leave the cluster running for the soak.
fn main_phase(imp: Impl, p: &Params, r: &mut Main) -> Result<Soak, String> {
    let n = p.tickets;
    let mut lab = new_lab(
        if imp == Impl::Rust { "bo" } else { "bc" },
        imp,
        &tickets_conf(n, EXPIRE, TIMEOUT, 0),
    );
    say!("[{}] main cluster, {n} tickets, load {}", name(imp), load());
    r.startup = start_cluster(&mut lab, p)?;
    let pid = lab.hosts[0].daemon.as_ref().unwrap().id();
    r.settled = settle(pid, Duration::from_secs(120));
    if r.settled >= 120.0 {
        r.notes.push(
            "still busy (CIB writes) 120 s after answering list: the idle window includes them"
                .into(),
        );
    }
    r.startup_cpu = cpu_secs(pid);
    r.rss_start = smaps(pid);
    say!(
        "[{}] start-up to list: {:.3} s, then busy for {:.1} s more, {:.2} CPU s so far (pid {pid}); RSS {} kB PSS {} kB",
        name(imp),
        r.startup,
        r.settled,
        r.startup_cpu,
        r.rss_start.0,
        r.rss_start.1
    );
    let w = measure_window(pid, p.window);
    say!(
        "[{}] idle: {:.2} wake-ups/s, {:.2} CPU s/h, load {}",
        name(imp),
        w.wakeups_per_s,
        w.cpu_per_h,
        load()
    );
    r.idle = Some(w);
    let steps: Vec<usize> = [1usize, 100, 1000, n]
        .into_iter()
        .filter(|&s| s <= n)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut granted = 0;
    for &step in &steps {
        let (secs, fails) = grant_range(&lab, granted + 1, step);
        say!(
            "[{}] granted tk{}..tk{step} one by one in {secs:.1} s, {fails} failed",
            name(imp),
            granted + 1
        );
        r.grant_fails += fails;
        granted = step;
        let held = wait_held(&lab, step, Duration::from_secs(300));
        if held < step {
            r.notes
                .push(format!("only {held} of {step} held before the window"));
        }
        let w = measure_window(pid, p.window);
        say!(
            "[{}] leader of {step} (held {held}): {:.2} wake-ups/s, {:.2} CPU s/h, load {}",
            name(imp),
            w.wakeups_per_s,
            w.cpu_per_h,
            load()
        );
        r.leader.push((step, w));
    }
    r.rss_granted = smaps(pid);
    r.list_big_bytes = list(&lab, 0).map(|t| t.len()).unwrap_or(0);
    say!(
        "[{}] leader of {n}: RSS {} kB PSS {} kB; list reply {} bytes",
        name(imp),
        r.rss_granted.0,
        r.rss_granted.1,
        r.list_big_bytes
    );
    Ok(Soak {
        ctxt0: vol_ctxt(pid),
        cpu0: cpu_secs(pid),
        lab,
        pid,
        t0: Instant::now(),
    })
}

fn end_soak(imp: Impl, p: &Params, s: Soak, r: &mut Main) -> Lab {
    let rest = Duration::from_secs(p.soak).saturating_sub(s.t0.elapsed());
    say!("[{}] soak: {} s left", name(imp), rest.as_secs());
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
        name(imp),
        trend.join(" ")
    );
    let dt = s.t0.elapsed().as_secs_f64();
    r.soak_secs = dt;
    r.soak_cpu_per_h = (cpu_secs(s.pid) - s.cpu0) * 3600.0 / dt;
    r.soak_wakeups = (vol_ctxt(s.pid) - s.ctxt0) as f64 / dt;
    r.rss_soak = smaps(s.pid);
    r.soak_held = list(&s.lab, 1)
        .map(|t| held_by(&t, &s.lab.hosts[0].addr))
        .unwrap_or(0);
    say!(
        "[{}] after {dt:.0} s soak: RSS {} kB PSS {} kB, {:.2} CPU s/h, {:.2} wake-ups/s, {} held, load {}",
        name(imp),
        r.rss_soak.0,
        r.rss_soak.1,
        r.soak_cpu_per_h,
        r.soak_wakeups,
        r.soak_held,
        load()
    );
    r.soak_cib_granted = cib_granted_count(&s.lab, 0);
    r.error_lines = count_log_ci(&s.lab, "error");
    say!(
        "[{}] granted in the leader's CIB: {}; log lines with \"error\": {}",
        name(imp),
        r.soak_cib_granted,
        r.error_lines
    );
    let fails = count_log(&s.lab, "nobody won elections");
    if fails > 0 {
        r.notes
            .push(format!("{fails} \"nobody won elections\" log lines"));
    }
    s.lab
}

// ---- failover ----

fn expires_of(text: &str, ticket: &str) -> Option<String> {
    let head = format!("ticket: {ticket}, ");
    text.lines()
        .find(|l| l.starts_with(&head))
        .and_then(|l| l.split_once("expires: "))
        .map(|(_, e)| e.to_string())
}

fn leader_of(text: &str, ticket: &str) -> Option<String> {
    let head = format!("ticket: {ticket}, leader: ");
    text.lines()
        .find(|l| l.starts_with(&head))
        .map(|l| l[head.len()..].split(',').next().unwrap_or("").to_string())
}

fn cib_granted(lab: &Lab, k: usize, ticket: &str) -> bool {
    let xml = std::fs::read_to_string(cib_path(lab, k)).unwrap_or_default();
    let id = format!("id=\"{ticket}\"");
    xml.split('<')
        .filter(|e| e.starts_with("ticket_state") && e.contains(&id))
        .any(|e| e.contains("granted=\"true\""))
}

fn rand_unit() -> f64 {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let x = n
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn failover_lab(imp: Impl, p: &Params, r: &mut Failover) -> Result<Lab, String> {
    let mut lab = new_lab(
        if imp == Impl::Rust { "fo" } else { "fc" },
        imp,
        &tickets_conf(FO_TICKETS, FO_EXPIRE, FO_TIMEOUT, FO_ACQUIRE_AFTER),
    );
    r.startup = start_cluster(&mut lab, p)?;
    let pid = lab.hosts[0].daemon.as_ref().unwrap().id();
    let settled = settle(pid, Duration::from_secs(300));
    say!(
        "[{}] failover cluster ({FO_TICKETS} tickets, expire {FO_EXPIRE}, timeout {FO_TIMEOUT}, acquire-after {FO_ACQUIRE_AFTER}): start-up to list {:.3} s, busy {settled:.1} s more",
        name(imp),
        r.startup
    );
    Ok(lab)
}

/// One look at member `surv`'s `booth list` (then a 5 ms pause): whether
/// it shows tk1 led by `holder` with an expiry other than the one it showed
/// last (`last`, updated; the first sighting is no renewal).
fn renewed(lab: &Lab, surv: usize, holder: &str, last: &mut Option<String>) -> bool {
    let mut changed = false;
    if let Some(t) = list(lab, surv) {
        if leader_of(&t, "tk1").as_deref() == Some(holder) {
            let e = expires_of(&t, "tk1");
            changed = last.is_some() && e != *last;
            *last = e;
        }
    }
    std::thread::sleep(Duration::from_millis(5));
    changed
}

fn failover_runs(lab: &mut Lab, p: &Params, r: &mut Failover) {
    let imp = lab.hosts[0].imp;
    let mut holder = 0usize;
    for run in 0..p.runs {
        let surv = 1 - holder;
        let haddr = lab.hosts[holder].addr.clone();
        let saddr = lab.hosts[surv].addr.clone();
        // Catch a renewal: the survivor's displayed expiry jumps.
        let t0 = Instant::now();
        let mut last = None;
        let renewal = loop {
            if t0.elapsed() > Duration::from_secs(3 * FO_EXPIRE) {
                break None;
            }
            if renewed(lab, surv, &haddr, &mut last) {
                break Some(Instant::now());
            }
        };
        let Some(tr) = renewal else {
            r.notes
                .push(format!("run {run}: no renewal by {haddr} seen"));
            break;
        };
        let d = 0.5 + rand_unit() * (FO_EXPIRE as f64 / 2.0 - 1.0);
        // The kill comes `d` after the renewal caught above. Keep watching
        // until then: a leader that renews more often than every expire/2
        // (ours renews a timeout early, so its lease keeps its margin) may
        // renew again before it dies, and the survivor's lease then counts
        // from that renewal.
        let kill_at = tr + Duration::from_secs_f64(d);
        let mut tr = tr;
        let mut renewals_seen = 0;
        while Instant::now() < kill_at {
            if renewed(lab, surv, &haddr, &mut last) {
                tr = Instant::now();
                renewals_seen += 1;
            }
        }
        kill(lab, holder);
        let tk = Instant::now();
        // The survivor's lease ends `expire` after the renewal it saw.
        let bound = (FO_EXPIRE as f64 - (tk - tr).as_secs_f64()).max(0.0) + FO_ACQUIRE_AFTER as f64;
        let mut took = None;
        while tk.elapsed() < Duration::from_secs(4 * FO_EXPIRE) {
            if cib_granted(lab, surv, "tk1") {
                took = Some(tk.elapsed().as_secs_f64());
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let Some(took) = took else {
            r.notes.push(format!("run {run}: {saddr} never took tk1"));
            break;
        };
        say!(
            "[{}] failover run {run}: killed {haddr} {:.2} s after its last renewal seen ({renewals_seen} more during the wait), {saddr} granted after {took:.3} s, bound {bound:.3} s, excess {:.3} s, load {}",
            name(imp),
            (tk - tr).as_secs_f64(),
            took - bound,
            load()
        );
        r.runs.push((took, bound));
        // Bring the killed member back and let it learn the new holder.
        spawn(lab, holder, p.realtime);
        let t1 = Instant::now();
        loop {
            let ok = list(lab, holder)
                .map(|t| leader_of(&t, "tk1").as_deref() == Some(saddr.as_str()))
                .unwrap_or(false)
                && !cib_granted(lab, holder, "tk1");
            if ok {
                break;
            }
            if t1.elapsed() > Duration::from_secs(4 * FO_EXPIRE) {
                r.notes.push(format!(
                    "run {run}: restarted {haddr} did not settle (its CIB still granted: {})",
                    cib_granted(lab, holder, "tk1")
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        holder = surv;
    }
    let fails = count_log(lab, "nobody won elections");
    if fails > 0 {
        r.notes
            .push(format!("{fails} \"nobody won elections\" log lines"));
    }
}

// ---- table ----

struct Table {
    rows: Vec<[String; 6]>,
    pass: usize,
    fail: usize,
    /// Whether each side's main phase ran (rows of a skipped side show
    /// "-" and get no verdict).
    ran: (bool, bool),
}

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_nan() => "n/a".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) if x.abs() >= 1.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.3}"),
        None => "-".into(),
    }
}

impl Table {
    fn row_main(
        &mut self,
        metric: &str,
        ours: Option<f64>,
        c: Option<f64>,
        target: &str,
        pass: Option<bool>,
    ) {
        let (o, k) = self.ran;
        let pass = if o && k { pass } else { None };
        self.row(metric, ours.filter(|_| o), c.filter(|_| k), target, pass);
    }

    fn row(
        &mut self,
        metric: &str,
        ours: Option<f64>,
        c: Option<f64>,
        target: &str,
        pass: Option<bool>,
    ) {
        let ratio = match (ours, c) {
            (Some(o), Some(c)) if c != 0.0 && !o.is_nan() && !c.is_nan() => format!("{:.2}", o / c),
            _ => "-".into(),
        };
        let verdict = match pass {
            Some(true) => {
                self.pass += 1;
                "PASS"
            }
            Some(false) => {
                self.fail += 1;
                "FAIL"
            }
            None => "info",
        };
        self.rows.push([
            metric.into(),
            fmt(ours),
            fmt(c),
            ratio,
            target.into(),
            verdict.into(),
        ]);
    }

    fn print(&self) {
        let head = ["metric", "ours", "C 1.0", "ours/C", "target", "result"];
        let mut w = [0usize; 6];
        for r in self
            .rows
            .iter()
            .map(|r| r.each_ref().map(|s| s.as_str()))
            .chain([head])
        {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |r: [&str; 6]| {
            let mut s = String::new();
            for (i, c) in r.iter().enumerate() {
                if i == 0 || i == 4 {
                    s.push_str(&format!("| {c:<width$} ", width = w[i]));
                } else {
                    s.push_str(&format!("| {c:>width$} ", width = w[i]));
                }
            }
            s.push('|');
            s
        };
        say!("{}", line(head));
        say!(
            "{}",
            line(w.map(|n| "-".repeat(n)).each_ref().map(|s| s.as_str()))
        );
        for r in &self.rows {
            say!("{}", line(r.each_ref().map(|s| s.as_str())));
        }
        say!("{} PASS, {} FAIL", self.pass, self.fail);
    }
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
        scale(&p);
        return;
    }
    say!(
        "mode: {}, soak {} s, window {} s, {} tickets (expire {EXPIRE}, timeout {TIMEOUT}, retries {RETRIES}), {} failover runs, realtime {}",
        if p.quick { "quick" } else { "full" }, p.soak, p.window, p.tickets, p.runs, p.realtime
    );
    let mut mo = Main::default();
    let mut mc = Main::default();
    // One main cluster at a time: at 1000 tickets either can keep both
    // cores busy, which would distort the other's figures.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (imp, r) in [(Impl::Rust, &mut mo), (Impl::C, &mut mc)] {
        if !only.is_empty() && only != name(imp).to_lowercase() {
            r.notes
                .push(format!("main phase skipped (BENCH_ONLY={only})"));
            continue;
        }
        match main_phase(imp, &p, r) {
            Ok(s) => {
                r.ran = true;
                let lab = end_soak(imp, &p, s, r);
                let (m, v, ok) = latency(&[&lab], &["list"], 20).remove(0);
                (r.list_big, r.list_big_ok) = (m, ok);
                say!(
                    "[{}] list with {} tickets, ms: {} (all ok: {ok}), load {}",
                    name(imp),
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
    match (
        failover_lab(Impl::Rust, &p, &mut fo),
        failover_lab(Impl::C, &p, &mut fc),
    ) {
        (Ok(mut lo), Ok(mut lc)) => {
            let (mut go, mut gc) = (Vec::new(), Vec::new());
            for i in 1..=6 {
                let t = format!("tk{i}");
                for (lab, v, r) in [(&lo, &mut go, &mut fo), (&lc, &mut gc, &mut fc)] {
                    let (d, o) = client(lab, 0, &["grant", "-w", &t]);
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
            failover_runs(&mut lo, &p, &mut fo);
            drop(lo);
            failover_runs(&mut lc, &p, &mut fc);
        }
        (a, b) => {
            for (r, e) in [(&mut fo, a.err()), (&mut fc, b.err())] {
                if let Some(e) = e {
                    r.notes.push(format!("failover cluster failed: {e}"));
                }
            }
        }
    }
    say!("load at end: {}", load());

    let n = p.tickets;
    let mut t = Table {
        rows: Vec::new(),
        pass: 0,
        fail: 0,
        ran: (mo.ran, mc.ran),
    };
    let f = |x: u64| Some(x as f64);
    t.row(
        &format!("start-up to list, {FO_TICKETS} tickets (s)"),
        Some(fo.startup),
        Some(fc.startup),
        "info",
        None,
    );
    t.row_main(
        &format!("start-up to list, {n} tickets (s)"),
        Some(mo.startup),
        Some(mc.startup),
        "info",
        None,
    );
    t.row_main(
        &format!("start-up busy after list, {n} tickets (s)"),
        Some(mo.settled),
        Some(mc.settled),
        "info",
        None,
    );
    t.row_main(
        &format!("start-up CPU s until quiet, {n} tickets"),
        Some(mo.startup_cpu),
        Some(mc.startup_cpu),
        "info",
        None,
    );
    let quarter = |o: u64, c: u64| Some(o as f64 <= c as f64 / 4.0);
    t.row_main(
        "RSS after start (kB)",
        f(mo.rss_start.0),
        f(mc.rss_start.0),
        "<= C/4",
        quarter(mo.rss_start.0, mc.rss_start.0),
    );
    t.row_main(
        "PSS after start (kB)",
        f(mo.rss_start.1),
        f(mc.rss_start.1),
        "<= C/4",
        quarter(mo.rss_start.1, mc.rss_start.1),
    );
    t.row_main(
        &format!("RSS leader of {n} (kB)"),
        f(mo.rss_granted.0),
        f(mc.rss_granted.0),
        "<= C/4",
        quarter(mo.rss_granted.0, mc.rss_granted.0),
    );
    t.row_main(
        &format!("PSS leader of {n} (kB)"),
        f(mo.rss_granted.1),
        f(mc.rss_granted.1),
        "<= C/4",
        quarter(mo.rss_granted.1, mc.rss_granted.1),
    );
    t.row_main(
        &format!("RSS after {} s soak (kB)", p.soak),
        f(mo.rss_soak.0),
        f(mc.rss_soak.0),
        "<= C/4",
        quarter(mo.rss_soak.0, mc.rss_soak.0),
    );
    t.row_main(
        &format!("PSS after {} s soak (kB)", p.soak),
        f(mo.rss_soak.1),
        f(mc.rss_soak.1),
        "<= C/4",
        quarter(mo.rss_soak.1, mc.rss_soak.1),
    );
    let growth = |m: &Main| m.rss_soak.0 as f64 - m.rss_granted.0 as f64;
    t.row_main(
        "RSS growth during soak (kB)",
        Some(growth(&mo)),
        Some(growth(&mc)),
        "ours <= 0",
        Some(growth(&mo) <= 0.0 && mo.rss_soak.0 > 0),
    );
    let idle = |m: &Main| m.idle.as_ref().map(|w| w.wakeups_per_s);
    t.row_main(
        "wake-ups/s idle",
        idle(&mo),
        idle(&mc),
        "< 1 (no packets)",
        idle(&mo).map(|w| w < 1.0),
    );
    for (i, (step, wo)) in mo.leader.iter().enumerate() {
        let wc = mc.leader.get(i).map(|(_, w)| w.wakeups_per_s);
        t.row_main(
            &format!("wake-ups/s leader of {step}"),
            Some(wo.wakeups_per_s),
            wc,
            "<= C",
            wc.map(|c| wo.wakeups_per_s <= c),
        );
    }
    for (i, (step, wo)) in mo.leader.iter().enumerate() {
        let wc = mc.leader.get(i).map(|(_, w)| w.cpu_per_h);
        let (target, pass) = if *step >= 1000 {
            ("<= C/3", wc.map(|c| wo.cpu_per_h <= c / 3.0))
        } else {
            ("<= C", wc.map(|c| wo.cpu_per_h <= c))
        };
        t.row_main(
            &format!("CPU s/h leader of {step}, {} s", p.window),
            Some(wo.cpu_per_h),
            wc,
            target,
            pass,
        );
    }
    let (target, pass) = if n >= 1000 {
        ("<= C/3", Some(mo.soak_cpu_per_h <= mc.soak_cpu_per_h / 3.0))
    } else {
        ("<= C", Some(mo.soak_cpu_per_h <= mc.soak_cpu_per_h))
    };
    t.row_main(
        &format!("CPU s/h leader of {n}, soak"),
        Some(mo.soak_cpu_per_h),
        Some(mc.soak_cpu_per_h),
        target,
        pass,
    );
    t.row_main(
        &format!("wake-ups/s leader of {n}, soak"),
        Some(mo.soak_wakeups),
        Some(mc.soak_wakeups),
        "<= C",
        Some(mo.soak_wakeups <= mc.soak_wakeups),
    );
    t.row_main(
        &format!("tickets held after soak (of {n})"),
        f(mo.soak_held as u64),
        f(mc.soak_held as u64),
        "all",
        Some(mo.soak_held == n),
    );
    t.row_main(
        &format!("granted in leader's CIB after soak (of {n})"),
        f(mo.soak_cib_granted as u64),
        f(mc.soak_cib_granted as u64),
        "all",
        Some(mo.soak_cib_granted == n),
    );
    t.row_main(
        "log lines with \"error\", 3 members",
        f(mo.error_lines as u64),
        f(mc.error_lines as u64),
        "info",
        None,
    );
    // Latencies: "no worse than C", with 1 ms for timer noise.
    let no_worse = |o: f64, c: f64| Some(o <= c + 0.001);
    t.row(
        &format!("list latency, {FO_TICKETS} tickets (s)"),
        Some(fo.list_small),
        Some(fc.list_small),
        "<= C",
        no_worse(fo.list_small, fc.list_small),
    );
    let lc = if mc.list_big_ok {
        mc.list_big
    } else {
        f64::NAN
    };
    t.row_main(
        &format!("list latency, {n} tickets (s)"),
        Some(mo.list_big),
        Some(lc),
        "<= C",
        Some(mo.list_big_ok && (lc.is_nan() || mo.list_big <= lc + 0.001)),
    );
    t.row(
        "grant -w latency (s)",
        Some(fo.grant_w),
        Some(fc.grant_w),
        "<= C",
        no_worse(fo.grant_w, fc.grant_w),
    );
    let fstats = |f: &Failover| {
        let took: Vec<f64> = f.runs.iter().map(|r| r.0).collect();
        let ex: Vec<f64> = f.runs.iter().map(|r| r.0 - r.1).collect();
        let max_ex = ex.iter().cloned().fold(f64::NAN, f64::max);
        (
            median(&took),
            median(&f.runs.iter().map(|r| r.1).collect::<Vec<_>>()),
            median(&ex),
            max_ex,
            took,
        )
    };
    let (om, ob, oe, ox, otook) = fstats(&fo);
    let (cm, cb, ce, cx, ctook) = fstats(&fc);
    let half = FO_TIMEOUT as f64 / 2.0;
    t.row(
        &format!("failover, median of {} (s)", fo.runs.len()),
        Some(om),
        Some(cm),
        "info",
        None,
    );
    t.row(
        "failover lower bound, median (s)",
        Some(ob),
        Some(cb),
        "info",
        None,
    );
    t.row(
        "failover minus bound, median (s)",
        Some(oe),
        Some(ce),
        &format!("<= {half}"),
        Some(oe <= half),
    );
    t.row(
        "failover minus bound, worst (s)",
        Some(ox),
        Some(cx),
        &format!("<= {half}"),
        Some(ox <= half && fo.runs.len() == p.runs),
    );
    say!(
        "failover runs ours (s): {:?}",
        otook.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>()
    );
    say!(
        "failover runs C (s): {:?}",
        ctook.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>()
    );
    say!(
        "list reply size with {n} tickets: ours {} bytes, C {} bytes (C client ok: {})",
        mo.list_big_bytes,
        mc.list_big_bytes,
        mc.list_big_ok
    );
    for (who, notes) in [
        ("ours", &mo.notes),
        ("C", &mc.notes),
        ("ours failover", &fo.notes),
        ("C failover", &fc.notes),
    ] {
        for n in notes {
            say!("note {who}: {n}");
        }
    }
    say!("");
    t.print();
}

// ---- scale ----

fn scale_one(imp: Impl, n: usize, p: &Params, after: u64, expire: u64) -> Result<(), String> {
    let mut lab = new_lab(
        if imp == Impl::Rust { "so" } else { "sc" },
        imp,
        &tickets_conf(n, expire, TIMEOUT, 0),
    );
    let startup = start_cluster(&mut lab, p)?;
    let pid = lab.hosts[0].daemon.as_ref().unwrap().id();
    let busy = settle(pid, Duration::from_secs(120));
    say!(
        "[{} {n}] start-up to list {startup:.2} s, busy {busy:.1} s more",
        name(imp)
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
        name(imp), rss0.0, grant_cpu, load()
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
        name(imp),
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
        name(imp), samples, rss.0, rss.1, t0.elapsed().as_secs_f64(), load()
    );
    say!(
        "SCALE | {} | {n} | {startup:.2} | {gsecs:.1} | {held_after_grant} | {} | {held_cib} | {fails} | {:.1} | {cpu_h:.1} | {} | {lat:.4} | {ok}",
        name(imp), samples.last().copied().unwrap_or(0), grant_cpu, rss.0
    );
    Ok(())
}

fn scale(p: &Params) {
    let both = env_list(
        "BENCH_SCALE",
        if p.quick { &[100, 300] } else { &[300, 1000] },
    );
    let ours = env_list("BENCH_SCALE_OURS", if p.quick { &[1000] } else { &[10000] });
    let settle = env_u64("BENCH_SETTLE", if p.quick { 45 } else { 90 });
    let expire = env_u64("BENCH_SCALE_EXPIRE", EXPIRE);
    say!("scale: expire {expire}, timeout {TIMEOUT}, retries {RETRIES}; both at {both:?}, ours alone at {ours:?}; {settle} s after granting");
    say!("SCALE | impl | tickets | start-up s | grant all s | held after grant | held at end | granted in CIB | nobody-won lines | leader CPU s while granting | leader CPU s/h after | RSS kB | list s | list ok");
    let mut runs: Vec<(Impl, usize)> = Vec::new();
    for &n in &both {
        runs.push((Impl::Rust, n));
        runs.push((Impl::C, n));
    }
    for &n in &ours {
        runs.push((Impl::Rust, n));
    }
    for (imp, n) in runs {
        if let Err(e) = scale_one(imp, n, p, settle, expire) {
            say!("[{} {n}] failed: {e}", name(imp));
        }
    }
    say!("load at end: {}", load());
}
