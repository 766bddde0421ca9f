//! The store file's layout: a checksummed header of fields that never change
//! after creation, then fixed-size sections computed from those fields, then
//! the arena that holds object bytes.
//!
//! ```text
//! 0       header (magic, version, CRC, sizes, hash seed,          8 KiB
//!         remote URL, spill dir)
//! 8 KiB   mutable globals (counters, the get_many wait word)          4 KiB
//!         process table      one 1 KiB slot per process
//!         slab hints         per size class, slabs recently freed into
//!         wait words         64 bytes each: a futex sequence (buckets, get_many)
//!         wait masks         per wait word, one bit per waiting process slot
//!         region states      one word per reservation region of the arena
//!         page table         one word per arena page
//!         used-page bitmap   one bit per arena page (a search hint)
//!         free-object bitmap one bit per descriptor (a search hint)
//!         index buckets      64 bytes: a probe bound and seven u64 entries
//!         descriptors        64 bytes per object slot
//!         pin masks          one bit per process slot per object slot (spread, see pins)
//!         linger entries     16 words per process slot of the first 64 (see lingering)
//!         linger masks       one word per object: which of those slots' entries may name it
//!         reference words    one word per object slot: who holds references (see refs)
//!         hold table         32 bytes per 32 object slots: tickets, references of high slots
//! arena   object bytes, page_size-aligned
//! ```
//!
//! Invariants: every section offset is a pure function of the header's
//! fields, so an attacher recomputes them instead of trusting stored
//! offsets; the header's CRC covers every byte of its first 8 KiB, so a
//! damaged header is recognised before anything else is read.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::index::BUCKET_WORDS;
use super::wait::WAIT_WORDS;
use super::{descriptor, holds, index, lingering, pages, pins, proctable, slab, wait};
use crate::error::{err, Result};

/// The first bytes of every store file.
pub(crate) const MAGIC: [u8; 8] = *b"OBJSTORE";
/// Bumped whenever the layout or any shared protocol changes.
pub(crate) const LAYOUT_VERSION: u32 = 14;

/// Bytes of the immutable, checksummed header.
pub(crate) const HEADER_LEN: usize = 8192;
/// Where the remote URL is kept inside the header.
const REMOTE_URL_OFFSET: usize = 1024;
/// Longest remote URL the header can hold.
pub(crate) const MAX_REMOTE_URL_LEN: usize = SPILL_DIR_OFFSET - REMOTE_URL_OFFSET;
/// Where the spill directory path is kept inside the header.
const SPILL_DIR_OFFSET: usize = 4096;
/// Longest spill directory path the header can hold.
pub(crate) const MAX_SPILL_DIR_LEN: usize = HEADER_LEN - SPILL_DIR_OFFSET;
/// The mutable globals page.
pub(crate) const GLOBALS_OFFSET: usize = HEADER_LEN;
const GLOBALS_LEN: usize = 4096;

/// Bytes of one arena page, the unit of large allocations and slabs.
pub(crate) const PAGE_SIZE: u64 = 64 << 10;
/// Arena alignment when huge pages are asked for.
pub(crate) const HUGE_PAGE_SIZE: u64 = 2 << 20;

/// Upper limits that keep every derived size far from overflow.
pub(crate) const MAX_OBJECTS_LIMIT: u64 = (1 << 31) - 2;
pub(crate) const MAX_PROCESSES_LIMIT: u32 = 4096;
pub(crate) const MAX_CAPACITY: u64 = 1 << 48;

/// Store-level flags recorded in the header.
pub(crate) const STORE_FLAG_HUGEPAGES: u32 = 1;

/// The fields chosen at creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    pub capacity: u64,
    pub max_objects: u64,
    pub max_processes: u32,
    pub page_size: u64,
    pub hash_seed: u64,
    pub created_unix: u64,
    pub store_flags: u32,
    pub spill_dir: Option<PathBuf>,
    /// The remote tier's URL (normalized, see `remote::normalize_url`).
    pub remote_url: Option<String>,
}

