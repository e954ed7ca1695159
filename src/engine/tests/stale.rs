//! Stale messages and wrong clocks: a release, revoke or claim from an older
//! round arriving after a newer one, and a member restarted with its wall
//! clock set back. Each of these once ended with two sites granted.

use super::*;

/// A step-down: a vote for no one.
fn is_release(m: &TicketMsg) -> bool {
    m.header.cmd == OP_VOTE_FOR && m.body.leader == NO_ONE
}

fn is_revoke(m: &TicketMsg) -> bool {
    m.header.cmd == OP_REVOKE
}

fn any(_: &TicketMsg) -> bool {
    true
}

/// Runs in small steps until `cond` holds, at most until `limit`.
fn run_until_cond(n: &mut Net, limit: u64, cond: impl Fn(&Net) -> bool) -> u64 {
    while n.now < limit {
        if cond(n) {
            return n.now;
        }
        let next = n.now + 10;
        n.run_until(next);
    }
    panic!("condition not reached by t={limit}");
}

/// Members 1 and 2 get m0's messages matched by `hit` `ms` late.
fn delay_from_0(n: &mut Net, hit: fn(&TicketMsg) -> bool, ms: u64) {
    n.slow.push((0, 1, hit, ms));
    n.slow.push((0, 2, hit, ms));
}

#[test]
fn a_late_release_from_an_older_term_changes_nothing() {
    let mut t = ticket("T", 20, 2, 3);
    t.before_acquire_handler = Some(vec!["/bin/check".into()]);
    let mut n = three(t);
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(n.granted_at(0, "T"));
    // The handler fails at the next renewal: m0 steps down; its release
    // spends two seconds in the network.
    delay_from_0(&mut n, is_release, 2_000);
    n.handler[0] = HandlerPolicy::Fail;
    run_until_cond(&mut n, 30_000, |n| !n.granted_at(0, "T"));
    // Fixed at once: the administrator grants at m0 again, and the peers
    // (which have not heard of the release) vote for it in a newer term.
    n.handler[0] = HandlerPolicy::Succeed;
    n.slow.clear();
    // m0's "still valid" reject reaches m1 after the arbitrator's vote.
    n.slow.push((0, 1, any, 20));
    n.client(0, 2, CMD_GRANT, 0, "T");
    let granted = run_until_cond(&mut n, 40_000, |n| n.granted_at(0, "T"));
    let term = n.e(0).ticket_view(Tix::at(0)).term;
    // The old release arrives now; m0's lease must keep it alone.
    n.run_until(granted + 20_000);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    assert!(n.granted_at(0, "T"), "m0 keeps the ticket it was granted");
    assert!(!n.granted_at(1, "T"));
    for m in [1, 2] {
        assert_eq!(n.leader_of(m, 0), Leader::of(0), "m{m} follows m0");
    }
    assert!(n.e(1).ticket_view(Tix::at(0)).term >= term);
}

#[test]
fn a_late_revoke_from_an_older_term_changes_nothing() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(n.granted_at(0, "T"));
    delay_from_0(&mut n, is_revoke, 2_000);
    n.client(0, 2, CMD_REVOKE, 0, "T");
    let revoked = run_until_cond(&mut n, 10_000, |n| !n.granted_at(0, "T"));
    // The revoke goes out once the CIB has it.
    n.run_until(revoked + 100);
    n.slow.clear();
    n.client(0, 3, CMD_GRANT, 0, "T");
    let granted = run_until_cond(&mut n, 12_000, |n| n.granted_at(0, "T"));
    n.run_until(granted + 3_000);
    // The old revoke has arrived: the followers still know m0 holds it.
    for m in [1, 2] {
        assert_eq!(n.leader_of(m, 0), Leader::of(0), "m{m} follows m0");
    }
    let text = n.e(1).list_text(n.clock_of(1), &|t| t.to_string());
    assert!(text.contains("leader: 198.51.100.1"), "{text}");
    // A forced grant at m1 must not take it from under m0's lease.
    n.client(1, 4, CMD_GRANT, OPT_IMMEDIATE, "T");
    n.run_until(granted + 15_000);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    assert!(n.granted_at(0, "T"));
    assert!(!n.granted_at(1, "T"));
}

