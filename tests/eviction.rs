//! Evictable objects: cache entries deleted, least recently used first, when
//! an allocation cannot be served, before anything is spilled; never
//! spilled; never while pinned; counted in the stats.

mod common;

use std::time::Duration;

use common::{assert_consistent, SpillDir, TempStore};
use objstore::{ErrorKind, ObjectId, ObjectState, OBJECT_EVICTABLE};

const MIB: usize = 1 << 20;
/// An object whose footprint is exactly one MiB (16 pages).
const ONE: usize = MIB - 4096;

fn present(s: &objstore::Store, id: &ObjectId) -> bool {
    s.contains(id).unwrap()
}

#[test]
fn a_full_store_evicts_least_recently_used_first() {
    let t = TempStore::new("evict-lru");
    let s = t.open(&TempStore::options(8 * MIB as u64));
    let ids: Vec<ObjectId> = (0..8u8).map(|i| s.put_ex(&vec![i; ONE], b"", OBJECT_EVICTABLE).unwrap()).collect();
    assert_eq!(s.stats().unwrap().object_count, 8, "the store is full");
    // The first four are read: they get a second chance.
    for id in &ids[..4] {
        assert_eq!(s.get(id, Some(Duration::ZERO)).unwrap().data()[0], ids.iter().position(|i| i == id).unwrap() as u8);
    }
    let plain = s.put(&vec![9; ONE]).unwrap();
    assert!(present(&s, &plain));
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.evictions_total), (8, 1), "{st:?}");
    assert!(ids[..4].iter().all(|id| present(&s, id)), "a recently read object was evicted");
    let gone: Vec<&ObjectId> = ids[4..].iter().filter(|id| !present(&s, id)).collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(s.get(gone[0], Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::NotFound);
    // Plain objects are never evicted: once only they are left, the store is full.
    for i in 0..7 {
        let _ = s.put(&vec![i; ONE]);
    }
    assert_eq!(s.put(&vec![1; ONE]).unwrap_err().kind(), ErrorKind::OutOfMemory);
    assert!(present(&s, &plain));
    assert!(s.list().unwrap().iter().all(|o| o.state == ObjectState::Sealed));
    assert_consistent(&s);
}

#[test]
fn a_pinned_evictable_object_stays() {
    let t = TempStore::new("evict-pinned");
    let s = t.open(&TempStore::options(4 * MIB as u64));
    let ids: Vec<ObjectId> = (0..4u8).map(|i| s.put_ex(&vec![i; ONE], b"", OBJECT_EVICTABLE).unwrap()).collect();
    let pins: Vec<_> = ids.iter().map(|id| s.get(id, Some(Duration::ZERO)).unwrap()).collect();
    assert_eq!(s.put(&vec![7; ONE]).unwrap_err().kind(), ErrorKind::OutOfMemory);
    assert_eq!(s.stats().unwrap().evictions_total, 0);
    drop(pins);
    s.put(&vec![7; ONE]).unwrap();
    assert_eq!(s.stats().unwrap().evictions_total, 1);
    assert_consistent(&s);
}

#[test]
fn evictable_objects_go_before_anything_is_spilled_and_are_never_spilled() {
    let t = TempStore::new("evict-spill");
    let dir = SpillDir::new("evict");
    let s = t.open_spilling(&dir, 8 * MIB as u64);
    let plain: Vec<ObjectId> = (0..4u8).map(|i| s.put(&vec![i; ONE]).unwrap()).collect();
    let cached: Vec<ObjectId> =
        (0..4u8).map(|i| s.put_ex(&vec![10 + i; ONE], b"", OBJECT_EVICTABLE).unwrap()).collect();
    // Four more: the cache entries make room, nothing is spilled.
    let more: Vec<ObjectId> = (0..4u8).map(|i| s.put(&vec![20 + i; ONE]).unwrap()).collect();
    let st = s.stats().unwrap();
    assert_eq!((st.evictions_total, st.spilled_count, st.spills_total), (4, 0, 0), "{st:?}");
    assert!(cached.iter().all(|id| !present(&s, id)));
    // Then plain objects are spilled, and read back.
    s.put(&vec![30; ONE]).unwrap();
    let st = s.stats().unwrap();
    assert!(st.spilled_count >= 1, "{st:?}");
    for (i, id) in plain.iter().chain(&more).enumerate() {
        let want = if i < 4 { i as u8 } else { 20 + i as u8 - 4 };
        assert_eq!(s.get(id, None).unwrap().data()[ONE - 1], want);
    }
    // An evictable object is never among the spilled ones.
    let evictable = s.put_ex(&vec![40; ONE], b"", OBJECT_EVICTABLE).unwrap();
    for i in 0..8u8 {
        s.put(&vec![50 + i; 1000]).unwrap();
    }
    let listed = s.list().unwrap();
    if let Some(o) = listed.iter().find(|o| o.id == evictable) {
        assert_ne!(o.state, ObjectState::Spilled);
    }
    assert_consistent(&s);
}

