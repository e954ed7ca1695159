//! Numeric codes of commands, results and reasons.
//!
//! Each is four ASCII characters packed big-endian (`CHAR2CONST` in C), so on
//! the wire and in a hex dump they read as text, e.g. `HrtB` for a heartbeat.
//!
//! The three kinds are distinct types ([`Cmd`], [`Rlt`], [`Reason`]), so
//! that a result passed where a command belongs does not compile. Each is
//! a plain `u32` underneath, encoded as such in the header, and any value
//! received is representable: a code this build does not know is still a
//! `Cmd` (answered as unknown), not a decoding error.

use std::fmt;

/// Defines a code type: a `u32` as it is on the wire, printed as booth
/// logs it (see [`code_to_string`]).
macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(pub u32);

        impl From<$name> for u32 {
            fn from(c: $name) -> u32 {
                c.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&code_to_string(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), code_to_string(self.0))
            }
        }
    };
}

code_type!(
    /// A command: the header's `cmd` (what a message is) and `request`
    /// (what a reply answers).
    Cmd
);
impl Cmd {
    /// No command: the `request` of a message that answers none.
    pub const NONE: Cmd = Cmd(0);
}

code_type!(
    /// A result: the header's `result`.
    Rlt
);
code_type!(
    /// Why a message was sent: the header's `reason`.
    Reason
);

// Commands (header `cmd` and `request`).
pub const CMD_LIST: Cmd = Cmd(0x434C_7374); // CLst
pub const CMD_GRANT: Cmd = Cmd(0x4347_6E74); // CGnt
pub const CMD_REVOKE: Cmd = Cmd(0x4352_766B); // CRvk
pub const CMD_PEERS: Cmd = Cmd(0x5065_6572); // Peer
pub const CL_RESULT: Cmd = Cmd(0x5273_6C74); // Rslt
pub const CL_LIST: Cmd = Cmd(0x524C_7374); // RLst
pub const CL_GRANT: Cmd = Cmd(0x5247_6E74); // RGnt
pub const CL_REVOKE: Cmd = Cmd(0x5252_766B); // RRvk
pub const OP_STATUS: Cmd = Cmd(0x5374_6174); // Stat
pub const OP_MY_INDEX: Cmd = Cmd(0x4D49_6478); // MIdx
pub const OP_REQ_VOTE: Cmd = Cmd(0x5256_6F74); // RVot
pub const OP_VOTE_FOR: Cmd = Cmd(0x5674_4672); // VtFr
pub const OP_HEARTBEAT: Cmd = Cmd(0x4872_7442); // HrtB
pub const OP_ACK: Cmd = Cmd(0x4163_6B2E); // Ack.
pub const OP_UPDATE: Cmd = Cmd(0x5570_6445); // UpdE
pub const OP_REVOKE: Cmd = Cmd(0x5265_766B); // Revk
pub const OP_REJECTED: Cmd = Cmd(0x524A_4321); // RJC!
pub const ATTR_SET: Cmd = Cmd(0x4153_6574); // ASet
pub const ATTR_GET: Cmd = Cmd(0x4147_6574); // AGet
pub const ATTR_DEL: Cmd = Cmd(0x4144_656C); // ADel
pub const ATTR_LIST: Cmd = Cmd(0x414C_7374); // ALst

