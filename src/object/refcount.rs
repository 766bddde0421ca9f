//! The reference protocol over the object tables: taking and dropping a
//! process's reference, handing one over by ticket, retiring a REFCOUNTED
//! object that nothing holds, and what a holder's drop or death leaves to
//! do.
//!
//! Who holds an object:
//! - pins (`pins`, `lingering`): its bytes stay in place;
//! - references: a bit per process slot in the object's reference word
//!   (`refs`), or for a process in a higher slot an entry of the hold table
//!   (`holds`);
//! - tickets: hold-table entries charged to their giver.
//!
//! An object is never freed while anything holds it: a delete of a held
//! object makes it invisible at once and leaves the free to whoever drops
//! the last hold (like a delete of a pinned object). A REFCOUNTED object is
//! also deleted, exactly as by a delete, when nothing holds it any more:
//! whoever drops the last hold *retires* it:
//!
//! 1. OPEN with no holder -> CLOSING(me) on the reference word (a CAS that
//!    fails if any process holds a bit);
//! 2. it looks for what the word does not show: pins and hold entries
//!    (SeqCst: a process that adds an entry looks at the word afterwards,
//!    and cancels a CLOSING it finds);
//! 3. CLOSING(me) -> DEAD(me): from then on no reference can be taken;
//! 4. it deletes the object (whatever became of it meanwhile: spilled,
//!    restored into another descriptor, which carries the DEAD word).
//!
//! A taker that finds CLOSING turns it back to OPEN with its own bit, so a
//! retirer stopped between steps holds up no one, and "ref racing the last
//! unref" is decided by the order of two CASes on one word. Another
//! retirer that finds CLOSING takes the retire over (CLOSING(other) ->
//! CLOSING(me): the other's commit fails), and one that finds DEAD helps
//! the delete, so the object is gone when any last drop returns, whatever
//! step a concurrent retirer is stopped at. A retirer that
//! finds a hold in step 2 reopens the word and looks once more, since the
//! holder may have dropped it meanwhile and seen CLOSING (not its business)
//! in its own check. A retirer that dies at step 1 or 2 is undone by its
//! reclaimer (CLOSING -> OPEN, then the check again), one that dies after
//! step 3 is finished by it.
//!
//! A dropped hold is followed by `after_drop`: the object, found again by
//! its ID, is freed if it was deleted, finished if it was deleted while
//! spilled, or retired if it is REFCOUNTED. Every path that drops a hold
//! (an unref, a release, a taken ticket, the reclaim of a dead holder, an
//! undone take) runs it.

use super::lifecycle::{Memory, Objects};
use crate::shared::descriptor::{Location, Snapshot, State, StateWord};
use crate::shared::refs::{ClearedSlot, Close, Refs, Take, Unref, INLINE_SLOTS};
use crate::shared::sync::{dekker_fence, spin_hint, yield_now, Ordering};

/// The outcome of taking a reference on an object seen in some state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TakeRef {
    Done,
    /// Retired or deleted: no reference can be taken.
    Gone,
    /// It moved or changed since it was seen: look it up again.
    Again,
    /// The hold table has no room near the object's ID.
    Full,
}

/// The outcome of dropping a reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropRef {
    Done,
    /// This process holds no reference on it.
    NotHeld,
    /// It moved since it was seen: look it up again.
    Again,
}

/// Rounds a retirer looks again after a hold it saw went away.
const RETIRE_ROUNDS: usize = 8;

/// Times a retirer takes back a retire another took over from it (each
/// after letting the other finish): a bound that only a retirer preempted
/// again and again for longer than the wait reaches.
const TAKEOVER_ROUNDS: usize = 64;

/// How long a retirer whose retire another took over lets that one finish
/// before taking it back (see `Objects::let_the_other_retirer_finish`):
/// looks, the first `RETIRE_SPINS` with a spin between them, the rest with
/// a yield of the CPU (the other may have been preempted). Under loom, one
/// look: waiting multiplies what a model explores.
const RETIRE_LOOKS: usize = if cfg!(loom) { 1 } else { 320 };
const RETIRE_SPINS: usize = 64;

