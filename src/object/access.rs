//! Reading and writing objects for one process: the operations behind the
//! Rust API (`Store`), which interpret descriptor states so that the API
//! layer need not. Each is a run of the object protocol (`lifecycle`), the
//! allocator and the spiller.

use super::alloc::footprint;
use super::attach::Attachment;
use super::lifecycle::{InsertError, Objects, Pin};
use super::raw::RawObject;
use super::spill::{Provision, Spilled};
use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::platform;
use crate::shared::classes::class_for;
use crate::shared::descriptor::{mark_line_referenced, w, Snapshot, State, StateWord, NO_OWNER};
use crate::shared::lingering::LingerRelease;
use crate::shared::refs::INLINE_SLOTS;
use crate::shared::sync::{dekker_fence, Ordering};

/// An object being written: its descriptor, held RESERVED by this process,
/// and where its data goes in the mapping.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reserved {
    pub d: u32,
    pub state: StateWord,
    pub offset: usize,
    /// The ID was generated here (see `reserve`).
    pub fresh: bool,
}

/// A just-pinned object: its descriptor, the state it was pinned in and
/// its bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pinned {
    pub d: u32,
    pub state: StateWord,
    pub raw: RawObject,
}

/// What the fast path of a get found.
pub(crate) enum Fast {
    Pinned(Pinned),
    Absent,
    /// Anything else: the general path decides.
    Other,
}

/// What `Access::pin_again_if_aimed` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repin {
    /// Pinned, in the life seen.
    Pinned,
    /// Nothing: the slot's linger entry does not name it (or is full), or
    /// the slot is out of range.
    NotAimed,
    /// Pinned, but its state moved on: the pin is to be dropped
    /// (`unpin_changed`).
    Changed,
}

/// What is left of a release after `Access::unpin_through_entry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnpinRest {
    /// Nothing: the pin is dropped.
    Done,
    /// The entry holds no pin of the object: the pin is dropped through
    /// the masks (`unpin_masked`).
    Masked,
    /// The process's last pin is dropped, of an object that may now be
    /// freed (`free_after_last_pin`).
    LastPin,
}

/// Object operations for one attachment: built for each operation, with
/// the views it needs made once.
#[derive(Clone, Copy)]
pub(crate) struct Access<'a> {
    pub(super) att: &'a Attachment,
    pub(super) o: &'a Objects<'a>,
}

impl Attachment {
    /// The object operations of this process.
    #[inline]
    pub(crate) fn access(&self) -> Access<'_> {
        Access { att: self, o: self.objects() }
    }
}

impl<'a> Access<'a> {
    // ----- writing ----------------------------------------------------------------

    /// Claims a descriptor for `key`, writes its fields, allocates its
    /// memory and copies the metadata. `fresh`: the ID was generated here,
    /// so it cannot be taken (a caller's ID is checked first, before any
    /// memory is allocated for it, which in a full store would spill
    /// others for nothing; the insert still decides races). `flags` (see
    /// `descriptor::flags`) go into the state word; a REFCOUNTED object's
    /// first reference is this process's from here on (undone with
    /// `forget_creator_ref` if the put fails).
    #[inline(always)]
    pub(crate) fn reserve(
        &self,
        key: &[u64; 3],
        data_len: u64,
        meta: &[u8],
        fresh: bool,
        flags: u32,
    ) -> Result<Reserved> {
        let att = self.att;
        let alloc = self.att.allocator();
        let meta_len = u32::try_from(meta.len()).map_err(|_| err!(InvalidArgument, "metadata is larger than 4 GiB"))?;
        let total = footprint(data_len, meta_len as u64).filter(|&t| t <= alloc.max_footprint()).ok_or_else(|| {
            err!(
                TooLarge,
                "an object of {data_len} bytes with {meta_len} bytes of metadata cannot fit a store of {} bytes",
                alloc.max_footprint()
            )
        })?;
        let o = self.o;
        if !fresh && o.lookup(key, |s| s.holds_id()).is_some() {
            return Err(err!(AlreadyExists, "object {} already exists", ObjectId::from_words(*key)));
        }
        // The object's slab class, worked out once for the claim (a
        // descriptor of this process's that keeps a block of it), the kept
        // block and the allocation.
        let class = class_for(total);
        let (d, state) = att.claim_descriptor_of(&alloc, total, class, flags)?;
        let kept = alloc.take_kept_block_of(d, total, class);
        o.desc.write_fields(d, key, meta_len, data_len, platform::unix_seconds_coarse() as u32);
        let me = att.slot();
        if flags == 0 {
            o.refs.start(d, state.gen(), None);
        } else if flags == crate::shared::descriptor::flags::REFCOUNTED && me < INLINE_SLOTS {
            // The creator's first reference, as a bit of the word.
            o.refs.start(d, state.gen(), Some(me));
        } else {
            self.reserve_with_flags(d, state, key)?;
        }
        let r = Reserved { d, state, offset: 0, fresh };
        let allocated = match kept {
            Some(kept) => Ok(alloc.adopt_kept_block(d, kept)),
            None => att.allocate_of(&alloc, d, total, class),
        };
        let offset = match allocated {
            Ok(off) => att.region().arena_offset(off),
            Err(e) => {
                self.undo(&r, state);
                return Err(e);
            }
        };
        // Without metadata (most puts) nothing is copied: its place is
        // checked all the same, with no call to copy no bytes.
        let meta_at = offset + data_len.next_multiple_of(64) as usize;
        let placed = if meta.is_empty() {
            att.region().map().ptr(meta_at, 0).is_some()
        } else {
            att.region().map().write(meta_at, meta)
        };
        if !placed {
            self.undo(&r, state);
            return Err(err!(Corrupt, "an allocation lies outside the store (damaged store)"));
        }
        Ok(Reserved { offset, ..r })
    }

