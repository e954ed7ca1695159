//! Command line: turns argv into an [`Invocation`] value and runs nothing.
//!
//! One binary serves as the daemon (`boothd daemon`), the ticket client
//! (`booth list|grant|revoke|peers`), the status probe (`boothd status`) and,
//! when started under a name ending in `geostore`, the attribute client.
//! Mode selection, option restrictions, error texts and exit codes follow the
//! C booth so that scripts (OCF agent, LSB script, systemd units, geo_attr.sh)
//! keep working; the few deliberate differences are listed in
//! `doc/compatibility.md` (section "Command line").
//!
//! Options act one by one from the left, as with C's getopt loop: the first
//! offending option (a restriction, a too long value, an unknown option or
//! a missing argument) decides the message, and `-h` before it prints help.
//!
//! Parsing does no I/O: `-s` host names are kept as given (the client
//! resolves them), `-c` is only turned into a path string, nothing is opened.

use std::path::PathBuf;

use crate::config::{config_path_from_arg, DEFAULT_CONFIG, DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_EXT};
use crate::wire::{NAME_FIELD_LEN, OPT_IMMEDIATE, OPT_WAIT, OPT_WAIT_COMMIT, VALUE_FIELD_LEN};

mod getopt;
#[cfg(test)]
mod tests;
mod usage;

pub use usage::{booth_usage, geostore_usage};

/// Length limit of paths (`-c` path form, `-l`): PATH_MAX minus the NUL.
/// As in C, an accepted value is shorter than each of these limits.
pub const MAX_PATH_LEN: usize = 4095;
/// Length limit of a `-c` name: the path limit minus `/etc/booth/` and `.conf`.
pub const MAX_CONFIG_NAME_LEN: usize =
    MAX_PATH_LEN - DEFAULT_CONFIG_DIR.len() - DEFAULT_CONFIG_EXT.len();
/// Length limit of ticket, site and attribute names (63, the capacity of a
/// 64-byte wire field without its NUL; names are at most 62 characters).
pub const MAX_NAME_LEN: usize = NAME_FIELD_LEN - 1;
/// Length limit of attribute values (127: a 128-byte wire field minus the NUL).
pub const MAX_ATTR_VALUE_LEN: usize = VALUE_FIELD_LEN - 1;

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Print `text` verbatim on stdout and exit 0. `geostore` tells which
    /// usage text it is.
    Help { text: String, geostore: bool },
    /// Print the string verbatim on stdout (it ends in a newline) and exit 0.
    Version(String),
    /// `boothd daemon|start|site|arbitrator`.
    Daemon(DaemonArgs),
    /// `boothd status`.
    Status(StatusArgs),
    /// `booth list|grant|revoke|peers` (optionally after the word `client`).
    Client(ClientArgs),
    /// `geostore list|set|get|delete`.
    Geostore(GeostoreArgs),
    /// `boothd config-check`: validate a configuration and exit.
    ConfigCheck(ConfigCheckArgs),
}

/// The outcome of a command line that ends the program right away (usage
/// errors): print `stdout` and `stderr` verbatim, exit with `code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliExit {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliExit {
    /// A usage error: one message line on stderr, exit 1.
    fn error(msg: impl Into<String>) -> CliExit {
        let mut stderr = msg.into();
        stderr.push('\n');
        CliExit {
            code: 1,
            stdout: String::new(),
            stderr,
        }
    }

    /// The usage text on stdout with exit status 1 (C: `-t` where no ticket
    /// is expected, `booth client` without an operation).
    fn usage_failure(geostore: bool) -> CliExit {
        CliExit {
            code: 1,
            stdout: usage_text(geostore),
            stderr: String::new(),
        }
    }
}

fn usage_text(geostore: bool) -> String {
    if geostore {
        geostore_usage()
    } else {
        booth_usage()
    }
}

fn help(geostore: bool) -> Invocation {
    Invocation::Help {
        text: usage_text(geostore),
        geostore,
    }
}

/// The configuration named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigChoice {
    /// The `-c` value exactly as given (the OCF agent finds the daemon by
    /// looking for this string in its command line); `None` without `-c`.
    pub arg: Option<String>,
    /// The file to read: [`DEFAULT_CONFIG`], or the `-c` value resolved by
    /// the short-name rule.
    pub path: PathBuf,
}

impl Default for ConfigChoice {
    fn default() -> Self {
        ConfigChoice {
            arg: None,
            path: PathBuf::from(DEFAULT_CONFIG),
        }
    }
}

