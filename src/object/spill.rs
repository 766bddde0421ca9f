//! Spilling and restoring objects: when memory runs short, unpinned sealed
//! objects go to files in the store's spill directory (`spill_files`) and
//! come back on the next get.
//!
//! The descriptor protocol (who may do which step, and how a reader, a
//! deleter and a restorer agree) is in `lifecycle`; this module runs it
//! with the files. Which objects to spill is `room`'s business.
//!
//! Files. A spill records its attempt in the descriptor before it creates
//! its file, writes the file under a temporary name and renames it into
//! place (on a remote, `spill_medium`: one PUT), then commits SPILLING ->
//! SPILLED. The file is removed when the spilled descriptor is freed: after
//! a restore installed its copy, or on delete (a blob on the remote by the
//! process that did it, once done). Files of a spiller that died are
//! removed when it is reclaimed; `sweep` also removes files (and blobs)
//! that no descriptor owns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::alloc::{footprint, Allocator, Freer};
use super::lifecycle::Objects;
use super::spill_files::{self, Header};
use super::spill_medium::Medium;
use crate::error::{err, Result};
use crate::id::ObjectId;
use crate::shared::descriptor::{flags, Location, Snapshot, State, StateWord, NO_OWNER};
use crate::shared::layout::Global;
use crate::shared::pins::LocalPins;
use crate::shared::region::Region;

/// What became of a SPILLED object a lookup found.
#[derive(Debug)]
pub(crate) enum Spilled {
    /// It moved (restored by someone, or its memory released): look again.
    LookAgain,
    /// A delete of it won.
    Deleted,
    /// This process restored it into descriptor `d` and pins it there.
    Restored { d: u32, snap: Snapshot },
}

/// Descriptors and memory for restored copies, got the way a put gets them:
/// reclaiming dead processes and making room when they run short (the
/// attachment does this).
pub(crate) trait Provision {
    /// Claims a free descriptor (RESERVED by this process, with `flags`)
    /// for an object of `total` bytes.
    fn claim_descriptor(&self, total: u64, flags: u32) -> Result<(u32, StateWord)>;
    /// Allocates `total` bytes for descriptor `d`, held RESERVED.
    fn allocate(&self, d: u32, total: u64) -> Result<u64>;
}

/// Spilling and restoring for one process.
#[derive(Clone, Copy)]
pub(crate) struct Spiller<'a> {
    pub alloc: Allocator<'a>,
    /// Where spilled objects go: the spill directory, or the remote.
    pub medium: Medium<'a>,
    /// Mode of the files written: access for whoever may use the store.
    pub file_mode: u32,
    /// This process's local pin counts.
    pub local: LocalPins<'a>,
}

impl<'a> Spiller<'a> {
    fn objects(&self) -> &'a Objects<'a> {
        Objects::of(self.alloc.region)
    }

    fn me(&self) -> u32 {
        self.alloc.me
    }

    fn count(&self, what: Global) {
        self.alloc.region.global(what).fetch_add(1, Ordering::Relaxed);
    }

    /// A new spill attempt tag for this process: its slot and a counter.
    /// The counter starts at a random value, so that a later process in
    /// the same slot does not repeat an earlier one's tags (a tag names an
    /// attempt's files, and `record_spill_attempt` compares tags).
    fn next_tag(&self) -> u32 {
        static COUNTER: OnceLock<AtomicU64> = OnceLock::new();
        let counter = COUNTER.get_or_init(|| AtomicU64::new(crate::platform::random_u128() as u64));
        ((self.me() + 1) << 20) | (counter.fetch_add(1, Ordering::Relaxed) as u32 & 0xf_ffff)
    }

    // ----- spilling one object ---------------------------------------------------

