//! Child processes (`crm_ticket`, before-acquire-handlers) run without a
//! shell, with stdout and stderr on non-blocking pipes registered in the
//! loop, so that a slow child never stalls it. The loop reaps them on
//! SIGCHLD or when their pipes close, and kills those past their deadline.

use std::collections::HashMap;
use std::io::{self, Read};
use std::process::{Child, Command, ExitStatus, Stdio};

use mio::{Interest, Registry, Token};

use mio::unix::pipe::Receiver;

/// Bytes of output kept per stream (the rest is counted, not stored).
const MAX_OUTPUT: usize = 16 * 1024;

pub type ChildId = u64;

/// A running child and what it has printed so far.
pub struct Running<P> {
    pub purpose: P,
    pub program: String,
    child: Child,
    out: Option<(Token, Receiver)>,
    err: Option<(Token, Receiver)>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub killed: bool,
    /// Bytes of stdout kept (see [`Children::set_stdout_limit`]).
    stdout_limit: usize,
    /// Stdout went beyond the limit.
    truncated: bool,
}

/// A child that has exited.
pub struct Finished<P> {
    pub id: ChildId,
    pub purpose: P,
    pub program: String,
    pub status: ExitStatus,
    pub killed: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// More stdout came than was kept.
    pub truncated: bool,
}

impl<P> Finished<P> {
    /// Exit code, or 128 + signal number, as the C booth reports it.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }

    pub fn success(&self) -> bool {
        !self.killed && self.status.success()
    }
}

/// All running children, keyed by id; pipe tokens map back to their child.
pub struct Children<P> {
    running: HashMap<ChildId, Running<P>>,
    tokens: HashMap<Token, ChildId>,
    next: ChildId,
}

impl<P> Default for Children<P> {
    fn default() -> Self {
        Children {
            running: HashMap::new(),
            tokens: HashMap::new(),
            next: 1,
        }
    }
}

impl<P> Children<P> {
    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    pub fn owns(&self, token: Token) -> bool {
        self.tokens.contains_key(&token)
    }

    pub fn get(&self, id: ChildId) -> Option<&Running<P>> {
        self.running.get(&id)
    }

    /// Children whose purpose matches.
    pub fn find(&self, pred: impl Fn(&P) -> bool) -> Vec<ChildId> {
        self.running
            .iter()
            .filter(|(_, r)| pred(&r.purpose))
            .map(|(&id, _)| id)
            .collect()
    }

