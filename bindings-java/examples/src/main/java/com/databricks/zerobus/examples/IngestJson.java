package com.databricks.zerobus.examples;

import com.databricks.zerobus.AckCallback;
import com.databricks.zerobus.StreamConfigurationOptions;
import com.databricks.zerobus.ZerobusException;
import com.databricks.zerobus.ZerobusSdk;
import com.databricks.zerobus.ZerobusStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Ingests JSON records into a Zerobus endpoint (e.g. `zerobus serve`) and prints how many were
 * acknowledged. Settings come from the environment variables `zerobus serve` prints:
 * ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET; optional
 * ZEROBUS_TABLE (default main.default.json_table) and a record count as the first argument.
 */
public final class IngestJson {
    private IngestJson() {}

    private static String env(String name, String dflt) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            if (dflt == null) {
                System.err.println("IngestJson: set " + name + " (run `zerobus serve` and copy its output)");
                System.exit(2);
            }
            return dflt;
        }
        return v;
    }

    public static void main(String[] args) throws Exception {
        int count = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        String table = env("ZEROBUS_TABLE", "main.default.json_table");
        AtomicLong acked = new AtomicLong();
        StreamConfigurationOptions options = StreamConfigurationOptions.builder()
                .setAckCallback(new AckCallback() {
                    @Override
                    public void onAck(long offset) {
                        acked.incrementAndGet();
                    }

                    @Override
                    public void onError(long offset, String message) {
                        System.err.println("offset " + offset + " failed: " + message);
                    }
                })
                .build();
        try (ZerobusSdk sdk = new ZerobusSdk(env("ZEROBUS_ENDPOINT", null), env("ZEROBUS_WORKSPACE_URL", null));
                ZerobusStream stream = sdk.createJsonStream(table, env("ZEROBUS_CLIENT_ID", null),
                        env("ZEROBUS_CLIENT_SECRET", null), options).join()) {
            long records = 0;
            // Half one record per call...
            for (int i = 0; i < count / 2; i++) {
                stream.ingestRecordOffset("{\"id\":" + i + ",\"msg\":\"hello from Java\"}");
                records++;
            }
            // ...half in batches of up to 1,000 records: one contiguous buffer plus lengths per call.
            for (int i = count / 2; i < count; ) {
                int n = Math.min(1000, count - i);
                ByteArrayOutputStream data = new ByteArrayOutputStream();
                int[] lengths = new int[n];
                for (int k = 0; k < n; k++) {
                    byte[] r = ("{\"id\":" + (i + k) + ",\"msg\":\"hello from Java\"}").getBytes(StandardCharsets.UTF_8);
                    lengths[k] = r.length;
                    data.write(r);
                }
                stream.ingestRecordsOffset(data.toByteArray(), lengths);
                records += n;
                i += n;
            }
            stream.flush();
            System.out.println("ingested " + records + " records into " + table + "; acked calls: " + acked.get()
                    + "; last acked offset: " + stream.getMetrics().lastAckedOffset());
        } catch (ZerobusException e) {
            System.err.println("IngestJson failed: " + e);
            System.exit(1);
        }
    }
}
