//! Structs that grow, by the rule of the header's preamble: every struct
//! that crosses the ABI by pointer begins with `uint32_t struct_size`, the
//! size of the struct as the caller was compiled with it.
//!
//! - Out of the library (`os_stats`, `os_list`, ...): the library writes
//!   the fields both sides know, zeros for the caller's fields it does not
//!   know, never a byte past the caller's size; `struct_size` then says how
//!   many bytes hold fields the library knows.
//! - Into the library (`os_open`'s options): fields the caller does not
//!   know keep their defaults; fields the caller knows and the library does
//!   not must be zero (their default), else OS_INVALID_ARGUMENT — the rule
//!   of Linux's `copy_struct_from_user` (clone3, openat2), so that an
//!   option the library cannot honour is refused, never ignored.
//! - A size below the first version's (`OS_*_MIN_SIZE`) is refused.
//!
//! Every copy here is a byte copy of at most the caller's size, so a
//! caller compiled against an older header (a smaller struct) is never
//! written past its end.

use std::mem::{size_of, MaybeUninit};

use super::types::{os_object_info, os_options, os_process_info, os_store_stats};
use super::types::{OS_OBJECT_INFO_MIN_SIZE, OS_OPTIONS_MIN_SIZE, OS_PROCESS_INFO_MIN_SIZE, OS_STORE_STATS_MIN_SIZE};
use crate::error::{err, Result};

/// A struct under the `struct_size` rule.
///
/// # Safety
/// The type is `#[repr(C)]`, begins with `struct_size: u32` at offset 0
/// (checked at compile time in `types`), and every bit pattern of its size
/// is a valid value (integers and raw pointers only).
pub(super) unsafe trait Growable: Copy {
    /// Its C name, for messages.
    const NAME: &'static str;
    /// The size of its first version.
    const MIN: u32;
}

// SAFETY: repr(C) structs of integers and raw pointers, struct_size first.
unsafe impl Growable for os_options {
    const NAME: &'static str = "os_options";
    const MIN: u32 = OS_OPTIONS_MIN_SIZE;
}
// SAFETY: as above.
unsafe impl Growable for os_store_stats {
    const NAME: &'static str = "os_store_stats";
    const MIN: u32 = OS_STORE_STATS_MIN_SIZE;
}
// SAFETY: as above.
unsafe impl Growable for os_object_info {
    const NAME: &'static str = "os_object_info";
    const MIN: u32 = OS_OBJECT_INFO_MIN_SIZE;
}
// SAFETY: as above.
unsafe impl Growable for os_process_info {
    const NAME: &'static str = "os_process_info";
    const MIN: u32 = OS_PROCESS_INFO_MIN_SIZE;
}

/// The `struct_size` the caller set in the struct at `p`, checked against
/// the first version's size. `what` names the argument in the message.
///
/// # Safety
/// `p` is non-null and its first 4 bytes are readable.
pub(super) unsafe fn caller_size<T: Growable>(p: *const T, what: &str) -> Result<usize> {
    // SAFETY: every version of T begins with struct_size (the trait's
    // contract); the caller's struct may be smaller than ours, so only those
    // 4 bytes are read.
    let size = unsafe { p.cast::<u32>().read_unaligned() };
    if size < T::MIN {
        return Err(err!(
            InvalidArgument,
            "{what}->struct_size is {size}, less than the first version of {} ({} bytes): set it to sizeof({})",
            T::NAME,
            T::MIN,
            T::NAME
        ));
    }
    Ok(size as usize)
}

/// Writes `value` as the caller's version of `T`, `caller_size` bytes at
/// `dst`: the fields both know, then zeros; `struct_size` becomes the
/// number of bytes holding fields this library knows.
///
/// # Safety
/// `dst` is valid for writing `caller_size` bytes, and `caller_size` is at
/// least `T::MIN` (from `caller_size`).
pub(super) unsafe fn write_prefix<T: Growable>(dst: *mut T, caller_size: usize, value: &T) {
    let known = caller_size.min(size_of::<T>());
    let dst = dst.cast::<u8>();
    // SAFETY: `known` <= both sizes; an untyped copy, so the padding bytes
    // of `value` may be copied as they are. The tail is the caller's.
    unsafe {
        std::ptr::copy_nonoverlapping((value as *const T).cast::<u8>(), dst, known);
        std::ptr::write_bytes(dst.add(known), 0, caller_size - known);
        dst.cast::<u32>().write_unaligned(known as u32);
    }
}

/// Writes entry `i` of a caller's array of `T` whose entries are `stride`
/// bytes (the caller's `struct_size`), as `write_prefix` does.
///
/// # Safety
/// `base` is valid for writing `(i + 1) * stride` bytes, and `stride` is
/// at least `T::MIN`.
pub(super) unsafe fn write_entry<T: Growable>(base: *mut T, stride: usize, i: usize, value: &T) {
    // SAFETY: entry i lies inside the array (the contract above).
    unsafe { write_prefix(base.cast::<u8>().add(i * stride).cast::<T>(), stride, value) }
}

