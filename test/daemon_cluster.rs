//! Real daemons on loopback: 2 sites + 1 arbitrator on 127.0.0.1/2/3, each
//! with its own lock file and state directory, driven by the real client.
//! The cluster, the fake-crm_ticket and the real-CIB tests are in
//! test/daemon_cluster/.

use std::collections::HashMap;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "daemon_cluster/cluster.rs"]
mod cluster;
mod common;
#[path = "daemon_cluster/fake_crm.rs"]
mod fake_crm;
#[path = "daemon_cluster/real_cib.rs"]
mod real_cib;
use cluster::*;
use common::{addr, cluster_dir, free_port, loopback_conf, wait_for, write_script, TempDir, BIN};

#[test]
fn grant_list_revoke_and_failover() {
    let mut c = Cluster::new("basic", TICKET);
    c.start_all();
    assert_eq!(c.list(2), "ticket: ticketA, leader: NONE\n");
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    assert!(stderr(&g).ends_with("grant succeeded!\n"), "{}", stderr(&g));
    // The engine's lines about a ticket read as booth's: "<ticket>: ..."
    // (the ticket travels as a log key, see src/logline.rs).
    assert!(
        c.log(0).contains("ticketA: granting ticket"),
        "{}",
        c.log(0)
    );
    for i in 0..3 {
        assert!(c
            .list(i)
            .starts_with("ticket: ticketA, leader: 127.0.0.1, expires: "));
    }
    // Revoke at a non-leader is redirected to the leader.
    let r = c.client(&["revoke", "-s", "127.0.0.2", "ticketA"]);
    assert!(r.status.success(), "{}", stderr(&r));
    wait_for(Duration::from_secs(3), || {
        c.list(1) == "ticket: ticketA, leader: none\n"
    });

    // Grant again, kill the holder: the other site takes over after the lease.
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    c.kill(0);
    let took = wait_for(Duration::from_secs(15), || {
        c.list(1).starts_with("ticket: ticketA, leader: 127.0.0.2")
    });
    assert!(
        took >= Duration::from_secs(2),
        "not before the lease ran out: {took:?}"
    );
    // The store runs off the loop: it may follow the list by a moment.
    let path = c.dir.join("state1").join("ticketA");
    let stored = || std::fs::read_to_string(&path).unwrap_or_default();
    wait_for(Duration::from_secs(3), || stored().contains("granted=true"));
    // One thread, stores done: they ran in a child process, not beside
    // the loop.
    assert_eq!(threads(c.pid(1)), 1, "threads of a --state-dir site");
}

/// The threads of a process, from /proc.
fn threads(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn second_daemon_on_the_same_lock_is_refused() {
    let mut c = Cluster::new("lock", TICKET);
    c.start(0);
    let out = c.command(0).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("locked by process"),
        "{}",
        stderr(&out)
    );
    assert!(
        c.lock(0).exists(),
        "the first daemon's lock file is left alone"
    );
    assert!(c.client(&["list", "-s", "127.0.0.1"]).status.success());
}

#[test]
fn sigterm_removes_the_lock_file() {
    let mut c = Cluster::new("term", TICKET);
    c.start(0);
    assert!(c.lock(0).exists());
    c.signal(0, "TERM");
    let status = c.daemons[0].as_mut().unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!c.lock(0).exists(), "{}", c.log(0));
}

#[test]
fn sighup_reloads_without_dropping_the_held_ticket() {
    let mut c = Cluster::new("hup", TICKET);
    c.start_all();
    assert!(c
        .client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"])
        .status
        .success());
    let text = std::fs::read_to_string(&c.conf).unwrap();
    std::fs::write(
        &c.conf,
        format!("{text}ticket = ticketB\n  expire = 10\n  timeout = 1\n  retries = 3\n"),
    )
    .unwrap();
    for i in 0..3 {
        c.signal(i, "HUP");
    }
    wait_for(Duration::from_secs(3), || {
        c.list(0).contains("ticket: ticketB")
    });
    assert!(c.list(0).starts_with("ticket: ticketA, leader: 127.0.0.1"));
    assert!(c
        .client(&["grant", "-w", "-s", "127.0.0.2", "ticketB"])
        .status
        .success());
    // A broken file is refused and the daemon keeps running on the old one.
    std::fs::write(&c.conf, "this is not a booth config\n").unwrap();
    c.signal(0, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&c.conf, &text).unwrap();
    assert!(c.list(0).starts_with("ticket: ticketA, leader: 127.0.0.1"));
    assert!(
        c.log(0).contains("keeping the running configuration"),
        "{}",
        c.log(0)
    );
    // A granted ticket removed from the configuration is revoked in the
    // site's store.
    let state = c.dir.join("state0").join("ticketA");
    assert!(std::fs::read_to_string(&state)
        .unwrap()
        .contains("granted=true"));
    std::fs::write(
        &c.conf,
        text.replace("ticket = ticketA\n", "ticket = ticketC\n"),
    )
    .unwrap();
    c.signal(0, "HUP");
    wait_for(Duration::from_secs(3), || {
        std::fs::read_to_string(&state)
            .unwrap()
            .contains("granted=false")
    });
    assert!(!c.list(0).contains("ticketA"), "{}", c.list(0));
}

