//! getopt's errors, the positional arguments and the daemon's long options.

use super::*;

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
