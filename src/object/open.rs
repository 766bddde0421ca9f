//! Opening a store file: names and paths, creating a file atomically, and
//! checking a file before anything in it is trusted (its owner, its
//! header, its size, its spill directory).
//!
//! Creation is atomic: the file is built complete under no name (O_TMPFILE,
//! or a unique temporary name where that is missing) and linked into place
//! with a call that fails if the name is taken. A creator that dies leaves
//! nothing behind; two creators racing end with one store, the loser
//! attaching to the winner's.

use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::error::{err, Error, ErrorKind, Result};
use crate::platform::{self, FileInfo};
use crate::remote::{self, RemoteConfig};
use crate::shared::descriptor;
use crate::shared::layout::{self, Layout, Params, HUGE_PAGE_SIZE, PAGE_SIZE};
use crate::shared::mapping::Mapping;

/// Where stores named without a '/' live.
pub const SHM_DIR: &str = "/dev/shm";

/// Options of `Store::open`. Numeric fields left at 0 take their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Bytes for objects (default: 25% of RAM, capped by the free space of
    /// the file system that holds the store).
    pub capacity_bytes: u64,
    /// Object slots (default: one per 16 KiB of capacity, at least 65536).
    pub max_objects: u64,
    /// Processes attached at once (default 256).
    pub max_processes: u32,
    /// Directory for spill files (fixed at creation; None: no spilling).
    pub spill_dir: Option<PathBuf>,
    /// File mode of a new store file (default 0600).
    pub mode: u32,
    /// Fail with AlreadyExists if the store exists.
    pub create_only: bool,
    /// Fail with NotFound if the store does not exist.
    pub attach_only: bool,
    /// Reserve and map the whole store now.
    pub prefault: bool,
    /// Ask for transparent huge pages on the arena (2 MiB-aligned at creation).
    pub hugepages: bool,
    /// Attach even to a store file of another user, and accept a spill
    /// directory its group may write to (a store shared by a group's users).
    /// Without it, the store file must belong to this user or to root, and
    /// the spill directory too, writable by nobody else.
    pub any_owner: bool,
    /// The remote tier (fixed at creation; None: none): `s3://bucket/prefix`,
    /// `file:///dir` or `memory://name/prefix`. An attacher's must be None or
    /// the same. Needs the cargo feature `remote`.
    pub remote_url: Option<String>,
    /// Settings of this process's remote client (`AWS_*` names), over the
    /// environment.
    pub remote_config: RemoteConfig,
    /// How long this process's detach from the store (the last handle
    /// closed) waits for the tickets it gave (`give_ref`) to be taken,
    /// before they go with it (default 0: at once). For a process that
    /// sends references and exits, such as a pool's worker returning
    /// results: without it, a ticket the receiver has not taken yet when
    /// the worker detaches is dropped, and with it the object if it held
    /// the last reference. The handles of one store in a process share
    /// their attachment: the longest linger asked for holds.
    pub ticket_linger: std::time::Duration,
}

/// Resolves a store name to its file path: a name without '/' is a file
/// under /dev/shm, anything else a path.
pub fn store_path(name: &str) -> Result<PathBuf> {
    if name.is_empty() {
        return Err(err!(InvalidArgument, "store name is empty"));
    }
    if name.contains('\0') {
        return Err(err!(InvalidArgument, "store name contains a NUL byte"));
    }
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    if name == "." || name == ".." || name.len() > 255 {
        return Err(err!(InvalidArgument, "'{name}' is not a valid store name"));
    }
    Ok(Path::new(SHM_DIR).join(name))
}

/// The directory holding `path`.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Default store capacity: 25% of RAM, capped by free space at `dir`.
fn default_capacity(dir: &Path) -> u64 {
    let quarter = platform::total_ram() / 4;
    let free = platform::free_space(dir).unwrap_or(quarter);
    // Leave room for the metadata (a few percent at most).
    let cap = quarter.min(free / 100 * 95);
    cap / PAGE_SIZE * PAGE_SIZE
}

fn absolute_dir(dir: &Path) -> Result<PathBuf> {
    std::path::absolute(dir).map_err(|e| Error::os(format!("spill directory '{}'", dir.display()), e))
}

