//! `boothd daemon`: start-up as administrators run it (systemd with `-S`,
//! the OCF agent and the LSB script without it), then the event loop.
//!
//! Order: inherited descriptors closed, umask, configuration and key, the
//! local member, the run-as identity, working directory `/`, detach unless
//! `-S` (the parent waits until the child answers clients, then exits 0;
//! any earlier failure makes it exit 1), lock file, replay marks file,
//! scheduling, sockets, privilege drop, loop.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{debug, error, info, warn};
use mio::net::{TcpListener, UdpSocket};

use super::addr;
use super::lockfile::{self, DaemonState, LockFile, LockIdentity};
use super::logging;
use super::memlock;
use super::privs::{self, RunAs};
use super::promises;
use super::replaymarks;
use super::runtime::{Daemon, Setup, Store};
use crate::cib::{self, StateDir};
use crate::cli::{DaemonArgs, SiteArg};
use crate::config::{self, Config, MemberKind, Transport};
use crate::wire::AuthKey;

/// Set in the environment to skip realtime scheduling and memory locking
/// (test clusters and containers, where a runaway realtime process could
/// starve the host).
pub const NO_REALTIME_ENV: &str = "BOOTH_NO_REALTIME";
/// Overrides the `crm_ticket` program (tests, non-standard installs).
pub const CRM_TICKET_ENV: &str = "BOOTH_CRM_TICKET";

/// The daemon's file mode mask: its files (lock file, replay marks, state
/// directory) are not writable by the group nor readable by others.
pub const UMASK: libc::mode_t = 0o027;

pub fn run(args: &DaemonArgs) -> i32 {
    close_inherited_fds();
    // SAFETY: umask(2) takes a mode only and cannot fail.
    unsafe { libc::umask(UMASK) };
    logging::init("boothd", logging::level_for(args.debug));
    // Paths are made absolute now: the daemon leaves the working directory
    // before it creates its files, and a reload reads the configuration
    // file again by its path.
    let args = match absolute_paths(args) {
        Ok(a) => a,
        Err(e) => {
            error!("cannot resolve the paths given: {e}");
            return 1;
        }
    };
    // The loop runs from here, not from inside the start-up code: the
    // stack pages that code touches stay resident (and locked) for the
    // daemon's life, so its frames are not under the loop's.
    match prepare(&args).and_then(|p| launch(&args, p)) {
        Ok(d) => d.run(),
        Err(code) => code,
    }
}

fn absolute_paths(args: &DaemonArgs) -> io::Result<DaemonArgs> {
    let mut a = args.clone();
    a.config.path = std::path::absolute(&a.config.path)?;
    if let Some(l) = &a.lockfile {
        a.lockfile = Some(std::path::absolute(l)?);
    }
    if let Some(d) = &a.state_dir {
        a.state_dir = Some(std::path::absolute(d)?);
    }
    if let Some(d) = &a.alerts_dir {
        a.alerts_dir = Some(std::path::absolute(d)?);
    }
    Ok(a)
}

/// Closes every descriptor above stderr. Whatever started us may have
/// leaked some (a pipe a script waits on for EOF, a lock, a socket); a
/// daemon holding them would keep them alive for its whole life. Called
/// first thing, before the daemon opens anything of its own.
fn close_inherited_fds() {
    // SAFETY: close_range(2) takes integers only, and no Rust object owns a
    // descriptor above 2 at this point.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return;
    }
    // Kernels before 5.9: the list in /proc. The directory's own descriptor
    // is in it, but closed again before the loop below runs.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<libc::c_int> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: as above; a number already closed gives EBADF, ignored.
        unsafe { libc::close(fd) };
    }
}

struct Prepared {
    /// Warnings of the start-up checks: logged on stderr when found, and
    /// again to syslog once detached, so that they are on record where the
    /// daemon's other messages are (an init script may drop stderr).
    warnings: Vec<String>,
    cfg: Config,
    me: usize,
    key: Option<AuthKey>,
    store: Store,
    run_as: Option<RunAs>,
}

