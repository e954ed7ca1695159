//! The scenarios of automatic tickets: grants, revokes, restarts,
//! failover, isolation and loss.

use super::*;

// ---------------------------------------------------------------------------
// Scenarios. Each starts from a clean cluster and returns the time worth
// reporting (grant, failover, recovery), if any.

pub(crate) type Scenario = fn(&mut Ctx) -> Option<Duration>;

/// Grant at site 0: every member names it, and every site's CIB records
/// the same owner (the holder's site id, whichever implementation wrote it).
pub(crate) fn grant(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    let d = c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    assert!(!c.granted(s1, T));
    let owner = |k: usize| {
        let xml = c
            .lab
            .cib_sources()
            .into_iter()
            .find(|(s, _)| *s == k)
            .unwrap()
            .1
            .read();
        xml.split("<ticket_state")
            .find(|e| e.contains(" id=\"ticketA\""))
            .and_then(|e| e.split(" owner=\"").nth(1))
            .and_then(|r| r.split('"').next())
            .map(str::to_string)
    };
    let t0 = Instant::now();
    loop {
        let (o0, o1) = (owner(s0), owner(s1));
        if o0.is_some() && o0 == o1 && o0.as_deref() != Some("0") {
            break;
        }
        assert!(
            t0.elapsed() < secs(5),
            "CIB owners: holder {o0:?}, other site {o1:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(d)
}

/// Three leases: renewed (the CIB expiry moves on), never elsewhere.
pub(crate) fn held_over_expiries(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    let first = c.expires(s0, T);
    during(secs(3 * EXPIRE), || {
        assert!(c.granted(s0, T), "holder lost the ticket");
        assert!(!c.granted(s1, T), "granted at the other site");
    });
    c.wait_agree(T, Some(s0), secs(3));
    let last = c.expires(s0, T);
    if c.lab.hosts[s0].pcmk {
        return None;
    }
    assert!(
        last >= first + 2 * EXPIRE as i64,
        "lease not renewed in the CIB: expires {first} then {last}"
    );
    None
}

pub(crate) fn revoke(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    let t0 = Instant::now();
    c.revoke(s0, c.client, T);
    c.wait_not_granted(s0, T, secs(5));
    c.wait_agree(T, None, secs(5));
    Some(t0.elapsed())
}

/// A client at site 0 grants the ticket to site 1 (`-s`).
pub(crate) fn grant_to_other_site(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    let t0 = Instant::now();
    let site = c.addr(s1);
    let args: Vec<&str> = match c.client {
        Impl::Rust => vec!["grant", "-w", "-s", &site, T],
        Impl::C => vec!["grant", "-s", &site, T],
    };
    let g = c.lab.booth(s0, c.client, &args);
    assert!(g.status.success(), "{}{}", text(&g.stdout), text(&g.stderr));
    c.wait_granted(s1, T, secs(10));
    let d = t0.elapsed();
    c.wait_agree(T, Some(s1), secs(5));
    assert!(!c.granted(s0, T));
    Some(d)
}

pub(crate) fn grant_with_arbitrator_down(c: &mut Ctx) -> Option<Duration> {
    let (s0, arb) = (c.s0(), c.arb());
    c.lab.kill(arb);
    let d = c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    c.lab.start_wait(arb);
    c.wait_agree(T, Some(s0), secs(5));
    Some(d)
}

/// Granted while site 1 is down; site 1 learns it when it comes back and
/// does not take it.
pub(crate) fn grant_while_site_down(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.lab.kill(s1);
    let d = c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    std::thread::sleep(secs(2));
    c.lab.start_wait(s1);
    c.wait_agree(T, Some(s0), secs(5));
    std::thread::sleep(secs(2));
    assert!(!c.granted(s1, T) && c.granted(s0, T));
    Some(d)
}

/// Every member restarted while site 0 holds the ticket (recorded in its
/// CIB): site 0 holds it again, nobody else ever does.
pub(crate) fn all_restarted(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    std::thread::sleep(secs(2));
    for k in c.all() {
        c.lab.kill(k);
    }
    std::thread::sleep(secs(1));
    let t0 = Instant::now();
    for k in c.all() {
        c.lab.start(k);
    }
    for k in c.all() {
        c.lab.wait_up(k);
    }
    c.wait_agree(T, Some(s0), secs(EXPIRE + 10));
    let d = t0.elapsed();
    assert!(c.granted(s0, T) && !c.granted(s1, T));
    Some(d)
}

/// Member `k` restarts while site 0 holds the ticket, with an empty CIB
/// if `wipe`: within `within` every member agrees again, on site 0 (after
/// a wipe: on either site), and exactly one site holds the ticket. Returns
/// restart -> agreement.
pub(crate) fn restart_one(c: &mut Ctx, k: usize, wipe: bool, within: Duration) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    c.lab.kill(k);
    if wipe {
        c.lab.wipe_cib(k);
    }
    let t0 = Instant::now();
    c.lab.start_wait(k);
    let holder = if wipe {
        c.settle(T, None, within)?
    } else {
        c.wait_agree(T, Some(s0), within);
        s0
    };
    let d = t0.elapsed();
    std::thread::sleep(secs(2));
    let other = if holder == s0 { s1 } else { s0 };
    assert!(c.granted(holder, T) && !c.granted(other, T));
    Some(d)
}

/// The holder restarts (its CIB keeps the grant) and keeps the ticket.
pub(crate) fn holder_restarted(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    restart_one(c, s0, false, secs(EXPIRE + 5))
}

/// The holder restarts with an empty CIB: afterwards exactly one site holds
/// the ticket and every member agrees which.
pub(crate) fn holder_restarted_cib_wiped(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    restart_one(c, s0, true, secs(2 * EXPIRE + 10))
}

pub(crate) fn follower_restarted(c: &mut Ctx) -> Option<Duration> {
    let s1 = c.s1();
    restart_one(c, s1, false, secs(5))
}

/// The holder's daemon dies: site 1 takes over after the lease; the old
/// holder, restarted with the grant still in its CIB, gives it up and
/// follows. Returns kill -> grant at site 1.
pub(crate) fn holder_dies(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    let granted = Instant::now();
    c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    std::thread::sleep(secs(1));
    let t0 = Instant::now();
    c.lab.kill(s0);
    c.wait_granted(s1, T, secs(2 * EXPIRE + 5));
    let d = t0.elapsed();
    // The lease began at the grant (no renewal before the kill); a C
    // holder announces it truncated to the second, so its followers may
    // take over up to a second early.
    let since_grant = granted.elapsed();
    assert!(
        since_grant >= secs(EXPIRE - 1),
        "took over {since_grant:?} after the grant ({d:?} after the kill), inside the lease"
    );
    c.wait_agree(T, Some(s1), secs(5));
    c.lab.start_wait(s0);
    c.wait_not_granted(s0, T, secs(EXPIRE));
    c.wait_agree(T, Some(s1), secs(EXPIRE));
    assert!(c.granted(s1, T));
    Some(d)
}

/// The holder is cut off: it drops the ticket at its lease end, site 1
/// takes it; after healing everybody follows site 1. Returns isolation ->
/// grant at site 1.
pub(crate) fn holder_isolated(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    std::thread::sleep(secs(1));
    let t0 = Instant::now();
    c.lab.isolate(s0);
    c.wait_not_granted(s0, T, secs(EXPIRE + 3));
    c.wait_granted(s1, T, secs(EXPIRE + 10));
    let d = t0.elapsed();
    c.lab.heal();
    c.wait_agree(T, Some(s1), secs(EXPIRE + 5));
    assert!(!c.granted(s0, T));
    Some(d)
}

/// A follower is cut off for two leases: the holder keeps the ticket (the
/// arbitrator is its majority); the follower catches up after healing.
pub(crate) fn follower_isolated(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    c.lab.isolate(s1);
    during(secs(2 * EXPIRE), || {
        assert!(c.granted(s0, T), "holder lost the ticket");
        assert!(!c.granted(s1, T), "isolated follower granted itself");
    });
    c.lab.heal();
    let t0 = Instant::now();
    c.settle(T, Some(s0), secs(EXPIRE))?;
    Some(t0.elapsed())
}

/// The holder is cut off for exactly one lease, then healed: whichever way
/// it goes, one site ends up holding the ticket and everybody agrees.
pub(crate) fn holder_isolated_for_expiry(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    c.lab.isolate(s0);
    std::thread::sleep(secs(EXPIRE));
    c.lab.heal();
    let t0 = Instant::now();
    let holder = c.settle(T, None, secs(2 * EXPIRE + 5))?;
    let d = t0.elapsed();
    let other = if holder == s0 { s1 } else { s0 };
    c.wait_not_granted(other, T, secs(3));
    Some(d)
}

/// 30% of all frames dropped for three leases: the holder keeps the
/// ticket thanks to resends, never granted at the other site.
pub(crate) fn loss_30(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    c.lab.loss(30);
    during(secs(3 * EXPIRE), || {
        assert!(!c.granted(s1, T), "granted at the other site");
    });
    assert!(c.granted(s0, T), "holder lost the ticket");
    c.lab.heal();
    c.wait_agree(T, Some(s0), secs(EXPIRE + 5));
    None
}

/// Each client against each daemon prints the same list; our client
/// revokes at a C daemon, the C client grants and revokes at ours.
pub(crate) fn client_crossings(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    c.grant_with(s0, Impl::Rust, T);
    c.wait_agree(T, Some(s0), secs(5));
    for k in c.all() {
        // Same second needed for the expiry to print the same: retry.
        let mut same = false;
        let (mut ours, mut theirs) = (String::new(), String::new());
        for _ in 0..3 {
            ours = text(&c.lab.booth(k, Impl::Rust, &["list"]).stdout);
            theirs = text(&c.lab.booth(k, Impl::C, &["list"]).stdout);
            if ours == theirs && ours.contains(&format!("leader: {},", c.addr(s0))) {
                same = true;
                break;
            }
        }
        assert!(same, "member {k}: our client {ours:?}, C client {theirs:?}");
    }
    let c_site = c.all().into_iter().find(|&k| c.lab.hosts[k].imp == Impl::C);
    let our_site = c
        .lab
        .sites()
        .into_iter()
        .find(|&k| c.lab.hosts[k].imp == Impl::Rust);
    if let Some(k) = c_site {
        // Our client revokes at a C daemon (the holder here is site 0).
        c.revoke(k, Impl::Rust, T);
        c.wait_agree(T, None, secs(5));
    } else {
        c.revoke(s0, Impl::Rust, T);
        c.wait_agree(T, None, secs(5));
    }
    if let Some(k) = our_site {
        c.grant_with(k, Impl::C, T);
        c.wait_agree(T, Some(k), secs(5));
        c.revoke(k, Impl::C, T);
        c.wait_agree(T, None, secs(5));
    }
    None
}

/// `holder_isolated` with the roles of the sites swapped (in the mixed
/// cluster: our site holds, the C site takes over).
pub(crate) fn holder_isolated_swapped(c: &mut Ctx) -> Option<Duration> {
    c.swapped = true;
    holder_isolated(c)
}

pub(crate) fn holder_dies_swapped(c: &mut Ctx) -> Option<Duration> {
    c.swapped = true;
    holder_dies(c)
}
