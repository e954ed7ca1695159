//! The core driven by hand: a cluster of one site whose
//! `crm_ticket` runs are answered by the test, at times it chooses.

use super::*;
use crate::cib::writer::RunKind;
use crate::config::{MemberKind, TicketConfig, TicketMode, TicketSettings};
use crate::wire::codes::*;
use crate::wire::OPT_IMMEDIATE;

const WALL0: i64 = 1_700_000_000_000;

fn ticket(name: &str) -> TicketConfig {
    TicketConfig::new(name, TicketSettings::test_lease(TicketMode::Manual))
}

fn config(tickets: &[&str]) -> Config {
    // A lone site: its own vote is a majority.
    let tickets = tickets.iter().map(|n| ticket(n)).collect();
    Config::synthetic(&[MemberKind::Site], tickets, |i| 1000 + i as u32)
}

fn clock(ms: u64) -> Clock {
    Clock::new(Time::from_ms(ms), WALL0 + ms as i64)
}

fn pacemaker() -> Backend {
    Backend::Pacemaker {
        crm_ticket: "crm_ticket".into(),
        cibadmin: None,
        max_writers: 4,
    }
}

/// A site core whose start-up load found nothing, started at time 0.
fn started(tickets: &[&str]) -> Core {
    started_with(config(tickets))
}

fn started_with(cfg: Config) -> Core {
    let mut c = Core::new(cfg, 0, 7, pacemaker());
    c.start_loading(clock(0));
    let outs = drain(&mut c);
    let run = spawned(&outs)[0].0;
    // "No ticket state in the CIB yet".
    c.run_finished(clock(10), run, Outcome::failure(105));
    let outs = drain(&mut c);
    assert!(outs.contains(&Output::Started), "{outs:?}");
    c
}

fn drain(c: &mut Core) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

/// The writer runs asked for, with what each writes.
fn spawned(outs: &[Output]) -> Vec<(RunId, Vec<String>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Spawn { run, argv, .. } => Some((*run, argv.clone())),
            _ => None,
        })
        .collect()
}

fn replies(outs: &[Output]) -> Vec<(ClientId, crate::wire::Rlt)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::ClientReply { client, msg, .. } => Some((*client, msg.header.result)),
            _ => None,
        })
        .collect()
}

/// Grants `name` to this site at `ms` and returns the crm_ticket run that writes it, the time it
/// started and everything output until then.
fn grant(c: &mut Core, ms: u64, client: ClientId, name: &str) -> (RunId, u64, Vec<Output>) {
    c.handle_client(clock(ms), client, CMD_GRANT, OPT_IMMEDIATE, name);
    let mut now = ms;
    let mut all = Vec::new();
    loop {
        let outs = drain(c);
        all.extend(outs.iter().cloned());
        for (run, argv) in spawned(&outs) {
            if argv.contains(&name.to_string()) {
                return (run, now, all);
            }
            // Another ticket's write (its state at start-up): done.
            c.run_finished(clock(now), run, Outcome::success());
        }
        let d = c.next_deadline().expect("a deadline").ms();
        assert!(d < ms + 60_000, "no write within a minute: {all:?}");
        now = now.max(d);
        c.handle_timeout(clock(now));
    }
}

#[test]
fn a_grant_reply_waits_for_its_cib_write() {
    let mut c = started(&["tA"]);
    let (run, at, outs) = grant(&mut c, 100, 1, "tA");
    assert!(!replies(&outs).contains(&(1, RLT_SUCCESS)), "{outs:?}");
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::Submitted(w) if w.granted && &*w.ticket == "tA")));
    c.run_finished(clock(at + 300), run, Outcome::success());
    let outs = drain(&mut c);
    assert!(replies(&outs).contains(&(1, RLT_SUCCESS)), "{outs:?}");
}

#[test]
fn the_run_kind_names_what_a_run_writes() {
    let mut c = started(&["tA"]);
    let (run, at, _) = grant(&mut c, 100, 1, "tA");
    match c.writer().run_kind(run) {
        Some(RunKind::Write(ws)) => {
            assert_eq!(ws.len(), 1);
            assert!(ws[0].granted && &*ws[0].ticket == "tA");
        }
        k => panic!("{k:?}"),
    }
    c.run_finished(clock(at + 300), run, Outcome::success());
    assert_eq!(c.writer().run_kind(run), None);
}

