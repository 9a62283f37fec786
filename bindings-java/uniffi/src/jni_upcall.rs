//! The fast path's upcalls into the JVM, from core threads: closing the Kotlin holder of a
//! no-copy Arrow batch's buffers once the core is done with them ([`JavaHolder`]), and completing
//! a Kotlin coroutine that waits for room ([`PendingWaiter`]). They use the invocation interface
//! directly (jni-sys), as `fast.rs` does the downcalls: a global reference per object, one method
//! call, no JNA.
//!
//! A core thread that makes an upcall is attached to the JVM once, as a daemon, and detached when
//! the thread ends (a thread-local guard). An exception thrown by the Kotlin method is cleared: it
//! must not reach the core (the methods called catch what they can themselves). If a thread
//! cannot be attached (the JVM is shutting down) the upcall is skipped and the reference left to
//! the JVM's exit rather than used from a thread it does not know.

use std::ffi::{c_void, CStr};
use std::ptr::null_mut;

use jni_sys::{jmethodID, jobject, jvalue, JNIEnv, JavaVM, JNI_EDETACHED, JNI_OK, JNI_VERSION_1_6};

/// A global reference to a Kotlin object, deleted on drop.
struct GlobalObject {
    vm: *mut JavaVM,
    object: jobject,
}

// SAFETY: a JavaVM pointer and a global reference may be used from any thread (JNI spec).
unsafe impl Send for GlobalObject {}
// SAFETY: as above; the reference is only read, and deleted once.
unsafe impl Sync for GlobalObject {}

impl GlobalObject {
    /// A global reference to `object` and the IDs of its methods `methods` (name, signature).
    /// `None` (with any exception cleared) if the VM, a method or the reference cannot be had.
    ///
    /// # Safety
    /// `env` is the current thread's live `JNIEnv` (a JNI entry point's first argument) and
    /// `object` a valid, non-null local reference on it.
    unsafe fn new<const N: usize>(
        env: *mut JNIEnv,
        object: jobject,
        methods: [(&CStr, &CStr); N],
    ) -> Option<(GlobalObject, [jmethodID; N])> {
        // SAFETY: per this function's contract; every table entry a JVM provides is Some.
        unsafe {
            let f = &**env;
            let class = (f.GetObjectClass?)(env, object);
            let mut ids = [null_mut(); N];
            for (id, (name, sig)) in ids.iter_mut().zip(methods) {
                *id = (f.GetMethodID?)(env, class, name.as_ptr(), sig.as_ptr());
            }
            (f.DeleteLocalRef?)(env, class);
            if ids.iter().any(|id| id.is_null()) {
                (f.ExceptionClear?)(env);
                return None;
            }
            let mut vm = null_mut();
            if (f.GetJavaVM?)(env, &mut vm) != JNI_OK {
                return None;
            }
            let global = (f.NewGlobalRef?)(env, object);
            if global.is_null() {
                (f.ExceptionClear?)(env);
                return None;
            }
            Some((GlobalObject { vm, object: global }, ids))
        }
    }

    /// Calls the void method `method` with `args` on this thread (attached if need be), clearing
    /// any exception it throws.
    fn call(&self, method: jmethodID, args: &[jvalue]) {
        // SAFETY: `vm` and `object` are live (see `new`), `method` is one of the object's methods
        // whose parameters `args` matches (the callers below pass what they looked up).
        unsafe {
            let Some(env) = attached_env(self.vm) else { return };
            call_void(env, self.object, method, args);
        }
    }
}

impl Drop for GlobalObject {
    fn drop(&mut self) {
        // SAFETY: a live VM and a global reference deleted only here.
        unsafe {
            if let Some(env) = attached_env(self.vm) {
                if let Some(delete) = (**env).DeleteGlobalRef {
                    delete(env, self.object);
                }
            }
        }
    }
}

/// Calls a void method, clearing any exception it throws.
///
/// # Safety
/// `env` is the current thread's; `object` a valid reference with `method`, taking `args`.
unsafe fn call_void(env: *mut JNIEnv, object: jobject, method: jmethodID, args: &[jvalue]) {
    // SAFETY: per this function's contract.
    unsafe {
        let f = &**env;
        if let (Some(call), Some(check), Some(clear)) =
            (f.CallVoidMethodA, f.ExceptionCheck, f.ExceptionClear)
        {
            call(env, object, method, args.as_ptr());
            if check(env) != 0 {
                clear(env);
            }
        }
    }
}

/// The owner of a no-copy batch's buffers: a Kotlin `AutoCloseable`, closed when dropped (after
/// the batch's rows are acknowledged, on a core thread; or on the calling thread when the call
/// fails).
pub(crate) struct JavaHolder {
    object: GlobalObject,
    close: jmethodID,
}

