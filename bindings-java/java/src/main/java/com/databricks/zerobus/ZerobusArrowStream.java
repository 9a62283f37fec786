package com.databricks.zerobus;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.Objects;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * A stream of Arrow record batches into one table (Arrow Flight), from
 * {@link ZerobusSdk#createArrowStream}. Thread-safe: every method may be called from any thread.
 *
 * <p>Each ingest call gets one offset, whatever the number of rows or batches it carries; it
 * returns once the call is queued (blocking only while the in-flight bounds are reached), not
 * once it is acked: use {@link #waitForOffset} or {@link #flush} for durability. Batches must have
 * the stream's columns, in order, with the same Arrow types (a table's STRING is {@code
 * LargeUtf8}, INT {@code Int32}, BIGINT {@code Int64}, …; a NOT NULL column may be declared
 * nullable if it holds no nulls); a batch that does not fit fails its call with
 * {@link ErrorCode#INVALID_RECORD} naming the column, nothing of it is queued, and the stream
 * carries on.
 *
 * <p>Arrow data crosses as IPC bytes ({@link #ingestIpc(byte[])}, no Arrow library needed) or,
 * with Arrow Java on the classpath, as a {@code VectorSchemaRoot} through the Arrow C Data
 * Interface ({@link #ingestBatch(VectorSchemaRoot)}). {@link #close()} flushes, closes and stops
 * callbacks; the native stream is freed when this object is unreachable.
 */
public final class ZerobusArrowStream implements AutoCloseable {
    private final State state;
    private final Cleaner.Cleanable cleanable;
    private final long handle;
    private final String tableName;
    /**
     * The last batch schema {@link ArrowCData} wrote as IPC: {Arrow Java Schema, its bytes}, so a
     * stream's batches write it once, not per call. Typed Object so this class never loads Arrow Java.
     */
    volatile Object[] lastSchema;

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
            NativeBindings.arrowFree(stream);
            releaseCallbacks();
        }
    }

    ZerobusArrowStream(long handle, long ackRef, long headersRef, String tableName) {
        this.handle = handle;
        this.state = new State(handle, ackRef, headersRef);
        this.cleanable = ZerobusSdk.CLEANER.register(this, state);
        this.tableName = tableName;
    }

    /** The table this stream writes to. */
    public String getTableName() {
        return tableName;
    }

    /**
     * Queues an Arrow IPC <em>stream</em> (a schema message, then one or more record batches, as
     * Arrow Java's {@code ArrowStreamWriter} writes it) under one offset and returns the offset.
     * The batches are sent as they are, without re-encoding (their body compression is kept);
     * each is checked against the stream's schema first.
     */
    public long ingestIpc(byte[] ipc) throws ZerobusException {
        Objects.requireNonNull(ipc, "ipc");
        return ingestIpc(ipc, 0, ipc.length);
    }

    /** {@link #ingestIpc(byte[])} of {@code len} bytes of {@code ipc} from {@code off}. */
    public long ingestIpc(byte[] ipc, int off, int len) throws ZerobusException {
        Objects.checkFromIndexSize(off, len, ipc.length);
        try {
            return NativeBindings.arrowIngestIpc(handle, ipc, off, len);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * {@link #ingestIpc(byte[])} of the buffer's remaining bytes (its position is not moved). A
     * direct buffer is read in place, with no copy on the Java side; a heap buffer is copied once.
     */
    public long ingestIpc(ByteBuffer ipc) throws ZerobusException {
        int off = ipc.position();
        int len = ipc.remaining();
        if (!ipc.isDirect()) {
            if (ipc.hasArray()) {
                return ingestIpc(ipc.array(), ipc.arrayOffset() + off, len);
            }
            byte[] copy = new byte[len];
            ipc.duplicate().get(copy);
            return ingestIpc(copy);
        }
        try {
            return NativeBindings.arrowIngestIpcDirect(handle, ipc, off, len);
        } finally {
            Reference.reachabilityFence(ipc);
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Queues the rows of {@code root} (its current row count) under one offset and returns the
     * offset. The library reads the vectors' buffers in place (handed over as their addresses in
     * one native call, or, for layouts such as dictionaries and unions, through the Arrow C Data
     * Interface), checks the batch and encodes it to Arrow IPC (with the stream's
     * {@code ipcCompression}) before this returns, and keeps nothing of them, so {@code root} may
     * be refilled or closed as soon as it returns; it must not be written while this runs.
     *
     * <p>A table's STRING column is a {@code LargeVarCharVector} ({@code LargeUtf8}), not a
     * {@code VarCharVector}. Needs Arrow Java on the classpath ({@code arrow-vector},
     * {@code arrow-c-data} with its JNI library, a memory module such as
     * {@code arrow-memory-netty}) and, on Java 16+, {@code --add-opens=java.base/java.nio=ALL-UNNAMED}.
     */
    public long ingestBatch(VectorSchemaRoot root) throws ZerobusException {
        Objects.requireNonNull(root, "root");
        // In its own class, so nothing here loads Arrow Java until this method is called.
        return ArrowCData.ingest(this, root);
    }

    /**
     * Queues the rows of {@code root} like {@link #ingestBatch} but without the copy: the root's
     * buffers are transferred out of it (Arrow Java's {@code TransferPair}) to vectors only the
     * stream holds, sent as they are, and released once the server acknowledges the rows (or the
     * call fails, or the stream is freed). {@code root} is left empty (row count 0, no buffers),
     * so refilling it (after {@code allocateNew()}) can never touch memory still in flight; that
     * is the one difference a caller sees. It saves copying each batch, about a fifth of the Arrow
     * path's cost. Layouts the library does not read in place (dictionaries, unions, ...) are
     * copied as {@link #ingestBatch} does, and {@code root} is cleared the same way.
     */
    public long ingestBatchTransfer(VectorSchemaRoot root) throws ZerobusException {
        Objects.requireNonNull(root, "root");
        return ArrowCData.ingestTransfer(this, root);
    }

    /** The no-copy column call: {@code holder} owns the buffers and is closed by the library. */
    long ingestColumnsNoCopy(byte[] schemaIpc, long[] nodes, long[] addresses, long[] lengths, AutoCloseable holder)
            throws ZerobusException {
        try {
            return NativeBindings.arrowIngestColumnsNoCopy(handle, schemaIpc, nodes, addresses, lengths, holder);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The column-buffer call of {@link ArrowCData}: the buffers stay alive (in {@code root}) until it returns. */
    long ingestColumns(byte[] schemaIpc, long[] nodes, long[] addresses, long[] lengths) throws ZerobusException {
        try {
            return NativeBindings.arrowIngestColumns(handle, schemaIpc, nodes, addresses, lengths);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The C Data Interface call of {@link ArrowCData}: the library takes both structs. */
    long ingestCData(long arrayAddress, long schemaAddress) throws ZerobusException {
        try {
            return NativeBindings.arrowIngestCData(handle, arrayAddress, schemaAddress);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Blocks until {@code offset} is acknowledged (every row of its call), the stream fails, or flush_timeout_ms passes. */
    public void waitForOffset(long offset) throws ZerobusException {
        try {
            NativeBindings.arrowWaitForOffset(handle, offset);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Blocks until every call queued so far is acknowledged, at most flush_timeout_ms. */
    public void flush() throws ZerobusException {
        try {
            NativeBindings.arrowFlush(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Flushes, ends the call, waits for the server and stops callbacks. Idempotent (a second call
     * returns the first one's result). After it returns no callback runs.
     */
    @Override
    public void close() throws ZerobusException {
        try {
            NativeBindings.arrowClose(handle);
        } finally {
            state.releaseCallbacks();
            Reference.reachabilityFence(this);
        }
    }

    /** Whether the stream no longer accepts batches (closed, failed, or its native part freed). */
    public boolean isClosed() {
        try {
            return state.freed || NativeBindings.arrowIsClosed(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The unacknowledged rows as one Arrow IPC stream: the schema, then one batch per physical
     * batch in offset order, the first starting at the first unacknowledged row (just the schema
     * when nothing is unacked). After a terminal failure, give it to {@link #ingestIpc(byte[])}
     * of a new stream.
     */
    public byte[] getUnackedIpc() throws ZerobusException {
        try {
            return NativeBindings.arrowUnackedIpc(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A snapshot of the stream's counters; {@code inflightRecords} and {@code recordsSent} count rows. */
    public StreamMetrics getMetrics() throws ZerobusException {
        try {
            return StreamMetrics.fromNative(NativeBindings.arrowMetrics(handle));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Frees the native stream now (see {@link ZerobusStream}); later calls fail with INVALID_ARGUMENT. */
    void free() {
        cleanable.clean();
    }
}
