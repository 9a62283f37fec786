package com.databricks.zerobus.bench;

import com.databricks.zerobus.ZerobusException;
import com.databricks.zerobus.ZerobusSdk;
import com.databricks.zerobus.ZerobusStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;

/**
 * The Java bench driver: bench/DRIVER.md is the contract (command line, records, clock, output).
 * single: {@code ingestRecordOffset(String)}; nowait: {@code ingestRecordNowait(String)}; batch:
 * {@code ingestRecordsOffset(ByteBuffer, int[])} with a direct buffer, the documented fastest
 * batch call (one JNI crossing, no copy on the Java side). {@code --format taxi-arrow --pool DIR}:
 * {@code ZerobusArrowStream.ingestBatch(VectorSchemaRoot)} of the pool's Arrow batches ({@link TaxiArrow});
 * {@code --format taxi|taxi-typed --pool DIR}: the pool's JSON rows on a JSON stream or a stream from
 * the table ({@link TaxiJson}).
 */
public final class Driver {
    private static final int POOL = 1000;

    private Driver() {}

    /** {@code {"i":K,"p":"xx…x"}} of exactly {@code size} bytes. */
    static String record(int k, int size) {
        String head = "{\"i\":" + k + ",\"p\":\"";
        int pad = size - head.length() - 2;
        if (pad < 0) {
            throw new IllegalArgumentException("--size " + size + " is too small for record " + k);
        }
        return head + "x".repeat(pad) + "\"}";
    }

