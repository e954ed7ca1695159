//! From configuration text to a validated [`Config`].
//!
//! The interpretation of every line follows the C booth (`read_config`), so
//! that C and Rust members given the same file agree on members, ids,
//! tickets and timings. The deliberate differences are listed in
//! `doc/compatibility.md` (section "Configuration").

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::lex::{self, Entry};
use super::values::*;
use super::{
    read_authkey, site_id, strerror, AttrPrereq, AuthKeyError, Config, Member, MemberKind,
    TicketConfig, TicketMode, TicketSettings, Transport, Weights, DEFAULT_CONFIG_DIR,
    DEFAULT_CONFIG_EXT, DEFAULT_MAX_TIME_SKEW, DEFAULT_PORT, MAX_MEMBERS, NAME_LEN,
};

/// The section name whose keys set the defaults of later tickets.
const DEFAULTS_SECTION: &[u8] = b"__defaults__";

/// Values copied into 64-byte buffers by the C booth must be shorter than
/// 63 characters (its `safe_copy` keeps one byte spare).
pub(super) const MAX_COPIED_LEN: usize = NAME_LEN - 1;

/// The C booth keeps most numbers in a C `int`.
const C_INT_MAX: i64 = i32::MAX as i64;

/// Time values are C `int` milliseconds in the C booth.
pub(super) const MAX_TIME_MS: i64 = C_INT_MAX;

/// With millisecond units the C booth computes `term_valid_for` as
/// milliseconds × 1000 in an `int`, which overflows above this lease length.
const C_MS_TERM_LIMIT_MS: i64 = MAX_TIME_MS / 1000;

/// At most this many words (program and arguments) in a handler command.
pub(super) const MAX_HANDLER_WORDS: usize = 15;

/// A configuration error. `Display` gives the C booth's wording,
/// "`<message> in config file line <n>`", or just the message for errors
/// that do not belong to a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line number as the C booth counts it (a physical line longer
    /// than 1023 bytes counts as several). Errors found after the last line
    /// carry the number of the last line.
    pub line: Option<usize>,
    /// The key of the offending line, when the error belongs to one.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            line: None,
            key: None,
            message: message.into(),
        }
    }

    fn at(line: usize, key: Option<&str>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            line: Some(line),
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} in config file line {line}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Turns a host name from a `site`/`arbitrator` line into one address.
pub trait Resolver {
    /// The address the member is known by. The error is shown to the user
    /// as is, followed by `; Address string "<host>" is bad`.
    fn resolve(&self, host: &str) -> Result<IpAddr, String>;
}

/// Resolves with the system resolver (`getaddrinfo`, any family, stream
/// sockets) and takes the first result, as the C booth does. Different
/// resolver answers on different hosts give different site ids, so literal
/// addresses are the safer choice in a configuration.
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str) -> Result<IpAddr, String> {
        let mut addrs = (host, 0u16)
            .to_socket_addrs()
            .map_err(|_| format!("can't find IP for the host \"{host}\""))?;
        addrs
            .next()
            .map(|sa| sa.ip())
            .ok_or_else(|| format!("no IP addresses found for the host \"{host}\""))
    }
}

/// The configuration file named by a `-c` argument: a value containing '/'
/// is a path, anything else a name in [`DEFAULT_CONFIG_DIR`], with
/// [`DEFAULT_CONFIG_EXT`] appended when the name has no '.'.
pub fn config_path_from_arg(arg: &str) -> PathBuf {
    if arg.contains('/') {
        PathBuf::from(arg)
    } else {
        let ext = if arg.contains('.') {
            ""
        } else {
            DEFAULT_CONFIG_EXT
        };
        PathBuf::from(format!("{DEFAULT_CONFIG_DIR}{arg}{ext}"))
    }
}

