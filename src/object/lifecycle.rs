//! The object life cycle over descriptors, the index and pins: claim,
//! insert with duplicate detection, pin, release, delete, free.
//!
//! Every step is a CAS on a descriptor's state word that names the process
//! slot doing it, and every step after it is idempotent, so that whoever
//! reclaims a dead slot can re-run the rest of the step (`finish_free`,
//! `discard`) without knowing how far the dead process got.
//!
//! Duplicate IDs. Two processes may create the same ID at once. Each
//! publishes its descriptor as INSERTING, places an index entry, then scans
//! the ID's probe window (see `index`: the later of two entries always sees
//! the earlier). Against an entry for the same ID it finds:
//! - a committed object (CREATED, SEALED, ...): it lost, undoes, reports
//!   ALREADY_EXISTS;
//! - another INSERTING one nearer the home bucket: it lost;
//! - another INSERTING one farther away: it marks that one COLLIDED (a CAS,
//!   which fails only if the other committed first; then it re-examines).
//!
//! It commits with a CAS INSERTING -> CREATED/SEALED, which fails if it was
//! marked COLLIDED. So at most one of the racers commits, and one does unless
//! a committed object already exists (the one nearest home never yields to
//! an uncommitted one).
//!
//! Kept blocks. A descriptor freed by the live owner of the free keeps the
//! slab block of its last life: FREE with LOC = Block, the block's word
//! still naming it, and its DATA_LEN and META_LEN those of that life (so
//! their footprint gives the block's class, as for any block). Whoever
//! claims the descriptor owns the block with it: a put of an object of the
//! same class takes it (no allocation; LOC is a SlabIntent for the slab
//! while the new lengths are written, so a reclaimer of a claimer that
//! dies meanwhile frees the block by its word, whatever the lengths say);
//! any other claimer frees it first. The freer notes the descriptor, by
//! its block's size class, for its process's next puts (`object::recycle`,
//! a few per process: beyond that it gives the block back), and searches
//! for a free descriptor pass over those that keep a block (taking them
//! only when nothing else is free), so a put + delete churn reuses one
//! descriptor and one warm block per size class without the allocator. A reclaimer or a
//! helper finishing someone else's free gives the block back. An
//! allocation that finds no room gives back its own process's kept blocks
//! first; making room by spilling gives back those in the slabs it empties
//! (at no cost: nothing to write); and before it reports the store full it
//! sweeps every descriptor the free hints name (`give_back_kept_block`;
//! the `kept_hint` word spares it that sweep when no block was kept since
//! the last one). A process also gives back its kept blocks when it
//! detaches.

use crate::id::hash_id;
use crate::shared::descriptor::{w, Location, Snapshot, State, StateWord, DESC_WORDS, NO_OWNER};
use crate::shared::index::Found;
use crate::shared::lingering::{LingerPin, LingerRelease};
use crate::shared::pins::{LocalPins, Unpinned};
use crate::shared::sync::AtomicU64;
use crate::shared::sync::{dekker_fence, Ordering};

/// What frees an object's bytes. Implemented by the allocator; a test double
/// under loom.
pub(crate) trait Memory {
    /// Frees what descriptor `d` holds at `loc` (an encoded `Location` that
    /// holds memory). Must be idempotent: it may be called again for the
    /// same `d` and `loc` by a survivor finishing a dead process's step.
    fn release(&self, d: u32, loc: u64, data_len: u64, meta_len: u32);

    /// `release`, of bytes that other processes may be releasing at the
    /// same time (the memory a spill left, see `release_spilled_memory`):
    /// a slab is protected before it is touched, since another releaser's
    /// free may have emptied it and let it be retired.
    fn release_shared(&self, d: u32, loc: u64, data_len: u64, meta_len: u32);

    /// Removes the spill file of descriptor `d`, generation `gen`, holding
    /// `key` (if it exists). Idempotent.
    fn remove_spill_file(&self, d: u32, key: &[u64; 3], gen: u64);

    /// Whether descriptor `d`, being freed through this with a slab block
    /// (its object's lengths `data_len` and `meta_len`), keeps the block
    /// for its next life (see "Kept blocks" above): the live owner of a free
    /// may keep it (and notes `d` for its next puts); a reclaimer, a
    /// helper, or one making room gives it back.
    fn keep_block(&self, _d: u32, _data_len: u64, _meta_len: u32) -> bool {
        false
    }
}

/// One attempt at spilling an object, as its spill file's name records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpillAttempt {
    /// The descriptor spilled.
    pub d: u32,
    /// Its generation.
    pub gen: u64,
    /// The attempt: the spiller's slot and a counter.
    pub tag: u32,
    /// The file is being written (not yet renamed into place).
    pub temp: bool,
}

impl<M: Memory + ?Sized> Memory for &M {
    fn release(&self, d: u32, loc: u64, data_len: u64, meta_len: u32) {
        (**self).release(d, loc, data_len, meta_len)
    }
    fn release_shared(&self, d: u32, loc: u64, data_len: u64, meta_len: u32) {
        (**self).release_shared(d, loc, data_len, meta_len)
    }
    fn remove_spill_file(&self, d: u32, key: &[u64; 3], gen: u64) {
        (**self).remove_spill_file(d, key, gen)
    }
    fn keep_block(&self, d: u32, data_len: u64, meta_len: u32) -> bool {
        (**self).keep_block(d, data_len, meta_len)
    }
}

/// Why an insert did not commit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// The ID names a live object (or one being created).
    Duplicate,
    /// No free entry within the ID's probe window.
    IndexFull,
}

/// The outcome of trying to pin a looked-up object.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pin {
    Pinned,
    /// The object changed (deleted, spilled, reused) after the lookup.
    Changed,
    /// This process already holds the maximum number of pins on it.
    Overflow,
}

/// The object protocol runs over a store's object tables.
pub(crate) use crate::shared::tables::ObjectTables as Objects;

