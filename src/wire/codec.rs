//! Decoding of every booth message kind, and the header both directions
//! share (the encoding of the messages is in `encode.rs`).
//!
//! Message kinds and their `length` (the trailer is counted only when the
//! *sender* authenticates):
//!
//! | Kind | Layout | without / with auth |
//! |---|---|---|
//! | ticket message | header, 76-byte ticket body [, trailer] | 124 / 152 |
//! | header-only result | header [, trailer] | 48 / 76 |
//! | attribute request | header, 256-byte attribute body [, trailer] | 304 / 332 |
//! | text reply | header [, trailer], N text bytes | 48+N / 76+N |
//!
//! Decoding is total: every function here returns a value or a
//! [`DecodeError`] for any byte string, without panicking.
//!
//! Strings are fixed-size NUL-padded fields. Encoding rejects a string that
//! does not leave room for its terminating NUL (or contains a NUL) instead of
//! truncating it. Decoding is strict for UDP ticket messages (a name without
//! NUL or not UTF-8 is [`DecodeError::NameNotTerminated`] /
//! [`DecodeError::NameNotUtf8`], counted as `invalid` like C's unknown-ticket
//! case) and lenient for TCP requests and replies: there the name is the
//! bytes before the first NUL (all 64 if there is none) with invalid UTF-8
//! replaced by U+FFFD. Such a name is at least 64 bytes long or contains
//! U+FFFD, so it never equals a configured ticket name (at most 63 characters
//! from `[A-Za-z0-9/-]`), and the daemon answers "no such ticket" as C does.

use std::fmt;

use super::auth::{self, be32, put32, AuthError, AuthKey, AuthTag, ReplayGuard, Timestamp};
use super::codes::{
    ATTR_DEL, ATTR_GET, ATTR_LIST, ATTR_SET, CL_LIST, CL_RESULT, CMD_GRANT, CMD_LIST, CMD_PEERS,
    CMD_REVOKE,
};
use super::{
    AttrBody, AttrMsg, Cmd, Header, Reason, Rlt, TicketBody, TicketMsg, ATTR_BODY_LEN,
    BOOTH_OPT_ATTR, HEADER_LEN, MAGIC, MAX_MSG_LEN, TICKET_BODY_LEN, TICKET_MSG_LEN, TRAILER_LEN,
    VERSION,
};

/// Size of the ticket-name and attribute-name fields.
pub const NAME_FIELD_LEN: usize = 64;
/// Size of the attribute-value field.
pub const VALUE_FIELD_LEN: usize = 128;
/// Largest reply a client accepts. C clients accept any `length`; this bound
/// only keeps a misbehaving server from making a client allocate gigabytes.
pub const MAX_REPLY_LEN: usize = 1 << 24;

/// Byte offset of `from` in the header (for [`peek_from`]).
const FROM_AT: usize = 20;
pub(super) const LENGTH_AT: usize = 24;

/// Why bytes are not an acceptable message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than a header.
    TooShort {
        len: usize,
    },
    BadMagic(u32),
    BadVersion(u32),
    /// `length` is below 48, above the receiver's limit, or (UDP) differs
    /// from the datagram size.
    BadLength {
        length: u32,
        received: usize,
    },
    /// A UDP message too short to carry a ticket body (124 bytes, or 152
    /// when the receiver authenticates).
    NotTicketMessage {
        length: u32,
    },
    /// The 64-byte ticket-name field holds no NUL.
    NameNotTerminated,
    /// The ticket name is not UTF-8 (so it cannot be a configured name).
    NameNotUtf8,
    /// A UDP message with the `BOOTH_OPT_ATTR` bit: C logs and drops it.
    AttrMessage,
    /// A reply whose `cmd` is none of Rslt, RLst, ALst, AGet.
    UnexpectedCommand(Cmd),
    Auth(AuthError),
}

/// The `booth peers` receive counter a UDP decode failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerCounter {
    /// "error": bad header or framing (`recv_err_cnt`).
    RecvError,
    /// "authfail": MAC or timestamp failure (`sec_cnt`).
    AuthFail,
    /// "invalid": unusable ticket name (`invalid_cnt`).
    Invalid,
}

