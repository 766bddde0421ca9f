//! The shared layer: the structures that live in the store file, each in
//! its own module with its invariants written at the top and owning its own
//! geometry (how many words it needs for a store of a given size). They are
//! read only through atomics and bounds-checked offsets, since another
//! process may have written anything.
//!
//! - `mapping`: the one place where bytes of the file become Rust
//!   references (the only `unsafe` of this layer);
//! - `layout`: the checksummed header and where each section lies; it only
//!   composes the sizes the structures give;
//! - `region`: a mapping with its layout, handing out typed views;
//! - `descriptor` (object states), `index` (IDs to descriptors), `pins`
//!   (which processes pin what), `lingering` (pins of hot objects that
//!   write no shared line), `tables` (the set of them an object
//!   lives in), `refs` (which processes hold references to what) and
//!   `holds` (tickets, and references beyond the reference words),
//!   `releasers` (who is releasing a spill's leftover memory),
//!   `pages` (the page table), `classes` and
//!   `slab` (small-object memory), `proctable` (process slots), `wait`
//!   (futex words);
//! - `sync`: the atomics, routed through loom in model checks.

pub(crate) mod classes;
pub(crate) mod descriptor;
pub(crate) mod holds;
pub(crate) mod index;
pub(crate) mod lingering;
pub(crate) mod pages;
pub(crate) mod pins;
pub(crate) mod proctable;
pub(crate) mod refs;
pub(crate) mod releasers;
pub(crate) mod seal_log;
pub(crate) mod slab;
pub(crate) mod sync;
pub(crate) mod tables;

#[cfg(not(loom))]
pub(crate) mod layout;
#[cfg(not(loom))]
pub(crate) mod mapping;
#[cfg(not(loom))]
pub(crate) mod region;
#[cfg(not(loom))]
pub(crate) mod wait;
