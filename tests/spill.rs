//! Spilling under memory pressure: objects go to disk and come back
//! byte-for-byte, pinned objects stay in memory, a killed spiller loses
//! nothing, a damaged spill file is reported as CORRUPT, an unusable spill
//! directory or a full disk gives a clear status and loses nothing.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::child::{check_content, content_for, derived_id, kill_round, spawn_child, stress_rounds, ChildGuard};
use common::{assert_consistent, pattern, SpillDir, TempStore};
use objstore::{ErrorKind, ObjectId, ObjectState, Options, Store};

const MIB: u64 = 1 << 20;
const LONG: Duration = Duration::from_secs(60);

#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    common::child::run_child();
}

#[test]
fn a_64_mib_store_takes_256_mib_and_gives_every_byte_back() {
    let t = TempStore::new("spill256");
    let dir = SpillDir::new("256");
    let s = t.open_spilling(&dir, 64 * MIB);
    // Mixed sizes: small objects in slabs, large ones in page runs.
    let sizes = [100usize, 3000, 70_000, 300_000, 1_500_000, 4_000_000];
    let mut objects = vec![];
    let mut total = 0u64;
    let mut i = 0u64;
    while total < 256 * MIB {
        let len = sizes[i as usize % sizes.len()];
        let data = pattern(i, len);
        let id = s.put_with_meta(&data, &i.to_le_bytes()).unwrap_or_else(|e| panic!("put {i} ({len} bytes): {e}"));
        objects.push((id, i, len));
        total += len as u64;
        i += 1;
    }
    let st = s.stats().unwrap();
    assert!(st.spilled_count > 0 && st.spilled_bytes > 128 * MIB, "{st:?}");
    assert!(st.used_bytes <= 64 * MIB);
    assert_eq!(st.object_count, objects.len() as u64);
    assert!(!dir.files().is_empty());
    // Every byte comes back, in two passes (the first restores what the
    // second will find spilled again, and so on).
    for pass in 0..2 {
        for (id, seed, len) in &objects {
            let obj = s.get(id, Some(Duration::ZERO)).unwrap_or_else(|e| panic!("pass {pass}: get {id}: {e}"));
            assert_eq!(obj.data(), &pattern(*seed, *len)[..], "pass {pass}: object {seed}");
            assert_eq!(obj.meta(), &seed.to_le_bytes());
        }
    }
    assert_consistent(&s);
    let listed = s.list().unwrap();
    assert_eq!(listed.len(), objects.len());
    assert!(listed.iter().any(|o| o.state == ObjectState::Spilled));
    // Delete removes spill files too; the store ends empty.
    for (id, _, _) in &objects {
        s.delete(id).unwrap();
    }
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.spilled_count, st.used_bytes), (0, 0, 0), "{st:?}");
    assert_eq!(dir.files(), Vec::<String>::new());
}

#[test]
fn pinned_objects_are_never_spilled() {
    let t = TempStore::new("pinned");
    let dir = SpillDir::new("pinned");
    let s = t.open_spilling(&dir, 16 * MIB);
    let pinned: Vec<ObjectId> = (0..4).map(|n| derived_id(1, n)).collect();
    for id in &pinned {
        s.put_as(id, &content_for(id), b"").unwrap();
    }
    let views: Vec<_> = pinned.iter().map(|id| s.get_raw(id, None).unwrap()).collect();
    // Other processes fill the store far beyond its capacity.
    let mut kids: Vec<ChildGuard> =
        (0..2).map(|c| spawn_child("spill_churn", &[t.name.clone(), (10 + c).to_string(), c.to_string()])).collect();
    for k in &kids {
        k.wait_for("ready", LONG);
    }
    std::thread::sleep(Duration::from_millis(1500));
    for k in &mut kids {
        k.signal(libc::SIGKILL);
        k.wait_exit(LONG);
    }
    let spilled_before = s.stats().unwrap().spilled_count;
    assert!(spilled_before > 0, "the children did not make the store spill");
    // The pinned bytes never moved and never changed.
    for (id, v) in pinned.iter().zip(&views) {
        let bytes = unsafe { std::slice::from_raw_parts(v.data, v.data_len) };
        assert!(check_content(id, bytes));
        let info = s.list().unwrap().into_iter().find(|o| o.id == *id).unwrap();
        assert_eq!(info.state, ObjectState::Sealed);
        s.release(id).unwrap();
    }
    s.collect().unwrap();
    assert_consistent(&s);
}