#[inline(never)]
fn prepare(args: &DaemonArgs) -> Result<Prepared, i32> {
    let path = &args.config.path;
    let cfg = Config::load(path).map_err(|e| {
        error!("{}: {e}", path.display());
        1
    })?;
    logging::set_level(logging::level_for(args.debug.max(cfg.debug)));
    debug!(
        "{}: {} members, {} tickets",
        path.display(),
        cfg.members.len(),
        cfg.tickets.len()
    );
    let mut warnings = cfg.warnings.clone();
    for w in &warnings {
        warn!("{w}");
    }
    if cfg.transport == Transport::Sctp {
        error!("SCTP is not supported; use UDP");
        return Err(1);
    }
    let key = match cfg.read_authkey() {
        Ok(None) => None,
        Ok(Some(bytes)) => {
            if config::key_disables_c_auth(&bytes) {
                let w = "the key starts with a zero byte: C booth members run without authentication with it, so they cannot talk to us";
                warn!("{w}");
                warnings.push(w.to_string());
            }
            Some(AuthKey::new(&bytes).map_err(|e| {
                error!("{e}");
                1
            })?)
        }
        Err(e) => {
            error!("{e}");
            return Err(1);
        }
    };
    let me = match &args.site {
        Some(SiteArg::Name(s)) => addr::find_by_addr_string(&cfg, s).map_err(|e| {
            error!("{e}");
            1
        })?,
        Some(SiteArg::Other) => {
            error!("\"-s other\" names no member in daemon mode");
            return Err(1);
        }
        None => match addr::find_local(&cfg, false) {
            Ok(Some((i, _))) => i,
            Ok(None) => {
                error!("Cannot find myself in the configuration.");
                return Err(1);
            }
            Err(e) => {
                error!("cannot list local addresses: {e}");
                return Err(1);
            }
        },
    };
    let kind = cfg.members[me].kind;
    let store = match (kind, &args.state_dir) {
        (MemberKind::Arbitrator, _) => Store::None,
        (MemberKind::Site, Some(dir)) => Store::StateDir(StateDir::new(dir).map_err(|e| {
            error!("{}: {e}", dir.display());
            1
        })?),
        (MemberKind::Site, None) => Store::Pacemaker(
            std::env::var(CRM_TICKET_ENV).unwrap_or_else(|_| cib::CRM_TICKET.to_string()),
        ),
    };
    let run_as = if privs::is_root() {
        let needs = match store {
            Store::Pacemaker(_) => privs::Needs::Cib,
            Store::StateDir(_) => privs::Needs::StateDir,
            Store::None => privs::Needs::Nothing,
        };
        let choice = privs::choose_run_as(&cfg, kind, needs).map_err(|e| {
            error!("{e}");
            1
        })?;
        if let Some(w) = choice.warning {
            warn!("{w}");
            warnings.push(w);
        }
        Some(choice.ids)
    } else {
        None
    };
    // The daemon writes its state directory after dropping privileges.
    if let (Some(ids), Some(dir), Store::StateDir(_)) = (run_as, &args.state_dir, &store) {
        if let Err(e) = std::os::unix::fs::chown(dir, Some(ids.uid), Some(ids.gid)) {
            error!("{}: cannot hand it to the run-as user: {e}", dir.display());
            return Err(1);
        }
    }
    Ok(Prepared {
        warnings,
        cfg,
        me,
        key,
        store,
        run_as,
    })
}

