//! The clients against scripted fake daemons on loopback: request bytes,
//! reply handling, texts on stdout/stderr and exit statuses.
//!
//! Each test binds its own port P on 127.0.0.1 (site A) and, when needed,
//! 127.0.0.2 (site B); the arbitrator 127.0.0.3 never listens. The library
//! entry points are driven directly with captured output and a local-member
//! finder that says "site A".

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use booth::cli::{ClientArgs, ClientOp, ConfigChoice, GeoOp, GeostoreArgs, SiteArg};
use booth::client::{run_client_with, run_geostore_with, ClientSettings};
use booth::config::{site_id, Config};
use booth::wire::codes::*;
use booth::wire::{
    decode_request, encode_header_only, encode_text_reply, encode_ticket_msg, AttrBody, AttrMsg,
    AuthKey, Framing, Header, Request, TicketBody, TicketMsg, Timestamp, NO_ONE,
};

mod common;
use common::TempDir;

const KEY: &[u8] = b"booth-secret-key";
const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn id_of(ip: Ipv4Addr) -> u32 {
    site_id(&IpAddr::V4(ip))
}

/// Two listening sites on one port and a configuration naming them.
struct Cluster {
    _dir: TempDir,
    conf: PathBuf,
    port: u16,
    a: Option<TcpListener>,
    b: Option<TcpListener>,
    key: Option<AuthKey>,
}

impl Cluster {
    fn new(tag: &str, tickets: &[&str], auth: bool) -> Cluster {
        let (a, b, port) = bind_pair();
        let dir = TempDir::new(tag);
        let mut text = format!("port = {port}\n");
        let key = if auth {
            let keyfile = dir.0.join("authkey");
            std::fs::write(&keyfile, KEY).unwrap();
            std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
            text.push_str(&format!("authfile = {}\n", keyfile.display()));
            Some(AuthKey::new(KEY).unwrap())
        } else {
            None
        };
        text.push_str("site = \"127.0.0.1\"\nsite = \"127.0.0.2\"\narbitrator = \"127.0.0.3\"\n");
        for t in tickets {
            text.push_str(&format!("ticket = \"{t}\"\n"));
        }
        let conf = dir.0.join("booth.conf");
        std::fs::write(&conf, text).unwrap();
        Cluster {
            _dir: dir,
            conf,
            port,
            a: Some(a),
            b: Some(b),
            key,
        }
    }

    fn choice(&self) -> ConfigChoice {
        ConfigChoice {
            arg: Some(self.conf.display().to_string()),
            path: self.conf.clone(),
        }
    }

    fn client(&self, op: ClientOp, ticket: Option<&str>) -> ClientArgs {
        ClientArgs {
            op,
            config: self.choice(),
            debug: 0,
            site: None,
            ticket: ticket.map(str::to_string),
            immediate: false,
            wait: false,
            wait_commit: false,
            json: false,
        }
    }

    fn geostore(&self, op: GeoOp, attr: Option<&str>, value: Option<&str>) -> GeostoreArgs {
        GeostoreArgs {
            op,
            config: self.choice(),
            debug: 0,
            site: None,
            ticket: None,
            attr_name: attr.map(str::to_string),
            attr_value: value.map(str::to_string),
        }
    }

    /// Site A's fake daemon running `script` on the first connection.
    fn serve_a(&mut self, script: Vec<Act>) -> JoinHandle<Seen> {
        let key = self.key.clone();
        serve(self.a.take().expect("A serves once"), key, script)
    }

    fn serve_b(&mut self, script: Vec<Act>) -> JoinHandle<Seen> {
        let key = self.key.clone();
        serve(self.b.take().expect("B serves once"), key, script)
    }

    fn signing(&self) -> Option<(&AuthKey, Timestamp)> {
        self.key
            .as_ref()
            .map(|k| (k, Timestamp::from_system_time(SystemTime::now())))
    }

