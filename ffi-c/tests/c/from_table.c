/*
 * from_table.c: streams created from their table and table schemas, seen from C:
 *   - zerobus_sdk_get_table_schema (OAuth and headers provider): every accessor of the schema
 *     (column names, type texts, nullability, positions, the Unity Catalog JSON, the descriptor,
 *     the .proto), the descriptor fed to zerobus_json_encoder_new, and the failures (a table Unity
 *     Catalog does not know: NOT_FOUND; a wrong secret: UNAUTHENTICATED; a provider without an
 *     authorization header: INVALID_ARGUMENT; a table with no proto2 form or no .proto spelling);
 *   - a PROTO stream created with no descriptor: JSON text through every JSON call (single,
 *     batch, try_, nowait) encoded by the table's columns, a typed error naming the record and the
 *     column path, nothing of a failed call queued, encoded bytes through the byte call, the
 *     stream's schema and id; the same from a headers provider; a table Unity Catalog does not
 *     know (NOT_FOUND) and one with no proto2 form (INVALID_ARGUMENT).
 *
 * Run by ffi-c/tests/from_table.rs against a mock server declaring the tables below; the Rust
 * side then checks what the server received, record by record:
 *   from_table ENDPOINT WORKSPACE_URL CLIENT_ID CLIENT_SECRET
 * Exits 0 when every check passed; prints each failed check to stderr.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zerobus.h"

/* The tables from_table.rs declares. */
static const char AIR[] = "main.default.air_quality"; /* (device_name STRING NOT NULL, temp INT,
                                                          humidity BIGINT, at TIMESTAMP,
                                                          tags ARRAY<STRING>,
                                                          loc STRUCT<lat: DOUBLE, lon: DOUBLE>) */
static const char NESTED[] = "main.default.nested";   /* (id INT, m ARRAY<ARRAY<INT>>) */
static const char ODD[] = "main.default.odd";         /* (id INT, `my col` STRING) */
static const char UNDECLARED[] = "main.default.events"; /* a table without declared columns */

static int checks;
static int failures;

static void check_at(int line, bool ok, const char *what) {
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "FAIL from_table.c:%d: %s\n", line, what);
    }
}

#define CHECK(cond) check_at(__LINE__, (cond), #cond)

/* Checks a failed call's error: `code` and a message holding each of `fragments` (NULL-ended).
 * Frees the error. */
static void check_error(int line, const char *call, bool call_failed, zerobus_error *err, int32_t code,
                        const char *const *fragments) {
    char what[1024];
    const char *message = zerobus_error_message(err);
    snprintf(what, sizeof what, "%s fails", call);
    check_at(line, call_failed, what);
    snprintf(what, sizeof what, "%s: code %s (%d), expected %d: %s", call, zerobus_error_code_name(err),
             (int)zerobus_error_code(err), (int)code, message);
    check_at(line, err != NULL && zerobus_error_code(err) == code, what);
    for (; fragments != NULL && *fragments != NULL; fragments++) {
        snprintf(what, sizeof what, "%s: message \"%s\" says \"%s\"", call, message, *fragments);
        check_at(line, strstr(message, *fragments) != NULL, what);
    }
    zerobus_error_free(err);
}

/* `failed_expr` is a call written with ERRP as its error argument and compared to its failure
 * value; the remaining arguments are the fragments the message must hold. */
