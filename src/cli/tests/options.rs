//! The single-letter options: -c, -D, -l, -S, -t, -s, -F, -w, -C, -h and
//! their order.

use super::*;

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
