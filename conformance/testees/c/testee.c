/*
 * Conformance testee for the C ABI (see conformance/TESTEE.md): one request per stdin line, one
 * response per stdout line, no logic beyond mapping requests to zerobus.h calls. It mirrors the
 * reference testee, conformance/testees/rust/src/main.rs, step for step.
 *
 * Ownership: every zerobus_error is freed right after it is reported; the builder, SDK and
 * options of a create_stream (and the SDK and schema of a table_schema) are freed when the call
 * returns (streams do not need them); the
 * stream is closed and freed at exit, after which the headers providers and callback records are
 * released. `ingest_concurrent` runs one pthread per producer on the one stream handle.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "zerobus.h"

/* ---------------------------------------------------------------- records (records.rs) ---- */

typedef struct bytes {
    unsigned char *data;
    size_t len;
    size_t cap;
} bytes;

static bool bytes_reserve(bytes *b, size_t extra) {
    size_t cap;
    unsigned char *data;
    if (extra > SIZE_MAX - b->len) return false;
    if (b->len + extra <= b->cap) return true;
    cap = b->cap == 0 ? 1024 : b->cap;
    while (cap < b->len + extra) cap = cap > SIZE_MAX / 2 ? b->len + extra : cap * 2;
    data = realloc(b->data, cap);
    if (data == NULL) return false;
    b->data = data;
    b->cap = cap;
    return true;
}

static void bytes_put(bytes *b, const void *src, size_t n) {
    /* Callers reserve first. */
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

/* The pad: a xorshift64 stream seeded from (seed, index), each step mapped to 'a'..'z'. */
static void put_pad(unsigned char *out, uint64_t seed, uint64_t index, size_t len) {
    uint64_t x = seed * UINT64_C(0x9E3779B97F4A7C15) + index + 1; /* wrapping, as u64 is */
    size_t i;
    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (unsigned char)('a' + x % 26);
    }
}

/* Appends JSON record `index`: {"seed":S,"seq":I,"pad":"…"} padded to exactly `size` bytes
 * (never shorter than the record without padding). */
static bool append_json_record(bytes *b, uint64_t seed, uint64_t index, size_t size) {
    char head[80];
    static const char tail[] = "\"}";
    int n = snprintf(head, sizeof head, "{\"seed\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"pad\":\"", seed, index);
    size_t fixed, pad;
    if (n < 0 || (size_t)n >= sizeof head) return false;
    fixed = (size_t)n + (sizeof tail - 1);
    pad = size > fixed ? size - fixed : 0;
    if (!bytes_reserve(b, fixed + pad)) return false;
    bytes_put(b, head, (size_t)n);
    put_pad(b->data + b->len, seed, index, pad);
    b->len += pad;
    bytes_put(b, tail, sizeof tail - 1);
    return true;
}

static size_t put_varint(unsigned char *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char)v;
    return n;
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Appends proto record `index`: field 1 varint seed, field 2 varint seq, field 3 the pad, as
 * long as possible while the whole encoding is at most `size` bytes. */
static bool append_proto_record(bytes *b, uint64_t seed, uint64_t index, size_t size) {
    unsigned char head[32];
    size_t n = 0, fixed, pad;
    head[n++] = 0x08;
    n += put_varint(head + n, seed);
    head[n++] = 0x10;
    n += put_varint(head + n, index);
    fixed = n + 1; /* + the key byte of field 3 */
    pad = size > fixed + 1 ? size - (fixed + 1) : 0;
    while (pad > 0 && fixed + varint_len(pad) + pad > size) pad--;
    head[n++] = 0x1a;
    n += put_varint(head + n, pad);
    if (!bytes_reserve(b, n + pad)) return false;
    bytes_put(b, head, n);
    put_pad(b->data + b->len, seed, index, pad);
    b->len += pad;
    return true;
}

/* ---------------------------------------------------------------- hex ---- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* `s` quoted, as Rust's {:?} shows a string (the reference's messages use it). */
static void quote(char *out, size_t outlen, const char *s, size_t len) {
    json_buf q = {NULL, 0, 0, false};
    json_buf_string(&q, s, len);
    snprintf(out, outlen, "%s", q.data != NULL && !q.failed ? q.data : "\"\"");
    json_buf_free(&q);
}

/* Decodes hex into a new buffer (*out, *out_len; free *out). On error returns false and puts
 * the reference testee's message in msg. */
static bool unhex(const char *s, size_t len, unsigned char **out, size_t *out_len, char *msg, size_t msglen) {
    size_t i;
    unsigned char *buf;
    char quoted[192];
    if (len % 2 != 0) {
        quote(quoted, sizeof quoted, s, len);
        snprintf(msg, msglen, "odd-length hex %s", quoted);
        return false;
    }
    buf = malloc(len / 2 + 1); /* +1: never malloc(0) */
    if (buf == NULL) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    for (i = 0; i < len; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) {
            quote(quoted, sizeof quoted, s, len);
            snprintf(msg, msglen, "hex %s: invalid digit found in string", quoted);
            free(buf);
            return false;
        }
        buf[i / 2] = (unsigned char)(hi * 16 + lo);
    }
    *out = buf;
    *out_len = len / 2;
    return true;
}

static void buf_hex(json_buf *b, const unsigned char *data, size_t len) {
    static const char digits[] = "0123456789abcdef";
    char chunk[256];
    size_t i, n = 0;
    json_buf_puts(b, "\"");
    for (i = 0; i < len; i++) {
        chunk[n++] = digits[data[i] >> 4];
        chunk[n++] = digits[data[i] & 15];
        if (n == sizeof chunk) {
            json_buf_append(b, chunk, n);
            n = 0;
        }
    }
    json_buf_append(b, chunk, n);
    json_buf_puts(b, "\"");
}

/* ---------------------------------------------------------------- callbacks ---- */

typedef struct offsets {
    int64_t *items;
    size_t len;
    size_t cap;
} offsets;

static bool offsets_push(offsets *o, int64_t v) {
    if (o->len == o->cap) {
        size_t cap = o->cap == 0 ? 64 : o->cap * 2;
        int64_t *items = realloc(o->items, cap * sizeof *items);
        if (items == NULL) return false;
        o->items = items;
        o->cap = cap;
    }
    o->items[o->len++] = v;
    return true;
}

/* Every ack and error the callbacks delivered, for the whole process (like the reference), and
 * how many ran after the `close` op's zerobus_stream_close returned. The callbacks run on a
 * library thread, hence the lock. */
