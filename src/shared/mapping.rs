//! Raw access to the shared mapping: the one place where bytes of the store
//! file become Rust references.
//!
//! Invariants this module upholds for the rest of the crate:
//! - Every view is bounds-checked against the mapping's length and its
//!   alignment is checked; an offset read from the file (which any process,
//!   or a damaged disk, may have scribbled) can at worst give `None`.
//! - Shared words are only ever seen as atomics (`AtomicU64`, `AtomicU32`),
//!   never as `&mut` or plain integers, because other processes write them
//!   concurrently. `AtomicU64` has the size and alignment of `u64`, so a
//!   slice of them may overlay the mapped words.
//! - Object payload bytes are reached only through raw pointers handed to
//!   a copy (`platform::copy_raw`) or to the caller; Rust never holds a `&[u8]` to
//!   bytes another process may still be writing.
//! - The mapping outlives every view: views borrow `&self`. A `Words` (a
//!   range checked once, to be viewed again and again without checks) names
//!   the mapping it was checked against and is refused by any other.

use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::platform;

/// A shared, read-write mapping of a store file.
#[derive(Debug)]
pub(crate) struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is process-wide memory; all shared words are accessed
// through atomics and payload bytes through raw copies, so sharing the
// handle between threads adds no data race of its own.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of a store file, shared.
    pub(crate) fn map(fd: &std::os::fd::OwnedFd, len: usize) -> std::io::Result<Mapping> {
        Ok(Mapping { base: platform::mmap_shared(fd, len)?, len })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    fn check(&self, offset: usize, bytes: usize, align: usize) -> bool {
        offset.is_multiple_of(align) && offset.checked_add(bytes).is_some_and(|end| end <= self.len)
    }

    /// `count` consecutive 64-bit words starting at byte `offset`.
    #[inline]
    pub(crate) fn u64s(&self, offset: usize, count: usize) -> Option<&[AtomicU64]> {
        if !self.check(offset, count.checked_mul(8)?, 8) {
            return None;
        }
        // SAFETY: the range is inside the mapping (checked above) and 8-aligned
        // (the base is page-aligned); AtomicU64 has u64's layout; the memory
        // stays mapped while `self` is borrowed; all access is atomic.
        Some(unsafe { std::slice::from_raw_parts(self.base.add(offset).cast::<AtomicU64>(), count) })
    }

    /// `count` consecutive 32-bit words starting at byte `offset`.
    #[inline]
    pub(crate) fn u32s(&self, offset: usize, count: usize) -> Option<&[AtomicU32]> {
        if !self.check(offset, count.checked_mul(4)?, 4) {
            return None;
        }
        // SAFETY: as for `u64s`, with 4-byte words.
        Some(unsafe { std::slice::from_raw_parts(self.base.add(offset).cast::<AtomicU32>(), count) })
    }

    /// A range of `count` words at byte `offset`, checked now (bounds and
    /// alignment) so that `view` needs no check later.
    pub(crate) fn words<T: SharedWord>(&self, offset: usize, count: usize) -> Option<Words<T>> {
        let bytes = count.checked_mul(std::mem::size_of::<T>())?;
        self.check(offset, bytes, std::mem::align_of::<T>()).then_some(Words {
            base: self.base,
            offset,
            count,
            _word: std::marker::PhantomData,
        })
    }

    /// The words of a range checked by `words` on this mapping.
    #[inline]
    pub(crate) fn view<T: SharedWord>(&self, w: Words<T>) -> &[T] {
        // A range checked against another mapping is a bug, never UB.
        assert!(w.base == self.base, "a range of another mapping");
        // SAFETY: `w` was checked against this mapping (same base, and the
        // length never changes): in bounds and aligned. T is an atomic with
        // the layout of the plain word; the memory stays mapped while `self`
        // is borrowed, and all access is atomic.
        unsafe { std::slice::from_raw_parts(self.base.add(w.offset).cast::<T>(), w.count) }
    }

    /// The words of a range checked by `words` on this mapping, with a
    /// lifetime the type system cannot tie to the mapping.
    ///
    /// # Safety
    /// The caller keeps the slice beside this mapping, where nothing can
    /// reach it once the mapping is dropped, and hands it out only borrowed
    /// from whatever owns the mapping (see `Region`), so that no use of it
    /// outlives the mapping.
    pub(crate) unsafe fn view_for_life<T: SharedWord>(&self, w: Words<T>) -> &'static [T] {
        let v = self.view(w);
        // SAFETY: the memory stays mapped until `self` is dropped, and the
        // caller guarantees no use of the slice outlives that.
        unsafe { std::slice::from_raw_parts(v.as_ptr(), v.len()) }
    }

    /// A raw pointer to `len` bytes at `offset`, if they lie in the mapping.
    #[inline]
    pub(crate) fn ptr(&self, offset: usize, len: usize) -> Option<*mut u8> {
        if !self.check(offset, len, 1) {
            return None;
        }
        // SAFETY: in bounds, checked above.
        Some(unsafe { self.base.add(offset) })
    }

    /// Copies `src` into the mapping at `offset`.
    ///
    /// The caller must own the destination range (a block it allocated and
    /// has not published), so no other process reads or writes it meanwhile.
    pub(crate) fn write(&self, offset: usize, src: &[u8]) -> bool {
        match self.ptr(offset, src.len()) {
            Some(dst) => {
                // SAFETY: `dst..dst+len` is inside the mapping; `src` is a
                // separate Rust slice, so the ranges cannot overlap.
                unsafe { platform::copy_raw(dst, src.as_ptr(), src.len()) };
                true
            }
            None => false,
        }
    }

    /// The bytes at `offset..offset+len` as a slice, if inside the mapping.
    ///
    /// # Safety
    /// No process may write the range while the slice lives: the caller
    /// holds a sealed object steady (pinned, or SPILLING, which keeps it from
    /// being freed), and sealed bytes are never written.
    pub(crate) unsafe fn bytes(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let p = self.ptr(offset, len)?;
        // SAFETY: in bounds; stable by the caller's guarantee.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// The bytes at `offset..offset+len` as a mutable slice, if inside.
    ///
    /// # Safety
    /// The caller owns the range exclusively: a block it allocated and has
    /// not published, which no other process can reach.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut(&self, offset: usize, len: usize) -> Option<&mut [u8]> {
        let p = self.ptr(offset, len)?;
        // SAFETY: in bounds; exclusive by the caller's guarantee.
        Some(unsafe { std::slice::from_raw_parts_mut(p, len) })
    }
}

