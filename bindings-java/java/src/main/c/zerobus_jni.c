/*
 * zerobus_jni.c: the JNI shim between com.databricks.zerobus.NativeBindings and the C ABI
 * (ffi-c/include/zerobus.h). Marshalling only: every decision is the library's.
 *
 * Threads: callbacks (acks, errors, headers provider, release) arrive on library threads. The
 * first callback on a thread attaches it to the JVM as a daemon thread, once; it stays attached
 * and a pthread key destructor detaches it when the thread exits.
 *
 * Exceptions: no Java exception ever reaches the library. The Java bridges (AckBridge,
 * HeadersBridge) catch what user code throws; as a second net every callback here clears a
 * pending exception (ExceptionCheck / ExceptionClear) before it returns to the library, without
 * printing it. A headers provider's failure crosses as the zerobus_code HeadersBridge returns
 * (and the message it set with zerobus_headers_set_error).
 *
 * Callback state: each Java callback object (an AckBridge or a HeadersBridge) is held by one
 * global reference inside a zj_ref, shared by two owners: the library (dropped in its `release`
 * callback) and the Java stream (dropped by NativeBindings.refRelease when the stream is closed
 * or freed, or at once when creation fails). The global reference is deleted as soon as either
 * owner lets go (no callback runs after zerobus_stream_close returns), the struct when both have.
 *
 * Handles: every library object is a handle from the library's handle table (an opaque number);
 * a freed or forged one is ZEROBUS_ERROR_INVALID_ARGUMENT from the library, never dereferenced
 * here. The only pointers this file owns are zj_refs, which Java holds in ZerobusStream.State
 * and drops once (synchronized, zeroed after the drop).
 */
#include <jni.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zerobus.h"

#define JNI_VER JNI_VERSION_1_8
#define STACK_COPY 4096

static JavaVM *g_vm;
static pthread_key_t g_detach_key;

static jclass g_exception_class;   /* com.databricks.zerobus.ZerobusException */
static jmethodID g_exception_from_native;
static jclass g_npe_class;         /* java.lang.NullPointerException */
static jclass g_illegal_class;     /* java.lang.IllegalArgumentException */
static jmethodID g_ack_bridge_ack; /* AckBridge.ack(long) */
static jmethodID g_ack_bridge_error; /* AckBridge.error(long, byte[]) */
static jmethodID g_headers_bridge_collect; /* HeadersBridge.collect(long) -> int (a zerobus_code) */
static jclass g_bytes_class;       /* byte[] */
static jclass g_bytes2_class;      /* byte[][] */
static jclass g_object_class;      /* java.lang.Object */
static jmethodID g_closeable_close; /* java.lang.AutoCloseable.close() */

/* ---------- threads ---------- */

static void detach_thread(void *value) {
    (void)value;
    if (g_vm != NULL) {
        (*g_vm)->DetachCurrentThread(g_vm);
    }
}

/* The JNIEnv of the current (library) thread, attaching it once. NULL if that fails. */
static JNIEnv *callback_env(void) {
    JNIEnv *env = NULL;
    jint rc = (*g_vm)->GetEnv(g_vm, (void **)&env, JNI_VER);
    if (rc == JNI_OK) {
        return env;
    }
    if (rc != JNI_EDETACHED) {
        return NULL;
    }
    JavaVMAttachArgs args = {JNI_VER, (char *)"zerobus-callback", NULL};
    if ((*g_vm)->AttachCurrentThreadAsDaemon(g_vm, (void **)&env, &args) != JNI_OK) {
        return NULL; /* the callback is dropped; a headers provider reports it as its failure */
    }
    pthread_setspecific(g_detach_key, (void *)1);
    return env;
}

/* Clears a Java exception a callback left pending (the bridges catch user exceptions first, so
 * this is the second net): it never reaches the library and the thread stays usable. */
static int clear_exception(JNIEnv *env) {
    if ((*env)->ExceptionCheck(env)) {
        (*env)->ExceptionClear(env);
        return 1;
    }
    return 0;
}

/* ---------- shared callback reference ---------- */

typedef struct zj_ref {
    atomic_int owners;
    pthread_mutex_t mu;
    jobject ref; /* global reference, NULL once an owner let go */
} zj_ref;