    /// What the flags of a put of `key` into `d` (held RESERVED as `state`,
    /// claimed with them) need besides: the creator's first reference if
    /// REFCOUNTED, the store's note of an evictable object if EVICTABLE.
    #[cold]
    fn reserve_with_flags(&self, d: u32, state: StateWord, key: &[u64; 3]) -> Result<()> {
        let o = self.o;
        if state.flags() & crate::shared::descriptor::flags::EVICTABLE != 0 {
            super::evict::note_evictable_put(self.att.region());
        }
        let me = self.att.slot();
        let refcounted = state.is_refcounted();
        o.refs.start(d, state.gen(), refcounted.then_some(me));
        if refcounted && me >= INLINE_SLOTS && !o.holds.add(o.hash(key), key, me, None) {
            o.discard(d, state, me, &self.att.allocator().freer());
            return Err(err!(OutOfMemory, "no room in the store's hold table for the creator's reference"));
        }
        Ok(())
    }

    /// Undoes a put of `r`, whose descriptor is now in state `now`.
    #[cold]
    #[inline(never)]
    fn undo(&self, r: &Reserved, now: StateWord) {
        if now.is_refcounted() {
            if let Some(key) = self.o.desc.key_if(r.d, now) {
                self.forget_creator_ref(&key);
            }
        }
        self.discard(r.d, now);
    }

    /// Copies `data` into a reserved object's memory.
    pub(crate) fn fill(&self, r: &Reserved, data: &[u8]) -> Result<()> {
        if self.att.region().map().write(r.offset, data) {
            Ok(())
        } else {
            self.undo(r, r.state);
            Err(err!(Corrupt, "an allocation lies outside the store (damaged store)"))
        }
    }

    /// A pointer to a reserved object's `len` writable bytes.
    pub(crate) fn data_ptr(&self, r: &Reserved, len: usize) -> Option<*mut u8> {
        self.att.region().map().ptr(r.offset, len)
    }

    /// Inserts a reserved, filled object, whose ID's words are `key`, into
    /// the index: sealed at once (visible), or created (to be sealed by
    /// this handle later). Returns its state word.
    #[inline]
    pub(crate) fn commit(&self, key: &[u64; 3], r: &Reserved, sealed: bool) -> Result<StateWord> {
        let att = self.att;
        let o = self.o;
        let to = if sealed { r.state.to(State::Sealed, NO_OWNER) } else { r.state.to(State::Created, att.slot()) };
        // One hash for the index entry and the seal's announcement.
        let hash = o.hash(key);
        let inserted = if r.fresh {
            o.insert_fresh_hashed(r.d, r.state, hash, to)
        } else {
            o.insert_hashed(r.d, r.state, key, hash, to)
        };
        match inserted {
            Ok(s) => {
                if sealed {
                    att.region().waits().notify(hash);
                }
                Ok(s)
            }
            Err((e, now)) => Err(self.commit_failed(key, r, e, now)),
        }
    }

