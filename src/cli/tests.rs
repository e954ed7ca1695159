use super::*;

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn ok(words: &[&str]) -> Invocation {
    match parse(&argv(words)) {
        Ok(inv) => inv,
        Err(e) => panic!("{words:?} failed: {e:?}"),
    }
}

fn err(words: &[&str]) -> CliExit {
    match parse(&argv(words)) {
        Ok(inv) => panic!("{words:?} parsed: {inv:?}"),
        Err(e) => e,
    }
}

/// Asserts a usage error: exactly `msg` (one line) on stderr, exit 1.
fn fails_with(words: &[&str], msg: &str) {
    let e = err(words);
    assert_eq!(e.code, 1, "{words:?}");
    assert_eq!(e.stdout, "", "{words:?}");
    assert_eq!(e.stderr, format!("{msg}\n"), "{words:?}");
}

/// Asserts the booth usage text on stdout with exit 1.
fn usage_exit_1(words: &[&str]) {
    let e = err(words);
    assert_eq!(e.code, 1, "{words:?}");
    assert_eq!(e.stdout, booth_usage(), "{words:?}");
    assert_eq!(e.stderr, "", "{words:?}");
}

fn client(words: &[&str]) -> ClientArgs {
    match ok(words) {
        Invocation::Client(c) => c,
        other => panic!("{words:?}: {other:?}"),
    }
}

fn daemon(words: &[&str]) -> DaemonArgs {
    match ok(words) {
        Invocation::Daemon(d) => d,
        other => panic!("{words:?}: {other:?}"),
    }
}

fn status(words: &[&str]) -> StatusArgs {
    match ok(words) {
        Invocation::Status(s) => s,
        other => panic!("{words:?}: {other:?}"),
    }
}

fn geo(words: &[&str]) -> GeostoreArgs {
    match ok(words) {
        Invocation::Geostore(g) => g,
        other => panic!("{words:?}: {other:?}"),
    }
}

fn is_booth_help(inv: &Invocation) -> bool {
    matches!(inv, Invocation::Help { text, geostore: false } if *text == booth_usage())
}

fn is_geostore_help(inv: &Invocation) -> bool {
    matches!(inv, Invocation::Help { text, geostore: true } if *text == geostore_usage())
}

fn name(n: usize) -> String {
    "t".repeat(n)
}

// ---- mode selection -------------------------------------------------------

#[test]
fn no_argument_prints_usage() {
    assert!(is_booth_help(&ok(&["booth"])));
    assert!(is_booth_help(&ok(&["boothd"])));
    assert!(is_geostore_help(&ok(&["geostore"])));
    assert!(is_booth_help(&ok(&[])));
}

#[test]
fn help_words() {
    for w in ["help", "--help", "-h"] {
        assert!(is_booth_help(&ok(&["booth", w])), "{w}");
        assert!(is_booth_help(&ok(&["boothd", w, "ignored", "-x"])), "{w}");
        assert!(is_geostore_help(&ok(&["/usr/sbin/geostore", w])), "{w}");
    }
}

#[test]
fn version_words() {
    let want = format!("booth {}\n", env!("CARGO_PKG_VERSION"));
    for w in ["version", "--version", "-V"] {
        assert_eq!(ok(&["booth", w]), Invocation::Version(want.clone()));
    }
    assert_eq!(
        ok(&["/usr/sbin/geostore", "version"]),
        Invocation::Version(format!(
            "/usr/sbin/geostore {}\n",
            env!("CARGO_PKG_VERSION")
        ))
    );
}

#[test]
fn daemon_words() {
    for w in ["arbitrator", "site", "start", "daemon"] {
        assert!(matches!(ok(&["boothd", w]), Invocation::Daemon(_)), "{w}");
        assert!(matches!(ok(&["booth", w]), Invocation::Daemon(_)), "{w}");
    }
}

#[test]
fn status_word() {
    assert_eq!(
        ok(&["boothd", "status"]),
        Invocation::Status(StatusArgs {
            config: ConfigChoice::default(),
            debug: 0,
            lockfile: None,
            explain: false,
            json: false,
        })
    );
}

