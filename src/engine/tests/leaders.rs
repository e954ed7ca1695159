//! One leader per term: a leader that learns of another site's live lease
//! in a newer term.

use super::*;

fn is_ack(m: &TicketMsg) -> bool {
    m.header.cmd == OP_ACK
}

/// Simulator seed 745: m0 won term T with the arbitrator's vote at the very
/// moment m2 won T+1 (the arbitrator voted again in the newer term) and
/// proved its lease. m2's state answer told m0 ("ticket granted to m2!
/// (revoking locally)"), m0 took the term but stayed leader: its election
/// was refused for m2's live lease, so it went on heartbeating in T+1, a
/// term it never won. The arbitrator, holding a claim of each, refused both
/// leaders, and m2 lost the ticket at its next renewal although it and a
/// majority were healthy.
#[test]
fn a_leader_told_of_a_live_lease_in_a_newer_term_follows_it() {
    let mut n = three(ticket("T", 20, 2, 3));
    // The acknowledgements of m0's first heartbeat are slow: m0 leads, its
    // lease not yet proven.
    n.slow.push((1, 0, is_ack, 3_000));
    n.slow.push((2, 0, is_ack, 3_000));
    n.client(0, 1, CMD_GRANT, 0, "T");
    while n.e(0).ticket_view(Tix::at(0)).state != State::Leader {
        assert!(n.now < 10_000, "m0 never leads");
        let next = n.now + 10;
        n.run_until(next);
    }
    let term = n.e(0).ticket_view(Tix::at(0)).term;
    // m1's state answer: it leads term T+1 with 15 s of lease left.
    let c = n.clock_of(0);
    let mut answer = msg(1001, OP_MY_INDEX, 1001, term + 1, 15);
    answer.header.request = OP_STATUS;
    n.e_mut(0).handle_packet(c, 1, &answer).unwrap();
    n.drain(0);
    let until = n.now + 5_000;
    while n.now < until {
        let next = n.now + 10;
        n.run_until(next);
        let v = n.e(0).ticket_view(Tix::at(0));
        assert!(
            !(v.state == State::Leader && v.term > term),
            "t={}: m0 leads term {}, which it did not win",
            n.now,
            v.term
        );
    }
    let v = n.e(0).ticket_view(Tix::at(0));
    assert_eq!(v.leader, Leader::of(1), "m0 follows the live lease");
    assert_eq!(v.state, State::Follower);
    assert!(!n.granted_at(0, "T"));
    assert!(n.violations.is_empty(), "{:?}", n.violations);
}

/// Simulator seed 5827 (a livelock): a candidate whose election time had
/// run out was told the ticket was its own; re-acquiring waits for the
/// before-acquire-handler, and meanwhile its cron, which handles the
/// pending re-acquire before the election's end, armed that past end
/// again at every turn: the loop spun without time advancing until the
/// handler exited. Waiting for the handler, a ticket arms no deadline in
/// the past (the handler's exit wakes it).
#[test]
fn a_candidate_waiting_for_its_handler_arms_no_past_deadline() {
    let mut t = ticket("T", 20, 2, 3);
    t.before_acquire_handler = Some(vec!["/bin/true".into()]);
    let mut n = three(t);
    let now = n.now;
    let c = n.clock_of(0);
    let e = n.e_mut(0);
    {
        let tk = &mut e.tickets[Tix::at(0)];
        tk.state = State::Candidate;
        tk.election_end = Some(Time::from_ms(now - 100));
        tk.next_state = Some(super::super::ticket::NextState::Leader);
        tk.next_cron = Some(Time::from_ms(now));
    }
    e.reindex(Tix::at(0));
    e.handle_timeout(c);
    let started =
        std::iter::from_fn(|| e.poll_output()).any(|o| matches!(o, Output::RunHandler { .. }));
    assert!(started, "the re-acquire runs the handler");
    e.handle_timeout(c);
    while e.poll_output().is_some() {}
    assert!(
        e.next_deadline().is_none_or(|d| d > Time::from_ms(now)),
        "a deadline in the past while the handler runs: {:?}",
        e.next_deadline()
    );
}

