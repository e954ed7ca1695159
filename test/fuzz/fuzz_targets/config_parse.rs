//! The configuration parser on arbitrary bytes. Host names are resolved by
//! a stub (no DNS traffic while fuzzing): literal addresses parse, any
//! other name fails as an unknown host would.
#![no_main]

use booth::config::{Config, Resolver};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::path::Path;

struct Literal;

impl Resolver for Literal {
    fn resolve(&self, host: &str) -> Result<IpAddr, String> {
        host.parse()
            .map_err(|_| format!("can't find IP for the host \"{host}\""))
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/etc/booth/booth.conf");
    if let Ok(cfg) = Config::parse_bytes(data, path, &Literal) {
        // A configuration that parses has sane members and tickets.
        assert!(cfg.members.len() <= booth::config::MAX_MEMBERS);
        for (i, m) in cfg.members.iter().enumerate() {
            assert_eq!(m.index, i);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse_str(text, path, &Literal);
    }
});
