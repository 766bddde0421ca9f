//! The remote tier in a library built without the feature `remote`: a
//! store with a remote URL is refused, saying so. `Remote` cannot be
//! made, so its operations are never reached.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use super::{normalize_url, Dest, Head, Pinned, Published, RemoteConfig, Stop};
use crate::error::{err, Result};
use crate::id::ObjectId;

/// The rest of a first response (see `Head`): never made.
#[derive(Debug)]
pub(crate) struct Body {
    never: Infallible,
}

#[derive(Debug)]
pub(crate) struct Remote {
    never: Infallible,
}

impl Remote {
    pub(crate) fn open(url: &str, _config: &RemoteConfig) -> Result<Remote> {
        let url = normalize_url(url)?;
        Err(err!(
            InvalidArgument,
            "remote '{url}': this objstore library was built without the remote tier (cargo feature `remote`)"
        ))
    }

    pub(crate) fn url(&self) -> &str {
        match self.never {}
    }

    pub(crate) fn publish(&self, _: &ObjectId, _: Arc<dyn Pinned>, _: Option<Instant>) -> Result<Published> {
        match self.never {}
    }

    pub(crate) fn unpublish(&self, _: &ObjectId, _: Option<Instant>) -> Result<()> {
        match self.never {}
    }

    pub(crate) fn lookup(&self, _: &ObjectId, _: Option<Instant>, _: Option<Stop>) -> Result<Option<Head>> {
        match self.never {}
    }

    pub(crate) fn fetch_rest(&self, _: &ObjectId, head: Head, _: Dest, _: Option<Instant>) -> Result<()> {
        match head.body.never {}
    }

    pub(crate) fn put_blob(&self, _: &str, _: Vec<u8>) -> Result<()> {
        match self.never {}
    }

    pub(crate) fn get_blob(&self, _: &str) -> Result<Option<Vec<u8>>> {
        match self.never {}
    }

    pub(crate) fn delete_blob(&self, _: &str) -> Result<()> {
        match self.never {}
    }

    pub(crate) fn list_blobs(&self, _: &str) -> Result<Vec<String>> {
        match self.never {}
    }
}
