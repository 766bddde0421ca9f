//! Where spilled objects go: files in the store's spill directory, or, for
//! a store with a remote tier and no spill directory, blobs on the remote
//! (`<prefix>/.spill/<the store's hash seed>/<file name>`, the seed being
//! random per store, so stores sharing a remote never share spill blobs).
//! Either way an attempt's bytes are a spill file (`spill_files`: header,
//! bytes, CRC32) under the same name, and the protocol around them
//! (`spill`, `lifecycle`) is the same.
//!
//! What differs: a blob is written whole in one PUT, so it has no temporary
//! name (it is complete or absent); and the frees of the object protocol
//! (`Memory::remove_spill_file`), which may run in any process at any step,
//! remove files only: the spiller removes a blob once the restore or delete
//! that made it useless is done, and `sweep` (`collect`) removes the blobs
//! nothing owns, such as those of a spiller that died.

use std::path::Path;

use super::lifecycle::SpillAttempt;
use super::spill_files::{self, Header};
use crate::error::{err, Result};
use crate::remote::Remote;

/// Where a store's spilled objects go.
#[derive(Clone, Copy)]
pub(crate) enum Medium<'a> {
    /// Files in the store's spill directory.
    Dir(&'a Path),
    /// Blobs in directory `dir` of the store's remote.
    Remote { remote: &'a Remote, dir: &'a str },
}

impl<'a> Medium<'a> {
    /// The complete file (or blob) of an attempt, for messages.
    pub(crate) fn describe(&self, key: &[u64; 3], d: u32, gen: u64, tag: u32) -> String {
        match self {
            Medium::Dir(dir) => spill_files::path(dir, key, d, gen, tag, false).display().to_string(),
            Medium::Remote { remote, dir } => format!("{}/{dir}/{}", remote.url(), spill_files::name(key, d, gen, tag)),
        }
    }

    fn blob(dir: &str, key: &[u64; 3], d: u32, gen: u64, tag: u32) -> String {
        format!("{dir}/{}", spill_files::name(key, d, gen, tag))
    }

    /// Writes the spill file of an attempt, complete or not at all: a file
    /// under a temporary name renamed into place, or one PUT.
    pub(crate) fn write<'b>(
        &self,
        d: u32,
        tag: u32,
        file_mode: u32,
        header: &Header,
        chunk: impl FnMut(u64, usize) -> Option<&'b [u8]>,
    ) -> Result<()> {
        let (key, gen) = (&header.key, header.gen);
        match self {
            Medium::Dir(dir) => {
                let tmp = spill_files::path(dir, key, d, gen, tag, true);
                let path = spill_files::path(dir, key, d, gen, tag, false);
                let written = spill_files::write(&tmp, file_mode, header, chunk).and_then(|()| {
                    std::fs::rename(&tmp, &path)
                        .map_err(|e| spill_files::io_error(format!("cannot rename spill file {}", tmp.display()), e))
                });
                if written.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                written
            }
            Medium::Remote { remote, dir } => {
                remote.put_blob(&Self::blob(dir, key, d, gen, tag), spill_files::image(header, chunk)?)
            }
        }
    }

    /// Reads and checks the spill file of an attempt into the ranges
    /// `chunk` hands out. NotFound if it is missing (the caller decides
    /// whether that is damage), Corrupt on any mismatch.
    pub(crate) fn read<'b>(
        &self,
        d: u32,
        tag: u32,
        expect: &Header,
        chunk: impl FnMut(u64, usize) -> Option<&'b mut [u8]>,
    ) -> Result<()> {
        let (key, gen) = (&expect.key, expect.gen);
        match self {
            Medium::Dir(dir) => spill_files::read(&spill_files::path(dir, key, d, gen, tag, false), expect, chunk),
            Medium::Remote { remote, dir } => {
                let shown = self.describe(key, d, gen, tag);
                match remote.get_blob(&Self::blob(dir, key, d, gen, tag))? {
                    Some(bytes) => spill_files::check_image(&shown, &bytes, expect, chunk),
                    None => Err(err!(NotFound, "spill file {shown} is missing")),
                }
            }
        }
    }

    /// Removes the complete spill file of an attempt, if it is there.
    pub(crate) fn remove(&self, key: &[u64; 3], d: u32, gen: u64, tag: u32) {
        match self {
            Medium::Dir(dir) => {
                let _ = std::fs::remove_file(spill_files::path(dir, key, d, gen, tag, false));
            }
            Medium::Remote { remote, dir } => {
                let _ = remote.delete_blob(&Self::blob(dir, key, d, gen, tag));
            }
        }
    }

    /// Removes the spill file of an attempt whose object a restore or a
    /// delete has freed: the free removed a file already; a blob is removed
    /// here.
    pub(crate) fn forget(&self, key: &[u64; 3], d: u32, gen: u64, tag: u32) {
        if let Medium::Remote { .. } = self {
            self.remove(key, d, gen, tag);
        }
    }

    /// Removes every spill file whose attempt `owned` says nothing owns.
    pub(crate) fn sweep(&self, owned: impl Fn(&SpillAttempt) -> bool) {
        match self {
            Medium::Dir(dir) => {
                for (path, attempt) in spill_files::list(dir) {
                    if !owned(&attempt) {
                        let _ = std::fs::remove_file(path);
                    }
                }
            }
            Medium::Remote { remote, dir } => {
                for name in remote.list_blobs(dir).unwrap_or_default() {
                    if spill_files::attempt_of(&name).is_some_and(|a| !owned(&a)) {
                        let _ = remote.delete_blob(&format!("{dir}/{name}"));
                    }
                }
            }
        }
    }
}

/// Removes every spill blob of the store whose remote is `remote` and
/// whose blobs live in `dir` (when the store is destroyed). Best effort.
pub(crate) fn remove_all_blobs(remote: &Remote, dir: &str) {
    for name in remote.list_blobs(dir).unwrap_or_default() {
        let _ = remote.delete_blob(&format!("{dir}/{name}"));
    }
}

/// The directory of a store's spill blobs on its remote.
pub(crate) fn blob_dir(hash_seed: u64) -> String {
    format!(".spill/{hash_seed:016x}")
}