    /// A grant/revoke result as the daemon at `from` sends it.
    fn result(&self, from: Ipv4Addr, result: u32, ticket: &str, leader: u32) -> Vec<u8> {
        ticket_result(from, result, ticket, leader, self.signing())
    }

    fn text(&self, cmd: u32, text: &str) -> Vec<u8> {
        let h = Header::new(cmd, id_of(A));
        encode_text_reply(&h, text.as_bytes(), self.signing()).unwrap()
    }

    fn header_only(&self, result: u32) -> Vec<u8> {
        header_only(result, self.signing())
    }
}

fn ticket_result(
    from: Ipv4Addr,
    result: u32,
    ticket: &str,
    leader: u32,
    auth: Option<(&AuthKey, Timestamp)>,
) -> Vec<u8> {
    let msg = TicketMsg {
        header: Header {
            result,
            ..Header::new(CL_RESULT, id_of(from))
        },
        body: TicketBody {
            name: ticket.to_string(),
            leader,
            term: 3,
            term_valid_for: 0,
        },
    };
    encode_ticket_msg(&msg, auth).unwrap()
}

fn header_only(result: u32, auth: Option<(&AuthKey, Timestamp)>) -> Vec<u8> {
    let h = Header {
        result,
        ..Header::new(CL_RESULT, id_of(A))
    };
    encode_header_only(&h, auth)
}

/// Binds 127.0.0.1:P and 127.0.0.2:P for some free port P.
fn bind_pair() -> (TcpListener, TcpListener, u16) {
    for _ in 0..50 {
        let a = TcpListener::bind((A, 0)).expect("bind 127.0.0.1");
        let port = a.local_addr().unwrap().port();
        if let Ok(b) = TcpListener::bind((B, port)) {
            return (a, b, port);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

/// One step of a fake daemon.
enum Act {
    Send(Vec<u8>),
    Sleep(Duration),
    /// Keep the connection open until the client closes it.
    WaitEof,
}

/// What a fake daemon received.
struct Seen {
    /// The request, exactly `length` bytes.
    request: Vec<u8>,
    /// Bytes that arrived after the request (within a short grace time).
    extra: usize,
    decoded: Request,
}

fn serve(listener: TcpListener, key: Option<AuthKey>, script: Vec<Act>) -> JoinHandle<Seen> {
    thread::spawn(move || {
        let mut s = accept(&listener);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let (decoded, consumed) = loop {
            match decode_request(&buf, key.as_ref()).expect("a valid request") {
                Framing::Complete { msg, consumed } => break (msg.msg, consumed),
                Framing::Need(n) => {
                    let mut chunk = vec![0u8; n];
                    let got = s.read(&mut chunk).expect("request bytes");
                    assert!(got > 0, "client closed before the whole request");
                    buf.extend_from_slice(&chunk[..got]);
                }
            }
        };
        // Anything beyond `length`? The client waits for our reply, so a
        // short grace time suffices.
        s.set_read_timeout(Some(Duration::from_millis(150)))
            .unwrap();
        let mut extra = buf.len() - consumed;
        let mut more = [0u8; 64];
        if let Ok(n) = s.read(&mut more) {
            extra += n;
        }
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for act in script {
            match act {
                Act::Send(bytes) => s.write_all(&bytes).expect("reply written"),
                Act::Sleep(d) => thread::sleep(d),
                Act::WaitEof => {
                    let mut sink = [0u8; 64];
                    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
                }
            }
        }
        Seen {
            request: buf[..consumed].to_vec(),
            extra,
            decoded,
        }
    })
}

fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("no client connected: {e}"),
        }
    }
}

