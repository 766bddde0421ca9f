//! The objects a handle got lately, so that getting one of them again, or
//! releasing it, needs neither the index nor the descriptor's fields; and
//! where it found the objects it asked `contains` of lately.
//!
//! Each slot remembers an ID, the object slot it was found in, the state
//! word it was pinned in (a generation, so a life) and its bytes. A get of
//! a remembered ID pins the object slot and then checks that its state word
//! is still the one remembered: the same life, still sealed, so its bytes
//! are where they were (an object's location never changes while it is
//! sealed). A release checks the life the same way. The memory is the
//! handle's own; threads sharing the handle read a slot under its version
//! (a seqlock) and write it only if no other thread is writing it.

use crate::shared::sync::{fence, AtomicU32, AtomicU64, Ordering};

use crate::object::RawObject;
use crate::shared::descriptor::StateWord;

/// Slots (a power of two).
const SLOTS: usize = 64;

/// One remembered object: one cache line.
#[repr(align(64))]
#[derive(Default)]
struct Slot {
    /// Even when the fields are whole, odd while a thread writes them.
    version: AtomicU64,
    id0: AtomicU64,
    id1: AtomicU64,
    /// The ID's last four bytes, and the object slot + 1 above them.
    id2_slot: AtomicU64,
    state: AtomicU64,
    data: AtomicU64,
    data_len: AtomicU64,
    meta_len: AtomicU64,
}

/// The object slot each of the IDs a handle asked `contains` of lately was
/// found in, by a hash of the ID: a guess that `Access::contains_hinted`
/// checks against the descriptor (its ID and state), so that a contains of
/// an object asked about before reads one descriptor instead of probing
/// the index. Any value is safe, as any guess is (one out of range is not
/// tried); threads sharing the handle may overwrite each other's.
pub(crate) struct ContainsHints {
    /// A fixed-size array: `slot_of` is always in range, with no check.
    slots: Box<[AtomicU32; SLOTS]>,
}

impl Default for ContainsHints {
    fn default() -> ContainsHints {
        ContainsHints { slots: Box::new(std::array::from_fn(|_| AtomicU32::new(u32::MAX))) }
    }
}

impl ContainsHints {
    /// The hint of `key`.
    #[inline]
    pub(crate) fn slot(&self, key: &[u64; 3]) -> &AtomicU32 {
        &self.slots[slot_of(key)]
    }
}

/// An object as remembered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remembered {
    pub d: u32,
    pub state: StateWord,
    pub raw: RawObject,
}

/// A slot read by `RecentObjects::look`.
pub(crate) struct Seen<'a> {
    slot: &'a Slot,
    /// Its version when read: even.
    version: u64,
    pub d: u32,
    pub state: StateWord,
}

impl Seen<'_> {
    /// The object's bytes, if the slot was not written since it was seen:
    /// then these and the fields seen are of one write.
    #[inline(always)]
    pub(crate) fn raw_if_unchanged(&self) -> Option<RawObject> {
        let s = self.slot;
        let data = s.data.load(Ordering::Relaxed) as usize as *const u8;
        let data_len = s.data_len.load(Ordering::Relaxed) as usize;
        let meta_len = s.meta_len.load(Ordering::Relaxed) as usize;
        fence(Ordering::Acquire);
        if s.version.load(Ordering::Relaxed) != self.version {
            return None;
        }
        // The metadata follows the data at the next multiple of 64, inside
        // the object (as `Access::view` lays it out).
        let meta = data.wrapping_add(data_len.next_multiple_of(64));
        Some(RawObject { data, data_len, meta, meta_len })
    }
}

/// A handle's recently got objects.
pub(crate) struct RecentObjects {
    /// A fixed-size array: `slot_of` is always in range, with no check.
    slots: Box<[Slot; SLOTS]>,
}

impl Default for RecentObjects {
    fn default() -> RecentObjects {
        RecentObjects { slots: Box::new(std::array::from_fn(|_| Slot::default())) }
    }
}

