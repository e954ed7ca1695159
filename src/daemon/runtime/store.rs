//! Start-up (load the tickets' state, then start the engine and open the
//! sockets) and the execution of the core's outputs.

use log::{debug, error, info, warn};
use mio::Interest;

use super::jobs::Purpose;
use super::{Daemon, Store, TCP, UDP};
use crate::cib::writer::{AttrChange, Backend, Outcome, RunId};
use crate::cib::{self, StateDir};
use crate::config::MemberKind;
use crate::core::Output as CoreOut;
use crate::daemon::lockfile::DaemonState;
use crate::engine::CibWrite;

/// Environment variable naming the `cibadmin` program; empty disables
/// batched renewal writes.
pub const CIBADMIN_ENV: &str = "BOOTH_CIBADMIN";
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
    /// starts when that is done ([`CoreOut::Started`]).
    pub(super) fn begin_loading(&mut self) {
        let clock = self.engine_clock();
        match &self.store {
            Store::StateDir(sd) if self.cfg.members[self.me].kind == MemberKind::Site => {
                let mut loaded = Vec::new();
                for t in &self.cfg.tickets {
                    match sd.load(&t.name) {
                        Ok(st) => loaded.push((t.name.clone(), st)),
                        Err(e) => error!("{}: cannot read stored state: {e}", t.name),
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
            CoreOut::Store { run, writes, attrs } => self.store_batch(run, &writes, &attrs),
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
    /// in place and the directory synced once.
    fn store_batch(&mut self, run: RunId, writes: &[CibWrite], attrs: &[AttrChange]) {
        let Store::StateDir(sd) = &self.store else {
            return;
        };
        let ok = match write_batch(sd, writes, attrs) {
            Ok(()) => true,
            Err(e) => {
                // Ticket states are retried by the writer; attribute
                // changes are not (as with crm_ticket's last attempt).
                error!(
                    "cannot store the state of {} tickets and {} attribute changes: {e}",
                    writes.len(),
                    attrs.len()
                );
                false
            }
        };
        let o = if ok {
            Outcome::success()
        } else {
            Outcome::failure(1)
        };
        let c = self.engine_clock();
        self.core.run_finished(c, run, o);
    }
}

/// One staged file per ticket touched, its state write and attribute
/// changes (in order) merged.
fn write_batch(sd: &StateDir, writes: &[CibWrite], attrs: &[AttrChange]) -> std::io::Result<()> {
    use std::collections::BTreeMap;
    type Changes<'a> = (Option<&'a CibWrite>, Vec<(&'a str, Option<&'a str>)>);
    let mut per: BTreeMap<&str, Changes> = BTreeMap::new();
    for w in writes {
        per.entry(&w.ticket).or_default().0 = Some(w);
    }
    for a in attrs {
        let e = per.entry(&a.ticket).or_default();
        e.1.push((&a.name, a.value.as_deref()));
    }
    let mut staged = Vec::with_capacity(per.len());
    for (t, (w, changes)) in per {
        staged.push(sd.stage(t, w, &changes)?);
    }
    sync_file_system(&sd.open_dir()?, &staged)?;
    sd.commit(staged)
}

/// Makes the staged files durable: one syncfs(2) of the directory's file
/// system; where that fails, one fsync per file.
fn sync_file_system(dir: &std::fs::File, staged: &[cib::Staged]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: syncfs(2) on a descriptor we own and keep open for the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        return Ok(());
    }
    for s in staged {
        std::fs::File::open(&s.tmp)?.sync_all()?;
    }
    Ok(())
}
