//! The daemon runtime: one thread, a mio loop, a timer wheel, child
//! processes on pipes.

pub mod timer;
