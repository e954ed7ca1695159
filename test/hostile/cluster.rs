//! The test cluster: site 127.0.0.1 and arbitrator 127.0.0.3 run, the test
//! holds site 127.0.0.2's address and port; messages as a member sends them
//! and the counters `booth peers` shows.

use super::*;

pub(crate) const TICKET: &str = "ticket = ticketA\n  expire = 10\n  timeout = 1\n  retries = 3\n";
pub(crate) const KEY: &[u8] = b"hostile-test-key-0123456789";

/// The three members of the test cluster, by index.
pub(crate) const LEADER: usize = 0;
pub(crate) const ME: usize = 1;
pub(crate) const ARBITRATOR: usize = 2;

/// `booth peers` receive counters of one peer, as the daemon shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) recv: u64,
    pub(crate) error: u64,
    pub(crate) authfail: u64,
    pub(crate) invalid: u64,
}

pub(crate) struct Cluster {
    pub(crate) dir: PathBuf,
    pub(crate) conf: PathBuf,
    pub(crate) port: u16,
    pub(crate) cfg: Config,
    pub(crate) key: Option<AuthKey>,
    pub(crate) daemons: Vec<Option<Child>>,
    /// The test's own socket on 127.0.0.2's address and port.
    pub(crate) peer: Option<UdpSocket>,
}

impl Cluster {
    pub(crate) fn new(name: &str, auth: bool) -> Cluster {
        Cluster::with_key(name, auth.then_some(KEY))
    }

    /// A cluster with the given key file content, or without authentication.
    pub(crate) fn with_key(name: &str, key: Option<&[u8]>) -> Cluster {
        use std::os::unix::fs::PermissionsExt;
        let dir = cluster_dir("hostile", name);
        let mut extra = String::new();
        if let Some(key) = key {
            let keyfile = dir.join("authkey");
            std::fs::write(&keyfile, key).unwrap();
            std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
            extra = format!("authfile = {}\n", keyfile.display());
        }
        let conf = dir.join("booth.conf");
        let port = free_port();
        std::fs::write(&conf, loopback_conf(port, &extra, TICKET)).unwrap();
        let cfg = Config::load(&conf).unwrap();
        Cluster {
            dir,
            conf,
            port,
            cfg,
            key: key.map(|k| AuthKey::new(k).unwrap()),
            daemons: vec![None, None, None],
            peer: None,
        }
    }

    pub(crate) fn id(&self, i: usize) -> u32 {
        self.cfg.members[i].site_id
    }

