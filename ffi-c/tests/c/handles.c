/*
 * handles.c: every entry point of zerobus.h that takes a handle, called with handles that are not
 * live, and the documented answers:
 *   (a) a freed handle: fallible calls fail ZEROBUS_ERROR_INVALID_ARGUMENT, "already freed";
 *       *_free is a no-op; accessors return their documented default;
 *   (b) freed then reused: after a new object of the same type took the freed handle's slot, the
 *       old handle is still refused and the new one works;
 *   (c) a handle of another type: INVALID_ARGUMENT, "not a zerobus_<type> handle", and the other
 *       object is untouched (even by the wrong *_free);
 *   (d) forged values (small integers, a real C address, all ones, a live handle with its
 *       generation or slot changed): INVALID_ARGUMENT, no crash, the live handle untouched;
 *   (e) a closed stream: ingest calls fail ZEROBUS_ERROR_STREAM_CLOSED; close, flush, metrics,
 *       unacked records and is_closed answer as documented;
 *   (f) several threads ingesting (typed and JSON calls) on one stream while another thread frees
 *       it: every call returns true or INVALID_ARGUMENT "already freed" (only after the free).
 * Also: JSON text on a PROTO stream through the JSON calls fails INVALID_RECORD and the stream
 * carries on; a headers provider's failure code and message reach the caller (UNAUTHENTICATED is
 * final: the provider is asked once); option ranges are checked at stream creation.
 *
 * Run by ffi-c/tests/handles.rs against a mock server whose FIRST connection stores records but
 * never acknowledges them (the program opens that stream first, for unacked batches), every later
 * connection acknowledging normally; TYPED_TABLE is a table whose columns it declares
 * (`id BIGINT NOT NULL`), for table schema handles:
 *   handles ENDPOINT WORKSPACE_URL CLIENT_ID CLIENT_SECRET TABLE TYPED_TABLE
 * Exits 0 when every check passed; prints each failed check to stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zerobus.h"

static int checks;
static int failures;
static const char *g_section = "";

static void check_at(int line, bool ok, const char *what) {
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "FAIL handles.c:%d [%s]: %s\n", line, g_section, what);
    }
}

#define CHECK(cond) check_at(__LINE__, (cond), #cond)

/* Checks a failed call's error: `code`, a message holding `param` in backquotes (when not NULL)
 * and `fragment` (when not NULL); INVALID_ARGUMENT, STREAM_CLOSED and INVALID_RECORD are never
 * retryable and carry no gRPC status. Frees the error. */
static void check_error(int line, const char *call, bool call_failed, zerobus_error *err, int32_t code,
                        const char *param, const char *fragment) {
    char what[768];
    const char *message = zerobus_error_message(err);
    snprintf(what, sizeof what, "%s fails", call);
    check_at(line, call_failed, what);
    snprintf(what, sizeof what, "%s stores an error", call);
    check_at(line, err != NULL, what);
    if (err != NULL) {
        snprintf(what, sizeof what, "%s: code %s (%d), expected %d", call, zerobus_error_code_name(err),
                 (int)zerobus_error_code(err), (int)code);
        check_at(line, zerobus_error_code(err) == code, what);
        if (param != NULL) {
            char quoted[128];
            snprintf(quoted, sizeof quoted, "`%s`", param);
            snprintf(what, sizeof what, "%s: message \"%s\" names %s", call, message, quoted);
            check_at(line, strstr(message, quoted) != NULL, what);
        }
        if (fragment != NULL) {
            snprintf(what, sizeof what, "%s: message \"%s\" says \"%s\"", call, message, fragment);
            check_at(line, strstr(message, fragment) != NULL, what);
        }
        snprintf(what, sizeof what, "%s: not retryable, no gRPC status", call);
        check_at(line, !zerobus_error_is_retryable(err) && zerobus_error_grpc_status(err) == -1, what);
    }
    zerobus_error_free(err);
}

/* `failed_expr` is a call written with ERRP as its error argument and compared to its failure
 * value. It runs twice: with ERRP NULL (must fail quietly), then with an error slot. */
