//! The user and group the daemon runs as after start-up.
//!
//! The configuration names them (`site-user`/`site-group`, default
//! `hacluster`/`haclient`; `arbitrator-user`/`arbitrator-group`, default
//! `nobody`/`nobody`); the daemon starts as root, takes its lock file and
//! memory locks, then drops to that pair before binding its sockets.
//!
//! Differences from C (its bug 14): the pair is chosen by the local member's
//! role (C always used the site pair, also on arbitrators); supplementary
//! groups are dropped too; the result is verified, saved ids included.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::ptr;

use crate::config::{strerror, Config, MemberKind};

/// Resolved run-as identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug)]
pub enum PrivError {
    /// No such user, or a numeric value that is not a usable uid.
    UnknownUser(String),
    /// No such group, or a numeric value that is not a usable gid.
    UnknownGroup(String),
    /// The lookup itself failed (e.g. the name service is unreachable).
    Lookup { name: String, err: io::Error },
    /// A system call of the privilege drop failed; `call` is its name.
    Drop { call: &'static str, err: io::Error },
    /// The ids after the drop are not the requested ones.
    Verify(String),
}

impl PrivError {
    /// The daemon's exit status for a failed drop (C exits with the errno
    /// value); 1 when there is none.
    pub fn exit_code(&self) -> i32 {
        match self {
            PrivError::Drop { err, .. } | PrivError::Lookup { err, .. } => err
                .raw_os_error()
                .filter(|&e| e > 0 && e < 0x70)
                .unwrap_or(1),
            _ => 1,
        }
    }
}

impl fmt::Display for PrivError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivError::UnknownUser(u) => {
                write!(f, "User \"{u}\" cannot be resolved into a UID.")
            }
            // C says "UID" here too, by mistake.
            PrivError::UnknownGroup(g) => {
                write!(f, "Group \"{g}\" cannot be resolved into a GID.")
            }
            PrivError::Lookup { name, err } => {
                write!(f, "cannot look up \"{name}\": {}", strerror(err))
            }
            PrivError::Drop { call, err } => {
                write!(f, "{call}() didn't work: {}", strerror(err))
            }
            PrivError::Verify(what) => write!(f, "dropping privileges failed: {what}"),
        }
    }
}

impl std::error::Error for PrivError {}

/// The configured user and group names for a member of kind `kind`.
pub fn run_as_names(config: &Config, kind: MemberKind) -> (&str, &str) {
    match kind {
        MemberKind::Site => (&config.site_user, &config.site_group),
        MemberKind::Arbitrator => (&config.arbitrator_user, &config.arbitrator_group),
    }
}

/// Resolves the run-as pair for a member of kind `kind`.
pub fn resolve_run_as(config: &Config, kind: MemberKind) -> Result<RunAs, PrivError> {
    let (user, group) = run_as_names(config, kind);
    Ok(RunAs {
        uid: resolve_user(user)?,
        gid: resolve_group(group)?,
    })
}

/// What a member needs its run-as account for, which decides what happens
/// when the configured one does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// A site writing Pacemaker's CIB: `crm_ticket` must run as a user
    /// Pacemaker lets change tickets (hacluster/haclient).
    Cib,
    /// A site keeping its tickets in `--state-dir`.
    StateDir,
    /// An arbitrator: it stores nothing.
    Nothing,
}

/// The account chosen for the daemon, and a warning to log when it is not
/// the configured one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAsChoice {
    pub ids: RunAs,
    pub warning: Option<String>,
}

