//! The seal log: which objects were sealed lately, for the waiters of many
//! objects at once (`os_wait`, `os_get_many`).
//!
//! Those wait on one store-wide word (`wait`), which every seal in the store
//! bumps while anyone waits there. Without more, a waiter woken by a seal
//! could only look at all its objects again: a wait for 1 of 1000 IDs
//! spent ~16 µs of index probes on every seal in the store, its own or
//! not. So a sealer that finds such a waiter also writes the hash of the
//! ID it sealed here, and a waiter looks again only at those of its IDs
//! whose hash was written since its last look.
//!
//! The log is a ring of `SLOTS` words and a head, on lines of their own in
//! the globals page. A sealer takes a position with a `fetch_add` on the
//! head *after* its seal (both SeqCst) and then writes its slot: a tag
//! naming the position (see `tag`) and the hash's high half. A waiter
//! reads the head before each look; after a wake-up it reads the head
//! again and the slots of every position in between. A seal it did not see
//! in a look has a position at or after the head it read before that look
//! (a position taken earlier was taken after the seal, so the look's read
//! of the head synchronised with it and the look saw the seal), so it is in
//! the range of the next read.
//!
//! The log is only a hint. A read that cannot account for every position
//! in its range (more than `SLOTS` of them, or a slot whose tag is not its
//! position's: not written yet, or overwritten already) tells the waiter to
//! look at all its objects; a hash that is one of its IDs' by chance costs
//! it a look at that object. Nothing is missed for want of a log entry.
//!
//! # Wait sets
//!
//! A wait set (`Store::wait_set`) is a list of IDs registered once and
//! waited on many times: it keeps its position in the log between waits,
//! so that each wait looks only at what was sealed since the last one, and
//! a wait that finds nothing new costs a read of the head. Between its
//! waits it sleeps on no word, so the log would not be written for it: its
//! process counts it in the head line's `wanted` word, and a sealer logs
//! while that count is not 0 (as while someone sleeps on the store-wide
//! word). The same handshake as a waiter's: the set counts itself, reads
//! the head, then looks at all its objects; a sealer seals, then reads the
//! count. Either the look sees the seal or the sealer logs it, at a
//! position the set's next read covers (or, taken before the set read the
//! head, after a seal its look saw).
//!
//! A process counts its sets twice: in `wanted` (first) and in its process
//! slot's `W_WAIT_SETS` word (after); it takes a set back in the other
//! order. So the slot's word never counts a set that `wanted` does not,
//! and the reclaim of a dead process takes its slot's count out of
//! `wanted` (the slot's word emptied first, by a CAS, so two reclaimers do
//! not both take it out). A process killed between the two steps leaves
//! one set counted in `wanted` for good: its sealers then log for nothing
//! (two atomic operations a seal), never the other way round.
//!
//! A sealer stopped (or killed) between its seal and its log entry leaves
//! no entry: the waiter also looks at all its objects once per `wait`'s
//! sleep cap, which was already the bound on how long a dead sealer's
//! missing wake-up can delay a waiter, and last before it times out. One stopped between the `fetch_add`
//! and the slot leaves a position whose slot never gets its tag: the read
//! that covers it asks for a full look.

use super::sync::{dekker_fence, AtomicU64, Ordering};

/// Positions the ring holds: more seals than this between two looks of a
/// waiter make its next look a full one.
pub(crate) const SLOTS: usize = 16;

/// Words of the log: the head and the count of wait sets wanting the log
/// on a line of their own, then the slots.
pub(crate) const WORDS: usize = 8 + SLOTS;

/// A slot's tag for position `pos`: the low half of `pos + 1`, so that a
/// slot never written (0) does not read as position 0's (a sealer stopped
/// before writing it would be taken for one that logged hash 0; loom found
/// it). Written as at least 1, and a 0 read is never taken as written.
#[inline]
fn tag(pos: u64) -> u64 {
    pos.wrapping_add(1) & 0xffff_ffff
}

/// A slot's word for position `pos` and hash `hash`.
#[inline]
fn entry(pos: u64, hash: u64) -> u64 {
    tag(pos).max(1) << 32 | hash >> 32
}

