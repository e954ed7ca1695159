//! TCP request and client reply framing.

use super::*;

fn complete<T: std::fmt::Debug>(f: Framing<T>) -> (T, usize) {
    match f {
        Framing::Complete { msg, consumed } => (msg, consumed),
        other => panic!("incomplete: {other:?}"),
    }
}

#[test]
fn tcp_request_framing() {
    let k = key();
    let mut list = TicketMsg {
        header: Header::new(CMD_LIST, SITE_B),
        body: TicketBody::default(),
    };
    let mut wire = encode_ticket_msg(&list, None).unwrap();
    // The C client writes the whole 152-byte struct with length 124.
    wire.extend_from_slice(&[0u8; 28]);
    for n in 0..48 {
        assert_eq!(
            decode_request(&wire[..n], None).unwrap(),
            Framing::Need(48 - n)
        );
    }
    for n in 48..124 {
        assert_eq!(
            decode_request(&wire[..n], None).unwrap(),
            Framing::Need(124 - n)
        );
    }
    list.header.length = 124;
    for n in 124..=152 {
        let (got, consumed) = complete(decode_request(&wire[..n], None).unwrap());
        assert_eq!(consumed, 124);
        assert_eq!(got.msg, Request::Ticket(list.clone()));
    }

    // Signed requests: trailer mandatory.
    let mut grant = TicketMsg {
        header: Header::new(CMD_GRANT, SITE_B),
        body: ticket_a_body(0, 0, 0),
    };
    let signed = encode_ticket_msg(&grant, Some((&k, EXAMPLE_TS))).unwrap();
    let (got, consumed) = complete(decode_request(&signed, Some(&k)).unwrap());
    assert_eq!(consumed, 152);
    assert_eq!(got.auth.unwrap().timestamp, EXAMPLE_TS);
    grant.header.opts = BOOTH_OPT_AUTH;
    grant.header.secs = EXAMPLE_TS.secs;
    grant.header.usecs = EXAMPLE_TS.usecs;
    grant.header.length = 152;
    assert_eq!(got.msg, Request::Ticket(grant));
    let unsigned = encode_ticket_msg(&heartbeat(), None).unwrap();
    assert!(matches!(
        decode_request(&unsigned, Some(&k)),
        Err(DecodeError::Auth(_))
    ));

    // Header failures: no reply, close.
    let mut bad = signed.clone();
    bad[16] = 9;
    assert!(matches!(
        decode_request(&bad, Some(&k)),
        Err(DecodeError::BadVersion(_))
    ));
    for lie in [47u32, 1025, 0xFFFF_FFFF] {
        let mut bad = signed.clone();
        bad[24..28].copy_from_slice(&lie.to_be_bytes());
        assert!(matches!(
            decode_request(&bad, None),
            Err(DecodeError::BadLength { .. })
        ));
    }
    // 1024 is the largest request.
    let mut big = signed[..48].to_vec();
    big[24..28].copy_from_slice(&1024u32.to_be_bytes());
    assert_eq!(decode_request(&big, None).unwrap(), Framing::Need(976));
    big.resize(1024, 0);
    assert!(matches!(
        decode_request(&big, None).unwrap(),
        Framing::Complete { consumed: 1024, .. }
    ));

    // Unknown command: the daemon answers RLT_INVALID_ARG.
    let other = encode_header_only(&Header::new(OP_HEARTBEAT, SITE_B), None);
    let (got, _) = complete(decode_request(&other, None).unwrap());
    assert!(matches!(got.msg, Request::Other(h) if h.cmd == OP_HEARTBEAT));
}

