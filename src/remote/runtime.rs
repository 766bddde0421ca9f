//! The remote tier's async runtime: a few background threads of the
//! library (tokio's), started by the first remote operation of a process.
//!
//! A remote operation runs as a task on these threads while the calling
//! thread blocks on its result, so a caller needs no runtime of its own
//! and may even be inside someone else's (a `block_on` would panic there).
//!
//! fork(): a child has only the thread that forked, so its copy of the
//! runtime has no threads, and its copies of the clients hold the parent's
//! connections. The runtime is therefore kept per fork generation: a child's
//! first remote operation starts a runtime of its own, and the parent's
//! copy is left alone (never shut down or dropped: that would wait for
//! threads that do not exist here). A child re-opens the store before it
//! uses it (see `Store`), which builds its own clients too.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Stop;
use crate::error::{err, Error, Result};
use crate::platform;

/// Worker threads of the runtime: the work is waiting for the network and
/// copying what arrives, which a few threads do for any number of transfers.
const WORKERS: usize = 2;

struct Runtime {
    fork_generation: u64,
    handle: tokio::runtime::Handle,
}

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// The runtime of this process, started if it has none yet.
fn handle() -> Result<tokio::runtime::Handle> {
    let generation = platform::fork_generation();
    let mut rt = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = rt.as_ref() {
        if r.fork_generation == generation {
            return Ok(r.handle.clone());
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("objstore-remote")
        .enable_all()
        .build()
        .map_err(|e| Error::os("cannot start the remote tier's threads", e))?;
    let handle = runtime.handle().clone();
    // It serves the process until it exits.
    std::mem::forget(runtime);
    // A fork child's copy of the parent's runtime is forgotten, not dropped.
    if let Some(old) = rt.replace(Runtime { fork_generation: generation, handle: handle.clone() }) {
        std::mem::forget(old);
    }
    Ok(handle)
}

/// Chooses the TLS implementation for https endpoints, before any client
/// is built: rustls on ring, unless the program installed a provider of its
/// own before (then that one serves us too).
pub(crate) fn choose_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Runs `fut` on the runtime and waits for its result. The future must
/// end by itself (every remote operation has a deadline or bounded
/// retries); once this returns, nothing of it runs any more.
pub(crate) fn run<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    // The sender goes away without a value only if the task panicked.
    rx.recv().map_err(|_| err!(Panic, "a task of the remote tier panicked"))
}

/// `fut` cut off at `deadline` (None: never): Err(()) if it did not finish.
pub(crate) async fn until<T>(deadline: Option<Instant>, fut: impl Future<Output = T>) -> std::result::Result<T, ()> {
    match deadline {
        None => Ok(fut.await),
        Some(d) => tokio::time::timeout_at(tokio::time::Instant::from_std(d), fut).await.map_err(|_| ()),
    }
}

/// How often a request with a `Stop` looks at it: a cancelled caller is
/// answered within about this, however long the server takes.
const STOP_POLL: Duration = Duration::from_millis(1);

/// Why a request ended without its answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Its deadline passed.
    Deadline,
    /// Its `Stop` said so.
    Stopped,
}

/// `until`, also cut off once `stop` (if any) holds, looked at before the
/// request and then every `STOP_POLL`.
pub(crate) async fn until_or_stopped<T>(
    deadline: Option<Instant>,
    stop: Option<Stop>,
    fut: impl Future<Output = T>,
) -> std::result::Result<T, Ended> {
    let Some(stop) = stop else { return until(deadline, fut).await.map_err(|()| Ended::Deadline) };
    let stopped = async move {
        while !stop() {
            tokio::time::sleep(STOP_POLL).await;
        }
    };
    let request = until(deadline, fut);
    // The stop first: a caller cancelled already sends no request.
    match futures_util::future::select(std::pin::pin!(stopped), std::pin::pin!(request)).await {
        futures_util::future::Either::Left(((), _)) => Err(Ended::Stopped),
        futures_util::future::Either::Right((r, _)) => r.map_err(|()| Ended::Deadline),
    }
}
