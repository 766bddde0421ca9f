//! Kept blocks: a deleted small object's descriptor keeps its slab block
//! for the next put of the same size class, which writes into it without
//! the allocator. The block belongs to nobody visible: stats count no
//! bytes for it, the store checks consistent, and an allocation that needs
//! the memory takes it back, whichever process kept it (alive, stopped,
//! gone).

mod common;

use std::time::Duration;

use common::child::spawn_child_with_stdin;
use common::{assert_consistent, pattern, TempStore};
use objstore::{ErrorKind, Options};

const MIB: u64 = 1 << 20;
const LONG: Duration = Duration::from_secs(60);

#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    common::child::run_child();
}

/// A put after a delete of an object of the same class lands in the block
/// the deleted object had; one of another class does not, and frees it.
/// Every object reads back its own bytes, and nothing is counted after.
#[test]
fn a_put_after_a_delete_of_its_class_reuses_the_block() {
    let t = TempStore::new("keptreuse");
    let s = t.open(&TempStore::options(64 * MIB));
    let first = s.put(&pattern(1, 1000)).unwrap();
    let at = s.get(&first, None).unwrap().raw().data;
    s.delete(&first).unwrap();
    assert_eq!(s.stats().unwrap().used_bytes, 0, "a kept block counts for nobody");
    assert_consistent(&s);

    let second = s.put(&pattern(2, 990)).unwrap();
    let obj = s.get(&second, None).unwrap();
    assert_eq!(obj.raw().data, at, "the same class: the kept block");
    assert_eq!(obj.data(), &pattern(2, 990)[..]);
    drop(obj);
    s.delete(&second).unwrap();

    // Another class: the kept block is freed, the object goes elsewhere.
    let third = s.put_with_meta(&pattern(3, 40_000), b"meta").unwrap();
    let obj = s.get(&third, None).unwrap();
    assert_ne!(obj.raw().data, at);
    assert_eq!((obj.data(), obj.meta()), (&pattern(3, 40_000)[..], &b"meta"[..]));
    drop(obj);
    assert_consistent(&s);
    s.delete(&third).unwrap();

    // Metadata changes the footprint, not the reuse: same class, same block.
    let fourth = s.put_with_meta(&pattern(4, 39_000), &[9u8; 100]).unwrap();
    let at4 = s.get(&fourth, None).unwrap().raw().data;
    s.delete(&fourth).unwrap();
    let fifth = s.put(&pattern(5, 39_500)).unwrap();
    let obj = s.get(&fifth, None).unwrap();
    assert_eq!(obj.raw().data, at4);
    assert_eq!((obj.data(), obj.meta()), (&pattern(5, 39_500)[..], &b""[..]));
    drop(obj);
    s.delete(&fifth).unwrap();

    // A put of another class leaves a kept block for a later put of its own.
    let small = s.put(&pattern(8, 64)).unwrap();
    let at_small = s.get(&small, None).unwrap().raw().data;
    s.delete(&small).unwrap();
    let other_class = s.put(&pattern(9, 3000)).unwrap();
    assert_ne!(s.get(&other_class, None).unwrap().raw().data, at_small);
    let small_again = s.put(&pattern(10, 60)).unwrap();
    assert_eq!(s.get(&small_again, None).unwrap().raw().data, at_small, "kept through a put of another class");
    assert_eq!(s.get(&small_again, None).unwrap().data(), &pattern(10, 60)[..]);
    s.delete(&other_class).unwrap();
    s.delete(&small_again).unwrap();

    // The process remembers which descriptors it freed with a block: a put
    // finds one even when its search for free descriptors has moved on.
    let early = s.put(&pattern(6, 500)).unwrap();
    let at6 = s.get(&early, None).unwrap().raw().data;
    let later: Vec<_> = (0..300).map(|i| s.put(&pattern(100 + i, 64)).unwrap()).collect();
    s.delete(&early).unwrap();
    let again = s.put(&pattern(7, 510)).unwrap();
    assert_eq!(s.get(&again, None).unwrap().raw().data, at6);
    s.delete(&again).unwrap();
    for id in &later {
        s.delete(id).unwrap();
    }
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.unsealed_count, st.used_bytes), (0, 0, 0));
    assert_consistent(&s);
}

/// The same with handles of two processes' worth of threads: a put by
/// another handle of the process reuses the block too, and an object is
/// never given a block another object holds (checked by their bytes).
#[test]
fn threads_churning_small_objects_never_share_a_block() {
    let t = TempStore::new("keptthreads");
    let s = t.open(&TempStore::options(64 * MIB));
    std::thread::scope(|scope| {
        for th in 0..4u64 {
            let s = &s;
            scope.spawn(move || {
                for i in 0..2_000u64 {
                    let held: Vec<_> = (0..3u64)
                        .map(|k| {
                            let seed = th << 40 | i << 8 | k;
                            (s.put(&pattern(seed, 100 + (seed % 900) as usize)).unwrap(), seed)
                        })
                        .collect();
                    for (id, seed) in &held {
                        let obj = s.get(id, None).unwrap();
                        assert_eq!(obj.data(), &pattern(*seed, 100 + (*seed % 900) as usize)[..]);
                    }
                    for (id, _) in held {
                        s.delete(&id).unwrap();
                    }
                }
            });
        }
    });
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes), (0, 0));
    assert_consistent(&s);
}

