// The Kotlin bench driver: bench/DRIVER.md is the contract (command line, records, clock, output).
// single: ingestRecordOffset(String); nowait: ingestRecordNowait(String); batch:
// ingestRecordsOffset(ByteArray, IntArray), the documented fastest batch call (one buffer plus
// lengths, one native call). --format taxi-arrow --pool DIR: ArrowStream.ingestBatch(VectorSchemaRoot)
// of the pool's Arrow batches (TaxiArrow.kt); --format taxi|taxi-typed --pool DIR: the pool's JSON
// rows on a JSON stream or a stream from the table (TaxiJson.kt).
package com.databricks.zerobus.kotlin.bench

import com.databricks.zerobus.kotlin.RecordType
import com.databricks.zerobus.kotlin.StreamConfigurationOptions
import com.databricks.zerobus.kotlin.ZerobusSdk
import com.databricks.zerobus.kotlin.ZerobusStream
import com.databricks.zerobus.kotlin.use
import kotlinx.coroutines.runBlocking
import java.util.Locale
import kotlin.system.exitProcess

private const val POOL = 1000

/** `{"i":K,"p":"xx…x"}` of exactly [size] bytes. */
internal fun record(k: Int, size: Int): String {
    val head = "{\"i\":$k,\"p\":\""
    val pad = size - head.length - 2
    require(pad >= 0) { "--size $size is too small for record $k" }
    return head + "x".repeat(pad) + "\"}"
}

private class Args(
    val mode: String,
    val size: Int,
    val records: Long,
    val batch: Int,
    val seconds: Double,
    val format: String,
    val pool: String?,
)

private fun parse(args: Array<String>): Args {
    var mode: String? = null
    var size = -1
    var records = -1L
    var batch = 1000
    var seconds = 0.0
    var format = "json"
    var pool: String? = null
    var i = 0
    while (i < args.size) {
        val a = args[i]
        require(i + 1 < args.size) { "$a needs a value" }
        val v = args[i + 1]
        when (a) {
            "--mode" -> mode = v
            "--size" -> size = v.toInt()
            "--records" -> records = v.toLong()
            "--batch" -> batch = v.toInt()
            "--seconds" -> seconds = v.toDouble()
            "--format" -> {
                require(v in setOf("json", "taxi", "taxi-typed", "taxi-arrow")) {
                    "--format $v: this driver takes json, taxi, taxi-typed or taxi-arrow"
                }
                format = v
            }
            "--pool" -> pool = v
            // Honoured only by the published-SDK driver; every binding runs with its defaults.
            "--max-inflight-requests" -> {}
            else -> throw IllegalArgumentException("unknown argument $a")
        }
        i += 2
    }
    if (format != "json") {
        require(mode == "batch" && pool != null && records >= 0 && batch >= 1) {
            "usage: --mode batch --format $format --batch B --records N --pool DIR [--seconds S]"
        }
        return Args(mode, size, records, batch, seconds, format, pool)
    }
    require(mode != null && size >= 20 && records >= 0) {
        "usage: --mode single|nowait|batch [--format json] --size BYTES(>=20) --records N [--batch B] [--seconds S]" +
            " | --mode batch --format taxi|taxi-typed|taxi-arrow --batch B --records N --pool DIR [--seconds S]"
    }
    require(mode in setOf("single", "nowait", "batch")) { "unknown mode $mode" }
    require(mode != "batch" || (batch >= 1 && POOL % batch == 0)) { "--batch must divide $POOL, got $batch" }
    return Args(mode, size, records, batch, seconds, format, pool)
}

private fun env(name: String): String =
    System.getenv(name)?.takeIf { it.isNotEmpty() } ?: throw IllegalArgumentException("$name is not set")

/** One batch call's records: one buffer and their lengths. */
private class Batch(val data: ByteArray, val lengths: IntArray)

/** Batch `j` holds records `(j*B) % 1000 .. +B`; the last call may be shorter (`n`), so it gets its own. */
private fun batchOf(pool: Array<ByteArray>, first: Int, n: Int): Batch {
    val size = pool[0].size
    val data = ByteArray(n * size)
    for (r in 0 until n) pool[first + r].copyInto(data, r * size)
    return Batch(data, IntArray(n) { size })
}

// One small function per loop, so the JIT compiles the loop alone, not the whole driver.

