//! Hostile input against the real daemon on real sockets.
//!
//! Each test replays one item of the C booth's record of crashes and
//! security holes (see doc/hardening.md) at a running `boothd`, then checks
//! that the daemon still runs, still answers `booth list`, counted the
//! input in `booth peers` where it should, and left the granted ticket as
//! it was.
//!
//! Layout: site 127.0.0.1 and arbitrator 127.0.0.3 run; the test itself
//! holds site 127.0.0.2's address and port. So the ticket can be granted
//! (2 of 3 is a majority), the test receives the leader's real heartbeats
//! (to learn the current term, or to replay them) and every datagram it
//! sends comes from 127.0.0.2's address, as a real member's would.
//!
//! The cluster and the datagram, TCP and authentication items are in
//! test/hostile/; privileges and geo attributes are here.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use booth::config::Config;
use booth::wire::{
    self, codes::*, AuthKey, Cmd, Header, Rlt, TicketBody, TicketMsg, Timestamp, HEADER_LEN, NO_ONE,
};

#[path = "hostile/auth.rs"]
mod auth;
#[path = "hostile/cluster.rs"]
mod cluster;
mod common;
#[path = "hostile/datagrams.rs"]
mod datagrams;
#[path = "hostile/tcp.rs"]
mod tcp;
use cluster::*;
use common::{addr, cluster_dir, free_port, kill_all, loopback_conf, wait_for, BIN};
use tcp::*;

// ---------------------------------------------------------------------------
// Privileges (item 14)

fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn is_root() -> bool {
    status_field(std::process::id(), "Uid:")
        .split_whitespace()
        .next()
        == Some("0")
}

fn ids_of(pid: u32) -> (Vec<String>, Vec<String>, String) {
    let words = |f: &str| -> Vec<String> {
        status_field(pid, f)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    (words("Uid:"), words("Gid:"), status_field(pid, "Groups:"))
}

/// Started as root, a site runs as the configured site-user and
/// site-group, an arbitrator as arbitrator-user and arbitrator-group
/// (C ignored both values, item 6, and never used the arbitrator ones,
/// item 14), with no supplementary groups.
#[test]
fn daemon_runs_as_site_user_without_supplementary_groups() {
    if !is_root() {
        eprintln!("not root: skipped");
        return;
    }
    let mut c = Cluster::new("privs", false);
    let conf = std::fs::read_to_string(&c.conf).unwrap();
    let run_as = "site-user = daemon\nsite-group = daemon\n\
                  arbitrator-user = nobody\narbitrator-group = 65534\n";
    std::fs::write(&c.conf, common::set_run_as(&conf, run_as)).unwrap();
    c.start(LEADER);
    c.start(ARBITRATOR);
    // `daemon -S` stays in the foreground: the child is the daemon.
    let (uid, gid, groups) = ids_of(c.daemons[LEADER].as_ref().unwrap().id());
    assert_eq!(uid, ["1"; 4]);
    assert_eq!(gid, ["1"; 4]);
    assert_eq!(groups, "");
    let (uid, gid, groups) = ids_of(c.daemons[ARBITRATOR].as_ref().unwrap().id());
    assert_eq!(uid, ["65534"; 4]);
    assert_eq!(gid, ["65534"; 4]);
    assert_eq!(groups, "");
}

/// An unknown run-as user is a start-up error, not uid 4294967294.
#[test]
fn unknown_site_user_is_a_startup_error() {
    if !is_root() {
        eprintln!("not root: skipped");
        return;
    }
    let c = Cluster::new("privs-unknown", false);
    let conf = std::fs::read_to_string(&c.conf).unwrap();
    std::fs::write(
        &c.conf,
        common::set_run_as(&conf, "site-user = no-such-user-booth-test\n"),
    )
    .unwrap();
    // A site that records tickets in Pacemaker's CIB (no --state-dir):
    // an unknown run-as user stops it at once. (A --state-dir site or an
    // arbitrator runs as nobody instead: test/daemon_privs.rs.)
    let mut child = Command::new(BIN)
        .args(["daemon", "-S", "-c"])
        .arg(&c.conf)
        .args(["-s", &addr(LEADER), "-l"])
        .arg(c.dir.join("unknown-user.pid"))
        .env("BOOTH_NO_REALTIME", "1")
        .env("BOOTH_CRM_TICKET", "/bin/true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon did not stop within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("site-user"), "{err}");
}

// ---------------------------------------------------------------------------
// Geo attributes from clients (items 10, 15)

/// A raw attribute request: ticket, name and value fields filled exactly
/// with the given bytes (no NUL added when a field is full).
fn attr_request(cmd: Cmd, ticket: &[u8], name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut h = Header::new(cmd, 0);
    h.length = (HEADER_LEN + wire::ATTR_BODY_LEN) as u32;
    let mut out = h.encode().to_vec();
    for (field, len) in [(ticket, 64), (name, 64), (value, 128)] {
        let mut f = field.to_vec();
        f.resize(len, 0);
        out.extend_from_slice(&f);
    }
    out
}

fn attr_result(c: &Cluster, req: &[u8]) -> Rlt {
    let mut s = connect(c, LEADER);
    s.write_all(req).unwrap();
    read_reply(&mut s).0.result
}

/// Item 15: an attribute whose name or value fills its field without a
/// terminating NUL was stored anyway by C (reading past the field). Here
/// the set fails and nothing is stored.
#[test]
fn attr_set_with_unterminated_fields_is_refused() {
    let mut c = Cluster::granted("attr-long", false);
    for (name, value) in [
        (vec![b'N'; 64], b"v".to_vec()),
        (b"n".to_vec(), vec![b'V'; 128]),
    ] {
        let r = attr_result(&c, &attr_request(ATTR_SET, b"ticketA", &name, &value));
        assert_ne!(r, RLT_SUCCESS, "{}", code_to_string(r));
    }
    let mut s = connect(&c, LEADER);
    s.write_all(&attr_request(ATTR_LIST, b"ticketA", b"", b""))
        .unwrap();
    let (_, text) = read_reply(&mut s);
    let text = String::from_utf8_lossy(&text);
    assert!(!text.contains("NNNN") && !text.contains("VVVV"), "{text}");
    c.assert_unchanged();
}

/// Item 10: attribute names and values with shell syntax were pasted into
/// a shell command by C. No shell is run here: the words stay data.
#[test]
fn attr_values_with_shell_syntax_stay_data() {
    let mut c = Cluster::granted("attr-shell", false);
    let marker = c.dir.join("pwned");
    let m = marker.display().to_string();
    let payloads = [
        format!("';touch {m};'"),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
    ];
    for p in &payloads {
        // As the value, and (where it fits) as the name.
        let r = attr_result(&c, &attr_request(ATTR_SET, b"ticketA", b"a", p.as_bytes()));
        assert!(
            matches!(r, RLT_SUCCESS | RLT_ASYNC | RLT_SYNC_FAIL),
            "{}",
            code_to_string(r)
        );
        if p.len() < 64 {
            attr_result(&c, &attr_request(ATTR_SET, b"ticketA", p.as_bytes(), b"v"));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(!marker.exists(), "a shell ran an attribute value");
    // The values were stored verbatim.
    let mut s = connect(&c, LEADER);
    s.write_all(&attr_request(ATTR_LIST, b"ticketA", b"", b""))
        .unwrap();
    let (_, text) = read_reply(&mut s);
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains(&format!("$(touch {m})")), "{text}");
    c.assert_unchanged();
}
