//! Byte-exact checks against the worked examples of the wire specification,
//! the `length` table, authentication failures, and a deterministic fuzz of
//! every decoder.

use super::auth::{check_window, verify_message, verify_text_header, AuthTag, MAC_LEN};
use super::codes::*;
use super::*;

const SITE_A: u32 = 0x5085_F484;
const SITE_B: u32 = 0x7BA8_A747;
const KEY: &[u8] = b"booth-secret-key";
const EXAMPLE_TS: Timestamp = Timestamp::new(1_700_000_000, 123_456);

/// Bytes from a hex dump: whitespace separated pairs, `..` comments ignored
/// up to the end of the line.
fn hex(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in s.lines() {
        let data = line.split('|').next().unwrap_or("");
        for pair in data.split_whitespace() {
            out.push(u8::from_str_radix(pair, 16).expect("hex pair"));
        }
    }
    out
}

fn key() -> AuthKey {
    AuthKey::new(KEY).unwrap()
}

fn ticket_a_body(leader: u32, term: u32, valid: u32) -> TicketBody {
    TicketBody {
        name: "ticketA".into(),
        leader,
        term,
        term_valid_for: valid,
    }
}

fn heartbeat() -> TicketMsg {
    TicketMsg {
        header: Header::new(OP_HEARTBEAT, SITE_A),
        body: ticket_a_body(SITE_A, 5, 599),
    }
}

/// Header + "ticketA" body with the given tail (leader, term, valid); the
/// 64-byte name field is "ticketA" and zeros.
fn ticket_bytes(header_hex: &str, tail_hex: &str) -> Vec<u8> {
    let mut v = hex(header_hex);
    let mut name = b"ticketA".to_vec();
    name.resize(64, 0);
    v.extend_from_slice(&name);
    v.extend_from_slice(&hex(tail_hex));
    v
}

// §11.1
fn heartbeat_plain_bytes() -> Vec<u8> {
    ticket_bytes(
        "00 00 00 00  00 00 00 00  00 00 00 00  5f 1b a0 8c
         00 01 00 03  50 85 f4 84  00 00 00 7c  48 72 74 42
         00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00",
        "50 85 f4 84  00 00 00 05  00 00 02 57",
    )
}

// §11.2
fn heartbeat_auth_bytes() -> Vec<u8> {
    ticket_bytes(
        "00 00 00 01  65 53 f1 00  00 01 e2 40  5f 1b a0 8c
         00 01 00 03  50 85 f4 84  00 00 00 98  48 72 74 42
         00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00",
        "50 85 f4 84  00 00 00 05  00 00 02 57  00 00 00 02
         4a 45 94 52  d0 92 aa 3a  85 30 4c b4  07 72 80 bb
         18 d0 89 b2  00 00 00 00",
    )
}

fn no_auth() -> Option<(&'static AuthKey, Timestamp)> {
    None
}

#[test]
fn example_11_1_heartbeat_without_auth() {
    let bytes = heartbeat_plain_bytes();
    assert_eq!(bytes.len(), 124);
    assert_eq!(encode_ticket_msg(&heartbeat(), no_auth()).unwrap(), bytes);

    let got = decode_datagram(&bytes, None).unwrap();
    assert_eq!(got.auth, None);
    let mut expect = heartbeat();
    expect.header.length = 124;
    assert_eq!(got.msg, expect);
    assert_eq!(peek_from(&bytes), Some(SITE_A));
}

#[test]
fn example_11_2_heartbeat_with_auth() {
    let bytes = heartbeat_auth_bytes();
    assert_eq!(bytes.len(), 152);
    let k = key();
    assert_eq!(
        encode_ticket_msg(&heartbeat(), Some((&k, EXAMPLE_TS))).unwrap(),
        bytes
    );

    let got = decode_datagram(&bytes, Some(&k)).unwrap();
    let tag = got.auth.unwrap();
    assert_eq!(tag.timestamp, EXAMPLE_TS);
    assert_eq!(tag.mac[..], bytes[128..148]);
    let mut expect = heartbeat();
    expect.header.opts = BOOTH_OPT_AUTH;
    expect.header.secs = EXAMPLE_TS.secs;
    expect.header.usecs = EXAMPLE_TS.usecs;
    expect.header.length = 152;
    assert_eq!(got.msg, expect);

    // A receiver without key accepts it and ignores the trailer (§8.6).
    let plain = decode_datagram(&bytes, None).unwrap();
    assert_eq!(plain.msg, expect);
    assert_eq!(plain.auth, None);

    // With the freshness check at the time it was sent.
    let mut guard = ReplayGuard::new(600);
    let now = Timestamp::new(1_700_000_001, 0);
    let checked = decode_datagram_checked(
        &bytes,
        Some(AuthCheck {
            key: &k,
            guard: &mut guard,
            now,
        }),
    );
    assert_eq!(checked.unwrap(), expect);
}

