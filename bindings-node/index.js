'use strict'
// @databricks/zerobus-ingest-sdk: the idiomatic JavaScript surface over the native addon
// (src/lib.rs). This file only converts types and renders errors; offsets, backpressure, retries,
// timers and buffers all live in the Rust core (see ../ARCHITECTURE.md).

const path = require('node:path')

const native = require(process.env.ZEROBUS_NODE_ADDON || path.join(__dirname, 'zerobus.node'))

/** Record encodings; the values are the wire values. */
const RecordType = Object.freeze({ Proto: 1, Json: 2, 1: 'Proto', 2: 'Json' })

/** The cross-language error code names, in the core's order. */
const ErrorCode = Object.freeze(Object.fromEntries(native.errorCodes().map((c) => [c, c])))

/**
 * Every failure of the SDK: `code` is one of `ErrorCode`, `grpcStatus` the server's gRPC status
 * when it answered (else null), `retryable` whether the same operation may succeed later.
 */
class ZerobusError extends Error {
  constructor(code, message, grpcStatus = null, retryable = false, options) {
    super(message, options)
    this.name = 'ZerobusError'
    this.code = code
    this.grpcStatus = grpcStatus
    this.retryable = retryable
  }
}

const TAG = '\u0001ZB|'

// The `code` napi-rs gives the errors it throws (its `Status` names): a value of the wrong type
// passed to the addon, or a failed N-API call / a panic napi-rs caught.
const NAPI_TYPE_ERRORS = new Set([
  'InvalidArg', 'ObjectExpected', 'StringExpected', 'NameExpected', 'FunctionExpected', 'NumberExpected',
  'BooleanExpected', 'ArrayExpected', 'BigintExpected', 'DateExpected', 'ArrayBufferExpected',
])
const NAPI_FAILURES = new Set([
  'GenericFailure', 'PendingException', 'Cancelled', 'EscapeCalledTwice', 'HandleScopeMismatch',
  'CallbackScopeMismatch', 'QueueFull', 'Closing', 'DetachableArraybufferExpected', 'WouldDeadlock',
  'NoExternalBuffersAllowed', 'Unknown',
])

function messageOf(e) {
  if (e && typeof e.message === 'string') return e.message
  try {
    return String(e)
  } catch {
    return 'an error without a message'
  }
}

// Turns an error into a ZerobusError. The addon's own errors carry the core's code; napi-rs's
// argument conversion errors (a value of the wrong type) are INVALID_ARGUMENT; its other errors
// (a failed N-API call, a panic it caught) are INTERNAL. Anything else was thrown by the caller's
// own code while the SDK read an argument (a getter, `toJSON`, `encode()`, `JSON.stringify` of a
// BigInt): `userCode` (INVALID_RECORD for records), with the original as `cause`.
function toError(e, userCode = 'INVALID_ARGUMENT') {
  if (e instanceof ZerobusError) return e
  const msg = messageOf(e)
  if (msg.startsWith(TAG)) {
    const parts = msg.slice(TAG.length).split('|')
    const [code, grpc, retryable] = parts
    const message = parts.slice(3).join('|')
    return new ZerobusError(code, message, grpc === '' ? null : Number(grpc), retryable === '1')
  }
  const napiCode = e && typeof e.code === 'string' ? e.code : undefined
  if (NAPI_TYPE_ERRORS.has(napiCode)) return new ZerobusError('INVALID_ARGUMENT', msg, null, false, { cause: e })
  if (NAPI_FAILURES.has(napiCode)) {
    return new ZerobusError('INTERNAL', `the Node binding failed (a bug: please report it): ${msg}`, null, false, { cause: e })
  }
  const what = userCode === 'INVALID_RECORD' ? 'reading the record' : 'reading an argument'
  return new ZerobusError(userCode, `${what} threw: ${msg}`, null, false, { cause: e })
}

function recordError(e) {
  return toError(e, 'INVALID_RECORD')
}

function rethrow(e) {
  throw toError(e)
}

// A synchronous call into the addon, its errors as ZerobusError.
function callNative(call) {
  try {
    return call()
  } catch (e) {
    throw toError(e)
  }
}

function base64(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

// The `JSON.stringify` replacer of objects given to a stream opened from its table: JavaScript
// values JSON has no form for become the text forms the core's typed encoder reads by each
// column's type (PROTOCOL.md §7). `Date` needs nothing here: its `toJSON` already gives RFC 3339
// text. Primitives come first and cost one `typeof`; objects are checked only for the few types
// that need it. Everything else (and the whole encoding into proto) is the core's.
function typedValue(key, value) {
  if (typeof value !== 'object') {
    if (typeof value === 'number') return Number.isFinite(value) ? value : String(value) // "NaN", "Infinity", "-Infinity"
    return typeof value === 'bigint' ? value.toString() : value
  }
  if (value === null) {
    // An invalid Date's toJSON gives null; say so, and the core names the column it was for.
    return this[key] instanceof Date ? 'Invalid Date' : null
  }
  if (Array.isArray(value)) return value
  // A Buffer has already been through Buffer.prototype.toJSON ({ type: 'Buffer', data: [...] }):
  // look at what the holder really holds.
  if (value.type === 'Buffer') {
    const raw = this[key]
    if (Buffer.isBuffer(raw)) return base64(raw)
  }
  if (value instanceof Uint8Array) return base64(value)
  if (value instanceof ArrayBuffer) return Buffer.from(value).toString('base64')
  if (value instanceof Map) return Object.fromEntries(value)
  if (value instanceof Set) return Array.from(value)
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value)
  return value
}

