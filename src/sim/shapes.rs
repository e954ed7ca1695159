//! Issue #17's sequences driven by hand through the simulated world (no
//! random schedule): each must end without a violation. They show that the
//! world can produce the shapes (a stale hand-over, a restart with the wall
//! clock behind, a suspend) and that the checks see what goes wrong in them.

use std::time::Duration;

use super::check::{self, Kind, Timing};
use super::gen::{self, ChaosProfile, MemberProfile, NetProfile, Setup};
use super::world::{HoldKind, Restart, SuspendClock, World};
use crate::config::{MemberKind, TicketConfig, TicketMode, TicketSettings};
use crate::wire::codes::{CMD_GRANT, CMD_REVOKE};
use crate::wire::OPT_WAIT;

/// One automatic ticket: 20 s lease, 2 s timeout, 3 retries, renewal at 10 s.
fn ticket(handler: bool) -> TicketConfig {
    TicketConfig::new(
        "tk0",
        TicketSettings {
            before_acquire_handler: handler.then(|| vec!["/bin/true".into()]),
            ..TicketSettings::test_lease(TicketMode::Auto)
        },
    )
}

/// Two sites and an arbitrator, 10 ms links (m0 -> m1 `slow_01` ms),
/// synchronised clocks, fast crm_ticket and handlers.
fn world(t: TicketConfig, slow_01: u64) -> World {
    world_with(t, slow_01, 5, 1)
}

/// As [`world`], with every CIB write at m0 taking `crm0_ms` and the
/// world's random choices from `seed`.
fn world_with(t: TicketConfig, slow_01: u64, crm0_ms: u64, seed: u64) -> World {
    use MemberKind::{Arbitrator as A, Site as S};
    let kinds = [S, S, A];
    let members = kinds
        .iter()
        .enumerate()
        .map(|(m, &kind)| MemberProfile {
            kind,
            wall_offset_ms: 0,
            mono_offset_ms: 1_000_000,
            crm_ms: if m == 0 { (crm0_ms, crm0_ms) } else { (5, 5) },
            handler_ms: (5, 5),
            inbox_cap: 16,
        })
        .collect();
    let mut base_ms = vec![vec![10; 3]; 3];
    base_ms[0][1] = slow_01;
    let setup = Setup {
        cfg: gen::config(&kinds, vec![t], false),
        members,
        net: NetProfile {
            base_ms,
            jitter_ms: vec![vec![0; 3]; 3],
        },
        chaos: ChaosProfile {
            mean_gap_ms: 1000,
            max_loss: 0,
            max_dup: 0,
            spike_rate: 0,
            spike_ms: 0,
            slow_crm_ms: (5, 5),
            crm_fail: 0,
            handler_fail: 1000,
            epochs: 1,
        },
    };
    let mut w = World::new(setup, seed);
    for m in 0..3 {
        w.boot(m);
    }
    w.run_until(5_000);
    w
}

fn granted_at(w: &mut World, m: usize, until: u64) {
    w.client_request(m, CMD_GRANT, OPT_WAIT, 0, None);
    w.run_until(until);
    assert_eq!(w.holder(0), Some(m), "granted at m{m}");
}

