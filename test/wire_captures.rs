//! Decodes real traffic of three C boothd daemons (Debian 1.0-283-g9d4029a)
//! captured with and without authentication (see test/data/README.md), and
//! checks that every message decodes, verifies and re-encodes to the very
//! same bytes.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;

use booth::wire::codes::*;
use booth::wire::*;

const BOOTH_PORT: u16 = 9929;
/// site 198.51.100.1, site 198.51.100.2, arbitrator 198.51.100.3
const SITE_IDS: [u32; 3] = [584_690_490, 1_003_551_360, 1_289_210_390];
const MAX_TIME_SKEW: u32 = 600;

fn data(name: &str) -> Vec<u8> {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "test", "data", name]
        .iter()
        .collect();
    fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---------------------------------------------------------------------------
// A minimal classic-pcap reader: Ethernet (optionally 802.1Q), IPv4, UDP, TCP.

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct Endpoint {
    ip: [u8; 4],
    port: u16,
}

struct Datagram {
    time: Timestamp,
    src: Endpoint,
    dst: Endpoint,
    payload: Vec<u8>,
}

struct Segment {
    time: Timestamp,
    seq: u32,
    syn: bool,
    payload: Vec<u8>,
}

/// One direction of a TCP connection, reassembled by sequence number.
struct Stream {
    src: Endpoint,
    dst: Endpoint,
    bytes: Vec<u8>,
    /// (end offset, capture time) of each segment that carried data, so a
    /// message can be given the time its last byte arrived.
    arrivals: Vec<(usize, Timestamp)>,
}

impl Stream {
    fn time_at(&self, end: usize) -> Timestamp {
        self.arrivals
            .iter()
            .find(|(e, _)| *e >= end)
            .map(|(_, t)| *t)
            .expect("message ends inside the stream")
    }
}

struct Capture {
    datagrams: Vec<Datagram>,
    streams: Vec<Stream>,
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let s = [b[at], b[at + 1]];
    if le {
        u16::from_le_bytes(s)
    } else {
        u16::from_be_bytes(s)
    }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let s = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    }
}

fn read_pcap(file: &[u8]) -> Capture {
    let (le, nanos) = match file[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => panic!("not a classic pcap file"),
    };
    assert_eq!(u32_at(file, 20, le), 1, "link type must be Ethernet");

    let mut datagrams = Vec::new();
    let mut segments: BTreeMap<(Endpoint, Endpoint), Vec<Segment>> = BTreeMap::new();
    let mut off = 24;
    while off + 16 <= file.len() {
        let secs = u32_at(file, off, le);
        let frac = u32_at(file, off + 4, le);
        let incl = u32_at(file, off + 8, le) as usize;
        let orig = u32_at(file, off + 12, le) as usize;
        assert_eq!(incl, orig, "packets must not be cut by the snap length");
        let time = Timestamp::new(secs, if nanos { frac / 1000 } else { frac });
        let frame = &file[off + 16..off + 16 + incl];
        off += 16 + incl;

        let mut l3 = 14;
        let mut ethertype = u16_at(frame, 12, false);
        if ethertype == 0x8100 {
            ethertype = u16_at(frame, 16, false);
            l3 = 18;
        }
        if ethertype != 0x0800 {
            continue; // ARP, IPv6 neighbour discovery, ...
        }
        let ip = &frame[l3..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16_at(ip, 2, false));
        let frag = u16_at(ip, 6, false);
        assert_eq!(frag & 0x3fff, 0, "IP fragments are not expected");
        let proto = ip[9];
        let src_ip: [u8; 4] = ip[12..16].try_into().unwrap();
        let dst_ip: [u8; 4] = ip[16..20].try_into().unwrap();
        let l4 = &ip[ihl..total];
        let src = |port| Endpoint { ip: src_ip, port };
        let dst = |port| Endpoint { ip: dst_ip, port };
        match proto {
            17 => {
                let udp_len = usize::from(u16_at(l4, 4, false));
                datagrams.push(Datagram {
                    time,
                    src: src(u16_at(l4, 0, false)),
                    dst: dst(u16_at(l4, 2, false)),
                    payload: l4[8..udp_len].to_vec(),
                });
            }
            6 => {
                let data_off = usize::from(l4[12] >> 4) * 4;
                let flags = l4[13];
                segments
                    .entry((src(u16_at(l4, 0, false)), dst(u16_at(l4, 2, false))))
                    .or_default()
                    .push(Segment {
                        time,
                        seq: u32_at(l4, 4, false),
                        syn: flags & 0x02 != 0,
                        payload: l4[data_off..].to_vec(),
                    });
            }
            _ => {}
        }
    }
    assert_eq!(off, file.len(), "trailing bytes in the pcap file");

    let streams = segments
        .into_iter()
        .map(|((src, dst), segs)| reassemble(src, dst, segs))
        .filter(|s| !s.bytes.is_empty())
        .collect();
    Capture { datagrams, streams }
}

