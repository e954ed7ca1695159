//! The start-up load of every ticket's state from the CIB, and the
//! queries of tickets added by a reload or not read at start-up.

use std::sync::Arc;

use log::{error, info};

use super::{Backend, Outcome, Output, Run, Slot, Writer, MAX_LOAD_ALL_OUTPUT, MAX_PARALLEL_LOADS};
use crate::cib;
use crate::engine::{CibState, Time};

impl<R> Writer<R> {
    /// Loads every ticket's state (Pacemaker only): one query for all,
    /// one per ticket (as the C booth does) if that fails. Ends with
    /// [`Output::Loaded`]; other backends end at once.
    pub fn start_loading(&mut self, now: Time, names: &[Arc<str>]) {
        self.advance(now);
        self.loading = true;
        self.loads_pending = names.iter().rev().cloned().collect();
        if let Backend::Pacemaker { crm_ticket, .. } = &self.backend {
            let program = crm_ticket.clone();
            self.spawn(
                Run::LoadAll,
                program,
                cib::load_all_argv(),
                Some(MAX_LOAD_ALL_OUTPUT),
            );
            self.loads_running += 1;
        } else {
            self.loads_pending.clear();
            self.loads_done();
        }
    }

    /// Room for `n` more tickets' slots (before a start's `note_loaded`s).
    pub fn reserve_slots(&mut self, n: usize) {
        self.slots.reserve(n);
    }

    /// What the store held at start-up for a ticket (state directory,
    /// loaded by the driver): renewals keeping it may be batched.
    pub fn note_loaded(&mut self, ticket: Arc<str>, st: Option<&CibState>) {
        let s = self.slots.get_or_insert_with(ticket, Slot::new);
        s.absent = st.is_none();
        s.written = st.and_then(|st| Some((st.granted, i32::try_from(st.owner?).ok()?)));
    }

    /// The start-up load waits to retry a ticket the CIB did not give
    /// (Pacemaker not running, `crm_ticket` missing or failing): the
    /// daemon runs on without answering anyone until it has every state.
    pub fn load_retrying(&self) -> bool {
        self.loading && !self.load_retries.is_empty()
    }

    /// Reads what the CIB holds for tickets a reload added (Pacemaker
    /// only): geo attributes set before the ticket was configured, or
    /// kept from before it was removed. Ends with one
    /// [`Output::LoadedAdded`] per ticket.
    pub fn load_added(&mut self, now: Time, names: &[String]) {
        self.advance(now);
        if names.len() > MAX_PARALLEL_LOADS {
            // One query for all, as at start-up: a reload adding 10,000
            // tickets read them one `crm_ticket` at a time, 16 children at
            // once, with the renewals of the running tickets queued behind.
            if let Backend::Pacemaker { crm_ticket, .. } = &self.backend {
                let program = crm_ticket.clone();
                self.spawn(
                    Run::LoadAddedAll(names.to_vec()),
                    program,
                    cib::load_all_argv(),
                    Some(MAX_LOAD_ALL_OUTPUT),
                );
            }
            return;
        }
        for name in names {
            self.read_added(name.clone());
        }
    }

    /// The one query for many added tickets ended: each gets its state,
    /// or is read alone if the query failed.
    pub(super) fn loaded_added_all(&mut self, names: Vec<String>, o: &Outcome) {
        let states = all_states(o, "reading the added tickets one by one");
        let Some(states) = states else {
            for name in names {
                self.read_added(name);
            }
            return;
        };
        let mut by_name: std::collections::HashMap<String, CibState> = states.into_iter().collect();
        for name in names {
            let st = by_name.remove(&name);
            self.out.push_back(Output::LoadedAdded(name, st));
        }
    }

    /// Queries one ticket's state after the start (see `load_added`).
    pub(super) fn read_added(&mut self, name: String) {
        let Backend::Pacemaker { crm_ticket, .. } = &self.backend else {
            return;
        };
        let program = crm_ticket.clone();
        let argv = cib::load_argv(&name);
        self.spawn(Run::LoadAdded(name), program, argv, None);
    }