    /// Undoes a put whose `commit` failed with `e` (its descriptor now in
    /// state `now`), and says why it failed.
    #[cold]
    #[inline(never)]
    fn commit_failed(&self, key: &[u64; 3], r: &Reserved, e: InsertError, now: StateWord) -> Error {
        self.undo(r, now);
        let id = ObjectId::from_words(*key);
        match e {
            InsertError::Duplicate => err!(AlreadyExists, "object {id} already exists"),
            InsertError::IndexFull => err!(OutOfMemory, "the index has no free entry near object {id}'s hash"),
        }
    }

    /// The ID of the object this process holds in `d` in state `s`.
    pub(crate) fn key_of(&self, d: u32, s: StateWord) -> Option<[u64; 3]> {
        self.o.desc.key_if(d, s)
    }

    /// Undoes an object this process holds in state `s`.
    pub(crate) fn discard(&self, d: u32, s: StateWord) -> bool {
        self.o.discard(d, s, self.att.slot(), &self.att.allocator().freer())
    }

    /// The unsealed object named `id`: its descriptor and state word.
    pub(crate) fn unsealed(&self, id: &ObjectId) -> Result<(u32, StateWord)> {
        let Some((d, snap)) = self.o.lookup(&id.words(), |s| s.holds_id()) else {
            return Err(Error::object_not_found(id.0));
        };
        if snap.state.state() != State::Created {
            return Err(err!(AlreadyExists, "object {id} is already sealed"));
        }
        Ok((d, snap.state))
    }

    /// Who holds `id` on this machine without it being readable: None if no
    /// descriptor holds the ID (or a get could read it); Some(Some(slot))
    /// if it is created and not sealed by process slot `slot` (its creator,
    /// or a process fetching it from the remote); Some(None) if it is held
    /// otherwise (deleted while pinned: reserved until its last release).
    pub(crate) fn holder(&self, id: &ObjectId) -> Option<Option<u32>> {
        let (_, s) = self.o.lookup_state(&id.words(), |s| s.holds_id())?;
        match s.state() {
            State::Created => Some(Some(s.owner())),
            State::Deleted => Some(None),
            State::Sealed | State::Spilling | State::Spilled | State::Shadow => None,
            // The lookup filtered these out.
            State::Free | State::Reserved | State::Inserting | State::Collided | State::Freeing | State::Invalid => {
                None
            }
        }
    }

    /// Seals the unsealed object `d` (state `created`): visible, immutable.
    pub(crate) fn seal(&self, id: &ObjectId, d: u32, created: StateWord) -> Result<()> {
        let o = self.o;
        if !o.desc.transition(d, created, created.to(State::Sealed, NO_OWNER)) {
            return Err(err!(Corrupt, "object {id} changed state under its creator"));
        }
        self.att.region().waits().notify(o.hash(&id.words()));
        Ok(())
    }

    /// Drops the unsealed object `d` (state `created`).
    pub(crate) fn abort(&self, id: &ObjectId, d: u32, created: StateWord) -> Result<()> {
        if !self.discard(d, created) {
            return Err(err!(Corrupt, "object {id} changed state under its creator"));
        }
        Ok(())
    }

    // ----- reading ----------------------------------------------------------------

    /// Pins the object named `id` if it is sealed and present now (restoring
    /// it if it is spilled). Ok(None) if absent.
    #[inline]
    pub(crate) fn pin(&self, id: &ObjectId, key: &[u64; 3]) -> Result<Option<Pinned>> {
        match self.pin_sealed(key) {
            Fast::Pinned(p) => Ok(Some(p)),
            Fast::Absent => Ok(None),
            Fast::Other => self.pin_any(id, key),
        }
    }

