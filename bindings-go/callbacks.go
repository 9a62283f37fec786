package zerobus

/*
#include <stdint.h>
#include <stdlib.h>
#include "zerobus.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime/cgo"
	"strings"
	"sync/atomic"
	"unsafe"
)

// liveHandles counts callback handles the library still holds (checked by the tests).
var liveHandles atomic.Int64

// newHandle makes a handle whose ownership passes to the library (released by zerobusGoRelease).
func newHandle(v any) cgo.Handle {
	liveHandles.Add(1)
	return cgo.NewHandle(v)
}

// ackState is the Go side of a stream's ack and error callbacks, reached from C through a
// runtime/cgo.Handle.
type ackState struct {
	onAck   func(offset int64)
	onError func(offset int64, message string)
}

// HeadersProvider supplies the call metadata for every connection attempt of a stream created
// with CreateStreamWithHeadersProvider. It must return "authorization" and
// "x-databricks-zerobus-table-name". It runs on a library thread.
//
// An error fails that connection attempt, and its code decides what the stream does: an error
// that is (errors.As) a *Error, e.g. NewError(CodeUnauthenticated, "no credentials"), fails it
// with that Code and Message (CodeUnavailable is retried within the recovery budget,
// CodeUnauthenticated is final, ...); any other error counts as CodeUnavailable with the error's
// text. A panic is recovered and fails the attempt with CodeInternal. The stream's error then
// names the headers provider and carries the message.
type HeadersProvider interface {
	GetHeaders() (map[string]string, error)
}

// report writes a recovered ack or error callback panic to stderr: a panic must never unwind
// into C, and those callbacks have no way to hand a failure back to the library.
func report(what string, r any) {
	fmt.Fprintf(os.Stderr, "zerobus: %s panicked: %v\n", what, r)
}

//export zerobusGoOnAck
func zerobusGoOnAck(handle C.uintptr_t, offset C.int64_t) {
	defer func() {
		if r := recover(); r != nil {
			report("ack callback", r)
		}
	}()
	st := cgo.Handle(handle).Value().(*ackState)
	if st.onAck != nil {
		st.onAck(int64(offset))
	}
}

//export zerobusGoOnError
func zerobusGoOnError(handle C.uintptr_t, offset C.int64_t, message *C.char) {
	defer func() {
		if r := recover(); r != nil {
			report("error callback", r)
		}
	}()
	st := cgo.Handle(handle).Value().(*ackState)
	if st.onError != nil {
		st.onError(int64(offset), C.GoString(message))
	}
}

// releaser is handle state with something to undo when the library lets go of it.
type releaser interface{ release() }

//export zerobusGoRelease
func zerobusGoRelease(handle C.uintptr_t) {
	h := cgo.Handle(handle)
	if r, ok := h.Value().(releaser); ok {
		r.release()
	}
	h.Delete()
	liveHandles.Add(-1)
}

// headersFailure hands a provider failure to the library: the message through
// zerobus_headers_set_error, the code as the provider's return value.
func headersFailure(headers *C.zerobus_headers, code ErrorCode, message string) C.int32_t {
	if code <= CodeOK || int(code) >= len(codeNames) {
		// OK would read as success, and an unknown value as UNAVAILABLE: say so explicitly.
		code = CodeUnavailable
	}
	// The library takes NUL-terminated UTF-8.
	message = strings.ToValidUTF8(strings.ReplaceAll(message, "\x00", " "), "\uFFFD")
	cmsg := C.CString(message)
	C.zerobus_headers_set_error(headers, cmsg)
	C.free(unsafe.Pointer(cmsg))
	return C.int32_t(code)
}

// providerFailure is the code and message a provider error crosses the C ABI with.
func providerFailure(err error) (ErrorCode, string) {
	var zerr *Error
	switch {
	case !errors.As(err, &zerr):
		return CodeUnavailable, err.Error()
	case zerr == nil:
		return CodeUnavailable, "GetHeaders returned a nil *zerobus.Error"
	case err == error(zerr):
		return zerr.code, zerr.message
	default:
		return zerr.code, err.Error() // wrapped: keep the wrapping context
	}
}

//export zerobusGoHeaders
func zerobusGoHeaders(handle C.uintptr_t, headers *C.zerobus_headers) (rc C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			rc = headersFailure(headers, CodeInternal, fmt.Sprintf("GetHeaders panicked: %v", r))
		}
	}()
	provider := cgo.Handle(handle).Value().(HeadersProvider)
	h, err := provider.GetHeaders()
	if err != nil {
		code, message := providerFailure(err)
		return headersFailure(headers, code, message)
	}
	for name, value := range h {
		if strings.IndexByte(name, 0) >= 0 || strings.IndexByte(value, 0) >= 0 {
			// Never repeat the value: it is usually a token.
			return headersFailure(headers, CodeInvalidArgument,
				fmt.Sprintf("header %q holds a NUL byte in its name or value, which a header cannot carry", name))
		}
		cname, cvalue := C.CString(name), C.CString(value)
		C.zerobus_headers_add(headers, cname, cvalue)
		C.free(unsafe.Pointer(cname))
		C.free(unsafe.Pointer(cvalue))
	}
	return C.int32_t(CodeOK)
}
