package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Streams created from a table's schema, and the schema itself, against `zerobus serve --table`. */
class FromTableIntegrationTest {
    static final String TABLE = "main.default.readings";
    static final String DEFINITION = TABLE + "(id BIGINT NOT NULL, name STRING, temp DOUBLE, at TIMESTAMP, day DATE, "
            + "raw BINARY, price DECIMAL(10,2), tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>, "
            + "attrs MAP<STRING, INT>, ok BOOLEAN)";
    static Serve srv;

    @BeforeAll
    static void start() throws Exception {
        srv = Serve.start("--table", DEFINITION);
    }

    @AfterAll
    static void stop() throws Exception {
        if (srv != null) {
            srv.close();
        }
    }

    static ZerobusException failure(Runnable r) {
        CompletionException e = assertThrows(CompletionException.class, r::run);
        return (ZerobusException) e.getCause();
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void getTableSchemaReadsColumnsAndDerivesTheDescriptor() throws Exception {
        try (ZerobusSdk sdk = srv.sdk()) {
            TableSchema schema = sdk.getTableSchema(TABLE, srv.clientId(), srv.clientSecret()).join();
            assertEquals(TABLE, schema.getFullName());
            assertEquals(Arrays.asList("id bigint not null", "name string", "temp double", "at timestamp", "day date",
                    "raw binary", "price decimal(10,2)", "tags array<string>", "loc struct<lat:double,lon:double>",
                    "attrs map<string,int>", "ok boolean"),
                    schema.getColumns().stream().map(Object::toString).collect(Collectors.toList()));
            for (int i = 0; i < schema.getColumns().size(); i++) {
                assertEquals(i, schema.getColumns().get(i).getPosition());
            }
            assertFalse(schema.getColumn("ID").get().isNullable());
            assertEquals(Optional.empty(), schema.getColumn("nope"));
            DescriptorProto d = DescriptorProto.parseFrom(schema.getDescriptorProto());
            assertEquals(11, d.getFieldCount());
            assertEquals(FieldDescriptorProto.Label.LABEL_REQUIRED, d.getField(0).getLabel());
            assertEquals(FieldDescriptorProto.Label.LABEL_REPEATED, d.getField(7).getLabel());
            assertTrue(schema.getProtoFile().contains("required int64 id = 1;"), schema.getProtoFile());
            assertTrue(schema.getUcJson().contains("\"full_name\":\"" + TABLE + "\""), schema.getUcJson());

            assertEquals(ErrorCode.NOT_FOUND,
                    failure(() -> sdk.getTableSchema("main.default.missing", srv.clientId(), srv.clientSecret()).join())
                            .getCode());
            assertEquals(ErrorCode.UNAUTHENTICATED,
                    failure(() -> sdk.getTableSchema(TABLE, srv.clientId(), "wrong").join()).getCode());
            assertEquals(ErrorCode.INVALID_ARGUMENT,
                    failure(() -> sdk.getTableSchema("no-dots", srv.clientId(), srv.clientSecret()).join()).getCode());
            // With a headers provider, its authorization header is the credential.
            assertEquals(ErrorCode.UNAUTHENTICATED, failure(() -> sdk.getTableSchema(TABLE,
                    () -> Map.of("authorization", "Bearer not-a-token")).join()).getCode());
            ZerobusException e = failure(() -> sdk.getTableSchema(TABLE, () -> Map.of("x-other", "1")).join());
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.getCode());
            assertTrue(e.getMessage().contains("authorization"), e.getMessage());
        }
    }

