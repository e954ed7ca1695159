//! Members coming and going: boots (the daemon's start-up load and
//! start), crashes, pauses and resumes, and the health of their
//! `crm_ticket` and handlers.

use super::*;

impl World {
    /// Starts member `m`'s daemon: a fresh engine that reads the CIB.
    pub fn boot(&mut self, m: usize) {
        if self.up(m) {
            return;
        }
        self.stats.counters.boots += 1;
        self.note(|| format!("boot m{m}"));
        let inc = self.members[m].incarnation + 1;
        self.members[m].incarnation = inc;
        let boots = self.members[m].host_boots;
        self.host_boot_if_pending(m);
        let rebooted = self.members[m].host_boots != boots;
        let backend = if self.is_site(m) {
            World::backend()
        } else {
            crate::cib::writer::Backend::None
        };
        #[allow(unused_mut)]
        let mut core = Core::new(
            self.live_cfg.clone(),
            m,
            mix(self.seed, 100 + m as u64, inc as u64),
            backend,
        );
        #[cfg(feature = "mutations")]
        core.engine_mut().set_mutation(self.mutation);
        let clock = self.clock(m);
        trace::context(self.now, m);
        // What the previous daemon promised, if its record survived (a
        // daemon restart; a host reboot lost it): the daemon's own format.
        if let Some(text) = self.state_file(m).and_then(|b| std::str::from_utf8(b).ok()) {
            core.restore_promises(
                text.lines()
                    .filter_map(crate::daemon::promises::parse)
                    .collect(),
            );
        }
        // Sites load the CIB first (a crm_ticket run, see `cib`); the
        // engine starts when that ends (the geo attributes come with it).
        core.start_loading(clock);
        let ms = &mut self.members[m];
        ms.core = Some(core);
        ms.paused = None;
        ms.booted_at = self.now;
        // After a host reboot the daemon has no record of what it promised
        // and fences itself for up to a lease: it does not count as healthy
        // for availability until then (a known cost, doc/simulator.md).
        let fence = if rebooted {
            self.cfg
                .tickets
                .iter()
                .map(|t| t.expire.as_millis() as u64)
                .max()
                .unwrap_or(0)
        } else {
            0
        };
        self.health.member[m] = self.now + fence;
        self.last_term[m].iter_mut().for_each(|x| *x = 0);
        self.last_state[m].iter_mut().for_each(|x| *x = State::Init);
        self.leader_since[m].iter_mut().for_each(|x| *x = None);
        self.last_lease[m].iter_mut().for_each(|x| *x = None);
        self.refresh_revoke_due(m);
        self.drain(m);
        self.after_call(m);
    }