static zj_ref *zj_ref_new(JNIEnv *env, jobject obj) {
    zj_ref *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    r->ref = (*env)->NewGlobalRef(env, obj);
    if (r->ref == NULL) {
        free(r);
        return NULL;
    }
    atomic_init(&r->owners, 2);
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

/* One owner lets go: deletes the global reference (if still there) and frees on the last. */
static void zj_ref_drop(JNIEnv *env, zj_ref *r) {
    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    if (r->ref != NULL && env != NULL) {
        (*env)->DeleteGlobalRef(env, r->ref);
        r->ref = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (atomic_fetch_sub(&r->owners, 1) == 1) {
        pthread_mutex_destroy(&r->mu);
        free(r);
    }
}

static void release_tramp(void *user_data) {
    zj_ref_drop(callback_env(), (zj_ref *)user_data);
}

/* Pushes a local frame for a callback; false (with nothing pending) if the JVM cannot. */
static bool push_frame(JNIEnv *env, jint capacity) {
    if ((*env)->PushLocalFrame(env, capacity) != 0) {
        clear_exception(env); /* OutOfMemoryError */
        return false;
    }
    return true;
}

static void ack_tramp(void *user_data, int64_t offset) {
    zj_ref *r = user_data;
    JNIEnv *env = callback_env();
    if (env == NULL || !push_frame(env, 8)) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    if (r->ref != NULL) {
        (*env)->CallVoidMethod(env, r->ref, g_ack_bridge_ack, (jlong)offset);
        clear_exception(env);
    }
    pthread_mutex_unlock(&r->mu);
    (*env)->PopLocalFrame(env, NULL);
}

static void ack_error_tramp(void *user_data, int64_t offset, const char *message) {
    zj_ref *r = user_data;
    JNIEnv *env = callback_env();
    if (env == NULL || !push_frame(env, 8)) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    if (r->ref != NULL) {
        size_t len = message != NULL ? strlen(message) : 0;
        jbyteArray bytes = (*env)->NewByteArray(env, (jsize)len);
        if (bytes != NULL) {
            (*env)->SetByteArrayRegion(env, bytes, 0, (jsize)len, (const jbyte *)message);
            (*env)->CallVoidMethod(env, r->ref, g_ack_bridge_error, (jlong)offset, bytes);
        }
        clear_exception(env);
    }
    pthread_mutex_unlock(&r->mu);
    (*env)->PopLocalFrame(env, NULL);
}

/* Asks the Java provider (HeadersBridge.collect), which adds the headers itself through
 * NativeBindings.headersAdd / headersSetError and returns ZEROBUS_OK or the code of its failure. */
static int32_t headers_tramp(void *user_data, zerobus_headers *headers) {
    zj_ref *r = user_data;
    JNIEnv *env = callback_env();
    if (env == NULL) {
        zerobus_headers_set_error(headers, "zerobus-jni: cannot attach the library thread to the JVM");
        return ZEROBUS_ERROR_INTERNAL;
    }
    if (!push_frame(env, 16)) {
        zerobus_headers_set_error(headers, "zerobus-jni: the JVM is out of memory");
        return ZEROBUS_ERROR_UNAVAILABLE;
    }
    int32_t rc;
    pthread_mutex_lock(&r->mu);
    if (r->ref != NULL) {
        rc = (int32_t)(*env)->CallIntMethod(env, r->ref, g_headers_bridge_collect,
                                            (jlong)(intptr_t)headers);
        if (clear_exception(env)) {
            /* Only if HeadersBridge itself failed (e.g. out of memory while reporting). */
            zerobus_headers_set_error(headers, "the headers provider threw while reporting its failure");
            rc = ZEROBUS_ERROR_UNAVAILABLE;
        }
    } else {
        zerobus_headers_set_error(headers, "the stream was closed (its headers provider released)");
        rc = ZEROBUS_ERROR_STREAM_CLOSED;
    }
    pthread_mutex_unlock(&r->mu);
    (*env)->PopLocalFrame(env, NULL);
    return rc;
}

/* ---------- errors ---------- */

/* Throws the ZerobusException for `err` and frees it. */
static void throw_error(JNIEnv *env, zerobus_error *err) {
    if ((*env)->ExceptionCheck(env)) {
        zerobus_error_free(err);
        return;
    }
    const char *msg = zerobus_error_message(err);
    size_t len = strlen(msg);
    jbyteArray bytes = (*env)->NewByteArray(env, (jsize)len);
    if (bytes == NULL) {
        zerobus_error_free(err);
        return;
    }
    (*env)->SetByteArrayRegion(env, bytes, 0, (jsize)len, (const jbyte *)msg);
    jobject ex = (*env)->CallStaticObjectMethod(env, g_exception_class, g_exception_from_native,
                                                (jint)zerobus_error_code(err),
                                                (jint)zerobus_error_grpc_status(err),
                                                (jboolean)zerobus_error_is_retryable(err), bytes);
    zerobus_error_free(err);
    if (ex != NULL && !(*env)->ExceptionCheck(env)) {
        (*env)->Throw(env, (jthrowable)ex);
    }
}

static void throw_npe(JNIEnv *env, const char *what) {
    (*env)->ThrowNew(env, g_npe_class, what);
}

/* A copy of a NUL-terminated byte[] (from NativeBindings.cstr); NULL for a null array. */
static char *cstr(JNIEnv *env, jbyteArray arr) {
    if (arr == NULL) {
        return NULL;
    }
    jsize n = (*env)->GetArrayLength(env, arr);
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, arr, 0, n, (jbyte *)s);
    s[n] = '\0';
    return s;
}

/* ---------- load ---------- */

static jclass global_class(JNIEnv *env, const char *name) {
    jclass local = (*env)->FindClass(env, name);
    if (local == NULL) {
        return NULL;
    }
    jclass global = (*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    return global;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    g_vm = vm;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VER) != JNI_OK) {
        return JNI_ERR;
    }
    if (pthread_key_create(&g_detach_key, detach_thread) != 0) {
        return JNI_ERR;
    }
    g_exception_class = global_class(env, "com/databricks/zerobus/ZerobusException");
    g_npe_class = global_class(env, "java/lang/NullPointerException");
    g_illegal_class = global_class(env, "java/lang/IllegalArgumentException");
    g_bytes_class = global_class(env, "[B");
    g_bytes2_class = global_class(env, "[[B");
    g_object_class = global_class(env, "java/lang/Object");
    jclass closeable = (*env)->FindClass(env, "java/lang/AutoCloseable");
    g_closeable_close = closeable == NULL ? NULL : (*env)->GetMethodID(env, closeable, "close", "()V");
    if (g_closeable_close == NULL) {
        return JNI_ERR;
    }
    jclass ack = (*env)->FindClass(env, "com/databricks/zerobus/AckBridge");
    jclass headers = (*env)->FindClass(env, "com/databricks/zerobus/HeadersBridge");
    if (g_exception_class == NULL || g_npe_class == NULL || g_illegal_class == NULL ||
        g_bytes_class == NULL || g_bytes2_class == NULL || g_object_class == NULL || ack == NULL ||
        headers == NULL) {
        return JNI_ERR;
    }
    g_exception_from_native = (*env)->GetStaticMethodID(
        env, g_exception_class, "fromNative", "(IIZ[B)Lcom/databricks/zerobus/ZerobusException;");
    g_ack_bridge_ack = (*env)->GetMethodID(env, ack, "ack", "(J)V");
    g_ack_bridge_error = (*env)->GetMethodID(env, ack, "error", "(J[B)V");
    g_headers_bridge_collect = (*env)->GetMethodID(env, headers, "collect", "(J)I");
    if (g_exception_from_native == NULL || g_ack_bridge_ack == NULL || g_ack_bridge_error == NULL ||
        g_headers_bridge_collect == NULL) {
        return JNI_ERR;
    }
    return JNI_VER;
}

#define FN(name) Java_com_databricks_zerobus_NativeBindings_##name
#define STREAM(h) ((const zerobus_stream *)(intptr_t)(h))

JNIEXPORT jstring JNICALL FN(version)(JNIEnv *env, jclass cls) {
    (void)cls;
    return (*env)->NewStringUTF(env, zerobus_version());
}

/* ---------- SDK ---------- */

JNIEXPORT jlong JNICALL FN(sdkNew)(JNIEnv *env, jclass cls, jbyteArray endpoint, jbyteArray workspace,
                                   jbyteArray sdk_name, jbyteArray app_name, jbyteArray ca_pem) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_sdk *sdk = NULL;
    char *ep = cstr(env, endpoint), *ws = cstr(env, workspace), *sn = cstr(env, sdk_name),
         *an = cstr(env, app_name);
    zerobus_sdk_builder *b = zerobus_sdk_builder_new();
    bool ok = b != NULL && zerobus_sdk_builder_set_endpoint(b, ep, &err) &&
              zerobus_sdk_builder_set_workspace_url(b, ws, &err) &&
              (sn == NULL || zerobus_sdk_builder_set_sdk_name(b, sn, &err)) &&
              (an == NULL || zerobus_sdk_builder_set_application_name(b, an, &err));
    if (ok && ca_pem != NULL) {
        jsize n = (*env)->GetArrayLength(env, ca_pem);
        jbyte *pem = (*env)->GetByteArrayElements(env, ca_pem, NULL);
        ok = pem != NULL && zerobus_sdk_builder_add_ca_pem(b, (const uint8_t *)pem, (size_t)n, &err);
        if (pem != NULL) (*env)->ReleaseByteArrayElements(env, ca_pem, pem, JNI_ABORT);
    }
    if (ok) {
        sdk = zerobus_sdk_builder_build(b, &err);
    }
    zerobus_sdk_builder_free(b);
    free(ep);
    free(ws);
    free(sn);
    free(an);
    if (sdk == NULL) {
        if (err != NULL) throw_error(env, err);
        else if (!(*env)->ExceptionCheck(env)) throw_npe(env, "zerobus: could not build the SDK");
        return 0;
    }
    return (jlong)(intptr_t)sdk;
}

JNIEXPORT void JNICALL FN(sdkFree)(JNIEnv *env, jclass cls, jlong sdk) {
    (void)env;
    (void)cls;
    zerobus_sdk_free((zerobus_sdk *)(intptr_t)sdk);
}

/* Option slots, in the order of StreamConfigurationOptions.toNative(), then OPT_SET: the bit mask
 * of the slots that were set (bit i = slot i). Values are passed through as they are: a negative
 * Java long becomes a huge unsigned value, which the library rejects at stream creation with a
 * message naming the option and its range. */
