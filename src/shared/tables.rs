//! The tables an object lives in: its descriptor, its index entry, its
//! pin mask and linger entries, its reference word and hold entries, the
//! free-descriptor hints, and the seed that hashes IDs into the index. The object protocol (`object::lifecycle`) is written over
//! them; a store's region holds one set, ready for every operation.

use super::descriptor::Descriptors;
use super::holds::Holds;
use super::index::Index;
use super::lingering::Lingering;
use super::pins::PinMasks;
use super::refs::{ReclaimMarks, RefWords};
use super::releasers::Releasers;
use super::sync::AtomicU64;

/// The shared object structures.
#[derive(Clone, Copy)]
pub(crate) struct ObjectTables<'a> {
    pub desc: Descriptors<'a>,
    pub index: Index<'a>,
    pub masks: PinMasks<'a>,
    pub lingering: Lingering<'a>,
    /// Which processes hold references (see `refs`).
    pub refs: RefWords<'a>,
    /// Tickets, and references of processes beyond the reference words.
    pub holds: Holds<'a>,
    /// Which process slots are being reclaimed (see `refs`).
    pub reclaims: ReclaimMarks<'a>,
    /// Which descriptor each process is releasing spilled memory of.
    pub releasers: Releasers<'a>,
    /// One bit per descriptor: 1 = maybe free (a search hint).
    pub free_hint: &'a [AtomicU64],
    /// Nonzero when a free descriptor may keep a block (`Global::KeptBlocks`).
    pub kept_hint: &'a AtomicU64,
    pub seed: u64,
}

impl ObjectTables<'_> {
    /// Whether any process pins `d`, through its mask bit or its linger
    /// entry (SeqCst reads: the deleter's and spiller's half of the pin
    /// handshake).
    #[inline]
    pub(crate) fn pinned(&self, d: u32) -> bool {
        self.masks.any(d) || self.lingering.pinned(d)
    }

    /// The slots pinning `d`, for inspection.
    pub(crate) fn pin_holders(&self, d: u32) -> Vec<u32> {
        let mut v = self.masks.holders(d);
        v.extend(self.lingering.holders(d));
        v.sort_unstable();
        v.dedup();
        v
    }
}
