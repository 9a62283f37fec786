package com.databricks.zerobus;

/** Record encoding; the values equal the C ABI's {@code zerobus_record_type}. */
public enum RecordType {
    /** Protocol buffer records described by the descriptor given at stream creation. */
    PROTO(1),
    /** JSON object records, as UTF-8 text. */
    JSON(2);

    private final int value;

    RecordType(int value) {
        this.value = value;
    }

    public int value() {
        return value;
    }

    static RecordType fromValue(int value) {
        return value == JSON.value ? JSON : PROTO;
    }
}
