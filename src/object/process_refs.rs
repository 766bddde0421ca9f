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

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

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

/// Reference counts by ID.
pub(crate) type Counts = HashMap<[u64; 3], u32, IdHash>;

/// A process's reference counts, sharded by ID.
#[derive(Default)]
pub(crate) struct ProcessRefs {
    shards: [Mutex<Counts>; SHARDS],
}

impl std::fmt::Debug for ProcessRefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessRefs")
    }
}

impl ProcessRefs {
    /// The shard of `key`, locked.
    pub(crate) fn lock(&self, key: &[u64; 3]) -> MutexGuard<'_, Counts> {
        let i = (key[0] ^ key[1] ^ key[2]).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60;
        self.shards[i as usize % SHARDS].lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::IdHasher;
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
