//! Hostile peer messages against the engine alone (no sockets), for the
//! cases the `engine` fuzz target found: each test drives one site's
//! engine with a short, explicit script.

use std::net::IpAddr;
use std::path::Path;

use booth::config::{Config, Resolver};
use booth::engine::{Clock, Engine, Time};
use booth::wire::{codes::*, Header, TicketBody, TicketMsg, NO_ONE};

struct Literal;

impl Resolver for Literal {
    fn resolve(&self, host: &str) -> Result<IpAddr, String> {
        host.parse().map_err(|e| format!("{e}"))
    }
}

/// The configuration of the captures: sites 198.51.100.1/.2, arbitrator
/// .3; ticketA and ticketB (expire 20, timeout 2, retries 3).
const CONF: &str = include_str!("data/c-booth-noauth.conf");

const WALL0: i64 = 1_700_000_000_000;

fn clock(ms: u64) -> Clock {
    Clock::new(Time::from_ms(ms), WALL0 + ms as i64)
}

/// Found by the `engine` fuzz target (reduced): an idle site gets a
/// vote request from site 2 at term 0xFFFFFFFF (the largest term, leader
/// NO_ONE, reason "Admn"). The next election must not start at term 0. A
/// term that wraps makes every older message look newer than the current
/// state (and the engine's own messages look outdated to its peers), so
/// one message, from any member, or from anyone who can send from a
/// member's address when authentication is off, throws the ticket's
/// history back to the start.
#[test]
fn a_term_at_u32_max_never_wraps_to_zero() {
    let cfg = Config::parse_str(CONF, Path::new("booth.conf"), &Literal).unwrap();
    let ids: Vec<u32> = cfg.members.iter().map(|m| m.site_id).collect();
    let mut e = Engine::new(cfg, 0, 1);
    let mut now = 1_000;
    e.start(clock(now));
    now = 61_930;
    e.handle_timeout(clock(now));
    let mut h = Header::new(OP_REQ_VOTE, ids[1]);
    h.reason = OR_ADMIN;
    let vote = TicketMsg {
        header: h,
        body: TicketBody {
            name: "ticketB".into(),
            leader: NO_ONE,
            term: u32::MAX,
            term_valid_for: 0xFFFF_FF22,
        },
    };
    let _ = e.handle_packet(clock(now), 1, &vote);
    let tb = e.ticket_index("ticketB").unwrap();
    let mut last = e.ticket_view(tb).term;
    // Let time run with nobody answering: timeouts, elections.
    for _ in 0..200 {
        while e.poll_output().is_some() {}
        now = e.next_deadline().map_or(now + 1_000, |t| t.ms().max(now));
        e.handle_timeout(clock(now));
        let term = e.ticket_view(tb).term;
        assert!(term >= last, "term went down from {last} to {term}");
        last = term;
    }
}