// An object given to a stream opened from its table → its JSON text.
function typedJson(payload) {
  const text = JSON.stringify(payload, typedValue)
  if (typeof text !== 'string') {
    throw new ZerobusError('INVALID_RECORD', `a record must be an object; got ${typeof payload}`)
  }
  return text
}

// Payload → what the addon takes: a string (JSON text) or a Buffer (proto bytes). `typed`: the
// stream was opened from its table, so objects become JSON text by `typedValue` and the core
// encodes that text by the table's schema.
function toRecord(payload, typed) {
  if (typeof payload === 'string') return payload
  if (payload instanceof Uint8Array) {
    return Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  }
  if (payload !== null && typeof payload === 'object') {
    let encoded
    if (typeof payload.encode === 'function') {
      encoded = payload.encode()
    } else if (payload.constructor && typeof payload.constructor.encode === 'function') {
      encoded = payload.constructor.encode(payload) // protobufjs: Message.encode(msg).finish()
    }
    if (encoded !== undefined) {
      if (encoded && typeof encoded.finish === 'function') encoded = encoded.finish()
      if (!(encoded instanceof Uint8Array)) {
        throw new ZerobusError('INVALID_RECORD', 'encode() must return bytes or a writer with finish()')
      }
      return toRecord(encoded, false)
    }
    return typed ? typedJson(payload) : JSON.stringify(payload)
  }
  throw new ZerobusError(
    'INVALID_RECORD',
    `a record must be a string, a plain object, a Buffer/Uint8Array or a protobuf message; got ${payload === null ? 'null' : typeof payload}`
  )
}

// Each record of a batch → a string (JSON text) or a Buffer (bytes), and whether all are text.
function toRecords(records, typed) {
  const n = records.length
  const recs = new Array(n)
  let texts = 0
  for (let i = 0; i < n; i++) {
    const r = toRecord(records[i], typed)
    recs[i] = r
    if (typeof r === 'string') texts++
  }
  return [recs, texts]
}

// A batch that is not all text → one contiguous buffer plus per-record lengths, handed to Rust in
// one call. (An all-text batch goes to the addon's `texts` instead, which converts each string
// straight into its contiguous buffer: measured faster than `Buffer.write` here.)
function toBatch(recs, texts) {
  const n = recs.length
  let upper = 0
  for (let i = 0; i < n; i++) {
    const r = recs[i]
    upper += typeof r === 'string' ? r.length * 3 : r.length // UTF-16 code unit → at most 3 UTF-8 bytes
  }
  const data = Buffer.allocUnsafe(upper)
  const lengths = new Uint32Array(n)
  let pos = 0
  for (let i = 0; i < n; i++) {
    const r = recs[i]
    const len = typeof r === 'string' ? data.write(r, pos) : r.copy(data, pos)
    lengths[i] = len
    pos += len
  }
  // A batch mixing text and bytes says which is which, so the core reports the mismatch.
  let kinds = null
  if (texts !== 0 && texts !== n) {
    kinds = new Uint8Array(n)
    for (let i = 0; i < n; i++) kinds[i] = typeof recs[i] === 'string' ? 1 : 0
  }
  return [data.subarray(0, pos), lengths, texts === n, kinds]
}

function toBigInt(offset) {
  return offset === null ? null : BigInt(offset)
}

function toNumberOffset(offset) {
  if (typeof offset === 'bigint') return Number(offset)
  if (typeof offset === 'number') return offset
  throw new ZerobusError('INVALID_ARGUMENT', 'an offset is a bigint (or a number)')
}

const FULL = -1
const PER_RECORD = -2

const RESOLVED = Promise.resolve()
function nothing() {}

// A queue call answers an offset (queued now), null (empty batch) or a pending call that already
// holds its place in line.
function settle(queued) {
  if (typeof queued === 'number') return Promise.resolve(BigInt(queued))
  if (queued === null) return Promise.resolve(null)
  return queued.wait().then(BigInt, rethrow)
}

// `settle` without the offset. A call queued at once gets one shared, already resolved promise:
// nothing is allocated per record.
function settleNowait(queued) {
  if (typeof queued === 'number' || queued === null) return RESOLVED
  return queued.wait().then(nothing, rethrow)
}

function queueFull() {
  return new ZerobusError('QUEUE_FULL', 'in-flight bound reached (maxInflightRequests / maxInflightBytes); nothing was queued', null, true)
}

