//! The writer driven by hand: every run it asks for is answered by the
//! test, at times the test chooses.

use super::*;

type W = Writer<&'static str>;

fn pcmk(cibadmin: bool, max_writers: usize) -> W {
    Writer::new(
        Backend::Pacemaker {
            crm_ticket: "crm_ticket".into(),
            cibadmin: cibadmin.then(|| "cibadmin".into()),
            max_writers,
        },
        "booth",
    )
}

fn w(t: &str, granted: bool, expires: i64) -> CibWrite {
    CibWrite {
        ticket: t.into(),
        granted,
        owner: if granted { 1 } else { -1 },
        expires,
        term: 1,
    }
}

fn id(n: u64) -> Option<TicketId> {
    Some(TicketId::from_raw(n))
}

fn t(ms: u64) -> Time {
    Time::from_ms(ms)
}

/// Everything the writer has to say now.
fn drain(wr: &mut W) -> Vec<Output<&'static str>> {
    std::iter::from_fn(|| wr.poll_output()).collect()
}

/// The runs asked for: (run, program, ticket or batch element count).
fn spawns(outs: &[Output<&'static str>]) -> Vec<(RunId, String, Vec<String>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Spawn {
                run, program, argv, ..
            } => Some((*run, program.clone(), argv.clone())),
            _ => None,
        })
        .collect()
}

fn confirmed(outs: &[Output<&'static str>]) -> Vec<(String, bool, i64)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Confirmed { write, .. } => {
                Some((write.ticket.to_string(), write.granted, write.expires))
            }
            _ => None,
        })
        .collect()
}

fn released(outs: &[Output<&'static str>]) -> Vec<&'static str> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Release(r) => Some(*r),
            _ => None,
        })
        .collect()
}

/// A writer whose CIB holds `names` granted here (so renewals batch).
fn granted_everywhere(names: &[&str], cibadmin: bool) -> W {
    let mut wr = pcmk(cibadmin, 4);
    let names: Vec<Arc<str>> = names.iter().map(|&s| s.into()).collect();
    wr.start_loading(t(0), &names);
    let outs = drain(&mut wr);
    let (run, _, argv) = spawns(&outs).remove(0);
    assert_eq!(argv, vec!["-q"]);
    let xml: String = names
        .iter()
        .map(|n| format!("<ticket_state id=\"{n}\" granted=\"true\" owner=\"1\" expires=\"5\"/>"))
        .collect();
    let out = Outcome {
        ok: true,
        stdout: format!("<tickets>{xml}</tickets>").into_bytes(),
        ..Outcome::default()
    };
    wr.finished(t(0), run, out);
    let outs = drain(&mut wr);
    assert!(matches!(&outs[..], [Output::Loaded(s)] if s.len() == names.len()));
    wr
}

#[test]
fn a_state_change_runs_crm_ticket_at_once_and_confirms() {
    let mut wr = pcmk(true, 4);
    wr.submit(t(0), id(1), w("a", true, 10));
    let outs = drain(&mut wr);
    let s = spawns(&outs);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].1, "crm_ticket");
    assert_eq!(&s[0].2[..3], &["-t", "a", "-g"]);
    assert_eq!(wr.hold("a", "reply"), None, "held while the write runs");
    wr.finished(t(100), s[0].0, Outcome::success());
    let outs = drain(&mut wr);
    assert_eq!(released(&outs), vec!["reply"]);
    assert_eq!(confirmed(&outs), vec![("a".into(), true, 10)]);
    assert!(matches!(outs[1], Output::Confirmed { ticket, .. } if ticket == id(1)));
    assert_eq!(wr.hold("a", "later"), Some("later"), "nothing to wait for");
}

#[test]
fn newer_writes_supersede_waiting_ones() {
    let mut wr = pcmk(false, 4);
    wr.submit(t(0), id(1), w("a", true, 10));
    let first = spawns(&drain(&mut wr));
    wr.submit(t(1), id(1), w("a", false, 11));
    wr.submit(t(2), id(1), w("a", true, 12));
    assert!(spawns(&drain(&mut wr)).is_empty(), "one run per ticket");
    wr.finished(t(3), first[0].0, Outcome::success());
    let outs = drain(&mut wr);
    assert_eq!(confirmed(&outs), vec![("a".into(), true, 10)]);
    let next = spawns(&outs);
    assert_eq!(next.len(), 1, "only the newest waiting write");
    assert!(next[0].2.contains(&"--attr-value=12".to_string()));
}

