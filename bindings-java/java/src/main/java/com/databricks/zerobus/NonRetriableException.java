package com.databricks.zerobus;

/** A {@link ZerobusException} that retrying cannot fix ({@link #isRetryable()} is false). */
public class NonRetriableException extends ZerobusException {
    private static final long serialVersionUID = 1L;

    public NonRetriableException(ErrorCode code, int grpcStatus, String message) {
        super(code, grpcStatus, false, message);
    }

    public NonRetriableException(ErrorCode code, String message) {
        this(code, -1, message);
    }
}