typedef struct recorded {
    pthread_mutex_t lock;
    offsets acks;
    offsets errors;
    bool closed; /* the `close` op's zerobus_stream_close returned */
    uint64_t late;
} recorded;

static recorded g_recorded = {PTHREAD_MUTEX_INITIALIZER, {NULL, 0, 0}, {NULL, 0, 0}, false, 0};

static void on_ack(void *user_data, int64_t offset) {
    recorded *r = user_data;
    pthread_mutex_lock(&r->lock);
    if (r->closed) r->late++;
    if (!offsets_push(&r->acks, offset)) fprintf(stderr, "testee-c: out of memory recording an ack\n");
    pthread_mutex_unlock(&r->lock);
}

static void on_error(void *user_data, int64_t offset, const char *message) {
    recorded *r = user_data;
    (void)message;
    pthread_mutex_lock(&r->lock);
    if (r->closed) r->late++;
    if (!offsets_push(&r->errors, offset)) fprintf(stderr, "testee-c: out of memory recording an error\n");
    pthread_mutex_unlock(&r->lock);
}

/* The zerobus_code named `name` (zerobus_error_code_name's names), INTERNAL when unknown (as the
 * reference testee maps an unknown name). */
static int32_t code_named(const char *name) {
    static const char *const names[] = {"OK", "INVALID_ARGUMENT", "INVALID_RECORD", "RECORD_TOO_LARGE",
                                        "QUEUE_FULL", "STREAM_CLOSED", "TIMEOUT", "UNAUTHENTICATED",
                                        "PERMISSION_DENIED", "NOT_FOUND", "UNAVAILABLE", "SERVER_ERROR",
                                        "PROTOCOL_ERROR", "TOKEN_ENDPOINT_ERROR", "INTERNAL"};
    int32_t i;
    for (i = 1; i < (int32_t)(sizeof names / sizeof names[0]); i++) {
        if (strcmp(names[i], name) == 0) return i;
    }
    return ZEROBUS_ERROR_INTERNAL;
}

/* A headers provider returning fixed headers (or failing every call with a fixed code and
 * message) and counting its calls. The testee owns every provider it makes (release is NULL) and
 * frees them at exit, after the stream. */
typedef struct provider {
    struct provider *next;
    char **names;
    char **values;
    size_t count;
    int32_t fail_code;  /* ZEROBUS_OK: hand out the headers */
    char *fail_message; /* with fail_code */
    pthread_mutex_t lock;
    uint64_t calls;
} provider;

static provider *g_providers; /* every provider made, newest first */
static provider *g_current_provider;

static int32_t provide_headers(void *user_data, zerobus_headers *headers) {
    provider *p = user_data;
    size_t i;
    pthread_mutex_lock(&p->lock);
    p->calls++;
    pthread_mutex_unlock(&p->lock);
    if (p->fail_code != ZEROBUS_OK) {
        zerobus_headers_set_error(headers, p->fail_message);
        return p->fail_code;
    }
    for (i = 0; i < p->count; i++) zerobus_headers_add(headers, p->names[i], p->values[i]);
    return ZEROBUS_OK;
}

static const char *str_or_empty(const json_value *v) {
    const char *s = json_as_str(v, NULL);
    return s != NULL ? s : "";
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL) memcpy(d, s, n + 1);
    return d;
}

static void provider_free(provider *p) {
    size_t i;
    for (i = 0; i < p->count; i++) {
        free(p->names[i]);
        free(p->values[i]);
    }
    free(p->names);
    free(p->values);
    free(p->fail_message);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* A provider for `headers` ([[name, value], …]; anything that is not a string counts as ""), or,
 * when `fail` ({"code", "message"}) is an object, one failing with that code and message. */
static provider *provider_new(const json_value *headers, const json_value *fail) {
    size_t i, n = json_len(headers);
    provider *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    p->names = calloc(n + 1, sizeof *p->names);
    p->values = calloc(n + 1, sizeof *p->values);
    if (p->names == NULL || p->values == NULL) {
        provider_free(p);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const json_value *h = json_at(headers, i);
        const char *name = json_as_str(json_at(h, 0), NULL), *value = json_as_str(json_at(h, 1), NULL);
        p->names[i] = dup_str(name != NULL ? name : "");
        p->values[i] = dup_str(value != NULL ? value : "");
        p->count = i + 1;
        if (p->names[i] == NULL || p->values[i] == NULL) {
            provider_free(p);
            return NULL;
        }
    }
    if (fail != NULL && fail->type == JSON_OBJECT) {
        const char *code = json_as_str(json_get(fail, "code"), NULL);
        p->fail_code = code_named(code != NULL ? code : "");
        p->fail_message = dup_str(str_or_empty(json_get(fail, "message")));
        if (p->fail_message == NULL) {
            provider_free(p);
            return NULL;
        }
    }
    return p;
}

/* ---------------------------------------------------------------- the testee ---- */

static zerobus_stream *g_stream;
static bool g_stream_proto;
/* The Arrow stream, and whether it was created after the record stream: wait_for_offset, flush,
 * close, is_closed and metrics act on the stream created last (TESTEE.md). */
static zerobus_arrow_stream *g_arrow;
static bool g_arrow_last;

/* One reply: result fields (",\"key\":value" fragments) or an error. */
typedef struct reply {
    json_buf fields;
    zerobus_error *err; /* a library error, freed once written */
    json_buf bad;       /* a testee-side INVALID_ARGUMENT message, when err is NULL */
    bool failed;
} reply;

static bool bad(reply *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static bool bad(reply *r, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_buf_puts(&r->bad, msg);
    r->failed = true;
    return false;
}

/* Records a library failure (the call returned false/NULL and set *err). */
static bool failed(reply *r, zerobus_error *err) {
    r->err = err;
    r->failed = true;
    return false;
}

static bool need_stream(reply *r) {
    return g_stream != NULL || bad(r, "no stream was created");
}

static bool need_arrow(reply *r) {
    return g_arrow != NULL || bad(r, "no Arrow stream was created");
}

static bool set_arrow_options(zerobus_arrow_stream_options *options, const json_value *o, zerobus_error **err) {
    uint64_t v;
    bool b;
    const char *name;
    if (json_as_u64(json_get(o, "max_inflight_batches"), &v) &&
        !zerobus_arrow_stream_options_set_max_inflight_batches(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "max_inflight_bytes"), &v) &&
        !zerobus_arrow_stream_options_set_max_inflight_bytes(options, v, err))
        return false;
    if (json_as_bool(json_get(o, "recovery"), &b) && !zerobus_arrow_stream_options_set_recovery(options, b, err))
        return false;
    if (json_as_u64(json_get(o, "recovery_timeout_ms"), &v) &&
        !zerobus_arrow_stream_options_set_recovery_timeout_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "recovery_backoff_ms"), &v) &&
        !zerobus_arrow_stream_options_set_recovery_backoff_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "recovery_backoff_max_ms"), &v) &&
        !zerobus_arrow_stream_options_set_recovery_backoff_max_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "recovery_retries"), &v) &&
        !zerobus_arrow_stream_options_set_recovery_retries(options, (uint32_t)v, err))
        return false;
    if (json_as_u64(json_get(o, "server_lack_of_ack_timeout_ms"), &v) &&
        !zerobus_arrow_stream_options_set_server_lack_of_ack_timeout_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "flush_timeout_ms"), &v) &&
        !zerobus_arrow_stream_options_set_flush_timeout_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "connection_timeout_ms"), &v) &&
        !zerobus_arrow_stream_options_set_connection_timeout_ms(options, v, err))
        return false;
    if ((name = json_as_str(json_get(o, "ipc_compression"), NULL)) != NULL &&
        !zerobus_arrow_stream_options_set_ipc_compression(options, name, err))
        return false;
    if (json_as_u64(json_get(o, "stream_paused_max_wait_time_ms"), &v) &&
        !zerobus_arrow_stream_options_set_stream_paused_max_wait_time_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "callback_max_wait_time_ms"), &v) &&
        !zerobus_arrow_stream_options_set_callback_max_wait_time_ms(options, v, err))
        return false;
    if (json_as_bool(json_get(o, "ack_callback"), &b) && b &&
        !zerobus_arrow_stream_options_set_ack_callback(options, on_ack, on_error, &g_recorded, NULL, err))
        return false;
    return true;
}

