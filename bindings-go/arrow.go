package zerobus

/*
#include <stdint.h>
#include <stdlib.h>
#include "zerobus.h"

// Trampolines exported from callbacks.go (declared again here: each cgo preamble is its own
// C file). user_data is a runtime/cgo.Handle, never a Go pointer.
extern void zerobusGoOnAck(uintptr_t handle, int64_t offset);
extern void zerobusGoOnError(uintptr_t handle, int64_t offset, char *message);
extern void zerobusGoRelease(uintptr_t handle);
extern int32_t zerobusGoHeaders(uintptr_t handle, zerobus_headers *headers);

static void zb_arrow_on_ack(void *user_data, int64_t offset) { zerobusGoOnAck((uintptr_t)user_data, offset); }
static void zb_arrow_on_error(void *user_data, int64_t offset, const char *message) {
	zerobusGoOnError((uintptr_t)user_data, offset, (char *)message);
}
static void zb_arrow_release(void *user_data) { zerobusGoRelease((uintptr_t)user_data); }
static int32_t zb_arrow_headers(void *user_data, zerobus_headers *headers) {
	return zerobusGoHeaders((uintptr_t)user_data, headers);
}

static bool zb_arrow_set_ack_callback(zerobus_arrow_stream_options *options, uintptr_t handle, zerobus_error **err) {
	return zerobus_arrow_stream_options_set_ack_callback(options, zb_arrow_on_ack, zb_arrow_on_error, (void *)handle,
		zb_arrow_release, err);
}

static zerobus_arrow_stream *zb_create_arrow_stream_with_headers(const zerobus_sdk *sdk, const char *table,
		const uint8_t *schema, size_t schema_len, uintptr_t handle, const zerobus_arrow_stream_options *options,
		zerobus_error **err) {
	return zerobus_sdk_create_arrow_stream_with_headers_provider(sdk, table, schema, schema_len, zb_arrow_headers,
		(void *)handle, zb_arrow_release, options, err);
}

// One IPC ingest call, result returned by value so that no Go out-parameter escapes to the heap.
typedef struct zb_arrow_result {
	int64_t offset;
	zerobus_error *err;
	bool ok;
} zb_arrow_result;

static zb_arrow_result zb_arrow_ingest_ipc(const zerobus_arrow_stream *s, const uint8_t *data, size_t len) {
	zb_arrow_result r = {-1, NULL, false};
	r.ok = zerobus_arrow_stream_ingest_ipc(s, data, len, &r.offset, &r.err);
	return r;
}

// The no-copy form: data is pinned Go memory the library holds until it calls zb_arrow_release
// with handle (a cgo.Handle to the pin), on whichever thread it is done with the bytes.
static zb_arrow_result zb_arrow_ingest_ipc_nocopy(const zerobus_arrow_stream *s, const uint8_t *data, size_t len,
		uintptr_t handle) {
	zb_arrow_result r = {-1, NULL, false};
	r.ok = zerobus_arrow_stream_ingest_ipc_nocopy(s, data, len, zb_arrow_release, (void *)handle, &r.offset, &r.err);
	return r;
}
*/
import "C"

import (
	"context"
	"runtime"
	"unsafe"
)

// Defaults of the core for Arrow streams (zerobus.h, zerobus_arrow_stream_options_new); the
// recovery and flush defaults are the record streams' (DefaultRecoveryTimeoutMs, ...).
const (
	DefaultMaxInflightBatches  uint64 = 1_000
	DefaultConnectionTimeoutMs uint64 = 30_000
	// DefaultIpcCompression: uncompressed IPC bodies.
	DefaultIpcCompression = "none"
)

