package com.databricks.zerobus.bench;

import com.databricks.zerobus.ZerobusException;
import com.databricks.zerobus.ZerobusSdk;
import com.databricks.zerobus.ZerobusStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code --format taxi} and {@code --format taxi-typed} (bench/DRIVER.md, "Taxi rows from the
 * pool directory"): record {@code k} is line {@code k % R} of {@code DIR/rows.jsonl}, read before
 * the clock; call {@code j} passes records {@code (j*B) % R .. +B}. {@code taxi}: a JSON stream,
 * {@code ingestRecordsOffset(ByteBuffer, int[])} with slices of one direct buffer (the json mode's
 * call). {@code taxi-typed}: a stream from the table ({@code createStreamFromTable}, core encodes
 * each JSON record by the table's types), {@code ingestRecordsOffset(Iterable)} of {@code String}s,
 * the batch call that takes JSON text on such a stream.
 */
final class TaxiJson {
    private TaxiJson() {}

    private static long json(ZerobusStream stream, ByteBuffer[] data, int[][] lengths, ByteBuffer tailData,
            int[] tailLengths, long records, int batch, long start, long cap) throws ZerobusException {
        long done = 0;
        int j = 0;
        while (done < records) {
            if (System.nanoTime() - start >= cap) {
                break;
            }
            if (records - done >= batch) {
                stream.ingestRecordsOffset(data[j], lengths[j]);
                done += batch;
            } else {
                stream.ingestRecordsOffset(tailData, tailLengths);
                done += tailLengths.length;
            }
            j = j + 1 == data.length ? 0 : j + 1;
        }
        return done;
    }

    private static long typed(ZerobusStream stream, List<String>[] batches, List<String> tail, long records,
            int batch, long start, long cap) throws ZerobusException {
        long done = 0;
        int j = 0;
        while (done < records) {
            if (System.nanoTime() - start >= cap) {
                break;
            }
            List<String> b = records - done >= batch ? batches[j] : tail;
            stream.ingestRecordsOffset(b);
            done += b.size();
            j = j + 1 == batches.length ? 0 : j + 1;
        }
        return done;
    }

    @SuppressWarnings("unchecked")
    static void run(String dir, boolean typedFormat, long records, int batch, double seconds, String endpoint,
            String workspaceUrl, String table, String clientId, String clientSecret) throws Exception {
        List<String> rows = Files.readAllLines(Paths.get(dir, "rows.jsonl"), StandardCharsets.UTF_8);
        while (!rows.isEmpty() && rows.get(rows.size() - 1).isEmpty()) {
            rows.remove(rows.size() - 1);
        }
        int r = rows.size();
        if (r == 0) {
            throw new IllegalArgumentException("--pool " + dir + ": rows.jsonl holds no rows");
        }
        if (r % batch != 0) {
            throw new IllegalArgumentException("--batch " + batch + " does not divide the pool's " + r + " rows");
        }
        int perPool = r / batch;
        int rest = (int) (records % batch);
        int tailFirst = (int) ((records / batch) % perPool) * batch;

        // Loaded before the clock, in the form each call takes.
        ByteBuffer[] data = null;
        int[][] lengths = null;
        ByteBuffer tailData = null;
        int[] tailLengths = null;
        List<String>[] texts = null;
        List<String> tailText = null;
        if (typedFormat) {
            String[] all = rows.toArray(new String[0]);
            texts = new List[perPool];
            for (int j = 0; j < perPool; j++) {
                texts[j] = Arrays.asList(Arrays.copyOfRange(all, j * batch, (j + 1) * batch));
            }
            if (rest > 0) {
                tailText = Arrays.asList(Arrays.copyOfRange(all, tailFirst, tailFirst + rest));
            }
        } else {
            byte[][] bytes = new byte[r][];
            int[] starts = new int[r + 1];
            for (int k = 0; k < r; k++) {
                bytes[k] = rows.get(k).getBytes(StandardCharsets.UTF_8);
                starts[k + 1] = starts[k] + bytes[k].length;
            }
            ByteBuffer buf = ByteBuffer.allocateDirect(starts[r]);
            for (byte[] b : bytes) {
                buf.put(b);
            }
            data = new ByteBuffer[perPool];
            lengths = new int[perPool][];
            for (int j = 0; j < perPool; j++) {
                int first = j * batch;
                data[j] = buf.slice(starts[first], starts[first + batch] - starts[first]);
                lengths[j] = new int[batch];
                for (int i = 0; i < batch; i++) {
                    lengths[j][i] = bytes[first + i].length;
                }
            }
            if (rest > 0) {
                tailData = buf.slice(starts[tailFirst], starts[tailFirst + rest] - starts[tailFirst]);
                tailLengths = Arrays.copyOf(lengths[tailFirst / batch], rest);
            }
        }

        long capNanos = seconds > 0 ? (long) (seconds * 1e9) : Long.MAX_VALUE;
        try (ZerobusSdk sdk = new ZerobusSdk(endpoint, workspaceUrl);
                ZerobusStream stream = (typedFormat ? sdk.createStreamFromTable(table, clientId, clientSecret)
                        : sdk.createJsonStream(table, clientId, clientSecret)).join()) {
            long start = System.nanoTime();
            long done = typedFormat ? typed(stream, texts, tailText, records, batch, start, capNanos)
                    : json(stream, data, lengths, tailData, tailLengths, records, batch, start, capNanos);
            stream.flush();
            double s = (System.nanoTime() - start) / 1e9;
            System.out.println(String.format(Locale.ROOT, "RESULT records=%d seconds=%.6f", done, s));
            System.out.flush();
        }
    }
}
