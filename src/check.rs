//! `boothd config-check`: validate a configuration (and its key file)
//! before it is deployed, and show what the daemon would make of it.
//!
//! The file is read by the same code the daemon uses ([`Config::load`],
//! [`Config::read_authkey`]), so a file that passes here passes there too.
//! Findings go to stderr (`warning: …`, `error: …`); the summary of what
//! the file means goes to stdout, so that it can be compared between the
//! members of a cluster. Exit status 0 means the daemon would start with
//! this file, 1 that it would not.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::cli::ConfigCheckArgs;
use crate::config::{
    key_disables_c_auth, AttrOp, Config, ConfigError, GrantType, Member, TicketConfig, TicketMode,
    Transport,
};

/// What a check prints and its exit status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn warn(&mut self, text: &str) {
        let _ = writeln!(self.stderr, "warning: {text}");
    }

    /// Records a fatal finding. Fatal findings come before the summary is
    /// written, so a failed check prints nothing on stdout.
    fn fail(mut self, text: &str) -> Outcome {
        let _ = writeln!(self.stderr, "error: {text}");
        self.code = 1;
        self
    }
}

/// Runs the check, prints its findings and returns the exit status.
pub fn run(args: &ConfigCheckArgs) -> i32 {
    let outcome = check(args);
    // A closed stdout or stderr must not turn the verdict into a panic; the
    // exit status still tells the result.
    let _ = io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = io::stderr().write_all(outcome.stderr.as_bytes());
    outcome.code
}

fn check(args: &ConfigCheckArgs) -> Outcome {
    let path = &args.config.path;
    let mut out = Outcome::default();
    let cfg = match Config::load(path) {
        Ok(cfg) => cfg,
        Err(e) => return out.fail(&describe_config_error(&path.display().to_string(), &e)),
    };
    for w in &cfg.warnings {
        out.warn(w);
    }
    if cfg.transport == Transport::Sctp {
        return out.fail(&format!(
            "{}: transport SCTP is not supported; use UDP",
            path.display()
        ));
    }
    // The key reader's messages are the C booth's and name the file.
    let key = match cfg.read_authkey() {
        Ok(key) => key,
        Err(e) => return out.fail(&e.to_string()),
    };

    summarize(&mut out.stdout, &cfg, key.as_deref(), args.debug > 0);
    for m in &cfg.members {
        if let Err(e) = route_to(m) {
            out.warn(&format!(
                "{} {} port {} is unreachable from this host: {e}",
                m.kind.as_str(),
                m.addr_string,
                m.port
            ));
        }
    }
    if let (Some(file), None) = (&cfg.authfile, cfg.enable_authfile) {
        out.warn(&format!(
            "{}: authfile is set without enable-authfile: this member authenticates with {}, \
             but Red Hat's booth builds ignore authfile unless enable-authfile = yes, so RHEL \
             members with this file run without authentication and cannot talk to this one; \
             in a cluster with RHEL members add \"enable-authfile = yes\" (pcs booth \
             enable-authfile) on every member",
            path.display(),
            file.display()
        ));
    }
    if let (Some(file), Some(key)) = (&cfg.authfile, &key) {
        if key_disables_c_auth(key) {
            out.warn(&format!(
                "the key in {} starts with a zero byte: C booth members run WITHOUT \
                 AUTHENTICATION with such a key, while members of this implementation \
                 authenticate with it, so a cluster mixing both cannot talk; generate a new key",
                file.display()
            ));
        }
    }
    out
}

