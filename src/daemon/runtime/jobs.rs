//! Child processes: at most [`MAX_CHILDREN`] at once, the rest queued in
//! order; each killed past its time limit; their ends routed to whoever
//! asked (the CIB writer, geo attribute writes, before-acquire-handlers).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use log::{debug, error, warn};
use mio::{Registry, Token};

use super::{Daemon, Store, TimerKind};
use crate::cib;
use crate::cib::writer::{Outcome, RunId};
use crate::daemon::children::{ChildId, Children, Finished};
use crate::daemon::timer::{Ms, TimerId};
use crate::engine::{HandlerRun, TicketId};

/// Children running at once (CIB writes, geo attribute writes, handlers);
/// more wait in a queue. The C booth runs one at a time; a storm of
/// `geostore set` requests must not become a storm of processes (each
/// holds three descriptors here).
pub(super) const MAX_CHILDREN: usize = 16;
/// Of those, geo attribute writes may hold at most this many, so that a
/// `geostore` storm (or hung attribute writes) never keeps ticket state
/// writes and handlers waiting.
const MAX_ATTR_CHILDREN: usize = MAX_CHILDREN / 2;
/// `crm_ticket` and `cibadmin` runs taking longer are killed (and retried).
pub(super) const CRM_TICKET_LIMIT: Ms = 30_000;
/// Geo attribute writes are tried this many times (as the C booth does).
const ATTR_ATTEMPTS: u32 = 3;

pub(super) enum Purpose {
    /// A run the CIB writer asked for.
    Writer(RunId),
    Attr {
        ticket: String,
        name: String,
        value: Option<String>,
        attempt: u32,
    },
    Handler {
        ticket: TicketId,
        run: HandlerRun,
        /// Directory mode: programs still to run after this one.
        rest: Vec<PathBuf>,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
    /// An alert agent's run (runtime/alerts.rs).
    Alert { agent: usize, program: PathBuf },
}

/// A child to start.
pub(super) struct Job {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    purpose: Purpose,
    limit: Ms,
    stdout_limit: Option<usize>,
}

pub(super) struct Jobs {
    children: Children<Purpose>,
    deadlines: HashMap<ChildId, TimerId>,
    queue: VecDeque<Job>,
    most_queued: usize,
    /// Children running a geo attribute write.
    attrs_running: usize,
}

impl Jobs {
    pub(super) fn new(children: Children<Purpose>) -> Jobs {
        Jobs {
            children,
            deadlines: HashMap::new(),
            queue: VecDeque::new(),
            most_queued: 0,
            attrs_running: 0,
        }
    }

    pub(super) fn owns(&self, t: Token) -> bool {
        self.children.owns(t)
    }

    pub(super) fn on_readable(&mut self, registry: &Registry, t: Token) {
        self.children.on_readable(registry, t);
    }

    /// Children waiting for a free place now, and the most ever.
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn most_queued(&self) -> usize {
        self.most_queued
    }

    /// A child's time limit passed: kill it (it is reaped as usual).
    pub(super) fn deadline(&mut self, id: ChildId) {
        self.deadlines.remove(&id);
        if let Some(r) = self.children.get(id) {
            warn!("{} takes too long, killing it", r.program);
        }
        self.children.kill(id);
    }
}

impl Daemon {
    /// Starts a child now, or queues it while [`MAX_CHILDREN`] run.
    pub(super) fn spawn(
        &mut self,
        program: &str,
        args: Vec<String>,
        env: Vec<(String, String)>,
        purpose: Purpose,
        limit: Ms,
        stdout_limit: Option<usize>,
    ) {
        let job = Job {
            program: program.to_string(),
            args,
            env,
            purpose,
            limit,
            stdout_limit,
        };
        self.jobs.queue.push_back(job);
        self.start_queued();
        self.jobs.most_queued = self.jobs.most_queued.max(self.jobs.queue.len());
    }