    /// Spills the sealed object `d` seen in `snap`. Ok(false): it was pinned
    /// or changed, or a reader cancelled the spill.
    pub(crate) fn spill_one(&self, d: u32, snap: &Snapshot) -> Result<bool> {
        let o = self.objects();
        // An evictable object is deleted when memory runs short, never
        // spilled (see `evict`).
        if snap.state.state() != State::Sealed || snap.state.flags() & flags::EVICTABLE != 0 {
            return Ok(false);
        }
        // The attempt recorded before our step begins (see
        // `record_spill_attempt`).
        let seen = o.spill_attempt(d);
        let Some(spilling) = o.begin_spill(d, snap.state, self.me()) else { return Ok(false) };
        // Pin it while we read its bytes: a reader may cancel the spill and
        // a delete may follow at once, and the bytes must stay until we are
        // done with them. The pin is a spiller's, said before it is taken: a
        // reader that cancels the spill leaves it in place while we read,
        // and it must not hold a REFCOUNTED object as a reader's pin does
        // (see `Objects::pinned_by_reader`).
        if !o.pin_to_spill(&self.local, self.me(), d, spilling) {
            return Ok(false);
        }
        let result = self.spill_pinned(d, snap, spilling, seen);
        o.unpin_after_spill(&self.local, self.me(), d, &self.alloc.freer());
        result
    }

    /// The body of `spill_one`, with `d` SPILLING and pinned by us; `seen`:
    /// the attempt recorded before our `begin_spill`.
    fn spill_pinned(&self, d: u32, snap: &Snapshot, spilling: StateWord, seen: u32) -> Result<bool> {
        let o = self.objects();
        let region = self.alloc.region;
        let total = footprint(snap.data_len, snap.meta_len as u64);
        let Some(offset) = total.and_then(|t| self.alloc.payload_offset(snap.loc, t)) else {
            o.cancel_spill(d, spilling);
            return Err(err!(Corrupt, "object in slot {d} has an out-of-bounds location (damaged store)"));
        };
        let tag = self.next_tag();
        let gen = snap.state.gen();
        // Record the attempt before the file exists, so that whoever frees
        // or reclaims the descriptor knows which file to remove. If our step
        // was cancelled meanwhile (and perhaps another spiller's committed),
        // the record fails rather than replace another attempt's.
        if !o.record_spill_attempt(d, spilling, seen, tag) {
            o.cancel_spill(d, spilling);
            return Ok(false);
        }
        let header = Header { key: snap.key, meta_len: snap.meta_len, data_len: snap.data_len, desc: d, gen };
        let base = region.arena_offset(offset);
        let written = self.medium.write(d, tag, self.file_mode, &header, |at, len| {
            // SAFETY: sealed bytes, which nobody writes, pinned by us so
            // that no delete frees them while we read.
            unsafe { region.map().bytes(base + at as usize, len) }
        });
        if let Err(e) = written {
            // A reader that cancelled the spill meanwhile makes the failure
            // moot: the object stays in memory, as it would have anyway.
            if !o.cancel_spill(d, spilling) {
                return Ok(false);
            }
            return Err(e);
        }
        if !o.commit_spill(d, spilling) {
            // A reader wanted it back first: keep it in memory.
            self.medium.remove(&snap.key, d, gen, tag);
            return Ok(false);
        }
        self.count(Global::Spills);
        let spilled = spilling.to(State::Spilled, NO_OWNER);
        let me = self.me();
        self.alloc.with_careful_freer(|f| o.release_spilled_memory(d, spilled, snap.loc, me, f));
        Ok(true)
    }

    // ----- restoring, helping, deleting spilled objects ----------------------------

    /// Handles a SPILLED object found by a lookup: restores it (with
    /// `provision`), or finishes whatever restore or delete of it is under
    /// way.
    pub(crate) fn handle_spilled(&self, d: u32, snap: &Snapshot, provision: &dyn Provision) -> Result<Spilled> {
        if Location::decode(snap.loc) == Some(Location::on_disk(snap.state)) {
            return Ok(match self.restore(d, snap, provision)? {
                Some((t, copy)) => Spilled::Restored { d: t, snap: copy },
                None => Spilled::LookAgain,
            });
        }
        self.settle(d, snap)
    }

