//! Throughput of 1, 2, ... N processes running the same loop at once:
//! get + release on distinct objects and on one shared object, and put +
//! delete churn; against the same processes incrementing private and shared
//! atomic counters, which is what the machine itself allows.
//!
//! Every worker runs `batches` batches of `per_batch` operations, timing each
//! batch; the aggregate throughput is all operations over the wall time from
//! the first worker's start to the last one's end (CLOCK_MONOTONIC, the same
//! in every process), so processes that could not run at once (more
//! processes than cores) show up as no gain rather than as a false one.

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::Duration;

use objstore::{ObjectId, Options, Store};

use crate::procs::{mono_ns, start_together, worker_ready, RemoveOnDrop, SharedWords, TempStore, Worker};
use crate::stats::{ratio, time, Samples, Table};
use crate::Config;

/// Bytes between private counters: two cache lines, so that the adjacent-
/// line prefetcher does not couple them.
const COUNTER_STRIDE: usize = 128;
const SHARED_LEN: usize = 4096 * 4;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    AtomicPrivate,
    AtomicShared,
    GetOwn,
    GetAdjacent,
    GetShared,
    Churn,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::AtomicPrivate => "atomic-private",
            Load::AtomicShared => "atomic-shared",
            Load::GetOwn => "get-own",
            Load::GetAdjacent => "get-adjacent",
            Load::GetShared => "get-shared",
            Load::Churn => "churn",
        }
    }

    fn parse(s: &str) -> Load {
        [Load::AtomicPrivate, Load::AtomicShared, Load::GetOwn, Load::GetAdjacent, Load::GetShared, Load::Churn]
            .into_iter()
            .find(|l| l.name() == s)
            .unwrap_or_else(|| panic!("unknown workload {s}"))
    }

    fn label(self) -> &'static str {
        match self {
            Load::AtomicPrivate => "atomic fetch_add, own cache line (baseline)",
            Load::AtomicShared => "atomic fetch_add, one shared line (baseline)",
            Load::GetOwn => "get + release, distinct objects (each process's own)",
            Load::GetAdjacent => "get + release, distinct objects put one after another by one process",
            Load::GetShared => "get + release, one shared object",
            Load::Churn => "put + delete 1 KiB, each process its own",
        }
    }

    /// Operations per batch: about a millisecond of work.
    fn per_batch(self) -> usize {
        match self {
            Load::AtomicPrivate | Load::AtomicShared => 100_000,
            Load::GetOwn | Load::GetAdjacent | Load::GetShared => 10_000,
            Load::Churn => 2_500,
        }
    }
}

/// What one worker reports.
struct Outcome {
    start: u64,
    end: u64,
    ops: u64,
    batch_ns: Vec<f64>,
}

struct Run {
    per_op: Samples,
    /// Operations per second, all processes together.
    aggregate: f64,
}

fn run(cfg: &Config, store: &str, shared: &str, load: Load, procs: usize, ids: &[ObjectId]) -> Run {
    let batches = if cfg.smoke { 10 } else { 100 };
    let mut workers: Vec<Worker> = (0..procs)
        .map(|i| {
            let id = ids.get(i).or(ids.first()).map_or("-".to_string(), |id| id.to_hex());
            Worker::spawn(&[
                "loop".into(),
                load.name().into(),
                store.into(),
                shared.into(),
                i.to_string(),
                batches.to_string(),
                load.per_batch().to_string(),
                id,
            ])
        })
        .collect();
    start_together(&mut workers);
    let outcomes: Vec<Outcome> = workers
        .iter_mut()
        .map(|w| {
            let l = w.line();
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.first(), Some(&"done"), "worker said {l}");
            Outcome {
                start: f[1].parse().unwrap(),
                end: f[2].parse().unwrap(),
                ops: f[3].parse().unwrap(),
                batch_ns: f[4].split(',').map(|x| x.parse().unwrap()).collect(),
            }
        })
        .collect();
    workers.into_iter().for_each(Worker::finish);
    let start = outcomes.iter().map(|o| o.start).min().unwrap();
    let end = outcomes.iter().map(|o| o.end).max().unwrap();
    let ops: u64 = outcomes.iter().map(|o| o.ops).sum();
    Run {
        per_op: Samples::new(outcomes.into_iter().flat_map(|o| o.batch_ns).collect()),
        aggregate: ops as f64 * 1e9 / (end - start) as f64,
    }
}

