//! A slow disk under a site with many tickets in `--state-dir`: storing
//! their state (one file each, a sync of the file system, renames, a sync
//! of the directory) must cost the store time, not the answers.

use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::measure::ticket_total;
use super::{Bed, Lists};

/// Keeps `path`'s file system busy: rewrites a 64 MiB file over and over
/// without syncing, so that every sync of that file system has dirty
/// pages to write out first (a disk shared with a busy neighbour).
fn ballast(path: std::path::PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 4 << 20];
        let mut written = 0u64;
        while !stop.load(Ordering::Relaxed) && written < 1 << 30 {
            if written % (64 << 20) == 0 {
                f.seek(SeekFrom::Start(0)).unwrap();
            }
            f.write_all(&chunk).unwrap();
            written += chunk.len() as u64;
            // At most ~400 MB/s: busy, not a benchmark of the page cache.
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(f);
        let _ = std::fs::remove_file(&path);
        written
    })
}

#[test]
fn a_slow_disk_costs_the_store_time_not_answers() {
    // A fresh state directory gets a file for each ticket soon after
    // start-up: 2,000 make a store long enough for a debug build's
    // `make check`; the figures in doc/hardening.md are at 10,000.
    let tickets = ticket_total(2_000);
    let mut bed = Bed::new("disk", tickets - 1);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = ballast(bed.path("ballast"), stop.clone());
    bed.start_site_foreground();
    let state = bed.path("state-site");
    // Files in place (a store stages NAME.tmp files first).
    let files = || {
        std::fs::read_dir(&state).map_or(0, |d| {
            d.filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_none()))
                .count()
        })
    };
    // Alone (no peers), each ticket asks for the others' view, gives up
    // after its retries and then has its state stored.
    let t0 = Instant::now();
    let mut lists = Lists::start(&bed);
    while files() < tickets && t0.elapsed() < Duration::from_secs(60) {
        lists.sample_raw(&bed);
        std::thread::sleep(Duration::from_millis(20));
    }
    let stored = t0.elapsed();
    for _ in 0..5 {
        lists.sample(&bed);
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    println!(
        "slow disk: {} state files after {:.1} s ({} MiB rewritten meanwhile)",
        files(),
        stored.as_secs_f64(),
        written >> 20
    );
    lists.report(&format!("slow disk, {tickets} tickets stored"));
    assert!(files() >= tickets, "the states were not stored");
    // The window includes the start-up's longest turn (every ticket
    // gives up asking its peers at once: 0.5 s in a debug build at 2,000
    // tickets); the store on the loop took 3 s in a release build.
    lists.check_within("slow disk", Duration::from_millis(1500));
}
