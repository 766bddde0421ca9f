//! The Rust API: a `Store` handle and its operations. The C ABI (`capi`) is
//! a thin layer over this; tests and the `objstore` command use it directly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::alloc::footprint;
use crate::attach::{now_unix, store_path, Attachment, Options};
use crate::descriptor::{st, w, Location, Snapshot, StateWord, NO_OWNER};
use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::layout::{globals, Layout, HEADER_LEN};
use crate::objects::{InsertError, Pin};
use crate::pins::HandlePins;
use crate::reclaim::Reclaimed;
use crate::shm::LocalCounters;
use crate::spill::Spilled;
use crate::sys;

/// A pinned object as raw pointers into the shared mapping. The bytes stay
/// valid and unchanged until the matching `Store::release` (or until the
/// handle is closed).
#[derive(Clone, Copy, Debug)]
pub struct RawObject {
    /// First byte of the data; 64-byte aligned. Never null.
    pub data: *const u8,
    pub data_len: usize,
    /// First byte of the metadata. Never null (may point just past the data).
    pub meta: *const u8,
    pub meta_len: usize,
}

// SAFETY: the pointers address shared read-only memory that stays mapped
// while the pin is held; they carry no thread affinity.
unsafe impl Send for RawObject {}
// SAFETY: as above.
unsafe impl Sync for RawObject {}

/// Counters of a store, computed by one scan of its tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub capacity_bytes: u64,
    /// Memory held by objects now (including objects deleted while pinned).
    pub used_bytes: u64,
    /// Sealed objects, in memory or spilled.
    pub object_count: u64,
    /// Created, not yet sealed.
    pub unsealed_count: u64,
    /// Objects with at least one pin.
    pub pinned_count: u64,
    pub spilled_count: u64,
    pub spilled_bytes: u64,
    pub max_objects: u64,
    pub attached_processes: u32,
    pub max_processes: u32,
    /// Dead processes cleaned up so far.
    pub reclaimed_processes: u64,
}

/// Where an object is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectState {
    /// Created, not sealed yet.
    Unsealed,
    /// Sealed, in memory.
    Sealed,
    /// Deleted but still pinned: invisible, freed at the last release.
    Deleted,
    /// Sealed, on disk only.
    Spilled,
}

impl ObjectState {
    pub fn name(self) -> &'static str {
        match self {
            ObjectState::Unsealed => "unsealed",
            ObjectState::Sealed => "sealed",
            ObjectState::Deleted => "deleted",
            ObjectState::Spilled => "spilled",
        }
    }
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub id: ObjectId,
    pub data_len: u64,
    pub meta_len: u64,
    pub state: ObjectState,
    /// Processes holding at least one pin.
    pub pinning_processes: u32,
    /// Unix seconds when it was created.
    pub created_unix: u64,
}

/// An attached process of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub slot: u32,
    pub pid: u32,
}

/// A handle to a store. Cheap operations, safe to share between threads.
///
/// Dropping the handle releases its pins and aborts the objects it created
/// but did not seal.
pub struct Store {
    att: Arc<Attachment>,
    pins: LocalCounters,
    pinned_any: AtomicBool,
    /// Objects this handle created and has not sealed: descriptor -> state word.
    created: Mutex<HashMap<u32, u64>>,
    /// What attaching reclaimed from dead processes.
    reclaimed_at_open: Reclaimed,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.att.path).field("slot", &self.att.slot).finish()
    }
}

fn timeout_deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

impl Store {
    /// Opens the store `name` (a name under /dev/shm, or a path if it has a
    /// '/'), creating it if it does not exist (unless `attach_only`).
    pub fn open(name: &str, opts: &Options) -> Result<Store> {
        let path = store_path(name)?;
        let (att, reclaimed_at_open) = Attachment::open(&path, opts)?;
        let n = att.layout.params.max_objects as usize;
        Ok(Store {
            pins: LocalCounters::new(n).map_err(|e| Error::os("cannot map pin counters", e))?,
            att,
            pinned_any: AtomicBool::new(false),
            created: Mutex::new(HashMap::new()),
            reclaimed_at_open,
        })
    }

