package zerobus

/*
#include <stdlib.h>
#include "zerobus.h"
*/
import "C"

import (
	"context"
	"runtime"
	"unsafe"
)

// Column is one column of a table, as Unity Catalog describes it.
type Column struct {
	// Name is the column's name.
	Name string
	// Type is the column's SQL type as Unity Catalog's type_text spells it: "bigint",
	// "decimal(10,2)", "timestamp", "array<string>", "struct<lat:double,lon:double>".
	Type string
	// Nullable is false for a NOT NULL column.
	Nullable bool
	// Position is the column's zero-based position in the table; its proto field number is
	// Position + 1.
	Position int
}

// TableSchema is a table's schema read from Unity Catalog (GetTableSchema, or
// ZerobusStream.TableSchema for a stream created from its table): its columns and the proto2
// record message the library derives from them (field number = position + 1, STRUCT → nested
// message, ARRAY → repeated, MAP → map entries, NOT NULL → required). It is a plain Go value,
// copied out of the library; it holds no native resources.
type TableSchema struct {
	// Columns are the table's columns in position order.
	Columns []Column

	json          string
	descriptor    []byte
	descriptorErr error
	protoFile     string
	protoFileErr  error
}

// DescriptorProto is the serialized google.protobuf.DescriptorProto of the table's record
// message: what a stream created from the table is opened with, and what
// TableProperties.DescriptorProto takes. It fails with CodeInvalidArgument naming the column for
// a table with no proto2 form (e.g. an ARRAY<ARRAY<INT>> column); such a table is written as JSON.
// The slice is the caller's own copy.
func (t *TableSchema) DescriptorProto() ([]byte, error) {
	if t == nil {
		return nil, newError(CodeInvalidArgument, "the table schema is nil; get one with GetTableSchema")
	}
	if t.descriptorErr != nil {
		return nil, t.descriptorErr
	}
	return append([]byte{}, t.descriptor...), nil
}

// ProtoFile is the .proto (proto2) source of the table's record message, as `zerobus schema
// TABLE` prints it. It fails with CodeInvalidArgument for a table with no proto2 form, and for a
// column whose name is not a proto identifier (DescriptorProto still works for such a table).
func (t *TableSchema) ProtoFile() (string, error) {
	if t == nil {
		return "", newError(CodeInvalidArgument, "the table schema is nil; get one with GetTableSchema")
	}
	return t.protoFile, t.protoFileErr
}

// JSON is the table as Unity Catalog's REST API describes it (name, catalog_name, schema_name,
// full_name, columns with name, type_name, type_text, type_json, nullable and position).
func (t *TableSchema) JSON() string {
	if t == nil {
		return ""
	}
	return t.json
}

// takeSchema copies a library schema into Go memory and frees it.
func takeSchema(p *C.zerobus_table_schema) *TableSchema {
	defer C.zerobus_table_schema_free(p)
	n := int(C.zerobus_table_schema_column_count(p))
	t := &TableSchema{Columns: make([]Column, n), json: C.GoString(C.zerobus_table_schema_json(p))}
	for i := range n {
		ci := C.size_t(i)
		t.Columns[i] = Column{
			Name:     C.GoString(C.zerobus_table_schema_column_name(p, ci)),
			Type:     C.GoString(C.zerobus_table_schema_column_type(p, ci)),
			Nullable: bool(C.zerobus_table_schema_column_nullable(p, ci)),
			Position: int(C.zerobus_table_schema_column_position(p, ci)),
		}
	}
	var cerr *C.zerobus_error
	var n2 C.size_t
	if d := C.zerobus_table_schema_descriptor(p, &n2, &cerr); d != nil {
		t.descriptor = C.GoBytes(unsafe.Pointer(d), C.int(n2))
	} else {
		t.descriptorErr = takeError(cerr)
	}
	cerr = nil
	if text := C.zerobus_table_schema_proto_file(p, &cerr); text != nil {
		t.protoFile = C.GoString(text)
	} else {
		t.protoFileErr = takeError(cerr)
	}
	return t
}

