//! One TCP connection from a client to a daemon: connect with a timeout,
//! write one request, read replies framed by their `length` field and check
//! their authentication.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use crate::config::{strerror, Member};
use crate::wire::{
    decode_reply, AuthError, AuthKey, DecodeError, Framing, Header, ReplayGuard, Reply, Timestamp,
    HEADER_LEN,
};

/// Why no usable reply was read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection ended or failed before a whole reply arrived.
    /// `header` is the reply header if it had arrived.
    Broken {
        message: String,
        header: Option<Header>,
    },
    /// Nothing (more) arrived within the read timeout.
    TimedOut { header: Option<Header> },
    /// A whole reply arrived but its MAC or timestamp is not acceptable.
    Auth { header: Header, error: AuthError },
    /// The bytes are not a booth reply (bad magic, version, length or
    /// command).
    Invalid { error: DecodeError },
}

impl ReadError {
    /// The header of the failed reply, if it was received.
    pub fn header(&self) -> Option<&Header> {
        match self {
            ReadError::Broken { header, .. } | ReadError::TimedOut { header } => header.as_ref(),
            ReadError::Auth { header, .. } => Some(header),
            ReadError::Invalid { .. } => None,
        }
    }
}

/// A connected client socket.
pub struct Conn<'k> {
    stream: TcpStream,
    /// The daemon's configured address string, for messages.
    peer: String,
    key: Option<&'k AuthKey>,
    /// Replay protection for this connection's replies.
    guard: ReplayGuard,
    /// Bytes received but not yet consumed by a complete reply.
    buf: Vec<u8>,
}

impl<'k> Conn<'k> {
    /// Connects to `member` at `port`. Errors are the C client's messages.
    ///
    /// `read_timeout`: how long to wait for each reply (`None`: forever).
    pub fn open(
        member: &Member,
        port: u16,
        connect_timeout: Duration,
        read_timeout: Option<Duration>,
        key: Option<&'k AuthKey>,
        max_time_skew: u32,
    ) -> Result<Conn<'k>, String> {
        let peer = member.addr_string.clone();
        let addr = SocketAddr::new(member.addr, port);
        let stream = TcpStream::connect_timeout(&addr, connect_timeout).map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut {
                format!("connect to {peer} got a timeout")
            } else {
                format!("connect to {peer} got an error: {}", strerror(&e))
            }
        })?;
        // Replies are small and the daemon waits for the whole request.
        let setup = stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(read_timeout))
            // A request is far smaller than any socket buffer; this only
            // bounds a write to a peer that stopped reading.
            .and_then(|()| stream.set_write_timeout(Some(connect_timeout)));
        setup.map_err(|e| format!("cannot set up connection to {peer}: {}", strerror(&e)))?;
        Ok(Conn {
            stream,
            peer,
            key,
            guard: ReplayGuard::new(max_time_skew),
            buf: Vec::new(),
        })
    }

    /// The daemon's address string.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Writes the whole request. The sending side stays open: the C daemon
    /// drops a connection on EOF even if the request had fully arrived.
    pub fn send(&mut self, request: &[u8]) -> Result<(), String> {
        self.stream.write_all(request).map_err(|e| {
            format!(
                "send failed: {} ({})",
                strerror(&e),
                e.raw_os_error().unwrap_or(0)
            )
        })
    }

    /// Reads the next reply.
    ///
    /// Replies are framed by their `length` field, so header-only results
    /// (48 or 76 bytes) and replies from a daemon whose authentication
    /// setting differs from ours are read whole. With a key, the MAC and
    /// then the timestamp (window and replay, per connection) are checked.
    pub fn read_reply(&mut self) -> Result<Reply, ReadError> {
        loop {
            match decode_reply(&self.buf, self.key) {
                Ok(Framing::Need(n)) => self.fill(n)?,
                Ok(Framing::Complete { msg, consumed }) => {
                    let header = *msg.msg.header();
                    self.buf.drain(..consumed);
                    if let Some(tag) = msg.auth {
                        let now = Timestamp::from_system_time(SystemTime::now());
                        if let Err(error) = self.guard.check(&tag, now) {
                            return Err(ReadError::Auth { header, error });
                        }
                    }
                    return Ok(msg.msg);
                }
                Err(DecodeError::Auth(error)) => {
                    return Err(ReadError::Auth {
                        // The header was decoded before the trailer was checked.
                        header: self.header().unwrap_or_default(),
                        error,
                    });
                }
                Err(error) => return Err(ReadError::Invalid { error }),
            }
        }
    }

    fn header(&self) -> Option<Header> {
        if self.buf.len() >= HEADER_LEN {
            Header::decode(&self.buf).ok()
        } else {
            None
        }
    }

    /// Reads at least one more byte (up to `wanted`, more if available).
    fn fill(&mut self, wanted: usize) -> Result<(), ReadError> {
        let mut chunk = vec![0u8; wanted.clamp(1, 64 * 1024)];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(ReadError::Broken {
                        message: format!("read failed: connection closed by {}", self.peer),
                        header: self.header(),
                    })
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ReadError::TimedOut {
                        header: self.header(),
                    })
                }
                Err(e) => {
                    return Err(ReadError::Broken {
                        message: format!(
                            "read failed ({}): {}",
                            e.raw_os_error().unwrap_or(0),
                            strerror(&e)
                        ),
                        header: self.header(),
                    })
                }
            }
        }
    }
}