#[test]
fn example_11_3_ack() {
    let bytes = ticket_bytes(
        "00 00 00 00  00 00 00 00  00 00 00 00  5f 1b a0 8c
         00 01 00 03  7b a8 a7 47  00 00 00 7c  41 63 6b 2e
         48 72 74 42  00 00 00 00  00 00 00 00  00 00 00 00",
        "50 85 f4 84  00 00 00 05  00 00 02 57",
    );
    let mut ack = TicketMsg {
        header: Header::new(OP_ACK, SITE_B),
        body: ticket_a_body(SITE_A, 5, 599),
    };
    ack.header.request = OP_HEARTBEAT;
    assert_eq!(encode_ticket_msg(&ack, no_auth()).unwrap(), bytes);
    ack.header.length = 124;
    assert_eq!(decode_datagram(&bytes, None).unwrap().msg, ack);
}

#[test]
fn example_11_4_grant_request_and_first_reply() {
    let request = ticket_bytes(
        "00 00 00 00  00 00 00 00  00 00 00 00  5f 1b a0 8c
         00 01 00 03  50 85 f4 84  00 00 00 7c  43 47 6e 74
         00 00 00 00  00 00 00 02  00 00 00 00  00 00 00 00",
        "00 00 00 00  00 00 00 00  00 00 00 00",
    );
    let mut grant = TicketMsg {
        header: Header::new(CMD_GRANT, SITE_A),
        body: ticket_a_body(0, 0, 0),
    };
    grant.header.options = OPT_WAIT;
    assert_eq!(encode_ticket_msg(&grant, no_auth()).unwrap(), request);
    grant.header.length = 124;
    match decode_request(&request, None).unwrap() {
        Framing::Complete { msg, consumed } => {
            assert_eq!(consumed, 124);
            assert_eq!(msg.msg, Request::Ticket(grant.clone()));
            assert_eq!(msg.auth, None);
        }
        other => panic!("{other:?}"),
    }

    let reply = ticket_bytes(
        "00 00 00 00  00 00 00 00  00 00 00 00  5f 1b a0 8c
         00 01 00 03  50 85 f4 84  00 00 00 7c  52 73 6c 74
         00 00 00 00  00 00 00 00  00 00 00 00  4d 6f 72 65",
        "50 85 f4 84  00 00 00 00  00 00 00 00",
    );
    let mut result = TicketMsg {
        header: Header::new(CL_RESULT, SITE_A),
        body: ticket_a_body(SITE_A, 0, 0),
    };
    result.header.result = RLT_MORE;
    assert_eq!(encode_ticket_msg(&result, no_auth()).unwrap(), reply);
    result.header.length = 124;
    match decode_reply(&reply, None).unwrap() {
        Framing::Complete { msg, consumed } => {
            assert_eq!(consumed, 124);
            assert_eq!(msg.msg, Reply::Ticket(result));
        }
        other => panic!("{other:?}"),
    }
}

const LIST_TEXT: &[u8] =
    b"ticket: ticketA, leader: 192.168.201.100, expires: 2024-01-01 12:00:00\n";