enum {
    OPT_MAX_INFLIGHT_REQUESTS, OPT_MAX_INFLIGHT_BYTES, OPT_RECOVERY, OPT_RECOVERY_TIMEOUT_MS,
    OPT_RECOVERY_BACKOFF_MS, OPT_RECOVERY_RETRIES, OPT_SERVER_LACK_OF_ACK_TIMEOUT_MS,
    OPT_FLUSH_TIMEOUT_MS, OPT_STREAM_PAUSED_MAX_WAIT_TIME_MS, OPT_CALLBACK_MAX_WAIT_TIME_MS,
    OPT_RECORD_TYPE, OPT_RECOVERY_BACKOFF_MAX_MS, OPT_SET, OPT_COUNT
};

static bool apply_options(zerobus_stream_options *o, const jlong *v, zerobus_error **err) {
    bool ok = true;
    uint64_t set = (uint64_t)v[OPT_SET];
#define SET(slot, call) if (ok && (set & ((uint64_t)1 << (slot))) != 0) ok = (call)
#define U64(slot) ((uint64_t)v[slot])
    SET(OPT_MAX_INFLIGHT_REQUESTS, zerobus_stream_options_set_max_inflight_requests(o, U64(OPT_MAX_INFLIGHT_REQUESTS), err));
    SET(OPT_MAX_INFLIGHT_BYTES, zerobus_stream_options_set_max_inflight_bytes(o, U64(OPT_MAX_INFLIGHT_BYTES), err));
    SET(OPT_RECOVERY, zerobus_stream_options_set_recovery(o, v[OPT_RECOVERY] != 0, err));
    SET(OPT_RECOVERY_TIMEOUT_MS, zerobus_stream_options_set_recovery_timeout_ms(o, U64(OPT_RECOVERY_TIMEOUT_MS), err));
    SET(OPT_RECOVERY_BACKOFF_MS, zerobus_stream_options_set_recovery_backoff_ms(o, U64(OPT_RECOVERY_BACKOFF_MS), err));
    SET(OPT_RECOVERY_BACKOFF_MAX_MS, zerobus_stream_options_set_recovery_backoff_max_ms(o, U64(OPT_RECOVERY_BACKOFF_MAX_MS), err));
    SET(OPT_RECOVERY_RETRIES, zerobus_stream_options_set_recovery_retries(o, (uint32_t)v[OPT_RECOVERY_RETRIES], err));
    SET(OPT_SERVER_LACK_OF_ACK_TIMEOUT_MS, zerobus_stream_options_set_server_lack_of_ack_timeout_ms(o, U64(OPT_SERVER_LACK_OF_ACK_TIMEOUT_MS), err));
    SET(OPT_FLUSH_TIMEOUT_MS, zerobus_stream_options_set_flush_timeout_ms(o, U64(OPT_FLUSH_TIMEOUT_MS), err));
    SET(OPT_STREAM_PAUSED_MAX_WAIT_TIME_MS, zerobus_stream_options_set_stream_paused_max_wait_time_ms(o, U64(OPT_STREAM_PAUSED_MAX_WAIT_TIME_MS), err));
    SET(OPT_CALLBACK_MAX_WAIT_TIME_MS, zerobus_stream_options_set_callback_max_wait_time_ms(o, U64(OPT_CALLBACK_MAX_WAIT_TIME_MS), err));
    SET(OPT_RECORD_TYPE, zerobus_stream_options_set_record_type(o, (int32_t)v[OPT_RECORD_TYPE], err));
#undef U64
#undef SET
    return ok;
}

/*
 * Creates a stream (blocking). `headers_bridge` NULL: OAuth with client_id/client_secret.
 * refs_out[0] / refs_out[1] receive the Java side's share of the ack / headers zj_ref (0 if none);
 * the caller drops them with refRelease. On failure nothing is left to drop.
 */
JNIEXPORT jlong JNICALL FN(createStream)(JNIEnv *env, jclass cls, jlong sdk, jbyteArray table,
                                         jbyteArray descriptor, jbyteArray client_id,
                                         jbyteArray client_secret, jobject headers_bridge,
                                         jlongArray options, jobject ack_bridge, jlongArray refs_out) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_stream *stream = NULL;
    zj_ref *ack_ref = NULL, *headers_ref = NULL;
    jlong opts[OPT_COUNT];
    if (options == NULL || (*env)->GetArrayLength(env, options) != OPT_COUNT || refs_out == NULL ||
        (*env)->GetArrayLength(env, refs_out) != 2) {
        (*env)->ThrowNew(env, g_illegal_class, "zerobus: bad option or refs array");
        return 0;
    }
    (*env)->GetLongArrayRegion(env, options, 0, OPT_COUNT, opts);

    char *tbl = cstr(env, table), *id = cstr(env, client_id), *secret = cstr(env, client_secret);
    jsize desc_len = descriptor != NULL ? (*env)->GetArrayLength(env, descriptor) : 0;
    uint8_t *desc = NULL;
    if (descriptor != NULL) {
        desc = malloc(desc_len > 0 ? (size_t)desc_len : 1);
        if (desc != NULL) (*env)->GetByteArrayRegion(env, descriptor, 0, desc_len, (jbyte *)desc);
    }

    zerobus_stream_options *o = zerobus_stream_options_new();
    bool ok = o != NULL && apply_options(o, opts, &err);
    if (ok && ack_bridge != NULL) {
        ack_ref = zj_ref_new(env, ack_bridge);
        if (ack_ref == NULL) {
            ok = false;
        } else if (!zerobus_stream_options_set_ack_callback(o, ack_tramp, ack_error_tramp, ack_ref,
                                                           release_tramp, &err)) {
            /* The library released its share already. */
            zj_ref_drop(env, ack_ref);
            ack_ref = NULL;
            ok = false;
        }
    }
    if (ok) {
        if (headers_bridge != NULL) {
            headers_ref = zj_ref_new(env, headers_bridge);
            if (headers_ref != NULL) {
                stream = zerobus_sdk_create_stream_with_headers_provider(
                    (const zerobus_sdk *)(intptr_t)sdk, tbl, desc, (size_t)desc_len, headers_tramp,
                    headers_ref, release_tramp, o, &err);
            }
        } else {
            stream = zerobus_sdk_create_stream((const zerobus_sdk *)(intptr_t)sdk, tbl, desc,
                                               (size_t)desc_len, id, secret, o, &err);
        }
    }
    /* Frees the library's share of ack_ref unless the stream holds it. */
    zerobus_stream_options_free(o);
    free(tbl);
    free(id);
    free(secret);
    free(desc);
    if (stream == NULL) {
        zj_ref_drop(env, ack_ref);
        zj_ref_drop(env, headers_ref);
        if (err != NULL) throw_error(env, err);
        else if (!(*env)->ExceptionCheck(env)) throw_npe(env, "zerobus: out of memory creating a stream");
        return 0;
    }
    jlong refs[2] = {(jlong)(intptr_t)ack_ref, (jlong)(intptr_t)headers_ref};
    (*env)->SetLongArrayRegion(env, refs_out, 0, 2, refs);
    return (jlong)(intptr_t)stream;
}

JNIEXPORT void JNICALL FN(refRelease)(JNIEnv *env, jclass cls, jlong ref) {
    (void)cls;
    zj_ref_drop(env, (zj_ref *)(intptr_t)ref);
}

/* ---------- headers (from HeadersBridge.collect, during a provider call) ---------- */