/**
 * One ingest stream. Offsets are bigints (as in the published SDK). Calls made without awaiting
 * keep their order: the core gives each call its place in line when it is made, and `flush()` /
 * `close()` cover calls still waiting for room.
 */
class ZerobusStream {
  constructor(nativeStream, events) {
    this._native = nativeStream
    this._events = events
    // Opened from its table (PROTO, no descriptor): objects become JSON text for the core's
    // typed encoder.
    this._schema = toTableSchema(nativeStream.tableSchema())
    this._typed = this._schema !== null
    // Plain functions bound to the stream, for the calls made once per record (src/fast.rs).
    const fast = nativeStream.fastCalls()
    this._one = fast.one
    this._tryOne = fast.tryOne
    this._texts = fast.texts
    this._tryTexts = fast.tryTexts
  }

  // One record → the native call's answer (see `fastCalls` in src/lib.rs).
  _queueOne(payload, tryOnly) {
    const record = typeof payload === 'string' ? payload : toRecord(payload, this._typed)
    return tryOnly ? this._tryOne(record) : this._one(record)
  }

  // A batch → the native call's answer, in one call into the addon. An array of JSON strings is
  // read and converted by Rust (`texts`); objects become JSON strings here first; a batch with
  // bytes is packed here (`toBatch`).
  _queueBatch(records, tryOnly) {
    if (!Array.isArray(records)) {
      throw new ZerobusError('INVALID_ARGUMENT', 'a batch must be an array of records')
    }
    const texts = tryOnly ? this._tryTexts : this._texts
    let queued = texts(records)
    if (queued !== PER_RECORD) return queued
    // Objects (JSON.stringify: measured faster than walking them from Rust), protobuf messages,
    // bytes: each record converted here, then the whole batch handed over in one call.
    const [recs, textCount] = toRecords(records, this._typed)
    if (textCount === recs.length) {
      queued = texts(recs)
      if (queued !== PER_RECORD) return queued
    }
    const [data, lengths, text, kinds] = toBatch(recs, textCount)
    return tryOnly ? this._native.tryIngestBatch(data, lengths, text, kinds) : this._native.queueBatch(data, lengths, text, kinds)
  }

  /** Queues one record; resolves to its offset once queued (waits while the in-flight bounds are reached). */
  ingestRecordOffset(payload) {
    try {
      return settle(this._queueOne(payload, false))
    } catch (e) {
      return Promise.reject(recordError(e))
    }
  }

  /** Queues a batch under one offset (all-or-nothing on the server); resolves to it, or null for an empty batch. */
  ingestRecordsOffset(records) {
    try {
      return settle(this._queueBatch(records, false))
    } catch (e) {
      return Promise.reject(recordError(e))
    }
  }

  /**
   * Queues one record if the in-flight bounds allow it right now and returns its offset
   * synchronously; otherwise throws `ZerobusError` `QUEUE_FULL` (retryable) and queues nothing.
   */
  tryIngestRecordOffset(payload) {
    let offset
    try {
      offset = this._queueOne(payload, true)
    } catch (e) {
      throw recordError(e)
    }
    if (offset === FULL) throw queueFull()
    return BigInt(offset)
  }

  /** Non-blocking batch form: the batch's offset (null when empty), or `QUEUE_FULL`. */
  tryIngestRecordsOffset(records) {
    let offset
    try {
      offset = this._queueBatch(records, true)
    } catch (e) {
      throw recordError(e)
    }
    if (offset === FULL) throw queueFull()
    return toBigInt(offset)
  }

  /**
   * Queues one record without returning its offset. Accounted exactly like `ingestRecordOffset`:
   * the record is queued when the promise resolves, and a later failure reaches the error
   * callback, `flush()` and `close()`.
   */
  ingestRecordNowait(payload) {
    try {
      return settleNowait(this._queueOne(payload, false))
    } catch (e) {
      return Promise.reject(recordError(e))
    }
  }

  /** Batch form of `ingestRecordNowait`. */
  ingestRecordsNowait(records) {
    try {
      return settleNowait(this._queueBatch(records, false))
    } catch (e) {
      return Promise.reject(recordError(e))
    }
  }

  /**
   * @deprecated As published: resolves to the offset once the record is acknowledged. Prefer
   * `ingestRecordOffset` + `waitForOffset`.
   */
  async ingestRecord(payload) {
    const offset = await this.ingestRecordOffset(payload)
    await this.waitForOffset(offset)
    return offset
  }

  /** @deprecated As published: resolves to the batch's offset once acknowledged (null if empty). */
  async ingestRecords(records) {
    const offset = await this.ingestRecordsOffset(records)
    if (offset !== null) await this.waitForOffset(offset)
    return offset
  }

  /** Waits until `offset` (and every earlier one) is acknowledged. */
  waitForOffset(offset) {
    try {
      return this._native.waitForOffset(toNumberOffset(offset)).catch(rethrow)
    } catch (e) {
      return Promise.reject(toError(e))
    }
  }

