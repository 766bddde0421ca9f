//! The process table: one slot per attached process, and liveness.
//!
//! A process owns slot `i` while it holds the write lock on byte `i` of the
//! store file's lock range (see `sys`: an open-file-description lock, which
//! the kernel drops exactly when the process dies, and which a stopped
//! process keeps). Liveness is therefore exact: no timeouts, and a reused
//! pid means nothing because pids are never consulted. Whoever takes the
//! lock of a slot whose word says ACTIVE knows its owner is dead and, while
//! holding that lock, reclaims what it held; two reclaimers cannot overlap
//! and a new owner cannot move in until reclaim is done.
//!
//! Slot words (128 x u64):
//! - 0 OWNER: `[pid:32 | incarnation:24 | state:8]`, state FREE or ACTIVE
//! - 1 RETIRING: slab head page (+1) the process is retiring
//! - 2 ATTACHED_AT: Unix seconds
//! - 3 RECLAIMING: nonzero while a reclaim of the slot is under way (see
//!   `refs::ReclaimMarks`)
//! - 4..8 RELEASING: descriptors (+1) whose spilled memory threads of the
//!   process are releasing (see `releasers`)
//! - 8.. OWNED_SLAB[class]: head page (+1) of the slab the process allocates
//!   from in that size class
//! - 52 WAIT_SETS: wait sets the process holds (see `seal_log`)
//! - 64.. HAZARD[1 + NCLASSES]: slab head pages (+1) the process is
//!   inspecting without owning; a slab is not retired while any process
//!   names it here. Hazard 0 serves reclaim and retiring, hazard 1 + c the
//!   allocator of size class c, so threads allocating in different classes
//!   never share one.

use super::classes::NCLASSES;
use super::sync::{AtomicU64, Ordering};

/// Words in a process slot.
pub(crate) const PROC_SLOT_WORDS: usize = 128;

pub(crate) const W_OWNER: usize = 0;
pub(crate) const W_RETIRING: usize = 1;
pub(crate) const W_ATTACHED_AT: usize = 2;
pub(crate) const W_RECLAIMING: usize = 3;
pub(crate) const W_RELEASING: usize = 4;
pub(crate) const W_OWNED_SLABS: usize = 8;
/// Wait sets the process holds (see `seal_log`, "Wait sets").
pub(crate) const W_WAIT_SETS: usize = 52;
pub(crate) const W_HAZARD: usize = 64;
pub(crate) const HAZARDS: usize = 1 + NCLASSES;
const _: () = assert!(W_RELEASING + super::releasers::WORDS_PER_SLOT <= W_OWNED_SLABS);
const _: () = assert!(W_OWNED_SLABS + NCLASSES <= W_WAIT_SETS && W_WAIT_SETS < W_HAZARD);
const _: () = assert!(W_HAZARD + HAZARDS <= PROC_SLOT_WORDS);

const STATE_FREE: u64 = 0;
const STATE_ACTIVE: u64 = 1;

/// Words of the process table for `processes` slots.
pub(crate) fn table_words(processes: u32) -> usize {
    processes as usize * PROC_SLOT_WORDS
}

/// A decoded owner word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub active: bool,
    pub pid: u32,
    pub incarnation: u32,
}

impl Owner {
    fn decode(v: u64) -> Owner {
        Owner { active: v & 0xff == STATE_ACTIVE, pid: (v >> 32) as u32, incarnation: ((v >> 8) & 0xff_ffff) as u32 }
    }
    fn active(pid: u32, incarnation: u32) -> u64 {
        (pid as u64) << 32 | ((incarnation & 0xff_ffff) as u64) << 8 | STATE_ACTIVE
    }
}

/// The process table view.
#[derive(Clone, Copy)]
pub(crate) struct ProcTable<'a> {
    words: &'a [AtomicU64],
}

impl<'a> ProcTable<'a> {
    pub(crate) fn new(words: &'a [AtomicU64]) -> ProcTable<'a> {
        ProcTable { words }
    }

    pub(crate) fn slots(&self) -> u32 {
        (self.words.len() / PROC_SLOT_WORDS) as u32
    }

    #[inline]
    pub(crate) fn word(&self, slot: u32, w: usize) -> &'a AtomicU64 {
        &self.words[slot as usize * PROC_SLOT_WORDS + w]
    }

