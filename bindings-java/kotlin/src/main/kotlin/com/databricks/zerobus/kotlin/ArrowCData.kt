// Arrow Java batches for ArrowStream. Kept apart from ArrowStream.kt so that class never refers
// to an Arrow Java type: Arrow Java is an optional dependency of this SDK, needed only by an
// application that calls these functions (it then brings org.apache.arrow:arrow-vector,
// arrow-c-data and a memory module, e.g. arrow-memory-netty).
@file:JvmName("ArrowCData")

package com.databricks.zerobus.kotlin

import java.io.ByteArrayOutputStream
import java.lang.ref.Reference
import java.nio.channels.Channels
import org.apache.arrow.c.ArrowArray
import org.apache.arrow.c.ArrowSchema
import org.apache.arrow.c.Data
import org.apache.arrow.memory.ArrowBuf
import org.apache.arrow.memory.BufferAllocator
import org.apache.arrow.vector.FieldVector
import org.apache.arrow.vector.VectorSchemaRoot
import org.apache.arrow.vector.ipc.WriteChannel
import org.apache.arrow.vector.ipc.message.MessageSerializer
import org.apache.arrow.vector.types.pojo.ArrowType.ArrowTypeID
import org.apache.arrow.vector.types.pojo.Schema

/**
 * Queues the rows of [root] (its current `rowCount`) under one offset and returns the offset,
 * like [ArrowStream.ingestIpc]. The native SDK reads the vectors' buffers in place, without a
 * copy on the JVM side, while it checks and encodes the batch, before this returns its place in
 * line (the offset may still have to wait for room), so [root] may be changed or closed as soon
 * as this returns; it must not be written while this runs.
 *
 * A root whose vectors all have layouts the SDK reads in place (primitive, boolean, decimal,
 * fixed-size binary, (large) binary and string, (large) list, map, struct) crosses as its
 * buffers' addresses and lengths in one call; any other (dictionaries, unions, …) through the
 * Arrow C Data Interface, whose two small C structs [allocator] holds (default: the allocator of
 * [root]'s first vector).
 *
 * The columns must match the stream's schema (see [ArrowStream]): a table's STRING column is a
 * `LargeVarCharVector` (Arrow `LargeUtf8`), not a `VarCharVector`; a mismatch fails with
 * [ZerobusException.InvalidRecord] naming the column.
 *
 * The C Data path needs Arrow Java's JNI library (`arrow-c-data` ships it for Linux and macOS on
 * x86_64 and aarch64); on Java 16 and later Arrow's memory module needs
 * `--add-opens=java.base/java.nio=ALL-UNNAMED`.
 */
suspend fun ArrowStream.ingestBatch(root: VectorSchemaRoot, allocator: BufferAllocator? = null): Long {
    val vectors = root.fieldVectors
    val alloc = allocator ?: vectors.firstOrNull()?.allocator
        ?: throw ZerobusException.InvalidArgument("the VectorSchemaRoot has no columns; a batch needs the stream's columns")
    val columns = Columns()
    columns.node(root.rowCount.toLong(), 0)
    if (!columns.addAll(vectors)) return exportAndIngest(root, alloc)
    val schema = schemaIpc(root.schema)
    // The batch is encoded during the call: waiting for room (if it must) needs nothing of root.
    return queueColumns(columns, schema) { address ->
        try {
            NativeIngest.arrowQueueColumns(handle, address, columns.nodesLen, columns.buffersLen, schema.size)
        } finally {
            // The addresses are root's buffers: keep it (and so them) until the native call is done.
            Reference.reachabilityFence(root)
        }
    }
}

/**
 * Lays [columns] and [schema] out in this thread's scratch buffer, makes the native column call
 * [call] with its address, and settles the answer (waiting for room if it must).
 */
private suspend inline fun queueColumns(columns: Columns, schema: ByteArray, call: (Long) -> Long): Long {
    val s = Scratch.get(columns.layoutBytes() + schema.size)
    val code: Long
    val slot: Long
    try {
        columns.writeTo(s, schema)
        code = call(s.address)
        // Read before anything can reuse this thread's buffer.
        slot = s.slot()
    } finally {
        s.done()
    }
    return if (code >= 0) code else NativeIngest.settle(code, slot)
        ?: throw ZerobusException.Internal("the native call queued an Arrow batch without an offset")
}

