//! The remote tier in the Rust API: `publish`, `unpublish`, and the fetch
//! that a get of an ID absent here does on a store with a remote.
//!
//! A fetch is an ordinary create and seal: the fetcher reads the first
//! bytes of the published object (header, metadata), creates a local object
//! of that size under the ID, lets the client write the data straight into
//! it, checks it, and seals it. So exactly one process of the machine
//! downloads an object (the others lose the create, and wait for the seal
//! like any getter waits for an unsealed object), and a fetcher that dies
//! midway leaves an unsealed object of a dead process, which is reclaimed
//! as such: a getter waiting for it notices its creator is dead, collects
//! it, and fetches again. No step of the object protocol is new.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{deadline, Canceller, Store};
use crate::error::{err, Error, ErrorKind, Result};
use crate::id::ObjectId;
use crate::object::{Attachment, RawObject};
use crate::remote::{Dest, Head, Pinned, Published, Remote, Stop};
use crate::shared::layout::Global;
use crate::shared::wait::{Waited, Waits, WAIT_BUCKETS};

/// How often a getter waiting for an unsealed object checks that its
/// creator is alive.
const LIVENESS_CHECK: Duration = Duration::from_millis(50);

/// Looking again for an object not published yet: the first wait, and
/// the longest.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(500);

/// A fetch that finds the store full looks again this many times, this
/// long apart, before it reports the store full.
const FULL_RETRIES: u32 = 10;
const FULL_PAUSE: Duration = Duration::from_millis(20);

/// A sealed object pinned by this process for an upload; the pin is
/// dropped with the value (see `remote::Pinned`).
struct PinnedObject {
    att: Arc<Attachment>,
    d: u32,
    raw: RawObject,
}

/// The error of a get of `id` whose canceller was cancelled.
fn cancelled(id: &ObjectId) -> Error {
    err!(Cancelled, "the wait for object {id} was cancelled")
}

impl Pinned for PinnedObject {
    fn meta(&self) -> &[u8] {
        // SAFETY: pinned while this value lives, so the bytes stay mapped
        // and unchanged (sealed objects are immutable).
        unsafe { std::slice::from_raw_parts(self.raw.meta, self.raw.meta_len) }
    }
    fn data(&self) -> &[u8] {
        // SAFETY: as for `meta`.
        unsafe { std::slice::from_raw_parts(self.raw.data, self.raw.data_len) }
    }
}

impl Drop for PinnedObject {
    fn drop(&mut self) {
        if self.att.in_owner_process() {
            self.att.access().unpin(self.d);
        }
    }
}

/// What one attempt at fetching found.
enum Fetched {
    Pinned(RawObject),
    /// Someone else holds the ID here, or it went again: look again.
    LookAgain,
}

impl Store {
    /// The store's remote URL, if it has one (fixed when it was created).
    pub fn remote_url(&self) -> Option<&str> {
        self.att.remote_url()
    }

    fn remote(&self) -> Result<&Remote> {
        self.att.remote().ok_or_else(|| {
            let why = if cfg!(feature = "remote") {
                ""
            } else {
                " (this library was built without the remote tier, cargo feature `remote`)"
            };
            err!(InvalidArgument, "store '{}' has no remote{why}", self.path().display())
        })
    }

    fn count(&self, what: Global, n: u64) {
        self.att.region().global(what).fetch_add(n, Ordering::Relaxed);
    }

    /// Uploads the sealed object `id` to the store's remote, where any
    /// machine's store with the same remote can get it: in one PUT, or for a
    /// large object in parts uploaded in parallel. Ok if it is published
    /// already. A process killed midway leaves nothing visible remotely.
    /// `timeout` bounds the whole upload (None or zero: no bound but the
    /// client's own, which gives up on an unreachable endpoint in seconds).
    pub fn publish(&self, id: &ObjectId, timeout: Option<Duration>) -> Result<()> {
        self.att.check_process()?;
        let remote = self.remote()?;
        let access = self.att.access();
        let Some(p) = access.pin(id, &id.words())? else {
            return Err(match access.holder(id) {
                Some(Some(_)) => err!(NotSealed, "object {id} is not sealed yet"),
                _ => Error::object_not_found(id.0),
            });
        };
        let pinned = Arc::new(PinnedObject { att: Arc::clone(&self.att), d: p.d, raw: p.raw });
        match remote.publish(id, pinned, deadline(timeout.filter(|t| !t.is_zero())))? {
            Published::AlreadyThere => {}
            Published::Uploaded(bytes) => {
                self.count(Global::Publishes, 1);
                self.count(Global::PublishedBytes, bytes);
            }
        }
        Ok(())
    }

    /// Removes the published copy of `id` from the remote (the local object,
    /// if any, stays). NotFound if it is not published. `timeout` as for
    /// `publish`.
    pub fn unpublish(&self, id: &ObjectId, timeout: Option<Duration>) -> Result<()> {
        self.att.check_process()?;
        self.remote()?.unpublish(id, deadline(timeout.filter(|t| !t.is_zero())))
    }