/// A site's host reboots while its ticket is granted, and its daemon comes
/// back with a configuration that lacks the ticket; a reload adds it back.
/// The ticket starts from what the store holds (the grant, whose lease the
/// peers still count), as at start-up, not as never granted: otherwise the
/// site votes for another one while its own lease runs (simulator seed
/// 22948). The peers stay down, so only the store can tell it.
#[test]
fn a_ticket_added_by_a_reload_starts_from_its_stored_grant() {
    let mut c = Cluster::new("back", TICKET);
    c.start_all();
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    let state = c.dir.join("state0").join("ticketA");
    wait_for(Duration::from_secs(3), || {
        std::fs::read_to_string(&state)
            .unwrap_or_default()
            .contains("granted=true")
    });
    let text = c.reboot_all_without_ticket_a();
    c.start(0);
    c.reload_site0_expecting_ticket_a_held(&text);
}

#[test]
fn a_hung_handler_is_killed_and_the_grant_denied() {
    let tickets = "ticket = ticketA\n  expire = 10\n  timeout = 1\n  retries = 3\n  renewal-freq = 4\n  before-acquire-handler = /bin/sleep 1000\n";
    let mut c = Cluster::new("handler", tickets);
    c.start_all();
    let t0 = Instant::now();
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert_eq!(g.status.code(), Some(1), "{}", stderr(&g));
    assert!(
        stderr(&g).contains("before-acquire-handler for ticket \"ticketA\" failed"),
        "{}",
        stderr(&g)
    );
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(
        c.log(0).contains("takes too long, killing it"),
        "{}",
        c.log(0)
    );
}

#[test]
fn a_client_that_sends_nothing_is_dropped() {
    let mut c = Cluster::new("silent", TICKET);
    c.start(0);
    let port: u16 = std::fs::read_to_string(&c.conf).unwrap()[7..]
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed without a reply");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(13),
        "{waited:?}"
    );
    assert!(c.client(&["list", "-s", "127.0.0.1"]).status.success());
}

