//! Spilling: when memory runs short, unpinned sealed objects go to files in
//! the store's spill directory and come back on the next get.
//!
//! The descriptor protocol (who may do which step, and how a reader, a
//! deleter and a restorer agree) lives in `objects`; this module does the
//! files and the choice of victims.
//!
//! Files. Each spill writes `ID.DESC.GEN.TAG.spill`, where TAG names the
//! spill attempt (the spiller's slot and a counter, kept in the descriptor's
//! INFO word while it spills): written under `NAME.tmp` and renamed into
//! place, so a reader never sees half a file. The file starts with a 64-byte
//! header (magic, format version, ID, sizes, descriptor, generation, CRC32
//! over the header and the bytes); a restore checks all of it and gives
//! OS_CORRUPT on any mismatch, never wrong bytes. The file is removed when
//! the spilled descriptor is freed: after a restore installed its copy, or on
//! delete. Files of a spiller that died are removed when it is reclaimed;
//! `collect` also sweeps the directory for files no descriptor owns.
//!
//! Victims. For a block of a size class, an object of the same class in a
//! slab this process may allocate from; otherwise the cheapest window of
//! contiguous pages whose occupants are all spillable (free pages, runs of
//! unpinned sealed objects, unowned slabs of them), so that a large object
//! finds contiguous room. Recently read objects (their CLOCK bit set) cost
//! more, and a pass over them clears the bit (a second chance).

use std::fs::{File, OpenOptions};
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::alloc::{footprint, Freer};
use crate::attach::Attachment;
use crate::descriptor::{aux, st, w, Location, Snapshot, StateWord, SUCCESSOR_GEN_MASK};
use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::layout::globals;
use crate::objects::SpillAttempt;
use crate::pages::PageEntry;
use crate::slab::class_for;

/// Suffix of a complete spill file.
pub(crate) const SPILL_SUFFIX: &str = ".spill";
/// Suffix of a spill file being written.
pub(crate) const TMP_SUFFIX: &str = ".spill.tmp";

const MAGIC: [u8; 8] = *b"OBJSPILL";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 64;
/// Offset of the CRC in the header; the CRC covers the header up to it.
const CRC_AT: usize = 56;
/// Bytes of small objects spilled together when a size class runs out.
const SPILL_BATCH_BYTES: u64 = 1 << 20;
/// Bytes copied per write or CRC step when spilling.
const CHUNK: usize = 1 << 20;

/// What a spill file says about itself.
struct Header {
    key: [u8; 20],
    meta_len: u32,
    data_len: u64,
    desc: u32,
    gen: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..36].copy_from_slice(&self.key);
        h[36..40].copy_from_slice(&self.meta_len.to_le_bytes());
        h[40..48].copy_from_slice(&self.data_len.to_le_bytes());
        h[48..52].copy_from_slice(&self.desc.to_le_bytes());
        h[52..56].copy_from_slice(&self.gen.to_le_bytes());
        h
    }
}

/// Removes every spill file (complete or partial) from a store's spill
/// directory. Best effort: used by destroy.
pub(crate) fn remove_store_files(dir: &str, _store_path: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(SPILL_SUFFIX) || name.ends_with(TMP_SUFFIX) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The spill attempt a file's name records.
fn parse_name(name: &str) -> Option<SpillAttempt> {
    let (stem, temp) = if let Some(s) = name.strip_suffix(TMP_SUFFIX) {
        (s, true)
    } else {
        (name.strip_suffix(SPILL_SUFFIX)?, false)
    };
    let mut parts = stem.split('.');
    let hex = parts.next()?;
    ObjectId::from_hex(hex).ok()?;
    let d = parts.next()?.parse().ok()?;
    let gen = parts.next()?.parse().ok()?;
    let tag = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(SpillAttempt { d, gen, tag, temp })
}

/// A spill file error: OUT_OF_MEMORY when the disk is full, IO_ERROR for
/// anything else (an unwritable or missing directory included).
fn io_error(what: String, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        err!(OutOfMemory, "{what}: the spill directory's file system is full ({e})")
    } else {
        err!(Io, "{what}: {e}")
    }
}

