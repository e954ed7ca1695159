//! The cluster tools administrators use, against our files and daemons:
//! pcs and crmsh with our binaries in place of /usr/sbin/boothd (and
//! booth) and our OCF agents in place of /usr/lib/ocf, both only inside a
//! private mount namespace (`unshare --mount`), so that nothing changes
//! for the rest of the host; ocf-tester on the agents; the geostore and
//! sharedrsc agents doing their work.
//!
//! Needs root, pcs, crmsh (crm), Pacemaker's command-line tools and the
//! mount points of Debian's booth package (/usr/sbin/boothd, /etc/booth);
//! each test prints `SKIPPED` and why where something is missing (with
//! CI=true a missing pcs or crm fails: .ci/run installs them).
//! Daemons listen on 127.0.0.1-3 at a port free at the start.

mod common;
mod tools;

use common::{describe, empty_cib, free_port, lock_pid, text, wait_until, TempDir, BIN};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tools::cluster::{Daemons, MountNs};
use tools::{make_install, missing, run_limited, src};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the test can run here; prints why not.
fn ready(test: &str, needs: &[&str]) -> bool {
    if !is_root() {
        eprintln!("SKIPPED {test}: needs root (mount namespaces, daemons dropping privileges)");
        return false;
    }
    for tool in ["unshare", "nsenter", "mount", "cibadmin", "crm_ticket"] {
        if missing(tool, test, false) {
            return false;
        }
    }
    for tool in needs {
        // pcs and crm are in CI's package list.
        if missing(tool, test, matches!(*tool, "pcs" | "crm" | "ocf-tester")) {
            return false;
        }
    }
    true
}

fn crm_ticket_query(cib: &Path, ticket: &str) -> String {
    let out = Command::new("crm_ticket")
        .args(["-t", ticket, "-q"])
        .env("CIB_file", cib)
        .output()
        .unwrap();
    text(&out.stdout)
}

/// `crm site ticket ...` on a CIB file.
fn crm_site_ticket(cib: &Path, args: &[&str]) -> Output {
    run_limited(
        Command::new("crm")
            .args(["site", "ticket"])
            .args(args)
            .env("CIB_file", cib),
        Duration::from_secs(60),
    )
}

/// The mount namespace with our boothd over /usr/sbin/boothd (and
/// booth, where that is not a link to it), a scratch /etc/booth and an
/// empty /run. None (printed) where the mount points are missing.
fn booth_namespace(test: &str, etc: &Path) -> Option<MountNs> {
    let sbin = Path::new("/usr/sbin/boothd");
    if !sbin.is_file() || !Path::new("/etc/booth").is_dir() {
        eprintln!(
            "SKIPPED {test}: /usr/sbin/boothd or /etc/booth is missing \
             (Debian's booth package provides the mount points)"
        );
        return None;
    }
    let ns = MountNs::new();
    let mut script = format!(
        "mount --bind '{BIN}' /usr/sbin/boothd\n\
         mount --bind '{}' /etc/booth\n\
         mount -t tmpfs tmpfs /var/run\n",
        etc.display()
    );
    let booth = Path::new("/usr/sbin/booth");
    if booth.is_file()
        && !fs::symlink_metadata(booth)
            .unwrap()
            .file_type()
            .is_symlink()
    {
        script.push_str(&format!("mount --bind '{BIN}' /usr/sbin/booth\n"));
    }
    ns.sh(&script);
    Some(ns)
}