#[test]
fn a_holder_restarted_with_its_clock_an_hour_behind_gives_way() {
    holder_restarted_an_hour_behind(false);
}

/// The same on another host (or after a reboot): no record of the lease,
/// only the CIB, read by a clock an hour behind.
#[test]
fn a_holder_rebooted_with_its_clock_an_hour_behind_gives_way() {
    holder_restarted_an_hour_behind(true);
}

fn holder_restarted_an_hour_behind(reboot: bool) {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.kill(0);
    // m1 takes the ticket once m0's lease is over.
    run_until_cond(&mut n, 60_000, |n| n.granted_at(1, "T"));
    n.run_until(60_000);
    // m0 comes back on a node whose wall clock lags an hour: its CIB's
    // `expires` (written by the correct clock) looks an hour away.
    n.wall_off[0] = -3_600_000;
    if reboot {
        n.reboot(0);
    } else {
        n.boot(0);
    }
    run_until_cond(&mut n, 62_000, |n| !n.granted_at(0, "T"));
    // m1 keeps the ticket all along: m0's stale claim does not make the
    // arbitrator refuse m1's renewals.
    while n.now < 150_000 {
        let next = n.now + 100;
        n.run_until(next);
        assert!(n.granted_at(1, "T"), "m1 lost the ticket at {}", n.now);
    }
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    assert!(!n.granted_at(0, "T"));
    // Nobody is locked out by the stale claim: m1 dies, m0 takes over
    // within a lease (plus an election).
    n.kill(1);
    let at = n.now;
    let got = run_until_cond(&mut n, at + 40_000, |n| n.granted_at(0, "T"));
    assert!(got - at <= 20_000 + 5_000, "failover took {} ms", got - at);
}

#[test]
fn a_claim_older_than_the_acknowledged_lease_does_not_block_its_renewal() {
    // The arbitrator follows m1 (term 2). m0, restarted with an old CIB,
    // claims a lease in term 1: m1's next heartbeat is still acknowledged.
    let cfg = config(&[S, S, A], vec![ticket("T", 20, 2, 3)]);
    let mut e = new_engine(cfg, 2, 7);
    e.start(clock(0));
    let mut at = 30_000;
    let hb = |e: &mut Engine, at: u64| -> Vec<Output> {
        let _ = e.handle_packet(clock(at), 1, &msg(1001, OP_HEARTBEAT, 1001, 2, 20));
        std::iter::from_fn(|| e.poll_output()).collect()
    };
    let acked = |out: &[Output]| {
        out.iter().any(|o| {
            matches!(o, Output::Send { to: 1, msg, .. }
                if msg.header.cmd == OP_ACK && msg.header.request == OP_HEARTBEAT)
        })
    };
    assert!(acked(&hb(&mut e, at)));
    at += 1_000;
    let _ = e.handle_packet(clock(at), 0, &msg(1000, OP_STATUS, 1000, 1, 20));
    while e.poll_output().is_some() {}
    at += 9_000;
    let out = hb(&mut e, at);
    assert!(acked(&out), "{out:?}");
}

/// A holder whose lease ended while it was down comes back cut off from
/// everyone, with its wall clock set back: nobody can tell it that another
/// site holds the ticket, so it must see by itself that its CIB grant is
/// over: from its record of the lease (a daemon restart), or because the
/// CIB's `expires` is further away than any lease can be (a reboot).
#[test]
fn an_isolated_holder_restarted_with_its_clock_behind_revokes_at_once() {
    // Ten seconds behind looks like a lease still running; ten minutes
    // cannot be one. A daemon restart has its record; a reboot has not.
    for (reboot, behind) in [(false, 10_000), (false, 600_000), (true, 600_000)] {
        let mut n = three(ticket("T", 20, 2, 3));
        n.client(0, 1, CMD_GRANT, 0, "T");
        n.run_until(8_000);
        n.kill(0);
        let taken = run_until_cond(&mut n, 60_000, |n| n.granted_at(1, "T"));
        n.run_until(taken + 500);
        n.wall_off[0] = -behind;
        n.isolate(0);
        if reboot {
            n.reboot(0);
        } else {
            n.boot(0);
        }
        let at = n.now;
        run_until_cond(&mut n, at + 1_000, |n| !n.granted_at(0, "T"));
        assert!(n.granted_at(1, "T"));
    }
}

