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
//! Warnings and errors repeated from one call site are rate-limited
//! ([`super::lograte`]). [`counters`] gives the totals for status output.

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
    limiter: RateLimiter,
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
    let state = guard.get_or_insert_with(|| State {
        ident: String::new(),
        syslog: None,
        journal: JournalStream::from_env(),
        pending: Vec::new(),
        limiter: RateLimiter::default(),
        lost: 0,
        diverted: 0,
    });
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

/// Logs the summaries of rate-limited bursts that are over. Logging does
/// this by itself before each line; the event loop may call it on a timer
/// so that a summary does not wait for the next line.
pub fn tick() {
    with_state(|s| s.summaries(Instant::now()));
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
    fn summaries(&mut self, now: Instant) {
        if !self.limiter.holding() {
            return;
        }
        for s in self.limiter.finished(now) {
            self.deliver(now, Severity::Warning, &s.text());
        }
    }

    fn emit(&mut self, now: Instant, level: Level, site: Site, msg: &str) {
        self.summaries(now);
        if level <= Level::Warn && !self.limiter.admit(site, now, msg) {
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
        let msg = r.args().to_string();
        with_state(|s| s.emit(Instant::now(), r.level(), site, &msg));
    }

    fn flush(&self) {}
}
