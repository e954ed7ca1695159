//! Chaos actions of SIGHUP reloads: tickets reordered, removed and added
//! back, renewal periods shortened (within the bounds the configuration
//! parser allows), rolled out to every running member one after another,
//! so that reloads meet start-up loads, running and retried CIB writes,
//! handler runs and held replies. Healing gives every member the first
//! configuration back (in another order). Off with
//! `Options::classic_faults`.

use super::*;
use crate::config::{Config, TicketConfig};

impl Driver {
    /// One reload; `roll` in 0..10.
    pub(super) fn reload_fault(&mut self, roll: u64) {
        let mut cfg = self.w.live_config().clone();
        match roll {
            0..=2 => self.shuffle(&mut cfg.tickets),
            3..=5 => {
                let i = self.below(cfg.tickets.len() as u64) as usize;
                let first = self.first_ticket(&cfg.tickets[i].name);
                let tc = std::sync::Arc::make_mut(&mut cfg.tickets[i]);
                // timeout * (retries + 1) <= renewal-freq < expire; no
                // longer than at first (the availability grace uses it).
                let min = ms(tc.timeout) * (tc.retries as u64 + 1);
                let max = ms(first.renewal_freq).max(min);
                let r = min + self.below(max - min + 1);
                tc.renewal_freq = std::time::Duration::from_millis(r);
            }
            6 | 7 if cfg.tickets.len() > 1 => {
                let i = self.below(cfg.tickets.len() as u64) as usize;
                cfg.tickets.remove(i);
            }
            _ => {
                let missing: Vec<std::sync::Arc<TicketConfig>> = self
                    .w
                    .cfg
                    .tickets
                    .iter()
                    .filter(|t| !cfg.tickets.iter().any(|x| x.name == t.name))
                    .cloned()
                    .collect();
                for t in missing {
                    let at = self.below(cfg.tickets.len() as u64 + 1) as usize;
                    cfg.tickets.insert(at, t);
                }
            }
        }
        self.roll_out(cfg);
    }

    /// Every member gets the first configuration back, its tickets in
    /// another order.
    pub(super) fn restore_config(&mut self) {
        let mut cfg = self.w.cfg.clone();
        if self.w.live_config().tickets == cfg.tickets {
            return;
        }
        self.shuffle(&mut cfg.tickets);
        self.roll_out(cfg);
    }

    /// SIGHUP at every member in turn, a little apart; daemons that start
    /// later read the new configuration.
    fn roll_out(&mut self, cfg: Config) {
        self.w.set_live_config(cfg.clone());
        let mut order: Vec<usize> = (0..self.n()).collect();
        self.shuffle(&mut order);
        for m in order {
            self.w.reload(m, cfg.clone());
            let gap = self.below(800);
            self.advance(gap);
        }
    }

    fn first_ticket(&self, name: &str) -> std::sync::Arc<TicketConfig> {
        self.w
            .cfg
            .tickets
            .iter()
            .find(|t| &*t.name == name)
            .cloned()
            .expect("every ticket is in the first configuration")
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}