    /// Starts `program` with `args` (and extra environment); `tokens` gives
    /// two fresh tokens for its stdout and stderr. On failure the purpose
    /// is handed back with the error.
    pub fn spawn(
        &mut self,
        registry: &Registry,
        program: &str,
        args: &[String],
        env: &[(String, String)],
        purpose: P,
        tokens: (Token, Token),
    ) -> Result<ChildId, (io::Error, P)> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Err((e, purpose)),
        };
        let id = self.next;
        self.next += 1;
        // From here on the child runs: it is kept (and reaped) whatever
        // happens to its pipes; a pipe we cannot watch is dropped.
        let watch = |pipe: Option<Receiver>, token: Token| {
            let mut rx = pipe?;
            rx.set_nonblocking(true).ok()?;
            registry.register(&mut rx, token, Interest::READABLE).ok()?;
            Some((token, rx))
        };
        let out = watch(child.stdout.take().map(Receiver::from), tokens.0);
        let err = watch(child.stderr.take().map(Receiver::from), tokens.1);
        for (t, _) in out.iter().chain(err.iter()) {
            self.tokens.insert(*t, id);
        }
        self.running.insert(
            id,
            Running {
                purpose,
                program: program.to_string(),
                child,
                out,
                err,
                stdout: Vec::new(),
                stderr: Vec::new(),
                killed: false,
                stdout_limit: MAX_OUTPUT,
                truncated: false,
            },
        );
        Ok(id)
    }

    /// Keeps up to `limit` bytes of a child's stdout (for output that is
    /// data, like all ticket states at start-up) instead of the default.
    pub fn set_stdout_limit(&mut self, id: ChildId, limit: usize) {
        if let Some(r) = self.running.get_mut(&id) {
            r.stdout_limit = limit;
        }
    }

    /// Reads what a child's pipe has; returns the child if both pipes are
    /// now closed (it has probably exited: reap it).
    pub fn on_readable(&mut self, registry: &Registry, token: Token) -> Option<ChildId> {
        let id = *self.tokens.get(&token)?;
        let r = self.running.get_mut(&id)?;
        let is_out = r.out.as_ref().is_some_and(|(t, _)| *t == token);
        let (slot, buf, limit) = if is_out {
            (&mut r.out, &mut r.stdout, r.stdout_limit)
        } else {
            (&mut r.err, &mut r.stderr, MAX_OUTPUT)
        };
        let mut over = false;
        let mut closed = false;
        if let Some((_, rx)) = slot.as_mut() {
            let mut chunk = [0u8; 4096];
            loop {
                match rx.read(&mut chunk) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        let room = limit.saturating_sub(buf.len());
                        over |= n > room;
                        buf.extend_from_slice(&chunk[..n.min(room)]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        if closed {
            if let Some((t, mut rx)) = slot.take() {
                let _ = registry.deregister(&mut rx);
                self.tokens.remove(&t);
            }
        }
        if over && is_out {
            r.truncated = true;
        }
        (r.out.is_none() && r.err.is_none()).then_some(id)
    }

    /// Sends SIGKILL to a child (deadline passed, or its result no longer
    /// matters); it is reaped as usual.
    pub fn kill(&mut self, id: ChildId) {
        if let Some(r) = self.running.get_mut(&id) {
            r.killed = true;
            let _ = r.child.kill();
        }
    }

    /// Collects every child that has exited, without blocking.
    pub fn reap(&mut self, registry: &Registry) -> Vec<Finished<P>> {
        let done: Vec<(ChildId, ExitStatus)> = self
            .running
            .iter_mut()
            .filter_map(|(&id, r)| r.child.try_wait().ok().flatten().map(|s| (id, s)))
            .collect();
        let mut out = Vec::new();
        for (id, status) in done {
            // Pick up output written just before exit.
            for t in [
                self.running[&id].out.as_ref().map(|x| x.0),
                self.running[&id].err.as_ref().map(|x| x.0),
            ]
            .into_iter()
            .flatten()
            {
                self.on_readable(registry, t);
            }
            let mut r = self.running.remove(&id).expect("present");
            for (t, mut rx) in [r.out.take(), r.err.take()].into_iter().flatten() {
                let _ = registry.deregister(&mut rx);
                self.tokens.remove(&t);
            }
            out.push(Finished {
                id,
                purpose: r.purpose,
                program: r.program,
                status,
                killed: r.killed,
                stdout: r.stdout,
                stderr: r.stderr,
                truncated: r.truncated,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::time::Duration;

    fn wait_all(poll: &mut Poll, ch: &mut Children<u32>) -> Vec<Finished<u32>> {
        let mut events = Events::with_capacity(16);
        let mut done = Vec::new();
        for _ in 0..500 {
            // Other tests in this process may install signal handlers
            // (SIGCHLD): an interrupted wait is just a shorter one.
            match poll.poll(&mut events, Some(Duration::from_millis(20))) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r.unwrap(),
            }
            for e in events.iter() {
                ch.on_readable(poll.registry(), e.token());
            }
            done.extend(ch.reap(poll.registry()));
            if ch.is_empty() {
                break;
            }
        }
        done
    }

    #[test]
    fn runs_without_a_shell_and_collects_output() {
        let mut poll = Poll::new().unwrap();
        let mut ch: Children<u32> = Children::default();
        let id = ch
            .spawn(
                poll.registry(),
                "/bin/echo",
                &["$(id)".into(), "a b".into()],
                &[("BOOTH_TICKET".into(), "T".into())],
                7,
                (Token(10), Token(11)),
            )
            .unwrap();
        let done = wait_all(&mut poll, &mut ch);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].id, id);
        assert_eq!(done[0].purpose, 7);
        assert!(done[0].success());
        assert_eq!(
            done[0].stdout, b"$(id) a b\n",
            "arguments reach it literally"
        );
    }

    #[test]
    fn exit_codes_and_kills() {
        let mut poll = Poll::new().unwrap();
        let mut ch: Children<u32> = Children::default();
        ch.spawn(
            poll.registry(),
            "/bin/sh",
            &["-c".into(), "echo oops >&2; exit 3".into()],
            &[],
            1,
            (Token(1), Token(2)),
        )
        .unwrap();
        let slow = ch
            .spawn(
                poll.registry(),
                "/bin/sleep",
                &["30".into()],
                &[],
                2,
                (Token(3), Token(4)),
            )
            .unwrap();
        ch.kill(slow);
        let mut done = wait_all(&mut poll, &mut ch);
        done.sort_by_key(|f| f.purpose);
        assert_eq!(done[0].code(), 3);
        assert_eq!(done[0].stderr, b"oops\n");
        assert!(done[1].killed && !done[1].success());
        assert_eq!(done[1].code(), 128 + 9);
        assert!(ch
            .spawn(
                poll.registry(),
                "/nonexistent/prog",
                &[],
                &[],
                3,
                (Token(5), Token(6))
            )
            .is_err());
    }
}
