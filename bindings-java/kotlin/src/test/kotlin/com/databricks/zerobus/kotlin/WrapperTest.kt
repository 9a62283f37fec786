package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiException
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.file.Files

class WrapperTest {
    @Test
    fun errorCodesAreTheCoresList() {
        NativeLoader.load()
        assertEquals(com.databricks.zerobus.kotlin.ffi.errorCodes(), ErrorCode.entries.map { it.name })
    }

    @Test
    fun everyCodeHasItsSubclass() {
        for (code in ErrorCode.entries) {
            val e = ZerobusException.of(code, "boom", 14, true)
            assertEquals(code, e.code)
            assertEquals(14, e.grpcStatus)
            assertTrue(e.retryable)
            assertEquals("boom", e.detail)
            assertEquals("${code.name}: boom", e.message)
            val expected = code.name.split('_').joinToString("") { it.lowercase().replaceFirstChar(Char::uppercase) }
            assertEquals(expected, e::class.simpleName)
        }
        assertEquals(ErrorCode.INTERNAL, ErrorCode.fromName("NO_SUCH_CODE"))
    }

    @Test
    fun ffiErrorsMapToSealedClasses() {
        val e = assertThrows<ZerobusException.Unavailable> {
            ffiCall { throw FfiException.Failed("UNAVAILABLE", 14, true, "down") }
        }
        assertEquals(14, e.grpcStatus)
        assertTrue(e.retryable)
        assertEquals("down", e.detail)
        val back = ZerobusException.toFfi(e)
        assertEquals("UNAVAILABLE", back.code)
    }

    @Test
    fun batchPacksIntoOneBufferPlusLittleEndianLengths() {
        val slot = NativeIngest.SLOT
        val b = ByteBuffer.allocate(slot + 12 + 259).order(ByteOrder.LITTLE_ENDIAN)
        ZerobusStream.layOut(b, listOf(byteArrayOf(1, 2, 3), byteArrayOf(), ByteArray(256) { 7 }))
        val all = b.array()
        assertArrayEquals(byteArrayOf(3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0), all.copyOfRange(slot, slot + 12))
        assertArrayEquals(byteArrayOf(1, 2, 3), all.copyOfRange(slot + 12, slot + 15))
        assertArrayEquals(ByteArray(256) { 7 }, all.copyOfRange(slot + 15, slot + 12 + 259))
        val one = ByteBuffer.allocate(slot + 4 + 5).order(ByteOrder.LITTLE_ENDIAN)
        ZerobusStream.layOut(one, byteArrayOf(9, 9, 9, 9, 9), intArrayOf(5))
        assertArrayEquals(byteArrayOf(5, 0, 0, 0, 9, 9, 9, 9, 9), one.array().copyOfRange(slot, slot + 9))
        assertThrows<ZerobusException.InvalidArgument> {
            ZerobusStream.layOut(ByteBuffer.allocate(slot + 4), ByteArray(0), intArrayOf(-1))
        }
    }

    @Test
    fun optionsKeepDefaultsAndPassValuesThrough() {
        val o = StreamConfigurationOptions(recordType = RecordType.JSON, flushTimeoutMs = 0, recoveryBackoffMaxMs = 900).toFfi()
        assertEquals("json", o.recordType)
        assertEquals(0uL, o.flushTimeoutMs)
        assertEquals(900uL, o.recoveryBackoffMaxMs)
        assertNull(o.maxInflightRequests)
        // No range check here: a negative value reaches the core as a huge unsigned one (the core rejects it).
        val n = StreamConfigurationOptions(maxInflightBytes = -1, recoveryRetries = -5).toFfi()
        assertEquals(ULong.MAX_VALUE, n.maxInflightBytes)
        assertEquals((-5).toUInt(), n.recoveryRetries)
    }

    @Test
    fun badSdkArgumentsAreInvalidArgument() {
        val e = assertThrows<ZerobusException.InvalidArgument> { ZerobusSdk("ftp://x", "https://w") }
        assertTrue(e.detail.contains("https://"), e.detail)
    }

    @Test
    fun invalidTableNameFailsBeforeConnecting() = runBlocking {
        ZerobusSdk("http://127.0.0.1:1", "http://127.0.0.1:1").use { sdk ->
            assertThrows<ZerobusException.InvalidArgument> { runBlocking { sdk.createStream("no-dots", "id", "secret") } }
        }
        Unit
    }

    @Test
    fun callbackExceptionsAreContained() {
        val bridge = AckBridge(object : AckCallback {
            override fun onAck(offset: Long) = throw IllegalStateException("user bug")
        })
        bridge.onAck(1) // must not throw
        bridge.onError(2, "x") // must not throw either
        val headers = HeadersBridge { throw ZerobusException.Unauthenticated("no token") }
        val e = assertThrows<FfiException.Failed> { headers.getHeaders() }
        assertEquals("UNAUTHENTICATED", e.code)
        assertEquals("no token", e.detail)
        // Any other exception: UNAVAILABLE (retried within the budget), with the exception as message.
        val other = assertThrows<FfiException.Failed> { HeadersBridge { error("vault unreachable") }.getHeaders() }
        assertEquals("UNAVAILABLE", other.code)
        assertTrue(other.retryable)
        assertTrue(other.detail.contains("vault unreachable"), other.detail)
    }

    @Test
    fun nativeLibraryLoadsFromTheJarResourceIntoTheChosenDirectory() {
        // The library is found on the classpath (as from the jar) and extracted; no env var needed.
        val path = NativeLoader.load()
        assertTrue(Files.isRegularFile(path), "$path")
        assertTrue(NativeLoader.resourcePath().startsWith("native/"))
        assertEquals(path.toAbsolutePath().toString(), System.getProperty(NativeLoader.OVERRIDE_PROPERTY))
    }
}
