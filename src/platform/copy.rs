//! Copying a value into the store at the memory's speed.
//!
//! A put is one copy of the caller's bytes into the mapping, so its speed
//! is the copy's. The C library's `memcpy` picks its method by size and by
//! what it knows of the CPU; for the copies a put makes (from a buffer the
//! caller allocated, anywhere, to an object's data) it is far from the
//! best this hardware does. Measured on an AMD EPYC (Zen, with ERMS and
//! FSRM) under glibc 2.36, destination page-aligned, best of many copies
//! (BENCHMARKS.md, "copying into the store"):
//!
//! | size | `memcpy` | `rep movsb` |
//! |---|---:|---:|
//! | 64 KiB | 1.2 µs | 0.6 µs |
//! | 1 MiB | 28 µs | 13 µs |
//! | 16 MiB | 486 µs | 322 µs |
//! | 256 MiB | 13.1 ms | 10.2 ms |
//!
//! `rep movsb` is the CPU's own copy (the microcode moves whole cache
//! lines), fast on CPUs that advertise "fast short REP MOVSB" (FSRM: Intel
//! since Ice Lake, AMD since Zen 3) but sensitive to where the destination
//! lies relative to the source modulo a page: with both slightly
//! misaligned it can be slower than `memcpy` (a destination 48 bytes past
//! the source: 501 against 470 µs at 16 MiB). With the destination
//! page-aligned it was the faster for every source offset measured. So a
//! copy of at least `STRING_COPY_MIN` bytes (256 KiB) on such a CPU copies the head
//! up to the destination's next page boundary with `memcpy`, and the rest
//! with `rep movsb`; anything else is `memcpy`.
//!
//! Not done: non-temporal stores, a few per cent faster again past the
//! last-level cache (64 MiB: 2.3 against 2.5 ms), leave the object out of
//! the cache its first reader wants it in; several threads for one copy
//! (what Ray's store does for large puts) gain nothing on this 2-core
//! machine, where the other core runs the reader.

/// Below this many bytes `memcpy` is as fast or faster. A copy into a
/// page-aligned destination that stays in the cache is twice as fast with
/// `rep movsb` from 16 KiB up, but puts of 16 and 64 KiB in a row (each
/// into fresh slab blocks, 128 bytes into a page) measured slower with it
/// (354 against 290 ns, 791 against 703 ns) and equal at 256 KiB.
const STRING_COPY_MIN: usize = 256 << 10;

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
    if string_copy_is_fast() {
        let head = dst.align_offset(PAGE).min(len);
        // SAFETY: `head <= len`: both parts lie inside the caller's ranges.
        unsafe {
            std::ptr::copy_nonoverlapping(src, dst, head);
            string_copy(dst.add(head), src.add(head), len - head);
        }
    } else {
        // SAFETY: the caller's guarantee.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) }
    }
}

/// Whether `rep movsb` is the fast copy on this CPU (ERMS and FSRM), read
/// from CPUID once per process.
#[inline]
fn string_copy_is_fast() -> bool {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        use std::sync::atomic::{AtomicU8, Ordering};
        const UNKNOWN: u8 = 0;
        const FAST: u8 = 1;
        const SLOW: u8 = 2;
        static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
        match STATE.load(Ordering::Relaxed) {
            FAST => true,
            SLOW => false,
            _ => {
                let fast = cpu_has_fast_string_copy();
                STATE.store(if fast { FAST } else { SLOW }, Ordering::Relaxed);
                fast
            }
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        false
    }
}

/// CPUID leaf 7: ERMS (EBX bit 9) and FSRM (EDX bit 4). `OBJSTORE_COPY=memcpy`
/// in the environment turns `rep movsb` off (to compare, or on a CPU where it
/// measures slower).
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn cpu_has_fast_string_copy() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    if std::env::var_os("OBJSTORE_COPY").is_some_and(|v| v == "memcpy") {
        return false;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size around the thresholds, at destinations and sources
    /// misaligned every way that matters (within a page and across one),
    /// through both methods: the bytes arrive, and nothing around them is
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
                    for method in 0..2 {
                        dst_all.fill(0xAA);
                        let at = base + d;
                        let src = &src_all[s..s + len];
                        if method == 0 {
                            copy_bytes(&mut dst_all[at..at + len], src);
                        } else {
                            // SAFETY: in bounds of two distinct vectors.
                            unsafe { string_copy(dst_all.as_mut_ptr().add(at), src.as_ptr(), len) };
                        }
                        assert_eq!(&dst_all[at..at + len], src, "len {len} dst +{d} src +{s} method {method}");
                        assert!(dst_all[..at].iter().all(|&b| b == 0xAA), "before: len {len} dst +{d}");
                        assert!(dst_all[at + len..].iter().all(|&b| b == 0xAA), "after: len {len} dst +{d}");
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn refuses_slices_of_different_lengths() {
        copy_bytes(&mut [0u8; 4], &[1u8; 5]);
    }
}
