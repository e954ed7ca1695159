//! Runs the real `boothd` binary: exit codes, which stream carries what, and
//! dispatch on the name it is started under.

mod common;

use std::path::Path;
use std::process::Command;

use common::{run, text, TempDir, BIN};

#[test]
fn help_goes_to_stdout_with_status_0() {
    let out = run(Path::new(BIN), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("See the booth(8) man page"));
    assert!(out.stderr.is_empty());
}

#[test]
fn version_names_the_program() {
    let out = run(Path::new(BIN), &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!("{BIN} {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_operation_fails_with_status_1() {
    let out = run(Path::new(BIN), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "client operation \"frobnicate\" is unknown\n"
    );
}

#[test]
fn unknown_option_gets_the_hint() {
    let out = run(Path::new(BIN), &["list", "-x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).ends_with("Please use '-h' for usage.\n"));
}

#[test]
fn misplaced_ticket_option_prints_usage_with_status_1() {
    let out = run(Path::new(BIN), &["list", "-t", "A"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("Usage:"));
}

#[test]
fn started_as_geostore_it_is_the_attribute_client() {
    let dir = TempDir::new("cli-argv0");
    let link = dir.0.join("geostore");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");

    let out = run(&link, &["-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("geostore(8)"));

    // "grant" is a booth operation, not a geostore one.
    let out = run(&link, &["grant"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "attribute operation \"grant\" is unknown\n"
    );

    // The same binary under its own name knows "grant".
    let out = run(Path::new(BIN), &["grant", "-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("booth(8)"));
}

#[test]
fn non_utf8_argument_is_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(BIN)
        .arg("grant")
        .arg(OsStr::from_bytes(b"tick\xffet"))
        .output()
        .expect("boothd runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("argument 2 is not valid UTF-8"));
}

#[test]
fn daemon_with_a_missing_config_fails_before_detaching() {
    let out = run(
        Path::new(BIN),
        &["daemon", "-c", "/nonexistent/booth-test.conf"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("failed to open /nonexistent/booth-test.conf"),
        "{err}"
    );
}
