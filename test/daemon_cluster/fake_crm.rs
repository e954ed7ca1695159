//! The daemon against fake `crm_ticket`s that are slow, fail, or count how
//! many of them run at once.

use super::*;

#[test]
fn a_slow_crm_ticket_does_not_stall_the_daemon() {
    // Every CIB write takes 10 s; loads find no ticket.
    let (_dir, fake) = fake_crm_ticket("slowcrm", "sleep 10\n");

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
}
#[test]
fn a_failing_crm_ticket_is_retried_and_the_reply_waits_for_it() {
    // Loads find nothing; the first two writes fail, later ones succeed.
    let (_dir, fake) = fake_crm_ticket_with("failcrm", |dir| {
        let c = dir.join("writes").display().to_string();
        format!("echo x >> {c}\n[ $(wc -l < {c}) -gt 2 ]\n")
    });
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
}
/// A wave of CIB writes (start-up, a dozen grants) never runs more than four
/// crm_ticket processes at once per daemon, and every write still happens.
#[test]
fn crm_ticket_writes_run_at_most_four_at_a_time() {
    // Loads find nothing; each write logs its start and end, per daemon.
    let (dir, fake) = fake_crm_ticket_with("crmcap", |dir| {
        format!(
            "echo \"$PPID s $2\" >> {l}\nsleep 1.5\necho \"$PPID e $2\" >> {l}\n",
            l = dir.join("runs").display()
        )
    });
    let log = dir.join("runs");
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
}

/// A fake crm_ticket in a fresh directory (removed when dropped) that the
/// daemons, run as the site user, may write in: start-up loads find no
/// ticket, every other call runs the shell lines `writes`.
pub(crate) fn fake_crm_ticket(tag: &str, writes: &str) -> (TempDir, PathBuf) {
    fake_crm_ticket_with(tag, |_| writes.to_string())
}

/// `fake_crm_ticket` whose lines may name files in its directory.
pub(crate) fn fake_crm_ticket_with(
    tag: &str,
    writes: impl Fn(&Path) -> String,
) -> (TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let fake = dir.join("crm_ticket");
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in *-q*) exit 105;; esac\n{}",
        writes(dir.path())
    );
    write_script(&fake, &script);
    (dir, fake)
}
