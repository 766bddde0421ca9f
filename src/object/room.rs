//! Making room under memory pressure: which objects to move out of memory
//! so that an allocation can succeed, by evicting cache entries (EVICTABLE
//! objects, deleted) or, once none helps, by spilling plain objects.
//!
//! For a block of a size class, first a slab of the class with a free block,
//! then objects of the same class in slabs this process may allocate from;
//! for anything else (and when that fails), the cheapest window of
//! contiguous pages that can be emptied: free pages, runs of unpinned
//! sealed objects, slabs of them (taken from their owners if need be).
//! Evicting chooses its victims so too, not in plain least-recently-used
//! order: objects freed one by one wherever they lie rarely empty a whole
//! slab, let alone a run of pages, so a large allocation in a store full of
//! small cache entries would empty most of the cache (and could still find
//! no run long enough), where a window holds just what it needs.
//! Recently read objects (their CLOCK bit set) cost more, and a pass over
//! them clears the bit (a second chance). The emptied window is claimed at
//! once for the allocation, so that other processes cannot take it first.
//!
//! A window is blocked for good only by what cannot move: pinned and
//! unsealed objects. Objects in the middle of some process's step (a put,
//! a spill, a restore, a free) will settle: the caller waits a little for
//! them rather than report a full store.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::alloc::{footprint, Allocator};
use super::lifecycle::Objects;
use super::spill::Spiller;
use crate::error::Result;
use crate::shared::classes::class_for;
use crate::shared::descriptor::{flags, Location, Snapshot, State};
use crate::shared::layout::Global;
use crate::shared::pages::PageEntry;

/// Bytes of small objects spilled together when a size class runs out.
const SPILL_BATCH_BYTES: u64 = 1 << 20;

/// Makes room for one process, by evicting or by spilling.
pub(crate) struct RoomMaker<'a> {
    alloc: Allocator<'a>,
    by: By<'a>,
}

/// How a room maker moves objects out of memory.
enum By<'a> {
    /// Sealed EVICTABLE objects are deleted; plain ones stay.
    Evicting,
    /// Plain sealed objects are written to the spill medium; EVICTABLE ones
    /// stay (they are evicted, never spilled).
    Spilling(Spiller<'a>),
}

