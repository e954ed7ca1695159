//! Which daemon a client talks to, and about which ticket (client.md §3).
//!
//! Everything here except [`resolve_site_name`] is pure: the caller supplies
//! the configuration, the index of the local member (found by interface
//! matching elsewhere) and the `-s` argument after name resolution.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::cli::{ClientOp, GeoOp, SiteArg};
use crate::config::{Config, MemberKind};

/// The operation a target is chosen for; it decides the refusal texts and
/// exit statuses, which differ between C's code paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Client(ClientOp),
    Geostore(GeoOp),
}

impl Operation {
    /// Operations that change state at the target (grant, revoke, set,
    /// delete). C runs them through `do_command` / `do_attr_command`, which
    /// refuse arbitrators and report unknown sites as "not configured";
    /// the queries run through `query_get_string_answer` instead.
    fn changes_state(self) -> bool {
        matches!(
            self,
            Operation::Client(ClientOp::Grant | ClientOp::Revoke)
                | Operation::Geostore(GeoOp::Set | GeoOp::Delete)
        )
    }
}

/// Why a client stops before connecting: one message line and the exit
/// status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub exit_code: i32,
}

impl Refusal {
    fn new(message: impl Into<String>, exit_code: i32) -> Refusal {
        Refusal {
            message: message.into(),
            exit_code,
        }
    }
}

/// Exit status C uses for an unknown `-s` site in the query path (ENOENT).
pub const EXIT_SITE_NOT_FOUND: i32 = 2;

/// The message for a client that runs on no configured site and was not
/// told which daemon to ask (the C client crashes here, README bug 5).
pub const NO_LOCAL_SITE: &str = "cannot determine the local site; use -s <site>";

/// Picks the member to connect to and returns its index in
/// `config.members`.
///
/// * no `-s`: the local member (an error if there is none);
/// * `-s other`: the one site that is not the local member (with no local
///   member, the one site of the configuration);
/// * `-s <addr>`: the member, site or arbitrator, whose address string is
///   exactly `<addr>`; a host name must already have been replaced by
///   [`resolve_site_name`].
///
/// Grant, revoke, set and delete then refuse arbitrators.
pub fn select_target(
    config: &Config,
    local: Option<usize>,
    site: Option<&SiteArg>,
    op: Operation,
) -> Result<usize, Refusal> {
    let local = local.filter(|&i| i < config.members.len());
    let chosen = match site {
        None => local.ok_or_else(|| Refusal::new(NO_LOCAL_SITE, 1))?,
        Some(arg) => find_site(config, local, arg).ok_or_else(|| {
            let shown = match arg {
                SiteArg::Other => "other",
                SiteArg::Name(name) => name.as_str(),
            };
            if op.changes_state() {
                Refusal::new(format!("Site \"{shown}\" not configured."), 1)
            } else {
                Refusal::new(format!("cannot find site \"{shown}\""), EXIT_SITE_NOT_FOUND)
            }
        })?,
    };

    let member = &config.members[chosen];
    if op.changes_state() && member.kind == MemberKind::Arbitrator {
        let geostore = matches!(op, Operation::Geostore(_));
        let message = match (Some(chosen) == local, geostore) {
            (true, false) => "We're just an arbitrator, cannot grant/revoke tickets here.".into(),
            (false, false) => format!(
                "{} is just an arbitrator, cannot grant/revoke tickets there.",
                member.addr_string
            ),
            (true, true) => "We're just an arbitrator, no attributes here.".into(),
            (false, true) => format!(
                "{} is just an arbitrator, no attributes there.",
                member.addr_string
            ),
        };
        return Err(Refusal::new(message, 1));
    }
    Ok(chosen)
}

/// C's `find_site_by_name` with "any type" allowed.
fn find_site(config: &Config, local: Option<usize>, arg: &SiteArg) -> Option<usize> {
    match arg {
        SiteArg::Other => {
            let mut others = config
                .members
                .iter()
                .enumerate()
                .filter(|(i, m)| m.is_site() && Some(*i) != local)
                .map(|(i, _)| i);
            match (others.next(), others.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
        SiteArg::Name(name) => config.members.iter().position(|m| m.addr_string == *name),
    }
}

/// The ticket a grant, revoke or geostore request is about: the one given on
/// the command line, else the only ticket of the configuration. The ticket
/// need not be configured locally; the daemon checks it.
pub fn select_ticket(config: &Config, given: Option<&str>) -> Result<String, Refusal> {
    match given {
        Some(name) if !name.is_empty() => Ok(name.to_string()),
        _ => match config.tickets.as_slice() {
            [only] => Ok(only.name.to_string()),
            _ => Err(Refusal::new("No ticket given.", 1)),
        },
    }
}

/// The `-s` argument as C compares it: a host name that resolves to an
/// IPv4 address is replaced by the first such address in dotted form;
/// addresses (IPv4 or IPv6) and names that do not resolve to IPv4 are kept
/// as given.
pub fn resolve_site_name(arg: &SiteArg) -> SiteArg {
    match arg {
        SiteArg::Other => SiteArg::Other,
        SiteArg::Name(name) if name.parse::<IpAddr>().is_ok() => arg.clone(),
        SiteArg::Name(name) => match first_ipv4(name) {
            Some(v4) => SiteArg::Name(v4),
            None => arg.clone(),
        },
    }
}

fn first_ipv4(host: &str) -> Option<String> {
    (host, 0u16)
        .to_socket_addrs()
        .ok()?
        .find_map(|sa| match sa {
            SocketAddr::V4(v4) => Some(v4.ip().to_string()),
            SocketAddr::V6(_) => None,
        })
}