// SAFETY: see GlobalObject; a method ID stays valid while its class is loaded, which the global
// reference guarantees.
unsafe impl Send for JavaHolder {}
// SAFETY: as above.
unsafe impl Sync for JavaHolder {}

impl JavaHolder {
    /// A holder for `object` (an `AutoCloseable`). If none can be made, `object` has been closed
    /// here already and `None` comes back.
    ///
    /// # Safety
    /// As [`GlobalObject::new`].
    pub(crate) unsafe fn new(env: *mut JNIEnv, object: jobject) -> Option<JavaHolder> {
        // SAFETY: forwarded from the caller.
        unsafe {
            if let Some((object, [close])) = GlobalObject::new(env, object, [(c"close", c"()V")]) {
                return Some(JavaHolder { object, close });
            }
            // Close it now, through the caller's own reference, if its class has close.
            let f = &**env;
            if let (Some(class_of), Some(method_id), Some(clear)) =
                (f.GetObjectClass, f.GetMethodID, f.ExceptionClear)
            {
                let close = method_id(env, class_of(env, object), c"close".as_ptr(), c"()V".as_ptr());
                clear(env);
                if !close.is_null() {
                    call_void(env, object, close, &[]);
                }
            }
            None
        }
    }
}

impl Drop for JavaHolder {
    fn drop(&mut self) {
        self.object.call(self.close, &[]);
    }
}

/// A Kotlin `PendingWaiter` whose `complete(code: Long, slot: Long)` resumes the coroutine that
/// waits for room (`fast.rs`, `pendingAwait`). Completed exactly once: by [`complete`]
/// (Self::complete), or as it drops without (a panic, a cancelled wait, a runtime shut down) with
/// `FAILED` and error handle 0, which Kotlin reports as `INTERNAL` (or ignores, when its coroutine
/// was cancelled). The default value is an empty waiter that completes nothing.
#[derive(Default)]
pub(crate) struct PendingWaiter {
    target: Option<(GlobalObject, jmethodID)>,
}

// SAFETY: as for JavaHolder.
unsafe impl Send for PendingWaiter {}
// SAFETY: as above.
unsafe impl Sync for PendingWaiter {}

impl PendingWaiter {
    /// A waiter for `object` (a `PendingWaiter`), or `None` if no reference can be made.
    ///
    /// # Safety
    /// As [`GlobalObject::new`].
    pub(crate) unsafe fn new(env: *mut JNIEnv, object: jobject) -> Option<PendingWaiter> {
        // SAFETY: forwarded from the caller.
        unsafe { GlobalObject::new(env, object, [(c"complete", c"(JJ)V")]) }
            .map(|(object, [complete])| PendingWaiter { target: Some((object, complete)) })
    }

    /// Resumes the coroutine with the fast path's answer: an offset, or `FAILED` and an error
    /// handle.
    pub(crate) fn complete(&mut self, code: i64, slot: i64) {
        if let Some((object, complete)) = self.target.take() {
            object.call(complete, &[jvalue { j: code }, jvalue { j: slot }]);
        }
    }
}

impl Drop for PendingWaiter {
    fn drop(&mut self) {
        self.complete(crate::fast::FAILED, 0);
    }
}

/// Detaches the thread from the JVM when the thread ends, if this module attached it.
struct Detach(*mut JavaVM);

impl Drop for Detach {
    fn drop(&mut self) {
        // SAFETY: the VM that attached this thread; DetachCurrentThread answers an error (ignored)
        // if it is already gone.
        unsafe {
            if let Some(detach) = (**self.0).DetachCurrentThread {
                detach(self.0);
            }
        }
    }
}

thread_local! {
    static ATTACHED: std::cell::Cell<Option<Detach>> = const { std::cell::Cell::new(None) };
}

/// This thread's `JNIEnv`, attaching the thread once (as a daemon) if it is not attached.
///
/// # Safety
/// `vm` is a live JavaVM.
unsafe fn attached_env(vm: *mut JavaVM) -> Option<*mut JNIEnv> {
    let mut env: *mut c_void = null_mut();
    // SAFETY: per this function's contract.
    unsafe {
        let f = &**vm;
        let rc = (f.GetEnv?)(vm, &mut env, JNI_VERSION_1_6);
        if rc == JNI_OK {
            return Some(env.cast());
        }
        if rc != JNI_EDETACHED || (f.AttachCurrentThreadAsDaemon?)(vm, &mut env, null_mut()) != JNI_OK {
            return None;
        }
    }
    // A thread being torn down can no longer register the guard: then it stays attached, as
    // daemons may.
    let _ = ATTACHED.try_with(|a| a.set(Some(Detach(vm))));
    Some(env.cast())
}
