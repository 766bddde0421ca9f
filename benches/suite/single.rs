//! Single-process figures: get + release, put and create + seal by size,
//! and the cost of first-touch pages.

use std::ffi::CString;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use objstore::capi::{os_close, os_get, os_open, os_options_default, os_release, os_store};
use objstore::{ObjectId, Options, Store};

use crate::procs::TempStore;
use crate::stats::{bytes, figure_row, gbps, measure, measure_with, ratio, time, Samples, Table, FIGURE_HEAD};
use crate::Config;

/// A derived ID: distinct for every `n`, never produced by `put`.
pub fn derived_id(tag: u8, n: u64) -> ObjectId {
    let mut id = ObjectId([0; 20]);
    id.0[0] = tag;
    id.0[1..9].copy_from_slice(&n.to_le_bytes());
    id.0[9..17].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    id
}

// ----- get + release -------------------------------------------------------------

pub fn get_release(cfg: &Config) {
    let tmp = TempStore::new("get");
    let store = Store::open(&tmp.name, &Options { capacity_bytes: 64 << 20, ..Options::default() }).expect("open");
    let (batches, per) = (cfg.batches, if cfg.smoke { 10_000 } else { 100_000 });

    let counter = AtomicU64::new(0);
    let atomic = measure(batches, per, |_| {
        black_box(counter.fetch_add(1, Ordering::SeqCst));
    });
    let small = store.put(&[7u8; 1024]).unwrap();
    let get_small = measure(batches, per, |_| {
        let o = store.get_raw(&small, Some(Duration::ZERO)).unwrap();
        black_box(o.data);
        store.release(&small).unwrap();
    });
    let big = store.put(&vec![1u8; 16 << 20]).unwrap();
    let get_big = measure(batches, per, |_| {
        let o = store.get_raw(&big, Some(Duration::ZERO)).unwrap();
        black_box(o.data);
        store.release(&big).unwrap();
    });
    // The same through the C ABI (argument checks, panic boundary).
    let get_c = {
        let name = CString::new(tmp.name.as_str()).unwrap();
        let mut h: *mut os_store = std::ptr::null_mut();
        let opts = os_options_default();
        // SAFETY: valid name and options; `h` receives the handle.
        assert_eq!(unsafe { os_open(name.as_ptr(), &opts, &mut h) } as u32, 0);
        let id = objstore::capi::os_object_id { bytes: small.0 };
        let s = measure(batches, per, |_| {
            // SAFETY: a live handle, a valid ID and output buffer.
            unsafe {
                let mut buf = std::mem::zeroed();
                let st = os_get(h, &id, 0, &mut buf);
                debug_assert_eq!(st as u32, 0);
                black_box(&buf);
                os_release(h, &id);
            }
        });
        // SAFETY: the handle from os_open, closed once.
        unsafe { os_close(h) };
        s
    };
    let absent = derived_id(0xab, 1);
    let miss = measure(batches, per / 10, |_| {
        black_box(store.get_raw(&absent, Some(Duration::ZERO)).is_err());
    });
    let contains = measure(batches, per, |_| {
        black_box(store.contains(&small).unwrap());
    });

    let mut t = Table::new("get + release of a present object (one process, object in cache)", &FIGURE_HEAD);
    let base = "atomic fetch_add";
    t.row(figure_row("atomic fetch_add, uncontended (baseline)", &atomic, base, &atomic, String::new()));
    t.row(figure_row("get + release, 1 KiB object", &get_small, base, &atomic, "target ≈ 100 ns".into()));
    t.row(figure_row("get + release, 16 MiB object", &get_big, base, &atomic, "independent of size".into()));
    t.row(figure_row("os_get + os_release (C ABI), 1 KiB", &get_c, base, &atomic, String::new()));
    t.row(figure_row("contains, present", &contains, base, &atomic, String::new()));
    t.row(figure_row(
        "get of an absent ID, no wait (NotFound)",
        &miss,
        base,
        &atomic,
        "builds an error message".into(),
    ));
    t.note(format!("{per} calls per batch, {batches} batches; a sample is one batch's time per call."));
    t.print();
}

// ----- put and create + seal -----------------------------------------------------

/// A second thread that copies half of a buffer when asked: what a put
/// that splits its memcpy over a thread pool would pay (a wake-up, then
/// two copies in parallel). Used as a baseline only.
struct CopyHelper {
    tx: mpsc::Sender<(usize, usize, usize)>,
    done: mpsc::Receiver<()>,
}

