//! The bad-day suite's stand-in for a syslog daemon, and readers of what
//! the daemon logs.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Bed;

/// The test's stand-in for a syslog daemon: a datagram socket at a path.
pub struct Syslog {
    pub path: PathBuf,
    pub sock: UnixDatagram,
}

impl Syslog {
    pub fn bind(path: &Path) -> Syslog {
        let _ = std::fs::remove_file(path);
        let sock = UnixDatagram::bind(path).unwrap();
        // The daemon sends after dropping privileges.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
        Syslog {
            path: path.to_path_buf(),
            sock,
        }
    }

    /// Every line that arrives until none has for `quiet`.
    pub fn drain(&self, quiet: Duration) -> Vec<String> {
        self.sock.set_read_timeout(Some(quiet)).unwrap();
        let mut lines = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.sock.recv(&mut buf) {
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        lines
    }

    /// Stops "the syslog daemon": its socket closed and removed.
    pub fn stop(self) {
        drop(self.sock);
        std::fs::remove_file(&self.path).unwrap();
    }
}

/// Sends SIGUSR1 (one info line per ticket) every 250 ms until a line
/// matching `want` reaches `syslog`; returns the time taken and the lines.
pub fn usr1_until(
    bed: &Bed,
    syslog: &Syslog,
    limit: Duration,
    want: &str,
) -> (Duration, Vec<String>) {
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < limit {
        bed.signal_site("USR1");
        let lines = syslog.drain(Duration::from_millis(250));
        let found = lines.iter().any(|l| l.contains(want));
        seen.extend(lines);
        if found {
            return (t0.elapsed(), seen);
        }
    }
    panic!("no line with {want:?} within {limit:?}; got: {seen:#?}");
}

/// Reads from `sock` until `want` has appeared or `limit` passed.
pub fn read_until(sock: &mut UnixStream, want: &[&str], limit: Duration) -> String {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t0 = Instant::now();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while t0.elapsed() < limit && !want.iter().all(|w| text.contains(w)) {
        if let Ok(n) = sock.read(&mut buf) {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    text
}
