//! References through a handle: `add_ref`, `unref`, and tickets that hand a
//! reference to a process not known yet. A handle counts its own
//! references (so that closing it drops exactly those, and an unref without
//! a reference is refused); the process's counts and the shared steps are
//! the object layer's (`object::access_refs`).
//!
//! A ticket is charged to the giver's *process*, not its handle: it
//! survives the handle that gave it and goes when the process detaches from
//! the store or dies.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::Store;
use crate::error::{err, Result};
use crate::id::ObjectId;
use crate::object::IdHash;

/// A handle's reference counts, by object ID.
#[derive(Debug, Default)]
pub(crate) struct HandleRefs {
    counts: Mutex<HashMap<ObjectId, u32, IdHash>>,
}

impl HandleRefs {
    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectId, u32, IdHash>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, id: &ObjectId) {
        *self.lock().entry(*id).or_insert(0) += 1;
    }

    /// Takes one away; false if the handle holds none.
    fn take(&self, id: &ObjectId) -> bool {
        let mut c = self.lock();
        match c.get_mut(id) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                c.remove(id);
            }
            None => return false,
        }
        true
    }

    fn held(&self, id: &ObjectId) -> u32 {
        self.lock().get(id).copied().unwrap_or(0)
    }
}

impl Store {
    /// Takes one more reference to a sealed object for this handle: the
    /// object is not freed (and, if REFCOUNTED, not deleted) while it is
    /// held. NotFound if the object is absent or deleted.
    pub fn add_ref(&self, id: &ObjectId) -> Result<()> {
        self.att.check_process()?;
        self.att.access().add_ref(id)?;
        self.refs.add(id);
        Ok(())
    }

    /// Drops one of this handle's references. A REFCOUNTED object that no
    /// process references or pins any more is deleted. NotFound if this
    /// handle holds no reference to it.
    pub fn unref(&self, id: &ObjectId) -> Result<()> {
        self.att.check_process()?;
        if !self.refs.take(id) {
            return Err(err!(NotFound, "this handle holds no reference to object {id}"));
        }
        if let Err(e) = self.att.access().drop_ref(id) {
            self.refs.add(id);
            return Err(e);
        }
        Ok(())
    }

    /// Moves one of this handle's references into a ticket, a number that
    /// can cross a pipe or a queue: until some process takes it
    /// (`take_ref`), the reference is charged to this process, and dropped
    /// if it detaches from the store or dies.
    pub fn give_ref(&self, id: &ObjectId) -> Result<u64> {
        self.att.check_process()?;
        if self.refs.held(id) == 0 {
            return Err(err!(NotFound, "this handle holds no reference to object {id}"));
        }
        let ticket = self.att.access().give(id)?;
        self.refs.take(id);
        Ok(ticket)
    }

    /// Takes the reference a ticket holds: this handle holds it from now on.
    /// A ticket is taken at most once; NotFound for one taken already,
    /// dropped with its giver, or given for another object.
    pub fn take_ref(&self, id: &ObjectId, ticket: u64) -> Result<()> {
        self.att.check_process()?;
        self.att.access().take(id, ticket)?;
        self.refs.add(id);
        Ok(())
    }

    /// References this handle holds to `id`.
    pub fn references(&self, id: &ObjectId) -> u32 {
        self.refs.held(id)
    }

    /// Counts the first reference of an object this handle put REFCOUNTED.
    pub(super) fn note_creator_ref(&self, id: &ObjectId) {
        self.att.access().note_creator_ref(&id.words());
        self.refs.add(id);
    }

    /// Forgets this handle's reference to an unsealed object it aborted (the
    /// reference went with the object).
    pub(super) fn forget_ref_of_aborted(&self, id: &ObjectId) {
        if self.refs.take(id) {
            self.att.access().forget_ref_of_aborted(&id.words());
        }
    }

    /// Drops every reference of this handle (it is being closed).
    pub(super) fn drop_all_refs(&self) {
        let all = std::mem::take(&mut *self.refs.lock());
        let access = self.att.access();
        for (id, n) in all {
            for _ in 0..n {
                let _ = access.drop_ref(&id);
            }
        }
    }
}
