//! Authentication (items 11, 12, 13): broken MACs and timestamps, replays
//! within the window and after restarts, client requests without a key.

use super::*;

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
pub(crate) fn replay_after_restart(name: &str, signal: &str, wait_before: Duration) {
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
