//! Crashes and memory safety (items 1-4), lengths that lie, garbage,
//! unknown commands and spoofed sources: datagrams at the daemon.

use super::*;

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
        Cmd(0),
        Cmd(0x1234_5678),
        Cmd(u32::MAX),
        CMD_GRANT,
        CMD_REVOKE,
        CL_RESULT,
        ATTR_SET,
    ] {
        let bytes = c.message(cmd, c.id(ME), c.id(ME), term + 1);
        let d = c.send_and_count(LEADER, &bytes);
        assert_eq!((d.recv, d.error, d.authfail), (1, 0, 0), "{cmd:?}: {d:?}");
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
