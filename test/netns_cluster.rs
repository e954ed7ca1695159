//! Booth members on separate (namespaced) hosts, with our daemon alone and
//! mixed with Debian's C boothd, tickets recorded by the real crm_ticket.

mod netns;

use std::time::Duration;

use netns::{wait_for, Impl, Lab};

const TICKET: &str = "ticket = ticketA\n  expire = 10\n  timeout = 1\n  retries = 3\n";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn rust_cluster_on_three_hosts_fails_over_when_the_holder_is_isolated() {
    if !netns::available(false) {
        return;
    }
    let mut lab = Lab::new(
        "rs",
        &[
            ("site", Impl::Rust),
            ("site", Impl::Rust),
            ("arbitrator", Impl::Rust),
        ],
        TICKET,
    );
    lab.start_all();
    // No -s: each client finds its site on the host's interface.
    let g = lab.booth(0, Impl::Rust, &["grant", "-w", "ticketA"]);
    assert!(g.status.success(), "{}", text(&g.stderr));
    assert!(lab.granted_in_cib(0, "ticketA"));
    assert!(lab
        .list(2)
        .starts_with("ticket: ticketA, leader: 198.51.100.1, expires: "));

    lab.isolate(0);
    // The isolated holder drops the ticket at its lease end; site 2 takes it.
    wait_for(Duration::from_secs(15), || {
        !lab.granted_in_cib(0, "ticketA")
    });
    wait_for(Duration::from_secs(10), || lab.granted_in_cib(1, "ticketA"));
    assert!(!lab.granted_in_cib(0, "ticketA"), "never both");
    lab.heal();
    wait_for(Duration::from_secs(15), || {
        lab.list(0)
            .starts_with("ticket: ticketA, leader: 198.51.100.2")
    });
}

