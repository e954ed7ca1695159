//! Figures collected over runs: distributions (failover times, grant
//! latencies, ...) and event counters, mergeable across seeds.

use std::fmt::Write as _;

/// A distribution of durations in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Dist {
    pub samples: Vec<u64>,
}

impl Dist {
    pub fn add(&mut self, v: u64) {
        self.samples.push(v);
    }

    pub fn merge(&mut self, o: &Dist) {
        self.samples.extend_from_slice(&o.samples);
    }

    /// Nearest-rank percentile (`p` in 0..=100) of the samples.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.samples.is_empty() {
            return None;
        }
        let mut s = self.samples.clone();
        s.sort_unstable();
        let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
        Some(s[rank.clamp(1, s.len()) - 1])
    }

    /// `n=…, p50 …s, p90 …s, p99 …s, max …s`.
    pub fn summary(&self) -> String {
        if self.samples.is_empty() {
            return "n=0".to_string();
        }
        let mut s = self.samples.clone();
        s.sort_unstable();
        let at = |p: f64| {
            let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
            secs(s[rank.clamp(1, s.len()) - 1])
        };
        format!(
            "n={}, p50 {}, p90 {}, p99 {}, max {}",
            s.len(),
            at(50.0),
            at(90.0),
            at(99.0),
            secs(*s.last().expect("not empty"))
        )
    }
}

/// Milliseconds as seconds with three decimals and a unit.
pub fn secs(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

/// Event counters of one or more runs.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub messages: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub dropped_at_dead: u64,
    pub dropped_full_buffer: u64,
    /// Datagrams queued while a member was frozen, discarded on resume
    /// because it woke up late (as the daemon does).
    pub discarded_after_pause: u64,
    pub crashes: u64,
    pub boots: u64,
    pub pauses: u64,
    pub partitions: u64,
    /// Writes the engines asked for, and runs that failed (killed ones
    /// included).
    pub cib_writes: u64,
    pub cib_failures: u64,
    /// From the daemons' CIB writers: single-ticket runs, `cibadmin`
    /// batches and the writes they carried, writes superseded before they
    /// ran, retries after a failure, runs killed for hanging.
    pub cib_single_runs: u64,
    pub cib_batches: u64,
    pub cib_batched_writes: u64,
    pub cib_coalesced: u64,
    pub cib_retries: u64,
    pub cib_killed: u64,
    /// SIGHUP reloads: applied, deferred (start-up load running), waiting
    /// for the added tickets' CIB states (then applied or rejected, and
    /// counted again), rejected.
    pub reloads: u64,
    pub reloads_deferred: u64,
    pub reloads_reading: u64,
    pub reloads_rejected: u64,
    pub handler_runs: u64,
    pub handler_failures: u64,
    pub grants: u64,
    pub revokes: u64,
    pub client_answers: u64,
    /// A CIB still said "granted" after its lease ended while another site
    /// took the ticket: the member was frozen, down, or its revoke was still
    /// being written (not violations: the lease had ended; see the module
    /// documentation of `check`).
    pub stale_paused: u64,
    pub stale_down: u64,
    pub stale_cib_pending: u64,
    /// Members that resumed from a pause holding an expired grant (each had
    /// to revoke first).
    pub resumed_expired: u64,
    /// Manual tickets granted at two sites at once (allowed by design).
    pub manual_multi_grants: u64,
    pub failovers: u64,
    /// Failovers (tickets of a lost leader) not granted elsewhere by their
    /// bound.
    pub failovers_late: u64,
    /// Grants and revokes issued in calm windows whose bound was checked.
    pub calm_ops: u64,
    /// Datagrams sent to a suspended host (lost).
    pub dropped_suspended: u64,
    /// Stale deliveries armed, and messages they held back.
    pub holds: u64,
    pub held: u64,
    pub wall_steps: u64,
    pub host_reboots: u64,
    pub suspends: u64,
    /// `geostore set/delete` calls.
    pub attr_changes: u64,
    /// Periods in which two or more sites' CIBs said "granted" for an
    /// automatic ticket (whatever the leases; see `Stats::cib_overlap`).
    pub cib_overlaps: u64,
    /// Violations of these kinds (not counting findings reported apart).
    pub dual_grants: u64,
    pub availability_losses: u64,
    /// Failovers before the old lease end plus acquire-after.
    pub failovers_early: u64,
}

