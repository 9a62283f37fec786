package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.takeError
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.coroutines.resume
import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.suspendCancellableCoroutine

/**
 * The ingest calls' fast path: JNI functions exported by the uniffi library next to its uniffi
 * scaffolding (`bindings-java/uniffi/src/fast.rs`, which says why). Each takes primitives only:
 * a stream handle, the address of a [Scratch] buffer holding the call, and sizes. The answer is
 * an offset, or [PENDING] / [FAILED] / [EMPTY] with a handle written to the buffer's first 8 bytes.
 * Handles (stream, pending call, error) index native handle tables: a released or forged one is a
 * clean `INVALID_ARGUMENT` error, never a crash. The buffer address is the one thing the native
 * side trusts: only [ZerobusStream] passes it, from a [Scratch] sized for the call.
 * [NativeLoader] binds these (`System.load`) before any stream exists.
 */
internal object NativeIngest {
    /** The call holds its place in line; await the slot's handle with [awaitPending]. */
    const val PENDING: Long = -1L

    /** The call failed; the slot's handle goes to `takeError`, which throws and frees it. */
    const val FAILED: Long = -2L

    /** An empty batch: nothing queued, no offset. */
    const val EMPTY: Long = -3L

    /** The buffer address was 0: nothing read or written (never from [ZerobusStream]). */
    const val NO_BUFFER: Long = -4L

    /** [pendingAwait] could not reference its waiter (never completed). */
    const val NO_WAITER: Long = -5L

    /** Wait for room ([PENDING] when the bounds are reached). */
    const val MODE_QUEUE: Int = 0

    /** Mode bit: fail with `QUEUE_FULL` instead of waiting. */
    const val MODE_TRY: Int = 1

    /** Mode bit: the bytes are JSON text (`String`s), not bytes read as the stream's record type. */
    const val MODE_TEXT: Int = 2

    /** Bytes at the start of a scratch buffer for the answer's handle. */
    const val SLOT: Int = 8

    @JvmStatic external fun queueOne(stream: Long, buf: Long, len: Int, mode: Int): Long

    @JvmStatic external fun queueBatch(stream: Long, buf: Long, count: Int, dataLen: Long, mode: Int): Long

    @JvmStatic external fun pendingFree(handle: Long)

    /**
     * Starts waiting for room for a [PENDING] call on a core task, which then calls
     * [PendingWaiter.complete] once from a core thread. Returns a cancel handle for
     * [pendingCancel]; [FAILED] when [handle] is not a pending call (the waiter was completed
     * with the error already); [NO_WAITER] if the waiter could not be referenced.
     */
    @JvmStatic external fun pendingAwait(handle: Long, waiter: PendingWaiter): Long

    /** Gives up a wait [pendingAwait] started, if it still waits: its call is never queued. */
    @JvmStatic external fun pendingCancel(cancel: Long)

    @JvmStatic external fun release(stream: Long)

    /**
     * One Arrow batch as its column buffers (`fast_arrow.rs` gives the layout of [buf]): [nodesLen]
     * numbers, then [buffersLen] addresses and [buffersLen] lengths, then [schemaLen] schema bytes.
     */
    @JvmStatic external fun arrowQueueColumns(stream: Long, buf: Long, nodesLen: Int, buffersLen: Int, schemaLen: Int): Long

    /**
     * [arrowQueueColumns] without the copy: the buffers belong to [holder], which the native side
     * closes exactly once when the core is done with them (after the acks, on a core thread; or
     * before this returns if the call fails).
     */
    @JvmStatic external fun arrowQueueColumnsNoCopy(
        stream: Long, buf: Long, nodesLen: Int, buffersLen: Int, schemaLen: Int, holder: AutoCloseable,
    ): Long

    @JvmStatic external fun arrowRelease(stream: Long)