/* `headers` is the handle the library passed to headers_tramp: valid during that call only (the
 * library ignores it afterwards, and refuses a forged one). NULL name or value: the library fails
 * the connection attempt with ZEROBUS_ERROR_INVALID_ARGUMENT. */
JNIEXPORT void JNICALL FN(headersAdd)(JNIEnv *env, jclass cls, jlong headers, jbyteArray name,
                                      jbyteArray value) {
    (void)cls;
    char *n = cstr(env, name), *v = cstr(env, value);
    if (!(*env)->ExceptionCheck(env)) {
        zerobus_headers_add((zerobus_headers *)(intptr_t)headers, n, v);
    }
    free(n);
    free(v);
}

JNIEXPORT void JNICALL FN(headersSetError)(JNIEnv *env, jclass cls, jlong headers, jbyteArray message) {
    (void)cls;
    char *m = cstr(env, message);
    if (!(*env)->ExceptionCheck(env)) {
        zerobus_headers_set_error((zerobus_headers *)(intptr_t)headers, m);
    }
    free(m);
}

/* ---------- ingest ---------- */

/* The call (low bits) and MODE_TEXT: the records are JSON text (Java Strings), which go through
 * the zerobus_stream_*ingest_json_record* calls (ZEROBUS_ERROR_INVALID_RECORD on a PROTO stream);
 * without it the bytes are read as the stream's record type. */
enum { MODE_OFFSET = 0, MODE_TRY = 1, MODE_NOWAIT = 2, MODE_CALL = 3, MODE_TEXT = 4 };

static jlong ingest_one(JNIEnv *env, jlong h, const uint8_t *data, size_t len, jint mode) {
    zerobus_error *err = NULL;
    int64_t offset = -1;
    bool ok;
    if (mode & MODE_TEXT) {
        switch (mode & MODE_CALL) {
        case MODE_TRY: ok = zerobus_stream_try_ingest_json_record(STREAM(h), data, len, &offset, &err); break;
        case MODE_NOWAIT: ok = zerobus_stream_ingest_json_record_nowait(STREAM(h), data, len, &err); break;
        default: ok = zerobus_stream_ingest_json_record(STREAM(h), data, len, &offset, &err); break;
        }
    } else {
        switch (mode & MODE_CALL) {
        case MODE_TRY: ok = zerobus_stream_try_ingest_record(STREAM(h), data, len, &offset, &err); break;
        case MODE_NOWAIT: ok = zerobus_stream_ingest_record_nowait(STREAM(h), data, len, &err); break;
        default: ok = zerobus_stream_ingest_record(STREAM(h), data, len, &offset, &err); break;
        }
    }
    if (!ok) {
        throw_error(env, err);
        return -1;
    }
    return (jlong)offset;
}

JNIEXPORT jlong JNICALL FN(ingest)(JNIEnv *env, jclass cls, jlong h, jbyteArray data, jint off, jint len,
                                   jint mode) {
    (void)cls;
    uint8_t stack[STACK_COPY];
    uint8_t *buf = len <= STACK_COPY ? stack : malloc((size_t)len);
    if (buf == NULL) {
        throw_npe(env, "zerobus: out of memory");
        return -1;
    }
    (*env)->GetByteArrayRegion(env, data, off, len, (jbyte *)buf);
    jlong r = (*env)->ExceptionCheck(env) ? -1 : ingest_one(env, h, buf, (size_t)len, mode);
    if (buf != stack) free(buf);
    return r;
}

JNIEXPORT jlong JNICALL FN(ingestDirect)(JNIEnv *env, jclass cls, jlong h, jobject buffer, jint off,
                                         jint len, jint mode) {
    (void)cls;
    uint8_t *base = (*env)->GetDirectBufferAddress(env, buffer);
    if (base == NULL) {
        (*env)->ThrowNew(env, g_illegal_class, "zerobus: the ByteBuffer is not direct");
        return -1;
    }
    return ingest_one(env, h, base + off, (size_t)len, mode);
}

static jlong ingest_many(JNIEnv *env, jlong h, const uint8_t *data, size_t data_len, jintArray lengths,
                         jint count, jint mode) {
    zerobus_error *err = NULL;
    int64_t offset = -1;
    size_t stack[256];
    size_t *lens = count <= 256 ? stack : malloc(sizeof(size_t) * (size_t)count);
    if (lens == NULL) {
        throw_npe(env, "zerobus: out of memory");
        return -1;
    }
    if (count > 0) {
        jint *l = (*env)->GetPrimitiveArrayCritical(env, lengths, NULL);
        if (l == NULL) {
            if (lens != stack) free(lens);
            return -1;
        }
        for (jint i = 0; i < count; i++) lens[i] = (size_t)(uint32_t)l[i];
        (*env)->ReleasePrimitiveArrayCritical(env, lengths, l, JNI_ABORT);
    }
    bool ok;
    const zerobus_stream *s = STREAM(h);
    size_t n = (size_t)count;
    if (mode & MODE_TEXT) {
        switch (mode & MODE_CALL) {
        case MODE_TRY: ok = zerobus_stream_try_ingest_json_records(s, data, data_len, lens, n, &offset, &err); break;
        case MODE_NOWAIT: ok = zerobus_stream_ingest_json_records_nowait(s, data, data_len, lens, n, &err); break;
        default: ok = zerobus_stream_ingest_json_records(s, data, data_len, lens, n, &offset, &err); break;
        }
    } else {
        switch (mode & MODE_CALL) {
        case MODE_TRY: ok = zerobus_stream_try_ingest_records(s, data, data_len, lens, n, &offset, &err); break;
        case MODE_NOWAIT: ok = zerobus_stream_ingest_records_nowait(s, data, data_len, lens, n, &err); break;
        default: ok = zerobus_stream_ingest_records(s, data, data_len, lens, n, &offset, &err); break;
        }
    }
    if (lens != stack) free(lens);
    if (!ok) {
        throw_error(env, err);
        return -1;
    }
    return (jlong)offset;
}

JNIEXPORT jlong JNICALL FN(ingestBatch)(JNIEnv *env, jclass cls, jlong h, jbyteArray data, jint off,
                                        jint data_len, jintArray lengths, jint count, jint mode) {
    (void)cls;
    uint8_t stack[STACK_COPY];
    uint8_t *buf = data_len <= STACK_COPY ? stack : malloc((size_t)data_len);
    if (buf == NULL) {
        throw_npe(env, "zerobus: out of memory");
        return -1;
    }
    if (data_len > 0) (*env)->GetByteArrayRegion(env, data, off, data_len, (jbyte *)buf);
    jlong r = (*env)->ExceptionCheck(env) ? -1
                                          : ingest_many(env, h, buf, (size_t)data_len, lengths, count, mode);
    if (buf != stack) free(buf);
    return r;
}

JNIEXPORT jlong JNICALL FN(ingestBatchDirect)(JNIEnv *env, jclass cls, jlong h, jobject buffer, jint off,
                                              jint data_len, jintArray lengths, jint count, jint mode) {
    (void)cls;
    uint8_t *base = (*env)->GetDirectBufferAddress(env, buffer);
    if (base == NULL) {
        (*env)->ThrowNew(env, g_illegal_class, "zerobus: the ByteBuffer is not direct");
        return -1;
    }
    return ingest_many(env, h, base + off, (size_t)data_len, lengths, count, mode);
}

/* ---------- stream lifecycle ---------- */