impl<'a> Objects<'a> {
    /// The object tables of a store.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn of(region: &'a crate::shared::region::Region) -> &'a Objects<'a> {
        region.tables()
    }

    #[inline]
    pub(crate) fn hash(&self, key: &[u64; 3]) -> u64 {
        hash_id(key, self.seed)
    }

    // ----- claiming descriptors ------------------------------------------

    fn try_claim(&self, d: u32, me: u32, flags: u32) -> Option<StateWord> {
        let s = self.desc.load_state(d, Ordering::Acquire);
        if s.state() != State::Free {
            return None;
        }
        let claimed = StateWord::new(State::Reserved, me, s.gen().wrapping_add(1)).with_flags(flags);
        if !self.desc.transition(d, s, claimed) {
            return None;
        }
        // A process releasing the spilled memory of the descriptor's last
        // life may still be under way (see `releasers`): not this one, then.
        dekker_fence();
        if self.desc.may_be_released(d) {
            return self.unless_a_releaser_names(d, claimed);
        }
        Some(claimed)
    }

    /// The rest of `try_claim` for a descriptor a releaser may have named:
    /// gives it back if one does.
    #[cold]
    #[inline(never)]
    fn unless_a_releaser_names(&self, d: u32, claimed: StateWord) -> Option<StateWord> {
        if self.releasers.named(d) {
            self.desc.transition(d, claimed, StateWord::new(State::Free, NO_OWNER, claimed.gen()));
            return None;
        }
        Some(claimed)
    }

    fn mark_maybe_free(&self, d: u32) {
        self.free_hint[d as usize / 64].fetch_or(1 << (d % 64), Ordering::SeqCst);
    }

    /// Clears a stale hint bit, restoring it if the descriptor became free
    /// meanwhile (the freer sets the bit after its FREE store; one of the two
    /// SeqCst orders sees the other).
    #[cold]
    #[inline(never)]
    fn clear_hint(&self, d: u32) {
        self.free_hint[d as usize / 64].fetch_and(!(1 << (d % 64)), Ordering::SeqCst);
        dekker_fence();
        if self.desc.load_state(d, Ordering::SeqCst).state() == State::Free {
            self.mark_maybe_free(d);
        }
    }

    /// Claims a free descriptor for slot `me`, searching the hint bitmap from
    /// word `start`, then (if the hints are stale) every state word. The
    /// search passes over descriptors that keep a block (see "Kept blocks":
    /// they are for puts of their block's class, which find them by their
    /// process's list); the second pass takes those too. The claimed life
    /// has `flags` (see `descriptor::flags`) from its first state on, so a
    /// put with flags needs no second step to set them.
    #[inline]
    pub(crate) fn claim(&self, me: u32, start: usize, flags: u32) -> Option<(u32, StateWord)> {
        let count = self.desc.count();
        let words = self.free_hint.len();
        // The words from `start` on, wrapping past the last: a compare per
        // step, not a division (`start` is a word of the bitmap but for a
        // caller's cursor from elsewhere).
        let mut wi = if start < words { start } else { start.checked_rem(words).unwrap_or(0) };
        for _ in 0..words {
            let mut bits = self.free_hint[wi].load(Ordering::Relaxed);
            while bits != 0 {
                let d = (wi * 64) as u32 + bits.trailing_zeros();
                bits &= bits - 1;
                if d as usize >= count || Location::is_block(self.desc.word(d, w::LOC).load(Ordering::Relaxed)) {
                    continue;
                }
                if let Some(s) = self.try_claim(d, me, flags) {
                    self.free_hint[wi].fetch_and(!(1 << (d % 64)), Ordering::Relaxed);
                    return Some((d, s));
                }
                self.clear_hint(d);
            }
            wi += 1;
            if wi == words {
                wi = 0;
            }
        }
        self.claim_unhinted(me, flags)
    }

    /// The second pass of `claim`, when the hints named no descriptor it
    /// could claim: every state word (out of line: the hints are stale).
    #[cold]
    #[inline(never)]
    fn claim_unhinted(&self, me: u32, flags: u32) -> Option<(u32, StateWord)> {
        for d in 0..self.desc.count() as u32 {
            if let Some(s) = self.try_claim(d, me, flags) {
                return Some((d, s));
            }
        }
        None
    }

    // ----- insert ---------------------------------------------------------

    /// `insert` for an ID generated by this library (`IdGenerator`): nobody
    /// else can know it before this call returns, so no other process can be
    /// inserting it, and the duplicate scan (and the INSERTING step it
    /// needs) is skipped: the index entry, then the commit. A process that
    /// dies between the two leaves a RESERVED descriptor with an entry,
    /// which its reclaimer discards like any other (`finish_free` removes
    /// the entry).
    #[cfg(loom)]
    pub(crate) fn insert_fresh(
        &self,
        d: u32,
        reserved: StateWord,
        key: &[u64; 3],
        commit: StateWord,
    ) -> Result<StateWord, (InsertError, StateWord)> {
        self.insert_fresh_hashed(d, reserved, self.hash(key), commit)
    }

    /// `insert_fresh` of an ID whose hash (`hash`) the caller has already
    /// computed (a sealer needs it again to announce the seal).
    #[inline]
    pub(crate) fn insert_fresh_hashed(
        &self,
        d: u32,
        reserved: StateWord,
        hash: u64,
        commit: StateWord,
    ) -> Result<StateWord, (InsertError, StateWord)> {
        if self.index.insert(hash, d, reserved.gen()).is_none() {
            return Err((InsertError::IndexFull, reserved));
        }
        // SeqCst store: publishes the fields written while RESERVED.
        self.desc.state(d).store(commit.0, Ordering::SeqCst);
        Ok(commit)
    }

    /// Publishes descriptor `d` (held RESERVED as `reserved`, fields written)
    /// in the index and commits it to `commit` (CREATED(me) or SEALED).
    /// On error the descriptor is still ours (INSERTING or COLLIDED, entry
    /// removed) and the caller discards it.
    #[cfg(any(test, loom))]
    pub(crate) fn insert(
        &self,
        d: u32,
        reserved: StateWord,
        key: &[u64; 3],
        commit: StateWord,
    ) -> Result<StateWord, (InsertError, StateWord)> {
        self.insert_hashed(d, reserved, key, self.hash(key), commit)
    }

    /// `insert` of `key`, whose hash (`hash`) the caller has already
    /// computed (a sealer needs it again to announce the seal).
    pub(crate) fn insert_hashed(
        &self,
        d: u32,
        reserved: StateWord,
        key: &[u64; 3],
        hash: u64,
        commit: StateWord,
    ) -> Result<StateWord, (InsertError, StateWord)> {
        let me = reserved.owner();
        let inserting = reserved.to(State::Inserting, me);
        // SeqCst store: publishes the fields written while RESERVED.
        self.desc.state(d).store(inserting.0, Ordering::SeqCst);
        let Some(my_pos) = self.index.insert(hash, d, reserved.gen()) else {
            return Err((InsertError::IndexFull, inserting));
        };
        dekker_fence();
        let mut lost = false;
        self.index.scan_for_duplicates(hash, |pos, other| {
            if other == d {
                return true;
            }
            loop {
                let s = self.desc.load_state(other, Ordering::SeqCst);
                let Some(k) = self.desc.key_if(other, s) else { continue };
                if k != *key {
                    return true;
                }
                if s.holds_id() {
                    lost = true;
                    return false;
                }
                if s.state() != State::Inserting {
                    return true;
                }
                if pos < my_pos {
                    lost = true;
                    return false;
                }
                if self.desc.transition(other, s, s.to(State::Collided, s.owner())) {
                    return true;
                }
            }
        });
        if !lost && self.desc.transition(d, inserting, commit) {
            return Ok(commit);
        }
        self.index.remove(hash, d, reserved.gen());
        // Settle on COLLIDED, a state only its owner leaves, so the caller's
        // discard cannot race with another inserter marking us.
        let collided = inserting.to(State::Collided, me);
        self.desc.transition(d, inserting, collided);
        Err((InsertError::Duplicate, collided))
    }

    // ----- lookup and pins -------------------------------------------------

    /// Finds the descriptor holding `key` whose state satisfies `accept`.
    #[inline]
    pub(crate) fn lookup(&self, key: &[u64; 3], accept: impl Fn(StateWord) -> bool) -> Option<(u32, Snapshot)> {
        self.index.find(self.hash(key), |d| self.snapshot_accepted(d, key, &accept))
    }

    /// `d`'s snapshot if it holds `key` in a state `accept` takes: out of
    /// line, so that the probe of the index around it (`lookup`) keeps its
    /// values in registers, and a lookup of an absent ID is only that.
    #[inline(never)]
    fn snapshot_accepted(
        &self,
        d: u32,
        key: &[u64; 3],
        accept: &impl Fn(StateWord) -> bool,
    ) -> Option<(u32, Snapshot)> {
        let snap = self.desc.snapshot_if_key(d, key)?;
        accept(snap.state).then_some((d, snap))
    }

    /// Finds the descriptor holding `key` whose state satisfies `accept`,
    /// reading only its state (cheaper than `lookup`).
    #[inline]
    pub(crate) fn lookup_state(&self, key: &[u64; 3], accept: impl Fn(StateWord) -> bool) -> Option<(u32, StateWord)> {
        self.index.find(self.hash(key), self.state_if_accepted(key, accept))
    }

    /// For an index probe: `d` and its state if `d` holds `key` in a state
    /// `accept` takes.
    #[inline(always)]
    fn state_if_accepted<'k>(
        &'k self,
        key: &'k [u64; 3],
        accept: impl Fn(StateWord) -> bool + 'k,
    ) -> impl Fn(u32) -> Option<(u32, StateWord)> + 'k {
        move |d| {
            let s = self.desc.state_if_key(d, key)?;
            accept(s).then_some((d, s))
        }
    }

    /// `lookup_state`, also telling where the index named the object.
    #[inline]
    pub(crate) fn lookup_state_found(
        &self,
        key: &[u64; 3],
        accept: impl Fn(StateWord) -> bool,
    ) -> Option<(u32, StateWord, Found<'a>)> {
        let ((d, s), found) = self.index.find_entry(self.hash(key), self.state_if_accepted(key, accept))?;
        Some((d, s, found))
    }

    /// Pins `d` for slot `me` if it is still in state `seen`.
    #[inline]
    pub(crate) fn try_pin(&self, local: &LocalPins<'_>, me: u32, d: u32, seen: StateWord, mem: &dyn Memory) -> Pin {
        if !self.add_pin(local, me, d) {
            return Pin::Overflow;
        }
        dekker_fence();
        if self.desc.load_state(d, Ordering::SeqCst) == seen {
            return Pin::Pinned;
        }
        self.unpin(local, me, d, mem);
        Pin::Changed
    }

    /// Adds a pin of slot `me` on `d`: through its linger entry if it can
    /// (no shared line written when the entry names `d` already), else
    /// through its pin mask bit. False if the count would overflow. The
    /// caller checks the state next: the pinner's half of the handshake.
    #[inline]
    pub(crate) fn add_pin(&self, local: &LocalPins<'_>, me: u32, d: u32) -> bool {
        match self.lingering.pin(me, d) {
            LingerPin::Pinned => true,
            LingerPin::Busy => local.pin(d, &self.masks, me),
        }
    }

    /// Drops one of this process's pins on `d`; with the last pin of the last
    /// holder, frees a deleted object. False if the process held none.
    #[inline]
    pub(crate) fn unpin(&self, local: &LocalPins<'_>, me: u32, d: u32, mem: &dyn Memory) -> bool {
        self.unpin_with(local, me, d, || mem)
    }

    /// `unpin`, making the `Memory` only if there is something to free.
    #[inline]
    pub(crate) fn unpin_with<M: Memory>(
        &self,
        local: &LocalPins<'_>,
        me: u32,
        d: u32,
        mem: impl FnOnce() -> M,
    ) -> bool {
        match self.lingering.release(me, d) {
            LingerRelease::StillHeld => true,
            LingerRelease::Last => {
                // This process's last pin is gone: a delete that saw it left
                // the free to us.
                self.free_if_deleted_and_unpinned_with(d, me, mem);
                true
            }
            LingerRelease::NotHeld => self.unpin_masked_with(local, me, d, mem),
        }
    }

    /// `unpin_with` of a pin that `d`'s linger entry does not hold: through
    /// the process's count and the masks.
    #[inline]
    pub(crate) fn unpin_masked_with<M: Memory>(
        &self,
        local: &LocalPins<'_>,
        me: u32,
        d: u32,
        mem: impl FnOnce() -> M,
    ) -> bool {
        match local.unpin(d, &self.masks, me) {
            Unpinned::NotHeld => false,
            Unpinned::StillHeld => true,
            Unpinned::LastLocal => {
                self.free_if_deleted_and_unpinned_with(d, me, mem);
                true
            }
        }
    }

    /// Whether `free_if_deleted_and_unpinned_with` may have something to
    /// do for `d`, after this process dropped its last pin on it: it is
    /// deleted, or frees itself when unreferenced (a pin may have been its
    /// last hold). False for an ordinary live object, the usual case.
    #[inline(always)]
    pub(crate) fn may_free_after_last_pin(&self, line: &[AtomicU64; DESC_WORDS]) -> bool {
        dekker_fence();
        let s = StateWord(line[w::STATE].load(Ordering::SeqCst));
        s.is(State::Deleted) || s.is_refcounted()
    }

    /// Drops what dead slot `dead` held on `d` — its pin-mask bit and its
    /// linger bit (its linger entries must be cleared first, see
    /// `Lingering::clear_entries`) — and frees `d` if it was deleted and
    /// only `dead` pinned it. The caller holds `dead`'s liveness lock.
    /// Returns whether `dead` had its pin-mask bit on `d`, and whether this
    /// call freed `d`.
    pub(crate) fn drop_dead_pins(&self, d: u32, dead: u32, mem: &dyn Memory) -> (bool, bool) {
        let pin_bit = self.masks.clear(d, dead);
        let linger_bit = self.lingering.clear_bit(d, dead);
        let freed = (pin_bit || linger_bit) && self.free_if_deleted_and_unpinned(d, dead, mem);
        (pin_bit, freed)
    }

    /// `drop_dead_pins`, then the note that `dead` read `d` for a spill (see
    /// `refcount::pinned_by_reader`): after its pin, as a live spiller
    /// clears it after its unpin, since a pin seen without the note is a
    /// reader's and would hold a REFCOUNTED object.
    pub(crate) fn drop_dead_pins_and_spill_note(&self, d: u32, dead: u32, mem: &dyn Memory) -> (bool, bool) {
        let dropped = self.drop_dead_pins(d, dead, mem);
        self.desc.clear_spill_reader(d, dead);
        dropped
    }

    /// Spiller `me` pins `d`, whose spill it began (`spilling`), to read its
    /// bytes: its note first, then its pin (see `Objects::pinned_by_reader`).
    /// False, with the spill cancelled, if another spiller's note is there
    /// or the pin cannot be taken.
    pub(crate) fn pin_to_spill(&self, local: &LocalPins<'_>, me: u32, d: u32, spilling: StateWord) -> bool {
        if !self.desc.set_spill_reader(d, me) {
            self.cancel_spill(d, spilling);
            return false;
        }
        if !local.pin(d, &self.masks, me) {
            self.cancel_spill(d, spilling);
            self.desc.clear_spill_reader(d, me);
            return false;
        }
        true
    }

    /// Spiller `me` is done with the bytes of `d`: its pin, then its note
    /// (its pin was a spiller's until its end).
    pub(crate) fn unpin_after_spill(&self, local: &LocalPins<'_>, me: u32, d: u32, mem: &dyn Memory) {
        self.unpin(local, me, d, mem);
        self.desc.clear_spill_reader(d, me);
    }

    /// Frees `d` if it is DELETED and no process pins it. Any number of
    /// processes may call this at once; the CAS to FREEING picks one.
    pub(crate) fn free_if_deleted_and_unpinned(&self, d: u32, me: u32, mem: &dyn Memory) -> bool {
        self.free_if_deleted_and_unpinned_with(d, me, || mem)
    }

    /// `free_if_deleted_and_unpinned`, making the `Memory` only if there is
    /// something to free (the unpin of a live object, the usual case, needs
    /// none).
    #[inline]
    pub(crate) fn free_if_deleted_and_unpinned_with<M: Memory>(
        &self,
        d: u32,
        me: u32,
        mem: impl FnOnce() -> M,
    ) -> bool {
        // Callers just changed the state (delete) or cleared a pin bit
        // (unpin); the other side's change must be visible to one of us.
        dekker_fence();
        let s = self.desc.load_state(d, Ordering::SeqCst);
        if s.is(State::Deleted) {
            return self.free_deleted(d, s, me, mem);
        }
        // A pin of an object that frees itself may have been its last hold.
        s.is_refcounted() && self.retire_unpinned(d, s, me, mem)
    }

    /// The rest of `free_if_deleted_and_unpinned_with` for a REFCOUNTED
    /// object (out of line, as for deleted ones).
    #[cold]
    #[inline(never)]
    fn retire_unpinned<M: Memory>(&self, d: u32, s: StateWord, me: u32, mem: impl FnOnce() -> M) -> bool {
        if !matches!(s.state(), State::Sealed | State::Spilling | State::Spilled)
            || self.refs.load(d, s.gen()) != Some(crate::shared::refs::Refs::Open { holders: 0 })
        {
            return false;
        }
        let Some(key) = self.desc.key_if(d, s) else { return false };
        self.retire(d, s, &key, me, &mem())
    }

    /// The rest of `free_if_deleted_and_unpinned_with` for an object seen
    /// DELETED (out of line: the unpin of a live object, the hot path, ends
    /// before it).
    #[cold]
    #[inline(never)]
    fn free_deleted<M: Memory>(&self, d: u32, deleted: StateWord, me: u32, mem: impl FnOnce() -> M) -> bool {
        self.free_deleted_found(d, deleted, None, me, mem)
    }

    /// `free_deleted`, given where a lookup found the object in this life,
    /// if the caller has it (its index removal then needs no search).
    #[inline(always)]
    fn free_deleted_found<M: Memory>(
        &self,
        d: u32,
        deleted: StateWord,
        found: Option<Found<'_>>,
        me: u32,
        mem: impl FnOnce() -> M,
    ) -> bool {
        if self.pinned(d) || self.referenced(d, deleted) {
            return false;
        }
        let freeing = deleted.to(State::Freeing, me);
        if self.desc.transition(d, deleted, freeing) {
            self.finish_free_found(d, freeing, found, &mem());
            return true;
        }
        false
    }

    /// Deletes the sealed object `d` seen in state `sealed`: invisible at
    /// once, freed now or when the last pin or reference goes. False if it
    /// changed meanwhile.
    pub(crate) fn delete_sealed(&self, d: u32, sealed: StateWord, me: u32, mem: &dyn Memory) -> bool {
        self.delete_sealed_found(d, sealed, None, me, mem)
    }

    /// `delete_sealed` of an object a lookup found in the life `sealed`
    /// (`found`, if given): its free starts its index removal there.
    #[inline]
    pub(crate) fn delete_sealed_found(
        &self,
        d: u32,
        sealed: StateWord,
        found: Option<Found<'_>>,
        me: u32,
        mem: &dyn Memory,
    ) -> bool {
        debug_assert_eq!(sealed.state(), State::Sealed);
        let deleted = sealed.to(State::Deleted, NO_OWNER);
        if !self.desc.transition(d, sealed, deleted) {
            return false;
        }
        // The deleter's half of the handshake with unpinners: its DELETED
        // store, then their pins. No need to read the state back: if an
        // unpinner freed the object meanwhile, the CAS from `deleted` to
        // FREEING fails (a new life has a new generation).
        dekker_fence();
        self.free_deleted_found(d, deleted, found, me, || mem);
        true
    }

    // ----- freeing ----------------------------------------------------------

    /// Takes `d` from a state owned by slot `owner` (RESERVED, INSERTING,
    /// COLLIDED, CREATED) to FREEING and frees it. `acting` is recorded as
    /// the new owner of the step (a reclaimer keeps the dead slot's number,
    /// so that its own death leaves the step to the next reclaimer).
    pub(crate) fn discard(&self, d: u32, from: StateWord, acting: u32, mem: &dyn Memory) -> bool {
        let freeing = from.to(State::Freeing, acting);
        if !self.desc.transition(d, from, freeing) {
            return false;
        }
        self.finish_free(d, freeing, mem);
        true
    }

    /// The body of FREEING: remove the index entry, free the bytes (or keep
    /// a slab block, with a `mem` that keeps them), clear the location, mark
    /// the descriptor FREE. Each step is idempotent.
    pub(crate) fn finish_free(&self, d: u32, freeing: StateWord, mem: &dyn Memory) {
        self.finish_free_found(d, freeing, None, mem);
    }

    /// `finish_free`, given where a lookup found the object in this life,
    /// if the caller has it.
    #[inline(always)]
    fn finish_free_found(&self, d: u32, freeing: StateWord, found: Option<Found<'_>>, mem: &dyn Memory) {
        let line = self.desc.line(d);
        let id2_meta = line[w::ID2_META].load(Ordering::Relaxed);
        let meta_len = (id2_meta >> 32) as u32;
        let key =
            || [line[w::ID0].load(Ordering::Relaxed), line[w::ID1].load(Ordering::Relaxed), id2_meta & 0xffff_ffff];
        match found {
            Some(found) => self.index.remove_found(found, d, freeing.gen()),
            None => self.index.remove(self.hash(&key()), d, freeing.gen()),
        };
        let loc = line[w::LOC].load(Ordering::Acquire);
        let data_len = line[w::DATA_LEN].load(Ordering::Relaxed);
        let kept = Location::is_block(loc) && mem.keep_block(d, data_len, meta_len);
        if !kept {
            if Location::decode(loc).is_some_and(Location::holds_memory) {
                mem.release(d, loc, data_len, meta_len);
            }
            line[w::LOC].store(Location::None.encode(), Ordering::Release);
        }
        if self.desc.has_spill_file(d) {
            mem.remove_spill_file(d, &key(), freeing.gen());
            self.desc.forget_spill_file(d);
        }
        // The flags were the life's: a free descriptor has none.
        if self.desc.transition(d, freeing, StateWord::new(State::Free, NO_OWNER, freeing.gen())) {
            dekker_fence();
            self.mark_maybe_free(d);
            if kept {
                self.note_kept_block();
            }
        }
    }

    // ----- kept blocks (see the module's doc) ------------------------------

    /// Raises the kept-blocks hint, after the FREE store of a descriptor that
    /// keeps a block (SeqCst both: a sweep that cleared the hint before this
    /// load read 1 looks at the descriptors after, and sees the FREE).
    fn note_kept_block(&self) {
        if self.kept_hint.load(Ordering::SeqCst) == 0 {
            self.kept_hint.store(1, Ordering::SeqCst);
        }
    }

    /// Claims descriptor `d` for slot `me` if it is free (as a search does,
    /// leaving its free hint, which a search clears when it finds `d`
    /// taken): for a descriptor this process freed lately. None if it is
    /// not free (or not a descriptor).
    #[inline]
    pub(crate) fn claim_at(&self, d: u32, me: u32, flags: u32) -> Option<StateWord> {
        if d as usize >= self.desc.count() {
            return None;
        }
        self.try_claim(d, me, flags)
    }

    /// Starts a sweep of kept blocks: false when none was kept since the
    /// last sweep began. The sweep then calls `give_back_kept_block` on
    /// every descriptor that may be free.
    pub(crate) fn begin_kept_sweep(&self) -> bool {
        if self.kept_hint.load(Ordering::SeqCst) == 0 {
            return false;
        }
        self.kept_hint.store(0, Ordering::SeqCst);
        true
    }

    /// The block descriptor `d` kept from its last life, if it keeps one:
    /// its encoded location and that life's lengths. Only meaningful for a
    /// descriptor this process holds (just claimed) or that is FREE.
    #[inline]
    pub(crate) fn kept_block(&self, d: u32) -> Option<(u64, u64, u32)> {
        let loc = self.desc.word(d, w::LOC).load(Ordering::Acquire);
        if !Location::is_block(loc) {
            return None;
        }
        let data_len = self.desc.word(d, w::DATA_LEN).load(Ordering::Relaxed);
        let meta_len = (self.desc.word(d, w::ID2_META).load(Ordering::Relaxed) >> 32) as u32;
        Some((loc, data_len, meta_len))
    }

    /// Frees the block descriptor `d` kept from its last life, if it keeps
    /// one; `d` is held RESERVED by this process (just claimed), and its
    /// location is None after. True if a block was freed.
    pub(crate) fn drop_kept_block(&self, d: u32, mem: &dyn Memory) -> bool {
        let Some((loc, data_len, meta_len)) = self.kept_block(d) else { return false };
        mem.release(d, loc, data_len, meta_len);
        self.desc.word(d, w::LOC).store(Location::None.encode(), Ordering::Release);
        true
    }

    /// Gives the block the free descriptor `d` keeps back to its slab, if it
    /// keeps one: claimed for slot `me` (so that no claimer takes it
    /// meanwhile; one that dies holding it is discarded by its reclaimer,
    /// which frees the block), freed, and FREE again with no location. True
    /// if a block was freed.
    pub(crate) fn give_back_kept_block(&self, d: u32, me: u32, mem: &dyn Memory) -> bool {
        if self.kept_block(d).is_none() {
            return false;
        }
        let Some(claimed) = self.try_claim(d, me, 0) else { return false };
        let freed = self.drop_kept_block(d, mem);
        if self.desc.transition(d, claimed, StateWord::new(State::Free, NO_OWNER, claimed.gen())) {
            dekker_fence();
            self.mark_maybe_free(d);
        }
        freed
    }
}