impl Config {
    /// Reads and parses a configuration file, resolving host names with the
    /// system resolver.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, &SystemResolver)
    }

    /// Like [`Config::load`], with a chosen resolver.
    pub fn load_with(path: &Path, resolver: &dyn Resolver) -> Result<Config, ConfigError> {
        let shown = path.display();
        let mut file = File::open(path)
            .map_err(|e| ConfigError::new(format!("failed to open {shown}: {}", strerror(&e))))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)
            .map_err(|e| ConfigError::new(format!("failed to read {shown}: {}", strerror(&e))))?;
        Config::parse_bytes(&text, path, resolver)
    }

    /// Parses configuration text; `path` is the file it came from (it gives
    /// the default cluster `name`).
    pub fn parse_str(
        text: &str,
        path: &Path,
        resolver: &dyn Resolver,
    ) -> Result<Config, ConfigError> {
        Config::parse_bytes(text.as_bytes(), path, resolver)
    }

    /// Parses configuration bytes. Bytes that are not UTF-8 are fine in
    /// comments and ignored parts of lines; values that we keep as text must
    /// be UTF-8.
    pub fn parse_bytes(
        text: &[u8],
        path: &Path,
        resolver: &dyn Resolver,
    ) -> Result<Config, ConfigError> {
        let mut parser = Parser::new(resolver);
        for chunk in lex::chunks(text) {
            parser.line += 1;
            match lex::lex_line(chunk) {
                Ok(Some(entry)) => parser.entry(&entry)?,
                Ok(None) => {}
                Err(message) => return Err(ConfigError::at(parser.line, None, message)),
            }
        }
        parser.finish(path)
    }

    /// How often the C booth's main loop wakes up: a tenth of the smallest
    /// ticket `timeout`, at most 100 ms. (The C booth takes the smallest
    /// `timeout` written anywhere in the file; values that no ticket ends up
    /// with can make it smaller there. This only affects timer granularity.)
    pub fn poll_timeout(&self) -> Duration {
        const MAX_MS: u128 = 100;
        let min_timeout = self.tickets.iter().map(|t| t.timeout.as_millis()).min();
        let ms = match min_timeout.map(|t| t / 10) {
            Some(ms) if ms > 0 => ms.min(MAX_MS),
            _ => MAX_MS,
        };
        Duration::from_millis(ms as u64)
    }

    /// Loads the `authfile` key, if one is configured.
    pub fn read_authkey(&self) -> Result<Option<Vec<u8>>, AuthKeyError> {
        self.authfile.as_deref().map(read_authkey).transpose()
    }
}

/// A ticket (or the defaults section) while its lines are being read.
/// Times are milliseconds; 0 `renewal_ms` means "not set".
#[derive(Clone)]
struct Section {
    name: String,
    /// The line that opened the section (0 for the built-in defaults).
    line: usize,
    expire_ms: i64,
    timeout_ms: i64,
    retries: i64,
    renewal_ms: i64,
    acquire_after_ms: i64,
    handler: Option<Vec<String>>,
    prereqs: Vec<AttrPrereq>,
    mode: TicketMode,
    weights: [i32; MAX_MEMBERS],
}

impl Section {
    fn builtin_defaults() -> Section {
        Section {
            name: String::from_utf8_lossy(DEFAULTS_SECTION).into_owned(),
            line: 0,
            expire_ms: 600_000,
            timeout_ms: 5_000,
            retries: 10,
            renewal_ms: 0,
            acquire_after_ms: 0,
            handler: None,
            prereqs: Vec::new(),
            mode: TicketMode::Auto,
            weights: [0; MAX_MEMBERS],
        }
    }

    /// A new ticket takes only these values from the defaults section; the
    /// C booth does the same, and a file must mean the same to both.
    fn new_ticket(name: String, line: usize, defaults: &Section) -> Section {
        Section {
            name,
            line,
            expire_ms: defaults.expire_ms,
            timeout_ms: defaults.timeout_ms,
            retries: defaults.retries,
            renewal_ms: 0,
            acquire_after_ms: 0,
            handler: None,
            prereqs: Vec::new(),
            mode: defaults.mode,
            weights: defaults.weights,
        }
    }

    /// Fills in the default renewal period and checks that all resends of a
    /// message fit into it. The C booth rejects equality too; a ticket whose
    /// retries end exactly at renewal time is fine, so we accept it.
    fn finish(&mut self) -> Result<(), String> {
        if self.renewal_ms == 0 {
            self.renewal_ms = self.expire_ms / 2;
        }
        let total = self.timeout_ms * (self.retries + 1);
        if total > self.renewal_ms {
            return Err(format!(
                "{}: total amount of time to retry sending packets cannot exceed renewal \
                 frequency ({}*({}+1) > {})",
                self.name, self.timeout_ms, self.retries, self.renewal_ms
            ));
        }
        Ok(())
    }

