package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiStreamOptions

/** How records are encoded on the wire. */
enum class RecordType { PROTO, JSON }

/**
 * The table a stream writes to and, for PROTO streams, the record schema as a serialized
 * `google.protobuf.DescriptorProto` (`descriptor.toByteArray()`).
 */
class TableProperties(val tableName: String, val descriptorProto: ByteArray? = null)

/**
 * Stream options under the published SDKs' names. `null` keeps the core's default (see the Rust
 * core's `StreamConfigurationOptions`); every value, zero included, can be set.
 */
data class StreamConfigurationOptions(
    val recordType: RecordType = RecordType.PROTO,
    val maxInflightRequests: Long? = null,
    val maxInflightBytes: Long? = null,
    val recovery: Boolean? = null,
    val recoveryTimeoutMs: Long? = null,
    val recoveryBackoffMs: Long? = null,
    val recoveryRetries: Int? = null,
    val serverLackOfAckTimeoutMs: Long? = null,
    val flushTimeoutMs: Long? = null,
    val streamPausedMaxWaitTimeMs: Long? = null,
    val callbackMaxWaitTimeMs: Long? = null,
    /** Per-offset ack and error notifications (see [AckCallback], [AckFlow]). */
    val ackCallback: AckCallback? = null,
) {
    internal fun toFfi(): FfiStreamOptions {
        fun u(name: String, v: Long?): ULong? {
            if (v != null && v < 0) throw ZerobusException.InvalidArgument("$name must not be negative (got $v)")
            return v?.toULong()
        }
        if (recoveryRetries != null && recoveryRetries < 0) {
            throw ZerobusException.InvalidArgument("recoveryRetries must not be negative (got $recoveryRetries)")
        }
        return FfiStreamOptions(
            recordType = recordType.name.lowercase(),
            maxInflightRequests = u("maxInflightRequests", maxInflightRequests),
            maxInflightBytes = u("maxInflightBytes", maxInflightBytes),
            recovery = recovery,
            recoveryTimeoutMs = u("recoveryTimeoutMs", recoveryTimeoutMs),
            recoveryBackoffMs = u("recoveryBackoffMs", recoveryBackoffMs),
            recoveryRetries = recoveryRetries?.toUInt(),
            serverLackOfAckTimeoutMs = u("serverLackOfAckTimeoutMs", serverLackOfAckTimeoutMs),
            flushTimeoutMs = u("flushTimeoutMs", flushTimeoutMs),
            streamPausedMaxWaitTimeMs = u("streamPausedMaxWaitTimeMs", streamPausedMaxWaitTimeMs),
            callbackMaxWaitTimeMs = u("callbackMaxWaitTimeMs", callbackMaxWaitTimeMs),
        )
    }
}

/** A point-in-time view of a stream's counters. */
data class StreamMetrics(
    val inflightRequests: Long,
    val inflightRecords: Long,
    val inflightBytes: Long,
    val lastAckedOffset: Long?,
    val recordsSent: Long,
    val recordsResent: Long,
    val recoveries: Long,
    val tokenFetches: Long,
)
