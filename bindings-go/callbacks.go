package zerobus

/*
#include <stdint.h>
#include <stdlib.h>
#include "zerobus.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/cgo"
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
type HeadersProvider interface {
	GetHeaders() (map[string]string, error)
}

// report writes a recovered callback panic to stderr: a panic must never unwind into C.
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

//export zerobusGoRelease
func zerobusGoRelease(handle C.uintptr_t) {
	cgo.Handle(handle).Delete()
	liveHandles.Add(-1)
}

//export zerobusGoHeaders
func zerobusGoHeaders(handle C.uintptr_t, headers *C.zerobus_headers) (rc C.int32_t) {
	defer func() {
		if r := recover(); r != nil {
			report("headers provider", r)
			rc = 1
		}
	}()
	provider := cgo.Handle(handle).Value().(HeadersProvider)
	h, err := provider.GetHeaders()
	if err != nil {
		fmt.Fprintf(os.Stderr, "zerobus: headers provider failed: %v\n", err)
		return 1
	}
	for name, value := range h {
		cname, cvalue := C.CString(name), C.CString(value)
		C.zerobus_headers_add(headers, cname, cvalue)
		C.free(unsafe.Pointer(cname))
		C.free(unsafe.Pointer(cvalue))
	}
	return 0
}
