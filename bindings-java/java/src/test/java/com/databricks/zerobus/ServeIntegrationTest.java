package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.ref.WeakReference;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** End to end against the repository's `zerobus serve` (built by `make java-test`; never skipped). */
class ServeIntegrationTest {
    static final String JSON_TABLE = "main.default.json_table";
    static Serve srv;

    @BeforeAll
    static void startServe() throws Exception {
        srv = Serve.start();
    }

    @AfterAll
    static void stopServe() throws Exception {
        if (srv != null) {
            srv.close();
        }
    }

    static ZerobusSdk sdk() throws ZerobusException {
        return srv.sdk();
    }

    static String record(int i) {
        return "{\"n\":" + i + ",\"text\":\"record " + i + "\"}";
    }

    static final class Recorder implements AckCallback {
        final List<Long> acks = Collections.synchronizedList(new ArrayList<>());
        final List<Long> errors = Collections.synchronizedList(new ArrayList<>());
        final Set<Thread> threads = Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
        volatile boolean throwOnAck;

        @Override
        public void onAck(long offset) {
            threads.add(Thread.currentThread());
            acks.add(offset);
            if (throwOnAck) {
                throw new IllegalStateException("thrown by the test's ack callback");
            }
        }

        @Override
        public void onError(long offset, String message) {
            errors.add(offset);
        }
    }

    @Test
    void ingestsEveryWayAndAcksInOrder() throws Exception {
        Recorder rec = new Recorder();
        StreamConfigurationOptions options = StreamConfigurationOptions.builder().setFlushTimeoutMs(20_000)
                .setAckCallback(rec).build();
        try (ZerobusSdk sdk = sdk()) {
            ZerobusStream stream = sdk.createJsonStream(JSON_TABLE, srv.clientId(),
                    srv.clientSecret(), options).get(30, TimeUnit.SECONDS);
            assertEquals(RecordType.JSON, stream.getRecordType());
            assertEquals(0, stream.ingestRecordOffset(record(0)));
            assertEquals(1, stream.ingestRecordOffset(record(1).getBytes(StandardCharsets.UTF_8)));
            // One contiguous buffer plus lengths: one offset.
            byte[] a = record(2).getBytes(StandardCharsets.UTF_8);
            byte[] b = record(3).getBytes(StandardCharsets.UTF_8);
            byte[] both = new byte[a.length + b.length];
            System.arraycopy(a, 0, both, 0, a.length);
            System.arraycopy(b, 0, both, a.length, b.length);
            assertEquals(Optional.of(2L), stream.ingestRecordsOffset(both, new int[] {a.length, b.length}));
            ByteBuffer direct = ByteBuffer.allocateDirect(both.length);
            direct.put(both).flip();
            assertEquals(Optional.of(3L), stream.ingestRecordsOffset(direct, new int[] {a.length, b.length}));
            assertEquals(Optional.of(4L), stream.ingestRecordsOffset(List.of(record(4), record(5), record(6))));
            assertEquals(Optional.empty(), stream.ingestRecordsOffset(List.of()));
            ByteBuffer one = ByteBuffer.allocateDirect(a.length);
            one.put(a).flip();
            assertEquals(5, stream.ingestRecordOffset(one));
            for (int i = 0; i < 1000; i++) {
                stream.ingestRecordNowait(record(100 + i));
            }
            stream.ingestRecordsNowait(List.of(record(7), record(8)));
            assertEquals(1007, stream.tryIngestRecordOffset(record(9)));
            stream.waitForOffset(1007);
            stream.flush();
            StreamMetrics m = stream.getMetrics();
            assertEquals(1007, m.lastAckedOffset());
            assertEquals(0, m.inflightRequests());
            assertTrue(stream.getUnackedRecords().isEmpty());
            assertTrue(stream.getUnackedBatches().isEmpty());
            stream.close();
            stream.close(); // idempotent
            assertTrue(stream.isClosed());
            List<Long> expected = new ArrayList<>();
            for (long i = 0; i <= 1007; i++) {
                expected.add(i);
            }
            assertEquals(expected, rec.acks);
            assertTrue(rec.errors.isEmpty());
            // Attached once, not per call: a handful of library threads delivered 1,008 acks.
            assertTrue(rec.threads.size() <= 64, "callback threads: " + rec.threads.size());
            for (Thread t : rec.threads) {
                assertTrue(t.isDaemon(), t + " is not a daemon thread");
            }
            ZerobusException closed = assertThrows(ZerobusException.class, () -> stream.ingestRecordOffset(record(1)));
            assertEquals(ErrorCode.STREAM_CLOSED, closed.getCode());
            assertInstanceOf(NonRetriableException.class, closed);
            ZerobusException closedBatch = assertThrows(ZerobusException.class,
                    () -> stream.ingestRecordsOffset(List.of(record(1), record(2))));
            assertEquals(ErrorCode.STREAM_CLOSED, closedBatch.getCode());
        }
    }