    /// Handles a SPILLED object whose location is not (or no longer) on disk
    /// only: finishes the restore or delete that committed, or releases the
    /// memory a spill left.
    pub(crate) fn settle(&self, d: u32, snap: &Snapshot) -> Result<Spilled> {
        let o = self.objects();
        let me = self.me();
        match Location::decode(snap.loc) {
            Some(Location::Successor { d: t, gen }) => {
                self.alloc.with_careful_freer(|f| o.install_successor(d, snap.state, &snap.key, t, gen, me, f));
                self.forget(d, snap);
                Ok(Spilled::LookAgain)
            }
            Some(Location::Tombstone) => {
                self.alloc.with_careful_freer(|f| o.finish_tombstone(d, snap.state, me, f));
                self.forget(d, snap);
                Ok(Spilled::Deleted)
            }
            Some(loc) if loc.holds_memory() => {
                self.alloc.with_careful_freer(|f| o.release_spilled_memory(d, snap.state, snap.loc, me, f));
                Ok(Spilled::LookAgain)
            }
            Some(Location::OnDisk { .. }) | Some(_) | None => {
                if o.desc.load_state(d, Ordering::SeqCst) != snap.state {
                    Ok(Spilled::LookAgain)
                } else {
                    Err(err!(Corrupt, "spilled object in slot {d} has an invalid location word (damaged store)"))
                }
            }
        }
    }

    /// Handles a SHADOW copy found through the index: finishes installing it.
    pub(crate) fn handle_shadow(&self, t: u32, snap: &Snapshot) {
        let o = self.objects();
        if let Some((d, spilled)) = o.chosen_predecessor(t, snap.state) {
            let me = self.me();
            let original = o.desc.snapshot(d).filter(|p| p.state == spilled);
            self.alloc
                .with_careful_freer(|f| o.install_successor(d, spilled, &snap.key, t, snap.state.short_gen(), me, f));
            if let Some(p) = original {
                self.forget(d, &p);
            }
        }
    }

    /// Removes the spill blob of the SPILLED object `d` (seen in `snap`)
    /// that a restore or a delete has freed (a file went with the free).
    fn forget(&self, d: u32, snap: &Snapshot) {
        self.medium.forget(&snap.key, d, snap.state.gen(), snap.spill_tag());
    }

    /// Restores the SPILLED object `d`: a complete, checked copy in a fresh
    /// descriptor, then the commit race (see `lifecycle`). Some((copy, its
    /// snapshot)) when this copy won: it is then pinned by this process
    /// (pinned before it became visible, so nothing can spill it before the
    /// caller has it). None when another restore or a delete won (look the
    /// ID up again).
    fn restore(&self, d: u32, snap: &Snapshot, provision: &dyn Provision) -> Result<Option<(u32, Snapshot)>> {
        let o = self.objects();
        let region = self.alloc.region;
        let total = footprint(snap.data_len, snap.meta_len as u64)
            .ok_or_else(|| err!(Corrupt, "object in slot {d} has impossible sizes"))?;
        // The copy is the same object: its flags, and (at its install) its
        // holders of references.
        let (t, reserved) = provision.claim_descriptor(total, snap.state.flags())?;
        let kept = self.alloc.take_kept_block(t, total);
        o.desc.write_fields(t, &snap.key, snap.meta_len, snap.data_len, snap.created_unix() as u32);
        o.desc.set_restore_of(t, d);
        o.refs.start_pending(t, reserved.gen());
        let freer = self.alloc.freer();
        let allocated = match kept {
            Some(kept) => Ok(self.alloc.adopt_kept_block(t, kept)),
            None => provision.allocate(t, total),
        };
        let offset = match allocated {
            Ok(off) => region.arena_offset(off),
            Err(e) => {
                o.discard(t, reserved, self.me(), &freer);
                return if o.still_on_disk(d, snap.state) { Err(e) } else { Ok(None) };
            }
        };
        let header =
            Header { key: snap.key, meta_len: snap.meta_len, data_len: snap.data_len, desc: d, gen: snap.state.gen() };
        let read = self.medium.read(d, snap.spill_tag(), &header, |at, len| {
            // SAFETY: the block is ours alone: allocated for an unpublished
            // descriptor this process holds RESERVED.
            unsafe { region.map().bytes_mut(offset + at as usize, len) }
        });
        if let Err(e) = read {
            o.discard(t, reserved, self.me(), &freer);
            // A file that another process's restore (or a delete) removed
            // is not damage: the object is in memory now, or gone.
            if !o.still_on_disk(d, snap.state) {
                return Ok(None);
            }
            return Err(if e.kind() == crate::ErrorKind::NotFound { err!(Corrupt, "{}", e.message()) } else { e });
        }
        let pinned = self.local.pin(t, &o.masks, self.me());
        let shadow = reserved.to(State::Shadow, self.me());
        if !o.desc.transition(t, reserved, shadow) {
            return Err(err!(Corrupt, "a descriptor this process holds changed under it"));
        }
        if o.claim_successor(d, snap.state, t, shadow).is_err() {
            // Another restore or a delete won: ours is not needed.
            if pinned {
                o.unpin(&self.local, self.me(), t, &freer);
            }
            o.discard(t, shadow, self.me(), &freer);
            return Ok(None);
        }
        self.count(Global::Restores);
        let me = self.me();
        self.alloc.with_careful_freer(|f| o.install_successor(d, snap.state, &snap.key, t, shadow.short_gen(), me, f));
        self.forget(d, snap);
        if pinned {
            if let Some(copy) = o.desc.snapshot(t).filter(|c| c.state.gen() == shadow.gen()) {
                return Ok(Some((t, copy)));
            }
            o.unpin(&self.local, self.me(), t, &freer);
        }
        Ok(None)
    }

