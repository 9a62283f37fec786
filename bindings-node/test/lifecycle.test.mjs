// Calls on a closed or disposed stream, and calls racing close(): every call resolves or rejects
// with a ZerobusError, and the process carries on. Against the mock server (`zerobus serve`).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startServer } from './server.mjs'

const require = createRequire(import.meta.url)
const { ZerobusSdk, ZerobusError, RecordType } = require('../index.js')

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

function jsonStream(options = {}) {
  return sdk.createStream({ tableName: JSON_TABLE }, server.clientId, server.clientSecret, {
    recordType: RecordType.Json,
    recoveryBackoffMs: 50,
    recoveryRetries: 1,
    ...options,
  })
}

function isCode(code) {
  return (e) => {
    assert.ok(e instanceof ZerobusError, `expected a ZerobusError, got ${e && e.stack}`)
    assert.equal(e.code, code, e.message)
    return true
  }
}

// Every call of the API on a stream that is closed (by close() or by Symbol.asyncDispose).
async function checkClosed(stream, lastOffset) {
  assert.equal(stream.isClosed, true)
  // Ingest calls fail STREAM_CLOSED, not retryable; nothing is queued.
  await assert.rejects(stream.ingestRecordOffset({ late: 1 }), isCode('STREAM_CLOSED'))
  await assert.rejects(stream.ingestRecordOffset('{"late":2}'), isCode('STREAM_CLOSED'))
  await assert.rejects(stream.ingestRecordsOffset([{ late: 3 }, '{"late":4}']), isCode('STREAM_CLOSED'))
  await assert.rejects(stream.ingestRecordsOffset(['{"late":5}', '{"late":6}']), isCode('STREAM_CLOSED'))
  await assert.rejects(stream.ingestRecordNowait({ late: 7 }), isCode('STREAM_CLOSED'))
  await assert.rejects(stream.ingestRecordsNowait([{ late: 8 }]), isCode('STREAM_CLOSED'))
  await assert.rejects(stream.ingestRecord({ late: 9 }), isCode('STREAM_CLOSED'))
  await assert.rejects(stream.ingestRecords([{ late: 10 }]), isCode('STREAM_CLOSED'))
  assert.throws(() => stream.tryIngestRecordOffset({ late: 11 }), isCode('STREAM_CLOSED'))
  assert.throws(() => stream.tryIngestRecordsOffset([{ late: 12 }, { late: 13 }]), isCode('STREAM_CLOSED'))
  await assert.rejects(stream.ingestRecordOffset({ late: 1 }), (e) => e.retryable === false)
  // An empty batch queues nothing, but on a closed stream it fails like any call.
  await assert.rejects(stream.ingestRecordsOffset([]), isCode('STREAM_CLOSED'))
  assert.throws(() => stream.tryIngestRecordsOffset([]), isCode('STREAM_CLOSED'))
  // Waiting for what was acked before close succeeds; an offset never assigned is INVALID_ARGUMENT.
  await stream.flush()
  await stream.waitForOffset(BigInt(lastOffset))
  await stream.waitForOffset(0)
  await assert.rejects(stream.waitForOffset(BigInt(lastOffset + 1)), isCode('INVALID_ARGUMENT'))
  // close() again returns the first close's result.
  await stream.close()
  await stream[Symbol.asyncDispose]()
  // The accessors keep answering.
  const m = stream.metrics()
  assert.equal(m.lastAckedOffset, lastOffset)
  assert.equal(m.inflightRequests, 0)
  assert.deepEqual(await stream.getUnackedRecords(), [])
  assert.deepEqual(await stream.getUnackedBatches(), [])
  assert.equal(stream.recordType, RecordType.Json)
  assert.equal(typeof stream.streamId, 'string')
}

test('calls on a closed stream: ingest fails STREAM_CLOSED, the rest answers', async () => {
  const stream = await jsonStream()
  assert.equal(await stream.ingestRecordOffset({ a: 1 }), 0n)
  assert.equal(await stream.ingestRecordsOffset([{ a: 2 }, { a: 3 }]), 1n)
  await stream.close()
  await checkClosed(stream, 1)
})

test('calls on a stream disposed with Symbol.asyncDispose behave as after close()', async () => {
  const stream = await jsonStream({ ackCallback: () => {} })
  await stream.ingestRecordOffset({ a: 1 })
  await stream.ingestRecordOffset({ a: 2 })
  await stream[Symbol.asyncDispose]()
  await checkClosed(stream, 1)
})

test('close() without any record, then every call', async () => {
  const stream = await jsonStream()
  await stream.close()
  assert.equal(stream.isClosed, true)
  await assert.rejects(stream.ingestRecordOffset({ a: 1 }), isCode('STREAM_CLOSED'))
  await stream.flush()
  assert.equal(stream.metrics().lastAckedOffset, null)
  await assert.rejects(stream.waitForOffset(0n), isCode('INVALID_ARGUMENT'))
})

