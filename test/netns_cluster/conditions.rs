//! The scenarios of manual tickets, before-acquire-handlers, attr-prereqs,
//! authentication and real Pacemaker.

use super::*;

// Manual tickets: no elections, no expiry, no failover.

pub(crate) fn manual_grant(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    let d = c.grant(s0, TM);
    c.wait_agree(TM, Some(s0), secs(5));
    let list = c.lab.list(c.arb());
    assert!(
        list.lines()
            .any(|l| l.starts_with("ticket: ticketM") && l.ends_with("[manual mode]")),
        "{list}"
    );
    Some(d)
}

pub(crate) fn manual_grant_to_other_site(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    let site = c.addr(s1);
    let t0 = Instant::now();
    let g = c
        .lab
        .booth(s0, Impl::Rust, &["grant", "-w", "-s", &site, TM]);
    assert!(g.status.success(), "{}{}", text(&g.stdout), text(&g.stderr));
    c.wait_granted(s1, TM, secs(10));
    let d = t0.elapsed();
    c.wait_agree(TM, Some(s1), secs(5));
    assert!(!c.granted(s0, TM));
    Some(d)
}

pub(crate) fn manual_revoke(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    c.grant(s0, TM);
    c.wait_agree(TM, Some(s0), secs(5));
    let t0 = Instant::now();
    c.revoke(s0, Impl::Rust, TM);
    c.wait_not_granted(s0, TM, secs(5));
    c.wait_agree(TM, None, secs(5));
    Some(t0.elapsed())
}

/// The holder of a manual ticket dies: nobody takes the ticket over.
pub(crate) fn manual_holder_dies(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, TM);
    c.wait_agree(TM, Some(s0), secs(5));
    c.lab.kill(s0);
    during(secs(EXPIRE + 5), || {
        assert!(!c.granted(s1, TM), "manual ticket failed over");
    });
    assert_eq!(c.leader(s1, TM), Some(c.addr(s0)));
    None
}

// before-acquire-handler: fails at a site while @DIR@/fail-<its address>
// exists.

pub(crate) fn handler_denies_grant(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    std::fs::write(c.lab.dir.join(format!("fail-{}", c.addr(s0))), "").unwrap();
    let g = c.lab.booth(s0, Impl::Rust, &["grant", "-w", TH]);
    assert!(!g.status.success(), "grant succeeded");
    assert!(
        text(&g.stderr).contains("before-acquire-handler for ticket \"ticketH\" failed"),
        "{}",
        text(&g.stderr)
    );
    std::thread::sleep(secs(1));
    for k in c.lab.sites() {
        assert!(!c.granted(k, TH));
    }
    None
}

/// The handler starts failing at the holder: it steps down at its next
/// renewal and site 1 takes the ticket. Returns failure -> grant at 1.
pub(crate) fn handler_fails_at_holder(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, TH);
    c.wait_agree(TH, Some(s0), secs(5));
    let t0 = Instant::now();
    std::fs::write(c.lab.dir.join(format!("fail-{}", c.addr(s0))), "").unwrap();
    c.wait_not_granted(s0, TH, secs(EXPIRE));
    c.wait_granted(s1, TH, secs(2 * EXPIRE));
    let d = t0.elapsed();
    c.wait_agree(TH, Some(s1), secs(5));
    Some(d)
}

// attr-prereq: ticketP needs the geo attribute repl=ACTIVE at the site for
// administrative grants (manual) and for taking it over (auto).

pub(crate) fn geostore_set(c: &Ctx, k: usize) {
    let o = c.lab.geostore(k, &["set", "-t", TP, "repl", "ACTIVE"]);
    assert!(o.status.success(), "geostore: {}", text(&o.stderr));
}

pub(crate) fn prereq_not_met(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    let g = c.lab.booth(s0, Impl::Rust, &["grant", "-w", TP]);
    assert!(!g.status.success(), "grant succeeded");
    assert!(
        text(&g.stderr).contains("attr-prereq for ticket \"ticketP\" failed"),
        "{}",
        text(&g.stderr)
    );
    for k in c.lab.sites() {
        assert!(!c.granted(k, TP));
    }
    None
}

pub(crate) fn prereq_met(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    geostore_set(c, s0);
    let d = c.grant(s0, TP);
    c.wait_agree(TP, Some(s0), secs(5));
    Some(d)
}