#[test]
fn a_spilling_process_killed_again_and_again_loses_nothing() {
    let t = TempStore::new("killspill");
    let dir = SpillDir::new("kill");
    let s = t.open_spilling(&dir, 24 * MIB);
    let mut expected: HashSet<ObjectId> = HashSet::new();
    let mut rng = common::rand_u64() | 1;
    for round in 0..stress_rounds(10) {
        for ev in kill_round("spill_churn", &t.name, round * 2 + 1, 2, &mut rng, 100, 300) {
            expected.insert(ev[1..].parse().unwrap());
        }
        s.collect().unwrap();
        assert_consistent(&s);
    }
    assert!(s.stats().unwrap().spilled_count > 0);
    for id in &expected {
        let obj = s.get(id, Some(Duration::ZERO)).unwrap_or_else(|e| panic!("object {id} lost: {e}"));
        assert!(check_content(id, obj.data()), "object {id} corrupted");
    }
    s.collect().unwrap();
    assert_consistent(&s);
    // No file is left that no object owns.
    let spilled = s.list().unwrap().iter().filter(|o| o.state == ObjectState::Spilled).count();
    assert_eq!(dir.files().len(), spilled, "{:?}", dir.files());
}

/// Puts `n` objects of `len` bytes into a store too small for them all;
/// returns the IDs, the first ones spilled.
fn fill_past_capacity(s: &Store, n: u64, len: usize) -> Vec<ObjectId> {
    (0..n).map(|i| s.put(&pattern(i, len)).unwrap()).collect()
}

#[test]
fn a_damaged_spill_file_is_reported_as_corrupt() {
    let t = TempStore::new("corruptspill");
    let dir = SpillDir::new("corrupt");
    let s = t.open_spilling(&dir, 4 * MIB);
    let ids = fill_past_capacity(&s, 12, 1 << 20);
    let spilled: Vec<ObjectId> =
        s.list().unwrap().into_iter().filter(|o| o.state == ObjectState::Spilled).map(|o| o.id).collect();
    assert!(spilled.len() >= 4, "{spilled:?}");
    let file_of = |id: &ObjectId| {
        let hex = id.to_hex();
        let f = dir.files().into_iter().find(|f| f.starts_with(&hex)).expect("a spill file");
        format!("{}/{f}", dir.0)
    };
    use std::os::unix::fs::FileExt;
    // A flipped byte of data, a flipped header byte, a truncated file, no file.
    let f = std::fs::OpenOptions::new().write(true).read(true).open(file_of(&spilled[0])).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, 5000).unwrap();
    f.write_all_at(&[b[0] ^ 1], 5000).unwrap();
    let f = std::fs::OpenOptions::new().write(true).read(true).open(file_of(&spilled[1])).unwrap();
    f.write_all_at(b"X", 20).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(file_of(&spilled[2])).unwrap();
    f.set_len(1000).unwrap();
    std::fs::remove_file(file_of(&spilled[3])).unwrap();
    for id in &spilled[..4] {
        let e = s.get(id, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{id}: {e}");
        // Still there, still spilled: nothing was silently dropped.
        assert!(s.contains(id).unwrap());
    }
    // Others come back intact, and a damaged object can still be deleted.
    for (i, id) in ids.iter().enumerate() {
        if !spilled[..4].contains(id) {
            assert_eq!(s.get(id, None).unwrap().data(), &pattern(i as u64, 1 << 20)[..]);
        }
    }
    for id in &spilled[..4] {
        s.delete(id).unwrap();
    }
}

