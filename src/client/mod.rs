//! The `booth` client (`list`, `peers`, `grant`, `revoke`) and `geostore`
//! (`list`, `set`, `get`, `delete`): load the configuration, choose the
//! daemon, send one request over TCP and report the replies with the C
//! client's texts and exit statuses (spec client.md §2–§6, §8–§10).
//!
//! Entry points: [`run_client`] and [`run_geostore`] (and their `_with`
//! variants taking [`ClientSettings`]). They never panic on bad input or a
//! misbehaving daemon and write only to the `out` (list/peers/attribute
//! text) and `err` (messages, one plain line each) writers they are given.
//!
//! The local member is found by the caller-supplied `local` function
//! (interface matching with subnet tolerance lives elsewhere). It only
//! supplies the default target and the request's `from` field.
//!
//! Where this client deliberately differs from the C client:
//!
//! * **No local site**: C crashes; we print [`target::NO_LOCAL_SITE`] and
//!   exit 1 unless `-s` names the target, in which case `from` is 0 (daemons
//!   never check it).
//! * **Read timeout**: C reads replies without any timeout, so without `-w`
//!   it can hang forever (e.g. when another site wins the election it
//!   started). We wait at most the *reply timeout* for each reply: by
//!   default the longer of 30 s and two election rounds (twice the longest
//!   ticket `timeout` of the configuration); [`ClientSettings`] can fix it.
//!   With `-w` or `-C` a grant/revoke waits indefinitely, as asked. On a
//!   timeout the client says so and exits 1; if the daemon had already
//!   acknowledged the request it adds that the outcome may still change
//!   and should be checked with `booth list`.
//! * **Request size**: list, peers, geostore list and get requests are sent
//!   with exactly `length` bytes. The C client sends the whole C structure
//!   (28 zero bytes more) when authentication is off; daemons ignore bytes
//!   beyond `length` (the C daemon reads only `length` bytes), so both
//!   forms work with every daemon.
//! * **Reply framing**: replies are framed by their `length` field instead
//!   of C's fixed read sizes, and magic/version are checked for every reply.
//!   Header-only results are therefore read whole whatever the daemon's
//!   authentication setting.
//! * **Untrusted or cut-short replies**: like C, the client reports the
//!   `result` of a reply that failed authentication or whose connection
//!   closed early, and exits 1; unlike C it reports only failure codes from
//!   such replies (never "succeeded").
//! * **Unknown result codes** are printed (`got an error code: <code>`, the
//!   four characters or hex); C printed a constant 0 (README bug 38).
//! * **A grant lost to another site**: if a `Fail` result's ticket body names
//!   another configured site as the leader, the message is
//!   `grant failed! (ticket granted to <addr>)` (exit 1 as C's plain
//!   `grant failed!`).
//! * **Redirects** are followed at most [`MAX_REDIRECTS`] times (C loops
//!   forever between daemons that redirect to each other).
//! * **Early-error exit statuses** follow upstream HEAD (1), not Debian's
//!   9d4029a (0).
//! * Geostore set/delete replies with authentication are read correctly;
//!   9d4029a's client misreads them and reports "failed to authenticate"
//!   (README 9d4029a item 2). Nothing needs to change on the wire for that.
//! * Configuration warnings (e.g. an even number of members) are not
//!   repeated by the clients.

use std::io::Write;

use crate::wire::Rlt;
use std::time::{Duration, SystemTime};

use crate::cli::{ClientArgs, ClientOp, ConfigChoice, GeoOp, GeostoreArgs};
use crate::config::{Config, Member};
use crate::wire::codes::{ATTR_DEL, ATTR_GET, ATTR_LIST, ATTR_SET, CMD_GRANT, CMD_LIST};
use crate::wire::codes::{CMD_PEERS, CMD_REVOKE};
use crate::wire::{
    encode_attr_msg, encode_ticket_msg, AttrBody, AttrMsg, AuthKey, Header, Reply, TicketBody,
    TicketMsg, Timestamp,
};

mod conn;
pub mod json;
pub mod outcome;
pub mod target;
#[cfg(test)]
mod tests;

