package com.databricks.zerobus;

import java.util.Optional;
import java.util.OptionalLong;

/**
 * Arrow stream options, under the published Java SDK's names ({@code setMaxInflightBatches},
 * {@code setConnectionTimeoutMs}, …) plus the byte bound, the backoff cap, the body compression
 * and the ack callback. Every option left unset keeps the library's default (1,000 in-flight
 * batches, 64 MiB, recovery on, a 30 s connection timeout, no compression, …); any value, zero
 * included, can be set. Values are checked once, by the library, when a stream is created: an
 * out-of-range value (a negative one included) fails the creation with
 * {@link ErrorCode#INVALID_ARGUMENT} naming the option and its range. Immutable; build with
 * {@link #builder()}.
 */
public final class ArrowStreamConfigurationOptions {
    // Slots of the array handed to the JNI shim (same order as zerobus_jni.c's AOPT_*), then SET.
    static final int MAX_INFLIGHT_BATCHES = 0;
    static final int MAX_INFLIGHT_BYTES = 1;
    static final int RECOVERY = 2;
    static final int RECOVERY_TIMEOUT_MS = 3;
    static final int RECOVERY_BACKOFF_MS = 4;
    static final int RECOVERY_BACKOFF_MAX_MS = 5;
    static final int RECOVERY_RETRIES = 6;
    static final int SERVER_LACK_OF_ACK_TIMEOUT_MS = 7;
    static final int FLUSH_TIMEOUT_MS = 8;
    static final int CONNECTION_TIMEOUT_MS = 9;
    static final int STREAM_PAUSED_MAX_WAIT_TIME_MS = 10;
    static final int CALLBACK_MAX_WAIT_TIME_MS = 11;
    static final int COUNT = 12;
    /** Index of the set-mask in {@link #toNative}'s array (its length is {@code SET + 1}). */
    static final int SET = COUNT;

    private static final ArrowStreamConfigurationOptions DEFAULTS = builder().build();

    private final long[] values;
    private final long set;
    private final IpcCompression ipcCompression;
    private final AckCallback ackCallback;

    private ArrowStreamConfigurationOptions(long[] values, long set, IpcCompression ipcCompression,
            AckCallback ackCallback) {
        this.values = values;
        this.set = set;
        this.ipcCompression = ipcCompression;
        this.ackCallback = ackCallback;
    }

    /** Options with every default. */
    public static ArrowStreamConfigurationOptions getDefault() {
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
        b.ipcCompression = ipcCompression;
        b.ackCallback = ackCallback;
        return b;
    }

    private OptionalLong get(int slot) {
        return (set & (1L << slot)) != 0 ? OptionalLong.of(values[slot]) : OptionalLong.empty();
    }

    public OptionalLong maxInflightBatches() {
        return get(MAX_INFLIGHT_BATCHES);
    }

    public OptionalLong maxInflightBytes() {
        return get(MAX_INFLIGHT_BYTES);
    }