/// Chooses the run-as account of a member of kind `kind` (the daemon runs
/// as root). The configured pair if both exist. If the user or the group
/// does not exist (C silently runs as uid -2 then):
/// * a site writing the CIB refuses to start: as any other account its
///   CIB writes would fail, and a ticket booth grants but Pacemaker never
///   sees starts no resource, a failure found only when it matters;
/// * an arbitrator or a `--state-dir` site runs as nobody (group nogroup,
///   or nobody where that does not exist), with a warning: it needs no
///   rights beyond its lock file and state directory, which are handed to
///   that account, and nobody is never more privileged than the account
///   configured.
///
/// A group "nobody" that does not exist is Debian's "nogroup", silently.
/// Failures of the lookup itself (name service unreachable) are errors
/// for every role. `file` is the configuration file, for the messages.
pub fn choose_run_as(cfg: &Config, kind: MemberKind, needs: Needs) -> Result<RunAsChoice, String> {
    choose_run_as_with(cfg, kind, needs, &resolve_user, &resolve_group)
}

/// [`choose_run_as`] with the lookups given (tests).
pub fn choose_run_as_with(
    cfg: &Config,
    kind: MemberKind,
    needs: Needs,
    user_id: &dyn Fn(&str) -> Result<u32, PrivError>,
    group_id: &dyn Fn(&str) -> Result<u32, PrivError>,
) -> Result<RunAsChoice, String> {
    let (user, group) = run_as_names(cfg, kind);
    let (user_key, group_key) = match kind {
        MemberKind::Site => ("site-user", "site-group"),
        MemberKind::Arbitrator => ("arbitrator-user", "arbitrator-group"),
    };
    let file = cfg.path.display();
    let located = |e: &PrivError, key: &str| {
        format!("{} ({key} in {file}).", e.to_string().trim_end_matches('.'))
    };
    let group_or_nogroup = |g: &str| match group_id(g) {
        Err(PrivError::UnknownGroup(_)) if g == "nobody" => group_id("nogroup"),
        r => r,
    };
    let uid = user_id(user);
    let gid = group_or_nogroup(group);
    let mut missing = Vec::new();
    for (key, r) in [
        (user_key, uid.as_ref().err()),
        (group_key, gid.as_ref().err()),
    ] {
        match r {
            None => {}
            Some(e @ (PrivError::UnknownUser(_) | PrivError::UnknownGroup(_))) => {
                missing.push(located(e, key))
            }
            Some(e) => return Err(located(e, key)),
        }
    }
    let (Ok(uid), Ok(gid)) = (&uid, &gid) else {
        let what = missing.join(" ");
        return match needs {
            Needs::Cib => Err(format!(
                "{what} A site stores its tickets in Pacemaker's CIB as this account: \
                 install Pacemaker (it creates hacluster and haclient), or set {user_key} and \
                 {group_key} in {file} to the user and group Pacemaker runs as (or start the \
                 daemon with --state-dir DIR to keep tickets without Pacemaker)."
            )),
            Needs::StateDir | Needs::Nothing => {
                let uid = user_id("nobody").map_err(|e| format!("{what} Fallback: {e}"))?;
                let (gid, gname) = match group_id("nogroup") {
                    Ok(g) => (g, "nogroup"),
                    Err(_) => (
                        group_id("nobody").map_err(|e| format!("{what} Fallback: {e}"))?,
                        "nobody",
                    ),
                };
                let role = if needs == Needs::StateDir {
                    "a site keeping its tickets in --state-dir"
                } else {
                    "an arbitrator"
                };
                Ok(RunAsChoice {
                    ids: RunAs { uid, gid },
                    warning: Some(format!(
                        "{what} Running as nobody:{gname} instead, which is enough for {role}; \
                         create the account or set {user_key} and {group_key} to existing ones \
                         to choose it."
                    )),
                })
            }
        };
    };
    Ok(RunAsChoice {
        ids: RunAs {
            uid: *uid,
            gid: *gid,
        },
        warning: None,
    })
}