  /** Waits until every record queued so far is acknowledged (bounded by `flushTimeoutMs`). */
  flush() {
    try {
      return this._native.flush().catch(rethrow)
    } catch (e) {
      return Promise.reject(toError(e))
    }
  }

  /**
   * Flushes and closes. Idempotent. When it resolves no callback runs any more and the stream
   * holds nothing that keeps the process alive.
   */
  close() {
    try {
      return this._native.close().catch(rethrow)
    } catch (e) {
      return Promise.reject(toError(e))
    }
  }

  /** `await using stream = await sdk.createStream(...)` closes the stream at scope exit. */
  async [Symbol.asyncDispose]() {
    await this.close()
  }

  /** Whether the stream no longer accepts records (closed or failed for good). */
  get isClosed() {
    return callNative(() => this._native.isClosed())
  }

  /** The stream's record type (`RecordType.Json` or `RecordType.Proto`). */
  get recordType() {
    return callNative(() => this._native.recordType())
  }

  /** The server's id for the current connection. */
  get streamId() {
    return callNative(() => this._native.streamId())
  }

  /**
   * The table's schema when the stream was opened from it (PROTO with no `descriptorProto`),
   * else null.
   */
  get tableSchema() {
    return this._schema
  }

  /** Records of every unacknowledged call, in offset order (JSON records as UTF-8 bytes). */
  async getUnackedRecords() {
    return callNative(() => this._native.getUnackedRecords())
  }

  /** Every unacknowledged call as its list of records, batch structure kept. */
  async getUnackedBatches() {
    return callNative(() => this._native.getUnackedBatches())
  }

  /** A snapshot of the stream's counters. */
  metrics() {
    const m = callNative(() => this._native.metrics())
    return { ...m, lastAckedOffset: m.lastAckedOffset === undefined ? null : m.lastAckedOffset }
  }
}

// ---- Arrow streams ------------------------------------------------------------------------------
// Arrow data crosses into Rust as IPC *stream* bytes, one buffer per call. apache-arrow is an
// optional peer dependency: objects are recognised by their shape (so a Table from another copy of
// apache-arrow works too), and the package is required only when an object has to be written to
// IPC or IPC read back into objects.

/** IPC body compression names (the core's); `ipcCompression` also takes the strings. */
const IpcCompressionType = Object.freeze({ None: 'none', Lz4Frame: 'lz4_frame', Zstd: 'zstd' })

/** Column types of the published `ArrowTableProperties.schemaFields` (its values). */
const ArrowDataType = Object.freeze(Object.fromEntries(
  ['Boolean', 'Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Float32', 'Float64',
    'Utf8', 'LargeUtf8', 'Binary', 'LargeBinary', 'Date32', 'Date64', 'TimestampMicros', 'TimestampNanos']
    .flatMap((name, i) => [[name, i], [i, name]])
))

let apacheArrow = null
function arrow(why) {
  if (apacheArrow === null) {
    try {
      apacheArrow = require('apache-arrow')
    } catch (e) {
      throw new ZerobusError(
        'INVALID_ARGUMENT',
        `${why} needs the apache-arrow package, which is not installed (npm install apache-arrow); or use the IPC bytes forms`,
        null, false, { cause: e }
      )
    }
  }
  return apacheArrow
}

function isTable(x) {
  return Array.isArray(x.batches) && isSchema(x.schema)
}
function isRecordBatch(x) {
  return !Array.isArray(x.batches) && isSchema(x.schema) && x.data != null && typeof x.numRows === 'number'
}
function isSchema(x) {
  return x != null && typeof x === 'object' && Array.isArray(x.fields) && x.metadata instanceof Map
}

function asBuffer(bytes) {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

// A schema argument → IPC bytes of a schema-only stream, or undefined (from the table).
function schemaIpc(schema) {
  if (schema == null) return undefined
  if (schema instanceof Uint8Array) return asBuffer(schema)
  if (schema instanceof ArrayBuffer) return Buffer.from(schema)
  if (isSchema(schema)) {
    const a = arrow('an apache-arrow Schema')
    return asBuffer(a.tableToIPC(new a.Table(schema), 'stream'))
  }
  throw new ZerobusError('INVALID_ARGUMENT', 'the schema must be an apache-arrow Schema, the IPC bytes of a schema-only Arrow stream (Uint8Array), or null for the table\'s own')
}

// A batch argument → the bytes of an Arrow IPC stream (the addon copies them once): the bytes
// given, or a Table / RecordBatch that columnBatches does not take, written by apache-arrow.
function batchIpc(data) {
  if (data instanceof Uint8Array) return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (data !== null && typeof data === 'object') {
    if (isTable(data)) return arrow('an apache-arrow Table').tableToIPC(data, 'stream')
    if (isRecordBatch(data)) {
      const a = arrow('an apache-arrow RecordBatch')
      return a.tableToIPC(new a.Table(data), 'stream')
    }
  }
  const got = data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data
  throw new ZerobusError('INVALID_RECORD', `an Arrow batch must be an apache-arrow Table or RecordBatch, or the bytes of an Arrow IPC stream (Uint8Array); got ${got}`)
}

// apache-arrow type ids whose layout the addon takes from the column buffers (Int, Float, Binary,
// Utf8, Bool, Decimal, Date, Time, Timestamp, List, Struct, FixedSizeBinary, Map, Duration,
// LargeBinary, LargeUtf8); any other column (dictionary, union, interval, …) goes as IPC.
const COLUMN_TYPES = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 15, 17, 18, 19, 20])
const NO_BYTES = new Uint8Array(0)
// A schema's IPC bytes, written once per apache-arrow Schema object (a Table's batches share one).
const schemaBytes = new WeakMap()

