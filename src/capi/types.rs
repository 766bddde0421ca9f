//! Types shared with C. Field order and widths are part of the ABI.

use std::ffi::{c_char, CStr, CString};
use std::os::unix::ffi::OsStrExt;

use crate::Store;

/// Bytes in an object ID.
pub const OS_ID_SIZE: usize = 20;

/// Create the store; fail with OS_ALREADY_EXISTS if it exists.
pub const OS_OPEN_CREATE_ONLY: u32 = 1;
/// Attach to an existing store; fail with OS_NOT_FOUND if there is none.
pub const OS_OPEN_ATTACH_ONLY: u32 = 2;
/// Reserve the store's whole memory and map it in now, so that no later call
/// pays for page faults (and a full file system fails the open, not a put).
pub const OS_OPEN_PREFAULT: u32 = 4;
/// Align the arena to 2 MiB and ask for transparent huge pages on it.
pub const OS_OPEN_HUGEPAGES: u32 = 8;
/// Attach even to a store file that belongs to another user (and accept a
/// spill directory its group may write to): for stores shared between the
/// users of a group. Without it, a store file must belong to the caller or
/// to root, since its owner can read and change every object in it.
pub const OS_OPEN_ANY_OWNER: u32 = 16;

/// Object states reported by `os_list`.
pub const OS_OBJECT_UNSEALED: u32 = 1;
/// Sealed and in memory.
pub const OS_OBJECT_SEALED: u32 = 2;
/// Deleted while pinned: invisible, freed at the last release.
pub const OS_OBJECT_DELETED: u32 = 3;
/// Sealed and on disk only (restored by the next get).
pub const OS_OBJECT_SPILLED: u32 = 4;

/// The `*cursor` value `os_list` sets when the listing is complete.
pub const OS_LIST_END: u64 = u64::MAX;
/// Object flag (`os_put_ex`, `os_create_ex`): freed when no process holds a
/// reference or a pin.
pub const OS_OBJECT_REFCOUNTED: u32 = 1;
/// Object flag: may be deleted when memory runs short, before anything is
/// spilled: least recently used first, and for an allocation that needs a
/// run of pages (or a new slab), the entries that empty the cheapest such
/// run, those not read lately first (not every entry in the store).
pub const OS_OBJECT_EVICTABLE: u32 = 2;
const _: () =
    assert!(OS_OBJECT_REFCOUNTED == crate::OBJECT_REFCOUNTED && OS_OBJECT_EVICTABLE == crate::OBJECT_EVICTABLE);

/// A handle to an attached store. Opaque; safe to use from many threads at
/// once; valid in the process that opened it only.
#[allow(non_camel_case_types)]
pub struct os_store {
    pub(crate) store: Store,
    /// `os_spill_dir`'s and `os_remote_url`'s answers, NUL-terminated and
    /// owned by the handle so that the pointers stay valid until `os_close`.
    spill_dir: Option<CString>,
    remote_url: Option<CString>,
}

impl os_store {
    pub(crate) fn new(store: Store) -> os_store {
        let spill_dir = store.spill_dir().and_then(|d| CString::new(d.as_os_str().as_bytes()).ok());
        let remote_url = store.remote_url().and_then(|u| CString::new(u).ok());
        os_store { store, spill_dir, remote_url }
    }

    pub(crate) fn spill_dir(&self) -> Option<&CStr> {
        self.spill_dir.as_deref()
    }

    pub(crate) fn remote_url(&self) -> Option<&CStr> {
        self.remote_url.as_deref()
    }
}

impl std::fmt::Debug for os_store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store.fmt(f)
    }
}

/// A 20-byte object ID.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct os_object_id {
    pub bytes: [u8; OS_ID_SIZE],
}

/// A pinned object: read-only views of its data and metadata, valid until
/// the matching `os_release` (or `os_close` of the handle).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct os_buffer {
    /// First byte of the data, 64-byte aligned. NULL only for an entry of
    /// `os_get_many` that was not found.
    pub data: *const u8,
    pub data_len: usize,
    /// First byte of the metadata (non-NULL even when `meta_len` is 0).
    pub meta: *const u8,
    pub meta_len: usize,
}

