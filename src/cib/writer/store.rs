//! The state-directory backend's batched stores, and the writer's
//! counters.

use super::{Output, Run, RunId, Writer};

/// What the writer has done so far (for the simulator's report and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Writes the engine submitted.
    pub submitted: u64,
    /// Writes superseded by a newer one before they ran.
    pub coalesced: u64,
    /// Single-ticket `crm_ticket` writes started.
    pub single_runs: u64,
    /// `cibadmin` batches started, and the writes they carried.
    pub batches: u64,
    pub batched_writes: u64,
    /// State-directory stores started.
    pub stores: u64,
    /// Runs that failed (a batch counts once), and of those, killed for
    /// taking too long.
    pub failures: u64,
    pub killed: u64,
    /// Retries of failed writes started (after the pause).
    pub retries: u64,
    /// Writes confirmed in the store.
    pub confirmed: u64,
    /// Reloads applied, and deferred.
    pub reloads: u64,
    pub reloads_deferred: u64,
}

impl<R> Writer<R> {
    /// Every state-directory write waiting goes out in one store run.
    pub(super) fn flush_store(&mut self) {
        if self.store_running || (self.store_queue.is_empty() && self.store_attrs.is_empty()) {
            return;
        }
        let mut items = Vec::new();
        for name in std::mem::take(&mut self.store_queue) {
            let Some(s) = self.slots.get_mut(name.as_str()) else {
                continue;
            };
            s.queued = false;
            if s.inflight.is_some() || s.retry_at.is_some() {
                continue;
            }
            if let Some(w) = s.pending.take() {
                s.inflight_seq = s.submitted;
                items.push((name, w, s.submitted));
            }
        }
        let attrs = std::mem::take(&mut self.store_attrs);
        if items.is_empty() && attrs.is_empty() {
            return;
        }
        let writes = items.iter().map(|(_, w, _)| w.clone()).collect();
        let names: Vec<String> = items.iter().map(|(n, _, _)| n.clone()).collect();
        let run = RunId(self.next_run);
        self.next_run += 1;
        self.runs.insert(run, Run::Store(items));
        self.store_running = true;
        self.stats.stores += 1;
        for n in names {
            if let Some(s) = self.slots.get_mut(n.as_str()) {
                s.inflight = Some(run);
            }
        }
        self.out.push_back(Output::Store { run, writes, attrs });
    }
}