function isShared(view) {
  return view != null && typeof SharedArrayBuffer !== 'undefined' && view.buffer instanceof SharedArrayBuffer
}

function bytesOf(view) {
  return view ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : NO_BYTES
}

// `data` (a Table or RecordBatch) as the batches the addon's queueColumns takes, with their schema
// and their buffers: per batch a root node (its row count), then every column's Data nodes
// depth-first, each as [length, nullCount] in `nodes` and [validity, offsets, values] in
// `buffers` (src/arrow_columns.rs). No copy is made: the addon reads the buffers during the call.
// null when `data` is neither, or a node is sliced or of a type it does not take: then IPC.
function columnBatches(data) {
  if (data === null || typeof data !== 'object' || data instanceof Uint8Array) return null
  const batches = isTable(data) ? data.batches : isRecordBatch(data) ? [data] : null
  if (batches === null) return null
  const nodes = []
  const buffers = []
  const visit = (node) => {
    if (node.offset !== 0 || node.dictionary != null || !COLUMN_TYPES.has(node.type.typeId)) return false
    // Memory another thread may write while the addon reads it (a SharedArrayBuffer) goes as IPC.
    if (isShared(node.nullBitmap) || isShared(node.valueOffsets) || isShared(node.values)) return false
    const nulls = node.nullCount
    nodes.push(node.length, nulls)
    buffers.push(nulls > 0 ? bytesOf(node.nullBitmap) : NO_BYTES, bytesOf(node.valueOffsets), bytesOf(node.values))
    return node.children.every(visit)
  }
  for (const batch of batches) {
    nodes.push(batch.numRows, 0)
    buffers.push(NO_BYTES, NO_BYTES, NO_BYTES)
    if (!batch.data.children.every(visit)) return null
  }
  let schema = schemaBytes.get(data.schema)
  if (schema === undefined) {
    schema = schemaIpc(data.schema)
    schemaBytes.set(data.schema, schema)
  }
  return { schema, nodes, buffers }
}

/**
 * A stream of Arrow record batches into one table (Arrow Flight). Each `ingestBatch` call gets
 * one offset (a bigint), whatever the number of rows or batches it carries; calls made without
 * awaiting keep their order.
 */
class ZerobusArrowStream {
  constructor(nativeStream) {
    this._native = nativeStream
    this._schema = undefined
  }

  /**
   * Queues an apache-arrow `Table` (all its batches, one offset) or `RecordBatch`, or the bytes
   * of an Arrow IPC stream (schema message, then record batches); resolves to the offset once
   * queued (waits while the in-flight bounds are reached).
   */
  ingestBatch(data) {
    try {
      const columns = columnBatches(data)
      if (columns !== null) {
        return settle(this._native.queueColumns(columns.schema, columns.nodes, columns.buffers))
      }
      return settle(this._native.queueIpc(batchIpc(data)))
    } catch (e) {
      return Promise.reject(recordError(e))
    }
  }

  /**
   * `ingestBatch` without the copy: the SDK sends the batch's own memory and holds its buffers
   * until every row of the call is acknowledged (or the call fails, or the stream is collected).
   * Until `waitForOffset` / `flush` resolves for the offset, do not write those buffers and do not
   * transfer or detach their ArrayBuffers. Shared memory, and batches apache-arrow has to write
   * as IPC first, are copied as by `ingestBatch`.
   */
  ingestBatchNoCopy(data) {
    try {
      const columns = columnBatches(data)
      if (columns !== null) {
        // One object for the addon to hold, which holds every buffer of the call.
        const anchor = new Uint8Array(0)
        anchor.lent = columns.buffers
        return settle(this._native.queueColumnsNoCopy(columns.schema, columns.nodes, columns.buffers, anchor))
      }
      if (data instanceof Uint8Array && !isShared(data)) return settle(this._native.queueIpcNoCopy(data))
      return settle(this._native.queueIpc(batchIpc(data)))
    } catch (e) {
      return Promise.reject(recordError(e))
    }
  }

  /** Waits until `offset` (and every earlier one) is acknowledged: every row of it is durable. */
  waitForOffset(offset) {
    try {
      return this._native.waitForOffset(toNumberOffset(offset)).catch(rethrow)
    } catch (e) {
      return Promise.reject(toError(e))
    }
  }

