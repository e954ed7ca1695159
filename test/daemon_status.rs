//! `boothd status` run as a program, against lock files held by another
//! process, and the lock file's refusal to be taken twice.
//!
//! POSIX record locks belong to a process and are invisible to their own
//! holder's `F_GETLK`, so the lock is held by a second copy of this test
//! program running only the helper test `lock_holder_helper`.
//! Everything listens on 127.0.0.1 only.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use booth::config::Config;
use booth::daemon::lockfile::{DaemonState, LockError, LockFile, LockIdentity};

mod common;
use common::{assert_outcome, text, TempDir, BIN};

/// Environment of the helper: lock file path, configuration path, and
/// whether to write the state line.
const ENV_LOCK: &str = "BOOTH_TEST_HOLD_LOCK";
const ENV_CONF: &str = "BOOTH_TEST_HOLD_CONF";
const ENV_EMPTY: &str = "BOOTH_TEST_HOLD_EMPTY";

/// Not a test of its own: when started by [`Holder::start`] it takes the
/// lock file like a daemon, says so on stdout, and keeps it until its stdin
/// closes. Run normally, it does nothing.
#[test]
fn lock_holder_helper() {
    let (Some(lock), Some(conf)) = (std::env::var_os(ENV_LOCK), std::env::var_os(ENV_CONF)) else {
        return;
    };
    let config = Config::load(Path::new(&conf)).expect("helper config");
    let identity = LockIdentity::new(&config, &config.members[0]);
    let mut file = LockFile::create(Path::new(&lock), identity).expect("helper takes the lock");
    if std::env::var_os(ENV_EMPTY).is_none() {
        file.write_state(DaemonState::Started)
            .expect("helper writes");
    }
    println!("\nLOCKED {}", std::process::id());
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
    file.remove().expect("helper removes the lock file");
}

/// A process holding the lock file; released (stdin closed, then waited
/// for) when dropped.
struct Holder {
    child: Child,
    _stdout: BufReader<ChildStdout>,
}

impl Holder {
    fn start(conf: &Path, lock: &Path, write_state: bool) -> Holder {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "lock_holder_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_LOCK, lock)
        .env(ENV_CONF, conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        if !write_state {
            cmd.env(ENV_EMPTY, "1");
        }
        let mut child = cmd.spawn().expect("start lock holder");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "lock holder ended before locking");
            if let Some(pid) = line.trim().strip_prefix("LOCKED ") {
                assert_eq!(pid, child.id().to_string());
                break;
            }
        }
        Holder {
            child,
            _stdout: stdout,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("lock holder ends");
        if !std::thread::panicking() {
            assert!(status.success(), "lock holder failed: {status}");
        }
    }
}

/// A TCP port on 127.0.0.1 and a listener holding it (drop it for a port
/// that is very likely free).
fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// A configuration named `statustest` whose first site is `local`, all
/// members on `port`, written to `dir`.
fn write_conf(dir: &TempDir, local: &str, port: u16, extra: &str) -> PathBuf {
    let path = dir.join("statustest.conf");
    let text = format!(
        "port = {port}\nsite = {local}\nsite = 198.51.100.78\narbitrator = 198.51.100.79\n{extra}\
         ticket = \"T\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn status(conf: &Path, lock: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("status")
        .arg("-c")
        .arg(conf)
        .arg("-l")
        .arg(lock)
        .args(extra)
        .output()
        .expect("boothd runs")
}

#[test]
fn no_pid_file() {
    let dir = TempDir::new("st-nofile");
    let (_l, port) = listener();
    let conf = write_conf(&dir, "127.0.0.1", port, "");
    let lock = dir.join("booth.pid");
    assert_outcome(&status(&conf, &lock, &[]), 7, "", "");
    assert_outcome(
        &status(&conf, &lock, &["-S"]),
        7,
        "",
        "not running: No PID file.\n",
    );
    // The debug level also shows the reason.
    assert_outcome(
        &status(&conf, &lock, &["-D"]),
        7,
        "",
        "not running: No PID file.\n",
    );
    assert!(!lock.exists(), "status must not create the lock file");
}

#[test]
fn pid_file_not_locked() {
    let dir = TempDir::new("st-unlocked");
    let (_l, port) = listener();
    let conf = write_conf(&dir, "127.0.0.1", port, "");
    let lock = dir.join("booth.pid");
    let stale = "booth_pid=1 booth_state=started booth_type=site\n";
    std::fs::write(&lock, stale).unwrap();
    assert_outcome(
        &status(&conf, &lock, &["-S"]),
        7,
        "",
        "not running: PID file not locked.\n",
    );
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), stale);
}

