//! The torture soak: many processes doing random operations on a small
//! spilling store (plain objects spilled, cache entries evicted to make
//! room), each call checked against the statuses the
//! documentation allows in its situation, while processes are SIGKILLed and
//! SIGSTOPped at random. At the end every sealed, undeleted object reads
//! back intact, and after deleting everything and one collect the store and
//! its spill directory are empty.
//!
//! `cargo test --test soak -- --ignored --nocapture` runs it for
//! OBJSTORE_SOAK_SECONDS (default 60; `make soak` runs it longer).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::child::{soak_content_for, spawn_child, ChildGuard};
use common::{assert_consistent, SpillDir, TempStore};
use objstore::{ObjectId, ObjectState, Options};

const MIB: u64 = 1 << 20;
const WORKERS: usize = 6;

#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    common::child::run_child();
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the workers reported.
#[derive(Default)]
struct Reports {
    put: HashSet<ObjectId>,
    delete_started: HashSet<ObjectId>,
    failures: Vec<String>,
    statuses: BTreeMap<String, u64>,
}

impl Reports {
    fn take(&mut self, ev: String) {
        if let Some(id) = ev.strip_prefix('+') {
            self.put.insert(id.parse().unwrap());
        } else if let Some(id) = ev.strip_prefix('-') {
            self.delete_started.insert(id.parse().unwrap());
        } else if let Some(f) = ev.strip_prefix('!') {
            self.failures.push(f.to_string());
        } else if let Some(counts) = ev.strip_prefix('#') {
            for kv in counts.split(',') {
                let (k, v) = kv.rsplit_once('=').unwrap();
                *self.statuses.entry(k.to_string()).or_default() += v.parse::<u64>().unwrap();
            }
        }
    }
    fn drain(&mut self, k: &ChildGuard) {
        while let Ok(ev) = k.events.try_recv() {
            self.take(ev);
        }
    }
}

#[test]
#[ignore = "a long run: make test-soak (60 s) or make soak"]
fn soak() {
    let seconds: u64 = std::env::var("OBJSTORE_SOAK_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let t = TempStore::new("soak");
    let dir = SpillDir::new("soak");
    let s = t.open(&Options {
        capacity_bytes: 64 * MIB,
        max_processes: 32,
        spill_dir: Some(dir.path().into()),
        ..Options::default()
    });
    let mut rng = Rng(common::rand_u64() | 1);
    let mut next_child = 1u32;
    let mut spawn = |rng: &mut Rng| {
        let k = spawn_child(
            "soak_worker",
            &[t.name.clone(), next_child.to_string(), (rng.below(u64::MAX) | 1).to_string()],
        );
        next_child += 1;
        k.wait_for("ready", Duration::from_secs(60));
        k
    };
    let mut workers: Vec<ChildGuard> = (0..WORKERS).map(|_| spawn(&mut rng)).collect();
    let mut reports = Reports::default();
    let (mut kills, mut stops) = (0u64, 0u64);
    let mut stopped: Vec<(usize, Instant)> = vec![];
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50 + rng.below(150)));
        for k in &workers {
            reports.drain(k);
        }
        // Continue stopped workers whose time is up.
        stopped.retain(|&(w, until)| {
            if Instant::now() >= until {
                workers[w].signal(libc::SIGCONT);
                false
            } else {
                true
            }
        });
        match rng.below(10) {
            0..=2 => {
                let w = rng.below(WORKERS as u64) as usize;
                if !stopped.iter().any(|&(s, _)| s == w) {
                    workers[w].signal(libc::SIGSTOP);
                    stopped.push((w, Instant::now() + Duration::from_millis(20 + rng.below(400))));
                    stops += 1;
                }
            }
            3..=4 => {
                let w = rng.below(WORKERS as u64) as usize;
                stopped.retain(|&(s, _)| s != w);
                let mut old = std::mem::replace(&mut workers[w], spawn(&mut rng));
                old.signal(libc::SIGKILL);
                old.wait_exit(Duration::from_secs(60));
                for ev in old.drain() {
                    reports.take(ev);
                }
                kills += 1;
            }
            5 => {
                s.collect().unwrap();
            }
            _ => {}
        }
    }
    for mut k in workers {
        k.signal(libc::SIGCONT);
        k.signal(libc::SIGKILL);
        k.wait_exit(Duration::from_secs(60));
        for ev in k.drain() {
            reports.take(ev);
        }
    }
    let st = s.stats().unwrap();
    let ops: u64 = reports.statuses.values().sum();
    eprintln!(
        "soak: {seconds} s, {} worker processes, {ops} operations, {kills} kills, {stops} stops, {} spills, {} restores, {} evictions",
        next_child - 1,
        st.spills_total,
        st.restores_total,
        st.evictions_total
    );
    for (k, v) in &reports.statuses {
        eprintln!("soak:   {k:<28} {v}");
    }
    assert!(
        reports.failures.is_empty(),
        "{} failures, first: {:#?}",
        reports.failures.len(),
        &reports.failures[..reports.failures.len().min(10)]
    );
    assert!(ops > 0 && st.spills_total > 0 && st.restores_total > 0, "the soak did not exercise spilling: {st:?}");
    assert!(st.evictions_total > 0, "the soak did not exercise eviction: {st:?}");

    // Every object reported put and never deleted is there, intact; one
    // whose delete was interrupted may be there, and then intact too.
    let reclaimed = s.collect().unwrap();
    eprintln!("soak: final collect: {reclaimed:?}");
    assert_consistent(&s);
    for id in &reports.put {
        match s.get(id, Some(Duration::ZERO)) {
            Ok(obj) => assert_eq!(obj.data(), soak_content_for(id).as_slice(), "object {id} read back wrong"),
            Err(e) => assert!(reports.delete_started.contains(id), "object {id} lost: {e}"),
        }
    }
    // Objects whose put was interrupted after it committed are intact too.
    let listed = s.list().unwrap();
    for info in &listed {
        if info.state == ObjectState::Sealed || info.state == ObjectState::Spilled {
            let obj = s.get(&info.id, Some(Duration::ZERO)).unwrap();
            assert_eq!(obj.data(), soak_content_for(&info.id).as_slice(), "object {} read back wrong", info.id);
        }
    }
    // Delete everything: the store and its spill directory end empty.
    for info in &listed {
        s.delete(&info.id).unwrap();
    }
    s.collect().unwrap();
    let st = s.stats().unwrap();
    assert_eq!(
        (st.object_count, st.unsealed_count, st.pinned_count, st.used_bytes, st.spilled_count),
        (0, 0, 0, 0, 0),
        "{st:?}"
    );
    assert_eq!(dir.files(), Vec::<String>::new());
    assert_consistent(&s);
}
