//! `put`, `get` and `rm`: objects in, out, and away.
//!
//! `put` of a regular file creates the object at its final size and reads
//! the file straight into the shared mapping (one copy, no buffer), then
//! seals it; input of unknown size (stdin, a pipe) is read whole first.
//! `get` writes straight from the pinned, zero-copy view. Both copy in
//! chunks, moving the progress bar and noticing Ctrl-C between chunks; an
//! interrupted put aborts its unsealed object.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use objstore::{Creating, ErrorKind, Object, ObjectId, ObjectState, Store};

use crate::args::{GetArgs, PublishArgs, PutArgs, RmArgs};
use crate::exit::{self, Failure};
use crate::units::format_timeout;
use crate::{emit, interrupt, open, progress};

/// What `put` stores.
enum Input {
    /// Read whole already (stdin, a pipe, a device).
    Bytes(Vec<u8>),
    /// A regular file of known length, read straight into the store.
    File { file: File, len: u64, path: PathBuf },
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

impl Input {
    fn open(path: &Path) -> Result<Input, Failure> {
        let mut bytes = Vec::new();
        if is_stdin(path) {
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(|e| Failure::file("cannot read standard input", e))?;
            return Ok(Input::Bytes(bytes));
        }
        let shown = path.display();
        let mut file = File::open(path).map_err(|e| Failure::file(format!("cannot open '{shown}'"), e))?;
        let meta = file.metadata().map_err(|e| Failure::file(format!("cannot stat '{shown}'"), e))?;
        if meta.is_dir() {
            return Err(Failure::usage(format!("'{shown}' is a directory")));
        }
        if meta.is_file() {
            return Ok(Input::File { file, len: meta.len(), path: path.to_path_buf() });
        }
        file.read_to_end(&mut bytes).map_err(|e| Failure::file(format!("cannot read '{shown}'"), e))?;
        Ok(Input::Bytes(bytes))
    }
}

fn read_meta(args: &PutArgs) -> Result<Vec<u8>, Failure> {
    match (&args.meta, &args.meta_file) {
        (Some(text), _) => Ok(text.clone().into_bytes()),
        (None, Some(path)) => {
            std::fs::read(path).map_err(|e| Failure::file(format!("cannot read '{}'", path.display()), e))
        }
        (None, None) => Ok(Vec::new()),
    }
}

/// A failed put, create or seal of `id`, with what to do about it.
fn put_failure(name: &str, id: Option<&ObjectId>, e: objstore::Error) -> Failure {
    let kind = e.kind();
    let f = Failure::from(e);
    match kind {
        ErrorKind::AlreadyExists => match id {
            Some(id) => f.hint(format!("`objstore rm {name} {id}` deletes the object that has this ID")),
            None => f,
        },
        ErrorKind::OutOfMemory => f.hint(format!(
            "the store is full: `objstore ls {name} --sort size -r` shows the largest objects, `objstore rm` deletes them"
        )),
        _ => f,
    }
}

pub fn put(args: PutArgs) -> Result<(), Failure> {
    let meta = read_meta(&args)?;
    // Input of unknown size is read before attaching, so that Ctrl-C while
    // it is being typed or piped in simply ends the command.
    let input = Input::open(&args.file)?;
    interrupt::install();
    let store = open::existing(&args.name)?;
    let id = match input {
        Input::Bytes(data) => match args.id {
            Some(id) => store.put_as(&id, &data, &meta).map(|()| id),
            None => store.put_with_meta(&data, &meta),
        }
        .map_err(|e| put_failure(&args.name, args.id.as_ref(), e))?,
        Input::File { file, len, path } => {
            let mut creating = create(&store, &args.name, args.id, len, &meta)?;
            let id = *creating.id();
            fill(&mut creating, file, &path, progress::bar(len, "put", !args.no_progress))?;
            creating.seal().map_err(|e| put_failure(&args.name, Some(&id), e))?;
            id
        }
    };
    drop(store);
    emit(&format!("{id}\n"))
}

/// Creates the object to be filled in place, under `id` or a fresh one.
fn create<'s>(
    store: &'s Store,
    name: &str,
    id: Option<ObjectId>,
    len: u64,
    meta: &[u8],
) -> Result<Creating<'s>, Failure> {
    let len =
        usize::try_from(len).map_err(|_| Failure::new(exit::TOO_LARGE, format!("{len} bytes do not fit in memory")))?;
    let mut attempts = 0;
    loop {
        let chosen = match id {
            Some(id) => id,
            None => store.new_id(),
        };
        match store.create(&chosen, len, meta) {
            Ok(c) => return Ok(c),
            // A fresh ID that is taken: draw again (only a bug makes this loop).
            Err(e) if e.kind() == ErrorKind::AlreadyExists && id.is_none() && attempts < 3 => attempts += 1,
            Err(e) => return Err(put_failure(name, id.as_ref(), e)),
        }
    }
}

