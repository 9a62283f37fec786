package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiException
import com.databricks.zerobus.kotlin.ffi.InternalException

/** The core's closed list of error codes; [name] is the cross-language name (`ErrorCode::as_str`). */
enum class ErrorCode {
    INVALID_ARGUMENT,
    INVALID_RECORD,
    RECORD_TOO_LARGE,
    QUEUE_FULL,
    STREAM_CLOSED,
    TIMEOUT,
    UNAUTHENTICATED,
    PERMISSION_DENIED,
    NOT_FOUND,
    UNAVAILABLE,
    SERVER_ERROR,
    PROTOCOL_ERROR,
    TOKEN_ENDPOINT_ERROR,
    INTERNAL,
    ;

    companion object {
        /** The code named [name]; unknown names map to [INTERNAL]. */
        @JvmStatic
        fun fromName(name: String): ErrorCode = entries.firstOrNull { it.name == name } ?: INTERNAL
    }
}

/**
 * Every SDK failure. One subclass per [ErrorCode], so `when (e) { is ZerobusException.Unavailable -> … }`
 * works; [code], [grpcStatus] (the server's gRPC status when it answered) and [retryable] carry
 * the same values in every language binding.
 */
sealed class ZerobusException(
    val code: ErrorCode,
    message: String,
    val grpcStatus: Int?,
    val retryable: Boolean,
) : Exception("${code.name}: $message") {
    /** The message without the code prefix. */
    val detail: String = message

    class InvalidArgument(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.INVALID_ARGUMENT, message, grpcStatus, retryable)
    class InvalidRecord(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.INVALID_RECORD, message, grpcStatus, retryable)
    class RecordTooLarge(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.RECORD_TOO_LARGE, message, grpcStatus, retryable)
    class QueueFull(message: String, grpcStatus: Int? = null, retryable: Boolean = true) :
        ZerobusException(ErrorCode.QUEUE_FULL, message, grpcStatus, retryable)
    class StreamClosed(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.STREAM_CLOSED, message, grpcStatus, retryable)
    class Timeout(message: String, grpcStatus: Int? = null, retryable: Boolean = true) :
        ZerobusException(ErrorCode.TIMEOUT, message, grpcStatus, retryable)
    class Unauthenticated(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.UNAUTHENTICATED, message, grpcStatus, retryable)
    class PermissionDenied(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.PERMISSION_DENIED, message, grpcStatus, retryable)
    class NotFound(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.NOT_FOUND, message, grpcStatus, retryable)
    class Unavailable(message: String, grpcStatus: Int? = null, retryable: Boolean = true) :
        ZerobusException(ErrorCode.UNAVAILABLE, message, grpcStatus, retryable)
    class ServerError(message: String, grpcStatus: Int? = null, retryable: Boolean = true) :
        ZerobusException(ErrorCode.SERVER_ERROR, message, grpcStatus, retryable)
    class ProtocolError(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.PROTOCOL_ERROR, message, grpcStatus, retryable)
    class TokenEndpointError(message: String, grpcStatus: Int? = null, retryable: Boolean = true) :
        ZerobusException(ErrorCode.TOKEN_ENDPOINT_ERROR, message, grpcStatus, retryable)
    class Internal(message: String, grpcStatus: Int? = null, retryable: Boolean = false) :
        ZerobusException(ErrorCode.INTERNAL, message, grpcStatus, retryable)

    companion object {
        /** The exception for [code], as the core reports it. */
        @JvmStatic
        fun of(code: ErrorCode, message: String, grpcStatus: Int? = null, retryable: Boolean): ZerobusException =
            when (code) {
                ErrorCode.INVALID_ARGUMENT -> InvalidArgument(message, grpcStatus, retryable)
                ErrorCode.INVALID_RECORD -> InvalidRecord(message, grpcStatus, retryable)
                ErrorCode.RECORD_TOO_LARGE -> RecordTooLarge(message, grpcStatus, retryable)
                ErrorCode.QUEUE_FULL -> QueueFull(message, grpcStatus, retryable)
                ErrorCode.STREAM_CLOSED -> StreamClosed(message, grpcStatus, retryable)
                ErrorCode.TIMEOUT -> Timeout(message, grpcStatus, retryable)
                ErrorCode.UNAUTHENTICATED -> Unauthenticated(message, grpcStatus, retryable)
                ErrorCode.PERMISSION_DENIED -> PermissionDenied(message, grpcStatus, retryable)
                ErrorCode.NOT_FOUND -> NotFound(message, grpcStatus, retryable)
                ErrorCode.UNAVAILABLE -> Unavailable(message, grpcStatus, retryable)
                ErrorCode.SERVER_ERROR -> ServerError(message, grpcStatus, retryable)
                ErrorCode.PROTOCOL_ERROR -> ProtocolError(message, grpcStatus, retryable)
                ErrorCode.TOKEN_ENDPOINT_ERROR -> TokenEndpointError(message, grpcStatus, retryable)
                ErrorCode.INTERNAL -> Internal(message, grpcStatus, retryable)
            }

        internal fun from(e: FfiException): ZerobusException = when (e) {
            is FfiException.Failed -> of(ErrorCode.fromName(e.code), e.detail, e.grpcStatus, e.retryable)
        }

        internal fun toFfi(e: ZerobusException): FfiException.Failed =
            FfiException.Failed(e.code.name, e.grpcStatus, e.retryable, e.detail)
    }
}

/**
 * Like [ffiCall], for a call on a uniffi object that [released] says may have been released
 * (destroyed) meanwhile: the generated code's `IllegalStateException` for a destroyed object
 * becomes [ZerobusException.InvalidArgument] naming [what].
 */
internal inline fun <T> ffiCallOn(released: java.util.concurrent.atomic.AtomicBoolean, what: String, block: () -> T): T {
    try {
        return ffiCall(block)
    } catch (e: IllegalStateException) {
        if (!released.get()) throw e
        throw ZerobusException.InvalidArgument("the $what was released; create a new one").apply { initCause(e) }
    }
}

/** Runs an FFI call, turning the generated exceptions into [ZerobusException]. */
internal inline fun <T> ffiCall(block: () -> T): T {
    try {
        return block()
    } catch (e: FfiException) {
        throw ZerobusException.from(e).apply { initCause(e) }
    } catch (e: InternalException) {
        throw ZerobusException.Internal("the native call failed: ${e.message}").apply { initCause(e) }
    }
}
