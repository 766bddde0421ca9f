//! References: which processes hold an object alive, one word per object.
//!
//! A reference, unlike a pin, does not keep an object's bytes in place (a
//! referenced object may be spilled); it keeps the object itself: a
//! REFCOUNTED object is deleted when its last reference and its last pin go,
//! and no object is freed while referenced (a delete of a referenced object
//! is deferred, like a delete of a pinned one).
//!
//! # The reference word
//!
//! Each object slot has one word, `[tag:16 | mode:3 | payload:45]`:
//!
//! - `tag`: the low 16 bits of the generation of the life the word belongs
//!   to. Every change is a compare-and-swap that names the tag, so a
//!   process that looked the object up long ago cannot touch a later life's
//!   word (the descriptor's generation grows with every claim).
//! - `OPEN(holders)`: bit `s` set when process slot `s` holds at least one
//!   reference (for the first `INLINE_SLOTS` slots; a process in a higher
//!   slot holds its references as entries of the hold table, see `holds`).
//!   As with pin masks, a process sets its bit when its own count of
//!   references (process-private memory) goes 0 -> 1 and clears it on
//!   1 -> 0, so the cleanup of a dead process is "clear its bit
//!   everywhere": idempotent, needing no record of its counts.
//! - `CLOSING(slot)`: a REFCOUNTED object with no holder is being retired by
//!   `slot`: it looks for references outside the word (tickets, holders in
//!   the hold table) and pins. A process taking a reference meanwhile
//!   cancels the retire (CLOSING -> OPEN with its bit), as a reader cancels
//!   a spill, so a stopped retirer delays no one.
//! - `DEAD(slot)`: the retire committed: no reference can be taken any more;
//!   `slot` deletes the object (a survivor finishes if it dies).
//! - `MOVED(holders)`: the object was restored from disk into another
//!   descriptor, and these holders moved with it (the word is then frozen).
//! - `PENDING`: a restored copy whose holders have not been copied in yet.
//! - `COPIED(holders)`: a restored copy whose holders were copied in and
//!   are being settled: the bits of slots being reclaimed meanwhile are
//!   dropped (see "Moving with a restore") before the word opens.
//!
//! The word is the only place where taking a reference and dropping the
//! last one meet, so "ref racing the last unref" is decided by the order of
//! two compare-and-swaps on it: either the reference is taken first (the
//! retire finds a holder, or is cancelled) or the word is DEAD first (the
//! reference is refused).
//!
//! # Moving with a restore
//!
//! A restore builds the object's copy in a fresh descriptor (see
//! `object::lifecycle`), so the holders must move: whoever installs the
//! copy freezes the original's word (OPEN -> MOVED, a CAS; frozen words
//! never change again) and copies its holders into the copy's word (PENDING
//! -> OPEN, a CAS). Both steps are idempotent and every helper copies the
//! same frozen value, so any number of helpers may run them. A process
//! whose reference operation finds MOVED, PENDING or COPIED looks the
//! object up again (helping the install first).
//!
//! A reclaim of a dead holder clears its bit wherever it finds it, one
//! descriptor after another, and a restore can move the bit behind its
//! back: the reclaim may read the copy before the holders are copied in
//! and the original after it was freed, and the dead bit would survive in
//! the copy for ever. So the copy lands COPIED, and whoever settles it
//! (COPIED -> OPEN, a CAS, any helper) drops the bits of slots whose
//! reclaim is under way (`ReclaimMarks`). A Dekker handshake: the reclaim
//! marks its slot before it scans, the settler reads the marks after the
//! copy landed; either the scan finds the bit in the copy or the settler
//! finds the mark. A bit copied from a frozen word belongs to the slot's
//! owner at the freeze (an earlier owner's reclaim cleared it in the
//! original before), so a slot marked now lost that owner: its bit goes.
//! Settling before the word opens means no later owner of the slot can
//! have taken a reference on the copy that the drop would take away.

use super::sync::{dekker_fence, AtomicU64, Ordering};

/// Process slots whose references are bits of the word.
pub(crate) const INLINE_SLOTS: u32 = 45;

const PAYLOAD_BITS: u32 = 45;
const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;
const MODE_SHIFT: u32 = PAYLOAD_BITS;
const MODE_MASK: u64 = 7;
const TAG_SHIFT: u32 = 48;

const OPEN: u64 = 0;
const CLOSING: u64 = 1;
const DEAD: u64 = 2;
const MOVED: u64 = 3;
const PENDING: u64 = 4;
const COPIED: u64 = 5;

