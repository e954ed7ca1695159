//! `boothd status`: is a daemon running for this configuration on this host?
//!
//! Used by the LSB arbitrator script, which `eval`s stdout, so stdout is
//! either one shell-evaluable line (running, exit 0) or nothing but a
//! possible `booth_lockpid=<pid> ` prefix (not running, exit 7; error,
//! exit 1). Reasons go to stderr only with `-S` (or `-D`).
//!
//! Difference from C (its bug 32): the run-as user and group are not
//! resolved, so a host without the site user/group still gets an answer.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::ffi::OsStrExt;

use crate::cli::StatusArgs;
use crate::config::{strerror, Config};

use super::addr;
use super::lockfile::{self, lock_holder, try_write_lock};

/// LSB status "running".
pub const RUNNING: i32 = 0;
/// LSB status "program is not running" (PCMK_OCF_NOT_RUNNING).
pub const NOT_RUNNING: i32 = 7;
/// LSB status "unknown" (errors).
pub const UNKNOWN: i32 = 1;

/// Runs `boothd status` and returns the exit status.
pub fn run(args: &StatusArgs) -> i32 {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.json {
        // The same check; its stdout line becomes a JSON document.
        let mut text = Vec::new();
        let (code, reason) = match check(args, &mut text) {
            Ok(()) => (RUNNING, None),
            Err((code, reason, _)) => (code, Some(reason)),
        };
        let doc = crate::client::json::status_doc(code, &String::from_utf8_lossy(&text), reason);
        let _ = writeln!(out, "{}", doc.render()).and_then(|()| out.flush());
        return code;
    }
    let outcome = check(args, &mut out);
    let _ = out.flush();
    match outcome {
        Ok(()) => RUNNING,
        Err((code, reason, debug)) => {
            // C logs the reason at debug level and, with -S, prints it; one
            // line is enough when both apply.
            if args.explain || debug > 0 {
                eprintln!("not running: {reason}");
            }
            code
        }
    }
}

/// Not running (or unknown): exit status, reason, debug level in force.
type Failure = (i32, &'static str, u32);

fn check(args: &StatusArgs, out: &mut impl Write) -> Result<(), Failure> {
    let mut debug = args.debug;
    let config = match Config::load(&args.config.path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return Err((UNKNOWN, "Error reading configuration.", debug));
        }
    };
    debug = debug.max(config.debug);
    if debug > 0 {
        for warning in &config.warnings {
            eprintln!("{warning}");
        }
    }
    let fail = |code, reason| (code, reason, debug);

    let local = match addr::find_local(&config, false) {
        Ok(Some((index, _exact))) => &config.members[index],
        Ok(None) => return Err(fail(NOT_RUNNING, "No Service IP active here.")),
        Err(e) => {
            eprintln!("cannot list local addresses: {}", strerror(&e));
            return Err(fail(NOT_RUNNING, "No Service IP active here."));
        }
    };

    let path = lockfile::lock_path(args.lockfile.as_deref(), &config.name);
    lockfile::ensure_run_dir(&path);
    // Read-write (a write lock needs it), never created.
    let Ok(mut file) = OpenOptions::new().read(true).write(true).open(&path) else {
        return Err(fail(NOT_RUNNING, "No PID file."));
    };
    // Taking the lock means nobody holds it; dropping `file` releases it.
    // Any failure other than "held" is treated as "held", as in C.
    if let Ok(true) = try_write_lock(&file) {
        return Err(fail(NOT_RUNNING, "PID file not locked."));
    }
    if let Ok(Some(pid)) = lock_holder(&file) {
        let _ = write!(out, "booth_lockpid={pid} ");
        let _ = out.flush();
    }

    let mut data = Vec::with_capacity(1023);
    if (&mut file).take(1023).read_to_end(&mut data).is_err() || data.len() < 4 {
        return Err(fail(UNKNOWN, "Cannot read lockfile data."));
    }
    drop(file);
    // One line only; C also stops at a NUL byte (it prints a C string).
    if let Some(end) = data.iter().position(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        data.truncate(end);
    }

    // If we can bind the daemon's TCP address, no daemon listens on it.
    // (std sets SO_REUSEADDR like C, so only a listener makes this fail.)
    let sa = SocketAddr::new(local.addr, local.port);
    if TcpListener::bind(sa).is_ok() {
        return Err(fail(NOT_RUNNING, "TCP port not in use."));
    }

    let _ = out.write_all(b"booth_lockfile='");
    let _ = out.write_all(path.as_os_str().as_bytes());
    let _ = out.write_all(b"' ");
    let _ = out.write_all(&data);
    let _ = out.write_all(b"\n");
    if args.explain {
        eprintln!(
            "Booth at {} port {} seems to be running.",
            local.addr_string, local.port
        );
    }
    Ok(())
}
