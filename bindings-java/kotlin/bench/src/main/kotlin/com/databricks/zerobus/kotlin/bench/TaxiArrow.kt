// `--format taxi-arrow` (bench/DRIVER.md, "Taxi rows from the pool directory"): the pool files
// DIR/0.arrows, 1.arrows, … are each read with ArrowStreamReader before the clock and kept as
// ArrowRecordBatches (their buffers), an Arrow stream is created with the schema of 0.arrows, and
// call j loads pool batch j % K into one root with VectorLoader (no copy: the root takes references
// to the buffers, as a reader's loadNextBatch does) and passes it to ingestBatchTransfer, which
// moves the buffers to the stream and leaves the root empty for the next load. An untimed warm-up
// of the same calls (10,000,000 rows or 3 s) comes first, so the JIT has compiled the path when
// the clock starts. Its own file (class TaxiArrowKt), so the JSON runs never load Arrow Java.
package com.databricks.zerobus.kotlin.bench

import com.databricks.zerobus.kotlin.ArrowStream
import com.databricks.zerobus.kotlin.ZerobusSdk
import com.databricks.zerobus.kotlin.ingestBatchTransfer
import com.databricks.zerobus.kotlin.use
import org.apache.arrow.memory.BufferAllocator
import org.apache.arrow.memory.RootAllocator
import org.apache.arrow.vector.VectorLoader
import org.apache.arrow.vector.VectorSchemaRoot
import org.apache.arrow.vector.VectorUnloader
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch
import org.apache.arrow.vector.ipc.ArrowStreamReader
import org.apache.arrow.vector.ipc.ArrowStreamWriter
import java.io.ByteArrayOutputStream
import java.nio.channels.Channels
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.nio.file.StandardOpenOption
import java.util.Locale

/** Rows (and at most how long) the untimed warm-up ingests before the clock starts. */
private const val WARMUP_ROWS = 10_000_000L
private const val WARMUP_NANOS = 3_000_000_000L

/** One pool file, read once: the reader owns the root, so both are kept until the end. */
private class PoolBatch(val reader: ArrowStreamReader, val root: VectorSchemaRoot)

private fun load(allocator: BufferAllocator, file: Path, batch: Int): PoolBatch {
    val reader = ArrowStreamReader(FileChannel.open(file, StandardOpenOption.READ), allocator)
    try {
        require(reader.loadNextBatch()) { "$file holds no record batch" }
        val root = reader.vectorSchemaRoot
        require(root.rowCount == batch) { "$file holds a batch of ${root.rowCount} rows, not --batch $batch" }
        return PoolBatch(reader, root)
    } catch (t: Throwable) {
        reader.close()
        throw t
    }
}

/** The schema as an IPC stream of just the schema message (what createArrowStream takes). */
private fun schemaIpc(root: VectorSchemaRoot): ByteArray {
    val out = ByteArrayOutputStream()
    ArrowStreamWriter(root, null, Channels.newChannel(out)).use { w ->
        w.start()
        w.end()
    }
    return out.toByteArray()
}

private suspend fun calls(
    stream: ArrowStream,
    root: VectorSchemaRoot,
    pool: Array<ArrowRecordBatch>,
    tail: ArrowRecordBatch?,
    records: Long,
    batch: Int,
    start: Long, cap: Long,
): Long {
    val loader = VectorLoader(root)
    return cycle(pool, tail, records, batch, start, cap, { it.length }) {
        loader.load(it)
        stream.ingestBatchTransfer(root)
    }
}

internal suspend fun taxiArrow(
    dir: String,
    records: Long,
    batch: Int,
    seconds: Double,
    sdk: ZerobusSdk,
    table: String,
    clientId: String,
    clientSecret: String,
) {
    val files = ArrayList<PoolBatch>()
    var tail: VectorSchemaRoot? = null
    val unloaded = ArrayList<ArrowRecordBatch>()
    RootAllocator().use { allocator ->
        try {
            var k = 0
            while (true) {
                val file = Paths.get(dir, "$k.arrows")
                if (!Files.exists(file)) break
                files.add(load(allocator, file, batch))
                k++
            }
            require(files.isNotEmpty()) { "--pool $dir has no 0.arrows" }
            val pool = Array(files.size) { VectorUnloader(files[it].root).recordBatch.also { b -> unloaded.add(b) } }
            // The last call, if short, is the first records % B rows of its pool batch.
            val rest = (records % batch).toInt()
            var tailBatch: ArrowRecordBatch? = null
            if (rest > 0) {
                val t = files[((records / batch) % pool.size).toInt()].root.slice(0, rest)
                tail = t
                tailBatch = VectorUnloader(t).recordBatch.also { unloaded.add(it) }
            }
            val first = files[0].root
            val schema = schemaIpc(first)
            val cap = if (seconds > 0) (seconds * 1e9).toLong() else Long.MAX_VALUE

            sdk.createArrowStream(table, schema, clientId, clientSecret).use { stream ->
                VectorSchemaRoot.create(first.schema, allocator).use { root ->
                    // Warm-up, untimed: the JIT compiles the call path (as JMH warms up) before
                    // the clock starts, so the run measures what a long-lived loader sees.
                    calls(stream, root, pool, null, WARMUP_ROWS / batch * batch, batch, System.nanoTime(), WARMUP_NANOS)
                    stream.flush()
                    val start = System.nanoTime()
                    val done = calls(stream, root, pool, tailBatch, records, batch, start, cap)
                    stream.flush()
                    val s = (System.nanoTime() - start) / 1e9
                    println(String.format(Locale.ROOT, "RESULT records=%d seconds=%.6f", done, s))
                    System.out.flush()
                }
            }
        } finally {
            unloaded.forEach { it.close() }
            tail?.close()
            files.forEach { it.reader.close() }
            // The SDK closes the last transferred vectors on its own thread just after their
            // acks: give it a moment before the allocator checks that all is freed.
            var waited = 0
            while (allocator.allocatedMemory != 0L && waited++ < 5_000) Thread.sleep(1)
        }
    }
}