/// Places each segment's data at its offset from the initial sequence
/// number; retransmitted or overlapping data must agree, and there must be
/// no holes.
fn reassemble(src: Endpoint, dst: Endpoint, segs: Vec<Segment>) -> Stream {
    let start = segs
        .iter()
        .find(|s| s.syn)
        .map(|s| s.seq.wrapping_add(1))
        .unwrap_or_else(|| segs.iter().map(|s| s.seq).min().unwrap_or(0));
    let mut bytes: Vec<Option<u8>> = Vec::new();
    let mut arrivals = Vec::new();
    for s in segs.iter().filter(|s| !s.payload.is_empty()) {
        let at = s.seq.wrapping_sub(start) as usize;
        let end = at + s.payload.len();
        if bytes.len() < end {
            bytes.resize(end, None);
        }
        for (i, b) in s.payload.iter().enumerate() {
            let slot = &mut bytes[at + i];
            assert!(
                slot.is_none() || *slot == Some(*b),
                "inconsistent retransmission"
            );
            *slot = Some(*b);
        }
        arrivals.push((end, s.time));
    }
    arrivals.sort();
    let bytes = bytes
        .into_iter()
        .map(|b| b.expect("hole in the TCP stream"))
        .collect();
    Stream {
        src,
        dst,
        bytes,
        arrivals,
    }
}

// ---------------------------------------------------------------------------

/// The key file's content as config.md §6 says booth uses it: at most 64
/// bytes, whitespace-trimmed at both ends if every byte is ASCII.
fn load_key(raw: &[u8]) -> AuthKey {
    let raw = &raw[..raw.len().min(64)];
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let key = if raw.is_ascii() {
        let start = raw.iter().position(|b| !is_space(b)).unwrap_or(raw.len());
        let end = raw
            .iter()
            .rposition(|b| !is_space(b))
            .map_or(start, |e| e + 1);
        &raw[start..end]
    } else {
        raw
    };
    AuthKey::new(key).expect("usable key")
}

fn signer<'k>(key: Option<&'k AuthKey>, h: &Header) -> Option<(&'k AuthKey, Timestamp)> {
    key.map(|k| (k, Timestamp::of(h)))
}

#[derive(Default)]
struct Seen {
    /// How often each command code appeared, by transport.
    udp: BTreeMap<String, usize>,
    tcp: BTreeMap<String, usize>,
    /// Datagrams whose (secs, usecs) was not later than the sender's
    /// previous one: C's monotonic-usecs quirk in the wild.
    non_monotonic: usize,
}

fn count(map: &mut BTreeMap<String, usize>, code: Cmd) {
    *map.entry(code_to_string(code)).or_default() += 1;
}

fn check_udp(cap: &Capture, key: Option<&AuthKey>, seen: &mut Seen) {
    // Each daemon keeps one guard per peer. C signs a broadcast once and
    // sends the same bytes to every peer, so the capture holds identical
    // datagrams that are replays only if they reach the same receiver.
    let mut guards: HashMap<(Endpoint, u32), ReplayGuard> = HashMap::new();
    let mut last: HashMap<(Endpoint, u32), Timestamp> = HashMap::new();
    for d in &cap.datagrams {
        assert_eq!((d.src.port, d.dst.port), (BOOTH_PORT, BOOTH_PORT));
        let b = &d.payload;
        let from = peek_from(b).unwrap();
        assert!(SITE_IDS.contains(&from), "from {from}");

        let got = decode_datagram(b, key).unwrap_or_else(|e| panic!("{e}"));
        let m = &got.msg;
        assert_eq!(m.header.from, from);
        assert_eq!(m.header.length as usize, b.len());
        assert!(m.body.name == "ticketA" || m.body.name == "ticketB");
        assert!(
            m.body.leader == NO_ONE || SITE_IDS.contains(&m.body.leader),
            "leader {}",
            m.body.leader
        );
        count(&mut seen.udp, m.header.cmd);

        // Re-signing with the sender's timestamp reproduces the datagram.
        let again = encode_ticket_msg(m, signer(key, &m.header)).unwrap();
        assert_eq!(&again, b, "{}", code_to_string(m.header.cmd));

        match (key, got.auth) {
            (Some(k), Some(tag)) => {
                assert_eq!(b.len(), 152);
                assert_eq!(m.header.opts, BOOTH_OPT_AUTH);
                let ts = Timestamp::of(&m.header);
                assert_eq!(tag.timestamp, ts);
                // Within a second of the capture time (same host clock).
                assert!(ts.secs.abs_diff(d.time.secs) <= 1);
                if last
                    .insert((d.dst, from), ts)
                    .is_some_and(|prev| ts <= prev)
                {
                    seen.non_monotonic += 1;
                }

                // Fresh when it was captured, and only once.
                let guard = guards
                    .entry((d.dst, from))
                    .or_insert_with(|| ReplayGuard::new(MAX_TIME_SKEW));
                assert_eq!(guard.check(&tag, d.time), Ok(()));
                assert_eq!(guard.check(&tag, d.time), Err(AuthError::Replayed));
                // Stale ten minutes and a second later.
                let later = Timestamp::new(d.time.secs + MAX_TIME_SKEW + 1, d.time.usecs);
                let mut fresh_guard = ReplayGuard::new(MAX_TIME_SKEW);
                assert_eq!(fresh_guard.check(&tag, later), Err(AuthError::TooOld));

                // A receiver without key accepts it and ignores the trailer.
                let plain = decode_datagram(b, None).unwrap();
                assert_eq!(&plain.msg, m);
                // A wrong key or any flipped bit is refused.
                let wrong = AuthKey::new(b"not the cluster key").unwrap();
                assert_eq!(
                    decode_datagram(b, Some(&wrong)).unwrap_err().counter(),
                    Some(PeerCounter::AuthFail)
                );
                let mut tampered = b.clone();
                tampered[116] ^= 1; // term
                assert_eq!(
                    decode_datagram(&tampered, Some(k)),
                    Err(DecodeError::Auth(AuthError::BadMac))
                );
            }
            (None, None) => {
                assert_eq!(b.len(), 124);
                assert_eq!((m.header.opts, m.header.secs, m.header.usecs), (0, 0, 0));
            }
            other => panic!("unexpected authentication result {other:?}"),
        }
    }
}

