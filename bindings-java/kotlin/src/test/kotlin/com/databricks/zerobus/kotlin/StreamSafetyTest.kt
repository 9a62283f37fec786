package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.takeError
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import java.util.Collections
import java.util.EnumSet
import java.util.concurrent.atomic.AtomicInteger

/**
 * Every public stream method on a closed stream, on a released stream, and racing a close and a
 * release from other coroutines and threads: each call returns or throws a clean
 * [ZerobusException], never crashes the JVM. Stale and forged handles through the fast path's
 * functions (`fast.rs`) are clean errors. Also strings on a PROTO stream, the headers provider's
 * codes, options the core rejects and a closed SDK.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StreamSafetyTest {
    private lateinit var serve: Serve

    @BeforeAll
    fun start() {
        serve = Serve()
    }

    @AfterAll
    fun stop() {
        serve.close()
    }

    private fun record(i: Int) = """{"n":$i}"""

    private suspend fun open(sdk: ZerobusSdk, options: StreamConfigurationOptions = StreamConfigurationOptions(recordType = RecordType.JSON)) =
        sdk.createStream(TableProperties(JSON_TABLE), serve.clientId(), serve.clientSecret(), options)

    private suspend fun fails(code: ErrorCode, block: suspend () -> Any?): ZerobusException {
        val e = try {
            block()
            null
        } catch (e: ZerobusException) {
            e
        }
        assertNotNull(e, "expected $code")
        assertEquals(code, e!!.code, e.toString())
        assertTrue(e.detail.isNotEmpty())
        return e
    }

    /**
     * Every ingest overload (text and bytes), each expected to fail with [code]. A single-record
     * `ByteArray` is an encoded proto message, which a JSON stream refuses (`INVALID_RECORD`) before
     * it looks at its state, so those forms are checked only when [singleBytes].
     */
    private suspend fun everyIngestFails(s: ZerobusStream, code: ErrorCode, singleBytes: Boolean = true) {
        val b = record(1).toByteArray()
        fails(code) { s.ingestRecordOffset(record(1)) }
        fails(code) { s.ingestRecordNowait(record(1)) }
        fails(code) { s.tryIngestRecordOffset(record(1)) }
        if (singleBytes) {
            fails(code) { s.ingestRecordOffset(b) }
            fails(code) { s.ingestRecordNowait(b) }
            fails(code) { s.tryIngestRecordOffset(b) }
        }
        fails(code) { s.ingestRecordsOffset(listOf(record(1), record(2))) }
        fails(code) { s.ingestRecordsOffset(listOf(b)) }
        fails(code) { s.ingestRecordsOffset(b, intArrayOf(b.size)) }
        fails(code) { s.ingestRecordsNowait(listOf(record(1))) }
        fails(code) { s.ingestRecordsNowait(listOf(b)) }
        fails(code) { s.tryIngestRecordsOffset(listOf(record(1))) }
        fails(code) { s.tryIngestRecordsOffset(listOf(b)) }
    }

    @Test
    fun closedStreamFailsIngestWithStreamClosedAndAnswersTheRest(): Unit = runBlocking {
        serve.sdk().use { sdk ->
            val s = open(sdk)
            assertEquals(0L, s.ingestRecordOffset(record(0)))
            s.close()
            everyIngestFails(s, ErrorCode.STREAM_CLOSED, singleBytes = false)
            // Documented answers after close: idempotent close, acked offsets and flush succeed,
            // a never-assigned offset is INVALID_ARGUMENT, the queries still work.
            s.close()
            s.waitForOffset(0)
            s.flush()
            fails(ErrorCode.INVALID_ARGUMENT) { s.waitForOffset(5) }
            fails(ErrorCode.INVALID_ARGUMENT) { s.waitForOffset(-1) }
            assertTrue(s.isClosed)
            assertEquals(0L, s.metrics().lastAckedOffset)
            assertTrue(s.unackedBatches().isEmpty())
            assertTrue(s.unackedRecords().isEmpty())
            // An empty batch queues nothing, but on a closed stream it fails like any call.
            fails(ErrorCode.STREAM_CLOSED) { s.ingestRecordsOffset(emptyList<ByteArray>()) }
            // A closed PROTO stream: the single-record ByteArray forms.
            val p = sdk.createStream(TableProperties(PROTO_TABLE, EVENT_DESCRIPTOR), serve.clientId(), serve.clientSecret())
            p.close()
            fails(ErrorCode.STREAM_CLOSED) { p.ingestRecordOffset(byteArrayOf(8, 7)) }
            fails(ErrorCode.STREAM_CLOSED) { p.ingestRecordNowait(byteArrayOf(8, 7)) }
            fails(ErrorCode.STREAM_CLOSED) { p.tryIngestRecordOffset(byteArrayOf(8, 7)) }
            fails(ErrorCode.STREAM_CLOSED) { p.ingestRecordsOffset(listOf(byteArrayOf(8, 7))) }
        }
    }

    @Test
    fun releasedStreamFailsEveryCallCleanly(): Unit = runBlocking {
        serve.sdk().use { sdk ->
            val closed = open(sdk)
            closed.ingestRecordOffset(record(0))
            closed.close()
            closed.release()
            assertReleased(closed)
            val live = open(sdk) // released while open
            live.ingestRecordNowait(record(0))
            live.release()
            assertReleased(live)
            live.release() // idempotent
        }
    }

    private suspend fun assertReleased(s: ZerobusStream) {
        everyIngestFails(s, ErrorCode.INVALID_ARGUMENT)
        val e = fails(ErrorCode.INVALID_ARGUMENT) { s.ingestRecordOffset(record(1)) }
        assertTrue(e.detail.contains("released"), e.detail)
        val f = fails(ErrorCode.INVALID_ARGUMENT) { s.flush() }
        assertTrue(f.detail.contains("released"), f.detail)
        fails(ErrorCode.INVALID_ARGUMENT) { s.waitForOffset(0) }
        fails(ErrorCode.INVALID_ARGUMENT) { s.close() }
        fails(ErrorCode.INVALID_ARGUMENT) { s.metrics() }
        fails(ErrorCode.INVALID_ARGUMENT) { s.unackedBatches() }
        fails(ErrorCode.INVALID_ARGUMENT) { s.unackedRecords() }
        assertTrue(s.isClosed)
        assertEquals(JSON_TABLE, s.tableName)
    }

    /** Stale and forged handles given to every handle-taking function of `fast.rs`. */
    @Test
    fun staleAndForgedHandlesAreCleanErrors(): Unit = runBlocking {
        val stale = serve.sdk().use { sdk ->
            val s = open(sdk)
            s.close()
            s.release()
            s.fastHandle
        }
        val forged = listOf(0L, 1L, 0x1234L, -1L, Long.MIN_VALUE, Long.MAX_VALUE, stale)
        val scratch = Scratch.get(NativeIngest.SLOT + 64L)
        val rec = record(1).toByteArray()
        for (h in forged) {
            // queueOne / queueBatch answer FAILED with an INVALID_ARGUMENT error in the slot.
            scratch.buf.put(NativeIngest.SLOT, rec)
            for (mode in listOf(NativeIngest.MODE_QUEUE, NativeIngest.MODE_TRY, NativeIngest.MODE_TEXT)) {
                assertEquals(NativeIngest.FAILED, NativeIngest.queueOne(h, scratch.address, rec.size, mode), "$h")
                val e = fails(ErrorCode.INVALID_ARGUMENT) { ffiCall { takeError(scratch.slot().toULong()) } }
                assertTrue(e.detail.contains("stream handle"), e.detail)
            }
            ZerobusStream.layOut(scratch.buf, listOf(rec))
            assertEquals(NativeIngest.FAILED, NativeIngest.queueBatch(h, scratch.address, 1, rec.size.toLong(), 0))
            fails(ErrorCode.INVALID_ARGUMENT) { ffiCall { takeError(scratch.slot().toULong()) } }
            // takeError / awaitPending with a handle that is no error / pending call.
            if (h != 0L) fails(ErrorCode.INVALID_ARGUMENT) { ffiCall { takeError(h.toULong()) } }
            fails(ErrorCode.INVALID_ARGUMENT) { NativeIngest.awaitPending(h) }
            // pendingFree / release ignore what they do not know.
            NativeIngest.pendingFree(h)
            NativeIngest.release(h)
        }
        // Handle 0 stands for "no error could be handed out": INTERNAL.
        fails(ErrorCode.INTERNAL) { ffiCall { takeError(0uL) } }
        // An error handle is taken once; the second take is a stale handle.
        assertEquals(NativeIngest.FAILED, NativeIngest.queueOne(stale, scratch.address, rec.size, 0))
        val taken = scratch.slot()
        fails(ErrorCode.INVALID_ARGUMENT) { ffiCall { takeError(taken.toULong()) } }
        val again = fails(ErrorCode.INVALID_ARGUMENT) { ffiCall { takeError(taken.toULong()) } }
        assertTrue(again.detail.contains("already released"), again.detail)
        // Wrong kind: an error handle is not a pending call.
        assertEquals(NativeIngest.FAILED, NativeIngest.queueOne(stale, scratch.address, rec.size, 0))
        val errorHandle = scratch.slot()
        fails(ErrorCode.INVALID_ARGUMENT) { NativeIngest.awaitPending(errorHandle) }
        fails(ErrorCode.INVALID_ARGUMENT) { ffiCall { takeError(errorHandle.toULong()) } }
        // A zero buffer address is refused before anything is read or written.
        assertEquals(NativeIngest.NO_BUFFER, NativeIngest.queueOne(stale, 0, 4, 0))
        assertEquals(NativeIngest.NO_BUFFER, NativeIngest.queueBatch(stale, 0, 1, 4, 0))
    }

    /**
     * Coroutines and threads on every ingest form race a close and then a release: each call
     * returns or throws a ZerobusException (STREAM_CLOSED, QUEUE_FULL, INVALID_ARGUMENT after the
     * release); nothing else escapes and the JVM survives. A small in-flight bound sends calls down
     * the waiting path too, and the ack callback throws on every ack.
     */
    @Test
    fun ingestRacingCloseAndReleaseOnlyThrowsZerobusExceptions(): Unit = runBlocking {
        repeat(3) { round ->
            serve.sdk().use { sdk ->
                val acked = AtomicInteger()
                val s = open(
                    sdk,
                    StreamConfigurationOptions(
                        recordType = RecordType.JSON,
                        maxInflightRequests = 16,
                        ackCallback = object : AckCallback {
                            override fun onAck(offset: Long) {
                                acked.incrementAndGet()
                                throw IllegalStateException("the test's callback throws on every ack")
                            }
                        },
                    ),
                )
                val unexpected = Collections.synchronizedList(ArrayList<Throwable>())
                val seen = Collections.synchronizedSet(EnumSet.noneOf(ErrorCode::class.java))
                suspend fun one(kind: Int, i: Int) {
                    try {
                        when ((kind + i) % 9) {
                            0 -> s.ingestRecordOffset(record(i))
                            1 -> s.ingestRecordNowait(record(i))
                            2 -> s.tryIngestRecordOffset(record(i))
                            3 -> s.ingestRecordsOffset(listOf(record(i), record(i + 1)))
                            4 -> s.ingestRecordsOffset(record(i).toByteArray(), intArrayOf(record(i).length))
                            5 -> s.tryIngestRecordsOffset(listOf(record(i).toByteArray()))
                            6 -> {
                                s.metrics()
                                s.isClosed
                            }
                            7 -> s.unackedBatches()
                            else -> s.flush()
                        }
                    } catch (e: ZerobusException) {
                        seen.add(e.code)
                        if (e.code == ErrorCode.INVALID_ARGUMENT && !e.detail.contains("released")) unexpected.add(e)
                    } catch (t: Throwable) {
                        unexpected.add(t)
                    }
                }
                val threads = (0 until 4).map { k ->
                    Thread { runBlocking { repeat(3000) { one(k, it) } } }.apply { start() }
                }
                withTimeout(60_000) {
                    coroutineScope {
                        val producers = (0 until 8).map { k ->
                            async(Dispatchers.Default) { repeat(3000) { one(k, it) } }
                        }
                        delay(20L + 30L * round)
                        try {
                            s.close()
                        } catch (e: ZerobusException) {
                            seen.add(e.code)
                        }
                        delay(10)
                        s.release()
                        producers.awaitAll()
                    }
                }
                threads.forEach { it.join(60_000) }
                threads.forEach { assertFalse(it.isAlive, "a producer thread is stuck") }
                assertTrue(unexpected.isEmpty(), "unexpected: $unexpected")
                assertTrue(
                    seen.contains(ErrorCode.STREAM_CLOSED) || seen.contains(ErrorCode.INVALID_ARGUMENT),
                    "no call saw the close: $seen",
                )
                val allowed = EnumSet.of(ErrorCode.STREAM_CLOSED, ErrorCode.QUEUE_FULL, ErrorCode.INVALID_ARGUMENT)
                assertTrue(allowed.containsAll(seen), "codes: $seen")
                assertTrue(s.isClosed)
            }
        }
    }

    @Test
    fun stringsOnAProtoStreamAreInvalidRecordForThatCallOnly(): Unit = runBlocking {
        serve.sdk().use { sdk ->
            val s = sdk.createStream(TableProperties(PROTO_TABLE, EVENT_DESCRIPTOR), serve.clientId(), serve.clientSecret())
            val json = """{"id":1}"""
            val e = fails(ErrorCode.INVALID_RECORD) { s.ingestRecordOffset(json) }
            assertFalse(e.retryable)
            assertTrue(e.detail.contains("PROTO"), e.detail)
            fails(ErrorCode.INVALID_RECORD) { s.tryIngestRecordOffset(json) }
            fails(ErrorCode.INVALID_RECORD) { s.ingestRecordNowait(json) }
            val batch = fails(ErrorCode.INVALID_RECORD) { s.ingestRecordsOffset(listOf(json, json)) }
            assertTrue(batch.detail.contains("record 0"), batch.detail)
            fails(ErrorCode.INVALID_RECORD) { s.tryIngestRecordsOffset(listOf(json)) }
            fails(ErrorCode.INVALID_RECORD) { s.ingestRecordsNowait(listOf(json)) }
            // The stream carries on: bytes go as encoded messages (field 1 = 7).
            assertEquals(0L, s.ingestRecordOffset(byteArrayOf(8, 7)))
            assertEquals(1L, s.ingestRecordsOffset(listOf(byteArrayOf(8, 8))))
            s.flush()
            s.close()
        }
    }

    @Test
    fun headersProviderZerobusExceptionKeepsItsCodeAndOthersAreUnavailable(): Unit = runBlocking {
        serve.sdk().use { sdk ->
            val options = StreamConfigurationOptions(recordType = RecordType.JSON, recoveryRetries = 3, recoveryBackoffMs = 10)
            val calls = AtomicInteger()
            val e = fails(ErrorCode.UNAUTHENTICATED) {
                sdk.createStream(TableProperties(JSON_TABLE), HeadersProvider {
                    calls.incrementAndGet()
                    throw ZerobusException.Unauthenticated("no credentials in the vault")
                }, options)
            }
            assertFalse(e.retryable)
            assertNull(e.grpcStatus)
            assertTrue(e.detail.contains("no credentials in the vault"), e.detail)
            assertTrue(e.detail.contains("headers provider"), e.detail)
            assertEquals(1, calls.get(), "UNAUTHENTICATED is final: asked once")
            calls.set(0)
            val u = fails(ErrorCode.UNAVAILABLE) {
                sdk.createStream(TableProperties(JSON_TABLE), HeadersProvider {
                    calls.incrementAndGet()
                    throw IllegalStateException("vault unreachable")
                }, options)
            }
            assertTrue(u.retryable)
            assertTrue(u.detail.contains("vault unreachable"), u.detail)
            assertEquals(3, calls.get(), "UNAVAILABLE is retried within the budget")
        }
    }

    @Test
    fun outOfRangeOptionsFailTheCreateWithTheOptionNamed(): Unit = runBlocking {
        serve.sdk().use { sdk ->
            val j = StreamConfigurationOptions(recordType = RecordType.JSON)
            val cases = listOf(
                Triple(j.copy(flushTimeoutMs = -1), "flush_timeout_ms", "negative"),
                Triple(j.copy(recoveryBackoffMaxMs = -1), "recovery_backoff_max_ms", "negative"),
                Triple(j.copy(recoveryRetries = -5), "recovery_retries", "between"),
                Triple(j.copy(recoveryBackoffMs = 500, recoveryBackoffMaxMs = 100), "recovery_backoff_max_ms", "below"),
                Triple(j.copy(maxInflightRequests = -3), "max_inflight_requests", "negative"),
            )
            for ((options, name, hint) in cases) {
                val e = fails(ErrorCode.INVALID_ARGUMENT) { open(sdk, options) }
                assertTrue(e.detail.contains(name) && e.detail.contains(hint), e.detail)
            }
        }
    }

    @Test
    fun aClosedSdkFailsCleanly(): Unit = runBlocking {
        val sdk = serve.sdk()
        sdk.close()
        sdk.close() // idempotent
        fails(ErrorCode.INVALID_ARGUMENT) { open(sdk) }
        fails(ErrorCode.INVALID_ARGUMENT) { sdk.userAgent }
        Unit
    }

    private companion object {
        const val JSON_TABLE = "main.default.json_table"
        const val PROTO_TABLE = "main.default.proto_table"

        /** DescriptorProto `Event { optional int64 id = 1; }`, serialized by hand. */
        val EVENT_DESCRIPTOR: ByteArray = byteArrayOf(
            0x0a, 5, 'E'.code.toByte(), 'v'.code.toByte(), 'e'.code.toByte(), 'n'.code.toByte(), 't'.code.toByte(),
            0x12, 10, 0x0a, 2, 'i'.code.toByte(), 'd'.code.toByte(), 0x18, 1, 0x20, 1, 0x28, 3,
        )
    }
}
