//! Object lifetime and waiting: what references, refcounted puts, waiting
//! for one of many and cancellation cost, each against the plain operation
//! it stands beside, measured in the same run:
//!
//! - ref + unref of a present object against a get + release of it (the
//!   target is ≤ 1.5×: both are one CAS on the object's word and one on
//!   the process's own bookkeeping);
//! - a put with OBJECT_REFCOUNTED against a plain put of the same bytes
//!   (≤ 1.1×: the creator's reference is one more word written);
//! - a wait for 1 of 1000 IDs, one of them sealed, against a get + release
//!   of that one (≤ 2×);
//! - a wait for 1 of 1000 IDs blocked until another thread puts one of
//!   them, from before the put until the waiter runs, against a get blocked
//!   on that one ID (the seal log spares the waiter a look at all 1000);
//! - the CPU time a wait for 1 of 1000 absent IDs spends per seal of
//!   another object in the store, against one look at all 1000;
//! - a get blocked on an absent ID, cancelled from another thread: the time
//!   from `cancel` until the waiting thread runs again (≤ 1 ms), against a
//!   bare wake-up of a parked thread (`Thread::unpark`);
//! - a put of a cache entry (OBJECT_EVICTABLE) into a store full of like
//!   entries, which evicts one, against the same put into a store with
//!   room; and how many entries one 4 MiB put evicts from that full cache
//!   (a count, not a time: 1,024 pages hold about 1,000 of them).

use std::hint::black_box;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use objstore::{Canceller, ErrorKind, ObjectId, Options, Store, OBJECT_EVICTABLE, OBJECT_REFCOUNTED};

use crate::procs::TempStore;
use crate::single::derived_id;
use crate::stats::{figure_row, measure, measure_with, Samples, Table, FIGURE_HEAD};
use crate::Config;