#[inline(never)]
fn launch(args: &DaemonArgs, p: Prepared) -> Result<Box<Daemon>, i32> {
    // Keeps no directory busy (an unmount of the one we were started in
    // must not fail because of us); every path is absolute by now.
    if let Err(e) = std::env::set_current_dir("/") {
        warn!("cannot change the working directory to /: {e}");
    }
    // As in the C binaries, only -S keeps the daemon in the foreground;
    // -D raises the debug level and nothing else.
    let ready = if args.foreground {
        None
    } else {
        match detach() {
            Ok(pipe) => Some(pipe),
            Err(e) => {
                error!("daemon error: {e}");
                return Err(1);
            }
        }
    };
    let member = p.cfg.members[p.me].clone();
    let kind = member.kind.as_str();
    logging::set_ident(&format!("boothd-{kind}"));
    info!(
        "BOOTH {kind} {} daemon is starting",
        env!("CARGO_PKG_VERSION")
    );

    // Before anything names our pid (see `Daemon::signals`).
    let signals = match Daemon::signals() {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install the signal handlers: {e}");
            return Err(1);
        }
    };
    let lock_path = lockfile::lock_path(args.lockfile.as_deref(), &p.cfg.name);
    let mut lock = match LockFile::create(&lock_path, LockIdentity::new(&p.cfg, &member)) {
        Ok(l) => l,
        Err(e) => {
            error!("{e}");
            return Err(1);
        }
    };
    // As the C booth: the file names the daemon at once ("starting"), so
    // that `boothd status`, start scripts and monitors see a daemon that
    // is still loading its tickets' state.
    if let Err(e) = lock.write_state(DaemonState::Starting) {
        error!(
            "write daemon state starting to lockfile error {}: {e}",
            lock_path.display()
        );
        let _ = lock.remove();
        return Err(1);
    }
    // Opened now, while we may still create it; rewritten in place later.
    let replay = if p.key.is_some() {
        let path = replaymarks::path_for(&lock_path);
        match replaymarks::Loaded::open(&path) {
            Ok(l) => Some(l),
            Err(e) => {
                warn!(
                    "{}: cannot open the replay marks file, replays captured before a restart may be accepted after it: {e}",
                    path.display()
                );
                None
            }
        }
    } else {
        None
    };
    // Opened now too: a restarted daemon takes back what it promised
    // (engine/promise.rs); without the record it fences itself instead.
    let promises = {
        let path = promises::path_for(&lock_path);
        let boot = promises::boot_id();
        match promises::PromiseFile::open(&path, boot.as_deref(), p.cfg.members.len()) {
            Ok(opened) => Some(opened),
            Err(e) => {
                warn!(
                    "{}: cannot open the promise record, a restart will fence tickets for a lease time: {e}",
                    path.display()
                );
                None
            }
        }
    };
    if p.run_as.is_some() && std::env::var_os(NO_REALTIME_ENV).is_none() {
        realtime();
    }
    let at = SocketAddr::new(member.addr, member.port);
    let (udp, tcp) = match (UdpSocket::bind(at), TcpListener::bind(at)) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => {
            error!("cannot bind {at}: {e}");
            let _ = lock.remove();
            return Err(1);
        }
    };
    if let Some(ids) = p.run_as {
        if let Err(e) = lock.chown_to(ids.uid, ids.gid) {
            warn!("cannot hand the lock file to the run-as user: {e}");
        }
        if let Some(r) = &replay {
            if let Err(e) = r.chown_to(ids.uid, ids.gid) {
                warn!(
                    "{}: cannot hand it to the run-as user: {e}",
                    r.path().display()
                );
            }
        }
        if let Some((f, _)) = &promises {
            if let Err(e) = f.chown_to(ids.uid, ids.gid) {
                warn!(
                    "{}: cannot hand it to the run-as user: {e}",
                    f.path().display()
                );
            }
        }
        if let Err(e) = privs::drop_privileges(ids.uid, ids.gid) {
            error!("{e}");
            let _ = lock.remove();
            return Err(e.exit_code());
        }
    }
    let ident = format!("boothd-{kind}");
    let warnings = p.warnings;
    let on_ready: Option<Box<dyn FnOnce()>> = ready.map(|pipe| {
        Box::new(move || {
            let no_syslog = match logging::to_syslog(&ident) {
                Ok(()) => {
                    for w in &warnings {
                        warn!("{w}");
                    }
                    false
                }
                Err(e) => {
                    warn!("cannot reach syslog: {e}");
                    true
                }
            };
            pipe.release(no_syslog && logging::stderr_may_stay());
        }) as Box<dyn FnOnce()>
    });
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ ((std::process::id() as u64) << 32);
    let alerts_dir = args
        .alerts_dir
        .clone()
        .unwrap_or_else(|| std::path::Path::new(super::alerts::DEFAULT_DIR).join(&p.cfg.name));
    let setup = Setup {
        alerts_dir,
        cfg: p.cfg,
        me: p.me,
        key: p.key,
        store: p.store,
        udp,
        tcp,
        lock: Some(lock),
        replay,
        promises,
        seed,
        on_ready,
        signals,
    };
    Daemon::new(setup).map_err(|e| {
        error!("cannot start the event loop: {e}");
        1
    })
}