#[test]
fn client_ops_with_and_without_client_word() {
    for (w, op) in [
        ("list", ClientOp::List),
        ("grant", ClientOp::Grant),
        ("revoke", ClientOp::Revoke),
        ("peers", ClientOp::Peers),
    ] {
        assert_eq!(client(&["booth", w]).op, op);
        assert_eq!(client(&["boothd", "client", w]).op, op);
        assert_eq!(client(&["/usr/sbin/booth", w]).op, op);
    }
    let c = client(&["booth", "client", "list"]);
    assert_eq!(
        c,
        ClientArgs {
            op: ClientOp::List,
            config: ConfigChoice::default(),
            debug: 0,
            site: None,
            ticket: None,
            immediate: false,
            wait: false,
            wait_commit: false,
            json: false,
        }
    );
}

#[test]
fn client_word_alone_is_usage_exit_1() {
    usage_exit_1(&["booth", "client"]);
}

#[test]
fn unknown_client_op() {
    fails_with(
        &["booth", "frobnicate"],
        "client operation \"frobnicate\" is unknown",
    );
    fails_with(
        &["booth", "client", "help"],
        "client operation \"help\" is unknown",
    );
    fails_with(
        &["booth", "-c", "x", "list"],
        "client operation \"-c\" is unknown",
    );
    fails_with(
        &["booth", "client", "status"],
        "client operation \"status\" is unknown",
    );
}

#[test]
fn geostore_by_argv0_tail() {
    for a0 in ["geostore", "/usr/sbin/geostore", "./my-geostore"] {
        assert_eq!(geo(&[a0, "list"]).op, GeoOp::List, "{a0}");
    }
    // The daemon words mean nothing to geostore.
    fails_with(
        &["geostore", "daemon"],
        "attribute operation \"daemon\" is unknown",
    );
    fails_with(
        &["geostore", "grant"],
        "attribute operation \"grant\" is unknown",
    );
    // Only the tail counts.
    assert_eq!(client(&["/opt/geostore/boothd", "list"]).op, ClientOp::List);
    assert_eq!(client(&["geostore-wrapper", "list"]).op, ClientOp::List);
}

#[test]
fn geostore_ops() {
    assert_eq!(geo(&["geostore", "list"]).op, GeoOp::List);
    assert_eq!(geo(&["geostore", "get", "a"]).op, GeoOp::Get);
    assert_eq!(geo(&["geostore", "delete", "a"]).op, GeoOp::Delete);
    assert_eq!(geo(&["geostore", "set", "a", "v"]).op, GeoOp::Set);
}

#[test]
fn config_check_mode() {
    assert_eq!(
        ok(&["boothd", "config-check", "-c", "east", "-D"]),
        Invocation::ConfigCheck(ConfigCheckArgs {
            config: ConfigChoice {
                arg: Some("east".into()),
                path: PathBuf::from("/etc/booth/east.conf"),
            },
            debug: 1,
        })
    );
    assert!(is_booth_help(&ok(&["boothd", "config-check", "-h"])));
    fails_with(&["boothd", "config-check", "x"], "Superfluous argument: x");
    let e = err(&["boothd", "config-check", "-s", "x"]);
    assert_eq!(
        e.stderr,
        "boothd: invalid option -- 's'\nPlease use '-h' for usage.\n"
    );
}

// ---- -c ---------------------------------------------------------------------

#[test]
fn config_default_and_forms() {
    assert_eq!(
        client(&["booth", "list"]).config.path,
        PathBuf::from("/etc/booth/booth.conf")
    );
    assert_eq!(client(&["booth", "list"]).config.arg, None);
    let cases = [
        ("foo", "/etc/booth/foo.conf"),
        ("foo.bar", "/etc/booth/foo.bar"),
        ("foo.conf", "/etc/booth/foo.conf"),
        ("/tmp/x", "/tmp/x"),
        ("./x", "./x"),
        ("sub/x", "sub/x"),
        ("", "/etc/booth/.conf"),
    ];
    for (arg, path) in cases {
        let c = client(&["booth", "list", "-c", arg]).config;
        assert_eq!(c.arg.as_deref(), Some(arg));
        assert_eq!(c.path, PathBuf::from(path), "{arg}");
    }
}

