/*
 * bench_driver.c: the C ABI's driver for `make bench` (bench/DRIVER.md). One process per run,
 * JSON records, default options, one "RESULT records=N seconds=S" line on stdout.
 *
 *   make c-bench    # links target/release/libzerobus.a → target/c/zerobus-bench-c
 *   target/c/zerobus-bench-c --mode single|nowait|batch [--format json|taxi|taxi-typed|taxi-arrow] --size BYTES --records N [--batch B]
 *                            [--seconds S] [--pool DIR]
 *
 * single: zerobus_stream_ingest_record; nowait: zerobus_stream_ingest_record_nowait; batch:
 * zerobus_stream_ingest_records (one contiguous buffer + lengths, straight from the pool).
 * --format taxi-arrow (batch only): the taxi pool directory's DIR/0.arrows, DIR/1.arrows, … (each
 * an Arrow IPC stream of one batch of --batch rows) read into memory, an Arrow stream opened with
 * the schema of 0.arrows, and call j passing file j % K's bytes as they are to
 * zerobus_arrow_stream_ingest_ipc_nocopy (the pool outlives the stream, so nothing is copied and
 * no release callback is needed). --records must be a multiple of --batch there (no IPC slicing).
 * --format taxi / taxi-typed (batch only): DIR/rows.jsonl read into one buffer plus lengths (record
 * k is line k % R), call j passing records (j * B) % R .. +B to zerobus_stream_ingest_records on a
 * JSON stream / zerobus_stream_ingest_json_records on a PROTO stream created from the table (no
 * descriptor: the library reads the table's schema and encodes the JSON text by its columns).
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
    "usage: zerobus-bench-c --mode single|nowait|batch [--format json|taxi|taxi-typed|taxi-arrow] --size BYTES --records N [--batch B] "
    "[--seconds S] [--pool DIR] "
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

/* The taxi pool: each DIR/k.arrows file's bytes, one IPC stream of one batch. */
typedef struct {
    uint8_t **data;
    size_t *len;
    size_t count;
} arrow_pool;

static void arrow_pool_free(arrow_pool *p) {
    for (size_t k = 0; k < p->count; k++) free(p->data[k]);
    free(p->data);
    free(p->len);
}

/* Reads `path` whole into *out / *out_len. 1: read; 0: no such file; -1: error (on stderr). */
static int read_file(const char *path, uint8_t **out, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        fprintf(stderr, "zerobus-bench-c: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 20, used = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        used += fread(buf + used, 1, cap - used, f);
        if (used < cap) break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "zerobus-bench-c: %s: %s\n", path, buf ? "read error" : "out of memory");
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = used;
    return 1;
}

/* DIR/0.arrows, DIR/1.arrows, … until the next number is missing. 0 on success. */
static int arrow_pool_read(const char *dir, arrow_pool *p) {
    for (size_t k = 0;; k++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%zu.arrows", dir, k) >= (int)sizeof path) {
            fprintf(stderr, "zerobus-bench-c: --pool %s: path too long\n", dir);
            return -1;
        }
        uint8_t *bytes = NULL;
        size_t len = 0;
        int got = read_file(path, &bytes, &len);
        if (got < 0) return -1;
        if (got == 0) break;
        uint8_t **data = realloc(p->data, (k + 1) * sizeof *data);
        if (data) p->data = data;
        size_t *lens = data ? realloc(p->len, (k + 1) * sizeof *lens) : NULL;
        if (lens) p->len = lens;
        if (!data || !lens) {
            free(bytes);
            fprintf(stderr, "zerobus-bench-c: out of memory\n");
            return -1;
        }
        p->data[k] = bytes;
        p->len[k] = len;
        p->count = k + 1;
    }
    if (p->count == 0) {
        fprintf(stderr, "zerobus-bench-c: --pool %s: no 0.arrows\n", dir);
        return -1;
    }
    return 0;
}

/* The taxi rows: DIR/rows.jsonl's R lines without their newlines back to back in `data`, twice
 * over; record k (k < 2R) is `len[k]` bytes at `start[k]`, so that records q .. q+n of a call
 * (q < R, n <= R) are one contiguous run. */