JNIEXPORT void JNICALL FN(waitForOffset)(JNIEnv *env, jclass cls, jlong h, jlong offset) {
    (void)cls;
    zerobus_error *err = NULL;
    if (!zerobus_stream_wait_for_offset(STREAM(h), (int64_t)offset, &err)) throw_error(env, err);
}

JNIEXPORT void JNICALL FN(flush)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    zerobus_error *err = NULL;
    if (!zerobus_stream_flush(STREAM(h), &err)) throw_error(env, err);
}

JNIEXPORT void JNICALL FN(close)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    zerobus_error *err = NULL;
    if (!zerobus_stream_close(STREAM(h), &err)) throw_error(env, err);
}

JNIEXPORT jboolean JNICALL FN(isClosed)(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    return zerobus_stream_is_closed(STREAM(h)) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL FN(streamFree)(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    zerobus_stream_free((zerobus_stream *)(intptr_t)h);
}

JNIEXPORT jlongArray JNICALL FN(metrics)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_metrics m;
    if (!zerobus_stream_metrics(STREAM(h), &m, &err)) {
        throw_error(env, err);
        return NULL;
    }
    jlong v[8] = {(jlong)m.inflight_requests, (jlong)m.inflight_records, (jlong)m.inflight_bytes,
                  (jlong)m.last_acked_offset, (jlong)m.records_sent, (jlong)m.records_resent,
                  (jlong)m.recoveries, (jlong)m.token_fetches};
    jlongArray out = (*env)->NewLongArray(env, 8);
    if (out != NULL) (*env)->SetLongArrayRegion(env, out, 0, 8, v);
    return out;
}

/* Unacked records as byte[batch][record][]: per call (one_batch false) or all in one batch. */
JNIEXPORT jobjectArray JNICALL FN(unacked)(JNIEnv *env, jclass cls, jlong h, jboolean one_batch) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_batches *b = one_batch ? zerobus_stream_get_unacked_records(STREAM(h), &err)
                                   : zerobus_stream_get_unacked_batches(STREAM(h), &err);
    if (b == NULL) {
        throw_error(env, err);
        return NULL;
    }
    size_t nb = zerobus_batches_count(b);
    jobjectArray out = (*env)->NewObjectArray(env, (jsize)nb, g_bytes2_class, NULL);
    for (size_t i = 0; out != NULL && i < nb; i++) {
        size_t nr = zerobus_batches_batch_len(b, i);
        jobjectArray batch = (*env)->NewObjectArray(env, (jsize)nr, g_bytes_class, NULL);
        if (batch == NULL) {
            out = NULL;
            break;
        }
        for (size_t j = 0; j < nr; j++) {
            const uint8_t *data = NULL;
            size_t len = 0;
            zerobus_batches_record(b, i, j, &data, &len);
            jbyteArray rec = (*env)->NewByteArray(env, (jsize)len);
            if (rec == NULL) {
                out = NULL;
                break;
            }
            if (len > 0) (*env)->SetByteArrayRegion(env, rec, 0, (jsize)len, (const jbyte *)data);
            (*env)->SetObjectArrayElement(env, batch, (jsize)j, rec);
            (*env)->DeleteLocalRef(env, rec);
        }
        if (out != NULL) (*env)->SetObjectArrayElement(env, out, (jsize)i, batch);
        (*env)->DeleteLocalRef(env, batch);
    }
    zerobus_batches_free(b);
    return out;
}

/* ---------- table schemas ---------- */

/* A new byte[] holding `len` bytes at `data`; NULL (nothing pending) for NULL data. */
static jbyteArray new_bytes(JNIEnv *env, const void *data, size_t len) {
    if (data == NULL) {
        return NULL;
    }
    jbyteArray out = (*env)->NewByteArray(env, (jsize)len);
    if (out != NULL && len > 0) (*env)->SetByteArrayRegion(env, out, 0, (jsize)len, (const jbyte *)data);
    return out;
}

static jbyteArray new_cstr_bytes(JNIEnv *env, const char *s) {
    return s == NULL ? NULL : new_bytes(env, s, strlen(s));
}

/* The message of `err` as a byte[]; NULL for no error. */
static jbyteArray error_message_bytes(JNIEnv *env, const zerobus_error *err) {
    return err == NULL ? NULL : new_cstr_bytes(env, zerobus_error_message(err));
}

/* Reads `schema` into the Object[9] TableSchema.fromNative takes ({json, descriptor | null,
 * descriptor error | null, .proto | null, .proto error | null, byte[][] names, byte[][] types,
 * boolean[] nullable, long[] positions}) and frees it. NULL with an exception pending if the JVM
 * is out of memory. */
static jobjectArray schema_to_java(JNIEnv *env, zerobus_table_schema *schema) {
    jobjectArray out = NULL;
    if ((*env)->PushLocalFrame(env, 16) != 0) {
        zerobus_table_schema_free(schema);
        return NULL;
    }
    size_t n = zerobus_table_schema_column_count(schema);
    out = (*env)->NewObjectArray(env, 9, g_object_class, NULL);
    jobjectArray names = (*env)->NewObjectArray(env, (jsize)n, g_bytes_class, NULL);
    jobjectArray types = (*env)->NewObjectArray(env, (jsize)n, g_bytes_class, NULL);
    jbooleanArray nullable = (*env)->NewBooleanArray(env, (jsize)n);
    jlongArray positions = (*env)->NewLongArray(env, (jsize)n);
    if (out == NULL || names == NULL || types == NULL || nullable == NULL || positions == NULL) {
        zerobus_table_schema_free(schema);
        (*env)->PopLocalFrame(env, NULL);
        return NULL;
    }
    zerobus_error *desc_err = NULL, *proto_err = NULL;
    size_t desc_len = 0;
    const uint8_t *desc = zerobus_table_schema_descriptor(schema, &desc_len, &desc_err);
    const char *proto = zerobus_table_schema_proto_file(schema, &proto_err);
    /* Each element is set only while no exception (out of memory) is pending. */
    jobject parts[5];
    parts[0] = new_cstr_bytes(env, zerobus_table_schema_json(schema));
    parts[1] = (*env)->ExceptionCheck(env) ? NULL : new_bytes(env, desc, desc_len);
    parts[2] = (*env)->ExceptionCheck(env) ? NULL : error_message_bytes(env, desc_err);
    parts[3] = (*env)->ExceptionCheck(env) ? NULL : new_cstr_bytes(env, proto);
    parts[4] = (*env)->ExceptionCheck(env) ? NULL : error_message_bytes(env, proto_err);
    zerobus_error_free(desc_err);
    zerobus_error_free(proto_err);
    for (jsize k = 0; k < 5 && !(*env)->ExceptionCheck(env); k++) {
        (*env)->SetObjectArrayElement(env, out, k, parts[k]);
    }
    for (size_t i = 0; i < n && !(*env)->ExceptionCheck(env); i++) {
        jbyteArray name = new_cstr_bytes(env, zerobus_table_schema_column_name(schema, i));
        jbyteArray type = name == NULL ? NULL : new_cstr_bytes(env, zerobus_table_schema_column_type(schema, i));
        if (name == NULL || type == NULL) break;
        (*env)->SetObjectArrayElement(env, names, (jsize)i, name);
        (*env)->SetObjectArrayElement(env, types, (jsize)i, type);
        (*env)->DeleteLocalRef(env, name);
        (*env)->DeleteLocalRef(env, type);
        jboolean nb = zerobus_table_schema_column_nullable(schema, i) ? JNI_TRUE : JNI_FALSE;
        jlong pos = (jlong)zerobus_table_schema_column_position(schema, i);
        (*env)->SetBooleanArrayRegion(env, nullable, (jsize)i, 1, &nb);
        (*env)->SetLongArrayRegion(env, positions, (jsize)i, 1, &pos);
    }
    if (!(*env)->ExceptionCheck(env)) {
        (*env)->SetObjectArrayElement(env, out, 5, names);
        (*env)->SetObjectArrayElement(env, out, 6, types);
        (*env)->SetObjectArrayElement(env, out, 7, nullable);
        (*env)->SetObjectArrayElement(env, out, 8, positions);
    }
    zerobus_table_schema_free(schema);
    if ((*env)->ExceptionCheck(env)) {
        (*env)->PopLocalFrame(env, NULL);
        return NULL;
    }
    return (jobjectArray)(*env)->PopLocalFrame(env, out);
}

