//! A handle's own pin counts: so that closing a handle drops exactly its
//! pins, and a release without a get is refused. Process-private memory,
//! one count per object slot.

use std::sync::atomic::{AtomicU32, Ordering};

/// A handle's own pin counts (so that closing a handle drops exactly its
/// pins, and a release without a get is refused).
#[derive(Clone, Copy)]
pub(crate) struct HandlePins<'a> {
    counts: &'a [AtomicU32],
}

impl<'a> HandlePins<'a> {
    pub(crate) fn new(counts: &'a [AtomicU32]) -> HandlePins<'a> {
        HandlePins { counts }
    }

    #[inline]
    pub(crate) fn add(&self, d: u32) {
        self.counts[d as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of `d`, if `d` is in range.
    #[inline(always)]
    pub(crate) fn count(&self, d: u32) -> Option<&'a AtomicU32> {
        self.counts.get(d as usize)
    }

    /// Takes one pin away; false if the handle holds none on `d`.
    #[inline]
    pub(crate) fn take(&self, d: u32) -> bool {
        HandlePins::take_from(&self.counts[d as usize])
    }

    /// `take`, of a count from `count`.
    #[inline(always)]
    pub(crate) fn take_from(c: &AtomicU32) -> bool {
        let mut n = c.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return false;
            }
            match c.compare_exchange_weak(n, n - 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    /// Takes every pin of `d` away, returning how many there were.
    pub(crate) fn take_all(&self, d: u32) -> u32 {
        self.counts[d as usize].swap(0, Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_pins_refuse_underflow() {
        let counts: Vec<AtomicU32> = (0..2).map(|_| AtomicU32::new(0)).collect();
        let h = HandlePins::new(&counts);
        assert!(!h.take(0));
        h.add(0);
        h.add(0);
        assert!(h.take(0));
        assert_eq!(h.take_all(0), 1);
        assert!(!h.take(0));
    }
}
