//! The daemon's `log` backend: stderr while starting and in the foreground
//! (with the journal's priority prefixes when stderr is the journal),
//! syslog (facility daemon, ident `boothd-site` / `boothd-arbitrator`) once
//! detached, as the C booth logs.
//!
//! Logging must never stall the event loop: syslog is written on a
//! non-blocking socket ([`super::syslog`]), stderr only when the write cannot
//! wait ([`super::logstderr`]). A line that cannot be written now is dropped
//! and counted; while syslog is unreachable, lines go to stderr (when it is
//! more than /dev/null) and syslog is retried every few seconds; once it
//! takes lines again, one line says how many were lost or went elsewhere.
//! Lines at info level and above repeated from one call site are
//! rate-limited ([`super::lograte`]); debug lines are not (they are asked
//! for), nor lines logged with the [`UNLIMITED`] target (the SIGUSR1
//! dump, one line per ticket). [`counters`] gives the totals for status
//! output.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use log::{Level, LevelFilter, Log, Metadata, Record};

use super::localtime;
use super::lograte::{RateLimiter, Site};
use super::logstderr::{self, JournalStream, Kind};
use super::syslog::{self, Sent, Severity, SyslogSender};

/// Lines lost: syslog not reading, stderr would have blocked, or nowhere
/// to write them.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Lines held back by the rate limit.
static SUPPRESSED: AtomicU64 = AtomicU64::new(0);

/// The `log` target of lines never rate-limited: output asked for at
/// once, such as the SIGUSR1 dump (`info!(target: UNLIMITED, ...)`).
pub const UNLIMITED: &str = "boothd::unlimited";

/// A call site and its level: a summary has the level of the lines it
/// sums up.
type Key = (&'static str, u32, Level);

/// The totals since start-up, for `booth peers` and SIGUSR1's dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogCounters {
    pub dropped: u64,
    pub suppressed: u64,
}

pub fn counters() -> LogCounters {
    LogCounters {
        dropped: DROPPED.load(Ordering::Relaxed),
        suppressed: SUPPRESSED.load(Ordering::Relaxed),
    }
}

struct State {
    ident: String,
    syslog: Option<SyslogSender>,
    journal: Option<JournalStream>,
    /// The part of a line the stderr socket did not take; written first.
    pending: Vec<u8>,
    limiter: RateLimiter<Key>,
    /// Since syslog last took a line: lines lost, and lines that went to
    /// stderr instead.
    lost: u64,
    diverted: u64,
}

struct DaemonLogger {
    state: Mutex<Option<State>>,
}

static LOGGER: DaemonLogger = DaemonLogger {
    state: Mutex::new(None),
};

