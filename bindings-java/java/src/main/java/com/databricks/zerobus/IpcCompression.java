package com.databricks.zerobus;

import java.util.Locale;

/** Body compression of the Arrow IPC batches the library encodes for a {@link ZerobusArrowStream}. */
public enum IpcCompression {
    /** Uncompressed bodies: the cheapest for the client's CPU (the default). */
    NONE,
    /** LZ4 frame: fast, about half the bytes on typical columns. */
    LZ4_FRAME,
    /** ZSTD: fewer bytes than LZ4 at several times its CPU cost. */
    ZSTD;

    /** The name the C ABI takes ({@code none}, {@code lz4_frame}, {@code zstd}). */
    String nativeName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