static bool set_options(zerobus_stream_options *options, const json_value *o, zerobus_error **err) {
    uint64_t v;
    bool b;
    if (json_as_u64(json_get(o, "max_inflight_requests"), &v) &&
        !zerobus_stream_options_set_max_inflight_requests(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "max_inflight_bytes"), &v) &&
        !zerobus_stream_options_set_max_inflight_bytes(options, v, err))
        return false;
    if (json_as_bool(json_get(o, "recovery"), &b) && !zerobus_stream_options_set_recovery(options, b, err))
        return false;
    if (json_as_u64(json_get(o, "recovery_timeout_ms"), &v) &&
        !zerobus_stream_options_set_recovery_timeout_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "recovery_backoff_ms"), &v) &&
        !zerobus_stream_options_set_recovery_backoff_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "recovery_backoff_max_ms"), &v) &&
        !zerobus_stream_options_set_recovery_backoff_max_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "server_lack_of_ack_timeout_ms"), &v) &&
        !zerobus_stream_options_set_server_lack_of_ack_timeout_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "flush_timeout_ms"), &v) &&
        !zerobus_stream_options_set_flush_timeout_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "recovery_retries"), &v) &&
        !zerobus_stream_options_set_recovery_retries(options, (uint32_t)v, err))
        return false;
    if (json_as_u64(json_get(o, "stream_paused_max_wait_time_ms"), &v) &&
        !zerobus_stream_options_set_stream_paused_max_wait_time_ms(options, v, err))
        return false;
    if (json_as_u64(json_get(o, "callback_max_wait_time_ms"), &v) &&
        !zerobus_stream_options_set_callback_max_wait_time_ms(options, v, err))
        return false;
    if (json_as_bool(json_get(o, "ack_callback"), &b) && b &&
        !zerobus_stream_options_set_ack_callback(options, on_ack, on_error, &g_recorded, NULL, err))
        return false;
    return true;
}

/* An SDK from a builder: endpoint, workspace URL, and the optional `ca_pem` (PEM text) and
 * `application_name`. NULL on error (*err set, or left NULL when the builder cannot be made). */
static zerobus_sdk *build_sdk(const json_value *req, zerobus_error **err) {
    zerobus_sdk_builder *builder = zerobus_sdk_builder_new();
    zerobus_sdk *sdk = NULL;
    size_t pem_len = 0;
    const char *pem = json_as_str(json_get(req, "ca_pem"), &pem_len);
    const char *app = json_as_str(json_get(req, "application_name"), NULL);
    if (builder == NULL) return NULL;
    if (zerobus_sdk_builder_set_endpoint(builder, str_or_empty(json_get(req, "endpoint")), err) &&
        zerobus_sdk_builder_set_workspace_url(builder, str_or_empty(json_get(req, "workspace_url")), err) &&
        (pem == NULL || zerobus_sdk_builder_add_ca_pem(builder, (const uint8_t *)pem, pem_len, err)) &&
        (app == NULL || zerobus_sdk_builder_set_application_name(builder, app, err))) {
        sdk = zerobus_sdk_builder_build(builder, err);
    }
    zerobus_sdk_builder_free(builder);
    return sdk;
}

/* A new headers provider for `auth` (kind "headers"), owned by the testee and made the one whose
 * calls `headers_provider_calls` counts. NULL when out of memory. */
static provider *current_provider(const json_value *auth) {
    provider *p = provider_new(json_get(auth, "headers"), json_get(auth, "fail"));
    if (p == NULL) return NULL;
    p->next = g_providers;
    g_providers = p;
    g_current_provider = p;
    return p;
}

