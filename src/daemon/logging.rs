//! The daemon's `log` backend: stderr while starting and in the foreground,
//! syslog (facility daemon, ident `boothd-site` / `boothd-arbitrator`) once
//! detached, as the C booth logs.

use std::io::Write;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

use super::localtime;

enum Sink {
    Stderr,
    Syslog(Logger<LoggerBackend, Formatter3164>),
}

struct DaemonLogger {
    sink: Mutex<(Sink, String)>,
}

static LOGGER: DaemonLogger = DaemonLogger {
    sink: Mutex::new((Sink::Stderr, String::new())),
};

/// Log level for a `-D` count (and the config's `debug`): info, then debug.
pub fn level_for(debug: u32) -> LevelFilter {
    match debug {
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
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
    if let Ok(mut s) = LOGGER.sink.lock() {
        s.1 = ident.to_string();
    }
}

/// Sends further messages to syslog (after detaching from the terminal).
pub fn to_syslog(ident: &str) -> Result<(), String> {
    let formatter = Formatter3164 {
        facility: Facility::LOG_DAEMON,
        hostname: None,
        process: ident.to_string(),
        pid: std::process::id(),
    };
    let logger = syslog::unix(formatter).map_err(|e| e.to_string())?;
    if let Ok(mut s) = LOGGER.sink.lock() {
        *s = (Sink::Syslog(logger), ident.to_string());
    }
    Ok(())
}

impl Log for DaemonLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let Ok(mut guard) = self.sink.lock() else {
            return;
        };
        let (sink, ident) = &mut *guard;
        let msg = r.args().to_string();
        match sink {
            Sink::Stderr => {
                let prio = match r.level() {
                    Level::Error => "error",
                    Level::Warn => "warning",
                    Level::Info => "info",
                    Level::Debug | Level::Trace => "debug",
                };
                let stamp = localtime::log_stamp(localtime::wall_ms().div_euclid(1000));
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{stamp} {ident}: [{}]: {prio}: {msg}",
                    std::process::id()
                );
            }
            Sink::Syslog(l) => {
                let _ = match r.level() {
                    Level::Error => l.err(msg),
                    Level::Warn => l.warning(msg),
                    Level::Info => l.info(msg),
                    Level::Debug | Level::Trace => l.debug(msg),
                };
            }
        }
    }

    fn flush(&self) {}
}
