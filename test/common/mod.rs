//! Helpers shared by the tests that run the real `boothd` binary.

// Each test crate includes this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `boothd` under test: the one cargo built for this run, or the one
/// named by BOOTH_BIN when these tests were compiled (`make check-static`
/// points it at the static musl build). Read at compile time so that it
/// stays a constant; cargo rebuilds the test crates when it changes.
pub const BIN: &str = match option_env!("BOOTH_BIN") {
    Some(bin) => bin,
    None => env!("CARGO_BIN_EXE_boothd"),
};

pub fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .expect("boothd runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// A fresh directory under the system temp directory, removed when
/// dropped. The name holds the tag, the process id and a counter, so tests
/// running in parallel (in one process or several) never share one.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("booth-{tag}-{}-{seq}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
