//! Signals reach the event loop through a self-pipe: the handler only writes
//! the signal number into a non-blocking pipe whose read end is registered
//! with mio, so no decision is ever made in signal context.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use mio::unix::pipe::{Receiver, Sender};

/// Write end of the pipe, for the handler (-1 until installed).
static PIPE_WR: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WR.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one byte on
        // this stack frame. A full pipe just loses a duplicate wake-up.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// The installed handlers and the pipe the loop reads.
pub struct Signals {
    pub rx: Receiver,
    _tx: Sender,
}

impl Signals {
    /// Catches `sigs`, and ignores SIGPIPE (a vanished client must not kill
    /// the daemon; the failed write reports it).
    pub fn install(sigs: &[libc::c_int]) -> io::Result<Signals> {
        let (tx, rx) = mio::unix::pipe::new()?;
        PIPE_WR.store(tx.as_raw_fd(), Ordering::Relaxed);
        for &sig in sigs {
            set_handler(sig, on_signal as *const () as libc::sighandler_t)?;
        }
        set_handler(libc::SIGPIPE, libc::SIG_IGN)?;
        Ok(Signals { rx, _tx: tx })
    }

    /// Signals received since the last call, in order, duplicates merged.
    pub fn drain(&mut self) -> Vec<libc::c_int> {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match self.rx.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        if !got.contains(&(b as libc::c_int)) {
                            got.push(b as libc::c_int);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        got
    }
}

fn set_handler(sig: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid starting point; we set the
    // handler (an extern "C" fn or SIG_IGN), an empty mask and SA_RESTART,
    // and pass valid pointers to sigaction(2).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_signal_arrives_on_the_pipe() {
        let mut s = Signals::install(&[libc::SIGUSR2]).unwrap();
        // SAFETY: raise(3) with a signal whose handler we just installed.
        unsafe {
            libc::raise(libc::SIGUSR2);
            libc::raise(libc::SIGUSR2);
        }
        assert_eq!(s.drain(), vec![libc::SIGUSR2]);
        assert!(s.drain().is_empty());
    }
}
