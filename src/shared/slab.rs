//! Slabs: runs of pages cut into equal blocks, for objects up to 256 KiB.
//!
//! A slab's first bytes are its header: an info word (magic, class), the
//! owner word (slot + 1 of the one process allocating from it, 0 if none),
//! a free-hint counter, then one 32-bit owner word per block: 0 = free,
//! `d + 1` = held by descriptor `d`. Blocks start on a 64-byte boundary.
//!
//! Invariants:
//! - Only the slab's owner process turns a block word 0 -> d+1 (it writes
//!   `Location::SlabIntent` into the descriptor first, so a reclaimer knows
//!   which slab to search if it dies mid-claim). Anyone holding descriptor
//!   `d`'s FREEING step turns d+1 -> 0. So every step is a CAS naming its
//!   descriptor, and repeating it is harmless.
//! - A process touches a slab's pages only while it holds a block in it, or
//!   while it names the slab in one of its hazard words and has re-checked,
//!   after naming it, that the head page is still this slab's head (and, for
//!   the owner's own steps, that it still owns it). The owner allocating
//!   does this too, on every allocation: so another process may take a slab
//!   away from a live owner (under memory pressure, to make a contiguous
//!   run of pages), and a stopped owner blocks nobody.
//! - A slab is retired (its pages freed) by a process that has made itself
//!   its owner (from no owner, or by taking it from another), and only when
//!   every block word is 0. Retiring marks the head page SLAB_RETIRING, then
//!   checks every hazard word of every process, then checks the block words
//!   again (SeqCst throughout): an allocator that named the slab before the
//!   take is either still named (retiring backs off) or done, its block
//!   visible to the second check; one that names it later sees the take or
//!   the mark and backs off. So no process reads or writes pages that have
//!   gone back to the free pool and may hold someone's object.
//! - Ownership of a slab is recorded twice: in the header and in the owner
//!   process's slot (`OWNED_SLAB[class]`, written first), so a reclaimer
//!   finds the slabs of a dead process without scanning the arena. The
//!   header is the authority: a slot word naming a slab that was taken away
//!   is stale, and every use of it re-checks the header.

use super::classes::{SizeClass, NCLASSES, SLAB_HEADER_BYTES};
use super::descriptor::{w, Descriptors, Location};
#[cfg(not(loom))]
use super::mapping::Mapping;
use super::pages::{PageEntry, Pages};
use super::proctable::{ProcTable, W_OWNED_SLABS, W_RETIRING};
use super::sync::{dekker_fence, AtomicU32, AtomicU64, Ordering};
use crate::error::Result;

/// Hint slots per class: recently freed-into slabs, for adoption.
pub(crate) const HINTS_PER_CLASS: usize = 16;
/// Words of the slab hint section.
pub(crate) const HINT_WORDS: usize = NCLASSES * HINTS_PER_CLASS;

const H_INFO: usize = 0;
const H_OWNER: usize = 1;
const H_FREE_HINT: usize = 2;
const HEADER_WORDS: usize = (SLAB_HEADER_BYTES / 8) as usize;
const SLAB_MAGIC: u64 = 0x534c_4142;

/// Where slabs' header and block words live: in the arena of the store's
/// mapping, or (in the loom models) on the heap.
pub(crate) trait SlabSpace {
    /// The header words of the slab whose head page is `head`.
    fn header(&self, head: u64) -> Option<&[AtomicU64]>;
    /// Its first `blocks` block owner words.
    fn block_words(&self, head: u64, blocks: usize) -> Option<&[AtomicU32]>;
}

/// Slabs in the arena of a mapping.
#[cfg(not(loom))]
pub(crate) struct ArenaSpace<'a> {
    pub map: &'a Mapping,
    /// Offset of the arena in the mapping.
    pub arena: usize,
    pub page_size: u64,
}

#[cfg(not(loom))]
impl SlabSpace for ArenaSpace<'_> {
    #[inline]
    fn header(&self, head: u64) -> Option<&[AtomicU64]> {
        let at = self.arena.checked_add(usize::try_from(head.checked_mul(self.page_size)?).ok()?)?;
        self.map.u64s(at, HEADER_WORDS)
    }
    #[inline]
    fn block_words(&self, head: u64, blocks: usize) -> Option<&[AtomicU32]> {
        let at = self.arena.checked_add(usize::try_from(head.checked_mul(self.page_size)?).ok()?)?;
        self.map.u32s(at + SLAB_HEADER_BYTES as usize, blocks)
    }
}

/// A process's view of the slab it allocates from in one class.
#[derive(Debug, Default)]
pub(crate) struct ClassCache {
    pub slab: Option<u64>,
    /// Blocks this process believes free (1 bits).
    free: Vec<u64>,
    /// Words of `free` before this one are all 0 (blocks are taken in
    /// order, so a take need not scan them again).
    first: usize,
}

