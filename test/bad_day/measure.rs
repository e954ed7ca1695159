//! Measuring a bad day at scale, for test/bad_day.rs and
//! test/daemon_storm.rs: how many tickets (`BAD_DAY_TICKETS`), granting
//! them all quickly, and `booth list` timed three ways — the whole client
//! process as an administrator runs it, and a raw request on the wire
//! (first byte, whole reply) that leaves the client's own start-up out —
//! with the daemon's CPU time and the machine's load beside the figures.
//!
//! Local to these two suites on purpose (test/common is shared by every
//! suite and is being consolidated separately).

// Each test crate includes this module and uses only part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use booth::wire::codes::{CMD_GRANT, CMD_LIST};
use booth::wire::{self, Framing, Header, TicketBody, TicketMsg};

/// Environment variable with the number of tickets the bad-day daemons
/// carry (the goal is stated at 10,000).
pub const TICKETS_ENV: &str = "BAD_DAY_TICKETS";

/// The number of tickets for a test: `BAD_DAY_TICKETS` if set, else
/// `default` (small, so that `make check` stays fast).
pub fn ticket_total(default: usize) -> usize {
    match std::env::var(TICKETS_ENV) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{TICKETS_ENV}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// The machine's load averages (1, 5, 15 min), to print beside a figure.
/// Says too whether the daemons run at realtime priority (see
/// `common::REALTIME_ENV`), which changes what a load means for them.
pub fn load() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    if std::env::var_os(super::common::REALTIME_ENV).is_some() {
        format!("{avg}, daemons at realtime priority")
    } else {
        avg
    }
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at
    // state; utime and stime are fields 14 and 15 of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks: u64 = f.iter().sum();
    Duration::from_millis(ticks * 1000 / hz)
}

/// Samples of one kind of time, summed up as slowest and median.
#[derive(Default, Clone)]
pub struct Times(pub Vec<Duration>);

impl Times {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn slowest(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }

    pub fn median(&self) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    }

    pub fn summary(&self) -> String {
        format!(
            "slowest {:.1} ms, median {:.1} ms of {}",
            ms(self.slowest()),
            ms(self.median()),
            self.0.len()
        )
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One `booth list` request sent by hand: when the first byte of the
/// reply came, when the whole reply had come, and its text.
pub struct RawList {
    pub first_byte: Duration,
    pub whole: Duration,
    pub text: String,
}

/// Sends a list request to the daemon at `addr`:`port` (no authfile) and
/// reads the whole reply.
pub fn raw_list(addr: &str, port: u16) -> RawList {
    let msg = TicketMsg {
        header: Header::new(CMD_LIST, 0),
        body: TicketBody::default(),
    };
    let request = wire::encode_ticket_msg(&msg, None).unwrap();
    let t0 = Instant::now();
    let mut s = TcpStream::connect((addr, port)).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let mut first_byte = None;
    loop {
        match wire::decode_reply(&buf, None).expect("a list reply") {
            Framing::Complete { msg, .. } => {
                let text = match msg.msg {
                    wire::Reply::Text { text, .. } => String::from_utf8(text).unwrap(),
                    other => panic!("not a list reply: {other:?}"),
                };
                return RawList {
                    first_byte: first_byte.unwrap(),
                    whole: t0.elapsed(),
                    text,
                };
            }
            Framing::Need(_) => {
                // A stop and continue of this process (SIGSTOP, a
                // debugger) interrupts a read with a timeout: not an error.
                let n = match s.read(&mut chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => r.expect("reading the list reply"),
                };
                assert!(n > 0, "connection closed after {} bytes", buf.len());
                first_byte.get_or_insert_with(|| t0.elapsed());
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// Grants every ticket of `names` at the site `addr`:`port`, `parallel`
/// requests at a time (as administrators' scripts would, without waiting
/// for the commit), and waits until the site lists all of them as its own
/// (a site elects no leader in its first lease after start-up).
/// Returns how long that took.
pub fn grant_all(addr: &str, port: u16, names: &[String], parallel: usize) -> Duration {
    let t0 = Instant::now();
    let chunks: Vec<Vec<String>> = names
        .chunks(names.len().div_ceil(parallel.max(1)).max(1))
        .map(|c| c.to_vec())
        .collect();
    let workers: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let addr = addr.to_string();
            std::thread::spawn(move || {
                for name in chunk {
                    grant_one(&addr, port, &name);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let leader = format!("leader: {addr}, ");
    let want: std::collections::HashSet<&str> = names.iter().map(|s| s.as_str()).collect();
    loop {
        let l = raw_list(addr, port);
        let held = l
            .text
            .lines()
            .filter(|line| line.contains(&leader))
            .filter_map(|line| line.strip_prefix("ticket: ")?.split(',').next())
            .filter(|n| want.contains(n))
            .count();
        if held == names.len() {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "only {held} of {} tickets granted",
            names.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A grant request; reads the first reply ("in progress" once the
/// election has started) and leaves the rest to the daemon: the final
/// reply of a grant comes only after the peers' answers.
fn grant_one(addr: &str, port: u16, name: &str) {
    let msg = TicketMsg {
        header: Header::new(CMD_GRANT, 0),
        body: TicketBody {
            name: name.into(),
            ..TicketBody::default()
        },
    };
    let request = wire::encode_ticket_msg(&msg, None).unwrap();
    let mut s = TcpStream::connect((addr, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&request).unwrap();
    let mut header = [0u8; wire::HEADER_LEN];
    let _ = s.read_exact(&mut header);
}

/// The line printed for a situation's `booth list` figures: the client
/// process, the raw request's first byte and whole reply, the daemon's CPU
/// time since `t0`, and the load.
pub fn list_report(
    what: &str,
    (client, first_byte, whole): (&Times, &Times, &Times),
    reply_len: usize,
    cpu: Duration,
    t0: Instant,
) -> String {
    format!(
        "{what}: booth list {}; raw request: first byte {}, whole reply ({} kB) {}; \
         daemon CPU {:.0} ms in {:.1} s; load {}",
        client.summary(),
        first_byte.summary(),
        reply_len / 1000,
        whole.summary(),
        ms(cpu),
        t0.elapsed().as_secs_f64(),
        load()
    )
}

/// `booth list` figures at one daemon through one situation: the client
/// process (timed by the suite, which knows how to run it), a raw
/// request's first byte and whole reply, the reply's size and the daemon's
/// CPU time meanwhile. Each suite wraps it with its own way of sampling.
pub struct ListTimes {
    pub client: Times,
    pub first_byte: Times,
    pub whole: Times,
    pub reply_len: usize,
    pid: u32,
    cpu0: Duration,
    t0: Instant,
}

impl ListTimes {
    /// Starts counting the CPU time of daemon `pid` now.
    pub fn start(pid: u32) -> ListTimes {
        ListTimes {
            client: Times::default(),
            first_byte: Times::default(),
            whole: Times::default(),
            reply_len: 0,
            pid,
            cpu0: cpu_time(pid),
            t0: Instant::now(),
        }
    }

    /// One raw list request to `addr`: its times are kept; returns the
    /// reply's text.
    pub fn raw(&mut self, addr: &str, port: u16) -> String {
        let raw = raw_list(addr, port);
        self.first_byte.push(raw.first_byte);
        self.whole.push(raw.whole);
        self.reply_len = raw.text.len();
        raw.text
    }

    /// The figures so far as one line (see [`list_report`]).
    pub fn report_line(&self, what: &str) -> String {
        let cpu = cpu_time(self.pid).saturating_sub(self.cpu0);
        list_report(
            what,
            (&self.client, &self.first_byte, &self.whole),
            self.reply_len,
            cpu,
            self.t0,
        )
    }
}
