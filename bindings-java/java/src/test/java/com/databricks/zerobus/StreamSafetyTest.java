package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.Empty;
import com.google.protobuf.MessageLite;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Every public stream method on a closed stream, on a freed stream, and racing a close / free
 * from other threads: each call returns or throws a clean {@link ZerobusException}, never crashes
 * the JVM or leaves a Java exception pending in native code. Also bad handles through the JNI
 * shim, a throwing callback, the headers provider's codes and options the library rejects.
 */
class StreamSafetyTest {
    static final String JSON_TABLE = "main.default.json_table";
    static Serve srv;

    @BeforeAll
    static void start() throws Exception {
        srv = Serve.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (srv != null) {
            srv.close();
        }
    }

    static String record(int i) {
        return "{\"n\":" + i + "}";
    }

    static ZerobusStream open(ZerobusSdk sdk, StreamConfigurationOptions options) throws Exception {
        return sdk.createJsonStream(JSON_TABLE, srv.clientId(), srv.clientSecret(), options).get(30, TimeUnit.SECONDS);
    }

    static ZerobusException fails(ErrorCode code, Executable call) {
        ZerobusException e = assertThrows(ZerobusException.class, call);
        assertEquals(code, e.getCode(), e.toString());
        assertFalse(e.getMessage().isEmpty());
        return e;
    }

    /** Every ingest overload on a JSON stream (text and bytes), each expected to fail with {@code code}. */
    static void everyIngestFails(ZerobusStream s, ErrorCode code) {
        everyIngestFails(s, code, record(1), record(1).getBytes(StandardCharsets.UTF_8), Empty.getDefaultInstance());
    }

    /**
     * Every ingest overload, each expected to fail with {@code code}: {@code text} for the String
     * forms, {@code b} for the byte forms, {@code msg} for the MessageLite forms (null: skipped).
     */
    static void everyIngestFails(ZerobusStream s, ErrorCode code, String text, byte[] b, MessageLite msg) {
        ByteBuffer direct = ByteBuffer.allocateDirect(b.length).put(b).flip();
        ByteBuffer heap = ByteBuffer.wrap(b);
        int[] one = {b.length};
        if (text != null) {
            fails(code, () -> s.ingestRecordOffset(text));
            fails(code, () -> s.tryIngestRecordOffset(text));
            fails(code, () -> s.ingestRecordNowait(text));
            fails(code, () -> s.ingestRecordsOffset(List.of(text, text)));
            fails(code, () -> s.tryIngestRecordsOffset(List.of(text)));
            fails(code, () -> s.ingestRecordsNowait(List.of(text)));
        }
        if (msg != null) {
            fails(code, () -> s.ingestRecordOffset(msg));
            fails(code, () -> s.tryIngestRecordOffset(msg));
            fails(code, () -> s.ingestRecordNowait(msg));
            fails(code, () -> s.ingestRecordsOffset(List.of(msg)));
        }
        fails(code, () -> s.ingestRecordOffset(b));
        fails(code, () -> s.ingestRecordOffset(b, 0, b.length));
        fails(code, () -> s.ingestRecordOffset(direct));
        fails(code, () -> s.ingestRecordOffset(heap));
        fails(code, () -> s.tryIngestRecordOffset(b));
        fails(code, () -> s.ingestRecordNowait(b));
        fails(code, () -> s.ingestRecordNowait(direct));
        fails(code, () -> s.ingestRecordsOffset(b, one));
        fails(code, () -> s.ingestRecordsOffset(direct, one));
        fails(code, () -> s.ingestRecordsOffset(List.of(b)));
        fails(code, () -> s.tryIngestRecordsOffset(b, one));
        fails(code, () -> s.ingestRecordsNowait(b, one));
        fails(code, () -> s.ingestRecordsNowait(direct, one));
    }

    static DescriptorProto eventDescriptor() {
        return DescriptorProto.newBuilder().setName("Event")
                .addField(FieldDescriptorProto.newBuilder().setName("id").setNumber(1)
                        .setType(FieldDescriptorProto.Type.TYPE_INT64).setLabel(FieldDescriptorProto.Label.LABEL_OPTIONAL))
                .build();
    }

    static ZerobusStream openProto(ZerobusSdk sdk) throws Exception {
        return sdk.createProtoStream("main.default.proto_table", eventDescriptor().toByteArray(), srv.clientId(),
                srv.clientSecret(), StreamConfigurationOptions.getDefault()).get(30, TimeUnit.SECONDS);
    }

