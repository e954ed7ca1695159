//! Clients over TCP: accepting (with a per-iteration budget, surviving
//! EMFILE), reading one request, handing it to the engine, writing replies.

use std::io::{self, Read, Write};
use std::time::SystemTime;

use log::{debug, error, warn};
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::{Daemon, TimerKind};
use crate::client::json::OPT_JSON;
use crate::daemon::localtime;
use crate::daemon::timer::{Ms, TimerId};
use crate::engine::ClientId;
use crate::wire::codes::*;
use crate::wire::{self, AuthKey, Cmd, Framing, Header, Request, Rlt, Timestamp};

/// Connections served at once; more are closed at accept.
const MAX_CLIENTS: usize = 64;
/// A client must send its whole request within this time.
const CLIENT_READ_DEADLINE: Ms = 10_000;
/// A connection that sends more than this (a request is at most
/// `wire::MAX_MSG_LEN`, C clients add a few spare bytes) is closed: a
/// client streaming bytes must not keep the loop reading.
const MAX_RECEIVED: usize = 64 * 1024;
/// Connections accepted per loop iteration; more wait for the next one.
pub(super) const ACCEPT_BUDGET: usize = 64;

#[derive(PartialEq, Eq)]
pub(super) enum Phase {
    /// Reading the request.
    Reading,
    /// Request handed to the engine; replies may follow.
    Waiting,
    /// Final reply queued; close once it is written.
    Closing,
}

pub(super) struct Client {
    stream: TcpStream,
    accepted_at: Ms,
    inbuf: Vec<u8>,
    /// Bytes read so far, request and anything after it.
    received: usize,
    /// Reply bytes queued; the first `sent` of them are written. A list
    /// reply at 10,000 tickets is a megabyte that the socket takes in
    /// pieces over several turns of the loop: an offset, not a copy of
    /// the rest after each piece.
    out: Vec<u8>,
    sent: usize,
    phase: Phase,
    deadline: Option<TimerId>,
    writable: bool,
}

