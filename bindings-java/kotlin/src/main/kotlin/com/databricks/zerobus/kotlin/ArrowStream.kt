package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiArrowStream
import com.databricks.zerobus.kotlin.ffi.FfiArrowStreamOptions
import java.lang.ref.Cleaner

/** Body compression of the Arrow IPC batches an [ArrowStream] sends (the server takes all three). */
enum class IpcCompression {
    /** Uncompressed bodies: the cheapest for the client's CPU (the default). */
    NONE,

    /** LZ4 frame: fast, about half the bytes on typical columns. */
    LZ4_FRAME,

    /** ZSTD: fewer bytes than LZ4 at several times its CPU cost. */
    ZSTD,
}

/**
 * Arrow stream options under the core's names (`ArrowStreamConfigurationOptions`). `null` keeps
 * the core's default (1,000 in-flight batches, the record streams' byte bound, recovery on, a
 * 30 s connection timeout, no compression, …); every value, zero included, can be set. Values are
 * checked once, by the core, when the stream is created: an out-of-range one fails the creation
 * with [ZerobusException.InvalidArgument] naming the option and its range.
 */
data class ArrowStreamConfigurationOptions(
    /** At most this many ingest calls (each a batch or an IPC stream) wait for acks. */
    val maxInflightBatches: Long? = null,
    /** At most this many encoded IPC bytes wait for acks. */
    val maxInflightBytes: Long? = null,
    val recovery: Boolean? = null,
    val recoveryTimeoutMs: Long? = null,
    /** Wait before the second connection attempt in a row, ms; later waits double up to [recoveryBackoffMaxMs]. */
    val recoveryBackoffMs: Long? = null,
    /** Cap on the growing wait between connection attempts, ms. */
    val recoveryBackoffMaxMs: Long? = null,
    val recoveryRetries: Int? = null,
    val serverLackOfAckTimeoutMs: Long? = null,
    val flushTimeoutMs: Long? = null,
    /** Bound on waiting for the server's ready signal on each connection, ms. */
    val connectionTimeoutMs: Long? = null,
    val ipcCompression: IpcCompression? = null,
    val streamPausedMaxWaitTimeMs: Long? = null,
    val callbackMaxWaitTimeMs: Long? = null,
    /** Per-offset ack and error notifications, one offset per ingest call (see [AckCallback], [AckFlow]). */
    val ackCallback: AckCallback? = null,
) {
    /** The values as they are (no range check here: the core checks them at stream creation). */
    internal fun toFfi(): FfiArrowStreamOptions = FfiArrowStreamOptions(
        maxInflightBatches = maxInflightBatches?.toULong(),
        maxInflightBytes = maxInflightBytes?.toULong(),
        recovery = recovery,
        recoveryTimeoutMs = recoveryTimeoutMs?.toULong(),
        recoveryBackoffMs = recoveryBackoffMs?.toULong(),
        recoveryBackoffMaxMs = recoveryBackoffMaxMs?.toULong(),
        recoveryRetries = recoveryRetries?.toUInt(),
        serverLackOfAckTimeoutMs = serverLackOfAckTimeoutMs?.toULong(),
        flushTimeoutMs = flushTimeoutMs?.toULong(),
        connectionTimeoutMs = connectionTimeoutMs?.toULong(),
        ipcCompression = ipcCompression?.name?.lowercase(),
        streamPausedMaxWaitTimeMs = streamPausedMaxWaitTimeMs?.toULong(),
        callbackMaxWaitTimeMs = callbackMaxWaitTimeMs?.toULong(),
    )
}

/**
 * A stream of Arrow record batches into one table (Arrow Flight, `ZerobusSdk.createArrowStream`).
 * Every method is safe to call from many coroutines at once.
 *
 * Each ingest call gets one offset, whatever the number of rows or batches it carries; it returns
 * once the call is queued, not once it is acked: use [waitForOffset] or [flush] for durability.
 * It suspends while the in-flight bounds (`maxInflightBatches`, `maxInflightBytes`) are reached.
 * Batches must have the stream's columns, in order, with the same Arrow types (a table's STRING is
 * `LargeUtf8`, INT `Int32`, BIGINT `Int64`, …: read [schemaIpc] for the exact schema of a stream
 * created from its table); a batch that does not fit fails its call with
 * [ZerobusException.InvalidRecord] naming the column, and nothing of it is queued.
 *
 * Arrow data crosses as IPC bytes ([ingestIpc], no Arrow library needed) or, with Arrow Java on
 * the classpath, as a `VectorSchemaRoot` whose buffers the SDK reads in place (`ingestBatch`, in
 * `ArrowCData.kt`). Close with [close] or [use].
 */
