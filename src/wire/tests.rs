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
    assert_eq!((m.header.from, m.header.cmd), (NO_ONE, 0x5A7A_7A3F));
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
    wire[28..32].copy_from_slice(&CMD_GRANT.to_be_bytes());
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

// ---------------------------------------------------------------------------
// Fuzzing

/// xorshift64*: small, deterministic, good enough to shake the decoders.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// Runs every decoder on `b` and checks the invariants that must hold for
/// any input.
fn run_all_decoders(b: &[u8], k: &AuthKey, guard: &mut ReplayGuard) {
    let _ = Header::decode(b);
    let _ = peek_from(b);
    let _ = verify_message(b, k);
    let _ = verify_text_header(b, k);
    for key in [None, Some(k)] {
        if let Ok(r) = decode_datagram(b, key) {
            assert_eq!(r.msg.header.length as usize, b.len());
            assert!(b.len() >= TICKET_MSG_LEN);
            assert_eq!(r.auth.is_some(), key.is_some());
        }
        for f in [
            decode_request(b, key).map(|f| f.map_len()),
            decode_reply(b, key).map(|f| f.map_len()),
        ] {
            match f {
                Ok(Framing::Need(n)) => {
                    assert!(n > 0);
                    assert!(b.len() + n >= HEADER_LEN);
                }
                Ok(Framing::Complete { consumed, .. }) => {
                    assert!(consumed >= HEADER_LEN);
                    assert!(consumed <= b.len());
                }
                Err(e) => {
                    let _ = e.counter();
                    let _ = e.to_string();
                }
            }
        }
    }
    let now = Timestamp::new(1_700_000_000, 0);
    let _ = decode_datagram_checked(b, Some(AuthCheck { key: k, guard, now }));
}

trait MapLen {
    fn map_len(self) -> Framing<()>;
}

impl<T> MapLen for Framing<T> {
    fn map_len(self) -> Framing<()> {
        match self {
            Framing::Need(n) => Framing::Need(n),
            Framing::Complete { consumed, .. } => Framing::Complete { msg: (), consumed },
        }
    }
}

fn seeds(k: &AuthKey) -> Vec<Vec<u8>> {
    let ts = Some((k, EXAMPLE_TS));
    let attr = AttrMsg {
        header: Header::new(ATTR_GET, SITE_A),
        body: AttrBody {
            ticket: "ticketA".into(),
            name: "n".into(),
            value: String::new(),
        },
    };
    let mut grant = heartbeat();
    grant.header.cmd = CMD_GRANT;
    let mut result = heartbeat();
    result.header.cmd = CL_RESULT;
    let list = Header::new(CL_LIST, SITE_A);
    vec![
        heartbeat_plain_bytes(),
        heartbeat_auth_bytes(),
        encode_ticket_msg(&grant, None).unwrap(),
        encode_ticket_msg(&grant, ts).unwrap(),
        encode_ticket_msg(&result, None).unwrap(),
        encode_ticket_msg(&result, ts).unwrap(),
        encode_attr_msg(&attr, None).unwrap(),
        encode_attr_msg(&attr, ts).unwrap(),
        encode_header_only(&Header::new(CL_RESULT, SITE_A), None),
        encode_header_only(&Header::new(CL_RESULT, SITE_A), ts),
        encode_text_reply(&list, LIST_TEXT, None).unwrap(),
        encode_text_reply(&list, LIST_TEXT, ts).unwrap(),
    ]
}

const CODES: &[u32] = &[
    CMD_LIST,
    CMD_GRANT,
    CMD_REVOKE,
    CMD_PEERS,
    CL_RESULT,
    CL_LIST,
    OP_STATUS,
    OP_MY_INDEX,
    OP_REQ_VOTE,
    OP_VOTE_FOR,
    OP_HEARTBEAT,
    OP_ACK,
    OP_UPDATE,
    OP_REVOKE,
    OP_REJECTED,
    ATTR_SET,
    ATTR_GET,
    ATTR_DEL,
    ATTR_LIST,
    0,
    0xFFFF_FFFF,
    0x1234_5678,
];

