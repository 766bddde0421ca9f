//! Lingering pins: how a process reads a hot object again and again without
//! writing a line that other processes share.
//!
//! A pin through the pin masks (`pins`) sets the process's bit when its
//! count goes 0 -> 1 and clears it on 1 -> 0, so two processes getting and
//! releasing one object write its mask line on every call, and the line
//! bounces between their caches. Here each process slot has a few *linger
//! entries* of its own, `[object slot + 1 : 32 | count : 32]`, direct-mapped
//! by object slot. A get of an object the entry already names adds one to
//! the count (a write to a line only this process writes), and a release
//! takes one away, leaving the entry naming the object with a count of 0:
//! the pin lingers as a name, not as a hold.
//!
//! Others find the entries through *linger masks*, a bit per process slot
//! per object like the pin masks: bit `p` of object `d` set means "slot p's
//! entry for d may name d". The invariant, kept by the owner alone:
//!
//!   an entry of slot p names d  =>  bit p of d's linger mask is set.
//!
//! The owner sets the bit before any pin through an entry naming d can be
//! used (a re-aim marks the entry AIMING until the bit is set, see
//! `pin_slow`) and clears it only after no entry names d; the reclaim of a
//! dead slot clears both. A bit with no entry naming the object costs a
//! look, nothing else. Threads of one process need no lock for this: only
//! an entry with a count of 0 is re-aimed, the thread that re-aims it holds
//! the count of 1 it wrote until it has cleared the old object's bit, and
//! the old object has no other entry (entries are direct-mapped), so no
//! thread can aim an entry back at the old object between the re-aim and
//! the clear.
//!
//! A thread that finds the entry busy (naming another pinned object, or
//! being aimed) pins through the masks and the process's own count instead.
//! A release takes a pin off the entry if the entry holds any that it may
//! take (not while it is being aimed: its one pin is then its aimer's),
//! else off the process's count, whichever way its own pin went: the
//! process's pins on an object are the entry's count and its count
//! together, and each release takes one of either.
//!
//! Whether an object is pinned: any pin-mask bit, or any slot whose linger
//! bit is set and whose entry names the object with a count above 0. Pin
//! versus delete (and spill) stays a Dekker handshake: the pinner adds to
//! the count (SeqCst) and then reads the state; the deleter changes the
//! state and then reads the masks and entries (SeqCst). An entry left
//! naming an object that is then freed and reused names the new life: the
//! bit is still set, so the new life's deleter looks at the entry too, and
//! a pin through it is checked against the state like any other.

use super::pins::PinMasks;
use super::sync::{decisive_load, AtomicU64, Ordering};

/// Linger entries per process slot: two cache lines.
pub(crate) const LINGER_ENTRIES: usize = 16;

/// Process slots with linger entries: the first 64, so that an object's
/// linger mask is one word (8 bytes per object slot rather than a bit for
/// each of up to thousands of slots, which would break the store's budget
/// of metadata per object). A process in a higher slot pins through the
/// masks alone, as every process did before lingering pins.
pub(crate) const LINGER_SLOTS: u32 = 64;

/// Words of an object's linger mask.
pub(crate) const LINGER_MASK_WORDS: usize = 1;

const COUNT_MASK: u64 = 0xffff_ffff;
/// A count kept below this; more pins of one object take the mask path.
const MAX_COUNT: u64 = 1 << 31;
/// Added to the count while a thread re-aims the entry (see `pin_slow`):
/// at or above `MAX_COUNT`, so no other thread pins through it meanwhile.
const AIMING: u64 = MAX_COUNT;

/// Words of the linger entries of a store of `processes` slots.
pub(crate) fn entry_words(processes: u32) -> usize {
    processes.min(LINGER_SLOTS) as usize * LINGER_ENTRIES
}

#[inline]
fn names(v: u64, d: u32) -> bool {
    v >> 32 == d as u64 + 1
}

/// `names(v, d)` and a count below `MAX_COUNT` (bit 31 clear), in one
/// comparison.
#[inline]
fn names_below_max(v: u64, d: u32) -> bool {
    v >> 31 == (d as u64 + 1) << 1
}

/// `names(v, d)` with a count of 1 to `MAX_COUNT`: an entry a release may
/// take a pin from. Not one being aimed (`AIMING` added, see `pin_slow`):
/// its one pin is its aimer's, and a thread of the process that pinned
/// through the masks meanwhile (it found the entry busy) must release
/// through them. Taken from the entry, two such releases made the aimer's
/// `fetch_sub(AIMING)` wrap the count into the name, and left the masks
/// counting a pin that no one held: the object stayed pinned for good.
#[inline]
fn names_releasable(v: u64, d: u32) -> bool {
    v.wrapping_sub(((d as u64 + 1) << 32) + 1) < MAX_COUNT
}

