/*
 * throughput.c: records/s through the C ABI against a running `zerobus serve`, for the batch
 * call (one zerobus_stream_ingest_records per batch) and the single-record call.
 *
 *   eval "$(zerobus serve ... )"   # or export the ZEROBUS_* variables it prints
 *   ./throughput RECORDS RECORD_SIZE BATCH      (BATCH 1 = single-record calls)
 *
 * Prints one line: "c batch=B records=N seconds=S records_per_s=R".
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zerobus.h"

static int fail(const char *what, zerobus_error *err) {
    fprintf(stderr, "%s: %s: %s\n", what, zerobus_error_code_name(err), zerobus_error_message(err));
    zerobus_error_free(err);
    return 1;
}

static size_t make_record(char *out, size_t size, long seq) {
    int head = snprintf(out, size + 1, "{\"seq\":%ld,\"pad\":\"", seq);
    size_t n = (size_t)head;
    while (n + 2 < size) out[n++] = 'x';
    out[n++] = '"';
    out[n++] = '}';
    return n;
}

int main(int argc, char **argv) {
    long records = argc > 1 ? atol(argv[1]) : 1000000;
    size_t size = argc > 2 ? (size_t)atol(argv[2]) : 220;
    long batch = argc > 3 ? atol(argv[3]) : 1000;
    const char *endpoint = getenv("ZEROBUS_ENDPOINT"), *workspace = getenv("ZEROBUS_WORKSPACE_URL");
    const char *id = getenv("ZEROBUS_CLIENT_ID"), *secret = getenv("ZEROBUS_CLIENT_SECRET");
    if (!endpoint || !workspace || !id || !secret || batch < 1 || size < 32) {
        fprintf(stderr, "usage: set ZEROBUS_* from `zerobus serve`; throughput RECORDS SIZE BATCH\n");
        return 2;
    }
    zerobus_error *err = NULL;
    zerobus_sdk *sdk = zerobus_sdk_new(endpoint, workspace, &err);
    if (!sdk) return fail("sdk", err);
    zerobus_stream_options *opts = zerobus_stream_options_new();
    zerobus_stream_options_set_record_type(opts, ZEROBUS_RECORD_TYPE_JSON, NULL);
    zerobus_stream *stream = zerobus_sdk_create_stream(sdk, "main.default.events", NULL, 0, id, secret, opts, &err);
    zerobus_stream_options_free(opts);
    if (!stream) return fail("create", err);

    char *buf = malloc((size_t)batch * (size + 1));
    size_t *lengths = malloc((size_t)batch * sizeof(size_t));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < records; i += batch) {
        long n = records - i < batch ? records - i : batch;
        size_t used = 0;
        for (long j = 0; j < n; j++) {
            lengths[j] = make_record(buf + used, size, i + j);
            used += lengths[j];
        }
        int ok = batch == 1 ? zerobus_stream_ingest_record(stream, (const uint8_t *)buf, lengths[0], NULL, &err)
                            : zerobus_stream_ingest_records(stream, (const uint8_t *)buf, used, lengths, (size_t)n, NULL, &err);
        if (!ok) return fail("ingest", err);
    }
    if (!zerobus_stream_flush(stream, &err)) return fail("flush", err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("c batch=%ld records=%ld seconds=%.3f records_per_s=%.0f\n", batch, records, secs, records / secs);
    if (!zerobus_stream_close(stream, &err)) return fail("close", err);
    zerobus_stream_free(stream);
    zerobus_sdk_free(sdk);
    free(buf);
    free(lengths);
    return 0;
}
