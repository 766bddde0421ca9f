//! object_store's own put and get throughput against a local single-node
//! Garage (tests/common/garage.rs): the baseline that the remote tier is
//! compared with.
//!
//!   cargo run --release --example garage_throughput [-- OPTIONS]
//!   make bench-garage
//!
//! Options:
//!   --sizes 1,16,256      object sizes in MiB
//!   --part-mib 8          multipart part size and ranged-GET size, in MiB
//!   --concurrency 4       parts (and ranges) in flight at once
//!   --total-mib 512       bytes moved per size and direction (at least one object)
//!   --no-compression      Garage stores blocks uncompressed (default: its zstd level 1)
//!   --smoke               one 1 MiB and one 16 MiB object, once: checks that it works
//!
//! An object larger than one part is put with `put_multipart` through
//! `WriteMultipart` (parts uploaded in parallel) and read back with parallel
//! ranged GETs of one part each; a smaller one with a single PUT and GET.
//! Every object read is checked against what was written (not timed). The
//! data is pseudo-random, so compression gains nothing. MB/s is 10^6 bytes
//! per second.

#[path = "../tests/common/garage.rs"]
mod garage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

const MIB: usize = 1 << 20;

struct Args {
    sizes: Vec<usize>,
    part: usize,
    concurrency: usize,
    total: usize,
    compression: bool,
}

fn parse_args() -> Args {
    let mut a = Args { sizes: vec![1, 16, 256], part: 8, concurrency: 4, total: 512, compression: true };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> usize {
        v.and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{what} wants a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sizes" => {
                a.sizes = it
                    .next()
                    .expect("--sizes wants a list")
                    .split(',')
                    .map(|s| s.trim().parse().expect("--sizes wants numbers of MiB"))
                    .collect()
            }
            "--part-mib" => a.part = num(it.next(), "--part-mib"),
            "--concurrency" => a.concurrency = num(it.next(), "--concurrency").max(1),
            "--total-mib" => a.total = num(it.next(), "--total-mib"),
            "--no-compression" => a.compression = false,
            "--smoke" => {
                a.sizes = vec![1, 16];
                a.total = 0;
            }
            // What cargo bench or the test harness may pass.
            "--bench" | "--nocapture" => {}
            other => panic!("unknown option {other} (see the top of examples/garage_throughput.rs)"),
        }
    }
    a.part = a.part.max(5) * MIB; // S3's smallest part (but the last) is 5 MiB
    a
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn put(store: &Arc<dyn ObjectStore>, path: &ObjPath, data: &Bytes, a: &Args) {
    if data.len() <= a.part {
        store.put(path, PutPayload::from_bytes(data.clone())).await.expect("put");
        return;
    }
    let upload = store.put_multipart(path).await.expect("put_multipart");
    let mut w = WriteMultipart::new_with_chunk_size(upload, a.part);
    let mut off = 0;
    while off < data.len() {
        let end = (off + a.part).min(data.len());
        w.wait_for_capacity(a.concurrency).await.expect("part upload");
        w.put(data.slice(off..end));
        off = end;
    }
    w.finish().await.expect("complete multipart upload");
}

async fn get(store: &Arc<dyn ObjectStore>, path: &ObjPath, len: usize, a: &Args) -> Vec<Bytes> {
    if len <= a.part {
        return vec![store.get(path).await.expect("get").bytes().await.expect("get body")];
    }
    let ranges: Vec<(usize, std::ops::Range<u64>)> =
        (0..len.div_ceil(a.part)).map(|i| (i, (i * a.part) as u64..((i + 1) * a.part).min(len) as u64)).collect();
    let mut parts = vec![Bytes::new(); ranges.len()];
    let mut set = tokio::task::JoinSet::new();
    for (i, r) in ranges {
        if set.len() >= a.concurrency {
            let (j, b) = set.join_next().await.unwrap().unwrap();
            parts[j] = b;
        }
        let (store, path) = (store.clone(), path.clone());
        set.spawn(async move { (i, store.get_range(&path, r).await.expect("ranged get")) });
    }
    while let Some(done) = set.join_next().await {
        let (j, b) = done.unwrap();
        parts[j] = b;
    }
    parts
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    let a = parse_args();
    let setup = garage::Setup {
        extra_config: if a.compression { String::new() } else { "compression_level = \"none\"".into() },
    };
    let Some(g) = garage::single_with(&setup) else {
        eprintln!("garage_throughput: no Garage, nothing measured");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // TLS by rustls on ring (the provider the remote tier installs too).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = AmazonS3Builder::new();
    for (k, v) in g.env() {
        b = b.with_config(k.to_ascii_lowercase().parse().unwrap(), v);
    }
    let store: Arc<dyn ObjectStore> = Arc::new(b.build().expect("S3 client"));

    println!(
        "object_store -> Garage {} (1 node on loopback, {}), part/range {} MiB, {} in flight, Garage compression {}",
        garage::VERSION,
        g.endpoint(),
        a.part / MIB,
        a.concurrency,
        if a.compression { "zstd 1 (its default)" } else { "none" }
    );
    println!("{:>9} {:>5} {:>22} {:>10} {:>22} {:>10}", "size", "objs", "put", "MB/s", "get", "MB/s");
    for &mib in &a.sizes {
        let len = mib * MIB;
        let n = (a.total * MIB / len).max(1);
        let data = Bytes::from(pattern(mib as u64, len));
        let paths: Vec<ObjPath> = (0..n).map(|i| ObjPath::from(format!("bench/{mib}MiB/{i}"))).collect();
        let t = Instant::now();
        for p in &paths {
            rt.block_on(put(&store, p, &data, &a));
        }
        let put_t = t.elapsed();
        let mut get_t = Duration::ZERO;
        for p in &paths {
            let t = Instant::now();
            let parts = rt.block_on(get(&store, p, len, &a));
            get_t += t.elapsed();
            let mut off = 0;
            for part in &parts {
                assert_eq!(part[..], data[off..off + part.len()], "{p}: wrong bytes at {off}");
                off += part.len();
            }
            assert_eq!(off, len, "{p}: wrong length");
        }
        for p in &paths {
            rt.block_on(store.delete(p)).expect("delete");
        }
        let (put_how, get_how) = if len <= a.part {
            ("PUT".to_string(), "GET".to_string())
        } else {
            let parts = len.div_ceil(a.part);
            (format!("multipart {parts}x{}MiB", a.part / MIB), format!("{parts} ranged GETs"))
        };
        println!(
            "{:>6}MiB {:>5} {:>22} {:>10.0} {:>22} {:>10.0}",
            mib,
            n,
            put_how,
            mbps(len * n, put_t),
            get_how,
            mbps(len * n, get_t)
        );
    }
}
