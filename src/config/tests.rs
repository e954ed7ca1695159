//! Parser tests, driven from configuration text.

use super::*;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// Host names resolve from a fixed table; everything else fails the way
/// the system resolver's lookup failure is reported.
struct FakeResolver(HashMap<&'static str, IpAddr>);

impl FakeResolver {
    fn new() -> FakeResolver {
        let mut map = HashMap::new();
        map.insert("alpha", "198.51.100.1".parse().unwrap());
        map.insert("alpha-again", "198.51.100.1".parse().unwrap());
        map.insert("beta", "2001:db8:0:0:0:0:0:2".parse().unwrap());
        FakeResolver(map)
    }
}

impl Resolver for FakeResolver {
    fn resolve(&self, host: &str) -> Result<IpAddr, String> {
        self.0
            .get(host)
            .copied()
            .ok_or_else(|| format!("can't find IP for the host \"{host}\""))
    }
}

const PATH: &str = "/etc/booth/booth.conf";

/// Three members, so that no "odd number" warning appears.
const MEMBERS: &str = "site = 10.0.0.1\nsite = 10.0.0.2\narbitrator = 10.0.0.3\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse_str(text, Path::new(PATH), &FakeResolver::new())
}

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(cfg) => cfg,
        Err(e) => panic!("unexpected error: {e}\n--- config ---\n{text}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(cfg) => panic!("accepted: {cfg:?}\n--- config ---\n{text}"),
        Err(e) => e,
    }
}

/// Asserts the error's message and line.
fn assert_err(text: &str, line: usize, message: &str) {
    let e = err(text);
    assert_eq!(e.message, message, "config:\n{text}");
    assert_eq!(e.line, Some(line), "config:\n{text}");
    assert_eq!(
        e.to_string(),
        format!("{message} in config file line {line}")
    );
}

/// A config with the standard members and one ticket section.
fn with_ticket(lines: &str) -> String {
    format!("{MEMBERS}ticket = T\n{lines}")
}

