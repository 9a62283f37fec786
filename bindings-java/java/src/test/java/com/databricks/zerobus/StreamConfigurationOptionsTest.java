package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class StreamConfigurationOptionsTest {
    @Test
    void defaultsLeaveEveryOptionToTheLibrary() {
        StreamConfigurationOptions o = StreamConfigurationOptions.builder().build();
        assertEquals(OptionalLong.empty(), o.maxInflightRequests());
        assertEquals(OptionalLong.empty(), o.flushTimeoutMs());
        assertFalse(o.recovery().isPresent());
        assertFalse(o.ackCallback().isPresent());
        long[] slots = o.toNative(RecordType.JSON);
        assertEquals(StreamConfigurationOptions.COUNT, slots.length);
        for (int i = 0; i < slots.length; i++) {
            assertEquals(i == StreamConfigurationOptions.RECORD_TYPE ? 2 : -1, slots[i], "slot " + i);
        }
    }

    @Test
    void everyOptionIncludingZeroIsExpressible() {
        StreamConfigurationOptions o = StreamConfigurationOptions.builder()
                .setMaxInflightRequests(0).setMaxInflightBytes(0).setRecovery(false).setRecoveryTimeoutMs(0)
                .setRecoveryBackoffMs(0).setRecoveryRetries(0).setServerLackOfAckTimeoutMs(0).setFlushTimeoutMs(0)
                .setStreamPausedMaxWaitTimeMs(0).setCallbackMaxWaitTimeMs(0).setRecordType(RecordType.PROTO).build();
        long[] expected = new long[StreamConfigurationOptions.COUNT];
        expected[StreamConfigurationOptions.RECORD_TYPE] = RecordType.PROTO.value();
        assertArrayEquals(expected, o.toNative(RecordType.PROTO));
        assertEquals(OptionalLong.of(0), o.maxInflightRequests());
        assertEquals(Boolean.FALSE, o.recovery().get());
    }

    @Test
    void valuesLandInTheirSlots() {
        AckCallback cb = offset -> {};
        StreamConfigurationOptions o = StreamConfigurationOptions.builder()
                .setMaxInflightRequests(1).setMaxInflightBytes(2).setRecovery(true).setRecoveryTimeoutMs(3)
                .setRecoveryBackoffMs(4).setRecoveryRetries(5).setServerLackOfAckTimeoutMs(6).setFlushTimeoutMs(7)
                .setStreamPausedMaxWaitTimeMs(8).setCallbackMaxWaitTimeMs(9).setAckCallback(cb).build();
        assertEquals(Arrays.toString(new long[] {1, 2, 1, 3, 4, 5, 6, 7, 8, 9, 2}),
                Arrays.toString(o.toNative(RecordType.JSON)));
        assertSame(cb, o.ackCallback().get());
        assertEquals(o.toNative(RecordType.JSON)[5], o.toBuilder().build().toNative(RecordType.JSON)[5]);
    }

    @Test
    void negativeValuesAreRejected() {
        StreamConfigurationOptions.Builder b = StreamConfigurationOptions.builder();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.setFlushTimeoutMs(-1));
        assertTrue(e.getMessage().contains("flushTimeoutMs"));
        assertThrows(IllegalArgumentException.class, () -> b.setRecoveryRetries(-5));
    }

    @Test
    void builtOptionsAreImmutable() {
        StreamConfigurationOptions.Builder b = StreamConfigurationOptions.builder().setFlushTimeoutMs(10);
        StreamConfigurationOptions o = b.build();
        b.setFlushTimeoutMs(20);
        assertEquals(OptionalLong.of(10), o.flushTimeoutMs());
    }
}
