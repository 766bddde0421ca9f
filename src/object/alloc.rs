//! Allocation of object memory: slab blocks for objects up to 256 KiB, runs
//! of whole pages above that. Every payload starts on a 64-byte boundary.
//!
//! An allocation is always made on behalf of a descriptor this process holds
//! RESERVED, and its location is written into that descriptor before or
//! together with the claim (see `shared::slab` and `shared::pages`), so a
//! reclaimer can always find and free what a dead process was allocating.
//!
//! This module makes single attempts; what to do when one fails (reclaim
//! dead processes, make room by spilling, wait for steps under way) is the
//! attachment's (`attach::Attachment::allocate`).

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::lifecycle::{Memory, Objects};
use super::recycle::Recycled;
use crate::error::{err, Error, Result};
use crate::platform::{self, LockFd, ThreadLock, ThreadLockGuard};
use crate::shared::classes::{class_for, NCLASSES};
use crate::shared::descriptor::{w, Location, Snapshot, State, StateWord};
use crate::shared::layout::Layout;
use crate::shared::pages::{PageEntry, REGION_PAGES};
use crate::shared::region::Region;
use crate::shared::slab::ClassCache;
use crate::shared::sync::AtomicU64;

/// Bytes an object occupies: data padded to 64, then metadata.
#[inline]
pub(crate) fn footprint(data_len: u64, meta_len: u64) -> Option<u64> {
    data_len.checked_next_multiple_of(64)?.checked_add(meta_len)
}

/// What one process keeps for allocating: per size class the slab it
/// allocates from (the lock also guards the class's hazard word), the lock
/// of its general hazard word, where its descriptor search starts, and the
/// descriptors it freed lately with their block kept.
#[derive(Debug)]
pub(crate) struct AllocState {
    caches: Vec<ThreadLock<ClassCache>>,
    general_hazard: ThreadLock<()>,
    desc_cursor: AtomicUsize,
    /// Descriptors freed lately with their block kept.
    recycled: Recycled,
}

impl AllocState {
    /// For process slot `slot`: descriptor searches of different processes
    /// start apart, so that they rarely race for the same descriptors.
    pub(crate) fn new(layout: &Layout, slot: u32) -> AllocState {
        let spread = layout.params.max_objects.div_ceil(64) as usize / layout.params.max_processes as usize;
        AllocState {
            caches: (0..NCLASSES).map(|_| ThreadLock::new(ClassCache::default())).collect(),
            general_hazard: ThreadLock::new(()),
            desc_cursor: AtomicUsize::new(slot as usize * spread.max(1)),
            recycled: Recycled::default(),
        }
    }
}

/// Where backing memory comes from: the store file, through the lock
/// descriptor (which a fork child does not have). The descriptor is looked
/// up when memory is reserved, not when an allocator is made (every put
/// makes one).
#[derive(Clone, Copy)]
pub(crate) struct Backing<'a> {
    pub lock: Option<&'a LockFd>,
    pub path: &'a Path,
}

impl<'a> Backing<'a> {
    /// The descriptor to reserve memory through; None in a fork child or
    /// for an allocator with none (a dead process's, for its reclaim).
    fn fd(&self) -> Option<BorrowedFd<'a>> {
        self.lock.and_then(|l| l.get())
    }
}

/// Allocation for process slot `me`.
#[derive(Clone, Copy)]
pub(crate) struct Allocator<'a> {
    pub region: &'a Region,
    pub state: &'a AllocState,
    pub me: u32,
    pub backing: Backing<'a>,
}

impl<'a> Allocator<'a> {
    /// The lock of this process's general hazard word (hazard 0): held by
    /// whoever uses it (reclaim, retiring, inspecting slabs it does not own).
    pub(crate) fn general_hazard(&self) -> (ThreadLockGuard<'a, ()>, &'a AtomicU64) {
        (self.state.general_hazard.lock(), self.region.procs().hazard(self.me, 0))
    }

    /// The cache of size class `class`, locked, with the class's hazard word.
    #[inline]
    pub(crate) fn class_cache(&self, class: usize) -> (ThreadLockGuard<'a, ClassCache>, &'a AtomicU64) {
        (self.state.caches[class].lock(), self.region.procs().hazard(self.me, 1 + class))
    }