/// Simulator seed 8679: the holder is cut off from everyone while its lease
/// runs, and its host reboots with the wall clock a few seconds behind (less
/// than a lease: nothing looks wrong locally) and no record of what it
/// promised. Its CIB's `expires`, read by that clock, says the grant runs
/// on past the true lease end, and nobody can tell it otherwise. The rest
/// of the cluster elects another site once the lease is over; by then the
/// old holder must have revoked a grant that no majority confirmed (the
/// peers' answers to its state query are the only clock it can trust).
#[test]
fn an_isolated_holder_rebooted_with_its_clock_seconds_behind_revokes_what_no_peer_confirms() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(n.granted_at(0, "T"));
    n.isolate(0);
    n.run_until(20_000);
    // Its lease ends in a few seconds; 8 s behind, the CIB's grant seems
    // to run for 8 s more than that.
    n.wall_off[0] = -8_000;
    n.reboot(0);
    let booted = n.now;
    let taken = run_until_cond(&mut n, 60_000, |n| n.granted_at(1, "T"));
    assert!(
        !n.granted_at(0, "T"),
        "m1 granted at {taken} while m0 still holds its unconfirmed grant"
    );
    let revoked = n
        .cib_log
        .iter()
        .find(|(t, m, w)| *m == 0 && *t >= booted && !w.granted)
        .map(|x| x.0)
        .expect("m0 revoked its grant");
    assert!(
        revoked <= booted + 2_000,
        "revoked {} ms after the reboot, later than the state query's timeout",
        revoked - booted
    );
}

/// Rebooted with its clock a few seconds behind (less than a lease: nothing
/// looks wrong locally), the old holder learns from its peers that another
/// site holds the ticket in a newer term, and gives way at once.
#[test]
fn a_holder_rebooted_with_its_clock_seconds_behind_gives_way_when_told() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.kill(0);
    let taken = run_until_cond(&mut n, 60_000, |n| n.granted_at(1, "T"));
    n.run_until(taken + 500);
    // Its CIB's lease ended a moment ago; 10 s behind, it seems to run on.
    n.wall_off[0] = -10_000;
    n.reboot(0);
    let at = n.now;
    run_until_cond(&mut n, at + 1_000, |n| !n.granted_at(0, "T"));
    n.run_until(at + 30_000);
    assert!(n.granted_at(1, "T"));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

/// Found by the model checker: a holder restarted from its CIB (term 0)
/// first hears the restarted arbitrator (no leader, term 1), which raises
/// its term; the live holder's answer (term 1) must still make it give
/// way. And the live holder's heartbeat alone must do so too.
#[test]
fn a_restarted_stale_holder_gives_way_whoever_raised_its_term_or_by_heartbeat() {
    let mut cfg = config(&[S, S, A], vec![ticket("T", 20, 2, 3)]);
    cfg.subsecond_times = true;
    let start = |cfg: &Config| {
        let mut e = new_engine(cfg.clone(), 0, 7);
        let st = CibState {
            granted: true,
            owner: Some(1000),
            expires: Some((WALL0 + 8_000) / 1000),
            term: Some(0),
            attrs: vec![],
        };
        e.load_cib(clock(0), Tix::at(0), &st);
        e.start(clock(0));
        while e.poll_output().is_some() {}
        e
    };
    let revoked = |e: &mut Engine| {
        std::iter::from_fn(|| e.poll_output())
            .any(|o| matches!(o, Output::WriteCib(w) if !w.granted))
    };
    // The arbitrator answers first: no leader, term 1.
    let mut e = start(&cfg);
    let _ = e.handle_packet(clock(10), 2, &msg(1002, OP_MY_INDEX, NO_ONE, 1, 0));
    while e.poll_output().is_some() {}
    let _ = e.handle_packet(clock(20), 1, &msg(1001, OP_MY_INDEX, 1001, 1, 15_000));
    assert!(revoked(&mut e), "gave way to m1's answer");
    // The live holder's heartbeat alone.
    let mut e = start(&cfg);
    let _ = e.handle_packet(clock(10), 1, &msg(1001, OP_HEARTBEAT, 1001, 1, 15_000));
    assert!(revoked(&mut e), "gave way to m1's heartbeat");
}