    /// The common case of `pin`: the object is absent, or sealed and in
    /// memory with nothing changing under the pin. `Fast::Other` for
    /// anything else: `pin_any` then looks again and handles it.
    #[inline(always)]
    pub(crate) fn pin_sealed(&self, key: &[u64; 3]) -> Fast {
        let o = self.o;
        let Some((d, snap)) = o.lookup(key, |s| s.is_readable()) else { return Fast::Absent };
        if !snap.state.is(State::Sealed) {
            return Fast::Other;
        }
        let Some(raw) = self.view(&snap) else { return Fast::Other };
        if !self.pin_again(d, snap.state) {
            return Fast::Other;
        }
        Fast::Pinned(Pinned { d, state: snap.state, raw })
    }

    /// Pins `d` if it is still in state `seen` (the same life, unchanged);
    /// marks it read for the CLOCK.
    #[inline(always)]
    pub(crate) fn pin_again(&self, d: u32, seen: StateWord) -> bool {
        let o = self.o;
        let line = o.desc.line(d);
        if !o.add_pin(&self.att.local_pins(), self.att.slot(), d) {
            return false;
        }
        // Dekker with delete and spill: pin, then look at the state.
        dekker_fence();
        if line[w::STATE].load(Ordering::SeqCst) != seen.0 {
            self.unpin_changed(d);
            return false;
        }
        mark_line_referenced(line);
        true
    }

    /// `pin_again` through `d`'s linger entry only, when it names `d`
    /// already: the hot path of a get (`Store::get_again`). Nothing here
    /// fails or panics.
    #[inline(always)]
    pub(crate) fn pin_again_if_aimed(&self, d: u32, seen: StateWord) -> Repin {
        let o = self.o;
        let Some(line) = o.desc.try_line(d) else { return Repin::NotAimed };
        if !o.lingering.pin_if_aimed(self.att.slot(), d) {
            return Repin::NotAimed;
        }
        // Dekker with delete and spill: pin, then look at the state.
        dekker_fence();
        if line[w::STATE].load(Ordering::SeqCst) != seen.0 {
            return Repin::Changed;
        }
        mark_line_referenced(line);
        Repin::Pinned
    }

    /// Whether object slot `d`, which this process pins, is still in the
    /// life it was in when seen in state `seen` (its state may have moved
    /// on: deleted while pinned); None if `d` is out of range.
    #[inline(always)]
    pub(crate) fn same_life_checked(&self, d: u32, seen: StateWord) -> Option<bool> {
        let line = self.o.desc.try_line(d)?;
        Some(StateWord(line[w::STATE].load(Ordering::Relaxed)).same_life(seen))
    }

    /// Drops one of this process's pins on `d` (in range) through its
    /// linger entry: the hot path of a release (`Store::release_again`).
    /// What is left to do, if anything, is in the result. Nothing here
    /// fails or panics.
    #[inline(always)]
    pub(crate) fn unpin_through_entry(&self, d: u32) -> UnpinRest {
        let o = self.o;
        let Some(line) = o.desc.try_line(d) else { return UnpinRest::Done };
        match o.lingering.release(self.att.slot(), d) {
            LingerRelease::StillHeld => UnpinRest::Done,
            LingerRelease::Last if o.may_free_after_last_pin(line) => UnpinRest::LastPin,
            LingerRelease::Last => UnpinRest::Done,
            LingerRelease::NotHeld => UnpinRest::Masked,
        }
    }

    /// The rest of a release whose pin `unpin_through_entry` did not find
    /// in the linger entry.
    pub(crate) fn unpin_masked(&self, d: u32) {
        self.o.unpin_masked_with(&self.att.local_pins(), self.att.slot(), d, || self.att.allocator().freer());
    }

    /// The rest of a release that dropped the process's last pin on `d`:
    /// frees it if it was deleted, or is unreferenced and frees itself.
    pub(crate) fn free_after_last_pin(&self, d: u32) {
        self.o.free_if_deleted_and_unpinned_with(d, self.att.slot(), || self.att.allocator().freer());
    }

    /// Drops the pin `pin_again_if_aimed` took on `d` when it found its
    /// state changed.
    #[cold]
    #[inline(never)]
    pub(crate) fn unpin_changed(&self, d: u32) {
        self.o.unpin(&self.att.local_pins(), self.att.slot(), d, &self.att.allocator().freer());
    }

