//! Log lines about one ticket carry the ticket as data.
//!
//! Booth's log lines about a ticket read "ticketA: granting ticket". The
//! engine (and the CIB writer) log them with the ticket's name as the
//! record's key `ticket` ([`TICKET_KEY`], the `log` crate's key-value
//! feature) and the rest as the message: `tk_info!(tk, "granting ticket")`.
//! Loggers that print lines put the prefix back ([`text`]), so what users
//! see is unchanged; the simulator's trace filters by the key
//! ([`ticket_of`]) instead of parsing text.

use std::sync::Arc;

/// The key of a record's ticket name.
pub const TICKET_KEY: &str = "ticket";

/// What a `tk_*!` line names its ticket by: a ticket, or its name.
pub trait TicketName {
    fn ticket_name(&self) -> &str;
}

impl TicketName for str {
    fn ticket_name(&self) -> &str {
        self
    }
}

impl TicketName for String {
    fn ticket_name(&self) -> &str {
        self
    }
}

impl TicketName for Arc<str> {
    fn ticket_name(&self) -> &str {
        self
    }
}

impl<T: TicketName + ?Sized> TicketName for &T {
    fn ticket_name(&self) -> &str {
        (**self).ticket_name()
    }
}

impl<T: TicketName + ?Sized> TicketName for &mut T {
    fn ticket_name(&self) -> &str {
        (**self).ticket_name()
    }
}

/// The name of `t`, for the macros.
pub fn name_of<T: TicketName + ?Sized>(t: &T) -> &str {
    t.ticket_name()
}

/// `tk_log!(level, ticket, "format", args...)`: a log line about `ticket`
/// (a ticket or its name, see [`TicketName`]). Use the level's own macro:
/// `tk_error!`, `tk_warn!`, `tk_info!`, `tk_debug!`.
macro_rules! tk_log {
    ($lvl:ident, $tk:expr, $($arg:tt)+) => {
        log::$lvl!(ticket = $crate::logline::name_of(&$tk); $($arg)+)
    };
}

macro_rules! tk_error {
    ($tk:expr, $($arg:tt)+) => { tk_log!(error, $tk, $($arg)+) };
}

macro_rules! tk_warn {
    ($tk:expr, $($arg:tt)+) => { tk_log!(warn, $tk, $($arg)+) };
}

macro_rules! tk_info {
    ($tk:expr, $($arg:tt)+) => { tk_log!(info, $tk, $($arg)+) };
}

macro_rules! tk_debug {
    ($tk:expr, $($arg:tt)+) => { tk_log!(debug, $tk, $($arg)+) };
}

/// The ticket a record is about, if any.
pub fn ticket_of<'a>(r: &'a log::Record<'_>) -> Option<&'a str> {
    r.key_values()
        .get(log::kv::Key::from_str(TICKET_KEY))
        .and_then(|v| v.to_borrowed_str())
}

/// A record's line as booth prints it: "<ticket>: <message>" for a line
/// about a ticket, else the message.
pub fn text(r: &log::Record<'_>) -> String {
    match ticket_of(r) {
        Some(t) => format!("{t}: {}", r.args()),
        None => r.args().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record a `tk_*!` line makes, handed to `check`.
    fn with_record(ticket: Option<&str>, check: impl FnOnce(&log::Record)) {
        let kvs = [(TICKET_KEY, ticket.unwrap_or_default())];
        let mut b = log::Record::builder();
        b.args(format_args!("granting ticket"))
            .level(log::Level::Info);
        if ticket.is_some() {
            b.key_values(&kvs);
        }
        check(&b.build());
    }

    #[test]
    fn a_ticket_line_reads_as_booth_prints_it() {
        with_record(Some("ticketA"), |r| {
            assert_eq!(ticket_of(r), Some("ticketA"));
            assert_eq!(text(r), "ticketA: granting ticket");
        });
        with_record(None, |r| {
            assert_eq!(ticket_of(r), None);
            assert_eq!(text(r), "granting ticket");
        });
    }

    #[test]
    fn tickets_and_names_name_the_ticket() {
        let a: Arc<str> = "tA".into();
        let s = String::from("tB");
        assert_eq!(name_of(&a), "tA");
        assert_eq!(name_of(&&a), "tA");
        assert_eq!(name_of(&s), "tB");
        assert_eq!(name_of("tC"), "tC");
    }
}