fn ticket(text: &str) -> TicketConfig {
    ok(text)
        .tickets
        .into_iter()
        .next()
        .map(std::sync::Arc::unwrap_or_clone)
        .expect("a ticket")
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn has_warning(cfg: &Config, part: &str) -> bool {
    cfg.warnings.iter().any(|w| w.contains(part))
}

// ---------------------------------------------------------------------
// Whole files

const MAN_PAGE_EXAMPLE: &str = "\
transport = udp
port = 9930

# D-85774
site=\"192.168.201.100\"
# D-90409
site=\"::ffff:192.168.202.100\"
# A-1120
arbitrator=\"192.168.203.100\"

ticket=\"ticket-db8\"
    expire        = 600
    acquire-after = 60
    timeout       = 10
    retries       = 5
    renewal-freq  = 60
    before-acquire-handler = /usr/share/booth/service-runnable db8
    attr-prereq = auto repl_state eq ACTIVE
";

#[test]
fn man_page_example_is_accepted() {
    // The C parser rejects this file (10000*(5+1) >= 60000); retries that
    // end exactly at renewal time are fine, so we accept it.
    let cfg = ok(MAN_PAGE_EXAMPLE);
    assert_eq!(cfg.transport, Transport::Udp);
    assert_eq!(cfg.port, 9930);
    assert_eq!(cfg.name, "booth");
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert!(!cfg.subsecond_times);

    let m = &cfg.members;
    assert_eq!(m.len(), 3);
    assert_eq!(
        (m[0].index, m[0].kind, m[0].addr_string.as_str(), m[0].port),
        (0, MemberKind::Site, "192.168.201.100", 9930)
    );
    assert_eq!(m[0].site_id, 0x5085_F484);
    assert_eq!(m[1].kind, MemberKind::Site);
    assert_eq!(m[1].addr_string, "::ffff:192.168.202.100");
    assert!(m[1].addr.is_ipv6());
    assert_eq!(m[1].site_id, site_id(&m[1].addr));
    assert_ne!(m[1].site_id, 0x7BA8_A747);
    assert_eq!(m[2].kind, MemberKind::Arbitrator);
    assert_eq!(m[2].site_id, 0x62B3_9606);
    assert!(m.iter().all(|m| m.port == 9930));

    let t = &cfg.tickets[0];
    assert_eq!(&*t.name, "ticket-db8");
    assert_eq!(t.expire, ms(600_000));
    assert_eq!(t.acquire_after, ms(60_000));
    assert_eq!(t.timeout, ms(10_000));
    assert_eq!(t.retries, 5);
    assert_eq!(t.renewal_freq, ms(60_000));
    assert_eq!(
        t.before_acquire_handler,
        Some(vec![
            "/usr/share/booth/service-runnable".to_string(),
            "db8".to_string()
        ])
    );
    assert_eq!(
        t.attr_prereqs,
        vec![AttrPrereq {
            grant_type: GrantType::Auto,
            name: "repl_state".into(),
            op: AttrOp::Eq,
            value: "ACTIVE".into(),
        }]
    );
    assert_eq!(t.mode, TicketMode::Auto);
    assert_eq!(t.weights, [0; MAX_MEMBERS]);
}

/// The configuration the captured C daemons ran with.
const C_BOOTH_AUTH_CONF: &str = "\
transport = UDP
port = 9929
authfile = /etc/booth/authkey
site = \"198.51.100.1\"
site = \"198.51.100.2\"
arbitrator = \"198.51.100.3\"

ticket = \"ticketA\"
    expire = 20
    timeout = 2
    retries = 3

ticket = \"ticketB\"
    expire = 20
    timeout = 2
    retries = 3
";

#[test]
fn captured_c_configuration() {
    let cfg = ok(C_BOOTH_AUTH_CONF);
    let ids: Vec<u32> = cfg.members.iter().map(|m| m.site_id).collect();
    assert_eq!(ids, [584_690_490, 1_003_551_360, 1_289_210_390]);
    assert_eq!(
        cfg.authfile.as_deref(),
        Some(Path::new("/etc/booth/authkey"))
    );
    assert_eq!(cfg.tickets.len(), 2);
    for t in &cfg.tickets {
        assert_eq!(t.expire, ms(20_000));
        assert_eq!(t.timeout, ms(2_000));
        assert_eq!(t.retries, 3);
        assert_eq!(t.renewal_freq, ms(10_000));
    }
    assert_eq!(
        cfg.member_by_id(1_003_551_360).unwrap().addr_string,
        "198.51.100.2"
    );
    assert_eq!(cfg.member_by_addr_string("198.51.100.3").unwrap().index, 2);
    assert!(cfg.ticket("ticketB").is_some());
    assert!(cfg.warnings.is_empty());
}

#[test]
fn empty_file_gives_all_defaults() {
    let cfg = ok("");
    assert_eq!(cfg.path, Path::new(PATH));
    assert_eq!(cfg.name, "booth");
    assert_eq!(cfg.transport, Transport::Udp);
    assert_eq!(cfg.port, 9929);
    assert_eq!(cfg.authfile, None);
    assert_eq!(cfg.maxtimeskew, 600);
    assert!(cfg.members.is_empty());
    assert_eq!(
        [
            cfg.site_user.as_str(),
            &cfg.site_group,
            &cfg.arbitrator_user,
            &cfg.arbitrator_group
        ],
        ["hacluster", "haclient", "nobody", "nobody"]
    );
    assert_eq!(cfg.debug, 0);
    assert!(cfg.tickets.is_empty());
    assert!(!cfg.subsecond_times);
    assert_eq!(
        cfg.warnings,
        ["Odd number of nodes is strongly recommended!"]
    );
}

#[test]
fn crlf_and_blank_lines() {
    let cfg = ok("\r\n  # comment\r\nport = 9930\r\n\t\r\nsite = 10.0.0.1\r\n");
    assert_eq!(cfg.port, 9930);
    assert_eq!(cfg.members[0].addr_string, "10.0.0.1");
}

// ---------------------------------------------------------------------
// Lexical errors and their line numbers

#[test]
fn lexical_errors_name_their_line() {
    assert_err("# c\n\n= 5\n", 3, "No key");
    assert_err("port\n", 1, "Expected '=' after key");
    assert_err("\nport 9929\n", 2, "Expected '=' after key");
    assert_err("port = \"9929\n", 1, "Unterminated quoted string");
    assert_err("port = '9929\" \n", 1, "Unterminated quoted string");
    assert_err("port = \"9929\" x\n", 1, "Surplus data after value");
    assert_err("port =   \n", 1, "No value");
    let long = format!("site = {}\n", "a".repeat(65));
    assert_err(&long, 1, "key/value too long");
    let long_key = format!("{} = 1\n", "k".repeat(65));
    assert_err(&long_key, 1, "key/value too long");
}

#[test]
fn error_carries_the_key() {
    let e = err("port = x\n");
    assert_eq!(e.key.as_deref(), Some("port"));
    assert_eq!(e.line, Some(1));
    let e = err("= 1\n");
    assert_eq!(e.key, None);
    let e = ConfigError::new("failed to open x: No such file or directory");
    assert_eq!(e.to_string(), "failed to open x: No such file or directory");
}

#[test]
fn quoted_values_may_hold_hash_spaces_and_be_empty() {
    let cfg = ok("site = \"10.0.0.1\" # first\nname = 'my cluster'\n");
    assert_eq!(cfg.members[0].addr_string, "10.0.0.1");
    assert_eq!(cfg.name, "my cluster");
    assert!(!has_warning(&cfg, "\"#\""));
    // An empty quoted value is a value.
    let cfg = ok("name = \"\"\nauthfile = ''\n");
    assert_eq!(cfg.name, "booth");
    assert_eq!(cfg.authfile, None);
}

#[test]
fn hash_after_unquoted_value_is_part_of_it() {
    // atoi stops at the space, so the port still works, with a warning.
    let cfg = ok("port = 9930 # the port\n");
    assert_eq!(cfg.port, 9930);
    assert!(has_warning(&cfg, "\"#\" in the unquoted value of \"port\""));
    assert!(has_warning(&cfg, "(config file line 1)"));
    // For a ticket name the whole value counts: it is invalid.
    assert_err(
        &format!("{MEMBERS}ticket = A # main\n"),
        4,
        "ticket name \"A # main\" invalid; only alphanumeric names.",
    );
    // `mode = manual # x` is not "manual": the ticket stays automatic.
    let cfg = ok(&with_ticket("mode = manual # x\n"));
    assert_eq!(cfg.tickets[0].mode, TicketMode::Auto);
    assert!(has_warning(&cfg, "\"#\" in the unquoted value of \"mode\""));
    // A '#' without a space before it gets no warning (e.g. part of a path).
    let cfg = ok("authfile = /etc/booth/key#1\n");
    assert_eq!(cfg.authfile.as_deref(), Some(Path::new("/etc/booth/key#1")));
    assert!(!has_warning(&cfg, "\"#\""));
}

#[test]
fn long_physical_lines_are_split_at_1023_bytes() {
    // A comment longer than 1023 bytes continues as a line of its own.
    let text = format!("#{}\nport = 9930\n", "x".repeat(1100));
    assert_err(&text, 2, "Expected '=' after key");
    // The rest of an over-long line is a line: here a valid one.
    let text = format!("#{}port = 9930\nport = x\n", " ".repeat(1022));
    let e = err(&text);
    assert_eq!(
        (e.line, e.message.as_str()),
        (Some(3), "invalid port \"x\"")
    );
    let text = format!("#{}port = 9930\n", " ".repeat(1022));
    assert_eq!(ok(&text).port, 9930);
    // Exactly 1023 bytes before the newline: the newline is a line too.
    let text = format!("#{}\nport = x\n", "x".repeat(1022));
    assert_eq!(err(&text).line, Some(3));
    let text = format!("#{}\nport = x\n", "x".repeat(1021));
    assert_eq!(err(&text).line, Some(2));
}

#[test]
fn nul_bytes_end_a_line() {
    let cfg = Config::parse_bytes(
        b"port = 9930\0garbage\nsite = 10.0.0.1\n",
        Path::new(PATH),
        &FakeResolver::new(),
    )
    .unwrap();
    assert_eq!(cfg.port, 9930);
    assert_eq!(cfg.members.len(), 1);
}

#[test]
fn non_utf8_bytes() {
    let r = FakeResolver::new();
    let p = Path::new(PATH);
    // Fine where the bytes are not kept.
    let cfg = Config::parse_bytes(b"# caf\xe9\nport = 9930\xff\n", p, &r).unwrap();
    assert_eq!(cfg.port, 9930);
    // Kept values must be text.
    let text = b"site = 10.0.0.1\nticket = T\nbefore-acquire-handler = /bin/caf\xe9\n";
    let e = Config::parse_bytes(text, p, &r).unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (
            Some(3),
            "value of \"before-acquire-handler\" is not valid UTF-8"
        )
    );
    // A non-ASCII ticket name is invalid anyway.
    let e = Config::parse_bytes(b"ticket = caf\xe9\n", p, &r).unwrap_err();
    assert!(e.message.ends_with("invalid; only alphanumeric names."));
}

