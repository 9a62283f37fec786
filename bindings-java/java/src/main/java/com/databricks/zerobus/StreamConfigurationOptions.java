package com.databricks.zerobus;

import java.util.Optional;
import java.util.OptionalLong;

/**
 * Stream options (PROTOCOL.md §6 names). Every option left unset keeps the library's default;
 * any value, zero included, can be set. Values are checked once, by the library, when a stream is
 * created with them: an out-of-range value (a negative one included) fails the creation with
 * {@link ErrorCode#INVALID_ARGUMENT} and a message naming the option and its range. Immutable;
 * build with {@link #builder()}.
 */
public final class StreamConfigurationOptions {
    // Slots of the array handed to the JNI shim (same order as zerobus_jni.c), then SET: the bit
    // mask of the slots that were set.
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
    static final int RECOVERY_BACKOFF_MAX_MS = 11;
    static final int COUNT = 12;
    /** Index of the set-mask in {@link #toNative}'s array (its length is {@code SET + 1}). */
    static final int SET = COUNT;

    private static final StreamConfigurationOptions DEFAULTS = builder().build();

    private final long[] values;
    private final long set;
    private final AckCallback ackCallback;

    private StreamConfigurationOptions(long[] values, long set, AckCallback ackCallback) {
        this.values = values;
        this.set = set;
        this.ackCallback = ackCallback;
    }

    private boolean isSet(int slot) {
        return (set & (1L << slot)) != 0;
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
        b.set = set;
        b.ackCallback = ackCallback;
        return b;
    }

    private OptionalLong get(int slot) {
        return isSet(slot) ? OptionalLong.of(values[slot]) : OptionalLong.empty();
    }

    public OptionalLong maxInflightRequests() {
        return get(MAX_INFLIGHT_REQUESTS);
    }

    public OptionalLong maxInflightBytes() {
        return get(MAX_INFLIGHT_BYTES);
    }

    public Optional<Boolean> recovery() {
        return isSet(RECOVERY) ? Optional.of(values[RECOVERY] != 0) : Optional.empty();
    }

    public OptionalLong recoveryTimeoutMs() {
        return get(RECOVERY_TIMEOUT_MS);
    }

    public OptionalLong recoveryBackoffMs() {
        return get(RECOVERY_BACKOFF_MS);
    }

    public OptionalLong recoveryBackoffMaxMs() {
        return get(RECOVERY_BACKOFF_MAX_MS);
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
        return isSet(RECORD_TYPE) ? Optional.of(RecordType.fromValue((int) values[RECORD_TYPE])) : Optional.empty();
    }

    public Optional<AckCallback> ackCallback() {
        return Optional.ofNullable(ackCallback);
    }

    /**
     * The slot array for the JNI shim: the values, then the set-mask at {@link #SET}, with the
     * record type forced to {@code type}.
     */
    long[] toNative(RecordType type) {
        long[] out = java.util.Arrays.copyOf(values, COUNT + 1);
        out[RECORD_TYPE] = type.value();
        out[SET] = set | (1L << RECORD_TYPE);
        return out;
    }

    /**
     * Collects options. Setters take any value and pass it through unchanged; the library checks
     * ranges when a stream is created (a negative value reaches it as a huge unsigned one and is
     * rejected with {@link ErrorCode#INVALID_ARGUMENT}).
     */
    public static final class Builder {
        private final long[] values = new long[COUNT];
        private long set;
        private AckCallback ackCallback;

        private Builder() {}

        private Builder set(int slot, long value) {
            values[slot] = value;
            set |= 1L << slot;
            return this;
        }

        /** Bound on unacknowledged calls (default 50,000). 0 means one call at a time. */
        public Builder setMaxInflightRequests(long value) {
            return set(MAX_INFLIGHT_REQUESTS, value);
        }

        /** Bound on unacknowledged record bytes (default 64 MiB). A larger call still goes alone. */
        public Builder setMaxInflightBytes(long value) {
            return set(MAX_INFLIGHT_BYTES, value);
        }

        /** Reconnect and resend after retryable failures (default true). */
        public Builder setRecovery(boolean value) {
            return set(RECOVERY, value ? 1 : 0);
        }

        /** Bound on each connection attempt, ms (default 15,000). */
        public Builder setRecoveryTimeoutMs(long value) {
            return set(RECOVERY_TIMEOUT_MS, value);
        }

        /**
         * Wait before the second connection attempt in a row, ms (default 2,000; the first attempt
         * after a connection that delivered acks goes at once); later waits double up to
         * {@link #setRecoveryBackoffMaxMs}.
         */
        public Builder setRecoveryBackoffMs(long value) {
            return set(RECOVERY_BACKOFF_MS, value);
        }

        /**
         * Cap on the growing wait between connection attempts, ms (default 30,000; at least
         * {@link #setRecoveryBackoffMs}).
         */
        public Builder setRecoveryBackoffMaxMs(long value) {
            return set(RECOVERY_BACKOFF_MAX_MS, value);
        }

        /** Connection attempts in a row without an ack before the stream fails (default 4). */
        public Builder setRecoveryRetries(int value) {
            return set(RECOVERY_RETRIES, value);
        }

        /** Reconnect when records wait this long with nothing from the server, ms (default 60,000; 0 = never). */
        public Builder setServerLackOfAckTimeoutMs(long value) {
            return set(SERVER_LACK_OF_ACK_TIMEOUT_MS, value);
        }

        /** Bound on flush, waitForOffset and close's flush, ms (default 300,000). */
        public Builder setFlushTimeoutMs(long value) {
            return set(FLUSH_TIMEOUT_MS, value);
        }

        /** After a server close signal, wait at most this long for acks before reconnecting, ms (0 = at once). */
        public Builder setStreamPausedMaxWaitTimeMs(long value) {
            return set(STREAM_PAUSED_MAX_WAIT_TIME_MS, value);
        }

        /** How long close waits for running ack callbacks, ms (default 5,000). */
        public Builder setCallbackMaxWaitTimeMs(long value) {
            return set(CALLBACK_MAX_WAIT_TIME_MS, value);
        }

        /** Record type; {@link ZerobusSdk#createJsonStream} / {@link ZerobusSdk#createProtoStream} override it. */
        public Builder setRecordType(RecordType value) {
            return set(RECORD_TYPE, value.value());
        }

        /** Callbacks for acknowledgements and failed offsets (null: none). */
        public Builder setAckCallback(AckCallback callback) {
            this.ackCallback = callback;
            return this;
        }

        public StreamConfigurationOptions build() {
            return new StreamConfigurationOptions(values.clone(), set, ackCallback);
        }
    }
}
