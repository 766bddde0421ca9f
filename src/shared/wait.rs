//! Waiting for a seal in another process: futexes on words of the shared
//! mapping.
//!
//! A get for an absent ID waits on the wait bucket its ID hashes to; a
//! get_many waits on one store-wide word. Each word is a sequence number
//! (the futex) with, on the same line, a count of the threads waiting there,
//! and a mask of the process slots that have a waiter there, kept like pin
//! masks: a process sets its bit when its first thread starts waiting on the
//! word and clears it when its last one stops. The waiter adds itself to
//! the count, sets its bit, reads `seq`, looks for its objects, and sleeps
//! only if `seq` is unchanged; the sealer seals, then reads the count and,
//! only if it is not 0, the mask, and only if someone waits bumps `seq` and
//! wakes. Both sides are SeqCst, so either the waiter's look finds the seal
//! or the sealer sees the waiter (Dekker); a put with no one waiting reads
//! one word per wait word it announces to and makes no syscall.
//!
//! Before it announces itself, a waiter looks again for a few microseconds,
//! yielding its CPU between looks: a seal that comes that soon (a consumer
//! answering a producer in a pipeline) is seen with no futex call on either
//! side, at about a fifth of a kernel wake-up's latency here; yielding
//! rather than spinning gives the CPU to the sealer when the cores are
//! busy, so the look costs no more than the sleep would (BENCHMARKS.md,
//! "Hot paths"). A longer wait then sleeps as below. When the cores are
//! oversubscribed, however, a yield hands the CPU to another runnable task
//! for a whole time slice (milliseconds), where a sleeping waiter is woken
//! in microseconds: after a yield that kept the CPU away for longer than
//! `YIELD_LOST`, the process's waiters sleep at once for a while
//! (`NO_SPIN_AFTER_LOST_YIELD`), then look before sleeping again.
//!
//! A wait can be cancelled from another thread of the waiter's process:
//! the waiter passes a `cancelled` test, looked at after each read of `seq`
//! and before each sleep; the canceller makes the test true and then bumps
//! `seq` and wakes (`wake`), so that a waiter that looked just before is
//! woken at once (the same handshake as a seal's). Other waiters on the word
//! wake for nothing and sleep again.
//!
//! Every sleep is capped, so a sealer that dies between its seal and its
//! wake delays a waiter by at most the cap. A waiter that dies leaves its
//! bit set until its slot is reclaimed, which clears it (as it clears pins).
//!
//! The store-wide word is bumped by every seal in the store while anyone
//! waits there, so its waiters (of many objects each) learn from the seal
//! log (`seal_log`) which IDs were sealed since their last look, and look
//! again only at those of theirs (`Look::Hashes`); a look at all of them
//! (`Look::All`) comes first, whenever the log cannot account for every
//! seal since the last look, at least once per sleep cap and last before a
//! timeout (for a sealer that died before its log entry).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::pins::{LocalPins, PinMasks};
use super::seal_log::{self, SealLog};
use super::sync::dekker_fence;
use crate::platform;

/// Wait buckets: gets waiting for IDs hash onto these futex words.
pub(crate) const WAIT_BUCKETS: usize = 256;

/// The longest single sleep.
pub(crate) const SLEEP_CAP: Duration = Duration::from_millis(100);

/// Wait words: one per bucket, then the get_many word.
pub(crate) const WAIT_WORDS: usize = WAIT_BUCKETS + 1;

/// 32-bit words of the wait section: one 64-byte line per wait word.
pub(crate) const SEQ_WORDS: usize = WAIT_WORDS * 16;