    public Optional<Boolean> recovery() {
        return get(RECOVERY).isPresent() ? Optional.of(values[RECOVERY] != 0) : Optional.empty();
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

    public OptionalLong connectionTimeoutMs() {
        return get(CONNECTION_TIMEOUT_MS);
    }

    public OptionalLong streamPausedMaxWaitTimeMs() {
        return get(STREAM_PAUSED_MAX_WAIT_TIME_MS);
    }

    public OptionalLong callbackMaxWaitTimeMs() {
        return get(CALLBACK_MAX_WAIT_TIME_MS);
    }

    public Optional<IpcCompression> ipcCompression() {
        return Optional.ofNullable(ipcCompression);
    }

    public Optional<AckCallback> ackCallback() {
        return Optional.ofNullable(ackCallback);
    }

    /** The slot array for the JNI shim: the values, then the set-mask at {@link #SET}. */
    long[] toNative() {
        long[] out = java.util.Arrays.copyOf(values, COUNT + 1);
        out[SET] = set;
        return out;
    }

    /** The compression's C ABI name, NUL-terminated; null when unset. */
    byte[] compressionNative() {
        return ipcCompression == null ? null : NativeBindings.cstr(ipcCompression.nativeName());
    }

    /**
     * Collects options. Setters take any value and pass it through unchanged; the library checks
     * ranges when a stream is created.
     */
    public static final class Builder {
        private final long[] values = new long[COUNT];
        private long set;
        private IpcCompression ipcCompression;
        private AckCallback ackCallback;

        private Builder() {}

        private Builder set(int slot, long value) {
            values[slot] = value;
            set |= 1L << slot;
            return this;
        }

        /** Bound on unacknowledged ingest calls, each a batch or an IPC stream (default 1,000). */
        public Builder setMaxInflightBatches(long value) {
            return set(MAX_INFLIGHT_BATCHES, value);
        }

        /** Bound on unacknowledged encoded IPC bytes (default 64 MiB). A larger call still goes alone. */
        public Builder setMaxInflightBytes(long value) {
            return set(MAX_INFLIGHT_BYTES, value);
        }

        /** Reconnect and resend from the first unacknowledged row after retryable failures (default true). */
        public Builder setRecovery(boolean value) {
            return set(RECOVERY, value ? 1 : 0);
        }

        /** Bound on each connection attempt, ms (default 15,000). */
        public Builder setRecoveryTimeoutMs(long value) {
            return set(RECOVERY_TIMEOUT_MS, value);
        }

        /** Wait before the second connection attempt in a row, ms (default 2,000); later waits double. */
        public Builder setRecoveryBackoffMs(long value) {
            return set(RECOVERY_BACKOFF_MS, value);
        }

        /** Cap on the growing wait between connection attempts, ms (default 30,000). */
        public Builder setRecoveryBackoffMaxMs(long value) {
            return set(RECOVERY_BACKOFF_MAX_MS, value);
        }

        /** Connection attempts in a row without an ack before the stream fails (default 4). */
        public Builder setRecoveryRetries(int value) {
            return set(RECOVERY_RETRIES, value);
        }

        /** Reconnect when batches wait this long with nothing from the server, ms (default 60,000; 0 = never). */
        public Builder setServerLackOfAckTimeoutMs(long value) {
            return set(SERVER_LACK_OF_ACK_TIMEOUT_MS, value);
        }

        /** Bound on flush, waitForOffset and close's flush, ms (default 300,000). */
        public Builder setFlushTimeoutMs(long value) {
            return set(FLUSH_TIMEOUT_MS, value);
        }

        /** Bound on waiting for the server's ready signal on each connection, ms (default 30,000). */
        public Builder setConnectionTimeoutMs(long value) {
            return set(CONNECTION_TIMEOUT_MS, value);
        }

        /** After a server close signal, wait at most this long for acks before reconnecting, ms (0 = at once). */
        public Builder setStreamPausedMaxWaitTimeMs(long value) {
            return set(STREAM_PAUSED_MAX_WAIT_TIME_MS, value);
        }

        /** How long close waits for running ack callbacks, ms (default 5,000). */
        public Builder setCallbackMaxWaitTimeMs(long value) {
            return set(CALLBACK_MAX_WAIT_TIME_MS, value);
        }

        /**
         * Body compression of the batches the library encodes ({@code ingestBatch}); IPC streams
         * given to {@code ingestIpc} keep the compression they were written with (default NONE).
         */
        public Builder setIpcCompression(IpcCompression value) {
            this.ipcCompression = value;
            return this;
        }

        /** Callbacks per offset, one offset per ingest call (null: none). */
        public Builder setAckCallback(AckCallback callback) {
            this.ackCallback = callback;
            return this;
        }

        public ArrowStreamConfigurationOptions build() {
            return new ArrowStreamConfigurationOptions(values.clone(), set, ipcCompression, ackCallback);
        }
    }
}
