//! Helpers of the tests of the shipped files (test/eco.rs,
//! test/install_layout.rs, test/packaging.rs): the source tree, optional
//! tools, commands with a time limit, `make` and directory listings.

// Each test crate includes this module and uses only part of it.
#![allow(dead_code)]

pub mod cluster;

use super::common::{assert_success, BIN};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SRC: &str = env!("CARGO_MANIFEST_DIR");

pub fn src(rel: &str) -> PathBuf {
    Path::new(SRC).join(rel)
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// Skips (returns true) when a tool is missing; in CI that is a failure if
/// `required_in_ci`.
pub fn missing(tool: &str, test: &str, required_in_ci: bool) -> bool {
    if have(tool) {
        return false;
    }
    assert!(
        !(required_in_ci && in_ci()),
        "{tool} is not installed, but CI must run {test}"
    );
    eprintln!("SKIPPED {test}: {tool} is not installed");
    true
}

/// Runs a command, killing it after `limit` so a hanging script cannot
/// stall the suite.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("command starts");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every non-directory below `root`, relative, sorted; symlinks marked
/// with their target.
pub fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let meta = fs::symlink_metadata(&p).expect("lstat");
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if meta.file_type().is_symlink() {
                let to = fs::read_link(&p).unwrap();
                out.push(format!("{rel} -> {}", to.display()));
            } else if meta.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(format!("{rel} {:o}", meta.permissions().mode() & 0o7777));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// `make install` of the `boothd` under test into DESTDIR `dest`, with
/// these more variables (directories, RCLINK, ...).
pub fn make_install(dest: &Path, vars: &[&str]) -> Output {
    make_in_destdir(
        "install",
        dest,
        &[&[&format!("BIN={BIN}"), "INSTALL_BUILD="], vars].concat(),
    )
}

/// `make uninstall` from DESTDIR `dest`, with these more variables.
pub fn make_uninstall(dest: &Path, vars: &[&str]) -> Output {
    make_in_destdir("uninstall", dest, vars)
}

fn make_in_destdir(target: &str, dest: &Path, vars: &[&str]) -> Output {
    let destdir = format!("DESTDIR={}", dest.display());
    make(&[&[target, &destdir], vars].concat())
}

pub fn make(args: &[&str]) -> Output {
    let out = run_limited(
        Command::new("make").current_dir(SRC).arg("-s").args(args),
        Duration::from_secs(60),
    );
    assert_success(&out, &format!("make {args:?}"));
    out
}