    @Test
    void closedStreamFailsIngestWithStreamClosedAndAnswersTheRest() throws Exception {
        try (ZerobusSdk sdk = srv.sdk()) {
            ZerobusStream s = open(sdk, StreamConfigurationOptions.getDefault());
            assertEquals(0, s.ingestRecordOffset(record(0)));
            s.close();
            everyIngestFails(s, ErrorCode.STREAM_CLOSED, record(1), record(1).getBytes(StandardCharsets.UTF_8), null);
            // Documented answers after close: idempotent close, acked offsets and flush succeed,
            // a never-assigned offset is INVALID_ARGUMENT, the queries still work.
            assertDoesNotThrow(s::close);
            assertDoesNotThrow(() -> s.waitForOffset(0));
            assertDoesNotThrow(s::flush);
            fails(ErrorCode.INVALID_ARGUMENT, () -> s.waitForOffset(5));
            fails(ErrorCode.INVALID_ARGUMENT, () -> s.waitForOffset(-1));
            assertTrue(s.isClosed());
            assertEquals(0, s.getMetrics().lastAckedOffset());
            assertTrue(s.getUnackedRecords().isEmpty());
            assertTrue(s.getUnackedBatches().isEmpty());
            // An empty batch queues nothing, but on a closed stream it fails like any call.
            ZerobusException empty = assertThrows(ZerobusException.class, () -> s.ingestRecordsOffset(List.of()));
            assertEquals(ErrorCode.STREAM_CLOSED, empty.getCode(), empty.toString());
            // A closed PROTO stream: the MessageLite forms too.
            ZerobusStream p = openProto(sdk);
            p.close();
            everyIngestFails(p, ErrorCode.STREAM_CLOSED, null, new byte[] {8, 7}, Empty.getDefaultInstance());
        }
    }

    @Test
    void freedStreamFailsEveryCallCleanly() throws Exception {
        try (ZerobusSdk sdk = srv.sdk()) {
            // Closed, then freed.
            ZerobusStream closed = open(sdk, StreamConfigurationOptions.getDefault());
            closed.ingestRecordOffset(record(0));
            closed.close();
            closed.free();
            assertFreed(closed);
            // Freed while open (stops it, abandons what is in flight).
            ZerobusStream open = open(sdk, StreamConfigurationOptions.getDefault());
            open.ingestRecordNowait(record(0));
            open.free();
            assertFreed(open);
            open.free(); // idempotent
            closed.free();
        }
    }

    static void assertFreed(ZerobusStream s) {
        everyIngestFails(s, ErrorCode.INVALID_ARGUMENT);
        ZerobusException e = fails(ErrorCode.INVALID_ARGUMENT, s::flush);
        assertTrue(e.getMessage().contains("freed"), e.getMessage());
        fails(ErrorCode.INVALID_ARGUMENT, () -> s.waitForOffset(0));
        fails(ErrorCode.INVALID_ARGUMENT, s::close);
        fails(ErrorCode.INVALID_ARGUMENT, s::getMetrics);
        fails(ErrorCode.INVALID_ARGUMENT, s::getUnackedRecords);
        fails(ErrorCode.INVALID_ARGUMENT, s::getUnackedBatches);
        assertTrue(s.isClosed());
    }

    /** Handles the library never issued, straight through the JNI shim. */
    @Test
    void forgedHandlesAreInvalidArgument() {
        for (long forged : new long[] {0L, 1L, 0x1234L, -1L, Long.MIN_VALUE, 0x0300_0000_0000_0001L}) {
            fails(ErrorCode.INVALID_ARGUMENT, () -> NativeBindings.flush(forged));
            fails(ErrorCode.INVALID_ARGUMENT, () -> NativeBindings.ingest(forged, new byte[] {'{', '}'}, 0, 2, 0));
            fails(ErrorCode.INVALID_ARGUMENT, () -> NativeBindings.metrics(forged));
            fails(ErrorCode.INVALID_ARGUMENT, () -> NativeBindings.unacked(forged, false));
            assertFalse(NativeBindings.isClosed(forged));
            NativeBindings.streamFree(forged); // a no-op
            NativeBindings.sdkFree(forged);
            // A headers handle outside a provider call is ignored.
            NativeBindings.headersAdd(forged, NativeBindings.cstr("a"), NativeBindings.cstr("b"));
            NativeBindings.headersSetError(forged, NativeBindings.cstr("x"));
        }
    }

