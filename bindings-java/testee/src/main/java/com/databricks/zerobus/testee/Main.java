package com.databricks.zerobus.testee;

import com.databricks.zerobus.AckCallback;
import com.databricks.zerobus.ArrowStreamConfigurationOptions;
import com.databricks.zerobus.IpcCompression;
import com.databricks.zerobus.ZerobusArrowStream;
import com.databricks.zerobus.ErrorCode;
import com.databricks.zerobus.HeadersProvider;
import com.databricks.zerobus.NonRetriableException;
import com.databricks.zerobus.RecordType;
import com.databricks.zerobus.StreamConfigurationOptions;
import com.databricks.zerobus.StreamMetrics;
import com.databricks.zerobus.TableSchema;
import com.databricks.zerobus.ZerobusException;
import com.databricks.zerobus.ZerobusSdk;
import com.databricks.zerobus.ZerobusStream;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.ipc.ArrowStreamReader;

/**
 * Conformance testee for the Java API (conformance/TESTEE.md): one request per stdin line, one
 * response per stdout line, no logic beyond mapping requests to public API calls. Mirrors
 * conformance/testees/rust/src/main.rs.
 */
public final class Main {
    private ZerobusSdk sdk;
    private ZerobusStream stream;
    private ZerobusArrowStream arrow;
    /** Whether the stream created last is {@link #arrow}: the shared stream ops act on that one. */
    private boolean arrowLast;
    /** Arrow Java's memory for the `native` form's decoded batches (created on first use). */
    private BufferAllocator allocator;
    private final List<Long> acks = new ArrayList<>();
    private final List<Long> errors = new ArrayList<>();
    /** Set when the `close` op's close() returned (whatever its result); callbacks after it are late. */
    private final AtomicBoolean closeReturned = new AtomicBoolean();
    private final AtomicLong late = new AtomicLong();
    private final AtomicLong headerCalls = new AtomicLong();

    private static ZerobusException bad(String message) {
        return new NonRetriableException(ErrorCode.INVALID_ARGUMENT, message);
    }

    private ZerobusStream stream() throws ZerobusException {
        if (stream == null) {
            throw bad("no stream was created");
        }
        return stream;
    }

    private ZerobusArrowStream arrow() throws ZerobusException {
        if (arrow == null) {
            throw bad("no Arrow stream was created");
        }
        return arrow;
    }

