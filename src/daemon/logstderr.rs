//! Log lines on standard error without blocking the event loop, and the
//! journal's priority prefixes when standard error is the journal.
//!
//! Standard error is shared with whoever started us (a terminal, a pipe,
//! systemd's journal stream), so its file status flags are not ours to
//! change. Instead each write is one that cannot wait: on a socket (the
//! journal stream) `send(MSG_DONTWAIT)`, on a pipe only when the pipe has
//! room for the line, anything else (terminal, file, /dev/null) a plain
//! write. A line that cannot be written now is dropped and counted.

use std::io;

/// The journal's stream, as systemd announces it in `JOURNAL_STREAM`
/// ("<device>:<inode>" of the socket it connected to our stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalStream {
    pub dev: u64,
    pub ino: u64,
}

impl JournalStream {
    /// Parses `JOURNAL_STREAM`'s value.
    pub fn parse(value: &str) -> Option<JournalStream> {
        let (dev, ino) = value.split_once(':')?;
        Some(JournalStream {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
        })
    }

    /// From the environment, if systemd set it.
    pub fn from_env() -> Option<JournalStream> {
        JournalStream::parse(&std::env::var("JOURNAL_STREAM").ok()?)
    }
}

/// What kind of file standard error is, and whether it is the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Socket,
    Pipe,
    /// /dev/null: writing there loses the line.
    Null,
    Other,
}

/// fstat(2) of standard error.
fn stat_stderr() -> io::Result<libc::stat> {
    // SAFETY: fstat(2) fills the zeroed stat buffer we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(2, &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

/// The kind of standard error now, and whether it is `journal`'s stream
/// (sd-daemon(3): compare the device and inode of fd 2).
pub fn probe(journal: Option<JournalStream>) -> io::Result<(Kind, bool)> {
    let st = stat_stderr()?;
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => Kind::Socket,
        libc::S_IFIFO => Kind::Pipe,
        libc::S_IFCHR if st.st_rdev == libc::makedev(1, 3) => Kind::Null,
        _ => Kind::Other,
    };
    let is_journal =
        journal.is_some_and(|j| j.dev == st.st_dev as u64 && j.ino == st.st_ino as u64);
    Ok((kind, is_journal))
}

/// Writes all of `line` to standard error, or nothing if that could wait.
/// A socket may take part of a line: the rest is returned to be written
/// first next time (so that lines are never interleaved).
pub fn write_line(kind: Kind, line: &[u8]) -> io::Result<usize> {
    match kind {
        Kind::Socket => {
            // SAFETY: send(2) reads `line.len()` bytes from a valid slice.
            let n = unsafe {
                libc::send(
                    2,
                    line.as_ptr().cast(),
                    line.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }
        Kind::Pipe => {
            if !pipe_has_room(line.len()) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            write_all(line)
        }
        Kind::Null | Kind::Other => write_all(line),
    }
}

fn write_all(line: &[u8]) -> io::Result<usize> {
    use std::io::Write;
    std::io::stderr().lock().write_all(line)?;
    Ok(line.len())
}

/// Whether a write of `len` bytes to the pipe on fd 2 completes at once:
/// the pipe's free space (its size less what is queued, less a page for the
/// buffer the last write may have left partly used) holds the line.
fn pipe_has_room(len: usize) -> bool {
    // SAFETY: fcntl(2) F_GETPIPE_SZ takes no argument.
    let size = unsafe { libc::fcntl(2, libc::F_GETPIPE_SZ) };
    let mut queued: libc::c_int = 0;
    // SAFETY: ioctl(2) FIONREAD writes one int into `queued`, which we own.
    let rc = unsafe { libc::ioctl(2, libc::FIONREAD, &mut queued) };
    if size <= 0 || rc != 0 {
        return false;
    }
    const PAGE: usize = 4096;
    let free = (size as usize).saturating_sub(queued.max(0) as usize);
    free >= len + PAGE
}

/// sd-daemon(3) priority of a line: err 3, warning 4, info 6, debug 7.
pub fn journal_line(priority: u8, msg: &str) -> String {
    let mut out = String::with_capacity(msg.len() + 4);
    for l in msg.split('\n') {
        out.push_str(&format!("<{priority}>{l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_journal_stream() {
        assert_eq!(
            JournalStream::parse("8:12345"),
            Some(JournalStream { dev: 8, ino: 12345 })
        );
        assert_eq!(JournalStream::parse("8"), None);
        assert_eq!(JournalStream::parse("x:1"), None);
    }

    #[test]
    fn every_line_carries_the_priority() {
        assert_eq!(journal_line(4, "a"), "<4>a\n");
        assert_eq!(journal_line(3, "a\nb"), "<3>a\n<3>b\n");
    }
}
