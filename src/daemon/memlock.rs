//! Memory locked against paging, as the C booth locks it, without the
//! pages the daemon never reads.
//!
//! The C booth calls `mlockall(MCL_CURRENT | MCL_FUTURE)`: every page
//! mapped, used or not, is made resident and stays so. Most of what that
//! pins is never read: the part of the initial stack a single-threaded
//! event loop never reaches (the kernel maps 132 kB, the daemon uses a
//! fraction), the slack of heap reservations, and the unwind tables
//! (`.eh_frame`, read only to print a panic's backtrace: the release build
//! aborts on panic). On a small arbitrator that is a sixth of the static
//! build's memory.
//!
//! What is locked here instead:
//! - the program's code and read-only data, and every shared library's,
//!   whole and at once: no code path, however rare (an election after
//!   months, a reload's error message), waits for the disk the first time
//!   it runs, as in the C booth;
//! - everything else (stack, heap, writable data) from its first use on
//!   (`MCL_ONFAULT`): a page the daemon has touched is never paged out, a
//!   page it has not touched costs nothing. A new stack or heap page is
//!   zero-filled memory, never read from a disk.
//!
//! Left out of the whole lock, like the unwind tables, is the code only a
//! panic runs (the backtrace printer and its unwinder), where the build
//! gathered it into a section of its own: the static build does
//! (memlock.ld), about 130 kB.
//!
//! Kernels before Linux 4.4 do not know `MCL_ONFAULT`: there everything is
//! locked at once, as the C booth does.

use log::{debug, warn};
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The section memlock.ld gathers the panic-only code into.
pub const COLD_SECTION: &str = ".text.booth_cold";

/// Locks the memory as described above. `future`: also memory mapped
/// later (the locked-memory limit was lifted); otherwise only what is
/// mapped now. Never fatal: failures are logged.
pub fn lock(future: bool) {
    let base = if future {
        libc::MCL_CURRENT | libc::MCL_FUTURE
    } else {
        libc::MCL_CURRENT
    };
    // SAFETY: mlockall(2) takes flags only.
    let rc = unsafe { libc::mlockall(base | libc::MCL_ONFAULT) };
    if rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        debug!("mlockall: no MCL_ONFAULT in this kernel, locking all pages now");
        // SAFETY: as above.
        if unsafe { libc::mlockall(base) } != 0 {
            warn!("mlockall failed: {}", io::Error::last_os_error());
        }
        return;
    } else if rc != 0 {
        warn!("mlockall failed: {}", io::Error::last_os_error());
        return;
    }
    let (lock, unwind) = program_image();
    let mut failed = 0usize;
    for range in lock {
        // SAFETY: mlock(2) on an address range of a loaded object's
        // segment; it only changes how the pages are kept.
        if unsafe { libc::mlock(range.start as *const libc::c_void, range.len()) } != 0 {
            failed += 1;
            debug!(
                "cannot lock {:#x}-{:#x}: {}",
                range.start,
                range.end,
                io::Error::last_os_error()
            );
        }
    }
    if failed > 0 {
        warn!("{failed} segments of the program could not be locked whole (they lock as used)");
    }
    // Unwind-table and panic-only code pages the start-up brought in with
    // their neighbours (the kernel maps a page's neighbours on a fault) are
    // let go again: unlocked and unmapped here, still in the page cache,
    // read again only by a panic.
    for range in unwind {
        let (addr, len) = (range.start as *mut libc::c_void, range.len());
        // SAFETY: munlock(2) and madvise(2) on a read-only segment of a
        // loaded object: MADV_DONTNEED drops our mapping of its pages, a
        // later read maps them again from the same file, unchanged.
        unsafe {
            libc::munlock(addr, len);
            libc::madvise(addr, len, libc::MADV_DONTNEED);
        }
    }
}

