package com.databricks.zerobus.testee;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** The conformance records, byte for byte as conformance/src/records.rs generates them. */
final class Records {
    private Records() {}

    /** JSON record {@code {"seed":S,"seq":I,"pad":"…"}} padded to exactly {@code size} bytes. */
    static String json(long seed, long index, int size) {
        String head = "{\"seed\":" + Long.toUnsignedString(seed) + ",\"seq\":" + Long.toUnsignedString(index)
                + ",\"pad\":\"";
        String tail = "\"}";
        int padLen = Math.max(0, size - head.length() - tail.length());
        StringBuilder b = new StringBuilder(head.length() + padLen + tail.length());
        b.append(head);
        pad(b, seed, index, padLen);
        b.append(tail);
        return b.toString();
    }

    /** Proto record: field 1 seed, field 2 seq (varints), field 3 pad, at most {@code size} bytes. */
    static byte[] proto(long seed, long index, int size) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(size + 8);
        out.write(0x08);
        varint(out, seed);
        out.write(0x10);
        varint(out, index);
        int fixed = out.size() + 1;
        int padLen = Math.max(0, size - (fixed + 1));
        while (padLen > 0 && fixed + varintLen(padLen) + padLen > size) {
            padLen--;
        }
        out.write(0x1a);
        varint(out, padLen);
        StringBuilder pad = new StringBuilder(padLen);
        pad(pad, seed, index, padLen);
        byte[] p = pad.toString().getBytes(StandardCharsets.US_ASCII);
        out.write(p, 0, p.length);
        return out.toByteArray();
    }

    private static void pad(StringBuilder out, long seed, long index, int len) {
        long x = seed * 0x9E3779B97F4A7C15L + index + 1;
        for (int k = 0; k < len; k++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            out.append((char) ('a' + Long.remainderUnsigned(x, 26)));
        }
    }

    private static void varint(ByteArrayOutputStream out, long v) {
        while (Long.compareUnsigned(v, 0x80) >= 0) {
            out.write((int) (v & 0x7f) | 0x80);
            v >>>= 7;
        }
        out.write((int) v);
    }

    private static int varintLen(long v) {
        int n = 1;
        while (Long.compareUnsigned(v, 0x80) >= 0) {
            v >>>= 7;
            n++;
        }
        return n;
    }
}
