//! Model checking of the real engine: every interleaving of a bounded run
//! of booth's smallest shape — two sites and an arbitrator, one ticket —
//! explored exhaustively, with the property checks of [`props`] after every
//! step. The engines are the production [`Engine`](crate::engine::Engine)
//! values, cloned at every branch; the checker models only the world around
//! them: the network, time, the CIB, the promise record, crashes and the
//! operator. `doc/model-check.md` describes the abstraction and what it can
//! and cannot miss; `test/model_check.rs` runs it.
//!
//! The search is our own depth-first walk ([`search`]) rather than a model
//! checking crate: time is a value the engines are handed and jumps from
//! deadline to deadline (a crate's timers would have to be mapped back to
//! it), the property checks need the ghost state of [`props`] next to the
//! engines, and the walk is 150 lines without a dependency.

pub mod props;
pub mod search;
pub mod world;

use std::time::Duration;

use crate::config::{Config, MemberKind, TicketConfig, TicketMode, TicketSettings};
#[cfg(feature = "mutations")]
use crate::engine::Mutation;
use crate::wire::codes::CMD_GRANT;

pub use props::Violation;
pub use search::{explore, trace, Report};
pub use world::{Action, Budget, World};

/// Site id of member 0; member `i` has `SITE_ID0 + i`.
pub const SITE_ID0: u32 = 1000;

/// The bounds of one search.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Steps on a path (every action counts, also time advancing).
    pub depth: usize,
    /// Time does not advance past this (true ms).
    pub horizon_ms: u64,
    /// States with a term above this are checked but not expanded.
    pub max_term: u32,
    /// Faults and operator actions per path.
    pub budget: Budget,
    /// The sites have a before-acquire-handler (which may fail).
    pub handler: bool,
    /// Run the fair continuation from every new state ([`props::stays_granted`]).
    pub liveness: bool,
    pub live_horizon_ms: u64,
    /// Give up (report `truncated`) after this many states.
    pub max_states: u64,
    /// Operator actions and handler failures at m0 only, and the operator
    /// only grants (without -F): for searches aimed at one sequence.
    pub narrow: bool,
}

/// Timings of the checked ticket: lease 10 s, renewal at half of it,
/// elections and resends every 2 s, 3 retries (the engine tests' 20/2/3
/// shape with a shorter lease, so a lease spans fewer deadlines).
pub const EXPIRE_S: u64 = 10;
pub const TIMEOUT_S: u64 = 2;
pub const RETRIES: u32 = 3;

/// Two sites (m0, m1) and an arbitrator (m2), one automatic ticket "T".
pub fn cluster_config(handler: bool) -> Config {
    let kinds = [MemberKind::Site, MemberKind::Site, MemberKind::Arbitrator];
    let ticket = TicketConfig::new(
        "T",
        TicketSettings {
            expire: Duration::from_secs(EXPIRE_S),
            timeout: Duration::from_secs(TIMEOUT_S),
            retries: RETRIES,
            renewal_freq: Duration::from_secs(EXPIRE_S / 2),
            acquire_after: Duration::ZERO,
            before_acquire_handler: handler.then(|| vec!["/usr/bin/check".into()]),
            attr_prereqs: vec![],
            mode: TicketMode::Auto,
            weights: Default::default(),
        },
    );
    Config::synthetic(&kinds, vec![ticket], |i| SITE_ID0 + i as u32)
}

/// Where a search starts: the state a fault-free run reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// All members just started, nothing granted.
    Fresh,
    /// An administrator granted the ticket at m0, which holds it.
    Granted,
    /// m0 held the ticket and died; m1 took it over; m0 is still down
    /// (its CIB still says "granted", with a lease long over).
    FailedOver,
}

impl Start {
    pub const ALL: [Start; 3] = [Start::Fresh, Start::Granted, Start::FailedOver];

    pub fn name(self) -> &'static str {
        match self {
            Start::Fresh => "fresh",
            Start::Granted => "granted",
            Start::FailedOver => "failed-over",
        }
    }

    pub fn from_name(s: &str) -> Option<Start> {
        Start::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Builds the start state: a fault-free run (datagrams delivered at once,
/// time from deadline to deadline) with the setup's operator actions.
pub fn start_state(start: Start, limits: &Limits, mutation: Option<&str>) -> World {
    let mut w = World::new_with(cluster_config(limits.handler), limits, mutation);
    settle(&mut w, 0);
    if start == Start::Fresh {
        return w;
    }
    w.admin(0, CMD_GRANT, false);
    settle(&mut w, 1_000);
    assert!(w.holds(0), "setup: m0 holds the ticket");
    if start == Start::Granted {
        return w;
    }
    w.crash(0);
    let at = w.now;
    while !w.holds(1) {
        assert!(w.now < at + 60_000, "setup: m1 takes the ticket over");
        fair_step(&mut w);
    }
    settle(&mut w, 0);
    w
}

/// Runs fairly until nothing is in flight, and at least `ms` longer.
fn settle(w: &mut World, ms: u64) {
    let until = w.now + ms;
    while !w.net.is_empty() || w.now < until {
        if !fair_step(w) {
            break;
        }
    }
}

/// One fault-free step: the first datagram in flight, else the next deadline.
fn fair_step(w: &mut World) -> bool {
    if let Some(&p) = w.net.first() {
        w.apply(Action::Deliver(p));
    } else if w.next_deadline().is_some() {
        w.apply(Action::Advance);
    } else {
        return false;
    }
    assert!(w.found.is_empty(), "setup run: {:?}", w.found);
    true
}

impl World {
    /// [`World::new`] with an engine variant (`mutations` feature only).
    pub fn new_with(cfg: Config, limits: &Limits, mutation: Option<&str>) -> World {
        let mut ghost = props::Ghost::new(cfg.members.len());
        #[cfg(feature = "mutations")]
        {
            ghost.mutation = mutation.map(|n| Mutation::from_name(n).expect("mutation name"));
        }
        #[cfg(not(feature = "mutations"))]
        assert!(
            mutation.is_none(),
            "engine variants need the mutations feature"
        );
        ghost.crashed = false;
        World::new(cfg, limits, ghost)
    }
}