static bool op_create_stream(reply *r, const json_value *req) {
    zerobus_error *err = NULL;
    zerobus_sdk *sdk;
    zerobus_stream_options *options;
    zerobus_stream *stream = NULL;
    unsigned char *descriptor = NULL;
    size_t descriptor_len = 0;
    bool proto = json_str_eq(json_get(req, "record_type"), "proto");
    const json_value *auth = json_get(req, "auth");
    const char *table = str_or_empty(json_get(req, "table"));
    bool ok = false;

    sdk = build_sdk(req, &err);
    if (sdk == NULL) return err != NULL ? failed(r, err) : bad(r, "out of memory");
    options = zerobus_stream_options_new();
    if (options == NULL) {
        zerobus_sdk_free(sdk);
        return bad(r, "out of memory");
    }
    if (!set_options(options, json_get(req, "options"), &err)) {
        failed(r, err);
        goto done;
    }
    if (!zerobus_stream_options_set_record_type(options, proto ? ZEROBUS_RECORD_TYPE_PROTO : ZEROBUS_RECORD_TYPE_JSON,
                                                &err)) {
        failed(r, err);
        goto done;
    }
    if (proto) {
        size_t hex_len = 0;
        const char *hex = json_as_str(json_get(req, "descriptor_hex"), &hex_len);
        char msg[256];
        /* No descriptor_hex: no descriptor (NULL, 0), which creates the stream from the table. */
        if (hex != NULL && !unhex(hex, hex_len, &descriptor, &descriptor_len, msg, sizeof msg)) {
            bad(r, "%s", msg);
            goto done;
        }
    }
    if (json_str_eq(json_get(auth, "kind"), "headers")) {
        provider *p = current_provider(auth);
        if (p == NULL) {
            bad(r, "out of memory");
            goto done;
        }
        stream = zerobus_sdk_create_stream_with_headers_provider(sdk, table, descriptor, descriptor_len, provide_headers,
                                                                 p, NULL, options, &err);
    } else {
        stream = zerobus_sdk_create_stream(sdk, table, descriptor, descriptor_len,
                                           str_or_empty(json_get(auth, "client_id")),
                                           str_or_empty(json_get(auth, "client_secret")), options, &err);
    }
    if (stream == NULL) {
        failed(r, err);
        goto done;
    }
    if (g_stream != NULL) zerobus_stream_free(g_stream); /* replaced, as the reference drops it */
    g_stream = stream;
    g_stream_proto = proto;
    g_arrow_last = false;
    ok = true;
done:
    free(descriptor);
    zerobus_stream_options_free(options);
    zerobus_sdk_free(sdk);
    return ok;
}

/* Appends "[…]" for `n` offsets where has[i] false means null. */
static void put_offset_values(json_buf *b, const int64_t *values, const bool *has, size_t n) {
    size_t i;
    json_buf_puts(b, "[");
    for (i = 0; i < n; i++) {
        if (i > 0) json_buf_puts(b, ",");
        if (has[i]) {
            json_buf_printf(b, "%" PRId64, values[i]);
        } else {
            json_buf_puts(b, "null");
        }
    }
    json_buf_puts(b, "]");
}

/* Appends ",\"offsets\":[…]" for `n` offsets where has[i] false means null. */
static void put_offsets(reply *r, const int64_t *values, const bool *has, size_t n) {
    json_buf_puts(&r->fields, ",\"offsets\":");
    put_offset_values(&r->fields, values, has, n);
}

typedef struct offset_list {
    int64_t *values;
    bool *has;
    size_t len;
    size_t cap;
} offset_list;

static bool offset_list_push(offset_list *l, bool has, int64_t value) {
    if (l->len == l->cap) {
        size_t cap = l->cap == 0 ? 16 : l->cap * 2;
        int64_t *values = realloc(l->values, cap * sizeof *values);
        bool *h;
        if (values == NULL) return false;
        l->values = values;
        h = realloc(l->has, cap * sizeof *h);
        if (h == NULL) return false;
        l->has = h;
        l->cap = cap;
    }
    l->values[l->len] = value;
    l->has[l->len] = has;
    l->len++;
    return true;
}

static void offset_list_free(offset_list *l) {
    free(l->values);
    free(l->has);
}

/* One producer of `ingest` / `ingest_concurrent`: its request fields, and what happened. Each
 * producer of `ingest_concurrent` runs `produce` on its own thread with its own struct. */
typedef struct producer {
    uint64_t seed, start, count, size, batch;
    const char *mode;
    offset_list out;     /* one per call, unless mode is nowait */
    zerobus_error *err;  /* the failing call's error */
    const char *trouble; /* a testee-side failure (out of memory), when err is NULL */
    bool ok;
} producer;

static void producer_init(producer *p, const json_value *req, uint64_t seed) {
    memset(p, 0, sizeof *p);
    p->seed = seed;
    p->size = 100;
    p->batch = 1;
    json_as_u64(json_get(req, "start"), &p->start);
    json_as_u64(json_get(req, "count"), &p->count);
    json_as_u64(json_get(req, "size"), &p->size);
    json_as_u64(json_get(req, "batch"), &p->batch);
    if (p->batch < 1) p->batch = 1;
    p->mode = json_as_str(json_get(req, "mode"), NULL);
    if (p->mode == NULL) p->mode = "offset";
    if (p->size > SIZE_MAX) p->size = SIZE_MAX;
}

/* Ingests records start…start+count−1 of the producer's seed in calls of `batch` records, with
 * the call `mode` names; stops at the first failing call. */
static void produce(producer *p) {
    uint64_t i, end_all = p->count > UINT64_MAX - p->start ? UINT64_MAX : p->start + p->count;
    bool offset_mode = strcmp(p->mode, "offset") == 0, try_mode = strcmp(p->mode, "try") == 0;
    bool nowait = strcmp(p->mode, "nowait") == 0;
    size_t size = (size_t)p->size;
    bytes buf = {NULL, 0, 0};
    size_t *lengths = NULL;

    /* One length per record of the largest call. */
    {
        uint64_t most = p->batch < end_all - p->start ? p->batch : end_all - p->start;
        if (most == 0) most = 1;
        if (most > SIZE_MAX / sizeof *lengths || (lengths = malloc((size_t)most * sizeof *lengths)) == NULL) {
            p->trouble = "out of memory";
            return;
        }
    }
    for (i = p->start; i < end_all;) {
        uint64_t end = p->batch > end_all - i ? end_all : i + p->batch, j;
        int64_t offset = -1;
        bool has_offset = false, called;
        buf.len = 0;
        for (j = i; j < end; j++) {
            size_t before = buf.len;
            bool made = g_stream_proto ? append_proto_record(&buf, p->seed, j, size)
                                       : append_json_record(&buf, p->seed, j, size);
            if (!made) {
                p->trouble = "out of memory";
                goto done;
            }
            lengths[j - i] = buf.len - before;
        }
        if (p->batch == 1) {
            if (offset_mode) {
                called = zerobus_stream_ingest_record(g_stream, buf.data, buf.len, &offset, &p->err);
                has_offset = true;
            } else if (try_mode) {
                called = zerobus_stream_try_ingest_record(g_stream, buf.data, buf.len, &offset, &p->err);
                has_offset = true;
            } else {
                called = zerobus_stream_ingest_record_nowait(g_stream, buf.data, buf.len, &p->err);
            }
        } else {
            size_t n = (size_t)(end - i);
            if (offset_mode) {
                called = zerobus_stream_ingest_records(g_stream, buf.data, buf.len, lengths, n, &offset, &p->err);
                has_offset = offset != -1;
            } else if (try_mode) {
                called =
                    zerobus_stream_try_ingest_records(g_stream, buf.data, buf.len, lengths, n, &offset, &p->err);
                has_offset = offset != -1;
            } else {
                called = zerobus_stream_ingest_records_nowait(g_stream, buf.data, buf.len, lengths, n, &p->err);
            }
        }
        if (!called) goto done;
        if (!nowait && !offset_list_push(&p->out, has_offset, offset)) {
            p->trouble = "out of memory";
            goto done;
        }
        i = end;
    }
    p->ok = true;
done:
    free(buf.data);
    free(lengths);
}