#[test]
fn config_attached_and_last_wins() {
    let c = client(&["booth", "list", "-cfoo"]).config;
    assert_eq!(c.arg.as_deref(), Some("foo"));
    assert_eq!(c.path, PathBuf::from("/etc/booth/foo.conf"));
    let c = client(&["booth", "list", "-c", "a", "-cb"]).config;
    assert_eq!(c.path, PathBuf::from("/etc/booth/b.conf"));
}

#[test]
fn scripts_command_lines() {
    // LSB arbitrator script.
    let d = daemon(&["/usr/sbin/boothd", "start", "-c/etc/booth/x.conf"]);
    assert_eq!(d.config.arg.as_deref(), Some("/etc/booth/x.conf"));
    assert_eq!(d.config.path, PathBuf::from("/etc/booth/x.conf"));
    let s = status(&["boothd", "status", "-c/etc/booth/x.conf"]);
    assert_eq!(s.config.path, PathBuf::from("/etc/booth/x.conf"));
    // OCF agent with extra args.
    let d = daemon(&["boothd", "daemon", "-c", "/etc/booth/booth.conf", "-D"]);
    assert_eq!(d.debug, 1);
    assert!(!d.foreground);
    // systemd unit.
    let d = daemon(&["boothd", "daemon", "-S", "-c", "booth"]);
    assert!(d.foreground);
    assert_eq!(d.config.path, PathBuf::from("/etc/booth/booth.conf"));
    // geo_attr.sh.
    let g = geo(&["geostore", "set", "-s", "other", "attr", "value"]);
    assert_eq!(g.site, Some(SiteArg::Other));
    assert_eq!(g.attr_name.as_deref(), Some("attr"));
    assert_eq!(g.attr_value.as_deref(), Some("value"));
    assert_eq!(g.ticket, None);
}

#[test]
fn config_length_limits() {
    // C's safe_copy: a value must be shorter than the limit its message
    // names.
    let path_ok = format!("/{}", "p".repeat(4093));
    assert_eq!(
        client(&["booth", "list", "-c", &path_ok]).config.path,
        PathBuf::from(&path_ok)
    );
    let path_long = format!("/{}", "p".repeat(4094));
    fails_with(
        &["booth", "list", "-c", &path_long],
        &format!("'{path_long}' exceeds maximum config file length of 4095"),
    );
    let name_ok = "n".repeat(4078);
    let p = client(&["booth", "list", "-c", &name_ok]).config.path;
    assert_eq!(p.as_os_str().len(), 4094);
    let name_long = "n".repeat(4079);
    fails_with(
        &["booth", "list", "-c", &name_long],
        &format!("'{name_long}' exceeds maximum config name length of 4079"),
    );
}

// ---- -D, -l, -S -------------------------------------------------------------

#[test]
fn debug_counts() {
    assert_eq!(daemon(&["boothd", "daemon"]).debug, 0);
    assert_eq!(daemon(&["boothd", "daemon", "-D"]).debug, 1);
    assert_eq!(daemon(&["boothd", "daemon", "-D", "-D"]).debug, 2);
    assert_eq!(daemon(&["boothd", "daemon", "-DDD"]).debug, 3);
    assert_eq!(client(&["booth", "list", "-D", "-D"]).debug, 2);
    assert_eq!(geo(&["geostore", "list", "-D"]).debug, 1);
    assert_eq!(status(&["boothd", "status", "-D"]).debug, 1);
}

#[test]
fn lockfile() {
    let d = daemon(&["boothd", "daemon", "-l", "/run/b.pid"]);
    assert_eq!(d.lockfile, Some(PathBuf::from("/run/b.pid")));
    let s = status(&["boothd", "status", "-l/run/b.pid", "-S"]);
    assert_eq!(s.lockfile, Some(PathBuf::from("/run/b.pid")));
    assert!(s.explain);
    // Accepted but meaningless for clients (as in C).
    assert!(matches!(
        ok(&["booth", "list", "-l", "x", "-S"]),
        Invocation::Client(_)
    ));
    let ok_len = "l".repeat(4094);
    assert!(matches!(
        ok(&["boothd", "daemon", "-l", &ok_len]),
        Invocation::Daemon(_)
    ));
    let long = "l".repeat(4095);
    fails_with(
        &["boothd", "daemon", "-l", &long],
        &format!("'{long}' exceeds maximum lock file length of 4095"),
    );
    // Not a geostore option.
    let e = err(&["geostore", "list", "-l", "x"]);
    assert_eq!(
        e.stderr,
        "geostore: invalid option -- 'l'\nPlease use '-h' for usage.\n"
    );
}

