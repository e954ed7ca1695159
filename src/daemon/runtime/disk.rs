//! The state directory's stores, in a child process.
//!
//! A store stages one file per ticket touched, syncs the file system once,
//! renames the files into place and syncs the directory. At 10,000 tickets,
//! or on a disk busy with a neighbour's writes, that takes seconds, during
//! which a loop doing it would answer nobody and renew nothing. So the loop
//! forks a child for each store: the child does the store with the same
//! functions, files and order as the loop doing it itself (so the same
//! crash guarantees: a store killed half-way is a crash half-way), and
//! `_exit`s; the text of an error comes back on a pipe. The loop hears of
//! the end through SIGCHLD and reaps the child without waiting. The daemon
//! stays one thread.
//!
//! Stores run one at a time, in the order they are given: the CIB writer
//! never starts a store before the previous one is reported, and
//! [`Stores`] queues one that comes anyway. Where no child can be forked,
//! the store is done on the loop, as the loop would.
//!
//! The child touches nothing but the state directory: no logging, no
//! engine, no sockets (it closes every descriptor it inherited).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;

use log::error;
use mio::unix::pipe::{Receiver, Sender};

use crate::cib::writer::{AttrChange, RunId};
use crate::cib::{self, StateDir};
use crate::engine::CibWrite;

/// Bytes of an error's text the child sends back.
const MAX_ERROR: usize = 1024;
/// The child's exit codes besides 0: the store failed (its error is on the
/// pipe), or the code panicked.
const FAILED: i32 = 1;
const PANICKED: i32 = 2;

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

/// The child doing a store.
struct Running {
    pid: libc::pid_t,
    /// Counts the children started, so that a time limit set for one is
    /// never applied to the next.
    serial: u64,
    run: RunId,
    tickets: usize,
    attrs: usize,
    /// The read end of the pipe the child writes its error on.
    errors: Receiver,
    killed: bool,
}

pub(super) struct Stores {
    sd: StateDir,
    running: Option<Running>,
    queue: VecDeque<Job>,
    started: u64,
}

impl Stores {
    pub(super) fn new(sd: StateDir) -> Stores {
        Stores {
            sd,
            running: None,
            queue: VecDeque::new(),
            started: 0,
        }
    }

    /// Queues a store and starts it unless one runs. Stores that had to
    /// be done on the loop (no child could be forked) are returned.
    pub(super) fn submit(
        &mut self,
        run: RunId,
        writes: Vec<CibWrite>,
        attrs: Vec<AttrChange>,
    ) -> Vec<Done> {
        self.queue.push_back(Job { run, writes, attrs });
        self.start_next()
    }

    /// The child running now, by serial number.
    pub(super) fn running(&self) -> Option<u64> {
        self.running.as_ref().map(|r| r.serial)
    }

    /// Kills the child `serial` if it still runs (its time limit passed);
    /// it is reaped as usual and its store reported failed.
    pub(super) fn kill(&mut self, serial: u64) {
        if let Some(r) = self.running.as_mut().filter(|r| r.serial == serial) {
            r.killed = true;
            // SAFETY: kill(2) takes integers only. The child is not reaped
            // yet, so its pid cannot have been reused.
            unsafe { libc::kill(r.pid, libc::SIGKILL) };
        }
    }

    /// The stores finished since the last call, in order, without waiting;
    /// the next queued store is started.
    pub(super) fn reap(&mut self) -> Vec<Done> {
        let Some(r) = self.running.as_ref() else {
            return Vec::new();
        };
        let Some(status) = wait(r.pid, false) else {
            return Vec::new();
        };
        let r = self.running.take().expect("running");
        let mut done = vec![ended(r, status)];
        done.extend(self.start_next());
        done
    }

    /// Lets a store under way complete (at exit), and those queued: a
    /// reply held for one may already be on its way, and a clean exit
    /// should not look like a crash to the next start.
    /// A store hung longer than `limit` is killed: the daemon must exit.
    pub(super) fn finish(mut self, limit: std::time::Duration) {
        if let Some(r) = self.running.take() {
            let t0 = std::time::Instant::now();
            while wait(r.pid, false).is_none() {
                if t0.elapsed() >= limit {
                    error!("the store under way took longer than {limit:?}: killed");
                    // SAFETY: kill(2) takes integers only; the child is not
                    // reaped yet, so its pid cannot have been reused.
                    unsafe { libc::kill(r.pid, libc::SIGKILL) };
                    wait(r.pid, true);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        for j in self.queue.drain(..) {
            let _ = write_batch(&self.sd, &j.writes, &j.attrs);
        }
    }

    fn start_next(&mut self) -> Vec<Done> {
        let mut inline = Vec::new();
        while self.running.is_none() {
            let Some(job) = self.queue.pop_front() else {
                break;
            };
            match fork_store(&self.sd, &job) {
                Ok((pid, errors)) => {
                    self.started += 1;
                    self.running = Some(Running {
                        pid,
                        serial: self.started,
                        run: job.run,
                        tickets: job.writes.len(),
                        attrs: job.attrs.len(),
                        errors,
                        killed: false,
                    });
                }
                Err(e) => {
                    error!("cannot start a process for the store: {e}; storing on the loop");
                    let result =
                        write_batch(&self.sd, &job.writes, &job.attrs).map_err(|e| e.to_string());
                    inline.push(Done {
                        run: job.run,
                        tickets: job.writes.len(),
                        attrs: job.attrs.len(),
                        result,
                    });
                }
            }
        }
        inline
    }
}

/// A reaped child's store, with what its status and pipe say.
fn ended(mut r: Running, status: Result<libc::c_int, io::Error>) -> Done {
    let mut text = Vec::new();
    let _ = (&mut r.errors)
        .take(MAX_ERROR as u64)
        .read_to_end(&mut text);
    let result = match status {
        _ if r.killed => Err("took too long, killed".to_string()),
        Err(e) => Err(format!("the store's process is lost: {e}")),
        Ok(s) if libc::WIFEXITED(s) => match libc::WEXITSTATUS(s) {
            0 => Ok(()),
            FAILED if !text.is_empty() => Err(String::from_utf8_lossy(&text).into_owned()),
            PANICKED => Err("the store's process panicked".to_string()),
            c => Err(format!("the store's process failed (exit code {c})")),
        },
        Ok(s) => Err(format!(
            "the store's process ended by signal {}",
            libc::WTERMSIG(s)
        )),
    };
    Done {
        run: r.run,
        tickets: r.tickets,
        attrs: r.attrs,
        result,
    }
}

/// The exit status of `pid` once it has ended (None while it runs, unless
/// `block`), or the error of waitpid(2).
fn wait(pid: libc::pid_t, block: bool) -> Option<Result<libc::c_int, io::Error>> {
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) writes one int through a valid pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, flags) };
        match rc {
            0 => return None,
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Some(Err(e));
            }
            _ => return Some(Ok(status)),
        }
    }
}