// ArrowStreamOptions configures a new Arrow stream. Start from DefaultArrowStreamOptions(): every
// field then holds its default and every value you set, zero included, is passed on as is. In a
// struct literal not derived from DefaultArrowStreamOptions, a zero numeric field (and an empty
// IpcCompression) means "the default" instead, as for StreamConfigurationOptions. Values are
// checked by the library when the stream is created (CodeInvalidArgument names the option).
type ArrowStreamOptions struct {
	// Bound on unacknowledged ingest calls (an IPC stream each; default 1,000).
	MaxInflightBatches uint64
	// Bound on unacknowledged IPC bytes (default 64 MiB).
	MaxInflightBytes uint64
	// Reconnect and resend from the first unacknowledged row after retryable failures (default
	// true).
	Recovery bool
	// Bound on each connection attempt, ms (default 15,000).
	RecoveryTimeoutMs uint64
	// Wait before the second connection attempt in a row, ms (default 2,000); later waits double
	// up to RecoveryBackoffMaxMs.
	RecoveryBackoffMs uint64
	// Cap on the wait between connection attempts, ms (default 30,000).
	RecoveryBackoffMaxMs uint64
	// Connection attempts in a row without an ack before the stream fails (default 4).
	RecoveryRetries uint32
	// Reconnect when batches wait this long with nothing from the server, ms (default 60,000).
	ServerLackOfAckTimeoutMs uint64
	// Bound on Flush, WaitForOffset and Close's flush, ms (default 300,000).
	FlushTimeoutMs uint64
	// Bound on waiting for the server's ready signal on each connection, ms (default 30,000).
	ConnectionTimeoutMs uint64
	// Body compression of the batches sent: "none" (default), "lz4_frame" or "zstd". Batches given
	// to IngestIPC uncompressed are compressed with it; batches already compressed keep their codec.
	IpcCompression string
	// After a server close signal, wait at most this long for acks before reconnecting, ms.
	// nil: the duration the server announces.
	StreamPausedMaxWaitTimeMs *uint64
	// How long Close waits for running callbacks, ms. nil: 5,000.
	CallbackMaxWaitTimeMs *uint64
	// AckCallback, when set, is called once per acknowledged offset (every row of that IngestIPC
	// call durable), in order, on a library thread, never after Close returns. It must not call
	// blocking methods of the stream.
	AckCallback func(offset int64)
	// ErrorCallback, when set, is called once per offset that failed for good, in order.
	ErrorCallback func(offset int64, message string)

	// complete is true when the struct came from DefaultArrowStreamOptions.
	complete bool
}

// DefaultArrowStreamOptions returns Arrow stream options holding every default.
func DefaultArrowStreamOptions() *ArrowStreamOptions {
	return &ArrowStreamOptions{
		MaxInflightBatches:       DefaultMaxInflightBatches,
		MaxInflightBytes:         DefaultMaxInflightBytes,
		Recovery:                 true,
		RecoveryTimeoutMs:        DefaultRecoveryTimeoutMs,
		RecoveryBackoffMs:        DefaultRecoveryBackoffMs,
		RecoveryBackoffMaxMs:     DefaultRecoveryBackoffMaxMs,
		RecoveryRetries:          DefaultRecoveryRetries,
		ServerLackOfAckTimeoutMs: DefaultServerLackOfAckTimeoutMs,
		FlushTimeoutMs:           DefaultFlushTimeoutMs,
		ConnectionTimeoutMs:      DefaultConnectionTimeoutMs,
		IpcCompression:           DefaultIpcCompression,
		complete:                 true,
	}
}