/// Fills a store with evictable objects of `size` bytes (object `i` filled
/// with `i as u8`) until the first evictions, then reads every other one (a
/// second chance). Returns their IDs (a few evicted already).
fn fill_cache(s: &objstore::Store, size: usize) -> Vec<ObjectId> {
    let mut ids = Vec::new();
    // The stats every 64 puts: each is a scan of every object slot (slow in
    // the sanitizers' unoptimized builds).
    while s.stats().unwrap().evictions_total == 0 {
        for _ in 0..64 {
            let i = ids.len();
            ids.push(s.put_ex(&vec![i as u8; size], b"", OBJECT_EVICTABLE).unwrap());
        }
    }
    for id in ids.iter().step_by(2) {
        let _ = s.get(id, Some(Duration::ZERO));
    }
    ids
}

/// The cache entries still there read back whole.
fn assert_left_intact(s: &objstore::Store, ids: &[ObjectId], size: usize) {
    for (i, id) in ids.iter().enumerate() {
        if let Ok(got) = s.get(id, Some(Duration::ZERO)) {
            assert_eq!(got.data().len(), size);
            assert!(got.data().iter().all(|&b| b == i as u8), "cache entry {i} damaged");
        }
    }
}

#[test]
fn a_large_put_evicts_a_window_of_small_entries_not_the_cache() {
    let t = TempStore::new("evict-window");
    let s = t.open(&TempStore::options(32 * MIB as u64));
    let ids = fill_cache(&s, 4000);
    let before = s.stats().unwrap();
    let big = s.put(&vec![7; 4 * MIB]).unwrap();
    let after = s.stats().unwrap();
    let evicted = after.evictions_total - before.evictions_total;
    // 4 MiB is 1,024 pages, which hold fewer than 1,100 of these objects;
    // evicting them least recently used first wherever they lay emptied
    // two thirds of the cache (over 5,000) before a run was free.
    assert!(evicted <= 1100, "{evicted} of {} cache entries evicted for 4 MiB", ids.len());
    assert_eq!(after.object_count, before.object_count - evicted + 1, "{after:?}");
    assert!(s.get(&big, None).unwrap().data().iter().all(|&b| b == 7));
    assert_left_intact(&s, &ids, 4000);
    assert_consistent(&s);
}

#[test]
fn puts_of_another_size_evict_what_they_need_and_never_fail_while_entries_are_left() {
    let t = TempStore::new("evict-other-class");
    let s = t.open(&TempStore::options(32 * MIB as u64));
    let ids = fill_cache(&s, 4000);
    let before = s.stats().unwrap();
    // Each needs a slab of its own size class: an empty run of pages.
    // Evicting least recently used first, some were refused as if the
    // store were full, after most of the cache was gone.
    let puts: Vec<ObjectId> = (0..100u8).map(|i| s.put(&vec![i; 60_000]).unwrap()).collect();
    let evicted = s.stats().unwrap().evictions_total - before.evictions_total;
    let needed = 100 * 60_000 / 4000;
    assert!(evicted <= 2 * needed, "{evicted} cache entries evicted where {needed} hold the bytes");
    for (i, id) in puts.iter().enumerate() {
        assert!(s.get(id, None).unwrap().data().iter().all(|&b| b == i as u8));
    }
    assert_left_intact(&s, &ids, 4000);
    assert_consistent(&s);
}

#[test]
fn a_window_takes_entries_not_read_lately() {
    let t = TempStore::new("evict-window-lru");
    let s = t.open(&TempStore::options(8 * MIB as u64));
    let ids: Vec<ObjectId> = (0..8u8).map(|i| s.put_ex(&vec![i; ONE], b"", OBJECT_EVICTABLE).unwrap()).collect();
    // All but the fifth and sixth are read: those two, side by side, make
    // the cheapest window for an object of two MiB.
    for (i, id) in ids.iter().enumerate() {
        if i != 4 && i != 5 {
            let _ = s.get(id, Some(Duration::ZERO)).unwrap();
        }
    }
    s.put(&vec![9; 2 * MIB - 4096]).unwrap();
    assert_eq!(s.stats().unwrap().evictions_total, 2);
    let gone: Vec<usize> = (0..8).filter(|&i| !present(&s, &ids[i])).collect();
    assert_eq!(gone, [4, 5]);
    assert_consistent(&s);
}

#[test]
fn with_a_spill_directory_a_window_of_entries_is_evicted_before_anything_is_spilled() {
    let t = TempStore::new("evict-window-spill");
    let dir = SpillDir::new("evict-window");
    let s = t.open_spilling(&dir, 32 * MIB as u64);
    let plain: Vec<ObjectId> = (0..8u8).map(|i| s.put(&vec![100 + i; ONE]).unwrap()).collect();
    let ids = fill_cache(&s, 4000);
    let before = s.stats().unwrap().evictions_total;
    let big = s.put(&vec![7; 4 * MIB]).unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.spilled_count, st.spills_total), (0, 0), "{st:?}");
    assert!(st.evictions_total - before <= 1100, "{st:?}");
    assert!(s.get(&big, None).unwrap().data().iter().all(|&b| b == 7));
    for (i, id) in plain.iter().enumerate() {
        assert_eq!(s.get(id, None).unwrap().data()[0], 100 + i as u8);
    }
    assert_left_intact(&s, &ids, 4000);
    assert_consistent(&s);
}
