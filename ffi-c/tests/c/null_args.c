/*
 * null_args.c: calls every function of zerobus.h with NULL for each handle, buffer and string
 * parameter (one at a time) and checks the documented answer:
 *   - fallible calls fail (false / NULL) with a ZEROBUS_ERROR_INVALID_ARGUMENT error whose message
 *     names the parameter, and fail the same way without crashing when `err` is NULL too;
 *   - *_free functions and pure accessors do nothing (or return their documented default).
 * Parameters documented as optional (offset outputs, options, callbacks, user data, err) are
 * passed as NULL on a call that must then succeed.
 *
 * Run by ffi-c/tests/null_args.rs with a mock server that stores but never acknowledges records,
 * TYPED_TABLE being a table whose columns it declares (`id BIGINT NOT NULL`):
 *   null_args ENDPOINT WORKSPACE_URL CLIENT_ID CLIENT_SECRET TABLE TYPED_TABLE
 * Exits 0 when every check passed; prints each failed check to stderr.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zerobus.h"

static int checks;
static int failures;

static void check_at(int line, bool ok, const char *what) {
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "FAIL null_args.c:%d: %s\n", line, what);
    }
}

#define CHECK(cond) check_at(__LINE__, (cond), #cond)

/* Checks a failed call's error: INVALID_ARGUMENT and a message naming `param` as `param`. Frees
 * the error. */
static void check_invalid(int line, const char *call, bool call_failed, zerobus_error *err, const char *param) {
    char what[512];
    char quoted[128];
    snprintf(quoted, sizeof quoted, "`%s`", param);
    snprintf(what, sizeof what, "%s fails", call);
    check_at(line, call_failed, what);
    snprintf(what, sizeof what, "%s stores an error", call);
    check_at(line, err != NULL, what);
    if (err != NULL) {
        snprintf(what, sizeof what, "%s: code %s is INVALID_ARGUMENT", call, zerobus_error_code_name(err));
        check_at(line, zerobus_error_code(err) == ZEROBUS_ERROR_INVALID_ARGUMENT, what);
        check_at(line, strcmp(zerobus_error_code_name(err), "INVALID_ARGUMENT") == 0, what);
        snprintf(what, sizeof what, "%s: message \"%s\" names %s", call, zerobus_error_message(err), quoted);
        check_at(line, strstr(zerobus_error_message(err), quoted) != NULL, what);
        snprintf(what, sizeof what, "%s: not retryable, no gRPC status", call);
        check_at(line, !zerobus_error_is_retryable(err) && zerobus_error_grpc_status(err) == -1, what);
    }
    zerobus_error_free(err);
}

/* `failed_expr` is a call written with ERRP as its error argument and compared to its failure
 * value. It runs twice: with ERRP NULL (must fail quietly), then with an error slot. */
