use super::*;

mod arguments;
mod options;

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
