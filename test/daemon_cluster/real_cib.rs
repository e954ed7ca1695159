//! Tickets, attributes and renewals in a real CIB file through Pacemaker's
//! own crm_ticket and cibadmin.

use super::*;

/// Pacemaker's `crm_ticket` (from pacemaker-cli-utils); CI must have it.
pub(crate) fn have_crm_ticket() -> bool {
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

pub(crate) fn cib_query(cib: &std::path::Path, args: &[&str]) -> String {
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
    let cibs: Vec<PathBuf> = (0..2).map(|i| site_cib(&c.dir, i)).collect();
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
    // geostore OP at site 1 for ticketA, with these operands.
    let conf = c.conf.clone();
    let geo_at_1 = |op: &str, operands: &[&str]| {
        Command::new(&geostore)
            .args([op, "-c", conf.to_str().unwrap()])
            .args(["-s", "127.0.0.1", "-t", "ticketA"])
            .args(operands)
            .output()
            .unwrap()
    };
    let out = geo_at_1("set", &["repl-state", hostile]);
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
    let geo = geo_at_1("get", &["repl-state"]);
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
/// Site `i`'s empty CIB file in `dir`, which its crm_ticket and cibadmin
/// can write.
pub(crate) fn site_cib(dir: &std::path::Path, i: usize) -> PathBuf {
    let f = dir.join(format!("cib{i}.xml"));
    common::empty_cib(&f);
    f
}

/// A wrapper around a real Pacemaker tool that logs each run ("<tool>
/// <args>") to `log`, then runs the tool.
pub(crate) fn logging_wrapper(dir: &std::path::Path, tool: &str, log: &std::path::Path) -> PathBuf {
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

pub(crate) fn cib_expires(cib: &std::path::Path, ticket: &str) -> Option<i64> {
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
    let cib = site_cib(&c.dir, 0);
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
    let cib = site_cib(&c.dir, 0);
    c.start_with_cib_at_site0(&cib, &[("BOOTH_CIBADMIN", std::ffi::OsStr::new("false"))]);
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    let first = cib_expires(&cib, "ticketA").unwrap();
    wait_for(Duration::from_secs(10), || {
        cib_expires(&cib, "ticketA").is_some_and(|e| e > first)
    });
    assert!(c.log(0).contains("with cibadmin failed"), "{}", c.log(0));
}

/// The reload sequence of simulator seed 22948 with Pacemaker's own
/// crm_ticket: site 0's host reboots while it holds ticketA (the grant is
/// in its CIB, the promise record in /run is gone), its daemon comes back
/// with a configuration without ticketA, and a reload adds it back. The
/// ticket starts from the grant its CIB holds (a lease its peers may still
/// count), not as never granted; the log says the reload waited for the
/// read.
#[test]
fn a_ticket_added_by_a_reload_starts_from_the_grant_in_a_real_cib() {
    if !have_crm_ticket() {
        return;
    }
    let mut c = Cluster::new("cib-reload", TICKET);
    let cib = site_cib(&c.dir, 0);
    c.start_with_cib_at_site0(&cib, &[]);
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "ticketA"]);
    assert!(g.status.success(), "{}", stderr(&g));
    wait_for(Duration::from_secs(5), || {
        cib_query(&cib, &["-t", "ticketA", "-q"]).contains("granted=\"true\"")
    });
    let text = c.reboot_all_without_ticket_a();
    let mut cmd = c.pacemaker_command(0);
    cmd.env("CIB_file", &cib);
    c.daemons[0] = Some(cmd.spawn().unwrap());
    wait_for(Duration::from_secs(10), || {
        c.client(&["list", "-s", &addr(0)]).status.success()
    });
    c.reload_site0_expecting_ticket_a_held(&text);
    assert!(
        c.log(0)
            .contains("reading the added tickets' state from the CIB"),
        "{}",
        c.log(0)
    );
}
