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
    ok(text).tickets.into_iter().next().expect("a ticket")
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
    assert_eq!(t.name, "ticket-db8");
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

// ---------------------------------------------------------------------
// Tickets and __defaults__

#[test]
fn ticket_built_in_defaults() {
    let t = ticket(&format!("{MEMBERS}ticket = T\n"));
    assert_eq!(t.name, "T");
    assert_eq!(t.expire, ms(600_000));
    assert_eq!(t.timeout, ms(5_000));
    assert_eq!(t.retries, 10);
    assert_eq!(t.renewal_freq, ms(300_000));
    assert_eq!(t.acquire_after, ms(0));
    assert_eq!(t.before_acquire_handler, None);
    assert!(t.attr_prereqs.is_empty());
    assert_eq!(t.mode, TicketMode::Auto);
    assert!(!t.is_manual());
    assert_eq!(t.weights, [0; MAX_MEMBERS]);
}

#[test]
fn ticket_names() {
    let cfg = ok("ticket = a-b/C9\nticket = 'x'\n");
    assert_eq!(cfg.tickets[0].name, "a-b/C9");
    assert_eq!(cfg.tickets[1].name, "x");
    let n63 = "t".repeat(63);
    assert_eq!(ok(&format!("ticket = {n63}\n")).tickets[0].name, n63);
    let n64 = "t".repeat(64);
    assert_err(
        &format!("ticket = {n64}\n"),
        1,
        &format!("ticket name \"{n64}\" too long."),
    );
    assert_err(
        "ticket = A\nticket = B\nticket = A\n",
        3,
        "ticket name \"A\" used again.",
    );
    for bad in ["a_b", "a.b", "a b", "__DEFAULTS__", "t:1"] {
        assert_err(
            &format!("ticket = \"{bad}\"\n"),
            1,
            &format!("ticket name \"{bad}\" invalid; only alphanumeric names."),
        );
    }
    assert_err(
        "ticket = \"\"\n",
        1,
        "ticket name \"\" invalid; a ticket needs a name.",
    );
}

