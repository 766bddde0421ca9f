//! Many processes on one store: concurrent puts and gets, waiting across
//! processes, and processes killed (SIGKILL) or stopped (SIGSTOP) at any
//! point, with the store checked afterwards: bytes conserved, no pins of the
//! dead, every remaining object intact.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::child::{check_content, content_for, derived_id, kill_round, spawn_child, stress_rounds, ChildGuard};
use common::{assert_consistent, TempStore};
use objstore::{ErrorKind, ObjectId, Options, Store};

const MIB: u64 = 1 << 20;
const LONG: Duration = Duration::from_secs(60);

#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    common::child::run_child();
}

/// Every sealed object in the store holds exactly the bytes its ID implies.
fn check_every_object(s: &Store) -> usize {
    let mut n = 0;
    for info in s.list().unwrap() {
        if info.state != objstore::ObjectState::Sealed {
            continue;
        }
        let obj = s.get(&info.id, Some(Duration::ZERO)).unwrap();
        assert!(check_content(&info.id, obj.data()), "object {} corrupted", info.id);
        n += 1;
    }
    n
}

#[test]
fn many_processes_put_and_get_each_others_objects() {
    let t = TempStore::new("many");
    let s = t.open(&TempStore::options(512 * MIB));
    let children = 6;
    let count = 60;
    let mut kids: Vec<ChildGuard> = (0..children)
        .map(|c| spawn_child("putget", &[t.name.clone(), c.to_string(), children.to_string(), count.to_string()]))
        .collect();
    for k in &mut kids {
        k.wait_for("done", LONG);
        assert!(k.wait_exit(LONG).success());
    }
    assert_eq!(check_every_object(&s), (children * count) as usize);
    let st = s.stats().unwrap();
    assert_eq!(st.object_count, children * count);
    assert_eq!(st.pinned_count, 0);
    assert_eq!(st.attached_processes, 1);
    assert_consistent(&s);
}

#[test]
fn sigkill_at_random_points_loses_nothing_and_leaks_nothing() {
    let t = TempStore::new("kill");
    let s = t.open(&Options { capacity_bytes: 96 * MIB, max_objects: 4096, ..Options::default() });
    let mut expected: HashSet<ObjectId> = HashSet::new();
    let mut maybe: HashSet<ObjectId> = HashSet::new();
    let mut rng = common::rand_u64() | 1;
    for round in 0..stress_rounds(12) {
        // A "-" means a delete started: the object may or may not remain.
        for ev in kill_round("churn", &t.name, round * 3 + 1, 3, &mut rng, 30, 150) {
            let id: ObjectId = ev[1..].parse().unwrap();
            if ev.starts_with('+') {
                expected.insert(id);
            } else {
                expected.remove(&id);
                maybe.insert(id);
            }
        }
        // Every killed child is reclaimed: by this collect, or by a sibling
        // that ran out of room before it was killed (an allocation that
        // finds the store full reclaims the dead first).
        let r = s.collect().unwrap();
        let reclaimed = s.stats().unwrap().reclaimed_processes;
        assert_eq!(reclaimed, 3 * (round as u64 + 1), "every killed child is reclaimed (this collect: {r:?})");
        assert_eq!(s.stats().unwrap().attached_processes, 1, "only this process is attached");
        assert_consistent(&s);
    }
    assert!(expected.len() > 10, "the children stored too little: {}", expected.len());
    for id in &expected {
        assert!(s.contains(id).unwrap(), "object {id} was lost");
    }
    let st = s.stats().unwrap();
    assert_eq!((st.pinned_count, st.unsealed_count), (0, 0), "{st:?}");
    let present = check_every_object(&s);
    assert!(present >= expected.len() && present <= expected.len() + maybe.len());
    // Bytes conserved: deleting everything gives every byte back.
    for info in s.list().unwrap() {
        // (A deleted object whose deleter or last reader was killed before
        // the free used to stay listed, DELETED and unpinned, about once in
        // 25 runs: the reclaim now finishes that free.)
        s.delete(&info.id).unwrap_or_else(|e| panic!("delete of a listed object {info:?}: {e}"));
    }
    let st = s.stats().unwrap();
    assert_eq!((st.used_bytes, st.object_count), (0, 0), "{st:?}");
    assert_consistent(&s);
    // And the whole store can be filled again with one large object.
    let big = vec![3u8; 90 * MIB as usize];
    let id = s.put(&big).unwrap();
    assert_eq!(s.get(&id, None).unwrap().data().len(), big.len());
}

