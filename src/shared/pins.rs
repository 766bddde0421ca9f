//! Pins: which processes hold an object, so that its bytes stay put.
//!
//! Shared state is a mask of one bit per process slot per object. A process
//! sets its bit when its own pin count for the object goes 0 -> 1 and clears
//! it on 1 -> 0; the counts themselves are process-private. So a get of an
//! object this process already holds touches no shared word, and the cleanup
//! of a dead process is "clear its bit everywhere" — idempotent, needing no
//! record of how many pins it had.
//!
//! Pin versus delete (and spill) is a Dekker handshake: the pinner sets its
//! bit and then reads the state; the deleter changes the state and then reads
//! the mask; both SeqCst. At least one sees the other, so an object is never
//! freed under a pin that its holder believes valid.
//!
//! The local count uses a BUSY bit for the 0 <-> 1 transitions so that
//! another thread of the same process cannot rely on a bit not yet set, or
//! see it cleared under a pin it just took. This is a spin among threads of
//! one process only: a stopped process stops all its threads together.

use super::sync::{decisive_load, spin_hint, AtomicU32, AtomicU64, Ordering};

const BUSY: u32 = 1 << 31;
const MAX_PINS: u32 = BUSY - 1;

/// Masks are spread over this many rows (see `PinMasks`).
pub(crate) const MASK_SPREAD: usize = 64;

/// 64-bit words in one mask: a bit per process slot.
pub(crate) fn mask_words(processes: u32) -> usize {
    (processes as usize).div_ceil(64)
}

/// Mask positions for `objects` object slots: a multiple of `MASK_SPREAD`,
/// so that masks of consecutive objects are spread (see `PinMasks`).
pub(crate) fn mask_positions(objects: u64) -> u64 {
    objects.next_multiple_of(MASK_SPREAD as u64)
}

/// The shared pin masks.
///
/// Object `d`'s mask is not at position `d` but at `(d % 64) * rows + d / 64`
/// (`rows` = positions / 64): masks of consecutive objects lie `rows` masks
/// apart, in different cache lines. Objects put one after another by one
/// process get consecutive descriptors, and are then often pinned by
/// different processes at once (a producer and its workers); packed masks
/// (two to eight per 64-byte line) would make those processes write one
/// line, and 2 processes reached 1.6x one process's get + release rate
/// instead of 2x. Masks sharing a line now belong to objects 64 apart. The
/// layout gives the section a multiple of 64 positions; any other length
/// (tests) keeps masks in order.
#[derive(Clone, Copy)]
pub(crate) struct PinMasks<'a> {
    words: &'a [AtomicU64],
    mask_words: usize,
    /// Masks in the section: object slots `0..positions` have one.
    positions: usize,
    /// Where `d`'s mask starts, as `(d & column_mask) * row_stride +
    /// (d >> column_shift) * mask_words`: spread, column_mask = 63,
    /// row_stride = rows * mask_words and column_shift = 6 (d % 64 rows
    /// down, d / 64 along); in order, column_mask = all ones, row_stride =
    /// mask_words and column_shift = usize::BITS - 1 (which leaves 0 of
    /// any slot below `positions`). One formula for both, no branch.
    column_mask: usize,
    row_stride: usize,
    column_shift: u32,
}

impl<'a> PinMasks<'a> {
    pub(crate) fn new(words: &'a [AtomicU64], mask_words: usize) -> PinMasks<'a> {
        let positions = words.len() / mask_words.max(1);
        let (column_mask, row_stride, column_shift) = if positions.is_multiple_of(MASK_SPREAD) {
            (MASK_SPREAD - 1, positions / MASK_SPREAD * mask_words, MASK_SPREAD.trailing_zeros())
        } else {
            (usize::MAX, mask_words, usize::BITS - 1)
        };
        PinMasks { words, mask_words, positions, column_mask, row_stride, column_shift }
    }

    /// `d`'s mask, or no words if `d` has none. Object slots come from the
    /// shared mapping (a linger entry names one), where a damaged file may
    /// hold anything: an object outside the section has an empty mask, in
    /// which nothing is set and setting does nothing.
    #[inline]
    fn mask(&self, d: u32) -> &'a [AtomicU64] {
        self.start(d).and_then(|start| self.words.get(start..start + self.mask_words)).unwrap_or(&[])
    }

    /// Index of the first word of `d`'s mask, if `d` has one.
    #[inline]
    fn start(&self, d: u32) -> Option<usize> {
        let d = d as usize;
        if d >= self.positions {
            return None;
        }
        // Spread positions are a permutation of 0..positions (see above).
        Some((d & self.column_mask) * self.row_stride + (d >> self.column_shift) * self.mask_words)
    }

