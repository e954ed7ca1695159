//! `boothd config-check` run as a program against configuration files:
//! exit status, the summary on stdout, findings on stderr.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{run, text, TempDir, BIN};

/// Two sites and an arbitrator (an odd count, so no warning about it).
const MEMBERS: &str = "\
site = 198.51.100.1
site = 198.51.100.2
arbitrator = 198.51.100.3
";

/// Writes `name` into `dir` with the given mode and returns its path.
fn write_file(dir: &TempDir, name: &str, content: &[u8], mode: u32) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, content).expect("write test file");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod test file");
    path
}

fn check(config: &Path, extra: &[&str]) -> Output {
    let config = config.to_str().expect("UTF-8 temp path");
    let mut args = vec!["config-check", "-c", config];
    args.extend_from_slice(extra);
    run(Path::new(BIN), &args)
}

/// Checks `conf`, written to `booth.conf` in a fresh directory; returns
/// the file's path (for expected messages) and the result.
fn check_text(tag: &str, conf: &str) -> (PathBuf, Output) {
    let dir = TempDir::new(tag);
    let path = write_file(&dir, "booth.conf", conf.as_bytes(), 0o644);
    (path.clone(), check(&path, &[]))
}

#[test]
fn valid_config_prints_a_summary_and_exits_0() {
    let dir = TempDir::new("check-valid");
    let conf = format!(
        "transport = UDP\nport = 9929\n{MEMBERS}\
         ticket = \"ticketA\"\n  expire = 60\n  timeout = 2\n  retries = 5\n\
         ticket = ticketB\n  mode = manual\n  acquire-after = 1500ms\n  \
         before-acquire-handler = /usr/share/booth/service-runnable db8\n"
    );
    let path = write_file(&dir, "east.conf", conf.as_bytes(), 0o644);

    let out = check(&path, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [
        format!("config {}", path.display()).as_str(),
        "name east",
        "transport UDP port 9929",
        "site 198.51.100.1 port 9929 id 584690490",
        "site 198.51.100.2 port 9929 id 1003551360",
        "arbitrator 198.51.100.3 port 9929 id 1289210390",
        "ticket ticketA expire 60s timeout 2s retries 5 renewal-freq 30s acquire-after 0s \
         mode auto handler none",
        "ticket ticketB expire 600s timeout 5s retries 10 renewal-freq 300s \
         acquire-after 1500ms mode manual handler /usr/share/booth/service-runnable db8",
        "authentication off",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }

    // -D adds detail, the basic lines stay.
    let out = check(&path, &["-D"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\nmaxtimeskew 600s\n"), "{stdout}");
    assert!(stdout.contains("\nname east\n"), "{stdout}");
}

#[test]
fn syntax_error_names_the_file_and_line() {
    let (path, out) = check_text("check-syntax", &format!("{MEMBERS}port 9929\n"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: {}: Expected '=' after key in config file line 4\n",
            path.display()
        )
    );
}

#[test]
fn bad_value_names_the_key() {
    let conf = format!("{MEMBERS}ticket = A\n  retries = 2\n");
    let (_, out) = check_text("check-key", &conf);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("in config file line 5"), "{stderr}");
    assert!(stderr.contains("retries"), "{stderr}");
}

#[test]
fn even_member_count_is_a_warning_only() {
    let conf = "site = 198.51.100.1\nsite = 198.51.100.2\nticket = A\n";
    let (_, out) = check_text("check-odd", conf);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stderr),
        "warning: Odd number of nodes is strongly recommended!\n"
    );
    assert!(text(&out.stdout).contains("site 198.51.100.2 port 9929 id 1003551360\n"));
}

#[test]
fn sctp_is_refused() {
    let (_, out) = check_text("check-sctp", &format!("transport = SCTP\n{MEMBERS}"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).contains("SCTP is not supported; use UDP"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn missing_file_fails() {
    let dir = TempDir::new("check-missing");
    let path = dir.path().join("absent.conf");
    let out = check(&path, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: failed to open {}: No such file or directory\n",
            path.display()
        )
    );
}

/// Runs the check on a configuration whose authfile holds `key` (with
/// file mode `mode`); returns the key file's path and the result.
fn check_with_key(tag: &str, key: &[u8], mode: u32) -> (PathBuf, Output) {
    let dir = TempDir::new(tag);
    let key_path = write_file(&dir, "authkey", key, mode);
    let conf = format!("authfile = {}\n{MEMBERS}ticket = A\n", key_path.display());
    let path = write_file(&dir, "booth.conf", conf.as_bytes(), 0o644);
    (key_path, check(&path, &[]))
}

#[test]
fn readable_key_file_is_refused_with_the_c_message() {
    let (key, out) = check_with_key("check-keyperm", b"0123456789abcdef", 0o644);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: {}: file shall not be readable for anyone but the owner\n",
            key.display()
        )
    );
}

#[test]
fn good_key_turns_authentication_on() {
    let (key, out) = check_with_key("check-key-ok", b"0123456789abcdef\n", 0o600);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert!(text(&out.stdout).contains(&format!(
        "\nauthentication on, key file {} (16 bytes)\n",
        key.display()
    )));
}

#[test]
fn key_starting_with_zero_is_flagged() {
    let (_, out) = check_with_key("check-key-zero", b"\0\x81\x82\x83\x84\x85\x86\x87", 0o600);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("warning: "), "{stderr}");
    assert!(stderr.contains("WITHOUT AUTHENTICATION"), "{stderr}");
    assert!(text(&out.stdout).contains("authentication on"));
}

/// Members without a route from this host are reported (a warning: the
/// file itself is fine). Checked in a network namespace of its own, where
/// no address is reachable; the check sends nothing.
#[test]
fn unreachable_members_are_reported() {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let unshare = std::process::Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok();
    if !(root && unshare) {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "needs root and unshare under CI"
        );
        eprintln!("SKIPPED: needs root ({root}) and unshare ({unshare})");
        return;
    }
    let dir = TempDir::new("check-unreachable");
    let conf = format!("{MEMBERS}ticket = \"A\"\n");
    let path = write_file(&dir, "booth.conf", conf.as_bytes(), 0o644);
    let out = std::process::Command::new("unshare")
        .args(["-n", BIN, "config-check", "-c"])
        .arg(&path)
        .output()
        .expect("run unshare");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for m in [
        "site 198.51.100.1",
        "site 198.51.100.2",
        "arbitrator 198.51.100.3",
    ] {
        assert!(
            stderr.contains(&format!(
                "warning: {m} port 9929 is unreachable from this host: "
            )),
            "{stderr}"
        );
    }

    // With a route (here: the loopback), nothing is reported.
    let local = "site = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\nticket = \"A\"\n";
    let path = write_file(&dir, "local.conf", local.as_bytes(), 0o644);
    let out = std::process::Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
            BIN,
        ])
        .args(["config-check", "-c"])
        .arg(&path)
        .output()
        .expect("run unshare");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}
