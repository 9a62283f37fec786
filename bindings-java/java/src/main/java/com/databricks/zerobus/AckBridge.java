package com.databricks.zerobus;

import java.nio.charset.StandardCharsets;

/**
 * What the JNI shim holds for an {@link AckCallback}. An exception the user code throws is
 * caught and dropped here (the stream carries on, nothing is printed); the shim clears anything
 * still pending as a second net.
 */
final class AckBridge {
    private final AckCallback callback;

    AckBridge(AckCallback callback) {
        this.callback = callback;
    }

    void ack(long offset) {
        try {
            callback.onAck(offset);
        } catch (Throwable t) {
            // Dropped: the callback's own business (catch inside it to act on it).
        }
    }

    void error(long offset, byte[] message) {
        try {
            callback.onError(offset, new String(message, StandardCharsets.UTF_8));
        } catch (Throwable t) {
            // Dropped, as in ack.
        }
    }
}