#define EXPECT_ERROR(code, failed_expr, ...)                                                       \
    do {                                                                                           \
        static const char *const fragments_[] = {__VA_ARGS__, NULL};                              \
        zerobus_error *err_slot_ = NULL;                                                           \
        zerobus_error **ERRP = &err_slot_;                                                         \
        bool failed_ = (failed_expr);                                                              \
        check_error(__LINE__, #failed_expr, failed_, err_slot_, (code), fragments_);               \
    } while (0)

/* A call expected to succeed. `*errp` is read after the call, and reported and freed if set. */
static bool succeeded(int line, const char *call, bool ok, zerobus_error **errp) {
    char what[1024];
    zerobus_error *err = *errp;
    snprintf(what, sizeof what, "%s succeeds (%s: %s)", call, err != NULL ? zerobus_error_code_name(err) : "-",
             err != NULL ? zerobus_error_message(err) : "-");
    check_at(line, ok && err == NULL, what);
    zerobus_error_free(err);
    *errp = NULL;
    return ok;
}

#define EXPECT_OK(ok_expr) succeeded(__LINE__, #ok_expr, (ok_expr), &err)

static bool str_is(const char *got, const char *want) {
    return got != NULL && strcmp(got, want) == 0;
}

static const char *g_endpoint, *g_workspace, *g_id, *g_secret;
static zerobus_sdk *g_sdk;

/* Headers providers: `static_headers` hands out the mock's static token for the table in
 * *user_data; `no_auth_headers` leaves the authorization header out. */
static int g_releases;
static void count_release(void *user_data) {
    (void)user_data;
    g_releases++;
}

static int32_t static_headers(void *user_data, zerobus_headers *headers) {
    zerobus_headers_add(headers, "authorization", "Bearer zerobus-dev-static-token");
    zerobus_headers_add(headers, "x-databricks-zerobus-table-name", (const char *)user_data);
    return ZEROBUS_OK;
}

static int32_t no_auth_headers(void *user_data, zerobus_headers *headers) {
    zerobus_headers_add(headers, "x-databricks-zerobus-table-name", (const char *)user_data);
    return ZEROBUS_OK;
}

static int32_t failing_headers(void *user_data, zerobus_headers *headers) {
    (void)user_data;
    zerobus_headers_set_error(headers, "no credentials in the vault");
    return ZEROBUS_ERROR_UNAUTHENTICATED;
}

/* ---------------------------------------------------------------- schemas ---- */

static void check_air_columns(const zerobus_table_schema *s) {
    static const char *const names[] = {"device_name", "temp", "humidity", "at", "tags", "loc"};
    static const char *const types[] = {"string",    "int",           "bigint",
                                        "timestamp", "array<string>", "struct<lat:double,lon:double>"};
    size_t i;
    CHECK(zerobus_table_schema_column_count(s) == 6);
    for (i = 0; i < 6; i++) {
        char what[256];
        snprintf(what, sizeof what, "column %zu is %s %s", i, names[i], types[i]);
        check_at(__LINE__, str_is(zerobus_table_schema_column_name(s, i), names[i]), what);
        check_at(__LINE__, str_is(zerobus_table_schema_column_type(s, i), types[i]), what);
        check_at(__LINE__, zerobus_table_schema_column_position(s, i) == (int64_t)i, what);
        check_at(__LINE__, zerobus_table_schema_column_nullable(s, i) == (i != 0), what);
    }
    /* Out of range: the documented defaults. */
    CHECK(zerobus_table_schema_column_name(s, 6) == NULL);
    CHECK(zerobus_table_schema_column_type(s, 6) == NULL);
    CHECK(!zerobus_table_schema_column_nullable(s, 6));
    CHECK(zerobus_table_schema_column_position(s, 6) == -1);
}

static void test_get_table_schema(void) {
    zerobus_error *err = NULL;
    zerobus_table_schema *s;
    const uint8_t *descriptor;
    const char *text;
    size_t len = 0;
    int before;

    s = zerobus_sdk_get_table_schema(g_sdk, AIR, g_id, g_secret, &err);
    if (!EXPECT_OK(s != NULL)) return;
    check_air_columns(s);
    text = zerobus_table_schema_json(s);
    CHECK(strstr(text, "\"full_name\":\"main.default.air_quality\"") != NULL);
    CHECK(strstr(text, "\"type_text\":\"struct<lat:double,lon:double>\"") != NULL);
    CHECK(strstr(text, "\"type_name\":\"LONG\"") != NULL);
    descriptor = zerobus_table_schema_descriptor(s, &len, &err);
    if (EXPECT_OK(descriptor != NULL)) {
        /* A DescriptorProto starts with its name (field 1): the table's name. */
        CHECK(len > 20 && descriptor[0] == 0x0a && descriptor[1] == 11 && memcmp(descriptor + 2, "air_quality", 11) == 0);
        /* The descriptor is one the generic encoder takes: the bytes of a record it encodes are
         * what the byte calls carry (the same record is checked against the typed encoder's
         * bytes on the Rust side). */
        {
            zerobus_json_encoder *enc = zerobus_json_encoder_new(descriptor, len, &err);
            if (EXPECT_OK(enc != NULL)) {
                static const char rec[] = "{\"device_name\":\"sensor-9\",\"temp\":9}";
                zerobus_buffer *b = zerobus_json_encoder_encode(enc, rec, sizeof rec - 1, &err);
                if (EXPECT_OK(b != NULL)) {
                    static const uint8_t want[] = {0x0a, 0x08, 's', 'e', 'n', 's', 'o', 'r', '-', '9', 0x10, 0x09};
                    CHECK(zerobus_buffer_len(b) == sizeof want &&
                          memcmp(zerobus_buffer_data(b), want, sizeof want) == 0);
                }
                zerobus_buffer_free(b);
            }
            zerobus_json_encoder_free(enc);
        }
    }
    text = zerobus_table_schema_proto_file(s, &err);
    if (EXPECT_OK(text != NULL)) {
        CHECK(strstr(text, "syntax = \"proto2\";") != NULL);
        CHECK(strstr(text, "message air_quality {") != NULL);
        CHECK(strstr(text, "required string device_name = 1;") != NULL);
        CHECK(strstr(text, "repeated string tags = 5;") != NULL);
    }
    /* The same pointers again: owned by the schema, stable until it is freed. */
    CHECK(zerobus_table_schema_proto_file(s, NULL) == text);
    CHECK(zerobus_table_schema_descriptor(s, &len, NULL) == descriptor);
    zerobus_table_schema_free(s);

    /* Failures. */
    EXPECT_ERROR(ZEROBUS_ERROR_NOT_FOUND, zerobus_sdk_get_table_schema(g_sdk, UNDECLARED, g_id, g_secret, ERRP) == NULL,
                 "main.default.events", "404");
    EXPECT_ERROR(ZEROBUS_ERROR_UNAUTHENTICATED, zerobus_sdk_get_table_schema(g_sdk, AIR, g_id, "wrong", ERRP) == NULL,
                 "check the client id and secret");
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, zerobus_sdk_get_table_schema(g_sdk, "nope", g_id, g_secret, ERRP) == NULL,
                 "nope");

    /* A table with no proto2 form: read, described, but no descriptor and no .proto. */
    s = zerobus_sdk_get_table_schema(g_sdk, NESTED, g_id, g_secret, &err);
    if (EXPECT_OK(s != NULL)) {
        CHECK(zerobus_table_schema_column_count(s) == 2);
        CHECK(str_is(zerobus_table_schema_column_type(s, 1), "array<array<int>>"));
        len = 4711;
        EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, zerobus_table_schema_descriptor(s, &len, ERRP) == NULL,
                     "column m", "ARRAY<ARRAY<INT>>", "no proto2 form");
        CHECK(len == 4711);
        EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, zerobus_table_schema_proto_file(s, ERRP) == NULL, "column m");
    }
    zerobus_table_schema_free(s);

    /* A column name that is not a proto identifier: a descriptor, but no .proto spelling. */
    s = zerobus_sdk_get_table_schema(g_sdk, ODD, g_id, g_secret, &err);
    if (EXPECT_OK(s != NULL)) {
        CHECK(str_is(zerobus_table_schema_column_name(s, 1), "my col"));
        CHECK(zerobus_table_schema_descriptor(s, &len, NULL) != NULL && len > 0);
        EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, zerobus_table_schema_proto_file(s, ERRP) == NULL,
                     "\"my col\"", "not a proto identifier");
    }
    zerobus_table_schema_free(s);

    /* Headers providers: the authorization header reads the schema; user_data is released once
     * before the call returns, whatever the result. */
    before = g_releases;
    s = zerobus_sdk_get_table_schema_with_headers_provider(g_sdk, AIR, static_headers, (void *)AIR, count_release,
                                                           &err);
    if (EXPECT_OK(s != NULL)) check_air_columns(s);
    zerobus_table_schema_free(s);
    CHECK(g_releases == before + 1);
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT,
                 zerobus_sdk_get_table_schema_with_headers_provider(g_sdk, AIR, no_auth_headers, (void *)AIR,
                                                                    count_release, ERRP) == NULL,
                 "authorization");
    EXPECT_ERROR(ZEROBUS_ERROR_UNAUTHENTICATED,
                 zerobus_sdk_get_table_schema_with_headers_provider(g_sdk, AIR, failing_headers, NULL, count_release,
                                                                    ERRP) == NULL,
                 "no credentials in the vault");
    EXPECT_ERROR(ZEROBUS_ERROR_NOT_FOUND,
                 zerobus_sdk_get_table_schema_with_headers_provider(g_sdk, UNDECLARED, static_headers,
                                                                    (void *)UNDECLARED, count_release, ERRP) == NULL,
                 "404");
    CHECK(g_releases == before + 4);
}

