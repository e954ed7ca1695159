//! A lab of booth hosts in network namespaces: one namespace per member,
//! each with a veth into a bridge that lives in a separate "switch"
//! namespace, addresses in 198.51.100.0/24, no default route, so lab traffic
//! cannot leave. Faults are nftables rules on the bridge ports. Everything
//! is named after this process and removed on drop, also after a failure.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables). The C booth, when
//! used, runs in namespaces with IPv6 disabled (it hangs at start-up where
//! IPv6 addresses exist on kernels >= 6.9).
//!
//! Its crate includes `test/common` too (as `common`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::common::{empty_cib, wait_for};

pub const OURS: &str = env!("CARGO_BIN_EXE_boothd");
pub const C_BOOTHD: &str = "/usr/sbin/boothd";

/// Whether this test can run; under CI=true a missing prerequisite fails.
pub fn available(needs_c: bool) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let tools = ["ip", "nft"]
        .iter()
        .all(|t| Command::new(t).arg("-V").output().is_ok());
    let c_ok = !needs_c || Path::new(C_BOOTHD).exists();
    let ok = root && tools && c_ok;
    if !ok {
        let why = format!(
            "needs root ({root}), ip and nft ({tools}){}",
            if needs_c {
                format!(", the C booth ({c_ok})")
            } else {
                String::new()
            }
        );
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "network-namespace test cannot run under CI: {why}"
        );
        eprintln!("SKIPPED: {why}");
    }
    ok
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Impl {
    Rust,
    C,
}

pub struct Host {
    pub ns: String,
    pub addr: String,
    pub imp: Impl,
    /// `site` or `arbitrator`.
    pub kind: String,
    /// Runs a real single-node Pacemaker cluster (corosync + pacemakerd)
    /// instead of recording tickets in a CIB file.
    pub pcmk: bool,
    pub daemon: Option<Child>,
}

/// Where a site's ticket state can be read from, for a watcher thread.
#[derive(Clone, Debug)]
pub enum CibSource {
    /// A CIB XML file written by crm_ticket with CIB_file=.
    File(PathBuf),
    /// The live CIB of the Pacemaker cluster in this namespace.
    Pacemaker(String),
}

