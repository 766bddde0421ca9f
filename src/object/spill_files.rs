//! Spill files: the on-disk form of a spilled object, and their names.
//!
//! Each spill attempt writes `ID.DESC.GEN.TAG.spill` in the store's spill
//! directory, where TAG names the attempt (the spiller's slot and a
//! counter, recorded in the descriptor while it spills): written under
//! `NAME.tmp` and renamed into place, so a reader never sees half a file.
//! The file starts with a 64-byte header (magic, format version, ID, sizes,
//! descriptor, generation, CRC32 over the header and the bytes); a read
//! checks all of it and gives OS_CORRUPT on any mismatch, never wrong bytes.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::lifecycle::SpillAttempt;
use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::shared::layout::Layout;

/// Suffix of a complete spill file.
const SPILL_SUFFIX: &str = ".spill";
/// Suffix of a spill file being written.
const TMP_SUFFIX: &str = ".spill.tmp";

const MAGIC: [u8; 8] = *b"OBJSPILL";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 64;
/// Offset of the CRC in the header; the CRC covers the header up to it.
const CRC_AT: usize = 56;
/// Bytes written, read or checksummed per step (checked while in cache).
pub(crate) const CHUNK: usize = 1 << 20;

/// What a spill file says about the object in it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub key: [u64; 3],
    pub meta_len: u32,
    pub data_len: u64,
    pub desc: u32,
    pub gen: u64,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..36].copy_from_slice(&ObjectId::from_words(self.key).0);
        h[36..40].copy_from_slice(&self.meta_len.to_le_bytes());
        h[40..48].copy_from_slice(&self.data_len.to_le_bytes());
        h[48..52].copy_from_slice(&self.desc.to_le_bytes());
        h[52..56].copy_from_slice(&(self.gen as u32).to_le_bytes());
        h
    }

    /// Bytes of the whole file.
    fn file_len(&self) -> u64 {
        HEADER_LEN as u64 + self.data_len + self.meta_len as u64
    }
}

/// The file of spill attempt `tag` of descriptor `d`, generation `gen`,
/// holding `key`, in spill directory `dir`.
pub(crate) fn path(dir: &Path, key: &[u64; 3], d: u32, gen: u64, tag: u32, temp: bool) -> PathBuf {
    let suffix = if temp { TMP_SUFFIX } else { SPILL_SUFFIX };
    dir.join(format!("{}.{d}.{gen}.{tag}{suffix}", ObjectId::from_words(*key).to_hex()))
}

/// Removes the complete file of a spill attempt, if the store spills and
/// the file exists.
pub(crate) fn remove(layout: &Layout, key: &[u64; 3], d: u32, gen: u64, tag: u32) {
    if let Some(dir) = &layout.params.spill_dir {
        let _ = std::fs::remove_file(path(dir, key, d, gen, tag, false));
    }
}

/// Removes both files (temporary and complete) of a spill attempt.
pub(crate) fn remove_attempt(layout: &Layout, key: &[u64; 3], d: u32, gen: u64, tag: u32) {
    if let Some(dir) = &layout.params.spill_dir {
        for temp in [true, false] {
            let _ = std::fs::remove_file(path(dir, key, d, gen, tag, temp));
        }
    }
}

/// Removes every spill file (complete or partial) from a spill directory.
/// Best effort: used when the store is destroyed.
pub(crate) fn remove_all(dir: &Path) {
    for (p, _) in list(dir) {
        let _ = std::fs::remove_file(p);
    }
}

/// The spill files in `dir` and the attempts their names record; other
/// files are left out.
pub(crate) fn list(dir: &Path) -> Vec<(PathBuf, SpillAttempt)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    entries
        .flatten()
        .filter_map(|e| {
            let attempt = e.file_name().to_str().and_then(parse_name)?;
            Some((e.path(), attempt))
        })
        .collect()
}