/* ---------------------------------------------------------------- streams ---- */

/* Records the stream takes, in the order from_table.rs expects them on the server. */
static const char R0[] = "{\"device_name\":\"sensor-1\",\"temp\":21,\"humidity\":40,\"at\":\"2026-01-02T03:04:05Z\","
                         "\"tags\":[\"a\",\"b\"],\"loc\":{\"lat\":52.5,\"lon\":13.4}}";
static const char R1R2[] = "{\"device_name\":\"sensor-2\",\"temp\":-3}{\"device_name\":\"sensor-3\",\"at\":1700000000000000}";
static const char R3[] = "{\"device_name\":\"sensor-4\",\"loc\":null}";
static const char R4[] = "{\"device_name\":\"sensor-5\",\"humidity\":\"9007199254740993\"}";
static const char R5R6[] = "{\"device_name\":\"sensor-6\"}{\"device_name\":\"sensor-7\",\"tags\":[]}";
static const char R7[] = "{\"device_name\":\"sensor-8\",\"temp\":2147483647}";
/* R8 is {"device_name":"sensor-9","temp":9}, encoded by zerobus_json_encoder_encode. */
static const char R9[] = "{\"device_name\":\"from-a-provider\"}";

static zerobus_stream *from_table(const char *table, zerobus_error **err) {
    zerobus_stream_options *o = zerobus_stream_options_new();
    zerobus_stream *s;
    /* PROTO is the default record type; set it anyway, as a program would. */
    zerobus_stream_options_set_record_type(o, ZEROBUS_RECORD_TYPE_PROTO, NULL);
    zerobus_stream_options_set_recovery_retries(o, 1, NULL);
    s = zerobus_sdk_create_stream(g_sdk, table, NULL, 0, g_id, g_secret, o, err);
    zerobus_stream_options_free(o);
    return s;
}

