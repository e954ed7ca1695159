//! The HMAC-SHA1 authentication trailer and the timestamp (replay) rules.
//!
//! # Trailer
//!
//! An authenticating sender sets header `opts` bit [`BOOTH_OPT_AUTH`], puts its
//! wall-clock time in `secs`/`usecs`, counts the 28-byte trailer in `length`
//! and appends (or, for text replies, inserts after the header) the trailer:
//! `hid` = 2 (big-endian), HMAC-SHA1(key, payload) in 20 bytes, 4 zero bytes.
//! The payload is everything before the trailer; for text replies it is the
//! 48-byte header alone, so the text itself is not authenticated.
//!
//! A receiver that has a key always expects the trailer, whatever the
//! sender's `opts` say. Only hash id 2 is accepted: the 9d4029a gcrypt build
//! skipped the MAC comparison for ids unknown to libgcrypt, and accepting any
//! other id here would reopen that hole. The MAC must cover at least the whole
//! header, so that the timestamp and the command are authenticated.
//!
//! Nothing here reads a clock: every "now" is a parameter.
//!
//! # Timestamp rule ([`ReplayGuard`])
//!
//! One guard is kept per source: one per peer site, one for all TCP clients
//! of a daemon, and one per daemon connection on the client side. A message
//! whose MAC verified carries a tag `(T, MAC)`, T = `(secs, usecs)` compared
//! lexicographically like a C `timeval`. It is accepted iff all of:
//!
//! 1. `T > now - max_age` (strictly; `max_age` = `maxtimeskew`, default
//!    [`crate::config::DEFAULT_MAX_TIME_SKEW`]),
//!    otherwise [`AuthError::TooOld`];
//! 2. `T <= now + max_ahead` (default: the same as `max_age`), otherwise
//!    [`AuthError::InFuture`];
//! 3. the exact pair `(T, MAC)` has not been accepted before by this guard,
//!    otherwise [`AuthError::Replayed`];
//! 4. `T` is later than the guard's floor (see below), otherwise
//!    [`AuthError::Replayed`].
//!
//! The guard remembers every accepted tag that is still younger than
//! `max_age` (older ones are rejected by rule 1 anyway, so they are dropped).
//! If more than `capacity` tags are remembered, the oldest is forgotten and
//! its timestamp becomes the floor: nothing at or before it is accepted any
//! more, so a forgotten message can never be replayed.
//!
//! There is deliberately no "newer than the last one" requirement. C senders
//! take `usecs` from the monotonic clock while `secs` is wall-clock time, so
//! within one second their `usecs` can jump backwards; C receivers accept such
//! packets through the skew rule, and so does this guard. Out-of-order but
//! fresh packets are accepted for the same reason.
//!
//! Keying duplicates on `(T, MAC)` rather than on `T` alone means two
//! different messages that happen to carry the same timestamp (two C sends in
//! the same microsecond, or two clients on different hosts) are both
//! accepted, while a byte-identical replay is always caught: the MAC is a
//! function of the authenticated bytes, and a different MAC cannot be forged
//! without the key.
//!
//! The floor only matters after `capacity` (default 1024) messages from one
//! source arrived within `max_age`; a legitimate message is then rejected only
//! if it is older than all of the last `capacity` accepted ones.
//!
//! # Across restarts
//!
//! The remembered tags live in memory only, so a restarted daemon would
//! accept again whatever was captured shortly before the restart. The floor
//! can therefore also be set from outside ([`ReplayGuard::with_floor`],
//! [`ReplayGuard::raise_floor`]), and [`ReplayGuard::newest`] tells the
//! newest timestamp accepted so far. The daemon (`src/daemon/replaymarks.rs`)
//! starts every guard with a floor just below its own start second, so that
//! nothing signed before it started is accepted; the comparison is on whole
//! seconds there because C senders take `usecs` from another clock. It
//! raises each floor further with the high-water marks its previous run
//! persisted next to the lock file: the newest timestamp accepted from each
//! source, and for peers how far their clocks ran ahead of ours, which
//! covers a peer whose clock is ahead and a restart within the same second.
//! C booth has no such rule: it accepts these replays.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::{BOOTH_OPT_AUTH, HEADER_LEN, TRAILER_LEN};

