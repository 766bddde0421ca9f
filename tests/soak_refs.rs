//! The references soak: worker processes put REFCOUNTED objects, hand
//! references to each other as tickets through OS pipes, take them, read
//! the objects, add and drop references, while the parent SIGKILLs and
//! SIGSTOPs them at random and collects now and then. Every call is checked
//! against the statuses the documentation allows in its situation, and
//! every read byte for byte. At the end, with every worker gone and one
//! collect, the store and its spill directory are empty: no object, no
//! used byte, no reference, no ticket.
//!
//! The tickets cross processes through pipes: a worker reports "gave ID
//! TICKET" on its stdout, and the parent writes the ticket to another
//! worker's stdin. A ticket whose giver was killed may be refused
//! (NotFound) — the parent checks that its giver was indeed killed — and
//! some tickets are given and never sent, and must go with their giver.
//!
//! Workers also keep wait sets over IDs they and their neighbours put: what
//! a set hands out reads back intact if it is still there, and at the end no
//! set of a killed worker is still counted by the store (the count that
//! makes sealers log their seals).
//!
//! A collect also removes spill files that no object owns, so the last
//! third of the run has none (neither the parent's nor the workers'):
//! before the final collect the spill files must be those of the spilled
//! objects (and at most one more for each worker killed meanwhile), so
//! that a REFCOUNTED object freed while spilled is seen to take its file
//! with it.
//!
//! `cargo test --release --test soak_refs -- --ignored --nocapture` runs it
//! for OBJSTORE_SOAK_SECONDS (default 60; `make test-soak` runs it for 30,
//! `make soak` for SOAK_SECONDS). OBJSTORE_SOAK_MAX_OBJECTS makes the store
//! with that many object slots (1024: a hold table of 256 entries, which
//! the tickets fill, so that most gives find it full and many tickets lie
//! outside their object's window).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::child::{spawn_child_with_stdin, unix_ms, ChildGuard};
use common::{assert_consistent, SpillDir, TempStore};
use objstore::Options;

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

/// A running worker and its child number (which its object IDs carry).
struct Worker {
    k: ChildGuard,
    child: u32,
}

/// What the workers reported, and what the parent did with it.
#[derive(Default)]
struct Reports {
    failures: Vec<String>,
    statuses: BTreeMap<String, u64>,
    /// Child numbers of the workers SIGKILLed so far.
    killed: HashSet<u32>,
    /// Tickets passed on to another worker's stdin.
    routed: u64,
    /// Tickets that could not be passed on (the worker chosen had exited,
    /// or was stopped with a full pipe): they stay with their giver.
    unrouted: u64,
    /// Tickets refused because their giver was killed.
    lost: u64,
}

impl Reports {
    /// Takes one event of worker `from`; a ticket it gave is written to
    /// another worker's stdin.
    fn take(&mut self, from: u32, ev: String, workers: &mut [Worker], rng: &mut Rng) {
        if let Some(f) = ev.strip_prefix('!') {
            self.failures.push(format!("worker {from}: {f}"));
        } else if let Some(counts) = ev.strip_prefix('#') {
            for kv in counts.split(',') {
                let (k, v) = kv.rsplit_once('=').unwrap();
                *self.statuses.entry(k.to_string()).or_default() += v.parse::<u64>().unwrap();
            }
        } else if let Some(t) = ev.strip_prefix("gave ") {
            let others: Vec<usize> = (0..workers.len()).filter(|&w| workers[w].child != from).collect();
            let to = others[rng.below(others.len() as u64) as usize];
            if workers[to].k.send_line(&format!("{t} {from}")) {
                self.routed += 1;
            } else {
                self.unrouted += 1;
            }
        } else if let Some(t) = ev.strip_prefix("lost ") {
            // A refused ticket: right only if its giver was killed (before
            // the take, so before this event was read).
            let giver: u32 = t.split(' ').next().unwrap().parse().unwrap();
            if self.killed.contains(&giver) {
                self.lost += 1;
            } else {
                self.failures.push(format!("worker {from}: a ticket of live worker {giver} refused: {t}"));
            }
        } else if ev != "ready" {
            self.failures.push(format!("worker {from}: unexpected event {ev}"));
        }
    }

