package zerobus

// Table schemas and streams created from their table, against `zerobus serve --table`.

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const (
	airTable = "main.default.air_quality"
	airDef   = airTable + "(device_name STRING NOT NULL, temp INT, humidity BIGINT, at TIMESTAMP, " +
		"tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)"
	nestedTable = "main.default.nested"
	oddTable    = "main.default.odd"
)

// startTablesServe is `zerobus serve` declaring the three tables these tests use.
func startTablesServe(t *testing.T) server {
	t.Helper()
	return startServe(t, "--table", airDef, "--table", nestedTable+"(id INT, m ARRAY<ARRAY<INT>>)",
		"--table", oddTable+"(id INT, `my col` STRING)")
}

var airColumns = []Column{
	{Name: "device_name", Type: "string", Nullable: false, Position: 0},
	{Name: "temp", Type: "int", Nullable: true, Position: 1},
	{Name: "humidity", Type: "bigint", Nullable: true, Position: 2},
	{Name: "at", Type: "timestamp", Nullable: true, Position: 3},
	{Name: "tags", Type: "array<string>", Nullable: true, Position: 4},
	{Name: "loc", Type: "struct<lat:double,lon:double>", Nullable: true, Position: 5},
}

// wantMessage fails unless err is a *Error with code whose message holds every fragment.
func wantMessage(t *testing.T, what string, err error, code ErrorCode, fragments ...string) {
	t.Helper()
	zerr := wantCode(t, what, err, code)
	for _, f := range fragments {
		if !strings.Contains(zerr.Message(), f) {
			t.Errorf("%s: message %q does not say %q", what, zerr.Message(), f)
		}
	}
}

func checkAirSchema(t *testing.T, what string, s *TableSchema) {
	t.Helper()
	if !reflect.DeepEqual(s.Columns, airColumns) {
		t.Errorf("%s: columns %+v, want %+v", what, s.Columns, airColumns)
	}
	d, err := s.DescriptorProto()
	if err != nil {
		t.Fatalf("%s: DescriptorProto: %v", what, err)
	}
	// A DescriptorProto starts with its name (field 1), the table's name.
	if len(d) < 20 || d[0] != 0x0a || d[1] != 11 || string(d[2:13]) != "air_quality" {
		t.Errorf("%s: descriptor % x", what, d)
	}
	d[0] = 0 // the caller's own copy
	if again, _ := s.DescriptorProto(); again[0] != 0x0a {
		t.Errorf("%s: DescriptorProto handed out the schema's own bytes", what)
	}
}

