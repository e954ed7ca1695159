//! Helpers shared by the fuzz targets.

use booth::wire::AuthKey;

/// The key of test/data/c-booth-auth.pcap (the file's content, trimmed as
/// booth reads key files), so captured signed messages in the seed corpus
/// pass the MAC and reach the later checks.
pub fn capture_key() -> AuthKey {
    let raw = include_bytes!("../../../data/c-booth-auth.authkey");
    AuthKey::new(raw[..raw.len().min(64)].trim_ascii()).expect("test key length")
}
