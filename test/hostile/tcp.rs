//! TCP clients: partial, bad and half-closed requests, connection floods.

use super::*;

// ---------------------------------------------------------------------------
// TCP clients

/// A raw client request: header and ticket body, unsigned.
pub(crate) fn request(cmd: Cmd, ticket: &str) -> Vec<u8> {
    let msg = TicketMsg {
        header: Header::new(cmd, 0),
        body: TicketBody {
            name: ticket.into(),
            ..TicketBody::default()
        },
    };
    wire::encode_ticket_msg(&msg, None).unwrap()
}

pub(crate) fn connect(c: &Cluster, i: usize) -> TcpStream {
    let s = TcpStream::connect(format!("{}:{}", addr(i), c.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads one reply header (and what follows, up to `length`).
pub(crate) fn read_reply(s: &mut TcpStream) -> (Header, Vec<u8>) {
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
    s.write_all(&request(Cmd(0x1234_5678), "ticketA")).unwrap();
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