    #[inline]
    fn word(&self, d: u32, slot: u32) -> Option<(&'a AtomicU64, u64)> {
        let w = self.mask(d).get(slot as usize / 64)?;
        Some((w, 1u64 << (slot % 64)))
    }

    /// Sets `slot`'s bit on object `d`.
    #[inline]
    pub(crate) fn set(&self, d: u32, slot: u32) {
        if let Some((w, bit)) = self.word(d, slot) {
            w.fetch_or(bit, Ordering::SeqCst);
        }
    }

    /// Sets `slot`'s bit on object `d` unless it is set already (only the
    /// slot's own process sets it, so a plain load tells).
    #[inline]
    pub(crate) fn set_if_clear(&self, d: u32, slot: u32) {
        if let Some((w, bit)) = self.word(d, slot) {
            if w.load(Ordering::Relaxed) & bit == 0 {
                w.fetch_or(bit, Ordering::SeqCst);
            }
        }
    }

    /// Clears `slot`'s bit on object `d`; true if it was set.
    #[inline]
    pub(crate) fn clear(&self, d: u32, slot: u32) -> bool {
        let Some((w, bit)) = self.word(d, slot) else { return false };
        // A plain load first keeps the sweep of a dead slot from writing
        // every mask line of the store.
        if w.load(Ordering::SeqCst) & bit == 0 {
            return false;
        }
        w.fetch_and(!bit, Ordering::SeqCst) & bit != 0
    }

    /// Whether `slot`'s bit is set on `d`.
    #[cfg(any(test, loom))]
    pub(crate) fn is_set(&self, d: u32, slot: u32) -> bool {
        self.word(d, slot).is_some_and(|(w, bit)| w.load(Ordering::SeqCst) & bit != 0)
    }

    /// Whether any process pins `d`.
    #[inline]
    pub(crate) fn any(&self, d: u32) -> bool {
        self.mask(d).iter().any(|w| w.load(Ordering::SeqCst) != 0)
    }

    /// Whether `f` holds for some slot whose bit is set on `d` (decisive
    /// reads, see `sync::decisive_load`).
    #[inline]
    pub(crate) fn any_slot(&self, d: u32, mut f: impl FnMut(u32) -> bool) -> bool {
        for (i, w) in self.mask(d).iter().enumerate() {
            let mut v = decisive_load(w);
            while v != 0 {
                if f(i as u32 * 64 + v.trailing_zeros()) {
                    return true;
                }
                v &= v - 1;
            }
        }
        false
    }

    /// The slots pinning `d`, for inspection.
    pub(crate) fn holders(&self, d: u32) -> Vec<u32> {
        let mut out = Vec::new();
        for (i, w) in self.mask(d).iter().enumerate() {
            let mut v = w.load(Ordering::Relaxed);
            while v != 0 {
                out.push(i as u32 * 64 + v.trailing_zeros());
                v &= v - 1;
            }
        }
        out
    }
}

/// The outcome of dropping one local pin.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unpinned {
    /// Other pins of this process remain.
    StillHeld,
    /// This was the process's last pin: its shared bit is now clear.
    LastLocal,
    /// The process held no pin on the object.
    NotHeld,
}

/// This process's pin counts, one word per object slot.
#[derive(Clone, Copy)]
pub(crate) struct LocalPins<'a> {
    counts: &'a [AtomicU32],
}

impl<'a> LocalPins<'a> {
    pub(crate) fn new(counts: &'a [AtomicU32]) -> LocalPins<'a> {
        LocalPins { counts }
    }

    /// Adds a pin on `d`, setting the shared bit on the first one. False if
    /// the count would overflow.
    #[inline]
    pub(crate) fn pin(&self, d: u32, masks: &PinMasks<'_>, slot: u32) -> bool {
        let c = &self.counts[d as usize];
        loop {
            let n = c.load(Ordering::Acquire);
            if n & BUSY != 0 {
                spin_hint();
                continue;
            }
            if n >= MAX_PINS {
                return false;
            }
            if n > 0 {
                if c.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    return true;
                }
                continue;
            }
            if c.compare_exchange_weak(0, BUSY | 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                masks.set(d, slot);
                c.store(1, Ordering::Release);
                return true;
            }
        }
    }

    /// Drops a pin on `d`, clearing the shared bit with the last one.
    #[inline]
    pub(crate) fn unpin(&self, d: u32, masks: &PinMasks<'_>, slot: u32) -> Unpinned {
        let c = &self.counts[d as usize];
        loop {
            let n = c.load(Ordering::Acquire);
            if n & BUSY != 0 {
                spin_hint();
                continue;
            }
            if n == 0 {
                return Unpinned::NotHeld;
            }
            if n > 1 {
                if c.compare_exchange_weak(n, n - 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    return Unpinned::StillHeld;
                }
                continue;
            }
            if c.compare_exchange_weak(1, BUSY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                masks.clear(d, slot);
                c.store(0, Ordering::Release);
                return Unpinned::LastLocal;
            }
        }
    }

