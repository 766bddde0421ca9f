//! Opening a store that must already exist, and explaining why it could not
//! be opened.
//!
//! Every command but `create` attaches with `attach_only`, so that looking
//! at a store that is not there reports it missing instead of creating it.
//! Attaching registers this command as a process of the store for as long
//! as it runs; the inspection commands leave it out of what they show.

use std::os::unix::fs::MetadataExt;

use objstore::{ErrorKind, Options, Store};

use crate::exit::Failure;

/// Attaches to the existing store `name`.
pub fn existing(name: &str) -> Result<Store, Failure> {
    Store::open(name, &Options { attach_only: true, ..Options::default() }).map_err(|e| explain(name, e))
}

/// The path of the store `name`, for messages.
pub fn path_of(name: &str) -> String {
    objstore::store_path(name).map_or_else(|_| name.to_string(), |p| p.display().to_string())
}

/// A failure to open or create the store `name`, with what to do about it.
pub fn explain(name: &str, e: objstore::Error) -> Failure {
    let path = path_of(name);
    let failure = Failure::from(e.clone());
    match e.kind() {
        ErrorKind::NotFound => Failure::new(failure.code, format!("store '{name}' does not exist ({path})"))
            .hint(format!("`objstore create {name} --capacity SIZE` creates it")),
        ErrorKind::AlreadyExists => Failure::new(failure.code, format!("store '{name}' already exists ({path})"))
            .hint(format!("`objstore destroy {name}` removes it; `objstore stat {name}` shows what is in it")),
        ErrorKind::PermissionDenied => {
            let owner = std::fs::metadata(&path)
                .map(|m| format!("{path} belongs to uid {} gid {} with mode {:04o}", m.uid(), m.gid(), m.mode() & 0o7777))
                .unwrap_or_else(|_| format!("the directory of {path} may not be written"));
            failure.hint(format!(
                "{owner}; run as a user who may read and write it (a store is created 0600 unless `create --mode` says otherwise)"
            ))
        }
        ErrorKind::Incompatible => {
            failure.hint(format!("the store was made by another version of objstore ({}); use that version, or destroy and re-create it", objstore::VERSION))
        }
        ErrorKind::Corrupt => failure.hint(format!("the store file is damaged; `objstore destroy {name}` removes it")),
        ErrorKind::TooManyProcesses => failure.hint(
            "every process slot is held by a live process: wait for one to exit, or re-create the store with a larger --max-processes",
        ),
        _ => failure,
    }
}
