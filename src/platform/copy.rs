//! Copying a value into the store at the memory's speed.
//!
//! A put is one copy of the caller's bytes into the mapping, so its speed
//! is the copy's. The C library's `memcpy` picks its method by size and by
//! what it knows of the CPU; for the copies a put makes (from a buffer the
//! caller allocated, anywhere, to an object's data) it is far from the
//! best this hardware does. Measured on an AMD EPYC (Zen, with ERMS and
//! FSRM) under glibc 2.36, destination page-aligned, source 16 bytes into
//! its page (where malloc puts large buffers), best of many copies of one
//! buffer (`benches/copy_methods.c`; BENCHMARKS.md, "Copying into the store"):
//!
//! | size | `memcpy` | `rep movsb` | non-temporal stores |
//! |---|---:|---:|---:|
//! | 64 KiB | 1.2 µs | 0.6 µs | 2.8 µs |
//! | 1 MiB | 28 µs | 13 µs | 26 µs |
//! | 16 MiB | 486 µs | 322 µs | 400 µs |
//! | 64 MiB | 2.92 ms | 2.48 ms | 2.33 ms |
//! | 256 MiB | 13.1 ms | 10.2 ms | 9.8 ms |
//!
//! `rep movsb` is the CPU's own copy (the microcode moves whole cache
//! lines), fast on CPUs that advertise "fast short REP MOVSB" (FSRM: Intel
//! since Ice Lake, AMD since Zen 3) but sensitive to where the destination
//! lies relative to the source modulo a page: with both slightly
//! misaligned it can be slower than `memcpy` (a destination 48 bytes past
//! the source: 501 against 470 µs at 16 MiB). With the destination
//! page-aligned it was the faster for every source offset measured. So a
//! copy of at least `STRING_COPY_MIN` bytes (256 KiB) on such a CPU copies
//! the head up to the destination's next page boundary with `memcpy`, and
//! the rest with `rep movsb`.
//!
//! From `STREAM_MIN` bytes (8 MiB) up the copy stores around the caches
//! (non-temporal AVX2 stores, as glibc's `memcpy` does past a share of the
//! last-level cache, only faster here: 445 against 600 µs at 16 MiB). A
//! copy that size through the caches leaves them full of dirty lines that
//! whatever runs next must write back: in the Python hand-off benchmark
//! (a put alternating with the hand-rolled `np.copyto` of 16 MiB) a put by
//! `rep movsb` took 585–700 µs and made the `np.copyto` after it take
//! 570–580; streamed, 477–488 and 460–480. An object that large does not
//! stay in a 32 MiB cache for its reader anyway.
//!
//! Not done: several threads for one copy (what Ray's store does for large
//! puts) gain nothing on this 2-core machine, where the other core runs the
//! reader (BENCHMARKS.md, "Multi-threaded copies").

/// Below this many bytes `memcpy` is as fast or faster. A copy into a
/// page-aligned destination that stays in the cache is twice as fast with
/// `rep movsb` from 16 KiB up, but puts of 16 and 64 KiB in a row (each
/// into fresh slab blocks, 128 bytes into a page) measured slower with it
/// (354 against 290 ns, 791 against 703 ns) and equal at 256 KiB.
const STRING_COPY_MIN: usize = 256 << 10;

/// From this many bytes a copy streams around the caches (see the module
/// docs).
const STREAM_MIN: usize = 8 << 20;

/// The boundary the destination is brought to before `rep movsb`.
const PAGE: usize = 4096;

/// Copies `src` into `dst` (of the same length), the fastest way this CPU
/// has for the size.
///
/// # Panics
/// If the lengths differ, as `copy_from_slice` does.
pub fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "copy_bytes: the destination and the source differ in length");
    // SAFETY: two distinct slices (one `&mut`), so valid and not
    // overlapping, of the same length.
    unsafe { copy_raw(dst.as_mut_ptr(), src.as_ptr(), src.len()) }
}

/// [`copy_bytes`] through raw pointers: the mapping's bytes are never
/// seen as Rust slices (see `shared::mapping`).
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `len` bytes, and
/// the two ranges must not overlap.
#[inline]
pub(crate) unsafe fn copy_raw(dst: *mut u8, src: *const u8, len: usize) {
    if len >= STRING_COPY_MIN {
        // SAFETY: the caller's guarantee.
        unsafe { copy_large(dst, src, len) }
    } else {
        // SAFETY: the caller's guarantee.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) }
    }
}