/// Found by the simulator: a holder whose host rebooted with its wall clock
/// stepped ahead reads its CIB's `expires` as past, although the lease
/// still runs. It revokes its grant, but must not help elect another site
/// before that revoke is written: until then its CIB says "granted".
#[test]
fn a_holder_rebooted_with_its_clock_ahead_votes_only_once_its_revoke_is_written() {
    let cfg = config(&[S, S, A], vec![ticket("T", 20, 2, 3)]);
    let ahead = 100_000;
    let c = |t: u64| Clock::new(Time::from_ms(t), WALL0 + t as i64 + ahead);
    let mut e = new_engine(cfg, 0, 7);
    // 15 s of the lease are left, but by our clock it ended 85 s ago.
    let st = CibState {
        granted: true,
        owner: Some(1000),
        expires: Some((WALL0 + 15_000) / 1000),
        term: Some(1),
        attrs: vec![],
    };
    e.load_cib(c(0), Tix::at(0), &st);
    e.start(c(0));
    // Both peers answer the state query (nobody holds the ticket, they
    // say): every view heard, no start-up fence holds our vote back.
    let _ = e.handle_packet(c(50), 1, &msg(1001, OP_MY_INDEX, NO_ONE, 1, 0));
    let _ = e.handle_packet(c(50), 2, &msg(1002, OP_MY_INDEX, NO_ONE, 1, 0));
    let mut at = 50;
    let mut revoke_asked = false;
    let mut voted = false;
    // m1 asks for votes in a newer term, again and again, while our CIB
    // revoke is not confirmed.
    for k in 0..20u64 {
        at += 100;
        e.handle_timeout(c(at));
        let _ = e.handle_packet(c(at), 1, &msg(1001, OP_REQ_VOTE, 1001, 2 + k as u32, 0));
        for o in std::iter::from_fn(|| e.poll_output()) {
            match o {
                Output::WriteCib(w) if !w.granted => revoke_asked = true,
                Output::Send { to: 1, msg, .. } if msg.header.cmd == OP_VOTE_FOR => {
                    voted |= msg.body.leader == 1001;
                }
                _ => {}
            }
        }
    }
    assert!(revoke_asked, "the grant is revoked");
    assert!(!voted, "voted for another site while the CIB says granted");
    // Written: now it may vote.
    e.handle_cib_written(c(at), e.ticket_id(Tix::at(0)), false);
    while e.poll_output().is_some() {}
    at += 100;
    let _ = e.handle_packet(c(at), 1, &msg(1001, OP_REQ_VOTE, 1001, 30, 0));
    let voted = std::iter::from_fn(|| e.poll_output()).any(|o| {
        matches!(o, Output::Send { to: 1, msg, .. }
            if msg.header.cmd == OP_VOTE_FOR && msg.body.leader == 1001)
    });
    assert!(voted, "votes once the revoke is written");
}