/// A user name or number. A value starting with a digit is a number in C
/// `strtol` base-0 syntax (decimal, `0x` hex, leading-`0` octal) that must
/// be consumed entirely; anything else is looked up as a name.
/// 4294967295 is refused: it means "unchanged" to `setreuid`.
pub fn resolve_user(user: &str) -> Result<u32, PrivError> {
    let unknown = || PrivError::UnknownUser(user.to_owned());
    if starts_with_digit(user) {
        return parse_id(user).ok_or_else(unknown);
    }
    let name = CString::new(user).map_err(|_| unknown())?;
    lookup(user, |buf| {
        let mut pwd = MaybeUninit::<libc::passwd>::uninit();
        let mut result: *mut libc::passwd = ptr::null_mut();
        // SAFETY: all pointers are valid for the call: a NUL-terminated
        // name, space for one `passwd`, a scratch buffer of the length
        // passed, and the result pointer. On success `result` points to
        // `pwd`, whose fields point into `buf`; we only read `pw_uid`.
        let rv = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                pwd.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        // SAFETY: a non-null result is `pwd`, initialised by getpwnam_r.
        (rv, (!result.is_null()).then(|| unsafe { (*result).pw_uid }))
    })?
    .ok_or_else(unknown)
}

/// A group name or number, with the same rules as [`resolve_user`].
pub fn resolve_group(group: &str) -> Result<u32, PrivError> {
    let unknown = || PrivError::UnknownGroup(group.to_owned());
    if starts_with_digit(group) {
        return parse_id(group).ok_or_else(unknown);
    }
    let name = CString::new(group).map_err(|_| unknown())?;
    lookup(group, |buf| {
        let mut grp = MaybeUninit::<libc::group>::uninit();
        let mut result: *mut libc::group = ptr::null_mut();
        // SAFETY: as in resolve_user, for getgrnam_r and `group`.
        let rv = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                grp.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        // SAFETY: a non-null result is `grp`, initialised by getgrnam_r.
        (rv, (!result.is_null()).then(|| unsafe { (*result).gr_gid }))
    })?
    .ok_or_else(unknown)
}

fn starts_with_digit(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// `strtol(s, &end, 0)` with `*end == '\0'` required, for a string that
/// starts with a digit; None if it is not a valid id.
fn parse_id(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    // from_str_radix would accept a sign, strtol's digits part would not.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix)
        .ok()
        .filter(|&id| id != u32::MAX)
}

/// Runs a reentrant name-service lookup with a growing scratch buffer.
/// `call` returns the function's error number and the id if found.
fn lookup(
    name: &str,
    mut call: impl FnMut(&mut [u8]) -> (libc::c_int, Option<u32>),
) -> Result<Option<u32>, PrivError> {
    const MAX_BUF: usize = 1 << 20;
    let mut buf = vec![0u8; 1024];
    loop {
        match call(&mut buf) {
            (0, found) => return Ok(found),
            (libc::ERANGE, _) if buf.len() < MAX_BUF => buf.resize(buf.len() * 2, 0),
            // "Not found" comes back as one of these on some systems.
            (libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM, _) => return Ok(None),
            (err, _) => {
                return Err(PrivError::Lookup {
                    name: name.to_owned(),
                    err: io::Error::from_raw_os_error(err),
                })
            }
        }
    }
}

/// The effective user id is 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The process's user and group ids (real, effective, saved) and
/// supplementary groups, for verifying a drop and for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub uid: [u32; 3],
    pub gid: [u32; 3],
    pub groups: Vec<u32>,
}