/// The tag of a generation.
#[inline]
pub(crate) fn tag_of(gen: u64) -> u64 {
    gen & 0xffff
}

#[inline]
fn word(tag: u64, mode: u64, payload: u64) -> u64 {
    tag << TAG_SHIFT | mode << MODE_SHIFT | (payload & PAYLOAD_MASK)
}

#[inline]
fn tag(v: u64) -> u64 {
    v >> TAG_SHIFT
}

#[inline]
fn mode(v: u64) -> u64 {
    (v >> MODE_SHIFT) & MODE_MASK
}

#[inline]
fn payload(v: u64) -> u64 {
    v & PAYLOAD_MASK
}

#[inline]
fn bit(slot: u32) -> u64 {
    debug_assert!(slot < INLINE_SLOTS);
    1 << slot
}

/// What a reference word says, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refs {
    /// Taking and dropping references: these slots hold some.
    Open { holders: u64 },
    /// Being retired by this slot.
    Closing { by: u32 },
    /// Retired by this slot: being deleted.
    Dead { by: u32 },
    /// Holders moved to a restored copy.
    Moved { holders: u64 },
    /// A restored copy, holders not yet copied in.
    Pending,
    /// A restored copy, holders copied in and being settled.
    Copied { holders: u64 },
    /// A value no writer produces.
    Invalid,
}

fn decode(v: u64) -> Refs {
    match mode(v) {
        OPEN => Refs::Open { holders: payload(v) },
        CLOSING => Refs::Closing { by: payload(v) as u32 },
        DEAD => Refs::Dead { by: payload(v) as u32 },
        MOVED => Refs::Moved { holders: payload(v) },
        PENDING => Refs::Pending,
        COPIED => Refs::Copied { holders: payload(v) },
        _ => Refs::Invalid,
    }
}

/// The outcome of taking a reference in the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Take {
    /// The slot's bit is set (it may have been already).
    Taken,
    /// The object was retired: no reference can be taken.
    Dead,
    /// The holders live in another descriptor now (or not yet): look the
    /// object up again.
    Moved,
    /// The word belongs to another life of the descriptor.
    Stale,
}

/// The outcome of dropping a slot's reference in the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unref {
    /// Cleared; `last`: no slot holds a reference in the word now.
    Dropped { last: bool },
    /// The slot's bit was not set.
    NotHeld,
    /// Look the object up again (see `Take::Moved`).
    Moved,
    /// Another life.
    Stale,
}

/// The reference words of a store, one per object slot.
#[derive(Clone, Copy)]
pub(crate) struct RefWords<'a> {
    words: &'a [AtomicU64],
}

impl<'a> RefWords<'a> {
    pub(crate) fn new(words: &'a [AtomicU64]) -> RefWords<'a> {
        RefWords { words }
    }

    #[inline]
    fn w(&self, d: u32) -> &'a AtomicU64 {
        &self.words[d as usize]
    }

    /// Starts the word of a new life `gen` of `d`, held RESERVED by its
    /// creator: OPEN, with `holder`'s bit if it holds the first reference.
    pub(crate) fn start(&self, d: u32, gen: u64, holder: Option<u32>) {
        let holders = holder.filter(|&s| s < INLINE_SLOTS).map_or(0, bit);
        // Published with the descriptor (the insert's SeqCst store).
        self.w(d).store(word(tag_of(gen), OPEN, holders), Ordering::Relaxed);
    }

    /// Starts the word of a restored copy (held RESERVED by its restorer):
    /// PENDING until the original's holders are copied in.
    pub(crate) fn start_pending(&self, d: u32, gen: u64) {
        // Published with the copy (its commit's SeqCst CAS).
        self.w(d).store(word(tag_of(gen), PENDING, 0), Ordering::Relaxed);
    }

    /// The word of life `gen` of `d`, decoded (None if it is another life's).
    #[inline]
    pub(crate) fn load(&self, d: u32, gen: u64) -> Option<Refs> {
        let v = self.w(d).load(Ordering::SeqCst);
        (tag(v) == tag_of(gen)).then(|| decode(v))
    }

    /// Whether some slot holds a reference in the word of life `gen` (a
    /// word of another life holds none for this one).
    #[inline]
    pub(crate) fn held(&self, d: u32, gen: u64) -> bool {
        let v = self.w(d).load(Ordering::SeqCst);
        // The tag, OPEN, and a holder, in two comparisons.
        v >> MODE_SHIFT == tag_of(gen) << (TAG_SHIFT - MODE_SHIFT) | OPEN && payload(v) != 0
    }

