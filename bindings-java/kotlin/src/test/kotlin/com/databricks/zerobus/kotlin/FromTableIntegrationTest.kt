package com.databricks.zerobus.kotlin

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.math.BigDecimal
import java.time.Instant
import java.time.LocalDate

/** Streams created from a table's schema, and the schema itself, against `zerobus serve --table`. */
class FromTableIntegrationTest {
    private val table = "main.default.readings"
    private val definition = "$table(id BIGINT NOT NULL, name STRING, temp DOUBLE, at TIMESTAMP, day DATE, " +
        "raw BINARY, price DECIMAL(10,2), tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>, " +
        "attrs MAP<STRING, INT>, ok BOOLEAN)"

    private val fromTable = StreamConfigurationOptions(recordType = RecordType.PROTO)

    @Test
    fun getTableSchemaReadsColumnsAndDerivesTheDescriptor(): Unit = runBlocking {
        Serve("--table", definition).use { serve ->
            serve.sdk().use { sdk ->
                val schema = sdk.getTableSchema(table, serve.clientId(), serve.clientSecret())
                assertEquals(table, schema.fullName)
                assertEquals(
                    listOf(
                        "id" to "bigint", "name" to "string", "temp" to "double", "at" to "timestamp",
                        "day" to "date", "raw" to "binary", "price" to "decimal(10,2)", "tags" to "array<string>",
                        "loc" to "struct<lat:double,lon:double>", "attrs" to "map<string,int>", "ok" to "boolean",
                    ),
                    schema.columns.map { it.name to it.typeText },
                )
                assertEquals((0 until 11).toList(), schema.columns.map { it.position })
                assertEquals(listOf(false) + List(10) { true }, schema.columns.map { it.nullable })
                assertEquals("LONG", schema.column("ID")?.typeName)
                assertNull(schema.column("nope"))
                assertTrue(schema.descriptorProto.isNotEmpty())
                assertTrue(schema.protoFile.contains("syntax = \"proto2\";"), schema.protoFile)
                assertTrue(schema.protoFile.contains("required int64 id = 1;"), schema.protoFile)
                assertTrue(schema.ucJson.contains("\"full_name\":\"$table\""), schema.ucJson)

                assertThrows<ZerobusException.NotFound> {
                    runBlocking { sdk.getTableSchema("main.default.missing", serve.clientId(), serve.clientSecret()) }
                }
                assertThrows<ZerobusException.Unauthenticated> {
                    runBlocking { sdk.getTableSchema(table, serve.clientId(), "wrong") }
                }
                assertThrows<ZerobusException.InvalidArgument> {
                    runBlocking { sdk.getTableSchema("no-dots", serve.clientId(), serve.clientSecret()) }
                }
                // With a headers provider, its `authorization` header is the credential.
                assertThrows<ZerobusException.Unauthenticated> {
                    runBlocking { sdk.getTableSchema(table) { listOf("authorization" to "Bearer not-a-token") } }
                }
                val e = assertThrows<ZerobusException.InvalidArgument> {
                    runBlocking { sdk.getTableSchema(table) { listOf("x-other" to "1") } }
                }
                assertTrue(e.detail.contains("authorization"), e.detail)
            }
        }
    }

