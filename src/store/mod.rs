//! The Rust API: a `Store` handle and its operations. The C ABI (`capi`) is
//! a thin layer over this; tests and the `objstore` command use it directly.
//!
//! A handle keeps what is its own (its pins, the objects it created and has
//! not sealed) and leaves every question about the shared structures to the
//! object layer (`object::access`, `object::census`).

mod cancel;
mod guards;
mod handle_pins;
mod inspect;
mod recent;
mod refs;
mod remote;
mod wait_set;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use cancel::Canceller;
pub use guards::{Creating, Object};
use handle_pins::HandlePins;
pub use inspect::StoreHeader;
use recent::{ContainsHints, RecentObjects, Remembered};
pub use wait_set::WaitSet;

use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::object::{
    new_holder, store_path, Attachment, Fast, Holder, Options, RawObject, Reclaimed, Repin, Reserved, UnpinRest,
};
use crate::shared::descriptor::StateWord;
use crate::shared::mapping::LocalCounters;
use crate::shared::seal_log::logged_hash;
use crate::shared::wait::{Look, Waited, Waits, WAIT_BUCKETS};

/// A handle to a store. Cheap operations, safe to share between threads.
///
/// Dropping the handle releases its pins and aborts the objects it created
/// but did not seal.
pub struct Store {
    att: Arc<Attachment>,
    /// This handle's pin count per object.
    pins: LocalCounters,
    /// The objects this handle got lately.
    recent: RecentObjects,
    /// Where `contains` found objects lately (see `ContainsHints`).
    contains_hints: ContainsHints,
    pinned_any: AtomicBool,
    /// Objects this handle created and has not sealed: descriptor -> state word.
    created: Mutex<HashMap<u32, u64>>,
    /// This handle's number among the process's holders of references
    /// (the process counts each handle's references apart).
    holder: Holder,
    /// This handle put or created an object whose first reference went into the
    /// process's table of them (`object::creator_refs`): its close looks
    /// there.
    put_first_refs: AtomicBool,
    /// What attaching reclaimed from dead processes.
    reclaimed_at_open: Reclaimed,
    /// The store has a remote tier: a get of an absent ID asks it.
    has_remote: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.att.path()).field("slot", &self.att.slot()).finish()
    }
}

/// What the common path of a get found (see `Store::get_present`).
pub(crate) enum Present {
    Pinned(RawObject),
    Absent,
    Other,
}

/// Where the hot path of a get (`Store::get_again`) left the call, for
/// the rest of it (`Store::get_present_after`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GetMissed {
    /// An ID this handle did not get lately (nothing done): the index next.
    NotRecent,
    /// Nothing done: the whole call.
    Everything,
    /// Object slot `d` pinned through its linger entry, then found with
    /// its state changed: that pin to drop, then the index.
    Changed(u32),
}

/// Where the hot path of a release (`Store::release_again`) left the call,
/// for the rest of it (`Store::release_after`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReleaseMissed {
    /// Nothing done: the whole call.
    Everything,
    /// This handle's pin on `d` taken, but its linger entry holds no pin
    /// of it: the process's pin to drop through the masks.
    UnpinMasked(u32),
    /// The process's last pin on `d` dropped, and `d` was deleted or frees
    /// itself when unreferenced: to free if so.
    LastPin(u32),
}