  /** Waits until every batch queued so far is acknowledged (bounded by `flushTimeoutMs`). */
  flush() {
    try {
      return this._native.flush().catch(rethrow)
    } catch (e) {
      return Promise.reject(toError(e))
    }
  }

  /** Flushes and closes. Idempotent. When it resolves no callback runs any more. */
  close() {
    try {
      return this._native.close().catch(rethrow)
    } catch (e) {
      return Promise.reject(toError(e))
    }
  }

  /** `await using stream = await sdk.createArrowStream(...)` closes the stream at scope exit. */
  async [Symbol.asyncDispose]() {
    await this.close()
  }

  /** Whether the stream no longer accepts batches (closed or failed for good). */
  get isClosed() {
    return callNative(() => this._native.isClosed())
  }

  /** The table this stream writes to. */
  get tableName() {
    return callNative(() => this._native.tableName())
  }

  /** The schema batches must have, as an apache-arrow `Schema` (needs apache-arrow). */
  get schema() {
    if (this._schema === undefined) this._schema = arrow('stream.schema').tableFromIPC(this.schemaIpc).schema
    return this._schema
  }

  /** The schema batches must have, as the IPC bytes of a schema-only Arrow stream. */
  get schemaIpc() {
    return callNative(() => this._native.schemaIpc())
  }

  /**
   * The unacknowledged rows, in offset order, as apache-arrow `RecordBatch`es of the stream's
   * schema (the first starts at the first unacknowledged row). After a failure, give them to a
   * new stream's `ingestBatch`. Needs apache-arrow; `getUnackedIpc()` does not.
   */
  async getUnackedBatches() {
    const ipc = callNative(() => this._native.getUnackedIpc())
    // apache-arrow reads an IPC stream without batches as one empty batch: that is no unacked row.
    return arrow('getUnackedBatches()').tableFromIPC(ipc).batches.filter((b) => b.numRows > 0)
  }

  /** `getUnackedBatches()` as the bytes of one Arrow IPC stream (the schema, then the batches). */
  async getUnackedIpc() {
    return callNative(() => this._native.getUnackedIpc())
  }

  /** A snapshot of the stream's counters (`inflightRecords`, `recordsSent`, … count rows). */
  metrics() {
    const m = callNative(() => this._native.metrics())
    return { ...m, lastAckedOffset: m.lastAckedOffset === undefined ? null : m.lastAckedOffset }
  }
}

function report(what, e) {
  // A throwing user callback is reported, never fatal, and the stream carries on.
  process.emitWarning(`zerobus: the ${what} callback threw: ${e && e.stack ? e.stack : e}`, 'ZerobusCallbackWarning')
}

// One function receives every ack/error event, in order, from the core's callback thread.
function eventDispatcher(ackCallback, errorCallback) {
  return (...args) => {
    // napi-rs hands the (kind, offset, message) tuple over as one array.
    const [kind, offset, message] = args.length === 1 && Array.isArray(args[0]) ? args[0] : args
    try {
      if (kind === 0 && ackCallback) ackCallback(BigInt(offset))
      else if (kind === 1 && errorCallback) errorCallback(BigInt(offset), message)
    } catch (e) {
      report(kind === 0 ? 'ack' : 'error', e)
    }
  }
}

// The headers provider → an async function that never rejects: a flat [name, value, …] list,
// or `CODE|message` when it failed. The core decides what a code means (retry or not) and says
// in the message that the headers provider failed.
function headersFunction(provider) {
  let fn
  if (typeof provider === 'function') fn = provider
  else if (provider && typeof provider.getHeadersCallback === 'function') fn = provider.getHeadersCallback
  else if (provider && typeof provider.getHeaders === 'function') fn = () => provider.getHeaders()
  else throw new ZerobusError('INVALID_ARGUMENT', 'headersProvider must be a function, { getHeadersCallback } or { getHeaders() }')
  return async () => {
    let headers
    try {
      headers = await fn()
    } catch (e) {
      // An error carrying a code of the closed list (a ZerobusError, or any Error with `.code`
      // set to one) keeps it; anything else is UNAVAILABLE, so the recovery budget applies.
      const code = e && typeof e.code === 'string' && Object.hasOwn(ErrorCode, e.code) ? e.code : 'UNAVAILABLE'
      return `${code}|${messageOf(e)}`
    }
    try {
      const flat = []
      const pairs = headers instanceof Map ? headers.entries() : Array.isArray(headers) ? headers : Object.entries(headers || {})
      for (const [name, value] of pairs) flat.push(String(name), String(value))
      return flat
    } catch (e) {
      return `INVALID_ARGUMENT|it must return [name, value] pairs, a Map or an object of header values: ${messageOf(e)}`
    }
  }
}

