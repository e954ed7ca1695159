//! Helpers shared by the integration test crates: the `boothd` under test,
//! temporary directories, free loopback ports, waiting with a deadline,
//! scripts and fake CIB files, and (in `cluster`) a loopback cluster of
//! real daemons with fake `crm_ticket`s.
//!
//! A crate includes it with `mod common;` (`bench`, whose root is one
//! level down, with `#[path = "../common/mod.rs"]`).

// Each test crate includes this module and uses only part of it.
#![allow(dead_code)]

pub mod cluster;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `boothd` under test: the one cargo built for this run, or the one
/// named by BOOTH_BIN when these tests were compiled (`make check-static`
/// points it at the static musl build). Read at compile time so that it
/// stays a constant; cargo rebuilds the test crates when it changes.
pub const BIN: &str = match option_env!("BOOTH_BIN") {
    Some(bin) => bin,
    None => env!("CARGO_BIN_EXE_boothd"),
};

/// Set (to anything) to run the test daemons as in production, at realtime
/// priority with their memory locked: for timing runs on a loaded machine
/// (`BOOTH_TEST_REALTIME=1 cargo test --release --test bad_day`). Unset,
/// the daemons are told to skip both (a runaway realtime test daemon could
/// starve the machine the tests share).
pub const REALTIME_ENV: &str = "BOOTH_TEST_REALTIME";

/// The environment that sets a test daemon's scheduling (see [`REALTIME_ENV`]).
pub fn scheduling_env() -> Vec<(&'static str, &'static str)> {
    if std::env::var_os(REALTIME_ENV).is_some() {
        Vec::new()
    } else {
        vec![("BOOTH_NO_REALTIME", "1")]
    }
}

pub fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .expect("boothd runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// A fresh directory under the system temp directory, removed when
/// dropped. The name holds the tag, the process id and a counter, so tests
/// running in parallel (in one process or several) never share one.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("booth-{tag}-{}-{seq}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` inside this directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Member `i`'s address in the loopback clusters: 127.0.0.1, .2, .3.
pub fn addr(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

/// A fresh directory `booth-{kind}-{name}-PID` for a loopback cluster's
/// files. Started as root, the daemons drop to the run-as user: they may
/// write their lock files and state here.
pub fn cluster_dir(kind: &str, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("booth-{kind}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// The loopback cluster's configuration: `port`, then `options` (lines
/// such as `authfile = ...`), sites 127.0.0.1 and .2, arbitrator .3, then
/// `tickets`.
pub fn loopback_conf(port: u16, options: &str, tickets: &str) -> String {
    let run_as = if options.contains("site-user") {
        ""
    } else {
        run_as_lines()
    };
    format!(
        "port = {port}\n{run_as}{options}site = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\n{tickets}"
    )
}

/// `conf` with its run-as lines (site-user, site-group) replaced by
/// `lines`, for the tests of privilege dropping.
pub fn set_run_as(conf: &str, lines: &str) -> String {
    let rest: String = conf
        .lines()
        .filter(|l| !l.starts_with("site-user") && !l.starts_with("site-group"))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{lines}{rest}")
}

/// Configuration lines that let a test daemon started as root run on a
/// host without Pacemaker's account: root drops privileges to site-user
/// and site-group (hacluster:haclient by default) and refuses to start
/// where they do not exist, so such hosts run the test daemons as root.
/// Empty where the account exists or the tests do not run as root.
pub fn run_as_lines() -> &'static str {
    // SAFETY: geteuid has no preconditions; getpwnam and getgrnam get
    // NUL-terminated names and only their null checks are used.
    let root = unsafe { libc::geteuid() } == 0;
    let has_hacluster = unsafe { !libc::getpwnam(c"hacluster".as_ptr()).is_null() }
        && unsafe { !libc::getgrnam(c"haclient".as_ptr()).is_null() };
    if root && !has_hacluster {
        "site-user = root\nsite-group = root\n"
    } else {
        ""
    }
}

/// Kills (SIGKILL) and reaps every daemon still held.
pub fn kill_all(daemons: &mut [Option<Child>]) {
    for mut c in daemons.iter_mut().filter_map(Option::take) {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A port free on 127.0.0.1-3 for both UDP and TCP.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let free = (1..=3).all(|i| {
            let a = format!("127.0.0.{i}:{port}");
            TcpListener::bind(&a).is_ok() && UdpSocket::bind(&a).is_ok()
        });
        if free {
            return port;
        }
    }
}

/// Waits until `cond` holds, polling every 50 ms; fails the test if it
/// does not within `limit`. Returns how long it took.
pub fn wait_for(limit: Duration, cond: impl FnMut() -> bool) -> Duration {
    wait_until(limit, "condition", cond)
}

/// `wait_for` whose failure names what was awaited.
pub fn wait_until(limit: Duration, what: &str, cond: impl FnMut() -> bool) -> Duration {
    match poll(limit, cond) {
        Some(took) => took,
        None => panic!("{what} not met within {limit:?}"),
    }
}

/// Polls `cond` every 50 ms for up to `limit`: how long it took to hold,
/// or None if it did not (for a test that explains the failure itself).
pub fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if cond() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a child up to `limit`, killing it if it takes longer.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "client not answered within {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Everything a finished command said, for an assertion's message.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the exit code and exactly what was said on stdout and stderr.
pub fn assert_outcome(out: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (
            out.status.code(),
            text(&out.stdout).as_str(),
            text(&out.stderr).as_str()
        ),
        (Some(code), stdout, stderr)
    );
}

/// Fails the test unless `out` exited with 0, showing what it said.
pub fn assert_success(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", describe(out));
}

/// Writes an executable shell script.
pub fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An empty CIB file (Pacemaker's `cibadmin --empty`) at `path` that the
/// daemons, which drop to hacluster, and the real `crm_ticket` can write.
pub fn empty_cib(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let xml = Command::new("cibadmin").arg("--empty").output().unwrap();
    assert!(xml.status.success(), "cibadmin --empty: {}", describe(&xml));
    std::fs::write(path, xml.stdout).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
}

/// The pid in a lock file ("booth_pid=N ...").
pub fn lock_pid(lock: &Path) -> Option<i32> {
    std::fs::read_to_string(lock)
        .ok()?
        .split_whitespace()
        .find_map(|w| w.strip_prefix("booth_pid=")?.parse().ok())
}
