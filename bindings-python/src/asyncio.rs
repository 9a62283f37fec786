//! Awaitables completed from core, for `zerobus.sdk.aio`: no thread per call. The Python layer
//! makes an `asyncio` future on its loop and hands it here with the loop; the core's future runs
//! as a task on the runtime, and its result is handed to the loop with
//! `loop.call_soon_threadsafe` from one settling thread. The runtime's workers never wait for
//! the GIL; the settling thread takes it once for every result that is ready.
//!
//! Cancelling the awaitable calls [`Task::cancel`], which aborts the core's future: an admission
//! waiting for room gives up its place in line and never queues (as in every binding).

use std::future::Future;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use zerobus_core::{PendingIngest, ZerobusResult};

use crate::{errors, runtime};

/// Builds the Python result under the GIL.
pub(crate) type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Settle {
    event_loop: Py<PyAny>,
    future: Py<PyAny>,
    result: ZerobusResult<Convert>,
}

/// `zerobus._asyncio._settle(future, exception, value)`: sets the result unless the future was
/// cancelled meanwhile.
static SETTLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn settle(py: Python<'_>, job: Settle) {
    let (exception, value) = match job.result.map_err(|e| errors::to_py(py, e)).and_then(|f| f(py)) {
        Ok(v) => (None, Some(v)),
        Err(e) => (Some(e.into_value(py)), None),
    };
    let done = SETTLE.import(py, "zerobus._asyncio", "_settle").and_then(|settle| {
        job.event_loop.bind(py).call_method1("call_soon_threadsafe", (settle, job.future, exception, value))
    });
    // Fails only when the loop is closed: nobody is waiting then.
    drop(done);
}

fn settler() -> &'static Mutex<mpsc::Sender<Settle>> {
    static SETTLER: OnceLock<Mutex<mpsc::Sender<Settle>>> = OnceLock::new();
    SETTLER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Settle>();
        std::thread::Builder::new()
            .name("zerobus-asyncio".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // None when the interpreter is gone: nobody is waiting then.
                    let _ = crate::attach(|py| {
                        settle(py, first);
                        while let Ok(next) = rx.try_recv() {
                            settle(py, next);
                        }
                    });
                }
            })
            .expect("the asyncio settling thread must start");
        Mutex::new(tx)
    })
}

/// Runs `work` on the runtime and completes `future` on `event_loop` with `convert` of its
/// result (or the exception of its error).
pub(crate) fn spawn<T, F>(
    event_loop: Bound<'_, PyAny>,
    future: Bound<'_, PyAny>,
    work: F,
    convert: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> Task
where
    T: Send + 'static,
    F: Future<Output = ZerobusResult<T>> + Send + 'static,
{
    let event_loop = event_loop.unbind();
    let future = future.unbind();
    let handle = runtime().spawn(async move {
        let result = work.await.map(|v| Box::new(move |py: Python<'_>| convert(py, v)) as Convert);
        let job = Settle { event_loop, future, result };
        let tx = settler().lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = tx.send(job);
    });
    Task { abort: handle.abort_handle() }
}

/// The core's side of one awaitable.
#[pyclass(module = "zerobus._core", frozen)]
pub struct Task {
    abort: tokio::task::AbortHandle,
}

#[pymethods]
impl Task {
    /// Stops the core's work for the awaitable (its result, if any, is not delivered).
    fn cancel(&self) {
        self.abort.abort();
    }
}

/// An ingest call waiting for room in the in-flight bounds; it already holds its place in line.
#[pyclass(module = "zerobus._core", frozen)]
pub struct Pending {
    inner: Mutex<Option<PendingIngest>>,
}

impl Pending {
    pub(crate) fn new(p: PendingIngest) -> Self {
        Pending { inner: Mutex::new(Some(p)) }
    }
}

#[pymethods]
impl Pending {
    /// Waits for room on the runtime, queues the call, and completes `future` with its offset
    /// (with `None` when `offset` is false: the `nowait` forms).
    #[pyo3(signature = (event_loop, future, offset=true))]
    fn _wait_async(
        &self,
        py: Python<'_>,
        event_loop: Bound<'_, PyAny>,
        future: Bound<'_, PyAny>,
        offset: bool,
    ) -> PyResult<Task> {
        let pending = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        let pending = pending.ok_or_else(|| errors::invalid(py, "this call was already waited for"))?;
        let convert: fn(Python<'_>, i64) -> PyResult<Py<PyAny>> = if offset {
            |py, offset| Ok(offset.into_pyobject(py)?.into_any().unbind())
        } else {
            |py, _| Ok(py.None())
        };
        Ok(spawn(event_loop, future, pending.wait(), convert))
    }
}
