package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiAckListener
import com.databricks.zerobus.kotlin.ffi.FfiException
import com.databricks.zerobus.kotlin.ffi.FfiHeader
import com.databricks.zerobus.kotlin.ffi.FfiHeadersProvider
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.receiveAsFlow

/**
 * Receives the outcome of every ingest call, once per offset, in offset order, on an SDK thread
 * (never a coroutine of yours, never after `close()` returned). An exception thrown here is
 * caught and dropped (not printed): the stream carries on. Catch inside the callback to act on it.
 */
interface AckCallback {
    /** [offset] (and every earlier one) is durable. */
    fun onAck(offset: Long)

    /** [offset] failed for good; its records stay in `unackedBatches()`. */
    fun onError(offset: Long, message: String) {}
}

/** One ack notification, as [AckFlow] delivers it. */
sealed class AckEvent {
    abstract val offset: Long

    data class Acked(override val offset: Long) : AckEvent()

    data class Failed(override val offset: Long, val message: String) : AckEvent()
}

/**
 * An [AckCallback] that turns notifications into a [Flow]: pass it as `ackCallback` and collect
 * [events]. The buffer is unbounded (one small object per offset), so the SDK never waits for
 * the collector; the flow completes when the stream is closed.
 */
class AckFlow : AckCallback {
    private val channel = Channel<AckEvent>(Channel.UNLIMITED)

    /** Every ack and error, in delivery order. Collect it once. */
    val events: Flow<AckEvent> = channel.receiveAsFlow()

    override fun onAck(offset: Long) {
        channel.trySend(AckEvent.Acked(offset))
    }

    override fun onError(offset: Long, message: String) {
        channel.trySend(AckEvent.Failed(offset, message))
    }

    internal fun complete() {
        channel.close()
    }
}

/**
 * Supplies the call metadata on every connect (instead of OAuth client credentials), on an SDK
 * thread, before every connection attempt.
 */
fun interface HeadersProvider {
    /**
     * Headers for the next connection attempt. To fail the attempt, throw: a [ZerobusException]
     * fails it with its own code and message (e.g. [ZerobusException.Unavailable] is retried within
     * the stream's recovery budget, [ZerobusException.Unauthenticated] is final); any other
     * exception fails it as `UNAVAILABLE` with the exception as message. Nothing is printed.
     */
    fun getHeaders(): List<Pair<String, String>>
}

internal class AckBridge(private val callback: AckCallback) : FfiAckListener {
    override fun onAck(offset: Long) {
        try {
            callback.onAck(offset)
        } catch (_: Throwable) {
            // Dropped: the callback's own business; the stream carries on.
        }
    }

    override fun onError(offset: Long, message: String) {
        try {
            callback.onError(offset, message)
        } catch (_: Throwable) {
            // Dropped, as in onAck.
        }
    }
}

internal class HeadersBridge(private val provider: HeadersProvider) : FfiHeadersProvider {
    override fun getHeaders(): List<FfiHeader> {
        try {
            return provider.getHeaders().map { FfiHeader(it.first, it.second) }
        } catch (e: ZerobusException) {
            throw ZerobusException.toFfi(e)
        } catch (e: FfiException) {
            throw e
        } catch (t: Throwable) {
            throw FfiException.Failed(ErrorCode.UNAVAILABLE.name, null, true, t.toString())
        }
    }
}