use conn::{Conn, ReadError};
use outcome::{attr_failure_lines, attr_result, query_result, CommandProgress, Step};
pub use target::{resolve_site_name, select_target, select_ticket, Operation, Refusal};

/// C's connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest default reply timeout (see the module docs).
pub const MIN_REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many redirects a grant/revoke follows before giving up.
pub const MAX_REDIRECTS: usize = 16;

/// Timing knobs of a client run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    /// How long to wait for each reply when not waiting indefinitely
    /// (`-w`/`-C`); `None`: derived from the configuration (module docs).
    pub reply_timeout: Option<Duration>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            connect_timeout: CONNECT_TIMEOUT,
            reply_timeout: None,
        }
    }
}

/// Finds the local member of a configuration (index into `members`).
pub type LocalFinder<'a> = &'a dyn Fn(&Config) -> Option<usize>;

/// `booth list|peers|grant|revoke`; returns the exit status.
pub fn run_client(
    args: &ClientArgs,
    local: LocalFinder<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    run_client_with(args, local, &ClientSettings::default(), out, err)
}

/// [`run_client`] with explicit settings.
pub fn run_client_with(
    args: &ClientArgs,
    local: LocalFinder<'_>,
    settings: &ClientSettings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let session = match Session::start(&args.config, local, settings, err) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut run = Run { session, out, err };
    run.client(args)
}

/// `geostore list|set|get|delete`; returns the exit status.
pub fn run_geostore(
    args: &GeostoreArgs,
    local: LocalFinder<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    run_geostore_with(args, local, &ClientSettings::default(), out, err)
}

/// [`run_geostore`] with explicit settings.
pub fn run_geostore_with(
    args: &GeostoreArgs,
    local: LocalFinder<'_>,
    settings: &ClientSettings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let session = match Session::start(&args.config, local, settings, err) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut run = Run { session, out, err };
    run.geostore(args)
}

/// The default reply timeout for a configuration: two election rounds of
/// the slowest ticket, but at least [`MIN_REPLY_TIMEOUT`].
pub fn default_reply_timeout(config: &Config) -> Duration {
    let longest_round = config.tickets.iter().map(|t| t.timeout).max();
    longest_round
        .map(|t| t.saturating_mul(2))
        .map_or(MIN_REPLY_TIMEOUT, |t| t.max(MIN_REPLY_TIMEOUT))
}

/// What every client run needs after start-up (client.md §2).
struct Session {
    config: Config,
    key: Option<AuthKey>,
    local: Option<usize>,
    connect_timeout: Duration,
    reply_timeout: Duration,
}

impl Session {
    fn start(
        choice: &ConfigChoice,
        local: LocalFinder<'_>,
        settings: &ClientSettings,
        err: &mut dyn Write,
    ) -> Result<Session, i32> {
        let fail = |err: &mut dyn Write, why: &dyn std::fmt::Display| {
            say(err, why);
            say(err, &"cannot read config");
            1
        };
        let config = Config::load(&choice.path).map_err(|e| fail(err, &e))?;
        let key = match config.read_authkey() {
            Ok(None) => None,
            Ok(Some(bytes)) => Some(AuthKey::new(&bytes).map_err(|e| fail(err, &e))?),
            Err(e) => return Err(fail(err, &e)),
        };
        let local = local(&config).filter(|&i| i < config.members.len());
        let reply_timeout = settings
            .reply_timeout
            .unwrap_or_else(|| default_reply_timeout(&config));
        // Sockets refuse zero timeouts; the shortest one means "do not wait".
        let at_least = |d: Duration| d.max(Duration::from_millis(1));
        Ok(Session {
            config,
            key,
            local,
            connect_timeout: at_least(settings.connect_timeout),
            reply_timeout: at_least(reply_timeout),
        })
    }

    /// The request's `from`: the local site's id, or 0 when the client runs
    /// elsewhere and was told the target with `-s`.
    fn from(&self) -> u32 {
        self.local.map_or(0, |i| self.config.members[i].site_id)
    }

    /// Signing parameters for a request built now.
    fn signing(&self) -> Option<(&AuthKey, Timestamp)> {
        let now = Timestamp::from_system_time(SystemTime::now());
        self.key.as_ref().map(|k| (k, now))
    }