#[test]
fn pcs_and_crmsh_drive_a_cluster_of_our_daemons() {
    let test = "pcs_and_crmsh_drive_a_cluster_of_our_daemons";
    if !ready(test, &["pcs", "crm"]) {
        return;
    }
    let dir = TempDir::new("pkg-pcs");
    // The daemons run as hacluster and write their CIB files here.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let etc = dir.path().join("etc");
    fs::create_dir_all(&etc).unwrap();
    let Some(ns) = booth_namespace(test, &etc) else {
        return;
    };
    let pcs = |args: &[&str]| -> Output {
        run_limited(ns.command("pcs").args(args), Duration::from_secs(60))
    };
    let ok = |out: Output, what: &str| -> String {
        assert!(out.status.success(), "{what}: {}", describe(&out));
        text(&out.stdout)
    };

    // The version our boothd reports through the installed names.
    let v = ok(
        run_limited(
            ns.command("/usr/sbin/booth").arg("--version"),
            Duration::from_secs(10),
        ),
        "booth --version",
    );
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");

    // pcs writes the configuration and the key ...
    ok(
        pcs(&[
            "booth",
            "setup",
            "sites",
            "127.0.0.1",
            "127.0.0.2",
            "arbitrators",
            "127.0.0.3",
        ]),
        "pcs booth setup",
    );
    let conf_file = etc.join("booth.conf");
    let conf = fs::read_to_string(&conf_file).unwrap();
    for line in [
        "site = 127.0.0.1",
        "site = 127.0.0.2",
        "arbitrator = 127.0.0.3",
        "authfile = ",
    ] {
        assert!(conf.contains(line), "{conf}");
    }
    // ... on a port of our own (others may test on 9929 meanwhile) ...
    let port = free_port();
    fs::write(&conf_file, format!("port = {port}\n{conf}")).unwrap();
    ok(
        pcs(&[
            "booth",
            "ticket",
            "add",
            "ticketA",
            "expire=30",
            "timeout=2",
            "retries=3",
        ]),
        "pcs booth ticket add",
    );
    let shown = ok(pcs(&["booth", "config"]), "pcs booth config");
    assert!(shown.contains("ticket = \"ticketA\""), "{shown}");
    assert!(shown.contains(&format!("port = {port}")), "{shown}");
    // ... which our daemon accepts as it is.
    ok(
        run_limited(
            ns.command("/usr/sbin/boothd")
                .args(["config-check", "-c", "/etc/booth/booth.conf"]),
            Duration::from_secs(10),
        ),
        "config-check",
    );

    // Two sites recording tickets in CIB files, one arbitrator; the first
    // site has the default lock file, which "pcs booth status" reads.
    let cibs = [dir.path().join("cib1.xml"), dir.path().join("cib2.xml")];
    cibs.iter().for_each(|c| empty_cib(c));
    let members = [
        ("127.0.0.1", "/var/run/booth/booth.pid", Some(&cibs[0])),
        ("127.0.0.2", "/var/run/booth/site2.pid", Some(&cibs[1])),
        ("127.0.0.3", "/var/run/booth/arbitrator.pid", None),
    ];
    let mut daemons = Daemons(Vec::new());
    for (i, (addr, lock, cib)) in members.iter().enumerate() {
        let log = fs::File::create(dir.path().join(format!("start{i}.log"))).unwrap();
        let mut cmd = ns.command("/usr/sbin/boothd");
        cmd.args(["daemon", "-s", addr, "-l", lock])
            .env("BOOTH_NO_REALTIME", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(cib) = cib {
            cmd.env("CIB_file", cib);
        }
        let st = cmd.status().unwrap();
        let pid = lock_pid(&ns.path(lock));
        daemons.0.extend(pid);
        assert!(
            st.success() && pid.is_some(),
            "boothd daemon -s {addr}: {st}: {}",
            fs::read_to_string(dir.path().join(format!("start{i}.log"))).unwrap_or_default()
        );
    }

    let status = || ok(pcs(&["booth", "status"]), "pcs booth status");
    wait_until(Duration::from_secs(10), "peers heard from", || {
        status().matches("last recv").count() == 2
    });
    let s = status();
    for part in [
        "TICKETS:",
        "ticket: ticketA",
        "PEERS:",
        "127.0.0.2",
        "arbitrator",
        "127.0.0.3",
        "DAEMON STATUS:",
        "booth_state=started",
        "booth_type=site",
        "booth_addr_string='127.0.0.1'",
    ] {
        assert!(s.contains(part), "pcs booth status lacks {part}:\n{s}");
    }

    // Grant: the ticket lands in the first site's CIB, where crmsh sees it.
    ok(
        pcs(&["booth", "ticket", "grant", "ticketA", "127.0.0.1"]),
        "pcs booth ticket grant",
    );
    wait_until(Duration::from_secs(10), "granted in the CIB", || {
        crm_ticket_query(&cibs[0], "ticketA").contains("granted=\"true\"")
    });
    assert!(status().contains("leader: 127.0.0.1"));
    let show = ok(
        crm_site_ticket(&cibs[0], &["show", "ticketA"]),
        "crm site ticket show",
    );
    assert!(show.contains("ticketA is granted"), "{show}");
    let time = ok(
        crm_site_ticket(&cibs[0], &["time", "ticketA"]),
        "crm site ticket time",
    );
    assert!(time.contains("last time granted on"), "{time}");
    // The other site records the owner but not a grant.
    wait_until(Duration::from_secs(10), "owner at the other site", || {
        let q = crm_ticket_query(&cibs[1], "ticketA");
        q.contains("granted=\"false\"") && q.contains("owner=")
    });
    let other = ok(
        crm_site_ticket(&cibs[1], &["show", "ticketA"]),
        "crm site ticket show",
    );
    assert!(other.contains("ticketA is revoked"), "{other}");

    // Standby before a planned move, as administrators do with crmsh; the
    // daemon leaves that attribute alone.
    ok(
        crm_site_ticket(&cibs[0], &["standby", "ticketA"]),
        "crm site ticket standby",
    );
    assert!(crm_ticket_query(&cibs[0], "ticketA").contains("standby=\"true\""));
    ok(
        crm_site_ticket(&cibs[0], &["activate", "ticketA"]),
        "crm site ticket activate",
    );
    assert!(crm_ticket_query(&cibs[0], "ticketA").contains("standby=\"false\""));

    // Revoke.
    ok(
        pcs(&["booth", "ticket", "revoke", "ticketA", "127.0.0.1"]),
        "pcs booth ticket revoke",
    );
    wait_until(Duration::from_secs(10), "revoked in the CIB", || {
        crm_ticket_query(&cibs[0], "ticketA").contains("granted=\"false\"")
    });
    let show = ok(
        crm_site_ticket(&cibs[0], &["show", "ticketA"]),
        "crm site ticket show",
    );
    assert!(show.contains("ticketA is revoked"), "{show}");
    assert!(!status().contains("leader: 127.0.0.1"));
    drop(daemons);
}

/// A copy of /usr/lib/ocf with our agents and geo_attr.sh added, as
/// `make install` lays them out.
fn ocf_tree_with_ours(dir: &Path) -> PathBuf {
    let stage = dir.join("stage");
    make_install(&stage, &["OCFDIR=/usr/lib/ocf"]);
    let ocf = dir.join("ocf");
    let cp = |from: &Path| {
        let st = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(&ocf)
            .status()
            .unwrap();
        assert!(st.success());
    };
    cp(Path::new("/usr/lib/ocf/."));
    cp(&stage.join("usr/lib/ocf/."));
    ocf
}

#[test]
fn pcs_crmsh_and_ocf_tester_accept_our_agents() {
    let test = "pcs_crmsh_and_ocf_tester_accept_our_agents";
    if !ready(test, &["pcs", "crm", "ocf-tester", "xmllint", "make"]) {
        return;
    }
    if !Path::new("/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs").exists() {
        eprintln!("SKIPPED {test}: resource-agents is not installed");
        return;
    }
    let dir = TempDir::new("pkg-agents");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let ocf = ocf_tree_with_ours(dir.path());
    let etc = dir.path().join("etc");
    fs::create_dir_all(&etc).unwrap();
    let Some(ns) = booth_namespace(test, &etc) else {
        return;
    };
    ns.sh(&format!("mount --bind '{}' /usr/lib/ocf", ocf.display()));
    let cib = dir.path().join("cib.xml");
    empty_cib(&cib);
    let st = Command::new("crm_attribute")
        .args(["-t", "crm_config", "-n", "stonith-enabled", "-v", "false"])
        .env("CIB_file", &cib)
        .status()
        .unwrap();
    assert!(st.success());
    let run = |prog: &str, args: &[&str]| -> Output {
        run_limited(
            ns.command(prog).args(args).env("CIB_file", &cib),
            Duration::from_secs(120),
        )
    };
    let ok = |out: Output, what: &str| -> String {
        assert!(out.status.success(), "{what}: {}", describe(&out));
        text(&out.stdout)
    };

    // Every parameter of every agent, through both shells.
    let agents: [(&str, &[&str]); 3] = [
        (
            "ocf:pacemaker:booth-site",
            &[
                "config=/etc/booth/booth.conf",
                "args=-s 127.0.0.1",
                "daemon=/usr/sbin/boothd",
            ],
        ),
        (
            "ocf:booth:geostore",
            &[
                "booth_ticket=ticketA",
                "booth_config=/etc/booth/booth.conf",
                "geo_attribute=repl",
            ],
        ),
        ("ocf:booth:sharedrsc", &["dir=/srv/shared/lock"]),
    ];
    for (i, (agent, params)) in agents.iter().enumerate() {
        let described = ok(
            run("pcs", &["resource", "describe", agent]),
            "pcs resource describe",
        );
        for p in *params {
            let name = p.split('=').next().unwrap();
            assert!(described.contains(name), "{agent}: {name}\n{described}");
        }
        let mut create = vec!["-f", cib.to_str().unwrap(), "resource", "create"];
        let id = format!("pcs{i}");
        create.extend([id.as_str(), agent]);
        create.extend(params.iter());
        ok(run("pcs", &create), &format!("pcs resource create {agent}"));
        let crm_id = format!("crm{i}");
        let mut prim = vec!["configure", "primitive", crm_id.as_str(), agent, "params"];
        // crmsh joins its arguments and splits them again like a shell;
        // other values, as two resources may not share a unique one.
        let quoted: Vec<String> = params
            .iter()
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                format!("{k}=\"{v}.2\"")
            })
            .collect();
        prim.extend(quoted.iter().map(String::as_str));
        ok(
            run("crm", &prim),
            &format!("crm configure primitive {agent}"),
        );
    }
    // An unknown parameter is refused, so the acceptance above means
    // something.
    let bad = run(
        "crm",
        &[
            "configure",
            "primitive",
            "bad",
            "ocf:pacemaker:booth-site",
            "params",
            "nosuch=1",
        ],
    );
    assert!(!bad.status.success(), "crm accepted an unknown parameter");
    let shown = ok(run("crm", &["configure", "show"]), "crm configure show");
    for i in 0..3 {
        assert!(shown.contains(&format!("primitive pcs{i} ")), "{shown}");
        assert!(shown.contains(&format!("primitive crm{i} ")), "{shown}");
    }

    // ocf-tester on each agent, booth-site with a real daemon.
    let port = free_port();
    let conf = dir.path().join("tester.conf");
    fs::write(
        &conf,
        format!("port = {port}\nsite = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\nticket = \"ticketA\"\n"),
    )
    .unwrap();
    let state = dir.path().join("state");
    let lock = dir.path().join("tester.pid");
    let args = format!(
        "args=-s 127.0.0.1 --state-dir {} -l {}",
        state.display(),
        lock.display()
    );
    let config = format!("config={}", conf.display());
    let shared = format!("dir={}", dir.path().join("shared").display());
    let rsctmp = dir.path().join("rsctmp");
    fs::create_dir_all(&rsctmp).unwrap();
    let tests: [(&str, &str, Vec<&str>); 3] = [
        (
            "booth-site",
            "/usr/lib/ocf/resource.d/pacemaker/booth-site",
            vec!["-o", &config, "-o", &args],
        ),
        (
            "sharedrsc",
            "/usr/lib/ocf/resource.d/booth/sharedrsc",
            vec!["-o", &shared],
        ),
        ("geostore", "/usr/lib/ocf/resource.d/booth/geostore", vec![]),
    ];
    for (name, path, opts) in tests {
        let mut cmd = ns.command("ocf-tester");
        cmd.args(["-n", name]).args(&opts).arg(path);
        cmd.env("BOOTH_NO_REALTIME", "1").env("HA_RSCTMP", &rsctmp);
        let out = run_limited(&mut cmd, Duration::from_secs(300));
        let said = text(&out.stdout);
        if let Some(pid) = lock_pid(&lock) {
            // SAFETY: a daemon ocf-tester's start left behind, if any.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        assert!(
            out.status.success(),
            "ocf-tester {name}: {}",
            describe(&out)
        );
        assert!(said.contains("passed all tests"), "{said}");
    }
}

