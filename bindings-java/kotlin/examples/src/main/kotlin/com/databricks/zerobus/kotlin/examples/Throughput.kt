// Records/s through the Kotlin SDK: `Throughput N SIZE BATCH` ingests N JSON records of SIZE bytes
// (BATCH per call; 1 = the single-record call) into `zerobus serve`, flushes, and prints the rate.
// Records and calls as in core/examples/throughput.rs, so the two compare in one run.
package com.databricks.zerobus.kotlin.examples

import com.databricks.zerobus.kotlin.RecordType
import com.databricks.zerobus.kotlin.StreamConfigurationOptions
import com.databricks.zerobus.kotlin.ZerobusSdk
import com.databricks.zerobus.kotlin.use
import kotlinx.coroutines.runBlocking

object Throughput {
    /** `{"seq":N,"pad":"xxx…"}` of exactly [size] bytes (as make_record in the Rust example). */
    private fun record(size: Int, seq: Long): ByteArray {
        val head = "{\"seq\":$seq,\"pad\":\""
        val b = StringBuilder(size)
        b.append(head)
        while (b.length + 2 < size) b.append('x')
        b.append("\"}")
        return b.toString().toByteArray()
    }

    @JvmStatic
    fun main(args: Array<String>) = runBlocking {
        val n = args.getOrNull(0)?.toLong() ?: 1_000_000L
        val size = args.getOrNull(1)?.toInt() ?: 220
        val batch = maxOf(1, args.getOrNull(2)?.toInt() ?: 1000)
        fun env(k: String) = System.getenv(k) ?: error("$k is not set (run `zerobus serve`)")
        ZerobusSdk(env("ZEROBUS_ENDPOINT"), env("ZEROBUS_WORKSPACE_URL")).use { sdk ->
            val stream = sdk.createStream(
                "main.default.events",
                env("ZEROBUS_CLIENT_ID"),
                env("ZEROBUS_CLIENT_SECRET"),
                StreamConfigurationOptions(recordType = RecordType.JSON),
            )
            stream.use { s ->
                val t0 = System.nanoTime()
                var i = 0L
                while (i < n) {
                    val k = minOf(batch.toLong(), n - i).toInt()
                    if (batch == 1) {
                        s.ingestRecordOffset(String(record(size, i), Charsets.UTF_8))
                    } else {
                        s.ingestRecordsOffset(List(k) { record(size, i + it) })
                    }
                    i += k
                }
                s.flush()
                val secs = (System.nanoTime() - t0) / 1e9
                println("kotlin batch=$batch records=$n seconds=${"%.3f".format(secs)} records_per_s=${"%.0f".format(n / secs)}")
            }
        }
    }
}
