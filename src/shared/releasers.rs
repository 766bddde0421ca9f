//! Which descriptor each process is releasing spilled memory of.
//!
//! The memory a spill leaves behind (a SPILLED object's block or run, until
//! its location says OnDisk) may be released by any process that meets it
//! — the spiller, a reader, a deleter, a collect — so that a spiller
//! stopped after its commit holds no one up. Releasing is idempotent within
//! one life of the descriptor: the page table and the slab block words
//! name the descriptor, so a second release of the same bytes frees
//! nothing. It is not idempotent across lives: a releaser that saw the
//! object SPILLED and was stopped before it freed could resume after the
//! object was deleted and its descriptor taken by a new object, perhaps at
//! the same location, and free the new object's bytes (and mark it on
//! disk).
//!
//! So a releaser names the descriptor here, in its process slot, before it
//! checks that the object is still SPILLED, and clears the word when done;
//! and whoever claims a free descriptor for a new life, after its claim,
//! looks here and gives the descriptor back if a releaser names it (a
//! Dekker handshake: one of the two sees the other). A releaser stopped for
//! ever keeps one free descriptor out of use until it is continued or its
//! slot is reclaimed.
//!
//! The scan reads a word per process slot, each on its own line, so it is
//! taken only when the descriptor says a releaser may have named it
//! (`Descriptors::may_be_released`: claims of descriptors no spill touched
//! read nothing more) and a store-wide count of names is not zero. A
//! releaser counts itself before it names and uncounts after it cleared,
//! so the count is never below the names a claimer must see; a releaser
//! that dies between the two steps leaves it one too high for good, which
//! costs claims of released descriptors their scan, nothing else.
//!
//! A few words per process, one per thread releasing at that moment (a
//! thread names one descriptor at a time; more threads than words wait
//! for a word, which another thread of the process frees within a release).

use super::sync::{dekker_fence, yield_now, AtomicU64, Ordering};

/// Words per process slot: threads of one process releasing at once.
pub(crate) const WORDS_PER_SLOT: usize = 4;

#[derive(Clone, Copy)]
pub(crate) struct Releasers<'a> {
    words: &'a [AtomicU64],
    stride: usize,
    /// How many names there may be (at least as many as there are).
    count: &'a AtomicU64,
}

/// A word a thread named a descriptor in; `Releasers::clear` gives it back.
#[must_use]
pub(crate) struct Named<'a>(Option<&'a AtomicU64>);

impl<'a> Releasers<'a> {
    /// Slot `s`'s words are `words[s * stride..][..WORDS_PER_SLOT]`;
    /// `count` the store's count of names.
    pub(crate) fn new(words: &'a [AtomicU64], stride: usize, count: &'a AtomicU64) -> Releasers<'a> {
        debug_assert!(stride >= WORDS_PER_SLOT);
        Releasers { words, stride, count }
    }

    fn slot_words(&self, slot: u32) -> &'a [AtomicU64] {
        let at = (slot as usize).saturating_mul(self.stride);
        self.words.get(at..).map_or(&[], |w| &w[..w.len().min(WORDS_PER_SLOT)])
    }

    /// Slot `slot` is about to release memory of descriptor `d`, if it is
    /// still in the life it saw: the caller checks that after this returns.
    pub(crate) fn name(&self, slot: u32, d: u32) -> Named<'a> {
        let words = self.slot_words(slot);
        if words.is_empty() {
            return Named(None);
        }
        self.count.fetch_add(1, Ordering::SeqCst);
        loop {
            for w in words {
                if w.compare_exchange(0, d as u64 + 1, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    dekker_fence();
                    return Named(Some(w));
                }
            }
            yield_now();
        }
    }

    /// The thread is done releasing.
    pub(crate) fn clear(&self, named: Named<'a>) {
        if let Some(w) = named.0 {
            w.store(0, Ordering::SeqCst);
            self.uncount();
        }
    }

    fn uncount(&self) {
        let _ = self.count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Clears every word of slot `slot` (dead: its reclaimer does this).
    pub(crate) fn clear_slot(&self, slot: u32) {
        for w in self.slot_words(slot) {
            if w.swap(0, Ordering::SeqCst) != 0 {
                self.uncount();
            }
        }
    }

    /// Whether any process names `d`: the claimer of `d` gives it back
    /// (called after the claim's state change).
    pub(crate) fn named(&self, d: u32) -> bool {
        dekker_fence();
        if self.count.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let slots = self.words.len().div_ceil(self.stride);
        (0..slots as u32).any(|s| self.slot_words(s).iter().any(|w| w.load(Ordering::SeqCst) == d as u64 + 1))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_named_descriptor_is_seen_until_cleared() {
        let words: Vec<AtomicU64> = (0..24).map(|_| AtomicU64::new(0)).collect();
        let count = AtomicU64::new(0);
        let r = Releasers::new(&words, 8, &count);
        assert!(!r.named(7));
        let first = r.name(2, 7);
        assert!(r.named(7));
        assert!(!r.named(6));
        assert_eq!(words[16].load(Ordering::SeqCst), 8, "slot 2's words start at 2 * stride");
        // Another thread of the slot takes the next word.
        let second = r.name(2, 9);
        assert_eq!(words[17].load(Ordering::SeqCst), 10);
        assert_eq!(count.load(Ordering::SeqCst), 2);
        r.clear(first);
        assert!(!r.named(7));
        assert!(r.named(9));
        r.clear_slot(2);
        assert!(!r.named(9));
        assert_eq!(count.load(Ordering::SeqCst), 0, "a reclaim uncounts the names it clears");
        drop(second);
        // With the count at 0 no word is read: a name the count missed is
        // not seen (a releaser always counts itself first).
        words[0].store(8, Ordering::SeqCst);
        assert!(!r.named(7));
        words[0].store(0, Ordering::SeqCst);
        // A slot beyond the table names nothing (and does not panic).
        r.clear(r.name(3, 7));
        assert!(!r.named(7));
    }
}