    fn member(&self, index: usize) -> &Member {
        &self.config.members[index]
    }

    /// Connects to the target and writes the request; errors are the
    /// message to show.
    fn send_to(
        &self,
        target: usize,
        read_timeout: Option<Duration>,
        request: &[u8],
    ) -> Result<Conn<'_>, String> {
        let member = self.member(target);
        let mut conn = Conn::open(
            member,
            member.port,
            self.connect_timeout,
            read_timeout,
            self.key.as_ref(),
            self.config.maxtimeskew,
        )?;
        conn.send(request)?;
        Ok(conn)
    }
}

/// What to print of a text reply.
#[derive(Clone, Copy)]
enum Print {
    Nothing,
    Text,
    /// The JSON document of `booth list|peers --json`.
    Json(ClientOp),
}

/// Our daemon's JSON document as it came; a C daemon's text (which never
/// starts with `{`) converted, its hidden fields `null` (json.rs).
fn json_reply(op: ClientOp, text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let trimmed = text.trim_end_matches(['\n', '\0']);
    if trimmed.starts_with('{') {
        trimmed.to_string()
    } else if op == ClientOp::List {
        json::list_from_text(&text)
    } else {
        json::peers_from_text(&text).render()
    }
}

/// How one grant/revoke connection ended.
enum Ending {
    Exit(i32),
    /// The daemon named the site (id) that can do it.
    Redirect(u32),
}

/// One client run: the session and the output streams.
struct Run<'a> {
    session: Session,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

fn say(err: &mut dyn Write, line: &dyn std::fmt::Display) {
    // Nothing sensible is left to do if stderr is gone.
    let _ = writeln!(err, "{line}");
}

