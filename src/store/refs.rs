//! References through a handle: `add_ref`, `unref`, and tickets that hand a
//! reference to a process not known yet. The process counts each handle's
//! references apart (so that closing a handle drops exactly its own, and an
//! unref without a reference is refused), in one map with the process's
//! totals, whose transitions run the shared steps: the object layer's
//! `object::access_refs` and `object::process_refs`.
//!
//! A ticket is charged to the giver's *process*, not its handle: it
//! survives the handle that gave it and goes when the process detaches from
//! the store or dies.

use std::time::{Duration, Instant};

use super::{Canceller, Store};
use crate::error::{err, Result};
use crate::id::ObjectId;

impl Store {
    /// Takes one more reference to a sealed object for this handle: the
    /// object is not freed (and, if REFCOUNTED, not deleted) while it is
    /// held. NotFound if the object is absent or deleted.
    pub fn add_ref(&self, id: &ObjectId) -> Result<()> {
        self.att.check_process()?;
        self.att.access().add_ref(id, self.holder)
    }

    /// Drops one of this handle's references. A REFCOUNTED object that no
    /// process references or pins any more is deleted. NotFound if this
    /// handle holds no reference to it.
    pub fn unref(&self, id: &ObjectId) -> Result<()> {
        self.att.check_process()?;
        self.att.access().drop_ref(id, self.holder)
    }

    /// Moves one of this handle's references into a ticket, a number that
    /// can cross a pipe or a queue: until some process takes it
    /// (`take_ref`), the reference is charged to this process, and dropped
    /// if it detaches from the store or dies.
    pub fn give_ref(&self, id: &ObjectId) -> Result<u64> {
        self.att.check_process()?;
        self.att.access().give(id, self.holder)
    }

    /// A ticket for one more reference to `id`, while this handle keeps its
    /// own: what `add_ref` then `give_ref` do, in one step (a pickled
    /// reference, which stays valid where it was pickled). NotFound if
    /// this handle holds no reference to `id`, or the object is gone.
    pub fn give_extra_ref(&self, id: &ObjectId) -> Result<u64> {
        self.att.check_process()?;
        self.att.access().give_extra(id, self.holder)
    }

    /// Takes the reference a ticket holds: this handle holds it from now on.
    /// A ticket is taken at most once; NotFound for one taken already,
    /// dropped with its giver, or given for another object.
    pub fn take_ref(&self, id: &ObjectId, ticket: u64) -> Result<()> {
        self.att.check_process()?;
        self.att.access().take(id, ticket, self.holder)
    }

    /// Tickets this process gave (`give_ref`, `give_extra_ref`, through any
    /// of its handles) that no process has taken yet.
    pub fn tickets_outstanding(&self) -> Result<u64> {
        self.att.check_process()?;
        Ok(self.att.tickets_outstanding())
    }

    /// Waits until every ticket this process gave is taken: what a process
    /// that sent references and is about to exit or detach does, so that
    /// the tickets, and the objects they alone hold, do not go with it
    /// before their receivers take them (`Options::ticket_linger` does the
    /// same at detach). `timeout` None waits for as long as it takes.
    /// Timeout if some are still outstanding when it passes (the message
    /// says how many), Cancelled if `cancel` is cancelled first.
    pub fn wait_tickets_taken(&self, timeout: Option<Duration>, cancel: Option<&Canceller>) -> Result<()> {
        self.att.check_process()?;
        let until = timeout.and_then(|t| Instant::now().checked_add(t));
        let stop = || cancel.is_some_and(Canceller::is_cancelled);
        match self.att.wait_tickets_taken(until, Some(&stop)) {
            0 => Ok(()),
            left if stop() => Err(err!(Cancelled, "cancelled with {left} tickets of this process not taken")),
            left => Err(err!(
                Timeout,
                "{left} tickets given by this process were not taken within {:?}",
                timeout.unwrap_or_default()
            )),
        }
    }

    /// References this handle holds to `id`.
    pub fn references(&self, id: &ObjectId) -> u32 {
        self.att.access().references(id, self.holder)
    }

    /// Counts the first reference of an object this handle put REFCOUNTED.
    pub(super) fn note_creator_ref(&self, id: &ObjectId) {
        self.att.access().note_creator_ref(&id.words(), self.holder);
    }

    /// Forgets this handle's reference to an unsealed object it aborted (the
    /// reference went with the object).
    pub(super) fn forget_ref_of_aborted(&self, d: u32, id: &ObjectId) {
        self.att.access().forget_ref_of_aborted(d, &id.words(), self.holder);
    }

    /// Drops every reference of this handle (it is being closed).
    pub(super) fn drop_all_refs(&self) {
        self.att.access().drop_all_refs(self.holder, self.put_first_refs.load(std::sync::atomic::Ordering::Relaxed));
    }
}
