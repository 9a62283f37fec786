package com.databricks.zerobus;

/**
 * The closed list of error codes, with the same names as the C ABI's {@code zerobus_code}
 * ({@code ZEROBUS_ERROR_<NAME>}) and every other binding.
 */
public enum ErrorCode {
    /** No error (never carried by an exception). */
    OK(0),
    /** The call is wrong (bad table name, option, URL, record type, null). Fix the call. */
    INVALID_ARGUMENT(1),
    /** A record does not fit the stream (malformed JSON, wrong kind). Fix or drop the record. */
    INVALID_RECORD(2),
    /** One call carries more than 10,420,224 bytes of records. Split it; nothing was sent. */
    RECORD_TOO_LARGE(3),
    /** The non-blocking call found the in-flight bound reached. Retry later; nothing was queued. */
    QUEUE_FULL(4),
    /** The stream was closed. Create a new stream. */
    STREAM_CLOSED(5),
    /** A flush, wait or connect did not finish in time. Records stay queued; retrying is safe. */
    TIMEOUT(6),
    /** Credentials rejected. Not retryable. */
    UNAUTHENTICATED(7),
    /** Missing privileges on the table. Not retryable. */
    PERMISSION_DENIED(8),
    /** The table does not exist. Not retryable. */
    NOT_FOUND(9),
    /** Server or network unavailable after retries. Retryable: re-ingest the unacked batches. */
    UNAVAILABLE(10),
    /** Another gRPC status from the server; see {@link ZerobusException#getGrpcStatus()}. */
    SERVER_ERROR(11),
    /** The server broke the protocol. Not retryable; report it. */
    PROTOCOL_ERROR(12),
    /** The token endpoint failed (5xx, unreachable). Retryable. */
    TOKEN_ENDPOINT_ERROR(13),
    /** A bug or a contained panic inside the library. Report it. */
    INTERNAL(14);

    private final int value;

    ErrorCode(int value) {
        this.value = value;
    }

    /** The numeric value of the C enum. */
    public int value() {
        return value;
    }

    /** The code for a C {@code zerobus_code} value; {@link #INTERNAL} for an unknown one. */
    public static ErrorCode fromValue(int value) {
        for (ErrorCode c : values()) {
            if (c.value == value) {
                return c;
            }
        }
        return INTERNAL;
    }
}
