package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiStream
import java.lang.ref.Cleaner
import java.lang.ref.Reference
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.concurrent.atomic.AtomicBoolean

/**
 * A stream of records into one table. Every method is safe to call from many coroutines at once.
 * The ingest calls return once the record is queued (its offset assigned), not once it is acked:
 * use [waitForOffset] or [flush] for durability. They suspend while the in-flight bounds are
 * reached; the `try` forms fail at once with [ZerobusException.QueueFull] instead.
 *
 * A `String` record is JSON text: on a PROTO stream that call fails with
 * [ZerobusException.InvalidRecord] (the stream carries on), unless the stream was created from
 * its table (PROTO with no descriptor, [tableSchema] not null): then the core encodes the text to
 * proto by the columns' types, and a record that does not fit fails its call with an error naming
 * the record's index and the column path (`loc.lat: expected DOUBLE, got string "north"`), with
 * nothing of the call queued. A `Map<String, Any?>` record is written as JSON text here (see
 * [JsonWriter] for the value types it takes) and goes the same way: encoded by the table's
 * columns on a stream created from its table, as JSON on a JSON stream. A single `ByteArray`
 * record is an encoded proto message (refused the same way on a JSON stream); the records of a
 * `ByteArray` batch are read as the stream's record type (encoded messages, or UTF-8 JSON on a
 * JSON stream).
 *
 * Close with [close] (suspending) or [use]. The native stream is released when this object becomes
 * unreachable; a call on a released stream fails with [ZerobusException.InvalidArgument], never
 * crashes.
 */
