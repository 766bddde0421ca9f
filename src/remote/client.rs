//! The client of one remote URL, over `object_store`: publish, unpublish,
//! and a fetch in two steps (the first bytes, then the rest straight into
//! memory the caller gives), each a blocking call with a deadline. The
//! fetch's first request asks for the first 8 MiB: the second step reads
//! the rest of its response, beside the ranged GETs of what lies past it,
//! so an object of up to 8 MiB comes in one request.
//!
//! Retries: object_store retries a failed request (connection errors, 5xx)
//! with backoff, bounded here to seconds, so an unreachable endpoint is an
//! error soon even without a deadline; a deadline cuts any operation short.
//! Ranged GETs after the first carry the first's ETag (`If-Match`), so a
//! fetch never mixes the bytes of two versions of a remote object.

use std::collections::HashMap;
use std::fmt::Display;
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{BoxStream, FuturesUnordered, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientConfigKey, GetOptions, GetRange, MultipartUpload, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
};

use super::format::{self, Header, Placement, HEADER_LEN, METADATA_KEY};
use super::runtime::{self, until, until_or_stopped, Ended};
use super::{normalize_url, Dest, Head, Pinned, Published, RemoteConfig, Stop};
use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::platform;

/// Bytes the first GET of a fetch asks for, from the start of the published
/// object: the header, the metadata, and the data after them (the whole of
/// an object up to this size). The lookup reads its response up to the end
/// of the metadata; the fetch reads the rest, beside the ranged GETs.
const FIRST_GET: u64 = 8 << 20;
/// Bytes per ranged GET of the data past the first GET; a last range
/// shorter than `TAIL_MIN` goes with the one before (a request for a few
/// bytes costs a round trip for nothing).
const RANGE_LEN: u64 = 8 << 20;
const TAIL_MIN: u64 = 2 << 20;
/// GETs (the first one's response and the ranges), or parts of a multipart
/// upload, in flight at once.
const IN_FLIGHT: usize = 8;
/// Objects up to this size go up in one PUT; larger ones as a multipart
/// upload with parts in parallel.
const SINGLE_PUT_MAX: u64 = 16 << 20;
/// Bytes per part of a multipart upload (S3 wants at least 5 MiB, and at
/// most 10,000 parts).
const PART_LEN: u64 = 16 << 20;
const MAX_PARTS: u64 = 10_000;
/// How long an upload cut short waits for the server to drop its parts.
const ABORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a deadline cut an operation short.
enum Cut {
    /// Before the server answered anything.
    NoAnswer,
    /// During the transfer.
    Unfinished,
}

/// The rest of a lookup's first response (see `Head`): the data bytes that
/// came with the metadata, and the response, still arriving.
pub(crate) struct Body {
    /// Data bytes from offset 0, in order.
    got: Vec<Bytes>,
    /// The response's remaining bytes, if it has not ended.
    rest: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    /// Data bytes the first response covers: `0..end`.
    end: u64,
    /// The version of the remote object these bytes are of.
    etag: Option<String>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("got", &self.got.iter().map(Bytes::len).sum::<usize>())
            .field("arriving", &self.rest.is_some())
            .field("end", &self.end)
            .field("etag", &self.etag)
            .finish()
    }
}

/// What a lookup found.
enum Found {
    Head(Head),
    NotPublished,
    /// Not a published object of ours, or not this version of the format.
    Bad(Error),
}

/// Why the transfer of a fetch failed.
enum Fail {
    Store(object_store::Error),
    /// The server's bytes for a range ended, or overran it, at this data byte.
    Bytes(u64),
}

impl From<object_store::Error> for Fail {
    fn from(e: object_store::Error) -> Fail {
        Fail::Store(e)
    }
}

/// The client of one remote URL.
pub(crate) struct Remote {
    url: String,
    /// Where requests go, for messages.
    endpoint: String,
    /// Not dropped in a fork child (see `Drop`).
    store: ManuallyDrop<Arc<dyn ObjectStore>>,
    prefix: Key,
    /// Where this library puts the header of what it publishes: in the
    /// user metadata where the remote keeps metadata (S3, memory://), else
    /// at the start of the body (file://). A fetch reads either.
    placement: Placement,
    fork_generation: u64,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).field("endpoint", &self.endpoint).finish()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // A fork child's copy holds the parent's connections, owned by the
        // parent's runtime, which has no threads here: leave it alone.
        if self.fork_generation == platform::fork_generation() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.store) };
        }
    }
}

