//! Blocking waits that Ctrl-C interrupts at once.
//!
//! A get or wait that blocks runs with the GIL released, so the Python
//! code that would raise KeyboardInterrupt cannot run until it returns.
//! CPython's own C-level signal handler only records the signal; the
//! Python-level handler (which raises KeyboardInterrupt) runs later, and
//! only on the main thread, when that thread holds the GIL and calls
//! `PyErr_CheckSignals` (`Python::check_signals`). From any other thread
//! that call does nothing, so a helper thread cannot detect the signal for
//! us, and we install nothing global (no handler of our own, no
//! `signal.set_wakeup_fd`, which asyncio owns).
//!
//! So the roles are swapped: on the main thread, the wait itself moves to
//! a helper thread, where it blocks in the core with a `Canceller` and no
//! slicing (it wakes exactly when the object is sealed, the timeout ends,
//! or it is cancelled), while the main thread, which is the only one that
//! can see a signal, sleeps on the helper's result with the GIL released
//! and, every `SIGNAL_POLL`, takes the GIL back just long enough to call
//! `check_signals` (cheap: it reads a flag). When that reports a signal,
//! the main thread cancels the canceller and raises at once (the handler's
//! exception: KeyboardInterrupt for Ctrl-C), without waiting for the
//! helper: a wait that asks a remote may take a while to see the cancel.
//! Whatever the helper got by then (pins) is released, by whichever of the
//! two threads comes second to the result slot. Off the main thread,
//! where no signal can be handled, the wait simply blocks in place.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use objstore::Canceller;
use pyo3::prelude::*;

/// How often the main thread looks for a pending signal while the helper
/// waits: the longest a Ctrl-C waits to be seen.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Where the helper leaves its result, or learns that it is no longer
/// wanted and must `undo` it itself.
struct Slot<T, U> {
    result: Option<T>,
    undo: Option<U>,
    abandoned: bool,
}

struct Shared<T, U> {
    slot: Mutex<Slot<T, U>>,
    ready: Condvar,
}

impl<T, U> Shared<T, U> {
    fn lock(&self) -> MutexGuard<'_, Slot<T, U>> {
        // The lock guards plain data only; a poisoned one is still sound.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether this is the thread Python runs signal handlers on.
fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    let threading = py.import("threading")?;
    let main = threading.call_method0("main_thread")?;
    let current = threading.call_method0("current_thread")?;
    Ok(main.is(&current))
}

/// Runs `wait` (a blocking call of the store, given a canceller to wait
/// with) with the GIL released, ending it at once when a signal handler
/// raises (Ctrl-C: KeyboardInterrupt), as the module docs describe. If the
/// wait is interrupted, `undo` gets what it returned, whenever it returns,
/// to release what it pinned. `given`: the caller's canceller (an
/// objstore.Canceller), which another thread may cancel too; a signal
/// cancels it as well, since the wait it was given to is abandoned.
pub fn wait_interruptibly<T, W, U>(py: Python<'_>, given: Option<&Canceller>, wait: W, undo: U) -> PyResult<T>
where
    T: Send + 'static,
    W: FnOnce(&Canceller) -> T + Send + 'static,
    U: FnOnce(T) + Send + 'static,
{
    let canceller = given.cloned().unwrap_or_default();
    if !on_main_thread(py)? {
        return Ok(py.detach(|| wait(&canceller)));
    }
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot { result: None, undo: Some(undo), abandoned: false }),
        ready: Condvar::new(),
    });
    // The helper takes the wait from this cell, so that it comes back (to
    // run here) if the thread cannot be started.
    let job = Arc::new(Mutex::new(Some(wait)));
    let spawned = {
        let (shared, job, canceller) = (shared.clone(), job.clone(), canceller.clone());
        std::thread::Builder::new().name("objstore-wait".into()).spawn(move || {
            let Some(wait) = job.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
            let r = wait(&canceller);
            let mut slot = shared.lock();
            if slot.abandoned {
                let undo = slot.undo.take();
                drop(slot);
                if let Some(undo) = undo {
                    undo(r);
                }
            } else {
                slot.result = Some(r);
                shared.ready.notify_one();
            }
        })
    };
    if spawned.is_err() {
        // No thread to be had: wait here, uninterruptibly, rather than fail.
        let wait = job.lock().unwrap_or_else(|p| p.into_inner()).take();
        let wait = wait.expect("a helper that did not start took nothing");
        return Ok(py.detach(|| wait(&canceller)));
    }
    loop {
        let got = py.detach(|| {
            let slot = shared.lock();
            let (mut slot, _) = shared
                .ready
                .wait_timeout_while(slot, SIGNAL_POLL, |s| s.result.is_none())
                .unwrap_or_else(|p| p.into_inner());
            slot.result.take()
        });
        if let Some(r) = got {
            return Ok(r);
        }
        if let Err(raised) = py.check_signals() {
            canceller.cancel();
            let mut slot = shared.lock();
            match slot.result.take() {
                // The helper finished meanwhile: release what it got here,
                // so that nothing stays pinned behind the exception.
                Some(r) => {
                    let undo = slot.undo.take();
                    drop(slot);
                    if let Some(undo) = undo {
                        undo(r);
                    }
                }
                // It is still waiting (cancelled now): it undoes its own
                // result when it comes back.
                None => slot.abandoned = true,
            }
            return Err(raised);
        }
    }
}
