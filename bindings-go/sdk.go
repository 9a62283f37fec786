package zerobus

/*
#include <stdlib.h>
#include "zerobus.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"unsafe"
)

// Version is this binding's version, sent in the user-agent.
const Version = "0.1.0"

// TableProperties names the target table and, for Proto streams, the record schema.
type TableProperties struct {
	// TableName is "catalog.schema.table".
	TableName string
	// DescriptorProto is the serialized google.protobuf.DescriptorProto of the records
	// (Proto streams; ignored for JSON), e.g. from proto.Marshal(protodesc.ToDescriptorProto(md)).
	// Nil (or empty) on a Proto stream creates the stream from its table: the library reads the
	// table's schema from Unity Catalog, derives the descriptor from its columns, and encodes
	// the JSON text (string records) given to the stream by the columns' types.
	DescriptorProto []byte
}

// ZerobusSdk is one SDK per Zerobus endpoint; its streams share its token cache. It is safe
// for concurrent use. Free it when no more streams will be created (streams stay usable).
type ZerobusSdk struct {
	mu  sync.RWMutex
	ptr *C.zerobus_sdk
}

// SdkOption configures NewZerobusSdk beyond its endpoint and workspace URL.
type SdkOption func(*sdkConfig)

type sdkConfig struct {
	caPEM           [][]byte
	applicationName string
}

// WithCACertificatePEM trusts the CA certificates in pem (PEM text, copied) besides the system
// roots, e.g. a private CA or a TLS-inspecting proxy. It may be given more than once.
func WithCACertificatePEM(pem []byte) SdkOption {
	own := append([]byte{}, pem...)
	return func(c *sdkConfig) { c.caPEM = append(c.caPEM, own) }
}

// WithApplicationName appends name to the user-agent the SDK sends
// ("zerobus-sdk-go/<version> <name>").
func WithApplicationName(name string) SdkOption {
	return func(c *sdkConfig) { c.applicationName = name }
}

// NewZerobusSdk makes an SDK for endpoint (https://..., or an explicit http:// for a local
// plaintext server) whose OAuth tokens come from workspaceURL; options add CA certificates
// (WithCACertificatePEM) and an application name (WithApplicationName).
func NewZerobusSdk(endpoint, workspaceURL string, options ...SdkOption) (*ZerobusSdk, error) {
	var cfg sdkConfig
	for _, o := range options {
		if o != nil {
			o(&cfg)
		}
	}
	cEndpoint, err := cString("endpoint", endpoint)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cEndpoint))
	cURL, err := cString("workspace URL", workspaceURL)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cURL))
	b := C.zerobus_sdk_builder_new()
	if b == nil {
		return nil, newError(CodeInternal, "zerobus_sdk_builder_new failed")
	}
	defer C.zerobus_sdk_builder_free(b)
	cName := C.CString("zerobus-sdk-go/" + Version)
	defer C.free(unsafe.Pointer(cName))
	var cerr *C.zerobus_error
	if !C.zerobus_sdk_builder_set_endpoint(b, cEndpoint, &cerr) ||
		!C.zerobus_sdk_builder_set_workspace_url(b, cURL, &cerr) ||
		!C.zerobus_sdk_builder_set_sdk_name(b, cName, &cerr) {
		return nil, takeError(cerr)
	}
	for _, pem := range cfg.caPEM {
		d, n := bytesArg(pem)
		ok := C.zerobus_sdk_builder_add_ca_pem(b, d, n, &cerr)
		runtime.KeepAlive(pem)
		if !ok {
			return nil, takeError(cerr)
		}
	}
	if cfg.applicationName != "" {
		cApp, err := cString("application name", cfg.applicationName)
		if err != nil {
			return nil, err
		}
		ok := C.zerobus_sdk_builder_set_application_name(b, cApp, &cerr)
		C.free(unsafe.Pointer(cApp))
		if !ok {
			return nil, takeError(cerr)
		}
	}
	p := C.zerobus_sdk_builder_build(b, &cerr)
	if p == nil {
		return nil, takeError(cerr)
	}
	s := &ZerobusSdk{ptr: p}
	// Safety net only: Free is the cleanup; this releases an SDK that was dropped without it.
	runtime.SetFinalizer(s, (*ZerobusSdk).Free)
	return s, nil
}

// Free releases the SDK. Streams created from it stay usable; creating a stream afterwards
// fails with CodeInvalidArgument. Idempotent, and safe while other goroutines create streams.
func (s *ZerobusSdk) Free() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		C.zerobus_sdk_free(s.ptr)
		s.ptr = nil
		runtime.SetFinalizer(s, nil)
	}
}

// CreateStream opens a stream on table authenticated with OAuth client credentials. options
// may be nil for the defaults (a Proto stream). It blocks until the server answered (at most
// about RecoveryTimeoutMs × attempts); see CreateStreamContext.
//
// A Proto stream with no table.DescriptorProto is created from its table: before opening, the
// library reads the table's schema from Unity Catalog with the stream's credentials (as
// GetTableSchema; a table it does not know fails with CodeNotFound) and opens the stream with the
// descriptor derived from the columns. JSON text (string records, []string batches,
// IngestJSONRecordsContiguousOffset) is then encoded to proto in the library by the columns'
// types (TIMESTAMP as integer µs or RFC 3339 text, DATE as days or "YYYY-MM-DD", BINARY as
// base64, DECIMAL and BIGINT as a number or a string, nested ARRAY / MAP / STRUCT); []byte
// records are still encoded proto messages. ZerobusStream.TableSchema returns the schema read.
func (s *ZerobusSdk) CreateStream(table TableProperties, clientID, clientSecret string,
	options *StreamConfigurationOptions) (*ZerobusStream, error) {
	return s.create(table, options, func(sdk *C.zerobus_sdk, name *C.char, co *C.zerobus_stream_options) (*C.zerobus_stream, error) {
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
		d, n := bytesArg(table.DescriptorProto)
		var cerr *C.zerobus_error
		p := C.zerobus_sdk_create_stream(sdk, name, d, n, cID, cSecret, co, &cerr)
		runtime.KeepAlive(table.DescriptorProto)
		if p == nil {
			return nil, takeError(cerr)
		}
		return p, nil
	})
}

// CreateStreamWithHeadersProvider opens a stream whose call metadata comes from provider,
// asked before every connection attempt (on a library thread). A Proto stream with no
// table.DescriptorProto is created from its table as with CreateStream, its schema read with the
// provider's "authorization" header.
func (s *ZerobusSdk) CreateStreamWithHeadersProvider(table TableProperties, provider HeadersProvider,
	options *StreamConfigurationOptions) (*ZerobusStream, error) {
	if provider == nil {
		return nil, newError(CodeInvalidArgument, "headers provider is nil")
	}
	return s.create(table, options, func(sdk *C.zerobus_sdk, name *C.char, co *C.zerobus_stream_options) (*C.zerobus_stream, error) {
		p, err := createStreamWithHeaders(sdk, name, table.DescriptorProto, provider, co)
		runtime.KeepAlive(table.DescriptorProto)
		return p, err
	})
}

// CreateStreamContext is CreateStream honouring ctx: on cancellation it returns ctx.Err() at
// once; a stream that opens later is closed and freed in the background.
func (s *ZerobusSdk) CreateStreamContext(ctx context.Context, table TableProperties, clientID, clientSecret string,
	options *StreamConfigurationOptions) (*ZerobusStream, error) {
	return createCtx(ctx, func() (*ZerobusStream, error) {
		return s.CreateStream(table, clientID, clientSecret, options)
	})
}

// CreateStreamWithHeadersProviderContext is CreateStreamWithHeadersProvider honouring ctx.
func (s *ZerobusSdk) CreateStreamWithHeadersProviderContext(ctx context.Context, table TableProperties,
	provider HeadersProvider, options *StreamConfigurationOptions) (*ZerobusStream, error) {
	return createCtx(ctx, func() (*ZerobusStream, error) {
		return s.CreateStreamWithHeadersProvider(table, provider, options)
	})
}

func createCtx(ctx context.Context, f func() (*ZerobusStream, error)) (*ZerobusStream, error) {
	if ctx.Done() == nil {
		return f()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		s   *ZerobusStream
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := f()
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

func (s *ZerobusSdk) create(table TableProperties, options *StreamConfigurationOptions,
	open func(*C.zerobus_sdk, *C.char, *C.zerobus_stream_options) (*C.zerobus_stream, error)) (*ZerobusStream, error) {
	if s == nil {
		return nil, newError(CodeInvalidArgument, "the SDK is nil; make one with NewZerobusSdk")
	}
	name, err := cString("table name", table.TableName)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(name))
	r := options.resolve()
	co, err := newCOptions(r)
	if err != nil {
		return nil, err
	}
	defer C.zerobus_stream_options_free(co)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return nil, newError(CodeInvalidArgument, "the SDK was freed (or not made with NewZerobusSdk); make a new one with NewZerobusSdk")
	}
	p, err := open(s.ptr, name, co)
	if err != nil {
		return nil, err
	}
	rt := r.recordType
	if rt == RecordTypeUnspecified {
		rt = RecordTypeProto
	}
	return newStream(p, rt), nil
}
