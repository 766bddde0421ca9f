//! One process's attachment to one store: the mapped region, the process
//! slot, and what the process keeps for allocating and spilling, shared by
//! every handle the process opens on that store. Also where a claim or an
//! allocation that finds no room turns to reclaim and spilling.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::alloc::{AllocState, Allocator, Backing};
use super::creator_refs::CreatorRefs;
use super::evict;
use super::lifecycle::Objects;
use super::membership::{forked, Membership};
use super::open::{self, Options};
use super::process_refs::ProcessRefs;
use super::reclaim::{reclaim_slot, Reclaimed};
use super::room::{Room, RoomMaker};
use super::spill::{Provision, Spiller};
use super::spill_medium::{self, Medium};
use crate::error::{err, Error, Result};
use crate::id::IdGenerator;
use crate::platform::{self, LockFd};
use crate::remote::Remote;
use crate::shared::classes::class_for;
use crate::shared::descriptor::StateWord;
use crate::shared::layout;
use crate::shared::mapping::{LocalCounters, Mapping};
use crate::shared::pins::LocalPins;
use crate::shared::region::Region;
use crate::shared::wait::WAIT_WORDS;

/// Rounds of making room an allocation may run before it gives up.
const MAX_ROOM_ROUNDS: usize = 256;

/// One process's attachment to one store.
#[derive(Debug)]
pub(crate) struct Attachment {
    region: Region,
    path: PathBuf,
    /// The store file's device and inode: one attachment per file per process.
    file_key: (u64, u64),
    member: Membership,
    alloc: AllocState,
    /// Mode of spill files: read and write for whoever may use the store.
    spill_file_mode: u32,
    /// This process's pin count per object.
    local_pins: LocalCounters,
    /// This process's waiter count per wait word.
    local_waiters: LocalCounters,
    /// This process's reference counts per object ID.
    process_refs: ProcessRefs,
    /// The first references of objects this process put, by object slot.
    creator_refs: CreatorRefs,
    /// The client of the store's remote tier, if it has one.
    remote: Option<Remote>,
    /// Where the store's spill blobs go on its remote (used when it has no
    /// spill directory).
    remote_spill_dir: String,

    /// How long detaching waits for this process's tickets to be taken,
    /// in microseconds: the longest `Options::ticket_linger` of the opens
    /// that share the attachment.
    ticket_linger_us: AtomicU64,

    /// Fresh IDs for puts.
    pub(crate) ids: IdGenerator,
}

type Registry = Mutex<HashMap<(u64, u64), Weak<Attachment>>>;

