use super::*;

fn env_of(r: &Run, k: &str) -> String {
    r.env
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{k} missing in {:?}", r.env))
}

fn two() -> Alerts {
    Alerts::new(vec![PathBuf::from("/a"), PathBuf::from("/b")])
}

#[test]
fn each_agent_gets_events_one_at_a_time_in_order() {
    let mut a = two();
    a.push(&Event::new("peer", "unreachable").var("PEER", "x"), &[]);
    a.push(&Event::new("peer", "reachable"), &[("LOCAL", "me".into())]);
    let r1 = a.next_run().unwrap();
    let r2 = a.next_run().unwrap();
    assert_eq!((r1.agent, r2.agent), (0, 1));
    assert_eq!(env_of(&r1, "BOOTH_ALERT_EVENT"), "unreachable");
    assert_eq!(env_of(&r1, "BOOTH_ALERT_PEER"), "x");
    assert_eq!(env_of(&r1, "BOOTH_ALERT_SEQUENCE"), "1");
    // Both agents busy: the second event waits.
    assert_eq!(a.next_run(), None);
    a.finished(0, Path::new("/a"), true);
    let r3 = a.next_run().unwrap();
    assert_eq!(r3.agent, 0);
    assert_eq!(env_of(&r3, "BOOTH_ALERT_EVENT"), "reachable");
    assert_eq!(env_of(&r3, "BOOTH_ALERT_SEQUENCE"), "2");
    assert_eq!(env_of(&r3, "BOOTH_ALERT_LOCAL"), "me");
    assert_eq!(a.counters().runs, 3);
    assert_eq!(a.counters().queued, 1);
}

#[test]
fn concurrent_runs_are_capped() {
    let paths = (0..MAX_RUNNING + 2)
        .map(|i| PathBuf::from(format!("/{i}")))
        .collect();
    let mut a = Alerts::new(paths);
    a.push(&Event::new("cib", "failing"), &[]);
    let mut n = 0;
    while a.next_run().is_some() {
        n += 1;
    }
    assert_eq!(n, MAX_RUNNING);
    a.finished(0, Path::new("/0"), false);
    assert!(a.next_run().is_some());
    assert_eq!(a.counters().failed, 1);
}

#[test]
fn a_slow_agent_loses_its_oldest_events_and_is_told() {
    let mut a = Alerts::new(vec![PathBuf::from("/slow")]);
    a.push(&Event::new("ticket", "first"), &[]);
    let hung = a.next_run().unwrap();
    for _ in 0..MAX_QUEUED + 5 {
        a.push(&Event::new("ticket", "granted-here"), &[]);
    }
    assert_eq!(a.counters().dropped, 5);
    assert_eq!(a.counters().queued, MAX_QUEUED);
    a.finished(hung.agent, &hung.program, false);
    let next = a.next_run().unwrap();
    assert_eq!(env_of(&next, "BOOTH_ALERT_DROPPED"), "5");
    // The oldest were dropped: 1 + 5 dropped, this is the 7th event.
    assert_eq!(env_of(&next, "BOOTH_ALERT_SEQUENCE"), "7");
    a.finished(next.agent, &next.program, true);
    assert_eq!(env_of(&a.next_run().unwrap(), "BOOTH_ALERT_DROPPED"), "0");
}

#[test]
fn no_agents_no_events() {
    let mut a = Alerts::new(Vec::new());
    assert!(!a.enabled());
    a.push(&Event::new("peer", "reachable"), &[]);
    assert_eq!(a.next_run(), None);
    assert_eq!(a.counters().events, 0);
}

#[test]
fn a_reload_keeps_queued_events_of_remaining_agents() {
    let mut a = two();
    a.push(&Event::new("peer", "reachable"), &[]);
    let r = a.next_run().unwrap();
    a.set_agents(vec![PathBuf::from("/b"), PathBuf::from("/c")]);
    assert_eq!(a.counters().queued, 1);
    // The old run of /a ends after the reload: nothing breaks.
    a.finished(r.agent, &r.program, true);
    assert_eq!(a.next_run().unwrap().program, PathBuf::from("/b"));
}

fn view(leader: Leader, state: State) -> TicketView {
    TicketView {
        name: "T".into(),
        state,
        leader,
        term: 1,
        term_expires: None,
        cib_granted: false,
        delay_commit: None,
    }
}

#[test]
fn ticket_moves_become_events() {
    use Leader::*;
    let me = 0;
    let mut seen = TicketSeen::new(&view(Unknown, State::Init));
    let mut step = |l, s| -> Vec<&'static str> {
        ticket_events(&mut seen, &view(l, s), me)
            .into_iter()
            .map(|e| e.0)
            .collect()
    };
    assert!(step(Unknown, State::Follower).is_empty());
    assert_eq!(step(Unknown, State::Candidate), Vec::<&str>::new());
    assert_eq!(step(Unknown, State::Follower), vec!["election-failed"]);
    assert_eq!(step(Member(0), State::Leader), vec!["granted-here"]);
    // The lease ran out here (a pause), then the other site holds it.
    assert_eq!(step(Unknown, State::Follower), vec!["lost"]);
    assert_eq!(
        step(Member(1), State::Follower),
        vec!["granted-elsewhere", "failed-over"]
    );
    assert_eq!(step(NoOne, State::Follower), vec!["revoked"]);
    // After a revoke a new grant is no failover.
    assert_eq!(step(Member(0), State::Leader), vec!["granted-here"]);
    assert_eq!(
        step(Member(1), State::Follower),
        vec!["lost", "granted-elsewhere", "failed-over"]
    );
    assert!(step(Member(1), State::Follower).is_empty());
}

#[test]
fn reachability_changes_are_reported_once() {
    let mut r = Reach::default();
    assert_eq!(r.check(1000, 3000), None);
    assert_eq!(r.check(3000, 3000), Some(false));
    assert_eq!(r.check(9000, 3000), None);
    assert_eq!(r.heard(9500), Some(true));
    assert_eq!(r.heard(9600), None);
    assert_eq!(r.check(12_000, 3000), None);
    assert_eq!(r.check(12_600, 3000), Some(false));
}

#[test]
fn auth_failures_are_rate_limited_per_address() {
    let mut f = AuthFailures::default();
    assert_eq!(f.failed("a", 0), Some(1));
    assert_eq!(f.failed("b", 10), Some(1));
    assert_eq!(f.failed("a", 1000), None);
    assert_eq!(f.failed("a", 2000), None);
    assert_eq!(f.failed("a", AUTH_REPORT_EVERY), Some(3));
    assert_eq!(f.failed("a", AUTH_REPORT_EVERY + 1), None);
}

#[test]
fn agents_are_the_executable_files_in_name_order() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("bal-agents-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for (name, mode) in [
        ("20-b", 0o755),
        ("10-a", 0o700),
        ("plain", 0o644),
        (".hid", 0o755),
        ("x~", 0o755),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let found = find_agents(&dir).unwrap();
    assert_eq!(found, vec![dir.join("10-a"), dir.join("20-b")]);
    assert!(find_agents(&dir.join("missing")).unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
