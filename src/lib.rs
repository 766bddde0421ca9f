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
//! The crate is layered; each layer uses only the ones below it:
//!
//! - `capi`: the C ABI (`os_*`, `include/objstore.h`): checks arguments,
//!   catches panics, maps errors;
//! - `store`: the Rust API, [`Store`];
//! - `object`: the life of objects: the object protocol, allocation,
//!   spilling, reclaim, attaching;
//! - `shared`: the structures inside the store file; beside it `remote`,
//!   the client of the remote tier (S3-compatible storage, feature
//!   `remote`), which knows nothing of the store;
//! - `platform`: every system call.
//!
//! Beside them, `error` (errors and status codes) and `id` (object IDs).
#![warn(missing_debug_implementations, unsafe_op_in_unsafe_fn)]
// Under loom only the protocol modules and their models are built.
#![cfg_attr(loom, allow(dead_code))]

mod error;
mod id;
mod object;
#[cfg(not(loom))]
mod remote;
mod shared;

#[cfg(not(loom))]
pub mod capi;
#[cfg(not(loom))]
mod platform;
#[cfg(not(loom))]
mod store;
// Under loom, the one part of `store` that has a model of its own.
#[cfg(loom)]
#[path = "store/recent.rs"]
mod recent;

pub use error::{Error, ErrorKind, Result};
pub use id::{ObjectId, ID_SIZE};
#[cfg(not(loom))]
pub use object::{
    store_path, ObjectInfo, ObjectState, Options, ProcessInfo, RawObject, Reclaimed, Stats, OBJECT_EVICTABLE,
    OBJECT_REFCOUNTED, SHM_DIR,
};
#[cfg(not(loom))]
pub use platform::copy_bytes;
#[cfg(not(loom))]
pub use remote::{format as remote_format, RemoteConfig};
#[cfg(not(loom))]
pub use store::{Canceller, Creating, Object, Store, StoreHeader, WaitSet};

/// The library version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