    private static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int k = 0; k < kv.length; k += 2) {
            m.put((String) kv[k], kv[k + 1]);
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return o instanceof Map ? (Map<String, Object>) o : new LinkedHashMap<>();
    }

    private static long num(Map<String, Object> m, String key, long dflt) {
        Object v = m.get(key);
        return v instanceof Number ? ((Number) v).longValue() : dflt;
    }

    private static String str(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v instanceof String ? (String) v : "";
    }

    Map<String, Object> handle(Map<String, Object> req) throws ZerobusException {
        String op = str(req, "op");
        switch (op) {
            case "create_stream":
                return create(req);
            case "ingest":
                return obj("offsets", produce(stream(), req, num(req, "seed", 1)));
            case "ingest_concurrent":
                return ingestConcurrent(req);
            case "ingest_empty_batch": {
                Optional<Long> offset = stream().ingestRecordsOffset(new byte[0], new int[0]);
                List<Object> offsets = new ArrayList<>();
                offsets.add(offset.orElse(null));
                return obj("offsets", offsets);
            }
            case "ingest_raw":
                return ingestRaw(req);
            case "table_schema":
                return tableSchema(req);
            case "create_arrow_stream":
                return createArrow(req);
            case "ingest_arrow":
                return ingestArrow(req);
            case "arrow_unacked":
                return obj("ipc_hex", hex(arrow().getUnackedIpc()));
            case "wait_for_offset":
                if (arrowLast) {
                    arrow().waitForOffset(num(req, "offset", -1));
                } else {
                    stream().waitForOffset(num(req, "offset", -1));
                }
                return obj();
            case "flush":
                if (arrowLast) {
                    arrow().flush();
                } else {
                    stream().flush();
                }
                return obj();
            case "close": {
                ZerobusArrowStream a = arrowLast ? arrow() : null;
                ZerobusStream s = arrowLast ? null : stream();
                try {
                    if (a != null) {
                        a.close();
                    } else {
                        s.close();
                    }
                } finally {
                    closeReturned.set(true);
                }
                return obj();
            }
            case "is_closed":
                return obj("closed", arrowLast ? arrow().isClosed() : stream().isClosed());
            case "unacked": {
                boolean proto = stream().getRecordType() == RecordType.PROTO;
                List<Object> batches = new ArrayList<>();
                for (List<byte[]> batch : stream().getUnackedBatches()) {
                    List<Object> records = new ArrayList<>();
                    for (byte[] r : batch) {
                        records.add(proto ? hex(r) : new String(r, StandardCharsets.UTF_8));
                    }
                    batches.add(records);
                }
                return obj("batches", batches);
            }
            case "metrics": {
                StreamMetrics m = arrowLast ? arrow().getMetrics() : stream().getMetrics();
                return obj("metrics", obj("inflight_requests", m.inflightRequests(),
                        "inflight_records", m.inflightRecords(), "inflight_bytes", m.inflightBytes(),
                        "last_acked_offset", m.lastAckedOffset() < 0 ? null : m.lastAckedOffset(),
                        "records_sent", m.recordsSent(), "records_resent", m.recordsResent(),
                        "recoveries", m.recoveries(), "token_fetches", m.tokenFetches()));
            }
            case "callbacks":
                synchronized (acks) {
                    return obj("acks", new ArrayList<>(acks), "errors", new ArrayList<>(errors), "late", late.get());
                }
            case "headers_provider_calls":
                return obj("count", headerCalls.get());
            default:
                throw bad("unknown op \"" + op + "\"");
        }
    }

    private static ZerobusSdk newSdk(Map<String, Object> req) throws ZerobusException {
        ZerobusSdk.Builder sb = ZerobusSdk.builder(str(req, "endpoint"), str(req, "workspace_url"));
        if (req.get("ca_pem") instanceof String) {
            sb.caPem(((String) req.get("ca_pem")).getBytes(StandardCharsets.UTF_8));
        }
        if (req.get("application_name") instanceof String) {
            sb.applicationName((String) req.get("application_name"));
        }
        return sb.build();
    }

    /** The `headers` auth's provider: returns its headers (or fails) and counts its calls. */
    private HeadersProvider headersProvider(Map<String, Object> auth) {
        Map<String, String> headers = new LinkedHashMap<>();
        Object list = auth.get("headers");
        if (list instanceof List) {
            for (Object h : (List<?>) list) {
                List<?> pair = (List<?>) h;
                headers.put(String.valueOf(pair.get(0)), String.valueOf(pair.get(1)));
            }
        }
        Map<String, Object> fail = auth.get("fail") instanceof Map ? map(auth.get("fail")) : null;
        return () -> {
            headerCalls.incrementAndGet();
            if (fail != null) {
                throw new ZerobusException(code(str(fail, "code")), -1, false, str(fail, "message"));
            }
            return headers;
        };
    }

    private static <T> T join(CompletableFuture<T> future) throws ZerobusException {
        try {
            return future.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof ZerobusException) {
                throw (ZerobusException) e.getCause();
            }
            throw e;
        }
    }

    private Map<String, Object> tableSchema(Map<String, Object> req) throws ZerobusException {
        Map<String, Object> auth = map(req.get("auth"));
        TableSchema schema;
        try (ZerobusSdk s = newSdk(req)) {
            schema = join("headers".equals(auth.get("kind")) ? s.getTableSchema(str(req, "table"), headersProvider(auth))
                    : s.getTableSchema(str(req, "table"), str(auth, "client_id"), str(auth, "client_secret")));
        }
        List<Object> columns = new ArrayList<>();
        for (TableSchema.Column c : schema.getColumns()) {
            columns.add(obj("name", c.getName(), "type", c.getTypeText(), "nullable", c.isNullable(),
                    "position", c.getPosition()));
        }
        return obj("columns", columns, "descriptor_hex", hex(schema.getDescriptorProto()));
    }

    private Map<String, Object> create(Map<String, Object> req) throws ZerobusException {
        if (sdk != null) {
            sdk.close();
        }
        sdk = newSdk(req);
        Map<String, Object> o = map(req.get("options"));
        StreamConfigurationOptions.Builder b = StreamConfigurationOptions.builder();
        if (o.get("max_inflight_requests") instanceof Number) {
            b.setMaxInflightRequests(num(o, "max_inflight_requests", 0));
        }
        if (o.get("max_inflight_bytes") instanceof Number) {
            b.setMaxInflightBytes(num(o, "max_inflight_bytes", 0));
        }
        if (o.get("recovery") instanceof Boolean) {
            b.setRecovery((Boolean) o.get("recovery"));
        }
        if (o.get("recovery_timeout_ms") instanceof Number) {
            b.setRecoveryTimeoutMs(num(o, "recovery_timeout_ms", 0));
        }
        if (o.get("recovery_backoff_ms") instanceof Number) {
            b.setRecoveryBackoffMs(num(o, "recovery_backoff_ms", 0));
        }
        if (o.get("recovery_backoff_max_ms") instanceof Number) {
            b.setRecoveryBackoffMaxMs(num(o, "recovery_backoff_max_ms", 0));
        }
        if (o.get("server_lack_of_ack_timeout_ms") instanceof Number) {
            b.setServerLackOfAckTimeoutMs(num(o, "server_lack_of_ack_timeout_ms", 0));
        }
        if (o.get("flush_timeout_ms") instanceof Number) {
            b.setFlushTimeoutMs(num(o, "flush_timeout_ms", 0));
        }
        if (o.get("recovery_retries") instanceof Number) {
            b.setRecoveryRetries((int) num(o, "recovery_retries", 0));
        }
        if (o.get("stream_paused_max_wait_time_ms") instanceof Number) {
            b.setStreamPausedMaxWaitTimeMs(num(o, "stream_paused_max_wait_time_ms", 0));
        }
        if (o.get("callback_max_wait_time_ms") instanceof Number) {
            b.setCallbackMaxWaitTimeMs(num(o, "callback_max_wait_time_ms", 0));
        }
        if (Boolean.TRUE.equals(o.get("ack_callback"))) {
            b.setAckCallback(recorder());
        }
        StreamConfigurationOptions options = b.build();
        String table = str(req, "table");
        boolean proto = "proto".equals(req.get("record_type"));
        // A proto stream without descriptor_hex is created from the table (its schema read by the SDK).
        boolean fromTable = proto && !(req.get("descriptor_hex") instanceof String);
        byte[] descriptor = proto && !fromTable ? unhex(str(req, "descriptor_hex")) : null;
        Map<String, Object> auth = map(req.get("auth"));
        CompletableFuture<ZerobusStream> future;
        if ("headers".equals(auth.get("kind"))) {
            HeadersProvider provider = headersProvider(auth);
            future = fromTable ? sdk.createStreamFromTable(table, provider, options)
                    : proto ? sdk.createProtoStream(table, descriptor, provider, options)
                    : sdk.createJsonStream(table, provider, options);
        } else {
            String id = str(auth, "client_id");
            String secret = str(auth, "client_secret");
            future = fromTable ? sdk.createStreamFromTable(table, id, secret, options)
                    : proto ? sdk.createProtoStream(table, descriptor, id, secret, options)
                    : sdk.createJsonStream(table, id, secret, options);
        }
        stream = join(future);
        arrowLast = false;
        return obj();
    }

    /** Callbacks that record every ack and error, and count those after the `close` op returned. */
    private AckCallback recorder() {
        return new AckCallback() {
            @Override
            public void onAck(long offset) {
                note();
                synchronized (acks) {
                    acks.add(offset);
                }
            }

            @Override
            public void onError(long offset, String message) {
                note();
                synchronized (acks) {
                    errors.add(offset);
                }
            }

            private void note() {
                if (closeReturned.get()) {
                    late.incrementAndGet();
                }
            }
        };
    }

    private Map<String, Object> createArrow(Map<String, Object> req) throws ZerobusException {
        if (sdk != null) {
            sdk.close();
        }
        sdk = newSdk(req);
        Map<String, Object> o = map(req.get("options"));
        ArrowStreamConfigurationOptions.Builder b = ArrowStreamConfigurationOptions.builder();
        if (o.get("max_inflight_batches") instanceof Number) {
            b.setMaxInflightBatches(num(o, "max_inflight_batches", 0));
        }
        if (o.get("max_inflight_bytes") instanceof Number) {
            b.setMaxInflightBytes(num(o, "max_inflight_bytes", 0));
        }
        if (o.get("recovery") instanceof Boolean) {
            b.setRecovery((Boolean) o.get("recovery"));
        }
        if (o.get("recovery_timeout_ms") instanceof Number) {
            b.setRecoveryTimeoutMs(num(o, "recovery_timeout_ms", 0));
        }
        if (o.get("recovery_backoff_ms") instanceof Number) {
            b.setRecoveryBackoffMs(num(o, "recovery_backoff_ms", 0));
        }
        if (o.get("recovery_backoff_max_ms") instanceof Number) {
            b.setRecoveryBackoffMaxMs(num(o, "recovery_backoff_max_ms", 0));
        }
        if (o.get("recovery_retries") instanceof Number) {
            b.setRecoveryRetries((int) num(o, "recovery_retries", 0));
        }
        if (o.get("server_lack_of_ack_timeout_ms") instanceof Number) {
            b.setServerLackOfAckTimeoutMs(num(o, "server_lack_of_ack_timeout_ms", 0));
        }
        if (o.get("flush_timeout_ms") instanceof Number) {
            b.setFlushTimeoutMs(num(o, "flush_timeout_ms", 0));
        }
        if (o.get("connection_timeout_ms") instanceof Number) {
            b.setConnectionTimeoutMs(num(o, "connection_timeout_ms", 0));
        }
        if (o.get("stream_paused_max_wait_time_ms") instanceof Number) {
            b.setStreamPausedMaxWaitTimeMs(num(o, "stream_paused_max_wait_time_ms", 0));
        }
        if (o.get("callback_max_wait_time_ms") instanceof Number) {
            b.setCallbackMaxWaitTimeMs(num(o, "callback_max_wait_time_ms", 0));
        }
        if (o.get("ipc_compression") instanceof String) {
            String name = (String) o.get("ipc_compression");
            try {
                b.setIpcCompression(IpcCompression.valueOf(name.toUpperCase(java.util.Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw bad("ipc_compression \"" + name + "\" is none of none, lz4_frame, zstd");
            }
        }
        if (Boolean.TRUE.equals(o.get("ack_callback"))) {
            b.setAckCallback(recorder());
        }
        // No schema_hex: the schema comes from the table (a null schema).
        byte[] schema = req.get("schema_hex") instanceof String ? unhex(str(req, "schema_hex")) : null;
        String table = str(req, "table");
        Map<String, Object> auth = map(req.get("auth"));
        CompletableFuture<ZerobusArrowStream> future = "headers".equals(auth.get("kind"))
                ? sdk.createArrowStream(table, schema, headersProvider(auth), b.build())
                : sdk.createArrowStream(table, schema, str(auth, "client_id"), str(auth, "client_secret"), b.build());
        arrow = join(future);
        arrowLast = true;
        return obj();
    }

    /** `ipc`: the bytes to ingestIpc; `native`: decoded by Arrow Java, its one batch to ingestBatch(VectorSchemaRoot). */
    private Map<String, Object> ingestArrow(Map<String, Object> req) throws ZerobusException {
        ZerobusArrowStream s = arrow();
        byte[] ipc = unhex(str(req, "ipc_hex"));
        if (!"native".equals(req.get("form"))) {
            return obj("offset", s.ingestIpc(ipc));
        }
        if (allocator == null) {
            allocator = new RootAllocator();
        }
        try (ArrowStreamReader reader = new ArrowStreamReader(new ByteArrayInputStream(ipc), allocator)) {
            if (!reader.loadNextBatch()) {
                throw bad("the native form needs one record batch; the IPC stream has none");
            }
            return obj("offset", s.ingestBatch(reader.getVectorSchemaRoot()));
        } catch (IOException e) {
            throw bad("Arrow Java cannot read the IPC stream: " + e);
        }
    }

    private static ErrorCode code(String name) {
        try {
            return ErrorCode.valueOf(name);
        } catch (IllegalArgumentException e) {
            return ErrorCode.INTERNAL;
        }
    }

    /** `producers` threads at once on the one stream, producer k ingesting as `ingest` with seed + k. */
    private Map<String, Object> ingestConcurrent(Map<String, Object> req) throws ZerobusException {
        ZerobusStream s = stream();
        long seed = num(req, "seed", 1);
        int producers = (int) num(req, "producers", 1);
        List<CompletableFuture<List<Object>>> running = new ArrayList<>();
        for (int k = 0; k < producers; k++) {
            long mySeed = seed + k;
            CompletableFuture<List<Object>> f = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                try {
                    f.complete(produce(s, req, mySeed));
                } catch (Throwable e) {
                    f.completeExceptionally(e);
                }
            }, "producer-" + k);
            t.start();
            running.add(f);
        }
        List<Object> offsets = new ArrayList<>();
        ZerobusException first = null;
        for (CompletableFuture<List<Object>> f : running) {
            try {
                offsets.add(f.join());
            } catch (CompletionException e) {
                if (e.getCause() instanceof ZerobusException) {
                    first = first != null ? first : (ZerobusException) e.getCause();
                } else {
                    throw e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
        return obj("offsets", offsets);
    }

    /**
     * Ingests records start…start+count−1 of `seed` in calls of `batch`, as one producer: JSON
     * records as Strings (text), proto records as bytes. Returns the offsets (none in nowait mode).
     */
    private static List<Object> produce(ZerobusStream s, Map<String, Object> req, long seed) throws ZerobusException {
        long start = num(req, "start", 0);
        long count = num(req, "count", 0);
        int size = (int) num(req, "size", 100);
        long batch = Math.max(1, num(req, "batch", 1));
        String mode = req.get("mode") instanceof String ? (String) req.get("mode") : "offset";
        boolean proto = s.getRecordType() == RecordType.PROTO;
        List<Object> offsets = new ArrayList<>();
        for (long i = start; i < start + count; ) {
            long end = Math.min(i + batch, start + count);
            Optional<Long> offset;
            if (batch == 1) {
                if (proto) {
                    byte[] r = Records.proto(seed, i, size);
                    switch (mode) {
                        case "offset":
                            offset = Optional.of(s.ingestRecordOffset(r));
                            break;
                        case "try":
                            offset = Optional.of(s.tryIngestRecordOffset(r));
                            break;
                        default:
                            s.ingestRecordNowait(r);
                            offset = Optional.empty();
                    }
                } else {
                    String r = Records.json(seed, i, size);
                    switch (mode) {
                        case "offset":
                            offset = Optional.of(s.ingestRecordOffset(r));
                            break;
                        case "try":
                            offset = Optional.of(s.tryIngestRecordOffset(r));
                            break;
                        default:
                            s.ingestRecordNowait(r);
                            offset = Optional.empty();
                    }
                }
            } else {
                List<Object> records = new ArrayList<>();
                for (long k = i; k < end; k++) {
                    records.add(proto ? Records.proto(seed, k, size) : Records.json(seed, k, size));
                }
                switch (mode) {
                    case "offset":
                        offset = s.ingestRecordsOffset(records);
                        break;
                    case "try":
                        offset = s.tryIngestRecordsOffset(records);
                        break;
                    default:
                        s.ingestRecordsNowait(records);
                        offset = Optional.empty();
                }
            }
            if (!"nowait".equals(mode)) {
                offsets.add(offset.orElse(null));
            }
            i = end;
        }
        return offsets;
    }

    private Map<String, Object> ingestRaw(Map<String, Object> req) throws ZerobusException {
        ZerobusStream s = stream();
        List<Object> records = new ArrayList<>();
        Object list = req.get("records");
        Object kind = req.get("kind");
        if (list instanceof List) {
            for (Object r : (List<?>) list) {
                if ("proto".equals(kind)) {
                    records.add(unhex(String.valueOf(r)));
                } else if ("object".equals(kind)) {
                    // Native objects: each text parsed into a Map<String, Object> for the SDK's map calls.
                    Object parsed = Json.parse(String.valueOf(r));
                    if (!(parsed instanceof Map)) {
                        throw bad("object record " + r + " is not a JSON object");
                    }
                    records.add(parsed);
                } else {
                    records.add(String.valueOf(r));
                }
            }
        }
        List<Object> offsets = new ArrayList<>();
        if (Boolean.TRUE.equals(req.get("batch"))) {
            offsets.add(s.ingestRecordsOffset(records).orElse(null));
        } else {
            for (Object r : records) {
                if (r instanceof Map) {
                    offsets.add(s.ingestRecordOffset(map(r)));
                } else {
                    offsets.add(r instanceof String ? s.ingestRecordOffset((String) r) : s.ingestRecordOffset((byte[]) r));
                }
            }
        }
        return obj("offsets", offsets);
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return sb.toString();
    }

    static byte[] unhex(String s) throws ZerobusException {
        if (s.length() % 2 != 0) {
            throw bad("odd-length hex");
        }
        byte[] out = new byte[s.length() / 2];
        for (int k = 0; k < out.length; k++) {
            int hi = Character.digit(s.charAt(2 * k), 16);
            int lo = Character.digit(s.charAt(2 * k + 1), 16);
            if (hi < 0 || lo < 0) {
                throw bad("bad hex digit");
            }
            out[k] = (byte) (hi << 4 | lo);
        }
        return out;
    }

    private static Map<String, Object> errorJson(ZerobusException e) {
        return obj("code", e.getCode().name(), "grpc_status", e.getGrpcStatus() < 0 ? null : e.getGrpcStatus(),
                "retryable", e.isRetryable(), "message", String.valueOf(e.getMessage()));
    }

    public static void main(String[] args) throws Exception {
        Main testee = new Main();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, "UTF-8");
        // stdout carries only the protocol.
        System.setOut(System.err);
        String line;
        while ((line = in.readLine()) != null) {
            Map<String, Object> req;
            try {
                req = map(Json.parse(line));
            } catch (RuntimeException e) {
                System.err.println("testee-java: bad request line: " + e);
                continue;
            }
            if ("quit".equals(req.get("op"))) {
                break;
            }
            Map<String, Object> reply;
            try {
                reply = testee.handle(req);
                reply.put("ok", true);
            } catch (ZerobusException e) {
                reply = obj("ok", false, "error", errorJson(e));
            } catch (RuntimeException e) {
                System.err.println("testee-java: " + e);
                e.printStackTrace();
                reply = obj("ok", false, "error", obj("code", "INTERNAL", "grpc_status", null, "retryable", false,
                        "message", String.valueOf(e)));
            }
            reply.put("id", req.get("id"));
            out.println(Json.write(reply));
            out.flush();
            if (out.checkError()) {
                break;
            }
        }
        // Close explicitly so a stream left open by a case is shut down before the process exits.
        if (testee.stream != null) {
            try {
                testee.stream.close();
            } catch (ZerobusException e) {
                // reported by the case that failed the stream
            }
        }
        if (testee.arrow != null) {
            try {
                testee.arrow.close();
            } catch (ZerobusException e) {
                // reported by the case that failed the stream
            }
        }
        if (testee.sdk != null) {
            testee.sdk.close();
        }
        System.exit(0);
    }
}
