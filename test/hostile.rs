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

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use booth::config::Config;
use booth::wire::{
    self, codes::*, AuthKey, Header, TicketBody, TicketMsg, Timestamp, HEADER_LEN, NO_ONE,
};

mod common;
use common::{addr, cluster_dir, free_port, kill_all, loopback_conf, wait_for, BIN};
const TICKET: &str = "ticket = ticketA\n  expire = 10\n  timeout = 1\n  retries = 3\n";
const KEY: &[u8] = b"hostile-test-key-0123456789";

/// The three members of the test cluster, by index.
const LEADER: usize = 0;
const ME: usize = 1;
const ARBITRATOR: usize = 2;

/// `booth peers` receive counters of one peer, as the daemon shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    recv: u64,
    error: u64,
    authfail: u64,
    invalid: u64,
}

struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    port: u16,
    cfg: Config,
    key: Option<AuthKey>,
    daemons: Vec<Option<Child>>,
    /// The test's own socket on 127.0.0.2's address and port.
    peer: Option<UdpSocket>,
}

impl Cluster {
    fn new(name: &str, auth: bool) -> Cluster {
        Cluster::with_key(name, auth.then_some(KEY))
    }

    /// A cluster with the given key file content, or without authentication.
    fn with_key(name: &str, key: Option<&[u8]>) -> Cluster {
        use std::os::unix::fs::PermissionsExt;
        let dir = cluster_dir("hostile", name);
        let mut extra = String::new();
        if let Some(key) = key {
            let keyfile = dir.join("authkey");
            std::fs::write(&keyfile, key).unwrap();
            std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
            extra = format!("authfile = {}\n", keyfile.display());
        }
        let conf = dir.join("booth.conf");
        let port = free_port();
        std::fs::write(&conf, loopback_conf(port, &extra, TICKET)).unwrap();
        let cfg = Config::load(&conf).unwrap();
        Cluster {
            dir,
            conf,
            port,
            cfg,
            key: key.map(|k| AuthKey::new(k).unwrap()),
            daemons: vec![None, None, None],
            peer: None,
        }
    }

    fn id(&self, i: usize) -> u32 {
        self.cfg.members[i].site_id
    }

