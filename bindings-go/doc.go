// Package zerobus is the Go binding of the Zerobus Ingest SDK: cgo over the project's C ABI
// (ffi-c/include/zerobus.h) and the static libzerobus.a, which hold all behaviour (OAuth,
// streams, offsets, backpressure, recovery).
//
// The published Go SDK's names are kept (NewZerobusSdk, CreateStream, IngestRecordOffset,
// IngestRecordsOffset, WaitForOffset, Flush, Close, GetUnackedRecords, ...). On top of them:
// context.Context variants of the blocking calls, options whose zero values can be expressed,
// ack and error callbacks, nowait calls accounted like the others, and one error type
// (*Error, with Code, GRPCStatus and Retryable) reachable with errors.As.
//
// A string record is JSON text (the library's JSON calls): on a Proto stream created from its
// table (TableProperties without a DescriptorProto) the library encodes it by the table's
// columns; on a Proto stream given a descriptor it is CodeInvalidRecord. A []byte record is read
// as the stream's record type. GetTableSchema reads a table's columns and descriptor.
//
// At the boundary C never keeps a Go pointer: inputs are copied during each call, callback
// state crosses as a runtime/cgo.Handle, a batch crosses in one call (one buffer plus
// lengths). Close streams with Close; a cleanup only closes and frees streams dropped without it.
package zerobus
