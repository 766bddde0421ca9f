//! The descriptors a process freed lately with their slab block kept (see
//! `lifecycle`, "Kept blocks"): its next puts claim them first and write
//! into the same warm block, without the allocator.
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

use std::sync::atomic::{AtomicU32, Ordering};

/// Entries per process and store.
pub(crate) const SLOTS: usize = 8;

/// An empty entry.
const NONE: u32 = u32::MAX;

/// A process's recently freed descriptors with a kept block.
#[derive(Debug)]
pub(crate) struct Recycled {
    /// Entries taken, about (raised after an entry is filled, lowered after
    /// one is emptied): a put that finds 0 looks at none of them.
    count: AtomicU32,
    slots: [AtomicU32; SLOTS],
}

impl Default for Recycled {
    fn default() -> Recycled {
        Recycled { count: AtomicU32::new(0), slots: std::array::from_fn(|_| AtomicU32::new(NONE)) }
    }
}

impl Recycled {
    /// Notes that descriptor `d` was freed with its block kept; false (the
    /// block is then given back) when every entry is taken.
    #[inline]
    pub(crate) fn remember(&self, d: u32) -> bool {
        let filled = d != NONE
            && self.slots.iter().any(|s| {
                s.load(Ordering::Relaxed) == NONE
                    && s.compare_exchange(NONE, d, Ordering::Relaxed, Ordering::Relaxed).is_ok()
            });
        if filled {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        filled
    }

    /// A descriptor freed lately with its block kept, taken off the list.
    #[inline]
    pub(crate) fn take(&self) -> Option<u32> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.take_one()
    }

    #[inline(never)]
    fn take_one(&self) -> Option<u32> {
        for s in &self.slots {
            if s.load(Ordering::Relaxed) != NONE {
                let d = s.swap(NONE, Ordering::Relaxed);
                if d != NONE {
                    self.count.fetch_sub(1, Ordering::Relaxed);
                    return Some(d);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bounded, each entry handed out once.
    #[test]
    fn entries_are_bounded_and_taken_once() {
        let r = Recycled::default();
        assert_eq!(r.take(), None);
        for d in 0..SLOTS as u32 {
            assert!(r.remember(d));
        }
        assert!(!r.remember(99), "full");
        let mut taken: Vec<u32> = std::iter::from_fn(|| r.take()).collect();
        taken.sort_unstable();
        assert_eq!(taken, (0..SLOTS as u32).collect::<Vec<_>>());
        assert!(r.remember(7) && r.take() == Some(7) && r.take().is_none());
        assert!(!r.remember(NONE), "not a descriptor");
    }
}