#[test]
fn a_killed_process_pins_and_unsealed_objects_are_reclaimed() {
    let t = TempStore::new("holder");
    let s = t.open(&TempStore::options(64 * MIB));
    let ids: Vec<ObjectId> = (0..3).map(|n| derived_id(1, n)).collect();
    for id in &ids {
        s.put_as(id, &common::child::content_for(id), b"").unwrap();
    }
    let used_before = s.stats().unwrap().used_bytes;
    let mut holder = spawn_child("hold", &[vec![t.name.clone()], ids.iter().map(|i| i.to_hex()).collect()].concat());
    holder.wait_for("ready", LONG);
    let st = s.stats().unwrap();
    assert_eq!((st.pinned_count, st.unsealed_count, st.attached_processes), (3, 1, 2));
    // Deleting a pinned object is deferred.
    s.delete(&ids[0]).unwrap();
    assert!(!s.contains(&ids[0]).unwrap());
    assert!(s.stats().unwrap().used_bytes > used_before);
    holder.signal(libc::SIGKILL);
    holder.wait_exit(LONG);
    let r = s.collect().unwrap();
    assert_eq!((r.processes, r.pins, r.unsealed_objects, r.deleted_objects_freed), (1, 3, 1, 1), "{r:?}");
    let st = s.stats().unwrap();
    assert_eq!((st.pinned_count, st.unsealed_count, st.attached_processes), (0, 0, 1));
    assert!(st.used_bytes < used_before, "the deleted object's memory is freed");
    assert_eq!(st.reclaimed_processes, 1);
    // The half-written object's ID is free again; the others are intact.
    s.put_as(&ObjectId([0xa5; 20]), b"whole", b"").unwrap();
    for id in &ids[1..] {
        assert!(check_content(id, s.get(id, None).unwrap().data()));
    }
    assert_eq!(s.collect().unwrap().processes, 0, "reclaim happens once");
    assert_consistent(&s);
}

#[test]
fn a_stopped_process_keeps_its_pins() {
    let t = TempStore::new("stopped");
    let s = t.open(&TempStore::options(64 * MIB));
    let id = derived_id(2, 0);
    s.put_as(&id, &common::child::content_for(&id), b"").unwrap();
    let mut holder = spawn_child("hold", &[t.name.clone(), id.to_hex()]);
    holder.wait_for("ready", LONG);
    holder.signal(libc::SIGSTOP);
    s.delete(&id).unwrap();
    let used = s.stats().unwrap().used_bytes;
    // A stopped process is alive: nothing is reclaimed, its pin holds, and
    // the store goes on working around it.
    assert_eq!(s.collect().unwrap().processes, 0);
    let st = s.stats().unwrap();
    assert_eq!((st.pinned_count, st.attached_processes, st.used_bytes), (1, 2, used));
    let other = s.put(&vec![1u8; 4 * MIB as usize]).unwrap();
    s.delete(&other).unwrap();
    // Others attaching do not reclaim it either.
    let mut prober = spawn_child("stats", std::slice::from_ref(&t.name));
    assert_eq!(prober.next_event(LONG).unwrap(), "stats 1 1 0 3");
    prober.wait_exit(LONG);
    holder.signal(libc::SIGCONT);
    holder.signal(libc::SIGKILL);
    holder.wait_exit(LONG);
    assert_eq!(s.collect().unwrap().processes, 1);
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert_consistent(&s);
}

#[test]
fn the_next_attach_reclaims_a_dead_process() {
    let t = TempStore::new("attach");
    let s = t.open(&TempStore::options(64 * MIB));
    let id = derived_id(3, 0);
    s.put_as(&id, &common::child::content_for(&id), b"").unwrap();
    let mut holder = spawn_child("hold", &[t.name.clone(), id.to_hex()]);
    holder.wait_for("ready", LONG);
    holder.signal(libc::SIGKILL);
    holder.wait_exit(LONG);
    // A new process attaching cleans up before it reports.
    let mut prober = spawn_child("stats", std::slice::from_ref(&t.name));
    assert_eq!(prober.next_event(LONG).unwrap(), "stats 0 0 1 2");
    prober.wait_exit(LONG);
    assert_eq!(s.stats().unwrap().reclaimed_processes, 1);
}

#[test]
fn a_consumer_waiting_in_get_is_woken_by_a_producer_in_another_process() {
    let t = TempStore::new("wake");
    let s = t.open(&TempStore::options(64 * MIB));
    let id = derived_id(4, 0);
    let mut waiter = spawn_child("wait", &[t.name.clone(), id.to_hex(), "60000".into()]);
    waiter.wait_for("waiting", LONG);
    std::thread::sleep(Duration::from_millis(100));
    let data = common::child::content_for(&id);
    let start = Instant::now();
    s.put_as(&id, &data, b"").unwrap();
    assert_eq!(waiter.next_event(LONG).unwrap(), format!("got {}", data.len()));
    assert!(waiter.wait_exit(LONG).success());
    // It was woken, not found by the 100 ms polling backstop alone.
    eprintln!("woken after {:?}", start.elapsed());

    let mut waiter = spawn_child("wait", &[t.name.clone(), ObjectId([1; 20]).to_hex(), "100".into()]);
    assert_eq!(waiter.wait_for("error Timeout", LONG).len(), 1);
    waiter.wait_exit(LONG);
}