    /// Removes the store's files. Processes attached keep their mappings;
    /// the next open of the name creates a new store.
    pub fn destroy(name: &str) -> Result<()> {
        let path = store_path(name)?;
        let spill_dir = read_header(&path).ok().and_then(|l| l.params.spill_dir);
        sys::unlink(&path).map_err(|e| Error::os(format!("cannot remove store '{path}'"), e))?;
        if let Some(dir) = spill_dir {
            crate::spill::remove_store_files(&dir, &path);
        }
        Ok(())
    }

    /// The file backing the store.
    pub fn path(&self) -> &str {
        &self.att.path
    }

    /// This process's slot in the store's process table.
    pub fn process_slot(&self) -> u32 {
        self.att.slot
    }

    /// What opening this handle reclaimed from dead processes (every attach
    /// cleans up after them); empty if the process was attached already.
    pub fn reclaimed_at_open(&self) -> Reclaimed {
        self.reclaimed_at_open
    }

    /// The store's spill directory, if it has one.
    pub fn spill_dir(&self) -> Option<&str> {
        self.att.spill_dir.as_deref()
    }

    /// A fresh ID, never used before, as `put` would choose (for building
    /// an object in place with `create`).
    pub fn new_id(&self) -> ObjectId {
        self.att.ids.next()
    }

    #[inline]
    fn check_process(&self) -> Result<()> {
        if self.att.in_owner_process() {
            Ok(())
        } else {
            Err(err!(
                InvalidArgument,
                "this store handle was opened by another process (before a fork); open the store again"
            ))
        }
    }

