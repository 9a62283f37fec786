package zerobus

/*
#include "zerobus.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"unsafe"
)

// ZerobusStream is an open stream into one table, safe for concurrent use. Close it (defer
// stream.Close()); a cleanup closes and frees a stream that becomes unreachable without Close,
// but only as a safety net.
type ZerobusStream struct {
	h *streamHandle // shared by copies of the struct, so a copy never outlives the C handle
}

// streamHandle owns the C stream; a cleanup attached to it closes and frees the stream once no
// ZerobusStream (or running call) can reach it any more.
type streamHandle struct {
	ptr        *C.zerobus_stream
	recordType RecordType
}

// Metrics is a point-in-time view of a stream's counters.
type Metrics struct {
	InflightRequests uint64 // calls queued and not yet acknowledged
	InflightRecords  uint64 // records in those calls
	InflightBytes    uint64 // encoded bytes held for those calls
	LastAckedOffset  int64  // highest acknowledged offset, -1 if none
	RecordsSent      uint64 // records handed to the transport, resends included
	RecordsResent    uint64 // records sent again after a reconnect
	Recoveries       uint64 // successful reconnects
	TokenFetches     uint64 // token endpoint requests made by this stream
}

func newStream(p *C.zerobus_stream, rt RecordType) *ZerobusStream {
	h := &streamHandle{ptr: p, recordType: rt}
	runtime.AddCleanup(h, func(p *C.zerobus_stream) {
		// Not on the cleanup goroutine: close may block while it flushes.
		go func() {
			C.zerobus_stream_close(p, nil)
			C.zerobus_stream_free(p)
		}()
	}, p)
	return &ZerobusStream{h: h}
}

// cptr is the C handle, or NULL for a zero ZerobusStream (which the library answers with
// CodeInvalidArgument). A handle the library freed is never dereferenced: the C ABI keeps every
// object in a handle table and answers a stale handle with CodeInvalidArgument too.
func (s *ZerobusStream) cptr() *C.zerobus_stream {
	if s == nil || s.h == nil {
		return nil
	}
	return s.h.ptr
}

// RecordType is the stream's record encoding (RecordTypeUnspecified for a zero ZerobusStream).
func (s *ZerobusStream) RecordType() RecordType {
	if s == nil || s.h == nil {
		return RecordTypeUnspecified
	}
	return s.h.recordType
}

// recordArg passes one record to C for the duration of a call: a string is JSON text (json
// true: the JSON calls), a []byte is read as the stream's record type.
func recordArg(record any) (p *C.uint8_t, n C.size_t, json bool, err error) {
	switch r := record.(type) {
	case []byte:
		p, n := bytesArg(r)
		return p, n, false, nil
	case string:
		p, n := stringArg(r)
		return p, n, true, nil
	default:
		return nil, 0, false, newError(CodeInvalidArgument, "a record is a []byte or a string, not %T", record)
	}
}

// batch is a set of records packed for one C call: one contiguous buffer plus lengths. json:
// the batch holds JSON text (a []string, or an []any with a string in it).
type batch struct {
	data []byte
	lens []C.size_t
	json bool
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

func (b *batch) add(r []byte) {
	b.data = append(b.data, r...)
	b.lens = append(b.lens, C.size_t(len(r)))
}

func (b *batch) addString(r string) {
	b.data = append(b.data, r...)
	b.lens = append(b.lens, C.size_t(len(r)))
}

// packBatch packs [][]byte, []string or []any (of []byte / string) into a pooled batch.
func packBatch(records any) (*batch, error) {
	b := batchPool.Get().(*batch)
	b.data, b.lens, b.json = b.data[:0], b.lens[:0], false
	switch rs := records.(type) {
	case [][]byte:
		n := 0
		for _, r := range rs {
			n += len(r)
		}
		b.grow(n, len(rs))
		for _, r := range rs {
			b.add(r)
		}
	case []string:
		n := 0
		for _, r := range rs {
			n += len(r)
		}
		b.grow(n, len(rs))
		for _, r := range rs {
			b.addString(r)
		}
		b.json = true
	case []any:
		for i, r := range rs {
			switch v := r.(type) {
			case []byte:
				b.add(v)
			case string:
				b.addString(v)
				b.json = true
			default:
				b.release()
				return nil, newError(CodeInvalidArgument, "record %d is a %T, not a []byte or a string", i, r)
			}
		}
	default:
		b.release()
		return nil, newError(CodeInvalidArgument, "records are [][]byte, []string or []any, not %T", records)
	}
	return b, nil
}

func (b *batch) grow(bytes, count int) {
	if cap(b.data) < bytes {
		b.data = make([]byte, 0, bytes)
	}
	if cap(b.lens) < count {
		b.lens = make([]C.size_t, 0, count)
	}
}

func (b *batch) release() {
	if cap(b.data) > 16<<20 { // do not pin huge buffers in the pool
		b.data = nil
	}
	batchPool.Put(b)
}

// args passes the batch to C for the duration of one call (Go memory without Go pointers).
func (b *batch) args() (*C.uint8_t, C.size_t, *C.size_t, C.size_t) {
	d, n := bytesArg(b.data)
	lens := &zeroLen
	if len(b.lens) > 0 {
		lens = unsafe.SliceData(b.lens)
	}
	return d, n, lens, C.size_t(len(b.lens))
}

var zeroLen C.size_t

type ingestMode int

const (
	modeBlocking ingestMode = iota
	modeTry
	modeNowait
)

func (s *ZerobusStream) ingestOne(record any, mode ingestMode) (int64, error) {
	p, n, json, err := recordArg(record)
	if err != nil {
		return -1, err
	}
	off, err := ingestRecordC(s.cptr(), p, n, mode, json)
	runtime.KeepAlive(record)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	return off, err
}

func (s *ZerobusStream) ingestBatch(b *batch, mode ingestMode) (int64, error) {
	d, n, lens, count := b.args()
	off, err := ingestRecordsC(s.cptr(), d, n, lens, count, mode, b.json)
	runtime.KeepAlive(b)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	return off, err
}

func (s *ZerobusStream) ingestMany(records any, mode ingestMode) (int64, error) {
	b, err := packBatch(records)
	if err != nil {
		return -1, err
	}
	defer b.release()
	return s.ingestBatch(b, mode)
}

// IngestRecordOffset queues one record and returns its offset. A record is a []byte, read as
// the stream's record type (an encoded proto message on a Proto stream, JSON text on a JSON
// stream), or a string, which is always JSON text. On a Proto stream created from its table (no
// DescriptorProto) the library encodes a string by the table's columns; one that does not fit
// (unknown key, wrong type, missing NOT NULL column, overflow) fails that call with
// CodeInvalidRecord naming the column ("table t: loc.lat: expected DOUBLE, got string
// \"north\"") and queues nothing. On a Proto stream given a descriptor a string fails that call
// with CodeInvalidRecord and queues nothing (encode it to proto bytes first). The record is
// copied before the call returns. It blocks only while the in-flight bounds are reached.
func (s *ZerobusStream) IngestRecordOffset(record any) (int64, error) {
	return s.ingestOne(record, modeBlocking)
}

// IngestRecordsOffset queues records as ONE call under ONE offset, crossing into the library
// in one cgo call. The records are a [][]byte (read as the stream's record type), a []string
// (JSON text), or an []any of []byte and string elements: an []any holding at least one string
// is a JSON text batch (its []byte elements are then JSON text too); an []any of []byte only is
// read as the stream's record type. A JSON text batch on a Proto stream created from its table is
// encoded by the table's columns, every record before any is queued: a record that does not fit
// fails the whole call with CodeInvalidRecord naming its index and the column ("record 1 of the
// batch: table t: loc.lat: ..."); on a Proto stream given a descriptor it fails with
// CodeInvalidRecord. Nothing of a failed call is queued. An empty batch sends nothing and
// returns offset -1.
func (s *ZerobusStream) IngestRecordsOffset(records any) (int64, error) {
	return s.ingestMany(records, modeBlocking)
}

// IngestRecordsContiguousOffset queues len(lengths) records held back to back in data (record i
// is the next lengths[i] bytes, read as the stream's record type) as ONE call under ONE offset.
// It is the batch call without a copy on the Go side: data and lengths cross into the library
// as they are. The lengths must add up to len(data); an empty batch sends nothing and returns
// offset -1.
func (s *ZerobusStream) IngestRecordsContiguousOffset(data []byte, lengths []int) (int64, error) {
	return s.ingestContiguous(data, lengths, modeBlocking, false)
}

// IngestJSONRecordsContiguousOffset is IngestRecordsContiguousOffset for JSON text held back to
// back in data (JSON lines without their newlines, say), whatever the stream's record type: the
// batch goes through the library's JSON calls, as a []string batch does (encoded by the table's
// columns on a Proto stream created from its table), without a copy on the Go side.
func (s *ZerobusStream) IngestJSONRecordsContiguousOffset(data []byte, lengths []int) (int64, error) {
	return s.ingestContiguous(data, lengths, modeBlocking, true)
}

// lengthsArg passes lengths to C as size_t for the duration of one call: reinterpreted in place
// where int and size_t have the same width (every 64-bit target), copied otherwise.
func lengthsArg(lengths []int) (*C.size_t, error) {
	for i, l := range lengths {
		if l < 0 {
			return nil, newError(CodeInvalidArgument, "record %d has a negative length (%d)", i, l)
		}
	}
	if len(lengths) == 0 {
		return &zeroLen, nil
	}
	if unsafe.Sizeof(int(0)) == unsafe.Sizeof(C.size_t(0)) {
		return (*C.size_t)(unsafe.Pointer(unsafe.SliceData(lengths))), nil
	}
	out := make([]C.size_t, len(lengths))
	for i, l := range lengths {
		out[i] = C.size_t(l)
	}
	return unsafe.SliceData(out), nil
}

func (s *ZerobusStream) ingestContiguous(data []byte, lengths []int, mode ingestMode, json bool) (int64, error) {
	lens, err := lengthsArg(lengths)
	if err != nil {
		return -1, err
	}
	d, n := bytesArg(data)
	off, err := ingestRecordsC(s.cptr(), d, n, lens, C.size_t(len(lengths)), mode, json)
	runtime.KeepAlive(data)
	runtime.KeepAlive(lengths)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	return off, err
}

// TryIngestRecordOffset is IngestRecordOffset that never blocks: when the in-flight bounds are
// reached it fails with CodeQueueFull and queues nothing.
func (s *ZerobusStream) TryIngestRecordOffset(record any) (int64, error) {
	return s.ingestOne(record, modeTry)
}

// TryIngestRecordsOffset is IngestRecordsOffset that never blocks (CodeQueueFull instead).
func (s *ZerobusStream) TryIngestRecordsOffset(records any) (int64, error) {
	return s.ingestMany(records, modeTry)
}

// IngestRecordNowait queues one record without returning its offset. It never loses data: the
// record is queued before the call returns and accounted like IngestRecordOffset (its failure
// reaches ErrorCallback, Flush and Close). It blocks only while the in-flight bounds are reached.
func (s *ZerobusStream) IngestRecordNowait(record any) error {
	_, err := s.ingestOne(record, modeNowait)
	return err
}

// IngestRecordsNowait is IngestRecordsOffset without the offset, accounted the same way.
func (s *ZerobusStream) IngestRecordsNowait(records any) error {
	_, err := s.ingestMany(records, modeNowait)
	return err
}

// callCtx runs a blocking call, returning ctx.Err() as soon as ctx is done; the call itself
// then finishes in the background (the library offers no way to abandon it).
func callCtx(ctx context.Context, f func() error) error {
	if ctx.Done() == nil {
		return f()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IngestRecordOffsetContext is IngestRecordOffset honouring ctx while it waits for room in the
// in-flight bounds. It first tries without blocking; only when the queue is full does it wait,
// on a private copy of the record. If ctx ends first it returns ctx.Err(), and the record may
// still be queued later (it is then accounted by Flush, Close and the callbacks like any other):
// a cancelled ingest is "not known to be queued", never "lost".
func (s *ZerobusStream) IngestRecordOffsetContext(ctx context.Context, record any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	off, err := s.ingestOne(record, modeTry)
	if !errors.Is(err, CodeQueueFull) {
		return off, err
	}
	// A []byte may change once this returns, so the background call gets its own copy; a
	// string is immutable and keeps its kind (JSON text).
	own := record
	if r, ok := record.([]byte); ok {
		own = append([]byte{}, r...)
	}
	return awaitOffset(ctx, func() (int64, error) { return s.ingestOne(own, modeBlocking) })
}

// awaitOffset runs a blocking ingest in the background and waits for it or for ctx.
func awaitOffset(ctx context.Context, f func() (int64, error)) (int64, error) {
	type result struct {
		off int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		o, e := f()
		done <- result{o, e}
	}()
	select {
	case r := <-done:
		return r.off, r.err
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// IngestRecordsOffsetContext is IngestRecordsOffset honouring ctx, with the semantics of
// IngestRecordOffsetContext.
func (s *ZerobusStream) IngestRecordsOffsetContext(ctx context.Context, records any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	b, err := packBatch(records)
	if err != nil {
		return -1, err
	}
	off, err := s.ingestBatch(b, modeTry)
	if !errors.Is(err, CodeQueueFull) {
		b.release()
		return off, err
	}
	// The packed batch is already a private copy: the background call owns it from here.
	return awaitOffset(ctx, func() (int64, error) {
		defer b.release()
		return s.ingestBatch(b, modeBlocking)
	})
}

// WaitForOffset blocks until offset is acknowledged, the stream fails, or FlushTimeoutMs passes.
func (s *ZerobusStream) WaitForOffset(offset int64) error {
	var cerr *C.zerobus_error
	ok := C.zerobus_stream_wait_for_offset(s.cptr(), C.int64_t(offset), &cerr)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	if !ok {
		return takeError(cerr)
	}
	return nil
}

// WaitForOffsetContext is WaitForOffset returning ctx.Err() as soon as ctx is done.
func (s *ZerobusStream) WaitForOffsetContext(ctx context.Context, offset int64) error {
	return callCtx(ctx, func() error { return s.WaitForOffset(offset) })
}

// Flush blocks until every record queued so far is acknowledged, at most FlushTimeoutMs.
func (s *ZerobusStream) Flush() error {
	var cerr *C.zerobus_error
	ok := C.zerobus_stream_flush(s.cptr(), &cerr)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	if !ok {
		return takeError(cerr)
	}
	return nil
}

// FlushContext is Flush returning ctx.Err() as soon as ctx is done (records stay queued).
func (s *ZerobusStream) FlushContext(ctx context.Context) error {
	return callCtx(ctx, s.Flush)
}

// Close flushes, half-closes, waits for the server and stops the callbacks; no callback runs
// after it returns. Idempotent: a second call returns the first one's result. After Close,
// ingest calls fail with CodeStreamClosed and GetUnacked* still answer.
func (s *ZerobusStream) Close() error {
	var cerr *C.zerobus_error
	ok := C.zerobus_stream_close(s.cptr(), &cerr)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	if !ok {
		return takeError(cerr)
	}
	return nil
}

// CloseContext is Close returning ctx.Err() as soon as ctx is done; the close then completes
// in the background.
func (s *ZerobusStream) CloseContext(ctx context.Context) error {
	return callCtx(ctx, s.Close)
}

// IsClosed reports whether the stream no longer accepts records (closed or failed). It is false
// for a zero ZerobusStream, as the library answers for a handle it does not hold.
func (s *ZerobusStream) IsClosed() bool {
	closed := C.zerobus_stream_is_closed(s.cptr())
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	return bool(closed)
}

// Metrics returns the stream's counters. It never blocks.
func (s *ZerobusStream) Metrics() (Metrics, error) {
	var m C.zerobus_metrics
	var cerr *C.zerobus_error
	ok := C.zerobus_stream_metrics(s.cptr(), &m, &cerr)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
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

// GetUnackedBatches returns every unacknowledged ingest call as a batch of records, in offset
// order: after a terminal failure, what to re-ingest on a new stream.
func (s *ZerobusStream) GetUnackedBatches() ([][][]byte, error) {
	var cerr *C.zerobus_error
	b := C.zerobus_stream_get_unacked_batches(s.cptr(), &cerr)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	if b == nil {
		return nil, takeError(cerr)
	}
	return copyBatches(b)
}

// GetUnackedRecords returns every unacknowledged record in order.
func (s *ZerobusStream) GetUnackedRecords() ([][]byte, error) {
	var cerr *C.zerobus_error
	b := C.zerobus_stream_get_unacked_records(s.cptr(), &cerr)
	runtime.KeepAlive(s) // s.h (and its cleanup) stays alive across the C call
	if b == nil {
		return nil, takeError(cerr)
	}
	batches, err := copyBatches(b)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, batch := range batches {
		out = append(out, batch...)
	}
	return out, nil
}

// copyBatches copies a library batches object into Go memory and frees it.
func copyBatches(b *C.zerobus_batches) ([][][]byte, error) {
	defer C.zerobus_batches_free(b)
	count := int(C.zerobus_batches_count(b))
	out := make([][][]byte, count)
	for i := range count {
		n := int(C.zerobus_batches_batch_len(b, C.size_t(i)))
		records := make([][]byte, n)
		for j := range n {
			var data *C.uint8_t
			var length C.size_t
			if !C.zerobus_batches_record(b, C.size_t(i), C.size_t(j), &data, &length) {
				return nil, newError(CodeInternal, "unacked record %d of batch %d is missing", j, i)
			}
			records[j] = C.GoBytes(unsafe.Pointer(data), C.int(length))
		}
		out[i] = records
	}
	return out, nil
}

// LibraryVersion is the version of the linked libzerobus.
func LibraryVersion() string { return C.GoString(C.zerobus_version()) }
