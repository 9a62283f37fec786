package com.databricks.zerobus;

import com.google.protobuf.MessageLite;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * An open stream into one table. Thread-safe: every method may be called from any thread.
 *
 * <p>A {@code String} record is JSON text: it goes to the library as text, so on a PROTO stream
 * that call fails with {@link ErrorCode#INVALID_RECORD} (the stream carries on); encode it first
 * — unless the stream was created from its table ({@link ZerobusSdk#createStreamFromTable},
 * {@link #getTableSchema()} present): the library then encodes the text to proto by the columns'
 * types, and a record that does not fit fails its call with an error naming the record's index
 * and the column path ({@code loc.lat: expected DOUBLE, got string "north"}), with nothing of
 * the call queued. A {@code Map<String, Object>} record is written as JSON text here (see
 * {@code JsonWriter} for the value types it takes: nested maps and lists, numbers, strings,
 * booleans, null, {@code BigDecimal}, {@code Instant}, {@code LocalDate}, {@code byte[]}, …) and
 * goes the same way: encoded by the table's columns on a stream created from its table, as JSON
 * on a JSON stream. Bytes ({@code byte[]}, {@link ByteBuffer}, a {@link MessageLite}) are read as
 * the stream's record type: an encoded message on a PROTO stream, UTF-8 JSON on a JSON stream. A
 * batch given as an {@code Iterable} that holds any {@code String} or {@code Map} goes as JSON
 * text. Blocking calls block
 * only while the in-flight bounds are reached. A batch ({@code ingestRecords*}) crosses into the
 * library in one call as one contiguous buffer plus lengths and gets one offset.
 *
 * <p>{@link #close()} flushes, closes and stops callbacks; afterwards the stream still answers
 * {@link #isClosed()}, {@link #getMetrics()} and the unacked queries, and ingest fails with
 * {@link ErrorCode#STREAM_CLOSED}. The native stream is freed when this object is unreachable;
 * a call on a stream whose native part was freed fails with {@link ErrorCode#INVALID_ARGUMENT}
 * (the library refuses the stale handle), never crashes.
 */
public final class ZerobusStream implements AutoCloseable {
    private final State state;
    private final Cleaner.Cleanable cleanable;
    private final long handle;
    private final RecordType recordType;
    private final String tableName;
    private volatile TableSchema tableSchema;

    /** Native resources: the stream handle and the Java side's share of the callback references. */
    private static final class State implements Runnable {
        private final long stream;
        private long ackRef;
        private long headersRef;
        private volatile boolean freed;

        State(long stream, long ackRef, long headersRef) {
            this.stream = stream;
            this.ackRef = ackRef;
            this.headersRef = headersRef;
        }

        /** Deletes the global references to the callbacks (no callback runs after close). */
        synchronized void releaseCallbacks() {
            if (ackRef != 0) {
                NativeBindings.refRelease(ackRef);
                ackRef = 0;
            }
            if (headersRef != 0) {
                NativeBindings.refRelease(headersRef);
                headersRef = 0;
            }
        }

        @Override
        public void run() {
            freed = true;
            NativeBindings.streamFree(stream);
            releaseCallbacks();
        }
    }

    ZerobusStream(long handle, long ackRef, long headersRef, RecordType recordType, String tableName) {
        this.handle = handle;
        this.state = new State(handle, ackRef, headersRef);
        this.cleanable = ZerobusSdk.CLEANER.register(this, state);
        this.recordType = recordType;
        this.tableName = tableName;
    }

    public RecordType getRecordType() {
        return recordType;
    }

    public String getTableName() {
        return tableName;
    }

    /**
     * The table's schema when the stream was created from its table (a PROTO stream given no
     * descriptor): the library read it to open the stream and encodes JSON and {@code Map}
     * records by it. Empty for any other stream.
     */
    public Optional<TableSchema> getTableSchema() {
        return Optional.ofNullable(tableSchema);
    }

    void setTableSchema(TableSchema schema) {
        this.tableSchema = schema;
    }

    /**
     * The server's id for the stream's current connection (it changes when the stream
     * reconnects; empty if the server gave none, or once the native stream was freed).
     */
    public String getStreamId() {
        try {
            return new String(NativeBindings.streamId(handle), StandardCharsets.UTF_8);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    // ---------- single records ----------

    /**
     * Queues one JSON record (text) and returns its offset. On a PROTO stream it fails with
     * {@link ErrorCode#INVALID_RECORD} and queues nothing.
     */
    public long ingestRecordOffset(String json) throws ZerobusException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        return one(b, 0, b.length, NativeBindings.MODE_OFFSET | NativeBindings.MODE_TEXT);
    }

    /** Queues one record given as bytes (read as the stream's record type) and returns its offset. */
    public long ingestRecordOffset(byte[] record) throws ZerobusException {
        return one(record, 0, record.length, NativeBindings.MODE_OFFSET);
    }

    /** Queues {@code len} bytes of {@code record} from {@code off} as one record. */
    public long ingestRecordOffset(byte[] record, int off, int len) throws ZerobusException {
        return one(record, off, len, NativeBindings.MODE_OFFSET);
    }

    /** Queues the remaining bytes of {@code record} (its position is not changed). */
    public long ingestRecordOffset(ByteBuffer record) throws ZerobusException {
        return one(record, NativeBindings.MODE_OFFSET);
    }

    /** Queues one protobuf message. */
    public long ingestRecordOffset(MessageLite record) throws ZerobusException {
        return ingestRecordOffset(record.toByteArray());
    }

    /**
     * Queues one record given as a map (column name → value; nested maps and lists for STRUCT,
     * MAP and ARRAY columns) and returns its offset. The map is written as JSON text here and
     * encoded by the library: by the table's column types on a stream created from its table, as
     * JSON on a JSON stream; on a PROTO stream opened with a descriptor it fails with
     * {@link ErrorCode#INVALID_RECORD}. A value that does not fit its column (or has no JSON
     * form) fails the call with {@link ErrorCode#INVALID_RECORD} naming the column path; nothing
     * is queued.
     */
    public long ingestRecordOffset(Map<String, ?> record) throws ZerobusException {
        return object(record, NativeBindings.MODE_OFFSET);
    }

    /** Like {@link #ingestRecordOffset(Map)} but never blocks: {@link ErrorCode#QUEUE_FULL} instead. */
    public long tryIngestRecordOffset(Map<String, ?> record) throws ZerobusException {
        return object(record, NativeBindings.MODE_TRY);
    }

    /** {@link #ingestRecordOffset(Map)} without the offset, accounted the same way. */
    public void ingestRecordNowait(Map<String, ?> record) throws ZerobusException {
        object(record, NativeBindings.MODE_NOWAIT);
    }

    private long object(Map<String, ?> record, int mode) throws ZerobusException {
        JsonWriter w = JsonWriter.get();
        w.record(Objects.requireNonNull(record, "record"), -1);
        return one(w.buf(), 0, w.size(), mode | NativeBindings.MODE_TEXT);
    }

    /** Like {@link #ingestRecordOffset(String)} but never blocks: {@link ErrorCode#QUEUE_FULL} instead. */
    public long tryIngestRecordOffset(String json) throws ZerobusException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        return one(b, 0, b.length, NativeBindings.MODE_TRY | NativeBindings.MODE_TEXT);
    }

    /** Like {@link #ingestRecordOffset(byte[])} but never blocks: {@link ErrorCode#QUEUE_FULL} instead. */
    public long tryIngestRecordOffset(byte[] record) throws ZerobusException {
        return one(record, 0, record.length, NativeBindings.MODE_TRY);
    }

    /** Like {@link #ingestRecordOffset(MessageLite)} but never blocks. */
    public long tryIngestRecordOffset(MessageLite record) throws ZerobusException {
        return tryIngestRecordOffset(record.toByteArray());
    }

    /**
     * Queues one record without its offset: it is queued before this returns and accounted
     * exactly like {@link #ingestRecordOffset(String)} (a failure reaches the ack callback's
     * onError, {@link #flush()} and {@link #close()}).
     */
    public void ingestRecordNowait(String json) throws ZerobusException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        one(b, 0, b.length, NativeBindings.MODE_NOWAIT | NativeBindings.MODE_TEXT);
    }

    public void ingestRecordNowait(byte[] record) throws ZerobusException {
        one(record, 0, record.length, NativeBindings.MODE_NOWAIT);
    }

    public void ingestRecordNowait(ByteBuffer record) throws ZerobusException {
        one(record, NativeBindings.MODE_NOWAIT);
    }

    public void ingestRecordNowait(MessageLite record) throws ZerobusException {
        ingestRecordNowait(record.toByteArray());
    }

    private long one(byte[] data, int off, int len, int mode) throws ZerobusException {
        Objects.checkFromIndexSize(off, len, data.length);
        try {
            return NativeBindings.ingest(handle, data, off, len, mode);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    private long one(ByteBuffer data, int mode) throws ZerobusException {
        if (!data.isDirect()) {
            if (data.hasArray()) {
                return one(data.array(), data.arrayOffset() + data.position(), data.remaining(), mode);
            }
            byte[] copy = new byte[data.remaining()];
            data.duplicate().get(copy);
            return one(copy, 0, copy.length, mode);
        }
        try {
            return NativeBindings.ingestDirect(handle, data, data.position(), data.remaining(), mode);
        } finally {
            Reference.reachabilityFence(data);
            Reference.reachabilityFence(this);
        }
    }

    // ---------- batches ----------

    /**
     * Queues a batch in one call under one offset: record {@code i} is the next
     * {@code lengths[i]} bytes of {@code data} (the lengths must add up to {@code data.length}).
     * Returns the offset, or empty for an empty batch (nothing is sent).
     */
    public Optional<Long> ingestRecordsOffset(byte[] data, int[] lengths) throws ZerobusException {
        return many(data, lengths, NativeBindings.MODE_OFFSET);
    }

    /** A batch from the remaining bytes of {@code data} (direct buffers cross without a copy in Java). */
    public Optional<Long> ingestRecordsOffset(ByteBuffer data, int[] lengths) throws ZerobusException {
        return many(data, lengths, NativeBindings.MODE_OFFSET);
    }

    /**
     * A batch of records given one by one: {@code Map<String, Object>} (written as JSON text, see
     * {@link #ingestRecordOffset(Map)}), {@code String} (JSON text), {@code byte[]},
     * {@link ByteBuffer} or {@link MessageLite} (bytes). Packed into one buffer, one call, one
     * offset. A batch holding any {@code Map} or {@code String} goes as JSON text (on a PROTO
     * stream opened with a descriptor: {@link ErrorCode#INVALID_RECORD}); a record that does not
     * fit fails the whole call, naming its index in the batch, and nothing is queued.
     */
    public Optional<Long> ingestRecordsOffset(Iterable<?> records) throws ZerobusException {
        Packed p = pack(records);
        return many(p.data, p.dataLen, p.lengths, NativeBindings.MODE_OFFSET | p.mode);
    }

    /** Like {@link #ingestRecordsOffset(byte[], int[])} but never blocks: {@link ErrorCode#QUEUE_FULL} instead. */
    public Optional<Long> tryIngestRecordsOffset(byte[] data, int[] lengths) throws ZerobusException {
        return many(data, lengths, NativeBindings.MODE_TRY);
    }

    public Optional<Long> tryIngestRecordsOffset(Iterable<?> records) throws ZerobusException {
        Packed p = pack(records);
        return many(p.data, p.dataLen, p.lengths, NativeBindings.MODE_TRY | p.mode);
    }

    /** A batch without its offset, accounted like {@link #ingestRecordsOffset(byte[], int[])}. */
    public void ingestRecordsNowait(byte[] data, int[] lengths) throws ZerobusException {
        many(data, lengths, NativeBindings.MODE_NOWAIT);
    }

    public void ingestRecordsNowait(ByteBuffer data, int[] lengths) throws ZerobusException {
        many(data, lengths, NativeBindings.MODE_NOWAIT);
    }

    public void ingestRecordsNowait(Iterable<?> records) throws ZerobusException {
        Packed p = pack(records);
        many(p.data, p.dataLen, p.lengths, NativeBindings.MODE_NOWAIT | p.mode);
    }

    private Optional<Long> many(byte[] data, int[] lengths, int mode) throws ZerobusException {
        return many(data, data.length, lengths, mode);
    }

    /** A batch of the first {@code dataLen} bytes of {@code data}. */
    private Optional<Long> many(byte[] data, int dataLen, int[] lengths, int mode) throws ZerobusException {
        long offset;
        try {
            offset = NativeBindings.ingestBatch(handle, data, 0, dataLen, lengths, lengths.length, mode);
        } finally {
            Reference.reachabilityFence(this);
        }
        return nowait(mode) || offset < 0 ? Optional.empty() : Optional.of(offset);
    }

    private static boolean nowait(int mode) {
        return (mode & ~NativeBindings.MODE_TEXT) == NativeBindings.MODE_NOWAIT;
    }

    private Optional<Long> many(ByteBuffer data, int[] lengths, int mode) throws ZerobusException {
        if (!data.isDirect()) {
            byte[] copy = new byte[data.remaining()];
            data.duplicate().get(copy);
            return many(copy, lengths, mode);
        }
        long offset;
        try {
            offset = NativeBindings.ingestBatchDirect(handle, data, data.position(), data.remaining(), lengths,
                    lengths.length, mode);
        } finally {
            Reference.reachabilityFence(data);
            Reference.reachabilityFence(this);
        }
        return nowait(mode) || offset < 0 ? Optional.empty() : Optional.of(offset);
    }

    private static final class Packed {
        /** The records back to back in {@code data[0 .. dataLen)} (this thread's {@link JsonWriter} buffer). */
        final byte[] data;
        final int dataLen;
        final int[] lengths;
        /** {@link NativeBindings#MODE_TEXT} if the batch holds a {@code String} or {@code Map}, else 0. */
        final int mode;

        Packed(byte[] data, int dataLen, int[] lengths, int mode) {
            this.data = data;
            this.dataLen = dataLen;
            this.lengths = lengths;
            this.mode = mode;
        }
    }

    /** Packs a batch into this thread's {@link JsonWriter}: maps written as JSON, the rest copied. */
    private static Packed pack(Iterable<?> records) throws ZerobusException {
        JsonWriter w = JsonWriter.get();
        int[] lengths = new int[records instanceof Collection ? ((Collection<?>) records).size() : 16];
        int n = 0;
        int mode = 0;
        for (Object r : records) {
            int start = w.size();
            if (r instanceof Map) {
                w.record((Map<?, ?>) r, n);
                mode = NativeBindings.MODE_TEXT;
            } else if (r instanceof String) {
                byte[] b = ((String) r).getBytes(StandardCharsets.UTF_8);
                w.raw(b, 0, b.length);
                mode = NativeBindings.MODE_TEXT;
            } else if (r instanceof byte[]) {
                byte[] b = (byte[]) r;
                w.raw(b, 0, b.length);
            } else if (r instanceof ByteBuffer) {
                ByteBuffer bb = ((ByteBuffer) r).duplicate();
                byte[] b = new byte[bb.remaining()];
                bb.get(b);
                w.raw(b, 0, b.length);
            } else if (r instanceof MessageLite) {
                byte[] b = ((MessageLite) r).toByteArray();
                w.raw(b, 0, b.length);
            } else {
                throw new IllegalArgumentException("a record must be a Map, String, byte[], ByteBuffer or protobuf"
                        + " message, not " + (r == null ? "null" : r.getClass().getName()));
            }
            if (n == lengths.length) {
                lengths = Arrays.copyOf(lengths, Math.max(16, 2 * n));
            }
            lengths[n++] = w.size() - start;
        }
        return new Packed(w.buf(), w.size(), n == lengths.length ? lengths : Arrays.copyOf(lengths, n), mode);
    }

    // ---------- waiting, closing, state ----------

    /** Blocks until {@code offset} is acknowledged, the stream fails, or flush_timeout_ms passes. */
    public void waitForOffset(long offset) throws ZerobusException {
        try {
            NativeBindings.waitForOffset(handle, offset);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Blocks until every record queued so far is acknowledged, at most flush_timeout_ms. */
    public void flush() throws ZerobusException {
        try {
            NativeBindings.flush(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Flushes, half-closes, waits for the server and stops callbacks. Idempotent (a second call
     * returns the first one's result). After it returns no callback runs and the stream holds no
     * reference to the callbacks or the headers provider.
     */
    @Override
    public void close() throws ZerobusException {
        try {
            NativeBindings.close(handle);
        } finally {
            state.releaseCallbacks();
            Reference.reachabilityFence(this);
        }
    }

    /** Whether the stream no longer accepts records (closed, failed, or its native part freed). */
    public boolean isClosed() {
        try {
            return state.freed || NativeBindings.isClosed(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Every unacknowledged record in offset order (what to re-ingest after a failure). */
    public List<byte[]> getUnackedRecords() throws ZerobusException {
        byte[][][] b;
        try {
            b = NativeBindings.unacked(handle, true);
        } finally {
            Reference.reachabilityFence(this);
        }
        return b.length == 0 ? Collections.emptyList() : Collections.unmodifiableList(Arrays.asList(b[0]));
    }

    /** Every unacknowledged call as a batch of records, in offset order. */
    public List<List<byte[]>> getUnackedBatches() throws ZerobusException {
        byte[][][] b;
        try {
            b = NativeBindings.unacked(handle, false);
        } finally {
            Reference.reachabilityFence(this);
        }
        List<List<byte[]>> out = new ArrayList<>(b.length);
        for (byte[][] batch : b) {
            out.add(Collections.unmodifiableList(Arrays.asList(batch)));
        }
        return Collections.unmodifiableList(out);
    }

    /** The stream's counters. Never blocks. */
    public StreamMetrics getMetrics() throws ZerobusException {
        try {
            return StreamMetrics.fromNative(NativeBindings.metrics(handle));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Frees the native stream now instead of when this object is unreachable. Call {@link #close()}
     * first: freeing an open stream stops it at once and abandons unacknowledged records. Later
     * calls fail with {@link ErrorCode#INVALID_ARGUMENT} (a call running meanwhile finishes
     * first); {@link #isClosed()} answers true. Idempotent.
     */
    void free() {
        cleanable.clean();
    }
}
