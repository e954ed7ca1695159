//! The line grammar of the configuration file and the C library number
//! conversions its values go through.
//!
//! Everything works on bytes: the C booth reads the file with `fgets` into a
//! 1024-byte buffer and treats each buffer as a C string, and every member
//! of a cluster must split and interpret the same file identically.

/// `fgets` with a 1024-byte buffer returns at most this many bytes.
const LINE_CHUNK: usize = 1023;
/// Longest key and longest value accepted (`BOOTH_NAME_LEN`).
pub(super) const MAX_KEY_VALUE_LEN: usize = 64;

/// Whitespace as C's `isspace` sees it in the "C" locale.
pub(super) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The pieces `fgets(buf, 1024, fp)` returns one after the other: up to and
/// including a newline, but never more than 1023 bytes, so a longer physical
/// line is read (and counted) as several lines.
pub(super) fn chunks(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let window = &rest[..rest.len().min(LINE_CHUNK)];
        let len = window
            .iter()
            .position(|&b| b == b'\n')
            .map_or(window.len(), |p| p + 1);
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

/// One significant line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// The value was written in quotes (then `#` and spaces inside are data).
    pub quoted: bool,
}

/// Splits one chunk into key and value. `Ok(None)` for blank and comment
/// lines; the error texts are the C booth's.
pub(super) fn lex_line(chunk: &[u8]) -> Result<Option<Entry<'_>>, &'static str> {
    // The C code sees a C string: anything after a NUL byte is invisible.
    let s = match chunk.iter().position(|&b| b == 0) {
        Some(nul) => &chunk[..nul],
        None => chunk,
    };
    let skip_space = |mut i: usize| {
        while i < s.len() && is_c_space(s[i]) {
            i += 1;
        }
        i
    };

    let mut i = skip_space(0);
    if i == s.len() || s[i] == b'#' {
        return Ok(None);
    }

    let key_start = i;
    while i < s.len() && is_key_byte(s[i]) {
        i += 1;
    }
    if i == key_start {
        return Err("No key");
    }
    let key = &s[key_start..i];
    i = skip_space(i);
    if i == s.len() || s[i] != b'=' {
        return Err("Expected '=' after key");
    }
    i = skip_space(i + 1);
    if i == s.len() {
        return Err("No value");
    }

    let (value, quoted) = match s[i] {
        quote @ (b'"' | b'\'') => {
            let start = i + 1;
            let len = s[start..]
                .iter()
                .position(|&b| b == quote)
                .ok_or("Unterminated quoted string")?;
            let after = skip_space(start + len + 1);
            if after < s.len() && s[after] != b'#' {
                return Err("Surplus data after value");
            }
            (&s[start..start + len], true)
        }
        _ => {
            // The rest of the line: `#` is not a comment here.
            let mut end = s.len();
            while end > i && is_c_space(s[end - 1]) {
                end -= 1;
            }
            (&s[i..end], false)
        }
    };

    if key.len() > MAX_KEY_VALUE_LEN || value.len() > MAX_KEY_VALUE_LEN {
        return Err("key/value too long");
    }
    Ok(Some(Entry { key, value, quoted }))
}

/// `strtol(s, &end, base)` of glibc in the "C" locale, for base 0 (prefix
/// decides: `0x` hex, `0` octal, else decimal) or 10. Returns the value,
/// saturated to the range of a 64-bit `long` as glibc does, and the number of
/// bytes consumed; 0 bytes means no number was found.
pub(super) fn strtol(s: &[u8], base: u32) -> (i64, usize) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut radix = base;
    if base == 0 {
        radix = 10;
        if s.get(i) == Some(&b'0') {
            radix = 8;
            let x = matches!(s.get(i + 1), Some(b'x' | b'X'));
            if x && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit) {
                radix = 16;
                i += 2;
            }
        }
    }

    let digits_start = i;
    // Magnitudes beyond i64 saturate; one more than i64::MAX is kept so that
    // i64::MIN itself can be represented.
    let cap = i64::MAX as u64 + 1;
    let mut magnitude: u64 = 0;
    while let Some(d) = s.get(i).and_then(|&b| (b as char).to_digit(radix)) {
        magnitude = magnitude
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(d))
            .min(cap);
        i += 1;
    }
    if i == digits_start {
        return (0, 0);
    }
    let value = if negative {
        0i64.saturating_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).unwrap_or(i64::MAX)
    };
    (value, i)
}