impl<'a> RoomMaker<'a> {
    /// Makes room by evicting cache entries.
    pub(crate) fn evicting(alloc: Allocator<'a>) -> RoomMaker<'a> {
        RoomMaker { alloc, by: By::Evicting }
    }

    /// Makes room by spilling through `spiller`.
    pub(crate) fn spilling(spiller: Spiller<'a>) -> RoomMaker<'a> {
        RoomMaker { alloc: spiller.alloc, by: By::Spilling(spiller) }
    }

    /// How long an allocation waits, in all, for steps of other processes
    /// that keep every window it could empty busy.
    pub(crate) fn patience(&self) -> Duration {
        match self.by {
            By::Evicting => Duration::from_millis(10),
            By::Spilling(_) => Duration::from_secs(1),
        }
    }

    fn objects(&self) -> &'a Objects<'a> {
        Objects::of(self.alloc.region)
    }

    fn me(&self) -> u32 {
        self.alloc.me
    }

    /// Whether this room maker moves out a sealed object with `flags`.
    fn moves(&self, object_flags: u32) -> bool {
        let evictable = object_flags & flags::EVICTABLE != 0;
        match self.by {
            By::Evicting => evictable,
            By::Spilling(_) => !evictable,
        }
    }

    /// Moves the object `d`, seen as `s`, out of memory: evicts or spills
    /// it. True if this call did.
    fn move_out(&self, d: u32, s: &Snapshot) -> Result<bool> {
        match &self.by {
            By::Evicting => {
                let evicted = self.objects().evict(d, s.state, self.me(), &self.alloc.freer_giving_back());
                if evicted {
                    self.alloc.region.global(Global::Evictions).fetch_add(1, Ordering::Relaxed);
                }
                Ok(evicted)
            }
            By::Spilling(spiller) => spiller.spill_one(d, s),
        }
    }

    /// Moves objects out of memory so that an allocation of `total` bytes
    /// can succeed.
    pub(crate) fn make_room(&self, total: u64) -> Result<Room> {
        let class = self.alloc.slab_class(total);
        // Evicting, an object of the class goes first: in a full cache of
        // objects of like sizes (the usual case) the allocation takes its
        // block next, and the scans of the whole arena below are spared.
        if let (By::Evicting, Some(class)) = (&self.by, class) {
            if self.move_same_class(class, 1)? {
                return Ok(Room::Progress);
            }
        }
        // A slab of the class with a free block nobody hinted costs nothing.
        if class.is_some() && self.alloc.adopt_any_slab(total) {
            return Ok(Room::Progress);
        }
        let pages = match class {
            Some(class) => self.alloc.region.classes()[class].span,
            None => total.div_ceil(self.alloc.region.layout().params.page_size),
        };
        let choice = self.cheapest_window(pages);
        // Free pages and empty slabs cost nothing: take them first.
        if let Window::Found(w) = &choice {
            if w.victims.is_empty() {
                return self.empty_window(w);
            }
        }
        if let (By::Spilling(_), Some(class)) = (&self.by, class) {
            // Spill a batch, so the next allocations of this class find room
            // without scanning again.
            let batch = SPILL_BATCH_BYTES.div_ceil(self.alloc.region.classes()[class].size).clamp(1, 64);
            if self.move_same_class(class, batch)? {
                return Ok(Room::Progress);
            }
        }
        match choice {
            Window::Found(w) => self.empty_window(&w),
            Window::Busy => Ok(Room::Busy),
            Window::Blocked => Ok(Room::Exhausted),
        }
    }

    /// What an object occupying arena memory means for making room.
    fn occupant(&self, d: u32, s: &Snapshot) -> Occupant {
        let pinned = self.objects().pinned(d);
        match s.state.state() {
            State::Sealed if pinned => Occupant::Stays,
            // Cache entries are evicted, never spilled; plain objects are
            // spilled, never evicted.
            State::Sealed if !self.moves(s.state.flags()) => Occupant::Stays,
            State::Sealed if Location::decode(s.loc).is_some_and(Location::holds_memory) => Occupant::Movable,
            // Unsealed objects stay until their creator seals them (a
            // create may take as long as the caller likes); objects deleted
            // while pinned stay until released; a damaged descriptor stays.
            State::Created | State::Invalid => Occupant::Stays,
            State::Deleted if pinned => Occupant::Stays,
            // A free descriptor keeping the block of its last life (see
            // `lifecycle`, "Kept blocks"): given back, nothing to write.
            State::Free if Location::is_block(s.loc) => Occupant::Kept,
            // Every other state is a step under way (a put, a spill, a
            // restore, a free): the memory is about to be settled.
            State::Sealed
            | State::Deleted
            | State::Free
            | State::Reserved
            | State::Inserting
            | State::Collided
            | State::Freeing
            | State::Spilling
            | State::Spilled
            | State::Shadow => Occupant::InFlux,
        }
    }

    /// CLOCK over the descriptors: moves out up to `batch` objects of
    /// `class` whose slab this process can allocate from (unowned, or its
    /// own).
    fn move_same_class(&self, class: usize, batch: u64) -> Result<bool> {
        let mut moved = 0;
        let o = self.objects();
        let n = o.desc.count() as u64;
        let hand = self.alloc.region.global(match self.by {
            By::Evicting => Global::EvictionHand,
            By::Spilling(_) => Global::ClockHand,
        });
        let slabs = self.alloc.region.slabs(self.me());
        for _ in 0..2 {
            let mut scanned = 0;
            while scanned < n {
                let start = hand.fetch_add(64, Ordering::Relaxed) % n;
                for d in start..(start + 64).min(n) {
                    let d = d as u32;
                    let Some(s) = o.desc.snapshot(d) else { continue };
                    // The words of the snapshot first, the pins last.
                    if !s.state.is(State::Sealed) || !self.moves(s.state.flags()) {
                        continue;
                    }
                    let Some(Location::Block { page, .. }) = Location::decode(s.loc) else { continue };
                    if footprint(s.data_len, s.meta_len as u64).and_then(class_for) != Some(class)
                        || self.occupant(d, &s) != Occupant::Movable
                    {
                        continue;
                    }
                    if o.desc.take_referenced(d) {
                        continue;
                    }
                    let owner = {
                        let (_g, hazard) = self.alloc.general_hazard();
                        slabs.owner_of(page, hazard)
                    };
                    if owner != Some(0) && owner != Some(self.me() as u64 + 1) {
                        continue;
                    }
                    if self.move_out(d, &s)? {
                        moved += 1;
                        if moved >= batch {
                            return Ok(true);
                        }
                    }
                }
                scanned += 64;
            }
            if moved > 0 {
                return Ok(true);
            }
        }
        Ok(moved > 0)
    }

    /// Empties the window: moves its objects out, retires its slabs (taking
    /// them from their owners), then claims its pages for this process.
    fn empty_window(&self, w: &WindowChoice) -> Result<Room> {
        let o = self.objects();
        let mut progress = false;
        for &d in &w.victims {
            if let Some(s) = o.desc.snapshot(d) {
                match self.occupant(d, &s) {
                    Occupant::Movable => progress |= self.move_out(d, &s)?,
                    Occupant::Kept => progress |= o.give_back_kept_block(d, self.me(), &self.alloc.freer_giving_back()),
                    Occupant::InFlux | Occupant::Stays => {}
                }
            }
        }
        {
            let (_g, hazard) = self.alloc.general_hazard();
            let slabs = self.alloc.region.slabs(self.me());
            for &head in &w.slabs {
                if let PageEntry::SlabHead { class, .. } = self.alloc.region.pages().load(head) {
                    progress |= slabs.retire_if_empty(head, class as usize, hazard, true);
                }
            }
        }
        if self.alloc.region.pages().claim_exact(w.start, w.count, self.me()) {
            return Ok(Room::Claimed { start: w.start, count: w.count });
        }
        // Another process took part of the window first, or an object in it
        // was moving: look again.
        Ok(if progress { Room::Progress } else { Room::Busy })
    }

    /// The cheapest window of `count` contiguous pages that can be emptied
    /// (free pages cost nothing; objects their bytes, four times that if
    /// read since the last look; slabs their objects), or why there is none.
    /// Clears the CLOCK bits it reads: each pass is a turn of the clock.
    fn cheapest_window(&self, count: u64) -> Window {
        let o = self.objects();
        let region = self.alloc.region;
        let pages = region.pages();
        let slabs = region.slabs(self.me());
        let ps = region.layout().params.page_size;
        let cost_of = |d: u32, s: &Snapshot| -> u64 {
            let bytes = footprint(s.data_len, s.meta_len as u64).unwrap_or(u64::MAX / 4);
            if o.desc.take_referenced(d) {
                bytes.saturating_mul(4)
            } else {
                bytes
            }
        };
        let occupant_of = |d: u32| -> Option<(Occupant, Snapshot)> {
            let s = ((d as usize) < o.desc.count()).then(|| o.desc.snapshot(d)).flatten()?;
            Some((self.occupant(d, &s), s))
        };
        // The arena as a sequence of units (a free page, an object's run, a
        // slab), each with what emptying it would take.
        let mut units: Vec<Unit> = Vec::new();
        let mut p = 0;
        while p < pages.count() {
            let (len, kind) = match pages.load(p) {
                PageEntry::Free => (1, UnitKind::Movable { cost: 0, objects: vec![], slab: None }),
                PageEntry::Run { d } => match occupant_of(d) {
                    Some((occupant, s)) if Location::decode(s.loc) == Some(Location::Run { page: p }) => {
                        let len = footprint(s.data_len, s.meta_len as u64).map_or(1, |t| t.div_ceil(ps).max(1));
                        let kind = match occupant {
                            Occupant::Movable => {
                                UnitKind::Movable { cost: cost_of(d, &s), objects: vec![d], slab: None }
                            }
                            // (A run is never kept: only slab blocks are.)
                            Occupant::InFlux | Occupant::Kept => UnitKind::InFlux,
                            Occupant::Stays => UnitKind::Stays,
                        };
                        (len, kind)
                    }
                    // Changing as we look, or a run whose object moved on.
                    _ => (1, UnitKind::InFlux),
                },
                PageEntry::SlabHead { span, .. } => {
                    let held = {
                        let (_g, hazard) = self.alloc.general_hazard();
                        slabs.slab_blocks(p, hazard)
                    };
                    let kind = match held {
                        None => UnitKind::InFlux,
                        Some((owner, held)) => {
                            // Taking a slab from a process that allocates
                            // from it costs that process a new slab later.
                            let mut cost = if owner == 0 { 0 } else { ps };
                            let mut objects = vec![];
                            let mut kind = None;
                            for d in held {
                                match occupant_of(d) {
                                    Some((Occupant::Movable, s)) => {
                                        cost = cost.saturating_add(cost_of(d, &s));
                                        objects.push(d);
                                    }
                                    Some((Occupant::Kept, _)) => objects.push(d),
                                    Some((Occupant::Stays, _)) => {
                                        kind = Some(UnitKind::Stays);
                                        break;
                                    }
                                    _ => kind = Some(UnitKind::InFlux),
                                }
                            }
                            kind.unwrap_or(UnitKind::Movable { cost, objects, slab: Some(p) })
                        }
                    };
                    (span as u64, kind)
                }
                PageEntry::Claimed { .. } | PageEntry::SlabTail { .. } | PageEntry::SlabRetiring { .. } => {
                    (1, UnitKind::InFlux)
                }
                PageEntry::Invalid => (1, UnitKind::Stays),
            };
            let len = len.max(1).min(pages.count() - p);
            units.push(Unit { start: p, pages: len, kind });
            p += len;
        }
        if let Some(w) = best_window(&units, count, false) {
            return Window::Found(w);
        }
        if best_window(&units, count, true).is_some() {
            Window::Busy
        } else {
            Window::Blocked
        }
    }
}

/// What making room achieved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Room {
    /// A run of pages now CLAIMED by this process: the allocation takes it.
    Claimed { start: u64, count: u64 },
    /// Room was made somewhere; allocate again.
    Progress,
    /// Room can be made once steps of other processes settle (a put, a
    /// spill or a restore under way): wait a little and try again.
    Busy,
    /// Nothing more can move: what is left is pinned or unsealed.
    Exhausted,
}

/// An object that occupies arena memory, for making room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Occupant {
    /// Sealed, unpinned, in memory, and of the kind the room maker moves.
    Movable,
    /// No object: a block a free descriptor keeps, given back for free.
    Kept,
    /// In the middle of a step of some process.
    InFlux,
    /// Pinned, unsealed, or damaged: stays where it is.
    Stays,
}