// withSdk runs f with the SDK's C handle and the table name as a C string, holding the SDK
// against a concurrent Free.
func (s *ZerobusSdk) withSdk(tableName string, f func(*C.zerobus_sdk, *C.char) (*C.zerobus_table_schema, error)) (*TableSchema, error) {
	if s == nil {
		return nil, newError(CodeInvalidArgument, "the SDK is nil; make one with NewZerobusSdk")
	}
	name, err := cString("table name", tableName)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(name))
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return nil, newError(CodeInvalidArgument, "the SDK was freed (or not made with NewZerobusSdk); make a new one with NewZerobusSdk")
	}
	p, err := f(s.ptr, name)
	if err != nil {
		return nil, err
	}
	return takeSchema(p), nil
}

// GetTableSchema reads tableName's schema ("catalog.schema.table") from Unity Catalog, at the
// workspace URL, with an OAuth token for the client credentials: the same token (and token
// cache) a stream on the table uses. It blocks until Unity Catalog answered, retrying what is
// retryable; see GetTableSchemaContext. A table Unity Catalog does not know fails with
// CodeNotFound; refused credentials with CodeUnauthenticated or CodePermissionDenied.
func (s *ZerobusSdk) GetTableSchema(tableName, clientID, clientSecret string) (*TableSchema, error) {
	return s.withSdk(tableName, func(sdk *C.zerobus_sdk, name *C.char) (*C.zerobus_table_schema, error) {
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
		var cerr *C.zerobus_error
		p := C.zerobus_sdk_get_table_schema(sdk, name, cID, cSecret, &cerr)
		if p == nil {
			return nil, takeError(cerr)
		}
		return p, nil
	})
}

// GetTableSchemaWithHeadersProvider is GetTableSchema authenticated by the "authorization"
// header provider returns (asked on a library thread, once per attempt; one without it fails
// with CodeInvalidArgument). A provider's error fails the call as it fails a stream's connection
// attempt (see HeadersProvider).
func (s *ZerobusSdk) GetTableSchemaWithHeadersProvider(tableName string, provider HeadersProvider) (*TableSchema, error) {
	if provider == nil {
		return nil, newError(CodeInvalidArgument, "headers provider is nil")
	}
	return s.withSdk(tableName, func(sdk *C.zerobus_sdk, name *C.char) (*C.zerobus_table_schema, error) {
		return tableSchemaWithHeaders(sdk, name, provider)
	})
}

// GetTableSchemaContext is GetTableSchema returning ctx.Err() as soon as ctx is done (the read
// then finishes in the background and its result is dropped).
func (s *ZerobusSdk) GetTableSchemaContext(ctx context.Context, tableName, clientID, clientSecret string) (*TableSchema, error) {
	return schemaCtx(ctx, func() (*TableSchema, error) { return s.GetTableSchema(tableName, clientID, clientSecret) })
}

// GetTableSchemaWithHeadersProviderContext is GetTableSchemaWithHeadersProvider honouring ctx.
func (s *ZerobusSdk) GetTableSchemaWithHeadersProviderContext(ctx context.Context, tableName string,
	provider HeadersProvider) (*TableSchema, error) {
	return schemaCtx(ctx, func() (*TableSchema, error) { return s.GetTableSchemaWithHeadersProvider(tableName, provider) })
}

func schemaCtx(ctx context.Context, f func() (*TableSchema, error)) (*TableSchema, error) {
	var t *TableSchema
	err := callCtx(ctx, func() error {
		var err error
		t, err = f()
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TableSchema is the schema of the table the stream was created from (a Proto stream created
// with no TableProperties.DescriptorProto), as read when it was created. A stream given a
// descriptor, or a JSON stream, fails with CodeInvalidArgument (GetTableSchema reads any table's
// schema).
func (s *ZerobusStream) TableSchema() (*TableSchema, error) {
	var cerr *C.zerobus_error
	p := C.zerobus_stream_table_schema(s.cptr(), &cerr)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	if p == nil {
		return nil, takeError(cerr)
	}
	return takeSchema(p), nil
}

// StreamID is the server's id for the stream's current connection (it changes when the stream
// reconnects); "" for a zero or freed ZerobusStream.
func (s *ZerobusStream) StreamID() string {
	defer runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C calls
	buf := make([]byte, 64)
	for {
		n := int(C.zerobus_stream_id(s.cptr(), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, n+1) // the id outgrew the buffer (or changed between calls): again
	}
}