fn check_tcp(cap: &Capture, key: Option<&AuthKey>, seen: &mut Seen) {
    // The daemon keeps one guard for all its clients; a client one for the
    // daemon it talks to.
    let mut client_requests = ReplayGuard::new(MAX_TIME_SKEW);
    for s in &cap.streams {
        let to_daemon = s.dst.port == BOOTH_PORT;
        assert!(to_daemon || s.src.port == BOOTH_PORT);
        let mut reply_guard = ReplayGuard::new(MAX_TIME_SKEW);
        let mut at = 0;
        let mut messages = 0;
        while at < s.bytes.len() {
            let rest = &s.bytes[at..];
            if to_daemon {
                let (got, used) = match decode_request(rest, key).unwrap() {
                    Framing::Complete { msg, consumed } => (msg, consumed),
                    Framing::Need(n) => panic!("request incomplete, {n} bytes missing"),
                };
                let h = *got.msg.header();
                assert!(SITE_IDS.contains(&h.from));
                count(&mut seen.tcp, h.cmd);
                if let Some(tag) = got.auth {
                    let now = s.time_at(at + used);
                    assert_eq!(client_requests.check(&tag, now), Ok(()));
                }
                let m = match got.msg {
                    Request::Ticket(m) => m,
                    other => panic!("unexpected request {other:?}"),
                };
                let again = encode_ticket_msg(&m, signer(key, &h)).unwrap();
                assert_eq!(again, rest[..used]);
                at += used;
                // The C client sends list and peers requests as the whole
                // 152-byte struct even without authentication.
                if key.is_none() && (h.cmd == CMD_LIST || h.cmd == CMD_PEERS) {
                    assert_eq!(s.bytes[at..], [0u8; 28]);
                    at = s.bytes.len();
                }
            } else {
                let (got, used) = match decode_reply(rest, key).unwrap() {
                    Framing::Complete { msg, consumed } => (msg, consumed),
                    Framing::Need(n) => panic!("reply incomplete, {n} bytes missing"),
                };
                let h = *got.msg.header();
                assert!(SITE_IDS.contains(&h.from));
                count(&mut seen.tcp, h.cmd);
                if let Some(tag) = got.auth {
                    let now = s.time_at(at + used);
                    assert_eq!(reply_guard.check(&tag, now), Ok(()));
                }
                let again = match &got.msg {
                    Reply::Ticket(m) => encode_ticket_msg(m, signer(key, &h)).unwrap(),
                    Reply::Result(h) => encode_header_only(h, signer(key, h)),
                    Reply::Text { header, text } => {
                        assert!(!text.is_empty());
                        assert!(std::str::from_utf8(text).is_ok());
                        encode_text_reply(header, text, signer(key, header)).unwrap()
                    }
                };
                assert_eq!(again, rest[..used]);
                at += used;
            }
            messages += 1;
        }
        assert!(messages >= 1);
        assert_eq!(at, s.bytes.len());
    }
}

