//! A deterministic cluster simulator: whole booth clusters in virtual time,
//! under faults, with invariants checked after every step.
//!
//! The members run the real [`crate::engine::Engine`], the code the daemon
//! runs; the network, the clocks, each site's CIB (behind a crm_ticket that
//! takes time and can fail), the before-acquire-handlers and the clients are
//! simulated. A seed determines everything: the cluster shape and ticket
//! timings ([`gen`]), the fault schedule and workload ([`scenario`]), every
//! delay and loss; the same seed gives the same run and the same trace.
//!
//! What is checked, and the bounds used for liveness, is described in
//! [`check`]; how the world is modelled in [`world`].
//!
//! ```text
//! let report = booth::sim::run_seed(42, &Options::default());
//! assert!(report.violations.is_empty(), "{}", report.violations[0]);
//! ```
//! The runner is `test/sim.rs` (`make sim SEEDS=N`, `make sim SEED=N`).

pub mod check;
pub mod gen;
pub mod scenario;
#[cfg(test)]
mod shapes;
pub mod stats;
pub mod trace;
pub mod world;

pub use check::{Kind, Violation};
pub use stats::Stats;

/// How to run a seed.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Collect a trace (engine log lines and simulator events).
    pub trace: bool,
    /// Restrict the trace to this ticket (faults are always included).
    pub trace_ticket: Option<String>,
    /// Only the fault kinds of the simulator before issue #17 (no stale
    /// deliveries, clock steps, host reboots, suspends or geostore changes).
    pub classic_faults: bool,
    /// The clock the daemons time leases with: what a host suspend does.
    pub suspend_clock: world::SuspendClock,
    /// Run every engine with this deliberately broken rule.
    #[cfg(feature = "mutations")]
    pub mutation: Option<crate::engine::Mutation>,
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    /// Members, tickets and timings drawn for the seed.
    pub shape: String,
    /// Cluster size and tickets, to pick the smallest example of a failure.
    pub members: usize,
    pub tickets: usize,
    pub violations: Vec<Violation>,
    pub stats: Stats,
    pub trace: Vec<String>,
}

/// Runs one seed.
pub fn run_seed(seed: u64, opts: &Options) -> SeedReport {
    scenario::run(seed, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traced(seed: u64, ticket: Option<&str>) -> SeedReport {
        // With the mutations feature Options has one more field.
        #[allow(clippy::needless_update)]
        let o = Options {
            trace: true,
            trace_ticket: ticket.map(str::to_string),
            ..Options::default()
        };
        run_seed(seed, &o)
    }

    #[test]
    fn the_same_seed_gives_the_same_trace() {
        let a = traced(3, None);
        let b = traced(3, None);
        assert!(a.trace.len() > 1000, "a real run: {} lines", a.trace.len());
        assert_eq!(a.trace, b.trace);
        assert_eq!(a.stats.sim_ms, b.stats.sim_ms);
        assert_eq!(a.shape, b.shape);
        let c = traced(4, None);
        assert_ne!(a.trace, c.trace);
        // Tracing does not change the run.
        let quiet = run_seed(3, &Options::default());
        assert_eq!(quiet.stats.sim_ms, a.stats.sim_ms);
        assert_eq!(quiet.stats.counters.messages, a.stats.counters.messages);
    }

    #[test]
    fn a_ticket_trace_holds_that_ticket_and_the_faults() {
        let r = traced(3, Some("tk0"));
        assert!(!r.trace.is_empty());
        for l in &r.trace {
            // Daemon lines about no ticket in particular (the start-up
            // load, a batch of renewals) concern every ticket.
            let about_none = !l.contains(" tk") && !l.contains(" --- ") && l.contains(" m");
            assert!(
                l.contains(" tk0") || l.contains(" --- ") || about_none,
                "{l}"
            );
        }
    }
}
