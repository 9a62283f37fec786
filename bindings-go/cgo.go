package zerobus

// The cgo boundary: the header is included, never re-declared. Every C function used by the
// package is called from this package only; no Go pointer is kept by C after a call returns.
// The build tag zerobus_release links the release library (benchmarks); without it, the debug
// one that `make` builds.

/*
#cgo CFLAGS: -I${SRCDIR}/../ffi-c/include
#cgo !zerobus_release LDFLAGS: ${SRCDIR}/../target/debug/libzerobus.a
#cgo zerobus_release LDFLAGS: ${SRCDIR}/../target/release/libzerobus.a
#cgo LDFLAGS: -lgcc_s -lutil -lrt -lpthread -lm -ldl
#include <stdint.h>
#include <stdlib.h>
#include "zerobus.h"

// Trampolines exported from callbacks.go. user_data is a runtime/cgo.Handle (an integer), never
// a Go pointer.
extern void zerobusGoOnAck(uintptr_t handle, int64_t offset);
extern void zerobusGoOnError(uintptr_t handle, int64_t offset, char *message);
extern void zerobusGoRelease(uintptr_t handle);
extern int32_t zerobusGoHeaders(uintptr_t handle, zerobus_headers *headers);

static void zb_on_ack(void *user_data, int64_t offset) { zerobusGoOnAck((uintptr_t)user_data, offset); }
static void zb_on_error(void *user_data, int64_t offset, const char *message) {
	zerobusGoOnError((uintptr_t)user_data, offset, (char *)message);
}
static void zb_release(void *user_data) { zerobusGoRelease((uintptr_t)user_data); }
static int32_t zb_headers(void *user_data, zerobus_headers *headers) {
	return zerobusGoHeaders((uintptr_t)user_data, headers);
}

static bool zb_set_ack_callback(zerobus_stream_options *options, uintptr_t handle, zerobus_error **err) {
	return zerobus_stream_options_set_ack_callback(options, zb_on_ack, zb_on_error, (void *)handle, zb_release, err);
}

static zerobus_stream *zb_create_stream_with_headers(const zerobus_sdk *sdk, const char *table,
		const uint8_t *descriptor, size_t descriptor_len, uintptr_t handle,
		const zerobus_stream_options *options, zerobus_error **err) {
	return zerobus_sdk_create_stream_with_headers_provider(sdk, table, descriptor, descriptor_len, zb_headers,
		(void *)handle, zb_release, options, err);
}

static zerobus_table_schema *zb_get_table_schema_with_headers(const zerobus_sdk *sdk, const char *table,
		uintptr_t handle, zerobus_error **err) {
	return zerobus_sdk_get_table_schema_with_headers_provider(sdk, table, zb_headers, (void *)handle, zb_release, err);
}

// One ingest call, result returned by value so that no Go out-parameter escapes to the heap on
// the hot path. mode: 0 blocking, 1 try, 2 nowait. json: the records are JSON text (the
// zerobus_stream_*ingest_json_record* calls, INVALID_RECORD on a PROTO stream); otherwise they are
// read as the stream's record type.
typedef struct zb_ingest_result {
	int64_t offset;
	zerobus_error *err;
	bool ok;
} zb_ingest_result;

static zb_ingest_result zb_ingest_record(const zerobus_stream *s, const uint8_t *data, size_t len, int mode,
		bool json) {
	zb_ingest_result r = {-1, NULL, false};
	if (json) {
		switch (mode) {
		case 0: r.ok = zerobus_stream_ingest_json_record(s, data, len, &r.offset, &r.err); break;
		case 1: r.ok = zerobus_stream_try_ingest_json_record(s, data, len, &r.offset, &r.err); break;
		default: r.ok = zerobus_stream_ingest_json_record_nowait(s, data, len, &r.err); break;
		}
		return r;
	}
	switch (mode) {
	case 0: r.ok = zerobus_stream_ingest_record(s, data, len, &r.offset, &r.err); break;
	case 1: r.ok = zerobus_stream_try_ingest_record(s, data, len, &r.offset, &r.err); break;
	default: r.ok = zerobus_stream_ingest_record_nowait(s, data, len, &r.err); break;
	}
	return r;
}

static zb_ingest_result zb_ingest_records(const zerobus_stream *s, const uint8_t *data, size_t data_len,
		const size_t *lengths, size_t count, int mode, bool json) {
	zb_ingest_result r = {-1, NULL, false};
	if (json) {
		switch (mode) {
		case 0: r.ok = zerobus_stream_ingest_json_records(s, data, data_len, lengths, count, &r.offset, &r.err); break;
		case 1: r.ok = zerobus_stream_try_ingest_json_records(s, data, data_len, lengths, count, &r.offset, &r.err); break;
		default: r.ok = zerobus_stream_ingest_json_records_nowait(s, data, data_len, lengths, count, &r.err); break;
		}
		return r;
	}
	switch (mode) {
	case 0: r.ok = zerobus_stream_ingest_records(s, data, data_len, lengths, count, &r.offset, &r.err); break;
	case 1: r.ok = zerobus_stream_try_ingest_records(s, data, data_len, lengths, count, &r.offset, &r.err); break;
	default: r.ok = zerobus_stream_ingest_records_nowait(s, data, data_len, lengths, count, &r.err); break;
	}
	return r;
}
*/
import "C"