#[test]
fn held_replies_wait_for_the_write_they_depend_on() {
    let mut wr = pcmk(false, 4);
    wr.submit(t(0), id(1), w("a", true, 10));
    let first = spawns(&drain(&mut wr));
    assert_eq!(wr.hold("a", "r1"), None);
    wr.submit(t(1), id(1), w("a", true, 11));
    assert_eq!(wr.hold("a", "r2"), None);
    wr.finished(t(2), first[0].0, Outcome::success());
    let outs = drain(&mut wr);
    // r2 came after the second write was asked for: it waits for that one.
    assert_eq!(released(&outs), vec!["r1"]);
    let second = spawns(&outs);
    wr.finished(t(3), second[0].0, Outcome::success());
    assert_eq!(released(&drain(&mut wr)), vec!["r2"]);
}

#[test]
fn failures_back_off_and_keep_the_newest_state() {
    let mut wr = pcmk(false, 4);
    wr.submit(t(0), id(1), w("a", true, 10));
    let run = spawns(&drain(&mut wr))[0].0;
    wr.finished(t(0), run, Outcome::failure(1));
    assert!(spawns(&drain(&mut wr)).is_empty());
    assert_eq!(wr.next_deadline(), Some(t(2000)));
    wr.submit(t(500), id(1), w("a", true, 11));
    assert!(spawns(&drain(&mut wr)).is_empty(), "waits for the retry");
    wr.handle_timeout(t(1999));
    assert!(spawns(&drain(&mut wr)).is_empty());
    wr.handle_timeout(t(2000));
    let s = spawns(&drain(&mut wr));
    assert!(s[0].2.contains(&"--attr-value=11".to_string()));
    // The pause doubles up to the cap.
    let mut run = s[0].0;
    let mut now = 2000;
    let mut pauses = Vec::new();
    for _ in 0..6 {
        wr.finished(t(now), run, Outcome::failure(1));
        drain(&mut wr);
        let at = wr.next_deadline().unwrap().ms();
        pauses.push(at - now);
        now = at;
        wr.handle_timeout(t(now));
        run = spawns(&drain(&mut wr))[0].0;
    }
    assert_eq!(pauses, vec![4000, 8000, 16000, 30000, 30000, 30000]);
    wr.finished(t(now), run, Outcome::success());
    assert_eq!(confirmed(&drain(&mut wr)).len(), 1);
    assert_eq!(wr.next_deadline(), None);
    assert_eq!((wr.stats().failures, wr.stats().single_runs), (7, 8));
}

#[test]
fn at_most_max_writers_run_and_the_rest_queue_in_order() {
    let mut wr = pcmk(false, 2);
    for (k, n) in ["a", "b", "c", "d"].iter().enumerate() {
        wr.submit(t(0), id(k as u64), w(n, true, 10));
    }
    let s = spawns(&drain(&mut wr));
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].2[1].as_str(), s[1].2[1].as_str()), ("a", "b"));
    wr.finished(t(1), s[1].0, Outcome::success());
    let s2 = spawns(&drain(&mut wr));
    assert_eq!(s2.len(), 1);
    assert_eq!(s2[0].2[1], "c");
    wr.finished(t(1), s[0].0, Outcome::failure(1));
    let s3 = spawns(&drain(&mut wr));
    assert_eq!(s3.len(), 1);
    assert_eq!(s3[0].2[1], "d");
}

#[test]
fn renewals_are_batched_every_two_seconds() {
    let mut wr = granted_everywhere(&["a", "b", "c"], true);
    wr.submit(t(100), id(1), w("a", true, 20));
    wr.submit(t(300), id(2), w("b", true, 20));
    assert!(spawns(&drain(&mut wr)).is_empty(), "renewals wait");
    assert_eq!(wr.next_deadline(), Some(t(2100)));
    // A state change does not wait.
    wr.submit(t(400), id(3), w("c", false, 20));
    assert_eq!(spawns(&drain(&mut wr))[0].1, "crm_ticket");
    wr.submit(t(500), id(1), w("a", true, 21));
    wr.handle_timeout(t(2100));
    let s = spawns(&drain(&mut wr));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].1, "cibadmin");
    let xml = s[0].2.last().unwrap();
    assert!(
        xml.contains("id=\"a\"") && xml.contains("expires=\"21\""),
        "{xml}"
    );
    assert!(
        xml.contains("id=\"b\"") && !xml.contains("id=\"c\""),
        "{xml}"
    );
    wr.finished(t(2200), s[0].0, Outcome::success());
    let c = confirmed(&drain(&mut wr));
    assert_eq!(c, vec![("a".into(), true, 21), ("b".into(), true, 20)]);
    let st = wr.stats();
    assert_eq!((st.submitted, st.coalesced), (4, 1));
    assert_eq!((st.batches, st.batched_writes, st.single_runs), (1, 2, 1));
    assert_eq!(st.confirmed, 2, "c's revoke still runs");
}

