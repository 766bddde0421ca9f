//! A store's mapping together with its layout: the shared structures of the
//! file as typed views, each range checked once, when the region is built,
//! so that handing out a view later costs no check.

use super::classes::{size_classes, SizeClass};
use super::descriptor::{self, Descriptors};
use super::index::{Index, BUCKET_ENTRIES};
use super::layout::{Global, Layout};
use super::mapping::{Mapping, Words};
use super::pages::{self, Pages};
use super::pins::PinMasks;
use super::proctable::{self, ProcTable};
use super::slab::{ArenaSpace, Slabs, HINT_WORDS};
use super::sync::{AtomicU32, AtomicU64};
use super::wait::{Waits, SEQ_WORDS, WAIT_WORDS};
use crate::error::{err, Result};

/// Every section of the file, checked.
#[derive(Clone, Copy, Debug)]
struct Sections {
    proc_table: Words<AtomicU64>,
    class_hints: Words<AtomicU64>,
    wait: Words<AtomicU32>,
    wait_masks: Words<AtomicU64>,
    region_states: Words<AtomicU64>,
    page_table: Words<AtomicU64>,
    used_bitmap: Words<AtomicU64>,
    free_hints: Words<AtomicU64>,
    bounds: Words<AtomicU32>,
    index: Words<AtomicU64>,
    descriptors: Words<AtomicU64>,
    masks: Words<AtomicU64>,
}

/// A mapped store file and its layout.
#[derive(Debug)]
pub(crate) struct Region {
    map: Mapping,
    layout: Layout,
    classes: Vec<SizeClass>,
    sections: Sections,
}

impl Region {
    /// Checks that every section of `layout` lies inside `map`.
    pub(crate) fn new(map: Mapping, layout: Layout) -> Result<Region> {
        let l = &layout;
        let p = &l.params;
        let sections = (|| {
            Some(Sections {
                proc_table: map.words(l.proc_table, proctable::table_words(p.max_processes))?,
                class_hints: map.words(l.class_hints, HINT_WORDS)?,
                wait: map.words(l.wait, SEQ_WORDS)?,
                wait_masks: map.words(l.wait_masks, WAIT_WORDS * l.mask_words)?,
                region_states: map.words(l.region_states, l.regions as usize)?,
                page_table: map.words(l.page_table, pages::table_words(l.pages))?,
                used_bitmap: map.words(l.used_bitmap, pages::bitmap_words(l.pages))?,
                free_hints: map.words(l.desc_bitmap, descriptor::free_hint_words(p.max_objects))?,
                bounds: map.words(l.bounds, l.buckets as usize)?,
                index: map.words(l.index, l.buckets as usize * BUCKET_ENTRIES)?,
                descriptors: map.words(l.descriptors, descriptor::table_words(p.max_objects))?,
                masks: map.words(l.masks, l.mask_positions as usize * l.mask_words)?,
            })
        })();
        let arena_fits = map.ptr(l.arena, p.capacity as usize).is_some();
        match sections {
            Some(sections) if arena_fits => {
                Ok(Region { classes: size_classes(l.params.page_size), map, layout, sections })
            }
            _ => Err(err!(Corrupt, "store sections do not fit the file")),
        }
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

    #[inline]
    pub(crate) fn descriptors(&self) -> Descriptors<'_> {
        Descriptors::new(self.map.view(self.sections.descriptors))
    }

    #[inline]
    pub(crate) fn index(&self) -> Index<'_> {
        Index::new(
            self.map.view(self.sections.index),
            self.map.view(self.sections.bounds),
            self.layout.params.max_objects as u32,
        )
    }

    #[inline]
    pub(crate) fn pin_masks(&self) -> PinMasks<'_> {
        PinMasks::new(self.map.view(self.sections.masks), self.layout.mask_words)
    }

    /// One bit per descriptor: 1 = maybe free (a search hint).
    #[inline]
    pub(crate) fn free_hints(&self) -> &[AtomicU64] {
        self.map.view(self.sections.free_hints)
    }

    pub(crate) fn pages(&self) -> Pages<'_> {
        Pages::new(
            self.map.view(self.sections.page_table),
            self.map.view(self.sections.used_bitmap),
            self.map.view(self.sections.region_states),
        )
    }

    pub(crate) fn procs(&self) -> ProcTable<'_> {
        ProcTable::new(self.map.view(self.sections.proc_table))
    }

    /// Slab operations for process slot `me`.
    pub(crate) fn slabs(&self, me: u32) -> Slabs<'_, ArenaSpace<'_>> {
        Slabs {
            space: ArenaSpace { map: &self.map, arena: self.layout.arena, page_size: self.layout.params.page_size },
            page_size: self.layout.params.page_size,
            classes: &self.classes,
            pages: self.pages(),
            procs: self.procs(),
            hints: self.map.view(self.sections.class_hints),
            me,
        }
    }

    #[inline]
    pub(crate) fn waits(&self) -> Waits<'_> {
        Waits::new(
            self.map.view(self.sections.wait),
            PinMasks::new(self.map.view(self.sections.wait_masks), self.layout.mask_words),
        )
    }

    /// A global counter word.
    pub(crate) fn global(&self, g: Global) -> &AtomicU64 {
        &self.map.u64s(g.offset(), 1).expect("the globals page is inside every store")[0]
    }

    /// The mapping offset of arena offset `off`.
    #[inline]
    pub(crate) fn arena_offset(&self, off: u64) -> usize {
        self.layout.arena + off as usize
    }
}