/// The attachments of this process, by store file.
fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Attachment {
    /// Opens (creating if needed and allowed) the store at `path`. Also
    /// returns what attaching reclaimed from dead processes (nothing when
    /// this process was attached already).
    pub(crate) fn open(path: &Path, opts: &Options) -> Result<(Arc<Attachment>, Reclaimed)> {
        // A remote asked for is checked before a store is made with it (a
        // library without the feature refuses it here).
        let mut client = opts.remote_url.as_deref().map(|u| Remote::open(u, &opts.remote_config)).transpose()?;
        let fd = open::open_or_create(path, opts)?;
        let info = platform::fstat(&fd).map_err(|e| Error::os(format!("cannot stat '{}'", path.display()), e))?;
        let file_key = (info.dev, info.ino);
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(att) = reg.get(&file_key).and_then(Weak::upgrade) {
            if att.member.in_owner_process() {
                open::check_same_spill_dir(att.spill_dir(), opts)?;
                open::check_same_remote(att.remote_url(), opts)?;
                att.ticket_linger_us.fetch_max(linger_us(opts), Ordering::Relaxed);
                return Ok((att, Reclaimed::default()));
            }
        }
        let (info, layout) = open::validate(&fd, path, opts)?;
        open::check_same_spill_dir(layout.params.spill_dir.as_deref(), opts)?;
        open::check_same_remote(layout.params.remote_url.as_deref(), opts)?;
        let remote = match &layout.params.remote_url {
            Some(url) => Some(match client.take() {
                Some(c) => c,
                None => Remote::open(url, &opts.remote_config)?,
            }),
            None => None,
        };
        let len = usize::try_from(layout.file_size).map_err(|_| err!(Corrupt, "store too large to map"))?;
        let map = Mapping::map(&fd, len).map_err(|e| Error::os(format!("cannot map '{}'", path.display()), e))?;
        let region = Region::new(map, layout)?;
        let l = region.layout();
        let hash_seed = l.params.hash_seed;
        if l.params.store_flags & layout::STORE_FLAG_HUGEPAGES != 0 || opts.hugepages {
            if let Some(p) = region.map().ptr(l.arena, l.params.capacity as usize) {
                platform::advise_hugepages(p, l.params.capacity as usize);
            }
        }
        let objects = l.params.max_objects as usize;
        let local_pins = LocalCounters::new(objects).map_err(|e| Error::os("cannot map pin counters", e))?;
        let local_waiters = LocalCounters::new(WAIT_WORDS).map_err(|e| Error::os("cannot map waiter counters", e))?;
        let creator_refs =
            CreatorRefs::new(objects).map_err(|e| Error::os("cannot map the table of first references", e))?;
        let lock = LockFd::new(fd).map_err(|e| err!(Io, "{e}"))?;
        let (member, mut reclaimed) = Membership::join(&region, lock, |dead| {
            // Cleaning up as the process that now holds the dead one's slot.
            let state = AllocState::new(region.layout(), dead);
            let alloc = Allocator { region: &region, state: &state, me: dead, backing: Backing { lock: None, path } };
            reclaim_slot(&alloc, dead)
        })?;
        let att = Arc::new(Attachment {
            alloc: AllocState::new(region.layout(), member.slot),
            region,
            path: path.to_path_buf(),
            file_key,
            member,
            spill_file_mode: info.mode & 0o660 | 0o600,
            local_pins,
            local_waiters,
            process_refs: ProcessRefs::default(),
            creator_refs,
            remote,
            remote_spill_dir: spill_medium::blob_dir(hash_seed),
            ticket_linger_us: AtomicU64::new(linger_us(opts)),
            ids: IdGenerator::new(),
        });
        if opts.prefault {
            att.prefault()?
        }
        // Reclaim what dead processes left behind, as every attach does.
        reclaimed += att.collect()?;
        reg.retain(|_, w| w.strong_count() > 0);
        reg.insert(file_key, Arc::downgrade(&att));
        Ok((att, reclaimed))
    }

    // ----- what it holds --------------------------------------------------------

    pub(crate) fn region(&self) -> &Region {
        &self.region
    }

    /// The file backing the store.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// This process's slot.
    pub(crate) fn slot(&self) -> u32 {
        self.member.slot
    }

    /// True when this process is the one that attached (not a fork child).
    #[inline]
    pub(crate) fn in_owner_process(&self) -> bool {
        self.member.in_owner_process()
    }

    /// An error unless this is the process that attached.
    #[inline]
    pub(crate) fn check_process(&self) -> Result<()> {
        if self.in_owner_process() {
            Ok(())
        } else {
            Err(forked())
        }
    }

    /// The store's remote URL, if it has one.
    pub(crate) fn remote_url(&self) -> Option<&str> {
        self.region.layout().params.remote_url.as_deref()
    }

    /// The client of the store's remote tier, if it has one.
    pub(crate) fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// Whether the process in slot `slot` is alive (this process's own
    /// slot is). A slot whose process died and was reclaimed since counts as
    /// dead too: it is free or someone else's now.
    pub(crate) fn slot_is_alive(&self, slot: u32) -> bool {
        self.member.slot_is_alive(&self.region, slot)
    }

    pub(crate) fn spill_dir(&self) -> Option<&Path> {
        self.region.layout().params.spill_dir.as_deref()
    }

    #[inline]
    pub(crate) fn objects(&self) -> &Objects<'_> {
        Objects::of(&self.region)
    }

    /// Tickets this process gave and that are not taken yet (a scan of the
    /// hold table).
    pub(crate) fn tickets_outstanding(&self) -> u64 {
        self.objects().holds.tickets_of(self.slot())
    }

    /// Waits until every ticket this process gave is taken, `until` passes
    /// (None: no end) or `stop` says to; returns how many are still
    /// outstanding. A take changes one word that nobody waits on, so this
    /// looks at the hold table again after sleeps that grow from 100 µs to
    /// 10 ms: it waits at detach or at exit, where a few milliseconds of
    /// lateness cost nothing and a busy loop would slow the taker.
    pub(crate) fn wait_tickets_taken(&self, until: Option<Instant>, stop: Option<&dyn Fn() -> bool>) -> u64 {
        let mut nap = Duration::from_micros(100);
        loop {
            let left = self.tickets_outstanding();
            if left == 0 || stop.is_some_and(|stop| stop()) {
                return left;
            }
            let sleep = match until {
                Some(t) => match t.checked_duration_since(Instant::now()) {
                    Some(rest) if !rest.is_zero() => nap.min(rest),
                    _ => return left,
                },
                None => nap,
            };
            std::thread::sleep(sleep);
            nap = (nap * 2).min(Duration::from_millis(10));
        }
    }

    /// This process's pin counts.
    #[inline]
    pub(crate) fn local_pins(&self) -> LocalPins<'_> {
        LocalPins::new(self.local_pins.words())
    }

    /// This process's reference counts.
    pub(crate) fn process_refs(&self) -> &ProcessRefs {
        &self.process_refs
    }

    /// This process's first references of objects it put (see `creator_refs`).
    pub(crate) fn creator_refs(&self) -> &CreatorRefs {
        &self.creator_refs
    }

    /// This process's waiter counts, one per wait word.
    pub(crate) fn local_waiters(&self) -> LocalPins<'_> {
        LocalPins::new(self.local_waiters.words())
    }

    #[inline]
    pub(crate) fn allocator(&self) -> Allocator<'_> {
        Allocator {
            region: &self.region,
            state: &self.alloc,
            me: self.member.slot,
            backing: Backing { lock: Some(self.member.lock_fd()), path: &self.path },
        }
    }

    /// Spilling for this process, if the store spills: to its spill
    /// directory, else to its remote.
    pub(crate) fn spiller(&self) -> Option<Spiller<'_>> {
        let medium = match (self.spill_dir(), self.remote()) {
            (Some(dir), _) => Medium::Dir(dir),
            (None, Some(remote)) => Medium::Remote { remote, dir: &self.remote_spill_dir },
            (None, None) => return None,
        };
        Some(Spiller { alloc: self.allocator(), medium, file_mode: self.spill_file_mode, local: self.local_pins() })
    }

    // ----- dead processes ---------------------------------------------------------

    /// Reclaims every slot whose process is dead.
    pub(crate) fn collect(&self) -> Result<Reclaimed> {
        let alloc = self.allocator();
        self.member.collect(&self.region, |dead| reclaim_slot(&alloc, dead))
    }

    /// Finishes interrupted restores and deletes of spilled objects and
    /// removes spill files nothing owns.
    pub(crate) fn sweep_spills(&self) {
        if let Some(s) = self.spiller() {
            s.sweep();
        }
    }

    /// Live attached processes and their pids.
    pub(crate) fn live_processes(&self) -> Vec<(u32, u32)> {
        self.member.live_processes(&self.region)
    }

    /// A claim that found every descriptor taken: dead processes are
    /// reclaimed, then it tries once more.
    #[cold]
    #[inline(never)]
    fn claim_descriptor_after_collect(&self, total: u64, flags: u32) -> Result<(u32, StateWord)> {
        self.collect()?;
        self.allocator().claim_descriptor(total, flags).ok_or_else(|| {
            err!(
                OutOfMemory,
                "object table is full: all {} object slots are in use",
                self.region.layout().params.max_objects
            )
        })
    }

    /// Allocates `total` bytes for descriptor `d` with room made by `room`,
    /// round after round, until it fits, nothing more can move, or the steps
    /// of other processes in the way do not settle in time (None then).
    fn allocate_making_room(
        &self,
        alloc: &Allocator<'_>,
        room: &RoomMaker<'_>,
        d: u32,
        total: u64,
    ) -> Result<Option<u64>> {
        // The caller has just tried without making room. Spilling waits
        // up to a second for steps under way (it is the last resort before
        // the store is full); evicting waits a few milliseconds, then lets
        // the least-recently-used order evict around them.
        let mut waiting = Backoff::new(room.patience());
        for _ in 0..MAX_ROOM_ROUNDS {
            let claimed = match room.make_room(total)? {
                Room::Claimed { start, count } => Some((start, count)),
                Room::Progress => None,
                // Others are in the middle of steps that settle in
                // microseconds (or are stopped, and never do).
                Room::Busy => {
                    if !waiting.wait() {
                        break;
                    }
                    None
                }
                Room::Exhausted => break,
            };
            if let Some(off) = alloc.try_allocate(d, total, false, claimed)? {
                return Ok(Some(off));
            }
        }
        Ok(None)
    }

    // ----- backing memory ------------------------------------------------------

    /// Reserves and maps the whole arena now (OS_OPEN_PREFAULT).
    fn prefault(&self) -> Result<()> {
        self.allocator().reserve(0, self.region.layout().pages)?;
        platform::prefault(self.region.map().base(), self.region.map().len());
        Ok(())
    }
}