static void *produce_thread(void *arg) {
    produce(arg);
    return NULL;
}

/* Reports a producer's failure into `r`, handing its error over. */
static bool producer_failed(reply *r, producer *p) {
    zerobus_error *err = p->err;
    p->err = NULL;
    if (err == NULL && p->trouble != NULL) return bad(r, "%s", p->trouble);
    return failed(r, err);
}

static bool op_ingest(reply *r, const json_value *req) {
    producer p;
    uint64_t seed = 1;
    bool ok;
    if (!need_stream(r)) return false;
    json_as_u64(json_get(req, "seed"), &seed);
    producer_init(&p, req, seed);
    produce(&p);
    ok = p.ok;
    if (ok) {
        put_offsets(r, p.out.values, p.out.has, p.out.len);
    } else {
        producer_failed(r, &p);
    }
    offset_list_free(&p.out);
    return ok;
}

/* `producers` pthreads ingest at once on the one stream, producer k with seed seed + k. The reply
 * is one offset list per producer, or the error of the first producer (in producer order) that
 * failed. */
static bool op_ingest_concurrent(reply *r, const json_value *req) {
    uint64_t seed = 1, n = 1, k, started = 0;
    producer *ps;
    pthread_t *threads;
    bool ok = true;
    if (!need_stream(r)) return false;
    json_as_u64(json_get(req, "seed"), &seed);
    json_as_u64(json_get(req, "producers"), &n);
    if (n > 4096) return bad(r, "at most 4096 producers");
    ps = calloc((size_t)n + 1, sizeof *ps);
    threads = calloc((size_t)n + 1, sizeof *threads);
    if (ps == NULL || threads == NULL) {
        free(ps);
        free(threads);
        return bad(r, "out of memory");
    }
    for (k = 0; k < n; k++) producer_init(&ps[k], req, seed + k);
    for (k = 0; k < n; k++, started++) {
        if (pthread_create(&threads[k], NULL, produce_thread, &ps[k]) != 0) break;
    }
    for (k = 0; k < started; k++) pthread_join(threads[k], NULL);
    if (started < n) {
        ok = bad(r, "cannot start producer thread %" PRIu64, started);
    } else {
        for (k = 0; k < n && ok; k++) {
            if (!ps[k].ok) ok = producer_failed(r, &ps[k]);
        }
    }
    if (ok) {
        json_buf_puts(&r->fields, ",\"offsets\":[");
        for (k = 0; k < n; k++) {
            if (k > 0) json_buf_puts(&r->fields, ",");
            put_offset_values(&r->fields, ps[k].out.values, ps[k].out.has, ps[k].out.len);
        }
        json_buf_puts(&r->fields, "]");
    }
    for (k = 0; k < n; k++) {
        zerobus_error_free(ps[k].err);
        offset_list_free(&ps[k].out);
    }
    free(ps);
    free(threads);
    return ok;
}

static bool op_ingest_empty_batch(reply *r) {
    zerobus_error *err = NULL;
    int64_t offset = -1;
    bool has;
    if (!need_stream(r)) return false;
    if (!zerobus_stream_ingest_records(g_stream, NULL, 0, NULL, 0, &offset, &err)) return failed(r, err);
    has = offset != -1;
    put_offsets(r, &offset, &has, 1);
    return true;
}

/* `kind` proto: hex records through the byte calls; json, and object (C has no native objects:
 * the text goes to the JSON calls, as TESTEE.md says), through the JSON-text calls. */
static bool op_ingest_raw(reply *r, const json_value *req) {
    const json_value *records = json_get(req, "records");
    size_t n = json_len(records), i;
    bool proto = json_str_eq(json_get(req, "kind"), "proto"), batch = false, ok = false;
    bytes buf = {NULL, 0, 0};
    size_t *lengths = NULL;
    offset_list out = {NULL, NULL, 0, 0};
    zerobus_error *err = NULL;

    if (!need_stream(r)) return false;
    json_as_bool(json_get(req, "batch"), &batch);
    lengths = malloc((n + 1) * sizeof *lengths);
    if (lengths == NULL) return bad(r, "out of memory");
    /* Every record goes into one contiguous buffer: text as is, or decoded from hex. */
    for (i = 0; i < n; i++) {
        size_t len = 0;
        const char *text = json_as_str(json_at(records, i), &len);
        if (text == NULL) {
            text = "";
            len = 0;
        }
        if (proto) {
            unsigned char *decoded;
            size_t decoded_len;
            char msg[256];
            if (!unhex(text, len, &decoded, &decoded_len, msg, sizeof msg)) {
                bad(r, "%s", msg);
                goto done;
            }
            if (!bytes_reserve(&buf, decoded_len)) {
                free(decoded);
                bad(r, "out of memory");
                goto done;
            }
            bytes_put(&buf, decoded, decoded_len);
            free(decoded);
            lengths[i] = decoded_len;
        } else {
            if (!bytes_reserve(&buf, len)) {
                bad(r, "out of memory");
                goto done;
            }
            bytes_put(&buf, text, len);
            lengths[i] = len;
        }
    }
    /* Text goes through the JSON calls (INVALID_RECORD on a PROTO stream), hex through the typed
     * ones (read as the stream's record type). */
    if (batch) {
        int64_t offset = -1;
        bool called = proto ? zerobus_stream_ingest_records(g_stream, buf.data, buf.len, lengths, n, &offset, &err)
                            : zerobus_stream_ingest_json_records(g_stream, buf.data, buf.len, lengths, n, &offset,
                                                                 &err);
        if (!called) {
            failed(r, err);
            goto done;
        }
        if (!offset_list_push(&out, offset != -1, offset)) {
            bad(r, "out of memory");
            goto done;
        }
    } else {
        size_t at = 0;
        for (i = 0; i < n; i++) {
            int64_t offset = -1;
            const uint8_t *rec = buf.data != NULL ? buf.data + at : NULL; /* NULL only when empty */
            bool called = proto ? zerobus_stream_ingest_record(g_stream, rec, lengths[i], &offset, &err)
                                : zerobus_stream_ingest_json_record(g_stream, rec, lengths[i], &offset, &err);
            if (!called) {
                failed(r, err);
                goto done;
            }
            at += lengths[i];
            if (!offset_list_push(&out, true, offset)) {
                bad(r, "out of memory");
                goto done;
            }
        }
    }
    put_offsets(r, out.values, out.has, out.len);
    ok = true;
done:
    free(buf.data);
    free(lengths);
    offset_list_free(&out);
    return ok;
}