    fn into_settings(self) -> TicketSettings {
        let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        TicketSettings {
            expire: ms(self.expire_ms),
            timeout: ms(self.timeout_ms),
            retries: u32::try_from(self.retries).unwrap_or(0),
            renewal_freq: ms(self.renewal_ms),
            acquire_after: ms(self.acquire_after_ms),
            before_acquire_handler: self.handler,
            attr_prereqs: self.prereqs,
            mode: self.mode,
            weights: Weights::new(self.weights),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Current {
    Nothing,
    Defaults,
    Ticket(usize),
}

struct Parser<'r> {
    resolver: &'r dyn Resolver,
    line: usize,
    name: Option<String>,
    transport: Option<Transport>,
    port: u16,
    authfile: Option<PathBuf>,
    /// `enable-authfile` and its line.
    enable_authfile: Option<(bool, usize)>,
    maxtimeskew: u32,
    members: Vec<Member>,
    member_text: Vec<String>,
    site_user: String,
    site_group: String,
    arbitrator_user: String,
    arbitrator_group: String,
    debug: u32,
    defaults: Section,
    tickets: Vec<Section>,
    /// Ticket names seen so far (a list of 10,000 tickets must not cost a
    /// pass over all earlier names per ticket).
    ticket_names: HashSet<Vec<u8>>,
    current: Current,
    subsecond: bool,
    warnings: Vec<String>,
}

impl<'r> Parser<'r> {
    fn new(resolver: &'r dyn Resolver) -> Parser<'r> {
        Parser {
            resolver,
            line: 0,
            name: None,
            transport: None,
            port: DEFAULT_PORT,
            authfile: None,
            enable_authfile: None,
            maxtimeskew: DEFAULT_MAX_TIME_SKEW,
            members: Vec::new(),
            member_text: Vec::new(),
            site_user: "hacluster".to_string(),
            site_group: "haclient".to_string(),
            arbitrator_user: "nobody".to_string(),
            arbitrator_group: "nobody".to_string(),
            debug: 0,
            defaults: Section::builtin_defaults(),
            tickets: Vec::new(),
            ticket_names: HashSet::new(),
            current: Current::Nothing,
            subsecond: false,
            warnings: Vec::new(),
        }
    }

    fn warn(&mut self, text: String) {
        self.warnings
            .push(format!("{text} (config file line {})", self.line));
    }

    fn entry(&mut self, entry: &Entry<'_>) -> Result<(), ConfigError> {
        let key = String::from_utf8_lossy(entry.key).into_owned();
        let value = entry.value;
        if !entry.quoted
            && value
                .windows(2)
                .any(|w| lex::is_c_space(w[0]) && w[1] == b'#')
        {
            self.warn(format!(
                "\"#\" in the unquoted value of \"{key}\" is part of the value, not a comment; \
                 quote the value or put the comment on a line of its own"
            ));
        }
        self.apply(&key, value)
            .map_err(|message| ConfigError::at(self.line, Some(&key), message))
    }

    fn apply(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        match key {
            "transport" => self.set_transport(value),
            "port" => {
                self.port = lex::atoi(value)
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|&n| n != 0)
                    .ok_or_else(|| format!("invalid port \"{}\"", lossy(value)))?;
                Ok(())
            }
            "name" => {
                let name = copied_string(key, "name", value)?;
                self.name = (!name.is_empty()).then_some(name);
                Ok(())
            }
            "authfile" => {
                self.authfile =
                    (!value.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(value)));
                Ok(())
            }
            "enable-authfile" => {
                self.enable_authfile = Some((yes_no(key, value)?, self.line));
                Ok(())
            }
            "maxtimeskew" => {
                self.maxtimeskew = lex::atoi(value)
                    .filter(|&n| (0..=C_INT_MAX).contains(&n))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("invalid maxtimeskew \"{}\"", lossy(value)))?;
                Ok(())
            }
            "site" => self.add_member(MemberKind::Site, value),
            "arbitrator" => self.add_member(MemberKind::Arbitrator, value),
            "site-user" | "site-group" | "arbitrator-user" | "arbitrator-group" => {
                let v = copied_string(key, key, value)?;
                if v.is_empty() {
                    return Err(format!("{key} must not be empty"));
                }
                *match key {
                    "site-user" => &mut self.site_user,
                    "site-group" => &mut self.site_group,
                    "arbitrator-user" => &mut self.arbitrator_user,
                    _ => &mut self.arbitrator_group,
                } = v;
                Ok(())
            }
            "debug" => {
                // `atoi` without checks: non-numbers are 0, negatives change nothing.
                let level = lex::atoi(value).unwrap_or(0).clamp(0, C_INT_MAX);
                self.debug = self.debug.max(u32::try_from(level).unwrap_or(0));
                Ok(())
            }
            "ticket" => self.start_section(value),
            _ => self.ticket_key(key, value),
        }
    }