class ZerobusStream internal constructor(
    private val ffi: FfiStream,
    private val ackCallback: AckCallback?,
) {
    /** The core stream for [NativeIngest] (a handle in the native handle table), given back by [release]. */
    private val handle: Long = ffiCall { ffi.fastHandle() }

    private val released = AtomicBoolean(false)

    /** Gives the fast-path handle back, at [release] or when this object becomes unreachable. */
    private val cleanable: Cleaner.Cleanable = CLEANER.register(this, Release(handle))

    /** The table this stream writes to. */
    val tableName: String = ffiCall { ffi.tableName() }

    /** The record type of this stream. */
    val recordType: RecordType = if (ffiCall { ffi.recordType() } == "json") RecordType.JSON else RecordType.PROTO

    /**
     * The table's schema when the stream was created from its table (PROTO with no descriptor:
     * the core read it from Unity Catalog and encodes JSON and `Map` records by it); else `null`.
     */
    val tableSchema: TableSchema? = ffiCall { ffi.tableSchema() }?.let(::TableSchema)

    /**
     * The server's id for the stream's current connection (it changes when the stream
     * reconnects; empty if the server gave none).
     */
    val streamId: String get() = call { ffi.streamId() }

    /** An FFI call on the stream: [ZerobusException.InvalidArgument] once [release] destroyed it. */
    private inline fun <T> call(block: () -> T): T = ffiCallOn(released, "stream", block)

    // The ingest calls below suspend only in tail position, so Kotlin compiles them without a state
    // machine: a call that gets its offset at once allocates no continuation.

    /**
     * Queues one JSON record (text) and returns its offset. On a PROTO stream it fails with
     * [ZerobusException.InvalidRecord] unless the stream was created from its table (see above).
     */
    suspend fun ingestRecordOffset(record: String): Long {
        val code = queueOne(record.toByteArray(), NativeIngest.MODE_TEXT)
        return if (code >= 0) code else slowPathOne(code)
    }

    /** Queues one encoded proto record and returns its offset. */
    suspend fun ingestRecordOffset(record: ByteArray): Long {
        val code = queueOne(record, NativeIngest.MODE_QUEUE)
        return if (code >= 0) code else slowPathOne(code)
    }

    /**
     * Queues one record given as a map (column name → value; nested maps and lists for STRUCT,
     * MAP and ARRAY columns) and returns its offset. The map is written as JSON text here and
     * encoded by the core: by the table's column types on a stream created from its table, as
     * JSON on a JSON stream; on a PROTO stream opened with a descriptor it fails with
     * [ZerobusException.InvalidRecord]. A value that does not fit its column fails the call with
     * [ZerobusException.InvalidRecord] naming the column path; nothing is queued.
     */
    suspend fun ingestRecordOffset(record: Map<String, Any?>): Long {
        val code = queueObject(record, NativeIngest.MODE_QUEUE)
        return if (code >= 0) code else slowPathOne(code)
    }

    /**
     * Queues a batch under one offset (all-or-nothing on the server), handed to the core in one
     * call as one buffer plus lengths. Records are encoded proto messages on a PROTO stream and
     * UTF-8 JSON on a JSON stream. An empty batch sends nothing and returns `null`.
     */
    suspend fun ingestRecordsOffset(records: List<ByteArray>): Long? {
        val code = batch(records, NativeIngest.MODE_QUEUE)
        return if (code >= 0) code else slowPath(code)
    }

    /**
     * Queues a batch of JSON records (text) under one offset; see [ingestRecordsOffset]. On a PROTO
     * stream it fails with [ZerobusException.InvalidRecord] and queues nothing, unless the stream
     * was created from its table: then the core encodes each record by the columns' types.
     */
    @JvmName("ingestJsonRecordsOffset")
    suspend fun ingestRecordsOffset(records: List<String>): Long? {
        val code = batch(records.map { it.toByteArray() }, NativeIngest.MODE_TEXT)
        return if (code >= 0) code else slowPath(code)
    }

    /**
     * Queues a batch of map records (see [ingestRecordOffset] for maps) under one offset: every
     * map is written as JSON text into one buffer, and the batch crosses to the core in one call.
     * A record that does not fit fails the whole call (the error names its index in the batch and
     * the column path); nothing is queued. An empty batch sends nothing and returns `null`.
     */
    @JvmName("ingestObjectRecordsOffset")
    suspend fun ingestRecordsOffset(records: List<Map<String, Any?>>): Long? {
        val code = batchObjects(records, NativeIngest.MODE_QUEUE)
        return if (code >= 0) code else slowPath(code)
    }

    /**
     * Queues a batch already laid out as one buffer: record `i` is the next `lengths[i]` bytes.
     * The fastest batch call: one copy into native memory, one native call.
     */
    suspend fun ingestRecordsOffset(data: ByteArray, lengths: IntArray): Long? {
        val code = batch(data, lengths, NativeIngest.MODE_QUEUE)
        return if (code >= 0) code else slowPath(code)
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

    /** Map form of [ingestRecordNowait]. */
    suspend fun ingestRecordNowait(record: Map<String, Any?>) {
        ingestRecordOffset(record)
    }

    /** Like [ingestRecordsOffset] without the offset. */
    suspend fun ingestRecordsNowait(records: List<ByteArray>) {
        ingestRecordsOffset(records)
    }

    /** Like [ingestRecordsOffset] (maps) without the offset. */
    @JvmName("ingestObjectRecordsNowait")
    suspend fun ingestRecordsNowait(records: List<Map<String, Any?>>) {
        ingestRecordsOffset(records)
    }

    /** Like [ingestRecordsOffset] (JSON text) without the offset. */
    @JvmName("ingestJsonRecordsNowait")
    suspend fun ingestRecordsNowait(records: List<String>) {
        ingestRecordsOffset(records)
    }

    /** Non-blocking [ingestRecordOffset]: [ZerobusException.QueueFull] when the bound is reached. */
    fun tryIngestRecordOffset(record: String): Long =
        tryOne(record.toByteArray(), NativeIngest.MODE_TRY or NativeIngest.MODE_TEXT)

    /** Non-blocking proto [ingestRecordOffset]. */
    fun tryIngestRecordOffset(record: ByteArray): Long = tryOne(record, NativeIngest.MODE_TRY)

    /** Non-blocking map [ingestRecordOffset]. */
    fun tryIngestRecordOffset(record: Map<String, Any?>): Long {
        val code = queueObject(record, NativeIngest.MODE_TRY)
        return if (code >= 0) code else failed(code, lastSlot.get())
    }

    private fun tryOne(record: ByteArray, mode: Int): Long {
        val code = queueOne(record, mode)
        return if (code >= 0) code else failed(code, lastSlot.get())
    }

    /** Non-blocking [ingestRecordsOffset]. */
    fun tryIngestRecordsOffset(records: List<ByteArray>): Long? {
        val code = batch(records, NativeIngest.MODE_TRY)
        return if (code >= 0) code else if (code == NativeIngest.EMPTY) null else failed(code, lastSlot.get())
    }

    /** Non-blocking [ingestRecordsOffset] for JSON text. */
    @JvmName("tryIngestJsonRecordsOffset")
    fun tryIngestRecordsOffset(records: List<String>): Long? {
        val code = batch(records.map { it.toByteArray() }, NativeIngest.MODE_TRY or NativeIngest.MODE_TEXT)
        return if (code >= 0) code else if (code == NativeIngest.EMPTY) null else failed(code, lastSlot.get())
    }

    /** Non-blocking [ingestRecordsOffset] for maps. */
    @JvmName("tryIngestObjectRecordsOffset")
    fun tryIngestRecordsOffset(records: List<Map<String, Any?>>): Long? {
        val code = batchObjects(records, NativeIngest.MODE_TRY)
        return if (code >= 0) code else if (code == NativeIngest.EMPTY) null else failed(code, lastSlot.get())
    }

    /** One record through [NativeIngest.queueOne]: the answer code; a handle goes to [lastSlot]. */
    private fun queueOne(record: ByteArray, mode: Int, len: Int = record.size): Long {
        val s = Scratch.get(NativeIngest.SLOT.toLong() + len)
        try {
            s.buf.put(NativeIngest.SLOT, record, 0, len)
            return answer(s, NativeIngest.queueOne(handle, s.address, len, mode))
        } finally {
            s.done()
            Reference.reachabilityFence(this)
        }
    }

    /** One map written as JSON text by this thread's [JsonWriter], then as [queueOne] with text. */
    private fun queueObject(record: Map<String, Any?>, mode: Int): Long {
        val w = JsonWriter.get()
        w.record(record)
        return queueOne(w.buf, mode or NativeIngest.MODE_TEXT, w.size)
    }

    /** Maps written back to back by this thread's [JsonWriter]; one native call for the batch. */
    private fun batchObjects(records: List<Map<String, Any?>>, mode: Int): Long {
        val w = JsonWriter.get()
        val lengths = IntArray(records.size)
        var end = 0
        for (i in lengths.indices) {
            w.record(records[i], i)
            lengths[i] = w.size - end
            end = w.size
        }
        return batch(w.buf, end, lengths, mode or NativeIngest.MODE_TEXT)
    }

    private fun batch(records: List<ByteArray>, mode: Int): Long {
        var total = 0L
        for (r in records) total += r.size
        val s = Scratch.get(NativeIngest.SLOT + 4L * records.size + total)
        try {
            layOut(s.buf, records)
            return answer(s, NativeIngest.queueBatch(handle, s.address, records.size, total, mode))
        } finally {
            s.done()
            Reference.reachabilityFence(this)
        }
    }

    private fun batch(data: ByteArray, lengths: IntArray, mode: Int): Long = batch(data, data.size, lengths, mode)

    /** A batch of the first [dataLen] bytes of [data]. */
    private fun batch(data: ByteArray, dataLen: Int, lengths: IntArray, mode: Int): Long {
        val s = Scratch.get(NativeIngest.SLOT + 4L * lengths.size + dataLen)
        try {
            layOut(s.buf, data, dataLen, lengths)
            return answer(s, NativeIngest.queueBatch(handle, s.address, lengths.size, dataLen.toLong(), mode))
        } finally {
            s.done()
            Reference.reachabilityFence(this)
        }
    }

    /** Keeps the handle of a [NativeIngest.PENDING] / [NativeIngest.FAILED] answer before the buffer is reused. */
    private fun answer(s: Scratch, code: Long): Long {
        if (code == NativeIngest.PENDING || code == NativeIngest.FAILED) lastSlot.set(s.slot())
        return code
    }

    private suspend fun slowPathOne(code: Long): Long = slowPath(code)!!

    /** A call that did not get its offset at once: it waits for room, or it failed. */
    private suspend fun slowPath(code: Long, slot: Long = lastSlot.get()): Long? = NativeIngest.settle(code, slot)

    private fun failed(code: Long, slot: Long): Nothing = NativeIngest.failed(code, slot)

    /** Suspends until [offset] is acknowledged, the stream fails, or `flushTimeoutMs` passes. */
    suspend fun waitForOffset(offset: Long) {
        call { ffi.waitForOffset(offset) }
    }

    /** Suspends until every record queued so far is acknowledged (bounded by `flushTimeoutMs`). */
    suspend fun flush() {
        call { ffi.flush() }
    }

    /**
     * Flushes, closes the stream and releases it. Idempotent: later calls return the first call's
     * result. After it returns no callback runs and ingests fail with [ZerobusException.StreamClosed].
     */
    suspend fun close() {
        try {
            call { ffi.closeStream() }
        } finally {
            (ackCallback as? AckFlow)?.complete()
        }
    }

    /** Whether the stream no longer accepts records (closed, failed for good, or released). */
    val isClosed: Boolean get() = released.get() || call { ffi.isClosed() }

    /** Every unacknowledged call as its list of records, in offset order (re-ingest after a failure). */
    fun unackedBatches(): List<List<ByteArray>> = call { ffi.unackedBatches() }

    /** Every unacknowledged record, in offset order. */
    fun unackedRecords(): List<ByteArray> = call { ffi.unackedRecords() }

    /** A snapshot of the stream's counters. */
    fun metrics(): StreamMetrics {
        val m = call { ffi.metrics() }
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

    /**
     * Releases the native stream now instead of when this object becomes unreachable (what the
     * cleaner does then): the fast-path handle goes back to the native table and the uniffi object
     * is destroyed. Call [close] first: releasing an open stream abandons what is in flight once
     * nothing else holds it. Afterwards every call fails with [ZerobusException.InvalidArgument]
     * (a call running meanwhile finishes first) and [isClosed] is true. Idempotent.
     */
    internal fun release() {
        if (released.compareAndSet(false, true)) {
            cleanable.clean()
            ffi.destroy()
        }
    }

    /** The fast-path handle, for tests of the native handle table. */
    internal val fastHandle: Long get() = handle

    private class Release(private val handle: Long) : Runnable {
        override fun run() = NativeIngest.release(handle)
    }

    internal companion object {
        /** Gives fast-path handles back once their stream is unreachable (no call can be running then). */
        private val CLEANER: Cleaner = Cleaner.create()

        /**
         * The slot of the last slow-path answer on this thread, read right after the native call and
         * before any suspension, so the thread's scratch buffer may be reused meanwhile.
         */
        private val lastSlot: ThreadLocal<Long> = ThreadLocal.withInitial { 0L }

        /**
         * How a batch crosses to the core in one call (after the [NativeIngest.SLOT] bytes): the
         * records' lengths as little-endian u32s, then the records back to back. [b] is little-endian.
         * Both parts are written with bulk copies: a loop of `putInt`s runs slowly until the JIT has
         * compiled it, which in a short-lived process is most of its life.
         */
        fun layOut(b: ByteBuffer, records: List<ByteArray>) {
            val lengths = IntArray(records.size)
            for (i in lengths.indices) lengths[i] = records[i].size
            putLengths(b, lengths)
            var at = NativeIngest.SLOT + 4 * lengths.size
            for (r in records) {
                b.put(at, r)
                at += r.size
            }
        }

        /** [layOut] for a batch already in one buffer; a negative length is rejected before anything is sent. */
        fun layOut(b: ByteBuffer, data: ByteArray, lengths: IntArray) = layOut(b, data, data.size, lengths)

        /** [layOut] of the first [dataLen] bytes of [data]. */
        fun layOut(b: ByteBuffer, data: ByteArray, dataLen: Int, lengths: IntArray) {
            for (l in lengths) {
                if (l < 0) throw ZerobusException.InvalidArgument("record length $l is negative")
            }
            putLengths(b, lengths)
            b.put(NativeIngest.SLOT + 4 * lengths.size, data, 0, dataLen)
        }

        private fun putLengths(b: ByteBuffer, lengths: IntArray) {
            b.slice(NativeIngest.SLOT, 4 * lengths.size).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().put(0, lengths)
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
