//! Alert agents on a loopback cluster (two sites, an arbitrator): a lost
//! and returning arbitrator, a failover, a hung agent. Every member runs
//! the same agent directory; the agent logs one line per event, starting
//! with the member's address.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{addr, write_script};

/// Silence after which a peer is reported unreachable, here: three probe
/// periods, each the shortest ticket timeout (1 s in the harness), plus
/// one period until the next look, plus starting the agent. The bound the
/// tests hold the daemon to leaves room for a loaded machine.
const UNREACHABLE_BOUND: Duration = Duration::from_secs(8);

fn with_agent(name: &str, tickets: &[&str], agent: &str) -> (Cluster, PathBuf) {
    let mut c = Cluster::new(name, tickets);
    let dir = c.dir.join("alerts.d");
    std::fs::create_dir_all(&dir).unwrap();
    let events = c.dir.join("events");
    // Members may run as different users (as root, each drops to its own).
    std::fs::write(&events, "").unwrap();
    std::fs::set_permissions(&events, std::fs::Permissions::from_mode(0o666)).unwrap();
    write_script(
        &dir.join("10-log"),
        &format!(
            "#!/bin/sh\necho \"$BOOTH_ALERT_LOCAL $BOOTH_ALERT_KIND $BOOTH_ALERT_EVENT \
             peer=$BOOTH_ALERT_PEER ticket=$BOOTH_ALERT_TICKET leader=$BOOTH_ALERT_LEADER \
             seq=$BOOTH_ALERT_SEQUENCE dropped=$BOOTH_ALERT_DROPPED\" >> {}\n{agent}",
            events.display()
        ),
    );
    c.daemon_args = vec!["--alerts-dir".into(), dir.display().to_string()];
    (c, events)
}