// Numeric options: converted to integers by the addon, range-checked by the core when the stream
// is created (the error names the option, the value and the range).
const NUMBER_OPTIONS = [
  'maxInflightRequests',
  'maxInflightBytes',
  'recoveryTimeoutMs',
  'recoveryBackoffMs',
  'recoveryBackoffMaxMs',
  'recoveryRetries',
  'serverLackOfAckTimeoutMs',
  'flushTimeoutMs',
  'recordType',
  'streamPausedMaxWaitTimeMs',
  'callbackMaxWaitTimeMs',
]

// The options object for the addon: only the options set, each of the type the addon takes.
function nativeOptions(options) {
  const opts = {}
  if (options == null) return opts
  if (typeof options !== 'object') throw new ZerobusError('INVALID_ARGUMENT', 'options must be an object')
  for (const k of NUMBER_OPTIONS) {
    const v = options[k]
    if (v === undefined || v === null) continue
    if (typeof v === 'number') opts[k] = v
    else throw new ZerobusError('INVALID_ARGUMENT', `option ${k} must be a number, got ${typeof v}`)
  }
  const recovery = options.recovery
  if (recovery !== undefined && recovery !== null) {
    if (typeof recovery !== 'boolean') throw new ZerobusError('INVALID_ARGUMENT', `option recovery must be a boolean, got ${typeof recovery}`)
    opts.recovery = recovery
  }
  for (const k of ['ackCallback', 'errorCallback']) {
    if (options[k] != null && typeof options[k] !== 'function') {
      throw new ZerobusError('INVALID_ARGUMENT', `option ${k} must be a function, got ${typeof options[k]}`)
    }
  }
  return opts
}

// Arrow stream options: numbers converted by the addon, ranges (and the compression name)
// checked by the core.
const ARROW_NUMBER_OPTIONS = [
  'maxInflightBatches',
  'maxInflightBytes',
  'recoveryTimeoutMs',
  'recoveryBackoffMs',
  'recoveryBackoffMaxMs',
  'recoveryRetries',
  'serverLackOfAckTimeoutMs',
  'flushTimeoutMs',
  'connectionTimeoutMs',
  'streamPausedMaxWaitTimeMs',
  'callbackMaxWaitTimeMs',
]

function nativeArrowOptions(options) {
  const opts = {}
  if (options == null) return opts
  if (typeof options !== 'object') throw new ZerobusError('INVALID_ARGUMENT', 'options must be an object')
  for (const k of ARROW_NUMBER_OPTIONS) {
    const v = options[k]
    if (v === undefined || v === null) continue
    if (typeof v === 'number') opts[k] = v
    else throw new ZerobusError('INVALID_ARGUMENT', `option ${k} must be a number, got ${typeof v}`)
  }
  const recovery = options.recovery
  if (recovery !== undefined && recovery !== null) {
    if (typeof recovery !== 'boolean') throw new ZerobusError('INVALID_ARGUMENT', `option recovery must be a boolean, got ${typeof recovery}`)
    opts.recovery = recovery
  }
  const compression = options.ipcCompression
  if (compression !== undefined && compression !== null) {
    if (typeof compression !== 'string') {
      throw new ZerobusError('INVALID_ARGUMENT', `option ipcCompression must be 'none', 'lz4_frame' or 'zstd' (IpcCompressionType), got ${typeof compression}`)
    }
    opts.ipcCompression = compression
  }
  for (const k of ['ackCallback', 'errorCallback']) {
    if (options[k] != null && typeof options[k] !== 'function') {
      throw new ZerobusError('INVALID_ARGUMENT', `option ${k} must be a function, got ${typeof options[k]}`)
    }
  }
  return opts
}

function pemBuffer(pem) {
  if (typeof pem === 'string') return Buffer.from(pem, 'utf8')
  if (pem instanceof Uint8Array) return Buffer.from(pem)
  throw new ZerobusError('INVALID_ARGUMENT', 'caCertificatesPem must be PEM text or bytes, or a list of them')
}

// The SDK options object for the addon.
function nativeSdkOptions(options) {
  if (options == null) return undefined
  if (typeof options !== 'object') throw new ZerobusError('INVALID_ARGUMENT', 'the SDK options must be an object')
  const out = {}
  const pems = options.caCertificatesPem
  if (pems != null) out.caCertificatesPem = (Array.isArray(pems) ? pems : [pems]).map(pemBuffer)
  const app = options.applicationName
  if (app != null) {
    if (typeof app !== 'string') throw new ZerobusError('INVALID_ARGUMENT', 'applicationName must be a string')
    out.applicationName = app
  }
  return out
}

// The addon's table schema → the `TableSchema` of index.d.ts (null stays null).
function toTableSchema(n) {
  if (n == null) return null
  return {
    tableName: n.tableName,
    columns: n.columns.map((c) => ({ name: c.name, typeText: c.typeText, typeName: c.typeName, nullable: c.nullable, position: c.position })),
    descriptorProto: n.descriptorProto ?? null,
    protoFile: n.protoFile ?? null,
    protoError: n.protoError ?? null,
  }
}