/// The spill and restore protocol, on descriptor words only (the files are
/// `spill`'s business). A spill is SEALED -> SPILLING(o) -> SPILLED, then the
/// memory is released; any getter may cancel a SPILLING object back to
/// SEALED, so a stopped spiller never blocks a reader. A restore never takes
/// the SPILLED original: each restorer builds a complete copy in a fresh
/// descriptor (SHADOW), then competes with deleters and other restorers for
/// the original's location word — None -> Successor(copy) or None ->
/// Tombstone, one CAS. The steps after that (swap the index entry to the
/// copy, seal the copy, free the original) are idempotent and anyone who
/// sees the Successor may do them, so a stopped restorer blocks no one.
impl<'a> Objects<'a> {
    /// SEALED -> SPILLING(me), unless pinned (Dekker with `try_pin`).
    pub(crate) fn begin_spill(&self, d: u32, sealed: StateWord, me: u32) -> Option<StateWord> {
        let spilling = sealed.to(State::Spilling, me);
        if !self.desc.transition(d, sealed, spilling) {
            return None;
        }
        dekker_fence();
        if self.pinned(d) {
            self.desc.transition(d, spilling, sealed.to(State::Sealed, NO_OWNER));
            return None;
        }
        Some(spilling)
    }

    /// Evicts the EVICTABLE object `d` seen in state `sealed`: deleted as by
    /// a delete, unless a reader wants it. It is a spill that ends in a
    /// delete, so readers and pins meet it exactly as they meet a spill:
    /// SEALED -> SPILLING(me) (unless pinned, Dekker with `try_pin`), which
    /// any reader may cancel, then SPILLING(me) -> DELETED, and the free once
    /// nothing holds it. A dead evictor's SPILLING is cancelled by its
    /// reclaimer like a dead spiller's. True if this call deleted it.
    pub(crate) fn evict(&self, d: u32, sealed: StateWord, me: u32, mem: &dyn Memory) -> bool {
        let Some(spilling) = self.begin_spill(d, sealed, me) else { return false };
        if !self.desc.transition(d, spilling, spilling.to(State::Deleted, NO_OWNER)) {
            return false;
        }
        self.free_if_deleted_and_unpinned(d, me, mem);
        true
    }