/// A futex word, the count of threads waiting on it and the mask of
/// processes waiting on it.
#[derive(Clone, Copy)]
pub(crate) struct WaitWord<'a> {
    seq: &'a AtomicU32,
    /// Threads announced as waiting here, in any process, on the futex
    /// word's own line. A sealer that reads 0 knows nobody waits without
    /// scanning the mask. A waiter killed while announced leaves its count
    /// behind (nobody knows how many threads it had): the word then costs
    /// its sealers the mask scan, as every word did before the count, and
    /// the mask (cleared by the reclaim) still spares them the wake call.
    waiting: &'a AtomicU32,
    which: u32,
    masks: PinMasks<'a>,
    /// The seal log, for the store-wide word (None for a bucket's).
    log: Option<SealLog<'a>>,
}

/// What a waiter's look must cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Look<'h> {
    /// Every object waited for.
    All,
    /// Only objects whose ID's hash, as the seal log keeps it
    /// (`seal_log::logged_hash`), is one of these: every seal since the
    /// last look was of one of them.
    Hashes(&'h [u32]),
}

impl<'a> WaitWord<'a> {
    /// A sealer's half of the handshake after its seal, once it read the
    /// word's count of waiting threads not 0 (`Waits::waiting_on`, called
    /// by `Waits::notify`): the mask, and the wake if a process has a
    /// waiter here. Out of line: a put with nobody waiting ends at the
    /// count.
    #[cold]
    #[inline(never)]
    fn notify_counted(&self) {
        if self.masks.any(self.which) {
            self.wake();
        }
    }

    /// Wakes every waiter on the word, whether anything was sealed or not
    /// (a cancellation: see the module docs).
    pub(crate) fn wake(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        platform::futex_wake_all(self.seq);
    }

    /// Calls `check` until it returns Some or `deadline` passes (None: wait
    /// forever), sleeping between calls until a seal is announced here.
    /// `local` counts this process's waiters, `slot` is its process slot.
    /// (The store waits through `wait_cancellable`; this is for tests.)
    #[cfg(test)]
    pub(crate) fn wait_for<R>(
        &self,
        local: &LocalPins<'_>,
        slot: u32,
        deadline: Option<Instant>,
        mut check: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        match self.wait_cancellable(local, slot, deadline, &|| false, |_| check()) {
            Waited::Ready(r) => Some(r),
            Waited::TimedOut | Waited::Cancelled => None,
        }
    }