class ArrowStream internal constructor(
    internal val ffi: FfiArrowStream,
    private val ackCallback: AckCallback?,
) {
    /**
     * The last batch schema `ingestBatch` wrote as IPC (an Arrow Java `Schema`, its bytes), so a
     * stream's batches write it once, not per call. Typed `Any` so this class never loads Arrow Java.
     */
    @Volatile
    internal var lastSchema: Pair<Any, ByteArray>? = null

    /** The core stream for [NativeIngest.arrowQueueColumns] (a handle in the native handle table). */
    internal val handle: Long = ffiCall { ffi.fastHandle() }

    init {
        // Gives the handle back once this stream is unreachable (no call can be running then).
        CLEANER.register(this, Release(handle))
    }

    /** The table this stream writes to. */
    val tableName: String = ffiCall { ffi.tableName() }

    /**
     * The schema batches must have, as an Arrow IPC stream holding only the schema message (read
     * it with Arrow Java's `ArrowStreamReader`): the one given at creation, or the table's.
     */
    val schemaIpc: ByteArray get() = ffiCall { ffi.schemaIpc() }

    /**
     * Queues an Arrow IPC *stream* (a schema message, then one or more record batches, as Arrow
     * Java's `ArrowStreamWriter` writes it) under one offset and returns the offset. The batches
     * are sent as they are, without re-encoding (their body compression is kept); each is checked
     * against the stream's schema first.
     */
    suspend fun ingestIpc(ipc: ByteArray): Long = ffiCall { ffi.ingestIpc(ipc) }

    /** Suspends until [offset] is acknowledged (every row of its call), the stream fails, or `flushTimeoutMs` passes. */
    suspend fun waitForOffset(offset: Long) {
        ffiCall { ffi.waitForOffset(offset) }
    }

    /** Suspends until every call queued so far is acknowledged (bounded by `flushTimeoutMs`). */
    suspend fun flush() {
        ffiCall { ffi.flush() }
    }

    /**
     * Flushes, ends the call and closes the stream. Idempotent: later calls return the first
     * call's result. After it returns no callback runs and ingests fail with
     * [ZerobusException.StreamClosed].
     */
    suspend fun close() {
        try {
            ffiCall { ffi.closeStream() }
        } finally {
            (ackCallback as? AckFlow)?.complete()
        }
    }

    /** Whether the stream no longer accepts batches (closed or failed for good). */
    val isClosed: Boolean get() = ffiCall { ffi.isClosed() }

    /**
     * The unacknowledged rows as one Arrow IPC stream (the schema, then the batches in offset
     * order, the first starting at the first unacknowledged row). After a terminal failure,
     * ingest it on a new stream ([ingestIpc]) or use `ZerobusSdk.recreateArrowStream`.
     */
    fun getUnackedIpc(): ByteArray = ffiCall { ffi.unackedIpc() }

    /** A snapshot of the stream's counters; `inflightRecords` and `recordsSent` count rows. */
    fun metrics(): StreamMetrics {
        val m = ffiCall { ffi.metrics() }
        return StreamMetrics(
            inflightRequests = m.inflightRequests.toLong(),
            inflightRecords = m.inflightRecords.toLong(),
            inflightBytes = m.inflightBytes.toLong(),
            lastAckedOffset = m.lastAckedOffset,
            recordsSent = m.recordsSent.toLong(),
            recordsResent = m.recordsResent.toLong(),
            recoveries = m.recoveries.toLong(),
            tokenFetches = m.tokenFetches.toLong(),
        )
    }

    /** The ack callback this stream was created with (a recreated stream keeps it). */
    internal val callback: AckCallback? get() = ackCallback

    private class Release(private val handle: Long) : Runnable {
        override fun run() = NativeIngest.arrowRelease(handle)
    }

    private companion object {
        private val CLEANER: Cleaner = Cleaner.create()
    }
}

/**
 * Runs [block] with this stream and closes it afterwards (suspending until the close finished),
 * also when [block] throws; a close failure is then added as suppressed.
 */
suspend inline fun <R> ArrowStream.use(block: (ArrowStream) -> R): R {
    val result = try {
        block(this)
    } catch (t: Throwable) {
        try {
            close()
        } catch (c: Throwable) {
            t.addSuppressed(c)
        }
        throw t
    }
    close()
    return result
}