#[test]
fn failed_batches_go_one_by_one_and_three_failures_end_batching() {
    let mut wr = granted_everywhere(&["a"], true);
    let mut now = 0;
    for round in 0..3 {
        wr.submit(t(now), id(1), w("a", true, 20 + round));
        now = wr.next_deadline().unwrap().ms();
        wr.handle_timeout(t(now));
        let s = spawns(&drain(&mut wr));
        assert_eq!(s[0].1, "cibadmin", "round {round}");
        wr.finished(t(now), s[0].0, Outcome::failure(1));
        // Rewritten at once with crm_ticket (the CIB state is unknown now).
        let s = spawns(&drain(&mut wr));
        assert_eq!(s[0].1, "crm_ticket");
        wr.finished(t(now), s[0].0, Outcome::success());
        drain(&mut wr);
    }
    wr.submit(t(now), id(1), w("a", true, 30));
    let s = spawns(&drain(&mut wr));
    assert_eq!(s[0].1, "crm_ticket", "batching given up");
}

#[test]
fn the_batch_waits_for_a_free_writer() {
    let mut wr = pcmk(true, 1);
    let names: Vec<Arc<str>> = vec!["a".into(), "b".into()];
    wr.start_loading(t(0), &names);
    let run = spawns(&drain(&mut wr))[0].0;
    let xml = "<tickets><ticket_state id=\"a\" granted=\"true\" owner=\"1\"/></tickets>";
    wr.finished(
        t(0),
        run,
        Outcome {
            ok: true,
            stdout: xml.into(),
            ..Outcome::default()
        },
    );
    drain(&mut wr);
    wr.submit(t(0), id(1), w("a", true, 20));
    wr.submit(t(0), id(2), w("b", true, 20));
    let s = spawns(&drain(&mut wr));
    assert_eq!(s.len(), 1, "b's grant takes the only writer");
    assert_eq!(s[0].2[1], "b");
    wr.handle_timeout(t(2000));
    assert!(
        spawns(&drain(&mut wr)).is_empty(),
        "the batch is due, no writer"
    );
    wr.finished(t(2500), s[0].0, Outcome::success());
    let s = spawns(&drain(&mut wr));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].1, "cibadmin");
}

#[test]
fn start_up_loads_fall_back_to_one_by_one() {
    let mut wr = pcmk(true, 4);
    let names: Vec<Arc<str>> = (0..10).map(|k| format!("t{k}").into()).collect();
    wr.start_loading(t(0), &names);
    let run = spawns(&drain(&mut wr))[0].0;
    wr.finished(t(0), run, Outcome::failure(1));
    let s = spawns(&drain(&mut wr));
    assert_eq!(s.len(), MAX_PARALLEL_LOADS);
    assert_eq!(s[0].2, vec!["-t", "t0", "-q"]);
    let mut runs: Vec<RunId> = s.iter().map(|x| x.0).collect();
    let mut loaded = None;
    while let Some(r) = runs.pop() {
        let o = Outcome {
            ok: true,
            stdout: b"<ticket_state granted=\"false\" owner=\"-1\"/>".to_vec(),
            ..Outcome::default()
        };
        wr.finished(t(1), r, o);
        for out in drain(&mut wr) {
            match out {
                Output::Spawn { run, .. } => runs.push(run),
                Output::Loaded(s) => loaded = Some(s),
                o => panic!("{o:?}"),
            }
        }
    }
    assert_eq!(loaded.unwrap().len(), 10);
}