    /// SPILLING -> SEALED: a reader (or the spiller, on failure) cancels.
    pub(crate) fn cancel_spill(&self, d: u32, spilling: StateWord) -> bool {
        self.desc.transition(d, spilling, spilling.to(State::Sealed, NO_OWNER))
    }

    /// Undoes the step `spilling` of a dead spiller (its reclaimer):
    /// `remove_attempt` removes the files of the attempt a snapshot of `d`
    /// records, then the step is cancelled. Only a snapshot still in that
    /// step will do: once a reader cancelled it, the attempt recorded may be
    /// another spiller's, even a committed one's (SPILLED, same life), whose
    /// file must stay. The dead spiller's own files, if any, are then
    /// owned by no descriptor, and a sweep removes them.
    pub(crate) fn undo_spill(&self, d: u32, spilling: StateWord, remove_attempt: impl FnOnce(&Snapshot)) -> bool {
        if let Some(snap) = self.desc.snapshot(d).filter(|n| n.state == spilling) {
            remove_attempt(&snap);
        }
        self.cancel_spill(d, spilling)
    }

    /// SPILLING -> SPILLED, once the spill file is in place. False if a
    /// reader cancelled the spill meanwhile.
    pub(crate) fn commit_spill(&self, d: u32, spilling: StateWord) -> bool {
        self.desc.transition(d, spilling, spilling.to(State::Spilled, NO_OWNER))
    }

