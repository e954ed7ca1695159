//! Dropping privileges for real, in a separate process (a second copy of
//! this test program running only `drop_helper`), so the test runner keeps
//! its own ids. Needs root; without it the test only checks that the drop
//! is a no-op.

use std::process::Command;

use booth::daemon::privs::{current_ids, drop_privileges, is_root, resolve_group, resolve_user};

const ENV_DROP: &str = "BOOTH_TEST_DROP_TO";
const ENV_SECRET: &str = "BOOTH_TEST_SECRET";

/// Not a test of its own: when started by `root_drops_to_nobody` it drops
/// to the uid:gid in its environment and checks the result. Run normally,
/// it does nothing.
#[test]
fn drop_helper() {
    let Some(target) = std::env::var(ENV_DROP).ok() else {
        return;
    };
    let (uid, gid) = target.split_once(':').unwrap();
    let (uid, gid): (u32, u32) = (uid.parse().unwrap(), gid.parse().unwrap());
    drop_privileges(uid, gid).expect("drop works");
    let ids = current_ids().unwrap();
    assert_eq!(ids.uid, [uid; 3]);
    assert_eq!(ids.gid, [gid; 3]);
    assert!(ids.groups.is_empty(), "groups {:?}", ids.groups);
    assert!(!is_root());
    // Asking again (even for root) changes nothing once we are not root.
    drop_privileges(0, 0).expect("no-op");
    assert_eq!(current_ids().unwrap().uid, [uid; 3]);
    // Root's file is out of reach now.
    let secret = std::env::var(ENV_SECRET).unwrap();
    let err = std::fs::read(&secret).expect_err("secret must be unreadable");
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
}

#[test]
fn root_drops_to_nobody() {
    if !is_root() {
        // Nothing to drop: must succeed without changing anything.
        let before = current_ids().unwrap();
        drop_privileges(65534, 65534).unwrap();
        assert_eq!(current_ids().unwrap(), before);
        eprintln!("not root: the real drop is not exercised");
        return;
    }
    let uid = resolve_user("nobody").unwrap();
    let gid = resolve_group("65534").unwrap();
    let secret = std::env::temp_dir().join(format!("booth-privs-secret-{}", std::process::id()));
    std::fs::write(&secret, "root only\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "drop_helper", "--test-threads=1"])
        .env(ENV_DROP, format!("{uid}:{gid}"))
        .env(ENV_SECRET, &secret)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&secret);
    assert!(
        out.status.success(),
        "helper failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The helper really ran (and was not filtered away).
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}
