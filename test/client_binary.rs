//! The real binary in client and geostore mode: dispatch from `main`,
//! which stream carries what, exit statuses. Network only on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use booth::config::site_id;
use booth::wire::codes::{ATTR_GET, CL_LIST, CMD_LIST};
use booth::wire::{encode_text_reply, Cmd, Header};

mod common;
use common::{assert_outcome, run, text, TempDir, BIN};

/// A configuration whose first site is 127.0.0.1 at `port`.
fn write_config(dir: &Path, port: u16) -> String {
    let conf = dir.join("booth.conf");
    let body = format!(
        "port = {port}\nsite = \"127.0.0.1\"\nsite = \"127.0.0.2\"\n\
         arbitrator = \"127.0.0.3\"\nticket = \"ticketA\"\n"
    );
    std::fs::write(&conf, body).unwrap();
    conf.display().to_string()
}

/// Answers one request with a text reply of command `cmd`; returns the
/// request's command.
fn fake_daemon(listener: TcpListener, cmd: Cmd, reply: &'static str) -> JoinHandle<Cmd> {
    thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("client connects");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut header = [0u8; 48];
        s.read_exact(&mut header).unwrap();
        let length = u32::from_be_bytes(header[24..28].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; length - 48];
        s.read_exact(&mut rest).unwrap();
        let from = site_id(&IpAddr::V4(Ipv4Addr::LOCALHOST));
        let h = Header::new(cmd, from);
        s.write_all(&encode_text_reply(&h, reply.as_bytes(), None).unwrap())
            .unwrap();
        Cmd(u32::from_be_bytes(header[28..32].try_into().unwrap()))
    })
}

#[test]
fn list_prints_the_daemon_text_on_stdout() {
    let dir = TempDir::new("list");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let conf = write_config(&dir.0, listener.local_addr().unwrap().port());
    let reply = "ticket: ticketA, leader: NONE\n";
    let daemon = fake_daemon(listener, CL_LIST, reply);
    let out = run(Path::new(BIN), &["list", "-c", &conf, "-s", "127.0.0.1"]);
    assert_eq!(daemon.join().unwrap(), CMD_LIST);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), reply);
    assert!(out.stderr.is_empty());
}

#[test]
fn geostore_name_selects_the_attribute_client() {
    let dir = TempDir::new("geo");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let conf = write_config(&dir.0, listener.local_addr().unwrap().port());
    let daemon = fake_daemon(listener, ATTR_GET, "blue\n");
    let geostore = dir.0.join("geostore");
    std::os::unix::fs::symlink(BIN, &geostore).unwrap();
    let out = run(&geostore, &["get", "-c", &conf, "-s", "127.0.0.1", "color"]);
    assert_eq!(daemon.join().unwrap(), ATTR_GET);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "blue\n");
}

#[test]
fn without_a_local_site_the_client_says_so() {
    let dir = TempDir::new("nolocal");
    // Documentation addresses: never assigned to an interface here.
    let conf = dir.0.join("booth.conf");
    std::fs::write(
        &conf,
        "site = \"198.51.100.77\"\nsite = \"198.51.100.78\"\n\
         arbitrator = \"198.51.100.79\"\nticket = \"ticketA\"\n",
    )
    .unwrap();
    let conf = conf.display().to_string();
    let out = run(Path::new(BIN), &["list", "-c", &conf]);
    assert_outcome(
        &out,
        1,
        "",
        "cannot determine the local site; use -s <site>\n",
    );
}

#[test]
fn an_unknown_site_for_peers_exits_2() {
    let dir = TempDir::new("peers");
    let conf = write_config(&dir.0, 9929);
    let out = run(Path::new(BIN), &["peers", "-c", &conf, "-s", "127.0.0.9"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), "cannot find site \"127.0.0.9\"\n");
}

#[test]
fn an_unreadable_config_is_reported() {
    let dir = TempDir::new("noconf");
    let missing = dir.0.join("missing.conf").display().to_string();
    let out = run(Path::new(BIN), &["grant", "-c", &missing, "ticketA"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.ends_with("cannot read config\n"), "{err}");
}

/// Option values are checked while the command line is parsed, before any
/// configuration is read (C's order): a 63-character site or ticket name
/// is refused with C's message even where no configuration exists.
#[test]
fn too_long_names_are_refused_before_the_config_is_read() {
    let site = "s".repeat(63);
    let out = run(
        Path::new(BIN),
        &["client", "grant", "-s", &site, "-t", "ticket"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        format!("'{site}' exceeds maximum site name length of 63\n")
    );
    let ticket = "t".repeat(63);
    let out = run(
        Path::new(BIN),
        &["grant", "-c", "/nonexistent/booth.conf", "-t", &ticket],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("'{ticket}' exceeds maximum ticket name length of 63\n")
    );
}
