//! Helpers of test/packaging.rs: a private mount namespace to run
//! commands in, and daemons stopped however a test ends.

use super::run_limited;
use crate::common::describe;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private mount namespace, held open by a sleeping process; commands
/// run in it through nsenter. Mounts made there are invisible outside.
pub struct MountNs {
    holder: Child,
}

impl MountNs {
    pub fn new() -> MountNs {
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sleep", "3600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare runs");
        let ns = MountNs { holder };
        // unshare(1) enters the new namespace before it runs sleep.
        let own = fs::read_link("/proc/self/ns/mnt").unwrap();
        let t0 = Instant::now();
        while fs::read_link(format!("/proc/{}/ns/mnt", ns.pid())).ok() == Some(own.clone()) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "unshare --mount did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        ns
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `prog` to be run inside the namespace.
    pub fn command(&self, prog: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["--target", &self.pid().to_string(), "--mount", "--", prog]);
        c
    }

    /// Runs a shell script inside the namespace; it must succeed.
    pub fn sh(&self, script: &str) {
        let out = run_limited(
            self.command("sh").args(["-ec", script]),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{script}:\n{}", describe(&out));
    }

    /// A path as processes in the namespace see it. /var/run is usually
    /// an absolute link to /run, which would lead out of the namespace's
    /// view, so it is resolved here.
    pub fn path(&self, p: &str) -> PathBuf {
        let p = match (p.strip_prefix("/var/run/"), fs::read_link("/var/run")) {
            (Some(rest), Ok(to)) if to == Path::new("/run") => format!("/run/{rest}"),
            _ => p.to_string(),
        };
        PathBuf::from(format!("/proc/{}/root{p}", self.pid()))
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The daemons a test started (detached, so known by pid): stopped with
/// SIGTERM, then SIGKILL, however the test ends.
pub struct Daemons(pub Vec<i32>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill on a pid this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let t0 = Instant::now();
        for &pid in &self.0 {
            // SAFETY: signal 0 only checks whether the process exists.
            while unsafe { libc::kill(pid, 0) } == 0 && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}