    fn start_job(&mut self, j: Job) {
        let attr = matches!(j.purpose, Purpose::Attr { .. });
        let tokens = (self.token(), self.token());
        let registry = self.poll.registry();
        let r = self
            .jobs
            .children
            .spawn(registry, &j.program, &j.args, &j.env, j.purpose, tokens);
        match r {
            Ok(id) => {
                if let Some(limit) = j.stdout_limit {
                    self.jobs.children.set_stdout_limit(id, limit);
                }
                let at = self.now_ms() + j.limit;
                let timer = self.timers.insert(at, TimerKind::ChildDeadline(id));
                self.jobs.deadlines.insert(id, timer);
                self.jobs.attrs_running += attr as usize;
                debug!("started {} {}", j.program, j.args.join(" "));
            }
            Err((e, purpose)) => {
                error!("cannot run {}: {e}", j.program);
                self.not_started(purpose);
            }
        }
    }

    /// Starts queued children while there is room, in order within each
    /// class (attribute writes, everything else).
    fn start_queued(&mut self) {
        while self.jobs.children.len() < MAX_CHILDREN {
            let attrs_full = self.jobs.attrs_running >= MAX_ATTR_CHILDREN;
            let next = self
                .jobs
                .queue
                .iter()
                .position(|j| !(attrs_full && matches!(j.purpose, Purpose::Attr { .. })));
            let Some(j) = next.and_then(|i| self.jobs.queue.remove(i)) else {
                return;
            };
            self.start_job(j);
        }
    }

    pub(super) fn reap(&mut self) {
        let finished = self.jobs.children.reap(self.poll.registry());
        for f in finished {
            if let Some(timer) = self.jobs.deadlines.remove(&f.id) {
                self.timers.cancel(timer);
            }
            for line in String::from_utf8_lossy(&f.stderr)
                .lines()
                .filter(|l| !l.is_empty())
            {
                debug!("{}: {line}", f.program);
            }
            self.child_done(f);
        }
        self.start_queued();
    }

    fn child_done(&mut self, f: Finished<Purpose>) {
        let ok = f.success();
        let code = f.code();
        if matches!(f.purpose, Purpose::Attr { .. }) {
            self.jobs.attrs_running -= 1;
        }
        match f.purpose {
            Purpose::Writer(run) => {
                let o = Outcome {
                    ok,
                    code,
                    killed: f.killed,
                    not_started: false,
                    stdout: f.stdout,
                    truncated: f.truncated,
                };
                let c = self.engine_clock();
                self.core.run_finished(c, run, o);
            }
            Purpose::Attr {
                ticket,
                name,
                value,
                attempt,
            } => {
                if !ok && attempt < ATTR_ATTEMPTS {
                    self.store_attr_pacemaker(ticket, name, value, attempt + 1);
                } else if !ok {
                    error!("{ticket}: storing attribute '{name}' failed (exit code {code})");
                }
            }
            Purpose::Handler {
                ticket,
                run,
                mut rest,
                args,
                env,
            } => {
                if !ok {
                    let why = if f.killed {
                        "timed out".to_string()
                    } else {
                        format!("exit code {code}")
                    };
                    warn!("handler \"{}\" failed: {why}", f.program);
                    if let Some(name) = self
                        .position(ticket)
                        .map(|i| self.cfg.tickets[i.index()].name.clone())
                    {
                        self.handler_failed(&name, &f.program, &why);
                    }
                }
                if ok && !rest.is_empty() {
                    let next = rest.remove(0);
                    self.run_handler_step(ticket, run, next, rest, args, env);
                    return;
                }
                let c = self.engine_clock();
                self.core.handler_exit(c, ticket, run, ok);
            }
            Purpose::Alert { agent, program } => {
                let why = if f.killed {
                    "timed out".to_string()
                } else {
                    format!("exit code {code}")
                };
                self.alert_done(agent, &program, ok, &why);
            }
        }
    }

    /// A child could not be started: as if it had failed.
    fn not_started(&mut self, purpose: Purpose) {
        match purpose {
            Purpose::Writer(run) => {
                let o = Outcome {
                    code: 127,
                    not_started: true,
                    ..Outcome::default()
                };
                let c = self.engine_clock();
                self.core.run_finished(c, run, o);
            }
            Purpose::Attr {
                ticket,
                name,
                value,
                attempt,
            } => {
                if attempt < ATTR_ATTEMPTS {
                    self.store_attr_pacemaker(ticket, name, value, attempt + 1);
                }
            }
            Purpose::Handler { ticket, run, .. } => {
                let c = self.engine_clock();
                self.core.handler_exit(c, ticket, run, false);
            }
            Purpose::Alert { agent, program } => {
                self.alert_done(agent, &program, false, "not started")
            }
        }
    }