#[inline]
fn named(v: u64) -> Option<u32> {
    ((v >> 32) as u32).checked_sub(1)
}

/// The outcome of a pin through a linger entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LingerPin {
    /// The count went up; the caller checks the state next (Dekker).
    Pinned,
    /// The entry holds another pinned object (or the count is at its
    /// limit): pin through the masks instead.
    Busy,
}

/// The outcome of a release through a linger entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LingerRelease {
    /// Other pins of this process remain on the object.
    StillHeld,
    /// That was the process's last pin through the entry: the caller frees
    /// the object if it was deleted meanwhile.
    Last,
    /// The entry holds no pin of this object: release through the masks.
    NotHeld,
}

/// Every slot's linger entries and the linger masks.
#[derive(Clone, Copy)]
pub(crate) struct Lingering<'a> {
    /// Each slot's entries.
    entries: &'a [[AtomicU64; LINGER_ENTRIES]],
    masks: PinMasks<'a>,
}

impl<'a> Lingering<'a> {
    pub(crate) fn new(entries: &'a [AtomicU64], masks: PinMasks<'a>) -> Lingering<'a> {
        Lingering { entries: entries.as_chunks().0, masks }
    }

    /// Slot `p`'s entry for object `d`, if `p` is a slot of the table.
    #[inline]
    fn entry(&self, p: u32, d: u32) -> Option<&'a AtomicU64> {
        Some(&self.entries.get(p as usize)?[d as usize % LINGER_ENTRIES])
    }

    /// Pins `d` for slot `me` through its entry.
    #[inline]
    pub(crate) fn pin(&self, me: u32, d: u32) -> LingerPin {
        let Some(e) = self.entry(me, d) else { return LingerPin::Busy };
        let v = e.load(Ordering::Relaxed);
        if names_below_max(v, d) {
            if e.compare_exchange(v, v + 1, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                return LingerPin::Pinned;
            }
        } else if v & COUNT_MASK != 0 {
            return LingerPin::Busy;
        }
        self.pin_slow(me, d, e)
    }

    /// The common case of `pin`: the entry names `d` already, with a count
    /// below `MAX_COUNT`. False, with nothing changed, in every other case
    /// (which `pin` handles).
    #[inline(always)]
    pub(crate) fn pin_if_aimed(&self, me: u32, d: u32) -> bool {
        let Some(e) = self.entry(me, d) else { return false };
        let v = e.load(Ordering::Relaxed);
        names_below_max(v, d) && e.compare_exchange(v, v + 1, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    /// `pin` when the entry must be aimed at `d` first, or another thread
    /// of this process changed it under us.
    ///
    /// A re-aim writes the name with `AIMING` added to the count, sets
    /// `d`'s bit, clears the old object's bit, and only then takes `AIMING`
    /// away. The bit is set after the compare-and-swap, not before: the
    /// entry may have gone from the value we read to `d` and back (another
    /// thread got `d` and then the old object again), clearing `d`'s bit,
    /// and a bit set or seen before that would be lost while the swap still
    /// succeeds. After the swap, every clear of `d`'s bit by an earlier
    /// re-aim away from `d` happened before (it precedes that re-aimer's
    /// release, which our swap read or followed). `AIMING` keeps the other
    /// threads of this process from pinning through the entry before the
    /// bit is set (they see a full count and take the mask path); to a
    /// deleter the entry already counts as pinned.
    #[cold]
    fn pin_slow(&self, me: u32, d: u32, e: &AtomicU64) -> LingerPin {
        loop {
            let v = e.load(Ordering::Acquire);
            if names(v, d) {
                if v & COUNT_MASK >= MAX_COUNT {
                    return LingerPin::Busy;
                }
                if e.compare_exchange(v, v + 1, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    return LingerPin::Pinned;
                }
                continue;
            }
            if v & COUNT_MASK != 0 {
                return LingerPin::Busy;
            }
            let aimed = (d as u64 + 1) << 32 | 1;
            if e.compare_exchange(v, aimed | AIMING, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                self.masks.set_if_clear(d, me);
                if let Some(old) = named(v) {
                    // No entry of ours names `old` now (this was its only
                    // one), and none can until our count goes.
                    self.masks.clear(old, me);
                }
                // Only this thread changes an entry that is AIMING (no
                // other thread holds a pin through it, and the process is
                // alive, so no reclaimer clears it).
                e.fetch_sub(AIMING, Ordering::SeqCst);
                return LingerPin::Pinned;
            }
        }
    }

    /// Drops a pin of slot `me` on `d` through its entry.
    #[inline(always)]
    pub(crate) fn release(&self, me: u32, d: u32) -> LingerRelease {
        let Some(e) = self.entry(me, d) else { return LingerRelease::NotHeld };
        // Acquire: a pin through the masks may have been released through
        // the entry by another thread of the process (whichever finds pins
        // on the entry takes one); a release that finds none here then
        // takes its own from the process's count, and must see that
        // thread's pin there (stored before its release of the entry).
        let mut v = e.load(Ordering::Acquire);
        loop {
            if !names_releasable(v, d) {
                return LingerRelease::NotHeld;
            }
            match e.compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) if v & COUNT_MASK == 1 => return LingerRelease::Last,
                Ok(_) => return LingerRelease::StillHeld,
                Err(now) => v = now,
            }
        }
    }

    /// Whether some slot pins `d` through its entry (SeqCst reads: the
    /// deleter's half of the handshake).
    #[inline]
    pub(crate) fn pinned(&self, d: u32) -> bool {
        self.masks.any_slot(d, |p| self.pins_of(p, d) > 0)
    }

    /// Slot `p`'s pins on `d` through its entry.
    fn pins_of(&self, p: u32, d: u32) -> u64 {
        match self.entry(p, d) {
            Some(e) => {
                let v = decisive_load(e);
                if names(v, d) {
                    v & COUNT_MASK
                } else {
                    0
                }
            }
            None => 0,
        }
    }

    /// The slots pinning `d` through their entries, for inspection.
    pub(crate) fn holders(&self, d: u32) -> Vec<u32> {
        self.masks.holders(d).into_iter().filter(|&p| self.pins_of(p, d) > 0).collect()
    }

    /// Forgets dead slot `dead`'s entries (the caller holds its lock),
    /// returning how many held pins. Its linger bits are cleared object by
    /// object with `clear_bit`.
    pub(crate) fn clear_entries(&self, dead: u32) -> u64 {
        let Some(es) = self.entries.get(dead as usize) else { return 0 };
        es.iter().filter(|e| e.swap(0, Ordering::SeqCst) & COUNT_MASK != 0).count() as u64
    }

    /// Clears dead slot `dead`'s linger bit on `d`; true if it was set.
    pub(crate) fn clear_bit(&self, d: u32, dead: u32) -> bool {
        dead < LINGER_SLOTS && self.masks.clear(d, dead)
    }

    /// The first step of a re-aim of `me`'s entry at `d`, as `pin_slow`
    /// takes it (for models that stop a process between steps).
    #[cfg(all(test, loom))]
    pub(crate) fn aim_for_model(&self, me: u32, d: u32) {
        let e = self.entry(me, d).unwrap();
        assert_eq!(e.load(Ordering::SeqCst) & COUNT_MASK, 0);
        e.store((d as u64 + 1) << 32 | 1 | AIMING, Ordering::SeqCst);
    }

    /// The linger masks (for models that stop a process between steps).
    #[cfg(all(test, loom))]
    pub(crate) fn masks(&self) -> PinMasks<'a> {
        self.masks
    }

    /// Whether `me`'s entries are all empty and it has no linger bit on `d`
    /// (for tests).
    #[cfg(test)]
    pub(crate) fn is_clear(&self, me: u32, d: u32) -> bool {
        let Some(es) = self.entries.get(me as usize) else { return true };
        es.iter().all(|e| e.load(Ordering::SeqCst) == 0) && !self.masks.is_set(d, me)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn setup(objects: usize, processes: u32) -> (Vec<AtomicU64>, Vec<AtomicU64>) {
        let z = |k: usize| (0..k).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        (z(entry_words(processes)), z(objects))
    }

    #[test]
    fn entry_comparisons() {
        for d in [0u32, 1, 5, u32::MAX - 1] {
            let name = (d as u64 + 1) << 32;
            for count in [0u64, 1, 2, MAX_COUNT - 1, MAX_COUNT, COUNT_MASK] {
                let v = name | count;
                assert_eq!(names_below_max(v, d), count < MAX_COUNT, "{d} {count}");
                assert_eq!(names_releasable(v, d), count > 0 && count <= MAX_COUNT, "{d} {count}");
                assert!(!names_below_max(v, d.wrapping_add(1)) && !names_releasable(v, d.wrapping_add(1)));
            }
        }
        assert!(!names_releasable(0, 0) && !names_below_max(0, 0));
        // An entry being aimed holds its aimer's pin alone.
        for d in [0u32, 7] {
            assert!(!names_releasable((d as u64 + 1) << 32 | AIMING | 1, d));
        }
    }

    /// The hot path's pin takes an entry that names the object already,
    /// and leaves every other entry as it is for `pin`.
    #[test]
    fn a_pin_if_aimed_takes_only_an_entry_naming_its_object() {
        let (entries, masks) = setup(64, 2);
        let l = Lingering::new(&entries, PinMasks::new(&masks, 1));
        let entry = |d: u32| entries[LINGER_ENTRIES + d as usize % LINGER_ENTRIES].load(Ordering::SeqCst);
        assert!(!l.pin_if_aimed(1, 5), "an entry never aimed");
        assert_eq!(entry(5), 0);
        assert_eq!(l.pin(1, 5), LingerPin::Pinned);
        assert_eq!(l.release(1, 5), LingerRelease::Last);
        assert!(l.pin_if_aimed(1, 5) && l.pin_if_aimed(1, 5));
        assert_eq!(entry(5) & COUNT_MASK, 2);
        assert!(!l.pin_if_aimed(1, 21), "its entry names 5");
        assert!(!l.pin_if_aimed(2, 5) && !l.pin_if_aimed(u32::MAX, 5), "a slot out of range");
        entries[LINGER_ENTRIES + 5].fetch_add(MAX_COUNT - 2, Ordering::SeqCst);
        assert!(!l.pin_if_aimed(1, 5), "a full count");
        assert_eq!(entry(5) & COUNT_MASK, MAX_COUNT);
    }

    #[test]
    fn a_released_pin_lingers_as_a_name() {
        let (entries, masks) = setup(64, 2);
        let l = Lingering::new(&entries, PinMasks::new(&masks, 1));
        assert_eq!(l.pin(1, 5), LingerPin::Pinned);
        assert!(l.pinned(5) && !l.pinned(4) && !l.pinned(21));
        assert_eq!(l.pin(1, 5), LingerPin::Pinned);
        assert_eq!(l.release(1, 5), LingerRelease::StillHeld);
        assert_eq!(l.release(1, 5), LingerRelease::Last);
        assert!(!l.pinned(5));
        assert_eq!(l.release(1, 5), LingerRelease::NotHeld);
        // Still named, bit still set: the next pin writes only the entry.
        assert!(masks[5].load(Ordering::SeqCst) & 2 != 0);
        assert_eq!(l.pin(1, 5), LingerPin::Pinned);
        assert_eq!(l.holders(5), vec![1]);
        assert_eq!(l.release(1, 5), LingerRelease::Last);
    }

    /// A thread aiming the entry at `d` holds the entry's one pin; threads
    /// of the process that pin `d` meanwhile go through the masks, and
    /// their releases must not take the aimer's pin off the entry.
    #[test]
    fn releases_leave_an_entry_being_aimed_alone() {
        let (entries, masks) = setup(64, 1);
        let l = Lingering::new(&entries, PinMasks::new(&masks, 1));
        // The aimer, between its compare-and-swap and its `fetch_sub`.
        entries[5].store(6 << 32 | AIMING | 1, Ordering::SeqCst);
        masks[5].store(1, Ordering::SeqCst);
        for _ in 0..2 {
            assert_eq!(l.pin(0, 5), LingerPin::Busy);
        }
        for _ in 0..2 {
            assert_eq!(l.release(0, 5), LingerRelease::NotHeld, "a mask pin released through the entry");
        }
        entries[5].fetch_sub(AIMING, Ordering::SeqCst);
        assert_eq!(entries[5].load(Ordering::SeqCst), 6 << 32 | 1);
        assert_eq!(l.release(0, 5), LingerRelease::Last);
        assert!(!l.pinned(5));
    }

    #[test]
    fn slots_above_the_first_64_have_no_entries() {
        let (entries, masks) = setup(64, 200);
        assert_eq!(entries.len(), LINGER_SLOTS as usize * LINGER_ENTRIES);
        let l = Lingering::new(&entries, PinMasks::new(&masks, LINGER_MASK_WORDS));
        // They pin through the masks: nothing here is written.
        assert_eq!(l.pin(64, 5), LingerPin::Busy);
        assert_eq!(l.pin(199, 5), LingerPin::Busy);
        assert_eq!(l.release(64, 5), LingerRelease::NotHeld);
        assert!(!l.clear_bit(5, 150) && !l.pinned(5));
        assert!(masks.iter().all(|m| m.load(Ordering::SeqCst) == 0));
        assert_eq!(l.clear_entries(150), 0);
        // Slot 63, the last with entries, uses the top bit of the one word.
        assert_eq!(l.pin(63, 5), LingerPin::Pinned);
        assert_eq!(masks[5].load(Ordering::SeqCst), 1 << 63);
        assert_eq!(l.holders(5), vec![63]);
        assert_eq!(l.release(63, 5), LingerRelease::Last);
    }

    #[test]
    fn an_entry_is_re_aimed_only_when_its_object_is_released() {
        let (entries, masks) = setup(64, 1);
        let l = Lingering::new(&entries, PinMasks::new(&masks, 1));
        // 3 and 19 share an entry.
        assert_eq!(l.pin(0, 3), LingerPin::Pinned);
        assert_eq!(l.pin(0, 19), LingerPin::Busy);
        assert_eq!(l.release(0, 19), LingerRelease::NotHeld);
        assert_eq!(l.release(0, 3), LingerRelease::Last);
        assert_eq!(l.pin(0, 19), LingerPin::Pinned);
        // 3's bit went with its entry; 19's is set.
        assert_eq!(masks[3].load(Ordering::SeqCst), 0);
        assert_eq!(masks[19].load(Ordering::SeqCst), 1);
        assert!(l.pinned(19) && !l.pinned(3));
    }

    #[test]
    fn an_entry_damaged_to_name_an_object_outside_the_store_is_re_aimed() {
        // Found by fuzzing a damaged file: an entry naming an object slot
        // beyond the masks made the re-aim's clear index out of bounds.
        let (entries, masks) = setup(64, 1);
        let l = Lingering::new(&entries, PinMasks::new(&masks, 1));
        let beyond = masks.len() as u64 + 2;
        entries[3].store((beyond + 1) << 32, Ordering::SeqCst);
        assert_eq!(l.pin(0, 3), LingerPin::Pinned);
        assert!(l.pinned(3) && !l.pinned(beyond as u32));
        assert_eq!(l.release(0, 3), LingerRelease::Last);
        // A damaged entry with pins on it is busy, not followed.
        entries[4].store((beyond + 1) << 32 | 1, Ordering::SeqCst);
        assert_eq!(l.pin(0, 4), LingerPin::Busy);
        assert!(!l.pinned(beyond as u32));
    }

    #[test]
    fn a_dead_slots_entries_and_bits_are_cleared() {
        let (entries, masks) = setup(64, 2);
        let l = Lingering::new(&entries, PinMasks::new(&masks, 1));
        assert_eq!(l.pin(1, 7), LingerPin::Pinned);
        l.clear_entries(1);
        assert!(!l.pinned(7));
        assert!(l.clear_bit(7, 1));
        assert!(l.is_clear(1, 7));
    }

    #[test]
    fn threads_of_one_process_keep_the_invariant() {
        let (entries, masks) = setup(64, 1);
        let l = Lingering::new(&entries, PinMasks::new(&masks, 1));
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (l, masks) = (&l, &masks);
                s.spawn(move || {
                    for i in 0..if cfg!(miri) { 100 } else { 20_000 } {
                        // Objects 2, 18 and 34 share one entry.
                        let d = 2 + 16 * ((i + t) % 3);
                        if l.pin(0, d) == LingerPin::Pinned {
                            // While we hold a pin, the entry names d and
                            // d's bit is set.
                            assert!(l.pinned(d));
                            assert_eq!(masks[d as usize].load(Ordering::SeqCst), 1);
                            assert_ne!(l.release(0, d), LingerRelease::NotHeld);
                        }
                    }
                });
            }
        });
        // The invariant, one way: the object the entry names has its bit.
        // (The other way need not hold: a thread that set d's bit and then
        // lost the race to aim the entry leaves the bit set, which costs a
        // deleter of d one look and nothing else.)
        let v = entries[2].load(Ordering::SeqCst);
        if let Some(d) = named(v) {
            assert!([2u32, 18, 34].contains(&d));
            assert_eq!(masks[d as usize].load(Ordering::SeqCst), 1, "the entry names {d} without its bit");
        }
        assert!(![2u32, 18, 34].iter().any(|&d| l.pinned(d)));
    }
}