    fn command(&self, i: usize) -> Command {
        let mut c = Command::new(BIN);
        c.args(["daemon", "-S", "-c"])
            .arg(&self.conf)
            .args(["-s", &addr(i), "-l"])
            .arg(self.dir.join(format!("m{i}.pid")))
            .arg("--state-dir")
            .arg(self.dir.join(format!("state{i}")))
            .env("BOOTH_NO_REALTIME", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("m{i}.log"))).unwrap());
        c
    }

    fn start(&mut self, i: usize) {
        let child = self.command(i).spawn().unwrap();
        self.daemons[i] = Some(child);
        wait_for(Duration::from_secs(10), || {
            self.client(&["list", "-s", &addr(i)]).status.success()
        });
    }

    /// Site 1 and the arbitrator running, the test on site 2's socket, and
    /// ticketA granted to site 1.
    fn granted(name: &str, auth: bool) -> Cluster {
        Cluster::granted_with_key(name, auth.then_some(KEY))
    }

    fn granted_with_key(name: &str, key: Option<&[u8]>) -> Cluster {
        let mut c = Cluster::with_key(name, key);
        let peer = UdpSocket::bind(format!("{}:{}", addr(ME), c.port)).unwrap();
        peer.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        c.peer = Some(peer);
        c.start(LEADER);
        c.start(ARBITRATOR);
        let g = c.client(&["grant", "-w", "-s", &addr(LEADER), "ticketA"]);
        assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
        c.assert_unchanged();
        c
    }

    fn client(&self, args: &[&str]) -> Output {
        let mut full = vec![args[0], "-c", self.conf.to_str().unwrap()];
        full.extend_from_slice(&args[1..]);
        Command::new(BIN).args(&full).output().unwrap()
    }

    fn list(&self, i: usize) -> String {
        let out = self.client(&["list", "-s", &addr(i)]);
        assert!(out.status.success(), "booth list at {} failed", addr(i));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The daemons run, answer `booth list`, and ticketA is still held by
    /// site 1 at both.
    fn assert_unchanged(&mut self) {
        for i in [LEADER, ARBITRATOR] {
            let child = self.daemons[i].as_mut().unwrap();
            assert!(
                child.try_wait().unwrap().is_none(),
                "daemon {} died; log:\n{}",
                addr(i),
                self.log(i)
            );
            let l = self.list(i);
            assert!(
                l.starts_with("ticket: ticketA, leader: 127.0.0.1, expires: "),
                "{}: {l}",
                addr(i)
            );
        }
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("m{i}.log"))).unwrap_or_default()
    }

    /// What daemon `at` counts for datagrams from member `of`.
    fn counters(&self, at: usize, of: usize) -> Counters {
        let out = self.client(&["peers", "-s", &addr(at)]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let block = text
            .split("\n\n")
            .find(|b| b.split_whitespace().nth(1) == Some(&format!("{},", addr(of))))
            .unwrap_or_else(|| panic!("no peer {} in:\n{text}", addr(of)));
        let recv = block.lines().find(|l| l.contains("Recv pkts:")).unwrap();
        let field = |name: &str| -> u64 {
            let at = recv.find(name).unwrap() + name.len();
            recv[at..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        Counters {
            recv: field("Recv pkts:"),
            error: field("error:"),
            authfail: field("authfail:"),
            invalid: field("invalid:"),
        }
    }

    /// Sends from site 2's socket to daemon `to`.
    fn send(&self, to: usize, bytes: &[u8]) {
        let dest = format!("{}:{}", addr(to), self.port);
        self.peer.as_ref().unwrap().send_to(bytes, dest).unwrap();
    }

    /// Sends `bytes`, then a datagram known to count as a receive error (a
    /// header with a bad magic); once that one is counted, the first has
    /// been handled too (one socket, one receiver, loopback keeps order).
    /// Returns the change of the counters caused by `bytes` alone.
    fn send_and_count(&mut self, to: usize, bytes: &[u8]) -> Counters {
        let before = self.counters(to, ME);
        self.send(to, bytes);
        let mut probe = Header::new(OP_HEARTBEAT, self.id(ME));
        probe.magic = 0x0bad_0bad;
        probe.length = HEADER_LEN as u32;
        self.send(to, &probe.encode());
        let mut after = before;
        wait_for(Duration::from_secs(5), || {
            after = self.counters(to, ME);
            after.error > before.error
        });
        Counters {
            recv: after.recv - before.recv - 1,
            error: after.error - before.error - 1,
            authfail: after.authfail - before.authfail,
            invalid: after.invalid - before.invalid,
        }
    }

    /// The next datagram from `from` with command `cmd` that reaches the
    /// test's socket, raw.
    fn capture(&self, from: usize, cmd: u32) -> Vec<u8> {
        let sock = self.peer.as_ref().unwrap();
        let t0 = Instant::now();
        let mut buf = [0u8; 2048];
        while t0.elapsed() < Duration::from_secs(15) {
            let Ok((n, src)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let h = match Header::decode(&buf[..n]) {
                Ok(h) => h,
                Err(_) => continue,
            };
            if src.ip().to_string() == addr(from) && h.cmd == cmd {
                return buf[..n].to_vec();
            }
        }
        panic!("no {} from {} within 15 s", code_to_string(cmd), addr(from));
    }

    /// Stops daemon `i` with `signal` (a `kill -s` name) and reaps it.
    fn stop(&mut self, i: usize, signal: &str) {
        let mut child = self.daemons[i].take().unwrap();
        let st = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        child.wait().unwrap();
    }

    /// Stops daemon `i` with `signal` and starts it again with the same
    /// command line (so the same lock file and replay marks), then waits
    /// until it knows the ticket's leader again.
    fn restart(&mut self, i: usize, signal: &str) {
        self.stop(i, signal);
        self.restart_stopped(i);
    }

    fn restart_stopped(&mut self, i: usize) {
        self.start(i);
        wait_for(Duration::from_secs(20), || {
            self.list(i)
                .starts_with("ticket: ticketA, leader: 127.0.0.1, expires: ")
        });
    }

    /// The replay marks file of daemon `i`, next to its lock file.
    fn marks_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("m{i}.pid.replay"))
    }

    /// The leader's current heartbeat, decoded: its term and leader.
    fn heartbeat(&self) -> TicketMsg {
        let raw = self.capture(LEADER, OP_HEARTBEAT);
        wire::decode_datagram(&raw, self.key.as_ref()).unwrap().msg
    }

    /// A ticket message as member `from` would send it, signed with the
    /// cluster key when there is one.
    fn message(&self, cmd: u32, from: u32, leader: u32, term: u32) -> Vec<u8> {
        self.message_at(cmd, from, leader, term, SystemTime::now())
    }

    /// [`Cluster::message`] with the timestamp `at`.
    fn message_at(&self, cmd: u32, from: u32, leader: u32, term: u32, at: SystemTime) -> Vec<u8> {
        let at = Timestamp::from_system_time(at);
        let msg = ticket_msg(cmd, from, leader, term);
        wire::encode_ticket_msg(&msg, self.key.as_ref().map(|k| (k, at))).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        kill_all(&mut self.daemons);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ticket_msg(cmd: u32, from: u32, leader: u32, term: u32) -> TicketMsg {
    TicketMsg {
        header: Header::new(cmd, from),
        body: TicketBody {
            name: "ticketA".into(),
            leader,
            term,
            term_valid_for: 10,
        },
    }
}

fn counted(recv: u64, error: u64, authfail: u64, invalid: u64) -> Counters {
    Counters {
        recv,
        error,
        authfail,
        invalid,
    }
}

// ---------------------------------------------------------------------------
// Crashes and memory safety (items 1-4)

/// Item 1: `from` = 0xFFFFFFFF (NO_ONE) made the C daemon write into a
/// read-only object. Here it is an unknown sender: dropped, no peer's
/// counter touched.
#[test]
fn udp_from_no_one_is_dropped() {
    let mut c = Cluster::granted("from-no-one", false);
    let hb = c.heartbeat();
    let bytes = c.message(OP_HEARTBEAT, NO_ONE, NO_ONE, hb.body.term);
    assert_eq!(c.send_and_count(LEADER, &bytes), counted(0, 0, 0, 0));
    // Also as a header alone, and as a vote.
    let mut h = Header::new(OP_VOTE_FOR, NO_ONE);
    h.length = HEADER_LEN as u32;
    assert_eq!(c.send_and_count(LEADER, &h.encode()), counted(0, 0, 0, 0));
    c.assert_unchanged();
    assert!(c.log(LEADER).contains("unknown sender: ffffffff"));
}

/// Item 2: a heartbeat whose `leader` names another site than its sender
/// aborted the C daemon (assertion). Both "another site" cases: the real
/// leader's id sent by site 2, and the arbitrator's id.
#[test]
fn heartbeat_naming_another_leader() {
    let mut c = Cluster::granted("hb-other-leader", false);
    let term = c.heartbeat().body.term;
    for (to, leader) in [
        (ARBITRATOR, c.id(LEADER)),
        (ARBITRATOR, c.id(ARBITRATOR)),
        (LEADER, c.id(ARBITRATOR)),
        (LEADER, c.id(LEADER)),
    ] {
        let bytes = c.message(OP_HEARTBEAT, c.id(ME), leader, term);
        let d = c.send_and_count(to, &bytes);
        assert_eq!((d.recv, d.error, d.authfail), (1, 0, 0), "{d:?}");
        c.assert_unchanged();
    }
}

/// Item 3: datagrams shorter than a header, and a bare header whose
/// `length` says 48 (no ticket body), were parsed from uninitialised
/// memory by C. Shorter than the `from` field: not attributable, dropped.
/// Longer: a receive error of the member they name.
#[test]
fn datagrams_shorter_than_a_message() {
    let mut c = Cluster::granted("short", false);
    let full = c.message(OP_HEARTBEAT, c.id(ME), c.id(ME), 1000);
    for n in [0, 1, 4, 20, 23] {
        assert_eq!(
            c.send_and_count(LEADER, &full[..n]),
            counted(0, 0, 0, 0),
            "{n} bytes"
        );
    }
    for n in [24, 47] {
        assert_eq!(
            c.send_and_count(LEADER, &full[..n]),
            counted(1, 1, 0, 0),
            "{n} bytes"
        );
    }
    // A whole header claiming to be the whole message, and a message cut
    // inside its body with a matching length.
    for n in [HEADER_LEN, 100] {
        let mut short = full[..n].to_vec();
        short[24..28].copy_from_slice(&(n as u32).to_be_bytes());
        assert_eq!(
            c.send_and_count(LEADER, &short),
            counted(1, 1, 0, 0),
            "{n} bytes"
        );
    }
    c.assert_unchanged();
}

/// Item 4: a vote for NO_ONE (VtFr with leader 0xFFFFFFFF) from a site
/// that is not the leader indexed an array with -1 in C. Sent to the
/// leader (which counts votes) and to the arbitrator, at the current term
/// and a higher one.
#[test]
fn vote_for_no_one_from_a_non_leader() {
    let mut c = Cluster::granted("vote-no-one", false);
    let term = c.heartbeat().body.term;
    for t in [term, term + 1] {
        for to in [LEADER, ARBITRATOR] {
            let bytes = c.message(OP_VOTE_FOR, c.id(ME), NO_ONE, t);
            let d = c.send_and_count(to, &bytes);
            assert_eq!((d.recv, d.error, d.authfail), (1, 0, 0), "{d:?}");
        }
        // A REQ_VOTE naming nobody, too.
        let bytes = c.message(OP_REQ_VOTE, c.id(ME), NO_ONE, t);
        c.send_and_count(LEADER, &bytes);
    }
    // The leader is still the leader, and keeps renewing.
    c.assert_unchanged();
    let term_after = c.heartbeat().body.term;
    assert!(term_after >= term);
    c.assert_unchanged();
}

/// Lengths that lie: `length` bigger or smaller than the datagram, zero,
/// and huge. Each is a receive error.
#[test]
fn lengths_that_lie() {
    let mut c = Cluster::granted("lengths", false);
    let good = c.message(OP_HEARTBEAT, c.id(ME), c.id(ME), 1);
    for length in [0u32, 47, 48, 100, 123, 125, 152, 1024, 1025, u32::MAX] {
        let mut b = good.clone();
        b[24..28].copy_from_slice(&length.to_be_bytes());
        assert_eq!(
            c.send_and_count(LEADER, &b),
            counted(1, 1, 0, 0),
            "length {length}"
        );
    }
    // Longer than any message booth sends.
    let mut big = good.clone();
    big.resize(1500, 0x41);
    big[24..28].copy_from_slice(&1500u32.to_be_bytes());
    assert_eq!(c.send_and_count(LEADER, &big), counted(1, 1, 0, 0));
    c.assert_unchanged();
}

/// Garbage after a valid message: the datagram no longer matches its
/// `length`, a receive error; with `length` covering the garbage the
/// trailing bytes are not part of the ticket body and change nothing.
#[test]
fn garbage_after_a_valid_message() {
    let mut c = Cluster::granted("garbage", false);
    let term = c.heartbeat().body.term;
    let good = c.message(OP_STATUS, c.id(ME), NO_ONE, term);
    let mut b = good.clone();
    b.extend_from_slice(&[0xFF; 40]);
    assert_eq!(c.send_and_count(LEADER, &b), counted(1, 1, 0, 0));
    let len = b.len() as u32;
    b[24..28].copy_from_slice(&len.to_be_bytes());
    let d = c.send_and_count(LEADER, &b);
    assert_eq!((d.recv, d.error, d.authfail), (1, 0, 0), "{d:?}");
    c.assert_unchanged();
}

/// Unknown command codes in a well-formed ticket message, and client
/// command codes sent over UDP: no effect on the ticket.
#[test]
fn unknown_command_codes() {
    let mut c = Cluster::granted("unknown-cmd", false);
    let term = c.heartbeat().body.term;
    for cmd in [
        0,
        0x1234_5678,
        u32::MAX,
        CMD_GRANT,
        CMD_REVOKE,
        CL_RESULT,
        ATTR_SET,
    ] {
        let bytes = c.message(cmd, c.id(ME), c.id(ME), term + 1);
        let d = c.send_and_count(LEADER, &bytes);
        assert_eq!((d.recv, d.error, d.authfail), (1, 0, 0), "{cmd:x}: {d:?}");
    }
    // An unknown ticket name counts as invalid.
    let mut msg = ticket_msg(OP_HEARTBEAT, c.id(ME), c.id(ME), term);
    msg.body.name = "no-such-ticket".into();
    let bytes = wire::encode_ticket_msg(&msg, None).unwrap();
    assert_eq!(c.send_and_count(LEADER, &bytes), counted(1, 0, 0, 1));
    c.assert_unchanged();
}

/// Item 11: without authentication the source address must match the
/// member the datagram names. A revoke "from the leader" or a heartbeat
/// from site 2's id sent from 127.0.0.9 is dropped and counted invalid.
#[test]
fn spoofed_source_address_is_rejected_without_auth() {
    let mut c = Cluster::granted("spoof", false);
    let term = c.heartbeat().body.term;
    let spoofer = UdpSocket::bind("127.0.0.9:0").unwrap();
    let dest = format!("{}:{}", addr(ARBITRATOR), c.port);
    // Site 2's id from another address, claiming leadership at a higher
    // term, to the arbitrator.
    let before = c.counters(ARBITRATOR, ME);
    let hb = c.message(OP_HEARTBEAT, c.id(ME), c.id(ME), term + 5);
    spoofer.send_to(&hb, &dest).unwrap();
    // The leader's id from another address: a revoke.
    let before_leader = c.counters(ARBITRATOR, LEADER);
    let rv = c.message(OP_REVOKE, c.id(LEADER), NO_ONE, term);
    spoofer.send_to(&rv, &dest).unwrap();
    wait_for(Duration::from_secs(5), || {
        c.counters(ARBITRATOR, ME).invalid == before.invalid + 1
            && c.counters(ARBITRATOR, LEADER).invalid == before_leader.invalid + 1
    });
    c.assert_unchanged();
    assert!(c.log(ARBITRATOR).contains("came from 127.0.0.9"));
}

// ---------------------------------------------------------------------------
// TCP clients

/// A raw client request: header and ticket body, unsigned.
fn request(cmd: u32, ticket: &str) -> Vec<u8> {
    let msg = TicketMsg {
        header: Header::new(cmd, 0),
        body: TicketBody {
            name: ticket.into(),
            ..TicketBody::default()
        },
    };
    wire::encode_ticket_msg(&msg, None).unwrap()
}

fn connect(c: &Cluster, i: usize) -> TcpStream {
    let s = TcpStream::connect(format!("{}:{}", addr(i), c.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads one reply header (and what follows, up to `length`).
fn read_reply(s: &mut TcpStream) -> (Header, Vec<u8>) {
    let mut head = [0u8; HEADER_LEN];
    s.read_exact(&mut head).unwrap();
    let h = Header::decode(&head).unwrap();
    let mut rest = vec![0u8; (h.length as usize).saturating_sub(HEADER_LEN)];
    s.read_exact(&mut rest).unwrap();
    (h, rest)
}

/// Partial requests (a few bytes of the header, a header without its
/// body) left open or closed: the daemon keeps serving others, and never
/// answers the partial ones.
#[test]
fn tcp_partial_requests() {
    let mut c = Cluster::granted("partial", false);
    let req = request(CMD_LIST, "");
    let mut held = Vec::new();
    for n in [1, 10, 47, 48, 100, 123] {
        let mut s = connect(&c, LEADER);
        s.write_all(&req[..n]).unwrap();
        held.push(s);
        let mut s = connect(&c, LEADER);
        s.write_all(&req[..n]).unwrap();
        drop(s);
    }
    c.assert_unchanged();
    // None of the held ones got an answer.
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => {}
            Ok(_) => panic!("a partial request was answered"),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
        }
    }
}

/// Requests that can never be valid: bad magic, a `length` beyond the
/// daemon's 1024-byte buffer or below a header, and an unknown command.
/// The connection is closed (or, for the unknown command, answered with
/// RLT_INVALID_ARG) and the daemon goes on.
#[test]
fn tcp_bad_requests_are_closed_or_refused() {
    let mut c = Cluster::granted("tcp-bad", false);
    let good = request(CMD_LIST, "");
    let mut cases = Vec::new();
    let mut b = good.clone();
    b[12..16].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    cases.push(b);
    for length in [0u32, 47, 1025, u32::MAX] {
        let mut b = good.clone();
        b[24..28].copy_from_slice(&length.to_be_bytes());
        cases.push(b);
    }
    cases.push(vec![0xFF; 2000]);
    for (i, bytes) in cases.iter().enumerate() {
        let mut s = connect(&c, LEADER);
        let _ = s.write_all(bytes);
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("case {i}: expected the connection closed, got {other:?}"),
        }
    }
    let mut s = connect(&c, LEADER);
    s.write_all(&request(0x1234_5678, "ticketA")).unwrap();
    let (h, _) = read_reply(&mut s);
    assert_eq!(h.result, RLT_INVALID_ARG);
    c.assert_unchanged();
}

/// A client that sends a whole request and shuts its write side down
/// still gets the reply (C booth drops it, item 40).
#[test]
fn tcp_half_close_after_full_request_is_answered() {
    let c = Cluster::granted("half-close", false);
    for cmd in [CMD_LIST, CMD_PEERS] {
        let mut s = connect(&c, LEADER);
        s.write_all(&request(cmd, "")).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let (h, text) = read_reply(&mut s);
        assert_eq!(h.cmd, CL_LIST);
        assert_eq!(h.result, RLT_SUCCESS);
        if cmd == CMD_LIST {
            assert!(String::from_utf8_lossy(&text).contains("ticketA"));
        }
    }
}

/// Connection floods that close at once: 200 connections, some with
/// garbage, then a legitimate `booth list` is answered.
#[test]
fn tcp_connection_flood_of_short_lived_clients() {
    let mut c = Cluster::granted("flood", false);
    for i in 0..200 {
        let mut s = connect(&c, LEADER);
        if i % 2 == 0 {
            let _ = s.write_all(&[0xA5; 64]);
        }
    }
    c.assert_unchanged();
}

/// 200 idle connections held open (a slow-loris client): a legitimate
/// `booth list` must still be answered. The daemon accepts 64 clients and
/// drops idle ones only after a 10 s read deadline, so the legitimate
/// client is refused in between.
#[test]
fn tcp_connection_flood_held_open() {
    let mut c = Cluster::granted("flood-held", false);
    let mut held = Vec::new();
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect(format!("{}:{}", addr(LEADER), c.port)) {
            held.push(s);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let out = c.client(&["list", "-s", &addr(LEADER)]);
    assert!(
        out.status.success(),
        "booth list refused during the flood: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(held);
    c.assert_unchanged();
}

// ---------------------------------------------------------------------------
// Authentication (items 11, 12)

/// Every broken authentication is refused and counted as authfail: no MAC
/// at all, a wrong key, a tampered byte, hash ids 1 and 3, a timestamp
/// an hour ahead.
#[test]
fn auth_rejects_bad_macs_and_timestamps() {
    let mut c = Cluster::granted("auth-bad", true);
    let term = c.heartbeat().body.term;
    let id = c.id(ME);
    let now = Timestamp::from_system_time(SystemTime::now());
    let claim = ticket_msg(OP_HEARTBEAT, id, id, term + 10);

    // Unsigned (124 bytes): its last 28 bytes are no valid trailer.
    let plain = wire::encode_ticket_msg(&claim, None).unwrap();
    let d = c.send_and_count(LEADER, &plain);
    assert_eq!(d.recv, 1);
    assert_eq!(d.authfail + d.error, 1, "{d:?}");
    assert_eq!(d.invalid, 0);

    // Signed with another key.
    let other = AuthKey::new(b"not-the-cluster-key-at-all").unwrap();
    let wrong = wire::encode_ticket_msg(&claim, Some((&other, now))).unwrap();
    assert_eq!(c.send_and_count(LEADER, &wrong), counted(1, 0, 1, 0));

    // Signed correctly, then one byte of the term changed.
    let good = c.message(OP_HEARTBEAT, id, id, term + 10);
    let mut tampered = good.clone();
    tampered[HEADER_LEN + 68] ^= 0x01;
    assert_eq!(c.send_and_count(LEADER, &tampered), counted(1, 0, 1, 0));

    // Hash id 1 and 3 (the trailer starts with it), MAC left as is.
    let trailer = good.len() - wire::TRAILER_LEN;
    for hid in [0u32, 1, 3, u32::MAX] {
        let mut b = good.clone();
        b[trailer..trailer + 4].copy_from_slice(&hid.to_be_bytes());
        assert_eq!(
            c.send_and_count(LEADER, &b),
            counted(1, 0, 1, 0),
            "hash id {hid}"
        );
    }

    // A valid MAC on a timestamp an hour ahead (the window is 600 s).
    let ahead = Timestamp::new(now.secs + 3600, 0);
    let future = wire::encode_ticket_msg(&claim, Some((c.key.as_ref().unwrap(), ahead))).unwrap();
    assert_eq!(c.send_and_count(LEADER, &future), counted(1, 0, 1, 0));
    // And one far in the past.
    let old = Timestamp::new(now.secs - 3600, 0);
    let past = wire::encode_ticket_msg(&claim, Some((c.key.as_ref().unwrap(), old))).unwrap();
    assert_eq!(c.send_and_count(LEADER, &past), counted(1, 0, 1, 0));

    c.assert_unchanged();
}

/// Item 12: a real signed datagram replayed within the time window is
/// refused. The leader's heartbeat to site 2 is captured on site 2's
/// socket and delivered to the arbitrator twice: the second copy at the
/// latest is a replay of something already accepted.
#[test]
fn auth_rejects_replays_within_the_window() {
    let mut c = Cluster::granted("auth-replay", true);
    let raw = c.capture(LEADER, OP_HEARTBEAT);
    assert_eq!(raw.len(), wire::TICKET_MSG_LEN + wire::TRAILER_LEN);
    let before = c.counters(ARBITRATOR, LEADER);
    // Sent from site 2's address; with authentication on the key, not the
    // address, vouches for the sender.
    c.send(ARBITRATOR, &raw);
    c.send(ARBITRATOR, &raw);
    c.send(ARBITRATOR, &raw);
    wait_for(Duration::from_secs(5), || {
        c.counters(ARBITRATOR, LEADER).authfail >= before.authfail + 2
    });
    // The leader itself sees its own id and drops the copy uncounted.
    c.send(LEADER, &raw);
    c.assert_unchanged();
    assert!(c.log(ARBITRATOR).contains("failed to authenticate"));
}

/// A signed status query from site 2, stamped 20 s ahead of the clocks
/// (within `maxtimeskew`, like a peer whose clock runs ahead), is accepted
/// by the arbitrator. Its timestamp lies after the arbitrator's next start,
/// so only the marks the arbitrator persisted make it refuse the same bytes
/// after a restart.
fn replay_after_restart(name: &str, signal: &str, wait_before: Duration) {
    let mut c = Cluster::granted(name, true);
    let term = c.heartbeat().body.term;
    let ahead = SystemTime::now() + Duration::from_secs(20);
    let bytes = c.message_at(OP_STATUS, c.id(ME), NO_ONE, term, ahead);
    assert_eq!(c.send_and_count(ARBITRATOR, &bytes), counted(1, 0, 0, 0));
    std::thread::sleep(wait_before);
    c.restart(ARBITRATOR, signal);
    let marks = std::fs::read_to_string(c.marks_file(ARBITRATOR)).unwrap();
    assert!(
        marks.contains(&format!("peer {}:{} ", addr(ME), c.port)),
        "{marks}"
    );
    assert_eq!(c.send_and_count(ARBITRATOR, &bytes), counted(1, 0, 1, 0));
    c.assert_unchanged();
    assert!(c.log(ARBITRATOR).contains("packet was replayed"));
}

/// Item 12 after a crash: the marks written within a second of the packet
/// survive SIGKILL.
#[test]
fn auth_rejects_replays_after_a_killed_restart() {
    replay_after_restart("auth-replay-kill", "KILL", Duration::from_millis(1500));
}

/// Item 12 after a clean stop right after the packet: the marks are written
/// on the way out.
#[test]
fn auth_rejects_replays_after_a_clean_restart() {
    replay_after_restart("auth-replay-term", "TERM", Duration::ZERO);
}

/// A real heartbeat of the leader, captured before the arbitrator restarts,
/// is refused afterwards even without any marks: it was signed before the
/// arbitrator started.
#[test]
fn auth_rejects_captured_heartbeat_after_restart() {
    let mut c = Cluster::granted("auth-replay-hb", true);
    let raw = c.capture(LEADER, OP_HEARTBEAT);
    let signed = Header::decode(&raw).unwrap().secs;
    c.stop(ARBITRATOR, "KILL");
    // Only the start time protects now; wait for the next second so that
    // the start is in a later second than the capture.
    std::fs::remove_file(c.marks_file(ARBITRATOR)).unwrap();
    wait_for(Duration::from_secs(5), || {
        Timestamp::from_system_time(SystemTime::now()).secs > signed
    });
    c.restart_stopped(ARBITRATOR);
    let before = c.counters(ARBITRATOR, LEADER);
    c.send(ARBITRATOR, &raw);
    wait_for(Duration::from_secs(5), || {
        c.counters(ARBITRATOR, LEADER).authfail > before.authfail
    });
    c.assert_unchanged();
}

/// A signed client request (stamped 5 s ahead) answered before a restart
/// gets RLT_AUTH when replayed to the restarted daemon. (All clients share
/// one mark, so the restarted daemon refuses every request stamped before
/// that one: `booth list` in `Cluster::start` waits until then.)
#[test]
fn auth_rejects_client_request_replayed_after_restart() {
    let mut c = Cluster::granted("auth-replay-client", true);
    let msg = TicketMsg {
        header: Header::new(CMD_LIST, 0),
        body: TicketBody::default(),
    };
    let ahead = Timestamp::from_system_time(SystemTime::now() + Duration::from_secs(5));
    let bytes = wire::encode_ticket_msg(&msg, Some((c.key.as_ref().unwrap(), ahead))).unwrap();
    let mut s = connect(&c, ARBITRATOR);
    s.write_all(&bytes).unwrap();
    let (h, text) = read_reply(&mut s);
    assert_ne!(h.result, RLT_AUTH);
    assert!(String::from_utf8_lossy(&text).contains("ticketA"));
    std::thread::sleep(Duration::from_millis(1500));
    c.restart(ARBITRATOR, "KILL");
    let mut s = connect(&c, ARBITRATOR);
    s.write_all(&bytes).unwrap();
    assert_eq!(read_reply(&mut s).0.result, RLT_AUTH);
    c.assert_unchanged();
}

/// Item 13: C silently disables authentication when the key's first byte
/// is 0x00. Here such a key authenticates like any other: unsigned and
/// wrongly signed datagrams are refused, client requests need the key.
#[test]
fn auth_key_starting_with_nul_still_authenticates() {
    let key = b"\0zero-first-byte-key-0123456789";
    let mut c = Cluster::granted_with_key("auth-nul-key", Some(key));
    let term = c.heartbeat().body.term;
    let id = c.id(ME);
    let claim = ticket_msg(OP_HEARTBEAT, id, id, term + 10);
    let plain = wire::encode_ticket_msg(&claim, None).unwrap();
    let d = c.send_and_count(LEADER, &plain);
    assert_eq!(
        (d.recv, d.authfail + d.error, d.invalid),
        (1, 1, 0),
        "{d:?}"
    );
    let other = AuthKey::new(b"not-the-cluster-key-at-all").unwrap();
    let now = Timestamp::from_system_time(SystemTime::now());
    let wrong = wire::encode_ticket_msg(&claim, Some((&other, now))).unwrap();
    assert_eq!(c.send_and_count(LEADER, &wrong), counted(1, 0, 1, 0));
    let mut s = connect(&c, LEADER);
    s.write_all(&request(CMD_REVOKE, "ticketA")).unwrap();
    assert_eq!(read_reply(&mut s).0.result, RLT_AUTH);
    c.assert_unchanged();
}

/// A correctly signed message from site 2 is accepted (the checks above
/// are not refusing everything): its status query gets an answer.
#[test]
fn auth_accepts_a_correctly_signed_message() {
    let mut c = Cluster::granted("auth-good", true);
    let term = c.heartbeat().body.term;
    let bytes = c.message(OP_STATUS, c.id(ME), NO_ONE, term);
    let d = c.send_and_count(LEADER, &bytes);
    assert_eq!(d, counted(1, 0, 0, 0));
    c.assert_unchanged();
}

/// Client requests without a MAC, or with a wrong one, to a daemon with
/// authentication are answered with RLT_AUTH; a grant so refused changes
/// nothing.
#[test]
fn auth_client_requests_without_key_get_rlt_auth() {
    let mut c = Cluster::granted("auth-client", true);
    for cmd in [CMD_LIST, CMD_PEERS, CMD_GRANT, CMD_REVOKE] {
        let mut s = connect(&c, LEADER);
        s.write_all(&request(cmd, "ticketA")).unwrap();
        let (h, _) = read_reply(&mut s);
        assert_eq!(h.cmd, CL_RESULT, "{}", code_to_string(cmd));
        assert_eq!(h.result, RLT_AUTH, "{}", code_to_string(cmd));
    }
    // Signed with another key.
    let other = AuthKey::new(b"not-the-cluster-key-at-all").unwrap();
    let now = Timestamp::from_system_time(SystemTime::now());
    let msg = TicketMsg {
        header: Header::new(CMD_REVOKE, 0),
        body: TicketBody {
            name: "ticketA".into(),
            ..TicketBody::default()
        },
    };
    let mut s = connect(&c, LEADER);
    s.write_all(&wire::encode_ticket_msg(&msg, Some((&other, now))).unwrap())
        .unwrap();
    let (h, _) = read_reply(&mut s);
    assert_eq!(h.result, RLT_AUTH);
    c.assert_unchanged();
}

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
    std::fs::write(
        &c.conf,
        format!(
            "site-user = daemon\nsite-group = daemon\n\
             arbitrator-user = nobody\narbitrator-group = 65534\n{conf}"
        ),
    )
    .unwrap();
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
        format!("site-user = no-such-user-booth-test\n{conf}"),
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
fn attr_request(cmd: u32, ticket: &[u8], name: &[u8], value: &[u8]) -> Vec<u8> {
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

fn attr_result(c: &Cluster, req: &[u8]) -> u32 {
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
