//! The object tables of a store on the heap, for the unit tests of the
//! object protocol and its loom models: the same protocol code over the
//! same shared structures, with std atomics in tests and loom's in models.
//! A `Memory` that counts what the protocol frees stands in for the
//! allocator and the spill files.

use super::lifecycle::{InsertError, Memory, Objects};
use crate::shared::descriptor::{w, Descriptors, Location, State, StateWord, NO_OWNER};
use crate::shared::holds::{self, Holds};
use crate::shared::index::{Index, BUCKET_WORDS};
use crate::shared::lingering::{self, Lingering};
use crate::shared::pins::{LocalPins, PinMasks};
use crate::shared::refs::{ReclaimMarks, RefWords};
use crate::shared::releasers::{Releasers, WORDS_PER_SLOT};
use crate::shared::sync::{AtomicU32, AtomicU64, Ordering};

/// Entries of the arena's hold table.
const HOLD_ENTRIES: usize = 4;

/// `n` descriptors, their index, pin masks and free hints, and the local
/// pin counts of a few processes.
pub(crate) struct Arena {
    desc: Vec<AtomicU64>,
    index: Vec<AtomicU64>,
    masks: Vec<AtomicU64>,
    linger_entries: Vec<AtomicU64>,
    linger_masks: Vec<AtomicU64>,
    ref_words: Vec<AtomicU64>,
    holds: Vec<AtomicU64>,
    reclaim_marks: Vec<AtomicU64>,
    releasing: Vec<AtomicU64>,
    releasing_count: AtomicU64,
    free: Vec<AtomicU64>,
    kept_hint: AtomicU64,
    /// Per process: its local pin counts.
    local: Vec<Vec<AtomicU32>>,

    /// Per descriptor: how often its memory was released.
    pub released: Vec<AtomicU32>,
    /// Per descriptor: how often its spill file was removed.
    pub files_removed: Vec<AtomicU32>,
}

impl Arena {
    /// `n` descriptors for `processes` processes, one index bucket per four
    /// descriptors (a single bucket for up to four: every ID collides).
    pub(crate) fn new(n: usize, processes: usize) -> Arena {
        let buckets = n.div_ceil(4).max(1);
        let z64 = |k: usize| (0..k).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        let z32 = |k: usize| (0..k).map(|_| AtomicU32::new(0)).collect::<Vec<_>>();
        let free = (0..n.div_ceil(64))
            .map(|i| {
                let left = n - i * 64;
                AtomicU64::new(if left >= 64 { !0 } else { (1u64 << left) - 1 })
            })
            .collect();
        Arena {
            desc: z64(n * 8),
            index: z64(buckets * BUCKET_WORDS),
            masks: z64(n),
            linger_entries: z64(lingering::entry_words(processes as u32)),
            linger_masks: z64(n),
            ref_words: z64(n),
            // A small table: every ID's window is the whole of it.
            holds: z64(holds::words_for_entries(HOLD_ENTRIES)),
            reclaim_marks: z64(processes),
            releasing: z64(processes * WORDS_PER_SLOT),
            releasing_count: AtomicU64::new(0),
            free,
            kept_hint: AtomicU64::new(0),
            local: (0..processes).map(|_| z32(n)).collect(),

            released: z32(n),
            files_removed: z32(n),
        }
    }

    pub(crate) fn objects(&self) -> Objects<'_> {
        Objects {
            desc: Descriptors::new(&self.desc),
            index: Index::new(&self.index, self.masks.len() as u32),
            masks: PinMasks::new(&self.masks, 1),
            lingering: Lingering::new(&self.linger_entries, PinMasks::new(&self.linger_masks, 1)),
            refs: RefWords::new(&self.ref_words),
            holds: Holds::new(&self.holds),
            reclaims: ReclaimMarks::new(&self.reclaim_marks, 1),
            releasers: Releasers::new(&self.releasing, WORDS_PER_SLOT, &self.releasing_count),
            free_hint: &self.free,
            kept_hint: &self.kept_hint,
            seed: 1,
        }
    }

    /// The local pin counts of process `process`.
    pub(crate) fn local(&self, process: usize) -> LocalPins<'_> {
        LocalPins::new(&self.local[process])
    }

    pub(crate) fn released(&self, d: u32) -> u32 {
        self.released[d as usize].load(Ordering::SeqCst)
    }
}