/// A copy of `STRING_COPY_MIN` bytes or more: out of line, so that small
/// puts (the instruction budget's) carry none of it.
///
/// # Safety
/// As `copy_raw`.
#[inline(never)]
unsafe fn copy_large(dst: *mut u8, src: *const u8, len: usize) {
    match large_copy_method(len) {
        // SAFETY: the caller's guarantee; Stream is chosen only with AVX2.
        LargeCopy::Stream => unsafe { stream_copy(dst, src, len) },
        LargeCopy::String => {
            let head = dst.align_offset(PAGE).min(len);
            // SAFETY: `head <= len`: both parts lie inside the caller's
            // ranges.
            unsafe {
                std::ptr::copy_nonoverlapping(src, dst, head);
                string_copy(dst.add(head), src.add(head), len - head);
            }
        }
        // SAFETY: the caller's guarantee.
        LargeCopy::Memcpy => unsafe { std::ptr::copy_nonoverlapping(src, dst, len) },
    }
}

/// How a copy of `STRING_COPY_MIN` bytes or more is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LargeCopy {
    Memcpy,
    String,
    Stream,
}

fn large_copy_method(len: usize) -> LargeCopy {
    if cfg!(any(not(target_arch = "x86_64"), miri)) || plain_memcpy_asked() {
        LargeCopy::Memcpy
    } else if len >= STREAM_MIN && cpu_has_avx2() {
        LargeCopy::Stream
    } else if string_copy_is_fast() {
        LargeCopy::String
    } else {
        LargeCopy::Memcpy
    }
}

fn cpu_has_avx2() -> bool {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        false
    }
}

/// `OBJSTORE_COPY=memcpy` in the environment: every copy is `memcpy` (to
/// compare, or on a CPU where the others measure slower). Read once.
fn plain_memcpy_asked() -> bool {
    static ASKED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ASKED.get_or_init(|| std::env::var_os("OBJSTORE_COPY").is_some_and(|v| v == "memcpy"))
}

/// Whether `rep movsb` is the fast copy on this CPU (ERMS and FSRM), read
/// from CPUID once per process.
fn string_copy_is_fast() -> bool {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        static FAST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *FAST.get_or_init(cpu_has_fast_string_copy)
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        false
    }
}

/// CPUID leaf 7: ERMS (EBX bit 9) and FSRM (EDX bit 4).
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn cpu_has_fast_string_copy() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID exists on every x86_64 CPU; leaf 0 says how many leaves
    // there are, and leaf 7 is read only if it exists.
    #[allow(unused_unsafe)] // safe functions in newer toolchains
    let leaf7 = unsafe { (__cpuid(0).eax >= 7).then(|| __cpuid_count(7, 0)) };
    leaf7.is_some_and(|l| l.ebx & (1 << 9) != 0 && l.edx & (1 << 4) != 0)
}

/// `rep movsb`: copies `len` bytes forward from `src` to `dst`.
///
/// # Safety
/// As `copy_raw`.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline]
unsafe fn string_copy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller's ranges; the direction flag is clear on entry to
    // any function (the System V ABI), so the copy runs forward, and
    // `rep movsb` touches only rdi/rsi/rcx and the bytes it copies.
    unsafe {
        std::arch::asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags)
        );
    }
}

#[cfg(not(all(target_arch = "x86_64", not(miri))))]
#[inline]
unsafe fn string_copy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller's ranges.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) }
}

/// Copies with non-temporal stores (AVX2): the destination's lines go to
/// memory without being read into the caches or evicting what is there.
///
/// # Safety
/// As `copy_raw`, and the CPU has AVX2 (`large_copy_method` checks).
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "avx2")]
unsafe fn stream_copy(dst: *mut u8, src: *const u8, len: usize) {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_stream_si256, _mm_sfence};
    const STEP: usize = 128;
    let head = dst.align_offset(64).min(len);
    let body = (len - head) / STEP * STEP;
    // SAFETY: every access lies in `[0, len)` of the caller's ranges: the
    // head, then 128-byte steps of a 64-aligned destination (the aligned
    // stores need 32), then the tail. Non-temporal stores are weakly
    // ordered: the fence makes them visible before any store after this
    // function (the seal that publishes the object), as the x86 memory
    // model requires for them.
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, head);
        let (mut s, mut d) = (src.add(head), dst.add(head));
        let end = d.add(body);
        while d < end {
            let a = _mm256_loadu_si256(s.cast::<__m256i>());
            let b = _mm256_loadu_si256(s.add(32).cast::<__m256i>());
            let c = _mm256_loadu_si256(s.add(64).cast::<__m256i>());
            let e = _mm256_loadu_si256(s.add(96).cast::<__m256i>());
            _mm256_stream_si256(d.cast::<__m256i>(), a);
            _mm256_stream_si256(d.add(32).cast::<__m256i>(), b);
            _mm256_stream_si256(d.add(64).cast::<__m256i>(), c);
            _mm256_stream_si256(d.add(96).cast::<__m256i>(), e);
            s = s.add(STEP);
            d = d.add(STEP);
        }
        _mm_sfence();
        std::ptr::copy_nonoverlapping(s, d, len - head - body);
    }
}

