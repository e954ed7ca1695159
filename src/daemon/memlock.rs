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
//! Kernels before Linux 4.4 do not know `MCL_ONFAULT`: there everything is
//! locked at once, as the C booth does.

use log::{debug, warn};
use std::io;
use std::ops::Range;

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
    // Unwind-table pages the start-up brought in with its neighbours
    // (the kernel maps a page's neighbours on a fault) are let go again:
    // unlocked and unmapped here, still in the page cache, read again only
    // by a panic's backtrace.
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
fn program_image() -> Ranges {
    let mut ranges = Ranges::default();
    // SAFETY: dl_iterate_phdr(3) calls `each_object` once per loaded
    // object with a valid dl_phdr_info; `ranges` outlives the call and is
    // only touched by the callback, on this thread.
    unsafe {
        libc::dl_iterate_phdr(
            Some(each_object),
            &mut ranges as *mut Ranges as *mut libc::c_void,
        );
    }
    ranges
}

/// What to lock and which unwind tables to let go, as address ranges.
type Ranges = (Vec<Range<usize>>, Vec<Range<usize>>);

/// One loaded object's segment headers, as (type, flags, address, size)
/// with the load bias added.
type Segment = (u32, u32, usize, usize);

unsafe extern "C" fn each_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the C library passes a valid info whose dlpi_phdr points at
    // dlpi_phnum program headers, and `data` is the Ranges given above.
    let (info, ranges) = unsafe { (&*info, &mut *(data as *mut Ranges)) };
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
    let (lock, unwind) = object_ranges(&segments, page_size());
    ranges.0.extend(lock);
    ranges.1.extend(unwind);
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

/// The ranges for one object's segments (see `program_image`).
fn object_ranges(segments: &[Segment], page: usize) -> Ranges {
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
    ranges.0.retain(|r| !r.is_empty());
    ranges
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
        let (lock, unwind) = object_ranges(&segments, 0x1000);
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
        let (lock, unwind) = object_ranges(&segments, 0x1000);
        assert_eq!(lock, vec![0x7f00_0000_1000..0x7f00_0000_3000]);
        assert!(unwind.is_empty());
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
