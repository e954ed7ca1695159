//! Booth configuration: the file grammar, typed values, members and their site
//! ids, tickets with their defaults, and the authentication key file.
//!
//! The same file is used by every member of a booth cluster (C or Rust), so the
//! grammar, defaults and derived values follow the C booth exactly; where the C
//! parser is buggy we do the right thing and say so in
//! `doc/compatibility.md` (section "Configuration").

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod authkey;
mod lex;
mod parse;
mod reload;
mod siteid;
mod synthetic;
#[cfg(test)]
mod tests;
mod values;

pub use authkey::{key_disables_c_auth, read_authkey, AuthKeyError, MAX_KEY_LEN, MIN_KEY_LEN};
pub use parse::{config_path_from_arg, ConfigError, Resolver, SystemResolver};
pub use siteid::{crc32, site_id};

/// The configuration file used when `-c` is not given (the name `booth`
/// resolved by [`config_path_from_arg`]).
pub const DEFAULT_CONFIG: &str = "/etc/booth/booth.conf";
/// Directory a `-c` value without '/' is looked up in (with the trailing '/').
pub const DEFAULT_CONFIG_DIR: &str = "/etc/booth/";
/// Suffix added to a `-c` name that contains no '.'.
pub const DEFAULT_CONFIG_EXT: &str = ".conf";

/// UDP and TCP port used when no `port` key precedes a member.
pub const DEFAULT_PORT: u16 = 9929;
/// The C daemon's limit on members (sites and arbitrators together).
pub const MAX_MEMBERS: usize = 16;
/// Ticket names, attribute names and address strings are 64-byte fields on the wire.
pub const NAME_LEN: usize = 64;
/// Default `maxtimeskew`, in seconds: how far a peer's authentication
/// timestamp may lag behind (and, by default, run ahead of) our clock.
pub const DEFAULT_MAX_TIME_SKEW: u32 = 600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    /// Accepted by the grammar; the daemon refuses to start with it (the C
    /// daemon crashes instead).
    Sctp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberKind {
    Site,
    Arbitrator,
}

impl MemberKind {
    /// The word used by `booth peers`, the lock file and log idents.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::Site => "site",
            MemberKind::Arbitrator => "arbitrator",
        }
    }
}

/// One `site =` or `arbitrator =` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Position in the file, sites and arbitrators mixed (0-based).
    pub index: usize,
    pub kind: MemberKind,
    /// Numeric address as printed by `booth list`/`peers` and matched by `-s`
    /// (host names are replaced by the address they resolved to).
    pub addr_string: String,
    pub addr: IpAddr,
    /// The global `port` value in force when this member's line was read.
    pub port: u16,
    /// CRC-32 of the binary address with bit 31 cleared.
    pub site_id: u32,
}