pub fn scaling(cfg: &Config) {
    let tmp = TempStore::new("scale");
    let store = Store::open(&tmp.name, &Options { capacity_bytes: 256 << 20, ..Options::default() }).expect("open");
    let shared_path = format!("{}/{}{}-words", objstore::SHM_DIR, crate::procs::PREFIX, std::process::id());
    let _words = SharedWords::open(&shared_path, SHARED_LEN, true);
    let _rm = RemoveOnDrop(shared_path.clone());
    let max = *cfg.procs.iter().max().unwrap();
    // Objects put by this process one after another (adjacent object slots),
    // one per worker; the first also serves as the shared object.
    let adjacent: Vec<ObjectId> = (0..max).map(|i| store.put(&[i as u8; 1024]).unwrap()).collect();

    let mut t = Table::new(
        "processes at once: throughput and scaling",
        &[
            "workload",
            "procs",
            "per-op median (each process)",
            "p99",
            "n",
            "aggregate",
            "scaling vs 1 proc",
            "machine's scaling (baseline)",
            "ratio",
        ],
    );
    let mut machine: Vec<(usize, f64)> = vec![];
    let mut contended: Vec<(usize, f64)> = vec![];
    for load in [Load::AtomicPrivate, Load::AtomicShared, Load::GetOwn, Load::GetAdjacent, Load::GetShared, Load::Churn]
    {
        let mut one = None;
        for &n in &cfg.procs {
            let ids: &[ObjectId] = match load {
                Load::GetShared => &adjacent[..1],
                Load::GetAdjacent => &adjacent,
                _ => &[],
            };
            let r = run(cfg, &tmp.name, &shared_path, load, n, ids);
            let one_rate = *one.get_or_insert(r.aggregate);
            let scaling = r.aggregate / one_rate;
            match load {
                Load::AtomicPrivate => machine.push((n, scaling)),
                Load::AtomicShared => contended.push((n, scaling)),
                _ => {}
            }
            // Distinct-object loads compare with private counters, the
            // shared object with a shared counter.
            let base = if load == Load::GetShared { &contended } else { &machine };
            let base_scaling = base.iter().find(|(m, _)| *m == n).map_or(1.0, |x| x.1);
            t.row(vec![
                load.label().into(),
                n.to_string(),
                time(r.per_op.median()),
                time(r.per_op.p99()),
                r.per_op.len().to_string(),
                format!("{:.1} M/s", r.aggregate / 1e6),
                ratio(scaling),
                ratio(base_scaling),
                ratio(scaling / base_scaling),
            ]);
        }
    }
    t.note(format!(
        "{} batches per process of ~1 ms each; a sample is one batch's time per operation in one process. \
         \"aggregate\" is all operations over the wall time of the whole run. The machine's scaling is that of the \
         same number of processes incrementing private counters (a shared counter, for the shared object); \
         ratio = scaling / machine's scaling. This machine has {} cores: beyond that, processes take turns.",
        if cfg.smoke { 10 } else { 100 },
        crate::cores()
    ));
    t.print();
    drop(store);
}

// ----- worker side ----------------------------------------------------------------

pub fn worker(args: &[String]) {
    let [load, store_name, shared, index, batches, per_batch, id] = args else {
        panic!("loop worker: bad arguments {args:?}")
    };
    let load = Load::parse(load);
    let index: usize = index.parse().unwrap();
    let (batches, per_batch): (usize, usize) = (batches.parse().unwrap(), per_batch.parse().unwrap());
    let words = SharedWords::open(shared, SHARED_LEN, false);
    let store = Store::open(store_name, &Options { attach_only: true, ..Options::default() }).expect("attach");
    let own = (load == Load::GetOwn).then(|| store.put(&[index as u8; 1024]).unwrap());
    let given = (id != "-").then(|| id.parse::<ObjectId>().unwrap());
    let target = own.or(given);
    let private = words.u64(COUNTER_STRIDE * (index + 1));
    let shared_word = words.u64(0);
    let data = [index as u8; 1024];

    let op = |_: usize| match load {
        Load::AtomicPrivate => {
            black_box(private.fetch_add(1, Ordering::SeqCst));
        }
        Load::AtomicShared => {
            black_box(shared_word.fetch_add(1, Ordering::SeqCst));
        }
        Load::GetOwn | Load::GetAdjacent | Load::GetShared => {
            let id = target.as_ref().unwrap();
            let o = store.get_raw(id, Some(Duration::ZERO)).unwrap();
            black_box(o.data);
            store.release(id).unwrap();
        }
        Load::Churn => {
            let id = store.put(black_box(&data)).unwrap();
            store.delete(&id).unwrap();
        }
    };
    // Warm up (caches, slabs) before the start signal.
    (0..per_batch / 10).for_each(op);
    let at = worker_ready();
    crate::procs::wait_until(at);
    let start = mono_ns();
    let mut samples = Vec::with_capacity(batches);
    for _ in 0..batches {
        let t = mono_ns();
        (0..per_batch).for_each(op);
        samples.push(format!("{:.2}", (mono_ns() - t) as f64 / per_batch as f64));
    }
    let end = mono_ns();
    println!("done {start} {end} {} {}", batches * per_batch, samples.join(","));
    if let Some(id) = own {
        store.delete(&id).unwrap();
    }
}