/// The part of an ID's hash that the log keeps.
#[inline]
pub(crate) fn logged_hash(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// The seal log in the store file.
#[derive(Clone, Copy)]
pub(crate) struct SealLog<'a> {
    head: &'a AtomicU64,
    /// Wait sets that want the log written (see "Wait sets").
    wanted: Option<&'a AtomicU64>,
    slots: &'a [AtomicU64],
}

impl<'a> SealLog<'a> {
    /// The log over `words` (`WORDS` of them; fewer, in a damaged file's
    /// view, make a log whose every read asks for a full look).
    pub(crate) fn new(words: &'a [AtomicU64]) -> SealLog<'a> {
        let (head, rest) = words.split_first().expect("the seal log has a head word");
        SealLog { head, wanted: rest.first(), slots: rest.get(7..).unwrap_or(&[]) }
    }

    /// Counts a new wait set of the process whose slot's `W_WAIT_SETS`
    /// word is `slot_sets`: in `wanted`, then in the slot (see "Wait
    /// sets"). The caller then reads the head and looks.
    pub(crate) fn add_set(&self, slot_sets: &AtomicU64) {
        self.add_set_steps(slot_sets, 2);
    }

    /// The first `steps` steps of `add_set` (fewer: a process that stops
    /// for ever after them, in the models).
    fn add_set_steps(&self, slot_sets: &AtomicU64, steps: usize) {
        if steps >= 1 {
            self.want();
        }
        if steps >= 2 {
            slot_sets.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Takes a wait set of that process back: from the slot, then (if the
    /// slot counted it) from `wanted`.
    pub(crate) fn remove_set(&self, slot_sets: &AtomicU64) {
        if slot_sets.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            self.unwant(1);
        }
    }

    /// Takes the wait sets of a dead process, counted in its slot's word
    /// `slot_sets`, out of `wanted` (its reclaim; idempotent).
    pub(crate) fn remove_sets_of_dead(&self, slot_sets: &AtomicU64) {
        let n = slot_sets.load(Ordering::SeqCst);
        if n != 0 && slot_sets.compare_exchange(n, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.unwant(n);
        }
    }

    /// The count of wait sets wanting the log.
    pub(crate) fn sets_counted(&self) -> u64 {
        self.wanted.map_or(0, |w| w.load(Ordering::SeqCst))
    }

    /// Whether a wait set wants seals logged (a sealer's half of the
    /// handshake: its seal, then this).
    #[inline]
    pub(crate) fn is_wanted(&self) -> bool {
        dekker_fence();
        self.wanted.is_some_and(|w| w.load(Ordering::SeqCst) != 0)
    }

    /// Counts one more wait set wanting the log (before the set reads the
    /// head and looks).
    fn want(&self) {
        if let Some(w) = self.wanted {
            w.fetch_add(1, Ordering::SeqCst);
        }
        dekker_fence();
    }

    /// Counts `n` wait sets fewer (never below 0: a damaged count is not
    /// wrapped around).
    fn unwant(&self, n: u64) {
        if let Some(w) = self.wanted {
            let _ = w.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(v.saturating_sub(n)));
        }
    }

    /// Logs a seal of an object whose ID hashes to `hash` (called after the
    /// seal, by a sealer that found a waiter of many objects).
    #[inline]
    pub(crate) fn record(&self, hash: u64) {
        let pos = self.head.fetch_add(1, Ordering::SeqCst);
        if let Some(slot) = self.slots.get(pos as usize % SLOTS) {
            slot.store(entry(pos, hash), Ordering::Release);
        }
    }

    /// The next position to be taken: read before a look.
    #[inline]
    pub(crate) fn head(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    /// The hashes logged at positions `from..to` (heads read before two
    /// looks) into `out`, or None if the log cannot account for every one
    /// of them (the caller then looks at all its objects).
    pub(crate) fn read(&self, from: u64, to: u64, out: &mut [u32; SLOTS]) -> Option<usize> {
        let n = to.checked_sub(from)?;
        if n > SLOTS as u64 {
            return None;
        }
        for (i, pos) in (from..to).enumerate() {
            let v = self.slots.get(pos as usize % SLOTS)?.load(Ordering::Acquire);
            // A tag of 0 is a slot never written (see `entry`).
            if v >> 32 == 0 || v >> 32 != tag(pos) {
                return None;
            }
            out[i] = v as u32;
        }
        Some(n as usize)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn words() -> Vec<AtomicU64> {
        (0..WORDS).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn a_read_returns_what_was_logged_since_a_head() {
        let w = words();
        let log = SealLog::new(&w);
        let from = log.head();
        log.record(0xaaaa_0000_1111_2222);
        log.record(0xbbbb_0000_3333_4444);
        let mut out = [0; SLOTS];
        assert_eq!(log.read(from, log.head(), &mut out), Some(2));
        assert_eq!(&out[..2], &[0xaaaa_0000, 0xbbbb_0000]);
        assert_eq!(log.read(log.head(), log.head(), &mut out), Some(0));
    }

    #[test]
    fn a_read_the_ring_cannot_account_for_asks_for_a_full_look() {
        let w = words();
        let log = SealLog::new(&w);
        let mut out = [0; SLOTS];
        // More seals than slots since the first head.
        for i in 0..=SLOTS as u64 {
            log.record(i << 32);
        }
        assert_eq!(log.read(0, log.head(), &mut out), None);
        // The last SLOTS are all there.
        assert_eq!(log.read(1, log.head(), &mut out), Some(SLOTS));
        assert_eq!(out[SLOTS - 1], SLOTS as u32);
        // A position taken whose slot was not written (its sealer stopped
        // between the two steps): its slot holds an older position's tag.
        let at = log.head();
        w[0].fetch_add(1, Ordering::SeqCst);
        log.record(7 << 32);
        assert_eq!(log.read(at, log.head(), &mut out), None);
        assert_eq!(log.read(at + 1, log.head(), &mut out), Some(1));
        // A head that went backwards (a damaged file).
        assert_eq!(log.read(log.head(), at, &mut out), None);
    }

    #[test]
    fn a_log_without_its_slots_asks_for_full_looks() {
        let w: Vec<AtomicU64> = (0..3).map(|_| AtomicU64::new(0)).collect();
        let log = SealLog::new(&w);
        log.record(5 << 32);
        let mut out = [0; SLOTS];
        assert_eq!(log.read(0, log.head(), &mut out), None);
        assert_eq!(log.read(1, 1, &mut out), Some(0));
    }
}

/// loom models of the log with its sealers and a waiter (run by
/// .ci/loom.sh): a waiter never misses a seal whose sealer found it waiting
/// — its first look (at everything) saw it, or the log's read after it
/// names it or asks for a look at everything — whether the sealer finished
/// its entry or stopped for ever between taking a position and writing it,
/// with another sealer's entry racing for the ring.
#[cfg(all(test, loom))]
mod models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::shared::sync::dekker_fence;

    const MINE: u64 = 0xaaaa_bbbb_0000_0001;
    const OTHER: u64 = 0xcccc_dddd_0000_0002;

    struct World {
        /// Whether our object is sealed.
        sealed: AtomicU64,
        /// Waiters announced on the store-wide word.
        waiting: AtomicU64,
        log: Vec<AtomicU64>,
    }

    impl World {
        fn log(&self) -> SealLog<'_> {
            SealLog::new(&self.log)
        }
    }

    /// A sealer: its seal, then (if it finds a waiter) its log entry, or
    /// only the position if it stops for ever there.
    fn seal(w: &World, sealed: Option<&AtomicU64>, hash: u64, stops_after_position: bool) {
        if let Some(s) = sealed {
            s.store(1, Ordering::SeqCst);
        }
        dekker_fence();
        // As `Waits::notify`: logged for a sleeper or for a wait set.
        if w.waiting.load(Ordering::SeqCst) != 0 || w.log().is_wanted() {
            if stops_after_position {
                w.log[0].fetch_add(1, Ordering::SeqCst);
            } else {
                w.log().record(hash);
            }
        }
    }

    /// A waiter (`set`: a wait set, counted in the log's `wanted`; else a
    /// sleeper announced on the word) and two sealers, one of our object.
    fn check(stops_after_position: bool, set: bool) {
        crate::shared::sync::check_model(3, move || {
            let w = Arc::new(World {
                sealed: AtomicU64::new(0),
                waiting: AtomicU64::new(0),
                log: (0..WORDS).map(|_| AtomicU64::new(0)).collect(),
            });
            let slot_sets = AtomicU64::new(0);
            let mine = {
                let w = w.clone();
                thread::spawn(move || seal(&w, Some(&w.sealed), MINE, stops_after_position))
            };
            let other = {
                let w = w.clone();
                thread::spawn(move || seal(&w, None, OTHER, false))
            };
            // The waiter: announced (or counted), then the head, then a
            // look at all.
            if set {
                w.log().add_set(&slot_sets);
            } else {
                w.waiting.fetch_add(1, Ordering::SeqCst);
                dekker_fence();
            }
            let from = w.log().head();
            let mut seen = w.sealed.load(Ordering::SeqCst) == 1;
            let first_look_saw = seen;
            mine.join().unwrap();
            other.join().unwrap();
            // Woken: the head again, and a look at what the log names.
            let to = w.log().head();
            let mut hashes = [0; SLOTS];
            let look_at_all = match w.log().read(from, to, &mut hashes) {
                None => true,
                Some(n) => {
                    // Whatever it names was sealed before its entry.
                    for &h in &hashes[..n] {
                        assert!(h == logged_hash(MINE) || h == logged_hash(OTHER));
                    }
                    hashes[..n].contains(&logged_hash(MINE))
                }
            };
            if look_at_all {
                seen |= w.sealed.load(Ordering::SeqCst) == 1;
            }
            assert!(seen, "a seal missed: first look {first_look_saw}, log from {from} to {to}");
        });
    }

    #[test]
    fn a_waiter_sees_every_seal_by_its_first_look_or_the_log() {
        check(false, false);
    }

    #[test]
    fn a_sealer_stopped_after_its_position_makes_the_waiter_look_at_all() {
        check(true, false);
    }

    /// The same for a wait set between two of its waits: it sleeps on no
    /// word, and its count in `wanted` makes the sealers log.
    #[test]
    fn a_wait_set_sees_every_seal_by_its_first_look_or_the_log() {
        check(false, true);
        check(true, true);
    }

    /// Process A makes a wait set and stops for ever after `stop_at` of its
    /// two counting steps (0: before either; 1: after `wanted`; 2: after
    /// both); its reclaim runs (`reclaimer_stops`: a first reclaimer stops
    /// after emptying A's slot word, and a second runs), while process B
    /// makes a set, checks that the count includes it, and takes it back.
    /// The reclaim never takes B's set out; afterwards only what the model
    /// says may leak (a set counted in `wanted` whose slot never counted
    /// it, or whose slot's count a dead reclaimer took) is left counted.
    fn check_counts(stop_at: usize, reclaimer_stops: bool) {
        crate::shared::sync::check_model(3, move || {
            let words: Arc<Vec<AtomicU64>> = Arc::new((0..WORDS).map(|_| AtomicU64::new(0)).collect());
            let slots: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
            let a = {
                let (words, slots) = (words.clone(), slots.clone());
                thread::spawn(move || SealLog::new(&words).add_set_steps(&slots[0], stop_at))
            };
            let b = {
                let (words, slots) = (words.clone(), slots.clone());
                thread::spawn(move || {
                    let log = SealLog::new(&words);
                    log.add_set(&slots[1]);
                    assert!(log.sets_counted() >= 1, "a live process's set left out of the count");
                    log.remove_set(&slots[1]);
                })
            };
            a.join().unwrap();
            // A is dead: its reclaim.
            let log = SealLog::new(&words);
            if reclaimer_stops {
                let n = slots[0].load(Ordering::SeqCst);
                if n != 0 {
                    let _ = slots[0].compare_exchange(n, 0, Ordering::SeqCst, Ordering::SeqCst);
                }
            }
            log.remove_sets_of_dead(&slots[0]);
            b.join().unwrap();
            let leaked = u64::from(stop_at == 1) + u64::from(reclaimer_stops && stop_at == 2);
            assert_eq!(log.sets_counted(), leaked);
            assert_eq!(slots[0].load(Ordering::SeqCst), 0);
        });
    }

    #[test]
    fn a_dead_processs_wait_sets_leave_the_count_and_a_live_ones_stay() {
        for stop_at in 0..3 {
            check_counts(stop_at, false);
            check_counts(stop_at, true);
        }
    }
}
