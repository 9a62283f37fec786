package com.databricks.zerobus;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.util.Arrays;
import java.util.Base64;
import java.util.Iterator;
import java.util.Map;
import java.util.UUID;

/**
 * Writes native records ({@code Map<String, Object>}) as compact UTF-8 JSON text, back to back in
 * one growable buffer, so a whole batch crosses into the library in one call (one buffer plus
 * lengths) and the library encodes it: by the table's column types on a stream created from its
 * table, as JSON text on a JSON stream. Ours, not a library's: the SDK takes no JSON dependency,
 * and a writer that only writes needs no tree, reflection or configuration.
 *
 * <p>Values, by their Java type (the text forms are those PROTOCOL.md §7 and the library's typed
 * encoder read): {@code null}; {@code Boolean}; {@code Byte} … {@code Long} and {@code BigInteger}
 * as JSON numbers; {@code Float} / {@code Double} as numbers, NaN and ±Infinity as the strings
 * {@code "NaN"}, {@code "Infinity"}, {@code "-Infinity"}; {@code BigDecimal} as its plain decimal
 * string ({@code "12.50"}); {@code CharSequence}, {@code Character}, {@code UUID} and enums (their
 * name) as strings; {@code Instant}, {@code OffsetDateTime}, {@code ZonedDateTime} as RFC 3339 text
 * with an offset, {@code LocalDateTime} without one (TIMESTAMP_NTZ); {@code LocalDate} as
 * {@code YYYY-MM-DD}; {@code byte[]} and {@code ByteBuffer} (its remaining bytes) as base64; maps
 * (keys written with {@code toString()}) as objects; {@code Iterable}s and arrays as lists.
 * Anything else fails the call with {@link ErrorCode#INVALID_RECORD} naming the record and the key
 * path, before anything is sent.
 */
final class JsonWriter {
    private static final int INITIAL = 1024;
    private static final int KEEP_MAX = 4 << 20;
    private static final int MAX_DEPTH = 64;
    private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
    private static final ThreadLocal<JsonWriter> LOCAL = ThreadLocal.withInitial(JsonWriter::new);

    private byte[] buf = new byte[INITIAL];
    private int size;

    /** This thread's writer, reset. Use it within one call only. */
    static JsonWriter get() {
        JsonWriter w = LOCAL.get();
        w.reset();
        return w;
    }

    /** The text written so far: {@code buf()[0 .. size())}. */
    byte[] buf() {
        return buf;
    }

    int size() {
        return size;
    }

    /** Forgets what was written; keeps the buffer unless it grew past {@link #KEEP_MAX}. */
    void reset() {
        size = 0;
        if (buf.length > KEEP_MAX) {
            buf = new byte[INITIAL];
        }
    }

    /**
     * Writes one record. {@code index} (&ge; 0 in a batch) goes into the error message of an
     * unwritable value.
     */
    void record(Map<?, ?> record, int index) throws ZerobusException {
        try {
            map(record, 0);
        } catch (Unwritable e) {
            String where = e.path.isEmpty() ? "the record" : "`" + e.path + "`";
            String which = index >= 0 ? "record " + index + " of the batch: " : "";
            throw new NonRetriableException(ErrorCode.INVALID_RECORD,
                    which + where + ": " + e.getMessage() + "; nothing was queued, the stream carries on");
        }
    }

    /** Appends bytes as they are (a batch mixing maps with text or encoded records). */
    void raw(byte[] b, int off, int len) throws ZerobusException {
        room(len);
        System.arraycopy(b, off, buf, size, len);
        size += len;
    }

