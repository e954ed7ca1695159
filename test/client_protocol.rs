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
    AuthKey, Cmd, Framing, Header, Request, Rlt, TicketBody, TicketMsg, Timestamp, NO_ONE,
};

mod common;
#[path = "client_protocol/exchanges.rs"]
mod exchanges;
#[path = "client_protocol/fake.rs"]
mod fake;
#[path = "client_protocol/geostore.rs"]
mod geostore;
use common::TempDir;
use fake::*;

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
    assert_eq!(be32(&seen.request, 28), CMD_LIST.0);
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
    assert_eq!(be32(&seen.request, 28), CMD_PEERS.0);
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
    assert_eq!(be32(&first.request, 28), CMD_REVOKE.0);
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