/* `table_schema`: the table's columns from zerobus_sdk_get_table_schema (or its headers
 * provider form) and the descriptor the library derives from them, as hex. */
static bool op_table_schema(reply *r, const json_value *req) {
    zerobus_error *err = NULL;
    zerobus_table_schema *schema = NULL;
    const json_value *auth = json_get(req, "auth");
    const char *table = str_or_empty(json_get(req, "table"));
    const uint8_t *descriptor;
    size_t i, n, len = 0;
    zerobus_sdk *sdk = build_sdk(req, &err);
    bool ok = false;

    if (sdk == NULL) return err != NULL ? failed(r, err) : bad(r, "out of memory");
    if (json_str_eq(json_get(auth, "kind"), "headers")) {
        provider *p = current_provider(auth);
        if (p == NULL) {
            bad(r, "out of memory");
            goto done;
        }
        schema = zerobus_sdk_get_table_schema_with_headers_provider(sdk, table, provide_headers, p, NULL, &err);
    } else {
        schema = zerobus_sdk_get_table_schema(sdk, table, str_or_empty(json_get(auth, "client_id")),
                                              str_or_empty(json_get(auth, "client_secret")), &err);
    }
    if (schema == NULL) {
        failed(r, err);
        goto done;
    }
    descriptor = zerobus_table_schema_descriptor(schema, &len, &err);
    if (descriptor == NULL) {
        failed(r, err);
        goto done;
    }
    n = zerobus_table_schema_column_count(schema);
    json_buf_puts(&r->fields, ",\"columns\":[");
    for (i = 0; i < n; i++) {
        const char *name = zerobus_table_schema_column_name(schema, i);
        const char *type = zerobus_table_schema_column_type(schema, i);
        json_buf_puts(&r->fields, i > 0 ? ",{\"name\":" : "{\"name\":");
        json_buf_string(&r->fields, name, strlen(name));
        json_buf_puts(&r->fields, ",\"type\":");
        json_buf_string(&r->fields, type, strlen(type));
        json_buf_printf(&r->fields, ",\"nullable\":%s,\"position\":%" PRId64 "}",
                        zerobus_table_schema_column_nullable(schema, i) ? "true" : "false",
                        zerobus_table_schema_column_position(schema, i));
    }
    json_buf_puts(&r->fields, "],\"descriptor_hex\":");
    buf_hex(&r->fields, descriptor, len);
    ok = true;
done:
    zerobus_table_schema_free(schema); /* after the last use of the strings and bytes it owns */
    zerobus_sdk_free(sdk);
    return ok;
}

static bool op_create_arrow_stream(reply *r, const json_value *req) {
    zerobus_error *err = NULL;
    zerobus_sdk *sdk;
    zerobus_arrow_stream_options *options;
    zerobus_arrow_stream *stream = NULL;
    unsigned char *schema = NULL;
    size_t schema_len = 0, hex_len = 0;
    const json_value *auth = json_get(req, "auth");
    const char *table = str_or_empty(json_get(req, "table"));
    const char *hex = json_as_str(json_get(req, "schema_hex"), &hex_len);
    char msg[256];
    bool ok = false;

    /* No schema_hex: no schema (NULL, 0), which creates the stream from the table. */
    if (hex != NULL && !unhex(hex, hex_len, &schema, &schema_len, msg, sizeof msg)) return bad(r, "%s", msg);
    sdk = build_sdk(req, &err);
    if (sdk == NULL) {
        free(schema);
        return err != NULL ? failed(r, err) : bad(r, "out of memory");
    }
    options = zerobus_arrow_stream_options_new();
    if (options == NULL) {
        bad(r, "out of memory");
        goto done;
    }
    if (!set_arrow_options(options, json_get(req, "options"), &err)) {
        failed(r, err);
        goto done;
    }
    if (json_str_eq(json_get(auth, "kind"), "headers")) {
        provider *p = current_provider(auth);
        if (p == NULL) {
            bad(r, "out of memory");
            goto done;
        }
        stream = zerobus_sdk_create_arrow_stream_with_headers_provider(sdk, table, schema, schema_len,
                                                                       provide_headers, p, NULL, options, &err);
    } else {
        stream = zerobus_sdk_create_arrow_stream(sdk, table, schema, schema_len,
                                                 str_or_empty(json_get(auth, "client_id")),
                                                 str_or_empty(json_get(auth, "client_secret")), options, &err);
    }
    if (stream == NULL) {
        failed(r, err);
        goto done;
    }
    if (g_arrow != NULL) zerobus_arrow_stream_free(g_arrow); /* replaced, as the reference drops it */
    g_arrow = stream;
    g_arrow_last = true;
    ok = true;
done:
    free(schema);
    zerobus_arrow_stream_options_free(options);
    zerobus_sdk_free(sdk);
    return ok;
}

/* Both forms go through the IPC call: this testee has no Arrow library to decode the bytes into
 * C Data Interface structs (TESTEE.md lets testees without a native form use the IPC call; the
 * C Data call is tested in ffi-c/tests/arrow.rs). */
static bool op_ingest_arrow(reply *r, const json_value *req) {
    zerobus_error *err = NULL;
    unsigned char *ipc = NULL;
    size_t ipc_len = 0, hex_len = 0;
    int64_t offset = -1;
    const char *hex = json_as_str(json_get(req, "ipc_hex"), &hex_len);
    char msg[256];
    bool ok;
    if (!need_arrow(r)) return false;
    if (hex == NULL) return bad(r, "ingest_arrow needs ipc_hex");
    if (!unhex(hex, hex_len, &ipc, &ipc_len, msg, sizeof msg)) return bad(r, "%s", msg);
    ok = zerobus_arrow_stream_ingest_ipc(g_arrow, ipc, ipc_len, &offset, &err);
    free(ipc);
    if (!ok) return failed(r, err);
    json_buf_printf(&r->fields, ",\"offset\":%" PRId64, offset);
    return true;
}

