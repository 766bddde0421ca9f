//! Inspecting a store: its counters, its objects, who pins what, who is
//! attached, and a consistency audit.

use super::Store;
use crate::error::Result;
use crate::id::ObjectId;
use crate::object::{audit, census, ObjectInfo, ProcessInfo, Stats};

impl Store {
    /// Counters of the store (one scan of its tables: O(max_objects)).
    pub fn stats(&self) -> Result<Stats> {
        self.att.check_process()?;
        Ok(census::stats(&self.att))
    }

    /// Every object in the store (one scan of its tables).
    pub fn list(&self) -> Result<Vec<ObjectInfo>> {
        Ok(self.list_from(0, usize::MAX)?.0)
    }

    /// Up to `limit` objects, scanning object slots from `cursor`; returns
    /// them and the cursor to continue from (None when the scan is done).
    pub fn list_from(&self, cursor: u64, limit: usize) -> Result<(Vec<ObjectInfo>, Option<u64>)> {
        self.att.check_process()?;
        Ok(census::list_from(&self.att, cursor, limit))
    }

    /// The live processes pinning an object (sealed or deleted-but-pinned).
    pub fn pin_holders(&self, id: &ObjectId) -> Result<Vec<ProcessInfo>> {
        self.att.check_process()?;
        census::pin_holders(&self.att, id)
    }

    /// Live processes attached to the store.
    pub fn processes(&self) -> Result<Vec<ProcessInfo>> {
        self.att.check_process()?;
        Ok(self.att.live_processes().into_iter().map(|(slot, pid)| ProcessInfo { slot, pid }).collect())
    }

    /// Checks the store's internal consistency: every in-memory object's
    /// bytes are held by it in the page table or its slab, nothing is held
    /// by nobody, no pin, step or allocation is left to a dead process,
    /// every spilled object has its file. Returns the problems found, one
    /// sentence each (none on a sound store).
    ///
    /// It reads the tables without stopping other processes, so it is
    /// exact on a quiet store; on a busy one a step in progress elsewhere
    /// may show as a problem that a second look no longer finds.
    pub fn audit(&self) -> Result<Vec<String>> {
        self.att.check_process()?;
        Ok(audit::audit(&self.att))
    }
}