private suspend fun single(stream: ZerobusStream, pool: Array<String>, records: Long, start: Long, cap: Long): Long {
    var done = 0L
    while (done < records) {
        if ((done and 1023L) == 0L && System.nanoTime() - start >= cap) break
        stream.ingestRecordOffset(pool[(done % POOL).toInt()])
        done++
    }
    return done
}

private suspend fun nowait(stream: ZerobusStream, pool: Array<String>, records: Long, start: Long, cap: Long): Long {
    var done = 0L
    while (done < records) {
        if ((done and 1023L) == 0L && System.nanoTime() - start >= cap) break
        stream.ingestRecordNowait(pool[(done % POOL).toInt()])
        done++
    }
    return done
}

private suspend fun batches(
    stream: ZerobusStream,
    batches: Array<Batch>,
    tail: Batch?,
    records: Long,
    batch: Int,
    start: Long, cap: Long,
): Long = cycle(batches, tail, records, batch, start, cap, { it.lengths.size }) {
    stream.ingestRecordsOffset(it.data, it.lengths)
}

/**
 * The loop every batch format shares: call `j` passes `pool[j % pool.size]`, a short last call
 * [tail]; it stops after [records] records or once [cap] ns have passed since [start] (read
 * before every call). Inline, so each caller is still a loop of its own for the JIT.
 */
internal suspend inline fun <T> cycle(
    pool: Array<T>,
    tail: T?,
    records: Long,
    batch: Int,
    start: Long, cap: Long,
    size: (T) -> Int,
    call: (T) -> Unit,
): Long {
    var done = 0L
    var j = 0
    while (done < records) {
        if (System.nanoTime() - start >= cap) break
        val b = if (records - done >= batch) pool[j] else tail!!
        call(b)
        done += size(b)
        j = if (j + 1 == pool.size) 0 else j + 1
    }
    return done
}

private suspend fun ingest(stream: ZerobusStream, a: Args): Long {
    val pool = Array(POOL) { record(it, a.size) }
    val perPool = POOL / a.batch
    val bytes = if (a.mode == "batch") Array(POOL) { pool[it].toByteArray() } else emptyArray()
    val batches = if (a.mode == "batch") Array(perPool) { batchOf(bytes, it * a.batch, a.batch) } else emptyArray()
    val rest = (a.records % a.batch).toInt()
    val tail = if (a.mode == "batch" && rest > 0) {
        batchOf(bytes, ((a.records / a.batch) % perPool).toInt() * a.batch, rest)
    } else {
        null
    }
    val cap = if (a.seconds > 0) (a.seconds * 1e9).toLong() else Long.MAX_VALUE

    val start = System.nanoTime()
    val done = when (a.mode) {
        "single" -> single(stream, pool, a.records, start, cap)
        "nowait" -> nowait(stream, pool, a.records, start, cap)
        else -> batches(stream, batches, tail, a.records, a.batch, start, cap)
    }
    stream.flush()
    val seconds = (System.nanoTime() - start) / 1e9
    println(String.format(Locale.ROOT, "RESULT records=%d seconds=%.6f", done, seconds))
    System.out.flush()
    return done
}

fun main(args: Array<String>) {
    try {
        val a = parse(args)
        runBlocking {
            ZerobusSdk(env("ZEROBUS_ENDPOINT"), env("ZEROBUS_WORKSPACE_URL")).use { sdk ->
                if (a.format == "taxi-arrow") {
                    taxiArrow(
                        a.pool!!, a.records, a.batch, a.seconds, sdk,
                        env("ZEROBUS_TABLE"), env("ZEROBUS_CLIENT_ID"), env("ZEROBUS_CLIENT_SECRET"),
                    )
                } else if (a.format != "json") {
                    taxiJson(
                        a.pool!!, a.format == "taxi-typed", a.records, a.batch, a.seconds, sdk,
                        env("ZEROBUS_TABLE"), env("ZEROBUS_CLIENT_ID"), env("ZEROBUS_CLIENT_SECRET"),
                    )
                } else {
                    sdk.createStream(
                        env("ZEROBUS_TABLE"),
                        env("ZEROBUS_CLIENT_ID"),
                        env("ZEROBUS_CLIENT_SECRET"),
                        StreamConfigurationOptions(recordType = RecordType.JSON),
                    ).use { stream -> ingest(stream, a) }
                }
            }
        }
    } catch (t: Throwable) {
        System.err.println("zerobus-bench-kotlin: $t")
        t.printStackTrace()
        exitProcess(1)
    }
    // Library threads are daemons; exit at once rather than wait for the JVM's idle teardown.
    exitProcess(0)
}