impl DecodeError {
    /// The counter C increments for this failure of a UDP datagram; `None`
    /// for attribute messages, which C drops without counting (their ticket
    /// name is checked first and counts as `invalid` when bad).
    pub fn counter(&self) -> Option<PeerCounter> {
        match self {
            DecodeError::TooShort { .. }
            | DecodeError::BadMagic(_)
            | DecodeError::BadVersion(_)
            | DecodeError::BadLength { .. }
            | DecodeError::NotTicketMessage { .. } => Some(PeerCounter::RecvError),
            DecodeError::Auth(_) => Some(PeerCounter::AuthFail),
            DecodeError::NameNotTerminated
            | DecodeError::NameNotUtf8
            | DecodeError::UnexpectedCommand(_) => Some(PeerCounter::Invalid),
            DecodeError::AttrMessage => None,
        }
    }
}

impl From<AuthError> for DecodeError {
    fn from(e: AuthError) -> DecodeError {
        DecodeError::Auth(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort { len } => write!(f, "message too short ({len} bytes)"),
            DecodeError::BadMagic(m) => write!(f, "magic error {m:x}"),
            DecodeError::BadVersion(v) => write!(f, "version error {v:x}"),
            DecodeError::BadLength { length, received } => {
                write!(f, "length error - got {received}, wanted {length}")
            }
            DecodeError::NotTicketMessage { length } => {
                write!(f, "message of {length} bytes has no ticket body")
            }
            DecodeError::NameNotTerminated => f.write_str("ticket name not NUL-terminated"),
            DecodeError::NameNotUtf8 => f.write_str("ticket name not valid UTF-8"),
            DecodeError::AttrMessage => f.write_str("unexpected attribute message"),
            DecodeError::UnexpectedCommand(c) => {
                write!(f, "unexpected command {}", super::codes::code_to_string(*c))
            }
            DecodeError::Auth(e) => write!(f, "failed to authenticate: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A decoded message together with the proof of its authentication, when
/// the receiver has a key. Feed `auth` to the source's [`ReplayGuard`]
/// unless the decode function already did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received<T> {
    pub msg: T,
    pub auth: Option<AuthTag>,
}

/// Progress of decoding a message from a TCP byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing<T> {
    /// At least this many more bytes are needed.
    Need(usize),
    /// A whole message; it occupied the first `consumed` (= `length`) bytes.
    Complete { msg: T, consumed: usize },
}

/// A client request as the daemon sees it (TCP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// CLst, Peer, CGnt, CRvk. Names are decoded leniently (module docs).
    Ticket(TicketMsg),
    /// ALst, AGet, ASet, ADel. `strings_ok` is false if any of the three
    /// fields lacked its NUL or was not UTF-8; C refuses to store such an
    /// attribute (but still answers success to a set).
    Attr { msg: AttrMsg, strings_ok: bool },
    /// Any other command: C answers `CL_RESULT`/`RLT_INVALID_ARG`.
    Other(Header),
}

impl Request {
    pub fn header(&self) -> &Header {
        match self {
            Request::Ticket(m) => &m.header,
            Request::Attr { msg, .. } => &msg.header,
            Request::Other(h) => h,
        }
    }
}

/// A daemon reply as the client sees it (TCP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `CL_RESULT` carrying a ticket body (grant/revoke results).
    Ticket(TicketMsg),
    /// Header-only `CL_RESULT` (errors, geostore set/delete).
    Result(Header),
    /// RLst / ALst / AGet with its text (not NUL-terminated on the wire).
    Text { header: Header, text: Vec<u8> },
}

impl Reply {
    pub fn header(&self) -> &Header {
        match self {
            Reply::Ticket(m) => &m.header,
            Reply::Result(h) => h,
            Reply::Text { header, .. } => header,
        }
    }
}

/// How to authenticate a received UDP datagram: the receiver's key, the
/// sending peer's guard and the current wall-clock time.
pub struct AuthCheck<'a> {
    pub key: &'a AuthKey,
    pub guard: &'a mut ReplayGuard,
    pub now: Timestamp,
}

impl Header {
    /// A header with magic, version, `from` and `cmd` set, all else zero.
    pub fn new(cmd: Cmd, from: u32) -> Header {
        Header {
            magic: MAGIC,
            version: VERSION,
            from,
            cmd,
            ..Header::default()
        }
    }