impl Objects<'_> {
    /// Whether anything but pins holds life `s` of `d`: a reference bit, a
    /// hold entry on its ID. True if `d` left that life (its key cannot be
    /// read): then the caller has nothing to free.
    #[inline]
    pub(crate) fn referenced(&self, d: u32, s: StateWord) -> bool {
        self.refs.held(d, s.gen()) || (self.holds.maybe_in_use() && self.held_by_entries(d, s))
    }

    /// Whether hold entries name the object in `d` (life `s`); true if `d`
    /// left that life.
    #[cold]
    fn held_by_entries(&self, d: u32, s: StateWord) -> bool {
        match self.desc.key_if(d, s) {
            Some(key) => self.holds.any(self.hash(&key), &key),
            None => true,
        }
    }

    /// Whether `d` still lives life `s` in a state that references keep:
    /// not deleted, not freed.
    fn alive_for_refs(&self, d: u32, s: StateWord) -> bool {
        let now = self.desc.load_state(d, Ordering::SeqCst);
        if now.gen() != s.gen() {
            return false;
        }
        match now.state() {
            State::Sealed | State::Spilling => true,
            State::Spilled => {
                self.desc.word(d, crate::shared::descriptor::w::LOC).load(Ordering::SeqCst)
                    != Location::Tombstone.encode()
            }
            State::Free
            | State::Reserved
            | State::Inserting
            | State::Collided
            | State::Created
            | State::Deleted
            | State::Freeing
            | State::Shadow
            | State::Invalid => false,
        }
    }

    /// Slot `me` takes a reference on the object `key`, seen in descriptor
    /// `d` in state `s` (readable). Its own count of references is the
    /// caller's: this is its 0 -> 1 step.
    pub(crate) fn take_ref(&self, d: u32, s: StateWord, key: &[u64; 3], me: u32, mem: &dyn Memory) -> TakeRef {
        let gen = s.gen();
        if me < INLINE_SLOTS {
            match self.refs.take(d, gen, me) {
                Take::Taken => {}
                Take::Dead => return TakeRef::Gone,
                Take::Moved | Take::Stale => return TakeRef::Again,
            }
        } else {
            if !self.holds.add(self.hash(key), key, me, None) {
                return TakeRef::Full;
            }
            // The entry is in place: a retirer that closes the word from
            // now on sees it; one that closed it before is cancelled here
            // (Dekker: our entry, then the word; its word, then entries).
            dekker_fence();
            loop {
                match self.refs.load(d, gen) {
                    Some(Refs::Open { .. }) => break,
                    Some(Refs::Closing { by }) => {
                        self.refs.reopen(d, gen, by);
                    }
                    // Our entry may have kept a delete from freeing it
                    // meanwhile: its removal is a drop like any other.
                    Some(Refs::Dead { .. }) => {
                        self.drop_ref(d, s, key, me, mem);
                        return TakeRef::Gone;
                    }
                    _ => {
                        self.drop_ref(d, s, key, me, mem);
                        return TakeRef::Again;
                    }
                }
            }
        }
        // Dekker with a delete: it changes the state, then looks for holds.
        dekker_fence();
        if self.alive_for_refs(d, s) {
            return TakeRef::Done;
        }
        // Deleted meanwhile: give it back (freeing it if we held up its free).
        self.drop_ref(d, s, key, me, mem);
        TakeRef::Again
    }

    /// Slot `me` drops its reference on the object `key`, seen in
    /// descriptor `d` in state `s` (its 1 -> 0 step), and does what the
    /// drop leaves to do.
    pub(crate) fn drop_ref(&self, d: u32, s: StateWord, key: &[u64; 3], me: u32, mem: &dyn Memory) -> DropRef {
        if me < INLINE_SLOTS {
            match self.refs.drop(d, s.gen(), me) {
                Unref::Dropped { last } => {
                    if last {
                        self.after_drop_seen(key, d, s.gen(), me, mem);
                    }
                    DropRef::Done
                }
                Unref::NotHeld => DropRef::NotHeld,
                Unref::Moved | Unref::Stale => DropRef::Again,
            }
        } else if self.holds.remove_ref(self.hash(key), key, me) {
            self.after_drop_seen(key, d, s.gen(), me, mem);
            DropRef::Done
        } else {
            DropRef::NotHeld
        }
    }

    /// Slot `me`, which holds a reference on the object `key`, moves one
    /// into the ticket `ticket` (see `holds`); the caller then drops its
    /// own. False if the hold table has no room near the ID.
    pub(crate) fn give(&self, key: &[u64; 3], me: u32, ticket: u64) -> bool {
        self.holds.add(self.hash(key), key, me, Some(ticket))
    }

    /// Takes the ticket `ticket` on `key`: false if it is not outstanding.
    /// The taker holds its own reference first, so the object is held
    /// throughout.
    pub(crate) fn take_ticket(&self, key: &[u64; 3], ticket: u64) -> bool {
        self.holds.take_ticket(self.hash(key), key, ticket)
    }

    /// The object `key` (in a state that holds its ID): like `lookup`, but
    /// a descriptor that changes while it is read is read again rather than
    /// passed over. A lookup can still miss an object whose restore
    /// installs its copy meanwhile; the installer then does what the caller
    /// would have (see `after_install`).
    pub(crate) fn find_held(&self, key: &[u64; 3]) -> Option<(u32, Snapshot)> {
        self.index.find(self.hash(key), |d| loop {
            if let Some(snap) = self.desc.snapshot(d) {
                return (snap.key == *key && snap.state.holds_id()).then_some((d, snap));
            }
        })
    }

    /// What a dropped hold on the object `key` leaves to do: free it if it
    /// was deleted (in memory or on disk) and nothing holds it now, or
    /// retire it if it is REFCOUNTED.
    pub(crate) fn after_drop(&self, key: &[u64; 3], me: u32, mem: &dyn Memory) {
        // The dropper's half of the handshakes: its hold is gone, now look.
        dekker_fence();
        self.after_drop_looked_up(key, me, mem);
    }

    /// `after_drop` of a hold dropped on the object seen in `d` in life
    /// `gen`. If `d` still holds the ID, SEALED, in that life, the object
    /// is there (one descriptor at a time holds an ID SEALED: a put of an
    /// ID that is held fails, and a restore's copy takes over from a
    /// SPILLED original), so no lookup is needed; otherwise it is looked up.
    fn after_drop_seen(&self, key: &[u64; 3], d: u32, gen: u64, me: u32, mem: &dyn Memory) {
        dekker_fence();
        if let Some(s) = self.desc.state_if_key(d, key) {
            if s.gen() == gen && s.is(State::Sealed) {
                if s.is_refcounted() {
                    self.retire(d, s, key, me, mem);
                }
                return;
            }
        }
        self.after_drop_looked_up(key, me, mem);
    }

    /// The rest of `after_drop`, after its fence: the object looked up.
    fn after_drop_looked_up(&self, key: &[u64; 3], me: u32, mem: &dyn Memory) {
        let Some((d, snap)) = self.find_held(key) else { return };
        let s = snap.state;
        match s.state() {
            State::Deleted => {
                self.free_if_deleted_and_unpinned(d, me, mem);
            }
            State::Spilled if snap.deleted_while_spilled() => self.finish_tombstone(d, s, me, mem),
            State::Sealed | State::Spilling | State::Spilled if s.is_refcounted() => {
                self.retire(d, s, key, me, mem);
            }
            _ => {}
        }
    }

    /// Retires the REFCOUNTED object `key`, seen in descriptor `d` in state
    /// `s`, if nothing holds it (see the module docs). True if this call
    /// deleted it.
    #[cold]
    pub(crate) fn retire(&self, d: u32, s: StateWord, key: &[u64; 3], me: u32, mem: &dyn Memory) -> bool {
        let gen = s.gen();
        let held_elsewhere =
            || self.pinned_by_reader(d) || self.holds.any(self.hash(key), key) || !self.alive_for_refs(d, s);
        let (mut rounds, mut taken_over) = (0, 0);
        while rounds < RETIRE_ROUNDS && taken_over < TAKEOVER_ROUNDS {
            if self.pinned_by_reader(d) {
                return false;
            }
            match self.refs.close_or_take_over(d, gen, me) {
                Close::Closed => {}
                Close::Dead { by } => {
                    // Its retirer may be stopped before its delete: the
                    // object must not stay visible after our drop.
                    self.delete_retired(key, by, me, mem);
                    return false;
                }
                Close::Refused => return false,
            }
            dekker_fence();
            if held_elsewhere() {
                if self.refs.reopen(d, gen, me) {
                    // The holder may have let go meanwhile and left the
                    // check to us (it saw CLOSING).
                    dekker_fence();
                    if held_elsewhere() {
                        return false;
                    }
                    rounds += 1;
                    continue;
                }
                // Reopened by a taker (the next close is refused), or taken
                // over by another retirer: as below.
            } else if self.refs.kill(d, gen, me) {
                // Where the retire saw it, unless it changed since (a spill
                // began): then wherever it is now.
                if !(s.is(State::Sealed) && self.delete_sealed(d, s, me, mem)) {
                    self.delete_retired(key, me, me, mem);
                }
                return true;
            }
            // A taker reopened the word (the next close is refused), or
            // another retirer took the retire over: let it finish, then help
            // its delete or take the retire back, so that the object is gone
            // when we return (a retirer that gave up while another's retire
            // was under way would return with the object still visible).
            self.let_the_other_retirer_finish(d, gen, me);
            taken_over += 1;
        }
        false
    }

    /// Waits a while for a retire of life `gen` of `d` that another slot
    /// took over from `me` to commit or give up. Taking it straight back
    /// lets two retirers take it from each other round after round, each
    /// failing its commit, until both give up with the object still
    /// visible after a last unref (seen in the references soak: a dropper
    /// and a reclaimer's sweep). One that is stopped for ever is taken over
    /// after the wait.
    #[cold]
    fn let_the_other_retirer_finish(&self, d: u32, gen: u64, me: u32) {
        for look in 0..RETIRE_LOOKS {
            if !matches!(self.refs.load(d, gen), Some(Refs::Closing { by }) if by != me) {
                return;
            }
            if look < RETIRE_SPINS {
                spin_hint();
            } else {
                yield_now();
            }
        }
    }

    /// Whether `d` is pinned by a reader, which holds a REFCOUNTED object as
    /// a reference does. A spiller's pin, taken to read the bytes it writes
    /// out, keeps the memory (a delete leaves the free to the last unpin),
    /// not the object. Readers pin only SEALED objects (a pin is checked
    /// against the state, and a reader cancels a spill before it pins), so
    /// a pin of a SPILLING or SPILLED object is its spiller's; so is a pin
    /// of a SEALED object whose only holder is the spiller that says it
    /// reads it (a reader cancelled its spill: it reads on until it sees
    /// that). A reader in the spiller's own process shares its pin bit and
    /// is taken for the spiller then: the object is retired under it, and
    /// its view stays valid (as when a get races a delete).
    fn pinned_by_reader(&self, d: u32) -> bool {
        self.pinned(d)
            && self.desc.load_state(d, Ordering::SeqCst).state() == State::Sealed
            && self.pinned_by_other_than_its_spiller(d)
    }

    /// Whether a pin of `d` is not the one of the spiller that says it
    /// reads it. The spiller says so before it pins and unsays it after it
    /// unpins, so a note read the same before and after the pins was there
    /// while they were read: with it, the spiller's bit is its pin; without
    /// it, any pin is a reader's. (A note that keeps changing: a reader's,
    /// to be safe.)
    #[cold]
    fn pinned_by_other_than_its_spiller(&self, d: u32) -> bool {
        let mut before = self.desc.spill_reader(d);
        for _ in 0..4 {
            let lingering = self.lingering.pinned(d);
            let holders = self.masks.holders(d);
            let after = self.desc.spill_reader(d);
            if after == before {
                return lingering || holders.iter().any(|&h| Some(h) != before);
            }
            before = after;
        }
        true
    }

    /// Deletes the object `key` whose reference word is DEAD(by): wherever
    /// it is now (in memory, on disk, restored into another descriptor).
    /// Idempotent; a reclaimer of `by` runs it too. `me`: the slot running it.
    pub(crate) fn delete_retired(&self, key: &[u64; 3], by: u32, me: u32, mem: &dyn Memory) {
        for _ in 0..64 {
            let Some((d, snap)) = self.find_held(key) else { return };
            let s = snap.state;
            // Help a restore along first: its copy then carries the word.
            match (s.state(), Location::decode(snap.loc)) {
                (State::Shadow, _) => {
                    if let Some((pred, spilled)) = self.chosen_predecessor(d, s) {
                        self.install_successor(pred, spilled, key, d, s.short_gen(), by, mem);
                        continue;
                    }
                    return;
                }
                (State::Spilled, Some(Location::Successor { d: t, gen })) => {
                    self.install_successor(d, s, key, t, gen, by, mem);
                    continue;
                }
                _ => {}
            }
            if self.refs.load(d, s.gen()) != Some(Refs::Dead { by }) {
                // Another object under the same ID, or deleted already.
                return;
            }
            match s.state() {
                State::Sealed => {
                    if self.delete_sealed(d, s, by, mem) {
                        return;
                    }
                }
                State::Spilling => {
                    self.cancel_spill(d, s);
                }
                State::Spilled => match Location::decode(snap.loc) {
                    Some(Location::OnDisk { .. }) => {
                        if self.claim_tombstone(d, s).is_ok() {
                            self.finish_tombstone(d, s, by, mem);
                            return;
                        }
                    }
                    Some(Location::Tombstone) => {
                        self.finish_tombstone(d, s, by, mem);
                        return;
                    }
                    Some(loc) if loc.holds_memory() => self.release_spilled_memory(d, s, snap.loc, me, mem),
                    _ => return,
                },
                State::Free
                | State::Reserved
                | State::Inserting
                | State::Collided
                | State::Created
                | State::Deleted
                | State::Freeing
                | State::Shadow
                | State::Invalid => return,
            }
        }
    }

    /// Drops what dead slot `dead` held in `d`'s reference word (the caller
    /// holds its liveness lock and has dropped its pins): its bit (in the
    /// word, or in the copy its holders moved to), or its retire under way
    /// (undone before step 3, finished after). `me` acts for the reclaim.
    pub(crate) fn drop_dead_refs(&self, d: u32, dead: u32, me: u32, mem: &dyn Memory) -> bool {
        match self.refs.clear_slot(d, dead) {
            ClearedSlot::Nothing => false,
            ClearedSlot::Cleared { tag, last } => {
                if last {
                    self.after_drop_in(d, tag, me, mem);
                }
                true
            }
            ClearedSlot::Moved => {
                // Frozen: its holders are (or will be) in the copy. Finish
                // the install, then clear the bit there.
                let s = self.desc.load_state(d, Ordering::SeqCst);
                let Some(snap) = self.desc.snapshot(d).filter(|n| n.state == s) else { return false };
                if let (State::Spilled, Some(Location::Successor { d: t, gen })) =
                    (s.state(), Location::decode(snap.loc))
                {
                    self.install_successor(d, s, &snap.key, t, gen, me, mem);
                    if (t as usize) < self.desc.count() {
                        return self.drop_dead_refs(t, dead, me, mem);
                    }
                }
                false
            }
            ClearedSlot::Retiring { tag, committed } => {
                let s = self.desc.load_state(d, Ordering::SeqCst);
                let Some(key) = self.desc.key_if(d, s).filter(|_| crate::shared::refs::tag_of(s.gen()) == tag) else {
                    return false;
                };
                if committed {
                    self.delete_retired(&key, dead, me, mem);
                } else if self.refs.reopen(d, s.gen(), dead) {
                    self.after_drop(&key, me, mem);
                }
                true
            }
        }
    }

    /// What the install of the restored copy `t` (life `s`, key `key`) leaves
    /// to do: a retire its original was in the middle of is finished (the
    /// copy carries the DEAD word), and a REFCOUNTED copy that lost its last
    /// holder while it moved is retired. A dropper or retirer whose lookup
    /// ran into the move may have missed the object; this is their check.
    pub(crate) fn after_install(&self, t: u32, s: StateWord, key: &[u64; 3], me: u32, mem: &dyn Memory) {
        match self.refs.load(t, s.gen()) {
            Some(Refs::Dead { by }) => self.delete_retired(key, by, me, mem),
            Some(Refs::Open { holders: 0 }) if s.is_refcounted() => {
                self.free_if_deleted_and_unpinned(t, me, mem);
            }
            _ => {}
        }
    }

    /// `after_drop` for the object in `d`, if its life is tagged `tag`.
    fn after_drop_in(&self, d: u32, tag: u64, me: u32, mem: &dyn Memory) {
        let s = self.desc.load_state(d, Ordering::SeqCst);
        if crate::shared::refs::tag_of(s.gen()) != tag {
            return;
        }
        if let Some(key) = self.desc.key_if(d, s) {
            self.after_drop(&key, me, mem);
        }
    }

    /// Runs again on `d` the check that follows a dropped pin, a dropped
    /// hold and a delete: frees it if it is deleted (in memory or on disk)
    /// and nothing holds it, retires it if it is REFCOUNTED and nothing
    /// holds it. A process killed between such a step and its check (an
    /// unpin, a delete, a live unref, a reclaimer between removing a dead
    /// slot's entries and checking their objects) leaves the object to no
    /// one: the reclaim of its slot runs this on every descriptor, after it
    /// dropped what the slot held. True if there was something to check.
    pub(crate) fn check_if_free_to_go(&self, d: u32, me: u32, mem: &dyn Memory) -> bool {
        // Most descriptors are free or hold a live object: one load each.
        let s = self.desc.load_state(d, Ordering::SeqCst);
        if !(s.is(State::Deleted) || s.is(State::Spilled) || s.is_refcounted()) {
            return false;
        }
        let Some(snap) = self.desc.snapshot(d) else { return false };
        let s = snap.state;
        match s.state() {
            State::Deleted => {
                self.free_if_deleted_and_unpinned(d, me, mem);
            }
            State::Spilled if snap.deleted_while_spilled() => self.finish_tombstone(d, s, me, mem),
            State::Sealed | State::Spilling | State::Spilled
                if s.is_refcounted() && self.refs.load(d, s.gen()) == Some(Refs::Open { holders: 0 }) =>
            {
                self.after_drop(&snap.key, me, mem);
            }
            _ => return false,
        }
        true
    }

    /// Drops every hold-table entry of dead slot `dead` (the caller holds
    /// its liveness lock): its references and the tickets it gave and no
    /// one took. Returns how many.
    pub(crate) fn drop_dead_holds(&self, dead: u32, me: u32, mem: &dyn Memory) -> u64 {
        let mut keys = Vec::new();
        self.holds.clear_slot(dead, |key| keys.push(*key));
        for key in &keys {
            self.after_drop(key, me, mem);
        }
        keys.len() as u64
    }
}