/// Reads the caller's version of `T`, `caller_size` bytes at `src`, over
/// `defaults`: fields the caller does not know keep their defaults, fields
/// this library does not know must be zero. `struct_size` of the result is
/// this library's size.
///
/// # Safety
/// `src` is valid for reading `caller_size` bytes, and `caller_size` is at
/// least `T::MIN`.
pub(super) unsafe fn read_prefix<T: Growable>(src: *const T, caller_size: usize, defaults: T, what: &str) -> Result<T> {
    let own = size_of::<T>();
    let known = caller_size.min(own);
    let src = src.cast::<u8>();
    if caller_size > own {
        // SAFETY: the caller's struct has `caller_size` readable bytes.
        let unknown = unsafe { std::slice::from_raw_parts(src.add(own), caller_size - own) };
        if let Some(at) = unknown.iter().position(|&b| b != 0) {
            return Err(err!(
                InvalidArgument,
                "{what} sets a field at byte {} that this version of the library ({}) does not know: \
                 it has {own} bytes of {}, the caller {caller_size}",
                own + at,
                super::version::VERSION_TEXT,
                T::NAME
            ));
        }
    }
    let mut v = MaybeUninit::new(defaults);
    // SAFETY: `known` bytes are readable at `src` and writable in `v`; any
    // bit pattern is a valid T (the trait's contract), so the mix of the
    // caller's bytes and the defaults is a T.
    unsafe {
        std::ptr::copy_nonoverlapping(src, v.as_mut_ptr().cast::<u8>(), known);
        v.as_mut_ptr().cast::<u32>().write(own as u32);
        Ok(v.assume_init())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A struct's second version beside its first: what an older caller
    /// and a newer library (or the reverse) see.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct V1 {
        struct_size: u32,
        a: u32,
        b: u64,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct V2 {
        struct_size: u32,
        a: u32,
        b: u64,
        c: u64,
    }
    // SAFETY: repr(C) integers, struct_size first.
    unsafe impl Growable for V2 {
        const NAME: &'static str = "v";
        const MIN: u32 = 16;
    }

    const DEFAULTS: V2 = V2 { struct_size: 24, a: 1, b: 2, c: 3 };

    #[test]
    fn an_older_callers_input_keeps_the_defaults_of_what_it_does_not_know() {
        let old = V1 { struct_size: 16, a: 10, b: 20 };
        let p = (&old as *const V1).cast::<V2>();
        // SAFETY: 16 readable bytes.
        let size = unsafe { caller_size(p, "v") }.unwrap();
        assert_eq!(size, 16);
        // SAFETY: as above.
        let v = unsafe { read_prefix(p, size, DEFAULTS, "v") }.unwrap();
        assert_eq!(v, V2 { struct_size: 24, a: 10, b: 20, c: 3 });
    }

    #[test]
    fn a_newer_callers_input_must_leave_unknown_fields_at_zero() {
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct V3 {
            v2: V2,
            d: u64,
        }
        let mut newer = V3 { v2: V2 { struct_size: 32, a: 10, b: 20, c: 30 }, d: 0 };
        let p = (&newer as *const V3).cast::<V2>();
        // SAFETY: 32 readable bytes.
        let v = unsafe { read_prefix(p, 32, DEFAULTS, "v") }.unwrap();
        assert_eq!(v, V2 { struct_size: 24, a: 10, b: 20, c: 30 });
        newer.d = 7;
        let p = (&newer as *const V3).cast::<V2>();
        // SAFETY: as above.
        let e = unsafe { read_prefix(p, 32, DEFAULTS, "v") }.unwrap_err();
        assert!(e.to_string().contains("byte 24"), "{e}");
    }

    #[test]
    fn a_size_below_the_first_version_is_refused() {
        let tiny = V1 { struct_size: 8, a: 0, b: 0 };
        // SAFETY: 16 readable bytes.
        let e = unsafe { caller_size((&tiny as *const V1).cast::<V2>(), "v") }.unwrap_err();
        assert!(e.to_string().contains("struct_size is 8"), "{e}");
    }

    #[test]
    fn output_for_an_older_caller_stops_at_its_size() {
        // A buffer of an old caller's 16 bytes inside a larger one, to see
        // that nothing after it is touched.
        let mut buf = [0xeeu8; 32];
        let value = V2 { struct_size: 24, a: 5, b: 6, c: 7 };
        // SAFETY: 32 writable bytes, 16 of them the caller's.
        unsafe { write_prefix(buf.as_mut_ptr().cast::<V2>(), 16, &value) };
        assert_eq!(&buf[0..4], &16u32.to_ne_bytes(), "struct_size says what was filled");
        assert_eq!(&buf[4..8], &5u32.to_ne_bytes());
        assert_eq!(&buf[8..16], &6u64.to_ne_bytes());
        assert!(buf[16..].iter().all(|&b| b == 0xee), "wrote past the caller's struct: {buf:?}");
    }

    #[test]
    fn output_for_a_newer_caller_zeroes_what_the_library_does_not_know() {
        let mut buf = [0xeeu8; 40];
        let value = V2 { struct_size: 24, a: 5, b: 6, c: 7 };
        // SAFETY: 40 writable bytes; a caller of 32.
        unsafe { write_prefix(buf.as_mut_ptr().cast::<V2>(), 32, &value) };
        assert_eq!(&buf[0..4], &24u32.to_ne_bytes());
        assert_eq!(&buf[16..24], &7u64.to_ne_bytes());
        assert!(buf[24..32].iter().all(|&b| b == 0));
        assert!(buf[32..].iter().all(|&b| b == 0xee));
    }
}