    /**
     * Producers on every ingest form race a close and then a free: each call returns an offset or
     * throws a ZerobusException (STREAM_CLOSED, QUEUE_FULL, INVALID_ARGUMENT after the free);
     * nothing else escapes and the JVM survives.
     */
    @Test
    void ingestRacingCloseAndFreeOnlyThrowsZerobusExceptions() throws Exception {
        for (int round = 0; round < 3; round++) {
            try (ZerobusSdk sdk = srv.sdk()) {
                AtomicInteger acked = new AtomicInteger();
                ZerobusStream s = open(sdk, StreamConfigurationOptions.builder().setMaxInflightRequests(64)
                        .setAckCallback(new AckCallback() {
                            @Override
                            public void onAck(long offset) {
                                acked.incrementAndGet();
                                throw new IllegalStateException("the test's callback throws on every ack");
                            }
                        }).build());
                int producers = 8;
                CountDownLatch started = new CountDownLatch(producers);
                List<Throwable> unexpected = Collections.synchronizedList(new ArrayList<>());
                Set<ErrorCode> seen = Collections.synchronizedSet(EnumSet.noneOf(ErrorCode.class));
                List<Thread> threads = new ArrayList<>();
                for (int p = 0; p < producers; p++) {
                    int kind = p;
                    Thread t = new Thread(() -> {
                        started.countDown();
                        byte[] b = record(kind).getBytes(StandardCharsets.UTF_8);
                        ByteBuffer direct = ByteBuffer.allocateDirect(b.length).put(b).flip();
                        for (int i = 0; i < 4000; i++) {
                            try {
                                switch ((kind + i) % 8) {
                                    case 0: s.ingestRecordOffset(record(i)); break;
                                    case 1: s.ingestRecordNowait(b); break;
                                    case 2: s.tryIngestRecordOffset(record(i)); break;
                                    case 3: s.ingestRecordsOffset(List.of(record(i), record(i + 1))); break;
                                    case 4: s.ingestRecordsOffset(direct, new int[] {b.length}); break;
                                    case 5: s.getMetrics(); s.isClosed(); break;
                                    case 6: s.getUnackedBatches(); break;
                                    default: s.flush(); break;
                                }
                            } catch (ZerobusException e) {
                                seen.add(e.getCode());
                                if (e.getCode() == ErrorCode.INVALID_ARGUMENT && !e.getMessage().contains("freed")) {
                                    unexpected.add(e);
                                }
                            } catch (Throwable e) {
                                unexpected.add(e);
                            }
                        }
                    });
                    threads.add(t);
                    t.start();
                }
                started.await();
                Thread.sleep(20 + 30 * round);
                try {
                    s.close();
                } catch (ZerobusException e) {
                    seen.add(e.getCode());
                }
                Thread.sleep(10);
                s.free();
                for (Thread t : threads) {
                    t.join(60_000);
                    assertFalse(t.isAlive(), "a producer is stuck");
                }
                assertTrue(unexpected.isEmpty(), "unexpected: " + unexpected);
                assertTrue(seen.contains(ErrorCode.STREAM_CLOSED) || seen.contains(ErrorCode.INVALID_ARGUMENT),
                        "no call saw the close: " + seen);
                Set<ErrorCode> allowed = EnumSet.of(ErrorCode.STREAM_CLOSED, ErrorCode.QUEUE_FULL,
                        ErrorCode.INVALID_ARGUMENT);
                assertTrue(allowed.containsAll(seen), "codes: " + seen);
                assertTrue(s.isClosed());
            }
        }
    }

    @Test
    void stringsOnAProtoStreamAreInvalidRecordForThatCallOnly() throws Exception {
        try (ZerobusSdk sdk = srv.sdk()) {
            ZerobusStream s = openProto(sdk);
            String json = "{\"id\":1}";
            ZerobusException e = fails(ErrorCode.INVALID_RECORD, () -> s.ingestRecordOffset(json));
            assertFalse(e.isRetryable());
            assertTrue(e.getMessage().contains("PROTO"), e.getMessage());
            fails(ErrorCode.INVALID_RECORD, () -> s.tryIngestRecordOffset(json));
            fails(ErrorCode.INVALID_RECORD, () -> s.ingestRecordNowait(json));
            ZerobusException batch = fails(ErrorCode.INVALID_RECORD, () -> s.ingestRecordsOffset(List.of(json, json)));
            assertTrue(batch.getMessage().contains("record 0"), batch.getMessage());
            fails(ErrorCode.INVALID_RECORD, () -> s.tryIngestRecordsOffset(List.of(json)));
            fails(ErrorCode.INVALID_RECORD, () -> s.ingestRecordsNowait(List.of(json)));
            // The stream carries on: bytes go as encoded messages (field 1 = 7).
            assertEquals(0, s.ingestRecordOffset(new byte[] {8, 7}));
            s.flush();
            s.close();
        }
    }

