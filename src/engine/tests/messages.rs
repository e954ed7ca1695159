//! Single engines driven message by message, the randomised clusters,
//! reloads, and every message in every state.

use super::*;

#[test]
fn malformed_peer_messages_change_nothing() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let before = n.e(1).ticket_view(Tix::at(0));
    let c = clock(n.now);
    let e = n.e_mut(1);
    // Heartbeat from the arbitrator naming A as leader (C aborts here).
    assert_eq!(
        e.handle_packet(c, 2, &msg(1002, OP_HEARTBEAT, 1000, 9, 60)),
        Err(Dropped::Invalid)
    );
    // Unknown leader id, leader 0, and an arbitrator as leader.
    assert_eq!(
        e.handle_packet(c, 0, &msg(1000, OP_HEARTBEAT, 77, 9, 60)),
        Err(Dropped::Invalid)
    );
    assert_eq!(
        e.handle_packet(c, 0, &msg(1000, OP_UPDATE, 0, 9, 60)),
        Err(Dropped::Invalid)
    );
    assert_eq!(
        e.handle_packet(c, 0, &msg(1000, OP_UPDATE, 1002, 9, 60)),
        Err(Dropped::Invalid)
    );
    // Unknown ticket, unknown command, message claiming to be from ourselves.
    let mut m = msg(1000, OP_HEARTBEAT, 1000, 9, 60);
    m.body.name = "other".into();
    assert_eq!(e.handle_packet(c, 0, &m), Err(Dropped::Invalid));
    assert_eq!(
        e.handle_packet(c, 0, &msg(1000, Cmd(0x1234_5678), 1000, 9, 60)),
        Err(Dropped::Invalid)
    );
    assert_eq!(
        e.handle_packet(c, 1, &msg(1001, OP_HEARTBEAT, 1001, 9, 60)),
        Err(Dropped::Invalid)
    );
    // A vote for nobody from a non-leader: ignored.
    let _ = e.handle_packet(c, 2, &msg(1002, OP_VOTE_FOR, NO_ONE, 9, 0));
    assert_eq!(e.ticket_view(Tix::at(0)), before);
}

#[test]
fn older_terms_change_nothing() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    // Bump the term with a revoke and a new grant.
    n.client(0, 2, CMD_REVOKE, 0, "T");
    n.run_until(12_000);
    n.client(1, 3, CMD_GRANT, 0, "T");
    n.run_until(20_000);
    let before = n.e(0).ticket_view(Tix::at(0));
    assert!(before.term >= 1);
    let c = clock(n.now);
    let e = n.e_mut(0);
    for cmd in [OP_HEARTBEAT, OP_UPDATE, OP_REVOKE, OP_REQ_VOTE] {
        let _ = e.handle_packet(c, 2, &msg(1002, cmd, NO_ONE, 0, 0));
    }
    assert_eq!(e.ticket_view(Tix::at(0)).leader, before.leader);
    assert_eq!(e.ticket_view(Tix::at(0)).term, before.term);
    assert_eq!(e.ticket_view(Tix::at(0)).state, before.state);
}

#[test]
fn vote_requests_are_refused_while_lease_valid() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let c = clock(n.now);
    let term = n.e(2).ticket_view(Tix::at(0)).term;
    let e = n.e_mut(2);
    let mut m = msg(1001, OP_REQ_VOTE, 1001, term + 1, 0);
    m.header.reason = OR_ADMIN;
    e.handle_packet(c, 1, &m).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    assert!(
        matches!(&out[..], [Output::Send { to: 1, msg, .. }] if msg.header.cmd == OP_REJECTED && msg.header.result == RLT_TERM_STILL_VALID),
        "{out:?}"
    );
    // A step-down reason alone does not lift A's lease...
    let mut m = msg(1001, OP_REQ_VOTE, 1001, term + 1, 0);
    m.header.reason = OR_STEPDOWN;
    e.handle_packet(c, 1, &m).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    assert!(
        matches!(&out[..], [Output::Send { to: 1, msg, .. }] if msg.header.result == RLT_TERM_STILL_VALID),
        "{out:?}"
    );
    // ...A's release does, and then the step-down election gets the vote.
    e.handle_packet(c, 0, &msg(1000, OP_VOTE_FOR, NO_ONE, term, 0))
        .unwrap();
    while e.poll_output().is_some() {}
    e.handle_packet(c, 1, &m).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    assert!(
        matches!(&out[..], [Output::Send { to: 1, msg, .. }] if msg.header.cmd == OP_VOTE_FOR && msg.body.leader == 1001),
        "{out:?}"
    );
}

