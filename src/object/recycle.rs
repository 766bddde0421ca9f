//! The descriptors a process freed lately with their slab block kept (see
//! `lifecycle`, "Kept blocks"), each with its block's size class: its next
//! puts of that class claim them first and write into the same warm block,
//! without the allocator; puts of other classes leave them.
//!
//! Private to the process (its threads share it), so no step here is seen
//! by another process: an entry is a guess, checked by the claim (a CAS
//! from FREE, as any claim) and by the block check of
//! `Allocator::take_kept_block`. Another process may have claimed the
//! descriptor since, or a sweep taken its block back; then the entry is
//! merely skipped.
//!
//! The list is bounded, and so is what a process keeps: a free that finds
//! it full gives its block back to the slab as before. So the memory free
//! descriptors keep is at most `SLOTS` blocks per process that deletes
//! (besides those of processes that died or closed the store, which a
//! sweep or a claim gives back), and a churn of more objects than that
//! reuses its blocks through the slabs as before.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Entries per process and store.
pub(crate) const SLOTS: usize = 8;

/// A process's recently freed descriptors with a kept block, each with its
/// block's size class: `(class + 1) << 32 | descriptor`, 0 for none.
#[derive(Debug)]
pub(crate) struct Recycled {
    /// Entries taken, about (raised after an entry is filled, lowered after
    /// one is emptied): a put that finds 0 looks at none of them.
    count: AtomicU32,
    slots: [AtomicU64; SLOTS],
}

impl Default for Recycled {
    fn default() -> Recycled {
        Recycled { count: AtomicU32::new(0), slots: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

fn entry(d: u32, class: usize) -> u64 {
    (class as u64 + 1) << 32 | d as u64
}

impl Recycled {
    /// Notes that descriptor `d` was freed keeping a block of size class
    /// `class`; false (the block is then given back) when every entry is
    /// taken.
    #[inline]
    pub(crate) fn remember(&self, d: u32, class: usize) -> bool {
        let e = entry(d, class);
        let filled = self.slots.iter().any(|s| {
            s.load(Ordering::Relaxed) == 0 && s.compare_exchange(0, e, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        });
        if filled {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        filled
    }

    /// Whether the list is empty, about (a put that finds it so looks no
    /// further).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// A descriptor freed lately keeping a block of size class `class`
    /// (None: of any class), taken off the list.
    #[inline]
    pub(crate) fn take(&self, class: Option<usize>) -> Option<u32> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.take_one(class)
    }

    #[inline(always)]
    fn take_one(&self, class: Option<usize>) -> Option<u32> {
        let wanted = class.map(|c| c as u64 + 1);
        for s in &self.slots {
            let e = s.load(Ordering::Relaxed);
            if e != 0
                && wanted.is_none_or(|w| e >> 32 == w)
                && s.compare_exchange(e, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok()
            {
                self.count.fetch_sub(1, Ordering::Relaxed);
                return Some(e as u32);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounded, each entry handed out once, and only to a put of its class
    /// (or to a taker of any).
    #[test]
    fn entries_are_bounded_by_class_and_taken_once() {
        let r = Recycled::default();
        assert_eq!(r.take(None), None);
        for d in 0..SLOTS as u32 {
            assert!(r.remember(d, d as usize % 2));
        }
        assert!(!r.remember(99, 0), "full");
        assert_eq!(r.take(Some(5)), None, "no entry of that class");
        let mut odd: Vec<u32> = std::iter::from_fn(|| r.take(Some(1))).collect();
        odd.sort_unstable();
        assert_eq!(odd, (0..SLOTS as u32).filter(|d| d % 2 == 1).collect::<Vec<_>>());
        let mut rest: Vec<u32> = std::iter::from_fn(|| r.take(None)).collect();
        rest.sort_unstable();
        assert_eq!(rest, (0..SLOTS as u32).filter(|d| d % 2 == 0).collect::<Vec<_>>());
        assert!(r.remember(7, 43) && r.take(Some(43)) == Some(7) && r.take(None).is_none());
        assert!(r.remember(u32::MAX, 0) && r.take(Some(0)) == Some(u32::MAX), "any descriptor number");
    }
}