/// Reads exactly the file's length into the object being created.
fn fill(creating: &mut Creating<'_>, mut file: File, path: &Path, bar: ProgressBar) -> Result<(), Failure> {
    let shown = path.display();
    let data = creating.data_mut();
    let len = data.len();
    let mut done = 0;
    while done < len {
        if interrupt::interrupted() {
            // Dropping `creating` aborts the object.
            return Err(Failure::interrupted());
        }
        let end = (done + progress::CHUNK).min(len);
        match file.read(&mut data[done..end]) {
            Ok(0) => {
                return Err(Failure::new(
                    exit::IO,
                    format!("'{shown}' ended after {done} of its {len} bytes (did it change while being read?)"),
                ))
            }
            Ok(n) => {
                done += n;
                bar.inc(n as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::file(format!("cannot read '{shown}'"), e)),
        }
    }
    let mut more = [0u8; 1];
    if matches!(file.read(&mut more), Ok(n) if n > 0) {
        return Err(Failure::new(exit::IO, format!("'{shown}' grew while being read (it had {len} bytes)")));
    }
    bar.finish_and_clear();
    Ok(())
}

/// Gets and pins `id`, waiting up to `timeout` (None: forever) for its seal,
/// in short slices so that Ctrl-C is noticed.
fn fetch<'s>(store: &'s Store, name: &str, id: &ObjectId, timeout: Option<Duration>) -> Result<Object<'s>, Failure> {
    if timeout == Some(Duration::ZERO) {
        return store.get(id, Some(Duration::ZERO)).map_err(|e| missing(store, name, id, e));
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        if interrupt::interrupted() {
            return Err(Failure::interrupted());
        }
        let slice = match deadline {
            None => interrupt::SLICE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let waited = format_timeout(timeout.unwrap_or_default());
                    return Err(Failure::new(exit::TIMEOUT, format!("object {id} was not sealed within {waited}")));
                }
                left.min(interrupt::SLICE)
            }
        };
        match store.get(id, Some(slice)) {
            Ok(obj) => return Ok(obj),
            Err(e) if e.kind() == ErrorKind::Timeout => continue,
            Err(e) => return Err(missing(store, name, id, e)),
        }
    }
}

/// Explains a failed get: an object that is there but not readable says
/// why (still being created, or deleted).
fn missing(store: &Store, name: &str, id: &ObjectId, e: objstore::Error) -> Failure {
    if e.kind() != ErrorKind::NotFound {
        return e.into();
    }
    let found = store.list().ok().and_then(|all| all.into_iter().find(|o| o.id == *id));
    match found.map(|o| (o.state, o.pinning_processes)) {
        Some((ObjectState::Unsealed, _)) => Failure::new(exit::NOT_SEALED, format!("object {id} is not sealed yet"))
            .hint("`--timeout DURATION` waits for its creator to seal it"),
        Some((ObjectState::Deleted, pins)) => Failure::new(
            exit::NOT_FOUND,
            format!(
                "object {id} was deleted (its memory is freed when the last of {pins} pinning processes releases it)"
            ),
        ),
        _ => Failure::new(exit::NOT_FOUND, format!("object {id} not found in store '{name}'"))
            .hint(format!("`objstore ls {name}` lists the objects; `--timeout DURATION` waits for one to be sealed")),
    }
}