#[test]
fn short_requests_are_zero_filled() {
    // A grant request cut after 5 bytes of the name.
    let full = encode_ticket_msg(
        &TicketMsg {
            header: Header::new(CMD_GRANT, SITE_A),
            body: ticket_a_body(SITE_A, 9, 9),
        },
        None,
    )
    .unwrap();
    let mut short = full[..53].to_vec();
    short[24..28].copy_from_slice(&53u32.to_be_bytes());
    let (got, consumed) = complete(decode_request(&short, None).unwrap());
    assert_eq!(consumed, 53);
    match got.msg {
        Request::Ticket(m) => {
            assert_eq!(m.body.name, "ticke");
            assert_eq!(
                (m.body.leader, m.body.term, m.body.term_valid_for),
                (0, 0, 0)
            );
        }
        other => panic!("{other:?}"),
    }
    // Bytes after `length` do not leak into the body.
    let mut with_junk = short.clone();
    with_junk.extend_from_slice(b"JUNK");
    let (got2, _) = complete(decode_request(&with_junk, None).unwrap());
    assert!(matches!(got2.msg, Request::Ticket(m) if m.body.name == "ticke"));

    // Header-only attribute request: all fields empty but well-formed.
    let set = encode_header_only(&Header::new(ATTR_SET, SITE_A), None);
    let (got, _) = complete(decode_request(&set, None).unwrap());
    match got.msg {
        Request::Attr { msg, strings_ok } => {
            assert!(strings_ok);
            assert_eq!(msg.body, AttrBody::default());
        }
        other => panic!("{other:?}"),
    }

    // With a key, the body comes only from the authenticated payload: the
    // trailer bytes of a short signed request are not read as fields.
    let k = key();
    let mut h = Header::new(CMD_GRANT, SITE_A);
    h.options = OPT_WAIT;
    let signed = encode_header_only(&h, Some((&k, EXAMPLE_TS)));
    let (got, _) = complete(decode_request(&signed, Some(&k)).unwrap());
    assert!(matches!(got.msg, Request::Ticket(m) if m.body == TicketBody::default()));
}

#[test]
fn attr_request_roundtrip_and_bad_strings() {
    let k = key();
    let msg = AttrMsg {
        header: Header::new(ATTR_SET, SITE_A),
        body: AttrBody {
            ticket: "ticketA".into(),
            name: "color".into(),
            value: "blue green".into(),
        },
    };
    for auth in [None, Some((&k, EXAMPLE_TS))] {
        let wire = encode_attr_msg(&msg, auth).unwrap();
        let (got, consumed) = complete(decode_request(&wire, auth.map(|a| a.0)).unwrap());
        assert_eq!(consumed, wire.len());
        match got.msg {
            Request::Attr { msg: m, strings_ok } => {
                assert!(strings_ok);
                assert_eq!(m.body, msg.body);
                // Re-encoding gives the same bytes.
                assert_eq!(encode_attr_msg(&m, auth).unwrap(), wire);
            }
            other => panic!("{other:?}"),
        }
    }
    let mut wire = encode_attr_msg(&msg, None).unwrap();
    wire[112..176].fill(b'n'); // attribute name without NUL
    let (got, _) = complete(decode_request(&wire, None).unwrap());
    match got.msg {
        Request::Attr { msg: m, strings_ok } => {
            assert!(!strings_ok);
            assert_eq!(m.body.name.len(), 64);
        }
        other => panic!("{other:?}"),
    }
    let mut wire = encode_attr_msg(&msg, None).unwrap();
    wire[176] = 0xC3; // value not UTF-8
    let (got, _) = complete(decode_request(&wire, None).unwrap());
    assert!(matches!(
        got.msg,
        Request::Attr {
            strings_ok: false,
            ..
        }
    ));
}

#[test]
fn lenient_ticket_names_never_look_configured() {
    let mut wire = heartbeat_plain_bytes();
    wire[28..32].copy_from_slice(&CMD_GRANT.0.to_be_bytes());
    wire[48..112].fill(b'a');
    let (got, _) = complete(decode_request(&wire, None).unwrap());
    assert!(matches!(&got.msg, Request::Ticket(m) if m.body.name.len() == 64));
    wire[48] = 0xFF;
    wire[49] = 0;
    let (got, _) = complete(decode_request(&wire, None).unwrap());
    assert!(matches!(&got.msg, Request::Ticket(m) if m.body.name == "\u{FFFD}"));
}