#[test]
fn reload_during_loading_is_deferred_until_the_load_ends() {
    let mut wr = pcmk(true, 4);
    wr.start_loading(t(0), &["a".into()]);
    let run = spawns(&drain(&mut wr))[0].0;
    assert_eq!(wr.reload(t(1), &["b".to_string()]), Reload::Deferred);
    assert!(!wr.reload_due());
    wr.finished(t(2), run, Outcome::failure(105));
    assert!(matches!(&drain(&mut wr)[..], [Output::Loaded(s)] if s.is_empty()));
    assert!(wr.reload_due());
    assert!(!wr.reload_due(), "once");
    assert_eq!(wr.reload(t(3), &["b".to_string()]), Reload::Apply);
    assert_eq!((wr.stats().reloads, wr.stats().reloads_deferred), (1, 1));
}

/// A removed ticket's write that is running, waiting to retry, waiting for
/// a writer or waiting for the batch still reaches the CIB, with the
/// newest state the engine asked for; nothing refers to positions.
#[test]
fn reload_in_every_phase_loses_no_write() {
    // Running: the revoke submitted after the reload follows it.
    let mut wr = pcmk(false, 4);
    wr.submit(t(0), id(2), w("b", true, 10));
    let run = spawns(&drain(&mut wr))[0].0;
    assert_eq!(wr.reload(t(1), &["a".into()]), Reload::Apply);
    wr.submit(t(1), None, w("b", false, 11));
    wr.finished(t(2), run, Outcome::success());
    let outs = drain(&mut wr);
    assert_eq!(confirmed(&outs), vec![("b".into(), true, 10)]);
    let s = spawns(&outs);
    assert_eq!(&s[0].2[..3], &["-t", "b", "-r"]);
    wr.finished(t(3), s[0].0, Outcome::success());
    let outs = drain(&mut wr);
    assert!(matches!(&outs[..], [Output::Confirmed { ticket: None, write }] if !write.granted));
    assert_eq!(wr.backlog(), 0, "the removed ticket's slot is gone");

    // Waiting to retry.
    let mut wr = pcmk(false, 4);
    wr.submit(t(0), id(2), w("b", true, 10));
    let run = spawns(&drain(&mut wr))[0].0;
    wr.finished(t(0), run, Outcome::failure(1));
    drain(&mut wr);
    wr.reload(t(1), &["a".into()]);
    wr.submit(t(1), None, w("b", false, 11));
    assert!(spawns(&drain(&mut wr)).is_empty());
    wr.handle_timeout(t(2000));
    let s = spawns(&drain(&mut wr));
    assert_eq!(&s[0].2[..3], &["-t", "b", "-r"]);
    wr.finished(t(2001), s[0].0, Outcome::success());
    assert_eq!(confirmed(&drain(&mut wr)), vec![("b".into(), false, 11)]);

    // Waiting for a writer.
    let mut wr = pcmk(false, 1);
    wr.submit(t(0), id(1), w("a", true, 10));
    wr.submit(t(0), id(2), w("b", true, 10));
    let run = spawns(&drain(&mut wr))[0].0;
    wr.reload(t(1), &["b".into()]);
    wr.finished(t(2), run, Outcome::success());
    let outs = drain(&mut wr);
    assert_eq!(confirmed(&outs), vec![("a".into(), true, 10)]);
    assert_eq!(spawns(&outs)[0].2[1], "b");

    // Waiting for the batch, with a reordering reload meanwhile.
    let mut wr = granted_everywhere(&["a", "b"], true);
    wr.submit(t(0), id(1), w("a", true, 20));
    wr.submit(t(0), id(2), w("b", true, 20));
    wr.reload(t(1), &["c".into(), "b".into(), "a".into()]);
    wr.handle_timeout(t(2000));
    let s = spawns(&drain(&mut wr));
    wr.finished(t(2001), s[0].0, Outcome::success());
    let outs = drain(&mut wr);
    let ids: Vec<_> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Confirmed { ticket, write } => Some((write.ticket.clone(), *ticket)),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![("a".into(), id(1)), ("b".into(), id(2))]);
}

