//! Runs the real `boothd` binary: exit codes, which stream carries what, and
//! dispatch on the name it is started under.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_outcome, free_port, poll, run, text, TempDir, BIN};

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
    assert_outcome(&out, 1, "", "client operation \"frobnicate\" is unknown\n");
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

/// A directory the daemon can use after dropping privileges (it removes
/// its lock file there at exit), with an arbitrator configuration for
/// 127.0.0.1; the two sites are unreachable addresses of the test subnet.
fn arbitrator_setup(tag: &str) -> (TempDir, std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = dir.path().join("booth.conf");
    let port = free_port();
    std::fs::write(
        &conf,
        format!(
            "port = {port}\narbitrator = 127.0.0.1\nsite = 198.51.100.1\nsite = 198.51.100.2\n\
             ticket = T\n  expire = 60\n  timeout = 3\n  retries = 3\n"
        ),
    )
    .unwrap();
    let lock = dir.path().join("a.pid");
    (dir, conf, lock)
}

/// Kills the daemon whose pid it holds when dropped (a failed assertion
/// must not leave a daemon behind).
struct Reaper(Option<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// Starts `boothd daemon` with these options, the configuration and
/// lock file, its stderr going to `err`.
fn start_daemon(opts: &[&str], conf: &Path, lock: &Path, err: &Path) -> std::process::Child {
    Command::new(BIN)
        .arg("daemon")
        .args(opts)
        .arg("-c")
        .arg(conf)
        .arg("-l")
        .arg(lock)
        .env("BOOTH_NO_REALTIME", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(err).unwrap())
        .spawn()
        .expect("boothd runs")
}

fn pid_in(lock: &Path) -> Option<u32> {
    let line = std::fs::read_to_string(lock).ok()?;
    let rest = line.strip_prefix("booth_pid=")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// As in the C binaries, `-D` only raises the debug level: the command
/// detaches and returns 0 once the daemon runs; the daemon holds its lock
/// file and removes it when killed. The detached daemon also starts clean:
/// working directory `/`, umask 0027, and no descriptor inherited from
/// whoever started it.
#[test]
fn daemon_with_debug_detaches_and_returns_0() {
    let (dir, conf, lock) = arbitrator_setup("cli-detach");
    let inherited = dir.path().join("inherited");
    std::fs::write(&inherited, "held open by the starting shell\n").unwrap();
    let out = dir.path().join("out");
    // The shell opens descriptor 7 and hands it to boothd.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec 7<\"$1\"; shift; exec \"$@\"")
        .arg("sh")
        .arg(&inherited)
        .args([BIN, "daemon", "-D", "-c"])
        .arg(&conf)
        .arg("-l")
        .arg(&lock)
        .env("BOOTH_NO_REALTIME", "1")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.path().join("err")).unwrap())
        .spawn()
        .expect("boothd runs");
    let mut reaper = Reaper(None);
    let mut status = None;
    let returned = poll(Duration::from_secs(20), || {
        reaper.0 = reaper.0.or_else(|| pid_in(&lock));
        status = child.try_wait().unwrap();
        status.is_some()
    })
    .is_some();
    if !returned {
        let _ = child.kill();
        let _ = child.wait();
    }
    let err = std::fs::read_to_string(dir.path().join("err")).unwrap_or_default();
    assert!(
        returned,
        "boothd daemon -D stayed in the foreground:\n{err}"
    );
    assert_eq!(status.unwrap().code(), Some(0), "{err}");
    let pid = pid_in(&lock).expect("lock file names the daemon");
    reaper.0 = Some(pid);
    assert_ne!(pid, child.id(), "the daemon is not the process started");
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists(), "daemon {pid} is gone:\n{err}");

    assert_eq!(
        std::fs::read_link(proc_dir.join("cwd")).unwrap(),
        Path::new("/")
    );
    let proc_status = std::fs::read_to_string(proc_dir.join("status")).unwrap();
    assert!(
        proc_status.lines().any(|l| l == "Umask:\t0027"),
        "{proc_status}"
    );
    for fd in std::fs::read_dir(proc_dir.join("fd")).unwrap() {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
        assert_ne!(
            target, inherited,
            "the daemon kept the inherited descriptor"
        );
    }

    let status = Command::new(BIN)
        .args(["status", "-c"])
        .arg(&conf)
        .arg("-l")
        .arg(&lock)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));

    Command::new("kill").arg(pid.to_string()).status().unwrap();
    assert!(
        poll(Duration::from_secs(10), || !lock.exists()).is_some(),
        "lock file left behind"
    );
    assert!(
        poll(Duration::from_secs(10), || !proc_dir.exists()).is_some(),
        "daemon still runs"
    );
    reaper.0 = None;
}

