//! The lock/PID file: proof that a daemon runs for a configuration, and the
//! one line `boothd status` (and through it the LSB arbitrator script)
//! shows.
//!
//! The lock is a POSIX record lock (`fcntl(F_SETLK)`), not `flock(2)`: the
//! C `boothd status` and the scripts built on it ask with `fcntl(F_GETLK)`,
//! and the two kinds of lock do not see each other.
//!
//! Properties of POSIX locks the daemon must respect:
//! * they belong to the process, so the file must be created *after*
//!   daemonizing (a forked child does not inherit them);
//! * closing *any* descriptor of the file in the process releases the lock,
//!   so nothing else in the daemon may open this file;
//! * `F_GETLK` from the holding process itself reports no conflict.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::{fmt, mem};

use crate::config::{Config, Member, MemberKind};

/// Directory of the default lock files.
pub const RUN_DIR: &str = "/var/run/booth/";

/// The lock file to use: the `-l` value, or
/// `/var/run/booth/` + `/` + `<config name>` + `.pid`. The double slash is
/// what the C booth uses and what `booth status` prints, so it is kept.
pub fn lock_path(arg: Option<&Path>, config_name: &str) -> PathBuf {
    match arg {
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(format!("{RUN_DIR}/{config_name}.pid")),
    }
}

/// After a reboot `/var/run/booth` may not exist yet: create it (mode 0775,
/// minus umask) when `path` lies in it. Errors are ignored, as in C; opening
/// the file reports any real problem.
pub(crate) fn ensure_run_dir(path: &Path) {
    if path
        .as_os_str()
        .as_encoded_bytes()
        .starts_with(RUN_DIR.as_bytes())
    {
        let _ = DirBuilder::new().mode(0o775).create(RUN_DIR);
    }
}

/// `booth_state=` in the lock file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonState {
    /// Lock taken, sockets not yet set up.
    Starting,
    /// Listening, start-up state query sent.
    Started,
}

impl DaemonState {
    pub fn as_str(self) -> &'static str {
        match self {
            DaemonState::Starting => "starting",
            DaemonState::Started => "started",
        }
    }
}

/// Who the daemon is, as recorded in the lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockIdentity {
    pub kind: MemberKind,
    pub cfg_name: String,
    pub site_id: u32,
    pub addr_string: String,
    /// The local member's own port (C 1.0-283 wrote the global `port`,
    /// which differs only when `port` follows the member lines).
    pub port: u16,
}

impl LockIdentity {
    pub fn new(config: &Config, local: &Member) -> LockIdentity {
        LockIdentity {
            kind: local.kind,
            cfg_name: config.name.clone(),
            site_id: local.site_id,
            addr_string: local.addr_string.clone(),
            port: local.port,
        }
    }

    /// The file's single line, newline included.
    pub fn line(&self, pid: u32, state: DaemonState) -> String {
        format!(
            "booth_pid={pid} booth_state={} booth_type={} booth_cfg_name='{}' booth_id={} booth_addr_string='{}' booth_port={}\n",
            state.as_str(),
            self.kind.as_str(),
            self.cfg_name,
            self.site_id,
            self.addr_string,
            self.port
        )
    }
}

/// Why the lock file could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// The file could not be opened or created.
    Open { path: PathBuf, err: io::Error },
    /// Another process holds the lock: a daemon for this configuration is
    /// running. `pid` is the holder as the kernel reports it (None if it let
    /// go in the meantime).
    Held { path: PathBuf, pid: Option<u32> },
    /// `fcntl` failed for another reason (e.g. no locks on this file system).
    Lock { path: PathBuf, err: io::Error },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::config::strerror;
        match self {
            LockError::Open { path, err } => write!(
                f,
                "lockfile open error {}: {}",
                path.display(),
                strerror(err)
            ),
            LockError::Held {
                path,
                pid: Some(pid),
            } => write!(
                f,
                "lockfile {} is locked by process {pid}: another booth daemon is running",
                path.display()
            ),
            LockError::Held { path, pid: None } => write!(
                f,
                "lockfile {} is locked by another process: another booth daemon is running",
                path.display()
            ),
            LockError::Lock { path, err } => write!(
                f,
                "lockfile setlk error {}: {}",
                path.display(),
                strerror(err)
            ),
        }
    }
}

