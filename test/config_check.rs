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
    // With Red Hat's key, so that no warning about it mixes in.
    let conf = format!(
        "authfile = {}\nenable-authfile = yes\n{MEMBERS}ticket = A\n",
        key_path.display()
    );
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

// ---- Red Hat's enable-authfile ------------------------------------------

/// Checks a configuration with an authfile holding a good key and the
/// given `enable-authfile` line (none if empty); returns the paths of the
/// configuration and the key, and the result.
fn check_enable_authfile(tag: &str, line: &str) -> (PathBuf, PathBuf, Output) {
    let dir = TempDir::new(tag);
    let key_path = write_file(&dir, "authkey", b"0123456789abcdef\n", 0o600);
    let conf = format!(
        "authfile = {}\n{line}{MEMBERS}ticket = A\n",
        key_path.display()
    );
    let path = write_file(&dir, "booth.conf", conf.as_bytes(), 0o644);
    let out = check(&path, &[]);
    (path, key_path, out)
}

#[test]
fn enable_authfile_yes_authenticates_silently() {
    let (_, key, out) = check_enable_authfile("check-ea-yes", "enable-authfile = yes\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert!(text(&out.stdout).contains(&format!(
        "\nauthentication on, key file {} (16 bytes)\n",
        key.display()
    )));
}

/// Without the key, Red Hat's builds ignore the authfile: a mixed cluster
/// would not talk. Said by config-check (the daemon stays quiet: upstream
/// files rarely have the key).
#[test]
fn authfile_without_enable_authfile_is_flagged_for_red_hat() {
    let (conf, key, out) = check_enable_authfile("check-ea-none", "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\nauthentication on, key file "));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "warning: {}: authfile is set without enable-authfile: ",
            conf.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&key.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("Red Hat's booth builds ignore authfile"),
        "{stderr}"
    );
    assert!(stderr.contains("enable-authfile = yes"), "{stderr}");
}

/// `no` follows Red Hat's binaries (the key file is not used), never
/// silently: the warning names the file, the line and the consequence.
#[test]
fn enable_authfile_no_runs_without_authentication_and_says_so() {
    let (conf, key, out) = check_enable_authfile("check-ea-no", "enable-authfile = no\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\nauthentication off\n"));
    assert_eq!(
        text(&out.stderr),
        format!(
            "warning: {}: enable-authfile = no (config file line 2): the authfile {} is not \
             used: this member runs without authentication as Red Hat's booth does with this \
             file; set enable-authfile = yes (on every member) to authenticate with it\n",
            conf.display(),
            key.display()
        )
    );
}

#[test]
fn enable_authfile_values() {
    use booth::config::{Config, SystemResolver};
    let parse = |v: &str| {
        let text = format!("authfile = /etc/booth/authkey\nenable-authfile = {v}\n{MEMBERS}");
        Config::parse_str(&text, Path::new("/etc/booth/booth.conf"), &SystemResolver)
    };
    for v in ["yes", "YES", "true", "on", "On", "1"] {
        let c = parse(v).unwrap();
        assert_eq!(c.authfile, Some(PathBuf::from("/etc/booth/authkey")), "{v}");
        assert_eq!(c.enable_authfile, Some(true), "{v}");
        assert!(c.warnings.is_empty(), "{v}: {:?}", c.warnings);
    }
    for v in ["no", "No", "false", "off", "OFF", "0"] {
        let c = parse(v).unwrap();
        assert_eq!(c.authfile, None, "{v}");
        assert_eq!(c.enable_authfile, Some(false), "{v}");
        assert_eq!(c.warnings.len(), 1, "{v}: {:?}", c.warnings);
    }
    for v in ["maybe", "2", "yes please", "\"\""] {
        let e = parse(v).unwrap_err();
        assert_eq!(e.line, Some(2), "{v}");
        assert_eq!(e.key.as_deref(), Some("enable-authfile"), "{v}");
        assert_eq!(
            e.to_string(),
            format!(
                "invalid enable-authfile \"{}\": expected yes or no in config file line 2",
                v.trim_matches('"')
            )
        );
    }
    // A global key like the others: also after the tickets, and without
    // an authfile `no` has nothing to warn about.
    let text = format!("{MEMBERS}ticket = A\nenable-authfile = no\n");
    let c = Config::parse_str(&text, Path::new("/etc/booth/booth.conf"), &SystemResolver).unwrap();
    assert_eq!(c.enable_authfile, Some(false));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}
