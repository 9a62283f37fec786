// Creates a stream from a table (its schema read from Unity Catalog, no .proto anywhere) and
// ingests Map records, encoded to proto by the table's columns in the core. Run it against
// `zerobus serve --table 'main.default.air_quality(device_name STRING NOT NULL, temp INT,
// humidity BIGINT, at TIMESTAMP, price DECIMAL(10,2), tags ARRAY<STRING>,
// loc STRUCT<lat: DOUBLE, lon: DOUBLE>)'` with the environment variables it prints (run-maps.sh
// does it all).
package com.databricks.zerobus.kotlin.examples

import com.databricks.zerobus.kotlin.RecordType
import com.databricks.zerobus.kotlin.StreamConfigurationOptions
import com.databricks.zerobus.kotlin.TableProperties
import com.databricks.zerobus.kotlin.ZerobusException
import com.databricks.zerobus.kotlin.ZerobusSdk
import com.databricks.zerobus.kotlin.use
import kotlinx.coroutines.runBlocking
import java.math.BigDecimal
import java.time.Instant

fun main(): Unit = runBlocking {
    val table = System.getenv("ZEROBUS_TABLE") ?: "main.default.air_quality"
    val id = System.getenv("ZEROBUS_CLIENT_ID")
    val secret = System.getenv("ZEROBUS_CLIENT_SECRET")
    ZerobusSdk(System.getenv("ZEROBUS_ENDPOINT"), System.getenv("ZEROBUS_WORKSPACE_URL")).use { sdk ->
        val schema = sdk.getTableSchema(table, id, secret)
        println("columns of $table: ${schema.columns.map { "${it.name} ${it.typeText}" }}")
        // PROTO with no descriptor: the stream is created from the table.
        sdk.createStream(TableProperties(table), id, secret, StreamConfigurationOptions(recordType = RecordType.PROTO))
            .use { stream ->
                // One record...
                stream.ingestRecordOffset(
                    mapOf(
                        "device_name" to "sensor-0", "temp" to 21, "at" to Instant.now(),
                        "tags" to listOf("indoor"), "loc" to mapOf("lat" to 52.52, "lon" to 13.40),
                    ),
                )
                // ...and a batch: written as JSON into one buffer, one native call, one offset.
                val batch = (1..1000).map { i ->
                    mapOf("device_name" to "sensor-$i", "humidity" to 40L + i % 20, "price" to BigDecimal("9.99"))
                }
                val offset = stream.ingestRecordsOffset(batch)!!
                stream.waitForOffset(offset)
                // A value that does not fit its column fails that call only, naming the column.
                try {
                    stream.ingestRecordOffset(mapOf("device_name" to "bad", "loc" to mapOf("lat" to "north")))
                } catch (e: ZerobusException.InvalidRecord) {
                    println("refused: ${e.detail}")
                }
                stream.flush()
                println("acked through offset ${stream.metrics().lastAckedOffset}")
            }
    }
}
