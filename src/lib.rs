//! booth: a cluster ticket manager for Pacemaker multi-site ("geo") clusters,
//! wire-compatible with ClusterLabs' C booth.
//!
//! Layers, each usable on its own: [`config`] (file to typed values), [`wire`]
//! (bytes to messages, authentication), [`cli`] (command line to a value),
//! [`engine`] (the pure per-ticket protocol state machine), [`daemon`] (the
//! runtime and the host-facing pieces, `boothd status`), [`client`] (the
//! `booth` and `geostore` clients), [`cib`] (where sites record tickets).
//! [`check`] is the `config-check` command built on the config layer.
//! [`namemap`]: the tables kept per ticket name.
//! [`logline`]: log lines that carry their ticket (its macros come first,
//! for every module after it).

#[macro_use]
pub mod logline;

pub mod check;
pub mod cib;
pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod daemon;
pub mod engine;
pub mod mc;
pub mod namemap;
pub mod sim;
pub mod sort;
pub mod wire;
