//! `--json` of `booth list`, `booth peers` and `boothd status` against real
//! daemons on loopback and against a daemon that answers text (as the C
//! daemon does), every document validated against
//! doc/booth-json.schema.json by the small validator below (the keywords
//! that schema uses: type, enum, const, required, properties,
//! additionalProperties, items, minimum, oneOf, $ref).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::cluster::Cluster;
use common::{addr, BIN};

#[derive(Clone, Debug, PartialEq)]
enum V {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<V>),
    Obj(BTreeMap<String, V>),
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(self.s.get(self.i), Some(&c), "at {}", self.i);
        self.i += 1;
    }
    fn value(&mut self) -> V {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return V::Obj(m);
                }
                loop {
                    self.ws();
                    let V::Str(k) = self.value() else {
                        panic!("key")
                    };
                    self.eat(b':');
                    let v = self.value();
                    assert!(m.insert(k, v).is_none(), "duplicate key");
                    self.ws();
                    self.i += 1;
                    if self.s[self.i - 1] == b'}' {
                        return V::Obj(m);
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return V::Arr(a);
                }
                loop {
                    a.push(self.value());
                    self.ws();
                    self.i += 1;
                    if self.s[self.i - 1] == b']' {
                        return V::Arr(a);
                    }
                }
            }
            b'"' => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b'"' => return V::Str(out),
                        b'\\' => {
                            let e = self.s[self.i];
                            self.i += 1;
                            match e {
                                b'n' => out.push('\n'),
                                b't' => out.push('\t'),
                                b'r' => out.push('\r'),
                                b'u' => {
                                    let h =
                                        std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                                    out.push(
                                        char::from_u32(u32::from_str_radix(h, 16).unwrap())
                                            .unwrap(),
                                    );
                                    self.i += 4;
                                }
                                c => out.push(c as char),
                            }
                        }
                        _ => {
                            // Multi-byte UTF-8 passes through byte by byte.
                            let start = self.i - 1;
                            let len = match c {
                                0..=0x7f => 1,
                                0xc0..=0xdf => 2,
                                0xe0..=0xef => 3,
                                _ => 4,
                            };
                            self.i = start + len;
                            out.push_str(std::str::from_utf8(&self.s[start..self.i]).unwrap());
                        }
                    }
                }
            }
            b't' => {
                self.i += 4;
                V::Bool(true)
            }
            b'f' => {
                self.i += 5;
                V::Bool(false)
            }
            b'n' => {
                self.i += 4;
                V::Null
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"-+.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                V::Num(
                    std::str::from_utf8(&self.s[start..self.i])
                        .unwrap()
                        .parse()
                        .unwrap(),
                )
            }
        }
    }
}

fn parse(text: &str) -> V {
    let mut p = P {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, text.len(), "trailing bytes in {text}");
    v
}

fn type_ok(t: &str, v: &V) -> bool {
    match (t, v) {
        ("null", V::Null) | ("boolean", V::Bool(_)) | ("string", V::Str(_)) => true,
        ("array", V::Arr(_)) | ("object", V::Obj(_)) => true,
        ("number", V::Num(_)) => true,
        ("integer", V::Num(n)) => n.fract() == 0.0,
        _ => false,
    }
}

/// Errors of `v` against `schema` (empty: valid).
fn check(root: &V, schema: &V, v: &V, at: &str) -> Vec<String> {
    let V::Obj(s) = schema else {
        panic!("schema at {at}")
    };
    let mut errs = Vec::new();
    if let Some(V::Str(r)) = s.get("$ref") {
        let name = r.strip_prefix("#/$defs/").expect("local ref");
        let V::Obj(top) = root else { panic!() };
        let V::Obj(defs) = &top["$defs"] else {
            panic!()
        };
        errs.extend(check(root, &defs[name], v, at));
    }
    match s.get("type") {
        Some(V::Str(t)) if !type_ok(t, v) => errs.push(format!("{at}: not {t}: {v:?}")),
        Some(V::Arr(ts)) if !ts.iter().any(|t| matches!(t, V::Str(t) if type_ok(t, v))) => {
            errs.push(format!("{at}: not any of {ts:?}: {v:?}"))
        }
        _ => {}
    }
    if let Some(V::Arr(e)) = s.get("enum") {
        if !e.contains(v) {
            errs.push(format!("{at}: {v:?} not in {e:?}"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errs.push(format!("{at}: {v:?} is not {c:?}"));
        }
    }
    if let (Some(V::Num(m)), V::Num(n)) = (s.get("minimum"), v) {
        if n < m {
            errs.push(format!("{at}: {n} < {m}"));
        }
    }
    if let Some(V::Arr(alts)) = s.get("oneOf") {
        let ok = alts
            .iter()
            .filter(|a| check(root, a, v, at).is_empty())
            .count();
        if ok != 1 {
            errs.push(format!("{at}: matches {ok} of oneOf"));
        }
    }
    if let V::Obj(o) = v {
        if let Some(V::Arr(req)) = s.get("required") {
            for r in req {
                let V::Str(r) = r else { panic!() };
                if !o.contains_key(r) {
                    errs.push(format!("{at}: {r} missing"));
                }
            }
        }
        let props = match s.get("properties") {
            Some(V::Obj(p)) => Some(p),
            _ => None,
        };
        for (k, x) in o {
            let here = format!("{at}.{k}");
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(ps), _) => errs.extend(check(root, ps, x, &here)),
                (None, Some(V::Bool(false))) => errs.push(format!("{here}: not allowed")),
                (None, Some(extra @ V::Obj(_))) => errs.extend(check(root, extra, x, &here)),
                _ => {}
            }
        }
    }
    if let (Some(items), V::Arr(a)) = (s.get("items"), v) {
        for (i, x) in a.iter().enumerate() {
            errs.extend(check(root, items, x, &format!("{at}[{i}]")));
        }
    }
    errs
}

