//! Start-up (load the tickets' state, then start the engine and open the
//! sockets) and the execution of the engine's and the CIB writer's
//! outputs.

use log::{error, info, warn};
use mio::Interest;

use super::disk::{Done, Stores};
use super::jobs::{Purpose, CRM_TICKET_LIMIT};
use super::{Daemon, Store, TimerKind, TCP, UDP};
use crate::cib;
use crate::cib::writer::{AttrChange, Backend, Outcome, Output as WOut, RunId};
use crate::config::MemberKind;
use crate::daemon::lockfile::DaemonState;
use crate::engine::{CibState, CibWrite, Output};

/// Environment variable naming the `cibadmin` program; empty disables
/// batched renewal writes.
pub const CIBADMIN_ENV: &str = "BOOTH_CIBADMIN";
/// A store's process taking longer is killed (the writer retries the
/// store), like `crm_ticket` runs. At 10,000 tickets on a busy disk a
/// store took 5 s.
const STORE_LIMIT: crate::daemon::timer::Ms = 30_000;
/// crm_ticket writes running at once. Pacemaker serialises CIB updates
/// anyway; a wave of renewals must not become a wave of processes.
const MAX_PARALLEL_CIB_WRITES: usize = 4;

/// The writer's backend for this site's store.
pub(super) fn backend(store: &Store) -> Backend {
    match store {
        Store::Pacemaker(p) => Backend::Pacemaker {
            crm_ticket: p.clone(),
            cibadmin: batch_program(),
            // With CIB_file every crm_ticket rewrites one file without
            // locking: only one may run at a time, or updates are lost.
            max_writers: if std::env::var_os("CIB_file").is_some() {
                1
            } else {
                MAX_PARALLEL_CIB_WRITES
            },
        },
        Store::StateDir(_) => Backend::StateDir,
        Store::None => Backend::None,
    }
}

/// The program for batched renewal writes: `BOOTH_CIBADMIN` if set (empty
/// disables batching), none when `BOOTH_CRM_TICKET` replaces crm_ticket
/// (a wrapper or test double sees every write), else `cibadmin`.
fn batch_program() -> Option<String> {
    match std::env::var(CIBADMIN_ENV) {
        Ok(p) if p.is_empty() => None,
        Ok(p) => Some(p),
        Err(_) if std::env::var_os(crate::daemon::start::CRM_TICKET_ENV).is_some() => None,
        Err(_) => Some(cib::CIBADMIN.to_string()),
    }
}

impl Daemon {
    /// Sites load every ticket's state first (Pacemaker through the
    /// writer's child runs, the state directory at once); the engine
    /// starts when that is done.
    pub(super) fn begin_loading(&mut self) {
        let me_site = self.cfg.members[self.me].kind == MemberKind::Site;
        let names: Vec<String> = self.cfg.tickets.iter().map(|t| t.name.clone()).collect();
        match &self.store {
            Store::Pacemaker(_) if me_site => {
                let now = self.now();
                self.writer.start_loading(now, &names);
            }
            Store::StateDir(sd) => {
                let mut states = Vec::new();
                for n in &names {
                    match sd.load(n) {
                        Ok(st) => {
                            self.writer.note_loaded(n, st.as_ref());
                            states.extend(st.map(|st| (n.clone(), st)));
                        }
                        Err(e) => error!("{n}: cannot read stored state: {e}"),
                    }
                }
                self.start_engine(states);
            }
            _ => self.start_engine(Vec::new()),
        }
        self.drain();
    }

    fn start_engine(&mut self, states: Vec<(String, CibState)>) {
        if self.started {
            return;
        }
        let clock = self.engine_clock();
        for (name, st) in states {
            if let Some(i) = self.engine.ticket_index(&name) {
                self.engine.load_cib(clock, i, &st);
            }
        }
        // What a previous run of this daemon (same boot) promised.
        let origin = self.clock.origin() as i64;
        let mut restored = 0;
        for (name, p) in std::mem::take(&mut self.recorded) {
            if let Some(i) = self.engine.ticket_index(&name) {
                let p = super::promises::shifted(&p, -origin);
                restored += self.engine.restore_promise(i, &p) as usize;
            }
        }
        if restored > 0 {
            info!("took back the promises of the previous run for {restored} ticket(s)");
        }
        self.engine.start(clock);
        let reg = self.poll.registry();
        if let Err(e) = reg
            .register(&mut self.udp, UDP, Interest::READABLE)
            .and_then(|_| reg.register(&mut self.tcp, TCP, Interest::READABLE))
        {
            error!("cannot watch the sockets: {e}");
            self.stop = true;
            return;
        }
        self.started = true;
        if let Some(lock) = self.lock.as_mut() {
            if let Err(e) = lock.write_state(DaemonState::Started) {
                warn!("cannot update the lock file: {e}");
            }
        }
        let m = &self.cfg.members[self.me];
        info!(
            "BOOTH {} daemon started, node id is 0x{:08X} ({}).",
            m.kind.as_str(),
            m.site_id,
            m.site_id
        );
        if let Some(f) = self.on_ready.take() {
            f();
        }
        // Datagrams and connections may have queued while we loaded.
        self.udp_more = true;
        self.accept_more = true;
    }

