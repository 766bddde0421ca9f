//! A lock among the threads of one process, for state a put takes on every
//! call (a size class's slab cache): taking and dropping it when nobody
//! else holds it is one compare-and-swap and one swap, both in line in the
//! caller, where `std::sync::Mutex` costs a call and its poison checks
//! (~30 instructions on a put of ~800). A holder that panics unlocks it as
//! its guard drops; the state it guards stays consistent by the callers'
//! own rules (they hold it over steps that leave shared words valid at
//! every point), so there is no poisoning.
//!
//! The protocol is the classic three-state futex lock: 0 free, 1 held, 2
//! held with (possibly) sleepers. A locker that finds it held marks it 2
//! and sleeps; the unlocker that swaps out a 2 wakes one sleeper, which
//! takes it as 2 again (it cannot know whether others still sleep).

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

use super::futex::{futex_wait_private, futex_wake_one_private};

const FREE: u32 = 0;
const HELD: u32 = 1;
const CONTENDED: u32 = 2;

/// A value that one thread at a time may use (`lock`).
pub(crate) struct ThreadLock<T> {
    state: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and a guard exists
// for at most one thread at a time (the state's acquire/release protocol),
// so sharing the lock between threads shares T only as a Mutex would.
unsafe impl<T: Send> Sync for ThreadLock<T> {}
// SAFETY: as above; moving the lock moves the T it owns.
unsafe impl<T: Send> Send for ThreadLock<T> {}

impl<T: Default> Default for ThreadLock<T> {
    fn default() -> Self {
        ThreadLock::new(T::default())
    }
}

impl<T> std::fmt::Debug for ThreadLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadLock").field("state", &self.state.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl<T> ThreadLock<T> {
    pub(crate) const fn new(value: T) -> ThreadLock<T> {
        ThreadLock { state: AtomicU32::new(FREE), value: UnsafeCell::new(value) }
    }

    /// Waits until this thread holds the lock.
    #[inline(always)]
    pub(crate) fn lock(&self) -> ThreadLockGuard<'_, T> {
        if self.state.compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
        ThreadLockGuard { lock: self }
    }

    /// The lock if no thread holds it, else None at once.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<ThreadLockGuard<'_, T>> {
        self.state
            .compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(ThreadLockGuard { lock: self })
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        // A short spin first: holders keep it for a few hundred
        // instructions on the common path.
        for _ in 0..100 {
            std::hint::spin_loop();
            if self.state.load(Ordering::Relaxed) == FREE
                && self.state.compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return;
            }
        }
        // Taken as CONTENDED from here on: this thread may have had
        // company asleep, and its unlock must wake them.
        while self.state.swap(CONTENDED, Ordering::Acquire) != FREE {
            futex_wait_private(&self.state, CONTENDED);
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_one(&self) {
        futex_wake_one_private(&self.state);
    }
}

/// The lock held: the value, until the guard drops.
pub(crate) struct ThreadLockGuard<'a, T> {
    lock: &'a ThreadLock<T>,
}

impl<T> Deref for ThreadLockGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: this guard's thread holds the lock (see `lock`), so no
        // other reference to the value exists while the guard lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for ThreadLockGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow of
        // the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for ThreadLockGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.lock.state.swap(FREE, Ordering::Release) == CONTENDED {
            self.lock.wake_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_take_turns() {
        // Plain read-modify-write of the guarded value: lost updates would
        // show if two threads ever held the lock at once.
        let lock = Arc::new(ThreadLock::new((0u64, 0u64)));
        let threads = if cfg!(miri) { 3 } else { 8 };
        let rounds = if cfg!(miri) { 50 } else { 20_000 };
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for i in 0..rounds {
                        let mut g = lock.lock();
                        let (a, b) = *g;
                        if i % 64 == t {
                            // Sometimes hold it across a yield, so that others
                            // find it held and sleep.
                            std::thread::yield_now();
                        }
                        *g = (a + 1, b + 2);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let n = threads as u64 * rounds as u64;
        assert_eq!(*lock.lock(), (n, 2 * n));
        assert_eq!(lock.state.load(Ordering::Relaxed), FREE);
    }

    #[test]
    fn a_panicking_holder_unlocks() {
        let lock = Arc::new(ThreadLock::new(5u32));
        let l = lock.clone();
        let r = std::thread::spawn(move || {
            let mut g = l.lock();
            *g = 6;
            panic!("holder panics");
        })
        .join();
        assert!(r.is_err());
        // Not poisoned: the next locker takes it and sees the write.
        assert_eq!(*lock.lock(), 6);
    }

    #[test]
    fn a_sleeping_locker_is_woken() {
        let lock = Arc::new(ThreadLock::new(0u32));
        let g = lock.lock();
        let l = lock.clone();
        let waiter = std::thread::spawn(move || {
            *l.lock() += 1;
        });
        // Wait until the locker has marked the lock contended (it sleeps).
        while lock.state.load(Ordering::Relaxed) != CONTENDED {
            std::thread::yield_now();
        }
        drop(g);
        waiter.join().unwrap();
        assert_eq!(*lock.lock(), 1);
    }

    #[test]
    fn try_lock_fails_while_held() {
        let lock = ThreadLock::new(());
        let g = lock.try_lock().expect("free");
        assert!(lock.try_lock().is_none());
        drop(g);
        assert!(lock.try_lock().is_some());
    }
}