/*
 * Reads a table's schema (blocking): with OAuth client credentials, or, when `headers_bridge` is
 * not NULL, with the authorization header its provider returns. The provider's zj_ref is shared
 * as for a stream: the library drops its share (release) before the call returns, this function
 * drops the Java side's share after it.
 */
JNIEXPORT jobjectArray JNICALL FN(getTableSchema)(JNIEnv *env, jclass cls, jlong sdk, jbyteArray table,
                                                  jbyteArray client_id, jbyteArray client_secret,
                                                  jobject headers_bridge) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_table_schema *schema = NULL;
    char *tbl = cstr(env, table), *id = cstr(env, client_id), *secret = cstr(env, client_secret);
    if (headers_bridge != NULL) {
        zj_ref *ref = zj_ref_new(env, headers_bridge);
        if (ref != NULL) {
            schema = zerobus_sdk_get_table_schema_with_headers_provider(
                (const zerobus_sdk *)(intptr_t)sdk, tbl, headers_tramp, ref, release_tramp, &err);
            zj_ref_drop(env, ref);
        }
    } else {
        schema = zerobus_sdk_get_table_schema((const zerobus_sdk *)(intptr_t)sdk, tbl, id, secret, &err);
    }
    free(tbl);
    free(id);
    free(secret);
    if (schema == NULL) {
        if (err != NULL) throw_error(env, err);
        else if (!(*env)->ExceptionCheck(env)) throw_npe(env, "zerobus: out of memory reading a table schema");
        return NULL;
    }
    return schema_to_java(env, schema);
}

/* The schema of the table a stream was created from (INVALID_ARGUMENT for other streams). */
JNIEXPORT jobjectArray JNICALL FN(streamTableSchema)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_table_schema *schema = zerobus_stream_table_schema(STREAM(h), &err);
    if (schema == NULL) {
        if (err != NULL) throw_error(env, err);
        else throw_npe(env, "zerobus: no table schema");
        return NULL;
    }
    return schema_to_java(env, schema);
}

/* The stream's current server-side id as UTF-8 bytes (empty for a stream that is not live). */
JNIEXPORT jbyteArray JNICALL FN(streamId)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    char stack[128];
    size_t len = zerobus_stream_id(STREAM(h), stack, sizeof stack);
    if (len < sizeof stack) {
        return new_bytes(env, stack, len);
    }
    char *heap = malloc(len + 1);
    if (heap == NULL) {
        throw_npe(env, "zerobus: out of memory");
        return NULL;
    }
    size_t again = zerobus_stream_id(STREAM(h), heap, len + 1);
    jbyteArray out = new_bytes(env, heap, again < len + 1 ? again : len);
    free(heap);
    return out;
}

/* ---------- Arrow streams ---------- */

#define ARROW(h) ((const zerobus_arrow_stream *)(intptr_t)(h))

/* Arrow option slots, in the order of ArrowStreamConfigurationOptions.toNative(), then AOPT_SET:
 * the bit mask of the slots that were set. Passed through as they are, as for record streams. */
enum {
    AOPT_MAX_INFLIGHT_BATCHES, AOPT_MAX_INFLIGHT_BYTES, AOPT_RECOVERY, AOPT_RECOVERY_TIMEOUT_MS,
    AOPT_RECOVERY_BACKOFF_MS, AOPT_RECOVERY_BACKOFF_MAX_MS, AOPT_RECOVERY_RETRIES,
    AOPT_SERVER_LACK_OF_ACK_TIMEOUT_MS, AOPT_FLUSH_TIMEOUT_MS, AOPT_CONNECTION_TIMEOUT_MS,
    AOPT_STREAM_PAUSED_MAX_WAIT_TIME_MS, AOPT_CALLBACK_MAX_WAIT_TIME_MS, AOPT_SET, AOPT_COUNT
};

static bool apply_arrow_options(zerobus_arrow_stream_options *o, const jlong *v, const char *compression,
                                zerobus_error **err) {
    bool ok = true;
    uint64_t set = (uint64_t)v[AOPT_SET];
#define SET(slot, call) if (ok && (set & ((uint64_t)1 << (slot))) != 0) ok = (call)
#define U64(slot) ((uint64_t)v[slot])
    SET(AOPT_MAX_INFLIGHT_BATCHES, zerobus_arrow_stream_options_set_max_inflight_batches(o, U64(AOPT_MAX_INFLIGHT_BATCHES), err));
    SET(AOPT_MAX_INFLIGHT_BYTES, zerobus_arrow_stream_options_set_max_inflight_bytes(o, U64(AOPT_MAX_INFLIGHT_BYTES), err));
    SET(AOPT_RECOVERY, zerobus_arrow_stream_options_set_recovery(o, v[AOPT_RECOVERY] != 0, err));
    SET(AOPT_RECOVERY_TIMEOUT_MS, zerobus_arrow_stream_options_set_recovery_timeout_ms(o, U64(AOPT_RECOVERY_TIMEOUT_MS), err));
    SET(AOPT_RECOVERY_BACKOFF_MS, zerobus_arrow_stream_options_set_recovery_backoff_ms(o, U64(AOPT_RECOVERY_BACKOFF_MS), err));
    SET(AOPT_RECOVERY_BACKOFF_MAX_MS, zerobus_arrow_stream_options_set_recovery_backoff_max_ms(o, U64(AOPT_RECOVERY_BACKOFF_MAX_MS), err));
    SET(AOPT_RECOVERY_RETRIES, zerobus_arrow_stream_options_set_recovery_retries(o, (uint32_t)v[AOPT_RECOVERY_RETRIES], err));
    SET(AOPT_SERVER_LACK_OF_ACK_TIMEOUT_MS, zerobus_arrow_stream_options_set_server_lack_of_ack_timeout_ms(o, U64(AOPT_SERVER_LACK_OF_ACK_TIMEOUT_MS), err));
    SET(AOPT_FLUSH_TIMEOUT_MS, zerobus_arrow_stream_options_set_flush_timeout_ms(o, U64(AOPT_FLUSH_TIMEOUT_MS), err));
    SET(AOPT_CONNECTION_TIMEOUT_MS, zerobus_arrow_stream_options_set_connection_timeout_ms(o, U64(AOPT_CONNECTION_TIMEOUT_MS), err));
    SET(AOPT_STREAM_PAUSED_MAX_WAIT_TIME_MS, zerobus_arrow_stream_options_set_stream_paused_max_wait_time_ms(o, U64(AOPT_STREAM_PAUSED_MAX_WAIT_TIME_MS), err));
    SET(AOPT_CALLBACK_MAX_WAIT_TIME_MS, zerobus_arrow_stream_options_set_callback_max_wait_time_ms(o, U64(AOPT_CALLBACK_MAX_WAIT_TIME_MS), err));
#undef U64
#undef SET
    if (ok && compression != NULL) ok = zerobus_arrow_stream_options_set_ipc_compression(o, compression, err);
    return ok;
}