/**
 * Queues the rows of [root] like [ingestBatch] but without the copy: the root's buffers are
 * transferred out of it (Arrow Java's `TransferPair`) to vectors only the stream holds, sent as
 * they are, and released by the SDK once the server acknowledges the rows (or the call fails, or
 * the stream is freed). [root] is left empty (row count 0, no buffers), so refilling it (after
 * `allocateNew()`, or with an `ArrowReader`'s `loadNextBatch()`) never touches rows in flight;
 * that is the one difference a caller sees. It saves copying each batch, about a fifth of the
 * Arrow path's cost. Layouts the SDK does not read in place (dictionaries, unions, …) are copied
 * as [ingestBatch] does, and [root] is cleared the same way.
 */
suspend fun ArrowStream.ingestBatchTransfer(root: VectorSchemaRoot): Long {
    val vectors = root.fieldVectors
    if (vectors.isEmpty() || !vectors.all { Layout.readsInPlace(it) }) {
        try {
            return ingestBatch(root)
        } finally {
            root.clear()
        }
    }
    val rows = root.rowCount
    val schema = schemaIpc(root.schema)
    val moved = Moved(ArrayList(vectors.size))
    try {
        for (v in vectors) {
            val pair = v.getTransferPair(v.allocator)
            pair.transfer()
            moved.vectors.add(pair.to as FieldVector)
        }
    } catch (e: Throwable) {
        moved.close()
        throw e
    } finally {
        root.rowCount = 0
    }
    val columns = Columns()
    columns.node(rows.toLong(), 0)
    if (!columns.addAll(moved.vectors)) {
        moved.close()
        throw ZerobusException.Internal("a transferred vector changed its layout; please report it")
    }
    // From the call on the native side owns `moved`: it closes it exactly once, whatever the outcome.
    return queueColumns(columns, schema) { address ->
        NativeIngest.arrowQueueColumnsNoCopy(handle, address, columns.nodesLen, columns.buffersLen, schema.size, moved)
    }
}

/** Vectors transferred out of a caller's root, closed (their buffers released) by the SDK. */
private class Moved(val vectors: MutableList<FieldVector>) : AutoCloseable {
    override fun close() = vectors.forEach { it.close() }
}

/** The C Data Interface path, for layouts [Columns] does not take. */
private suspend fun ArrowStream.exportAndIngest(root: VectorSchemaRoot, alloc: BufferAllocator): Long {
    val array = ArrowArray.allocateNew(alloc)
    try {
        val schema = ArrowSchema.allocateNew(alloc)
        try {
            Data.exportVectorSchemaRoot(alloc, root, null, array, schema)
            // The native side moves the array out of its struct (leaving it released) and only
            // reads the schema; it is done with both once the call has taken its place in line.
            return ffiCall { ffi.ingestCData(array.memoryAddress().toULong(), schema.memoryAddress().toULong()) }
        } finally {
            // No-ops for what was already released; frees the export when the call never got it.
            schema.release()
            schema.close()
        }
    } finally {
        array.release()
        array.close()
    }
}

/** [schema] as an IPC schema message, written once per distinct schema in a row. */
private fun ArrowStream.schemaIpc(schema: Schema): ByteArray {
    val last = lastSchema
    // Roots read from one source have equal schemas, not one: compare by value after identity.
    if (last != null && (last.first === schema || last.first == schema)) return last.second
    val out = ByteArrayOutputStream()
    MessageSerializer.serialize(WriteChannel(Channels.newChannel(out)), schema)
    return out.toByteArray().also { lastSchema = Pair(schema, it) }
}

/**
 * The nodes and buffers of one batch, depth first: per node its length and null count, and its
 * validity, offsets and values buffers (address 0, length 0 where its type has none).
 */
private class Columns {
    private var nodes = LongArray(64)
    private var addresses = LongArray(96)
    private var lengths = LongArray(96)
    private var nodeCount = 0
    private var bufferCount = 0

