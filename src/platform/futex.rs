//! Futexes on words of the shared mapping: process-shared (no PRIVATE
//! flag), so a waiter in one process is woken by a sealer in another.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::thread::futex;

/// Sleeps while `*word == expected`, at most `timeout`. Returns early on a
/// wake, a signal, or a changed word; callers re-check their condition.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = rustix::time::Timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
}

/// Wakes every sleeper on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// Sleeps while `*word == expected`, with no timeout: for words of this
/// process's own memory only (FUTEX_PRIVATE_FLAG), whose wakers are threads
/// of this process. Returns early on a wake, a signal, or a changed word.
pub(crate) fn futex_wait_private(word: &AtomicU32, expected: u32) {
    let _ = futex::wait(word, futex::Flags::PRIVATE, expected, None);
}

/// Wakes one sleeper of `futex_wait_private` on `word`.
pub(crate) fn futex_wake_one_private(word: &AtomicU32) {
    let _ = futex::wake(word, futex::Flags::PRIVATE, 1);
}
