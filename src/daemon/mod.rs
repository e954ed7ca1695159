//! The daemon runtime: one thread, a mio loop, a timer wheel, child
//! processes on pipes — and its building blocks that touch the host: which
//! configured member this host is ([`addr`]), the lock/PID file
//! ([`lockfile`]) and the replay marks kept next to it ([`replaymarks`]), the
//! run-as user and group ([`privs`]) and `boothd status` ([`status`]).
//!
//! These are the only places in the crate that call the C library directly;
//! every `unsafe` block is a single FFI call (or a read of the memory such a
//! call handed us) and must say why it is sound.
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod addr;
pub mod alerts;
pub mod children;
pub mod dump;
pub mod localtime;
pub mod lockfile;
pub mod logging;
pub mod lograte;
pub mod logstderr;
pub mod memlock;
pub mod privs;
pub mod promises;
pub mod replaymarks;
pub mod runtime;
pub mod signals;
pub mod start;
pub mod status;
pub mod syslog;
pub mod timer;

/// A daemon that wakes up this much later than its next deadline (ms) was
/// stopped or starved, and discards the datagrams queued meanwhile.
pub const PAUSE_DISCARD_MS: u64 = 1000;
