//! Mappings: the shared mapping of a store file, private zero-filled
//! memory, advice, and the machine's memory size.

use std::io;
use std::os::fd::OwnedFd;

use rustix::mm::{Advice, MapFlags, ProtFlags};

/// A read-write shared mapping of the first `len` bytes of a file.
pub(crate) fn mmap_shared(fd: &OwnedFd, len: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh mapping at an address the kernel chooses: no existing
    // memory is affected.
    let p = unsafe {
        rustix::mm::mmap(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, fd, 0)
    }?;
    Ok(p.cast())
}

/// Private zero-filled memory that costs nothing until touched.
pub(crate) fn mmap_anon(len: usize) -> io::Result<*mut u8> {
    // SAFETY: as for `mmap_shared`.
    let p = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len.max(1),
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )
    }?;
    Ok(p.cast())
}

/// Unmaps memory returned by `mmap_shared` or `mmap_anon`.
///
/// # Safety
/// `ptr`/`len` must be exactly a mapping made by this module, and no
/// reference into it may be used afterwards.
pub(crate) unsafe fn munmap(ptr: *mut u8, len: usize) {
    // SAFETY: guaranteed by the caller.
    let _ = unsafe { rustix::mm::munmap(ptr.cast(), len.max(1)) };
}

/// Asks for transparent huge pages on part of a mapping (best effort).
pub(crate) fn advise_hugepages(ptr: *mut u8, len: usize) {
    // SAFETY: advice on our own mapping; it never changes its contents.
    let _ = unsafe { rustix::mm::madvise(ptr.cast(), len, Advice::LinuxHugepage) };
}

/// Populates page tables for a range of a shared mapping (best effort).
pub(crate) fn prefault(ptr: *mut u8, len: usize) {
    // SAFETY: advice on our own mapping; populating never changes contents.
    let _ = unsafe { rustix::mm::madvise(ptr.cast(), len, Advice::LinuxPopulateWrite) };
}

/// Physical memory of the machine.
pub(crate) fn total_ram() -> u64 {
    let info = rustix::system::sysinfo();
    let ram = (info.totalram as u64).saturating_mul(info.mem_unit.max(1) as u64);
    if ram > 0 {
        ram
    } else {
        1 << 30
    }
}