// ---- -t and ticket names ----------------------------------------------------

#[test]
fn ticket_option_and_positional() {
    assert_eq!(
        client(&["booth", "grant", "-t", "A"]).ticket.as_deref(),
        Some("A")
    );
    assert_eq!(
        client(&["booth", "revoke", "-tA"]).ticket.as_deref(),
        Some("A")
    );
    assert_eq!(
        client(&["booth", "grant", "A"]).ticket.as_deref(),
        Some("A")
    );
    assert_eq!(client(&["booth", "grant"]).ticket, None);
    assert_eq!(client(&["booth", "revoke"]).ticket, None);
    // An empty -t is no ticket; the positional may still give one.
    assert_eq!(client(&["booth", "grant", "-t", ""]).ticket, None);
    assert_eq!(
        client(&["booth", "grant", "-t", "", "B"]).ticket.as_deref(),
        Some("B")
    );
    assert_eq!(client(&["booth", "grant", ""]).ticket, None);
    // Positional after -t is one too many.
    fails_with(
        &["booth", "grant", "-t", "A", "B"],
        "Superfluous argument: B",
    );
    fails_with(
        &["booth", "grant", "B", "-t", "A"],
        "Superfluous argument: B",
    );
    // list/peers accept (and ignore) one positional, as in C.
    assert_eq!(client(&["booth", "list", "X"]).ticket.as_deref(), Some("X"));
    fails_with(&["booth", "peers", "X", "Y"], "Superfluous argument: Y");
    // `--` ends the options.
    assert_eq!(
        client(&["booth", "grant", "--", "-odd"]).ticket.as_deref(),
        Some("-odd")
    );
}

#[test]
fn ticket_option_where_not_allowed_prints_usage_exit_1() {
    usage_exit_1(&["booth", "list", "-t", "A"]);
    usage_exit_1(&["booth", "peers", "-t", "A"]);
    usage_exit_1(&["boothd", "daemon", "-t", "A"]);
    usage_exit_1(&["boothd", "status", "-t", "A"]);
    // geostore: any operation.
    for words in [
        &["geostore", "list", "-t", "T"][..],
        &["geostore", "get", "-t", "T", "a"],
        &["geostore", "delete", "-t", "T", "a"],
        &["geostore", "set", "-t", "T", "a", "v"],
    ] {
        assert_eq!(geo(words).ticket.as_deref(), Some("T"), "{words:?}");
    }
}

#[test]
fn ticket_name_62_accepted_63_rejected() {
    // As C's safe_copy: the message names the field's capacity (63), but a
    // name of that length is refused too, so that scripts written for C
    // see the same verdict.
    let n62 = name(62);
    let n63 = name(63);
    assert_eq!(
        client(&["booth", "grant", "-t", &n62]).ticket,
        Some(n62.clone())
    );
    assert_eq!(client(&["booth", "grant", &n62]).ticket, Some(n62.clone()));
    assert_eq!(
        geo(&["geostore", "list", "-t", &n62]).ticket,
        Some(n62.clone())
    );
    let msg = format!("'{n63}' exceeds maximum ticket name length of 63");
    fails_with(&["booth", "grant", "-t", &n63], &msg);
    fails_with(&["booth", "client", "grant", "-s", "x", "-t", &n63], &msg);
    fails_with(&["booth", "revoke", &n63], &msg);
    fails_with(&["geostore", "list", "-t", &n63], &msg);
}

// ---- -s -----------------------------------------------------------------------

