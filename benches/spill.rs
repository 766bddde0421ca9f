//! Spill and restore throughput, against plain file writes and reads of the
//! same bytes in the same directory, in one run.
//!
//! - spill: a put into a full store, which spills an equal amount (memcpy in,
//!   CRC, write, rename) — baseline: memcpy + write + rename of one file;
//! - restore: a get of a spilled object into free memory (read, CRC check,
//!   install) — baseline: read of one file into its own (pre-touched) buffer.
//!
//! Files go to $OBJSTORE_BENCH_DIR (default /tmp); reads hit the page cache
//! in both cases. Run: `cargo bench --bench spill`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use objstore::{Options, Store};

fn main() {
    let quick = std::env::var_os("OBJSTORE_BENCH_QUICK").is_some();
    let base = std::env::var("OBJSTORE_BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    let dir = format!("{base}/objstore-spill-bench-files-{}", std::process::id());
    let files = format!("{dir}/plain");
    std::fs::create_dir_all(&files).unwrap();
    let name = format!("objstore-spill-bench-{}", std::process::id());
    let _ = Store::destroy(&name);
    let capacity: u64 = if quick { 64 << 20 } else { 256 << 20 };
    let store = Store::open(
        &name,
        &Options { capacity_bytes: capacity, spill_dir: Some(format!("{dir}/spill").into()), ..Options::default() },
    )
    .unwrap();
    println!("spill and restore throughput (store {} MiB, files in {base})\n", capacity >> 20);
    println!(
        "{:<8} {:>14} {:>14} {:>8} {:>14} {:>14} {:>8}",
        "size", "spill put", "write file", "ratio", "restore get", "read file", "ratio"
    );
    for &size in &[64usize << 10, 1 << 20, 16 << 20] {
        let data = vec![0x3cu8; size];
        let count = (capacity as usize / size).max(4);
        // Fill the store to capacity (no spilling yet), then measure puts
        // that each spill about their own size.
        let mut ids = vec![];
        for _ in 0..capacity as usize / size {
            ids.push(store.put(&data).unwrap());
        }
        let t = Instant::now();
        for _ in 0..count {
            ids.push(store.put(&data).unwrap());
        }
        let spill = t.elapsed();
        // Baseline: the same copy and the same file traffic, by hand.
        let t = Instant::now();
        let mut buf = vec![0u8; size];
        for i in 0..count {
            buf.copy_from_slice(&data);
            let tmp = format!("{files}/{i}.tmp");
            let mut f = std::fs::File::create(&tmp).unwrap();
            f.write_all(&buf).unwrap();
            drop(f);
            std::fs::rename(&tmp, format!("{files}/{i}")).unwrap();
        }
        let write = t.elapsed();
        // Restore: free memory first (delete what is in memory), then get
        // spilled objects, which now fit without spilling anything else.
        let spilled: Vec<_> = store
            .list()
            .unwrap()
            .into_iter()
            .filter(|o| o.state == objstore::ObjectState::Spilled)
            .map(|o| o.id)
            .collect();
        for info in store.list().unwrap() {
            if info.state == objstore::ObjectState::Sealed {
                store.delete(&info.id).unwrap();
            }
        }
        let n = spilled.len().min(count).min((capacity as usize / size) * 3 / 4);
        let t = Instant::now();
        for id in &spilled[..n] {
            let o = store.get(id, Some(Duration::ZERO)).unwrap();
            std::hint::black_box(o.data()[0]);
        }
        let restore = t.elapsed();
        // Into distinct buffers, as restores go to distinct blocks.
        let mut pool = vec![1u8; n * size];
        let t = Instant::now();
        for i in 0..n {
            let mut f = std::fs::File::open(format!("{files}/{i}")).unwrap();
            f.read_exact(&mut pool[i * size..(i + 1) * size]).unwrap();
            std::hint::black_box(pool[i * size]);
        }
        let read = t.elapsed();
        drop(pool);
        let mbs = |bytes: usize, d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
        let (sp, wr) = (mbs(count * size, spill), mbs(count * size, write));
        let (re, rd) = (mbs(n * size, restore), mbs(n * size, read));
        println!(
            "{:<8} {:>9.0} MB/s {:>9.0} MB/s {:>7.2}x {:>9.0} MB/s {:>9.0} MB/s {:>7.2}x",
            if size >= 1 << 20 { format!("{} MiB", size >> 20) } else { format!("{} KiB", size >> 10) },
            sp,
            wr,
            sp / wr,
            re,
            rd,
            re / rd
        );
        for info in store.list().unwrap() {
            let _ = store.delete(&info.id);
        }
        for i in 0..count {
            let _ = std::fs::remove_file(format!("{files}/{i}"));
        }
    }
    drop(store);
    let _ = Store::destroy(&name);
    let _ = std::fs::remove_dir_all(&dir);
}
