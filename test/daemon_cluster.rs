//! Real daemons on loopback: 2 sites + 1 arbitrator on 127.0.0.1/2/3, each
//! with its own lock file and state directory, driven by the real client.

use std::collections::HashMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::BIN;

struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<Option<Child>>,
}

/// A port free on 127.0.0.1-3 for both UDP and TCP.
fn free_port() -> u16 {
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

impl Cluster {
    fn new(name: &str, tickets: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("booth-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Started as root, the daemons drop to the run-as user: let them
        // write their lock files and state here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let conf = dir.join("booth.conf");
        let port = free_port();
        std::fs::write(
            &conf,
            format!(
                "port = {port}\nsite = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\n{tickets}"
            ),
        )
        .unwrap();
        Cluster {
            dir,
            conf,
            daemons: vec![None, None, None],
        }
    }

    fn lock(&self, i: usize) -> PathBuf {
        self.dir.join(format!("m{i}.pid"))
    }

    /// Member `i`'s daemon in the foreground, logging to m{i}.log, with
    /// no store chosen yet (Pacemaker's tools unless told otherwise).
    fn pacemaker_command(&self, i: usize) -> Command {
        let mut c = Command::new(BIN);
        c.args(["daemon", "-S", "-c"])
            .arg(&self.conf)
            .args(["-s", &addr(i), "-l"])
            .arg(self.lock(i))
            .env("BOOTH_NO_REALTIME", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("m{i}.log"))).unwrap());
        c
    }

    /// Member `i`'s daemon with its own state directory.
    fn command(&self, i: usize) -> Command {
        let mut c = self.pacemaker_command(i);
        c.arg("--state-dir").arg(self.dir.join(format!("state{i}")));
        c
    }

    fn start(&mut self, i: usize) {
        let child = self.command(i).spawn().unwrap();
        self.daemons[i] = Some(child);
        // Up when it answers `booth list`, as the OCF agent checks.
        wait_for(Duration::from_secs(10), || {
            self.client(&["list", "-s", &addr(i)]).status.success()
        });
    }

    /// Starts all members with Pacemaker as the store, through the given
    /// `crm_ticket` program, and waits until they answer.
    fn start_all_with_crm_ticket(&mut self, crm_ticket: &std::path::Path) {
        for i in 0..3 {
            let mut cmd = self.pacemaker_command(i);
            cmd.env("BOOTH_CRM_TICKET", crm_ticket);
            self.daemons[i] = Some(cmd.spawn().unwrap());
        }
        for i in 0..3 {
            wait_for(Duration::from_secs(10), || {
                self.client(&["list", "-s", &addr(i)]).status.success()
            });
        }
    }

    /// Starts all members: site 0 records tickets in the CIB file `cib`
    /// through Pacemaker's tools (with `env`), the others in state
    /// directories; waits until all answer.
    fn start_with_cib_at_site0(&mut self, cib: &std::path::Path, env: &[(&str, &std::ffi::OsStr)]) {
        for i in 0..3 {
            let mut cmd = if i == 0 {
                let mut cmd = self.pacemaker_command(i);
                cmd.env("CIB_file", cib);
                for (k, v) in env {
                    cmd.env(k, v);
                }
                cmd
            } else {
                self.command(i)
            };
            self.daemons[i] = Some(cmd.spawn().unwrap());
        }
        for i in 0..3 {
            wait_for(Duration::from_secs(10), || {
                self.client(&["list", "-s", &addr(i)]).status.success()
            });
        }
    }

    fn start_all(&mut self) {
        for i in 0..3 {
            self.start(i);
        }
    }

    fn pid(&self, i: usize) -> u32 {
        self.daemons[i].as_ref().unwrap().id()
    }

    fn signal(&self, i: usize, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid(i).to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.daemons[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn client(&self, args: &[&str]) -> Output {
        let mut full = vec![args[0], "-c", self.conf.to_str().unwrap()];
        full.extend_from_slice(&args[1..]);
        Command::new(BIN).args(&full).output().unwrap()
    }

    fn list(&self, i: usize) -> String {
        String::from_utf8(self.client(&["list", "-s", &addr(i)]).stdout).unwrap()
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("m{i}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.daemons.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn addr(i: usize) -> String {
    format!("127.0.0.{}", i + 1)
}

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "condition not met within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

const TICKET: &str = "ticket = ticketA\n  expire = 10\n  timeout = 1\n  retries = 3\n";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn grant_list_revoke_and_failover() {
    let mut c = Cluster::new("basic", TICKET);
    c.start_all();
    assert_eq!(c.list(2), "ticket: ticketA, leader: NONE\n");
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    assert!(stderr(&g).ends_with("grant succeeded!\n"), "{}", stderr(&g));
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
fn a_slow_crm_ticket_does_not_stall_the_daemon() {
    let dir = std::env::temp_dir().join(format!("booth-slowcrm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("crm_ticket");
    // Every CIB write takes 10 s; loads find no ticket.
    write_script(
        &fake,
        "#!/bin/sh\ncase \"$*\" in *-q*) exit 105;; esac\nsleep 10\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut c = Cluster::new("slowcrm", TICKET);
    c.start_all_with_crm_ticket(&fake);
    assert!(c
        .client(&["grant", "-s", "127.0.0.1", "-w", "ticketA"])
        .status
        .code()
        .is_some());
    // While the 10 s CIB writes run, the daemon answers at once and renews.
    let t0 = Instant::now();
    for _ in 0..26 {
        let q = Instant::now();
        assert!(c.list(0).starts_with("ticket: ticketA, leader: 127.0.0.1"));
        assert!(
            q.elapsed() < Duration::from_millis(500),
            "list took {:?}",
            q.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        t0.elapsed() > Duration::from_secs(9),
        "lease (10 s) renewed meanwhile"
    );
    assert!(c.list(2).starts_with("ticket: ticketA, leader: 127.0.0.1"));
    let _ = std::fs::remove_dir_all(&dir);
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

/// Pacemaker's `crm_ticket` (from pacemaker-cli-utils); CI must have it.
fn have_crm_ticket() -> bool {
    let found = Command::new("crm_ticket").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "crm_ticket is required under CI=true (apt-get install pacemaker-cli-utils)"
        );
        eprintln!("SKIPPED: crm_ticket not installed");
    }
    found
}

fn cib_query(cib: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("crm_ticket")
        .args(args)
        .env("CIB_file", cib)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tickets_and_attributes_land_in_a_real_cib() {
    if !have_crm_ticket() {
        return;
    }
    let mut c = Cluster::new("cib", TICKET);
    let cibs: Vec<PathBuf> = (0..2).map(|i| empty_cib(&c.dir, i)).collect();
    let spawn = |c: &Cluster, i: usize| {
        let mut cmd = c.pacemaker_command(i);
        if i < 2 {
            cmd.env("CIB_file", &cibs[i]);
        }
        cmd.spawn().unwrap()
    };
    for i in 0..3 {
        c.daemons[i] = Some(spawn(&c, i));
    }
    for i in 0..3 {
        wait_for(Duration::from_secs(10), || {
            c.client(&["list", "-s", &addr(i)]).status.success()
        });
    }
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    let id0 = "1696554816"; // site id of 127.0.0.1
    wait_for(Duration::from_secs(5), || {
        let q = cib_query(&cibs[0], &["-t", "ticketA", "-q"]);
        q.contains("granted=\"true\"") && q.contains(&format!("owner=\"{id0}\""))
    });
    let q = cib_query(&cibs[0], &["-t", "ticketA", "-q"]);
    assert!(q.contains("booth-cfg-name=\"booth\""), "{q}");
    // Renewals (every expire/2 = 5 s) move the recorded expiry forward.
    // (A query racing a write that replaces the CIB file may see nothing.)
    let expires = |q: &str| -> Option<i64> {
        let i = q.find("expires=\"")? + 9;
        q[i..i + q[i..].find('"')?].parse().ok()
    };
    let first = expires(&q).unwrap();
    wait_for(Duration::from_secs(8), || {
        expires(&cib_query(&cibs[0], &["-t", "ticketA", "-q"])).is_some_and(|e| e > first)
    });
    wait_for(Duration::from_secs(5), || {
        let q = cib_query(&cibs[1], &["-t", "ticketA", "-q"]);
        q.contains("granted=\"false\"") && q.contains(&format!("owner=\"{id0}\""))
    });

    // Geo attributes reach crm_ticket as single arguments, never a shell.
    let geostore = c.dir.join("geostore");
    std::os::unix::fs::symlink(BIN, &geostore).unwrap();
    let hostile = "it's $(touch /tmp/booth-pwned) `id` ; x";
    let out = Command::new(&geostore)
        .args([
            "set",
            "-c",
            c.conf.to_str().unwrap(),
            "-s",
            "127.0.0.1",
            "-t",
            "ticketA",
        ])
        .args(["repl-state", hostile])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(Duration::from_secs(5), || {
        cib_query(&cibs[0], &["-t", "ticketA", "-G", "repl-state"]).trim() == hostile
    });
    assert!(!std::path::Path::new("/tmp/booth-pwned").exists());

    // A restarted leader loads its grant from the CIB and keeps the ticket.
    c.kill(0);
    c.daemons[0] = Some(spawn(&c, 0));
    wait_for(Duration::from_secs(10), || {
        c.client(&["list", "-s", "127.0.0.1"]).status.success()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        c.list(0).starts_with("ticket: ticketA, leader: 127.0.0.1"),
        "{}",
        c.list(0)
    );
    assert!(cib_query(&cibs[0], &["-t", "ticketA", "-q"]).contains("granted=\"true\""));
    let geo = Command::new(&geostore)
        .args([
            "get",
            "-c",
            c.conf.to_str().unwrap(),
            "-s",
            "127.0.0.1",
            "-t",
            "ticketA",
            "repl-state",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&geo.stdout).trim_end(),
        hostile,
        "reloaded from the CIB"
    );

    let r = c.client(&["revoke", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(r.status.success(), "{}", stderr(&r));
    for cib in &cibs {
        wait_for(Duration::from_secs(5), || {
            let q = cib_query(cib, &["-t", "ticketA", "-q"]);
            q.contains("granted=\"false\"") && q.contains("owner=\"-1\"")
        });
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
fn a_failing_crm_ticket_is_retried_and_the_reply_waits_for_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("booth-failcrm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let fake = dir.join("crm_ticket");
    let count = dir.join("writes");
    // Loads find nothing; the first two writes fail, later ones succeed.
    write_script(
        &fake,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *-q*) exit 105;; esac\necho x >> {c}\n[ $(wc -l < {c}) -gt 2 ]\n",
            c = count.display()
        ),
    );
    let mut c = Cluster::new("failcrm", TICKET);
    c.start_all_with_crm_ticket(&fake);
    let t0 = Instant::now();
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    // Two failures with 2 s and 4 s back-off before the write that succeeds.
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(
        c.log(0)
            .contains("crm_ticket failed (exit code 1), will retry"),
        "{}",
        c.log(0)
    );
    let _ = std::fs::remove_dir_all(&dir);
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

/// A wave of CIB writes (start-up, a dozen grants) never runs more than four
/// crm_ticket processes at once per daemon, and every write still happens.
#[test]
fn crm_ticket_writes_run_at_most_four_at_a_time() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("booth-crmcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let fake = dir.join("crm_ticket");
    let log = dir.join("runs");
    // Loads find nothing; each write logs its start and end, per daemon.
    write_script(
        &fake,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *-q*) exit 105;; esac\n\
             echo \"$PPID s $2\" >> {l}\nsleep 1.5\necho \"$PPID e $2\" >> {l}\n",
            l = log.display()
        ),
    );
    let names: Vec<String> = (0..12).map(|k| format!("t{k}")).collect();
    let conf: String = names
        .iter()
        .map(|n| format!("ticket = {n}\n  expire = 10\n  timeout = 1\n  retries = 3\n"))
        .collect();
    let mut c = Cluster::new("crmcap", &conf);
    c.start_all_with_crm_ticket(&fake);
    for n in &names {
        let g = c.client(&["grant", "-s", "127.0.0.1", n]);
        assert!(g.status.success(), "{}", stderr(&g));
    }
    // Every ticket's grant reaches the (fake) CIB of site 1.
    let granted_everywhere = || {
        let runs = std::fs::read_to_string(&log).unwrap_or_default();
        names
            .iter()
            .all(|n| runs.lines().any(|l| l.ends_with(&format!(" e {n}"))))
    };
    wait_for(Duration::from_secs(40), granted_everywhere);
    std::thread::sleep(Duration::from_secs(1));
    let runs = std::fs::read_to_string(&log).unwrap();
    let mut running: HashMap<&str, i32> = HashMap::new();
    let mut most = 0;
    for l in runs.lines() {
        let mut f = l.split_whitespace();
        let (pid, what) = (f.next().unwrap(), f.next().unwrap());
        let r = running.entry(pid).or_default();
        *r += if what == "s" { 1 } else { -1 };
        most = most.max(*r);
    }
    assert!(most <= 4, "{most} crm_ticket writes at once:\n{runs}");
    assert!(most >= 2, "writes should overlap up to the limit:\n{runs}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An empty CIB file each site's crm_ticket and cibadmin can write.
fn empty_cib(dir: &std::path::Path, i: usize) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let f = dir.join(format!("cib{i}.xml"));
    let xml = Command::new("cibadmin")
        .arg("--empty")
        .output()
        .unwrap()
        .stdout;
    std::fs::write(&f, xml).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
    f
}

/// Writes an executable shell script.
fn write_script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A wrapper around a real Pacemaker tool that logs each run ("<tool>
/// <args>") to `log`, then runs the tool.
fn logging_wrapper(dir: &std::path::Path, tool: &str, log: &std::path::Path) -> PathBuf {
    let w = dir.join(format!("logged-{tool}"));
    write_script(
        &w,
        &format!(
            "#!/bin/sh\necho \"{tool} $1 $2 $3\" >> {l}\nexec {tool} \"$@\"\n",
            l = log.display()
        ),
    );
    w
}

fn cib_expires(cib: &std::path::Path, ticket: &str) -> Option<i64> {
    let q = cib_query(cib, &["-t", ticket, "-q"]);
    let i = q.find("expires=\"")? + 9;
    q[i..i + q[i..].find('"')?].parse().ok()
}

/// Renewals of many tickets share `cibadmin` runs: grants and revokes go
/// through crm_ticket one by one, renewals do not, and every renewal still
/// moves the recorded expiry forward in a real CIB.
#[test]
fn renewals_of_many_tickets_share_cib_updates() {
    if !have_crm_ticket() {
        return;
    }
    let names: Vec<String> = (0..16).map(|k| format!("t{k}")).collect();
    let conf: String = names
        .iter()
        .map(|n| format!("ticket = {n}\n  expire = 10\n  timeout = 1\n  retries = 3\n"))
        .collect();
    let mut c = Cluster::new("batch", &conf);
    let log = c.dir.join("runs");
    let crm = logging_wrapper(&c.dir, "crm_ticket", &log);
    let adm = logging_wrapper(&c.dir, "cibadmin", &log);
    let cib = empty_cib(&c.dir, 0);
    c.start_with_cib_at_site0(
        &cib,
        &[
            ("BOOTH_CRM_TICKET", crm.as_os_str()),
            ("BOOTH_CIBADMIN", adm.as_os_str()),
        ],
    );
    // One query loaded all 16 tickets' state at start-up.
    let runs = std::fs::read_to_string(&log).unwrap_or_default();
    let loads: Vec<&str> = runs.lines().filter(|l| l.contains("-q")).collect();
    assert_eq!(loads, ["crm_ticket -q  "], "{runs}");
    for n in &names {
        let g = c.client(&["grant", "-w", "-s", "127.0.0.1", n]);
        assert!(g.status.success(), "{}", stderr(&g));
    }
    let first: Vec<i64> = names
        .iter()
        .map(|n| cib_expires(&cib, n).expect("granted ticket in the CIB"))
        .collect();
    let before = std::fs::read_to_string(&log).unwrap();
    // Two renewal periods (expire/2 = 5 s each).
    std::thread::sleep(Duration::from_secs(11));
    for (n, f) in names.iter().zip(&first) {
        let now = cib_expires(&cib, n).unwrap();
        assert!(now >= f + 4, "{n}: expires {f} -> {now}");
        let q = cib_query(&cib, &["-t", n, "-q"]);
        assert!(q.contains("granted=\"true\""), "{q}");
    }
    let runs = std::fs::read_to_string(&log).unwrap();
    let later = &runs[before.len()..];
    let crm_writes = later
        .lines()
        .filter(|l| l.starts_with("crm_ticket") && !l.contains("-q"))
        .count();
    let batches = later.lines().filter(|l| l.starts_with("cibadmin")).count();
    // 32 renewals or more; without batching each was a crm_ticket run.
    assert_eq!(crm_writes, 0, "renewals went through crm_ticket:\n{later}");
    assert!(
        (1..=16).contains(&batches),
        "{batches} cibadmin runs for 32 renewals:\n{later}"
    );
    // A revoke is a state change: crm_ticket -r, as in the C booth.
    let r = c.client(&["revoke", "-w", "-s", "127.0.0.1", "t0"]);
    assert!(r.status.success(), "{}", stderr(&r));
    wait_for(Duration::from_secs(5), || {
        cib_query(&cib, &["-t", "t0", "-q"]).contains("granted=\"false\"")
    });
    let runs = std::fs::read_to_string(&log).unwrap();
    assert!(
        runs.lines().any(|l| l.starts_with("crm_ticket -t t0 -r")),
        "{runs}"
    );
}

/// A site whose cibadmin fails keeps its CIB current through crm_ticket.
#[test]
fn failing_batches_fall_back_to_crm_ticket() {
    if !have_crm_ticket() {
        return;
    }
    let mut c = Cluster::new("batchfail", TICKET);
    let cib = empty_cib(&c.dir, 0);
    c.start_with_cib_at_site0(&cib, &[("BOOTH_CIBADMIN", std::ffi::OsStr::new("false"))]);
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    let first = cib_expires(&cib, "ticketA").unwrap();
    wait_for(Duration::from_secs(10), || {
        cib_expires(&cib, "ticketA").is_some_and(|e| e > first)
    });
    assert!(c.log(0).contains("with cibadmin failed"), "{}", c.log(0));
}