typedef struct {
    uint8_t *data;
    size_t *len, *start;
    size_t rows;
} json_pool;

static void json_pool_free(json_pool *p) {
    free(p->data);
    free(p->len);
    free(p->start);
}

/* 0 on success, -1 on error (on stderr). */
static int json_pool_read(const char *dir, json_pool *p) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/rows.jsonl", dir) >= (int)sizeof path) {
        fprintf(stderr, "zerobus-bench-c: --pool %s: path too long\n", dir);
        return -1;
    }
    uint8_t *text = NULL;
    size_t len = 0;
    int got = read_file(path, &text, &len);
    if (got <= 0) {
        if (got == 0) fprintf(stderr, "zerobus-bench-c: %s: no such file\n", path);
        return -1;
    }
    if (len == 0) {
        fprintf(stderr, "zerobus-bench-c: %s is empty\n", path);
        free(text);
        return -1;
    }
    size_t rows = text[len - 1] == '\n' ? 0 : 1;
    for (size_t i = 0; i < len; i++) rows += text[i] == '\n';
    p->data = malloc(2 * len);
    p->len = malloc(2 * rows * sizeof *p->len);
    p->start = malloc((2 * rows + 1) * sizeof *p->start);
    if (!p->data || !p->len || !p->start) {
        fprintf(stderr, "zerobus-bench-c: out of memory\n");
        free(text);
        return -1;
    }
    size_t used = 0, k = 0, line = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n') continue;
        if (i == len && line == len) break; /* after the last newline: no row */
        p->start[k] = used;
        p->len[k] = i - line;
        memcpy(p->data + used, text + line, i - line);
        used += i - line;
        k++;
        line = i + 1;
    }
    free(text);
    memcpy(p->data + used, p->data, used);
    for (k = 0; k < rows; k++) {
        p->len[rows + k] = p->len[k];
        p->start[rows + k] = p->start[k] + used;
    }
    p->start[2 * rows] = 2 * used;
    p->rows = rows;
    return 0;
}

/* --format taxi (typed = 0: a JSON stream, zerobus_stream_ingest_records) and taxi-typed (typed =
 * 1: a PROTO stream created from the table, zerobus_stream_ingest_json_records); the rows are read
 * before the stream is created and the clock starts. */
static int run_taxi(const zerobus_sdk *sdk, const char *table, const char *id, const char *secret, const char *dir,
                    int typed, unsigned long long records, unsigned long long batch, double seconds) {
    json_pool pool = {NULL, NULL, NULL, 0};
    zerobus_error *err = NULL;
    zerobus_stream *stream = NULL;
    zerobus_stream_options *opts = NULL;
    double t0;
    unsigned long long done = 0;
    int rc = 1;
    if (json_pool_read(dir, &pool) != 0) goto out;
    if (batch > pool.rows) {
        fprintf(stderr, "zerobus-bench-c: --batch %llu is above the pool's %zu rows\n", batch, pool.rows);
        rc = 2;
        goto out;
    }
    opts = zerobus_stream_options_new();
    /* PROTO and no descriptor: the stream is created from the table. */
    if (!zerobus_stream_options_set_record_type(opts, typed ? ZEROBUS_RECORD_TYPE_PROTO : ZEROBUS_RECORD_TYPE_JSON,
                                                &err)) {
        rc = fail("options", err);
        goto out;
    }
    stream = zerobus_sdk_create_stream(sdk, table, NULL, 0, id, secret, opts, &err);
    if (!stream) {
        rc = fail("create stream", err);
        goto out;
    }
    t0 = now();
    for (unsigned long long j = 0; done < records; j++) {
        /* Before every call: at least every 1024 records for B <= 1024, what DRIVER.md asks above. */
        if (seconds > 0 && now() - t0 >= seconds) break;
        size_t n = (size_t)(records - done < batch ? records - done : batch);
        size_t q = (size_t)((j * batch) % pool.rows);
        const uint8_t *data = pool.data + pool.start[q];
        size_t data_len = pool.start[q + n] - pool.start[q];
        int ok = typed ? zerobus_stream_ingest_json_records(stream, data, data_len, pool.len + q, n, NULL, &err)
                       : zerobus_stream_ingest_records(stream, data, data_len, pool.len + q, n, NULL, &err);
        if (!ok) {
            rc = fail("ingest records", err);
            goto out;
        }
        done += n;
    }
    if (!zerobus_stream_flush(stream, &err)) {
        rc = fail("flush", err);
        goto out;
    }
    printf("RESULT records=%llu seconds=%.6f\n", done, now() - t0);
    fflush(stdout);
    if (!zerobus_stream_close(stream, &err)) {
        rc = fail("close", err);
        goto out;
    }
    rc = 0;
out:
    zerobus_stream_free(stream); /* NULL is a no-op */
    zerobus_stream_options_free(opts);
    json_pool_free(&pool);
    return rc;
}

