//! Wait sets: a list of IDs registered once and waited on many times,
//! handing out each object as it is sealed (`concurrent.futures`'
//! `as_completed`, a `ray.wait` loop without its rescans).
//!
//! `os_wait` is handed its IDs on every call, so it must look each of them
//! up each time (1000 IDs: microseconds, however few were sealed). A set
//! looks at all of them once, when it is made; from then on it keeps its
//! place in the seal log (`shared::seal_log`, "Wait sets"), and each wait
//! looks only at the IDs whose hash was logged since the last one: a wait
//! that finds nothing new reads one word. Like `os_wait` it takes no pins:
//! an object it hands out was sealed when it was looked at, and a get may
//! still find it deleted since.
//!
//! A look at everything still happens when the log cannot account for the
//! seals since the last look (more than its ring holds, a sealer stopped
//! between its position and its entry), and now and then for a sealer
//! killed between its seal and its position, which never logs: at least
//! `SLEEP_CAP` after the last such look, as for any waiter of many objects,
//! and at least a hundred times as long as that look took (a set of many
//! IDs polled again and again spends at most 1% of its time on them; a
//! dead sealer's object is found that much later).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{deadline, wait_on_word, Canceller, LoggedHashes, Store};
use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::object::Attachment;
use crate::shared::proctable::W_WAIT_SETS;
use crate::shared::seal_log;
use crate::shared::wait::{Waited, SLEEP_CAP, WAIT_BUCKETS};

/// IDs waited on together, each handed out once when it is sealed (see the
/// module docs). Made by `Store::wait_set`; it keeps the store's
/// attachment alive, so it may outlive the handle that made it.
pub struct WaitSet {
    att: Arc<Attachment>,
    ids: Vec<ObjectId>,
    /// The IDs by logged hash: a look at the hashes logged since the last
    /// one finds their IDs at once.
    by_hash: LoggedHashes,
    /// IDs found sealed (handed out or queued).
    found: Vec<bool>,
    /// Found, not handed out yet, in the order found.
    queue: VecDeque<usize>,
    handed_out: usize,
    /// The log's head read before the last look.
    cursor: u64,
    /// When the last look at every ID began, and how long it took.
    looked_at_all: Instant,
    look_at_all_took: Duration,
}

impl std::fmt::Debug for WaitSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitSet").field("ids", &self.ids.len()).field("handed_out", &self.handed_out).finish()
    }
}

impl Store {
    /// A wait set of `ids` (an ID given twice is handed out twice). The
    /// objects sealed already are found now and handed out by the first
    /// `WaitSet::next`.
    pub fn wait_set(&self, ids: &[ObjectId]) -> Result<WaitSet> {
        self.att.check_process()?;
        let att = self.att.clone();
        let by_hash = LoggedHashes::new(&att, ids);
        let log = att.region().waits().log();
        // Counted before the head is read and the IDs looked at: a seal the
        // look misses is logged (see `seal_log`, "Wait sets").
        log.add_set(att.region().procs().word(att.slot(), W_WAIT_SETS));
        let mut set = WaitSet {
            cursor: log.head(),
            att,
            ids: ids.to_vec(),
            by_hash,
            found: vec![false; ids.len()],
            queue: VecDeque::new(),
            handed_out: 0,
            looked_at_all: Instant::now(),
            look_at_all_took: Duration::ZERO,
        };
        set.look_at_all();
        Ok(set)
    }
}

impl Store {
    /// How many wait sets the store counts as wanting its seals logged
    /// (every process's; for tests of the count's upkeep).
    #[doc(hidden)]
    pub fn wait_sets_counted(&self) -> u64 {
        self.att.region().waits().log().sets_counted()
    }
}

impl WaitSet {
    /// The IDs the set was made with, then those added, in order (`next`
    /// hands out indices into them).
    pub fn ids(&self) -> &[ObjectId] {
        &self.ids
    }

    /// How many of its objects the set has not handed out yet.
    pub fn remaining(&self) -> usize {
        self.ids.len() - self.handed_out
    }

