package com.databricks.zerobus;

/**
 * Receives acknowledgements, once per offset and in offset order, on a library thread (attached
 * to the JVM once and kept). Never called after {@link ZerobusStream#close()} returns. Must not
 * call blocking methods of the same stream. An exception thrown here is caught and dropped (not
 * printed): it does not affect the stream or the library thread; catch it inside the callback to
 * act on it.
 */
public interface AckCallback {
    /** The record (or batch) at {@code offset} is durably acknowledged. */
    void onAck(long offset);

    /** The record (or batch) at {@code offset} failed for good. */
    default void onError(long offset, String message) {}
}
