package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiStream
import com.sun.jna.Memory
import com.sun.jna.Pointer
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * A stream of records into one table. Every method is safe to call from many coroutines at once.
 * The ingest calls return once the record is queued (its offset assigned), not once it is acked:
 * use [waitForOffset] or [flush] for durability. They suspend while the in-flight bounds are
 * reached; the `try` forms fail at once with [ZerobusException.QueueFull] instead.
 *
 * Close with [close] (suspending) or [use].
 */
class ZerobusStream internal constructor(
    private val ffi: FfiStream,
    private val ackCallback: AckCallback?,
) {
    /** The table this stream writes to. */
    val tableName: String get() = ffi.tableName()

    /** The record type of this stream. */
    val recordType: RecordType get() = if (ffi.recordType() == "json") RecordType.JSON else RecordType.PROTO

    /** Queues one JSON record and returns its offset. */
    suspend fun ingestRecordOffset(record: String): Long = ffiCall { ffi.ingestJson(record) }

    /** Queues one encoded proto record and returns its offset. */
    suspend fun ingestRecordOffset(record: ByteArray): Long = ffiCall { ffi.ingestProto(record) }

    /**
     * Queues a batch under one offset (all-or-nothing on the server), handed to the core in one
     * call as one buffer plus lengths. Records are encoded proto messages on a PROTO stream and
     * UTF-8 JSON on a JSON stream. An empty batch sends nothing and returns `null`.
     */
    suspend fun ingestRecordsOffset(records: List<ByteArray>): Long? {
        if (records.isEmpty()) return ffiCall { ffi.ingestBatch(ByteArray(0), ByteArray(0)) }
        var total = 0L
        for (r in records) total += r.size
        val mem = nativeBatch(records.size, total)
        try {
            val buf = mem.getByteBuffer(0, mem.size()).order(ByteOrder.LITTLE_ENDIAN)
            for (r in records) buf.putInt(r.size)
            for (r in records) buf.put(r)
            return ffiCall { ffi.ingestBatchNative(Pointer.nativeValue(mem).toULong(), records.size.toUInt(), total.toULong()) }
        } finally {
            mem.close()
        }
    }

    /** Queues a batch of JSON records under one offset; see [ingestRecordsOffset]. */
    @JvmName("ingestJsonRecordsOffset")
    suspend fun ingestRecordsOffset(records: List<String>): Long? = ingestRecordsOffset(records.map { it.toByteArray() })

    /** Queues a batch already laid out as one buffer: record `i` is the next `lengths[i]` bytes. */
    suspend fun ingestRecordsOffset(data: ByteArray, lengths: IntArray): Long? {
        val head = packLengths(lengths)
        if (lengths.isEmpty()) return ffiCall { ffi.ingestBatch(data, head) }
        val mem = nativeBatch(lengths.size, data.size.toLong())
        try {
            mem.write(0, head, 0, head.size)
            mem.write(head.size.toLong(), data, 0, data.size)
            return ffiCall { ffi.ingestBatchNative(Pointer.nativeValue(mem).toULong(), lengths.size.toUInt(), data.size.toLong().toULong()) }
        } finally {
            mem.close()
        }
    }

    /**
     * Like [ingestRecordOffset] without the offset. The record is queued before this returns and
     * is accounted exactly like the offset form: its failure reaches the ack callback's `onError`,
     * [flush] and [close].
     */
    suspend fun ingestRecordNowait(record: String) {
        ingestRecordOffset(record)
    }

    /** Proto form of [ingestRecordNowait]. */
    suspend fun ingestRecordNowait(record: ByteArray) {
        ingestRecordOffset(record)
    }

    /** Like [ingestRecordsOffset] without the offset. */
    suspend fun ingestRecordsNowait(records: List<ByteArray>) {
        ingestRecordsOffset(records)
    }

    /** Non-blocking [ingestRecordOffset]: [ZerobusException.QueueFull] when the bound is reached. */
    fun tryIngestRecordOffset(record: String): Long = ffiCall { ffi.tryIngestJson(record) }

    /** Non-blocking proto [ingestRecordOffset]. */
    fun tryIngestRecordOffset(record: ByteArray): Long = ffiCall { ffi.tryIngestProto(record) }

    /** Non-blocking [ingestRecordsOffset]. */
    fun tryIngestRecordsOffset(records: List<ByteArray>): Long? {
        val (data, lengths) = pack(records)
        return ffiCall { ffi.tryIngestBatch(data, lengths) }
    }

    /** Suspends until [offset] is acknowledged, the stream fails, or `flushTimeoutMs` passes. */
    suspend fun waitForOffset(offset: Long) {
        ffiCall { ffi.waitForOffset(offset) }
    }

    /** Suspends until every record queued so far is acknowledged (bounded by `flushTimeoutMs`). */
    suspend fun flush() {
        ffiCall { ffi.flush() }
    }

    /**
     * Flushes, closes the stream and releases it. Idempotent: later calls return the first call's
     * result. After it returns no callback runs and ingests fail with [ZerobusException.StreamClosed].
     */
    suspend fun close() {
        try {
            ffiCall { ffi.closeStream() }
        } finally {
            (ackCallback as? AckFlow)?.complete()
        }
    }

    /** Whether the stream no longer accepts records (closed, or failed for good). */
    val isClosed: Boolean get() = ffi.isClosed()

    /** Every unacknowledged call as its list of records, in offset order (re-ingest after a failure). */
    fun unackedBatches(): List<List<ByteArray>> = ffi.unackedBatches()

    /** Every unacknowledged record, in offset order. */
    fun unackedRecords(): List<ByteArray> = ffi.unackedRecords()

    /** A snapshot of the stream's counters. */
    fun metrics(): StreamMetrics {
        val m = ffi.metrics()
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

    internal companion object {
        /**
         * Native memory for one batch: `count` little-endian u32 lengths, then the records. The
         * core reads it during the call and copies what it keeps; it is freed right after.
         */
        fun nativeBatch(count: Int, dataBytes: Long): Memory = Memory(count * 4L + maxOf(dataBytes, 1L))

        /** One buffer plus little-endian u32 lengths: how a batch crosses to the core in one call. */
        fun pack(records: List<ByteArray>): Pair<ByteArray, ByteArray> {
            var total = 0L
            for (r in records) total += r.size
            if (total > Int.MAX_VALUE - 8) {
                throw ZerobusException.RecordTooLarge("the batch holds $total bytes; split it")
            }
            val data = ByteArray(total.toInt())
            val lengths = ByteBuffer.allocate(records.size * 4).order(ByteOrder.LITTLE_ENDIAN)
            var pos = 0
            for (r in records) {
                System.arraycopy(r, 0, data, pos, r.size)
                pos += r.size
                lengths.putInt(r.size)
            }
            return data to lengths.array()
        }

        fun packLengths(lengths: IntArray): ByteArray {
            val b = ByteBuffer.allocate(lengths.size * 4).order(ByteOrder.LITTLE_ENDIAN)
            for (l in lengths) {
                if (l < 0) throw ZerobusException.InvalidArgument("record length $l is negative")
                b.putInt(l)
            }
            return b.array()
        }
    }
}

/**
 * Runs [block] with this stream and closes it afterwards (suspending until the close finished),
 * also when [block] throws; a close failure is then added as suppressed.
 */
suspend inline fun <R> ZerobusStream.use(block: (ZerobusStream) -> R): R {
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