// Results (header `result`).
pub const RLT_SUCCESS: Rlt = Rlt(0);
pub const RLT_ASYNC: Rlt = Rlt(0x4173_796E); // Asyn
pub const RLT_MORE: Rlt = Rlt(0x4D6F_7265); // More
pub const RLT_SYNC_SUCC: Rlt = Rlt(0x5363_6373); // Sccs
pub const RLT_SYNC_FAIL: Rlt = Rlt(0x4661_696C); // Fail
pub const RLT_INVALID_ARG: Rlt = Rlt(0x4941_7267); // IArg
pub const RLT_NO_SUCH_ATTR: Rlt = Rlt(0x4E41_7472); // NAtr
pub const RLT_CIB_PENDING: Rlt = Rlt(0x5065_6E64); // Pend
pub const RLT_EXT_FAILED: Rlt = Rlt(0x5850_7267); // XPrg
pub const RLT_ATTR_PREREQ: Rlt = Rlt(0x4150_7271); // APrq
pub const RLT_TICKET_IDLE: Rlt = Rlt(0x5469_646C); // Tidl
pub const RLT_OVERGRANT: Rlt = Rlt(0x4F76_6572); // Over
pub const RLT_PROBABLY_SUCCESS: Rlt = Rlt(0x5375_633F); // Suc?
pub const RLT_BUSY: Rlt = Rlt(0x4275_7379); // Busy
pub const RLT_AUTH: Rlt = Rlt(0x4175_7468); // Auth
pub const RLT_TERM_OUTDATED: Rlt = Rlt(0x544F_6474); // TOdt
pub const RLT_TERM_STILL_VALID: Rlt = Rlt(0x5456_6C64); // TVld
pub const RLT_YOU_OUTDATED: Rlt = Rlt(0x4F75_7464); // Outd
pub const RLT_REDIRECT: Rlt = Rlt(0x5265_6472); // Redr

// Reasons (header `reason`).
pub const OR_JUST_SO: Reason = Reason(0);
pub const OR_AGAIN: Reason = Reason(0x4161_6161); // Aaaa
pub const OR_TKT_LOST: Reason = Reason(0x544C_7374); // TLst
pub const OR_REACQUIRE: Reason = Reason(0x5261_6371); // Racq
pub const OR_ADMIN: Reason = Reason(0x4164_6D6E); // Admn
pub const OR_LOCAL_FAIL: Reason = Reason(0x4C6F_6346); // LocF
pub const OR_STEPDOWN: Reason = Reason(0x5370_646E); // Spdn
pub const OR_SPLIT: Reason = Reason(0x5370_6C74); // Splt

/// Every command members send each other (the ticket protocol), for tests
/// and fuzzers that try them all.
pub const PEER_OPS: [Cmd; 9] = [
    OP_STATUS,
    OP_MY_INDEX,
    OP_REQ_VOTE,
    OP_VOTE_FOR,
    OP_HEARTBEAT,
    OP_ACK,
    OP_UPDATE,
    OP_REVOKE,
    OP_REJECTED,
];

/// Every reason a member gives for a message.
pub const REASONS: [Reason; 8] = [
    OR_JUST_SO,
    OR_AGAIN,
    OR_TKT_LOST,
    OR_REACQUIRE,
    OR_ADMIN,
    OR_LOCAL_FAIL,
    OR_STEPDOWN,
    OR_SPLIT,
];

/// Renders a code as booth logs it: its four characters when printable,
/// otherwise hex (0 prints as "0").
pub fn code_to_string(code: impl Into<u32>) -> String {
    let code: u32 = code.into();
    if code == 0 {
        return "0".to_string();
    }
    let bytes = code.to_be_bytes();
    if bytes.iter().all(|b| b.is_ascii_graphic()) {
        bytes.iter().map(|&b| b as char).collect()
    } else {
        format!("{code:#010x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_their_ascii_letters() {
        assert_eq!(OP_HEARTBEAT.0.to_be_bytes(), *b"HrtB");
        assert_eq!(OP_ACK.0.to_be_bytes(), *b"Ack.");
        assert_eq!(OP_REJECTED.0.to_be_bytes(), *b"RJC!");
        assert_eq!(RLT_PROBABLY_SUCCESS.0.to_be_bytes(), *b"Suc?");
        assert_eq!(CMD_LIST, Cmd(0x434C7374));
        assert_eq!(RLT_REDIRECT, Rlt(0x52656472));
        assert_eq!(OR_STEPDOWN, Reason(0x5370646E));
        assert_eq!(code_to_string(RLT_MORE), "More");
        assert_eq!(code_to_string(0u32), "0");
        assert_eq!(code_to_string(0x0102_0304u32), "0x01020304");
        assert_eq!(RLT_MORE.to_string(), "More");
        assert_eq!(format!("{:?}", Cmd(0x0102_0304)), "Cmd(0x01020304)");
    }
}
