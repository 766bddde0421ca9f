//! The ID index: fixed-capacity open addressing over 64-byte buckets of
//! eight 64-bit words: the bucket's probe bound, then seven entries, each
//! `[descriptor + 1:31 | generation:9 | tag:24]`, 0 when empty. Keeping the
//! bound in the bucket's own line means a lookup takes one cache miss for
//! the index, not two. The generation bits (the low bits of the descriptor's
//! generation) make an entry name one life of a descriptor, so a stale
//! compare-and-swap by a process that looked long ago cannot touch the entry
//! of a later object in the same descriptor.
//!
//! Lookups hash the ID to a home bucket and scan forward through at most
//! `bound(home) + 1` buckets (Purcell & Harris, "Non-blocking hashtables
//! with open addressing", Cambridge TR-639: a per-home bound instead of
//! tombstones, so an emptied entry is reusable at once). An entry only points
//! at a descriptor; the descriptor (full ID and generation) is the authority,
//! so a stale or damaged entry costs a wasted comparison, never a wrong
//! answer.
//!
//! Invariants:
//! - An entry naming descriptor `d` lies within `WINDOW` buckets of the home
//!   of `d`'s ID, and the home's bound covers it before it is written
//!   (bound first, then entry, both SeqCst). Hence an inserter that scans
//!   after writing its own entry sees every entry for the same ID written
//!   before its own: the duplicate check in `objects` relies on this.
//! - Entries go 0 -> value (insert), value -> 0 (removal by the unique
//!   owner of the descriptor's FREEING step), and value -> value' (a restored
//!   copy replacing its spilled original). Bounds only grow.
//! - Nothing read here is trusted: descriptor numbers are range-checked,
//!   bounds clamped to the window.

use super::sync::{dekker_fence, AtomicU64, Ordering};

/// Words per index bucket (one cache line): the bound, then the entries.
pub(crate) const BUCKET_WORDS: usize = 8;

/// Entries per index bucket.
pub(crate) const BUCKET_ENTRIES: usize = BUCKET_WORDS - 1;

/// The farthest bucket, counted from the home bucket, an entry may occupy.
pub(crate) const WINDOW: u32 = 32;

/// Index entries per object slot, as a fraction: the index is kept at
/// most ~62% full, so that probe windows stay short.
const SLACK_NUM: u64 = 8;
const SLACK_DEN: u64 = 5;

/// Buckets of the index of a store with `objects` object slots.
pub(crate) fn bucket_count(objects: u64) -> u64 {
    (objects * SLACK_NUM).div_ceil(SLACK_DEN).div_ceil(BUCKET_ENTRIES as u64).max(1)
}

/// Where an entry sits: its distance from the home bucket, in entries.
pub(crate) type Position = u32;

/// Where a lookup found an object: its ID's hash and the index entry that
/// named it (an entry of the index's own section, so any word there is one
/// `remove_found` may compare and swap).
#[derive(Clone, Copy)]
pub(crate) struct Found<'a> {
    hash: u64,
    entry: &'a AtomicU64,
}

/// The index view over its section.
#[derive(Clone, Copy)]
pub(crate) struct Index<'a> {
    lines: &'a [[AtomicU64; BUCKET_WORDS]],
    buckets: u64,
    descriptors: u32,
}

const DESC_SHIFT: u32 = 33;
const GEN_SHIFT: u32 = 24;
const GEN_MASK: u64 = (1 << 9) - 1;
const TAG_MASK: u64 = (1 << 24) - 1;
/// How many in-place replacements of one entry a lookup follows (see
/// `sync::lookup_retries`).
const REPLACEMENTS_FOLLOWED: usize = 4;

#[inline]
fn entry_value(d: u32, gen: u64, tag: u32) -> u64 {
    ((d as u64 + 1) << DESC_SHIFT) | (gen & GEN_MASK) << GEN_SHIFT | tag as u64
}

/// The descriptor an entry names (None for an empty or damaged entry).
#[inline]
fn entry_desc(v: u64) -> Option<u32> {
    ((v >> DESC_SHIFT) as u32).checked_sub(1)
}

impl<'a> Index<'a> {
    pub(crate) fn new(words: &'a [AtomicU64], descriptors: u32) -> Index<'a> {
        debug_assert_eq!(words.len() % BUCKET_WORDS, 0);
        let lines = words.as_chunks().0;
        Index { lines, buckets: lines.len() as u64, descriptors }
    }

    #[inline]
    fn buckets(&self) -> u64 {
        self.buckets
    }

    /// The entries of bucket `b`.
    #[inline]
    fn entries(&self, b: usize) -> &'a [AtomicU64] {
        &self.lines[b][1..]
    }

