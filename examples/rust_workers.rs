//! Rust workers on a default store: a producer process puts
//! input objects, worker processes transform them into new objects whose
//! IDs derive from the inputs', and the driver waits for every result.
//!
//! Run: `cargo run --release --example rust_workers`
//! (the driver starts the worker processes itself, by re-running this
//! program with `worker N`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use objstore::{ObjectId, Options, Store};

const STORE: &str = "objstore-demo";
const TASKS: usize = 64;
const WORKERS: usize = 4;
const TASK_BYTES: usize = 1 << 20;

/// The ID of the result of the task whose input has ID `input`.
fn result_id(input: &ObjectId) -> ObjectId {
    let mut id = *input;
    id.0[19] ^= 0xff;
    id.0[0] ^= 0x5a;
    id
}

fn worker(index: usize, ids: &[ObjectId]) -> objstore::Result<()> {
    let store = Store::open(STORE, &Options { attach_only: true, ..Options::default() })?;
    for input in ids.iter().skip(index).step_by(WORKERS) {
        let obj = store.get(input, Some(Duration::from_secs(30)))?;
        // The "work": a byte histogram of the input.
        let mut histogram = [0u64; 256];
        for &b in obj.data() {
            histogram[b as usize] += 1;
        }
        let bytes: Vec<u8> = histogram.iter().flat_map(|c| c.to_le_bytes()).collect();
        store.put_as(&result_id(input), &bytes, format!("histogram by worker {index}").as_bytes())?;
    }
    Ok(())
}

fn main() -> objstore::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        let index: usize = args[2].parse().expect("worker index");
        let ids: Vec<ObjectId> = args[3..].iter().map(|h| h.parse().expect("hex ID")).collect();
        return worker(index, &ids);
    }

    let _ = Store::destroy(STORE);
    let store = Store::open(STORE, &Options::default())?;
    let stats = store.stats()?;
    println!(
        "store '{}': capacity {} MiB, {} object slots, up to {} processes",
        store.path().display(),
        stats.capacity_bytes >> 20,
        stats.max_objects,
        stats.max_processes
    );

    // Workers start first and wait in get for inputs that do not exist yet.
    let ids: Vec<ObjectId> = (0..TASKS)
        .map(|i| {
            let mut id = ObjectId([0; 20]);
            id.0[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            id.0[8..16].copy_from_slice(&std::process::id().to_le_bytes().repeat(2));
            id
        })
        .collect();
    let exe = std::env::current_exe().expect("own path");
    let mut children = Vec::new();
    for w in 0..WORKERS {
        let mut cmd = Command::new(&exe);
        cmd.arg("worker").arg(w.to_string()).args(ids.iter().map(ObjectId::to_hex)).stdout(Stdio::inherit());
        children.push(cmd.spawn().expect("spawn worker"));
    }

    let start = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let mut obj = store.create(id, TASK_BYTES, b"u8 input")?;
        for (j, b) in obj.data_mut().iter_mut().enumerate() {
            *b = ((i * 31 + j * 7) % 251) as u8;
        }
        obj.seal()?;
    }
    let mut checked = 0;
    for id in &ids {
        let result = store.get(&result_id(id), Some(Duration::from_secs(60)))?;
        let total: u64 = result.data().chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).sum();
        assert_eq!(total, TASK_BYTES as u64, "a histogram counts every input byte");
        checked += 1;
    }
    let elapsed = start.elapsed();
    for mut c in children {
        let status = c.wait().expect("wait for worker");
        assert!(status.success(), "worker failed: {status}");
    }
    let stats = store.stats()?;
    println!(
        "{TASKS} inputs of {} KiB through {WORKERS} worker processes: {checked} results checked in {:.1} ms",
        TASK_BYTES >> 10,
        elapsed.as_secs_f64() * 1e3
    );
    println!(
        "store now holds {} objects, {} KiB in use, {} processes attached",
        stats.object_count,
        stats.used_bytes >> 10,
        stats.attached_processes
    );
    drop(store);
    Store::destroy(STORE)?;
    Ok(())
}
