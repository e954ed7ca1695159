//! Replay high-water marks kept across restarts.
//!
//! A [`ReplayGuard`] remembers in memory which signed messages it accepted,
//! so a restarted daemon would take again a message captured shortly before
//! the restart while its timestamp is still within `maxtimeskew`. Two rules
//! close that hole:
//!
//! * every guard starts with a floor just below the daemon's start second
//!   ([`start_floor`]): nothing stamped in an earlier second is accepted. The
//!   comparison is on whole seconds because C senders take `usecs` from the
//!   monotonic clock, not the wall clock;
//! * with an `authfile`, the daemon keeps a small text file next to its lock
//!   file (`<lock path>.replay`) with, per source, the newest timestamp it
//!   accepted and, for peers, how far their clocks ran ahead of ours. On
//!   start these raise the floors further (a peer whose clock is ahead, a
//!   restart within the same second).
//!
//! The file format, one source a line:
//!
//! ```text
//! peer 192.168.1.2:9929 1700000000.123456 2500
//! clients 1700000000.654321
//! ```
//!
//! Peers are keyed by the member's address string and port, not by index,
//! so a changed configuration does not hand one member's marks to another.
//! The last field is the peer's lead in milliseconds (its timestamps minus
//! our clock on arrival, the largest since the previous write), clamped to
//! ±`maxtimeskew`. Unknown or garbled lines are ignored with a warning; a
//! missing file is normal (the first start).
//!
//! The file is opened before privileges are dropped and handed to the run-as
//! user like the lock file; it is then rewritten in place through the open
//! descriptor, so no directory permission is needed later. It is written at
//! most once a second while marks change, and on a clean exit; it is never
//! removed. Write errors are logged once and are never fatal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use log::{error, warn};

use crate::config::{Config, Member};
use crate::wire::{ReplayGuard, Timestamp};

/// Appended to the lock file's path.
pub const SUFFIX: &str = ".replay";

/// The marks file that belongs to the lock file `lock`.
pub fn path_for(lock: &Path) -> PathBuf {
    let mut s = lock.as_os_str().to_owned();
    s.push(SUFFIX);
    PathBuf::from(s)
}

/// The key of a member in the file: its address string and port.
pub fn member_key(m: &Member) -> String {
    format!("{}:{}", m.addr_string, m.port)
}

/// The floor for a daemon started at `start`: the last instant of the
/// previous second, so that `secs < start.secs` is refused whatever the
/// `usecs`.
pub fn start_floor(start: Timestamp) -> Timestamp {
    match start.secs.checked_sub(1) {
        Some(s) => Timestamp::new(s, 999_999),
        None => Timestamp::default(),
    }
}

/// What is kept about one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerMark {
    /// The newest timestamp accepted from it.
    pub newest: Timestamp,
    /// How far (ms) its timestamps were ahead of our clock on arrival;
    /// negative when behind.
    pub lead_ms: i64,
}

/// The content of the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    pub peers: BTreeMap<String, PeerMark>,
    pub clients: Option<Timestamp>,
}

impl Marks {
    /// Reads the file's text. Lines that do not parse are skipped; the
    /// returned warnings say which and why. Empty lines and `#` comments
    /// are ignored silently.
    pub fn parse(text: &str) -> (Marks, Vec<String>) {
        let mut marks = Marks::default();
        let mut warnings = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let ok = match f.as_slice() {
                ["peer", key, ts, lead] => match (parse_ts(ts), lead.parse::<i64>()) {
                    (Some(newest), Ok(lead_ms)) => {
                        marks
                            .peers
                            .insert(key.to_string(), PeerMark { newest, lead_ms });
                        true
                    }
                    _ => false,
                },
                ["clients", ts] => match parse_ts(ts) {
                    Some(t) => {
                        marks.clients = Some(t);
                        true
                    }
                    None => false,
                },
                _ => false,
            };
            if !ok {
                warnings.push(format!("line {}: ignored: {line:?}", n + 1));
            }
        }
        (marks, warnings)
    }

    /// The file's text; [`Marks::parse`] reads it back unchanged.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (key, m) in &self.peers {
            let _ = writeln!(s, "peer {key} {} {}", fmt_ts(m.newest), m.lead_ms);
        }
        if let Some(t) = self.clients {
            let _ = writeln!(s, "clients {}", fmt_ts(t));
        }
        s
    }
}

/// `<secs>.<usecs>`, usecs always six digits.
fn fmt_ts(t: Timestamp) -> String {
    format!("{}.{:06}", t.secs, t.usecs)
}