func TestGetTableSchema(t *testing.T) {
	srv := startTablesServe(t)
	sdk := newSdk(t, srv)
	ctx := context.Background()

	s, err := sdk.GetTableSchema(airTable, srv.clientID, srv.clientSecret)
	if err != nil {
		t.Fatal(err)
	}
	checkAirSchema(t, "GetTableSchema", s)
	proto, err := s.ProtoFile()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`syntax = "proto2";`, "message air_quality {", "required string device_name = 1;",
		"repeated string tags = 5;"} {
		if !strings.Contains(proto, want) {
			t.Errorf("ProtoFile does not hold %q:\n%s", want, proto)
		}
	}
	if !strings.Contains(s.JSON(), `"full_name":"main.default.air_quality"`) {
		t.Errorf("JSON %s", s.JSON())
	}
	if s, err := sdk.GetTableSchemaContext(ctx, airTable, srv.clientID, srv.clientSecret); err != nil {
		t.Error(err)
	} else {
		checkAirSchema(t, "GetTableSchemaContext", s)
	}

	// The headers provider's authorization header reads it too; its handle goes back.
	h := &headers{values: map[string]string{
		"authorization":                   "Bearer " + fetchToken(t, srv, airTable),
		"x-databricks-zerobus-table-name": airTable,
	}}
	if s, err := sdk.GetTableSchemaWithHeadersProvider(airTable, h); err != nil {
		t.Error(err)
	} else {
		checkAirSchema(t, "GetTableSchemaWithHeadersProvider", s)
	}
	if s, err := sdk.GetTableSchemaWithHeadersProviderContext(ctx, airTable, h); err != nil {
		t.Error(err)
	} else {
		checkAirSchema(t, "GetTableSchemaWithHeadersProviderContext", s)
	}
	waitForHandles(t, 0)

	// Failures.
	_, err = sdk.GetTableSchema("main.default.events", srv.clientID, srv.clientSecret)
	wantMessage(t, "a table without declared columns", err, CodeNotFound, "main.default.events", "404")
	if !errors.Is(err, CodeNotFound) {
		t.Errorf("errors.Is(%v, CodeNotFound) = false", err)
	}
	_, err = sdk.GetTableSchema(airTable, srv.clientID, "wrong")
	wantCode(t, "a wrong secret", err, CodeUnauthenticated)
	_, err = sdk.GetTableSchemaWithHeadersProvider(airTable, &headers{values: map[string]string{}})
	wantMessage(t, "a provider without authorization", err, CodeInvalidArgument, "authorization")
	_, err = sdk.GetTableSchemaWithHeadersProvider(airTable, nil)
	wantCode(t, "a nil provider", err, CodeInvalidArgument)
	_, err = sdk.GetTableSchemaWithHeadersProvider(airTable, &failing{err: NewError(CodeUnauthenticated, "no credentials")})
	wantMessage(t, "a failing provider", err, CodeUnauthenticated, "no credentials")
	_, err = sdk.GetTableSchema("main.default\x00x", srv.clientID, srv.clientSecret)
	wantCode(t, "a NUL in the table name", err, CodeInvalidArgument)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sdk.GetTableSchemaContext(cancelled, airTable, srv.clientID, srv.clientSecret); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v", err)
	}
	waitForHandles(t, 0)

	// No proto2 form: read and described, but no descriptor and no .proto.
	s, err = sdk.GetTableSchema(nestedTable, srv.clientID, srv.clientSecret)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Columns) != 2 || s.Columns[1].Type != "array<array<int>>" {
		t.Errorf("nested columns %+v", s.Columns)
	}
	_, err = s.DescriptorProto()
	wantMessage(t, "DescriptorProto of a nested array", err, CodeInvalidArgument, "column m", "no proto2 form")
	_, err = s.ProtoFile()
	wantCode(t, "ProtoFile of a nested array", err, CodeInvalidArgument)

	// A column name that is not a proto identifier: a descriptor, no .proto spelling.
	s, err = sdk.GetTableSchema(oddTable, srv.clientID, srv.clientSecret)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := s.DescriptorProto(); err != nil || len(d) == 0 {
		t.Errorf("DescriptorProto of %s: %d bytes, %v", oddTable, len(d), err)
	}
	_, err = s.ProtoFile()
	wantMessage(t, "ProtoFile with `my col`", err, CodeInvalidArgument, `"my col"`, "not a proto identifier")

	// A nil schema answers too.
	var none *TableSchema
	if _, err := none.DescriptorProto(); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("nil DescriptorProto: %v", err)
	}
	if _, err := none.ProtoFile(); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("nil ProtoFile: %v", err)
	}
	if none.JSON() != "" {
		t.Error("nil JSON")
	}
}

