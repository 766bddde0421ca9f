//! A handle's own pin counts: so that closing a handle drops exactly its
//! pins, and a release without a get is refused. Process-private memory,
//! one count per object slot. Beside them, the object slots of the IDs this
//! handle pinned last, so that a release finds its object without looking
//! the ID up again.

use std::sync::atomic::{AtomicU32, Ordering};

/// A handle's own pin counts (so that closing a handle drops exactly its
/// pins, and a release without a get is refused).
#[derive(Clone, Copy)]
pub(crate) struct HandlePins<'a> {
    counts: &'a [AtomicU32],
    recent: &'a Recent,
}

/// Slots of the recently pinned table (a power of two).
const RECENT: usize = 64;

/// The object slots of recently pinned IDs, by a hash of the ID: slot + 1,
/// 0 for none. A hint: a release checks the slot holds the ID and that the
/// handle pins it before it trusts the hint (while the handle pins an
/// object, its slot cannot be reused, so the check is exact).
#[derive(Debug)]
pub(crate) struct Recent([AtomicU32; RECENT]);

impl Default for Recent {
    fn default() -> Recent {
        Recent([const { AtomicU32::new(0) }; RECENT])
    }
}

#[inline]
fn recent_slot(key: &[u64; 3]) -> usize {
    ((key[0] ^ key[1] ^ key[2]).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize
}

impl<'a> HandlePins<'a> {
    pub(crate) fn new(counts: &'a [AtomicU32], recent: &'a Recent) -> HandlePins<'a> {
        HandlePins { counts, recent }
    }

    /// Notes that the ID `key` was pinned in slot `d`.
    #[inline]
    pub(crate) fn remember(&self, key: &[u64; 3], d: u32) {
        self.recent.0[recent_slot(key)].store(d.wrapping_add(1), Ordering::Relaxed);
    }

    /// The slot the ID `key` was pinned in lately, if noted (a hint).
    #[inline]
    pub(crate) fn recall(&self, key: &[u64; 3]) -> Option<u32> {
        self.recent.0[recent_slot(key)].load(Ordering::Relaxed).checked_sub(1)
    }

    #[inline]
    pub(crate) fn add(&self, d: u32) {
        self.counts[d as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one pin away; false if the handle holds none on `d`.
    #[inline]
    pub(crate) fn take(&self, d: u32) -> bool {
        let c = &self.counts[d as usize];
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
        let recent = Recent::default();
        let h = HandlePins::new(&counts, &recent);
        h.remember(&[1, 2, 3], 1);
        assert_eq!(h.recall(&[1, 2, 3]), Some(1));
        assert!(!h.take(0));
        h.add(0);
        h.add(0);
        assert!(h.take(0));
        assert_eq!(h.take_all(0), 1);
        assert!(!h.take(0));
    }
}