/// The phases with a run carrying several tickets: a running `cibadmin`
/// batch and a running state-directory store, each with one of its
/// tickets removed (and revoked) meanwhile.
#[test]
fn reload_during_a_batch_or_a_store_loses_no_write() {
    let mut wr = granted_everywhere(&["a", "b"], true);
    wr.submit(t(0), id(1), w("a", true, 20));
    wr.submit(t(0), id(2), w("b", true, 20));
    wr.handle_timeout(t(2000));
    let batch = spawns(&drain(&mut wr))[0].0;
    wr.reload(t(2001), &["a".into()]);
    wr.submit(t(2001), None, w("b", false, 21));
    assert!(spawns(&drain(&mut wr)).is_empty(), "b's batch write runs");
    wr.finished(t(2002), batch, Outcome::success());
    let outs = drain(&mut wr);
    assert_eq!(confirmed(&outs).len(), 2);
    let s = spawns(&outs);
    assert_eq!(&s[0].2[..3], &["-t", "b", "-r"]);
    wr.finished(t(2003), s[0].0, Outcome::failure(1));
    wr.handle_timeout(t(4003));
    let s = spawns(&drain(&mut wr));
    assert_eq!(&s[0].2[..3], &["-t", "b", "-r"], "retried after the reload");
    wr.finished(t(4004), s[0].0, Outcome::success());
    let outs = drain(&mut wr);
    assert!(matches!(
        &outs[..],
        [Output::Confirmed { ticket: None, .. }]
    ));
    assert_eq!(wr.backlog(), 0);

    let mut wr: W = Writer::new(Backend::StateDir, "booth");
    wr.submit(t(0), id(1), w("a", true, 10));
    wr.submit(t(0), id(2), w("b", true, 10));
    let Some(Output::Store { run, .. }) = wr.poll_output() else {
        panic!()
    };
    wr.reload(t(1), &["b".into(), "c".into()]);
    wr.submit(t(1), None, w("a", false, 11));
    wr.finished(t(2), run, Outcome::success());
    let outs = drain(&mut wr);
    assert_eq!(confirmed(&outs).len(), 2);
    assert!(
        matches!(outs.last(), Some(Output::Store { writes, .. }) if writes == &vec![w("a", false, 11)])
    );
}

#[test]
fn state_directory_writes_of_one_moment_share_one_store() {
    let mut wr: W = Writer::new(Backend::StateDir, "booth");
    for n in ["a", "b", "c"] {
        wr.submit(t(0), id(1), w(n, true, 10));
    }
    assert_eq!(wr.hold("b", "r"), None);
    let outs = drain(&mut wr);
    let (run, writes) = match &outs[..] {
        [Output::Store { run, writes, .. }] => (*run, writes.clone()),
        o => panic!("{o:?}"),
    };
    assert_eq!(writes.len(), 3);
    wr.submit(t(1), id(1), w("a", false, 11));
    assert!(drain(&mut wr).is_empty(), "one store at a time");
    wr.finished(t(2), run, Outcome::success());
    let outs = drain(&mut wr);
    assert_eq!(released(&outs), vec!["r"]);
    assert_eq!(confirmed(&outs).len(), 3);
    assert!(matches!(outs.last(), Some(Output::Store { writes, .. }) if writes.len() == 1));
}

#[test]
fn a_failed_store_is_retried() {
    let mut wr: W = Writer::new(Backend::StateDir, "booth");
    wr.submit(t(0), id(1), w("a", true, 10));
    let Some(Output::Store { run, .. }) = wr.poll_output() else {
        panic!()
    };
    wr.finished(t(0), run, Outcome::failure(1));
    assert!(drain(&mut wr).is_empty());
    wr.handle_timeout(t(2000));
    assert!(matches!(&drain(&mut wr)[..], [Output::Store { writes, .. }] if writes.len() == 1));
}

#[test]
fn arbitrators_confirm_at_once() {
    let mut wr: W = Writer::new(Backend::None, "booth");
    wr.submit(t(0), id(1), w("a", false, 10));
    assert_eq!(confirmed(&drain(&mut wr)).len(), 1);
    assert_eq!(wr.hold("a", "r"), Some("r"));
}