impl Member {
    pub fn is_site(&self) -> bool {
        self.kind == MemberKind::Site
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TicketMode {
    Auto,
    Manual,
}

/// Which kind of grant an `attr-prereq` line gates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// Elections after a lost ticket or a step-down.
    Auto,
    /// Administrative grants (`booth grant`).
    Manual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrOp {
    Eq,
    Ne,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttrPrereq {
    pub grant_type: GrantType,
    pub name: String,
    pub op: AttrOp,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketConfig {
    /// Shared with the tables that name the ticket (the CIB writer's, the
    /// promise record's): one copy of each name, however many keep it.
    pub name: Arc<str>,
    /// Everything else, reached through `Deref` (`t.expire`, ...): shared
    /// by all tickets with the same settings (the parser makes one copy of
    /// each set). At 10,000 tickets nearly all have the same: 144 bytes a
    /// ticket saved. Writing through `DerefMut` copies it first.
    pub settings: Arc<TicketSettings>,
}

impl TicketConfig {
    pub fn new(name: impl Into<Arc<str>>, settings: TicketSettings) -> TicketConfig {
        TicketConfig {
            name: name.into(),
            settings: Arc::new(settings),
        }
    }
}

impl std::ops::Deref for TicketConfig {
    type Target = TicketSettings;
    fn deref(&self) -> &TicketSettings {
        &self.settings
    }
}

impl std::ops::DerefMut for TicketConfig {
    fn deref_mut(&mut self) -> &mut TicketSettings {
        Arc::make_mut(&mut self.settings)
    }
}

/// A ticket's settings but its name (see [`TicketConfig::settings`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TicketSettings {
    /// Lease length.
    pub expire: Duration,
    /// Election length and resend interval.
    pub timeout: Duration,
    pub retries: u32,
    /// Renewal period; `expire / 2` when not configured.
    pub renewal_freq: Duration,
    pub acquire_after: Duration,
    /// Program (or directory of programs) and its arguments.
    pub before_acquire_handler: Option<Vec<String>>,
    pub attr_prereqs: Vec<AttrPrereq>,
    pub mode: TicketMode,
    /// Parsed for compatibility; the protocol does not use them (nor does C).
    pub weights: Weights,
}

#[cfg(test)]
impl TicketSettings {
    /// The hand-driven tests' ticket: 20 s lease, 2 s timeout, 3 retries,
    /// renewal at 10 s, no handler or prerequisite.
    pub fn test_lease(mode: TicketMode) -> TicketSettings {
        TicketSettings {
            expire: Duration::from_secs(20),
            timeout: Duration::from_secs(2),
            retries: 3,
            renewal_freq: Duration::from_secs(10),
            acquire_after: Duration::ZERO,
            before_acquire_handler: None,
            attr_prereqs: vec![],
            mode,
            weights: Default::default(),
        }
    }
}

/// A ticket's `weights`: sixteen numbers nobody uses, so they are boxed and
/// only kept when one of them is set. At 10,000 tickets the array inline
/// cost 64 bytes a ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Weights(Option<Box<[i32; MAX_MEMBERS]>>);

impl Weights {
    pub fn new(w: [i32; MAX_MEMBERS]) -> Weights {
        Weights((w != [0; MAX_MEMBERS]).then(|| Box::new(w)))
    }
}

impl std::ops::Deref for Weights {
    type Target = [i32; MAX_MEMBERS];
    fn deref(&self) -> &[i32; MAX_MEMBERS] {
        self.0.as_deref().unwrap_or(&[0; MAX_MEMBERS])
    }
}

impl PartialEq<[i32; MAX_MEMBERS]> for Weights {
    fn eq(&self, other: &[i32; MAX_MEMBERS]) -> bool {
        **self == *other
    }
}

impl TicketSettings {
    pub fn is_manual(&self) -> bool {
        self.mode == TicketMode::Manual
    }
}

/// A whole, validated configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file as opened (after `-c` short-name expansion).
    pub path: PathBuf,
    /// `name` key, or the file's base name without its last extension.
    pub name: String,
    pub transport: Transport,
    /// The last `port` value in the file (members carry their own port).
    pub port: u16,
    /// The key file in use: `None` without `authfile`, and also with
    /// `enable-authfile = no` (a warning then says that the file is not used).
    pub authfile: Option<PathBuf>,
    /// Red Hat's `enable-authfile` (`yes`/`no`); `None` when absent. Its
    /// builds ignore `authfile` unless it is `yes`; upstream has no such key.
    pub enable_authfile: Option<bool>,
    /// Seconds.
    pub maxtimeskew: u32,
    pub members: Vec<Member>,
    /// The address of each member line as written (a host name or a
    /// literal address), so that a reload can tell unchanged lines and
    /// reuse their addresses without resolving names again.
    pub member_text: Vec<String>,
    pub site_user: String,
    pub site_group: String,
    pub arbitrator_user: String,
    pub arbitrator_group: String,
    pub debug: u32,
    /// Shared, not copied: the engine's tickets and every clone of the
    /// configuration (the daemon keeps one, the engine another) point at
    /// the same ticket settings, which matters at 10,000 tickets.
    pub tickets: Vec<Arc<TicketConfig>>,
    /// Any time value in the file is not a whole number of seconds: the C
    /// booth then sends `term_valid_for` in milliseconds instead of seconds.
    pub subsecond_times: bool,
    /// Non-fatal findings (e.g. "Odd number of nodes is strongly recommended!").
    pub warnings: Vec<String>,
}

impl Config {
    pub fn member_by_id(&self, site_id: u32) -> Option<&Member> {
        self.members.iter().find(|m| m.site_id == site_id)
    }

    pub fn member_by_addr_string(&self, addr: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.addr_string == addr)
    }

    pub fn ticket(&self, name: &str) -> Option<&TicketConfig> {
        self.tickets.iter().map(|t| &**t).find(|t| &*t.name == name)
    }
}

/// The C library's `strerror` text for an I/O error, so that messages read
/// like the C booth's (Rust's own text appends " (os error N)").
pub(crate) fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => match text.strip_suffix(&format!(" (os error {code})")) {
            Some(plain) => plain.to_string(),
            None => text,
        },
        None => text,
    }
}