/// Claiming and allocating under pressure: reclaim dead processes first,
/// then make room by spilling, then return empty slabs to the page pool and
/// adopt any slab with room; only then is the store full.
impl Provision for Attachment {
    fn claim_descriptor(&self, total: u64, flags: u32) -> Result<(u32, StateWord)> {
        self.claim_descriptor_with(&self.allocator(), total, flags)
    }

    fn allocate(&self, d: u32, total: u64) -> Result<u64> {
        self.allocate_with(&self.allocator(), d, total)
    }
}

impl Attachment {
    /// `Provision::claim_descriptor` with this attachment's allocator
    /// (`allocator`), which the caller has built already.
    #[inline]
    pub(crate) fn claim_descriptor_with(
        &self,
        alloc: &Allocator<'_>,
        total: u64,
        flags: u32,
    ) -> Result<(u32, StateWord)> {
        self.claim_descriptor_of(alloc, total, class_for(total), flags)
    }

    /// `claim_descriptor_with` for an object whose slab class
    /// (`class_for(total)`) the caller has worked out already.
    #[inline]
    pub(crate) fn claim_descriptor_of(
        &self,
        alloc: &Allocator<'_>,
        total: u64,
        class: Option<usize>,
        flags: u32,
    ) -> Result<(u32, StateWord)> {
        match alloc.claim_descriptor_of(class, flags) {
            Some(found) => Ok(found),
            None => self.claim_descriptor_after_collect(total, flags),
        }
    }

