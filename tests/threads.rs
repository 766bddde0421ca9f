//! Many threads of one process on one store: handles are safe to share,
//! and threads putting, getting, deleting and spilling at once never see
//! wrong bytes. (ThreadSanitizer runs these: ci/sanitizers.sh.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use common::child::derived_id;
use common::{assert_consistent, pattern, SpillDir, TempStore};
use objstore::{ErrorKind, ObjectId, Options, Store};

const MIB: u64 = 1 << 20;

fn len_of(n: u64) -> usize {
    [10usize, 700, 5000, 70_000, 300_000, 1_000_000][(n % 6) as usize]
}

/// Each thread puts, reads back and deletes its own objects and reads the
/// others', through one shared handle or a handle of its own, in a store
/// small enough to spill.
fn churn(shared: bool) {
    let t = TempStore::new(if shared { "threads-shared" } else { "threads-own" });
    let dir = SpillDir::new("threads");
    let opts = Options { capacity_bytes: 12 * MIB, spill_dir: Some(dir.path().into()), ..Options::default() };
    let s = t.open(&opts);
    let threads = 4u32;
    let rounds = 150u64;
    std::thread::scope(|scope| {
        for th in 0..threads {
            let (s, t, opts) = (&s, &t, &opts);
            scope.spawn(move || {
                let own;
                let h: &Store = if shared {
                    s
                } else {
                    own = Store::open(&t.name, opts).unwrap();
                    &own
                };
                let mut live: Vec<(ObjectId, u64)> = vec![];
                for n in 0..rounds {
                    let id = derived_id(th, n);
                    let seed = (th as u64) << 32 | n;
                    if n % 3 == 0 {
                        let mut c = h.create(&id, len_of(n), b"t").unwrap();
                        c.data_mut().copy_from_slice(&pattern(seed, len_of(n)));
                        c.seal().unwrap();
                    } else {
                        h.put_as(&id, &pattern(seed, len_of(n)), b"t").unwrap();
                    }
                    live.push((id, n));
                    let (rid, rn) = live[(n as usize * 7) % live.len()];
                    let obj = h.get(&rid, Some(Duration::ZERO)).unwrap();
                    assert_eq!(obj.data(), &pattern((th as u64) << 32 | rn, len_of(rn))[..]);
                    drop(obj);
                    // Someone else's object: intact if there.
                    let other = (th + 1) % threads;
                    let oid = derived_id(other, n / 2);
                    match h.get(&oid, Some(Duration::ZERO)) {
                        Ok(o) => assert_eq!(o.data(), &pattern(((other as u64) << 32) | (n / 2), len_of(n / 2))[..]),
                        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
                    }
                    if live.len() > 20 {
                        let (did, _) = live.remove(0);
                        h.delete(&did).unwrap();
                    }
                }
            });
        }
    });
    assert!(s.stats().unwrap().spills_total > 0);
    assert_consistent(&s);
}

#[test]
fn threads_share_one_handle() {
    churn(true);
}

#[test]
fn threads_with_handles_of_their_own() {
    churn(false);
}