// ---------------------------------------------------------------------
// Global keys

#[test]
fn transport() {
    assert_eq!(ok("transport = udp\n").transport, Transport::Udp);
    assert_eq!(ok("transport = \"Udp\"\n").transport, Transport::Udp);
    assert_eq!(ok("transport = sctp\n").transport, Transport::Sctp);
    assert_err("transport = tcp\n", 1, "invalid transport protocol \"tcp\"");
    assert_err(
        "transport = UDP\n#\ntransport = UDP\n",
        3,
        "config file has multiple transport lines",
    );
    assert_err(
        "transport = UDP\ntransport = bogus\n",
        2,
        "config file has multiple transport lines",
    );
}

#[test]
fn port_applies_to_members_after_it() {
    let cfg = ok("site = 10.0.0.1\nport = 9930\nsite = 10.0.0.2\nport = 9931\narbitrator = 10.0.0.3\nport = 1\n");
    let ports: Vec<u16> = cfg.members.iter().map(|m| m.port).collect();
    assert_eq!(ports, [9929, 9930, 9931]);
    assert_eq!(cfg.port, 1);
    // atoi: leading digits count.
    assert_eq!(ok("port = +9930x\n").port, 9930);
    assert_eq!(ok("port = \" 9930\"\n").port, 9930);
    assert_eq!(ok("port = 65535\n").port, 65535);
}