#[cfg(not(all(target_arch = "x86_64", not(miri))))]
unsafe fn stream_copy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller's ranges.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size around the thresholds, at destinations and sources
    /// misaligned every way that matters (within a page and across one),
    /// through each method: the bytes arrive, and nothing around them is
    /// touched.
    #[test]
    fn copies_every_size_and_alignment_exactly() {
        // Miri interprets every byte: fewer, smaller cases there.
        let sizes: &[usize] = if cfg!(miri) {
            &[0, 1, 4097]
        } else {
            &[
                0,
                1,
                63,
                64,
                4095,
                4096,
                4097,
                12_345,
                65_536 + 17,
                STRING_COPY_MIN - 1,
                STRING_COPY_MIN,
                STRING_COPY_MIN + 4097,
            ]
        };
        let offsets: &[usize] = if cfg!(miri) { &[0, 48] } else { &[0, 1, 16, 48, 64, 2048, 4032, 4095] };
        let src_all: Vec<u8> = (0..STRING_COPY_MIN + 4097 + 8192).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut dst_all = vec![0u8; STRING_COPY_MIN + 4097 + 3 * PAGE];
        let base = dst_all.as_ptr().align_offset(PAGE);
        for &len in sizes {
            for &d in offsets {
                for &s in &[0usize, 8, 16, 1040, 4095] {
                    for method in 0..3 {
                        dst_all.fill(0xAA);
                        let at = base + d;
                        let src = &src_all[s..s + len];
                        let p = dst_all[at..].as_mut_ptr();
                        match method {
                            0 => copy_bytes(&mut dst_all[at..at + len], src),
                            // SAFETY: in bounds of two distinct vectors.
                            1 => unsafe { string_copy(p, src.as_ptr(), len) },
                            // SAFETY: as above, and AVX2 is there (or the
                            // plain copy stands in).
                            _ if cpu_has_avx2() => unsafe { stream_copy(p, src.as_ptr(), len) },
                            _ => copy_bytes(&mut dst_all[at..at + len], src),
                        }
                        assert_eq!(&dst_all[at..at + len], src, "len {len} dst +{d} src +{s} method {method}");
                        assert!(dst_all[..at].iter().all(|&b| b == 0xAA), "before: len {len} dst +{d}");
                        assert!(dst_all[at + len..].iter().all(|&b| b == 0xAA), "after: len {len} dst +{d}");
                    }
                }
            }
        }
    }

    /// A copy past `STREAM_MIN`, through `copy_bytes`, misaligned both ends.
    #[test]
    #[cfg_attr(miri, ignore = "8 MiB byte by byte: hours under Miri; the plain copy it takes there is tested above")]
    fn copies_a_streamed_size_exactly() {
        let len = STREAM_MIN + 4097;
        let src: Vec<u8> = (0..len + 16).map(|i| (i * 13 + i / 4093) as u8).collect();
        let mut dst = vec![0xAAu8; len + 96];
        copy_bytes(&mut dst[48..48 + len], &src[16..]);
        assert!(dst[48..48 + len] == src[16..], "the bytes arrive");
        assert!(dst[..48].iter().chain(&dst[48 + len..]).all(|&b| b == 0xAA), "nothing around them is touched");
    }

    /// Each size goes the way the module docs say.
    #[test]
    fn picks_the_method_by_size() {
        assert_ne!(large_copy_method(STREAM_MIN - 1), LargeCopy::Stream);
        if cfg!(all(target_arch = "x86_64", not(miri))) && !plain_memcpy_asked() {
            let at_stream = if cpu_has_avx2() { LargeCopy::Stream } else { large_copy_method(STRING_COPY_MIN) };
            assert_eq!(large_copy_method(STREAM_MIN), at_stream);
            let below = if string_copy_is_fast() { LargeCopy::String } else { LargeCopy::Memcpy };
            assert_eq!(large_copy_method(STRING_COPY_MIN), below);
        } else {
            assert_eq!(large_copy_method(STREAM_MIN), LargeCopy::Memcpy);
        }
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn refuses_slices_of_different_lengths() {
        copy_bytes(&mut [0u8; 4], &[1u8; 5]);
    }
}
