//! SIGHUP reloads while CIB writes are running or waiting to retry, on a
//! loopback cluster (see `common/cluster.rs`).

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::{wait_for, wait_output};

/// A ticket whose CIB write failed and waits to retry is removed by a
/// reload: the daemon keeps running, and the revoke of the removed ticket
/// still reaches the CIB once crm_ticket works again (the write is not
/// lost to the failure that was pending when the reload came).
#[test]
fn reload_removing_a_ticket_whose_write_waits_to_retry() {
    let mut c = Cluster::new("retry", &["tA", "tB"]);
    c.mark(0, "fail-tB", true);
    c.start_all();
    // The grant's answer waits for the CIB: do not wait for it here.
    let mut g = c.start_client(&["grant", "-s", "127.0.0.1", "tB"]);
    wait_for(Duration::from_secs(10), || {
        c.writes(0).contains("fail tB -g")
    });
    // The retry comes 2 s after the failure: reload before it.
    c.reload(&["tA"], 0..1);
    wait_for(Duration::from_secs(3), || {
        c.log(0).contains("configuration reloaded")
    });
    // Past the retry (2 s) and the next one (4 s).
    std::thread::sleep(Duration::from_secs(3));
    assert!(c.alive(0), "daemon died:\n{}", c.log(0));
    assert!(!c.list(0).contains("tB"), "{}", c.list(0));
    c.mark(0, "fail-tB", false);
    wait_for(Duration::from_secs(40), || c.cib(0, "tB") == "revoked");
    assert!(c.alive(0), "daemon died:\n{}", c.log(0));
    assert!(c.list(0).starts_with("ticket: tA, leader: NONE"));
    let _ = g.kill();
    let _ = g.wait();
}

/// A reload inserts a ticket before one whose grant is being written: the
/// write's confirmation reaches the right ticket, the waiting client gets
/// its answer, later writes of the ticket go on, and a revoke reaches the
/// CIB before another site may take the ticket.
#[test]
fn reload_inserting_a_ticket_before_one_being_written() {
    let mut c = Cluster::new("insert", &["tB"]);
    c.mark(0, "slow-tB", true);
    c.start_all();
    let waiting = c.start_client(&["grant", "-w", "-s", "127.0.0.1", "tB"]);
    wait_for(Duration::from_secs(10), || {
        c.writes(0).contains("start tB -g")
    });
    c.reload(&["tA", "tB"], 0..3);
    let g = wait_output(waiting, Duration::from_secs(15));
    c.assert_ok(&g);
    assert_eq!(c.cib(0, "tB"), "granted");
    c.mark(0, "slow-tB", false);
    // The ticket's writes go on: a revoke is written and confirmed.
    let r = c.start_client(&["revoke", "-w", "-s", "127.0.0.1", "tB"]);
    let r = wait_output(r, Duration::from_secs(15));
    c.assert_ok(&r);
    assert_eq!(c.cib(0, "tB"), "revoked", "{}", c.writes(0));
    // Now the other site may have it, and only it (once it heard of the
    // revoke).
    wait_for(Duration::from_secs(5), || {
        !c.list(1).contains("ticket: tB, leader: 127.0.0.1")
    });
    let g = c.client(&["grant", "-w", "-s", "127.0.0.2", "tB"]);
    c.assert_ok(&g);
    assert_eq!(c.cib(1, "tB"), "granted");
    assert_eq!(c.cib(0, "tB"), "revoked");
    assert!(c.alive(0), "daemon died:\n{}", c.log(0));
}

/// A reload inserts a ticket before one whose before-acquire-handler is
/// running: the handler's exit still reaches its ticket, and the grant
/// waiting for it completes.
#[test]
fn reload_inserting_a_ticket_before_one_whose_handler_runs() {
    let tb = "ticket = tB\n  expire = 10\n  timeout = 1\n  retries = 3\n  before-acquire-handler = /bin/sleep 2\n";
    let mut c = Cluster::new("handler", &[tb]);
    c.start_all();
    let waiting = c.start_client(&["grant", "-w", "-s", "127.0.0.1", "tB"]);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(c.cib(0, "tB"), "", "the handler still runs");
    c.reload(&["tA", tb], 0..3);
    let g = wait_output(waiting, Duration::from_secs(15));
    c.assert_ok(&g);
    assert_eq!(c.cib(0, "tB"), "granted");
    assert!(
        c.list(0).contains("ticket: tB, leader: 127.0.0.1"),
        "{}",
        c.list(0)
    );
}

/// A reload removes a ticket whose handler runs: the handler is stopped
/// at once (its result would be ignored), not left to its time limit.
#[test]
fn reload_removing_a_ticket_stops_its_handler() {
    let tb = "ticket = tB\n  expire = 20\n  timeout = 1\n  retries = 3\n  renewal-freq = 15\n  before-acquire-handler = /bin/sleep 30\n";
    let mut c = Cluster::new("orphan", &["tA", tb]);
    c.start_all();
    let mut g = c.start_client(&["grant", "-s", "127.0.0.1", "tB"]);
    std::thread::sleep(Duration::from_millis(700));
    c.reload(&["tA"], 0..1);
    let took = wait_for(Duration::from_secs(10), || {
        c.log(0).contains("handler \"/bin/sleep\" failed")
    });
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    assert!(c.alive(0));
    let _ = g.kill();
    let _ = g.wait();
}

/// A reload while the start-up query of the CIB runs is applied once the
/// query has ended, and the daemon then serves the new ticket list.
#[test]
fn reload_during_the_start_up_load_is_applied_after_it() {
    let mut c = Cluster::new("load", &["tB"]);
    c.mark(0, "slow-load", true);
    c.spawn_all(&[]);
    std::thread::sleep(Duration::from_millis(1000));
    c.reload(&["tA", "tB"], 0..1);
    c.wait_all();
    // The added tA is read first (slowly too).
    wait_for(Duration::from_secs(8), || c.list(0).contains("ticket: tA"));
    assert!(c.list(0).contains("ticket: tB"), "{}", c.list(0));
    assert!(c.log(0).contains("applied after"), "{}", c.log(0));
    let g = c.client(&["grant", "-w", "-s", "127.0.0.1", "tB"]);
    c.assert_ok(&g);
    assert_eq!(c.cib(0, "tB"), "granted");
}