    fn handle_pins(&self) -> HandlePins<'_> {
        HandlePins::new(self.pins.words())
    }

    /// Reclaims what dead processes held, and says what that was. Also
    /// finishes interrupted restores and deletes of spilled objects and
    /// removes spill files nothing owns.
    pub fn collect(&self) -> Result<Reclaimed> {
        self.check_process()?;
        let r = self.att.collect()?;
        self.att.sweep_spills();
        Ok(r)
    }

    // ----- writing ----------------------------------------------------------------

    /// Stores `data` as a new object with a fresh ID.
    pub fn put(&self, data: &[u8]) -> Result<ObjectId> {
        self.put_with_meta(data, &[])
    }

    /// Stores `data` and `meta` as a new object with a fresh ID.
    pub fn put_with_meta(&self, data: &[u8], meta: &[u8]) -> Result<ObjectId> {
        self.check_process()?;
        let id = self.att.ids.next();
        self.put_as(&id, data, meta)?;
        Ok(id)
    }

    /// Stores `data` and `meta` under a caller-chosen ID, sealed at once.
    pub fn put_as(&self, id: &ObjectId, data: &[u8], meta: &[u8]) -> Result<()> {
        self.check_process()?;
        let key = id.words();
        let (d, reserved, offset) = self.reserve_object(&key, data.len() as u64, meta)?;
        self.att.map.write(offset, data);
        self.commit(id, d, reserved, reserved.to(st::SEALED, NO_OWNER))?;
        Ok(())
    }

    /// Creates an object to be filled in place: returns a pointer to
    /// `data_len` writable bytes, valid until `seal` or `abort`.
    pub fn create_raw(&self, id: &ObjectId, data_len: usize, meta: &[u8]) -> Result<*mut u8> {
        self.check_process()?;
        let key = id.words();
        let (d, reserved, offset) = self.reserve_object(&key, data_len as u64, meta)?;
        let created = self.commit(id, d, reserved, reserved.to(st::CREATED, self.att.slot))?;
        self.created.lock().unwrap_or_else(|p| p.into_inner()).insert(d, created.0);
        Ok(self.att.map.ptr(offset, data_len).expect("allocation is inside the arena"))
    }

    /// Creates an object to be filled in place, as a guard that aborts the
    /// object unless it is sealed.
    pub fn create(&self, id: &ObjectId, data_len: usize, meta: &[u8]) -> Result<Creating<'_>> {
        let ptr = self.create_raw(id, data_len, meta)?;
        Ok(Creating { store: self, id: *id, ptr, len: data_len, done: false })
    }

    /// Claims a descriptor, writes its fields, allocates its memory and
    /// copies the metadata. Returns the descriptor, its RESERVED state word
    /// and the mapping offset of the data.
    fn reserve_object(&self, key: &[u64; 3], data_len: u64, meta: &[u8]) -> Result<(u32, StateWord, usize)> {
        let att = &*self.att;
        let meta_len = u32::try_from(meta.len()).map_err(|_| err!(InvalidArgument, "metadata is larger than 4 GiB"))?;
        let total = footprint(data_len, meta_len as u64)
            .filter(|&t| t <= att.max_footprint())
            .ok_or_else(|| {
                err!(
                    TooLarge,
                    "an object of {data_len} bytes with {meta_len} bytes of metadata cannot fit a store of {} bytes",
                    att.max_footprint()
                )
            })?;
        let o = att.objects();
        // A caller-chosen ID that is taken fails before any memory is
        // allocated for it (which, in a full store, would spill others for
        // nothing). The insert below still decides races.
        if o.lookup(key, |s| s.holds_id()).is_some() {
            return Err(err!(AlreadyExists, "object {} already exists", ObjectId::from_words(*key)));
        }
        let (d, reserved) = att.claim_descriptor()?;
        o.desc.write_fields(d, key, meta_len, data_len, now_unix() as u32);
        let offset = match att.allocate(d, total) {
            Ok(off) => att.layout.arena + off as usize,
            Err(e) => {
                o.discard(d, reserved, att.slot, &att.freer());
                return Err(e);
            }
        };
        att.map.write(offset + data_len.next_multiple_of(64) as usize, meta);
        Ok((d, reserved, offset))
    }

    /// Inserts a reserved, filled descriptor into the index in state `to`.
    fn commit(&self, id: &ObjectId, d: u32, reserved: StateWord, to: StateWord) -> Result<StateWord> {
        let att = &*self.att;
        let o = att.objects();
        let key = id.words();
        match o.insert(d, reserved, &key, to) {
            Ok(s) => {
                if to.state() == st::SEALED {
                    att.waits().notify(o.hash(&key));
                }
                Ok(s)
            }
            Err((e, now)) => {
                o.discard(d, now, att.slot, &att.freer());
                Err(match e {
                    InsertError::Duplicate => err!(AlreadyExists, "object {id} already exists"),
                    InsertError::IndexFull => err!(OutOfMemory, "the index has no free entry near object {id}'s hash"),
                })
            }
        }
    }

    /// Finds an object this handle created and has not sealed.
    fn own_unsealed(&self, id: &ObjectId) -> Result<(u32, StateWord)> {
        let o = self.att.objects();
        let Some((d, snap)) = o.lookup(&id.words(), |s| s.holds_id()) else {
            return Err(err!(NotFound, "object {id} not found"));
        };
        if snap.state.state() != st::CREATED {
            return Err(err!(AlreadyExists, "object {id} is already sealed"));
        }
        let created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        if created.get(&d) != Some(&snap.state.0) {
            return Err(err!(InvalidArgument, "object {id} was created by another handle; only its creator may seal or abort it"));
        }
        Ok((d, snap.state))
    }

    /// Seals an object this handle created: it becomes visible and immutable.
    pub fn seal(&self, id: &ObjectId) -> Result<()> {
        self.check_process()?;
        let (d, created) = self.own_unsealed(id)?;
        let o = self.att.objects();
        if !o.desc.transition(d, created, created.to(st::SEALED, NO_OWNER)) {
            return Err(err!(Corrupt, "object {id} changed state under its creator"));
        }
        self.created.lock().unwrap_or_else(|p| p.into_inner()).remove(&d);
        self.att.waits().notify(o.hash(&id.words()));
        Ok(())
    }

    /// Abandons an object this handle created and has not sealed.
    pub fn abort(&self, id: &ObjectId) -> Result<()> {
        self.check_process()?;
        let (d, created) = self.own_unsealed(id)?;
        self.created.lock().unwrap_or_else(|p| p.into_inner()).remove(&d);
        if !self.att.objects().discard(d, created, self.att.slot, &self.att.freer()) {
            return Err(err!(Corrupt, "object {id} changed state under its creator"));
        }
        Ok(())
    }

    // ----- reading ----------------------------------------------------------------

    /// Pins `key`'s object if it is sealed and present now.
    fn try_get(&self, id: &ObjectId, key: &[u64; 3]) -> Result<Option<RawObject>> {
        let att = &*self.att;
        let o = att.objects();
        let local = att.local_pins();
        for _ in 0..64 {
            let Some((d, snap)) = o.lookup(key, |s| s.is_readable()) else { return Ok(None) };
            match snap.state.state() {
                st::SEALED => {}
                // A reader wins over a spiller: take it back to SEALED.
                st::SPILLING => {
                    o.cancel_spill(d, snap.state);
                    continue;
                }
                st::SHADOW => {
                    att.handle_shadow(d, &snap);
                    continue;
                }
                _ => match att.handle_spilled(d, &snap)? {
                    Spilled::LookAgain => continue,
                    Spilled::Deleted => return Ok(None),
                    // Restored by this call, and pinned for it already.
                    Spilled::Restored { d, snap } => return self.pinned_view(id, d, &snap).map(Some),
                },
            }
            match o.try_pin(&local, att.slot, d, snap.state, &att.freer()) {
                Pin::Pinned => {}
                Pin::Changed => continue,
                Pin::Overflow => {
                    return Err(err!(InvalidArgument, "object {id} is pinned too many times by this process"))
                }
            }
            return self.pinned_view(id, d, &snap).map(Some);
        }
        // Present all along, but every attempt saw it move: spilled again
        // as soon as restored, under extreme memory pressure.
        Err(err!(OutOfMemory, "object {id} cannot be held in memory: memory pressure keeps spilling it"))
    }

    /// The view of object `d` (snapshot `snap`), which this process has
    /// just pinned for this handle.
    fn pinned_view(&self, id: &ObjectId, d: u32, snap: &Snapshot) -> Result<RawObject> {
        let att = &*self.att;
        let o = att.objects();
        let Some(obj) = self.view(snap) else {
            o.unpin(&att.local_pins(), att.slot, d, &att.freer());
            return Err(err!(Corrupt, "object {id} has an out-of-bounds location (damaged store)"));
        };
        self.handle_pins().add(d);
        if !self.pinned_any.load(Ordering::Relaxed) {
            self.pinned_any.store(true, Ordering::Relaxed);
        }
        // The CLOCK reference bit, written only when not already set.
        let aux = o.desc.word(d, w::AUX);
        if aux.load(Ordering::Relaxed) & 1 == 0 {
            aux.fetch_or(1, Ordering::Relaxed);
        }
        Ok(obj)
    }

    fn view(&self, snap: &Snapshot) -> Option<RawObject> {
        let att = &*self.att;
        let total = footprint(snap.data_len, snap.meta_len as u64)?;
        let off = att.payload_offset(snap.loc, total)?;
        let base = att.map.ptr(att.layout.arena + off as usize, total as usize)?;
        let meta_at = snap.data_len.next_multiple_of(64) as usize;
        Some(RawObject {
            data: base,
            data_len: snap.data_len as usize,
            // SAFETY-free arithmetic: wrapping_add never dereferences, and the
            // result is inside the block (meta_at <= total).
            meta: base.wrapping_add(meta_at),
            meta_len: snap.meta_len as usize,
        })
    }

    /// Gets and pins an object, waiting up to `timeout` (None: forever) for
    /// another process to seal it. Zero timeout: NotFound if absent.
    pub fn get_raw(&self, id: &ObjectId, timeout: Option<Duration>) -> Result<RawObject> {
        self.check_process()?;
        let key = id.words();
        if let Some(obj) = self.try_get(id, &key)? {
            return Ok(obj);
        }
        if timeout == Some(Duration::ZERO) {
            return Err(err!(NotFound, "object {id} not found"));
        }
        let hash = self.att.objects().hash(&key);
        let att = &*self.att;
        let found = att.waits().bucket(hash).wait_for(&att.local_waiters(), att.slot, timeout_deadline(timeout), || {
            self.try_get(id, &key).transpose()
        });
        match found {
            Some(r) => r,
            None => Err(err!(Timeout, "object {id} was not sealed within {:?}", timeout.unwrap_or_default())),
        }
    }

    /// Gets and pins an object, as a guard that releases it when dropped.
    pub fn get(&self, id: &ObjectId, timeout: Option<Duration>) -> Result<Object<'_>> {
        let raw = self.get_raw(id, timeout)?;
        Ok(Object { store: self, id: *id, raw })
    }

    /// Gets and pins many objects, waiting up to `timeout` for the missing
    /// ones. `out[i]` is Some for each object pinned. On Timeout (or NotFound
    /// with a zero timeout) the present objects stay pinned; on any other
    /// error none does.
    pub fn get_many_raw(&self, ids: &[ObjectId], timeout: Option<Duration>, out: &mut [Option<RawObject>]) -> Result<()> {
        self.check_process()?;
        if ids.len() != out.len() {
            return Err(err!(InvalidArgument, "{} IDs but {} output slots", ids.len(), out.len()));
        }
        out.iter_mut().for_each(|o| *o = None);
        let mut failure = None;
        let mut fill = |out: &mut [Option<RawObject>]| -> bool {
            let mut all = true;
            for (i, id) in ids.iter().enumerate() {
                if out[i].is_none() {
                    match self.try_get(id, &id.words()) {
                        Ok(Some(obj)) => out[i] = Some(obj),
                        Ok(None) => all = false,
                        Err(e) => {
                            failure = Some(e);
                            return true;
                        }
                    }
                }
            }
            all
        };
        let mut done = fill(out);
        if !done && timeout != Some(Duration::ZERO) {
            let att = &*self.att;
            done = att
                .waits()
                .many()
                .wait_for(&att.local_waiters(), att.slot, timeout_deadline(timeout), || fill(out).then_some(()))
                .is_some();
        }
        if let Some(e) = failure {
            for (i, o) in out.iter_mut().enumerate() {
                if o.take().is_some() {
                    let _ = self.release(&ids[i]);
                }
            }
            return Err(e);
        }
        if done {
            return Ok(());
        }
        let missing = out.iter().filter(|o| o.is_none()).count();
        if timeout == Some(Duration::ZERO) {
            Err(err!(NotFound, "{missing} of {} objects not found", ids.len()))
        } else {
            Err(err!(Timeout, "{missing} of {} objects were not sealed in time", ids.len()))
        }
    }

    /// Drops one pin this handle holds on an object.
    pub fn release(&self, id: &ObjectId) -> Result<()> {
        self.check_process()?;
        let att = &*self.att;
        let o = att.objects();
        let Some((d, _)) = o.lookup(&id.words(), |s| matches!(s.state(), st::SEALED | st::DELETED | st::SPILLING)) else {
            // A spilled object is there (a get restores it), but unpinned:
            // pinned objects are never spilled.
            if self.contains(id)? {
                return Err(err!(InvalidArgument, "object {id} is not pinned by this handle"));
            }
            return Err(err!(NotFound, "object {id} not found"));
        };
        if !self.handle_pins().take(d) {
            return Err(err!(InvalidArgument, "object {id} is not pinned by this handle"));
        }
        o.unpin(&att.local_pins(), att.slot, d, &att.freer());
        Ok(())
    }

    /// Deletes an object: invisible to gets at once, its memory freed when
    /// the last pin is released. The ID may be put again after that.
    pub fn delete(&self, id: &ObjectId) -> Result<()> {
        self.check_process()?;
        let att = &*self.att;
        let o = att.objects();
        for _ in 0..64 {
            let Some((d, snap)) = o.lookup(&id.words(), |s| s.holds_id()) else {
                return Err(err!(NotFound, "object {id} not found"));
            };
            match snap.state.state() {
                st::SEALED
                    if o.delete_sealed(d, snap.state, att.slot, &att.freer()) => {
                        return Ok(());
                    }
                st::CREATED => return Err(err!(NotSealed, "object {id} is not sealed yet")),
                st::DELETED => return Err(err!(NotFound, "object {id} is already deleted")),
                st::SPILLING => {
                    o.cancel_spill(d, snap.state);
                }
                st::SHADOW => att.handle_shadow(d, &snap),
                st::SPILLED
                    if att.delete_spilled(d, &snap)? => {
                        return Ok(());
                    }
                _ => {}
            }
        }
        Err(err!(Io, "object {id} kept changing state during delete"))
    }

    /// Whether a sealed object with this ID is in the store.
    pub fn contains(&self, id: &ObjectId) -> Result<bool> {
        self.check_process()?;
        let tomb = crate::descriptor::Location::Tombstone.encode();
        Ok(self
            .att
            .objects()
            .lookup(&id.words(), |s| s.is_readable())
            .is_some_and(|(_, snap)| !(snap.state.state() == st::SPILLED && snap.loc == tomb)))
    }

    // ----- inspection ---------------------------------------------------------------

    /// Counters of the store (one scan of its tables: O(max_objects)).
    pub fn stats(&self) -> Result<Stats> {
        self.check_process()?;
        let att = &*self.att;
        let o = att.objects();
        let p = &att.layout.params;
        let mut s = Stats {
            capacity_bytes: p.capacity,
            max_objects: p.max_objects,
            max_processes: p.max_processes,
            reclaimed_processes: att.global(globals::RECLAIMED).load(Ordering::Relaxed),
            attached_processes: att.live_processes().len() as u32,
            ..Stats::default()
        };
        for d in 0..o.desc.count() as u32 {
            let Some(snap) = o.desc.snapshot(d) else { continue };
            match snap.state.state() {
                st::FREE => continue,
                st::RESERVED | st::INSERTING | st::CREATED => s.unsealed_count += 1,
                st::SEALED | st::SPILLING => s.object_count += 1,
                st::SPILLED => match Location::decode(snap.loc) {
                    // Deleted, or already restored (its copy counts).
                    Some(Location::Tombstone) | Some(Location::Successor { .. }) => {}
                    _ => {
                        s.object_count += 1;
                        s.spilled_count += 1;
                        s.spilled_bytes = s.spilled_bytes.saturating_add(snap.data_len.saturating_add(snap.meta_len as u64));
                    }
                },
                _ => {}
            }
            s.used_bytes = s.used_bytes.saturating_add(att.held_bytes(&snap).unwrap_or(0));
            if o.masks.any(d) {
                s.pinned_count += 1;
            }
        }
        Ok(s)
    }

    /// Every object in the store (one scan of its tables).
    pub fn list(&self) -> Result<Vec<ObjectInfo>> {
        Ok(self.list_from(0, usize::MAX)?.0)
    }

    /// Up to `limit` objects, scanning object slots from `cursor`; returns
    /// them and the cursor to continue from (None when the scan is done).
    pub fn list_from(&self, cursor: u64, limit: usize) -> Result<(Vec<ObjectInfo>, Option<u64>)> {
        self.check_process()?;
        let o = self.att.objects();
        let count = o.desc.count() as u64;
        let mut out = Vec::new();
        let mut d = cursor.min(count);
        let mut retries = 0;
        while d < count && out.len() < limit {
            let Some(snap) = o.desc.snapshot(d as u32) else {
                // Changing under us: look again, a few times.
                retries += 1;
                if retries < 16 {
                    continue;
                }
                retries = 0;
                d += 1;
                continue;
            };
            retries = 0;
            let state = match snap.state.state() {
                st::CREATED => Some(ObjectState::Unsealed),
                st::SEALED | st::SPILLING => Some(ObjectState::Sealed),
                st::DELETED => Some(ObjectState::Deleted),
                st::SPILLED => match Location::decode(snap.loc) {
                    Some(Location::Tombstone) | Some(Location::Successor { .. }) => None,
                    _ => Some(ObjectState::Spilled),
                },
                _ => None,
            };
            if let Some(state) = state {
                out.push(ObjectInfo {
                    id: ObjectId::from_words(snap.key),
                    data_len: snap.data_len,
                    meta_len: snap.meta_len as u64,
                    state,
                    pinning_processes: o.masks.holders(d as u32).len() as u32,
                    created_unix: snap.info & 0xffff_ffff,
                });
            }
            d += 1;
        }
        Ok((out, (d < count).then_some(d)))
    }

    /// The live processes pinning an object (sealed or deleted-but-pinned).
    pub fn pin_holders(&self, id: &ObjectId) -> Result<Vec<ProcessInfo>> {
        self.check_process()?;
        let o = self.att.objects();
        let Some((d, _)) = o.lookup(&id.words(), |s| s.holds_id()) else {
            return Err(err!(NotFound, "object {id} not found"));
        };
        let procs = self.att.procs();
        Ok(o.masks
            .holders(d)
            .into_iter()
            .filter(|&slot| slot < procs.slots())
            .map(|slot| ProcessInfo { slot, pid: procs.owner(slot).pid })
            .collect())
    }

    /// Live processes attached to the store.
    pub fn processes(&self) -> Result<Vec<ProcessInfo>> {
        self.check_process()?;
        Ok(self.att.live_processes().into_iter().map(|(slot, pid)| ProcessInfo { slot, pid }).collect())
    }

    #[doc(hidden)]
    /// Checks the store's internal consistency (tests): every in-memory
    /// object's bytes are held by it in the page table or its slab, nothing
    /// is held by nobody, no pin bit names a free slot. Returns problems found.
    pub fn audit(&self) -> Result<Vec<String>> {
        self.check_process()?;
        Ok(crate::audit::audit(&self.att))
    }

    /// Closes the handle (the same as dropping it).
    pub fn close(self) {}
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.att.in_owner_process() {
            return;
        }
        let att = &*self.att;
        let o = att.objects();
        let local = att.local_pins();
        if self.pinned_any.load(Ordering::Relaxed) {
            let pins = self.handle_pins();
            for d in 0..pins.len() as u32 {
                for _ in 0..pins.take_all(d) {
                    o.unpin(&local, att.slot, d, &att.freer());
                }
            }
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        for (d, s) in created {
            o.discard(d, StateWord(s), att.slot, &att.freer());
        }
    }
}

