//! Start-up (load the tickets' state, then start the engine and open the
//! sockets) and the execution of the core's outputs.

use log::{debug, error, info, warn};
use mio::Interest;

use super::disk::{Done, Stores};
use super::jobs::Purpose;
use super::{Daemon, Store, TimerKind, TCP, UDP};
use crate::cib;
use crate::cib::writer::{AttrChange, Backend, Outcome, RunId};
use crate::config::MemberKind;
use crate::core::Output as CoreOut;
use crate::daemon::lockfile::DaemonState;
use crate::engine::{CibState, CibWrite};

/// Environment variable naming the `cibadmin` program; empty disables
/// batched renewal writes.
pub const CIBADMIN_ENV: &str = "BOOTH_CIBADMIN";
/// A store's process taking longer is killed (the writer retries the
/// store), like `crm_ticket` runs. At 10,000 tickets on a busy disk a
/// store took 5 s.
pub(super) const STORE_LIMIT: crate::daemon::timer::Ms = 30_000;
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
    /// What the state directory holds for `tickets` at a site (none
    /// elsewhere): tickets a reload adds start from it, as at start-up.
    /// (Read on the loop, as the configuration file is: a few small local
    /// files; the stores that may take seconds run in a child.)
    pub(super) fn stored_states(&self, tickets: &[String]) -> Vec<(String, CibState)> {
        let mut loaded = Vec::new();
        if let Store::StateDir(sd) = &self.store {
            if self.cfg.members[self.me].kind == MemberKind::Site {
                for (name, st) in sd.load_all(tickets.iter().map(|t| t.as_str())) {
                    match st {
                        Ok(st) => loaded.extend(st.map(|st| (name.to_string(), st))),
                        Err(e) => error!("{name}: cannot read stored state: {e}"),
                    }
                }
            }
        }
        loaded
    }

    /// Sites load every ticket's state first (Pacemaker through the
    /// writer's child runs, the state directory at once); the engine
    /// starts when that is done ([`CoreOut::Started`]).
    pub(super) fn begin_loading(&mut self) {
        let clock = self.engine_clock();
        match &self.store {
            Store::StateDir(sd) if self.cfg.members[self.me].kind == MemberKind::Site => {
                let mut loaded = Vec::new();
                for (name, st) in sd.load_all(self.cfg.tickets.iter().map(|t| &*t.name)) {
                    match st {
                        Ok(st) => loaded.push((name.to_string(), st)),
                        Err(e) => error!("{name}: cannot read stored state: {e}"),
                    }
                }
                self.core.start(clock, loaded);
            }
            _ => self.core.start_loading(clock),
        }
        self.drain();
    }

    /// The engine started: open for peers and clients.
    fn started(&mut self) {
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

    /// The CIB cannot be read at start-up. The C booth starts anyway (as if
    /// no ticket were granted here); this daemon keeps trying and stays
    /// silent until it knows what the CIB holds, but it runs: the command
    /// that started it returns 0, as the C binaries' does (a start script
    /// must not wait for Pacemaker), after saying so on its stderr.
    pub(super) fn running_without_cib(&mut self) {
        warn!(
            "cannot read the CIB (is Pacemaker running?): the daemon runs on and \
             keeps trying; it answers clients and peers once every ticket's state is read"
        );
        if let Some(f) = self.on_ready.take() {
            f();
        }
    }

    pub(super) fn core_output(&mut self, o: CoreOut) {
        match o {
            CoreOut::Record(changes) => self.record_promises(changes),
            CoreOut::Send { to, msg, resend } => self.send_udp(to, &msg, resend),
            CoreOut::ClientReply { client, msg, last } => self.engine_reply(client, &msg, last),
            CoreOut::Spawn {
                run,
                program,
                argv,
                stdout_limit,
                limit_ms,
            } => self.spawn(
                &program,
                argv,
                Vec::new(),
                Purpose::Writer(run),
                limit_ms,
                stdout_limit,
            ),
            CoreOut::Store { run, writes, attrs } => self.store_batch(run, writes, attrs),
            CoreOut::RunHandler {
                ticket,
                run,
                argv,
                env,
            } => self.run_handler(ticket, run, argv, env),
            CoreOut::StopHandler { ticket, run } => self.stop_handler(ticket, run),
            CoreOut::StoreAttr {
                ticket,
                name,
                value,
            } => self.store_attr_pacemaker(ticket, name, value, 1),
            CoreOut::Submitted(w) => debug!(
                "{}: CIB write wanted (granted={}, expires={}, term={})",
                w.ticket, w.granted, w.expires, w.term
            ),
            CoreOut::Started => self.started(),
            CoreOut::Reloaded(r) => self.reloaded(r),
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
        let c = self.engine_clock();
        self.core.run_finished(c, d.run, o);
    }
}
