// Arrow streams against the mock's Arrow Flight DoPut (`zerobus serve`, built by
// `cargo build -p zerobus-cli`): apache-arrow Tables and RecordBatches, raw IPC bytes, schemas
// from apache-arrow, IPC and the table, options, callbacks and unacked batches.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { setImmediate as turn } from 'node:timers/promises'
import { startServer } from './server.mjs'

const require = createRequire(import.meta.url)
const { ZerobusSdk, ZerobusArrowStream, ZerobusError, IpcCompressionType, ArrowDataType } = require('../index.js')
const arrow = require('apache-arrow')

const TABLE = 'main.default.cars'
const DEFINITION = `${TABLE}(name STRING NOT NULL, seats INT)`
const fast = { recoveryBackoffMs: 50, recoveryRetries: 1 }

let server
let silent // stores batches, never acks them
let sdk
before(async () => {
  server = await startServer(['--table', DEFINITION])
  silent = await startServer(['--withhold-acks', '--table', DEFINITION])
  sdk = new ZerobusSdk(server.endpoint, server.workspaceUrl)
})
after(async () => {
  await server.stop()
  await silent.stop()
})

// The stream's schema as the table maps to Arrow: STRING → LargeUtf8, INT → Int32.
const SCHEMA = new arrow.Schema([
  new arrow.Field('name', new arrow.LargeUtf8(), false),
  new arrow.Field('seats', new arrow.Int32(), true),
])

// Rows from…from+rows−1 of the cars table (row i: `car-i`, i seats).
function cars(from, rows) {
  const ids = Array.from({ length: rows }, (_, i) => from + i)
  return new arrow.Table({
    name: arrow.vectorFromArray(ids.map((i) => `car-${i}`), new arrow.LargeUtf8()),
    seats: arrow.vectorFromArray(ids, new arrow.Int32()),
  })
}

function seatsOf(batches) {
  return batches.flatMap((b) => Array.from(b.getChild('seats').toArray()))
}

function open(schema = SCHEMA, options = {}, on = server, headers = undefined) {
  return new ZerobusSdk(on.endpoint, on.workspaceUrl).createArrowStream(TABLE, schema, on.clientId, on.clientSecret, { ...fast, ...options }, headers)
}

async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof ZerobusError, `expected a ZerobusError, got ${e}`)
    assert.equal(e.code, code, e.message)
    if (pattern) assert.match(e.message, pattern)
    return true
  })
}

test('IPC bytes: one offset per call, flush, metrics in rows, close', async () => {
  const stream = await open()
  assert.ok(stream instanceof ZerobusArrowStream)
  assert.equal(stream.tableName, TABLE)
  const ipc = arrow.tableToIPC(cars(0, 3), 'stream')
  assert.ok(ipc instanceof Uint8Array)
  assert.equal(await stream.ingestBatch(ipc), 0n)
  assert.equal(await stream.ingestBatch(Buffer.from(arrow.tableToIPC(cars(3, 2), 'stream'))), 1n)
  // The caller's buffer is the caller's: changing it after the call changes nothing queued.
  const reused = arrow.tableToIPC(cars(5, 1), 'stream')
  const offset = await stream.ingestBatch(reused)
  reused.fill(0)
  assert.equal(offset, 2n)
  await stream.waitForOffset(offset)
  await stream.flush()
  const m = stream.metrics()
  assert.equal(m.lastAckedOffset, 2)
  assert.equal(m.inflightRequests, 0)
  assert.equal(m.recordsSent, 6)
  assert.deepEqual(await stream.getUnackedBatches(), [])
  await stream.close()
  await stream.close() // idempotent
  assert.equal(stream.isClosed, true)
  await rejectsWith(stream.ingestBatch(ipc), 'STREAM_CLOSED')
})

