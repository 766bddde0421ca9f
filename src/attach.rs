//! Creating and attaching to a store file: one `Attachment` per process per
//! store, shared by all handles the process opens on that store.
//!
//! Creation is atomic: the file is built complete under no name (O_TMPFILE,
//! or a unique temporary name where that is missing) and linked into place
//! with a call that fails if the name is taken. A creator that dies leaves
//! nothing behind; two creators racing end with one store, the loser
//! attaching to the winner's. Attaching validates the header (magic,
//! version, checksum, sizes) before reading anything else, takes a process
//! slot (its liveness lock), reclaims what dead processes left, and checks
//! every section fits the mapping.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::descriptor::Descriptors;
use crate::error::{err, Error, Result};
use crate::id::{random_u128, IdGenerator};
use crate::index::Index;
use crate::layout::{self, globals, Layout, Params, BUCKET_ENTRIES, DESC_WORDS, HUGE_PAGE_SIZE, PAGE_SIZE, PROC_SLOT_WORDS, REGION_PAGES};
use crate::objects::Objects;
use crate::pages::Pages;
use crate::pins::{LocalPins, PinMasks};
use crate::proctable::{ProcTable, W_ATTACHED_AT};
use crate::reclaim::Reclaimed;
use crate::shm::{LocalCounters, Mapping};
use crate::slab::{size_classes, ClassCache, SizeClass, Slabs, NCLASSES};
use crate::sys::{self, LockFd};
use crate::wait::{Waits, WAIT_WORDS};

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
    pub spill_dir: Option<String>,
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
}

/// Default store capacity: 25% of RAM, capped by free space at `dir`.
pub(crate) fn default_capacity(dir: &str) -> u64 {
    let quarter = sys::total_ram() / 4;
    let free = sys::free_space(dir).unwrap_or(quarter);
    // Leave room for the metadata (a few percent at most).
    let cap = quarter.min(free / 100 * 95);
    cap / PAGE_SIZE * PAGE_SIZE
}

/// Resolves a store name to its file path.
pub fn store_path(name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(err!(InvalidArgument, "store name is empty"));
    }
    if name.contains('\0') {
        return Err(err!(InvalidArgument, "store name contains a NUL byte"));
    }
    if name.contains('/') {
        return Ok(name.to_string());
    }
    if name == "." || name == ".." || name.len() > 255 {
        return Err(err!(InvalidArgument, "'{name}' is not a valid store name"));
    }
    Ok(format!("{SHM_DIR}/{name}"))
}

fn parent_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => path[..i].to_string(),
        None => ".".to_string(),
    }
}

pub(crate) fn now_unix() -> u64 {
    sys::unix_seconds_coarse()
}

fn absolute_dir(dir: &str) -> Result<String> {
    let p = std::path::absolute(dir).map_err(|e| Error::os(format!("spill directory '{dir}'"), e))?;
    p.to_str().map(str::to_string).ok_or_else(|| err!(InvalidArgument, "spill directory is not UTF-8"))
}

/// One process's attachment to one store.
pub(crate) struct Attachment {
    pub(crate) map: Mapping,
    pub(crate) layout: Layout,
    lock_fd: LockFd,
    pub(crate) slot: u32,
    pub(crate) path: String,
    file_key: (u64, u64),
    pub(crate) classes: Vec<SizeClass>,
    /// Per size class: the slab this process allocates from. The lock also
    /// guards the class's hazard word.
    pub(crate) caches: Vec<Mutex<ClassCache>>,
    /// Guards the general hazard word (reclaim, retiring).
    pub(crate) general_hazard: Mutex<()>,
    pub(crate) local_pins: LocalCounters,
    local_waiters: LocalCounters,
    pub(crate) ids: IdGenerator,
    desc_cursor: AtomicUsize,
    pub(crate) fork_generation: u64,
    pub(crate) spill_dir: Option<String>,
    /// Mode of spill files: read and write for whoever may use the store.
    pub(crate) spill_file_mode: u32,
}

