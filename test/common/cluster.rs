//! A loopback cluster for the daemon tests of reloads and bad days: two
//! sites and an arbitrator on 127.0.0.1/2/3, each site with its own fake
//! `crm_ticket` that records what it "wrote".
//!
//! The fake reads its behaviour per ticket from marker files in the site's
//! directory: `fail-T` makes writes of T fail, `slow-T` makes them take
//! 4 s, `slow-load` makes the start-up query take 3 s. A successful write
//! leaves `granted` or `revoked` in `cib-T` (replaced whole, so that a
//! test reading it meanwhile never sees it empty), and every run is
//! logged to `log`. Geo attribute writes (`-S`, `-D`) take 0.3 s and log
//! "s PID" and "e PID" to `attrs`.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{addr, cluster_dir, free_port, kill_all, loopback_conf, wait_for, write_script, BIN};

pub struct Cluster {
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub port: u16,
    pub daemons: Vec<Option<Child>>,
    /// More arguments for every daemon (e.g. `--alerts-dir DIR`).
    pub daemon_args: Vec<String>,
}

pub fn ticket(name: &str) -> String {
    format!("ticket = {name}\n  expire = 10\n  timeout = 1\n  retries = 3\n")
}

impl Cluster {
    pub fn new(name: &str, tickets: &[&str]) -> Cluster {
        use std::os::unix::fs::PermissionsExt;
        let dir = cluster_dir("loopback", name);
        for i in 0..2 {
            let site = dir.join(format!("site{i}"));
            std::fs::create_dir_all(&site).unwrap();
            std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o777)).unwrap();
            write_script(
                &site.join("crm_ticket"),
                &format!(
                    "#!/bin/sh\nd={d}\ncase \"$*\" in *-q*) [ -f $d/slow-load ] && sleep 3; exit 105;; esac\n\
                     case \"$3\" in -S|-D) echo \"s $$\" >> $d/attrs; sleep 0.3; echo \"e $$\" >> $d/attrs; exit 0;; esac\n\
                     t=$2\necho \"start $t $3\" >> $d/log\n\
                     [ -f $d/slow-$t ] && sleep 4\n\
                     if [ -f $d/fail-$t ]; then echo \"fail $t $3\" >> $d/log; exit 1; fi\n\
                     case \"$3\" in -g) s=granted;; -r) s=revoked;; *) s=;; esac\n\
                     [ -n \"$s\" ] && echo $s > $d/cib-$t.$$ && mv $d/cib-$t.$$ $d/cib-$t\n\
                     echo \"done $t $3\" >> $d/log\n",
                    d = site.display()
                ),
            );
        }
        let port = free_port();
        let c = Cluster {
            conf: dir.join("booth.conf"),
            dir,
            port,
            daemons: vec![None, None, None],
            daemon_args: Vec::new(),
        };
        c.configure(tickets);
        c
    }

    /// Writes the configuration with these tickets, in this order: names,
    /// or whole `ticket = ...` blocks.
    pub fn configure(&self, tickets: &[&str]) {
        // A bare name gets the default timings; a block with '=' is used as is.
        let body: String = tickets
            .iter()
            .map(|t| {
                if t.contains('=') {
                    t.to_string()
                } else {
                    ticket(t)
                }
            })
            .collect();
        std::fs::write(&self.conf, loopback_conf(self.port, "", &body)).unwrap();
    }

    pub fn site(&self, i: usize) -> PathBuf {
        self.dir.join(format!("site{i}"))
    }

    pub fn start_all(&mut self) {
        self.start_all_wrapped(&[]);
    }

    /// Starts all members, site 0 through `wrap0` (a program and its
    /// arguments that exec the daemon, e.g. `prlimit`), if not empty.
    pub fn start_all_wrapped(&mut self, wrap0: &[&str]) {
        self.spawn_all(wrap0);
        self.wait_all();
    }

    /// Waits until every member answers `booth list`.
    pub fn wait_all(&self) {
        for i in 0..3 {
            wait_for(Duration::from_secs(10), || {
                self.client(&["list", "-s", &addr(i)]).status.success()
            });
        }
    }

    /// Starts all members without waiting for them (see `start_all_wrapped`).
    pub fn spawn_all(&mut self, wrap0: &[&str]) {
        for i in 0..3 {
            self.spawn_wrapped(i, if i == 0 { wrap0 } else { &[] });
        }
    }

    /// Starts member `i` (again) without waiting for it.
    pub fn spawn(&mut self, i: usize) {
        self.spawn_wrapped(i, &[]);
    }

    fn spawn_wrapped(&mut self, i: usize, wrap: &[&str]) {
        let mut c = match wrap.split_first() {
            Some((w, args)) => {
                let mut c = Command::new(w);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("m{i}.log")))
            .unwrap();
        c.args(["daemon", "-S", "-c"])
            .arg(&self.conf)
            .args(["-s", &addr(i), "-l"])
            .arg(self.dir.join(format!("m{i}.pid")))
            .args(&self.daemon_args)
            .envs(super::scheduling_env())
            .env("BOOTH_CRM_TICKET", self.site(i.min(1)).join("crm_ticket"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.daemons[i] = Some(c.spawn().unwrap());
    }

    /// Kills member `i` with SIGKILL (no clean exit) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.daemons[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, i: usize, sig: &str) {
        let pid = self.daemons[i].as_ref().unwrap().id();
        let ok = Command::new("kill")
            .args([format!("-{sig}"), pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Whether member `i`'s daemon still runs.
    pub fn alive(&mut self, i: usize) -> bool {
        self.daemons[i]
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    pub fn client_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg(args[0]).arg("-c").arg(&self.conf).args(&args[1..]);
        c
    }

    pub fn client(&self, args: &[&str]) -> Output {
        self.client_command(args).output().unwrap()
    }

    /// Starts a client in the background (its stdout dropped, its stderr
    /// kept for `wait_output`).
    pub fn start_client(&self, args: &[&str]) -> Child {
        self.client_command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Asserts that a client succeeded, showing its stderr and member 0's
    /// log if not.
    pub fn assert_ok(&self, out: &Output) {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log(0)
        );
    }

    /// Writes the configuration with these tickets and sends SIGHUP to
    /// these members.
    pub fn reload(&self, tickets: &[&str], members: std::ops::Range<usize>) {
        self.configure(tickets);
        for i in members {
            self.signal(i, "HUP");
        }
    }

    pub fn list(&self, i: usize) -> String {
        String::from_utf8(self.client(&["list", "-s", &addr(i)]).stdout).unwrap()
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("m{i}.log"))).unwrap_or_default()
    }

    /// What site `i`'s fake CIB holds for ticket `t`.
    pub fn cib(&self, i: usize, t: &str) -> String {
        std::fs::read_to_string(self.site(i).join(format!("cib-{t}")))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Site `i`'s fake crm_ticket log.
    pub fn writes(&self, i: usize) -> String {
        std::fs::read_to_string(self.site(i).join("log")).unwrap_or_default()
    }

    pub fn mark(&self, i: usize, marker: &str, on: bool) {
        let p = self.site(i).join(marker);
        if on {
            std::fs::write(p, "").unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        kill_all(&mut self.daemons);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
