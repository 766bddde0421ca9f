//! Waiting for several objects (`Store::wait`, Ray's `ray.wait`: n of m,
//! no pins) and cancelling blocked waits from another thread (`Canceller`).

mod common;

use std::time::{Duration, Instant};

use common::{assert_consistent, TempStore};
use objstore::{Canceller, ErrorKind, ObjectId};

#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    common::child::run_child();
}

fn ids(n: u8) -> Vec<ObjectId> {
    (0..n).map(|i| ObjectId([0x40 + i; 20])).collect()
}

#[test]
fn wait_returns_as_objects_are_sealed_and_takes_no_pins() {
    let t = TempStore::new("wait-n-of-m");
    let s = t.open(&TempStore::options(16 << 20));
    let ids = ids(5);
    let mut ready = [false; 5];
    std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            s.put_as(&ids[2], b"two", b"").unwrap();
        });
        assert_eq!(s.wait(&ids, 1, Some(Duration::from_secs(30)), None, &mut ready), Ok(1));
    });
    assert_eq!(ready, [false, false, true, false, false]);
    s.put_as(&ids[4], b"four", b"").unwrap();
    assert_eq!(s.wait(&ids, 2, Some(Duration::ZERO), None, &mut ready), Ok(2));
    assert_eq!(ready, [false, false, true, false, true]);
    // Only as many as asked for are looked for.
    assert_eq!(s.wait(&ids, 1, None, None, &mut ready), Ok(1));
    assert_eq!(ready.iter().filter(|&&r| r).count(), 1);
    // No pins: a delete frees the object at once.
    let st = s.stats().unwrap();
    assert_eq!(st.pinned_count, 0);
    s.delete(&ids[2]).unwrap();
    s.delete(&ids[4]).unwrap();
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert_consistent(&s);
}