/// Issue #18, sequence 1: a write of tB fails and waits to retry; a reload
/// removes tB. Nothing panics; the retry still goes out (the engine
/// revokes a ticket it no longer manages, and that write is kept).
#[test]
fn a_reload_removing_a_ticket_whose_write_waits_to_retry() {
    let mut c = started(&["tA", "tB"]);
    let (run, at, _) = grant(&mut c, 100, 1, "tB");
    c.run_finished(clock(at + 200), run, Outcome::failure(1));
    let outs = drain(&mut c);
    assert!(spawned(&outs).is_empty());
    assert_eq!(
        c.reload(clock(at + 400), config(&["tA"])),
        Reloaded::Applied
    );
    let _ = drain(&mut c);
    // The retry comes due and writes tB's latest wanted state.
    let mut now = at + 400;
    let mut writes = Vec::new();
    while let Some(d) = c.next_deadline().filter(|d| d.ms() < 40_000) {
        now = now.max(d.ms());
        c.handle_timeout(clock(now));
        for (run, argv) in spawned(&drain(&mut c)) {
            writes.push(argv);
            c.run_finished(clock(now + 10), run, Outcome::success());
            let _ = drain(&mut c);
        }
    }
    assert!(
        writes.iter().any(|a| a.contains(&"tB".to_string())),
        "{writes:?}"
    );
    assert!(c.writer().backlog() == 0);
}

/// Issue #18, sequence 2: tB's write runs; a reload inserts tA before tB.
/// The write is confirmed to the right ticket and the grant is answered.
#[test]
fn a_reload_reordering_tickets_while_a_write_runs() {
    let mut c = started(&["tB"]);
    let (run, at, _) = grant(&mut c, 100, 1, "tB");
    assert_eq!(
        c.reload(clock(at + 100), config(&["tA", "tB"])),
        Reloaded::Reading
    );
    let outs = drain(&mut c);
    let outs = answer_read(&mut c, at + 200, &outs, "tA", None);
    assert!(
        outs.contains(&Output::Reloaded(Reloaded::Applied)),
        "{outs:?}"
    );
    c.run_finished(clock(at + 4_000), run, Outcome::success());
    let outs = drain(&mut c);
    assert!(replies(&outs).contains(&(1, RLT_SUCCESS)), "{outs:?}");
    let i = c.engine().ticket_index("tB").unwrap();
    assert_eq!(i.index(), 1);
    assert!(c.engine().ticket_view(i).cib_granted);
}

#[test]
fn a_reload_during_the_start_up_load_is_applied_when_it_ends() {
    let mut c = Core::new(config(&["tA"]), 0, 7, pacemaker());
    c.start_loading(clock(0));
    let run = spawned(&drain(&mut c))[0].0;
    assert_eq!(
        c.reload(clock(5), config(&["tA", "tC"])),
        Reloaded::Deferred
    );
    assert_eq!(c.config().tickets.len(), 1);
    c.run_finished(clock(10), run, Outcome::failure(105));
    let outs = drain(&mut c);
    assert!(outs.contains(&Output::Started));
    // It adds tC, whose state is read first.
    assert!(
        outs.contains(&Output::Reloaded(Reloaded::Reading)),
        "{outs:?}"
    );
    assert_eq!(c.config().tickets.len(), 1);
    let outs = answer_read(&mut c, 20, &outs, "tC", None);
    assert!(
        outs.contains(&Output::Reloaded(Reloaded::Applied)),
        "{outs:?}"
    );
    assert_eq!(c.config().tickets.len(), 2);
}

#[test]
fn a_rejected_reload_keeps_the_running_configuration() {
    let mut c = started(&["tA"]);
    let mut new = config(&["tB"]);
    new.members[0].site_id = 4242;
    assert!(matches!(c.reload(clock(100), new), Reloaded::Rejected(_)));
    assert_eq!(&*c.config().tickets[0].name, "tA");
    // The writer still writes tA.
    let (run, at, _) = grant(&mut c, 200, 1, "tA");
    c.run_finished(clock(at + 100), run, Outcome::success());
    assert!(replies(&drain(&mut c)).contains(&(1, RLT_SUCCESS)));
}

