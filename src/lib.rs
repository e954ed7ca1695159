//! booth: a cluster ticket manager for Pacemaker multi-site ("geo") clusters,
//! wire-compatible with ClusterLabs' C booth.
//!
//! Layers, each usable on its own: [`config`] (file to typed values), [`wire`]
//! (bytes to messages, authentication), [`cli`] (command line to a value),
//! [`engine`] (the pure per-ticket protocol state machine), [`client`] (the
//! `booth` and `geostore` clients).

pub mod cli;
pub mod client;
pub mod config;
pub mod engine;
pub mod wire;
