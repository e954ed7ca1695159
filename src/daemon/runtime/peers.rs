//! Peers over UDP: receiving (with a per-iteration budget), checking and
//! handing datagrams to the engine, sending its messages, and the counters
//! `booth peers` shows.

use std::io;
use std::net::SocketAddr;
use std::time::SystemTime;

use log::{debug, error, warn};
use mio::Interest;

use super::{Daemon, TimerKind, UDP};
use crate::daemon::localtime;
use crate::engine::Dropped;
use crate::wire::codes::{OP_HEARTBEAT, OP_UPDATE};
use crate::wire::{self, AuthCheck, PeerCounter, Timestamp};

/// Datagrams handled per loop iteration; more wait for the next one, so
/// that a flood cannot starve timers, clients and children.
pub(super) const UDP_BUDGET: usize = 256;

/// How long the socket goes unwatched after a wave of heartbeats or
/// updates left (ms): their acknowledgements come back within about a
/// round trip, and reading them as they trickle in would cost a wake-up
/// for every datagram or two. They are read together once this has
/// passed: one wake-up for the whole wave. Clients (TCP), children and
/// timers are served meanwhile; a peer's message waits at most this long.
pub(super) const GATHER_MS: u64 = 20;
/// The receive buffer asked for, so that a wave of a thousand tickets can
/// be gathered (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER: libc::c_int = 2 << 20;
/// Datagrams sent in one iteration after which freed memory is handed
/// back to the system (`trim_after_burst`).
const TRIM_BURST: usize = 1024;
/// How long after the last burst the heap is trimmed once more: what a
/// burst sets going (the state directory's store, the writes' answers,
/// the log lines held back) is freed over the following seconds.
const TRIM_AGAIN_MS: u64 = 5_000;
/// Room a small datagram takes in the receive buffer, at most (the kernel
/// counts its whole allocation; booth's datagrams are under 1 kB).
const DATAGRAM_ROOM: usize = 2048;

#[derive(Default)]
pub(super) struct PeerStats {
    pub(super) sent: u64,
    pub(super) sent_err: u64,
    pub(super) resends: u64,
    pub(super) recv: u64,
    pub(super) recv_err: u64,
    pub(super) authfail: u64,
    pub(super) invalid: u64,
    /// Unix seconds (0: never).
    pub(super) last_recv: i64,
}

/// What the daemon dropped for lack of room or time, shown by `booth
/// peers` once anything was.
#[derive(Default)]
pub(super) struct Drops {
    /// Datagrams discarded after the process was paused.
    pub stale_datagrams: u64,
    /// Datagrams from unknown senders or not booth messages.
    pub foreign_datagrams: u64,
    /// Connections closed at once: connection table full.
    pub clients_refused: u64,
    /// Connections closed at once: no file descriptor left.
    pub clients_no_fd: u64,
    /// Idle connections closed to make room.
    pub clients_evicted: u64,
    /// Connections closed for sending far more than a request.
    pub clients_oversized: u64,
}

impl Drops {
    fn any(&self) -> bool {
        self.stale_datagrams
            + self.foreign_datagrams
            + self.clients_refused
            + self.clients_no_fd
            + self.clients_evicted
            + self.clients_oversized
            > 0
    }
}