    /// The 48 bytes of this header, fields exactly as they are.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let fields = [
            self.opts,
            self.secs,
            self.usecs,
            self.magic,
            self.version,
            self.from,
            self.length,
            self.cmd.0,
            self.request.0,
            self.options,
            self.reason.0,
            self.result.0,
        ];
        for (i, v) in fields.iter().enumerate() {
            put32(&mut b, 4 * i, *v);
        }
        b
    }

    /// Reads the first 48 bytes as a header, without checking anything.
    pub fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::TooShort { len: bytes.len() });
        }
        let f = |i: usize| be32(bytes, 4 * i);
        Ok(Header {
            opts: f(0),
            secs: f(1),
            usecs: f(2),
            magic: f(3),
            version: f(4),
            from: f(5),
            length: f(6),
            cmd: Cmd(f(7)),
            request: Cmd(f(8)),
            options: f(9),
            reason: Reason(f(10)),
            result: Rlt(f(11)),
        })
    }

    /// Magic and version as C's `check_boothc_header` wants them, and
    /// `length` at least 48.
    fn check_magic_version_min_len(&self, received: usize) -> Result<(), DecodeError> {
        if self.magic != MAGIC {
            return Err(DecodeError::BadMagic(self.magic));
        }
        if self.version != VERSION {
            return Err(DecodeError::BadVersion(self.version));
        }
        if (self.length as usize) < HEADER_LEN {
            return Err(DecodeError::BadLength {
                length: self.length,
                received,
            });
        }
        Ok(())
    }
}

/// The sender id of a datagram of at least 24 bytes, before any validation
/// (C attributes receive counts this way).
pub fn peek_from(bytes: &[u8]) -> Option<u32> {
    bytes
        .get(FROM_AT..FROM_AT + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

// ---------------------------------------------------------------------------
// Decoding helpers

/// `N` bytes of `payload` starting at `at`, zero-filled where `payload` is
/// shorter (C reads requests into a zeroed buffer).
fn field_zero_filled<const N: usize>(payload: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = payload.get(at..) {
        let n = src.len().min(N);
        out[..n].copy_from_slice(&src[..n]);
    }
    out
}

fn strict_str(field: &[u8]) -> Result<String, DecodeError> {
    let end = field
        .iter()
        .position(|&b| b == 0)
        .ok_or(DecodeError::NameNotTerminated)?;
    String::from_utf8(field[..end].to_vec()).map_err(|_| DecodeError::NameNotUtf8)
}

/// The string before the first NUL (or the whole field), and whether the
/// field was well-formed (terminated and UTF-8).
fn lenient_str(field: &[u8]) -> (String, bool) {
    let (end, terminated) = match field.iter().position(|&b| b == 0) {
        Some(p) => (p, true),
        None => (field.len(), false),
    };
    match std::str::from_utf8(&field[..end]) {
        Ok(s) => (s.to_owned(), terminated),
        Err(_) => (String::from_utf8_lossy(&field[..end]).into_owned(), false),
    }
}

fn ticket_body_from(body: &[u8; TICKET_BODY_LEN], name: String) -> TicketBody {
    TicketBody {
        name,
        leader: be32(body, NAME_FIELD_LEN),
        term: be32(body, NAME_FIELD_LEN + 4),
        term_valid_for: be32(body, NAME_FIELD_LEN + 8),
    }
}

/// Ticket body at offset 48 of `payload`, zero-filled, name lenient.
fn lenient_ticket_body(payload: &[u8]) -> TicketBody {
    let body: [u8; TICKET_BODY_LEN] = field_zero_filled(payload, HEADER_LEN);
    let (name, _) = lenient_str(&body[..NAME_FIELD_LEN]);
    ticket_body_from(&body, name)
}

/// Splits a fixed-size message into the part the receiver trusts and the
/// proof: with a key, the trailer is the last 28 bytes (mandatory, whatever
/// the sender's `opts` say); without, the whole message is payload and any
/// trailer is simply ignored.
fn authenticate<'m>(
    msg: &'m [u8],
    key: Option<&AuthKey>,
) -> Result<(&'m [u8], Option<AuthTag>), DecodeError> {
    match key {
        Some(k) => {
            let tag = auth::verify_message(msg, k)?;
            Ok((&msg[..msg.len() - TRAILER_LEN], Some(tag)))
        }
        None => Ok((msg, None)),
    }
}

// ---------------------------------------------------------------------------
// UDP

/// Header, framing and MAC checks of a datagram, in C's order; returns the
/// header and the authenticated payload.
fn datagram_prefix<'m>(
    bytes: &'m [u8],
    key: Option<&AuthKey>,
) -> Result<(Header, &'m [u8], Option<AuthTag>), DecodeError> {
    let h = Header::decode(bytes)?;
    h.check_magic_version_min_len(bytes.len())?;
    if h.length as usize != bytes.len() || bytes.len() > MAX_MSG_LEN {
        return Err(DecodeError::BadLength {
            length: h.length,
            received: bytes.len(),
        });
    }
    let (payload, tag) = authenticate(bytes, key)?;
    Ok((h, payload, tag))
}

