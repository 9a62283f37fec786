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
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;

/**
 * {@code --format taxi-arrow} (bench/DRIVER.md, "Taxi rows from the pool directory"): the pool
 * files {@code DIR/0.arrows, 1.arrows, …} are each read with {@code ArrowStreamReader} into their
 * own {@code VectorSchemaRoot} before the clock, an Arrow stream is created with the schema of
 * {@code 0.arrows}, and call {@code j} is {@code ingestBatch(VectorSchemaRoot)} of pool batch
 * {@code j % K}. Its own class, so the JSON runs never load Arrow Java.
 */
final class TaxiArrow {
    private TaxiArrow() {}

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

    private static long calls(ZerobusArrowStream stream, VectorSchemaRoot[] pool, VectorSchemaRoot tail,
            long records, int batch, long start, long cap) throws ZerobusException {
        long done = 0;
        int j = 0;
        while (done < records) {
            if (System.nanoTime() - start >= cap) {
                break;
            }
            VectorSchemaRoot root = records - done >= batch ? pool[j] : tail;
            stream.ingestBatch(root);
            done += root.getRowCount();
            j = j + 1 == pool.length ? 0 : j + 1;
        }
        return done;
    }

    static void run(String dir, long records, int batch, double seconds, String endpoint, String workspaceUrl,
            String table, String clientId, String clientSecret) throws Exception {
        List<PoolBatch> files = new ArrayList<>();
        VectorSchemaRoot tail = null;
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
                VectorSchemaRoot[] pool = new VectorSchemaRoot[files.size()];
                for (int k = 0; k < pool.length; k++) {
                    pool[k] = files.get(k).root;
                }
                // The last call, if short, is the first records % B rows of its pool batch.
                int rest = (int) (records % batch);
                if (rest > 0) {
                    tail = pool[(int) ((records / batch) % pool.length)].slice(0, rest);
                }
                byte[] schema = schemaIpc(pool[0]);

                long capNanos = seconds > 0 ? (long) (seconds * 1e9) : Long.MAX_VALUE;
                try (ZerobusSdk sdk = new ZerobusSdk(endpoint, workspaceUrl);
                        ZerobusArrowStream stream = sdk.createArrowStream(table, schema, clientId, clientSecret)
                                .join()) {
                    long start = System.nanoTime();
                    long done = calls(stream, pool, tail, records, batch, start, capNanos);
                    stream.flush();
                    double s = (System.nanoTime() - start) / 1e9;
                    System.out.println(String.format(Locale.ROOT, "RESULT records=%d seconds=%.6f", done, s));
                    System.out.flush();
                }
            } finally {
                if (tail != null) {
                    tail.close();
                }
                for (PoolBatch f : files) {
                    f.reader.close();
                }
            }
        }
    }
}