    @Test
    fun aProtoStreamWithoutDescriptorTakesJsonTextAndMaps(): Unit = runBlocking {
        Serve("--table", definition).use { serve ->
            serve.sdk().use { sdk ->
                sdk.createStream(TableProperties(table), serve.clientId(), serve.clientSecret(), fromTable).use { s ->
                    assertEquals(RecordType.PROTO, s.recordType)
                    val schema = s.tableSchema!!
                    assertEquals(11, schema.columns.size)
                    assertFalse(s.streamId.isEmpty())
                    assertEquals(0L, s.ingestRecordOffset("""{"id": 1, "name": "a", "tags": ["x"]}"""))
                    assertEquals(1L, s.ingestRecordsOffset(listOf("""{"id": 2}""", """{"id": 3, "ok": true}""")))
                    val full = mapOf(
                        "id" to 4L, "name" to "b", "temp" to 21.5, "at" to Instant.parse("2024-05-01T12:30:00Z"),
                        "day" to LocalDate.of(2024, 5, 1), "raw" to byteArrayOf(1, 2, 3), "price" to BigDecimal("9.99"),
                        "tags" to listOf("p", "q"), "loc" to mapOf("lat" to 52.5, "lon" to 13.4),
                        "attrs" to mapOf("n" to 1), "ok" to false,
                    )
                    assertEquals(2L, s.ingestRecordOffset(full))
                    assertEquals(3L, s.ingestRecordsOffset(listOf(mapOf("id" to 5), mapOf("id" to 6, "name" to null))))
                    s.ingestRecordNowait(mapOf("id" to 7))
                    s.ingestRecordsNowait(listOf(mapOf("id" to 8)))
                    assertEquals(6L, s.tryIngestRecordOffset(mapOf("id" to 9)))
                    assertEquals(7L, s.tryIngestRecordsOffset(listOf(mapOf("id" to 10))))
                    assertNull(s.ingestRecordsOffset(emptyList<Map<String, Any?>>()))

                    // A record that does not fit its columns fails its call only, naming the column.
                    var e = assertThrows<ZerobusException.InvalidRecord> {
                        runBlocking { s.ingestRecordOffset(mapOf("id" to 11, "loc" to mapOf("lat" to "north"))) }
                    }
                    assertTrue(e.detail.contains("loc.lat"), e.detail)
                    e = assertThrows {
                        runBlocking { s.ingestRecordsOffset(listOf(mapOf("id" to 12), mapOf("name" to "no id"))) }
                    }
                    assertTrue(e.detail.contains("record 1 of the batch"), e.detail)
                    assertTrue(e.detail.contains("id"), e.detail)
                    e = assertThrows {
                        runBlocking { s.ingestRecordsOffset(listOf(mapOf("id" to 13), mapOf("id" to Any()))) }
                    }
                    assertTrue(e.detail.startsWith("record 1 of the batch: `id`: a java.lang.Object"), e.detail)
                    e = assertThrows { runBlocking { s.ingestRecordOffset("""{"id": 1, "nope": 2}""") } }
                    assertTrue(e.detail.contains("nope"), e.detail)
                    // Proto bytes still pass as they are.
                    assertEquals(8L, s.ingestRecordOffset(byteArrayOf(8, 14)))
                    s.flush()
                    assertEquals(8L, s.metrics().lastAckedOffset)
                    assertEquals(11L, s.metrics().recordsSent)
                }
            }
        }
    }

    @Test
    fun mapsAreEncodedAsTheirJsonTextWouldBe(): Unit = runBlocking {
        // Acks withheld: the encoded records stay readable with unackedRecords().
        Serve("--table", definition, "--withhold-acks").use { serve ->
            serve.sdk().use { sdk ->
                val s = sdk.createStream(TableProperties(table), serve.clientId(), serve.clientSecret(), fromTable)
                s.ingestRecordOffset(mapOf("id" to 7L, "name" to "a"))
                s.ingestRecordOffset(
                    mapOf(
                        "id" to 1, "at" to Instant.parse("2024-05-01T12:30:00.5Z"), "day" to LocalDate.of(1970, 1, 2),
                        "raw" to byteArrayOf(-1), "price" to BigDecimal("1.5"), "tags" to listOf("x"),
                        "loc" to mapOf("lat" to 1.0), "attrs" to mapOf("k" to 3),
                    ),
                )
                s.ingestRecordOffset(
                    """{"id":1,"at":"2024-05-01T12:30:00.500Z","day":1,"raw":"/w==","price":"1.50","tags":["x"],""" +
                        """"loc":{"lat":1.0},"attrs":{"k":3}}""",
                )
                val records = s.unackedRecords()
                assertEquals(3, records.size)
                // Field 1 varint 7, field 2 length 1 "a".
                assertArrayEquals(byteArrayOf(8, 7, 18, 1, 'a'.code.toByte()), records[0])
                assertArrayEquals(records[2], records[1])
                s.release() // nothing will be acked: drop the stream (and its connection) instead of closing
            }
        }
    }

    @Test
    fun aDescriptorStreamHasNoSchemaAndRefusesText(): Unit = runBlocking {
        Serve().use { serve ->
            serve.sdk().use { sdk ->
                // DescriptorProto { name: "R", field { name: "seed" number: 1 type: INT64 label: OPTIONAL } }
                val descriptor = byteArrayOf(10, 1, 'R'.code.toByte(), 18, 12, 10, 4) + "seed".toByteArray() +
                    byteArrayOf(24, 1, 32, 1, 40, 3)
                sdk.createStream(TableProperties("main.default.proto_table", descriptor), serve.clientId(),
                    serve.clientSecret(), fromTable).use { s ->
                    assertNull(s.tableSchema)
                    assertThrows<ZerobusException.InvalidRecord> { runBlocking { s.ingestRecordOffset(mapOf("seed" to 1)) } }
                }
                // Maps on a JSON stream are JSON records.
                sdk.createStream("main.default.json_table", serve.clientId(), serve.clientSecret()).use { s ->
                    assertEquals(0L, s.ingestRecordsOffset(listOf(mapOf("a" to 1), mapOf("b" to listOf(true)))))
                    s.flush()
                    assertEquals(0L, s.metrics().lastAckedOffset)
                }
            }
        }
    }
}