test('apache-arrow Table of several batches and RecordBatch', async () => {
  const acks = []
  const stream = await open(SCHEMA, { ackCallback: (o) => acks.push(o) })
  const table = cars(0, 2).concat(cars(2, 3), cars(5, 1))
  assert.equal(table.batches.length, 3)
  assert.equal(await stream.ingestBatch(table), 0n) // every batch of the table, one offset
  assert.equal(await stream.ingestBatch(cars(6, 4).batches[0]), 1n)
  await stream.flush()
  assert.equal(stream.metrics().recordsSent, 10)
  await stream.close()
  assert.deepEqual(acks, [0n, 1n])
})

test('Tables and RecordBatches cross as their column buffers: nulls, Utf8, several batches; a sliced batch as IPC', async () => {
  const stream = await open(SCHEMA, { flushTimeoutMs: 300, recovery: false }, silent)
  const narrow = new arrow.Table({
    name: arrow.vectorFromArray(['a', 'bé', 'ccc'], new arrow.Utf8()),
    seats: arrow.vectorFromArray([1, null, 3], new arrow.Int32()),
  })
  assert.equal(await stream.ingestBatch(narrow), 0n)
  assert.equal(await stream.ingestBatch(cars(10, 2).concat(cars(12, 1))), 1n)
  const sliced = cars(20, 5).batches[0].slice(2, 4)
  assert.equal(await stream.ingestBatch(sliced), 2n)
  await rejectsWith(stream.flush(), 'TIMEOUT')
  const unacked = await stream.getUnackedBatches()
  const column = (name) => unacked.flatMap((b) => [...b.getChild(name)])
  assert.deepEqual(column('seats'), [1, null, 3, 10, 11, 12, 22, 23])
  assert.deepEqual(column('name'), ['a', 'bé', 'ccc', 'car-10', 'car-11', 'car-12', 'car-22', 'car-23'])
  await assert.rejects(stream.close())
})

test('a batch over a SharedArrayBuffer goes as IPC, not as borrowed column buffers', async () => {
  const stream = await open()
  const seats = new Int32Array(new SharedArrayBuffer(8))
  seats.set([7, 8])
  const shared = new arrow.Table({ name: arrow.vectorFromArray(['x', 'y'], new arrow.LargeUtf8()), seats: arrow.makeVector(seats) })
  const queueColumns = stream._native.queueColumns
  stream._native.queueColumns = () => { throw new Error('borrowed a SharedArrayBuffer') }
  try {
    assert.equal(await stream.ingestBatch(shared), 0n)
    await assert.rejects(stream.ingestBatch(cars(0, 1)), /borrowed a SharedArrayBuffer/)
  } finally {
    stream._native.queueColumns = queueColumns
  }
  await stream.flush()
  assert.equal(stream.metrics().recordsSent, 2)
  await stream.close()
})

// The garbage collector, to see when the SDK lets go of a no-copy call's memory.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')

// Whether `count` of the ArrayBuffers watched into `gone` were collected within a few GC passes (each
// after the event loop turned, so the SDK's releases queued for this thread have run).
async function collected(gone, count) {
  for (let i = 0; i < 20 && gone.size < count; i++) {
    await turn()
    gc()
  }
  return gone.size === count
}

// A call's data built and dropped inside `ingest`, with its ArrayBuffers watched: `gone` fills
// with their tags as the GC collects them.
const watch = new FinalizationRegistry(({ gone, tag }) => gone.add(tag))
function watched(gone, ingest, tag, make) {
  return (() => {
    const data = make()
    watch.register(data instanceof Uint8Array ? data.buffer : data.batches[0].getChild('seats').data[0].values.buffer, { gone, tag })
    return ingest(data)
  })()
}