/// An unknown flag bit is refused rather than ignored.
fn check_flags(flags: u32) -> Result<()> {
    if flags & !crate::object::OBJECT_FLAGS != 0 {
        return Err(err!(InvalidArgument, "unknown object flags {:#x}", flags & !crate::object::OBJECT_FLAGS));
    }
    Ok(())
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

impl Store {
    /// Opens the store `name` (a name under /dev/shm, or a path if it has a
    /// '/'), creating it if it does not exist (unless `attach_only`).
    pub fn open(name: &str, opts: &Options) -> Result<Store> {
        let path = store_path(name)?;
        let (att, reclaimed_at_open) = Attachment::open(&path, opts)?;
        let n = att.region().layout().params.max_objects as usize;
        Ok(Store {
            pins: LocalCounters::new(n).map_err(|e| Error::os("cannot map pin counters", e))?,
            recent: RecentObjects::default(),
            contains_hints: ContainsHints::default(),
            has_remote: att.remote().is_some(),
            att,
            pinned_any: AtomicBool::new(false),
            created: Mutex::new(HashMap::new()),
            holder: new_holder(),
            put_first_refs: AtomicBool::new(false),
            reclaimed_at_open,
        })
    }

    /// Removes the store's files (and its spill files). Processes attached
    /// keep their mappings; the next open of the name creates a new store.
    pub fn destroy(name: &str) -> Result<()> {
        crate::object::destroy(&store_path(name)?)
    }

    /// The file backing the store.
    pub fn path(&self) -> &Path {
        self.att.path()
    }

    /// This process's slot in the store's process table.
    pub fn process_slot(&self) -> u32 {
        self.att.slot()
    }

    /// What opening this handle reclaimed from dead processes (every attach
    /// cleans up after them); empty if the process was attached already.
    pub fn reclaimed_at_open(&self) -> Reclaimed {
        self.reclaimed_at_open
    }

    /// The store's spill directory, if it has one.
    pub fn spill_dir(&self) -> Option<&Path> {
        self.att.spill_dir()
    }

    /// A fresh ID, never used before, as `put` would choose (for building
    /// an object in place with `create`).
    pub fn new_id(&self) -> ObjectId {
        self.att.ids.next()
    }

    #[inline]
    fn handle_pins(&self) -> HandlePins<'_> {
        HandlePins::new(self.pins.words())
    }

    fn created(&self) -> MutexGuard<'_, HashMap<u32, u64>> {
        self.created.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reclaims what dead processes held, and says what that was. Also
    /// finishes interrupted restores and deletes of spilled objects and
    /// removes spill files nothing owns.
    pub fn collect(&self) -> Result<Reclaimed> {
        self.att.check_process()?;
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
    #[inline]
    pub fn put_with_meta(&self, data: &[u8], meta: &[u8]) -> Result<ObjectId> {
        self.put_ex(data, meta, 0)
    }

    /// Stores `data` and `meta` as a new object with a fresh ID and `flags`
    /// (`OBJECT_REFCOUNTED`, `OBJECT_EVICTABLE`). With REFCOUNTED this
    /// handle holds the object's first reference.
    #[inline]
    pub fn put_ex(&self, data: &[u8], meta: &[u8], flags: u32) -> Result<ObjectId> {
        self.att.check_process()?;
        check_flags(flags)?;
        let key = self.att.ids.next_words();
        self.put_inner(&key, data, meta, true, flags)?;
        Ok(ObjectId::from_words(key))
    }

    /// Stores `data` and `meta` under a caller-chosen ID, sealed at once.
    pub fn put_as(&self, id: &ObjectId, data: &[u8], meta: &[u8]) -> Result<()> {
        self.put_as_ex(id, data, meta, 0)
    }

    /// `put_as` with `flags`, as `put_ex`.
    pub fn put_as_ex(&self, id: &ObjectId, data: &[u8], meta: &[u8], flags: u32) -> Result<()> {
        self.att.check_process()?;
        check_flags(flags)?;
        let refcounted = self.put_inner(&id.words(), data, meta, false, flags)?;
        if refcounted {
            self.note_creator_ref(id);
        }
        Ok(())
    }

    /// Puts the object whose ID's words are `key` (fresh: made by this
    /// handle's generator). Returns whether it is REFCOUNTED with its first
    /// reference still to be counted (a caller's ID: `note_creator_ref`).
    #[inline]
    fn put_inner(&self, key: &[u64; 3], data: &[u8], meta: &[u8], fresh: bool, flags: u32) -> Result<bool> {
        let access = self.att.access();
        let r = access.reserve(key, data.len() as u64, meta, fresh, flags)?;
        let first_in_slot = self.first_ref_in_slot(&r, key, fresh);
        if let Err(e) = access.fill(&r, data).and_then(|()| access.commit(key, &r, true)) {
            if first_in_slot {
                access.undo_creator_ref(r.d, key, self.holder);
            }
            return Err(e);
        }
        Ok(r.state.is_refcounted() && !fresh)
    }

    /// The first reference of a REFCOUNTED object reserved in `r`: under a
    /// fresh ID, in the entry of its slot (`creator_refs`), written before
    /// the object is visible (true: the caller undoes it if the put or
    /// create fails); under a caller's ID, which may be in use, the caller
    /// counts it once the object is in the index (false).
    #[inline]
    fn first_ref_in_slot(&self, r: &Reserved, key: &[u64; 3], fresh: bool) -> bool {
        if !(fresh && r.state.is_refcounted()) {
            return false;
        }
        self.att.access().install_creator_ref(r.d, key, self.holder);
        if !self.put_first_refs.load(Ordering::Relaxed) {
            self.put_first_refs.store(true, Ordering::Relaxed);
        }
        true
    }

    /// Creates an object to be filled in place: returns a pointer to
    /// `data_len` writable bytes, valid until `seal` or `abort`.
    pub fn create_raw(&self, id: &ObjectId, data_len: usize, meta: &[u8]) -> Result<*mut u8> {
        self.create_ex_raw(Some(id), data_len, meta, 0).map(|(_, p)| p)
    }

    /// Like `create_raw` with a fresh ID, returned with the pointer.
    pub fn create_new_raw(&self, data_len: usize, meta: &[u8]) -> Result<(ObjectId, *mut u8)> {
        self.create_ex_raw(None, data_len, meta, 0)
    }

    /// Creates an object to be filled in place, under `id` or a fresh ID
    /// (None), with `flags` as `put_ex`: with REFCOUNTED this handle holds
    /// its first reference from now on (dropped if it is aborted). Returns
    /// the ID and a pointer to `data_len` writable bytes, valid until `seal`
    /// or `abort`.
    pub fn create_ex_raw(
        &self,
        id: Option<&ObjectId>,
        data_len: usize,
        meta: &[u8],
        flags: u32,
    ) -> Result<(ObjectId, *mut u8)> {
        self.att.check_process()?;
        check_flags(flags)?;
        let (id, fresh) = match id {
            Some(id) => (*id, false),
            None => (self.att.ids.next(), true),
        };
        let ptr = self.create_inner(&id, data_len, meta, fresh, flags)?;
        Ok((id, ptr))
    }

    fn create_inner(&self, id: &ObjectId, data_len: usize, meta: &[u8], fresh: bool, flags: u32) -> Result<*mut u8> {
        let access = self.att.access();
        let key = id.words();
        let r: Reserved = access.reserve(&key, data_len as u64, meta, fresh, flags)?;
        let first_in_slot = self.first_ref_in_slot(&r, &key, fresh);
        let Some(ptr) = access.data_ptr(&r, data_len) else {
            if r.state.is_refcounted() {
                access.forget_creator_ref(&key);
            }
            access.discard(r.d, r.state);
            if first_in_slot {
                access.undo_creator_ref(r.d, &key, self.holder);
            }
            return Err(err!(Corrupt, "an allocation lies outside the store (damaged store)"));
        };
        let created = match access.commit(&key, &r, false) {
            Ok(created) => created,
            Err(e) => {
                if first_in_slot {
                    access.undo_creator_ref(r.d, &key, self.holder);
                }
                return Err(e);
            }
        };
        self.created().insert(r.d, created.0);
        if created.is_refcounted() && !first_in_slot {
            self.note_creator_ref(id);
        }
        Ok(ptr)
    }

    /// Creates an object to be filled in place, as a guard that aborts the
    /// object unless it is sealed.
    pub fn create(&self, id: &ObjectId, data_len: usize, meta: &[u8]) -> Result<Creating<'_>> {
        let ptr = self.create_raw(id, data_len, meta)?;
        Ok(Creating::new(self, *id, ptr, data_len))
    }

    /// Finds an object this handle created and has not sealed.
    fn own_unsealed(&self, id: &ObjectId) -> Result<(u32, StateWord)> {
        let (d, state) = self.att.access().unsealed(id)?;
        if self.created().get(&d) != Some(&state.0) {
            return Err(err!(
                InvalidArgument,
                "object {id} was created by another handle; only its creator may seal or abort it"
            ));
        }
        Ok((d, state))
    }

    /// Seals an object this handle created: it becomes visible and immutable.
    pub fn seal(&self, id: &ObjectId) -> Result<()> {
        self.att.check_process()?;
        let (d, created) = self.own_unsealed(id)?;
        self.att.access().seal(id, d, created)?;
        self.created().remove(&d);
        Ok(())
    }

    /// Abandons an object this handle created and has not sealed.
    pub fn abort(&self, id: &ObjectId) -> Result<()> {
        self.att.check_process()?;
        let (d, created) = self.own_unsealed(id)?;
        self.created().remove(&d);
        let r = self.att.access().abort(id, d, created);
        if created.is_refcounted() {
            self.forget_ref_of_aborted(d, id);
        }
        r
    }

    // ----- reading ----------------------------------------------------------------

    /// Pins `id`'s object for this handle if it is sealed and present now.
    fn try_get(&self, id: &ObjectId, key: &[u64; 3]) -> Result<Option<RawObject>> {
        let Some(p) = self.att.access().pin(id, key)? else { return Ok(None) };
        self.note_pinned(key, &Remembered { d: p.d, state: p.state, raw: p.raw });
        Ok(Some(p.raw))
    }

    /// Counts a pin of `obj` (ID `key`) as this handle's, and remembers it.
    #[inline(always)]
    fn note_pinned(&self, key: &[u64; 3], obj: &Remembered) {
        self.handle_pins().add(obj.d);
        self.recent.remember(key, obj);
        if !self.pinned_any.load(Ordering::Relaxed) {
            self.pinned_any.store(true, Ordering::Relaxed);
        }
    }

    /// Gets and pins an object, waiting up to `timeout` (None: forever) for
    /// another process to seal it. Zero timeout: NotFound if absent.
    ///
    /// On a store with a remote, an ID absent here is fetched from the
    /// remote if it is published there, and looked for again until the
    /// timeout if it is not (see `publish`); with a zero timeout the remote
    /// is asked once. The timeout bounds the wait for the object to be
    /// published and for the remote to answer; a transfer, once begun, runs
    /// to its end.
    #[inline]
    pub fn get_raw(&self, id: &ObjectId, timeout: Option<Duration>) -> Result<RawObject> {
        let missed = match self.get_again(id) {
            Ok(raw) => return Ok(raw),
            Err(missed) => missed,
        };
        match self.get_present_after(id, missed) {
            Present::Pinned(raw) => Ok(raw),
            Present::Absent if timeout.is_some_and(|t| t.is_zero()) && !self.has_remote => {
                Err(Error::object_not_found(id.0))
            }
            Present::Absent | Present::Other => self.get_any(id, timeout),
        }
    }

    /// The common cases of a get, with nothing out of line: a sealed object
    /// in memory (pinned for this handle), or an absent one. `Other` for
    /// anything else, which `get_any` handles.
    #[inline(always)]
    pub(crate) fn get_present(&self, id: &ObjectId) -> Present {
        if !self.att.in_owner_process() {
            return Present::Other;
        }
        let key = id.words();
        if let Some(obj) = self.recent.find(&key) {
            if self.att.access().pin_again(obj.d, obj.state) {
                self.handle_pins().add(obj.d);
                return Present::Pinned(obj.raw);
            }
        }
        self.get_indexed(&key)
    }

    /// The hot path of a get: an object this handle got lately, pinned
    /// again through its linger entry (`Access::pin_again_if_aimed`).
    /// Anything else is `GetMissed`, for `get_present_after`. Nothing here
    /// fails or panics (every index into a table is checked), so the C ABI
    /// runs it outside its panic boundary, in a function that needs no
    /// stack frame.
    #[inline(always)]
    pub(crate) fn get_again(&self, id: &ObjectId) -> std::result::Result<RawObject, GetMissed> {
        if !self.att.in_owner_process() {
            return Err(GetMissed::Everything);
        }
        let Some(seen) = self.recent.look(&id.words()) else { return Err(GetMissed::NotRecent) };
        let Some(count) = self.handle_pins().count(seen.d) else { return Err(GetMissed::Everything) };
        match self.att.access().pin_again_if_aimed(seen.d, seen.state) {
            Repin::Pinned => {}
            Repin::NotAimed => return Err(GetMissed::Everything),
            Repin::Changed => return Err(GetMissed::Changed(seen.d)),
        }
        // A slot rewritten meanwhile (another thread of the handle got
        // another ID of that slot) may have named another object, pinned
        // for nothing.
        let Some(raw) = seen.raw_if_unchanged() else { return Err(GetMissed::Changed(seen.d)) };
        count.fetch_add(1, Ordering::Relaxed);
        Ok(raw)
    }

    /// `get_present` after the hot path (`get_again`) stopped at `missed`.
    #[inline(always)]
    pub(crate) fn get_present_after(&self, id: &ObjectId, missed: GetMissed) -> Present {
        match missed {
            GetMissed::NotRecent => self.get_indexed(&id.words()),
            GetMissed::Changed(d) => {
                self.att.access().unpin_changed(d);
                self.get_indexed(&id.words())
            }
            GetMissed::Everything => self.get_present(id),
        }
    }

    /// The common cases of a get of an ID this handle did not get lately,
    /// through the index: as `get_present`.
    #[inline(always)]
    fn get_indexed(&self, key: &[u64; 3]) -> Present {
        let access = self.att.access();
        match access.pin_sealed(key) {
            Fast::Pinned(p) => {
                self.note_pinned(key, &Remembered { d: p.d, state: p.state, raw: p.raw });
                Present::Pinned(p.raw)
            }
            Fast::Absent => Present::Absent,
            Fast::Other => Present::Other,
        }
    }

    /// Whether the store has a remote (a get of an absent ID asks it).
    #[inline(always)]
    pub(crate) fn has_remote(&self) -> bool {
        self.has_remote
    }

    /// Every case of `get_raw`.
    #[cold]
    #[inline(never)]
    pub(crate) fn get_any(&self, id: &ObjectId, timeout: Option<Duration>) -> Result<RawObject> {
        self.get_any_with(id, timeout, None)
    }

    /// `get_any` with a canceller.
    fn get_any_with(&self, id: &ObjectId, timeout: Option<Duration>, cancel: Option<&Canceller>) -> Result<RawObject> {
        self.att.check_process()?;
        let key = id.words();
        if let Some(obj) = self.try_get(id, &key)? {
            return Ok(obj);
        }
        if self.has_remote {
            return self.get_remote(id, timeout, cancel);
        }
        if timeout == Some(Duration::ZERO) {
            return Err(Error::object_not_found(id.0));
        }
        let which = Waits::bucket_of(self.att.objects().hash(&key));
        match self.wait_on(which, timeout, cancel, |_| self.try_get(id, &key).transpose()) {
            Waited::Ready(r) => r,
            Waited::TimedOut => {
                Err(err!(Timeout, "object {id} was not sealed within {:?}", timeout.unwrap_or_default()))
            }
            Waited::Cancelled => Err(err!(Cancelled, "the wait for object {id} was cancelled")),
        }
    }

    /// Calls `check` until it returns Some, sleeping on wait word `which`
    /// between calls, up to `timeout` (None: forever) or until `cancel` is
    /// cancelled. `check` is told which objects its look must cover (on
    /// the store-wide word, those the seal log names since its last look).
    fn wait_on<R>(
        &self,
        which: usize,
        timeout: Option<Duration>,
        cancel: Option<&Canceller>,
        check: impl FnMut(Look<'_>) -> Option<R>,
    ) -> Waited<R> {
        self.wait_on_until(which, deadline(timeout), cancel, check)
    }

    /// `wait_on` up to a deadline (None: forever).
    fn wait_on_until<R>(
        &self,
        which: usize,
        until: Option<Instant>,
        cancel: Option<&Canceller>,
        check: impl FnMut(Look<'_>) -> Option<R>,
    ) -> Waited<R> {
        wait_on_word(&self.att, which, until, cancel, check)
    }

    /// `get`, ending early with `ErrorKind::Cancelled` if `cancel` is
    /// cancelled (from another thread) while it waits.
    pub fn get_cancellable(&self, id: &ObjectId, timeout: Option<Duration>, cancel: &Canceller) -> Result<Object<'_>> {
        let raw = self.get_raw_cancellable(id, timeout, Some(cancel))?;
        Ok(Object::new(self, *id, raw))
    }

    /// `get_raw`, ending early with `ErrorKind::Cancelled` if `cancel` is
    /// cancelled while it waits (None: as `get_raw`). An object present
    /// now is got even through a canceller cancelled already: only a wait
    /// is cancelled.
    pub fn get_raw_cancellable(
        &self,
        id: &ObjectId,
        timeout: Option<Duration>,
        cancel: Option<&Canceller>,
    ) -> Result<RawObject> {
        let missed = match self.get_again(id) {
            Ok(raw) => return Ok(raw),
            Err(missed) => missed,
        };
        match self.get_present_after(id, missed) {
            Present::Pinned(raw) => Ok(raw),
            Present::Absent if timeout.is_some_and(|t| t.is_zero()) && !self.has_remote => {
                Err(Error::object_not_found(id.0))
            }
            Present::Absent | Present::Other => self.get_any_with(id, timeout, cancel),
        }
    }

    /// Waits until at least `num_ready` of the objects `ids` are sealed, up
    /// to `timeout` (None: forever), taking no pins. `ready[i]` says whether
    /// `ids[i]` is (written whatever the outcome). Returns how many are;
    /// `ErrorKind::Timeout` if fewer when the timeout ends (also with a zero
    /// timeout), `Cancelled` if `cancel` is cancelled meanwhile. This is
    /// Ray's `ray.wait`: take results in the order they finish.
    pub fn wait(
        &self,
        ids: &[ObjectId],
        num_ready: usize,
        timeout: Option<Duration>,
        cancel: Option<&Canceller>,
        ready: &mut [bool],
    ) -> Result<usize> {
        self.att.check_process()?;
        if ids.len() != ready.len() {
            return Err(err!(InvalidArgument, "{} IDs but {} ready flags", ids.len(), ready.len()));
        }
        if num_ready > ids.len() {
            return Err(err!(InvalidArgument, "waiting for {num_ready} of {} objects", ids.len()));
        }
        ready.iter_mut().for_each(|r| *r = false);
        let access = self.att.access();
        let waited_for = IdsWaitedFor::new(self, ids);
        let mut count = 0;
        let mut look = |ready: &mut [bool], which: Look<'_>| -> Option<()> {
            for i in waited_for.covered(which) {
                if count >= num_ready {
                    break;
                }
                if !ready[i] && access.contains(&ids[i]) {
                    ready[i] = true;
                    count += 1;
                }
            }
            (count >= num_ready).then_some(())
        };
        if look(ready, Look::All).is_some() {
            return Ok(count);
        }
        let waited = if timeout == Some(Duration::ZERO) {
            Waited::TimedOut
        } else {
            self.wait_on(WAIT_BUCKETS, timeout, cancel, |which| {
                let r = look(ready, which);
                if r.is_none() {
                    waited_for.prepare_for_logged_looks();
                }
                r
            })
        };
        match waited {
            Waited::Ready(()) => Ok(count),
            Waited::TimedOut => Err(err!(Timeout, "{count} of the {num_ready} objects waited for were sealed in time")),
            Waited::Cancelled => {
                Err(err!(Cancelled, "the wait for {num_ready} of {} objects was cancelled", ids.len()))
            }
        }
    }

    /// Gets and pins an object, as a guard that releases it when dropped.
    pub fn get(&self, id: &ObjectId, timeout: Option<Duration>) -> Result<Object<'_>> {
        let raw = self.get_raw(id, timeout)?;
        Ok(Object::new(self, *id, raw))
    }

    /// Gets and pins many objects, waiting up to `timeout` for the missing
    /// ones (on a store with a remote, fetching those published there, as
    /// `get` does). `out[i]` is Some for each object pinned. On Timeout (or NotFound
    /// with a zero timeout) the present objects stay pinned; on any other
    /// error none does.
    pub fn get_many_raw(
        &self,
        ids: &[ObjectId],
        timeout: Option<Duration>,
        out: &mut [Option<RawObject>],
    ) -> Result<()> {
        self.get_many_raw_cancellable(ids, timeout, None, out)
    }

    /// `get_many_raw`, ending early with `ErrorKind::Cancelled` if `cancel`
    /// is cancelled while it waits (the present objects stay pinned, as at a
    /// timeout).
    pub fn get_many_raw_cancellable(
        &self,
        ids: &[ObjectId],
        timeout: Option<Duration>,
        cancel: Option<&Canceller>,
        out: &mut [Option<RawObject>],
    ) -> Result<()> {
        self.att.check_process()?;
        if ids.len() != out.len() {
            return Err(err!(InvalidArgument, "{} IDs but {} output slots", ids.len(), out.len()));
        }
        out.iter_mut().for_each(|o| *o = None);
        if self.has_remote {
            return self.get_many_remote(ids, timeout, cancel, out);
        }
        let mut failure = None;
        let waited_for = IdsWaitedFor::new(self, ids);
        let mut fill = |out: &mut [Option<RawObject>], which: Look<'_>| -> bool {
            for i in waited_for.covered(which) {
                if out[i].is_none() {
                    match self.try_get(&ids[i], &ids[i].words()) {
                        Ok(Some(obj)) => out[i] = Some(obj),
                        Ok(None) => {}
                        Err(e) => {
                            failure = Some(e);
                            return true;
                        }
                    }
                }
            }
            out.iter().all(Option::is_some)
        };
        let mut done = fill(out, Look::All);
        let mut cancelled = false;
        if !done && timeout != Some(Duration::ZERO) {
            let looked = self.wait_on(WAIT_BUCKETS, timeout, cancel, |which| {
                let r = fill(out, which).then_some(());
                if r.is_none() {
                    waited_for.prepare_for_logged_looks();
                }
                r
            });
            match looked {
                Waited::Ready(()) => done = true,
                Waited::TimedOut => {}
                Waited::Cancelled => cancelled = true,
            }
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
        if cancelled {
            return Err(err!(Cancelled, "the wait for {missing} of {} objects was cancelled", ids.len()));
        }
        if timeout == Some(Duration::ZERO) {
            Err(err!(NotFound, "{missing} of {} objects not found", ids.len()))
        } else {
            Err(err!(Timeout, "{missing} of {} objects were not sealed in time", ids.len()))
        }
    }

    /// Drops one pin this handle holds on an object.
    #[inline]
    pub fn release(&self, id: &ObjectId) -> Result<()> {
        match self.release_again(id) {
            Ok(()) => Ok(()),
            Err(missed) => self.release_after(id, missed),
        }
    }

    /// The hot path of a release: of an object this handle got lately, in
    /// the life it got it, through its linger entry. `ReleaseMissed::Everything`
    /// with nothing done; once this handle's pin is taken, the rest of the
    /// process's unpin when it needs more than the entry
    /// (`ReleaseMissed::UnpinMasked`, `ReleaseMissed::LastPin`), for `release_after`.
    /// Nothing here fails or panics (as `get_again`).
    #[inline(always)]
    pub(crate) fn release_again(&self, id: &ObjectId) -> std::result::Result<(), ReleaseMissed> {
        if !self.att.in_owner_process() {
            return Err(ReleaseMissed::Everything);
        }
        let Some((d, state)) = self.recent.find_slot(&id.words()) else { return Err(ReleaseMissed::Everything) };
        let access = self.att.access();
        let Some(count) = self.handle_pins().count(d) else { return Err(ReleaseMissed::Everything) };
        // Once the handle's count is taken (the process's pin is not
        // dropped yet) the slot keeps its life: if that is the remembered
        // one, the pin was on this ID's object. Looking first too keeps a
        // stale slot from taking, even for a moment, a pin of another
        // object that another thread of this handle is about to release.
        if access.same_life_checked(d, state) != Some(true) || !HandlePins::take_from(count) {
            return Err(ReleaseMissed::Everything);
        }
        if access.same_life_checked(d, state) != Some(true) {
            count.fetch_add(1, Ordering::Relaxed);
            return Err(ReleaseMissed::Everything);
        }
        match access.unpin_through_entry(d) {
            UnpinRest::Done => Ok(()),
            UnpinRest::Masked => Err(ReleaseMissed::UnpinMasked(d)),
            UnpinRest::LastPin => Err(ReleaseMissed::LastPin(d)),
        }
    }

    /// `release` after the hot path (`release_again`) stopped at `missed`.
    pub(crate) fn release_after(&self, id: &ObjectId, missed: ReleaseMissed) -> Result<()> {
        let access = self.att.access();
        match missed {
            ReleaseMissed::UnpinMasked(d) => {
                access.unpin_masked(d);
                Ok(())
            }
            ReleaseMissed::LastPin(d) => {
                access.free_after_last_pin(d);
                Ok(())
            }
            ReleaseMissed::Everything => self.release_any(id),
        }
    }

    /// Every case of `release`.
    #[cold]
    #[inline(never)]
    fn release_any(&self, id: &ObjectId) -> Result<()> {
        self.att.check_process()?;
        let access = self.att.access();
        let d = access.pinned_descriptor(id)?;
        if !self.handle_pins().take(d) {
            return Err(err!(InvalidArgument, "object {id} is not pinned by this handle"));
        }
        access.unpin(d);
        Ok(())
    }

    /// Deletes an object: invisible to gets at once, its memory freed when
    /// the last pin is released. The ID may be put again after that.
    pub fn delete(&self, id: &ObjectId) -> Result<()> {
        self.att.check_process()?;
        self.att.access().delete(id)
    }

    /// Whether a sealed object with this ID is in the store.
    #[inline]
    pub fn contains(&self, id: &ObjectId) -> Result<bool> {
        self.att.check_process()?;
        let key = id.words();
        let hint = self.contains_hints.slot(&key);
        let mut d = hint.load(Ordering::Relaxed);
        let present = self.att.access().contains_hinted(id, &mut d);
        hint.store(d, Ordering::Relaxed);
        Ok(present)
    }

    /// Closes the handle (the same as dropping it).
    pub fn close(self) {}
}

