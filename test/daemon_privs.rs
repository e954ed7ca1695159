//! Dropping privileges for real, in a separate process (a second copy of
//! this test program running only `drop_helper`), so the test runner keeps
//! its own ids. Needs root; without it the test only checks that the drop
//! is a no-op.

use std::process::Command;

mod common;

use booth::daemon::privs::{current_ids, drop_privileges, is_root, resolve_group, resolve_user};

const ENV_DROP: &str = "BOOTH_TEST_DROP_TO";
const ENV_SECRET: &str = "BOOTH_TEST_SECRET";

/// Not a test of its own: when started by `root_drops_to_nobody` it drops
/// to the uid:gid in its environment and checks the result. Run normally,
/// it does nothing.
#[test]
fn drop_helper() {
    let Some(target) = std::env::var(ENV_DROP).ok() else {
        return;
    };
    let (uid, gid) = target.split_once(':').unwrap();
    let (uid, gid): (u32, u32) = (uid.parse().unwrap(), gid.parse().unwrap());
    drop_privileges(uid, gid).expect("drop works");
    let ids = current_ids().unwrap();
    assert_eq!(ids.uid, [uid; 3]);
    assert_eq!(ids.gid, [gid; 3]);
    assert!(ids.groups.is_empty(), "groups {:?}", ids.groups);
    assert!(!is_root());
    // Asking again (even for root) changes nothing once we are not root.
    drop_privileges(0, 0).expect("no-op");
    assert_eq!(current_ids().unwrap().uid, [uid; 3]);
    // Root's file is out of reach now.
    let secret = std::env::var(ENV_SECRET).unwrap();
    let err = std::fs::read(&secret).expect_err("secret must be unreadable");
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
}

#[test]
fn root_drops_to_nobody() {
    if !is_root() {
        // Nothing to drop: must succeed without changing anything.
        let before = current_ids().unwrap();
        drop_privileges(65534, 65534).unwrap();
        assert_eq!(current_ids().unwrap(), before);
        eprintln!("not root: the real drop is not exercised");
        return;
    }
    let uid = resolve_user("nobody").unwrap();
    let gid = resolve_group("65534").unwrap();
    let secret = std::env::temp_dir().join(format!("booth-privs-secret-{}", std::process::id()));
    std::fs::write(&secret, "root only\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "drop_helper", "--test-threads=1"])
        .env(ENV_DROP, format!("{uid}:{gid}"))
        .env(ENV_SECRET, &secret)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&secret);
    assert!(
        out.status.success(),
        "helper failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The helper really ran (and was not filtered away).
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

/// Started by root in production mode (memory locked, realtime), a daemon
/// with 10,000 tickets needs more locked memory than the default 8 MB
/// limit of the user it drops to: it must still start and answer (it
/// aborted on its first large allocation when it locked future pages
/// under that limit).
#[test]
fn root_daemon_with_10000_tickets_locks_memory_and_runs() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (production start-up)");
        return;
    }
    let dir = common::cluster_dir("privs", "mlock");
    let port = common::free_port();
    let mut conf =
        format!("port = {port}\narbitrator = 127.0.0.1\nsite = 127.0.0.2\nsite = 127.0.0.3\n");
    for i in 0..10_000 {
        conf.push_str(&format!(
            "ticket = tk{i}\n  expire = 60\n  timeout = 3\n  retries = 3\n"
        ));
    }
    let conf_path = dir.join("booth.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let bin = common::BIN;
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let mut daemon = Command::new(bin)
        .args(["daemon", "-S", "-c"])
        .arg(&conf_path)
        .arg("-l")
        .arg(dir.join("a.pid"))
        .env_remove("BOOTH_NO_REALTIME")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut lines = 0;
    while t0.elapsed() < std::time::Duration::from_secs(60) && lines < 10_000 {
        if let Ok(Some(_)) = daemon.try_wait() {
            break;
        }
        let out = Command::new(bin)
            .args(["list", "-c"])
            .arg(&conf_path)
            .args(["-s", "127.0.0.1"])
            .output()
            .unwrap();
        lines = String::from_utf8_lossy(&out.stdout).lines().count();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", daemon.id())).unwrap_or_default();
    let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", daemon.id())).unwrap_or_default();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(lines, 10_000, "daemon log:\n{log}");
    let locked_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(locked_kb > 0, "no memory locked:\n{status}");
    if log.contains("mlockall failed") {
        eprintln!("SKIPPED the mapping checks: mlockall failed here:\n{log}");
    } else {
        what_is_locked(&smaps, bin);
    }
    // Realtime priority too, in both builds (musl's sched_setscheduler is a
    // stub failing with ENOSYS); only a lacking privilege may prevent it.
    let sched = log.lines().find(|l| l.contains("could not set SCHED_RR"));
    assert!(
        sched.is_none_or(|l| l.contains("Operation not permitted")),
        "no realtime priority:\n{log}"
    );
}

/// The daemon's code is locked whole (no code path waits for the disk the
/// first time it runs); the unwind tables, which only a panic reads, are
/// neither locked nor mapped in, nor is the code only a panic runs where
/// the build set it apart (the static build: memlock.ld), and the daemon
/// never ran any of it by then; the stack is locked as it is used, not the
/// whole initial 132 kB at once (src/daemon/memlock.rs). Read from each
/// mapping's flags ("lo" locked, "lf" locked on fault) and resident size:
/// smaps' "Locked" is a proportional share, smaller when another test's
/// daemon maps the same executable.
fn what_is_locked(smaps: &str, bin: &str) {
    let exe = std::fs::canonicalize(bin).unwrap();
    let exe = exe.to_string_lossy();
    let mut maps: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let kb = || value.parse::<u64>().unwrap_or(0);
        match (key, maps.last_mut()) {
            ("Size:", Some(m)) => m.size = kb(),
            ("Rss:", Some(m)) => m.rss = kb(),
            ("VmFlags:", Some(m)) => m.flags = line.split_whitespace().skip(1).collect(),
            _ if key.contains('-') && key.len() > 8 => maps.push(Mapping {
                header: line,
                ..Mapping::default()
            }),
            _ => {}
        }
    }
    let ours: Vec<_> = maps.iter().filter(|m| m.header.ends_with(&*exe)).collect();
    let (code, cold): (Vec<&&Mapping>, Vec<&&Mapping>) = ours
        .iter()
        .filter(|m| m.has("ex"))
        .partition(|m| m.has("lo"));
    assert!(!code.is_empty(), "no code mapping of {exe}:\n{smaps}");
    for m in &code {
        assert!(
            !m.has("lf") && m.rss == m.size,
            "code not locked whole: {m:?}"
        );
    }
    let set_apart = booth::daemon::memlock::cold_code(std::path::Path::new(bin));
    match set_apart {
        Some(_) => assert!(
            cold.len() == 1 && cold[0].rss == 0,
            "the panic-only code is not one unlocked mapping with nothing resident:\n{ours:#?}"
        ),
        None => assert!(cold.is_empty(), "code not locked: {cold:#?}"),
    }
    let unwind = ours
        .iter()
        .any(|m| !m.has("wr") && !m.has("ex") && !m.has("lo") && m.size > 0 && m.rss == 0);
    assert!(unwind, "no unmapped unwind tables:\n{ours:#?}");
    let stack = maps.iter().find(|m| m.header.ends_with("[stack]")).unwrap();
    assert!(
        stack.has("lf") && stack.rss < stack.size,
        "stack: {stack:?}"
    );
}

#[derive(Debug, Default)]
struct Mapping<'a> {
    header: &'a str,
    size: u64,
    rss: u64,
    flags: Vec<&'a str>,
}