test('ingestBatchNoCopy holds the batch\'s memory until its rows are acked, then lets go; the rows land', async () => {
  const held = await open(SCHEMA, { flushTimeoutMs: 300, recovery: false }, silent)
  const gone = new Set()
  assert.equal(await watched(gone, (d) => held.ingestBatchNoCopy(d), 'columns', () => cars(0, 50)), 0n)
  assert.equal(await watched(gone, (d) => held.ingestBatchNoCopy(d), 'ipc', () => arrow.tableToIPC(cars(50, 5), 'stream')), 1n)
  assert.equal(await collected(gone, 1), false, 'the SDK let go of an unacked call\'s memory')
  assert.deepEqual(gone, new Set())
  // The copying form lets go at once.
  assert.equal(await watched(gone, (d) => held.ingestBatch(d), 'copied', () => cars(55, 5)), 2n)
  assert.equal(await collected(gone, 1), true)
  assert.deepEqual(gone, new Set(['copied']))
  await rejectsWith(held.flush(), 'TIMEOUT')
  assert.deepEqual(seatsOf(await held.getUnackedBatches()), Array.from({ length: 60 }, (_, i) => i))
  await assert.rejects(held.close())

  const acked = await open()
  const landed = new Set()
  const columns = watched(landed, (d) => acked.ingestBatchNoCopy(d), 'columns', () => cars(0, 50))
  const ipc = watched(landed, (d) => acked.ingestBatchNoCopy(d), 'ipc', () => arrow.tableToIPC(cars(50, 5), 'stream'))
  assert.deepEqual(await Promise.all([columns, ipc]), [0n, 1n])
  await acked.flush()
  assert.equal(await collected(landed, 2), true, 'the SDK kept an acked call\'s memory')
  assert.equal(acked.metrics().recordsSent, 55)
  // A call that fails lets go of its memory before it rejects.
  const failed = new Set()
  const wrong = () => new arrow.Table({ name: arrow.vectorFromArray(['x'], new arrow.LargeUtf8()), seats: arrow.vectorFromArray([1.5], new arrow.Float64()) })
  await rejectsWith(watched(failed, (d) => acked.ingestBatchNoCopy(d), 'wrong', wrong), 'INVALID_RECORD', /seats/)
  assert.equal(await collected(failed, 1), true)
  await acked.close()
})

test('ingestBatchNoCopy copies shared memory, as ingestBatch does', async () => {
  const stream = await open()
  const seats = new Int32Array(new SharedArrayBuffer(8))
  seats.set([7, 8])
  const shared = new arrow.Table({ name: arrow.vectorFromArray(['x', 'y'], new arrow.LargeUtf8()), seats: arrow.makeVector(seats) })
  const ipc = new Uint8Array(new SharedArrayBuffer(arrow.tableToIPC(cars(0, 1), 'stream').byteLength))
  ipc.set(arrow.tableToIPC(cars(0, 1), 'stream'))
  const native = stream._native
  const lend = () => { throw new Error('lent shared memory') }
  for (const name of ['queueColumnsNoCopy', 'queueIpcNoCopy']) native[name] = lend
  assert.deepEqual([await stream.ingestBatchNoCopy(shared), await stream.ingestBatchNoCopy(ipc)], [0n, 1n])
  await stream.flush()
  assert.equal(stream.metrics().recordsSent, 3)
  await stream.close()
})

test('column buffers that do not make the schema\'s columns fail INVALID_RECORD naming the column; nothing is queued', async () => {
  const stream = await open()
  const schema = Buffer.from(arrow.tableToIPC(new arrow.Table(SCHEMA), 'stream'))
  const none = new Uint8Array(0)
  const offsets = new Uint8Array(new BigInt64Array([0n, 1n, 2n, 3n]).buffer)
  // One batch of 3 rows: name is whole, seats has 4 bytes for three Int32 values.
  const nodes = [3, 0, 3, 0, 3, 0]
  const buffers = [none, none, none, none, offsets, new Uint8Array([97, 98, 99]), none, none, new Uint8Array(4)]
  assert.throws(() => stream._native.queueColumns(schema, nodes, buffers), /INVALID_RECORD.*column seats/)
  assert.throws(() => stream._native.queueColumns(schema, [3, 0, 3], buffers), /INVALID_RECORD.*whole nodes/)
  assert.equal(stream.metrics().recordsSent, 0)
  buffers[8] = new Uint8Array(12)
  assert.equal(stream._native.queueColumns(schema, nodes, buffers), 0)
  await stream.flush()
  assert.equal(stream.metrics().recordsSent, 3)
  await stream.close()
})

