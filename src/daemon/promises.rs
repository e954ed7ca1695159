//! The record of what this member promised (see `engine/promise.rs`), kept
//! next to the lock file (`<lock path>.promises`) so that a restarted daemon
//! knows its votes and the leases it acknowledged and needs no start-up
//! fence.
//!
//! The engine hands over the tickets whose promises changed after each
//! event; they are written here before any output of that event is executed
//! (Raft's rule: persistent state before answering). Each ticket has a
//! fixed-size slot in the file, rewritten in place with one `pwrite`, so a
//! renewal costs a few hundred bytes whatever the number of tickets. The lock
//! file lives on a tmpfs (`/run`), where a write is a memory copy and cannot
//! block on a disk; a host reboot empties it.
//!
//! Times in the record are on the daemon's clock (CLOCK_BOOTTIME, which runs
//! on across a daemon restart but starts again at a boot), so the header
//! names the boot (`/proc/sys/kernel/random/boot_id`) and the clock: a
//! record from another boot, or one that cannot be read whole, is discarded
//! and the engine fences itself as after a first start.
//!
//! Format: a header line `booth-promises 1 <boot id> <clock> <slot size>`,
//! padded to the slot size, then one slot per ticket:
//! `T <name> <term> <vote term>:<vote site id>|- <site id>:<until ms>...
//! [F:<fence end ms>]`, padded with spaces to the slot size and ending in a
//! newline. `F:` is the end of a start-up fence still up when the slot was
//! written (a daemon started without a record; a version that does not know
//! the field reads the slot as damaged and fences itself: the safe side). If a write
//! fails the file is removed (the next start then fences itself): a record
//! that misses a promise must never be trusted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use log::{error, warn};

use crate::engine::{Promise, Time};
use crate::namemap::NameMap;

/// Appended to the lock file's path.
pub const SUFFIX: &str = ".promises";

/// Names the clock the record's times are on.
pub const CLOCK: &str = "boottime";

const MAGIC: &str = "booth-promises";
const VERSION: u32 = 1;

/// The record file that belongs to the lock file `lock`.
pub fn path_for(lock: &Path) -> PathBuf {
    let mut s = lock.as_os_str().to_owned();
    s.push(SUFFIX);
    PathBuf::from(s)
}

/// This boot's identity, or None where the kernel does not say (then no
/// record is ever trusted).
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

/// The slot size for a cluster of `members`: the longest ticket line fits.
pub fn slot_size(members: usize) -> usize {
    // "T " + name (63) + term, vote + per member " id:until" (10+1+20).
    // (+ " F:" and a fence end of up to 20 digits.)
    120 + 32 * members
}

/// One ticket's slot text, without padding.
pub fn render(name: &str, p: &Promise) -> String {
    let mut s = format!("T {name} {}", p.term);
    match p.vote {
        Some((t, id)) => {
            let _ = write!(s, " {t}:{id}");
        }
        None => s.push_str(" -"),
    }
    for (id, until) in &p.claims {
        let _ = write!(s, " {id}:{}", until.ms());
    }
    if let Some(f) = p.fence {
        let _ = write!(s, " F:{}", f.ms());
    }
    s
}

/// Reads one slot back; None if it is not a whole, well-formed slot.
pub fn parse(line: &str) -> Option<(String, Promise)> {
    let mut f = line.split_whitespace();
    if f.next()? != "T" {
        return None;
    }
    let name = f.next()?.to_string();
    let term = f.next()?.parse().ok()?;
    let vote = match f.next()? {
        "-" => None,
        v => {
            let (t, id) = v.split_once(':')?;
            Some((t.parse().ok()?, id.parse().ok()?))
        }
    };
    let mut claims = Vec::new();
    let mut fence = None;
    for c in f {
        let (id, until) = c.split_once(':')?;
        if id == "F" && fence.is_none() {
            fence = Some(Time::from_ms(until.parse().ok()?));
            continue;
        }
        claims.push((id.parse().ok()?, Time::from_ms(until.parse().ok()?)));
    }
    Some((
        name,
        Promise {
            term,
            vote,
            claims,
            fence,
        },
    ))
}

fn header(boot: &str, slot: usize) -> String {
    format!("{MAGIC} {VERSION} {boot} {CLOCK} {slot}")
}

/// Pads `text` to a slot: spaces, then a newline.
fn pad(text: String, slot: usize) -> Option<Vec<u8>> {
    if text.len() + 1 > slot {
        return None;
    }
    let mut bytes = text.into_bytes();
    bytes.resize(slot - 1, b' ');
    bytes.push(b'\n');
    Some(bytes)
}

/// A promise with its times moved by `by` ms: the record keeps times since
/// boot, the engine since the daemon's start. Claims that end before the
/// engine's zero are over and dropped.
pub fn shifted(p: &Promise, by: i64) -> Promise {
    let claims = p
        .claims
        .iter()
        .filter_map(|&(id, t)| {
            let ms = t.ms() as i64 + by;
            (ms > 0).then_some((id, Time::from_ms(ms as u64)))
        })
        .collect();
    // A fence that ends before the engine's zero is over.
    let fence = p.fence.and_then(|t| {
        let ms = t.ms() as i64 + by;
        (ms > 0).then_some(Time::from_ms(ms as u64))
    });
    Promise {
        claims,
        fence,
        ..p.clone()
    }
}

