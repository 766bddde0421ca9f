//! The first references of the objects this process put (or created) with
//! fresh IDs and REFCOUNTED, by the object slot the put claimed: one entry
//! per slot in process memory, written by the put with a few plain stores
//! instead of an entry in the process's counts (`process_refs`), whose
//! lock, hash probe and growth cost a put a third of its instructions.
//!
//! A process's references to an object are the counts' entry for its ID
//! plus, when the counts have none, the entry of this table that names the
//! ID (at most one does). The shared side is the same either way: the
//! put's reservation set the process's bit or hold entry.
//!
//! An entry is moved into the counts by the first operation that needs a
//! count (a second reference, a ticket), and by a put that claims the
//! entry's slot again: an object restored from disk moves to another slot
//! (see `shared::refs`), and its entry, still under the old slot, is then
//! found by a scan of the table, done only when the shared side says the
//! process holds the object and neither the counts nor the entry under its
//! slot do.
//!
//! Entries are read by any thread of the process and written by one at a
//! time: the put that claimed the slot (before the object is visible), or a
//! thread holding the lock of the counts' shard of the entry's ID (see
//! `Access::add_ref` and the others in `access_refs`). Reads are seqlock
//! reads: an entry read while it changes is read again.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use super::process_refs::Holder;
use crate::shared::mapping::LocalWords;

/// Words per entry: `[version:32 | holder:32]`, then the ID's three words.
const ENTRY_WORDS: usize = 4;

/// No entry was ever written past this slot (`high`'s value when none was).
const NONE_WRITTEN: u32 = u32::MAX;

/// The table: one entry per object slot.
#[derive(Debug)]
pub(crate) struct CreatorRefs {
    words: LocalWords<AtomicU64>,
    /// The highest slot an entry was ever written in (`NONE_WRITTEN` if
    /// none): scans stop there.
    high: AtomicU32,
}

impl CreatorRefs {
    /// A table for `slots` object slots (no memory is touched until used).
    pub(crate) fn new(slots: usize) -> std::io::Result<CreatorRefs> {
        Ok(CreatorRefs { words: LocalWords::new(slots * ENTRY_WORDS)?, high: AtomicU32::new(NONE_WRITTEN) })
    }

    fn entry(&self, d: u32) -> Option<&[AtomicU64]> {
        let i = d as usize * ENTRY_WORDS;
        self.words.words().get(i..i + ENTRY_WORDS)
    }

    /// The ID and holder of slot `d`'s entry, if it has one.
    pub(crate) fn get(&self, d: u32) -> Option<([u64; 3], Holder)> {
        let e = self.entry(d)?;
        loop {
            let before = e[0].load(Ordering::Acquire);
            if before & u64::from(u32::MAX) == 0 {
                return None;
            }
            let key = [e[1].load(Ordering::Relaxed), e[2].load(Ordering::Relaxed), e[3].load(Ordering::Relaxed)];
            // The ID's words were read before the version is read again.
            fence(Ordering::Acquire);
            if e[0].load(Ordering::Relaxed) == before {
                return Some((key, before as u32));
            }
            std::hint::spin_loop();
        }
    }

    /// Whether slot `d` has no entry (a put's check before it writes one).
    #[inline]
    pub(crate) fn is_empty(&self, d: u32) -> bool {
        self.entry(d).is_none_or(|e| e[0].load(Ordering::Acquire) as u32 == 0)
    }

    /// The holder of slot `d`'s entry if the entry names `key`.
    #[inline]
    pub(crate) fn holder_of(&self, d: u32, key: &[u64; 3]) -> Option<Holder> {
        self.get(d).filter(|(k, _)| k == key).map(|(_, h)| h)
    }