/// The `-s` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteArg {
    /// `-s other`: the one site that is not the local one.
    Other,
    /// An address or host name, unresolved. The C client replaces a name
    /// that resolves (AF_INET) by its dotted IPv4 string before comparing it
    /// with the configured addresses; that is the client's job, not ours.
    Name(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientOp {
    List,
    Grant,
    Revoke,
    Peers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeoOp {
    List,
    Set,
    Get,
    Delete,
}

/// `boothd daemon|start|site|arbitrator [options]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonArgs {
    pub config: ConfigChoice,
    /// Number of `-D` options.
    pub debug: u32,
    /// `-l`: lock/PID file; `None` means the default derived from the
    /// configuration name.
    pub lockfile: Option<PathBuf>,
    /// `-S`: stay in the foreground and log to stderr.
    pub foreground: bool,
    /// `-s`: which configured member this daemon is (by address string),
    /// instead of finding it among the local interface addresses. Lets
    /// several daemons share one host (127.0.0.1, .2, .3). `other` means
    /// nothing here; the daemon rejects it.
    pub site: Option<SiteArg>,
    /// `--state-dir DIR`: keep ticket state in files under DIR instead of
    /// Pacemaker's CIB (through `crm_ticket`). Not a C booth option.
    pub state_dir: Option<PathBuf>,
    /// `--alerts-dir DIR`: where the alert agents are (default
    /// `/etc/booth/alerts.d/<config name>/`). Not a C booth option.
    pub alerts_dir: Option<PathBuf>,
}

/// `boothd status [options]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusArgs {
    pub config: ConfigChoice,
    pub debug: u32,
    /// `-l`: lock/PID file to inspect.
    pub lockfile: Option<PathBuf>,
    /// `-S`: also explain the result in human-readable lines on stderr.
    pub explain: bool,
    /// `--json`: one JSON document on stdout (not a C booth option).
    pub json: bool,
}

/// `booth list|grant|revoke|peers [options] [ticket]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientArgs {
    pub op: ClientOp,
    pub config: ConfigChoice,
    pub debug: u32,
    /// `-s`: the daemon to talk to (grant/revoke: the site to act on).
    pub site: Option<SiteArg>,
    /// From `-t` or the positional argument; `None` if not given (or given
    /// empty), so that the client can apply the single-ticket default or say
    /// "No ticket given.". For list/peers a positional argument is accepted
    /// (as in C) and lands here, but has no meaning.
    pub ticket: Option<String>,
    /// `-F` (grant only).
    pub immediate: bool,
    /// `-w` (grant/revoke), also set by `-C`.
    pub wait: bool,
    /// `-C` (grant only).
    pub wait_commit: bool,
    /// `--json` (list and peers only; not a C booth option).
    pub json: bool,
}

impl ClientArgs {
    /// The request header's `options` bits.
    pub fn wire_options(&self) -> u32 {
        let mut bits = 0;
        if self.immediate {
            bits |= OPT_IMMEDIATE;
        }
        if self.wait {
            bits |= OPT_WAIT;
        }
        if self.wait_commit {
            bits |= OPT_WAIT_COMMIT;
        }
        bits
    }
}

/// `geostore list|set|get|delete [options] [attr [value]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeostoreArgs {
    pub op: GeoOp,
    pub config: ConfigChoice,
    pub debug: u32,
    pub site: Option<SiteArg>,
    /// `-t`: the ticket the attributes belong to; `None` if not given.
    pub ticket: Option<String>,
    /// Attribute name: `Some` for set/get/delete, `None` for list.
    pub attr_name: Option<String>,
    /// Attribute value: `Some` for set only.
    pub attr_value: Option<String>,
}

/// `boothd config-check [-c conf] [-D]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigCheckArgs {
    pub config: ConfigChoice,
    pub debug: u32,
}

/// Which of the program's personalities argv selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Daemon,
    Status,
    Client(ClientOp),
    Geostore(GeoOp),
    ConfigCheck,
}

/// Words of argv[1] that start the daemon; the role (site or arbitrator)
/// comes from the configuration, not from the word.
const DAEMON_WORDS: [&str; 4] = ["arbitrator", "site", "start", "daemon"];

