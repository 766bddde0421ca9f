//! `objstore.Canceller`: ends a blocked get or wait from another thread
//! (the core's `Canceller`, `os_canceller` in C). A get or wait given one
//! returns at once with objstore.Cancelled when another thread (or an
//! asyncio task's cancellation, see objstore._aio) calls `cancel`, with no
//! polling: the core wakes the wait's futex.

use objstore::Canceller;
use pyo3::prelude::*;

/// Cancels the gets and waits it is given to (``Store.get(...,
/// canceller=c)``, ``Store.wait``, ``objstore.wait``) from any thread: each
/// raises objstore.Cancelled at once, and so does every later one given the
/// same canceller, until ``reset``. An object already sealed is returned
/// whether or not the canceller is cancelled (only a wait is cancelled).
#[pyclass(frozen, module = "objstore", name = "Canceller")]
#[derive(Default)]
pub struct PyCanceller {
    pub inner: Canceller,
}

#[pymethods]
impl PyCanceller {
    #[new]
    fn new() -> Self {
        PyCanceller::default()
    }

    /// Cancel every wait under way with this canceller, and every later
    /// one until ``reset``.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// Whether ``cancel`` was called (since the last ``reset``).
    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// Make the canceller usable again for later waits.
    fn reset(&self) {
        self.inner.reset();
    }

    fn __repr__(&self) -> &'static str {
        if self.inner.is_cancelled() {
            "Canceller(cancelled)"
        } else {
            "Canceller()"
        }
    }
}