#[test]
fn geostore_agent_sets_and_clears_the_attribute_at_the_other_site() {
    let test = "geostore_agent_sets_and_clears_the_attribute_at_the_other_site";
    let funcs = Path::new("/usr/lib/ocf/lib/heartbeat");
    if !funcs.join("ocf-shellfuncs").exists() {
        eprintln!("SKIPPED {test}: resource-agents is not installed (ha_pseudo_resource)");
        return;
    }
    let dir = TempDir::new("pkg-geostore");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    // OCF_ROOT with our geo_attr.sh; the functions are the real ones.
    let ocf = dir.path().join("ocf");
    fs::create_dir_all(ocf.join("lib/booth")).unwrap();
    fs::copy(
        src("init/ocf/geo_attr.sh"),
        ocf.join("lib/booth/geo_attr.sh"),
    )
    .unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("geostore")).unwrap();
    let port = free_port();
    let conf = dir.path().join("geo.conf");
    // Root daemons drop privileges; where Pacemaker's user is missing,
    // they stay root.
    // SAFETY: getpwnam with a NUL-terminated name; only the null check is used.
    let has_hacluster = unsafe { !libc::getpwnam(c"hacluster".as_ptr()).is_null() };
    let run_as = if is_root() && !has_hacluster {
        "site-user = root\nsite-group = root\n"
    } else {
        ""
    };
    fs::write(
        &conf,
        format!(
            "port = {port}\n{run_as}site = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\n\
             ticket = \"ticketB\"\n  attr-prereq = manual other eq x\n\
             ticket = \"ticketA\"\n  attr-prereq = auto repl eq ACTIVE\n"
        ),
    )
    .unwrap();
    let mut children = Vec::new();
    for (i, addr) in ["127.0.0.1", "127.0.0.2", "127.0.0.3"].iter().enumerate() {
        let child = Command::new(BIN)
            .args(["daemon", "-S", "-c"])
            .arg(&conf)
            .args(["-s", addr, "-l"])
            .arg(dir.path().join(format!("m{i}.pid")))
            .arg("--state-dir")
            .arg(dir.path().join(format!("state{i}")))
            .env("BOOTH_NO_REALTIME", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join(format!("m{i}.log"))).unwrap())
            .spawn()
            .unwrap();
        children.push(child);
    }
    let _daemons = Daemons(children.iter().map(|c| c.id() as i32).collect());
    for addr in ["127.0.0.1", "127.0.0.2"] {
        wait_until(Duration::from_secs(10), "daemon answers", || {
            Command::new(BIN)
                .args(["list", "-c", conf.to_str().unwrap(), "-s", addr])
                .output()
                .unwrap()
                .status
                .success()
        });
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let rsctmp = dir.path().join("rsctmp");
    fs::create_dir_all(&rsctmp).unwrap();
    let agent = |action: &str, params: &[(&str, &str)]| -> Output {
        let mut cmd = Command::new(src("init/ocf/geostore"));
        cmd.arg(action)
            .env("OCF_ROOT", &ocf)
            .env("OCF_FUNCTIONS_DIR", funcs)
            .env("OCF_RESOURCE_INSTANCE", "geo-test")
            .env("HA_RSCTMP", &rsctmp)
            .env("PATH", &path);
        for (k, v) in params {
            cmd.env(format!("OCF_RESKEY_{k}"), v);
        }
        run_limited(&mut cmd, Duration::from_secs(30))
    };
    let get = || -> Output {
        Command::new(bin.join("geostore"))
            .args([
                "get",
                "-c",
                conf.to_str().unwrap(),
                "-t",
                "ticketA",
                "-s",
                "127.0.0.2",
                "repl",
            ])
            .output()
            .unwrap()
    };
    let conf_s = conf.to_str().unwrap();
    let params = [("booth_ticket", "ticketA"), ("booth_config", conf_s)];

    assert_eq!(agent("validate-all", &params).status.code(), Some(0));
    assert_eq!(agent("monitor", &params).status.code(), Some(7));
    let out = agent("start", &params);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(agent("monitor", &params).status.code(), Some(0));
    // Set at the other site (from 127.0.0.1's point of view) to the value
    // the ticket's auto attr-prereq wants; the manual one of the ticket
    // before it is not taken.
    let g = get();
    assert!(g.status.success(), "{}", describe(&g));
    assert_eq!(text(&g.stdout).trim(), "ACTIVE");
    let out = agent("stop", &params);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!get().status.success(), "attribute left after stop");
    assert_eq!(agent("monitor", &params).status.code(), Some(7));

    // Misconfiguration: a ticket without an auto attr-prereq is wrong
    // everywhere, a missing file only here.
    let none = [("booth_ticket", "ticketB"), ("booth_config", conf_s)];
    assert_eq!(agent("validate-all", &none).status.code(), Some(6));
    let gone = [
        ("booth_ticket", "ticketA"),
        ("booth_config", "/nonexistent/booth.conf"),
    ];
    assert_eq!(agent("validate-all", &gone).status.code(), Some(5));
    // Without a ticket it is a plain pseudo resource.
    assert_eq!(agent("validate-all", &[]).status.code(), Some(0));
}

