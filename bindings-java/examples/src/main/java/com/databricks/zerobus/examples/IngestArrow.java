package com.databricks.zerobus.examples;

import com.databricks.zerobus.ArrowStreamConfigurationOptions;
import com.databricks.zerobus.IpcCompression;
import com.databricks.zerobus.ZerobusArrowStream;
import com.databricks.zerobus.ZerobusSdk;
import java.io.ByteArrayOutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.LargeVarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Opens an Arrow stream on a table (its schema read from Unity Catalog) and ingests Arrow Java
 * batches: a {@code VectorSchemaRoot} through the C Data Interface, then the same root written as
 * an Arrow IPC stream. Run it against {@code zerobus serve --table 'main.default.cars(name STRING
 * NOT NULL, seats INT)'} with the environment variables it prints (run-arrow.sh does it all, and
 * passes the {@code --add-opens} Arrow Java's memory module needs).
 */
public final class IngestArrow {
    private IngestArrow() {}

    public static void main(String[] args) throws Exception {
        String table = System.getenv().getOrDefault("ZEROBUS_TABLE", "main.default.cars");
        // What the table maps to (PROTOCOL.md §9): STRING NOT NULL → LargeUtf8, INT → Int32.
        Schema cars = new Schema(List.of(
                new Field("name", FieldType.notNullable(new ArrowType.LargeUtf8()), null),
                new Field("seats", FieldType.nullable(new ArrowType.Int(32, true)), null)));
        ArrowStreamConfigurationOptions options = ArrowStreamConfigurationOptions.builder()
                .setIpcCompression(IpcCompression.LZ4_FRAME)
                .build();
        try (ZerobusSdk sdk = new ZerobusSdk(System.getenv("ZEROBUS_ENDPOINT"), System.getenv("ZEROBUS_WORKSPACE_URL"));
                BufferAllocator allocator = new RootAllocator();
                VectorSchemaRoot root = VectorSchemaRoot.create(cars, allocator);
                ZerobusArrowStream stream = sdk.createArrowStream(table, null, System.getenv("ZEROBUS_CLIENT_ID"),
                        System.getenv("ZEROBUS_CLIENT_SECRET"), options).join()) {
            LargeVarCharVector name = (LargeVarCharVector) root.getVector("name");
            IntVector seats = (IntVector) root.getVector("seats");
            int rows = 1000;
            name.allocateNew(rows);
            seats.allocateNew(rows);
            for (int i = 0; i < rows; i++) {
                name.setSafe(i, ("car-" + i).getBytes(StandardCharsets.UTF_8));
                seats.setSafe(i, 2 + i % 6);
            }
            root.setRowCount(rows);
            // The root's buffers are read in place and encoded before the call returns.
            long first = stream.ingestBatch(root);
            // The same rows as Arrow IPC bytes (schema message, then the batch): one call, one offset.
            ByteArrayOutputStream ipc = new ByteArrayOutputStream();
            try (ArrowStreamWriter w = new ArrowStreamWriter(root, null, Channels.newChannel(ipc))) {
                w.start();
                w.writeBatch();
                w.end();
            }
            long second = stream.ingestIpc(ipc.toByteArray());
            stream.waitForOffset(second);
            System.out.println("acked offsets " + first + ".." + second + ", rows sent: "
                    + stream.getMetrics().recordsSent());
        }
    }
}
