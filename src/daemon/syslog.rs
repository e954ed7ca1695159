//! A small RFC 3164 sender for the local syslog socket that never blocks.
//!
//! The `syslog` crate sends on a blocking connected socket (a syslog daemon
//! that stops reading stalls the whole event loop) and never reconnects
//! after the daemon restarts. This sender uses a non-blocking Unix datagram
//! socket: a full queue drops the line (the caller counts it), a vanished
//! or re-created socket is reconnected, at most once per [`RETRY`] so that a
//! missing syslog costs one failed `connect` every few seconds, not one per
//! message.
//!
//! Lines look like glibc's `syslog(3)` (what the C booth sends through
//! libqb): `<PRI>Mmm dd HH:MM:SS ident[pid]: message`.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The local syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// Facility `daemon` (LOG_DAEMON), as the C booth's daemon logs.
pub const LOG_DAEMON: u8 = 3 << 3;
/// How long after a failed connect the next one is tried.
pub const RETRY: Duration = Duration::from_secs(2);
/// Longer messages are cut (on a character boundary): a datagram must fit
/// the receiver's buffer in one piece.
pub const MAX_MESSAGE: usize = 4096;

/// Severities (RFC 3164 / syslog(3)) the daemon uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Err = 3,
    Warning = 4,
    Info = 6,
    Debug = 7,
}

/// What became of one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// The socket's queue is full (nobody reads it) or the line was refused:
    /// it is lost.
    Dropped,
    /// No syslog socket to send to (missing, or nobody bound to it).
    Unreachable,
}

/// One formatted datagram.
pub fn format(severity: Severity, stamp: &str, ident: &str, pid: u32, msg: &str) -> Vec<u8> {
    let mut cut = msg.len().min(MAX_MESSAGE);
    while !msg.is_char_boundary(cut) {
        cut -= 1;
    }
    let pri = LOG_DAEMON | severity as u8;
    format!("<{pri}>{stamp} {ident}[{pid}]: {}", &msg[..cut]).into_bytes()
}

/// The connection to the syslog socket, kept across its restarts.
pub struct SyslogSender {
    path: PathBuf,
    sock: Option<UnixDatagram>,
    /// While unconnected: no connect before this instant.
    next_try: Option<Instant>,
}

impl SyslogSender {
    /// Connects to `path` once; on failure the sender retries by itself
    /// when lines are sent later. The error says why syslog is unreachable.
    pub fn connect(path: &Path, now: Instant) -> (SyslogSender, io::Result<()>) {
        let mut s = SyslogSender {
            path: path.to_path_buf(),
            sock: None,
            next_try: None,
        };
        let r = s.try_connect(now);
        (s, r)
    }

    pub fn is_connected(&self) -> bool {
        self.sock.is_some()
    }

    fn try_connect(&mut self, now: Instant) -> io::Result<()> {
        self.sock = None;
        self.next_try = Some(now + RETRY);
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        sock.connect(&self.path)?;
        self.sock = Some(sock);
        self.next_try = None;
        Ok(())
    }

    /// Sends one datagram without waiting.
    pub fn send(&mut self, now: Instant, datagram: &[u8]) -> Sent {
        if self.sock.is_none()
            && (self.next_try.is_some_and(|t| now < t) || self.try_connect(now).is_err())
        {
            return Sent::Unreachable;
        }
        match self.send_once(datagram) {
            Ok(()) => Sent::Delivered,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Sent::Dropped,
            Err(e) if gone(&e) => {
                // The syslog daemon closed its socket (maybe re-created it):
                // one immediate reconnect, then the retry interval.
                if self.try_connect(now).is_err() {
                    return Sent::Unreachable;
                }
                match self.send_once(datagram) {
                    Ok(()) => Sent::Delivered,
                    Err(e) if gone(&e) => {
                        self.sock = None;
                        Sent::Unreachable
                    }
                    Err(_) => Sent::Dropped,
                }
            }
            // EMSGSIZE, ENOBUFS, ...: this line is lost, the socket is fine.
            Err(_) => Sent::Dropped,
        }
    }

    fn send_once(&self, datagram: &[u8]) -> io::Result<()> {
        match &self.sock {
            Some(s) => s.send(datagram).map(|_| ()),
            None => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }
}

/// Errors after which the socket must be connected again.
fn gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::ENOTCONN | libc::ENOENT | libc::EPIPE | libc::ECONNRESET)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("bnb-syslog-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn formats_like_glibc_syslog() {
        let d = format(
            Severity::Warning,
            "Dec  2 11:08:30",
            "boothd-site",
            42,
            "hello",
        );
        assert_eq!(d, b"<28>Dec  2 11:08:30 boothd-site[42]: hello");
        assert_eq!(format(Severity::Err, "s", "i", 1, "m")[..4], *b"<27>");
        assert_eq!(format(Severity::Info, "s", "i", 1, "m")[..4], *b"<30>");
        assert_eq!(format(Severity::Debug, "s", "i", 1, "m")[..4], *b"<31>");
    }

    #[test]
    fn cuts_long_messages_on_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE);
        let d = format(Severity::Info, "s", "i", 1, &long);
        assert!(d.len() <= MAX_MESSAGE + 20);
        assert!(String::from_utf8(d).is_ok());
    }

    #[test]
    fn a_full_queue_drops_instead_of_blocking() {
        let path = tmp("full");
        let server = UnixDatagram::bind(&path).unwrap();
        let t0 = Instant::now();
        let (mut s, r) = SyslogSender::connect(&path, t0);
        r.unwrap();
        let line = vec![b'x'; 1000];
        let mut dropped = 0;
        for _ in 0..100_000 {
            match s.send(t0, &line) {
                Sent::Delivered => {}
                Sent::Dropped => dropped += 1,
                Sent::Unreachable => panic!("unreachable"),
            }
            if dropped > 10 {
                break;
            }
        }
        assert!(dropped > 10, "the queue never filled");
        assert!(t0.elapsed() < Duration::from_secs(5));
        drop(server);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn reconnects_to_a_recreated_socket_and_retries_a_missing_one_rarely() {
        let path = tmp("restart");
        let t0 = Instant::now();
        let (mut s, r) = SyslogSender::connect(&path, t0);
        assert!(r.is_err(), "nothing bound yet");
        assert_eq!(s.send(t0, b"a"), Sent::Unreachable);
        // Bound now, but the retry interval has not passed: no connect.
        let server = UnixDatagram::bind(&path).unwrap();
        assert_eq!(s.send(t0 + RETRY / 2, b"b"), Sent::Unreachable);
        assert_eq!(s.send(t0 + RETRY, b"c"), Sent::Delivered);
        let mut buf = [0u8; 16];
        assert_eq!(server.recv(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'c');
        // The syslog daemon restarts: old socket closed, a new one bound.
        drop(server);
        std::fs::remove_file(&path).unwrap();
        let server = UnixDatagram::bind(&path).unwrap();
        assert_eq!(s.send(t0 + RETRY, b"d"), Sent::Delivered);
        assert_eq!(server.recv(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'd');
        // Gone for good: unreachable, and no connect until the interval passed.
        drop(server);
        std::fs::remove_file(&path).unwrap();
        let t1 = t0 + RETRY * 3;
        assert_eq!(s.send(t1, b"e"), Sent::Unreachable);
        let server = UnixDatagram::bind(&path).unwrap();
        assert_eq!(s.send(t1 + RETRY / 2, b"f"), Sent::Unreachable);
        assert_eq!(s.send(t1 + RETRY, b"g"), Sent::Delivered);
        assert_eq!(server.recv(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'g');
        let _ = std::fs::remove_file(&path);
    }
}
