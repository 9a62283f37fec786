package com.databricks.zerobus.kotlin

import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Against `target/debug/zerobus serve`; a missing binary fails the test (never a skip). */
class ServeIntegrationTest {
    @Test
    fun ingestsSingleAndBatchAndDeliversAcksAsAFlow() = runBlocking {
        Serve().use { serve ->
            serve.sdk().use { sdk ->
                assertTrue(sdk.userAgent.startsWith("zerobus-sdk-kotlin/"), sdk.userAgent)
                val acks = AckFlow()
                val stream = sdk.createStream(
                    "main.default.json_table",
                    serve.env.getValue("ZEROBUS_CLIENT_ID"),
                    serve.env.getValue("ZEROBUS_CLIENT_SECRET"),
                    StreamConfigurationOptions(recordType = RecordType.JSON, ackCallback = acks),
                )
                stream.use { s ->
                    assertEquals(RecordType.JSON, s.recordType)
                    assertEquals(0L, s.ingestRecordOffset("""{"id":0}"""))
                    assertEquals(1L, s.ingestRecordsOffset(listOf("""{"id":1}""", """{"id":2}""")))
                    assertNull(s.ingestRecordsOffset(emptyList<ByteArray>()))
                    s.ingestRecordNowait("""{"id":3}""")
                    assertEquals(3L, s.tryIngestRecordOffset("""{"id":4}"""))
                    s.waitForOffset(1)
                    s.flush()
                    assertEquals(3L, s.metrics().lastAckedOffset)
                    assertThrows<ZerobusException.InvalidRecord> { runBlocking { s.ingestRecordOffset("{not json") } }
                    assertThrows<ZerobusException.InvalidRecord> { runBlocking { s.ingestRecordOffset(byteArrayOf(8, 1)) } }
                    assertFalse(s.isClosed)
                }
                assertTrue(stream.isClosed)
                stream.close() // idempotent
                assertThrows<ZerobusException.StreamClosed> { runBlocking { stream.ingestRecordOffset("{}") } }
                val events = withTimeout(10_000) { acks.events.toList() }
                assertEquals((0L..3L).map { AckEvent.Acked(it) }, events)
            }
        }
    }

    @Test
    fun contiguousBatchCrossesInOneCallAndOversizeIsRejected() = runBlocking {
        Serve().use { serve ->
            serve.sdk().use { sdk ->
                sdk.createStream(
                    "main.default.json_table",
                    serve.env.getValue("ZEROBUS_CLIENT_ID"),
                    serve.env.getValue("ZEROBUS_CLIENT_SECRET"),
                ).use { s ->
                    val a = """{"a":1}""".toByteArray()
                    val b = """{"b":2}""".toByteArray()
                    assertEquals(0L, s.ingestRecordsOffset(a + b, intArrayOf(a.size, b.size)))
                    assertThrows<ZerobusException.InvalidArgument> {
                        runBlocking { s.ingestRecordsOffset(a, intArrayOf(a.size + 1)) }
                    }
                    val big = ByteArray(6_000_000) { 'x'.code.toByte() }
                    val e = assertThrows<ZerobusException.RecordTooLarge> {
                        runBlocking { s.ingestRecordsOffset(listOf(big, big)) }
                    }
                    assertFalse(e.retryable)
                    s.flush()
                    val m = s.metrics()
                    assertEquals(0L, m.lastAckedOffset)
                    assertEquals(2L, m.recordsSent)
                }
            }
        }
    }

    @Test
    fun badSecretIsUnauthenticatedAndNotRetryable() = runBlocking {
        Serve().use { serve ->
            serve.sdk().use { sdk ->
                val e = assertThrows<ZerobusException.Unauthenticated> {
                    runBlocking { sdk.createStream("main.default.json_table", serve.env.getValue("ZEROBUS_CLIENT_ID"), "wrong") }
                }
                assertFalse(e.retryable)
            }
        }
    }

    @Test
    fun headersProviderIsAskedOnConnect() = runBlocking {
        Serve().use { serve ->
            serve.sdk().use { sdk ->
                var calls = 0
                val e = runCatching {
                    sdk.createStream(TableProperties("main.default.json_table"), HeadersProvider {
                        calls++
                        listOf("authorization" to "Bearer not-a-token")
                    }, StreamConfigurationOptions(recordType = RecordType.JSON, recovery = false)).close()
                }.exceptionOrNull()
                assertTrue(calls >= 1)
                // The local server refuses an unknown bearer: the error keeps its code.
                if (e != null) assertTrue(e is ZerobusException, "$e")
            }
        }
        Unit
    }
}
