// Command conformance-testee is the Go testee of the conformance runner (see
// conformance/TESTEE.md): one request per stdin line, one response per stdout line, no logic
// beyond mapping requests to public API calls of the Go binding.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	zerobus "github.com/databricks/zerobus-sdk-go"
)

type request map[string]any

func (r request) str(k string) string {
	s, _ := r[k].(string)
	return s
}

func (r request) u64(k string, def uint64) (uint64, bool) {
	n, ok := r[k].(json.Number)
	if !ok {
		return def, false
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return def, false
	}
	return v, true
}

func (r request) i64(k string, def int64) int64 {
	n, ok := r[k].(json.Number)
	if !ok {
		return def
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return def
	}
	return v
}

func (r request) boolean(k string) (bool, bool) {
	b, ok := r[k].(bool)
	return b, ok
}

func (r request) obj(k string) request {
	m, _ := r[k].(map[string]any)
	return request(m)
}

// recorded holds every callback, and counts those that ran after the close op returned.
type recorded struct {
	mu     sync.Mutex
	acks   []int64
	errors []int64
	closed atomic.Bool
	late   atomic.Uint64
}

func (r *recorded) note() {
	if r.closed.Load() {
		r.late.Add(1)
	}
}

type fixedHeaders struct {
	headers map[string]string
	fail    *zerobus.Error // fail every call with this instead
	calls   atomic.Uint64
}

func (f *fixedHeaders) GetHeaders() (map[string]string, error) {
	f.calls.Add(1)
	if f.fail != nil {
		return nil, f.fail
	}
	return f.headers, nil
}

// codeNamed is the ErrorCode called name (TESTEE.md's names), INTERNAL if none is.
func codeNamed(name string) zerobus.ErrorCode {
	for c := zerobus.CodeOK; c <= zerobus.CodeInternal; c++ {
		if c.String() == name {
			return c
		}
	}
	return zerobus.CodeInternal
}

type testee struct {
	stream    *zerobus.ZerobusStream
	arrow     *zerobus.ArrowStream
	arrowLast bool // the Arrow stream was created after the record stream: the stream ops act on it
	callbacks recorded
	headers   *fixedHeaders
}

// lastStream is what wait_for_offset, flush, close, is_closed and metrics act on: the stream
// created last, a record stream or an Arrow stream (TESTEE.md).
type lastStream interface {
	Close() error
	IsClosed() bool
	Metrics() (zerobus.Metrics, error)
}

func (t *testee) last() (lastStream, error) {
	if t.arrowLast {
		return t.needArrow()
	}
	return t.need()
}

func (t *testee) needArrow() (*zerobus.ArrowStream, error) {
	if t.arrow == nil {
		return nil, bad("no Arrow stream was created")
	}
	return t.arrow, nil
}

func bad(format string, args ...any) error {
	return badArgument(fmt.Sprintf(format, args...))
}

type badArgument string

func (b badArgument) Error() string { return string(b) }

func (t *testee) need() (*zerobus.ZerobusStream, error) {
	if t.stream == nil {
		return nil, bad("no stream was created")
	}
	return t.stream, nil
}