impl Drop for Store {
    fn drop(&mut self) {
        if !self.att.in_owner_process() {
            return;
        }
        let access = self.att.access();
        if self.pinned_any.load(Ordering::Relaxed) {
            let pins = self.handle_pins();
            for d in 0..pins.len() as u32 {
                for _ in 0..pins.take_all(d) {
                    access.unpin(d);
                }
            }
        }
        let created = std::mem::take(&mut *self.created());
        for (d, s) in created {
            let s = StateWord(s);
            let key = access.key_of(d, s);
            access.discard(d, s);
            if let Some(key) = key.filter(|_| s.is_refcounted()) {
                self.forget_ref_of_aborted(d, &ObjectId::from_words(key));
            }
        }
        // This handle's other references.
        self.drop_all_refs();
    }
}

/// Waits on wait word `which` of `att`'s store until `check` returns Some,
/// up to a deadline (None: forever), ending early if `cancel` is cancelled.
fn wait_on_word<R>(
    att: &Arc<Attachment>,
    which: usize,
    until: Option<Instant>,
    cancel: Option<&Canceller>,
    check: impl FnMut(Look<'_>) -> Option<R>,
) -> Waited<R> {
    let word = att.region().waits().word(which);
    match cancel {
        None => word.wait_cancellable(&att.local_waiters(), att.slot(), until, &|| false, check),
        Some(c) => {
            let registered = c.register(att, which);
            word.wait_cancellable(&att.local_waiters(), att.slot(), until, &|| registered.cancelled(), check)
        }
    }
}

/// The IDs a wait for many objects waits for, with the seal log's hashes
/// of them (`Look::Hashes` names objects by these), computed before the
/// first look that needs them: a wait whose first look finds what it waits
/// for needs none.
struct IdsWaitedFor<'a> {
    store: &'a Store,
    ids: &'a [ObjectId],
    /// The IDs by logged hash: a look at the few hashes logged since the
    /// last one finds their IDs at once, not by comparing every ID's hash
    /// with each (1000 IDs woken by a seal of another object: ~1.5 µs of
    /// compares).
    by_hash: std::cell::OnceCell<LoggedHashes>,
}

