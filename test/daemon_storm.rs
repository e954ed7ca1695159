//! Bad days for the loop, on a loopback cluster (`common::cluster`):
//! a storm of `geostore set` requests and a datagram flood. Each checks
//! that the daemon stays responsive and loses nothing; the time bounds
//! are generous on purpose (loaded 2-core machines), they are bounds on
//! responsiveness, not benchmarks.
//!
//! `BAD_DAY_TICKETS=10000` adds free filler tickets up to that many (as in
//! test/bad_day.rs; here each CIB write is a fake `crm_ticket` run, so
//! they are not granted) and `booth list` is printed as the client
//! process, first byte and whole reply of a raw request, with the
//! daemon's CPU time and the load.

mod common;
#[path = "bad_day/measure.rs"]
mod measure;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{wait_for, BIN};

/// The most `booth list` may take at a busy daemon.
const LIST_BOUND: Duration = Duration::from_secs(2);

/// `booth list` at member `i`, timed; it must answer.
fn timed_list(c: &Cluster, i: usize) -> Duration {
    let t0 = Instant::now();
    let out = c.list(i);
    assert!(out.starts_with("ticket: "), "no answer: {out:?}");
    t0.elapsed()
}

/// `tickets` and free fillers up to `BAD_DAY_TICKETS` in all.
fn with_fillers(tickets: &[&str]) -> Vec<String> {
    let total = measure::ticket_total(tickets.len());
    let mut all: Vec<String> = tickets.iter().map(|t| t.to_string()).collect();
    all.extend((tickets.len()..total).map(|i| format!("ticket = filler{i}\n")));
    all
}

/// `booth list` figures at site 0 through a situation (see
/// test/bad_day.rs: client process, raw first byte and whole reply).
struct Lists(measure::ListTimes);

impl Lists {
    fn start(c: &Cluster) -> Lists {
        Lists(measure::ListTimes::start(
            c.daemons[0].as_ref().unwrap().id(),
        ))
    }

    /// One `booth list` run and one raw request at site 0.
    fn sample(&mut self, c: &Cluster) {
        self.0.client.push(timed_list(c, 0));
        self.0.raw("127.0.0.1", c.port);
    }

    fn report(&self, what: &str) {
        eprintln!("{}", self.0.report_line(what));
    }
}

/// 300 `geostore set` requests within about half a second: every client
/// is answered, every attribute write runs, never more than 8 attribute
/// writes at once (half the daemon's 16 children), and `booth list`
/// answers meanwhile.
#[test]
fn a_geostore_storm_runs_bounded_children_and_answers_everyone() {
    let tickets = with_fillers(&["tA"]);
    let mut c = Cluster::new(
        "storm",
        &tickets.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
    );
    c.start_all();
    let geostore = c.dir.join("geostore");
    std::os::unix::fs::symlink(BIN, &geostore).unwrap();
    let conf = c.conf.to_str().unwrap().to_string();
    let t0 = Instant::now();
    let clients: Vec<_> = (0..300)
        .map(|k| {
            Command::new(&geostore)
                .args(["set", "-c", &conf, "-s", "127.0.0.1", "-t", "tA"])
                .arg(format!("attr{k}"))
                .arg("v")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let fired = t0.elapsed();
    let mut lists = Lists::start(&c);
    for _ in 0..5 {
        lists.sample(&c);
    }
    lists.report("geostore storm");
    let slowest = lists.0.client.slowest();
    for (k, cl) in clients.into_iter().enumerate() {
        let out = common::wait_output(cl, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "geostore set attr{k}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let attrs = c.site(0).join("attrs");
    let ends = || {
        std::fs::read_to_string(&attrs)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("e "))
            .count()
    };
    wait_for(Duration::from_secs(60), || ends() == 300);
    // Concurrency from the start/end order of the runs.
    let runs = std::fs::read_to_string(&attrs).unwrap();
    let (mut now, mut most) = (0i32, 0i32);
    let mut open: HashMap<&str, ()> = HashMap::new();
    for l in runs.lines() {
        let (what, pid) = l.split_once(' ').unwrap();
        if what == "s" {
            open.insert(pid, ());
            now += 1;
        } else {
            open.remove(pid);
            now -= 1;
        }
        most = most.max(now);
    }
    assert!(most <= 8, "{most} attribute writes at once");
    assert!(open.is_empty());
    let peers = String::from_utf8(c.client(&["peers", "-s", "127.0.0.1"]).stdout).unwrap();
    assert!(peers.contains("most queued:"), "{peers}");
    assert!(
        slowest < LIST_BOUND,
        "booth list took {slowest:?} during the storm"
    );
    eprintln!(
        "storm: 300 requests fired in {fired:?}, at most {most} children, slowest list {slowest:?}"
    );
}

/// A flood of junk datagrams at a site holding a ticket: `booth list`
/// keeps answering, the lease keeps being renewed (the flood lasts longer
/// than the lease), and the drops are counted.
#[test]
fn a_datagram_flood_does_not_starve_the_loop() {
    let tickets = with_fillers(&["tA"]);
    let mut c = Cluster::new(
        "flood",
        &tickets.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
    );
    c.start_all();
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "tA"]);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let stop = Arc::new(AtomicBool::new(false));
    let port = c.port;
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            let junk = [0x5au8; 64];
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..50 {
                    if s.send_to(&junk, ("127.0.0.1", port)).is_ok() {
                        sent += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            sent
        })
    };
    // The lease is 10 s: 14 s of flood outlasts it.
    let t0 = Instant::now();
    let mut lists = Lists::start(&c);
    while t0.elapsed() < Duration::from_secs(14) {
        lists.sample(&c);
        std::thread::sleep(Duration::from_millis(200));
    }
    lists.report("datagram flood");
    let slowest = lists.0.client.slowest();
    stop.store(true, Ordering::Relaxed);
    let sent = flood.join().unwrap();
    for i in 0..3 {
        let l = c.list(i);
        assert!(
            l.starts_with("ticket: tA, leader: 127.0.0.1"),
            "member {i}: {l}"
        );
    }
    let peers = String::from_utf8(c.client(&["peers", "-s", "127.0.0.1"]).stdout).unwrap();
    assert!(peers.contains("foreign:"), "{peers}");
    assert!(
        slowest < LIST_BOUND,
        "booth list took {slowest:?} during the flood"
    );
    eprintln!("flood: {sent} datagrams in 14 s, slowest list {slowest:?}");
}