/// The holder dies; site 1 lacks the attribute, so it must not take over.
pub(crate) fn prereq_not_met_no_failover(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    geostore_set(c, s0);
    c.grant(s0, TP);
    c.wait_agree(TP, Some(s0), secs(5));
    c.lab.kill(s0);
    during(secs(2 * EXPIRE + 3), || {
        assert!(!c.granted(s1, TP), "taken over without the attribute");
    });
    None
}

/// With the attribute at site 1 too, it takes over.
pub(crate) fn prereq_met_failover(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    geostore_set(c, s0);
    geostore_set(c, s1);
    c.grant(s0, TP);
    c.wait_agree(TP, Some(s0), secs(5));
    let t0 = Instant::now();
    c.lab.kill(s0);
    c.wait_granted(s1, TP, secs(2 * EXPIRE + 5));
    Some(t0.elapsed())
}

// Authentication (the lab's members share @DIR@/authkey).

pub(crate) const KEY: &str = "a shared booth secret, 32 bytes!";

/// Member `victim` (not site 1) restarts with a wrong key while site 1
/// holds the ticket: its packets are refused and counted, and the holder
/// keeps the ticket through the remaining member; with the right key again
/// it rejoins.
pub(crate) fn wrong_key_at(c: &mut Ctx, victim: usize) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s1, T);
    c.wait_agree(T, Some(s1), secs(5));
    let key = c.lab.dir.join("authkey");
    c.lab.kill(victim);
    std::fs::write(&key, "a different secret key, 32 bytes").unwrap();
    c.lab.start_wait(victim);
    // Daemons read the key at start, clients at each call: put it back.
    std::fs::write(&key, KEY).unwrap();
    let before = c.authfail(s1, victim);
    during(secs(EXPIRE + 2), || {
        assert!(c.granted(s1, T) && !c.granted(s0, T));
    });
    assert!(c.authfail(s1, victim) > before, "wrong key not refused");
    // Restart with the right key: back in the cluster.
    c.lab.kill(victim);
    c.lab.start_wait(victim);
    c.wait_agree(T, Some(s1), secs(EXPIRE));
    None
}

/// Our arbitrator has the wrong key.
pub(crate) fn wrong_key(c: &mut Ctx) -> Option<Duration> {
    let arb = c.arb();
    wrong_key_at(c, arb)
}

/// The C site has the wrong key.
pub(crate) fn wrong_key_c(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    wrong_key_at(c, s0)
}

/// Runs `f` in a thread that has entered network namespace `ns`.
pub(crate) fn in_netns<R: Send + 'static>(ns: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap();
        // SAFETY: setns on this thread only, with a valid descriptor.
        assert_eq!(
            unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        f()
    })
    .join()
    .unwrap()
}

/// Payloads of the booth datagrams from `src` that reach namespace `ns`
/// within `dur` (a raw socket sees copies of them).
pub(crate) fn capture(ns: &str, src: [u8; 4], dur: Duration) -> Vec<Vec<u8>> {
    in_netns(ns, move || {
        // SAFETY: plain socket calls on a descriptor owned here.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP);
            assert!(fd >= 0, "raw socket");
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 200_000,
            };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
            let mut got = Vec::new();
            let t0 = Instant::now();
            let mut buf = [0u8; 65536];
            while t0.elapsed() < dur {
                let n = libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
                if n <= 0 {
                    continue;
                }
                let p = &buf[..n as usize];
                let ihl = ((p[0] & 0x0f) as usize) * 4;
                if p.len() < ihl + 8 || p[12..16] != src {
                    continue;
                }
                let dport = u16::from_be_bytes([p[ihl + 2], p[ihl + 3]]);
                if dport == 9929 {
                    got.push(p[ihl + 8..].to_vec());
                }
            }
            libc::close(fd);
            got
        }
    })
}