/// Simulator seed 1465 (waiter-stranded): a site whose campaign was
/// answered "term outdated, granted to none" follows no one. A grant there
/// runs the before-acquire-handler; when it exits, only the Init state
/// (and manual tickets) took the grant further, so the follower left the
/// `-w` client waiting for good (the C booth does the same).
#[test]
fn a_grant_at_a_follower_of_no_one_goes_on_after_its_handler() {
    let mut t = ticket("T", 20, 2, 3);
    t.before_acquire_handler = Some(vec!["/bin/true".into()]);
    let mut n = three(t);
    // A campaigns cut off from everyone, then hears from the arbitrator
    // that a newer term exists with nobody holding the ticket.
    n.isolate(0);
    n.client(0, 1, CMD_GRANT, OPT_WAIT, "T");
    n.run_until(n.now + 1_000);
    assert_eq!(n.e(0).ticket_view(Tix::at(0)).state, State::Candidate);
    let term = n.e(0).ticket_view(Tix::at(0)).term;
    let mut m = msg(1002, OP_REJECTED, NO_ONE, term + 1, 0);
    m.header.request = OP_REQ_VOTE;
    m.header.result = RLT_TERM_OUTDATED;
    let c = n.clock_of(0);
    let _ = n.e_mut(0).handle_packet(c, 2, &m);
    n.drain(0);
    let v = n.e(0).ticket_view(Tix::at(0));
    assert_eq!((v.state, v.leader), (State::Follower, Leader::NoOne));
    // The first client has its answer; the campaign's time runs out.
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SYNC_FAIL]);
    n.run_until(n.now + 3_000);
    n.heal();
    n.client(0, 2, CMD_GRANT, OPT_WAIT, "T");
    n.run_until(n.now + 10_000);
    assert_eq!(
        n.results(2).last(),
        Some(&RLT_SUCCESS),
        "{:?}",
        n.results(2)
    );
    assert!(n.granted_at(0, "T"));
}

/// Simulator seed 303 (waiter-stranded): a grant at a site still behind
/// its start-up fence is deferred until the fence lifts; when a lease of
/// another site became known meanwhile, the deferred election does not
/// start, and the client waited for good. It is told the grant failed.
#[test]
fn a_deferred_grant_that_cannot_start_is_answered() {
    let mut n = three(ticket("T", 20, 2, 3));
    let now = n.now;
    n.e_mut(0).tickets[Tix::at(0)].startup.vote_fence = Some(Time::from_ms(now + 1_000));
    n.client(0, 1, CMD_GRANT, OPT_WAIT, "T");
    assert_eq!(n.results(1), vec![RLT_MORE]);
    assert!(n.e(0).tickets[Tix::at(0)].deferred_election.is_some());
    // B's lease, learned while the fence is up (as from a state answer).
    n.e_mut(0).tickets[Tix::at(0)].note_claim(1, Time::from_ms(now + 60_000));
    n.run_until(now + 3_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SYNC_FAIL]);
    assert!(!n.granted_at(0, "T"));
}

/// Simulator seed 2001 (waiter-stranded): a grant's handler exited while
/// the ticket's processing was still postponed at start-up; the state
/// answers that came next re-armed the ticket's wake-up for an idle hour,
/// so the handler's verdict was not taken and the client waited.
#[test]
fn a_handler_verdict_waiting_out_the_start_up_postponement_is_taken() {
    let mut t = ticket("T", 20, 2, 3);
    t.before_acquire_handler = Some(vec!["/bin/true".into()]);
    let mut n = Net::new(&[S, S, A], vec![t]);
    // Only A runs: it postpones the ticket for its first `timeout`.
    n.kill(1);
    n.kill(2);
    n.run_until(100);
    n.client(0, 1, CMD_GRANT, OPT_WAIT, "T");
    n.run_until(300);
    assert!(matches!(
        n.e(0).tickets[Tix::at(0)].handler,
        super::super::ticket::Handler::Exited(true)
    ));
    // Answers to A's state query arrive late, while it is still postponed.
    for (k, from) in [(1, 1001), (2, 1002)] {
        let mut m = msg(from, OP_MY_INDEX, NO_ONE, 0, 0);
        m.header.request = OP_STATUS;
        let c = n.clock_of(0);
        let _ = n.e_mut(0).handle_packet(c, k, &m);
        n.drain(0);
    }
    n.boot(1);
    n.boot(2);
    n.run_until(10_000);
    assert_eq!(n.results(1), vec![RLT_MORE, RLT_SUCCESS]);
}

/// Simulator seed 5174: a forced grant of a manual ticket at B ran its
/// before-acquire-handler when A, the ticket's holder, revoked it; the
/// revoke stopped B's handler and the `-w` client waited for good. A
/// reset that stops the handler of a grant ends the grant.
#[test]
fn a_grant_whose_handler_a_revoke_stops_is_answered() {
    let mut n = three(with_handler(ticket("M", 20, 2, 3), TicketMode::Manual));
    n.client(0, 1, CMD_GRANT, 0, "M");
    n.run_until(8_000);
    assert!(n.granted_at(0, "M"));
    n.client(1, 2, CMD_GRANT, OPT_IMMEDIATE | OPT_WAIT, "M");
    assert!(matches!(
        n.e(1).tickets[Tix::at(0)].handler,
        super::super::ticket::Handler::Running(_)
    ));
    n.client(0, 3, CMD_REVOKE, 0, "M");
    n.run_until(20_000);
    let r = n.results(2);
    assert!(r.len() == 2 && r[1] != RLT_MORE, "{r:?}");
}
