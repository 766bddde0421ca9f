//! The object layer: the life of objects in a store, over the shared
//! structures of `shared`. Each module is one concept:
//!
//! - `lifecycle`: the object protocol on descriptors, the index and pin
//!   masks (claim, insert, pin, delete, free; the spill and restore steps),
//!   every step a CAS that names its process slot;
//! - `refcount`: references and tickets, and the retire of objects that
//!   free themselves, over the same tables;
//! - `alloc`: memory for objects (slab blocks, page runs), one attempt at
//!   a time; `recycle`: the descriptors a process freed with their block
//!   kept, which its next puts take first;
//! - `evict` (deleting cache entries, least recently used first, when
//!   memory runs short);
//! - `spill_files` (the on-disk format), `spill_medium` (a spill directory
//!   or the remote tier), `spill` (spilling and restoring objects), `room`
//!   (which objects to spill when memory runs short);
//! - `reclaim`: cleaning up after a dead process;
//! - `open` (opening and creating store files), `membership` (process slots
//!   and liveness), `attach` (a process's attachment, and what a claim or
//!   an allocation does when the store is full);
//! - `process_refs` (a process's own counts of its references) and
//!   `creator_refs` (the first references of the objects it put);
//! - `access` and `access_refs` (the operations behind the Rust API) and `census` (counting
//!   and listing), `audit` (a consistency check for tests).

pub(crate) mod lifecycle;
mod raw;
pub(crate) mod refcount;

#[cfg(not(loom))]
mod access;
#[cfg(not(loom))]
mod access_refs;
#[cfg(not(loom))]
mod alloc;
#[cfg(not(loom))]
mod attach;
#[cfg(not(loom))]
pub(crate) mod audit;
#[cfg(not(loom))]
pub(crate) mod census;
#[cfg(not(loom))]
mod creator_refs;
#[cfg(not(loom))]
mod evict;
#[cfg(not(loom))]
mod membership;
#[cfg(not(loom))]
mod open;
#[cfg(not(loom))]
mod process_refs;
#[cfg(not(loom))]
mod reclaim;
#[cfg(not(loom))]
mod recycle;
#[cfg(not(loom))]
mod room;
#[cfg(not(loom))]
mod spill;
#[cfg(not(loom))]
mod spill_files;
#[cfg(not(loom))]
mod spill_medium;

#[cfg(any(test, loom))]
pub(crate) mod test_arena;

#[cfg(loom)]
mod models;

#[cfg(not(loom))]
pub(crate) use access::{Fast, Repin, Reserved, UnpinRest};
#[cfg(not(loom))]
pub(crate) use attach::Attachment;
#[cfg(not(loom))]
pub use census::{ObjectInfo, ObjectState, ProcessInfo, Stats};
#[cfg(not(loom))]
pub(crate) use open::{destroy, has_store_magic, read_header};
#[cfg(not(loom))]
pub use open::{store_path, Options, SHM_DIR};
#[cfg(not(loom))]
pub(crate) use process_refs::{new_holder, Holder};
pub use raw::RawObject;
#[cfg(not(loom))]
pub use reclaim::Reclaimed;

/// Object flags (`Store::put_ex`): freed when no process holds a reference
/// or a pin.
pub const OBJECT_REFCOUNTED: u32 = crate::shared::descriptor::flags::REFCOUNTED;
/// Object flags: may be deleted, least recently used first, when memory
/// runs short.
pub const OBJECT_EVICTABLE: u32 = crate::shared::descriptor::flags::EVICTABLE;
/// Every object flag.
pub(crate) const OBJECT_FLAGS: u32 = crate::shared::descriptor::flags::ALL;
