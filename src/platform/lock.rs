//! Liveness locks, and what fork() does to them. By hand: `rustix` offers
//! only whole-file locks, and no `pthread_atfork`.
//!
//! A process holds a write lock on one byte of the store file per process
//! slot. Open-file-description locks (F_OFD_SETLK) belong to the open file,
//! not to the process, and the kernel drops them exactly when the last
//! descriptor of that open file closes: at death, whatever the signal. A
//! stopped process keeps them. Locks live far past the end of any store, so
//! they never interact with the file's contents.
//!
//! A child made by fork() shares its parent's open file descriptions, and
//! so its liveness locks: were the child to keep them, a dead parent would
//! look alive for as long as the child lives. A fork handler closes, in the
//! child, every descriptor that carries locks, and bumps a generation
//! counter so that handles inherited by the child know they belong to
//! another process.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Where the lock bytes start: far past the end of any store.
const LOCK_BASE: i64 = 1 << 60;

fn lock_request(slot: u32, kind: libc::c_short) -> libc::flock {
    // SAFETY: flock is plain old data; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = LOCK_BASE + slot as i64;
    fl.l_len = 1;
    fl.l_pid = 0; // must be 0 for OFD locks
    fl
}

fn ofd_lock(fd: BorrowedFd<'_>, slot: u32, kind: libc::c_short) -> io::Result<bool> {
    let fd = fd.as_raw_fd();
    let fl = lock_request(slot, kind);
    loop {
        // SAFETY: `fl` is a valid flock; F_OFD_SETLK does not block.
        let r = unsafe { libc::fcntl(fd, libc::F_OFD_SETLK, &fl) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// Tries to take the liveness lock of `slot`; false if another open file holds it.
pub(crate) fn try_lock_slot(fd: BorrowedFd<'_>, slot: u32) -> io::Result<bool> {
    ofd_lock(fd, slot, libc::F_WRLCK as libc::c_short)
}

/// Whether another open file holds the liveness lock of `slot` (without
/// taking it).
pub(crate) fn slot_is_locked(fd: BorrowedFd<'_>, slot: u32) -> io::Result<bool> {
    let mut fl = lock_request(slot, libc::F_WRLCK as libc::c_short);
    // SAFETY: `fl` is a valid flock that F_OFD_GETLK fills in.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

/// Drops the liveness lock of `slot`.
pub(crate) fn unlock_slot(fd: BorrowedFd<'_>, slot: u32) {
    let _ = ofd_lock(fd, slot, libc::F_UNLCK as libc::c_short);
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
const MAX_LOCK_FDS: usize = 1024;
static LOCK_FDS: [AtomicI32; MAX_LOCK_FDS] = [const { AtomicI32::new(-1) }; MAX_LOCK_FDS];

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
    for slot in LOCK_FDS.iter() {
        let fd = slot.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: close is async-signal-safe; `fd` is a descriptor this
            // library opened in the parent and the child must not keep.
            unsafe { libc::close(fd) };
        }
    }
}

fn install_fork_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only touches atomics and calls close.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
}

/// The current fork generation: it changes in a child after fork().
#[inline]
pub(crate) fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// A file descriptor that carries liveness locks: closed by a fork() child,
/// closed on drop in the process that opened it.
#[derive(Debug)]
pub(crate) struct LockFd {
    registry_slot: usize,
    fd: RawFd,
    generation: u64,
}

impl LockFd {
    /// Takes ownership of `fd` and registers it for closing in fork children.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<LockFd> {
        install_fork_handler();
        let raw = fd.as_raw_fd();
        for (i, slot) in LOCK_FDS.iter().enumerate() {
            if slot.compare_exchange(-1, raw, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                std::mem::forget(fd);
                return Ok(LockFd { registry_slot: i, fd: raw, generation: fork_generation() });
            }
        }
        Err(io::Error::other("too many stores open in this process"))
    }

    /// The descriptor, or None in a fork child (where it has been closed).
    pub(crate) fn get(&self) -> Option<BorrowedFd<'_>> {
        // SAFETY: in the process that opened it the descriptor stays open
        // until `self` drops, and the borrow cannot outlive `self`.
        (fork_generation() == self.generation).then(|| unsafe { BorrowedFd::borrow_raw(self.fd) })
    }
}

impl Drop for LockFd {
    fn drop(&mut self) {
        // In a fork child the handler already closed the descriptor (and its
        // number may have been reused since): leave it alone.
        if LOCK_FDS[self.registry_slot].compare_exchange(self.fd, -1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
            && self.get().is_some()
        {
            // SAFETY: we own this descriptor and close it once.
            unsafe { libc::close(self.fd) };
        }
    }
}