func TestStreamFromTable(t *testing.T) {
	srv := startTablesServe(t)
	sdk := newSdk(t, srv)
	opts := DefaultStreamConfigurationOptions() // RecordType: Proto
	opts.ErrorCallback = func(o int64, msg string) { t.Errorf("error callback %d: %s", o, msg) }
	stream, err := sdk.CreateStream(TableProperties{TableName: airTable}, srv.clientID, srv.clientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if stream.RecordType() != RecordTypeProto {
		t.Errorf("RecordType %v", stream.RecordType())
	}
	if stream.StreamID() == "" {
		t.Error("StreamID is empty")
	}
	if s, err := stream.TableSchema(); err != nil {
		t.Error(err)
	} else {
		checkAirSchema(t, "stream.TableSchema", s)
	}

	// JSON text through every form, encoded by the table's columns.
	steps := []struct {
		name string
		f    func() (int64, error)
		want int64
	}{
		{"IngestRecordOffset(string)", func() (int64, error) {
			return stream.IngestRecordOffset(`{"device_name":"sensor-1","temp":21,"at":"2026-01-02T03:04:05Z","tags":["a"],"loc":{"lat":52.5,"lon":13.4}}`)
		}, 0},
		{"IngestRecordsOffset([]string)", func() (int64, error) {
			return stream.IngestRecordsOffset([]string{`{"device_name":"sensor-2"}`, `{"device_name":"sensor-3","humidity":"9007199254740993"}`})
		}, 1},
		{"IngestRecordsOffset([]any)", func() (int64, error) {
			return stream.IngestRecordsOffset([]any{`{"device_name":"sensor-4"}`, []byte(`{"device_name":"sensor-5","at":1700000000000000}`)})
		}, 2},
		{"TryIngestRecordOffset", func() (int64, error) { return stream.TryIngestRecordOffset(`{"device_name":"sensor-6"}`) }, 3},
		{"IngestRecordNowait", func() (int64, error) { return 4, stream.IngestRecordNowait(`{"device_name":"sensor-7"}`) }, 4},
		{"IngestJSONRecordsContiguousOffset", func() (int64, error) {
			a, b := `{"device_name":"sensor-8"}`, `{"device_name":"sensor-9","temp":-1}`
			return stream.IngestJSONRecordsContiguousOffset([]byte(a+b), []int{len(a), len(b)})
		}, 5},
		{"IngestRecordOffsetContext", func() (int64, error) {
			return stream.IngestRecordOffsetContext(context.Background(), `{"device_name":"sensor-10"}`)
		}, 6},
		// Bytes are still encoded proto messages: {device_name: "p"}.
		{"IngestRecordOffset([]byte)", func() (int64, error) { return stream.IngestRecordOffset([]byte{0x0a, 0x01, 'p'}) }, 7},
	}
	for _, s := range steps {
		if off, err := s.f(); err != nil || off != s.want {
			t.Fatalf("%s = %d, %v; want %d", s.name, off, err, s.want)
		}
	}

	// Typed errors name the record and the column; nothing of the call is queued.
	_, err = stream.IngestRecordsOffset([]string{`{"device_name":"x"}`, `{"device_name":"y","loc":{"lat":"north"}}`})
	wantMessage(t, "a bad record in a batch", err, CodeInvalidRecord,
		"record 1 of the batch", airTable, `loc.lat: expected DOUBLE, got string "north"`)
	_, err = stream.IngestRecordOffset(`{"temp":1}`)
	wantMessage(t, "a missing NOT NULL column", err, CodeInvalidRecord, "device_name")
	_, err = stream.IngestJSONRecordsContiguousOffset([]byte(`{"device_name":"z","color":1}`), []int{29})
	wantMessage(t, "an unknown key", err, CodeInvalidRecord, "record 0 of the batch", "color")
	if off, err := stream.IngestRecordOffset(`{"device_name":"after the errors"}`); err != nil || off != 8 {
		t.Fatalf("after the errors: %d, %v; want 8", off, err)
	}
	if err := stream.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Metrics(); err != nil || m.LastAckedOffset != 8 || m.RecordsSent != 12 {
		t.Errorf("metrics %+v, %v", m, err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}

	// From a headers provider: its authorization header reads the schema.
	h := &headers{values: map[string]string{
		"authorization":                   "Bearer " + fetchToken(t, srv, airTable),
		"x-databricks-zerobus-table-name": airTable,
	}}
	ps, err := sdk.CreateStreamWithHeadersProvider(TableProperties{TableName: airTable}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if off, err := ps.IngestRecordOffset(`{"device_name":"from a provider"}`); err != nil || off != 0 {
		t.Errorf("provider stream: %d, %v", off, err)
	}
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}

	// Tables a stream cannot be made from.
	_, err = sdk.CreateStream(TableProperties{TableName: "main.default.events"}, srv.clientID, srv.clientSecret, nil)
	wantMessage(t, "from a table without declared columns", err, CodeNotFound, "404")
	_, err = sdk.CreateStream(TableProperties{TableName: nestedTable}, srv.clientID, srv.clientSecret, nil)
	wantMessage(t, "from a table with no proto2 form", err, CodeInvalidArgument, "column m")

	// A JSON stream was not made from its table.
	js := openJSONStream(t, sdk, srv, nil)
	defer js.Close()
	_, err = js.TableSchema()
	wantMessage(t, "TableSchema of a JSON stream", err, CodeInvalidArgument, "not created from its table")
	if js.StreamID() == "" || js.StreamID() == stream.StreamID() {
		t.Errorf("stream ids %q and %q", js.StreamID(), stream.StreamID())
	}
}