/// Whether this host has a route to member `m`: connecting a UDP socket
/// makes the kernel choose one, without sending anything (the check must
/// not disturb a running cluster, nor send traffic where none is wanted).
fn route_to(m: &Member) -> io::Result<()> {
    let any: IpAddr = match m.addr {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let sock = UdpSocket::bind(SocketAddr::new(any, 0))?;
    sock.connect(SocketAddr::new(m.addr, m.port))
}

/// The error as the daemon would report it, with the file in front of a
/// line error (which names only the line; errors opening or reading the
/// file name it already) and the key when the message does not mention it.
fn describe_config_error(file: &str, e: &ConfigError) -> String {
    let mut text = match e.line {
        Some(_) => format!("{file}: {e}"),
        None => e.to_string(),
    };
    if let Some(key) = e.key.as_deref() {
        if !e.message.contains(key) {
            let _ = write!(text, " (key \"{key}\")");
        }
    }
    text
}

/// The summary: one fact per line, members and tickets one per line in
/// file order. `detail` (`-D`) adds the keys that rarely matter.
fn summarize(s: &mut String, cfg: &Config, key: Option<&[u8]>, detail: bool) {
    let _ = writeln!(s, "config {}", cfg.path.display());
    let _ = writeln!(s, "name {}", cfg.name);
    let _ = writeln!(s, "transport UDP port {}", cfg.port);
    for m in &cfg.members {
        let _ = writeln!(s, "{}", member_line(m));
    }
    for t in &cfg.tickets {
        let _ = writeln!(s, "{}", ticket_line(t));
        if detail {
            for p in &t.attr_prereqs {
                let grant = match p.grant_type {
                    GrantType::Auto => "auto",
                    GrantType::Manual => "manual",
                };
                let op = match p.op {
                    AttrOp::Eq => "eq",
                    AttrOp::Ne => "ne",
                };
                let _ = writeln!(s, "  attr-prereq {grant} {} {op} {}", p.name, p.value);
            }
            if t.weights.iter().any(|&w| w != 0) {
                let weights: Vec<String> = t.weights.iter().map(i32::to_string).collect();
                let _ = writeln!(s, "  weights {}", weights.join(","));
            }
        }
    }
    match (&cfg.authfile, key) {
        (Some(file), Some(key)) => {
            let c_note = if key_disables_c_auth(key) {
                " (C booth members would run WITHOUT authentication with this key)"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "authentication on, key file {} ({} bytes){c_note}",
                file.display(),
                key.len()
            );
        }
        _ => {
            let _ = writeln!(s, "authentication off");
        }
    }
    if detail {
        let _ = writeln!(s, "maxtimeskew {}s", cfg.maxtimeskew);
        let _ = writeln!(
            s,
            "site-user {} site-group {}",
            cfg.site_user, cfg.site_group
        );
        let _ = writeln!(
            s,
            "arbitrator-user {} arbitrator-group {}",
            cfg.arbitrator_user, cfg.arbitrator_group
        );
        let _ = writeln!(s, "debug {}", cfg.debug);
        let unit = if cfg.subsecond_times {
            "milliseconds"
        } else {
            "seconds"
        };
        let _ = writeln!(s, "term_valid_for unit on the wire: {unit}");
        let _ = writeln!(s, "poll interval {}", time(cfg.poll_timeout()));
    }
}

/// `site 198.51.100.1 port 9929 id 584690490`.
fn member_line(m: &Member) -> String {
    format!(
        "{} {} port {} id {}",
        m.kind.as_str(),
        m.addr_string,
        m.port,
        m.site_id
    )
}

/// A ticket with its effective values (defaults and inheritance applied).
fn ticket_line(t: &TicketConfig) -> String {
    let mode = match t.mode {
        TicketMode::Auto => "auto",
        TicketMode::Manual => "manual",
    };
    let handler = match &t.before_acquire_handler {
        Some(argv) => argv.join(" "),
        None => "none".to_string(),
    };
    format!(
        "ticket {} expire {} timeout {} retries {} renewal-freq {} acquire-after {} \
         mode {mode} handler {handler}",
        t.name,
        time(t.expire),
        time(t.timeout),
        t.retries,
        time(t.renewal_freq),
        time(t.acquire_after),
    )
}

/// Whole seconds as `600s`, anything finer as `1500ms`.
fn time(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_coarsest_exact_unit() {
        assert_eq!(time(Duration::from_secs(600)), "600s");
        assert_eq!(time(Duration::ZERO), "0s");
        assert_eq!(time(Duration::from_millis(1500)), "1500ms");
    }

    fn line_error(line: usize, key: &str, message: &str) -> ConfigError {
        ConfigError {
            line: Some(line),
            key: Some(key.into()),
            message: message.into(),
        }
    }

    #[test]
    fn config_errors_name_file_line_and_key() {
        let e = line_error(3, "port", "invalid port \"x\"");
        assert_eq!(
            describe_config_error("b.conf", &e),
            "b.conf: invalid port \"x\" in config file line 3"
        );
        let e = line_error(
            4,
            "retries",
            "Expected plain integer value in the range [3, 100]",
        );
        assert_eq!(
            describe_config_error("b.conf", &e),
            "b.conf: Expected plain integer value in the range [3, 100] in config file \
             line 4 (key \"retries\")"
        );
        let e = ConfigError::new("failed to open b.conf: No such file or directory");
        assert_eq!(
            describe_config_error("b.conf", &e),
            "failed to open b.conf: No such file or directory"
        );
    }
}
