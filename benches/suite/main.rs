//! objstore's benchmark suite: every figure with its median, its p99 and its
//! ratio to a baseline measured in the same run on the same machine.
//!
//!     cargo bench --bench suite                  # the full run (~15 s on 2 cores)
//!     cargo bench --bench suite -- --smoke       # everything, briefly (seconds)
//!     cargo bench --bench suite -- --only put,wake --procs 1,2,4
//!
//! `OBJSTORE_BENCH_SMOKE=1` (or the older `OBJSTORE_BENCH_QUICK=1`) also
//! selects the smoke run. Sections: `get` (get + release), `put` (put and
//! create + seal from 64 B to 1 GiB against memcpy), `touch` (first-touch
//! pages), `scale` (1..N processes at once), `wake` (a get waiting for
//! another process's put), `million` (a million objects: fill time, memory
//! per object). Output is markdown, one table per section, ready for
//! BENCHMARKS.md. Nothing here asserts on a timing: the smoke run only
//! checks that every path works.
//!
//! Multi-process sections re-run this binary as workers (`--worker ...`);
//! see `procs`.

mod lifetime;
mod million;
mod procs;
mod scaling;
mod single;
mod stats;
mod wake;

use std::time::Instant;

/// What to run and how long.
pub struct Config {
    pub smoke: bool,
    /// Batches per single-process figure.
    pub batches: usize,
    /// Process counts for the scaling section.
    pub procs: Vec<usize>,
    /// Largest object of the put section.
    pub max_size: u64,
    /// Objects of the million section.
    pub million: u64,
}

const SECTIONS: [&str; 7] = ["get", "put", "touch", "life", "scale", "wake", "million"];

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn usage() -> ! {
    eprintln!("usage: suite [--smoke] [--only SECTION,...] [--procs N,N,...]\n  sections: {}", SECTIONS.join(", "));
    std::process::exit(2)
}

fn main() {
    // `cargo bench` passes --bench; workers get --worker.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--worker") {
        procs::worker_init();
        match args.get(1).map(String::as_str) {
            Some("loop") => scaling::worker(&args[2..]),
            Some("pong") => wake::worker(&args[2..]),
            Some("spin") => wake::spin_worker(),
            _ => panic!("unknown worker {args:?}"),
        }
        return;
    }
    let env_smoke = ["OBJSTORE_BENCH_SMOKE", "OBJSTORE_BENCH_QUICK"].iter().any(|v| std::env::var_os(v).is_some());
    let mut smoke = env_smoke;
    let mut only: Option<Vec<String>> = None;
    let mut procs: Option<Vec<usize>> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => smoke = true,
            "--only" => only = Some(it.next().unwrap_or_else(|| usage()).split(',').map(str::to_string).collect()),
            "--procs" => {
                procs = Some(
                    it.next()
                        .unwrap_or_else(|| usage())
                        .split(',')
                        .map(|n| n.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()))
                        .collect(),
                )
            }
            "-h" | "--help" => usage(),
            // Filters that `cargo bench NAME` passes along: ignore.
            _ => {}
        }
    }
    if let Some(o) = &only {
        if let Some(bad) = o.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
            eprintln!("unknown section {bad}");
            usage();
        }
    }
    let cfg = Config {
        smoke,
        batches: if smoke { 5 } else { 31 },
        procs: procs.unwrap_or_else(|| {
            // 1, 2, 4, ... up to the core count, then (full run) one
            // oversubscribed point: taking turns should cost nothing extra.
            let c = cores();
            let mut v: Vec<usize> = std::iter::successors(Some(1), |n| Some(n * 2)).take_while(|&n| n < c).collect();
            v.push(c);
            if smoke {
                v.truncate(2);
            } else {
                v.push(2 * c);
            }
            v
        }),
        max_size: if smoke { 16 << 20 } else { 1 << 30 },
        million: if smoke { 50_000 } else { 1_000_000 },
    };
    procs::remove_stale_files();

    let t0 = Instant::now();
    println!("## objstore benchmark suite{}\n", if smoke { " (smoke run: short, figures are rough)" } else { "" });
    println!(
        "{}, {} cores, Linux {}, objstore {}; load average at start {}\n",
        cpu_model(),
        cores(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        objstore::VERSION,
        load_average()
    );
    let want = |s: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    if want("get") {
        single::get_release(&cfg);
    }
    if want("put") {
        single::put(&cfg);
    }
    if want("touch") {
        single::first_touch(&cfg);
    }
    if want("life") {
        lifetime::lifetime(&cfg);
    }
    if want("scale") {
        scaling::scaling(&cfg);
    }
    if want("wake") {
        wake::wake(&cfg);
    }
    if want("million") {
        million::million(&cfg);
    }
    println!("Total {:.1} s; load average at the end {}.", t0.elapsed().as_secs_f64(), load_average());
}