func (t *testee) handle(req request) (map[string]any, error) {
	switch op := req.str("op"); op {
	case "create_stream":
		return nil, t.create(req)
	case "ingest":
		return t.ingest(req)
	case "ingest_concurrent":
		return t.ingestConcurrent(req)
	case "ingest_empty_batch":
		s, err := t.need()
		if err != nil {
			return nil, err
		}
		off, err := s.IngestRecordsOffset([][]byte{})
		if err != nil {
			return nil, err
		}
		return map[string]any{"offsets": []any{offsetOrNull(off)}}, nil
	case "ingest_raw":
		return t.ingestRaw(req)
	case "table_schema":
		return t.tableSchema(req)
	case "create_arrow_stream":
		return nil, t.createArrow(req)
	case "ingest_arrow":
		a, err := t.needArrow()
		if err != nil {
			return nil, err
		}
		// Both forms go through IngestIPC: the binding takes IPC bytes and no Arrow library
		// (TESTEE.md lets testees without a native form use the IPC call).
		ipc, err := hex.DecodeString(req.str("ipc_hex"))
		if err != nil {
			return nil, bad("ipc_hex: %v", err)
		}
		off, err := a.IngestIPC(context.Background(), ipc)
		if err != nil {
			return nil, err
		}
		return map[string]any{"offset": off}, nil
	case "arrow_unacked":
		a, err := t.needArrow()
		if err != nil {
			return nil, err
		}
		ipc, err := a.GetUnackedIPC()
		if err != nil {
			return nil, err
		}
		return map[string]any{"ipc_hex": hex.EncodeToString(ipc)}, nil
	case "wait_for_offset":
		if t.arrowLast {
			a, err := t.needArrow()
			if err != nil {
				return nil, err
			}
			return nil, a.WaitForOffset(context.Background(), req.i64("offset", -1))
		}
		s, err := t.need()
		if err != nil {
			return nil, err
		}
		return nil, s.WaitForOffset(req.i64("offset", -1))
	case "flush":
		if t.arrowLast {
			a, err := t.needArrow()
			if err != nil {
				return nil, err
			}
			return nil, a.Flush(context.Background())
		}
		s, err := t.need()
		if err != nil {
			return nil, err
		}
		return nil, s.Flush()
	case "close":
		s, err := t.last()
		if err != nil {
			return nil, err
		}
		err = s.Close()
		t.callbacks.closed.Store(true)
		return nil, err
	case "is_closed":
		s, err := t.last()
		if err != nil {
			return nil, err
		}
		return map[string]any{"closed": s.IsClosed()}, nil
	case "unacked":
		s, err := t.need()
		if err != nil {
			return nil, err
		}
		batches, err := s.GetUnackedBatches()
		if err != nil {
			return nil, err
		}
		out := make([][]string, len(batches))
		for i, b := range batches {
			out[i] = make([]string, len(b))
			for j, r := range b {
				if s.RecordType() == zerobus.RecordTypeProto {
					out[i][j] = hex.EncodeToString(r)
				} else {
					out[i][j] = string(r) // encoding/json replaces invalid UTF-8, as the reference
				}
			}
		}
		return map[string]any{"batches": out}, nil
	case "metrics":
		s, err := t.last()
		if err != nil {
			return nil, err
		}
		m, err := s.Metrics()
		if err != nil {
			return nil, err
		}
		var last any
		if m.LastAckedOffset >= 0 {
			last = m.LastAckedOffset
		}
		return map[string]any{"metrics": map[string]any{
			"inflight_requests": m.InflightRequests, "inflight_records": m.InflightRecords,
			"inflight_bytes": m.InflightBytes, "last_acked_offset": last,
			"records_sent": m.RecordsSent, "records_resent": m.RecordsResent,
			"recoveries": m.Recoveries, "token_fetches": m.TokenFetches}}, nil
	case "callbacks":
		t.callbacks.mu.Lock()
		defer t.callbacks.mu.Unlock()
		return map[string]any{"acks": append([]int64{}, t.callbacks.acks...),
			"errors": append([]int64{}, t.callbacks.errors...), "late": t.callbacks.late.Load()}, nil
	case "headers_provider_calls":
		var n uint64
		if t.headers != nil {
			n = t.headers.calls.Load()
		}
		return map[string]any{"count": n}, nil
	default:
		return nil, bad("unknown op %q", op)
	}
}

func offsetOrNull(off int64) any {
	if off < 0 {
		return nil
	}
	return off
}

// sdk is the SDK a create_stream or table_schema request describes.
func sdk(req request) (*zerobus.ZerobusSdk, error) {
	var sdkOptions []zerobus.SdkOption
	if pem, ok := req["ca_pem"].(string); ok {
		sdkOptions = append(sdkOptions, zerobus.WithCACertificatePEM([]byte(pem)))
	}
	if app, ok := req["application_name"].(string); ok {
		sdkOptions = append(sdkOptions, zerobus.WithApplicationName(app))
	}
	return zerobus.NewZerobusSdk(req.str("endpoint"), req.str("workspace_url"), sdkOptions...)
}

// headersProvider is the provider an auth of kind "headers" describes, kept to count its calls.
func (t *testee) headersProvider(auth request) *fixedHeaders {
	provider := &fixedHeaders{headers: map[string]string{}}
	pairs, _ := auth["headers"].([]any)
	for _, p := range pairs {
		if kv, ok := p.([]any); ok && len(kv) == 2 {
			k, _ := kv[0].(string)
			v, _ := kv[1].(string)
			provider.headers[k] = v
		}
	}
	if fail := auth.obj("fail"); fail != nil {
		provider.fail = zerobus.NewError(codeNamed(fail.str("code")), fail.str("message"))
	}
	t.headers = provider
	return provider
}