/// Log level for a `-D` count (and the config's `debug`): info, then debug.
pub fn level_for(debug: u32) -> LevelFilter {
    match debug {
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    let mut guard = LOGGER.state.lock().ok()?;
    let state = guard.get_or_insert_with(|| State::new(JournalStream::from_env()));
    Some(f(state))
}

/// Installs the logger writing to stderr under `ident`.
pub fn init(ident: &str, level: LevelFilter) {
    set_ident(ident);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

pub fn set_ident(ident: &str) {
    with_state(|s| s.ident = ident.to_string());
}

/// Sends further messages to syslog (after detaching from the terminal).
/// An unreachable syslog is an error, but it is tried again every few
/// seconds as lines are logged; meanwhile they go to stderr.
pub fn to_syslog(ident: &str) -> Result<(), String> {
    let (sender, r) = SyslogSender::connect(std::path::Path::new(syslog::DEV_LOG), Instant::now());
    with_state(|s| {
        s.ident = ident.to_string();
        s.syslog = Some(sender);
    });
    r.map_err(|e| format!("{}: {e}", syslog::DEV_LOG))
}

/// Whether a detached daemon may keep its stderr as the fallback for an
/// unreachable syslog: a terminal, a file or the journal, but not a pipe
/// or another socket, whose reader may be waiting for end-of-file (a
/// shell's `$(boothd daemon)`, a test's captured output).
pub fn stderr_may_stay() -> bool {
    with_state(|s| match logstderr::probe(s.journal) {
        Ok((Kind::Other, _)) | Ok((Kind::Socket, true)) => true,
        Ok(_) | Err(_) => false,
    })
    .unwrap_or(false)
}

/// Logs the summaries of rate-limited bursts that are over. Logging does
/// this by itself before each line; the event loop may call it on a timer
/// so that a summary does not wait for the next line.
pub fn tick() {
    with_state(|s| s.summaries(Instant::now()));
}

/// Whether a rate-limited burst is being held back: its summary is due
/// when the burst's window ends, so the loop should wake by then.
pub fn holding() -> bool {
    with_state(|s| s.limiter.holding()).unwrap_or(false)
}

fn severity(level: Level) -> Severity {
    match level {
        Level::Error => Severity::Err,
        Level::Warn => Severity::Warning,
        Level::Info => Severity::Info,
        Level::Debug | Level::Trace => Severity::Debug,
    }
}

impl State {
    fn new(journal: Option<JournalStream>) -> State {
        State {
            ident: String::new(),
            syslog: None,
            journal,
            pending: Vec::new(),
            limiter: RateLimiter::default(),
            lost: 0,
            diverted: 0,
        }
    }

    fn summaries(&mut self, now: Instant) {
        if !self.limiter.holding() {
            return;
        }
        for s in self.limiter.finished(now) {
            self.deliver(now, severity(s.site.2), &s.text());
        }
    }

    /// Logs a line from `site`, unless it is `limited` and its site has
    /// had its share of the window (debug lines never are).
    fn emit(&mut self, now: Instant, level: Level, site: Site, msg: &str, limited: bool) {
        self.summaries(now);
        let key = (site.0, site.1, level);
        if limited && level <= Level::Info && !self.limiter.admit(key, now, msg) {
            SUPPRESSED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.deliver(now, severity(level), msg);
    }

    fn deliver(&mut self, now: Instant, sev: Severity, msg: &str) {
        let Some(sender) = self.syslog.as_mut() else {
            if !self.write_stderr(sev, msg) {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        let stamp = localtime::log_stamp(localtime::wall_ms().div_euclid(1000));
        let pid = std::process::id();
        match sender.send(now, &syslog::format(sev, &stamp, &self.ident, pid, msg)) {
            Sent::Delivered => {
                if self.lost + self.diverted > 0 {
                    let note = format!(
                        "syslog takes messages again: {} were lost and {} went to stderr meanwhile",
                        self.lost, self.diverted
                    );
                    let line = syslog::format(Severity::Warning, &stamp, &self.ident, pid, &note);
                    if sender.send(now, &line) == Sent::Delivered {
                        self.lost = 0;
                        self.diverted = 0;
                    }
                }
            }
            Sent::Dropped => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                self.lost += 1;
            }
            Sent::Unreachable => {
                if self.write_stderr(sev, msg) {
                    self.diverted += 1;
                } else {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                    self.lost += 1;
                }
            }
        }
    }

    /// Writes a line to stderr if that cannot block; false if it was not
    /// written (or stderr is /dev/null or closed).
    fn write_stderr(&mut self, sev: Severity, msg: &str) -> bool {
        let Ok((kind, journal)) = logstderr::probe(self.journal) else {
            return false;
        };
        if kind == Kind::Null {
            return false;
        }
        let line = if journal {
            logstderr::journal_line(sev as u8, msg)
        } else {
            let word = match sev {
                Severity::Err => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
                Severity::Debug => "debug",
            };
            let stamp = localtime::log_stamp(localtime::wall_ms().div_euclid(1000));
            format!(
                "{stamp} {}: [{}]: {word}: {msg}\n",
                self.ident,
                std::process::id()
            )
        };
        if !self.pending.is_empty() {
            match logstderr::write_line(kind, &self.pending) {
                Ok(n) if n == self.pending.len() => self.pending.clear(),
                Ok(n) => {
                    self.pending.drain(..n);
                    return false;
                }
                Err(_) => return false,
            }
        }
        match logstderr::write_line(kind, line.as_bytes()) {
            Ok(n) => {
                if n < line.len() {
                    self.pending.extend_from_slice(&line.as_bytes()[n..]);
                }
                true
            }
            Err(_) => false,
        }
    }
}

impl Log for DaemonLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let site = (
            r.file_static()
                .or(r.module_path_static())
                .unwrap_or("unknown"),
            r.line().unwrap_or(0),
        );
        // A line about a ticket gets its "<ticket>: " prefix back.
        let msg = crate::logline::text(r);
        with_state(|s| {
            s.emit(
                Instant::now(),
                r.level(),
                site,
                &msg,
                r.target() != UNLIMITED,
            )
        });
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::lograte::{BURST, WINDOW};
    use std::os::unix::net::UnixDatagram;
    use std::path::PathBuf;
    use std::time::Duration;

    /// A state logging to a syslog socket of the test's own.
    fn with_syslog(tag: &str) -> (State, UnixDatagram, PathBuf) {
        let path = std::env::temp_dir().join(format!("bnb-logging-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut s = State::new(None);
        s.ident = "boothd-site".into();
        let (sender, r) = SyslogSender::connect(&path, Instant::now());
        r.unwrap();
        s.syslog = Some(sender);
        (s, server, path)
    }

    fn received(server: &UnixDatagram) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = server.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    /// Emits `n` lines of `level` from `site` (limited or not) and
    /// returns how many reached syslog; drains as it goes (the socket's
    /// queue is short).
    fn burst(
        s: &mut State,
        server: &UnixDatagram,
        now: Instant,
        (level, site, limited): (Level, Site, bool),
        n: usize,
    ) -> usize {
        let mut passed = 0;
        for i in 0..n {
            s.emit(now, level, site, &format!("line {i}"), limited);
            if i % 5 == 4 {
                passed += received(server).len();
            }
        }
        passed + received(server).len()
    }

    #[test]
    fn repeated_warnings_are_summed_up_once_the_burst_is_over() {
        let (mut s, server, path) = with_syslog("rate");
        let before = counters().suppressed;
        let t0 = Instant::now();
        let mut passed = 0;
        for i in 0..40 {
            s.emit(
                t0,
                Level::Warn,
                ("x.rs", 7),
                &format!("peer down {i}"),
                true,
            );
            // Drain as we go: the socket's queue is short.
            if i % 5 == 4 {
                let got = received(&server);
                assert!(got.iter().all(|l| l.starts_with("<28>")));
                passed += got.len();
            }
        }
        assert_eq!(passed, BURST as usize);
        assert!(counters().suppressed >= before + 40 - BURST as u64);
        let _ = received(&server);
        s.emit(t0 + WINDOW, Level::Info, ("x.rs", 9), "later", true);
        let lines = received(&server);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let want = format!(
            "boothd-site[{}]: {} similar messages suppressed (the last: peer down 39)",
            std::process::id(),
            40 - BURST
        );
        assert!(
            lines[0].starts_with("<28>") && lines[0].ends_with(&want),
            "{lines:?}"
        );
        assert!(lines[1].ends_with(": later"), "{lines:?}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn info_lines_are_limited_too_but_not_debug_nor_the_dump() {
        let (mut s, server, path) = with_syslog("info");
        let t0 = Instant::now();
        let info = (Level::Info, ("x.rs", 8), true);
        assert_eq!(burst(&mut s, &server, t0, info, 40), BURST as usize);
        // Debug is asked for (-D): all of it.
        let debug = (Level::Debug, ("x.rs", 10), true);
        assert_eq!(burst(&mut s, &server, t0, debug, 40), 40);
        // A dump is asked for (SIGUSR1): every line of it.
        let dump = (Level::Info, ("x.rs", 11), false);
        assert_eq!(burst(&mut s, &server, t0, dump, 40), 40);
        // The summary has the level of the lines it sums up.
        s.emit(t0 + WINDOW, Level::Info, ("x.rs", 12), "later", true);
        let lines = received(&server);
        let want = format!(
            "boothd-site[{}]: {} similar messages suppressed (the last: line 39)",
            std::process::id(),
            40 - BURST
        );
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("<30>") && lines[0].ends_with(&want),
            "{lines:?}"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn lines_lost_to_a_full_queue_are_counted_and_reported_once_it_drains() {
        let (mut s, server, path) = with_syslog("full");
        let before = counters().dropped;
        let t0 = Instant::now();
        let mut n = 0;
        while s.lost < 5 {
            s.emit(t0, Level::Info, ("x.rs", 1), "filler", false);
            n += 1;
            assert!(n < 100_000, "the queue never filled");
        }
        assert!(counters().dropped >= before + 5);
        let lost = s.lost;
        let _ = received(&server);
        s.emit(t0, Level::Info, ("x.rs", 2), "back", true);
        let lines = received(&server);
        assert!(lines[0].ends_with(": back"), "{lines:?}");
        assert!(
            lines[1].ends_with(&format!(
                ": syslog takes messages again: {lost} were lost and 0 went to stderr meanwhile"
            )),
            "{lines:?}"
        );
        assert_eq!(s.lost, 0);
        let _ = std::fs::remove_file(&path);
    }
}
