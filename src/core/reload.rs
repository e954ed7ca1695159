//! Reloads: a re-read configuration applied now, after the start-up
//! load, or once the CIB states of the tickets it adds are read.

use std::collections::BTreeSet;

use crate::cib::writer::Reload;
use crate::config::Config;
use crate::engine::{CibState, Clock, HandlerRun, TicketId};

use super::{Core, Kind, Output, Reloaded};

/// See `Core::adding`.
pub(super) struct Adding {
    pub(super) cfg: Config,
    /// The tickets it adds, and those of them whose state is not read yet.
    added: BTreeSet<String>,
    waiting: BTreeSet<String>,
    states: Vec<(String, CibState)>,
    /// `geostore` changes of added tickets meanwhile (ticket, name,
    /// value; None: delete), answered as done: applied after the states
    /// read, as the newer word. (Lost, as on any unconfigured ticket, if
    /// a newer reload drops the ticket before it starts.)
    attrs: Vec<(String, String, Option<String>)>,
}

impl Core {
    /// Applies a re-read configuration now, after the start-up load
    /// ([`Reloaded::Deferred`]) or once the tickets it adds are read from
    /// the CIB ([`Reloaded::Reading`]), both reported later with
    /// [`Output::Reloaded`], or refuses it.
    pub fn reload(&mut self, clock: Clock, new: Config) -> Reloaded {
        self.reload_stored(clock, new, Vec::new())
    }

    /// [`Core::reload`] at a site keeping its tickets in a state
    /// directory: `stored` holds what the directory has for the tickets
    /// the configuration adds ([`Core::added_by`]), read by the driver as
    /// at start-up.
    pub fn reload_stored(
        &mut self,
        clock: Clock,
        new: Config,
        stored: Vec<(String, CibState)>,
    ) -> Reloaded {
        self.advance(clock);
        // Whatever becomes of the reload, the engine has seen the time.
        self.engine.see_time(clock);
        // Refused before anything waits: the operator hears it now.
        if let Err(e) = self.engine.check_reconfigure(&new) {
            return Reloaded::Rejected(e);
        }
        if self.writer.reload(self.now(), &Self::names(&new)) == Reload::Deferred {
            self.deferred = Some((new, stored));
            return Reloaded::Deferred;
        }
        self.apply(new, stored)
    }

    /// The names of the tickets `cfg` configures that run nowhere here.
    pub fn added_by(&self, cfg: &Config) -> Vec<String> {
        cfg.tickets
            .iter()
            .filter(|t| self.engine.ticket_index(&t.name).is_none())
            .map(|t| t.name.to_string())
            .collect()
    }

    /// The writer agreed to the reload: the engine decides, at a
    /// Pacemaker site once the added tickets' CIB states are read.
    pub(super) fn apply(&mut self, new: Config, stored: Vec<(String, CibState)>) -> Reloaded {
        let added = self.added_by(&new);
        if self.engine.is_site() && self.backend_kind == Kind::Pacemaker && !added.is_empty() {
            // Read again, also a name an earlier waiting reload asked
            // for: the newest reload waits for answers to its own reads.
            self.writer.load_added(self.now(), &added);
            // (Extended, not collected: collecting into a B-tree sorts,
            // and each sort is another 4 kB of locked code, sort.rs.)
            let mut waiting = BTreeSet::new();
            waiting.extend(added);
            let added = waiting.clone();
            // Changes kept for a reload this one replaces stay, for the
            // tickets it adds too.
            let mut attrs = self.adding.take().map(|a| a.attrs).unwrap_or_default();
            attrs.retain(|(t, _, _)| waiting.contains(t));
            self.adding = Some(Adding {
                cfg: new,
                added,
                waiting,
                states: Vec::new(),
                attrs,
            });
            return Reloaded::Reading;
        }
        self.adding = None;
        self.apply_loaded(new, stored)
    }

    /// Applies a reload whose added tickets' stored states are `loaded`
    /// (tickets with no state are absent).
    fn apply_loaded(&mut self, new: Config, loaded: Vec<(String, CibState)>) -> Reloaded {
        let added = self.added_by(&new);
        match self.engine.reconfigure_loaded(self.clock, new, &loaded) {
            Ok(()) => {
                self.stop_orphan_handlers();
                let loaded: std::collections::HashMap<&str, &CibState> =
                    loaded.iter().map(|(n, s)| (n.as_str(), s)).collect();
                for name in added {
                    let st = loaded.get(name.as_str()).copied();
                    // The configuration's copy of the name: the writer
                    // keeps it.
                    if let Some(i) = self.engine.ticket_index(&name) {
                        let key = self.config().tickets[i.index()].name.clone();
                        self.writer.note_loaded(key, st);
                    }
                }
                Reloaded::Applied
            }
            Err(e) => {
                let names = Self::names(self.config());
                self.writer.reload(self.now(), &names);
                Reloaded::Rejected(e)
            }
        }
    }

    /// The `geostore` changes kept while the tickets were read, in order.
    fn apply_held_attrs(&mut self, attrs: Vec<(String, String, Option<String>)>) {
        let clock = self.clock;
        for (ticket, name, v) in attrs {
            let _ = match v {
                Some(v) => self.engine.attr_set(clock, &ticket, &name, &v),
                None => self.engine.attr_delete(clock, &ticket, &name),
            };
        }
    }

    /// Handler runs of tickets a reload removed: their results would be
    /// ignored.
    fn stop_orphan_handlers(&mut self) {
        let gone: Vec<(TicketId, HandlerRun)> = self
            .handlers
            .iter()
            .filter(|(id, _)| self.engine.ticket_by_id(*id).is_none())
            .copied()
            .collect();
        for (ticket, run) in gone {
            self.handlers.remove(&(ticket, run));
            self.out.push_back(Output::StopHandler { ticket, run });
        }
    }

    /// A `geostore` change of a ticket a waiting reload adds: kept for the
    /// ticket's start (see `Adding::attrs`). True when kept.
    pub(super) fn hold_attr(&mut self, ticket: &str, name: &str, v: Option<&str>) -> bool {
        // (Any ticket the reload adds: one already read still waits for
        // the others; simulator seed 2804.)
        let Some(a) = self.adding.as_mut().filter(|a| a.added.contains(ticket)) else {
            return false;
        };
        a.attrs
            .push((ticket.into(), name.into(), v.map(str::to_string)));
        true
    }

    /// The CIB state of a ticket a waiting reload adds (None: nothing, or
    /// it could not be read); the last of them applies the reload.
    pub(super) fn added_loaded(&mut self, name: String, st: Option<CibState>) {
        if let Some(a) = self.adding.as_mut().filter(|a| a.waiting.contains(&name)) {
            a.waiting.remove(&name);
            if let Some(st) = st {
                a.states.push((name, st));
            }
            if a.waiting.is_empty() {
                let a = self.adding.take().expect("waiting");
                let r = self.apply_loaded(a.cfg, a.states);
                if r == Reloaded::Applied {
                    self.apply_held_attrs(a.attrs);
                }
                self.out.push_back(Output::Reloaded(r));
            }
        }
        // Otherwise an answer to a reload a newer one replaced, which
        // reads its added tickets again.
    }
}
