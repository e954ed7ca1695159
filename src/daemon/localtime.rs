//! Wall-clock times in the daemon's local time zone, as the C booth prints
//! them (`booth list`, `booth peers`, geostore, log lines).

use std::time::{SystemTime, UNIX_EPOCH};

/// Broken-down local time of a Unix timestamp.
pub(crate) fn local(unix_secs: i64) -> libc::tm {
    // Cast to whatever localtime_r takes: the libc crate deprecates the
    // name time_t on musl (its width there follows the musl version).
    let t = unix_secs as _;
    // SAFETY: localtime_r(3) fills the zeroed tm we own from a valid time_t
    // pointer; it is thread-safe and reads the time zone database.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    }
}

/// `YYYY-MM-DD HH:MM:SS` (strftime `%F %T`).
pub fn datetime(unix_secs: i64) -> String {
    let tm = local(unix_secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Syslog-style `Mon dd HH:MM:SS`, for log lines on stderr.
pub fn log_stamp(unix_secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tm = local(unix_secs);
    format!(
        "{} {:2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Milliseconds since the Unix epoch, now.
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let s = datetime(0);
        assert_eq!(s.len(), 19);
        assert!(
            s.starts_with("1970-01-01") || s.starts_with("1969-12-31"),
            "{s}"
        );
        assert_eq!(log_stamp(1_700_000_000).len(), 15);
    }
}