/// Parses a full argv (`argv[0]` included).
pub fn parse(argv: &[String]) -> Result<Invocation, CliExit> {
    let argv0 = argv.first().map(String::as_str).unwrap_or("boothd");
    let arg1 = argv.get(1).map(String::as_str);

    // Mode selection, in the C order. `op` is the operation word (client
    // and geostore), `first_opt` the index where options may start.
    let geostore = argv0.ends_with("geostore");
    let (op, first_opt, kind) = if geostore {
        (arg1, 2, Kind::Geostore)
    } else {
        match arg1 {
            Some(w) if DAEMON_WORDS.contains(&w) => (None, 2, Kind::Daemon),
            Some("status") => (None, 2, Kind::Status),
            Some("config-check") => (None, 2, Kind::ConfigCheck),
            Some("client") => match argv.get(2) {
                Some(op) => (Some(op.as_str()), 3, Kind::Client),
                None => return Err(CliExit::usage_failure(false)),
            },
            _ => (arg1, 2, Kind::Client),
        }
    };

    if matches!(arg1, None | Some("help" | "--help" | "-h")) {
        return Ok(help(geostore));
    }
    if matches!(arg1, Some("version" | "--version" | "-V")) {
        return Ok(Invocation::Version(format!(
            "{argv0} {}\n",
            env!("CARGO_PKG_VERSION")
        )));
    }

    let mode = match (kind, op.unwrap_or_default()) {
        (Kind::Daemon, _) => Mode::Daemon,
        (Kind::Status, _) => Mode::Status,
        (Kind::ConfigCheck, _) => Mode::ConfigCheck,
        (Kind::Client, "list") => Mode::Client(ClientOp::List),
        (Kind::Client, "grant") => Mode::Client(ClientOp::Grant),
        (Kind::Client, "revoke") => Mode::Client(ClientOp::Revoke),
        (Kind::Client, "peers") => Mode::Client(ClientOp::Peers),
        (Kind::Client, other) => {
            return Err(CliExit::error(format!(
                "client operation \"{other}\" is unknown"
            )))
        }
        (Kind::Geostore, "list") => Mode::Geostore(GeoOp::List),
        (Kind::Geostore, "set") => Mode::Geostore(GeoOp::Set),
        (Kind::Geostore, "get") => Mode::Geostore(GeoOp::Get),
        (Kind::Geostore, "delete") => Mode::Geostore(GeoOp::Delete),
        (Kind::Geostore, other) => {
            return Err(CliExit::error(format!(
                "attribute operation \"{other}\" is unknown"
            )))
        }
    };

    let rest = argv.get(first_opt..).unwrap_or_default();
    parse_options(argv0, mode, rest)
}

/// Mode family before the operation word is checked.
#[derive(Clone, Copy)]
enum Kind {
    Daemon,
    Status,
    Client,
    Geostore,
    ConfigCheck,
}

/// Short options (getopt letters) and whether they take an argument.
pub(crate) struct OptSpec {
    letter: char,
    takes_arg: bool,
}

const fn opt(letter: char, takes_arg: bool) -> OptSpec {
    OptSpec { letter, takes_arg }
}

/// C's `c:Dl:t:s:FhSwC`, valid in every booth mode (restrictions are
/// checked per option below, as C does).
const BOOTH_OPTS: &[OptSpec] = &[
    opt('c', true),
    opt('D', false),
    opt('l', true),
    opt('t', true),
    opt('s', true),
    opt('F', false),
    opt('h', false),
    opt('S', false),
    opt('w', false),
    opt('C', false),
];
/// C's `c:Dt:s:h` for geostore.
const GEOSTORE_OPTS: &[OptSpec] = &[
    opt('c', true),
    opt('D', false),
    opt('t', true),
    opt('s', true),
    opt('h', false),
];
/// Ours: the config check needs only the file and the debug level.
const CONFIG_CHECK_OPTS: &[OptSpec] = &[opt('c', true), opt('D', false), opt('h', false)];
/// Long options only the daemon understands (C booth has no long options).
const STATE_DIR: &str = "state-dir";
const ALERTS_DIR: &str = "alerts-dir";
/// Ours too: for `booth list|peers` and `boothd status`.
const JSON: &str = "json";

/// One option occurrence, in command-line order.
struct Occurrence {
    /// Short letter, or `None` for a long option.
    letter: Option<char>,
    /// The long option's name (when `letter` is `None`).
    long: &'static str,
    value: Option<String>,
}

