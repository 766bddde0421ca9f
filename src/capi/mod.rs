//! The C ABI: the `os_*` functions of `include/objstore.h`.
//!
//! This layer only checks arguments, catches panics and maps errors; all
//! behaviour lives in the Rust API (`Store`). Conventions, as in the README:
//! - Every function returns an `os_status` (0 = OS_OK) unless it cannot fail.
//! - Inputs come first, outputs last; a buffer is followed by its length.
//! - Outputs are written only on success (the one exception, documented at
//!   `os_get_many`, is the partial result of a timeout).
//! - A NULL pointer where one is not allowed gives OS_INVALID_ARGUMENT.
//! - After a failure, `os_last_error()` gives this thread's detail message;
//!   the `_e` variant of each call hands the failure back as an `os_error`
//!   object instead, for callers that move between threads (Go).
//! - Structs begin with `struct_size`, so that they can grow (`sized`).
//! - A panic never unwinds into C: it is caught here and reported as OS_PANIC.
//!
//! The pointer contract every exported function relies on (each pointer
//! NULL or valid for what its documentation says; a handle live and from
//! this process) is written once, in the header's preamble (see
//! cbindgen.toml), rather than in a `# Safety` section of each function.
#![allow(clippy::missing_safety_doc)]

mod args;
mod boundary;
mod cancel;
mod error_object;
mod ids;
mod inspect;
mod last_error;
mod objects;
mod refs;
mod remote;
mod sized;
mod status;
mod store;
mod types;
mod version;
mod wait;
mod with_error;

pub use cancel::*;
pub use error_object::*;
pub use ids::*;
pub use inspect::*;
pub use objects::*;
pub use refs::*;
pub use remote::*;
pub use status::*;
pub use store::*;
pub use types::*;
pub use version::*;
pub use wait::*;
pub use with_error::*;
