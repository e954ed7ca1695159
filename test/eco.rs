//! The shipped ecosystem files: the systemd units and generator, the OCF
//! agent's actions against a real daemon, the init script, the man pages,
//! booth-keygen and shellcheck on the scripts (`make install` is in
//! test/install_layout.rs, the cluster tools in test/packaging.rs).
//!
//! Tools that may be missing (systemd-analyze, groff, shellcheck) make their
//! test print `SKIPPED` and why; with CI=true a missing groff or shellcheck
//! fails instead, since CI is expected to install them. The OCF agent uses
//! resource-agents' ocf-shellfuncs when installed, else a minimal stand-in.

mod common;
mod tools;

use common::{assert_success, text, TempDir, BIN};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tools::{have, missing, run_limited, src, tree, SRC};

#[test]
fn systemd_units_verify() {
    if missing("systemd-analyze", "systemd_units_verify", false) {
        return;
    }
    // Verify copies that start the built binary, so the check does not
    // depend on /usr/sbin/boothd being installed.
    let dir = TempDir::new("eco-units");
    let mut paths = Vec::new();
    for unit in [
        "booth.service",
        "booth@.service",
        "booth-arbitrator.service",
    ] {
        let body = fs::read_to_string(src("conf").join(unit)).unwrap();
        let p = dir.path().join(unit);
        fs::write(&p, body.replace("/usr/sbin/boothd", BIN)).unwrap();
        paths.push(p);
    }
    let a = fs::read_to_string(src("conf/booth-arbitrator.service")).unwrap();
    assert!(a.contains("Type=simple"));
    assert!(a.contains("ExecStart=/usr/sbin/boothd daemon -S -c /etc/booth/booth.conf"));
    assert!(a.contains("Restart=on-failure"));
    // An enabled unit without a configuration is skipped, not failed.
    assert!(a.contains("ConditionFileNotEmpty=/etc/booth/booth.conf"));
    let t = fs::read_to_string(src("conf/booth@.service")).unwrap();
    assert!(t.contains("Type=simple"));
    assert!(t.contains("ExecStart=/usr/sbin/boothd daemon -S -c /etc/booth/%i.conf"));
    assert!(t.contains("ConditionFileNotEmpty=/etc/booth/%i.conf"));
    assert!(t.contains("Conflicts=pacemaker.service"));
    // booth.service stops, restarts and reloads every instance.
    assert!(t.contains("PartOf=booth.service"));
    assert!(t.contains("ReloadPropagatedFrom=booth.service"));
    let all = fs::read_to_string(src("conf/booth.service")).unwrap();
    assert!(all.contains("Type=oneshot") && all.contains("RemainAfterExit=yes"));
    assert!(all.contains("ExecReload="));
    // The units name our man pages (Documentation=man:boothd(8)), which
    // verify looks up: ours, not whatever booth package the host has.
    let man8 = dir.path().join("man").join("man8");
    fs::create_dir_all(&man8).unwrap();
    for page in ["boothd.8", "booth-keygen.8", "geostore.8"] {
        std::os::unix::fs::symlink(src("man").join(page), man8.join(page)).unwrap();
    }
    let out = run_limited(
        Command::new("systemd-analyze")
            .arg("verify")
            .args(&paths)
            .env("MANPATH", dir.path().join("man")),
        Duration::from_secs(20),
    );
    assert_success(&out, "systemd-analyze verify");
}

#[test]
fn generator_wants_one_instance_per_configuration() {
    let dir = TempDir::new("eco-generator");
    let conf = dir.path().join("conf");
    fs::create_dir_all(&conf).unwrap();
    for f in [
        "booth.conf",
        "east.conf",
        "v2.east.conf",
        "bad name.conf",
        "notes.txt",
    ] {
        fs::write(conf.join(f), "site = 127.0.0.1\n").unwrap();
    }
    fs::create_dir_all(conf.join("dir.conf")).unwrap();
    let out_dir = dir.path().join("normal");
    let out = Command::new(src("conf/booth-generator"))
        .arg(&out_dir)
        .arg(dir.path().join("early"))
        .arg(dir.path().join("late"))
        .env("BOOTH_GENERATOR_CONF_DIR", &conf)
        .output()
        .unwrap();
    assert_success(&out, "booth-generator");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad name.conf"));
    assert_eq!(
        tree(&out_dir),
        [
            "booth.service.wants/booth@booth.service -> /usr/lib/systemd/system/booth@.service",
            "booth.service.wants/booth@east.service -> /usr/lib/systemd/system/booth@.service",
            "booth.service.wants/booth@v2.east.service -> /usr/lib/systemd/system/booth@.service",
        ]
    );
    // Run again (daemon-reload): same result, no error.
    let again = Command::new(src("conf/booth-generator"))
        .arg(&out_dir)
        .env("BOOTH_GENERATOR_CONF_DIR", &conf)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(tree(&out_dir).len(), 3);
    // No configurations: nothing is created.
    let empty = dir.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let none = dir.path().join("none");
    let out = Command::new(src("conf/booth-generator"))
        .arg(&none)
        .env("BOOTH_GENERATOR_CONF_DIR", &empty)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!none.join("booth.service.wants").exists());
}

