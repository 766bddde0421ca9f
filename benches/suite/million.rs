//! A million objects in one store: fill time, how a put and a get fare in
//! a full table against an empty one, and memory per object.

use std::hint::black_box;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use objstore::{Options, Store};

use crate::procs::TempStore;
use crate::single::derived_id;
use crate::stats::{bytes, figure_row, measure, ratio, time, Samples, Table, FIGURE_HEAD};
use crate::Config;

const SIZE: usize = 64;

/// This process's resident memory, in bytes (VmRSS).
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn million(cfg: &Config) {
    let n = cfg.million;
    let batch = if cfg.smoke { 5_000 } else { 10_000 };
    let capacity: u64 = (n * SIZE as u64 * 2).max(64 << 20);
    let tmp = TempStore::new("million");
    let rss0 = rss();
    let store = Store::open(&tmp.name, &Options { capacity_bytes: capacity, max_objects: n, ..Options::default() })
        .expect("open the million store");
    let data = [0x6du8; SIZE];
    // Objects have derived IDs (object i is `derived_id(3, i)`), so any of
    // them can be named again without keeping a million IDs in memory.
    let fill = |per_put: &mut Vec<f64>| -> f64 {
        let t0 = Instant::now();
        let mut done = 0u64;
        while done < n {
            let k = batch.min(n - done);
            let t = Instant::now();
            for i in done..done + k {
                store.put_as(&derived_id(3, i), black_box(&data), &[]).expect("put");
            }
            per_put.push(t.elapsed().as_nanos() as f64 / k as f64);
            done += k;
        }
        t0.elapsed().as_nanos() as f64
    };
    let mut per_put = vec![];
    let fill_ns = fill(&mut per_put);
    let rss_full = rss();
    let st = store.stats().unwrap();
    assert_eq!(st.object_count, n, "every object is in");
    let meta = std::fs::metadata(tmp.path()).unwrap();

    // Gets: the same hot object again and again, against objects picked at
    // random from the whole table (index, descriptor and mask lines mostly
    // out of cache).
    let per = if cfg.smoke { 10_000 } else { 100_000 };
    let hot = derived_id(3, 0);
    let get_hot = measure(cfg.batches, per, |_| {
        black_box(store.get_raw(&hot, Some(Duration::ZERO)).unwrap());
        store.release(&hot).unwrap();
    });
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let get_spread = measure(cfg.batches, per, |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let id = derived_id(3, x % n);
        black_box(store.get_raw(&id, Some(Duration::ZERO)).unwrap());
        store.release(&id).unwrap();
    });

    // The baseline for random gets: a chase through a random cycle of cache
    // lines spread over as much memory as the store's metadata and arena
    // (each step one dependent load that misses every cache, with its TLB
    // miss, as the get's index, descriptor and mask reads do).
    let store_bytes = std::fs::metadata(tmp.path()).map_or(capacity, |m| m.size());
    let chase = pointer_chase(store_bytes as usize, cfg.batches, per);

    // Empty the store and fill it again: the same puts into warm pages and
    // a table that has held a million objects.
    let t0 = Instant::now();
    for i in 0..n {
        store.delete(&derived_id(3, i)).expect("delete");
    }
    let delete_ns = t0.elapsed().as_nanos() as f64;
    let mut per_put_warm = vec![];
    let refill_ns = fill(&mut per_put_warm);
    let tenth = (per_put_warm.len() / 10).max(1);
    let first = Samples::new(per_put_warm[..tenth].to_vec());
    let last = Samples::new(per_put_warm[per_put_warm.len() - tenth..].to_vec());
    let cold = Samples::new(per_put);
    let warm = Samples::new(per_put_warm);

    let mut t = Table::new(&format!("{n} objects of {SIZE} B in one store"), &FIGURE_HEAD);
    t.row(vec![
        format!("fill a fresh store: {n} puts"),
        time(fill_ns),
        "–".into(),
        "1".into(),
        format!("the same fill again, after deleting all: {}", time(refill_ns)),
        ratio(fill_ns / refill_ns),
        format!("{:.2} M puts/s; warm {:.2} M/s", n as f64 / fill_ns * 1e3, n as f64 / refill_ns * 1e3),
    ]);
    t.row(figure_row(
        "put 64 B during the fill of a fresh store",
        &cold,
        "during the refill",
        &warm,
        format!("batches of {batch}"),
    ));
    t.row(figure_row(
        "put 64 B, last tenth of the refill (table 90-100% full)",
        &last,
        "first tenth",
        &first,
        String::new(),
    ));
    t.row(vec![
        format!("delete all {n}"),
        time(delete_ns),
        "–".into(),
        "1".into(),
        format!("refill: {}", time(refill_ns)),
        ratio(delete_ns / refill_ns),
        format!("{} per delete", time(delete_ns / n as f64)),
    ]);
    t.row(figure_row(
        &format!("get + release, random objects among {n}"),
        &get_spread,
        "one object, again and again",
        &get_hot,
        "cache misses on index, descriptor, pin mask".into(),
    ));
    t.row(figure_row(
        &format!("get + release, random objects among {n}"),
        &get_spread,
        "one dependent cache miss (pointer chase)",
        &chase,
        format!("the ratio is the get's worth in cache misses; chase over {}", bytes(store_bytes)),
    ));
    t.print();

    let metadata_bytes = meta.size() - capacity;
    let allocated = meta.blocks() * 512;

    let mut mt = Table::new(
        &format!("memory per object ({n} objects of {SIZE} B)"),
        &["figure", "bytes", "per object", "baseline", "ratio"],
    );
    let per_obj = |b: u64| format!("{:.1} B", b as f64 / n as f64);
    let target = 128.0;
    mt.row(vec![
        format!("store metadata for max_objects = {n} (file size − capacity)"),
        bytes(metadata_bytes),
        per_obj(metadata_bytes),
        "SPEC: ≤ 128 B + alignment".into(),
        ratio(metadata_bytes as f64 / n as f64 / target),
    ]);
    mt.row(vec![
        "store memory reserved after the fill (fallocated: metadata + arena regions)".into(),
        bytes(allocated),
        per_obj(allocated),
        format!("payload {SIZE} B + 128 B"),
        ratio(allocated as f64 / n as f64 / (SIZE as f64 + target)),
    ]);
    mt.row(vec![
        "this process's RSS growth (open + fill; shared pages it touched, its own pin counters)".into(),
        bytes(rss_full.saturating_sub(rss0)),
        per_obj(rss_full.saturating_sub(rss0)),
        format!("payload {SIZE} B + 128 B"),
        ratio(rss_full.saturating_sub(rss0) as f64 / n as f64 / (SIZE as f64 + target)),
    ]);
    mt.note(format!(
        "Store of {} capacity, no prefault: memory is reserved in 32 MiB regions as the fill reaches them. \
         The metadata holds, per object slot, a 64-byte descriptor, index entries (kept ≤ 62% full), a pin mask of one \
         bit per process slot (256 by default: 32 B), a linger mask of 8 B and bitmap bits.",
        bytes(capacity)
    ));
    mt.print();
    drop(store);
}

/// Nanoseconds per step of a chase through a random cycle over `bytes` of
/// memory, one 64-byte line per step (Sattolo's shuffle: a single cycle, so
/// no step can be predicted or served from a short loop).
fn pointer_chase(bytes: usize, batches: usize, per_batch: usize) -> Samples {
    const LINE_WORDS: usize = 8;
    let lines = (bytes / 64).max(2);
    let mut next = vec![0u64; lines * LINE_WORDS];
    let mut order: Vec<usize> = (0..lines).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..lines).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % i as u64) as usize;
        order.swap(i, j);
    }
    // Sattolo's permutation read as a successor table: i -> order[i].
    for (i, &to) in order.iter().enumerate() {
        next[i * LINE_WORDS] = to as u64;
    }
    let mut at = 0usize;
    // One lap's start-up out of the way (pages touched, TLB warm as it gets).
    for _ in 0..per_batch {
        at = next[at * LINE_WORDS] as usize;
    }
    let s = measure(batches, per_batch, |_| {
        at = black_box(next[at * LINE_WORDS] as usize);
    });
    black_box(at);
    s
}
