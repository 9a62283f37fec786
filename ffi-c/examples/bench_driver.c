/*
 * bench_driver.c: the C ABI's driver for `make bench` (bench/DRIVER.md). One process per run,
 * JSON records, default options, one "RESULT records=N seconds=S" line on stdout.
 *
 *   make c-bench    # links target/release/libzerobus.a → target/c/zerobus-bench-c
 *   target/c/zerobus-bench-c --mode single|nowait|batch [--format json] --size BYTES --records N [--batch B] [--seconds S]
 *
 * single: zerobus_stream_ingest_record; nowait: zerobus_stream_ingest_record_nowait; batch:
 * zerobus_stream_ingest_records (one contiguous buffer + lengths, straight from the pool).
 */
#define _POSIX_C_SOURCE 199309L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zerobus.h"

#define POOL 1000

static const char *USAGE =
    "usage: zerobus-bench-c --mode single|nowait|batch [--format json] --size BYTES --records N [--batch B] [--seconds S] "
    "(env ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET, ZEROBUS_TABLE)";

static int usage(const char *what, const char *value) {
    fprintf(stderr, "zerobus-bench-c: %s%s%s\n%s\n", what, value ? " " : "", value ? value : "", USAGE);
    return 2;
}

static int fail(const char *what, zerobus_error *err) {
    fprintf(stderr, "zerobus-bench-c: %s: %s: %s\n", what, zerobus_error_code_name(err), zerobus_error_message(err));
    zerobus_error_free(err);
    return 1;
}

static int whole(const char *s, unsigned long long *out) {
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9') return 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    enum { SINGLE, NOWAIT, BATCH } mode = SINGLE;
    unsigned long long size = 220, records = 100000, batch = 1000;
    double seconds = 0; /* 0: no cap */
    for (int i = 1; i < argc; i += 2) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) return usage(flag, "needs a value");
        unsigned long long n = 0;
        if (strcmp(flag, "--mode") == 0) {
            if (strcmp(value, "single") == 0) mode = SINGLE;
            else if (strcmp(value, "nowait") == 0) mode = NOWAIT;
            else if (strcmp(value, "batch") == 0) mode = BATCH;
            else return usage("unknown mode", value);
        } else if (strcmp(flag, "--seconds") == 0) {
            char *end;
            seconds = strtod(value, &end);
            if (*end != '\0' || seconds < 0) return usage("--seconds is not a number:", value);
        } else if (strcmp(flag, "--format") == 0) {
            /* JSON only: proto records are for the drivers the runner names in --proto-surfaces. */
            if (strcmp(value, "json") != 0) return usage("this driver takes --format json only, not", value);
        } else if (strcmp(flag, "--max-inflight-requests") == 0) {
            /* Only the published SDK's driver honours it (DRIVER.md). */
        } else if (!whole(value, &n)) {
            return usage(flag, value);
        } else if (strcmp(flag, "--size") == 0) {
            size = n;
        } else if (strcmp(flag, "--records") == 0) {
            records = n;
        } else if (strcmp(flag, "--batch") == 0) {
            batch = n < 1 ? 1 : n;
        } else {
            return usage("unknown option", flag);
        }
    }
    if (size < 20) return usage("--size is below the 20-byte minimum", NULL);
    if (mode == BATCH && POOL % batch != 0) return usage("--batch does not divide the pool of 1000", NULL);
    const char *endpoint = getenv("ZEROBUS_ENDPOINT"), *workspace = getenv("ZEROBUS_WORKSPACE_URL");
    const char *id = getenv("ZEROBUS_CLIENT_ID"), *secret = getenv("ZEROBUS_CLIENT_SECRET");
    const char *table = getenv("ZEROBUS_TABLE");
    if (!endpoint || !workspace || !id || !secret || !table) return usage("a ZEROBUS_* variable is not set", NULL);

    /* The pool, contiguous: record k is {"i":K,"p":"x…x"}, exactly `size` bytes. */
    uint8_t *data = malloc(POOL * size);
    size_t *lengths = malloc(POOL * sizeof(size_t)), *starts = malloc(POOL * sizeof(size_t));
    if (!data || !lengths || !starts) return usage("out of memory", NULL);
    size_t used = 0;
    for (int k = 0; k < POOL; k++) {
        char head[32];
        int h = snprintf(head, sizeof head, "{\"i\":%d,\"p\":\"", k);
        starts[k] = used;
        memcpy(data + used, head, (size_t)h);
        memset(data + used + h, 'x', size - (size_t)h - 2);
        memcpy(data + used + size - 2, "\"}", 2);
        lengths[k] = size;
        used += size;
    }

    zerobus_error *err = NULL;
    zerobus_sdk *sdk = zerobus_sdk_new(endpoint, workspace, &err);
    if (!sdk) return fail("sdk", err);
    zerobus_stream_options *opts = zerobus_stream_options_new();
    if (!zerobus_stream_options_set_record_type(opts, ZEROBUS_RECORD_TYPE_JSON, &err)) return fail("options", err);
    zerobus_stream *stream = zerobus_sdk_create_stream(sdk, table, NULL, 0, id, secret, opts, &err);
    zerobus_stream_options_free(opts);
    if (!stream) return fail("create stream", err);

    double t0 = now();
    unsigned long long done = 0;
    for (unsigned long long j = 0; done < records; j++) {
        if (seconds > 0 && j % 1024 == 0 && now() - t0 >= seconds) break;
        if (mode == BATCH) {
            size_t n = (size_t)(records - done < batch ? records - done : batch);
            size_t q = (size_t)((j * batch) % POOL);
            if (!zerobus_stream_ingest_records(stream, data + starts[q], n * size, lengths + q, n, NULL, &err))
                return fail("ingest records", err);
            done += n;
        } else {
            size_t k = (size_t)(j % POOL);
            int ok = mode == SINGLE ? zerobus_stream_ingest_record(stream, data + starts[k], lengths[k], NULL, &err)
                                    : zerobus_stream_ingest_record_nowait(stream, data + starts[k], lengths[k], &err);
            if (!ok) return fail("ingest record", err);
            done++;
        }
    }
    if (!zerobus_stream_flush(stream, &err)) return fail("flush", err);
    printf("RESULT records=%llu seconds=%.6f\n", done, now() - t0);
    fflush(stdout);
    if (!zerobus_stream_close(stream, &err)) return fail("close", err);
    zerobus_stream_free(stream);
    zerobus_sdk_free(sdk);
    free(data);
    free(lengths);
    free(starts);
    return 0;
}