    /// Writes slot `d`'s entry: `holder` holds the first reference of the
    /// object `key`. The entry must be empty (`is_empty`), and the caller
    /// its one writer (the put that claimed `d`). False if `d` is outside
    /// the table (a damaged store's slot number): nothing is written.
    #[inline]
    pub(crate) fn install(&self, d: u32, key: &[u64; 3], holder: Holder) -> bool {
        debug_assert!(holder != 0);
        let Some(e) = self.entry(d) else { return false };
        let version = e[0].load(Ordering::Relaxed) >> 32;
        // The ID's words land after whatever emptied the entry (the
        // clear's version, which a reader compares).
        fence(Ordering::Release);
        for (w, k) in e[1..].iter().zip(key) {
            w.store(*k, Ordering::Relaxed);
        }
        e[0].store((version + 1) << 32 | u64::from(holder), Ordering::Release);
        let high = self.high.load(Ordering::Relaxed);
        if high == NONE_WRITTEN || d > high {
            self.raise_high(d);
        }
        true
    }

    #[cold]
    fn raise_high(&self, d: u32) {
        let _ =
            self.high.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| (h == NONE_WRITTEN || d > h).then_some(d));
    }

    /// Empties slot `d`'s entry (by its one writer: see the module docs).
    pub(crate) fn clear(&self, d: u32) {
        if let Some(e) = self.entry(d) {
            let version = e[0].load(Ordering::Relaxed) >> 32;
            e[0].store((version + 1) << 32, Ordering::Release);
        }
    }

    /// Whether no entry was ever written (the process put nothing with
    /// REFCOUNTED and a fresh ID).
    #[inline]
    pub(crate) fn never_written(&self) -> bool {
        self.high.load(Ordering::Relaxed) == NONE_WRITTEN
    }

    /// Every entry: its slot, ID and holder (a scan up to the highest slot
    /// ever written).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, [u64; 3], Holder)> + '_ {
        let high = self.high.load(Ordering::Acquire);
        let end = if high == NONE_WRITTEN { 0 } else { high as u64 + 1 };
        (0..end as u32).filter_map(|d| self.get(d).map(|(k, h)| (d, k, h)))
    }

    /// The slot whose entry names `key`, and its holder.
    pub(crate) fn find(&self, key: &[u64; 3]) -> Option<(u32, Holder)> {
        self.entries().find(|(_, k, _)| k == key).map(|(d, _, h)| (d, h))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::CreatorRefs;

    #[test]
    fn entries_are_written_read_cleared_and_found() {
        let t = CreatorRefs::new(64).unwrap();
        assert!(t.is_empty(3) && t.get(3).is_none() && t.find(&[1, 2, 3]).is_none());
        assert_eq!(t.entries().count(), 0, "nothing written: nothing scanned");
        assert!(t.install(3, &[1, 2, 3], 7));
        assert!(!t.is_empty(3));
        assert_eq!(t.get(3), Some(([1, 2, 3], 7)));
        assert_eq!(t.holder_of(3, &[1, 2, 3]), Some(7));
        assert_eq!(t.holder_of(3, &[1, 2, 4]), None, "another ID's entry");
        assert!(t.install(40, &[0, 0, 0], 9), "an all-zero ID is an ID like another");
        assert_eq!(t.find(&[0, 0, 0]), Some((40, 9)));
        assert_eq!(t.find(&[1, 2, 3]), Some((3, 7)));
        t.clear(3);
        assert!(t.is_empty(3) && t.find(&[1, 2, 3]).is_none());
        assert_eq!(t.entries().collect::<Vec<_>>(), vec![(40, [0, 0, 0], 9)]);
        assert!(t.install(3, &[5, 5, 5], 7), "a cleared entry is written again");
        assert_eq!(t.get(3), Some(([5, 5, 5], 7)));
        assert!(!t.install(64, &[1, 1, 1], 7) && t.get(64).is_none(), "a slot outside the table");
    }

    /// A reader never sees an entry made of two writes' words: one thread
    /// rewrites an entry with IDs whose words all differ from one another,
    /// another reads it and finds only whole IDs.
    #[test]
    fn a_read_never_mixes_two_writes() {
        let t = CreatorRefs::new(4).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut n = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    t.install(1, &[n, n, n], 1 + (n % 3) as u32);
                    t.clear(1);
                    n += 1;
                }
            });
            for _ in 0..200_000 {
                if let Some((k, h)) = t.get(1) {
                    assert!(k[0] == k[1] && k[1] == k[2], "a torn entry {k:?}");
                    assert_eq!(h, 1 + (k[0] % 3) as u32, "holder of another write");
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
}