#[test]
fn one_vote_per_term_even_after_a_reset() {
    let mut e = Engine::new(config(&[S, S, A], vec![ticket("T", 60, 3, 3)]), 2, 1);
    e.start(clock(0));
    while e.poll_output().is_some() {}
    // Past the start-up vote fence.
    let c = clock(70_000);
    let mut v = msg(1000, OP_REQ_VOTE, 1000, 5, 0);
    v.header.reason = OR_ADMIN;
    e.handle_packet(c, 0, &v).unwrap();
    // A revoke from "the leader" resets the ticket in C; the vote must stand.
    let mut w = msg(1001, OP_REQ_VOTE, 1001, 5, 0);
    w.header.reason = OR_ADMIN;
    e.handle_packet(c, 1, &w).unwrap();
    let votes: Vec<u32> = std::iter::from_fn(|| e.poll_output())
        .filter_map(|o| match o {
            Output::Send { msg, .. } if msg.header.cmd == OP_VOTE_FOR => Some(msg.body.leader),
            _ => None,
        })
        .collect();
    assert_eq!(votes, vec![1000, 1000]);
}

#[test]
fn deadlines_sleep_long_when_idle() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.run_until(10_000);
    let d = n.e(0).next_deadline().unwrap();
    assert!(
        d.ms() >= n.now + 3_000_000,
        "no periodic tick when nothing is granted: {d:?}"
    );
}

/// Small randomised runs: random partitions, restarts and grants on several
/// cluster shapes, with the dual-grant watcher on. (The full simulator lives
/// in test/; this keeps the engine honest on its own.)
#[test]
fn randomised_faults_never_grant_twice() {
    let seeds: u64 = std::env::var("ENGINE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut held = 0;
    let first: u64 = std::env::var("ENGINE_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for seed in first..=seeds {
        let mut rng = Rng::new(seed);
        let shapes: [&[MemberKind]; 3] = [&[S, S, A], &[S, S, S], &[S, S, S, A, A]];
        let kinds = shapes[(seed % 3) as usize];
        let mut t = ticket("T", 10 + rng.below(20), 1, 3);
        t.acquire_after = Duration::from_millis(rng.below(3000));
        let mut n = Net::new(kinds, vec![t]);
        n.seed = seed;
        n.delay = 1 + rng.below(30);
        n.fault_rng = Rng::new(seed ^ 0xfa17);
        if seed % 2 == 0 {
            n.jitter = rng.below(400);
            n.loss = rng.below(300);
            n.dup = rng.below(100);
        }
        let sites: Vec<usize> = (0..kinds.len()).filter(|&m| kinds[m] == S).collect();
        let mut client = 100;
        for _step in 0..60 {
            let now = n.now;
            match rng.below(8) {
                0 | 1 => {
                    let s = sites[rng.below(sites.len() as u64) as usize];
                    if n.engines[s].is_some() {
                        client += 1;
                        let opt = if rng.below(4) == 0 { OPT_IMMEDIATE } else { 0 };
                        n.client(s, client, CMD_GRANT, opt, "T");
                    }
                }
                2 => {
                    let m = rng.below(kinds.len() as u64) as usize;
                    if n.engines[m].is_some() {
                        n.kill(m);
                    } else {
                        n.boot(m);
                    }
                }
                3 => {
                    let a = rng.below(kinds.len() as u64) as usize;
                    let b = rng.below(kinds.len() as u64) as usize;
                    n.cut.push((a, b));
                }
                4 => n.heal(),
                5 => {
                    let s = sites[rng.below(sites.len() as u64) as usize];
                    if n.engines[s].is_some() {
                        client += 1;
                        n.client(s, client, CMD_REVOKE, 0, "T");
                    }
                }
                _ => {}
            }
            n.run_until(now + rng.below(15_000));
        }
        n.heal();
        n.loss = 0;
        for m in 0..kinds.len() {
            if n.engines[m].is_none() {
                n.boot(m);
            }
        }
        n.run_until(n.now + 120_000);
        assert!(n.violations.is_empty(), "seed {seed}: {:?}", n.violations);
        // Healed and all up: everyone agrees on who holds the ticket.
        let holder = sites.iter().copied().find(|&s| n.holds(s, "T"));
        if let Some(h) = holder {
            held += 1;
            for m in 0..kinds.len() {
                assert_eq!(
                    n.leader_of(m, 0),
                    Leader::of(h),
                    "seed {seed}: member {m}: {:?} kinds {kinds:?}",
                    n.views()
                );
            }
        }
    }
    eprintln!("randomised: {seeds} seeds, {held} ended with a holder");
    // The runs must exercise grants, not only idle clusters.
    assert!(
        held * 4 >= seeds + 1 - first,
        "only {held} of {seeds} runs ended with a holder"
    );
}

#[test]
fn reload_keeps_held_tickets_adds_and_removes_others() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let mut cfg = n.cfg.clone();
    std::sync::Arc::make_mut(&mut cfg.tickets[0]).expire = Duration::from_secs(90);
    std::sync::Arc::make_mut(&mut cfg.tickets[0]).renewal_freq = Duration::from_secs(45);
    cfg.tickets.push(ticket("U", 60, 3, 3).into());
    for m in 0..3 {
        let c = clock(n.now);
        n.e_mut(m).reconfigure(c, cfg.clone()).unwrap();
        n.drain(m);
    }
    n.cfg = cfg.clone();
    n.run_until(200_000);
    assert!(n.granted_at(0, "T"), "held ticket survives the reload");
    assert_eq!(n.e(0).ticket_view(Tix::at(0)).state, State::Leader);
    n.client(1, 2, CMD_GRANT, 0, "U");
    n.run_until(210_000);
    assert_eq!(n.results(2), vec![RLT_MORE, RLT_SUCCESS]);
    assert!(n.violations.is_empty(), "{:?}", n.violations);

    // Dropping a ticket held here revokes it in the CIB.
    let mut fewer = cfg.clone();
    fewer.tickets.remove(0);
    let c = clock(n.now);
    n.e_mut(0).reconfigure(c, fewer).unwrap();
    n.drain(0);
    assert!(!n.granted_at(0, "T"));
    assert_eq!(n.e(0).ticket_count(), 1);

    // A different member list needs a restart.
    let mut moved = cfg;
    moved.members[2].site_id = 4242;
    let c = clock(n.now);
    assert!(n.e_mut(1).reconfigure(c, moved).is_err());
    assert_eq!(n.e(1).ticket_count(), 2);
}