#[test]
fn wait_times_out_with_what_is_ready() {
    let t = TempStore::new("wait-timeout");
    let s = t.open(&TempStore::options(16 << 20));
    let ids = ids(3);
    s.put_as(&ids[1], b"one", b"").unwrap();
    let mut ready = [false; 3];
    let e = s.wait(&ids, 2, Some(Duration::ZERO), None, &mut ready).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(ready, [false, true, false], "ready says which, whatever the outcome");
    let start = Instant::now();
    let e = s.wait(&ids, 2, Some(Duration::from_millis(60)), None, &mut ready).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert_eq!(s.wait(&ids, 0, None, None, &mut ready), Ok(0));
    assert_eq!(s.wait(&ids, 4, None, None, &mut ready).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(s.wait(&ids, 1, None, None, &mut [false; 2]).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

/// Cancels `c` after `after`; returns how long the waiter took to return
/// after the cancel, as measured by `f`.
fn cancelled_within(after: Duration, c: &Canceller, f: impl FnOnce() -> ErrorKind + Send) -> Duration {
    std::thread::scope(|sc| {
        let waiter = sc.spawn(move || {
            let kind = f();
            (kind, Instant::now())
        });
        std::thread::sleep(after);
        let at = Instant::now();
        c.cancel();
        let (kind, returned) = waiter.join().unwrap();
        assert_eq!(kind, ErrorKind::Cancelled);
        returned.saturating_duration_since(at)
    })
}

#[test]
fn a_blocked_get_get_many_or_wait_is_cancelled_from_another_thread() {
    let t = TempStore::new("wait-cancel");
    let s = t.open(&TempStore::options(16 << 20));
    let ids = ids(3);
    let c = Canceller::new();
    let get =
        cancelled_within(Duration::from_millis(50), &c, || s.get_cancellable(&ids[0], None, &c).unwrap_err().kind());
    c.reset();
    let many = cancelled_within(Duration::from_millis(50), &c, || {
        let mut out = [None; 3];
        s.get_many_raw_cancellable(&ids, None, Some(&c), &mut out).unwrap_err().kind()
    });
    c.reset();
    let wait = cancelled_within(Duration::from_millis(50), &c, || {
        let mut ready = [false; 3];
        s.wait(&ids, 1, None, Some(&c), &mut ready).unwrap_err().kind()
    });
    // How fast (a futex wake, not the end of a capped sleep) is the
    // benchmark's business: a timing here would fail on a loaded machine.
    eprintln!("cancel to return: get {get:?}, get_many {many:?}, wait {wait:?}");
    // Cancelled stays cancelled until reset; a reset canceller waits again.
    assert_eq!(s.get_cancellable(&ids[0], None, &c).unwrap_err().kind(), ErrorKind::Cancelled);
    c.reset();
    s.put_as(&ids[0], b"zero", b"").unwrap();
    assert_eq!(s.get_cancellable(&ids[0], None, &c).unwrap().data(), b"zero");
    assert_eq!(s.stats().unwrap().pinned_count, 0);
    assert_consistent(&s);
}

#[test]
fn one_cancel_ends_every_wait_that_shares_the_canceller() {
    let t = TempStore::new("wait-cancel-many");
    let s = t.open(&TempStore::options(16 << 20));
    let ids = ids(4);
    let c = Canceller::new();
    std::thread::scope(|sc| {
        let waiters: Vec<_> = ids
            .iter()
            .map(|id| {
                let (s, c) = (&s, c.clone());
                sc.spawn(move || s.get_cancellable(id, None, &c).unwrap_err().kind())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        c.cancel();
        for w in waiters {
            assert_eq!(w.join().unwrap(), ErrorKind::Cancelled);
        }
    });
    // Waits without the canceller are not disturbed.
    let other = Canceller::new();
    std::thread::scope(|sc| {
        let w = sc.spawn(|| s.get_cancellable(&ids[0], Some(Duration::from_millis(100)), &other).unwrap_err().kind());
        c.cancel();
        assert_eq!(w.join().unwrap(), ErrorKind::Timeout);
    });
}

/// Waiters of many objects (a wait for 48 of 1000 IDs, a get_many of 48)
/// while another thread seals those 48 among puts of other objects, one at
/// a time and in bursts longer than the seal log: each returns with
/// exactly the 48, whichever of its looks saw each (one that a log entry
/// named, or one at everything when the log could not account for every
/// seal since the last).
#[test]
fn waiters_of_many_see_every_seal_in_bursts_and_among_others() {
    let t = TempStore::new("wait-log");
    let s = t.open(&TempStore::options(64 << 20));
    let ids: Vec<ObjectId> = (0..1000u32)
        .map(|i| {
            let mut b = [0x77; 20];
            b[..4].copy_from_slice(&i.to_le_bytes());
            ObjectId(b)
        })
        .collect();
    // Every 21st ID, in an order of its own.
    let mut chosen: Vec<usize> = (0..48).map(|k| (k * 21 + 5) % 1000).collect();
    chosen.reverse();
    let wanted: Vec<ObjectId> = chosen.iter().map(|&i| ids[i]).collect();
    let mut ready = vec![false; ids.len()];
    std::thread::scope(|sc| {
        let many = sc.spawn(|| {
            let mut out = vec![None; wanted.len()];
            s.get_many_raw(&wanted, Some(Duration::from_secs(60)), &mut out).unwrap();
            for (i, o) in out.iter().enumerate() {
                assert_eq!(o.as_ref().unwrap().data_len, 8);
                assert_eq!(s.get(&wanted[i], None).unwrap().data(), &i.to_le_bytes()[..]);
                s.release(&wanted[i]).unwrap();
            }
        });
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            let mut noise = 0u64;
            for (k, &i) in chosen.iter().enumerate() {
                // Bursts of 20 seals with nothing between them, then one
                // at a time with others' seals and pauses between.
                if k >= 20 {
                    for _ in 0..3 {
                        noise += 1;
                        let id = s.put(&noise.to_le_bytes()).unwrap();
                        s.delete(&id).unwrap();
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                s.put_as(&ids[i], &k.to_le_bytes(), b"").unwrap();
            }
        });
        assert_eq!(s.wait(&ids, 48, Some(Duration::from_secs(60)), None, &mut ready), Ok(48));
        many.join().unwrap();
    });
    let got: Vec<usize> = (0..ids.len()).filter(|&i| ready[i]).collect();
    let mut expected = chosen.clone();
    expected.sort_unstable();
    assert_eq!(got, expected);
    assert_eq!(s.stats().unwrap().pinned_count, 0);
    assert_consistent(&s);
}

// ----- wait sets --------------------------------------------------------------------

/// A wait set hands out each object once, in the order found: those sealed
/// before it was made first, then each as it is sealed; an ID given twice
/// twice; an object sealed and deleted between two looks not at all. It
/// takes no pins, and when all are handed out a wait returns nothing.
#[test]
fn a_wait_set_hands_out_each_object_once_as_it_is_sealed() {
    let t = TempStore::new("wait-set");
    let s = t.open(&TempStore::options(16 << 20));
    let ids: Vec<ObjectId> = (0..1000u32)
        .map(|i| {
            let mut b = [0x77u8; 20];
            b[..4].copy_from_slice(&i.to_le_bytes());
            ObjectId(b)
        })
        .collect();
    s.put_as(&ids[10], b"before", b"").unwrap();
    s.put_as(&ids[999], b"before", b"").unwrap();
    let mut with_twice = ids.clone();
    with_twice.push(ids[500]);
    let mut set = s.wait_set(&with_twice).unwrap();
    assert_eq!(set.remaining(), 1001);
    assert_eq!(set.next(0, None, None).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(set.next(1, Some(Duration::ZERO), None).unwrap(), vec![10]);
    assert_eq!(set.next(5, Some(Duration::ZERO), None).unwrap(), vec![999]);
    assert_eq!(set.next(5, Some(Duration::ZERO), None).unwrap_err().kind(), ErrorKind::Timeout);
    s.put_as(&ids[500], b"twice", b"").unwrap();
    s.put_as(&ids[3], b"x", b"").unwrap();
    s.put_as(&ids[4], b"gone", b"").unwrap();
    s.delete(&ids[4]).unwrap();
    let mut got = set.next(10, Some(Duration::ZERO), None).unwrap();
    got.sort_unstable();
    assert_eq!(got, vec![3, 500, 1000], "the ID given twice, twice; the deleted one not");
    assert_eq!(s.stats().unwrap().pinned_count, 0, "no pins");
    assert_eq!(set.remaining(), 1001 - 5);
    // More seals between two waits than the log holds: a look at all.
    for id in &ids[600..700] {
        s.put_as(id, b"burst", b"").unwrap();
    }
    let mut got = vec![];
    while let Ok(more) = set.next(7, Some(Duration::ZERO), None) {
        assert!(more.len() <= 7);
        got.extend(more);
    }
    got.sort_unstable();
    assert_eq!(got, (600..700).collect::<Vec<_>>());
    // Every one handed out: nothing more, at once.
    for (i, id) in ids.iter().enumerate() {
        if !s.contains(id).unwrap() && i != 4 {
            s.put_as(id, b"rest", b"").unwrap();
        }
    }
    s.put_as(&ids[4], b"again", b"").unwrap();
    let mut n = 0;
    while let Ok(more) = set.next(1000, Some(Duration::ZERO), None) {
        if more.is_empty() {
            break;
        }
        n += more.len();
    }
    assert_eq!(n, 1001 - 5 - 100);
    assert_eq!(set.remaining(), 0);
    assert_eq!(set.next(1, None, None).unwrap(), Vec::<usize>::new(), "none left: no wait");
    assert_eq!(s.wait_sets_counted(), 1);
    drop(set);
    assert_eq!(s.wait_sets_counted(), 0);
    assert_consistent(&s);
}

/// A blocked wait of a set is woken by a put from another thread, and
/// ended by a cancel; the set outlives the handle that made it.
#[test]
fn a_blocked_wait_set_is_woken_by_a_put_and_ended_by_a_cancel() {
    let t = TempStore::new("wait-set-block");
    let s = t.open(&TempStore::options(16 << 20));
    let ids = ids(50);
    let mut set = s.wait_set(&ids).unwrap();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            s.put_as(&ids[42], b"late", b"").unwrap();
        });
        assert_eq!(set.next(3, Some(Duration::from_secs(30)), None).unwrap(), vec![42]);
    });
    let c = Canceller::new();
    cancelled_within(Duration::from_millis(50), &c, || set.next(1, None, Some(&c)).unwrap_err().kind());
    let start = Instant::now();
    assert_eq!(set.next(1, Some(Duration::from_millis(30)), None).unwrap_err().kind(), ErrorKind::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(30));
    drop(s);
    let again = t.open(&TempStore::options(16 << 20));
    again.put_as(&ids[7], b"after the handle closed", b"").unwrap();
    assert_eq!(set.next(1, Some(Duration::ZERO), None).unwrap(), vec![7]);
}

/// IDs added to a wait set get indices after those it holds, after some
/// were handed out and after all were: those sealed already are handed out
/// by the next wait, the others as they are sealed; an ID given twice, or
/// one the set holds already, once for each time it was given. The table
/// of hashes grows (a set of 2 that grows to 2000) and still names every
/// ID: a few seals between two waits are found through the log.
#[test]
fn ids_added_to_a_wait_set_are_handed_out_as_they_are_sealed() {
    let t = TempStore::new("wait-set-add");
    let s = t.open(&TempStore::options(16 << 20));
    let ids: Vec<ObjectId> = (0..2000u32)
        .map(|i| {
            let mut b = [0x78u8; 20];
            b[..4].copy_from_slice(&i.to_le_bytes());
            ObjectId(b)
        })
        .collect();
    let mut set = s.wait_set(&ids[..2]).unwrap();
    s.put_as(&ids[1], b"one", b"").unwrap();
    assert_eq!(set.next(5, Some(Duration::ZERO), None).unwrap(), vec![1]);
    // Sealed before the add: handed out by the next wait.
    s.put_as(&ids[2], b"two", b"").unwrap();
    set.add(&ids[2..1000]).unwrap();
    assert_eq!(set.ids().len(), 1000);
    assert_eq!(set.ids()[2..], ids[2..1000]);
    assert_eq!(set.remaining(), 999);
    assert_eq!(set.next(5, Some(Duration::ZERO), None).unwrap(), vec![2]);
    assert_eq!(set.next(5, Some(Duration::ZERO), None).unwrap_err().kind(), ErrorKind::Timeout);
    set.add(&[]).unwrap();
    assert_eq!(set.remaining(), 998);
    // Twice in one add, and once more of an ID the set holds: three
    // indices, each handed out.
    set.add(&[ids[1500], ids[1500], ids[700]]).unwrap();
    set.add(&ids[1000..2000]).unwrap();
    assert_eq!(set.ids().len(), 2003);
    for i in [0usize, 700, 1500, 1999] {
        s.put_as(&ids[i], b"later", b"").unwrap();
    }
    let mut got = vec![];
    while let Ok(more) = set.next(10, Some(Duration::ZERO), None) {
        got.extend(more);
    }
    got.sort_unstable();
    assert_eq!(got, vec![0, 700, 1000, 1001, 1002, 1500 + 3, 1999 + 3]);
    // Every one handed out, then more added: handed out again.
    for id in &ids {
        if !s.contains(id).unwrap() {
            s.put_as(id, b"rest", b"").unwrap();
        }
    }
    while let Ok(more) = set.next(1000, Some(Duration::ZERO), None) {
        if more.is_empty() {
            break;
        }
    }
    assert_eq!(set.remaining(), 0);
    let fresh = ObjectId([0x79; 20]);
    set.add(&[ids[5], fresh]).unwrap();
    assert_eq!(set.remaining(), 2);
    assert_eq!(set.next(5, Some(Duration::ZERO), None).unwrap(), vec![2003]);
    s.put_as(&fresh, b"fresh", b"").unwrap();
    assert_eq!(set.next(5, Some(Duration::ZERO), None).unwrap(), vec![2004]);
    assert_eq!(s.stats().unwrap().pinned_count, 0, "no pins");
    assert_eq!(s.wait_sets_counted(), 1, "an add counts no second set");
    drop(set);
    assert_eq!(s.wait_sets_counted(), 0);
    assert_consistent(&s);
}

/// A wait blocked on IDs added to a set is woken by another thread's put
/// (the set had handed out all it was made with).
#[test]
fn a_wait_on_added_ids_is_woken_by_a_put() {
    let t = TempStore::new("wait-set-add-block");
    let s = t.open(&TempStore::options(16 << 20));
    let ids = ids(20);
    let mut set = s.wait_set(&ids[..1]).unwrap();
    s.put_as(&ids[0], b"first", b"").unwrap();
    assert_eq!(set.next(1, Some(Duration::ZERO), None).unwrap(), vec![0]);
    assert_eq!(set.next(1, None, None).unwrap(), Vec::<usize>::new(), "none left");
    set.add(&ids[1..]).unwrap();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            s.put_as(&ids[13], b"late", b"").unwrap();
        });
        assert_eq!(set.next(3, Some(Duration::from_secs(30)), None).unwrap(), vec![13]);
    });
}