/// Options for `os_open`. Get them from `os_options_default()` (or
/// `os_options_init`) and change what you need, so that fields added later
/// keep their defaults.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug)]
pub struct os_options {
    /// The size of this struct as the caller knows it (set by
    /// `os_options_default()`), so that fields can be added.
    pub struct_size: u32,
    /// Bytes for objects. 0: 25% of RAM, capped by the free space of the
    /// file system holding the store.
    pub capacity_bytes: u64,
    /// Object slots. 0: one per 16 KiB of capacity, at least 65536. Any
    /// value >= 1 is allowed.
    pub max_objects: u64,
    /// Processes attached at once (1..4096). 0: 256.
    pub max_processes: u32,
    /// Directory for spill files, fixed when the store is created; an
    /// attacher's must be NULL or the same directory. NULL: no spilling, a
    /// full store gives OS_OUT_OF_MEMORY.
    pub spill_dir: *const c_char,
    /// File mode of a new store file. 0: 0600.
    pub mode: u32,
    /// OS_OPEN_* flags, or-ed.
    pub flags: u32,
    /// The remote tier: "s3://bucket/prefix" (also "file:///dir", and
    /// "memory://name" within one process, for tests), fixed when the store
    /// is created; an attacher's must be NULL or the same. Endpoint, region
    /// and credentials from the usual AWS_* environment variables. NULL: no
    /// remote. A library built without the remote tier refuses it with
    /// OS_INVALID_ARGUMENT. Added after the first version: read only when
    /// `struct_size` reaches past it.
    pub remote_url: *const c_char,
    /// Milliseconds this process's detach from the store (its last handle
    /// closed) waits for the tickets it gave (`os_ref_give`) to be taken
    /// before they go with it; see `os_tickets_wait`. 0: none (at once).
    /// Handles of one store in a process share their attachment: the
    /// longest linger of their opens holds. Added after the first version:
    /// read only when `struct_size` reaches past it.
    pub ticket_linger_ms: u32,
}

/// Counters of a store, from one pass over its object table that does not
/// stop other processes: exact when the store is quiet; under concurrent
/// puts, deletes and spills an object may be counted twice or not at all
/// (`used_bytes` never exceeds `capacity_bytes`).
///
/// Set `struct_size` to `sizeof(os_store_stats)` before `os_stats` (the
/// rule of the header's preamble): fields may be added at the end.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default)]
pub struct os_store_stats {
    /// Set by the caller to the size of the struct it was compiled with; on
    /// return, how many bytes the library filled with fields it knows.
    pub struct_size: u32,
    pub capacity_bytes: u64,
    /// Memory held by objects now.
    pub used_bytes: u64,
    /// Sealed objects, in memory or spilled.
    pub object_count: u64,
    /// Created, not yet sealed.
    pub unsealed_count: u64,
    /// Objects with at least one pin.
    pub pinned_count: u64,
    /// Objects and bytes now on disk only.
    pub spilled_count: u64,
    pub spilled_bytes: u64,
    pub max_objects: u64,
    pub attached_processes: u32,
    pub max_processes: u32,
    /// Dead processes cleaned up so far.
    pub reclaimed_processes: u64,
    /// Objects spilled to disk since the store was created. Added after the
    /// first version: filled only when `struct_size` reaches past it.
    pub spills_total: u64,
    /// Objects read back from disk since the store was created. Added after
    /// the first version, like `spills_total`.
    pub restores_total: u64,
    /// References held: one per process and object it holds references to.
    /// Added after the first version, like `spills_total`.
    pub references: u64,
    /// Objects with at least one reference. Added like `references`.
    pub referenced_count: u64,
    /// Tickets given (`os_ref_give`) and not yet taken. Added like
    /// `references`.
    pub tickets: u64,
    /// OS_OBJECT_EVICTABLE objects deleted to make room since the store was
    /// created. Added like `references`.
    pub evictions_total: u64,
    /// Objects uploaded to the remote tier since the store was created (a
    /// second publish of an object over 16 MiB uploads nothing; a smaller
    /// one is uploaded again), and their bytes (the bodies uploaded: metadata
    /// and data, and the header where it leads the body, on a file://
    /// remote). Added after the first version.
    pub publishes_total: u64,
    pub published_bytes: u64,
    /// Objects fetched from the remote tier since the store was created, and
    /// their bytes (data and metadata). Added after the first version.
    pub fetches_total: u64,
    pub fetched_bytes: u64,
}

