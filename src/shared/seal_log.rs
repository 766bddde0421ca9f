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
//! A sealer stopped (or killed) between its seal and its log entry leaves
//! no entry: the waiter also looks at all its objects once per `wait`'s
//! sleep cap, which was already the bound on how long a dead sealer's
//! missing wake-up can delay a waiter, and last before it times out. One stopped between the `fetch_add`
//! and the slot leaves a position whose slot never gets its tag: the read
//! that covers it asks for a full look.

use super::sync::{AtomicU64, Ordering};

/// Positions the ring holds: more seals than this between two looks of a
/// waiter make its next look a full one.
pub(crate) const SLOTS: usize = 16;

/// Words of the log: the head alone on a line, then the slots.
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
    slots: &'a [AtomicU64],
}

impl<'a> SealLog<'a> {
    /// The log over `words` (`WORDS` of them; fewer, in a damaged file's
    /// view, make a log whose every read asks for a full look).
    pub(crate) fn new(words: &'a [AtomicU64]) -> SealLog<'a> {
        let (head, rest) = words.split_first().expect("the seal log has a head word");
        SealLog { head, slots: rest.get(7..).unwrap_or(&[]) }
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
        if w.waiting.load(Ordering::SeqCst) != 0 {
            if stops_after_position {
                w.log[0].fetch_add(1, Ordering::SeqCst);
            } else {
                w.log().record(hash);
            }
        }
    }

    fn check(stops_after_position: bool) {
        crate::shared::sync::check_model(3, move || {
            let w = Arc::new(World {
                sealed: AtomicU64::new(0),
                waiting: AtomicU64::new(0),
                log: (0..WORDS).map(|_| AtomicU64::new(0)).collect(),
            });
            let mine = {
                let w = w.clone();
                thread::spawn(move || seal(&w, Some(&w.sealed), MINE, stops_after_position))
            };
            let other = {
                let w = w.clone();
                thread::spawn(move || seal(&w, None, OTHER, false))
            };
            // The waiter: announced, then the head, then a look at all.
            w.waiting.fetch_add(1, Ordering::SeqCst);
            dekker_fence();
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
        check(false);
    }

    #[test]
    fn a_sealer_stopped_after_its_position_makes_the_waiter_look_at_all() {
        check(true);
    }
}