    fn drain(&mut self, workers: &mut [Worker], rng: &mut Rng) {
        for w in 0..workers.len() {
            while let Ok(ev) = workers[w].k.events.try_recv() {
                let from = workers[w].child;
                self.take(from, ev, workers, rng);
            }
        }
    }

    fn count(&self, key: &str) -> u64 {
        self.statuses.get(key).copied().unwrap_or(0)
    }
}

#[test]
#[ignore = "a long run: make test-soak (30 s) or make soak"]
fn soak_refs() {
    let seconds: u64 = std::env::var("OBJSTORE_SOAK_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let t = TempStore::new("soakrefs");
    let dir = SpillDir::new("soakrefs");
    // Small enough that the workers' referenced objects spill: a reference
    // is not a pin.
    let s = t.open(&Options {
        capacity_bytes: 32 * MIB,
        max_processes: 32,
        max_objects: std::env::var("OBJSTORE_SOAK_MAX_OBJECTS").ok().and_then(|v| v.parse().ok()).unwrap_or(0),
        spill_dir: Some(dir.path().into()),
        ..Options::default()
    });
    let mut rng = Rng(common::rand_u64() | 1);
    // The last third of the run has no collect: a collect also removes
    // spill files that no object owns, and at the end the spill files must
    // be those of the spilled objects, each freed object's file removed by
    // whoever freed it.
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let quiet_from = start + Duration::from_secs(seconds) * 2 / 3;
    let collect_until = unix_ms() + (seconds * 1000) * 2 / 3;
    let mut next_child = 1u32;
    let mut spawn = |rng: &mut Rng| {
        let child = next_child;
        next_child += 1;
        let k = spawn_child_with_stdin(
            "ref_soak_worker",
            &[t.name.clone(), child.to_string(), (rng.below(u64::MAX) | 1).to_string(), collect_until.to_string()],
        );
        k.wait_for("ready", Duration::from_secs(60));
        Worker { k, child }
    };
    let mut workers: Vec<Worker> = (0..WORKERS).map(|_| spawn(&mut rng)).collect();
    let mut reports = Reports::default();
    let (mut kills, mut stops, mut collects) = (0u64, 0u64, 0u64);
    // Workers killed since the parent's last collect (see extra_files).
    let mut kills_since_collect = 0usize;
    let mut stopped: Vec<(usize, Instant)> = vec![];
    let mut next_chaos = start;
    while Instant::now() < end {
        // Tickets are passed on within milliseconds; the chaos comes every
        // 50 to 200 ms.
        std::thread::sleep(Duration::from_millis(3));
        reports.drain(&mut workers, &mut rng);
        for w in 0..WORKERS {
            if let Some(st) = workers[w].k.child.try_wait().unwrap() {
                reports.failures.push(format!("worker {} exited by itself: {st}", workers[w].child));
                stopped.retain(|&(s, _)| s != w);
                let old = std::mem::replace(&mut workers[w], spawn(&mut rng));
                for ev in old.k.drain() {
                    reports.take(old.child, ev, &mut workers, &mut rng);
                }
            }
        }
        if Instant::now() < next_chaos {
            continue;
        }
        next_chaos = Instant::now() + Duration::from_millis(50 + rng.below(150));
        // Continue stopped workers whose time is up.
        stopped.retain(|&(w, until)| {
            if Instant::now() >= until {
                workers[w].k.signal(libc::SIGCONT);
                false
            } else {
                true
            }
        });
        match rng.below(10) {
            0..=1 => {
                let w = rng.below(WORKERS as u64) as usize;
                if !stopped.iter().any(|&(s, _)| s == w) {
                    workers[w].k.signal(libc::SIGSTOP);
                    stopped.push((w, Instant::now() + Duration::from_millis(20 + rng.below(400))));
                    stops += 1;
                }
            }
            2..=3 => {
                let w = rng.below(WORKERS as u64) as usize;
                stopped.retain(|&(s, _)| s != w);
                reports.killed.insert(workers[w].child);
                workers[w].k.signal(libc::SIGKILL);
                let mut old = std::mem::replace(&mut workers[w], spawn(&mut rng));
                old.k.wait_exit(Duration::from_secs(60));
                for ev in old.k.drain() {
                    reports.take(old.child, ev, &mut workers, &mut rng);
                }
                kills += 1;
                kills_since_collect += 1;
            }
            4 if Instant::now() < quiet_from => {
                s.collect().unwrap();
                collects += 1;
                kills_since_collect = 0;
            }
            _ => {}
        }
    }
    for w in &workers {
        reports.killed.insert(w.child);
        w.k.signal(libc::SIGCONT);
        w.k.signal(libc::SIGKILL);
    }
    let mut gone = vec![];
    for mut w in std::mem::take(&mut workers) {
        w.k.wait_exit(Duration::from_secs(60));
        gone.push(w);
    }
    // Their last events; tickets given now have no one left to take them.
    for w in &gone {
        for ev in w.k.drain() {
            if !ev.starts_with("gave ") {
                reports.take(w.child, ev, &mut [], &mut rng);
            }
        }
    }
    let before = s.stats().unwrap();
    let files_before = dir.files().len();
    // A worker killed in the middle of a spill that a reader had cancelled
    // leaves its unfinished file to the next collect (its reclaim cannot
    // tell the file is its own): one file at most for each worker killed
    // since the last collect, the last ones included.
    let extra_files = files_before.saturating_sub(before.spilled_count as usize);
    let reclaimed = s.collect().unwrap();
    let st = s.stats().unwrap();
    let ops: u64 = reports.statuses.values().sum();
    let taken = reports.count("take:ok");
    eprintln!(
        "soak_refs: {seconds} s, {} worker processes, {ops} operations, {kills} kills, {stops} stops, {collects} collects",
        next_child - 1
    );
    eprintln!(
        "soak_refs: tickets: {} given and sent, {} given and never sent, {} passed on through pipes, {} not passed on, \
         {taken} taken across processes, {} refused with a killed giver",
        reports.count("give:ok"),
        reports.count("give unsent:ok"),
        reports.routed,
        reports.unrouted,
        reports.lost
    );
    eprintln!("soak_refs: {} spills, {} restores", st.spills_total, st.restores_total);
    eprintln!(
        "soak_refs: before the final collect: {} objects ({} spilled, {files_before} spill files), {} bytes, \
         {} references, {} tickets, {} pinned",
        before.object_count,
        before.spilled_count,
        before.used_bytes,
        before.references,
        before.tickets,
        before.pinned_count
    );
    eprintln!("soak_refs: final collect: {reclaimed:?}");
    eprintln!(
        "soak_refs: after it: {} objects ({} spilled, {} spill files), {} bytes, {} references, {} tickets, {} pinned",
        st.object_count,
        st.spilled_count,
        dir.files().len(),
        st.used_bytes,
        st.references,
        st.tickets,
        st.pinned_count
    );
    for (k, v) in &reports.statuses {
        eprintln!("soak_refs:   {k:<28} {v}");
    }
    assert!(
        reports.failures.is_empty(),
        "{} failures, first: {:#?}",
        reports.failures.len(),
        &reports.failures[..reports.failures.len().min(10)]
    );
    assert!(
        ops > 0 && kills > 0 && taken > 0,
        "the soak did too little: {ops} operations, {kills} kills, {taken} taken"
    );
    assert!(st.spills_total > 0 && st.restores_total > 0, "the soak did not exercise spilling: {st:?}");
    assert!(
        extra_files <= kills_since_collect + WORKERS,
        "{files_before} spill files for {} spilled objects before the final collect, {} workers killed since \
         the last collect: freed objects left files",
        before.spilled_count,
        kills_since_collect + WORKERS
    );
    // The audit first: it says what holds an object left over, if anything.
    assert_consistent(&s);
    // Nothing survives its holders.
    assert_eq!(
        (st.object_count, st.unsealed_count, st.used_bytes, st.references, st.referenced_count),
        (0, 0, 0, 0, 0),
        "{st:?}"
    );
    assert_eq!((st.tickets, st.pinned_count, st.spilled_count, st.spilled_bytes), (0, 0, 0, 0), "{st:?}");
    assert_eq!(dir.files(), Vec::<String>::new(), "spill files left");
    assert!(reports.count("wait set next:ok") > 0, "no wait set handed anything out");
    assert_eq!(s.wait_sets_counted(), 0, "wait sets of killed workers still counted after the collect");
}