fn parse_ts(s: &str) -> Option<Timestamp> {
    let (secs, usecs) = s.split_once('.')?;
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || usecs.len() != 6 || !digits(usecs) {
        return None;
    }
    Some(Timestamp::new(secs.parse().ok()?, usecs.parse().ok()?))
}

fn to_ms(t: Timestamp) -> i64 {
    t.secs as i64 * 1000 + (t.usecs / 1000) as i64
}

fn from_ms(ms: i64) -> Timestamp {
    let ms = ms.clamp(0, u32::MAX as i64 * 1000 + 999);
    Timestamp::new((ms / 1000) as u32, (ms % 1000) as u32 * 1000)
}

/// The floors a daemon started at `start` gives its guards: one per entry
/// of `keys` (the members, by index), and one for the clients.
pub fn floors(
    marks: &Marks,
    keys: &[String],
    start: Timestamp,
    max_skew: u32,
) -> (Vec<Timestamp>, Timestamp) {
    let base = start_floor(start);
    let skew_ms = max_skew as i64 * 1000;
    let peers = keys
        .iter()
        .map(|k| match marks.peers.get(k) {
            Some(m) => {
                let lead = m.lead_ms.clamp(-skew_ms, skew_ms);
                base.max(m.newest).max(from_ms(to_ms(start) + lead))
            }
            None => base,
        })
        .collect();
    let clients = marks.clients.map_or(base, |c| base.max(c));
    (peers, clients)
}

/// The open marks file and what it held at start-up.
pub struct Loaded {
    file: File,
    path: PathBuf,
    marks: Marks,
}

impl Loaded {
    /// Opens (creating it) and reads the file at `path`; garbled lines are
    /// logged and skipped. Must run with the privileges needed to create
    /// the file, i.e. before they are dropped.
    pub fn open(path: &Path) -> io::Result<Loaded> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)?;
        let mut text = String::new();
        let marks = match file.read_to_string(&mut text) {
            Ok(_) => {
                let (marks, warnings) = Marks::parse(&text);
                for w in warnings {
                    warn!("{}: {w}", path.display());
                }
                marks
            }
            Err(e) => {
                warn!("{}: cannot read, ignored: {e}", path.display());
                Marks::default()
            }
        };
        Ok(Loaded {
            file,
            path: path.to_path_buf(),
            marks,
        })
    }

    /// Hands the file to the run-as user, so that it can still be
    /// rewritten after privileges are dropped (root only).
    pub fn chown_to(&self, uid: u32, gid: u32) -> io::Result<()> {
        if !super::privs::is_root() {
            return Ok(());
        }
        std::os::unix::fs::fchown(&self.file, Some(uid), Some(gid))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn marks(&self) -> &Marks {
        &self.marks
    }
}

/// Keeps the marks up to date while the daemon runs and writes them out.
pub struct Recorder {
    file: File,
    path: PathBuf,
    /// Member keys by index.
    keys: Vec<String>,
    marks: Marks,
    /// Largest lead (ms) seen per member since the last write.
    lead_since_write: Vec<Option<i64>>,
    skew_ms: i64,
    dirty: bool,
    write_failed: bool,
}

impl Recorder {
    /// Raises the floors of `guards` (by member index) and `clients` as the
    /// marks of the previous run and the start time `start` say, and keeps
    /// the file for later writes. Marks of members no longer configured
    /// are dropped at the next write.
    pub fn new(
        loaded: Loaded,
        cfg: &Config,
        start: Timestamp,
        guards: &mut [ReplayGuard],
        clients: &mut ReplayGuard,
    ) -> Recorder {
        let keys: Vec<String> = cfg.members.iter().map(member_key).collect();
        let (peer_floors, client_floor) = floors(&loaded.marks, &keys, start, cfg.maxtimeskew);
        for (g, f) in guards.iter_mut().zip(peer_floors) {
            g.raise_floor(f);
        }
        clients.raise_floor(client_floor);
        let mut marks = Marks {
            peers: BTreeMap::new(),
            clients: loaded.marks.clients,
        };
        for k in &keys {
            if let Some(m) = loaded.marks.peers.get(k) {
                marks.peers.insert(k.clone(), *m);
            }
        }
        Recorder {
            file: loaded.file,
            path: loaded.path,
            lead_since_write: vec![None; keys.len()],
            keys,
            marks,
            skew_ms: cfg.maxtimeskew as i64 * 1000,
            dirty: false,
            write_failed: false,
        }
    }