/// Everything the options and positional arguments set, before it is
/// shaped into the mode's argument struct.
#[derive(Default)]
struct Collected {
    config: ConfigChoice,
    debug: u32,
    lockfile: Option<PathBuf>,
    foreground: bool,
    site: Option<SiteArg>,
    ticket: Option<String>,
    immediate: bool,
    wait: bool,
    wait_commit: bool,
    state_dir: Option<PathBuf>,
    alerts_dir: Option<PathBuf>,
    json: bool,
    attr_name: Option<String>,
    attr_value: Option<String>,
}

fn parse_options(argv0: &str, mode: Mode, args: &[String]) -> Result<Invocation, CliExit> {
    let geostore = matches!(mode, Mode::Geostore(_));
    let (specs, daemon) = option_table(mode);
    let json = takes_json(mode);
    let mut c = Collected::default();
    let (occurrences, free) = match getopt::scan(specs, daemon, json, args) {
        Ok(found) => found,
        Err(fail) => {
            // C's getopt reports an unknown option or a missing argument
            // only when it gets there: the options before it act first
            // (`-h` prints the usage, a misplaced `-F` or a too long value
            // is reported). Operands are never reached.
            let failure = getopt::failure(argv0, &fail);
            let before = getopt::before_failure(args, specs, daemon, json);
            if let Some(Ok((earlier, _))) = before.map(|b| getopt::scan(specs, daemon, json, &b)) {
                for occ in earlier {
                    if apply_option(mode, &mut c, occ)? == Flow::Help {
                        return Ok(help(geostore));
                    }
                }
            }
            return Err(failure);
        }
    };
    for occ in occurrences {
        if apply_option(mode, &mut c, occ)? == Flow::Help {
            return Ok(help(geostore));
        }
    }
    apply_operands(mode, &mut c, &free)?;
    Ok(build(mode, c))
}

/// The mode's option letters, and whether `--state-dir` exists.
fn option_table(mode: Mode) -> (&'static [OptSpec], bool) {
    let specs = match mode {
        Mode::Geostore(_) => GEOSTORE_OPTS,
        Mode::ConfigCheck => CONFIG_CHECK_OPTS,
        _ => BOOTH_OPTS,
    };
    (specs, mode == Mode::Daemon)
}

/// Whether the mode accepts `--json`.
fn takes_json(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Client(ClientOp::List | ClientOp::Peers) | Mode::Status
    )
}

/// Whether option processing goes on after an option.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    /// `-h`: print the usage and stop, whatever else was given later.
    Help,
}

/// Acts on one option, with C's per-mode restrictions.
fn apply_option(mode: Mode, c: &mut Collected, occ: Occurrence) -> Result<Flow, CliExit> {
    let geostore = matches!(mode, Mode::Geostore(_));
    let value = occ.value.unwrap_or_default();
    let Some(letter) = occ.letter else {
        // Long options exist only where getopts accepted them.
        match occ.long {
            STATE_DIR => c.state_dir = Some(PathBuf::from(value)),
            ALERTS_DIR => c.alerts_dir = Some(PathBuf::from(value)),
            _ => c.json = true,
        }
        return Ok(Flow::Continue);
    };
    match letter {
        'c' => c.config = config_choice(&value)?,
        'D' => c.debug = c.debug.saturating_add(1),
        'S' => c.foreground = true,
        'l' => {
            check_len(&value, MAX_PATH_LEN, "lock file")?;
            c.lockfile = Some(PathBuf::from(value));
        }
        't' => match mode {
            Mode::Client(ClientOp::Grant | ClientOp::Revoke) | Mode::Geostore(_) => {
                check_len(&value, MAX_NAME_LEN, "ticket name")?;
                // An empty -t counts as none, as in C (the positional
                // argument may still supply the ticket).
                c.ticket = (!value.is_empty()).then_some(value);
            }
            _ => return Err(CliExit::usage_failure(geostore)),
        },
        's' => match mode {
            Mode::Client(_) | Mode::Geostore(_) | Mode::Daemon => {
                check_len(&value, MAX_NAME_LEN, "site name")?;
                c.site = Some(if value == "other" {
                    SiteArg::Other
                } else {
                    SiteArg::Name(value)
                });
            }
            // C says "daemon mode" here too; name the mode actually used.
            _ => return Err(CliExit::error("\"-s\" not allowed in status mode.")),
        },
        'F' => match mode {
            Mode::Client(ClientOp::Grant) => c.immediate = true,
            _ => return Err(CliExit::error("use \"-F\" only for client grant")),
        },
        'w' => match mode {
            Mode::Client(ClientOp::Grant | ClientOp::Revoke) => c.wait = true,
            _ => return Err(CliExit::error("use \"-w\" only for grant and revoke")),
        },
        'C' => match mode {
            Mode::Client(ClientOp::Grant) => {
                c.wait = true;
                c.wait_commit = true;
            }
            _ => return Err(CliExit::error("use \"-C\" only for grant")),
        },
        'h' => return Ok(Flow::Help),
        other => unreachable!("option -{other} is not in any option table"),
    }
    Ok(Flow::Continue)
}