#[test]
fn site_option() {
    assert_eq!(
        client(&["booth", "list", "-s", "other"]).site,
        Some(SiteArg::Other)
    );
    assert_eq!(
        client(&["booth", "grant", "-s", "10.0.0.1", "A"]).site,
        Some(SiteArg::Name("10.0.0.1".into()))
    );
    // Host names stay unresolved.
    assert_eq!(
        client(&["booth", "peers", "-shost.example"]).site,
        Some(SiteArg::Name("host.example".into()))
    );
    assert_eq!(
        client(&["booth", "list", "-s", "Other"]).site,
        Some(SiteArg::Name("Other".into()))
    );
    assert_eq!(
        geo(&["geostore", "list", "-s", "other"]).site,
        Some(SiteArg::Other)
    );
    let n62 = name(62);
    assert_eq!(
        client(&["booth", "list", "-s", &n62]).site,
        Some(SiteArg::Name(n62))
    );
    let n63 = name(63);
    let msg = format!("'{n63}' exceeds maximum site name length of 63");
    fails_with(&["booth", "list", "-s", &n63], &msg);
    fails_with(
        &["boothd", "client", "grant", "-s", &n63, "-t", "ticket"],
        &msg,
    );
    fails_with(&["boothd", "daemon", "-s", &n63], &msg);
}

#[test]
fn site_in_daemon_mode_with_or_without_debug() {
    let want = Some(SiteArg::Name("127.0.0.2".into()));
    // The test-harness form (C accepts it only because -D comes first).
    assert_eq!(
        daemon(&["boothd", "daemon", "-D", "-s", "127.0.0.2", "-c", "conf"]).site,
        want
    );
    // C rejects these two; we accept them.
    assert_eq!(
        daemon(&["boothd", "daemon", "-s", "127.0.0.2", "-D"]).site,
        want
    );
    assert_eq!(daemon(&["boothd", "daemon", "-s", "127.0.0.2"]).site, want);
}

#[test]
fn site_in_status_mode_rejected() {
    fails_with(
        &["boothd", "status", "-s", "x"],
        "\"-s\" not allowed in status mode.",
    );
    fails_with(
        &["boothd", "status", "-D", "-s", "x"],
        "\"-s\" not allowed in status mode.",
    );
}

// ---- -F -w -C ---------------------------------------------------------------

#[test]
fn flag_f() {
    assert!(client(&["booth", "grant", "-F", "A"]).immediate);
    for w in [
        &["booth", "revoke", "-F"][..],
        &["booth", "list", "-F"],
        &["booth", "peers", "-F"],
        &["boothd", "daemon", "-F"],
        &["boothd", "status", "-F"],
    ] {
        fails_with(w, "use \"-F\" only for client grant");
    }
    let e = err(&["geostore", "list", "-F"]);
    assert_eq!(
        e.stderr,
        "geostore: invalid option -- 'F'\nPlease use '-h' for usage.\n"
    );
}

#[test]
fn flag_w() {
    assert!(client(&["booth", "grant", "-w", "A"]).wait);
    assert!(client(&["booth", "revoke", "-w", "A"]).wait);
    for w in [
        &["booth", "list", "-w"][..],
        &["booth", "peers", "-w"],
        &["boothd", "daemon", "-w"],
        &["boothd", "status", "-w"],
    ] {
        fails_with(w, "use \"-w\" only for grant and revoke");
    }
}

#[test]
fn flag_c_upper() {
    let c = client(&["booth", "grant", "-C", "A"]);
    assert!(c.wait && c.wait_commit && !c.immediate);
    for w in [
        &["booth", "revoke", "-C"][..],
        &["booth", "list", "-C"],
        &["boothd", "daemon", "-C"],
        &["boothd", "status", "-C"],
    ] {
        fails_with(w, "use \"-C\" only for grant");
    }
}

#[test]
fn wire_option_bits() {
    assert_eq!(client(&["booth", "grant", "A"]).wire_options(), 0);
    assert_eq!(client(&["booth", "grant", "-F", "A"]).wire_options(), 1);
    assert_eq!(client(&["booth", "grant", "-w", "A"]).wire_options(), 2);
    assert_eq!(client(&["booth", "grant", "-C", "A"]).wire_options(), 2 | 4);
    assert_eq!(client(&["booth", "grant", "-FwC", "A"]).wire_options(), 7);
    assert_eq!(client(&["booth", "revoke", "-w", "A"]).wire_options(), 2);
    assert_eq!(client(&["booth", "list"]).wire_options(), 0);
}

// ---- -h and option order ----------------------------------------------------

