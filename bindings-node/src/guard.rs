//! Panics never unwind into Node: the guards every export runs under, and the debug-only hooks
//! the tests use to make each place panic on purpose (see the crate docs).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use zerobus_core::{ErrorCode, ZerobusError};

use crate::to_js_error;

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// The `INTERNAL` error a caught panic becomes. The payload is dropped inside `catch_unwind`
/// (a payload whose `Drop` panics again is leaked instead of unwinding into Node).
pub(crate) fn panic_error(payload: Box<dyn std::any::Any + Send>) -> napi::Error {
    let text = panic_text(&*payload);
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
    to_js_error(ZerobusError::new(
        ErrorCode::Internal,
        format!("the Node binding panicked (a bug: please report it): {text}"),
    ))
}

/// Runs `f`, turning a panic into [`panic_error`].
pub(crate) fn guard_sync<T>(f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panic_error(p)))
}

/// Drops `value` inside `catch_unwind`: for finalizers, which run on the JavaScript thread where a
/// panic must not escape and nothing can be reported.
pub(crate) fn drop_quietly<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(again);
        }
    }
}

/// A future whose panics, while it is polled, become an `INTERNAL` error (see [`guarded`]).
pub(crate) struct CatchUnwind<F>(Pin<Box<F>>);

impl<T, F: Future<Output = napi::Result<T>>> Future for CatchUnwind<F> {
    type Output = napi::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // After a panic this returns `Ready`, so the inner future is never polled again.
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(panic_error(payload))),
        }
    }
}

/// The body of every `async` export: a panic while it runs rejects the promise with `INTERNAL`
/// instead of taking down a runtime thread (napi-rs would reject with an untagged error).
pub(crate) fn guarded<T, F: Future<Output = napi::Result<T>>>(fut: F) -> CatchUnwind<F> {
    CatchUnwind(Box::pin(fut))
}

/// Test-only: makes a named place of the binding panic once, so the tests can check that a panic
/// becomes a JavaScript error instead of aborting Node (`test/panic.test.mjs`).
///
/// Compiled only into debug builds (`make node-build`; the release addon of `make
/// node-bench-build` and of a package has none of it), and even there `testArmPanic` refuses
/// unless the process was started with `ZEROBUS_NODE_TEST_HOOKS=1`. It is not part of the
/// package's API: `index.js` does not export it.
#[cfg(debug_assertions)]
// In `cargo test` builds napi-rs registers nothing, so the export looks unused there.
#[cfg_attr(test, allow(dead_code))]
mod test_hooks {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use napi_derive::napi;

    /// The places that can be armed; `trip(place)` is called at each.
    pub(crate) const PLACES: [&str; 13] = [
        "errorCodes",
        "NativeSdk.constructor",
        "NativeSdk.createStream",
        "NativeSdk.getTableSchema",
        "NativeStream.metrics",
        "NativeStream.flush",
        "NativeStream.queueBatch",
        "NativePending.wait",
        "fast.one",
        "fast.texts",
        "NativeSdk.createArrowStream",
        "NativeArrowStream.queueIpc",
        "NativeArrowStream.queueColumns",
    ];

    static ANY: AtomicBool = AtomicBool::new(false);
    static ARMED: Mutex<Option<&'static str>> = Mutex::new(None);

    /// Panics if `place` is armed (and disarms it).
    pub(crate) fn trip(place: &str) {
        if !ANY.load(Ordering::Relaxed) {
            return;
        }
        let hit = {
            let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
            if *armed == Some(place) {
                *armed = None;
                ANY.store(false, Ordering::Relaxed);
                true
            } else {
                false
            }
        };
        if hit {
            panic!("test panic at {place}");
        }
    }

    /// Test-only (debug builds, `ZEROBUS_NODE_TEST_HOOKS=1`): the next call that reaches `place`
    /// panics. Throws `INVALID_ARGUMENT` when the hooks are off or `place` is unknown.
    #[napi(catch_unwind)]
    pub fn test_arm_panic(place: String) -> napi::Result<()> {
        if std::env::var("ZEROBUS_NODE_TEST_HOOKS").as_deref() != Ok("1") {
            return Err(crate::invalid("test hooks are off (set ZEROBUS_NODE_TEST_HOOKS=1)"));
        }
        let place = PLACES
            .into_iter()
            .find(|p| *p == place)
            .ok_or_else(|| crate::invalid(format!("unknown test place {place:?}; known: {PLACES:?}")))?;
        *ARMED.lock().unwrap_or_else(|p| p.into_inner()) = Some(place);
        ANY.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// Panics if the test hooks armed `place` (debug builds only; nothing in release builds).
#[inline(always)]
pub(crate) fn trip(place: &str) {
    #[cfg(debug_assertions)]
    test_hooks::trip(place);
    #[cfg(not(debug_assertions))]
    let _ = place;
}