#[test]
fn an_unusable_spill_directory_gives_io_error_and_loses_nothing() {
    let t = TempStore::new("badspill");
    let dir = SpillDir::new("bad");
    let s = t.open_spilling(&dir, 4 * MIB);
    let ids: Vec<ObjectId> = (0..3).map(|i| s.put(&pattern(i, 1 << 20)).unwrap()).collect();
    // The directory disappears and a file takes its name.
    std::fs::remove_dir_all(&dir.0).unwrap();
    std::fs::write(&dir.0, b"not a directory").unwrap();
    let mut failure = None;
    for i in 3..10 {
        if let Err(e) = s.put(&pattern(i, 1 << 20)) {
            failure = Some(e);
            break;
        }
    }
    let e = failure.expect("a put needing a spill fails");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("spill"), "{e}");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(s.get(id, None).unwrap().data(), &pattern(i as u64, 1 << 20)[..]);
    }
    std::fs::remove_file(&dir.0).unwrap();
    assert_consistent(&s);
}

#[test]
fn a_spill_directory_without_write_permission_gives_io_error() {
    // The store is root's, open to all (0666); the spill directory is
    // read-only to everyone else; a process of another user runs out of room.
    let t = TempStore::new("rospill");
    let dir = SpillDir::new("ro");
    let s = t.open(&Options {
        capacity_bytes: 4 * MIB,
        spill_dir: Some(dir.0.clone().into()),
        mode: 0o666,
        ..Options::default()
    });
    let ids: Vec<ObjectId> = (0..3).map(|n| derived_id(5, n)).collect();
    for id in &ids {
        s.put_as(id, &content_for(id), b"").unwrap();
    }
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut child =
        spawn_child("put_as_nobody", &[vec![t.name.clone()], ids.iter().map(|i| i.to_hex()).collect()].concat());
    let failure = child.next_event(LONG).expect("the child reports");
    assert!(failure.starts_with("error Io") && failure.contains("spill"), "{failure}");
    assert_eq!(child.next_event(LONG).unwrap(), "intact 3");
    child.wait_exit(LONG);
    for id in &ids {
        assert!(check_content(id, s.get(id, None).unwrap().data()));
    }
}

#[test]
fn a_full_spill_disk_gives_out_of_memory_and_loses_nothing() {
    // A 2 MiB file system for the spill directory (tests run as root).
    let dir = SpillDir::new("full");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", &dir.0])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(mounted, "this test mounts a small tmpfs and needs root");
    struct Unmount<'a>(&'a str);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&dir.0);
    let t = TempStore::new("fullspill");
    let s = t.open_spilling(&dir, 4 * MIB);
    let mut ids = vec![];
    let e = loop {
        match s.put(&pattern(ids.len() as u64, 1 << 20)) {
            Ok(id) => ids.push(id),
            Err(e) => break e,
        }
        assert!(ids.len() < 100, "the spill disk never filled");
    };
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    assert!(e.message().contains("full"), "{e}");
    // Nothing is lost. Objects in memory read back at once; a spilled one
    // needs memory to come back, which (the disk being full) must first be
    // freed: until then its get says OUT_OF_MEMORY, and it stays stored.
    let spilled: HashSet<ObjectId> =
        s.list().unwrap().into_iter().filter(|o| o.state == ObjectState::Spilled).map(|o| o.id).collect();
    assert!(!spilled.is_empty());
    for (i, id) in ids.iter().enumerate() {
        assert!(s.contains(id).unwrap());
        if !spilled.contains(id) {
            assert_eq!(s.get(id, None).unwrap().data(), &pattern(i as u64, 1 << 20)[..], "object {i}");
        }
    }
    let e = s.get(spilled.iter().next().unwrap(), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    for id in ids.iter().filter(|id| !spilled.contains(id)) {
        s.delete(id).unwrap();
    }
    for (i, id) in ids.iter().enumerate().filter(|(_, id)| spilled.contains(id)) {
        assert_eq!(s.get(id, None).unwrap().data(), &pattern(i as u64, 1 << 20)[..], "object {i}");
    }
    assert_consistent(&s);
    drop(s);
}

