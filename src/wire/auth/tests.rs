use super::*;
use std::time::Duration;

fn key() -> AuthKey {
    AuthKey::new(b"booth-secret-key").unwrap()
}

fn tag(secs: u32, usecs: u32, m: u8) -> AuthTag {
    AuthTag {
        timestamp: Timestamp::new(secs, usecs),
        mac: [m; MAC_LEN],
    }
}

#[test]
fn key_lengths() {
    assert_eq!(AuthKey::new(b"1234567").unwrap_err().len, 7);
    assert!(AuthKey::new(b"12345678").is_ok());
    assert!(AuthKey::new(&[7u8; 64]).is_ok());
    assert_eq!(AuthKey::new(&[7u8; 65]).unwrap_err().len, 65);
    // A leading zero byte does not turn authentication off here.
    let k = AuthKey::new(b"\0abcdefgh").unwrap();
    assert_ne!(k.mac(b"x"), [0u8; MAC_LEN]);
    assert_eq!(format!("{k:?}"), "AuthKey(9 bytes)");
}

#[test]
fn rfc2202_test_case_2() {
    // HMAC-SHA1("Jefe", "what do ya want for nothing?"); "Jefe" is too
    // short for booth, so pad the check through the raw Hmac instead.
    let mut m = HmacSha1::new_from_slice(b"Jefe").unwrap();
    m.update(b"what do ya want for nothing?");
    let out = m.finalize().into_bytes();
    assert_eq!(
        out[..],
        [
            0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
            0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79
        ]
    );
}

#[test]
fn timestamp_from_system_time() {
    let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    assert_eq!(
        Timestamp::from_system_time(t),
        Timestamp::new(1_700_000_000, 123_456)
    );
    let before = UNIX_EPOCH - Duration::from_secs(5);
    assert_eq!(Timestamp::from_system_time(before), Timestamp::default());
    assert!(Timestamp::new(5, 0) > Timestamp::new(4, 999_999));
    assert!(Timestamp::new(5, 2) > Timestamp::new(5, 1));
}

#[test]
fn sign_and_verify_roundtrip() {
    let mut msg = vec![0u8; 124];
    msg[24..28].copy_from_slice(&124u32.to_be_bytes());
    let at = Timestamp::new(1_700_000_000, 42);
    sign_message(&mut msg, &key(), at);
    assert_eq!(msg.len(), 152);
    assert_eq!(be32(&msg, 0), BOOTH_OPT_AUTH);
    assert_eq!(be32(&msg, 24), 152);
    let t = verify_message(&msg, &key()).unwrap();
    assert_eq!(t.timestamp, at);
    assert_eq!(t.mac[..], msg[128..148]);
    assert_eq!(msg[148..], [0, 0, 0, 0]);

    // Padding bytes after the MAC are not checked (C compares 20 bytes).
    let mut padded = msg.clone();
    padded[150] = 9;
    assert!(verify_message(&padded, &key()).is_ok());

    for hid in [0u32, 1, 3, 0xFFFF_FFFF] {
        let mut bad = msg.clone();
        bad[124..128].copy_from_slice(&hid.to_be_bytes());
        assert_eq!(
            verify_message(&bad, &key()),
            Err(AuthError::UnknownHashId(hid))
        );
    }
    let wrong = AuthKey::new(b"booth-secret-kez").unwrap();
    assert_eq!(verify_message(&msg, &wrong), Err(AuthError::BadMac));
    assert_eq!(
        verify_message(&msg[..75], &key()),
        Err(AuthError::Truncated { len: 75 })
    );
}

#[test]
fn text_header_signing() {
    let mut h = [0u8; HEADER_LEN];
    let trailer = sign_text_header(&mut h, 71, &key(), Timestamp::new(1, 2));
    assert_eq!(be32(&h, 24), 76 + 71);
    let mut msg = h.to_vec();
    msg.extend_from_slice(&trailer);
    msg.extend_from_slice(&[b'x'; 71]);
    assert!(verify_text_header(&msg, &key()).is_ok());
    // The text is not covered.
    msg[100] = b'y';
    assert!(verify_text_header(&msg, &key()).is_ok());
    msg[30] ^= 1;
    assert_eq!(verify_text_header(&msg, &key()), Err(AuthError::BadMac));
    assert!(matches!(
        verify_text_header(&msg[..70], &key()),
        Err(AuthError::Truncated { .. })
    ));
}

#[test]
fn window_bounds() {
    let now = Timestamp::new(10_000, 500);
    let mut g = ReplayGuard::new(600).with_max_ahead(30);
    // Exactly now - 600 s is too old (C: strictly later required).
    assert_eq!(g.check(&tag(9_400, 500, 1), now), Err(AuthError::TooOld));
    assert_eq!(g.check(&tag(9_400, 501, 1), now), Ok(()));
    assert_eq!(g.check(&tag(10_030, 500, 2), now), Ok(()));
    assert_eq!(g.check(&tag(10_030, 501, 3), now), Err(AuthError::InFuture));
    assert_eq!(
        g.check(&tag(4_000_000_000, 0, 3), now),
        Err(AuthError::InFuture)
    );
}

