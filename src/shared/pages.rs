//! The page table: one word per arena page saying who holds it, plus a
//! used-page bitmap that speeds up the search for free runs, plus the
//! reservation state of each region of the arena.
//!
//! Page entry: `[kind:4 | payload:60]`
//! - FREE (0)
//! - CLAIMED(slot): taken by a live process that has not yet said what for;
//!   a reclaimer frees the CLAIMED pages of a dead slot.
//! - RUN(d): one page of the run holding object descriptor `d`.
//! - SLAB_HEAD(class, span) / SLAB_TAIL(head): pages of a slab.
//! - SLAB_RETIRING(slot, class, span): a slab head whose slab `slot` is
//!   returning to the free pages.
//!
//! Invariants:
//! - The page table is the authority; the bitmap is a hint that may be
//!   stale either way after a crash. A stale "used" bit hides a free page
//!   until `rebuild_hints`, which the allocator runs before giving up; a
//!   stale "free" bit costs one failed CAS.
//! - Pages are claimed FREE -> CLAIMED(me) one by one in ascending order
//!   and rolled back on conflict, so two claimers of overlapping runs never
//!   both fail forever: the one holding the lower contested page proceeds.
//! - The search is first-fit from page 0: freed (warm) pages are reused
//!   before never-touched ones, and the arena fills from the bottom, which
//!   is also the order in which regions get reserved.

use super::sync::{AtomicU64, Ordering};

/// Pages per reservation region: backing memory is fallocated a region at a time.
pub(crate) const REGION_PAGES: u64 = 512;

const KIND_SHIFT: u32 = 60;
const K_FREE: u64 = 0;
const K_CLAIMED: u64 = 1;
const K_RUN: u64 = 2;
const K_SLAB_HEAD: u64 = 3;
const K_SLAB_TAIL: u64 = 4;
const K_SLAB_RETIRING: u64 = 5;

/// Words of the page table for `pages` pages (one each).
pub(crate) fn table_words(pages: u64) -> usize {
    pages as usize
}

/// Words of the used-page bitmap for `pages` pages.
pub(crate) fn bitmap_words(pages: u64) -> usize {
    pages.div_ceil(64) as usize
}

/// Reservation regions (one state word each) for `pages` pages.
pub(crate) fn region_count(pages: u64) -> u64 {
    pages.div_ceil(REGION_PAGES)
}

/// A decoded page entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageEntry {
    Free,
    Claimed {
        slot: u32,
    },
    Run {
        d: u32,
    },
    SlabHead {
        class: u32,
        span: u32,
    },
    SlabTail {
        head: u64,
    },
    SlabRetiring {
        slot: u32,
        class: u32,
        span: u32,
    },
    /// A value no writer produces: a damaged table.
    Invalid,
}

impl PageEntry {
    pub(crate) fn encode(self) -> u64 {
        match self {
            PageEntry::Free => 0,
            PageEntry::Claimed { slot } => K_CLAIMED << KIND_SHIFT | slot as u64,
            PageEntry::Run { d } => K_RUN << KIND_SHIFT | d as u64,
            PageEntry::SlabHead { class, span } => K_SLAB_HEAD << KIND_SHIFT | (class as u64) << 32 | span as u64,
            PageEntry::SlabTail { head } => K_SLAB_TAIL << KIND_SHIFT | (head & ((1 << 48) - 1)),
            PageEntry::SlabRetiring { slot, class, span } => {
                K_SLAB_RETIRING << KIND_SHIFT | (slot as u64) << 40 | (class as u64) << 32 | span as u64
            }
            PageEntry::Invalid => u64::MAX,
        }
    }

    pub(crate) fn decode(v: u64) -> PageEntry {
        let payload = v & ((1 << KIND_SHIFT) - 1);
        match v >> KIND_SHIFT {
            K_FREE if v == 0 => PageEntry::Free,
            K_CLAIMED if payload <= 0xffff => PageEntry::Claimed { slot: payload as u32 },
            K_RUN if payload <= u32::MAX as u64 => PageEntry::Run { d: payload as u32 },
            K_SLAB_HEAD if payload >> 40 == 0 => {
                PageEntry::SlabHead { class: ((payload >> 32) & 0xff) as u32, span: payload as u32 }
            }
            K_SLAB_TAIL if payload >> 48 == 0 => PageEntry::SlabTail { head: payload },
            K_SLAB_RETIRING if payload >> 56 == 0 => PageEntry::SlabRetiring {
                slot: ((payload >> 40) & 0xffff) as u32,
                class: ((payload >> 32) & 0xff) as u32,
                span: payload as u32,
            },
            _ => PageEntry::Invalid,
        }
    }
}

/// The page table, its bitmap and the region states.
#[derive(Clone, Copy)]
pub(crate) struct Pages<'a> {
    table: &'a [AtomicU64],
    used: &'a [AtomicU64],
    regions: &'a [AtomicU64],
}