#[test]
fn spill_files_go_with_restore_delete_and_destroy() {
    let t = TempStore::new("files");
    let dir = SpillDir::new("files");
    let s = t.open_spilling(&dir, 4 * MIB);
    let ids = fill_past_capacity(&s, 10, 1 << 20);
    let n_files = dir.files().len();
    assert!(n_files >= 5);
    // Restoring one spills another, but never leaves two files for one object.
    let _ = s.get(&ids[0], None).unwrap();
    let st = s.stats().unwrap();
    assert_eq!(dir.files().len() as u64, st.spilled_count);
    drop(s);
    Store::destroy(&t.name).unwrap();
    assert_eq!(dir.files(), Vec::<String>::new());
}

#[test]
fn an_attacher_must_use_the_same_spill_directory() {
    let t = TempStore::new("samedir");
    let dir = SpillDir::new("same");
    let other = SpillDir::new("other");
    let s = t.open_spilling(&dir, 4 * MIB);
    assert_eq!(s.spill_dir(), Some(std::path::Path::new(&dir.0)));
    let e =
        Store::open(&t.name, &Options { spill_dir: Some(other.0.clone().into()), ..Options::default() }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let same = Store::open(&t.name, &Options { spill_dir: Some(dir.0.clone().into()), ..Options::default() }).unwrap();
    assert_eq!(same.spill_dir(), Some(std::path::Path::new(&dir.0)));
}

fn state_of(s: &Store, id: &ObjectId) -> ObjectState {
    s.list().unwrap().into_iter().find(|o| o.id == *id).expect("listed").state
}

/// `contains` asks first where it found an ID the last time (a hint per
/// handle): the answer follows the object through a spill, a restore, a
/// delete by another handle, a put of the same ID again, and the deletion
/// of a spilled object.
#[test]
fn contains_follows_an_object_wherever_it_goes() {
    let t = TempStore::new("containshint");
    let dir = SpillDir::new("containshint");
    let s = t.open_spilling(&dir, 16 * MIB);
    let other = t.open_spilling(&dir, 16 * MIB);
    let id = ObjectId([0x3c; 20]);
    let data = pattern(1, 3 * MIB as usize);
    s.put_as(&id, &data, b"").unwrap();
    assert!(s.contains(&id).unwrap() && s.contains(&id).unwrap(), "present, asked twice");
    // Spilled: other objects push it out of memory; still present.
    let mut fillers = vec![];
    while state_of(&s, &id) != ObjectState::Spilled {
        fillers.push(s.put(&pattern(fillers.len() as u64 + 2, 3 * MIB as usize)).unwrap());
        assert!(fillers.len() < 64, "the object was never spilled");
    }
    assert!(s.contains(&id).unwrap(), "spilled is still present");
    // Restored (elsewhere in memory) by a get: present.
    assert_eq!(s.get(&id, Some(Duration::ZERO)).unwrap().data(), &data[..]);
    assert!(s.contains(&id).unwrap(), "restored");
    // Deleted by another handle: gone for this one too.
    other.delete(&id).unwrap();
    assert!(!s.contains(&id).unwrap(), "deleted by another handle");
    // Put again (by the other handle, wherever it lands): present.
    other.put_as(&id, b"again", b"").unwrap();
    assert!(s.contains(&id).unwrap(), "put again");
    // Another object in the slot the ID was found in is not the ID.
    other.delete(&id).unwrap();
    let mut seen = 0;
    for i in 0..32u64 {
        let f = other.put(&pattern(100 + i, 64)).unwrap();
        seen += usize::from(s.contains(&f).unwrap());
        assert!(!s.contains(&id).unwrap(), "an object in its old slot answers for another ID");
    }
    assert_eq!(seen, 32);
    // Spilled, then deleted while spilled: gone.
    other.put_as(&id, &data, b"").unwrap();
    assert!(s.contains(&id).unwrap());
    while state_of(&s, &id) != ObjectState::Spilled {
        fillers.push(s.put(&pattern(fillers.len() as u64 + 200, 3 * MIB as usize)).unwrap());
        assert!(fillers.len() < 128, "the object was never spilled again");
    }
    assert!(s.contains(&id).unwrap());
    other.delete(&id).unwrap();
    assert!(!s.contains(&id).unwrap(), "deleted while spilled");
    assert_consistent(&s);
}
