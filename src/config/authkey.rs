//! The shared secret named by `authfile`.
//!
//! Every daemon and client of a cluster must load the same bytes, so the
//! rules follow the C booth: at most 64 bytes are used, surrounding ASCII
//! whitespace is removed only from keys that are entirely ASCII (binary keys
//! from `booth-keygen` are used as they are), and the result must be at least
//! 8 bytes long.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::strerror;

/// Bytes of the key file that are used; the rest is ignored.
pub const MAX_KEY_LEN: usize = 64;
/// Shorter keys are refused.
pub const MIN_KEY_LEN: usize = 8;

/// Why a key file cannot be used. The text is the C booth's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthKeyError(pub String);

impl fmt::Display for AuthKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthKeyError {}

/// Loads and checks the key file.
///
/// A key whose first byte is 0 is accepted and authenticates our members,
/// but it switches authentication off in C members; see
/// [`key_disables_c_auth`]. A loud warning is logged for it.
pub fn read_authkey(path: &Path) -> Result<Vec<u8>, AuthKeyError> {
    let shown = path.display();
    let file = File::open(path)
        .map_err(|e| AuthKeyError(format!("cannot open {shown}: {}", strerror(&e))))?;
    let meta = file.metadata().map_err(|e| {
        AuthKeyError(format!(
            "cannot stat authentication file {shown} ({}): {}",
            file.as_raw_fd(),
            strerror(&e)
        ))
    })?;
    if meta.mode() & 0o044 != 0 {
        return Err(AuthKeyError(format!(
            "{shown}: file shall not be readable for anyone but the owner"
        )));
    }

    let mut raw = Vec::with_capacity(MAX_KEY_LEN);
    read_up_to(&file, MAX_KEY_LEN, &mut raw)
        .map_err(|e| AuthKeyError(format!("Failed to read authfile {shown}: {}", strerror(&e))))?;

    let key = trim_key(&raw).to_vec();
    if key.len() < MIN_KEY_LEN {
        return Err(AuthKeyError(format!(
            "Key in authfile {shown} is too short ({} < {MIN_KEY_LEN})",
            key.len()
        )));
    }
    if key_disables_c_auth(&key) {
        log::warn!(
            "The key in {shown} starts with a zero byte: C booth members treat such a key \
             as \"no authentication\" and cannot talk to members that authenticate with it; \
             generate a new key"
        );
    }
    Ok(key)
}

/// Reads until `limit` bytes or end of file. The C booth does a single
/// `read()`, which gives the same bytes for regular files.
fn read_up_to(file: &File, limit: usize, out: &mut Vec<u8>) -> io::Result<()> {
    let mut limited = file.take(limit as u64);
    loop {
        match limited.read_to_end(out) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Whitespace as C's `isspace` sees it in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Strips leading and trailing whitespace, but only from all-ASCII keys: a
/// binary key may legitimately begin or end with bytes that look like
/// whitespace.
fn trim_key(raw: &[u8]) -> &[u8] {
    if !raw.is_ascii() {
        return raw;
    }
    let start = raw
        .iter()
        .position(|&b| !is_c_space(b))
        .unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|&b| !is_c_space(b))
        .map_or(start, |p| p + 1);
    &raw[start..end]
}

/// True if a C booth with this key would not authenticate at all.
///
/// The C booth decides whether authentication is on by looking at the first
/// key byte, so a key starting with 0 (about 1 in 256 keys from
/// `booth-keygen`) silently disables it there. We authenticate with such a
/// key regardless, which means members of both implementations cannot share
/// it.
pub fn key_disables_c_auth(key: &[u8]) -> bool {
    key.first() == Some(&0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file in the temp directory, removed when dropped.
    struct TempKey(PathBuf);

    impl TempKey {
        fn new(content: &[u8], mode: u32) -> TempKey {
            static SEQ: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "booth-config-authkey-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            fs::write(&path, content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            TempKey(path)
        }
    }

    impl Drop for TempKey {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    #[test]
    fn owner_only_key_is_read() {
        let f = TempKey::new(b"0123456789abcdef", 0o600);
        assert_eq!(read_authkey(&f.0).unwrap(), b"0123456789abcdef");
    }

    #[test]
    fn owner_write_and_execute_bits_do_not_matter() {
        let f = TempKey::new(b"0123456789abcdef", 0o700);
        assert!(read_authkey(&f.0).is_ok());
        let f = TempKey::new(b"0123456789abcdef", 0o622);
        assert!(read_authkey(&f.0).is_ok());
    }

    #[test]
    fn group_or_world_readable_is_refused() {
        for mode in [0o644, 0o640, 0o604] {
            let f = TempKey::new(b"0123456789abcdef", mode);
            let err = read_authkey(&f.0).unwrap_err();
            assert_eq!(
                err.0,
                format!(
                    "{}: file shall not be readable for anyone but the owner",
                    f.0.display()
                )
            );
        }
    }

    #[test]
    fn missing_file() {
        let path = std::env::temp_dir().join(format!(
            "booth-config-authkey-missing-{}",
            std::process::id()
        ));
        let err = read_authkey(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot open {}: No such file or directory", path.display())
        );
    }

    #[test]
    fn too_short_after_trimming() {
        let f = TempKey::new(b"  short\n", 0o600);
        let err = read_authkey(&f.0).unwrap_err();
        assert_eq!(
            err.0,
            format!("Key in authfile {} is too short (5 < 8)", f.0.display())
        );
        let f = TempKey::new(b"", 0o600);
        let err = read_authkey(&f.0).unwrap_err();
        assert!(err.0.ends_with("is too short (0 < 8)"), "{}", err.0);
        let f = TempKey::new(b"1234567", 0o600);
        assert!(read_authkey(&f.0).is_err());
        let f = TempKey::new(b"12345678", 0o600);
        assert_eq!(read_authkey(&f.0).unwrap(), b"12345678");
    }

    #[test]
    fn ascii_key_is_trimmed_at_both_ends_only() {
        let f = TempKey::new(b" \t\x0b\x0c\r\nsecret key\twith spaces \r\n", 0o600);
        assert_eq!(read_authkey(&f.0).unwrap(), b"secret key\twith spaces");
    }

    #[test]
    fn binary_key_is_not_trimmed() {
        let content = b"\n\x80binary key \x01\x02 ";
        let f = TempKey::new(content, 0o600);
        assert_eq!(read_authkey(&f.0).unwrap(), content);
    }

    #[test]
    fn only_the_first_64_bytes_are_used() {
        let content: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
        let f = TempKey::new(&content, 0o600);
        assert_eq!(read_authkey(&f.0).unwrap(), &content[..64]);
    }

    #[test]
    fn trimming_looks_at_the_first_64_bytes_only() {
        // Whitespace at position 64 and beyond is never read; a non-ASCII
        // byte beyond 64 does not stop trimming.
        let mut content = b"  0123456789".to_vec();
        content.resize(64, b' ');
        content.extend_from_slice(b"\xff\xfe");
        let f = TempKey::new(&content, 0o600);
        assert_eq!(read_authkey(&f.0).unwrap(), b"0123456789");
    }

    #[test]
    fn zero_first_byte_is_accepted_and_flagged() {
        let content = b"\0\x81\x82\x83\x84\x85\x86\x87\x88";
        let f = TempKey::new(content, 0o600);
        let key = read_authkey(&f.0).unwrap();
        assert_eq!(key, content);
        assert!(key_disables_c_auth(&key));
        assert!(!key_disables_c_auth(b"12345678"));
        assert!(!key_disables_c_auth(b""));
    }
}