static bool op_arrow_unacked(reply *r) {
    zerobus_error *err = NULL;
    zerobus_buffer *ipc;
    if (!need_arrow(r)) return false;
    ipc = zerobus_arrow_stream_get_unacked_ipc(g_arrow, &err);
    if (ipc == NULL) return failed(r, err);
    json_buf_puts(&r->fields, ",\"ipc_hex\":");
    buf_hex(&r->fields, zerobus_buffer_data(ipc), zerobus_buffer_len(ipc));
    zerobus_buffer_free(ipc);
    return true;
}

static bool op_unacked(reply *r) {
    zerobus_error *err = NULL;
    zerobus_batches *batches;
    size_t b, i, count;
    if (!need_stream(r)) return false;
    batches = zerobus_stream_get_unacked_batches(g_stream, &err);
    if (batches == NULL) return failed(r, err);
    count = zerobus_batches_count(batches);
    json_buf_puts(&r->fields, ",\"batches\":[");
    for (b = 0; b < count; b++) {
        size_t n = zerobus_batches_batch_len(batches, b);
        json_buf_puts(&r->fields, b > 0 ? ",[" : "[");
        for (i = 0; i < n; i++) {
            const uint8_t *data = NULL;
            size_t len = 0;
            if (i > 0) json_buf_puts(&r->fields, ",");
            if (!zerobus_batches_record(batches, b, i, &data, &len)) {
                data = (const uint8_t *)"";
                len = 0;
            }
            if (g_stream_proto) {
                buf_hex(&r->fields, data, len);
            } else {
                json_buf_string(&r->fields, (const char *)data, len); /* lossy, as the reference */
            }
        }
        json_buf_puts(&r->fields, "]");
    }
    json_buf_puts(&r->fields, "]");
    zerobus_batches_free(batches);
    return true;
}

static bool op_metrics(reply *r) {
    zerobus_error *err = NULL;
    zerobus_metrics m;
    if (g_arrow_last) {
        if (!need_arrow(r)) return false;
        if (!zerobus_arrow_stream_metrics(g_arrow, &m, &err)) return failed(r, err);
    } else {
        if (!need_stream(r)) return false;
        if (!zerobus_stream_metrics(g_stream, &m, &err)) return failed(r, err);
    }
    json_buf_printf(&r->fields,
                    ",\"metrics\":{\"inflight_requests\":%" PRIu64 ",\"inflight_records\":%" PRIu64
                    ",\"inflight_bytes\":%" PRIu64 ",\"last_acked_offset\":",
                    m.inflight_requests, m.inflight_records, m.inflight_bytes);
    if (m.last_acked_offset < 0) {
        json_buf_puts(&r->fields, "null");
    } else {
        json_buf_printf(&r->fields, "%" PRId64, m.last_acked_offset);
    }
    json_buf_printf(&r->fields,
                    ",\"records_sent\":%" PRIu64 ",\"records_resent\":%" PRIu64 ",\"recoveries\":%" PRIu64
                    ",\"token_fetches\":%" PRIu64 "}",
                    m.records_sent, m.records_resent, m.recoveries, m.token_fetches);
    return true;
}

static void put_offset_array(json_buf *b, const offsets *o) {
    size_t i;
    json_buf_puts(b, "[");
    for (i = 0; i < o->len; i++) json_buf_printf(b, i > 0 ? ",%" PRId64 : "%" PRId64, o->items[i]);
    json_buf_puts(b, "]");
}

static bool op_callbacks(reply *r) {
    pthread_mutex_lock(&g_recorded.lock);
    json_buf_puts(&r->fields, ",\"acks\":");
    put_offset_array(&r->fields, &g_recorded.acks);
    json_buf_puts(&r->fields, ",\"errors\":");
    put_offset_array(&r->fields, &g_recorded.errors);
    json_buf_printf(&r->fields, ",\"late\":%" PRIu64, g_recorded.late);
    pthread_mutex_unlock(&g_recorded.lock);
    return true;
}

static bool op_headers_provider_calls(reply *r) {
    uint64_t calls = 0;
    if (g_current_provider != NULL) {
        pthread_mutex_lock(&g_current_provider->lock);
        calls = g_current_provider->calls;
        pthread_mutex_unlock(&g_current_provider->lock);
    }
    json_buf_printf(&r->fields, ",\"count\":%" PRIu64, calls);
    return true;
}

static void handle(reply *r, const json_value *req) {
    const json_value *opv = json_get(req, "op");
    const char *op = str_or_empty(opv);
    zerobus_error *err = NULL;
    if (strcmp(op, "create_stream") == 0) {
        op_create_stream(r, req);
    } else if (strcmp(op, "ingest") == 0) {
        op_ingest(r, req);
    } else if (strcmp(op, "ingest_concurrent") == 0) {
        op_ingest_concurrent(r, req);
    } else if (strcmp(op, "ingest_empty_batch") == 0) {
        op_ingest_empty_batch(r);
    } else if (strcmp(op, "ingest_raw") == 0) {
        op_ingest_raw(r, req);
    } else if (strcmp(op, "table_schema") == 0) {
        op_table_schema(r, req);
    } else if (strcmp(op, "create_arrow_stream") == 0) {
        op_create_arrow_stream(r, req);
    } else if (strcmp(op, "ingest_arrow") == 0) {
        op_ingest_arrow(r, req);
    } else if (strcmp(op, "arrow_unacked") == 0) {
        op_arrow_unacked(r);
    } else if (strcmp(op, "wait_for_offset") == 0) {
        int64_t offset = -1;
        json_as_i64(json_get(req, "offset"), &offset);
        if (g_arrow_last) {
            if (need_arrow(r) && !zerobus_arrow_stream_wait_for_offset(g_arrow, offset, &err)) failed(r, err);
        } else if (need_stream(r) && !zerobus_stream_wait_for_offset(g_stream, offset, &err)) {
            failed(r, err);
        }
    } else if (strcmp(op, "flush") == 0) {
        if (g_arrow_last) {
            if (need_arrow(r) && !zerobus_arrow_stream_flush(g_arrow, &err)) failed(r, err);
        } else if (need_stream(r) && !zerobus_stream_flush(g_stream, &err)) {
            failed(r, err);
        }
    } else if (strcmp(op, "close") == 0) {
        if (g_arrow_last ? need_arrow(r) : need_stream(r)) {
            bool closed =
                g_arrow_last ? zerobus_arrow_stream_close(g_arrow, &err) : zerobus_stream_close(g_stream, &err);
            /* From here on a callback is late, whatever close returned. */
            pthread_mutex_lock(&g_recorded.lock);
            g_recorded.closed = true;
            pthread_mutex_unlock(&g_recorded.lock);
            if (!closed) failed(r, err);
        }
    } else if (strcmp(op, "is_closed") == 0) {
        if (g_arrow_last ? need_arrow(r) : need_stream(r)) {
            bool closed = g_arrow_last ? zerobus_arrow_stream_is_closed(g_arrow) : zerobus_stream_is_closed(g_stream);
            json_buf_puts(&r->fields, closed ? ",\"closed\":true" : ",\"closed\":false");
        }
    } else if (strcmp(op, "unacked") == 0) {
        op_unacked(r);
    } else if (strcmp(op, "metrics") == 0) {
        op_metrics(r);
    } else if (strcmp(op, "callbacks") == 0) {
        op_callbacks(r);
    } else if (strcmp(op, "headers_provider_calls") == 0) {
        op_headers_provider_calls(r);
    } else {
        json_buf quoted = {NULL, 0, 0, false};
        json_buf_string(&quoted, op, strlen(op));
        bad(r, "unknown op %s", quoted.data != NULL ? quoted.data : "\"\"");
        json_buf_free(&quoted);
    }
}

