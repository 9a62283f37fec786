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
 * core's `StreamConfigurationOptions`); every value, zero included, can be set. Values are checked
 * once, by the core, when a stream is created: an out-of-range one fails the creation with
 * [ZerobusException.InvalidArgument] naming the option and its range (a negative value reaches the
 * core as a huge unsigned one, and the message says it may be negative).
 */
data class StreamConfigurationOptions(
    val recordType: RecordType = RecordType.PROTO,
    val maxInflightRequests: Long? = null,
    val maxInflightBytes: Long? = null,
    val recovery: Boolean? = null,
    val recoveryTimeoutMs: Long? = null,
    /** Wait before the second connection attempt in a row, ms; later waits double up to [recoveryBackoffMaxMs]. */
    val recoveryBackoffMs: Long? = null,
    val recoveryRetries: Int? = null,
    val serverLackOfAckTimeoutMs: Long? = null,
    val flushTimeoutMs: Long? = null,
    val streamPausedMaxWaitTimeMs: Long? = null,
    val callbackMaxWaitTimeMs: Long? = null,
    /** Per-offset ack and error notifications (see [AckCallback], [AckFlow]). */
    val ackCallback: AckCallback? = null,
    /** Cap on the growing wait between connection attempts, ms (core default 30,000). */
    val recoveryBackoffMaxMs: Long? = null,
) {
    /** The values as they are (no range check here: the core checks them at stream creation). */
    internal fun toFfi(): FfiStreamOptions = FfiStreamOptions(
        recordType = recordType.name.lowercase(),
        maxInflightRequests = maxInflightRequests?.toULong(),
        maxInflightBytes = maxInflightBytes?.toULong(),
        recovery = recovery,
        recoveryTimeoutMs = recoveryTimeoutMs?.toULong(),
        recoveryBackoffMs = recoveryBackoffMs?.toULong(),
        recoveryBackoffMaxMs = recoveryBackoffMaxMs?.toULong(),
        recoveryRetries = recoveryRetries?.toUInt(),
        serverLackOfAckTimeoutMs = serverLackOfAckTimeoutMs?.toULong(),
        flushTimeoutMs = flushTimeoutMs?.toULong(),
        streamPausedMaxWaitTimeMs = streamPausedMaxWaitTimeMs?.toULong(),
        callbackMaxWaitTimeMs = callbackMaxWaitTimeMs?.toULong(),
    )
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
