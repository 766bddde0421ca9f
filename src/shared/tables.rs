//! The tables an object lives in: its descriptor, its index entry, its
//! pin mask, the free-descriptor hints, and the seed that hashes IDs into
//! the index. The object protocol (`object::lifecycle`) is written over
//! them; a store's region holds one set, ready for every operation.

use super::descriptor::Descriptors;
use super::index::Index;
use super::pins::PinMasks;
use super::sync::AtomicU64;

/// The shared object structures.
#[derive(Clone, Copy)]
pub(crate) struct ObjectTables<'a> {
    pub desc: Descriptors<'a>,
    pub index: Index<'a>,
    pub masks: PinMasks<'a>,
    /// One bit per descriptor: 1 = maybe free (a search hint).
    pub free_hint: &'a [AtomicU64],
    pub seed: u64,
}