fn assert_clean(w: &World) {
    let v: Vec<String> = w.violations.iter().map(|v| v.to_string()).collect();
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn a_stale_step_down_does_not_reset_a_newer_lease() {
    // Sequence 1: m0's handler fails at a renewal; its step-down (VOTE_FOR
    // naming no one) reaches the others 2 s late, after m0 took the
    // ticket again in a newer term.
    let mut w = world(ticket(true), 30);
    granted_at(&mut w, 0, 8_000);
    w.set_handler_failing(0, true);
    w.hold_next(Some(0), HoldKind::StepDown, 2_000, 30_000, false);
    while !w.hold_fired() && w.now < 30_000 {
        w.run_until(w.now + 10);
    }
    assert!(w.hold_fired(), "m0 stepped down");
    w.set_handler_failing(0, false);
    w.client_request(0, CMD_GRANT, OPT_WAIT, 0, None);
    w.run_until(w.now + 60_000);
    assert_eq!(w.stats.counters.held, 2, "held to m1 and the arbitrator");
    assert_clean(&w);
}

#[test]
fn a_stale_revoke_does_not_reset_a_newer_lease() {
    // The variant: a revoke of term T reaches the others after m0 was
    // granted again; then m1 is asked for the ticket with -F.
    let mut w = world(ticket(false), 10);
    granted_at(&mut w, 0, 8_000);
    w.hold_next(Some(0), HoldKind::Revoke, 3_000, 1_000, false);
    w.client_request(0, CMD_REVOKE, OPT_WAIT, 0, None);
    w.run_until(w.now + 500);
    assert!(w.hold_fired(), "m0 revoked");
    let until = w.now + 2_000;
    granted_at(&mut w, 0, until);
    w.run_until(w.now + 3_000);
    w.client_request(1, CMD_GRANT, OPT_WAIT | crate::wire::OPT_IMMEDIATE, 0, None);
    w.run_until(w.now + 60_000);
    assert_clean(&w);
}

#[test]
fn a_restart_with_the_wall_clock_behind_keeps_no_stale_grant() {
    // Sequence 2: m0 held the ticket and went down, m1 took it over; m0
    // comes back with its wall clock an hour behind.
    let mut w = world(ticket(false), 10);
    granted_at(&mut w, 0, 8_000);
    w.crash(0);
    w.run_until(w.now + 40_000);
    assert_eq!(w.holder(0), Some(1), "failed over to m1");
    w.step_wall(0, -3_600_000);
    w.boot(0);
    w.run_until(w.now + 120_000);
    assert_clean(&w);
}

#[test]
fn a_write_landing_as_its_daemon_dies_keeps_the_lease_it_asked_for() {
    // m0 holds the ticket; its CIB writes take 3 s. A renewal's write is
    // running when m0's wall clock steps back 10 s and its daemon dies; the
    // write may land as it dies. The checks must see the lease that write
    // was asked for, not its expiry re-read with the stepped clock (which
    // made a later, correct grant elsewhere look like a dual grant:
    // simulator seed 7386).
    let mut landed = 0;
    for seed in 1..=8 {
        let mut w = world_with(ticket(false), 10, 3_000, seed);
        granted_at(&mut w, 0, 12_000);
        let granted = w.view(0, 0).and_then(|v| v.term_expires);
        while w.view(0, 0).and_then(|v| v.term_expires) == granted {
            w.run_until(w.now + 10);
        }
        let asked = w.view(0, 0).and_then(|v| v.term_expires).unwrap();
        let asked = asked.ms() as i64 - 1_000_000;
        // The writer batches renewals for up to 2 s, then runs for 3 s.
        w.run_until(w.now + 2_500);
        w.step_wall(0, -10_000);
        w.crash(0);
        let end = w.cib_lease_end(0, 0).unwrap();
        assert!(end <= asked, "seed {seed}: CIB lease {end}, asked {asked}");
        landed += usize::from(end == asked);
    }
    assert!(landed > 0, "no write landed as its daemon died");
}

#[test]
fn a_suspended_holder_times_its_lease_with_boottime() {
    // A holder's host is suspended for longer than the lease; the others
    // take the ticket over. With CLOCK_BOOTTIME the resumed holder sees
    // that its lease is over.
    let mut w = world(ticket(false), 10);
    granted_at(&mut w, 0, 8_000);
    w.suspend(0, 60_000);
    w.run_until(w.now + 120_000);
    assert_eq!(w.holder(0), Some(1));
    assert_clean(&w);
}

#[test]
fn a_suspend_with_a_monotonic_lease_clock_is_caught() {
    // The same with CLOCK_MONOTONIC: the resumed holder believes its lease
    // runs on and keeps its CIB grant while m1 holds the ticket.
    let mut w = world(ticket(false), 10);
    w.suspend_clock = SuspendClock::Monotonic;
    granted_at(&mut w, 0, 8_000);
    w.suspend(0, 60_000);
    w.run_until(w.now + 120_000);
    let kinds: Vec<Kind> = w.violations.iter().map(|v| v.kind).collect();
    assert!(
        kinds.contains(&Kind::GrantNotRevoked) || kinds.contains(&Kind::DualGrant),
        "{kinds:?}"
    );
}

#[test]
fn a_restarted_arbitrator_does_not_cost_a_backed_holder_its_ticket() {
    // Sequence 3: site m1 is down for maintenance, the arbitrator restarts
    // (an upgrade); holder m0 and the arbitrator are a majority, so m0
    // keeps the ticket.
    let mut w = world(ticket(false), 10);
    granted_at(&mut w, 0, 5_500);
    w.crash(1);
    w.restart(2, Restart::Daemon, 0);
    w.run_until(w.now + 90_000);
    assert_eq!(w.holder(0), Some(0));
    assert_clean(&w);
}

#[test]
fn a_held_message_arrives_late_and_once() {
    let mut w = world(ticket(false), 10);
    granted_at(&mut w, 0, 8_000);
    // The next acknowledgement from m1 arrives 5 s late, with no copy on time.
    w.hold_next(Some(1), HoldKind::Ack, 5_000, 20_000, false);
    w.run_until(w.now + 15_000);
    assert!(w.hold_fired());
    assert_eq!(w.stats.counters.held, 1);
    assert_eq!(w.holder(0), Some(0), "the arbitrator's ack suffices");
    assert_clean(&w);
}

#[test]
fn a_late_heartbeat_of_a_lost_leader_moves_the_failover_deadline_on() {
    // Seed 3025's shape: a renewal of m0 also reaches the others 27.5 s late,
    // after m0 was lost. They take it as a fresh heartbeat and follow m0
    // for another lease from its arrival, so the ticket fails over later
    // than the bound from the loss allows, within the deadline that counts
    // from that arrival.
    let mut tk = ticket(false);
    tk.timeout = Duration::from_secs(1);
    let mut w = world(tk, 10);
    granted_at(&mut w, 0, 8_000);
    // m0 renews every 8 s: the held renewal arrives just before the lease
    // of the next one ends, 19 s after m0 is lost.
    w.hold_next(Some(0), HoldKind::Any, 27_500, 30_000, true);
    while !w.hold_fired() && w.now < 30_000 {
        w.run_until(w.now + 10);
    }
    assert!(w.hold_fired(), "m0 renewed");
    let held = w.now;
    w.run_until(held + 8_500);
    let lost = w.now;
    w.watch_failover(0, vec![0]);
    w.suspend(0, 150_000);
    let tm = Timing {
        max_delay: 10,
        max_crm: 5,
        max_handler: 5,
        unit: 1000,
    };
    let bound = check::failover_bound(&w.cfg.tickets[0], &tm);
    let deadline = w.run_to_failover_deadline(0, &tm, lost + bound, lost + 140_000);
    let offer = w
        .late_lease_offer(0)
        .expect("the late heartbeat was acknowledged");
    assert!(offer >= held + 27_500, "acknowledged on arrival");
    let at = w.failover_time(0).expect("failed over");
    assert_eq!(w.holder(0), Some(1));
    assert!(at > lost + bound, "later than the bound from the loss");
    assert!(
        at <= deadline,
        "within the deadline from the late heartbeat"
    );
    assert_eq!(
        deadline,
        check::failover_deadline(&w.cfg.tickets[0], &tm, lost, Some(offer))
    );
    assert_clean(&w);
}

#[test]
fn a_host_reboot_forgets_the_state_file_and_a_daemon_restart_keeps_it() {
    let mut w = world(ticket(false), 10);
    let name = w.ticket_name(0).to_string();
    // A record saying the arbitrator reached term 77: a restarted daemon
    // takes it back (terms never go back), a rebooted host has lost it.
    let record = |term: u32| format!("T {name} {term} -\n").into_bytes();
    w.set_state_file(2, Some(record(77)));
    w.restart(2, Restart::Daemon, 0);
    assert!(
        w.engine(2)
            .unwrap()
            .ticket_view(crate::engine::Tix::FIRST)
            .term
            >= 77
    );
    assert_eq!(w.host_boots(2), 0);
    w.set_state_file(2, Some(record(99)));
    w.restart(2, Restart::Host, -5_000);
    assert!(
        w.engine(2)
            .unwrap()
            .ticket_view(crate::engine::Tix::FIRST)
            .term
            < 99
    );
    assert_eq!(w.host_boots(2), 1);
    assert_eq!(w.setup.members[2].wall_offset_ms, -5_000);
}

#[test]
fn a_geostore_change_queued_while_loading_counts_for_the_attributes() {
    // Seed 3260: a wrong value queued at a site still loading its CIB
    // landed after "heal everything" had found its attributes right, and
    // a failover test then expected that site to take the ticket.
    use crate::config::{AttrOp, AttrPrereq, GrantType};
    use crate::sim::gen::{PREREQ_ATTR, PREREQ_OK};
    let mut t = ticket(false);
    t.attr_prereqs = vec![AttrPrereq {
        grant_type: GrantType::Auto,
        name: PREREQ_ATTR.into(),
        op: AttrOp::Eq,
        value: PREREQ_OK.into(),
    }];
    let mut w = world(t, 10);
    w.set_attr(0, 0, PREREQ_ATTR, Some(PREREQ_OK));
    w.run_until(w.now + 1_000);
    assert!(w.attrs_ok(0, 0));
    // m0's daemon restarts and cannot read its CIB: geostore waits.
    w.set_crm(0, false, true);
    w.crash(0);
    w.boot(0);
    w.set_attr(0, 0, PREREQ_ATTR, Some("DEGRADED"));
    assert!(w.attrs_ok(0, 0), "nothing stored yet");
    assert!(!w.attrs_ok_once_applied(0, 0), "the queued change counts");
}