/// Simulator seed 2796: the holder's host rebooted with its wall clock
/// ahead, so its CIB's `expires` looked past; it dropped the grant and, while
/// its CIB revoke was still being written, told its peers it held nothing.
/// The other members that had acknowledged the lease had rebooted too or
/// read it from their CIB with a clock ahead as well; another site was
/// elected and granted while the old grant, still within
/// its true lease, stood in the first site's CIB.
#[test]
fn a_holder_rebooted_with_its_clock_ahead_holds_its_claim_until_revoked() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(n.granted_at(0, "T"));
    for m in 0..3 {
        n.kill(m);
    }
    n.run_until(9_000);
    // Both sites' clocks are now half a minute ahead (m1's CIB records m0's
    // lease too), and m0's crm_ticket hangs: the CIB revoke it asks for is
    // never confirmed.
    n.wall_off[0] = 30_000;
    n.wall_off[1] = 30_000;
    n.cib_confirms = false;
    for m in 0..3 {
        n.reboot(m);
    }
    while n.now < 24_000 {
        let next = n.now + 100;
        n.run_until(next);
        assert!(
            !n.granted_at(1, "T"),
            "t={}: m1 granted while m0's revoke is unconfirmed",
            n.now
        );
    }
}

/// Simulator seed 5844: a holder rebooted with its clock far behind takes
/// its CIB grant as over and revokes it, but kept its restart claim for a
/// lease: it refused the live holder's heartbeats ("... holds a lease"
/// naming itself) although it held nothing, and the live holder lost the
/// ticket when the others could not back it.
#[test]
fn a_holder_rebooted_with_its_clock_behind_backs_the_live_holder_once_revoked() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.kill(0);
    run_until_cond(&mut n, 60_000, |n| n.granted_at(1, "T"));
    n.run_until(60_000);
    n.wall_off[0] = -3_600_000;
    n.reboot(0);
    run_until_cond(&mut n, 62_000, |n| !n.granted_at(0, "T"));
    // Give m0 time to hear every view (its start-up fence), then the
    // arbitrator goes down: m1 and m0 are a majority.
    n.run_until(65_000);
    n.kill(2);
    while n.now < 120_000 {
        let next = n.now + 100;
        n.run_until(next);
        assert!(n.granted_at(1, "T"), "m1 lost the ticket at {}", n.now);
    }
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

/// Simulator seed 3730: a follower's host rebooted with its wall clock an
/// hour behind; its CIB named the old holder with the lease end it had
/// followed, which its clock read as an hour away. It announced that lease
/// (capped at `expire`) in its state query, its peers recorded the claim
/// and refused the live holder's renewals. Like our own grant, another
/// site's lease that lies further away than a lease can tells that the
/// clock is behind: it is taken as over.
#[test]
fn a_follower_rebooted_with_its_clock_behind_announces_no_old_lease() {
    let cfg = config(&[S, S, A], vec![ticket("T", 20, 2, 3)]);
    let mut e = new_engine(cfg, 1, 7);
    // Written by m1 (correct clock) for m0's lease that ended at 8 s;
    // read at 60 s by a clock an hour behind.
    let st = CibState {
        granted: false,
        owner: Some(1000),
        expires: Some((WALL0 + 8_000) / 1000),
        term: Some(0),
        attrs: vec![],
    };
    let behind = Clock::new(Time::from_ms(60_000), WALL0 + 60_000 - 3_600_000);
    e.load_cib(behind, Tix::at(0), &st);
    e.start(behind);
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    for o in &out {
        if let Output::Send { msg, .. } = o {
            assert_eq!(msg.body.term_valid_for, 0, "announced a lease: {msg:?}");
        }
    }
    let v = e.ticket_view(Tix::at(0));
    assert!(
        v.term_expires.is_none_or(|x| x <= Time::from_ms(60_000)),
        "follows a lease until {:?}",
        v.term_expires
    );
}

