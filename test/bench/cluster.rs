//! The clusters under test: a lab (test/netns) with the daemon of one side
//! on every member, and what the bench does to them.

use std::ops::{Deref, DerefMut};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::netns::{Impl, Lab, C_BOOTHD, OURS};
use crate::procfs::{cpu_secs, median};
use crate::{env_u64, Params, RETRIES};

/// Which daemon a cluster runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// Ours, the release build for the host (glibc, dynamic).
    Ours,
    /// Ours, the static musl build (`make static`), from BENCH_STATIC.
    Static,
    /// The C booth 1.0 (/usr/sbin/boothd).
    C,
}

/// Where `make bench` puts the static build's path; empty or missing: the
/// static rows are left out.
const STATIC_ENV: &str = "BENCH_STATIC";

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::Static => "static",
            Side::C => "C",
        }
    }

    pub fn imp(self) -> Impl {
        match self {
            Side::Ours | Side::Static => Impl::Rust,
            Side::C => Impl::C,
        }
    }

    /// The program: daemon and client alike (ours is one binary).
    pub fn daemon(self) -> String {
        match self {
            Side::Ours => OURS.to_string(),
            Side::Static => static_bin().unwrap_or_default(),
            Side::C => C_BOOTHD.to_string(),
        }
    }

    pub fn client(self) -> String {
        match self {
            Side::C => "/usr/sbin/booth".to_string(),
            s => s.daemon(),
        }
    }

    /// Short tag for the lab's namespace names (all start with "bst").
    pub fn tag(self) -> &'static str {
        match self {
            Side::Ours => "bsto",
            Side::Static => "bsts",
            Side::C => "bstc",
        }
    }
}

/// The static build, if BENCH_STATIC names an existing file.
pub fn static_bin() -> Option<String> {
    std::env::var(STATIC_ENV)
        .ok()
        .filter(|p| !p.is_empty() && std::path::Path::new(p).is_file())
}

/// A lab and the side whose daemons it runs.
pub struct Cluster {
    pub lab: Lab,
    pub side: Side,
}

impl Deref for Cluster {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut Lab {
        &mut self.lab
    }
}

pub fn tickets_conf(n: usize, expire: u64, timeout: u64, acquire_after: u64) -> String {
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

/// Two sites and an arbitrator of `side`; `what` tells the bench's labs
/// apart ("m" main, "f" failover, "s" scale).
pub fn new_cluster(what: &str, side: Side, tail: &str) -> Cluster {
    let imp = side.imp();
    let lab = Lab::new(
        &format!("{}{what}", side.tag()),
        &[("site", imp), ("site", imp), ("arbitrator", imp)],
        tail,
    );
    Cluster { lab, side }
}

pub fn cib_path(lab: &Lab, k: usize) -> std::path::PathBuf {
    lab.cib(k)
}

/// Starts member `k` as in production (detached from us only by `-S`: no
/// fork, so the child we hold is the daemon itself); returns its PID.
pub fn spawn(cl: &mut Cluster, k: usize, realtime: bool) -> u32 {
    let bin = cl.side.daemon();
    cl.start_program(k, &bin, realtime)
}

/// The PID of member `k`'s daemon.
pub fn pid_of(cl: &Cluster, k: usize) -> u32 {
    cl.hosts[k].daemon.as_ref().unwrap().id()
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

/// The side's own client against its own daemon on host `k`; seconds from
/// spawn to exit (killed after 120 s).
pub fn client(cl: &Cluster, k: usize, args: &[&str]) -> (f64, Output) {
    let bin = cl.side.client();
    let conf = cl.conf.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    in_ns(&cl.hosts[k].ns, move || {
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

pub fn list(cl: &Cluster, k: usize) -> Option<String> {
    let (_, o) = client(cl, k, &["list"]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

pub fn held_by(text: &str, addr: &str) -> usize {
    let pat = format!("leader: {addr},");
    text.lines().filter(|l| l.contains(&pat)).count()
}

/// Starts all three members; seconds until site 0 answers `booth list`.
pub fn start_cluster(cl: &mut Cluster, p: &Params) -> Result<f64, String> {
    let t0 = Instant::now();
    for k in 0..cl.hosts.len() {
        spawn(cl, k, p.realtime);
    }
    let limit = Duration::from_secs(900);
    let mut up = None;
    while t0.elapsed() < limit {
        let (_, o) = client(cl, 0, &["list"]);
        if o.status.success() {
            up = Some(t0.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let up = up.ok_or("site 0 never answered list")?;
    for k in 1..cl.hosts.len() {
        while list(cl, k).is_none() {
            if t0.elapsed() > limit {
                return Err(format!("member {k} never answered list"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(up)
}

/// `n` samples of a client command at site 0 of each cluster, the clusters
/// taking turns (so that all see the same machine load). Per cluster:
/// median, samples, all succeeded.
pub fn latency(cls: &[&Cluster], args: &[&str], n: usize) -> Vec<(f64, Vec<f64>, bool)> {
    let mut r: Vec<(Vec<f64>, bool)> = cls.iter().map(|_| (Vec::new(), true)).collect();
    for _ in 0..n {
        for (i, cl) in cls.iter().enumerate() {
            let (t, o) = client(cl, 0, args);
            r[i].1 &= o.status.success();
            r[i].0.push(t);
        }
    }
    r.into_iter().map(|(v, ok)| (median(&v), v, ok)).collect()
}

pub fn ms(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{:.1}", x * 1000.0))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits until the daemon has stopped using CPU (start-up CIB reads done):
/// no change in its CPU time, children included, for 10 s (our daemon
/// writes every ticket's state a few seconds after start). Returns the
/// seconds until the last change.
pub fn settle(pid: u32, limit: Duration) -> f64 {
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
pub fn grant_range(cl: &Cluster, from: usize, to: usize) -> (f64, usize) {
    let cap = env_u64("BENCH_GRANT_CAP", 900);
    if from > to {
        return (0.0, 0);
    }
    let bin = format!("{} grant", cl.side.client());
    let script = format!(
        "end=$(( $(date +%s) + {cap} )); for i in $(seq {from} {to}); do [ $(date +%s) -lt $end ] || {{ echo capped; break; }}; timeout 60 {bin} -c {} tk$i >/dev/null 2>&1 || echo fail; done",
        cl.conf.display()
    );
    let t0 = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", &cl.hosts[0].ns, "sh", "-c", &script])
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
pub fn wait_held(cl: &Cluster, n: usize, limit: Duration) -> usize {
    let t0 = Instant::now();
    let addr = cl.hosts[0].addr.clone();
    loop {
        let h = list(cl, 1).map(|t| held_by(&t, &addr)).unwrap_or(0);
        if h >= n || t0.elapsed() > limit {
            return h;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn count_log_ci(lab: &Lab, pat: &str) -> usize {
    (0..lab.hosts.len())
        .map(|k| {
            lab.log(k)
                .lines()
                .filter(|l| l.to_lowercase().contains(pat))
                .count()
        })
        .sum()
}

pub fn cib_granted_count(lab: &Lab, k: usize) -> usize {
    std::fs::read_to_string(cib_path(lab, k))
        .unwrap_or_default()
        .split('<')
        .filter(|e| e.starts_with("ticket_state") && e.contains("granted=\"true\""))
        .count()
}

pub fn count_log(lab: &Lab, pat: &str) -> usize {
    (0..lab.hosts.len())
        .map(|k| lab.log(k).matches(pat).count())
        .sum()
}
