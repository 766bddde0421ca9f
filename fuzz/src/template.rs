//! Template stores: small valid stores, built once per fuzzing process and
//! kept as byte images, so that each input only writes a fresh copy (a few
//! hundred KiB) instead of creating and filling a store.
//!
//! Kinds:
//! - `Clean`: objects of many sizes (slab blocks and page runs), some
//!   deleted, the creating handle closed.
//! - `Dead`: as clean, but the image is taken while the creating handle is
//!   still attached, holding pins, an object deleted while pinned and an
//!   unsealed object. In the copy nobody holds that slot's lock, so it is a
//!   dead process: every attach reclaims it.
//! - `Spill`, `SpillDead`: a 1 MiB store with a spill directory, filled to
//!   about three times its capacity, so many objects are spilled.
//!
//! The spill directory of the spilling templates is one per fuzzing process
//! (it is recorded in the store header); each input's copy rewrites it.

use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use objstore::{ObjectId, ObjectState, Options, Store};

use crate::pattern;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Clean,
    Dead,
    Spill,
    SpillDead,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Clean, Kind::Dead, Kind::Spill, Kind::SpillDead];
    fn spills(self) -> bool {
        matches!(self, Kind::Spill | Kind::SpillDead)
    }
    fn dead(self) -> bool {
        matches!(self, Kind::Dead | Kind::SpillDead)
    }
}

/// A sealed, live object of a template and what it holds.
#[derive(Clone, Debug)]
pub struct TObject {
    pub id: ObjectId,
    pub data: Vec<u8>,
    pub meta: Vec<u8>,
    /// Spilled at the time the image was taken: the name of its spill file.
    pub spill_file: Option<String>,
}

pub struct Template {
    pub kind: Kind,
    /// The whole store file.
    pub image: Vec<u8>,
    /// Spill files of the store: (file name, contents).
    pub spill_files: Vec<(String, Vec<u8>)>,
    pub spill_dir: Option<String>,
    pub objects: Vec<TObject>,
    /// Byte ranges (start, len) of the store's sections, see [`sections`].
    pub sections: Vec<(usize, usize)>,
    pub capacity: u64,
}

/// Handles kept attached for the whole process (the `Dead` kinds).
static HELD: Mutex<Vec<Store>> = Mutex::new(Vec::new());

pub const MAX_OBJECTS: u64 = 64;
pub const MAX_PROCESSES: u32 = 4;

/// The spill directory of this process's spilling stores.
pub fn spill_dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = format!("/dev/shm/objstore-fuzz-{}-spill", std::process::id());
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create the spill directory");
        extern "C" fn cleanup() {
            let _ = std::fs::remove_dir_all(format!("/dev/shm/objstore-fuzz-{}-spill", std::process::id()));
        }
        // SAFETY: registering a plain function to run at exit.
        unsafe { libc::atexit(cleanup) };
        d
    })
}

/// The template of a kind (built on first use).
pub fn get(kind: Kind) -> &'static Template {
    static T: [OnceLock<Template>; 4] = [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = Kind::ALL.iter().position(|&k| k == kind).unwrap();
    T[i].get_or_init(|| build(kind))
}

fn meta_for(n: usize) -> Vec<u8> {
    pattern(1000 + n as u64, [0usize, 3, 16, 100][n % 4])
}

fn build(kind: Kind) -> Template {
    let path = crate::unique_path(&format!("tpl-{kind:?}"));
    let spill = kind.spills().then(|| spill_dir().to_string());
    if let Some(d) = &spill {
        clear_dir(d);
    }
    // Small stores refuse large objects early: a slab holds at least 8
    // blocks, so a 70 KB object needs an 11-page slab. 2 MiB holds the set.
    let capacity: u64 = if kind.spills() { 1 << 20 } else { 2 << 20 };
    let s = Store::open(
        &path,
        &Options {
            capacity_bytes: capacity,
            max_objects: MAX_OBJECTS,
            max_processes: MAX_PROCESSES,
            spill_dir: spill.clone().map(Into::into),
            create_only: true,
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("create template store {path}: {e}"));
    // Slab classes whose slab (at least 8 blocks) fits a 1 MiB store, and
    // page runs.
    let mut sizes: Vec<usize> = vec![0, 1, 63, 64, 65, 200, 1000, 3000, 5000, 20_000, 40_000, 300_000];
    if kind.spills() {
        // About three times the capacity: most of these end up on disk.
        sizes.extend([300_000, 400_000, 100, 3000, 300_000, 30_000, 700_000, 2000, 300_000, 64, 500_000]);
    }
    let mut live: Vec<(ObjectId, Vec<u8>, Vec<u8>)> = vec![];
    for (n, &len) in sizes.iter().enumerate() {
        let data = pattern(n as u64, len);
        let meta = meta_for(n);
        match s.put_with_meta(&data, &meta) {
            Ok(id) => live.push((id, data, meta)),
            Err(e) => panic!("template {kind:?} put {n} ({len} bytes): {e}"),
        }
    }
    // Some deleted, so the tables hold freed slots and blocks too.
    for n in [2usize, 7] {
        s.delete(&live[n].0).expect("delete");
    }
    let mut dead_ids = vec![live[2].0, live[7].0];
    if kind.dead() {
        // Pins (one twice), an object deleted while pinned, an unsealed one.
        for n in [1usize, 5, 5, 9] {
            if let Ok(obj) = s.get_raw(&live[n].0, Some(Duration::ZERO)) {
                let _ = obj;
            }
        }
        if s.delete(&live[9].0).is_ok() {
            dead_ids.push(live[9].0);
        }
        let id = ObjectId([0xc7; 20]);
        if let Ok(p) = s.create_raw(&id, 4000, b"unsealed") {
            // SAFETY: 4000 writable bytes of an object this handle created.
            unsafe { std::ptr::write_bytes(p, 0xab, 2000) };
        }
    }
    let listed = s.list().expect("list");
    let mut objects = vec![];
    for (id, data, meta) in live {
        if dead_ids.contains(&id) {
            continue;
        }
        let Some(info) = listed.iter().find(|i| i.id == id) else { continue };
        let spill_file = (info.state == ObjectState::Spilled).then(|| {
            let hex = id.to_hex();
            std::fs::read_dir(spill.as_ref().unwrap())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|f| f.starts_with(&hex) && f.ends_with(".spill"))
                .unwrap_or_else(|| panic!("no spill file for {hex}"))
        });
        objects.push(TObject { id, data, meta, spill_file });
    }
    if kind.spills() {
        assert!(objects.iter().filter(|o| o.spill_file.is_some()).count() >= 3, "template {kind:?} spilled too little");
    }
    if kind.dead() {
        HELD.lock().unwrap().push(s);
    } else {
        drop(s);
    }
    let image = std::fs::read(&path).expect("read template image");
    crate::remove(&path);
    let spill_files = match &spill {
        Some(d) => {
            let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
                .collect();
            v.sort();
            clear_dir(d);
            v
        }
        None => vec![],
    };
    let sections = sections(&image);
    Template { kind, image, spill_files, spill_dir: spill, objects, sections, capacity }
}

