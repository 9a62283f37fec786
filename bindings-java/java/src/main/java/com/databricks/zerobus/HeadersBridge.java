package com.databricks.zerobus;

import java.nio.charset.StandardCharsets;
import java.util.Map;

/** What the JNI shim holds for a {@link HeadersProvider}: headers as NUL-terminated UTF-8 pairs. */
final class HeadersBridge {
    private final HeadersProvider provider;

    HeadersBridge(HeadersProvider provider) {
        this.provider = provider;
    }

    /** [name0, value0, name1, value1, …], or null to fail the connection attempt. */
    byte[][] collect() {
        try {
            Map<String, String> headers = provider.getHeaders();
            if (headers == null) {
                System.err.println("zerobus: the headers provider returned null");
                return null;
            }
            byte[][] out = new byte[headers.size() * 2][];
            int i = 0;
            for (Map.Entry<String, String> e : headers.entrySet()) {
                out[i++] = NativeBindings.cstr(e.getKey());
                out[i++] = NativeBindings.cstr(e.getValue());
            }
            return out;
        } catch (Throwable t) {
            AckBridge.report("the headers provider", t);
            return null;
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