/// Simulator seed 2181: m0 revoked in term 10 and its REVOKE was held back
/// in the network; m0 restarted (its term back from the CIB and its
/// record), its peers answered "term 10, no leader", and with no snapshot
/// since its start m0 campaigned and won again in term 10 itself. The old
/// REVOKE, of the very term m0 then led, reset both followers, and a
/// second site was granted. A restarted member's first election takes a
/// new term, like any later one.
#[test]
fn a_restarted_site_campaigns_in_a_new_term() {
    let cfg = config(&[S, S, A], vec![ticket("T", 20, 2, 3)]);
    let mut e = new_engine(cfg, 0, 7);
    let st = CibState {
        granted: false,
        owner: Some(-1),
        expires: Some((WALL0 + 8_000) / 1000),
        term: Some(10),
        attrs: vec![],
    };
    e.load_cib(clock(60_000), Tix::at(0), &st);
    e.start(clock(60_000));
    while e.poll_output().is_some() {}
    for (from, id) in [(1, 1001), (2, 1002)] {
        let _ = e.handle_packet(clock(60_050), from, &msg(id, OP_MY_INDEX, NO_ONE, 10, 0));
    }
    while e.poll_output().is_some() {}
    e.handle_client(clock(61_000), 1, CMD_GRANT, 0, "T");
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    let terms: Vec<u32> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { msg, .. } if msg.header.cmd == OP_REQ_VOTE => Some(msg.body.term),
            _ => None,
        })
        .collect();
    assert!(!terms.is_empty(), "no election: {out:?}");
    assert!(
        terms.iter().all(|&t| t > 10),
        "campaigned in term {terms:?}"
    );
}

/// Simulator seed 861: m1's daemon restarted with its wall clock hours
/// ahead; its record said its lease ran 58 s more, its CIB's `expires`
/// read by that clock said it was over, so it asked for the CIB revoke at
/// start (crm_ticket slow and failing). An admin revoke then went out to
/// the peers at once, as the grant no longer looked like ours, and another
/// site was granted while m1's CIB still said granted.
#[test]
fn a_revoke_waits_for_the_cib_revoke_asked_at_start() {
    let cfg = config(&[S, S, A], vec![ticket("T", 60, 3, 3)]);
    let mut e = new_engine(cfg, 0, 7);
    // Granted here until 100 s (true time), by the CIB and the record.
    let st = CibState {
        granted: true,
        owner: Some(1000),
        expires: Some((WALL0 + 100_000) / 1000),
        term: Some(4),
        attrs: vec![],
    };
    let ahead = Clock::new(Time::from_ms(50_000), WALL0 + 50_000 + 3_600_000);
    e.load_cib(ahead, Tix::at(0), &st);
    let p = Promise {
        term: 4,
        vote: Some((4, 1000)),
        claims: vec![(1000, Time::from_ms(100_000))],
        fence: None,
    };
    assert!(e.restore_promise(Tix::at(0), &p));
    e.start(ahead);
    while e.poll_output().is_some() {}
    // The arbitrator's answer: m0 holds it, 49 s left.
    let _ = e.handle_packet(
        Clock::new(Time::from_ms(50_100), WALL0 + 50_100 + 3_600_000),
        2,
        &msg(1002, OP_MY_INDEX, 1000, 4, 49),
    );
    while e.poll_output().is_some() {}
    let later = Clock::new(Time::from_ms(51_000), WALL0 + 51_000 + 3_600_000);
    e.handle_client(later, 1, CMD_REVOKE, 0, "T");
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    assert!(
        !out.iter().any(|o| matches!(o, Output::Send { msg, .. }
            if msg.header.cmd == OP_REVOKE)),
        "told the peers before the CIB revoke was written: {out:?}"
    );
}