#[test]
fn dash_h_in_options() {
    assert!(is_booth_help(&ok(&["booth", "list", "-h"])));
    assert!(is_booth_help(&ok(&["boothd", "daemon", "-D", "-h"])));
    assert!(is_booth_help(&ok(&["boothd", "status", "-h"])));
    assert!(is_geostore_help(&ok(&["geostore", "get", "-h"])));
    // Options act in command-line order: -h first wins over a later error...
    assert!(is_booth_help(&ok(&["booth", "list", "-h", "-F"])));
    assert!(is_booth_help(&ok(&["booth", "list", "-hF"])));
    // ...and a misplaced option before -h is reported.
    fails_with(
        &["booth", "list", "-F", "-h"],
        "use \"-F\" only for client grant",
    );
    fails_with(
        &["booth", "list", "-Fh"],
        "use \"-F\" only for client grant",
    );
    fails_with(
        &["booth", "list", "-c", "x", "-wF"],
        "use \"-w\" only for grant and revoke",
    );
    fails_with(
        &["booth", "list", "-c", "x", "-Fw"],
        "use \"-F\" only for client grant",
    );
    fails_with(
        &["booth", "list", "-cx", "-wF"],
        "use \"-w\" only for grant and revoke",
    );
    fails_with(
        &["booth", "list", "--c", "x", "-Fw"],
        "use \"-F\" only for client grant",
    );
}

#[test]
fn options_and_ticket_in_any_order() {
    let a = client(&["booth", "grant", "ticketA", "-w"]);
    let b = client(&["booth", "grant", "-w", "ticketA"]);
    assert_eq!(a, b);
    assert_eq!(a.ticket.as_deref(), Some("ticketA"));
    assert!(a.wait);
    let c = client(&["booth", "grant", "-c", "x", "ticketA", "-s", "other", "-F"]);
    assert_eq!(c.ticket.as_deref(), Some("ticketA"));
    assert_eq!(c.site, Some(SiteArg::Other));
    assert!(c.immediate);
    let g1 = geo(&["geostore", "set", "a", "-s", "other", "v", "-t", "T"]);
    let g2 = geo(&["geostore", "set", "-t", "T", "-s", "other", "a", "v"]);
    assert_eq!(g1, g2);
}

// ---- getopt errors ------------------------------------------------------------

#[test]
fn unknown_option_and_missing_argument() {
    let e = err(&["booth", "list", "-x"]);
    assert_eq!(e.code, 1);
    assert_eq!(e.stdout, "");
    assert_eq!(
        e.stderr,
        "booth: invalid option -- 'x'\nPlease use '-h' for usage.\n"
    );
    let e = err(&["/usr/sbin/booth", "grant", "-c"]);
    assert_eq!(e.code, 1);
    assert_eq!(
        e.stderr,
        "/usr/sbin/booth: option requires an argument -- 'c'\nPlease use '-h' for usage.\n"
    );
    let e = err(&["booth", "list", "--config", "x"]);
    assert_eq!(
        e.stderr,
        "booth: unrecognized option '--config'\nPlease use '-h' for usage.\n"
    );
    let e = err(&["geostore", "list", "-w"]);
    assert_eq!(
        e.stderr,
        "geostore: invalid option -- 'w'\nPlease use '-h' for usage.\n"
    );
    let e = err(&["geostore", "get", "-t"]);
    assert_eq!(
        e.stderr,
        "geostore: option requires an argument -- 't'\nPlease use '-h' for usage.\n"
    );
    // -V is only a first-word synonym of "version".
    let e = err(&["booth", "list", "-V"]);
    assert_eq!(
        e.stderr,
        "booth: invalid option -- 'V'\nPlease use '-h' for usage.\n"
    );
}