/// The write end of the pipe the waiting parent reads its exit status from.
struct ReadyPipe(mio::unix::pipe::Sender);

impl ReadyPipe {
    /// Tells the parent we are up, and cuts the last ties to the terminal;
    /// `keep_stderr` while syslog is unreachable (log lines go there then).
    fn release(mut self, keep_stderr: bool) {
        let _ = self.0.write_all(&[0]);
        null_stdio(if keep_stderr { 2 } else { 3 });
    }
}

/// Forks once and becomes a session leader (the LSB script stops the daemon
/// by session id, which must equal the pid in the lock file). The parent
/// waits for the child's verdict and exits with it: 0 once the child
/// answers clients, 1 if it dies first.
fn detach() -> io::Result<ReadyPipe> {
    let (tx, mut rx) = mio::unix::pipe::new()?;
    // SAFETY: the process is single-threaded here (no thread has been
    // started), so the child may go on running arbitrary code after fork.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(rx);
            // SAFETY: setsid(2) has no memory-safety preconditions.
            if unsafe { libc::setsid() } < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(ReadyPipe(tx))
        }
        _child => {
            drop(tx);
            rx.set_nonblocking(false)?;
            let mut b = [0u8; 1];
            let code = match rx.read(&mut b) {
                Ok(1) => b[0] as i32,
                _ => 1,
            };
            std::process::exit(code);
        }
    }
}

/// Points the first `n` of stdin, stdout and stderr at /dev/null.
fn null_stdio(n: i32) {
    use std::os::fd::AsRawFd;
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    for fd in 0..n {
        // SAFETY: dup2(2) on a descriptor we own onto the standard ones;
        // nothing in this process holds Rust-level ownership of fds 0-2.
        unsafe {
            libc::dup2(null.as_raw_fd(), fd);
        }
    }
}

/// Realtime round-robin priority (its children get normal scheduling back)
/// and memory locked against paging (memlock.rs), as the C booth runs;
/// never fatal.
fn realtime() {
    // Locked pages count against RLIMIT_MEMLOCK once privileges are
    // dropped (8 MB by default): with MCL_FUTURE every allocation past it
    // fails and the daemon aborts (10,000 tickets need more). Root lifts
    // the limit first; if it cannot, only the pages present now are locked.
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit(2) with a valid pointer to an initialised rlimit.
    let lifted = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } == 0;
    if !lifted {
        warn!(
            "cannot lift the locked-memory limit ({}): locking only the memory in use now",
            io::Error::last_os_error()
        );
    }
    memlock::lock(lifted);
    // SAFETY: sched_get_priority_max(2) takes a policy number only.
    let prio = unsafe { libc::sched_get_priority_max(libc::SCHED_RR) };
    // Built zeroed: musl's sched_param has reserved fields besides the
    // priority (glibc's has none), and zero is valid for all of them.
    // SAFETY: sched_param is plain integers; all-zero bytes are a valid value.
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = prio;
    // SCHED_RESET_ON_FORK makes crm_ticket and handlers run at normal
    // priority (the C booth's children inherit realtime priority). The
    // system call itself: musl's sched_setscheduler is a stub that fails
    // with ENOSYS (the call sets one thread only; the daemon has one).
    // SAFETY: sched_setscheduler(2) on ourselves with a valid param pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setscheduler,
            0,
            libc::SCHED_RR | libc::SCHED_RESET_ON_FORK,
            &param as *const libc::sched_param,
        )
    };
    if rc != 0 {
        warn!(
            "could not set SCHED_RR priority {prio}: {}",
            io::Error::last_os_error()
        );
    }
    if std::fs::write("/proc/self/oom_score_adj", "-999").is_err() {
        let _ = std::fs::write("/proc/self/oom_adj", "-16");
    }
}
