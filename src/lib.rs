//! booth: a cluster ticket manager for Pacemaker multi-site ("geo") clusters,
//! wire-compatible with ClusterLabs' C booth.
//!
//! Layers, each usable on its own: [`config`] (file to typed values), [`wire`]
//! (bytes to messages, authentication), [`cli`] (command line to a value),
//! [`engine`] (the pure per-ticket protocol state machine), [`daemon`] (the
//! host-facing pieces of the daemon and `boothd status`).

pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod wire;
