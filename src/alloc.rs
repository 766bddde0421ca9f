//! Allocation of object memory: slab blocks for objects up to 256 KiB, runs
//! of whole pages above that. Every payload starts on a 64-byte boundary.
//!
//! An allocation is always made on behalf of a descriptor this process holds
//! RESERVED, and its location is written into that descriptor before or
//! together with the claim (see `slab` and `pages`), so a reclaimer can
//! always find and free what a dead process was allocating.
//!
//! When memory runs short the allocator, in order: reclaims dead processes,
//! returns empty slabs to the page pool and adopts any slab with room, and
//! finally gives OUT_OF_MEMORY.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::attach::Attachment;
use crate::descriptor::{w, Location};
use crate::error::{err, Result};
use crate::objects::Memory;
use crate::pages::PageEntry;
use crate::slab::class_for;
use crate::spill::Room;

/// Rounds of making room an allocation may run before it gives up.
const MAX_SPILL_ROUNDS: usize = 256;

/// Waiting for other processes' steps to settle while making room: short
/// sleeps, growing, for at most `Backoff::LIMIT` in all.
struct Backoff {
    next: Duration,
    waited: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_micros(20);
    const MAX_SLEEP: Duration = Duration::from_millis(5);
    const LIMIT: Duration = Duration::from_secs(1);

    fn new() -> Backoff {
        Backoff { next: Self::FIRST, waited: Duration::ZERO }
    }

    /// Sleeps a little; false once the limit is spent.
    fn wait(&mut self) -> bool {
        if self.waited >= Self::LIMIT {
            return false;
        }
        std::thread::sleep(self.next);
        self.waited += self.next;
        self.next = (self.next * 2).min(Self::MAX_SLEEP);
        true
    }
}

/// Bytes an object occupies: data padded to 64, then metadata.
pub(crate) fn footprint(data_len: u64, meta_len: u64) -> Option<u64> {
    data_len.checked_next_multiple_of(64)?.checked_add(meta_len)
}

/// Frees object memory for `Objects`. With a hazard, it is finishing a
/// step someone else started (reclaim) and protects slabs before touching
/// them; without, it is the live owner of the FREEING step.
pub(crate) struct Freer<'a> {
    pub att: &'a Attachment,
    pub hazard: Option<&'a AtomicU64>,
}