/// Positional arguments left after the options.
fn apply_operands(mode: Mode, c: &mut Collected, free: &[String]) -> Result<(), CliExit> {
    let mut rest = free.iter();
    let mut next = |descr: &str, max: usize| -> Result<String, CliExit> {
        let v = rest
            .next()
            .ok_or_else(|| CliExit::error("not enough arguments"))?;
        check_len(v, max, descr)?;
        Ok(v.clone())
    };
    match mode {
        // The ticket is optional here: without it the client applies the
        // single-ticket default.
        Mode::Client(_) if c.ticket.is_none() && !free.is_empty() => {
            let t = next("ticket name", MAX_NAME_LEN)?;
            c.ticket = (!t.is_empty()).then_some(t);
        }
        Mode::Geostore(op) => {
            // C sends a request with an empty name when the name is
            // missing; we insist on it.
            if op != GeoOp::List {
                c.attr_name = Some(next("attribute name", MAX_NAME_LEN)?);
            }
            if op == GeoOp::Set {
                c.attr_value = Some(next("attribute value", MAX_ATTR_VALUE_LEN)?);
            }
        }
        _ => {}
    }
    let left: Vec<&String> = rest.collect();
    match left.as_slice() {
        [] => Ok(()),
        [one] => Err(CliExit::error(format!("Superfluous argument: {one}"))),
        // C names only the first of several.
        [first, ..] => Err(CliExit::error(format!("Superfluous arguments: {first}..."))),
    }
}

fn build(mode: Mode, c: Collected) -> Invocation {
    match mode {
        Mode::Daemon => Invocation::Daemon(DaemonArgs {
            config: c.config,
            debug: c.debug,
            lockfile: c.lockfile,
            foreground: c.foreground,
            site: c.site,
            state_dir: c.state_dir,
            alerts_dir: c.alerts_dir,
        }),
        Mode::Status => Invocation::Status(StatusArgs {
            config: c.config,
            debug: c.debug,
            lockfile: c.lockfile,
            explain: c.foreground,
            json: c.json,
        }),
        // -l and -S are accepted in client mode (as in C) but mean nothing.
        Mode::Client(op) => Invocation::Client(ClientArgs {
            op,
            config: c.config,
            debug: c.debug,
            site: c.site,
            ticket: c.ticket,
            immediate: c.immediate,
            wait: c.wait,
            wait_commit: c.wait_commit,
            json: c.json,
        }),
        Mode::Geostore(op) => Invocation::Geostore(GeostoreArgs {
            op,
            config: c.config,
            debug: c.debug,
            site: c.site,
            ticket: c.ticket,
            attr_name: c.attr_name,
            attr_value: c.attr_value,
        }),
        Mode::ConfigCheck => Invocation::ConfigCheck(ConfigCheckArgs {
            config: c.config,
            debug: c.debug,
        }),
    }
}

/// A `-c` value: C's length limit for its form (path or short name), then
/// the file it names by the configuration layer's rule.
fn config_choice(arg: &str) -> Result<ConfigChoice, CliExit> {
    if arg.contains('/') {
        check_len(arg, MAX_PATH_LEN, "config file")?;
    } else {
        check_len(arg, MAX_CONFIG_NAME_LEN, "config name")?;
    }
    Ok(ConfigChoice {
        arg: Some(arg.to_string()),
        path: config_path_from_arg(arg),
    })
}

/// C's length check (`safe_copy`) and message: `limit` is the capacity of
/// C's buffer without its NUL, and a value must be *shorter* than it. A
/// name of exactly 63 characters would fit the wire field, but C refuses it
/// here, and scripts written for C must get the same verdict from us.
fn check_len(value: &str, limit: usize, descr: &str) -> Result<(), CliExit> {
    if value.len() >= limit {
        return Err(CliExit::error(format!(
            "'{value}' exceeds maximum {descr} length of {limit}"
        )));
    }
    Ok(())
}
