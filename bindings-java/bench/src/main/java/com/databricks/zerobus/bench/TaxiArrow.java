package com.databricks.zerobus.bench;

import com.databricks.zerobus.ZerobusArrowStream;
import com.databricks.zerobus.ZerobusException;
import com.databricks.zerobus.ZerobusSdk;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;

/**
 * {@code --format taxi-arrow} (bench/DRIVER.md, "Taxi rows from the pool directory"): the pool
 * files {@code DIR/0.arrows, 1.arrows, …} are each read with {@code ArrowStreamReader} before the
 * clock and kept as {@code ArrowRecordBatch}es (their buffers), an Arrow stream is created with the
 * schema of {@code 0.arrows}, and call {@code j} loads pool batch {@code j % K} into one root with
 * {@code VectorLoader} (no copy: the root takes references to the buffers, as a reader's
 * {@code loadNextBatch} does) and passes it to {@code ingestBatchTransfer}, which moves the
 * buffers to the stream and leaves the root empty for the next load. An untimed warm-up of the
 * same calls (10,000,000 rows or 3 s) comes first, so the JIT has compiled the path when the
 * clock starts. Its own class, so the JSON runs never load Arrow Java.
 */
final class TaxiArrow {
    private TaxiArrow() {}

    /** Rows (and at most how long) the untimed warm-up ingests before the clock starts. */
    private static final long WARMUP_ROWS = 10_000_000;
    private static final long WARMUP_NANOS = 3_000_000_000L;

    /** One pool file, read once: the reader owns the root, so both are kept until the end. */
    private static final class PoolBatch {
        final ArrowStreamReader reader;
        final VectorSchemaRoot root;

        PoolBatch(ArrowStreamReader reader, VectorSchemaRoot root) {
            this.reader = reader;
            this.root = root;
        }
    }

    private static PoolBatch load(BufferAllocator allocator, Path file, int batch) throws IOException {
        ArrowStreamReader reader = new ArrowStreamReader(FileChannel.open(file, StandardOpenOption.READ), allocator);
        try {
            if (!reader.loadNextBatch()) {
                throw new IllegalArgumentException(file + " holds no record batch");
            }
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            if (root.getRowCount() != batch) {
                throw new IllegalArgumentException(
                        file + " holds a batch of " + root.getRowCount() + " rows, not --batch " + batch);
            }
            return new PoolBatch(reader, root);
        } catch (IOException | RuntimeException e) {
            reader.close();
            throw e;
        }
    }

    /** The schema as an IPC stream of just the schema message (what createArrowStream takes). */
    private static byte[] schemaIpc(VectorSchemaRoot root) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ArrowStreamWriter w = new ArrowStreamWriter(root, null, Channels.newChannel(out))) {
            w.start();
            w.end();
        }
        return out.toByteArray();
    }

    private static long calls(ZerobusArrowStream stream, VectorSchemaRoot root, ArrowRecordBatch[] pool,
            ArrowRecordBatch tail, long records, int batch, long start, long cap) throws ZerobusException {
        VectorLoader loader = new VectorLoader(root);
        long done = 0;
        int j = 0;
        while (done < records) {
            if (System.nanoTime() - start >= cap) {
                break;
            }
            loader.load(records - done >= batch ? pool[j] : tail);
            done += root.getRowCount();
            stream.ingestBatchTransfer(root);
            j = j + 1 == pool.length ? 0 : j + 1;
        }
        return done;
    }

    static void run(String dir, long records, int batch, double seconds, String endpoint, String workspaceUrl,
            String table, String clientId, String clientSecret) throws Exception {
        List<PoolBatch> files = new ArrayList<>();
        VectorSchemaRoot tail = null;
        List<ArrowRecordBatch> unloaded = new ArrayList<>();
        try (BufferAllocator allocator = new RootAllocator()) {
            try {
                for (int k = 0;; k++) {
                    Path file = Paths.get(dir, k + ".arrows");
                    if (!Files.exists(file)) {
                        break;
                    }
                    files.add(load(allocator, file, batch));
                }
                if (files.isEmpty()) {
                    throw new IllegalArgumentException("--pool " + dir + " has no 0.arrows");
                }
                ArrowRecordBatch[] pool = new ArrowRecordBatch[files.size()];
                for (int k = 0; k < pool.length; k++) {
                    pool[k] = new VectorUnloader(files.get(k).root).getRecordBatch();
                    unloaded.add(pool[k]);
                }
                // The last call, if short, is the first records % B rows of its pool batch.
                int rest = (int) (records % batch);
                ArrowRecordBatch tailBatch = null;
                if (rest > 0) {
                    tail = files.get((int) ((records / batch) % pool.length)).root.slice(0, rest);
                    tailBatch = new VectorUnloader(tail).getRecordBatch();
                    unloaded.add(tailBatch);
                }
                VectorSchemaRoot first = files.get(0).root;
                byte[] schema = schemaIpc(first);

                long capNanos = seconds > 0 ? (long) (seconds * 1e9) : Long.MAX_VALUE;
                try (ZerobusSdk sdk = new ZerobusSdk(endpoint, workspaceUrl);
                        ZerobusArrowStream stream = sdk.createArrowStream(table, schema, clientId, clientSecret)
                                .join();
                        VectorSchemaRoot root = VectorSchemaRoot.create(first.getSchema(), allocator)) {
                    // Warm-up, untimed: the JIT compiles the call path (as JMH warms up) before the
                    // clock starts, so the run measures what a long-lived loader sees.
                    long warm = System.nanoTime();
                    calls(stream, root, pool, null, WARMUP_ROWS / batch * batch, batch, warm, WARMUP_NANOS);
                    stream.flush();
                    long start = System.nanoTime();
                    long done = calls(stream, root, pool, tailBatch, records, batch, start, capNanos);
                    stream.flush();
                    double s = (System.nanoTime() - start) / 1e9;
                    System.out.println(String.format(Locale.ROOT, "RESULT records=%d seconds=%.6f", done, s));
                    System.out.flush();
                }
            } finally {
                for (ArrowRecordBatch b : unloaded) {
                    b.close();
                }
                if (tail != null) {
                    tail.close();
                }
                for (PoolBatch f : files) {
                    f.reader.close();
                }
                // The library closes the last transferred vectors on its own thread just after
                // their acks: give it a moment before the allocator checks that all is freed.
                for (int i = 0; i < 5_000 && allocator.getAllocatedMemory() != 0; i++) {
                    Thread.sleep(1);
                }
            }
        }
    }
}