impl Memory for Freer<'_> {
    fn release(&self, d: u32, loc: u64, data_len: u64, meta_len: u32) {
        let Some(loc) = Location::decode(loc) else { return };
        let Some(total) = footprint(data_len, meta_len as u64) else { return };
        let slabs = self.att.slabs();
        match loc {
            Location::None | Location::Successor { .. } | Location::Tombstone | Location::OnDisk { .. } => {}
            Location::Run { page } => {
                let count = total.div_ceil(self.att.layout.params.page_size).max(1);
                self.att.pages().free_pages(page, count, |_| PageEntry::Run { d });
            }
            Location::Block { page, block } => {
                if let Some(class) = class_for(total) {
                    // A drained slab nobody allocates from goes back to the
                    // page pool now (see `free_block`). Skipped when another
                    // thread of this process holds the general hazard: the
                    // slab then waits for the next pressure, as before.
                    if slabs.free_block(d, page, block, class, self.hazard) {
                        if let Ok(_g) = self.att.general_hazard.try_lock() {
                            slabs.retire_if_empty(page, class, self.att.procs().hazard(self.att.slot, 0), false);
                        }
                    }
                }
            }
            // Only a dead allocator leaves an intent behind; its block, if it
            // claimed one, names `d`.
            Location::SlabIntent { page } => match self.hazard {
                Some(hz) => slabs.free_intent(d, page, hz),
                None => {
                    let _g = self.att.general_hazard.lock().unwrap_or_else(|p| p.into_inner());
                    slabs.free_intent(d, page, self.att.procs().hazard(self.att.slot, 0));
                }
            },
        }
    }

    fn remove_spill_file(&self, d: u32, key: &[u64; 3], gen: u64) {
        // The attempt's tag is in the descriptor (its INFO word), still ours.
        let tag = (self.att.objects().desc.word(d, w::INFO).load(Ordering::Acquire) >> 32) as u32;
        if let Some(p) = self.att.spill_path(key, d, gen, tag, false) {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Attachment {
    /// Claims a free descriptor for this process (reclaiming dead processes
    /// first if the table looks full).
    pub(crate) fn claim_descriptor(&self) -> Result<(u32, crate::descriptor::StateWord)> {
        let o = self.objects();
        let found = match o.claim(self.slot, self.desc_cursor()) {
            Some(x) => x,
            None => {
                self.collect()?;
                o.claim(self.slot, self.desc_cursor()).ok_or_else(|| {
                    err!(OutOfMemory, "object table is full: all {} object slots are in use", o.desc.count())
                })?
            }
        };
        self.set_desc_cursor(found.0);
        Ok(found)
    }

    /// The size class an allocation of `total` bytes is served from, or
    /// None for a run of pages. A class whose slab (at least 8 blocks) is
    /// larger than the whole arena is served by a run instead: otherwise a
    /// small store could never hold objects of that class, not even empty.
    pub(crate) fn slab_class(&self, total: u64) -> Option<usize> {
        class_for(total).filter(|&c| self.classes[c].span <= self.layout.pages)
    }

    /// The non-reclaim freer.
    pub(crate) fn freer(&self) -> Freer<'_> {
        Freer { att: self, hazard: None }
    }

    /// Largest footprint the store could ever hold.
    pub(crate) fn max_footprint(&self) -> u64 {
        self.layout.params.capacity
    }

    /// Claims and reserves `count` pages (CLAIMED by us). Ok(None): none free.
    pub(crate) fn claim_pages(&self, count: u64) -> Result<Option<u64>> {
        let pages = self.pages();
        let Some(start) = pages.claim_run(count, self.slot) else { return Ok(None) };
        if let Err(e) = self.reserve(start, count) {
            pages.free_pages(start, count, |_| PageEntry::Claimed { slot: self.slot });
            return Err(e);
        }
        Ok(Some(start))
    }

    /// Allocates `total` bytes for descriptor `d` (held RESERVED by us) and
    /// records the location in it. Returns the payload's arena offset.
    pub(crate) fn allocate(&self, d: u32, total: u64) -> Result<u64> {
        if total > self.max_footprint() {
            return Err(err!(TooLarge, "an object of {total} bytes cannot fit a store of {} bytes", self.max_footprint()));
        }
        if let Some(off) = self.try_allocate(d, total, false, None)? {
            return Ok(off);
        }
        // Pressure, step by step: reclaim dead processes; with a spill
        // directory, make room (free pages and empty slabs first, then
        // spilling); then return empty slabs to the page pool and adopt any
        // slab with room.
        self.collect()?;
        if self.spill_dir.is_some() {
            let mut waiting = Backoff::new();
            for _ in 0..MAX_SPILL_ROUNDS {
                if let Some(off) = self.try_allocate(d, total, false, None)? {
                    return Ok(off);
                }
                match self.make_room(total)? {
                    Room::Claimed { start, count } => {
                        if let Some(off) = self.try_allocate(d, total, false, Some((start, count)))? {
                            return Ok(off);
                        }
                    }
                    Room::Progress => {}
                    // Others are in the middle of steps that settle in
                    // microseconds (or are stopped, and never do).
                    Room::Busy => {
                        if !waiting.wait() {
                            break;
                        }
                    }
                    Room::Exhausted => break,
                }
            }
        }
        for attempt in 1..3 {
            if let Some(off) = self.try_allocate(d, total, attempt >= 2, None)? {
                return Ok(off);
            }
            if attempt == 1 {
                let _g = self.general_hazard.lock().unwrap_or_else(|p| p.into_inner());
                self.slabs().retire_empty(self.procs().hazard(self.slot, 0));
            }
        }
        let how = if self.spill_dir.is_some() {
            "and what it holds cannot move (pinned or unsealed objects)"
        } else {
            "(no spill directory)"
        };
        Err(err!(
            OutOfMemory,
            "store is full {how}: no room for an object of {total} bytes ({} of {} bytes in use)",
            self.used_bytes(),
            self.layout.params.capacity
        ))
    }

    /// One allocation attempt. `claimed`: a run of pages this process
    /// holds CLAIMED for it (see `make_room`); freed again if not used.
    fn try_allocate(&self, d: u32, total: u64, scan_slabs: bool, claimed: Option<(u64, u64)>) -> Result<Option<u64>> {
        let loc = self.objects().desc.word(d, w::LOC);
        let ps = self.layout.params.page_size;
        let mut claimed = claimed;
        let result = match self.slab_class(total) {
            Some(class) => {
                let mut cache = self.caches[class].lock().unwrap_or_else(|p| p.into_inner());
                let slabs = self.slabs();
                let hazard = self.procs().hazard(self.slot, 1 + class);
                let desc = self.objects().desc;
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
                        self.pages().set_claimed(start, count, self.slot, |_| PageEntry::Run { d });
                        Ok(Some(start * ps))
                    }
                    other => other,
                }
            }
        };
        if let Some((start, count)) = claimed {
            self.pages().free_pages(start, count, |_| PageEntry::Claimed { slot: self.slot });
        }
        result
    }

    /// Memory held by objects now (blocks and runs), by scanning descriptors.
    pub(crate) fn used_bytes(&self) -> u64 {
        let o = self.objects();
        let mut used = 0u64;
        for d in 0..o.desc.count() as u32 {
            if let Some(s) = o.desc.snapshot(d) {
                if let Some(n) = self.held_bytes(&s) {
                    used = used.saturating_add(n);
                }
            }
        }
        used
    }

    /// Bytes of arena a descriptor snapshot holds, if it holds any.
    pub(crate) fn held_bytes(&self, s: &crate::descriptor::Snapshot) -> Option<u64> {
        let total = footprint(s.data_len, s.meta_len as u64)?;
        match Location::decode(s.loc)? {
            Location::Run { .. } => total.checked_next_multiple_of(self.layout.params.page_size),
            Location::Block { .. } => class_for(total).map(|c| self.classes[c].size),
            _ => None,
        }
    }

    /// Arena offset of the payload at `loc` for an object of `total` bytes,
    /// bounds-checked against the arena.
    pub(crate) fn payload_offset(&self, loc: u64, total: u64) -> Option<u64> {
        let ps = self.layout.params.page_size;
        let off = match Location::decode(loc)? {
            Location::Run { page } => {
                let count = total.div_ceil(ps).max(1);
                if page.checked_add(count)? > self.layout.pages {
                    return None;
                }
                page * ps
            }
            Location::Block { page, block } => self.slabs().block_offset(page, class_for(total)?, block)?,
            _ => return None,
        };
        (off.checked_add(total)? <= self.layout.params.capacity).then_some(off)
    }
}