impl ClassCache {
    fn take(&mut self) -> Option<u32> {
        while let Some(w) = self.free.get_mut(self.first) {
            if *w != 0 {
                let b = w.trailing_zeros();
                *w &= *w - 1;
                return Some(self.first as u32 * 64 + b);
            }
            self.first += 1;
        }
        None
    }

    /// Starts on a new slab of `blocks` blocks, all free.
    #[cold]
    fn start_new(&mut self, head: u64, blocks: usize) {
        self.slab = Some(head);
        let mut free = vec![!0u64; blocks.div_ceil(64)];
        if !blocks.is_multiple_of(64) {
            *free.last_mut().expect("at least one word") = (1u64 << (blocks % 64)) - 1;
        }
        self.reset(free);
    }

    /// Starts over with the free set `free`.
    fn reset(&mut self, free: Vec<u64>) {
        self.free = free;
        self.first = 0;
    }
}

/// Slab operations for process slot `me`.
pub(crate) struct Slabs<'a, S: SlabSpace> {
    pub space: S,
    pub page_size: u64,
    pub classes: &'a [SizeClass],
    pub pages: Pages<'a>,
    pub procs: ProcTable<'a>,
    pub hints: &'a [AtomicU64],
    pub me: u32,
}

impl<'a, S: SlabSpace> Slabs<'a, S> {
    #[inline]
    fn header(&self, head: u64) -> Option<&[AtomicU64]> {
        self.space.header(head)
    }

    #[inline]
    fn block_words(&self, head: u64, class: usize) -> Option<&[AtomicU32]> {
        let c = self.classes.get(class)?;
        if head.checked_add(c.span)? > self.pages.count() {
            return None;
        }
        self.space.block_words(head, c.blocks as usize)
    }

    /// The arena offset of block `block` of the `class` slab at `head`, if
    /// descriptor `d` holds it (its word names it).
    #[inline]
    pub(crate) fn held_block_offset(&self, head: u64, class: usize, block: u32, d: u32) -> Option<u64> {
        let c = self.classes.get(class)?;
        let word = self.block_words(head, class)?.get(block as usize)?;
        if word.load(Ordering::SeqCst) != d.wrapping_add(1) {
            return None;
        }
        // The block's offset needs no more checks: `block_words` found the
        // slab inside the arena (head + span <= pages) and has one word per
        // block of the class, so `block` (an index into it) < blocks.
        Some(head * self.page_size + c.blocks_off + block as u64 * c.size)
    }

