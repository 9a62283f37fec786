package zerobus

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Arrow tests drive `zerobus serve` with a table of declared columns. Their batches are the
// IPC streams in testdata/ (see testdata/README.md): this binding takes no Arrow library, and
// neither do its tests.
const (
	carsTable = "main.default.cars"
	carsDef   = "main.default.cars(name STRING NOT NULL, seats INT)"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestArrowStreamIngestsIPC(t *testing.T) {
	srv := startServe(t, "--table", carsDef)
	sdk := newSdk(t, srv)
	var mu sync.Mutex
	var acks []int64
	opts := DefaultArrowStreamOptions()
	opts.IpcCompression = "lz4_frame"
	opts.FlushTimeoutMs = 20_000
	opts.AckCallback = func(o int64) {
		mu.Lock()
		acks = append(acks, o)
		mu.Unlock()
	}
	opts.ErrorCallback = func(o int64, msg string) { t.Errorf("error callback %d: %s", o, msg) }
	ctx := context.Background()
	stream, err := sdk.CreateArrowStream(ctx, carsTable, fixture(t, "cars_schema.arrows"), srv.clientID, srv.clientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()

	// Two batches in one IPC stream: one call, one offset.
	if off, err := stream.IngestIPC(ctx, fixture(t, "cars_0_3.arrows")); err != nil || off != 0 {
		t.Fatalf("IngestIPC = %d, %v", off, err)
	}
	// A cancellable context takes the background path on a private copy.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ipc := fixture(t, "cars_3_5.arrows")
	off, err := stream.IngestIPC(cctx, ipc)
	if err != nil || off != 1 {
		t.Fatalf("IngestIPC with a deadline = %d, %v", off, err)
	}
	clear(ipc) // ours again at once
	if err := stream.WaitForOffset(cctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := stream.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := stream.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m.LastAckedOffset != 1 || m.RecordsSent != 5 || m.InflightRequests != 0 || m.InflightRecords != 0 {
		t.Errorf("metrics %+v, want offset 1 acked, 5 rows sent, nothing in flight", m)
	}
	// Nothing unacked: the schema alone, which a stream takes as its schema.
	unacked, err := stream.GetUnackedIPC()
	if err != nil || len(unacked) == 0 {
		t.Fatalf("GetUnackedIPC = %d bytes, %v", len(unacked), err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stream.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !stream.IsClosed() {
		t.Error("IsClosed after Close")
	}
	var zerr *Error
	if _, err := stream.IngestIPC(ctx, fixture(t, "cars_3_5.arrows")); !errors.As(err, &zerr) || zerr.Code() != CodeStreamClosed {
		t.Errorf("IngestIPC after Close: %v, want STREAM_CLOSED", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acks) != 2 || acks[0] != 0 || acks[1] != 1 {
		t.Errorf("acks %v, want [0 1]", acks)
	}

	// The same table from its schema (no schemaIPC), with a headers provider.
	provider := &staticHeaders{table: carsTable}
	fromTable, err := sdk.CreateArrowStreamWithHeadersProvider(ctx, carsTable, nil, provider, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fromTable.Close()
	if off, err := fromTable.IngestIPC(ctx, fixture(t, "cars_0_3.arrows")); err != nil || off != 0 {
		t.Fatalf("IngestIPC on a stream from the table = %d, %v", off, err)
	}
	if err := fromTable.Close(); err != nil {
		t.Fatal(err)
	}
}

// IngestIPCNoCopy sends from the caller's bytes and lets go of them (unpins) once they are acked,
// or at once when the call fails.
func TestArrowStreamIngestsIPCWithoutACopy(t *testing.T) {
	srv := startServe(t, "--table", carsDef)
	sdk := newSdk(t, srv)
	ctx := context.Background()
	stream, err := sdk.CreateArrowStream(ctx, carsTable, nil, srv.clientID, srv.clientSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	before := liveHandles.Load()
	if off, err := stream.IngestIPCNoCopy(ctx, fixture(t, "cars_0_3.arrows")); err != nil || off != 0 {
		t.Fatalf("IngestIPCNoCopy = %d, %v", off, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if off, err := stream.IngestIPCNoCopy(cctx, fixture(t, "cars_3_5.arrows")); err != nil || off != 1 {
		t.Fatalf("IngestIPCNoCopy with a deadline = %d, %v", off, err)
	}
	// A call that fails has let go of its bytes when it returns.
	if _, err := stream.IngestIPCNoCopy(ctx, fixture(t, "cars_wrong_seats.arrows")); !errors.Is(err, CodeInvalidRecord) {
		t.Errorf("wrong schema: %v", err)
	}
	if err := stream.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Acked: both handles come back (the release may trail the ack by a moment).
	deadline := time.Now().Add(10 * time.Second)
	for liveHandles.Load() != before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := liveHandles.Load(); got != before {
		t.Errorf("%d handles still held after the acks, want %d", got, before)
	}
	m, err := stream.Metrics()
	if err != nil || m.RecordsSent != 5 || m.LastAckedOffset != 1 {
		t.Errorf("metrics %+v, %v: want 5 rows sent, offset 1 acked", m, err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
}

// staticHeaders hands out the mock's static token for one table.
type staticHeaders struct{ table string }

func (h *staticHeaders) GetHeaders() (map[string]string, error) {
	return map[string]string{
		"authorization":                   "Bearer zerobus-dev-static-token",
		"x-databricks-zerobus-table-name": h.table,
	}, nil
}

func TestArrowStreamBadInput(t *testing.T) {
	srv := startServe(t, "--table", carsDef)
	sdk := newSdk(t, srv)
	ctx := context.Background()
	stream, err := sdk.CreateArrowStream(ctx, carsTable, nil, srv.clientID, srv.clientSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()

	// The wrong column type: INVALID_RECORD naming the column, nothing queued.
	_, err = stream.IngestIPC(ctx, fixture(t, "cars_wrong_seats.arrows"))
	if !errors.Is(err, CodeInvalidRecord) || !strings.Contains(err.Error(), "column seats: expected Int32, got Int64") {
		t.Errorf("wrong schema: %v", err)
	}
	if _, err := stream.IngestIPC(ctx, []byte("not arrow")); !errors.Is(err, CodeInvalidRecord) {
		t.Errorf("not IPC: %v", err)
	}
	if _, err := stream.IngestIPC(ctx, nil); !errors.Is(err, CodeInvalidRecord) {
		t.Errorf("no bytes: %v", err)
	}
	// The stream carries on: the first good call still gets offset 0.
	if off, err := stream.IngestIPC(ctx, fixture(t, "cars_3_5.arrows")); err != nil || off != 0 {
		t.Fatalf("IngestIPC after the failures = %d, %v", off, err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}

	// Creation failures: a schema that is not IPC, one the server refuses, a bad option, a
	// cancelled context, a nil provider, a zero stream.
	if _, err := sdk.CreateArrowStream(ctx, carsTable, []byte("xx"), srv.clientID, srv.clientSecret, nil); !errors.Is(err, CodeInvalidArgument) ||
		!strings.Contains(err.Error(), "not an Arrow IPC stream") {
		t.Errorf("a schema that is not IPC: %v", err)
	}
	if _, err := sdk.CreateArrowStream(ctx, carsTable, fixture(t, "cars_wrong_seats.arrows"), srv.clientID, srv.clientSecret, nil); !errors.Is(err, CodeInvalidArgument) ||
		!strings.Contains(err.Error(), "seats") {
		t.Errorf("a schema the table refuses: %v", err)
	}
	opts := DefaultArrowStreamOptions()
	opts.IpcCompression = "brotli"
	if _, err := sdk.CreateArrowStream(ctx, carsTable, nil, srv.clientID, srv.clientSecret, opts); !errors.Is(err, CodeInvalidArgument) ||
		!strings.Contains(err.Error(), "ipc_compression") {
		t.Errorf("an unknown compression: %v", err)
	}
	opts = DefaultArrowStreamOptions()
	opts.ConnectionTimeoutMs = 0 // from the defaults, a zero is passed on (and refused)
	if _, err := sdk.CreateArrowStream(ctx, carsTable, nil, srv.clientID, srv.clientSecret, opts); !errors.Is(err, CodeInvalidArgument) ||
		!strings.Contains(err.Error(), "connection_timeout_ms") {
		t.Errorf("connection_timeout_ms 0: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sdk.CreateArrowStream(cancelled, carsTable, nil, srv.clientID, srv.clientSecret, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v", err)
	}
	if _, err := sdk.CreateArrowStreamWithHeadersProvider(ctx, carsTable, nil, nil, nil); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("a nil provider: %v", err)
	}
	var zero ArrowStream
	if _, err := zero.IngestIPC(ctx, fixture(t, "cars_3_5.arrows")); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("a zero ArrowStream: %v", err)
	}
	if zero.IsClosed() {
		t.Error("a zero ArrowStream is not closed")
	}
}

func TestArrowStreamUnackedAfterTerminalFailure(t *testing.T) {
	// A server that stores batches but never acknowledges them, then goes away.
	srv, cmd, stdin := spawnServe(t, "--table", carsDef, "--withhold-acks")
	sdk := newSdk(t, srv)
	ctx := context.Background()
	var mu sync.Mutex
	var failed []int64
	opts := DefaultArrowStreamOptions()
	opts.Recovery = false
	opts.ErrorCallback = func(o int64, _ string) {
		mu.Lock()
		failed = append(failed, o)
		mu.Unlock()
	}
	stream, err := sdk.CreateArrowStream(ctx, carsTable, fixture(t, "cars_schema.arrows"), srv.clientID, srv.clientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	for i, f := range []string{"cars_0_3.arrows", "cars_3_5.arrows"} {
		if off, err := stream.IngestIPC(ctx, fixture(t, f)); err != nil || off != int64(i) {
			t.Fatalf("IngestIPC %s = %d, %v", f, off, err)
		}
	}
	stdin.Close()
	_ = cmd.Wait()
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = stream.WaitForOffset(waitCtx, 1)
	var zerr *Error
	if !errors.As(err, &zerr) || zerr.Code() != CodeUnavailable {
		t.Fatalf("WaitForOffset after the server went: %v, want UNAVAILABLE", err)
	}
	if !stream.IsClosed() {
		t.Error("a failed stream is closed")
	}
	unacked, err := stream.GetUnackedIPC()
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Close() // reports the failure again
	mu.Lock()
	if len(failed) != 2 {
		t.Errorf("error callbacks for %v, want offsets 0 and 1", failed)
	}
	mu.Unlock()

	// Every row comes back, as one IPC stream a new stream takes as it is (and as its schema).
	next := startServe(t, "--table", carsDef)
	sdk2 := newSdk(t, next)
	again, err := sdk2.CreateArrowStream(ctx, carsTable, unacked, next.clientID, next.clientSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if off, err := again.IngestIPC(ctx, unacked); err != nil || off != 0 {
		t.Fatalf("re-ingesting the unacked IPC = %d, %v", off, err)
	}
	if err := again.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := again.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m.RecordsSent != 5 || m.LastAckedOffset != 0 {
		t.Errorf("metrics %+v, want the 5 unacked rows sent and acked under offset 0", m)
	}
}