    /// A get of `id`, absent here, on a store with a remote: fetches it if it
    /// is published, else looks again (with growing pauses, waking at once
    /// for a local seal) until the timeout. Timeout zero: the remote is asked
    /// once, and NotFound if it does not have it. The timeout bounds the wait
    /// for the object and for the remote's first answer; a transfer, once
    /// begun, runs to its end.
    ///
    /// A `cancel` cancelled ends the get with `Cancelled` between two steps,
    /// in its waits for a local seal and in a request to the remote that
    /// has not been answered yet (within about a millisecond); a transfer,
    /// once begun, runs to its end first.
    #[cold]
    pub(super) fn get_remote(
        &self,
        id: &ObjectId,
        timeout: Option<Duration>,
        cancel: Option<&Canceller>,
    ) -> Result<RawObject> {
        let once = timeout == Some(Duration::ZERO);
        // Timeout zero asks the remote once whatever the canceller says (a
        // call that needs no wait is not cancelled: its documented NotFound).
        if once {
            return self.get_remote_until(id, true, None, None);
        }
        self.get_remote_until(id, false, deadline(timeout), cancel)
    }

    /// `get_remote` up to `until` (None: forever); `once`: look here and ask
    /// the remote once (a get with timeout zero, or a round of a get_many,
    /// whose remote request `until` and `cancel` still bound).
    fn get_remote_until(
        &self,
        id: &ObjectId,
        once: bool,
        until: Option<Instant>,
        cancel: Option<&Canceller>,
    ) -> Result<RawObject> {
        let remote = self.remote()?;
        let start = Instant::now();
        let stop = cancel.map(|c| {
            let c = c.clone();
            Arc::new(move || c.is_cancelled()) as Stop
        });
        let key = id.words();
        let mut pause = POLL_FIRST;
        let mut full_retries = FULL_RETRIES;
        loop {
            if let Some(obj) = self.try_get(id, &key)? {
                return Ok(obj);
            }
            if !once && cancel.is_some_and(Canceller::is_cancelled) {
                return Err(cancelled(id));
            }
            if self.att.access().holder(id).is_some() {
                // Being created or fetched by another process here, or
                // deleted and still pinned: wait for it like any getter.
                if once {
                    return Err(Error::object_not_found(id.0));
                }
                match self.wait_for_holder(id, &key, until, cancel)? {
                    Some(obj) => return Ok(obj),
                    None if until.is_some_and(|d| Instant::now() >= d) => return Err(self.timed_out(id, start)),
                    None => continue,
                }
            }
            match remote.lookup(id, until, stop.clone())? {
                Some(head) => match self.fetch(remote, id, head) {
                    Ok(Fetched::Pinned(obj)) => return Ok(obj),
                    Ok(Fetched::LookAgain) => continue,
                    // Fetchers racing for one ID each allocate before one of
                    // them wins the ID, so memory may run out for a loser
                    // (even before the winner holds the ID): look again a
                    // few times before taking the store for full.
                    Err(e) if e.kind() == ErrorKind::OutOfMemory && full_retries > 0 => {
                        full_retries -= 1;
                        std::thread::sleep(FULL_PAUSE);
                    }
                    Err(e) => return Err(e),
                },
                None if once => {
                    return Err(err!(NotFound, "object {id} is neither here nor published to {}", remote.url()))
                }
                None => {
                    let now = Instant::now();
                    if until.is_some_and(|d| now >= d) {
                        return Err(self.timed_out(id, start));
                    }
                    let next = now + pause;
                    pause = (pause * 2).min(POLL_MAX);
                    if let Some(obj) = self.wait_here(id, &key, Some(until.map_or(next, |d| d.min(next))), cancel)? {
                        return Ok(obj);
                    }
                }
            }
        }
    }

    /// `get_many_raw` on a store with a remote: rounds in which each
    /// missing object is got as by a get with timeout zero (here, or fetched
    /// if published; the remote's answer bounded by this call's timeout and
    /// cancel), with growing pauses between rounds (waking at once for a
    /// local seal), until all are pinned or the timeout. As for the local
    /// case: on Timeout, NotFound or Cancelled the present ones stay pinned;
    /// on any other error none does.
    #[cold]
    pub(super) fn get_many_remote(
        &self,
        ids: &[ObjectId],
        timeout: Option<Duration>,
        cancel: Option<&Canceller>,
        out: &mut [Option<RawObject>],
    ) -> Result<()> {
        let until = deadline(timeout);
        // Timeout zero looks once, not cancelled (as `get_remote`).
        let lookup_cancel = if timeout == Some(Duration::ZERO) { None } else { cancel };
        let mut pause = POLL_FIRST;
        loop {
            let mut missing = 0;
            for (i, id) in ids.iter().enumerate() {
                if out[i].is_some() {
                    continue;
                }
                match self.get_remote_until(id, true, until, lookup_cancel) {
                    Ok(obj) => out[i] = Some(obj),
                    Err(e) if e.kind() == ErrorKind::NotFound => missing += 1,
                    // As at a timeout, the objects got stay pinned.
                    Err(e) if e.kind() == ErrorKind::Cancelled => return Err(e),
                    Err(e) => {
                        for (i, o) in out.iter_mut().enumerate() {
                            if o.take().is_some() {
                                let _ = self.release(&ids[i]);
                            }
                        }
                        return Err(e);
                    }
                }
            }
            if missing == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if timeout == Some(Duration::ZERO) {
                return Err(err!(NotFound, "{missing} of {} objects not found here nor published", ids.len()));
            }
            if until.is_some_and(|d| now >= d) {
                return Err(err!(Timeout, "{missing} of {} objects were not sealed or published in time", ids.len()));
            }
            let next = now + pause;
            pause = (pause * 2).min(POLL_MAX);
            let att = &*self.att;
            let anything_new = || ids.iter().zip(out.iter()).any(|(id, o)| o.is_none() && att.access().contains(id));
            let until_next = Some(until.map_or(next, |d| d.min(next)));
            if let Waited::Cancelled =
                self.wait_on_until(WAIT_BUCKETS, until_next, cancel, |_| anything_new().then_some(()))
            {
                // As at a timeout, the objects got stay pinned.
                return Err(err!(Cancelled, "the wait for {missing} of {} objects was cancelled", ids.len()));
            }
        }
    }