    fn set_transport(&mut self, value: &[u8]) -> Result<(), String> {
        if self.transport.is_some() {
            return Err("config file has multiple transport lines".to_string());
        }
        self.transport = Some(if value.eq_ignore_ascii_case(b"UDP") {
            Transport::Udp
        } else if value.eq_ignore_ascii_case(b"SCTP") {
            Transport::Sctp
        } else {
            return Err(format!("invalid transport protocol \"{}\"", lossy(value)));
        });
        Ok(())
    }

    fn add_member(&mut self, kind: MemberKind, value: &[u8]) -> Result<(), String> {
        if self.members.len() == MAX_MEMBERS {
            return Err("too many nodes".to_string());
        }
        if value.len() >= NAME_LEN {
            return Err(format!("site address \"{}\" too long", lossy(value)));
        }
        let text = std::str::from_utf8(value)
            .map_err(|_| format!("Address string \"{}\" is bad", lossy(value)))?;
        let (addr, addr_string) = match text.parse::<IpAddr>() {
            Ok(addr) => (addr, text.to_string()),
            Err(_) => match self.resolver.resolve(text) {
                Ok(addr) => (addr, addr.to_string()),
                Err(why) => return Err(format!("{why}; Address string \"{text}\" is bad")),
            },
        };
        if addr_string != text {
            // Site ids come from the address, so every host must resolve
            // the name to the same one.
            self.warn(format!(
                "{} \"{text}\" resolved to {addr_string}; every member must resolve it to the \
                 same address, literal addresses are safer",
                kind.as_str()
            ));
        }
        let id = site_id(&addr);
        if let Some(other) = self.members.iter().find(|m| m.site_id == id) {
            return Err(format!(
                "Got a site-ID collision: member \"{addr_string}\" has the same site ID ({id}) \
                 as member {} \"{}\"",
                other.index, other.addr_string
            ));
        }
        self.member_text.push(text.to_string());
        self.members.push(Member {
            index: self.members.len(),
            kind,
            addr_string,
            addr,
            port: self.port,
            site_id: id,
        });
        Ok(())
    }

    /// Post-processes the section that a `ticket` line (or the end of the
    /// file) closes. Like the C booth this includes the defaults section.
    fn close_section(&mut self) -> Result<(), String> {
        match self.current {
            Current::Nothing => Ok(()),
            Current::Defaults => self.defaults.finish(),
            Current::Ticket(i) => {
                let tk = &mut self.tickets[i];
                tk.finish()?;
                if tk.renewal_ms >= tk.expire_ms {
                    self.warnings.push(format!(
                        "ticket \"{}\" (config file line {}): renewal-freq ({}ms) is not \
                         shorter than expire ({}ms), so the lease runs out before it is renewed",
                        tk.name, tk.line, tk.renewal_ms, tk.expire_ms
                    ));
                }
                Ok(())
            }
        }
    }

    fn start_section(&mut self, value: &[u8]) -> Result<(), String> {
        self.close_section()?;
        if value == DEFAULTS_SECTION {
            self.current = Current::Defaults;
            return Ok(());
        }
        let shown = lossy(value);
        if value.len() >= NAME_LEN {
            return Err(format!("ticket name \"{shown}\" too long."));
        }
        if self.ticket_names.contains(value) {
            return Err(format!("ticket name \"{shown}\" used again."));
        }
        if value.is_empty() {
            return Err("ticket name \"\" invalid; a ticket needs a name.".to_string());
        }
        if !value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/')
        {
            return Err(format!(
                "ticket name \"{shown}\" invalid; only alphanumeric names."
            ));
        }
        self.ticket_names.insert(value.to_vec());
        self.tickets
            .push(Section::new_ticket(shown, self.line, &self.defaults));
        self.current = Current::Ticket(self.tickets.len() - 1);
        Ok(())
    }