/// A duration as a message shows it.
fn shown(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

impl Run<'_> {
    fn say(&mut self, line: &dyn std::fmt::Display) {
        say(self.err, line);
    }

    fn say_all(&mut self, lines: &[String]) {
        for l in lines {
            self.say(l);
        }
    }

    fn refuse(&mut self, r: Refusal) -> i32 {
        self.say(&r.message);
        r.exit_code
    }

    fn client(&mut self, args: &ClientArgs) -> i32 {
        let site = args.site.as_ref().map(resolve_site_name);
        let op = Operation::Client(args.op);
        let target =
            match select_target(&self.session.config, self.session.local, site.as_ref(), op) {
                Ok(t) => t,
                Err(r) => return self.refuse(r),
            };
        match args.op {
            ClientOp::List | ClientOp::Peers => self.query(args, target),
            ClientOp::Grant | ClientOp::Revoke => {
                let ticket = match select_ticket(&self.session.config, args.ticket.as_deref()) {
                    Ok(t) => t,
                    Err(r) => return self.refuse(r),
                };
                self.command(args, target, &ticket)
            }
        }
    }

    /// `booth list` / `booth peers`: one text reply.
    fn query(&mut self, args: &ClientArgs, target: usize) -> i32 {
        let cmd = if args.op == ClientOp::List {
            CMD_LIST
        } else {
            CMD_PEERS
        };
        // A ticket named on the command line is sent along (and ignored by
        // the daemon), as C does.
        let ticket = args.ticket.clone().unwrap_or_default();
        let json_bit = if args.json { json::OPT_JSON } else { 0 };
        let request = TicketMsg {
            header: Header {
                options: args.wire_options() | json_bit,
                ..Header::new(cmd, self.session.from())
            },
            body: TicketBody {
                name: ticket.clone(),
                ..TicketBody::default()
            },
        };
        let bytes = match encode_ticket_msg(&request, self.session.signing()) {
            Ok(b) => b,
            Err(e) => return self.cannot_build(&e),
        };
        let failure = |result| query_result(args.op, result, &ticket).0;
        let print = if args.json {
            Print::Json(args.op)
        } else {
            Print::Text
        };
        match self.exchange_once(target, &bytes, print, &failure) {
            Ok(result) => {
                let (lines, code) = query_result(args.op, result, &ticket);
                self.say_all(&lines);
                code
            }
            Err(code) => code,
        }
    }

    /// Connects, sends, reads one reply and prints its text as `print` says.
    /// Returns the reply's result code, or the exit status after a failure
    /// (already reported, including what `failure` makes of a result that
    /// arrived in an untrusted or incomplete reply).
    fn exchange_once(
        &mut self,
        target: usize,
        request: &[u8],
        print: Print,
        failure: &dyn Fn(Rlt) -> Vec<String>,
    ) -> Result<Rlt, i32> {
        let timeout = self.session.reply_timeout;
        let reply = {
            let mut conn = match self.session.send_to(target, Some(timeout), request) {
                Ok(c) => c,
                Err(m) => {
                    self.say(&m);
                    return Err(1);
                }
            };
            let peer = conn.peer().to_string();
            match conn.read_reply() {
                Ok(r) => r,
                Err(e) => {
                    let lines = read_failure_lines(&e, &peer, timeout, None);
                    self.say_all(&lines);
                    if let Some(h) = e.header() {
                        self.say_all(&failure(h.result));
                    }
                    return Err(1);
                }
            }
        };
        Ok(match reply {
            Reply::Text { header, text } => {
                // Nothing useful can be done if stdout is gone.
                match print {
                    // The text as the daemon formatted it.
                    Print::Text => {
                        let _ = self.out.write_all(&text).and_then(|()| self.out.flush());
                    }
                    Print::Json(op) => {
                        let doc = json_reply(op, &text);
                        let _ = writeln!(self.out, "{doc}").and_then(|()| self.out.flush());
                    }
                    Print::Nothing => {}
                }
                header.result
            }
            Reply::Result(h) => h.result,
            Reply::Ticket(m) => m.header.result,
        })
    }

    fn cannot_build(&mut self, e: &dyn std::fmt::Display) -> i32 {
        self.say(&format!("cannot build the request: {e}"));
        1
    }

    /// `booth grant` / `booth revoke`: the reply loop with redirects.
    fn command(&mut self, args: &ClientArgs, mut target: usize, ticket: &str) -> i32 {
        let cmd = if args.op == ClientOp::Grant {
            CMD_GRANT
        } else {
            CMD_REVOKE
        };
        let options = args.wire_options();
        let mut progress = CommandProgress::new(args.op, ticket, options);
        let read_timeout = (!args.wait).then_some(self.session.reply_timeout);
        let mut redirects = 0;
        loop {
            // A fresh header (timestamp) for every connection.
            let request = TicketMsg {
                header: Header {
                    options,
                    ..Header::new(cmd, self.session.from())
                },
                body: TicketBody {
                    name: ticket.to_string(),
                    ..TicketBody::default()
                },
            };
            let bytes = match encode_ticket_msg(&request, self.session.signing()) {
                Ok(b) => b,
                Err(e) => return self.cannot_build(&e),
            };
            match self.command_exchange(target, &bytes, read_timeout, &mut progress) {
                Ending::Exit(code) => return code,
                Ending::Redirect(leader) => {
                    let next = self
                        .session
                        .config
                        .members
                        .iter()
                        .position(|m| m.site_id == leader);
                    let Some(next) = next else {
                        self.say(&format!(
                            "Message with unknown redirect site {leader:x} received"
                        ));
                        return 1;
                    };
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        let addr = self.session.member(next).addr_string.clone();
                        self.say(&format!("too many redirects (last one to {addr})"));
                        return 1;
                    }
                    target = next;
                }
            }
        }
    }

    /// One connection of a grant/revoke: send, then read replies until the
    /// outcome is final or a redirect asks for another daemon.
    fn command_exchange(
        &mut self,
        target: usize,
        request: &[u8],
        read_timeout: Option<Duration>,
        progress: &mut CommandProgress,
    ) -> Ending {
        let session = &self.session;
        let err = &mut *self.err;
        let mut conn = match session.send_to(target, read_timeout, request) {
            Ok(c) => c,
            Err(m) => {
                say(err, &m);
                return Ending::Exit(1);
            }
        };
        let asked = session.member(target).site_id;
        loop {
            let reply = match conn.read_reply() {
                Ok(r) => r,
                Err(e) => {
                    let waiting = progress.in_progress().then_some(progress.op_word());
                    let timeout = read_timeout.unwrap_or_default();
                    for l in read_failure_lines(&e, conn.peer(), timeout, waiting) {
                        say(err, &l);
                    }
                    if let Some(h) = e.header() {
                        for l in progress.failure_lines(h.result) {
                            say(err, &l);
                        }
                    }
                    return Ending::Exit(1);
                }
            };
            let (result, leader) = match &reply {
                Reply::Ticket(m) => (m.header.result, Some(m.body.leader)),
                Reply::Result(h) => (h.result, None),
                Reply::Text { header, .. } => {
                    say(
                        err,
                        &format!(
                            "message from {} receive error: unexpected text reply (result {})",
                            conn.peer(),
                            crate::wire::codes::code_to_string(header.result)
                        ),
                    );
                    return Ending::Exit(1);
                }
            };
            let granted_to = leader
                .and_then(|id| session.config.member_by_id(id))
                .filter(|m| m.site_id != asked && m.is_site())
                .map(|m| m.addr_string.as_str());
            let mut lines = Vec::new();
            let step = progress.on_reply(result, leader, granted_to, &mut lines);
            for l in &lines {
                say(err, l);
            }
            match step {
                Step::ReadMore => {}
                Step::Exit(code) => return Ending::Exit(code),
                Step::Redirect(leader) => return Ending::Redirect(leader),
            }
        }
    }

    fn geostore(&mut self, args: &GeostoreArgs) -> i32 {
        // C checks the ticket before the site here.
        let ticket = match select_ticket(&self.session.config, args.ticket.as_deref()) {
            Ok(t) => t,
            Err(r) => return self.refuse(r),
        };
        let site = args.site.as_ref().map(resolve_site_name);
        let op = Operation::Geostore(args.op);
        let target =
            match select_target(&self.session.config, self.session.local, site.as_ref(), op) {
                Ok(t) => t,
                Err(r) => return self.refuse(r),
            };
        let cmd = match args.op {
            GeoOp::List => ATTR_LIST,
            GeoOp::Get => ATTR_GET,
            GeoOp::Set => ATTR_SET,
            GeoOp::Delete => ATTR_DEL,
        };
        let attr = args.attr_name.clone().unwrap_or_default();
        let request = AttrMsg {
            header: Header::new(cmd, self.session.from()),
            body: AttrBody {
                ticket: ticket.clone(),
                name: attr.clone(),
                value: args.attr_value.clone().unwrap_or_default(),
            },
        };
        let bytes = match encode_attr_msg(&request, self.session.signing()) {
            Ok(b) => b,
            Err(e) => return self.cannot_build(&e),
        };
        let print = if matches!(args.op, GeoOp::List | GeoOp::Get) {
            Print::Text
        } else {
            Print::Nothing
        };
        let failure = |result| attr_failure_lines(args.op, result, &ticket, &attr);
        match self.exchange_once(target, &bytes, print, &failure) {
            Ok(result) => {
                let (lines, code) = attr_result(args.op, result, &ticket, &attr);
                self.say_all(&lines);
                code
            }
            Err(code) => code,
        }
    }
}

/// Messages for a reply that could not be read. `waiting_for`: the
/// operation word when the daemon had already acknowledged a grant/revoke.
fn read_failure_lines(
    e: &ReadError,
    peer: &str,
    timeout: Duration,
    waiting_for: Option<&str>,
) -> Vec<String> {
    match e {
        ReadError::Broken { message, .. } => vec![message.clone()],
        ReadError::TimedOut { .. } => match waiting_for {
            None => vec![format!("no reply from {peer} within {}", shown(timeout))],
            Some(op) => vec![format!(
                "no further reply from {peer} within {}; the {op} may still complete. \
                 Please use \"booth list\" later to see the outcome.",
                shown(timeout)
            )],
        },
        ReadError::Auth { error, .. } => vec![format!("{peer}: failed to authenticate ({error})")],
        ReadError::Invalid { error } => vec![format!("message from {peer} receive error: {error}")],
    }
}