/*
 * Creates an Arrow stream (blocking), as createStream does a record stream: `schema` NULL (or
 * empty) reads the schema from the table; `compression` NULL keeps the default. refs_out as for
 * createStream.
 */
JNIEXPORT jlong JNICALL FN(createArrowStream)(JNIEnv *env, jclass cls, jlong sdk, jbyteArray table,
                                              jbyteArray schema, jbyteArray client_id, jbyteArray client_secret,
                                              jobject headers_bridge, jlongArray options, jbyteArray compression,
                                              jobject ack_bridge, jlongArray refs_out) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_arrow_stream *stream = NULL;
    zj_ref *ack_ref = NULL, *headers_ref = NULL;
    jlong opts[AOPT_COUNT];
    if (options == NULL || (*env)->GetArrayLength(env, options) != AOPT_COUNT || refs_out == NULL ||
        (*env)->GetArrayLength(env, refs_out) != 2) {
        (*env)->ThrowNew(env, g_illegal_class, "zerobus: bad option or refs array");
        return 0;
    }
    (*env)->GetLongArrayRegion(env, options, 0, AOPT_COUNT, opts);

    char *tbl = cstr(env, table), *id = cstr(env, client_id), *secret = cstr(env, client_secret),
         *comp = cstr(env, compression);
    jsize schema_len = schema != NULL ? (*env)->GetArrayLength(env, schema) : 0;
    uint8_t *sch = NULL;
    if (schema_len > 0) {
        sch = malloc((size_t)schema_len);
        if (sch != NULL) (*env)->GetByteArrayRegion(env, schema, 0, schema_len, (jbyte *)sch);
    }

    zerobus_arrow_stream_options *o = zerobus_arrow_stream_options_new();
    bool ok = o != NULL && (schema_len == 0 || sch != NULL) && apply_arrow_options(o, opts, comp, &err);
    if (ok && ack_bridge != NULL) {
        ack_ref = zj_ref_new(env, ack_bridge);
        if (ack_ref == NULL) {
            ok = false;
        } else if (!zerobus_arrow_stream_options_set_ack_callback(o, ack_tramp, ack_error_tramp, ack_ref,
                                                                 release_tramp, &err)) {
            /* The library released its share already. */
            zj_ref_drop(env, ack_ref);
            ack_ref = NULL;
            ok = false;
        }
    }
    if (ok) {
        if (headers_bridge != NULL) {
            headers_ref = zj_ref_new(env, headers_bridge);
            if (headers_ref != NULL) {
                stream = zerobus_sdk_create_arrow_stream_with_headers_provider(
                    (const zerobus_sdk *)(intptr_t)sdk, tbl, sch, (size_t)schema_len, headers_tramp,
                    headers_ref, release_tramp, o, &err);
            }
        } else {
            stream = zerobus_sdk_create_arrow_stream((const zerobus_sdk *)(intptr_t)sdk, tbl, sch,
                                                     (size_t)schema_len, id, secret, o, &err);
        }
    }
    /* Frees the library's share of ack_ref unless the stream holds it. */
    zerobus_arrow_stream_options_free(o);
    free(tbl);
    free(id);
    free(secret);
    free(comp);
    free(sch);
    if (stream == NULL) {
        zj_ref_drop(env, ack_ref);
        zj_ref_drop(env, headers_ref);
        if (err != NULL) throw_error(env, err);
        else if (!(*env)->ExceptionCheck(env)) throw_npe(env, "zerobus: out of memory creating an Arrow stream");
        return 0;
    }
    jlong refs[2] = {(jlong)(intptr_t)ack_ref, (jlong)(intptr_t)headers_ref};
    (*env)->SetLongArrayRegion(env, refs_out, 0, 2, refs);
    return (jlong)(intptr_t)stream;
}

static jlong arrow_ingest_ipc(JNIEnv *env, jlong h, const uint8_t *data, size_t len) {
    zerobus_error *err = NULL;
    int64_t offset = -1;
    if (!zerobus_arrow_stream_ingest_ipc(ARROW(h), data, len, &offset, &err)) {
        throw_error(env, err);
        return -1;
    }
    return (jlong)offset;
}

/* An IPC stream from a byte[] range: copied out of the heap first (the call may block for room,
 * so the array is not pinned meanwhile). */
JNIEXPORT jlong JNICALL FN(arrowIngestIpc)(JNIEnv *env, jclass cls, jlong h, jbyteArray data, jint off,
                                           jint len) {
    (void)cls;
    uint8_t stack[STACK_COPY];
    uint8_t *buf = len <= STACK_COPY ? stack : malloc((size_t)len);
    if (buf == NULL) {
        throw_npe(env, "zerobus: out of memory");
        return -1;
    }
    if (len > 0) (*env)->GetByteArrayRegion(env, data, off, len, (jbyte *)buf);
    jlong r = (*env)->ExceptionCheck(env) ? -1 : arrow_ingest_ipc(env, h, buf, (size_t)len);
    if (buf != stack) free(buf);
    return r;
}

/* An IPC stream read in place from a direct ByteBuffer (Java checked the range). */
JNIEXPORT jlong JNICALL FN(arrowIngestIpcDirect)(JNIEnv *env, jclass cls, jlong h, jobject buffer, jint off,
                                                 jint len) {
    (void)cls;
    uint8_t *base = (*env)->GetDirectBufferAddress(env, buffer);
    if (base == NULL) {
        (*env)->ThrowNew(env, g_illegal_class, "zerobus: the ByteBuffer is not direct");
        return -1;
    }
    return arrow_ingest_ipc(env, h, base + off, (size_t)len);
}

/* A batch Arrow Java exported to the C Data Interface structs at `array` and `schema` (their
 * memory addresses). The library takes both structs whatever the outcome and releases them before
 * it returns (leaving them marked released), so Java only frees the structs' own memory. */
JNIEXPORT jlong JNICALL FN(arrowIngestCData)(JNIEnv *env, jclass cls, jlong h, jlong array, jlong schema) {
    (void)cls;
    zerobus_error *err = NULL;
    int64_t offset = -1;
    if (!zerobus_arrow_stream_ingest_arrow(ARROW(h), (struct ArrowArray *)(intptr_t)array,
                                           (struct ArrowSchema *)(intptr_t)schema, &offset, &err)) {
        throw_error(env, err);
        return -1;
    }
    return (jlong)offset;
}

/* The owner of a _nocopy call's buffers: a global reference to the Java AutoCloseable that holds
 * them, closed and dropped when the library is done with the buffers (after the acks, on a library
 * thread, attached once as a daemon; or on the calling thread when the call fails). An exception
 * from close is cleared: it must not reach the library. If the thread cannot attach, the holder
 * leaks rather than being closed on a thread the JVM does not know. */
static void release_holder(void *user_data) {
    JNIEnv *env = callback_env();
    if (env == NULL) return;
    (*env)->CallVoidMethod(env, (jobject)user_data, g_closeable_close);
    clear_exception(env);
    (*env)->DeleteGlobalRef(env, (jobject)user_data);
}

