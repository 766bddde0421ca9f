//! Reclaiming what a dead process held: its pins, its references and the
//! tickets it gave, its unsealed objects, the step it was in the middle of,
//! its pages and slabs.
//!
//! The reclaimer holds the dead slot's liveness lock for the whole time, so
//! no other reclaimer and no new owner can touch the slot meanwhile. Every
//! step it takes names the dead slot (not itself) as owner: if the
//! reclaimer dies too, the slot's lock is free again and the next reclaimer
//! repeats the work, each step being idempotent. A detaching process runs
//! the same code on its own slot, so a clean exit and a crash leave the
//! store in the same state.

use std::sync::atomic::Ordering;

use super::alloc::Allocator;
use super::lifecycle::Objects;
use super::spill;
use crate::shared::descriptor::State;
use crate::shared::pages::PageEntry;
use crate::shared::proctable::W_WAIT_SETS;

/// What a collect (or an attach) reclaimed from dead processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Dead processes cleaned up.
    pub processes: u32,
    /// Objects that dead processes had pinned (one per object and process).
    pub pins: u64,
    /// Objects created but never sealed by a dead process, now aborted.
    pub unsealed_objects: u64,
    /// Steps a dead process was in the middle of, finished or undone.
    pub interrupted_steps: u64,
    /// Deleted objects freed because their last pin was a dead process's.
    pub deleted_objects_freed: u64,
    /// References a dead process held (one per object and process) and
    /// tickets it gave that no one took.
    pub references: u64,
    /// Arena pages a dead process had claimed and not yet used.
    pub pages: u64,
}

impl std::ops::AddAssign for Reclaimed {
    fn add_assign(&mut self, other: Reclaimed) {
        self.processes += other.processes;
        self.pins += other.pins;
        self.unsealed_objects += other.unsealed_objects;
        self.interrupted_steps += other.interrupted_steps;
        self.deleted_objects_freed += other.deleted_objects_freed;
        self.references += other.references;
        self.pages += other.pages;
    }
}

impl std::ops::Add for Reclaimed {
    type Output = Reclaimed;
    fn add(mut self, other: Reclaimed) -> Reclaimed {
        self += other;
        self
    }
}

impl Reclaimed {
    /// Whether nothing was reclaimed.
    pub fn is_empty(&self) -> bool {
        *self == Reclaimed::default()
    }
}

/// Cleans up slot `dead` for the allocator's process. The caller holds
/// `dead`'s liveness lock.
pub(crate) fn reclaim_slot(alloc: &Allocator<'_>, dead: u32) -> Reclaimed {
    let mut report = Reclaimed { processes: 1, ..Reclaimed::default() };
    let region = alloc.region;
    let (_g, hazard) = alloc.general_hazard();
    let procs = region.procs();
    // The dead process's hazards protect nothing any more. (When `dead` is
    // our own slot, this also clears ours before we use them.)
    procs.clear_hazards(dead);
    let o = Objects::of(region);
    // Nor do the descriptors it named as releasing a spill's memory.
    o.releasers.clear_slot(dead);
    let mem = alloc.careful_freer();
    // Its linger entries go first: a deleted object it alone pinned through
    // one is then free to go when its bit is cleared below.
    report.pins += o.lingering.clear_entries(dead);

    for d in 0..o.desc.count() as u32 {
        let s = o.desc.load_state(d, Ordering::SeqCst);
        if s.has_owner() && s.owner() == dead {
            match s.state() {
                State::Created => {
                    o.discard(d, s, dead, &mem);
                    report.unsealed_objects += 1;
                }
                State::Reserved | State::Inserting | State::Collided => {
                    o.discard(d, s, dead, &mem);
                    report.interrupted_steps += 1;
                }
                State::Freeing => {
                    o.finish_free(d, s, &mem);
                    report.interrupted_steps += 1;
                }
                State::Spilling | State::Shadow => {
                    spill::undo_step(region, d, s, dead, &mem);
                    report.interrupted_steps += 1;
                }
                // No step of an owner.
                State::Free | State::Sealed | State::Deleted | State::Spilled | State::Invalid => {}
            }
        }
        let (pin_bit, freed) = o.drop_dead_pins_and_spill_note(d, dead, &mem);
        report.pins += pin_bit as u64;
        report.deleted_objects_freed += freed as u64;
    }
    // Its references go once its pins are gone, so that an object it held
    // both ways is freed (or retired) by the last of these drops. Each drop
    // is followed by the check a live holder's drop makes.
    // Marked first: a restore that moves one of its bits behind the scan
    // drops it from the copy itself (see `refs`).
    let me = alloc.me;
    o.reclaims.begin(dead);
    for d in 0..o.desc.count() as u32 {
        report.references += o.drop_dead_refs(d, dead, me, &mem) as u64;
    }
    report.references += o.drop_dead_holds(dead, me, &mem);
    // The checks the dead process (or a dead reclaimer) did not get to
    // run after an unpin, a delete or a dropped hold: nothing records
    // those steps, so every descriptor is looked at.
    for d in 0..o.desc.count() as u32 {
        o.check_if_free_to_go(d, me, &mem);
    }
    o.reclaims.end(dead);

    // Slabs first: a slab it was making still has its head claimed.
    region.slabs(alloc.me).reclaim_slot(dead, hazard);
    let pages = region.pages();
    pages.for_each(|p, e| {
        if e == (PageEntry::Claimed { slot: dead }) {
            pages.free_pages(p, 1, |_| PageEntry::Claimed { slot: dead });
            report.pages += 1;
        }
    });
    region.waits().clear_slot(dead);
    region.waits().log().remove_sets_of_dead(region.procs().word(dead, W_WAIT_SETS));
    hazard.store(0, Ordering::SeqCst);
    report
}
