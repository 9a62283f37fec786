package zerobus

// Every exported method on a closed stream, a freed stream, a zero stream and a handle of the
// wrong type; many goroutines against a concurrent Close and free; bad inputs that must fail
// with a code, not crash or be cut short. Run under -race and GOEXPERIMENT=cgocheck2 (go.mk).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wantCode fails unless err is a *Error with code; it returns the error for more checks.
func wantCode(t *testing.T, what string, err error, code ErrorCode) *Error {
	t.Helper()
	var zerr *Error
	if !errors.As(err, &zerr) {
		t.Errorf("%s: got %v (%T), want a *zerobus.Error %v", what, err, err, code)
		return &Error{}
	}
	if zerr.Code() != code {
		t.Errorf("%s: got %v, want %v", what, err, code)
	}
	return zerr
}

// call is one exported method of ZerobusStream, as a closure returning its error.
type call struct {
	name   string
	ingest bool // an ingest call (a record or a batch, empty ones included)
	f      func(s *ZerobusStream) error
}

func offErr(_ int64, err error) error { return err }

// streamCalls is every exported method of ZerobusStream that can fail.
func streamCalls() []call {
	ctx := context.Background()
	rec := record(100)
	return []call{
		{"IngestRecordOffset(string)", true, func(s *ZerobusStream) error { return offErr(s.IngestRecordOffset(rec)) }},
		{"IngestRecordOffset([]byte)", true, func(s *ZerobusStream) error { return offErr(s.IngestRecordOffset([]byte(rec))) }},
		{"IngestRecordsOffset([]string)", true, func(s *ZerobusStream) error { return offErr(s.IngestRecordsOffset([]string{rec, rec})) }},
		{"IngestRecordsOffset([][]byte)", true, func(s *ZerobusStream) error { return offErr(s.IngestRecordsOffset([][]byte{[]byte(rec)})) }},
		{"IngestRecordsOffset([]any)", true, func(s *ZerobusStream) error { return offErr(s.IngestRecordsOffset([]any{rec, []byte(rec)})) }},
		{"IngestRecordsContiguousOffset", true, func(s *ZerobusStream) error {
			return offErr(s.IngestRecordsContiguousOffset([]byte(rec+rec), []int{len(rec), len(rec)}))
		}},
		{"IngestJSONRecordsContiguousOffset", true, func(s *ZerobusStream) error {
			return offErr(s.IngestJSONRecordsContiguousOffset([]byte(rec+rec), []int{len(rec), len(rec)}))
		}},
		{"TryIngestRecordOffset", true, func(s *ZerobusStream) error { return offErr(s.TryIngestRecordOffset(rec)) }},
		{"TryIngestRecordsOffset", true, func(s *ZerobusStream) error { return offErr(s.TryIngestRecordsOffset([]string{rec})) }},
		{"IngestRecordNowait", true, func(s *ZerobusStream) error { return s.IngestRecordNowait(rec) }},
		{"IngestRecordsNowait", true, func(s *ZerobusStream) error { return s.IngestRecordsNowait([][]byte{[]byte(rec)}) }},
		{"IngestRecordOffsetContext", true, func(s *ZerobusStream) error { return offErr(s.IngestRecordOffsetContext(ctx, rec)) }},
		{"IngestRecordsOffsetContext", true, func(s *ZerobusStream) error {
			return offErr(s.IngestRecordsOffsetContext(ctx, []string{rec}))
		}},
		{"IngestRecordsOffset(empty)", true, func(s *ZerobusStream) error { return offErr(s.IngestRecordsOffset([]string{})) }},
		{"WaitForOffset(0)", false, func(s *ZerobusStream) error { return s.WaitForOffset(0) }},
		{"WaitForOffsetContext(0)", false, func(s *ZerobusStream) error { return s.WaitForOffsetContext(ctx, 0) }},
		{"Flush", false, func(s *ZerobusStream) error { return s.Flush() }},
		{"FlushContext", false, func(s *ZerobusStream) error { return s.FlushContext(ctx) }},
		{"Close", false, func(s *ZerobusStream) error { return s.Close() }},
		{"CloseContext", false, func(s *ZerobusStream) error { return s.CloseContext(ctx) }},
		{"Metrics", false, func(s *ZerobusStream) error { _, err := s.Metrics(); return err }},
		{"GetUnackedBatches", false, func(s *ZerobusStream) error { _, err := s.GetUnackedBatches(); return err }},
		{"GetUnackedRecords", false, func(s *ZerobusStream) error { _, err := s.GetUnackedRecords(); return err }},
	}
}