impl Daemon {
    /// Accepts up to [`ACCEPT_BUDGET`] connections; if more may wait, the
    /// loop comes back without sleeping (the listener is edge-triggered).
    pub(super) fn on_accept(&mut self) {
        self.accept_more = false;
        if !self.started {
            return;
        }
        for _ in 0..ACCEPT_BUDGET {
            match self.tcp.accept() {
                Ok((stream, peer)) => self.accepted(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_out_of_fds(&e) => {
                    // The connection stays queued and no new edge would
                    // report it. Make room by closing the oldest idle
                    // client and try again; with none, free the spare
                    // descriptor, take the connection and close it, so
                    // the client hears at once.
                    if self.evict_idle_client() {
                        continue;
                    }
                    self.drops.clients_no_fd += 1;
                    warn!("out of file descriptors: closing a new client connection");
                    self.spare_fd = None;
                    let _ = self.tcp.accept();
                    self.spare_fd = std::fs::File::open("/dev/null").ok();
                }
                Err(e) => {
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
        self.accept_more = true;
    }

    fn accepted(&mut self, mut stream: TcpStream, peer: std::net::SocketAddr) {
        if self.clients.len() >= MAX_CLIENTS && !self.evict_idle_client() {
            self.drops.clients_refused += 1;
            warn!("too many client connections, refusing {peer}");
            return;
        }
        let _ = stream.set_nodelay(true);
        let t = self.token();
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut stream, t, Interest::READABLE | Interest::WRITABLE)
        {
            warn!("cannot watch client {peer}: {e}");
            return;
        }
        let now = self.now_ms();
        let timer = self
            .timers
            .insert(now + CLIENT_READ_DEADLINE, TimerKind::ClientDeadline(t));
        self.clients.insert(
            t,
            Client {
                stream,
                accepted_at: now,
                inbuf: Vec::new(),
                received: 0,
                out: Vec::new(),
                sent: 0,
                phase: Phase::Reading,
                deadline: Some(timer),
                writable: false,
            },
        );
    }

    /// Makes room for a new connection by closing the oldest one that has
    /// not yet sent a complete request, so that idle connections cannot lock
    /// administrators out (clients waiting for a grant are kept).
    fn evict_idle_client(&mut self) -> bool {
        let oldest = self
            .clients
            .iter()
            .filter(|(_, c)| c.phase == Phase::Reading)
            .min_by_key(|(t, c)| (c.accepted_at, t.0))
            .map(|(&t, _)| t);
        match oldest {
            Some(t) => {
                debug!("connection table full: closing the oldest idle client");
                self.drops.clients_evicted += 1;
                self.close_client(t);
                true
            }
            None => false,
        }
    }

    pub(super) fn client_deadline(&mut self, t: Token) {
        if let Some(c) = self.clients.get_mut(&t) {
            c.deadline = None;
            if c.phase == Phase::Reading {
                debug!("client sent no complete request in time, closing");
                self.close_client(t);
            }
        }
    }

    pub(super) fn on_client(&mut self, t: Token, readable: bool, writable: bool, error: bool) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        if writable {
            c.writable = true;
        }
        if error {
            self.client_gone(t);
            return;
        }
        if readable {
            let mut gone = false;
            let mut chunk = [0u8; 1024];
            loop {
                match c.stream.read(&mut chunk) {
                    Ok(0) => {
                        // The client will send no more. A complete request is
                        // still served (it may have half-closed, bug 40 of the
                        // C booth); a partial one never completes.
                        if c.phase == Phase::Reading {
                            gone = true;
                        }
                        break;
                    }
                    Ok(n) if c.received + n > MAX_RECEIVED => {
                        debug!("client sent more than {MAX_RECEIVED} bytes, closing");
                        self.drops.clients_oversized += 1;
                        self.client_gone(t);
                        return;
                    }
                    Ok(n) => {
                        c.received += n;
                        // Only the request matters; anything after it (C
                        // clients send 28 spare bytes) is read and dropped.
                        if c.phase == Phase::Reading && c.inbuf.len() < wire::MAX_MSG_LEN {
                            c.inbuf.extend_from_slice(&chunk[..n]);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
            if c.phase == Phase::Reading {
                self.try_request(t);
            }
            let reading = self
                .clients
                .get(&t)
                .is_some_and(|c| c.phase == Phase::Reading);
            if gone && reading {
                self.close_client(t);
                return;
            }
        }
        self.flush_client(t);
    }

    fn try_request(&mut self, t: Token) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        let decoded = wire::decode_request(&c.inbuf, self.key.as_ref());
        let req = match decoded {
            Ok(Framing::Need(_)) => return,
            Ok(Framing::Complete { msg, .. }) => msg,
            Err(wire::DecodeError::Auth(e)) => {
                warn!("client failed to authenticate: {e}");
                let from = c.stream.peer_addr().map(|a| a.ip().to_string());
                self.header_reply(t, RLT_AUTH);
                self.auth_failed(&from.unwrap_or_default(), "client");
                return;
            }
            Err(e) => {
                debug!("bad client request: {e}");
                self.close_client(t);
                return;
            }
        };
        // Requests are processed once (the C daemon may run a buffered
        // grant again on later socket activity, bug 9).
        c.phase = Phase::Waiting;
        if let Some(d) = c.deadline.take() {
            self.timers.cancel(d);
        }
        if let (Some(_), Some(tag)) = (self.key.as_ref(), req.auth.as_ref()) {
            let now = Timestamp::from_system_time(SystemTime::now());
            if let Err(e) = self.client_guard.check(tag, now) {
                warn!("client request refused: {e}");
                self.header_reply(t, RLT_AUTH);
                return;
            }
            if let Some(r) = self.replay.as_mut() {
                r.clients(self.client_guard.newest());
                self.arm_replay_timer();
            }
        }
        self.dispatch(t, req.msg);
    }

    fn dispatch(&mut self, t: Token, req: Request) {
        let clock = self.engine_clock();
        let id = t.0 as ClientId;
        match req {
            Request::Ticket(msg) => match msg.header.cmd {
                // Our addition (client/json.rs): C clients never set the bit.
                CMD_LIST | CMD_PEERS if msg.header.options & OPT_JSON != 0 => {
                    let doc = if msg.header.cmd == CMD_LIST {
                        self.list_json(clock)
                    } else {
                        self.peers_json().render()
                    };
                    self.text_reply(t, CL_LIST, doc.as_bytes());
                }
                CMD_LIST => {
                    let mut text = String::new();
                    self.core
                        .engine()
                        .write_list(clock, &localtime::datetime, &mut text);
                    self.text_reply(t, CL_LIST, text.as_bytes());
                }
                CMD_PEERS => {
                    let text = self.peers_text();
                    self.text_reply(t, CL_LIST, text.as_bytes());
                }
                CMD_GRANT | CMD_REVOKE => {
                    let h = &msg.header;
                    self.core
                        .handle_client(clock, id, h.cmd, h.options, &msg.body.name);
                }
                _ => self.header_reply(t, RLT_INVALID_ARG),
            },
            Request::Attr { msg, strings_ok } => {
                let b = &msg.body;
                let cmd = msg.header.cmd;
                let r = match cmd {
                    ATTR_LIST => self
                        .core
                        .engine()
                        .attr_list(&b.ticket, &localtime::datetime)
                        .map(Some),
                    ATTR_GET => self
                        .core
                        .engine()
                        .attr_get(&b.ticket, &b.name)
                        .map(|v| Some(v + "\n")),
                    ATTR_SET if !strings_ok => {
                        warn!("attribute not stored: name or value not valid text");
                        Err(RLT_SYNC_FAIL)
                    }
                    ATTR_SET => self
                        .core
                        .attr_set(clock, &b.ticket, &b.name, &b.value)
                        .map(|_| None),
                    ATTR_DEL => self
                        .core
                        .attr_delete(clock, &b.ticket, &b.name)
                        .map(|_| None),
                    _ => Err(RLT_INVALID_ARG),
                };
                match r {
                    Ok(Some(text)) => self.text_reply(t, cmd, text.as_bytes()),
                    Ok(None) => self.header_reply(t, RLT_SUCCESS),
                    Err(code) => self.header_reply(t, code),
                }
            }
            Request::Other(_) => self.header_reply(t, RLT_INVALID_ARG),
        }
    }

    pub(super) fn sign(&self) -> Option<(&AuthKey, Timestamp)> {
        self.key
            .as_ref()
            .map(|k| (k, Timestamp::from_system_time(SystemTime::now())))
    }

    fn result_header(&self, cmd: Cmd, result: Rlt) -> Header {
        let mut h = Header::new(cmd, self.cfg.members[self.me].site_id);
        h.result = result;
        h
    }

    fn header_reply(&mut self, t: Token, result: Rlt) {
        let h = self.result_header(CL_RESULT, result);
        let bytes = wire::encode_header_only(&h, self.sign());
        self.reply_bytes(t, bytes, true);
    }

    fn text_reply(&mut self, t: Token, cmd: Cmd, text: &[u8]) {
        let h = self.result_header(cmd, RLT_SUCCESS);
        match wire::encode_text_reply(&h, text, self.sign()) {
            Ok(bytes) => self.reply_bytes(t, bytes, true),
            Err(e) => {
                error!("cannot encode a reply: {e}");
                self.close_client(t);
            }
        }
    }

    /// The core's reply to a grant/revoke client (a success reply comes
    /// once the CIB has the write it reports, as with the C daemon).
    pub(super) fn engine_reply(&mut self, client: ClientId, msg: &wire::TicketMsg, last: bool) {
        match wire::encode_ticket_msg(msg, self.sign()) {
            Ok(bytes) => self.reply_bytes(Token(client as usize), bytes, last),
            Err(e) => error!("cannot encode a reply: {e}"),
        }
    }

    fn reply_bytes(&mut self, t: Token, bytes: Vec<u8>, last: bool) {
        // A large reply (`list` of thousands of tickets) leaves freed
        // blocks behind like a burst of datagrams: 64 KiB count as 1,024
        // datagrams (`trim_after_burst`).
        self.burst += bytes.len() / 64;
        if let Some(c) = self.clients.get_mut(&t) {
            if c.out.is_empty() {
                c.out = bytes;
            } else {
                c.out.extend_from_slice(&bytes);
            }
            if last {
                c.phase = Phase::Closing;
            } else if c.phase == Phase::Reading {
                c.phase = Phase::Waiting;
            }
            self.flush_client(t);
        }
    }

    fn flush_client(&mut self, t: Token) {
        let Some(c) = self.clients.get_mut(&t) else {
            return;
        };
        while c.sent < c.out.len() && c.writable {
            match c.stream.write(&c.out[c.sent..]) {
                Ok(0) => break,
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.writable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.client_gone(t);
                    return;
                }
            }
        }
        if c.sent == c.out.len() {
            // All written: free a large reply now, not when the client
            // goes.
            c.out = Vec::new();
            c.sent = 0;
            if c.phase == Phase::Closing {
                self.close_client(t);
            }
        }
    }

    /// The peer went away: forget any request it was waiting on.
    fn client_gone(&mut self, t: Token) {
        self.core.client_gone(t.0 as ClientId);
        self.close_client(t);
    }

    fn close_client(&mut self, t: Token) {
        if let Some(mut c) = self.clients.remove(&t) {
            if let Some(d) = c.deadline.take() {
                self.timers.cancel(d);
            }
            let _ = self.poll.registry().deregister(&mut c.stream);
            if c.phase == Phase::Waiting {
                self.core.client_gone(t.0 as ClientId);
            }
        }
    }
}

/// EMFILE (this process) or ENFILE (the system): no descriptor left.
fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}