/* A batch as its column buffers: `nodes` two numbers per node, `addresses` / `lengths` three
 * buffers per node, all walked by Java from a VectorSchemaRoot's ArrowBufs. With `holder` NULL
 * (zerobus_arrow_stream_ingest_columns) Java keeps the buffers alive and unwritten until this
 * returns; otherwise (the _nocopy form) `holder` is an AutoCloseable that owns them, closed by
 * release_holder when the library is done with them. The arrays are copied out of the heap first
 * (the call may block for room, so nothing is pinned). */
static jlong arrow_ingest_columns(JNIEnv *env, jlong h, jbyteArray schema, jlongArray nodes, jlongArray addresses,
                                  jlongArray lengths, jobject holder) {
    jobject held = NULL;
    if (holder != NULL && (held = (*env)->NewGlobalRef(env, holder)) == NULL) {
        throw_npe(env, "zerobus: out of memory");
        return -1;
    }
    jsize schema_len = (*env)->GetArrayLength(env, schema);
    jsize nodes_len = (*env)->GetArrayLength(env, nodes);
    jsize buffers_len = (*env)->GetArrayLength(env, addresses);
    /* One allocation: the schema bytes, the nodes, the buffer pointers and their lengths. */
    size_t words = (size_t)nodes_len + 2 * (size_t)buffers_len;
    size_t schema_words = ((size_t)schema_len + sizeof(uint64_t) - 1) / sizeof(uint64_t);
    uint64_t *mem = NULL;
    if ((*env)->GetArrayLength(env, lengths) != buffers_len) {
        (*env)->ThrowNew(env, g_illegal_class, "zerobus: addresses and lengths differ in length");
    } else if ((mem = malloc((words + schema_words + 1) * sizeof(uint64_t))) == NULL) {
        throw_npe(env, "zerobus: out of memory");
    }
    if (mem == NULL) {
        if (held != NULL) release_holder(held);
        return -1;
    }
    uint64_t *node_words = mem;
    const uint8_t **ptrs = (const uint8_t **)(mem + nodes_len);
    size_t *lens = (size_t *)(mem + nodes_len + buffers_len);
    uint8_t *schema_bytes = (uint8_t *)(mem + words);
    jlong r = -1;
    (*env)->GetByteArrayRegion(env, schema, 0, schema_len, (jbyte *)schema_bytes);
    (*env)->GetLongArrayRegion(env, nodes, 0, nodes_len, (jlong *)node_words);
    /* Both arrays are read as jlongs into the lengths' slots, then converted element by element
     * (each write lands on slots already read, so this holds for narrower pointers too). */
    jlong *raw = (jlong *)lens;
    (*env)->GetLongArrayRegion(env, addresses, 0, buffers_len, raw);
    for (jsize i = 0; i < buffers_len; i++) ptrs[i] = (const uint8_t *)(intptr_t)raw[i];
    (*env)->GetLongArrayRegion(env, lengths, 0, buffers_len, raw);
    for (jsize i = 0; i < buffers_len; i++) lens[i] = (size_t)raw[i];
    if ((*env)->ExceptionCheck(env)) {
        if (held != NULL) release_holder(held);
    } else {
        zerobus_error *err = NULL;
        int64_t offset = -1;
        /* From here the library owns `held`: it calls release_holder exactly once. */
        bool ok = held == NULL
                      ? zerobus_arrow_stream_ingest_columns(ARROW(h), schema_bytes, (size_t)schema_len, node_words,
                                                            (size_t)nodes_len, ptrs, lens, (size_t)buffers_len,
                                                            &offset, &err)
                      : zerobus_arrow_stream_ingest_columns_nocopy(
                            ARROW(h), schema_bytes, (size_t)schema_len, node_words, (size_t)nodes_len, ptrs, lens,
                            (size_t)buffers_len, release_holder, held, &offset, &err);
        if (ok) {
            r = (jlong)offset;
        } else {
            throw_error(env, err);
        }
    }
    free(mem);
    return r;
}

JNIEXPORT jlong JNICALL FN(arrowIngestColumns)(JNIEnv *env, jclass cls, jlong h, jbyteArray schema,
                                               jlongArray nodes, jlongArray addresses, jlongArray lengths) {
    (void)cls;
    return arrow_ingest_columns(env, h, schema, nodes, addresses, lengths, NULL);
}

JNIEXPORT jlong JNICALL FN(arrowIngestColumnsNoCopy)(JNIEnv *env, jclass cls, jlong h, jbyteArray schema,
                                                     jlongArray nodes, jlongArray addresses, jlongArray lengths,
                                                     jobject holder) {
    (void)cls;
    if (holder == NULL) {
        throw_npe(env, "zerobus: the buffers' holder is null");
        return -1;
    }
    return arrow_ingest_columns(env, h, schema, nodes, addresses, lengths, holder);
}

JNIEXPORT void JNICALL FN(arrowWaitForOffset)(JNIEnv *env, jclass cls, jlong h, jlong offset) {
    (void)cls;
    zerobus_error *err = NULL;
    if (!zerobus_arrow_stream_wait_for_offset(ARROW(h), (int64_t)offset, &err)) throw_error(env, err);
}

JNIEXPORT void JNICALL FN(arrowFlush)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    zerobus_error *err = NULL;
    if (!zerobus_arrow_stream_flush(ARROW(h), &err)) throw_error(env, err);
}

JNIEXPORT void JNICALL FN(arrowClose)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    zerobus_error *err = NULL;
    if (!zerobus_arrow_stream_close(ARROW(h), &err)) throw_error(env, err);
}

JNIEXPORT jboolean JNICALL FN(arrowIsClosed)(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    return zerobus_arrow_stream_is_closed(ARROW(h)) ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL FN(arrowFree)(JNIEnv *env, jclass cls, jlong h) {
    (void)env;
    (void)cls;
    zerobus_arrow_stream_free((zerobus_arrow_stream *)(intptr_t)h);
}

JNIEXPORT jlongArray JNICALL FN(arrowMetrics)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_metrics m;
    if (!zerobus_arrow_stream_metrics(ARROW(h), &m, &err)) {
        throw_error(env, err);
        return NULL;
    }
    jlong v[8] = {(jlong)m.inflight_requests, (jlong)m.inflight_records, (jlong)m.inflight_bytes,
                  (jlong)m.last_acked_offset, (jlong)m.records_sent, (jlong)m.records_resent,
                  (jlong)m.recoveries, (jlong)m.token_fetches};
    jlongArray out = (*env)->NewLongArray(env, 8);
    if (out != NULL) (*env)->SetLongArrayRegion(env, out, 0, 8, v);
    return out;
}

/* The unacknowledged rows as one Arrow IPC stream (a new byte[]). */
JNIEXPORT jbyteArray JNICALL FN(arrowUnackedIpc)(JNIEnv *env, jclass cls, jlong h) {
    (void)cls;
    zerobus_error *err = NULL;
    zerobus_buffer *b = zerobus_arrow_stream_get_unacked_ipc(ARROW(h), &err);
    if (b == NULL) {
        if (err != NULL) throw_error(env, err);
        else throw_npe(env, "zerobus: out of memory");
        return NULL;
    }
    jbyteArray out = (*env)->NewByteArray(env, (jsize)zerobus_buffer_len(b));
    if (out != NULL && zerobus_buffer_len(b) > 0) {
        (*env)->SetByteArrayRegion(env, out, 0, (jsize)zerobus_buffer_len(b), (const jbyte *)zerobus_buffer_data(b));
    }
    zerobus_buffer_free(b);
    return out;
}
