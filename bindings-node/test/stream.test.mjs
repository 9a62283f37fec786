// Ingest, flush, close and errors against the mock server (`zerobus serve`, built by
// `cargo build -p zerobus-cli`).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startServer } from './server.mjs'

const require = createRequire(import.meta.url)
const { ZerobusSdk, ZerobusStream, ZerobusError, RecordType, ErrorCode } = require('../index.js')

let server
let sdk
before(async () => {
  server = await startServer()
  sdk = new ZerobusSdk(server.endpoint, server.workspaceUrl)
})
after(async () => {
  await server.stop()
})

const JSON_TABLE = 'main.default.json_table'
const PROTO_TABLE = 'main.default.proto_table'
const fast = { recoveryBackoffMs: 50, recoveryRetries: 1 }

function jsonStream(options = {}) {
  return sdk.createStream({ tableName: JSON_TABLE }, server.clientId, server.clientSecret, {
    recordType: RecordType.Json,
    ...fast,
    ...options,
  })
}

// message Rec { optional int64 id = 1; optional string name = 2; } as a serialized DescriptorProto.
function lenField(tag, bytes) {
  return Buffer.concat([Buffer.from([(tag << 3) | 2, bytes.length]), bytes])
}
function fieldProto(name, number, type) {
  return Buffer.concat([lenField(1, Buffer.from(name)), Buffer.from([3 << 3, number, 4 << 3, 1, 5 << 3, type])])
}
const DESCRIPTOR = Buffer.concat([
  lenField(1, Buffer.from('Rec')),
  lenField(2, fieldProto('id', 1, 3)),
  lenField(2, fieldProto('name', 2, 9)),
])
function encodeRec(id, name) {
  return Buffer.concat([Buffer.from([0x08, id]), lenField(2, Buffer.from(name))])
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof ZerobusError, `expected a ZerobusError, got ${e}`)
    assert.ok(e instanceof Error)
    assert.equal(e.code, code, e.message)
    return true
  })
}

test('JSON records: offsets, batches, flush, close, callbacks', async () => {
  const acks = []
  const stream = await jsonStream({ ackCallback: (o) => acks.push(o) })
  assert.ok(stream instanceof ZerobusStream)
  assert.equal(stream.recordType, RecordType.Json)
  assert.equal(await stream.ingestRecordOffset('{"id":1}'), 0n)
  assert.equal(await stream.ingestRecordOffset({ id: 2 }), 1n)
  assert.equal(await stream.ingestRecordsOffset([{ id: 3 }, '{"id":4}']), 2n)
  assert.equal(await stream.ingestRecordsOffset([]), null)
  await stream.ingestRecordNowait({ id: 5 })
  await stream.ingestRecordsNowait([{ id: 6 }, { id: 7 }])
  await stream.waitForOffset(2n)
  assert.equal(await stream.ingestRecord({ id: 8 }), 5n) // deprecated published form: resolves on ack
  assert.equal(await stream.ingestRecords([{ id: 9 }]), 6n)
  await stream.flush()
  const m = stream.metrics()
  assert.equal(m.lastAckedOffset, 6)
  assert.equal(m.inflightRequests, 0)
  assert.equal(m.recordsSent, 9)
  await stream.close()
  await stream.close() // idempotent
  assert.equal(stream.isClosed, true)
  assert.deepEqual(acks, [0n, 1n, 2n, 3n, 4n, 5n, 6n])
  await rejectsWith(stream.ingestRecordOffset({ id: 10 }), 'STREAM_CLOSED')
})

test('calls made without awaiting keep their order under backpressure', async () => {
  const stream = await jsonStream({ maxInflightRequests: 3 })
  const pending = []
  for (let i = 0; i < 200; i++) pending.push(stream.ingestRecordOffset({ i }))
  const offsets = await Promise.all(pending)
  assert.deepEqual(offsets, Array.from({ length: 200 }, (_, i) => BigInt(i)))
  await stream.close()
})

test('PROTO records: Buffer, Uint8Array and protobufjs-style messages', async () => {
  const stream = await sdk.createStream(
    { tableName: PROTO_TABLE, descriptorProto: DESCRIPTOR.toString('base64') },
    server.clientId,
    server.clientSecret,
    { recordType: RecordType.Proto, ...fast }
  )
  class Rec {
    constructor(id, name) {
      this.id = id
      this.name = name
    }
    static encode(m) {
      return { finish: () => encodeRec(m.id, m.name) }
    }
  }
  assert.equal(await stream.ingestRecordOffset(encodeRec(1, 'a')), 0n)
  assert.equal(await stream.ingestRecordOffset(new Uint8Array(encodeRec(2, 'b'))), 1n)
  assert.equal(await stream.ingestRecordOffset(new Rec(3, 'c')), 2n)
  assert.equal(await stream.ingestRecordsOffset([new Rec(4, 'd'), encodeRec(5, 'e')]), 3n)
  await rejectsWith(stream.ingestRecordOffset('{"id":1}'), 'INVALID_RECORD')
  await stream.flush()
  await stream.close()
})

