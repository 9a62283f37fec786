// Type definitions for @databricks/zerobus-ingest-sdk.
//
// Hand-reviewed: this file is the TypeScript API. test/types.test.mjs compares it with
// test/index.d.ts.snapshot so every change to the API shows in review.
//
// Names follow the published TypeScript SDK (code ports by changing only the dependency).
// Differences, all deliberate: RecordType values are the wire values; the headers provider is asked
// on every connect; ack/error callbacks; `ingestRecordNowait` / `ingestRecordsNowait` that never
// lose data; non-blocking `try` forms; `Symbol.asyncDispose`; errors are `ZerobusError` with
// `code`, `grpcStatus` and `retryable`. Arrow streams: the schema is an apache-arrow `Schema`, IPC
// bytes or the table's (the published `{ tableName, schemaFields }` form works too); `ingestBatch`
// also takes apache-arrow `Table`s and `RecordBatch`es; `getUnackedBatches()` gives
// `RecordBatch`es, `getUnackedIpc()` the IPC bytes; callbacks and `metrics()` work on them.

/// <reference types="node" />

/** How records are encoded on the wire. The values equal the wire enum. */
export declare enum RecordType {
  /**
   * Protocol buffer messages described by `TableProperties.descriptorProto`; without one, the
   * stream is opened from the table (its schema gives the descriptor, and objects or JSON text
   * given to the stream are encoded to proto by the core).
   */
  Proto = 1,
  /** One JSON object per record. */
  Json = 2,
}

/** The closed list of error codes, the same in every language of the SDK. */
export type ErrorCodeName =
  | 'INVALID_ARGUMENT'
  | 'INVALID_RECORD'
  | 'RECORD_TOO_LARGE'
  | 'QUEUE_FULL'
  | 'STREAM_CLOSED'
  | 'TIMEOUT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'SERVER_ERROR'
  | 'PROTOCOL_ERROR'
  | 'TOKEN_ENDPOINT_ERROR'
  | 'INTERNAL'

/** Every error code by name (`ErrorCode.QUEUE_FULL === 'QUEUE_FULL'`). */
export declare const ErrorCode: Readonly<{ [K in ErrorCodeName]: K }>

/** Every failure of the SDK. */
export declare class ZerobusError extends Error {
  constructor(code: ErrorCodeName, message: string, grpcStatus?: number | null, retryable?: boolean, options?: ErrorOptions)
  readonly name: 'ZerobusError'
  /** What went wrong, from the closed list. */
  readonly code: ErrorCodeName
  /** The gRPC status code the server answered with, or null when the server did not answer. */
  readonly grpcStatus: number | null
  /** Whether the same operation may succeed later (after recovery, or on a new stream). */
  readonly retryable: boolean
}

/** The table a stream writes to and, for PROTO streams, the record schema. */
export interface TableProperties {
  /** `catalog.schema.table`. */
  tableName: string
  /**
   * A serialized `google.protobuf.DescriptorProto`, as base64 text (as published) or bytes.
   * Left out on a PROTO stream, the stream is opened **from the table**: the SDK reads the
   * table's schema from Unity Catalog when the stream is created (`ZerobusStream.tableSchema`),
   * and plain objects or JSON text given to the stream are encoded to proto by the columns'
   * types, in the core.
   */
  descriptorProto?: string | Uint8Array
}

/** One column of a table. */
export interface TableColumn {
  name: string
  /** The SQL type as Unity Catalog's `type_text` spells it: `bigint`, `decimal(10,2)`, `array<string>`, `struct<lat:double,lon:double>`. */
  typeText: string
  /** Unity Catalog's `type_name`: `LONG`, `DECIMAL`, `ARRAY`, `STRUCT`, … */
  typeName: string
  /** False for a `NOT NULL` column. */
  nullable: boolean
  /** Zero-based position; the proto field number is `position + 1`. */
  position: number
}

/** A table's schema as Unity Catalog describes it, and the proto2 record message the SDK derives from it. */
export interface TableSchema {
  /** `catalog.schema.table`. */
  tableName: string
  /** In position order. */
  columns: TableColumn[]
  /**
   * The serialized `DescriptorProto` of the table's record message (what a stream from the
   * table is opened with; usable as `TableProperties.descriptorProto`). Null when a column's
   * type has no proto2 form (`protoError` says which); write such a table as JSON.
   */
  descriptorProto: Buffer | null
  /**
   * The record message as a `.proto` (proto2) file. Null when `descriptorProto` is, or when a
   * column name is not a proto identifier (the descriptor can still carry it); `protoError` says why.
   */
  protoFile: string | null
  /** Why `descriptorProto` or `protoFile` is null; otherwise null. */
  protoError: string | null
}