#[test]
fn lsb_header_starts_in_every_multi_user_runlevel() {
    let script = fs::read_to_string(src("init/booth-arbitrator")).unwrap();
    let header = |key: &str| -> String {
        let line = script
            .lines()
            .find(|l| l.starts_with(&format!("# {key}:")))
            .unwrap_or_else(|| panic!("no {key}"));
        line.split_once(':')
            .unwrap()
            .1
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Debian's default runlevel is 2; Red Hat and SUSE use 3 and 5.
    assert_eq!(header("Default-Start"), "2 3 4 5");
    assert_eq!(header("Default-Stop"), "0 1 6");
    for key in ["Required-Start", "Required-Stop"] {
        assert!(header(key).contains("$remote_fs"), "{key}");
        assert!(header(key).contains("$network"), "{key}");
    }
    // Hands over to systemctl on Debian when systemd runs the host.
    assert!(script.contains(". /lib/lsb/init-functions"));
}

#[test]
fn man_pages_render_without_warnings() {
    if missing("groff", "man_pages_render_without_warnings", true) {
        return;
    }
    for page in ["boothd.8", "geostore.8", "booth-keygen.8"] {
        let path = src("man").join(page);
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "groff {page}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "groff warnings for {page}"
        );
    }
    // Every command, option, key and handler variable is documented.
    let boothd = fs::read_to_string(src("man/boothd.8")).unwrap();
    let words = [
        "daemon",
        "status",
        "config\\-check",
        "list",
        "peers",
        "grant",
        "revoke",
        "\\-c",
        "\\-s",
        "\\-t",
        "\\-F",
        "\\-w",
        "\\-C",
        "\\-D",
        "\\-l",
        "\\-S",
        "\\-h",
        "\\-\\-state\\-dir",
        "transport",
        "port",
        "name",
        "authfile",
        "maxtimeskew",
        "site",
        "arbitrator",
        "site\\-user",
        "site\\-group",
        "arbitrator\\-user",
        "arbitrator\\-group",
        "debug",
        "ticket",
        "__defaults__",
        "expire",
        "acquire\\-after",
        "renewal\\-freq",
        "timeout",
        "retries",
        "weights",
        "mode",
        "before\\-acquire\\-handler",
        "attr\\-prereq",
        "BOOTH_TICKET",
        "BOOTH_LOCAL",
        "BOOTH_CONF_NAME",
        "BOOTH_CONF_PATH",
        "BOOTH_TICKET_EXPIRES",
        "BOOTH_TICKET_TERM",
        "BOOTH_NO_REALTIME",
        "BOOTH_CRM_TICKET",
        "BOOTH_CIBADMIN",
        "EXIT STATUS",
        "FILES",
        "DIFFERENCES FROM THE C BOOTH",
        "compatibility.md",
        // What the C booth's page has too.
        "\\-\\-version",
        ".BI client",
        "resends",
        "authfail",
        "invalid",
        "BOOTH TICKET MANAGEMENT",
        "MANUAL TICKETS",
        "ARBITRATOR MANAGEMENT",
        "enable\\-authfile",
        "booth.service",
        "booth\\-generator",
        "SIGNALS",
        "DAEMON ENVIRONMENT",
    ];
    // The installed page carries the version in its title line.
    let th = boothd.lines().find(|l| l.starts_with(".TH")).unwrap();
    assert!(th.contains("@VERSION@"), "{th}");
    for w in words {
        assert!(boothd.contains(w), "boothd.8 lacks {w}");
    }
    if have("man") {
        let out = Command::new("man")
            .arg("-l")
            .arg(src("man/boothd.8"))
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        assert!(out.status.success(), "man -l boothd.8");
        assert!(String::from_utf8_lossy(&out.stdout).contains("ticket manager"));
    }
}