    fn timed_out(&self, id: &ObjectId, start: Instant) -> Error {
        let url = self.att.remote_url().unwrap_or_default();
        err!(Timeout, "object {id} was neither sealed here nor published to {url} within {:?}", start.elapsed())
    }

    /// Waits until `deadline` for `id` to be sealed here; pins it if it is.
    fn wait_here(
        &self,
        id: &ObjectId,
        key: &[u64; 3],
        deadline: Option<Instant>,
        cancel: Option<&Canceller>,
    ) -> Result<Option<RawObject>> {
        let which = Waits::bucket_of(self.att.objects().hash(key));
        match self.wait_on_until(which, deadline, cancel, |_| self.try_get(id, key).transpose()) {
            Waited::Ready(r) => r.map(Some),
            Waited::TimedOut => Ok(None),
            Waited::Cancelled => Err(cancelled(id)),
        }
    }

    /// Waits for the object another process holds under `id` here to be
    /// sealed (then pins it) or to go (None: look again). If its creator
    /// dies, collects what it left (its unsealed object among it).
    fn wait_for_holder(
        &self,
        id: &ObjectId,
        key: &[u64; 3],
        deadline: Option<Instant>,
        cancel: Option<&Canceller>,
    ) -> Result<Option<RawObject>> {
        let att = &*self.att;
        let which = Waits::bucket_of(att.objects().hash(key));
        let mut checked = Instant::now();
        let found = self.wait_on_until(which, deadline, cancel, |_| {
            match self.try_get(id, key) {
                Ok(Some(obj)) => return Some(Ok(Some(obj))),
                Err(e) => return Some(Err(e)),
                Ok(None) => {}
            }
            match att.access().holder(id) {
                None => Some(Ok(None)),
                Some(Some(creator)) if checked.elapsed() >= LIVENESS_CHECK => {
                    checked = Instant::now();
                    if att.slot_is_alive(creator) {
                        return None;
                    }
                    Some(att.collect().map(|_| None))
                }
                Some(_) => None,
            }
        });
        match found {
            Waited::Ready(r) => r,
            Waited::TimedOut => Ok(None),
            Waited::Cancelled => Err(cancelled(id)),
        }
    }

    /// Fetches the published object `head` came from into a new local
    /// object, checks it, seals it and pins it. LookAgain if another
    /// process of this machine holds the ID (it fetches or creates it).
    fn fetch(&self, remote: &Remote, id: &ObjectId, head: Head) -> Result<Fetched> {
        let (meta_len, data_len) = (head.header.meta_len as u64, head.header.data_len);
        let data_len = usize::try_from(data_len)
            .map_err(|_| err!(TooLarge, "object {id} of {data_len} bytes cannot be addressed"))?;
        let ptr = match self.create_inner(id, data_len, &head.meta, false, 0) {
            Ok(p) => p,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(Fetched::LookAgain),
            Err(e) => return Err(e),
        };
        // SAFETY: `create_inner` gave `data_len` writable bytes of an object
        // that no one else can see while it is unsealed, and it is neither
        // sealed nor aborted before `fetch_rest` returns.
        let dst = unsafe { Dest::new(ptr, data_len) };
        // The transfer runs to its end whatever the get's timeout (which
        // bounds the wait for the object to be published, and for the remote
        // to answer): a caller waiting in slices (Ctrl-C, Go contexts) would
        // otherwise start it again and again. The client's request timeouts
        // and retries bound it.
        if let Err(e) = remote.fetch_rest(id, head, dst, None) {
            let _ = self.abort(id);
            return Err(e);
        }
        self.seal(id)?;
        self.count(Global::Fetches, 1);
        self.count(Global::FetchedBytes, meta_len + data_len as u64);
        // Deleted by someone as soon as sealed: look again.
        Ok(match self.try_get(id, &id.words())? {
            Some(obj) => Fetched::Pinned(obj),
            None => Fetched::LookAgain,
        })
    }
}