#[test]
fn running_daemon_is_reported_in_shell_syntax() {
    let dir = TempDir::new("st-running");
    let (_listener, port) = listener();
    let conf = write_conf(&dir, "127.0.0.1", port, "");
    let lock = dir.join("booth.pid");
    let holder = Holder::start(&conf, &lock, true);
    let pid = holder.pid();
    let id = Config::load(&conf).unwrap().members[0].site_id;
    let line = format!(
        "booth_lockpid={pid} booth_lockfile='{}' booth_pid={pid} booth_state=started \
         booth_type=site booth_cfg_name='statustest' booth_id={id} \
         booth_addr_string='127.0.0.1' booth_port={port}\n",
        lock.display()
    );
    assert_outcome(&status(&conf, &lock, &[]), 0, &line, "");
    assert_outcome(
        &status(&conf, &lock, &["-S"]),
        0,
        &line,
        &format!("Booth at 127.0.0.1 port {port} seems to be running.\n"),
    );

    // What the LSB arbitrator script does with it.
    let script = format!(
        "eval \"$('{BIN}' status -c '{}' -l '{}'; echo rc=$?)\"; \
         echo \"$rc $booth_state $booth_lockpid $booth_cfg_name $booth_addr_string $booth_port $booth_lockfile\"",
        conf.display(),
        lock.display()
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(
        text(&out.stdout),
        format!(
            "0 started {pid} statustest 127.0.0.1 {port} {}\n",
            lock.display()
        )
    );
}

#[test]
fn locked_but_tcp_port_free() {
    let dir = TempDir::new("st-noport");
    let (l, port) = listener();
    drop(l);
    let conf = write_conf(&dir, "127.0.0.1", port, "");
    let lock = dir.join("booth.pid");
    let holder = Holder::start(&conf, &lock, true);
    let prefix = format!("booth_lockpid={} ", holder.pid());
    assert_outcome(&status(&conf, &lock, &[]), 7, &prefix, "");
    assert_outcome(
        &status(&conf, &lock, &["-S"]),
        7,
        &prefix,
        "not running: TCP port not in use.\n",
    );
}

#[test]
fn locked_but_empty_is_an_error() {
    let dir = TempDir::new("st-empty");
    let (_listener, port) = listener();
    let conf = write_conf(&dir, "127.0.0.1", port, "");
    let lock = dir.join("booth.pid");
    let holder = Holder::start(&conf, &lock, false);
    assert_outcome(
        &status(&conf, &lock, &["-S"]),
        1,
        &format!("booth_lockpid={} ", holder.pid()),
        "not running: Cannot read lockfile data.\n",
    );
}

#[test]
fn second_lock_is_refused_and_leaves_the_file_alone() {
    let dir = TempDir::new("st-twice");
    let (_listener, port) = listener();
    let conf = write_conf(&dir, "127.0.0.1", port, "");
    let lock = dir.join("booth.pid");
    let holder = Holder::start(&conf, &lock, true);
    let before = std::fs::read(&lock).unwrap();
    let config = Config::load(&conf).unwrap();
    let identity = LockIdentity::new(&config, &config.members[0]);
    match LockFile::create(&lock, identity) {
        Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(holder.pid())),
        other => panic!("expected the lock to be held, got {other:?}"),
    }
    let err = LockFile::create(&lock, LockIdentity::new(&config, &config.members[0]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("locked by process {}", holder.pid())),
        "{err}"
    );
    assert_eq!(std::fs::read(&lock).unwrap(), before);
    drop(holder);
    // The holder's clean exit removed the file; now it can be taken.
    assert!(!lock.exists());
    let config_identity = LockIdentity::new(&config, &config.members[0]);
    LockFile::create(&lock, config_identity)
        .unwrap()
        .remove()
        .unwrap();
}

#[test]
fn no_service_ip_here() {
    let dir = TempDir::new("st-noip");
    let (_l, port) = listener();
    let conf = write_conf(&dir, "198.51.100.77", port, "");
    let lock = dir.join("booth.pid");
    std::fs::write(&lock, "anything\n").unwrap();
    assert_outcome(&status(&conf, &lock, &[]), 7, "", "");
    assert_outcome(
        &status(&conf, &lock, &["-S"]),
        7,
        "",
        "not running: No Service IP active here.\n",
    );
}

#[test]
fn configuration_error_is_status_1() {
    let dir = TempDir::new("st-badconf");
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "no-such-key = 1\n").unwrap();
    let out = status(&conf, &dir.join("booth.pid"), &["-S"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.ends_with("not running: Error reading configuration.\n"),
        "{err}"
    );
    let missing = status(&dir.join("missing.conf"), &dir.join("booth.pid"), &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.stdout.is_empty());
}

#[test]
fn unknown_run_as_user_does_not_matter() {
    let dir = TempDir::new("st-user");
    let (_l, port) = listener();
    let conf = write_conf(
        &dir,
        "127.0.0.1",
        port,
        "site-user = no-such-booth-user\nsite-group = no-such-booth-group\n",
    );
    assert_outcome(
        &status(&conf, &dir.join("booth.pid"), &["-S"]),
        7,
        "",
        "not running: No PID file.\n",
    );
}