/// Captured result of a client run.
struct Outcome {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Outcome {
    fn lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

fn settings() -> ClientSettings {
    ClientSettings {
        connect_timeout: Duration::from_secs(10),
        reply_timeout: Some(Duration::from_secs(1)),
    }
}

fn site_a(_: &Config) -> Option<usize> {
    Some(0)
}

fn nowhere(_: &Config) -> Option<usize> {
    None
}

fn run(args: &ClientArgs) -> Outcome {
    run_from(args, &site_a)
}

fn run_from(args: &ClientArgs, local: &dyn Fn(&Config) -> Option<usize>) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_client_with(args, local, &settings(), &mut out, &mut err);
    Outcome {
        code,
        stdout: out,
        stderr: String::from_utf8(err).unwrap(),
    }
}

fn run_geo(args: &GeostoreArgs) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_geostore_with(args, &site_a, &settings(), &mut out, &mut err);
    Outcome {
        code,
        stdout: out,
        stderr: String::from_utf8(err).unwrap(),
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// wire.md §11.4: `booth grant -w ticketA` from site A (192.168.201.100).
fn spec_grant_request() -> Vec<u8> {
    let hex = "00000000 00000000 00000000 5f1ba08c \
               00010003 5085f484 0000007c 43476e74 \
               00000000 00000002 00000000 00000000 \
               7469636b 65744100";
    let mut bytes: Vec<u8> = hex
        .split_whitespace()
        .flat_map(|w| {
            (0..w.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&w[i..i + 2], 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    bytes.resize(124, 0);
    bytes
}

// ---------------------------------------------------------------------------
// list / peers

#[test]
fn list_text_goes_to_stdout_byte_for_byte() {
    let mut c = Cluster::new("list", &["ticketA", "ticketB"], false);
    let text = "ticket: ticketA, leader: 127.0.0.1, expires: 2024-05-06 14:03:27\n\
                ticket: ticketB, leader: NONE\n";
    let daemon = c.serve_a(vec![Act::Send(c.text(CL_LIST, text))]);
    let out = run(&c.client(ClientOp::List, None));
    let seen = daemon.join().unwrap();

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, text.as_bytes());
    assert_eq!(out.stderr, "");
    // Exactly `length` bytes: 124 without auth, no trailing zeros.
    assert_eq!(seen.request.len(), 124);
    assert_eq!(seen.extra, 0);
    assert_eq!(be32(&seen.request, 20), id_of(A), "from = local site");
    assert_eq!(be32(&seen.request, 28), CMD_LIST);
    assert_eq!(be32(&seen.request, 36), 0, "options");
}

#[test]
fn peers_asks_the_site_named_by_s() {
    let mut c = Cluster::new("peers", &["ticketA"], false);
    let text = "site         127.0.0.1, last recv: 2024-05-06 14:03:27\n\
                \tSent pkts:3 error:0 resends:0\n\
                \tRecv pkts:3 error:0 authfail:0 invalid:0\n\n";
    let daemon = c.serve_b(vec![Act::Send(c.text(CL_LIST, text))]);
    let mut args = c.client(ClientOp::Peers, None);
    args.site = Some(SiteArg::Name("127.0.0.2".into()));
    let out = run(&args);
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, text.as_bytes());
    assert_eq!(be32(&seen.request, 28), CMD_PEERS);
}

#[test]
fn an_empty_list_prints_nothing() {
    let mut c = Cluster::new("empty", &["ticketA"], false);
    let daemon = c.serve_a(vec![Act::Send(c.text(CL_LIST, ""))]);
    let out = run(&c.client(ClientOp::List, None));
    daemon.join().unwrap();
    assert_eq!(
        (out.code, out.stdout.len(), out.stderr.as_str()),
        (0, 0, "")
    );
}

#[test]
fn list_from_a_host_outside_the_cluster() {
    let mut c = Cluster::new("nolocal", &["ticketA"], false);
    // Without -s there is no daemon to ask.
    let out = run_from(&c.client(ClientOp::List, None), &nowhere);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.lines(),
        ["cannot determine the local site; use -s <site>"]
    );
    // With -s the request goes out with from = 0.
    let daemon = c.serve_a(vec![Act::Send(c.text(CL_LIST, "x\n"))]);
    let mut args = c.client(ClientOp::List, None);
    args.site = Some(SiteArg::Name("127.0.0.1".into()));
    let out = run_from(&args, &nowhere);
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(be32(&seen.request, 20), 0);
}

#[test]
fn an_unknown_site_for_list_exits_2() {
    let c = Cluster::new("nosite", &["ticketA"], false);
    let mut args = c.client(ClientOp::List, None);
    args.site = Some(SiteArg::Name("127.0.0.9".into()));
    let out = run(&args);
    assert_eq!(out.code, 2);
    assert_eq!(out.lines(), ["cannot find site \"127.0.0.9\""]);
}

#[test]
fn connection_refused_is_reported() {
    let mut c = Cluster::new("refused", &["ticketA"], false);
    drop(c.b.take());
    let mut args = c.client(ClientOp::List, None);
    args.site = Some(SiteArg::Name("127.0.0.2".into()));
    let out = run(&args);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.lines(),
        ["connect to 127.0.0.2 got an error: Connection refused"]
    );
}

// ---------------------------------------------------------------------------
// grant / revoke

#[test]
fn grant_request_matches_the_spec_example_and_more_then_success() {
    let mut c = Cluster::new("grant", &["ticketA", "ticketB"], false);
    let daemon = c.serve_a(vec![
        Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
        Act::Sleep(Duration::from_millis(50)),
        Act::Send(c.result(A, RLT_SUCCESS, "ticketA", id_of(A))),
    ]);
    let mut args = c.client(ClientOp::Grant, Some("ticketA"));
    args.wait = true;
    let out = run(&args);
    let seen = daemon.join().unwrap();

    let mut expected = spec_grant_request();
    expected[20..24].copy_from_slice(&id_of(A).to_be_bytes());
    assert_eq!(seen.request, expected);
    assert_eq!(seen.extra, 0);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.lines(),
        [
            "grant request sent, waiting for the result ...",
            "grant succeeded!"
        ]
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn replies_arriving_in_one_segment_are_all_read() {
    let mut c = Cluster::new("segment", &["ticketA"], false);
    let mut both = c.result(A, RLT_MORE, "ticketA", id_of(A));
    both.extend(c.result(A, RLT_SUCCESS, "ticketA", id_of(A)));
    let daemon = c.serve_a(vec![Act::Send(both)]);
    // The only ticket is the default.
    let out = run(&c.client(ClientOp::Grant, None));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines().last(), Some(&"grant succeeded!"));
    match seen.decoded {
        Request::Ticket(m) => assert_eq!(m.body.name, "ticketA"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn with_c_the_client_waits_for_the_commit() {
    let mut c = Cluster::new("commit", &["ticketA"], false);
    let daemon = c.serve_a(vec![
        Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
        Act::Send(c.result(A, RLT_CIB_PENDING, "ticketA", id_of(A))),
        // Longer than the reply timeout: -C waits indefinitely.
        Act::Sleep(Duration::from_millis(1500)),
        Act::Send(c.result(A, RLT_SUCCESS, "ticketA", id_of(A))),
    ]);
    let mut args = c.client(ClientOp::Grant, Some("ticketA"));
    args.wait = true;
    args.wait_commit = true;
    let out = run(&args);
    let seen = daemon.join().unwrap();
    assert_eq!(be32(&seen.request, 36), 6, "OPT_WAIT | OPT_WAIT_COMMIT");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.lines(),
        [
            "grant request sent, waiting for the result ...",
            "grant succeeded (CIB commit pending)",
            "waiting for the CIB commit ...",
            "grant succeeded!"
        ]
    );
}

#[test]
fn revoke_follows_a_redirect_to_the_leader() {
    let mut c = Cluster::new("redirect", &["ticketA"], false);
    let first = c.serve_a(vec![Act::Send(c.result(
        A,
        RLT_REDIRECT,
        "ticketA",
        id_of(B),
    ))]);
    let second = c.serve_b(vec![Act::Send(c.result(
        B,
        RLT_SUCCESS,
        "ticketA",
        id_of(B),
    ))]);
    let out = run(&c.client(ClientOp::Revoke, Some("ticketA")));
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), ["revoke succeeded!"]);
    assert_eq!(be32(&first.request, 28), CMD_REVOKE);
    // The same request again (without auth there is no timestamp to renew).
    assert_eq!(first.request, second.request);
}

#[test]
fn grants_to_an_arbitrator_are_refused_before_connecting() {
    let c = Cluster::new("arb", &["ticketA"], false);
    let mut args = c.client(ClientOp::Grant, Some("ticketA"));
    args.site = Some(SiteArg::Name("127.0.0.3".into()));
    let out = run(&args);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.lines(),
        ["127.0.0.3 is just an arbitrator, cannot grant/revoke tickets there."]
    );
}