/// Waits for `cond`, showing the events so far if it does not come.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !cond() {
        if t0.elapsed() > limit {
            let dir = std::env::temp_dir();
            let all: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("booth-loopback-bal-alerts")
                })
                .map(|e| {
                    let read =
                        |f: &str| std::fs::read_to_string(e.path().join(f)).unwrap_or_default();
                    format!("{}\nm2.log:\n{}", read("events"), read("m2.log"))
                })
                .collect();
            panic!(
                "condition not met within {limit:?}; events:\n{}",
                all.join("\n--\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    t0.elapsed()
}

fn lines(events: &PathBuf, prefix: &str) -> usize {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

#[test]
fn a_lost_arbitrator_is_reported_at_both_sites_and_so_is_its_return() {
    let (mut c, events) = with_agent("bal-alerts-arb", &["T"], "");
    c.start_all();
    let arb = addr(2);
    let reachable = |i: usize| format!("{} peer reachable peer={arb} ", addr(i));
    let unreachable = |i: usize| format!("{} peer unreachable peer={arb} ", addr(i));
    wait_for(Duration::from_secs(10), || {
        (0..2).all(|i| lines(&events, &reachable(i)) == 1)
    });

    let t0 = Instant::now();
    c.kill(2);
    wait_for(UNREACHABLE_BOUND, || {
        (0..2).all(|i| lines(&events, &unreachable(i)) == 1)
    });
    let took = t0.elapsed();
    // Not before three probe periods of silence.
    assert!(took >= Duration::from_secs(2), "too early: {took:?}");
    eprintln!("unreachable reported after {took:?}");

    c.spawn(2);
    wait_for(Duration::from_secs(5), || {
        (0..2).all(|i| lines(&events, &reachable(i)) == 2)
    });
    // The sites never lost each other.
    for (i, j) in [(0, 1), (1, 0)] {
        let p = format!("{} peer unreachable peer={} ", addr(i), addr(j));
        assert_eq!(lines(&events, &p), 0);
    }
    // The restarted arbitrator saw both sites.
    for i in 0..2 {
        let p = format!("{arb} peer reachable peer={} ", addr(i));
        wait_for(Duration::from_secs(5), || lines(&events, &p) >= 1);
    }
}

#[test]
fn a_failover_is_lost_at_the_old_holder_and_granted_at_the_new() {
    let (mut c, events) = with_agent("bal-alerts-fo", &["T"], "");
    c.start_all();
    let g = c.client(&["grant", "-w", "-s", &addr(0), "T"]);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let here = |i: usize| {
        format!(
            "{} ticket granted-here peer= ticket=T leader={} ",
            addr(i),
            addr(i)
        )
    };
    wait_for(Duration::from_secs(5), || lines(&events, &here(0)) == 1);
    let elsewhere = format!(
        "{} ticket granted-elsewhere peer= ticket=T leader={} ",
        addr(1),
        addr(0)
    );
    wait_for(Duration::from_secs(5), || lines(&events, &elsewhere) == 1);

    // The holder stops (a hung machine): its lease runs out, site 1 takes
    // the ticket over.
    c.signal(0, "STOP");
    wait_for(Duration::from_secs(30), || lines(&events, &here(1)) == 1);
    let fo = format!(
        "{} ticket failed-over peer= ticket=T leader={} ",
        addr(1),
        addr(1)
    );
    // Each event is its own agent run: the failed-over line may follow the
    // granted-here line by a moment on a busy machine.
    wait_for(Duration::from_secs(5), || lines(&events, &fo) == 1);
    let fo_arb = format!("{} ticket failed-over ", addr(2));
    wait_for(Duration::from_secs(5), || lines(&events, &fo_arb) == 1);

    // Back, the old holder finds its lease gone.
    c.signal(0, "CONT");
    let lost = format!("{} ticket lost peer= ticket=T ", addr(0));
    wait_for(Duration::from_secs(10), || lines(&events, &lost) == 1);
    let now_there = format!(
        "{} ticket granted-elsewhere peer= ticket=T leader={} ",
        addr(0),
        addr(1)
    );
    wait_for(Duration::from_secs(10), || lines(&events, &now_there) == 1);
}

#[test]
fn a_hung_agent_does_not_delay_list_and_is_killed() {
    // The agent logs, then hangs (until killed at the time limit).
    let (mut c, events) = with_agent("bal-alerts-hung", &["T"], "exec sleep 60\n");
    c.start_all();
    wait_for(Duration::from_secs(10), || lines(&events, &addr(0)) >= 1);
    // Events keep coming (a grant, a revoke) while the agent hangs.
    for cmd in ["grant", "revoke", "grant"] {
        let o = c.client(&[cmd, "-w", "-s", &addr(0), "T"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t0 = Instant::now();
        let o = c.client(&["list", "-s", &addr(0)]);
        assert!(o.status.success());
        // Blocked behind the agent it would take up to its 10 s limit;
        // the margin is for a loaded machine (it takes milliseconds).
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "list took {:?}",
            t0.elapsed()
        );
        slowest = slowest.max(t0.elapsed());
    }
    eprintln!("slowest booth list behind a hung agent: {slowest:?}");
    let peers = String::from_utf8(c.client(&["peers", "--json", "-s", &addr(0)]).stdout).unwrap();
    assert!(peers.contains("\"alerts\":{"), "{peers}");
    assert!(
        !peers.contains("\"queued\":0,"),
        "events wait behind the hung run: {peers}"
    );
    // The run is killed at its time limit (10 s) and the next one starts.
    wait_for(Duration::from_secs(15), || lines(&events, &addr(0)) >= 2);
    assert!(c.log(0).contains("timed out"), "{}", c.log(0));
}

/// The sample agents (init/alerts/) with the variables the daemon sets.
#[test]
fn sample_agents_write_a_log_line_and_a_textfile() {
    let dir = std::env::temp_dir().join(format!("bal-samples-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let agents = concat!(env!("CARGO_MANIFEST_DIR"), "/init/alerts");
    let run = |agent: &str, vars: &[(&str, &str)]| {
        let mut c = std::process::Command::new(format!("{agents}/{agent}"));
        c.env("BOOTH_ALERT_FILE", dir.join("log"))
            .env("BOOTH_ALERT_TEXTFILE_DIR", dir.join("prom"))
            .env("BOOTH_ALERT_STATE_DIR", dir.join("state"))
            .env("BOOTH_ALERT_CONFIG", "booth")
            .env("BOOTH_ALERT_LOCAL", "10.0.0.1")
            .env("BOOTH_ALERT_LOCAL_ROLE", "site")
            .env("BOOTH_ALERT_TIMESTAMP", "2026-12-02 12:00:00")
            .env("BOOTH_ALERT_DROPPED", "0");
        for (k, v) in vars {
            c.env(format!("BOOTH_ALERT_{k}"), v);
        }
        assert!(c.status().unwrap().success(), "{agent}");
    };
    let peer = [
        ("KIND", "peer"),
        ("EVENT", "unreachable"),
        ("SEQUENCE", "1"),
        ("PEER", "10.0.0.3"),
        ("PEER_ROLE", "arbitrator"),
        ("LAST_HEARD", "1764676800"),
    ];
    let ticket = [
        ("KIND", "ticket"),
        ("EVENT", "granted-here"),
        ("SEQUENCE", "2"),
        ("TICKET", "T"),
        ("LEADER", "10.0.0.1"),
        ("TERM", "4"),
        ("EXPIRY", "1764676810"),
    ];
    for vars in [&peer[..], &ticket[..]] {
        run("alert_file.sh", vars);
        run("alert_prometheus.sh", vars);
    }
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    assert_eq!(
        log,
        "2026-12-02 12:00:00 booth site 10.0.0.1 #1 peer unreachable arbitrator 10.0.0.3 (last heard: 1764676800)\n\
         2026-12-02 12:00:00 booth site 10.0.0.1 #2 ticket granted-here T leader 10.0.0.1 (was none) term 4 expires 1764676810\n"
    );
    let prom = std::fs::read_to_string(dir.join("prom/booth_booth.prom")).unwrap();
    for line in [
        "booth_peer_reachable{config=\"booth\",peer=\"10.0.0.3\",role=\"arbitrator\"} 0",
        "booth_peer_last_heard_seconds{config=\"booth\",peer=\"10.0.0.3\",role=\"arbitrator\"} 1764676800",
        "booth_ticket_granted_here{config=\"booth\",ticket=\"T\"} 1",
        "booth_ticket_term{config=\"booth\",ticket=\"T\"} 4",
        "booth_alert_events_total{config=\"booth\",kind=\"peer\",event=\"unreachable\"} 1",
        "booth_alert_last_sequence{config=\"booth\"} 2",
    ] {
        assert!(prom.lines().any(|l| l == line), "{line} not in\n{prom}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failing_cib_writes_are_reported_and_so_is_their_recovery() {
    let (mut c, events) = with_agent("bal-alerts-cib", &["T"], "");
    c.start_all();
    c.mark(0, "fail-T", true);
    // The reply waits for the write: do not wait for it.
    let mut g = c
        .client_command(&["grant", "-s", &addr(0), "T"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let failing = format!("{} cib failing ", addr(0));
    wait_for(Duration::from_secs(10), || lines(&events, &failing) == 1);
    c.mark(0, "fail-T", false);
    let recovered = format!("{} cib recovered ", addr(0));
    wait_for(Duration::from_secs(15), || lines(&events, &recovered) == 1);
    assert_eq!(
        lines(&events, &failing),
        1,
        "one alert for a run of failures"
    );
    // The client got its answer once the write went through.
    let _ = g.kill();
    let _ = g.wait();
}

#[test]
fn a_failing_handler_is_reported() {
    let (mut c, events) = with_agent("bal-alerts-hdl", &["T"], "");
    let handler = c.dir.join("refuse.sh");
    write_script(&handler, "#!/bin/sh\nexit 3\n");
    c.configure(&[&format!(
        "ticket = T\n  expire = 10\n  timeout = 1\n  retries = 3\n  before-acquire-handler = {}\n",
        handler.display()
    )]);
    c.start_all();
    let g = c.client(&["grant", "-w", "-s", &addr(0), "T"]);
    assert!(!g.status.success());
    let failed = format!("{} handler failed peer= ticket=T ", addr(0));
    wait_for(Duration::from_secs(5), || lines(&events, &failed) == 1);
}

#[test]
fn authentication_failures_are_reported_then_rate_limited() {
    use std::fs::Permissions;
    let (mut c, events) = with_agent("bal-alerts-auth", &["T"], "");
    let key = |name: &str, content: &str| {
        let p = c.dir.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, Permissions::from_mode(0o600)).unwrap();
        p
    };
    let good = key("good.key", "0123456789abcdef");
    let bad = key("bad.key", "fedcba9876543210");
    c.configure(&[&format!(
        "authfile = {}\n{}",
        good.display(),
        common::cluster::ticket("T")
    )]);
    // A client with another key: same members, its own file.
    let conf = std::fs::read_to_string(&c.conf).unwrap();
    let other = c.dir.join("other.conf");
    std::fs::write(
        &other,
        conf.replace(&*good.to_string_lossy(), &bad.to_string_lossy()),
    )
    .unwrap();
    c.start_all();
    let list = || {
        std::process::Command::new(common::BIN)
            .args(["list", "-s", &addr(0), "-c"])
            .arg(&other)
            .output()
            .unwrap()
    };
    for _ in 0..3 {
        assert!(!list().status.success());
    }
    let failed = format!("{} auth failed peer= ", addr(0));
    wait_for(Duration::from_secs(5), || lines(&events, &failed) == 1);
    // The next ones within a minute are counted, not reported.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lines(&events, &failed), 1);
}

#[test]
fn agents_added_later_are_taken_at_a_reload() {
    let (mut c, events) = with_agent("bal-alerts-hup", &["T"], "");
    let dir = c.dir.join("alerts.d");
    let agent = dir.join("10-log");
    std::fs::rename(&agent, c.dir.join("later")).unwrap();
    c.start_all();
    let g = c.client(&["grant", "-w", "-s", &addr(0), "T"]);
    assert!(g.status.success());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lines(&events, ""), 0, "no agents, no events");
    std::fs::rename(c.dir.join("later"), &agent).unwrap();
    c.signal(0, "HUP");
    // Site 0 now hears its peers (the probe starts) and reports them.
    let p = format!("{} peer reachable peer={} ", addr(0), addr(2));
    wait_for(Duration::from_secs(5), || lines(&events, &p) == 1);
    let r = c.client(&["revoke", "-w", "-s", &addr(0), "T"]);
    assert!(r.status.success());
    let revoked = format!("{} ticket revoked ", addr(0));
    wait_for(Duration::from_secs(5), || lines(&events, &revoked) == 1);
}