    /// `wait_for`, ending early (`Waited::Cancelled`) once `cancelled()`
    /// holds; whoever makes it hold then calls `wake` on this word. `check`
    /// is told what its look must cover (always `Look::All` on a bucket's
    /// word).
    pub(crate) fn wait_cancellable<R>(
        &self,
        local: &LocalPins<'_>,
        slot: u32,
        deadline: Option<Instant>,
        cancelled: &dyn Fn() -> bool,
        mut check: impl FnMut(Look<'_>) -> Option<R>,
    ) -> Waited<R> {
        if cancelled() {
            return Waited::Cancelled;
        }
        if let Some(r) = spin_for(deadline, &mut || check(Look::All)) {
            return Waited::Ready(r);
        }
        // Announced before the first look below, both SeqCst: either that
        // look finds the seal or the sealer's read of the count sees us.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        dekker_fence();
        // (More than 2^31 threads of one process waiting at once would
        // overflow the count; the capped sleep keeps even them correct.)
        let counted = local.pin(self.which, &self.masks, slot);
        let mut logged = [0u32; seal_log::SLOTS];
        // The log's head read before the last look, and when the last look
        // at all objects began.
        let mut since: Option<(u64, Instant)> = None;
        let result = loop {
            let seq = self.seq.load(Ordering::SeqCst);
            let now = Instant::now();
            // The last look before a timeout is at everything: a seal with
            // no log entry (its sealer died) is seen if it came in time.
            let expired = deadline.is_some_and(|d| now >= d);
            let look = match self.log {
                None => Look::All,
                Some(log) => {
                    let head = log.head();
                    let partial = match since {
                        Some((from, all_at)) if !expired && now.duration_since(all_at) < SLEEP_CAP => {
                            log.read(from, head, &mut logged).map(|n| (n, all_at))
                        }
                        _ => None,
                    };
                    match partial {
                        Some((n, all_at)) => {
                            since = Some((head, all_at));
                            Look::Hashes(&logged[..n])
                        }
                        None => {
                            since = Some((head, now));
                            Look::All
                        }
                    }
                }
            };
            if let Some(r) = check(look) {
                break Waited::Ready(r);
            }
            if cancelled() {
                break Waited::Cancelled;
            }
            let nap = match deadline {
                None => SLEEP_CAP,
                Some(d) => {
                    if expired {
                        break Waited::TimedOut;
                    }
                    (d - now).min(SLEEP_CAP)
                }
            };
            platform::futex_wait(self.seq, seq, nap);
        };
        if counted {
            local.unpin(self.which, &self.masks, slot);
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Waited<R> {
    Ready(R),
    TimedOut,
    Cancelled,
}

/// How long a waiter looks again and again before it sleeps: about two
/// kernel wake-ups on this kind of machine, so a waiter that ends up
/// sleeping has lost little.
pub(crate) const SPIN: Duration = Duration::from_micros(4);

/// A yield that kept the CPU from its caller this long gave it to another
/// runnable task for a time slice: the cores are oversubscribed.
const YIELD_LOST: Duration = Duration::from_micros(50);

/// How long waiters of this process sleep at once, without looking again
/// first, after a yield was lost (`YIELD_LOST`). Short: on a machine whose
/// cores are merely busy (not oversubscribed) a yield is lost now and then,
/// and the looks are worth having back soon (BENCHMARKS.md, "Waiting on an
/// oversubscribed machine").
const NO_SPIN_AFTER_LOST_YIELD: Duration = Duration::from_millis(10);

/// Until when (nanoseconds from `spin_epoch`) this process's waiters skip
/// the looks before sleeping. Process-wide and only a heuristic: no
/// protocol reads it, so it is a plain atomic, not one loom models.
static NO_SPIN_UNTIL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn spin_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch(t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(spin_epoch()).as_nanos()).unwrap_or(u64::MAX)
}

/// Calls `check` for up to `SPIN` (or until `deadline`), yielding the CPU
/// before each look, without announcing a waiter: a seal that comes that
/// soon is seen without the sealer's wake-up call or the waiter's sleep.
///
/// When the cores are oversubscribed, a yield hands the CPU to another
/// runnable task for a whole time slice (milliseconds), while a sleeping
/// waiter is woken with the kernel's preference for a task that slept: so
/// a yield that took longer than `YIELD_LOST` ends the looks, and the
/// process's waiters sleep at once for `NO_SPIN_AFTER_LOST_YIELD` (then
/// look before sleeping again).
fn spin_for<R>(deadline: Option<Instant>, check: &mut impl FnMut() -> Option<R>) -> Option<R> {
    spin_for_with(&NO_SPIN_UNTIL, deadline, check)
}

/// `spin_for` with the time until which looks are skipped in `no_spin_until`.
fn spin_for_with<R>(
    no_spin_until: &std::sync::atomic::AtomicU64,
    deadline: Option<Instant>,
    check: &mut impl FnMut() -> Option<R>,
) -> Option<R> {
    let start = Instant::now();
    if since_epoch(start) < no_spin_until.load(Ordering::Relaxed) {
        return None;
    }
    let until = deadline.map_or(start + SPIN, |d| d.min(start + SPIN));
    let mut before = start;
    loop {
        std::thread::yield_now();
        let after = Instant::now();
        if after.saturating_duration_since(before) > YIELD_LOST {
            no_spin_until.store(since_epoch(after + NO_SPIN_AFTER_LOST_YIELD), Ordering::Relaxed);
            return check();
        }
        if let Some(r) = check() {
            return Some(r);
        }
        before = Instant::now();
        if before >= until {
            return None;
        }
    }
}

/// The wait words, their waiter masks and the seal log.
#[derive(Clone, Copy)]
pub(crate) struct Waits<'a> {
    /// `WAIT_WORDS` sequence numbers, each on its own 64-byte line (16 u32 apart).
    seqs: &'a [[AtomicU32; 16]; WAIT_WORDS],
    masks: PinMasks<'a>,
    log: SealLog<'a>,
}

impl<'a> Waits<'a> {
    pub(crate) fn new(seqs: &'a [AtomicU32], masks: PinMasks<'a>, log: SealLog<'a>) -> Waits<'a> {
        // A fixed number of lines: a bucket's index (a byte of the hash)
        // needs no bounds check.
        let seqs = seqs.as_chunks().0.try_into().expect("the wait section holds WAIT_WORDS lines");
        Waits { seqs, masks, log }
    }

    /// Wait word `which` (< WAIT_WORDS).
    #[inline]
    pub(crate) fn word(&self, which: usize) -> WaitWord<'a> {
        let line = &self.seqs[which];
        let log = (which == WAIT_BUCKETS).then_some(self.log);
        WaitWord { seq: &line[0], waiting: &line[1], which: which as u32, masks: self.masks, log }
    }

    /// The word a get of an ID with this hash waits on (the library's
    /// waiters and sealers go by its number, `bucket_of`).
    #[cfg(test)]
    pub(crate) fn bucket(&self, hash: u64) -> WaitWord<'a> {
        self.word(Self::bucket_of(hash))
    }

    /// The number of the word `bucket(hash)`.
    #[inline]
    pub(crate) fn bucket_of(hash: u64) -> usize {
        (hash >> 56) as usize % WAIT_BUCKETS
    }

    /// The word get_many waits on.
    #[inline]
    pub(crate) fn many(&self) -> WaitWord<'a> {
        self.word(WAIT_BUCKETS)
    }