/// Writes `bytes` in chunks, moving the bar and noticing Ctrl-C.
fn copy_out(
    bytes: &[u8],
    out: &mut dyn Write,
    bar: &ProgressBar,
    fail: &dyn Fn(std::io::Error) -> Failure,
) -> Result<(), Failure> {
    for chunk in bytes.chunks(progress::CHUNK) {
        if interrupt::interrupted() {
            return Err(Failure::interrupted());
        }
        out.write_all(chunk).map_err(fail)?;
        bar.inc(chunk.len() as u64);
    }
    out.flush().map_err(fail)
}

pub fn get(args: GetArgs) -> Result<(), Failure> {
    interrupt::install();
    let store = open::existing(&args.name)?;
    let obj = fetch(&store, &args.name, &args.id, args.timeout.0)?;
    let bytes = if args.meta { obj.meta() } else { obj.data() };
    let bar = progress::bar(bytes.len() as u64, "get", !args.no_progress);
    match args.output.as_deref().filter(|p| !is_stdin(p)) {
        Some(path) => {
            let shown = path.display();
            let mut file = File::create(path).map_err(|e| Failure::file(format!("cannot create '{shown}'"), e))?;
            copy_out(bytes, &mut file, &bar, &|e| Failure::file(format!("cannot write '{shown}'"), e))?;
        }
        None => copy_out(bytes, &mut std::io::stdout().lock(), &bar, &Failure::output)?,
    }
    bar.finish_and_clear();
    Ok(())
}

pub fn rm(args: RmArgs) -> Result<(), Failure> {
    let store = open::existing(&args.name)?;
    // Every ID is tried; the exit code is that of the first failure.
    let mut first_failure = None;
    for id in &args.ids {
        let failure = match store.delete(id) {
            Ok(()) => {
                if args.verbose {
                    emit(&format!("removed {id}\n"))?;
                }
                continue;
            }
            Err(e) if e.kind() == ErrorKind::NotFound && args.force => continue,
            Err(e) if e.kind() == ErrorKind::NotSealed => {
                Failure::from(e).hint("its creator must seal or abort it first (or die: `objstore gc` then aborts it)")
            }
            Err(e) => Failure::from(e),
        };
        failure.report();
        first_failure.get_or_insert(failure.code);
    }
    match first_failure {
        None => Ok(()),
        // Already reported, one line per ID.
        Some(code) => Err(Failure::new(code, "")),
    }
}

/// `publish` (or `unpublish`, with `publish` false): every ID is tried; the
/// exit code is that of the first failure.
pub fn publish(args: PublishArgs, publish: bool) -> Result<(), Failure> {
    let store = open::existing(&args.name)?;
    if store.remote_url().is_none() {
        return Err(Failure::usage(format!("store '{}' has no remote", args.name)).hint(format!(
            "a store gets one when it is created: `objstore create {} --remote s3://BUCKET/PREFIX`",
            args.name
        )));
    }
    let remote = store.remote_url().unwrap_or_default().to_string();
    let mut first_failure = None;
    for id in &args.ids {
        let done = if publish { store.publish(id, args.timeout.0) } else { store.unpublish(id, args.timeout.0) };
        let failure = match done {
            Ok(()) => {
                if args.verbose {
                    let verb = if publish { "published" } else { "unpublished" };
                    emit(&format!("{verb} {id} ({remote})\n"))?;
                }
                continue;
            }
            Err(e) if e.kind() == ErrorKind::NotSealed => Failure::from(e).hint("its creator must seal it first"),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                Failure::from(e).hint("the credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            }
            Err(e) => Failure::from(e),
        };
        failure.report();
        first_failure.get_or_insert(failure.code);
    }
    match first_failure {
        None => Ok(()),
        Some(code) => Err(Failure::new(code, "")),
    }
}