/* Writes the reply line for request `id`. Returns false when stdout is gone. */
static bool respond(const json_value *id, reply *r) {
    json_buf line = {NULL, 0, 0, false};
    bool ok;
    json_buf_puts(&line, "{\"id\":");
    json_buf_value(&line, id);
    if (!r->failed) {
        json_buf_puts(&line, ",\"ok\":true");
        json_buf_append(&line, r->fields.data != NULL ? r->fields.data : "", r->fields.len);
    } else if (r->err != NULL) {
        const char *name = zerobus_error_code_name(r->err);
        const char *message = zerobus_error_message(r->err);
        int32_t grpc = zerobus_error_grpc_status(r->err);
        json_buf_puts(&line, ",\"ok\":false,\"error\":{\"code\":");
        json_buf_string(&line, name[0] != '\0' ? name : "INTERNAL", strlen(name[0] != '\0' ? name : "INTERNAL"));
        if (grpc < 0) {
            json_buf_puts(&line, ",\"grpc_status\":null");
        } else {
            json_buf_printf(&line, ",\"grpc_status\":%" PRId32, grpc);
        }
        json_buf_puts(&line, zerobus_error_is_retryable(r->err) ? ",\"retryable\":true" : ",\"retryable\":false");
        json_buf_puts(&line, ",\"message\":");
        json_buf_string(&line, message, strlen(message));
        json_buf_puts(&line, "}");
    } else if (r->err == NULL && r->bad.len == 0 && r->failed) {
        /* A library call failed without an error object: only possible if err was NULL. */
        json_buf_puts(&line, ",\"ok\":false,\"error\":{\"code\":\"INTERNAL\",\"grpc_status\":null,"
                             "\"retryable\":false,\"message\":\"the library reported no error\"}");
    } else {
        json_buf_puts(&line, ",\"ok\":false,\"error\":{\"code\":\"INVALID_ARGUMENT\",\"grpc_status\":null,"
                             "\"retryable\":false,\"message\":");
        json_buf_string(&line, r->bad.data, r->bad.len);
        json_buf_puts(&line, "}");
    }
    json_buf_puts(&line, "}\n");
    if (line.failed || r->fields.failed || r->bad.failed) {
        static const char oom[] = ",\"ok\":false,\"error\":{\"code\":\"INTERNAL\",\"grpc_status\":null,"
                                  "\"retryable\":false,\"message\":\"testee out of memory\"}}\n";
        json_buf_free(&line);
        json_buf_puts(&line, "{\"id\":");
        json_buf_value(&line, id);
        json_buf_puts(&line, oom);
    }
    ok = !line.failed && fwrite(line.data, 1, line.len, stdout) == line.len && fflush(stdout) == 0;
    json_buf_free(&line);
    return ok;
}

/* Reads one line without its "\n" (or "\r\n") into `line`. Returns false at end of input. */
static bool read_line(json_buf *line) {
    char chunk[4096];
    size_t n = 0;
    bool any = false;
    int c;
    line->len = 0;
    while ((c = getc(stdin)) != EOF) {
        any = true;
        if (c == '\n') break;
        chunk[n++] = (char)c;
        if (n == sizeof chunk) {
            json_buf_append(line, chunk, n);
            n = 0;
        }
    }
    json_buf_append(line, chunk, n);
    if (line->len > 0 && line->data[line->len - 1] == '\r') line->len--;
    return any && !line->failed;
}

int main(void) {
    json_buf line = {NULL, 0, 0, false};
    zerobus_error *err = NULL;
    provider *p;

    while (read_line(&line)) {
        char why[128];
        json_value *req;
        reply r;
        bool written;
        /* Like the reference (BufRead::lines), a line that is not UTF-8 ends the session. */
        if (!json_utf8_valid((const unsigned char *)line.data, line.len)) {
            fprintf(stderr, "testee-c: a request line is not UTF-8\n");
            break;
        }
        req = json_parse(line.data, line.len, why, sizeof why);
        if (req == NULL) {
            fprintf(stderr, "testee-c: bad request line: %s\n", why);
            continue;
        }
        if (json_str_eq(json_get(req, "op"), "quit")) {
            json_free(req);
            break;
        }
        memset(&r, 0, sizeof r);
        handle(&r, req);
        written = respond(json_get(req, "id"), &r);
        zerobus_error_free(r.err);
        json_buf_free(&r.fields);
        json_buf_free(&r.bad);
        json_free(req);
        if (!written) break;
    }
    json_buf_free(&line);

    /* Close explicitly so a stream left open by a case is shut down, then free everything. */
    if (g_stream != NULL) {
        zerobus_stream_close(g_stream, &err);
        zerobus_error_free(err);
        zerobus_stream_free(g_stream);
        g_stream = NULL;
    }
    if (g_arrow != NULL) {
        err = NULL;
        zerobus_arrow_stream_close(g_arrow, &err);
        zerobus_error_free(err);
        zerobus_arrow_stream_free(g_arrow);
        g_arrow = NULL;
    }
    while ((p = g_providers) != NULL) {
        g_providers = p->next;
        provider_free(p);
    }
    g_current_provider = NULL;
    free(g_recorded.acks.items);
    free(g_recorded.errors.items);
    pthread_mutex_destroy(&g_recorded.lock);
    return 0;
}