// newCArrowOptions builds C options from o (nil: the defaults). The caller frees them with
// zerobus_arrow_stream_options_free. Callback state is owned by the library from here on.
func newCArrowOptions(o *ArrowStreamOptions) (*C.zerobus_arrow_stream_options, error) {
	co := C.zerobus_arrow_stream_options_new()
	if co == nil {
		return nil, newError(CodeInternal, "zerobus_arrow_stream_options_new failed")
	}
	if o == nil {
		return co, nil
	}
	var cerr *C.zerobus_error
	fail := func() (*C.zerobus_arrow_stream_options, error) {
		C.zerobus_arrow_stream_options_free(co)
		return nil, takeError(cerr)
	}
	// set reports false when the library refused the value; a zero in a literal is left unset.
	set := func(v uint64, f func(*C.zerobus_arrow_stream_options, C.uint64_t, **C.zerobus_error) C.bool) bool {
		return (v == 0 && !o.complete) || bool(f(co, C.uint64_t(v), &cerr))
	}
	if !set(o.MaxInflightBatches, func(p *C.zerobus_arrow_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_arrow_stream_options_set_max_inflight_batches(p, v, e)
	}) || !set(o.MaxInflightBytes, func(p *C.zerobus_arrow_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_arrow_stream_options_set_max_inflight_bytes(p, v, e)
	}) || !set(o.RecoveryTimeoutMs, func(p *C.zerobus_arrow_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_arrow_stream_options_set_recovery_timeout_ms(p, v, e)
	}) || !set(o.RecoveryBackoffMs, func(p *C.zerobus_arrow_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_arrow_stream_options_set_recovery_backoff_ms(p, v, e)
	}) || !set(o.RecoveryBackoffMaxMs, func(p *C.zerobus_arrow_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_arrow_stream_options_set_recovery_backoff_max_ms(p, v, e)
	}) || !set(o.ServerLackOfAckTimeoutMs, func(p *C.zerobus_arrow_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_arrow_stream_options_set_server_lack_of_ack_timeout_ms(p, v, e)
	}) || !set(o.FlushTimeoutMs, func(p *C.zerobus_arrow_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_arrow_stream_options_set_flush_timeout_ms(p, v, e)
	}) || !set(o.ConnectionTimeoutMs, func(p *C.zerobus_arrow_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_arrow_stream_options_set_connection_timeout_ms(p, v, e)
	}) {
		return fail()
	}
	// A literal cannot tell "false" from "unset"; false is only honoured from the defaults.
	if (o.complete || o.Recovery) && !bool(C.zerobus_arrow_stream_options_set_recovery(co, C.bool(o.Recovery), &cerr)) {
		return fail()
	}
	if (o.complete || o.RecoveryRetries != 0) &&
		!bool(C.zerobus_arrow_stream_options_set_recovery_retries(co, C.uint32_t(o.RecoveryRetries), &cerr)) {
		return fail()
	}
	if o.IpcCompression != "" {
		name, err := cString("IPC compression", o.IpcCompression)
		if err != nil {
			C.zerobus_arrow_stream_options_free(co)
			return nil, err
		}
		ok := C.zerobus_arrow_stream_options_set_ipc_compression(co, name, &cerr)
		C.free(unsafe.Pointer(name))
		if !ok {
			return fail()
		}
	}
	if o.StreamPausedMaxWaitTimeMs != nil &&
		!bool(C.zerobus_arrow_stream_options_set_stream_paused_max_wait_time_ms(co, C.uint64_t(*o.StreamPausedMaxWaitTimeMs), &cerr)) {
		return fail()
	}
	if o.CallbackMaxWaitTimeMs != nil &&
		!bool(C.zerobus_arrow_stream_options_set_callback_max_wait_time_ms(co, C.uint64_t(*o.CallbackMaxWaitTimeMs), &cerr)) {
		return fail()
	}
	if o.AckCallback != nil || o.ErrorCallback != nil {
		h := newHandle(&ackState{onAck: o.AckCallback, onError: o.ErrorCallback})
		// From here the library owns the handle: it calls zerobusGoRelease, even on failure.
		if !C.zb_arrow_set_ack_callback(co, C.uintptr_t(h), &cerr) {
			return fail()
		}
	}
	return co, nil
}

// ArrowStream is an open Arrow stream (Arrow Flight DoPut) into one table, safe for concurrent
// use. Close it (defer stream.Close()); a cleanup closes and frees a stream that becomes
// unreachable without Close, but only as a safety net.
//
// Batches go in as Arrow IPC streams ([]byte): what arrow-go's ipc.NewWriter, pyarrow's
// RecordBatchStreamWriter or any other Arrow library writes. This binding takes no dependency on
// an Arrow library.
type ArrowStream struct {
	h *arrowHandle // shared by copies of the struct, so a copy never outlives the C handle
}

// arrowHandle owns the C stream; a cleanup attached to it closes and frees the stream once no
// ArrowStream (or running call) can reach it any more.
type arrowHandle struct {
	ptr *C.zerobus_arrow_stream
}

func newArrowStream(p *C.zerobus_arrow_stream) *ArrowStream {
	h := &arrowHandle{ptr: p}
	runtime.AddCleanup(h, func(p *C.zerobus_arrow_stream) {
		// Not on the cleanup goroutine: close may block while it flushes.
		go func() {
			C.zerobus_arrow_stream_close(p, nil)
			C.zerobus_arrow_stream_free(p)
		}()
	}, p)
	return &ArrowStream{h: h}
}