    private void value(Object v, int depth) throws ZerobusException {
        if (v == null) {
            ascii("null");
        } else if (v instanceof String) {
            string((String) v);
        } else if (v instanceof Boolean) {
            ascii((Boolean) v ? "true" : "false");
        } else if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            longValue(((Number) v).longValue());
        } else if (v instanceof Double) {
            doubleValue((Double) v);
        } else if (v instanceof Float) {
            float f = (Float) v;
            if (Float.isFinite(f)) {
                ascii(Float.toString(f));
            } else {
                doubleValue(f);
            }
        } else if (v instanceof Map) {
            map((Map<?, ?>) v, depth + 1);
        } else if (v instanceof BigDecimal) {
            quotedAscii(((BigDecimal) v).toPlainString());
        } else if (v instanceof BigInteger) {
            ascii(v.toString());
        } else if (v instanceof CharSequence) {
            string((CharSequence) v);
        } else if (v instanceof Character) {
            string(v.toString());
        } else if (v instanceof Instant || v instanceof OffsetDateTime || v instanceof LocalDateTime
                || v instanceof LocalDate || v instanceof UUID) {
            quotedAscii(v.toString());
        } else if (v instanceof ZonedDateTime) {
            quotedAscii(((ZonedDateTime) v).toOffsetDateTime().toString());
        } else if (v instanceof byte[]) {
            base64((byte[]) v);
        } else if (v instanceof ByteBuffer) {
            ByteBuffer bb = ((ByteBuffer) v).duplicate();
            byte[] b = new byte[bb.remaining()];
            bb.get(b);
            base64(b);
        } else if (v instanceof Enum) {
            string(((Enum<?>) v).name());
        } else if (v instanceof Iterable) {
            list(((Iterable<?>) v).iterator(), depth + 1);
        } else if (v instanceof Object[]) {
            list(Arrays.asList((Object[]) v).iterator(), depth + 1);
        } else if (v instanceof int[]) {
            list(Arrays.stream((int[]) v).iterator(), depth + 1);
        } else if (v instanceof long[]) {
            list(Arrays.stream((long[]) v).iterator(), depth + 1);
        } else if (v instanceof double[]) {
            list(Arrays.stream((double[]) v).iterator(), depth + 1);
        } else if (v instanceof float[] || v instanceof short[] || v instanceof boolean[] || v instanceof char[]) {
            list(boxed(v).iterator(), depth + 1);
        } else {
            throw new Unwritable("a " + v.getClass().getName() + " has no JSON form (give maps, lists, strings,"
                    + " numbers, booleans, null, BigDecimal, Instant, LocalDate, LocalDateTime or byte[])");
        }
    }

    private static Iterable<Object> boxed(Object array) {
        int n = java.lang.reflect.Array.getLength(array);
        Object[] out = new Object[n];
        for (int i = 0; i < n; i++) {
            out[i] = java.lang.reflect.Array.get(array, i);
        }
        return Arrays.asList(out);
    }

    private void map(Map<?, ?> m, int depth) throws ZerobusException {
        if (depth > MAX_DEPTH) {
            throw new Unwritable("nested deeper than " + MAX_DEPTH + " levels (does a map contain itself?)");
        }
        put('{');
        boolean first = true;
        for (Map.Entry<?, ?> e : m.entrySet()) {
            Object k = e.getKey();
            if (k == null) {
                throw new Unwritable("a map has a null key");
            }
            String key = k.toString();
            if (!first) {
                put(',');
            }
            first = false;
            string(key);
            put(':');
            try {
                value(e.getValue(), depth);
            } catch (Unwritable u) {
                throw u.within(key);
            }
        }
        put('}');
    }

    private void list(Iterator<?> items, int depth) throws ZerobusException {
        if (depth > MAX_DEPTH) {
            throw new Unwritable("nested deeper than " + MAX_DEPTH + " levels (does a list contain itself?)");
        }
        put('[');
        int i = 0;
        while (items.hasNext()) {
            Object v = items.next();
            if (i > 0) {
                put(',');
            }
            try {
                value(v, depth);
            } catch (Unwritable u) {
                throw u.within("[" + i + "]");
            }
            i++;
        }
        put(']');
    }

    private void doubleValue(double d) throws ZerobusException {
        if (Double.isNaN(d)) {
            ascii("\"NaN\"");
        } else if (d == Double.POSITIVE_INFINITY) {
            ascii("\"Infinity\"");
        } else if (d == Double.NEGATIVE_INFINITY) {
            ascii("\"-Infinity\"");
        } else {
            ascii(Double.toString(d)); // 1.0E10, -0.0: valid JSON numbers
        }
    }

    /** A long in decimal, without a String. */
    private void longValue(long v) throws ZerobusException {
        if (v == Long.MIN_VALUE) {
            ascii("-9223372036854775808");
            return;
        }
        long n = v;
        if (n < 0) {
            put('-');
            n = -n;
        }
        int digits = 1;
        long p = 10;
        while (digits < 19 && n >= p) {
            digits++;
            p *= 10;
        }
        room(digits);
        int at = size + digits;
        do {
            buf[--at] = (byte) ('0' + (int) (n % 10));
            n /= 10;
        } while (n > 0);
        size += digits;
    }

    private void base64(byte[] b) throws ZerobusException {
        put('"');
        byte[] enc = Base64.getEncoder().encode(b);
        raw(enc, 0, enc.length);
        put('"');
    }

    private void quotedAscii(String s) throws ZerobusException {
        put('"');
        ascii(s);
        put('"');
    }

    /** A JSON string: {@code "}, {@code \} and control characters escaped, the rest as UTF-8. */
    private void string(CharSequence s) throws ZerobusException {
        int n = s.length();
        room(n + 2);
        buf[size++] = '"';
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
                room(1);
                buf[size++] = (byte) c;
            } else if (c == '"') {
                ascii("\\\"");
            } else if (c == '\\') {
                ascii("\\\\");
            } else if (c == '\n') {
                ascii("\\n");
            } else if (c == '\r') {
                ascii("\\r");
            } else if (c == '\t') {
                ascii("\\t");
            } else if (c < 0x20) {
                escape(c);
            } else if (c < 0x800) {
                room(2);
                buf[size++] = (byte) (0xC0 | (c >> 6));
                buf[size++] = (byte) (0x80 | (c & 0x3F));
            } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                int cp = Character.toCodePoint(c, s.charAt(++i));
                room(4);
                buf[size++] = (byte) (0xF0 | (cp >> 18));
                buf[size++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
                buf[size++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                buf[size++] = (byte) (0x80 | (cp & 0x3F));
            } else if (Character.isSurrogate(c)) {
                // A lone surrogate has no UTF-8 form: written as its escape, for the library to judge.
                escape(c);
            } else {
                room(3);
                buf[size++] = (byte) (0xE0 | (c >> 12));
                buf[size++] = (byte) (0x80 | ((c >> 6) & 0x3F));
                buf[size++] = (byte) (0x80 | (c & 0x3F));
            }
        }
        put('"');
    }

    private void escape(char c) throws ZerobusException {
        room(6);
        buf[size++] = '\\';
        buf[size++] = 'u';
        for (int shift = 12; shift >= 0; shift -= 4) {
            buf[size++] = HEX[(c >> shift) & 0xF];
        }
    }

    private void ascii(String s) throws ZerobusException {
        int n = s.length();
        room(n);
        for (int i = 0; i < n; i++) {
            buf[size++] = (byte) s.charAt(i);
        }
    }

    private void put(int b) throws ZerobusException {
        room(1);
        buf[size++] = (byte) b;
    }

    private void room(int n) throws ZerobusException {
        if (size + n <= buf.length && size + n >= 0) {
            return;
        }
        long need = (long) size + n;
        if (need > Integer.MAX_VALUE - 16) {
            throw new NonRetriableException(ErrorCode.RECORD_TOO_LARGE,
                    "the records' JSON text exceeds 2 GiB; split the call");
        }
        buf = Arrays.copyOf(buf, (int) Math.min(Math.max(need, 2L * buf.length), Integer.MAX_VALUE - 16L));
    }

    /** A value with no JSON form; {@code path} is built as the failure unwinds ({@code loc.lat}, {@code tags[2]}). */
    private static final class Unwritable extends RuntimeException {
        private static final long serialVersionUID = 1L;
        String path = "";

        Unwritable(String reason) {
            super(reason, null, false, false);
        }

        /** Prepends a key or {@code [index]} step, with a {@code .} before a key step that follows. */
        Unwritable within(String step) {
            path = path.isEmpty() || path.startsWith("[") ? step + path : step + "." + path;
            return this;
        }
    }
}
