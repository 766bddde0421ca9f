//! Shared code of the objstore fuzz targets (`fuzz_targets/*.rs` are thin
//! wrappers around the `run` functions here, so that a regression input can
//! also be replayed without libFuzzer).
//!
//! - [`store_damage`]: a small valid store, copied from a template, with
//!   fuzz bytes written over its header, tables and slab headers, then
//!   attached to and used through every API. Any `Err` is fine; a crash, an
//!   uncaught panic, a hang or an out-of-bounds access is a bug.
//! - [`spill_file`]: a store whose spilled object's file is replaced or
//!   mutated by fuzz bytes: a get gives an error or exactly the bytes the
//!   file validly encodes (the original ones, unless the fuzzer forged a
//!   complete, well-formed spill file), never other bytes.
//! - [`capi_calls`]: the input as a program of `os_*` calls with arbitrary
//!   (but contract-respecting) arguments, checked against a model.
//!
//! Every store lives under /dev/shm with a name unique to the fuzzing
//! process (`objstore-fuzz-PID-...`) and is removed after each input.

pub mod capi_calls;
pub mod spill_file;
pub mod store_damage;
pub mod template;

use std::sync::atomic::{AtomicU64, Ordering};

/// Reads a fuzz input front to back; past the end everything reads as 0.
pub struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data, at: 0 }
    }
    pub fn is_empty(&self) -> bool {
        self.at >= self.data.len()
    }
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.at)
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn u64(&mut self) -> u64 {
        (self.u32() as u64) | (self.u32() as u64) << 32
    }
    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        let end = self.at.saturating_add(n).min(self.data.len());
        self.at = self.at.saturating_add(n);
        &self.data[start..end]
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        self.at = self.data.len();
        &self.data[start..]
    }
}

/// A path under /dev/shm unique to this process and call.
pub fn unique_path(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("/dev/shm/objstore-fuzz-{}-{tag}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Removes a file, ignoring a missing one.
pub fn remove(path: &str) {
    let _ = std::fs::remove_file(path);
}

/// Reads every byte of a buffer, so that ASan and the MMU see each access
/// (a memcpy: ASan checks its whole source range, and a byte loop would be
/// slow under the fuzzer's comparison tracing).
#[inline(never)]
pub fn touch(bytes: &[u8]) {
    thread_local! {
        static SINK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SINK.with(|s| {
        let mut s = s.borrow_mut();
        s.clear();
        s.extend_from_slice(bytes);
        std::hint::black_box(&*s);
    });
}

/// Whether a buffer is all zero (a memcmp against zeros, for speed).
pub fn is_zero(bytes: &[u8]) -> bool {
    static ZEROS: [u8; 4096] = [0; 4096];
    bytes.chunks(ZEROS.len()).all(|c| c == &ZEROS[..c.len()])
}

/// Deterministic bytes for object `seed` of length `len`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
