package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class StreamConfigurationOptionsTest {
    static final int SET = StreamConfigurationOptions.SET;

    @Test
    void defaultsLeaveEveryOptionToTheLibrary() {
        StreamConfigurationOptions o = StreamConfigurationOptions.builder().build();
        assertEquals(OptionalLong.empty(), o.maxInflightRequests());
        assertEquals(OptionalLong.empty(), o.flushTimeoutMs());
        assertEquals(OptionalLong.empty(), o.recoveryBackoffMaxMs());
        assertFalse(o.recovery().isPresent());
        assertFalse(o.ackCallback().isPresent());
        long[] slots = o.toNative(RecordType.JSON);
        assertEquals(StreamConfigurationOptions.COUNT + 1, slots.length);
        // Only the record type (forced by the create call) is marked set.
        assertEquals(1L << StreamConfigurationOptions.RECORD_TYPE, slots[SET]);
        assertEquals(2, slots[StreamConfigurationOptions.RECORD_TYPE]);
    }

    @Test
    void everyOptionIncludingZeroIsExpressible() {
        StreamConfigurationOptions o = StreamConfigurationOptions.builder()
                .setMaxInflightRequests(0).setMaxInflightBytes(0).setRecovery(false).setRecoveryTimeoutMs(0)
                .setRecoveryBackoffMs(0).setRecoveryBackoffMaxMs(0).setRecoveryRetries(0)
                .setServerLackOfAckTimeoutMs(0).setFlushTimeoutMs(0)
                .setStreamPausedMaxWaitTimeMs(0).setCallbackMaxWaitTimeMs(0).setRecordType(RecordType.PROTO).build();
        long[] expected = new long[StreamConfigurationOptions.COUNT + 1];
        expected[StreamConfigurationOptions.RECORD_TYPE] = RecordType.PROTO.value();
        expected[SET] = (1L << StreamConfigurationOptions.COUNT) - 1; // every slot set
        assertArrayEquals(expected, o.toNative(RecordType.PROTO));
        assertEquals(OptionalLong.of(0), o.maxInflightRequests());
        assertEquals(OptionalLong.of(0), o.recoveryBackoffMaxMs());
        assertEquals(Boolean.FALSE, o.recovery().get());
    }

    @Test
    void valuesLandInTheirSlots() {
        AckCallback cb = offset -> {};
        StreamConfigurationOptions o = StreamConfigurationOptions.builder()
                .setMaxInflightRequests(1).setMaxInflightBytes(2).setRecovery(true).setRecoveryTimeoutMs(3)
                .setRecoveryBackoffMs(4).setRecoveryRetries(5).setServerLackOfAckTimeoutMs(6).setFlushTimeoutMs(7)
                .setStreamPausedMaxWaitTimeMs(8).setCallbackMaxWaitTimeMs(9).setRecoveryBackoffMaxMs(12)
                .setAckCallback(cb).build();
        assertEquals(Arrays.toString(new long[] {1, 2, 1, 3, 4, 5, 6, 7, 8, 9, 2, 12, (1L << 12) - 1}),
                Arrays.toString(o.toNative(RecordType.JSON)));
        assertSame(cb, o.ackCallback().get());
        assertArrayEquals(o.toNative(RecordType.JSON), o.toBuilder().build().toNative(RecordType.JSON));
    }

    /** The binding checks no range: values (negative ones too) go to the library as they are. */
    @Test
    void negativeValuesArePassedThroughUnchanged() {
        StreamConfigurationOptions o = StreamConfigurationOptions.builder().setFlushTimeoutMs(-1)
                .setRecoveryRetries(-5).setRecoveryBackoffMaxMs(-2).build();
        assertEquals(OptionalLong.of(-1), o.flushTimeoutMs());
        long[] slots = o.toNative(RecordType.JSON);
        assertEquals(-1, slots[StreamConfigurationOptions.FLUSH_TIMEOUT_MS]);
        assertEquals(-5, slots[StreamConfigurationOptions.RECOVERY_RETRIES]);
        assertEquals(-2, slots[StreamConfigurationOptions.RECOVERY_BACKOFF_MAX_MS]);
        assertTrue((slots[SET] & (1L << StreamConfigurationOptions.FLUSH_TIMEOUT_MS)) != 0);
    }

    @Test
    void builtOptionsAreImmutable() {
        StreamConfigurationOptions.Builder b = StreamConfigurationOptions.builder().setFlushTimeoutMs(10);
        StreamConfigurationOptions o = b.build();
        b.setFlushTimeoutMs(20);
        assertEquals(OptionalLong.of(10), o.flushTimeoutMs());
    }
}