    /// Releases the memory the SPILLED object `d` (state `spilled`) still
    /// holds at `loc`, then marks it OnDisk. Any process `me` may do this
    /// (the release is idempotent within the life, and only the original's
    /// own blocks name it), `mem` protecting slabs. The descriptor is named
    /// in `releasers` while this runs, so that it does not start a new life
    /// meanwhile whose bytes this would free.
    pub(crate) fn release_spilled_memory(&self, d: u32, spilled: StateWord, loc: u64, me: u32, mem: &dyn Memory) {
        self.desc.mark_released(d);
        let named = self.releasers.name(me, d);
        if self.desc.load_state(d, Ordering::SeqCst) == spilled {
            let data_len = self.desc.word(d, w::DATA_LEN).load(Ordering::Relaxed);
            let meta_len = (self.desc.word(d, w::ID2_META).load(Ordering::Relaxed) >> 32) as u32;
            mem.release_shared(d, loc, data_len, meta_len);
            let on_disk = Location::on_disk(spilled).encode();
            let _ = self.desc.word(d, w::LOC).compare_exchange(loc, on_disk, Ordering::SeqCst, Ordering::Relaxed);
        }
        self.releasers.clear(named);
    }

    /// Claims the SPILLED original `d` for the complete copy `t` (in state
    /// `shadow`): the restore's commit point. On failure returns what the
    /// location word holds instead (another Successor, a Tombstone, or
    /// leftover memory to release first).
    pub(crate) fn claim_successor(&self, d: u32, spilled: StateWord, t: u32, shadow: StateWord) -> Result<(), u64> {
        let on_disk = Location::on_disk(spilled).encode();
        let succ = Location::Successor { d: t, gen: shadow.short_gen() }.encode();
        self.desc.word(d, w::LOC).compare_exchange(on_disk, succ, Ordering::SeqCst, Ordering::SeqCst).map(|_| ())
    }