#[test]
fn unusable_ports_are_rejected() {
    for bad in ["0", "abc", "65536", "-1", "4294977225"] {
        assert_err(
            &format!("port = {bad}\n"),
            1,
            &format!("invalid port \"{bad}\""),
        );
    }
}

#[test]
fn name() {
    assert_eq!(ok("name = mycluster\n").name, "mycluster");
    assert_eq!(ok("name = a\nname = b\n").name, "b");
    let max = "n".repeat(62);
    assert_eq!(ok(&format!("name = {max}\n")).name, max);
    for len in [63, 64] {
        let long = "n".repeat(len);
        assert_err(
            &format!("\nname = {long}\n"),
            2,
            &format!("'{long}' exceeds maximum name length of 63"),
        );
    }
    // `name = ""` leaves the default.
    assert_eq!(ok("name = \"\"\n").name, "booth");
}

fn name_for(path: &str) -> Result<String, ConfigError> {
    Config::parse_str("port = 1\n", Path::new(path), &FakeResolver::new()).map(|c| c.name)
}

#[test]
fn default_name_comes_from_the_file_name() {
    assert_eq!(name_for("/etc/booth/booth.conf").unwrap(), "booth");
    assert_eq!(
        name_for("/etc/booth/geo.cluster.conf").unwrap(),
        "geo.cluster"
    );
    assert_eq!(name_for("relative/noext").unwrap(), "noext");
    assert_eq!(name_for("plain.conf").unwrap(), "plain");
    assert_eq!(name_for("/a.b/file").unwrap(), "file");
    assert_eq!(name_for("/etc/booth/.conf").unwrap(), "");
    let stem = "s".repeat(63);
    assert_eq!(name_for(&format!("/x/{stem}.conf")).unwrap(), stem);
    let e = name_for(&format!("/x/{}.conf", "s".repeat(64))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "booth config file name too long in config file line 1"
    );
    // An explicit name avoids the check.
    let cfg = Config::parse_str(
        "name = short\n",
        Path::new(&format!("/x/{}", "s".repeat(80))),
        &FakeResolver::new(),
    )
    .unwrap();
    assert_eq!(cfg.name, "short");
}