/// Removes every file in a directory.
pub fn clear_dir(dir: &str) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes a store file: `image` (cut to `len`) into a new file of `len`
/// bytes, skipping all-zero chunks (the file is sparse, as a store is).
pub fn write_image(path: &str, image: &[u8], len: u64) -> std::io::Result<()> {
    let f = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(path)?;
    f.set_len(len)?;
    let keep = &image[..image.len().min(len as usize)];
    const CHUNK: usize = 16 << 10;
    for (i, chunk) in keep.chunks(CHUNK).enumerate() {
        if !crate::is_zero(chunk) {
            f.write_all_at(chunk, (i * CHUNK) as u64)?;
        }
    }
    Ok(())
}

/// Empties the spill directory and writes `files` into it.
pub fn write_spill_files(dir: &str, files: &[(String, Vec<u8>)]) {
    clear_dir(dir);
    for (name, bytes) in files {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write a spill file");
    }
}

fn get32(h: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(h[at..at + 4].try_into().unwrap()) as u64
}
fn get64(h: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(h[at..at + 8].try_into().unwrap())
}

/// Section names, in file order (see src/layout.rs).
pub const SECTION_NAMES: [&str; 15] = [
    "header",
    "globals",
    "process table",
    "slab hints",
    "wait words",
    "wait masks",
    "region states",
    "page table",
    "used-page bitmap",
    "free-object bitmap",
    "probe bounds",
    "index",
    "descriptors",
    "pin masks",
    "arena",
];

/// The byte ranges of a store file's sections, recomputed from its header
/// as src/layout.rs does. If the recomputation disagrees with the header's
/// arena offset (the layout changed), falls back to coarse ranges (header,
/// globals, all other metadata, arena), which the fuzzer can still use.
pub fn sections(image: &[u8]) -> Vec<(usize, usize)> {
    const HEADER_LEN: u64 = 8192;
    const GLOBALS_LEN: u64 = 4096;
    const PROC_SLOT_WORDS: u64 = 128;
    const CLASS_HINT_WORDS: u64 = 44 * 16;
    const WAIT_WORDS: u64 = 257;
    const REGION_PAGES: u64 = 512;
    const BUCKET_ENTRIES: u64 = 8;
    const DESC_WORDS: u64 = 8;
    const MASK_SPREAD: u64 = 64;
    let capacity = get64(image, 24);
    let max_objects = get64(image, 32);
    let max_processes = get32(image, 40);
    let page_size = get32(image, 20);
    let arena = get64(image, 88);
    let mask_words = max_processes.div_ceil(64);
    let pages = capacity / page_size;
    let regions = pages.div_ceil(REGION_PAGES);
    let buckets = (max_objects * 8).div_ceil(5).div_ceil(BUCKET_ENTRIES).max(1);
    let sizes = [
        max_processes * PROC_SLOT_WORDS * 8,
        CLASS_HINT_WORDS * 8,
        WAIT_WORDS * 64,
        WAIT_WORDS * mask_words * 8,
        regions * 8,
        pages * 8,
        pages.div_ceil(64) * 8,
        max_objects.div_ceil(64) * 8,
        buckets * 4,
        buckets * 64,
        max_objects * DESC_WORDS * 8,
        max_objects.next_multiple_of(MASK_SPREAD) * mask_words * 8,
    ];
    let mut out = vec![(0usize, HEADER_LEN as usize), (HEADER_LEN as usize, GLOBALS_LEN as usize)];
    let mut at = HEADER_LEN + GLOBALS_LEN;
    for s in sizes {
        out.push((at as usize, s as usize));
        at = (at + s.max(1)).next_multiple_of(4096);
    }
    if at.next_multiple_of(page_size) != arena {
        let meta = HEADER_LEN + GLOBALS_LEN;
        return vec![
            (0, HEADER_LEN as usize),
            (HEADER_LEN as usize, GLOBALS_LEN as usize),
            (meta as usize, (arena - meta) as usize),
            (arena as usize, capacity as usize),
        ];
    }
    out.push((arena as usize, capacity as usize));
    out
}