/// The indices a look covers, in order.
enum Covered {
    All(std::ops::Range<usize>),
    Named(std::vec::IntoIter<usize>),
}

impl Iterator for Covered {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        match self {
            Covered::All(r) => r.next(),
            Covered::Named(v) => v.next(),
        }
    }
}

impl<'a> IdsWaitedFor<'a> {
    fn new(store: &'a Store, ids: &'a [ObjectId]) -> IdsWaitedFor<'a> {
        IdsWaitedFor { store, ids, by_hash: std::cell::OnceCell::new() }
    }

    /// The indices of the IDs that a look `which` covers, in order.
    fn covered(&self, which: Look<'_>) -> Covered {
        let named = match which {
            Look::All => return Covered::All(0..self.ids.len()),
            Look::Hashes(named) => named,
        };
        Covered::Named(named_by_logged_hashes(self.by_hash(), named).into_iter())
    }

    /// Computes what a look covering only the seal log's hashes searches
    /// (once): called after a look that did not end the wait, so that the
    /// work is done while waiting, not after the wake-up before the next
    /// look (1000 IDs: a few microseconds).
    fn prepare_for_logged_looks(&self) {
        let _ = self.by_hash();
    }

    fn by_hash(&self) -> &LoggedHashes {
        self.by_hash.get_or_init(|| LoggedHashes::new(&self.store.att, self.ids))
    }
}