    fn owned_word(&self, class: usize) -> &'a AtomicU64 {
        self.procs.word(self.me, W_OWNED_SLABS + class)
    }

    /// Names `head` in `hazard` and checks that it is (still) a slab head of
    /// `class` (any class if None). On false the hazard is cleared.
    #[inline]
    fn protect(&self, hazard: &AtomicU64, head: u64, class: Option<usize>) -> bool {
        hazard.store(head + 1, Ordering::SeqCst);
        // Dekker with `finish_retire`: name the slab, then look at it.
        dekker_fence();
        let ok = match self.pages.load(head) {
            PageEntry::SlabHead { class: c, span } => {
                class.is_none_or(|k| c as usize == k)
                    && self.classes.get(c as usize).is_some_and(|k| k.span == span as u64)
            }
            _ => false,
        };
        if !ok {
            hazard.store(0, Ordering::SeqCst);
        }
        ok
    }

    // ----- allocation by the owner -----------------------------------------

    /// Allocates a block of `class` for descriptor `d`, writing its location
    /// into the descriptor. `new_pages(n)` claims and reserves `n` pages
    /// (CLAIMED by us). Ok(None): no slab with room and no pages for one.
    ///
    /// The common case, a block of the slab the cache names, is this
    /// function; the rest (`alloc_elsewhere`) is out of line.
    #[inline]
    pub(crate) fn alloc(
        &self,
        cache: &mut ClassCache,
        class: usize,
        d: u32,
        desc: &Descriptors<'_>,
        hazard: &AtomicU64,
        new_pages: &mut dyn FnMut(u64) -> Result<Option<u64>>,
    ) -> Result<Option<u64>> {
        if let Some(off) = self.alloc_from_cached(cache, class, d, desc, hazard) {
            return Ok(Some(off));
        }
        self.alloc_elsewhere(cache, class, d, desc, hazard, new_pages)
    }

    /// A block of the slab the cache names, if it names one that this
    /// process still owns and that has a free block; otherwise the cache
    /// names no slab afterwards.
    #[inline(always)]
    pub(crate) fn alloc_from_cached(
        &self,
        cache: &mut ClassCache,
        class: usize,
        d: u32,
        desc: &Descriptors<'_>,
        hazard: &AtomicU64,
    ) -> Option<u64> {
        let head = cache.slab?;
        if !self.protect_owned(hazard, head, class) {
            // Taken away (retired under pressure): forget it.
            cache.slab = None;
            self.forget_owned(head, class);
            return None;
        }
        let got = self.alloc_in_owned(cache, head, class, d, desc);
        hazard.store(0, Ordering::Release);
        if got.is_none() {
            cache.slab = None;
        }
        got
    }

    /// `alloc` once the slab the cache names (if any) had no block left:
    /// adopts a slab with room or creates one, and allocates there.
    #[cold]
    #[inline(never)]
    pub(crate) fn alloc_elsewhere(
        &self,
        cache: &mut ClassCache,
        class: usize,
        d: u32,
        desc: &Descriptors<'_>,
        hazard: &AtomicU64,
        new_pages: &mut dyn FnMut(u64) -> Result<Option<u64>>,
    ) -> Result<Option<u64>> {
        loop {
            if let Some(off) = self.alloc_from_cached(cache, class, d, desc, hazard) {
                return Ok(Some(off));
            }
            if self.adopt_hinted(cache, class, hazard) {
                continue;
            }
            match self.create(class, new_pages)? {
                Some(head) => cache.start_new(head, self.classes[class].blocks as usize),
                None => return Ok(None),
            }
        }
    }

    /// Claims a free block of the slab `head`, which this process owns and
    /// names in its class hazard, for descriptor `d`. None (the slab
    /// disowned) when it has no free block left. In line in
    /// `alloc_from_cached`, so in a put's allocation: called, it had its
    /// own prologue and the slab view built in memory for it.
    #[inline(always)]
    fn alloc_in_owned(
        &self,
        cache: &mut ClassCache,
        head: u64,
        class: usize,
        d: u32,
        desc: &Descriptors<'_>,
    ) -> Option<u64> {
        let loc = desc.word(d, w::LOC);
        let words = self.block_words(head, class)?;
        let c = self.classes.get(class)?;
        loop {
            if let Some(b) = cache.take() {
                let Some(word) = words.get(b as usize) else { continue };
                loc.store(Location::SlabIntent { page: head }.encode(), Ordering::SeqCst);
                if word.compare_exchange(0, d + 1, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    loc.store(Location::Block { page: head, block: b }.encode(), Ordering::SeqCst);
                    // The block's offset needs no more checks:
                    // `block_words` found the slab inside the arena (head +
                    // span <= pages) and `words` has one word per block of
                    // the class, so `b` (an index into it) < blocks.
                    return Some(head * self.page_size + c.blocks_off + b as u64 * c.size);
                }
                loc.store(Location::None.encode(), Ordering::SeqCst);
                continue;
            }
            if self.rescan(cache, head, class) {
                continue;
            }
            self.disown(head, class);
            return None;
        }
    }

    /// Names `head` in `hazard` and checks that it is a slab of `class`
    /// that this process owns. On false the hazard is cleared.
    #[inline]
    fn protect_owned(&self, hazard: &AtomicU64, head: u64, class: usize) -> bool {
        if !self.protect(hazard, head, Some(class)) {
            return false;
        }
        let owned = self.header(head).is_some_and(|h| h[H_OWNER].load(Ordering::SeqCst) == self.me as u64 + 1);
        if !owned {
            hazard.store(0, Ordering::SeqCst);
        }
        owned
    }

    /// Clears this process's record of owning `head` in `class`, if it
    /// still names that slab.
    #[cold]
    #[inline(never)]
    fn forget_owned(&self, head: u64, class: usize) {
        let _ = self.owned_word(class).compare_exchange(head + 1, 0, Ordering::SeqCst, Ordering::Relaxed);
    }

    /// Rebuilds the cache's free set from the block words; true if any.
    #[cold]
    #[inline(never)]
    fn rescan(&self, cache: &mut ClassCache, head: u64, class: usize) -> bool {
        let Some(words) = self.block_words(head, class) else { return false };
        if let Some(h) = self.header(head) {
            h[H_FREE_HINT].store(0, Ordering::Relaxed);
        }
        let mut free = vec![0u64; words.len().div_ceil(64)];
        let mut any = false;
        for (i, wd) in words.iter().enumerate() {
            if wd.load(Ordering::Relaxed) == 0 {
                free[i / 64] |= 1 << (i % 64);
                any = true;
            }
        }
        cache.reset(free);
        any
    }

    /// Gives up ownership of a slab (it stays a slab; anyone may adopt it).
    /// The caller names the slab in a hazard.
    #[cold]
    #[inline(never)]
    fn disown(&self, head: u64, class: usize) {
        if let Some(h) = self.header(head) {
            let _ = h[H_OWNER].compare_exchange(self.me as u64 + 1, 0, Ordering::SeqCst, Ordering::Relaxed);
        }
        self.forget_owned(head, class);
    }

    /// Gives up the slab `cache` allocates from, if any. `hazard` is the
    /// class's hazard word (held by the caller's lock on the cache).
    pub(crate) fn disown_cached(&self, cache: &mut ClassCache, class: usize, hazard: &AtomicU64) {
        if let Some(head) = cache.slab.take() {
            if self.protect_owned(hazard, head, class) {
                self.disown(head, class);
                hazard.store(0, Ordering::SeqCst);
            } else {
                self.forget_owned(head, class);
            }
        }
    }

    /// Takes ownership of an unowned slab. The caller holds a hazard on it.
    fn try_adopt(&self, cache: &mut ClassCache, head: u64, class: usize) -> bool {
        let Some(h) = self.header(head) else { return false };
        if h[H_OWNER].load(Ordering::SeqCst) != 0 {
            return false;
        }
        self.owned_word(class).store(head + 1, Ordering::SeqCst);
        if h[H_OWNER].compare_exchange(0, self.me as u64 + 1, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            self.owned_word(class).store(0, Ordering::SeqCst);
            return false;
        }
        if self.rescan(cache, head, class) {
            cache.slab = Some(head);
            true
        } else {
            self.disown(head, class);
            false
        }
    }

    /// Adopts a slab of `class` named in the class's hint slots, if one has room.
    #[cold]
    #[inline(never)]
    fn adopt_hinted(&self, cache: &mut ClassCache, class: usize, hazard: &AtomicU64) -> bool {
        let slots = &self.hints[class * HINTS_PER_CLASS..(class + 1) * HINTS_PER_CLASS];
        for slot in slots {
            let v = slot.load(Ordering::Relaxed);
            if v == 0 {
                continue;
            }
            let _ = slot.compare_exchange(v, 0, Ordering::Relaxed, Ordering::Relaxed);
            let head = v - 1;
            if self.protect(hazard, head, Some(class)) {
                let ok = self.try_adopt(cache, head, class);
                hazard.store(0, Ordering::SeqCst);
                if ok {
                    return true;
                }
            }
        }
        false
    }

    /// Adopts any slab of `class` with a free block: the slow path when no
    /// new pages are left.
    pub(crate) fn adopt_by_scan(&self, cache: &mut ClassCache, class: usize, hazard: &AtomicU64) -> bool {
        self.disown_cached(cache, class, hazard);
        for head in 0..self.pages.count() {
            if matches!(self.pages.load(head), PageEntry::SlabHead { class: c, .. } if c as usize == class)
                && self.protect(hazard, head, Some(class))
            {
                let ok = self.try_adopt(cache, head, class);
                hazard.store(0, Ordering::SeqCst);
                if ok {
                    return true;
                }
            }
        }
        false
    }

    /// Builds a new slab of `class` on fresh pages, owned by us.
    #[cold]
    #[inline(never)]
    fn create(&self, class: usize, new_pages: &mut dyn FnMut(u64) -> Result<Option<u64>>) -> Result<Option<u64>> {
        let c = self.classes[class];
        let Some(head) = new_pages(c.span)? else { return Ok(None) };
        let (Some(h), Some(words)) = (self.header(head), self.block_words(head, class)) else {
            self.pages.free_pages(head, c.span, |_| PageEntry::Claimed { slot: self.me });
            return Ok(None);
        };
        // The pages may hold an old object's bytes: initialise every word.
        for wd in words {
            wd.store(0, Ordering::Relaxed);
        }
        h[H_INFO].store(SLAB_MAGIC << 32 | class as u64, Ordering::Relaxed);
        h[H_FREE_HINT].store(0, Ordering::Relaxed);
        h[H_OWNER].store(self.me as u64 + 1, Ordering::Relaxed);
        self.owned_word(class).store(head + 1, Ordering::SeqCst);
        self.pages.set_claimed(head + 1, c.span - 1, self.me, |_| PageEntry::SlabTail { head });
        self.pages.set_claimed(head, 1, self.me, |_| PageEntry::SlabHead { class: class as u32, span: c.span as u32 });
        Ok(Some(head))
    }

    // ----- freeing ----------------------------------------------------------

    /// Frees the block `d` holds. With `careful`, the caller is finishing a
    /// step it did not start (the block may be free already and its slab
    /// retired), so it protects the slab with `hazard` first.
    ///
    /// Returns true when, without `careful`, this free may have emptied a
    /// slab that nobody allocates from: its free counter (frees since its
    /// owner last looked, see `rescan` and `retire_if_empty`) has reached its
    /// block count. The caller should then `retire_if_empty` it, so that
    /// drained slabs go back to the page pool at once instead of piling up
    /// until the store is full: else a put/delete churn of small objects
    /// walks the whole arena (cold memory, all of it reserved) rather than
    /// reusing the same warm pages.
    pub(crate) fn free_block(&self, d: u32, head: u64, block: u32, class: usize, careful: Option<&AtomicU64>) -> bool {
        if let Some(hz) = careful {
            if !self.protect(hz, head, Some(class)) {
                return false;
            }
        }
        let mut drained = false;
        if let (Some(h), Some(words)) = (self.header(head), self.block_words(head, class)) {
            if let Some(wd) = words.get(block as usize) {
                if wd.load(Ordering::SeqCst) == d + 1 {
                    // Hints first: once the block word is 0 the slab may be
                    // retired and these words reused. For the same reason
                    // the owner word is read before the block is freed.
                    let freed = h[H_FREE_HINT].fetch_add(1, Ordering::Relaxed) + 1;
                    drained =
                        careful.is_none() && freed >= words.len() as u64 && h[H_OWNER].load(Ordering::SeqCst) == 0;
                    let slot = &self.hints[class * HINTS_PER_CLASS + (block as usize % HINTS_PER_CLASS)];
                    slot.store(head + 1, Ordering::Relaxed);
                    let _ = wd.compare_exchange(d + 1, 0, Ordering::SeqCst, Ordering::Relaxed);
                }
            }
        }
        if let Some(hz) = careful {
            hz.store(0, Ordering::SeqCst);
        }
        drained
    }

    /// Frees whatever block of slab `head` descriptor `d` may have claimed
    /// before its owner died (the descriptor said SlabIntent).
    pub(crate) fn free_intent(&self, d: u32, head: u64, hazard: &AtomicU64) {
        let class = match self.pages.load(head) {
            PageEntry::SlabHead { class, .. } => class as usize,
            _ => return,
        };
        if !self.protect(hazard, head, Some(class)) {
            return;
        }
        if let Some(words) = self.block_words(head, class) {
            for wd in words {
                let _ = wd.compare_exchange(d + 1, 0, Ordering::SeqCst, Ordering::Relaxed);
            }
        }
        hazard.store(0, Ordering::SeqCst);
    }

    // ----- inspection for spilling ------------------------------------------

    /// The owner word (slot + 1, 0 for none) of the slab whose head is `head`.
    pub(crate) fn owner_of(&self, head: u64, hazard: &AtomicU64) -> Option<u64> {
        if !self.protect(hazard, head, None) {
            return None;
        }
        let owner = self.header(head).map(|h| h[H_OWNER].load(Ordering::SeqCst));
        hazard.store(0, Ordering::SeqCst);
        owner
    }

    /// The slab at `head`: its owner word (slot + 1, 0 for none) and the
    /// descriptors holding its blocks. None if it is not a slab.
    pub(crate) fn slab_blocks(&self, head: u64, hazard: &AtomicU64) -> Option<(u64, Vec<u32>)> {
        let class = match self.pages.load(head) {
            PageEntry::SlabHead { class, .. } => class as usize,
            _ => return None,
        };
        if !self.protect(hazard, head, Some(class)) {
            return None;
        }
        let result = (|| {
            let owner = self.header(head)?[H_OWNER].load(Ordering::SeqCst);
            let words = self.block_words(head, class)?;
            Some((owner, words.iter().map(|wd| wd.load(Ordering::SeqCst)).filter(|&v| v != 0).map(|v| v - 1).collect()))
        })();
        hazard.store(0, Ordering::SeqCst);
        result
    }

    // ----- retiring ---------------------------------------------------------

    /// Returns empty slabs to the free pages (with `take`, whoever owns
    /// them; else only unowned ones). Returns pages freed.
    pub(crate) fn retire_empty(&self, hazard: &AtomicU64, take: bool) -> u64 {
        let mut freed = 0;
        for head in 0..self.pages.count() {
            let PageEntry::SlabHead { class, .. } = self.pages.load(head) else { continue };
            if self.retire_if_empty(head, class as usize, hazard, take) {
                freed += self.classes[class as usize].span;
            }
        }
        freed
    }

    /// Returns the slab at `head` to the free pages if every block is free
    /// and nobody owns it — or, with `take`, whoever owns it: a live
    /// owner, this process included, loses the slab (its next allocation
    /// notices and moves on). The caller holds the general hazard word of
    /// this process (`hazard`) and, with it, the process's RETIRING word.
    /// A slab that turns out not to be empty is left without an owner.
    pub(crate) fn retire_if_empty(&self, head: u64, class: usize, hazard: &AtomicU64, take: bool) -> bool {
        if !self.protect(hazard, head, Some(class)) {
            return false;
        }
        let me = self.me as u64 + 1;
        let owned = self.header(head).is_some_and(|h| {
            let owner = h[H_OWNER].load(Ordering::SeqCst);
            (owner == 0 || take) && {
                self.procs.word(self.me, W_RETIRING).store(head + 1, Ordering::SeqCst);
                owner == me || h[H_OWNER].compare_exchange(owner, me, Ordering::SeqCst, Ordering::Relaxed).is_ok()
            }
        });
        let mut retired = false;
        if owned {
            let free = self.free_blocks(head, class);
            let empty = free == Some(self.classes[class].blocks as usize);
            if empty && self.finish_retire(head, class, self.me) {
                retired = true;
            } else if let Some(h) = self.header(head) {
                // Still a slab, now ours. Count the free blocks, so that the
                // free that empties it sees the counter reach the block count.
                h[H_FREE_HINT].store(free.unwrap_or(0) as u64, Ordering::Relaxed);
                let _ = h[H_OWNER].compare_exchange(me, 0, Ordering::SeqCst, Ordering::Relaxed);
            }
        }
        self.procs.word(self.me, W_RETIRING).store(0, Ordering::SeqCst);
        hazard.store(0, Ordering::SeqCst);
        retired
    }

    /// Free blocks of the slab at `head` (the caller protects it).
    fn free_blocks(&self, head: u64, class: usize) -> Option<usize> {
        let words = self.block_words(head, class)?;
        Some(words.iter().filter(|wd| wd.load(Ordering::SeqCst) == 0).count())
    }

    /// Retires a slab owned (as retirer) by `slot` whose blocks were all
    /// free: mark the head RETIRING, check every hazard (but the retirer's
    /// own general one), check the blocks again, free tails then head.
    fn finish_retire(&self, head: u64, class: usize, slot: u32) -> bool {
        let span = self.classes[class].span as u32;
        let retiring = PageEntry::SlabRetiring { slot, class: class as u32, span };
        let head_entry = PageEntry::SlabHead { class: class as u32, span };
        if !self.pages.swap_entry(head, head_entry, retiring) && self.pages.load(head) != retiring {
            return false;
        }
        // An allocator that named the slab before it was taken may have
        // claimed a block since the first count; it is either still named
        // in its hazard, or its block is visible now.
        // Dekker with `protect`: mark the slab, then look at the hazards.
        dekker_fence();
        if self.procs.hazard_held(head, slot, 0)
            || self.free_blocks(head, class) != Some(self.classes[class].blocks as usize)
        {
            self.pages.swap_entry(head, retiring, head_entry);
            return false;
        }
        self.pages.free_pages(head + 1, span as u64 - 1, |_| PageEntry::SlabTail { head });
        self.pages.free_pages(head, 1, |_| retiring);
        true
    }

    // ----- reclaim of a dead slot --------------------------------------------

    /// Releases the slabs a dead slot owned, was retiring or was making.
    /// `hazard` is one of the reclaimer's own hazard words. Runs before the
    /// reclaimer frees the pages the dead slot held claimed: a slab being
    /// made (`create`) has its tails marked before its head, so tails whose
    /// head the dead slot still held claimed are its, and are freed here
    /// first (a reclaimer that dies here leaves the head, and so the rest,
    /// to the next one).
    pub(crate) fn reclaim_slot(&self, dead: u32, hazard: &AtomicU64) {
        self.pages.for_each(|p, e| {
            if let PageEntry::SlabTail { head } = e {
                if self.pages.load(head) == (PageEntry::Claimed { slot: dead }) {
                    self.pages.free_pages(p, 1, |_| PageEntry::SlabTail { head });
                }
            }
        });
        let retiring = self.procs.word(dead, W_RETIRING).load(Ordering::SeqCst);
        if retiring != 0 {
            let head = retiring - 1;
            if let PageEntry::SlabRetiring { slot, class, .. } = self.pages.load(head) {
                if slot == dead {
                    // Every block was free when it marked the head: finish,
                    // or (if a hazard is held) put the head back as a slab.
                    let _ = self.finish_retire(head, class as usize, dead);
                }
            }
            if self.protect(hazard, head, None) {
                if let Some(h) = self.header(head) {
                    let _ = h[H_OWNER].compare_exchange(dead as u64 + 1, 0, Ordering::SeqCst, Ordering::Relaxed);
                }
                hazard.store(0, Ordering::SeqCst);
            }
            self.procs.word(dead, W_RETIRING).store(0, Ordering::SeqCst);
        }
        for class in 0..NCLASSES {
            let wd = self.procs.word(dead, W_OWNED_SLABS + class);
            let v = wd.load(Ordering::SeqCst);
            if v == 0 {
                continue;
            }
            let head = v - 1;
            if self.protect(hazard, head, Some(class)) {
                if let Some(h) = self.header(head) {
                    let _ = h[H_OWNER].compare_exchange(dead as u64 + 1, 0, Ordering::SeqCst, Ordering::Relaxed);
                }
                hazard.store(0, Ordering::SeqCst);
            }
            wd.store(0, Ordering::SeqCst);
        }
    }

    /// Block words that name descriptor `d`, per slab (for consistency checks).
    pub(crate) fn for_each_block(&self, mut f: impl FnMut(u64, usize, u32, u32)) {
        for head in 0..self.pages.count() {
            if let PageEntry::SlabHead { class, .. } = self.pages.load(head) {
                if let Some(words) = self.block_words(head, class as usize) {
                    for (b, wd) in words.iter().enumerate() {
                        let v = wd.load(Ordering::Relaxed);
                        if v != 0 {
                            f(head, class as usize, b as u32, v - 1);
                        }
                    }
                }
            }
        }
    }
}