/**
 * Stream options. Every field is optional; the defaults are the core's. Numbers must be
 * non-negative integers; the core checks every value against its range when the stream is
 * created and rejects one out of range with `INVALID_ARGUMENT` naming the option, the value and
 * the range.
 */
export interface StreamConfigurationOptions {
  /** Unacknowledged ingest calls (a record or a batch each) at most. Default 50,000. */
  maxInflightRequests?: number
  /** Unacknowledged record bytes at most. Default 64 MiB. */
  maxInflightBytes?: number
  /** Reconnect and resend unacked calls after a retryable failure. Default true. */
  recovery?: boolean
  /** Bound on each connection attempt, ms. Default 15,000. */
  recoveryTimeoutMs?: number
  /**
   * Wait before the second connection attempt in a row, ms; each later attempt waits twice as
   * long, up to `recoveryBackoffMaxMs`, plus up to a quarter more at random. The first attempt
   * after a connection that made progress does not wait. Default 2,000.
   */
  recoveryBackoffMs?: number
  /** Cap on the wait between connection attempts (before jitter), ms; at least `recoveryBackoffMs`. Default 30,000. */
  recoveryBackoffMaxMs?: number
  /** Connection attempts in a row without an ack before the stream fails for good (an ack restores the budget). Default 4. */
  recoveryRetries?: number
  /** Records waiting and nothing heard from the server this long: reconnect, ms. Default 60,000. */
  serverLackOfAckTimeoutMs?: number
  /** Bound on `flush()`, `waitForOffset()` and `close()`'s flush, ms. Default 300,000. */
  flushTimeoutMs?: number
  /** JSON or PROTO. Default `RecordType.Proto` (as published). */
  recordType?: RecordType
  /** After a server close signal, wait at most this long for acks before reconnecting, ms. Default: the server's duration. */
  streamPausedMaxWaitTimeMs?: number
  /** How long `close()` waits for callbacks still running, ms. Default 5,000. */
  callbackMaxWaitTimeMs?: number
  /** Called once per offset, in order, when it (and every earlier one) is durable. */
  ackCallback?: (offset: bigint) => void
  /** Called once per offset that failed for good; its records stay in `getUnackedBatches()`. */
  errorCallback?: (offset: bigint, message: string) => void
}

/**
 * Supplies the call headers instead of OAuth; asked on every connect. If it throws (or rejects)
 * with an error whose `code` is one of `ErrorCodeName` (a `ZerobusError`, or any `Error` with
 * that `code`), the connection attempt fails with that code and the error's message, and the
 * core decides from the code whether to retry; any other error counts as `UNAVAILABLE`
 * (retried within the recovery budget).
 */
export interface HeadersProvider {
  /** `authorization` and `x-databricks-zerobus-table-name` at least. */
  getHeaders(): Promise<Array<[string, string]>> | Array<[string, string]>
}

/** The published SDK's form of a headers provider. */
export interface HeadersProviderCallback {
  getHeadersCallback: () => Promise<Array<[string, string]>> | Array<[string, string]>
}

/** Protobufjs-style message: `encode()` returns bytes or a writer with `finish()`. */
export interface EncodableMessage {
  encode(): Uint8Array | { finish(): Uint8Array }
}

/**
 * One record: JSON text or a plain object (JSON streams; objects go through `JSON.stringify`),
 * proto bytes or a protobuf message (PROTO streams; a protobufjs message is encoded with its
 * type's `encode(msg).finish()`). A PROTO stream opened from its table takes all of them: JSON
 * text and plain objects are encoded to proto by the columns' types, with `Date` as RFC 3339
 * text, `bigint` as its decimal text, `Buffer` / `Uint8Array` / `ArrayBuffer` as base64, `Map`
 * as an object, `Set` and other typed arrays as lists, and `NaN` / `±Infinity` as their names.
 */
export type RecordPayload = string | Uint8Array | EncodableMessage | object

/** A snapshot of a stream's counters. */
export interface StreamMetrics {
  inflightRequests: number
  inflightRecords: number
  inflightBytes: number
  /** Highest acknowledged offset, or null. */
  lastAckedOffset: number | null
  recordsSent: number
  recordsResent: number
  recoveries: number
  tokenFetches: number
}