/// A pinned object; released when dropped.
#[derive(Debug)]
pub struct Object<'s> {
    store: &'s Store,
    id: ObjectId,
    raw: RawObject,
}

impl<'s> Object<'s> {
    pub fn id(&self) -> &ObjectId {
        &self.id
    }
    /// The object's data.
    pub fn data(&self) -> &[u8] {
        // SAFETY: the object is pinned by this guard, so the bytes stay mapped
        // and are never written again (objects are immutable once sealed).
        unsafe { std::slice::from_raw_parts(self.raw.data, self.raw.data_len) }
    }
    /// The object's metadata.
    pub fn meta(&self) -> &[u8] {
        // SAFETY: as for `data`.
        unsafe { std::slice::from_raw_parts(self.raw.meta, self.raw.meta_len) }
    }
    pub fn raw(&self) -> RawObject {
        self.raw
    }
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        let _ = self.store.release(&self.id);
    }
}

/// An object being created; aborted when dropped unless sealed.
#[derive(Debug)]
pub struct Creating<'s> {
    store: &'s Store,
    id: ObjectId,
    ptr: *mut u8,
    len: usize,
    done: bool,
}

impl<'s> Creating<'s> {
    pub fn id(&self) -> &ObjectId {
        &self.id
    }
    /// The bytes to fill.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: the block belongs to this unsealed object, which no other
        // process can see or free; `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    pub fn seal(mut self) -> Result<()> {
        self.done = true;
        self.store.seal(&self.id)
    }
    pub fn abort(mut self) -> Result<()> {
        self.done = true;
        self.store.abort(&self.id)
    }
}

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.store.abort(&self.id);
        }
    }
}

/// Reads and checks a store file's header without attaching.
pub(crate) fn read_header(path: &str) -> Result<Layout> {
    let mut buf = vec![0u8; HEADER_LEN];
    let mut f = std::fs::File::open(path).map_err(|e| Error::os(format!("cannot open '{path}'"), e))?;
    std::io::Read::read_exact(&mut f, &mut buf).map_err(|_| err!(Corrupt, "'{path}' is shorter than a store header"))?;
    Layout::decode_header(&buf)
}
