//! Reading the configuration again at reload (SIGHUP) without resolving
//! host names.
//!
//! Members cannot change at reload (the running protocol state is keyed by
//! them), and resolving a name on the event loop can stall it for as long
//! as the resolver waits for an unanswered nameserver (glibc: 10-30 s).
//! So a reload takes each member's address from the running configuration
//! when the member lines are textually the same, and refuses the file,
//! without any lookup, when they are not.

use std::net::IpAddr;
use std::path::Path;

use super::{Config, ConfigError, Resolver};

/// Answers host names from the running configuration's member lines only.
struct Known<'c>(&'c Config);

impl Resolver for Known<'_> {
    fn resolve(&self, host: &str) -> Result<IpAddr, String> {
        self.0
            .member_text
            .iter()
            .zip(&self.0.members)
            .find(|(text, _)| *text == host)
            .map(|(_, m)| m.addr)
            .ok_or_else(|| {
                format!(
                    "\"{host}\" is not a member of the running configuration; members cannot \
                     change at reload (names are not resolved then), restart the daemon"
                )
            })
    }
}

impl Config {
    /// Reads `path` for a reload of `current`: member addresses come from
    /// `current` (no name is resolved); member lines that differ from
    /// `current`'s (address text, kind, order or port) are an error.
    pub fn reload_from(path: &Path, current: &Config) -> Result<Config, ConfigError> {
        let new = Config::load_with(path, &Known(current))?;
        same_members(new, current)
    }

    /// [`Config::reload_from`] on configuration bytes.
    pub fn reload_bytes(text: &[u8], path: &Path, current: &Config) -> Result<Config, ConfigError> {
        let new = Config::parse_bytes(text, path, &Known(current))?;
        same_members(new, current)
    }
}

fn same_members(new: Config, current: &Config) -> Result<Config, ConfigError> {
    let lines = |c: &Config| -> Vec<(super::MemberKind, String, u16)> {
        c.members
            .iter()
            .zip(&c.member_text)
            .map(|(m, t)| (m.kind, t.clone(), m.port))
            .collect()
    };
    if lines(&new) != lines(current) {
        return Err(ConfigError::new(
            "the member lines changed; members cannot change at reload, restart the daemon to \
             apply them",
        ));
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Resolves two names and counts its lookups.
    struct Counting(Cell<u32>);

    impl Resolver for Counting {
        fn resolve(&self, host: &str) -> Result<IpAddr, String> {
            self.0.set(self.0.get() + 1);
            match host {
                "alpha" => Ok("198.51.100.1".parse().unwrap()),
                "beta" => Ok("198.51.100.2".parse().unwrap()),
                _ => Err(format!("can't find IP for the host \"{host}\"")),
            }
        }
    }

    const PATH: &str = "/etc/booth/booth.conf";
    const BASE: &str = "site = alpha\nsite = beta\narbitrator = 198.51.100.3\n";

    fn running() -> Config {
        let r = Counting(Cell::new(0));
        let c = Config::parse_str(&format!("{BASE}ticket = A\n"), Path::new(PATH), &r).unwrap();
        assert_eq!(r.0.get(), 2);
        c
    }

    fn reload(text: &str) -> Result<Config, ConfigError> {
        Config::reload_bytes(text.as_bytes(), Path::new(PATH), &running())
    }

    #[test]
    fn unchanged_members_keep_their_addresses_and_tickets_change() {
        let cur = running();
        let new = reload(&format!("{BASE}ticket = A\nticket = B\n  expire = 300\n")).unwrap();
        assert_eq!(new.members, cur.members);
        assert_eq!(new.member_text, ["alpha", "beta", "198.51.100.3"]);
        assert_eq!(new.tickets.len(), 2);
        assert_eq!(new.tickets[1].expire.as_secs(), 300);
    }

    #[test]
    fn a_new_host_name_is_refused_without_a_lookup() {
        let e = reload("site = alpha\nsite = gamma\narbitrator = 198.51.100.3\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.message
                .contains("\"gamma\" is not a member of the running configuration"),
            "{e}"
        );
    }

    #[test]
    fn reordered_added_or_re_ported_members_are_refused() {
        for text in [
            "site = beta\nsite = alpha\narbitrator = 198.51.100.3\n",
            "site = alpha\nsite = beta\narbitrator = 198.51.100.3\nsite = 198.51.100.4\n",
            "site = alpha\nsite = beta\n",
            "port = 9930\nsite = alpha\nsite = beta\narbitrator = 198.51.100.3\n",
            "site = alpha\narbitrator = beta\narbitrator = 198.51.100.3\n",
        ] {
            let e = reload(text).unwrap_err();
            assert!(
                e.message.contains("the member lines changed"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn the_file_is_read_from_disk() {
        let dir = std::env::temp_dir().join(format!("bnb-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("booth.conf");
        std::fs::write(&path, format!("{BASE}ticket = C\n")).unwrap();
        let new = Config::reload_from(&path, &running()).unwrap();
        assert_eq!(&*new.tickets[0].name, "C");
        assert_eq!(new.path, path);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
