package zerobus

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a `zerobus serve` process for one test.
type server struct {
	endpoint, workspaceURL, clientID, clientSecret string
}

// startServe runs the repository's `zerobus serve` for one test, stopped when the test ends, with
// extra arguments (e.g. "--table", a definition). A missing binary fails the test: the
// integration tests are part of `make test`, which builds it.
func startServe(t *testing.T, args ...string) server {
	t.Helper()
	s, cmd, stdin := spawnServe(t, args...)
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return s
}

var untilExit struct {
	once  sync.Once
	srv   server
	cmd   *exec.Cmd      // kept reachable: a collected pipe would be closed, stopping the server
	stdin io.WriteCloser // closed by the process exit
}

// startServeUntilExit is one `zerobus serve` shared by the tests that abandon open streams
// (freed without Close). It is never stopped by a test: it exits when the test process does
// (its stdin closes), so tests that abandon streams never race a server shutdown; that race has
// its own test (TestServerGoneWhileStreamsAbandoned).
func startServeUntilExit(t *testing.T) server {
	t.Helper()
	untilExit.once.Do(func() { untilExit.srv, untilExit.cmd, untilExit.stdin = spawnServe(t) })
	if untilExit.srv.endpoint == "" {
		t.Fatal("the shared zerobus serve did not start")
	}
	return untilExit.srv
}