/** One ingest stream to one table. */
export declare class ZerobusStream implements AsyncDisposable {
  private constructor()
  /** Queues one record; resolves to its offset once queued (waits while the in-flight bounds are reached). */
  ingestRecordOffset(payload: RecordPayload): Promise<bigint>
  /** Queues a batch under one offset (all-or-nothing); resolves to it, or null for an empty batch. */
  ingestRecordsOffset(records: RecordPayload[]): Promise<bigint | null>
  /** Like `ingestRecordOffset` without the offset; failures still reach callbacks, `flush()` and `close()`. */
  ingestRecordNowait(payload: RecordPayload): Promise<void>
  /** Like `ingestRecordsOffset` without the offset. */
  ingestRecordsNowait(records: RecordPayload[]): Promise<void>
  /** Queues one record if there is room now; otherwise throws `QUEUE_FULL` and queues nothing. */
  tryIngestRecordOffset(payload: RecordPayload): bigint
  /** Non-blocking batch form; null for an empty batch. */
  tryIngestRecordsOffset(records: RecordPayload[]): bigint | null
  /** @deprecated As published: resolves to the offset once acknowledged. Prefer `ingestRecordOffset` + `waitForOffset`. */
  ingestRecord(payload: RecordPayload): Promise<bigint>
  /** @deprecated As published: resolves to the batch's offset once acknowledged (null if empty). */
  ingestRecords(records: RecordPayload[]): Promise<bigint | null>
  /** Waits until `offset` (and every earlier one) is acknowledged. */
  waitForOffset(offset: bigint | number): Promise<void>
  /** Waits until every record queued so far is acknowledged. */
  flush(): Promise<void>
  /** Flushes and closes; idempotent. Afterwards no callback runs and nothing keeps the process alive. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
  /** Whether the stream no longer accepts records (closed or failed for good). */
  readonly isClosed: boolean
  /** The stream's record type. */
  readonly recordType: RecordType
  /** The server's id for the current connection. */
  readonly streamId: string
  /** The table's schema when the stream was opened from it (PROTO with no `descriptorProto`), else null. */
  readonly tableSchema: TableSchema | null
  /** Records of every unacknowledged call, in offset order (JSON as UTF-8 bytes). */
  getUnackedRecords(): Promise<Buffer[]>
  /** Every unacknowledged call as its list of records. */
  getUnackedBatches(): Promise<Buffer[][]>
  /** A snapshot of the stream's counters. */
  metrics(): StreamMetrics
}

/** Body compression of the IPC batches the core encodes. The values are the core's names. */
export declare enum IpcCompressionType {
  None = 'none',
  Lz4Frame = 'lz4_frame',
  Zstd = 'zstd',
}

/** Column types of the published `ArrowTableProperties.schemaFields` (same values). */
export declare enum ArrowDataType {
  Boolean = 0,
  Int8 = 1,
  Int16 = 2,
  Int32 = 3,
  Int64 = 4,
  UInt8 = 5,
  UInt16 = 6,
  UInt32 = 7,
  UInt64 = 8,
  Float32 = 9,
  Float64 = 10,
  Utf8 = 11,
  LargeUtf8 = 12,
  Binary = 13,
  LargeBinary = 14,
  Date32 = 15,
  Date64 = 16,
  /** Timestamp(µs, "UTC"): a Delta TIMESTAMP. */
  TimestampMicros = 17,
  /** Timestamp(ns, "UTC"). */
  TimestampNanos = 18,
}

/** One column of the published form's schema. */
export interface ArrowField {
  name: string
  dataType: ArrowDataType
  /** Default true. */
  nullable?: boolean
}

/** The published form's table and schema (`schemaFields` left out: the schema comes from the table). */
export interface ArrowTableProperties {
  /** `catalog.schema.table`. */
  tableName: string
  schemaFields?: ArrowField[]
}

// apache-arrow is an optional peer dependency, so these files do not import its types (a project
// without it would not compile): the Arrow objects are described by the parts the SDK reads,
// which apache-arrow's `Schema`, `Table` and `RecordBatch` (any recent version) have.

/** An apache-arrow `Schema`. */
export interface ArrowSchemaLike {
  readonly fields: ReadonlyArray<unknown>
  readonly metadata: Map<string, string>
}

/** An apache-arrow `RecordBatch`. */
export interface ArrowRecordBatchLike {
  readonly schema: ArrowSchemaLike
  readonly data: unknown
  readonly numRows: number
}

/** An apache-arrow `Table`. */
export interface ArrowTableLike {
  readonly schema: ArrowSchemaLike
  readonly batches: ReadonlyArray<ArrowRecordBatchLike>
}

