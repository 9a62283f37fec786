//! # zerobus-python
//!
//! The native half of the Python package `zerobus` (`zerobus._core`). It only marshals: every
//! behaviour (auth, offsets, backpressure, recovery, option ranges, callbacks) is
//! `zerobus-core`'s. The published import paths (`zerobus.sdk.sync`, `zerobus.sdk.aio`,
//! `zerobus.sdk.shared`) are the thin Python layer in `python/zerobus`, over these classes.
//!
//! What this crate does, one file each:
//! - `records`: Python records to the core's records (`str`, `bytes`, protobuf messages, and
//!   `dict`s written as JSON by `json`, walking the objects once);
//! - `stream`: the stream class, whose sync methods are the public sync stream;
//! - `arrow_stream`: the same for Arrow streams (`ZerobusArrowStream`);
//! - `arrow`: Arrow data in and out through the Arrow PyCapsule interface (arrow-rs's C Data /
//!   C Stream FFI: no IPC round trip, no pyarrow on this side);
//! - `sdk`: the SDK class (create and recreate streams);
//! - `options`: the Python options object to the core's, and the core's defaults for Python;
//! - `callbacks`: the caller's `AckCallback` and `HeadersProvider` as the core's traits;
//! - `errors`: core errors as `ZerobusException` / `NonRetriableException`;
//! - `asyncio`: awaitables completed from core (no thread per call), and their cancellation.
//!
//! ## The GIL
//!
//! Every call that waits (for room in the in-flight bounds, acks, flush, close, a new stream)
//! waits with the GIL released ([`wait`]), and so does the core's own work on a call (queueing
//! a batch). The GIL is held only to read the caller's objects and to build results. Callbacks
//! take it only to call Python.
//!
//! ## Panics
//!
//! PyO3 turns a panic in a method into a `PanicException` on the caller; core threads never run
//! Python code except through `callbacks` and `asyncio`, which catch Python exceptions there.
#![warn(missing_docs)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use pyo3::prelude::*;

mod arrow;
mod arrow_stream;
mod asyncio;
mod callbacks;
mod errors;
mod json;
mod options;
mod records;
mod schema;
mod sdk;
mod stream;

use zerobus_core::{ErrorCode, ZerobusError, ZerobusResult};

/// The runtime every stream of the process runs on. Created on first use; lives until exit.
/// Its threads are not Python threads, so they never keep the interpreter from exiting.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("zerobus-worker")
            .enable_all()
            .build()
            .expect("the tokio runtime must start")
    })
}

/// How often a wait with the GIL released looks for a pending signal (Ctrl-C). This is not a
/// timeout: the wait goes on until the core's own call ends, or a signal handler raises.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs one of the core's waits to its end with the GIL released, so other Python threads run
/// meanwhile. A signal handler that raises (Ctrl-C's `KeyboardInterrupt`) ends the wait: the
/// core's future is dropped, which is its cancellation (an admission waiting for room gives up
/// its place in line and queues nothing).
///
/// Refused on a core thread (from inside a headers provider): waiting there would hold up the
/// very runtime the wait needs.
pub(crate) fn wait<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = ZerobusResult<T>> + Send,
    T: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(errors::to_py(
            py,
            ZerobusError::new(
                ErrorCode::InvalidArgument,
                "a stream cannot be waited on from a core thread (inside a headers provider); \
                 wait from your own thread instead",
            ),
        ));
    }
    let mut fut = std::pin::pin!(fut);
    loop {
        let polled = py.detach(|| {
            let polled = runtime().block_on(async { tokio::time::timeout(SIGNAL_CHECK, fut.as_mut()).await });
            stay_out_if_finalizing();
            polled
        });
        match polled {
            Ok(result) => return result.map_err(|e| errors::to_py(py, e)),
            Err(_) => py.check_signals()?,
        }
    }
}

/// Whether the interpreter is shutting down: from then on core threads call no Python.
static FINALIZING: AtomicBool = AtomicBool::new(false);
/// Held (shared) by every core thread while it runs Python; taken alone by [`shutdown`].
static GATE: RwLock<()> = RwLock::new(());

/// Runs `f` with the GIL on a core thread (callbacks, headers provider, asyncio results), or
/// not at all once the interpreter is shutting down. Why not just `Python::try_attach`: a thread
/// that asks for the GIL while the interpreter finalizes is ended by CPython with
/// `pthread_exit`, whose forced unwind through Rust frames aborts the process. So [`shutdown`],
/// run by `atexit` before finalization starts, closes this gate and waits for the threads
/// already inside to leave.
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    let _inside = GATE.read().unwrap_or_else(|p| p.into_inner());
    if FINALIZING.load(Ordering::Acquire) {
        return None;
    }
    Python::try_attach(f)
}

/// The thread that runs the interpreter's shutdown (it called [`_shutdown`]).
static FINALIZER: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// Called by a Python thread about to take the GIL back after a wait. Once the interpreter is
/// shutting down, CPython ends any other thread that asks for the GIL with `pthread_exit`, whose
/// forced unwind through Rust frames aborts the process; such a thread (a daemon thread still
/// waiting on a stream when the script ends) parks here instead, and the process ends under it.
fn stay_out_if_finalizing() {
    if FINALIZING.load(Ordering::Acquire) && FINALIZER.get() != Some(&std::thread::current().id()) {
        loop {
            std::thread::park();
        }
    }
}

/// Registered with `atexit`: closes the gate of [`attach`], then waits (without the GIL, which
/// the threads inside may need) until no core thread runs Python.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    let _ = FINALIZER.set(std::thread::current().id());
    FINALIZING.store(true, Ordering::Release);
    py.detach(|| drop(GATE.write().unwrap_or_else(|p| p.into_inner())));
}

/// The extension module `zerobus._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("VERSION", zerobus_core::VERSION)?;
    m.add("ERROR_CODES", ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>())?;
    m.add_class::<sdk::Sdk>()?;
    m.add_class::<stream::Stream>()?;
    m.add_class::<stream::StreamMetrics>()?;
    m.add_class::<arrow_stream::ArrowStream>()?;
    m.add_class::<arrow::ArrowBatch>()?;
    m.add_class::<arrow::ArrowSchema>()?;
    m.add_class::<schema::TableSchema>()?;
    m.add_class::<schema::Column>()?;
    m.add_class::<asyncio::Pending>()?;
    m.add_class::<asyncio::Task>()?;
    m.add_function(wrap_pyfunction!(options::default_options, m)?)?;
    m.add_function(wrap_pyfunction!(options::default_arrow_options, m)?)?;
    let shutdown = wrap_pyfunction!(_shutdown, m)?;
    m.py().import("atexit")?.call_method1("register", (shutdown,))?;
    Ok(())
}
