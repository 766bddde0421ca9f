//! Fuzz target 1: attach to a store file whose header, tables and slab
//! headers hold fuzz bytes, and use every API on it.
//!
//! Input:
//! ```text
//! byte 0      template kind (Clean, Dead, Spill, SpillDead)
//! byte 1      flags: 1 = recompute the header CRC after patching (so header
//!             fields reach the size checks), 2 = truncate the file,
//!             4 = open a second handle, 8 = fewer puts
//! bytes 2..6  truncation length (mod the file length)
//! then        patches, each: op, section, operands (see `patch`)
//! ```
//! Any `Err` from the library is fine. A crash, a panic, a hang (libFuzzer
//! -timeout) or an out-of-bounds access (ASan, or a fault) is a bug.

use std::time::Duration;

use objstore::{ObjectId, Options, Store};

use crate::template::{self, Kind, Template};
use crate::{pattern, remove, touch, unique_path, Input};

const HEADER_LEN: usize = 8192;
/// Where the header keeps the spill directory's length and path.
const DIR_LEN_AT: usize = 76;
const DIR_AT: usize = 4096;

/// The most patches one input applies.
const MAX_PATCHES: usize = 64;

pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let kind = Kind::ALL[inp.u8() as usize % Kind::ALL.len()];
    let flags = inp.u8();
    let cut = inp.u32();
    let t = template::get(kind);
    let mut image = t.image.clone();
    let mut n = 0;
    while inp.remaining() >= 3 && n < MAX_PATCHES {
        patch(&mut inp, &mut image, &t.sections);
        n += 1;
    }
    if flags & 1 != 0 {
        fix_header(&mut image, &t.image);
    }
    let len = if flags & 2 != 0 { cut as u64 % image.len() as u64 } else { image.len() as u64 };
    let path = unique_path("dmg");
    template::write_image(&path, &image, len).expect("write the store file");
    if let Some(d) = &t.spill_dir {
        template::write_spill_files(d, &t.spill_files);
    }
    if let Ok(s) = Store::open(&path, &Options { attach_only: true, ..Options::default() }) {
        let second = (flags & 4 != 0).then(|| Store::open(&path, &Options { attach_only: true, ..Options::default() }));
        exercise(&s, t, flags & 8 != 0, cut);
        if let Some(Ok(s2)) = &second {
            exercise(s2, t, true, cut.rotate_left(7));
        }
        drop(second);
        drop(s);
    }
    remove(&path);
    if let Some(d) = &t.spill_dir {
        template::clear_dir(d);
    }
}