#[test]
fn scripts_pass_shellcheck() {
    if missing("shellcheck", "scripts_pass_shellcheck", true) {
        return;
    }
    let out = Command::new("shellcheck")
        .args([
            "-x",
            "init/booth-site",
            "init/booth-arbitrator",
            "init/service-runnable",
            "init/booth-keygen",
            "init/ocf/geostore",
            "init/ocf/sharedrsc",
            "init/alerts/alert_file.sh",
            "init/alerts/alert_smtp.sh",
            "init/alerts/alert_prometheus.sh",
            "conf/booth-generator",
            "test/setup.sh",
            "test/upstream-suite.sh",
            "test/demo.sh",
            ".ci/run",
        ])
        .current_dir(SRC)
        .output()
        .unwrap();
    assert!(out.status.success(), "shellcheck: {}", text(&out.stdout));
}

#[test]
fn booth_keygen_writes_a_private_key_once() {
    let dir = TempDir::new("eco-keygen");
    let key = dir.path().join("authkey");
    let keygen = src("init/booth-keygen");
    let out = Command::new(&keygen).arg(&key).output().unwrap();
    assert_success(&out, "booth-keygen");
    let meta = fs::metadata(&key).unwrap();
    assert_eq!(meta.len(), 64);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let first = fs::read(&key).unwrap();

    // A second run refuses and leaves the key alone.
    let out = Command::new(&keygen).arg(&key).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(fs::read(&key).unwrap(), first);

    // Relative paths are refused.
    let out = Command::new(&keygen)
        .arg("authkey")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!dir.path().join("authkey2").exists());
}

/// Enough of resource-agents' ocf-shellfuncs for the booth-site agent.
const MINIMAL_SHELLFUNCS: &str = r#"# Minimal stand-in for resource-agents' ocf-shellfuncs (tests only).
OCF_SUCCESS=0
OCF_ERR_GENERIC=1
OCF_ERR_ARGS=2
OCF_ERR_UNIMPLEMENTED=3
OCF_ERR_PERM=4
OCF_ERR_INSTALLED=5
OCF_ERR_CONFIGURED=6
OCF_NOT_RUNNING=7
ocf_log() { shift; echo "$*" >&2; }
ocf_exit_reason() { echo "ocf-exit-reason:$*" >&2; }
ocf_is_true() {
	case "$1" in yes | true | 1 | YES | TRUE | True | ja | on | ON) return 0 ;; esac
	return 1
}
"#;

/// The OCF agent, run with parameters as Pacemaker passes them.
struct Agent {
    ocf_root: PathBuf,
    params: Vec<(String, String)>,
}

impl Agent {
    fn run(&self, action: &str) -> Output {
        let mut cmd = Command::new(src("init/booth-site"));
        cmd.arg(action)
            .env("OCF_ROOT", &self.ocf_root)
            .env_remove("OCF_FUNCTIONS_DIR")
            .env("BOOTH_NO_REALTIME", "1");
        for (k, v) in &self.params {
            cmd.env(format!("OCF_RESKEY_{k}"), v);
        }
        run_limited(&mut cmd, Duration::from_secs(20))
    }

    fn code(&self, action: &str) -> i32 {
        let out = self.run(action);
        out.status
            .code()
            .unwrap_or_else(|| panic!("{action} killed: {out:?}"))
    }
}

/// Stops the daemon even when an assertion failed half-way.
struct StopOnDrop<'a>(&'a Agent);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.run("stop");
    }
}

fn ocf_root(scratch: &Path) -> PathBuf {
    let real = Path::new("/usr/lib/ocf");
    if real.join("lib/heartbeat/ocf-shellfuncs").exists() {
        return real.to_path_buf();
    }
    eprintln!("resource-agents is not installed: using a minimal ocf-shellfuncs");
    let root = scratch.join("ocf");
    fs::create_dir_all(root.join("lib/heartbeat")).unwrap();
    fs::write(
        root.join("lib/heartbeat/ocf-shellfuncs"),
        MINIMAL_SHELLFUNCS,
    )
    .unwrap();
    root
}