/// IDs by the hash the seal log keeps of them (`seal_log::logged_hash`):
/// an open-addressing table of (hash, index + 1), at least twice as many
/// slots as IDs, probed linearly. Logged hashes are bits of a keyed hash,
/// so the slot a hash starts at is as good as random: a lookup reads one or
/// two lines, however many IDs (a sorted list's binary search over 300,000
/// IDs took ~20 cache misses). A wait set that grows (`WaitSet::add`)
/// doubles the table when an insert would fill more than half of it, so a
/// probe stays as short.
struct LoggedHashes {
    slots: Vec<(u32, u32)>,
    mask: usize,
    /// Slots taken.
    len: usize,
}

impl LoggedHashes {
    fn new(att: &Attachment, ids: &[ObjectId]) -> LoggedHashes {
        let slots = (ids.len() * 2).next_power_of_two().max(2);
        let mut t = LoggedHashes { slots: vec![(0, 0); slots], mask: slots - 1, len: 0 };
        t.insert(att, 0, ids);
        t
    }

    /// Adds `ids`, whose indices begin at `first`, growing the table first
    /// if they would fill more than half of it.
    fn insert(&mut self, att: &Attachment, first: usize, ids: &[ObjectId]) {
        let wanted = (self.len + ids.len()) * 2;
        if wanted > self.slots.len() {
            self.grow(wanted.next_power_of_two());
        }
        let objects = att.objects();
        for (k, id) in ids.iter().enumerate() {
            // Indices past u32::MAX - 1 cannot be named (4 billion IDs).
            let index = u32::try_from(first + k + 1).unwrap_or(u32::MAX);
            self.put(logged_hash(objects.hash(&id.words())), index);
        }
    }