/// Recomputes the header CRC (keeping the spill directory the template's,
/// or none: the fuzzer must not point a store at an arbitrary directory,
/// where spills and sweeps would write and remove files).
fn fix_header(image: &mut [u8], original: &[u8]) {
    let dir_len = u32::from_le_bytes(image[DIR_LEN_AT..DIR_LEN_AT + 4].try_into().unwrap());
    if dir_len != 0 {
        image[DIR_LEN_AT..DIR_LEN_AT + 4].copy_from_slice(&original[DIR_LEN_AT..DIR_LEN_AT + 4]);
    }
    image[DIR_AT..HEADER_LEN].copy_from_slice(&original[DIR_AT..HEADER_LEN]);
    image[12..16].fill(0);
    let crc = crc32fast::hash(&image[..HEADER_LEN]);
    image[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// A byte offset inside a section: in the arena, within the first 4 KiB of
/// a page (where slab headers live; object bytes are not interesting).
fn offset_in(sections: &[(usize, usize)], si: usize, raw: u32) -> usize {
    let (start, len) = sections[si];
    if si + 1 == sections.len() {
        let pages = (len / (64 << 10)).max(1);
        start + ((raw >> 16) as usize % pages) * (64 << 10) + (raw as usize & 0xfff)
    } else {
        start + raw as usize % len.max(1)
    }
}

/// An 8-aligned word offset inside a section.
fn word_in(sections: &[(usize, usize)], si: usize, raw: u16) -> usize {
    let (start, len) = sections[si];
    if si + 1 == sections.len() {
        let pages = (len / (64 << 10)).max(1);
        start + ((raw >> 8) as usize % pages) * (64 << 10) + (raw as usize & 0xff) * 8
    } else {
        start + (raw as usize % (len / 8).max(1)) * 8
    }
}

fn get_word(image: &[u8], at: usize) -> u64 {
    image.get(at..at + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
}

fn set_word(image: &mut [u8], at: usize, v: u64) {
    if let Some(b) = image.get_mut(at..at + 8) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// One patch: op, section, operands.
fn patch(inp: &mut Input, image: &mut [u8], sections: &[(usize, usize)]) {
    let op = inp.u8();
    let si = inp.u8() as usize % sections.len();
    match op % 6 {
        // Bytes written over a range.
        0 => {
            let at = offset_in(sections, si, inp.u32());
            let n = (inp.u8() % 32) as usize + 1;
            let bytes = inp.bytes(n);
            let end = (at + bytes.len()).min(image.len());
            if at < end {
                image[at..end].copy_from_slice(&bytes[..end - at]);
            }
        }
        // A whole word.
        1 => {
            let at = word_in(sections, si, inp.u16());
            let v = inp.u64();
            set_word(image, at, v);
        }
        // A bit field of a word (a state, an owner, a generation, a page).
        2 => {
            let at = word_in(sections, si, inp.u16());
            let lo = (inp.u8() % 64) as u32;
            let width = (inp.u8() % 64) as u32 + 1;
            let v = inp.u64();
            let mask = if width >= 64 { !0u64 } else { (1u64 << width) - 1 }.checked_shl(lo).unwrap_or(0);
            let old = get_word(image, at);
            set_word(image, at, (old & !mask) | (v.checked_shl(lo).unwrap_or(0) & mask));
        }
        // One bit flipped.
        3 => {
            let at = offset_in(sections, si, inp.u32());
            let bit = inp.u8() % 8;
            if let Some(b) = image.get_mut(at) {
                *b ^= 1 << bit;
            }
        }
        // Words copied from elsewhere (a duplicated descriptor, index entry,
        // page entry, slab header...).
        4 => {
            let to = word_in(sections, si, inp.u16());
            let from_si = inp.u8() as usize % sections.len();
            let from = word_in(sections, from_si, inp.u16());
            let words = (inp.u8() % 8) as usize + 1;
            for i in 0..words {
                let v = get_word(image, from + 8 * i);
                set_word(image, to + 8 * i, v);
            }
        }
        // A small delta added to a word (a count, an offset, a generation).
        _ => {
            let at = word_in(sections, si, inp.u16());
            let delta = inp.u16() as i16 as i64;
            let old = get_word(image, at);
            set_word(image, at, old.wrapping_add(delta as u64));
        }
    }
}

/// Bytes to put (made once: 2 MiB of pattern is slow to make per input).
fn put_bytes() -> &'static [u8] {
    static B: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    B.get_or_init(|| pattern(77, (2 << 20) + 4096))
}

/// Every API of the store, on whatever it holds.
///
/// An allocation in a damaged spilling store may wait up to a second for
/// steps it takes to be under way (Room::Busy, src/alloc.rs), and fail
/// after that: bounded, but 30 gets of spilled objects would take 30 s.
/// So once the input has used `BUDGET`, the remaining loops stop early; a
/// single call that never returns is still a hang (libFuzzer -timeout).
fn exercise(s: &Store, t: &Template, few_puts: bool, seed: u32) {
    const BUDGET: Duration = Duration::from_secs(3);
    let start = std::time::Instant::now();
    let spent = || start.elapsed() > BUDGET;
    let zero = Some(Duration::ZERO);
    let _ = s.stats();
    let _ = s.processes();
    let _ = s.spill_dir();
    let listed = s.list().unwrap_or_default();
    let mut ids: Vec<ObjectId> = listed.iter().map(|i| i.id).take(256).collect();
    ids.extend(t.objects.iter().map(|o| o.id));
    ids.push(ObjectId([0xc7; 20]));
    // Read every object: every byte of data and metadata, and keep the pins.
    let mut pinned = vec![];
    for id in &ids {
        if spent() {
            break;
        }
        let _ = s.contains(id);
        let _ = s.pin_holders(id);
        if let Ok(obj) = s.get_raw(id, zero) {
            // SAFETY: pinned until released below; the library checked the
            // range lies in its mapping.
            unsafe {
                touch(std::slice::from_raw_parts(obj.data, obj.data_len));
                touch(std::slice::from_raw_parts(obj.meta, obj.meta_len));
            }
            pinned.push(*id);
        }
    }
    let _ = s.stats();
    // Puts of every size class range, read back; a put of a taken ID.
    let sizes: &[usize] = if few_puts { &[100, 70_000] } else { &[0, 100, 5000, 70_000, 300_000, 2 << 20] };
    let mut mine = vec![];
    for (i, &len) in sizes.iter().enumerate() {
        if spent() {
            break;
        }
        let at = (seed as usize).wrapping_add(i * 4099) % 4096;
        let data = &put_bytes()[at..at + len];
        if let Ok(id) = s.put_with_meta(data, b"fuzz") {
            if let Ok(obj) = s.get(&id, zero) {
                touch(obj.data());
                touch(obj.meta());
            }
            mine.push(id);
        }
    }
    if let Some(id) = ids.first() {
        let _ = s.put_as(id, b"taken?", b"");
    }
    // Create + seal, create + abort, seal of an unknown ID.
    let cid = ObjectId([0x5e; 20]);
    if let Ok(mut c) = s.create(&cid, 3000, b"m") {
        c.data_mut().fill(7);
        let _ = c.seal();
    }
    if let Ok(mut c) = s.create(&ObjectId([0x5f; 20]), 100, b"") {
        c.data_mut()[0] = 1;
        let _ = c.abort();
    }
    let _ = s.seal(&ObjectId([0x60; 20]));
    let _ = s.abort(&ObjectId([0x60; 20]));
    // get_many over everything known (with repeats), then release.
    let mut many: Vec<ObjectId> = ids.iter().chain(&mine).copied().take(if spent() { 4 } else { 64 }).collect();
    many.push(cid);
    if let Some(&first) = many.first() {
        many.push(first);
    }
    let mut out = vec![None; many.len()];
    let _ = s.get_many_raw(&many, zero, &mut out);
    for (id, o) in many.iter().zip(&out) {
        if let Some(obj) = o {
            // SAFETY: pinned by get_many until released just after.
            unsafe { touch(std::slice::from_raw_parts(obj.data, obj.data_len)) };
            let _ = s.release(id);
        }
    }
    // Deletes (of pinned objects too), then releases, a release too many.
    for id in ids.iter().step_by(2).chain(&mine) {
        let _ = s.delete(id);
    }
    for id in &pinned {
        let _ = s.release(id);
    }
    if let Some(id) = pinned.first() {
        let _ = s.release(id);
    }
    // A listing in small steps.
    let mut cursor = Some(0);
    let mut steps = 0;
    while let Some(c) = cursor {
        match s.list_from(c, 3) {
            Ok((_, next)) => cursor = next,
            Err(_) => break,
        }
        steps += 1;
        assert!(steps < 1_000_000, "list_from never ends");
    }
    let _ = s.collect();
    let _ = s.audit();
    let _ = s.stats();
    // The remaining objects once more, after the collect.
    for id in ids.iter().skip(1).step_by(2) {
        if spent() {
            break;
        }
        if let Ok(obj) = s.get(id, zero) {
            touch(obj.data());
        }
    }
}