    pub(crate) fn command(&self, i: usize) -> Command {
        let mut c = Command::new(BIN);
        c.args(["daemon", "-S", "-c"])
            .arg(&self.conf)
            .args(["-s", &addr(i), "-l"])
            .arg(self.dir.join(format!("m{i}.pid")))
            .arg("--state-dir")
            .arg(self.dir.join(format!("state{i}")))
            .env("BOOTH_NO_REALTIME", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("m{i}.log"))).unwrap());
        c
    }

    pub(crate) fn start(&mut self, i: usize) {
        let child = self.command(i).spawn().unwrap();
        self.daemons[i] = Some(child);
        wait_for(Duration::from_secs(10), || {
            self.client(&["list", "-s", &addr(i)]).status.success()
        });
    }

    /// Site 1 and the arbitrator running, the test on site 2's socket, and
    /// ticketA granted to site 1.
    pub(crate) fn granted(name: &str, auth: bool) -> Cluster {
        Cluster::granted_with_key(name, auth.then_some(KEY))
    }

    pub(crate) fn granted_with_key(name: &str, key: Option<&[u8]>) -> Cluster {
        let mut c = Cluster::with_key(name, key);
        let peer = UdpSocket::bind(format!("{}:{}", addr(ME), c.port)).unwrap();
        peer.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        c.peer = Some(peer);
        c.start(LEADER);
        c.start(ARBITRATOR);
        // Site 2 answers the start-up state queries as a member that
        // knows no leader: without every member's view a freshly started
        // daemon fences its votes for a lease (engine/promise.rs).
        // A query is sent (and re-sent while fenced) once the daemon's
        // engine runs, so an answer to one is never dropped unseen.
        for to in [LEADER, ARBITRATOR] {
            c.capture(to, OP_STATUS);
            let mut answer = ticket_msg(OP_MY_INDEX, c.id(ME), NO_ONE, 0);
            answer.body.term_valid_for = 0;
            let at = Timestamp::from_system_time(SystemTime::now());
            let key = c.key.as_ref().map(|k| (k, at));
            c.send(to, &wire::encode_ticket_msg(&answer, key).unwrap());
        }
        // -F: site 2 never acknowledges a heartbeat, so a plain grant
        // would wait a lease before its CIB commit (as the C booth does);
        // what is tested here starts once it is granted.
        let g = c.client(&["grant", "-F", "-w", "-s", &addr(LEADER), "ticketA"]);
        assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
        c.assert_unchanged();
        c
    }

    pub(crate) fn client(&self, args: &[&str]) -> Output {
        let mut full = vec![args[0], "-c", self.conf.to_str().unwrap()];
        full.extend_from_slice(&args[1..]);
        Command::new(BIN).args(&full).output().unwrap()
    }

    pub(crate) fn list(&self, i: usize) -> String {
        let out = self.client(&["list", "-s", &addr(i)]);
        assert!(out.status.success(), "booth list at {} failed", addr(i));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The daemons run, answer `booth list`, and ticketA is still held by
    /// site 1 at both.
    pub(crate) fn assert_unchanged(&mut self) {
        for i in [LEADER, ARBITRATOR] {
            let child = self.daemons[i].as_mut().unwrap();
            assert!(
                child.try_wait().unwrap().is_none(),
                "daemon {} died; log:\n{}",
                addr(i),
                self.log(i)
            );
            let l = self.list(i);
            assert!(
                l.starts_with("ticket: ticketA, leader: 127.0.0.1, expires: "),
                "{}: {l}",
                addr(i)
            );
        }
    }

    pub(crate) fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("m{i}.log"))).unwrap_or_default()
    }

    /// What daemon `at` counts for datagrams from member `of`.
    pub(crate) fn counters(&self, at: usize, of: usize) -> Counters {
        let out = self.client(&["peers", "-s", &addr(at)]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let block = text
            .split("\n\n")
            .find(|b| b.split_whitespace().nth(1) == Some(&format!("{},", addr(of))))
            .unwrap_or_else(|| panic!("no peer {} in:\n{text}", addr(of)));
        let recv = block.lines().find(|l| l.contains("Recv pkts:")).unwrap();
        let field = |name: &str| -> u64 {
            let at = recv.find(name).unwrap() + name.len();
            recv[at..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        Counters {
            recv: field("Recv pkts:"),
            error: field("error:"),
            authfail: field("authfail:"),
            invalid: field("invalid:"),
        }
    }

    /// Sends from site 2's socket to daemon `to`.
    pub(crate) fn send(&self, to: usize, bytes: &[u8]) {
        let dest = format!("{}:{}", addr(to), self.port);
        self.peer.as_ref().unwrap().send_to(bytes, dest).unwrap();
    }

    /// Sends `bytes`, then a datagram known to count as a receive error (a
    /// header with a bad magic); once that one is counted, the first has
    /// been handled too (one socket, one receiver, loopback keeps order).
    /// Returns the change of the counters caused by `bytes` alone.
    pub(crate) fn send_and_count(&mut self, to: usize, bytes: &[u8]) -> Counters {
        let before = self.counters(to, ME);
        self.send(to, bytes);
        let mut probe = Header::new(OP_HEARTBEAT, self.id(ME));
        probe.magic = 0x0bad_0bad;
        probe.length = HEADER_LEN as u32;
        self.send(to, &probe.encode());
        let mut after = before;
        wait_for(Duration::from_secs(5), || {
            after = self.counters(to, ME);
            after.error > before.error
        });
        Counters {
            recv: after.recv - before.recv - 1,
            error: after.error - before.error - 1,
            authfail: after.authfail - before.authfail,
            invalid: after.invalid - before.invalid,
        }
    }

    /// The next datagram from `from` with command `cmd` that reaches the
    /// test's socket, raw.
    pub(crate) fn capture(&self, from: usize, cmd: Cmd) -> Vec<u8> {
        let sock = self.peer.as_ref().unwrap();
        let t0 = Instant::now();
        let mut buf = [0u8; 2048];
        while t0.elapsed() < Duration::from_secs(15) {
            let Ok((n, src)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let h = match Header::decode(&buf[..n]) {
                Ok(h) => h,
                Err(_) => continue,
            };
            if src.ip().to_string() == addr(from) && h.cmd == cmd {
                return buf[..n].to_vec();
            }
        }
        panic!("no {} from {} within 15 s", code_to_string(cmd), addr(from));
    }

    /// Stops daemon `i` with `signal` (a `kill -s` name) and reaps it.
    pub(crate) fn stop(&mut self, i: usize, signal: &str) {
        let mut child = self.daemons[i].take().unwrap();
        let st = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        child.wait().unwrap();
    }

    /// Stops daemon `i` with `signal` and starts it again with the same
    /// command line (so the same lock file and replay marks), then waits
    /// until it knows the ticket's leader again.
    pub(crate) fn restart(&mut self, i: usize, signal: &str) {
        self.stop(i, signal);
        self.restart_stopped(i);
    }

    pub(crate) fn restart_stopped(&mut self, i: usize) {
        self.start(i);
        wait_for(Duration::from_secs(20), || {
            self.list(i)
                .starts_with("ticket: ticketA, leader: 127.0.0.1, expires: ")
        });
    }

    /// The replay marks file of daemon `i`, next to its lock file.
    pub(crate) fn marks_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("m{i}.pid.replay"))
    }

    /// The leader's current heartbeat, decoded: its term and leader.
    pub(crate) fn heartbeat(&self) -> TicketMsg {
        let raw = self.capture(LEADER, OP_HEARTBEAT);
        wire::decode_datagram(&raw, self.key.as_ref()).unwrap().msg
    }

    /// A ticket message as member `from` would send it, signed with the
    /// cluster key when there is one.
    pub(crate) fn message(&self, cmd: Cmd, from: u32, leader: u32, term: u32) -> Vec<u8> {
        self.message_at(cmd, from, leader, term, SystemTime::now())
    }

    /// [`Cluster::message`] with the timestamp `at`.
    pub(crate) fn message_at(
        &self,
        cmd: Cmd,
        from: u32,
        leader: u32,
        term: u32,
        at: SystemTime,
    ) -> Vec<u8> {
        let at = Timestamp::from_system_time(at);
        let msg = ticket_msg(cmd, from, leader, term);
        wire::encode_ticket_msg(&msg, self.key.as_ref().map(|k| (k, at))).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        kill_all(&mut self.daemons);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn ticket_msg(cmd: Cmd, from: u32, leader: u32, term: u32) -> TicketMsg {
    TicketMsg {
        header: Header::new(cmd, from),
        body: TicketBody {
            name: "ticketA".into(),
            leader,
            term,
            term_valid_for: 10,
        },
    }
}

pub(crate) fn counted(recv: u64, error: u64, authfail: u64, invalid: u64) -> Counters {
    Counters {
        recv,
        error,
        authfail,
        invalid,
    }
}