// ---------------------------------------------------------------------------
// Replies and what the client makes of them

/// What the client runs in an [`Exchange`].
enum Op {
    Client(ClientOp, Option<&'static str>),
    Geo(GeoOp, Option<&'static str>),
}

/// One exchange with site A's fake daemon: it answers the request with
/// `replies` (built by the cluster, which signs them when `auth`), and the
/// client ends with `code` and exactly these lines on stderr, within 5 s.
struct Exchange {
    name: &'static str,
    auth: bool,
    op: Op,
    replies: fn(&Cluster) -> Vec<Act>,
    code: i32,
    lines: &'static [&'static str],
}

impl Exchange {
    fn check(&self) {
        let name = self.name;
        let mut c = Cluster::new(name, &["ticketA"], self.auth);
        let daemon = c.serve_a((self.replies)(&c));
        let started = Instant::now();
        let out = match self.op {
            Op::Client(op, ticket) => run(&c.client(op, ticket)),
            Op::Geo(op, attr) => run_geo(&c.geostore(op, attr, None)),
        };
        let took = started.elapsed();
        daemon.join().unwrap();
        assert!(took < Duration::from_secs(5), "{name}: took {took:?}");
        assert_eq!(out.code, self.code, "{name}: {}", out.stderr);
        assert_eq!(out.lines(), self.lines, "{name}");
    }
}

/// Runs every exchange at once, each in a thread named after it (so its
/// panic message names it), and fails naming those that failed.
fn check_all(exchanges: &'static [Exchange]) {
    let runs: Vec<_> = exchanges
        .iter()
        .map(|x| {
            thread::Builder::new()
                .name(x.name.into())
                .spawn(move || x.check())
                .unwrap()
        })
        .collect();
    let failed: Vec<&str> = exchanges
        .iter()
        .zip(runs)
        .filter_map(|(x, run)| run.join().is_err().then_some(x.name))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

const GRANT_A: Op = Op::Client(ClientOp::Grant, Some("ticketA"));
const REVOKE_A: Op = Op::Client(ClientOp::Revoke, Some("ticketA"));
const SENT: &str = "grant request sent, waiting for the result ...";

const EXCHANGES: &[Exchange] = &[
    Exchange {
        name: "the_third_intermediate_reply_ends_the_wait_without_w",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            let more = c.result(A, RLT_MORE, "ticketA", id_of(A));
            vec![
                Act::Send(more.clone()),
                Act::Send(more.clone()),
                Act::Send(more),
                Act::WaitEof,
            ]
        },
        code: 0,
        lines: &[
            SENT,
            "Giving up on waiting for the definite result. \
             Please use \"booth list\" later to see the outcome.",
        ],
    },
    Exchange {
        name: "cib_pending_ends_a_grant_without_c",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            vec![
                Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
                Act::Send(c.result(A, RLT_CIB_PENDING, "ticketA", id_of(A))),
                Act::WaitEof,
            ]
        },
        code: 0,
        lines: &[SENT, "grant succeeded (CIB commit pending)"],
    },
    Exchange {
        name: "a_redirect_to_an_unknown_site_fails",
        auth: false,
        op: REVOKE_A,
        replies: |c| vec![Act::Send(c.result(A, RLT_REDIRECT, "ticketA", 0x1234_5678))],
        code: 1,
        lines: &["Message with unknown redirect site 12345678 received"],
    },
    Exchange {
        name: "overgrant_fails",
        auth: false,
        op: GRANT_A,
        replies: |c| vec![Act::Send(c.result(A, RLT_OVERGRANT, "ticketA", id_of(B)))],
        code: 1,
        lines: &[
            "You're granting a granted ticket. If you wanted to migrate a ticket, \
          use revoke first, then use grant.",
        ],
    },
    Exchange {
        name: "an_unknown_ticket_is_reported",
        auth: false,
        op: Op::Client(ClientOp::Grant, Some("nope")),
        // C answers with a zeroed ticket body.
        replies: |c| vec![Act::Send(c.result(A, RLT_INVALID_ARG, "", 0))],
        code: 1,
        lines: &["ticket \"nope\" does not exist"],
    },
    Exchange {
        name: "a_header_only_auth_result_is_reported",
        auth: false,
        op: GRANT_A,
        replies: |c| vec![Act::Send(c.header_only(RLT_AUTH))],
        code: 1,
        lines: &["authentication error"],
    },
    Exchange {
        name: "a_grant_won_by_another_site_names_it",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            vec![
                Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
                Act::Send(c.result(A, RLT_SYNC_FAIL, "ticketA", id_of(B))),
            ]
        },
        code: 1,
        lines: &[SENT, "grant failed! (ticket granted to 127.0.0.2)"],
    },
    Exchange {
        name: "unknown_result_codes_are_shown",
        auth: false,
        op: REVOKE_A,
        replies: |c| vec![Act::Send(c.result(A, RLT_BUSY, "ticketA", NO_ONE))],
        code: 1,
        lines: &["got an error code: Busy"],
    },
    // Timeouts
    Exchange {
        name: "a_daemon_that_never_answers_times_out_without_w",
        auth: false,
        op: GRANT_A,
        replies: |_| vec![Act::WaitEof],
        code: 1,
        lines: &["no reply from 127.0.0.1 within 1 s"],
    },
    Exchange {
        name: "a_grant_left_pending_times_out_with_advice",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            vec![
                Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
                Act::WaitEof,
            ]
        },
        code: 1,
        lines: &[
            SENT,
            "no further reply from 127.0.0.1 within 1 s; the grant may still complete. \
             Please use \"booth list\" later to see the outcome.",
        ],
    },
    Exchange {
        name: "list_times_out_too",
        auth: false,
        op: Op::Client(ClientOp::List, None),
        replies: |_| vec![Act::WaitEof],
        code: 1,
        lines: &["no reply from 127.0.0.1 within 1 s"],
    },
    Exchange {
        name: "a_connection_closed_mid_reply_is_a_read_failure",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            let mut partial = c.result(A, RLT_SUCCESS, "ticketA", id_of(A));
            partial.truncate(60);
            vec![Act::Send(partial)]
        },
        code: 1,
        // A success code from a cut-short reply is not reported as success.
        lines: &["read failed: connection closed by 127.0.0.1"],
    },
    // geostore
    Exchange {
        name: "geostore_get_of_a_missing_attribute",
        auth: false,
        op: Op::Geo(GeoOp::Get, Some("color")),
        replies: |c| vec![Act::Send(c.header_only(RLT_NO_SUCH_ATTR))],
        code: 1,
        lines: &["attribute \"color\" not set"],
    },
];