/// Page-aligned address ranges: to lock, the program's and its libraries'
/// code and read-only data (each loaded object's non-writable `PT_LOAD`
/// segments, the one holding the unwind tables cut where they begin:
/// `PT_GNU_EH_FRAME` points at their index, which the linkers put after
/// `.rodata`, followed by `.eh_frame` and `.gcc_except_table` up to the
/// segment's end); and the unwind tables' whole pages from there on.
/// The program's panic-only code (`cold_code`) is let go as well.
fn program_image() -> Ranges {
    let mut walk = Walk {
        ranges: Ranges::default(),
        cold: cold_code(Path::new("/proc/self/exe")),
        here: program_image as *const () as usize,
    };
    // SAFETY: dl_iterate_phdr(3) calls `each_object` once per loaded
    // object with a valid dl_phdr_info; `walk` outlives the call and is
    // only touched by the callback, on this thread.
    unsafe {
        libc::dl_iterate_phdr(
            Some(each_object),
            &mut walk as *mut Walk as *mut libc::c_void,
        );
    }
    walk.ranges
}

/// What to lock and what to let go (unwind tables, panic-only code), as
/// address ranges.
type Ranges = (Vec<Range<usize>>, Vec<Range<usize>>);

/// `program_image`'s state across the objects.
struct Walk {
    ranges: Ranges,
    /// The program's panic-only code, link-time addresses.
    cold: Option<Range<u64>>,
    /// An address in the program's code: tells its object from libraries.
    here: usize,
}

/// One loaded object's segment headers, as (type, flags, address, size)
/// with the load bias added.
type Segment = (u32, u32, usize, usize);

unsafe extern "C" fn each_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the C library passes a valid info whose dlpi_phdr points at
    // dlpi_phnum program headers, and `data` is the Walk given above.
    let (info, walk) = unsafe { (&*info, &mut *(data as *mut Walk)) };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: see above; the headers stay mapped while the object is.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let bias = info.dlpi_addr as usize;
    let segments: Vec<Segment> = headers
        .iter()
        .map(|h| {
            (
                h.p_type,
                h.p_flags,
                bias.wrapping_add(h.p_vaddr as usize),
                h.p_memsz as usize,
            )
        })
        .collect();
    let program = segments
        .iter()
        .any(|s| s.0 == libc::PT_LOAD && (s.2..s.2 + s.3).contains(&walk.here));
    let cold = walk
        .cold
        .as_ref()
        .filter(|_| program)
        .map(|c| bias.wrapping_add(c.start as usize)..bias.wrapping_add(c.end as usize));
    let (lock, let_go) = object_ranges(&segments, page_size(), cold);
    walk.ranges.0.extend(lock);
    walk.ranges.1.extend(let_go);
    0
}

fn page_size() -> usize {
    // SAFETY: sysconf(3) takes a name only.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// The ranges for one object's segments (see `program_image`); `cold`:
/// its panic-only code, whose whole pages are let go rather than locked
/// (ignored unless inside a range to lock).
fn object_ranges(segments: &[Segment], page: usize, cold: Option<Range<usize>>) -> Ranges {
    let unwind = segments
        .iter()
        .find(|s| s.0 == libc::PT_GNU_EH_FRAME)
        .map(|s| s.2);
    let up = |a: usize| (a + page - 1) & !(page - 1);
    let mut ranges = Ranges::default();
    for &(_, _, addr, size) in segments
        .iter()
        .filter(|s| s.0 == libc::PT_LOAD && s.1 & libc::PF_W == 0 && s.3 > 0)
    {
        let (start, end) = (addr & !(page - 1), up(addr + size));
        match unwind.filter(|u| (addr..addr + size).contains(u)) {
            Some(u) => {
                ranges.0.push(start..up(u));
                if up(u) < end {
                    ranges.1.push(up(u)..end);
                }
            }
            None => ranges.0.push(start..end),
        }
    }
    if let Some(c) = cold {
        let cut = up(c.start)..c.end & !(page - 1);
        if let Some(i) = ranges
            .0
            .iter()
            .position(|r| r.start <= cut.start && cut.end <= r.end)
        {
            if !cut.is_empty() {
                let r = ranges.0.remove(i);
                ranges.0.insert(i, cut.end..r.end);
                ranges.0.insert(i, r.start..cut.start);
                ranges.1.push(cut);
            }
        }
    }
    ranges.0.retain(|r| !r.is_empty());
    ranges
}

/// Where the executable's panic-only code lies (link-time addresses, the
/// load bias not added): the section memlock.ld makes, found in the
/// file's section headers (they are not loaded into memory: read once at
/// start-up). None where the build has no such section or the file cannot
/// be read.
pub fn cold_code(exe: &Path) -> Option<Range<u64>> {
    let f = File::open(exe).ok()?;
    let mut read = |offset: u64, len: usize| {
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset).ok().map(|_| buf)
    };
    find_section(&mut read, COLD_SECTION.as_bytes())
}

