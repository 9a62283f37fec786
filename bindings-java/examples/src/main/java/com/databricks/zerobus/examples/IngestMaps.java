package com.databricks.zerobus.examples;

import com.databricks.zerobus.TableSchema;
import com.databricks.zerobus.ZerobusException;
import com.databricks.zerobus.ZerobusSdk;
import com.databricks.zerobus.ZerobusStream;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Creates a stream from a table (its schema read from Unity Catalog, no .proto anywhere) and
 * ingests {@code Map} records, encoded to proto by the table's columns in the library. Run it
 * against {@code zerobus serve --table 'main.default.air_quality(device_name STRING NOT NULL,
 * temp INT, humidity BIGINT, at TIMESTAMP, price DECIMAL(10,2), tags ARRAY<STRING>,
 * loc STRUCT<lat: DOUBLE, lon: DOUBLE>)'} with the environment variables it prints (run-maps.sh
 * does it all).
 */
public final class IngestMaps {
    private IngestMaps() {}

    public static void main(String[] args) throws Exception {
        String table = System.getenv().getOrDefault("ZEROBUS_TABLE", "main.default.air_quality");
        String id = System.getenv("ZEROBUS_CLIENT_ID");
        String secret = System.getenv("ZEROBUS_CLIENT_SECRET");
        try (ZerobusSdk sdk = new ZerobusSdk(System.getenv("ZEROBUS_ENDPOINT"), System.getenv("ZEROBUS_WORKSPACE_URL"))) {
            TableSchema schema = sdk.getTableSchema(table, id, secret).join();
            System.out.println("columns of " + table + ": " + schema.getColumns());
            try (ZerobusStream stream = sdk.createStreamFromTable(table, id, secret).join()) {
                // One record...
                stream.ingestRecordOffset(Map.of("device_name", "sensor-0", "temp", 21, "at", Instant.now(),
                        "tags", List.of("indoor"), "loc", Map.of("lat", 52.52, "lon", 13.40)));
                // ...and a batch: written as JSON into one buffer, one call into the library, one offset.
                List<Map<String, Object>> batch = new ArrayList<>();
                for (int i = 1; i <= 1000; i++) {
                    batch.add(Map.of("device_name", "sensor-" + i, "humidity", 40L + i % 20,
                            "price", new BigDecimal("9.99")));
                }
                long offset = stream.ingestRecordsOffset(batch).orElseThrow();
                stream.waitForOffset(offset);
                // A value that does not fit its column fails that call only, naming the column.
                try {
                    stream.ingestRecordOffset(Map.of("device_name", "bad", "loc", Map.of("lat", "north")));
                } catch (ZerobusException e) {
                    System.out.println("refused: " + e.getMessage());
                }
                stream.flush();
                System.out.println("acked through offset " + stream.getMetrics().lastAckedOffset());
            }
        }
    }
}