/// The only hash id booth uses: SHA-1 (`BOOTH_HASH`, `GCRY_MD_SHA1`).
pub const HASH_ID_SHA1: u32 = 2;
/// Bytes of an HMAC-SHA1 value.
pub const MAC_LEN: usize = 20;

// Byte offsets of the header fields that signing fills in.
const OPTS_AT: usize = 0;
const SECS_AT: usize = 4;
const USECS_AT: usize = 8;
const LENGTH_AT: usize = 24;

type HmacSha1 = Hmac<Sha1>;

/// Why a message failed authentication. All of them count as `authfail` in
/// `booth peers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// The message is too short to hold a header-covering payload plus the
    /// 28-byte trailer.
    Truncated { len: usize },
    /// The trailer names a hash other than SHA-1 (2).
    UnknownHashId(u32),
    /// The MAC does not match (wrong key, tampered message, or a sender
    /// without authentication).
    BadMac,
    /// The timestamp is not later than `now - max_age`.
    TooOld,
    /// The timestamp is later than `now + max_ahead`.
    InFuture,
    /// This exact message was accepted before, or it is older than every
    /// message still remembered (see the module docs).
    Replayed,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Truncated { len } => {
                write!(f, "packet too short to authenticate (size:{len})")
            }
            AuthError::UnknownHashId(id) => write!(f, "unsupported hash id {id}"),
            AuthError::BadMac => f.write_str("wrong message authentication code"),
            AuthError::TooOld => f.write_str("packet timestamp too old"),
            AuthError::InFuture => f.write_str("packet timestamp too far in the future"),
            AuthError::Replayed => f.write_str("packet was replayed"),
        }
    }
}

impl std::error::Error for AuthError {}

/// A key of unusable length (booth requires 8 to 64 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLengthError {
    pub len: usize,
}

impl fmt::Display for KeyLengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "authentication key must be {} to {} bytes, got {}",
            AuthKey::MIN_LEN,
            AuthKey::MAX_LEN,
            self.len
        )
    }
}

impl std::error::Error for KeyLengthError {}

/// The shared secret, used raw as the HMAC-SHA1 key.
///
/// Unlike C booth, a key whose first byte is 0 still authenticates; the
/// configuration layer decides what to do about such keys.
#[derive(Clone)]
pub struct AuthKey {
    len: usize,
    /// HMAC state already keyed, cloned for every message.
    keyed: HmacSha1,
}

impl AuthKey {
    /// The key-file limits of the configuration layer: a key it loads is
    /// always accepted here.
    pub const MIN_LEN: usize = crate::config::MIN_KEY_LEN;
    pub const MAX_LEN: usize = crate::config::MAX_KEY_LEN;

    /// Wraps key bytes (already trimmed as the key-file rules say).
    pub fn new(bytes: &[u8]) -> Result<AuthKey, KeyLengthError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
            return Err(KeyLengthError { len: bytes.len() });
        }
        let keyed =
            HmacSha1::new_from_slice(bytes).map_err(|_| KeyLengthError { len: bytes.len() })?;
        Ok(AuthKey {
            len: bytes.len(),
            keyed,
        })
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a key has at least [`AuthKey::MIN_LEN`] bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// HMAC-SHA1 of `payload`.
    pub fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        let mut m = self.keyed.clone();
        m.update(payload);
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&m.finalize().into_bytes());
        out
    }

    /// The 28-byte trailer for `payload`: hid 2, MAC, 4 zero bytes.
    pub fn trailer(&self, payload: &[u8]) -> [u8; TRAILER_LEN] {
        let mut t = [0u8; TRAILER_LEN];
        t[..4].copy_from_slice(&HASH_ID_SHA1.to_be_bytes());
        t[4..4 + MAC_LEN].copy_from_slice(&self.mac(payload));
        t
    }

    /// Checks `trailer` against `payload` in constant time. Only the hash id
    /// and the 20 MAC bytes are looked at; the 4 padding bytes are ignored,
    /// as in C.
    pub fn verify_trailer(&self, payload: &[u8], trailer: &[u8]) -> Result<AuthTag, AuthError> {
        if payload.len() < HEADER_LEN || trailer.len() != TRAILER_LEN {
            return Err(AuthError::Truncated {
                len: payload.len() + trailer.len(),
            });
        }
        let hid = be32(trailer, 0);
        if hid != HASH_ID_SHA1 {
            return Err(AuthError::UnknownHashId(hid));
        }
        let received = &trailer[4..4 + MAC_LEN];
        let mut m = self.keyed.clone();
        m.update(payload);
        m.verify_slice(received).map_err(|_| AuthError::BadMac)?;
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(received);
        Ok(AuthTag {
            timestamp: Timestamp::new(be32(payload, SECS_AT), be32(payload, USECS_AT)),
            mac,
        })
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        write!(f, "AuthKey({} bytes)", self.len)
    }
}