pub fn lifetime(cfg: &Config) {
    let tmp = TempStore::new("life");
    let store = Store::open(&tmp.name, &Options { capacity_bytes: 256 << 20, ..Options::default() }).expect("open");
    let (batches, per) = (cfg.batches, if cfg.smoke { 10_000 } else { 100_000 });

    // ref + unref against get + release, of one 1 KiB object that its
    // creator's reference keeps.
    let obj = store.put_ex(&[5u8; 1024], b"", OBJECT_REFCOUNTED).unwrap();
    let get_release = measure(batches, per, |_| {
        let o = store.get_raw(&obj, Some(Duration::ZERO)).unwrap();
        black_box(o.data);
        store.release(&obj).unwrap();
    });
    let ref_unref = measure(batches, per, |_| {
        store.add_ref(&obj).unwrap();
        store.unref(&obj).unwrap();
    });

    // put (64 B) plain against REFCOUNTED; what a batch put is freed
    // outside the timing (delete, or the last unref).
    let small = [3u8; 64];
    let puts = per / 10;
    let put_plain = measure_with(
        batches,
        puts,
        |_| store.put(&small).unwrap(),
        |ids: Vec<ObjectId>| ids.iter().for_each(|id| store.delete(id).unwrap()),
    );
    let put_counted = measure_with(
        batches,
        puts,
        |_| store.put_ex(&small, b"", OBJECT_REFCOUNTED).unwrap(),
        |ids: Vec<ObjectId>| ids.iter().for_each(|id| store.unref(id).unwrap()),
    );

    // wait for 1 of 1000 IDs, the last one sealed (the scan's worst case).
    let mut ids: Vec<ObjectId> = (0..999).map(|n| derived_id(0x1f, n)).collect();
    ids.push(obj);
    let mut ready = vec![false; ids.len()];
    let wait_1_of_1000 = measure(batches, per / 100, |_| {
        black_box(store.wait(&ids, 1, Some(Duration::ZERO), None, &mut ready).unwrap());
    });
    let wait_1_of_1 = measure(batches, per, |_| {
        black_box(store.wait(&ids[999..], 1, Some(Duration::ZERO), None, &mut ready[999..]).unwrap());
    });

    // A wait set of 1000 IDs (a new one each batch, made and dropped
    // outside the timing): a wait that finds nothing new, and a put then
    // the wait that hands its object out, against a put then a get +
    // release of it (both put 64 B objects, deleted after each batch).
    let in_set = per / 100;
    let mut set_nothing_new = Vec::with_capacity(batches);
    let mut put_then_next = Vec::with_capacity(batches);
    for b in 0..batches {
        let ids: Vec<ObjectId> = (0..in_set as u64).map(|n| derived_id(0x6f, (b * in_set) as u64 + n)).collect();
        let mut set = store.wait_set(&ids).unwrap();
        let t = Instant::now();
        for _ in 0..in_set {
            black_box(set.next(1, Some(Duration::ZERO), None).unwrap_err());
        }
        set_nothing_new.push(t.elapsed().as_nanos() as f64 / in_set as f64);
        let t = Instant::now();
        for (k, id) in ids.iter().enumerate() {
            store.put_as(id, &small, b"").unwrap();
            assert_eq!(set.next(1, Some(Duration::ZERO), None).unwrap(), [k]);
        }
        put_then_next.push(t.elapsed().as_nanos() as f64 / in_set as f64);
        drop(set);
        ids.iter().for_each(|id| store.delete(id).unwrap());
    }
    let (set_nothing_new, put_then_next) = (Samples::new(set_nothing_new), Samples::new(put_then_next));
    let mut next_id = 0;
    let put_then_get = measure_with(
        batches,
        in_set,
        |_| {
            let id = derived_id(0x7f, next_id);
            next_id += 1;
            store.put_as(&id, &small, b"").unwrap();
            black_box(store.get_raw(&id, Some(Duration::ZERO)).unwrap().data);
            store.release(&id).unwrap();
            id
        },
        |ids: Vec<ObjectId>| ids.iter().for_each(|id| store.delete(id).unwrap()),
    );

    // A wait for 1 of 1000 and a get, each blocked until the one object is
    // put by this thread: from before the put until the waiter runs.
    let rounds = if cfg.smoke { 50 } else { 500 };
    let others: Vec<ObjectId> = (0..999).map(|n| derived_id(0x3f, n)).collect();
    let woken_wait = woken_by_a_put(&store, rounds, 0x4f, |id| {
        let mut ids = others.clone();
        ids.insert(500, *id);
        let mut ready = vec![false; ids.len()];
        assert_eq!(store.wait(&ids, 1, None, None, &mut ready), Ok(1));
        assert!(ready[500]);
    });
    let woken_get = woken_by_a_put(&store, rounds, 0x5f, |id| {
        store.get_raw(id, None).unwrap();
        store.release(id).unwrap();
    });
    let seals = if cfg.smoke { 100 } else { 1000 };
    let cpu_per_other_seal = waiter_cpu_per_other_seal(&store, &others, seals);

    // Cancellation: from cancel() until the cancelled get's thread runs,
    // against from unpark() until a parked thread runs.
    let (cancel_latency, unpark_latency) = std::thread::scope(|s| {
        let store = &store;
        let (go_tx, go_rx) = mpsc::channel::<Canceller>();
        let (done_tx, done_rx) = mpsc::channel::<Instant>();
        let absent = derived_id(0x2f, 0);
        s.spawn(move || {
            while let Ok(c) = go_rx.recv() {
                let r = store.get_raw_cancellable(&absent, None, Some(&c));
                let woke = Instant::now();
                assert_eq!(r.err().map(|e| e.kind()), Some(ErrorKind::Cancelled));
                done_tx.send(woke).unwrap();
            }
        });
        let mut cancel = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let c = Canceller::new();
            go_tx.send(c.clone()).unwrap();
            // Let the getter go to sleep in its wait; a cancel before that
            // would be seen without a wake-up, and measure less.
            std::thread::sleep(Duration::from_micros(300));
            let t = Instant::now();
            c.cancel();
            let woke = done_rx.recv().unwrap();
            cancel.push(woke.saturating_duration_since(t).as_nanos() as f64);
        }
        drop(go_tx);

        let (park_tx, park_rx) = mpsc::channel::<Instant>();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let parked = s.spawn(move || {
            for _ in 0..rounds {
                ready_tx.send(()).unwrap();
                std::thread::park();
                park_tx.send(Instant::now()).unwrap();
            }
        });
        let mut unpark = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            ready_rx.recv().unwrap();
            std::thread::sleep(Duration::from_micros(300));
            let t = Instant::now();
            parked.thread().unpark();
            let woke = park_rx.recv().unwrap();
            unpark.push(woke.saturating_duration_since(t).as_nanos() as f64);
        }
        (Samples::new(cancel), Samples::new(unpark))
    });

    let eviction = evicting_puts(cfg);

    let mut t = Table::new("Object lifetime and waiting (one process)", &FIGURE_HEAD);
    t.row(figure_row("get + release, 1 KiB (baseline)", &get_release, "get + release", &get_release, String::new()));
    t.row(figure_row("ref + unref, same object", &ref_unref, "get + release", &get_release, "target ≤ 1.5×".into()));
    t.row(figure_row("put 64 B (baseline)", &put_plain, "put", &put_plain, String::new()));
    t.row(figure_row("put 64 B, OBJECT_REFCOUNTED", &put_counted, "put", &put_plain, "target ≤ 1.1×".into()));
    t.row(figure_row(
        "wait for 1 of 1000 IDs, the last sealed",
        &wait_1_of_1000,
        "get + release",
        &get_release,
        "target ≤ 2×".into(),
    ));
    t.row(figure_row("wait for 1 of 1 ID, sealed", &wait_1_of_1, "get + release", &get_release, String::new()));
    t.row(figure_row(
        "a wait set's wait that finds nothing new",
        &set_nothing_new,
        "get + release",
        &get_release,
        format!("{in_set} IDs"),
    ));
    t.row(figure_row(
        "put 64 B, then get + release it (baseline)",
        &put_then_get,
        "put, get",
        &put_then_get,
        String::new(),
    ));
    t.row(figure_row(
        "put 64 B, then a wait set's wait that hands it out",
        &put_then_next,
        "put, get",
        &put_then_get,
        "the wait: target ≤ 2× a get".into(),
    ));
    t.row(figure_row(
        "wait for 1 of 1000 IDs, blocked until one is put",
        &woken_wait,
        "blocked get",
        &woken_get,
        "put until the waiter runs; target ≤ 2×".into(),
    ));
    t.row(figure_row(
        "a get blocked until its object is put (baseline)",
        &woken_get,
        "blocked get",
        &woken_get,
        String::new(),
    ));
    t.row(figure_row(
        "CPU of a wait for 1 of 1000 IDs per seal of another object",
        &cpu_per_other_seal,
        "wait, 1000 IDs",
        &wait_1_of_1000,
        "one look at all 1000 before the seal log".into(),
    ));
    t.row(figure_row(
        "a blocked get cancelled from another thread",
        &cancel_latency,
        "unpark",
        &unpark_latency,
        "cancel until the getter runs; target ≤ 1 ms".into(),
    ));
    t.row(figure_row("a parked thread unparked (baseline)", &unpark_latency, "unpark", &unpark_latency, String::new()));
    t.row(figure_row(
        "put a 4000 B cache entry, store with room (baseline)",
        &eviction.with_room,
        "put, room",
        &eviction.with_room,
        String::new(),
    ));
    t.row(figure_row(
        "put a 4000 B cache entry, store full of them",
        &eviction.full,
        "put, room",
        &eviction.with_room,
        format!("evicts one; a 4 MiB put evicted {} of {} entries", eviction.evicted_by_large, eviction.entries),
    ));
    t.note(format!(
        "{per} calls per batch for get/ref ({} for put, {} for the 1000-ID wait), {batches} batches; {rounds} \
         cancellations and {rounds} blocked waits and gets, each after the waiter had 300 µs to fall asleep; the \
         waiter's CPU time (its thread's clock) over {seals} seals of other objects 100 µs apart, per seal.",
        puts,
        per / 100
    ));
    t.print();
}