test('concurrent producers while another promise closes: each call settles cleanly', async () => {
  for (const maxInflightRequests of [4, 50_000]) {
    const acks = []
    const stream = await jsonStream({ maxInflightRequests, ackCallback: (o) => acks.push(o) })
    const forms = [
      (i) => stream.ingestRecordOffset({ i }),
      (i) => stream.ingestRecordsOffset([{ i }, `{"i":${i}}`]),
      (i) => stream.ingestRecordNowait(`{"i":${i}}`).then(() => undefined),
      (i) => stream.ingestRecordsNowait([{ i }]).then(() => undefined),
      (i) => Promise.resolve().then(() => stream.tryIngestRecordOffset({ i })),
    ]
    const offsets = []
    const failures = []
    let closing = null
    let flushing = null
    const producer = async (k) => {
      for (let i = 0; i < 2000; i++) {
        // Producer 0 closes the stream part way, while the others (and itself) keep ingesting.
        if (k === 0 && i === 100) {
          flushing = stream.flush().then(() => 'flushed', (e) => e)
          closing = stream.close()
        }
        // Now and then give the event loop a turn, so waiting calls and close() make progress.
        if (i % 25 === 0) await new Promise((r) => setImmediate(r))
        try {
          const o = await forms[(i + k) % forms.length](i)
          if (typeof o === 'bigint') offsets.push(o)
        } catch (e) {
          failures.push(e)
          // QUEUE_FULL (a try call) may come before the close; after it every call fails.
          if (e.code !== 'QUEUE_FULL') return
        }
      }
    }
    await Promise.all([0, 1, 2, 3].map(producer))
    assert.ok(closing, 'producer 0 did not reach its close() call')
    await closing
    const flushed = await flushing
    assert.ok(flushed === 'flushed' || flushed instanceof ZerobusError, `flush settled with ${flushed}`)
    for (const e of failures) {
      assert.ok(e instanceof ZerobusError, `not a ZerobusError: ${e && e.stack}`)
      assert.ok(['STREAM_CLOSED', 'QUEUE_FULL'].includes(e.code), `${e.code}: ${e.message}`)
    }
    assert.ok(failures.some((e) => e.code === 'STREAM_CLOSED'), 'the producers were still running at close')
    // Every call that got an offset was queued before the close and is durable after it.
    const m = stream.metrics()
    assert.equal(m.inflightRequests, 0)
    const sorted = [...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    assert.equal(new Set(sorted).size, sorted.length, 'an offset was returned twice')
    if (sorted.length > 0) assert.ok(BigInt(m.lastAckedOffset) >= sorted[sorted.length - 1])
    // Callbacks ran once per offset, in order, and all before close() resolved.
    const expected = m.lastAckedOffset === null ? [] : Array.from({ length: m.lastAckedOffset + 1 }, (_, i) => BigInt(i))
    assert.deepEqual(acks, expected)
    await checkClosed(stream, m.lastAckedOffset)
  }
})

test('close(), close() and flush() at once all settle', async () => {
  const stream = await jsonStream()
  for (let i = 0; i < 100; i++) stream.ingestRecordNowait({ i }).catch(() => {})
  const results = await Promise.allSettled([stream.close(), stream.close(), stream.flush(), stream[Symbol.asyncDispose]()])
  for (const r of results) {
    if (r.status === 'rejected') assert.ok(r.reason instanceof ZerobusError, `${r.reason && r.reason.stack}`)
  }
  assert.equal(results[0].status, 'fulfilled')
  assert.equal(results[1].status, 'fulfilled')
  assert.equal(stream.metrics().lastAckedOffset, 99)
})

test('a batch whose element getter ingests on the same stream (re-entrant call) works', async () => {
  const stream = await jsonStream()
  const batch = ['{"a":1}', '{"a":2}']
  let inner
  Object.defineProperty(batch, 1, {
    enumerable: true,
    get() {
      inner = stream.ingestRecordOffset('{"inner":1}')
      return '{"a":2}'
    },
  })
  const outer = await stream.ingestRecordsOffset(batch)
  // The inner call was queued while the batch was being read, so it comes first.
  assert.equal(await inner, 0n)
  assert.equal(outer, 1n)
  await stream.flush()
  assert.equal(stream.metrics().recordsSent, 3)
  await stream.close()
})

test('a getter or toJSON that throws fails that call with INVALID_RECORD; the stream carries on', async () => {
  const stream = await jsonStream()
  const throwing = ['{"a":1}', '{"a":2}']
  Object.defineProperty(throwing, 0, {
    get() {
      throw new Error('boom from a getter')
    },
  })
  await assert.rejects(stream.ingestRecordsOffset(throwing), (e) => {
    isCode('INVALID_RECORD')(e)
    assert.match(e.message, /boom from a getter/)
    assert.equal(e.cause.message, 'boom from a getter')
    return true
  })
  const bad = { toJSON: () => { throw new Error('boom from toJSON') } }
  await assert.rejects(stream.ingestRecordOffset(bad), (e) => isCode('INVALID_RECORD')(e) && /boom from toJSON/.test(e.message))
  await assert.rejects(stream.ingestRecordsOffset([{ ok: 1 }, bad]), isCode('INVALID_RECORD'))
  assert.throws(() => stream.tryIngestRecordOffset(bad), isCode('INVALID_RECORD'))
  await assert.rejects(stream.ingestRecordOffset({ big: 1n }), isCode('INVALID_RECORD'))
  const cyclic = {}
  cyclic.self = cyclic
  await assert.rejects(stream.ingestRecordOffset(cyclic), isCode('INVALID_RECORD'))
  assert.equal(await stream.ingestRecordOffset({ fine: true }), 0n)
  await stream.close()
})
