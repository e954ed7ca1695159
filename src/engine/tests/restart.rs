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
