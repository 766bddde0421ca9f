//! Evicting: when an allocation cannot be served, EVICTABLE objects (cache
//! entries) are deleted, least recently used first, before anything is
//! spilled; they are never spilled.
//!
//! An allocation first evicts by window (`room::RoomMaker::evicting`): an
//! entry of its size class, or the entries that empty the cheapest run of
//! pages it needs. This module's plain least-recently-used order comes
//! after, for what no window of entries alone can serve (entries and plain
//! objects interleaved): every entry then goes before anything is spilled.
//!
//! A store-wide hint word, `[evictable puts:63 | none left:1]`, spares a
//! store without cache entries the scan: a put of an evictable object adds
//! 2 and clears the low bit (one CAS); a scan that finds none (pinned or
//! not) sets the bit,
//! by a CAS from the value it read before it began, so that a put during
//! the scan keeps it clear.
//!
//! "Least recently used" is a CLOCK over the descriptor table, with its own
//! hand (a global word) and the reference bit gets set (the spill CLOCK's
//! bit): an evictable object read since the hand last passed gets a second
//! chance, and the pass clears its bit. Each eviction is the protocol step
//! `Objects::evict` (a spill that ends in a delete, so a reader that wants
//! the object cancels it, and a pinned object is never evicted).

use std::sync::atomic::Ordering;

use super::alloc::{footprint, Allocator};
use super::lifecycle::Objects;
use crate::shared::descriptor::{flags, Location, State};
use crate::shared::layout::Global;
use crate::shared::region::Region;

/// Descriptors the hand moves over at a time.
const STRIDE: u64 = 64;

/// Deletes unpinned EVICTABLE objects in memory, least recently used first,
/// until about `bytes` of memory are freed or there is none left to evict.
/// Returns the bytes freed (the footprints of the objects evicted).
pub(crate) fn evict(alloc: &Allocator<'_>, bytes: u64) -> u64 {
    let region = alloc.region;
    let hint = region.global(Global::EvictableHint);
    let seen = hint.load(Ordering::SeqCst);
    if seen & 1 != 0 || seen == 0 {
        return 0;
    }
    let o = Objects::of(region);
    let n = o.desc.count() as u64;
    let hand = region.global(Global::EvictionHand);
    let mut freed = 0u64;
    let mut evicted = 0u64;
    let mut found = false;
    // Two turns of the hand: the first clears the bits of objects read
    // since it last passed (their second chance), the second takes them.
    for _ in 0..2 {
        let mut scanned = 0;
        while scanned < n {
            let start = hand.fetch_add(STRIDE, Ordering::Relaxed) % n;
            for d in start..(start + STRIDE).min(n) {
                let d = d as u32;
                let Some(s) = o.desc.snapshot(d) else {
                    found = true; // changing: perhaps one
                    continue;
                };
                if s.state.flags() & flags::EVICTABLE == 0 {
                    continue;
                }
                found = true;
                if !s.state.is(State::Sealed)
                    || !Location::decode(s.loc).is_some_and(Location::holds_memory)
                    || o.pinned(d)
                    || o.desc.take_referenced(d)
                {
                    continue;
                }
                if o.evict(d, s.state, alloc.me, &alloc.freer_giving_back()) {
                    evicted += 1;
                    freed = freed.saturating_add(footprint(s.data_len, s.meta_len as u64).unwrap_or(0));
                    if freed >= bytes {
                        region.global(Global::Evictions).fetch_add(evicted, Ordering::Relaxed);
                        return freed;
                    }
                }
            }
            scanned += STRIDE;
        }
    }
    region.global(Global::Evictions).fetch_add(evicted, Ordering::Relaxed);
    if !found {
        // None left (unless one was put meanwhile: then the CAS fails).
        let _ = hint.compare_exchange(seen, seen | 1, Ordering::SeqCst, Ordering::Relaxed);
    }
    freed
}

/// Whether evictable objects may be left in the store (the hint word says
/// none was put, or a scan found none since the last put, otherwise).
pub(crate) fn may_be_left(region: &Region) -> bool {
    let seen = region.global(Global::EvictableHint).load(Ordering::SeqCst);
    seen & 1 == 0 && seen != 0
}

/// Notes the put of an evictable object (before it becomes visible).
pub(crate) fn note_evictable_put(region: &Region) {
    let hint = region.global(Global::EvictableHint);
    let _ = hint.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |v| Some((v & !1).wrapping_add(2)));
}
