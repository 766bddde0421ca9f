//! Micro-benchmarks of the core operations, each reported with a baseline
//! measured in the same run on the same machine:
//! - get + release of a present object, against one uncontended atomic RMW;
//! - put of 64 B .. 64 MiB, against memcpy of the same bytes into warm memory;
//! - create + seal (no copy), against the same memcpy.
//!
//! Run: `cargo bench --bench micro` (OBJSTORE_BENCH_QUICK=1 for a smoke run).
//! Figures are medians over repeated batches; p99 is over batches too.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use objstore::{ObjectId, Options, Store};

fn quick() -> bool {
    std::env::var_os("OBJSTORE_BENCH_QUICK").is_some()
}

/// Per-operation times (ns) of `batches` batches of `per_batch` calls.
fn measure(batches: usize, per_batch: usize, mut f: impl FnMut(usize)) -> Vec<f64> {
    let mut out = Vec::with_capacity(batches);
    for _ in 0..batches {
        let t = Instant::now();
        for i in 0..per_batch {
            f(i);
        }
        out.push(t.elapsed().as_nanos() as f64 / per_batch as f64);
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn median(v: &[f64]) -> f64 {
    v[v.len() / 2]
}

fn p99(v: &[f64]) -> f64 {
    v[((v.len() as f64 * 0.99) as usize).min(v.len() - 1)]
}

fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn main() {
    let name = format!("objstore-bench-{}", std::process::id());
    let _ = Store::destroy(&name);
    let store = Store::open(&name, &Options { capacity_bytes: 1 << 30, prefault: true, ..Options::default() })
        .expect("open bench store");
    let (batches, scale) = if quick() { (5, 1) } else { (31, 10) };

    println!("objstore micro-benchmarks ({} batches per figure; ratios against baselines from this run)\n", batches);

    // --- get + release -------------------------------------------------------
    let counter = AtomicU64::new(0);
    let atomic = measure(batches, 100_000 * scale, |_| {
        black_box(counter.fetch_add(1, Ordering::SeqCst));
    });
    let id = store.put(&[7u8; 1024]).unwrap();
    let get = measure(batches, 100_000 * scale, |_| {
        let o = store.get_raw(&id, Some(Duration::ZERO)).unwrap();
        black_box(o.data);
        store.release(&id).unwrap();
    });
    let big = store.put(&vec![1u8; 16 << 20]).unwrap();
    let get_big = measure(batches, 100_000 * scale, |_| {
        let o = store.get_raw(&big, Some(Duration::ZERO)).unwrap();
        black_box(o.data);
        store.release(&big).unwrap();
    });
    store.delete(&big).unwrap();
    println!("{:<34} {:>10} {:>10} {:>12}", "operation", "median", "p99", "vs baseline");
    println!("{:<34} {:>7.1} ns {:>7.1} ns {:>12}", "atomic fetch_add (baseline)", median(&atomic), p99(&atomic), "1.0x");
    println!(
        "{:<34} {:>7.1} ns {:>7.1} ns {:>11.1}x",
        "get + release (1 KiB object)",
        median(&get),
        p99(&get),
        median(&get) / median(&atomic)
    );
    println!(
        "{:<34} {:>7.1} ns {:>7.1} ns {:>11.1}x",
        "get + release (16 MiB object)",
        median(&get_big),
        p99(&get_big),
        median(&get_big) / median(&atomic)
    );
    println!();

    // --- put, create+seal vs memcpy ---------------------------------------------
    // Each batch copies `per_batch` objects; the memcpy baseline copies the
    // same bytes into `per_batch` distinct destinations of a pre-touched
    // pool, so both move the same footprint: 8 MiB per batch (mostly in the
    // 32 MiB L3: "warm") and 256 MiB (streaming through DRAM). Puts are
    // deleted after each batch (untimed), so their memory is reused warm.
    for (label, footprint) in [("warm, 8 MiB per batch", 8usize << 20), ("streaming, 256 MiB per batch", 256 << 20)] {
        println!("put vs memcpy ({label})");
        println!(
            "{:<10} {:>12} {:>12} {:>12} {:>14} {:>10}",
            "size", "memcpy", "put", "put/memcpy", "create+seal", "put GB/s"
        );
        for &size in &[64usize, 1 << 10, 64 << 10, 1 << 20, 64 << 20] {
            let per_batch = (footprint / size).clamp(1, 20_000);
            let src = vec![0x5au8; size];
            let mut pool = vec![1u8; per_batch * size];
            let memcpy = measure(batches, per_batch, |i| {
                pool[i * size..(i + 1) * size].copy_from_slice(black_box(&src));
                black_box(&pool);
            });
            drop(pool);
            let mut puts = Vec::with_capacity(batches);
            let mut creates = Vec::with_capacity(batches);
            for _ in 0..batches {
                let mut ids = Vec::with_capacity(per_batch);
                let t = Instant::now();
                for _ in 0..per_batch {
                    ids.push(store.put(black_box(&src)).unwrap());
                }
                puts.push(t.elapsed().as_nanos() as f64 / per_batch as f64);
                for id in &ids {
                    store.delete(id).unwrap();
                }
                ids.clear();
                let t = Instant::now();
                for n in 0..per_batch {
                    let mut oid = ObjectId([0; 20]);
                    oid.0[..8].copy_from_slice(&(n as u64).to_le_bytes());
                    let p = store.create_raw(&oid, size, &[]).unwrap();
                    black_box(p);
                    store.seal(&oid).unwrap();
                    ids.push(oid);
                }
                creates.push(t.elapsed().as_nanos() as f64 / per_batch as f64);
                for id in &ids {
                    store.delete(id).unwrap();
                }
            }
            puts.sort_by(|a, b| a.partial_cmp(b).unwrap());
            creates.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let fmt = |ns: f64| if ns >= 100_000.0 { format!("{:.2} ms", ns / 1e6) } else { format!("{:.0} ns", ns) };
            println!(
                "{:<10} {:>12} {:>12} {:>11.2}x {:>14} {:>10.2}",
                human(size),
                fmt(median(&memcpy)),
                fmt(median(&puts)),
                median(&puts) / median(&memcpy),
                fmt(median(&creates)),
                size as f64 / median(&puts)
            );
        }
        println!();
    }
    drop(store);
    let _ = Store::destroy(&name);
}
