//! The trace of one run: the simulator's own events (messages, CIB writes,
//! faults, clients) and the engine's log lines, stamped with the true time and
//! the member, optionally restricted to one ticket.
//!
//! Tracing is per thread, so that parallel seeds do not mix; when it is off
//! nothing is formatted.

use std::cell::{Cell, RefCell};
use std::sync::Once;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    /// True time (ms) and member of the engine call in progress.
    static CTX: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
    static BUF: RefCell<Buf> = const { RefCell::new(Buf { filter: None, lines: Vec::new() }) };
}

struct Buf {
    /// Keep only lines about this ticket (plus faults, which concern all).
    filter: Option<String>,
    lines: Vec<String>,
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        on()
    }

    fn log(&self, r: &log::Record) {
        if !on() {
            return;
        }
        // Engine (and CIB writer) lines about a ticket carry it as a key.
        let ticket = crate::logline::ticket_of(r);
        let text = crate::logline::text(r);
        let (t, m) = CTX.with(|c| c.get());
        push(ticket, || {
            format!("{} m{m} {:5} {text}", stamp(t), r.level())
        });
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;
static INSTALL: Once = Once::new();

/// Starts collecting a trace in this thread.
pub fn start(filter: Option<String>) {
    INSTALL.call_once(|| {
        // Another logger (a test's) may already be installed; the
        // simulator's own lines are traced either way.
        let _ = log::set_logger(&LOGGER);
    });
    log::set_max_level(log::LevelFilter::Debug);
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        b.filter = filter;
        b.lines.clear();
    });
    ON.with(|o| o.set(true));
}

/// Stops tracing in this thread and returns the lines.
pub fn finish() -> Vec<String> {
    ON.with(|o| o.set(false));
    BUF.with(|b| std::mem::take(&mut b.borrow_mut().lines))
}

#[inline]
pub fn on() -> bool {
    ON.with(|o| o.get())
}

/// Sets the time and member that engine log lines are attributed to.
#[inline]
pub fn context(t: u64, member: usize) {
    CTX.with(|c| c.set((t, member)));
}

/// Records a line about `ticket` (None: about the whole cluster).
#[inline]
pub fn push(ticket: Option<&str>, line: impl FnOnce() -> String) {
    if !on() {
        return;
    }
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        let keep = match (&b.filter, ticket) {
            (Some(f), Some(t)) => f == t,
            _ => true,
        };
        if keep {
            let l = line();
            b.lines.push(l);
        }
    });
}

/// `seconds.millis` of a true time, right-aligned.
pub fn stamp(t: u64) -> String {
    format!("{:>7}.{:03}", t / 1000, t % 1000)
}