/// A header timestamp: seconds since the Unix epoch and microseconds,
/// ordered like a C `timeval` (seconds first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: u32,
    pub usecs: u32,
}

impl Timestamp {
    pub const fn new(secs: u32, usecs: u32) -> Timestamp {
        Timestamp { secs, usecs }
    }

    /// The wall-clock time `t` as sent on the wire. Seconds are truncated to
    /// 32 bits as C's `htonl` does; times before the epoch give zero.
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp::new(d.as_secs() as u32, d.subsec_micros()),
            Err(_) => Timestamp::default(),
        }
    }

    /// The timestamp carried by a header.
    pub fn of(header: &super::Header) -> Timestamp {
        Timestamp::new(header.secs, header.usecs)
    }

    fn minus_secs(self, s: u32) -> Timestamp {
        Timestamp::new(self.secs.saturating_sub(s), self.usecs)
    }

    fn plus_secs(self, s: u32) -> Timestamp {
        Timestamp::new(self.secs.saturating_add(s), self.usecs)
    }
}

/// What a verified trailer proves: the (authenticated) timestamp of the
/// message and its MAC, which together identify the message for
/// [`ReplayGuard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuthTag {
    pub timestamp: Timestamp,
    pub mac: [u8; MAC_LEN],
}

/// Per-source freshness and replay check; the rule is in the module docs.
#[derive(Clone, Debug)]
pub struct ReplayGuard {
    max_age: u32,
    max_ahead: u32,
    capacity: usize,
    /// Accepted tags younger than `max_age`, oldest first.
    seen: BTreeSet<AuthTag>,
    /// Nothing at or before this is accepted: the newest tag forgotten
    /// because of `capacity`, or a floor set from outside (a daemon's start
    /// time, the marks of its previous run).
    floor: Option<Timestamp>,
    /// The newest timestamp ever accepted (kept when its tag ages out).
    newest: Option<Timestamp>,
}

impl ReplayGuard {
    /// Tags remembered per source before the floor starts to rise.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// A guard accepting timestamps up to `max_time_skew` seconds old and, by
    /// default, up to as far in the future.
    pub fn new(max_time_skew: u32) -> ReplayGuard {
        ReplayGuard {
            max_age: max_time_skew,
            max_ahead: max_time_skew,
            capacity: Self::DEFAULT_CAPACITY,
            seen: BTreeSet::new(),
            floor: None,
            newest: None,
        }
    }

    /// [`ReplayGuard::raise_floor`] while building a guard.
    pub fn with_floor(mut self, floor: Timestamp) -> ReplayGuard {
        self.raise_floor(floor);
        self
    }

    /// From now on nothing at or before `floor` is accepted. The floor only
    /// ever rises: a lower value than the current one changes nothing.
    pub fn raise_floor(&mut self, floor: Timestamp) {
        self.floor = Some(self.floor.map_or(floor, |f| f.max(floor)));
    }

    /// Nothing at or before this timestamp is accepted (rule 4), if set.
    pub fn floor(&self) -> Option<Timestamp> {
        self.floor
    }

    /// The newest timestamp this guard has accepted, if any.
    pub fn newest(&self) -> Option<Timestamp> {
        self.newest
    }

    /// Sets how far (seconds) a timestamp may lie ahead of `now`.
    pub fn with_max_ahead(mut self, secs: u32) -> ReplayGuard {
        self.max_ahead = secs;
        self
    }