impl CopyHelper {
    fn new() -> CopyHelper {
        let (tx, rx) = mpsc::channel::<(usize, usize, usize)>();
        let (dtx, done) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok((dst, src, len)) = rx.recv() {
                // SAFETY: the caller keeps both ranges alive and disjoint
                // from its own half until it has received `done`.
                unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, len) };
                if dtx.send(()).is_err() {
                    return;
                }
            }
        });
        CopyHelper { tx, done }
    }

    /// Copies `src` into `dst`, half here, half on the helper thread.
    fn copy(&self, dst: &mut [u8], src: &[u8]) {
        let half = (src.len() / 2).next_multiple_of(4096).min(src.len());
        let (d1, d2) = dst.split_at_mut(half);
        let (s1, s2) = src.split_at(half);
        self.tx.send((d2.as_mut_ptr() as usize, s2.as_ptr() as usize, s2.len())).unwrap();
        d1.copy_from_slice(s1);
        self.done.recv().unwrap();
    }
}

/// A page-aligned, pre-touched buffer: the destination of the memcpy
/// baselines. Alignment matters: glibc copies these sizes with `rep movsb`,
/// which on this AMD CPU runs about twice as fast into a 64-byte-aligned
/// destination (as every object's data is) as into a misaligned one (as a
/// `Vec`'s usually is), so an unaligned baseline would flatter the store.
pub struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl AlignedBuf {
    pub fn new(len: usize, fill: u8) -> AlignedBuf {
        let layout = std::alloc::Layout::from_size_align(len.max(1), 4096).unwrap();
        // SAFETY: a non-zero size; the result is checked for NULL.
        let ptr = unsafe { std::alloc::alloc(layout) };
        assert!(!ptr.is_null(), "out of memory");
        // SAFETY: `len` bytes of our fresh allocation.
        unsafe { std::ptr::write_bytes(ptr, fill, len) };
        AlignedBuf { ptr, layout }
    }

    pub fn slice_mut(&mut self) -> &mut [u8] {
        // SAFETY: our allocation, initialised, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Puts of `src`, `per_batch` to a batch, deleted untimed after each.
fn measure_puts(store: &Store, batches: usize, per_batch: usize, src: &[u8]) -> Samples {
    measure_with(
        batches,
        per_batch,
        |_| store.put(black_box(src)).expect("put"),
        |ids| ids.iter().for_each(|id| store.delete(id).unwrap()),
    )
}

/// The note of a put's row: its bandwidth against its memcpy's.
fn put_note(size: u64, puts: &Samples, memcpy: &Samples) -> String {
    format!(
        "{} = {:.0}% of memcpy's {}",
        gbps(size, puts.median()),
        100.0 * memcpy.median() / puts.median(),
        gbps(size, memcpy.median())
    )
}

/// Sizes measured, up to the configured maximum.
fn put_sizes(cfg: &Config) -> Vec<u64> {
    [64u64, 1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30]
        .into_iter()
        .filter(|&s| s <= cfg.max_size)
        .collect()
}

pub fn put(cfg: &Config) {
    let sizes = put_sizes(cfg);
    let largest = *sizes.last().unwrap();
    // Room for the largest object twice over (the batches of smaller ones
    // take 8 MiB), every page reserved and touched at open: "warm".
    let capacity = (2 * largest).max(64 << 20) + (16 << 20);
    let tmp = TempStore::new("put");
    let t0 = Instant::now();
    let store = Store::open(&tmp.name, &Options { capacity_bytes: capacity, prefault: true, ..Options::default() })
        .expect("open the put store");
    let prefault_ns = t0.elapsed().as_nanos() as f64;
    let helper = CopyHelper::new();

    let mut t = Table::new("put and create + seal, by size (one process, warm pages)", &FIGURE_HEAD);
    let mut create_64: Option<Samples> = None;
    for &size in &sizes {
        let sz = size as usize;
        // Small objects: batches of up to 8 MiB (mostly in the 32 MiB L3);
        // the memcpy baseline writes the same footprint, into distinct
        // destinations of a pre-touched pool, as the puts do.
        let per_batch = ((8usize << 20) / sz).clamp(1, 20_000);
        let batches = match size {
            s if s <= 8 << 20 => cfg.batches,
            s if s <= 64 << 20 => (cfg.batches / 2).max(3),
            _ => (cfg.batches / 6).max(2),
        };
        // The source is page-aligned, so the copies' (destination − source)
        // mod 4096 is the destination's offset in its page (0 for page runs,
        // 128 for most slab blocks) in every run. A source whose address
        // lands 1 to 63 bytes below the destination's, mod 4096, makes this
        // CPU's memcpy ~1.8x slower (4K aliasing of loads and stores), put
        // and plain memcpy alike; a Vec's address depends on the allocator's
        // history, which made the 256 KiB figure jump between runs.
        let mut src_buf = AlignedBuf::new(sz, 0x5a);
        let src: &[u8] = src_buf.slice_mut();
        // An empty store larger than twice the object must take it; say so
        // in the table, rather than abort the run, if it does not.
        match store.put(src) {
            Ok(id) => store.delete(&id).unwrap(),
            Err(e) => {
                let cells = vec![
                    format!("put {}", bytes(size)),
                    "failed".into(),
                    "–".into(),
                    "0".into(),
                    "–".into(),
                    "–".into(),
                    e.to_string(),
                ];
                t.row(cells);
                continue;
            }
        }
        let mut pool_buf = AlignedBuf::new(per_batch * sz, 1);
        let pool = pool_buf.slice_mut();
        let memcpy = measure(batches, per_batch, |i| {
            pool[i * sz..(i + 1) * sz].copy_from_slice(black_box(src));
            black_box(&pool);
        });
        let memcpy2 = (size >= 1 << 20).then(|| {
            measure(batches, per_batch, |i| {
                helper.copy(&mut pool[i * sz..(i + 1) * sz], black_box(src));
                black_box(&pool);
            })
        });
        drop(pool_buf);
        let puts = measure_puts(&store, batches, per_batch, src);
        let creates = measure_with(
            batches,
            per_batch,
            |i| {
                let id = derived_id(1, i as u64);
                black_box(store.create_raw(&id, sz, &[]).expect("create"));
                store.seal(&id).unwrap();
                id
            },
            |ids| ids.iter().for_each(|id| store.delete(id).unwrap()),
        );
        let name = bytes(size);
        let fp = bytes((per_batch * sz) as u64);
        t.row(figure_row(
            &format!("put {name}"),
            &puts,
            &format!("memcpy {name} ({fp} footprint)"),
            &memcpy,
            put_note(size, &puts, &memcpy),
        ));
        if let Some(m2) = &memcpy2 {
            t.row(figure_row(
                &format!("memcpy {name}, split over 2 threads"),
                m2,
                &format!("memcpy {name}, 1 thread"),
                &memcpy,
                format!("{} (a 2-thread put's ceiling)", gbps(size, m2.median())),
            ));
        }
        if size >= 64 << 10 {
            // A source 16 bytes into its page, where malloc puts large
            // buffers (numpy's arrays, most Vecs): glibc's memcpy takes its
            // vector loop for it, a put from 256 KiB its `rep movsb` or
            // streamed stores (objstore::copy_bytes; plain memcpy when
            // OBJSTORE_COPY=memcpy).
            let mut off_buf = AlignedBuf::new(sz + 4096, 0x5a);
            let off_src: &[u8] = &off_buf.slice_mut()[16..16 + sz];
            let mut pool_buf = AlignedBuf::new(per_batch * sz, 1);
            let pool = pool_buf.slice_mut();
            let memcpy16 = measure(batches, per_batch, |i| {
                pool[i * sz..(i + 1) * sz].copy_from_slice(black_box(off_src));
                black_box(&pool);
            });
            drop(pool_buf);
            let puts16 = measure_puts(&store, batches, per_batch, off_src);
            t.row(figure_row(
                &format!("put {name}, source 16 B into its page"),
                &puts16,
                &format!("memcpy {name}, the same source"),
                &memcpy16,
                put_note(size, &puts16, &memcpy16),
            ));
        }
        if size == 256 << 10 {
            // The machine's 4K-aliasing penalty (see the source buffer above):
            // the same memcpy with the destination 48 bytes past the source,
            // mod 4096.
            let mut pool_buf = AlignedBuf::new(per_batch * sz + 4096, 1);
            let pool = &mut pool_buf.slice_mut()[48..];
            let aliased = measure(batches, per_batch, |i| {
                pool[i * sz..(i + 1) * sz].copy_from_slice(black_box(src));
                black_box(&pool);
            });
            t.row(figure_row(
                &format!("memcpy {name}, destination 48 B past the source mod 4096"),
                &aliased,
                &format!("memcpy {name}"),
                &memcpy,
                "4K aliasing: a property of the CPU, not of the store".into(),
            ));
        }
        let base = create_64.get_or_insert_with(|| creates.clone()).clone();
        t.row(figure_row(
            &format!("create + seal {name}"),
            &creates,
            "create + seal 64 B",
            &base,
            "copies nothing".into(),
        ));
    }
    t.note(format!(
        "Batches of up to 8 MiB of objects ({} batches; 1/2 as many above 8 MiB, 1/6 above 64 MiB), deleted untimed \
         after each batch, so the store's memory is reused warm. The store ({}) was opened with prefault, which took {} \
         ({}/GiB).",
        cfg.batches,
        bytes(capacity),
        time(prefault_ns),
        time(prefault_ns / (capacity as f64 / (1u64 << 30) as f64))
    ));
    t.print();
}

// ----- first-touch pages -----------------------------------------------------------

pub fn first_touch(cfg: &Config) {
    let footprint: u64 = if cfg.smoke { 8 << 20 } else { 64 << 20 };
    let reps = if cfg.smoke { 2 } else { 7 };
    let sizes: Vec<u64> = [64u64 << 10, 1 << 20, 64 << 20].into_iter().filter(|&s| s <= footprint).collect();
    let mut t = Table::new(
        &format!(
            "first-touch pages: {} of puts into a fresh store (no prefault) vs the same puts again",
            bytes(footprint)
        ),
        &FIGURE_HEAD,
    );
    for &size in &sizes {
        let n = (footprint / size) as usize;
        let src = vec![0x33u8; size as usize];
        let (mut cold, mut warm) = (vec![], vec![]);
        for r in 0..reps {
            let tmp = TempStore::new(&format!("touch{r}"));
            let store =
                Store::open(&tmp.name, &Options { capacity_bytes: footprint * 2, ..Options::default() }).unwrap();
            for pass in 0..2 {
                let t0 = Instant::now();
                let ids: Vec<_> = (0..n).map(|_| store.put(&src).unwrap()).collect();
                let ns = t0.elapsed().as_nanos() as f64 / n as f64;
                if pass == 0 {
                    cold.push(ns)
                } else {
                    warm.push(ns)
                }
                ids.iter().for_each(|id| store.delete(id).unwrap());
            }
        }
        let (cold, warm) = (Samples::new(cold), Samples::new(warm));
        t.row(figure_row(
            &format!("put {} into a fresh store", bytes(size)),
            &cold,
            "the same puts, pages warm",
            &warm,
            format!(
                "first touch costs {} per 4 KiB page",
                time((cold.median() - warm.median()) / (size as f64 / 4096.0))
            ),
        ));
    }
    // The machine's own first-touch cost: anonymous memory, faulted in by
    // a memcpy, against the same memcpy again.
    let src = vec![0x44u8; footprint as usize];
    let (mut cold, mut warm) = (vec![], vec![]);
    for _ in 0..reps {
        // Fresh (untouched) pages: an allocation this large is a new mmap.
        let layout = std::alloc::Layout::from_size_align(footprint as usize, 4096).unwrap();
        // SAFETY: a non-zero size; checked for NULL; freed below.
        let dst = unsafe { std::alloc::alloc(layout) };
        assert!(!dst.is_null(), "out of memory");
        for pass in 0..2 {
            let t0 = Instant::now();
            // SAFETY: `footprint` bytes of our allocation, disjoint from `src`.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
            black_box(dst);
            let ns = t0.elapsed().as_nanos() as f64;
            if pass == 0 {
                cold.push(ns)
            } else {
                warm.push(ns)
            }
        }
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(dst, layout) };
    }
    let (cold, warm) = (Samples::new(cold), Samples::new(warm));
    t.row(figure_row(
        &format!("memcpy {} into fresh anonymous memory", bytes(footprint)),
        &cold,
        "the same memcpy again",
        &warm,
        format!(
            "first touch costs {} per 4 KiB page",
            time((cold.median() - warm.median()) / (footprint as f64 / 4096.0))
        ),
    ));
    // Prefault: what OS_OPEN_PREFAULT costs at open, per GiB.
    let mut pre = vec![];
    for r in 0..reps {
        let tmp = TempStore::new(&format!("prefault{r}"));
        let t0 = Instant::now();
        let store =
            Store::open(&tmp.name, &Options { capacity_bytes: footprint, prefault: true, ..Options::default() })
                .unwrap();
        pre.push(t0.elapsed().as_nanos() as f64);
        drop(store);
    }
    let pre = Samples::new(pre);
    t.row(figure_row(
        &format!("open a {} store with prefault", bytes(footprint)),
        &pre,
        "first-touch memcpy of as much",
        &cold,
        format!("{} per GiB", time(pre.median() * (1u64 << 30) as f64 / footprint as f64)),
    ));
    t.note(format!(
        "{reps} fresh stores per size; a sample is one store's time per put. A fresh store reserves its memory \
         (fallocate, in 32 MiB regions) and faults its pages in on first use. Ratio {} means first touch doubles a put.",
        ratio(2.0)
    ));
    t.print();
}
