//! Helpers shared by the integration tests: unique store names that are
//! removed even when a test fails.
#![allow(dead_code)]

use objstore::{Options, Store};

/// A store name unique to this test run, destroyed on drop.
pub struct TempStore {
    pub name: String,
}

impl TempStore {
    pub fn new(tag: &str) -> TempStore {
        let name = format!("objstore-test-{}-{}-{:x}", tag, std::process::id(), rand_u64());
        TempStore { name }
    }

    pub fn options(capacity: u64) -> Options {
        Options { capacity_bytes: capacity, ..Options::default() }
    }

    pub fn open(&self, opts: &Options) -> Store {
        Store::open(&self.name, opts).expect("open store")
    }

    /// Opens (creating) the store with `capacity` bytes, spilling to `dir`.
    pub fn open_spilling(&self, dir: &SpillDir, capacity: u64) -> Store {
        self.open(&Options { capacity_bytes: capacity, spill_dir: Some(dir.path().into()), ..Options::default() })
    }

    pub fn path(&self) -> String {
        format!("/dev/shm/{}", self.name)
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = Store::destroy(&self.name);
    }
}

/// A spill directory removed with the test.
pub struct SpillDir(pub String);

impl SpillDir {
    pub fn new(tag: &str) -> SpillDir {
        let d = format!("/tmp/objstore-spill-{tag}-{}-{:x}", std::process::id(), rand_u64());
        std::fs::create_dir_all(&d).unwrap();
        SpillDir(d)
    }
    pub fn path(&self) -> &str {
        &self.0
    }
    /// The names of the files in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

/// Deterministic bytes for object `seed` of length `len` (eight bytes per
/// step of a xorshift generator, so that multi-megabyte objects are cheap
/// to make and check even in debug and sanitizer builds).
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
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

/// Asserts the store's internal audit finds nothing wrong.
pub fn assert_consistent(store: &Store) {
    let problems = store.audit().unwrap();
    assert!(problems.is_empty(), "store inconsistent:\n{}", problems.join("\n"));
}

pub mod child;