/* --format taxi-arrow: records / batch calls of zerobus_arrow_stream_ingest_ipc_nocopy, call j passing
 * pool batch j % K; the pool is read before the stream is created and the clock starts. */
static int run_arrow(const zerobus_sdk *sdk, const char *table, const char *id, const char *secret, const char *dir,
                     unsigned long long records, unsigned long long batch, double seconds) {
    arrow_pool pool = {NULL, NULL, 0};
    zerobus_error *err = NULL;
    zerobus_arrow_stream *stream = NULL;
    double t0;
    unsigned long long done = 0;
    int rc = 1;
    if (arrow_pool_read(dir, &pool) != 0) goto out;
    stream = zerobus_sdk_create_arrow_stream(sdk, table, pool.data[0], pool.len[0], id, secret, NULL, &err);
    if (!stream) {
        rc = fail("create arrow stream", err);
        goto out;
    }
    t0 = now();
    for (unsigned long long j = 0; done < records; j++) {
        if (seconds > 0 && now() - t0 >= seconds) break;
        size_t k = (size_t)(j % pool.count);
        /* The pool outlives the stream: no copy, and no release callback needed. */
        if (!zerobus_arrow_stream_ingest_ipc_nocopy(stream, pool.data[k], pool.len[k], NULL, NULL, NULL, &err)) {
            rc = fail("ingest ipc", err);
            goto out;
        }
        done += batch;
    }
    if (!zerobus_arrow_stream_flush(stream, &err)) {
        rc = fail("flush", err);
        goto out;
    }
    printf("RESULT records=%llu seconds=%.6f\n", done, now() - t0);
    fflush(stdout);
    if (!zerobus_arrow_stream_close(stream, &err)) {
        rc = fail("close", err);
        goto out;
    }
    rc = 0;
out:
    zerobus_arrow_stream_free(stream); /* NULL is a no-op */
    arrow_pool_free(&pool);
    return rc;
}

