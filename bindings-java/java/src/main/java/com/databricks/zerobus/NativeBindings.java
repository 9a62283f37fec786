package com.databricks.zerobus;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The JNI entry points of libzerobus_jni (src/main/c/zerobus_jni.c). Library handles are the C
 * ABI's opaque handle values: a freed or forged one fails with INVALID_ARGUMENT, never crashes.
 * Callback references ({@code refRelease}) are the shim's own pointers, dropped once.
 */
final class NativeBindings {
    static final int MODE_OFFSET = 0;
    static final int MODE_TRY = 1;
    static final int MODE_NOWAIT = 2;
    /** Mode bit: the records are JSON text (Java {@code String}s): the C ABI's JSON calls. */
    static final int MODE_TEXT = 4;

    static {
        NativeLoader.load();
    }

    private NativeBindings() {}

    /** NUL-terminated UTF-8 (null for null). */
    static byte[] cstr(String s) {
        if (s == null) {
            return null;
        }
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[b.length + 1];
        System.arraycopy(b, 0, out, 0, b.length);
        return out;
    }

    static native String version();

    static native long sdkNew(byte[] endpoint, byte[] workspaceUrl, byte[] sdkName, byte[] applicationName,
            byte[] caPem) throws ZerobusException;

    static native void sdkFree(long sdk);

    static native long createStream(long sdk, byte[] table, byte[] descriptor, byte[] clientId, byte[] clientSecret,
            HeadersBridge headers, long[] options, AckBridge ack, long[] refsOut) throws ZerobusException;

    static native void refRelease(long ref);

    /** Adds a header during a headers provider call ({@code headers} is that call's handle). */
    static native void headersAdd(long headers, byte[] name, byte[] value);

    /** Sets the message of the failure a headers provider call is about to return. */
    static native void headersSetError(long headers, byte[] message);

    static native long ingest(long stream, byte[] data, int off, int len, int mode) throws ZerobusException;

    static native long ingestDirect(long stream, ByteBuffer data, int off, int len, int mode)
            throws ZerobusException;

    static native long ingestBatch(long stream, byte[] data, int off, int dataLen, int[] lengths, int count,
            int mode) throws ZerobusException;

    static native long ingestBatchDirect(long stream, ByteBuffer data, int off, int dataLen, int[] lengths,
            int count, int mode) throws ZerobusException;

    static native void waitForOffset(long stream, long offset) throws ZerobusException;

    static native void flush(long stream) throws ZerobusException;

    static native void close(long stream) throws ZerobusException;

    static native boolean isClosed(long stream);

    static native void streamFree(long stream);

    static native long[] metrics(long stream) throws ZerobusException;

    static native byte[][][] unacked(long stream, boolean oneBatch) throws ZerobusException;

    /**
     * Reads a table's schema (blocking): OAuth credentials, or the authorization header of
     * {@code headers} when it is not null. See {@link TableSchema#fromNative} for the answer.
     */
    static native Object[] getTableSchema(long sdk, byte[] table, byte[] clientId, byte[] clientSecret,
            HeadersBridge headers) throws ZerobusException;

    /** The schema a stream created from its table read (INVALID_ARGUMENT for any other stream). */
    static native Object[] streamTableSchema(long stream) throws ZerobusException;

    /** The stream's current server-side id, UTF-8 (empty when the stream is not live). */
    static native byte[] streamId(long stream);

    // ---------- Arrow streams ----------

    static native long createArrowStream(long sdk, byte[] table, byte[] schemaIpc, byte[] clientId,
            byte[] clientSecret, HeadersBridge headers, long[] options, byte[] compression, AckBridge ack,
            long[] refsOut) throws ZerobusException;

    static native long arrowIngestIpc(long stream, byte[] data, int off, int len) throws ZerobusException;

    static native long arrowIngestIpcDirect(long stream, ByteBuffer data, int off, int len) throws ZerobusException;

    /** The addresses of an exported ArrowArray / ArrowSchema pair; the library takes (releases) both. */
    static native long arrowIngestCData(long stream, long array, long schema) throws ZerobusException;

    /**
     * A batch as its column buffers: {@code nodes} two numbers per node (length, null count),
     * {@code addresses} / {@code lengths} three buffers per node (validity, offsets, values), as
     * {@code zerobus_arrow_stream_ingest_columns} says. The memory must stay alive and unwritten
     * until this returns.
     */
    static native long arrowIngestColumns(long stream, byte[] schemaIpc, long[] nodes, long[] addresses,
            long[] lengths) throws ZerobusException;

    /**
     * {@link #arrowIngestColumns} without the copy ({@code zerobus_arrow_stream_ingest_columns_nocopy}):
     * the memory belongs to {@code holder}, which the library closes exactly once when it is done
     * with it (after the acks, on a library thread; before this returns if the call fails).
     */
    static native long arrowIngestColumnsNoCopy(long stream, byte[] schemaIpc, long[] nodes, long[] addresses,
            long[] lengths, AutoCloseable holder) throws ZerobusException;

    static native void arrowWaitForOffset(long stream, long offset) throws ZerobusException;

    static native void arrowFlush(long stream) throws ZerobusException;

    static native void arrowClose(long stream) throws ZerobusException;

    static native boolean arrowIsClosed(long stream);

    static native void arrowFree(long stream);

    static native long[] arrowMetrics(long stream) throws ZerobusException;

    static native byte[] arrowUnackedIpc(long stream) throws ZerobusException;
}
