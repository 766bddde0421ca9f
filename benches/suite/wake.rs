//! Wake-up latency: a consumer blocked in a get of an absent ID, woken by a
//! producer's put in another process. Measured as a ping-pong between two
//! processes (each round trip is two wake-ups), against the same ping-pong
//! over a bare futex in shared memory and over a pair of pipes.

use std::io::{Read, Write};
use std::sync::atomic::Ordering;

use objstore::{Options, Store};

use crate::procs::{
    futex_wait, futex_wake, mono_ns, start_together, wait_until, worker_ready, RemoveOnDrop, SharedWords, TempStore,
    Worker,
};
use crate::single::derived_id;
use crate::stats::{figure_row, Samples, Table, FIGURE_HEAD};
use crate::Config;

const PAYLOAD: [u8; 64] = [9; 64];

/// Cache lines a hand-off of an object must move from the producer's core
/// to the consumer's besides the futex word: the index entry, the
/// descriptor and the payload. The "futex-lines" ping-pong writes this many
/// lines on one side and reads them on the other around each wake-up: the
/// least any store in shared memory pays per hand-off on top of the bare
/// futex, which moves one line.
const HANDOFF_LINES: usize = 3;
/// Where each side's lines are in the shared words (apart from the futex
/// word, at 8192).
const PING_LINES: usize = 1024;
const PONG_LINES: usize = 4096;

/// Writes `value` into one word of each of a side's hand-off lines.
fn write_lines(words: &SharedWords, at: usize, value: u64) {
    for l in 0..HANDOFF_LINES {
        words.u64(at + 64 * l).store(value, Ordering::Relaxed);
    }
}

/// Reads the other side's hand-off lines, which must hold `value`.
fn read_lines(words: &SharedWords, at: usize, value: u64) {
    for l in 0..HANDOFF_LINES {
        assert_eq!(words.u64(at + 64 * l).load(Ordering::Relaxed), value, "hand-off line {l}");
    }
}

/// The store's longest single sleep (`shared::wait::SLEEP_CAP`): every
/// sleep of a waiter is a futex wait with this timeout, so that a sealer
/// stopped between its seal and its wake-up delays it at most this long.
const STORE_SLEEP_CAP: libc::timespec = libc::timespec { tv_sec: 0, tv_nsec: 100_000_000 };

/// Blocks until the futex word holds `want`; each sleep capped at the
/// store's cap if `capped`.
fn await_value(w: &std::sync::atomic::AtomicU32, want: u32, capped: bool) {
    loop {
        let v = w.load(Ordering::SeqCst);
        if v == want {
            return;
        }
        futex_wait(w, v, capped.then_some(&STORE_SLEEP_CAP));
    }
}

/// One mode's round trips (ns each), timed in this process.
fn ping_pong(mode: &str, store: &Store, store_name: &str, words: &SharedWords, rounds: usize) -> Samples {
    let warm = rounds / 10;
    let mut w = Worker::spawn(&[
        "pong".into(),
        mode.into(),
        store_name.into(),
        words.path.clone(),
        (warm + rounds).to_string(),
    ]);
    start_together(std::slice::from_mut(&mut w));
    let futex = words.u32(8192);
    let mut rtt = Vec::with_capacity(rounds);
    for k in 0..(warm + rounds) as u64 {
        let t0 = mono_ns();
        match mode {
            "store" => {
                store.put_as(&derived_id(2, 2 * k), &PAYLOAD, &[]).unwrap();
                let back = derived_id(2, 2 * k + 1);
                store.get_raw(&back, None).unwrap();
                let t1 = mono_ns();
                store.release(&back).unwrap();
                store.delete(&back).unwrap();
                if k as usize >= warm {
                    rtt.push((t1 - t0) as f64);
                }
                continue;
            }
            "futex" | "futex-capped" => {
                futex.store(2 * k as u32 + 1, Ordering::SeqCst);
                futex_wake(futex);
                await_value(futex, 2 * k as u32 + 2, mode == "futex-capped");
            }
            "futex-lines" => {
                write_lines(words, PING_LINES, k + 1);
                futex.store(2 * k as u32 + 1, Ordering::SeqCst);
                futex_wake(futex);
                await_value(futex, 2 * k as u32 + 2, false);
                read_lines(words, PONG_LINES, k + 1);
            }
            _ => {
                w.stdin.write_all(&[1]).unwrap();
                let mut b = [0u8; 1];
                w.stdout.read_exact(&mut b).unwrap();
            }
        }
        if k as usize >= warm {
            rtt.push((mono_ns() - t0) as f64);
        }
    }
    w.finish();
    Samples::new(rtt.into_iter().map(|x| x / 2.0).collect())
}