#[test]
fn ocf_agent_actions_and_exit_codes() {
    let dir = TempDir::new("eco-ocf");
    let root = ocf_root(dir.path());

    // The agent takes the client from the daemon's directory, so give it
    // one where both names exist.
    let bindir = dir.path().join("bin");
    fs::create_dir_all(&bindir).unwrap();
    for name in ["boothd", "booth"] {
        std::os::unix::fs::symlink(BIN, bindir.join(name)).unwrap();
    }
    // A port the kernel just handed out and nobody holds: a fixed formula
    // can land on another process's ephemeral port.
    let port = common::free_port();
    let conf = dir.path().join("eco.conf");
    let run_as = common::run_as_lines();
    fs::write(
        &conf,
        format!(
            "port = {port}\n{run_as}site = 127.0.0.1\nticket = \"ticket-eco\"\n    expire = 10\n    timeout = 1\n    retries = 3\n"
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let lock = dir.path().join("eco.pid");
    let agent = Agent {
        ocf_root: root.clone(),
        params: vec![
            ("config".into(), conf.display().to_string()),
            ("daemon".into(), bindir.join("boothd").display().to_string()),
            (
                "args".into(),
                format!(
                    "-s 127.0.0.1 --state-dir {} -l {}",
                    state.display(),
                    lock.display()
                ),
            ),
        ],
    };

    // meta-data: XML, exit 0.
    let out = agent.run("meta-data");
    assert_eq!(out.status.code(), Some(0));
    let xml = text(&out.stdout);
    assert!(xml.starts_with("<?xml"));
    assert!(xml.contains("<resource-agent name=\"booth-site\""));
    for a in [
        "start",
        "stop",
        "restart",
        "monitor",
        "reload",
        "meta-data",
        "validate-all",
    ] {
        assert!(
            xml.contains(&format!("<action name=\"{a}\"")),
            "meta-data lacks {a}"
        );
    }
    assert!(xml.trim_end().ends_with("</resource-agent>"));
    // Two daemons with the same configuration, arguments or binary would
    // fight over one lock file: all three are unique, as in the C agent.
    for p in ["config", "args", "daemon"] {
        assert!(
            xml.contains(&format!("<parameter name=\"{p}\" unique=\"1\"")),
            "{p} is not unique"
        );
    }

    // validate-all: a missing configuration is OCF_ERR_INSTALLED (as in
    // the C agent): Pacemaker then avoids this node only.
    let missing_conf = Agent {
        ocf_root: root.clone(),
        params: vec![(
            "config".into(),
            dir.path().join("nope.conf").display().to_string(),
        )],
    };
    assert_eq!(missing_conf.code("validate-all"), 5);
    assert_eq!(missing_conf.code("start"), 5);
    // A probe on a node without the file: not running, not an error.
    assert_eq!(missing_conf.code("monitor"), 7);
    assert_eq!(agent.code("validate-all"), 0);
    // An unknown action is OCF_ERR_UNIMPLEMENTED.
    assert_eq!(agent.code("promote"), 3);

    // Nothing running: monitor is OCF_NOT_RUNNING, stop succeeds.
    assert_eq!(agent.code("monitor"), 7);
    assert_eq!(agent.code("stop"), 0);

    // A real cycle.
    let _guard = StopOnDrop(&agent);
    let out = agent.run("start");
    assert_eq!(
        out.status.code(),
        Some(0),
        "start: {}{}",
        text(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(agent.code("monitor"), 0);
    assert_eq!(agent.code("start"), 0, "start is idempotent");
    let lock_pid = || -> i32 {
        fs::read_to_string(&lock)
            .unwrap()
            .split_whitespace()
            .find_map(|w| w.strip_prefix("booth_pid=").map(|p| p.parse().unwrap()))
            .expect("pid in the lock file")
    };
    let first = lock_pid();
    assert_eq!(agent.code("reload"), 0);
    assert_eq!(agent.code("monitor"), 0);
    // restart (as in the C agent) replaces the daemon.
    assert_eq!(agent.code("restart"), 0);
    assert_eq!(agent.code("monitor"), 0);
    let pid = lock_pid();
    assert_ne!(pid, first, "restart kept the daemon");
    let out = agent.run("stop");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(agent.code("monitor"), 7);
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    let zombie = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z"))
        .unwrap_or(true);
    assert!(!alive || zombie, "the daemon {pid} survived stop");
    assert_eq!(agent.code("stop"), 0, "stop is idempotent");
}

#[test]
fn lsb_init_script_starts_reports_and_stops_an_arbitrator() {
    // The script uses the default lock file under /var/run/booth, which
    // only root can create.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED lsb_init_script: needs root (default lock directory)");
        return;
    }
    if missing("pkill", "lsb_init_script", false) {
        return;
    }
    let dir = TempDir::new("eco-lsb");
    let bindir = dir.path().join("bin");
    fs::create_dir_all(&bindir).unwrap();
    // pkill matches the process name "boothd".
    std::os::unix::fs::symlink(BIN, bindir.join("boothd")).unwrap();
    let name = format!("eco-lsb-{}", std::process::id());
    let conf = dir.path().join(format!("{name}.conf"));
    let port = common::free_port();
    fs::write(
        &conf,
        format!(
            "port = {port}\n{}arbitrator = 127.0.0.1\nticket = \"ticket-eco\"\n",
            common::run_as_lines()
        ),
    )
    .unwrap();
    let script = |action: &str| -> (i32, String) {
        let out = run_limited(
            Command::new(src("init/booth-arbitrator"))
                .arg(action)
                .env("BOOTHD", bindir.join("boothd"))
                .env("BOOTH_CONF_FILE", &conf)
                .env("BOOTH_NO_REALTIME", "1"),
            Duration::from_secs(20),
        );
        // stderr too: a daemon that cannot start says why there.
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        (out.status.code().expect("exit code"), said)
    };
    struct Cleanup<'a>(&'a dyn Fn(&str) -> (i32, String), PathBuf);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = (self.0)("stop");
            let _ = fs::remove_file(&self.1);
            // The promise record kept next to the lock across restarts.
            let mut record = self.1.clone().into_os_string();
            record.push(".promises");
            let _ = fs::remove_file(record);
        }
    }
    let _cleanup = Cleanup(&script, PathBuf::from(format!("/var/run/booth/{name}.pid")));

    assert_eq!(script("status").0, 3, "LSB: not running");
    let (rc, out) = script("start");
    assert_eq!(rc, 0, "start: {out}");
    let (rc, out) = script("status");
    assert_eq!(rc, 0, "status: {out}");
    assert!(out.contains("arbitrator 127.0.0.1"), "{out}");
    assert_eq!(script("reload").0, 0);
    assert_eq!(script("restart").0, 0);
    assert_eq!(script("status").0, 0);
    assert_eq!(script("stop").0, 0);
    assert_eq!(script("status").0, 3);
    assert_eq!(script("stop").0, 0, "stop is idempotent");
    assert_eq!(script("bogus").0, 2, "LSB: invalid argument");
}