    pub(super) fn engine_output(&mut self, o: Output) {
        match o {
            Output::Send { to, msg, resend } => self.send_udp(to, &msg, resend),
            Output::WriteCib(w) => {
                // The name is looked up now, before anything can reload:
                // a ticket the engine no longer has is a removed one.
                let id = self.engine.ticket_id_by_name(&w.ticket);
                let now = self.now();
                self.writer.submit(now, id, w);
            }
            Output::RunHandler {
                ticket,
                run,
                argv,
                env,
            } => self.run_handler(ticket, run, argv, env),
            Output::StopHandler { ticket, run } => self.stop_handler(ticket, run),
            Output::ClientReply { client, msg, last } => self.engine_reply(client, &msg, last),
            Output::StoreAttr {
                ticket,
                name,
                value,
            } => self.store_attr(ticket, name, value),
        }
    }

    pub(super) fn writer_output(&mut self, o: WOut<super::HeldReply>) {
        match o {
            WOut::Spawn {
                run,
                program,
                argv,
                stdout_limit,
            } => self.spawn(
                &program,
                argv,
                Vec::new(),
                Purpose::Writer(run),
                CRM_TICKET_LIMIT,
                stdout_limit,
            ),
            WOut::Store { run, writes, attrs } => self.store_batch(run, writes, attrs),
            WOut::Confirmed { ticket, write } => {
                if let Some(id) = ticket {
                    let c = self.engine_clock();
                    self.engine.handle_cib_written(c, id, write.granted);
                } else if self.engine.ticket_id_by_name(&write.ticket).is_none() {
                    info!(
                        "{}: {} in the CIB (no longer configured)",
                        write.ticket,
                        if write.granted { "granted" } else { "revoked" }
                    );
                }
            }
            WOut::Release(r) => self.send_reply(r),
            WOut::Loaded(states) => {
                self.start_engine(states);
            }
        }
    }

    /// Writes a batch of ticket states to the state directory: every file
    /// staged, one sync of the file system for all of them, then each put
    /// in place and the directory synced once. A child process does it
    /// (disk.rs); the loop hears of the end through SIGCHLD and
    /// [`Daemon::reap_stores`].
    fn store_batch(&mut self, run: RunId, writes: Vec<CibWrite>, attrs: Vec<AttrChange>) {
        let Store::StateDir(sd) = &self.store else {
            return;
        };
        let stores = self.stores.get_or_insert_with(|| Stores::new(sd.clone()));
        // Stores done on the loop: no process could be started.
        for d in stores.submit(run, writes, attrs) {
            self.stored(d);
        }
        self.arm_store_timer();
    }

    /// Reports the stores whose processes ended, and starts the next.
    pub(super) fn reap_stores(&mut self) {
        let Some(stores) = self.stores.as_mut() else {
            return;
        };
        let done = stores.reap();
        self.arm_store_timer();
        for d in done {
            self.stored(d);
        }
    }

    /// A store's process past its time limit: kill it (reaped as usual).
    pub(super) fn store_deadline(&mut self, serial: u64) {
        if self.store_timer.is_some_and(|(_, s)| s == serial) {
            self.store_timer = None;
        }
        if let Some(stores) = self.stores.as_mut() {
            if stores.running() == Some(serial) {
                warn!("the store of the tickets' state takes too long, killing it");
                stores.kill(serial);
            }
        }
    }

    /// Keeps one time limit, for the store's process running now.
    fn arm_store_timer(&mut self) {
        let running = self.stores.as_ref().and_then(|s| s.running());
        if self.store_timer.map(|(_, s)| s) == running {
            return;
        }
        if let Some((id, _)) = self.store_timer.take() {
            self.timers.cancel(id);
        }
        if let Some(serial) = running {
            let at = self.now_ms() + STORE_LIMIT;
            let id = self.timers.insert(at, TimerKind::StoreDeadline(serial));
            self.store_timer = Some((id, serial));
        }
    }

    fn stored(&mut self, d: Done) {
        let o = match d.result {
            Ok(()) => Outcome::success(),
            Err(e) => {
                // Ticket states are retried by the writer; attribute
                // changes are not (as with crm_ticket's last attempt).
                error!(
                    "cannot store the state of {} tickets and {} attribute changes: {e}",
                    d.tickets, d.attrs
                );
                Outcome::failure(1)
            }
        };
        let now = self.now();
        self.writer.finished(now, d.run, o);
    }
}