/**
 * What `createArrowStream` takes as the schema: an apache-arrow `Schema`, the IPC bytes of a
 * schema-only Arrow stream, or null / undefined for the table's own (read from Unity Catalog when
 * the stream is created; STRING is LargeUtf8, TIMESTAMP is Timestamp(µs, "UTC"), …, as the SDK
 * maps Delta types to Arrow).
 */
export type ArrowSchemaInput = ArrowSchemaLike | Uint8Array | null | undefined

/**
 * One `ingestBatch` call's data: an apache-arrow `Table` (all its batches under one offset) or
 * `RecordBatch`, or the bytes of an Arrow IPC stream (a schema message, then record batches, as
 * `tableToIPC(table, 'stream')` writes them; sent as they are, not re-encoded).
 */
export type ArrowBatchInput = ArrowTableLike | ArrowRecordBatchLike | Uint8Array

/**
 * Arrow stream options. Every field is optional; the defaults are the core's, which checks every
 * value against its range when the stream is created (`INVALID_ARGUMENT` naming the option).
 */
export interface ArrowStreamConfigurationOptions {
  /** Unacknowledged `ingestBatch` calls at most. Default 1,000. */
  maxInflightBatches?: number
  /** Unacknowledged IPC bytes at most. Default 64 MiB. */
  maxInflightBytes?: number
  /** Reconnect and resend unacked rows after a retryable failure. Default true. */
  recovery?: boolean
  /** Bound on each connection attempt, ms. Default 15,000. */
  recoveryTimeoutMs?: number
  /** Wait before the second connection attempt in a row, ms, doubling up to `recoveryBackoffMaxMs` (plus jitter). Default 2,000. */
  recoveryBackoffMs?: number
  /** Cap on the wait between connection attempts, ms. Default 30,000. */
  recoveryBackoffMaxMs?: number
  /** Connection attempts in a row without an ack before the stream fails for good. Default 4. */
  recoveryRetries?: number
  /** Batches waiting and nothing heard from the server this long: reconnect, ms. Default 60,000. */
  serverLackOfAckTimeoutMs?: number
  /** Bound on `flush()`, `waitForOffset()` and `close()`'s flush, ms. Default 300,000. */
  flushTimeoutMs?: number
  /** Bound on waiting for the server's ready signal on each connection, ms. Default 30,000. */
  connectionTimeoutMs?: number
  /**
   * Body compression of the batches the core encodes. Default none. IPC bytes (and so the
   * batches of a `Table` or `RecordBatch`, which apache-arrow writes uncompressed) are sent with
   * the compression they were written with.
   */
  ipcCompression?: IpcCompressionType | 'none' | 'lz4_frame' | 'zstd'
  /** After a server close signal, wait at most this long for acks before reconnecting, ms. Default: the server's duration. */
  streamPausedMaxWaitTimeMs?: number
  /** How long `close()` waits for callbacks still running, ms. Default 5,000. */
  callbackMaxWaitTimeMs?: number
  /** Called once per offset, in order, when every row of it (and of every earlier one) is durable. */
  ackCallback?: (offset: bigint) => void
  /** Called once per offset that failed for good; its rows stay in `getUnackedBatches()`. */
  errorCallback?: (offset: bigint, message: string) => void
}

/**
 * A stream of Arrow record batches into one table (Arrow Flight `DoPut`). Each `ingestBatch` call
 * gets one offset, whatever the number of rows or batches it carries.
 */