/// The spill attempt a file's name records.
fn parse_name(name: &str) -> Option<SpillAttempt> {
    let (stem, temp) =
        if let Some(s) = name.strip_suffix(TMP_SUFFIX) { (s, true) } else { (name.strip_suffix(SPILL_SUFFIX)?, false) };
    let mut parts = stem.split('.');
    ObjectId::from_hex(parts.next()?).ok()?;
    let d = parts.next()?.parse().ok()?;
    let gen = parts.next()?.parse().ok()?;
    let tag = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(SpillAttempt { d, gen, tag, temp })
}

/// A spill file error: OUT_OF_MEMORY when the disk is full, IO_ERROR for
/// anything else (an unwritable or missing directory included).
pub(crate) fn io_error(what: String, e: std::io::Error) -> Error {
    if matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
        err!(OutOfMemory, "{what}: the spill directory's file system is full ({e})")
    } else {
        err!(Io, "{what}: {e}")
    }
}

/// Writes a spill file at `tmp` (created with `mode`): the header, then the
/// `data` and `meta` byte ranges, which `chunk(offset, len)` hands out in
/// pieces of at most `CHUNK` bytes (None: the object's bytes are out of
/// bounds). The CRC covers everything.
pub(crate) fn write<'b>(
    tmp: &Path,
    mode: u32,
    header: &Header,
    mut chunk: impl FnMut(u64, usize) -> Option<&'b [u8]>,
) -> Result<()> {
    let what = || format!("cannot write spill file {}", tmp.display());
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(tmp)
        .map_err(|e| io_error(what(), e))?;
    // The umask must not narrow what the store's users need.
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| io_error(what(), e))?;
    }
    let mut head = header.encode();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[..CRC_AT]);
    let mut at = HEADER_LEN as u64;
    let meta_at = header.data_len.next_multiple_of(64);
    for (start, len) in [(0, header.data_len), (meta_at, header.meta_len as u64)] {
        let mut done = 0;
        while done < len {
            let n = (CHUNK as u64).min(len - done) as usize;
            let bytes = chunk(start + done, n).ok_or_else(|| err!(Corrupt, "object bytes out of bounds"))?;
            crc.update(bytes);
            file.write_all_at(bytes, at).map_err(|e| io_error(what(), e))?;
            at += n as u64;
            done += n as u64;
        }
    }
    head[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.finalize().to_le_bytes());
    file.write_all_at(&head, 0).map_err(|e| io_error(what(), e))
}

