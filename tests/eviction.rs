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