#[test]
fn replies_give_the_exit_code_and_message() {
    check_all(EXCHANGES);
}

// ---------------------------------------------------------------------------
// Authentication

#[test]
fn with_auth_requests_are_signed_and_signed_replies_accepted() {
    let mut c = Cluster::new("auth", &["ticketA"], true);
    let daemon = c.serve_a(vec![
        Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
        Act::Send(c.result(A, RLT_SUCCESS, "ticketA", id_of(A))),
    ]);
    let out = run(&c.client(ClientOp::Grant, Some("ticketA")));
    // The fake decoded the request with the key, so its MAC verified.
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines().last(), Some(&"grant succeeded!"));
    assert_eq!(seen.request.len(), 152);
    assert_eq!(be32(&seen.request, 0), 1, "opts = AUTH");
    assert_eq!(be32(&seen.request, 24), 152);
    assert_eq!(seen.extra, 0);
}

#[test]
fn with_auth_list_text_is_read_after_the_trailer() {
    let mut c = Cluster::new("authlist", &["ticketA"], true);
    let text = "ticket: ticketA, leader: none\n";
    let daemon = c.serve_a(vec![Act::Send(c.text(CL_LIST, text))]);
    let out = run(&c.client(ClientOp::List, None));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, text.as_bytes());
    assert_eq!(seen.request.len(), 152);
}