    pub(crate) fn owner(&self, slot: u32) -> Owner {
        Owner::decode(self.word(slot, W_OWNER).load(Ordering::SeqCst))
    }

    /// Marks `slot` as ours (the caller holds its lock and has reclaimed it).
    pub(crate) fn activate(&self, slot: u32, pid: u32, now: u64) {
        let prev = self.owner(slot);
        for w in 1..PROC_SLOT_WORDS {
            self.word(slot, w).store(0, Ordering::Relaxed);
        }
        self.word(slot, W_ATTACHED_AT).store(now, Ordering::Relaxed);
        self.word(slot, W_OWNER).store(Owner::active(pid, prev.incarnation.wrapping_add(1)), Ordering::SeqCst);
    }

    /// Marks `slot` free (the caller holds its lock and has cleaned it).
    pub(crate) fn deactivate(&self, slot: u32) {
        let inc = self.owner(slot).incarnation;
        self.word(slot, W_OWNER).store((inc as u64 & 0xff_ffff) << 8 | STATE_FREE, Ordering::SeqCst);
    }

    /// Hazard word `which` (0: general, 1 + c: size class c) of `slot`.
    pub(crate) fn hazard(&self, slot: u32, which: usize) -> &'a AtomicU64 {
        debug_assert!(which < HAZARDS);
        self.word(slot, W_HAZARD + which)
    }

    /// Clears every hazard of `slot` (a dead slot, or our own at attach).
    pub(crate) fn clear_hazards(&self, slot: u32) {
        for h in 0..HAZARDS {
            self.word(slot, W_HAZARD + h).store(0, Ordering::SeqCst);
        }
    }

    /// Whether any hazard word but `except_slot`'s hazard `except_which`
    /// names `head` (the retirer's own threads count too: another thread of
    /// the retiring process may be allocating from the slab).
    ///
    /// Only ACTIVE slots are looked at (a dead process's slot stays ACTIVE
    /// until reclaimed, so its hazards still count): a process names a slab
    /// in a hazard only after activating its slot, and then re-checks the
    /// slab's head entry, all SeqCst. The caller has already marked that
    /// entry (SLAB_RETIRING), so a slot seen inactive here can only name the
    /// slab later, and will then see the mark and back off. Skipping the
    /// hazard words of the free slots makes this a read of one word per slot
    /// rather than of 1 + NCLASSES.
    pub(crate) fn hazard_held(&self, head: u64, except_slot: u32, except_which: usize) -> bool {
        (0..self.slots()).any(|s| {
            self.owner(s).active
                && (0..HAZARDS).any(|h| {
                    (s, h) != (except_slot, except_which)
                        && self.word(s, W_HAZARD + h).load(Ordering::SeqCst) == head + 1
                })
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn owner_words() {
        let words: Vec<AtomicU64> = (0..PROC_SLOT_WORDS * 3).map(|_| AtomicU64::new(0)).collect();
        let t = ProcTable::new(&words);
        assert_eq!(t.slots(), 3);
        assert!(!t.owner(1).active);
        t.activate(1, 4242, 10);
        let o = t.owner(1);
        assert!(o.active);
        assert_eq!((o.pid, o.incarnation), (4242, 1));
        t.deactivate(1);
        assert!(!t.owner(1).active);
        t.activate(1, 7, 10);
        assert_eq!(t.owner(1).incarnation, 2);
    }

    #[test]
    fn hazards_are_seen_but_the_excepted_one() {
        let words: Vec<AtomicU64> = (0..PROC_SLOT_WORDS * 2).map(|_| AtomicU64::new(0)).collect();
        let t = ProcTable::new(&words);
        t.activate(0, 1, 1);
        t.hazard(0, 2).store(11, Ordering::SeqCst);
        assert!(t.hazard_held(10, 1, 0));
        assert!(t.hazard_held(10, 0, 0), "another hazard of the same slot counts");
        assert!(!t.hazard_held(10, 0, 2));
        assert!(!t.hazard_held(11, 1, 0));
        // A slot no process holds protects nothing.
        t.deactivate(0);
        assert!(!t.hazard_held(10, 1, 0));
    }
}