impl CibSource {
    /// The CIB text, or its status section; empty if it cannot be read.
    pub fn read(&self) -> String {
        match self {
            // crm_ticket rewrites the file in place (truncate, then one
            // write): a read may catch it empty; read again until the
            // document is complete (up to 2 s on a loaded machine).
            CibSource::File(p) => {
                let mut last = String::new();
                for _ in 0..400 {
                    last = std::fs::read_to_string(p).unwrap_or_default();
                    if last.trim_end().ends_with("</cib>") {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                last
            }
            CibSource::Pacemaker(ns) => Command::new("ip")
                .args(["netns", "exec", ns, "cibadmin", "-Q", "-o", "status"])
                .stderr(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default(),
        }
    }
}

pub struct Lab {
    pub name: String,
    pub switch: String,
    pub hosts: Vec<Host>,
    pub dir: PathBuf,
    pub conf: PathBuf,
    /// The `ip netns exec ... pacemakerd` processes of Pacemaker hosts.
    pcmk_children: Vec<Child>,
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run_input(args: &[&str], input: &str) {
    use std::io::Write;
    let mut c = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "{}", args.join(" "));
}

impl Lab {
    /// Hosts 198.51.100.1.. in order; `config_tail` is appended after the
    /// member lines (tickets), with `@DIR@` replaced by the lab's directory.
    pub fn new(name: &str, members: &[(&str, Impl)], config_tail: &str) -> Lab {
        Lab::with_pacemaker(name, members, config_tail, &[])
    }

    /// As `new`; the sites listed in `pcmk` will run real Pacemaker (see
    /// `start_pacemaker`).
    pub fn with_pacemaker(
        name: &str,
        members: &[(&str, Impl)],
        config_tail: &str,
        pcmk: &[usize],
    ) -> Lab {
        // Never build a lab whose subnet the real host already uses.
        let addrs = String::from_utf8(run(&["ip", "-o", "addr"]).stdout).unwrap();
        let routes = String::from_utf8(run(&["ip", "route"]).stdout).unwrap();
        assert!(
            !addrs.contains("198.51.100.") && !routes.contains("198.51.100."),
            "198.51.100.0/24 is in use in the root namespace; refusing to build a lab"
        );
        let tag = format!("{name}{}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("booth-lab-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut lab = Lab {
            switch: format!("bsw-{tag}"),
            name: tag.clone(),
            hosts: Vec::new(),
            conf: dir.join("booth.conf"),
            dir,
            pcmk_children: Vec::new(),
        };
        run(&["ip", "netns", "add", &lab.switch]);
        run(&[
            "ip",
            "-n",
            &lab.switch,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
        ]);
        run(&["ip", "-n", &lab.switch, "link", "set", "br0", "up"]);
        run_input(
            &["ip", "netns", "exec", &lab.switch, "nft", "-f", "-"],
            "table bridge lab {\n chain ports {\n  type filter hook forward priority 0; policy accept;\n }\n}\n",
        );
        let mut conf = String::from("port = 9929\n");
        for (k, (kind, imp)) in members.iter().enumerate() {
            let ns = format!("bh{k}-{tag}");
            let addr = format!("198.51.100.{}", k + 1);
            run(&["ip", "netns", "add", &ns]);
            // No IPv6 in any lab host: the C booth needs that, and the lab is
            // an IPv4 one anyway.
            run(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
            let port = format!("p{k}");
            run(&[
                "ip",
                "-n",
                &ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &lab.switch,
            ]);
            run(&[
                "ip",
                "-n",
                &lab.switch,
                "link",
                "set",
                &port,
                "master",
                "br0",
                "up",
            ]);
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            conf.push_str(&format!("{kind} = {addr}\n"));
            lab.hosts.push(Host {
                ns,
                addr,
                imp: *imp,
                kind: kind.to_string(),
                pcmk: pcmk.contains(&k),
                daemon: None,
            });
        }
        conf.push_str(&config_tail.replace("@DIR@", &lab.dir.display().to_string()));
        std::fs::write(&lab.conf, conf).unwrap();
        lab
    }

    pub fn cib(&self, k: usize) -> PathBuf {
        self.dir.join(format!("cib{k}.xml"))
    }

    /// Indices of the sites (members that record tickets).
    pub fn sites(&self) -> Vec<usize> {
        (0..self.hosts.len())
            .filter(|&k| self.hosts[k].kind == "site")
            .collect()
    }

    /// Where each site's ticket state can be read, for watchers.
    pub fn cib_sources(&self) -> Vec<(usize, CibSource)> {
        self.sites()
            .into_iter()
            .map(|k| {
                let src = if self.hosts[k].pcmk {
                    CibSource::Pacemaker(self.hosts[k].ns.clone())
                } else {
                    CibSource::File(self.cib(k))
                };
                (k, src)
            })
            .collect()
    }

    /// Removes site `k`'s CIB file (its daemon must be stopped).
    pub fn wipe_cib(&self, k: usize) {
        let _ = std::fs::remove_file(self.cib(k));
    }

    /// Starts member `k`'s daemon (sites record tickets in a CIB file
    /// through the real crm_ticket).
    pub fn start(&mut self, k: usize) {
        let bin = match self.hosts[k].imp {
            Impl::Rust => OURS,
            Impl::C => C_BOOTHD,
        };
        self.start_program(k, bin, false);
    }

    /// Starts `bin` as member `k`'s daemon, as in production but for `-S`
    /// (no fork: the child we hold is the daemon itself), without realtime
    /// scheduling unless `realtime`; returns its PID. Its stderr goes to
    /// `m<k>.log`.
    pub fn start_program(&mut self, k: usize, bin: &str, realtime: bool) -> u32 {
        let cib = self.cib(k);
        if !cib.exists() && !self.hosts[k].pcmk {
            empty_cib(&cib);
        }
        let h = &self.hosts[k];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("m{k}.log")))
            .unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &h.ns, "env"]);
        if !h.pcmk {
            cmd.arg(format!("CIB_file={}", cib.display()));
        }
        if !realtime {
            cmd.arg("BOOTH_NO_REALTIME=1");
        }
        let child = cmd
            .args([bin, "daemon", "-S", "-c"])
            .arg(&self.conf)
            .arg("-l")
            .arg(self.dir.join(format!("m{k}.pid")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.hosts[k].daemon = Some(child);
        pid
    }

    pub fn start_all(&mut self) {
        for k in 0..self.hosts.len() {
            self.start(k);
        }
        for k in 0..self.hosts.len() {
            wait_for(Duration::from_secs(15), || {
                self.booth(k, Impl::Rust, &["list"]).status.success()
            });
        }
    }

    pub fn kill(&mut self, k: usize) {
        if let Some(mut c) = self.hosts[k].daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether member `k`'s daemon was started and is still running.
    pub fn running(&mut self, k: usize) -> bool {
        match self.hosts[k].daemon.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts member `k` and waits until it answers clients.
    pub fn start_wait(&mut self, k: usize) {
        self.start(k);
        self.wait_up(k);
    }

    /// Waits until member `k`'s daemon answers clients.
    pub fn wait_up(&self, k: usize) {
        wait_for(Duration::from_secs(15), || {
            self.booth(k, Impl::Rust, &["list"]).status.success()
        });
    }

    /// Starts a single-node Pacemaker cluster (corosync and pacemakerd)
    /// in host `k`'s namespace, with private /var/lib/pacemaker,
    /// /var/lib/corosync and /run (bind mounts in the mount namespace of
    /// `ip netns exec`), and returns at once; `wait_pacemaker` waits for it.
    pub fn start_pacemaker(&mut self, k: usize) {
        let h = &self.hosts[k];
        let d = self.dir.join(format!("pcmk{k}"));
        for sub in [
            "lib/cib",
            "lib/pengine",
            "lib/blackbox",
            "lib/cores",
            "coro",
            "run",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        run(&[
            "chown",
            "-R",
            "hacluster:haclient",
            &d.join("lib").display().to_string(),
        ]);
        let conf = d.join("corosync.conf");
        std::fs::write(
            &conf,
            format!(
                "totem {{\n version: 2\n cluster_name: site{k}\n transport: knet\n crypto_cipher: none\n crypto_hash: none\n}}\n\
                 nodelist {{\n node {{\n  ring0_addr: {}\n  name: node{k}\n  nodeid: 1\n }}\n}}\n\
                 quorum {{\n provider: corosync_votequorum\n}}\n\
                 logging {{\n to_stderr: yes\n to_logfile: no\n to_syslog: no\n}}\n",
                h.addr
            ),
        )
        .unwrap();
        let d = d.display();
        let script = format!(
            "set -e\n\
             mount --bind {d}/lib /var/lib/pacemaker\n\
             mount --bind {d}/coro /var/lib/corosync\n\
             mount --bind {d}/run /run\n\
             export PCMK_logfile={d}/pacemaker.log\n\
             corosync -f -c {d}/corosync.conf >{d}/corosync.out 2>&1 &\n\
             i=0; until corosync-quorumtool -s >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done\n\
             exec pacemakerd >{d}/pacemakerd.out 2>&1\n"
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &h.ns, "sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.pcmk_children.push(child);
    }

    /// Runs a command in host `k`'s namespace.
    pub fn exec(&self, k: usize, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.hosts[k].ns])
            .args(args)
            .output()
            .unwrap()
    }

    /// Waits until host `k`'s Pacemaker has elected itself DC, then turns
    /// fencing off (a lab has no fence devices).
    pub fn wait_pacemaker(&self, k: usize, limit: Duration) {
        wait_for(limit, || {
            let o = self.exec(k, &["crm_mon", "-1"]);
            String::from_utf8_lossy(&o.stdout).contains(&format!("Current DC: node{k} "))
        });
        let o = self.exec(
            k,
            &[
                "crm_attribute",
                "-t",
                "crm_config",
                "-n",
                "stonith-enabled",
                "-v",
                "false",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// Runs a client (`booth <args>`) of either implementation inside host
    /// `k`'s namespace, talking to that host's daemon unless `-s` says
    /// otherwise.
    pub fn booth(&self, k: usize, imp: Impl, args: &[&str]) -> Output {
        let bin = match imp {
            Impl::Rust => OURS,
            Impl::C => "/usr/sbin/booth",
        };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[k].ns]);
        // Neither client may hang a test.
        cmd.args(["timeout", "30", bin]);
        cmd.arg(args[0]).arg("-c").arg(&self.conf).args(&args[1..]);
        cmd.output().unwrap()
    }

    /// Runs our `geostore` (the binary under that name) in host `k`'s
    /// namespace.
    pub fn geostore(&self, k: usize, args: &[&str]) -> Output {
        let link = self.dir.join("geostore");
        if !link.exists() {
            let _ = std::os::unix::fs::symlink(OURS, &link);
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[k].ns, "timeout", "30"]);
        cmd.arg(&link)
            .arg(args[0])
            .arg("-c")
            .arg(&self.conf)
            .args(&args[1..]);
        cmd.output().unwrap()
    }

    pub fn list(&self, k: usize) -> String {
        String::from_utf8_lossy(&self.booth(k, Impl::Rust, &["list"]).stdout).into_owned()
    }

    /// The ticket as recorded in site `k`'s CIB.
    pub fn cib_state(&self, k: usize, ticket: &str) -> String {
        let out = Command::new("crm_ticket")
            .args(["-t", ticket, "-q"])
            .env("CIB_file", self.cib(k))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn granted_in_cib(&self, k: usize, ticket: &str) -> bool {
        self.cib_state(k, ticket).contains("granted=\"true\"")
    }

    /// Cuts host `k` off from every other host (both directions).
    pub fn isolate(&self, k: usize) {
        let rules = format!(
            "add rule bridge lab ports iifname \"p{k}\" drop\nadd rule bridge lab ports oifname \"p{k}\" drop\n"
        );
        run_input(
            &["ip", "netns", "exec", &self.switch, "nft", "-f", "-"],
            &rules,
        );
    }

    /// Drops `percent` % of all frames crossing the bridge, in both
    /// directions, at random (senders see no error, as on a real network).
    pub fn loss(&self, percent: u32) {
        let rule = format!("add rule bridge lab ports numgen random mod 100 < {percent} drop\n");
        run_input(
            &["ip", "netns", "exec", &self.switch, "nft", "-f", "-"],
            &rule,
        );
    }

    pub fn heal(&self) {
        run(&[
            "ip",
            "netns",
            "exec",
            &self.switch,
            "nft",
            "flush",
            "chain",
            "bridge",
            "lab",
            "ports",
        ]);
    }

    pub fn log(&self, k: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("m{k}.log"))).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for k in 0..self.hosts.len() {
            self.kill(k);
        }
        // Pacemaker hosts: every process in the namespace was started by
        // this lab; stop them by pid (TERM, then KILL).
        for h in self.hosts.iter().filter(|h| h.pcmk) {
            for sig in ["-TERM", "-KILL"] {
                let pids = Command::new("ip")
                    .args(["netns", "pids", &h.ns])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let pids: Vec<&str> = pids.split_whitespace().collect();
                if pids.is_empty() {
                    break;
                }
                let _ = Command::new("kill").arg(sig).args(&pids).output();
                for _ in 0..50 {
                    std::thread::sleep(Duration::from_millis(100));
                    let left = Command::new("ip")
                        .args(["netns", "pids", &h.ns])
                        .output()
                        .map(|o| !o.stdout.is_empty())
                        .unwrap_or(false);
                    if !left {
                        break;
                    }
                }
            }
        }
        for mut c in self.pcmk_children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        for h in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", &h.ns]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.switch])
            .output();
        if std::thread::panicking() {
            for k in 0..self.hosts.len() {
                eprintln!("--- log of host {k} ---\n{}", self.log(k));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