export declare class ZerobusArrowStream implements AsyncDisposable {
  private constructor()
  /**
   * Queues a `Table`, a `RecordBatch` or IPC stream bytes under one offset; resolves to it once
   * queued (waits while the in-flight bounds are reached). Columns must be the stream's, in
   * order, with the same types (`INVALID_RECORD` names the column that is not).
   */
  ingestBatch(data: ArrowBatchInput): Promise<bigint>
  /**
   * `ingestBatch` without copying the data: the SDK sends the batch's own memory and holds its
   * buffers until every row of the call is acknowledged (or the call fails, or the stream is
   * collected). Until `waitForOffset` / `flush` resolves for the returned offset, do not write
   * the batch's buffers and do not transfer or detach their ArrayBuffers (`postMessage` transfer
   * lists, `ArrayBuffer.prototype.transfer`). For data you keep (a table read once and sent, a
   * pool); for a batch built per call and dropped, `ingestBatch`'s copy bounds memory exactly.
   * Shared memory and batches apache-arrow writes as IPC first are copied, as by `ingestBatch`.
   */
  ingestBatchNoCopy(data: ArrowBatchInput): Promise<bigint>
  /** Waits until `offset` (and every earlier one) is acknowledged. */
  waitForOffset(offset: bigint | number): Promise<void>
  /** Waits until every batch queued so far is acknowledged. */
  flush(): Promise<void>
  /** Flushes and closes; idempotent. Afterwards no callback runs. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
  /** Whether the stream no longer accepts batches (closed or failed for good). */
  readonly isClosed: boolean
  /** The table this stream writes to. */
  readonly tableName: string
  /** The schema batches must have (the table's, for a stream from the table), an apache-arrow `Schema`. Needs apache-arrow. */
  readonly schema: ArrowSchemaLike
  /** The same schema as the IPC bytes of a schema-only Arrow stream. */
  readonly schemaIpc: Buffer
  /**
   * The unacknowledged rows, in offset order, as apache-arrow `RecordBatch`es of the stream's
   * schema (`getUnackedBatches<RecordBatch>()` for apache-arrow's own type). Needs apache-arrow.
   */
  getUnackedBatches<T extends ArrowRecordBatchLike = ArrowRecordBatchLike>(): Promise<T[]>
  /** The unacknowledged rows as one Arrow IPC stream (the schema, then the batches). */
  getUnackedIpc(): Promise<Buffer>
  /** A snapshot of the stream's counters; records are rows. */
  metrics(): StreamMetrics
}

/** Options of a `ZerobusSdk`. */
export interface ZerobusSdkOptions {
  /** CA certificates to trust besides the system roots (private deployments, TLS-inspecting proxies): PEM text or bytes, or a list of them. */
  caCertificatesPem?: string | Uint8Array | Array<string | Uint8Array>
  /** Appended to the `user-agent` header so the service can tell applications apart. */
  applicationName?: string
}

/** The entry point; streams of one SDK share its token cache. */
export declare class ZerobusSdk {
  /** `endpoint`: the Zerobus gRPC endpoint; `workspaceUrl`: where OAuth tokens come from. */
  constructor(endpoint: string, workspaceUrl: string, options?: ZerobusSdkOptions)
  /**
   * Opens a stream. OAuth client credentials unless `headersProvider` is given; then the
   * credentials are ignored and the provider is asked for headers on every connect. A PROTO
   * stream (the default record type) without `tableProperties.descriptorProto` is opened from
   * the table: its schema is read first, with the same credentials.
   */
  createStream(
    tableProperties: TableProperties,
    clientId: string,
    clientSecret: string,
    options?: StreamConfigurationOptions,
    headersProvider?: HeadersProvider | HeadersProviderCallback | (() => Promise<Array<[string, string]>> | Array<[string, string]>),
  ): Promise<ZerobusStream>
  /**
   * Opens an Arrow stream to `tableName` with `schema` (see `ArrowSchemaInput`; null = the
   * table's). OAuth client credentials unless `headersProvider` is given.
   */
  createArrowStream(
    tableName: string,
    schema: ArrowSchemaInput,
    clientId: string,
    clientSecret: string,
    options?: ArrowStreamConfigurationOptions,
    headersProvider?: HeadersProvider | HeadersProviderCallback | (() => Promise<Array<[string, string]>> | Array<[string, string]>),
  ): Promise<ZerobusArrowStream>
  /** The published form: the schema as `tableProperties.schemaFields` (left out: the table's). */
  createArrowStream(
    tableProperties: ArrowTableProperties,
    clientId: string,
    clientSecret: string,
    options?: ArrowStreamConfigurationOptions,
    headersProvider?: HeadersProvider | HeadersProviderCallback | (() => Promise<Array<[string, string]>> | Array<[string, string]>),
  ): Promise<ZerobusArrowStream>
  /**
   * Reads a table's schema from Unity Catalog (`GET {workspaceUrl}/api/2.1/unity-catalog/tables/{tableName}`)
   * with the credentials a stream on it uses: OAuth client credentials, or the `authorization`
   * header `headersProvider` returns. `UNAUTHENTICATED` / `PERMISSION_DENIED` / `NOT_FOUND` as
   * Unity Catalog answers; retryable failures are retried as a stream's creation is.
   */
  getTableSchema(
    tableName: string,
    clientId: string,
    clientSecret: string,
    headersProvider?: HeadersProvider | HeadersProviderCallback | (() => Promise<Array<[string, string]>> | Array<[string, string]>),
  ): Promise<TableSchema>
}
