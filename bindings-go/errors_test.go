package zerobus

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The Go constants must equal zerobus_code in the header, name for name.
func TestErrorCodesMatchHeader(t *testing.T) {
	header, err := os.ReadFile("../ffi-c/include/zerobus.h")
	if err != nil {
		t.Fatalf("reading the C header: %v", err)
	}
	re := regexp.MustCompile(`(?m)^\s*ZEROBUS_(?:ERROR_)?([A-Z_]+) = (\d+),`)
	found := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(string(header), -1) {
		if m[1] == "RECORD_TYPE_PROTO" || m[1] == "RECORD_TYPE_JSON" {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		found[m[1]] = n
	}
	if len(found) != len(codeNames) {
		t.Fatalf("header has %d codes %v, Go has %d", len(found), found, len(codeNames))
	}
	for name, value := range found {
		if got := ErrorCode(value).String(); got != name {
			t.Errorf("code %d: header says %s, Go says %s", value, name, got)
		}
	}
	// Record types too.
	for name, want := range map[string]RecordType{"PROTO": RecordTypeProto, "JSON": RecordTypeJson} {
		m := regexp.MustCompile(`ZEROBUS_RECORD_TYPE_` + name + ` = (\d+)`).FindStringSubmatch(string(header))
		if m == nil || m[1] != strconv.Itoa(int(want)) {
			t.Errorf("record type %s: header %v, Go %d", name, m, want)
		}
	}
}

func TestLibraryErrorMapping(t *testing.T) {
	_, err := NewZerobusSdk("not a url at all", "also not")
	if err == nil {
		t.Fatal("NewZerobusSdk accepted a bad endpoint")
	}
	var zerr *Error
	if !errors.As(fmt.Errorf("wrapped: %w", err), &zerr) {
		t.Fatalf("errors.As failed on %T %v", err, err)
	}
	if zerr.Code() != CodeInvalidArgument || zerr.Retryable() {
		t.Errorf("got code %v retryable %v, want INVALID_ARGUMENT, false", zerr.Code(), zerr.Retryable())
	}
	if _, ok := zerr.GRPCStatus(); ok {
		t.Error("a local error has no gRPC status")
	}
	if !errors.Is(err, CodeInvalidArgument) || errors.Is(err, CodeUnavailable) {
		t.Error("errors.Is on codes")
	}
	if zerr.Message() == "" || zerr.Error() == "" {
		t.Error("empty message")
	}
}

func TestErrorRendering(t *testing.T) {
	e := &Error{code: CodeUnavailable, grpcStatus: 14, retryable: true, message: "gone"}
	if s := e.Error(); s != "zerobus: UNAVAILABLE (grpc status 14): gone" {
		t.Errorf("Error() = %q", s)
	}
	if c, ok := e.GRPCStatus(); !ok || c != 14 {
		t.Errorf("GRPCStatus() = %d, %v", c, ok)
	}
	if ErrorCode(99).String() != "ErrorCode(99)" {
		t.Error("unknown code name")
	}
	if takeError(nil).(*Error).Code() != CodeInternal {
		t.Error("a failure without an error is INTERNAL")
	}
}

func TestNewError(t *testing.T) {
	e := NewError(CodeUnauthenticated, "no credentials in the vault")
	if e.Code() != CodeUnauthenticated || e.Message() != "no credentials in the vault" || e.Retryable() {
		t.Errorf("NewError = %v (retryable %v)", e, e.Retryable())
	}
	if _, ok := e.GRPCStatus(); ok {
		t.Error("NewError has a gRPC status")
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", e), CodeUnauthenticated) {
		t.Error("errors.Is on a wrapped NewError")
	}
	if s := e.Error(); s != "zerobus: UNAUTHENTICATED: no credentials in the vault" {
		t.Errorf("Error() = %q", s)
	}
}