/// loom models of taking a slab from its owner to retire it (run by
/// .ci/loom.sh): the owner allocating from its slab and another process
/// retiring it never both succeed, a stopped owner keeps its slab until it
/// is reclaimed, and a stopped retirer's step is finished by its reclaimer.
/// The slab lives on the heap (one class of two 64-byte blocks per page).
#[cfg(all(test, loom))]
mod models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::shared::proctable::{table_words, PROC_SLOT_WORDS};

    const PAGES: usize = 2;
    const CLASS: usize = 0;
    const A: u32 = 0;
    const B: u32 = 1;

    struct Heap {
        headers: Vec<Vec<AtomicU64>>,
        blocks: Vec<Vec<AtomicU32>>,
    }

    impl SlabSpace for &Heap {
        fn header(&self, head: u64) -> Option<&[AtomicU64]> {
            self.headers.get(head as usize).map(|v| &v[..])
        }
        fn block_words(&self, head: u64, blocks: usize) -> Option<&[AtomicU32]> {
            self.blocks.get(head as usize).map(|v| &v[..blocks])
        }
    }

    struct World {
        heap: Heap,
        table: Vec<AtomicU64>,
        used: Vec<AtomicU64>,
        regions: Vec<AtomicU64>,
        procs: Vec<AtomicU64>,
        hints: Vec<AtomicU64>,
        desc: Vec<AtomicU64>,
        classes: Vec<SizeClass>,
    }

    fn z64(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    impl World {
        fn new() -> World {
            World {
                heap: Heap {
                    headers: (0..PAGES).map(|_| z64(HEADER_WORDS)).collect(),
                    blocks: (0..PAGES).map(|_| (0..2).map(|_| AtomicU32::new(0)).collect()).collect(),
                },
                table: z64(PAGES),
                used: z64(1),
                regions: z64(1),
                procs: z64(table_words(2)),
                hints: z64(HINTS_PER_CLASS),
                desc: z64(4 * crate::shared::descriptor::DESC_WORDS),
                classes: vec![
                    SizeClass { size: 64, span: 1, blocks: 2, blocks_off: 128 },
                    // Slabs of two pages, for a slab being made.
                    SizeClass { size: 64, span: 2, blocks: 2, blocks_off: 128 },
                ],
            }
        }

        fn slabs(&self, me: u32) -> Slabs<'_, &Heap> {
            Slabs {
                space: &self.heap,
                page_size: 4096,
                classes: &self.classes,
                pages: Pages::new(&self.table, &self.used, &self.regions),
                procs: ProcTable::new(&self.procs),
                hints: &self.hints,
                me,
            }
        }

        fn desc(&self) -> Descriptors<'_> {
            Descriptors::new(&self.desc)
        }
    }

    /// Both processes attached; A owns an empty slab at page 0 (it built
    /// it for descriptor 0 and freed that block again).
    fn world_with_owned_slab() -> (Arc<World>, ClassCache) {
        let w = Arc::new(World::new());
        let procs = ProcTable::new(&w.procs);
        procs.activate(A, 1, 0);
        procs.activate(B, 2, 0);
        let slabs = w.slabs(A);
        let pages = Pages::new(&w.table, &w.used, &w.regions);
        let mut cache = ClassCache::default();
        let hazard = procs.hazard(A, 1 + CLASS);
        let got = slabs.alloc(&mut cache, CLASS, 0, &w.desc(), hazard, &mut |n| Ok(pages.claim_run(n, A))).unwrap();
        assert!(got.is_some());
        assert!(!slabs.free_block(0, 0, 0, CLASS, None));
        (w, cache)
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        crate::shared::sync::check_model(2, f);
    }

    /// The page at 0 was given to someone else's object after a retire:
    /// its bytes (here the block words) are that object's, all zero.
    fn retired(w: &World) -> bool {
        Pages::new(&w.table, &w.used, &w.regions).load(0) == PageEntry::Free
    }

    /// A process stopped for ever while making a two-page slab, after it
    /// marked the tail and before the head, is reclaimed while another
    /// process is making one the same way: the dead one's pages are all
    /// free again, the live one's untouched.
    #[test]
    fn a_slab_maker_stopped_before_its_head_is_reclaimed() {
        model(|| {
            let w = Arc::new(World::new());
            let procs = ProcTable::new(&w.procs);
            procs.activate(A, 1, 0);
            procs.activate(B, 2, 0);
            let pages = Pages::new(&w.table, &w.used, &w.regions);
            // As `create` does, up to the head: the tail of the run marked.
            let head = pages.claim_run(2, A).expect("two free pages");
            pages.set_claimed(head + 1, 1, A, |_| PageEntry::SlabTail { head });
            // (A stops for ever here, and dies.) B, reclaiming it, races C
            // making a slab of its own once A's pages are free.
            let maker = {
                let w = w.clone();
                thread::spawn(move || {
                    let pages = Pages::new(&w.table, &w.used, &w.regions);
                    let Some(h) = pages.claim_run(2, 2) else { return None };
                    pages.set_claimed(h + 1, 1, 2, |_| PageEntry::SlabTail { head: h });
                    Some(h)
                })
            };
            let hazard = procs.hazard(B, 0);
            w.slabs(B).reclaim_slot(A, hazard);
            pages.for_each(|p, e| {
                if e == (PageEntry::Claimed { slot: A }) {
                    pages.free_pages(p, 1, |_| PageEntry::Claimed { slot: A });
                }
            });
            match maker.join().unwrap() {
                Some(h) => {
                    assert_eq!(pages.load(h), PageEntry::Claimed { slot: 2 }, "the live maker's head");
                    assert_eq!(pages.load(h + 1), PageEntry::SlabTail { head: h }, "the live maker's tail");
                }
                None => {
                    assert_eq!((pages.load(0), pages.load(1)), (PageEntry::Free, PageEntry::Free));
                }
            }
        });
    }

    #[test]
    fn an_owner_allocating_and_a_taker_retiring_never_overlap() {
        model(|| {
            let (w, mut cache) = world_with_owned_slab();
            let taker = {
                let w = w.clone();
                thread::spawn(move || {
                    let slabs = w.slabs(B);
                    slabs.retire_if_empty(0, CLASS, slabs.procs.hazard(B, 0), true)
                })
            };
            let slabs = w.slabs(A);
            let hazard = slabs.procs.hazard(A, 1 + CLASS);
            let got = slabs.alloc(&mut cache, CLASS, 1, &w.desc(), hazard, &mut |_| Ok(None)).unwrap();
            let took = taker.join().unwrap();
            assert_eq!(took, retired(&w));
            if took {
                // Retired: the allocation found no room, and wrote nothing
                // into the pages that left the slab.
                assert_eq!(got, None);
                assert!(w.heap.blocks[0].iter().all(|b| b.load(Ordering::SeqCst) == 0));
            } else {
                // Still a slab: the allocation got its block in it.
                assert!(got.is_some());
                assert!(w.heap.blocks[0].iter().any(|b| b.load(Ordering::SeqCst) == 2));
            }
        });
    }

    /// The owner stops for good while it names its slab (mid-allocation):
    /// no one can retire the slab; once the owner is reclaimed, anyone can.
    #[test]
    fn a_stopped_owner_keeps_its_slab_until_reclaimed() {
        model(|| {
            let (w, _cache) = world_with_owned_slab();
            let owner = {
                let w = w.clone();
                thread::spawn(move || {
                    let slabs = w.slabs(A);
                    // (A stops here, forever, if it got the slab)
                    slabs.protect_owned(slabs.procs.hazard(A, 1 + CLASS), 0, CLASS)
                })
            };
            let slabs = w.slabs(B);
            let took = slabs.retire_if_empty(0, CLASS, slabs.procs.hazard(B, 0), true);
            let protected = owner.join().unwrap();
            assert!(!(protected && took), "retired a slab its owner was allocating from");
            if !took {
                // A is reclaimed: its hazards cleared, its slab disowned.
                slabs.procs.clear_hazards(A);
                slabs.reclaim_slot(A, slabs.procs.hazard(B, 0));
                assert!(slabs.retire_if_empty(0, CLASS, slabs.procs.hazard(B, 0), true));
            }
            assert!(retired(&w));
        });
    }

    /// A taker stops for good right after marking the slab RETIRING; the
    /// owner's allocation meanwhile finds no room in it, and the taker's
    /// reclaimer finishes the retire.
    #[test]
    fn a_stopped_taker_is_finished_by_its_reclaimer() {
        model(|| {
            let (w, mut cache) = world_with_owned_slab();
            let taker = {
                let w = w.clone();
                thread::spawn(move || {
                    let slabs = w.slabs(B);
                    let hazard = slabs.procs.hazard(B, 0);
                    if !slabs.protect(hazard, 0, Some(CLASS)) {
                        return false;
                    }
                    slabs.procs.word(B, W_RETIRING).store(1, Ordering::SeqCst);
                    let h = slabs.header(0).unwrap();
                    let owner = h[H_OWNER].load(Ordering::SeqCst);
                    if h[H_OWNER].compare_exchange(owner, B as u64 + 1, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                        return false;
                    }
                    let span = 1;
                    slabs.pages.swap_entry(
                        0,
                        PageEntry::SlabHead { class: CLASS as u32, span },
                        PageEntry::SlabRetiring { slot: B, class: CLASS as u32, span },
                    )
                    // (B stops here, forever)
                })
            };
            let slabs = w.slabs(A);
            let hazard = slabs.procs.hazard(A, 1 + CLASS);
            let got = slabs.alloc(&mut cache, CLASS, 1, &w.desc(), hazard, &mut |_| Ok(None)).unwrap();
            let marked = taker.join().unwrap();
            // B's reclaimer (A here): B's hazards cleared, its step finished.
            slabs.procs.clear_hazards(B);
            slabs.reclaim_slot(B, slabs.procs.hazard(A, 0));
            if marked && got.is_none() {
                assert!(retired(&w), "a stopped retire was not finished");
            }
            if got.is_some() {
                // A got its block before the take: the slab stays.
                assert!(!retired(&w));
                assert!(w.heap.blocks[0].iter().any(|b| b.load(Ordering::SeqCst) == 2));
            }
        });
    }

    #[test]
    fn proc_slots_hold_the_hazards() {
        // The models need a hazard per class in each slot.
        assert!(W_OWNED_SLABS + NCLASSES < PROC_SLOT_WORDS);
    }
}
