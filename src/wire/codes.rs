//! Numeric codes of commands, results and reasons.
//!
//! Each is four ASCII characters packed big-endian (`CHAR2CONST` in C), so on
//! the wire and in a hex dump they read as text, e.g. `HrtB` for a heartbeat.

// Commands (header `cmd` and `request`).
pub const CMD_LIST: u32 = 0x434C_7374; // CLst
pub const CMD_GRANT: u32 = 0x4347_6E74; // CGnt
pub const CMD_REVOKE: u32 = 0x4352_766B; // CRvk
pub const CMD_PEERS: u32 = 0x5065_6572; // Peer
pub const CL_RESULT: u32 = 0x5273_6C74; // Rslt
pub const CL_LIST: u32 = 0x524C_7374; // RLst
pub const CL_GRANT: u32 = 0x5247_6E74; // RGnt
pub const CL_REVOKE: u32 = 0x5252_766B; // RRvk
pub const OP_STATUS: u32 = 0x5374_6174; // Stat
pub const OP_MY_INDEX: u32 = 0x4D49_6478; // MIdx
pub const OP_REQ_VOTE: u32 = 0x5256_6F74; // RVot
pub const OP_VOTE_FOR: u32 = 0x5674_4672; // VtFr
pub const OP_HEARTBEAT: u32 = 0x4872_7442; // HrtB
pub const OP_ACK: u32 = 0x4163_6B2E; // Ack.
pub const OP_UPDATE: u32 = 0x5570_6445; // UpdE
pub const OP_REVOKE: u32 = 0x5265_766B; // Revk
pub const OP_REJECTED: u32 = 0x524A_4321; // RJC!
pub const ATTR_SET: u32 = 0x4153_6574; // ASet
pub const ATTR_GET: u32 = 0x4147_6574; // AGet
pub const ATTR_DEL: u32 = 0x4144_656C; // ADel
pub const ATTR_LIST: u32 = 0x414C_7374; // ALst

// Results (header `result`).
pub const RLT_SUCCESS: u32 = 0;
pub const RLT_ASYNC: u32 = 0x4173_796E; // Asyn
pub const RLT_MORE: u32 = 0x4D6F_7265; // More
pub const RLT_SYNC_SUCC: u32 = 0x5363_6373; // Sccs
pub const RLT_SYNC_FAIL: u32 = 0x4661_696C; // Fail
pub const RLT_INVALID_ARG: u32 = 0x4941_7267; // IArg
pub const RLT_NO_SUCH_ATTR: u32 = 0x4E41_7472; // NAtr
pub const RLT_CIB_PENDING: u32 = 0x5065_6E64; // Pend
pub const RLT_EXT_FAILED: u32 = 0x5850_7267; // XPrg
pub const RLT_ATTR_PREREQ: u32 = 0x4150_7271; // APrq
pub const RLT_TICKET_IDLE: u32 = 0x5469_646C; // Tidl
pub const RLT_OVERGRANT: u32 = 0x4F76_6572; // Over
pub const RLT_PROBABLY_SUCCESS: u32 = 0x5375_633F; // Suc?
pub const RLT_BUSY: u32 = 0x4275_7379; // Busy
pub const RLT_AUTH: u32 = 0x4175_7468; // Auth
pub const RLT_TERM_OUTDATED: u32 = 0x544F_6474; // TOdt
pub const RLT_TERM_STILL_VALID: u32 = 0x5456_6C64; // TVld
pub const RLT_YOU_OUTDATED: u32 = 0x4F75_7464; // Outd
pub const RLT_REDIRECT: u32 = 0x5265_6472; // Redr

// Reasons (header `reason`).
pub const OR_JUST_SO: u32 = 0;
pub const OR_AGAIN: u32 = 0x4161_6161; // Aaaa
pub const OR_TKT_LOST: u32 = 0x544C_7374; // TLst
pub const OR_REACQUIRE: u32 = 0x5261_6371; // Racq
pub const OR_ADMIN: u32 = 0x4164_6D6E; // Admn
pub const OR_LOCAL_FAIL: u32 = 0x4C6F_6346; // LocF
pub const OR_STEPDOWN: u32 = 0x5370_646E; // Spdn
pub const OR_SPLIT: u32 = 0x5370_6C74; // Splt

/// Renders a code as booth logs it: its four characters when printable,
/// otherwise hex (0 prints as "0").
pub fn code_to_string(code: u32) -> String {
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
        assert_eq!(OP_HEARTBEAT.to_be_bytes(), *b"HrtB");
        assert_eq!(OP_ACK.to_be_bytes(), *b"Ack.");
        assert_eq!(OP_REJECTED.to_be_bytes(), *b"RJC!");
        assert_eq!(RLT_PROBABLY_SUCCESS.to_be_bytes(), *b"Suc?");
        assert_eq!(CMD_LIST, 0x434C7374);
        assert_eq!(RLT_REDIRECT, 0x52656472);
        assert_eq!(OR_STEPDOWN, 0x5370646E);
        assert_eq!(code_to_string(RLT_MORE), "More");
        assert_eq!(code_to_string(0), "0");
        assert_eq!(code_to_string(0x0102_0304), "0x01020304");
    }
}