    /// `Provision::allocate` with this attachment's allocator
    /// (`allocator`), which the caller has built already.
    #[inline]
    pub(crate) fn allocate_with(&self, alloc: &Allocator<'_>, d: u32, total: u64) -> Result<u64> {
        self.allocate_of(alloc, d, total, class_for(total))
    }

    /// `allocate_with` for an object whose slab class (`class_for(total)`)
    /// the caller has worked out already.
    #[inline]
    pub(crate) fn allocate_of(&self, alloc: &Allocator<'_>, d: u32, total: u64, class: Option<usize>) -> Result<u64> {
        if total > alloc.max_footprint() {
            return Err(Self::too_large(total, alloc.max_footprint()));
        }
        match alloc.try_allocate_first(d, total, class)? {
            Some(off) => Ok(off),
            None => self.allocate_under_pressure(d, total),
        }
    }

    /// The error of an object of `total` bytes in a store of `capacity`.
    #[cold]
    #[inline(never)]
    fn too_large(total: u64, capacity: u64) -> Error {
        err!(TooLarge, "an object of {total} bytes cannot fit a store of {capacity} bytes")
    }

    /// The rest of `allocate`, out of line, once a first attempt found no
    /// room: reclaim, give back kept blocks, evict, spill, retire empty
    /// slabs, and try again after each.
    #[cold]
    #[inline(never)]
    fn allocate_under_pressure(&self, d: u32, total: u64) -> Result<u64> {
        let alloc = self.allocator();
        self.collect()?;
        // Blocks this process keeps for its next puts go back to their
        // slabs first (other processes' go back as room is made, or at the
        // end).
        if alloc.give_back_own_kept_blocks() > 0 {
            if let Some(off) = alloc.try_allocate(d, total, false, None)? {
                return Ok(off);
            }
        }
        // Cache entries go first, before anything is spilled: those that
        // empty the cheapest window of pages (or free a block of the class)
        // when there is one without plain objects; if not, least recently
        // used first, retrying as they go (empty slabs returned to the pool,
        // so that blocks of one size make room for another), until the
        // allocation fits or none is left.
        if evict::may_be_left(&self.region) {
            if let Some(off) = self.allocate_making_room(&alloc, &RoomMaker::evicting(alloc), d, total)? {
                return Ok(off);
            }
        }
        for _ in 0..MAX_ROOM_ROUNDS {
            if evict::evict(&alloc, total) == 0 {
                break;
            }
            if let Some(off) = alloc.try_allocate(d, total, false, None)? {
                return Ok(off);
            }
            alloc.retire_empty_slabs();
            if let Some(off) = alloc.try_allocate(d, total, true, None)? {
                return Ok(off);
            }
        }
        if let Some(spiller) = self.spiller() {
            if let Some(off) = self.allocate_making_room(&alloc, &RoomMaker::spilling(spiller), d, total)? {
                return Ok(off);
            }
        }
        alloc.give_back_all_kept_blocks();
        if let Some(off) = alloc.try_allocate(d, total, false, None)? {
            return Ok(off);
        }
        alloc.retire_empty_slabs();
        if let Some(off) = alloc.try_allocate(d, total, true, None)? {
            return Ok(off);
        }
        let how = if self.spiller().is_some() {
            "and what it holds cannot move (pinned or unsealed objects)"
        } else {
            "(no spill directory)"
        };
        Err(err!(
            OutOfMemory,
            "store is full {how}: no room for an object of {total} bytes ({} of {} bytes in use)",
            alloc.used_bytes(),
            self.region.layout().params.capacity
        ))
    }
}