    /// Slot `slot` (< INLINE_SLOTS) takes a reference on life `gen` of `d`.
    /// A retire under way is cancelled.
    pub(crate) fn take(&self, d: u32, gen: u64, slot: u32) -> Take {
        let w = self.w(d);
        let mut v = w.load(Ordering::SeqCst);
        loop {
            if tag(v) != tag_of(gen) {
                return Take::Stale;
            }
            let next = match mode(v) {
                OPEN if payload(v) & bit(slot) != 0 => return Take::Taken,
                OPEN => v | bit(slot),
                CLOSING => word(tag(v), OPEN, bit(slot)),
                DEAD => return Take::Dead,
                _ => return Take::Moved,
            };
            match w.compare_exchange(v, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Take::Taken,
                Err(now) => v = now,
            }
        }
    }

    /// Slot `slot` drops its reference on life `gen` of `d`.
    pub(crate) fn drop(&self, d: u32, gen: u64, slot: u32) -> Unref {
        let w = self.w(d);
        let mut v = w.load(Ordering::SeqCst);
        loop {
            if tag(v) != tag_of(gen) {
                return Unref::Stale;
            }
            match mode(v) {
                OPEN if payload(v) & bit(slot) != 0 => {}
                MOVED | PENDING | COPIED => return Unref::Moved,
                _ => return Unref::NotHeld,
            }
            let next = v & !bit(slot);
            match w.compare_exchange(v, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Unref::Dropped { last: payload(next) == 0 },
                Err(now) => v = now,
            }
        }
    }

    /// Begins retiring life `gen` of `d` for slot `me`: OPEN with no holder
    /// -> CLOSING(me) (refused if a slot holds a reference), and also takes
    /// over a retire another slot began (CLOSING(other) ->
    /// CLOSING(me): that retirer's commit then fails, and `me` checks
    /// again), so a retirer stopped between its steps holds up no dropper.
    /// A retire committed by another (DEAD) is reported for the caller to
    /// help along.
    pub(crate) fn close_or_take_over(&self, d: u32, gen: u64, me: u32) -> Close {
        let t = tag_of(gen);
        let w = self.w(d);
        let mut v = w.load(Ordering::SeqCst);
        loop {
            if tag(v) != t {
                return Close::Refused;
            }
            match mode(v) {
                OPEN if payload(v) == 0 => {}
                CLOSING if payload(v) == me as u64 => return Close::Closed,
                CLOSING => {}
                DEAD => return Close::Dead { by: payload(v) as u32 },
                _ => return Close::Refused,
            }
            match w.compare_exchange(v, word(t, CLOSING, me as u64), Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Close::Closed,
                Err(now) => v = now,
            }
        }
    }