/// Ticket body checks after authentication: size, name, attribute bit.
fn datagram_body(h: Header, payload: &[u8]) -> Result<TicketMsg, DecodeError> {
    let body: &[u8; TICKET_BODY_LEN] = payload
        .get(HEADER_LEN..TICKET_MSG_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::NotTicketMessage { length: h.length })?;
    let name = strict_str(&body[..NAME_FIELD_LEN])?;
    if h.opts & BOOTH_OPT_ATTR != 0 {
        return Err(DecodeError::AttrMessage);
    }
    Ok(TicketMsg {
        header: h,
        body: ticket_body_from(body, name),
    })
}

/// Decodes a UDP datagram exactly as received (not truncated to a buffer).
///
/// Checks, in order: header (magic, version, `length` >= 48 and == datagram
/// size <= 1024); with a key, the trailer (last 28 bytes; payload the rest);
/// a ticket body in the payload (>= 124 bytes); NUL-terminated UTF-8 name;
/// no `BOOTH_OPT_ATTR` bit. The timestamp is *not* checked: pass `auth` to
/// the sender's [`ReplayGuard`], or use [`decode_datagram_checked`].
///
/// Without a key, a 152-byte message from an authenticating sender decodes
/// and its trailer is ignored, as in C.
pub fn decode_datagram(
    bytes: &[u8],
    key: Option<&AuthKey>,
) -> Result<Received<TicketMsg>, DecodeError> {
    let (h, payload, auth) = datagram_prefix(bytes, key)?;
    let msg = datagram_body(h, payload)?;
    Ok(Received { msg, auth })
}

/// [`decode_datagram`] plus the timestamp check, run in C's order (after the
/// MAC, before the ticket body), so each failure maps to the same
/// `booth peers` counter as in C.
pub fn decode_datagram_checked(
    bytes: &[u8],
    auth: Option<AuthCheck<'_>>,
) -> Result<TicketMsg, DecodeError> {
    let (h, payload, tag) = datagram_prefix(bytes, auth.as_ref().map(|a| a.key))?;
    if let (Some(a), Some(tag)) = (auth, tag) {
        a.guard.check(&tag, a.now)?;
    }
    datagram_body(h, payload)
}

// ---------------------------------------------------------------------------
// TCP framing, shared by both directions

/// The first message of a TCP byte stream, once all of it has arrived: its
/// header (magic, version and 48 <= `length` <= `max_len` checked) and its
/// `length` bytes. Bytes after them are not looked at.
fn tcp_frame(buf: &[u8], max_len: usize) -> Result<Framing<(Header, &[u8])>, DecodeError> {
    let h = match Header::decode(buf) {
        Ok(h) => h,
        Err(_) => return Ok(Framing::Need(HEADER_LEN - buf.len())),
    };
    h.check_magic_version_min_len(buf.len())?;
    let length = h.length as usize;
    if length > max_len {
        return Err(DecodeError::BadLength {
            length: h.length,
            received: buf.len(),
        });
    }
    match buf.get(..length) {
        Some(msg) => Ok(Framing::Complete {
            msg: (h, msg),
            consumed: length,
        }),
        None => Ok(Framing::Need(length - buf.len())),
    }
}

// ---------------------------------------------------------------------------
// TCP, daemon side

