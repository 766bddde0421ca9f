//! References and tickets for one process: the operations behind
//! `Store::add_ref`, `unref`, `give_ref` and `take_ref`. The process's own
//! counts (`process_refs`) say how many references it holds; the shared
//! steps (`refcount`) run on their 0 -> 1 and 1 -> 0 transitions, after
//! the object is found and any restore or delete it is in the middle of is
//! helped along.

use super::access::Access;
use super::process_refs::Holder;
use super::refcount::{DropRef, TakeRef};
use crate::error::{err, Error, ErrorKind, Result};
use crate::id::ObjectId;
use crate::shared::descriptor::{Location, Snapshot, State};
use crate::shared::holds;
use crate::shared::refs::{Refs, INLINE_SLOTS};

/// An entry of `creator_refs`: its slot, and the handle holding the
/// reference.
type CreatorRef = (u32, Holder);

/// Rounds of looking an object up again while it moves.
const ROUNDS: usize = 64;

impl Access<'_> {
    /// Helps a restore of the object seen in `snap` (descriptor `d`) along,
    /// if it is in the middle of one: true if the caller must look again.
    fn helped_a_move(&self, d: u32, snap: &Snapshot) -> bool {
        let moving = match snap.state.state() {
            State::Shadow => true,
            State::Spilled => {
                !matches!(Location::decode(snap.loc), Some(Location::OnDisk { .. }) | Some(Location::Tombstone))
            }
            _ => false,
        };
        if moving {
            if let Some(s) = self.att.spiller() {
                if snap.state.state() == State::Shadow {
                    s.handle_shadow(d, snap);
                } else {
                    let _ = s.settle(d, snap);
                }
            }
        }
        moving
    }

    /// Handle `holder` of this process takes one more reference on `id`'s
    /// object, which must be sealed and not deleted.
    pub(crate) fn add_ref(&self, id: &ObjectId, holder: Holder) -> Result<()> {
        let key = id.words();
        let mut counts = self.att.process_refs().lock(&key);
        // A count is in the map only while it is above 0.
        if let Some(held) = counts.get_mut(&key) {
            if !self.contains_hinted(id, &mut held.hint) {
                // Held already (so not retired), but it may be deleted.
                return Err(Error::object_not_found(id.0));
            }
            if !held.add(holder) {
                return Err(err!(InvalidArgument, "too many references to object {id}"));
            }
            return Ok(());
        }
        if let Some((d, creator)) = self.take_shared(id, &key)? {
            // The process held the object through its put's first
            // reference: that one moves into the counts, beside this one.
            let held = counts.entry(key).or_default();
            let _ = held.add(creator);
            self.att.creator_refs().clear(d);
            if !held.add(holder) {
                return Err(err!(InvalidArgument, "too many references to object {id}"));
            }
            return Ok(());
        }
        // A first count cannot be full.
        let _ = counts.entry(key).or_default().add(holder);
        Ok(())
    }

    /// The entry of `creator_refs` that holds the process's first reference
    /// to the object `key`, found in slot `d` (seen in `snap`): the entry
    /// of `d`, or, if the shared side says the process holds the object
    /// there (a restore moved it since its put), the entry that names it
    /// under another slot. Called with the lock of `key`'s counts held and
    /// no count for `key` in them.
    fn creator_ref_at(&self, d: u32, snap: &Snapshot, key: &[u64; 3]) -> Option<(u32, Holder)> {
        let table = self.att.creator_refs();
        // A process that never put with REFCOUNTED touches no entry.
        if table.never_written() {
            return None;
        }
        if let Some(h) = table.holder_of(d, key) {
            return Some((d, h));
        }
        if !self.held_by_me(d, snap, key) {
            return None;
        }
        self.find_creator_ref(key)
    }

    /// `creator_ref_at` for an object not looked up yet; also where the
    /// lookup found it, if it did.
    fn creator_ref_of(&self, key: &[u64; 3]) -> (Option<CreatorRef>, Option<(u32, Snapshot)>) {
        let table = self.att.creator_refs();
        if table.never_written() {
            return (None, None);
        }
        match self.o.find_held(key) {
            Some((d, snap)) => (self.creator_ref_at(d, &snap, key), Some((d, snap))),
            // Held objects are present: a miss is a lookup that ran into a
            // restore installing its copy. Look through the table.
            None => (self.find_creator_ref(key), None),
        }
    }

    /// The entry of `creator_refs` that names `key`, wherever it is: a scan
    /// of the table, for IDs this process's puts may have made (the entries
    /// are of puts with fresh IDs, which carry the attachment's prefix),
    /// so that an unref of another process's ID, absent, scans nothing.
    #[cold]
    fn find_creator_ref(&self, key: &[u64; 3]) -> Option<(u32, Holder)> {
        if !self.att.ids.may_have_made(key) {
            return None;
        }
        self.att.creator_refs().find(key)
    }

    /// Whether the shared side says this process holds a reference to
    /// the object in `d` (seen in `snap`): its bit in the reference word,
    /// or its hold entry. A word being moved by a restore says yes (the
    /// caller then looks further).
    #[cold]
    fn held_by_me(&self, d: u32, snap: &Snapshot, key: &[u64; 3]) -> bool {
        let me = self.att.slot();
        if me < INLINE_SLOTS {
            return match self.o.refs.load(d, snap.state.gen()) {
                Some(Refs::Open { holders } | Refs::Copied { holders } | Refs::Moved { holders }) => {
                    holders & 1 << me != 0
                }
                Some(Refs::Pending) | None => true,
                Some(Refs::Closing { .. } | Refs::Dead { .. } | Refs::Invalid) => false,
            };
        }
        self.o
            .holds
            .holders(self.o.hash(key), key)
            .iter()
            .any(|h| matches!(h, holds::Hold::Ref { slot } if *slot == me))
    }

    /// The 0 -> 1 step of this process's references to `id`; or, if the
    /// process holds the object through the first reference of its put
    /// (`creator_refs`), nothing: that entry's slot and holder.
    fn take_shared(&self, id: &ObjectId, key: &[u64; 3]) -> Result<Option<(u32, Holder)>> {
        let o = self.o;
        let me = self.att.slot();
        let mem = self.att.allocator().freer();
        for _ in 0..ROUNDS {
            let Some((d, snap)) = o.lookup(key, |s| s.is_readable()) else {
                return Err(Error::object_not_found(id.0));
            };
            if snap.deleted_while_spilled() {
                return Err(Error::object_not_found(id.0));
            }
            if self.helped_a_move(d, &snap) {
                continue;
            }
            if let Some(entry) = self.creator_ref_at(d, &snap, key) {
                return Ok(Some(entry));
            }
            match o.take_ref(d, snap.state, key, me, &mem) {
                TakeRef::Done => return Ok(None),
                TakeRef::Gone => {
                    return Err(err!(NotFound, "object {id} is being deleted: its last reference was dropped"))
                }
                TakeRef::Again => {}
                TakeRef::Full => {
                    return Err(err!(
                        OutOfMemory,
                        "no room in the store's hold table for another reference or ticket near object {id}"
                    ))
                }
            }
        }
        Err(err!(Io, "object {id} kept changing while a reference was taken"))
    }

    /// Handle `holder` of this process drops one of its references to
    /// `id`'s object (sealed, or deleted and kept by its references).
    /// NotFound if the handle holds none.
    pub(crate) fn drop_ref(&self, id: &ObjectId, holder: Holder) -> Result<()> {
        let key = id.words();
        let mut counts = self.att.process_refs().lock(&key);
        let Some(held) = counts.get_mut(&key) else {
            return self.drop_creator_ref(id, &key, holder);
        };
        if held.of(holder) == 0 {
            return Err(not_held(id));
        }
        if !held.is_last() {
            held.take(holder);
            return Ok(());
        }
        self.drop_shared(id, &key)?;
        counts.remove(&key);
        Ok(())
    }

    /// `drop_ref` of an object the process has no count of: the put's
    /// first reference, if the process holds that (under the lock of the
    /// counts of `key`).
    #[cold]
    fn drop_creator_ref(&self, id: &ObjectId, key: &[u64; 3], holder: Holder) -> Result<()> {
        match self.creator_ref_of(key) {
            (Some((d, creator)), seen) if creator == holder => {
                self.drop_shared_seen(id, key, seen)?;
                self.att.creator_refs().clear(d);
                Ok(())
            }
            _ => Err(not_held(id)),
        }
    }

    /// References handle `holder` holds to `id`.
    pub(crate) fn references(&self, id: &ObjectId, holder: Holder) -> u32 {
        let key = id.words();
        let counts = self.att.process_refs().lock(&key);
        match counts.get(&key) {
            Some(held) => held.of(holder),
            None => self.creator_ref_of(&key).0.is_some_and(|(_, creator)| creator == holder) as u32,
        }
    }

    /// Drops every reference handle `holder` holds (it is being closed).
    ///
    /// The entries of `creator_refs` first, then the counts: another handle's
    /// `add_ref` (or a put claiming an entry's old slot) may move one of this
    /// handle's entries into the counts meanwhile, never the other way, so
    /// an entry moved after its scan is found by the scan of the counts (in
    /// the other order it would be found by neither, and leaked).
    /// `put_first_refs`: whether the handle ever put an object whose first
    /// reference went into `creator_refs` (if not, the table is not scanned).
    pub(crate) fn drop_all_refs(&self, holder: Holder, put_first_refs: bool) {
        if put_first_refs {
            let firsts: Vec<[u64; 3]> =
                self.att.creator_refs().entries().filter(|e| e.2 == holder).map(|(_, key, _)| key).collect();
            for key in firsts {
                let _ = self.drop_ref(&ObjectId::from_words(key), holder);
            }
        }
        for (key, n) in self.att.process_refs().held_by(holder) {
            let id = ObjectId::from_words(key);
            for _ in 0..n {
                let _ = self.drop_ref(&id, holder);
            }
        }
    }

    /// The 1 -> 0 step of this process's references to `id`.
    fn drop_shared(&self, id: &ObjectId, key: &[u64; 3]) -> Result<()> {
        self.drop_shared_seen(id, key, None)
    }

    /// `drop_shared`, its first look being `seen` if the caller looked
    /// the object up already (a look a moment old: the steps below check
    /// the life they act on, as with any look).
    fn drop_shared_seen(&self, id: &ObjectId, key: &[u64; 3], mut seen: Option<(u32, Snapshot)>) -> Result<()> {
        let o = self.o;
        let me = self.att.slot();
        let mem = self.att.allocator().freer();
        for _ in 0..ROUNDS {
            // Held, so present (references keep it): a miss is a lookup
            // that ran into a restore installing its copy. Look again.
            let Some((d, snap)) = seen.take().or_else(|| o.find_held(key)) else {
                std::thread::yield_now();
                continue;
            };
            if snap.state.state() == State::Created {
                return Err(err!(NotSealed, "object {id} is not sealed yet"));
            }
            if self.helped_a_move(d, &snap) {
                continue;
            }
            match o.drop_ref(d, snap.state, key, me, &mem) {
                DropRef::Done => return Ok(()),
                // The count said otherwise: the shared side has nothing to
                // drop (a damaged store); the count goes anyway.
                DropRef::NotHeld => return Ok(()),
                DropRef::Again => {}
            }
        }
        Err(err!(Io, "object {id} kept changing while a reference was dropped"))
    }

    /// Moves one of handle `holder`'s references to `id` into a new ticket
    /// (charged to this process until taken).
    pub(crate) fn give(&self, id: &ObjectId, holder: Holder) -> Result<u64> {
        self.check_givable(id, holder)?;
        let ticket = self.new_ticket(id)?;
        self.drop_ref(id, holder)?;
        Ok(ticket)
    }

    /// A ticket for one more reference to `id`, while handle `holder` keeps
    /// the one it holds: `add_ref` then `give`, without counting the
    /// reference in and out of this process.
    pub(crate) fn give_extra(&self, id: &ObjectId, holder: Holder) -> Result<u64> {
        self.check_givable(id, holder)?;
        self.new_ticket(id)
    }

    /// That handle `holder` holds a reference to `id` and the object is
    /// there. (Not `contains_hinted` under the count's lock, as `add_ref`
    /// does: a second caller of it costs `add_ref`, its hot one, its
    /// inlining.)
    fn check_givable(&self, id: &ObjectId, holder: Holder) -> Result<()> {
        if self.references(id, holder) == 0 {
            return Err(err!(NotFound, "this handle holds no reference to object {id}"));
        }
        if !self.contains(id) {
            return Err(Error::object_not_found(id.0));
        }
        Ok(())
    }

    /// A ticket in the hold table for `id`, charged to this process.
    fn new_ticket(&self, id: &ObjectId) -> Result<u64> {
        let ticket = holds::ticket_from(self.att.ids.nonce());
        if !self.o.give(&id.words(), self.att.slot(), ticket) {
            return Err(err!(
                OutOfMemory,
                "no room in the store's hold table for another ticket of object {id}: every entry holds a ticket \
                 not yet taken or a reference"
            ));
        }
        Ok(ticket)
    }

    /// Takes the ticket `ticket` for `id`: handle `holder` holds the
    /// reference. A ticket of an object deleted since it was given is
    /// dropped (NotFound): it held the deleted object's memory and ID, which
    /// go with it if nothing else holds them.
    pub(crate) fn take(&self, id: &ObjectId, ticket: u64, holder: Holder) -> Result<()> {
        if let Err(e) = self.add_ref(id, holder) {
            if e.kind() == ErrorKind::NotFound && self.drop_ticket_of_deleted(id, ticket) {
                return Err(err!(
                    NotFound,
                    "object {id} was deleted after ticket {ticket:#x} was given; the ticket is dropped"
                ));
            }
            return Err(e);
        }
        if self.o.take_ticket(&id.words(), ticket) {
            return Ok(());
        }
        self.drop_ref(id, holder)?;
        Err(err!(
            NotFound,
            "no ticket {ticket:#x} is outstanding for object {id} (taken already, dropped with its giver, or for another object)"
        ))
    }

    /// Drops the ticket `ticket` if it is outstanding for `id`'s object and
    /// that object is deleted (it stays until its last hold goes, as for a
    /// pin; nobody can take the ticket any more, and its giver may live on
    /// for long): true if it was, and the object is freed if the ticket was
    /// its last hold. A ticket of an object that is not seen deleted (one
    /// in the middle of a restore, whose lookup may miss it) stays.
    fn drop_ticket_of_deleted(&self, id: &ObjectId, ticket: u64) -> bool {
        let key = id.words();
        let deleted = self
            .o
            .find_held(&key)
            .is_some_and(|(_, snap)| snap.state.state() == State::Deleted || snap.deleted_while_spilled());
        if !deleted || !self.o.take_ticket(&key, ticket) {
            return false;
        }
        self.o.after_drop(&key, self.att.slot(), &self.att.allocator().freer());
        true
    }

    /// Counts the first reference of a REFCOUNTED object handle `holder`
    /// just put (its bit or hold entry was set when it was reserved).
    pub(crate) fn note_creator_ref(&self, key: &[u64; 3], holder: Holder) {
        let mut counts = self.att.process_refs().lock(key);
        // A count of 2^32 references cannot be reached by puts of new
        // objects (each adds one to its own object's count).
        let _ = counts.entry(*key).or_default().add(holder);
    }

    /// Records the first reference of the object `key` that handle `holder`
    /// is putting with a fresh ID and REFCOUNTED, in the entry of `d`, the
    /// object slot its put claimed, before the object is visible (its bit
    /// or hold entry was set when it was reserved).
    #[inline]
    pub(crate) fn install_creator_ref(&self, d: u32, key: &[u64; 3], holder: Holder) {
        let table = self.att.creator_refs();
        if !table.is_empty(d) {
            self.count_moved_creator_ref(d);
        }
        if !table.install(d, key, holder) {
            self.note_creator_ref(key, holder);
        }
    }

    /// Moves the entry left in slot `d` by an object restored into another
    /// slot since its put into the counts: the put about to use `d` needs
    /// the entry.
    #[cold]
    fn count_moved_creator_ref(&self, d: u32) {
        let table = self.att.creator_refs();
        while let Some((key, creator)) = table.get(d) {
            let mut counts = self.att.process_refs().lock(&key);
            // Under the lock, the entry is the same or was moved already.
            if table.get(d) == Some((key, creator)) {
                let _ = counts.entry(key).or_default().add(creator);
                table.clear(d);
                return;
            }
        }
    }

    /// Undoes `install_creator_ref` for a put that failed.
    #[cold]
    pub(crate) fn undo_creator_ref(&self, d: u32, key: &[u64; 3], holder: Holder) {
        let table = self.att.creator_refs();
        let mut counts = self.att.process_refs().lock(key);
        if table.holder_of(d, key).is_some() {
            table.clear(d);
        } else if let Some(held) = counts.get_mut(key) {
            // Counted: the table had no room for it.
            held.take(holder);
            if held.is_empty() {
                counts.remove(key);
            }
        }
    }

    /// Forgets handle `holder`'s reference to an unsealed object that was
    /// just aborted in slot `d` (its bit went with the descriptor; a hold
    /// entry, for a process beyond the reference word, is removed with the
    /// last one): the entry of `d` if the create's ID was fresh, or the
    /// count (where a put that claimed `d` since may have moved the entry).
    pub(crate) fn forget_ref_of_aborted(&self, d: u32, key: &[u64; 3], holder: Holder) {
        let mut counts = self.att.process_refs().lock(key);
        let table = self.att.creator_refs();
        if table.holder_of(d, key) == Some(holder) {
            table.clear(d);
            self.forget_creator_ref(key);
            return;
        }
        let Some(held) = counts.get_mut(key) else { return };
        if !held.take(holder) {
            return;
        }
        if held.is_empty() {
            counts.remove(key);
            self.forget_creator_ref(key);
        }
    }

    /// Undoes the first reference of an object this process created with
    /// REFCOUNTED and could not put (its hold entry, for a process beyond
    /// the reference word; a bit went with the descriptor).
    pub(crate) fn forget_creator_ref(&self, key: &[u64; 3]) {
        let me = self.att.slot();
        if me >= INLINE_SLOTS {
            self.o.holds.remove_ref(self.o.hash(key), key, me);
        }
    }
}

fn not_held(id: &ObjectId) -> Error {
    err!(NotFound, "this handle holds no reference to object {id}")
}
