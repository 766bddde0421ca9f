//! Single-process behaviour of the Rust API: every operation, its errors,
//! and the accounting of memory.

mod common;

use std::time::Duration;

use common::{assert_consistent, pattern, TempStore};
use objstore::{ErrorKind, ObjectId, Options, Store};

const MIB: u64 = 1 << 20;

#[test]
fn put_get_release_delete_round_trip() {
    let t = TempStore::new("basic");
    let s = t.open(&TempStore::options(64 * MIB));
    for (i, len) in [0usize, 1, 63, 64, 65, 1000, 4096, 100_000, 262_144, 262_145, 3 * MIB as usize].iter().enumerate()
    {
        let data = pattern(i as u64, *len);
        let id = s.put(&data).unwrap();
        let obj = s.get(&id, Some(Duration::ZERO)).unwrap();
        assert_eq!(obj.data(), &data[..], "len {len}");
        assert!(obj.meta().is_empty());
        assert_eq!(obj.raw().data as usize % 64, 0, "data is 64-byte aligned");
        drop(obj);
        assert!(s.contains(&id).unwrap());
        s.delete(&id).unwrap();
        assert!(!s.contains(&id).unwrap());
        assert_eq!(s.get(&id, Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::NotFound);
    }
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert_consistent(&s);
}

#[test]
fn metadata_travels_with_the_object() {
    let t = TempStore::new("meta");
    let s = t.open(&TempStore::options(16 * MIB));
    let id = ObjectId([7; 20]);
    s.put_as(&id, b"payload", b"float32:(2,3)").unwrap();
    let obj = s.get(&id, None).unwrap();
    assert_eq!(obj.data(), b"payload");
    assert_eq!(obj.meta(), b"float32:(2,3)");
}

#[test]
fn create_fill_seal_and_abort() {
    let t = TempStore::new("create");
    let s = t.open(&TempStore::options(16 * MIB));
    let id = ObjectId([1; 20]);
    let mut c = s.create(&id, 5000, b"m").unwrap();
    c.data_mut().copy_from_slice(&pattern(3, 5000));
    // Unsealed: invisible to get, delete says not sealed.
    assert_eq!(s.get(&id, Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::NotFound);
    assert!(!s.contains(&id).unwrap());
    assert_eq!(s.delete(&id).unwrap_err().kind(), ErrorKind::NotSealed);
    assert_eq!(s.stats().unwrap().unsealed_count, 1);
    c.seal().unwrap();
    assert_eq!(s.get(&id, None).unwrap().data(), &pattern(3, 5000)[..]);
    assert_eq!(s.seal(&id).unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(s.abort(&id).unwrap_err().kind(), ErrorKind::AlreadyExists);

    let id2 = ObjectId([2; 20]);
    let c = s.create(&id2, 10, b"").unwrap();
    c.abort().unwrap();
    assert!(!s.contains(&id2).unwrap());
    assert_eq!(s.seal(&id2).unwrap_err().kind(), ErrorKind::NotFound);
    // Dropping an unsealed guard aborts too.
    drop(s.create(&id2, 10, b"").unwrap());
    assert_eq!(s.stats().unwrap().unsealed_count, 0);
    s.put_as(&id2, b"again", b"").unwrap();
    assert_consistent(&s);
}

#[test]
fn only_the_creating_handle_may_seal_or_abort() {
    let t = TempStore::new("owner");
    let a = t.open(&TempStore::options(16 * MIB));
    let b = t.open(&Options::default());
    let id = ObjectId([9; 20]);
    let _ptr = a.create_raw(&id, 100, b"").unwrap();
    assert_eq!(b.seal(&id).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(b.abort(&id).unwrap_err().kind(), ErrorKind::InvalidArgument);
    a.seal(&id).unwrap();
    assert!(b.contains(&id).unwrap());
}

#[test]
fn duplicate_ids_are_refused_until_deleted() {
    let t = TempStore::new("dup");
    let s = t.open(&TempStore::options(16 * MIB));
    let id = ObjectId([3; 20]);
    s.put_as(&id, b"one", b"").unwrap();
    assert_eq!(s.put_as(&id, b"two", b"").unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(s.create_raw(&id, 3, b"").unwrap_err().kind(), ErrorKind::AlreadyExists);
    s.delete(&id).unwrap();
    s.put_as(&id, b"three", b"").unwrap();
    assert_eq!(s.get(&id, None).unwrap().data(), b"three");
}

#[test]
fn delete_while_pinned_is_deferred_and_id_stays_reserved() {
    let t = TempStore::new("defer");
    let s = t.open(&TempStore::options(16 * MIB));
    let id = ObjectId([4; 20]);
    s.put_as(&id, &pattern(1, 70_000), b"").unwrap();
    let raw = s.get_raw(&id, None).unwrap();
    let raw2 = s.get_raw(&id, None).unwrap();
    assert_eq!(raw.data, raw2.data);
    s.delete(&id).unwrap();
    assert!(!s.contains(&id).unwrap());
    assert_eq!(s.get(&id, Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.put_as(&id, b"x", b"").unwrap_err().kind(), ErrorKind::AlreadyExists);
    assert_eq!(s.delete(&id).unwrap_err().kind(), ErrorKind::NotFound);
    // The pinned bytes are intact.
    let bytes = unsafe { std::slice::from_raw_parts(raw.data, raw.data_len) };
    assert_eq!(bytes, &pattern(1, 70_000)[..]);
    assert!(s.stats().unwrap().used_bytes > 0);
    s.release(&id).unwrap();
    assert!(s.stats().unwrap().used_bytes > 0);
    s.release(&id).unwrap();
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert_eq!(s.release(&id).unwrap_err().kind(), ErrorKind::NotFound);
    s.put_as(&id, b"x", b"").unwrap();
}

#[test]
fn release_without_pin_and_unknown_ids() {
    let t = TempStore::new("release");
    let s = t.open(&TempStore::options(16 * MIB));
    let id = s.put(b"abc").unwrap();
    assert_eq!(s.release(&id).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let unknown = ObjectId([0xee; 20]);
    assert_eq!(s.release(&unknown).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.delete(&unknown).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.seal(&unknown).unwrap_err().kind(), ErrorKind::NotFound);
    assert!(!s.contains(&unknown).unwrap());
    // A pin belongs to the handle that took it.
    let other = t.open(&Options::default());
    let _obj = s.get(&id, None).unwrap();
    assert_eq!(other.release(&id).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn closing_a_handle_releases_its_pins_and_aborts_its_objects() {
    let t = TempStore::new("close");
    let a = t.open(&TempStore::options(16 * MIB));
    let b = t.open(&Options::default());
    let id = a.put(&pattern(5, 10_000)).unwrap();
    let _ = b.get_raw(&id, None).unwrap();
    let _ = b.get_raw(&id, None).unwrap();
    let unsealed = ObjectId([8; 20]);
    b.create_raw(&unsealed, 100, b"").unwrap();
    assert_eq!(a.stats().unwrap().pinned_count, 1);
    a.delete(&id).unwrap();
    assert!(a.stats().unwrap().used_bytes > 0);
    drop(b);
    let st = a.stats().unwrap();
    assert_eq!((st.pinned_count, st.unsealed_count, st.used_bytes), (0, 0, 0));
    assert_consistent(&a);
}

#[test]
fn full_store_gives_out_of_memory_and_too_large() {
    let t = TempStore::new("full");
    let s = t.open(&TempStore::options(4 * MIB));
    assert_eq!(s.put(&vec![0u8; 5 * MIB as usize]).unwrap_err().kind(), ErrorKind::TooLarge);
    let mut ids = vec![];
    loop {
        match s.put(&pattern(ids.len() as u64, 300_000)) {
            Ok(id) => ids.push(id),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
                break;
            }
        }
    }
    assert!(ids.len() >= 10, "only {} objects fit", ids.len());
    // Small objects still fit into what is left, then they fail too.
    let mut small = 0;
    while s.put(&[1u8; 100]).is_ok() {
        small += 1;
        assert!(small < 1_000_000);
    }
    // Everything reads back; deleting makes room again.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(s.get(id, None).unwrap().data(), &pattern(i as u64, 300_000)[..]);
    }
    s.delete(&ids[0]).unwrap();
    s.put(&pattern(99, 300_000)).unwrap();
    assert_consistent(&s);
}

#[test]
fn memory_of_small_objects_is_reusable_for_large_ones() {
    let t = TempStore::new("reuse");
    let s = t.open(&TempStore::options(8 * MIB));
    let mut ids = vec![];
    while let Ok(id) = s.put(&[7u8; 200]) {
        ids.push(id);
    }
    assert!(s.put(&vec![1u8; 2 * MIB as usize]).is_err());
    for id in &ids {
        s.delete(id).unwrap();
    }
    // Empty slabs go back to the page pool under pressure.
    let big = s.put(&vec![1u8; 6 * MIB as usize]).unwrap();
    assert_eq!(s.get(&big, None).unwrap().data().len(), 6 * MIB as usize);
    assert_consistent(&s);
}

/// Put/delete churn of slab-sized objects keeps reusing the same memory: a
/// slab emptied by deletes goes back to the page pool at once, so the
/// store neither reserves more and more of its arena nor fragments it (a
/// large object still fits afterwards).
#[test]
fn churn_of_small_objects_reuses_the_same_memory() {
    use std::os::unix::fs::MetadataExt;
    let t = TempStore::new("churn");
    let s = t.open(&TempStore::options(512 * MIB));
    let mut pages = std::collections::HashSet::new();
    for size in [64usize, 1000, 16 << 10, 64 << 10, 256 << 10] {
        let data = pattern(size as u64, size);
        for _ in 0..30 {
            let ids: Vec<ObjectId> =
                (0..(4 * MIB as usize / size).clamp(8, 2000)).map(|_| s.put(&data).unwrap()).collect();
            for id in &ids {
                pages.insert(s.get(id, None).unwrap().raw().data as usize >> 16);
            }
            for id in &ids {
                s.delete(id).unwrap();
            }
        }
    }
    // Each round holds at most 4 MiB; all rounds together must stay near that, not
    // walk through the 512 MiB arena.
    assert!(pages.len() < 400, "churn touched {} distinct 64 KiB pages", pages.len());
    let reserved = std::fs::metadata(t.path()).unwrap().blocks() * 512;
    assert!(reserved < 128 * MIB, "churn reserved {} MiB of backing memory", reserved / MIB);
    let big = s.put(&vec![3u8; 500 * MIB as usize]).unwrap();
    s.delete(&big).unwrap();
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert_consistent(&s);
}

#[test]
fn object_table_full() {
    let t = TempStore::new("table");
    let s = t.open(&Options { capacity_bytes: 16 * MIB, max_objects: 100, ..Options::default() });
    for _ in 0..100 {
        s.put(b"x").unwrap();
    }
    let e = s.put(b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory);
    assert!(e.message().contains("object table"), "{e}");
}

#[test]
fn get_many_fills_what_is_there() {
    let t = TempStore::new("many");
    let s = t.open(&TempStore::options(16 * MIB));
    let a = s.put(b"a").unwrap();
    let b = s.put(b"bb").unwrap();
    let missing = ObjectId([0x55; 20]);
    let mut out = vec![None; 3];
    s.get_many_raw(&[a, b, a], Some(Duration::ZERO), &mut out).unwrap();
    assert!(out.iter().all(Option::is_some));
    for id in [a, b, a] {
        s.release(&id).unwrap();
    }
    let e = s.get_many_raw(&[a, missing], Some(Duration::ZERO), &mut out[..2]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(out[0].is_some() && out[1].is_none());
    s.release(&a).unwrap();
    let e = s.get_many_raw(&[missing, b], Some(Duration::from_millis(50)), &mut out[..2]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(out[0].is_none() && out[1].is_some());
    s.release(&b).unwrap();
    assert_eq!(s.stats().unwrap().pinned_count, 0);
}

#[test]
fn get_waits_for_a_seal_from_another_thread() {
    let t = TempStore::new("wait");
    let s = t.open(&TempStore::options(16 * MIB));
    let id = ObjectId([0x42; 20]);
    assert_eq!(s.get(&id, Some(Duration::from_millis(20))).unwrap_err().kind(), ErrorKind::Timeout);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            s.put_as(&id, b"late", b"").unwrap();
        });
        let obj = s.get(&id, Some(Duration::from_secs(30))).unwrap();
        assert_eq!(obj.data(), b"late");
    });
}

#[test]
fn stats_count_objects() {
    let t = TempStore::new("stats");
    let s = t.open(&Options { capacity_bytes: 32 * MIB, max_processes: 8, ..Options::default() });
    let ids: Vec<_> = (0..10).map(|i| s.put(&pattern(i, 1000)).unwrap()).collect();
    let _pin = s.get(&ids[0], None).unwrap();
    let st = s.stats().unwrap();
    assert_eq!(st.object_count, 10);
    assert_eq!(st.pinned_count, 1);
    assert_eq!(st.used_bytes, 10 * 1024);
    assert_eq!(st.capacity_bytes, 32 * MIB);
    assert_eq!(st.max_processes, 8);
    assert_eq!(st.attached_processes, 1);
    assert_eq!(s.list().unwrap().len(), 10);
}

#[test]
fn a_spill_dir_that_is_a_file_is_refused_clearly() {
    let t = TempStore::new("spillfile");
    let file = format!("/tmp/objstore-not-a-dir-{}", std::process::id());
    std::fs::write(&file, b"x").unwrap();
    let e = Store::open(
        &t.name,
        &Options { capacity_bytes: 4 * MIB, spill_dir: Some(file.clone().into()), ..Options::default() },
    )
    .unwrap_err();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.message().contains("not a directory"), "{e}");
    assert!(!std::path::Path::new(&t.path()).exists());
}

/// Bytes the file system has allocated to a file.
fn allocated_bytes(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_large_store_costs_little_until_used() {
    let t = TempStore::new("sparse");
    let s = t.open(&Options { capacity_bytes: 16 << 30, max_objects: 65536, ..Options::default() });
    let empty = allocated_bytes(&t.path());
    assert!(empty < 32 * MIB, "an empty 16 GiB store holds {empty} bytes");
    let id = s.put(&vec![9u8; 10 * MIB as usize]).unwrap();
    let used = allocated_bytes(&t.path());
    assert!(used >= empty + 10 * MIB, "backing memory is reserved before use ({empty} -> {used})");
    assert!(used < empty + 128 * MIB, "only the regions in use are reserved ({empty} -> {used})");
    assert_eq!(s.get(&id, None).unwrap().data().len(), 10 * MIB as usize);
}

#[test]
fn a_full_file_system_gives_out_of_memory_at_put_never_sigbus() {
    // A 48 MiB tmpfs holding a store of 256 MiB (tests run as root).
    let dir = format!("/tmp/objstore-smallfs-{}-{:x}", std::process::id(), common::rand_u64());
    std::fs::create_dir_all(&dir).unwrap();
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs", &dir])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let _guard = Unmount(dir.clone());
    assert!(mounted, "this test mounts a small tmpfs and needs root");
    let path = format!("{dir}/store");
    let s =
        Store::open(&path, &Options { capacity_bytes: 256 * MIB, max_objects: 1000, ..Options::default() }).unwrap();
    let mut ids = vec![];
    let e = loop {
        match s.put(&pattern(ids.len() as u64, 4 * MIB as usize)) {
            Ok(id) => ids.push(id),
            Err(e) => break e,
        }
        assert!(ids.len() < 64, "the file system never filled");
    };
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    assert!(e.message().contains("file system is full"), "{e}");
    assert!(ids.len() >= 4, "only {} objects fit", ids.len());
    // Everything stored reads back, and small objects in reserved memory still fit.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(s.get(id, None).unwrap().data(), &pattern(i as u64, 4 * MIB as usize)[..]);
    }
    s.delete(&ids[0]).unwrap();
    s.put(&pattern(1000, 4 * MIB as usize)).unwrap();
    // PREFAULT reserves everything at open: a store that cannot fit is refused there.
    let e = Store::open(
        &format!("{dir}/big"),
        &Options { capacity_bytes: 256 * MIB, prefault: true, ..Options::default() },
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    drop(s);
    let _ = Store::destroy(&path);
}

#[test]
fn a_store_on_hugetlbfs_uses_huge_pages() {
    // Reserve 2 MiB huge pages and mount hugetlbfs (tests run as root);
    // both are undone at the end.
    let nr = "/proc/sys/vm/nr_hugepages";
    let before: u64 = std::fs::read_to_string(nr).unwrap().trim().parse().unwrap();
    std::fs::write(nr, (before + 64).to_string()).expect("this test reserves huge pages and needs root");
    let dir = format!("/tmp/objstore-huge-{}-{:x}", std::process::id(), common::rand_u64());
    std::fs::create_dir_all(&dir).unwrap();
    struct Undo(String, u64);
    impl Drop for Undo {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir(&self.0);
            let _ = std::fs::write("/proc/sys/vm/nr_hugepages", self.1.to_string());
        }
    }
    let _undo = Undo(dir.clone(), before);
    let mounted = std::process::Command::new("mount")
        .args(["-t", "hugetlbfs", "-o", "pagesize=2M", "none", &dir])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(mounted, "cannot mount hugetlbfs");
    let path = format!("{dir}/store");
    // 5 MiB is not a whole number of huge pages: the store rounds it up.
    let s = Store::open(&path, &Options { capacity_bytes: 5 * MIB, max_objects: 1000, ..Options::default() }).unwrap();
    assert_eq!(s.stats().unwrap().capacity_bytes, 6 * MIB);
    let small = s.put(b"on huge pages").unwrap();
    let big = s.put(&pattern(3, 3 * MIB as usize)).unwrap();
    let other = Store::open(&path, &Options::default()).unwrap();
    assert_eq!(other.get(&small, None).unwrap().data(), b"on huge pages");
    let obj = other.get(&big, None).unwrap();
    assert_eq!(obj.data(), &pattern(3, 3 * MIB as usize)[..]);
    assert_eq!(obj.raw().data as usize % 64, 0);
    drop(obj);
    assert_consistent(&s);
    drop((s, other));
    Store::destroy(&path).unwrap();
}

#[test]
fn the_hugepages_flag_aligns_a_tmpfs_store() {
    let t = TempStore::new("hugeflag");
    let s = t.open(&Options { capacity_bytes: 3 * MIB, hugepages: true, ..Options::default() });
    assert_eq!(s.stats().unwrap().capacity_bytes, 4 * MIB);
    let id = s.put(&pattern(1, 2 * MIB as usize)).unwrap();
    assert_eq!(s.get(&id, None).unwrap().data(), &pattern(1, 2 * MIB as usize)[..]);
}

#[test]
fn gets_and_releases_leave_no_pin() {
    let t = TempStore::new("lingerpin");
    let s = t.open(&Options::default());
    let id = s.put(b"hello").unwrap();
    for _ in 0..3 {
        let r = s.get_raw(&id, Some(Duration::ZERO)).unwrap();
        assert_eq!(r.data_len, 5);
        assert_eq!(s.stats().unwrap().pinned_count, 1);
        s.release(&id).unwrap();
        assert_eq!(s.stats().unwrap().pinned_count, 0);
        assert!(s.pin_holders(&id).unwrap().is_empty());
    }
    s.delete(&id).unwrap();
    assert_eq!(s.stats().unwrap().used_bytes, 0);
}

/// SPEC: a million objects cost at most 128 bytes of metadata each, plus
/// alignment, with the default process limit (the file beyond the arena is
/// all metadata).
#[test]
fn metadata_per_object_slot_stays_within_128_bytes() {
    let t = TempStore::new("metadata");
    let capacity = 64 << 20;
    let objects = 1_000_000u64;
    let s = t.open(&Options { capacity_bytes: capacity, max_objects: objects, ..Options::default() });
    let file = std::fs::metadata(t.path()).unwrap().len();
    let per_object = (file - capacity) as f64 / objects as f64;
    assert!(per_object <= 128.0 + 0.5, "{per_object:.1} bytes of metadata per object slot");
    drop(s);
}
