package com.databricks.zerobus;

import java.util.Map;

/**
 * What the JNI shim holds for a {@link HeadersProvider}. Called by the shim on a library thread
 * before every connection attempt; it never throws: a failure crosses as its code.
 */
final class HeadersBridge {
    private final HeadersProvider provider;

    HeadersBridge(HeadersProvider provider) {
        this.provider = provider;
    }

    /**
     * Asks the provider and adds its headers to {@code headers} (the C ABI's handle for this
     * call). Returns {@code ZEROBUS_OK} (0), or the code of the failure with its message set: a
     * {@link ZerobusException}'s own code and message, {@link ErrorCode#UNAVAILABLE} with the
     * exception as message for anything else, {@link ErrorCode#INVALID_ARGUMENT} for a null map.
     * The library decides what the code means (retried within the recovery budget, or final).
     */
    int collect(long headers) {
        try {
            Map<String, String> map = provider.getHeaders();
            if (map == null) {
                return fail(headers, ErrorCode.INVALID_ARGUMENT,
                        "the headers provider returned null; return a map of headers");
            }
            for (Map.Entry<String, String> e : map.entrySet()) {
                // A null name or value fails the attempt with INVALID_ARGUMENT (the library says so).
                NativeBindings.headersAdd(headers, NativeBindings.cstr(e.getKey()), NativeBindings.cstr(e.getValue()));
            }
            return ErrorCode.OK.value();
        } catch (ZerobusException e) {
            ErrorCode code = e.getCode() == null || e.getCode() == ErrorCode.OK ? ErrorCode.UNAVAILABLE : e.getCode();
            return fail(headers, code, e.getMessage());
        } catch (Throwable t) {
            return fail(headers, ErrorCode.UNAVAILABLE, String.valueOf(t));
        }
    }

    private static int fail(long headers, ErrorCode code, String message) {
        NativeBindings.headersSetError(headers, NativeBindings.cstr(message));
        return code.value();
    }
}