/// Forks the child doing `job`; returns its pid and the pipe its error
/// comes on.
fn fork_store(sd: &StateDir, job: &Job) -> io::Result<(libc::pid_t, Receiver)> {
    let (tx, rx) = mio::unix::pipe::new()?;
    // Signals are blocked across the fork and stay blocked in the child:
    // the handlers it inherits would write into the loop's signal pipe,
    // and a SIGTERM sent to the whole group must not cut a store short
    // (the daemon waits for it at exit). SIGKILL still ends it.
    // SAFETY: sigset_t is plain data (all-zero bytes are valid);
    // sigfillset(3) and pthread_sigmask(3) write through valid pointers to
    // sets on this stack frame.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    };
    // SAFETY: fork(2) is an FFI call. The daemon is one thread (the loop),
    // so no lock (malloc's, the logger's) is held by another thread at the
    // fork, and the child may allocate. It runs `child`, which never
    // returns: it `_exit`s, so no destructor of the parent's objects runs
    // twice. (Unit tests fork from a threaded harness; glibc's fork takes
    // malloc's locks across the fork, and the child logs nothing.)
    // Memory locks (mlockall) are not inherited by a child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child(sd, job, &tx);
    }
    let forked = if pid < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((pid, rx))
    };
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    forked
}

/// The child: does the store, says how it went, `_exit`s.
fn child(sd: &StateDir, job: &Job, errors: &Sender) -> ! {
    normal_scheduling();
    close_all_but(errors.as_raw_fd());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        write_batch(sd, &job.writes, &job.attrs)
    }));
    let code = match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            let text = e.to_string();
            let mut n = text.len().min(MAX_ERROR);
            while !text.is_char_boundary(n) {
                n -= 1;
            }
            // An empty pipe takes it at once; if not, the code says enough.
            let _ = (&*errors).write(&text.as_bytes()[..n]);
            FAILED
        }
        Err(_) => PANICKED,
    };
    // SAFETY: _exit(2) ends the process without running the parent's
    // destructors or exit handlers in it.
    unsafe { libc::_exit(code) }
}

/// The store runs at normal priority, as crm_ticket and handlers do: the
/// daemon's SCHED_RESET_ON_FORK has already made it so where the daemon
/// runs SCHED_RR; this covers a daemon given a realtime policy otherwise.
/// Not niced further: a grant's reply may wait for the store.
fn normal_scheduling() {
    // SAFETY: sched_param is plain integers; all-zero bytes are valid.
    let param: libc::sched_param = unsafe { std::mem::zeroed() };
    // SAFETY: sched_setscheduler(2) on ourselves with a valid param
    // pointer (the system call: musl's wrapper is a stub).
    unsafe {
        libc::syscall(
            libc::SYS_sched_setscheduler,
            0,
            libc::SCHED_OTHER,
            &param as *const libc::sched_param,
        )
    };
}

/// Closes every inherited descriptor above 2 but `keep`: a client
/// connection the loop closes must end now, not when the store does.
fn close_all_but(keep: libc::c_int) {
    let close_range = |lo: libc::c_int, hi: libc::c_uint| {
        // SAFETY: close_range(2) takes integers only; the child uses none
        // of the descriptors it closes (it only exits afterwards).
        unsafe { libc::syscall(libc::SYS_close_range, lo as libc::c_uint, hi, 0u32) == 0 }
    };
    let below = keep <= 3 || close_range(3, keep as libc::c_uint - 1);
    if below && close_range(keep + 1, libc::c_uint::MAX) {
        return;
    }
    // Kernels before 5.9: the list in /proc.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<libc::c_int> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2 && fd != keep)
        .collect();
    for fd in fds {
        // SAFETY: as above; a number already closed gives EBADF, ignored.
        unsafe { libc::close(fd) };
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
#[path = "disk_tests.rs"]
mod tests;
