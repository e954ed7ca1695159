//! Encoding of every booth message kind: the fixed-size NUL-padded string
//! fields, and what depends on whether the sender authenticates (the `opts`
//! AUTH bit, the timestamp, `length` and the trailer). The layouts are listed
//! in the decoding side's module, `codec.rs`.

use std::fmt;

use super::auth::{self, be32, put32, AuthKey, Timestamp};
use super::codec::{LENGTH_AT, NAME_FIELD_LEN, VALUE_FIELD_LEN};
use super::{
    AttrMsg, Header, TicketMsg, ATTR_BODY_LEN, BOOTH_OPT_AUTH, HEADER_LEN, TICKET_MSG_LEN,
    TRAILER_LEN,
};

/// A string that cannot be put into its fixed-size field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// `len` bytes do not fit: at most `max` (field size minus the NUL).
    FieldTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// An embedded NUL would cut the string short on the receiving side.
    FieldContainsNul { field: &'static str },
    /// A text reply whose length does not fit the 32-bit `length` field.
    TextTooLong { len: usize },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FieldTooLong { field, len, max } => {
                write!(f, "{field} is {len} bytes long, at most {max} fit")
            }
            EncodeError::FieldContainsNul { field } => write!(f, "{field} contains a NUL byte"),
            EncodeError::TextTooLong { len } => write!(f, "text of {len} bytes is too long"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Sets what depends on whether the sender authenticates (opts AUTH bit,
/// timestamp, `length`) and adds the trailer. `msg` is header and body
/// without trailer.
fn finish(mut msg: Vec<u8>, auth: Option<(&AuthKey, Timestamp)>) -> Vec<u8> {
    match auth {
        Some((key, at)) => auth::sign_message(&mut msg, key, at),
        None => {
            let len = msg.len() as u32;
            unsigned_header(&mut msg, len)
        }
    }
    msg
}

fn unsigned_header(msg: &mut [u8], length: u32) {
    let opts = be32(msg, 0) & !BOOTH_OPT_AUTH;
    put32(msg, 0, opts);
    put32(msg, 4, 0);
    put32(msg, 8, 0);
    put32(msg, LENGTH_AT, length);
}

/// Appends `s` as a NUL-padded field of `size` bytes.
fn put_str(
    out: &mut Vec<u8>,
    s: &str,
    size: usize,
    field: &'static str,
) -> Result<(), EncodeError> {
    let b = s.as_bytes();
    if b.len() >= size {
        return Err(EncodeError::FieldTooLong {
            field,
            len: b.len(),
            max: size - 1,
        });
    }
    if b.contains(&0) {
        return Err(EncodeError::FieldContainsNul { field });
    }
    out.extend_from_slice(b);
    out.resize(out.len() + size - b.len(), 0);
    Ok(())
}

/// A ticket message (124 bytes, or 152 signed). `opts` bits other than
/// AUTH are kept; the timestamp and `length` are set here.
pub fn encode_ticket_msg(
    msg: &TicketMsg,
    auth: Option<(&AuthKey, Timestamp)>,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(TICKET_MSG_LEN + TRAILER_LEN);
    out.extend_from_slice(&msg.header.encode());
    put_str(&mut out, &msg.body.name, NAME_FIELD_LEN, "ticket name")?;
    for v in [msg.body.leader, msg.body.term, msg.body.term_valid_for] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    Ok(finish(out, auth))
}

/// An attribute request (304 bytes, or 332 signed).
pub fn encode_attr_msg(
    msg: &AttrMsg,
    auth: Option<(&AuthKey, Timestamp)>,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(HEADER_LEN + ATTR_BODY_LEN + TRAILER_LEN);
    out.extend_from_slice(&msg.header.encode());
    put_str(&mut out, &msg.body.ticket, NAME_FIELD_LEN, "ticket name")?;
    put_str(&mut out, &msg.body.name, NAME_FIELD_LEN, "attribute name")?;
    put_str(
        &mut out,
        &msg.body.value,
        VALUE_FIELD_LEN,
        "attribute value",
    )?;
    Ok(finish(out, auth))
}

/// A header-only message such as an error `CL_RESULT` (48 bytes, or 76
/// signed).
pub fn encode_header_only(header: &Header, auth: Option<(&AuthKey, Timestamp)>) -> Vec<u8> {
    finish(header.encode().to_vec(), auth)
}

/// A text reply: header [, trailer], text. When signed, the MAC covers only
/// the header, whose `length` counts header, trailer and text.
pub fn encode_text_reply(
    header: &Header,
    text: &[u8],
    auth: Option<(&AuthKey, Timestamp)>,
) -> Result<Vec<u8>, EncodeError> {
    let text_len = u32::try_from(text.len())
        .ok()
        .filter(|n| n.checked_add((HEADER_LEN + TRAILER_LEN) as u32).is_some())
        .ok_or(EncodeError::TextTooLong { len: text.len() })?;
    let mut h = header.encode();
    let mut out = Vec::with_capacity(HEADER_LEN + TRAILER_LEN + text.len());
    match auth {
        Some((key, at)) => {
            let trailer = auth::sign_text_header(&mut h, text_len, key, at);
            out.extend_from_slice(&h);
            out.extend_from_slice(&trailer);
        }
        None => {
            unsigned_header(&mut h, HEADER_LEN as u32 + text_len);
            out.extend_from_slice(&h);
        }
    }
    out.extend_from_slice(text);
    Ok(out)
}