// tableSchema answers the table's columns and the descriptor the binding derives from them.
func (t *testee) tableSchema(req request) (map[string]any, error) {
	sdk, err := sdk(req)
	if err != nil {
		return nil, err
	}
	defer sdk.Free()
	auth := req.obj("auth")
	var schema *zerobus.TableSchema
	if auth.str("kind") == "headers" {
		schema, err = sdk.GetTableSchemaWithHeadersProvider(req.str("table"), t.headersProvider(auth))
	} else {
		schema, err = sdk.GetTableSchema(req.str("table"), auth.str("client_id"), auth.str("client_secret"))
	}
	if err != nil {
		return nil, err
	}
	descriptor, err := schema.DescriptorProto()
	if err != nil {
		return nil, err
	}
	columns := make([]map[string]any, len(schema.Columns))
	for i, c := range schema.Columns {
		columns[i] = map[string]any{"name": c.Name, "type": c.Type, "nullable": c.Nullable, "position": c.Position}
	}
	return map[string]any{"columns": columns, "descriptor_hex": hex.EncodeToString(descriptor)}, nil
}

func (t *testee) create(req request) error {
	sdk, err := sdk(req)
	if err != nil {
		return err
	}
	defer sdk.Free()
	options := zerobus.DefaultStreamConfigurationOptions()
	o := req.obj("options")
	if v, ok := o.u64("max_inflight_requests", 0); ok {
		options.MaxInflightRequests = v
	}
	if v, ok := o.u64("max_inflight_bytes", 0); ok {
		options.MaxInflightBytes = v
	}
	if v, ok := o.boolean("recovery"); ok {
		options.Recovery = v
	}
	for key, slot := range map[string]*uint64{
		"recovery_timeout_ms":           &options.RecoveryTimeoutMs,
		"recovery_backoff_ms":           &options.RecoveryBackoffMs,
		"recovery_backoff_max_ms":       &options.RecoveryBackoffMaxMs,
		"server_lack_of_ack_timeout_ms": &options.ServerLackOfAckTimeoutMs,
		"flush_timeout_ms":              &options.FlushTimeoutMs,
	} {
		if v, ok := o.u64(key, 0); ok {
			*slot = v
		}
	}
	if v, ok := o.u64("recovery_retries", 0); ok {
		options.RecoveryRetries = uint32(v)
	}
	if v, ok := o.u64("stream_paused_max_wait_time_ms", 0); ok {
		options.StreamPausedMaxWaitTimeMs = &v
	}
	if v, ok := o.u64("callback_max_wait_time_ms", 0); ok {
		options.CallbackMaxWaitTimeMs = &v
	}
	if v, _ := o.boolean("ack_callback"); v {
		options.AckCallback, options.ErrorCallback = t.callbacks.onAck, t.callbacks.onError
	}
	table := zerobus.TableProperties{TableName: req.str("table")}
	if req.str("record_type") == "proto" {
		options.RecordType = zerobus.RecordTypeProto
		// No descriptor_hex: no DescriptorProto, which creates the stream from the table.
		if h, ok := req["descriptor_hex"].(string); ok {
			d, err := hex.DecodeString(h)
			if err != nil {
				return bad("descriptor_hex: %v", err)
			}
			table.DescriptorProto = d
		}
	} else {
		options.RecordType = zerobus.RecordTypeJson
	}
	auth := req.obj("auth")
	var stream *zerobus.ZerobusStream
	if auth.str("kind") == "headers" {
		stream, err = sdk.CreateStreamWithHeadersProvider(table, t.headersProvider(auth), options)
	} else {
		stream, err = sdk.CreateStream(table, auth.str("client_id"), auth.str("client_secret"), options)
	}
	if err != nil {
		return err
	}
	t.stream = stream
	t.arrowLast = false
	return nil
}

func (r *recorded) onAck(offset int64) {
	r.note()
	r.mu.Lock()
	r.acks = append(r.acks, offset)
	r.mu.Unlock()
}

func (r *recorded) onError(offset int64, _ string) {
	r.note()
	r.mu.Lock()
	r.errors = append(r.errors, offset)
	r.mu.Unlock()
}

