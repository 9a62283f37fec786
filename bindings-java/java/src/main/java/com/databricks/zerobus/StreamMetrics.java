package com.databricks.zerobus;

/**
 * A point-in-time view of a stream's counters.
 *
 * @param inflightRequests calls queued and not yet acknowledged
 * @param inflightRecords records in those calls
 * @param inflightBytes encoded bytes held for those calls
 * @param lastAckedOffset highest acknowledged offset, or -1 if none
 * @param recordsSent records handed to the transport, resends included
 * @param recordsResent records sent again after a reconnect
 * @param recoveries successful reconnects
 * @param tokenFetches token endpoint requests made by this stream
 */
public record StreamMetrics(long inflightRequests, long inflightRecords, long inflightBytes, long lastAckedOffset,
        long recordsSent, long recordsResent, long recoveries, long tokenFetches) {
    static StreamMetrics fromNative(long[] v) {
        return new StreamMetrics(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
    }
}
