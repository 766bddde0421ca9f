//! A process's own counts of the references it holds, by object ID, in
//! process memory: the shared tables say only *whether* a process holds
//! references to an object (a bit, or a hold entry), so that its death is
//! undone by clearing them; how many it holds, it keeps here.
//!
//! Keyed by ID, not by descriptor: an object restored from disk moves to
//! another descriptor, and its holders with it (see `shared::refs`), while
//! the ID stays. A count's 0 -> 1 and 1 -> 0 steps change the shared tables
//! under the lock of the count's shard, so that threads of the process agree
//! on them; that lock is the process's own (a stopped process stops its
//! threads together).

use crate::platform::{ThreadLock, ThreadLockGuard};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};

const SHARDS: usize = 16;

/// IDs are random or chosen by callers: one of their words, mixed, is a
/// good enough hash for a process-private map.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    /// The high half folded into the low: a product's low bits depend only
    /// on its inputs' low bits, and the map picks buckets by the low bits.
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
    /// Eight bytes at a time (an ID is 20 bytes, a key three words).
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    /// Slices' length prefixes: the same for every key of a map.
    fn write_usize(&mut self, _: usize) {}
}

/// The hasher of process-private maps keyed by object ID.
pub(crate) type IdHash = BuildHasherDefault<IdHasher>;

/// Which handle of the process holds a reference: a number unique in the
/// process (from `new_holder`), never 0.
pub(crate) type Holder = u32;

/// A number for a new handle.
pub(crate) fn new_holder() -> Holder {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    // 2^32 handles opened in one process would wrap: skip 0 if so.
    loop {
        let h = NEXT.fetch_add(1, Ordering::Relaxed);
        if h != 0 {
            return h;
        }
    }
}

/// One process's references to one object: how many each of its handles
/// holds. The first holder is kept inline: most objects are referenced
/// through one handle, and counting them then allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Held {
    first: (Holder, u32),
    more: Vec<(Holder, u32)>,
    /// The descriptor the object was last seen in (`Access::contains_hinted`).
    pub(crate) hint: u32,
}

impl Held {
    /// References `holder` holds.
    pub(crate) fn of(&self, holder: Holder) -> u32 {
        if self.first.0 == holder {
            return self.first.1;
        }
        self.more.iter().find(|e| e.0 == holder).map_or(0, |e| e.1)
    }

    /// One more for `holder`; false if its count would overflow.
    #[must_use]
    pub(crate) fn add(&mut self, holder: Holder) -> bool {
        let slot = if self.first.0 == holder || self.first.1 == 0 {
            self.first.0 = holder;
            &mut self.first.1
        } else if let Some(e) = self.more.iter_mut().find(|e| e.0 == holder) {
            &mut e.1
        } else {
            self.more.push((holder, 0));
            &mut self.more.last_mut().expect("just pushed").1
        };
        match slot.checked_add(1) {
            Some(n) => {
                *slot = n;
                true
            }
            None => false,
        }
    }

    /// One fewer for `holder`; false if it holds none.
    pub(crate) fn take(&mut self, holder: Holder) -> bool {
        if self.first.0 == holder && self.first.1 > 0 {
            self.first.1 -= 1;
            if self.first.1 == 0 {
                if let Some(next) = self.more.pop() {
                    self.first = next;
                }
            }
            return true;
        }
        match self.more.iter().position(|e| e.0 == holder) {
            Some(i) => {
                self.more[i].1 -= 1;
                if self.more[i].1 == 0 {
                    self.more.swap_remove(i);
                }
                true
            }
            None => false,
        }
    }

    /// Whether the process holds none (through any handle).
    pub(crate) fn is_empty(&self) -> bool {
        self.first.1 == 0
    }

    /// Whether the process holds exactly one (its last).
    pub(crate) fn is_last(&self) -> bool {
        self.first.1 == 1 && self.more.is_empty()
    }
}

/// References by ID.
pub(crate) type Counts = HashMap<[u64; 3], Held, IdHash>;

/// A process's references, sharded by ID.
#[derive(Default)]
pub(crate) struct ProcessRefs {
    shards: [ThreadLock<Counts>; SHARDS],
}

impl std::fmt::Debug for ProcessRefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessRefs")
    }
}

impl ProcessRefs {
    /// The shard of `key`, locked.
    #[inline]
    pub(crate) fn lock(&self, key: &[u64; 3]) -> ThreadLockGuard<'_, Counts> {
        let i = (key[0] ^ key[1] ^ key[2]).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60;
        self.shards[i as usize % SHARDS].lock()
    }

    /// The objects `holder` holds references to, and how many: a scan of
    /// every shard (a handle being closed).
    pub(crate) fn held_by(&self, holder: Holder) -> Vec<([u64; 3], u32)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            out.extend(shard.lock().iter().map(|(k, h)| (*k, h.of(holder))).filter(|e| e.1 > 0));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::{Held, IdHasher};

    /// Counts per holder, the first inline and the others beside it, in
    /// any order of adds and takes.
    #[test]
    fn held_counts_each_holder_apart() {
        let mut h = Held::default();
        assert!(h.is_empty() && !h.take(1));
        assert!(h.add(1) && h.add(2) && h.add(2) && h.add(3));
        assert_eq!((h.of(1), h.of(2), h.of(3), h.of(4)), (1, 2, 1, 0));
        assert!(!h.is_empty() && !h.is_last());
        assert!(h.take(1), "the inline holder's last");
        assert_eq!((h.of(1), h.of(2), h.of(3)), (0, 2, 1));
        assert!(!h.take(1) && !h.take(4));
        assert!(h.take(2) && h.take(2) && !h.take(2));
        assert!(h.is_last() && h.of(3) == 1);
        assert!(h.take(3) && h.is_empty());
        assert!(h.add(5) && h.of(5) == 1 && h.is_last());
        let mut full = Held { first: (7, u32::MAX), ..Held::default() };
        assert!(!full.add(7) && full.of(7) == u32::MAX, "an overflow is refused and changes nothing");
    }
    use crate::id::ObjectId;

    /// IDs chosen by callers may differ only in a few high bits of one
    /// word; their hashes must still differ in the low bits that pick a
    /// bucket.
    #[test]
    fn ids_differing_only_in_high_bits_get_different_buckets() {
        let build = BuildHasherDefault::<IdHasher>::default();
        for byte in 0..20 {
            let low: HashSet<u64> = (0..=255u8)
                .map(|v| {
                    let mut id = ObjectId([0; 20]);
                    id.0[byte] = v;
                    build.hash_one(id) & 0xffff
                })
                .collect();
            assert!(low.len() > 200, "byte {byte}: only {} distinct low halves of 256", low.len());
            let keys: HashSet<u64> =
                (0..=255u64).map(|v| build.hash_one([0u64, 0, v << (8 * (byte % 4))]) & 0xffff).collect();
            assert!(keys.len() > 200, "key byte {byte}: only {} distinct", keys.len());
        }
    }
}