    /// Announces a seal of an object whose ID hashes to `hash` (a sealer's
    /// half of the handshake: its seal, then this), on its bucket's word,
    /// then on the store-wide word, recording the seal in the log if
    /// anyone waits there or a wait set wants the log. What a put with
    /// nobody waiting does (the two counts and the log's want count read)
    /// is in line; a word whose count is not 0 is looked at further out of
    /// line, so that no `WaitWord` is built in the common case.
    #[inline]
    pub(crate) fn notify(&self, hash: u64) {
        let bucket = Self::bucket_of(hash);
        if self.waiting_on(bucket) {
            self.word(bucket).notify_counted();
        }
        if self.waiting_on(WAIT_BUCKETS) {
            self.notify_many_counted(hash);
        } else if self.log.is_wanted() {
            self.log.record(hash);
        }
    }

    /// Whether the count of threads waiting on word `which` (<
    /// WAIT_WORDS) is not 0: the first read of a sealer's half of the
    /// handshake (`WaitWord::notify_counted` reads the mask next).
    #[inline(always)]
    fn waiting_on(&self, which: usize) -> bool {
        dekker_fence();
        self.seqs[which][1].load(Ordering::SeqCst) != 0
    }

    /// The rest of `notify` once the store-wide word's count is not 0.
    #[cold]
    #[inline(never)]
    fn notify_many_counted(&self, hash: u64) {
        let many = self.many();
        let sleepers = many.masks.any(many.which);
        if sleepers || self.log.is_wanted() {
            self.log.record(hash);
        }
        if sleepers {
            many.wake();
        }
    }