/// Idle connections use up every file descriptor the daemon may have: a
/// new client is still served (the oldest idle connection makes room)
/// instead of waiting unseen behind the edge-triggered listener.
#[test]
fn out_of_descriptors_an_administrator_still_gets_an_answer() {
    let mut c = Cluster::new("emfile", &["tA"]);
    c.start_all_wrapped(&["prlimit", "--nofile=40:40"]);
    let idle: Vec<_> = (0..60)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", c.port)).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        slowest = slowest.max(timed_list(&c, 0));
    }
    assert!(slowest < LIST_BOUND, "booth list took {slowest:?}");
    drop(idle);
    let peers = String::from_utf8(c.client(&["peers", "-s", "127.0.0.1"]).stdout).unwrap();
    assert!(peers.contains("evicted:"), "{peers}");
}

/// A client that sends a grant (held by a slow handler) and then streams
/// bytes without end is closed; meanwhile `booth list` answers.
#[test]
fn a_client_streaming_bytes_is_closed() {
    use booth::wire::{self, codes::CMD_GRANT, Header, TicketBody, TicketMsg};
    use std::io::Write;
    let slow = "ticket = tA\n  expire = 10\n  timeout = 1\n  retries = 3\n  before-acquire-handler = /bin/sleep 30\n";
    let mut c = Cluster::new("stream", &[slow]);
    c.start_all();
    let grant = TicketMsg {
        header: Header::new(CMD_GRANT, 0),
        body: TicketBody {
            name: "tA".into(),
            ..TicketBody::default()
        },
    };
    let request = wire::encode_ticket_msg(&grant, None).unwrap();
    let port = c.port;
    let streamer = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&request).unwrap();
        let junk = [0u8; 4096];
        let mut sent = 0usize;
        // Until the daemon closes the connection (or 64 MiB went out).
        while sent < 64 << 20 {
            match s.write(&junk) {
                Ok(n) => sent += n,
                Err(_) => return sent,
            }
        }
        panic!("the daemon read {sent} bytes without closing");
    });
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        slowest = slowest.max(timed_list(&c, 0));
    }
    let sent = streamer.join().unwrap();
    assert!(slowest < LIST_BOUND, "booth list took {slowest:?}");
    let peers = String::from_utf8(c.client(&["peers", "-s", "127.0.0.1"]).stdout).unwrap();
    assert!(peers.contains("oversized:1"), "{peers}");
    eprintln!("stream: closed after {sent} bytes, slowest list {slowest:?}");
}