// cptr is the C handle, or NULL for a zero ArrowStream (which the library answers with
// CodeInvalidArgument; a handle it freed is answered the same way, never dereferenced).
func (s *ArrowStream) cptr() *C.zerobus_arrow_stream {
	if s == nil || s.h == nil {
		return nil
	}
	return s.h.ptr
}

// CreateArrowStream opens an Arrow stream on tableName authenticated with OAuth client
// credentials. schemaIPC is the batches' schema as an Arrow IPC stream holding the schema message
// (batches after it are ignored); nil (or empty) means "from the table": the library reads the
// table's schema from Unity Catalog with these credentials and maps it to Arrow (STRING →
// LargeUtf8, INT → Int32, TIMESTAMP → Timestamp(µs, "UTC"), ...; PROTOCOL.md §9). opts may be
// nil for the defaults. It blocks until the server sent its ready signal (at most about
// RecoveryTimeoutMs × attempts), or until ctx is done: then it returns ctx.Err() and a stream that
// opens later is closed and freed in the background.
//
// A schema the server refuses fails with CodeInvalidArgument naming the column; a table Unity
// Catalog does not know (from the table) with CodeNotFound.
func (s *ZerobusSdk) CreateArrowStream(ctx context.Context, tableName string, schemaIPC []byte,
	clientID, clientSecret string, opts *ArrowStreamOptions) (*ArrowStream, error) {
	return s.createArrow(ctx, tableName, opts, func(sdk *C.zerobus_sdk, name *C.char, co *C.zerobus_arrow_stream_options) (*C.zerobus_arrow_stream, error) {
		cID, err := cString("client ID", clientID)
		if err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cID))
		cSecret, err := cString("client secret", clientSecret)
		if err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cSecret))
		d, n := bytesArg(schemaIPC)
		var cerr *C.zerobus_error
		p := C.zerobus_sdk_create_arrow_stream(sdk, name, d, n, cID, cSecret, co, &cerr)
		runtime.KeepAlive(schemaIPC)
		if p == nil {
			return nil, takeError(cerr)
		}
		return p, nil
	})
}

// CreateArrowStreamWithHeadersProvider opens an Arrow stream whose call metadata comes from
// provider, asked before every connection attempt (on a library thread). With no schemaIPC the
// schema is read from the table with the provider's "authorization" header. Otherwise as
// CreateArrowStream.
func (s *ZerobusSdk) CreateArrowStreamWithHeadersProvider(ctx context.Context, tableName string, schemaIPC []byte,
	provider HeadersProvider, opts *ArrowStreamOptions) (*ArrowStream, error) {
	if provider == nil {
		return nil, newError(CodeInvalidArgument, "headers provider is nil")
	}
	return s.createArrow(ctx, tableName, opts, func(sdk *C.zerobus_sdk, name *C.char, co *C.zerobus_arrow_stream_options) (*C.zerobus_arrow_stream, error) {
		h := newHandle(provider)
		var cerr *C.zerobus_error
		d, n := bytesArg(schemaIPC)
		p := C.zb_create_arrow_stream_with_headers(sdk, name, d, n, C.uintptr_t(h), co, &cerr)
		runtime.KeepAlive(schemaIPC)
		if p == nil {
			// The library released the handle already (release runs once, on failure too).
			return nil, takeError(cerr)
		}
		return p, nil
	})
}

