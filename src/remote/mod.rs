//! The remote tier: objects published to S3-compatible storage (or a
//! directory, or memory, for tests) and fetched on other machines, through
//! the `object_store` crate. Built with the cargo feature `remote`; without
//! it a store with a remote URL is refused, saying so.
//!
//! A store's remote is a URL fixed when the store is created (kept in its
//! header): `s3://bucket/prefix`, `file:///dir` or `memory://name/prefix`.
//! Object `ID` is published at `<prefix>/<40 hex digits of ID>` in the format
//! of [`format`]. Endpoint, region and credentials come from the usual
//! `AWS_*` environment variables, and from `Options::remote_config`, whose
//! pairs take precedence.
//!
//! This module is the client only: it moves bytes between the remote and
//! memory it is given, and knows nothing of the store. The store layer
//! decides what is fetched into which object (`store::remote`).
//!
//! - `format`: the published object's bytes (always built: it is the
//!   documentation for readers in other languages, and has no dependency);
//! - `client` (with the feature) or `disabled` (without): `Remote`, the
//!   client of one URL, with blocking operations that each take a deadline;
//! - `runtime` (with the feature): the background threads the client runs on.

// Without the feature, the client is a stub that never runs what these serve.
#![cfg_attr(not(feature = "remote"), allow(dead_code))]

pub mod format;

#[cfg(feature = "remote")]
mod client;
#[cfg(not(feature = "remote"))]
mod disabled;
#[cfg(feature = "remote")]
mod runtime;

#[cfg(feature = "remote")]
pub(crate) use client::{Body, Remote};
#[cfg(not(feature = "remote"))]
pub(crate) use disabled::{Body, Remote};

use crate::error::{err, Result};

/// A test that says a request's caller gave up on it (its wait was
/// cancelled from another thread): the request is then dropped.
pub(crate) type Stop = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// Longest remote URL a store can keep.
pub(crate) const MAX_URL_LEN: usize = 3072;

/// Settings of a store's remote client, as `AWS_*` names and values (the
/// names of the environment variables, in any case, e.g.
/// `("AWS_ENDPOINT", "http://127.0.0.1:3900")`). They take precedence over
/// the environment, and are this process's own: they are not kept in the
/// store. The first handle a process opens on a store makes the client its
/// other handles share. `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RemoteConfig {
    pairs: Vec<(String, String)>,
}

impl RemoteConfig {
    /// No settings: everything from the environment.
    pub fn new() -> RemoteConfig {
        RemoteConfig::default()
    }

    /// Sets `key` (e.g. `AWS_ACCESS_KEY_ID`) to `value`.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> RemoteConfig {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// The settings as (name, value) pairs, in the order they were set.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for RemoteConfig {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> RemoteConfig {
        RemoteConfig { pairs: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets.
        f.debug_list().entries(self.pairs.iter().map(|(k, _)| k)).finish()
    }
}

/// A remote URL as a store keeps it: checked, without trailing slashes, so
/// that `s3://b/p` and `s3://b/p/` name the same remote.
pub(crate) fn normalize_url(url: &str) -> Result<String> {
    let trimmed = url.trim_end_matches('/');
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| err!(InvalidArgument, "remote URL '{url}' has no scheme (s3://, file://, memory://)"))?;
    match scheme {
        "s3" if rest.is_empty() => Err(err!(InvalidArgument, "remote URL '{url}' names no bucket")),
        "s3" | "memory" => Ok(trimmed.to_string()),
        // file:/// itself would be the root directory.
        "file" if rest.starts_with('/') && rest.len() > 1 => Ok(trimmed.to_string()),
        "file" => Err(err!(InvalidArgument, "remote URL '{url}' must name an absolute directory (file:///dir)")),
        _ => Err(err!(InvalidArgument, "remote URL '{url}': scheme '{scheme}' is not s3, file or memory")),
    }
    .and_then(|u: String| {
        if u.len() > MAX_URL_LEN || u.contains('\0') {
            Err(err!(InvalidArgument, "remote URL is longer than {MAX_URL_LEN} bytes or holds a NUL byte"))
        } else {
            Ok(u)
        }
    })
}

/// The first bytes of a published object, read by one request: its
/// header and its metadata, and that request's response, whose data the
/// fetch goes on reading (for an object of up to a few MiB, the whole of it:
/// one request fetches it).
#[derive(Debug)]
pub(crate) struct Head {
    pub header: format::Header,
    pub meta: Vec<u8>,
    /// The rest of the first response, and the version of the remote
    /// object it is of (the client's own).
    pub body: Body,
}

/// Memory a fetch writes an object's data into: the data of a local
/// object created for it and not yet sealed.
#[derive(Debug)]
pub(crate) struct Dest {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a Dest is written by one fetch at a time (see `Dest::new`), from
// whichever thread runs it.
unsafe impl Send for Dest {}
// SAFETY: as above; concurrent writers write disjoint ranges (`write`).
unsafe impl Sync for Dest {}

impl Dest {
    /// # Safety
    /// `ptr` must be valid for writes of `len` bytes that nothing else reads
    /// or writes until the fetch given this `Dest` has returned.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Dest {
        Dest { ptr, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies `bytes` to offset `at`. False (and nothing written) if they
    /// would not fit. Concurrent callers must write disjoint ranges.
    pub(crate) fn write(&self, at: usize, bytes: &[u8]) -> bool {
        if at.checked_add(bytes.len()).is_none_or(|end| end > self.len) {
            return false;
        }
        // SAFETY: in bounds (checked above) of memory valid for writes that
        // no one else touches (`Dest::new`); callers write disjoint ranges,
        // and `bytes` (network buffers) cannot overlap it.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), bytes.len()) };
        true
    }
}

/// A sealed local object pinned for an upload: the pin is dropped when
/// the value is, which may be after the upload returned (an HTTP client may
/// hold a request's body a little longer).
pub(crate) trait Pinned: Send + Sync + 'static {
    fn meta(&self) -> &[u8];
    fn data(&self) -> &[u8];
}

/// What a publish did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Published {
    /// The object was there already.
    AlreadyThere,
    /// It was uploaded: this many bytes.
    Uploaded(u64),
}