/// One object of a listing (`os_list`). The caller sets `struct_size` of
/// the first entry of the array it passes (see `os_list`).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default)]
pub struct os_object_info {
    /// The size of an entry as the caller knows it; on return, how many
    /// bytes of the entry the library filled with fields it knows.
    pub struct_size: u32,
    pub id: os_object_id,
    pub data_len: u64,
    pub meta_len: u64,
    /// OS_OBJECT_UNSEALED, OS_OBJECT_SEALED, OS_OBJECT_DELETED or OS_OBJECT_SPILLED.
    pub state: u32,
    /// Processes holding at least one pin on it.
    pub pinning_processes: u32,
    /// Unix time (seconds) of its creation.
    pub created_unix: u64,
    /// Processes holding at least one reference to it (a ticket not taken
    /// yet counts for its giver). Added after the first version: a library
    /// that does not know it leaves it zero (and says so in `struct_size`).
    pub referencing_processes: u32,
    /// The flags it was put or created with: OS_OBJECT_REFCOUNTED,
    /// OS_OBJECT_EVICTABLE. Added like `referencing_processes`.
    pub flags: u32,
}

/// A process attached to a store (`os_processes`, `os_pin_holders`). The
/// caller sets `struct_size` of the first entry of the array it passes.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct os_process_info {
    /// The size of an entry as the caller knows it; on return, how many
    /// bytes of the entry the library filled with fields it knows.
    pub struct_size: u32,
    /// Its slot in the store's process table.
    pub slot: u32,
    /// Its process ID.
    pub pid: u32,
}

/// The smallest `struct_size` `os_open` and `os_options_init` accept: the
/// size of the first version of `os_options`.
pub const OS_OPTIONS_MIN_SIZE: u32 = 48;
/// The smallest `struct_size` `os_stats` accepts: the first version of
/// `os_store_stats`, up to `reclaimed_processes`.
pub const OS_STORE_STATS_MIN_SIZE: u32 = 88;
/// The smallest entry `struct_size` `os_list` accepts: the first version of
/// `os_object_info`.
pub const OS_OBJECT_INFO_MIN_SIZE: u32 = 56;
/// The smallest entry `struct_size` `os_processes` and `os_pin_holders`
/// accept: the first version of `os_process_info`.
pub const OS_PROCESS_INFO_MIN_SIZE: u32 = 12;

// The minimum sizes are the ends of the first versions' last fields; they
// never change, whatever is added after them.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(OS_OPTIONS_MIN_SIZE as usize == offset_of!(os_options, flags) + 4);
    assert!(OS_STORE_STATS_MIN_SIZE as usize == offset_of!(os_store_stats, reclaimed_processes) + 8);
    assert!(OS_OBJECT_INFO_MIN_SIZE as usize == offset_of!(os_object_info, created_unix) + 8);
    assert!(OS_PROCESS_INFO_MIN_SIZE as usize == size_of::<os_process_info>());
    // The rule of the preamble: `struct_size` is the first field of each.
    assert!(offset_of!(os_options, struct_size) == 0);
    assert!(offset_of!(os_store_stats, struct_size) == 0);
    assert!(offset_of!(os_object_info, struct_size) == 0);
    assert!(offset_of!(os_process_info, struct_size) == 0);
};