func (s *ZerobusSdk) createArrow(ctx context.Context, tableName string, opts *ArrowStreamOptions,
	open func(*C.zerobus_sdk, *C.char, *C.zerobus_arrow_stream_options) (*C.zerobus_arrow_stream, error)) (*ArrowStream, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	create := func() (*ArrowStream, error) {
		if s == nil {
			return nil, newError(CodeInvalidArgument, "the SDK is nil; make one with NewZerobusSdk")
		}
		name, err := cString("table name", tableName)
		if err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(name))
		co, err := newCArrowOptions(opts)
		if err != nil {
			return nil, err
		}
		defer C.zerobus_arrow_stream_options_free(co)
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.ptr == nil {
			return nil, newError(CodeInvalidArgument, "the SDK was freed (or not made with NewZerobusSdk); make a new one with NewZerobusSdk")
		}
		p, err := open(s.ptr, name, co)
		if err != nil {
			return nil, err
		}
		return newArrowStream(p), nil
	}
	if ctx.Done() == nil {
		return create()
	}
	type result struct {
		s   *ArrowStream
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := create()
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				_ = r.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// IngestIPC queues an Arrow IPC stream (a schema message, then one or more record batches) as one
// call under one offset and returns the offset (queued, not yet durable: see WaitForOffset). The
// library copies ipc once (IngestIPCNoCopy does not) and sends its batches as they are, without re-encoding (a batch written
// uncompressed is compressed when IpcCompression is set). The schema must
// be the stream's (same columns, in order, same types; a NOT NULL column may be declared nullable
// if it holds no nulls): otherwise it fails with CodeInvalidRecord naming the column ("table
// main.default.cars: column seats: expected Int32, got Int64"), nothing is queued, and the stream
// carries on.
//
// It blocks only while the in-flight bounds are reached. With a ctx that can be cancelled the
// call runs in the background on a private copy of ipc (so ipc may be reused at once, whatever
// happens); if ctx ends first it returns ctx.Err(), and the batch may still be queued later (then
// accounted by Flush, Close and the callbacks like any other): "not known to be queued", never
// "lost". With context.Background() there is no extra copy.
func (s *ArrowStream) IngestIPC(ctx context.Context, ipc []byte) (int64, error) {
	if ctx == nil || ctx.Done() == nil {
		return s.ingestIPC(ipc)
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	own := append([]byte(nil), ipc...)
	return awaitOffset(ctx, func() (int64, error) { return s.ingestIPC(own) })
}

func (s *ArrowStream) ingestIPC(ipc []byte) (int64, error) {
	d, n := bytesArg(ipc)
	r := C.zb_arrow_ingest_ipc(s.cptr(), d, n)
	runtime.KeepAlive(ipc)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	if !r.ok {
		return -1, takeError(r.err)
	}
	return int64(r.offset), nil
}

// IngestIPCNoCopy is IngestIPC without the copy: the library sends the batches straight out of ipc
// and keeps it (pinned, so the collector leaves it alone) until it is done with it, which saves
// copying each call's bytes (about a fifth of the Arrow path's cost for 10,000-row batches). In
// exchange ipc must not be written until the call's offset is acknowledged (WaitForOffset, Flush,
// the AckCallback, or a Close that returns nil). If the call fails, ipc is yours again when it
// returns; after a stream failure, its unacked calls stay in use until the stream is closed and
// collected. A reader that allocates each batch afresh (os.ReadFile, an IPC writer's fresh
// buffer) meets this without effort; one that reuses a buffer should call IngestIPC.
//
// ctx is honoured as in IngestIPC, without the private copy: if ctx ends first the call may still
// be queued in the background, so leave ipc alone until Close returns.
func (s *ArrowStream) IngestIPCNoCopy(ctx context.Context, ipc []byte) (int64, error) {
	if len(ipc) == 0 {
		return s.ingestIPC(ipc) // the library's error for an empty stream
	}
	if ctx == nil || ctx.Done() == nil {
		return s.ingestIPCNoCopy(ipc)
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	return awaitOffset(ctx, func() (int64, error) { return s.ingestIPCNoCopy(ipc) })
}

func (s *ArrowStream) ingestIPCNoCopy(ipc []byte) (int64, error) {
	pin := &pinnedBytes{}
	pin.pinner.Pin(unsafe.SliceData(ipc))
	// The library owns the handle from here and releases it exactly once (zerobusGoRelease
	// unpins), on every outcome.
	h := newHandle(pin)
	d, n := bytesArg(ipc)
	r := C.zb_arrow_ingest_ipc_nocopy(s.cptr(), d, n, C.uintptr_t(h))
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	if !r.ok {
		return -1, takeError(r.err)
	}
	return int64(r.offset), nil
}

// pinnedBytes keeps an IngestIPCNoCopy call's bytes pinned while the library holds them, as cgo
// requires of Go memory that C keeps after a call returns.
type pinnedBytes struct {
	pinner runtime.Pinner
}

func (p *pinnedBytes) release() { p.pinner.Unpin() }

// WaitForOffset blocks until offset is acknowledged (every row of its call durable), the stream
// fails, FlushTimeoutMs passes, or ctx is done (then ctx.Err(); the wait ends in the background).
func (s *ArrowStream) WaitForOffset(ctx context.Context, offset int64) error {
	return callCtx(ctxOrBackground(ctx), func() error {
		var cerr *C.zerobus_error
		ok := C.zerobus_arrow_stream_wait_for_offset(s.cptr(), C.int64_t(offset), &cerr)
		runtime.KeepAlive(s)
		if !ok {
			return takeError(cerr)
		}
		return nil
	})
}

// Flush blocks until every batch queued so far is acknowledged, at most FlushTimeoutMs, or until
// ctx is done (then ctx.Err(); the batches stay queued).
func (s *ArrowStream) Flush(ctx context.Context) error {
	return callCtx(ctxOrBackground(ctx), func() error {
		var cerr *C.zerobus_error
		ok := C.zerobus_arrow_stream_flush(s.cptr(), &cerr)
		runtime.KeepAlive(s)
		if !ok {
			return takeError(cerr)
		}
		return nil
	})
}

// Close flushes, ends the DoPut call, waits for the server and stops the callbacks; no callback
// runs after it returns. Idempotent: a second call returns the first one's result. After Close,
// IngestIPC fails with CodeStreamClosed and GetUnackedIPC still answers.
func (s *ArrowStream) Close() error {
	var cerr *C.zerobus_error
	ok := C.zerobus_arrow_stream_close(s.cptr(), &cerr)
	runtime.KeepAlive(s)
	if !ok {
		return takeError(cerr)
	}
	return nil
}

// CloseContext is Close returning ctx.Err() as soon as ctx is done; the close then completes in
// the background.
func (s *ArrowStream) CloseContext(ctx context.Context) error {
	return callCtx(ctxOrBackground(ctx), s.Close)
}

// IsClosed reports whether the stream no longer accepts batches (closed or failed). It is false
// for a zero ArrowStream.
func (s *ArrowStream) IsClosed() bool {
	closed := C.zerobus_arrow_stream_is_closed(s.cptr())
	runtime.KeepAlive(s)
	return bool(closed)
}

// Metrics returns the stream's counters; InflightRecords, RecordsSent and RecordsResent count
// rows, InflightRequests ingest calls. It never blocks.
func (s *ArrowStream) Metrics() (Metrics, error) {
	var m C.zerobus_metrics
	var cerr *C.zerobus_error
	ok := C.zerobus_arrow_stream_metrics(s.cptr(), &m, &cerr)
	runtime.KeepAlive(s)
	if !ok {
		return Metrics{}, takeError(cerr)
	}
	return Metrics{
		InflightRequests: uint64(m.inflight_requests),
		InflightRecords:  uint64(m.inflight_records),
		InflightBytes:    uint64(m.inflight_bytes),
		LastAckedOffset:  int64(m.last_acked_offset),
		RecordsSent:      uint64(m.records_sent),
		RecordsResent:    uint64(m.records_resent),
		Recoveries:       uint64(m.recoveries),
		TokenFetches:     uint64(m.token_fetches),
	}, nil
}

// GetUnackedIPC returns every unacknowledged row, in offset order, as one Arrow IPC stream: the
// stream's schema, then one batch per physical batch, the first starting at the first
// unacknowledged row (a batch acked in part comes back without its acked rows). After a terminal
// failure, give it to IngestIPC on a new stream. With nothing unacked, the schema alone.
func (s *ArrowStream) GetUnackedIPC() ([]byte, error) {
	var cerr *C.zerobus_error
	b := C.zerobus_arrow_stream_get_unacked_ipc(s.cptr(), &cerr)
	runtime.KeepAlive(s)
	if b == nil {
		return nil, takeError(cerr)
	}
	defer C.zerobus_buffer_free(b)
	return C.GoBytes(unsafe.Pointer(C.zerobus_buffer_data(b)), C.int(C.zerobus_buffer_len(b))), nil
}

func ctxOrBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
