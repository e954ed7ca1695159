//! Readings from /proc: memory, wake-ups, CPU time, packets received.

use std::time::{Duration, Instant};

/// The machine's load averages, for the log.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// (RSS, PSS) in kB, each the median of five readings a second apart.
/// PSS divides a shared page among the processes mapping it at that
/// instant: a single reading of the C daemon's moved by a fifth with the
/// `crm_ticket` runs (sharing its libraries) under way at the time, at the
/// same RSS (doc/bench-results.txt, section 24). The same rule for every
/// daemon.
pub fn smaps_median(pid: u32) -> (u64, u64) {
    let mut rss = Vec::new();
    let mut pss = Vec::new();
    for i in 0..5 {
        if i > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let (r, p) = smaps(pid);
        rss.push(r);
        pss.push(p);
    }
    rss.sort_unstable();
    pss.sort_unstable();
    (rss[2], pss[2])
}

/// (RSS, PSS) in kB, one reading.
pub fn smaps(pid: u32) -> (u64, u64) {
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

/// Voluntary context switches (a sleep that ended: a wake-up) of every
/// thread of the process; /proc/PID/status counts the main thread only.
pub fn vol_ctxt(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_else(|_| vec![format!("/proc/{pid}").into()]);
    tasks
        .iter()
        .map(|t| {
            std::fs::read_to_string(t.join("status"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// UDP datagrams plus TCP segments received in the process's network
/// namespace. Each lab member has a namespace of its own, so these are the
/// packets that can have woken that daemon (clients included).
pub fn packets_in(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/net/snmp")).unwrap_or_default();
    // Each protocol has a line of names followed by a line of values.
    let value = |proto: &str, name: &str| -> u64 {
        let mut lines = s.lines().filter(|l| l.starts_with(proto));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            return 0;
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    value("Udp:", "InDatagrams") + value("Tcp:", "InSegs")
}

/// utime + stime + cutime + cstime in seconds (children once reaped).
pub fn cpu_secs(pid: u32) -> f64 {
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

/// What one daemon did during a measuring window.
#[derive(Clone)]
pub struct Window {
    pub secs: f64,
    pub wakeups: u64,
    pub packets: u64,
    pub cpu_per_h: f64,
}

impl Window {
    pub fn wakeups_per_s(&self) -> f64 {
        self.wakeups as f64 / self.secs
    }

    pub fn packets_per_s(&self) -> f64 {
        self.packets as f64 / self.secs
    }

    /// Wake-ups that no received packet can account for (at most one
    /// wake-up per packet), per second.
    pub fn unexplained_per_s(&self) -> f64 {
        self.wakeups.saturating_sub(self.packets) as f64 / self.secs
    }
}

pub fn measure_window(pid: u32, secs: u64) -> Window {
    let (c0, p0, u0, t0) = (
        vol_ctxt(pid),
        packets_in(pid),
        cpu_secs(pid),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, p1, u1, dt) = (
        vol_ctxt(pid),
        packets_in(pid),
        cpu_secs(pid),
        t0.elapsed().as_secs_f64(),
    );
    Window {
        secs: dt,
        wakeups: c1.saturating_sub(c0),
        packets: p1.saturating_sub(p0),
        cpu_per_h: (u1 - u0) * 3600.0 / dt,
    }
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[s.len() / 2]
}