    /// The probe bound of home bucket `home`.
    #[inline]
    fn bound_word(&self, home: u64) -> &'a AtomicU64 {
        &self.lines[home as usize][0]
    }

    #[inline]
    fn home(&self, hash: u64) -> u64 {
        ((hash >> 32) * self.buckets()) >> 32
    }

    /// The home bucket of `hash` (for tests that fill an ID's probe window).
    #[cfg(test)]
    pub(crate) fn home_of(&self, hash: u64) -> u64 {
        self.home(hash)
    }

    #[inline]
    fn tag(hash: u64) -> u32 {
        (hash & TAG_MASK) as u32
    }

    #[inline]
    fn bucket_at(&self, home: u64, dist: u32) -> usize {
        // dist < window() <= buckets, so one subtraction wraps.
        let b = home + dist as u64;
        let n = self.buckets();
        (if b >= n { b - n } else { b }) as usize
    }

    /// Buckets an entry may be from its home: WINDOW, or fewer in a tiny
    /// table, so that no bucket is visited twice in one probe.
    #[inline]
    fn window(&self) -> u32 {
        WINDOW.min(self.buckets as u32)
    }

    #[inline]
    fn bound(&self, home: u64, order: Ordering) -> u32 {
        (self.bound_word(home).load(order).min(u32::MAX as u64) as u32).min(self.window() - 1)
    }

    /// Calls `f(d)` for each descriptor whose entry matches the hash's tag,
    /// in probe order, until `f` returns Some.
    #[inline]
    pub(crate) fn find<R>(&self, hash: u64, f: impl FnMut(u32) -> Option<R>) -> Option<R> {
        self.find_entry(hash, f).map(|(r, _)| r)
    }

    /// `find`, also telling where the entry that led to the answer was.
    #[inline]
    pub(crate) fn find_entry<R>(&self, hash: u64, mut f: impl FnMut(u32) -> Option<R>) -> Option<(R, Found<'a>)> {
        let home = self.home(hash);
        let tag = Self::tag(hash);
        // The home bucket first, before its bound is even read: most
        // lookups end in it (entries there need no bound to be found).
        if let Some((r, entry)) = self.find_in(home as usize, tag, &mut f) {
            return Some((r, Found { hash, entry }));
        }
        let bound = self.bound(home, Ordering::Acquire);
        let (r, entry) = (1..=bound).find_map(|dist| self.find_in(self.bucket_at(home, dist), tag, &mut f))?;
        Some((r, Found { hash, entry }))
    }

    /// `find` in bucket `b`.
    #[inline(always)]
    fn find_in<R>(&self, b: usize, tag: u32, f: &mut impl FnMut(u32) -> Option<R>) -> Option<(R, &'a AtomicU64)> {
        for e in self.entries(b) {
            let v = e.load(Ordering::Acquire);
            if v & TAG_MASK == tag as u64 {
                let Some(d) = entry_desc(v) else { continue };
                if d < self.descriptors {
                    if let Some(r) = f(d) {
                        return Some((r, e));
                    }
                }
                if let Some(r) = self.find_in_replaced(e, v, tag, f) {
                    return Some((r, e));
                }
            }
        }
        None
    }

    /// After `f` passed over the descriptor that entry `e` named (value
    /// `seen`): if the entry names another descriptor now, `f` of that one.
    /// A restore replaces its original's entry with its copy's in place
    /// (`replace`) and then frees the original, so a lookup that read the
    /// entry before the replacement and the original after its free would
    /// otherwise pass over both. Each retry follows a replacement someone
    /// made; bounded.
    #[cold]
    #[inline(never)]
    fn find_in_replaced<R>(
        &self,
        e: &AtomicU64,
        mut seen: u64,
        tag: u32,
        f: &mut impl FnMut(u32) -> Option<R>,
    ) -> Option<R> {
        for _ in 0..super::sync::lookup_retries(REPLACEMENTS_FOLLOWED) {
            let now = e.load(Ordering::Acquire);
            if now == seen || now & TAG_MASK != tag as u64 {
                return None;
            }
            seen = now;
            let d = entry_desc(now)?;
            if d < self.descriptors {
                if let Some(r) = f(d) {
                    return Some(r);
                }
            }
        }
        None
    }

    /// Like `find`, but with SeqCst loads and the entry's position passed
    /// along: the scan an inserter makes after publishing its own entry.
    pub(crate) fn scan_for_duplicates(&self, hash: u64, mut f: impl FnMut(Position, u32) -> bool) {
        let home = self.home(hash);
        let tag = Self::tag(hash);
        let bound = self.bound(home, Ordering::SeqCst);
        for dist in 0..=bound {
            for (i, e) in self.entries(self.bucket_at(home, dist)).iter().enumerate() {
                let v = e.load(Ordering::SeqCst);
                if v & TAG_MASK == tag as u64 {
                    let Some(d) = entry_desc(v) else { continue };
                    if d < self.descriptors && !f(dist * BUCKET_ENTRIES as u32 + i as u32, d) {
                        return;
                    }
                }
            }
        }
    }

    /// Places an entry for descriptor `d` (generation `gen`) in the first
    /// empty slot of the window, raising the home's bound first. None when
    /// the window is full.
    pub(crate) fn insert(&self, hash: u64, d: u32, gen: u64) -> Option<Position> {
        let home = self.home(hash);
        let value = entry_value(d, gen, Self::tag(hash));
        for dist in 0..self.window() {
            for (i, e) in self.entries(self.bucket_at(home, dist)).iter().enumerate() {
                if e.load(Ordering::Relaxed) != 0 {
                    continue;
                }
                self.raise_bound(home, dist);
                dekker_fence();
                if e.compare_exchange(0, value, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    return Some(dist * BUCKET_ENTRIES as u32 + i as u32);
                }
            }
        }
        None
    }

    fn raise_bound(&self, home: u64, dist: u32) {
        let b = self.bound_word(home);
        let dist = dist as u64;
        let mut cur = b.load(Ordering::SeqCst);
        while cur < dist {
            match b.compare_exchange(cur, dist, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
    }

    /// Removes the entry of descriptor `d` (whose ID hashes to `hash`), if
    /// there is one. Only the owner of `d`'s FREEING step (or of its undo)
    /// calls this, so the entry cannot be removed and re-added under it.
    pub(crate) fn remove(&self, hash: u64, d: u32, gen: u64) -> bool {
        let home = self.home(hash);
        let value = entry_value(d, gen, Self::tag(hash));
        for dist in 0..self.window() {
            for e in self.entries(self.bucket_at(home, dist)) {
                if e.load(Ordering::Relaxed) == value
                    && e.compare_exchange(value, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok()
                {
                    return true;
                }
            }
        }
        false
    }

    /// `remove` of the entry a lookup found (`found`): that entry is tried
    /// first, the window scanned only if it no longer names `d` (a restore
    /// may have moved the entry's object meanwhile; see `replace`).
    #[inline]
    pub(crate) fn remove_found(&self, found: Found<'_>, d: u32, gen: u64) -> bool {
        let value = entry_value(d, gen, Self::tag(found.hash));
        let e = found.entry;
        if e.load(Ordering::Relaxed) == value
            && e.compare_exchange(value, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok()
        {
            return true;
        }
        self.remove(found.hash, d, gen)
    }

    /// Makes the entry of descriptor `from` (generation `from_gen`) name `to`
    /// (generation `to_gen`) instead — same ID, so same hash: one CAS, so
    /// lookups see one or the other, never neither. False if `from` has no
    /// entry (already replaced, or removed).
    pub(crate) fn replace(&self, hash: u64, from: u32, from_gen: u64, to: u32, to_gen: u64) -> bool {
        let home = self.home(hash);
        let old = entry_value(from, from_gen, Self::tag(hash));
        let new = entry_value(to, to_gen, Self::tag(hash));
        for dist in 0..self.window() {
            for e in self.entries(self.bucket_at(home, dist)) {
                if e.load(Ordering::Relaxed) == old
                    && e.compare_exchange(old, new, Ordering::SeqCst, Ordering::Relaxed).is_ok()
                {
                    return true;
                }
            }
        }
        false
    }

    /// Entries in use (for consistency checks; not linearizable).
    #[cfg(test)]
    pub(crate) fn count_entries(&self) -> u64 {
        (0..self.buckets as usize).flat_map(|b| self.entries(b)).filter(|e| e.load(Ordering::Relaxed) != 0).count()
            as u64
    }

    /// Calls `f(d)` for every entry (for consistency checks).
    pub(crate) fn for_each_entry(&self, mut f: impl FnMut(u32)) {
        for e in (0..self.buckets as usize).flat_map(|b| self.entries(b)) {
            if let Some(d) = entry_desc(e.load(Ordering::Relaxed)) {
                if d < self.descriptors {
                    f(d);
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn table(buckets: usize) -> Vec<AtomicU64> {
        (0..buckets * BUCKET_WORDS).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn insert_find_remove() {
        let w = table(4);
        let ix = Index::new(&w, 1000);
        let h = 0x1234_5678_9abc_def0u64;
        assert!(ix.find(h, Some).is_none());
        ix.insert(h, 7, 1).unwrap();
        assert_eq!(ix.find(h, Some), Some(7));
        // Another tag in the same bucket is not returned.
        assert!(ix.find(h ^ 1, Some).is_none());
        assert!(!ix.remove(h, 7, 2), "another life of descriptor 7");
        assert!(ix.remove(h, 7, 1));
        assert!(!ix.remove(h, 7, 1));
        assert!(ix.find(h, Some).is_none());
    }

    #[test]
    fn a_removal_starts_at_the_entry_a_lookup_found_and_scans_if_it_moved() {
        let w = table(4);
        let ix = Index::new(&w, 1000);
        let h = 0x0000_0001_0000_0005u64; // one home bucket and tag for all
        ix.insert(h, 7, 1).unwrap();
        ix.insert(h, 8, 1).unwrap();
        let (d, found) = ix.find_entry(h, |d| (d == 8).then_some(d)).unwrap();
        assert_eq!(d, 8);
        assert!(!ix.remove_found(found, 8, 2), "another life of descriptor 8");
        assert!(ix.remove_found(found, 8, 1));
        assert!(!ix.remove_found(found, 8, 1), "removed already");
        assert_eq!(ix.count_entries(), 1);

        // The entry found no longer names the object (here: emptied and
        // taken by another, the object's entry written further on): the
        // removal finds the object's entry by scanning, and leaves the
        // other alone.
        let (_, found) = ix.find_entry(h, |d| (d == 7).then_some(d)).unwrap();
        assert!(ix.remove(h, 7, 1));
        ix.insert(h, 9, 1).unwrap();
        ix.insert(h, 7, 1).unwrap();
        assert!(ix.remove_found(found, 7, 1));
        let mut left = vec![];
        ix.find(h, |d| {
            left.push(d);
            None::<()>
        });
        assert_eq!(left, vec![9]);
    }

    #[test]
    fn overflow_moves_to_next_buckets_and_bound_covers_it() {
        let w = table(8);
        let ix = Index::new(&w, 1000);
        let h = 0x0000_0001_0000_0005u64; // all share home bucket and tag
        for d in 0..20 {
            ix.insert(h, d, 0).unwrap();
        }
        let mut seen = vec![];
        ix.find(h, |d| {
            seen.push(d);
            None::<()>
        });
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
        assert_eq!(ix.count_entries(), 20);
    }

    #[test]
    fn replace_swaps_one_life_for_another() {
        let w = table(4);
        let ix = Index::new(&w, 1000);
        let h = (0xabcdu64 << 32) | 0x77;
        ix.insert(h, 3, 10).unwrap();
        assert!(!ix.replace(h, 3, 11, 4, 1), "a stale generation does not match");
        assert!(ix.replace(h, 3, 10, 4, 1));
        assert_eq!(ix.find(h, Some), Some(4));
        assert!(!ix.replace(h, 3, 10, 5, 1));
    }

    #[test]
    fn full_window_reports_none() {
        let w = table(2);
        let ix = Index::new(&w, 1000);
        for d in 0..2 * BUCKET_ENTRIES as u32 {
            assert!(ix.insert(d as u64 * 77, d, 0).is_some());
        }
        assert!(ix.insert(5, 99, 0).is_none());
    }

    #[test]
    fn damaged_entries_and_bounds_are_ignored() {
        let w = table(4);
        let ix = Index::new(&w, 10);
        let h = 3u64;
        // An entry naming a descriptor beyond the table, and huge bounds.
        w[1].store(entry_value(500, 0, 3), Ordering::Relaxed);
        w[2].store(3, Ordering::Relaxed);
        for b in 0..4 {
            w[b * BUCKET_WORDS].store(u64::MAX, Ordering::Relaxed);
        }
        assert!(ix.find(h, Some).is_none());
    }
}