func openJSONStream(t *testing.T, sdk *ZerobusSdk, srv server, opts *StreamConfigurationOptions) *ZerobusStream {
	t.Helper()
	if opts == nil {
		opts = jsonOptions()
	}
	stream, err := sdk.CreateStream(TableProperties{TableName: jsonTable}, srv.clientID, srv.clientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// After Close: ingest calls fail STREAM_CLOSED; the rest answer as documented (Close and Flush
// succeed again, an acked offset is acked, IsClosed, Metrics and GetUnacked* answer).
func TestClosedStreamEveryMethod(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	stream := openJSONStream(t, sdk, srv, nil)
	if off, err := stream.IngestRecordOffset(record(0)); err != nil || off != 0 {
		t.Fatalf("IngestRecordOffset = %d, %v", off, err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range streamCalls() {
		err := c.f(stream)
		switch {
		case c.ingest:
			if zerr := wantCode(t, c.name+" after Close", err, CodeStreamClosed); zerr.Retryable() {
				t.Errorf("%s after Close: STREAM_CLOSED is not retryable", c.name)
			}
		case err != nil:
			t.Errorf("%s after a clean Close: %v, want success", c.name, err)
		}
	}
	// An empty batch sends nothing, but on a closed stream it fails like any call.
	if off, err := stream.IngestRecordsOffset([][]byte{}); off != -1 {
		t.Errorf("empty batch after Close = %d; want -1", off)
	} else {
		wantCode(t, "empty batch after Close", err, CodeStreamClosed)
	}
	// An offset that was never handed out is a wrong argument, closed stream or not.
	zerr := wantCode(t, "WaitForOffset(never ingested) after Close", stream.WaitForOffset(1_000), CodeInvalidArgument)
	if !strings.Contains(zerr.Message(), "1000") {
		t.Errorf("WaitForOffset(1000) message: %q", zerr.Message())
	}
	if !stream.IsClosed() {
		t.Error("IsClosed after Close = false")
	}
	if m, err := stream.Metrics(); err != nil || m.LastAckedOffset != 0 || m.InflightRequests != 0 {
		t.Errorf("Metrics after Close = %+v, %v", m, err)
	}
	if bs, err := stream.GetUnackedBatches(); err != nil || len(bs) != 0 {
		t.Errorf("GetUnackedBatches after a clean Close = %v, %v", bs, err)
	}
	if stream.RecordType() != RecordTypeJson {
		t.Errorf("RecordType after Close = %v", stream.RecordType())
	}
}

// After the C stream is freed (what the cleanup does to an unreachable stream): every call is
// INVALID_ARGUMENT from the library's handle table, never a use after free.
func TestFreedStreamEveryMethod(t *testing.T) {
	srv := startServeUntilExit(t) // abandons an open stream
	sdk := newSdk(t, srv)
	for _, closeFirst := range []bool{true, false} {
		stream := openJSONStream(t, sdk, srv, nil)
		if err := stream.IngestRecordNowait(record(0)); err != nil {
			t.Fatal(err)
		}
		if closeFirst {
			if err := stream.Close(); err != nil {
				t.Fatal(err)
			}
		}
		freeStreamNow(stream)
		freeStreamNow(stream) // a second free is a no-op
		what := fmt.Sprintf("(closed first: %v) after free", closeFirst)
		for _, c := range streamCalls() {
			zerr := wantCode(t, c.name+" "+what, c.f(stream), CodeInvalidArgument)
			if zerr.Retryable() || zerr.Message() == "" {
				t.Errorf("%s %s: %v (want a message, not retryable)", c.name, what, zerr)
			}
		}
		if stream.IsClosed() {
			t.Errorf("IsClosed %s = true; the C ABI answers false for a handle that is not live", what)
		}
		if id := stream.StreamID(); id != "" {
			t.Errorf("StreamID %s = %q, want \"\"", what, id)
		}
		_, err := stream.TableSchema()
		wantCode(t, "TableSchema "+what, err, CodeInvalidArgument)
		if stream.RecordType() != RecordTypeJson {
			t.Errorf("RecordType %s = %v", what, stream.RecordType())
		}
	}
}

// A zero ZerobusStream, a nil *ZerobusStream and a handle of another type: INVALID_ARGUMENT.
func TestInvalidStreamHandles(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	for name, stream := range map[string]*ZerobusStream{
		"zero ZerobusStream":      {},
		"nil *ZerobusStream":      nil,
		"an SDK handle as stream": streamOverSdkHandle(sdk),
	} {
		for _, c := range streamCalls() {
			wantCode(t, c.name+" on "+name, c.f(stream), CodeInvalidArgument)
		}
		if stream.IsClosed() {
			t.Errorf("IsClosed on %s = true", name)
		}
		if id := stream.StreamID(); id != "" {
			t.Errorf("StreamID on %s = %q", name, id)
		}
		_, err := stream.TableSchema()
		wantCode(t, "TableSchema on "+name, err, CodeInvalidArgument)
	}
	if (*ZerobusStream)(nil).RecordType() != RecordTypeUnspecified {
		t.Error("RecordType of a nil stream")
	}
	// The SDK handle was only read, never used as a stream: the SDK still works.
	openJSONStream(t, sdk, srv, nil).Close()
}

// A freed, nil or zero SDK: every method fails INVALID_ARGUMENT (or is a no-op), never panics.
func TestFreedSdkEveryMethod(t *testing.T) {
	srv := startServe(t)
	freed, err := NewZerobusSdk(srv.endpoint, srv.workspaceURL)
	if err != nil {
		t.Fatal(err)
	}
	freed.Free()
	freed.Free() // idempotent
	ctx := context.Background()
	h := &headers{values: map[string]string{}}
	table := TableProperties{TableName: jsonTable}
	for name, sdk := range map[string]*ZerobusSdk{"freed SDK": freed, "nil *ZerobusSdk": nil, "zero ZerobusSdk": {}} {
		sdk.Free()
		_, err := sdk.CreateStream(table, srv.clientID, srv.clientSecret, jsonOptions())
		wantCode(t, "CreateStream on "+name, err, CodeInvalidArgument)
		_, err = sdk.CreateStreamContext(ctx, table, srv.clientID, srv.clientSecret, jsonOptions())
		wantCode(t, "CreateStreamContext on "+name, err, CodeInvalidArgument)
		_, err = sdk.CreateStreamWithHeadersProvider(table, h, jsonOptions())
		wantCode(t, "CreateStreamWithHeadersProvider on "+name, err, CodeInvalidArgument)
		_, err = sdk.CreateStreamWithHeadersProviderContext(ctx, table, h, jsonOptions())
		wantCode(t, "CreateStreamWithHeadersProviderContext on "+name, err, CodeInvalidArgument)
		_, err = sdk.GetTableSchema(jsonTable, srv.clientID, srv.clientSecret)
		wantCode(t, "GetTableSchema on "+name, err, CodeInvalidArgument)
		_, err = sdk.GetTableSchemaContext(ctx, jsonTable, srv.clientID, srv.clientSecret)
		wantCode(t, "GetTableSchemaContext on "+name, err, CodeInvalidArgument)
		_, err = sdk.GetTableSchemaWithHeadersProvider(jsonTable, h)
		wantCode(t, "GetTableSchemaWithHeadersProvider on "+name, err, CodeInvalidArgument)
		_, err = sdk.GetTableSchemaWithHeadersProviderContext(ctx, jsonTable, h)
		wantCode(t, "GetTableSchemaWithHeadersProviderContext on "+name, err, CodeInvalidArgument)
	}
	if h.calls != 0 {
		t.Errorf("the provider was asked %d times by a dead SDK", h.calls)
	}
	waitForHandles(t, 0) // the provider handles went back even though no stream was made
}

// allowed reports whether err is nil or a *Error with one of codes.
func allowed(err error, codes ...ErrorCode) bool {
	if err == nil {
		return true
	}
	var zerr *Error
	if !errors.As(err, &zerr) {
		return false
	}
	for _, c := range codes {
		if zerr.Code() == c {
			return true
		}
	}
	return false
}

// Many goroutines call every method while another closes the stream and then frees it (or
// frees it without closing): every call returns a value or a clean error.
func TestConcurrentCallsAgainstCloseAndFree(t *testing.T) {
	srv := startServeUntilExit(t) // abandons an open stream
	sdk := newSdk(t, srv)
	for _, closeFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("close_first=%v", closeFirst), func(t *testing.T) {
			opts := jsonOptions()
			opts.MaxInflightRequests = 64 // some calls block and some try calls find the queue full
			stream := openJSONStream(t, sdk, srv, opts)
			calls := streamCalls()
			var freed atomic.Bool
			var done atomic.Bool
			var wg sync.WaitGroup
			var ok, failed atomic.Int64
			for g := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; !done.Load(); i++ {
						c := calls[i%len(calls)]
						if c.name == "Close" || c.name == "CloseContext" {
							continue // the closer goroutine closes
						}
						after := freed.Load()
						err := c.f(stream)
						if !allowed(err, CodeStreamClosed, CodeInvalidArgument, CodeQueueFull) {
							t.Errorf("%s: %v (%T)", c.name, err, err)
						}
						if after && c.ingest {
							wantCode(t, c.name+" after free", err, CodeInvalidArgument)
						}
						if err == nil {
							ok.Add(1)
						} else {
							failed.Add(1)
						}
						stream.IsClosed()
						_ = stream.RecordType()
					}
				}()
			}
			time.Sleep(100 * time.Millisecond)
			if closeFirst {
				if err := stream.Close(); err != nil {
					t.Errorf("Close while ingesting: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			freeStreamNow(stream)
			freed.Store(true)
			time.Sleep(100 * time.Millisecond)
			done.Store(true)
			wg.Wait()
			t.Logf("%d calls succeeded, %d failed cleanly", ok.Load(), failed.Load())
			if ok.Load() == 0 || failed.Load() == 0 {
				t.Errorf("%d calls succeeded and %d failed; want both", ok.Load(), failed.Load())
			}
		})
	}
}

// Goroutines create streams while another frees the SDK: each gets a stream (which stays usable)
// or INVALID_ARGUMENT, and once the SDK is freed every goroutine ends on INVALID_ARGUMENT.
func TestConcurrentCreateAgainstSdkFree(t *testing.T) {
	srv := startServe(t)
	sdk, err := NewZerobusSdk(srv.endpoint, srv.workspaceURL)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var opened, refused atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				s, err := sdk.CreateStream(TableProperties{TableName: jsonTable}, srv.clientID, srv.clientSecret, jsonOptions())
				if err != nil {
					wantCode(t, "CreateStream racing Free", err, CodeInvalidArgument)
					refused.Add(1)
					return
				}
				opened.Add(1)
				if _, err := s.IngestRecordOffset(record(1)); err != nil {
					t.Errorf("a stream of a freed SDK must stay usable: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	sdk.Free()
	wg.Wait()
	t.Logf("%d streams opened, %d creations refused", opened.Load(), refused.Load())
	if refused.Load() != 8 {
		t.Errorf("%d goroutines saw the SDK freed, want 8", refused.Load())
	}
}

// A string is JSON text: on a PROTO stream every string call fails INVALID_RECORD (that call
// only) and nothing goes out as proto bytes; []byte is read as proto and carries on.
func TestStringOnProtoStreamIsInvalidRecord(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	opts := DefaultStreamConfigurationOptions()
	opts.FlushTimeoutMs = 20_000
	stream, err := sdk.CreateStream(TableProperties{TableName: "main.default.proto_table", DescriptorProto: testDescriptor()},
		srv.clientID, srv.clientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	ctx := context.Background()
	rec := []byte{0x08, 0x07, 0x10, 0x01, 0x1a, 0x02, 'h', 'i'}
	text := `{"seed":7,"seq":1,"pad":"hi"}`
	for name, f := range map[string]func() error{
		"IngestRecordOffset(string)":        func() error { return offErr(stream.IngestRecordOffset(text)) },
		"TryIngestRecordOffset(string)":     func() error { return offErr(stream.TryIngestRecordOffset(text)) },
		"IngestRecordNowait(string)":        func() error { return stream.IngestRecordNowait(text) },
		"IngestRecordOffsetContext(string)": func() error { return offErr(stream.IngestRecordOffsetContext(ctx, text)) },
		"IngestRecordsOffset([]string)":     func() error { return offErr(stream.IngestRecordsOffset([]string{text, text})) },
		"TryIngestRecordsOffset([]string)":  func() error { return offErr(stream.TryIngestRecordsOffset([]string{text})) },
		"IngestRecordsNowait([]string)":     func() error { return stream.IngestRecordsNowait([]string{text}) },
		"IngestRecordsOffsetContext([]string)": func() error {
			return offErr(stream.IngestRecordsOffsetContext(ctx, []string{text}))
		},
		"IngestRecordsOffset([]any{proto, string})": func() error { return offErr(stream.IngestRecordsOffset([]any{rec, text})) },
	} {
		zerr := wantCode(t, name, f(), CodeInvalidRecord)
		if zerr.Retryable() || !strings.Contains(zerr.Message(), "PROTO") {
			t.Errorf("%s: %v (want not retryable, naming the PROTO stream)", name, zerr)
		}
	}
	if off, err := stream.IngestRecordOffset(rec); err != nil || off != 0 {
		t.Fatalf("proto bytes after the rejected strings: %d, %v (want offset 0)", off, err)
	}
	if off, err := stream.IngestRecordsOffset([]any{rec, rec}); err != nil || off != 1 {
		t.Fatalf("an []any of proto bytes: %d, %v (want offset 1)", off, err)
	}
	if err := stream.Flush(); err != nil {
		t.Fatal(err)
	}
	m, err := stream.Metrics()
	if err != nil || m.LastAckedOffset != 1 || m.RecordsSent != 3 {
		t.Errorf("metrics %+v, %v: want offsets 0-1 acked and 3 records sent (no text)", m, err)
	}
	if stream.IsClosed() {
		t.Error("a rejected record closed the stream")
	}
}

// captureStderr runs f with os.Stderr redirected and returns what the binding wrote there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	defer func() {
		os.Stderr = saved
		w.Close()
	}()
	f()
	os.Stderr = saved
	w.Close()
	return <-out
}

// failing is a headers provider that fails (or panics) on every call.
type failing struct {
	calls atomic.Int64
	err   error
	panic any
}

func (f *failing) GetHeaders() (map[string]string, error) {
	f.calls.Add(1)
	if f.panic != nil {
		panic(f.panic)
	}
	return nil, f.err
}

// nulHeaders returns a header whose value holds a NUL byte.
type nulHeaders struct{ calls atomic.Int64 }

func (n *nulHeaders) GetHeaders() (map[string]string, error) {
	n.calls.Add(1)
	return map[string]string{"authorization": "Bearer secret-token\x00tail", "x-databricks-zerobus-table-name": jsonTable}, nil
}

// A provider's error crosses the C ABI as its code and message; nothing goes to stderr.
func TestHeadersProviderFailures(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	opts := jsonOptions()
	opts.RecoveryRetries = 3
	opts.RecoveryBackoffMs = 10
	opts.RecoveryBackoffMaxMs = 20
	type tc struct {
		name      string
		provider  HeadersProvider
		calls     func() int64
		code      ErrorCode
		retryable bool
		attempts  int64
		includes  []string
		excludes  []string
	}
	fail := func(err error, p any) (*failing, func() int64) {
		f := &failing{err: err, panic: p}
		return f, f.calls.Load
	}
	var cases []tc
	add := func(name string, err error, p any, code ErrorCode, retryable bool, attempts int64, includes ...string) {
		f, calls := fail(err, p)
		cases = append(cases, tc{name, f, calls, code, retryable, attempts, includes, nil})
	}
	add("*Error UNAUTHENTICATED", NewError(CodeUnauthenticated, "no credentials in the vault"), nil,
		CodeUnauthenticated, false, 1, "no credentials in the vault", "headers provider")
	add("*Error UNAVAILABLE", NewError(CodeUnavailable, "vault unreachable"), nil,
		CodeUnavailable, true, 3, "vault unreachable")
	add("wrapped *Error", fmt.Errorf("vault lookup: %w", NewError(CodePermissionDenied, "not allowed")), nil,
		CodePermissionDenied, false, 1, "vault lookup", "not allowed")
	add("plain error", errors.New("dial vault: connection refused"), nil,
		CodeUnavailable, true, 3, "dial vault: connection refused")
	add("*Error with CodeOK", NewError(CodeOK, "says ok but fails"), nil,
		CodeUnavailable, true, 3, "says ok but fails")
	add("*Error with an unknown code", NewError(ErrorCode(99), "odd code"), nil,
		CodeUnavailable, true, 3, "odd code")
	add("nil *Error", (*Error)(nil), nil, CodeUnavailable, true, 3, "nil *zerobus.Error")
	add("invalid UTF-8 message", NewError(CodeUnauthenticated, "bad \xff bytes\x00 and NUL"), nil,
		CodeUnauthenticated, false, 1, "bad \uFFFD bytes  and NUL")
	add("panic", nil, "provider exploded", CodeInternal, false, 1, "panicked", "provider exploded")
	nul := &nulHeaders{}
	cases = append(cases, tc{"a NUL byte in a header value", nul, nul.calls.Load, CodeInvalidArgument, false, 1,
		[]string{`"authorization"`, "NUL"}, []string{"secret-token"}})
	for _, c := range cases {
		var err error
		stderr := captureStderr(t, func() {
			_, err = sdk.CreateStreamWithHeadersProvider(TableProperties{TableName: jsonTable}, c.provider, opts)
		})
		zerr := wantCode(t, c.name, err, c.code)
		if zerr.Retryable() != c.retryable {
			t.Errorf("%s: retryable %v, want %v (%v)", c.name, zerr.Retryable(), c.retryable, err)
		}
		if _, ok := zerr.GRPCStatus(); ok {
			t.Errorf("%s: a gRPC status on a provider failure: %v", c.name, err)
		}
		for _, s := range c.includes {
			if !strings.Contains(zerr.Message(), s) {
				t.Errorf("%s: message %q lacks %q", c.name, zerr.Message(), s)
			}
		}
		for _, s := range c.excludes {
			if strings.Contains(zerr.Message(), s) {
				t.Errorf("%s: message %q shows %q", c.name, zerr.Message(), s)
			}
		}
		if n := c.calls(); n != c.attempts {
			t.Errorf("%s: provider asked %d times, want %d", c.name, n, c.attempts)
		}
		if stderr != "" {
			t.Errorf("%s: the binding wrote to stderr: %q", c.name, stderr)
		}
	}
	waitForHandles(t, 0)
}

// Strings a C string cannot carry fail INVALID_ARGUMENT instead of being cut at the NUL; bad
// SDK options fail at NewZerobusSdk.
func TestBadStringsAndSdkOptions(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	_, err := NewZerobusSdk(srv.endpoint+"\x00/other", srv.workspaceURL)
	wantCode(t, "endpoint with a NUL", err, CodeInvalidArgument)
	_, err = NewZerobusSdk(srv.endpoint, srv.workspaceURL+"\x00")
	wantCode(t, "workspace URL with a NUL", err, CodeInvalidArgument)
	_, err = NewZerobusSdk(srv.endpoint, srv.workspaceURL, WithApplicationName("app\x00"))
	wantCode(t, "application name with a NUL", err, CodeInvalidArgument)
	_, err = NewZerobusSdk(srv.endpoint, srv.workspaceURL, WithCACertificatePEM([]byte("not a certificate")))
	zerr := wantCode(t, "CA PEM that is no certificate", err, CodeInvalidArgument)
	if !strings.Contains(zerr.Message(), "CA certificate") {
		t.Errorf("bad CA PEM message: %q", zerr.Message())
	}
	_, err = NewZerobusSdk(srv.endpoint, srv.workspaceURL, WithCACertificatePEM(nil))
	zerr = wantCode(t, "empty CA PEM", err, CodeInvalidArgument)
	if !strings.Contains(zerr.Message(), "no CERTIFICATE") {
		t.Errorf("empty CA PEM message: %q", zerr.Message())
	}
	if s, err := NewZerobusSdk(srv.endpoint, srv.workspaceURL, nil, WithApplicationName("tests")); err != nil {
		t.Errorf("a nil option and an application name: %v", err)
	} else {
		s.Free()
	}
	_, err = sdk.CreateStream(TableProperties{TableName: jsonTable + "\x00.evil"}, srv.clientID, srv.clientSecret, jsonOptions())
	zerr = wantCode(t, "table name with a NUL", err, CodeInvalidArgument)
	if !strings.Contains(zerr.Message(), "table name") {
		t.Errorf("table name message: %q", zerr.Message())
	}
	_, err = sdk.CreateStream(TableProperties{TableName: jsonTable}, srv.clientID, srv.clientSecret+"\x00x", jsonOptions())
	zerr = wantCode(t, "client secret with a NUL", err, CodeInvalidArgument)
	if strings.Contains(zerr.Message(), srv.clientSecret) {
		t.Errorf("the secret leaked into the message: %q", zerr.Message())
	}
	waitForHandles(t, 0)
}

// Options reach the library unchecked; the library's range check names option, value, range.
func TestOptionsCheckedByTheLibrary(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	for _, c := range []struct {
		name     string
		set      func(o *StreamConfigurationOptions)
		includes []string
	}{
		{"RecoveryBackoffMaxMs below RecoveryBackoffMs", func(o *StreamConfigurationOptions) {
			o.RecoveryBackoffMs, o.RecoveryBackoffMaxMs = 500, 100
		}, []string{"recovery_backoff_max_ms", "100", "recovery_backoff_ms", "500"}},
		{"FlushTimeoutMs 0", func(o *StreamConfigurationOptions) { o.FlushTimeoutMs = 0 },
			[]string{"flush_timeout_ms", "0"}},
		{"RecoveryRetries over the limit", func(o *StreamConfigurationOptions) { o.RecoveryRetries = 1 << 30 },
			[]string{"recovery_retries", "1073741824"}},
		{"RecoveryBackoffMaxMs past the range", func(o *StreamConfigurationOptions) { o.RecoveryBackoffMaxMs = 1 << 63 },
			[]string{"recovery_backoff_max_ms", "a negative number?"}},
	} {
		o := jsonOptions()
		c.set(o)
		_, err := sdk.CreateStream(TableProperties{TableName: jsonTable}, srv.clientID, srv.clientSecret, o)
		zerr := wantCode(t, c.name, err, CodeInvalidArgument)
		for _, s := range c.includes {
			if !strings.Contains(zerr.Message(), s) {
				t.Errorf("%s: message %q lacks %q", c.name, zerr.Message(), s)
			}
		}
	}
	// In range: the stream opens with the cap passed through.
	o := jsonOptions()
	o.RecoveryBackoffMs, o.RecoveryBackoffMaxMs = 100, 100
	openJSONStream(t, sdk, srv, o).Close()
}

// The SDK's application name and CA options do not get in the way of a plaintext stream.
func TestSdkOptionsOpenAStream(t *testing.T) {
	srv := startServe(t)
	sdk, err := NewZerobusSdk(srv.endpoint, srv.workspaceURL, WithApplicationName("go-tests"))
	if err != nil {
		t.Fatal(err)
	}
	defer sdk.Free()
	s := openJSONStream(t, sdk, srv, nil)
	if _, err := s.IngestRecordOffset(record(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A server that goes away while abandoned (freed, not closed) streams are being torn down makes
// a library thread write to a closed socket. The library blocks SIGPIPE on its own threads, so
// that write fails with EPIPE instead of the kernel's SIGPIPE killing the Go process (the Go
// runtime has no handler for SIGPIPE on a thread it did not create). This test died with
// "signal: broken pipe" in about half its runs before that fix.
func TestServerGoneWhileStreamsAbandoned(t *testing.T) {
	rec := `{"pad":"` + strings.Repeat("x", 200_000) + `"}`
	for range 10 {
		srv, cmd, _ := spawnServe(t)
		sdk, err := NewZerobusSdk(srv.endpoint, srv.workspaceURL)
		if err != nil {
			t.Fatal(err)
		}
		var streams []*ZerobusStream
		for range 8 {
			s := openJSONStream(t, sdk, srv, nil)
			for range 20 {
				_ = s.IngestRecordNowait(rec)
			}
			streams = append(streams, s)
		}
		for _, s := range streams {
			freeStreamNow(s)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		sdk.Free()
		time.Sleep(50 * time.Millisecond)
	}
}
