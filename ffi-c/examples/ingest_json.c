/*
 * ingest_json.c: ingest 1,000 JSON records into main.default.events with libzerobus.
 *
 * It reads the server from the variables `zerobus serve` prints (ZEROBUS_ENDPOINT,
 * ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET), sends the records in ten
 * batches of 100 (one zerobus_stream_ingest_json_records call each), flushes, prints what the server
 * acknowledged, then closes and frees everything. See ffi-c/README.md for how to build and run it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zerobus.h"

#define TABLE "main.default.events"
#define RECORDS 1000
#define BATCH 100

static const char *env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "ingest_json: %s is not set (start `zerobus serve` and export what it prints)\n", name);
        exit(2);
    }
    return value;
}

/* Prints a failed call's error and frees it. */
static void report(const char *what, zerobus_error *err) {
    fprintf(stderr, "ingest_json: %s failed: %s: %s\n", what, zerobus_error_code_name(err), zerobus_error_message(err));
    zerobus_error_free(err);
}

int main(void) {
    const char *endpoint = env("ZEROBUS_ENDPOINT"), *workspace = env("ZEROBUS_WORKSPACE_URL");
    const char *client_id = env("ZEROBUS_CLIENT_ID"), *client_secret = env("ZEROBUS_CLIENT_SECRET");
    zerobus_error *err = NULL;
    zerobus_sdk *sdk;
    zerobus_stream_options *options;
    zerobus_stream *stream;
    zerobus_metrics m;
    static char data[BATCH * 64]; /* one batch of records, back to back */
    size_t lengths[BATCH];
    int status = 1, batch;

    sdk = zerobus_sdk_new(endpoint, workspace, &err);
    if (sdk == NULL) {
        report("zerobus_sdk_new", err);
        return 1;
    }
    options = zerobus_stream_options_new();
    if (!zerobus_stream_options_set_record_type(options, ZEROBUS_RECORD_TYPE_JSON, &err)) {
        report("zerobus_stream_options_set_record_type", err);
        zerobus_stream_options_free(options);
        zerobus_sdk_free(sdk);
        return 1;
    }
    /* A JSON stream needs no descriptor. The stream copies what it needs: the SDK and options
     * can be freed as soon as it exists. */
    stream = zerobus_sdk_create_stream(sdk, TABLE, NULL, 0, client_id, client_secret, options, &err);
    zerobus_stream_options_free(options);
    zerobus_sdk_free(sdk);
    if (stream == NULL) {
        report("zerobus_sdk_create_stream", err);
        return 1;
    }

    for (batch = 0; batch < RECORDS / BATCH; batch++) {
        size_t used = 0;
        int64_t offset = -1;
        int i;
        for (i = 0; i < BATCH; i++) {
            int id = batch * BATCH + i;
            int n = snprintf(data + used, sizeof data - used, "{\"id\":%d,\"message\":\"hello %d\"}", id, id);
            if (n < 0 || (size_t)n >= sizeof data - used) {
                fprintf(stderr, "ingest_json: record %d does not fit the buffer\n", id);
                goto close;
            }
            lengths[i] = (size_t)n;
            used += (size_t)n;
        }
        /* One call, one offset for the whole batch. The JSON call says these bytes are text: on a
         * PROTO stream it would fail ZEROBUS_ERROR_INVALID_RECORD instead of sending them as proto.
         * The library copies the bytes: the buffer can be reused as soon as the call returns. */
        if (!zerobus_stream_ingest_json_records(stream, (const uint8_t *)data, used, lengths, BATCH, &offset,
                                                &err)) {
            report("zerobus_stream_ingest_json_records", err);
            goto close;
        }
    }

    if (!zerobus_stream_flush(stream, &err)) {
        report("zerobus_stream_flush", err);
        goto close;
    }
    if (!zerobus_stream_metrics(stream, &m, &err)) {
        report("zerobus_stream_metrics", err);
        goto close;
    }
    /* After a flush nothing is in flight: every record sent (less resends) is acknowledged. */
    printf("acked %" PRIu64 " records in %" PRId64 " calls (last acked offset %" PRId64 ")\n",
           m.records_sent - m.records_resent - m.inflight_records, m.last_acked_offset + 1, m.last_acked_offset);
    status = 0;

close:
    if (!zerobus_stream_close(stream, &err)) {
        report("zerobus_stream_close", err);
        status = 1;
    }
    zerobus_stream_free(stream);
    return status;
}
