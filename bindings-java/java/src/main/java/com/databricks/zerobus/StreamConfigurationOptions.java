package com.databricks.zerobus;

import java.util.Optional;
import java.util.OptionalLong;

/**
 * Stream options (PROTOCOL.md §6 names). Every option left unset keeps the library's default;
 * any value, zero included, can be set. Immutable; build with {@link #builder()}.
 */
public final class StreamConfigurationOptions {
    // Slots of the array handed to the JNI shim (same order as zerobus_jni.c); -1 = unset.
    static final int MAX_INFLIGHT_REQUESTS = 0;
    static final int MAX_INFLIGHT_BYTES = 1;
    static final int RECOVERY = 2;
    static final int RECOVERY_TIMEOUT_MS = 3;
    static final int RECOVERY_BACKOFF_MS = 4;
    static final int RECOVERY_RETRIES = 5;
    static final int SERVER_LACK_OF_ACK_TIMEOUT_MS = 6;
    static final int FLUSH_TIMEOUT_MS = 7;
    static final int STREAM_PAUSED_MAX_WAIT_TIME_MS = 8;
    static final int CALLBACK_MAX_WAIT_TIME_MS = 9;
    static final int RECORD_TYPE = 10;
    static final int COUNT = 11;

    private static final StreamConfigurationOptions DEFAULTS = builder().build();

    private final long[] values;
    private final AckCallback ackCallback;

    private StreamConfigurationOptions(long[] values, AckCallback ackCallback) {
        this.values = values;
        this.ackCallback = ackCallback;
    }

    /** Options with every default. */
    public static StreamConfigurationOptions getDefault() {
        return DEFAULTS;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these options. */
    public Builder toBuilder() {
        Builder b = new Builder();
        System.arraycopy(values, 0, b.values, 0, COUNT);
        b.ackCallback = ackCallback;
        return b;
    }

    private OptionalLong get(int slot) {
        return values[slot] < 0 ? OptionalLong.empty() : OptionalLong.of(values[slot]);
    }

    public OptionalLong maxInflightRequests() {
        return get(MAX_INFLIGHT_REQUESTS);
    }

    public OptionalLong maxInflightBytes() {
        return get(MAX_INFLIGHT_BYTES);
    }

    public Optional<Boolean> recovery() {
        return values[RECOVERY] < 0 ? Optional.empty() : Optional.of(values[RECOVERY] != 0);
    }

    public OptionalLong recoveryTimeoutMs() {
        return get(RECOVERY_TIMEOUT_MS);
    }

    public OptionalLong recoveryBackoffMs() {
        return get(RECOVERY_BACKOFF_MS);
    }

    public OptionalLong recoveryRetries() {
        return get(RECOVERY_RETRIES);
    }

    public OptionalLong serverLackOfAckTimeoutMs() {
        return get(SERVER_LACK_OF_ACK_TIMEOUT_MS);
    }

    public OptionalLong flushTimeoutMs() {
        return get(FLUSH_TIMEOUT_MS);
    }

    public OptionalLong streamPausedMaxWaitTimeMs() {
        return get(STREAM_PAUSED_MAX_WAIT_TIME_MS);
    }

    public OptionalLong callbackMaxWaitTimeMs() {
        return get(CALLBACK_MAX_WAIT_TIME_MS);
    }

    /** The record type, if set; {@link ZerobusSdk#createJsonStream} and {@link ZerobusSdk#createProtoStream} set it. */
    public Optional<RecordType> recordType() {
        return values[RECORD_TYPE] < 0 ? Optional.empty() : Optional.of(RecordType.fromValue((int) values[RECORD_TYPE]));
    }

    public Optional<AckCallback> ackCallback() {
        return Optional.ofNullable(ackCallback);
    }

    /** The slot array for the JNI shim, with the record type forced to {@code type}. */
    long[] toNative(RecordType type) {
        long[] out = values.clone();
        out[RECORD_TYPE] = type.value();
        return out;
    }

    /** Collects options; setters validate ranges (the library validates the rest). */
    public static final class Builder {
        private final long[] values = new long[COUNT];
        private AckCallback ackCallback;

        private Builder() {
            java.util.Arrays.fill(values, -1);
        }

        private Builder set(int slot, long value, String name) {
            if (value < 0) {
                throw new IllegalArgumentException(name + " must be >= 0, got " + value);
            }
            values[slot] = value;
            return this;
        }

        /** Bound on unacknowledged calls (default 50,000). 0 means one call at a time. */
        public Builder setMaxInflightRequests(long value) {
            return set(MAX_INFLIGHT_REQUESTS, value, "maxInflightRequests");
        }

        /** Bound on unacknowledged record bytes (default 64 MiB). A larger call still goes alone. */
        public Builder setMaxInflightBytes(long value) {
            return set(MAX_INFLIGHT_BYTES, value, "maxInflightBytes");
        }

        /** Reconnect and resend after retryable failures (default true). */
        public Builder setRecovery(boolean value) {
            values[RECOVERY] = value ? 1 : 0;
            return this;
        }

        /** Bound on each connection attempt, ms (default 15,000). */
        public Builder setRecoveryTimeoutMs(long value) {
            return set(RECOVERY_TIMEOUT_MS, value, "recoveryTimeoutMs");
        }

        /** Pause between connection attempts, ms (default 2,000). */
        public Builder setRecoveryBackoffMs(long value) {
            return set(RECOVERY_BACKOFF_MS, value, "recoveryBackoffMs");
        }

        /** Connection attempts in a row without an ack before the stream fails (default 4). */
        public Builder setRecoveryRetries(int value) {
            return set(RECOVERY_RETRIES, value, "recoveryRetries");
        }

        /** Reconnect when records wait this long with nothing from the server, ms (default 60,000; 0 = never). */
        public Builder setServerLackOfAckTimeoutMs(long value) {
            return set(SERVER_LACK_OF_ACK_TIMEOUT_MS, value, "serverLackOfAckTimeoutMs");
        }

        /** Bound on flush, waitForOffset and close's flush, ms (default 300,000). */
        public Builder setFlushTimeoutMs(long value) {
            return set(FLUSH_TIMEOUT_MS, value, "flushTimeoutMs");
        }

        /** After a server close signal, wait at most this long for acks before reconnecting, ms (0 = at once). */
        public Builder setStreamPausedMaxWaitTimeMs(long value) {
            return set(STREAM_PAUSED_MAX_WAIT_TIME_MS, value, "streamPausedMaxWaitTimeMs");
        }

        /** How long close waits for running ack callbacks, ms (default 5,000). */
        public Builder setCallbackMaxWaitTimeMs(long value) {
            return set(CALLBACK_MAX_WAIT_TIME_MS, value, "callbackMaxWaitTimeMs");
        }

        /** Record type; {@link ZerobusSdk#createJsonStream} / {@link ZerobusSdk#createProtoStream} override it. */
        public Builder setRecordType(RecordType value) {
            values[RECORD_TYPE] = value.value();
            return this;
        }

        /** Callbacks for acknowledgements and failed offsets (null: none). */
        public Builder setAckCallback(AckCallback callback) {
            this.ackCallback = callback;
            return this;
        }

        public StreamConfigurationOptions build() {
            return new StreamConfigurationOptions(values.clone(), ackCallback);
        }
    }
}
