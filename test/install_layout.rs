//! `make install` and `make uninstall`: the layout (every file of Debian's
//! booth and booth-pacemaker packages, or its documented equivalent, see
//! doc/packaging.md), the directory variables and the substituted paths.

mod common;
mod tools;

use common::{assert_success, text, TempDir, BIN};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use tools::{make_install, make_uninstall, missing, src, tree};

/// Installs into a fresh DESTDIR with Debian's directories (what
/// pkg-config reports on Debian bookworm), so the layout is the same on
/// every host.
fn install_debian_layout(dest: &Path) {
    make_install(dest, DEBIAN_DIRS);
}

/// Debian's directories, as `make` variables.
const DEBIAN_DIRS: &[&str] = &[
    "PREFIX=/usr",
    "UNITDIR=/lib/systemd/system",
    "GENERATORDIR=/lib/systemd/system-generators",
    "OCFDIR=/usr/lib/ocf",
];

#[test]
fn make_install_lays_out_everything_and_uninstall_removes_it() {
    if missing("make", "make_install", false) {
        return;
    }
    let dest = TempDir::new("eco-install");
    install_debian_layout(dest.path());
    let expected = [
        "etc/booth/booth.conf.example 644",
        "etc/init.d/booth-arbitrator 755",
        "lib/systemd/system-generators/booth-generator 755",
        "lib/systemd/system/booth-arbitrator.service 644",
        "lib/systemd/system/booth.service 644",
        "lib/systemd/system/booth@.service 644",
        "usr/lib/firewalld/services/booth.xml 644",
        "usr/lib/ocf/lib/booth/geo_attr.sh 644",
        "usr/lib/ocf/resource.d/booth/geostore 755",
        "usr/lib/ocf/resource.d/booth/sharedrsc 755",
        "usr/lib/ocf/resource.d/pacemaker/booth-site 755",
        "usr/sbin/booth -> boothd",
        "usr/sbin/booth-keygen 755",
        "usr/sbin/boothd 755",
        "usr/sbin/geostore -> boothd",
        "usr/share/booth/alerts/alert_file.sh 755",
        "usr/share/booth/alerts/alert_prometheus.sh 755",
        "usr/share/booth/alerts/alert_smtp.sh 755",
        "usr/share/booth/service-runnable 755",
        "usr/share/doc/booth/README.md 644",
        "usr/share/doc/booth/booth-json.schema.json 644",
        "usr/share/doc/booth/compatibility.md 644",
        "usr/share/doc/booth/examples/booth.conf.example 644",
        "usr/share/doc/booth/monitoring.md 644",
        "usr/share/doc/booth/packaging.md 644",
        "usr/share/man/man8/booth-keygen.8 644",
        "usr/share/man/man8/booth.8 -> boothd.8",
        "usr/share/man/man8/boothd.8 644",
        "usr/share/man/man8/geostore.8 644",
        "usr/share/pkgconfig/booth.pc 644",
    ];
    assert_eq!(tree(dest.path()), expected);
    // The state directories of upstream's install, private to the daemon.
    for d in ["var/lib/booth", "var/lib/booth/cores"] {
        let meta = fs::metadata(dest.path().join(d)).unwrap();
        assert!(meta.is_dir(), "{d}");
        assert_eq!(meta.permissions().mode() & 0o777, 0o750, "{d}");
    }
    // The installed names dispatch: booth and geostore answer -h.
    for name in ["booth", "geostore"] {
        let out = Command::new(dest.path().join("usr/sbin").join(name))
            .arg("-h")
            .output()
            .unwrap();
        assert!(out.status.success(), "{name} -h");
    }
    // The installed example is a valid configuration.
    let out = Command::new(BIN)
        .args(["config-check", "-c"])
        .arg(dest.path().join("etc/booth/booth.conf.example"))
        .output()
        .unwrap();
    assert_success(&out, "config-check of the installed example");
    // booth.pc and the man pages carry the package version.
    let version = env!("CARGO_PKG_VERSION");
    let pc = fs::read_to_string(dest.path().join("usr/share/pkgconfig/booth.pc")).unwrap();
    assert!(pc.contains("prefix=/usr\n"), "{pc}");
    assert!(pc.contains("confdir=/etc/booth\n"), "{pc}");
    assert!(pc.contains(&format!("Version: {version}\n")), "{pc}");
    for page in ["boothd.8", "geostore.8", "booth-keygen.8"] {
        let m = fs::read_to_string(dest.path().join("usr/share/man/man8").join(page)).unwrap();
        let th = m.lines().find(|l| l.starts_with(".TH")).unwrap();
        assert!(th.contains(&format!("\"booth {version}\"")), "{page}: {th}");
    }
    // The generator links the template as installed.
    let generator = fs::read_to_string(
        dest.path()
            .join("lib/systemd/system-generators/booth-generator"),
    )
    .unwrap();
    assert!(generator.contains("template=/lib/systemd/system/booth@.service"));
    make_uninstall(dest.path(), DEBIAN_DIRS);
    assert_eq!(tree(dest.path()), Vec::<String>::new());

    // Another prefix and the default unit directory: pkg-config's when
    // systemd's pkg-config file is installed, else below PREFIX. The
    // units and the init script name that daemon.
    let pkg = Command::new("pkg-config")
        .args(["--variable=systemdsystemunitdir", "systemd"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string())
        .filter(|d| !d.is_empty());
    let unitdir = pkg.unwrap_or_else(|| "/opt/booth/lib/systemd/system".into());
    make_install(dest.path(), &["PREFIX=/opt/booth"]);
    let unit = fs::read_to_string(
        dest.path()
            .join(unitdir.trim_start_matches('/'))
            .join("booth-arbitrator.service"),
    )
    .unwrap();
    assert!(unit.contains("ExecStart=/opt/booth/sbin/boothd daemon -S -c /etc/booth/booth.conf"));
    let init = fs::read_to_string(dest.path().join("etc/init.d/booth-arbitrator")).unwrap();
    assert!(init.contains("BOOTHD=${BOOTHD:-/opt/booth/sbin/boothd}"));
    make_uninstall(dest.path(), &["PREFIX=/opt/booth"]);
    assert_eq!(tree(dest.path()), Vec::<String>::new());

    // SUSE's rcbooth-arbitrator, on request.
    make_install(dest.path(), &["RCLINK=service"]);
    assert_eq!(
        fs::read_link(dest.path().join("usr/sbin/rcbooth-arbitrator")).unwrap(),
        Path::new("/usr/sbin/service")
    );
    make_uninstall(dest.path(), &[]);
    assert_eq!(tree(dest.path()), Vec::<String>::new());
}

/// Every file of Debian's booth and booth-pacemaker packages
/// (1.0-283-g9d4029a-2+deb12u1), with where `make install` puts it or its
/// equivalent; None for Debian's packaging files, which a Debian package
/// of ours brings itself. doc/packaging.md explains each line.
const DEBIAN_FILES: &[(&str, Option<&str>)] = &[
    // booth
    ("/etc/default/booth", Some("etc/init.d/booth-arbitrator")),
    ("/etc/init.d/booth", Some("etc/init.d/booth-arbitrator")),
    (
        "/lib/systemd/system/booth-arbitrator.service",
        Some("lib/systemd/system/booth-arbitrator.service"),
    ),
    (
        "/lib/systemd/system/booth.service",
        Some("lib/systemd/system/booth.service"),
    ),
    (
        "/lib/systemd/system/booth@.service",
        Some("lib/systemd/system/booth@.service"),
    ),
    (
        "/lib/systemd/system-generators/booth-generator",
        Some("lib/systemd/system-generators/booth-generator"),
    ),
    (
        "/usr/lib/firewalld/services/booth.xml",
        Some("usr/lib/firewalld/services/booth.xml"),
    ),
    ("/usr/sbin/booth-keygen", Some("usr/sbin/booth-keygen")),
    ("/usr/sbin/boothd", Some("usr/sbin/boothd")),
    ("/usr/sbin/booth", Some("usr/sbin/booth")),
    ("/usr/sbin/geostore", Some("usr/sbin/geostore")),
    (
        "/usr/share/booth/service-runnable",
        Some("usr/share/booth/service-runnable"),
    ),
    (
        "/usr/share/doc/booth/AUTHORS",
        Some("usr/share/doc/booth/README.md"),
    ),
    (
        "/usr/share/doc/booth/README-testing.gz",
        Some("usr/share/doc/booth/README.md"),
    ),
    (
        "/usr/share/doc/booth/README.gz",
        Some("usr/share/doc/booth/README.md"),
    ),
    (
        "/usr/share/doc/booth/README.upgrade-from-v0.1",
        Some("usr/share/doc/booth/compatibility.md"),
    ),
    ("/usr/share/doc/booth/TODO.Debian", None),
    ("/usr/share/doc/booth/changelog.Debian.gz", None),
    ("/usr/share/doc/booth/changelog.gz", None),
    ("/usr/share/doc/booth/copyright", None),
    (
        "/usr/share/doc/booth/examples/booth.conf.example",
        Some("usr/share/doc/booth/examples/booth.conf.example"),
    ),
    ("/usr/share/lintian/overrides/booth", None),
    (
        "/usr/share/man/man8/booth-keygen.8.gz",
        Some("usr/share/man/man8/booth-keygen.8"),
    ),
    (
        "/usr/share/man/man8/boothd.8.gz",
        Some("usr/share/man/man8/boothd.8"),
    ),
    (
        "/usr/share/man/man8/booth.8.gz",
        Some("usr/share/man/man8/booth.8"),
    ),
    (
        "/usr/share/man/man8/geostore.8.gz",
        Some("usr/share/man/man8/geostore.8"),
    ),
    (
        "/usr/share/pkgconfig/booth.pc",
        Some("usr/share/pkgconfig/booth.pc"),
    ),
    // booth-pacemaker
    (
        "/usr/lib/ocf/lib/booth/geo_attr.sh",
        Some("usr/lib/ocf/lib/booth/geo_attr.sh"),
    ),
    (
        "/usr/lib/ocf/resource.d/booth/geostore",
        Some("usr/lib/ocf/resource.d/booth/geostore"),
    ),
    (
        "/usr/lib/ocf/resource.d/booth/sharedrsc",
        Some("usr/lib/ocf/resource.d/booth/sharedrsc"),
    ),
    (
        "/usr/lib/ocf/resource.d/pacemaker/booth-site",
        Some("usr/lib/ocf/resource.d/pacemaker/booth-site"),
    ),
    (
        "/usr/share/doc/booth-pacemaker/README.gz",
        Some("usr/share/doc/booth/README.md"),
    ),
    ("/usr/share/doc/booth-pacemaker/changelog.Debian.gz", None),
    ("/usr/share/doc/booth-pacemaker/changelog.gz", None),
    ("/usr/share/doc/booth-pacemaker/copyright", None),
    ("/usr/share/lintian/overrides/booth-pacemaker", None),
];

#[test]
fn make_install_covers_every_file_of_debians_packages() {
    if missing("make", "make_install_covers_debian", false) {
        return;
    }
    let dest = TempDir::new("eco-debian");
    install_debian_layout(dest.path());
    let doc = fs::read_to_string(src("doc/packaging.md")).unwrap();
    for (debian, ours) in DEBIAN_FILES {
        assert!(
            doc.contains(debian),
            "doc/packaging.md does not mention {debian}"
        );
        if let Some(ours) = ours {
            let p = dest.path().join(ours);
            assert!(
                fs::symlink_metadata(&p).is_ok(),
                "{debian}: {ours} is not installed"
            );
        }
    }
    // Where Debian's C booth is installed, its file list must not have
    // grown beyond the table (booth-pacemaker is checked by the table
    // alone: its files are not installed here).
    for pkg in ["booth", "booth-pacemaker"] {
        let Ok(out) = Command::new("dpkg").args(["-L", pkg]).output() else {
            eprintln!("dpkg is not available: {pkg}'s file list not compared");
            continue;
        };
        if !out.status.success() {
            eprintln!("{pkg} is not installed: its file list not compared");
            continue;
        }
        for path in text(&out.stdout).lines() {
            if Path::new(path).is_dir() {
                continue;
            }
            assert!(
                DEBIAN_FILES.iter().any(|(d, _)| d == &path),
                "{pkg} ships {path}, which the table (and doc/packaging.md) lacks"
            );
        }
    }
}

/// A package of ours must upgrade the C booth's: Debian's and upstream's
/// newest release compare lower than our version.
#[test]
fn version_sorts_above_the_c_booth() {
    if missing("dpkg", "version_sorts_above_the_c_booth", false) {
        return;
    }
    let ours = env!("CARGO_PKG_VERSION");
    for c in ["1.0-283-g9d4029a-2+deb12u1", "1.2", "1.2-1", "1.1"] {
        let st = Command::new("dpkg")
            .args(["--compare-versions", ours, "gt", c])
            .status()
            .unwrap();
        assert!(st.success(), "{ours} does not sort above the C booth's {c}");
    }
}