    /// After a datagram from member `m` was handled at `now`: `newest` is
    /// that peer's guard's newest accepted timestamp.
    pub fn peer(&mut self, m: usize, newest: Option<Timestamp>, now: Timestamp) {
        let (Some(newest), Some(key)) = (newest, self.keys.get(m)) else {
            return;
        };
        let old = self.marks.peers.get(key).map(|p| p.newest);
        if old.is_some_and(|o| o >= newest) {
            return;
        }
        // Only a newer maximum can raise the lead: an older timestamp
        // arriving later is further behind our clock.
        let lead = to_ms(newest) - to_ms(now);
        let since = &mut self.lead_since_write[m];
        *since = Some(since.map_or(lead, |l| l.max(lead)));
        let lead_ms = self.marks.peers.get(key).map_or(lead, |p| p.lead_ms);
        self.marks
            .peers
            .insert(key.clone(), PeerMark { newest, lead_ms });
        self.dirty = true;
    }

    /// After a client request was accepted; `newest` is the client guard's
    /// newest accepted timestamp.
    pub fn clients(&mut self, newest: Option<Timestamp>) {
        if let Some(n) = newest {
            if self.marks.clients.is_none_or(|c| c < n) {
                self.marks.clients = Some(n);
                self.dirty = true;
            }
        }
    }

    /// Marks changed since the last write.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// The marks as the next write would store them.
    pub fn current(&self) -> Marks {
        let mut m = self.marks.clone();
        for (i, lead) in self.lead_since_write.iter().enumerate() {
            if let (Some(lead), Some(p)) = (lead, m.peers.get_mut(&self.keys[i])) {
                p.lead_ms = (*lead).clamp(-self.skew_ms, self.skew_ms);
            }
        }
        m
    }