#[test]
fn with_auth_an_unsigned_reply_is_refused() {
    let mut c = Cluster::new("unsigned", &["ticketA"], true);
    let daemon = c.serve_a(vec![Act::Send(ticket_result(
        A,
        RLT_SUCCESS,
        "ticketA",
        id_of(A),
        None,
    ))]);
    let out = run(&c.client(ClientOp::Grant, Some("ticketA")));
    daemon.join().unwrap();
    assert_eq!(out.code, 1);
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("127.0.0.1: failed to authenticate"),
        "{lines:?}"
    );
}

#[test]
fn with_auth_an_unsigned_auth_error_is_still_explained() {
    let mut c = Cluster::new("unsignedauth", &["ticketA"], true);
    // A daemon with another key (or none) answers header-only RLT_AUTH.
    let daemon = c.serve_a(vec![Act::Send(header_only(RLT_AUTH, None))]);
    let out = run(&c.client(ClientOp::Grant, Some("ticketA")));
    daemon.join().unwrap();
    assert_eq!(out.code, 1);
    let lines = out.lines();
    assert!(lines[0].starts_with("127.0.0.1: failed to authenticate"));
    assert_eq!(lines[1..], ["authentication error"]);
}

#[test]
fn with_auth_a_replayed_reply_is_refused() {
    let mut c = Cluster::new("replay", &["ticketA"], true);
    let more = c.result(A, RLT_MORE, "ticketA", id_of(A));
    let daemon = c.serve_a(vec![Act::Send(more.clone()), Act::Send(more)]);
    let mut args = c.client(ClientOp::Grant, Some("ticketA"));
    args.wait = true;
    let out = run(&args);
    daemon.join().unwrap();
    assert_eq!(out.code, 1);
    let lines = out.lines();
    assert_eq!(lines[0], "grant request sent, waiting for the result ...");
    assert_eq!(
        lines[1],
        "127.0.0.1: failed to authenticate (packet was replayed)"
    );
}