/** The entry point: one per endpoint; streams of one SDK share its token cache. */
class ZerobusSdk {
  /**
   * `options.caCertificatesPem`: CA certificates (PEM text or bytes, or a list) to trust besides
   * the system roots; `options.applicationName`: appended to the user-agent.
   */
  constructor(endpoint, workspaceUrl, options = undefined) {
    try {
      this._native = new native.NativeSdk(endpoint, workspaceUrl, nativeSdkOptions(options))
    } catch (e) {
      throw toError(e)
    }
  }

  /**
   * Opens a stream to `tableProperties.tableName`. OAuth client credentials unless
   * `headersProvider` is given, in which case it is asked for headers on every connect.
   */
  async createStream(tableProperties, clientId, clientSecret, options = {}, headersProvider = undefined) {
    try {
      if (!tableProperties || typeof tableProperties.tableName !== 'string') {
        throw new ZerobusError('INVALID_ARGUMENT', 'tableProperties.tableName must be a string')
      }
      let descriptor = tableProperties.descriptorProto
      if (typeof descriptor === 'string') descriptor = Buffer.from(descriptor, 'base64')
      else if (descriptor instanceof Uint8Array && !Buffer.isBuffer(descriptor)) descriptor = Buffer.from(descriptor)
      else if (descriptor != null && !Buffer.isBuffer(descriptor)) {
        throw new ZerobusError('INVALID_ARGUMENT', 'descriptorProto must be base64 text or bytes')
      }
      const opts = nativeOptions(options)
      const { ackCallback, errorCallback } = options || {}
      const events = ackCallback || errorCallback ? eventDispatcher(ackCallback, errorCallback) : undefined
      const headers = headersProvider == null ? undefined : headersFunction(headersProvider)
      const s = await this._native.createStream(
        tableProperties.tableName,
        descriptor == null ? undefined : descriptor,
        clientId == null ? '' : String(clientId),
        clientSecret == null ? '' : String(clientSecret),
        opts,
        events,
        headers
      )
      return new ZerobusStream(s, events)
    } catch (e) {
      throw toError(e)
    }
  }

  /**
   * Opens an Arrow stream to `tableName`. `schema`: an apache-arrow `Schema`, the IPC bytes of a
   * schema-only Arrow stream, or null / undefined for the table's own (read from Unity Catalog
   * with the same credentials, mapped as the SDK maps Delta types to Arrow). OAuth client
   * credentials unless `headersProvider` is given. The published form
   * `createArrowStream({ tableName, schemaFields }, clientId, clientSecret, options)` works too.
   */
  async createArrowStream(tableName, schema, clientId, clientSecret, options = undefined, headersProvider = undefined) {
    try {
      let fields
      if (tableName !== null && typeof tableName === 'object') {
        // The published signature: (tableProperties, clientId, clientSecret, options, headersProvider).
        const props = tableName;
        [tableName, clientId, clientSecret, options, headersProvider] = [props.tableName, schema, clientId, clientSecret, options]
        schema = props.schema
        if (props.schemaFields != null) {
          if (!Array.isArray(props.schemaFields)) throw new ZerobusError('INVALID_ARGUMENT', 'schemaFields must be an array of { name, dataType, nullable }')
          fields = props.schemaFields.map((f) => ({ name: String(f.name), dataType: f.dataType, nullable: f.nullable ?? undefined }))
        }
      }
      if (typeof tableName !== 'string') throw new ZerobusError('INVALID_ARGUMENT', 'tableName must be a string')
      options = options ?? {}
      const ipc = schemaIpc(schema)
      const opts = nativeArrowOptions(options)
      const { ackCallback, errorCallback } = options
      const events = ackCallback || errorCallback ? eventDispatcher(ackCallback, errorCallback) : undefined
      const headers = headersProvider == null ? undefined : headersFunction(headersProvider)
      const s = await this._native.createArrowStream(
        tableName,
        ipc,
        fields,
        clientId == null ? '' : String(clientId),
        clientSecret == null ? '' : String(clientSecret),
        opts,
        events,
        headers
      )
      return new ZerobusArrowStream(s)
    } catch (e) {
      throw toError(e)
    }
  }

  /**
   * Reads `tableName`'s schema from Unity Catalog with the credentials a stream on it would use
   * (OAuth client credentials, or the `authorization` header of `headersProvider`).
   */
  async getTableSchema(tableName, clientId, clientSecret, headersProvider = undefined) {
    try {
      if (typeof tableName !== 'string') throw new ZerobusError('INVALID_ARGUMENT', 'tableName must be a string')
      const headers = headersProvider == null ? undefined : headersFunction(headersProvider)
      const schema = await this._native.getTableSchema(
        tableName,
        clientId == null ? '' : String(clientId),
        clientSecret == null ? '' : String(clientSecret),
        headers
      )
      return toTableSchema(schema)
    } catch (e) {
      throw toError(e)
    }
  }
}

module.exports = { ZerobusSdk, ZerobusStream, ZerobusArrowStream, ZerobusError, RecordType, ErrorCode, IpcCompressionType, ArrowDataType }
