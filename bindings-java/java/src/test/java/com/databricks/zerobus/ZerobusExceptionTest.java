package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ZerobusExceptionTest {
    static Path root() {
        return Paths.get(System.getProperty("zerobus.root", "../..")).toAbsolutePath().normalize();
    }

    @Test
    void codesMirrorTheCHeader() throws Exception {
        String header = Files.readString(root().resolve("ffi-c/include/zerobus.h"));
        Matcher m = Pattern.compile("ZEROBUS_(?:ERROR_)?([A-Z_]+) = (\\d+),").matcher(
                header.substring(header.indexOf("typedef enum zerobus_code"), header.indexOf("} zerobus_code;")));
        Map<String, Integer> fromHeader = new LinkedHashMap<>();
        while (m.find()) {
            fromHeader.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        Map<String, Integer> fromEnum = new LinkedHashMap<>();
        for (ErrorCode c : ErrorCode.values()) {
            fromEnum.put(c.name(), c.value());
        }
        assertEquals(fromHeader, fromEnum);
    }

    @Test
    void nativeErrorsMapToCodesAndRetryability() {
        ZerobusException e = ZerobusException.fromNative(10, 14, true, "gone".getBytes(StandardCharsets.UTF_8));
        assertEquals(ErrorCode.UNAVAILABLE, e.getCode());
        assertEquals("UNAVAILABLE", e.getCodeName());
        assertEquals(14, e.getGrpcStatus());
        assertEquals(OptionalInt.of(14), e.grpcStatus());
        assertTrue(e.isRetryable());
        assertFalse(e instanceof NonRetriableException);
        assertEquals("gone", e.getMessage());

        ZerobusException n = ZerobusException.fromNative(7, -1, false, "bad token \u00e9".getBytes(StandardCharsets.UTF_8));
        assertInstanceOf(NonRetriableException.class, n);
        assertEquals(ErrorCode.UNAUTHENTICATED, n.getCode());
        assertEquals(-1, n.getGrpcStatus());
        assertEquals(OptionalInt.empty(), n.grpcStatus());
        assertEquals("bad token \u00e9", n.getMessage());
        assertTrue(n.toString().contains("UNAUTHENTICATED"));
    }

    @Test
    void unknownCodesBecomeInternal() {
        assertEquals(ErrorCode.INTERNAL, ErrorCode.fromValue(99));
        assertEquals(ErrorCode.INTERNAL, ZerobusException.fromNative(99, -1, false, new byte[0]).getCode());
    }

    @Test
    void libraryErrorsArriveAsZerobusExceptions() {
        ZerobusException e = assertThrows(ZerobusException.class, () -> new ZerobusSdk("not a url", "also not"));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.getCode());
        assertInstanceOf(NonRetriableException.class, e);
        assertFalse(e.getMessage().isEmpty());
    }
}