impl<'a> Pages<'a> {
    pub(crate) fn new(table: &'a [AtomicU64], used: &'a [AtomicU64], regions: &'a [AtomicU64]) -> Pages<'a> {
        Pages { table, used, regions }
    }

    pub(crate) fn count(&self) -> u64 {
        self.table.len() as u64
    }

    #[inline]
    pub(crate) fn load(&self, page: u64) -> PageEntry {
        match self.table.get(page as usize) {
            Some(e) => PageEntry::decode(e.load(Ordering::SeqCst)),
            None => PageEntry::Invalid,
        }
    }

    /// CAS of one entry.
    pub(crate) fn swap_entry(&self, page: u64, from: PageEntry, to: PageEntry) -> bool {
        match self.table.get(page as usize) {
            Some(e) => e.compare_exchange(from.encode(), to.encode(), Ordering::SeqCst, Ordering::SeqCst).is_ok(),
            None => false,
        }
    }

    /// Overwrites entries of pages this process holds CLAIMED.
    pub(crate) fn set_claimed(&self, start: u64, count: u64, me: u32, to: impl Fn(u64) -> PageEntry) {
        for p in start..start + count {
            self.swap_entry(p, PageEntry::Claimed { slot: me }, to(p));
        }
    }

    fn set_used_bits(&self, start: u64, count: u64, used: bool) {
        let mut p = start;
        let end = start + count;
        while p < end {
            let wi = (p / 64) as usize;
            let lo = p % 64;
            let n = (64 - lo).min(end - p);
            let mask = if n == 64 { !0 } else { ((1u64 << n) - 1) << lo };
            if used {
                self.used[wi].fetch_or(mask, Ordering::Relaxed);
            } else {
                self.used[wi].fetch_and(!mask, Ordering::Relaxed);
            }
            p += n;
        }
    }

    /// First candidate run of `count` pages marked free in the bitmap at or
    /// after `from`.
    fn find_candidate(&self, count: u64, from: u64) -> Option<u64> {
        let n = self.count();
        let mut p = from;
        let mut run_start = from;
        let mut run_len = 0;
        while p < n {
            let lo = p % 64;
            let avail = (64 - lo).min(n - p);
            let word = self.used[(p / 64) as usize].load(Ordering::Relaxed) >> lo;
            let free = (word.trailing_zeros() as u64).min(avail);
            if free > 0 {
                if run_len == 0 {
                    run_start = p;
                }
                run_len += free;
                if run_len >= count {
                    return Some(run_start);
                }
                p += free;
            }
            if free < avail {
                let used = ((word >> free).trailing_ones() as u64).min(avail - free);
                p += used;
                run_len = 0;
            }
        }
        None
    }

    /// Claims `count` consecutive FREE pages for slot `me`, lowest address
    /// first. The pages become CLAIMED(me).
    pub(crate) fn claim_run(&self, count: u64, me: u32) -> Option<u64> {
        if count == 0 || count > self.count() {
            return None;
        }
        for pass in 0..2 {
            let mut from = 0;
            while let Some(start) = self.find_candidate(count, from) {
                match self.try_claim(start, count, me) {
                    Ok(()) => {
                        self.set_used_bits(start, count, true);
                        return Some(start);
                    }
                    Err(taken) => from = taken + 1,
                }
            }
            if pass == 0 {
                self.rebuild_hints();
            }
        }
        None
    }

    /// Claims exactly the pages `start..start+count` for slot `me`, or
    /// none of them.
    pub(crate) fn claim_exact(&self, start: u64, count: u64, me: u32) -> bool {
        if count == 0 || start.checked_add(count).is_none_or(|end| end > self.count()) {
            return false;
        }
        let claimed = self.try_claim(start, count, me).is_ok();
        if claimed {
            self.set_used_bits(start, count, true);
        }
        claimed
    }

    fn try_claim(&self, start: u64, count: u64, me: u32) -> Result<(), u64> {
        let claimed = PageEntry::Claimed { slot: me };
        for p in start..start + count {
            if !self.swap_entry(p, PageEntry::Free, claimed) {
                for q in (start..p).rev() {
                    self.swap_entry(q, claimed, PageEntry::Free);
                }
                self.set_used_bits(p, 1, true);
                return Err(p);
            }
        }
        Ok(())
    }

    /// Frees pages whose entries are exactly `from(page)`; idempotent.
    pub(crate) fn free_pages(&self, start: u64, count: u64, from: impl Fn(u64) -> PageEntry) {
        let end = (start + count).min(self.count());
        for p in start..end {
            if self.swap_entry(p, from(p), PageEntry::Free) {
                self.set_used_bits(p, 1, false);
            }
        }
    }

    /// Rewrites the bitmap from the table. Racy by nature (a page may change
    /// while we look) but only ever as wrong as a hint may be.
    pub(crate) fn rebuild_hints(&self) {
        for (wi, word) in self.used.iter().enumerate() {
            let mut v = 0u64;
            for bit in 0..64u64 {
                let p = wi as u64 * 64 + bit;
                if p < self.count() && self.load(p) != PageEntry::Free {
                    v |= 1 << bit;
                }
            }
            word.store(v, Ordering::Relaxed);
        }
    }

    /// Pages in the table with each entry, for reclaim and checks.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, PageEntry)) {
        for p in 0..self.count() {
            f(p, self.load(p));
        }
    }