pub fn wake(cfg: &Config) {
    let rounds = if cfg.smoke { 300 } else { 10_000 };
    let tmp = TempStore::new("wake");
    let store = Store::open(&tmp.name, &Options { capacity_bytes: 64 << 20, ..Options::default() }).expect("open");
    let path = format!("{}/{}{}-futex", objstore::SHM_DIR, crate::procs::PREFIX, std::process::id());
    let words = SharedWords::open(&path, 16384, true);
    let _rm = RemoveOnDrop(path.clone());
    let mut t = Table::new("wake-up latency: a get waiting for another process's put (one way)", &FIGURE_HEAD);
    // The same three ping-pongs with the machine as it is, then with a
    // thread of this process spinning all along (on 2 cores: the other core
    // kept busy), then with three spinning processes per core (every core
    // oversubscribed, as by other work on the machine), so that the store
    // and the bare futex are compared in the same state of the machine each
    // time.
    let oversubscribed = 3 * crate::cores();
    for load in [0, 1, oversubscribed] {
        let spinner = (load == 1).then(Spinner::start);
        let hogs: Vec<Worker> = (0..if load > 1 { load } else { 0 }).map(|_| Worker::spawn(&["spin".into()])).collect();
        let futex = ping_pong("futex", &store, &tmp.name, &words, rounds);
        let capped = ping_pong("futex-capped", &store, &tmp.name, &words, rounds);
        let lines = ping_pong("futex-lines", &store, &tmp.name, &words, rounds);
        let pipe = ping_pong("pipe", &store, &tmp.name, &words, rounds);
        let st = ping_pong("store", &store, &tmp.name, &words, rounds);
        drop(spinner);
        drop(hogs);
        let when = match load {
            0 => String::new(),
            1 => ", a core kept busy".into(),
            n => format!(", {n} processes spinning (cores oversubscribed)"),
        };
        t.row(figure_row(
            &format!("futex ping-pong in shared memory (baseline){when}"),
            &futex,
            "futex",
            &futex,
            String::new(),
        ));
        t.row(figure_row(
            &format!("futex ping-pong, each sleep capped at 100 ms as the store's{when}"),
            &capped,
            "futex",
            &futex,
            "a futex wait with a timeout".into(),
        ));
        t.row(figure_row(
            &format!("futex ping-pong handing over {HANDOFF_LINES} cache lines{when}"),
            &lines,
            "futex",
            &futex,
            "an index entry, a descriptor, a payload".into(),
        ));
        t.row(figure_row(&format!("pipe ping-pong{when}"), &pipe, "futex", &futex, String::new()));
        t.row(figure_row(
            &format!("put → get waiting in another process{when}"),
            &st,
            "futex",
            &futex,
            "includes a put, a get, a release".into(),
        ));
        t.row(figure_row(
            &format!("the same, against the hand-off of {HANDOFF_LINES} lines{when}"),
            &st,
            "lines",
            &lines,
            String::new(),
        ));
    }
    t.note(format!(
        "{rounds} round trips per row (after {} untimed); a sample is half of one round trip, i.e. one wake-up \
         of a process blocked in the kernel, plus the work of each side. \"a core kept busy\": a thread spins \
         throughout, competing with both sides for the CPUs; \"cores oversubscribed\": three spinning processes \
         per core.",
        rounds / 10
    ));
    t.print();
}

/// A worker process that spins until it is killed (`Worker`'s drop).
pub fn spin_worker() -> ! {
    loop {
        std::hint::spin_loop();
    }
}

/// A thread that spins until dropped.
struct Spinner {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    fn start() -> Spinner {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        Spinner { stop, thread: Some(thread) }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ----- worker side ----------------------------------------------------------------

pub fn worker(args: &[String]) {
    let [mode, store_name, shared, rounds] = args else { panic!("pong worker: bad arguments {args:?}") };
    let rounds: u64 = rounds.parse().unwrap();
    let words = SharedWords::open(shared, 16384, false);
    let store = Store::open(store_name, &Options { attach_only: true, ..Options::default() }).expect("attach");
    let futex = words.u32(8192);
    let at = worker_ready();
    wait_until(at);
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for k in 0..rounds {
        match mode.as_str() {
            "store" => {
                let id = derived_id(2, 2 * k);
                store.get_raw(&id, None).unwrap();
                store.release(&id).unwrap();
                store.put_as(&derived_id(2, 2 * k + 1), &PAYLOAD, &[]).unwrap();
                store.delete(&id).unwrap();
            }
            "futex" | "futex-capped" => {
                await_value(futex, 2 * k as u32 + 1, mode == "futex-capped");
                futex.store(2 * k as u32 + 2, Ordering::SeqCst);
                futex_wake(futex);
            }
            "futex-lines" => {
                await_value(futex, 2 * k as u32 + 1, false);
                read_lines(&words, PING_LINES, k + 1);
                write_lines(&words, PONG_LINES, k + 1);
                futex.store(2 * k as u32 + 2, Ordering::SeqCst);
                futex_wake(futex);
            }
            _ => {
                let mut b = [0u8; 1];
                stdin.read_exact(&mut b).unwrap();
                stdout.write_all(&b).unwrap();
                stdout.flush().unwrap();
            }
        }
    }
}
