//! The state dump SIGUSR1 asks for: one log line per ticket, as the C
//! booth's `tickets_log_info` writes it (spec daemon.md §7), in the form
//!
//! ```text
//! <ticket> (<state>/<term>/<ms left>): leader <addr|NONE|none> expires <time>
//! ```
//!
//! The prefix is the one every per-ticket log line of the C booth has;
//! state and term are not repeated after it (C prints them twice). `<time>`
//! is the expiry as `ctime` shows it in the daemon's time zone
//! (`Wed Dec  2 11:09:30 2026`), `INF` for a held manual ticket (as
//! `booth list` has it) and `-` when no expiry is set (C prints a
//! meaningless date then).
//!
//! Pure functions: the caller passes the clock and the time-zone
//! conversion.

use crate::config::Config;
use crate::engine::{Clock, Leader, TicketView};

/// A broken-down local time, the fields of C's `struct tm` that `ctime`
/// prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// Years since 1900.
    pub year: i32,
    /// 0-11.
    pub mon: i32,
    /// 1-31.
    pub mday: i32,
    pub hour: i32,
    pub min: i32,
    pub sec: i32,
    /// 0-6, Sunday = 0.
    pub wday: i32,
}

impl From<libc::tm> for LocalTime {
    fn from(tm: libc::tm) -> LocalTime {
        LocalTime {
            year: tm.tm_year,
            mon: tm.tm_mon,
            mday: tm.tm_mday,
            hour: tm.tm_hour,
            min: tm.tm_min,
            sec: tm.tm_sec,
            wday: tm.tm_wday,
        }
    }
}

/// `ctime(3)` without its newline: `Wed Dec  2 11:09:30 2026`.
pub fn ctime(t: LocalTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[t.wday.clamp(0, 6) as usize],
        MONTHS[t.mon.clamp(0, 11) as usize],
        t.mday,
        t.hour,
        t.min,
        t.sec,
        t.year + 1900
    )
}

/// One ticket's line. `manual`: the ticket is in manual mode; `local`
/// breaks Unix seconds down in the daemon's time zone.
pub fn ticket_line(
    v: &TicketView,
    manual: bool,
    cfg: &Config,
    clock: Clock,
    local: &dyn Fn(i64) -> LocalTime,
) -> String {
    let left = v
        .term_expires
        .map_or(0, |e| e.ms().saturating_sub(clock.mono.ms()));
    let leader = match v.leader {
        Leader::Unknown => "NONE",
        Leader::NoOne => "none",
        Leader::Member(m) => cfg
            .members
            .get(m as usize)
            .map_or("?", |m| m.addr_string.as_str()),
    };
    let expires = match (v.term_expires, v.leader) {
        (_, Leader::Member(_)) if manual => "INF".to_string(),
        (Some(t), _) => ctime(local((clock.wall_of(t) + 500).div_euclid(1000))),
        (None, _) => "-".to_string(),
    };
    format!(
        "{} ({}/{}/{left}): leader {leader} expires {expires}",
        v.name,
        v.state.as_str(),
        v.term
    )
}

/// The lines for all tickets; `views` in configuration order.
pub fn ticket_lines(
    views: impl IntoIterator<Item = TicketView>,
    cfg: &Config,
    clock: Clock,
    local: &dyn Fn(i64) -> LocalTime,
) -> Vec<String> {
    views
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            // The engine lists tickets in the configuration's order; look
            // the name up only if that ever stops being true.
            let manual = match cfg.tickets.get(i) {
                Some(t) if *t.name == *v.name => t.is_manual(),
                _ => cfg.ticket(&v.name).is_some_and(|t| t.is_manual()),
            };
            ticket_line(&v, manual, cfg, clock, local)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SystemResolver;
    use crate::engine::{State, Time};

    fn cfg() -> Config {
        Config::parse_str(
            "site = 198.51.100.1\nsite = 198.51.100.2\narbitrator = 198.51.100.3\n\
             ticket = A\nticket = M\n  mode = manual\n",
            std::path::Path::new("/etc/booth/booth.conf"),
            &SystemResolver,
        )
        .unwrap()
    }

    /// A "time zone" one hour east of UTC, computed by hand: 1,700,000,000
    /// is Tue Nov 14 22:13:20 2023 UTC.
    fn local(unix: i64) -> LocalTime {
        assert_eq!(unix, 1_700_000_000 + 8, "expiry rounded to the second");
        LocalTime {
            year: 123,
            mon: 10,
            mday: 14,
            hour: 23,
            min: 13,
            sec: 28,
            wday: 2,
        }
    }

    fn view(name: &str, state: State, leader: Leader, expires: Option<u64>) -> TicketView {
        TicketView {
            name: name.into(),
            state,
            leader,
            term: 7,
            term_expires: expires.map(Time::from_ms),
            cib_granted: false,
            delay_commit: None,
        }
    }

    /// Monotonic 50,000 ms is wall time 1,699,999,950.4 s.
    fn clock() -> Clock {
        Clock::new(Time::from_ms(50_000), 1_699_999_950_400)
    }

    #[test]
    fn held_ticket_shows_leader_and_expiry_once() {
        let v = view("A", State::Leader, Leader::of(0), Some(107_200));
        assert_eq!(
            ticket_line(&v, false, &cfg(), clock(), &local),
            "A (Lead/7/57200): leader 198.51.100.1 expires Tue Nov 14 23:13:28 2023"
        );
    }

    #[test]
    fn leader_words_are_cs_not_debug_forms() {
        let none = |_: i64| -> LocalTime { panic!("no expiry to show") };
        let v = view("A", State::Init, Leader::Unknown, None);
        assert_eq!(
            ticket_line(&v, false, &cfg(), clock(), &none),
            "A (Init/7/0): leader NONE expires -"
        );
        let v = view("A", State::Follower, Leader::NoOne, None);
        assert_eq!(
            ticket_line(&v, false, &cfg(), clock(), &none),
            "A (Fllw/7/0): leader none expires -"
        );
        // A past expiry counts as 0 ms left.
        let v = view("M", State::Follower, Leader::of(1), Some(10));
        assert_eq!(
            ticket_line(&v, true, &cfg(), clock(), &none),
            "M (Fllw/7/0): leader 198.51.100.2 expires INF"
        );
    }

    #[test]
    fn lines_follow_the_configuration() {
        let views = vec![
            view("A", State::Candidate, Leader::Unknown, None),
            view("M", State::Leader, Leader::of(0), Some(107_200)),
        ];
        let lines = ticket_lines(views, &cfg(), clock(), &local);
        assert_eq!(
            lines,
            [
                "A (Cndi/7/0): leader NONE expires -",
                "M (Lead/7/57200): leader 198.51.100.1 expires INF",
            ]
        );
    }

    #[test]
    fn ctime_pads_the_day_with_a_space() {
        let t = LocalTime {
            year: 126,
            mon: 11,
            mday: 2,
            hour: 9,
            min: 5,
            sec: 0,
            wday: 3,
        };
        assert_eq!(ctime(t), "Wed Dec  2 09:05:00 2026");
        assert_eq!(ctime(t).len(), 24);
    }
}