    /// Frees memory as the owner of the step that frees it. A descriptor it
    /// frees keeps its slab block for its next life (see `lifecycle`,
    /// "Kept blocks").
    pub(crate) fn freer(&self) -> Freer<'a> {
        Freer { alloc: *self, careful: false, keep_blocks: true }
    }

    /// `freer`, giving every block back to its slab: for frees that make
    /// room (evictions).
    pub(crate) fn freer_giving_back(&self) -> Freer<'a> {
        Freer { alloc: *self, careful: false, keep_blocks: false }
    }

    /// Frees memory for a step someone else started (a reclaim, a helper):
    /// slabs are protected with the general hazard first. The caller holds
    /// the general hazard's lock for as long as the freer is used.
    pub(crate) fn careful_freer(&self) -> Freer<'a> {
        Freer { alloc: *self, careful: true, keep_blocks: false }
    }

    /// Runs `f` with a careful freer, holding the general hazard's lock.
    pub(crate) fn with_careful_freer<R>(&self, f: impl FnOnce(&Freer<'a>) -> R) -> R {
        let _g = self.state.general_hazard.lock();
        f(&self.careful_freer())
    }

    /// `claim_descriptor` from the list of descriptors this process freed
    /// keeping a block of `class` (the slab class of the object's bytes,
    /// `class_for`; None: none).
    #[inline(always)]
    fn claim_recycled(&self, class: Option<usize>, flags: u32) -> Option<(u32, StateWord)> {
        let o = Objects::of(self.region);
        let class = class?;
        while let Some(d) = self.state.recycled.take(Some(class)) {
            if let Some(claimed) = o.claim_at(d, self.me, flags) {
                return Some((d, claimed));
            }
        }
        None
    }

    /// What descriptor `d`, just claimed (RESERVED by this process), kept
    /// from its last life, for an object of `total` bytes (see `lifecycle`,
    /// "Kept blocks"): a block of that object's slab class, now the new
    /// life's (its location a SlabIntent until `adopt_kept_block`, called
    /// once the new lengths are written); or None, any other kept block
    /// freed.
    #[inline(always)]
    pub(crate) fn take_kept_block(&self, d: u32, total: u64) -> Option<KeptBlock> {
        self.take_kept_block_of(d, total, class_for(total))
    }

    /// `take_kept_block` for an object whose class (`class_for(total)`)
    /// the caller has worked out already.
    #[inline(always)]
    pub(crate) fn take_kept_block_of(&self, d: u32, total: u64, wanted: Option<usize>) -> Option<KeptBlock> {
        let o = Objects::of(self.region);
        if !Location::is_block(o.desc.word(d, w::LOC).load(Ordering::Acquire)) {
            return None;
        }
        self.take_kept_block_found(d, total, wanted)
    }

    /// `take_kept_block` for a descriptor that keeps one; `wanted` is
    /// `class_for(total)`.
    #[inline(never)]
    fn take_kept_block_found(&self, d: u32, total: u64, wanted: Option<usize>) -> Option<KeptBlock> {
        let o = Objects::of(self.region);
        let (loc, data_len, meta_len) = o.kept_block(d)?;
        // The class of the kept block is one slabs are made of, so the
        // object's class (`wanted`), if the same, is too (`slab_class`
        // would agree).
        // A kept block of the same footprint (puts of one size, the common
        // case) is of the same class without working it out.
        let kept_total = footprint(data_len, meta_len as u64);
        let fits = |class: usize| kept_total == Some(total) || kept_total.and_then(class_for) == Some(class);
        let found = match (wanted, Location::decode(loc)) {
            (Some(class), Some(Location::Block { page, block })) if fits(class) => {
                self.region.slabs(self.me).held_block_offset(page, class, block, d).map(|off| (page, off))
            }
            _ => None,
        };
        match found {
            Some((page, offset)) => {
                let intent = Location::SlabIntent { page };
                self.region.descriptors().word(d, w::LOC).store(intent.encode(), Ordering::SeqCst);
                Some(KeptBlock { loc, offset })
            }
            None => {
                self.drop_kept_block(d);
                None
            }
        }
    }

    /// Frees the block descriptor `d` (just claimed) kept, which does not fit.
    #[cold]
    #[inline(never)]
    fn drop_kept_block(&self, d: u32) {
        Objects::of(self.region).drop_kept_block(d, &self.freer());
    }

    /// Records a block from `take_kept_block` as descriptor `d`'s, once
    /// its new lengths are written. Returns the payload's arena offset.
    #[inline]
    pub(crate) fn adopt_kept_block(&self, d: u32, kept: KeptBlock) -> u64 {
        self.region.descriptors().word(d, w::LOC).store(kept.loc, Ordering::SeqCst);
        kept.offset
    }

    /// Gives the blocks this process kept (those still on its `recycle`
    /// list) back to their slabs. Returns how many it gave back.
    pub(crate) fn give_back_own_kept_blocks(&self) -> u64 {
        let o = Objects::of(self.region);
        let mem = self.freer_giving_back();
        let mut given = 0;
        while let Some(d) = self.state.recycled.take(None) {
            given += u64::from(o.give_back_kept_block(d, self.me, &mem));
        }
        given
    }

    /// Gives every block that free descriptors keep back to its slab, if
    /// any was kept since the last such sweep (see `lifecycle`, "Kept
    /// blocks"), looking at every descriptor the free hints name: the last
    /// thing an allocation does before it reports the store full (making
    /// room by spilling gives back the kept blocks in the slabs it empties
    /// as it goes). Returns how many were given back.
    ///
    /// When that sweep gives nothing back, every descriptor is looked at:
    /// a freer killed between its descriptor's FREE store and the hints
    /// after it (its free hint, the kept-blocks hint), or a sweeper killed
    /// after it cleared the kept-blocks hint, leaves FREE descriptors
    /// keeping blocks that no hint names, and their slabs would stay in the
    /// arena for good (a large allocation then fails in an empty store).
    /// The scan reads one word of each descriptor, on the way to reporting
    /// the store full.
    pub(crate) fn give_back_all_kept_blocks(&self) -> u64 {
        let o = Objects::of(self.region);
        let mem = self.freer_giving_back();
        let count = o.desc.count();
        let mut given = 0;
        if o.begin_kept_sweep() {
            for (wi, word) in o.free_hint.iter().enumerate() {
                let mut bits = word.load(Ordering::Relaxed);
                while bits != 0 {
                    let d = wi * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if d < count && o.give_back_kept_block(d as u32, self.me, &mem) {
                        given += 1;
                    }
                }
            }
        }
        if given == 0 {
            for d in 0..count as u32 {
                if o.give_back_kept_block(d, self.me, &mem) {
                    given += 1;
                }
            }
        }
        given
    }

    /// Forgets this process's list of the descriptors it freed keeping their
    /// block, as its death would (for tests).
    #[cfg(test)]
    pub(crate) fn forget_recycled(&self) {
        while self.state.recycled.take(None).is_some() {}
    }

    /// Claims a free descriptor for this process, for an object of `total`
    /// bytes: one it freed lately keeping a block of that object's slab
    /// class first (see `recycle`), else searching from where its last
    /// search ended. None when every descriptor seems taken.
    #[inline]
    pub(crate) fn claim_descriptor(&self, total: u64, flags: u32) -> Option<(u32, StateWord)> {
        self.claim_descriptor_of(class_for(total), flags)
    }

    /// `claim_descriptor` for an object of slab class `class`
    /// (`class_for` of its bytes), which the caller has worked out already.
    #[inline]
    pub(crate) fn claim_descriptor_of(&self, class: Option<usize>, flags: u32) -> Option<(u32, StateWord)> {
        let o = Objects::of(self.region);
        if !self.state.recycled.is_empty() {
            if let Some(found) = self.claim_recycled(class, flags) {
                return Some(found);
            }
        }
        let found = o.claim(self.me, self.state.desc_cursor.load(Ordering::Relaxed), flags)?;
        self.state.desc_cursor.store(found.0 as usize / 64, Ordering::Relaxed);
        Some(found)
    }

    /// The size class an allocation of `total` bytes is served from, or
    /// None for a run of pages. A class whose slab (at least 8 blocks) is
    /// larger than the whole arena is served by a run instead: otherwise a
    /// small store could never hold objects of that class, not even empty.
    #[inline]
    pub(crate) fn slab_class(&self, total: u64) -> Option<usize> {
        self.slab_class_of(class_for(total))
    }

    /// `slab_class` for bytes whose `class_for` is `class`.
    #[inline]
    pub(crate) fn slab_class_of(&self, class: Option<usize>) -> Option<usize> {
        class.filter(|&c| c < self.region.slab_classes())
    }

    /// Largest footprint the store could ever hold.
    pub(crate) fn max_footprint(&self) -> u64 {
        self.region.layout().params.capacity
    }

    /// Reserves backing store for arena pages `start..start+count`.
    pub(crate) fn reserve(&self, start: u64, count: u64) -> Result<()> {
        let pages = self.region.pages();
        let layout = self.region.layout();
        let ps = layout.params.page_size;
        for r in pages.unreserved_regions(start, count).collect::<Vec<_>>() {
            let first = r * REGION_PAGES;
            let n = REGION_PAGES.min(layout.pages - first);
            let off = layout.arena as u64 + first * ps;
            let fd = self.backing.fd().ok_or_else(|| {
                err!(
                    InvalidArgument,
                    "this store handle was opened by another process (before a fork); open the store again"
                )
            })?;
            platform::fallocate(fd, off, n * ps).map_err(|e| {
                let dir = self.backing.path.parent().unwrap_or(Path::new("."));
                let err = Error::os(
                    format!(
                        "cannot reserve {} MiB of backing memory for the store in '{}'",
                        (n * ps) >> 20,
                        dir.display()
                    ),
                    e,
                );
                if err.kind() == crate::ErrorKind::OutOfMemory {
                    err!(OutOfMemory, "{} (the file system is full)", err.message())
                } else {
                    err
                }
            })?;
            pages.mark_reserved(r);
        }
        Ok(())
    }

    /// Claims and reserves `count` pages (CLAIMED by us). Ok(None): none free.
    pub(crate) fn claim_pages(&self, count: u64) -> Result<Option<u64>> {
        let pages = self.region.pages();
        let Some(start) = pages.claim_run(count, self.me) else { return Ok(None) };
        if let Err(e) = self.reserve(start, count) {
            pages.free_pages(start, count, |_| PageEntry::Claimed { slot: self.me });
            return Err(e);
        }
        Ok(Some(start))
    }

    /// `try_allocate(d, total, false, None)` for bytes whose `class_for`
    /// is `class`: the common case, a block of the slab the class cache
    /// names, is in line; the rest (adopting or creating a slab, a run of
    /// pages) is out of line, with the cache still locked.
    #[inline]
    pub(crate) fn try_allocate_first(&self, d: u32, total: u64, class: Option<usize>) -> Result<Option<u64>> {
        let Some(class) = self.slab_class_of(class) else {
            return self.try_allocate(d, total, false, None);
        };
        let (mut cache, hazard) = self.class_cache(class);
        let desc = self.region.descriptors();
        if let Some(off) = self.region.slabs(self.me).alloc_from_cached(&mut cache, class, d, &desc, hazard) {
            return Ok(Some(off));
        }
        self.alloc_elsewhere(&mut cache, class, d, hazard)
    }

    /// The rest of `try_allocate_first` in a slab class, once the slab the
    /// cache names had no block: what `try_allocate` does next (without
    /// claimed pages or a scan of the class's slabs).
    #[cold]
    #[inline(never)]
    fn alloc_elsewhere(&self, cache: &mut ClassCache, class: usize, d: u32, hazard: &AtomicU64) -> Result<Option<u64>> {
        let desc = self.region.descriptors();
        self.region.slabs(self.me).alloc_elsewhere(cache, class, d, &desc, hazard, &mut |n| self.claim_pages(n))
    }

    /// One allocation attempt of `total` bytes for descriptor `d` (held
    /// RESERVED by us), recording the location in it. Returns the payload's
    /// arena offset. `scan_slabs`: also look through every slab of the
    /// class for a free block. `claimed`: a run of pages this process holds
    /// CLAIMED for it (see `spill::Spiller::make_room`), freed again if not
    /// used.
    pub(crate) fn try_allocate(
        &self,
        d: u32,
        total: u64,
        scan_slabs: bool,
        claimed: Option<(u64, u64)>,
    ) -> Result<Option<u64>> {
        let mut claimed = claimed;
        let result = match self.slab_class(total) {
            Some(class) => {
                let (mut cache, hazard) = self.class_cache(class);
                let slabs = self.region.slabs(self.me);
                let desc = self.region.descriptors();
                let mut new_pages = |n: u64| match claimed.take() {
                    Some((start, count)) if count == n => self.reserve(start, count).map(|()| Some(start)),
                    other => {
                        claimed = other;
                        self.claim_pages(n)
                    }
                };
                let r = slabs.alloc(&mut cache, class, d, &desc, hazard, &mut new_pages)?;
                if r.is_some() || !scan_slabs {
                    Ok(r)
                } else if slabs.adopt_by_scan(&mut cache, class, hazard) {
                    slabs.alloc(&mut cache, class, d, &desc, hazard, &mut |_| Ok(None))
                } else {
                    Ok(None)
                }
            }
            None => {
                let loc = self.region.descriptors().word(d, w::LOC);
                let ps = self.region.layout().params.page_size;
                let count = total.div_ceil(ps);
                let start = match claimed.take() {
                    Some((start, n)) if n == count => self.reserve(start, count).map(|()| Some(start)),
                    other => {
                        claimed = other;
                        self.claim_pages(count)
                    }
                };
                match start {
                    Ok(Some(start)) => {
                        loc.store(Location::Run { page: start }.encode(), Ordering::SeqCst);
                        self.region.pages().set_claimed(start, count, self.me, |_| PageEntry::Run { d });
                        Ok(Some(start * ps))
                    }
                    other => other,
                }
            }
        };
        if let Some((start, count)) = claimed {
            self.region.pages().free_pages(start, count, |_| PageEntry::Claimed { slot: self.me });
        }
        result
    }

    /// Adopts any slab of the class of `total` bytes that has a free block.
    pub(crate) fn adopt_any_slab(&self, total: u64) -> bool {
        let Some(class) = self.slab_class(total) else { return false };
        let (mut cache, hazard) = self.class_cache(class);
        self.region.slabs(self.me).adopt_by_scan(&mut cache, class, hazard)
    }

    /// Returns empty slabs to the page pool, taking them from the processes
    /// that keep them (this one included: its next allocation of the class
    /// notices and moves on); pages freed. The last resort of an allocation
    /// that found no room: an idle process that used a class once would
    /// otherwise keep its empty slab for good.
    pub(crate) fn retire_empty_slabs(&self) -> u64 {
        let (_g, hazard) = self.general_hazard();
        self.region.slabs(self.me).retire_empty(hazard, true)
    }

    /// Gives up the slab of every class (at detach).
    pub(crate) fn disown_all(&self) {
        let slabs = self.region.slabs(self.me);
        for class in 0..NCLASSES {
            let (mut cache, hazard) = self.class_cache(class);
            slabs.disown_cached(&mut cache, class, hazard);
        }
    }

    /// Bytes of arena a descriptor snapshot holds, if it holds any.
    pub(crate) fn held_bytes(&self, s: &Snapshot) -> Option<u64> {
        let total = footprint(s.data_len, s.meta_len as u64)?;
        match Location::decode(s.loc)? {
            Location::Run { .. } => total.checked_next_multiple_of(self.region.layout().params.page_size),
            Location::Block { .. } => class_for(total).map(|c| self.region.classes()[c].size),
            Location::None
            | Location::SlabIntent { .. }
            | Location::Successor { .. }
            | Location::Tombstone
            | Location::OnDisk { .. } => None,
        }
    }

    /// Memory held by objects now (blocks and runs), by scanning descriptors.
    /// Blocks that free descriptors keep are not counted: any allocation
    /// that needs them takes them back.
    pub(crate) fn used_bytes(&self) -> u64 {
        let desc = self.region.descriptors();
        (0..desc.count() as u32)
            .filter_map(|d| desc.snapshot(d))
            .filter(|s| !s.state.is(State::Free))
            .filter_map(|s| self.held_bytes(&s))
            .fold(0u64, u64::saturating_add)
    }

    /// Arena offset of the payload at `loc` for an object of `total` bytes,
    /// bounds-checked against the arena (see `Region::payload_offset`).
    #[inline]
    pub(crate) fn payload_offset(&self, loc: u64, total: u64) -> Option<u64> {
        self.region.payload_offset(loc, total)
    }
}