    /// Kills member `m`'s daemon: its memory is gone, its CIB stays.
    pub fn crash(&mut self, m: usize) {
        if !self.up(m) {
            return;
        }
        self.stats.counters.crashes += 1;
        self.note(|| format!("crash m{m}"));
        self.health.member[m] = self.health.member[m].max(self.now);
        self.harvest_writer(m);
        // Writes that land as the daemon dies land with the lease they were
        // asked for: matched against the requests before those are
        // forgotten (reading the expiry with a wall clock stepped since
        // would move the lease).
        self.kill_runs(m);
        let ms = &mut self.members[m];
        ms.core = None;
        ms.paused = None;
        ms.suspended = false;
        ms.pending.clear();
        ms.waiting.clear();
        ms.inbox_len = 0;
        ms.handlers.clear();
        ms.incarnation += 1;
        for slot in &mut self.members[m].cib {
            slot.desired = None;
            slot.requested.clear();
        }
        self.refresh_revoke_due(m);
        let gone: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.member == m && c.answer.is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            self.finish(id, CLOSED);
        }
    }

    /// Freezes member `m` for `dur` ms.
    pub fn pause(&mut self, m: usize, dur: u64) {
        if !self.running(m) {
            return;
        }
        self.stats.counters.pauses += 1;
        self.note(|| format!("pause m{m} for {dur}ms"));
        self.health.member[m] = self.health.member[m].max(self.now);
        let token = self.token();
        self.members[m].paused = Some(Pause {
            since: self.now,
            token,
        });
        self.schedule(self.now + dur, Ev::Resume { m, token });
    }

    /// Resumes a frozen member now.
    pub fn resume_now(&mut self, m: usize) {
        if let Some(p) = self.members[m].paused {
            self.resume(m, p.token);
        }
    }

    pub(super) fn resume(&mut self, m: usize, token: u64) {
        let Some(p) = self.members[m].paused.filter(|p| p.token == token) else {
            return;
        };
        self.members[m].paused = None;
        self.note(|| format!("resume m{m} (frozen since {})", trace::stamp(p.since)));
        self.health.member[m] = self.health.member[m].max(self.now);
        self.end_suspend(m, p.since);
        let now = self.now as i64;
        // (A daemon still loading its CIB has no engine running yet: its
        // start is its first action.)
        let loading = !self.serving(m);
        let watch: Vec<usize> = (0..self.n_tickets())
            .filter(|&t| !self.is_manual(t) && self.revoke_deadline(m, t).is_some_and(|b| b <= now))
            .filter(|_| !loading)
            .collect();
        self.stats.counters.resumed_expired += watch.len() as u64;
        if !watch.is_empty() {
            self.resume_watch = Some((m, watch));
        }
        let pending = std::mem::take(&mut self.members[m].pending);
        self.members[m].inbox_len = 0;
        // The daemon discards the datagrams it finds queued when it wakes up
        // later than its next deadline (see PAUSE_DISCARD_MS).
        let clock = self.clock(m);
        let late = self.members[m]
            .core
            .as_ref()
            .and_then(|c| c.next_deadline())
            .is_some_and(|d| clock.mono.ms() > d.ms() + crate::daemon::PAUSE_DISCARD_MS);
        for p in pending {
            if !self.up(m) {
                break;
            }
            match p {
                Pending::Msg { from, msg, .. } if late => {
                    self.stats.counters.discarded_after_pause += 1;
                    self.trace_msg(from, m, &msg, "discarded (queued while frozen)");
                }
                Pending::Msg { from, sent, msg } => self.deliver(m, from, sent, msg),
                Pending::HandlerExit { t, run, ok } => {
                    let hs = &mut self.members[m].handlers;
                    if let Some(i) = hs.iter().position(|&h| h == (t, run)) {
                        hs.swap_remove(i);
                        self.handler_exit(m, t, run, ok);
                    }
                }
                Pending::Client(id) => self.submit(id),
                Pending::RunDone(run, o) => self.call(m, |core, c| core.run_finished(c, run, o)),
                Pending::Reload(cfg) => self.reload(m, *cfg),
            }
        }
        if self.resume_watch.as_ref().is_some_and(|(wm, _)| *wm == m) {
            self.call(m, |core, c| core.handle_timeout(c));
        }
        self.resume_watch = None;
        self.check_revokes();
    }

    pub fn set_crm(&mut self, m: usize, slow: bool, failing: bool) {
        if (self.members[m].crm_slow, self.members[m].crm_failing) == (slow, failing) {
            return;
        }
        self.note(|| format!("crm_ticket at m{m}: slow={slow} failing={failing}"));
        self.health.member[m] = self.health.member[m].max(self.now);
        self.members[m].crm_slow = slow;
        self.members[m].crm_failing = failing;
    }

    pub fn set_handler_failing(&mut self, m: usize, failing: bool) {
        if self.members[m].handler_failing == failing {
            return;
        }
        self.note(|| format!("handler at m{m}: failing={failing}"));
        self.health.member[m] = self.health.member[m].max(self.now);
        self.members[m].handler_failing = failing;
    }
}