/// service-runnable against stand-ins for crm_simulate, crm_resource,
/// crm_ticket and logger that print what the test chooses.
#[test]
fn service_runnable_decides_from_the_simulation() {
    let dir = TempDir::new("eco-runnable");
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let fake = |name: &str, body: &str| {
        let p = bin.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    };
    let log = dir.path().join("log");
    fake("crm_simulate", "cat \"$FAKE_SIM\"");
    fake(
        "crm_resource",
        "case \"$*\" in *target-role*) printf '%s\\n' \"$FAKE_ROLE\" ;; *) printf '%s\\n' \"$FAKE_LIST\" ;; esac",
    );
    fake("crm_ticket", "printf '%s\\n' \"$FAKE_STANDBY\"");
    fake("logger", &format!("echo \"$*\" >> {}", log.display()));
    let sim = dir.path().join("sim");
    let run = |sim_text: &str, role: &str, standby: &str| -> i32 {
        fs::write(&sim, sim_text).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(src("init/service-runnable"))
            .arg("db8")
            .current_dir(dir.path())
            .env("PATH", path)
            .env("BOOTH_TICKET", "ticket-db8")
            .env("BOOTH_CONF_PATH", "/etc/booth/booth.conf")
            .env("FAKE_SIM", &sim)
            .env("FAKE_ROLE", role)
            .env("FAKE_STANDBY", standby)
            .env("FAKE_LIST", " db8\t(ocf:heartbeat:Dummy):\tStopped")
            .status()
            .unwrap()
            .code()
            .unwrap()
    };
    let started = "Current cluster status:\n  * db8\t(ocf:heartbeat:Dummy):\t Stopped\n\
                   Revised Cluster Status:\n  * db8\t(ocf:heartbeat:Dummy):\t Started node1\n";
    let stopped = "Current cluster status:\n  * db8\t(ocf:heartbeat:Dummy):\t Started node1\n\
                   Revised Cluster Status:\n  * db8\t(ocf:heartbeat:Dummy):\t Stopped\n";
    assert_eq!(run(started, "", "false"), 0, "starts after the grant");
    assert_eq!(run(stopped, "Stopped", "false"), 0, "stopped on purpose");
    assert_eq!(run(stopped, "", "true"), 0, "ticket in standby");
    assert_eq!(run(stopped, "", "false"), 1, "cannot run here");
    // The temporary simulation file is removed.
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("booth-check."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Without the resource among the primitives, the refusal is logged.
    fake("crm_resource", "exit 0");
    assert_eq!(run(stopped, "", "false"), 1);
    let logged = fs::read_to_string(&log).unwrap();
    assert!(logged.contains("booth-script"), "{logged}");
    assert!(logged.contains("is not a primitive"), "{logged}");
}