#[test]
fn authfile_and_maxtimeskew() {
    let cfg = ok("authfile = /etc/booth/authkey\nmaxtimeskew = 120\n");
    assert_eq!(
        cfg.authfile.as_deref(),
        Some(Path::new("/etc/booth/authkey"))
    );
    assert_eq!(cfg.maxtimeskew, 120);
    assert_eq!(ok("maxtimeskew = 0\n").maxtimeskew, 0);
    assert_eq!(ok("maxtimeskew = 30 # s\n").maxtimeskew, 30);
    for bad in ["-1", "abc", "9999999999"] {
        assert_err(
            &format!("maxtimeskew = {bad}\n"),
            1,
            &format!("invalid maxtimeskew \"{bad}\""),
        );
    }
}

#[test]
fn run_as_users_are_honoured() {
    let cfg = ok("site-user = booth\nsite-group = 'booth grp'\narbitrator-user = 1000\narbitrator-group = arb\n");
    assert_eq!(cfg.site_user, "booth");
    assert_eq!(cfg.site_group, "booth grp");
    assert_eq!(cfg.arbitrator_user, "1000");
    assert_eq!(cfg.arbitrator_group, "arb");
    let long = "u".repeat(63);
    assert_err(
        &format!("site-group = {long}\n"),
        1,
        &format!("'{long}' exceeds maximum site-group length of 63"),
    );
    assert_err(
        "arbitrator-user = \"\"\n",
        1,
        "arbitrator-user must not be empty",
    );
}

#[test]
fn debug_takes_the_highest_level() {
    assert_eq!(ok("debug = 2\ndebug = 1\n").debug, 2);
    assert_eq!(ok("debug = -3\n").debug, 0);
    assert_eq!(ok("debug = junk\n").debug, 0);
    assert_eq!(ok("debug = 3 # verbose\n").debug, 3);
}

#[test]
fn unexpected_and_unknown_keywords() {
    assert_err("port = 1\nfoo = bar\n", 2, "Unexpected keyword \"foo\"");
    // Per-ticket keys need a ticket.
    assert_err("expire = 10\n", 1, "Unexpected keyword \"expire\"");
    // Keys are case-sensitive.
    assert_err("Port = 1\n", 1, "Unexpected keyword \"Port\"");
    assert_err(&with_ticket("foo = bar\n"), 5, "Unknown keyword \"foo\"");
    assert_err(
        "ticket = __defaults__\nExpire = 1\n",
        2,
        "Unknown keyword \"Expire\"",
    );
}

#[test]
fn global_keys_are_recognised_after_tickets() {
    let cfg = ok("site = 10.0.0.1\nticket = A\nport = 9930\nsite = 10.0.0.2\nname = late\narbitrator = 10.0.0.3\n");
    assert_eq!(cfg.members[1].port, 9930);
    assert_eq!(cfg.name, "late");
    assert_eq!(cfg.tickets.len(), 1);
}