pub fn current_ids() -> io::Result<Ids> {
    let (mut ru, mut eu, mut su) = (0, 0, 0);
    let (mut rg, mut eg, mut sg) = (0, 0, 0);
    // SAFETY: getresuid only writes the three ids through valid pointers
    // to our locals.
    if unsafe { libc::getresuid(&mut ru, &mut eu, &mut su) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above, for getresgid.
    if unsafe { libc::getresgid(&mut rg, &mut eg, &mut sg) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: with size 0 getgroups only returns the number of groups.
    let n = unsafe { libc::getgroups(0, ptr::null_mut()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut groups = vec![0 as libc::gid_t; n as usize];
    // SAFETY: the buffer holds `groups.len()` gids, the size we pass.
    let n = unsafe { libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    groups.truncate(n as usize);
    Ok(Ids {
        uid: [ru, eu, su],
        gid: [rg, eg, sg],
        groups,
    })
}

/// Becomes `uid`/`gid` for good, if running as root (otherwise there is
/// nothing to drop and nothing happens, as in C): clears the supplementary
/// groups (C kept root's), then `setregid(gid, gid)` and
/// `setreuid(uid, uid)`, which also set the saved ids, and checks that
/// real, effective and saved ids all changed.
pub fn drop_privileges(uid: u32, gid: u32) -> Result<(), PrivError> {
    if !is_root() {
        return Ok(());
    }
    let failed = |call| PrivError::Drop {
        call,
        err: io::Error::last_os_error(),
    };
    // SAFETY: a zero-length list needs no buffer; glibc applies the change
    // to every thread of the process.
    if unsafe { libc::setgroups(0, ptr::null()) } != 0 {
        return Err(failed("setgroups"));
    }
    // SAFETY: plain system call on integer arguments (all threads, glibc).
    if unsafe { libc::setregid(gid, gid) } != 0 {
        return Err(failed("setregid"));
    }
    // SAFETY: as above.
    if unsafe { libc::setreuid(uid, uid) } != 0 {
        return Err(failed("setreuid"));
    }
    let ids = current_ids().map_err(|err| PrivError::Drop {
        call: "getresuid",
        err,
    })?;
    if ids.uid != [uid; 3] || ids.gid != [gid; 3] || !ids.groups.iter().all(|&g| g == gid) {
        return Err(PrivError::Verify(format!(
            "wanted uid {uid} gid {gid}, have uids {:?} gids {:?} groups {:?}",
            ids.uid, ids.gid, ids.groups
        )));
    }
    Ok(())
}

/// The name of a user id, for log messages; None if it has none.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut pwd = MaybeUninit::<libc::passwd>::uninit();
        let mut result: *mut libc::passwd = ptr::null_mut();
        // SAFETY: as in resolve_user, for getpwuid_r.
        let rv = unsafe {
            libc::getpwuid_r(
                uid,
                pwd.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rv == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rv != 0 || result.is_null() {
            return None;
        }
        // SAFETY: `result` is the initialised `pwd`; `pw_name` points to a
        // NUL-terminated string inside `buf`, which is still alive.
        let name = unsafe { CStr::from_ptr((*result).pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_strtol_base_0() {
        assert_eq!(parse_id("0"), Some(0));
        assert_eq!(parse_id("65534"), Some(65534));
        assert_eq!(parse_id("0x10"), Some(16));
        assert_eq!(parse_id("0X1f"), Some(31));
        assert_eq!(parse_id("010"), Some(8));
        assert_eq!(parse_id("4294967294"), Some(4294967294));
        assert_eq!(parse_id("4294967295"), None);
        assert_eq!(parse_id("4294967296"), None);
        assert_eq!(parse_id("12abc"), None);
        assert_eq!(parse_id("09"), None);
        assert_eq!(parse_id("0x"), None);
        assert_eq!(parse_id("1 "), None);
        assert_eq!(parse_id("0x+1"), None);
    }

    #[test]
    fn users_by_name_and_number() {
        assert_eq!(resolve_user("root").unwrap(), 0);
        assert_eq!(resolve_user("0").unwrap(), 0);
        assert_eq!(resolve_user("1234").unwrap(), 1234);
        // A number need not exist in the user database.
        assert_eq!(resolve_user("0x3e8").unwrap(), 1000);
        let nobody = resolve_user("nobody").unwrap();
        assert_eq!(user_name(nobody).as_deref(), Some("nobody"));
        assert_eq!(user_name(0).as_deref(), Some("root"));
    }

    #[test]
    fn groups_by_name_and_number() {
        assert_eq!(resolve_group("root").unwrap(), 0);
        assert_eq!(resolve_group("0").unwrap(), 0);
        assert_eq!(resolve_group("65534").unwrap(), 65534);
    }

    #[test]
    fn unknown_names_and_bad_numbers_are_errors() {
        let e = resolve_user("no-such-booth-user").unwrap_err();
        assert_eq!(
            e.to_string(),
            "User \"no-such-booth-user\" cannot be resolved into a UID."
        );
        let e = resolve_group("no-such-booth-group").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Group \"no-such-booth-group\" cannot be resolved into a GID."
        );
        assert!(matches!(
            resolve_user("12abc"),
            Err(PrivError::UnknownUser(_))
        ));
        assert!(matches!(
            resolve_group("nul\0byte"),
            Err(PrivError::UnknownGroup(_))
        ));
        assert!(matches!(resolve_user(""), Err(PrivError::UnknownUser(_))));
    }

    #[test]
    fn role_chooses_the_pair() {
        let mut config = Config::parse_str(
            "site = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\n",
            std::path::Path::new("/etc/booth/booth.conf"),
            &crate::config::SystemResolver,
        )
        .unwrap();
        assert_eq!(
            run_as_names(&config, MemberKind::Site),
            ("hacluster", "haclient")
        );
        assert_eq!(
            run_as_names(&config, MemberKind::Arbitrator),
            ("nobody", "nobody")
        );
        config.site_user = "0".into();
        config.site_group = "root".into();
        config.arbitrator_user = "root".into();
        config.arbitrator_group = "0x0".into();
        assert_eq!(
            resolve_run_as(&config, MemberKind::Site).unwrap(),
            RunAs { uid: 0, gid: 0 }
        );
        assert_eq!(
            resolve_run_as(&config, MemberKind::Arbitrator).unwrap(),
            RunAs { uid: 0, gid: 0 }
        );
        config.arbitrator_group = "no-such-booth-group".into();
        assert!(matches!(
            resolve_run_as(&config, MemberKind::Arbitrator),
            Err(PrivError::UnknownGroup(_))
        ));
        assert!(resolve_run_as(&config, MemberKind::Site).is_ok());
    }

    /// Lookups of a host where only root, nobody and the given extra
    /// accounts exist (user and group names alike).
    type Lookup = Box<dyn Fn(&str) -> Result<u32, PrivError>>;

    fn host(extra: &'static [&'static str], nogroup: bool) -> (Lookup, Lookup) {
        let known = move |n: &str| match n {
            "root" => Some(0),
            "nobody" => Some(65534),
            _ => extra.iter().position(|e| *e == n).map(|i| 100 + i as u32),
        };
        let user = move |n: &str| known(n).ok_or_else(|| PrivError::UnknownUser(n.into()));
        let group = move |n: &str| match n {
            "nogroup" if nogroup => Ok(65534),
            "nobody" if nogroup => Err(PrivError::UnknownGroup(n.into())),
            _ => known(n).ok_or_else(|| PrivError::UnknownGroup(n.into())),
        };
        (Box::new(user), Box::new(group))
    }

    fn config() -> Config {
        Config::parse_str(
            "site = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\n",
            std::path::Path::new("/etc/booth/east.conf"),
            &crate::config::SystemResolver,
        )
        .unwrap()
    }

    #[test]
    fn configured_accounts_are_used_when_they_exist() {
        let (u, g) = host(&["hacluster", "haclient"], false);
        let c = choose_run_as_with(&config(), MemberKind::Site, Needs::Cib, &u, &g).unwrap();
        assert_eq!(c.ids, RunAs { uid: 100, gid: 101 });
        assert_eq!(c.warning, None);
        // Debian: group nobody is nogroup, without a word.
        let (u, g) = host(&[], true);
        let c =
            choose_run_as_with(&config(), MemberKind::Arbitrator, Needs::Nothing, &u, &g).unwrap();
        assert_eq!(
            c.ids,
            RunAs {
                uid: 65534,
                gid: 65534
            }
        );
        assert_eq!(c.warning, None);
    }

    #[test]
    fn a_cib_site_without_its_user_refuses_naming_key_file_and_fix() {
        let (u, g) = host(&[], false);
        let e = choose_run_as_with(&config(), MemberKind::Site, Needs::Cib, &u, &g).unwrap_err();
        assert!(
            e.starts_with(
                "User \"hacluster\" cannot be resolved into a UID \
                 (site-user in /etc/booth/east.conf). Group \"haclient\" cannot be resolved \
                 into a GID (site-group in /etc/booth/east.conf). A site stores its tickets in \
                 Pacemaker's CIB"
            ),
            "{e}"
        );
        assert!(e.contains("install Pacemaker"), "{e}");
        assert!(e.contains("--state-dir"), "{e}");
        // Only the group missing: only the group is named.
        let (u, g) = host(&["hacluster"], false);
        let e = choose_run_as_with(&config(), MemberKind::Site, Needs::Cib, &u, &g).unwrap_err();
        assert!(e.starts_with("Group \"haclient\""), "{e}");
        assert!(!e.contains("(site-user"), "{e}");
    }

    #[test]
    fn state_dir_sites_and_arbitrators_fall_back_to_nobody_with_a_warning() {
        let (u, g) = host(&[], true);
        let c = choose_run_as_with(&config(), MemberKind::Site, Needs::StateDir, &u, &g).unwrap();
        assert_eq!(
            c.ids,
            RunAs {
                uid: 65534,
                gid: 65534
            }
        );
        let w = c.warning.unwrap();
        assert!(
            w.starts_with("User \"hacluster\" cannot be resolved into a UID (site-user in /etc/booth/east.conf)."),
            "{w}"
        );
        assert!(w.contains("Running as nobody:nogroup instead"), "{w}");
        assert!(w.contains("--state-dir"), "{w}");

        let mut cfg = config();
        cfg.arbitrator_user = "booth-arb".into();
        let (u, g) = host(&[], false);
        let c = choose_run_as_with(&cfg, MemberKind::Arbitrator, Needs::Nothing, &u, &g).unwrap();
        assert_eq!(
            c.ids,
            RunAs {
                uid: 65534,
                gid: 65534
            }
        );
        let w = c.warning.unwrap();
        assert!(
            w.contains("(arbitrator-user in /etc/booth/east.conf)"),
            "{w}"
        );
        assert!(w.contains("Running as nobody:nobody instead"), "{w}");
    }

    #[test]
    fn lookup_failures_are_errors_for_every_role() {
        let u = |n: &str| -> Result<u32, PrivError> {
            Err(PrivError::Lookup {
                name: n.into(),
                err: io::Error::from_raw_os_error(libc::EIO),
            })
        };
        let (_, g) = host(&[], true);
        let e = choose_run_as_with(&config(), MemberKind::Arbitrator, Needs::Nothing, &u, &g)
            .unwrap_err();
        assert_eq!(
            e,
            "cannot look up \"nobody\": Input/output error (arbitrator-user in /etc/booth/east.conf)."
        );
    }

    #[test]
    fn current_ids_are_consistent() {
        let ids = current_ids().unwrap();
        assert_eq!(is_root(), ids.uid[1] == 0);
    }

    #[test]
    fn exit_code_is_the_errno() {
        let e = PrivError::Drop {
            call: "setreuid",
            err: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert_eq!(e.exit_code(), libc::EPERM);
        assert_eq!(
            e.to_string(),
            "setreuid() didn't work: Operation not permitted"
        );
        assert_eq!(PrivError::UnknownUser("x".into()).exit_code(), 1);
    }
}