    /** Adds every vector; false as soon as one has a layout this does not take. */
    fun addAll(vectors: List<FieldVector>): Boolean = vectors.all { add(it) }

    private fun add(v: FieldVector): Boolean {
        val layout = Layout.of(v) ?: return false
        // getFieldBuffers sets each buffer's writer index to what the value count uses, as
        // Arrow Java's own IPC writer relies on; readableBytes() is then that length.
        val buffers = v.fieldBuffers
        if (buffers.size != layout.buffers) return false
        node(v.valueCount.toLong(), v.nullCount.toLong())
        buffer(buffers[0])
        buffer(if (layout.offsets) buffers[1] else null)
        buffer(if (layout.values) buffers[buffers.size - 1] else null)
        return !layout.children || addAll(v.childrenFromFields)
    }

    fun node(length: Long, nullCount: Long) {
        if (2 * nodeCount + 2 > nodes.size) nodes = nodes.copyOf(nodes.size * 2)
        nodes[2 * nodeCount] = length
        nodes[2 * nodeCount + 1] = nullCount
        nodeCount++
        if (nodeCount == 1) {
            // The root node has no buffers of its own.
            repeat(3) { buffer(null) }
        }
    }

    private fun buffer(b: ArrowBuf?) {
        if (bufferCount == addresses.size) {
            addresses = addresses.copyOf(addresses.size * 2)
            lengths = lengths.copyOf(lengths.size * 2)
        }
        val length = b?.readableBytes() ?: 0L
        addresses[bufferCount] = if (length == 0L) 0L else b!!.memoryAddress() + b.readerIndex()
        lengths[bufferCount] = length
        bufferCount++
    }

    val nodesLen: Int get() = 2 * nodeCount
    val buffersLen: Int get() = bufferCount

    /** Bytes of [writeTo]'s layout before the schema: the slot, then the numbers. */
    fun layoutBytes(): Long = NativeIngest.SLOT + 8L * (nodesLen + 2 * bufferCount)

    /** Lays the call out in [s] as `fast_arrow.rs` reads it: nodes, addresses, lengths, schema. */
    fun writeTo(s: Scratch, schema: ByteArray) {
        var at = NativeIngest.SLOT
        for (i in 0 until nodesLen) { s.buf.putLong(at, nodes[i]); at += 8 }
        for (i in 0 until bufferCount) { s.buf.putLong(at, addresses[i]); at += 8 }
        for (i in 0 until bufferCount) { s.buf.putLong(at, lengths[i]); at += 8 }
        s.buf.put(at, schema, 0, schema.size)
    }
}

/** Which of a node's three buffers its type has, and whether it has children. */
private enum class Layout(val buffers: Int, val offsets: Boolean, val values: Boolean, val children: Boolean) {
    FIXED(2, false, true, false),
    VARIABLE(3, true, true, false),
    LIST(2, true, false, true),
    STRUCT(1, false, false, true);

    companion object {
        /** Whether [v] and all its children have layouts the SDK reads in place. */
        fun readsInPlace(v: FieldVector): Boolean {
            val layout = of(v) ?: return false
            if (v.fieldBuffers.size != layout.buffers) return false
            return !layout.children || v.childrenFromFields.all { readsInPlace(it) }
        }

        /** The layout of [v]'s type, or null for one the SDK does not read in place. */
        fun of(v: FieldVector): Layout? {
            if (v.field.dictionary != null) return null
            return when (v.field.type.typeID) {
                ArrowTypeID.Int, ArrowTypeID.FloatingPoint, ArrowTypeID.Bool, ArrowTypeID.Date, ArrowTypeID.Time,
                ArrowTypeID.Timestamp, ArrowTypeID.Duration, ArrowTypeID.Decimal, ArrowTypeID.FixedSizeBinary -> FIXED
                ArrowTypeID.Utf8, ArrowTypeID.LargeUtf8, ArrowTypeID.Binary, ArrowTypeID.LargeBinary -> VARIABLE
                ArrowTypeID.List, ArrowTypeID.LargeList, ArrowTypeID.Map -> LIST
                ArrowTypeID.Struct -> STRUCT
                else -> null
            }
        }
    }
}
