package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class JsonWriterTest {
    enum Color { RED }

    static String json(Map<?, ?> m) throws ZerobusException {
        JsonWriter w = new JsonWriter();
        w.record(m, -1);
        return new String(w.buf(), 0, w.size(), StandardCharsets.UTF_8);
    }

    @Test
    void writesEveryValueTypeInItsTextForm() throws Exception {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("n", null);
        m.put("t", true);
        m.put("i", 42);
        m.put("l", Long.MIN_VALUE);
        m.put("max", Long.MAX_VALUE);
        m.put("s", (short) -7);
        m.put("b", (byte) 0);
        m.put("d", 1.5);
        m.put("e", 1e21);
        m.put("nan", Double.NaN);
        m.put("inf", Double.POSITIVE_INFINITY);
        m.put("ninf", Float.NEGATIVE_INFINITY);
        m.put("fl", 0.1f);
        m.put("big", new BigInteger("123456789012345678901234567890"));
        m.put("dec", new BigDecimal("1E+3"));
        m.put("dec2", new BigDecimal("12.50"));
        m.put("ch", 'x');
        m.put("enum", Color.RED);
        m.put("uuid", UUID.fromString("123e4567-e89b-12d3-a456-426614174000"));
        m.put("at", Instant.parse("2024-05-01T12:30:00.123456Z"));
        m.put("odt", OffsetDateTime.of(2024, 5, 1, 12, 30, 5, 0, ZoneOffset.ofHours(2)));
        m.put("zdt", ZonedDateTime.of(2024, 1, 1, 0, 0, 0, 0, ZoneId.of("Europe/Paris")));
        m.put("ldt", LocalDateTime.of(2024, 5, 1, 12, 30, 1));
        m.put("day", LocalDate.of(2024, 2, 29));
        m.put("raw", new byte[] {0, 1, 2, -1});
        m.put("buf", ByteBuffer.wrap(new byte[] {104, 105}));
        m.put("list", Arrays.asList(1, "two", null));
        m.put("arr", new Object[] {1L});
        m.put("ints", new int[] {1, 2});
        m.put("bools", new boolean[] {true});
        m.put("nested", Map.of("k", Map.of(1, 2)));
        assertEquals("{\"n\":null,\"t\":true,\"i\":42,\"l\":-9223372036854775808,\"max\":9223372036854775807,"
                + "\"s\":-7,\"b\":0,\"d\":1.5,\"e\":1.0E21,\"nan\":\"NaN\",\"inf\":\"Infinity\",\"ninf\":\"-Infinity\","
                + "\"fl\":0.1,\"big\":123456789012345678901234567890,\"dec\":\"1000\",\"dec2\":\"12.50\",\"ch\":\"x\","
                + "\"enum\":\"RED\",\"uuid\":\"123e4567-e89b-12d3-a456-426614174000\","
                + "\"at\":\"2024-05-01T12:30:00.123456Z\",\"odt\":\"2024-05-01T12:30:05+02:00\","
                + "\"zdt\":\"2024-01-01T00:00+01:00\",\"ldt\":\"2024-05-01T12:30:01\",\"day\":\"2024-02-29\","
                + "\"raw\":\"AAEC/w==\",\"buf\":\"aGk=\",\"list\":[1,\"two\",null],\"arr\":[1],\"ints\":[1,2],"
                + "\"bools\":[true],\"nested\":{\"k\":{\"1\":2}}}", json(m));
    }

    @Test
    void escapesStringsAndWritesUtf8() throws Exception {
        String s = "q\"b\\n\nr\rt\t\u0001é€😀\uD800x";
        assertEquals("{\"k\\\"\":\"q\\\"b\\\\n\\nr\\rt\\t\\u0001é€😀\\ud800x\"}", json(Map.of("k\"", s)));
        String longText = "a".repeat(5000) + "é";
        assertEquals("{\"s\":\"" + longText + "\"}", json(Map.of("s", longText)));
    }

    @Test
    void anUnwritableValueNamesTheRecordAndThePath() {
        JsonWriter w = new JsonWriter();
        ZerobusException e = assertThrows(ZerobusException.class,
                () -> w.record(Map.of("loc", Map.of("lat", new Object())), 3));
        assertEquals(ErrorCode.INVALID_RECORD, e.getCode());
        assertTrue(e.getMessage().startsWith("record 3 of the batch: `loc.lat`: a java.lang.Object has no JSON form"),
                e.getMessage());
        e = assertThrows(ZerobusException.class,
                () -> w.record(Map.of("tags", List.of("a", List.of(Thread.currentThread()))), -1));
        assertTrue(e.getMessage().startsWith("`tags[1][0]`: a java.lang.Thread"), e.getMessage());
        e = assertThrows(ZerobusException.class, () -> w.record(Map.of("xs", List.of(Map.of("y", new Object()))), -1));
        assertTrue(e.getMessage().startsWith("`xs[0].y`:"), e.getMessage());
        e = assertThrows(ZerobusException.class, () -> w.record(Collections.singletonMap(null, 1), -1));
        assertTrue(e.getMessage().startsWith("the record: a map has a null key"), e.getMessage());
        Map<String, Object> loop = new HashMap<>();
        loop.put("self", loop);
        e = assertThrows(ZerobusException.class, () -> w.record(loop, -1));
        assertTrue(e.getMessage().contains("nested deeper than"), e.getMessage());
    }
}