/// A site whose CIB cannot be read (Pacemaker not running: crm_ticket
/// exits 102, or no crm_ticket at all): as with the C binaries (and
/// upstream's own test suite, which starts sites without Pacemaker),
/// `boothd daemon` returns 0 while the daemon runs on and keeps trying; it
/// says so on stderr, since the daemon answers nobody until the CIB is read.
#[test]
fn site_without_a_readable_cib_detaches_and_returns_0() {
    use std::os::unix::fs::PermissionsExt;
    for (tag, crm_ticket) in [("cli-nocib", Some("exit 102")), ("cli-nocrm", None)] {
        let dir = TempDir::new(tag);
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let conf = dir.path().join("booth.conf");
        let port = free_port();
        std::fs::write(
            &conf,
            format!(
                "port = {port}\nsite = 127.0.0.1\nsite = 198.51.100.2\n\
                 arbitrator = 198.51.100.3\nticket = T\n{}",
                common::run_as_lines()
            ),
        )
        .unwrap();
        let program = dir.path().join("crm_ticket");
        if let Some(body) = crm_ticket {
            common::write_script(&program, &format!("#!/bin/sh\n{body}\n"));
        }
        let lock = dir.path().join("s.pid");
        let err = dir.path().join("err");
        let mut child = Command::new(BIN)
            .args(["daemon", "-c"])
            .arg(&conf)
            .arg("-l")
            .arg(&lock)
            .env("BOOTH_NO_REALTIME", "1")
            .env("BOOTH_CRM_TICKET", &program)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("boothd runs");
        let mut reaper = Reaper(None);
        let mut status = None;
        let returned = poll(Duration::from_secs(20), || {
            reaper.0 = reaper.0.or_else(|| pid_in(&lock));
            status = child.try_wait().unwrap();
            status.is_some()
        })
        .is_some();
        if !returned {
            let _ = child.kill();
            let _ = child.wait();
        }
        let err = std::fs::read_to_string(&err).unwrap_or_default();
        assert!(returned, "{tag}: boothd daemon waited for the CIB:\n{err}");
        assert_eq!(status.unwrap().code(), Some(0), "{tag}: {err}");
        assert!(err.contains("cannot read the CIB"), "{tag}: {err}");
        let pid = pid_in(&lock).expect("lock file names the daemon");
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists(), "{tag}: daemon {pid} is gone:\n{err}");
        Command::new("kill").arg(pid.to_string()).status().unwrap();
        assert!(
            poll(Duration::from_secs(10), || !lock.exists()).is_some(),
            "{tag}: lock file left behind"
        );
        reaper.0 = None;
    }
}

/// `-D -S`: foreground with debug output on stderr.
#[test]
fn daemon_with_debug_and_s_stays_in_the_foreground() {
    let (dir, conf, lock) = arbitrator_setup("cli-fg");
    let err_path = dir.path().join("err");
    let mut child = start_daemon(&["-D", "-S"], &conf, &lock, &err_path);
    let up = poll(Duration::from_secs(20), || pid_in(&lock).is_some()).is_some();
    let still_running = child.try_wait().unwrap().is_none();
    let pid = pid_in(&lock);
    // SIGUSR1: the state dump, one line per ticket.
    let _ = Command::new("kill")
        .args(["-USR1", &child.id().to_string()])
        .status();
    let dumped = poll(Duration::from_secs(10), || {
        std::fs::read_to_string(&err_path).is_ok_and(|e| e.contains(": info: T ("))
    })
    .is_some();
    let _ = child.kill();
    let _ = child.wait();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(up, "no lock file:\n{err}");
    assert!(still_running, "the daemon left the foreground:\n{err}");
    assert_eq!(pid, Some(child.id()));
    assert!(err.contains(": debug: "), "no debug output:\n{err}");
    assert!(dumped, "no state dump:\n{err}");
    let line = err.lines().find(|l| l.contains(": info: T (")).unwrap();
    let dump = line.split(": info: ").nth(1).unwrap();
    assert!(
        dump.starts_with("T (Init/0/0): leader NONE expires -")
            || dump.starts_with("T (Fllw/0/0): leader NONE expires -"),
        "{dump}"
    );
}

/// Red Hat's `enable-authfile = no`: the daemon starts without the key
/// (as Red Hat's does), and says so in its start-up output.
#[test]
fn daemon_with_enable_authfile_no_warns_at_start() {
    let (dir, conf, lock) = arbitrator_setup("cli-ea-no");
    let body = std::fs::read_to_string(&conf).unwrap();
    // The key file need not even exist: it is not read.
    let key = dir.path().join("no-such-authkey");
    std::fs::write(
        &conf,
        format!("authfile = {}\nenable-authfile = no\n{body}", key.display()),
    )
    .unwrap();
    let err_path = dir.path().join("err");
    let mut child = start_daemon(&["-S"], &conf, &lock, &err_path);
    let up = poll(Duration::from_secs(20), || pid_in(&lock).is_some()).is_some();
    let _ = child.kill();
    let _ = child.wait();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(up, "the daemon did not start:\n{err}");
    let want = format!(
        ": warning: {}: enable-authfile = no (config file line 2): the authfile {} is not used: \
         this member runs without authentication",
        conf.display(),
        key.display()
    );
    assert!(err.contains(&want), "{err}");
}