    /// Every case of `pin`: spilled objects restored, spills cancelled,
    /// restores finished.
    #[cold]
    fn pin_any(&self, id: &ObjectId, key: &[u64; 3]) -> Result<Option<Pinned>> {
        let att = self.att;
        let o = self.o;
        let local = att.local_pins();
        let spiller = att.spiller();
        for _ in 0..64 {
            let Some((d, snap)) = o.lookup(key, |s| s.is_readable()) else { return Ok(None) };
            match snap.state.state() {
                State::Sealed => match o.try_pin(&local, att.slot(), d, snap.state, &self.att.allocator().freer()) {
                    Pin::Pinned => return self.pinned(id, d, &snap).map(Some),
                    Pin::Changed => continue,
                    Pin::Overflow => {
                        return Err(err!(InvalidArgument, "object {id} is pinned too many times by this process"))
                    }
                },
                // A reader wins over a spiller: take it back to SEALED.
                State::Spilling => {
                    o.cancel_spill(d, snap.state);
                }
                State::Shadow => {
                    if let Some(s) = spiller {
                        s.handle_shadow(d, &snap);
                    }
                }
                State::Spilled => {
                    let Some(s) = spiller else {
                        return Err(err!(Corrupt, "object {id} is spilled but the store has no spill directory"));
                    };
                    match s.handle_spilled(d, &snap, att as &dyn Provision)? {
                        Spilled::LookAgain => {}
                        Spilled::Deleted => return Ok(None),
                        // Restored by this call, and pinned for it already.
                        Spilled::Restored { d, snap } => return self.pinned(id, d, &snap).map(Some),
                    }
                }
                // Not readable: the lookup filtered these out.
                State::Free
                | State::Reserved
                | State::Inserting
                | State::Collided
                | State::Created
                | State::Deleted
                | State::Freeing
                | State::Invalid => {}
            }
        }
        // Present all along, but every attempt saw it move: spilled again
        // as soon as restored, under extreme memory pressure.
        Err(err!(OutOfMemory, "object {id} cannot be held in memory: memory pressure keeps spilling it"))
    }

    /// The view of object `d` (snapshot `snap`), which this process has just
    /// pinned. Marks it read for the CLOCK.
    fn pinned(&self, id: &ObjectId, d: u32, snap: &Snapshot) -> Result<Pinned> {
        let o = self.o;
        let Some(raw) = self.view(snap) else {
            o.unpin(&self.att.local_pins(), self.att.slot(), d, &self.att.allocator().freer());
            return Err(err!(Corrupt, "object {id} has an out-of-bounds location (damaged store)"));
        };
        o.desc.mark_referenced(d);
        Ok(Pinned { d, state: snap.state, raw })
    }

    /// The bytes of an object in memory, bounds-checked.
    #[inline]
    fn view(&self, snap: &Snapshot) -> Option<RawObject> {
        let region = self.att.region();
        let total = footprint(snap.data_len, snap.meta_len as u64)?;
        let base = region.payload_ptr(snap.loc, total)?;
        let meta_at = snap.data_len.next_multiple_of(64) as usize;
        Some(RawObject {
            data: base,
            data_len: snap.data_len as usize,
            // wrapping_add never dereferences, and the result is inside the
            // block (meta_at <= total).
            meta: base.wrapping_add(meta_at),
            meta_len: snap.meta_len as usize,
        })
    }

    /// The descriptor a release of `id` drops a pin of: its object, sealed
    /// or deleted while pinned. A spilled object is there but pinned by no
    /// one: INVALID_ARGUMENT, as for any object the caller does not pin.
    pub(crate) fn pinned_descriptor(&self, id: &ObjectId) -> Result<u32> {
        let o = self.o;
        match o.lookup(&id.words(), |s| matches!(s.state(), State::Sealed | State::Deleted | State::Spilling)) {
            Some((d, _)) => Ok(d),
            None if self.contains(id) => Err(err!(InvalidArgument, "object {id} is not pinned by this handle")),
            None => Err(Error::object_not_found(id.0)),
        }
    }

    /// Drops one of this process's pins on `d` (freeing it if it was
    /// deleted and this was its last pin). False if the process held none.
    #[inline]
    pub(crate) fn unpin(&self, d: u32) -> bool {
        self.o.unpin_with(&self.att.local_pins(), self.att.slot(), d, || self.att.allocator().freer())
    }