    /// Adds `ids` to the set: their indices follow those it holds (an ID
    /// given twice, or one the set holds already, is handed out once for
    /// each time it was given). Those sealed already are found now and
    /// handed out by the next `next`, the others as they are sealed.
    /// `InvalidArgument` if the set was made in another process (before a
    /// fork).
    pub fn add(&mut self, ids: &[ObjectId]) -> Result<()> {
        self.att.check_process()?;
        let first = self.ids.len();
        self.ids.extend_from_slice(ids);
        self.found.resize(self.ids.len(), false);
        self.by_hash.insert(&self.att, first, ids);
        // A look at the new IDs only; the cursor stays where the last look
        // left it. No seal of a new ID is lost between this look and the
        // next: the set was counted when it was made, before the cursor was
        // read, so a sealer that could escape this look logs; the cursor
        // was read before the last look, which was before this one. A seal
        // this look misses is made after the look reads that ID's state,
        // so the sealer takes its log position after that, hence after the
        // cursor was read (one taken before it would be of a seal made
        // before this look, which sees it): at or after the cursor, in the
        // range the next look reads (whose table now names the new IDs),
        // or, if the ring lost it, with a look at every ID. A seal
        // this look sees may also be logged in that range: `found` keeps
        // the ID from being queued twice.
        let access = self.att.access();
        for i in first..self.ids.len() {
            if access.contains(&self.ids[i]) {
                self.found[i] = true;
                self.queue.push_back(i);
            }
        }
        Ok(())
    }

    /// Up to `max` objects of the set sealed and not handed out before, as
    /// indices into `ids()`, in the order they were found; waits up to
    /// `timeout` (None: forever; zero: look once) for at least one. Empty
    /// when every object was handed out already (until more are added).
    /// `ErrorKind::Timeout` if none was sealed in time, `Cancelled` if
    /// `cancel` is cancelled while it waits, `InvalidArgument` if `max` is
    /// 0 or the set was made in another process (before a fork).
    pub fn next(&mut self, max: usize, timeout: Option<Duration>, cancel: Option<&Canceller>) -> Result<Vec<usize>> {
        self.att.check_process()?;
        if max == 0 {
            return Err(err!(InvalidArgument, "asked for at most 0 objects of a wait set"));
        }
        if self.remaining() == 0 {
            return Ok(Vec::new());
        }
        if self.queue.is_empty() {
            self.look_again();
        }
        if self.queue.is_empty() && timeout != Some(Duration::ZERO) {
            let att = self.att.clone();
            let waited = wait_on_word(&att, WAIT_BUCKETS, deadline(timeout), cancel, |_| {
                // The set's own place in the log says what to look at; the
                // waiter's (the argument) is for lists looked at afresh.
                self.look_again();
                (!self.queue.is_empty()).then_some(())
            });
            if waited == Waited::Cancelled {
                return Err(err!(Cancelled, "the wait for {} objects of a wait set was cancelled", self.remaining()));
            }
        }
        if self.queue.is_empty() {
            return Err(Error::none_sealed(self.remaining()));
        }
        let n = max.min(self.queue.len());
        self.handed_out += n;
        Ok(self.queue.drain(..n).collect())
    }

    /// Looks at the IDs whose hash was logged since the last look, or at
    /// every ID not found yet when the log cannot say, or when the last look
    /// at all of them is old enough (see the module docs).
    fn look_again(&mut self) {
        let log = self.att.region().waits().log();
        let head = log.head();
        let mut logged = [0u32; seal_log::SLOTS];
        let due = SLEEP_CAP.max(self.look_at_all_took.saturating_mul(100));
        let named = match log.read(self.cursor, head, &mut logged) {
            Some(n) if self.looked_at_all.elapsed() < due => Some(n),
            _ => None,
        };
        self.cursor = head;
        match named {
            Some(n) => self.look_at(Some(&logged[..n])),
            None => self.look_at_all(),
        }
    }

    /// Looks at every ID not found yet, timing the look.
    fn look_at_all(&mut self) {
        self.looked_at_all = Instant::now();
        self.look_at(None);
        self.look_at_all_took = self.looked_at_all.elapsed();
    }

    /// Looks at the IDs whose logged hash is one of `hashes` (None: at all
    /// of them), queueing those found sealed.
    fn look_at(&mut self, hashes: Option<&[u32]>) {
        let access = self.att.access();
        let look = |i: usize, found: &mut [bool], queue: &mut VecDeque<usize>| {
            if !found[i] && access.contains(&self.ids[i]) {
                found[i] = true;
                queue.push_back(i);
            }
        };
        match hashes {
            None => (0..self.ids.len()).for_each(|i| look(i, &mut self.found, &mut self.queue)),
            // In the order of the hashes logged (an ID found is queued
            // once, whatever is logged for it).
            Some(hashes) => {
                for &h in hashes {
                    for i in self.by_hash.with(h) {
                        look(i, &mut self.found, &mut self.queue);
                    }
                }
            }
        }
    }
}

impl Drop for WaitSet {
    fn drop(&mut self) {
        // A copy in a fork child is not counted in the child's slot.
        if self.att.in_owner_process() {
            let region = self.att.region();
            region.waits().log().remove_set(region.procs().word(self.att.slot(), W_WAIT_SETS));
        }
    }
}