/// Blocks kept by other processes (one alive and stopped, one gone) and by
/// this one do not keep a put that needs the whole arena out: it takes
/// them back to their slabs and the slabs back to the page pool.
#[test]
fn a_put_of_the_whole_arena_takes_back_every_kept_block() {
    let t = TempStore::new("keptwhole");
    let capacity = 8 * MIB;
    let s = t.open(&Options { capacity_bytes: capacity, ..Options::default() });
    // Small objects of several classes, each class's slab held by one.
    let sizes: Vec<String> = [64usize, 700, 3000, 20_000, 100_000].iter().map(|n| n.to_string()).collect();
    let mut args = vec![t.name.clone()];
    args.extend(sizes.iter().cloned());
    let mut gone = spawn_child_with_stdin("put_and_delete", &args);
    gone.wait_for("deleted", LONG);
    assert!(gone.send_line("exit"));
    assert!(gone.wait_exit(LONG).success());
    let stopped = spawn_child_with_stdin("put_and_delete", &args);
    stopped.wait_for("deleted", LONG);
    stopped.stop();
    for n in [64usize, 700, 3000, 20_000, 100_000] {
        let id = s.put(&vec![1u8; n]).unwrap();
        s.delete(&id).unwrap();
    }
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert_consistent(&s);
    let whole = s.put(&pattern(7, capacity as usize)).unwrap();
    assert_eq!(s.get(&whole, None).unwrap().data(), &pattern(7, capacity as usize)[..]);
    assert_eq!(s.put(&[1u8; 64]).unwrap_err().kind(), ErrorKind::OutOfMemory, "full");
    s.delete(&whole).unwrap();
    // And small objects again after it.
    let small = s.put(&pattern(8, 700)).unwrap();
    assert_eq!(s.get(&small, None).unwrap().data(), &pattern(8, 700)[..]);
    assert_consistent(&s);
}

/// A restore from a spill file takes a kept block as a put does: the
/// restored object reads back its own bytes from the block a deleted
/// object of its class had.
#[test]
fn a_restore_reuses_a_kept_block() {
    let t = TempStore::new("keptrestore");
    let dir = common::SpillDir::new("keptrestore");
    let s = t.open_spilling(&dir, 4 * MIB);
    let id = s.put(&pattern(1, 1000)).unwrap();
    let mut fillers = vec![];
    while s.list().unwrap().iter().find(|o| o.id == id).unwrap().state != objstore::ObjectState::Spilled {
        for _ in 0..1024 {
            fillers.push(s.put(&pattern(fillers.len() as u64 + 2, 1000)).unwrap());
        }
        assert!(fillers.len() < 64 << 10, "never spilled");
    }
    for f in fillers.drain(..) {
        s.delete(&f).unwrap();
    }
    let other = s.put(&pattern(99, 1000)).unwrap();
    let at = s.get(&other, None).unwrap().raw().data;
    s.delete(&other).unwrap();
    let obj = s.get(&id, Some(Duration::ZERO)).unwrap();
    assert_eq!(obj.raw().data, at, "restored into the kept block");
    assert_eq!(obj.data(), &pattern(1, 1000)[..]);
    drop(obj);
    s.delete(&id).unwrap();
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert_consistent(&s);
}

/// Making room for an object empties a slab that only kept blocks hold
/// (those of a stopped process, which owns the slab) at no cost, rather
/// than spilling an object: the store fills up to its capacity without a
/// spill.
#[test]
fn making_room_takes_back_kept_blocks_before_spilling() {
    let t = TempStore::new("keptroom");
    let dir = common::SpillDir::new("keptroom");
    let capacity = 8 * MIB;
    let s = t.open_spilling(&dir, capacity);
    // A slab of eight 224 KiB blocks (1.8 MiB), all kept by a process now
    // stopped.
    let mut args = vec![t.name.clone()];
    args.extend(std::iter::repeat_n((200 << 10).to_string(), 8));
    let stopped = spawn_child_with_stdin("put_and_delete", &args);
    stopped.wait_for("deleted", LONG);
    stopped.stop();
    // Seven objects of 1 MiB fit only if the slab goes: 7 + 1.8 > 8 MiB.
    let len = MIB as usize - 4096;
    let ids: Vec<_> = (0..7).map(|i| s.put(&pattern(i, len)).unwrap()).collect();
    let st = s.stats().unwrap();
    assert_eq!((st.spills_total, st.object_count, st.spilled_count), (0, 7, 0), "room made from the kept blocks");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(s.get(id, None).unwrap().data(), &pattern(i as u64, len)[..]);
    }
    // One more spills one (the store is full of objects now).
    s.put(&pattern(7, len)).unwrap();
    assert_eq!(s.stats().unwrap().spills_total, 1);
    assert_consistent(&s);
}