/// Puts of cache entries with and without room, and what a large put evicts.
struct Eviction {
    with_room: Samples,
    full: Samples,
    /// Entries one 4 MiB put evicted from a full cache of `entries`, every
    /// other one read since it was put.
    evicted_by_large: u64,
    entries: u64,
}

fn evicting_puts(cfg: &Config) -> Eviction {
    let entry = [4u8; 4000];
    let per = if cfg.smoke { 200 } else { 2000 };
    let open = |tag: &str| {
        let tmp = TempStore::new(tag);
        let store = Store::open(&tmp.name, &Options { capacity_bytes: 32 << 20, ..Options::default() }).expect("open");
        (tmp, store)
    };
    // Until the first evictions (the stats, a scan of every object slot,
    // every 64 puts).
    let fill = |store: &Store| -> Vec<ObjectId> {
        let mut ids = Vec::new();
        while store.stats().unwrap().evictions_total == 0 {
            for _ in 0..64 {
                ids.push(store.put_ex(&entry, b"", OBJECT_EVICTABLE).unwrap());
            }
        }
        ids
    };
    let (_tmp, store) = open("evict");
    let with_room = measure_with(
        cfg.batches,
        per,
        |_| store.put_ex(&entry, b"", OBJECT_EVICTABLE).unwrap(),
        |ids: Vec<ObjectId>| ids.iter().for_each(|id| store.delete(id).unwrap()),
    );
    fill(&store);
    let full = measure(cfg.batches, per, |_| {
        black_box(store.put_ex(&entry, b"", OBJECT_EVICTABLE).unwrap());
    });
    drop(store);
    let (_tmp, store) = open("evict-large");
    let ids = fill(&store);
    for id in ids.iter().step_by(2) {
        let _ = store.get(id, Some(Duration::ZERO));
    }
    let before = store.stats().unwrap().evictions_total;
    store.put(&vec![5u8; 4 << 20]).unwrap();
    let evicted_by_large = store.stats().unwrap().evictions_total - before;
    Eviction { with_room, full, evicted_by_large, entries: ids.len() as u64 }
}

