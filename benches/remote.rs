//! The remote tier against object_store's own put and get, to the same
//! local Garage (one node on loopback, tests/common/garage.rs), in one run:
//!
//!   cargo bench --features remote --bench remote [-- --sizes 1,16,256,1024 --rounds 3 --medians]
//!   make bench-remote
//!
//! For each size: object_store's put and get of the same bytes, done the way
//! the remote tier does them (one PUT up to 16 MiB, else a multipart upload
//! of 16 MiB parts, 8 in flight; GETs of 8 MiB ranges, 8 in flight, into one
//! buffer: one GET up to 8 MiB), then `Store::publish` from one store and a
//! get in a second store (the fetch), then that get again (local). The
//! baseline goes first in even rounds, the remote tier in odd ones, so that
//! what Garage still does after a round's deletes falls on both.
//! Each figure is the best of `--rounds`; MB/s is 10^6 bytes per second.
//! `--medians` adds a line of each one's median time.
//!
//! Every put writes new bytes: Garage keeps the blocks of a deleted object
//! for a while, and does not write a block it has, so a put of bytes put
//! before (in the round before, or by the other side of this round: the
//! published body is the data alone) would skip the disk.
//! The ratios are what BENCHMARKS.md reports: publish / put and fetch / get
//! (the floor is the server and loopback, so at best about 1), and the
//! first get over the second.

#[path = "../tests/common/garage.rs"]
mod garage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use objstore::{Options, RemoteConfig, Store};

const MIB: usize = 1 << 20;
const PART: usize = 16 * MIB;
const RANGE: usize = 8 * MIB;
const IN_FLIGHT: usize = 8;

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

async fn put(store: &Arc<dyn ObjectStore>, path: &ObjPath, data: &Bytes) {
    if data.len() <= PART {
        store.put(path, PutPayload::from_bytes(data.clone())).await.expect("put");
        return;
    }
    let mut upload = store.put_multipart(path).await.expect("put_multipart");
    let mut in_flight = FuturesUnordered::new();
    let mut at = 0;
    while at < data.len() || !in_flight.is_empty() {
        while at < data.len() && in_flight.len() < IN_FLIGHT {
            let end = (at + PART).min(data.len());
            in_flight.push(upload.put_part(data.slice(at..end).into()));
            at = end;
        }
        if let Some(done) = in_flight.next().await {
            done.expect("part");
        }
    }
    upload.complete().await.expect("complete");
}