    /// Sets how many accepted tags are remembered (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> ReplayGuard {
        self.capacity = capacity.max(1);
        self
    }

    /// Number of tags currently remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Accepts or rejects a verified message received at wall-clock `now`;
    /// on acceptance the tag is remembered.
    pub fn check(&mut self, tag: &AuthTag, now: Timestamp) -> Result<(), AuthError> {
        let oldest_allowed = now.minus_secs(self.max_age);
        check_window(tag.timestamp, now, self.max_age, self.max_ahead)?;

        // Forget what rule 1 rejects anyway.
        while let Some(first) = self.seen.first() {
            if first.timestamp > oldest_allowed {
                break;
            }
            self.seen.pop_first();
        }

        if self.floor.is_some_and(|f| tag.timestamp <= f) || self.seen.contains(tag) {
            return Err(AuthError::Replayed);
        }
        self.seen.insert(*tag);
        self.newest = Some(self.newest.map_or(tag.timestamp, |n| n.max(tag.timestamp)));
        while self.seen.len() > self.capacity {
            if let Some(evicted) = self.seen.pop_first() {
                self.raise_floor(evicted.timestamp);
            }
        }
        Ok(())
    }
}

/// Rules 1 and 2 of the module docs alone (no memory): `ts` must be later
/// than `now - max_age` and not later than `now + max_ahead`.
pub fn check_window(
    ts: Timestamp,
    now: Timestamp,
    max_age: u32,
    max_ahead: u32,
) -> Result<(), AuthError> {
    if ts <= now.minus_secs(max_age) {
        return Err(AuthError::TooOld);
    }
    if ts > now.plus_secs(max_ahead) {
        return Err(AuthError::InFuture);
    }
    Ok(())
}

/// Signs a fixed-size message in place: `msg` holds the header and body
/// without trailer. Sets the AUTH bit, the timestamp and `length` (trailer
/// included), then appends the trailer computed over everything before it.
pub fn sign_message(msg: &mut Vec<u8>, key: &AuthKey, at: Timestamp) {
    debug_assert!(msg.len() >= HEADER_LEN);
    let total = msg.len() + TRAILER_LEN;
    stamp_header(msg, at, total as u32);
    let trailer = key.trailer(msg);
    msg.extend_from_slice(&trailer);
}

/// Signs a text reply header in place and returns the trailer that goes
/// between the header and the `text_len` text bytes. The MAC covers the
/// header only (which includes `length` = 76 + `text_len`).
pub fn sign_text_header(
    header: &mut [u8; HEADER_LEN],
    text_len: u32,
    key: &AuthKey,
    at: Timestamp,
) -> [u8; TRAILER_LEN] {
    let total = (HEADER_LEN + TRAILER_LEN) as u32 + text_len;
    stamp_header(header, at, total);
    key.trailer(header)
}

/// Verifies a fixed-size message whose trailer is its last 28 bytes.
/// The payload (all bytes before the trailer) must contain a whole header.
pub fn verify_message(msg: &[u8], key: &AuthKey) -> Result<AuthTag, AuthError> {
    if msg.len() < HEADER_LEN + TRAILER_LEN {
        return Err(AuthError::Truncated { len: msg.len() });
    }
    let (payload, trailer) = msg.split_at(msg.len() - TRAILER_LEN);
    key.verify_trailer(payload, trailer)
}

/// Verifies a text reply: header, then trailer, then (unauthenticated) text.
/// Only the first 76 bytes of `msg` are looked at.
pub fn verify_text_header(msg: &[u8], key: &AuthKey) -> Result<AuthTag, AuthError> {
    match (
        msg.get(..HEADER_LEN),
        msg.get(HEADER_LEN..HEADER_LEN + TRAILER_LEN),
    ) {
        (Some(header), Some(trailer)) => key.verify_trailer(header, trailer),
        _ => Err(AuthError::Truncated { len: msg.len() }),
    }
}

fn stamp_header(h: &mut [u8], at: Timestamp, length: u32) {
    let opts = be32(h, OPTS_AT) | BOOTH_OPT_AUTH;
    put32(h, OPTS_AT, opts);
    put32(h, SECS_AT, at.secs);
    put32(h, USECS_AT, at.usecs);
    put32(h, LENGTH_AT, length);
}

/// Big-endian u32 at `at`; 0 where `b` is too short (never panics).
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Writes a big-endian u32 at `at` if it fits.
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests;
