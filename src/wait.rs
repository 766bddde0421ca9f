//! Waiting for a seal in another process: futexes on words of the shared
//! mapping.
//!
//! A get for an absent ID waits on the wait bucket its ID hashes to; a
//! get_many waits on one store-wide word. Each word pairs a sequence number
//! (the futex) with a count of waiters. The waiter increments `waiters`,
//! reads `seq`, looks for its objects, and sleeps only if `seq` is unchanged;
//! the sealer seals, then reads `waiters` and, only if someone waits, bumps
//! `seq` and wakes. Both sides are SeqCst, so either the waiter's look finds
//! the seal or the sealer sees the waiter (Dekker); a put with no one waiting
//! costs two loads and no syscall.
//!
//! Every sleep is capped, so a sealer that dies between its seal and its
//! wake delays a waiter by at most the cap. A waiter that dies leaves its
//! bucket's count high; that costs sealers in that bucket a wasted wake
//! syscall, never a missed wake-up.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::layout::WAIT_BUCKETS;
use crate::sys;

/// The longest single sleep.
pub(crate) const SLEEP_CAP: Duration = Duration::from_millis(100);

/// A futex word and its waiter count.
#[derive(Clone, Copy)]
pub(crate) struct WaitWord<'a> {
    seq: &'a AtomicU32,
    waiters: &'a AtomicU32,
}

impl<'a> WaitWord<'a> {
    pub(crate) fn new(pair: &'a [AtomicU32]) -> WaitWord<'a> {
        WaitWord { seq: &pair[0], waiters: &pair[1] }
    }

    /// Called by a sealer after its seal.
    #[inline]
    pub(crate) fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.seq.fetch_add(1, Ordering::SeqCst);
            sys::futex_wake_all(self.seq);
        }
    }

    /// Calls `check` until it returns Some or `deadline` passes (None: wait
    /// forever), sleeping between calls until a seal is announced here.
    pub(crate) fn wait_for<R>(&self, deadline: Option<Instant>, mut check: impl FnMut() -> Option<R>) -> Option<R> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            let seq = self.seq.load(Ordering::SeqCst);
            if let Some(r) = check() {
                break Some(r);
            }
            let nap = match deadline {
                None => SLEEP_CAP,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break None;
                    }
                    (d - now).min(SLEEP_CAP)
                }
            };
            sys::futex_wait(self.seq, seq, nap);
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// The wait buckets and the get_many word.
#[derive(Clone, Copy)]
pub(crate) struct Waits<'a> {
    /// `WAIT_BUCKETS` pairs, each on its own 64-byte line (16 u32 apart).
    buckets: &'a [AtomicU32],
    many: &'a [AtomicU32],
}

impl<'a> Waits<'a> {
    pub(crate) fn new(buckets: &'a [AtomicU32], many: &'a [AtomicU32]) -> Waits<'a> {
        debug_assert_eq!(buckets.len(), WAIT_BUCKETS * 16);
        Waits { buckets, many }
    }

    #[inline]
    pub(crate) fn bucket(&self, hash: u64) -> WaitWord<'a> {
        let i = (hash >> 56) as usize % WAIT_BUCKETS * 16;
        WaitWord::new(&self.buckets[i..i + 2])
    }

    pub(crate) fn many(&self) -> WaitWord<'a> {
        WaitWord::new(&self.many[..2])
    }

    /// Announces a seal of an object whose ID hashes to `hash`.
    #[inline]
    pub(crate) fn notify(&self, hash: u64) {
        self.bucket(hash).notify();
        self.many().notify();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn wakes_on_notify() {
        let words: Vec<AtomicU32> = (0..2).map(|_| AtomicU32::new(0)).collect();
        let w = WaitWord::new(&words);
        let ready = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                ready.store(true, Ordering::SeqCst);
                w.notify();
            });
            let t = Instant::now();
            let got = w.wait_for(Some(t + Duration::from_secs(10)), || ready.load(Ordering::SeqCst).then_some(()));
            assert!(got.is_some());
        });
        assert_eq!(words[1].load(Ordering::SeqCst), 0);
    }

    #[test]
    fn times_out() {
        let words: Vec<AtomicU32> = (0..2).map(|_| AtomicU32::new(0)).collect();
        let w = WaitWord::new(&words);
        let t = Instant::now();
        assert!(w.wait_for(Some(t + Duration::from_millis(30)), || None::<()>).is_none());
        assert!(t.elapsed() >= Duration::from_millis(30));
    }
}