/// Simulator seed 2074: a holder giving the ticket up keeps its claim
/// while its CIB revoke is being written (the release hold), and a state
/// answer meanwhile raised its term to a newer one led by another site.
/// Its state answers must tell the hold in the term of the lease it holds:
/// told in the newer term, the hold read as that term's lease, and a peer
/// followed the old holder and refused the new leader's heartbeats until
/// the hold ended (the new leader lost the ticket to a healthy majority).
#[test]
pub(super) fn a_release_hold_is_told_in_the_term_of_its_lease() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(n.granted_at(0, "T"));
    let term = n.e(0).ticket_view(Tix::at(0)).term;
    // The revoke hangs in crm_ticket: m0 holds its claim meanwhile.
    n.cib_failing[0] = true;
    n.client(0, 2, CMD_REVOKE, 0, "T");
    // m1 answers a state query: m1 leads a newer term (no lease yet).
    let c = n.clock_of(0);
    let mut answer = msg(1001, OP_MY_INDEX, 1001, term + 3, 0);
    answer.header.request = OP_STATUS;
    let _ = n.e_mut(0).handle_packet(c, 1, &answer);
    n.drain(0);
    assert!(
        n.e(0).ticket_view(Tix::at(0)).term > term,
        "m0 took the newer term"
    );
    // m2 asks m0 for its state.
    let c = n.clock_of(0);
    let _ = n
        .e_mut(0)
        .handle_packet(c, 2, &msg(1002, OP_STATUS, NO_ONE, term + 3, 0));
    let told: Vec<TicketMsg> = std::iter::from_fn(|| n.e_mut(0).poll_output())
        .filter_map(|o| match o {
            Output::Send { to: 2, msg, .. } if msg.header.cmd == OP_MY_INDEX => Some(msg),
            _ => None,
        })
        .collect();
    assert!(!told.is_empty(), "m0 answers the state query");
    for m in told {
        if m.body.leader == 1000 && m.body.term_valid_for > 0 {
            assert_eq!(m.body.term, term, "the hold told in another term: {m:?}");
        }
    }
}

/// Simulator seed 9890: the holder's host rebooted with its clock ahead,
/// so its loaded grant looked over; it holds its claim while the revoke is
/// written, but its start-up state query, sent before, said "leader: us, no
/// lease". The other members had rebooted too: hearing every member's
/// view lifted their start-up fence, and they elected another site within
/// the old lease. The query must carry the hold.
#[test]
pub(super) fn a_rebooted_holder_tells_its_hold_in_its_first_state_query() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(n.granted_at(0, "T"));
    n.kill(0);
    n.run_until(9_000);
    // Half a minute ahead: the CIB's lease looks over.
    n.wall_off[0] = 30_000;
    n.cib_confirms = false;
    n.reboot(0);
    let queries: Vec<&TicketMsg> = n
        .msgs
        .values()
        .filter(|m| m.header.from == 1000 && m.header.cmd == OP_STATUS)
        .collect();
    assert!(!queries.is_empty(), "m0 asks its peers at start");
    for q in queries {
        assert!(
            q.body.leader == 1000 && q.body.term_valid_for > 0,
            "the state query tells no hold: {q:?}"
        );
    }
}

/// Simulator seed 1692 (a failover 51 s late): a heartbeat the holder had
/// sent 17 minutes earlier, in a term it had long left, reached a follower
/// after the holder's host was suspended; the follower, following that
/// same holder in its newer term, took it as a fresh lease and refused
/// the other sites' votes for a lease longer. A leader's heartbeat of a
/// term older than one we heard it in is stale: it renews nothing.
#[test]
fn a_heartbeat_of_a_term_its_leader_has_left_renews_nothing() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    n.client(0, 2, CMD_REVOKE, 0, "T");
    n.run_until(10_000);
    n.client(0, 3, CMD_GRANT, 0, "T");
    n.run_until(14_000);
    let old = 0;
    let term = n.e(0).ticket_view(Tix::at(0)).term;
    assert!(term > old, "m0 leads a newer term");
    assert_eq!(n.leader_of(1, 0), Leader::of(0));
    n.kill(0);
    let before = n.e(1).ticket_view(Tix::at(0)).term_expires;
    n.run_until(20_000);
    let c = n.clock_of(1);
    let _ = n
        .e_mut(1)
        .handle_packet(c, 0, &msg(1000, OP_HEARTBEAT, 1000, old, 20));
    n.drain(1);
    let after = n.e(1).ticket_view(Tix::at(0)).term_expires;
    assert!(
        after <= before,
        "a stale heartbeat renewed the lease: {before:?} -> {after:?}"
    );
}
