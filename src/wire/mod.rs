//! Booth's packets: layouts, numeric codes, encoding and decoding, and the
//! HMAC-SHA1 authentication trailer with its timestamp rules.
//!
//! Every integer is a big-endian u32; structures are packed (header 48 bytes,
//! ticket body 76, attribute body 256, trailer 28). Decoding never panics: any
//! byte string yields either a message or a [`DecodeError`] that the daemon
//! counts in `booth peers`.
//!
//! Typical use:
//! * daemon, UDP: [`peek_from`] to attribute the datagram to a peer, then
//!   [`decode_datagram_checked`] with that peer's [`ReplayGuard`]; on error,
//!   [`DecodeError::counter`] says which `booth peers` counter to bump;
//! * daemon, TCP: [`decode_request`] on the bytes read so far until it is
//!   complete, then the clients' [`ReplayGuard`] on the returned tag; an
//!   authentication failure is answered with a header-only `RLT_AUTH`;
//! * client: [`decode_reply`] per reply, with a guard for the connection;
//! * sending: [`encode_ticket_msg`], [`encode_attr_msg`],
//!   [`encode_header_only`], [`encode_text_reply`], each given the key and a
//!   [`Timestamp`] (from the caller's wall clock) when authenticating.
//!
//! Differences from C's acceptance rules are listed in
//! `doc/compatibility.md` (section "Wire and authentication").

pub mod auth;
mod codec;
pub mod codes;
mod encode;
#[cfg(test)]
mod tests;

pub use codes::{Cmd, Reason, Rlt};

pub use auth::{AuthError, AuthKey, AuthTag, KeyLengthError, ReplayGuard, Timestamp};
pub use codec::*;
pub use encode::*;

pub const HEADER_LEN: usize = 48;
pub const TICKET_BODY_LEN: usize = 76;
pub const ATTR_BODY_LEN: usize = 256;
pub const TRAILER_LEN: usize = 28;
/// Ticket message without / with the authentication trailer.
pub const TICKET_MSG_LEN: usize = HEADER_LEN + TICKET_BODY_LEN;
pub const ATTR_MSG_LEN: usize = HEADER_LEN + ATTR_BODY_LEN;
/// UDP receive buffer and per-connection TCP request buffer of the C daemon.
pub const MAX_MSG_LEN: usize = 1024;

pub const MAGIC: u32 = 0x5F1B_A08C;
pub const VERSION: u32 = 0x0001_0003;
/// "Nobody": no leader, or the pseudo-site "none".
pub const NO_ONE: u32 = 0xFFFF_FFFF;

/// Header `opts` bits.
pub const BOOTH_OPT_AUTH: u32 = 1;
pub const BOOTH_OPT_ATTR: u32 = 4;

/// Client option bits (header `options`).
pub const OPT_IMMEDIATE: u32 = 1;
pub const OPT_WAIT: u32 = 2;
pub const OPT_WAIT_COMMIT: u32 = 4;

/// The 48-byte header, fields in wire order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub opts: u32,
    pub secs: u32,
    pub usecs: u32,
    pub magic: u32,
    pub version: u32,
    pub from: u32,
    pub length: u32,
    pub cmd: Cmd,
    /// The command a reply answers.
    pub request: Cmd,
    pub options: u32,
    pub reason: Reason,
    pub result: Rlt,
}

/// The ticket body (76 bytes) as carried by every daemon-to-daemon message and
/// by grant/revoke/list/peers requests and results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketBody {
    /// Name up to the first NUL (the field holds at most 63 bytes plus NUL).
    pub name: String,
    pub leader: u32,
    pub term: u32,
    /// Seconds, or milliseconds when the config has sub-second times.
    pub term_valid_for: u32,
}

/// Header plus ticket body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketMsg {
    pub header: Header,
    pub body: TicketBody,
}

/// The geostore attribute body (256 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrBody {
    pub ticket: String,
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrMsg {
    pub header: Header,
    pub body: AttrBody,
}
