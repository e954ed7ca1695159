//! Parsing single values of the configuration: times, weights,
//! prerequisites, handlers, names, booleans, bounded strings.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::lex::{self};
use super::parse::{MAX_COPIED_LEN, MAX_HANDLER_WORDS, MAX_TIME_MS};
use super::{AttrOp, AttrPrereq, GrantType, MAX_MEMBERS, NAME_LEN};

pub(super) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(super) fn utf8<'v>(key: &str, value: &'v [u8]) -> Result<&'v str, String> {
    std::str::from_utf8(value).map_err(|_| format!("value of \"{key}\" is not valid UTF-8"))
}

/// Words as `strtok(value, " \t")` finds them.
pub(super) fn words(value: &str) -> impl Iterator<Item = &str> {
    value.split([' ', '\t']).filter(|w| !w.is_empty())
}

/// A time key's value in milliseconds; `min` is 1 for keys that must be
/// positive and 0 for those that may be zero.
pub(super) fn time_value(
    key: &str,
    value: &[u8],
    min: i64,
    subsecond: &mut bool,
) -> Result<i64, String> {
    let invalid = || {
        let op = if min > 0 { ">" } else { ">=" };
        format!("Expected time {op}0 for {key}")
    };
    let ms = lex::read_time(value).ok_or_else(invalid)?;
    if ms < min {
        return Err(invalid());
    }
    if ms > MAX_TIME_MS {
        return Err(format!(
            "time value \"{}\" for {key} is too large (at most {MAX_TIME_MS}ms, about 24.8 days)",
            lossy(value)
        ));
    }
    if ms % 1000 != 0 {
        *subsecond = true;
    }
    Ok(ms)
}

/// `weights`: up to 16 numbers (`strtol` base 0) between separators.
pub(super) fn parse_weights(value: &[u8]) -> Result<[i32; MAX_MEMBERS], String> {
    let mut weights = [0i32; MAX_MEMBERS];
    let mut pos = 0;
    for slot in weights.iter_mut() {
        if pos == value.len() {
            break;
        }
        let (n, used) = lex::strtol(&value[pos..], 0);
        if used == 0 {
            return Err(format!(
                "No integer weight value at \"{}\"",
                lossy(&value[pos..])
            ));
        }
        // Stored in a C int, like the C booth does (weights are unused).
        *slot = n as i32;
        pos += used;
        while pos < value.len() {
            let b = value[pos];
            if lex::is_c_space(b) || b",;:-+".contains(&b) {
                pos += 1;
            } else if b.is_ascii_digit() {
                break;
            } else {
                return Err(format!("Invalid character at \"{}\"", lossy(&value[pos..])));
            }
        }
    }
    Ok(weights)
}

/// `attr-prereq = GRANT_TYPE NAME OP VALUE`; returns the prerequisite and
/// whether words beyond the fourth were ignored.
pub(super) fn parse_attr_prereq(value: &str) -> Result<(AttrPrereq, bool), String> {
    let not_enough = || "not enough arguments to attr-prereq".to_string();
    let mut w = words(value);
    let grant_type = match w.next().ok_or_else(not_enough)? {
        "auto" => GrantType::Auto,
        "manual" => GrantType::Manual,
        other => return Err(format!("{other} is not a grant type")),
    };
    let name = w.next().ok_or_else(not_enough)?.to_string();
    let op = match w.next().ok_or_else(not_enough)? {
        "eq" => AttrOp::Eq,
        "ne" => AttrOp::Ne,
        other => return Err(format!("{other} is not an attribute operation")),
    };
    let value = w.next().ok_or_else(not_enough)?.to_string();
    let prereq = AttrPrereq {
        grant_type,
        name,
        op,
        value,
    };
    Ok((prereq, w.next().is_some()))
}

pub(super) fn parse_handler(value: &str) -> Result<Vec<String>, String> {
    let argv: Vec<String> = words(value).map(str::to_owned).collect();
    if argv.len() > MAX_HANDLER_WORDS {
        return Err("too many arguments for the acquire-handler".to_string());
    }
    if argv.is_empty() {
        return Err("before-acquire-handler needs a program path".to_string());
    }
    Ok(argv)
}

/// The default cluster name: the file's base name up to its last '.'.
pub(super) fn name_from_path(path: &Path) -> Result<String, String> {
    let bytes = path.as_os_str().as_bytes();
    let base = match bytes.iter().rposition(|&b| b == b'/') {
        Some(slash) => &bytes[slash + 1..],
        None => bytes,
    };
    let stem = match base.iter().rposition(|&b| b == b'.') {
        Some(dot) => &base[..dot],
        None => base,
    };
    if stem.len() >= NAME_LEN {
        return Err("booth config file name too long".to_string());
    }
    String::from_utf8(stem.to_vec())
        .map_err(|_| "booth config file name is not valid UTF-8".to_string())
}

/// A boolean as Red Hat's booth and pcs write it (pcs writes `yes`).
pub(super) fn yes_no(key: &str, value: &[u8]) -> Result<bool, String> {
    let is = |words: [&[u8]; 4]| words.iter().any(|w| value.eq_ignore_ascii_case(w));
    if is([b"yes", b"true", b"on", b"1"]) {
        Ok(true)
    } else if is([b"no", b"false", b"off", b"0"]) {
        Ok(false)
    } else {
        Err(format!(
            "invalid {key} \"{}\": expected yes or no",
            lossy(value)
        ))
    }
}

/// A value the C booth copies into a 64-byte buffer (`name`, user and
/// group keys); `what` is the word its error message uses.
pub(super) fn copied_string(key: &str, what: &str, value: &[u8]) -> Result<String, String> {
    if value.len() >= MAX_COPIED_LEN {
        return Err(format!(
            "'{}' exceeds maximum {what} length of {MAX_COPIED_LEN}",
            lossy(value)
        ));
    }
    Ok(utf8(key, value)?.to_string())
}
