//! objstore: an immutable-object store in shared memory.
//!
//! Processes on one machine map one store file. One puts a blob and gets a
//! 20-byte ID; any other gets a zero-copy, read-only view of it by that ID.
//! There is no daemon: the shared structures inside the file are lock-free,
//! and a process killed at any instruction blocks no one and corrupts
//! nothing; what it held is reclaimed by the survivors.
//!
//! ```no_run
//! use objstore::{Options, Store};
//! let store = Store::open("example", &Options::default())?;
//! let id = store.put(b"hello")?;
//! let obj = store.get(&id, None)?;
//! assert_eq!(obj.data(), b"hello");
//! # Ok::<(), objstore::Error>(())
//! ```
//!
//! The C ABI (`os_*` functions, `include/objstore.h`) is a thin layer over
//! [`Store`].
#![warn(missing_debug_implementations, unsafe_op_in_unsafe_fn)]
// Under loom only the protocol modules and their models are built.
#![cfg_attr(loom, allow(dead_code))]

mod sync;

mod descriptor;
mod error;
mod id;
mod index;
mod objects;
mod pins;

#[cfg(not(loom))]
mod alloc;
#[cfg(not(loom))]
mod attach;
#[cfg(not(loom))]
mod audit;
#[cfg(not(loom))]
pub mod capi;
#[cfg(not(loom))]
mod layout;
#[cfg(not(loom))]
mod pages;
#[cfg(not(loom))]
mod proctable;
#[cfg(not(loom))]
mod reclaim;
#[cfg(not(loom))]
mod shm;
#[cfg(not(loom))]
mod slab;
#[cfg(not(loom))]
mod spill;
#[cfg(not(loom))]
mod store;
#[cfg(not(loom))]
mod sys;
#[cfg(not(loom))]
mod wait;

#[cfg(loom)]
pub mod loom_models;

pub use error::{Error, ErrorKind, Result};
pub use id::{ObjectId, ID_SIZE};
#[cfg(not(loom))]
pub use attach::{store_path, Options, SHM_DIR};
#[cfg(not(loom))]
pub use reclaim::Reclaimed;
#[cfg(not(loom))]
pub use store::{Creating, Object, ObjectInfo, ObjectState, ProcessInfo, RawObject, Stats, Store};

/// The library version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
