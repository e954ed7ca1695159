//! UDP datagram decoding and authentication, as the daemon's receive path
//! runs it: `peek_from`, then `decode_datagram_checked` with and without a
//! key and a replay guard. Nothing may panic, every error must map to a
//! `booth peers` counter (or to none for attribute messages), and a
//! datagram that decodes must re-encode to a message that decodes again.
#![no_main]

use booth::wire::{self, AuthCheck, ReplayGuard, Timestamp};
use libfuzzer_sys::fuzz_target;

mod common;
use common::capture_key;

fuzz_target!(|data: &[u8]| {
    let _ = wire::peek_from(data);
    let key = capture_key();
    // Clock at the datagram's own timestamp, so the window check passes
    // and the later stages are reached too.
    let now = match wire::Header::decode(data) {
        Ok(h) => Timestamp::of(&h),
        Err(_) => Timestamp::new(1_700_000_000, 0),
    };
    let mut guard = ReplayGuard::new(600);
    for k in [None, Some(&key)] {
        let _ = wire::decode_datagram(data, k);
        let check = k.map(|key| AuthCheck {
            key,
            guard: &mut guard,
            now,
        });
        match wire::decode_datagram_checked(data, check) {
            Ok(msg) => {
                let again = wire::encode_ticket_msg(&msg, k.map(|k| (k, now)))
                    .expect("a decoded message re-encodes");
                let back = wire::decode_datagram(&again, k).expect("re-encoded message decodes");
                assert_eq!(back.msg.body, msg.body);
            }
            Err(e) => {
                let _ = e.counter();
                let _ = e.to_string();
            }
        }
    }
    // The same datagram a second time must be refused as a replay when it
    // carried a valid tag.
    if let Ok(r) = wire::decode_datagram(data, Some(&key)) {
        if let Some(tag) = r.auth {
            let mut g = ReplayGuard::new(600);
            if g.check(&tag, Timestamp::of(&r.msg.header)).is_ok() {
                assert!(g.check(&tag, Timestamp::of(&r.msg.header)).is_err());
            }
        }
    }
});
