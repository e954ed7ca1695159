//! The warning storm: every ticket held at the site, then its peers gone.
//! Each renewal then fails with a warning per ticket and retry (the issue
//! counted 40,000 lines in 20 s at 10,000 tickets) and an info line per
//! ticket giving up (32,000 more); the rate limit lets a few of each
//! through per call site and sums up the rest, and `booth peers` counts
//! what was held back or lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::measure::{self, ticket_total};
use super::syslog::Syslog;
use super::{namespaces, Bed, Lists, SITE};

/// How long the storm is watched.
const WATCH: Duration = Duration::from_secs(20);
/// Priorities of facility daemon (3 << 3): info, warning and error.
const INFO: &str = "<30>";
const WARNING: &str = "<28>";
const ERROR: &str = "<27>";
/// Lines one call site may log per 5 s window (src/daemon/lograte.rs).
const BURST: usize = 10;

/// Lines arriving at the syslog stand-in, with the time they came, read
/// by a thread as fast as they come.
struct Collector {
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start(syslog: &Syslog) -> Collector {
        let sock = syslog.sock.try_clone().unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (lines, stop) = (lines.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = sock.recv(&mut buf) {
                        let l = String::from_utf8_lossy(&buf[..n]).into_owned();
                        lines.lock().unwrap().push((Instant::now(), l));
                    }
                }
            })
        };
        Collector {
            lines,
            stop,
            thread: Some(thread),
        }
    }

    /// The lines that came in `[from, to)`.
    fn between(&self, from: Instant, to: Instant) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The count in a "N similar messages suppressed" line.
fn suppressed_in(line: &str) -> Option<u64> {
    let (head, _) = line.split_once(" similar messages suppressed")?;
    head.rsplit(' ').next()?.parse().ok()
}

/// `log lines lost:L suppressed:S` of `booth peers` (0, 0 when absent).
fn peers_log_counters(bed: &Bed) -> (u64, u64) {
    let out = bed.client(&["peers", "-s", SITE]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.split(name)
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("log lines lost:"), field("suppressed:"))
}

#[test]
fn a_warning_storm_is_rate_limited_and_counted() {
    require_namespaces!();
    let mut bed = Bed::new("warnstorm", ticket_total(200) - 1);
    let syslog = Syslog::bind(&bed.path("log.sock"));
    let collector = Collector::start(&syslog);
    bed.start_arbitrator();
    bed.start_site_detached(&syslog.path);
    bed.grant();
    let (lost0, suppressed0) = peers_log_counters(&bed);
    // The peers go: site 127.0.0.2 never ran, now the arbitrator stops.
    if let Some(mut arb) = bed.arbitrator.take() {
        arb.kill().unwrap();
        arb.wait().unwrap();
    }
    let t0 = Instant::now();
    let mut lists = Lists::start(&bed);
    while t0.elapsed() < WATCH {
        lists.sample(&bed);
        std::thread::sleep(Duration::from_millis(200));
    }
    let t1 = Instant::now();
    lists.report("warning storm, peers unreachable");
    lists.check("warning storm");
    let (lost, suppressed) = peers_log_counters(&bed);
    // What was held back by now is summed up within a window (5 s) and a
    // tick.
    std::thread::sleep(Duration::from_secs(7));
    let during = collector.between(t0, t1);
    let after = collector.between(t0, Instant::now());
    let count = |ls: &[String], p: &str| ls.iter().filter(|l| l.starts_with(p)).count();
    let summaries: Vec<&String> = during
        .iter()
        .filter(|l| l.contains("similar messages suppressed"))
        .collect();
    let summed: u64 = after.iter().filter_map(|l| suppressed_in(l)).sum();
    // One info line per ticket and renewal, from one call site (a
    // summary quotes the last one).
    let giving_up = during
        .iter()
        .filter(|l| l.contains("giving up on sending retries"))
        .filter(|l| suppressed_in(l).is_none())
        .count();
    println!(
        "warning storm, {} tickets, peers unreachable, {:.0} s: {} lines at syslog \
         ({} info, {} warnings, {} errors, {} \"similar messages suppressed\" lines; \
         {giving_up} \"giving up\"); \
         booth peers: suppressed {}, lost {}; summed up in lines within {:.0} s: {summed}; load {}",
        bed.fillers.len() + 1,
        WATCH.as_secs_f64(),
        during.len(),
        count(&during, INFO),
        count(&during, WARNING),
        count(&during, ERROR),
        summaries.len(),
        suppressed - suppressed0,
        lost - lost0,
        (Instant::now() - t0).as_secs_f64(),
        measure::load()
    );
    for s in summaries.iter().take(5) {
        println!("  {s}");
    }
    // Every ticket warned at least once per retry: far more than got
    // through; the rest was counted and summed up, nothing silently.
    let warned = count(&during, WARNING) + count(&during, ERROR);
    let tickets = bed.fillers.len() + 1;
    assert!(
        warned < 1000,
        "{warned} warnings and errors in {WATCH:?}: not rate-limited"
    );
    let info = count(&during, INFO);
    assert!(
        info < 1000,
        "{info} info lines in {WATCH:?}: not rate-limited"
    );
    // A burst per window (5 s) and call site: 20 s see at most five.
    assert!(
        giving_up <= 5 * BURST,
        "{giving_up} \"giving up\" lines in {WATCH:?}: info lines not rate-limited"
    );
    if tickets >= 100 {
        assert!(suppressed > suppressed0, "nothing suppressed");
        assert!(!summaries.is_empty(), "no summary line");
    }
    // Summaries of bursts from before the storm may add to the sum; a
    // summary lost at a full syslog socket would be counted as lost.
    if lost == lost0 {
        assert!(
            summed >= suppressed - suppressed0,
            "{} lines suppressed, {summed} summed up",
            suppressed - suppressed0
        );
    }
}