/// Frees object memory for the object protocol (`lifecycle::Memory`).
/// Careful: it is finishing a step someone else started (reclaim, a
/// helper) and protects slabs before touching them; otherwise it is the
/// live owner of the step.
pub(crate) struct Freer<'a> {
    alloc: Allocator<'a>,
    careful: bool,
    /// A descriptor freed keeps its slab block (see `Allocator::freer`).
    keep_blocks: bool,
}

/// A block a claimed descriptor kept from its last life, taken for the new
/// one (`Allocator::take_kept_block`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeptBlock {
    /// Its location word (a Block).
    loc: u64,
    /// The payload's arena offset.
    offset: u64,
}

impl Memory for Freer<'_> {
    fn release(&self, d: u32, loc: u64, data_len: u64, meta_len: u32) {
        let Some(loc) = Location::decode(loc) else { return };
        let Some(total) = footprint(data_len, meta_len as u64) else { return };
        let region = self.alloc.region;
        let me = self.alloc.me;
        let slabs = region.slabs(me);
        let general = region.procs().hazard(me, 0);
        match loc {
            Location::None | Location::Successor { .. } | Location::Tombstone | Location::OnDisk { .. } => {}
            Location::Run { page } => {
                let count = total.div_ceil(region.layout().params.page_size).max(1);
                region.pages().free_pages(page, count, |_| PageEntry::Run { d });
            }
            Location::Block { page, block } => {
                if let Some(class) = class_for(total) {
                    // A drained slab nobody allocates from goes back to the
                    // page pool now (see `free_block`). Skipped when another
                    // thread of this process holds the general hazard: the
                    // slab then waits for the next pressure.
                    let careful = self.careful.then_some(general);
                    if slabs.free_block(d, page, block, class, careful) {
                        if let Some(_g) = self.alloc.state.general_hazard.try_lock() {
                            slabs.retire_if_empty(page, class, general, false);
                        }
                    }
                }
            }
            // Only a dead allocator leaves an intent behind; its block, if it
            // claimed one, names `d`.
            Location::SlabIntent { page } => {
                if self.careful {
                    slabs.free_intent(d, page, general);
                } else {
                    let _g = self.alloc.state.general_hazard.lock();
                    slabs.free_intent(d, page, general);
                }
            }
        }
    }

    fn release_shared(&self, d: u32, loc: u64, data_len: u64, meta_len: u32) {
        if self.careful {
            self.release(d, loc, data_len, meta_len);
        } else {
            // The careful freer's hazard is the process's general one.
            let _g = self.alloc.state.general_hazard.lock();
            Freer { alloc: self.alloc, careful: true, keep_blocks: false }.release(d, loc, data_len, meta_len);
        }
    }

    fn keep_block(&self, d: u32, data_len: u64, meta_len: u32) -> bool {
        self.keep_blocks
            && footprint(data_len, meta_len as u64)
                .and_then(class_for)
                .is_some_and(|class| self.alloc.state.recycled.remember(d, class))
    }

    fn remove_spill_file(&self, d: u32, key: &[u64; 3], gen: u64) {
        // The attempt's tag is in the descriptor, still ours.
        let tag = self.alloc.region.descriptors().spill_tag(d);
        super::spill_files::remove(self.alloc.region.layout(), key, d, gen, tag);
    }
}