/// Reads and checks the spill file at `path`, which must hold the object
/// `expect` describes, into the byte ranges `chunk(offset, len)` hands out
/// (None: out of bounds). Any mismatch is CORRUPT; a missing file NOT_FOUND
/// (the caller decides whether that is damage).
pub(crate) fn read<'b>(
    path: &Path,
    expect: &Header,
    mut chunk: impl FnMut(u64, usize) -> Option<&'b mut [u8]>,
) -> Result<()> {
    let shown = path.display();
    let id = ObjectId::from_words(expect.key);
    let file = File::open(path).map_err(|e| {
        if e.kind() == IoKind::NotFound {
            err!(NotFound, "spill file {shown} of object {id} is missing")
        } else {
            Error::os(format!("cannot open spill file {shown}"), e)
        }
    })?;
    let len = file.metadata().map_err(|e| Error::os(format!("cannot stat {shown}"), e))?.len();
    if len != expect.file_len() {
        return Err(err!(Corrupt, "spill file {shown} is {len} bytes, expected {}", expect.file_len()));
    }
    let mut head = [0u8; HEADER_LEN];
    file.read_exact_at(&mut head, 0).map_err(|e| Error::os(format!("cannot read {shown}"), e))?;
    if head[..CRC_AT] != expect.encode()[..CRC_AT] {
        return Err(err!(Corrupt, "spill file {shown} has a damaged header (or belongs to another object)"));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[..CRC_AT]);
    let meta_at = expect.data_len.next_multiple_of(64);
    let mut at = HEADER_LEN as u64;
    for (start, len) in [(0, expect.data_len), (meta_at, expect.meta_len as u64)] {
        let mut done = 0;
        while done < len {
            let n = (CHUNK as u64).min(len - done) as usize;
            let dst = chunk(start + done, n).ok_or_else(|| err!(Corrupt, "restore target out of bounds"))?;
            file.read_exact_at(dst, at).map_err(|e| Error::os(format!("cannot read {shown}"), e))?;
            crc.update(dst);
            at += n as u64;
            done += n as u64;
        }
    }
    let stored = u32::from_le_bytes(head[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
    if crc.finalize() != stored {
        return Err(err!(Corrupt, "spill file {shown} of object {id} fails its CRC32 check"));
    }
    Ok(())
}

/// The whole spill file for `header` as bytes (for a remote, which stores
/// a blob in one piece): what `write` would write, from the same `chunk`s.
pub(crate) fn image<'b>(header: &Header, mut chunk: impl FnMut(u64, usize) -> Option<&'b [u8]>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(header.file_len() as usize);
    out.extend_from_slice(&header.encode());
    let meta_at = header.data_len.next_multiple_of(64);
    for (start, len) in [(0, header.data_len), (meta_at, header.meta_len as u64)] {
        let mut done = 0;
        while done < len {
            let n = (CHUNK as u64).min(len - done) as usize;
            out.extend_from_slice(chunk(start + done, n).ok_or_else(|| err!(Corrupt, "object bytes out of bounds"))?);
            done += n as u64;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[..CRC_AT]);
    crc.update(&out[HEADER_LEN..]);
    let crc = crc.finalize().to_le_bytes();
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc);
    Ok(out)
}

/// Checks a spill file read whole (`bytes`, named `shown` in messages)
/// against `expect` and copies the object's bytes into the ranges
/// `chunk(offset, len)` hands out, as `read` does: any mismatch is CORRUPT.
pub(crate) fn check_image<'b>(
    shown: &str,
    bytes: &[u8],
    expect: &Header,
    mut chunk: impl FnMut(u64, usize) -> Option<&'b mut [u8]>,
) -> Result<()> {
    let id = ObjectId::from_words(expect.key);
    if bytes.len() as u64 != expect.file_len() {
        return Err(err!(Corrupt, "spill file {shown} is {} bytes, expected {}", bytes.len(), expect.file_len()));
    }
    if bytes[..CRC_AT] != expect.encode()[..CRC_AT] {
        return Err(err!(Corrupt, "spill file {shown} has a damaged header (or belongs to another object)"));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..CRC_AT]);
    crc.update(&bytes[HEADER_LEN..]);
    let stored = u32::from_le_bytes(bytes[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
    if crc.finalize() != stored {
        return Err(err!(Corrupt, "spill file {shown} of object {id} fails its CRC32 check"));
    }
    let meta_at = expect.data_len.next_multiple_of(64);
    let mut at = HEADER_LEN;
    for (start, len) in [(0, expect.data_len), (meta_at, expect.meta_len as u64)] {
        let mut done = 0;
        while done < len {
            let n = (CHUNK as u64).min(len - done) as usize;
            let dst = chunk(start + done, n).ok_or_else(|| err!(Corrupt, "restore target out of bounds"))?;
            dst.copy_from_slice(&bytes[at..at + n]);
            at += n;
            done += n as u64;
        }
    }
    Ok(())
}

/// The name of the complete file of a spill attempt (no directory).
pub(crate) fn name(key: &[u64; 3], d: u32, gen: u64, tag: u32) -> String {
    format!("{}.{d}.{gen}.{tag}{SPILL_SUFFIX}", ObjectId::from_words(*key).to_hex())
}

/// The spill attempt a file name records (None for other names).
pub(crate) fn attempt_of(name: &str) -> Option<SpillAttempt> {
    parse_name(name)
}