    // ---- geo attributes ----

    pub(super) fn store_attr_pacemaker(
        &mut self,
        ticket: String,
        name: String,
        value: Option<String>,
        attempt: u32,
    ) {
        let argv = cib::attr_argv(&ticket, &name, value.as_deref());
        let program = self.crm_ticket().to_string();
        let purpose = Purpose::Attr {
            ticket,
            name,
            value,
            attempt,
        };
        self.spawn(&program, argv, Vec::new(), purpose, CRM_TICKET_LIMIT, None);
    }

    pub(super) fn crm_ticket(&self) -> &str {
        match &self.store {
            Store::Pacemaker(p) => p,
            _ => cib::CRM_TICKET,
        }
    }

    // ---- before-acquire-handlers ----

    fn handler_limit(&self, ticket: TicketId) -> Ms {
        // A handler slower than the renewal period cannot keep a ticket.
        self.position(ticket)
            .and_then(|i| self.cfg.tickets.get(i.index()))
            .map_or(60_000, |t| t.renewal_freq.as_millis() as Ms)
    }

    pub(super) fn run_handler(
        &mut self,
        ticket: TicketId,
        run: HandlerRun,
        argv: Vec<String>,
        env: Vec<(String, String)>,
    ) {
        let Some((path, args)) = argv.split_first() else {
            let c = self.engine_clock();
            self.core.handler_exit(c, ticket, run, false);
            return;
        };
        let path = PathBuf::from(path);
        let args = args.to_vec();
        if !path.is_dir() {
            self.run_handler_step(ticket, run, path, Vec::new(), args, env);
            return;
        }
        match handler_dir_entries(&path) {
            Ok(mut progs) if !progs.is_empty() => {
                let first = progs.remove(0);
                self.run_handler_step(ticket, run, first, progs, args, env);
            }
            Ok(_) => {
                let c = self.engine_clock();
                self.core.handler_exit(c, ticket, run, true);
            }
            Err(e) => {
                warn!("{}: cannot read handler directory: {e}", path.display());
                let c = self.engine_clock();
                self.core.handler_exit(c, ticket, run, false);
            }
        }
    }

    fn run_handler_step(
        &mut self,
        ticket: TicketId,
        run: HandlerRun,
        program: PathBuf,
        rest: Vec<PathBuf>,
        args: Vec<String>,
        env: Vec<(String, String)>,
    ) {
        let limit = self.handler_limit(ticket);
        let prog = program.display().to_string();
        let purpose = Purpose::Handler {
            ticket,
            run,
            rest,
            args: args.clone(),
            env: env.clone(),
        };
        self.spawn(&prog, args, env, purpose, limit, None);
    }

    /// Stops a handler run, running or still queued.
    pub(super) fn stop_handler(&mut self, ticket: TicketId, run: HandlerRun) {
        let this = |p: &Purpose| matches!(p, Purpose::Handler { ticket: t, run: r, .. } if *t == ticket && *r == run);
        for id in self.jobs.children.find(this) {
            self.jobs.children.kill(id);
        }
        self.jobs.queue.retain(|j| !this(&j.purpose));
    }
}

/// Lifts the soft limit on open files to the hard one: every client, child
/// pipe and timer source needs a descriptor, and the default soft limit
/// (1024) is within reach of a connection or child storm.
pub(super) fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit(2) with a valid pointer to an initialised rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
            warn!(
                "cannot raise the open files limit: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// The programs of a handler directory, in name order: executable regular
/// files only, names starting with '.' skipped (the C booth runs every entry
/// and fails on non-executables).
fn handler_dir_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    let mut progs = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let md = std::fs::metadata(e.path())?;
        if md.is_file() && md.permissions().mode() & 0o111 != 0 {
            progs.push(e.path());
        } else {
            debug!("{}: not an executable file, skipped", e.path().display());
        }
    }
    crate::sort::sort(&mut progs);
    Ok(progs)
}