    /// Writes the marks if they changed. A failure is logged the first time
    /// only and the marks stay pending for the next attempt.
    pub fn flush(&mut self) {
        if !self.dirty {
            return;
        }
        let marks = self.current();
        let text = marks.render();
        let r = self
            .file
            .write_all_at(text.as_bytes(), 0)
            .and_then(|()| self.file.set_len(text.len() as u64));
        match r {
            Ok(()) => {
                self.marks = marks;
                self.lead_since_write.iter_mut().for_each(|l| *l = None);
                self.dirty = false;
            }
            Err(e) => {
                if !self.write_failed {
                    error!("{}: cannot write replay marks: {e}", self.path.display());
                    self.write_failed = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: u32, usecs: u32) -> Timestamp {
        Timestamp::new(secs, usecs)
    }

    #[test]
    fn path_is_next_to_the_lock_file() {
        assert_eq!(
            path_for(Path::new("/var/run/booth//booth.pid")),
            PathBuf::from("/var/run/booth//booth.pid.replay")
        );
    }

    #[test]
    fn render_and_parse_round_trip() {
        let mut m = Marks::default();
        m.peers.insert(
            "192.168.1.2:9929".into(),
            PeerMark {
                newest: ts(1_700_000_000, 12),
                lead_ms: -2500,
            },
        );
        m.peers.insert(
            "fe80::1:9929".into(),
            PeerMark {
                newest: ts(5, 999_999),
                lead_ms: 0,
            },
        );
        m.clients = Some(ts(1_700_000_001, 654_321));
        let text = m.render();
        assert_eq!(
            text,
            "peer 192.168.1.2:9929 1700000000.000012 -2500\n\
             peer fe80::1:9929 5.999999 0\n\
             clients 1700000001.654321\n"
        );
        assert_eq!(Marks::parse(&text), (m, vec![]));
        assert_eq!(Marks::parse(""), (Marks::default(), vec![]));
    }

    #[test]
    fn garbled_lines_are_skipped_with_a_warning() {
        let text = "# comment\n\
                    peer a:1 10.000001 5\n\
                    peer b:1 10.1 5\n\
                    peer c:1 10.000001\n\
                    peer d:1 x.000001 5\n\
                    peer e:1 10.000001 5ms\n\
                    peer f:1 4294967296.000000 0\n\
                    clients 12\n\
                    future-kind 1 2 3\n\
                    \n\
                    clients  11.000000 \n";
        let (m, w) = Marks::parse(text);
        assert_eq!(m.peers.len(), 1);
        assert_eq!(
            m.peers["a:1"],
            PeerMark {
                newest: ts(10, 1),
                lead_ms: 5
            }
        );
        assert_eq!(m.clients, Some(ts(11, 0)));
        assert_eq!(w.len(), 7, "{w:?}");
        assert!(w[0].starts_with("line 3: "), "{w:?}");
    }

    #[test]
    fn start_floor_is_whole_seconds() {
        assert_eq!(start_floor(ts(100, 500_000)), ts(99, 999_999));
        assert_eq!(start_floor(ts(100, 0)), ts(99, 999_999));
        assert_eq!(start_floor(ts(0, 5)), ts(0, 0));
    }

    #[test]
    fn floors_take_the_latest_rule() {
        let start = ts(1000, 250_000);
        let mut m = Marks::default();
        // Newest accepted after our start (a quick restart, or the peer's
        // clock ahead): the mark wins.
        m.peers.insert(
            "a:1".into(),
            PeerMark {
                newest: ts(1010, 7),
                lead_ms: 0,
            },
        );
        // Clock 3.5 s ahead: start + lead wins.
        m.peers.insert(
            "b:1".into(),
            PeerMark {
                newest: ts(900, 0),
                lead_ms: 3500,
            },
        );
        // Clock behind, old mark: the start floor wins.
        m.peers.insert(
            "c:1".into(),
            PeerMark {
                newest: ts(900, 0),
                lead_ms: -3000,
            },
        );
        // Lead beyond the skew is clamped.
        m.peers.insert(
            "d:1".into(),
            PeerMark {
                newest: ts(900, 0),
                lead_ms: 1_000_000,
            },
        );
        m.clients = Some(ts(999, 0));
        let keys: Vec<String> = ["a:1", "b:1", "c:1", "d:1", "unknown:1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (p, c) = floors(&m, &keys, start, 600);
        assert_eq!(
            p,
            vec![
                ts(1010, 7),
                ts(1003, 750_000),
                ts(999, 999_999),
                ts(1600, 250_000),
                ts(999, 999_999)
            ]
        );
        assert_eq!(c, ts(999, 999_999));
        m.clients = Some(ts(1001, 3));
        assert_eq!(floors(&m, &keys, start, 600).1, ts(1001, 3));
    }

    #[test]
    fn recorder_tracks_newest_and_lead_and_rewrites_in_place() {
        let dir = std::env::temp_dir().join(format!("booth-replaymarks-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("b.pid.replay");
        std::fs::write(
            &path,
            "peer 127.0.0.2:9929 500.000000 1200\npeer gone:1 1.000000 0\nbad line\nclients 400.000000\n",
        )
        .unwrap();
        let cfg = Config::parse_str(
            "port = 9929\nsite = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\nticket = t\n",
            Path::new("/etc/booth/booth.conf"),
            &crate::config::SystemResolver,
        )
        .unwrap();
        let loaded = Loaded::open(&path).unwrap();
        assert_eq!(loaded.marks().peers.len(), 2);
        let mut guards: Vec<ReplayGuard> = (0..3).map(|_| ReplayGuard::new(600)).collect();
        let mut clients = ReplayGuard::new(600);
        let start = ts(1000, 0);
        let mut r = Recorder::new(loaded, &cfg, start, &mut guards, &mut clients);
        assert_eq!(guards[0].floor(), Some(ts(999, 999_999)));
        assert_eq!(guards[1].floor(), Some(ts(1001, 200_000)));
        assert_eq!(clients.floor(), Some(ts(999, 999_999)));
        assert!(!r.dirty());
        // Nothing changed: nothing is written.
        r.flush();
        assert!(std::fs::read_to_string(&path).unwrap().contains("bad line"));

        r.peer(1, Some(ts(1010, 0)), ts(1008, 500_000));
        r.peer(1, Some(ts(1011, 0)), ts(1010, 900_000));
        r.peer(1, Some(ts(1011, 0)), ts(1011, 0)); // not newer: ignored
        r.peer(0, None, ts(1011, 0));
        r.clients(Some(ts(1012, 5)));
        assert!(r.dirty());
        r.flush();
        assert!(!r.dirty());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "peer 127.0.0.2:9929 1011.000000 1500\nclients 1012.000005\n"
        );
        // No new packet since: the lead is kept; a shorter text truncates.
        r.peer(1, Some(ts(1020, 0)), ts(1030, 0));
        r.flush();
        let (m, w) = Marks::parse(&std::fs::read_to_string(&path).unwrap());
        assert!(w.is_empty());
        assert_eq!(
            m.peers["127.0.0.2:9929"],
            PeerMark {
                newest: ts(1020, 0),
                lead_ms: -10_000
            }
        );
        r.peer(1, Some(ts(1021, 0)), ts(1021, 0));
        r.flush();
        let (m, _) = Marks::parse(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(m.peers["127.0.0.2:9929"].lead_ms, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
