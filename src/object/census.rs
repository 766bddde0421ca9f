//! Counting and listing what a store holds, for inspection: one scan of the
//! descriptor table, each descriptor read seqlock-style and interpreted
//! here (so the API layer need not know the states).

use std::sync::atomic::Ordering;

use super::attach::Attachment;
use crate::error::{Error, Result};
use crate::id::ObjectId;
use std::collections::HashSet;

use crate::shared::descriptor::State;
use crate::shared::holds::Hold;
use crate::shared::layout::Global;
use crate::shared::refs::Refs;

/// Counters of a store, computed by one scan of its tables.
///
/// The scan does not stop other processes: each figure is exact when the
/// store is quiet, and under concurrent puts, deletes and spills an object
/// may be seen twice (before and after it moved) or not at all. `used_bytes`
/// is capped at `capacity_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub capacity_bytes: u64,
    /// Memory held by objects now (including objects deleted while pinned).
    pub used_bytes: u64,
    /// Sealed objects, in memory or spilled.
    pub object_count: u64,
    /// Created, not yet sealed.
    pub unsealed_count: u64,
    /// Objects with at least one pin.
    pub pinned_count: u64,
    pub spilled_count: u64,
    pub spilled_bytes: u64,
    pub max_objects: u64,
    pub attached_processes: u32,
    pub max_processes: u32,
    /// Dead processes cleaned up so far.
    pub reclaimed_processes: u64,
    /// Objects spilled to disk since the store was created.
    pub spills_total: u64,
    /// Objects restored from disk since the store was created.
    pub restores_total: u64,
    /// References held: one per process and object it holds references to
    /// (a process's count of them is its own business).
    pub references: u64,
    /// Objects with at least one reference.
    pub referenced_count: u64,
    /// Tickets given and not yet taken.
    pub tickets: u64,
    /// Evictable objects deleted to make room since the store was created.
    pub evictions_total: u64,
    /// Objects uploaded to the remote tier since the store was created (a
    /// second publish of an object over 16 MiB finds it there and uploads
    /// nothing; a smaller one is uploaded again, which costs about what
    /// asking first would).
    pub publishes_total: u64,
    /// Bytes uploaded to the remote tier since the store was created.
    pub published_bytes: u64,
    /// Objects fetched from the remote tier since the store was created.
    pub fetches_total: u64,
    /// Bytes (data and metadata) fetched from the remote tier since the
    /// store was created.
    pub fetched_bytes: u64,
}

/// Where an object is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectState {
    /// Created, not sealed yet.
    Unsealed,
    /// Sealed, in memory.
    Sealed,
    /// Deleted but still pinned: invisible, freed at the last release.
    Deleted,
    /// Sealed, on disk only.
    Spilled,
}

impl ObjectState {
    pub fn name(self) -> &'static str {
        match self {
            ObjectState::Unsealed => "unsealed",
            ObjectState::Sealed => "sealed",
            ObjectState::Deleted => "deleted",
            ObjectState::Spilled => "spilled",
        }
    }
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub id: ObjectId,
    pub data_len: u64,
    pub meta_len: u64,
    pub state: ObjectState,
    /// Processes holding at least one pin.
    pub pinning_processes: u32,
    /// Processes holding at least one reference (a ticket not taken yet
    /// counts for its giver, to whom it is charged).
    pub referencing_processes: u32,
    /// Unix seconds when it was created.
    pub created_unix: u64,
    /// The flags it was put or created with (`OBJECT_REFCOUNTED`,
    /// `OBJECT_EVICTABLE`).
    pub flags: u32,
}

/// An attached process of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub slot: u32,
    pub pid: u32,
}

/// The counters of the store (O(max_objects)).
pub(crate) fn stats(att: &Attachment) -> Stats {
    let region = att.region();
    let o = att.objects();
    let alloc = att.allocator();
    let p = &region.layout().params;
    let counter = |g: Global| region.global(g).load(Ordering::Relaxed);
    let mut s = Stats {
        capacity_bytes: p.capacity,
        max_objects: p.max_objects,
        max_processes: p.max_processes,
        reclaimed_processes: counter(Global::Reclaimed),
        spills_total: counter(Global::Spills),
        restores_total: counter(Global::Restores),
        evictions_total: counter(Global::Evictions),
        publishes_total: counter(Global::Publishes),
        published_bytes: counter(Global::PublishedBytes),
        fetches_total: counter(Global::Fetches),
        fetched_bytes: counter(Global::FetchedBytes),
        attached_processes: att.live_processes().len() as u32,
        ..Stats::default()
    };
    let (tickets, entry_refs, entry_keys) = hold_entries(o);
    s.tickets = tickets;
    s.references = entry_refs;
    for d in 0..o.desc.count() as u32 {
        let Some(snap) = o.desc.snapshot(d) else { continue };
        let holders = ref_holders(o, d, &snap);
        if holders > 0 || entry_keys.contains(&snap.key) && snap.state.holds_id() {
            s.references += holders;
            s.referenced_count += 1;
        }
        match snap.state.state() {
            State::Free => continue,
            State::Reserved | State::Inserting | State::Created => s.unsealed_count += 1,
            State::Sealed | State::Spilling => s.object_count += 1,
            // Deleted, or already restored (its copy counts).
            State::Spilled if snap.superseded() => {}
            State::Spilled => {
                s.object_count += 1;
                s.spilled_count += 1;
                s.spilled_bytes = s.spilled_bytes.saturating_add(snap.data_len.saturating_add(snap.meta_len as u64));
            }
            State::Collided | State::Deleted | State::Freeing | State::Shadow | State::Invalid => {}
        }
        s.used_bytes = s.used_bytes.saturating_add(alloc.held_bytes(&snap).unwrap_or(0));
        if o.pinned(d) {
            s.pinned_count += 1;
        }
    }
    // Memory freed behind the scan and reused ahead of it counts twice.
    s.used_bytes = s.used_bytes.min(s.capacity_bytes);
    s
}