#[test]
fn attribute_changes_join_the_next_store_in_order() {
    let mut wr: W = Writer::new(Backend::StateDir, "booth");
    let a = |name: &str, value: Option<&str>| AttrChange {
        ticket: "a".into(),
        name: name.into(),
        value: value.map(String::from),
    };
    wr.set_attr(a("x", Some("1")));
    wr.submit(t(0), id(1), w("a", true, 10));
    let run = match &drain(&mut wr)[..] {
        [Output::Store { run, writes, attrs }] => {
            assert_eq!(writes.len(), 1);
            assert_eq!(attrs, &vec![a("x", Some("1"))]);
            *run
        }
        o => panic!("{o:?}"),
    };
    // While a store runs, changes wait for the next one.
    wr.set_attr(a("x", None));
    wr.set_attr(a("y", Some("2")));
    assert!(drain(&mut wr).is_empty());
    wr.finished(t(1), run, Outcome::success());
    let outs = drain(&mut wr);
    assert!(
        matches!(outs.last(), Some(Output::Store { writes, attrs, .. })
        if writes.is_empty() && *attrs == vec![a("x", None), a("y", Some("2"))])
    );
    // Pacemaker sites run crm_ticket for attributes themselves.
    let mut p = pcmk(false, 4);
    p.set_attr(a("x", Some("1")));
    assert!(drain(&mut p).is_empty());
}

/// A ticket whose start-up query failed is queried again after a growing
/// pause, and the load ends only once it could be read: a grant the engine
/// did not know of would be one it neither keeps nor revokes.
#[test]
fn the_start_up_load_waits_until_every_ticket_is_read() {
    let mut wr = pcmk(false, 4);
    wr.start_loading(t(0), &["tA".into()]);
    let all = spawns(&drain(&mut wr))[0].0;
    wr.finished(t(10), all, Outcome::failure(1));
    let one = spawns(&drain(&mut wr));
    assert_eq!(one[0].2, vec!["-t", "tA", "-q"]);
    wr.finished(t(20), one[0].0, Outcome::failure(1));
    let outs = drain(&mut wr);
    assert!(outs.is_empty(), "not loaded yet: {outs:?}");
    let at = wr.next_deadline().expect("a retry");
    assert!(at > t(20));
    wr.handle_timeout(at);
    let again = spawns(&drain(&mut wr));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].2, vec!["-t", "tA", "-q"]);
    let xml = "State XML:\n<ticket_state id=\"tA\" granted=\"true\" owner=\"1\" repl=\"ok\"/>\n";
    let o = Outcome {
        stdout: xml.as_bytes().to_vec(),
        ..Outcome::success()
    };
    wr.finished(at, again[0].0, o);
    let outs = drain(&mut wr);
    match &outs[..] {
        [Output::Loaded(states)] => {
            assert_eq!(states.len(), 1);
            assert!(states[0].1.granted);
            assert_eq!(
                states[0].1.attrs,
                vec![("repl".to_string(), "ok".to_string())]
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(wr.next_deadline(), None);
}

/// Many tickets added by one reload are read with one query, as at
/// start-up (10,000 single reads queued the running tickets' renewals
/// behind them); each gets its own answer, and if the query fails each
/// is read alone.
#[test]
fn many_added_tickets_are_read_with_one_query() {
    let names: Vec<String> = (0..20).map(|k| format!("t{k}")).collect();
    let added = |outs: Vec<Output<&'static str>>| -> Vec<(String, Option<bool>)> {
        outs.into_iter()
            .filter_map(|o| match o {
                Output::LoadedAdded(n, st) => Some((n, st.map(|s| s.granted))),
                _ => None,
            })
            .collect()
    };
    let mut wr = pcmk(true, 4);
    wr.load_added(t(0), &names);
    let s = spawns(&drain(&mut wr));
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].2, crate::cib::load_all_argv());
    let o = Outcome {
        ok: true,
        stdout: b"<tickets>\n  <ticket_state id=\"t3\" granted=\"true\" owner=\"1\" expires=\"5\" term=\"2\"/>\n  <ticket_state id=\"other\" granted=\"true\"/>\n</tickets>\n".to_vec(),
        ..Outcome::default()
    };
    wr.finished(t(1), s[0].0, o);
    let got = added(drain(&mut wr));
    assert_eq!(got.len(), 20);
    assert_eq!(got[3], ("t3".to_string(), Some(true)));
    assert!(got.iter().filter(|g| g.0 != "t3").all(|g| g.1.is_none()));

    let mut wr = pcmk(true, 4);
    wr.load_added(t(0), &names);
    let run = spawns(&drain(&mut wr))[0].0;
    wr.finished(t(1), run, Outcome::failure(1));
    let s = spawns(&drain(&mut wr));
    assert_eq!(s.len(), 20);
    assert_eq!(s[0].2, vec!["-t", "t0", "-q"]);
}
