//! Scripted fake daemons on 127.0.0.1 and 127.0.0.2, the configuration
//! naming them, and the client run against them with captured output.

use super::*;

pub(crate) const KEY: &[u8] = b"booth-secret-key";
pub(crate) const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
pub(crate) const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

pub(crate) fn id_of(ip: Ipv4Addr) -> u32 {
    site_id(&IpAddr::V4(ip))
}

/// Two listening sites on one port and a configuration naming them.
pub(crate) struct Cluster {
    pub(crate) _dir: TempDir,
    pub(crate) conf: PathBuf,
    pub(crate) port: u16,
    pub(crate) a: Option<TcpListener>,
    pub(crate) b: Option<TcpListener>,
    pub(crate) key: Option<AuthKey>,
}

impl Cluster {
    pub(crate) fn new(tag: &str, tickets: &[&str], auth: bool) -> Cluster {
        let (a, b, port) = bind_pair();
        let dir = TempDir::new(tag);
        let mut text = format!("port = {port}\n");
        let key = if auth {
            let keyfile = dir.0.join("authkey");
            std::fs::write(&keyfile, KEY).unwrap();
            std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
            text.push_str(&format!("authfile = {}\n", keyfile.display()));
            Some(AuthKey::new(KEY).unwrap())
        } else {
            None
        };
        text.push_str("site = \"127.0.0.1\"\nsite = \"127.0.0.2\"\narbitrator = \"127.0.0.3\"\n");
        for t in tickets {
            text.push_str(&format!("ticket = \"{t}\"\n"));
        }
        let conf = dir.0.join("booth.conf");
        std::fs::write(&conf, text).unwrap();
        Cluster {
            _dir: dir,
            conf,
            port,
            a: Some(a),
            b: Some(b),
            key,
        }
    }

    pub(crate) fn choice(&self) -> ConfigChoice {
        ConfigChoice {
            arg: Some(self.conf.display().to_string()),
            path: self.conf.clone(),
        }
    }

    pub(crate) fn client(&self, op: ClientOp, ticket: Option<&str>) -> ClientArgs {
        ClientArgs {
            op,
            config: self.choice(),
            debug: 0,
            site: None,
            ticket: ticket.map(str::to_string),
            immediate: false,
            wait: false,
            wait_commit: false,
            json: false,
        }
    }

    pub(crate) fn geostore(
        &self,
        op: GeoOp,
        attr: Option<&str>,
        value: Option<&str>,
    ) -> GeostoreArgs {
        GeostoreArgs {
            op,
            config: self.choice(),
            debug: 0,
            site: None,
            ticket: None,
            attr_name: attr.map(str::to_string),
            attr_value: value.map(str::to_string),
        }
    }

    /// Site A's fake daemon running `script` on the first connection.
    pub(crate) fn serve_a(&mut self, script: Vec<Act>) -> JoinHandle<Seen> {
        let key = self.key.clone();
        serve(self.a.take().expect("A serves once"), key, script)
    }

    pub(crate) fn serve_b(&mut self, script: Vec<Act>) -> JoinHandle<Seen> {
        let key = self.key.clone();
        serve(self.b.take().expect("B serves once"), key, script)
    }

    pub(crate) fn signing(&self) -> Option<(&AuthKey, Timestamp)> {
        self.key
            .as_ref()
            .map(|k| (k, Timestamp::from_system_time(SystemTime::now())))
    }

    /// A grant/revoke result as the daemon at `from` sends it.
    pub(crate) fn result(&self, from: Ipv4Addr, result: Rlt, ticket: &str, leader: u32) -> Vec<u8> {
        ticket_result(from, result, ticket, leader, self.signing())
    }

    pub(crate) fn text(&self, cmd: Cmd, text: &str) -> Vec<u8> {
        let h = Header::new(cmd, id_of(A));
        encode_text_reply(&h, text.as_bytes(), self.signing()).unwrap()
    }

    pub(crate) fn header_only(&self, result: Rlt) -> Vec<u8> {
        header_only(result, self.signing())
    }
}

pub(crate) fn ticket_result(
    from: Ipv4Addr,
    result: Rlt,
    ticket: &str,
    leader: u32,
    auth: Option<(&AuthKey, Timestamp)>,
) -> Vec<u8> {
    let msg = TicketMsg {
        header: Header {
            result,
            ..Header::new(CL_RESULT, id_of(from))
        },
        body: TicketBody {
            name: ticket.to_string(),
            leader,
            term: 3,
            term_valid_for: 0,
        },
    };
    encode_ticket_msg(&msg, auth).unwrap()
}

pub(crate) fn header_only(result: Rlt, auth: Option<(&AuthKey, Timestamp)>) -> Vec<u8> {
    let h = Header {
        result,
        ..Header::new(CL_RESULT, id_of(A))
    };
    encode_header_only(&h, auth)
}

