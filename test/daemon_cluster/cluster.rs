//! The loopback cluster of these tests: members started as in production
//! (Pacemaker's tools, or a given crm_ticket), driven by the real client.

use super::*;

pub(crate) struct Cluster {
    pub(crate) dir: PathBuf,
    pub(crate) conf: PathBuf,
    pub(crate) daemons: Vec<Option<Child>>,
}

impl Cluster {
    pub(crate) fn new(name: &str, tickets: &str) -> Cluster {
        let dir = cluster_dir("cluster", name);
        let conf = dir.join("booth.conf");
        std::fs::write(&conf, loopback_conf(free_port(), "", tickets)).unwrap();
        Cluster {
            dir,
            conf,
            daemons: vec![None, None, None],
        }
    }

    pub(crate) fn lock(&self, i: usize) -> PathBuf {
        self.dir.join(format!("m{i}.pid"))
    }

    /// Member `i`'s daemon in the foreground, logging to m{i}.log, with
    /// no store chosen yet (Pacemaker's tools unless told otherwise).
    pub(crate) fn pacemaker_command(&self, i: usize) -> Command {
        let mut c = Command::new(BIN);
        c.args(["daemon", "-S", "-c"])
            .arg(&self.conf)
            .args(["-s", &addr(i), "-l"])
            .arg(self.lock(i))
            .env("BOOTH_NO_REALTIME", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("m{i}.log"))).unwrap());
        c
    }

    /// Member `i`'s daemon with its own state directory.
    pub(crate) fn command(&self, i: usize) -> Command {
        let mut c = self.pacemaker_command(i);
        c.arg("--state-dir").arg(self.dir.join(format!("state{i}")));
        c
    }

    pub(crate) fn start(&mut self, i: usize) {
        let child = self.command(i).spawn().unwrap();
        self.daemons[i] = Some(child);
        // Up when it answers `booth list`, as the OCF agent checks.
        wait_for(Duration::from_secs(10), || {
            self.client(&["list", "-s", &addr(i)]).status.success()
        });
    }

    /// Starts all members with Pacemaker as the store, through the given
    /// `crm_ticket` program, and waits until they answer.
    pub(crate) fn start_all_with_crm_ticket(&mut self, crm_ticket: &std::path::Path) {
        for i in 0..3 {
            let mut cmd = self.pacemaker_command(i);
            cmd.env("BOOTH_CRM_TICKET", crm_ticket);
            self.daemons[i] = Some(cmd.spawn().unwrap());
        }
        for i in 0..3 {
            wait_for(Duration::from_secs(10), || {
                self.client(&["list", "-s", &addr(i)]).status.success()
            });
        }
    }

    /// Starts all members: site 0 records tickets in the CIB file `cib`
    /// through Pacemaker's tools (with `env`), the others in state
    /// directories; waits until all answer.
    pub(crate) fn start_with_cib_at_site0(
        &mut self,
        cib: &std::path::Path,
        env: &[(&str, &std::ffi::OsStr)],
    ) {
        for i in 0..3 {
            let mut cmd = if i == 0 {
                let mut cmd = self.pacemaker_command(i);
                cmd.env("CIB_file", cib);
                for (k, v) in env {
                    cmd.env(k, v);
                }
                cmd
            } else {
                self.command(i)
            };
            self.daemons[i] = Some(cmd.spawn().unwrap());
        }
        for i in 0..3 {
            wait_for(Duration::from_secs(10), || {
                self.client(&["list", "-s", &addr(i)]).status.success()
            });
        }
    }

    /// Every member's host goes down; site 0's promise record (in /run)
    /// is gone with its reboot, and its configuration now names ticketB
    /// where it named ticketA. Returns the configuration as it was.
    pub(crate) fn reboot_all_without_ticket_a(&mut self) -> String {
        for i in 0..3 {
            self.kill(i);
        }
        std::fs::remove_file(self.lock(0).with_extension("pid.promises")).unwrap();
        let text = std::fs::read_to_string(&self.conf).unwrap();
        std::fs::write(&self.conf, text.replace("ticketA", "ticketB")).unwrap();
        text
    }

    /// Site 0 runs without ticketA; `text` (which has it) is reloaded
    /// there; ticketA must then be held by site 0.
    pub(crate) fn reload_site0_expecting_ticket_a_held(&self, text: &str) {
        assert!(!self.list(0).contains("ticketA"), "{}", self.list(0));
        std::fs::write(&self.conf, text).unwrap();
        self.signal(0, "HUP");
        wait_for(Duration::from_secs(5), || self.list(0).contains("ticketA"));
        assert!(
            self.list(0)
                .starts_with("ticket: ticketA, leader: 127.0.0.1, expires: "),
            "{}\n{}",
            self.list(0),
            self.log(0)
        );
    }

    pub(crate) fn start_all(&mut self) {
        for i in 0..3 {
            self.start(i);
        }
    }

    pub(crate) fn pid(&self, i: usize) -> u32 {
        self.daemons[i].as_ref().unwrap().id()
    }

    pub(crate) fn signal(&self, i: usize, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid(i).to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.daemons[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn client(&self, args: &[&str]) -> Output {
        let mut full = vec![args[0], "-c", self.conf.to_str().unwrap()];
        full.extend_from_slice(&args[1..]);
        Command::new(BIN).args(&full).output().unwrap()
    }

    pub(crate) fn list(&self, i: usize) -> String {
        String::from_utf8(self.client(&["list", "-s", &addr(i)]).stdout).unwrap()
    }

    pub(crate) fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("m{i}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.daemons.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) const TICKET: &str = "ticket = ticketA\n  expire = 10\n  timeout = 1\n  retries = 3\n";

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