type Registry = Mutex<HashMap<(u64, u64), Weak<Attachment>>>;

fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Attachment {
    /// Opens (creating if needed and allowed) the store at `path`. Also
    /// returns what attaching reclaimed from dead processes (nothing when
    /// this process was attached already).
    pub(crate) fn open(path: &str, opts: &Options) -> Result<(Arc<Attachment>, Reclaimed)> {
        if opts.create_only && opts.attach_only {
            return Err(err!(InvalidArgument, "OS_OPEN_CREATE_ONLY and OS_OPEN_ATTACH_ONLY exclude each other"));
        }
        for _ in 0..8 {
            match sys::open_rw(path) {
                Ok(fd) => {
                    if opts.create_only {
                        return Err(err!(AlreadyExists, "store '{path}' already exists"));
                    }
                    return Attachment::attach(fd, path, opts);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    if opts.attach_only {
                        return Err(err!(NotFound, "store '{path}' does not exist"));
                    }
                    match create_file(path, opts) {
                        Ok(fd) => return Attachment::attach(fd, path, opts),
                        Err(e) if e.kind() == crate::ErrorKind::AlreadyExists => {
                            if opts.create_only {
                                return Err(e);
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(Error::os(format!("cannot open store '{path}'"), e)),
            }
        }
        Err(err!(Io, "store '{path}' keeps appearing and disappearing"))
    }

    fn attach(fd: OwnedFd, path: &str, opts: &Options) -> Result<(Arc<Attachment>, Reclaimed)> {
        let info = sys::fstat(&fd).map_err(|e| Error::os(format!("cannot stat '{path}'"), e))?;
        let file_key = (info.dev, info.ino);
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(att) = reg.get(&file_key).and_then(Weak::upgrade) {
            if att.fork_generation == sys::fork_generation() {
                att.check_spill_dir(opts)?;
                return Ok((att, Reclaimed::default()));
            }
        }
        check_owner(path, info.uid, opts.any_owner)?;
        if info.size < layout::HEADER_LEN as u64 {
            return Err(err!(Corrupt, "'{path}' is truncated: {} bytes, shorter than a store header", info.size));
        }
        // Read, not mapped: a mapping of hugetlbfs must be whole huge pages.
        let mut header = vec![0u8; layout::HEADER_LEN];
        sys::read_exact_at(&fd, &mut header, 0).map_err(|e| Error::os(format!("cannot read '{path}'"), e))?;
        let layout = Layout::decode_header(&header)?;
        if info.size < layout.file_size {
            return Err(err!(
                Corrupt,
                "'{path}' is truncated: {} bytes, its header says {}",
                info.size,
                layout.file_size
            ));
        }
        let len = usize::try_from(layout.file_size).map_err(|_| err!(Corrupt, "store too large to map"))?;
        let map = Mapping::from_raw(
            sys::mmap_shared(&fd, len, false).map_err(|e| Error::os(format!("cannot map '{path}'"), e))?,
            len,
        );
        let mut att = Attachment {
            map,
            classes: size_classes(layout.params.page_size),
            caches: (0..NCLASSES).map(|_| Mutex::new(ClassCache::default())).collect(),
            general_hazard: Mutex::new(()),
            local_pins: LocalCounters::new(layout.params.max_objects as usize)
                .map_err(|e| Error::os("cannot map pin counters", e))?,
            local_waiters: LocalCounters::new(WAIT_WORDS).map_err(|e| Error::os("cannot map waiter counters", e))?,
            ids: IdGenerator::new(),
            desc_cursor: AtomicUsize::new(0),
            fork_generation: sys::fork_generation(),
            spill_dir: layout.params.spill_dir.clone(),
            spill_file_mode: info.mode & 0o660 | 0o600,
            slot: u32::MAX,
            path: path.to_string(),
            file_key,
            lock_fd: LockFd::new(fd).map_err(|e| err!(Io, "{e}"))?,
            layout,
        };
        att.check_views()?;
        att.check_spill_dir(opts)?;
        if let Some(dir) = &att.spill_dir {
            check_spill_dir_owner(dir, opts.any_owner)?;
        }
        if att.layout.params.store_flags & layout::STORE_FLAG_HUGEPAGES != 0 || opts.hugepages {
            if let Some(p) = att.map.ptr(att.layout.arena, att.layout.params.capacity as usize) {
                sys::advise_hugepages(p, att.layout.params.capacity as usize);
            }
        }
        let mut reclaimed = att.take_slot()?;
        let spread = att.layout.params.max_objects.div_ceil(64) as usize / att.layout.params.max_processes as usize;
        att.desc_cursor.store(att.slot as usize * spread.max(1), Ordering::Relaxed);
        let att = Arc::new(att);
        if opts.prefault {
            att.prefault()?
        }
        // Reclaim what dead processes left behind, as every attach does.
        reclaimed += att.collect()?;
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(file_key, Arc::downgrade(&att));
        Ok((att, reclaimed))
    }

    fn check_spill_dir(&self, opts: &Options) -> Result<()> {
        if let Some(dir) = &opts.spill_dir {
            let want = absolute_dir(dir)?;
            if self.spill_dir.as_deref() != Some(want.as_str()) {
                return Err(err!(
                    InvalidArgument,
                    "the store's spill directory is {}, not '{}' (it is fixed when the store is created)",
                    self.spill_dir.as_deref().map_or("unset".to_string(), |d| format!("'{d}'")),
                    want
                ));
            }
        }
        Ok(())
    }

    /// Every section must lie inside the mapping; after this the view
    /// accessors cannot fail.
    fn check_views(&self) -> Result<()> {
        let l = &self.layout;
        let p = &l.params;
        let ok = self.map.u64s(l.proc_table, p.max_processes as usize * PROC_SLOT_WORDS).is_some()
            && self.map.u64s(l.class_hints, layout::CLASS_HINT_WORDS).is_some()
            && self.map.u32s(l.wait, WAIT_WORDS * 16).is_some()
            && self.map.u64s(l.wait_masks, WAIT_WORDS * l.mask_words).is_some()
            && self.map.u64s(l.region_states, l.regions as usize).is_some()
            && self.map.u64s(l.page_table, l.pages as usize).is_some()
            && self.map.u64s(l.used_bitmap, l.pages.div_ceil(64) as usize).is_some()
            && self.map.u64s(l.desc_bitmap, p.max_objects.div_ceil(64) as usize).is_some()
            && self.map.u32s(l.bounds, l.buckets as usize).is_some()
            && self.map.u64s(l.index, l.buckets as usize * BUCKET_ENTRIES).is_some()
            && self.map.u64s(l.descriptors, p.max_objects as usize * DESC_WORDS).is_some()
            && self.map.u64s(l.masks, l.mask_positions as usize * l.mask_words).is_some()
            && self.map.ptr(l.arena, p.capacity as usize).is_some();
        if ok {
            Ok(())
        } else {
            Err(err!(Corrupt, "store sections do not fit the file"))
        }
    }

    // ----- views ----------------------------------------------------------------

    const VALID: &'static str = "sections validated at attach";

    pub(crate) fn procs(&self) -> ProcTable<'_> {
        let l = &self.layout;
        ProcTable::new(self.map.u64s(l.proc_table, l.params.max_processes as usize * PROC_SLOT_WORDS).expect(Self::VALID))
    }

    pub(crate) fn objects(&self) -> Objects<'_> {
        let l = &self.layout;
        let n = l.params.max_objects as usize;
        Objects {
            desc: Descriptors::new(self.map.u64s(l.descriptors, n * DESC_WORDS).expect(Self::VALID)),
            index: Index::new(
                self.map.u64s(l.index, l.buckets as usize * BUCKET_ENTRIES).expect(Self::VALID),
                self.map.u32s(l.bounds, l.buckets as usize).expect(Self::VALID),
                n as u32,
            ),
            masks: PinMasks::new(
                self.map.u64s(l.masks, l.mask_positions as usize * l.mask_words).expect(Self::VALID),
                l.mask_words,
            ),
            free_hint: self.map.u64s(l.desc_bitmap, n.div_ceil(64)).expect(Self::VALID),
            seed: l.params.hash_seed,
        }
    }

    pub(crate) fn local_pins(&self) -> LocalPins<'_> {
        LocalPins::new(self.local_pins.words())
    }

    pub(crate) fn pages(&self) -> Pages<'_> {
        let l = &self.layout;
        Pages::new(
            self.map.u64s(l.page_table, l.pages as usize).expect(Self::VALID),
            self.map.u64s(l.used_bitmap, l.pages.div_ceil(64) as usize).expect(Self::VALID),
            self.map.u64s(l.region_states, l.regions as usize).expect(Self::VALID),
        )
    }

    pub(crate) fn slabs(&self) -> Slabs<'_> {
        Slabs {
            map: &self.map,
            arena: self.layout.arena,
            page_size: self.layout.params.page_size,
            classes: &self.classes,
            pages: self.pages(),
            procs: self.procs(),
            hints: self.map.u64s(self.layout.class_hints, layout::CLASS_HINT_WORDS).expect(Self::VALID),
            me: self.slot,
        }
    }

    pub(crate) fn waits(&self) -> Waits<'_> {
        let l = &self.layout;
        Waits::new(
            self.map.u32s(l.wait, WAIT_WORDS * 16).expect(Self::VALID),
            PinMasks::new(self.map.u64s(l.wait_masks, WAIT_WORDS * l.mask_words).expect(Self::VALID), l.mask_words),
        )
    }

    /// This process's waiter counts, one per wait word.
    pub(crate) fn local_waiters(&self) -> LocalPins<'_> {
        LocalPins::new(self.local_waiters.words())
    }

    pub(crate) fn global(&self, offset: usize) -> &AtomicU64 {
        &self.map.u64s(offset, 1).expect(Self::VALID)[0]
    }

    /// The descriptor-search start for this process (spread across processes).
    pub(crate) fn desc_cursor(&self) -> usize {
        self.desc_cursor.load(Ordering::Relaxed)
    }

    pub(crate) fn set_desc_cursor(&self, d: u32) {
        self.desc_cursor.store(d as usize / 64, Ordering::Relaxed);
    }

    /// The lock (and fallocate) descriptor; an error in a fork child.
    pub(crate) fn fd(&self) -> Result<i32> {
        self.lock_fd
            .get()
            .ok_or_else(|| err!(InvalidArgument, "this store handle was opened by another process (before a fork); open the store again"))
    }

    /// True when this process is the one that attached.
    #[inline]
    pub(crate) fn in_owner_process(&self) -> bool {
        self.fork_generation == sys::fork_generation()
    }

    // ----- process slot -------------------------------------------------------

    /// Takes a free process slot, or a dead process's (reclaiming it).
    fn take_slot(&mut self) -> Result<Reclaimed> {
        let fd = self.fd()?;
        let slots = self.layout.params.max_processes;
        let start = (random_u128() as u32) % slots;
        for pass in 0..2 {
            for i in 0..slots {
                let s = (start + i) % slots;
                let procs = self.procs();
                if pass == 0 && procs.owner(s).active {
                    continue;
                }
                let locked = sys::try_lock_slot(fd, s).map_err(|e| Error::os("cannot lock a process slot", e))?;
                if !locked {
                    continue;
                }
                self.slot = s;
                let mut reclaimed = Reclaimed::default();
                if self.procs().owner(s).active {
                    // Its owner died: we hold its lock, so we may clean up.
                    reclaimed = self.reclaim_slot(s);
                    self.global(globals::RECLAIMED).fetch_add(1, Ordering::Relaxed);
                } else {
                    // A free slot may still hold hazards of a reclaimer that died.
                    self.procs().clear_hazards(s);
                }
                self.procs().activate(s, sys::pid(), now_unix());
                self.procs().word(s, W_ATTACHED_AT).store(now_unix(), Ordering::Relaxed);
                return Ok(reclaimed);
            }
        }
        Err(err!(
            TooManyProcesses,
            "all {slots} process slots of the store are held by live processes"
        ))
    }

    /// Reclaims every slot whose process is dead.
    pub(crate) fn collect(&self) -> Result<Reclaimed> {
        let fd = self.fd()?;
        let mut reclaimed = Reclaimed::default();
        let procs = self.procs();
        for s in 0..procs.slots() {
            if s == self.slot || !procs.owner(s).active {
                continue;
            }
            if sys::try_lock_slot(fd, s).map_err(|e| Error::os("cannot test a process slot", e))? {
                if procs.owner(s).active {
                    reclaimed += self.reclaim_slot(s);
                    procs.deactivate(s);
                    self.global(globals::RECLAIMED).fetch_add(1, Ordering::Relaxed);
                }
                sys::unlock_slot(fd, s);
            }
        }
        Ok(reclaimed)
    }

    /// Live attached processes and their pids (skipping dead, unreclaimed slots).
    pub(crate) fn live_processes(&self) -> Vec<(u32, u32)> {
        let procs = self.procs();
        let Ok(fd) = self.fd() else { return vec![] };
        (0..procs.slots())
            .filter_map(|s| {
                let o = procs.owner(s);
                if !o.active {
                    return None;
                }
                let alive = s == self.slot || sys::slot_is_locked(fd, s).unwrap_or(true);
                alive.then_some((s, o.pid))
            })
            .collect()
    }

    // ----- backing memory ------------------------------------------------------

    /// Reserves backing store for arena pages `start..start+count`.
    pub(crate) fn reserve(&self, start: u64, count: u64) -> Result<()> {
        let pages = self.pages();
        let ps = self.layout.params.page_size;
        for r in pages.unreserved_regions(start, count).collect::<Vec<_>>() {
            let first = r * REGION_PAGES;
            let n = REGION_PAGES.min(self.layout.pages - first);
            let off = self.layout.arena as u64 + first * ps;
            sys::fallocate(self.fd()?, off, n * ps).map_err(|e| {
                let mut err = Error::os(
                    format!("cannot reserve {} MiB of backing memory for the store in '{}'", (n * ps) >> 20, parent_dir(&self.path)),
                    e,
                );
                if err.kind() == crate::ErrorKind::OutOfMemory {
                    err = err!(OutOfMemory, "{} (the file system is full)", err.message());
                }
                err
            })?;
            pages.mark_reserved(r);
        }
        Ok(())
    }

    /// Reserves and maps the whole arena now (OS_OPEN_PREFAULT).
    fn prefault(&self) -> Result<()> {
        self.reserve(0, self.layout.pages)?;
        sys::prefault(self.map.base(), self.map.len());
        Ok(())
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if !self.in_owner_process() || self.slot == u32::MAX {
            // A fork child: the parent still owns the slot. Only unmap.
            return;
        }
        // Leave the slot exactly as a reclaimer would after our death.
        let slabs = self.slabs();
        for (class, cache) in self.caches.iter().enumerate() {
            let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
            slabs.disown_cached(&mut cache, class, self.procs().hazard(self.slot, 1 + class));
        }
        self.reclaim_slot(self.slot);
        self.procs().deactivate(self.slot);
        if let Ok(fd) = self.fd() {
            sys::unlock_slot(fd, self.slot);
        }
        // An attach that fails half-way drops its attachment while holding
        // the registry; then the stale entry is left for `attach` to prune.
        let reg = match registry().try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(mut reg) = reg {
            if reg.get(&self.file_key).is_some_and(|w| w.strong_count() == 0) {
                reg.remove(&self.file_key);
            }
        }
    }
}