    fn ticket_key(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        let in_defaults = match self.current {
            Current::Nothing => return Err(format!("Unexpected keyword \"{key}\"")),
            Current::Defaults => true,
            Current::Ticket(_) => false,
        };
        let mut subsecond = self.subsecond;
        let mut pending = Vec::new();
        let tk = match self.current {
            Current::Ticket(i) => &mut self.tickets[i],
            _ => &mut self.defaults,
        };
        match key {
            "expire" => tk.expire_ms = time_value(key, value, 1, &mut subsecond)?,
            "timeout" => tk.timeout_ms = time_value(key, value, 1, &mut subsecond)?,
            "renewal-freq" => tk.renewal_ms = time_value(key, value, 1, &mut subsecond)?,
            "acquire-after" => tk.acquire_after_ms = time_value(key, value, 0, &mut subsecond)?,
            "retries" => {
                tk.retries = match lex::strtol(value, 0) {
                    (n, used) if used == value.len() && used > 0 && (3..=100).contains(&n) => n,
                    _ => {
                        return Err(
                            "Expected plain integer value in the range [3, 100] for retries"
                                .to_string(),
                        )
                    }
                }
            }
            "before-acquire-handler" => {
                tk.handler = Some(parse_handler(utf8(key, value)?)?);
            }
            "attr-prereq" => {
                let (prereq, extra_words) = parse_attr_prereq(utf8(key, value)?)?;
                tk.prereqs.push(prereq);
                if extra_words {
                    pending.push("attr-prereq: words after the fourth are ignored".to_string());
                }
            }
            "mode" => {
                // Like the C booth, anything but "manual" means automatic.
                tk.mode = if value.eq_ignore_ascii_case(b"manual") {
                    TicketMode::Manual
                } else {
                    let known = [&b"auto"[..], b"automatic"];
                    if !known.iter().any(|k| value.eq_ignore_ascii_case(k)) {
                        pending.push(format!(
                            "mode \"{}\" is not \"manual\"; the ticket is automatic",
                            lossy(value)
                        ));
                    }
                    TicketMode::Auto
                };
            }
            "weights" => tk.weights = parse_weights(value)?,
            _ => return Err(format!("Unknown keyword \"{key}\"")),
        }
        self.subsecond = subsecond;
        if in_defaults
            && matches!(
                key,
                "acquire-after" | "renewal-freq" | "before-acquire-handler" | "attr-prereq"
            )
        {
            pending.push(format!(
                "\"{key}\" under __defaults__ has no effect: tickets do not inherit it"
            ));
        }
        for text in pending {
            self.warn(text);
        }
        Ok(())
    }

    fn finish(mut self, path: &Path) -> Result<Config, ConfigError> {
        let line = self.line;
        if self.members.len() % 2 == 0 {
            self.warnings
                .push("Odd number of nodes is strongly recommended!".to_string());
        }
        let name = match self.name.take() {
            Some(name) => name,
            None => name_from_path(path).map_err(|m| ConfigError::at(line, None, m))?,
        };
        self.close_section()
            .map_err(|m| ConfigError::at(line, None, m))?;

        if self.subsecond {
            for tk in &self.tickets {
                if tk.expire_ms > C_MS_TERM_LIMIT_MS {
                    self.warnings.push(format!(
                        "ticket \"{}\": with sub-second time values in the file, C booth \
                         members overflow leases longer than {C_MS_TERM_LIMIT_MS}ms \
                         (expire is {}ms)",
                        tk.name, tk.expire_ms
                    ));
                }
            }
        }

        let mut authfile = self.authfile;
        if let (Some((false, line)), Some(file)) = (self.enable_authfile, &authfile) {
            // Red Hat's binaries ignore the file then; so do we, never silently.
            self.warnings.push(format!(
                "{}: enable-authfile = no (config file line {line}): the authfile {} is not \
                 used: this member runs without authentication as Red Hat's booth does with \
                 this file; set enable-authfile = yes (on every member) to authenticate with it",
                path.display(),
                file.display()
            ));
            authfile = None;
        }

        Ok(Config {
            path: path.to_path_buf(),
            name,
            transport: self.transport.unwrap_or(Transport::Udp),
            port: self.port,
            authfile,
            enable_authfile: self.enable_authfile.map(|(on, _)| on),
            maxtimeskew: self.maxtimeskew,
            members: self.members,
            member_text: self.member_text,
            site_user: self.site_user,
            site_group: self.site_group,
            arbitrator_user: self.arbitrator_user,
            arbitrator_group: self.arbitrator_group,
            debug: self.debug,
            // Collected anew, not in place: the parser's sections are some
            // 200 bytes a ticket, the configuration keeps a pointer each.
            tickets: share_settings(&self.tickets),
            subsecond_times: self.subsecond,
            warnings: self.warnings,
        })
    }
}

/// The parsed tickets, those with equal settings sharing one copy of them
/// (see [`TicketConfig::settings`]).
fn share_settings(sections: &[Section]) -> Vec<Arc<TicketConfig>> {
    let mut seen: HashSet<Arc<TicketSettings>> = HashSet::new();
    sections
        .iter()
        .map(|t| {
            let settings = Arc::new(t.clone().into_settings());
            let settings = match seen.get(&settings) {
                Some(s) => s.clone(),
                None => {
                    seen.insert(settings.clone());
                    settings
                }
            };
            Arc::new(TicketConfig {
                name: t.name.as_str().into(),
                settings,
            })
        })
        .collect()
}
