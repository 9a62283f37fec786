package com.databricks.zerobus;

import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;

/**
 * An error from the Zerobus SDK: a {@link ErrorCode}, the gRPC status the server answered with
 * (if it did), whether retrying may succeed, and a message (never holding secrets).
 * Errors that retrying cannot fix are thrown as {@link NonRetriableException}.
 */
public class ZerobusException extends Exception {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;
    private final int grpcStatus;
    private final boolean retryable;

    public ZerobusException(ErrorCode code, int grpcStatus, boolean retryable, String message) {
        super(message);
        this.code = code;
        this.grpcStatus = grpcStatus;
        this.retryable = retryable;
    }

    /** The error code. */
    public ErrorCode getCode() {
        return code;
    }

    /** The code's stable name, e.g. {@code "UNAVAILABLE"}. */
    public String getCodeName() {
        return code.name();
    }

    /** The gRPC status code the server answered with, or -1 when the error did not come from the server. */
    public int getGrpcStatus() {
        return grpcStatus;
    }

    /** The gRPC status as an optional (empty when the server did not answer with a status). */
    public OptionalInt grpcStatus() {
        return grpcStatus < 0 ? OptionalInt.empty() : OptionalInt.of(grpcStatus);
    }

    /** Whether retrying (on a new stream with the unacked records) may succeed. */
    public boolean isRetryable() {
        return retryable;
    }

    @Override
    public String toString() {
        return getClass().getName() + ": " + code.name()
                + (grpcStatus >= 0 ? " (gRPC status " + grpcStatus + ")" : "") + ": " + getMessage();
    }

    /** Called by the JNI shim for every failed C call. */
    static ZerobusException fromNative(int code, int grpcStatus, boolean retryable, byte[] message) {
        ErrorCode c = ErrorCode.fromValue(code);
        String m = new String(message, StandardCharsets.UTF_8);
        return retryable ? new ZerobusException(c, grpcStatus, true, m)
                : new NonRetriableException(c, grpcStatus, m);
    }
}