// ---------------------------------------------------------------------------
// geostore

fn attr_of(seen: &Seen) -> AttrMsg {
    match &seen.decoded {
        Request::Attr { msg, strings_ok } => {
            assert!(strings_ok);
            msg.clone()
        }
        other => panic!("not an attribute request: {other:?}"),
    }
}

#[test]
fn geostore_set() {
    let mut c = Cluster::new("geoset", &["ticketA"], false);
    let daemon = c.serve_a(vec![Act::Send(c.header_only(RLT_SUCCESS))]);
    let out = run_geo(&c.geostore(GeoOp::Set, Some("color"), Some("blue")));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), ["set succeeded!"]);
    assert_eq!(seen.request.len(), 304);
    assert_eq!(seen.extra, 0);
    let msg = attr_of(&seen);
    assert_eq!(msg.header.cmd, ATTR_SET);
    assert_eq!(msg.header.from, id_of(A));
    assert_eq!(
        msg.body,
        AttrBody {
            ticket: "ticketA".into(),
            name: "color".into(),
            value: "blue".into()
        }
    );
}

#[test]
fn geostore_get_prints_the_value_line() {
    let mut c = Cluster::new("geoget", &["ticketA"], false);
    let daemon = c.serve_a(vec![Act::Send(c.text(ATTR_GET, "blue\n"))]);
    let out = run_geo(&c.geostore(GeoOp::Get, Some("color"), None));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, b"blue\n");
    assert_eq!(out.stderr, "");
    assert_eq!(seen.request.len(), 304, "exactly `length`, no C padding");
    assert_eq!(attr_of(&seen).header.cmd, ATTR_GET);
}

