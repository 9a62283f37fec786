package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.BitVector;
import org.apache.arrow.vector.DecimalVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.LargeVarCharVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.FixedSizeListVector;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.complex.StructVector;
import org.apache.arrow.vector.complex.impl.UnionFixedSizeListWriter;
import org.apache.arrow.vector.complex.impl.UnionListWriter;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Arrow streams (IPC bytes, direct buffers, VectorSchemaRoots through the C Data Interface) against `zerobus serve`. */
class ArrowIntegrationTest {
    static final String TABLE = "main.default.cars";
    static final String DEFINITION = TABLE + "(name STRING NOT NULL, seats INT)";
    /** The schema the table maps to (PROTOCOL.md §9): STRING NOT NULL → LargeUtf8, INT → Int32. */
    static final Schema CARS = new Schema(List.of(
            new Field("name", FieldType.notNullable(new ArrowType.LargeUtf8()), null),
            new Field("seats", FieldType.nullable(new ArrowType.Int(32, true)), null)));
    static Serve srv;

    @BeforeAll
    static void start() throws Exception {
        srv = Serve.start("--table", DEFINITION);
    }

    @AfterAll
    static void stop() throws Exception {
        if (srv != null) {
            srv.close();
        }
    }

    static ZerobusException failure(Runnable r) {
        CompletionException e = assertThrows(CompletionException.class, r::run);
        return (ZerobusException) e.getCause();
    }

    /** Rows from..from+rows-1 into {@code root}. */
    static void fill(VectorSchemaRoot root, int from, int rows) {
        LargeVarCharVector names = (LargeVarCharVector) root.getVector("name");
        IntVector seats = (IntVector) root.getVector("seats");
        names.allocateNew(rows);
        seats.allocateNew(rows);
        for (int i = 0; i < rows; i++) {
            names.setSafe(i, ("car-" + (from + i)).getBytes(StandardCharsets.UTF_8));
            seats.setSafe(i, from + i);
        }
        root.setRowCount(rows);
    }