    /**
     * The outcome of an answer that is not an offset: `null` for [EMPTY]; for [PENDING] waits for
     * room and returns the offset (freeing the handle [slot] whatever happens); for [FAILED] throws
     * the call's error.
     */
    suspend fun settle(code: Long, slot: Long): Long? = when (code) {
        EMPTY -> null
        PENDING -> awaitPending(slot)
        else -> failed(code, slot)
    }

    /**
     * Suspends until the [PENDING] call under [slot] is queued and returns its offset, without
     * blocking a thread: a core task waits for room and resumes this coroutine with one JNI
     * upcall. Cancelling the coroutine gives the call's place in line up if it still waits (it is
     * then never queued).
     */
    suspend fun awaitPending(slot: Long): Long {
        val answer = try {
            suspendCancellableCoroutine { cont ->
                when (val cancel = pendingAwait(slot, PendingWaiter(cont))) {
                    FAILED -> {} // completed with the error already
                    NO_WAITER -> cont.resumeWith(Result.failure(ZerobusException.Internal("could not wait for room for the call")))
                    else -> cont.invokeOnCancellation { pendingCancel(cancel) }
                }
            }
        } finally {
            pendingFree(slot) // nothing left to free once pendingAwait took the call
        }
        return if (answer[0] >= 0) answer[0] else failed(answer[0], answer[1])
    }

    /** Throws the error of a [FAILED] answer (the native side holds it under [slot]). */
    fun failed(code: Long, slot: Long): Nothing {
        if (code != FAILED) throw ZerobusException.Internal("unexpected answer $code from the native call")
        ffiCall { takeError(slot.toULong()) }
        throw ZerobusException.Internal("the native call reported a failure without an error")
    }
}

/**
 * Resumes a coroutine waiting in [NativeIngest.awaitPending]: the native side calls [complete]
 * exactly once, from a core thread, with an offset (and 0) or [NativeIngest.FAILED] and an error
 * handle. Resuming a cancelled coroutine does nothing.
 */
internal class PendingWaiter(private val cont: CancellableContinuation<LongArray>) {
    @Suppress("unused") // called from native code (jni_upcall.rs)
    fun complete(code: Long, slot: Long) = cont.resume(longArrayOf(code, slot))
}

/**
 * Native memory one call is laid out in. Each thread keeps one direct buffer and reuses it, so a
 * call allocates nothing native; a call larger than [KEEP_MAX] gets memory of its own, freed by
 * [done]. A buffer is only used between writing a call and the native function returning, with no
 * suspension in between, so one per thread is enough.
 */
internal class Scratch private constructor(val buf: ByteBuffer, val address: Long, private val own: Memory?) {
    /** The handle the native side wrote for a [NativeIngest.PENDING] or [NativeIngest.FAILED] answer. */
    fun slot(): Long = buf.getLong(0)

    fun done() {
        own?.close()
    }

    companion object {
        /** Largest buffer a thread keeps between calls. */
        private const val KEEP_MAX: Long = 4L shl 20
        private const val KEEP_MIN: Long = 64L shl 10
        private val local = ThreadLocal<Scratch>()

        /** A buffer of at least [bytes] bytes, little-endian (the native side reads lengths and writes the slot so). */
        fun get(bytes: Long): Scratch {
            val current = local.get()
            if (current != null && current.buf.capacity() >= bytes) return current
            if (bytes > Int.MAX_VALUE) {
                throw ZerobusException.RecordTooLarge("the call holds $bytes bytes; split it")
            }
            if (bytes > KEEP_MAX) {
                val m = Memory(bytes)
                return Scratch(m.getByteBuffer(0, bytes).order(ByteOrder.LITTLE_ENDIAN), Pointer.nativeValue(m), m)
            }
            val grown = 2L * (current?.buf?.capacity() ?: 0)
            val b = ByteBuffer.allocateDirect(maxOf(bytes, grown, KEEP_MIN).coerceAtMost(KEEP_MAX).toInt())
                .order(ByteOrder.LITTLE_ENDIAN)
            val s = Scratch(b, Pointer.nativeValue(Native.getDirectBufferPointer(b)), null)
            local.set(s)
            return s
        }
    }
}