#[test]
fn a_process_waiting_here_is_woken_by_a_put_from_another_process() {
    let t = TempStore::new("wake2");
    let s = t.open(&TempStore::options(64 * MIB));
    let id = derived_id(0, 0);
    std::thread::scope(|sc| {
        let h = sc.spawn(|| s.get(&id, Some(LONG)).map(|o| o.data().len()));
        std::thread::sleep(Duration::from_millis(50));
        let mut producer = spawn_child("putget", &[t.name.clone(), "0".into(), "1".into(), "1".into()]);
        producer.wait_for("done", LONG);
        assert!(producer.wait_exit(LONG).success());
        assert_eq!(h.join().unwrap().unwrap(), common::child::content_for(&id).len());
    });
}

#[test]
fn process_slots_are_limited_and_freed_by_death() {
    let t = TempStore::new("slots");
    let s = t.open(&Options { capacity_bytes: 16 * MIB, max_processes: 2, ..Options::default() });
    let id = derived_id(5, 0);
    s.put_as(&id, b"x", b"").unwrap();
    let mut holder = spawn_child("hold", &[t.name.clone(), id.to_hex()]);
    holder.wait_for("ready", LONG);
    let mut third = spawn_child("attach", std::slice::from_ref(&t.name));
    assert_eq!(third.next_event(LONG).unwrap(), format!("error {:?}", ErrorKind::TooManyProcesses));
    third.wait_exit(LONG);
    holder.signal(libc::SIGKILL);
    holder.wait_exit(LONG);
    let mut third = spawn_child("attach", std::slice::from_ref(&t.name));
    assert_eq!(third.next_event(LONG).unwrap(), "attached");
    third.wait_exit(LONG);
    assert_eq!(s.stats().unwrap().pinned_count, 0);
}

#[test]
fn a_waiter_killed_while_waiting_is_forgotten() {
    let t = TempStore::new("deadwaiter");
    let s = t.open(&TempStore::options(16 * MIB));
    let id = derived_id(6, 0);
    let mut waiter = spawn_child("wait", &[t.name.clone(), id.to_hex(), "600000".into()]);
    waiter.wait_for("waiting", LONG);
    std::thread::sleep(Duration::from_millis(50));
    waiter.signal(libc::SIGKILL);
    waiter.wait_exit(LONG);
    // Its mark as a waiter goes with the rest of what it held.
    assert_eq!(s.collect().unwrap().processes, 1);
    assert_consistent(&s);
    s.put_as(&id, b"nobody waits now", b"").unwrap();
    assert_consistent(&s);
}

/// Waiters of many objects in this process (a wait for all 120 and a
/// get_many of all 120, both on the store-wide word and its seal log)
/// while child processes put those objects in turn and are SIGKILLed at
/// random, anywhere in a put, its seal or its log entry; each dead one is
/// collected and another started, until the last finishes them. Both
/// waiters return with all 120, each object's bytes right.
#[test]
fn waiters_of_many_outlast_sealers_killed_at_random() {
    const N: u64 = 120;
    let t = TempStore::new("mp-wait-kill");
    let s = t.open(&TempStore::options(256 << 20));
    let ids: Vec<ObjectId> = (0..N).map(|n| derived_id(0, n)).collect();
    let ready = std::thread::scope(|sc| {
        let many = sc.spawn(|| {
            let mut out = vec![None; ids.len()];
            s.get_many_raw(&ids, Some(Duration::from_secs(120)), &mut out).unwrap();
            for (id, o) in ids.iter().zip(&out) {
                assert_eq!(o.as_ref().unwrap().data_len, content_for(id).len());
                s.release(id).unwrap();
            }
        });
        let waiter = sc.spawn(|| {
            let mut ready = vec![false; ids.len()];
            assert_eq!(s.wait(&ids, ids.len(), Some(Duration::from_secs(120)), None, &mut ready), Ok(ids.len()));
            ready
        });
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for round in 0..8u64 {
            let mut c = spawn_child("put_in_turn", &[t.name.clone(), N.to_string(), (round * 7919 + 1).to_string()]);
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            std::thread::sleep(Duration::from_millis(5 + rng % 30));
            c.signal(libc::SIGKILL);
            c.wait_exit(Duration::from_secs(30));
            s.collect().unwrap();
        }
        // How far the killed ones got (a timing, so only reported).
        let present = ids.iter().filter(|id| s.contains(id).unwrap()).count();
        eprintln!("{present} of {N} objects put by the 8 children killed");
        let last = spawn_child("put_in_turn", &[t.name.clone(), N.to_string(), "99".into()]);
        let events = last.wait_for("done", Duration::from_secs(60));
        assert!(events.iter().all(|e| !e.starts_with('!')), "{events:?}");
        many.join().unwrap();
        waiter.join().unwrap()
    });
    assert!(ready.iter().all(|&r| r));
    for id in &ids {
        assert!(check_content(id, s.get(id, Some(Duration::ZERO)).unwrap().data()));
    }
    assert_eq!(s.stats().unwrap().pinned_count, 0);
    assert_consistent(&s);
}
