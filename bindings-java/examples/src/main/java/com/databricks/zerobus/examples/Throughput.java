package com.databricks.zerobus.examples;

import com.databricks.zerobus.ZerobusSdk;
import com.databricks.zerobus.ZerobusStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Records/s through the Java binding against `zerobus serve` (bench/bench.sh): n records of
 * `size` bytes of JSON, generated before the clock starts, through ingestRecordsOffset (batch > 1:
 * the records are packed into one buffer per call inside the clock) or ingestRecordOffset.
 * Usage: Throughput n batch [size]; settings from the ZEROBUS_* environment variables.
 */
public final class Throughput {
    private Throughput() {}

    static byte[] record(int i, int size) {
        StringBuilder out = new StringBuilder("{\"seed\":1,\"seq\":" + i + ",\"pad\":\"");
        while (out.length() < size - 2) {
            out.append((char) ('a' + (i + out.length()) % 26));
        }
        return out.append("\"}").toString().getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        int batch = Integer.parseInt(args[1]);
        int size = args.length > 2 ? Integer.parseInt(args[2]) : 220;
        byte[][] records = new byte[n][];
        for (int i = 0; i < n; i++) {
            records[i] = record(i, size);
        }
        try (ZerobusSdk sdk = new ZerobusSdk(System.getenv("ZEROBUS_ENDPOINT"), System.getenv("ZEROBUS_WORKSPACE_URL"));
                ZerobusStream stream = sdk.createJsonStream("main.default.events", System.getenv("ZEROBUS_CLIENT_ID"),
                        System.getenv("ZEROBUS_CLIENT_SECRET")).join()) {
            long start = System.nanoTime();
            for (int i = 0; i < n; ) {
                int end = Math.min(i + batch, n);
                if (batch == 1) {
                    stream.ingestRecordOffset(records[i]);
                } else {
                    stream.ingestRecordsOffset(Arrays.asList(records).subList(i, end));
                }
                i = end;
            }
            stream.flush();
            double s = (System.nanoTime() - start) / 1e9;
            System.out.printf("%.0f%n", n / s);
        }
    }
}