/// Waiting for other processes' steps to settle while making room: short
/// sleeps, growing, for at most `limit` in all.
struct Backoff {
    next: Duration,
    waited: Duration,
    limit: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_micros(20);
    const MAX_SLEEP: Duration = Duration::from_millis(5);

    fn new(limit: Duration) -> Backoff {
        Backoff { next: Self::FIRST, waited: Duration::ZERO, limit }
    }

    /// Sleeps a little; false once the limit is spent.
    fn wait(&mut self) -> bool {
        if self.waited >= self.limit {
            return false;
        }
        std::thread::sleep(self.next);
        self.waited += self.next;
        self.next = (self.next * 2).min(Self::MAX_SLEEP);
        true
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if !self.in_owner_process() {
            // A fork child: the parent still owns the slot. Only unmap.
            return;
        }
        // Tickets given and not taken yet go with the slot: a taker that is
        // about to take one (a result sent up a pipe just before a worker
        // exits) gets the time the opens asked for.
        let linger = Duration::from_micros(self.ticket_linger_us.load(Ordering::Relaxed));
        if !linger.is_zero() {
            self.wait_tickets_taken(Instant::now().checked_add(linger), None);
        }
        // Leave the slot exactly as a reclaimer would after our death, and
        // no block kept for puts that will not come.
        let alloc = self.allocator();
        alloc.give_back_own_kept_blocks();
        alloc.disown_all();
        reclaim_slot(&alloc, self.member.slot);
        self.member.leave(&self.region);
        // An attach that fails half-way drops its attachment while holding
        // the registry; then the stale entry is left for `open` to prune.
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

/// `Options::ticket_linger` in microseconds (saturating).
fn linger_us(opts: &Options) -> u64 {
    u64::try_from(opts.ticket_linger.as_micros()).unwrap_or(u64::MAX)
}