    /// This process's pins on `d`.
    #[cfg(test)]
    pub(crate) fn count(&self, d: u32) -> u32 {
        self.counts[d as usize].load(Ordering::Acquire) & !BUSY
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn masks_track_slots() {
        let words: Vec<AtomicU64> = (0..8).map(|_| AtomicU64::new(0)).collect();
        let m = PinMasks::new(&words, 4);
        assert!(!m.any(1));
        m.set(1, 130);
        m.set(1, 3);
        assert!(m.any(1) && !m.any(0));
        assert_eq!(m.holders(1), vec![3, 130]);
        assert!(m.clear(1, 130));
        assert!(!m.clear(1, 130));
        assert!(m.is_set(1, 3));
    }

    #[test]
    fn masks_of_consecutive_objects_are_in_different_lines() {
        for &mask_words in if cfg!(miri) { &[1usize, 5][..] } else { &[1usize, 2, 4, 5][..] } {
            // Eight rows or more (a store of 512 object slots or more; the
            // default has at least 65536) put neighbours a line apart.
            let positions = 8 * MASK_SPREAD;
            let words: Vec<AtomicU64> = (0..positions * mask_words).map(|_| AtomicU64::new(0)).collect();
            let m = PinMasks::new(&words, mask_words);
            let mut seen = std::collections::HashSet::new();
            let start = |d: u32| m.start(d).unwrap();
            for d in 0..positions as u32 {
                assert!(seen.insert(start(d)), "two objects share a mask");
                assert!(start(d) + mask_words <= words.len());
                if d > 0 {
                    let line = |d: u32| start(d) * 8 / 64;
                    assert_ne!(line(d), line(d - 1), "objects {} and {d} share a line", d - 1);
                }
            }
            // Each object's bits are its own.
            m.set(70, 3);
            assert!(m.is_set(70, 3) && !m.any(71) && !m.any(69) && !m.any(6));
        }
    }

    #[test]
    fn an_object_outside_the_section_has_an_empty_mask() {
        // A damaged file can name any object slot (a linger entry does);
        // no access may panic, alias another object's mask or write.
        for (positions, mask_words) in [(3usize, 1usize), (2 * MASK_SPREAD, 2)] {
            let words: Vec<AtomicU64> = (0..positions * mask_words).map(|_| AtomicU64::new(0)).collect();
            let m = PinMasks::new(&words, mask_words);
            for d in [positions as u32, positions as u32 + 2, u32::MAX] {
                m.set(d, 1);
                m.set_if_clear(d, 0);
                assert!(!m.any(d) && !m.is_set(d, 1) && !m.clear(d, 1));
                assert!(!m.any_slot(d, |_| true) && m.holders(d).is_empty());
            }
            assert!(words.iter().all(|w| w.load(Ordering::Relaxed) == 0));
            // A slot beyond the mask's words is refused the same way.
            m.set(0, 64 * mask_words as u32);
            assert!(words.iter().all(|w| w.load(Ordering::Relaxed) == 0));
        }
    }

    #[test]
    fn local_pins_set_bit_once() {
        let words: Vec<AtomicU64> = (0..2).map(|_| AtomicU64::new(0)).collect();
        let m = PinMasks::new(&words, 1);
        let counts: Vec<AtomicU32> = (0..2).map(|_| AtomicU32::new(0)).collect();
        let l = LocalPins::new(&counts);
        assert!(l.pin(1, &m, 5));
        assert!(l.pin(1, &m, 5));
        assert!(m.is_set(1, 5));
        assert_eq!(l.unpin(1, &m, 5), Unpinned::StillHeld);
        assert!(m.is_set(1, 5));
        assert_eq!(l.unpin(1, &m, 5), Unpinned::LastLocal);
        assert!(!m.is_set(1, 5));
        assert_eq!(l.unpin(1, &m, 5), Unpinned::NotHeld);
    }

    #[test]
    fn threads_pinning_one_object_keep_the_bit_consistent() {
        let words: Vec<AtomicU64> = (0..1).map(|_| AtomicU64::new(0)).collect();
        let m = PinMasks::new(&words, 1);
        let counts: Vec<AtomicU32> = (0..1).map(|_| AtomicU32::new(0)).collect();
        let l = LocalPins::new(&counts);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..if cfg!(miri) { 200 } else { 20_000 } {
                        assert!(l.pin(0, &m, 0));
                        // While we hold a pin the shared bit must be set.
                        assert!(m.is_set(0, 0));
                        assert_ne!(l.unpin(0, &m, 0), Unpinned::NotHeld);
                    }
                });
            }
        });
        assert_eq!(l.count(0), 0);
        assert!(!m.is_set(0, 0));
    }
}