fn schema() -> V {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/doc/booth-json.schema.json");
    parse(&std::fs::read_to_string(path).unwrap())
}

/// Parses one document (one line) and checks it against the schema.
fn valid(stdout: &[u8]) -> V {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    let v = parse(text.trim_end());
    let s = schema();
    let errs = check(&s, &s, &v, "$");
    assert!(errs.is_empty(), "{text}\n{errs:#?}");
    v
}

fn get<'a>(v: &'a V, path: &[&str]) -> &'a V {
    path.iter().fold(v, |v, k| match (v, k.parse::<usize>()) {
        (V::Arr(a), Ok(i)) => &a[i],
        (V::Obj(o), _) => o.get(*k).unwrap_or_else(|| panic!("{k} missing in {v:?}")),
        _ => panic!("{k} in {v:?}"),
    })
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let s = schema();
    let bad = [
        r#"{"format":"booth-list","version":1,"source":"daemon","tickets":[],"warnings":[],"extra":1}"#,
        r#"{"format":"booth-list","version":2,"source":"daemon","tickets":[],"warnings":[]}"#,
        r#"{"format":"booth-list","version":1,"source":"daemon","tickets":[{"ticket":"T"}],"warnings":[]}"#,
        r#"{"format":"booth-status","version":1,"source":"status","running":"yes","status":0,"pid":null,"lockfile":null,"fields":{},"reason":null}"#,
    ];
    for b in bad {
        assert!(!check(&s, &s, &parse(b), "$").is_empty(), "accepted: {b}");
    }
}

