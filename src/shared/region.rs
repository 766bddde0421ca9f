//! A store's mapping together with its layout: the shared structures of the
//! file as typed views, each range checked once, when the region is built,
//! so that handing out a view later costs no check.

use super::classes::{class_for, size_classes, SizeClass};
use super::descriptor::{self, Descriptors, Location};
use super::holds::{self, Holds};
use super::index::{Index, BUCKET_WORDS};
use super::layout::{Global, Layout};
use super::lingering::{self, Lingering};
use super::mapping::{Mapping, Words};
use super::pages::{self, Pages};
use super::pins::PinMasks;
use super::proctable::{self, ProcTable};
use super::refs::{ReclaimMarks, RefWords};
use super::releasers::Releasers;
use super::seal_log::{self, SealLog};
use super::slab::{ArenaSpace, Slabs, HINT_WORDS};
use super::sync::{AtomicU32, AtomicU64};
use super::tables::ObjectTables;
use super::wait::{Waits, SEQ_WORDS, WAIT_WORDS};
use crate::error::{err, Result};

/// Every section of the file, checked.
#[derive(Clone, Copy, Debug)]
struct Sections {
    proc_table: Words<AtomicU64>,
    releasing_count: Words<AtomicU64>,
    kept_hint: Words<AtomicU64>,
    seal_log: Words<AtomicU64>,
    class_hints: Words<AtomicU64>,
    wait: Words<AtomicU32>,
    wait_masks: Words<AtomicU64>,
    region_states: Words<AtomicU64>,
    page_table: Words<AtomicU64>,
    used_bitmap: Words<AtomicU64>,
    free_hints: Words<AtomicU64>,
    index: Words<AtomicU64>,
    descriptors: Words<AtomicU64>,
    masks: Words<AtomicU64>,
    linger_entries: Words<AtomicU64>,
    linger_masks: Words<AtomicU64>,
    ref_words: Words<AtomicU64>,
    holds: Words<AtomicU64>,
}

/// The views of the structures used on every operation, made once. They
/// point into the mapping, which the region owns and which outlives them
/// (see `Region::new`); the region hands them out borrowed from itself.
#[derive(Clone, Copy)]
struct Views {
    tables: ObjectTables<'static>,
    waits: Waits<'static>,
    pages: Pages<'static>,
    procs: ProcTable<'static>,
    class_hints: &'static [AtomicU64],
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Views")
    }
}

/// A mapped store file and its layout.
#[derive(Debug)]
pub(crate) struct Region {
    // Declared first, so dropped first: nothing uses the views once the
    // mapping below goes (they have no destructor anyway).
    views: Views,
    map: Mapping,
    layout: Layout,
    classes: Vec<SizeClass>,
    /// How many of the classes, from the smallest, have slabs that fit the
    /// arena (spans grow with the block size).
    slab_classes: usize,
}