// createArrow opens an Arrow stream: schema_hex is its schema as IPC; none means from the table
// (a nil schema).
func (t *testee) createArrow(req request) error {
	sdk, err := sdk(req)
	if err != nil {
		return err
	}
	defer sdk.Free()
	var schema []byte
	if h, ok := req["schema_hex"].(string); ok {
		if schema, err = hex.DecodeString(h); err != nil {
			return bad("schema_hex: %v", err)
		}
	}
	options := zerobus.DefaultArrowStreamOptions()
	o := req.obj("options")
	if v, ok := o.boolean("recovery"); ok {
		options.Recovery = v
	}
	for key, slot := range map[string]*uint64{
		"max_inflight_batches":          &options.MaxInflightBatches,
		"max_inflight_bytes":            &options.MaxInflightBytes,
		"recovery_timeout_ms":           &options.RecoveryTimeoutMs,
		"recovery_backoff_ms":           &options.RecoveryBackoffMs,
		"recovery_backoff_max_ms":       &options.RecoveryBackoffMaxMs,
		"server_lack_of_ack_timeout_ms": &options.ServerLackOfAckTimeoutMs,
		"flush_timeout_ms":              &options.FlushTimeoutMs,
		"connection_timeout_ms":         &options.ConnectionTimeoutMs,
	} {
		if v, ok := o.u64(key, 0); ok {
			*slot = v
		}
	}
	if v, ok := o.u64("recovery_retries", 0); ok {
		options.RecoveryRetries = uint32(v)
	}
	if v, ok := o.u64("stream_paused_max_wait_time_ms", 0); ok {
		options.StreamPausedMaxWaitTimeMs = &v
	}
	if v, ok := o.u64("callback_max_wait_time_ms", 0); ok {
		options.CallbackMaxWaitTimeMs = &v
	}
	if v, ok := o["ipc_compression"].(string); ok {
		options.IpcCompression = v
	}
	if v, _ := o.boolean("ack_callback"); v {
		options.AckCallback, options.ErrorCallback = t.callbacks.onAck, t.callbacks.onError
	}
	auth := req.obj("auth")
	ctx := context.Background()
	var stream *zerobus.ArrowStream
	if auth.str("kind") == "headers" {
		stream, err = sdk.CreateArrowStreamWithHeadersProvider(ctx, req.str("table"), schema, t.headersProvider(auth), options)
	} else {
		stream, err = sdk.CreateArrowStream(ctx, req.str("table"), schema, auth.str("client_id"), auth.str("client_secret"), options)
	}
	if err != nil {
		return err
	}
	if t.arrow != nil {
		_ = t.arrow.Close() // replaced, as the reference drops it
	}
	t.arrow = stream
	t.arrowLast = true
	return nil
}

func (t *testee) ingest(req request) (map[string]any, error) {
	s, err := t.need()
	if err != nil {
		return nil, err
	}
	seed, _ := req.u64("seed", 1)
	offsets, err := produce(s, req, seed)
	if err != nil {
		return nil, err
	}
	return map[string]any{"offsets": offsets}, nil
}

// ingestConcurrent runs `producers` goroutines at once on the one stream, producer k ingesting
// as ingest does with seed seed+k; the first failing producer's error is the reply.
func (t *testee) ingestConcurrent(req request) (map[string]any, error) {
	s, err := t.need()
	if err != nil {
		return nil, err
	}
	seed, _ := req.u64("seed", 1)
	producers, _ := req.u64("producers", 1)
	offsets := make([][]any, producers)
	errs := make([]error, producers)
	var wg sync.WaitGroup
	for k := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			offsets[k], errs[k] = produce(s, req, seed+k)
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return map[string]any{"offsets": offsets}, nil
}

// record is one generated record as the binding takes it: JSON as text (a string), proto as
// bytes.
func record(proto bool, seed, i, size uint64) any {
	if proto {
		return protoRecord(seed, i, int(size))
	}
	return string(jsonRecord(seed, i, int(size)))
}