    private static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException(name + " is not set");
        }
        return v;
    }

    /** One batch call's records: a slice of the direct pool buffer and their lengths. */
    private static final class Batch {
        final ByteBuffer data;
        final int[] lengths;

        Batch(ByteBuffer data, int[] lengths) {
            this.data = data;
            this.lengths = lengths;
        }
    }

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable t) {
            System.err.println("zerobus-bench-java: " + t);
            t.printStackTrace();
            System.exit(1);
        }
        // Library threads are daemons; exit at once rather than wait for the JVM's idle teardown.
        System.exit(0);
    }

    // One small method per loop, so the JIT compiles the loop alone, not the whole driver.

    private static long single(ZerobusStream stream, String[] pool, long records, long start, long cap)
            throws ZerobusException {
        long done = 0;
        while (done < records) {
            if ((done & 1023) == 0 && System.nanoTime() - start >= cap) {
                break;
            }
            stream.ingestRecordOffset(pool[(int) (done % POOL)]);
            done++;
        }
        return done;
    }

    private static long nowait(ZerobusStream stream, String[] pool, long records, long start, long cap)
            throws ZerobusException {
        long done = 0;
        while (done < records) {
            if ((done & 1023) == 0 && System.nanoTime() - start >= cap) {
                break;
            }
            stream.ingestRecordNowait(pool[(int) (done % POOL)]);
            done++;
        }
        return done;
    }

    private static long batches(ZerobusStream stream, Batch[] batches, Batch tail, long records, int batch,
            long start, long cap) throws ZerobusException {
        long done = 0;
        int j = 0;
        while (done < records) {
            if (System.nanoTime() - start >= cap) {
                break;
            }
            Batch b = records - done >= batch ? batches[j] : tail;
            stream.ingestRecordsOffset(b.data, b.lengths);
            done += b.lengths.length;
            j = j + 1 == batches.length ? 0 : j + 1;
        }
        return done;
    }

    private static void run(String[] args) throws Exception {
        String mode = null;
        int size = -1;
        long records = -1;
        int batch = 1000;
        double seconds = 0;
        String format = "json";
        String poolDir = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(a + " needs a value");
            }
            String v = args[++i];
            switch (a) {
                case "--mode": mode = v; break;
                case "--size": size = Integer.parseInt(v); break;
                case "--records": records = Long.parseLong(v); break;
                case "--batch": batch = Integer.parseInt(v); break;
                case "--seconds": seconds = Double.parseDouble(v); break;
                case "--format":
                    if (!v.equals("json") && !v.equals("taxi-arrow") && !v.equals("taxi") && !v.equals("taxi-typed")) {
                        throw new IllegalArgumentException(
                                "--format " + v + ": this driver takes json, taxi, taxi-typed or taxi-arrow");
                    }
                    format = v;
                    break;
                case "--pool": poolDir = v; break;
                // Honoured only by the published-SDK driver; every binding runs with its defaults.
                case "--max-inflight-requests": break;
                default: throw new IllegalArgumentException("unknown argument " + a);
            }
        }
        if (!format.equals("json")) {
            if (!"batch".equals(mode) || poolDir == null || records < 0 || batch < 1) {
                throw new IllegalArgumentException("usage: --mode batch --format " + format
                        + " --batch B --records N --pool DIR [--seconds S]");
            }
            if (!format.equals("taxi-arrow")) {
                TaxiJson.run(poolDir, format.equals("taxi-typed"), records, batch, seconds, env("ZEROBUS_ENDPOINT"),
                        env("ZEROBUS_WORKSPACE_URL"), env("ZEROBUS_TABLE"), env("ZEROBUS_CLIENT_ID"),
                        env("ZEROBUS_CLIENT_SECRET"));
                return;
            }
            TaxiArrow.run(poolDir, records, batch, seconds, env("ZEROBUS_ENDPOINT"), env("ZEROBUS_WORKSPACE_URL"),
                    env("ZEROBUS_TABLE"), env("ZEROBUS_CLIENT_ID"), env("ZEROBUS_CLIENT_SECRET"));
            return;
        }
        if (mode == null || size < 20 || records < 0) {
            throw new IllegalArgumentException(
                    "usage: --mode single|nowait|batch [--format json] --size BYTES(>=20) --records N [--batch B] [--seconds S]"
                    + " | --mode batch --format taxi|taxi-typed|taxi-arrow --batch B --records N --pool DIR [--seconds S]");
        }
        if (!mode.equals("single") && !mode.equals("nowait") && !mode.equals("batch")) {
            throw new IllegalArgumentException("unknown mode " + mode);
        }
        if (mode.equals("batch") && (batch < 1 || POOL % batch != 0)) {
            throw new IllegalArgumentException("--batch must divide " + POOL + ", got " + batch);
        }

        String[] pool = new String[POOL];
        for (int k = 0; k < POOL; k++) {
            pool[k] = record(k, size);
        }
        // Batch pool: one direct buffer with the 1000 records back to back; batch j is the slice of
        // records (j*B) % 1000 .. +B. The last call may be shorter (records % B), so it gets its own.
        int perPool = POOL / batch;
        Batch[] batches = new Batch[perPool];
        Batch tail = null;
        if (mode.equals("batch")) {
            ByteBuffer all = ByteBuffer.allocateDirect(POOL * size);
            for (String r : pool) {
                all.put(r.getBytes(StandardCharsets.UTF_8));
            }
            for (int j = 0; j < perPool; j++) {
                int[] lengths = new int[batch];
                Arrays.fill(lengths, size);
                batches[j] = new Batch(all.slice(j * batch * size, batch * size), lengths);
            }
            int rest = (int) (records % batch);
            if (rest > 0) {
                int first = (int) ((records / batch) % perPool) * batch;
                int[] lengths = new int[rest];
                Arrays.fill(lengths, size);
                tail = new Batch(all.slice(first * size, rest * size), lengths);
            }
        }

        long capNanos = seconds > 0 ? (long) (seconds * 1e9) : Long.MAX_VALUE;
        try (ZerobusSdk sdk = new ZerobusSdk(env("ZEROBUS_ENDPOINT"), env("ZEROBUS_WORKSPACE_URL"));
                ZerobusStream stream = sdk.createJsonStream(env("ZEROBUS_TABLE"), env("ZEROBUS_CLIENT_ID"),
                        env("ZEROBUS_CLIENT_SECRET")).join()) {
            long start = System.nanoTime();
            long done;
            switch (mode) {
                case "single": done = single(stream, pool, records, start, capNanos); break;
                case "nowait": done = nowait(stream, pool, records, start, capNanos); break;
                default: done = batches(stream, batches, tail, records, batch, start, capNanos); break;
            }
            stream.flush();
            double s = (System.nanoTime() - start) / 1e9;
            System.out.println(String.format(Locale.ROOT, "RESULT records=%d seconds=%.6f", done, s));
            System.out.flush();
        }
    }
}
