//! References and tickets for one process: the operations behind
//! `Store::add_ref`, `unref`, `give_ref` and `take_ref`. The process's own
//! counts (`process_refs`) say how many references it holds; the shared
//! steps (`refcount`) run on their 0 -> 1 and 1 -> 0 transitions, after
//! the object is found and any restore or delete it is in the middle of is
//! helped along.

use super::access::Access;
use super::refcount::{DropRef, TakeRef};
use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::platform;
use crate::shared::descriptor::{Location, Snapshot, State};
use crate::shared::holds;
use crate::shared::refs::INLINE_SLOTS;

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

    /// This process takes one more reference on `id`'s object, which must
    /// be sealed and not deleted.
    pub(crate) fn add_ref(&self, id: &ObjectId) -> Result<()> {
        let key = id.words();
        let mut counts = self.att.process_refs().lock(&key);
        match counts.get(&key).copied() {
            Some(n) => {
                // Held already (so not retired), but it may be deleted.
                if !self.contains(id) {
                    return Err(Error::object_not_found(id.0));
                }
                let n = n.checked_add(1).ok_or_else(|| err!(InvalidArgument, "too many references to object {id}"))?;
                counts.insert(key, n);
            }
            None => {
                self.take_shared(id, &key)?;
                counts.insert(key, 1);
            }
        }
        Ok(())
    }

    /// The 0 -> 1 step of this process's references to `id`.
    fn take_shared(&self, id: &ObjectId, key: &[u64; 3]) -> Result<()> {
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
            match o.take_ref(d, snap.state, key, me, &mem) {
                TakeRef::Done => return Ok(()),
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

    /// This process drops one of its references to `id`'s object (sealed,
    /// or deleted and kept by its references).
    pub(crate) fn drop_ref(&self, id: &ObjectId) -> Result<()> {
        let key = id.words();
        let mut counts = self.att.process_refs().lock(&key);
        let Some(n) = counts.get(&key).copied() else {
            return Err(err!(NotFound, "this process holds no reference to object {id}"));
        };
        if n > 1 {
            counts.insert(key, n - 1);
            return Ok(());
        }
        self.drop_shared(id, &key)?;
        counts.remove(&key);
        Ok(())
    }

    /// The 1 -> 0 step of this process's references to `id`.
    fn drop_shared(&self, id: &ObjectId, key: &[u64; 3]) -> Result<()> {
        let o = self.o;
        let me = self.att.slot();
        let mem = self.att.allocator().freer();
        for _ in 0..ROUNDS {
            // Held, so present (references keep it): a miss is a lookup
            // that ran into a restore installing its copy. Look again.
            let Some((d, snap)) = o.find_held(key) else {
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

    /// Moves one of this process's references to `id` into a new ticket
    /// (charged to this process until taken).
    pub(crate) fn give(&self, id: &ObjectId) -> Result<u64> {
        let key = id.words();
        if !self.contains(id) {
            return Err(Error::object_not_found(id.0));
        }
        let ticket = holds::ticket_from(platform::random_u128() as u64);
        if !self.o.give(&key, self.att.slot(), ticket) {
            return Err(err!(OutOfMemory, "no room in the store's hold table for another ticket near object {id}"));
        }
        self.drop_ref(id)?;
        Ok(ticket)
    }

    /// Takes the ticket `ticket` for `id`: this process holds the reference.
    pub(crate) fn take(&self, id: &ObjectId, ticket: u64) -> Result<()> {
        self.add_ref(id)?;
        if self.o.take_ticket(&id.words(), ticket) {
            return Ok(());
        }
        self.drop_ref(id)?;
        Err(err!(
            NotFound,
            "no ticket {ticket:#x} is outstanding for object {id} (taken already, dropped with its giver, or for another object)"
        ))
    }

    /// Counts the first reference of a REFCOUNTED object this process just
    /// put (its bit or hold entry was set when it was reserved).
    pub(crate) fn note_creator_ref(&self, key: &[u64; 3]) {
        let mut counts = self.att.process_refs().lock(key);
        *counts.entry(*key).or_insert(0) += 1;
    }

    /// Forgets one of this process's references to an unsealed object that
    /// was just aborted (its bit went with the descriptor; a hold entry, for
    /// a process beyond the reference word, is removed with the last one).
    pub(crate) fn forget_ref_of_aborted(&self, key: &[u64; 3]) {
        let mut counts = self.att.process_refs().lock(key);
        match counts.get(key).copied() {
            Some(n) if n > 1 => {
                counts.insert(*key, n - 1);
            }
            Some(_) => {
                counts.remove(key);
                self.forget_creator_ref(key);
            }
            None => {}
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
