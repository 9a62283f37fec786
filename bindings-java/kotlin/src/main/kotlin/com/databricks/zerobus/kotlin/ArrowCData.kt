// Arrow Java batches for ArrowStream, through the Arrow C Data Interface. Kept apart from
// ArrowStream.kt so that class never refers to an Arrow Java type: Arrow Java is an optional
// dependency of this SDK, needed only by an application that calls these functions (it then brings
// org.apache.arrow:arrow-vector, arrow-c-data and a memory module, e.g. arrow-memory-netty).
@file:JvmName("ArrowCData")

package com.databricks.zerobus.kotlin

import org.apache.arrow.c.ArrowArray
import org.apache.arrow.c.ArrowSchema
import org.apache.arrow.c.Data
import org.apache.arrow.memory.BufferAllocator
import org.apache.arrow.vector.VectorSchemaRoot

/**
 * Queues the rows of [root] (its current `rowCount`) under one offset and returns the offset,
 * like [ArrowStream.ingestIpc]. The batch goes to the native SDK through the Arrow C Data
 * Interface, without a copy on the JVM side: the SDK reads the vectors' buffers in place while
 * it checks and encodes the batch, before this returns its place in line (the offset may still
 * have to wait for room), so [root] may be changed or closed as soon as this returns.
 *
 * The columns must match the stream's schema (see [ArrowStream]): a table's STRING column is a
 * `LargeVarCharVector` (Arrow `LargeUtf8`), not a `VarCharVector`; a mismatch fails with
 * [ZerobusException.InvalidRecord] naming the column. [allocator] holds the two small C structs
 * of the export (default: the allocator of [root]'s first vector).
 *
 * Needs Arrow Java's JNI library (`arrow-c-data` ships it for Linux and macOS on x86_64 and
 * aarch64) and, on Java 16 and later, `--add-opens=java.base/java.nio=ALL-UNNAMED` for Arrow's
 * memory module.
 */
suspend fun ArrowStream.ingestBatch(root: VectorSchemaRoot, allocator: BufferAllocator? = null): Long {
    val alloc = allocator ?: root.fieldVectors.firstOrNull()?.allocator
        ?: throw ZerobusException.InvalidArgument("the VectorSchemaRoot has no columns; a batch needs the stream's columns")
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