    /// The seal log (wait sets keep their place in it between waits).
    pub(crate) fn log(&self) -> SealLog<'a> {
        self.log
    }

    /// Forgets the waiters of a dead process slot.
    pub(crate) fn clear_slot(&self, slot: u32) {
        for which in 0..WAIT_WORDS as u32 {
            self.masks.clear(which, slot);
        }
    }

    /// Slots marked as waiting somewhere (for consistency checks).
    pub(crate) fn waiting_slots(&self) -> Vec<u32> {
        let mut v: Vec<u32> = (0..WAIT_WORDS as u32).flat_map(|w| self.masks.holders(w)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64};

    use super::*;

    /// After a lost yield the looks before sleeping are skipped until the
    /// time kept; otherwise a seal already there is found by them.
    #[test]
    fn looks_before_sleeping_are_skipped_while_yields_are_lost() {
        let skipping = AtomicU64::new(u64::MAX);
        let mut looks = 0;
        let found = spin_for_with(&skipping, None, &mut || {
            looks += 1;
            Some(())
        });
        assert_eq!((found, looks), (None, 0));
        let spinning = AtomicU64::new(0);
        assert_eq!(spin_for_with(&spinning, None, &mut || Some(7)), Some(7));
        // A deadline already past still gets one look (whether or not its
        // yield is lost: a fresh word, not the one above, which a lost
        // yield may have set).
        let mut looks = 0;
        let fresh = AtomicU64::new(0);
        let none: Option<()> = spin_for_with(&fresh, Some(Instant::now()), &mut || {
            looks += 1;
            None
        });
        assert_eq!((none, looks), (None, 1));
    }

    struct T {
        seqs: Vec<AtomicU32>,
        masks: Vec<AtomicU64>,
        local: Vec<AtomicU32>,
        log: Vec<AtomicU64>,
    }
    impl T {
        fn new() -> T {
            T {
                seqs: (0..WAIT_WORDS * 16).map(|_| AtomicU32::new(0)).collect(),
                masks: (0..WAIT_WORDS).map(|_| AtomicU64::new(0)).collect(),
                local: (0..WAIT_WORDS).map(|_| AtomicU32::new(0)).collect(),
                log: (0..seal_log::WORDS).map(|_| AtomicU64::new(0)).collect(),
            }
        }
        fn waits(&self) -> Waits<'_> {
            Waits::new(&self.seqs, PinMasks::new(&self.masks, 1), SealLog::new(&self.log))
        }
    }

    #[test]
    fn wakes_on_notify_and_clears_its_mark() {
        let t = T::new();
        let w = t.waits();
        let local = LocalPins::new(&t.local);
        let ready = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                ready.store(true, Ordering::SeqCst);
                w.notify(7 << 56);
            });
            let start = Instant::now();
            let got = w.bucket(7 << 56).wait_for(&local, 3, Some(start + Duration::from_secs(10)), || {
                ready.load(Ordering::SeqCst).then_some(())
            });
            assert!(got.is_some());
        });
        assert!(w.waiting_slots().is_empty());
    }

    #[test]
    fn times_out() {
        let t = T::new();
        let w = t.waits();
        let local = LocalPins::new(&t.local);
        let start = Instant::now();
        assert!(w.many().wait_for(&local, 1, Some(start + Duration::from_millis(30)), || None::<()>).is_none());
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    /// Whether a thread waits on the store-wide word of `t` (so that a
    /// look is one of the waiting loop's, not of the spin before it).
    fn announced(t: &T) -> bool {
        t.seqs[WAIT_BUCKETS * 16 + 1].load(Ordering::SeqCst) != 0
    }

    /// A waiter of many objects is told which object a seal was of: the
    /// look after its first names it. (Deterministic: the looks make the
    /// seals, through `notify`, which also wakes the waiter at once.)
    #[test]
    fn a_waiter_of_many_is_told_which_object_was_sealed() {
        let t = T::new();
        let w = t.waits();
        let local = LocalPins::new(&t.local);
        let mine = 0x1234_5678_0000_0000u64;
        let mut sealed = false;
        let got =
            w.many().wait_cancellable(&local, 2, Some(Instant::now() + Duration::from_secs(60)), &|| false, |look| {
                match look {
                    Look::Hashes(hs) if hs.contains(&seal_log::logged_hash(mine)) => return Some(()),
                    Look::All if announced(&t) && !sealed => {
                        // Sealed just after this look, and logged.
                        sealed = true;
                        w.notify((7 << 32) | 1);
                        w.notify(mine);
                    }
                    // A look at all after the seal (more than a sleep cap
                    // since the last one, on a very slow machine): seal again.
                    Look::All if sealed => w.notify(mine),
                    _ => {}
                }
                None
            });
        assert_eq!(got, Waited::Ready(()), "the seal was never named");
    }

    /// A seal that no log entry names (its sealer died between the two) is
    /// found by the look at everything that comes once per sleep cap, even
    /// while others' seals keep waking the waiter to look at theirs, and
    /// with no deadline to end the wait.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "looks again and again for a sleep cap (100 ms) of the clock, with a futex call each time"
    )]
    fn a_seal_no_log_entry_names_is_found_within_a_sleep_cap() {
        let t = T::new();
        let w = t.waits();
        let local = LocalPins::new(&t.local);
        let (mut sealed, mut named_looks) = (false, 0u64);
        // Gives up (and fails) after far more looks than a sleep cap holds
        // on any machine: each makes a futex call.
        let given_up = std::cell::Cell::new(false);
        let got = w.many().wait_cancellable(&local, 2, None, &|| given_up.get(), |look| {
            match look {
                Look::All if sealed => return Some(()),
                Look::All if announced(&t) => sealed = true,
                Look::Hashes(_) => {
                    named_looks += 1;
                    given_up.set(named_looks > 10_000_000);
                }
                Look::All => {}
            }
            // Another object's seal, logged: wakes the waiter at once.
            w.notify((named_looks << 32) | 9);
            None
        });
        assert_eq!(got, Waited::Ready(()), "not found after {named_looks} looks at what the log named");
        assert!(named_looks > 0);
        assert!(w.waiting_slots().is_empty());
    }

    /// The last look of a wait that times out is at everything: a seal no
    /// log entry names, made after the waiter's first look, is found at the
    /// deadline (well within a sleep cap), while others' seals keep waking
    /// the waiter to look at theirs.
    #[test]
    #[cfg_attr(miri, ignore = "looks again and again until its deadline, with a futex call each time")]
    fn a_waiter_of_many_looks_at_all_before_it_times_out() {
        let t = T::new();
        let w = t.waits();
        let local = LocalPins::new(&t.local);
        let (mut sealed, mut i) = (false, 0u64);
        let deadline = Instant::now() + SLEEP_CAP / 2;
        let got = w.many().wait_cancellable(&local, 2, Some(deadline), &|| false, |look| {
            match look {
                Look::All if sealed => return Some(()),
                Look::All if announced(&t) => sealed = true,
                _ => {}
            }
            i += 1;
            w.notify((i << 32) | 9);
            None
        });
        assert_eq!(got, Waited::Ready(()));
    }

    /// A bucket's waiter always looks at everything it waits for; a seal
    /// with no waiter of many logs nothing.
    #[test]
    fn the_log_is_written_only_for_waiters_of_many() {
        let t = T::new();
        let w = t.waits();
        w.notify(5 << 56);
        assert_eq!(w.log.head(), 0);
        let local = LocalPins::new(&t.local);
        let mut looks = vec![];
        let _ = w.bucket(5 << 56).wait_cancellable(
            &local,
            1,
            Some(Instant::now() + Duration::from_millis(30)),
            &|| false,
            |look| {
                looks.push(look == Look::All);
                None::<()>
            },
        );
        assert!(!looks.is_empty() && looks.iter().all(|&a| a));
    }

    #[test]
    fn a_dead_waiter_is_forgotten() {
        let t = T::new();
        let w = t.waits();
        // A waiter of slot 5 marked itself and died.
        w.masks.set(9, 5);
        w.masks.set(WAIT_BUCKETS as u32, 5);
        assert_eq!(w.waiting_slots(), vec![5]);
        w.clear_slot(5);
        assert!(w.waiting_slots().is_empty());
    }
}