impl Attachment {
    /// The spill file of descriptor `d`, generation `gen`, spill attempt `tag`.
    pub(crate) fn spill_path(&self, key: &[u64; 3], d: u32, gen: u64, tag: u32, temp: bool) -> Option<PathBuf> {
        let dir = self.spill_dir.as_ref()?;
        let suffix = if temp { TMP_SUFFIX } else { SPILL_SUFFIX };
        Some(PathBuf::from(format!("{dir}/{}.{d}.{gen}.{tag}{suffix}", ObjectId::from_words(*key).to_hex())))
    }

    /// A new spill attempt tag for this process: its slot and a counter.
    fn next_spill_tag(&self) -> u32 {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        ((self.slot + 1) << 20) | (COUNTER.fetch_add(1, Ordering::Relaxed) as u32 & 0xf_ffff)
    }

    /// A freer for steps this process did not start: slabs are protected
    /// with a hazard (held for the call, so only this thread uses it).
    fn with_careful_freer<R>(&self, f: impl FnOnce(&Freer<'_>) -> R) -> R {
        let _g = self.general_hazard.lock().unwrap_or_else(|p| p.into_inner());
        let freer = Freer { att: self, hazard: Some(self.procs().hazard(self.slot, 0)) };
        f(&freer)
    }

    // ----- spilling one object ---------------------------------------------------

    /// Spills the sealed object `d` seen in `snap`. Ok(false): it was pinned
    /// or changed, or a reader cancelled the spill.
    pub(crate) fn spill_one(&self, d: u32, snap: &Snapshot) -> Result<bool> {
        let o = self.objects();
        if self.spill_dir.is_none() || snap.state.state() != st::SEALED {
            return Ok(false);
        }
        let Some(spilling) = o.begin_spill(d, snap.state, self.slot) else { return Ok(false) };
        // Pin it while we read its bytes: a reader may cancel the spill and
        // a delete may follow at once, and the bytes must stay until we are
        // done with them. (begin_spill saw no pins; ours is the only one.)
        let local = self.local_pins();
        if !local.pin(d, &o.masks, self.slot) {
            o.cancel_spill(d, spilling);
            return Ok(false);
        }
        let result = self.spill_pinned(d, snap, spilling);
        o.unpin(&local, self.slot, d, &self.freer());
        result
    }

    /// The body of `spill_one`, with `d` SPILLING and pinned by us.
    fn spill_pinned(&self, d: u32, snap: &Snapshot, spilling: StateWord) -> Result<bool> {
        let o = self.objects();
        let total = footprint(snap.data_len, snap.meta_len as u64);
        let Some(offset) = total.and_then(|t| self.payload_offset(snap.loc, t)) else {
            o.cancel_spill(d, spilling);
            return Err(err!(Corrupt, "object in slot {d} has an out-of-bounds location (damaged store)"));
        };
        let tag = self.next_spill_tag();
        let gen = snap.state.gen();
        // Record the attempt before the file exists, so that whoever frees
        // or reclaims the descriptor knows which file to remove.
        o.record_spill_attempt(d, tag);
        let tmp = self.spill_path(&snap.key, d, gen, tag, true).expect("spill dir set");
        let path = self.spill_path(&snap.key, d, gen, tag, false).expect("spill dir set");
        let header = Header {
            key: ObjectId::from_words(snap.key).0,
            meta_len: snap.meta_len,
            data_len: snap.data_len,
            desc: d,
            gen: gen as u32,
        };
        let base = self.layout.arena + offset as usize;
        let written = self.write_spill_file(&tmp, &header, base).and_then(|()| {
            std::fs::rename(&tmp, &path).map_err(|e| io_error(format!("cannot rename spill file {}", tmp.display()), e))
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            // A reader that cancelled the spill meanwhile makes the failure
            // moot: the object stays in memory, as it would have anyway.
            if !o.cancel_spill(d, spilling) {
                return Ok(false);
            }
            return Err(e);
        }
        if !o.commit_spill(d, spilling) {
            // A reader wanted it back first: keep it in memory.
            let _ = std::fs::remove_file(&path);
            return Ok(false);
        }
        self.bump_spill_counter(0);
        let spilled = spilling.to(st::SPILLED, crate::descriptor::NO_OWNER);
        self.with_careful_freer(|f| o.release_spilled_memory(d, spilled, snap.loc, f));
        Ok(true)
    }

    fn bump_spill_counter(&self, which: usize) {
        self.global(globals::SPILL_EVENTS + 8 * which).fetch_add(1, Ordering::Relaxed);
    }

    /// Writes header, data and metadata (read from the mapping at `base`).
    fn write_spill_file(&self, tmp: &PathBuf, header: &Header, base: usize) -> Result<()> {
        let what = || format!("cannot write spill file {}", tmp.display());
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(tmp)
            .map_err(|e| io_error(what(), e))?;
        let head = header.encode();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[..CRC_AT]);
        let data_len = header.data_len as usize;
        let meta_at = header.data_len.next_multiple_of(64) as usize;
        let mut at = HEADER_LEN as u64;
        for (start, len) in [(base, data_len), (base + meta_at, header.meta_len as usize)] {
            let mut done = 0;
            while done < len {
                let n = CHUNK.min(len - done);
                // SAFETY: sealed bytes, which nobody writes, pinned by us so
                // that no delete frees them while we read.
                let chunk = unsafe { self.map.bytes(start + done, n) }
                    .ok_or_else(|| err!(Corrupt, "object bytes out of bounds"))?;
                crc.update(chunk);
                file.write_all_at(chunk, at).map_err(|e| io_error(what(), e))?;
                at += n as u64;
                done += n;
            }
        }
        let mut head = head;
        head[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.finalize().to_le_bytes());
        file.write_all_at(&head, 0).map_err(|e| io_error(what(), e))?;
        Ok(())
    }

    /// Reads and checks the spill file of `snap` into the mapping at `base`
    /// (a block this process owns and has not published).
    fn read_spill_file(&self, d: u32, snap: &Snapshot, base: usize) -> Result<()> {
        let tag = (snap.info >> 32) as u32;
        let path = self.spill_path(&snap.key, d, snap.state.gen(), tag, false).ok_or_else(|| err!(Corrupt, "spilled object but the store has no spill directory"))?;
        let shown = path.display();
        let file = File::open(&path).map_err(|e| {
            if e.kind() == IoKind::NotFound {
                err!(Corrupt, "spill file {shown} of object {} is missing", ObjectId::from_words(snap.key))
            } else {
                Error::os(format!("cannot open spill file {shown}"), e)
            }
        })?;
        let len = file.metadata().map_err(|e| Error::os(format!("cannot stat {shown}"), e))?.len();
        let want_len = HEADER_LEN as u64 + snap.data_len + snap.meta_len as u64;
        if len != want_len {
            return Err(err!(Corrupt, "spill file {shown} is {len} bytes, expected {want_len}"));
        }
        let mut head = [0u8; HEADER_LEN];
        file.read_exact_at(&mut head, 0).map_err(|e| Error::os(format!("cannot read {shown}"), e))?;
        let expect = Header {
            key: ObjectId::from_words(snap.key).0,
            meta_len: snap.meta_len,
            data_len: snap.data_len,
            desc: d,
            gen: snap.state.gen() as u32,
        }
        .encode();
        if head[..CRC_AT] != expect[..CRC_AT] {
            return Err(err!(Corrupt, "spill file {shown} has a damaged header (or belongs to another object)"));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[..CRC_AT]);
        let meta_at = snap.data_len.next_multiple_of(64) as usize;
        let mut at = HEADER_LEN as u64;
        for (start, len) in [(base, snap.data_len as usize), (base + meta_at, snap.meta_len as usize)] {
            // In chunks, so each is checked while still in cache.
            let mut done = 0;
            while done < len {
                let n = CHUNK.min(len - done);
                // SAFETY: the block is ours alone: allocated for an
                // unpublished descriptor this process holds RESERVED.
                let dst = unsafe { self.map.bytes_mut(start + done, n) }
                    .ok_or_else(|| err!(Corrupt, "restore target out of bounds"))?;
                file.read_exact_at(dst, at).map_err(|e| Error::os(format!("cannot read {shown}"), e))?;
                crc.update(dst);
                at += n as u64;
                done += n;
            }
        }
        let stored = u32::from_le_bytes(head[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
        if crc.finalize() != stored {
            return Err(err!(
                Corrupt,
                "spill file {shown} of object {} fails its CRC32 check",
                ObjectId::from_words(snap.key)
            ));
        }
        Ok(())
    }

    // ----- restoring, helping, deleting spilled objects ----------------------------

    /// Handles a SPILLED object found by a lookup: restores it, or finishes
    /// whatever restore or delete of it is under way.
    pub(crate) fn handle_spilled(&self, d: u32, snap: &Snapshot) -> Result<Spilled> {
        let o = self.objects();
        match Location::decode(snap.loc) {
            Some(Location::OnDisk { gen }) if Location::on_disk(snap.state) == (Location::OnDisk { gen }) => {
                Ok(match self.restore(d, snap)? {
                    Some((t, copy)) => Spilled::Restored { d: t, snap: copy },
                    None => Spilled::LookAgain,
                })
            }
            Some(Location::Successor { d: t, gen }) => {
                self.with_careful_freer(|f| o.install_successor(d, snap.state, &snap.key, t, gen, self.slot, f));
                Ok(Spilled::LookAgain)
            }
            Some(Location::Tombstone) => {
                self.with_careful_freer(|f| o.finish_tombstone(d, snap.state, self.slot, f));
                Ok(Spilled::Deleted)
            }
            Some(loc) if loc.holds_memory() => {
                self.with_careful_freer(|f| o.release_spilled_memory(d, snap.state, snap.loc, f));
                Ok(Spilled::LookAgain)
            }
            _ if o.desc.load_state(d, Ordering::SeqCst) != snap.state => Ok(Spilled::LookAgain),
            _ => Err(err!(Corrupt, "spilled object in slot {d} has an invalid location word (damaged store)")),
        }
    }

    /// Handles a SHADOW copy found through the index: finishes installing it.
    pub(crate) fn handle_shadow(&self, t: u32, snap: &Snapshot) {
        let o = self.objects();
        if let Some((d, spilled)) = o.chosen_predecessor(t, snap.state) {
            let gen = snap.state.gen() as u32 & crate::descriptor::SUCCESSOR_GEN_MASK;
            self.with_careful_freer(|f| o.install_successor(d, spilled, &snap.key, t, gen, self.slot, f));
        }
    }

    /// Restores the SPILLED object `d`: a complete, checked copy in a fresh
    /// descriptor, then the commit race (see `objects`). Some((copy, its
    /// snapshot)) when this copy won: it is then pinned by this process
    /// (pinned before it became visible, so nothing can spill it before the
    /// caller has it). None when another restore or a delete won (look the
    /// ID up again).
    fn restore(&self, d: u32, snap: &Snapshot) -> Result<Option<(u32, Snapshot)>> {
        let o = self.objects();
        let total = footprint(snap.data_len, snap.meta_len as u64)
            .ok_or_else(|| err!(Corrupt, "object in slot {d} has impossible sizes"))?;
        let (t, reserved) = self.claim_descriptor()?;
        o.desc.write_fields(t, &snap.key, snap.meta_len, snap.data_len, snap.info as u32);
        // The copy names its original, and starts referenced: the CLOCK
        // gives an object just read back a second chance before spilling it.
        o.desc.word(t, w::AUX).store(((d as u64) + 1) << aux::PRED_SHIFT | aux::REFERENCED, Ordering::Relaxed);
        let freer = self.freer();
        let offset = match self.allocate(t, total) {
            Ok(off) => self.layout.arena + off as usize,
            Err(e) => {
                o.discard(t, reserved, self.slot, &freer);
                return if o.still_on_disk(d, snap.state) { Err(e) } else { Ok(None) };
            }
        };
        if let Err(e) = self.read_spill_file(d, snap, offset) {
            o.discard(t, reserved, self.slot, &freer);
            // A file that another process's restore (or a delete) removed
            // is not damage: the object is in memory now, or gone.
            return if o.still_on_disk(d, snap.state) { Err(e) } else { Ok(None) };
        }
        let local = self.local_pins();
        let pinned = local.pin(t, &o.masks, self.slot);
        let shadow = reserved.to(st::SHADOW, self.slot);
        if !o.desc.transition(t, reserved, shadow) {
            return Err(err!(Corrupt, "a descriptor this process holds changed under it"));
        }
        match o.claim_successor(d, snap.state, t, shadow) {
            Ok(()) => {
                self.bump_spill_counter(1);
                self.with_careful_freer(|f| {
                    o.install_successor(d, snap.state, &snap.key, t, shadow.gen() as u32 & SUCCESSOR_GEN_MASK, self.slot, f)
                });
                if pinned {
                    if let Some(copy) = o.desc.snapshot(t).filter(|c| c.state.gen() == shadow.gen()) {
                        return Ok(Some((t, copy)));
                    }
                    o.unpin(&local, self.slot, t, &freer);
                }
                Ok(None)
            }
            // Another restore or a delete won: ours is not needed.
            Err(_) => {
                if pinned {
                    o.unpin(&local, self.slot, t, &freer);
                }
                o.discard(t, shadow, self.slot, &freer);
                Ok(None)
            }
        }
    }

    /// Deletes the SPILLED object `d`. Ok(true): deleted by this call;
    /// Ok(false): look again (it was being restored, or memory to release).
    /// Err(NotFound): someone else deleted it.
    pub(crate) fn delete_spilled(&self, d: u32, snap: &Snapshot) -> Result<bool> {
        let o = self.objects();
        if Location::decode(snap.loc) == Some(Location::on_disk(snap.state)) {
            if o.claim_tombstone(d, snap.state).is_ok() {
                self.with_careful_freer(|f| o.finish_tombstone(d, snap.state, self.slot, f));
                return Ok(true);
            }
            return Ok(false);
        }
        match self.handle_spilled(d, snap)? {
            Spilled::Deleted => Err(err!(NotFound, "object {} is already deleted", ObjectId::from_words(snap.key))),
            _ => Ok(false),
        }
    }

    // ----- reclaim ----------------------------------------------------------------

    /// Undoes the spill step of a dead slot (SPILLING: back to SEALED, its
    /// files removed) or finishes its restore (SHADOW: install the copy if
    /// it was chosen, else discard it).
    pub(crate) fn undo_spill_step(&self, d: u32, s: StateWord, dead: u32, mem: &Freer<'_>) {
        let o = self.objects();
        match s.state() {
            st::SPILLING => {
                if let Some(snap) = o.desc.snapshot(d) {
                    let tag = (snap.info >> 32) as u32;
                    for temp in [true, false] {
                        if let Some(p) = self.spill_path(&snap.key, d, s.gen(), tag, temp) {
                            let _ = std::fs::remove_file(p);
                        }
                    }
                }
                o.cancel_spill(d, s);
            }
            st::SHADOW => match o.chosen_predecessor(d, s) {
                Some((pred, spilled)) => {
                    if let Some(snap) = o.desc.snapshot(d) {
                        let gen = s.gen() as u32 & crate::descriptor::SUCCESSOR_GEN_MASK;
                        o.install_successor(pred, spilled, &snap.key, d, gen, dead, mem);
                    }
                }
                None => {
                    o.discard(d, s, dead, mem);
                }
            },
            _ => {}
        }
    }

    /// Finishes what interrupted restores and deletes of spilled objects
    /// left, and removes spill files no descriptor owns (part of collect).
    pub(crate) fn sweep_spills(&self) {
        let o = self.objects();
        for d in 0..o.desc.count() as u32 {
            let Some(snap) = o.desc.snapshot(d) else { continue };
            if snap.state.state() == st::SPILLED && Location::decode(snap.loc) != Some(Location::on_disk(snap.state)) {
                let _ = self.handle_spilled(d, &snap);
            }
        }
        let Some(dir) = self.spill_dir.clone() else { return };
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(f) = name.to_str().and_then(parse_name) else { continue };
            if !o.owns_spill_file(&f) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    // ----- choosing victims ---------------------------------------------------------

    /// Spills objects so that an allocation of `total` bytes can succeed.
    pub(crate) fn make_room(&self, total: u64) -> Result<Room> {
        if self.spill_dir.is_none() {
            return Ok(Room::Exhausted);
        }
        let class = self.slab_class(total);
        // A slab of the class with a free block nobody hinted costs nothing.
        if let Some(class) = class {
            let adopted = {
                let mut cache = self.caches[class].lock().unwrap_or_else(|p| p.into_inner());
                self.slabs().adopt_by_scan(&mut cache, class, self.procs().hazard(self.slot, 1 + class))
            };
            if adopted {
                return Ok(Room::Progress);
            }
        }
        let pages = match class {
            Some(class) => self.classes[class].span,
            None => total.div_ceil(self.layout.params.page_size),
        };
        let choice = self.cheapest_window(pages);
        // Free pages and empty slabs cost nothing: take them first.
        if let Window::Found(w) = &choice {
            if w.victims.is_empty() {
                return self.empty_window(w);
            }
        }
        if let Some(class) = class {
            // Spill a batch, so the next allocations of this class find room
            // without scanning again.
            let batch = SPILL_BATCH_BYTES.div_ceil(self.classes[class].size).clamp(1, 64);
            if self.spill_same_class(class, batch)? {
                return Ok(Room::Progress);
            }
        }
        match choice {
            Window::Found(w) => self.empty_window(&w),
            Window::Busy => Ok(Room::Busy),
            Window::Blocked => Ok(Room::Exhausted),
        }
    }

    /// What an object occupying arena memory means for making room.
    fn occupant(&self, d: u32, s: &Snapshot) -> Occupant {
        let pinned = self.objects().masks.any(d);
        match s.state.state() {
            st::SEALED if pinned => Occupant::Stays,
            st::SEALED if Location::decode(s.loc).is_some_and(Location::holds_memory) => Occupant::Spillable,
            // Unsealed objects stay until their creator seals them (a
            // create may take as long as the caller likes); objects deleted
            // while pinned stay until released.
            st::CREATED => Occupant::Stays,
            st::DELETED if pinned => Occupant::Stays,
            // Every other state is a step under way (a put, a spill, a
            // restore, a free): the memory is about to be settled.
            _ => Occupant::InFlux,
        }
    }

    /// CLOCK over the descriptors: spills up to `batch` objects of `class`
    /// whose slab this process can allocate from (unowned, or its own).
    fn spill_same_class(&self, class: usize, batch: u64) -> Result<bool> {
        let mut spilled = 0;
        let o = self.objects();
        let n = o.desc.count() as u64;
        let hand = self.global(globals::CLOCK_HAND);
        let slabs = self.slabs();
        for _ in 0..2 {
            let mut scanned = 0;
            while scanned < n {
                let start = hand.fetch_add(64, Ordering::Relaxed) % n;
                for d in start..(start + 64).min(n) {
                    let d = d as u32;
                    let Some(s) = o.desc.snapshot(d) else { continue };
                    if self.occupant(d, &s) != Occupant::Spillable {
                        continue;
                    }
                    let Some(Location::Block { page, .. }) = Location::decode(s.loc) else { continue };
                    if footprint(s.data_len, s.meta_len as u64).and_then(class_for) != Some(class) {
                        continue;
                    }
                    let a = o.desc.word(d, w::AUX);
                    if a.load(Ordering::Relaxed) & aux::REFERENCED != 0 {
                        a.fetch_and(!aux::REFERENCED, Ordering::Relaxed);
                        continue;
                    }
                    let owner = {
                        let _g = self.general_hazard.lock().unwrap_or_else(|p| p.into_inner());
                        slabs.owner_of(page, self.procs().hazard(self.slot, 0))
                    };
                    if owner != Some(0) && owner != Some(self.slot as u64 + 1) {
                        continue;
                    }
                    if self.spill_one(d, &s)? {
                        spilled += 1;
                        if spilled >= batch {
                            return Ok(true);
                        }
                    }
                }
                scanned += 64;
            }
            if spilled > 0 {
                return Ok(true);
            }
        }
        Ok(spilled > 0)
    }

    /// Empties the window: spills its objects, retires its slabs (taking
    /// them from their owners), then claims its pages for this process.
    fn empty_window(&self, w: &WindowChoice) -> Result<Room> {
        let o = self.objects();
        let mut progress = false;
        for &d in &w.victims {
            if let Some(s) = o.desc.snapshot(d) {
                if self.occupant(d, &s) == Occupant::Spillable {
                    progress |= self.spill_one(d, &s)?;
                }
            }
        }
        {
            let _g = self.general_hazard.lock().unwrap_or_else(|p| p.into_inner());
            let slabs = self.slabs();
            let hazard = self.procs().hazard(self.slot, 0);
            for &head in &w.slabs {
                if let PageEntry::SlabHead { class, .. } = self.pages().load(head) {
                    progress |= slabs.retire_if_empty(head, class as usize, hazard, true);
                }
            }
        }
        if self.pages().claim_exact(w.start, w.count, self.slot) {
            return Ok(Room::Claimed { start: w.start, count: w.count });
        }
        // Another process took part of the window first, or an object in it
        // was moving: look again.
        Ok(if progress { Room::Progress } else { Room::Busy })
    }

    /// The cheapest window of `count` contiguous pages that can be emptied
    /// (free pages cost nothing; objects their bytes, four times that if
    /// read since the last look; slabs their objects), or why there is none.
    /// Clears the CLOCK bits it reads: each pass is a turn of the clock.
    fn cheapest_window(&self, count: u64) -> Window {
        let o = self.objects();
        let pages = self.pages();
        let slabs = self.slabs();
        let ps = self.layout.params.page_size;
        let cost_of = |d: u32, s: &Snapshot| -> u64 {
            let bytes = footprint(s.data_len, s.meta_len as u64).unwrap_or(u64::MAX / 4);
            let a = o.desc.word(d, w::AUX);
            if a.load(Ordering::Relaxed) & aux::REFERENCED != 0 {
                a.fetch_and(!aux::REFERENCED, Ordering::Relaxed);
                bytes.saturating_mul(4)
            } else {
                bytes
            }
        };
        let occupant_of = |d: u32| -> Option<(Occupant, Snapshot)> {
            let s = ((d as usize) < o.desc.count()).then(|| o.desc.snapshot(d)).flatten()?;
            Some((self.occupant(d, &s), s))
        };
        // The arena as a sequence of units (a free page, an object's run, a
        // slab), each with what emptying it would take.
        let mut units: Vec<Unit> = Vec::new();
        let mut p = 0;
        while p < pages.count() {
            let (len, kind) = match pages.load(p) {
                PageEntry::Free => (1, UnitKind::Movable { cost: 0, objects: vec![], slab: None }),
                PageEntry::Run { d } => match occupant_of(d) {
                    Some((occupant, s)) if Location::decode(s.loc) == Some(Location::Run { page: p }) => {
                        let len = footprint(s.data_len, s.meta_len as u64).map_or(1, |t| t.div_ceil(ps).max(1));
                        let kind = match occupant {
                            Occupant::Spillable => UnitKind::Movable { cost: cost_of(d, &s), objects: vec![d], slab: None },
                            Occupant::InFlux => UnitKind::InFlux,
                            Occupant::Stays => UnitKind::Stays,
                        };
                        (len, kind)
                    }
                    // Changing as we look, or a run whose object moved on.
                    _ => (1, UnitKind::InFlux),
                },
                PageEntry::SlabHead { span, .. } => {
                    let held = {
                        let _g = self.general_hazard.lock().unwrap_or_else(|p| p.into_inner());
                        slabs.slab_blocks(p, self.procs().hazard(self.slot, 0))
                    };
                    let kind = match held {
                        None => UnitKind::InFlux,
                        Some((owner, held)) => {
                            // Taking a slab from a process that allocates
                            // from it costs that process a new slab later.
                            let mut cost = if owner == 0 { 0 } else { ps };
                            let mut objects = vec![];
                            let mut kind = None;
                            for d in held {
                                match occupant_of(d) {
                                    Some((Occupant::Spillable, s)) => {
                                        cost = cost.saturating_add(cost_of(d, &s));
                                        objects.push(d);
                                    }
                                    Some((Occupant::Stays, _)) => {
                                        kind = Some(UnitKind::Stays);
                                        break;
                                    }
                                    _ => kind = Some(UnitKind::InFlux),
                                }
                            }
                            kind.unwrap_or(UnitKind::Movable { cost, objects, slab: Some(p) })
                        }
                    };
                    (span as u64, kind)
                }
                PageEntry::Claimed { .. } | PageEntry::SlabTail { .. } | PageEntry::SlabRetiring { .. } => (1, UnitKind::InFlux),
                PageEntry::Invalid => (1, UnitKind::Stays),
            };
            let len = len.max(1).min(pages.count() - p);
            units.push(Unit { start: p, pages: len, kind });
            p += len;
        }
        if let Some(w) = best_window(&units, count, false) {
            return Window::Found(w);
        }
        if best_window(&units, count, true).is_some() {
            Window::Busy
        } else {
            Window::Blocked
        }
    }
}

/// What became of a SPILLED object a lookup found.
#[derive(Debug)]
pub(crate) enum Spilled {
    /// It moved (restored by someone, or its memory released): look again.
    LookAgain,
    /// A delete of it won.
    Deleted,
    /// This process restored it into descriptor `d` and pins it there.
    Restored { d: u32, snap: Snapshot },
}

/// What making room achieved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Room {
    /// A run of pages now CLAIMED by this process: the allocation takes it.
    Claimed { start: u64, count: u64 },
    /// Room was made somewhere; allocate again.
    Progress,
    /// Room can be made once steps of other processes settle (a put, a
    /// spill or a restore under way): wait a little and try again.
    Busy,
    /// Nothing more can move: what is left is pinned or unsealed.
    Exhausted,
}

/// An object that occupies arena memory, for making room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Occupant {
    Spillable,
    /// In the middle of a step of some process.
    InFlux,
    /// Pinned, unsealed, or damaged: stays where it is.
    Stays,
}

enum UnitKind {
    Movable { cost: u64, objects: Vec<u32>, slab: Option<u64> },
    InFlux,
    Stays,
}

struct Unit {
    start: u64,
    pages: u64,
    kind: UnitKind,
}

/// A window to empty.
pub(crate) struct WindowChoice {
    start: u64,
    count: u64,
    victims: Vec<u32>,
    slabs: Vec<u64>,
}

enum Window {
    Found(WindowChoice),
    /// Every window needs something that is in the middle of a step.
    Busy,
    /// Every window holds something that stays.
    Blocked,
}

/// The cheapest run of units covering `count` pages in which every unit is
/// movable (with `through_flux`, in which none stays), cut to `count` pages.
fn best_window(units: &[Unit], count: u64, through_flux: bool) -> Option<WindowChoice> {
    let usable = |u: &Unit| match u.kind {
        UnitKind::Movable { cost, .. } => Some(cost),
        UnitKind::InFlux if through_flux => Some(0),
        _ => None,
    };
    let mut best: Option<(u64, usize, usize)> = None;
    let (mut first, mut pages, mut cost) = (0usize, 0u64, 0u64);
    for (i, u) in units.iter().enumerate() {
        let Some(c) = usable(u) else {
            first = i + 1;
            pages = 0;
            cost = 0;
            continue;
        };
        pages += u.pages;
        cost = cost.saturating_add(c);
        // Drop leading units the window does not need.
        while pages - units[first].pages >= count {
            pages -= units[first].pages;
            cost -= usable(&units[first]).unwrap_or(0);
            first += 1;
        }
        if pages >= count && best.is_none_or(|(c, _, _)| cost < c) {
            best = Some((cost, first, i));
        }
    }
    let (_, a, b) = best?;
    let mut choice = WindowChoice { start: units[a].start, count, victims: vec![], slabs: vec![] };
    for u in &units[a..=b] {
        if let UnitKind::Movable { objects, slab, .. } = &u.kind {
            choice.victims.extend_from_slice(objects);
            choice.slabs.extend(slab);
        }
    }
    Some(choice)
}