/// Where everything is, computed from `Params`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub params: Params,
    pub mask_words: usize,
    /// Mask positions: max_objects rounded up to a multiple of
    /// `pins::MASK_SPREAD` (masks are spread, see `PinMasks`).
    pub mask_positions: u64,
    pub pages: u64,
    pub regions: u64,
    pub buckets: u64,
    pub proc_table: usize,
    pub class_hints: usize,
    pub wait: usize,
    pub wait_masks: usize,
    pub region_states: usize,
    pub page_table: usize,
    pub used_bitmap: usize,
    pub desc_bitmap: usize,
    pub index: usize,
    pub descriptors: usize,
    pub masks: usize,
    pub linger_entries: usize,
    pub linger_masks: usize,
    pub ref_words: usize,
    pub holds: usize,
    pub arena: usize,
    pub file_size: u64,
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

impl Layout {
    /// Computes the layout, refusing parameters outside the supported range.
    pub(crate) fn compute(params: Params) -> Result<Layout> {
        if params.page_size != PAGE_SIZE {
            return Err(err!(Corrupt, "page size {} is not supported", params.page_size));
        }
        if params.capacity < params.page_size
            || params.capacity > MAX_CAPACITY
            || !params.capacity.is_multiple_of(params.page_size)
        {
            return Err(err!(
                InvalidArgument,
                "capacity {} is outside [{}, {}] or not page-aligned",
                params.capacity,
                params.page_size,
                MAX_CAPACITY
            ));
        }
        if params.max_objects == 0 || params.max_objects > MAX_OBJECTS_LIMIT {
            return Err(err!(
                InvalidArgument,
                "max_objects {} is outside [1, {}]",
                params.max_objects,
                MAX_OBJECTS_LIMIT
            ));
        }
        if params.max_processes == 0 || params.max_processes > MAX_PROCESSES_LIMIT {
            return Err(err!(
                InvalidArgument,
                "max_processes {} is outside [1, {}]",
                params.max_processes,
                MAX_PROCESSES_LIMIT
            ));
        }
        if let Some(d) = &params.spill_dir {
            if d.as_os_str().len() > MAX_SPILL_DIR_LEN {
                return Err(err!(InvalidArgument, "spill directory path is longer than {MAX_SPILL_DIR_LEN} bytes"));
            }
        }
        if params.remote_url.as_ref().is_some_and(|u| u.len() > MAX_REMOTE_URL_LEN) {
            return Err(err!(InvalidArgument, "remote URL is longer than {MAX_REMOTE_URL_LEN} bytes"));
        }
        if params.store_flags & STORE_FLAG_HUGEPAGES != 0 && !params.capacity.is_multiple_of(HUGE_PAGE_SIZE) {
            return Err(err!(InvalidArgument, "a huge-page store's capacity must be a multiple of 2 MiB"));
        }
        let mask_words = pins::mask_words(params.max_processes);
        let pages = params.capacity / params.page_size;
        let regions = pages::region_count(pages);
        let buckets = index::bucket_count(params.max_objects);
        let mask_positions = pins::mask_positions(params.max_objects);

        let mut at = (GLOBALS_OFFSET + GLOBALS_LEN) as u64;
        let mut section = |bytes: u64| -> usize {
            let start = at;
            at = align_up(at + bytes.max(1), 4096);
            start as usize
        };
        let words = |n: usize| n as u64 * 8;
        let proc_table = section(words(proctable::table_words(params.max_processes)));
        let class_hints = section(words(slab::HINT_WORDS));
        let wait = section(wait::SEQ_WORDS as u64 * 4);
        let wait_masks = section(words(WAIT_WORDS * mask_words));
        let region_states = section(regions * 8);
        let page_table = section(words(pages::table_words(pages)));
        let used_bitmap = section(words(pages::bitmap_words(pages)));
        let desc_bitmap = section(words(descriptor::free_hint_words(params.max_objects)));
        let index = section(buckets * BUCKET_WORDS as u64 * 8);
        let descriptors = section(words(descriptor::table_words(params.max_objects)));
        let masks = section(words(mask_positions as usize * mask_words));
        let linger_entries = section(words(lingering::entry_words(params.max_processes)));
        let linger_masks = section(words(mask_positions as usize * lingering::LINGER_MASK_WORDS));
        let ref_words = section(words(params.max_objects as usize));
        let holds = section(words(holds::table_words(params.max_objects)));
        let arena_align = if params.store_flags & STORE_FLAG_HUGEPAGES != 0 { HUGE_PAGE_SIZE } else { PAGE_SIZE };
        let arena = align_up(at, arena_align);
        let file_size = arena + params.capacity;
        Ok(Layout {
            params,
            mask_words,
            mask_positions,
            pages,
            regions,
            buckets,
            proc_table,
            class_hints,
            wait,
            wait_masks,
            region_states,
            page_table,
            used_bitmap,
            desc_bitmap,
            index,
            descriptors,
            masks,
            linger_entries,
            linger_masks,
            ref_words,
            holds,
            arena: arena as usize,
            file_size,
        })
    }