// produce ingests records start…start+count−1 of seed in calls of batch records, as one
// producer, and returns the offsets (none in nowait mode); it stops at the first failing call.
func produce(s *zerobus.ZerobusStream, req request, seed uint64) ([]any, error) {
	start, _ := req.u64("start", 0)
	count, _ := req.u64("count", 0)
	size, _ := req.u64("size", 100)
	batch, _ := req.u64("batch", 1)
	batch = max(batch, 1)
	mode := req.str("mode")
	if mode == "" {
		mode = "offset"
	}
	proto := s.RecordType() == zerobus.RecordTypeProto
	offsets := []any{}
	for i := start; i < start+count; {
		end := min(i+batch, start+count)
		var off int64
		var err error
		if batch == 1 {
			r := record(proto, seed, i, size)
			switch mode {
			case "offset":
				off, err = s.IngestRecordOffset(r)
			case "try":
				off, err = s.TryIngestRecordOffset(r)
			default:
				err = s.IngestRecordNowait(r)
			}
		} else {
			// [][]byte for proto, []string (JSON text) for JSON.
			var records any
			if proto {
				rs := make([][]byte, 0, end-i)
				for j := i; j < end; j++ {
					rs = append(rs, protoRecord(seed, j, int(size)))
				}
				records = rs
			} else {
				rs := make([]string, 0, end-i)
				for j := i; j < end; j++ {
					rs = append(rs, string(jsonRecord(seed, j, int(size))))
				}
				records = rs
			}
			switch mode {
			case "offset":
				off, err = s.IngestRecordsOffset(records)
			case "try":
				off, err = s.TryIngestRecordsOffset(records)
			default:
				err = s.IngestRecordsNowait(records)
			}
		}
		if err != nil {
			return nil, err
		}
		if mode != "nowait" {
			offsets = append(offsets, offsetOrNull(off))
		}
		i = end
	}
	return offsets, nil
}

func (t *testee) ingestRaw(req request) (map[string]any, error) {
	s, err := t.need()
	if err != nil {
		return nil, err
	}
	// json: the records are text (strings, the JSON calls); object: the same (Go has no native
	// objects the library takes, TESTEE.md); proto: hex of bytes.
	texts, _ := req["records"].([]any)
	strs := make([]string, len(texts))
	var bytes [][]byte
	proto := req.str("kind") == "proto"
	for i, v := range texts {
		strs[i], _ = v.(string)
		if proto {
			b, err := hex.DecodeString(strs[i])
			if err != nil {
				return nil, bad("record %d: %v", i, err)
			}
			bytes = append(bytes, b)
		}
	}
	offsets := []any{}
	if b, _ := req.boolean("batch"); b {
		var records any = strs
		if proto {
			records = bytes
		}
		off, err := s.IngestRecordsOffset(records)
		if err != nil {
			return nil, err
		}
		offsets = append(offsets, offsetOrNull(off))
	} else {
		for i := range strs {
			var r any = strs[i]
			if proto {
				r = bytes[i]
			}
			off, err := s.IngestRecordOffset(r)
			if err != nil {
				return nil, err
			}
			offsets = append(offsets, off)
		}
	}
	return map[string]any{"offsets": offsets}, nil
}

func errorJSON(err error) map[string]any {
	var zerr *zerobus.Error
	if errors.As(err, &zerr) {
		var status any
		if code, ok := zerr.GRPCStatus(); ok {
			status = code
		}
		return map[string]any{"code": zerr.Code().String(), "grpc_status": status,
			"retryable": zerr.Retryable(), "message": zerr.Message()}
	}
	var b badArgument
	if errors.As(err, &b) {
		return map[string]any{"code": "INVALID_ARGUMENT", "grpc_status": nil, "retryable": false, "message": err.Error()}
	}
	return map[string]any{"code": "INTERNAL", "grpc_status": nil, "retryable": false, "message": err.Error()}
}

func main() {
	t := &testee{}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 256<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		dec := json.NewDecoder(bytesReader(in.Bytes()))
		dec.UseNumber()
		var req request
		if err := dec.Decode(&req); err != nil {
			fmt.Fprintf(os.Stderr, "testee-go: bad request line: %v\n", err)
			continue
		}
		if req.str("op") == "quit" {
			break
		}
		result, err := t.handle(req)
		reply := map[string]any{}
		if err != nil {
			reply["ok"] = false
			reply["error"] = errorJSON(err)
		} else {
			for k, v := range result {
				reply[k] = v
			}
			reply["ok"] = true
		}
		reply["id"] = req["id"]
		line, err := json.Marshal(reply)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testee-go: cannot encode reply: %v\n", err)
			os.Exit(1)
		}
		out.Write(line)
		out.WriteByte('\n')
		if out.Flush() != nil {
			break
		}
	}
	// Close explicitly so a stream left open by a case is shut down before the process ends.
	if t.stream != nil {
		_ = t.stream.Close()
	}
}