impl Memory for Arena {
    fn release(&self, d: u32, _loc: u64, _data_len: u64, _meta_len: u32) {
        // Memory is released by whoever ends an object's life (FREEING) or
        // spills it (SPILLED), never from under a live object: a releaser
        // that finds the descriptor in another life frees that life's bytes.
        // (A claimer may hold it RESERVED for a moment and give it back:
        // a life begins to hold memory when it records a location. A
        // claimer frees, RESERVED, the block its descriptor kept from its
        // last life.)
        let desc = Descriptors::new(&self.desc);
        let s = desc.load_state(d, Ordering::SeqCst);
        let holds = Location::decode(desc.word(d, w::LOC).load(Ordering::SeqCst)).is_some_and(Location::holds_memory);
        assert!(
            matches!(s.state(), State::Freeing | State::Spilled | State::Free | State::Reserved) || !holds,
            "the memory of descriptor {d} released while it is {:?} with memory (another life's)",
            s.state()
        );
        self.released[d as usize].fetch_add(1, Ordering::SeqCst);
    }
    fn release_shared(&self, d: u32, loc: u64, data_len: u64, meta_len: u32) {
        self.release(d, loc, data_len, meta_len);
    }
    fn remove_spill_file(&self, d: u32, _key: &[u64; 3], _gen: u64) {
        self.files_removed[d as usize].fetch_add(1, Ordering::SeqCst);
    }
}

/// The arena's memory as the live owner of a free uses it: a freed
/// descriptor keeps its slab block (see `lifecycle`, "Kept blocks").
#[cfg(loom)]
pub(crate) struct Keeping<'a>(pub &'a Arena);

#[cfg(loom)]
impl Memory for Keeping<'_> {
    fn release(&self, d: u32, loc: u64, data_len: u64, meta_len: u32) {
        self.0.release(d, loc, data_len, meta_len)
    }
    fn release_shared(&self, d: u32, loc: u64, data_len: u64, meta_len: u32) {
        self.0.release_shared(d, loc, data_len, meta_len)
    }
    fn remove_spill_file(&self, d: u32, key: &[u64; 3], gen: u64) {
        self.0.remove_spill_file(d, key, gen)
    }
    fn keep_block(&self, _d: u32, _data_len: u64, _meta_len: u32) -> bool {
        true
    }
}

/// Claims a descriptor for process slot `me` and fills it for `key`, as a
/// put does before its insert.
pub(crate) fn reserve(o: &Objects<'_>, me: u32, key: &[u64; 3]) -> (u32, StateWord) {
    let (d, r) = o.claim(me, 0, 0).expect("a free descriptor");
    o.desc.write_fields(d, key, 0, 8, 0);
    o.refs.start(d, r.gen(), None);
    o.desc.word(d, w::LOC).store(Location::Run { page: d as u64 }.encode(), Ordering::SeqCst);
    (d, r)
}

/// A whole put of `key` by process slot `me`; Ok(descriptor) if it
/// committed, else the descriptor is discarded again.
pub(crate) fn put(a: &Arena, me: u32, key: &[u64; 3]) -> Result<u32, InsertError> {
    put_with(a, me, key, 0)
}

/// `put` with object flags, as `Access::reserve` puts them: with
/// REFCOUNTED, `me` holds the first reference (a bit of the word).
pub(crate) fn put_with(a: &Arena, me: u32, key: &[u64; 3], flags: u32) -> Result<u32, InsertError> {
    let o = a.objects();
    let (d, claimed) = reserve(&o, me, key);
    let r = claimed.with_flags(flags);
    o.desc.state(d).store(r.0, Ordering::SeqCst);
    o.refs.start(d, r.gen(), r.is_refcounted().then_some(me));
    match o.insert(d, r, key, r.to(State::Sealed, NO_OWNER)) {
        Ok(_) => Ok(d),
        Err((e, now)) => {
            assert!(o.discard(d, now, me, a));
            Err(e)
        }
    }
}
