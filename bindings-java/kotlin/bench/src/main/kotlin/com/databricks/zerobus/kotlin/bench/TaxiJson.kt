// `--format taxi` and `--format taxi-typed` (bench/DRIVER.md, "Taxi rows from the pool directory"):
// record k is line k % R of DIR/rows.jsonl, read before the clock; call j passes records
// (j*B) % R .. +B. taxi: a JSON stream, ingestRecordsOffset(ByteArray, IntArray) (the json mode's
// call). taxi-typed: a stream from the table (PROTO, TableProperties without a descriptor: core
// encodes each JSON record by the table's types), ingestRecordsOffset(List<String>), the batch call
// that takes JSON text on such a stream.
package com.databricks.zerobus.kotlin.bench

import com.databricks.zerobus.kotlin.RecordType
import com.databricks.zerobus.kotlin.StreamConfigurationOptions
import com.databricks.zerobus.kotlin.TableProperties
import com.databricks.zerobus.kotlin.ZerobusSdk
import com.databricks.zerobus.kotlin.ZerobusStream
import com.databricks.zerobus.kotlin.use
import java.nio.file.Files
import java.nio.file.Paths
import java.util.Locale

/** One batch call's records for `taxi`: one buffer and their lengths. */
private class JsonBatch(val data: ByteArray, val lengths: IntArray)

private fun jsonBatch(rows: Array<ByteArray>, first: Int, n: Int): JsonBatch {
    val lengths = IntArray(n) { rows[first + it].size }
    val data = ByteArray(lengths.sum())
    var at = 0
    for (r in 0 until n) {
        rows[first + r].copyInto(data, at)
        at += lengths[r]
    }
    return JsonBatch(data, lengths)
}

private suspend fun jsonCalls(
    stream: ZerobusStream,
    batches: Array<JsonBatch>,
    tail: JsonBatch?,
    records: Long,
    batch: Int,
    start: Long, cap: Long,
): Long = cycle(batches, tail, records, batch, start, cap, { it.lengths.size }) {
    stream.ingestRecordsOffset(it.data, it.lengths)
}

private suspend fun typedCalls(
    stream: ZerobusStream,
    batches: Array<List<String>>,
    tail: List<String>?,
    records: Long,
    batch: Int,
    start: Long, cap: Long,
): Long = cycle(batches, tail, records, batch, start, cap, { it.size }) { stream.ingestRecordsOffset(it) }

internal suspend fun taxiJson(
    dir: String,
    typed: Boolean,
    records: Long,
    batch: Int,
    seconds: Double,
    sdk: ZerobusSdk,
    table: String,
    clientId: String,
    clientSecret: String,
) {
    val rows = Files.readAllLines(Paths.get(dir, "rows.jsonl")).dropLastWhile { it.isEmpty() }
    val r = rows.size
    require(r > 0) { "--pool $dir: rows.jsonl holds no rows" }
    require(r % batch == 0) { "--batch $batch does not divide the pool's $r rows" }
    val perPool = r / batch
    val rest = (records % batch).toInt()
    val tailFirst = ((records / batch) % perPool).toInt() * batch
    val cap = if (seconds > 0) (seconds * 1e9).toLong() else Long.MAX_VALUE

    // Loaded before the clock, in the form each call takes.
    if (typed) {
        val batches = Array(perPool) { rows.subList(it * batch, (it + 1) * batch).toList() }
        val tail = if (rest > 0) rows.subList(tailFirst, tailFirst + rest).toList() else null
        sdk.createStream(TableProperties(table), clientId, clientSecret, StreamConfigurationOptions(recordType = RecordType.PROTO))
            .use { stream -> report(stream) { start -> typedCalls(stream, batches, tail, records, batch, start, cap) } }
    } else {
        val bytes = Array(r) { rows[it].toByteArray() }
        val batches = Array(perPool) { jsonBatch(bytes, it * batch, batch) }
        val tail = if (rest > 0) jsonBatch(bytes, tailFirst, rest) else null
        sdk.createStream(table, clientId, clientSecret, StreamConfigurationOptions(recordType = RecordType.JSON))
            .use { stream -> report(stream) { start -> jsonCalls(stream, batches, tail, records, batch, start, cap) } }
    }
}

/** Starts the clock, runs [calls], flushes and prints the RESULT line. */
private suspend inline fun report(stream: ZerobusStream, calls: (Long) -> Long) {
    val start = System.nanoTime()
    val done = calls(start)
    stream.flush()
    val s = (System.nanoTime() - start) / 1e9
    println(String.format(Locale.ROOT, "RESULT records=%d seconds=%.6f", done, s))
    System.out.flush()
}