impl std::error::Error for LockError {}

/// The daemon's locked lock file. Keep it for the daemon's whole lifetime:
/// dropping it closes the descriptor and so releases the lock (leaving the
/// file behind); [`LockFile::remove`] is the clean way out.
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
    identity: LockIdentity,
}

impl LockFile {
    /// Opens (creating it, mode 0664 minus umask) and write-locks the whole
    /// file. The content is not touched until [`LockFile::write_state`].
    ///
    /// Difference from C (its bug 30): a lock held by another process is an
    /// error naming the holder; the file is then left exactly as it is
    /// (C overwrote it and, exiting, deleted the running daemon's file).
    pub fn create(path: &Path, identity: LockIdentity) -> Result<LockFile, LockError> {
        ensure_run_dir(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o664)
            .open(path)
            .map_err(|err| LockError::Open {
                path: path.to_path_buf(),
                err,
            })?;
        match try_write_lock(&file) {
            Ok(true) => Ok(LockFile {
                file,
                path: path.to_path_buf(),
                identity,
            }),
            Ok(false) => Err(LockError::Held {
                path: path.to_path_buf(),
                pid: lock_holder(&file).ok().flatten(),
            }),
            Err(err) => Err(LockError::Lock {
                path: path.to_path_buf(),
                err,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn identity(&self) -> &LockIdentity {
        &self.identity
    }

    /// Replaces the content with the line for this process and `state`.
    pub fn write_state(&mut self, state: DaemonState) -> io::Result<()> {
        let line = self.identity.line(std::process::id(), state);
        self.file.set_len(0)?;
        self.file.write_all_at(line.as_bytes(), 0)
    }

    /// Hands the file to the run-as user and group, so that the daemon can
    /// still rewrite it after dropping privileges. Only done when running as
    /// root; a failure is logged and returned, and may be ignored.
    pub fn chown_to(&self, uid: u32, gid: u32) -> io::Result<()> {
        if !super::privs::is_root() {
            return Ok(());
        }
        std::os::unix::fs::fchown(&self.file, Some(uid), Some(gid)).inspect_err(|e| {
            log::error!(
                "cannot change owner of lockfile {} to {uid}:{gid}: {}",
                self.path.display(),
                crate::config::strerror(e)
            )
        })
    }

    /// Clean exit: empties the file, unlinks it and closes it (releasing
    /// the lock). The path is unlinked only if it still names our file, so
    /// a file recreated there by someone else survives. All steps are
    /// attempted; the first error is returned. (Unlinking needs write
    /// permission on the directory, which an unprivileged daemon may lack;
    /// the file then stays, empty and unlocked, as in C.)
    pub fn remove(self) -> io::Result<()> {
        let truncated = self.file.set_len(0);
        let ours = match (self.file.metadata(), fs::metadata(&self.path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        };
        let unlinked = if ours {
            fs::remove_file(&self.path)
        } else {
            Ok(())
        };
        drop(self.file);
        truncated.and(unlinked)
    }
}

/// Tries to take a write lock on the whole file without waiting: Ok(true)
/// when taken, Ok(false) when another process holds a conflicting lock.
pub(crate) fn try_write_lock(file: &File) -> io::Result<bool> {
    let mut lock = whole_file_lock();
    // SAFETY: F_SETLK reads a valid, fully initialised `flock` that lives
    // across the call; the descriptor is open for as long as `file` is.
    let rv = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &mut lock) };
    if rv == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(err),
    }
}

/// The process holding a lock that conflicts with a whole-file write lock,
/// if any (`fcntl(F_GETLK)`). A lock held by the calling process itself is
/// never reported.
pub(crate) fn lock_holder(file: &File) -> io::Result<Option<u32>> {
    let mut lock = whole_file_lock();
    // SAFETY: F_GETLK reads and overwrites the valid `flock` we own; the
    // descriptor is open for as long as `file` is.
    let rv = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    if rv != 0 {
        return Err(io::Error::last_os_error());
    }
    if lock.l_type == libc::F_UNLCK as libc::c_short || lock.l_pid <= 0 {
        return Ok(None);
    }
    Ok(Some(lock.l_pid as u32))
}

/// A write lock from offset 0 to the end of the file, however long it gets.
fn whole_file_lock() -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers, for which all-zero
    // is a valid value; the fields that matter are set below.
    let mut lock: libc::flock = unsafe { mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0;
    lock
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> LockIdentity {
        LockIdentity {
            kind: MemberKind::Site,
            cfg_name: "booth".into(),
            site_id: 1350956164,
            addr_string: "192.168.201.100".into(),
            port: 9929,
        }
    }

    fn temp_path(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("booth-lock-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir.join("booth.pid")
    }

    #[test]
    fn default_path_keeps_the_double_slash() {
        assert_eq!(
            lock_path(None, "booth"),
            PathBuf::from("/var/run/booth//booth.pid")
        );
        assert_eq!(
            lock_path(Some(Path::new("/tmp/x.pid")), "booth"),
            PathBuf::from("/tmp/x.pid")
        );
    }

    #[test]
    fn line_format_matches_c() {
        assert_eq!(
            identity().line(4242, DaemonState::Started),
            "booth_pid=4242 booth_state=started booth_type=site booth_cfg_name='booth' \
             booth_id=1350956164 booth_addr_string='192.168.201.100' booth_port=9929\n"
        );
        let mut arb = identity();
        arb.kind = MemberKind::Arbitrator;
        assert!(arb
            .line(1, DaemonState::Starting)
            .starts_with("booth_pid=1 booth_state=starting booth_type=arbitrator "));
    }

    #[test]
    fn create_write_rewrite_remove() {
        let path = temp_path("cycle");
        fs::write(&path, "stale content that is much longer than the new line .......................................................................................................\n").unwrap();
        let mut lock = LockFile::create(&path, identity()).unwrap();
        // Creating does not touch the content.
        assert!(fs::read_to_string(&path).unwrap().starts_with("stale"));
        lock.write_state(DaemonState::Starting).unwrap();
        let pid = std::process::id();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            identity().line(pid, DaemonState::Starting)
        );
        lock.write_state(DaemonState::Started).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            identity().line(pid, DaemonState::Started)
        );
        // Not root-dependent: as non-root this is a no-op, as root a chown
        // to ourselves.
        lock.chown_to(0, 0).unwrap();
        lock.remove().unwrap();
        assert!(!path.exists());
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn new_file_gets_mode_0664_minus_umask() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp_path("mode");
        let lock = LockFile::create(&path, identity()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o664, 0, "mode {mode:o}");
        assert_eq!(mode & 0o600, 0o600, "mode {mode:o}");
        lock.remove().unwrap();
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn remove_spares_a_file_that_replaced_ours() {
        let path = temp_path("replaced");
        let mut lock = LockFile::create(&path, identity()).unwrap();
        lock.write_state(DaemonState::Started).unwrap();
        fs::remove_file(&path).unwrap();
        fs::write(&path, "someone else\n").unwrap();
        lock.remove().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "someone else\n");
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn own_lock_is_not_reported_as_foreign() {
        let path = temp_path("own");
        let lock = LockFile::create(&path, identity()).unwrap();
        assert_eq!(lock_holder(&lock.file).unwrap(), None);
        lock.remove().unwrap();
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn open_error_names_the_path() {
        let err =
            LockFile::create(Path::new("/nonexistent-dir/x/booth.pid"), identity()).unwrap_err();
        assert!(matches!(err, LockError::Open { .. }));
        assert_eq!(
            err.to_string(),
            "lockfile open error /nonexistent-dir/x/booth.pid: No such file or directory"
        );
    }
}
