//! Reclaiming what a dead process held: its pins, its unsealed objects,
//! the step it was in the middle of, its pages and slabs.
//!
//! The reclaimer holds the dead slot's liveness lock for the whole time, so
//! no other reclaimer and no new owner can touch the slot meanwhile. Every
//! step it takes names the dead slot (not itself) as owner: if the
//! reclaimer dies too, the slot's lock is free again and the next reclaimer
//! repeats the work, each step being idempotent. A detaching process runs
//! the same code on its own slot, so a clean exit and a crash leave the
//! store in the same state.

use std::sync::atomic::Ordering;

use crate::alloc::Freer;
use crate::attach::Attachment;
use crate::descriptor::st;
use crate::pages::PageEntry;

impl Attachment {
    /// Cleans up slot `dead`. The caller holds `dead`'s liveness lock.
    pub(crate) fn reclaim_slot(&self, dead: u32) {
        let _g = self.general_hazard.lock().unwrap_or_else(|p| p.into_inner());
        let procs = self.procs();
        // The dead process's hazards protect nothing any more. (When `dead`
        // is our own slot, this also clears ours before we use it.)
        procs.clear_hazards(dead);
        let hazard = procs.hazard(self.slot, 0);
        let mem = Freer { att: self, hazard: Some(hazard) };
        let o = self.objects();

        for d in 0..o.desc.count() as u32 {
            let s = o.desc.load_state(d, Ordering::SeqCst);
            if s.has_owner() && s.owner() == dead {
                match s.state() {
                    st::RESERVED | st::INSERTING | st::COLLIDED | st::CREATED => {
                        o.discard(d, s, dead, &mem);
                    }
                    st::FREEING => o.finish_free(d, s, &mem),
                    _ => {}
                }
            }
            if o.masks.clear(d, dead) {
                o.free_if_deleted_and_unpinned(d, dead, &mem);
            }
        }

        let pages = self.pages();
        pages.for_each(|p, e| {
            if e == (PageEntry::Claimed { slot: dead }) {
                pages.free_pages(p, 1, |_| PageEntry::Claimed { slot: dead });
            }
        });
        self.slabs().reclaim_slot(dead, hazard);
        hazard.store(0, Ordering::SeqCst);
    }
}