async fn get(store: &Arc<dyn ObjectStore>, path: &ObjPath, out: &mut [u8]) {
    let len = out.len();
    let ranges: Vec<(usize, usize)> = (0..len).step_by(RANGE).map(|s| (s, (s + RANGE).min(len))).collect();
    let out_ptr = out.as_mut_ptr() as usize;
    let mut parts = futures_util::stream::iter(ranges.into_iter().map(|(s, e)| {
        let (store, path) = (store.clone(), path.clone());
        async move {
            let opts = GetOptions { range: Some(GetRange::Bounded(s as u64..e as u64)), ..GetOptions::default() };
            let mut stream = store.get_opts(&path, opts).await.expect("ranged get").into_stream();
            let mut at = s;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.expect("body");
                // SAFETY: each range writes its own disjoint part of `out`,
                // which outlives this future (awaited below).
                unsafe { std::ptr::copy_nonoverlapping(chunk.as_ptr(), (out_ptr + at) as *mut u8, chunk.len()) };
                at += chunk.len();
            }
            assert_eq!(at, e);
        }
    }))
    .buffer_unordered(IN_FLIGHT);
    while parts.next().await.is_some() {}
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    let mut sizes = vec![1, 16, 256, 1024];
    let mut rounds = 3;
    let mut medians = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--sizes" => sizes = it.next().expect("--sizes 1,16").split(',').map(|s| s.parse().expect("MiB")).collect(),
            "--rounds" => rounds = it.next().and_then(|s| s.parse().ok()).expect("--rounds N"),
            "--smoke" => {
                sizes = vec![1, 32];
                rounds = 1;
            }
            "--medians" => medians = true,
            "--bench" => {}
            other => panic!("unknown option {other} (see the top of benches/remote.rs)"),
        }
    }
    let setup = garage::Setup { extra_config: "compression_level = \"none\"".into() };
    let Some(g) = garage::single_with(&setup) else {
        eprintln!("remote bench: no Garage, nothing measured");
        return;
    };
    let env = g.env();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = AmazonS3Builder::new();
    for (k, v) in &env {
        b = b.with_config(k.to_ascii_lowercase().parse().unwrap(), v);
    }
    let raw: Arc<dyn ObjectStore> = Arc::new(b.build().expect("S3 client"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config: RemoteConfig = env.iter().cloned().collect();
    let max = sizes.iter().max().copied().unwrap_or(1) * MIB;
    let capacity = (max + max / 8 + (64 << 20)) as u64;
    let names = [
        format!("objstore-bench-remote-a-{}", std::process::id()),
        format!("objstore-bench-remote-b-{}", std::process::id()),
    ];
    let url = format!("s3://{}/bench", g.bucket);
    let open = |name: &str| {
        let _ = Store::destroy(name);
        Store::open(
            name,
            &Options {
                capacity_bytes: capacity,
                remote_url: Some(url.clone()),
                remote_config: config.clone(),
                ..Options::default()
            },
        )
        .expect("open store")
    };
    let (a, bs) = (open(&names[0]), open(&names[1]));

    println!("Garage {} on loopback (1 node, no compression); best of {rounds}; MB/s = 10^6 B/s", garage::VERSION);
    println!(
        "{:>8} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7} {:>12} {:>12}",
        "size", "put MB/s", "publish", "ratio", "get MB/s", "fetch", "ratio", "2nd get", "1st/2nd"
    );
    for &mib in &sizes {
        let len = mib * MIB;
        let mut buf = vec![0u8; len];
        // put, get, publish, fetch, second get: each round's time.
        let mut times: [Vec<Duration>; 5] = Default::default();
        for r in 0..rounds {
            let seed = (mib as u64) << 32 | (r as u64) << 1;
            let (data, published) = (Bytes::from(pattern(seed, len)), Bytes::from(pattern(seed | 1, len)));
            let path = ObjPath::from(format!("raw/{mib}/{r}"));
            let mut baseline = |times: &mut [Vec<Duration>; 5]| {
                let t = Instant::now();
                rt.block_on(put(&raw, &path, &data));
                times[0].push(t.elapsed());
                let t = Instant::now();
                rt.block_on(get(&raw, &path, &mut buf));
                times[1].push(t.elapsed());
                assert!(buf[..] == data[..], "object_store read back other bytes");
                rt.block_on(raw.delete(&path)).expect("delete");
            };
            let remote_tier = |times: &mut [Vec<Duration>; 5]| {
                let id = a.put(&published).expect("put into the store");
                let t = Instant::now();
                a.publish(&id, None).expect("publish");
                times[2].push(t.elapsed());
                let t = Instant::now();
                let obj = bs.get(&id, Some(Duration::from_secs(600))).expect("fetch");
                times[3].push(t.elapsed());
                assert!(obj.data() == &published[..], "the fetch read back other bytes");
                drop(obj);
                let t = Instant::now();
                let again = bs.get(&id, None).expect("local get");
                times[4].push(t.elapsed());
                drop(again);
                bs.delete(&id).unwrap();
                a.delete(&id).unwrap();
                a.unpublish(&id, None).unwrap();
            };
            // Each goes first in every other round (see the top).
            if r % 2 == 0 {
                baseline(&mut times);
                remote_tier(&mut times);
            } else {
                remote_tier(&mut times);
                baseline(&mut times);
            }
        }
        for t in &mut times {
            t.sort();
        }
        let best = |i: usize| times[i][0];
        let (put_t, get_t, pub_t, fetch_t, local_t) = (best(0), best(1), best(2), best(3), best(4));
        println!(
            "{:>5}MiB {:>10.0} {:>10.0} {:>7.2} {:>10.0} {:>10.0} {:>7.2} {:>12?} {:>12.0}",
            mib,
            mbps(len, put_t),
            mbps(len, pub_t),
            put_t.as_secs_f64() / pub_t.as_secs_f64(),
            mbps(len, get_t),
            mbps(len, fetch_t),
            get_t.as_secs_f64() / fetch_t.as_secs_f64(),
            local_t,
            fetch_t.as_secs_f64() / local_t.as_secs_f64()
        );
        if medians {
            let med = |i: usize| times[i][times[i].len() / 2];
            let (put_m, get_m, pub_m, fetch_m, local_m) = (med(0), med(1), med(2), med(3), med(4));
            println!(
                "{:>8} {:>10.0} {:>10.0} {:>7.2} {:>10.0} {:>10.0} {:>7.2} {:>12?} {:>12.0}",
                "median",
                mbps(len, put_m),
                mbps(len, pub_m),
                put_m.as_secs_f64() / pub_m.as_secs_f64(),
                mbps(len, get_m),
                mbps(len, fetch_m),
                get_m.as_secs_f64() / fetch_m.as_secs_f64(),
                local_m,
                fetch_m.as_secs_f64() / local_m.as_secs_f64()
            );
        }
    }
    drop((a, bs));
    for n in &names {
        let _ = Store::destroy(n);
    }
}