#[test]
fn example_11_5_list_reply() {
    assert_eq!(LIST_TEXT.len(), 71);
    let header = Header::new(CL_LIST, SITE_A);

    let plain = encode_text_reply(&header, LIST_TEXT, no_auth()).unwrap();
    let expect_header = hex("00 00 00 00  00 00 00 00  00 00 00 00  5f 1b a0 8c
         00 01 00 03  50 85 f4 84  00 00 00 77  52 4c 73 74
         00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00");
    assert_eq!(plain[..48], expect_header[..]);
    assert_eq!(&plain[48..], LIST_TEXT);
    match decode_reply(&plain, None).unwrap() {
        Framing::Complete { msg, consumed } => {
            assert_eq!(consumed, 119);
            let mut h = header;
            h.length = 119;
            assert_eq!(
                msg.msg,
                Reply::Text {
                    header: h,
                    text: LIST_TEXT.to_vec()
                }
            );
        }
        other => panic!("{other:?}"),
    }

    let k = key();
    let signed = encode_text_reply(&header, LIST_TEXT, Some((&k, EXAMPLE_TS))).unwrap();
    assert_eq!(signed.len(), 76 + 71);
    let mut signed_header = expect_header.clone();
    signed_header[3] = 1;
    signed_header[4..12].copy_from_slice(&hex("65 53 f1 00  00 01 e2 40"));
    signed_header[27] = 76 + 71;
    assert_eq!(signed[..48], signed_header[..]);
    assert_eq!(signed[48..52], [0, 0, 0, 2]);
    assert_eq!(signed[52..72], k.mac(&signed_header));
    assert_eq!(signed[72..76], [0, 0, 0, 0]);
    assert_eq!(&signed[76..], LIST_TEXT);
    match decode_reply(&signed, Some(&k)).unwrap() {
        Framing::Complete { msg, consumed } => {
            assert_eq!(consumed, 147);
            assert_eq!(msg.auth.unwrap().timestamp, EXAMPLE_TS);
            match msg.msg {
                Reply::Text { text, .. } => assert_eq!(text, LIST_TEXT),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    // The text is not authenticated: changing it still verifies.
    let mut changed = signed.clone();
    changed[80] ^= 0x20;
    assert!(decode_reply(&changed, Some(&k)).is_ok());
    // The header is.
    let mut changed = signed;
    changed[47] = 1;
    assert_eq!(
        decode_reply(&changed, Some(&k)).unwrap_err(),
        DecodeError::Auth(AuthError::BadMac)
    );
}

#[test]
fn length_table() {
    let k = key();
    let ts = EXAMPLE_TS;
    let attr = AttrMsg {
        header: Header::new(ATTR_SET, SITE_A),
        body: AttrBody {
            ticket: "ticketA".into(),
            name: "n".into(),
            value: "v".into(),
        },
    };
    // (kind, unsigned bytes, signed bytes, expected lengths)
    let rows = [
        (
            "ticket",
            encode_ticket_msg(&heartbeat(), None).unwrap(),
            encode_ticket_msg(&heartbeat(), Some((&k, ts))).unwrap(),
            124,
            152,
        ),
        (
            "header-only",
            encode_header_only(&Header::new(CL_RESULT, SITE_A), None),
            encode_header_only(&Header::new(CL_RESULT, SITE_A), Some((&k, ts))),
            48,
            76,
        ),
        (
            "attr",
            encode_attr_msg(&attr, None).unwrap(),
            encode_attr_msg(&attr, Some((&k, ts))).unwrap(),
            304,
            332,
        ),
        (
            "text 0",
            encode_text_reply(&Header::new(ATTR_LIST, SITE_A), b"", None).unwrap(),
            encode_text_reply(&Header::new(ATTR_LIST, SITE_A), b"", Some((&k, ts))).unwrap(),
            48,
            76,
        ),
        (
            "text 9",
            encode_text_reply(&Header::new(ATTR_GET, SITE_A), b"value 12\n", None).unwrap(),
            encode_text_reply(
                &Header::new(ATTR_GET, SITE_A),
                b"value 12\n",
                Some((&k, ts)),
            )
            .unwrap(),
            57,
            85,
        ),
    ];
    for (what, off, on, off_len, on_len) in rows {
        assert_eq!(off.len(), off_len, "{what} without auth");
        assert_eq!(on.len(), on_len, "{what} with auth");
        let h_off = Header::decode(&off).unwrap();
        let h_on = Header::decode(&on).unwrap();
        assert_eq!(h_off.length as usize, off_len, "{what}");
        assert_eq!(h_on.length as usize, on_len, "{what}");
        assert_eq!((h_off.opts, h_off.secs, h_off.usecs), (0, 0, 0), "{what}");
        assert_eq!(
            (h_on.opts, h_on.secs, h_on.usecs),
            (BOOTH_OPT_AUTH, ts.secs, ts.usecs),
            "{what}"
        );
    }
    assert_eq!(TICKET_MSG_LEN, 124);
    assert_eq!(ATTR_MSG_LEN, 304);
}

#[test]
fn encoding_refuses_what_does_not_fit() {
    let mut m = heartbeat();
    m.body.name = "x".repeat(63);
    let b = encode_ticket_msg(&m, None).unwrap();
    assert_eq!(b[48 + 63], 0);
    m.body.name = "x".repeat(64);
    assert_eq!(
        encode_ticket_msg(&m, None),
        Err(EncodeError::FieldTooLong {
            field: "ticket name",
            len: 64,
            max: 63
        })
    );
    m.body.name = "a\0b".into();
    assert!(matches!(
        encode_ticket_msg(&m, None),
        Err(EncodeError::FieldContainsNul { .. })
    ));
    let mut a = AttrMsg {
        header: Header::new(ATTR_SET, SITE_A),
        body: AttrBody {
            ticket: "t".into(),
            name: "n".repeat(63),
            value: "v".repeat(127),
        },
    };
    assert!(encode_attr_msg(&a, None).is_ok());
    a.body.value.push('v');
    assert!(matches!(
        encode_attr_msg(&a, None),
        Err(EncodeError::FieldTooLong { max: 127, .. })
    ));
}

#[test]
fn unsigned_encoding_clears_auth_fields_keeps_other_opts() {
    let mut m = heartbeat();
    m.header.opts = BOOTH_OPT_AUTH | BOOTH_OPT_ATTR;
    m.header.secs = 5;
    m.header.usecs = 6;
    m.header.length = 999;
    let b = encode_ticket_msg(&m, None).unwrap();
    let h = Header::decode(&b).unwrap();
    assert_eq!(
        (h.opts, h.secs, h.usecs, h.length),
        (BOOTH_OPT_ATTR, 0, 0, 124)
    );
    // And such a datagram is dropped as an attribute message (C logs it).
    assert_eq!(decode_datagram(&b, None), Err(DecodeError::AttrMessage));
    assert_eq!(DecodeError::AttrMessage.counter(), None);
}

#[test]
fn header_checks_and_counters() {
    let good = heartbeat_plain_bytes();
    assert_eq!(
        decode_datagram(&good[..47], None),
        Err(DecodeError::TooShort { len: 47 })
    );
    let mut b = good.clone();
    b[12] = 0;
    assert_eq!(
        decode_datagram(&b, None),
        Err(DecodeError::BadMagic(0x001B_A08C))
    );
    let mut b = good.clone();
    b[19] = 2;
    assert_eq!(
        decode_datagram(&b, None),
        Err(DecodeError::BadVersion(0x0001_0002))
    );
    // Length lies (too big, too small, below the header).
    for lie in [125u32, 123, 47, 0, 0xFFFF_FFFF] {
        let mut b = good.clone();
        b[24..28].copy_from_slice(&lie.to_be_bytes());
        let e = decode_datagram(&b, None).unwrap_err();
        assert!(matches!(e, DecodeError::BadLength { .. }), "{lie}: {e:?}");
        assert_eq!(e.counter(), Some(PeerCounter::RecvError));
    }
    // Truncated and extended datagrams.
    assert!(matches!(
        decode_datagram(&good[..100], None),
        Err(DecodeError::BadLength { .. })
    ));
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(
        decode_datagram(&long, None),
        Err(DecodeError::BadLength { .. })
    ));
    // Extra bytes declared in `length` are ignored, like C.
    let mut long = good.clone();
    long.extend_from_slice(&[7; 10]);
    long[24..28].copy_from_slice(&134u32.to_be_bytes());
    assert!(decode_datagram(&long, None).is_ok());
    // Too big for C's receive buffer.
    let mut huge = good.clone();
    huge.resize(1025, 0);
    huge[24..28].copy_from_slice(&1025u32.to_be_bytes());
    assert!(matches!(
        decode_datagram(&huge, None),
        Err(DecodeError::BadLength { .. })
    ));
    // A header-only datagram has no ticket body (C would read stack bytes).
    let short = encode_header_only(&Header::new(OP_HEARTBEAT, SITE_A), None);
    let e = decode_datagram(&short, None).unwrap_err();
    assert_eq!(e, DecodeError::NotTicketMessage { length: 48 });
    assert_eq!(e.counter(), Some(PeerCounter::RecvError));
    // Name without NUL / not UTF-8.
    let mut b = good.clone();
    b[48..112].fill(b'x');
    let e = decode_datagram(&b, None).unwrap_err();
    assert_eq!(e, DecodeError::NameNotTerminated);
    assert_eq!(e.counter(), Some(PeerCounter::Invalid));
    let mut b = good.clone();
    b[48] = 0xFF;
    assert_eq!(decode_datagram(&b, None), Err(DecodeError::NameNotUtf8));
    // Unknown codes and from = NO_ONE decode; the daemon judges them.
    let mut b = good;
    b[20..24].copy_from_slice(&NO_ONE.to_be_bytes());
    b[28..32].copy_from_slice(b"Zzz?");
    let m = decode_datagram(&b, None).unwrap().msg;
    assert_eq!((m.header.from, m.header.cmd), (NO_ONE, Cmd(0x5A7A_7A3F)));
    assert_eq!(peek_from(&b), Some(NO_ONE));
    assert_eq!(peek_from(&b[..23]), None);
    assert_eq!(peek_from(&b[..24]), Some(NO_ONE));
}

fn auth_err(r: Result<Received<TicketMsg>, DecodeError>) -> AuthError {
    match r {
        Err(DecodeError::Auth(e)) => e,
        other => panic!("expected an authentication failure, got {other:?}"),
    }
}

#[test]
fn authentication_failures() {
    let k = key();
    let good = heartbeat_auth_bytes();
    assert!(decode_datagram(&good, Some(&k)).is_ok());

    // Any tampered byte before the trailer: the MAC covers all of them;
    // magic, version and length fail the header check first.
    for i in 0..124 {
        let mut b = good.clone();
        b[i] ^= 0x01;
        let e = decode_datagram(&b, Some(&k)).unwrap_err();
        match i {
            12..=15 => assert!(matches!(e, DecodeError::BadMagic(_)), "byte {i}"),
            16..=19 => assert!(matches!(e, DecodeError::BadVersion(_)), "byte {i}"),
            24..=27 => assert!(matches!(e, DecodeError::BadLength { .. }), "byte {i}"),
            _ => assert_eq!(e, DecodeError::Auth(AuthError::BadMac), "byte {i}"),
        }
    }
    // A tampered MAC byte.
    let mut b = good.clone();
    b[130] ^= 0x80;
    assert_eq!(auth_err(decode_datagram(&b, Some(&k))), AuthError::BadMac);
    // Wrong key.
    let wrong = AuthKey::new(b"booth-secret-kez").unwrap();
    assert_eq!(
        auth_err(decode_datagram(&good, Some(&wrong))),
        AuthError::BadMac
    );
    // Hash ids other than 2, even with a MAC that would otherwise match.
    for hid in [0u32, 1, 3] {
        let mut b = good.clone();
        b[124..128].copy_from_slice(&hid.to_be_bytes());
        let e = decode_datagram(&b, Some(&k)).unwrap_err();
        assert_eq!(e, DecodeError::Auth(AuthError::UnknownHashId(hid)));
        assert_eq!(e.counter(), Some(PeerCounter::AuthFail));
    }
    // Truncated trailer (length adjusted so the header check passes).
    for cut in [1usize, 4, 27, 28] {
        let mut b = good[..152 - cut].to_vec();
        let len = b.len() as u32;
        b[24..28].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(
            decode_datagram(&b, Some(&k)),
            Err(DecodeError::Auth(_))
        ));
    }
    // A header-only "message" with a trailer covering part of the header.
    let mut b = vec![0u8; 70];
    b[..48].copy_from_slice(&good[..48]);
    b[24..28].copy_from_slice(&70u32.to_be_bytes());
    assert_eq!(
        auth_err(decode_datagram(&b, Some(&k))),
        AuthError::Truncated { len: 70 }
    );
    // Sender without authentication, receiver with (§8.6): fails.
    let plain = heartbeat_plain_bytes();
    let e = decode_datagram(&plain, Some(&k)).unwrap_err();
    assert!(matches!(e, DecodeError::Auth(_)), "{e:?}");
    assert_eq!(e.counter(), Some(PeerCounter::AuthFail));
    // Even with the AUTH bit set by a sender that has no key.
    let mut liar = plain;
    liar[3] = 1;
    assert!(matches!(
        decode_datagram(&liar, Some(&k)),
        Err(DecodeError::Auth(_))
    ));
}

/// A signed heartbeat stamped `at`, optionally with a different term so that
/// messages at the same time differ.
fn signed_heartbeat(at: Timestamp, term: u32) -> Vec<u8> {
    let mut m = heartbeat();
    m.body.term = term;
    encode_ticket_msg(&m, Some((&key(), at))).unwrap()
}

fn checked(
    bytes: &[u8],
    guard: &mut ReplayGuard,
    now: Timestamp,
) -> Result<TicketMsg, DecodeError> {
    let k = key();
    decode_datagram_checked(
        bytes,
        Some(AuthCheck {
            key: &k,
            guard,
            now,
        }),
    )
}

#[test]
fn timestamp_rules_on_datagrams() {
    let now = Timestamp::new(1_700_000_000, 500_000);
    let mut g = ReplayGuard::new(600).with_max_ahead(60);

    let old = signed_heartbeat(Timestamp::new(1_700_000_000 - 600, 500_000), 1);
    assert_eq!(
        checked(&old, &mut g, now),
        Err(DecodeError::Auth(AuthError::TooOld))
    );
    let barely = signed_heartbeat(Timestamp::new(1_700_000_000 - 600, 500_001), 1);
    assert!(checked(&barely, &mut g, now).is_ok());

    let future = signed_heartbeat(Timestamp::new(1_700_000_061, 0), 1);
    assert_eq!(
        checked(&future, &mut g, now),
        Err(DecodeError::Auth(AuthError::InFuture))
    );
    let near_future = signed_heartbeat(Timestamp::new(1_700_000_060, 500_000), 1);
    assert!(checked(&near_future, &mut g, now).is_ok());

    // A replay of an accepted packet, even much later within the window.
    let fresh = signed_heartbeat(Timestamp::new(1_700_000_000, 1), 7);
    assert!(checked(&fresh, &mut g, now).is_ok());
    let e = checked(&fresh, &mut g, Timestamp::new(1_700_000_300, 0)).unwrap_err();
    assert_eq!(e, DecodeError::Auth(AuthError::Replayed));
    assert_eq!(e.counter(), Some(PeerCounter::AuthFail));

    // C peers: wall seconds with monotonic microseconds, which jump back
    // within a second. All accepted, in any order.
    let mut g = ReplayGuard::new(600);
    let c_stamps = [
        (1_700_000_000, 990_000),
        (1_700_000_000, 10_000), // monotonic fraction wrapped
        (1_700_000_001, 20_000),
        (1_700_000_000, 500_000), // reordered in the network
        (1_700_000_001, 5_000),
    ];
    for (i, (s, u)) in c_stamps.into_iter().enumerate() {
        let b = signed_heartbeat(Timestamp::new(s, u), i as u32);
        assert!(checked(&b, &mut g, now).is_ok(), "{s}.{u}");
    }
    // Two different messages with the very same timestamp: both fine.
    let t = Timestamp::new(1_700_000_002, 0);
    assert!(checked(&signed_heartbeat(t, 100), &mut g, now).is_ok());
    assert!(checked(&signed_heartbeat(t, 101), &mut g, now).is_ok());
    assert_eq!(
        checked(&signed_heartbeat(t, 100), &mut g, now),
        Err(DecodeError::Auth(AuthError::Replayed))
    );

    // Without a key the guard is not involved and nothing is checked.
    let plain = encode_ticket_msg(&heartbeat(), None).unwrap();
    assert!(decode_datagram_checked(&plain, None).is_ok());
}

/// A restarted daemon's guard starts with a floor at the start second: a
/// packet signed in an earlier second is refused (counted authfail) even
/// though this guard never saw it, whatever its C-style microseconds.
#[test]
fn start_floor_refuses_packets_signed_before_the_start() {
    let start = Timestamp::new(1_700_000_000, 400_000);
    let mut g = ReplayGuard::new(600).with_floor(Timestamp::new(1_699_999_999, 999_999));
    let now = Timestamp::new(1_700_000_001, 0);
    let before = signed_heartbeat(Timestamp::new(1_699_999_999, 999_999), 1);
    let e = checked(&before, &mut g, now).unwrap_err();
    assert_eq!(e, DecodeError::Auth(AuthError::Replayed));
    assert_eq!(e.counter(), Some(PeerCounter::AuthFail));
    // Same second as the start, earlier microseconds: accepted.
    let same_second = signed_heartbeat(Timestamp::new(start.secs, 1), 2);
    assert!(checked(&same_second, &mut g, now).is_ok());
    assert_eq!(g.newest(), Some(Timestamp::new(start.secs, 1)));
}

#[test]
fn check_window_matches_c_skew_rule_for_old_packets() {
    // C: accept iff T > (now.secs - skew, now.usecs).
    let now = Timestamp::new(1000, 300);
    assert!(check_window(Timestamp::new(400, 301), now, 600, 600).is_ok());
    assert_eq!(
        check_window(Timestamp::new(400, 300), now, 600, 600),
        Err(AuthError::TooOld)
    );
}

mod framing;
mod fuzz;