fn run(pcap: &str, key: Option<&AuthKey>) -> Seen {
    let cap = read_pcap(&data(pcap));
    let mut seen = Seen::default();
    check_udp(&cap, key, &mut seen);
    check_tcp(&cap, key, &mut seen);
    println!(
        "{pcap}: {} datagrams, {} TCP streams\n  UDP {:?}\n  TCP {:?}\n  non-monotonic timestamps: {}",
        cap.datagrams.len(),
        cap.streams.len(),
        seen.udp,
        seen.tcp,
        seen.non_monotonic
    );
    seen
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// What both runs did over TCP (README: list and peers, two grants, two
/// revokes): requests and the daemons' replies.
fn expected_tcp() -> BTreeMap<String, usize> {
    counts(&[
        ("CGnt", 2),
        ("CLst", 1),
        ("CRvk", 2),
        ("Peer", 1),
        ("RLst", 2),
        ("Rslt", 6),
    ])
}

fn expected_udp(updates: usize) -> BTreeMap<String, usize> {
    counts(&[
        ("Ack.", 20),
        ("HrtB", 10),
        ("MIdx", 6),
        ("RVot", 6),
        ("Revk", 2),
        ("Stat", 12),
        ("UpdE", updates),
        ("VtFr", 5),
    ])
}

#[test]
fn capture_without_authentication() {
    let seen = run("c-booth-noauth.pcap", None);
    assert_eq!(seen.udp, expected_udp(12));
    assert_eq!(seen.tcp, expected_tcp());
}

#[test]
fn capture_with_authentication() {
    let key = load_key(&data("c-booth-auth.authkey"));
    assert_eq!(key.len(), 64);
    let seen = run("c-booth-auth.pcap", Some(&key));
    assert_eq!(seen.udp, expected_udp(13));
    assert_eq!(seen.tcp, expected_tcp());
    // Site 1's MIdx replies carry the same second as its previous datagram
    // but smaller microseconds (C takes them from the monotonic clock); both
    // receivers accepted them above.
    assert_eq!(seen.non_monotonic, 2);
}

#[test]
fn authenticated_capture_fails_without_the_right_key() {
    let cap = read_pcap(&data("c-booth-auth.pcap"));
    let wrong = AuthKey::new(b"some other key").unwrap();
    for d in &cap.datagrams {
        let e = decode_datagram(&d.payload, Some(&wrong)).unwrap_err();
        assert_eq!(e, DecodeError::Auth(AuthError::BadMac));
    }
    for s in &cap.streams {
        let r = if s.dst.port == BOOTH_PORT {
            decode_request(&s.bytes, Some(&wrong)).map(|_| ())
        } else {
            decode_reply(&s.bytes, Some(&wrong)).map(|_| ())
        };
        assert_eq!(r, Err(DecodeError::Auth(AuthError::BadMac)));
    }
}

#[test]
fn unauthenticated_capture_fails_for_a_receiver_with_a_key() {
    let cap = read_pcap(&data("c-booth-noauth.pcap"));
    let key = load_key(&data("c-booth-auth.authkey"));
    for d in &cap.datagrams {
        let e = decode_datagram(&d.payload, Some(&key)).unwrap_err();
        assert_eq!(e.counter(), Some(PeerCounter::AuthFail), "{e}");
    }
}

/// Every captured message, mutated many ways, must decode or fail cleanly.
#[test]
fn captured_messages_as_fuzz_seeds() {
    let key = load_key(&data("c-booth-auth.authkey"));
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for pcap in ["c-booth-noauth.pcap", "c-booth-auth.pcap"] {
        let cap = read_pcap(&data(pcap));
        seeds.extend(cap.datagrams.into_iter().map(|d| d.payload));
        seeds.extend(cap.streams.into_iter().map(|s| s.bytes));
    }
    let mut state: u64 = 0x0123_4567_89AB_CDEF;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut guard = ReplayGuard::new(MAX_TIME_SKEW);
    let now = Timestamp::new(1_795_300_300, 0);
    for seed in &seeds {
        for _ in 0..300 {
            let mut b = seed.clone();
            match next() % 4 {
                0 => {
                    let i = (next() as usize) % b.len();
                    b[i] ^= (next() as u8) | 1;
                }
                1 => b.truncate((next() as usize) % (b.len() + 1)),
                2 => b.extend((0..next() % 64).map(|_| next() as u8)),
                _ => {
                    let lie = next() as u32 % 2048;
                    b[24..28].copy_from_slice(&lie.to_be_bytes());
                }
            }
            for k in [None, Some(&key)] {
                let _ = decode_datagram(&b, k);
                let _ = decode_request(&b, k);
                let _ = decode_reply(&b, k);
            }
            let _ = decode_datagram_checked(
                &b,
                Some(AuthCheck {
                    key: &key,
                    guard: &mut guard,
                    now,
                }),
            );
        }
    }
}