#[test]
fn replays_rejected_out_of_order_accepted() {
    let now = Timestamp::new(10_000, 0);
    let mut g = ReplayGuard::new(600);
    assert_eq!(g.check(&tag(9_990, 700_000, 1), now), Ok(()));
    // C's monotonic usecs jump back within the same second: accepted.
    assert_eq!(g.check(&tag(9_990, 100_000, 2), now), Ok(()));
    // Reordered but fresh: accepted.
    assert_eq!(g.check(&tag(9_980, 0, 3), now), Ok(()));
    // Byte-identical replays: rejected.
    assert_eq!(
        g.check(&tag(9_990, 700_000, 1), now),
        Err(AuthError::Replayed)
    );
    assert_eq!(g.check(&tag(9_980, 0, 3), now), Err(AuthError::Replayed));
    // Same timestamp, different message: accepted.
    assert_eq!(g.check(&tag(9_990, 700_000, 4), now), Ok(()));
    // Once a tag ages out, the age rule rejects its replay.
    let later = Timestamp::new(10_700, 0);
    assert_eq!(
        g.check(&tag(9_990, 700_000, 1), later),
        Err(AuthError::TooOld)
    );
    assert_eq!(g.check(&tag(10_600, 0, 5), later), Ok(()));
    assert_eq!(g.len(), 1);
}

#[test]
fn capacity_floor_blocks_forgotten_tags() {
    let now = Timestamp::new(10_000, 0);
    let mut g = ReplayGuard::new(600).with_capacity(4);
    for i in 0..6 {
        assert_eq!(g.check(&tag(9_900 + i, 0, i as u8), now), Ok(()));
    }
    assert_eq!(g.len(), 4);
    // 9_900 and 9_901 were forgotten: their replays are still refused.
    assert_eq!(g.check(&tag(9_900, 0, 0), now), Err(AuthError::Replayed));
    assert_eq!(g.check(&tag(9_901, 0, 1), now), Err(AuthError::Replayed));
    // Anything newer than the floor is still fine.
    assert_eq!(g.check(&tag(9_901, 1, 9), now), Ok(()));
}

#[test]
fn zero_skew_accepts_only_the_current_instant() {
    let now = Timestamp::new(100, 5);
    let mut g = ReplayGuard::new(0);
    assert_eq!(g.check(&tag(100, 5, 1), now), Err(AuthError::TooOld));
    let mut g = ReplayGuard::new(0).with_max_ahead(1);
    assert_eq!(g.check(&tag(100, 6, 1), now), Ok(()));
}

#[test]
fn floor_from_outside_rejects_older_and_equal() {
    let now = Timestamp::new(10_000, 0);
    let mut g = ReplayGuard::new(600).with_floor(Timestamp::new(9_989, 999_999));
    assert_eq!(g.floor(), Some(Timestamp::new(9_989, 999_999)));
    assert_eq!(g.newest(), None);
    // Anything stamped in a second before the floor's successor: refused.
    assert_eq!(
        g.check(&tag(9_989, 999_999, 1), now),
        Err(AuthError::Replayed)
    );
    assert_eq!(g.check(&tag(9_500, 0, 2), now), Err(AuthError::Replayed));
    // The window is still checked first.
    assert_eq!(g.check(&tag(9_000, 0, 3), now), Err(AuthError::TooOld));
    assert_eq!(g.check(&tag(9_990, 0, 4), now), Ok(()));
    assert_eq!(g.newest(), Some(Timestamp::new(9_990, 0)));
    // The floor never goes down.
    g.raise_floor(Timestamp::new(9_000, 0));
    assert_eq!(g.floor(), Some(Timestamp::new(9_989, 999_999)));
    g.raise_floor(Timestamp::new(9_995, 5));
    assert_eq!(g.check(&tag(9_995, 5, 5), now), Err(AuthError::Replayed));
    assert_eq!(g.check(&tag(9_995, 6, 5), now), Ok(()));
}

#[test]
fn newest_is_the_maximum_and_outlives_the_window() {
    let now = Timestamp::new(10_000, 0);
    let mut g = ReplayGuard::new(600);
    assert_eq!(g.check(&tag(9_990, 5, 1), now), Ok(()));
    assert_eq!(g.check(&tag(9_980, 0, 2), now), Ok(()));
    assert_eq!(g.newest(), Some(Timestamp::new(9_990, 5)));
    // A refused message does not move it.
    assert_eq!(g.check(&tag(10_700, 0, 3), now), Err(AuthError::InFuture));
    assert_eq!(g.newest(), Some(Timestamp::new(9_990, 5)));
    // Aged-out tags are forgotten, the newest timestamp is not.
    let later = Timestamp::new(11_000, 0);
    assert_eq!(g.check(&tag(10_999, 0, 4), later), Ok(()));
    assert_eq!(g.len(), 1);
    assert_eq!(g.newest(), Some(Timestamp::new(10_999, 0)));
    // Capacity evictions raise the same floor.
    let mut g = ReplayGuard::new(600)
        .with_capacity(1)
        .with_floor(Timestamp::new(9_000, 0));
    assert_eq!(g.check(&tag(9_900, 0, 1), now), Ok(()));
    assert_eq!(g.check(&tag(9_901, 0, 2), now), Ok(()));
    assert_eq!(g.floor(), Some(Timestamp::new(9_900, 0)));
}