/// Decodes a client request from the bytes received so far on a connection.
///
/// Follows C's `read_client`: the header must arrive first; magic, version
/// and 48 <= `length` <= 1024 are required (C's buffer is 1024 bytes);
/// once `length` bytes are in, the message is complete and any further bytes
/// are ignored (the C client sends list/peers/attr-list/attr-get requests
/// with 28 extra zero bytes when it does not authenticate).
///
/// With a key, the trailer is the last 28 bytes of the `length` bytes and
/// is mandatory; the body is read from the authenticated payload only. An
/// `Err(Auth(_))` is answered with a header-only `RLT_AUTH` result, any other
/// error by closing the connection. The timestamp is not checked here: feed
/// the tag to the daemon's client [`ReplayGuard`].
///
/// A request shorter than its body (but >= 48 bytes) decodes with the
/// missing bytes read as zeros, as HEAD's C daemon does with its zeroed
/// buffer; C clients always send whole bodies, so this only gives short
/// requests a defined meaning.
pub fn decode_request(
    buf: &[u8],
    key: Option<&AuthKey>,
) -> Result<Framing<Received<Request>>, DecodeError> {
    let (h, msg) = match tcp_frame(buf, MAX_MSG_LEN)? {
        Framing::Complete { msg, .. } => msg,
        Framing::Need(n) => return Ok(Framing::Need(n)),
    };
    let length = msg.len();
    let (payload, auth) = authenticate(msg, key)?;
    let request = match h.cmd {
        CMD_LIST | CMD_PEERS | CMD_GRANT | CMD_REVOKE => Request::Ticket(TicketMsg {
            header: h,
            body: lenient_ticket_body(payload),
        }),
        ATTR_LIST | ATTR_GET | ATTR_SET | ATTR_DEL => {
            let body: [u8; ATTR_BODY_LEN] = field_zero_filled(payload, HEADER_LEN);
            let (ticket, ok1) = lenient_str(&body[..NAME_FIELD_LEN]);
            let (name, ok2) = lenient_str(&body[NAME_FIELD_LEN..2 * NAME_FIELD_LEN]);
            let (value, ok3) = lenient_str(&body[2 * NAME_FIELD_LEN..]);
            Request::Attr {
                msg: AttrMsg {
                    header: h,
                    body: AttrBody {
                        ticket,
                        name,
                        value,
                    },
                },
                strings_ok: ok1 && ok2 && ok3,
            }
        }
        _ => Request::Other(h),
    };
    Ok(Framing::Complete {
        msg: Received { msg: request, auth },
        consumed: length,
    })
}

// ---------------------------------------------------------------------------
// TCP, client side

/// Decodes a daemon reply from the bytes received so far.
///
/// Framing uses `length` (C clients read fixed sizes instead, which goes
/// wrong when client and daemon disagree about authentication). Checks magic,
/// version and 48 <= `length` <= [`MAX_REPLY_LEN`]. By `cmd`:
/// * `CL_RESULT`: with a key the trailer is the last 28 bytes; a payload of
///   at least 124 bytes is a ticket result, a shorter one a header-only
///   result (48/76 bytes from C).
/// * `CL_LIST`, `ATTR_LIST`, `ATTR_GET`: text reply; with a key the trailer
///   follows the header and covers only the header.
/// * anything else: [`DecodeError::UnexpectedCommand`].
///
/// The timestamp is not checked here: feed the tag to a [`ReplayGuard`]
/// kept for the connection.
pub fn decode_reply(
    buf: &[u8],
    key: Option<&AuthKey>,
) -> Result<Framing<Received<Reply>>, DecodeError> {
    let (h, msg) = match tcp_frame(buf, MAX_REPLY_LEN)? {
        Framing::Complete { msg, .. } => msg,
        Framing::Need(n) => return Ok(Framing::Need(n)),
    };
    let length = msg.len();
    let (reply, auth) = match h.cmd {
        CL_RESULT => {
            let (payload, auth) = authenticate(msg, key)?;
            if payload.len() >= TICKET_MSG_LEN {
                let body = lenient_ticket_body(payload);
                (Reply::Ticket(TicketMsg { header: h, body }), auth)
            } else {
                (Reply::Result(h), auth)
            }
        }
        CL_LIST | ATTR_LIST | ATTR_GET => {
            let (text_at, auth) = match key {
                Some(k) => (
                    HEADER_LEN + TRAILER_LEN,
                    Some(auth::verify_text_header(msg, k)?),
                ),
                None => (HEADER_LEN, None),
            };
            let text = msg.get(text_at..).unwrap_or_default().to_vec();
            (Reply::Text { header: h, text }, auth)
        }
        other => return Err(DecodeError::UnexpectedCommand(other)),
    };
    Ok(Framing::Complete {
        msg: Received { msg: reply, auth },
        consumed: length,
    })
}