test('error codes are ZerobusError with code, grpcStatus and retryable', async () => {
  await assert.rejects(
    sdk.createStream({ tableName: 'nope' }, server.clientId, server.clientSecret, { recordType: RecordType.Json }),
    (e) => e instanceof ZerobusError && e.code === ErrorCode.INVALID_ARGUMENT && e.retryable === false && /nope/.test(e.message)
  )
  await assert.rejects(
    sdk.createStream({ tableName: 'main.default.missing' }, server.clientId, server.clientSecret, { recordType: RecordType.Json, ...fast }),
    (e) => e.code === 'NOT_FOUND' && e.grpcStatus === 5 && e.retryable === false
  )
  await assert.rejects(
    sdk.createStream({ tableName: JSON_TABLE }, server.clientId, 'wrong-secret-1234', { recordType: RecordType.Json, ...fast }),
    (e) => e.code === 'UNAUTHENTICATED' && !e.message.includes('wrong-secret-1234')
  )
  // PROTO without a descriptor is a stream from the table, and this table has no declared columns.
  await rejectsWith(
    sdk.createStream({ tableName: PROTO_TABLE }, server.clientId, server.clientSecret, { recordType: RecordType.Proto, ...fast }),
    'NOT_FOUND'
  )
  await rejectsWith(jsonStream({ recordType: 7 }), 'INVALID_ARGUMENT')
  await rejectsWith(jsonStream({ maxInflightRequests: -1 }), 'INVALID_ARGUMENT')
  assert.throws(() => new ZerobusSdk('not a url', server.workspaceUrl), (e) => e instanceof ZerobusError && e.code === 'INVALID_ARGUMENT')

  const stream = await jsonStream()
  await rejectsWith(stream.ingestRecordOffset('{"a": 1'), 'INVALID_RECORD')
  await rejectsWith(stream.ingestRecordsOffset([{ ok: 1 }, '[1]']), 'INVALID_RECORD')
  await rejectsWith(stream.ingestRecordOffset(Buffer.from([8, 1])), 'INVALID_RECORD')
  await rejectsWith(stream.ingestRecordOffset(42), 'INVALID_RECORD')
  await rejectsWith(stream.ingestRecordOffset({ pad: 'x'.repeat(10_420_225) }), 'RECORD_TOO_LARGE')
  await rejectsWith(stream.waitForOffset(99n), 'INVALID_ARGUMENT')
  await stream.close()
})

test('try forms fail fast with QUEUE_FULL', async () => {
  const stream = await jsonStream({ maxInflightRequests: 1 })
  // Fill the queue; the mock acks quickly, so keep trying until a try finds it full.
  let full = null
  for (let i = 0; i < 10_000 && !full; i++) {
    try {
      stream.tryIngestRecordsOffset([{ i }, { i }])
    } catch (e) {
      full = e
    }
  }
  assert.ok(full instanceof ZerobusError)
  assert.equal(full.code, 'QUEUE_FULL')
  assert.equal(full.retryable, true)
  assert.equal(stream.tryIngestRecordsOffset([]), null)
  await stream.close()
})

test('a throwing callback is reported, not fatal', async () => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  const stream = await jsonStream({
    ackCallback: () => {
      throw new Error('boom from a callback')
    },
  })
  await stream.ingestRecordOffset({ a: 1 })
  await stream.ingestRecordOffset({ a: 2 })
  await stream.close()
  await new Promise((r) => setImmediate(r))
  process.off('warning', onWarning)
  assert.ok(warnings.some((w) => /boom from a callback/.test(w.message)), 'the throw was reported as a warning')
})

// The mock server accepts this static token on every table (conformance/src/mock/mod.rs).
const STATIC_TOKEN = 'zerobus-dev-static-token'

test('headers provider is asked on every connect and may be async', async () => {
  let calls = 0
  const provider = {
    async getHeaders() {
      calls++
      return [
        ['authorization', `Bearer ${STATIC_TOKEN}`],
        ['x-databricks-zerobus-table-name', JSON_TABLE],
      ]
    },
  }
  const stream = await sdk.createStream({ tableName: JSON_TABLE }, '', '', { recordType: RecordType.Json, ...fast }, provider)
  await stream.ingestRecordOffset({ a: 1 })
  await stream.close()
  assert.equal(calls, 1)
  const failing = { getHeadersCallback: async () => { throw new Error('no token today') } }
  await assert.rejects(
    sdk.createStream({ tableName: JSON_TABLE }, '', '', { recordType: RecordType.Json, ...fast, recovery: false }, failing),
    (e) => e instanceof ZerobusError && e.code === 'UNAVAILABLE' && e.retryable && /no token today/.test(e.message)
  )
  const refusing = () => {
    throw new ZerobusError('PERMISSION_DENIED', 'not for this table')
  }
  await assert.rejects(
    sdk.createStream({ tableName: JSON_TABLE }, '', '', { recordType: RecordType.Json, ...fast }, refusing),
    (e) => e instanceof ZerobusError && e.code === 'PERMISSION_DENIED' && !e.retryable
  )
})

test('Symbol.asyncDispose closes the stream (await using)', async () => {
  const stream = await jsonStream()
  await stream.ingestRecordOffset({ a: 1 })
  assert.equal(typeof stream[Symbol.asyncDispose], 'function')
  await stream[Symbol.asyncDispose]()
  assert.equal(stream.isClosed, true)
})