static void test_stream_from_table(void) {
    zerobus_error *err = NULL;
    zerobus_stream *s;
    zerobus_table_schema *schema;
    zerobus_metrics m;
    int64_t offset = 99;
    char id[256];
    size_t n;
    const uint8_t *r1r2 = (const uint8_t *)R1R2, *r5r6 = (const uint8_t *)R5R6;
    size_t l12[2], l56[2];
    l12[0] = (size_t)(strchr(R1R2, '}') - R1R2) + 1;
    l12[1] = strlen(R1R2) - l12[0];
    l56[0] = (size_t)(strchr(R5R6, '}') - R5R6) + 1;
    l56[1] = strlen(R5R6) - l56[0];

    s = from_table(AIR, &err);
    if (!EXPECT_OK(s != NULL)) return;

    /* Its schema, its id. */
    schema = zerobus_stream_table_schema(s, &err);
    if (EXPECT_OK(schema != NULL)) check_air_columns(schema);
    zerobus_table_schema_free(schema);
    n = zerobus_stream_id(s, id, sizeof id);
    CHECK(n > 0 && n < sizeof id && strlen(id) == n);
    CHECK(zerobus_stream_id(s, NULL, 0) == n);
    {
        char small[4] = {'x', 'x', 'x', 'x'};
        CHECK(zerobus_stream_id(s, small, sizeof small) == n);
        CHECK(small[3] == '\0' && memcmp(small, id, 3) == 0);
    }

    /* Every JSON call, encoded by the table's columns. */
    EXPECT_OK(zerobus_stream_ingest_json_record(s, (const uint8_t *)R0, strlen(R0), &offset, &err));
    CHECK(offset == 0);
    EXPECT_OK(zerobus_stream_ingest_json_records(s, r1r2, strlen(R1R2), l12, 2, &offset, &err));
    CHECK(offset == 1);
    EXPECT_OK(zerobus_stream_try_ingest_json_record(s, (const uint8_t *)R3, strlen(R3), &offset, &err));
    CHECK(offset == 2);
    EXPECT_OK(zerobus_stream_ingest_json_record_nowait(s, (const uint8_t *)R4, strlen(R4), &err));
    EXPECT_OK(zerobus_stream_try_ingest_json_records(s, r5r6, strlen(R5R6), l56, 2, &offset, &err));
    CHECK(offset == 4);
    EXPECT_OK(zerobus_stream_ingest_json_records_nowait(s, (const uint8_t *)R7, strlen(R7), (size_t[]){strlen(R7)}, 1,
                                                        &err));

    /* Typed errors: the record's index in the call and the column path; nothing queued. */
    offset = 99;
    {
        static const char bad2[] = "{\"device_name\":\"x\"}{\"device_name\":\"y\",\"loc\":{\"lat\":\"north\"}}";
        size_t lens[2] = {19, sizeof bad2 - 1 - 19};
        EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD,
                     !zerobus_stream_ingest_json_records(s, (const uint8_t *)bad2, sizeof bad2 - 1, lens, 2, &offset,
                                                         ERRP),
                     "record 1 of the batch", "main.default.air_quality", "loc.lat: expected DOUBLE, got string \"north\"");
        EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD,
                     !zerobus_stream_try_ingest_json_records(s, (const uint8_t *)bad2, sizeof bad2 - 1, lens, 2,
                                                             &offset, ERRP),
                     "record 1 of the batch", "loc.lat");
        EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD,
                     !zerobus_stream_ingest_json_records_nowait(s, (const uint8_t *)bad2, sizeof bad2 - 1, lens, 2,
                                                                ERRP),
                     "record 1 of the batch", "loc.lat");
    }
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD,
                 !zerobus_stream_ingest_json_record(s, (const uint8_t *)"{\"temp\":1}", 10, &offset, ERRP),
                 "device_name");
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD,
                 !zerobus_stream_try_ingest_json_record(s, (const uint8_t *)"{\"device_name\":\"z\",\"color\":1}", 29,
                                                        &offset, ERRP),
                 "color");
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_RECORD,
                 !zerobus_stream_ingest_json_record_nowait(s, (const uint8_t *)"{\"device_name\":\"z\",\"temp\":1.5}", 30,
                                                           ERRP),
                 "temp");
    CHECK(offset == 99);
    CHECK(!zerobus_stream_is_closed(s));

    /* The byte calls still take encoded proto messages (R8, from the schema's descriptor). */
    schema = zerobus_sdk_get_table_schema(g_sdk, AIR, g_id, g_secret, &err);
    if (EXPECT_OK(schema != NULL)) {
        size_t len = 0;
        const uint8_t *d = zerobus_table_schema_descriptor(schema, &len, &err);
        zerobus_json_encoder *enc = d != NULL ? zerobus_json_encoder_new(d, len, &err) : NULL;
        zerobus_buffer *b =
            enc != NULL ? zerobus_json_encoder_encode(enc, "{\"device_name\":\"sensor-9\",\"temp\":9}", 35, &err) : NULL;
        if (EXPECT_OK(b != NULL)) {
            EXPECT_OK(zerobus_stream_ingest_record(s, zerobus_buffer_data(b), zerobus_buffer_len(b), &offset, &err));
            CHECK(offset == 6);
        }
        zerobus_buffer_free(b);
        zerobus_json_encoder_free(enc);
    }
    zerobus_table_schema_free(schema);

    EXPECT_OK(zerobus_stream_flush(s, &err));
    if (EXPECT_OK(zerobus_stream_metrics(s, &m, &err))) {
        CHECK(m.last_acked_offset == 6 && m.records_sent == 9 && m.inflight_requests == 0);
    }
    EXPECT_OK(zerobus_stream_close(s, &err));
    zerobus_stream_free(s);

    /* From a headers provider: the provider's authorization header reads the schema. */
    {
        zerobus_stream_options *o = zerobus_stream_options_new();
        int before = g_releases;
        s = zerobus_sdk_create_stream_with_headers_provider(g_sdk, AIR, NULL, 0, static_headers, (void *)AIR,
                                                            count_release, o, &err);
        if (EXPECT_OK(s != NULL)) {
            schema = zerobus_stream_table_schema(s, &err);
            if (EXPECT_OK(schema != NULL)) CHECK(zerobus_table_schema_column_count(schema) == 6);
            zerobus_table_schema_free(schema);
            EXPECT_OK(zerobus_stream_ingest_json_record(s, (const uint8_t *)R9, strlen(R9), &offset, &err));
            CHECK(offset == 0);
            EXPECT_OK(zerobus_stream_close(s, &err));
        }
        zerobus_stream_free(s);
        CHECK(g_releases == before + 1);
        EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT,
                     zerobus_sdk_create_stream_with_headers_provider(g_sdk, AIR, NULL, 0, no_auth_headers, (void *)AIR,
                                                                     count_release, o, ERRP) == NULL,
                     "authorization");
        zerobus_stream_options_free(o);
    }

    /* Tables it cannot be made from. */
    EXPECT_ERROR(ZEROBUS_ERROR_NOT_FOUND, from_table(UNDECLARED, ERRP) == NULL, "main.default.events", "404");
    EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, from_table(NESTED, ERRP) == NULL, "column m", "no proto2 form");

    /* A stream given a descriptor, and a JSON stream, were not made from their table. */
    {
        zerobus_stream_options *json = zerobus_stream_options_new();
        zerobus_stream_options_set_record_type(json, ZEROBUS_RECORD_TYPE_JSON, NULL);
        s = zerobus_sdk_create_stream(g_sdk, UNDECLARED, NULL, 0, g_id, g_secret, json, &err);
        if (EXPECT_OK(s != NULL)) {
            EXPECT_ERROR(ZEROBUS_ERROR_INVALID_ARGUMENT, zerobus_stream_table_schema(s, ERRP) == NULL,
                         "not created from its table");
            EXPECT_OK(zerobus_stream_close(s, &err));
        }
        zerobus_stream_free(s);
        zerobus_stream_options_free(json);
    }
}

int main(int argc, char **argv) {
    zerobus_error *err = NULL;
    if (argc != 5) {
        fprintf(stderr, "usage: %s ENDPOINT WORKSPACE_URL CLIENT_ID CLIENT_SECRET\n", argv[0]);
        return 2;
    }
    g_endpoint = argv[1];
    g_workspace = argv[2];
    g_id = argv[3];
    g_secret = argv[4];
    g_sdk = zerobus_sdk_new(g_endpoint, g_workspace, &err);
    if (!EXPECT_OK(g_sdk != NULL)) return 1;

    test_get_table_schema();
    test_stream_from_table();

    zerobus_sdk_free(g_sdk);
    printf("from_table: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