#[inline]
fn slot_of(key: &[u64; 3]) -> usize {
    ((key[0] ^ key[1] ^ key[2]).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % SLOTS
}

impl RecentObjects {
    /// The object remembered for the ID `key`, if any.
    #[inline]
    pub(crate) fn find(&self, key: &[u64; 3]) -> Option<Remembered> {
        let seen = self.look(key)?;
        let raw = seen.raw_if_unchanged()?;
        Some(Remembered { d: seen.d, state: seen.state, raw })
    }

    /// The object slot and state remembered for the ID `key`, if any, read
    /// under a version not checked yet: what is read of the slot after
    /// them is whole, and they are too, if `Seen::raw_if_unchanged` says
    /// so. A get pins the object slot between the two (the hot path,
    /// `Store::get_again`): fewer values to hold at once.
    #[inline(always)]
    pub(crate) fn look(&self, key: &[u64; 3]) -> Option<Seen<'_>> {
        let s = &self.slots[slot_of(key)];
        let version = s.version.load(Ordering::Acquire);
        let id2_slot = s.id2_slot.load(Ordering::Relaxed);
        if s.id0.load(Ordering::Relaxed) != key[0]
            || s.id1.load(Ordering::Relaxed) != key[1]
            || id2_slot & 0xffff_ffff != key[2]
            || version & 1 != 0
        {
            return None;
        }
        let state = StateWord(s.state.load(Ordering::Relaxed));
        let d = ((id2_slot >> 32) as u32).checked_sub(1)?;
        Some(Seen { slot: s, version, d, state })
    }

    /// The object slot and state remembered for the ID `key`, if any (what
    /// a release needs: fewer loads than `find`).
    #[inline]
    pub(crate) fn find_slot(&self, key: &[u64; 3]) -> Option<(u32, StateWord)> {
        let s = &self.slots[slot_of(key)];
        let v = s.version.load(Ordering::Acquire);
        let id2_slot = s.id2_slot.load(Ordering::Relaxed);
        if s.id0.load(Ordering::Relaxed) != key[0]
            || s.id1.load(Ordering::Relaxed) != key[1]
            || id2_slot & 0xffff_ffff != key[2]
        {
            return None;
        }
        let state = s.state.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if v & 1 != 0 || s.version.load(Ordering::Relaxed) != v {
            return None;
        }
        Some((((id2_slot >> 32) as u32).checked_sub(1)?, StateWord(state)))
    }

    /// Remembers `obj` for the ID `key`, unless another thread is writing
    /// its slot.
    #[inline]
    pub(crate) fn remember(&self, key: &[u64; 3], obj: &Remembered) {
        let s = &self.slots[slot_of(key)];
        let v = s.version.load(Ordering::Relaxed);
        if v & 1 != 0 || s.version.compare_exchange(v, v + 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return;
        }
        // The odd version before any field: a reader that sees one of the
        // new fields then sees the version changed (its acquire fence pairs
        // with this one). Without it a reader could take the new ID with
        // the old object's bytes (possible on weakly ordered CPUs; the loom
        // model below fails without it).
        fence(Ordering::Release);
        s.id0.store(key[0], Ordering::Relaxed);
        s.id1.store(key[1], Ordering::Relaxed);
        s.id2_slot.store(key[2] | (obj.d as u64 + 1) << 32, Ordering::Relaxed);
        s.state.store(obj.state.0, Ordering::Relaxed);
        s.data.store(obj.raw.data as usize as u64, Ordering::Relaxed);
        s.data_len.store(obj.raw.data_len as u64, Ordering::Relaxed);
        s.meta_len.store(obj.raw.meta_len as u64, Ordering::Relaxed);
        s.version.store(v + 2, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn obj(d: u32, n: usize) -> Remembered {
        let data = 4096 as *const u8;
        Remembered {
            d,
            state: StateWord(77),
            raw: RawObject { data, data_len: n, meta: data.wrapping_add(n.next_multiple_of(64)), meta_len: 3 },
        }
    }

    #[test]
    fn remembers_and_finds_by_the_whole_id() {
        let r = RecentObjects::default();
        let key = [1, 2, 3];
        assert!(r.find(&key).is_none());
        r.remember(&key, &obj(9, 100));
        let got = r.find(&key).unwrap();
        assert_eq!((got.d, got.state, got.raw.data_len, got.raw.meta_len), (9, StateWord(77), 100, 3));
        assert_eq!(got.raw.meta as usize, 4096 + 128);
        assert_eq!(r.find_slot(&key), Some((9, StateWord(77))));
        // Another ID in the same slot is not mistaken for it.
        let mut other = key;
        other[2] ^= 1 << 31;
        assert!(r.find(&other).is_none());
    }

    #[test]
    fn threads_never_see_half_a_slot() {
        let r = RecentObjects::default();
        let key = [5, 6, 7];
        std::thread::scope(|s| {
            for t in 0..3u32 {
                let r = &r;
                s.spawn(move || {
                    for i in 0..if cfg!(miri) { 200 } else { 20_000 } {
                        let n = (t as usize + 1) * 1000 + i % 7;
                        r.remember(&key, &obj(t, n));
                        if let Some(got) = r.find(&key) {
                            // Fields of one write, never a mix.
                            assert_eq!(got.raw.data_len / 1000, got.d as usize + 1);
                        }
                    }
                });
            }
        });
    }
}

/// loom model of the slot's seqlock: threads sharing a handle.
#[cfg(all(test, loom))]
mod models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::shared::sync::check_model;

    fn obj(d: u32, n: usize) -> Remembered {
        let data = (4096 * (d as usize + 1)) as *const u8;
        Remembered { d, state: StateWord(70 + d as u64), raw: RawObject { data, data_len: n, meta: data, meta_len: 1 } }
    }

    /// A slot rewritten for another ID while a thread reads it: the reader
    /// finds either ID with that ID's own fields, never one ID with the
    /// other's object (fails without the writer's release fence).
    #[test]
    fn models_a_recent_slot_is_read_whole_while_rewritten() {
        check_model(3, || {
            let a = [0x11, 0x22, 0x33];
            // Same slot: `slot_of` hashes the three words' xor.
            let b = [0x11 ^ 0x5, 0x22 ^ 0x5, 0x33];
            assert_eq!(slot_of(&a), slot_of(&b));
            let r = Arc::new(RecentObjects::default());
            r.remember(&a, &obj(1, 100));
            let writer = {
                let r = r.clone();
                thread::spawn(move || r.remember(&b, &obj(2, 200)))
            };
            if let Some(got) = r.find(&b) {
                assert_eq!((got.d, got.state, got.raw.data_len), (2, StateWord(72), 200));
            }
            if let Some(seen) = r.look(&a) {
                if let Some(raw) = seen.raw_if_unchanged() {
                    assert_eq!((seen.d, raw.data_len), (1, 100));
                }
            }
            writer.join().unwrap();
            assert_eq!(r.find(&b).map(|g| g.d), Some(2));
        });
    }
}