/// As in C, options act one by one from the left, so an unknown option or
/// a missing argument is reported only once the options before it passed.
#[test]
fn getopt_errors_come_after_the_options_before_them() {
    let invalid_x = "booth: invalid option -- 'x'\nPlease use '-h' for usage.\n";
    // Before: -h wins, misplaced options and too long values are reported.
    assert!(is_booth_help(&ok(&["booth", "list", "-h", "-x"])));
    assert!(is_booth_help(&ok(&["booth", "list", "-hx"])));
    assert!(is_geostore_help(&ok(&["geostore", "list", "-h", "-w"])));
    fails_with(
        &["booth", "list", "-F", "-x"],
        "use \"-F\" only for client grant",
    );
    fails_with(
        &["booth", "list", "-Fx"],
        "use \"-F\" only for client grant",
    );
    fails_with(
        &["booth", "list", "ticket", "-F", "--config", "x"],
        "use \"-F\" only for client grant",
    );
    let long = name(63);
    fails_with(
        &["booth", "grant", "-t", &long, "-x"],
        &format!("'{long}' exceeds maximum ticket name length of 63"),
    );
    fails_with(
        &["booth", "grant", "-s", &long, "-t"],
        &format!("'{long}' exceeds maximum site name length of 63"),
    );
    assert!(is_booth_help(&ok(&["booth", "grant", "-h", "-t"])));
    // After: the getopt error.
    assert_eq!(err(&["booth", "list", "-x", "-h"]).stderr, invalid_x);
    assert_eq!(err(&["booth", "list", "-x", "-F"]).stderr, invalid_x);
    assert_eq!(
        err(&["booth", "grant", "-x", "-t", &long]).stderr,
        invalid_x
    );
    assert_eq!(err(&["booth", "grant", "-w", "-x"]).stderr, invalid_x);
    // Operands are looked at only after all options.
    assert_eq!(err(&["booth", "grant", &long, "-x"]).stderr, invalid_x);
    assert_eq!(err(&["booth", "grant", "a", "b", "-x"]).stderr, invalid_x);
    // Values of options are not options.
    assert!(is_booth_help(&ok(&[
        "booth", "list", "-c", "-x", "-h", "-y"
    ])));
    assert!(is_booth_help(&ok(&["booth", "list", "-c-x", "-h", "-y"])));
    assert!(is_booth_help(&ok(&[
        "booth", "list", "--c", "-x", "-h", "-y"
    ])));
    let e = err(&["boothd", "daemon", "--state-dir", "-h", "-y"]);
    assert_eq!(
        e.stderr,
        "boothd: invalid option -- 'y'\nPlease use '-h' for usage.\n"
    );
    // After "--" everything is an operand.
    assert_eq!(
        client(&["booth", "grant", "-w", "--", "-x"])
            .ticket
            .as_deref(),
        Some("-x")
    );
}

// ---- positional arguments -------------------------------------------------------

#[test]
fn superfluous_arguments() {
    fails_with(&["booth", "grant", "A", "B"], "Superfluous argument: B");
    fails_with(
        &["booth", "grant", "A", "B", "C"],
        "Superfluous arguments: B...",
    );
    fails_with(&["boothd", "daemon", "x"], "Superfluous argument: x");
    fails_with(
        &["boothd", "status", "x", "y"],
        "Superfluous arguments: x...",
    );
    fails_with(&["geostore", "list", "a"], "Superfluous argument: a");
    fails_with(&["geostore", "get", "a", "b"], "Superfluous argument: b");
    fails_with(
        &["geostore", "delete", "a", "b", "c"],
        "Superfluous arguments: b...",
    );
    fails_with(
        &["geostore", "set", "a", "v", "w"],
        "Superfluous argument: w",
    );
}

#[test]
fn geostore_operands() {
    let g = geo(&["geostore", "list"]);
    assert_eq!((g.attr_name, g.attr_value), (None, None));
    let g = geo(&["geostore", "get", "a"]);
    assert_eq!((g.attr_name.as_deref(), g.attr_value), (Some("a"), None));
    let g = geo(&["geostore", "delete", "a"]);
    assert_eq!((g.attr_name.as_deref(), g.attr_value), (Some("a"), None));
    let g = geo(&["geostore", "set", "a", "v"]);
    assert_eq!(
        (g.attr_name.as_deref(), g.attr_value.as_deref()),
        (Some("a"), Some("v"))
    );
    // An explicitly empty value is a value.
    assert_eq!(
        geo(&["geostore", "set", "a", ""]).attr_value.as_deref(),
        Some("")
    );
    // C sends an empty name here; we refuse.
    fails_with(&["geostore", "get"], "not enough arguments");
    fails_with(
        &["geostore", "delete", "-s", "other"],
        "not enough arguments",
    );
    fails_with(&["geostore", "set"], "not enough arguments");
    fails_with(&["geostore", "set", "a"], "not enough arguments");
}