/// The address range of the section called `name` in an ELF file of this
/// machine's byte order (32 or 64 bits), read through `read(offset, len)`.
fn find_section(
    read: &mut dyn FnMut(u64, usize) -> Option<Vec<u8>>,
    name: &[u8],
) -> Option<Range<u64>> {
    let h = read(0, 64)?;
    let native = if cfg!(target_endian = "little") { 1 } else { 2 };
    if h[..4] != *b"\x7fELF" || h[5] != native {
        return None;
    }
    let wide = match h[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let half = |b: &[u8], o: usize| u16::from_ne_bytes([b[o], b[o + 1]]) as usize;
    let word = |b: &[u8], o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap()) as u64;
    let long = |b: &[u8], o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
    // Section header table: offset, entry size, count, names' section.
    let (table, entry, count, names) = if wide {
        (long(&h, 40), half(&h, 58), half(&h, 60), half(&h, 62))
    } else {
        (word(&h, 32), half(&h, 46), half(&h, 48), half(&h, 50))
    };
    if entry != if wide { 64 } else { 40 } || names >= count {
        return None;
    }
    let table = read(table, entry * count)?;
    // A section header's name offset, address, file offset and size.
    let header = |i: usize| {
        let s = &table[i * entry..(i + 1) * entry];
        if wide {
            (word(s, 0), long(s, 16), long(s, 24), long(s, 32))
        } else {
            (word(s, 0), word(s, 12), word(s, 16), word(s, 20))
        }
    };
    let (_, _, at, size) = header(names);
    let names = read(at, usize::try_from(size).ok().filter(|&n| n <= 1 << 20)?)?;
    let named = |offset: u64| {
        let rest = names.get(offset as usize..).unwrap_or_default();
        rest.starts_with(name) && rest.get(name.len()) == Some(&0)
    };
    (0..count)
        .map(header)
        .find(|h| named(h.0))
        .map(|(_, addr, _, size)| addr..addr + size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: u32 = libc::PF_R;
    const X: u32 = libc::PF_X;
    const W: u32 = libc::PF_W;

    #[test]
    fn code_and_read_only_data_are_locked_up_to_the_unwind_tables() {
        // The static build's layout: headers, code, read-only data with
        // the unwind tables at its end, writable data.
        let segments = [
            (libc::PT_LOAD, R, 0x0, 0x87e0),
            (libc::PT_LOAD, R | X, 0x9000, 0xd52c1),
            (libc::PT_LOAD, R, 0xdf000, 0x32240),
            (libc::PT_LOAD, R | W, 0x112c90, 0x90d0),
            (libc::PT_GNU_EH_FRAME, R, 0xf148c, 0x3c0c),
            (libc::PT_GNU_STACK, R | W, 0, 0),
        ];
        let (lock, unwind) = object_ranges(&segments, 0x1000, None);
        assert_eq!(lock, vec![0x0..0x9000, 0x9000..0xdf000, 0xdf000..0xf2000]);
        // From the first whole page of the unwind tables to the segment's end.
        assert_eq!(unwind, vec![0xf2000..0x112000]);
    }

    #[test]
    fn an_object_without_unwind_tables_is_locked_whole() {
        let segments = [
            (libc::PT_LOAD, R | X, 0x7f00_0000_1000, 0x1234),
            (libc::PT_LOAD, R | W, 0x7f00_0000_3000, 0x100),
        ];
        let (lock, unwind) = object_ranges(&segments, 0x1000, None);
        assert_eq!(lock, vec![0x7f00_0000_1000..0x7f00_0000_3000]);
        assert!(unwind.is_empty());
    }

    #[test]
    fn panic_only_code_is_let_go_whole_pages_only() {
        // The static build's code segment with the section of memlock.ld
        // at its end, before the last few bytes of `.fini`.
        let segments = [
            (libc::PT_LOAD, R, 0x0, 0x4d0),
            (libc::PT_LOAD, R | X, 0x1000, 0xd5980),
            (libc::PT_LOAD, R, 0xd7000, 0x32320),
            (libc::PT_GNU_EH_FRAME, R, 0xe954c, 0x3c44),
        ];
        let cold = Some(0xadd00..0xd697d);
        let (lock, let_go) = object_ranges(&segments, 0x1000, cold);
        assert_eq!(
            lock,
            vec![
                0x0..0x1000,
                0x1000..0xae000,
                0xd6000..0xd7000,
                0xd7000..0xea000
            ]
        );
        assert_eq!(let_go, vec![0xea000..0x10a000, 0xae000..0xd6000]);
        // A range outside what is locked (a bogus section) changes nothing.
        let (bogus, _) = object_ranges(&segments, 0x1000, Some(0x200000..0x300000));
        assert_eq!(bogus, vec![0x0..0x1000, 0x1000..0xd7000, 0xd7000..0xea000]);
    }

    /// A 64-bit ELF file of this machine's byte order with the sections
    /// given as (name, address, size), and a section names' table.
    fn elf(sections: &[(&str, u64, u64)]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut headers = vec![0u8; 64]; // section 0: none
        let mut add = |name: &str, addr: u64, offset: u64, size: u64| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&(names.len() as u32).to_ne_bytes());
            h[16..24].copy_from_slice(&addr.to_ne_bytes());
            h[24..32].copy_from_slice(&offset.to_ne_bytes());
            h[32..40].copy_from_slice(&size.to_ne_bytes());
            names.extend_from_slice(name.as_bytes());
            names.push(0);
            headers.extend(h);
        };
        for &(name, addr, size) in sections {
            add(name, addr, 0, size);
        }
        let count = sections.len() + 2;
        let table_at = 64u64;
        let names_at = table_at + 64 * count as u64;
        add(".shstrtab", 0, names_at, 0);
        let len = names.len() as u64;
        headers[64 * (count - 1) + 32..64 * (count - 1) + 40].copy_from_slice(&len.to_ne_bytes());
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = if cfg!(target_endian = "little") { 1 } else { 2 };
        f[40..48].copy_from_slice(&table_at.to_ne_bytes());
        f[58..60].copy_from_slice(&64u16.to_ne_bytes());
        f[60..62].copy_from_slice(&(count as u16).to_ne_bytes());
        f[62..64].copy_from_slice(&((count - 1) as u16).to_ne_bytes());
        f.extend(headers);
        f.extend(names);
        f
    }

    fn section_of(file: &[u8], name: &str) -> Option<Range<u64>> {
        let mut read =
            |at: u64, len: usize| file.get(at as usize..at as usize + len).map(<[u8]>::to_vec);
        find_section(&mut read, name.as_bytes())
    }

    #[test]
    fn the_cold_section_is_found_by_its_whole_name() {
        let f = elf(&[
            (".text", 0x1040, 0xaccbe),
            (".text.booth_cold_not", 0x1, 0x1),
            (COLD_SECTION, 0xadd00, 0x28c7d),
        ]);
        assert_eq!(section_of(&f, COLD_SECTION), Some(0xadd00..0xd697d));
        assert_eq!(section_of(&f, ".text"), Some(0x1040..0xadcfe));
        assert_eq!(section_of(&f, ".data"), None);
        // Cut short, or not ELF: nothing found, nothing assumed.
        assert_eq!(section_of(&f[..200], COLD_SECTION), None);
        assert_eq!(section_of(&[0u8; 4096], COLD_SECTION), None);
    }

    #[test]
    fn this_program_has_no_cold_section_but_its_code_is_found() {
        // The test binary is linked without memlock.ld.
        let exe = std::env::current_exe().unwrap();
        assert_eq!(cold_code(&exe), None);
        let mut read = {
            let f = File::open(&exe).unwrap();
            move |at: u64, len: usize| {
                let mut b = vec![0u8; len];
                f.read_exact_at(&mut b, at).ok().map(|_| b)
            }
        };
        let text = find_section(&mut read, b".text").expect(".text");
        assert!(text.end - text.start > 4096, "{text:x?}");
    }

    #[test]
    fn this_program_has_code_to_lock() {
        // The test binary itself: its code must be among the ranges, and
        // the address of this function inside one of them.
        let here = this_program_has_code_to_lock as *const () as usize;
        let (lock, unwind) = program_image();
        assert!(lock.iter().any(|r| r.contains(&here)), "{lock:x?}");
        assert!(!unwind.iter().any(|r| r.contains(&here)), "{unwind:x?}");
    }
}