    @Test
    void aThrowingCallbackDoesNotHurtTheStream() throws Exception {
        Recorder rec = new Recorder();
        rec.throwOnAck = true;
        StreamConfigurationOptions options = StreamConfigurationOptions.builder().setAckCallback(rec).build();
        try (ZerobusSdk sdk = sdk()) {
            ZerobusStream stream = sdk.createJsonStream(JSON_TABLE, srv.clientId(),
                    srv.clientSecret(), options).join();
            for (int i = 0; i < 10; i++) {
                assertEquals(i, stream.ingestRecordOffset(record(i)));
            }
            stream.flush();
            stream.close();
            assertEquals(10, rec.acks.size());
            assertEquals(9, stream.getMetrics().lastAckedOffset());
        }
    }

    /** close() drops the stream's global references: the callback becomes collectable at once. */
    @Test
    void noGlobalReferenceIsKeptAfterClose() throws Exception {
        try (ZerobusSdk sdk = sdk()) {
            AtomicInteger acked = new AtomicInteger();
            AckCallback cb = offset -> acked.incrementAndGet();
            WeakReference<AckCallback> weakCb = new WeakReference<>(cb);
            ZerobusStream stream = sdk.createJsonStream(JSON_TABLE, srv.clientId(),
                    srv.clientSecret(), StreamConfigurationOptions.builder().setAckCallback(cb).build())
                    .join();
            cb = null;
            stream.ingestRecordOffset(record(1));
            stream.flush();
            stream.close();
            for (int i = 0; i < 50 && weakCb.get() != null; i++) {
                System.gc();
                Thread.sleep(20);
            }
            assertNull(weakCb.get(), "the ack callback is still referenced after close()");
            assertEquals(1, acked.get());
            assertTrue(stream.isClosed()); // the stream itself stays usable for queries
        }
    }

    @Test
    void headersProviderIsAskedPerConnection() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        try (ZerobusSdk sdk = sdk()) {
            // The provider throws: each connection attempt fails (UNAVAILABLE, nothing printed), creation fails.
            HeadersProvider failing = () -> {
                calls.incrementAndGet();
                throw new IllegalStateException("thrown by the test's headers provider");
            };
            StreamConfigurationOptions options = StreamConfigurationOptions.builder().setRecoveryRetries(1)
                    .setRecoveryBackoffMs(10).setRecoveryTimeoutMs(2000).build();
            HeadersProvider[] holder = {failing};
            CompletionException e = assertThrows(CompletionException.class,
                    () -> sdk.createJsonStream(JSON_TABLE, holder[0], options).join());
            assertInstanceOf(ZerobusException.class, e.getCause());
            assertTrue(calls.get() >= 1, "the headers provider was never called");
            // Creation failed: the library released the provider, nothing keeps it alive.
            WeakReference<HeadersProvider> weak = new WeakReference<>(failing);
            failing = null;
            holder[0] = null;
            for (int i = 0; i < 50 && weak.get() != null; i++) {
                System.gc();
                Thread.sleep(20);
            }
            assertNull(weak.get(), "the headers provider is still referenced after a failed create");
        }
    }

    @Test
    void badCredentialsFailTheFutureWithANonRetriableError() throws Exception {
        try (ZerobusSdk sdk = sdk()) {
            CompletionException e = assertThrows(CompletionException.class,
                    () -> sdk.createJsonStream(JSON_TABLE, srv.clientId(), "wrong-secret").join());
            ZerobusException z = assertInstanceOf(ZerobusException.class, e.getCause());
            assertEquals(ErrorCode.UNAUTHENTICATED, z.getCode());
            assertFalse(z.isRetryable());
            assertInstanceOf(NonRetriableException.class, z);
        }
    }

    @Test
    void aClosedSdkRefusesNewStreams() throws Exception {
        ZerobusSdk sdk = sdk();
        sdk.close();
        sdk.close();
        CompletionException e = assertThrows(CompletionException.class,
                () -> sdk.createJsonStream(JSON_TABLE, "a", "b").join());
        assertEquals(ErrorCode.INVALID_ARGUMENT, ((ZerobusException) e.getCause()).getCode());
    }
}
