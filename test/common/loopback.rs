//! The loopback cluster (`common::cluster`) and the helpers it uses, for
//! crates that include this file on its own
//! (`#[path = "common/loopback.rs"] mod loopback;`). New crates write
//! `mod common;` and use `common::cluster`.

#[path = "mod.rs"]
mod common;

#[allow(unused_imports)]
pub use common::cluster::*;
#[allow(unused_imports)]
pub use common::{addr, free_port, wait_for, wait_output, write_script, BIN};