/// In-memory remotes (`memory://name/...`), one per name in a process, so
/// that two stores of one test process share theirs.
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let mut stores = STORES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    stores.entry(name.to_string()).or_insert_with(|| Arc::new(InMemory::new())).clone()
}

fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 6,
        retry_timeout: Duration::from_secs(15),
    }
}

impl Remote {
    /// The client of `url` with `config` over the environment.
    pub(crate) fn open(url: &str, config: &RemoteConfig) -> Result<Remote> {
        let url = normalize_url(url)?;
        runtime::choose_tls();
        let (scheme, rest) = url.split_once("://").expect("normalized");
        let (store, prefix, endpoint, placement): (Arc<dyn ObjectStore>, &str, String, Placement) = match scheme {
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let mut b = AmazonS3Builder::from_env();
                for (k, v) in config.pairs() {
                    let key: AmazonS3ConfigKey = k.to_ascii_lowercase().parse().map_err(|_| {
                        err!(InvalidArgument, "remote setting '{k}' is not an S3 setting object_store knows")
                    })?;
                    b = b.with_config(key, v);
                }
                if b.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout)).is_none() {
                    b = b.with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), "5s");
                }
                let endpoint = b.get_config_value(&AmazonS3ConfigKey::Endpoint).unwrap_or_else(|| {
                    let region = b.get_config_value(&AmazonS3ConfigKey::Region).unwrap_or("us-east-1".into());
                    format!("https://s3.{region}.amazonaws.com")
                });
                let s3 = b
                    .with_bucket_name(bucket)
                    .with_retry(retry_config())
                    .build()
                    .map_err(|e| err!(InvalidArgument, "remote '{url}': {e}"))?;
                (Arc::new(s3), prefix, endpoint, Placement::UserMetadata)
            }
            "file" => {
                std::fs::create_dir_all(rest).map_err(|e| Error::os(format!("remote directory '{rest}'"), e))?;
                let fs = LocalFileSystem::new_with_prefix(rest).map_err(|e| err!(Io, "remote '{url}': {e}"))?;
                (Arc::new(fs), "", url.clone(), Placement::Leading)
            }
            "memory" => {
                let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                (memory_store(name), prefix, url.clone(), Placement::UserMetadata)
            }
            _ => unreachable!("normalize_url admits no other scheme"),
        };
        let prefix = Key::parse(prefix).map_err(|e| err!(InvalidArgument, "remote URL '{url}': {e}"))?;
        Ok(Remote {
            url,
            endpoint,
            store: ManuallyDrop::new(store),
            prefix,
            placement,
            fork_generation: platform::fork_generation(),
        })
    }

    /// The URL, as the store keeps it.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, id: &ObjectId) -> Key {
        self.prefix.clone().join(id.to_hex())
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// Where object `id` is, for messages.
    fn place(&self, id: &ObjectId) -> String {
        if self.url.starts_with("s3://") {
            format!("{}/{} (endpoint {})", self.url, id, self.endpoint)
        } else {
            format!("{}/{}", self.url, id)
        }
    }

    /// An object_store error as ours, `doing` saying what failed.
    fn error(&self, doing: impl Display, e: object_store::Error) -> Error {
        match e {
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                err!(PermissionDenied, "{doing}: {} refused the credentials: {e}", self.endpoint)
            }
            object_store::Error::NotFound { .. } => err!(NotFound, "{doing}: not found: {e}"),
            _ => err!(Io, "{doing}: {e}"),
        }
    }

    /// No answer within the caller's deadline.
    fn no_answer(&self, doing: impl Display, deadline: Option<Instant>, start: Instant) -> Error {
        let waited = deadline.map_or(start.elapsed(), |d| d.saturating_duration_since(start));
        err!(Io, "{doing}: no answer from {} within {waited:?}", self.endpoint)
    }

    // ----- publishing ---------------------------------------------------------------

    /// Uploads `obj` as object `id`: in one PUT (data up to 16 MiB), or for
    /// a larger object, unless it is there already, as a multipart upload
    /// with parts in parallel,
    /// which becomes visible only when it completes. A caller killed
    /// midway leaves nothing visible (parts of an unfinished multipart upload
    /// stay on the server, unlisted, until a lifecycle rule removes them).
    pub(crate) fn publish(&self, id: &ObjectId, obj: Arc<dyn Pinned>, deadline: Option<Instant>) -> Result<Published> {
        let start = Instant::now();
        let doing = format!("publishing object {id} to {}", self.place(id));
        let (meta_len, data_len) = (obj.meta().len(), obj.data().len());
        let header = Header {
            id: *id,
            meta_len: u32::try_from(meta_len).map_err(|_| err!(InvalidArgument, "metadata larger than 4 GiB"))?,
            data_len: data_len as u64,
            crc: format::payload_crc(obj.meta(), obj.data()),
            placement: self.placement,
        };
        let total = header.body_len();
        let mut attributes = Attributes::new();
        // The payload as zero-copy slices of the pinned object.
        let header_bytes = match self.placement {
            Placement::Leading => Bytes::copy_from_slice(&header.encode()),
            Placement::UserMetadata => {
                attributes.insert(Attribute::Metadata(METADATA_KEY.into()), header.encode_hex().into());
                Bytes::new()
            }
        };
        let meta = Bytes::from_owner(MetaOf(Arc::clone(&obj)));
        let data = Bytes::from_owner(DataOf(obj));
        let pieces = [header_bytes, meta, data];
        let (store, key) = (self.store(), self.key(id));
        let single = data_len as u64 <= SINGLE_PUT_MAX;
        let r = runtime::run(async move {
            // Is it there already? Asked only before a multipart upload: a
            // second PUT of the same bytes costs little more than the
            // question, which would slow every first publish.
            if !single {
                match until(deadline, store.head(&key)).await {
                    Err(()) => return Err(Cut::NoAnswer),
                    Ok(Ok(m)) if m.size == total => return Ok(Ok(Published::AlreadyThere)),
                    Ok(Ok(_)) | Ok(Err(object_store::Error::NotFound { .. })) => {}
                    Ok(Err(e)) => return Ok(Err(e)),
                }
            }
            if single {
                let payload: PutPayload = pieces.into_iter().collect();
                return match until(deadline, store.put_opts(&key, payload, PutOptions::from(attributes))).await {
                    Ok(r) => Ok(r.map(|_| Published::Uploaded(total))),
                    // One request, unanswered within the deadline.
                    Err(()) => Err(Cut::NoAnswer),
                };
            }
            let part_len = PART_LEN.max(total.div_ceil(MAX_PARTS).next_multiple_of(1 << 20));
            let opts = PutMultipartOptions::from(attributes);
            let mut upload = match until(deadline, store.put_multipart_opts(&key, opts)).await {
                Ok(Ok(u)) => u,
                Ok(Err(e)) => return Ok(Err(e)),
                Err(()) => return Err(Cut::Unfinished),
            };
            let done = until(deadline, upload_parts(upload.as_mut(), &pieces, total, part_len)).await;
            if !matches!(done, Ok(Ok(()))) {
                // Never completed, so never visible; the parts are removed
                // if the server answers soon.
                let _ = tokio::time::timeout(ABORT_TIMEOUT, upload.abort()).await;
            }
            match done {
                Ok(r) => Ok(r.map(|()| Published::Uploaded(total))),
                Err(()) => Err(Cut::Unfinished),
            }
        })?;
        match r {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(self.error(&doing, e)),
            Err(Cut::NoAnswer) => Err(self.no_answer(&doing, deadline, start)),
            Err(Cut::Unfinished) => {
                Err(err!(Timeout, "{doing}: not done within {:?}", deadline.map(|d| d - start).unwrap_or_default()))
            }
        }
    }

    /// Removes the published object `id`. NotFound if it is not published.
    pub(crate) fn unpublish(&self, id: &ObjectId, deadline: Option<Instant>) -> Result<()> {
        let start = Instant::now();
        let doing = format!("unpublishing object {id} from {}", self.place(id));
        let (store, key) = (self.store(), self.key(id));
        let r = runtime::run(until(deadline, async move {
            store.head(&key).await?;
            store.delete(&key).await
        }))?;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.error(&doing, e)),
            Err(()) => Err(self.no_answer(&doing, deadline, start)),
        }
    }

    // ----- fetching ------------------------------------------------------------------

    /// The first bytes of the published object `id`: its header (checked)
    /// and its metadata, and the first response, whose data `fetch_rest`
    /// goes on reading. None if it is not published.
    pub(crate) fn lookup(&self, id: &ObjectId, deadline: Option<Instant>, stop: Option<Stop>) -> Result<Option<Head>> {
        let start = Instant::now();
        let doing = format!("fetching object {id} from {}", self.place(id));
        let where_ = format!("published object {}", self.place(id));
        let (store, key, id) = (self.store(), self.key(id), *id);
        let r = runtime::run(until_or_stopped(deadline, stop, async move {
            let opts = GetOptions { range: Some(GetRange::Bounded(0..FIRST_GET)), ..GetOptions::default() };
            let got = match store.get_opts(&key, opts).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(Found::NotPublished),
                // An empty body has no range to ask for (S3's 416,
                // object_store's own check for the others): ask for all
                // of it.
                Err(e) if e.to_string().to_ascii_lowercase().contains("range") => {
                    match store.get_opts(&key, GetOptions::default()).await {
                        Ok(got) => got,
                        Err(object_store::Error::NotFound { .. }) => return Ok(Found::NotPublished),
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            let (size, etag) = (got.meta.size, got.meta.e_tag.clone());
            // Bytes of the object the response covers (all of it when it
            // was asked for whole).
            let covered = got.range.end;
            // The header, if the remote keeps it beside the body.
            let mut header = match got.attributes.get(&Attribute::Metadata(METADATA_KEY.into())) {
                Some(hex) => match Header::decode_hex(hex, &id, size, &where_) {
                    Ok(h) => Some(h),
                    Err(e) => return Ok(Found::Bad(e)),
                },
                None => None,
            };
            let mut stream = got.into_stream();
            // The body up to the data (a leading header, the metadata),
            // copied out of the first chunks; the data after them as it came.
            let mut prefix = Vec::with_capacity(HEADER_LEN);
            let mut data = vec![];
            let mut ended = false;
            let want = |h: &Option<Header>| h.map_or(HEADER_LEN as u64, |h| h.data_offset());
            while (prefix.len() as u64) < want(&header) {
                let Some(mut chunk) = stream.try_next().await? else {
                    ended = true;
                    break;
                };
                while !chunk.is_empty() {
                    let missing = want(&header) - prefix.len() as u64;
                    if missing == 0 {
                        data.push(std::mem::take(&mut chunk));
                        break;
                    }
                    prefix.extend_from_slice(&chunk.split_to(missing.min(chunk.len() as u64) as usize));
                    if header.is_none() && prefix.len() == HEADER_LEN {
                        match Header::decode(&prefix, &id, size, &where_) {
                            Ok(h) => header = Some(h),
                            Err(e) => return Ok(Found::Bad(e)),
                        }
                    }
                }
            }
            let header = match header {
                Some(h) => h,
                None => return Ok(Found::Bad(Header::decode(&prefix, &id, size, &where_).unwrap_err())),
            };
            let meta_end = header.data_offset();
            // The metadata may go on past the first GET.
            let have = prefix.len() as u64;
            if ended && have < meta_end && have == covered {
                let opts = GetOptions {
                    range: Some(GetRange::Bounded(have..meta_end)),
                    if_match: etag.clone(),
                    ..GetOptions::default()
                };
                prefix.extend_from_slice(&store.get_opts(&key, opts).await?.bytes().await?);
            }
            if (prefix.len() as u64) < meta_end {
                return Ok(Found::Bad(err!(
                    Corrupt,
                    "{where_}: the server sent {} bytes of its first {meta_end}",
                    prefix.len()
                )));
            }
            let body =
                Body { got: data, rest: (!ended).then_some(stream), end: covered.saturating_sub(meta_end), etag };
            Ok(Found::Head(Head { header, meta: prefix.split_off(header.placement.body_offset() as usize), body }))
        }))?;
        match r {
            Ok(Ok(Found::Head(head))) => Ok(Some(head)),
            Ok(Ok(Found::NotPublished)) => Ok(None),
            Ok(Ok(Found::Bad(e))) => Err(e),
            Ok(Err(e)) => Err(self.error(&doing, e)),
            Err(Ended::Deadline) => Err(self.no_answer(&doing, deadline, start)),
            Err(Ended::Stopped) => Err(err!(Cancelled, "{doing}: cancelled before the server answered")),
        }
    }

    /// Writes the data of the object `head` came from into `dst` (the
    /// object's data length): the rest of the first response, and beside
    /// it the data past that response by ranged GETs in parallel, each
    /// written where it belongs as it arrives; then checks the CRC. Nothing
    /// writes to `dst` once this returns. Corrupt if the bytes do not match
    /// the header.
    pub(crate) fn fetch_rest(&self, id: &ObjectId, head: Head, dst: Dest, deadline: Option<Instant>) -> Result<()> {
        let start = Instant::now();
        let doing = format!("fetching object {id} from {}", self.place(id));
        let data_len = head.header.data_len;
        if dst.len() as u64 != data_len {
            return Err(err!(InvalidArgument, "{doing}: the local object has the wrong size"));
        }
        let Body { got, rest, end, etag } = head.body;
        let meta_crc = crc_of(&head.meta);
        let base = head.header.data_offset();
        let mut ranges = vec![];
        let mut at = end;
        while at < data_len {
            let mut next = (at + RANGE_LEN).min(data_len);
            if data_len - next < TAIL_MIN {
                next = data_len;
            }
            ranges.push(at..next);
            at = next;
        }
        let (store, key) = (self.store(), self.key(id));
        let dst = Arc::new(dst);
        let r = runtime::run(until(deadline, async move {
            // The first response: what came with the metadata, then the rest.
            let first = {
                let dst = Arc::clone(&dst);
                async move {
                    let mut h = crc32fast::Hasher::new();
                    let mut at = 0u64;
                    let mut stream = rest.unwrap_or_else(|| futures_util::stream::empty().boxed());
                    let mut got = got.into_iter();
                    loop {
                        let chunk = match got.next() {
                            Some(c) => c,
                            None => match stream.try_next().await? {
                                Some(c) => c,
                                None => break,
                            },
                        };
                        if at + chunk.len() as u64 > end || !dst.write(at as usize, &chunk) {
                            return Err(Fail::Bytes(end));
                        }
                        h.update(&chunk);
                        at += chunk.len() as u64;
                    }
                    if at != end {
                        return Err(Fail::Bytes(at));
                    }
                    Ok((h.finalize(), end))
                }
            };
            let parts = async {
                let mut crcs = vec![(0u32, 0u64); ranges.len()];
                let mut parts = futures_util::stream::iter(ranges.into_iter().enumerate().map(|(i, r)| {
                    let (store, key, dst) = (Arc::clone(&store), key.clone(), Arc::clone(&dst));
                    let opts = GetOptions {
                        range: Some(GetRange::Bounded(base + r.start..base + r.end)),
                        if_match: etag.clone(),
                        ..GetOptions::default()
                    };
                    async move {
                        let mut stream = store.get_opts(&key, opts).await?.into_stream();
                        let mut h = crc32fast::Hasher::new();
                        let mut at = r.start;
                        while let Some(chunk) = stream.try_next().await? {
                            if at + chunk.len() as u64 > r.end || !dst.write(at as usize, &chunk) {
                                return Err(Fail::Bytes(r.end));
                            }
                            h.update(&chunk);
                            at += chunk.len() as u64;
                        }
                        if at != r.end {
                            return Err(Fail::Bytes(at));
                        }
                        Ok((i, h.finalize(), r.end - r.start))
                    }
                }))
                // The first response is one of the GETs in flight.
                .buffer_unordered(IN_FLIGHT - 1);
                while let Some(part) = parts.next().await {
                    let (i, crc, len) = part?;
                    crcs[i] = (crc, len);
                }
                Ok(crcs)
            };
            futures_util::future::try_join(first, parts).await
        }))?;
        let (first_crc, crcs) = match r {
            Ok(Ok(crcs)) => crcs,
            Ok(Err(Fail::Bytes(at))) => {
                return Err(err!(Corrupt, "{doing}: the server's bytes end or overrun at data byte {at} of {data_len}"))
            }
            Ok(Err(Fail::Store(object_store::Error::Precondition { .. }))) => {
                return Err(err!(Io, "{doing}: it was replaced on the remote while it was fetched"))
            }
            Ok(Err(Fail::Store(e))) => return Err(self.error(&doing, e)),
            Err(()) => {
                return Err(err!(
                    Timeout,
                    "{doing}: {data_len} bytes not fetched within {:?}",
                    deadline.map(|d| d.saturating_duration_since(start)).unwrap_or_default()
                ))
            }
        };
        let mut crc = combine(meta_crc, first_crc);
        for c in crcs {
            crc = combine(crc, c);
        }
        if crc.0 != head.header.crc {
            return Err(err!(
                Corrupt,
                "{doing}: checksum mismatch (CRC-32 {:08x}, the header says {:08x}): the published object is damaged",
                crc.0,
                head.header.crc
            ));
        }
        Ok(())
    }
}

/// Blobs of the store's own under the remote's prefix (spilled objects):
/// whole-object PUT, GET, DELETE and LIST, by name relative to the prefix.
/// No deadline but the client's own retries.
impl Remote {
    fn blob_key(&self, name: &str) -> Result<Key> {
        let name = Key::parse(name).map_err(|e| err!(InvalidArgument, "remote blob name '{name}': {e}"))?;
        Ok(self.prefix.parts().chain(name.parts()).collect())
    }

    /// Writes `bytes` as blob `name` (atomically: whole or not at all).
    pub(crate) fn put_blob(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let (store, key) = (self.store(), self.blob_key(name)?);
        runtime::run(async move { store.put(&key, bytes.into()).await.map(|_| ()) })?
            .map_err(|e| self.error(format!("writing {}/{name}", self.url), e))
    }

    /// The bytes of blob `name`, None if there is none.
    pub(crate) fn get_blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let (store, key) = (self.store(), self.blob_key(name)?);
        let r = runtime::run(async move {
            match store.get(&key).await {
                Ok(got) => got.bytes().await.map(|b| Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        r.map_err(|e| self.error(format!("reading {}/{name}", self.url), e))
    }

    /// Removes blob `name` (Ok if there is none).
    pub(crate) fn delete_blob(&self, name: &str) -> Result<()> {
        let (store, key) = (self.store(), self.blob_key(name)?);
        runtime::run(async move {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })?
        .map_err(|e| self.error(format!("removing {}/{name}", self.url), e))
    }

    /// The names (last part only) of the blobs in directory `dir`.
    pub(crate) fn list_blobs(&self, dir: &str) -> Result<Vec<String>> {
        let (store, key) = (self.store(), self.blob_key(dir)?);
        let r = runtime::run(async move {
            let listed: Vec<_> = store.list(Some(&key)).try_collect().await?;
            Ok::<_, object_store::Error>(
                listed.into_iter().filter_map(|m| m.location.filename().map(str::to_string)).collect::<Vec<_>>(),
            )
        })?;
        r.map_err(|e| self.error(format!("listing {}/{dir}", self.url), e))
    }
}

/// A CRC-32 and the length it covers.
fn crc_of(bytes: &[u8]) -> (u32, u64) {
    (crc32fast::hash(bytes), bytes.len() as u64)
}

/// The CRC of `a`'s bytes followed by `b`'s.
fn combine(a: (u32, u64), b: (u32, u64)) -> (u32, u64) {
    let mut h = crc32fast::Hasher::new_with_initial_len(a.0, a.1);
    h.combine(&crc32fast::Hasher::new_with_initial_len(b.0, b.1));
    (h.finalize(), a.1 + b.1)
}

struct MetaOf(Arc<dyn Pinned>);
impl AsRef<[u8]> for MetaOf {
    fn as_ref(&self) -> &[u8] {
        self.0.meta()
    }
}
struct DataOf(Arc<dyn Pinned>);
impl AsRef<[u8]> for DataOf {
    fn as_ref(&self) -> &[u8] {
        self.0.data()
    }
}

/// Uploads `pieces` (header, metadata, data: `total` bytes) as parts of
/// `part_len` bytes, `IN_FLIGHT` at a time, and completes the upload.
async fn upload_parts(
    upload: &mut dyn MultipartUpload,
    pieces: &[Bytes; 3],
    total: u64,
    part_len: u64,
) -> object_store::Result<()> {
    let mut in_flight = FuturesUnordered::new();
    let mut at = 0u64;
    while at < total || !in_flight.is_empty() {
        while at < total && in_flight.len() < IN_FLIGHT {
            let end = (at + part_len).min(total);
            in_flight.push(upload.put_part(slice(pieces, at, end)));
            at = end;
        }
        if let Some(done) = in_flight.next().await {
            done?;
        }
    }
    upload.complete().await.map(|_| ())
}

/// Bytes `start..end` of the concatenation of `pieces`, without copying.
fn slice(pieces: &[Bytes; 3], start: u64, end: u64) -> PutPayload {
    let mut out = vec![];
    let mut base = 0u64;
    for p in pieces {
        let (lo, hi) = (start.max(base), end.min(base + p.len() as u64));
        if lo < hi {
            out.push(p.slice((lo - base) as usize..(hi - base) as usize));
        }
        base += p.len() as u64;
    }
    out.into_iter().collect()
}