#[test]
fn a_reload_stops_the_handler_runs_of_removed_tickets() {
    let mut cfg = config(&["tA", "tB"]);
    std::sync::Arc::make_mut(&mut cfg.tickets[1]).before_acquire_handler =
        Some(vec!["/bin/true".into()]);
    let mut c = Core::new(cfg, 0, 7, pacemaker());
    c.start_loading(clock(0));
    let run = spawned(&drain(&mut c))[0].0;
    c.run_finished(clock(10), run, Outcome::failure(105));
    let _ = drain(&mut c);
    c.handle_client(clock(100), 1, CMD_GRANT, OPT_IMMEDIATE, "tB");
    let outs = drain(&mut c);
    let Some((ticket, hrun)) = outs.iter().find_map(|o| match o {
        Output::RunHandler { ticket, run, .. } => Some((*ticket, *run)),
        _ => None,
    }) else {
        panic!("a handler run: {outs:?}");
    };
    assert_eq!(c.reload(clock(200), config(&["tA"])), Reloaded::Applied);
    let outs = drain(&mut c);
    assert!(
        outs.contains(&Output::StopHandler { ticket, run: hrun }),
        "{outs:?}"
    );
    // Its late exit is ignored.
    c.handler_exit(clock(300), ticket, hrun, true);
    assert!(spawned(&drain(&mut c)).is_empty());
}

/// A write that completed while the daemon was frozen is looked at after
/// the engine has seen the time: the engine acts on the ticket before the
/// held reply goes out.
#[test]
fn a_late_confirmation_comes_after_the_engine_saw_the_time() {
    let mut cfg = config(&["tA"]);
    std::sync::Arc::make_mut(&mut cfg.tickets[0]).mode = TicketMode::Auto;
    let mut c = started_with(cfg);
    let (run, at, _) = grant(&mut c, 100, 1, "tA");
    // Frozen for a whole lease: no timeout was handled meanwhile.
    c.run_finished(clock(at + 60_000), run, Outcome::success());
    let outs = drain(&mut c);
    let first = outs
        .iter()
        .position(|o| !matches!(o, Output::Record(_)))
        .expect("outputs");
    assert!(
        !matches!(outs[first], Output::ClientReply { .. }),
        "{outs:?}"
    );
    assert!(replies(&outs).contains(&(1, RLT_SUCCESS)), "{outs:?}");
}

/// Answers the read of `name`'s CIB state among `outs` with `xml`
/// (crm_ticket's `State XML:` output; None: no state in the CIB) and
/// returns what followed.
fn answer_read(
    c: &mut Core,
    ms: u64,
    outs: &[Output],
    name: &str,
    xml: Option<&str>,
) -> Vec<Output> {
    let runs = spawned(outs);
    let read = ["-t", name, "-q"].map(String::from).to_vec();
    let Some(run) = runs.iter().find(|(_, argv)| *argv == read) else {
        panic!("a read of {name}: {outs:?}");
    };
    let o = match xml {
        Some(xml) => Outcome {
            stdout: format!("State XML:\n{xml}\n").into_bytes(),
            ..Outcome::success()
        },
        None => Outcome::failure(105),
    };
    c.run_finished(clock(ms), run.0, o);
    drain(c)
}

/// Reloads `c` (configured with tA) to tA and tB, answers the read of
/// tB's state with `xml` and returns what followed: the reload waits for
/// the read, then is applied.
fn reload_adding_tb(c: &mut Core, xml: &str) -> Vec<Output> {
    assert_eq!(
        c.reload(clock(100), config(&["tA", "tB"])),
        Reloaded::Reading
    );
    assert!(c.engine().ticket_index("tB").is_none());
    let outs = drain(c);
    assert_eq!(spawned(&outs).len(), 1, "{outs:?}");
    let outs = answer_read(c, 200, &outs, "tB", Some(xml));
    assert!(
        outs.contains(&Output::Reloaded(Reloaded::Applied)),
        "{outs:?}"
    );
    outs
}

/// A ticket a reload adds takes the geo attributes its CIB state holds
/// (set before it was configured, or kept while it was removed): its
/// attr-prereq is met as after a start.
#[test]
fn a_ticket_added_by_a_reload_knows_its_geo_attributes() {
    let mut c = started(&["tA"]);
    let xml = "<ticket_state id=\"tB\" granted=\"false\" repl=\"ok\"/>";
    let outs = reload_adding_tb(&mut c, xml);
    assert!(
        !outs.iter().any(|o| matches!(o, Output::StoreAttr { .. })),
        "not written back: {outs:?}"
    );
    assert_eq!(c.engine().attr_get("tB", "repl"), Ok("ok".to_string()));
}

