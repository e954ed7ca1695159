//! Restarts: what a member promised before its daemon restarted (promise.rs),
//! and the start-up fence when it cannot know (a host reboot).

use super::*;

/// Runs in 100 ms steps until `until`, asserting `cond` after each.
fn always(n: &mut Net, until: u64, what: &str, cond: impl Fn(&Net) -> bool) {
    while n.now < until {
        let next = n.now + 100;
        n.run_until(next);
        assert!(cond(n), "{what}: no longer at t={}", n.now);
    }
}

#[test]
fn a_restarted_arbitrator_acknowledges_the_holder_at_once() {
    // Site B is down for maintenance; the arbitrator is restarted (an
    // upgrade). A + arbitrator are a majority: A keeps the ticket.
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.kill(1);
    n.run_until(9_000);
    n.kill(2);
    n.run_until(9_500);
    n.boot(2);
    always(&mut n, 80_000, "A holds the ticket", |n| {
        n.granted_at(0, "T")
    });
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn a_rebooted_arbitrator_fences_itself_and_the_holder_survives_it_later() {
    // The same after a host reboot: the arbitrator does not know what it
    // promised and acknowledges nothing until a lease could have run out;
    // A loses the ticket meanwhile, and takes it again after the fence.
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.kill(1);
    n.run_until(9_000);
    n.kill(2);
    n.run_until(9_500);
    n.reboot(2);
    n.run_until(80_000);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    assert!(
        n.granted_at(0, "T"),
        "A has the ticket again after the fence"
    );
}

/// The other side of the rule above (stale.rs, seed 8679): a holder whose
/// host reboots (no record) while its peers hold its lease hears them
/// confirm it and keeps the ticket without a break.
#[test]
fn a_rebooted_holder_its_peers_confirm_keeps_the_ticket() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.kill(0);
    n.run_until(10_000);
    n.reboot(0);
    always(&mut n, 80_000, "A holds the ticket", |n| {
        n.granted_at(0, "T")
    });
    assert!(
        n.cib_log.iter().all(|(_, m, w)| *m != 0 || w.granted),
        "A's grant was revoked on the way: {:?}",
        n.cib_log
    );
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

#[test]
fn restarted_arbitrator_with_its_promises_does_not_help_elect_a_second_leader() {
    // A leads and renews through the arbitrator; B is cut off from A, so
    // it sees A's lease end (at 26 s) and campaigns. Just before, the
    // arbitrator restarts, and A's answer to its state query is lost: only
    // the leases it acknowledged before, given back to it, keep it from
    // voting for B while A's lease runs.
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.cut.push((0, 1));
    n.cut.push((1, 0));
    n.run_until(25_500);
    n.kill(2);
    n.cut.push((0, 2));
    n.cut.push((2, 0));
    n.run_until(25_800);
    n.boot(2);
    n.run_until(29_000);
    n.cut.retain(|&(a, b)| (a, b) == (0, 1) || (a, b) == (1, 0));
    n.run_until(120_000);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

/// Simulator seed 5328: the arbitrator acknowledged m0's lease, its host
/// rebooted (no record: it fences itself) while it was cut off, and its
/// daemon restarted before the fence lifted. The record the fenced daemon
/// left held no lease, only its term; the next daemon trusted it, started
/// without a fence and voted at once for another site whose view of m0's
/// lease had run out: two sites granted.
#[test]
fn a_fence_survives_a_daemon_restart() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    assert!(n.granted_at(0, "T"));
    n.isolate(2);
    n.reboot(2);
    n.run_until(12_000);
    n.kill(2);
    n.boot(2);
    n.run_until(13_000);
    // m1 asks for the arbitrator's vote in a newer term: m0's lease, which
    // the arbitrator acknowledged before its reboot, may still run.
    let term = n.e(2).ticket_view(Tix::at(0)).term;
    let c = n.clock_of(2);
    let mut v = msg(1001, OP_REQ_VOTE, 1001, term + 1, 0);
    v.header.reason = OR_TKT_LOST;
    let e = n.e_mut(2);
    e.handle_packet(c, 1, &v).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    assert!(
        !out.iter().any(|o| matches!(o, Output::Send { msg, .. }
            if msg.header.cmd == OP_VOTE_FOR && msg.body.leader == 1001)),
        "voted while fenced: {out:?}"
    );
}