#[test]
fn defaults_are_inherited_selectively() {
    let cfg = ok("ticket = __defaults__
expire = 100
timeout = 3
retries = 4
weights = 1 2 3
mode = manual
acquire-after = 7
renewal-freq = 40
before-acquire-handler = /bin/true
attr-prereq = auto a eq b
ticket = A
");
    let t = &cfg.tickets[0];
    assert_eq!(t.expire, ms(100_000));
    assert_eq!(t.timeout, ms(3_000));
    assert_eq!(t.retries, 4);
    assert_eq!(&t.weights[..4], [1, 2, 3, 0]);
    assert_eq!(t.mode, TicketMode::Manual);
    // Not inherited:
    assert_eq!(t.acquire_after, ms(0));
    assert_eq!(t.renewal_freq, ms(50_000));
    assert_eq!(t.before_acquire_handler, None);
    assert!(t.attr_prereqs.is_empty());
    for key in [
        "acquire-after",
        "renewal-freq",
        "before-acquire-handler",
        "attr-prereq",
    ] {
        assert!(
            has_warning(&cfg, &format!("\"{key}\" under __defaults__ has no effect")),
            "{key}: {:?}",
            cfg.warnings
        );
    }
}

#[test]
fn defaults_only_affect_later_tickets() {
    let cfg = ok("ticket = A
ticket = __defaults__
timeout = 2
ticket = B
timeout = 1
ticket = __defaults__
retries = 5
ticket = C
");
    let v: Vec<(Duration, u32)> = cfg.tickets.iter().map(|t| (t.timeout, t.retries)).collect();
    // B's own timeout does not change the defaults that C gets.
    assert_eq!(v, [(ms(5_000), 10), (ms(1_000), 10), (ms(2_000), 5)]);
}

#[test]
fn defaults_section_is_checked_like_a_ticket() {
    // The C booth post-processes the defaults section too, when the next
    // section starts and at the end of the file.
    assert_err(
        "ticket = __defaults__\nexpire = 20\ntimeout = 5\nticket = A\ntimeout = 1\n",
        4,
        "__defaults__: total amount of time to retry sending packets cannot exceed \
         renewal frequency (5000*(10+1) > 10000)",
    );
    assert_err(
        "ticket = A\nticket = __defaults__\nexpire = 20\n\n",
        4,
        "__defaults__: total amount of time to retry sending packets cannot exceed \
         renewal frequency (5000*(10+1) > 10000)",
    );
}

#[test]
fn time_values() {
    let t = ticket(&with_ticket(
        "expire = 60\ntimeout = 1500ms\nretries = 3\nacquire-after = 0\n",
    ));
    assert_eq!(t.expire, ms(60_000));
    assert_eq!(t.timeout, ms(1_500));
    assert_eq!(t.acquire_after, ms(0));
    assert_eq!(
        ticket(&with_ticket("acquire-after = 0ms\n")).acquire_after,
        ms(0)
    );
    assert_eq!(
        ticket(&with_ticket("expire = +60\ntimeout = 1\n")).expire,
        ms(60_000)
    );
    let t = ticket(&with_ticket(
        "expire = 2000ms\ntimeout = 100ms\nretries = 3\n",
    ));
    assert_eq!(t.expire, ms(2_000));

    for (key, rule) in [
        ("expire", ">0"),
        ("timeout", ">0"),
        ("renewal-freq", ">0"),
        ("acquire-after", ">=0"),
    ] {
        let mut bad = vec!["-1", "abc", "10s", "1.5", "10 ms", "ms", "\"\""];
        if rule == ">0" {
            bad.extend(["0", "0ms"]);
        }
        for v in bad {
            assert_err(
                &with_ticket(&format!("{key} = {v}\n")),
                5,
                &format!("Expected time {rule} for {key}"),
            );
        }
    }
}

#[test]
fn time_values_beyond_a_c_int_are_rejected() {
    let t = ticket(&with_ticket(
        "expire = 2147483\nrenewal-freq = 2147483647ms\n",
    ));
    assert_eq!(t.expire, ms(2_147_483_000));
    assert_eq!(t.renewal_freq, ms(2_147_483_647));
    for v in ["2147484", "2147483648ms", "99999999999999999999"] {
        assert_err(
            &with_ticket(&format!("expire = {v}\n")),
            5,
            &format!(
                "time value \"{v}\" for expire is too large (at most 2147483647ms, about 24.8 days)"
            ),
        );
    }
}

#[test]
fn subsecond_times() {
    assert!(!ok(&with_ticket("expire = 60\ntimeout = 1000ms\n")).subsecond_times);
    assert!(ok(&with_ticket("timeout = 500ms\n")).subsecond_times);
    // Any time value counts, even one that no ticket uses.
    assert!(ok("ticket = __defaults__\nacquire-after = 1ms\n").subsecond_times);
}

#[test]
fn subsecond_times_with_long_leases_warn() {
    let cfg = ok(&with_ticket("expire = 3600\ntimeout = 500ms\n"));
    assert!(has_warning(&cfg, "overflow leases longer than 2147483ms"));
    let cfg = ok(&with_ticket("expire = 2147\ntimeout = 500ms\n"));
    assert!(!has_warning(&cfg, "overflow"));
}

#[test]
fn retries_use_strtol_base_0() {
    let r = |v: &str| ticket(&with_ticket(&format!("timeout = 1\nretries = {v}\n"))).retries;
    assert_eq!(r("3"), 3);
    assert_eq!(r("100"), 100);
    assert_eq!(r("0x10"), 16);
    assert_eq!(r("010"), 8);
    assert_eq!(r("+5"), 5);
    assert_eq!(r("\" 5\""), 5);
    let msg = "Expected plain integer value in the range [3, 100] for retries";
    for bad in [
        "2",
        "101",
        "-5",
        "5x",
        "08",
        "0x",
        "abc",
        "\"\"",
        "\"5 \"",
        "4294967299",
    ] {
        assert_err(
            &with_ticket(&format!("expire = 600\nretries = {bad}\n")),
            6,
            msg,
        );
    }
}

#[test]
fn weights() {
    let w = |v: &str| ticket(&with_ticket(&format!("weights = {v}\n"))).weights;
    assert_eq!(&w("1,2;3:4 5+6\t7-8")[..9], [1, 2, 3, 4, 5, 6, 7, 8, 0]);
    assert_eq!(&w("-5 1")[..3], [-5, 1, 0]);
    assert_eq!(&w("1 -2")[..3], [1, 2, 0]);
    assert_eq!(&w("0x10 010")[..3], [16, 8, 0]);
    assert_eq!(&w("08")[..3], [0, 8, 0]);
    assert_eq!(&w("1,")[..2], [1, 0]);
    assert_eq!(w("\"\""), [0; MAX_MEMBERS]);
    let many: Vec<String> = (1..=17).map(|i| i.to_string()).collect();
    let all = w(&many.join(","));
    assert_eq!(all[15], 16);
    assert_eq!(all[0], 1);
    assert_err(
        &with_ticket("weights = 1 a\n"),
        5,
        "Invalid character at \"a\"",
    );
    assert_err(
        &with_ticket("weights = 1,2,x3\n"),
        5,
        "Invalid character at \"x3\"",
    );
    assert_err(
        &with_ticket("weights = 0x\n"),
        5,
        "Invalid character at \"x\"",
    );
    assert_err(
        &with_ticket("weights = ,1\n"),
        5,
        "No integer weight value at \",1\"",
    );
    assert_err(
        &with_ticket("weights = x\n"),
        5,
        "No integer weight value at \"x\"",
    );
}

#[test]
fn before_acquire_handler() {
    let h = |v: &str| {
        ticket(&with_ticket(&format!("before-acquire-handler = {v}\n"))).before_acquire_handler
    };
    assert_eq!(
        h("/usr/lib/booth/check  a\tb"),
        Some(vec!["/usr/lib/booth/check".into(), "a".into(), "b".into()])
    );
    let fifteen: Vec<String> = (0..15).map(|i| format!("a{i}")).collect();
    assert_eq!(h(&fifteen.join(" ")).unwrap().len(), 15);
    let sixteen: Vec<String> = (0..16).map(|i| format!("a{i}")).collect();
    assert_err(
        &with_ticket(&format!("before-acquire-handler = {}\n", sixteen.join(" "))),
        5,
        "too many arguments for the acquire-handler",
    );
    // A later line replaces an earlier one.
    let t = ticket(&with_ticket(
        "before-acquire-handler = /bin/a x\nbefore-acquire-handler = /bin/b\n",
    ));
    assert_eq!(t.before_acquire_handler, Some(vec!["/bin/b".to_string()]));
    assert_err(
        &with_ticket("before-acquire-handler = \" \t\"\n"),
        5,
        "before-acquire-handler needs a program path",
    );
}

#[test]
fn attr_prereq() {
    let t = ticket(&with_ticket(
        "attr-prereq = auto repl eq ACTIVE\nattr-prereq = manual\tx  ne  y\n",
    ));
    assert_eq!(
        t.attr_prereqs,
        vec![
            AttrPrereq {
                grant_type: GrantType::Auto,
                name: "repl".into(),
                op: AttrOp::Eq,
                value: "ACTIVE".into()
            },
            AttrPrereq {
                grant_type: GrantType::Manual,
                name: "x".into(),
                op: AttrOp::Ne,
                value: "y".into()
            },
        ]
    );
    let e = |v: &str, msg: &str| assert_err(&with_ticket(&format!("attr-prereq = {v}\n")), 5, msg);
    e("Auto a eq b", "Auto is not a grant type");
    e("always a eq b", "always is not a grant type");
    e("auto a EQ b", "EQ is not an attribute operation");
    e("auto a lt b", "lt is not an attribute operation");
    e("auto", "not enough arguments to attr-prereq");
    e("auto a", "not enough arguments to attr-prereq");
    e("auto a eq", "not enough arguments to attr-prereq");
    e("\" \"", "not enough arguments to attr-prereq");
    // The grant type is checked before the word count.
    e("bogus", "bogus is not a grant type");
    let cfg = ok(&with_ticket("attr-prereq = auto a eq b c\n"));
    assert_eq!(cfg.tickets[0].attr_prereqs[0].value, "b");
    assert!(has_warning(&cfg, "words after the fourth are ignored"));
}

#[test]
fn mode() {
    let m = |v: &str| ok(&with_ticket(&format!("mode = {v}\n")));
    for v in ["manual", "MANUAL", "Manual"] {
        assert_eq!(m(v).tickets[0].mode, TicketMode::Manual);
    }
    for v in ["auto", "AUTOMATIC"] {
        let cfg = m(v);
        assert_eq!(cfg.tickets[0].mode, TicketMode::Auto);
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    }
    let cfg = m("manaul");
    assert_eq!(cfg.tickets[0].mode, TicketMode::Auto);
    assert!(has_warning(&cfg, "mode \"manaul\" is not \"manual\""));
}

// ---------------------------------------------------------------------
// Post-processing

#[test]
fn renewal_freq_defaults_to_half_the_lease() {
    assert_eq!(
        ticket(&with_ticket("expire = 21\ntimeout = 1\nretries = 3\n")).renewal_freq,
        ms(10_500)
    );
    assert_eq!(
        ticket(&with_ticket(
            "expire = 3ms\ntimeout = 1ms\nretries = 3\nrenewal-freq = 4ms\n"
        ))
        .renewal_freq,
        ms(4)
    );
}

#[test]
fn renewal_check() {
    // Equality is accepted: 2000*(4+1) = 10000.
    let t = ticket(&with_ticket("expire = 20\ntimeout = 2\nretries = 4\n"));
    assert_eq!(t.renewal_freq, ms(10_000));
    // One more retry is too much; reported at the next ticket line...
    assert_err(
        &with_ticket("expire = 20\ntimeout = 2\nretries = 5\nticket = U\n"),
        8,
        "T: total amount of time to retry sending packets cannot exceed renewal \
         frequency (2000*(5+1) > 10000)",
    );
    // ...or at the last line for the last ticket.
    let e = err(&with_ticket(
        "expire = 20\ntimeout = 2\nretries = 5\n\n# end\n",
    ));
    assert_eq!(e.line, Some(9));
    assert_eq!(e.key, None);
    // An explicit renewal-freq is what counts.
    assert_err(
        &with_ticket("renewal-freq = 10\n"),
        5,
        "T: total amount of time to retry sending packets cannot exceed renewal \
         frequency (5000*(10+1) > 10000)",
    );
    // The default ticket settings pass.
    assert_eq!(ok(&with_ticket("")).tickets.len(), 1);
}

#[test]
fn renewal_not_shorter_than_expire_warns() {
    let cfg = ok(&with_ticket(
        "expire = 60\ntimeout = 1\nrenewal-freq = 60\n",
    ));
    assert!(has_warning(
        &cfg,
        "ticket \"T\" (config file line 4): renewal-freq (60000ms) is not shorter than \
         expire (60000ms)"
    ));
    assert!(!has_warning(
        &ok(&with_ticket("expire = 60\ntimeout = 1\n")),
        "renewal-freq"
    ));
}

#[test]
fn poll_timeout() {
    assert_eq!(ok("").poll_timeout(), ms(100));
    assert_eq!(ok(&with_ticket("")).poll_timeout(), ms(100));
    assert_eq!(
        ok(&with_ticket(
            "timeout = 500ms\nticket = U\ntimeout = 800ms\n"
        ))
        .poll_timeout(),
        ms(50)
    );
    assert_eq!(ok(&with_ticket("timeout = 5ms\n")).poll_timeout(), ms(100));
}

// ---------------------------------------------------------------------
// Files and paths

#[test]
fn config_path_from_arg_cases() {
    assert_eq!(
        config_path_from_arg("booth"),
        Path::new("/etc/booth/booth.conf")
    );
    assert_eq!(
        config_path_from_arg("other"),
        Path::new("/etc/booth/other.conf")
    );
    assert_eq!(
        config_path_from_arg("other.cfg"),
        Path::new("/etc/booth/other.cfg")
    );
    assert_eq!(
        config_path_from_arg("a.b.conf"),
        Path::new("/etc/booth/a.b.conf")
    );
    assert_eq!(config_path_from_arg("./x"), Path::new("./x"));
    assert_eq!(config_path_from_arg("/tmp/x"), Path::new("/tmp/x"));
    assert_eq!(config_path_from_arg("dir/x.conf"), Path::new("dir/x.conf"));
    assert_eq!(
        config_path_from_arg(DEFAULT_CONFIG),
        Path::new(DEFAULT_CONFIG)
    );
    assert_eq!(config_path_from_arg("booth"), Path::new(DEFAULT_CONFIG));
}

#[test]
fn load_from_files() {
    let dir = std::env::temp_dir();
    let missing = dir.join(format!("booth-config-missing-{}.conf", std::process::id()));
    let e = Config::load(&missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "failed to open {}: No such file or directory",
            missing.display()
        )
    );
    assert_eq!(e.line, None);

    let path = dir.join(format!(
        "booth-config-load-{}.site-a.conf",
        std::process::id()
    ));
    std::fs::write(&path, C_BOOTH_AUTH_CONF).unwrap();
    let cfg = Config::load(&path);
    let _ = std::fs::remove_file(&path);
    let cfg = cfg.unwrap();
    assert_eq!(
        cfg.name,
        format!("booth-config-load-{}.site-a", std::process::id())
    );
    assert_eq!(cfg.path, path);
    assert_eq!(cfg.members.len(), 3);

    // A directory cannot be read as a configuration.
    let e = Config::load(&dir).unwrap_err();
    assert!(e.message.starts_with("failed to read"), "{e}");
}

#[test]
fn config_without_authfile_has_no_key() {
    assert_eq!(ok("").read_authkey(), Ok(None));
    let e = ok("authfile = /nonexistent/booth-authkey\n")
        .read_authkey()
        .unwrap_err();
    assert_eq!(
        e.0,
        "cannot open /nonexistent/booth-authkey: No such file or directory"
    );
}

#[test]
fn system_resolver_handles_numeric_hosts() {
    // Numeric strings need no network: getaddrinfo converts them itself.
    assert_eq!(
        SystemResolver.resolve("127.0.0.1"),
        Ok("127.0.0.1".parse().unwrap())
    );
    assert_eq!(SystemResolver.resolve("::1"), Ok("::1".parse().unwrap()));
}

// ---------------------------------------------------------------------
// Robustness

/// xorshift64*: deterministic and good enough to make garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn garbage_never_panics() {
    const WORDS: &[&str] = &[
        "transport",
        "port",
        "name",
        "authfile",
        "maxtimeskew",
        "site",
        "arbitrator",
        "site-user",
        "debug",
        "ticket",
        "__defaults__",
        "expire",
        "timeout",
        "retries",
        "renewal-freq",
        "acquire-after",
        "before-acquire-handler",
        "attr-prereq",
        "mode",
        "weights",
        "=",
        "\"",
        "'",
        "#",
        " ",
        "\t",
        "\n",
        "\r",
        "\0",
        "0x",
        "-",
        "+",
        "ms",
        "9999999999999999999999",
        "0",
        "1",
        "08",
        "auto",
        "eq",
        "manual",
        "udp",
        "sctp",
        "10.0.0.1",
        "::1",
        "alpha",
        ",",
        ";",
        "\u{e9}",
        "/",
    ];
    let resolver = FakeResolver::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..4000 {
        let mut text = Vec::new();
        let pieces = rng.below(60);
        for _ in 0..pieces {
            if round % 3 == 0 {
                // Raw bytes, including invalid UTF-8.
                text.push(rng.next() as u8);
            } else {
                text.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
                if rng.below(4) == 0 {
                    text.push(b'\n');
                }
            }
        }
        if round % 97 == 0 {
            text.extend(std::iter::repeat_n(b'x', rng.below(3000)));
        }
        let _ = Config::parse_bytes(&text, Path::new(PATH), &resolver);
        if let Ok(s) = std::str::from_utf8(&text) {
            let _ = Config::parse_str(s, Path::new("x"), &resolver);
        }
    }
}

#[test]
fn structured_garbage_never_panics() {
    // Valid keys with random values exercise the value parsers.
    const KEYS: &[&str] = &[
        "port",
        "maxtimeskew",
        "debug",
        "site",
        "expire",
        "timeout",
        "retries",
        "renewal-freq",
        "acquire-after",
        "weights",
        "attr-prereq",
        "before-acquire-handler",
        "mode",
        "name",
        "transport",
        "ticket",
    ];
    const VALUE_BYTES: &[u8] = b"0123456789xX+-,;: \tms#'\"abc/._";
    let resolver = FakeResolver::new();
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let mut text = String::from("ticket = T\n");
        for _ in 0..rng.below(6) {
            let key = KEYS[rng.below(KEYS.len())];
            let value: String = (0..rng.below(20))
                .map(|_| VALUE_BYTES[rng.below(VALUE_BYTES.len())] as char)
                .collect();
            text.push_str(&format!("{key} = {value}\n"));
        }
        let _ = Config::parse_str(&text, Path::new(PATH), &resolver);
    }
}
