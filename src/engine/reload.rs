//! A re-read configuration (SIGHUP) applied to a running engine.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::ticket::{Leader, Ticket};
use super::{
    id_index, name_index, CibState, CibWrite, Clock, Engine, Output, Promise, TicketId, Tickets,
    Tix,
};
use crate::config::Config;

impl Engine {
    /// Applies a re-read configuration (SIGHUP) without dropping held
    /// tickets: tickets keep their state, new ones start with a state query,
    /// removed ones are forgotten after a CIB revoke if held here, all but
    /// their promises (votes, acknowledged leases, a fence), which a ticket
    /// added back under the same name takes back as after a restart: the
    /// holder's revoke may still be failing and the leases its peers
    /// acknowledged still run (simulator seed 9972). Timings change from
    /// the next renewal on. The member list cannot change while
    /// running (indices and site ids are baked into every ticket's state):
    /// such a configuration is refused and the old one stays in force.
    pub fn reconfigure(&mut self, clock: Clock, cfg: Config) -> Result<(), String> {
        self.reconfigure_loaded(clock, cfg, &[])
    }

    /// Why [`Engine::reconfigure`] would refuse `cfg`, if it would.
    pub fn check_reconfigure(&self, cfg: &Config) -> Result<(), String> {
        if cfg.members != self.cfg.members {
            return Err("the member list changed; restart the daemon to apply it".into());
        }
        if cfg.subsecond_times != self.cfg.subsecond_times {
            return Err(
                "the time unit on the wire changed (sub-second times); restart all members".into(),
            );
        }
        Ok(())
    }

    /// [`Engine::reconfigure`] with the CIB states read for the tickets it
    /// adds (a site): each added ticket starts from its state, as one
    /// loaded with [`Engine::load_cib`] before the start does.
    pub fn reconfigure_loaded(
        &mut self,
        clock: Clock,
        cfg: Config,
        loaded: &[(String, CibState)],
    ) -> Result<(), String> {
        self.advance(clock);
        self.check_reconfigure(&cfg)?;
        // By name (a reload may add 10,000 tickets).
        let loaded: HashMap<&str, &CibState> = loaded.iter().map(|(n, s)| (&**n, s)).collect();
        // What was promised for the tickets that go, kept for their return.
        // (Names looked up in a set: a reload of 10,000 tickets compared
        // every pair of names, 0.4 s on the loop.)
        let forget = mutated!(self, ForgetRemovedPromises);
        let configured: HashSet<&str> = cfg.tickets.iter().map(|t| &*t.name).collect();
        for i in self.tickets.ids() {
            let name = &self.tickets[i].cfg.name;
            if !forget && !configured.contains(&**name) {
                let p = self.promise_of(i);
                self.removed.insert(name.to_string(), p);
            }
        }
        let old: Tickets<Ticket> = std::mem::take(&mut self.tickets);
        for tk in &old {
            if let Some(at) = tk.indexed_cron {
                self.crons.remove(&(at, tk.idx));
            }
        }
        self.handler_exited.clear();
        let old_ids = std::mem::take(&mut self.ids);
        let mut old: HashMap<Arc<str>, (Ticket, TicketId)> = old
            .into_iter()
            .zip(old_ids)
            .map(|(t, id)| (t.cfg.name.clone(), (t, id)))
            .collect();
        let mut added = vec![false; cfg.tickets.len()];
        for (n, tc) in cfg.tickets.iter().enumerate() {
            let i = Tix::at(n);
            match old.remove(&tc.name) {
                Some((tk, id)) => {
                    let mut tk = tk;
                    tk.idx = i;
                    tk.cfg = tc.clone();
                    tk.indexed_cron = None;
                    self.tickets.push(tk);
                    self.ids.push(id);
                }
                None => {
                    self.tickets
                        .push(Ticket::new(i, tc.clone(), self.n_members()));
                    self.ids.push(TicketId(self.next_id));
                    self.next_id += 1;
                    added[n] = true;
                    // As at start-up: the CIB state, then the promises.
                    if let Some(st) = loaded.get(&*tc.name) {
                        self.apply_cib_state(i, st);
                    }
                    if let Some(p) = self.removed.remove(&*tc.name) {
                        // The members are those the promises name (a
                        // changed list was refused above).
                        self.restore_promise(i, &p);
                    }
                }
            }
        }
        self.by_id = id_index(&self.ids);
        self.by_name = name_index(&cfg);
        self.cfg = cfg.into();
        let mut gone_tickets: Vec<Ticket> = old.into_values().map(|(t, _)| t).collect();
        crate::sort::by_key(&mut gone_tickets, |t| t.idx);
        for mut gone in gone_tickets {
            if gone.cib.granted && self.is_site() {
                // A ticket booth no longer manages must not stay granted here.
                tk_warn!(gone, "removed from the configuration, revoking here");
                gone.leader = Leader::Unknown;
                self.emit(Output::WriteCib(CibWrite {
                    ticket: gone.cfg.name.clone(),
                    granted: false,
                    owner: 0,
                    expires: clock.wall_ms.div_euclid(1000),
                    term: gone.current_term,
                }));
            }
            for w in std::mem::take(&mut gone.waiters) {
                let mut msg = crate::wire::TicketMsg::default();
                msg.header.cmd = crate::wire::codes::CL_RESULT;
                msg.header.result = crate::wire::codes::RLT_INVALID_ARG;
                self.emit(Output::ClientReply {
                    client: w.client,
                    msg,
                    last: true,
                });
            }
        }
        let mut queries = 0;
        for (i, added) in self.tickets.ids().zip(added) {
            if added && self.started {
                self.setup_ticket(i, queries < super::cron::QUERIES_PER_TURN);
                queries += 1;
            }
            self.reindex(i);
        }
        Ok(())
    }

    /// The promises a previous run recorded for a ticket that is not
    /// configured now: kept for a reload that adds it back (before
    /// [`Engine::start`], like [`Engine::restore_promise`]).
    pub fn remember_removed(&mut self, name: &str, p: Promise) {
        if !mutated!(self, ForgetRemovedPromises) {
            self.removed.insert(name.to_string(), p);
        }
    }
}
