//! Start-up at scale: many tickets ask their peers a bounded number per
//! call (the rest on the next, at once), anything that happens to a ticket
//! still happens after its query, and crons that come due together run a
//! bounded number per call, so that no turn of the daemon's loop does the
//! work of every ticket.

use super::cron::{CRONS_PER_TURN, QUERIES_PER_TURN};
use super::*;

fn names(n: usize) -> Vec<TicketConfig> {
    (0..n).map(|i| ticket(&format!("t{i}"), 20, 2, 3)).collect()
}

/// The messages sent since the last call: (ticket, command, to).
fn sent(e: &mut Engine) -> Vec<(String, Cmd, usize)> {
    let mut v = Vec::new();
    while let Some(o) = e.poll_output() {
        if let Output::Send { to, msg, .. } = o {
            v.push((msg.body.name, msg.header.cmd, to));
        }
    }
    v
}

fn queried(msgs: &[(String, Cmd, usize)]) -> Vec<String> {
    let mut v: Vec<String> = msgs
        .iter()
        .filter(|(_, cmd, _)| *cmd == OP_STATUS)
        .map(|(name, _, _)| name.clone())
        .collect();
    v.dedup();
    v
}

#[test]
fn start_up_queries_go_out_a_turn_at_a_time() {
    let n = 3 * QUERIES_PER_TURN + 10;
    let mut e = new_engine(config(&[S, S, A], names(n)), 0, 1);
    e.start(clock(0));
    let first = sent(&mut e);
    assert_eq!(first.len(), 2 * QUERIES_PER_TURN, "two peers each");
    let mut asked = queried(&first);
    assert_eq!(asked.len(), QUERIES_PER_TURN);
    // The rest right away, on the next calls; time passes meanwhile.
    let mut t = 0;
    while e.next_deadline() == Some(Time::from_ms(t)) {
        t += 7;
        e.handle_timeout(clock(t));
        let q = queried(&sent(&mut e));
        assert!(q.len() <= QUERIES_PER_TURN, "{} at once", q.len());
        asked.extend(q);
    }
    let want: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    assert_eq!(asked, want, "each once, in order");
    assert!(e.next_deadline().is_some_and(|d| d > Time::from_ms(t)));
    // Their resends come due as the queries went out, and however late
    // the engine is called, a call runs at most so many of them.
    let late = clock(5_000);
    let mut resent = std::collections::BTreeSet::new();
    loop {
        e.handle_timeout(late);
        let r: std::collections::BTreeSet<String> =
            sent(&mut e).into_iter().map(|(t, _, _)| t).collect();
        assert!(r.len() <= CRONS_PER_TURN, "{} tickets at once", r.len());
        resent.extend(r);
        if e.next_deadline().is_none_or(|d| d > late.mono) {
            break;
        }
    }
    assert_eq!(resent.len(), n, "every ticket asked again");
}

#[test]
fn a_ticket_still_to_ask_asks_before_anything_else() {
    let n = QUERIES_PER_TURN + 10;
    let mut e = new_engine(config(&[S, S, A], names(n)), 0, 1);
    e.start(clock(0));
    sent(&mut e);
    let last = format!("t{}", n - 1);
    // A peer's own state query for the last ticket: ours goes out first,
    // then the answer.
    let mut m = msg(1001, OP_STATUS, NO_ONE, 0, 0);
    m.body.name = last.clone();
    let _ = e.handle_packet(clock(1), 1, &m);
    let out = sent(&mut e);
    assert_eq!(
        out[..2],
        [(last.clone(), OP_STATUS, 1), (last.clone(), OP_STATUS, 2)],
        "{out:?}"
    );
    assert!(out[2..]
        .iter()
        .all(|(t, c, _)| *t == last && *c != OP_STATUS));
    // A grant asked for another one: its query first too.
    let other = format!("t{}", n - 2);
    e.handle_client(clock(2), 7, CMD_GRANT, 0, &other);
    let out = sent(&mut e);
    assert_eq!(queried(&out), vec![other.clone()], "{out:?}");
    assert_eq!(out[0].1, OP_STATUS);
    // Neither asks again with the rest.
    e.handle_timeout(clock(3));
    let rest = queried(&sent(&mut e));
    assert_eq!(rest.len(), 8);
    assert!(!rest.contains(&last) && !rest.contains(&other));
}

#[test]
fn a_reload_adding_many_tickets_asks_a_turn_at_a_time() {
    let mut e = new_engine(config(&[S, S, A], names(1)), 0, 1);
    e.start(clock(0));
    sent(&mut e);
    let n = QUERIES_PER_TURN + 5;
    e.reconfigure(clock(1), config(&[S, S, A], names(n)))
        .unwrap();
    assert_eq!(queried(&sent(&mut e)).len(), QUERIES_PER_TURN);
    e.handle_timeout(clock(2));
    assert_eq!(queried(&sent(&mut e)).len(), n - 1 - QUERIES_PER_TURN);
    assert!(e.next_deadline().is_some_and(|d| d > Time::from_ms(2)));
}

/// A member that has not answered is asked again once per timeout, as
/// many times as `retries` says: the cron's resend of the state query and
/// the state's own resend handling each sent it, so every retry went out
/// twice and the retries were used up in half the time.
#[test]
fn a_silent_member_is_asked_again_once_per_retry() {
    let mut n = Net::new(&[S, S, A], vec![ticket("T", 20, 2, 3)]);
    n.kill(2);
    n.run_until(1_000);
    // Rebooted (no record of its promises), A asks everyone before it
    // campaigns or votes; B answers, the arbitrator is gone.
    n.reboot(0);
    let before = n.resends;
    // One resend a timeout (2 s), 3 in all.
    n.run_until(1_000 + 2_500);
    assert_eq!(n.resends - before, 1);
    n.run_until(15_000);
    assert_eq!(n.resends - before, 3);
}