#[test]
fn list_peers_and_status_of_our_daemons() {
    let mut c = Cluster::new("bal-json", &["T", "U"]);
    c.start_all();
    let g = c.client(&["grant", "-w", "-s", &addr(0), "T"]);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    // The default text is untouched.
    let text = c.list(0);
    assert!(
        text.starts_with("ticket: T, leader: 127.0.0.1, expires: "),
        "{text}"
    );
    assert!(text.ends_with("\nticket: U, leader: NONE\n"), "{text}");

    for i in 0..3 {
        let out = c.client(&["list", "--json", "-s", &addr(i)]);
        assert!(out.status.success());
        let v = valid(&out.stdout);
        assert_eq!(get(&v, &["source"]), &V::Str("daemon".into()));
        assert_eq!(get(&v, &["tickets", "0", "ticket"]), &V::Str("T".into()));
        assert_eq!(get(&v, &["tickets", "0", "leader"]), &V::Str(addr(0)));
        assert!(matches!(get(&v, &["tickets", "0", "term"]), V::Num(_)));
        assert!(matches!(get(&v, &["tickets", "0", "lease_end"]), V::Num(_)));
        assert_eq!(get(&v, &["tickets", "1", "leader"]), &V::Str("NONE".into()));
        let state = if i == 0 { "Lead" } else { "Fllw" };
        assert_eq!(get(&v, &["tickets", "0", "state"]), &V::Str(state.into()));
        // As in the text: an expiry for the held ticket only.
        assert!(matches!(get(&v, &["tickets", "0", "expires"]), V::Str(_)));
        assert_eq!(get(&v, &["tickets", "1", "expires"]), &V::Null);
    }
    let in_cib = |i: usize| {
        let out = c.client(&["list", "--json", "-s", &addr(i)]);
        get(&valid(&out.stdout), &["tickets", "0", "granted_in_cib"]).clone()
    };
    assert_eq!(in_cib(0), V::Bool(true));
    assert_eq!(in_cib(1), V::Bool(false));

    let out = c.client(&["peers", "--json", "-s", &addr(0)]);
    let v = valid(&out.stdout);
    assert_eq!(get(&v, &["peers", "0", "address"]), &V::Str(addr(1)));
    assert_eq!(
        get(&v, &["peers", "1", "role"]),
        &V::Str("arbitrator".into())
    );
    assert!(matches!(get(&v, &["peers", "1", "received"]), V::Num(n) if *n > 0.0));
    assert!(matches!(get(&v, &["peers", "1", "last_recv_unix"]), V::Num(n) if *n > 0.0));
    // No agents: no verdict on reachability.
    assert_eq!(get(&v, &["peers", "1", "reachable"]), &V::Null);
    assert_eq!(get(&v, &["alerts", "agents"]), &V::Num(0.0));
    assert!(matches!(get(&v, &["dropped"]), V::Obj(_)));

    // boothd status: running, then not.
    let (conf, dir) = (c.conf.clone(), c.dir.clone());
    let status = |i: usize| {
        Command::new(BIN)
            .args(["status", "--json", "-c"])
            .arg(&conf)
            .arg("-l")
            .arg(dir.join(format!("m{i}.pid")))
            .output()
            .unwrap()
    };
    let out = status(0);
    let v = valid(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{v:?}");
    assert_eq!(get(&v, &["running"]), &V::Bool(true));
    let pid = c.daemons[0].as_ref().unwrap().id();
    assert_eq!(get(&v, &["pid"]), &V::Num(pid.into()));
    assert_eq!(
        get(&v, &["fields", "booth_state"]),
        &V::Str("started".into())
    );
    c.kill(0);
    let out = status(0);
    let v = valid(&out.stdout);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(get(&v, &["running"]), &V::Bool(false));
    assert!(matches!(get(&v, &["reason"]), V::Str(_)));
}

/// A daemon that answers every request with this text, as a C daemon
/// answers list and peers (it ignores the JSON bit); returns the port and
/// the options of the request it got.
fn text_daemon(text: &'static str) -> (u16, std::thread::JoinHandle<u32>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut req = vec![0u8; 2048];
        let mut n = 0;
        while let Ok(k) = s.read(&mut req[n..]) {
            if k == 0 {
                break;
            }
            n += k;
            if n >= booth::wire::TICKET_MSG_LEN {
                break;
            }
        }
        let h = booth::wire::Header::new(booth::wire::codes::CL_LIST, 0);
        let reply = booth::wire::encode_text_reply(&h, text.as_bytes(), None).unwrap();
        s.write_all(&reply).unwrap();
        // options: the header's tenth 32-bit word.
        u32::from_be_bytes(req[36..40].try_into().unwrap())
    });
    (port, h)
}

#[test]
fn a_text_answer_is_converted_with_hidden_fields_null() {
    let dir = std::env::temp_dir().join(format!("bal-json-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (cmd, text) in [
        ("list", "ticket: T, leader: 127.0.0.2, expires: 2026-12-02 11:09:30\n"),
        (
            "peers",
            "site         127.0.0.2, last recv: 2026-12-02 11:00:00\n\tSent pkts:5 error:0 resends:1\n\tRecv pkts:7 error:2 authfail:3 invalid:4\n\n",
        ),
    ] {
        let (port, server) = text_daemon(text);
        let conf = dir.join(format!("{cmd}.conf"));
        std::fs::write(
            &conf,
            format!("port = {port}\nsite = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\nticket = T\n"),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args([cmd, "--json", "-s", "127.0.0.1", "-c"])
            .arg(&conf)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v = valid(&out.stdout);
        assert_eq!(get(&v, &["source"]), &V::Str("text".into()));
        if cmd == "list" {
            assert_eq!(get(&v, &["tickets", "0", "expires"]), &V::Str("2026-12-02 11:09:30".into()));
            assert_eq!(get(&v, &["tickets", "0", "term"]), &V::Null);
        } else {
            assert_eq!(get(&v, &["peers", "0", "authfail"]), &V::Num(3.0));
            assert_eq!(get(&v, &["peers", "0", "last_recv_unix"]), &V::Null);
            assert_eq!(get(&v, &["dropped"]), &V::Null);
        }
        let options = server.join().unwrap();
        assert_eq!(options, booth::client::json::OPT_JSON, "the request asks for JSON");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_agents_no_probe_is_sent() {
    let mut c = Cluster::new("bal-json-idle", &["T"]);
    c.start_all();
    let sent = |c: &Cluster| {
        let out = c.client(&["peers", "--json", "-s", &addr(0)]);
        get(&valid(&out.stdout), &["peers", "1", "sent"]).clone()
    };
    std::thread::sleep(Duration::from_millis(500));
    let before = sent(&c);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sent(&c), before);
}