/// Binds 127.0.0.1:P and 127.0.0.2:P for some free port P.
pub(crate) fn bind_pair() -> (TcpListener, TcpListener, u16) {
    for _ in 0..50 {
        let a = TcpListener::bind((A, 0)).expect("bind 127.0.0.1");
        let port = a.local_addr().unwrap().port();
        if let Ok(b) = TcpListener::bind((B, port)) {
            return (a, b, port);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

/// One step of a fake daemon.
pub(crate) enum Act {
    Send(Vec<u8>),
    Sleep(Duration),
    /// Keep the connection open until the client closes it.
    WaitEof,
}

/// What a fake daemon received.
pub(crate) struct Seen {
    /// The request, exactly `length` bytes.
    pub(crate) request: Vec<u8>,
    /// Bytes that arrived after the request (within a short grace time).
    pub(crate) extra: usize,
    pub(crate) decoded: Request,
}

pub(crate) fn serve(
    listener: TcpListener,
    key: Option<AuthKey>,
    script: Vec<Act>,
) -> JoinHandle<Seen> {
    thread::spawn(move || {
        let mut s = accept(&listener);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let (decoded, consumed) = loop {
            match decode_request(&buf, key.as_ref()).expect("a valid request") {
                Framing::Complete { msg, consumed } => break (msg.msg, consumed),
                Framing::Need(n) => {
                    let mut chunk = vec![0u8; n];
                    let got = s.read(&mut chunk).expect("request bytes");
                    assert!(got > 0, "client closed before the whole request");
                    buf.extend_from_slice(&chunk[..got]);
                }
            }
        };
        // Anything beyond `length`? The client waits for our reply, so a
        // short grace time suffices.
        s.set_read_timeout(Some(Duration::from_millis(150)))
            .unwrap();
        let mut extra = buf.len() - consumed;
        let mut more = [0u8; 64];
        if let Ok(n) = s.read(&mut more) {
            extra += n;
        }
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for act in script {
            match act {
                Act::Send(bytes) => s.write_all(&bytes).expect("reply written"),
                Act::Sleep(d) => thread::sleep(d),
                Act::WaitEof => {
                    let mut sink = [0u8; 64];
                    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
                }
            }
        }
        Seen {
            request: buf[..consumed].to_vec(),
            extra,
            decoded,
        }
    })
}

pub(crate) fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("no client connected: {e}"),
        }
    }
}

/// Captured result of a client run.
pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Outcome {
    pub(crate) fn lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

pub(crate) fn settings() -> ClientSettings {
    ClientSettings {
        connect_timeout: Duration::from_secs(10),
        reply_timeout: Some(Duration::from_secs(1)),
    }
}

pub(crate) fn site_a(_: &Config) -> Option<usize> {
    Some(0)
}

pub(crate) fn nowhere(_: &Config) -> Option<usize> {
    None
}

pub(crate) fn run(args: &ClientArgs) -> Outcome {
    run_from(args, &site_a)
}

pub(crate) fn run_from(args: &ClientArgs, local: &dyn Fn(&Config) -> Option<usize>) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_client_with(args, local, &settings(), &mut out, &mut err);
    Outcome {
        code,
        stdout: out,
        stderr: String::from_utf8(err).unwrap(),
    }
}

pub(crate) fn run_geo(args: &GeostoreArgs) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_geostore_with(args, &site_a, &settings(), &mut out, &mut err);
    Outcome {
        code,
        stdout: out,
        stderr: String::from_utf8(err).unwrap(),
    }
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// wire.md §11.4: `booth grant -w ticketA` from site A (192.168.201.100).
pub(crate) fn spec_grant_request() -> Vec<u8> {
    let hex = "00000000 00000000 00000000 5f1ba08c \
               00010003 5085f484 0000007c 43476e74 \
               00000000 00000002 00000000 00000000 \
               7469636b 65744100";
    let mut bytes: Vec<u8> = hex
        .split_whitespace()
        .flat_map(|w| {
            (0..w.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&w[i..i + 2], 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    bytes.resize(124, 0);
    bytes
}

/// Keeps the helpers honest: the configured port is the one the fakes use.
#[test]
fn the_fixture_config_names_both_fakes() {
    let c = Cluster::new("fixture", &["ticketA"], false);
    let config = Config::load(&c.conf).unwrap();
    let addrs: Vec<SocketAddr> = config
        .members
        .iter()
        .map(|m| SocketAddr::new(m.addr, m.port))
        .collect();
    assert_eq!(addrs[0], SocketAddr::from((A, c.port)));
    assert_eq!(addrs[1], SocketAddr::from((B, c.port)));
    assert!(Path::new(&c.conf).exists());
}