    /// Deletes the SPILLED object `d`. Ok(true): deleted by this call;
    /// Ok(false): look again (it was being restored, or memory to release).
    /// Err(NotFound): someone else deleted it.
    pub(crate) fn delete_spilled(&self, d: u32, snap: &Snapshot) -> Result<bool> {
        let o = self.objects();
        if Location::decode(snap.loc) == Some(Location::on_disk(snap.state)) {
            if o.claim_tombstone(d, snap.state).is_ok() {
                let me = self.me();
                self.alloc.with_careful_freer(|f| o.finish_tombstone(d, snap.state, me, f));
                self.forget(d, snap);
                return Ok(true);
            }
            return Ok(false);
        }
        match self.settle(d, snap)? {
            Spilled::Deleted => Err(err!(NotFound, "object {} is already deleted", ObjectId::from_words(snap.key))),
            Spilled::LookAgain | Spilled::Restored { .. } => Ok(false),
        }
    }

    /// Finishes what interrupted restores and deletes of spilled objects
    /// left, and removes spill files no descriptor owns (part of collect).
    pub(crate) fn sweep(&self) {
        let o = self.objects();
        for d in 0..o.desc.count() as u32 {
            let Some(snap) = o.desc.snapshot(d) else { continue };
            if snap.state.state() == State::Spilled && Location::decode(snap.loc) != Some(Location::on_disk(snap.state))
            {
                let _ = self.settle(d, &snap);
            }
        }
        self.medium.sweep(|attempt| o.owns_spill_file(attempt));
    }
}

/// Undoes the spill step of a dead slot (SPILLING: back to SEALED, its
/// files removed) or finishes its restore (SHADOW: install the copy if it
/// was chosen, else discard it). `mem` is the reclaimer's careful freer.
pub(crate) fn undo_step(region: &Region, d: u32, s: StateWord, dead: u32, mem: &Freer<'_>) {
    let o = Objects::of(region);
    match s.state() {
        State::Spilling => {
            o.undo_spill(d, s, |snap| {
                spill_files::remove_attempt(region.layout(), &snap.key, d, s.gen(), snap.spill_tag())
            });
        }
        State::Shadow => match o.chosen_predecessor(d, s) {
            Some((pred, spilled)) => {
                if let Some(snap) = o.desc.snapshot(d) {
                    o.install_successor(pred, spilled, &snap.key, d, s.short_gen(), dead, mem);
                }
            }
            None => {
                o.discard(d, s, dead, mem);
            }
        },
        State::Free
        | State::Reserved
        | State::Inserting
        | State::Collided
        | State::Created
        | State::Sealed
        | State::Deleted
        | State::Freeing
        | State::Spilled
        | State::Invalid => {}
    }
}
