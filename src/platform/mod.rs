//! The platform layer: every system call objstore makes, in thin, checked
//! wrappers. Nothing above this layer calls the kernel or libc directly.
//!
//! Most calls go through `rustix` (files, mappings, futexes, random bytes,
//! clocks, user ids). Written by hand here, because `rustix` lacks them:
//! byte-range open-file-description locks (`lock`), the `pthread_atfork`
//! handler that keeps fork children from inheriting those locks (`lock`),
//! and the user database lookup used in messages (`system::user_name`).

mod copy;
mod file;
mod futex;
mod lock;
mod memory;
mod system;
mod thread_lock;

pub use copy::copy_bytes;
pub(crate) use copy::copy_raw;
pub(crate) use file::{
    create_unlinked, fallocate, free_space, fstat, ftruncate, hugetlbfs_page_size, link_into_place, open_rw,
    read_exact_at, unlink, FileInfo,
};
pub(crate) use futex::{futex_wait, futex_wake_all};
pub(crate) use lock::{fork_generation, slot_is_locked, try_lock_slot, unlock_slot, LockFd};
pub(crate) use memory::{advise_hugepages, mmap_anon, mmap_shared, munmap, prefault, total_ram};
pub(crate) use system::{euid, pid, random_u128, unix_seconds_coarse, user_name};
pub(crate) use thread_lock::{ThreadLock, ThreadLockGuard};