/// Creates the spill directory if needed (readable and writable by whoever
/// may use a store of file mode `mode`) and checks it is a directory.
fn prepare_spill_dir(dir: &str, mode: u32) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(err!(InvalidArgument, "spill directory '{dir}' exists and is not a directory")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let failed = |e: std::io::Error| {
                let e = Error::os(format!("cannot create spill directory '{dir}'"), e);
                // Not the store's name being taken: never report AlreadyExists here.
                if e.kind() == crate::ErrorKind::AlreadyExists {
                    err!(Io, "{}", e.message())
                } else {
                    e
                }
            };
            std::fs::create_dir_all(dir).map_err(failed)?;
            let dir_mode = if mode & 0o060 != 0 { 0o770 } else { 0o700 };
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).map_err(failed)
        }
        Err(e) => Err(Error::os(format!("cannot use spill directory '{dir}'"), e)),
    }
}

/// Who a user is, for messages: the name and the uid.
fn describe_user(uid: u32) -> String {
    match sys::user_name(uid) {
        Some(name) => format!("user {name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// A store file must belong to this user or to root, unless the caller
/// shares stores between users (`any_owner`): anyone may create a file in
/// /dev/shm under the name a job will use, and its owner can read and
/// change every object in it.
fn check_owner(path: &str, owner: u32, any_owner: bool) -> Result<()> {
    let me = sys::euid();
    if any_owner || owner == me || owner == 0 {
        return Ok(());
    }
    Err(err!(
        PermissionDenied,
        "store '{path}' belongs to {}, not to this process's {}: its owner could read and change every object; \
         open it with OS_OPEN_ANY_OWNER (Options::any_owner) to share a store between users",
        describe_user(owner),
        describe_user(me)
    ))
}

/// A spill directory must be writable by nobody but this user (and root),
/// since whoever can write it can replace spilled objects: it must belong
/// to this user or root and not be writable by its group or others. With
/// `any_owner` (a store shared by a group) it may belong to another user
/// and be writable by its group; never by everyone.
fn check_spill_dir_owner(dir: &str, any_owner: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = sys::euid();
    let trusted = |uid: u32| any_owner || uid == me || uid == 0;
    let link = std::fs::symlink_metadata(dir).map_err(|e| Error::os(format!("cannot use spill directory '{dir}'"), e))?;
    if link.file_type().is_symlink() && !trusted(link.uid()) {
        return Err(err!(
            PermissionDenied,
            "spill directory '{dir}' is a symbolic link that belongs to {}, who could point it anywhere",
            describe_user(link.uid())
        ));
    }
    let m = std::fs::metadata(dir).map_err(|e| Error::os(format!("cannot use spill directory '{dir}'"), e))?;
    if !trusted(m.uid()) {
        return Err(err!(
            PermissionDenied,
            "spill directory '{dir}' belongs to {}, who could replace spilled objects; \
             open with OS_OPEN_ANY_OWNER (Options::any_owner) to share a store between users",
            describe_user(m.uid())
        ));
    }
    if m.mode() & 0o002 != 0 {
        return Err(err!(PermissionDenied, "spill directory '{dir}' is writable by every user, who could replace spilled objects"));
    }
    if m.mode() & 0o020 != 0 && !any_owner {
        return Err(err!(
            PermissionDenied,
            "spill directory '{dir}' is writable by its group, whose users could replace spilled objects; \
             open with OS_OPEN_ANY_OWNER (Options::any_owner) if the store is shared with that group"
        ));
    }
    Ok(())
}

/// Builds a new store file at `path` and links it into place.
fn create_file(path: &str, opts: &Options) -> Result<OwnedFd> {
    let dir = parent_dir(path);
    // On hugetlbfs every size and offset must be a whole huge page: such a
    // store is a huge-page store whatever the flags say.
    // (A directory that cannot be inspected is reported by the create below.)
    let hugetlbfs = sys::hugetlbfs_page_size(&dir).unwrap_or(None);
    if let Some(size) = hugetlbfs {
        if size != HUGE_PAGE_SIZE {
            return Err(err!(
                InvalidArgument,
                "'{dir}' is hugetlbfs with {} KiB pages; objstore supports 2 MiB huge pages",
                size >> 10
            ));
        }
    }
    let hugepages = opts.hugepages || hugetlbfs.is_some();
    let granule = if hugepages { HUGE_PAGE_SIZE } else { PAGE_SIZE };
    let capacity = if opts.capacity_bytes == 0 {
        let c = default_capacity(&dir) / granule * granule;
        if c < granule {
            return Err(err!(OutOfMemory, "no room for a store in '{dir}' (free space {} bytes)", sys::free_space(&dir).unwrap_or(0)));
        }
        c
    } else {
        opts.capacity_bytes.checked_next_multiple_of(granule).ok_or_else(|| err!(InvalidArgument, "capacity is too large"))?
    };
    let max_objects = if opts.max_objects == 0 {
        (capacity / (16 << 10)).clamp(65536, layout::MAX_OBJECTS_LIMIT)
    } else {
        opts.max_objects
    };
    let spill_dir = match &opts.spill_dir {
        Some(d) if d.is_empty() => return Err(err!(InvalidArgument, "spill directory is an empty string")),
        Some(d) => Some(absolute_dir(d)?),
        None => None,
    };
    let params = Params {
        capacity,
        max_objects,
        max_processes: if opts.max_processes == 0 { 256 } else { opts.max_processes },
        page_size: PAGE_SIZE,
        hash_seed: random_u128() as u64,
        created_unix: now_unix(),
        store_flags: if hugepages { layout::STORE_FLAG_HUGEPAGES } else { 0 },
        spill_dir,
    };
    let layout = Layout::compute(params)?;
    let mode = if opts.mode == 0 { 0o600 } else { opts.mode };
    if mode & !0o7777 != 0 {
        return Err(err!(InvalidArgument, "file mode {mode:o} is not a permission mode"));
    }
    let (fd, tmp) = sys::create_unlinked(&dir, mode).map_err(|e| Error::os(format!("cannot create a store in '{dir}'"), e))?;
    let result = (|| -> Result<()> {
        sys::ftruncate(&fd, layout.file_size).map_err(|e| Error::os(format!("cannot size the store file in '{dir}'"), e))?;
        let meta = layout.metadata_len();
        sys::fallocate(fd.as_raw_fd(), 0, meta).map_err(|e| {
            let err = Error::os(format!("cannot reserve {} KiB of store metadata in '{dir}'", meta >> 10), e);
            if err.kind() == crate::ErrorKind::OutOfMemory {
                err!(OutOfMemory, "{} (the file system is full)", err.message())
            } else {
                err
            }
        })?;
        let map = Mapping::from_raw(
            sys::mmap_shared(&fd, meta as usize, false).map_err(|e| Error::os("cannot map the new store", e))?,
            meta as usize,
        );
        // A fresh file reads as zeros: every section starts empty, except
        // the free-descriptor hints, which start all-free.
        let hints = map.u64s(layout.desc_bitmap, layout.params.max_objects.div_ceil(64) as usize).expect("in metadata");
        for (i, w) in hints.iter().enumerate() {
            let remaining = layout.params.max_objects - i as u64 * 64;
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
        sys::link_into_place(&fd, tmp.as_deref(), path).map_err(|e| {
            if e.raw_os_error() == Some(libc::EEXIST) {
                err!(AlreadyExists, "store '{path}' already exists")
            } else {
                Error::os(format!("cannot create store '{path}'"), e)
            }
        })
    })();
    if result.is_err() {
        if let Some(t) = &tmp {
            let _ = sys::unlink(t);
        }
    }
    result.map(|()| fd)
}