    /// Moves every entry into a table of `slots` slots (the hashes are
    /// kept: nothing is hashed again).
    fn grow(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![(0, 0); slots]);
        self.mask = slots - 1;
        self.len = 0;
        for (h, index) in old.into_iter().filter(|e| e.1 != 0) {
            self.put(h, index);
        }
    }

    fn put(&mut self, h: u32, index: u32) {
        let mut at = h as usize & self.mask;
        while self.slots[at].1 != 0 {
            at = (at + 1) & self.mask;
        }
        self.slots[at] = (h, index);
        self.len += 1;
    }

    /// The indices of the IDs whose logged hash is `h`.
    fn with(&self, h: u32) -> impl Iterator<Item = usize> + '_ {
        let start = h as usize & self.mask;
        (0..=self.mask)
            .map(move |k| self.slots[(start + k) & self.mask])
            .take_while(|e| e.1 != 0)
            .filter(move |e| e.0 == h)
            .map(|e| e.1 as usize - 1)
    }
}

/// The indices, in order, of the IDs whose logged hash is one of `hashes`.
fn named_by_logged_hashes(by_hash: &LoggedHashes, hashes: &[u32]) -> Vec<usize> {
    let mut found = Vec::new();
    for &h in hashes {
        found.extend(by_hash.with(h));
    }
    // A hash logged twice (two seals of IDs with one hash, or one ID
    // sealed, deleted and sealed again) names its IDs once.
    found.sort_unstable();
    found.dedup();
    found
}