enum UnitKind {
    Movable { cost: u64, objects: Vec<u32>, slab: Option<u64> },
    InFlux,
    Stays,
}

struct Unit {
    start: u64,
    pages: u64,
    kind: UnitKind,
}

/// A window to empty.
pub(crate) struct WindowChoice {
    start: u64,
    count: u64,
    victims: Vec<u32>,
    slabs: Vec<u64>,
}

enum Window {
    Found(WindowChoice),
    /// Every window needs something that is in the middle of a step.
    Busy,
    /// Every window holds something that stays.
    Blocked,
}

/// The cheapest run of units covering `count` pages in which every unit is
/// movable (with `through_flux`, in which none stays), cut to `count` pages.
fn best_window(units: &[Unit], count: u64, through_flux: bool) -> Option<WindowChoice> {
    let usable = |u: &Unit| match u.kind {
        UnitKind::Movable { cost, .. } => Some(cost),
        UnitKind::InFlux if through_flux => Some(0),
        _ => None,
    };
    let mut best: Option<(u64, usize, usize)> = None;
    let (mut first, mut pages, mut cost) = (0usize, 0u64, 0u64);
    for (i, u) in units.iter().enumerate() {
        let Some(c) = usable(u) else {
            first = i + 1;
            pages = 0;
            cost = 0;
            continue;
        };
        pages += u.pages;
        cost = cost.saturating_add(c);
        // Drop leading units the window does not need.
        while pages - units[first].pages >= count {
            pages -= units[first].pages;
            cost -= usable(&units[first]).unwrap_or(0);
            first += 1;
        }
        if pages >= count && best.is_none_or(|(c, _, _)| cost < c) {
            best = Some((cost, first, i));
        }
    }
    let (_, a, b) = best?;
    let mut choice = WindowChoice { start: units[a].start, count, victims: vec![], slabs: vec![] };
    for u in &units[a..=b] {
        if let UnitKind::Movable { objects, slab, .. } = &u.kind {
            choice.victims.extend_from_slice(objects);
            choice.slabs.extend(slab);
        }
    }
    Some(choice)
}