/// The atomic word types a mapping may be viewed as.
pub(crate) trait SharedWord: Sized {}
impl SharedWord for AtomicU64 {}
impl SharedWord for AtomicU32 {}

/// A range of words of one mapping, checked once (see `Mapping::words`).
#[derive(Debug)]
pub(crate) struct Words<T> {
    base: *mut u8,
    offset: usize,
    count: usize,
    _word: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for Words<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Words<T> {}

// SAFETY: a `Words` is an offset and a length, plus the base address used
// only for comparison; it grants nothing without the mapping.
unsafe impl<T> Send for Words<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Words<T> {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base/len` is the mapping we own; every view borrowed `self`,
        // so none can outlive this point. Pointers handed to C callers are
        // documented as invalid after os_close.
        unsafe { platform::munmap(self.base, self.len) };
    }
}

/// Process-private atomic words, zero-filled and paid for only where
/// touched (anonymous, MAP_NORESERVE memory): per-object counters and
/// tables sized by the store's object slots, most of which a process never
/// touches.
#[derive(Debug)]
pub(crate) struct LocalWords<W: ZeroIsValid> {
    base: *mut u8,
    count: usize,
    word: std::marker::PhantomData<W>,
}

/// Process-private 32-bit counters, one per object slot (or wait word).
pub(crate) type LocalCounters = LocalWords<AtomicU32>;

/// A type that `LocalWords` may hand out over zero-filled shared memory.
///
/// # Safety
///
/// All-zero bytes are a valid value of the type, and it is an atomic
/// (written through `&`, safe to share between threads).
pub(crate) unsafe trait ZeroIsValid: Sized + Sync {}
// SAFETY: an atomic integer; zero bytes are 0.
unsafe impl ZeroIsValid for AtomicU32 {}
// SAFETY: as above.
unsafe impl ZeroIsValid for AtomicU64 {}

// SAFETY: the words are only accessed as atomics.
unsafe impl<W: ZeroIsValid> Send for LocalWords<W> {}
// SAFETY: as above.
unsafe impl<W: ZeroIsValid> Sync for LocalWords<W> {}

impl<W: ZeroIsValid> LocalWords<W> {
    pub(crate) fn new(count: usize) -> std::io::Result<LocalWords<W>> {
        let base = platform::mmap_anon(count * std::mem::size_of::<W>())?;
        Ok(LocalWords { base, count, word: std::marker::PhantomData })
    }

    pub(crate) fn words(&self) -> &[W] {
        // SAFETY: the mapping holds `count` zero-initialised words of W's
        // size (a valid W: `ZeroIsValid`), is page-aligned, lives as long as
        // `self`, and W is an atomic type, accessed through `&`.
        unsafe { std::slice::from_raw_parts(self.base.cast::<W>(), self.count) }
    }
}

impl<W: ZeroIsValid> Drop for LocalWords<W> {
    fn drop(&mut self) {
        // SAFETY: our own anonymous mapping; views borrowed `self`.
        unsafe { platform::munmap(self.base, self.count * std::mem::size_of::<W>()) };
    }
}