impl Daemon {
    /// We woke up long after our deadline (the process was stopped or
    /// starved): whatever queued in the socket meanwhile is stale, and an
    /// old acknowledgement could be taken for an answer to a heartbeat we
    /// are about to send. Dropping it is no worse than losing it on the
    /// network.
    pub(super) fn discard_queued_datagrams(&mut self, late_ms: u64) {
        if !self.started {
            return;
        }
        let mut buf = [0u8; 2048];
        let mut n = 0;
        loop {
            match self.udp.recv_from(&mut buf) {
                Ok(_) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        self.drops.stale_datagrams += n;
        self.udp_more = false;
        warn!("woke up {late_ms}ms late (paused?): discarded {n} queued datagrams");
    }

    /// Reads up to [`UDP_BUDGET`] datagrams; if more may wait, the loop
    /// comes back without sleeping.
    pub(super) fn on_udp(&mut self) {
        self.udp_more = false;
        if !self.started {
            return;
        }
        let mut buf = [0u8; 2048];
        for _ in 0..UDP_BUDGET {
            match self.udp.recv_from(&mut buf) {
                Ok((n, src)) => {
                    let data = buf[..n].to_vec();
                    self.on_datagram(&data, src);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("UDP receive failed: {e}");
                    return;
                }
            }
        }
        self.udp_more = true;
    }

    fn on_datagram(&mut self, data: &[u8], src: SocketAddr) {
        let Some(from_id) = wire::peek_from(data) else {
            debug!("datagram of {} bytes from {src} ignored", data.len());
            self.drops.foreign_datagrams += 1;
            return;
        };
        let Some(m) = self.cfg.member_by_id(from_id).map(|m| m.index) else {
            self.drops.foreign_datagrams += 1;
            warn!("unknown sender: {from_id:08x} (real: {})", src.ip());
            return;
        };
        if m == self.me {
            warn!("datagram from {src} claims to be from ourselves, dropped");
            return;
        }
        let member_addr = self.cfg.members[m].addr;
        let stats = &mut self.peers[m];
        stats.recv += 1;
        stats.last_recv = localtime::wall_ms().div_euclid(1000);
        // Without authentication the source address is the only check that
        // a datagram comes from the member it names (the C booth has none).
        if self.key.is_none() && !same_ip(src.ip(), member_addr) {
            warn!(
                "datagram claiming to be from {} came from {}, dropped",
                self.cfg.members[m].addr_string,
                src.ip()
            );
            stats.invalid += 1;
            return;
        }
        let now = Timestamp::from_system_time(SystemTime::now());
        let check = self.key.as_ref().map(|key| AuthCheck {
            key,
            guard: &mut self.guards[m],
            now,
        });
        let decoded = wire::decode_datagram_checked(data, check);
        if let Some(r) = self.replay.as_mut() {
            r.peer(m, self.guards[m].newest(), now);
            self.arm_replay_timer();
        }
        match decoded {
            Ok(msg) => {
                // Reachable for alerts: a message that passed every check.
                self.peer_heard(m);
                if self.probe_answer(m, &msg) {
                    return;
                }
                let c = self.engine_clock();
                if let Err(Dropped::Invalid) = self.core.handle_packet(c, m, &msg) {
                    self.peers[m].invalid += 1;
                }
            }
            Err(e) => {
                let addr = &self.cfg.members[m].addr_string;
                match e.counter() {
                    Some(PeerCounter::RecvError) => {
                        debug!("{addr}: bad datagram: {e}");
                        self.peers[m].recv_err += 1;
                    }
                    Some(PeerCounter::AuthFail) => {
                        warn!("{addr}: failed to authenticate ({e})");
                        self.peers[m].authfail += 1;
                        let addr = addr.clone();
                        self.auth_failed(&addr, "peer");
                    }
                    Some(PeerCounter::Invalid) => {
                        debug!("{addr}: invalid datagram: {e}");
                        self.peers[m].invalid += 1;
                    }
                    None => debug!("{addr}: {e}"),
                }
            }
        }
    }

    pub(super) fn send_udp(&mut self, to: usize, msg: &wire::TicketMsg, resend: bool) {
        let now = Timestamp::from_system_time(SystemTime::now());
        let bytes = match wire::encode_ticket_msg(msg, self.key.as_ref().map(|k| (k, now))) {
            Ok(b) => b,
            Err(e) => {
                error!("cannot encode a message: {e}");
                return;
            }
        };
        if matches!(msg.header.cmd, OP_HEARTBEAT | OP_UPDATE) {
            self.wave_sent += 1;
        }
        self.burst += 1;
        let m = &self.cfg.members[to];
        let dest = SocketAddr::new(m.addr, m.port);
        let stats = &mut self.peers[to];
        stats.sent += 1;
        stats.resends += resend as u64;
        match self.udp.send_to(&bytes, dest) {
            Ok(n) if n == bytes.len() => {}
            Ok(_) => stats.sent_err += 1,
            Err(e) => {
                stats.sent_err += 1;
                debug!("sending to {dest} failed: {e}");
            }
        }
    }

    /// Once an iteration's outputs are executed: if they included a wave
    /// of heartbeats or updates, stop watching the socket for
    /// [`GATHER_MS`], so that the wave's acknowledgements are read in one
    /// wake-up (see `gather_end`).
    pub(super) fn gather_wave(&mut self) {
        let sent = std::mem::take(&mut self.wave_sent);
        // Only waves sent on a deadline (renewals, resends, the rounds
        // after a gathered wave) are gathered: an election won or a grant
        // asked for by a client goes on without waiting.
        let timed = std::mem::take(&mut self.wave_timer);
        if sent == 0 || !timed || self.gather_timer.is_some() {
            return;
        }
        // Larger waves are read as they come: their acknowledgements might
        // not all fit the socket's receive buffer.
        let room = *self
            .gather_max
            .get_or_insert_with(|| receive_room(&self.udp));
        if sent > room {
            return;
        }
        // So are waves the engine sends over several turns (it runs a
        // bounded number of tickets per call): more of it is due now.
        let now = self.now_ms();
        if self.core.next_deadline().is_some_and(|d| d.ms() <= now) {
            return;
        }
        if let Err(e) = self.poll.registry().deregister(&mut self.udp) {
            debug!("cannot pause the UDP socket: {e}");
            return;
        }
        let at = self.now_ms() + GATHER_MS;
        self.gather_timer = Some(self.timers.insert(at, TimerKind::GatherEnd));
    }

    /// After an iteration that sent a burst of datagrams (the start-up
    /// state queries of thousands of tickets, their resends), the heap is
    /// full of small freed blocks between the tickets' lasting ones, and
    /// glibc's allocator keeps those pages: hand them back (some 400 bytes
    /// a ticket at 10,000 tickets). musl's allocator returns them itself.
    /// Once more a few seconds after the last burst, for what was freed
    /// since (at 10,000 tickets some 300 bytes a ticket more): one wake-up.
    pub(super) fn trim_after_burst(&mut self) {
        let burst = std::mem::take(&mut self.burst) >= TRIM_BURST;
        if burst && cfg!(target_env = "gnu") {
            trim_heap();
            if let Some(t) = self.trim_timer.take() {
                self.timers.cancel(t);
            }
            let at = self.now_ms() + TRIM_AGAIN_MS;
            self.trim_timer = Some(self.timers.insert(at, TimerKind::Trim));
        }
    }

    /// The timer set by `trim_after_burst` ran out.
    pub(super) fn trim_again(&mut self) {
        self.trim_timer = None;
        trim_heap();
    }

    /// The gathering window is over: watch the socket again and read what
    /// came meanwhile in this iteration.
    pub(super) fn gather_end(&mut self) {
        self.gather_timer = None;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut self.udp, UDP, Interest::READABLE)
        {
            // Never left deaf: try again shortly.
            error!("cannot watch the UDP socket: {e}");
            let at = self.now_ms() + GATHER_MS;
            self.gather_timer = Some(self.timers.insert(at, TimerKind::GatherEnd));
        }
        self.udp_more = true;
    }

    /// `booth peers`: the C booth's layout, then (only once anything was
    /// dropped) what this daemon dropped and why.
    pub(super) fn peers_text(&self) -> String {
        let mut s = String::new();
        for m in &self.cfg.members {
            if m.index == self.me {
                continue;
            }
            let p = &self.peers[m.index];
            s.push_str(&format!(
                "{:<12} {}, last recv: {}\n\tSent pkts:{} error:{} resends:{}\n\tRecv pkts:{} error:{} authfail:{} invalid:{}\n\n",
                m.kind.as_str(),
                m.addr_string,
                localtime::datetime(p.last_recv),
                p.sent,
                p.sent_err,
                p.resends,
                p.recv,
                p.recv_err,
                p.authfail,
                p.invalid
            ));
        }
        let d = &self.drops;
        let queued = self.jobs.queued();
        let log = crate::daemon::logging::counters();
        if d.any() || self.jobs.most_queued() > 0 || log.dropped + log.suppressed > 0 {
            s.push_str(&format!(
                "dropped      datagrams stale:{} foreign:{}\n\tclients refused:{} no-fd:{} evicted:{} oversized:{}\n\tchildren queued:{} most queued:{}\n\tlog lines lost:{} suppressed:{}\n\n",
                d.stale_datagrams,
                d.foreign_datagrams,
                d.clients_refused,
                d.clients_no_fd,
                d.clients_evicted,
                d.clients_oversized,
                queued,
                self.jobs.most_queued(),
                log.dropped,
                log.suppressed,
            ));
        }
        s
    }
}

/// Compares addresses across IPv4 and IPv4-mapped IPv6 forms.
fn same_ip(a: std::net::IpAddr, b: std::net::IpAddr) -> bool {
    use std::net::IpAddr::*;
    let canon = |ip| match ip {
        V6(v6) => v6.to_ipv4_mapped().map_or(V6(v6), V4),
        v4 => v4,
    };
    canon(a) == canon(b)
}

/// How many datagrams the socket's receive buffer holds for certain, after
/// asking for [`RECV_BUFFER`] bytes of it.
fn receive_room(udp: &mio::net::UdpSocket) -> usize {
    use std::os::fd::AsRawFd;
    let fd = udp.as_raw_fd();
    let want: libc::c_int = RECV_BUFFER;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: (FFI) setsockopt reads `len` bytes from a live c_int; the
    // descriptor belongs to the socket, borrowed for the call. A refusal
    // leaves the buffer as it was, which is read back below.
    let _ = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::addr_of!(want).cast(),
            len,
        )
    };
    let mut size: libc::c_int = 0;
    let mut got = len;
    // SAFETY: (FFI) getsockopt writes at most `got` bytes into a live
    // c_int and stores the length written in `got`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::addr_of_mut!(size).cast(),
            &mut got,
        )
    };
    if rc != 0 || size <= 0 {
        return 0;
    }
    let room = size as usize / DATAGRAM_ROOM;
    debug!("UDP receive buffer: {size} bytes, waves of up to {room} datagrams are gathered");
    room
}

/// Hands the allocator's free pages back to the system (glibc only: musl's
/// allocator does it itself).
fn trim_heap() {
    // SAFETY: (FFI) malloc_trim only walks and trims the allocator's own
    // free lists; no pointer of ours is involved.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}