#define EXPECT_ERROR(code, param, fragment, failed_expr)                                           \
    do {                                                                                           \
        zerobus_error *err_slot_ = NULL;                                                           \
        zerobus_error **ERRP = NULL;                                                               \
        bool quiet_failed_ = (failed_expr);                                                        \
        bool failed_;                                                                              \
        check_at(__LINE__, quiet_failed_, #failed_expr " with err == NULL");                       \
        ERRP = &err_slot_;                                                                         \
        failed_ = (failed_expr);                                                                   \
        check_error(__LINE__, #failed_expr, failed_, err_slot_, (code), (param), (fragment));      \
    } while (0)

/* A handle refused: INVALID_ARGUMENT naming `param`, with `fragment` when not NULL. */
#define EXPECT_REFUSED(param, fragment, failed_expr)                                               \
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, param, fragment, failed_expr)

/* A call expected to succeed. `*errp` is read after the call, and reported and freed if set. */
static bool succeeded(int line, const char *call, bool ok, zerobus_error **errp) {
    char what[768];
    zerobus_error *err = *errp;
    snprintf(what, sizeof what, "%s succeeds (%s: %s)", call, err != NULL ? zerobus_error_code_name(err) : "-",
             err != NULL ? zerobus_error_message(err) : "-");
    check_at(line, ok && err == NULL, what);
    zerobus_error_free(err);
    *errp = NULL;
    return ok;
}

#define EXPECT_OK(ok_expr) succeeded(__LINE__, #ok_expr, (ok_expr), &err)

/* The fragments of the three refusals. */
static const char FREED[] = "already freed";
#define WRONG(type) "not a " type " handle"

/* ---------------------------------------------------------------- handle values ---- */

#if UINTPTR_MAX > 0xFFFFFFFFu
#define INDEX_MASK ((uintptr_t)0xFFFFFF) /* handles.rs: the slot index, low 24 bits (64-bit) */
#else
#define INDEX_MASK ((uintptr_t)0xFFFFF) /* 20 bits on 32-bit targets */
#endif

/* `fresh` was made right after `freed` was freed: a new value for the same slot. */
static void check_reused(int line, const void *freed, const void *fresh) {
    uintptr_t a = (uintptr_t)freed, b = (uintptr_t)fresh;
    check_at(line, fresh != NULL, "the new object was made");
    check_at(line, a != b, "the new handle differs from the freed one");
    check_at(line, ((a ^ b) & INDEX_MASK) == 0,
             "the new object took the freed handle's slot (handles.rs: the table reuses freed slots)");
}

static int g_not_a_handle; /* its address is a real C pointer, not a handle */

#define FORGED_MAX 5

/* Forged values for the type of the live handle `live`: a small integer, the address of a C
 * object, all bits set, `live` with another generation, and `live`'s type with a slot the table
 * never handed out. Returns how many. */
static size_t forged_from(const void *live, void *out[FORGED_MAX]) {
    uintptr_t h = (uintptr_t)live;
    size_t n = 0;
    out[n++] = (void *)(uintptr_t)0x1234;
    out[n++] = (void *)&g_not_a_handle;
    out[n++] = (void *)UINTPTR_MAX;
    out[n++] = (void *)(h ^ (INDEX_MASK + 1)); /* lowest generation bit flipped */
    out[n++] = (void *)(h | INDEX_MASK);       /* a slot far past any allocated one */
    return n;
}

/* ---------------------------------------------------------------- fixtures ---- */

/* A serialized DescriptorProto: `message R { optional int64 a = 1; }`. */
static const uint8_t DESCRIPTOR[] = {0x0a, 0x01, 'R', 0x12, 0x09, 0x0a, 0x01, 'a',
                                     0x18, 0x01, 0x20, 0x01, 0x28, 0x03};
/* R { a: 1 } encoded. */
static const uint8_t PROTO_RECORD[] = {0x08, 0x01};

static const char TWO[] = "{\"a\":1}{\"a\":2}"; /* two JSON records of 7 bytes */
static const uint8_t PEM[] = "-----BEGIN CERTIFICATE-----\n";

static const char *g_endpoint, *g_workspace, *g_id, *g_secret, *g_table, *g_typed_table;
static zerobus_sdk *g_sdk;
static zerobus_stream_options *g_json; /* JSON streams, short bounds */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_releases;

static void count_release(void *user_data) {
    (void)user_data;
    pthread_mutex_lock(&g_lock);
    g_releases++;
    pthread_mutex_unlock(&g_lock);
}

static int releases(void) {
    int n;
    pthread_mutex_lock(&g_lock);
    n = g_releases;
    pthread_mutex_unlock(&g_lock);
    return n;
}

static void ignore_ack(void *user_data, int64_t offset) {
    (void)user_data;
    (void)offset;
}

/* A headers provider that must never be called (its create call is refused first). */
static int g_never_calls;
static int32_t never_headers(void *user_data, zerobus_headers *headers) {
    (void)user_data;
    (void)headers;
    pthread_mutex_lock(&g_lock);
    g_never_calls++;
    pthread_mutex_unlock(&g_lock);
    return ZEROBUS_ERROR_INTERNAL;
}

/* Whether `sdk` is live: a create call with a NULL table gets past the `sdk` check and names
 * `table_name` (nothing connects). */
static bool sdk_live(const zerobus_sdk *sdk) {
    zerobus_error *e = NULL;
    zerobus_stream *s = zerobus_sdk_create_stream(sdk, NULL, NULL, 0, g_id, g_secret, g_json, &e);
    bool live = s == NULL && e != NULL && strstr(zerobus_error_message(e), "`table_name`") != NULL;
    zerobus_error_free(e);
    zerobus_stream_free(s);
    return live;
}

static bool options_live(zerobus_stream_options *o) {
    return zerobus_stream_options_set_callback_max_wait_time_ms(o, 5000, NULL);
}

static bool stream_live(const zerobus_stream *s) {
    zerobus_metrics m;
    return zerobus_stream_metrics(s, &m, NULL);
}

static bool encoder_live(const zerobus_json_encoder *enc) {
    zerobus_buffer *b = zerobus_json_encoder_encode(enc, "{\"a\":150}", 9, NULL);
    bool live = b != NULL && zerobus_buffer_len(b) == 3;
    zerobus_buffer_free(b);
    return live;
}

static bool schema_live(const zerobus_table_schema *s) {
    size_t len = 0;
    return zerobus_table_schema_column_count(s) == 1 && zerobus_table_schema_descriptor(s, &len, NULL) != NULL &&
           len > 0;
}

static zerobus_table_schema *typed_schema(void) {
    zerobus_error *err = NULL;
    zerobus_table_schema *s = zerobus_sdk_get_table_schema(g_sdk, g_typed_table, g_id, g_secret, &err);
    EXPECT_OK(s != NULL);
    return s;
}

static zerobus_stream *json_stream(void) {
    zerobus_error *err = NULL;
    zerobus_stream *s = zerobus_sdk_create_stream(g_sdk, g_table, NULL, 0, g_id, g_secret, g_json, &err);
    EXPECT_OK(s != NULL);
    return s;
}

/* ---------------------------------------------------------------- every call per type ---- */

/* Every stream entry point with `h`, which is not a live stream. */
static void stream_refused(zerobus_stream *h, const char *fragment) {
    const uint8_t *data = (const uint8_t *)TWO;
    size_t lengths[2] = {7, 7};
    int64_t offset = 99;
    zerobus_metrics m, untouched;
    memset(&m, 0x5a, sizeof m);
    untouched = m;

    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_record(h, data, 7, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_try_ingest_record(h, data, 7, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_record_nowait(h, data, 7, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_records(h, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_try_ingest_records(h, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_records_nowait(h, data, 14, lengths, 2, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_json_record(h, data, 7, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_try_ingest_json_record(h, data, 7, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_json_record_nowait(h, data, 7, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_json_records(h, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment,
                   !zerobus_stream_try_ingest_json_records(h, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_json_records_nowait(h, data, 14, lengths, 2, ERRP));
    /* An empty batch is checked against the handle too. */
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_records(h, NULL, 0, NULL, 0, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_ingest_json_records(h, NULL, 0, NULL, 0, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_wait_for_offset(h, 0, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_flush(h, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_close(h, ERRP));
    EXPECT_REFUSED("stream", fragment, zerobus_stream_get_unacked_batches(h, ERRP) == NULL);
    EXPECT_REFUSED("stream", fragment, zerobus_stream_get_unacked_records(h, ERRP) == NULL);
    EXPECT_REFUSED("stream", fragment, !zerobus_stream_metrics(h, &m, ERRP));
    EXPECT_REFUSED("stream", fragment, zerobus_stream_table_schema(h, ERRP) == NULL);
    {
        char id[16] = "untouched";
        CHECK(zerobus_stream_id(h, id, sizeof id) == 0 && strcmp(id, "untouched") == 0); /* documented default */
    }
    CHECK(offset == 99);                                 /* outputs left alone */
    CHECK(memcmp(&m, &untouched, sizeof m) == 0);
    CHECK(!zerobus_stream_is_closed(h));                 /* documented default */
    zerobus_stream_free(h);                              /* a no-op */
}

/* Every SDK entry point with `h`, which is not a live SDK. */
static void sdk_refused(zerobus_sdk *h, const char *fragment) {
    int before = releases();
    EXPECT_REFUSED("sdk", fragment,
                   zerobus_sdk_create_stream(h, g_table, NULL, 0, g_id, g_secret, g_json, ERRP) == NULL);
    EXPECT_REFUSED("sdk", fragment,
                   zerobus_sdk_create_stream_with_headers_provider(h, g_table, NULL, 0, never_headers, &g_releases,
                                                                   count_release, g_json, ERRP) == NULL);
    EXPECT_REFUSED("sdk", fragment, zerobus_sdk_get_table_schema(h, g_typed_table, g_id, g_secret, ERRP) == NULL);
    EXPECT_REFUSED("sdk", fragment,
                   zerobus_sdk_get_table_schema_with_headers_provider(h, g_typed_table, never_headers, &g_releases,
                                                                      count_release, ERRP) == NULL);
    EXPECT_REFUSED("sdk", fragment,
                   zerobus_sdk_create_arrow_stream(h, g_typed_table, NULL, 0, g_id, g_secret, NULL, ERRP) == NULL);
    EXPECT_REFUSED("sdk", fragment,
                   zerobus_sdk_create_arrow_stream_with_headers_provider(h, g_typed_table, NULL, 0, never_headers,
                                                                         &g_releases, count_release, NULL,
                                                                         ERRP) == NULL);
    CHECK(releases() == before + 6); /* user_data handed back by each refused call */
    CHECK(g_never_calls == 0);
    zerobus_sdk_free(h); /* a no-op */
}

/* Every builder entry point with `h`, which is not a live builder. */
static void builder_refused(zerobus_sdk_builder *h, const char *fragment) {
    EXPECT_REFUSED("builder", fragment, !zerobus_sdk_builder_set_endpoint(h, g_endpoint, ERRP));
    EXPECT_REFUSED("builder", fragment, !zerobus_sdk_builder_set_workspace_url(h, g_workspace, ERRP));
    EXPECT_REFUSED("builder", fragment, !zerobus_sdk_builder_add_ca_pem(h, PEM, sizeof PEM - 1, ERRP));
    EXPECT_REFUSED("builder", fragment, !zerobus_sdk_builder_set_application_name(h, "app", ERRP));
    EXPECT_REFUSED("builder", fragment, !zerobus_sdk_builder_set_sdk_name(h, "sdk/1.0", ERRP));
    EXPECT_REFUSED("builder", fragment, zerobus_sdk_builder_build(h, ERRP) == NULL);
    zerobus_sdk_builder_free(h); /* a no-op */
}

/* Every options entry point with `h`, which is not live options, and `h` as the options of both
 * create calls (with a live SDK). */
static void options_refused(zerobus_stream_options *h, const char *fragment) {
    int before = releases();
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_max_inflight_requests(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_max_inflight_bytes(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_recovery(h, true, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_recovery_timeout_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_recovery_backoff_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_recovery_backoff_max_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_recovery_retries(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_server_lack_of_ack_timeout_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_flush_timeout_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_stream_paused_max_wait_time_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_callback_max_wait_time_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_stream_options_set_record_type(h, ZEROBUS_RECORD_TYPE_JSON, ERRP));
    EXPECT_REFUSED("options", fragment,
                   !zerobus_stream_options_set_ack_callback(h, ignore_ack, NULL, &g_releases, count_release, ERRP));
    EXPECT_REFUSED("options", fragment,
                   zerobus_sdk_create_stream(g_sdk, g_table, NULL, 0, g_id, g_secret, h, ERRP) == NULL);
    EXPECT_REFUSED("options", fragment,
                   zerobus_sdk_create_stream_with_headers_provider(g_sdk, g_table, NULL, 0, never_headers,
                                                                   &g_releases, count_release, h, ERRP) == NULL);
    CHECK(releases() == before + 4); /* set_ack_callback twice, create_stream_with_headers_provider twice */
    CHECK(g_never_calls == 0);
    zerobus_stream_options_free(h); /* a no-op */
}

/* Every encoder entry point with `h`, which is not a live encoder. */
static void encoder_refused(zerobus_json_encoder *h, const char *fragment) {
    EXPECT_REFUSED("encoder", fragment, zerobus_json_encoder_encode(h, "{\"a\":1}", 7, ERRP) == NULL);
    zerobus_json_encoder_free(h); /* a no-op */
}

/* Every table schema entry point with `h`, which is not a live schema: refusals and the
 * documented defaults, outputs left alone. */
static void schema_refused(zerobus_table_schema *h, const char *fragment) {
    size_t len = 4711;
    EXPECT_REFUSED("schema", fragment, zerobus_table_schema_descriptor(h, &len, ERRP) == NULL);
    EXPECT_REFUSED("schema", fragment, zerobus_table_schema_proto_file(h, ERRP) == NULL);
    CHECK(len == 4711);
    CHECK(zerobus_table_schema_json(h) != NULL && zerobus_table_schema_json(h)[0] == '\0');
    CHECK(zerobus_table_schema_column_count(h) == 0);
    CHECK(zerobus_table_schema_column_name(h, 0) == NULL);
    CHECK(zerobus_table_schema_column_type(h, 0) == NULL);
    CHECK(!zerobus_table_schema_column_nullable(h, 0));
    CHECK(zerobus_table_schema_column_position(h, 0) == -1);
    zerobus_table_schema_free(h); /* a no-op */
}

/* Every error accessor with `h`, which is not a live error: the documented defaults. */
static void error_defaults(zerobus_error *h) {
    CHECK(zerobus_error_code(h) == ZEROBUS_ERROR_INVALID_ARGUMENT);
    CHECK(zerobus_error_code_name(h) != NULL && zerobus_error_code_name(h)[0] == '\0');
    CHECK(zerobus_error_grpc_status(h) == -1);
    CHECK(!zerobus_error_is_retryable(h));
    CHECK(zerobus_error_message(h) != NULL && zerobus_error_message(h)[0] == '\0');
    zerobus_error_free(h); /* a no-op */
}

/* Every batches accessor with `h`, which is not live: the documented defaults, outputs alone. */
static void batches_defaults(zerobus_batches *h) {
    const uint8_t *data = (const uint8_t *)"untouched";
    size_t len = 4711;
    CHECK(zerobus_batches_count(h) == 0);
    CHECK(zerobus_batches_batch_len(h, 0) == 0);
    CHECK(!zerobus_batches_record(h, 0, 0, &data, &len));
    CHECK(len == 4711 && strcmp((const char *)data, "untouched") == 0);
    zerobus_batches_free(h); /* a no-op */
}

/* Every buffer accessor with `h`, which is not live. */
static void buffer_defaults(zerobus_buffer *h) {
    CHECK(zerobus_buffer_data(h) == NULL);
    CHECK(zerobus_buffer_len(h) == 0);
    zerobus_buffer_free(h); /* a no-op */
}

/* ---------------------------------------------------------------- per type ---- */

static void test_encoders(void) {
    zerobus_error *err = NULL;
    zerobus_json_encoder *a, *b;
    void *forged[FORGED_MAX];
    size_t i, n;
    g_section = "encoder";

    a = zerobus_json_encoder_new(DESCRIPTOR, sizeof DESCRIPTOR, &err);
    if (!EXPECT_OK(a != NULL)) return;
    CHECK(encoder_live(a));
    zerobus_json_encoder_free(a);
    encoder_refused(a, FREED);
    b = zerobus_json_encoder_new(DESCRIPTOR, sizeof DESCRIPTOR, &err);
    if (!EXPECT_OK(b != NULL)) return;
    check_reused(__LINE__, a, b);
    encoder_refused(a, FREED); /* the slot's new occupant is not reachable through the old handle */
    CHECK(encoder_live(b));

    /* Another type: options. The wrong free must not free them. */
    encoder_refused((zerobus_json_encoder *)g_json, WRONG("zerobus_json_encoder"));
    CHECK(options_live(g_json));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) encoder_refused(forged[i], NULL);
    CHECK(encoder_live(b));
    zerobus_json_encoder_free(b);
}

static void test_errors(const zerobus_json_encoder *enc) {
    zerobus_error *a = NULL, *b = NULL;
    void *forged[FORGED_MAX];
    size_t i, n;
    g_section = "error";

    CHECK(zerobus_json_encoder_encode(enc, "not json", 8, &a) == NULL);
    CHECK(zerobus_error_code(a) == ZEROBUS_ERROR_INVALID_RECORD);
    CHECK(strcmp(zerobus_error_code_name(a), "INVALID_RECORD") == 0 && zerobus_error_message(a)[0] != '\0');
    zerobus_error_free(a);
    error_defaults(a);
    CHECK(zerobus_json_encoder_encode(enc, "[1]", 3, &b) == NULL);
    check_reused(__LINE__, a, b);
    error_defaults(a);
    CHECK(zerobus_error_code(b) == ZEROBUS_ERROR_INVALID_RECORD);
    CHECK(strcmp(zerobus_error_code_name(b), "INVALID_RECORD") == 0 && zerobus_error_message(b)[0] != '\0');

    /* Another type: the encoder. */
    error_defaults((zerobus_error *)enc);
    CHECK(encoder_live(enc));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) error_defaults(forged[i]);
    CHECK(zerobus_error_code(b) == ZEROBUS_ERROR_INVALID_RECORD);
    zerobus_error_free(b);
}

static void test_buffers(const zerobus_json_encoder *enc) {
    static const uint8_t want[] = {0x08, 0x96, 0x01};
    zerobus_error *err = NULL;
    zerobus_buffer *a, *b;
    void *forged[FORGED_MAX];
    size_t i, n;
    g_section = "buffer";

    a = zerobus_json_encoder_encode(enc, "{\"a\":150}", 9, &err);
    if (!EXPECT_OK(a != NULL)) return;
    CHECK(zerobus_buffer_len(a) == 3);
    zerobus_buffer_free(a);
    buffer_defaults(a);
    b = zerobus_json_encoder_encode(enc, "{\"a\":150}", 9, &err);
    if (!EXPECT_OK(b != NULL)) return;
    check_reused(__LINE__, a, b);
    buffer_defaults(a);
    CHECK(zerobus_buffer_len(b) == 3 && memcmp(zerobus_buffer_data(b), want, 3) == 0);

    buffer_defaults((zerobus_buffer *)enc);
    CHECK(encoder_live(enc));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) buffer_defaults(forged[i]);
    CHECK(zerobus_buffer_len(b) == 3 && memcmp(zerobus_buffer_data(b), want, 3) == 0);
    zerobus_buffer_free(b);
}

/* `unacked` holds two unacknowledged calls (1 record, then 2). */
static void test_batches(zerobus_stream *unacked) {
    zerobus_error *err = NULL;
    zerobus_batches *a, *b;
    void *forged[FORGED_MAX];
    size_t i, n;
    const uint8_t *data = NULL;
    size_t len = 0;
    g_section = "batches";

    a = zerobus_stream_get_unacked_batches(unacked, &err);
    if (!EXPECT_OK(a != NULL)) return;
    CHECK(zerobus_batches_count(a) == 2 && zerobus_batches_batch_len(a, 1) == 2);
    zerobus_batches_free(a);
    batches_defaults(a);
    b = zerobus_stream_get_unacked_records(unacked, &err);
    if (!EXPECT_OK(b != NULL)) return;
    check_reused(__LINE__, a, b);
    batches_defaults(a);
    CHECK(zerobus_batches_count(b) == 1 && zerobus_batches_batch_len(b, 0) == 3);

    /* Another type: the stream. The wrong free must not free it. */
    batches_defaults((zerobus_batches *)unacked);
    CHECK(stream_live(unacked));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) batches_defaults(forged[i]);
    CHECK(zerobus_batches_record(b, 0, 2, &data, &len) && len == 7 && memcmp(data, "{\"a\":2}", 7) == 0);
    zerobus_batches_free(b);
}

static void test_schemas(void) {
    zerobus_table_schema *a, *b;
    void *forged[FORGED_MAX];
    size_t i, n;
    g_section = "table_schema";

    a = typed_schema();
    if (a == NULL) return;
    CHECK(schema_live(a));
    zerobus_table_schema_free(a);
    schema_refused(a, FREED);
    b = typed_schema();
    if (b == NULL) return;
    check_reused(__LINE__, a, b);
    schema_refused(a, FREED);
    CHECK(schema_live(b));

    /* Another type: the SDK. The wrong free must not free it; a schema is not an SDK either. */
    schema_refused((zerobus_table_schema *)g_sdk, WRONG("zerobus_table_schema"));
    CHECK(sdk_live(g_sdk));
    sdk_refused((zerobus_sdk *)b, WRONG("zerobus_sdk"));
    CHECK(schema_live(b));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) schema_refused(forged[i], NULL);
    CHECK(schema_live(b));
    zerobus_table_schema_free(b);
}

static void test_builders(void) {
    zerobus_error *err = NULL;
    zerobus_sdk_builder *a, *b;
    zerobus_sdk *sdk;
    void *forged[FORGED_MAX];
    size_t i, n;
    g_section = "sdk_builder";

    a = zerobus_sdk_builder_new();
    CHECK(a != NULL);
    zerobus_sdk_builder_free(a);
    builder_refused(a, FREED);
    b = zerobus_sdk_builder_new();
    check_reused(__LINE__, a, b);
    builder_refused(a, FREED);
    EXPECT_OK(zerobus_sdk_builder_set_endpoint(b, g_endpoint, &err));
    EXPECT_OK(zerobus_sdk_builder_set_workspace_url(b, g_workspace, &err));

    builder_refused((zerobus_sdk_builder *)g_sdk, WRONG("zerobus_sdk_builder"));
    CHECK(sdk_live(g_sdk));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) builder_refused(forged[i], NULL);
    sdk = zerobus_sdk_builder_build(b, &err);
    EXPECT_OK(sdk != NULL);
    CHECK(sdk_live(sdk));
    zerobus_sdk_free(sdk);
    zerobus_sdk_builder_free(b);
}

static void test_options(void) {
    zerobus_stream_options *a, *b;
    void *forged[FORGED_MAX];
    size_t i, n;
    g_section = "stream_options";

    a = zerobus_stream_options_new();
    CHECK(options_live(a));
    zerobus_stream_options_free(a);
    options_refused(a, FREED);
    b = zerobus_stream_options_new();
    check_reused(__LINE__, a, b);
    options_refused(a, FREED);
    CHECK(options_live(b));

    /* Another type: the SDK, passed as the options of create calls on that same (live) SDK. */
    options_refused((zerobus_stream_options *)g_sdk, WRONG("zerobus_stream_options"));
    CHECK(sdk_live(g_sdk));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) options_refused(forged[i], NULL);
    CHECK(options_live(b));
    zerobus_stream_options_free(b);
}

static void test_sdks(void) {
    zerobus_error *err = NULL;
    zerobus_sdk *a, *b;
    void *forged[FORGED_MAX];
    size_t i, n;
    g_section = "sdk";

    a = zerobus_sdk_new(g_endpoint, g_workspace, &err);
    if (!EXPECT_OK(a != NULL)) return;
    zerobus_sdk_free(a);
    sdk_refused(a, FREED);
    b = zerobus_sdk_new(g_endpoint, g_workspace, &err);
    if (!EXPECT_OK(b != NULL)) return;
    check_reused(__LINE__, a, b);
    sdk_refused(a, FREED);
    CHECK(sdk_live(b));

    sdk_refused((zerobus_sdk *)g_json, WRONG("zerobus_sdk"));
    CHECK(options_live(g_json));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) sdk_refused(forged[i], NULL);
    CHECK(sdk_live(b));
    zerobus_sdk_free(b);
}

/* (e) a closed stream, then (a)-(d) for stream handles. */
static void test_streams(void) {
    const uint8_t *data = (const uint8_t *)TWO;
    size_t lengths[2] = {7, 7};
    int64_t offset = -1;
    zerobus_error *err = NULL;
    zerobus_stream *a, *b;
    zerobus_batches *batches;
    zerobus_metrics m;
    void *forged[FORGED_MAX];
    size_t i, n;

    g_section = "stream closed";
    a = json_stream();
    if (a == NULL) return;
    EXPECT_OK(zerobus_stream_ingest_json_record(a, data, 7, &offset, &err));
    EXPECT_OK(zerobus_stream_ingest_records(a, data, 14, lengths, 2, &offset, &err));
    CHECK(offset == 1);
    EXPECT_OK(zerobus_stream_close(a, &err));
    CHECK(zerobus_stream_is_closed(a));
    offset = 99;
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed", !zerobus_stream_ingest_record(a, data, 7, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_try_ingest_record(a, data, 7, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed", !zerobus_stream_ingest_record_nowait(a, data, 7, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_ingest_records(a, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_try_ingest_records(a, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_ingest_records_nowait(a, data, 14, lengths, 2, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_ingest_json_record(a, data, 7, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_try_ingest_json_record(a, data, 7, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_ingest_json_record_nowait(a, data, 7, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_ingest_json_records(a, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_try_ingest_json_records(a, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_STREAM_CLOSED, NULL, "closed",
                 !zerobus_stream_ingest_json_records_nowait(a, data, 14, lengths, 2, ERRP));
    CHECK(offset == 99);
    /* close is idempotent (the first result again); everything was acked before it returned. */
    EXPECT_OK(zerobus_stream_close(a, &err));
    EXPECT_OK(zerobus_stream_flush(a, &err));
    EXPECT_OK(zerobus_stream_wait_for_offset(a, 1, &err));
    if (EXPECT_OK(zerobus_stream_metrics(a, &m, &err))) {
        CHECK(m.inflight_requests == 0 && m.inflight_records == 0 && m.last_acked_offset == 1);
    }
    batches = zerobus_stream_get_unacked_batches(a, &err);
    if (EXPECT_OK(batches != NULL)) CHECK(zerobus_batches_count(batches) == 0);
    zerobus_batches_free(batches);
    batches = zerobus_stream_get_unacked_records(a, &err);
    if (EXPECT_OK(batches != NULL)) CHECK(zerobus_batches_count(batches) == 1 && zerobus_batches_batch_len(batches, 0) == 0);
    zerobus_batches_free(batches);
    CHECK(zerobus_stream_is_closed(a));

    g_section = "stream";
    zerobus_stream_free(a);
    stream_refused(a, FREED);
    b = json_stream();
    if (b == NULL) return;
    check_reused(__LINE__, a, b);
    stream_refused(a, FREED);
    EXPECT_OK(zerobus_stream_ingest_json_record(b, data, 7, &offset, &err));
    CHECK(offset == 0);

    /* Another type: the SDK (as in `(zerobus_stream *)sdk`). The wrong free must not free it. */
    stream_refused((zerobus_stream *)g_sdk, WRONG("zerobus_stream"));
    CHECK(sdk_live(g_sdk));

    n = forged_from(b, forged);
    for (i = 0; i < n; i++) stream_refused(forged[i], NULL);
    EXPECT_OK(zerobus_stream_ingest_json_record(b, data, 7, &offset, &err));
    CHECK(offset == 1);
    EXPECT_OK(zerobus_stream_close(b, &err));
    zerobus_stream_free(b);
}

/* JSON text handed to a PROTO stream through the JSON calls: INVALID_RECORD on that call only. */
static void test_text_on_proto_stream(void) {
    const uint8_t *data = (const uint8_t *)TWO;
    size_t lengths[2] = {7, 7};
    int64_t offset = 99;
    zerobus_error *err = NULL;
    zerobus_stream_options *o = zerobus_stream_options_new();
    zerobus_stream *s;
    zerobus_metrics m;
    g_section = "json text on a PROTO stream";

    CHECK(zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_PROTO, NULL));
    CHECK(zerobus_stream_options_set_flush_timeout_ms(o, 30000, NULL));
    s = zerobus_sdk_create_stream(g_sdk, g_table, DESCRIPTOR, sizeof DESCRIPTOR, g_id, g_secret, o, &err);
    zerobus_stream_options_free(o);
    if (!EXPECT_OK(s != NULL)) return;
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD, NULL, "PROTO", !zerobus_stream_ingest_json_record(s, data, 7, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD, NULL, "PROTO",
                 !zerobus_stream_try_ingest_json_record(s, data, 7, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD, NULL, "PROTO", !zerobus_stream_ingest_json_record_nowait(s, data, 7, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD, NULL, "record 0",
                 !zerobus_stream_ingest_json_records(s, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD, NULL, "record 0",
                 !zerobus_stream_try_ingest_json_records(s, data, 14, lengths, 2, &offset, ERRP));
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD, NULL, "record 0",
                 !zerobus_stream_ingest_json_records_nowait(s, data, 14, lengths, 2, ERRP));
    CHECK(offset == 99);
    CHECK(!zerobus_stream_is_closed(s));
    /* Nothing was queued: the first proto record gets offset 0, and the stream works on. */
    EXPECT_OK(zerobus_stream_ingest_record(s, PROTO_RECORD, sizeof PROTO_RECORD, &offset, &err));
    CHECK(offset == 0);
    EXPECT_OK(zerobus_stream_flush(s, &err));
    if (EXPECT_OK(zerobus_stream_metrics(s, &m, &err))) {
        CHECK(m.last_acked_offset == 0 && m.inflight_requests == 0 && m.records_sent == 1);
    }
    EXPECT_OK(zerobus_stream_close(s, &err));
    zerobus_stream_free(s);
}

/* Out-of-range options are refused when a stream is created with them. */
static void test_option_ranges(void) {
    zerobus_stream_options *o;
    g_section = "option ranges";

    o = zerobus_stream_options_new();
    CHECK(zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_JSON, NULL));
    CHECK(zerobus_stream_options_set_flush_timeout_ms(o, 0, NULL));
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, NULL, "flush_timeout_ms",
                 zerobus_sdk_create_stream(g_sdk, g_table, NULL, 0, g_id, g_secret, o, ERRP) == NULL);
    zerobus_stream_options_free(o);

    o = zerobus_stream_options_new();
    CHECK(zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_JSON, NULL));
    CHECK(zerobus_stream_options_set_recovery_backoff_ms(o, 200, NULL));
    CHECK(zerobus_stream_options_set_recovery_backoff_max_ms(o, 100, NULL));
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, NULL, "recovery_backoff_max_ms",
                 zerobus_sdk_create_stream(g_sdk, g_table, NULL, 0, g_id, g_secret, o, ERRP) == NULL);
    zerobus_stream_options_free(o);

    o = zerobus_stream_options_new();
    CHECK(zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_JSON, NULL));
    CHECK(zerobus_stream_options_set_max_inflight_requests(o, (uint64_t)-1, NULL));
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, NULL, "negative number",
                 zerobus_sdk_create_stream(g_sdk, g_table, NULL, 0, g_id, g_secret, o, ERRP) == NULL);
    zerobus_stream_options_free(o);
}

/* ---------------------------------------------------------------- Arrow streams ---- */

static bool arrow_options_live(zerobus_arrow_stream_options *o) {
    return zerobus_arrow_stream_options_set_callback_max_wait_time_ms(o, 5000, NULL);
}

static bool arrow_stream_live(const zerobus_arrow_stream *s) {
    zerobus_metrics m;
    return zerobus_arrow_stream_metrics(s, &m, NULL);
}

/* An Arrow stream on the typed table, its schema from the table. */
static zerobus_arrow_stream *arrow_stream(void) {
    zerobus_error *err = NULL;
    zerobus_arrow_stream *s = zerobus_sdk_create_arrow_stream(g_sdk, g_typed_table, NULL, 0, g_id, g_secret, NULL, &err);
    EXPECT_OK(s != NULL);
    return s;
}

/* Every Arrow options entry point with `h`, which is not live options, and `h` as the options of
 * both create calls (with a live SDK). */
static void arrow_options_refused(zerobus_arrow_stream_options *h, const char *fragment) {
    int before = releases();
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_max_inflight_batches(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_max_inflight_bytes(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_recovery(h, true, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_recovery_timeout_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_recovery_backoff_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_recovery_backoff_max_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_recovery_retries(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_server_lack_of_ack_timeout_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_flush_timeout_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_connection_timeout_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_ipc_compression(h, "zstd", ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_stream_paused_max_wait_time_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment, !zerobus_arrow_stream_options_set_callback_max_wait_time_ms(h, 1, ERRP));
    EXPECT_REFUSED("options", fragment,
                   !zerobus_arrow_stream_options_set_ack_callback(h, ignore_ack, NULL, &g_releases, count_release,
                                                                  ERRP));
    EXPECT_REFUSED("options", fragment,
                   zerobus_sdk_create_arrow_stream(g_sdk, g_typed_table, NULL, 0, g_id, g_secret, h, ERRP) == NULL);
    EXPECT_REFUSED("options", fragment,
                   zerobus_sdk_create_arrow_stream_with_headers_provider(g_sdk, g_typed_table, NULL, 0, never_headers,
                                                                         &g_releases, count_release, h,
                                                                         ERRP) == NULL);
    CHECK(releases() == before + 4); /* set_ack_callback twice, the provider create twice */
    CHECK(g_never_calls == 0);
    zerobus_arrow_stream_options_free(h); /* a no-op */
}

/* Every Arrow stream entry point with `h`, which is not a live Arrow stream. */
static void arrow_stream_refused(zerobus_arrow_stream *h, const char *fragment) {
    static const uint8_t junk[] = "not arrow";
    int64_t offset = 99;
    zerobus_metrics m, untouched;
    memset(&m, 0x5a, sizeof m);
    untouched = m;
    EXPECT_REFUSED("stream", fragment, !zerobus_arrow_stream_ingest_ipc(h, junk, sizeof junk, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_arrow_stream_ingest_arrow(h, NULL, NULL, &offset, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_arrow_stream_ingest_arrow_nocopy(h, NULL, NULL, &offset, ERRP));
    {
        uint64_t nodes[2] = {0, 0};
        int before = releases();
        EXPECT_REFUSED("stream", fragment,
                       !zerobus_arrow_stream_ingest_columns(h, junk, sizeof junk, nodes, 2, NULL, NULL, 0, &offset,
                                                            ERRP));
        /* The _nocopy forms release what they were handed exactly once per call, refused or not
         * (EXPECT_REFUSED makes each call twice). */
        EXPECT_REFUSED("stream", fragment,
                       !zerobus_arrow_stream_ingest_ipc_nocopy(h, junk, sizeof junk, count_release, &g_releases,
                                                               &offset, ERRP));
        EXPECT_REFUSED("stream", fragment,
                       !zerobus_arrow_stream_ingest_columns_nocopy(h, junk, sizeof junk, nodes, 2, NULL, NULL, 0,
                                                                   count_release, &g_releases, &offset, ERRP));
        CHECK(releases() == before + 4);
    }
    EXPECT_REFUSED("stream", fragment, !zerobus_arrow_stream_wait_for_offset(h, 0, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_arrow_stream_flush(h, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_arrow_stream_close(h, ERRP));
    EXPECT_REFUSED("stream", fragment, !zerobus_arrow_stream_metrics(h, &m, ERRP));
    EXPECT_REFUSED("stream", fragment, zerobus_arrow_stream_get_unacked_ipc(h, ERRP) == NULL);
    CHECK(offset == 99); /* outputs left alone */
    CHECK(memcmp(&m, &untouched, sizeof m) == 0);
    CHECK(!zerobus_arrow_stream_is_closed(h)); /* documented default */
    zerobus_arrow_stream_free(h);              /* a no-op */
}

static void test_arrow(void) {
    zerobus_error *err = NULL;
    zerobus_arrow_stream_options *oa, *ob;
    zerobus_arrow_stream *a, *b;
    void *forged[FORGED_MAX];
    size_t i, n;

    g_section = "arrow_stream_options";
    oa = zerobus_arrow_stream_options_new();
    CHECK(arrow_options_live(oa));
    zerobus_arrow_stream_options_free(oa);
    arrow_options_refused(oa, FREED);
    ob = zerobus_arrow_stream_options_new();
    check_reused(__LINE__, oa, ob);
    arrow_options_refused(oa, FREED);
    CHECK(arrow_options_live(ob));
    /* Another type: record stream options are not Arrow stream options, and the reverse. */
    arrow_options_refused((zerobus_arrow_stream_options *)g_json, WRONG("zerobus_arrow_stream_options"));
    CHECK(options_live(g_json));
    n = forged_from(ob, forged);
    for (i = 0; i < n; i++) arrow_options_refused(forged[i], NULL);
    CHECK(arrow_options_live(ob));
    zerobus_arrow_stream_options_free(ob);

    g_section = "arrow_stream";
    a = arrow_stream();
    if (a == NULL) return;
    EXPECT_OK(zerobus_arrow_stream_close(a, &err));
    CHECK(zerobus_arrow_stream_is_closed(a));
    EXPECT_OK(zerobus_arrow_stream_close(a, &err)); /* idempotent */
    zerobus_arrow_stream_free(a);
    arrow_stream_refused(a, FREED);
    b = arrow_stream();
    if (b == NULL) return;
    check_reused(__LINE__, a, b);
    arrow_stream_refused(a, FREED);
    CHECK(arrow_stream_live(b));
    /* Another type: a record stream is not an Arrow stream, and the reverse. */
    {
        zerobus_stream *rs = json_stream();
        if (rs != NULL) {
            arrow_stream_refused((zerobus_arrow_stream *)rs, WRONG("zerobus_arrow_stream"));
            CHECK(stream_live(rs));
            stream_refused((zerobus_stream *)b, WRONG("zerobus_stream"));
            CHECK(arrow_stream_live(b));
            EXPECT_OK(zerobus_stream_close(rs, &err));
            zerobus_stream_free(rs);
        }
    }
    n = forged_from(b, forged);
    for (i = 0; i < n; i++) arrow_stream_refused(forged[i], NULL);
    CHECK(arrow_stream_live(b));
    EXPECT_OK(zerobus_arrow_stream_close(b, &err));
    zerobus_arrow_stream_free(b);
}

/* ---------------------------------------------------------------- headers ---- */

enum provider_mode {
    FAIL_WITH_CODE, /* return `code`, with `message` through zerobus_headers_set_error */
    SAVE,           /* remember the handle, hand out good headers */
    STALE,          /* use the remembered (dead) handle, a wrong-typed and forged ones, then good headers */
    STALE_FAIL      /* set_error on the dead, wrong-typed and forged handles, return UNAUTHENTICATED */
};

typedef struct provider {
    enum provider_mode mode;
    int32_t code;
    const char *message;
    int calls;
    zerobus_headers *current; /* the handle of the last call */
} provider;

static zerobus_headers *g_saved_headers; /* a headers handle from an earlier provider call */

static void good_headers(zerobus_headers *h) {
    zerobus_headers_add(h, "authorization", "Bearer zerobus-dev-static-token");
    zerobus_headers_add(h, "x-databricks-zerobus-table-name", g_table);
}

static int32_t provide(void *user_data, zerobus_headers *h) {
    provider *p = user_data;
    void *forged[FORGED_MAX];
    size_t i, n;
    pthread_mutex_lock(&g_lock);
    p->calls++;
    p->current = h;
    pthread_mutex_unlock(&g_lock);
    switch (p->mode) {
    case FAIL_WITH_CODE:
        zerobus_headers_set_error(h, p->message);
        return p->code;
    case SAVE:
        g_saved_headers = h;
        good_headers(h);
        return ZEROBUS_OK;
    case STALE:
        /* A NULL name fails the connection attempt if it reaches the live headers: none may. */
        zerobus_headers_add(g_saved_headers, NULL, "x");
        zerobus_headers_add((zerobus_headers *)g_sdk, NULL, "x");
        n = forged_from(h, forged);
        for (i = 0; i < n; i++) zerobus_headers_add(forged[i], NULL, "x");
        good_headers(h);
        return ZEROBUS_OK;
    case STALE_FAIL:
        zerobus_headers_set_error(g_saved_headers, "boom");
        zerobus_headers_set_error((zerobus_headers *)g_sdk, "boom");
        n = forged_from(h, forged);
        for (i = 0; i < n; i++) zerobus_headers_set_error(forged[i], "boom");
        return ZEROBUS_ERROR_UNAUTHENTICATED;
    }
    return ZEROBUS_ERROR_INTERNAL;
}

static zerobus_stream *create_with(provider *p, zerobus_stream_options *o, zerobus_error **err) {
    return zerobus_sdk_create_stream_with_headers_provider(g_sdk, g_table, NULL, 0, provide, p, count_release, o,
                                                           err);
}

static void test_headers(void) {
    zerobus_error *err = NULL;
    zerobus_stream_options *o = zerobus_stream_options_new();
    zerobus_stream *s;
    provider p;
    int before;

    CHECK(zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_JSON, NULL));
    CHECK(zerobus_stream_options_set_recovery_backoff_ms(o, 10, NULL));
    CHECK(zerobus_stream_options_set_recovery_backoff_max_ms(o, 20, NULL));
    CHECK(zerobus_stream_options_set_recovery_retries(o, 3, NULL));

    g_section = "headers provider UNAUTHENTICATED";
    memset(&p, 0, sizeof p);
    p.mode = FAIL_WITH_CODE;
    p.code = ZEROBUS_ERROR_UNAUTHENTICATED;
    p.message = "no credentials in the vault";
    before = releases();
    s = create_with(&p, o, &err);
    CHECK(s == NULL);
    CHECK(strstr(zerobus_error_message(err), "headers provider") != NULL);
    check_error(__LINE__, "create_stream_with_headers_provider (UNAUTHENTICATED)", s == NULL, err,
                ZEROBUS_ERROR_UNAUTHENTICATED, NULL, "no credentials in the vault");
    CHECK(p.calls == 1); /* final: not retried */
    CHECK(releases() == before + 1);

    g_section = "headers provider UNAVAILABLE";
    memset(&p, 0, sizeof p);
    p.mode = FAIL_WITH_CODE;
    p.code = ZEROBUS_ERROR_UNAVAILABLE;
    p.message = "vault unreachable";
    err = NULL;
    s = create_with(&p, o, &err);
    CHECK(s == NULL && zerobus_error_code(err) == ZEROBUS_ERROR_UNAVAILABLE && zerobus_error_is_retryable(err));
    CHECK(strstr(zerobus_error_message(err), "vault unreachable") != NULL);
    CHECK(p.calls == 3); /* retried within recovery_retries */
    zerobus_error_free(err);

    g_section = "headers provider returns a value outside the list";
    memset(&p, 0, sizeof p);
    p.mode = FAIL_WITH_CODE;
    p.code = 999;
    p.message = NULL; /* no message: the library says what the provider returned */
    err = NULL;
    s = create_with(&p, o, &err);
    CHECK(s == NULL && zerobus_error_code(err) == ZEROBUS_ERROR_UNAVAILABLE);
    CHECK(strstr(zerobus_error_message(err), "999") != NULL);
    CHECK(p.calls == 3); /* counts as UNAVAILABLE: retried */
    zerobus_error_free(err);

    /* (a)-(d) for the headers handle: valid only during its provider call. */
    g_section = "headers";
    memset(&p, 0, sizeof p);
    p.mode = SAVE;
    err = NULL;
    s = create_with(&p, o, &err);
    if (EXPECT_OK(s != NULL)) {
        CHECK(p.calls == 1 && g_saved_headers != NULL);
        EXPECT_OK(zerobus_stream_close(s, &err));
        zerobus_stream_free(s);
    }
    /* After its call the handle is dead: both calls are no-ops. */
    zerobus_headers_add(g_saved_headers, "authorization", "Bearer nope");
    zerobus_headers_set_error(g_saved_headers, "nope");
    zerobus_headers_add(NULL, "authorization", "Bearer nope");

    memset(&p, 0, sizeof p);
    p.mode = STALE;
    err = NULL;
    s = create_with(&p, o, &err);
    if (EXPECT_OK(s != NULL)) { /* none of the bad handles reached the live headers */
        check_reused(__LINE__, g_saved_headers, p.current);
        EXPECT_OK(zerobus_stream_ingest_json_record(s, (const uint8_t *)TWO, 7, NULL, &err));
        EXPECT_OK(zerobus_stream_close(s, &err));
        zerobus_stream_free(s);
    }
    CHECK(sdk_live(g_sdk));

    memset(&p, 0, sizeof p);
    p.mode = STALE_FAIL;
    err = NULL;
    s = create_with(&p, o, &err);
    CHECK(s == NULL && zerobus_error_code(err) == ZEROBUS_ERROR_UNAUTHENTICATED && p.calls == 1);
    /* "boom" went to handles that were not this call's: the message is the library's own. */
    CHECK(strstr(zerobus_error_message(err), "boom") == NULL);
    CHECK(strstr(zerobus_error_message(err), "returned 7") != NULL);
    zerobus_error_free(err);
    zerobus_stream_options_free(o);
}

/* ---------------------------------------------------------------- (f) a free racing calls ---- */

#define RACERS 6
#define RACE_MIN_CALLS 20 /* each racer's answered calls before the free */

typedef struct racer {
    zerobus_stream *stream;
    int kind;
    long calls;          /* answered calls: true, or QUEUE_FULL from the non-blocking one */
    bool refused;        /* ended on INVALID_ARGUMENT "already freed", after the free */
    char unexpected[512]; /* the first other outcome, "" if none */
} racer;

static bool g_race_freed;    /* under g_lock: zerobus_stream_free is about to be called */
static bool g_race_free_done; /* under g_lock: zerobus_stream_free has returned */

static bool race_call(racer *r, zerobus_error **err) {
    const uint8_t *data = (const uint8_t *)TWO;
    size_t lengths[2] = {7, 7};
    int64_t offset;
    zerobus_metrics m;
    switch (r->kind) {
    case 0:
        return zerobus_stream_ingest_record(r->stream, data, 7, &offset, err);
    case 1:
        return zerobus_stream_ingest_json_record(r->stream, data, 7, &offset, err);
    case 2:
        return zerobus_stream_ingest_records_nowait(r->stream, data, 14, lengths, 2, err);
    case 3:
        return zerobus_stream_ingest_json_records(r->stream, data, 14, lengths, 2, &offset, err);
    case 4:
        return zerobus_stream_try_ingest_json_record(r->stream, data, 7, &offset, err);
    default:
        return zerobus_stream_ingest_json_record_nowait(r->stream, data, 7, err) &&
               zerobus_stream_metrics(r->stream, &m, err);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Calls until refused (or anything unexpected). The main thread always frees the stream, so every
 * racer ends. */
static void *race(void *arg) {
    racer *r = arg;
    for (;;) {
        zerobus_error *err = NULL;
        bool freed, started_after_free;
        int32_t code;
        pthread_mutex_lock(&g_lock);
        started_after_free = g_race_free_done;
        pthread_mutex_unlock(&g_lock);
        if (race_call(r, &err)) {
            if (started_after_free) {
                snprintf(r->unexpected, sizeof r->unexpected,
                         "a call made after zerobus_stream_free returned succeeded");
                break;
            }
            pthread_mutex_lock(&g_lock);
            r->calls++;
            pthread_mutex_unlock(&g_lock);
            continue;
        }
        code = zerobus_error_code(err);
        pthread_mutex_lock(&g_lock);
        freed = g_race_freed;
        pthread_mutex_unlock(&g_lock);
        if (code == ZEROBUS_ERROR_QUEUE_FULL && r->kind == 4 && !freed) {
            /* The non-blocking call found the bound reached (blocking calls waiting in line are
             * never overtaken): a clean answer; try again. */
            zerobus_error_free(err);
            pthread_mutex_lock(&g_lock);
            r->calls++;
            pthread_mutex_unlock(&g_lock);
            sleep_ms(1);
            continue;
        }
        if (code == ZEROBUS_ERROR_QUEUE_FULL && r->kind == 4 && !started_after_free) {
            zerobus_error_free(err); /* made before the free returned: still a clean answer */
            continue;
        }
        if (code == ZEROBUS_ERROR_INVALID_ARGUMENT && freed && strstr(zerobus_error_message(err), FREED) != NULL) {
            r->refused = true;
        } else {
            snprintf(r->unexpected, sizeof r->unexpected, "%s: %s (free called: %s)", zerobus_error_code_name(err),
                     zerobus_error_message(err), freed ? "yes" : "no");
        }
        zerobus_error_free(err);
        break;
    }
    return NULL;
}

static void test_free_races_calls(void) {
    zerobus_error *err = NULL;
    zerobus_stream_options *o = zerobus_stream_options_new();
    zerobus_stream *s;
    racer racers[RACERS];
    pthread_t threads[RACERS];
    int i, started = 0, waited_ms = 0;
    g_section = "free racing calls";

    CHECK(zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_JSON, NULL));
    /* A small in-flight bound, so some blocking calls are waiting for room when the free comes. */
    CHECK(zerobus_stream_options_set_max_inflight_requests(o, 8, NULL));
    s = zerobus_sdk_create_stream(g_sdk, g_table, NULL, 0, g_id, g_secret, o, &err);
    zerobus_stream_options_free(o);
    if (!EXPECT_OK(s != NULL)) return;

    memset(racers, 0, sizeof racers);
    for (i = 0; i < RACERS; i++) {
        racers[i].stream = s;
        racers[i].kind = i;
        if (pthread_create(&threads[i], NULL, race, &racers[i]) != 0) break;
        started++;
    }
    CHECK(started == RACERS);
    /* Free once every racer has made some calls (or after 120 s, valgrind being slow). */
    for (;;) {
        bool ready = true;
        pthread_mutex_lock(&g_lock);
        for (i = 0; i < started; i++) {
            if (racers[i].calls < RACE_MIN_CALLS && racers[i].unexpected[0] == '\0') ready = false;
        }
        if (ready || waited_ms >= 120000) g_race_freed = true;
        pthread_mutex_unlock(&g_lock);
        if (ready || waited_ms >= 120000) break;
        sleep_ms(1);
        waited_ms++;
    }
    zerobus_stream_free(s); /* open: abandons what is unacked */
    pthread_mutex_lock(&g_lock);
    g_race_free_done = true;
    pthread_mutex_unlock(&g_lock);
    for (i = 0; i < started; i++) pthread_join(threads[i], NULL);
    for (i = 0; i < started; i++) {
        char what[768];
        snprintf(what, sizeof what, "racer %d had %ld calls answered before the free", i, racers[i].calls);
        check_at(__LINE__, racers[i].calls >= RACE_MIN_CALLS, what);
        snprintf(what, sizeof what, "racer %d: only true or INVALID_ARGUMENT \"already freed\" after the free (%s)", i,
                 racers[i].unexpected);
        check_at(__LINE__, racers[i].unexpected[0] == '\0', what);
        snprintf(what, sizeof what, "racer %d ended refused", i);
        check_at(__LINE__, racers[i].refused, what);
    }
    printf("free racing calls: racers had");
    for (i = 0; i < started; i++) printf(" %ld", racers[i].calls);
    printf(" calls answered when the stream was freed\n");
    stream_refused(s, FREED);
}

/* ---------------------------------------------------------------- main ---- */

int main(int argc, char **argv) {
    zerobus_error *err = NULL;
    zerobus_stream_options *o;
    zerobus_stream *unacked;
    zerobus_json_encoder *enc;
    const uint8_t *data = (const uint8_t *)TWO;
    size_t lengths[2] = {7, 7};

    if (argc != 7) {
        fprintf(stderr, "usage: %s ENDPOINT WORKSPACE_URL CLIENT_ID CLIENT_SECRET TABLE TYPED_TABLE\n", argv[0]);
        return 2;
    }
    g_endpoint = argv[1];
    g_workspace = argv[2];
    g_id = argv[3];
    g_secret = argv[4];
    g_table = argv[5];
    g_typed_table = argv[6];

    g_section = "setup";
    g_sdk = zerobus_sdk_new(g_endpoint, g_workspace, &err);
    if (!EXPECT_OK(g_sdk != NULL)) return 1;
    g_json = zerobus_stream_options_new();
    CHECK(zerobus_stream_options_set_record_type(g_json, ZEROBUS_RECORD_TYPE_JSON, NULL));
    CHECK(zerobus_stream_options_set_flush_timeout_ms(g_json, 60000, NULL));

    /* The server's first connection never acks: this stream's calls stay unacked. It must be the
     * first stream opened. */
    o = zerobus_stream_options_new();
    CHECK(zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_JSON, NULL));
    CHECK(zerobus_stream_options_set_server_lack_of_ack_timeout_ms(o, 0, NULL));
    unacked = zerobus_sdk_create_stream(g_sdk, g_table, NULL, 0, g_id, g_secret, o, &err);
    zerobus_stream_options_free(o);
    if (!EXPECT_OK(unacked != NULL)) return 1;
    EXPECT_OK(zerobus_stream_ingest_record(unacked, data, 7, NULL, &err));
    EXPECT_OK(zerobus_stream_ingest_records(unacked, data, 14, lengths, 2, NULL, &err));

    test_encoders();
    enc = zerobus_json_encoder_new(DESCRIPTOR, sizeof DESCRIPTOR, &err);
    if (EXPECT_OK(enc != NULL)) {
        test_errors(enc);
        test_buffers(enc);
    }
    test_batches(unacked);
    test_builders();
    test_options();
    test_sdks();
    test_schemas();
    test_streams();
    test_text_on_proto_stream();
    test_option_ranges();
    test_arrow();
    test_headers();
    test_free_races_calls();

    g_section = "teardown";
    zerobus_stream_free(unacked); /* open, never acked: abandoned */
    zerobus_json_encoder_free(enc);
    zerobus_stream_options_free(g_json);
    zerobus_sdk_free(g_sdk);
    CHECK(g_never_calls == 0);

    printf("handles: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