    // ---------- headers provider ----------

    static ZerobusException createFails(ZerobusSdk sdk, HeadersProvider provider, StreamConfigurationOptions o) {
        CompletionException c = assertThrows(CompletionException.class,
                () -> sdk.createJsonStream(JSON_TABLE, provider, o).join());
        return assertInstanceOf(ZerobusException.class, c.getCause());
    }

    @Test
    void headersProviderZerobusExceptionKeepsItsCodeAndMessage() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        try (ZerobusSdk sdk = srv.sdk()) {
            ZerobusException e = createFails(sdk, () -> {
                calls.incrementAndGet();
                throw new NonRetriableException(ErrorCode.UNAUTHENTICATED, "no credentials in the vault");
            }, StreamConfigurationOptions.builder().setRecoveryRetries(3).setRecoveryBackoffMs(10).build());
            assertEquals(ErrorCode.UNAUTHENTICATED, e.getCode());
            assertFalse(e.isRetryable());
            assertEquals(-1, e.getGrpcStatus());
            assertTrue(e.getMessage().contains("no credentials in the vault"), e.getMessage());
            assertTrue(e.getMessage().contains("headers provider"), e.getMessage());
            assertEquals(1, calls.get(), "UNAUTHENTICATED is final: asked once");
        }
    }

    @Test
    void headersProviderOtherExceptionIsUnavailableAndRetried() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        try (ZerobusSdk sdk = srv.sdk()) {
            ZerobusException e = createFails(sdk, () -> {
                calls.incrementAndGet();
                throw new IllegalStateException("vault unreachable");
            }, StreamConfigurationOptions.builder().setRecoveryRetries(3).setRecoveryBackoffMs(10).build());
            assertEquals(ErrorCode.UNAVAILABLE, e.getCode());
            assertTrue(e.isRetryable());
            assertTrue(e.getMessage().contains("vault unreachable"), e.getMessage());
            assertTrue(e.getMessage().contains("IllegalStateException"), e.getMessage());
            assertEquals(3, calls.get(), "UNAVAILABLE is retried within the budget");
        }
    }

    @Test
    void headersProviderNullMapOrNullValueIsInvalidArgument() throws Exception {
        try (ZerobusSdk sdk = srv.sdk()) {
            StreamConfigurationOptions o = StreamConfigurationOptions.builder().setRecoveryRetries(1).build();
            ZerobusException e = createFails(sdk, () -> null, o);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.getCode());
            assertTrue(e.getMessage().contains("returned null"), e.getMessage());
            Map<String, String> withNull = new java.util.HashMap<>();
            withNull.put("authorization", null);
            ZerobusException v = createFails(sdk, () -> withNull, o);
            assertEquals(ErrorCode.INVALID_ARGUMENT, v.getCode());
        }
    }

    // ---------- options the library rejects ----------

    @Test
    void outOfRangeOptionsFailTheCreateWithTheOptionNamed() throws Exception {
        try (ZerobusSdk sdk = srv.sdk()) {
            Object[][] cases = {
                {StreamConfigurationOptions.builder().setFlushTimeoutMs(-1).build(), "flush_timeout_ms", "negative"},
                {StreamConfigurationOptions.builder().setRecoveryBackoffMaxMs(-1).build(), "recovery_backoff_max_ms",
                    "negative"},
                {StreamConfigurationOptions.builder().setRecoveryRetries(-5).build(), "recovery_retries", "between"},
                {StreamConfigurationOptions.builder().setRecoveryBackoffMs(500).setRecoveryBackoffMaxMs(100).build(),
                    "recovery_backoff_max_ms", "below"},
                {StreamConfigurationOptions.builder().setMaxInflightRequests(-3).build(), "max_inflight_requests",
                    "negative"},
            };
            for (Object[] c : cases) {
                CompletionException ce = assertThrows(CompletionException.class,
                        () -> sdk.createJsonStream(JSON_TABLE, srv.clientId(), srv.clientSecret(),
                                (StreamConfigurationOptions) c[0]).join());
                ZerobusException e = assertInstanceOf(ZerobusException.class, ce.getCause());
                assertEquals(ErrorCode.INVALID_ARGUMENT, e.getCode(), e.toString());
                assertTrue(e.getMessage().contains((String) c[1]), e.getMessage());
                assertTrue(e.getMessage().contains((String) c[2]), e.getMessage());
            }
        }
    }
}
