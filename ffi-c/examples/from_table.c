/*
 * from_table.c: ingest typed records into main.default.air_quality from JSON text, with no .proto
 * and no descriptor: the stream is created "from the table".
 *
 * It reads the server from the variables `zerobus serve` prints (ZEROBUS_ENDPOINT,
 * ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET), prints the table's columns
 * (zerobus_sdk_get_table_schema), opens a PROTO stream with no descriptor (the library reads the
 * table's schema and encodes JSON text by its columns), ingests one record and a batch of two,
 * shows the error a record of the wrong type gets, flushes, closes and frees everything. See
 * ffi-c/README.md for how to build and run it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zerobus.h"

#define TABLE "main.default.air_quality"

static const char *env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "from_table: %s is not set (start `zerobus serve` and export what it prints)\n", name);
        exit(2);
    }
    return value;
}

/* Prints a failed call's error and frees it. */
static void report(const char *what, zerobus_error *err) {
    fprintf(stderr, "from_table: %s failed: %s: %s\n", what, zerobus_error_code_name(err), zerobus_error_message(err));
    zerobus_error_free(err);
}

int main(void) {
    const char *endpoint = env("ZEROBUS_ENDPOINT"), *workspace = env("ZEROBUS_WORKSPACE_URL");
    const char *client_id = env("ZEROBUS_CLIENT_ID"), *client_secret = env("ZEROBUS_CLIENT_SECRET");
    static const char one[] = "{\"device_name\":\"sensor-1\",\"temp\":21,\"at\":\"2026-01-02T03:04:05Z\","
                              "\"tags\":[\"roof\"],\"loc\":{\"lat\":52.52,\"lon\":13.40}}";
    static const char two[] = "{\"device_name\":\"sensor-2\",\"humidity\":40}" /* 40 bytes */
                              "{\"device_name\":\"sensor-3\",\"at\":1767323045000000}";
    static const char wrong[] = "{\"device_name\":\"sensor-4\",\"loc\":{\"lat\":\"north\"}}";
    size_t lengths[2] = {40, sizeof two - 1 - 40};
    zerobus_error *err = NULL;
    zerobus_sdk *sdk;
    zerobus_table_schema *schema;
    zerobus_stream *stream;
    zerobus_metrics m;
    int64_t offset = -1;
    size_t i;
    int status = 1;

    sdk = zerobus_sdk_new(endpoint, workspace, &err);
    if (sdk == NULL) {
        report("zerobus_sdk_new", err);
        return 1;
    }

    /* The table's columns, as Unity Catalog describes them. The strings belong to the schema. */
    schema = zerobus_sdk_get_table_schema(sdk, TABLE, client_id, client_secret, &err);
    if (schema == NULL) {
        report("zerobus_sdk_get_table_schema", err);
        zerobus_sdk_free(sdk);
        return 1;
    }
    for (i = 0; i < zerobus_table_schema_column_count(schema); i++) {
        printf("column %" PRId64 ": %s %s%s\n", zerobus_table_schema_column_position(schema, i),
               zerobus_table_schema_column_name(schema, i), zerobus_table_schema_column_type(schema, i),
               zerobus_table_schema_column_nullable(schema, i) ? "" : " not null");
    }
    zerobus_table_schema_free(schema);

    /* NULL options: a PROTO stream. No descriptor (NULL, 0): from the table. */
    stream = zerobus_sdk_create_stream(sdk, TABLE, NULL, 0, client_id, client_secret, NULL, &err);
    zerobus_sdk_free(sdk);
    if (stream == NULL) {
        report("zerobus_sdk_create_stream", err);
        return 1;
    }

    /* JSON text, encoded to the table's proto record in the library: one record, one batch. */
    if (!zerobus_stream_ingest_json_record(stream, (const uint8_t *)one, sizeof one - 1, &offset, &err)) {
        report("zerobus_stream_ingest_json_record", err);
        goto close;
    }
    if (!zerobus_stream_ingest_json_records(stream, (const uint8_t *)two, sizeof two - 1, lengths, 2, &offset, &err)) {
        report("zerobus_stream_ingest_json_records", err);
        goto close;
    }
    /* A record that does not fit the columns fails its call only, naming the column. */
    if (!zerobus_stream_ingest_json_record(stream, (const uint8_t *)wrong, sizeof wrong - 1, NULL, &err)) {
        printf("rejected: %s: %s\n", zerobus_error_code_name(err), zerobus_error_message(err));
        zerobus_error_free(err);
        err = NULL;
    }
    if (!zerobus_stream_flush(stream, &err)) {
        report("zerobus_stream_flush", err);
        goto close;
    }
    if (zerobus_stream_metrics(stream, &m, &err)) {
        printf("acked %" PRIu64 " records in %" PRId64 " calls\n", m.records_sent, m.last_acked_offset + 1);
        status = 0;
    } else {
        report("zerobus_stream_metrics", err);
    }

close:
    err = NULL;
    if (!zerobus_stream_close(stream, &err)) {
        report("zerobus_stream_close", err);
        status = 1;
    }
    zerobus_stream_free(stream);
    return status;
}