#[test]
fn client_reply_framing() {
    let k = key();
    // Header-only results: 48 without, 76 with auth.
    let mut h = Header::new(CL_RESULT, SITE_A);
    h.result = RLT_AUTH;
    let plain = encode_header_only(&h, None);
    let (got, consumed) = complete(decode_reply(&plain, None).unwrap());
    assert_eq!(consumed, 48);
    assert!(matches!(got.msg, Reply::Result(r) if r.result == RLT_AUTH));
    let signed = encode_header_only(&h, Some((&k, EXAMPLE_TS)));
    let (got, consumed) = complete(decode_reply(&signed, Some(&k)).unwrap());
    assert_eq!(consumed, 76);
    assert!(matches!(got.msg, Reply::Result(r) if r.result == RLT_AUTH));
    assert!(got.auth.is_some());
    // A keyless client still reads the result of an authenticating daemon.
    let (got, _) = complete(decode_reply(&signed, None).unwrap());
    assert!(matches!(got.msg, Reply::Result(r) if r.result == RLT_AUTH));
    // A client with a key rejects an unsigned result.
    assert!(matches!(
        decode_reply(&plain, Some(&k)),
        Err(DecodeError::Auth(_))
    ));

    // Two ticket results back to back on one connection.
    let mut res = TicketMsg {
        header: Header::new(CL_RESULT, SITE_A),
        body: ticket_a_body(SITE_A, 1, 20),
    };
    res.header.result = RLT_MORE;
    let first = encode_ticket_msg(&res, Some((&k, EXAMPLE_TS))).unwrap();
    res.header.result = RLT_SUCCESS;
    let second =
        encode_ticket_msg(&res, Some((&k, Timestamp::new(EXAMPLE_TS.secs + 1, 0)))).unwrap();
    let mut stream = first.clone();
    stream.extend_from_slice(&second);
    let (got, consumed) = complete(decode_reply(&stream, Some(&k)).unwrap());
    assert_eq!(consumed, 152);
    assert!(matches!(got.msg, Reply::Ticket(m) if m.header.result == RLT_MORE));
    let (got, consumed) = complete(decode_reply(&stream[152..], Some(&k)).unwrap());
    assert_eq!(consumed, 152);
    assert!(matches!(got.msg, Reply::Ticket(m) if m.header.result == RLT_SUCCESS));
    // Keyless client, authenticating daemon: still framed right.
    let (got, consumed) = complete(decode_reply(&stream, None).unwrap());
    assert_eq!(consumed, 152);
    assert!(matches!(got.msg, Reply::Ticket(m) if m.body.name == "ticketA"));

    // Partial replies ask for exactly what is missing.
    assert_eq!(decode_reply(&first[..10], None).unwrap(), Framing::Need(38));
    assert_eq!(
        decode_reply(&first[..100], None).unwrap(),
        Framing::Need(52)
    );

    // Text reply shorter than header + trailer with a key.
    let short_text = encode_text_reply(&Header::new(CL_LIST, SITE_A), b"abc", None).unwrap();
    assert!(matches!(
        decode_reply(&short_text, Some(&k)),
        Err(DecodeError::Auth(AuthError::Truncated { .. }))
    ));
    // Unexpected reply command.
    let odd = encode_header_only(&Header::new(CMD_GRANT, SITE_A), None);
    assert_eq!(
        decode_reply(&odd, None),
        Err(DecodeError::UnexpectedCommand(CMD_GRANT))
    );
    // A reply claiming an absurd length.
    let mut huge = plain.clone();
    huge[24..28].copy_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
    assert!(matches!(
        decode_reply(&huge, None),
        Err(DecodeError::BadLength { .. })
    ));
}