/// A set in another process grows by IDs this one seals, before the add
/// (found by its look) and after it (found as they are sealed).
#[test]
fn a_wait_set_of_another_process_grows_and_sees_seals_of_the_added_ids() {
    let t = TempStore::new("wait-set-add-proc");
    let s = t.open(&TempStore::options(16 << 20));
    let n = 10u64;
    let child = common::child::spawn_child("wait_set_add", &[t.name.clone(), n.to_string()]);
    child.wait_for("made", Duration::from_secs(30));
    let put = |id: ObjectId| s.put_as(&id, &common::child::content_for(&id), b"").unwrap();
    put(common::child::derived_id(6, 1));
    put(common::child::derived_id(5, 4));
    child.wait_for("sealed 4", Duration::from_secs(30));
    child.wait_for("added", Duration::from_secs(30));
    child.wait_for(&format!("sealed {}", n + 1), Duration::from_secs(30));
    for k in [7u64, 0] {
        put(common::child::derived_id(6, k));
        child.wait_for(&format!("sealed {}", n + k), Duration::from_secs(30));
    }
    child.signal(libc::SIGKILL);
    let mut child = child;
    child.wait_exit(Duration::from_secs(30));
    s.collect().unwrap();
    assert_consistent(&s);
}

/// A wait set in another process sees this one's seals; killed, its
/// process's sets are taken out of the store's count by the reclaim (its
/// sealers stop logging for it).
#[test]
fn a_wait_set_of_another_process_sees_seals_and_goes_with_its_death() {
    let t = TempStore::new("wait-set-proc");
    let s = t.open(&TempStore::options(16 << 20));
    let child = common::child::spawn_child("wait_set", &[t.name.clone(), "20".into()]);
    child.wait_for("made", Duration::from_secs(30));
    assert_eq!(s.wait_sets_counted(), 1);
    for k in [3u64, 17, 0] {
        let id = common::child::derived_id(5, k);
        s.put_as(&id, &common::child::content_for(&id), b"").unwrap();
        child.wait_for(&format!("sealed {k}"), Duration::from_secs(30));
    }
    child.signal(libc::SIGKILL);
    let mut child = child;
    child.wait_exit(Duration::from_secs(30));
    s.collect().unwrap();
    assert_eq!(s.wait_sets_counted(), 0, "the dead process's set is no longer counted");
    assert_consistent(&s);
}