#[test]
fn c_site_with_rust_site_and_rust_arbitrator() {
    if !netns::available(true) {
        return;
    }
    let mut lab = Lab::new(
        "mx1",
        &[
            ("site", Impl::C),
            ("site", Impl::Rust),
            ("arbitrator", Impl::Rust),
        ],
        TICKET,
    );
    lab.start_all();
    // The C client grants at the C site; our members follow.
    let g = lab.booth(0, Impl::C, &["grant", "ticketA"]);
    assert!(g.status.success(), "{}", text(&g.stderr));
    wait_for(Duration::from_secs(10), || lab.granted_in_cib(0, "ticketA"));
    wait_for(Duration::from_secs(5), || {
        lab.list(1)
            .starts_with("ticket: ticketA, leader: 198.51.100.1, expires: ")
    });
    wait_for(Duration::from_secs(5), || {
        lab.cib_state(1, "ticketA").contains("owner=\"584690490\"")
    });
    // Both clients print the same list from our daemon (timestamps agree
    // within the same second).
    let ours = text(&lab.booth(1, Impl::Rust, &["list"]).stdout);
    let theirs = text(&lab.booth(1, Impl::C, &["list"]).stdout);
    assert_eq!(ours, theirs);
    // And our client reads the C daemon.
    let at_c = lab.booth(0, Impl::Rust, &["list"]);
    assert!(
        text(&at_c.stdout).starts_with("ticket: ticketA, leader: 198.51.100.1, expires: "),
        "{}",
        text(&at_c.stderr)
    );
    // The C holder dies: our site takes over after the lease.
    lab.kill(0);
    wait_for(Duration::from_secs(20), || lab.granted_in_cib(1, "ticketA"));
    assert!(lab
        .list(2)
        .starts_with("ticket: ticketA, leader: 198.51.100.2"));
    // The C client revokes and grants at our daemon.
    let r = lab.booth(1, Impl::C, &["revoke", "ticketA"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    wait_for(Duration::from_secs(5), || !lab.granted_in_cib(1, "ticketA"));
    assert_eq!(lab.list(2), "ticket: ticketA, leader: none\n");
    let g = lab.booth(1, Impl::C, &["grant", "ticketA"]);
    assert!(g.status.success(), "{}", text(&g.stderr));
    wait_for(Duration::from_secs(10), || lab.granted_in_cib(1, "ticketA"));
}

#[test]
fn c_sites_with_a_rust_arbitrator() {
    if !netns::available(true) {
        return;
    }
    let mut lab = Lab::new(
        "mx2",
        &[
            ("site", Impl::C),
            ("site", Impl::C),
            ("arbitrator", Impl::Rust),
        ],
        TICKET,
    );
    lab.start_all();
    // Our client grants at a C site.
    let g = lab.booth(0, Impl::Rust, &["grant", "-w", "ticketA"]);
    assert!(g.status.success(), "{}", text(&g.stderr));
    wait_for(Duration::from_secs(10), || lab.granted_in_cib(0, "ticketA"));
    let c_list = text(&lab.booth(2, Impl::C, &["list"]).stdout);
    assert!(
        c_list.starts_with("ticket: ticketA, leader: 198.51.100.1, expires: "),
        "{c_list}"
    );
    let peers = text(&lab.booth(2, Impl::C, &["peers"]).stdout);
    assert!(
        peers.starts_with("site         198.51.100.1, last recv: "),
        "{peers}"
    );
    // Failover between the C sites needs our arbitrator's vote.
    lab.kill(0);
    wait_for(Duration::from_secs(20), || lab.granted_in_cib(1, "ticketA"));
    assert!(lab
        .list(2)
        .starts_with("ticket: ticketA, leader: 198.51.100.2"));
}

#[test]
fn authenticated_mixed_cluster_refuses_a_member_with_the_wrong_key() {
    if !netns::available(true) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let keydir = std::env::temp_dir().join(format!("booth-keys-{}", std::process::id()));
    std::fs::create_dir_all(&keydir).unwrap();
    let key = keydir.join("authkey");
    std::fs::write(&key, "a shared booth secret, 32 bytes!").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let tail = format!("authfile = {}\n{TICKET}", key.display());
    let mut lab = Lab::new(
        "auth",
        &[
            ("site", Impl::C),
            ("site", Impl::Rust),
            ("arbitrator", Impl::Rust),
        ],
        &tail,
    );
    lab.start_all();
    let g = lab.booth(1, Impl::Rust, &["grant", "-w", "ticketA"]);
    assert!(g.status.success(), "{}", text(&g.stderr));
    wait_for(Duration::from_secs(10), || lab.granted_in_cib(1, "ticketA"));
    // The C site follows our leader over authenticated packets.
    wait_for(Duration::from_secs(5), || {
        text(&lab.booth(0, Impl::C, &["list"]).stdout)
            .starts_with("ticket: ticketA, leader: 198.51.100.2, expires: ")
    });
    // The arbitrator restarts with a wrong key: its packets are refused and
    // counted, and the holder keeps the ticket through the other site.
    lab.kill(2);
    let wrong = keydir.join("authkey");
    std::fs::write(&wrong, "a different secret key, 32 bytes").unwrap();
    lab.start(2);
    wait_for(Duration::from_secs(10), || {
        lab.booth(2, Impl::Rust, &["list"]).status.success()
    });
    // Daemons read the key at start; clients at each call: put it back.
    std::fs::write(&key, "a shared booth secret, 32 bytes!").unwrap();
    std::thread::sleep(Duration::from_secs(12));
    assert!(lab.granted_in_cib(1, "ticketA"));
    let peers = text(&lab.booth(1, Impl::Rust, &["peers"]).stdout);
    let arb = peers.split("arbitrator").nth(1).unwrap();
    let authfail: u64 = arb
        .split("authfail:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(authfail > 0, "{peers}");
    drop(lab);
    let _ = std::fs::remove_dir_all(&keydir);
}

#[test]
fn ticket_held_through_thirty_percent_loss() {
    if !netns::available(false) {
        return;
    }
    let mut lab = Lab::new(
        "loss",
        &[
            ("site", Impl::Rust),
            ("site", Impl::Rust),
            ("arbitrator", Impl::Rust),
        ],
        TICKET,
    );
    lab.start_all();
    let g = lab.booth(0, Impl::Rust, &["grant", "-w", "ticketA"]);
    assert!(g.status.success(), "{}", text(&g.stderr));
    lab.loss(30);
    // Three lease periods: renewals get through thanks to resends.
    for _ in 0..30 {
        std::thread::sleep(Duration::from_secs(1));
        assert!(!lab.granted_in_cib(1, "ticketA"), "never at both sites");
    }
    lab.heal();
    wait_for(Duration::from_secs(15), || {
        lab.list(2)
            .starts_with("ticket: ticketA, leader: 198.51.100.1")
    });
}