/// Holders of references to the object in `d` (seen in `snap`) in its
/// reference word.
fn ref_holders(o: &crate::object::lifecycle::Objects<'_>, d: u32, snap: &crate::shared::descriptor::Snapshot) -> u64 {
    match o.refs.load(d, snap.state.gen()) {
        Some(Refs::Open { holders }) if snap.state.holds_id() && !snap.superseded() => holders.count_ones() as u64,
        _ => 0,
    }
}

/// Tickets outstanding, reference entries, and the IDs those are on.
fn hold_entries(o: &crate::object::lifecycle::Objects<'_>) -> (u64, u64, HashSet<[u64; 3]>) {
    let (tickets, refs) = o.holds.counts();
    (tickets, refs, o.holds.ref_keys())
}

/// Up to `limit` objects, scanning object slots from `cursor`; returns them
/// and the cursor to continue from (None when the scan is done).
pub(crate) fn list_from(att: &Attachment, cursor: u64, limit: usize) -> (Vec<ObjectInfo>, Option<u64>) {
    let o = att.objects();
    let count = o.desc.count() as u64;
    let mut out = Vec::new();
    let mut d = cursor.min(count);
    let mut retries = 0;
    while d < count && out.len() < limit {
        let Some(snap) = o.desc.snapshot(d as u32) else {
            // Changing under us: look again, a few times.
            retries += 1;
            if retries < 16 {
                continue;
            }
            retries = 0;
            d += 1;
            continue;
        };
        retries = 0;
        let state = match snap.state.state() {
            State::Created => Some(ObjectState::Unsealed),
            State::Sealed | State::Spilling => Some(ObjectState::Sealed),
            State::Deleted => Some(ObjectState::Deleted),
            State::Spilled if snap.superseded() => None,
            State::Spilled => Some(ObjectState::Spilled),
            State::Free
            | State::Reserved
            | State::Inserting
            | State::Collided
            | State::Freeing
            | State::Shadow
            | State::Invalid => None,
        };
        if let Some(state) = state {
            out.push(ObjectInfo {
                id: ObjectId::from_words(snap.key),
                data_len: snap.data_len,
                meta_len: snap.meta_len as u64,
                state,
                pinning_processes: o.pin_holders(d as u32).len() as u32,
                referencing_processes: ref_holders_of(o, d as u32, &snap).len() as u32,
                created_unix: snap.created_unix(),
                flags: snap.state.flags(),
            });
        }
        d += 1;
    }
    (out, (d < count).then_some(d))
}

/// The slots holding references to the object in `d` (seen in `snap`):
/// bits of its word and reference entries of the hold table.
fn ref_holders_of(
    o: &crate::object::lifecycle::Objects<'_>,
    d: u32,
    snap: &crate::shared::descriptor::Snapshot,
) -> Vec<u32> {
    let mut slots = if ref_holders(o, d, snap) > 0 { o.refs.holders(d) } else { Vec::new() };
    for h in o.holds.holders(o.hash(&snap.key), &snap.key) {
        match h {
            Hold::Ref { slot } => slots.push(slot),
            // A ticket not taken yet is a reference charged to its giver.
            Hold::Ticket { giver, .. } => slots.push(giver),
        }
    }
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// The live processes holding references to an object (sealed, or deleted
/// and kept by its references).
pub(crate) fn ref_holders_by_id(att: &Attachment, id: &ObjectId) -> Result<Vec<ProcessInfo>> {
    let o = att.objects();
    let Some((d, snap)) = o.lookup(&id.words(), |s| s.holds_id() && s.state() != State::Created) else {
        return Err(Error::object_not_found(id.0));
    };
    let procs = att.region().procs();
    Ok(ref_holders_of(o, d, &snap)
        .into_iter()
        .filter(|&slot| slot < procs.slots())
        .map(|slot| ProcessInfo { slot, pid: procs.owner(slot).pid })
        .collect())
}

/// The live processes pinning an object (sealed or deleted-but-pinned).
pub(crate) fn pin_holders(att: &Attachment, id: &ObjectId) -> Result<Vec<ProcessInfo>> {
    let o = att.objects();
    let Some((d, _)) = o.lookup(&id.words(), |s| s.holds_id()) else {
        return Err(Error::object_not_found(id.0));
    };
    let procs = att.region().procs();
    Ok(o.pin_holders(d)
        .into_iter()
        .filter(|&slot| slot < procs.slots())
        .map(|slot| ProcessInfo { slot, pid: procs.owner(slot).pid })
        .collect())
}