#[test]
fn fuzz_random_bytes() {
    let k = key();
    let mut guard = ReplayGuard::new(600);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let len = rng.below(2000);
        let mut b = rng.bytes(len);
        // Half of the cases get a valid magic and version so that decoding
        // gets past the first checks; some also a consistent length.
        if len >= 48 && rng.below(2) == 0 {
            b[12..16].copy_from_slice(&MAGIC.to_be_bytes());
            b[16..20].copy_from_slice(&VERSION.to_be_bytes());
            if rng.below(2) == 0 {
                b[24..28].copy_from_slice(&(len as u32).to_be_bytes());
            }
            if rng.below(2) == 0 {
                let c = CODES[rng.below(CODES.len())];
                b[28..32].copy_from_slice(&c.to_be_bytes());
            }
        }
        run_all_decoders(&b, &k, &mut guard);
    }
}

#[test]
fn fuzz_mutated_messages() {
    let k = key();
    let seeds = seeds(&k);
    let mut guard = ReplayGuard::new(600);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..40_000 {
        let mut b = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            match rng.below(9) {
                0 => {
                    // flip random bytes
                    for _ in 0..=rng.below(4) {
                        if !b.is_empty() {
                            let i = rng.below(b.len());
                            b[i] ^= rng.byte() | 1;
                        }
                    }
                }
                1 => {
                    let n = rng.below(b.len() + 1);
                    b.truncate(n);
                }
                2 => {
                    let n = rng.below(1200);
                    let extra = rng.bytes(n);
                    b.extend_from_slice(&extra);
                }
                3 if b.len() >= 28 => {
                    // lying length
                    let lie = match rng.below(4) {
                        0 => rng.next() as u32,
                        1 => b.len() as u32,
                        2 => (b.len() as u32).wrapping_add(rng.below(60) as u32),
                        _ => (b.len() as u32).wrapping_sub(rng.below(60) as u32),
                    };
                    b[24..28].copy_from_slice(&lie.to_be_bytes());
                }
                4 if b.len() >= 24 => b[20..24].copy_from_slice(&NO_ONE.to_be_bytes()),
                5 if b.len() >= 32 => {
                    let c = if rng.below(2) == 0 {
                        CODES[rng.below(CODES.len())]
                    } else {
                        rng.next() as u32
                    };
                    b[28..32].copy_from_slice(&c.to_be_bytes());
                }
                6 if b.len() >= 4 => {
                    let o = rng.next() as u32 & 7;
                    b[0..4].copy_from_slice(&o.to_be_bytes());
                }
                7 if b.len() >= 112 => {
                    // name field without NUL or with odd bytes
                    let fill = rng.byte();
                    b[48..112].fill(fill);
                }
                _ => {
                    // fix the length to the real size
                    if b.len() >= 28 {
                        let l = b.len() as u32;
                        b[24..28].copy_from_slice(&l.to_be_bytes());
                    }
                }
            }
        }
        run_all_decoders(&b, &k, &mut guard);
    }
}

#[test]
fn fuzz_roundtrip_of_valid_messages() {
    const NAME_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-";
    let k = key();
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let name_len = rng.below(64);
        let name: String = (0..name_len)
            .map(|_| NAME_CHARS[rng.below(NAME_CHARS.len())] as char)
            .collect();
        let mut h = Header::new(CODES[rng.below(CODES.len())], rng.next() as u32);
        h.request = rng.next() as u32;
        h.options = rng.next() as u32;
        h.reason = rng.next() as u32;
        h.result = rng.next() as u32;
        let m = TicketMsg {
            header: h,
            body: TicketBody {
                name,
                leader: rng.next() as u32,
                term: rng.next() as u32,
                term_valid_for: rng.next() as u32,
            },
        };
        let at = Timestamp::new(rng.next() as u32, rng.below(1_000_000) as u32);
        let auth = if rng.below(2) == 0 {
            Some((&k, at))
        } else {
            None
        };
        let wire = encode_ticket_msg(&m, auth).unwrap();
        let got = decode_datagram(&wire, auth.map(|a| a.0)).unwrap();
        assert_eq!(got.msg.body, m.body);
        assert_eq!(
            (
                got.msg.header.cmd,
                got.msg.header.from,
                got.msg.header.result
            ),
            (h.cmd, h.from, h.result)
        );
        assert_eq!(encode_ticket_msg(&got.msg, auth).unwrap(), wire);
        if let Some(tag) = got.auth {
            assert_eq!(tag.timestamp, at);
            assert_eq!(tag.mac.len(), MAC_LEN);
        }
    }
}

#[test]
fn auth_tags_compare_by_time_then_mac() {
    let a = AuthTag {
        timestamp: Timestamp::new(1, 0),
        mac: [9; MAC_LEN],
    };
    let b = AuthTag {
        timestamp: Timestamp::new(2, 0),
        mac: [0; MAC_LEN],
    };
    assert!(a < b);
}
