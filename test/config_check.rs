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

// ---- one configuration, what config-check says ---------------------------

/// What an output stream must say; `{conf}` and `{key}` stand for the
/// paths of the configuration and the key file.
enum Said {
    Exactly(&'static str),
    /// Contains each of these.
    Has(&'static [&'static str]),
    /// Starts with the first, contains the others.
    Begins(&'static str, &'static [&'static str]),
    /// One line that starts with the first and contains the others.
    Line(&'static str, &'static [&'static str]),
}

/// How a case's configuration is made.
enum Setup {
    /// This text; `{MEMBERS}` stands for the two sites and the arbitrator.
    Text(&'static str),
    /// An authfile with this key and file mode, and `enable-authfile = yes`.
    Key(&'static [u8], u32),
    /// An authfile with a good key and this `enable-authfile` line (none if
    /// empty).
    EnableAuthfile(&'static str),
}

struct Case {
    name: &'static str,
    setup: Setup,
    code: i32,
    stdout: Said,
    stderr: Said,
}

const GOOD_KEY: &[u8] = b"0123456789abcdef\n";
const AUTH_ON: &str = "\nauthentication on, key file {key} (16 bytes)\n";

const CASES: &[Case] = &[
    Case {
        name: "syntax_error_names_the_file_and_line",
        setup: Setup::Text("{MEMBERS}port 9929\n"),
        code: 1,
        stdout: Said::Exactly(""),
        stderr: Said::Exactly("error: {conf}: Expected '=' after key in config file line 4\n"),
    },
    Case {
        name: "bad_value_names_the_key",
        setup: Setup::Text("{MEMBERS}ticket = A\n  retries = 2\n"),
        code: 1,
        // Whatever stdout says.
        stdout: Said::Has(&[]),
        stderr: Said::Has(&["in config file line 5", "retries"]),
    },
    Case {
        name: "even_member_count_is_a_warning_only",
        setup: Setup::Text("site = 198.51.100.1\nsite = 198.51.100.2\nticket = A\n"),
        code: 0,
        stdout: Said::Has(&["site 198.51.100.2 port 9929 id 1003551360\n"]),
        stderr: Said::Exactly("warning: Odd number of nodes is strongly recommended!\n"),
    },
    Case {
        name: "sctp_is_refused",
        setup: Setup::Text("transport = SCTP\n{MEMBERS}"),
        code: 1,
        stdout: Said::Exactly(""),
        stderr: Said::Has(&["SCTP is not supported; use UDP"]),
    },
    Case {
        name: "readable_key_file_is_refused_with_the_c_message",
        setup: Setup::Key(b"0123456789abcdef", 0o644),
        code: 1,
        stdout: Said::Exactly(""),
        stderr: Said::Exactly(
            "error: {key}: file shall not be readable for anyone but the owner\n",
        ),
    },
    Case {
        name: "good_key_turns_authentication_on",
        setup: Setup::Key(GOOD_KEY, 0o600),
        code: 0,
        stdout: Said::Has(&[AUTH_ON]),
        stderr: Said::Exactly(""),
    },
    Case {
        name: "key_starting_with_zero_is_flagged",
        setup: Setup::Key(b"\0\x81\x82\x83\x84\x85\x86\x87", 0o600),
        code: 0,
        stdout: Said::Has(&["authentication on"]),
        stderr: Said::Begins("warning: ", &["WITHOUT AUTHENTICATION"]),
    },
    Case {
        name: "enable_authfile_yes_authenticates_silently",
        setup: Setup::EnableAuthfile("enable-authfile = yes\n"),
        code: 0,
        stdout: Said::Has(&[AUTH_ON]),
        stderr: Said::Exactly(""),
    },
    // Without the key, Red Hat's builds ignore the authfile: a mixed
    // cluster would not talk. Said by config-check (the daemon stays
    // quiet: upstream files rarely have the key).
    Case {
        name: "authfile_without_enable_authfile_is_flagged_for_red_hat",
        setup: Setup::EnableAuthfile(""),
        code: 0,
        stdout: Said::Has(&["\nauthentication on, key file "]),
        stderr: Said::Line(
            "warning: {conf}: authfile is set without enable-authfile: ",
            &[
                "{key}",
                "Red Hat's booth builds ignore authfile",
                "enable-authfile = yes",
            ],
        ),
    },
    // `no` follows Red Hat's binaries (the key file is not used), never
    // silently: the warning names the file, the line and the consequence.
    Case {
        name: "enable_authfile_no_runs_without_authentication_and_says_so",
        setup: Setup::EnableAuthfile("enable-authfile = no\n"),
        code: 0,
        stdout: Said::Has(&["\nauthentication off\n"]),
        stderr: Said::Exactly(
            "warning: {conf}: enable-authfile = no (config file line 2): the authfile {key} is \
             not used: this member runs without authentication as Red Hat's booth does with \
             this file; set enable-authfile = yes (on every member) to authenticate with it\n",
        ),
    },
];

impl Case {
    /// Writes the configuration (and key file) into a fresh directory and
    /// checks it; returns the paths that `{conf}` and `{key}` stand for.
    fn run(&self) -> (Output, String, String) {
        let dir = TempDir::new("check-case");
        let (key, conf) = match self.setup {
            Setup::Text(conf) => (None, conf.replace("{MEMBERS}", MEMBERS)),
            // With Red Hat's key, so that no warning about it mixes in.
            Setup::Key(key, mode) => (Some((key, mode)), "enable-authfile = yes\n".into()),
            Setup::EnableAuthfile(line) => (Some((GOOD_KEY, 0o600)), line.into()),
        };
        let (conf, key_path) = match key {
            None => (conf, String::new()),
            Some((key, mode)) => {
                let key_path = write_file(&dir, "authkey", key, mode);
                let conf = format!(
                    "authfile = {}\n{conf}{MEMBERS}ticket = A\n",
                    key_path.display()
                );
                (conf, key_path.display().to_string())
            }
        };
        let path = write_file(&dir, "booth.conf", conf.as_bytes(), 0o644);
        (check(&path, &[]), path.display().to_string(), key_path)
    }

    fn check(&self) {
        let (out, conf, key) = self.run();
        let name = self.name;
        let paths = |s: &str| s.replace("{conf}", &conf).replace("{key}", &key);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(self.code), "{name}: {stderr}");
        for (said, what, got) in [
            (&self.stdout, "stdout", &stdout),
            (&self.stderr, "stderr", &stderr),
        ] {
            let has = |parts: &[&str]| parts.iter().all(|p| got.contains(&paths(p)));
            let ok = match *said {
                Said::Exactly(s) => *got == paths(s),
                Said::Has(parts) => has(parts),
                Said::Begins(start, parts) => got.starts_with(&paths(start)) && has(parts),
                Said::Line(start, parts) => {
                    got.lines().count() == 1 && got.starts_with(&paths(start)) && has(parts)
                }
            };
            assert!(ok, "{name}: unexpected {what}:\n{got}");
        }
    }
}

#[test]
fn configurations_and_what_config_check_says() {
    for case in CASES {
        case.check();
    }
}
