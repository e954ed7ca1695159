//! Restarts of real daemons on loopback: what a member promised before its
//! daemon restarted is taken back from the record next to its lock file
//! (`<lock>.promises`), so it needs no start-up fence.

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{addr, wait_for};

/// Site B is down for maintenance; the arbitrator is killed and started
/// again (an upgrade). A and the arbitrator are a majority: A keeps the
/// ticket through its next renewals. Without the record the restarted
/// arbitrator would acknowledge nothing for a lease time (10 s here) and A
/// would lose the ticket at its next renewal (every 5 s).
#[test]
fn a_restarted_arbitrator_keeps_acknowledging_the_holder() {
    let mut c = Cluster::new("restart-arb", &["T"]);
    c.start_all();
    let out = c.client(&["grant", "-s", &addr(0), "T"]);
    assert!(out.status.success(), "{out:?}");
    wait_for(Duration::from_secs(10), || c.cib(0, "T") == "granted");
    c.kill(1);
    // The arbitrator acknowledged A's renewal; restart it.
    std::thread::sleep(Duration::from_secs(2));
    c.kill(2);
    c.spawn(2);
    wait_for(Duration::from_secs(10), || {
        c.client(&["list", "-s", &addr(2)]).status.success()
    });
    assert!(c.log(2).contains("took back the promises"), "{}", c.log(2));
    // Three renewal periods: A must hold the ticket all along.
    let until = Instant::now() + Duration::from_secs(16);
    while Instant::now() < until {
        let l = c.list(0);
        assert!(
            l.contains("leader: 127.0.0.1"),
            "A lost the ticket: {l}\n{}",
            c.log(0)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!c.writes(0).contains("T -r"), "{}", c.writes(0));
    assert_eq!(c.cib(0, "T"), "granted");
}
