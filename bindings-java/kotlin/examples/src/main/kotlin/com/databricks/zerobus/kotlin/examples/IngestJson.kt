// Ingests JSON records into a Zerobus endpoint with the Kotlin SDK and prints the acked count.
// Settings come from ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID,
// ZEROBUS_CLIENT_SECRET and ZEROBUS_TABLE (as `zerobus serve` prints them); run.sh does it all.
package com.databricks.zerobus.kotlin.examples

import com.databricks.zerobus.kotlin.AckEvent
import com.databricks.zerobus.kotlin.AckFlow
import com.databricks.zerobus.kotlin.RecordType
import com.databricks.zerobus.kotlin.StreamConfigurationOptions
import com.databricks.zerobus.kotlin.ZerobusException
import com.databricks.zerobus.kotlin.ZerobusSdk
import com.databricks.zerobus.kotlin.use
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlin.system.exitProcess

private fun env(name: String, default: String? = null): String =
    System.getenv(name) ?: default ?: run {
        System.err.println("IngestJson: set $name (run.sh starts `zerobus serve` and sets it)")
        exitProcess(2)
    }

fun main(args: Array<String>) = runBlocking {
    val count = args.firstOrNull()?.toInt() ?: 10_000
    val acks = AckFlow()
    try {
        ZerobusSdk(env("ZEROBUS_ENDPOINT"), env("ZEROBUS_WORKSPACE_URL")).use { sdk ->
            val options = StreamConfigurationOptions(recordType = RecordType.JSON, ackCallback = acks)
            val stream = sdk.createStream(
                env("ZEROBUS_TABLE", "main.default.json_table"),
                env("ZEROBUS_CLIENT_ID"),
                env("ZEROBUS_CLIENT_SECRET"),
                options,
            )
            // Count acks from the Flow while ingesting; it completes when the stream is closed.
            val acked = async { var n = 0L; acks.events.collect { if (it is AckEvent.Acked) n++ }; n }
            stream.use { s ->
                // Half the records one call each, half in batches of 100 (one native call per batch).
                val half = count / 2
                for (i in 0 until half) s.ingestRecordOffset("""{"id":$i,"source":"kotlin-example"}""")
                for (start in half until count step 100) {
                    val batch = (start until minOf(start + 100, count)).map { """{"id":$it,"source":"kotlin-example"}""" }
                    s.ingestRecordsOffset(batch)
                }
                s.flush()
            }
            println("acked ${acked.await()} offsets (${count} records in ${count / 2} single calls and ${(count - count / 2 + 99) / 100} batches); all durable")
        }
    } catch (e: ZerobusException) {
        System.err.println("IngestJson failed: ${e.code} (retryable=${e.retryable}): ${e.detail}")
        exitProcess(1)
    }
}