#[test]
fn sharedrsc_holds_the_directory_against_another_owner() {
    let dir = TempDir::new("pkg-sharedrsc");
    let ocf_funcs = Path::new("/usr/lib/ocf/lib/heartbeat");
    let funcs = if ocf_funcs.join("ocf-shellfuncs").exists() {
        ocf_funcs.to_path_buf()
    } else {
        // sharedrsc needs only the exit codes and logging.
        let f = dir.path().join("funcs");
        fs::create_dir_all(&f).unwrap();
        fs::write(
            f.join("ocf-shellfuncs"),
            "OCF_SUCCESS=0\nOCF_ERR_GENERIC=1\nOCF_ERR_UNIMPLEMENTED=3\nOCF_ERR_INSTALLED=5\n\
             OCF_ERR_CONFIGURED=6\nOCF_NOT_RUNNING=7\nocf_log() { shift; echo \"$*\" >&2; }\n\
             ocf_exit_reason() { echo \"$*\" >&2; }\n",
        )
        .unwrap();
        f
    };
    let lock = dir.path().join("lock");
    let agent = |action: &str, d: &str| -> i32 {
        Command::new(src("init/ocf/sharedrsc"))
            .arg(action)
            .env("OCF_ROOT", dir.path())
            .env("OCF_FUNCTIONS_DIR", &funcs)
            .env("OCF_RESKEY_dir", d)
            .output()
            .unwrap()
            .status
            .code()
            .unwrap()
    };
    let d = lock.to_str().unwrap();
    assert_eq!(agent("monitor", d), 7);
    assert_eq!(agent("start", d), 0);
    assert_eq!(agent("monitor", d), 0);
    assert_eq!(agent("start", d), 0, "start is idempotent");
    let me = text(&Command::new("uname").arg("-n").output().unwrap().stdout);
    assert_eq!(fs::read_to_string(lock.join("owner")).unwrap(), me);
    assert_eq!(agent("stop", d), 0);
    assert!(!lock.exists());
    assert_eq!(agent("stop", d), 0, "stop is idempotent");

    // Held by another node: start fails, stop leaves it alone.
    fs::create_dir_all(&lock).unwrap();
    fs::write(lock.join("owner"), "other-node\n").unwrap();
    assert_eq!(agent("monitor", d), 7);
    assert_eq!(agent("start", d), 1);
    assert_eq!(agent("stop", d), 0);
    assert_eq!(
        fs::read_to_string(lock.join("owner")).unwrap(),
        "other-node\n"
    );

    // A path with quotes and spaces is one path, not shell code.
    let odd = dir.path().join("it's a \"dir\"; touch x");
    assert_eq!(agent("start", odd.to_str().unwrap()), 0);
    assert!(odd.join("owner").exists());
    assert_eq!(agent("stop", odd.to_str().unwrap()), 0);
    assert!(!odd.exists());
    assert!(!Path::new("x").exists());

    // Relative paths are refused (as the C agent does).
    assert_eq!(agent("validate-all", "relative/dir"), 5);
    assert_eq!(agent("start", "relative/dir"), 5);
    assert_eq!(agent("bogus", d), 3);
}