/// Voluntary context switches of a process, from /proc.
fn switches(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn an_idle_daemon_does_not_wake_up() {
    let mut c = Cluster::new("idle", TICKET);
    c.start_all();
    std::thread::sleep(Duration::from_secs(2));
    let before: Vec<u64> = (0..3).map(|i| switches(c.pid(i))).collect();
    std::thread::sleep(Duration::from_secs(10));
    let after: Vec<u64> = (0..3).map(|i| switches(c.pid(i))).collect();
    for i in 0..3 {
        let woke = after[i] - before[i];
        // No ticket granted, no packets: at most a timer-wheel cascade.
        assert!(woke <= 2, "member {i} woke {woke} times in 10 s");
    }
}

#[test]
fn handler_directory_environment_and_verdict() {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir().join(format!("booth-handlers-{}", std::process::id()));
    let hdir = base.join("checks");
    std::fs::create_dir_all(&hdir).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
    let envfile = base.join("env.txt");
    let script = |name: &str, body: &str| {
        let p = hdir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script(
        "10-env",
        &format!(
            "env | grep '^BOOTH_' | sort > {}; echo \"args:$*\" >> {}",
            envfile.display(),
            envfile.display()
        ),
    );
    script("20-ok", "exit 0");
    // Not executable, and hidden: both skipped.
    std::fs::write(hdir.join("README"), "notes\n").unwrap();
    script(".30-hidden", "exit 1");
    let tickets = format!(
        "ticket = ticketA\n  expire = 10\n  timeout = 1\n  retries = 3\n  before-acquire-handler = {} db8\n",
        hdir.display()
    );
    let mut c = Cluster::new("handlers", &tickets);
    c.start_all();
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    let env = std::fs::read_to_string(&envfile).unwrap();
    assert!(env.contains("BOOTH_TICKET=ticketA\n"), "{env}");
    assert!(env.contains("BOOTH_LOCAL=127.0.0.1\n"), "{env}");
    assert!(env.contains("BOOTH_CONF_NAME=booth\n"), "{env}");
    assert!(
        env.contains(&format!("BOOTH_CONF_PATH={}\n", c.conf.display())),
        "{env}"
    );
    assert!(
        env.contains("BOOTH_TICKET_EXPIRES=0\n"),
        "not owned yet: {env}"
    );
    assert!(env.contains("BOOTH_TICKET_TERM="), "{env}");
    assert!(
        env.contains("args:db8"),
        "configured arguments passed: {env}"
    );
    // A failing program denies the grant (at the other site).
    script("25-fail", "exit 3");
    assert!(c
        .client(&["revoke", "-w", "-s", "127.0.0.1", "ticketA"])
        .status
        .success());
    // The revoke reaches the other site by a datagram after the client is
    // answered: grant there once it has seen it, as an operator would.
    wait_for(Duration::from_secs(3), || {
        c.list(1).to_lowercase() == "ticket: ticketa, leader: none\n"
    });
    let g = c.client(&["grant", "-w", "-s", "127.0.0.2", "ticketA"]);
    assert_eq!(g.status.code(), Some(1));
    assert!(
        stderr(&g).contains("before-acquire-handler for ticket \"ticketA\" failed, grant denied"),
        "{}",
        stderr(&g)
    );
    drop(c);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn attr_prereq_gates_grants_through_geostore() {
    let tickets = "ticket = ticketA\n  expire = 10\n  timeout = 1\n  retries = 3\n  attr-prereq = manual repl eq ACTIVE\n";
    let mut c = Cluster::new("prereq", tickets);
    c.start_all();
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert_eq!(g.status.code(), Some(1));
    assert!(
        stderr(&g).contains("attr-prereq for ticket \"ticketA\" failed, grant denied"),
        "{}",
        stderr(&g)
    );
    let geostore = c.dir.join("geostore");
    std::os::unix::fs::symlink(BIN, &geostore).unwrap();
    let conf = c.conf.to_str().unwrap().to_string();
    let set = Command::new(&geostore)
        .args(["set", "-c", &conf, "-s", "127.0.0.1", "repl", "ACTIVE"])
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", stderr(&set));
    let list = Command::new(&geostore)
        .args(["list", "-c", &conf, "-s", "127.0.0.1"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).starts_with("repl ACTIVE "));
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
}

#[test]
fn peers_output_has_the_c_booth_layout() {
    let mut c = Cluster::new("peers", TICKET);
    c.start_all();
    let out = String::from_utf8(c.client(&["peers", "-s", "127.0.0.1"]).stdout).unwrap();
    // Mask the times: "YYYY-MM-DD HH:MM:SS" -> "T".
    let masked: Vec<String> = out
        .lines()
        .map(|l| match l.find("last recv: ") {
            Some(i) => format!("{}last recv: T", &l[..i]),
            None => l.to_string(),
        })
        .collect();
    // "\t<Sent|Recv> name:N name:N ..." with exactly these names.
    let counters = |l: &str, prefix: &str, names: &[&str]| {
        let rest = l.strip_prefix(prefix).unwrap_or_else(|| panic!("{l:?}"));
        let got: Vec<(&str, &str)> = rest.split(' ').filter_map(|f| f.split_once(':')).collect();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), names, "{l:?}");
        assert!(got.iter().all(|g| g.1.parse::<u64>().is_ok()), "{l:?}");
    };
    let lines: Vec<&str> = masked.iter().map(String::as_str).collect();
    assert_eq!(lines.len(), 8, "{out}");
    assert_eq!(lines[0], "site         127.0.0.2, last recv: T");
    counters(lines[1], "\tSent ", &["pkts", "error", "resends"]);
    counters(
        lines[2],
        "\tRecv ",
        &["pkts", "error", "authfail", "invalid"],
    );
    assert_eq!(lines[3], "");
    assert_eq!(lines[4], "arbitrator   127.0.0.3, last recv: T");
    assert!(out.ends_with("\n\n"));
}

#[test]
fn daemonizes_as_a_session_leader_once_it_serves() {
    let c = Cluster::new("detach", TICKET);
    // Without -S: the parent returns once the child answers clients.
    let out = Command::new(BIN)
        .args(["daemon", "-c"])
        .arg(&c.conf)
        .args(["-s", "127.0.0.1", "-l"])
        .arg(c.lock(0))
        .arg("--state-dir")
        .arg(c.dir.join("state0"))
        .env("BOOTH_NO_REALTIME", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        c.client(&["list", "-s", "127.0.0.1"]).status.success(),
        "serving when the parent returns"
    );
    let lock = std::fs::read_to_string(c.lock(0)).unwrap();
    let pid: i32 = lock
        .split_whitespace()
        .find_map(|f| f.strip_prefix("booth_pid="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(lock.contains("booth_state=started"), "{lock}");
    // Field 6 of /proc/PID/stat is the session id.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let sid: i32 = after_comm.split(' ').nth(3).unwrap().parse().unwrap();
    assert_eq!(sid, pid, "the LSB script stops the daemon by session");
    // A failure before serving makes the parent fail: a second instance.
    let again = Command::new(BIN)
        .args(["daemon", "-c"])
        .arg(&c.conf)
        .args(["-s", "127.0.0.1", "-l"])
        .arg(c.lock(0))
        .env("BOOTH_NO_REALTIME", "1")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let _ = Command::new("kill").arg(pid.to_string()).status();
    wait_for(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}