    // ----- region reservation ------------------------------------------------

    /// Regions overlapping `start..start+count` not yet reserved.
    pub(crate) fn unreserved_regions(&self, start: u64, count: u64) -> impl Iterator<Item = u64> + '_ {
        let first = start / REGION_PAGES;
        let last = (start + count - 1) / REGION_PAGES;
        (first..=last).filter(move |&r| self.regions.get(r as usize).is_some_and(|s| s.load(Ordering::Acquire) == 0))
    }

    pub(crate) fn mark_reserved(&self, region: u64) {
        if let Some(s) = self.regions.get(region as usize) {
            s.store(1, Ordering::Release);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    struct T {
        table: Vec<AtomicU64>,
        used: Vec<AtomicU64>,
        regions: Vec<AtomicU64>,
    }
    impl T {
        fn new(pages: usize) -> T {
            T {
                table: (0..pages).map(|_| AtomicU64::new(0)).collect(),
                used: (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
                regions: (0..pages.div_ceil(REGION_PAGES as usize)).map(|_| AtomicU64::new(0)).collect(),
            }
        }
        fn pages(&self) -> Pages<'_> {
            Pages::new(&self.table, &self.used, &self.regions)
        }
    }

    #[test]
    fn entries_round_trip() {
        for e in [
            PageEntry::Free,
            PageEntry::Claimed { slot: 4095 },
            PageEntry::Run { d: u32::MAX - 1 },
            PageEntry::SlabHead { class: 43, span: 33 },
            PageEntry::SlabTail { head: 123456 },
            PageEntry::SlabRetiring { slot: 7, class: 2, span: 1 },
        ] {
            assert_eq!(PageEntry::decode(e.encode()), e);
        }
        assert_eq!(PageEntry::decode(u64::MAX), PageEntry::Invalid);
        assert_eq!(PageEntry::decode(9 << 60), PageEntry::Invalid);
    }

    #[test]
    fn first_fit_reuses_low_pages() {
        let t = T::new(200);
        let p = t.pages();
        let a = p.claim_run(10, 1).unwrap();
        let b = p.claim_run(70, 1).unwrap();
        let c = p.claim_run(5, 1).unwrap();
        assert_eq!((a, b, c), (0, 10, 80));
        p.free_pages(a, 10, |_| PageEntry::Claimed { slot: 1 });
        assert_eq!(p.claim_run(8, 2), Some(0));
        assert_eq!(p.claim_run(3, 2), Some(85));
        assert_eq!(p.claim_run(200, 2), None);
    }

    #[test]
    fn stale_hints_are_repaired() {
        let t = T::new(64);
        let p = t.pages();
        // Every bit says used, but every page is free: a rebuild finds them.
        t.used[0].store(!0, Ordering::Relaxed);
        assert_eq!(p.claim_run(64, 3), Some(0));
        // Bit says free but page taken: the claim skips it.
        let t = T::new(64);
        let p = t.pages();
        t.table[0].store(PageEntry::Run { d: 1 }.encode(), Ordering::Relaxed);
        assert_eq!(p.claim_run(2, 3), Some(1));
    }

    #[test]
    fn racing_claims_never_overlap() {
        let t = T::new(512);
        let p = t.pages();
        let got = std::sync::Mutex::new(vec![]);
        std::thread::scope(|s| {
            for me in 0..4u32 {
                let (p, got) = (&p, &got);
                s.spawn(move || {
                    while let Some(start) = p.claim_run(3, me) {
                        got.lock().unwrap().push((start, me));
                    }
                });
            }
        });
        let mut owner = vec![None; 512];
        for (start, me) in got.into_inner().unwrap() {
            for q in start..start + 3 {
                assert!(owner[q as usize].is_none());
                owner[q as usize] = Some(me);
                assert_eq!(p.load(q), PageEntry::Claimed { slot: me });
            }
        }
        // Racing rollbacks may leave gaps a thread gave up on; on a quiet
        // table a claim finds every remaining run.
        while p.claim_run(3, 9).is_some() {}
        let free: Vec<bool> = (0..512).map(|q| p.load(q) == PageEntry::Free).collect();
        assert!(!free.windows(3).any(|w| w.iter().all(|&f| f)), "a free run of 3 pages was missed");
    }

    #[test]
    fn regions_report_reservation() {
        let t = T::new(REGION_PAGES as usize * 2 + 1);
        let p = t.pages();
        assert_eq!(p.unreserved_regions(0, REGION_PAGES + 1).collect::<Vec<_>>(), vec![0, 1]);
        p.mark_reserved(0);
        assert_eq!(p.unreserved_regions(0, REGION_PAGES + 1).collect::<Vec<_>>(), vec![1]);
    }
}