test('calls made without awaiting keep their order under backpressure', async () => {
  const stream = await open(SCHEMA, { maxInflightBatches: 2 })
  const pending = []
  for (let i = 0; i < 50; i++) pending.push(stream.ingestBatch(cars(i, 1)))
  assert.deepEqual(await Promise.all(pending), Array.from({ length: 50 }, (_, i) => BigInt(i)))
  await stream.close()
})

test('schemas: from the table, IPC bytes, the published schemaFields', async () => {
  const fromTable = await open(null)
  assert.deepEqual(fromTable.schema.fields.map((f) => [f.name, String(f.type), f.nullable]), [
    ['name', 'LargeUtf8', false],
    ['seats', 'Int32', true],
  ])
  assert.ok(fromTable.schemaIpc instanceof Buffer)
  assert.equal(await fromTable.ingestBatch(cars(0, 2)), 0n)
  await fromTable.close()

  const undef = await open(undefined)
  await undef.close()

  const ipcSchema = await open(arrow.tableToIPC(new arrow.Table(SCHEMA), 'stream'))
  assert.equal(await ipcSchema.ingestBatch(cars(0, 1)), 0n)
  await ipcSchema.close()

  // The published signature: ({ tableName, schemaFields }, clientId, clientSecret, options).
  const published = await sdk.createArrowStream(
    {
      tableName: TABLE,
      schemaFields: [
        { name: 'name', dataType: ArrowDataType.LargeUtf8, nullable: false },
        { name: 'seats', dataType: ArrowDataType.Int32 },
      ],
    },
    server.clientId,
    server.clientSecret,
    { maxInflightBatches: 10 }
  )
  assert.equal(await published.ingestBatch(cars(0, 1)), 0n)
  await published.close()

  await rejectsWith(open(new Uint8Array([1, 2, 3])), 'INVALID_ARGUMENT', /schema/)
  await rejectsWith(open(42), 'INVALID_ARGUMENT', /schema/)
  await rejectsWith(
    sdk.createArrowStream({ tableName: TABLE, schemaFields: [{ name: 'name', dataType: 99 }] }, server.clientId, server.clientSecret),
    'INVALID_ARGUMENT',
    /dataType 99/
  )
  // The server checks the schema against the table's.
  const wrong = new arrow.Schema([new arrow.Field('name', new arrow.LargeUtf8(), false), new arrow.Field('seats', new arrow.Utf8(), true)])
  await assert.rejects(open(wrong, { recovery: false }), (e) => e instanceof ZerobusError && /seats/.test(e.message))
})

test('a batch that does not fit the schema fails naming the column; the stream carries on', async () => {
  const stream = await open()
  const badType = new arrow.Table({
    name: arrow.vectorFromArray(['a'], new arrow.LargeUtf8()),
    seats: arrow.vectorFromArray(['four'], new arrow.LargeUtf8()),
  })
  await rejectsWith(stream.ingestBatch(badType), 'INVALID_RECORD', /seats/)
  await rejectsWith(stream.ingestBatch(arrow.tableToIPC(badType, 'stream')), 'INVALID_RECORD', /seats/)
  // tableFromArrays makes a string column a dictionary: not the table's LargeUtf8.
  await rejectsWith(stream.ingestBatch(arrow.tableFromArrays({ name: ['a'], seats: Int32Array.from([1]) })), 'INVALID_RECORD', /name/)
  await rejectsWith(stream.ingestBatch(42), 'INVALID_RECORD', /Table or RecordBatch/)
  await rejectsWith(stream.ingestBatch(null), 'INVALID_RECORD')
  await rejectsWith(stream.ingestBatch({ rows: [] }), 'INVALID_RECORD')
  await rejectsWith(stream.ingestBatch(new Uint8Array([0xff, 0xff, 0xff, 0xff, 9])), 'INVALID_RECORD')
  assert.equal(await stream.ingestBatch(cars(0, 1)), 0n)
  await stream.close()
})