impl Region {
    /// Checks that every section of `layout` lies inside `map`.
    pub(crate) fn new(map: Mapping, layout: Layout) -> Result<Region> {
        let l = &layout;
        let p = &l.params;
        let sections = (|| {
            Some(Sections {
                proc_table: map.words(l.proc_table, proctable::table_words(p.max_processes))?,
                releasing_count: map.words(Global::Releasing.offset(), 1)?,
                kept_hint: map.words(Global::KeptBlocks.offset(), 1)?,
                seal_log: map.words(Global::SealLog.offset(), seal_log::WORDS)?,
                class_hints: map.words(l.class_hints, HINT_WORDS)?,
                wait: map.words(l.wait, SEQ_WORDS)?,
                wait_masks: map.words(l.wait_masks, WAIT_WORDS * l.mask_words)?,
                region_states: map.words(l.region_states, l.regions as usize)?,
                page_table: map.words(l.page_table, pages::table_words(l.pages))?,
                used_bitmap: map.words(l.used_bitmap, pages::bitmap_words(l.pages))?,
                free_hints: map.words(l.desc_bitmap, descriptor::free_hint_words(p.max_objects))?,
                index: map.words(l.index, l.buckets as usize * BUCKET_WORDS)?,
                descriptors: map.words(l.descriptors, descriptor::table_words(p.max_objects))?,
                masks: map.words(l.masks, l.mask_positions as usize * l.mask_words)?,
                linger_entries: map.words(l.linger_entries, lingering::entry_words(p.max_processes))?,
                linger_masks: map.words(l.linger_masks, l.mask_positions as usize * lingering::LINGER_MASK_WORDS)?,
                ref_words: map.words(l.ref_words, p.max_objects as usize)?,
                holds: map.words(l.holds, holds::table_words(p.max_objects))?,
            })
        })();
        let arena_fits = map.ptr(l.arena, p.capacity as usize).is_some();
        let Some(sections) = sections.filter(|_| arena_fits) else {
            return Err(err!(Corrupt, "store sections do not fit the file"));
        };
        let s = sections;
        // SAFETY: the views are kept in the region beside the mapping they
        // point into, and handed out only borrowed from the region.
        let views = unsafe {
            let masks = map.view_for_life(s.masks);
            Views {
                tables: ObjectTables {
                    desc: Descriptors::new(map.view_for_life(s.descriptors)),
                    index: Index::new(map.view_for_life(s.index), p.max_objects as u32),
                    masks: PinMasks::new(masks, l.mask_words),
                    lingering: Lingering::new(
                        map.view_for_life(s.linger_entries),
                        PinMasks::new(map.view_for_life(s.linger_masks), lingering::LINGER_MASK_WORDS),
                    ),
                    refs: RefWords::new(map.view_for_life(s.ref_words)),
                    holds: Holds::new(map.view_for_life(s.holds)),
                    reclaims: {
                        let procs: &[AtomicU64] = map.view_for_life(s.proc_table);
                        ReclaimMarks::new(
                            &procs[proctable::W_RECLAIMING.min(procs.len())..],
                            proctable::PROC_SLOT_WORDS,
                        )
                    },
                    releasers: {
                        let procs: &[AtomicU64] = map.view_for_life(s.proc_table);
                        let count: &[AtomicU64] = map.view_for_life(s.releasing_count);
                        Releasers::new(
                            &procs[proctable::W_RELEASING.min(procs.len())..],
                            proctable::PROC_SLOT_WORDS,
                            &count[0],
                        )
                    },
                    free_hint: map.view_for_life(s.free_hints),
                    kept_hint: {
                        let word: &[AtomicU64] = map.view_for_life(s.kept_hint);
                        &word[0]
                    },
                    seed: p.hash_seed,
                },
                waits: Waits::new(
                    map.view_for_life(s.wait),
                    PinMasks::new(map.view_for_life(s.wait_masks), l.mask_words),
                    SealLog::new(map.view_for_life(s.seal_log)),
                ),
                pages: Pages::new(
                    map.view_for_life(s.page_table),
                    map.view_for_life(s.used_bitmap),
                    map.view_for_life(s.region_states),
                ),
                procs: ProcTable::new(map.view_for_life(s.proc_table)),
                class_hints: map.view_for_life(s.class_hints),
            }
        };
        let classes = size_classes(l.params.page_size);
        let slab_classes = classes.iter().take_while(|c| c.span <= l.pages).count();
        Ok(Region { views, classes, slab_classes, map, layout })
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn map(&self) -> &Mapping {
        &self.map
    }

    /// The size classes of the store's slabs.
    pub(crate) fn classes(&self) -> &[SizeClass] {
        &self.classes
    }

    /// The classes below this one have slabs that fit the arena; larger
    /// objects take runs of pages.
    #[inline]
    pub(crate) fn slab_classes(&self) -> usize {
        self.slab_classes
    }

    /// The tables objects live in.
    #[inline]
    pub(crate) fn tables(&self) -> &ObjectTables<'_> {
        &self.views.tables
    }

    #[inline]
    pub(crate) fn descriptors(&self) -> Descriptors<'_> {
        self.views.tables.desc
    }

    #[inline]
    pub(crate) fn pages(&self) -> Pages<'_> {
        self.views.pages
    }

    #[inline]
    pub(crate) fn procs(&self) -> ProcTable<'_> {
        self.views.procs
    }

    /// Slab operations for process slot `me`.
    pub(crate) fn slabs(&self, me: u32) -> Slabs<'_, ArenaSpace<'_>> {
        Slabs {
            space: ArenaSpace { map: &self.map, arena: self.layout.arena, page_size: self.layout.params.page_size },
            page_size: self.layout.params.page_size,
            classes: &self.classes,
            pages: self.pages(),
            procs: self.procs(),
            hints: self.views.class_hints,
            me,
        }
    }

    #[inline]
    pub(crate) fn waits(&self) -> &Waits<'_> {
        &self.views.waits
    }

    /// A global counter word.
    pub(crate) fn global(&self, g: Global) -> &AtomicU64 {
        &self.map.u64s(g.offset(), 1).expect("the globals page is inside every store")[0]
    }

    /// The arena offset of the payload at location word `loc` of an object
    /// of `total` bytes, bounds-checked against the arena: None for a word
    /// that locates no memory, or none inside the arena (a damaged store).
    #[inline]
    pub(crate) fn payload_offset(&self, loc: u64, total: u64) -> Option<u64> {
        let ps = self.layout.params.page_size;
        // No overflow: a page number has 36 bits and pages 2^16 bytes; a
        // block number 24 bits and a block at most 2^18 bytes.
        let off = match Location::decode(loc)? {
            Location::Block { page, block } => {
                let c = self.classes.get(class_for(total)?)?;
                page * ps + c.blocks_off + block as u64 * c.size
            }
            Location::Run { page } => page * ps,
            Location::None
            | Location::SlabIntent { .. }
            | Location::Successor { .. }
            | Location::Tombstone
            | Location::OnDisk { .. } => return None,
        };
        (off <= self.layout.params.capacity.checked_sub(total)?).then_some(off)
    }

    /// A pointer to the payload at location word `loc` of an object of
    /// `total` bytes, checked as `payload_offset` checks it.
    #[inline]
    pub(crate) fn payload_ptr(&self, loc: u64, total: u64) -> Option<*mut u8> {
        let off = self.payload_offset(loc, total)?;
        // In bounds: the arena lies inside the mapping (checked in `new`) and
        // off + total <= capacity. wrapping_add, since nothing is read here.
        Some(self.map.base().wrapping_add(self.layout.arena + off as usize))
    }

    /// The mapping offset of arena offset `off`.
    #[inline]
    pub(crate) fn arena_offset(&self, off: u64) -> usize {
        self.layout.arena + off as usize
    }
}