#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use super::*;

    /// Destroys the store of this name when dropped, also after a failed
    /// assertion.
    struct Destroyed(String);

    impl Drop for Destroyed {
        fn drop(&mut self) {
            let _ = Store::destroy(&self.0);
        }
    }

    /// A freer killed between a descriptor's FREE store and the hints
    /// after it (its free hint, the kept-blocks hint), or a sweeper killed
    /// after it cleared the kept-blocks hint, leaves blocks kept by FREE
    /// descriptors that no hint names. An allocation that finds no room
    /// then looks at every descriptor before it reports the store full:
    /// an object as large as the store fits once the objects before it are
    /// deleted (their slabs given back).
    #[test]
    fn blocks_kept_where_no_hint_names_them_are_given_back_before_the_store_is_full() {
        let name = format!("objstore-unit-stranded-{}", std::process::id());
        let _destroyed = Destroyed(name.clone());
        let capacity = 8u64 << 20;
        let s = Store::open(&name, &Options { capacity_bytes: capacity, ..Options::default() }).unwrap();
        for n in [64usize, 3000, 100_000] {
            let id = s.put(&vec![1u8; n]).unwrap();
            s.delete(&id).unwrap();
        }
        // The state a killed freer (or sweeper) leaves: its list of the
        // blocks it kept gone with it, no hint set.
        s.att.allocator().forget_recycled();
        let o = s.att.objects();
        o.begin_kept_sweep();
        for word in o.free_hint {
            word.store(0, Ordering::SeqCst);
        }
        let whole = s.put(&vec![7u8; capacity as usize]).unwrap();
        assert_eq!(s.get(&whole, None).unwrap().data().len(), capacity as usize);
        s.delete(&whole).unwrap();
        assert_eq!(s.audit().unwrap(), Vec::<String>::new());
    }

    /// Fills the probe window of the home bucket of the next fresh ID's
    /// hash with objects put under IDs of that same home, until one finds
    /// no free entry: then a put with that fresh ID claims its object slot
    /// and finds no free index entry either. Returns the IDs put.
    fn fill_window_of_next_fresh_id(s: &Store) -> Vec<ObjectId> {
        let o = s.att.objects();
        let home = o.index.home_of(o.hash(&s.att.ids.peek_words()));
        let mut filled = Vec::new();
        let mut n = 0u64;
        loop {
            // Distinct IDs of a counter; about one in every `buckets` has
            // the home wanted.
            n += 1;
            let mut bytes = [0xa5u8; 20];
            bytes[..8].copy_from_slice(&n.to_le_bytes());
            let id = ObjectId(bytes);
            if o.index.home_of(o.hash(&id.words())) != home {
                continue;
            }
            match s.put_as(&id, b"filler", &[]) {
                Ok(()) => filled.push(id),
                Err(e) if e.kind() == crate::ErrorKind::OutOfMemory => {
                    assert!(e.message().contains("no free entry"), "{e}");
                    assert!(filled.len() >= crate::shared::index::WINDOW as usize, "{} entries", filled.len());
                    return filled;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// A put or a create with a fresh ID and REFCOUNTED writes its first
    /// reference into its object slot's entry before it inserts the object
    /// into the index; when the insert fails (no free entry near its
    /// hash), the entry is cleared again: no reference to the ID it never
    /// made, nothing left in the slot for the next put there.
    #[test]
    fn a_fresh_refcounted_put_or_create_that_finds_no_index_entry_leaves_no_first_reference() {
        let name = format!("objstore-unit-index-full-{}", std::process::id());
        let _destroyed = Destroyed(name.clone());
        let s =
            Store::open(&name, &Options { capacity_bytes: 8 << 20, max_objects: 1000, ..Options::default() }).unwrap();
        let creator_refs_empty = || (0..s.att.objects().desc.count() as u32).all(|d| s.att.creator_refs().is_empty(d));
        for create in [false, true] {
            let filled = fill_window_of_next_fresh_id(&s);
            let failed = ObjectId::from_words(s.att.ids.peek_words());
            let err = if create {
                s.create_ex_raw(None, 64, &[], crate::OBJECT_REFCOUNTED).map(|_| ()).unwrap_err()
            } else {
                s.put_ex(b"fresh", &[], crate::OBJECT_REFCOUNTED).map(|_| ()).unwrap_err()
            };
            assert_eq!(err.kind(), crate::ErrorKind::OutOfMemory, "{err}");
            assert!(err.message().contains("no free entry"), "{err}");
            // It took the ID foreseen, and nothing of it is left.
            assert_ne!(s.att.ids.peek_words(), failed.words());
            assert!(!s.contains(&failed).unwrap());
            assert_eq!(s.references(&failed), 0);
            assert!(creator_refs_empty());
            assert!(s.unref(&failed).is_err());
            // With room again, fresh REFCOUNTED puts count their first
            // reference and free at its unref, in the slots just used.
            for id in &filled {
                s.delete(id).unwrap();
            }
            for _ in 0..3 {
                let id = s.put_ex(b"after", &[], crate::OBJECT_REFCOUNTED).unwrap();
                assert_eq!(s.references(&id), 1);
                assert!(!creator_refs_empty());
                s.unref(&id).unwrap();
                assert!(!s.contains(&id).unwrap());
                assert!(creator_refs_empty());
            }
        }
        assert_eq!(s.stats().unwrap().object_count, 0);
        assert_eq!(s.audit().unwrap(), Vec::<String>::new());
    }
}