    /// Claims the SPILLED original `d` for a delete: the delete's commit point.
    pub(crate) fn claim_tombstone(&self, d: u32, spilled: StateWord) -> Result<(), u64> {
        let on_disk = Location::on_disk(spilled).encode();
        let tomb = Location::Tombstone.encode();
        self.desc.word(d, w::LOC).compare_exchange(on_disk, tomb, Ordering::SeqCst, Ordering::SeqCst).map(|_| ())
    }

    /// Finishes a delete of the SPILLED original `d` whose location is a
    /// Tombstone: free it (index entry, spill file), unless something holds
    /// it (references, tickets): then whoever drops the last hold does.
    /// Idempotent.
    pub(crate) fn finish_tombstone(&self, d: u32, spilled: StateWord, me: u32, mem: &dyn Memory) {
        // Dekker with a dropped hold (see `refcount::after_drop`).
        dekker_fence();
        if self.referenced(d, spilled) {
            return;
        }
        let freeing = spilled.to(State::Freeing, me);
        if self.desc.transition(d, spilled, freeing) {
            self.finish_free(d, freeing, mem);
        }
    }

    /// Installs copy `t` in place of the SPILLED original `d` (state
    /// `spilled`, key `key`) that names it as Successor with generation bits
    /// `t_gen`: swap the index entry, seal the copy, free the original. Every
    /// step is idempotent; anyone may run this.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn install_successor(
        &self,
        d: u32,
        spilled: StateWord,
        key: &[u64; 3],
        t: u32,
        t_gen: u32,
        me: u32,
        mem: &dyn Memory,
    ) {
        if t as usize >= self.desc.count() {
            return;
        }
        // 1. The index entry now names the copy (readers of SHADOW help).
        self.index.replace(self.hash(key), d, spilled.gen(), t, t_gen as u64);
        dekker_fence();
        // 2. The holders of references move to the copy (see `refs`): the
        // original's word is frozen, its holders copied into the copy's,
        // less those whose reclaim is under way.
        let ts = self.desc.load_state(t, Ordering::SeqCst);
        let mine = ts.state() == State::Shadow && ts.short_gen() == t_gen;
        if mine {
            if let Some(refs) = self.refs.freeze(d, spilled.gen()) {
                self.refs.copy_in(t, ts.gen(), refs);
            }
            self.refs.settle(t, ts.gen(), self.reclaims);
        }
        // 3. The copy becomes an ordinary sealed object.
        if mine {
            self.desc.transition(t, ts, ts.to(State::Sealed, NO_OWNER));
        }
        // 4. The original goes (its spill file with it).
        let freeing = spilled.to(State::Freeing, me);
        if self.desc.transition(d, spilled, freeing) {
            self.finish_free(d, freeing, mem);
            // 5. What a holder's drop or a retire that ran into the move
            // left undone (see `refcount::after_install`): the one that
            // freed the original does it, whoever sealed the copy (the copy
            // was settled and sealed before any free of the original).
            let now = self.desc.load_state(t, Ordering::SeqCst);
            if now.short_gen() == t_gen && now.state() != State::Shadow && now.holds_id() {
                self.after_install(t, now, key, me, mem);
            }
        }
    }

    /// The spill attempt recorded in `d` now. A spiller reads it before its
    /// `begin_spill` and hands it to `record_spill_attempt`.
    pub(crate) fn spill_attempt(&self, d: u32) -> u32 {
        self.desc.spill_tag(d)
    }

    /// Records spill attempt `tag` in the descriptor `d` this spiller took
    /// to `spilling`, before the attempt's file exists: from then on whoever
    /// frees or reclaims `d` knows which file to remove, and a sweep knows
    /// the file is owned. `seen` is what `spill_attempt` returned before the
    /// spiller's `begin_spill`. False if the step is not (or no longer) this
    /// spiller's: it then creates no file, and cancels its step if it still
    /// holds it.
    ///
    /// The record replaces `seen` by a compare-and-swap. A spiller stopped
    /// between its `begin_spill` and its record may resume after a reader
    /// cancelled its step and another spiller began, recorded and committed
    /// its own: a plain store would then replace the committed attempt's tag
    /// in a SPILLED descriptor, whose file a restore could no longer open
    /// (reported as damage: the object was lost) and a sweep would remove as
    /// unowned. With the CAS, a record succeeds only if no attempt was
    /// recorded since the recorder read `seen`, before its `begin_spill`;
    /// an attempt that commits was recorded while its step held the
    /// descriptor, so every later recorder began later, read the committed
    /// tag or a later one, and finds its spiller's step gone (which it
    /// checks after the record). The committed attempt's tag therefore stays
    /// until the descriptor is freed.
    pub(crate) fn record_spill_attempt(&self, d: u32, spilling: StateWord, seen: u32, tag: u32) -> bool {
        self.desc.record_spill_attempt(d, seen, tag) && self.desc.load_state(d, Ordering::SeqCst) == spilling
    }

    /// Whether a descriptor owns the spill file of `attempt`: the
    /// descriptor whose generation and recorded attempt the file's name
    /// gives, while it spills (SPILLING: the file is being written or
    /// renamed by a live process, or by one whose reclaim will remove it)
    /// or is spilled (SPILLED, complete files only). The spiller records its
    /// attempt before it creates the file, so a file a sweep lists is owned
    /// in this sense for as long as its writer needs it; after that its
    /// writer, the reclaim of its writer, or the free of the descriptor
    /// removes it — or a sweep does. No list of live processes is needed:
    /// it would be stale by the time a file is looked at.
    pub(crate) fn owns_spill_file(&self, attempt: &SpillAttempt) -> bool {
        let d = attempt.d;
        if d as usize >= self.desc.count() {
            return false;
        }
        loop {
            let s = self.desc.load_state(d, Ordering::SeqCst);
            let tag = self.desc.spill_tag(d);
            if self.desc.load_state(d, Ordering::SeqCst) != s {
                continue;
            }
            let spilling = s.state() == State::Spilling || (s.state() == State::Spilled && !attempt.temp);
            return spilling && s.gen() == attempt.gen && tag == attempt.tag;
        }
    }

    /// Whether the SPILLED object `d`, seen in state `spilled`, is still on
    /// disk only: no restore and no delete of it has committed since. A
    /// restore that fails to read the file checks this before it reports
    /// damage: a file that a committed restore or delete removed is not.
    pub(crate) fn still_on_disk(&self, d: u32, spilled: StateWord) -> bool {
        self.desc.load_state(d, Ordering::SeqCst) == spilled
            && self.desc.word(d, w::LOC).load(Ordering::SeqCst) == Location::on_disk(spilled).encode()
    }

    /// For a SHADOW copy `t`: the SPILLED original it restores, if that
    /// original names `t` as its Successor (so the copy is the chosen one).
    pub(crate) fn chosen_predecessor(&self, t: u32, shadow: StateWord) -> Option<(u32, StateWord)> {
        let d = self.desc.restore_of(t)?;
        if d as usize >= self.desc.count() || d == t {
            return None;
        }
        let ds = self.desc.load_state(d, Ordering::SeqCst);
        let want = Location::Successor { d: t, gen: shadow.short_gen() }.encode();
        (ds.state() == State::Spilled && self.desc.word(d, w::LOC).load(Ordering::SeqCst) == want).then_some((d, ds))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::object::test_arena::{put, Arena};

    #[test]
    fn put_lookup_delete_reput() {
        let a = Arena::new(16, 2);
        let o = a.objects();
        let d = put(&a, 1, &[1, 2, 3]).unwrap();
        assert_eq!(put(&a, 1, &[1, 2, 3]), Err(InsertError::Duplicate));
        let (found, snap) = o.lookup(&[1, 2, 3], |s| s.state() == State::Sealed).unwrap();
        assert_eq!(found, d);
        assert!(o.delete_sealed(d, snap.state, 1, &a));
        assert!(o.lookup(&[1, 2, 3], |s| s.state() == State::Sealed).is_none());
        assert_eq!(a.released(d), 1);
        put(&a, 1, &[1, 2, 3]).unwrap();
    }

    #[test]
    fn delete_of_pinned_object_waits_for_last_release() {
        let a = Arena::new(16, 2);
        let o = a.objects();
        let local = a.local(0);
        let d = put(&a, 1, &[9, 9, 9]).unwrap();
        let (_, snap) = o.lookup(&[9, 9, 9], |s| s.state() == State::Sealed).unwrap();
        assert_eq!(o.try_pin(&local, 0, d, snap.state, &a), Pin::Pinned);
        assert!(o.delete_sealed(d, snap.state, 1, &a));
        // Invisible, not freed, ID still reserved.
        assert!(o.lookup(&[9, 9, 9], |s| s.state() == State::Sealed).is_none());
        assert_eq!(a.released(d), 0);
        assert_eq!(put(&a, 1, &[9, 9, 9]), Err(InsertError::Duplicate));
        assert!(o.unpin(&local, 0, d, &a));
        assert_eq!(a.released(d), 1);
        assert!(!o.unpin(&local, 0, d, &a));
        put(&a, 1, &[9, 9, 9]).unwrap();
    }

    /// A descriptor that a releaser of spilled memory names is not claimed
    /// (a put takes another) until the name is cleared; then it is, and its
    /// new life starts without the releaser's mark.
    #[test]
    fn a_claim_passes_over_a_descriptor_a_releaser_names() {
        let a = Arena::new(2, 2);
        let o = a.objects();
        let d = put(&a, 0, &[1, 1, 1]).unwrap();
        let sealed = o.desc.load_state(d, Ordering::SeqCst);
        let spilling = o.begin_spill(d, sealed, 0).unwrap();
        assert!(o.commit_spill(d, spilling));
        let spilled = o.desc.load_state(d, Ordering::SeqCst);
        let loc = o.desc.word(d, w::LOC).load(Ordering::SeqCst);
        // Slot 1 is about to release the spill's memory: named, then stopped.
        o.desc.mark_released(d);
        let named = o.releasers.name(1, d);
        o.release_spilled_memory(d, spilled, loc, 0, &a);
        assert_eq!(a.released(d), 1);
        assert!(o.claim_tombstone(d, spilled).is_ok());
        o.finish_tombstone(d, spilled, 0, &a);
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
        let other = put(&a, 0, &[2, 2, 2]).unwrap();
        assert_ne!(other, d, "a put took a descriptor a releaser names");
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free, "given back");
        o.releasers.clear(named);
        assert_eq!(put(&a, 0, &[3, 3, 3]).unwrap(), d);
        assert!(!o.desc.may_be_released(d), "a new life starts without the mark");
    }

    /// A new life of a descriptor keeps a spiller's note (its pin, if it
    /// takes one, is a spiller's) and nothing else of the AUX word.
    #[test]
    fn a_new_life_keeps_only_a_spillers_note() {
        let a = Arena::new(1, 3);
        let o = a.objects();
        let d = put(&a, 0, &[5, 5, 5]).unwrap();
        let sealed = o.desc.load_state(d, Ordering::SeqCst);
        assert!(o.delete_sealed(d, sealed, 0, &a));
        // A spiller of the last life, late, notes itself on the free descriptor.
        assert!(o.desc.set_spill_reader(d, 2));
        o.desc.mark_released(d);
        o.desc.mark_referenced(d);
        assert_eq!(put(&a, 0, &[6, 6, 6]).unwrap(), d);
        assert_eq!(o.desc.spill_reader(d), Some(2));
        assert!(!o.desc.may_be_released(d) && !o.desc.take_referenced(d) && !o.desc.has_spill_file(d));
        assert!(!o.desc.set_spill_reader(d, 1), "another spiller is refused while the note stands");
        o.desc.clear_spill_reader(d, 2);
        assert_eq!(o.desc.spill_reader(d), None);
    }

    /// The soak's lost objects, step by step: a spiller stops after its
    /// `begin_spill`; a reader cancels its step; another spiller records
    /// its attempt and commits. The first then resumes: its record must
    /// fail and leave the committed attempt's tag, which names the file.
    #[test]
    fn a_stopped_spiller_cannot_record_over_a_committed_spill() {
        let a = Arena::new(4, 2);
        let o = a.objects();
        let d = put(&a, 0, &[4, 5, 6]).unwrap();
        let sealed = o.desc.load_state(d, Ordering::SeqCst);
        let seen_0 = o.spill_attempt(d);
        let stopped = o.begin_spill(d, sealed, 0).unwrap();
        // (slot 0 stops here)
        assert!(o.cancel_spill(d, stopped));
        let seen_1 = o.spill_attempt(d);
        let spilling = o.begin_spill(d, sealed, 1).unwrap();
        assert!(o.record_spill_attempt(d, spilling, seen_1, 0x20_0001));
        assert!(o.commit_spill(d, spilling));
        // Slot 0 resumes.
        assert!(!o.record_spill_attempt(d, stopped, seen_0, 0x10_0001));
        assert_eq!(o.spill_attempt(d), 0x20_0001);
        // Its reclaimer, had it died instead, leaves the file alone too.
        assert!(!o.undo_spill(d, stopped, |_| panic!("removed the files of a spilled object")));
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst), spilling.to(State::Spilled, NO_OWNER));
    }

    /// A stopped spiller that records before the next spiller does: the
    /// record lands but the step is not its own (it creates no file), and
    /// the next spiller, which read the attempt before, fails and cancels;
    /// a spill after that succeeds.
    #[test]
    fn a_stopped_spillers_early_record_only_delays_the_next_spill() {
        let a = Arena::new(4, 2);
        let o = a.objects();
        let d = put(&a, 0, &[4, 5, 7]).unwrap();
        let sealed = o.desc.load_state(d, Ordering::SeqCst);
        let seen_0 = o.spill_attempt(d);
        let stopped = o.begin_spill(d, sealed, 0).unwrap();
        assert!(o.cancel_spill(d, stopped));
        let seen_1 = o.spill_attempt(d);
        let spilling = o.begin_spill(d, sealed, 1).unwrap();
        assert!(!o.record_spill_attempt(d, stopped, seen_0, 0x10_0001));
        assert!(!o.record_spill_attempt(d, spilling, seen_1, 0x20_0001));
        assert!(o.cancel_spill(d, spilling));
        let seen = o.spill_attempt(d);
        let spilling = o.begin_spill(d, sealed, 1).unwrap();
        assert!(o.record_spill_attempt(d, spilling, seen, 0x20_0002));
        assert!(o.commit_spill(d, spilling));
        assert_eq!(o.spill_attempt(d), 0x20_0002);
    }

    #[test]
    fn stale_pin_is_refused() {
        let a = Arena::new(16, 1);
        let o = a.objects();
        let local = a.local(0);
        let d = put(&a, 0, &[5, 5, 5]).unwrap();
        let (_, snap) = o.lookup(&[5, 5, 5], |s| s.state() == State::Sealed).unwrap();
        assert!(o.delete_sealed(d, snap.state, 0, &a));
        assert_eq!(o.try_pin(&local, 0, d, snap.state, &a), Pin::Changed);
        assert_eq!(local.count(d), 0);
    }

    #[test]
    fn claim_fills_the_table_then_fails() {
        let a = Arena::new(70, 1);
        let o = a.objects();
        let mut got = std::collections::HashSet::new();
        for _ in 0..70 {
            let (d, _) = o.claim(0, 1, 0).unwrap();
            assert!(got.insert(d));
        }
        assert!(o.claim(0, 0, 0).is_none());
    }

    #[test]
    fn racing_inserts_of_one_id_commit_once() {
        for _ in 0..if cfg!(miri) { 5 } else { 200 } {
            let a = Arena::new(64, 4);
            let wins = std::sync::atomic::AtomicU32::new(0);
            std::thread::scope(|s| {
                for me in 0..4 {
                    let (a, wins) = (&a, &wins);
                    s.spawn(move || {
                        if put(a, me, &[42, 42, 42]).is_ok() {
                            wins.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            });
            assert_eq!(wins.load(Ordering::Relaxed), 1);
            assert_eq!(a.objects().index.count_entries(), 1);
        }
    }
}