/// Threads pin and release one hot object while others delete and re-put
/// its ID: a pinned view never changes under its holder.
#[test]
fn pins_of_a_hot_object_against_delete_and_reput() {
    let t = TempStore::new("hot");
    let s = t.open(&TempStore::options(8 * MIB));
    let id = ObjectId([7; 20]);
    s.put_as(&id, &pattern(0, 4096), b"0").unwrap();
    let stop = AtomicBool::new(false);
    let start = Barrier::new(4);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(obj) = s.get(&id, Some(Duration::ZERO)) {
                        let gen = obj.meta()[0] - b'0';
                        let first = obj.data().to_vec();
                        assert_eq!(first, pattern(gen as u64, 4096));
                        std::thread::yield_now();
                        assert_eq!(obj.data(), &first[..], "a pinned object changed");
                    }
                }
            });
        }
        start.wait();
        for round in 1..400u64 {
            let gen = round % 10;
            let _ = s.delete(&id);
            // The ID is reserved until the last pin goes: retry until free.
            while let Err(e) = s.put_as(&id, &pattern(gen, 4096), &[b'0' + gen as u8]) {
                assert_eq!(e.kind(), ErrorKind::AlreadyExists);
                std::thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_consistent(&s);
}

/// Gets and get_many waiting in some threads are woken by puts in others.
#[test]
fn waiting_threads_are_woken_by_puts_in_others() {
    let t = TempStore::new("waiters");
    let s = t.open(&TempStore::options(8 * MIB));
    let ids: Vec<ObjectId> = (0..16).map(|n| derived_id(50, n)).collect();
    std::thread::scope(|scope| {
        for chunk in ids.chunks(4) {
            let s = &s;
            scope.spawn(move || {
                for id in chunk {
                    let obj = s.get(id, Some(Duration::from_secs(30))).unwrap();
                    assert_eq!(obj.data(), id.0.as_slice());
                }
            });
        }
        let s = &s;
        let all = &ids;
        scope.spawn(move || {
            let mut out = vec![None; all.len()];
            s.get_many_raw(all, Some(Duration::from_secs(30)), &mut out).unwrap();
            for id in all {
                s.release(id).unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        for id in &ids {
            s.put_as(id, &id.0, b"").unwrap();
        }
    });
    assert_eq!(s.stats().unwrap().pinned_count, 0);
}

/// Threads sharing one handle get and release 200 objects at random, up to
/// four held at a time — more objects than the handle remembers, so its
/// recent-object slots are shared by several IDs and rewritten under the
/// threads reading them, and more than a process's linger entries hold, so
/// pins also go through the masks — while another thread deletes and puts
/// again some of them. Every get returns its ID's bytes, and at the end
/// nothing is pinned.
#[test]
fn threads_get_and_release_more_objects_than_a_handle_remembers() {
    let t = TempStore::new("recent-slots");
    let s = t.open(&TempStore::options(16 * MIB));
    let ids: Vec<ObjectId> = (0..200).map(|n| derived_id(60, n)).collect();
    let bytes = |n: usize| pattern(n as u64, 100 + n);
    for (n, id) in ids.iter().enumerate() {
        s.put_as(id, &bytes(n), b"").unwrap();
    }
    let rounds = if cfg!(miri) { 200 } else { 200_000 };
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..3u64)
            .map(|th| {
                let (s, ids) = (&s, &ids);
                scope.spawn(move || {
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ th;
                    let mut held = Vec::new();
                    for _ in 0..rounds {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let n = (x % ids.len() as u64) as usize;
                        match s.get(&ids[n], Some(Duration::ZERO)) {
                            Ok(obj) => {
                                assert_eq!(obj.data(), &bytes(n)[..], "object {n}");
                                held.push(obj);
                            }
                            Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
                        }
                        if held.len() > (x >> 32) as usize % 5 {
                            held.swap_remove((x >> 40) as usize % held.len());
                        }
                    }
                })
            })
            .collect();
        let (s, ids, done) = (&s, &ids, &done);
        scope.spawn(move || {
            let mut round = 0usize;
            while !done.load(Ordering::Relaxed) {
                let n = round % 20;
                round += 1;
                let _ = s.delete(&ids[n]);
                // The ID is reserved until the last pin goes; once the
                // readers are done, nothing pins it.
                loop {
                    let readers_done = done.load(Ordering::SeqCst);
                    match s.put_as(&ids[n], &bytes(n), b"") {
                        Ok(()) => break,
                        Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}"),
                    }
                    assert!(!readers_done, "object {n} stayed pinned after its readers released it");
                    std::thread::yield_now();
                }
            }
        });
        for r in readers {
            r.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
    });
    let stats = s.stats().unwrap();
    assert_eq!((stats.object_count, stats.pinned_count), (200, 0));
    for id in &ids {
        s.delete(id).unwrap();
    }
    let stats = s.stats().unwrap();
    assert_eq!((stats.object_count, stats.used_bytes), (0, 0), "every object freed by its delete");
    assert_consistent(&s);
}