#[test]
fn geostore_list_passes_the_text_through() {
    let mut c = Cluster::new("geolist", &["ticketA"], false);
    let text = "color blue 2024-05-06 14:03:27\nsize big \n";
    let daemon = c.serve_a(vec![Act::Send(c.text(ATTR_LIST, text))]);
    let out = run_geo(&c.geostore(GeoOp::List, None, None));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, text.as_bytes());
    let msg = attr_of(&seen);
    assert_eq!(
        (msg.header.cmd, msg.body.ticket.as_str()),
        (ATTR_LIST, "ticketA")
    );
}

#[test]
fn geostore_delete() {
    let mut c = Cluster::new("geodel", &["ticketA"], false);
    let daemon = c.serve_a(vec![Act::Send(c.header_only(RLT_SUCCESS))]);
    let out = run_geo(&c.geostore(GeoOp::Delete, Some("color"), None));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "", "delete succeeds silently");
    assert_eq!(attr_of(&seen).header.cmd, ATTR_DEL);
}

#[test]
fn geostore_unknown_ticket() {
    let mut c = Cluster::new("geoticket", &["ticketA", "ticketB"], false);
    let daemon = c.serve_a(vec![Act::Send(c.header_only(RLT_INVALID_ARG))]);
    let mut args = c.geostore(GeoOp::List, None, None);
    args.ticket = Some("ticketZ".into());
    let out = run_geo(&args);
    daemon.join().unwrap();
    assert_eq!(out.code, 1);
    assert_eq!(out.lines(), ["ticket \"ticketZ\" does not exist"]);
}

#[test]
fn geostore_needs_a_ticket_when_several_are_configured() {
    let c = Cluster::new("geonoticket", &["ticketA", "ticketB"], false);
    let out = run_geo(&c.geostore(GeoOp::Set, Some("color"), Some("blue")));
    assert_eq!(out.code, 1);
    assert_eq!(out.lines(), ["No ticket given."]);
}

#[test]
fn geostore_set_with_auth_reads_the_signed_result() {
    // 9d4029a's client misreads this reply and reports an authentication
    // failure although the daemon stored the attribute.
    let mut c = Cluster::new("geoauth", &["ticketA"], true);
    let daemon = c.serve_a(vec![Act::Send(c.header_only(RLT_SUCCESS))]);
    let out = run_geo(&c.geostore(GeoOp::Set, Some("color"), Some("blue")));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), ["set succeeded!"]);
    assert_eq!(seen.request.len(), 332);
    assert_eq!(attr_of(&seen).body.value, "blue");
}

#[test]
fn geostore_refuses_arbitrators_for_set() {
    let c = Cluster::new("geoarb", &["ticketA"], false);
    let mut args = c.geostore(GeoOp::Set, Some("color"), Some("blue"));
    args.site = Some(SiteArg::Name("127.0.0.3".into()));
    let out = run_geo(&args);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.lines(),
        ["127.0.0.3 is just an arbitrator, no attributes there."]
    );
}

/// Keeps the helpers honest: the configured port is the one the fakes use.
#[test]
fn the_fixture_config_names_both_fakes() {
    let c = Cluster::new("fixture", &["ticketA"], false);
    let config = Config::load(&c.conf).unwrap();
    let addrs: Vec<SocketAddr> = config
        .members
        .iter()
        .map(|m| SocketAddr::new(m.addr, m.port))
        .collect();
    assert_eq!(addrs[0], SocketAddr::from((A, c.port)));
    assert_eq!(addrs[1], SocketAddr::from((B, c.port)));
    assert!(Path::new(&c.conf).exists());
}