    /** An IPC stream of the schema and one batch per {from, rows} pair. */
    static byte[] ipc(VectorSchemaRoot root, int[]... batches) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ArrowStreamWriter w = new ArrowStreamWriter(root, null, Channels.newChannel(out))) {
            w.start();
            for (int[] b : batches) {
                fill(root, b[0], b[1]);
                w.writeBatch();
            }
            w.end();
        }
        return out.toByteArray();
    }

    /** The `seats` of every row of an IPC stream, after checking its schema is the cars schema. */
    static List<Integer> seats(BufferAllocator allocator, byte[] ipc) throws Exception {
        List<Integer> out = new ArrayList<>();
        try (ArrowStreamReader r = new ArrowStreamReader(new ByteArrayInputStream(ipc), allocator)) {
            VectorSchemaRoot root = r.getVectorSchemaRoot();
            assertEquals(CARS, root.getSchema());
            while (r.loadNextBatch()) {
                IntVector v = (IntVector) root.getVector("seats");
                for (int i = 0; i < root.getRowCount(); i++) {
                    out.add(v.get(i));
                }
            }
        }
        return out;
    }

    @Test
    void fromTheTableIpcDirectBuffersAndVectorSchemaRootsEachGetOneOffset() throws Exception {
        List<Long> acks = new CopyOnWriteArrayList<>();
        ArrowStreamConfigurationOptions options = ArrowStreamConfigurationOptions.builder()
                .setAckCallback(acks::add)
                .build();
        try (BufferAllocator allocator = new RootAllocator(); ZerobusSdk sdk = srv.sdk();
                VectorSchemaRoot root = VectorSchemaRoot.create(CARS, allocator)) {
            ZerobusArrowStream s = sdk.createArrowStream(TABLE, null, srv.clientId(), srv.clientSecret(), options)
                    .join();
            assertEquals(TABLE, s.getTableName());
            // Two batches in one IPC stream: one call, one offset.
            assertEquals(0L, s.ingestIpc(ipc(root, new int[] {0, 3}, new int[] {3, 2})));
            byte[] more = ipc(root, new int[] {5, 4});
            ByteBuffer direct = ByteBuffer.allocateDirect(more.length + 3);
            direct.put(new byte[] {9, 9, 9}).put(more).flip().position(3);
            assertEquals(1L, s.ingestIpc(direct));
            assertEquals(3, direct.position(), "the buffer's position is not moved");
            assertEquals(2L, s.ingestIpc(ByteBuffer.wrap(ipc(root, new int[] {9, 1}))));
            fill(root, 10, 6);
            assertEquals(3L, s.ingestBatch(root));
            // The root may be refilled at once: nothing of it is kept.
            fill(root, 16, 4);
            long last = s.ingestBatch(root);
            assertEquals(4L, last);
            s.waitForOffset(last);
            s.flush();
            StreamMetrics m = s.getMetrics();
            assertEquals(4L, m.lastAckedOffset());
            assertEquals(20L, m.recordsSent(), "metrics count rows");
            assertEquals(0L, m.inflightRecords());
            assertTrue(seats(allocator, s.getUnackedIpc()).isEmpty(), "nothing unacked: the schema alone");
            assertFalse(s.isClosed());
            s.close();
            assertTrue(s.isClosed());
            s.close();
            assertEquals(List.of(0L, 1L, 2L, 3L, 4L), acks);
            ZerobusException e = assertThrows(ZerobusException.class, () -> s.ingestIpc(more));
            assertEquals(ErrorCode.STREAM_CLOSED, e.getCode());
        }
    }

    @Test
    void unackedRowsComeBackAsIpc() throws Exception {
        try (Serve withheld = Serve.start("--table", DEFINITION, "--withhold-acks"); ZerobusSdk sdk = withheld.sdk();
                BufferAllocator allocator = new RootAllocator();
                VectorSchemaRoot root = VectorSchemaRoot.create(CARS, allocator)) {
            byte[] schema = ipc(root);
            ZerobusArrowStream s = sdk.createArrowStream(TABLE, schema, withheld.clientId(), withheld.clientSecret(),
                    ArrowStreamConfigurationOptions.builder().setIpcCompression(IpcCompression.ZSTD).build()).join();
            s.ingestIpc(ipc(root, new int[] {0, 2}));
            fill(root, 2, 3);
            s.ingestBatch(root);
            assertEquals(List.of(0, 1, 2, 3, 4), seats(allocator, s.getUnackedIpc()));
            s.free(); // nothing will be acked: drop the stream instead of closing it
            assertTrue(s.isClosed());
        }
    }

    /** Waits (up to 10 s) until {@code allocator} holds no memory; what it still holds. */
    static long drained(BufferAllocator allocator) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (allocator.getAllocatedMemory() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        return allocator.getAllocatedMemory();
    }

    @Test
    void transferredRootsAreSentFromTheirOwnBuffersAndReleasedOnceAcked() throws Exception {
        try (BufferAllocator allocator = new RootAllocator(); ZerobusSdk sdk = srv.sdk()) {
            ZerobusArrowStream s = sdk.createArrowStream(TABLE, null, srv.clientId(), srv.clientSecret(),
                    ArrowStreamConfigurationOptions.builder().build()).join();
            try (VectorSchemaRoot root = VectorSchemaRoot.create(CARS, allocator)) {
                fill(root, 0, 3);
                assertEquals(0L, s.ingestBatchTransfer(root));
                assertEquals(0, root.getRowCount(), "the root is left empty");
                assertEquals(0, root.getVector("seats").getValueCount());
                fill(root, 3, 2);
                assertEquals(1L, s.ingestBatchTransfer(root));
                s.flush();
            }
            // The root is closed and every row acked: the library has let go of the buffers too.
            assertEquals(0L, drained(allocator), "buffers still held after the acks");
            assertEquals(5L, s.getMetrics().recordsSent());
            s.close();
        }
        // Unacked, the buffers stay the stream's: refilling the root does not touch the rows sent.
        try (Serve withheld = Serve.start("--table", DEFINITION, "--withhold-acks"); ZerobusSdk sdk = withheld.sdk();
                BufferAllocator allocator = new RootAllocator()) {
            ZerobusArrowStream s = sdk.createArrowStream(TABLE, null, withheld.clientId(), withheld.clientSecret(),
                    ArrowStreamConfigurationOptions.builder().build()).join();
            try (VectorSchemaRoot root = VectorSchemaRoot.create(CARS, allocator)) {
                fill(root, 0, 3);
                s.ingestBatchTransfer(root);
                fill(root, 3, 2);
                s.ingestBatchTransfer(root);
                fill(root, 100, 3); // written over the root's own (new) buffers only
            }
            assertTrue(allocator.getAllocatedMemory() > 0, "the unacked rows' buffers are held");
            assertEquals(List.of(0, 1, 2, 3, 4), seats(allocator, s.getUnackedIpc()));
            s.free();
            assertEquals(0L, drained(allocator), "buffers still held after the stream was freed");
        }
    }

    /** The rows of every batch of an IPC stream, as Arrow Java prints them, after its schema. */
    static String rows(BufferAllocator allocator, byte[] ipc, Schema expected) throws Exception {
        StringBuilder out = new StringBuilder();
        try (ArrowStreamReader r = new ArrowStreamReader(new ByteArrayInputStream(ipc), allocator)) {
            VectorSchemaRoot root = r.getVectorSchemaRoot();
            assertEquals(expected, root.getSchema());
            while (r.loadNextBatch()) {
                out.append(root.contentToTSVString());
            }
        }
        return out.toString();
    }

    /**
     * Nulls, booleans, decimals, lists and structs cross as their buffers; a layout read only
     * through the C Data Interface (a fixed-size list) still arrives. Both are checked by reading
     * back what the library encoded (the unacked rows of a stream the server never acks).
     */
    @Test
    void nestedNullableAndFallbackLayoutsArriveAsTheyWere() throws Exception {
        Field item = new Field("item", FieldType.nullable(new ArrowType.Int(32, true)), null);
        Schema shapes = new Schema(List.of(
                new Field("ok", FieldType.nullable(ArrowType.Bool.INSTANCE), null),
                new Field("price", FieldType.nullable(new ArrowType.Decimal(10, 2, 128)), null),
                new Field("tags", FieldType.nullable(ArrowType.List.INSTANCE), List.of(item)),
                new Field("dims", FieldType.nullable(ArrowType.Struct.INSTANCE), List.of(
                        new Field("w", FieldType.nullable(new ArrowType.Int(32, true)), null),
                        new Field("label", FieldType.nullable(new ArrowType.Utf8()), null)))));
        Schema pairs = new Schema(List.of(
                new Field("pair", FieldType.nullable(new ArrowType.FixedSizeList(2)), List.of(item))));
        try (Serve withheld = Serve.start("--withhold-acks"); ZerobusSdk sdk = withheld.sdk();
                BufferAllocator allocator = new RootAllocator();
                VectorSchemaRoot root = VectorSchemaRoot.create(shapes, allocator);
                VectorSchemaRoot fixed = VectorSchemaRoot.create(pairs, allocator)) {
            int rows = 5;
            BitVector ok = (BitVector) root.getVector("ok");
            DecimalVector price = (DecimalVector) root.getVector("price");
            ListVector tags = (ListVector) root.getVector("tags");
            StructVector dims = (StructVector) root.getVector("dims");
            IntVector w = dims.getChild("w", IntVector.class);
            VarCharVector label = dims.getChild("label", VarCharVector.class);
            UnionListWriter tw = tags.getWriter();
            for (int i = 0; i < rows; i++) {
                if (i % 3 == 1) {
                    ok.setNull(i);
                    price.setNull(i);
                    dims.setNull(i);
                } else {
                    ok.setSafe(i, i % 2);
                    price.setSafe(i, new BigDecimal(i + ".25"));
                    dims.setIndexDefined(i);
                    w.setSafe(i, 10 * i);
                    label.setSafe(i, ("box-" + i).getBytes(StandardCharsets.UTF_8));
                }
                tw.setPosition(i);
                if (i != 2) {
                    tw.startList();
                    for (int k = 0; k < i; k++) {
                        tw.writeInt(100 * i + k);
                    }
                    tw.endList();
                }
            }
            tags.setValueCount(rows);
            dims.setValueCount(rows);
            root.setRowCount(rows);
            ZerobusArrowStream s = sdk.createArrowStream("main.default.events", ipc(root),
                    withheld.clientId(), withheld.clientSecret(), null).join();
            String want = root.contentToTSVString();
            assertEquals(0L, s.ingestBatch(root));
            assertEquals(want, rows(allocator, s.getUnackedIpc(), shapes));
            s.free();

            FixedSizeListVector pair = (FixedSizeListVector) fixed.getVector("pair");
            UnionFixedSizeListWriter pw = pair.getWriter();
            for (int i = 0; i < 3; i++) {
                pw.setPosition(i);
                pw.startList();
                pw.writeInt(i);
                pw.writeInt(-i);
                pw.endList();
            }
            fixed.setRowCount(3);
            ZerobusArrowStream f = sdk.createArrowStream("main.default.events", ipc(fixed),
                    withheld.clientId(), withheld.clientSecret(), null).join();
            assertEquals(0L, f.ingestBatch(fixed));
            assertEquals(fixed.contentToTSVString(), rows(allocator, f.getUnackedIpc(), pairs));
            f.free();
        }
    }

    @Test
    void batchesThatDoNotFitFailTheirCallOnly() throws Exception {
        Schema wrong = new Schema(List.of(
                new Field("name", FieldType.notNullable(new ArrowType.Utf8()), null),
                new Field("seats", FieldType.nullable(new ArrowType.Int(64, true)), null)));
        try (BufferAllocator allocator = new RootAllocator(); ZerobusSdk sdk = srv.sdk();
                VectorSchemaRoot bad = VectorSchemaRoot.create(wrong, allocator);
                VectorSchemaRoot good = VectorSchemaRoot.create(CARS, allocator);
                ZerobusArrowStream s = sdk.createArrowStream(TABLE, ipc(good), srv.clientId(), srv.clientSecret(),
                        ArrowStreamConfigurationOptions.builder().setMaxInflightBatches(4)
                                .setIpcCompression(IpcCompression.LZ4_FRAME).build()).join()) {
            ((VarCharVector) bad.getVector("name")).setSafe(0, "x".getBytes(StandardCharsets.UTF_8));
            ((BigIntVector) bad.getVector("seats")).setSafe(0, 1L);
            bad.setRowCount(1);
            // A Utf8 name is widened to the stream's LargeUtf8, but a BIGINT seats is not the
            // table's INT: refused, naming the column.
            ZerobusException e = assertThrows(ZerobusException.class, () -> s.ingestBatch(bad));
            assertEquals(ErrorCode.INVALID_RECORD, e.getCode());
            assertTrue(e.getMessage().contains("seats"), e.getMessage());
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (ArrowStreamWriter w = new ArrowStreamWriter(bad, null, Channels.newChannel(out))) {
                w.start();
                w.writeBatch();
                w.end();
            }
            e = assertThrows(ZerobusException.class, () -> s.ingestIpc(out.toByteArray()));
            assertEquals(ErrorCode.INVALID_RECORD, e.getCode());
            assertTrue(e.getMessage().contains("seats"), e.getMessage());
            assertThrows(ZerobusException.class, () -> s.ingestIpc(new byte[] {1, 2, 3}));
            // The stream carries on; offsets start at 0.
            fill(good, 0, 100);
            assertEquals(0L, s.ingestBatch(good));
            s.flush();
            assertEquals(100L, s.getMetrics().recordsSent());
        }
    }

    @Test
    void creationErrorsNameTheProblem() throws Exception {
        try (ZerobusSdk sdk = srv.sdk()) {
            ZerobusException e = failure(() -> sdk.createArrowStream(TABLE, new byte[] {9, 9}, srv.clientId(),
                    srv.clientSecret()).join());
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.getCode());
            assertTrue(e.getMessage().contains("Arrow IPC"), e.getMessage());
            e = failure(() -> sdk.createArrowStream(TABLE, null, srv.clientId(), srv.clientSecret(),
                    ArrowStreamConfigurationOptions.builder().setConnectionTimeoutMs(0).build()).join());
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.getCode());
            assertTrue(e.getMessage().contains("connection_timeout_ms"), e.getMessage());
            e = failure(() -> sdk.createArrowStream(TABLE, null, srv.clientId(), srv.clientSecret(),
                    ArrowStreamConfigurationOptions.builder().setMaxInflightBatches(-1).build()).join());
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.getCode());
            assertTrue(e.getMessage().contains("max_inflight_batches"), e.getMessage());
            e = failure(() -> sdk.createArrowStream("main.default.missing", null, srv.clientId(), srv.clientSecret())
                    .join());
            assertEquals(ErrorCode.NOT_FOUND, e.getCode());
            e = failure(() -> sdk.createArrowStream(TABLE, null, () -> java.util.Map.of(
                    "authorization", "Bearer nope"), ArrowStreamConfigurationOptions.getDefault())
                    .join());
            assertEquals(ErrorCode.UNAUTHENTICATED, e.getCode());
        }
    }

    @Test
    void optionsKeepWhatWasSet() {
        ArrowStreamConfigurationOptions d = ArrowStreamConfigurationOptions.getDefault();
        assertFalse(d.maxInflightBatches().isPresent());
        assertFalse(d.ipcCompression().isPresent());
        ArrowStreamConfigurationOptions o = ArrowStreamConfigurationOptions.builder()
                .setMaxInflightBatches(500).setRecovery(false).setConnectionTimeoutMs(0)
                .setIpcCompression(IpcCompression.ZSTD).build();
        assertEquals(500, o.maxInflightBatches().getAsLong());
        assertEquals(false, o.recovery().get());
        assertEquals(0, o.connectionTimeoutMs().getAsLong());
        assertEquals(IpcCompression.ZSTD, o.ipcCompression().get());
        assertEquals(500, o.toBuilder().build().maxInflightBatches().getAsLong());
        long[] n = o.toNative();
        assertEquals(ArrowStreamConfigurationOptions.COUNT + 1, n.length);
        assertEquals(500, n[ArrowStreamConfigurationOptions.MAX_INFLIGHT_BATCHES]);
    }
}
