package com.databricks.zerobus;

import java.util.Map;

/**
 * Supplies the call metadata for every connection attempt of a stream (instead of OAuth client
 * credentials). Must return {@code authorization} and {@code x-databricks-zerobus-table-name}.
 * Called on a library thread; throwing (or returning null) fails that connection attempt, which
 * the stream retries as UNAVAILABLE.
 */
@FunctionalInterface
public interface HeadersProvider {
    Map<String, String> getHeaders() throws Exception;
}
