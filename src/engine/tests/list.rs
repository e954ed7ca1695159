//! `booth list` text at scale: the writer that builds it straight from the
//! tickets (one buffer, each second formatted once) says what the entries
//! say, byte for byte.

use super::*;

/// The text as the entries give it: the straightforward formatting the
/// writer replaced (one string per field and per time), kept as the
/// reference.
fn reference(e: &Engine, now: Clock, fmt: &dyn Fn(i64) -> String) -> String {
    let mut s = String::new();
    for x in e.list_entries(now) {
        s += &format!("ticket: {}, leader: {}", x.ticket, x.leader);
        if x.owned {
            match x.expires {
                Some(t) => s += &format!(", expires: {}", fmt(t)),
                None => s += ", expires: INF",
            }
            if let Some(t) = x.commit_pending {
                s += &format!(" (commit pending until {})", fmt(t));
            }
        }
        if x.manual {
            s += " [manual mode]";
        }
        s += "\n";
    }
    for w in e.list_warnings() {
        s += &format!("\nWARNING: {w}\n");
    }
    s
}

/// `n` tickets in every state a list shows: free, unknown, held here
/// (some with a commit pending), held elsewhere, manual (one granted at
/// two sites), with lease ends spread over many seconds, in and out of
/// order, so that the writer's cache of formatted seconds both hits and
/// misses.
fn varied(n: usize) -> (Engine, Clock) {
    let ts: Vec<TicketConfig> = (0..n)
        .map(|i| {
            let mut t = ticket(&format!("t{i}"), 20, 2, 3);
            if i % 11 == 5 {
                t.mode = TicketMode::Manual;
            }
            t
        })
        .collect();
    let mut e = Engine::new(config(&[S, S, A], ts), 0, 1);
    let now = clock(100_000);
    for (i, tk) in e.tickets.iter_mut().enumerate() {
        tk.leader = match i % 7 {
            0 => Leader::Unknown,
            1 => Leader::NoOne,
            2..=4 => Leader::of(0),
            _ => Leader::of(1),
        };
        // Ends within the same second for runs of tickets, and a jump now
        // and then (ms, past the next 500 ms boundary or not).
        let spread = ((i / 3) as u64 * 370 + (i as u64 % 5) * 997) % 40_000;
        tk.lease.expires = (i % 13 != 0).then_some(Time::from_ms(100_000 + spread));
        if i % 3 == 0 {
            tk.delay_commit = Some(Time::from_ms(100_000 + (i as u64 * 131) % 30_000));
        }
    }
    if n > 5 {
        e.tickets[Tix::at(5)].sites_where_granted = 0b11;
    }
    (e, now)
}

#[test]
fn list_text_is_what_the_entries_say() {
    let fmt = |t: i64| format!("<{t}>");
    for n in [0, 1, 7, 100, 3_000] {
        let (e, now) = varied(n);
        let want = reference(&e, now, &fmt);
        assert_eq!(e.list_text(now, &fmt), want, "{n} tickets");
        // Appended to what the buffer holds already.
        let mut s = "x".to_string();
        e.write_list(now, &fmt, &mut s);
        assert_eq!(s, format!("x{want}"));
    }
    let (e, now) = varied(100);
    let text = e.list_text(now, &fmt);
    assert!(text.contains("[manual mode]"), "{text}");
    assert!(text.contains("commit pending until <"), "{text}");
    assert!(text.contains("leader: none\n"), "{text}");
    assert!(
        text.ends_with("\nWARNING: The ticket t5 is granted to multiple sites: 198.51.100.1, 198.51.100.2. Revoke the ticket from the faulty sites.\n"),
        "{text}"
    );
}

#[test]
fn list_formats_each_second_once_in_a_run() {
    // Held here, granted and renewed as a wave: lease ends a few ms
    // apart, commits pending until 20 s later.
    let (mut e, now) = varied(3_000);
    for (i, tk) in e.tickets.iter_mut().enumerate() {
        tk.leader = Leader::of(0);
        tk.lease.expires = Some(Time::from_ms(100_000 + i as u64 * 3));
        tk.delay_commit = (i % 2 == 0).then_some(Time::from_ms(120_000 + i as u64 * 3));
    }
    let calls = std::cell::RefCell::new(Vec::new());
    let fmt = |t: i64| {
        calls.borrow_mut().push(t);
        t.to_string()
    };
    let text = e.list_text(now, &fmt);
    assert_eq!(text, reference(&e, now, &|t| t.to_string()));
    let mut seconds = calls.borrow().clone();
    let formatted = seconds.len();
    seconds.sort();
    seconds.dedup();
    assert_eq!(formatted, seconds.len(), "a second formatted twice");
    assert!(formatted < 40, "{formatted} seconds formatted");
}
