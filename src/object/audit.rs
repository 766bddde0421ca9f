//! A consistency check of a whole store, for tests after crashes: every
//! byte of the arena is either free or held by exactly one live object (or
//! by a live process in the middle of an allocation), every live object is
//! in the index once, and no pin or step names a dead process.
//!
//! It reads the tables without stopping anyone, so it is exact only on a
//! quiet store (no process mid-operation), which is how tests use it.

use std::collections::HashMap;

use super::alloc::footprint;
use super::attach::Attachment;
use super::spill_files;
use crate::shared::classes::class_for;
use crate::shared::descriptor::{Location, State};
use crate::shared::holds::Hold;
use crate::shared::pages::PageEntry;
use crate::shared::refs::Refs;

pub(crate) fn audit(att: &Attachment) -> Vec<String> {
    let mut problems = Vec::new();
    let o = att.objects();
    let region = att.region();
    let pages = region.pages();
    let procs = region.procs();
    let live: Vec<bool> = {
        let alive: Vec<u32> = att.live_processes().iter().map(|&(s, _)| s).collect();
        (0..procs.slots()).map(|s| alive.contains(&s)).collect()
    };
    let is_live = |slot: u32| live.get(slot as usize).copied().unwrap_or(false);

    // Descriptors: owners alive, locations valid and held.
    let mut entries: HashMap<u32, u32> = HashMap::new();
    o.index.for_each_entry(|d| *entries.entry(d).or_default() += 1);
    let mut run_pages: HashMap<u64, u32> = HashMap::new();
    let mut blocks: HashMap<(u64, u32), u32> = HashMap::new();
    // Blocks free descriptors keep (see `lifecycle`, "Kept blocks"): each
    // must be one its slab's word names for that descriptor.
    let mut kept: HashMap<(u64, u32), u32> = HashMap::new();
    // A block's page must head a slab of the class its object's lengths give.
    let block_class_problem = |page: u64, total: u64| match (pages.load(page), class_for(total)) {
        (PageEntry::SlabHead { class, .. }, Some(c)) if class as usize == c => None,
        (e, c) => Some(format!("in page {page} ({e:?}), class {c:?}")),
    };
    for d in 0..o.desc.count() as u32 {
        let Some(s) = o.desc.snapshot(d) else {
            problems.push(format!("descriptor {d} changed during the audit"));
            continue;
        };
        let state = s.state.state();
        if state == State::Free {
            if entries.contains_key(&d) {
                problems.push(format!("free descriptor {d} is in the index"));
            }
            match Location::decode(s.loc) {
                Some(Location::None) => {}
                // The block of its last life, kept for its next one (see
                // `lifecycle`, "Kept blocks"): of the class its lengths give.
                Some(Location::Block { page, block }) => {
                    kept.insert((page, block), d);
                    let total = footprint(s.data_len, s.meta_len as u64).unwrap_or(0);
                    if let Some(p) = block_class_problem(page, total) {
                        problems.push(format!("free descriptor {d} keeps a block {p}"));
                    }
                }
                _ => problems.push(format!("free descriptor {d} still has a location")),
            }
            continue;
        }
        if s.state.has_owner() && !is_live(s.state.owner()) {
            problems.push(format!("descriptor {d} in state {state:?} is owned by dead slot {}", s.state.owner()));
        }
        let indexed =
            matches!(state, State::Created | State::Sealed | State::Deleted | State::Spilling | State::Spilled);
        let n = entries.get(&d).copied().unwrap_or(0);
        if indexed && n != 1 {
            problems.push(format!("descriptor {d} in state {state:?} has {n} index entries"));
        }
        let total = footprint(s.data_len, s.meta_len as u64).unwrap_or(0);
        match Location::decode(s.loc) {
            Some(Location::Run { page }) => {
                let count = total.div_ceil(region.layout().params.page_size).max(1);
                if page.saturating_add(count) > pages.count() {
                    problems.push(format!("object {d}'s run of {count} pages at page {page} is out of bounds"));
                    continue;
                }
                for p in page..page + count {
                    run_pages.insert(p, d);
                    if pages.load(p) != (PageEntry::Run { d }) {
                        problems.push(format!("page {p} of object {d}'s run is {:?}", pages.load(p)));
                    }
                }
            }
            Some(Location::Block { page, block }) => {
                blocks.insert((page, block), d);
                if let Some(p) = block_class_problem(page, total) {
                    problems.push(format!("object {d}'s block is {p}"));
                }
            }
            Some(Location::None) => {
                if state != State::Reserved && state != State::Inserting && state != State::Collided {
                    problems.push(format!("descriptor {d} in state {state:?} has no memory"));
                }
            }
            Some(Location::OnDisk { .. }) => {
                let file =
                    att.spill_dir().map(|dir| spill_files::path(dir, &s.key, d, s.state.gen(), s.spill_tag(), false));
                if state != State::Spilled || Location::decode(s.loc) != Some(Location::on_disk(s.state)) {
                    problems.push(format!("descriptor {d} in state {state:?} has a stale on-disk marker"));
                } else if !file.as_ref().is_some_and(|f| f.exists()) {
                    problems.push(format!("spilled object {d} has no spill file ({file:?})"));
                }
            }
            Some(Location::SlabIntent { .. }) if !s.state.has_owner() => {
                problems.push(format!("descriptor {d} in state {state:?} has a slab intent"))
            }
            Some(Location::SlabIntent { .. }) => {}
            Some(Location::Successor { .. }) | Some(Location::Tombstone) => {
                if state != State::Spilled {
                    problems.push(format!("descriptor {d} in state {state:?} has a restore or delete marker"));
                } else {
                    problems
                        .push(format!("spilled object {d} has an unfinished restore or delete (collect finishes it)"));
                }
            }
            None => problems.push(format!("descriptor {d} has an invalid location word {:#x}", s.loc)),
        }
        for slot in o.pin_holders(d) {
            if !is_live(slot) {
                problems.push(format!("object {d} is pinned by dead slot {slot}"));
            }
        }
        match o.refs.load(d, s.state.gen()) {
            Some(Refs::Open { .. })
            | Some(Refs::Moved { .. })
            | Some(Refs::Copied { .. })
            | Some(Refs::Pending)
            | None => {
                for slot in o.refs.holders(d) {
                    if !is_live(slot) {
                        problems.push(format!("object {d} is referenced by dead slot {slot}"));
                    }
                }
            }
            Some(Refs::Closing { by }) | Some(Refs::Dead { by }) if !is_live(by) => {
                problems.push(format!("object {d} is being retired by dead slot {by}"))
            }
            Some(Refs::Closing { .. }) | Some(Refs::Dead { .. }) => {}
            Some(Refs::Invalid) => problems.push(format!("object {d} has an invalid reference word")),
        }
        for hold in o.holds.holders(o.hash(&s.key), &s.key) {
            let slot = match hold {
                Hold::Ref { slot } => slot,
                Hold::Ticket { giver, .. } => giver,
            };
            if s.state.holds_id() && !is_live(slot) {
                problems.push(format!("object {d} is held by dead slot {slot} ({hold:?})"));
            }
        }
        // A REFCOUNTED object goes with its last hold: one that nothing
        // holds (no reference, ticket or pin) and no retire is deleting
        // stays for the life of the store.
        let live_object = match state {
            State::Sealed | State::Spilling => true,
            State::Spilled => !s.superseded(),
            _ => false,
        };
        if live_object
            && s.state.is_refcounted()
            && o.refs.load(d, s.state.gen()) == Some(Refs::Open { holders: 0 })
            && o.holds.holders(o.hash(&s.key), &s.key).is_empty()
            && !o.pinned(d)
        {
            problems.push(format!("REFCOUNTED object {d} ({state:?}) is held by nothing, and nothing will free it"));
        }
    }

    for slot in region.waits().waiting_slots() {
        if !is_live(slot) {
            problems.push(format!("dead slot {slot} is still marked as waiting"));
        }
    }

    // Pages: held by a live object, a slab, or a live claimer.
    let mut slab_pages: HashMap<u64, u64> = HashMap::new();
    pages.for_each(|p, e| match e {
        PageEntry::Free => {}
        PageEntry::Claimed { slot } if is_live(slot) => {}
        PageEntry::Claimed { slot } => problems.push(format!("page {p} claimed by dead slot {slot}")),
        PageEntry::Run { d } => {
            if run_pages.get(&p) != Some(&d) {
                problems.push(format!("page {p} is held by object {d}, which does not hold it"));
            }
        }
        PageEntry::SlabHead { class, span } => match region.classes().get(class as usize) {
            Some(c) if c.span == span as u64 => {
                for q in p + 1..p + span as u64 {
                    slab_pages.insert(q, p);
                }
            }
            _ => problems.push(format!("slab at page {p} has a bad class or span")),
        },
        PageEntry::SlabTail { .. } => {}
        PageEntry::SlabRetiring { slot, .. } if is_live(slot) => {}
        other => problems.push(format!("page {p} is {other:?}")),
    });
    pages.for_each(|p, e| {
        if let PageEntry::SlabTail { head } = e {
            if slab_pages.get(&p) != Some(&head) {
                problems.push(format!("page {p} claims to be a tail of slab {head}"));
            }
        }
    });

    // Slab blocks: held by the object whose location names them.
    region.slabs(att.slot()).for_each_block(|head, _class, block, d| {
        if kept.get(&(head, block)) == Some(&d) {
            kept.remove(&(head, block));
        } else if blocks.get(&(head, block)) != Some(&d) {
            let owned_by_live_allocator = (d as usize) < o.desc.count()
                && o.desc.snapshot(d).is_some_and(|s| s.state.has_owner() && is_live(s.state.owner()));
            if !owned_by_live_allocator {
                problems.push(format!("block {block} of slab {head} names object {d}, which does not hold it"));
            }
        }
    });
    for ((page, block), d) in kept {
        problems.push(format!("free descriptor {d} keeps block {block} of slab {page}, which does not name it"));
    }
    // A badly damaged store can produce a problem per page; keep it readable.
    problems.truncate(1000);
    problems
}
