//! A pinned object's bytes as raw pointers: what a get hands out, and
//! what a handle remembers of the objects it got lately.

/// A pinned object as raw pointers into the shared mapping. The bytes stay
/// valid and unchanged until the matching release (or until the handle is
/// closed).
#[derive(Clone, Copy, Debug)]
pub struct RawObject {
    /// First byte of the data; 64-byte aligned. Never null.
    pub data: *const u8,
    pub data_len: usize,
    /// First byte of the metadata. Never null (may point just past the data).
    pub meta: *const u8,
    pub meta_len: usize,
}

// SAFETY: the pointers address shared read-only memory that stays mapped
// while the pin is held; they carry no thread affinity.
unsafe impl Send for RawObject {}
// SAFETY: as above.
unsafe impl Sync for RawObject {}