/// Packets of site 0 (a C daemon) captured at site 1 while site 0 held the
/// ticket are sent again from site 0's address after the ticket moved to
/// site 1: all refused as replays, nothing changes.
pub(crate) fn replayed_packets(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    c.wait_agree(T, Some(s0), secs(5));
    let src: std::net::Ipv4Addr = c.addr(s0).parse().unwrap();
    let got = capture(&c.lab.hosts[s1].ns, src.octets(), secs(EXPIRE / 2 + 2));
    assert!(!got.is_empty(), "nothing captured");
    c.revoke(s0, c.client, T);
    c.wait_agree(T, None, secs(5));
    c.grant(s1, T);
    c.wait_agree(T, Some(s1), secs(5));
    let before = c.authfail(s1, s0);
    let (from, to) = (c.addr(s0), format!("{}:9929", c.addr(s1)));
    let n = got.len() as u64;
    in_netns(&c.lab.hosts[s0].ns.clone(), move || {
        let sock = std::net::UdpSocket::bind(format!("{from}:0")).unwrap();
        for p in &got {
            sock.send_to(p, &to).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    std::thread::sleep(secs(2));
    let after = c.authfail(s1, s0);
    assert!(
        after >= before + n,
        "{n} replayed packets, authfail {before} -> {after}"
    );
    c.wait_agree(T, Some(s1), secs(3));
    assert!(c.granted(s1, T) && !c.granted(s0, T));
    None
}

// Real Pacemaker: a Dummy resource `svc` with rsc_ticket on ticketA
// (loss-policy=stop) at both sites.

pub(crate) fn svc_running(c: &Ctx, k: usize) -> bool {
    let o = c.lab.exec(k, &["crm_resource", "--locate", "-r", "svc"]);
    text(&o.stdout).contains("is running on")
}

/// Waits until svc runs exactly at `at` (or nowhere), checking that it
/// never runs at both sites.
pub(crate) fn wait_svc(c: &Ctx, at: Option<usize>, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let r: Vec<bool> = c.lab.sites().iter().map(|&k| svc_running(c, k)).collect();
        assert!(!r.iter().all(|&x| x), "svc running at both sites");
        let want: Vec<bool> = c.lab.sites().iter().map(|&k| Some(k) == at).collect();
        if r == want {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < limit, "svc running at {r:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub(crate) fn pcmk_setup(c: &Ctx) {
    for k in c.lab.sites() {
        for (scope, xml) in [
            (
                "resources",
                "<primitive id=\"svc\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\">\
                 <operations><op id=\"svc-mon\" name=\"monitor\" interval=\"2s\"/></operations></primitive>",
            ),
            (
                "constraints",
                "<rsc_ticket id=\"svc-needs-ticketA\" rsc=\"svc\" ticket=\"ticketA\" loss-policy=\"stop\"/>",
            ),
        ] {
            let o = c.lab.exec(k, &["cibadmin", "-C", "-o", scope, "-X", xml]);
            assert!(o.status.success(), "{}", text(&o.stderr));
        }
    }
}

/// Grant at site 0: svc starts there only. Returns grant -> started.
pub(crate) fn pcmk_grant(c: &mut Ctx) -> Option<Duration> {
    wait_svc(c, None, secs(5));
    let t0 = Instant::now();
    c.grant(c.s0(), T);
    wait_svc(c, Some(c.s0()), secs(15));
    Some(t0.elapsed())
}

/// Revoke at site 0, grant to site 1: svc moves. Returns revoke -> started
/// at site 1.
pub(crate) fn pcmk_move(c: &mut Ctx) -> Option<Duration> {
    let (s0, s1) = (c.s0(), c.s1());
    c.grant(s0, T);
    wait_svc(c, Some(s0), secs(15));
    let t0 = Instant::now();
    c.revoke(s0, Impl::Rust, T);
    wait_svc(c, None, secs(15));
    let site = c.addr(s1);
    let g = c
        .lab
        .booth(s0, Impl::Rust, &["grant", "-w", "-s", &site, T]);
    assert!(g.status.success(), "{}", text(&g.stderr));
    wait_svc(c, Some(s1), secs(15));
    Some(t0.elapsed())
}

/// The holding site is cut off: booth drops the ticket there at the lease
/// end, Pacemaker stops svc, the other site gets the ticket and starts it.
/// Returns isolation -> started at site 1.
pub(crate) fn pcmk_failover(c: &mut Ctx) -> Option<Duration> {
    let s0 = c.s0();
    c.grant(s0, T);
    wait_svc(c, Some(s0), secs(15));
    let t0 = Instant::now();
    c.lab.isolate(s0);
    wait_svc(c, Some(c.s1()), secs(2 * EXPIRE + 15));
    let d = t0.elapsed();
    c.lab.heal();
    c.wait_agree(T, Some(c.s1()), secs(EXPIRE + 5));
    Some(d)
}