/// A reload that drops a held ticket and a later one that adds it back
/// must not make the members forget what they promised for it: the
/// holder's CIB revoke may still be failing (its grant stands), and every
/// member acknowledged its lease. Forgotten, a second site was elected in
/// the very term of that lease (simulator seed 9972).
#[test]
pub(super) fn a_ticket_removed_and_added_back_keeps_its_promises() {
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    assert!(n.granted_at(0, "T"));
    let lease_end = n.cib_true_end[0]["T"] as u64;
    let full = n.cfg.clone();
    let mut other = full.clone();
    other.tickets = vec![ticket("U", 60, 3, 3).into()];
    n.cib_failing[0] = true;
    let reload = |n: &mut Net, cfg: &Config| {
        for m in 0..3 {
            let c = clock(n.now);
            n.e_mut(m).reconfigure(c, cfg.clone()).unwrap();
            n.drain(m);
        }
    };
    reload(&mut n, &other);
    n.run_until(12_000);
    reload(&mut n, &full);
    n.run_until(14_000);
    n.client(1, 2, CMD_GRANT, 0, "T");
    n.run_until(30_000);
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    assert!(!n.granted_at(1, "T"), "granted within the old lease");
    // The promises are kept, not the ticket blocked: once that lease is
    // over the other site can have it.
    n.run_until(lease_end + 5_000);
    n.client(1, 3, CMD_GRANT, 0, "T");
    n.run_until(lease_end + 20_000);
    assert!(n.granted_at(1, "T"), "{:?}", n.views());
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

/// The old holder's CIB revoke must be written before the others hear of
/// it: a new holder's grant could otherwise reach its CIB first.
#[test]
fn revoke_is_announced_once_the_cib_has_it() {
    let revk_sent = |n: &Net| n.msgs.values().any(|m| m.header.cmd == OP_REVOKE);
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    assert!(n.granted_at(0, "T"));
    n.client(0, 2, CMD_REVOKE, 0, "T");
    assert!(
        !n.granted_at(0, "T"),
        "the revoke is asked of the CIB at once"
    );
    assert!(
        !revk_sent(&n),
        "no revoke message before the CIB write is confirmed"
    );
    let now = n.now;
    n.run_until(now);
    assert!(revk_sent(&n), "sent once the write is confirmed");
    n.run_until(now + 1_000);
    assert_eq!(n.leader_of(1, 0), Leader::NoOne);

    // A CIB write that never completes holds the hand-over (and our vote)
    // until the lease recorded in the CIB has run out.
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    let lease_end = n.e(0).ticket_view(Tix::at(0)).term_expires.unwrap().ms();
    n.cib_confirms = false;
    n.client(0, 2, CMD_REVOKE, 0, "T");
    n.client(1, 3, CMD_GRANT, 0, "T");
    n.run_until(lease_end - 1_000);
    assert!(!revk_sent(&n));
    assert!(
        !n.granted_at(1, "T"),
        "no grant elsewhere while our CIB may say granted"
    );
    assert!(n.violations.is_empty(), "{:?}", n.violations);
    n.run_until(lease_end + 1);
    assert!(revk_sent(&n), "handed over when the recorded lease is over");
}

#[test]
fn resends_are_marked() {
    let mut n = three(ticket("T", 20, 2, 3));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert_eq!(n.resends, 0, "a healthy grant needs no resends");
    n.kill(1);
    n.kill(2);
    // The next renewal heartbeat is unanswered: retried `retries` times to
    // each silent peer, then the leader gives up and drops at expiry.
    n.run_until(30_000);
    assert_eq!(n.resends, 2 * 3);
    assert!(!n.granted_at(0, "T"));
}

/// Drives member B of a 2-site + arbitrator cluster into each state, then
/// feeds it every message type from every peer with an older, equal and newer
/// term and several leader fields, checking each reaction against the
/// transitions raft.md allows, that terms never go backwards, and that no
/// grant reaches the CIB without a proven lease.
#[test]
fn every_message_in_every_state() {
    use State::*;
    let allowed = |from: State, to: State| {
        from == to
            || matches!(
                (from, to),
                (Init, Candidate)
                    | (Init, Follower)
                    | (Candidate, Follower)
                    | (Candidate, Init)
                    | (Candidate, Leader)
                    | (Follower, Candidate)
                    | (Follower, Init)
                    | (Leader, Follower)
                    | (Leader, Init)
                    | (Leader, Candidate)
            )
    };
    // Build B in each state.
    let mut states: Vec<(State, Engine)> = vec![];
    let mut n = three(ticket("T", 60, 3, 3));
    states.push((Init, n.e(1).clone()));
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    states.push((Follower, n.e(1).clone()));
    let mut n = three(ticket("T", 60, 3, 3));
    n.kill(0);
    n.kill(2);
    n.client(1, 1, CMD_GRANT, 0, "T");
    states.push((Candidate, n.e(1).clone()));
    let mut n = three(ticket("T", 60, 3, 3));
    n.client(1, 1, CMD_GRANT, 0, "T");
    n.run_until(10_000);
    states.push((Leader, n.e(1).clone()));
    for (s, e) in &states {
        assert_eq!(e.ticket_view(Tix::at(0)).state, *s, "setup of {s:?}");
    }

    let cmds = PEER_OPS;
    let results = [
        RLT_SUCCESS,
        RLT_TERM_OUTDATED,
        RLT_TERM_STILL_VALID,
        RLT_YOU_OUTDATED,
    ];
    let mut cases = 0;
    for (state, base) in &states {
        let t0 = base.ticket_view(Tix::at(0)).term;
        let now = 10_500;
        for from in [0usize, 2] {
            for &cmd in &cmds {
                for term in [t0.saturating_sub(1), t0, t0 + 1] {
                    for leader in [NO_ONE, 1000, 1001] {
                        for &result in &results {
                            for valid in [0u32, 30] {
                                let mut e = base.clone();
                                while e.poll_output().is_some() {}
                                let mut m = msg(1000 + from as u32, cmd, leader, term, valid);
                                m.header.result = result;
                                m.header.request = if cmd == OP_ACK {
                                    OP_HEARTBEAT
                                } else {
                                    Cmd::NONE
                                };
                                let _ = e.handle_packet(clock(now), from, &m);
                                cases += 1;
                                let after = e.ticket_view(Tix::at(0));
                                let what = format!(
                                    "{state:?} + {} from m{from} term {term} leader {leader:#x} result {} valid {valid} -> {after:?}",
                                    code_to_string(cmd),
                                    code_to_string(result)
                                );
                                assert!(allowed(*state, after.state), "{what}");
                                assert!(after.term >= t0, "term went backwards: {what}");
                                while let Some(o) = e.poll_output() {
                                    if let Output::WriteCib(w) = o {
                                        assert!(
                                            !w.granted
                                                || (after.state == Leader && *state == Leader),
                                            "grant without a proven lease: {what}"
                                        );
                                    }
                                }
                                // Time passing afterwards must not panic either.
                                e.handle_timeout(clock(now + 100_000));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(cases > 5000);
}

#[test]
fn failover_waits_for_acquire_after() {
    let mut t = ticket("T", 20, 2, 3);
    t.acquire_after = Duration::from_secs(5);
    let mut n = three(t);
    n.client(0, 1, CMD_GRANT, OPT_IMMEDIATE, "T");
    n.run_until(8_000);
    let lease_end = n.e(0).ticket_view(Tix::at(0)).term_expires.unwrap().ms();
    n.kill(0);
    n.run_until(lease_end + 4_900);
    assert!(
        !n.granted_at(1, "T"),
        "no election before expiry + acquire-after"
    );
    assert_eq!(n.e(1).ticket_view(Tix::at(0)).state, State::Follower);
    n.run_until(lease_end + 5_000 + 3 * 2_000);
    assert!(
        n.granted_at(1, "T"),
        "taken within a few timeouts after that"
    );
}

#[test]
fn a_handler_finishing_during_start_up_postponement_does_not_stall_a_grant() {
    let mut t = ticket("T", 20, 2, 3);
    t.before_acquire_handler = Some(vec!["/bin/true".into()]);
    let mut n = Net::new(&[S, S, A], vec![t]);
    // The arbitrator never answers site A's state query, so A postpones
    // ticket processing for its first `timeout`; the grant's handler
    // (50 ms) ends inside that window.
    n.kill(2);
    n.run_until(100);
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(6_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SUCCESS]);
}

#[test]
fn auto_attr_prereq_gates_failover_elections() {
    let mut t = ticket("T", 20, 2, 3);
    t.attr_prereqs = vec![AttrPrereq {
        grant_type: GrantType::Auto,
        name: "repl".into(),
        op: AttrOp::Eq,
        value: "ACTIVE".into(),
    }];
    let mut n = three(t);
    n.client(0, 1, CMD_GRANT, 0, "T");
    n.run_until(8_000);
    assert!(
        n.granted_at(0, "T"),
        "auto prerequisites do not gate admin grants"
    );
    n.kill(0);
    n.run_until(60_000);
    assert!(
        !n.granted_at(1, "T"),
        "B may not take the ticket without repl=ACTIVE"
    );
    let c = clock(n.now);
    n.e_mut(1).attr_set(c, "T", "repl", "ACTIVE").unwrap();
    n.run_until(70_000);
    assert!(n.granted_at(1, "T"), "it may once the attribute is set");
}

#[test]
fn the_highest_term_does_not_wrap() {
    let mut n = three(ticket("T", 20, 2, 3));
    // A heartbeat from B in the last possible term; then B vanishes and A
    // campaigns: its term must not wrap to 0.
    let c = clock(n.now);
    let _ = n
        .e_mut(0)
        .handle_packet(c, 1, &msg(1001, OP_HEARTBEAT, 1001, u32::MAX, 20));
    n.drain(0);
    assert_eq!(n.e(0).ticket_view(Tix::at(0)).term, u32::MAX);
    n.kill(1);
    n.run_until(n.now + 60_000);
    assert_eq!(n.e(0).ticket_view(Tix::at(0)).term, u32::MAX);
}

#[test]
fn a_restarted_holder_claims_the_second_its_cib_rounds_away() {
    // Our CIB says: granted to us until whole second E (10.3 s from now,
    // rounded down to 10 s); the lease it stands for may run until E + 1.
    let mut cfg = config(&[S, S, A], vec![ticket("T", 20, 2, 3)]);
    cfg.subsecond_times = true;
    let mut e = Engine::new(cfg, 0, 7);
    let st = CibState {
        granted: true,
        owner: Some(1000),
        expires: Some((WALL0 + 10_300) / 1000),
        term: Some(1),
        attrs: vec![],
    };
    e.load_cib(clock(0), Tix::at(0), &st);
    e.start(clock(0));
    let out: Vec<Output> = std::iter::from_fn(|| e.poll_output()).collect();
    let sent: Vec<&TicketMsg> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 2, "{out:?}");
    for m in sent {
        assert_eq!(m.body.leader, 1000);
        assert_eq!(m.body.term_valid_for, 11_000, "{m:?}");
    }
    // Our own lease is not extended.
    assert_eq!(
        e.ticket_view(Tix::at(0)).term_expires,
        Some(Time::from_ms(10_000))
    );
    // The peers answer the state query with the rounded-down lease.
    for (k, id) in [(1, 1001), (2, 1002)] {
        let _ = e.handle_packet(clock(100), k, &msg(id, OP_MY_INDEX, 1000, 1, 9_900));
    }
    while e.poll_output().is_some() {}
    // Past our lease (renewals unanswered), a peer asks for votes: refused
    // until the second has passed, granted after it.
    let mut ask = |at: u64, term: u32| -> Vec<Output> {
        let c = clock(at);
        e.advance(c);
        while e.poll_output().is_some() {}
        let mut v = msg(1001, OP_REQ_VOTE, 1001, term, 0);
        v.header.reason = OR_TKT_LOST;
        e.handle_packet(c, 1, &v).unwrap();
        std::iter::from_fn(|| e.poll_output()).collect()
    };
    let voted = |out: &[Output]| {
        out.iter().any(|o| matches!(o, Output::Send { to: 1, msg, .. } if msg.header.cmd == OP_VOTE_FOR && msg.body.leader == 1001))
    };
    let out = ask(10_400, 2);
    assert!(
        out.iter().any(|o| matches!(o, Output::Send { to: 1, msg, .. } if msg.header.result == RLT_TERM_STILL_VALID)),
        "{out:?}"
    );
    assert!(!voted(&out), "{out:?}");
    let out = ask(11_100, 3);
    assert!(voted(&out), "{out:?}");
}

/// Simulator seeds 26065 and 28391: a restarted holder told its release
/// hold (a whole lease) in its state answers, and a peer relayed it; once
/// the CIB revoke was written the hold ended and the holder followed a
/// new leader, but members that had the hold only from the relay kept it
/// and refused the new leader until it ran out. The holder now announces
/// the end of its hold with a revoke, and a claimant's revoke withdraws
/// its claim also where it is not taken for the leader.
#[test]
fn a_claimants_revoke_withdraws_its_relayed_claim() {
    let mut n = three(ticket("T", 60, 3, 3));
    let c = clock(n.now);
    let now = n.now;
    let e = n.e_mut(2);
    let outputs =
        |e: &mut Engine| -> Vec<Output> { std::iter::from_fn(|| e.poll_output()).collect() };
    // Site 0's hold, as relayed: a claim, site 0 not our leader.
    e.tickets[Tix::at(0)].note_claim(0, Time::from_ms(now + 60_000));
    assert_ne!(e.ticket_view(Tix::at(0)).leader, Leader::of(0));
    let hb = msg(1001, OP_HEARTBEAT, 1001, 2, 60);
    e.handle_packet(c, 1, &hb).unwrap();
    assert!(!outputs(e)
        .iter()
        .any(|o| matches!(o, Output::Send { msg, .. } if msg.header.cmd == OP_ACK)));
    // Site 0's revoke: its hold is over. Acknowledged, so that site 0
    // stops sending it again (each resend would be refused with an error
    // line, as from a site that claims nothing).
    e.handle_packet(c, 0, &msg(1000, OP_REVOKE, 1000, 1, 0))
        .unwrap();
    let out = outputs(e);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Send { to: 0, msg, .. }
            if msg.header.cmd == OP_ACK && msg.header.request == OP_REVOKE)),
        "{out:?}"
    );
    assert!(e.tickets[Tix::at(0)].peers[0].claim.is_none());
    e.handle_packet(c, 1, &hb).unwrap();
    let out = outputs(e);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Send { to: 1, msg, .. } if msg.header.cmd == OP_ACK)),
        "{out:?}"
    );
}
