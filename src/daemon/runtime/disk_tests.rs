use super::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn write(ticket: &str, expires: i64) -> CibWrite {
    CibWrite {
        ticket: ticket.into(),
        granted: true,
        owner: 7,
        expires,
        term: 3,
    }
}

fn fresh_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("booth-disk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Reaps until `n` stores are done (10 s at most).
fn reap_until(s: &mut Stores, n: usize) -> Vec<Done> {
    let t0 = Instant::now();
    let mut got = Vec::new();
    while got.len() < n {
        assert!(t0.elapsed() < Duration::from_secs(10), "no end within 10 s");
        got.extend(s.reap());
        std::thread::sleep(Duration::from_millis(5));
    }
    got
}

#[test]
fn stores_in_order_in_a_child_process() {
    let dir = fresh_dir("order");
    let sd = StateDir::new(&dir).unwrap();
    let mut s = Stores::new(sd.clone());
    assert!(s
        .submit(RunId(1), vec![write("a", 100), write("b", 100)], vec![])
        .is_empty());
    let first = s.running().expect("a child runs");
    // A second store waits for the first.
    assert!(s.submit(RunId(2), vec![write("a", 200)], vec![]).is_empty());
    assert_eq!(s.running(), Some(first));
    let got = reap_until(&mut s, 2);
    let runs: Vec<u64> = got.iter().map(|d| d.run.0).collect();
    assert_eq!(runs, [1, 2]);
    assert!(got.iter().all(|d| d.result.is_ok()));
    assert_eq!((got[0].tickets, got[0].attrs), (2, 0));
    assert_eq!(s.running(), None);
    // The later store of a is the one in place.
    assert_eq!(sd.load("a").unwrap().unwrap().expires, Some(200));
    assert_eq!(sd.load("b").unwrap().unwrap().expires, Some(100));
    s.finish(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_store_brings_its_error_back() {
    let dir = fresh_dir("fail");
    let sd = StateDir::new(&dir).unwrap();
    // The ticket's file is a directory: it cannot be read.
    std::fs::create_dir(dir.join("a")).unwrap();
    let mut s = Stores::new(sd);
    s.submit(RunId(5), vec![write("a", 100)], vec![]);
    let got = reap_until(&mut s, 1);
    let err = got[0].result.as_ref().unwrap_err();
    assert!(err.contains("directory"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Makes `path` a FIFO: reading it waits for a writer that never comes.
fn fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_hung_store_is_killed_and_reported_failed() {
    let dir = fresh_dir("hang");
    let sd = StateDir::new(&dir).unwrap();
    fifo(&dir.join("a"));
    let mut s = Stores::new(sd.clone());
    s.submit(RunId(1), vec![write("a", 100)], vec![]);
    let serial = s.running().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(s.reap().is_empty(), "a store reading a FIFO hangs");
    // A limit set for another child does nothing.
    s.kill(serial + 1);
    std::thread::sleep(Duration::from_millis(50));
    assert!(s.reap().is_empty());
    // The next store waits; it runs once the hung one is gone.
    s.submit(RunId(2), vec![write("b", 100)], vec![]);
    s.kill(serial);
    let got = reap_until(&mut s, 2);
    assert_eq!(got[0].run.0, 1);
    assert_eq!(got[0].result, Err("took too long, killed".to_string()));
    assert_eq!((got[1].run.0, &got[1].result), (2, &Ok(())));
    assert_eq!(sd.load("b").unwrap().unwrap().expires, Some(100));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_does_not_wait_for_a_hung_store_beyond_its_limit() {
    let dir = fresh_dir("exit");
    let sd = StateDir::new(&dir).unwrap();
    fifo(&dir.join("a"));
    let mut s = Stores::new(sd);
    s.submit(RunId(1), vec![write("a", 100)], vec![]);
    let t0 = std::time::Instant::now();
    s.finish(Duration::from_millis(200));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}