#[test]
fn geostore_operand_lengths() {
    let n62 = name(62);
    let n63 = name(63);
    assert_eq!(geo(&["geostore", "get", &n62]).attr_name, Some(n62.clone()));
    fails_with(
        &["geostore", "get", &n63],
        &format!("'{n63}' exceeds maximum attribute name length of 63"),
    );
    let v126 = "v".repeat(126);
    let v127 = "v".repeat(127);
    assert_eq!(geo(&["geostore", "set", "a", &v126]).attr_value, Some(v126));
    fails_with(
        &["geostore", "set", "a", &v127],
        &format!("'{v127}' exceeds maximum attribute value length of 127"),
    );
}

// ---- daemon-only long option --------------------------------------------------------

#[test]
fn state_dir() {
    let d = daemon(&["boothd", "daemon", "--state-dir", "/var/lib/booth/state"]);
    assert_eq!(d.state_dir, Some(PathBuf::from("/var/lib/booth/state")));
    let d = daemon(&["boothd", "daemon", "--state-dir=/x", "-S"]);
    assert_eq!(d.state_dir, Some(PathBuf::from("/x")));
    assert!(d.foreground);
    assert_eq!(daemon(&["boothd", "daemon"]).state_dir, None);
    let e = err(&["boothd", "daemon", "--state-dir"]);
    assert_eq!(
        e.stderr,
        "boothd: option '--state-dir' requires an argument\nPlease use '-h' for usage.\n"
    );
    let e = err(&["booth", "list", "--state-dir", "/x"]);
    assert_eq!(
        e.stderr,
        "booth: unrecognized option '--state-dir'\nPlease use '-h' for usage.\n"
    );
    let e = err(&["boothd", "status", "--state-dir=/x"]);
    assert_eq!(e.code, 1);
}

#[test]
fn json_and_alerts_dir() {
    assert!(client(&["booth", "list", "--json"]).json);
    assert!(client(&["booth", "peers", "-s", "x", "--json"]).json);
    assert!(!client(&["booth", "list"]).json);
    assert!(status(&["boothd", "status", "--json"]).json);
    let e = err(&["booth", "grant", "--json", "T"]);
    assert_eq!(
        e.stderr,
        "booth: unrecognized option '--json'\nPlease use '-h' for usage.\n"
    );
    let e = err(&["boothd", "daemon", "--json"]);
    assert_eq!(e.code, 1);
    let d = daemon(&["boothd", "daemon", "--alerts-dir", "/etc/x"]);
    assert_eq!(d.alerts_dir, Some(PathBuf::from("/etc/x")));
    let e = err(&["booth", "list", "--alerts-dir=/x"]);
    assert_eq!(e.code, 1);
}

#[test]
fn full_daemon_value() {
    assert_eq!(
        daemon(&[
            "boothd",
            "daemon",
            "-D",
            "-s",
            "127.0.0.2",
            "-c",
            "/tmp/b.conf",
            "-l",
            "/tmp/b.pid",
            "-S"
        ]),
        DaemonArgs {
            config: ConfigChoice {
                arg: Some("/tmp/b.conf".into()),
                path: PathBuf::from("/tmp/b.conf"),
            },
            debug: 1,
            lockfile: Some(PathBuf::from("/tmp/b.pid")),
            foreground: true,
            site: Some(SiteArg::Name("127.0.0.2".into())),
            state_dir: None,
            alerts_dir: None,
        }
    );
}

#[test]
fn usage_texts_cover_the_essentials() {
    let b = booth_usage();
    for s in [
        "booth list",
        "grant|revoke",
        "booth status",
        "/etc/booth/booth.conf",
        ".conf",
        "-s <site>",
        "-F",
        "manual tickets",
        "-w",
        "-C",
        "-h",
        "See the booth(8) man page for more details.",
    ] {
        assert!(b.contains(s), "booth usage lacks {s:?}");
    }
    let g = geostore_usage();
    for s in [
        "geostore {list|set|get|delete}",
        "-t <ticket>",
        "-c FILE",
        "-s <site>",
        "-h",
        "geostore(8)",
    ] {
        assert!(g.contains(s), "geostore usage lacks {s:?}");
    }
}
