package com.databricks.zerobus;

import java.nio.charset.StandardCharsets;

/** What the JNI shim holds for an {@link AckCallback}: catches and reports what the user code throws. */
final class AckBridge {
    private final AckCallback callback;

    AckBridge(AckCallback callback) {
        this.callback = callback;
    }

    void ack(long offset) {
        try {
            callback.onAck(offset);
        } catch (Throwable t) {
            report("onAck", t);
        }
    }

    void error(long offset, byte[] message) {
        try {
            callback.onError(offset, new String(message, StandardCharsets.UTF_8));
        } catch (Throwable t) {
            report("onError", t);
        }
    }

    static void report(String what, Throwable t) {
        System.err.println("zerobus: " + what + " threw (ignored by the stream): " + t);
        t.printStackTrace();
    }
}