    /// Bytes of metadata before the arena (reserved in full at creation).
    pub(crate) fn metadata_len(&self) -> u64 {
        self.arena as u64
    }

    /// Encodes the header (the first `HEADER_LEN` bytes of the file).
    pub(crate) fn encode_header(&self) -> Vec<u8> {
        let p = &self.params;
        let mut h = vec![0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        put32(&mut h, 8, LAYOUT_VERSION);
        put32(&mut h, 16, HEADER_LEN as u32);
        put32(&mut h, 20, p.page_size as u32);
        put64(&mut h, 24, p.capacity);
        put64(&mut h, 32, p.max_objects);
        put32(&mut h, 40, p.max_processes);
        put32(&mut h, 44, self.mask_words as u32);
        put64(&mut h, 48, self.buckets);
        put64(&mut h, 56, p.hash_seed);
        put64(&mut h, 64, p.created_unix);
        put32(&mut h, 72, p.store_flags);
        let dir = p.spill_dir.as_deref().map_or(&[][..], |d| d.as_os_str().as_bytes());
        put32(&mut h, 76, dir.len() as u32);
        put64(&mut h, 80, self.file_size);
        put64(&mut h, 88, self.arena as u64);
        h[SPILL_DIR_OFFSET..SPILL_DIR_OFFSET + dir.len()].copy_from_slice(dir);
        let url = p.remote_url.as_deref().unwrap_or("").as_bytes();
        put32(&mut h, 96, url.len() as u32);
        h[REMOTE_URL_OFFSET..REMOTE_URL_OFFSET + url.len()].copy_from_slice(url);
        let crc = crc32fast::hash(&h);
        put32(&mut h, 12, crc);
        h
    }

    /// Decodes and checks a header: magic, then CRC, then version, then
    /// that every recorded size agrees with the layout its fields imply.
    ///
    /// Every layout version keeps the magic (bytes 0..8), the version (8),
    /// the CRC (12) and the header's length (16) where they are, and the
    /// CRC covers the header's `length` bytes with its own field zeroed: so
    /// the CRC is checked before the version is believed, and a damaged
    /// version field reads as damage, not as a store of another version.
    pub(crate) fn decode_header(h: &[u8]) -> Result<Layout> {
        if h.len() < HEADER_LEN {
            return Err(err!(Corrupt, "store file is shorter than its header ({} < {HEADER_LEN} bytes)", h.len()));
        }
        if h[0..8] != MAGIC {
            return Err(err!(Corrupt, "not an objstore file (bad magic)"));
        }
        let len = get32(h, 16) as usize;
        if !(20..=h.len()).contains(&len) {
            return Err(err!(Corrupt, "store header has a bad length field (the header is damaged)"));
        }
        let mut copy = h[..len].to_vec();
        put32(&mut copy, 12, 0);
        if crc32fast::hash(&copy) != get32(h, 12) {
            return Err(err!(Corrupt, "store header checksum mismatch (the header is damaged)"));
        }
        let version = get32(h, 8);
        if version != LAYOUT_VERSION {
            return Err(err!(
                Incompatible,
                "store file has layout version {version}, this library reads version {LAYOUT_VERSION}"
            ));
        }
        if len != HEADER_LEN {
            return Err(err!(Corrupt, "store header has a bad length field"));
        }
        let dir_len = get32(h, 76) as usize;
        if dir_len > MAX_SPILL_DIR_LEN {
            return Err(err!(Corrupt, "store header has a bad spill directory length"));
        }
        let spill_dir = if dir_len == 0 {
            None
        } else {
            let raw = &h[SPILL_DIR_OFFSET..SPILL_DIR_OFFSET + dir_len];
            Some(PathBuf::from(std::ffi::OsStr::from_bytes(raw)))
        };
        let url_len = get32(h, 96) as usize;
        if url_len > MAX_REMOTE_URL_LEN {
            return Err(err!(Corrupt, "store header has a bad remote URL length"));
        }
        let remote_url = if url_len == 0 {
            None
        } else {
            let raw = &h[REMOTE_URL_OFFSET..REMOTE_URL_OFFSET + url_len];
            Some(
                String::from_utf8(raw.to_vec())
                    .map_err(|_| err!(Corrupt, "store header has a remote URL that is not UTF-8"))?,
            )
        };
        let params = Params {
            capacity: get64(h, 24),
            max_objects: get64(h, 32),
            max_processes: get32(h, 40),
            page_size: get32(h, 20) as u64,
            hash_seed: get64(h, 56),
            created_unix: get64(h, 64),
            store_flags: get32(h, 72),
            spill_dir,
            remote_url,
        };
        let layout = Layout::compute(params).map_err(|e| err!(Corrupt, "store header holds impossible sizes: {e}"))?;
        if layout.mask_words as u32 != get32(h, 44)
            || layout.buckets != get64(h, 48)
            || layout.file_size != get64(h, 80)
            || layout.arena as u64 != get64(h, 88)
        {
            return Err(err!(Corrupt, "store header sizes disagree with each other"));
        }
        Ok(layout)
    }
}

fn put32(h: &mut [u8], at: usize, v: u32) {
    h[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(h: &mut [u8], at: usize, v: u64) {
    h[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get32(h: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"))
}
fn get64(h: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"))
}

/// The mutable global words (each on its own cache line of the globals
/// page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Global {
    /// Dead processes reclaimed so far.
    Reclaimed,
    /// Spills committed since the store was created.
    Spills,
    /// Restores committed since the store was created.
    Restores,
    /// The CLOCK hand for choosing spill victims.
    ClockHand,
    /// Evictable objects deleted to make room since the store was created.
    Evictions,
    /// The CLOCK hand for choosing evictable objects to delete.
    EvictionHand,
    /// Whether the store may hold evictable objects: `[puts:63 | none:1]`
    /// (see `object::evict`).
    EvictableHint,
    /// Objects uploaded to the remote tier since the store was created.
    Publishes,
    /// Bytes uploaded to the remote tier (published objects, headers included).
    PublishedBytes,
    /// Objects fetched from the remote tier since the store was created.
    Fetches,
    /// Bytes fetched from the remote tier (data and metadata).
    FetchedBytes,
    /// How many processes may be releasing spilled memory (see
    /// `releasers`).
    Releasing,
    /// Whether a free descriptor may keep the slab block of its last life
    /// (see `object::lifecycle`, "Kept blocks"): set by a freer that keeps
    /// one, cleared by a sweep that gives them back before it looks.
    KeptBlocks,
    /// The seal log (`seal_log::WORDS` words: its head and the count of
    /// wait sets wanting it on a line of their own, then its slots).
    SealLog,
}

impl Global {
    /// Byte offset of the word in the file.
    pub(crate) fn offset(self) -> usize {
        GLOBALS_OFFSET
            + match self {
                Global::Reclaimed => 0,
                Global::Spills => 192,
                Global::Restores => 200,
                Global::ClockHand => 256,
                Global::Evictions => 208,
                Global::EvictionHand => 320,
                Global::EvictableHint => 384,
                Global::Publishes => 448,
                Global::PublishedBytes => 456,
                Global::Fetches => 464,
                Global::FetchedBytes => 472,
                Global::Releasing => 512,
                Global::KeptBlocks => 576,
                Global::SealLog => 640,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            capacity: 64 << 20,
            max_objects: 1000,
            max_processes: 100,
            page_size: PAGE_SIZE,
            hash_seed: 42,
            created_unix: 1,
            store_flags: 0,
            spill_dir: Some("/tmp/spill".into()),
            remote_url: Some("s3://bucket/prefix".into()),
        }
    }

    #[test]
    fn header_round_trip() {
        let l = Layout::compute(params()).unwrap();
        let h = l.encode_header();
        assert_eq!(Layout::decode_header(&h).unwrap(), l);
        assert_eq!(l.arena as u64 % PAGE_SIZE, 0);
        assert!(l.masks + 1000 * 2 * 8 <= l.arena);
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let h = Layout::compute(params()).unwrap().encode_header();
        // Miri interprets every CRC step: a sample of the bytes there.
        for at in (0..HEADER_LEN).step_by(if cfg!(miri) { 331 } else { 7 }) {
            let mut bad = h.clone();
            bad[at] ^= 0x5a;
            let e = Layout::decode_header(&bad).unwrap_err();
            assert!(matches!(e.kind(), crate::ErrorKind::Corrupt | crate::ErrorKind::Incompatible), "byte {at}: {e}");
        }
    }

    /// Another version's header (its CRC its own), of this header's length
    /// or another, is incompatible; a version field damaged after the CRC
    /// was written is damage.
    #[test]
    fn other_version_is_incompatible_and_a_damaged_version_corrupt() {
        let h = Layout::compute(params()).unwrap().encode_header();
        for len in [HEADER_LEN, 4096, 100] {
            let mut other = h[..len].to_vec();
            other.resize(HEADER_LEN, 0);
            put32(&mut other, 8, LAYOUT_VERSION + 1);
            put32(&mut other, 16, len as u32);
            put32(&mut other, 12, 0);
            let crc = crc32fast::hash(&other[..len]);
            put32(&mut other, 12, crc);
            let e = Layout::decode_header(&other).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Incompatible, "{len}: {e}");
            assert!(e.message().contains(&format!("layout version {}", LAYOUT_VERSION + 1)), "{e}");
        }
        let mut damaged = h.clone();
        damaged[8] ^= 1;
        let e = Layout::decode_header(&damaged).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
        assert!(e.message().contains("checksum"), "{e}");
    }

    #[test]
    fn truncated_header_is_corrupt() {
        let h = Layout::compute(params()).unwrap().encode_header();
        assert_eq!(Layout::decode_header(&h[..100]).unwrap_err().kind(), crate::ErrorKind::Corrupt);
    }

    #[test]
    fn rejects_out_of_range_params() {
        let mut p = params();
        p.max_objects = 0;
        assert!(Layout::compute(p).is_err());
        let mut p = params();
        p.capacity = 1000;
        assert!(Layout::compute(p).is_err());
        let mut p = params();
        p.max_processes = MAX_PROCESSES_LIMIT + 1;
        assert!(Layout::compute(p).is_err());
    }
}