// ---------------------------------------------------------------------
// Members

#[test]
fn member_order_kinds_and_indices() {
    let cfg = ok("arbitrator = 10.0.0.3\nsite = 10.0.0.1\nsite = 2001:db8::1\n");
    let v: Vec<(usize, MemberKind)> = cfg.members.iter().map(|m| (m.index, m.kind)).collect();
    assert_eq!(
        v,
        [
            (0, MemberKind::Arbitrator),
            (1, MemberKind::Site),
            (2, MemberKind::Site)
        ]
    );
    assert!(!cfg.members[0].is_site());
    assert_eq!(cfg.members[2].site_id, 0x7F92_B058);
    assert_eq!(cfg.members[1].addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
}

#[test]
fn literal_addresses_keep_their_spelling() {
    // The string is what `booth list` prints and `-s` must match.
    let cfg = ok("site = 2001:DB8:0::1\n");
    assert_eq!(cfg.members[0].addr_string, "2001:DB8:0::1");
    assert_eq!(cfg.members[0].site_id, 0x7F92_B058);
}

#[test]
fn host_names_are_replaced_by_their_address() {
    let cfg = ok("site = alpha\nsite = beta\n");
    assert_eq!(cfg.members[0].addr_string, "198.51.100.1");
    assert_eq!(cfg.members[0].site_id, 584_690_490);
    assert_eq!(cfg.members[1].addr_string, "2001:db8::2");
    assert!(cfg.members[1].addr.is_ipv6());
    assert!(has_warning(
        &cfg,
        "site \"alpha\" resolved to 198.51.100.1; every member must resolve it"
    ));
    assert!(!has_warning(&ok(MEMBERS), "resolved"));
}

#[test]
fn unresolvable_host() {
    assert_err(
        "site = 10.0.0.1\nsite = nowhere.invalid\n",
        2,
        "can't find IP for the host \"nowhere.invalid\"; Address string \"nowhere.invalid\" is bad",
    );
    // Not a literal: leading zeros are not an IPv4 literal and go to the resolver.
    assert!(err("site = 010.0.0.1\n")
        .message
        .starts_with("can't find IP"));
}

#[test]
fn address_length_limit() {
    let a63 = "h".repeat(63);
    // 63 characters are allowed (and then resolved).
    assert!(err(&format!("site = {a63}\n"))
        .message
        .starts_with("can't find IP"));
    let a64 = "h".repeat(64);
    assert_err(
        &format!("site = {a64}\n"),
        1,
        &format!("site address \"{a64}\" too long"),
    );
}

#[test]
fn site_id_collisions() {
    assert_err(
        "site = 198.51.100.1\nsite = 10.0.0.2\narbitrator = alpha-again\n",
        3,
        "Got a site-ID collision: member \"198.51.100.1\" has the same site ID (584690490) \
         as member 0 \"198.51.100.1\"",
    );
    let e = err("site = alpha\nsite = 198.51.100.1\n");
    assert!(e.message.starts_with("Got a site-ID collision"));
    assert_eq!(e.line, Some(2));
    assert_eq!(e.key.as_deref(), Some("site"));
}

#[test]
fn at_most_16_members() {
    let mut text: String = (1..=16).map(|i| format!("site = 10.0.1.{i}\n")).collect();
    let cfg = ok(&text);
    assert_eq!(cfg.members.len(), 16);
    assert_eq!(cfg.members[15].index, 15);
    text.push_str("arbitrator = 10.0.2.1\n");
    assert_err(&text, 17, "too many nodes");
}

#[test]
fn odd_member_count_warning() {
    let odd = "Odd number of nodes is strongly recommended!";
    assert!(ok("site = 10.0.0.1\nsite = 10.0.0.2\n")
        .warnings
        .contains(&odd.to_string()));
    assert!(!ok(MEMBERS).warnings.contains(&odd.to_string()));
    assert!(!ok("site = 10.0.0.1\n").warnings.contains(&odd.to_string()));
}

mod post;
mod tickets;