test('options: compression by name, ranges checked by the core', async () => {
  for (const ipcCompression of ['none', 'lz4_frame', 'zstd', IpcCompressionType.Zstd, IpcCompressionType.Lz4Frame]) {
    const stream = await open(SCHEMA, { ipcCompression, maxInflightBytes: 1 << 20, connectionTimeoutMs: 5_000 })
    assert.equal(await stream.ingestBatch(cars(0, 3)), 0n, ipcCompression)
    await stream.close()
  }
  await rejectsWith(open(SCHEMA, { ipcCompression: 'gzip' }), 'INVALID_ARGUMENT', /ipc_compression.*none, lz4_frame, zstd/)
  await rejectsWith(open(SCHEMA, { ipcCompression: 1 }), 'INVALID_ARGUMENT', /ipcCompression/)
  await rejectsWith(open(SCHEMA, { maxInflightBatches: 200_000_000 }), 'INVALID_ARGUMENT', /max_inflight_batches/)
  await rejectsWith(open(SCHEMA, { connectionTimeoutMs: 0 }), 'INVALID_ARGUMENT', /connection_timeout_ms/)
  await rejectsWith(open(SCHEMA, { maxInflightBatches: -1 }), 'INVALID_ARGUMENT', /maxInflightBatches/)
  await rejectsWith(open(SCHEMA, { recovery: 'yes' }), 'INVALID_ARGUMENT', /recovery/)
})

test('a throwing callback is reported, not fatal; headers provider', async () => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  const stream = await open(SCHEMA, {
    ackCallback: () => {
      throw new Error('boom from an arrow callback')
    },
  })
  await stream.ingestBatch(cars(0, 1))
  await stream.ingestBatch(cars(1, 1))
  await stream.close()
  await new Promise((r) => setImmediate(r))
  process.off('warning', onWarning)
  assert.ok(warnings.some((w) => /boom from an arrow callback/.test(w.message)))

  let calls = 0
  const provider = async () => {
    calls++
    return [
      ['authorization', 'Bearer zerobus-dev-static-token'],
      ['x-databricks-zerobus-table-name', TABLE],
    ]
  }
  const pat = await sdk.createArrowStream(TABLE, SCHEMA, '', '', fast, provider)
  assert.equal(await pat.ingestBatch(cars(0, 1)), 0n)
  await pat.close()
  assert.equal(calls, 1)
  await rejectsWith(
    sdk.createArrowStream(TABLE, SCHEMA, '', '', fast, () => {
      throw new ZerobusError('PERMISSION_DENIED', 'not for this table')
    }),
    'PERMISSION_DENIED'
  )
})

test('unacked batches after a failure, ingested again on a new stream', async () => {
  const errors = []
  const stream = await open(SCHEMA, { flushTimeoutMs: 300, recovery: false, errorCallback: (o, m) => errors.push([o, m]) }, silent)
  assert.equal(await stream.ingestBatch(cars(0, 2).concat(cars(2, 1))), 0n)
  assert.equal(await stream.ingestBatch(cars(3, 2).batches[0]), 1n)
  await rejectsWith(stream.flush(), 'TIMEOUT')
  const unacked = await stream.getUnackedBatches()
  assert.deepEqual(seatsOf(unacked), [0, 1, 2, 3, 4])
  assert.ok(unacked.every((b) => b instanceof arrow.RecordBatch))
  const ipc = await stream.getUnackedIpc()
  assert.ok(ipc instanceof Buffer)
  assert.deepEqual(seatsOf(arrow.tableFromIPC(ipc).batches), [0, 1, 2, 3, 4])
  await assert.rejects(stream.close())
  assert.equal(stream.isClosed, true)
  assert.deepEqual(seatsOf(await stream.getUnackedBatches()), [0, 1, 2, 3, 4])

  const again = await open()
  let last
  for (const batch of unacked) last = await again.ingestBatch(batch)
  await again.waitForOffset(last)
  assert.equal(again.metrics().recordsSent, 5)
  await again.close()
})

test('Symbol.asyncDispose closes the stream (await using)', async () => {
  const stream = await open()
  await stream.ingestBatch(cars(0, 1))
  await stream[Symbol.asyncDispose]()
  assert.equal(stream.isClosed, true)
})