impl Counters {
    pub fn merge(&mut self, o: &Counters) {
        macro_rules! add {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        add!(
            messages,
            lost,
            duplicated,
            dropped_at_dead,
            dropped_full_buffer,
            discarded_after_pause,
            crashes,
            boots,
            pauses,
            partitions,
            cib_writes,
            cib_failures,
            cib_single_runs,
            cib_batches,
            cib_batched_writes,
            cib_coalesced,
            cib_retries,
            cib_killed,
            reloads,
            reloads_deferred,
            reloads_reading,
            reloads_rejected,
            handler_runs,
            handler_failures,
            grants,
            revokes,
            client_answers,
            stale_paused,
            stale_down,
            stale_cib_pending,
            resumed_expired,
            manual_multi_grants,
            failovers,
            failovers_late,
            calm_ops,
            dropped_suspended,
            holds,
            held,
            wall_steps,
            host_reboots,
            suspends,
            attr_changes,
            cib_overlaps,
            dual_grants,
            availability_losses,
            failovers_early
        );
    }
}

/// Everything measured in one or more runs.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub seeds: u64,
    /// Simulated (true) time, ms.
    pub sim_ms: u64,
    /// Failover: from the loss of the leader to a new site's CIB grant.
    pub failover: Dist,
    /// The part of a failover beyond the old lease end plus acquire-after.
    pub failover_excess: Dist,
    /// Calm grant: request to final reply, and to the CIB grant.
    pub grant_reply: Dist,
    pub grant_commit: Dist,
    /// Calm revoke: request to final reply.
    pub revoke_reply: Dist,
    /// Any -w/-C client (chaos included): request to final answer.
    pub wait_answer: Dist,
    /// Elections a failover took (index 7: 7 or more).
    pub failover_rounds: [u64; 8],
    /// Durations of the CIB-flag overlaps (`Counters::cib_overlaps`).
    pub cib_overlap: Dist,
    pub counters: Counters,
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        self.seeds += o.seeds;
        self.sim_ms += o.sim_ms;
        self.failover.merge(&o.failover);
        self.failover_excess.merge(&o.failover_excess);
        self.grant_reply.merge(&o.grant_reply);
        self.grant_commit.merge(&o.grant_commit);
        self.revoke_reply.merge(&o.revoke_reply);
        self.wait_answer.merge(&o.wait_answer);
        self.cib_overlap.merge(&o.cib_overlap);
        for (a, b) in self.failover_rounds.iter_mut().zip(o.failover_rounds) {
            *a += b;
        }
        self.counters.merge(&o.counters);
    }

    pub fn hours(&self) -> f64 {
        self.sim_ms as f64 / 3_600_000.0
    }

    /// A multi-line report of the distributions and counters.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let c = &self.counters;
        let _ = writeln!(
            s,
            "failover (leader lost -> new CIB grant): {}",
            self.failover.summary()
        );
        let _ = writeln!(
            s,
            "failover beyond lease end + acquire-after: {}",
            self.failover_excess.summary()
        );
        let _ = writeln!(
            s,
            "failover election rounds (0, 1, ..., 6, 7 or more): {:?}",
            self.failover_rounds
        );
        let _ = writeln!(
            s,
            "calm grant, request -> final reply: {}",
            self.grant_reply.summary()
        );
        let _ = writeln!(
            s,
            "calm grant, request -> CIB granted: {}",
            self.grant_commit.summary()
        );
        let _ = writeln!(
            s,
            "calm revoke, request -> final reply: {}",
            self.revoke_reply.summary()
        );
        let _ = writeln!(
            s,
            "-w/-C clients, request -> answer: {}",
            self.wait_answer.summary()
        );
        let _ = writeln!(
            s,
            "events: {} messages ({} lost, {} duplicated, {} to dead members, {} overflowed a frozen member's buffer, {} discarded on a late wake-up), {} crashes, {} boots, {} pauses, {} partitions",
            c.messages, c.lost, c.duplicated, c.dropped_at_dead, c.dropped_full_buffer, c.discarded_after_pause, c.crashes, c.boots, c.pauses, c.partitions
        );
        let _ = writeln!(
            s,
            "        {} CIB writes ({} failed), {} handler runs ({} failed), {} grants, {} revokes, {} client answers, {} failovers ({} past the bound, {} before lease end + acquire-after), {} calm operations",
            c.cib_writes, c.cib_failures, c.handler_runs, c.handler_failures, c.grants, c.revokes, c.client_answers, c.failovers, c.failovers_late, c.failovers_early, c.calm_ops
        );
        let _ = writeln!(
            s,
            "CIB writer: {} single runs, {} cibadmin batches ({} renewals), {} superseded writes, {} retries, {} runs failed ({} killed hanging); reloads: {} applied, {} deferred, {} reading added tickets, {} rejected",
            c.cib_single_runs, c.cib_batches, c.cib_batched_writes, c.cib_coalesced, c.cib_retries, c.cib_failures, c.cib_killed, c.reloads, c.reloads_deferred, c.reloads_reading, c.reloads_rejected
        );
        let _ = writeln!(
            s,
            "expired grants left in a CIB while another site took the ticket: {} frozen, {} down, {} revoke being written; {} resumes with an expired grant; {} manual multi-grants",
            c.stale_paused, c.stale_down, c.stale_cib_pending, c.resumed_expired, c.manual_multi_grants
        );
        let _ = writeln!(
            s,
            "time faults: {} stale deliveries armed ({} messages held), {} wall-clock steps, {} host reboots, {} suspends ({} datagrams lost to them), {} geostore changes",
            c.holds, c.held, c.wall_steps, c.host_reboots, c.suspends, c.dropped_suspended, c.attr_changes
        );
        let _ = writeln!(
            s,
            "CIB-flag overlaps (two sites' CIBs say granted, any lease): {}",
            self.cib_overlap.summary()
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut d = Dist::default();
        for v in 1..=100 {
            d.add(v);
        }
        assert_eq!(d.percentile(50.0), Some(50));
        assert_eq!(d.percentile(99.0), Some(99));
        assert_eq!(d.percentile(100.0), Some(100));
        assert_eq!(d.percentile(0.0), Some(1));
        assert_eq!(Dist::default().percentile(50.0), None);
        assert_eq!(secs(1234), "1.234s");
    }
}