    /// Gives up a retire: CLOSING(by) -> OPEN with no holder. False if a
    /// taker cancelled it first (or it committed).
    pub(crate) fn reopen(&self, d: u32, gen: u64, by: u32) -> bool {
        let t = tag_of(gen);
        self.w(d)
            .compare_exchange(word(t, CLOSING, by as u64), word(t, OPEN, 0), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Commits a retire: CLOSING(by) -> DEAD(by). False if a taker cancelled
    /// it.
    pub(crate) fn kill(&self, d: u32, gen: u64, by: u32) -> bool {
        let t = tag_of(gen);
        self.w(d)
            .compare_exchange(word(t, CLOSING, by as u64), word(t, DEAD, by as u64), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Freezes the word of the original `d` (life `gen`) of a restore and
    /// returns what its copy's word must hold: its holders (OPEN), or DEAD
    /// if it was retired. A retire under way is cancelled first (a restore
    /// is as good as a reader). None if the word is another life's or
    /// damaged. Idempotent: a frozen word gives the same answer again.
    pub(crate) fn freeze(&self, d: u32, gen: u64) -> Option<Refs> {
        let w = self.w(d);
        let mut v = w.load(Ordering::SeqCst);
        loop {
            if tag(v) != tag_of(gen) {
                return None;
            }
            let next = match mode(v) {
                OPEN => word(tag(v), MOVED, payload(v)),
                CLOSING => word(tag(v), OPEN, 0),
                DEAD => return Some(decode(v)),
                MOVED => return Some(Refs::Open { holders: payload(v) }),
                _ => return None,
            };
            match w.compare_exchange(v, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => v = next,
                Err(now) => v = now,
            }
        }
    }

    /// Copies `refs` (from `freeze`) into the PENDING word of the copy `t`
    /// (life `gen`): COPIED, to be settled (see `settle`). Idempotent: only
    /// the first copy lands.
    pub(crate) fn copy_in(&self, t: u32, gen: u64, refs: Refs) {
        let tg = tag_of(gen);
        let value = match refs {
            Refs::Open { holders } => word(tg, COPIED, holders),
            Refs::Dead { by } => word(tg, DEAD, by as u64),
            _ => return,
        };
        let _ = self.w(t).compare_exchange(word(tg, PENDING, 0), value, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Settles the COPIED word of the copy `t` (life `gen`): drops the bits
    /// of the slots `marks` says are being reclaimed, and opens the word.
    /// Idempotent; a word in any other mode is left as it is.
    pub(crate) fn settle(&self, t: u32, gen: u64, marks: ReclaimMarks<'_>) {
        let w = self.w(t);
        let mut v = w.load(Ordering::SeqCst);
        while tag(v) == tag_of(gen) && mode(v) == COPIED {
            // The copy landed (we read it); now the marks (Dekker with a
            // reclaim: its mark, then its scan).
            dekker_fence();
            let mut dead = 0;
            let mut bits = payload(v);
            while bits != 0 {
                let slot = bits.trailing_zeros();
                bits &= bits - 1;
                if marks.marked(slot) {
                    dead |= bit(slot);
                }
            }
            match w.compare_exchange(v, word(tag(v), OPEN, payload(v) & !dead), Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return,
                Err(now) => v = now,
            }
        }
    }

    /// Clears dead slot `slot`'s bit in whatever life `d`'s word belongs to
    /// (the caller holds the slot's liveness lock). Returns the word's
    /// mode and tag after, for the caller's follow-up: a MOVED word keeps
    /// the bit (frozen), its copy must be cleared instead.
    pub(crate) fn clear_slot(&self, d: u32, slot: u32) -> ClearedSlot {
        let w = self.w(d);
        let mut v = w.load(Ordering::SeqCst);
        loop {
            match mode(v) {
                OPEN | COPIED if slot < INLINE_SLOTS && payload(v) & bit(slot) != 0 => {}
                MOVED if slot < INLINE_SLOTS && payload(v) & bit(slot) != 0 => return ClearedSlot::Moved,
                CLOSING | DEAD if payload(v) == slot as u64 => {
                    return ClearedSlot::Retiring { tag: tag(v), committed: mode(v) == DEAD }
                }
                _ => return ClearedSlot::Nothing,
            }
            match w.compare_exchange(v, v & !bit(slot), Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return ClearedSlot::Cleared { tag: tag(v), last: payload(v) & !bit(slot) == 0 },
                Err(now) => v = now,
            }
        }
    }

    /// The holders of `d`'s word as slot numbers, whatever its life (for
    /// inspection).
    pub(crate) fn holders(&self, d: u32) -> Vec<u32> {
        let v = self.w(d).load(Ordering::Relaxed);
        let mut bits = match mode(v) {
            OPEN | COPIED => payload(v),
            _ => 0,
        };
        let mut out = Vec::new();
        while bits != 0 {
            out.push(bits.trailing_zeros());
            bits &= bits - 1;
        }
        out
    }
}

/// Which process slots are being reclaimed: one word per slot, set by a
/// reclaimer before it scans for the slot's references and cleared when it
/// is done (a reclaimer that dies leaves it set; the next one clears it).
/// In a store the words are in the process table (see `proctable`).
#[derive(Clone, Copy)]
pub(crate) struct ReclaimMarks<'a> {
    words: &'a [AtomicU64],
    stride: usize,
}

impl<'a> ReclaimMarks<'a> {
    /// Slot `s`'s mark is `words[s * stride]`.
    pub(crate) fn new(words: &'a [AtomicU64], stride: usize) -> ReclaimMarks<'a> {
        ReclaimMarks { words, stride }
    }

    fn w(&self, slot: u32) -> Option<&'a AtomicU64> {
        self.words.get(slot as usize * self.stride)
    }

    /// A reclaim of `slot` begins: its settler half follows (the caller
    /// scans only after this returns).
    pub(crate) fn begin(&self, slot: u32) {
        if let Some(w) = self.w(slot) {
            w.store(1, Ordering::SeqCst);
        }
        dekker_fence();
    }

    /// The reclaim of `slot` is done.
    pub(crate) fn end(&self, slot: u32) {
        if let Some(w) = self.w(slot) {
            w.store(0, Ordering::SeqCst);
        }
    }

    /// Whether a reclaim of `slot` is under way.
    pub(crate) fn marked(&self, slot: u32) -> bool {
        self.w(slot).is_some_and(|w| w.load(Ordering::SeqCst) != 0)
    }
}

/// The outcome of `RefWords::close_or_take_over`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// The word is CLOSING(me).
    Closed,
    /// Retired by `by` already: it deletes the object (anyone may help).
    Dead { by: u32 },
    /// Held, another life, or moved: nothing to retire here.
    Refused,
}

/// What `RefWords::clear_slot` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClearedSlot {
    /// The slot held nothing here.
    Nothing,
    /// Its bit was cleared from the OPEN (or COPIED) word of the life
    /// tagged `tag`;
    /// `last`: no holder remains in the word.
    Cleared { tag: u64, last: bool },
    /// Its bit is in a frozen word: its holders moved to a restored copy.
    Moved,
    /// The slot was retiring the life tagged `tag` (CLOSING, or DEAD if
    /// `committed`).
    Retiring { tag: u64, committed: bool },
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn close(r: &RefWords<'_>, d: u32, gen: u64, me: u32) -> bool {
        r.close_or_take_over(d, gen, me) == Close::Closed
    }

    fn words(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn take_and_drop_by_slot() {
        let w = words(2);
        let r = RefWords::new(&w);
        r.start(1, 7, Some(3));
        assert!(r.held(1, 7));
        assert!(!r.held(1, 8), "another life's word holds nothing for this one");
        assert_eq!(r.take(1, 7, 44), Take::Taken);
        assert_eq!(r.take(1, 7, 44), Take::Taken);
        assert_eq!(r.holders(1), vec![3, 44]);
        assert_eq!(r.drop(1, 7, 3), Unref::Dropped { last: false });
        assert_eq!(r.drop(1, 7, 3), Unref::NotHeld);
        assert_eq!(r.drop(1, 7, 44), Unref::Dropped { last: true });
        assert_eq!(r.take(1, 8, 2), Take::Stale);
        assert_eq!(r.drop(1, 8, 2), Unref::Stale);
        // A creator in a slot beyond the word holds no bit.
        r.start(0, 1, Some(INLINE_SLOTS));
        assert!(!r.held(0, 1));
    }

    #[test]
    fn a_taker_cancels_a_retire_and_a_dead_word_refuses() {
        let w = words(1);
        let r = RefWords::new(&w);
        r.start(0, 5, Some(1));
        assert!(!close(&r, 0, 5, 9), "held: no retire");
        assert_eq!(r.drop(0, 5, 1), Unref::Dropped { last: true });
        assert!(close(&r, 0, 5, 9));
        assert!(!r.held(0, 5));
        assert_eq!(r.take(0, 5, 2), Take::Taken);
        assert!(!r.kill(0, 5, 9), "the taker cancelled the retire");
        assert_eq!(r.drop(0, 5, 2), Unref::Dropped { last: true });
        assert!(close(&r, 0, 5, 9));
        assert!(r.reopen(0, 5, 9));
        assert!(close(&r, 0, 5, 9));
        assert!(r.kill(0, 5, 9));
        assert_eq!(r.take(0, 5, 2), Take::Dead);
        assert_eq!(r.load(0, 5), Some(Refs::Dead { by: 9 }));
    }

    #[test]
    fn a_second_retirer_takes_a_retire_over_and_helps_a_committed_one() {
        let w = words(1);
        let r = RefWords::new(&w);
        r.start(0, 5, None);
        assert!(close(&r, 0, 5, 9));
        assert!(close(&r, 0, 5, 9), "its own retire");
        assert_eq!(r.close_or_take_over(0, 5, 2), Close::Closed);
        assert!(!r.kill(0, 5, 9), "taken over: the first retirer's commit fails");
        assert!(!r.reopen(0, 5, 9));
        assert!(r.kill(0, 5, 2));
        assert_eq!(r.close_or_take_over(0, 5, 3), Close::Dead { by: 2 });
        assert_eq!(r.close_or_take_over(0, 6, 3), Close::Refused, "another life");
    }

    #[test]
    fn holders_move_to_a_restored_copy_once() {
        let w = words(2);
        let r = RefWords::new(&w);
        r.start(0, 3, Some(4));
        assert_eq!(r.take(0, 3, 6), Take::Taken);
        r.start_pending(1, 11);
        assert_eq!(r.take(1, 11, 2), Take::Moved);
        let moved = r.freeze(0, 3).unwrap();
        assert_eq!(moved, Refs::Open { holders: 1 << 4 | 1 << 6 });
        // Frozen: no change, the same answer again.
        assert_eq!(r.take(0, 3, 2), Take::Moved);
        assert_eq!(r.drop(0, 3, 4), Unref::Moved);
        assert_eq!(r.freeze(0, 3), Some(moved));
        r.copy_in(1, 11, moved);
        r.copy_in(1, 11, Refs::Open { holders: 0 });
        assert_eq!(r.holders(1), vec![4, 6]);
        assert_eq!(r.take(1, 11, 2), Take::Moved, "not open before it is settled");
        assert_eq!(r.drop(1, 11, 4), Unref::Moved);
        let marks = words(64);
        r.settle(1, 11, ReclaimMarks::new(&marks, 1));
        assert_eq!(r.load(1, 11), Some(Refs::Open { holders: 1 << 4 | 1 << 6 }));
        assert_eq!(r.drop(1, 11, 4), Unref::Dropped { last: false });
        // A dead slot's bit in a frozen word is left for its copy.
        assert_eq!(r.clear_slot(0, 6), ClearedSlot::Moved);
        assert_eq!(r.clear_slot(1, 6), ClearedSlot::Cleared { tag: 11, last: true });
        assert_eq!(r.clear_slot(1, 6), ClearedSlot::Nothing);
    }

    #[test]
    fn settling_a_copy_drops_the_bits_of_slots_being_reclaimed() {
        let w = words(2);
        let r = RefWords::new(&w);
        let marks = words(3 * 4);
        let m = ReclaimMarks::new(&marks, 4);
        r.start(0, 3, Some(1));
        assert_eq!(r.take(0, 3, 2), Take::Taken);
        r.start_pending(1, 5);
        let moved = r.freeze(0, 3).unwrap();
        r.copy_in(1, 5, moved);
        m.begin(2);
        assert!(m.marked(2) && !m.marked(1) && !m.marked(9), "a slot beyond the table is never marked");
        r.settle(1, 5, m);
        assert_eq!(r.load(1, 5), Some(Refs::Open { holders: 1 << 1 }));
        // Settled once: a later mark changes nothing.
        m.begin(1);
        r.settle(1, 5, m);
        assert_eq!(r.load(1, 5), Some(Refs::Open { holders: 1 << 1 }));
        m.end(1);
        m.end(2);
        assert!(!m.marked(1) && !m.marked(2));
        // A reclaim that finds the bit in a copy not yet settled clears it.
        r.start(0, 6, Some(3));
        r.start_pending(1, 7);
        let moved = r.freeze(0, 6).unwrap();
        r.copy_in(1, 7, moved);
        assert_eq!(r.clear_slot(1, 3), ClearedSlot::Cleared { tag: 7, last: true });
        r.settle(1, 7, m);
        assert_eq!(r.load(1, 7), Some(Refs::Open { holders: 0 }));
    }

    #[test]
    fn a_restore_cancels_a_retire_and_carries_a_dead_word() {
        let w = words(2);
        let r = RefWords::new(&w);
        r.start(0, 3, None);
        assert!(close(&r, 0, 3, 1));
        assert_eq!(r.freeze(0, 3), Some(Refs::Open { holders: 0 }));
        assert!(!r.kill(0, 3, 1));
        r.start(0, 4, None);
        assert!(close(&r, 0, 4, 1) && r.kill(0, 4, 1));
        r.start_pending(1, 9);
        let f = r.freeze(0, 4).unwrap();
        r.copy_in(1, 9, f);
        assert_eq!(r.load(1, 9), Some(Refs::Dead { by: 1 }));
        assert_eq!(r.clear_slot(1, 1), ClearedSlot::Retiring { tag: 9, committed: true });
    }

    #[test]
    fn threads_taking_and_dropping_keep_their_bits() {
        let w = words(1);
        let r = RefWords::new(&w);
        r.start(0, 1, None);
        std::thread::scope(|s| {
            for slot in 0..4u32 {
                let r = &r;
                s.spawn(move || {
                    for _ in 0..if cfg!(miri) { 100 } else { 10_000 } {
                        assert_eq!(r.take(0, 1, slot), Take::Taken);
                        assert!(r.holders(0).contains(&slot));
                        assert!(matches!(r.drop(0, 1, slot), Unref::Dropped { .. }));
                    }
                });
            }
        });
        assert!(!r.held(0, 1));
    }
}