    @Test
    void aStreamFromTheTableTakesJsonTextAndMaps() throws Exception {
        try (ZerobusSdk sdk = srv.sdk();
                ZerobusStream s = sdk.createStreamFromTable(TABLE, srv.clientId(), srv.clientSecret()).join()) {
            assertEquals(RecordType.PROTO, s.getRecordType());
            assertEquals(11, s.getTableSchema().get().getColumns().size());
            assertFalse(s.getStreamId().isEmpty());
            assertEquals(0L, s.ingestRecordOffset("{\"id\": 1, \"name\": \"a\", \"tags\": [\"x\"]}"));
            assertEquals(Optional.of(1L), s.ingestRecordsOffset(List.of("{\"id\": 2}", "{\"id\": 3, \"ok\": true}")));
            Map<String, Object> full = map("id", 4L, "name", "b", "temp", 21.5, "at", Instant.parse("2024-05-01T12:30:00Z"),
                    "day", LocalDate.of(2024, 5, 1), "raw", new byte[] {1, 2, 3}, "price", new BigDecimal("9.99"),
                    "tags", List.of("p", "q"), "loc", map("lat", 52.5, "lon", 13.4), "attrs", Map.of("n", 1),
                    "ok", false);
            assertEquals(2L, s.ingestRecordOffset(full));
            assertEquals(Optional.of(3L), s.ingestRecordsOffset(List.of(map("id", 5), map("id", 6, "name", null))));
            s.ingestRecordNowait(map("id", 7));
            s.ingestRecordsNowait(List.of(map("id", 8)));
            assertEquals(6L, s.tryIngestRecordOffset(map("id", 9)));
            assertEquals(Optional.of(7L), s.tryIngestRecordsOffset(List.of(map("id", 10))));
            assertEquals(Optional.empty(), s.ingestRecordsOffset(new ArrayList<Map<String, Object>>()));

            // A record that does not fit its columns fails its call only, naming the column.
            ZerobusException e = assertThrows(ZerobusException.class,
                    () -> s.ingestRecordOffset(map("id", 11, "loc", map("lat", "north"))));
            assertEquals(ErrorCode.INVALID_RECORD, e.getCode());
            assertTrue(e.getMessage().contains("loc.lat"), e.getMessage());
            e = assertThrows(ZerobusException.class,
                    () -> s.ingestRecordsOffset(List.of(map("id", 12), map("name", "no id"))));
            assertTrue(e.getMessage().contains("record 1 of the batch"), e.getMessage());
            e = assertThrows(ZerobusException.class,
                    () -> s.ingestRecordsOffset(List.of(map("id", 13), map("id", new Object()))));
            assertTrue(e.getMessage().startsWith("record 1 of the batch: `id`: a java.lang.Object"), e.getMessage());
            e = assertThrows(ZerobusException.class, () -> s.ingestRecordOffset("{\"id\": 1, \"nope\": 2}"));
            assertTrue(e.getMessage().contains("nope"), e.getMessage());
            // Proto bytes still pass as they are.
            assertEquals(8L, s.ingestRecordOffset(new byte[] {8, 14}));
            s.flush();
            assertEquals(8L, s.getMetrics().lastAckedOffset());
            assertEquals(11L, s.getMetrics().recordsSent());
        }
    }

    @Test
    void mapsAreEncodedAsTheirJsonTextWouldBe() throws Exception {
        // Acks withheld: the encoded records stay readable with getUnackedRecords().
        try (Serve withheld = Serve.start("--table", DEFINITION, "--withhold-acks"); ZerobusSdk sdk = withheld.sdk()) {
            ZerobusStream s = sdk.createProtoStream(TABLE, (byte[]) null, withheld.clientId(), withheld.clientSecret())
                    .join();
            assertTrue(s.getTableSchema().isPresent(), "a null descriptor is from the table too");
            s.ingestRecordOffset(map("id", 7L, "name", "a"));
            Map<String, Object> attrs = new HashMap<>();
            attrs.put("k", 3);
            s.ingestRecordOffset(map("id", 1, "at", Instant.parse("2024-05-01T12:30:00.5Z"), "day", LocalDate.of(1970, 1, 2),
                    "raw", new byte[] {-1}, "price", new BigDecimal("1.5"), "tags", List.of("x"), "loc", map("lat", 1.0),
                    "attrs", attrs));
            s.ingestRecordOffset("{\"id\":1,\"at\":\"2024-05-01T12:30:00.500Z\",\"day\":1,\"raw\":\"/w==\",\"price\":\"1.50\","
                    + "\"tags\":[\"x\"],\"loc\":{\"lat\":1.0},\"attrs\":{\"k\":3}}");
            List<byte[]> records = s.getUnackedRecords();
            assertEquals(3, records.size());
            assertArrayEquals(new byte[] {8, 7, 18, 1, 'a'}, records.get(0));
            assertArrayEquals(records.get(2), records.get(1));
            s.free(); // nothing will be acked: drop the stream (and its connection) instead of closing
        }
    }

    @Test
    void aDescriptorStreamHasNoSchemaAndRefusesMaps() throws Exception {
        try (ZerobusSdk sdk = srv.sdk();
                ZerobusStream s = sdk.createProtoStream("main.default.proto_table", ProtoIntegrationTest.descriptor(),
                        srv.clientId(), srv.clientSecret(), StreamConfigurationOptions.getDefault()).join()) {
            assertFalse(s.getTableSchema().isPresent());
            ZerobusException e = assertThrows(ZerobusException.class, () -> s.ingestRecordOffset(map("id", 1)));
            assertEquals(ErrorCode.INVALID_RECORD, e.getCode());
        }
        // Maps on a JSON stream are JSON records.
        try (ZerobusSdk sdk = srv.sdk();
                ZerobusStream s = sdk.createJsonStream("main.default.json_table", srv.clientId(), srv.clientSecret())
                        .join()) {
            assertEquals(Optional.of(0L), s.ingestRecordsOffset(List.of(map("a", 1), map("b", List.of(true)))));
            s.flush();
            assertEquals(0L, s.getMetrics().lastAckedOffset());
        }
    }

    @Test
    void anUnknownTableFailsTheCreation() {
        try (ZerobusSdk sdk = srv.sdk()) {
            ZerobusException e = failure(
                    () -> sdk.createStreamFromTable("main.default.missing", srv.clientId(), srv.clientSecret()).join());
            assertEquals(ErrorCode.NOT_FOUND, e.getCode());
        } catch (ZerobusException e) {
            throw new AssertionError(e);
        }
    }
}