int main(int argc, char **argv) {
    enum { SINGLE, NOWAIT, BATCH } mode = SINGLE;
    enum { JSON, TAXI, TAXI_TYPED, TAXI_ARROW } format = JSON;
    const char *pool_dir = NULL;
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
            /* JSON and the taxi pool's rows: proto records are for the drivers the runner names in
             * --proto-surfaces. */
            if (strcmp(value, "json") == 0) format = JSON;
            else if (strcmp(value, "taxi") == 0) format = TAXI;
            else if (strcmp(value, "taxi-typed") == 0) format = TAXI_TYPED;
            else if (strcmp(value, "taxi-arrow") == 0) format = TAXI_ARROW;
            else return usage("this driver takes --format json, taxi, taxi-typed or taxi-arrow, not", value);
        } else if (strcmp(flag, "--pool") == 0) {
            pool_dir = value;
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
    if (format != JSON) {
        /* The taxi formats: --size is ignored. */
        if (mode != BATCH) return usage("the taxi formats run in --mode batch (rows per call: --batch)", NULL);
        if (!pool_dir) return usage("the taxi formats need --pool DIR", NULL);
        /* A short last call would mean slicing an IPC stream; the runner never asks for one. */
        if (format == TAXI_ARROW && records % batch != 0)
            return usage("--records must be a multiple of --batch for taxi-arrow", NULL);
    } else {
        if (size < 20) return usage("--size is below the 20-byte minimum", NULL);
        if (mode == BATCH && POOL % batch != 0) return usage("--batch does not divide the pool of 1000", NULL);
    }
    const char *endpoint = getenv("ZEROBUS_ENDPOINT"), *workspace = getenv("ZEROBUS_WORKSPACE_URL");
    const char *id = getenv("ZEROBUS_CLIENT_ID"), *secret = getenv("ZEROBUS_CLIENT_SECRET");
    const char *table = getenv("ZEROBUS_TABLE");
    if (!endpoint || !workspace || !id || !secret || !table) return usage("a ZEROBUS_* variable is not set", NULL);

    zerobus_error *err = NULL;
    if (format != JSON) {
        zerobus_sdk *sdk = zerobus_sdk_new(endpoint, workspace, &err);
        if (!sdk) return fail("sdk", err);
        int rc = format == TAXI_ARROW
                     ? run_arrow(sdk, table, id, secret, pool_dir, records, batch, seconds)
                     : run_taxi(sdk, table, id, secret, pool_dir, format == TAXI_TYPED, records, batch, seconds);
        zerobus_sdk_free(sdk);
        return rc;
    }

    /* The pool, contiguous: record k is {"i":K,"p":"x…x"}, exactly `size` bytes. */
    int rc = 1;
    zerobus_sdk *sdk = NULL;
    zerobus_stream *stream = NULL;
    zerobus_stream_options *opts = NULL;
    size_t used = 0;
    double t0;
    unsigned long long done = 0;
    uint8_t *data = malloc(POOL * size);
    size_t *lengths = malloc(POOL * sizeof(size_t)), *starts = malloc(POOL * sizeof(size_t));
    if (!data || !lengths || !starts) {
        rc = usage("out of memory", NULL);
        goto out;
    }
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

    sdk = zerobus_sdk_new(endpoint, workspace, &err);
    if (!sdk) {
        rc = fail("sdk", err);
        goto out;
    }
    opts = zerobus_stream_options_new();
    if (!zerobus_stream_options_set_record_type(opts, ZEROBUS_RECORD_TYPE_JSON, &err)) {
        zerobus_stream_options_free(opts);
        rc = fail("options", err);
        goto out;
    }
    stream = zerobus_sdk_create_stream(sdk, table, NULL, 0, id, secret, opts, &err);
    zerobus_stream_options_free(opts);
    if (!stream) {
        rc = fail("create stream", err);
        goto out;
    }

    t0 = now();
    for (unsigned long long j = 0; done < records; j++) {
        /* Batch calls hold up to 1000 records: the cap is checked before each (DRIVER.md: at
         * least every 1024 records). */
        if (seconds > 0 && (mode == BATCH || j % 1024 == 0) && now() - t0 >= seconds) break;
        if (mode == BATCH) {
            size_t n = (size_t)(records - done < batch ? records - done : batch);
            size_t q = (size_t)((j * batch) % POOL);
            if (!zerobus_stream_ingest_records(stream, data + starts[q], n * size, lengths + q, n, NULL, &err)) {
                rc = fail("ingest records", err);
                goto out;
            }
            done += n;
        } else {
            size_t k = (size_t)(j % POOL);
            int ok = mode == SINGLE ? zerobus_stream_ingest_record(stream, data + starts[k], lengths[k], NULL, &err)
                                    : zerobus_stream_ingest_record_nowait(stream, data + starts[k], lengths[k], &err);
            if (!ok) {
                rc = fail("ingest record", err);
                goto out;
            }
            done++;
        }
    }
    if (!zerobus_stream_flush(stream, &err)) {
        rc = fail("flush", err);
        goto out;
    }
    printf("RESULT records=%llu seconds=%.6f\n", done, now() - t0);
    fflush(stdout);
    if (!zerobus_stream_close(stream, &err)) {
        rc = fail("close", err);
        goto out;
    }
    rc = 0;
out:
    zerobus_stream_free(stream);
    zerobus_sdk_free(sdk);
    free(data);
    free(lengths);
    free(starts);
    return rc;
}
