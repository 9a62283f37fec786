package com.databricks.zerobus;

import java.util.Map;

/**
 * Supplies the call metadata for every connection attempt of a stream (instead of OAuth client
 * credentials). Must return {@code authorization} and {@code x-databricks-zerobus-table-name}.
 * Called on a library thread, before every connection attempt.
 *
 * <p>To fail an attempt, throw: a {@link ZerobusException} fails it with its own code and
 * message (e.g. {@link ErrorCode#UNAVAILABLE} is retried within the stream's recovery budget,
 * {@link ErrorCode#UNAUTHENTICATED} is final); any other exception fails it as
 * {@link ErrorCode#UNAVAILABLE} with the exception as message. Returning null fails it as
 * {@link ErrorCode#INVALID_ARGUMENT}. Nothing thrown here reaches the library or is printed.
 */
@FunctionalInterface
public interface HeadersProvider {
    Map<String, String> getHeaders() throws Exception;
}