#define EXPECT_NULL_ARG(param, failed_expr)                                                        \
    do {                                                                                           \
        zerobus_error *err_slot_ = NULL;                                                           \
        zerobus_error **ERRP = NULL;                                                               \
        bool quiet_failed_ = (failed_expr);                                                        \
        check_at(__LINE__, quiet_failed_, #failed_expr " with err == NULL");                       \
        bool failed_;                                                                              \
        ERRP = &err_slot_;                                                                         \
        failed_ = (failed_expr);                                                                   \
        check_invalid(__LINE__, #failed_expr, failed_, err_slot_, param);                          \
    } while (0)

/* A call expected to succeed. `*errp` is read after the call, and reported and freed if set. */
static bool succeeded(int line, const char *call, bool ok, zerobus_error **errp) {
    char what[512];
    zerobus_error *err = *errp;
    snprintf(what, sizeof what, "%s succeeds (%s: %s)", call, err != NULL ? zerobus_error_code_name(err) : "-",
             err != NULL ? zerobus_error_message(err) : "-");
    check_at(line, ok && err == NULL, what);
    zerobus_error_free(err);
    *errp = NULL;
    return ok;
}

#define EXPECT_OK(ok_expr, errvar) succeeded(__LINE__, #ok_expr, (ok_expr), &(errvar))

/* A serialized DescriptorProto: `message R { optional int64 a = 1; }`. */
static const uint8_t DESCRIPTOR[] = {0x0a, 0x01, 'R', 0x12, 0x09, 0x0a, 0x01, 'a',
                                     0x18, 0x01, 0x20, 0x01, 0x28, 0x03};

static int releases;
static void count_release(void *user_data) {
    (void)user_data;
    releases++;
}

static void ignore_ack(void *user_data, int64_t offset) {
    (void)user_data;
    (void)offset;
}

static void ignore_ack_error(void *user_data, int64_t offset, const char *message) {
    (void)user_data;
    (void)offset;
    (void)message;
}

static const char *g_table;
static const char *g_typed_table;

/* A headers provider that hands the library a NULL header name or value. */
static int32_t null_name_headers(void *user_data, zerobus_headers *headers) {
    (void)user_data;
    zerobus_headers_add(headers, NULL, "value");
    return 0;
}

static int32_t null_value_headers(void *user_data, zerobus_headers *headers) {
    (void)user_data;
    zerobus_headers_add(headers, "authorization", NULL);
    return 0;
}

/* A provider that fails UNAUTHENTICATED with a NULL message (the message is optional) after a
 * zerobus_headers_set_error on NULL headers (a no-op). Counts its calls in *user_data. */
static int32_t failing_null_message_headers(void *user_data, zerobus_headers *headers) {
    (*(int *)user_data)++;
    zerobus_headers_set_error(NULL, "never seen");
    zerobus_headers_set_error(headers, NULL);
    return ZEROBUS_ERROR_UNAUTHENTICATED;
}

static int32_t static_headers(void *user_data, zerobus_headers *headers) {
    (void)user_data;
    zerobus_headers_add(NULL, "authorization", "Bearer x"); /* NULL headers: a no-op */
    zerobus_headers_set_error(NULL, "ignored");             /* NULL headers: a no-op */
    zerobus_headers_add(headers, "authorization", "Bearer zerobus-dev-static-token");
    zerobus_headers_add(headers, "x-databricks-zerobus-table-name", g_table);
    return 0;
}

static int32_t typed_headers(void *user_data, zerobus_headers *headers) {
    (void)user_data;
    zerobus_headers_add(headers, "authorization", "Bearer zerobus-dev-static-token");
    zerobus_headers_add(headers, "x-databricks-zerobus-table-name", g_typed_table);
    return 0;
}

static void test_version_and_accessors(void) {
    const char *v = zerobus_version();
    CHECK(v != NULL && v[0] != '\0');

    /* Error accessors on NULL: documented defaults. */
    CHECK(zerobus_error_code(NULL) == ZEROBUS_ERROR_INVALID_ARGUMENT);
    CHECK(zerobus_error_code_name(NULL) != NULL && zerobus_error_code_name(NULL)[0] == '\0');
    CHECK(zerobus_error_grpc_status(NULL) == -1);
    CHECK(!zerobus_error_is_retryable(NULL));
    CHECK(zerobus_error_message(NULL) != NULL && zerobus_error_message(NULL)[0] == '\0');
    zerobus_error_free(NULL);

    /* Batches and buffers on NULL. */
    {
        const uint8_t *data = (const uint8_t *)"untouched";
        size_t len = 4711;
        CHECK(zerobus_batches_count(NULL) == 0);
        CHECK(zerobus_batches_batch_len(NULL, 0) == 0);
        CHECK(!zerobus_batches_record(NULL, 0, 0, &data, &len));
        CHECK(len == 4711 && strcmp((const char *)data, "untouched") == 0);
        CHECK(!zerobus_batches_record(NULL, 0, 0, NULL, NULL));
        zerobus_batches_free(NULL);
        CHECK(zerobus_buffer_data(NULL) == NULL);
        CHECK(zerobus_buffer_len(NULL) == 0);
        zerobus_buffer_free(NULL);
    }

    /* Table schemas on NULL. */
    {
        size_t len = 4711;
        CHECK(zerobus_table_schema_json(NULL) != NULL && zerobus_table_schema_json(NULL)[0] == '\0');
        CHECK(zerobus_table_schema_column_count(NULL) == 0);
        CHECK(zerobus_table_schema_column_name(NULL, 0) == NULL);
        CHECK(zerobus_table_schema_column_type(NULL, 0) == NULL);
        CHECK(!zerobus_table_schema_column_nullable(NULL, 0));
        CHECK(zerobus_table_schema_column_position(NULL, 0) == -1);
        EXPECT_NULL_ARG("schema", zerobus_table_schema_descriptor(NULL, &len, ERRP) == NULL);
        EXPECT_NULL_ARG("schema", zerobus_table_schema_proto_file(NULL, ERRP) == NULL);
        CHECK(len == 4711);
        zerobus_table_schema_free(NULL);
    }
}

static void test_table_schema(const zerobus_sdk *sdk, const char *id, const char *secret) {
    zerobus_error *err = NULL;
    zerobus_table_schema *schema;
    int before = releases;

    EXPECT_NULL_ARG("sdk", zerobus_sdk_get_table_schema(NULL, g_typed_table, id, secret, ERRP) == NULL);
    EXPECT_NULL_ARG("table_name", zerobus_sdk_get_table_schema(sdk, NULL, id, secret, ERRP) == NULL);
    EXPECT_NULL_ARG("client_id", zerobus_sdk_get_table_schema(sdk, g_typed_table, NULL, secret, ERRP) == NULL);
    EXPECT_NULL_ARG("client_secret", zerobus_sdk_get_table_schema(sdk, g_typed_table, id, NULL, ERRP) == NULL);
    /* Every failure hands user_data back through release exactly once. */
    EXPECT_NULL_ARG("sdk", zerobus_sdk_get_table_schema_with_headers_provider(NULL, g_typed_table, typed_headers,
                                                                              &releases, count_release, ERRP) == NULL);
    EXPECT_NULL_ARG("table_name", zerobus_sdk_get_table_schema_with_headers_provider(sdk, NULL, typed_headers,
                                                                                     &releases, count_release,
                                                                                     ERRP) == NULL);
    EXPECT_NULL_ARG("provider", zerobus_sdk_get_table_schema_with_headers_provider(sdk, g_typed_table, NULL, &releases,
                                                                                   count_release, ERRP) == NULL);
    CHECK(releases == before + 6);
    /* user_data and release are optional. */
    schema = zerobus_sdk_get_table_schema_with_headers_provider(sdk, g_typed_table, typed_headers, NULL, NULL, &err);
    EXPECT_OK(schema != NULL, err);
    zerobus_table_schema_free(schema);

    err = NULL;
    schema = zerobus_sdk_get_table_schema(sdk, g_typed_table, id, secret, &err);
    if (EXPECT_OK(schema != NULL, err)) {
        size_t len = 0;
        const uint8_t *d;
        EXPECT_NULL_ARG("len", zerobus_table_schema_descriptor(schema, NULL, ERRP) == NULL);
        /* err is optional on success too. */
        d = zerobus_table_schema_descriptor(schema, &len, NULL);
        CHECK(d != NULL && len > 0);
        CHECK(zerobus_table_schema_proto_file(schema, NULL) != NULL);
        CHECK(zerobus_table_schema_column_count(schema) == 1);
        CHECK(strcmp(zerobus_table_schema_column_name(schema, 0), "id") == 0);
        CHECK(strcmp(zerobus_table_schema_column_type(schema, 0), "bigint") == 0);
        CHECK(!zerobus_table_schema_column_nullable(schema, 0));
        CHECK(zerobus_table_schema_column_position(schema, 0) == 0);
        CHECK(strstr(zerobus_table_schema_json(schema), "\"columns\"") != NULL);
    }
    zerobus_table_schema_free(schema);
}

static void test_options(void) {
    zerobus_stream_options *o = zerobus_stream_options_new();
    zerobus_error *err = NULL;
    int before;
    CHECK(o != NULL);
    zerobus_stream_options_free(NULL);

    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_max_inflight_requests(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_max_inflight_bytes(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_recovery(NULL, true, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_recovery_timeout_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_recovery_backoff_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_recovery_backoff_max_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_recovery_retries(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_server_lack_of_ack_timeout_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_flush_timeout_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_stream_paused_max_wait_time_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_callback_max_wait_time_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_record_type(NULL, ZEROBUS_RECORD_TYPE_JSON, ERRP));

    /* NULL options: the user data is handed back through release, once per call (two calls). */
    before = releases;
    EXPECT_NULL_ARG("options", !zerobus_stream_options_set_ack_callback(NULL, ignore_ack, ignore_ack_error, &releases,
                                                                        count_release, ERRP));
    CHECK(releases == before + 2);

    /* Callbacks, user data and release are optional. */
    EXPECT_OK(zerobus_stream_options_set_ack_callback(o, NULL, NULL, NULL, NULL, &err), err);
    /* Replacing callbacks releases the previous user data; freeing the options releases the last. */
    before = releases;
    err = NULL;
    EXPECT_OK(zerobus_stream_options_set_ack_callback(o, ignore_ack, NULL, &releases, count_release, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_stream_options_set_ack_callback(o, NULL, ignore_ack_error, &releases, count_release, &err), err);
    CHECK(releases == before + 1);
    zerobus_stream_options_free(o);
    CHECK(releases == before + 2);
}

static void test_arrow_options(void) {
    zerobus_arrow_stream_options *o = zerobus_arrow_stream_options_new();
    zerobus_error *err = NULL;
    int before;
    CHECK(o != NULL);
    zerobus_arrow_stream_options_free(NULL);

    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_max_inflight_batches(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_max_inflight_bytes(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_recovery(NULL, true, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_recovery_timeout_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_recovery_backoff_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_recovery_backoff_max_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_recovery_retries(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_server_lack_of_ack_timeout_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_flush_timeout_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_connection_timeout_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_ipc_compression(NULL, "zstd", ERRP));
    EXPECT_NULL_ARG("name", !zerobus_arrow_stream_options_set_ipc_compression(o, NULL, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_stream_paused_max_wait_time_ms(NULL, 1, ERRP));
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_callback_max_wait_time_ms(NULL, 1, ERRP));

    /* NULL options: the user data is handed back through release, once per call (two calls). */
    before = releases;
    EXPECT_NULL_ARG("options", !zerobus_arrow_stream_options_set_ack_callback(NULL, ignore_ack, ignore_ack_error,
                                                                              &releases, count_release, ERRP));
    CHECK(releases == before + 2);
    /* Callbacks, user data and release are optional; the options release the last user data. */
    EXPECT_OK(zerobus_arrow_stream_options_set_ack_callback(o, NULL, NULL, NULL, NULL, &err), err);
    before = releases;
    err = NULL;
    EXPECT_OK(zerobus_arrow_stream_options_set_ack_callback(o, ignore_ack, NULL, &releases, count_release, &err), err);
    zerobus_arrow_stream_options_free(o);
    CHECK(releases == before + 1);
}

/* Arrow streams: creation (a stream from the typed table, whose schema comes from the table),
 * then every stream call with NULL for each handle, buffer and struct parameter. */
static void test_arrow(const zerobus_sdk *sdk, const char *id, const char *secret) {
    static const uint8_t junk[] = "not arrow";
    zerobus_arrow_stream_options *o = zerobus_arrow_stream_options_new();
    zerobus_arrow_stream *s;
    zerobus_error *err = NULL;
    zerobus_metrics m;
    zerobus_buffer *b;
    int64_t offset = 99;
    int before;
    CHECK(zerobus_arrow_stream_options_set_recovery_retries(o, 1, NULL));

    EXPECT_NULL_ARG("sdk", zerobus_sdk_create_arrow_stream(NULL, g_typed_table, NULL, 0, id, secret, o, ERRP) == NULL);
    EXPECT_NULL_ARG("table_name", zerobus_sdk_create_arrow_stream(sdk, NULL, NULL, 0, id, secret, o, ERRP) == NULL);
    EXPECT_NULL_ARG("schema_ipc", zerobus_sdk_create_arrow_stream(sdk, g_typed_table, NULL, 8, id, secret, o,
                                                                  ERRP) == NULL);
    EXPECT_NULL_ARG("client_id", zerobus_sdk_create_arrow_stream(sdk, g_typed_table, NULL, 0, NULL, secret, o,
                                                                 ERRP) == NULL);
    EXPECT_NULL_ARG("client_secret", zerobus_sdk_create_arrow_stream(sdk, g_typed_table, NULL, 0, id, NULL, o,
                                                                     ERRP) == NULL);
    before = releases;
    EXPECT_NULL_ARG("sdk", zerobus_sdk_create_arrow_stream_with_headers_provider(NULL, g_typed_table, NULL, 0,
                                                                                 typed_headers, &releases,
                                                                                 count_release, o, ERRP) == NULL);
    EXPECT_NULL_ARG("table_name", zerobus_sdk_create_arrow_stream_with_headers_provider(sdk, NULL, NULL, 0,
                                                                                        typed_headers, &releases,
                                                                                        count_release, o,
                                                                                        ERRP) == NULL);
    EXPECT_NULL_ARG("schema_ipc", zerobus_sdk_create_arrow_stream_with_headers_provider(sdk, g_typed_table, NULL, 8,
                                                                                        typed_headers, &releases,
                                                                                        count_release, o,
                                                                                        ERRP) == NULL);
    EXPECT_NULL_ARG("provider", zerobus_sdk_create_arrow_stream_with_headers_provider(sdk, g_typed_table, NULL, 0,
                                                                                      NULL, &releases, count_release,
                                                                                      o, ERRP) == NULL);
    CHECK(releases == before + 8);
    /* From the table with a headers provider, no options: user_data and release optional. */
    s = zerobus_sdk_create_arrow_stream_with_headers_provider(sdk, g_typed_table, NULL, 0, typed_headers, NULL, NULL,
                                                              NULL, &err);
    EXPECT_OK(s != NULL, err);
    zerobus_arrow_stream_free(s); /* freed open: allowed */

    /* OAuth, NULL options: every default. */
    err = NULL;
    s = zerobus_sdk_create_arrow_stream(sdk, g_typed_table, NULL, 0, id, secret, NULL, &err);
    zerobus_arrow_stream_options_free(o);
    if (!EXPECT_OK(s != NULL, err)) return;

    EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_ingest_ipc(NULL, junk, sizeof junk, &offset, ERRP));
    EXPECT_NULL_ARG("ipc", !zerobus_arrow_stream_ingest_ipc(s, NULL, sizeof junk, &offset, ERRP));
    {
        /* Column buffers: each array that claims elements, and each buffer that claims bytes. */
        uint64_t nodes[2] = {0, 0};
        const uint8_t *ptrs[1] = {NULL};
        size_t lens[1] = {4};
        EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_ingest_columns(NULL, junk, sizeof junk, nodes, 2, ptrs, lens,
                                                                       1, &offset, ERRP));
        EXPECT_NULL_ARG("schema_ipc", !zerobus_arrow_stream_ingest_columns(s, NULL, sizeof junk, nodes, 2, ptrs,
                                                                           lens, 1, &offset, ERRP));
        EXPECT_NULL_ARG("nodes", !zerobus_arrow_stream_ingest_columns(s, junk, sizeof junk, NULL, 2, ptrs, lens, 1,
                                                                      &offset, ERRP));
        EXPECT_NULL_ARG("buffer_lens", !zerobus_arrow_stream_ingest_columns(s, junk, sizeof junk, nodes, 2, ptrs,
                                                                            NULL, 1, &offset, ERRP));
        EXPECT_NULL_ARG("buffers", !zerobus_arrow_stream_ingest_columns(s, junk, sizeof junk, nodes, 2, NULL, lens,
                                                                        1, &offset, ERRP));
        EXPECT_NULL_ARG("buffers[0]", !zerobus_arrow_stream_ingest_columns(s, junk, sizeof junk, nodes, 2, ptrs,
                                                                           lens, 1, &offset, ERRP));
        /* The _nocopy forms: the same NULLs refused, and what they were handed released once per
         * call (EXPECT_NULL_ARG makes each call twice); release itself is optional. */
        before = releases;
        EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_ingest_ipc_nocopy(NULL, junk, sizeof junk, count_release,
                                                                          &releases, &offset, ERRP));
        EXPECT_NULL_ARG("ipc", !zerobus_arrow_stream_ingest_ipc_nocopy(s, NULL, sizeof junk, count_release,
                                                                       &releases, &offset, ERRP));
        EXPECT_NULL_ARG("ipc", !zerobus_arrow_stream_ingest_ipc_nocopy(s, NULL, sizeof junk, NULL, NULL, &offset,
                                                                       ERRP));
        EXPECT_NULL_ARG("nodes", !zerobus_arrow_stream_ingest_columns_nocopy(s, junk, sizeof junk, NULL, 2, ptrs,
                                                                             lens, 1, count_release, &releases,
                                                                             &offset, ERRP));
        EXPECT_NULL_ARG("buffers[0]", !zerobus_arrow_stream_ingest_columns_nocopy(s, junk, sizeof junk, nodes, 2,
                                                                                  ptrs, lens, 1, NULL, NULL,
                                                                                  &offset, ERRP));
        CHECK(releases == before + 6);
    }
    /* The C Data structs: NULL for either (nothing to release), NULL stream. */
    EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_ingest_arrow(NULL, NULL, NULL, &offset, ERRP));
    EXPECT_NULL_ARG("array", !zerobus_arrow_stream_ingest_arrow(s, NULL, NULL, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_ingest_arrow_nocopy(NULL, NULL, NULL, &offset, ERRP));
    EXPECT_NULL_ARG("array", !zerobus_arrow_stream_ingest_arrow_nocopy(s, NULL, NULL, &offset, ERRP));
    {
        /* Structs already released (release NULL) are refused and not released again. */
        struct ArrowArray array;
        struct ArrowSchema schema;
        memset(&array, 0, sizeof array);
        memset(&schema, 0, sizeof schema);
        EXPECT_NULL_ARG("schema", !zerobus_arrow_stream_ingest_arrow(s, &array, NULL, &offset, ERRP));
        err = NULL;
        CHECK(!zerobus_arrow_stream_ingest_arrow(s, &array, &schema, &offset, &err));
        CHECK(zerobus_error_code(err) == ZEROBUS_ERROR_INVALID_RECORD &&
              strstr(zerobus_error_message(err), "already released") != NULL);
        zerobus_error_free(err);
    }
    CHECK(offset == 99); /* failed calls leave the output alone */

    EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_wait_for_offset(NULL, 0, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_flush(NULL, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_close(NULL, ERRP));
    CHECK(!zerobus_arrow_stream_is_closed(NULL));
    CHECK(!zerobus_arrow_stream_is_closed(s));
    EXPECT_NULL_ARG("stream", !zerobus_arrow_stream_metrics(NULL, &m, ERRP));
    EXPECT_NULL_ARG("out", !zerobus_arrow_stream_metrics(s, NULL, ERRP));
    EXPECT_NULL_ARG("stream", zerobus_arrow_stream_get_unacked_ipc(NULL, ERRP) == NULL);
    zerobus_arrow_stream_free(NULL);

    /* Nothing was queued: the unacked rows are a schema-only IPC stream, and close succeeds. */
    err = NULL;
    b = zerobus_arrow_stream_get_unacked_ipc(s, &err);
    if (EXPECT_OK(b != NULL, err)) CHECK(zerobus_buffer_len(b) > 0);
    zerobus_buffer_free(b);
    err = NULL;
    if (EXPECT_OK(zerobus_arrow_stream_metrics(s, &m, &err), err)) {
        CHECK(m.inflight_requests == 0 && m.last_acked_offset == -1);
    }
    err = NULL;
    EXPECT_OK(zerobus_arrow_stream_close(s, &err), err);
    CHECK(zerobus_arrow_stream_is_closed(s));
    zerobus_arrow_stream_free(s);
}

static void test_sdk(const char *endpoint, const char *workspace) {
    zerobus_sdk_builder *b = zerobus_sdk_builder_new();
    zerobus_error *err = NULL;
    zerobus_sdk *sdk;
    static const uint8_t pem[] = "-----BEGIN CERTIFICATE-----\n";

    EXPECT_NULL_ARG("endpoint", zerobus_sdk_new(NULL, workspace, ERRP) == NULL);
    EXPECT_NULL_ARG("workspace_url", zerobus_sdk_new(endpoint, NULL, ERRP) == NULL);
    zerobus_sdk_free(NULL);

    CHECK(b != NULL);
    EXPECT_OK(zerobus_sdk_builder_set_endpoint(b, endpoint, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_sdk_builder_set_workspace_url(b, workspace, &err), err);

    EXPECT_NULL_ARG("builder", !zerobus_sdk_builder_set_endpoint(NULL, endpoint, ERRP));
    EXPECT_NULL_ARG("endpoint", !zerobus_sdk_builder_set_endpoint(b, NULL, ERRP));
    EXPECT_NULL_ARG("builder", !zerobus_sdk_builder_set_workspace_url(NULL, workspace, ERRP));
    EXPECT_NULL_ARG("workspace_url", !zerobus_sdk_builder_set_workspace_url(b, NULL, ERRP));
    EXPECT_NULL_ARG("builder", !zerobus_sdk_builder_add_ca_pem(NULL, pem, sizeof pem - 1, ERRP));
    EXPECT_NULL_ARG("pem", !zerobus_sdk_builder_add_ca_pem(b, NULL, 16, ERRP));
    EXPECT_NULL_ARG("builder", !zerobus_sdk_builder_set_application_name(NULL, "app", ERRP));
    EXPECT_NULL_ARG("name", !zerobus_sdk_builder_set_application_name(b, NULL, ERRP));
    EXPECT_NULL_ARG("builder", !zerobus_sdk_builder_set_sdk_name(NULL, "sdk/1.0", ERRP));
    EXPECT_NULL_ARG("name_and_version", !zerobus_sdk_builder_set_sdk_name(b, NULL, ERRP));
    EXPECT_NULL_ARG("builder", zerobus_sdk_builder_build(NULL, ERRP) == NULL);

    /* A rejected argument changes nothing: the builder still holds endpoint and workspace. */
    err = NULL;
    sdk = zerobus_sdk_builder_build(b, &err);
    EXPECT_OK(sdk != NULL, err);
    zerobus_sdk_free(sdk);
    zerobus_sdk_builder_free(b);
    zerobus_sdk_builder_free(NULL);
}

static void test_create(const zerobus_sdk *sdk, const char *table, const char *id, const char *secret) {
    zerobus_stream_options *json = zerobus_stream_options_new();
    zerobus_error *err = NULL;
    zerobus_stream *s;
    int before;
    CHECK(zerobus_stream_options_set_record_type(json, ZEROBUS_RECORD_TYPE_JSON, NULL));
    CHECK(zerobus_stream_options_set_recovery_retries(json, 1, NULL));

    /* OAuth. options NULL means the defaults: a PROTO stream, which takes a descriptor (a NULL
     * descriptor with a length is refused; NULL with length 0 means "from the table"). */
    EXPECT_NULL_ARG("sdk", zerobus_sdk_create_stream(NULL, table, DESCRIPTOR, sizeof DESCRIPTOR, id, secret, NULL,
                                                     ERRP) == NULL);
    EXPECT_NULL_ARG("table_name", zerobus_sdk_create_stream(sdk, NULL, DESCRIPTOR, sizeof DESCRIPTOR, id, secret,
                                                            NULL, ERRP) == NULL);
    EXPECT_NULL_ARG("descriptor", zerobus_sdk_create_stream(sdk, table, NULL, sizeof DESCRIPTOR, id, secret, NULL,
                                                            ERRP) == NULL);
    EXPECT_NULL_ARG("client_id", zerobus_sdk_create_stream(sdk, table, DESCRIPTOR, sizeof DESCRIPTOR, NULL, secret,
                                                           NULL, ERRP) == NULL);
    EXPECT_NULL_ARG("client_secret", zerobus_sdk_create_stream(sdk, table, DESCRIPTOR, sizeof DESCRIPTOR, id, NULL,
                                                               NULL, ERRP) == NULL);
    /* NULL options with a descriptor: a PROTO stream with every default. */
    s = zerobus_sdk_create_stream(sdk, table, DESCRIPTOR, sizeof DESCRIPTOR, id, secret, NULL, &err);
    EXPECT_OK(s != NULL, err);
    zerobus_stream_free(s); /* freed open: allowed, abandons nothing here */
    /* NULL options and no descriptor: a PROTO stream from the table's schema. */
    err = NULL;
    s = zerobus_sdk_create_stream(sdk, g_typed_table, NULL, 0, id, secret, NULL, &err);
    EXPECT_OK(s != NULL, err);
    zerobus_stream_free(s);
    /* A JSON stream ignores a NULL descriptor. */
    err = NULL;
    s = zerobus_sdk_create_stream(sdk, table, NULL, 0, id, secret, json, &err);
    EXPECT_OK(s != NULL, err);
    zerobus_stream_free(s);

    /* Headers provider: every failure hands user_data back through release exactly once. */
    before = releases;
    EXPECT_NULL_ARG("sdk", zerobus_sdk_create_stream_with_headers_provider(NULL, table, NULL, 0, static_headers,
                                                                           &releases, count_release, json,
                                                                           ERRP) == NULL);
    EXPECT_NULL_ARG("table_name", zerobus_sdk_create_stream_with_headers_provider(sdk, NULL, NULL, 0, static_headers,
                                                                                  &releases, count_release, json,
                                                                                  ERRP) == NULL);
    EXPECT_NULL_ARG("descriptor",
                    zerobus_sdk_create_stream_with_headers_provider(sdk, table, NULL, sizeof DESCRIPTOR,
                                                                    static_headers, &releases, count_release, NULL,
                                                                    ERRP) == NULL);
    EXPECT_NULL_ARG("provider", zerobus_sdk_create_stream_with_headers_provider(sdk, table, NULL, 0, NULL, &releases,
                                                                                count_release, json, ERRP) == NULL);
    /* NULL header name or value inside the provider fails the connection, naming the parameter. */
    EXPECT_NULL_ARG("name", zerobus_sdk_create_stream_with_headers_provider(sdk, table, NULL, 0, null_name_headers,
                                                                            &releases, count_release, json,
                                                                            ERRP) == NULL);
    EXPECT_NULL_ARG("value", zerobus_sdk_create_stream_with_headers_provider(sdk, table, NULL, 0, null_value_headers,
                                                                             &releases, count_release, json,
                                                                             ERRP) == NULL);
    CHECK(releases == before + 12);
    /* From the table with a headers provider, no options, no descriptor. */
    err = NULL;
    s = zerobus_sdk_create_stream_with_headers_provider(sdk, g_typed_table, NULL, 0, typed_headers, NULL, NULL, NULL,
                                                        &err);
    EXPECT_OK(s != NULL, err);
    zerobus_stream_free(s);
    /* A provider failing with a NULL message: its code stands, asked once (UNAUTHENTICATED is
     * final), user_data handed back through release. */
    {
        int calls = 0;
        before = releases;
        err = NULL;
        s = zerobus_sdk_create_stream_with_headers_provider(sdk, table, NULL, 0, failing_null_message_headers, &calls,
                                                            count_release, json, &err);
        CHECK(s == NULL && zerobus_error_code(err) == ZEROBUS_ERROR_UNAUTHENTICATED);
        CHECK(!zerobus_error_is_retryable(err) && zerobus_error_grpc_status(err) == -1);
        CHECK(calls == 1);
        CHECK(releases == before + 1);
        zerobus_error_free(err);
        zerobus_stream_free(s);
    }
    /* user_data and release are optional; the provider's NULL-headers call is a no-op. */
    err = NULL;
    s = zerobus_sdk_create_stream_with_headers_provider(sdk, table, NULL, 0, static_headers, NULL, NULL, json, &err);
    EXPECT_OK(s != NULL, err);
    zerobus_stream_free(s);
    zerobus_stream_options_free(json);
}

static void test_stream(zerobus_stream *s) {
    static const char rec[] = "{\"a\":1}";
    static const char two[] = "{\"a\":1}{\"a\":2}";
    const uint8_t *data = (const uint8_t *)rec;
    const uint8_t *both = (const uint8_t *)two;
    size_t lengths[2] = {7, 7};
    int64_t offset = 99;
    zerobus_error *err = NULL;
    zerobus_metrics m;
    zerobus_batches *b;

    EXPECT_NULL_ARG("stream", !zerobus_stream_ingest_record(NULL, data, 7, &offset, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_ingest_record(s, NULL, 7, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_try_ingest_record(NULL, data, 7, &offset, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_try_ingest_record(s, NULL, 7, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_ingest_record_nowait(NULL, data, 7, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_ingest_record_nowait(s, NULL, 7, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_ingest_records(NULL, both, 14, lengths, 2, &offset, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_ingest_records(s, NULL, 14, lengths, 2, &offset, ERRP));
    EXPECT_NULL_ARG("lengths", !zerobus_stream_ingest_records(s, both, 14, NULL, 2, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_try_ingest_records(NULL, both, 14, lengths, 2, &offset, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_try_ingest_records(s, NULL, 14, lengths, 2, &offset, ERRP));
    EXPECT_NULL_ARG("lengths", !zerobus_stream_try_ingest_records(s, both, 14, NULL, 2, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_ingest_records_nowait(NULL, both, 14, lengths, 2, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_ingest_records_nowait(s, NULL, 14, lengths, 2, ERRP));
    EXPECT_NULL_ARG("lengths", !zerobus_stream_ingest_records_nowait(s, both, 14, NULL, 2, ERRP));
    /* The JSON text calls: the same checks, the buffer parameter being `json` (single) or `data`. */
    EXPECT_NULL_ARG("stream", !zerobus_stream_ingest_json_record(NULL, data, 7, &offset, ERRP));
    EXPECT_NULL_ARG("json", !zerobus_stream_ingest_json_record(s, NULL, 7, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_try_ingest_json_record(NULL, data, 7, &offset, ERRP));
    EXPECT_NULL_ARG("json", !zerobus_stream_try_ingest_json_record(s, NULL, 7, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_ingest_json_record_nowait(NULL, data, 7, ERRP));
    EXPECT_NULL_ARG("json", !zerobus_stream_ingest_json_record_nowait(s, NULL, 7, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_ingest_json_records(NULL, both, 14, lengths, 2, &offset, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_ingest_json_records(s, NULL, 14, lengths, 2, &offset, ERRP));
    EXPECT_NULL_ARG("lengths", !zerobus_stream_ingest_json_records(s, both, 14, NULL, 2, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_try_ingest_json_records(NULL, both, 14, lengths, 2, &offset, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_try_ingest_json_records(s, NULL, 14, lengths, 2, &offset, ERRP));
    EXPECT_NULL_ARG("lengths", !zerobus_stream_try_ingest_json_records(s, both, 14, NULL, 2, &offset, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_ingest_json_records_nowait(NULL, both, 14, lengths, 2, ERRP));
    EXPECT_NULL_ARG("data", !zerobus_stream_ingest_json_records_nowait(s, NULL, 14, lengths, 2, ERRP));
    EXPECT_NULL_ARG("lengths", !zerobus_stream_ingest_json_records_nowait(s, both, 14, NULL, 2, ERRP));
    CHECK(offset == 99); /* failed calls leave the output alone */

    /* Nothing was queued by the failures above; the offset output is optional. */
    EXPECT_OK(zerobus_stream_ingest_record(s, data, 7, NULL, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_stream_try_ingest_record(s, data, 7, &offset, &err), err);
    CHECK(offset == 1);
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_records(s, both, 14, lengths, 2, NULL, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_stream_try_ingest_records(s, both, 14, lengths, 2, &offset, &err), err);
    CHECK(offset == 3);
    /* An empty batch may pass NULL data and lengths: nothing is sent, the offset is -1. */
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_records(s, NULL, 0, NULL, 0, &offset, &err), err);
    CHECK(offset == -1);
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_records_nowait(s, NULL, 0, NULL, 0, &err), err);
    /* The JSON calls on this JSON stream: optional offset, empty batches with NULL buffers. */
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_json_record(s, data, 7, NULL, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_stream_try_ingest_json_record(s, data, 7, &offset, &err), err);
    CHECK(offset == 5);
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_json_record_nowait(s, data, 7, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_json_records(s, both, 14, lengths, 2, NULL, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_stream_try_ingest_json_records(s, both, 14, lengths, 2, &offset, &err), err);
    CHECK(offset == 8);
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_json_records_nowait(s, both, 14, lengths, 2, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_json_records(s, NULL, 0, NULL, 0, &offset, &err), err);
    CHECK(offset == -1);
    err = NULL;
    EXPECT_OK(zerobus_stream_try_ingest_json_records(s, NULL, 0, NULL, 0, NULL, &err), err);
    err = NULL;
    EXPECT_OK(zerobus_stream_ingest_json_records_nowait(s, NULL, 0, NULL, 0, &err), err);

    EXPECT_NULL_ARG("stream", !zerobus_stream_wait_for_offset(NULL, 0, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_flush(NULL, ERRP));
    EXPECT_NULL_ARG("stream", !zerobus_stream_close(NULL, ERRP));
    CHECK(!zerobus_stream_is_closed(NULL));
    CHECK(!zerobus_stream_is_closed(s));
    EXPECT_NULL_ARG("stream", zerobus_stream_get_unacked_batches(NULL, ERRP) == NULL);
    EXPECT_NULL_ARG("stream", zerobus_stream_get_unacked_records(NULL, ERRP) == NULL);
    EXPECT_NULL_ARG("stream", !zerobus_stream_metrics(NULL, &m, ERRP));
    EXPECT_NULL_ARG("out", !zerobus_stream_metrics(s, NULL, ERRP));
    EXPECT_NULL_ARG("stream", zerobus_stream_table_schema(NULL, ERRP) == NULL);
    {
        char id[128] = "untouched";
        CHECK(zerobus_stream_id(NULL, id, sizeof id) == 0 && strcmp(id, "untouched") == 0);
        CHECK(zerobus_stream_id(NULL, NULL, 0) == 0);
        /* NULL buf with cap 0 asks for the length only. */
        CHECK(zerobus_stream_id(s, NULL, 0) > 0);
        CHECK(zerobus_stream_id(s, id, sizeof id) == zerobus_stream_id(s, NULL, 0));
    }
    zerobus_stream_free(NULL);

    /* The server never acks: the ten calls are unacked batches [1, 1, 2, 2, 1, 1, 1, 2, 2, 2]. */
    err = NULL;
    b = zerobus_stream_get_unacked_batches(s, &err);
    if (EXPECT_OK(b != NULL, err)) {
        const uint8_t *out = (const uint8_t *)"untouched";
        size_t len = 4711;
        CHECK(zerobus_batches_count(b) == 10);
        CHECK(zerobus_batches_batch_len(b, 2) == 2);
        CHECK(zerobus_batches_batch_len(b, 9) == 2);
        CHECK(zerobus_batches_batch_len(b, 10) == 0);
        CHECK(!zerobus_batches_record(b, 0, 0, NULL, &len));
        CHECK(!zerobus_batches_record(b, 0, 0, &out, NULL));
        CHECK(len == 4711 && strcmp((const char *)out, "untouched") == 0);
        CHECK(!zerobus_batches_record(b, 10, 0, &out, &len));
        CHECK(zerobus_batches_record(b, 3, 1, &out, &len) && len == 7 && memcmp(out, "{\"a\":2}", 7) == 0);
        zerobus_batches_free(b);
    }
    err = NULL;
    b = zerobus_stream_get_unacked_records(s, &err);
    if (EXPECT_OK(b != NULL, err)) {
        CHECK(zerobus_batches_count(b) == 1 && zerobus_batches_batch_len(b, 0) == 15);
        zerobus_batches_free(b);
    }
    err = NULL;
    if (EXPECT_OK(zerobus_stream_metrics(s, &m, &err), err)) {
        CHECK(m.inflight_requests == 10 && m.inflight_records == 15 && m.last_acked_offset == -1);
    }
}

static void test_encoder(void) {
    zerobus_error *err = NULL;
    zerobus_json_encoder *enc;
    zerobus_buffer *buf;
    static const char json[] = "{\"a\":150}";

    EXPECT_NULL_ARG("descriptor", zerobus_json_encoder_new(NULL, sizeof DESCRIPTOR, ERRP) == NULL);
    enc = zerobus_json_encoder_new(DESCRIPTOR, sizeof DESCRIPTOR, &err);
    if (!EXPECT_OK(enc != NULL, err)) return;
    EXPECT_NULL_ARG("encoder", zerobus_json_encoder_encode(NULL, json, sizeof json - 1, ERRP) == NULL);
    EXPECT_NULL_ARG("json", zerobus_json_encoder_encode(enc, NULL, sizeof json - 1, ERRP) == NULL);
    err = NULL;
    buf = zerobus_json_encoder_encode(enc, json, sizeof json - 1, &err);
    if (EXPECT_OK(buf != NULL, err)) {
        static const uint8_t want[] = {0x08, 0x96, 0x01};
        CHECK(zerobus_buffer_len(buf) == sizeof want && memcmp(zerobus_buffer_data(buf), want, sizeof want) == 0);
    }
    zerobus_buffer_free(buf);
    zerobus_json_encoder_free(enc);
    zerobus_json_encoder_free(NULL);
}

int main(int argc, char **argv) {
    const char *endpoint, *workspace, *id, *secret;
    zerobus_error *err = NULL;
    zerobus_sdk *sdk;
    zerobus_stream_options *o;
    zerobus_stream *s;

    if (argc != 7) {
        fprintf(stderr, "usage: %s ENDPOINT WORKSPACE_URL CLIENT_ID CLIENT_SECRET TABLE TYPED_TABLE\n", argv[0]);
        return 2;
    }
    endpoint = argv[1];
    workspace = argv[2];
    id = argv[3];
    secret = argv[4];
    g_table = argv[5];
    g_typed_table = argv[6];

    test_version_and_accessors();
    test_options();
    test_arrow_options();
    test_sdk(endpoint, workspace);
    test_encoder();

    sdk = zerobus_sdk_new(endpoint, workspace, &err);
    if (!EXPECT_OK(sdk != NULL, err)) return 1;
    test_create(sdk, g_table, id, secret);
    test_table_schema(sdk, id, secret);
    test_arrow(sdk, id, secret);

    /* One live JSON stream for the stream calls' other arguments. Short flush and connection
     * bounds, as the server never acks (close then fails with TIMEOUT). */
    o = zerobus_stream_options_new();
    CHECK(zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_JSON, NULL));
    CHECK(zerobus_stream_options_set_flush_timeout_ms(o, 200, NULL));
    CHECK(zerobus_stream_options_set_recovery_timeout_ms(o, 1000, NULL));
    err = NULL;
    s = zerobus_sdk_create_stream(sdk, g_table, NULL, 0, id, secret, o, &err);
    zerobus_stream_options_free(o);
    zerobus_sdk_free(sdk);
    if (EXPECT_OK(s != NULL, err)) {
        test_stream(s);
        err = NULL;
        CHECK(!zerobus_stream_close(s, &err) && zerobus_error_code(err) == ZEROBUS_ERROR_TIMEOUT);
        zerobus_error_free(err);
        CHECK(zerobus_stream_is_closed(s));
        zerobus_stream_free(s);
    }

    printf("null_args: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