impl Mapping<'_> {
    fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// A configuration in a fresh directory everyone may write (the daemon
/// removes its lock file there after dropping privileges), naming a
/// run-as user that does not exist; 127.0.0.1 is a site.
fn missing_user_setup(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = common::cluster_dir("privs", tag);
    let port = common::free_port();
    let conf = dir.join("booth.conf");
    std::fs::write(
        &conf,
        format!(
            "port = {port}\nsite-user = bdi-no-such-user\nsite = 127.0.0.1\n\
             site = 198.51.100.1\narbitrator = 198.51.100.2\nticket = T\n"
        ),
    )
    .unwrap();
    (dir, conf)
}

/// Root, a site that writes Pacemaker's CIB, and a run-as user that does
/// not exist: the daemon refuses to start, naming the key, the file and
/// the fix (C silently ran as uid -2, whose CIB writes all fail).
#[test]
fn cib_site_without_its_user_refuses_to_start() {
    if !is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let (dir, conf) = missing_user_setup("privs-cib");
    let out = Command::new(env!("CARGO_BIN_EXE_boothd"))
        .args(["daemon", "-S", "-c"])
        .arg(&conf)
        .arg("-l")
        .arg(dir.join("s.pid"))
        .env("BOOTH_NO_REALTIME", "1")
        .env("BOOTH_CRM_TICKET", "/bin/true")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let want = format!(
        "User \"bdi-no-such-user\" cannot be resolved into a UID (site-user in {}).",
        conf.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("install Pacemaker"), "{err}");
}

/// The same with `--state-dir`: the site needs no Pacemaker rights, so it
/// runs as nobody and says why.
#[test]
fn state_dir_site_without_its_user_runs_as_nobody() {
    if !is_root() {
        eprintln!("SKIPPED: needs root");
        return;
    }
    let (dir, conf) = missing_user_setup("privs-sd");
    let lock = dir.join("s.pid");
    let err_path = dir.join("err");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_boothd"))
        .args(["daemon", "-S", "-c"])
        .arg(&conf)
        .arg("-l")
        .arg(&lock)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("BOOTH_NO_REALTIME", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !lock.exists() && t0.elapsed() < std::time::Duration::from_secs(20) {
        if let Ok(Some(_)) = daemon.try_wait() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", daemon.id())).unwrap_or_default();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let nobody = resolve_user("nobody").unwrap();
    let uid_line = format!("Uid:\t{nobody}\t{nobody}\t{nobody}\t{nobody}");
    assert!(status.lines().any(|l| l == uid_line), "{status}\n{err}");
    assert!(
        err.contains("(site-user in ") && err.contains("Running as nobody:"),
        "{err}"
    );
}