/// Opens the store file at `path`, creating it if it is missing and the
/// options allow; returns the file and whether this call created it.
pub(crate) fn open_or_create(path: &Path, opts: &Options) -> Result<OwnedFd> {
    if opts.create_only && opts.attach_only {
        return Err(err!(InvalidArgument, "OS_OPEN_CREATE_ONLY and OS_OPEN_ATTACH_ONLY exclude each other"));
    }
    let shown = path.display();
    for _ in 0..8 {
        match platform::open_rw(path) {
            Ok(fd) => {
                if opts.create_only {
                    return Err(err!(AlreadyExists, "store '{shown}' already exists"));
                }
                return Ok(fd);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if opts.attach_only {
                    return Err(err!(NotFound, "store '{shown}' does not exist"));
                }
                match create_file(path, opts) {
                    Ok(fd) => return Ok(fd),
                    // Another process created it first: attach to theirs.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists && !opts.create_only => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(Error::os(format!("cannot open store '{shown}'"), e)),
        }
    }
    Err(err!(Io, "store '{shown}' keeps appearing and disappearing"))
}

/// Checks an open store file before anything in it is used: its owner, its
/// size, its header (magic, version, checksum, sizes). Returns the file's
/// details and its layout.
pub(crate) fn validate(fd: &OwnedFd, path: &Path, opts: &Options) -> Result<(FileInfo, Layout)> {
    let shown = path.display();
    let info = platform::fstat(fd).map_err(|e| Error::os(format!("cannot stat '{shown}'"), e))?;
    check_owner(path, info.uid, opts.any_owner)?;
    if info.size < layout::HEADER_LEN as u64 {
        return Err(err!(Corrupt, "'{shown}' is truncated: {} bytes, shorter than a store header", info.size));
    }
    // Read, not mapped: a mapping of hugetlbfs must be whole huge pages.
    let mut header = vec![0u8; layout::HEADER_LEN];
    platform::read_exact_at(fd, &mut header, 0).map_err(|e| Error::os(format!("cannot read '{shown}'"), e))?;
    let layout = Layout::decode_header(&header)?;
    if info.size < layout.file_size {
        return Err(err!(Corrupt, "'{shown}' is truncated: {} bytes, its header says {}", info.size, layout.file_size));
    }
    if let Some(dir) = &layout.params.spill_dir {
        // Made again if it went missing (it holds no files then).
        prepare_spill_dir(dir, info.mode)?;
        check_spill_dir_owner(dir, opts.any_owner)?;
    }
    Ok((info, layout))
}

/// An attacher's spill directory must be the store's own (or none).
pub(crate) fn check_same_spill_dir(store_dir: Option<&Path>, opts: &Options) -> Result<()> {
    if let Some(dir) = &opts.spill_dir {
        let want = absolute_dir(dir)?;
        if store_dir != Some(want.as_path()) {
            return Err(err!(
                InvalidArgument,
                "the store's spill directory is {}, not '{}' (it is fixed when the store is created)",
                store_dir.map_or("unset".to_string(), |d| format!("'{}'", d.display())),
                want.display()
            ));
        }
    }
    Ok(())
}

/// An attacher's remote URL must be the store's own (or none).
pub(crate) fn check_same_remote(store_url: Option<&str>, opts: &Options) -> Result<()> {
    if let Some(url) = &opts.remote_url {
        let want = remote::normalize_url(url)?;
        if store_url != Some(want.as_str()) {
            return Err(err!(
                InvalidArgument,
                "the store's remote is {}, not '{want}' (it is fixed when the store is created)",
                store_url.map_or("unset".to_string(), |u| format!("'{u}'"))
            ));
        }
    }
    Ok(())
}

/// Who a user is, for messages: the name and the uid.
fn describe_user(uid: u32) -> String {
    match platform::user_name(uid) {
        Some(name) => format!("user {name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// A store file must belong to this user or to root, unless the caller
/// shares stores between users (`any_owner`): anyone may create a file in
/// /dev/shm under the name a job will use, and its owner can read and
/// change every object in it.
fn check_owner(path: &Path, owner: u32, any_owner: bool) -> Result<()> {
    let me = platform::euid();
    if any_owner || owner == me || owner == 0 {
        return Ok(());
    }
    Err(err!(
        PermissionDenied,
        "store '{}' belongs to {}, not to this process's {}: its owner could read and change every object; \
         open it with OS_OPEN_ANY_OWNER (Options::any_owner) to share a store between users",
        path.display(),
        describe_user(owner),
        describe_user(me)
    ))
}

/// A spill directory must be writable by nobody but this user (and root),
/// since whoever can write it can replace spilled objects: it must belong
/// to this user or root and not be writable by its group or others. With
/// `any_owner` (a store shared by a group) it may belong to another user
/// and be writable by its group; never by everyone.
fn check_spill_dir_owner(dir: &Path, any_owner: bool) -> Result<()> {
    let shown = dir.display();
    let me = platform::euid();
    let trusted = |uid: u32| any_owner || uid == me || uid == 0;
    let link =
        std::fs::symlink_metadata(dir).map_err(|e| Error::os(format!("cannot use spill directory '{shown}'"), e))?;
    if link.file_type().is_symlink() && !trusted(link.uid()) {
        return Err(err!(
            PermissionDenied,
            "spill directory '{shown}' is a symbolic link that belongs to {}, who could point it anywhere",
            describe_user(link.uid())
        ));
    }
    let m = std::fs::metadata(dir).map_err(|e| Error::os(format!("cannot use spill directory '{shown}'"), e))?;
    if !m.is_dir() {
        return Err(err!(InvalidArgument, "spill directory '{shown}' exists and is not a directory"));
    }
    if !trusted(m.uid()) {
        return Err(err!(
            PermissionDenied,
            "spill directory '{shown}' belongs to {}, who could replace spilled objects; \
             open with OS_OPEN_ANY_OWNER (Options::any_owner) to share a store between users",
            describe_user(m.uid())
        ));
    }
    if m.mode() & 0o002 != 0 {
        return Err(err!(
            PermissionDenied,
            "spill directory '{shown}' is writable by every user, who could replace spilled objects"
        ));
    }
    if m.mode() & 0o020 != 0 && !any_owner {
        return Err(err!(
            PermissionDenied,
            "spill directory '{shown}' is writable by its group, whose users could replace spilled objects; \
             open with OS_OPEN_ANY_OWNER (Options::any_owner) if the store is shared with that group"
        ));
    }
    Ok(())
}

/// Creates the spill directory if needed (readable and writable by whoever
/// may use a store of file mode `mode`) and checks it is a directory.
fn prepare_spill_dir(dir: &Path, mode: u32) -> Result<()> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(err!(InvalidArgument, "spill directory '{shown}' exists and is not a directory")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let failed = |e: std::io::Error| {
                let e = Error::os(format!("cannot create spill directory '{shown}'"), e);
                // Not the store's name being taken: never report AlreadyExists here.
                if e.kind() == ErrorKind::AlreadyExists {
                    err!(Io, "{}", e.message())
                } else {
                    e
                }
            };
            std::fs::create_dir_all(dir).map_err(failed)?;
            let dir_mode = if mode & 0o060 != 0 { 0o770 } else { 0o700 };
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).map_err(failed)
        }
        Err(e) => Err(Error::os(format!("cannot use spill directory '{shown}'"), e)),
    }
}

/// A full file system is OUT_OF_MEMORY, and says so.
fn full_is_out_of_memory(e: Error) -> Error {
    if e.kind() == ErrorKind::OutOfMemory {
        err!(OutOfMemory, "{} (the file system is full)", e.message())
    } else {
        e
    }
}

/// Builds a new store file at `path` and links it into place.
fn create_file(path: &Path, opts: &Options) -> Result<OwnedFd> {
    let dir = parent_dir(path);
    let shown_dir = dir.display();
    // On hugetlbfs every size and offset must be a whole huge page: such a
    // store is a huge-page store whatever the flags say.
    // (A directory that cannot be inspected is reported by the create below.)
    let hugetlbfs = platform::hugetlbfs_page_size(dir).unwrap_or(None);
    if let Some(size) = hugetlbfs {
        if size != HUGE_PAGE_SIZE {
            return Err(err!(
                InvalidArgument,
                "'{shown_dir}' is hugetlbfs with {} KiB pages; objstore supports 2 MiB huge pages",
                size >> 10
            ));
        }
    }
    let hugepages = opts.hugepages || hugetlbfs.is_some();
    let granule = if hugepages { HUGE_PAGE_SIZE } else { PAGE_SIZE };
    let capacity = if opts.capacity_bytes == 0 {
        let c = default_capacity(dir) / granule * granule;
        if c < granule {
            return Err(err!(
                OutOfMemory,
                "no room for a store in '{shown_dir}' (free space {} bytes)",
                platform::free_space(dir).unwrap_or(0)
            ));
        }
        c
    } else {
        opts.capacity_bytes
            .checked_next_multiple_of(granule)
            .ok_or_else(|| err!(InvalidArgument, "capacity is too large"))?
    };
    let max_objects = if opts.max_objects == 0 {
        (capacity / (16 << 10)).clamp(65536, layout::MAX_OBJECTS_LIMIT)
    } else {
        opts.max_objects
    };
    let spill_dir = match &opts.spill_dir {
        Some(d) if d.as_os_str().is_empty() => return Err(err!(InvalidArgument, "spill directory is an empty string")),
        Some(d) => Some(absolute_dir(d)?),
        None => None,
    };
    let remote_url = opts.remote_url.as_deref().map(remote::normalize_url).transpose()?;
    let params = Params {
        capacity,
        max_objects,
        max_processes: if opts.max_processes == 0 { 256 } else { opts.max_processes },
        page_size: PAGE_SIZE,
        hash_seed: platform::random_u128() as u64,
        created_unix: platform::unix_seconds_coarse(),
        store_flags: if hugepages { layout::STORE_FLAG_HUGEPAGES } else { 0 },
        spill_dir,
        remote_url,
    };
    let layout = Layout::compute(params)?;
    let mode = if opts.mode == 0 { 0o600 } else { opts.mode };
    if mode & !0o7777 != 0 {
        return Err(err!(InvalidArgument, "file mode {mode:o} is not a permission mode"));
    }
    let (fd, tmp) = platform::create_unlinked(dir, mode)
        .map_err(|e| Error::os(format!("cannot create a store in '{shown_dir}'"), e))?;
    let result = (|| -> Result<()> {
        platform::ftruncate(&fd, layout.file_size)
            .map_err(|e| Error::os(format!("cannot size the store file in '{shown_dir}'"), e))?;
        let meta = layout.metadata_len();
        platform::fallocate(&fd, 0, meta).map_err(|e| {
            full_is_out_of_memory(Error::os(
                format!("cannot reserve {} KiB of store metadata in '{shown_dir}'", meta >> 10),
                e,
            ))
        })?;
        let map = Mapping::map(&fd, meta as usize).map_err(|e| Error::os("cannot map the new store", e))?;
        // A fresh file reads as zeros: every section starts empty, except
        // the free-descriptor hints, which start all-free.
        let objects = layout.params.max_objects;
        let hints = map.u64s(layout.desc_bitmap, descriptor::free_hint_words(objects)).expect("in metadata");
        for (i, w) in hints.iter().enumerate() {
            let remaining = objects - i as u64 * 64;
            w.store(if remaining >= 64 { !0 } else { (1u64 << remaining) - 1 }, Ordering::Relaxed);
        }
        if !map.write(0, &layout.encode_header()) {
            return Err(err!(Io, "cannot write the store header"));
        }
        drop(map);
        if let Some(d) = &layout.params.spill_dir {
            prepare_spill_dir(d, mode)?;
            check_spill_dir_owner(d, opts.any_owner)?;
        }
        platform::link_into_place(&fd, tmp.as_deref(), path).map_err(|e| {
            if e.raw_os_error() == Some(libc::EEXIST) {
                err!(AlreadyExists, "store '{}' already exists", path.display())
            } else {
                Error::os(format!("cannot create store '{}'", path.display()), e)
            }
        })
    })();
    if result.is_err() {
        if let Some(t) = &tmp {
            let _ = platform::unlink(t);
        }
    }
    result.map(|()| fd)
}

/// Whether the file at `path` begins with a store file's magic: read, not
/// mapped, and without attaching. A file shorter than the magic is not a
/// store.
pub(crate) fn has_store_magic(path: &Path) -> std::io::Result<bool> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; layout::MAGIC.len()];
    match std::io::Read::read_exact(&mut f, &mut magic) {
        Ok(()) => Ok(magic == layout::MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads and checks a store file's header without attaching.
pub(crate) fn read_header(path: &Path) -> Result<Layout> {
    let mut buf = vec![0u8; layout::HEADER_LEN];
    let mut f = std::fs::File::open(path).map_err(|e| Error::os(format!("cannot open '{}'", path.display()), e))?;
    std::io::Read::read_exact(&mut f, &mut buf)
        .map_err(|_| err!(Corrupt, "'{}' is shorter than a store header", path.display()))?;
    Layout::decode_header(&buf)
}

/// Removes a store's file and its spill files (or the spill blobs on its
/// remote). Processes attached keep their mappings; the next open of the
/// name creates a new store.
pub(crate) fn destroy(path: &Path) -> Result<()> {
    let params = read_header(path).ok().map(|l| l.params);
    platform::unlink(path).map_err(|e| Error::os(format!("cannot remove store '{}'", path.display()), e))?;
    let Some(params) = params else { return Ok(()) };
    if let Some(dir) = params.spill_dir {
        super::spill_files::remove_all(&dir);
    } else if let Some(url) = params.remote_url {
        // Its spill blobs, if the remote answers (best effort, with this
        // process's credentials).
        if let Ok(remote) = crate::remote::Remote::open(&url, &RemoteConfig::default()) {
            super::spill_medium::remove_all_blobs(&remote, &super::spill_medium::blob_dir(params.hash_seed));
        }
    }
    Ok(())
}
