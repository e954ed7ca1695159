//! Fuzzing: random and mutated bytes through every decoder.

use super::*;

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

/// Every command of the protocol, and codes that are none.
fn codes() -> Vec<Cmd> {
    let mut v = vec![
        CMD_LIST, CMD_GRANT, CMD_REVOKE, CMD_PEERS, CL_RESULT, CL_LIST,
    ];
    v.extend(PEER_OPS);
    v.extend([ATTR_SET, ATTR_GET, ATTR_DEL, ATTR_LIST]);
    v.extend([Cmd(0), Cmd(0xFFFF_FFFF), Cmd(0x1234_5678)]);
    v
}

#[test]
fn fuzz_random_bytes() {
    let codes = codes();
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
                let c = codes[rng.below(codes.len())];
                b[28..32].copy_from_slice(&c.0.to_be_bytes());
            }
        }
        run_all_decoders(&b, &k, &mut guard);
    }
}

#[test]
fn fuzz_mutated_messages() {
    let codes = codes();
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
                        codes[rng.below(codes.len())].0
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
    let codes = codes();
    const NAME_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-";
    let k = key();
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let name_len = rng.below(64);
        let name: String = (0..name_len)
            .map(|_| NAME_CHARS[rng.below(NAME_CHARS.len())] as char)
            .collect();
        let mut h = Header::new(codes[rng.below(codes.len())], rng.next() as u32);
        h.request = Cmd(rng.next() as u32);
        h.options = rng.next() as u32;
        h.reason = Reason(rng.next() as u32);
        h.result = Rlt(rng.next() as u32);
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