    /// Deletes the object named `id`: invisible to gets at once, its memory
    /// freed when the last pin is released.
    pub(crate) fn delete(&self, id: &ObjectId) -> Result<()> {
        let o = self.o;
        // The common case in line: the object found sealed (its state read
        // alone, not the whole descriptor) and deleted at the first try.
        if let Some((d, state, found)) = o.lookup_state_found(&id.words(), |s| s.holds_id()) {
            if state.state() == State::Sealed
                && o.delete_sealed_found(d, state, Some(found), self.att.slot(), &self.att.allocator().freer())
            {
                return Ok(());
            }
        }
        self.delete_rest(id)
    }

    /// The rest of `delete` once its first try did not delete the object
    /// (absent, in another state, or changed under it): looks again, up to
    /// 64 rounds, and handles every state.
    #[cold]
    #[inline(never)]
    fn delete_rest(&self, id: &ObjectId) -> Result<()> {
        let att = self.att;
        let o = self.o;
        for _ in 0..64 {
            let Some((d, snap)) = o.lookup(&id.words(), |s| s.holds_id()) else {
                return Err(Error::object_not_found(id.0));
            };
            match snap.state.state() {
                State::Sealed => {
                    if o.delete_sealed(d, snap.state, att.slot(), &self.att.allocator().freer()) {
                        return Ok(());
                    }
                }
                State::Created => return Err(err!(NotSealed, "object {id} is not sealed yet")),
                State::Deleted => return Err(err!(NotFound, "object {id} is already deleted")),
                State::Spilling => {
                    o.cancel_spill(d, snap.state);
                }
                State::Shadow => {
                    if let Some(s) = att.spiller() {
                        s.handle_shadow(d, &snap);
                    }
                }
                State::Spilled => {
                    let Some(s) = att.spiller() else {
                        return Err(err!(Corrupt, "object {id} is spilled but the store has no spill directory"));
                    };
                    if s.delete_spilled(d, &snap)? {
                        return Ok(());
                    }
                }
                // The lookup filtered these out.
                State::Free
                | State::Reserved
                | State::Inserting
                | State::Collided
                | State::Freeing
                | State::Invalid => {}
            }
        }
        Err(err!(Io, "object {id} kept changing state during delete"))
    }

    /// Whether a sealed object named `id` is in the store.
    #[inline]
    pub(crate) fn contains(&self, id: &ObjectId) -> bool {
        let key = id.words();
        match self.o.lookup_state(&key, |s| s.is_readable()) {
            None => false,
            // A spilled object may have been deleted (its location says).
            Some((_, s)) if s.is(State::Spilled) => self.spilled_object_exists(&key),
            Some(_) => true,
        }
    }

    /// `contains`, asked first of descriptor `*hint` (where `id` was found
    /// last, or anything: a hint is only a guess): one descriptor read
    /// instead of an index probe while the object stays there. Only
    /// "present, in memory" is taken from the hint (a descriptor that holds
    /// the ID and is readable answers for the ID); anything else looks the
    /// ID up and moves the hint to where it is found.
    #[inline(always)]
    pub(crate) fn contains_hinted(&self, id: &ObjectId, hint: &mut u32) -> bool {
        let key = id.words();
        if (*hint as usize) < self.o.desc.count() {
            if let Some(s) = self.o.desc.state_if_key(*hint, &key) {
                if s.is_readable() && !s.is(State::Spilled) {
                    return true;
                }
            }
        }
        self.contains_moving_hint(&key, hint)
    }

    /// The rest of `contains_hinted` when the hint did not answer: the
    /// index lookup (out of line, so that the hinted check around it keeps
    /// few registers).
    #[inline(never)]
    fn contains_moving_hint(&self, key: &[u64; 3], hint: &mut u32) -> bool {
        match self.o.lookup_state(key, |s| s.is_readable()) {
            None => false,
            Some((d, s)) => {
                *hint = d;
                !s.is(State::Spilled) || self.spilled_object_exists(key)
            }
        }
    }

    #[cold]
    fn spilled_object_exists(&self, key: &[u64; 3]) -> bool {
        self.o.lookup(key, |s| s.is_readable()).is_some_and(|(_, snap)| !snap.deleted_while_spilled())
    }
}