import (
	"strings"
	"unsafe"
)

// cString copies s to C memory for one call; the caller frees it with C.free. A C string ends
// at its first NUL, so a Go string holding one fails with CodeInvalidArgument instead of being
// cut short there (a table name cut short names another table). what names the argument; the
// value is never repeated (it may be a secret).
func cString(what, s string) (*C.char, error) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, newError(CodeInvalidArgument, "the %s holds a NUL byte (at byte %d), which a C string cannot carry; remove it", what, i)
	}
	return C.CString(s), nil
}

// newCOptions builds C options from resolved Go options. The caller frees them with
// zerobus_stream_options_free. Callback state is owned by the library from here on (it calls
// zerobusGoRelease when no stream needs it any more).
func newCOptions(r resolvedOptions) (*C.zerobus_stream_options, error) {
	o := C.zerobus_stream_options_new()
	if o == nil {
		return nil, newError(CodeInternal, "zerobus_stream_options_new failed")
	}
	var cerr *C.zerobus_error
	fail := func() (*C.zerobus_stream_options, error) {
		C.zerobus_stream_options_free(o)
		return nil, takeError(cerr)
	}
	set64 := func(v *uint64, f func(*C.zerobus_stream_options, C.uint64_t, **C.zerobus_error) C.bool) bool {
		return v == nil || bool(f(o, C.uint64_t(*v), &cerr))
	}
	if !set64(r.maxInflightRequests, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_max_inflight_requests(o, v, e)
	}) || !set64(r.maxInflightBytes, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_max_inflight_bytes(o, v, e)
	}) || !set64(r.recoveryTimeoutMs, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_recovery_timeout_ms(o, v, e)
	}) || !set64(r.recoveryBackoffMs, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_recovery_backoff_ms(o, v, e)
	}) || !set64(r.recoveryBackoffMaxMs, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_recovery_backoff_max_ms(o, v, e)
	}) || !set64(r.serverLackOfAckTimeoutMs, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_server_lack_of_ack_timeout_ms(o, v, e)
	}) || !set64(r.flushTimeoutMs, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_flush_timeout_ms(o, v, e)
	}) || !set64(r.streamPausedMaxWaitTimeMs, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_stream_paused_max_wait_time_ms(o, v, e)
	}) || !set64(r.callbackMaxWaitTimeMs, func(o *C.zerobus_stream_options, v C.uint64_t, e **C.zerobus_error) C.bool {
		return C.zerobus_stream_options_set_callback_max_wait_time_ms(o, v, e)
	}) {
		return fail()
	}
	if r.recovery != nil && !C.zerobus_stream_options_set_recovery(o, C.bool(*r.recovery), &cerr) {
		return fail()
	}
	if r.recoveryRetries != nil && !C.zerobus_stream_options_set_recovery_retries(o, C.uint32_t(*r.recoveryRetries), &cerr) {
		return fail()
	}
	if r.recordType != RecordTypeUnspecified && !C.zerobus_stream_options_set_record_type(o, C.int32_t(r.recordType), &cerr) {
		return fail()
	}
	if r.onAck != nil || r.onError != nil {
		h := newHandle(&ackState{onAck: r.onAck, onError: r.onError})
		// From here the library owns the handle: it calls zerobusGoRelease, even on failure.
		if !C.zb_set_ack_callback(o, C.uintptr_t(h), &cerr) {
			return fail()
		}
	}
	return o, nil
}