/// The open record file.
pub struct PromiseFile {
    file: File,
    path: PathBuf,
    slot: usize,
    /// Each ticket's slot, by the name the configuration shares.
    slots: NameMap<u64>,
    broken: bool,
}

impl PromiseFile {
    /// Opens (creating it) the record at `path` and returns what it holds
    /// for this boot (nothing when it is from another boot, another clock,
    /// another slot size or unreadable: the file then starts anew). Run with
    /// the privileges needed to create the file; it is then written through
    /// the open descriptor.
    pub fn open(
        path: &Path,
        boot: Option<&str>,
        members: usize,
    ) -> io::Result<(PromiseFile, BTreeMap<String, Promise>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        let mut text = String::new();
        let read = file.read_to_string(&mut text);
        let slot = slot_size(members);
        let mut pf = PromiseFile {
            file,
            path: path.to_path_buf(),
            slot,
            slots: NameMap::new(),
            broken: false,
        };
        let mut found = BTreeMap::new();
        let Some(boot) = boot else {
            warn!("the kernel gives no boot id: promises are not kept across restarts");
            pf.broken = true;
            return Ok((pf, found));
        };
        let head = header(boot, slot);
        let valid = read.is_ok()
            && text.len() % slot == 0
            && text.get(..slot).is_some_and(|h| h.trim_end() == head);
        if valid {
            for (k, chunk) in text.as_bytes().chunks(slot).enumerate().skip(1) {
                let line = std::str::from_utf8(chunk)
                    .ok()
                    .and_then(|l| parse(l.trim_end()));
                match line {
                    Some((name, p)) => {
                        pf.slots.insert(name.as_str().into(), k as u64);
                        found.insert(name, p);
                    }
                    None => {
                        // A slot that does not read back: trust nothing.
                        warn!("{}: slot {k} unreadable, record discarded", path.display());
                        found.clear();
                        pf.slots.clear();
                        break;
                    }
                }
            }
        }
        if !valid || pf.slots.is_empty() {
            pf.file.set_len(0)?;
            let h = pad(head, slot).expect("the header fits a slot");
            pf.file.write_all_at(&h, 0)?;
        }
        Ok((pf, found))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands the file to the run-as user (like the lock file).
    pub fn chown_to(&self, uid: u32, gid: u32) -> io::Result<()> {
        std::os::unix::fs::fchown(&self.file, Some(uid), Some(gid))
    }

    /// Records changed promises. Never fails loudly more than once: after a
    /// failed write the file is removed and nothing more is recorded (the
    /// next start fences itself). Slots that follow each other in the file
    /// are written together: at a start every ticket's fence is recorded,
    /// 10,000 slots in a row, and one `pwrite` each took tens of ms.
    pub fn record(&mut self, changes: &[(Arc<str>, Promise)]) {
        if self.broken {
            return;
        }
        // Each change's slot. Names without one get the next free slots in
        // name order: the name table is sorted, so at a start (every name
        // new) each goes on its end rather than moving the others.
        let mut slotted: Vec<(u64, usize)> = Vec::with_capacity(changes.len());
        let mut new: Vec<u32> = Vec::new();
        for (c, (name, _)) in changes.iter().enumerate() {
            match self.slots.get_key_value(name) {
                Some((key, &k)) => {
                    // A slot read back at start-up: keep the configuration's
                    // copy of the name, not the one read from the file.
                    if !Arc::ptr_eq(key, name) {
                        self.slots.insert(name.clone(), k);
                    }
                    slotted.push((k, c));
                }
                None => new.push(c as u32),
            }
        }
        crate::sort::positions(&mut new, &|x, y| changes[x].0.cmp(&changes[y].0));
        self.slots.reserve(new.len());
        for c in new.into_iter().map(|c| c as usize) {
            let name = &changes[c].0;
            let k = match self.slots.get(name) {
                // The same name twice among the changes.
                Some(&k) => k,
                None => {
                    let k = self.slots.len() as u64 + 1;
                    self.slots.insert(name.clone(), k);
                    k
                }
            };
            slotted.push((k, c));
        }
        // In slot order; a name given twice is written as given last.
        crate::sort::sort(&mut slotted);
        slotted.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                *earlier = *later;
            }
            same
        });
        // Runs of adjacent slots, each in one write into a buffer of its
        // exact size.
        let mut rest = &slotted[..];
        while let Some(&(first, _)) = rest.first() {
            let len = 1 + rest.windows(2).take_while(|w| w[1].0 == w[0].0 + 1).count();
            let mut buf = Vec::with_capacity(len * self.slot);
            for &(_, c) in &rest[..len] {
                let (name, p) = &changes[c];
                let Some(bytes) = pad(render(name, p), self.slot) else {
                    self.fail(io::Error::other("promise record longer than its slot"));
                    return;
                };
                buf.extend_from_slice(&bytes);
            }
            if let Err(e) = self.file.write_all_at(&buf, first * self.slot as u64) {
                self.fail(e);
                return;
            }
            rest = &rest[len..];
        }
    }

    fn fail(&mut self, e: io::Error) {
        error!(
            "{}: {e}; removing it, promises are not kept across a restart",
            self.path.display()
        );
        let _ = std::fs::remove_file(&self.path);
        self.broken = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(term: u32) -> Promise {
        Promise {
            term,
            vote: Some((term, 1001)),
            claims: vec![(1001, Time::from_ms(123_456_789)), (1002, Time::from_ms(5))],
            fence: None,
        }
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("booth-promises-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&d);
        d
    }

    #[test]
    fn slots_round_trip() {
        let fenced = Promise {
            fence: Some(Time::from_ms(600_000)),
            ..p(8)
        };
        for q in [p(7), Promise::default(), fenced] {
            let text = render("ticket-a", &q);
            assert_eq!(parse(&text), Some(("ticket-a".into(), q)));
        }
        assert_eq!(parse("T x 1 - 1001:"), None);
        assert_eq!(parse("T x"), None);
    }

    #[test]
    fn a_restart_in_the_same_boot_reads_back_what_was_recorded() {
        let path = tmp("same");
        let (mut f, found) = PromiseFile::open(&path, Some("boot-a"), 3).unwrap();
        assert!(found.is_empty());
        f.record(&[("A".into(), p(1)), ("B".into(), p(2))]);
        f.record(&[("A".into(), p(3))]);
        drop(f);
        let (mut f, found) = PromiseFile::open(&path, Some("boot-a"), 3).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found["A"], p(3));
        assert_eq!(found["B"], p(2));
        // Slots are kept: a new ticket gets a new one.
        f.record(&[("C".into(), p(4))]);
        drop(f);
        let (_, found) = PromiseFile::open(&path, Some("boot-a"), 3).unwrap();
        assert_eq!(found.len(), 3);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn slots_written_together_read_back_each() {
        let path = tmp("runs");
        let (mut f, _) = PromiseFile::open(&path, Some("boot-a"), 3).unwrap();
        let names: Vec<Arc<str>> = (0..1000).map(|i| format!("t{i}").into()).collect();
        let all: Vec<(Arc<str>, Promise)> = names.iter().map(|n| (n.clone(), p(1))).collect();
        f.record(&all);
        // Some slots again, in and out of order, with a new ticket between.
        let some: Vec<(Arc<str>, Promise)> = [7, 8, 9, 3, 500, 1000, 999]
            .iter()
            .map(|&i| names.get(i).map_or("new".into(), |n| n.clone()))
            .map(|n| (n, p(2)))
            .collect();
        f.record(&some);
        drop(f);
        let (_, found) = PromiseFile::open(&path, Some("boot-a"), 3).unwrap();
        assert_eq!(found.len(), 1001);
        for (i, n) in names.iter().enumerate() {
            let again = [7, 8, 9, 3, 500, 999].contains(&i);
            assert_eq!(found[&**n], p(if again { 2 } else { 1 }), "{n}");
        }
        assert_eq!(found["new"], p(2));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_name_given_twice_is_recorded_as_given_last() {
        let path = tmp("twice");
        let (mut f, _) = PromiseFile::open(&path, Some("boot-a"), 3).unwrap();
        f.record(&[("B".into(), p(1)), ("A".into(), p(2)), ("B".into(), p(3))]);
        f.record(&[("A".into(), p(4)), ("C".into(), p(5)), ("A".into(), p(6))]);
        drop(f);
        let (_, found) = PromiseFile::open(&path, Some("boot-a"), 3).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(
            (&found["A"], &found["B"], &found["C"]),
            (&p(6), &p(3), &p(5))
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn another_boot_or_a_damaged_file_is_not_trusted() {
        let path = tmp("other");
        let (mut f, _) = PromiseFile::open(&path, Some("boot-a"), 3).unwrap();
        f.record(&[("A".into(), p(1))]);
        drop(f);
        let (_, found) = PromiseFile::open(&path, Some("boot-b"), 3).unwrap();
        assert!(found.is_empty(), "another boot");
        let (mut f, _) = PromiseFile::open(&path, Some("boot-b"), 3).unwrap();
        f.record(&[("A".into(), p(1))]);
        drop(f);
        // A slot cut short (say, a full disk) makes the whole record void.
        let len = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 10).unwrap();
        let (_, found) = PromiseFile::open(&path, Some("boot-b"), 3).unwrap();
        assert!(found.is_empty(), "damaged");
        let (_, found) = PromiseFile::open(&path, None, 3).unwrap();
        assert!(found.is_empty(), "no boot id");
        let _ = std::fs::remove_file(&path);
    }
}