/// C's `atoi` reduced to what we need: the leading decimal number, or `None`
/// where `atoi` would silently return 0 because there are no digits.
pub(super) fn atoi(s: &[u8]) -> Option<i64> {
    match strtol(s, 10) {
        (_, 0) => None,
        (v, _) => Some(v),
    }
}

/// A time value (`read_time`): `N` seconds or `Nms` milliseconds, decimal,
/// optionally signed. `None` for anything else (`10s`, `1.5`, `10 ms`).
/// The result is in milliseconds and saturates instead of overflowing.
pub(super) fn read_time(s: &[u8]) -> Option<i64> {
    match strtol(s, 10) {
        (_, 0) => None,
        (v, end) if end == s.len() => Some(v.saturating_mul(1000)),
        (v, end) if &s[end..] == b"ms" => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(line: &str) -> (String, String, bool) {
        let e = lex_line(line.as_bytes()).unwrap().unwrap();
        (
            String::from_utf8(e.key.to_vec()).unwrap(),
            String::from_utf8(e.value.to_vec()).unwrap(),
            e.quoted,
        )
    }

    #[test]
    fn chunking_follows_fgets() {
        let text = b"a\nbb\n\nccc";
        let v: Vec<&[u8]> = chunks(text).collect();
        assert_eq!(v, [&b"a\n"[..], b"bb\n", b"\n", b"ccc"]);

        let long = vec![b'x'; 1023];
        let mut text = long.clone();
        text.push(b'\n');
        let v: Vec<&[u8]> = chunks(&text).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], &long[..]);
        assert_eq!(v[1], b"\n");

        let text = vec![b'y'; 2500];
        let lens: Vec<usize> = chunks(&text).map(<[u8]>::len).collect();
        assert_eq!(lens, [1023, 1023, 454]);

        let mut text = vec![b'z'; 1022];
        text.push(b'\n');
        assert_eq!(chunks(&text).count(), 1);
        assert_eq!(chunks(b"").count(), 0);
    }

    #[test]
    fn blank_and_comment_lines() {
        for line in ["", "\n", "   \t\n", "# x", "   # x = y\n", "\r\n"] {
            assert_eq!(lex_line(line.as_bytes()), Ok(None), "{line:?}");
        }
    }

    #[test]
    fn keys_and_separators() {
        assert_eq!(entry("port=1"), ("port".into(), "1".into(), false));
        assert_eq!(
            entry("  port \t = \t 1 \n"),
            ("port".into(), "1".into(), false)
        );
        assert_eq!(entry("A_b-9 = x"), ("A_b-9".into(), "x".into(), false));
        assert_eq!(lex_line(b"= 1"), Err("No key"));
        assert_eq!(lex_line(b"[x] = 1"), Err("No key"));
        assert_eq!(lex_line(b"port"), Err("Expected '=' after key"));
        assert_eq!(lex_line(b"port\n"), Err("Expected '=' after key"));
        assert_eq!(lex_line(b"port 1"), Err("Expected '=' after key"));
        assert_eq!(lex_line(b"port.x = 1"), Err("Expected '=' after key"));
        assert_eq!(lex_line(b"port ="), Err("No value"));
        assert_eq!(lex_line(b"port =  \t\n"), Err("No value"));
    }

    #[test]
    fn unquoted_values_keep_hash_and_inner_spaces() {
        assert_eq!(
            entry("port = 9929 # x\n"),
            ("port".into(), "9929 # x".into(), false)
        );
        assert_eq!(entry("k = a  b\t \r\n"), ("k".into(), "a  b".into(), false));
        assert_eq!(entry("k = #x"), ("k".into(), "#x".into(), false));
        assert_eq!(entry("k = x'y\""), ("k".into(), "x'y\"".into(), false));
    }

    #[test]
    fn quoted_values() {
        assert_eq!(
            entry("k = \"a # 'b' \"\n"),
            ("k".into(), "a # 'b' ".into(), true)
        );
        assert_eq!(entry("k='x' # comment"), ("k".into(), "x".into(), true));
        assert_eq!(entry("k=\"\""), ("k".into(), "".into(), true));
        assert_eq!(entry("k=''  \n"), ("k".into(), "".into(), true));
        assert_eq!(entry("k=\"x\"#"), ("k".into(), "x".into(), true));
        assert_eq!(lex_line(b"k = \"abc"), Err("Unterminated quoted string"));
        assert_eq!(lex_line(b"k = 'abc\"\n"), Err("Unterminated quoted string"));
        assert_eq!(lex_line(b"k = \"a\" b"), Err("Surplus data after value"));
        assert_eq!(lex_line(b"k = \"a\"\"b\""), Err("Surplus data after value"));
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(entry("k = ab\0cd\n"), ("k".into(), "ab".into(), false));
        assert_eq!(lex_line(b"k\0 = 1"), Err("Expected '=' after key"));
        assert_eq!(lex_line(b"\0k = 1"), Ok(None));
    }

    #[test]
    fn length_limit_is_64() {
        let ok = format!("k = {}", "v".repeat(64));
        assert!(lex_line(ok.as_bytes()).unwrap().is_some());
        let long = format!("k = {}", "v".repeat(65));
        assert_eq!(lex_line(long.as_bytes()), Err("key/value too long"));
        let long = format!("k = \"{}\"", "v".repeat(65));
        assert_eq!(lex_line(long.as_bytes()), Err("key/value too long"));
        let key = format!("{} = 1", "k".repeat(65));
        assert_eq!(lex_line(key.as_bytes()), Err("key/value too long"));
        let key = format!("{} = 1", "k".repeat(64));
        assert!(lex_line(key.as_bytes()).unwrap().is_some());
    }

    #[test]
    fn strtol_base_0() {
        assert_eq!(strtol(b"10", 0), (10, 2));
        assert_eq!(strtol(b"0x10", 0), (16, 4));
        assert_eq!(strtol(b"0X1f", 0), (31, 4));
        assert_eq!(strtol(b"010", 0), (8, 3));
        assert_eq!(strtol(b"08", 0), (0, 1));
        assert_eq!(strtol(b"0x", 0), (0, 1));
        assert_eq!(strtol(b"0xg", 0), (0, 1));
        assert_eq!(strtol(b"  -12abc", 0), (-12, 5));
        assert_eq!(strtol(b"+7", 0), (7, 2));
        assert_eq!(strtol(b"-", 0), (0, 0));
        assert_eq!(strtol(b"x", 0), (0, 0));
        assert_eq!(strtol(b"", 0), (0, 0));
        assert_eq!(strtol(b"99999999999999999999999", 0), (i64::MAX, 23));
        assert_eq!(strtol(b"-9223372036854775808", 0), (i64::MIN, 20));
        assert_eq!(strtol(b"-99999999999999999999999", 0), (i64::MIN, 24));
    }

    #[test]
    fn strtol_base_10_ignores_prefixes() {
        assert_eq!(strtol(b"0x10", 10), (0, 1));
        assert_eq!(strtol(b"010", 10), (10, 3));
    }

    #[test]
    fn atoi_and_time() {
        assert_eq!(atoi(b"9929 # x"), Some(9929));
        assert_eq!(atoi(b"abc"), None);
        assert_eq!(read_time(b"600"), Some(600_000));
        assert_eq!(read_time(b"1500ms"), Some(1500));
        assert_eq!(read_time(b"-3"), Some(-3000));
        assert_eq!(read_time(b"+3"), Some(3000));
        assert_eq!(read_time(b"0ms"), Some(0));
        for bad in [
            "", "ms", "10s", "1.5", "10 ms", "10MS", "10msx", "x10", "010x",
        ] {
            assert_eq!(read_time(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(read_time(b"99999999999999999999"), Some(i64::MAX));
    }
}