// createStreamWithHeaders opens a stream whose metadata comes from provider (through a handle
// the library releases when the stream no longer needs it).
func createStreamWithHeaders(sdk *C.zerobus_sdk, table *C.char, descriptor []byte, provider HeadersProvider,
	options *C.zerobus_stream_options) (*C.zerobus_stream, error) {
	h := newHandle(provider)
	var cerr *C.zerobus_error
	d, n := bytesArg(descriptor)
	s := C.zb_create_stream_with_headers(sdk, table, d, n, C.uintptr_t(h), options, &cerr)
	if s == nil {
		// The library released the handle already (release runs once, on failure too).
		return nil, takeError(cerr)
	}
	return s, nil
}

// tableSchemaWithHeaders reads a table's schema authenticated by provider (through a handle the
// library releases before the call returns).
func tableSchemaWithHeaders(sdk *C.zerobus_sdk, table *C.char, provider HeadersProvider) (*C.zerobus_table_schema, error) {
	h := newHandle(provider)
	var cerr *C.zerobus_error
	p := C.zb_get_table_schema_with_headers(sdk, table, C.uintptr_t(h), &cerr)
	if p == nil {
		return nil, takeError(cerr)
	}
	return p, nil
}

// zeroByte backs empty inputs so that C never sees a NULL data pointer.
var zeroByte [1]byte

// bytesArg passes b to C for the duration of one call (Go memory without Go pointers).
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return (*C.uint8_t)(unsafe.Pointer(&zeroByte[0])), 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

// stringArg passes s's bytes to C for the duration of one call.
func stringArg(s string) (*C.uint8_t, C.size_t) {
	if len(s) == 0 {
		return (*C.uint8_t)(unsafe.Pointer(&zeroByte[0])), 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// freeCOptions frees C options (for the tests, which cannot use cgo themselves).
func freeCOptions(o *C.zerobus_stream_options) { C.zerobus_stream_options_free(o) }

// freeStreamNow frees s's C stream at once, as its cleanup does once s is unreachable, so the
// tests can call methods on a freed handle (which the library answers with INVALID_ARGUMENT).
func freeStreamNow(s *ZerobusStream) { C.zerobus_stream_free(s.cptr()) }

// streamOverSdkHandle is a ZerobusStream whose handle is sdk's: a live handle of another type
// (for the tests; the library answers it with INVALID_ARGUMENT, never dereferencing it).
func streamOverSdkHandle(sdk *ZerobusSdk) *ZerobusStream {
	return &ZerobusStream{h: &streamHandle{ptr: (*C.zerobus_stream)(unsafe.Pointer(sdk.ptr)), recordType: RecordTypeJson}}
}

// ingestRecordC makes one single-record ingest call (mode: ingestMode; json: JSON text).
func ingestRecordC(s *C.zerobus_stream, data *C.uint8_t, n C.size_t, mode ingestMode, json bool) (int64, error) {
	r := C.zb_ingest_record(s, data, n, C.int(mode), C.bool(json))
	if !r.ok {
		return -1, takeError(r.err)
	}
	return int64(r.offset), nil
}

// ingestRecordsC makes one batch ingest call (mode: ingestMode; json: JSON text).
func ingestRecordsC(s *C.zerobus_stream, data *C.uint8_t, n C.size_t, lens *C.size_t, count C.size_t,
	mode ingestMode, json bool) (int64, error) {
	r := C.zb_ingest_records(s, data, n, lens, count, C.int(mode), C.bool(json))
	if !r.ok {
		return -1, takeError(r.err)
	}
	return int64(r.offset), nil
}