/// `rounds` times: another thread calls `block` on a new ID (waiting for
/// it); after 300 µs (time to fall asleep) this thread puts it. Returns
/// the times from before each put until the waiter ran again.
fn woken_by_a_put(store: &Store, rounds: usize, tag: u8, block: impl Fn(&ObjectId) + Sync) -> Samples {
    std::thread::scope(|s| {
        let (go_tx, go_rx) = mpsc::channel::<ObjectId>();
        let (done_tx, done_rx) = mpsc::channel::<Instant>();
        let block = &block;
        s.spawn(move || {
            while let Ok(id) = go_rx.recv() {
                block(&id);
                done_tx.send(Instant::now()).unwrap();
            }
        });
        let mut woken = Vec::with_capacity(rounds);
        for r in 0..rounds {
            let id = derived_id(tag, r as u64);
            go_tx.send(id).unwrap();
            std::thread::sleep(Duration::from_micros(300));
            let t = Instant::now();
            store.put_as(&id, &[9u8; 64], b"").unwrap();
            let woke = done_rx.recv().unwrap();
            woken.push(woke.saturating_duration_since(t).as_nanos() as f64);
            store.delete(&id).unwrap();
        }
        Samples::new(woken)
    })
}

/// The CPU time a thread waiting for 1 of `absent` (none of them put)
/// spends per seal of another object, over `seals` seals 100 µs apart
/// (one sample per 50 seals).
fn waiter_cpu_per_other_seal(store: &Store, absent: &[ObjectId], seals: usize) -> Samples {
    let per_sample = 50;
    std::thread::scope(|s| {
        let c = Canceller::new();
        let (tick_tx, tick_rx) = mpsc::channel::<()>();
        let (cpu_tx, cpu_rx) = mpsc::channel::<Duration>();
        let waiter = {
            let c = c.clone();
            s.spawn(move || {
                let mut ready = vec![false; absent.len()];
                // A clock of this thread's CPU time, read by the waiter
                // between its waits.
                let cpu = thread_cpu_time;
                while tick_rx.recv().is_ok() {
                    let start = cpu();
                    let r = store.wait(absent, 1, None, Some(&c), &mut ready);
                    assert_eq!(r.err().map(|e| e.kind()), Some(ErrorKind::Cancelled));
                    cpu_tx.send(cpu() - start).unwrap();
                    c.reset();
                }
            })
        };
        let mut per_seal = Vec::new();
        for k in 0..seals / per_sample {
            tick_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(1));
            for i in 0..per_sample {
                let id = derived_id(0x6f, (k * per_sample + i) as u64);
                store.put_as(&id, &[1u8; 64], b"").unwrap();
                store.delete(&id).unwrap();
                std::thread::sleep(Duration::from_micros(100));
            }
            c.cancel();
            let cpu = cpu_rx.recv().unwrap();
            per_seal.push(cpu.as_nanos() as f64 / per_sample as f64);
        }
        drop(tick_tx);
        waiter.join().unwrap();
        Samples::new(per_seal)
    })
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