// spawnServe starts `zerobus serve --exit-on-stdin-close args...` and reads the settings it
// prints.
func spawnServe(t *testing.T, args ...string) (server, *exec.Cmd, io.WriteCloser) {
	t.Helper()
	bin, _ := filepath.Abs("../target/debug/zerobus")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the zerobus CLI is missing at %s: build it with `cargo build -p zerobus-cli` (make go-test does): %v", bin, err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--exit-on-stdin-close"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	env := map[string]string{}
	lines := bufio.NewScanner(stdout)
	for len(env) < 4 && lines.Scan() {
		if k, v, ok := strings.Cut(lines.Text(), "="); ok && strings.HasPrefix(k, "ZEROBUS_") {
			env[k] = v
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	s := server{env["ZEROBUS_ENDPOINT"], env["ZEROBUS_WORKSPACE_URL"], env["ZEROBUS_CLIENT_ID"], env["ZEROBUS_CLIENT_SECRET"]}
	if s.endpoint == "" || s.workspaceURL == "" || s.clientID == "" || s.clientSecret == "" {
		_ = cmd.Process.Kill()
		t.Fatalf("zerobus serve did not print its settings: %v", env)
	}
	return s, cmd, stdin
}

const jsonTable = "main.default.json_table"

func jsonOptions() *StreamConfigurationOptions {
	o := DefaultStreamConfigurationOptions()
	o.RecordType = RecordTypeJson
	o.FlushTimeoutMs = 20_000
	return o
}

func record(i int) string { return fmt.Sprintf(`{"n":%d,"text":"record %d"}`, i, i) }

func newSdk(t *testing.T, srv server) *ZerobusSdk {
	t.Helper()
	sdk, err := NewZerobusSdk(srv.endpoint, srv.workspaceURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sdk.Free)
	return sdk
}

func TestIngestEndToEnd(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	var mu sync.Mutex
	var acks []int64
	opts := jsonOptions()
	opts.AckCallback = func(o int64) {
		mu.Lock()
		acks = append(acks, o)
		mu.Unlock()
	}
	opts.ErrorCallback = func(o int64, msg string) { t.Errorf("error callback %d: %s", o, msg) }
	stream, err := sdk.CreateStream(TableProperties{TableName: jsonTable}, srv.clientID, srv.clientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()

	if off, err := stream.IngestRecordOffset(record(0)); err != nil || off != 0 {
		t.Fatalf("IngestRecordOffset = %d, %v", off, err)
	}
	if off, err := stream.IngestRecordsOffset([][]byte{[]byte(record(1)), []byte(record(2))}); err != nil || off != 1 {
		t.Fatalf("IngestRecordsOffset = %d, %v", off, err)
	}
	if off, err := stream.IngestRecordsOffset([]string{}); err != nil || off != -1 {
		t.Fatalf("empty batch = %d, %v", off, err)
	}
	if err := stream.IngestRecordNowait([]byte(record(3))); err != nil {
		t.Fatal(err)
	}
	if err := stream.IngestRecordsNowait([]any{record(4), []byte(record(5))}); err != nil {
		t.Fatal(err)
	}
	if off, err := stream.IngestRecordOffsetContext(context.Background(), record(6)); err != nil || off != 4 {
		t.Fatalf("IngestRecordOffsetContext = %d, %v", off, err)
	}
	if off, err := stream.TryIngestRecordsOffset([]string{record(7)}); err != nil || off != 5 {
		t.Fatalf("TryIngestRecordsOffset = %d, %v", off, err)
	}
	if err := stream.WaitForOffset(1); err != nil {
		t.Fatal(err)
	}
	if err := stream.FlushContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := stream.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m.LastAckedOffset != 5 || m.InflightRequests != 0 || m.RecordsSent < 8 {
		t.Errorf("metrics %+v", m)
	}
	if _, err := stream.IngestRecordOffset("[1, 2]"); !errors.Is(err, CodeInvalidRecord) {
		t.Errorf("a JSON array: %v, want INVALID_RECORD", err)
	}
	packed := record(10) + record(11)
	if off, err := stream.IngestRecordsContiguousOffset([]byte(packed), []int{len(record(10)), len(record(11))}); err != nil || off != 6 {
		t.Fatalf("IngestRecordsContiguousOffset = %d, %v", off, err)
	}
	if _, err := stream.IngestRecordsContiguousOffset([]byte(packed), []int{len(packed) + 1, -1}); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("a negative length: %v, want INVALID_ARGUMENT", err)
	}
	if _, err := stream.IngestRecordsContiguousOffset([]byte(packed), []int{1}); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("lengths that do not add up: %v, want INVALID_ARGUMENT", err)
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
	_, err = stream.IngestRecordOffset(record(8))
	var zerr *Error
	if !errors.As(err, &zerr) || zerr.Code() != CodeStreamClosed || zerr.Retryable() {
		t.Errorf("ingest after close: %v", err)
	}
	if rs, err := stream.GetUnackedRecords(); err != nil || len(rs) != 0 {
		t.Errorf("unacked after a clean close: %d, %v", len(rs), err)
	}
	if bs, err := stream.GetUnackedBatches(); err != nil || len(bs) != 0 {
		t.Errorf("unacked batches after a clean close: %d, %v", len(bs), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acks) == 0 || acks[len(acks)-1] != 6 {
		t.Errorf("acks %v, want increasing up to 6", acks)
	}
	for i := 1; i < len(acks); i++ {
		if acks[i] <= acks[i-1] {
			t.Errorf("acks out of order: %v", acks)
		}
	}
}

// The descriptor of `message R { int64 seed = 1; int64 seq = 2; string pad = 3; }`, hand-encoded.
func testDescriptor() []byte {
	field := func(name string, number, label, typ byte) []byte {
		b := append([]byte{0x0a, byte(len(name))}, name...)
		return append(b, 0x18, number, 0x20, label, 0x28, typ)
	}
	d := append([]byte{0x0a, 1}, 'R')
	for _, f := range [][]byte{field("seed", 1, 1, 3), field("seq", 2, 1, 3), field("pad", 3, 1, 9)} {
		d = append(d, 0x12, byte(len(f)))
		d = append(d, f...)
	}
	return d
}

func TestProtoStream(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	stream, err := sdk.CreateStream(TableProperties{TableName: "main.default.proto_table", DescriptorProto: testDescriptor()},
		srv.clientID, srv.clientSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	rec := []byte{0x08, 0x07, 0x10, 0x01, 0x1a, 0x02, 'h', 'i'}
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = rec
	}
	if off, err := stream.IngestRecordsOffset(batch); err != nil || off != 0 {
		t.Fatalf("proto batch: %d, %v", off, err)
	}
	if err := stream.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := stream.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestContextCancellation(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	opts := jsonOptions()
	opts.FlushTimeoutMs = 2_000
	stream, err := sdk.CreateStream(TableProperties{TableName: jsonTable}, srv.clientID, srv.clientSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := stream.IngestRecordOffsetContext(cancelled, record(0)); !errors.Is(err, context.Canceled) {
		t.Errorf("ingest with a cancelled context: %v", err)
	}
	if _, err := stream.IngestRecordsOffsetContext(cancelled, []string{record(0)}); !errors.Is(err, context.Canceled) {
		t.Errorf("batch ingest with a cancelled context: %v", err)
	}
	if err := stream.FlushContext(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("flush with a cancelled context: %v", err)
	}
	if _, err := sdk.CreateStreamContext(cancelled, TableProperties{TableName: jsonTable}, srv.clientID,
		srv.clientSecret, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("create with a cancelled context: %v", err)
	}
	// Waiting for an offset that will never come: the deadline wins over the 2 s flush timeout.
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	err = stream.WaitForOffsetContext(short, 1_000)
	if time.Since(start) > time.Second {
		t.Errorf("WaitForOffsetContext ignored its deadline (%v)", time.Since(start))
	}
	if err == nil {
		t.Error("waiting for an offset never ingested succeeded")
	}
	if off, err := stream.IngestRecordsOffsetContext(context.Background(), []string{record(1), record(2)}); err != nil || off != 0 {
		t.Errorf("batch ingest with a live context: %d, %v", off, err)
	}
	if err := stream.CloseContext(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// headers fetches a token the way core does and serves it as static headers.
type headers struct {
	mu     sync.Mutex
	calls  int
	values map[string]string
	panics bool
}

func (h *headers) GetHeaders() (map[string]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.panics {
		panic("provider panic (expected by the test)")
	}
	return h.values, nil
}

func fetchToken(t *testing.T, srv server, table string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.workspaceURL+"/oidc/v1/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"all-apis"},
			"authorization_details": {`[{"type":"unity_catalog_privileges","privileges":["SELECT","MODIFY"],` +
				`"object_type":"TABLE","object_full_path":"` + table + `","operations":["zerobuswrite"]}]`}}.Encode()))
	req.SetBasicAuth(srv.clientID, srv.clientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token endpoint: %v %v", resp.Status, err)
	}
	return body.AccessToken
}

// waitForHandles collects garbage until the library released every callback handle.
func waitForHandles(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for liveHandles.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("live callback handles %d, want %d", liveHandles.Load(), want)
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHeadersProviderAndHandleLifetimes(t *testing.T) {
	srv := startServe(t)
	sdk := newSdk(t, srv)
	waitForHandles(t, 0) // streams of earlier tests are unreachable by now: let their cleanups run
	const before = 0
	h := &headers{values: map[string]string{
		"authorization":                   "Bearer " + fetchToken(t, srv, jsonTable),
		"x-databricks-zerobus-table-name": jsonTable,
	}}
	func() {
		opts := jsonOptions()
		opts.AckCallback = func(int64) { panic("ack callback panic (expected by the test)") }
		stream, err := sdk.CreateStreamWithHeadersProvider(TableProperties{TableName: jsonTable}, h, opts)
		if err != nil {
			t.Fatal(err)
		}
		if liveHandles.Load() != before+2 {
			t.Errorf("live handles %d, want %d (provider + callbacks)", liveHandles.Load(), before+2)
		}
		if _, err := stream.IngestRecordOffset(record(0)); err != nil {
			t.Fatal(err)
		}
		if err := stream.Flush(); err != nil {
			t.Fatalf("a panicking callback must not break the stream: %v", err)
		}
		if err := stream.Close(); err != nil {
			t.Fatal(err)
		}
		// The stream is dropped here; its cleanup frees it and the library releases the handles.
	}()
	waitForHandles(t, before)
	h.mu.Lock()
	if h.calls != 1 {
		t.Errorf("provider called %d times, want 1", h.calls)
	}
	h.mu.Unlock()

	// A stream dropped without Close is closed by the safety net.
	func() {
		stream, err := sdk.CreateStreamWithHeadersProvider(TableProperties{TableName: jsonTable}, h, jsonOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.IngestRecordNowait(record(1)); err != nil {
			t.Fatal(err)
		}
	}()
	waitForHandles(t, before)

	// A provider that panics fails the connection attempts, not the process; its handle is released.
	opts := jsonOptions()
	opts.RecoveryRetries = 1
	opts.RecoveryBackoffMs = 10
	bad := &headers{panics: true}
	if _, err := sdk.CreateStreamWithHeadersProvider(TableProperties{TableName: jsonTable}, bad, opts); err == nil {
		t.Fatal("a panicking headers provider opened a stream")
	}
	waitForHandles(t, before)
}
