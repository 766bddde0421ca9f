//! Inspecting a store: its counters, its objects, who pins what, who is
//! attached, and a consistency audit.

use std::path::{Path, PathBuf};

use super::Store;
use crate::error::Result;
use crate::id::ObjectId;
use crate::object::{audit, census, has_store_magic, read_header, ObjectInfo, ProcessInfo, Stats};

/// What the header of a store file says: read without attaching
/// (`Store::read_header`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreHeader {
    pub capacity_bytes: u64,
    pub max_objects: u64,
    pub max_processes: u32,
    /// The spill directory fixed at creation, if any.
    pub spill_dir: Option<PathBuf>,
    /// Unix time (seconds) of the store's creation.
    pub created_unix: u64,
}

impl Store {
    /// Whether the file at `path` begins like a store file (its magic
    /// bytes), read without attaching or mapping: to tell stores from other
    /// files in a directory such as /dev/shm. An error if it cannot be read.
    pub fn is_store_file(path: &Path) -> std::io::Result<bool> {
        has_store_magic(path)
    }

    /// Reads and checks the header of the store file at `path` (magic,
    /// layout version, checksum, sizes) without attaching: Incompatible or
    /// Corrupt as `open` would say, and no process slot taken.
    pub fn read_header(path: &Path) -> Result<StoreHeader> {
        let layout = read_header(path)?;
        let p = layout.params;
        Ok(StoreHeader {
            capacity_bytes: p.capacity,
            max_objects: p.max_objects,
            max_processes: p.max_processes,
            spill_dir: p.spill_dir,
            created_unix: p.created_unix,
        })
    }

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

    /// The live processes holding references to an object (sealed, or
    /// deleted and kept by its references), the givers of its tickets not
    /// taken yet among them (a ticket is charged to its giver).
    pub fn ref_holders(&self, id: &ObjectId) -> Result<Vec<ProcessInfo>> {
        self.att.check_process()?;
        census::ref_holders_by_id(&self.att, id)
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
