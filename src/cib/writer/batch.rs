//! Renewals that share one `cibadmin` run.

use log::{debug, error, warn};

use super::{Backend, Outcome, Run, Writer, BATCH_DELAY, BATCH_MAX_FAILURES};
use crate::cib;
use crate::engine::CibWrite;

impl<R> Writer<R> {
    pub(super) fn arm_batch(&mut self) {
        if self.batch_at.is_none() && !self.batch_running && !self.batch_due {
            self.batch_at = Some(self.now + std::time::Duration::from_millis(BATCH_DELAY));
        }
    }

    /// Writes the waiting renewals in one `cibadmin` run (as many as fit
    /// in one argument; the rest go in the next run, started when this
    /// one ends).
    pub(super) fn flush_batch(&mut self) {
        if self.batch_running || self.batch.is_empty() {
            return;
        }
        if self.writers >= self.max_writers() {
            self.batch_due = true;
            return;
        }
        let Some(program) = self.cibadmin().map(str::to_string) else {
            // Batching was given up: everyone goes to crm_ticket.
            for name in std::mem::take(&mut self.batch) {
                if let Some(s) = self.slots.get_mut(name.as_str()) {
                    s.batched = false;
                }
                self.next(&name);
            }
            return;
        };
        let mut items = Vec::new();
        let mut elements = Vec::new();
        let mut bytes = cib::BATCH_XML_OVERHEAD;
        let mut left = Vec::new();
        let mut reroute = Vec::new();
        for name in std::mem::take(&mut self.batch) {
            let Some(s) = self.slots.get(name.as_str()) else {
                continue;
            };
            if !s.batched {
                continue;
            }
            if !left.is_empty() {
                left.push(name);
                continue;
            }
            if !(self.batchable(s) && s.inflight.is_none() && s.retry_at.is_none()) {
                self.slots.get_mut(name.as_str()).expect("slot").batched = false;
                reroute.push(name);
                continue;
            }
            let s = self.slots.get_mut(name.as_str()).expect("slot");
            let Some(w) = s.pending.take() else { continue };
            let e = cib::batch_element(&w, &self.cfg_name);
            if bytes + e.len() > cib::MAX_BATCH_XML && !elements.is_empty() {
                s.pending = Some(w);
                left.push(name);
                continue;
            }
            bytes += e.len();
            s.batched = false;
            s.inflight_seq = s.submitted;
            items.push((name, w, s.submitted));
            elements.push(e);
        }
        self.batch = left;
        for name in reroute {
            self.next(&name);
        }
        if items.is_empty() {
            return;
        }
        self.batch_full = !self.batch.is_empty();
        debug!("writing {} ticket renewals in one CIB update", items.len());
        let names: Vec<String> = items.iter().map(|(n, _, _)| n.clone()).collect();
        let run = self.spawn(Run::Batch(items), program, cib::batch_argv(&elements), None);
        self.writers += 1;
        self.batch_running = true;
        self.stats.batches += 1;
        self.stats.batched_writes += names.len() as u64;
        for n in names {
            if let Some(s) = self.slots.get_mut(n.as_str()) {
                s.inflight = Some(run);
            }
        }
    }

    /// A batch ended: confirm its writes, or retry them one by one.
    pub(super) fn batch_done(&mut self, items: Vec<(String, CibWrite, u64)>, o: &Outcome) {
        if o.ok {
            self.batch_failures = 0;
        } else {
            self.batch_failures += 1;
            self.stats.failures += 1;
            error!(
                "writing {} ticket renewals with cibadmin failed (exit code {}); writing them with crm_ticket",
                items.len(),
                o.code
            );
            let give_up = o.not_started || self.batch_failures >= BATCH_MAX_FAILURES;
            if let (true, Backend::Pacemaker { cibadmin, .. }) = (give_up, &mut self.backend) {
                if cibadmin.take().is_some() {
                    warn!("renewals are written with crm_ticket one by one from now on");
                }
            }
        }
        let mut touched = Vec::with_capacity(items.len());
        for (name, w, seq) in items {
            let Some(s) = self.slots.get_mut(name.as_str()) else {
                continue;
            };
            s.inflight = None;
            if o.ok {
                self.confirmed(&name, w, seq);
            } else {
                // Unknown now: the next write states everything again.
                s.written = None;
                s.absent = false;
                s.pending.get_or_insert(w);
            }
            touched.push(name);
        }
        for name in touched {
            self.next(&name);
        }
        if self.batch_full {
            // More renewals wait than one run could carry: no pause.
            self.flush_batch();
        } else if !self.batch.is_empty() {
            self.arm_batch();
        }
    }
}
