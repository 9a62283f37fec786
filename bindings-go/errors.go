package zerobus

/*
#include "zerobus.h"
*/
import "C"

import "fmt"

// ErrorCode is the closed list of error codes shared by every Zerobus binding (zerobus_code in
// zerobus.h). An ErrorCode is itself an error so that errors.Is(err, zerobus.CodeQueueFull)
// works on any error returned by this package.
type ErrorCode int32

// The values equal zerobus_code in zerobus.h (checked by a test against the header).
const (
	CodeOK                 ErrorCode = 0
	CodeInvalidArgument    ErrorCode = 1
	CodeInvalidRecord      ErrorCode = 2
	CodeRecordTooLarge     ErrorCode = 3
	CodeQueueFull          ErrorCode = 4
	CodeStreamClosed       ErrorCode = 5
	CodeTimeout            ErrorCode = 6
	CodeUnauthenticated    ErrorCode = 7
	CodePermissionDenied   ErrorCode = 8
	CodeNotFound           ErrorCode = 9
	CodeUnavailable        ErrorCode = 10
	CodeServerError        ErrorCode = 11
	CodeProtocolError      ErrorCode = 12
	CodeTokenEndpointError ErrorCode = 13
	CodeInternal           ErrorCode = 14
)

var codeNames = [...]string{
	CodeOK:                 "OK",
	CodeInvalidArgument:    "INVALID_ARGUMENT",
	CodeInvalidRecord:      "INVALID_RECORD",
	CodeRecordTooLarge:     "RECORD_TOO_LARGE",
	CodeQueueFull:          "QUEUE_FULL",
	CodeStreamClosed:       "STREAM_CLOSED",
	CodeTimeout:            "TIMEOUT",
	CodeUnauthenticated:    "UNAUTHENTICATED",
	CodePermissionDenied:   "PERMISSION_DENIED",
	CodeNotFound:           "NOT_FOUND",
	CodeUnavailable:        "UNAVAILABLE",
	CodeServerError:        "SERVER_ERROR",
	CodeProtocolError:      "PROTOCOL_ERROR",
	CodeTokenEndpointError: "TOKEN_ENDPOINT_ERROR",
	CodeInternal:           "INTERNAL",
}

// String is the code's stable name, e.g. "UNAVAILABLE" (the same in every binding).
func (c ErrorCode) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("ErrorCode(%d)", int32(c))
}

// Error makes a code usable as an errors.Is target.
func (c ErrorCode) Error() string { return "zerobus: " + c.String() }

// Error is every failure the SDK reports. Use errors.As to reach it:
//
//	var zerr *zerobus.Error
//	if errors.As(err, &zerr) && zerr.Retryable() { ... }
type Error struct {
	code       ErrorCode
	grpcStatus int32 // -1 when the server did not answer with a status
	retryable  bool
	message    string
}

// Code is the error's code.
func (e *Error) Code() ErrorCode { return e.code }

// GRPCStatus is the gRPC status code the server answered with; ok is false when the error did
// not come from a server status.
func (e *Error) GRPCStatus() (code int, ok bool) {
	if e.grpcStatus < 0 {
		return 0, false
	}
	return int(e.grpcStatus), true
}

// Retryable reports whether retrying (on a new stream with the unacked records) may succeed.
func (e *Error) Retryable() bool { return e.retryable }

// Message is the error's message without the code; it never holds secrets.
func (e *Error) Message() string { return e.message }

func (e *Error) Error() string {
	if e.grpcStatus >= 0 {
		return fmt.Sprintf("zerobus: %s (grpc status %d): %s", e.code.String(), e.grpcStatus, e.message)
	}
	return fmt.Sprintf("zerobus: %s: %s", e.code.String(), e.message)
}

// Is matches an ErrorCode target: errors.Is(err, zerobus.CodeStreamClosed).
func (e *Error) Is(target error) bool {
	c, ok := target.(ErrorCode)
	return ok && c == e.code
}

// NewError makes an error of this package's type with code and message, for code that hands an
// error to the SDK: a HeadersProvider that returns NewError(CodeUnauthenticated, "...") fails
// the connection attempt with that code, which decides what the stream does (CodeUnavailable is
// retried within the recovery budget, CodeUnauthenticated is final, ...). The error carries no
// gRPC status, and its Retryable is false: the library, not this value, classifies the code.
func NewError(code ErrorCode, message string) *Error {
	return &Error{code: code, grpcStatus: -1, message: message}
}

// newError makes a binding-side error (invalid Go arguments).
func newError(code ErrorCode, format string, args ...any) *Error {
	return &Error{code: code, grpcStatus: -1, retryable: false, message: fmt.Sprintf(format, args...)}
}

// takeError converts and frees a library error.
func takeError(err *C.zerobus_error) error {
	if err == nil {
		return newError(CodeInternal, "the library reported a failure without an error")
	}
	defer C.zerobus_error_free(err)
	return &Error{
		code:       ErrorCode(C.zerobus_error_code(err)),
		grpcStatus: int32(C.zerobus_error_grpc_status(err)),
		retryable:  bool(C.zerobus_error_is_retryable(err)),
		message:    C.GoString(C.zerobus_error_message(err)),
	}
}
