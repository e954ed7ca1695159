//! The state directory's stores, off the event loop.
//!
//! A store stages one file per ticket touched, syncs the file system once,
//! renames the files into place and syncs the directory. At 10,000 tickets,
//! or on a disk busy with a neighbour's writes, that takes seconds, during
//! which a loop doing it would answer nobody and renew nothing. One thread
//! of its own does the stores, one at a time in the order they are given
//! (the CIB writer never starts a store before the previous one is
//! reported), and wakes the loop through a [`Waker`] when one is done. The
//! files, the order of their operations and so the crash guarantees are
//! those of the loop doing it itself.
//!
//! The thread touches nothing but the state directory: no logging, no
//! engine, no sockets. The loop reports each outcome to the writer.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use mio::{Registry, Token, Waker};

use crate::cib::writer::{AttrChange, RunId};
use crate::cib::{self, StateDir};
use crate::engine::CibWrite;

/// The store thread's stack.
const STACK: usize = 256 * 1024;

struct Job {
    run: RunId,
    writes: Vec<CibWrite>,
    attrs: Vec<AttrChange>,
}

/// A finished store: its run, what it held, and the error if it failed.
pub(super) struct Done {
    pub run: RunId,
    pub tickets: usize,
    pub attrs: usize,
    pub result: Result<(), String>,
}

pub(super) struct DiskWorker {
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
}

impl DiskWorker {
    /// Starts the thread storing into `sd`; it wakes `registry`'s poll
    /// with `token` after each store.
    pub(super) fn start(sd: StateDir, registry: &Registry, token: Token) -> io::Result<DiskWorker> {
        let waker = Waker::new(registry, token)?;
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("boothd-store".into())
            // Its stack is locked like all memory (mlockall MCL_FUTURE):
            // file names and a map of the batch need little of it.
            .stack_size(STACK)
            .spawn(move || {
                for job in job_rx {
                    let result =
                        write_batch(&sd, &job.writes, &job.attrs).map_err(|e| e.to_string());
                    let d = Done {
                        run: job.run,
                        tickets: job.writes.len(),
                        attrs: job.attrs.len(),
                        result,
                    };
                    if done_tx.send(d).is_err() {
                        return;
                    }
                    // A failed wake leaves the outcome queued until the
                    // loop's next turn; nothing better can be done here.
                    let _ = waker.wake();
                }
            })?;
        Ok(DiskWorker {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }

    /// Hands a store to the thread; gives it back if the thread is gone.
    pub(super) fn submit(
        &self,
        run: RunId,
        writes: Vec<CibWrite>,
        attrs: Vec<AttrChange>,
    ) -> Result<(), (Vec<CibWrite>, Vec<AttrChange>)> {
        let Some(tx) = &self.jobs else {
            return Err((writes, attrs));
        };
        tx.send(Job { run, writes, attrs })
            .map_err(|mpsc::SendError(j)| (j.writes, j.attrs))
    }

    /// The stores finished since the last call, in order.
    pub(super) fn finished(&self) -> Vec<Done> {
        self.done.try_iter().collect()
    }

    /// Lets a store under way complete (at exit): a reply held for it may
    /// already be on its way, and a clean exit should not look like a
    /// crash to the next start.
    pub(super) fn finish(mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One staged file per ticket touched, its state write and attribute
/// changes (in order) merged.
pub(super) fn write_batch(
    sd: &StateDir,
    writes: &[CibWrite],
    attrs: &[AttrChange],
) -> io::Result<()> {
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
fn sync_file_system(dir: &std::fs::File, staged: &[cib::Staged]) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::time::Duration;

    fn write(ticket: &str, expires: i64) -> CibWrite {
        CibWrite {
            ticket: ticket.into(),
            granted: true,
            owner: 7,
            expires,
            term: 3,
        }
    }

    #[test]
    fn stores_in_order_off_the_calling_thread_and_wakes_the_poll() {
        let dir = std::env::temp_dir().join(format!("booth-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sd = StateDir::new(&dir).unwrap();
        let mut poll = Poll::new().unwrap();
        let w = DiskWorker::start(sd.clone(), poll.registry(), Token(3)).unwrap();
        let caller = std::thread::current().id();
        assert!(w
            .submit(RunId(1), vec![write("a", 100), write("b", 100)], vec![])
            .is_ok());
        assert!(w.submit(RunId(2), vec![write("a", 200)], vec![]).is_ok());
        let mut got = Vec::new();
        let mut events = Events::with_capacity(4);
        while got.len() < 2 {
            poll.poll(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(
                events.iter().any(|e| e.token() == Token(3)),
                "no wake-up within 10 s"
            );
            got.extend(w.finished());
        }
        assert_eq!(std::thread::current().id(), caller);
        let runs: Vec<u64> = got.iter().map(|d| d.run.0).collect();
        assert_eq!(runs, [1, 2]);
        assert!(got.iter().all(|d| d.result.is_ok()));
        assert_eq!((got[0].tickets, got[0].attrs), (2, 0));
        // The later store of a is the one in place.
        assert_eq!(sd.load("a").unwrap().unwrap().expires, Some(200));
        assert_eq!(sd.load("b").unwrap().unwrap().expires, Some(100));
        w.finish();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