/// Simulator seed 22948: a ticket a reload added at a site started before
/// its CIB state was read, and the state read afterwards was used for its
/// attributes only. A grant the CIB still held for this site (the ticket
/// removed and added back across a host reboot) was then unknown to the
/// engine, which voted for another site while the lease it stands for
/// ran. The added ticket starts from its CIB state, as at start-up.
#[test]
fn a_ticket_added_by_a_reload_starts_from_its_cib_grant() {
    let mut c = started(&["tA"]);
    let expires = WALL0 / 1000 + 300;
    let xml = format!(
        "<ticket_state id=\"tB\" granted=\"true\" owner=\"1000\" expires=\"{expires}\" term=\"3\"/>"
    );
    reload_adding_tb(&mut c, &xml);
    let i = c.engine().ticket_index("tB").unwrap();
    let v = c.engine().ticket_view(i);
    assert!(v.cib_granted, "{v:?}");
    assert!(v.term >= 3, "{v:?}");
}

/// A `geostore set` of a ticket whose reload waits for its CIB read is
/// answered as done and applied once the ticket starts, over the value the
/// read found (simulator seed 182: refused as of an unknown ticket, the
/// attribute the operator set was never stored).
#[test]
fn a_geostore_change_while_an_added_ticket_is_read_is_kept() {
    let mut c = started(&["tA"]);
    assert_eq!(
        c.reload(clock(100), config(&["tA", "tB"])),
        Reloaded::Reading
    );
    let outs = drain(&mut c);
    assert_eq!(c.attr_set(clock(150), "tB", "repl", "ACTIVE"), Ok(()));
    assert_eq!(c.attr_set(clock(160), "tB", "site", "x"), Ok(()));
    assert_eq!(c.attr_delete(clock(170), "tB", "site"), Ok(()));
    let xml = "<ticket_state id=\"tB\" granted=\"false\" repl=\"DEGRADED\" site=\"y\"/>";
    let outs = answer_read(&mut c, 200, &outs, "tB", Some(xml));
    assert!(
        outs.contains(&Output::Reloaded(Reloaded::Applied)),
        "{outs:?}"
    );
    assert_eq!(c.engine().attr_get("tB", "repl"), Ok("ACTIVE".to_string()));
    assert!(c.engine().attr_get("tB", "site").is_err());
    // And stored in the CIB.
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::StoreAttr { name, value, .. }
            if name == "repl" && value.as_deref() == Some("ACTIVE"))),
        "{outs:?}"
    );
}

/// A reload waiting for its reads still lets the engine see the time: a
/// lease that ended is given up at this event, not at the next timer
/// (simulator seed 202: a resumed member kept an expired grant).
#[test]
fn a_reading_reload_lets_the_engine_see_the_time() {
    let mut cfg = config(&["tA"]);
    std::sync::Arc::make_mut(&mut cfg.tickets[0]).mode = TicketMode::Auto;
    let mut c = started_with(cfg.clone());
    let (run, at, _) = grant(&mut c, 100, 1, "tA");
    c.run_finished(clock(at + 100), run, Outcome::success());
    let _ = drain(&mut c);
    let i = c.engine().ticket_index("tA").unwrap();
    assert_eq!(c.engine().ticket_view(i).leader.member(), Some(0));
    // Frozen past the lease; the first event is a reload adding tB.
    let mut new = cfg;
    new.tickets.push(std::sync::Arc::new(ticket("tB")));
    assert_eq!(c.reload(clock(at + 100_000), new), Reloaded::Reading);
    assert_eq!(c.engine().ticket_view(i).leader.member(), None);
}

/// A `geostore set` of an added ticket whose state is read while another
/// added ticket's read still runs is kept too (simulator seed 2804: it
/// reached the engine, which did not have the ticket yet, and was lost).
#[test]
fn a_geostore_change_of_an_added_ticket_already_read_is_kept() {
    let mut c = started(&["tA"]);
    assert_eq!(
        c.reload(clock(100), config(&["tA", "tB", "tC"])),
        Reloaded::Reading
    );
    let outs = drain(&mut c);
    let xml = "<ticket_state id=\"tB\" granted=\"false\" repl=\"DEGRADED\"/>";
    let after_b = answer_read(&mut c, 150, &outs, "tB", Some(xml));
    assert!(!after_b.contains(&Output::Reloaded(Reloaded::Applied)));
    assert_eq!(c.attr_set(clock(160), "tB", "repl", "ACTIVE"), Ok(()));
    let done = answer_read(&mut c, 200, &outs, "tC", None);
    assert!(
        done.contains(&Output::Reloaded(Reloaded::Applied)),
        "{done:?}"
    );
    assert_eq!(c.engine().attr_get("tB", "repl"), Ok("ACTIVE".to_string()));
}