    /// The result of the all-tickets query: true when it was used.
    pub(super) fn loaded_all(&mut self, o: &Outcome) -> bool {
        let Some(states) = all_states(o, "loading tickets one by one") else {
            return false;
        };
        let wanted: std::collections::HashSet<&str> =
            self.loads_pending.iter().map(|n| &**n).collect();
        let found: Vec<(String, CibState)> = states
            .into_iter()
            .filter(|(n, _)| wanted.contains(n.as_str()))
            .collect();
        info!(
            "loaded the state of {} of {} tickets from the CIB",
            found.len(),
            self.loads_pending.len()
        );
        // By name: with 10,000 tickets a search of the list per ticket was
        // 50 million comparisons on the loop.
        let by_name: std::collections::HashMap<&str, &CibState> =
            found.iter().map(|(n, s)| (n.as_str(), s)).collect();
        for name in std::mem::take(&mut self.loads_pending) {
            let st = by_name.get(&*name).copied();
            self.note_loaded(name, st);
        }
        self.loaded.extend(found);
        true
    }

    pub(super) fn loaded_one(&mut self, name: &str, o: &Outcome) {
        if o.ok {
            match cib::parse_load(&String::from_utf8_lossy(&o.stdout)) {
                Ok(st) => {
                    self.note_loaded(name.into(), Some(&st));
                    self.loaded.push((name.to_string(), st));
                }
                Err(e) => tk_error!(name, "{e}"),
            }
        } else if !o.killed && cib::load_status_is_missing(o.code) {
            info!("command \"crm_ticket -t {name} -q\", ticket not found");
            self.note_loaded(name.into(), None);
        } else {
            error!(
                "command \"crm_ticket -t {name} -q\" exit code {}; trying again",
                o.code
            );
            let at = self.read_failed(name);
            self.load_retries.insert((at, name.to_string()));
        }
    }

    pub(super) fn start_loads(&mut self) {
        let Backend::Pacemaker { crm_ticket, .. } = &self.backend else {
            return;
        };
        let program = crm_ticket.clone();
        while self.loads_running < MAX_PARALLEL_LOADS {
            let Some(name) = self.loads_pending.pop() else {
                break;
            };
            let argv = cib::load_argv(&name);
            self.spawn(Run::Load(name.to_string()), program.clone(), argv, None);
            self.loads_running += 1;
        }
    }

    /// A query of `name` failed: when to try again (a growing pause).
    pub(super) fn read_failed(&mut self, name: &str) -> Time {
        let n = self.read_failures.entry(name.to_string()).or_insert(0);
        *n += 1;
        self.now + std::time::Duration::from_millis(super::backoff(*n))
    }

    pub(super) fn maybe_loads_done(&mut self) {
        if self.loads_running == 0 && self.loads_pending.is_empty() && self.load_retries.is_empty()
        {
            self.loads_done();
        }
    }

    pub(super) fn loads_done(&mut self) {
        if !self.loading {
            return;
        }
        self.loading = false;
        let states = std::mem::take(&mut self.loaded);
        self.out.push_back(Output::Loaded(states));

        if std::mem::take(&mut self.reload_deferred) {
            self.reload_due = true;
        }
    }
}

/// What the all-tickets query (`crm_ticket -q`) found: every ticket state
/// in the CIB (none when it has none yet), or None when the query failed
/// (logged, saying what happens instead: `then`).
fn all_states(o: &Outcome, then: &str) -> Option<Vec<(String, CibState)>> {
    if o.ok && !o.truncated {
        match cib::parse_load_all(&String::from_utf8_lossy(&o.stdout)) {
            Ok(states) => Some(states),
            Err(e) => {
                error!("command \"crm_ticket -q\": {e}; {then}");
                None
            }
        }
    } else if !o.killed && cib::load_status_is_missing(o.code) {
        info!("command \"crm_ticket -q\", no ticket state in the CIB yet");
        Some(Vec::new())
    } else {
        error!("command \"crm_ticket -q\" exit code {}; {then}", o.code);
        None
    }
}
