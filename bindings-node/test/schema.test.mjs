// Streams from the table and table schemas, against `zerobus serve --table '…'` (built by
// `cargo build -p zerobus-cli`): `getTableSchema`, a PROTO stream created without a descriptor,
// and plain objects / JSON text encoded to proto by the core. A second server that never acks
// keeps every call in `getUnackedBatches()`, so the encoded bytes can be read back.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startServer } from './server.mjs'

const require = createRequire(import.meta.url)
const { ZerobusSdk, ZerobusError, RecordType } = require('../index.js')

const TABLE = 'main.default.readings'
const DEFINITION =
  `${TABLE}(id BIGINT NOT NULL, name STRING, at TIMESTAMP, day DATE, blob BINARY, tags ARRAY<STRING>, ` +
  'loc STRUCT<lat: DOUBLE, lon: DOUBLE>, attrs MAP<STRING, INT>, big BIGINT, score DOUBLE, ok BOOLEAN, ' +
  'price DECIMAL(10,2), extra VARIANT)'
const fast = { recoveryBackoffMs: 50, recoveryRetries: 1 }

let server
let silent // never acks: what a stream sent stays readable as its unacked batches
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

function fromTable(on = server, options = {}) {
  const s = new ZerobusSdk(on.endpoint, on.workspaceUrl)
  return s.createStream({ tableName: TABLE }, on.clientId, on.clientSecret, { recordType: RecordType.Proto, ...fast, ...options })
}

async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof ZerobusError, `expected a ZerobusError, got ${e}`)
    assert.equal(e.code, code, e.message)
    if (pattern) assert.match(e.message, pattern)
    return true
  })
}

// A protobuf message → [[field number, value], …]: varints as bigint, fixed64 as a double,
// length-delimited as a Buffer.
function fields(buf) {
  const out = []
  let i = 0
  const varint = () => {
    let v = 0n
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[i++]
      v |= BigInt(b & 0x7f) << shift
      if (b < 0x80) return v
    }
  }
  while (i < buf.length) {
    const key = Number(varint())
    const [number, wire] = [key >> 3, key & 7]
    if (wire === 0) out.push([number, varint()])
    else if (wire === 1) {
      out.push([number, buf.readDoubleLE(i)])
      i += 8
    } else if (wire === 2) {
      const len = Number(varint())
      out.push([number, buf.subarray(i, i + len)])
      i += len
    } else throw new Error(`wire type ${wire}`)
  }
  return out
}
const field = (buf, n) => fields(buf).filter(([k]) => k === n).map(([, v]) => v)

test('getTableSchema: columns, descriptor and .proto of a declared table', async () => {
  const schema = await sdk.getTableSchema(TABLE, server.clientId, server.clientSecret)
  assert.equal(schema.tableName, TABLE)
  assert.deepEqual(
    schema.columns.map((c) => [c.name, c.typeText, c.typeName, c.nullable, c.position]),
    [
      ['id', 'bigint', 'LONG', false, 0],
      ['name', 'string', 'STRING', true, 1],
      ['at', 'timestamp', 'TIMESTAMP', true, 2],
      ['day', 'date', 'DATE', true, 3],
      ['blob', 'binary', 'BINARY', true, 4],
      ['tags', 'array<string>', 'ARRAY', true, 5],
      ['loc', 'struct<lat:double,lon:double>', 'STRUCT', true, 6],
      ['attrs', 'map<string,int>', 'MAP', true, 7],
      ['big', 'bigint', 'LONG', true, 8],
      ['score', 'double', 'DOUBLE', true, 9],
      ['ok', 'boolean', 'BOOLEAN', true, 10],
      ['price', 'decimal(10,2)', 'DECIMAL', true, 11],
      ['extra', 'variant', 'VARIANT', true, 12],
    ]
  )
  assert.ok(Buffer.isBuffer(schema.descriptorProto))
  // DescriptorProto: name = 1, field = 2 (one per column).
  assert.equal(field(schema.descriptorProto, 1)[0].toString(), 'readings')
  assert.equal(field(schema.descriptorProto, 2).length, 13)
  assert.match(schema.protoFile, /syntax = "proto2";/)
  assert.match(schema.protoFile, /required int64 id = 1;/)
  assert.match(schema.protoFile, /map<string, int32> attrs = 8;/)
  assert.equal(schema.protoError, null)
})

test('getTableSchema: unknown table, bad name, bad credentials, headers provider', async () => {
  await rejectsWith(sdk.getTableSchema('main.default.nope', server.clientId, server.clientSecret), 'NOT_FOUND', /main\.default\.nope/)
  await rejectsWith(sdk.getTableSchema('nope', server.clientId, server.clientSecret), 'INVALID_ARGUMENT')
  await rejectsWith(sdk.getTableSchema(42, server.clientId, server.clientSecret), 'INVALID_ARGUMENT')
  await assert.rejects(sdk.getTableSchema(TABLE, server.clientId, 'wrong-secret-5678'), (e) => {
    assert.equal(e.code, 'UNAUTHENTICATED', e.message)
    assert.ok(!e.message.includes('wrong-secret-5678'))
    return true
  })
  await rejectsWith(sdk.getTableSchema(TABLE, '', '', () => [['authorization', 'Bearer not-a-token']]), 'UNAUTHENTICATED')
  await rejectsWith(sdk.getTableSchema(TABLE, '', '', () => [['x-other', '1']]), 'INVALID_ARGUMENT', /authorization/)
  const failing = () => {
    throw new ZerobusError('PERMISSION_DENIED', 'no access here')
  }
  await rejectsWith(sdk.getTableSchema(TABLE, '', '', failing), 'PERMISSION_DENIED', /no access here/)

  // A token for the table, fetched as the core would (PROTOCOL.md §4), given by a provider.
  const workspaceId = new URL(server.endpoint).hostname.split('.')[0]
  const details = [
    { type: 'unity_catalog_privileges', privileges: ['USE CATALOG'], object_type: 'CATALOG', object_full_path: 'main' },
    { type: 'unity_catalog_privileges', privileges: ['USE SCHEMA'], object_type: 'SCHEMA', object_full_path: 'main.default' },
    { type: 'unity_catalog_privileges', privileges: ['SELECT', 'MODIFY'], object_type: 'TABLE', object_full_path: TABLE, operations: ['zerobuswrite'] },
  ]
  const res = await fetch(`${server.workspaceUrl}/oidc/v1/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${server.clientId}:${server.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'all-apis',
      resource: `api://databricks/workspaces/${workspaceId}/zerobusDirectWriteApi`,
      authorization_details: JSON.stringify(details),
    }),
  })
  assert.equal(res.status, 200)
  const { access_token: token } = await res.json()
  let calls = 0
  const schema = await sdk.getTableSchema(TABLE, '', '', {
    getHeaders: async () => {
      calls++
      return [['authorization', `Bearer ${token}`]]
    },
  })
  assert.equal(calls, 1)
  assert.equal(schema.columns.length, 13)
})

test('a PROTO stream without a descriptor is opened from the table and takes objects and JSON text', async () => {
  const acks = []
  const stream = await fromTable(server, { ackCallback: (o) => acks.push(o) })
  assert.equal(stream.recordType, RecordType.Proto)
  assert.equal(stream.tableSchema.tableName, TABLE)
  assert.deepEqual(stream.tableSchema.descriptorProto, (await sdk.getTableSchema(TABLE, server.clientId, server.clientSecret)).descriptorProto)
  assert.equal(await stream.ingestRecordOffset({ id: 1, name: 'a', loc: { lat: 1.5, lon: -2 } }), 0n)
  assert.equal(await stream.ingestRecordOffset('{"id":2,"tags":["x","y"]}'), 1n)
  assert.equal(await stream.ingestRecordsOffset([{ id: 3 }, { id: 4, attrs: { k: 1 } }, { id: 5, ok: null }]), 2n)
  assert.equal(await stream.ingestRecordsOffset(['{"id":6}', '{"id":7}']), 3n)
  assert.equal(await stream.ingestRecordsOffset([{ id: 8 }, '{"id":9}']), 4n)
  assert.equal(await stream.ingestRecordsOffset([]), null)
  await stream.ingestRecordNowait({ id: 10 })
  await stream.ingestRecordsNowait([{ id: 11 }, { id: 12 }])
  assert.equal(stream.tryIngestRecordOffset({ id: 13 }), 7n)
  assert.equal(stream.tryIngestRecordsOffset([{ id: 14 }, '{"id":15}']), 8n)
  await stream.flush()
  assert.equal(stream.metrics().recordsSent, 15)
  await stream.close()
  assert.deepEqual(acks, [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n])

  // Only a stream opened from its table has a schema.
  const json = await sdk.createStream({ tableName: TABLE }, server.clientId, server.clientSecret, { recordType: RecordType.Json, ...fast })
  assert.equal(json.tableSchema, null)
  await json.close()
  const schema = await sdk.getTableSchema(TABLE, server.clientId, server.clientSecret)
  const described = await sdk.createStream({ tableName: TABLE, descriptorProto: schema.descriptorProto }, server.clientId, server.clientSecret, {
    recordType: RecordType.Proto,
    ...fast,
  })
  assert.equal(described.tableSchema, null)
  await rejectsWith(described.ingestRecordOffset('{"id":1}'), 'INVALID_RECORD', /record type mismatch/)
  await rejectsWith(described.ingestRecordsOffset(['{"id":1}']), 'INVALID_RECORD', /record type mismatch/)
  await described.close()
})

test('from the table: JavaScript values become the text forms of their columns', async () => {
  const stream = await fromTable(silent, { flushTimeoutMs: 200 })
  const at = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))
  const record = {
    id: 1,
    name: 'ä "quoted"',
    at,
    day: '2024-01-02',
    blob: Buffer.from([0, 1, 2, 255]),
    tags: new Set(['x', 'y']),
    loc: { lat: 1.5, lon: null },
    attrs: new Map([['a', 1], ['b', 2]]),
    big: 2n ** 60n + 1n,
    score: NaN,
    ok: true,
    price: 12.5,
    extra: { nested: [1, 'two', null] },
  }
  const text =
    '{"id":1,"name":"ä \\"quoted\\"","at":"2024-01-02T03:04:05.678Z","day":"2024-01-02","blob":"AAEC/w==",' +
    '"tags":["x","y"],"loc":{"lat":1.5,"lon":null},"attrs":{"a":1,"b":2},"big":"1152921504606846977",' +
    '"score":"NaN","ok":true,"price":12.5,"extra":{"nested":[1,"two",null]}}'
  assert.equal(await stream.ingestRecordOffset(record), 0n)
  assert.equal(await stream.ingestRecordOffset(text), 1n)
  assert.equal(await stream.ingestRecordsOffset([record, { id: 2, blob: new Uint8Array([7, 8]) }, { id: 3, blob: new Uint8Array([7, 8]).buffer }]), 2n)
  const batches = await stream.getUnackedBatches()
  assert.deepEqual(batches.map((b) => b.length), [1, 1, 3])
  const [[fromObject], [fromText], [again, u8, ab]] = batches
  assert.deepEqual(fromObject, fromText) // the object encodes exactly as its JSON text
  assert.deepEqual(again, fromObject)
  assert.equal(field(fromObject, 1)[0], 1n)
  assert.equal(field(fromObject, 2)[0].toString(), 'ä "quoted"')
  assert.equal(field(fromObject, 3)[0], BigInt(at.getTime()) * 1000n) // µs since the epoch
  assert.equal(field(fromObject, 4)[0], BigInt(Date.UTC(2024, 0, 2) / 86_400_000)) // days
  assert.deepEqual(field(fromObject, 5)[0], Buffer.from([0, 1, 2, 255]))
  assert.deepEqual(field(fromObject, 6).map(String), ['x', 'y'])
  assert.deepEqual(fields(field(fromObject, 7)[0]), [[1, 1.5]])
  assert.equal(field(fromObject, 8).length, 2)
  assert.equal(field(fromObject, 9)[0], 2n ** 60n + 1n)
  assert.ok(Number.isNaN(field(fromObject, 10)[0]))
  assert.equal(field(fromObject, 11)[0], 1n)
  assert.equal(field(fromObject, 12)[0].toString(), '12.50')
  assert.equal(field(fromObject, 13)[0].toString(), '{"nested":[1,"two",null]}')
  assert.deepEqual(field(u8, 5)[0], Buffer.from([7, 8]))
  assert.deepEqual(field(ab, 5)[0], Buffer.from([7, 8]))
  await assert.rejects(stream.close(), (e) => e.code === 'TIMEOUT') // the server never acks
})

test('from the table: a bad record fails its call with the record and the column, and queues nothing', async () => {
  const stream = await fromTable()
  assert.equal(await stream.ingestRecordOffset({ id: 1 }), 0n)
  await rejectsWith(
    stream.ingestRecordsOffset([{ id: 2 }, { id: 3, loc: { lat: 'north' } }]),
    'INVALID_RECORD',
    /record 1 of the batch: table main\.default\.readings: loc\.lat: expected DOUBLE, got string "north"/
  )
  await rejectsWith(stream.ingestRecordsOffset(['{"id":2}', '{"id":3,"loc":{"lat":"north"}}']), 'INVALID_RECORD', /record 1 of the batch: .*loc\.lat/)
  await rejectsWith(stream.ingestRecordOffset({ name: 'no id' }), 'INVALID_RECORD', /\bid\b/)
  await rejectsWith(stream.ingestRecordOffset({ id: 4, colour: 'red' }), 'INVALID_RECORD', /colour/)
  await rejectsWith(stream.ingestRecordOffset({ id: 5, tags: [1] }), 'INVALID_RECORD', /tags\[0\]/)
  await rejectsWith(stream.ingestRecordOffset({ id: 6, attrs: new Map([['a', 2 ** 40]]) }), 'INVALID_RECORD', /attrs\[a\]/)
  assert.throws(() => stream.tryIngestRecordsOffset([{ id: 7, ok: 'yes' }]), (e) => e.code === 'INVALID_RECORD' && /ok/.test(e.message))
  await rejectsWith(stream.ingestRecordOffset({ id: 7, at: new Date(NaN) }), 'INVALID_RECORD', /at: .*"Invalid Date"/)
  await rejectsWith(stream.ingestRecordOffset(null), 'INVALID_RECORD')
  const getter = new Error('getter failed')
  await assert.rejects(
    stream.ingestRecordsOffset([{ id: 8, get name() { throw getter } }]),
    (e) => e.code === 'INVALID_RECORD' && e.cause === getter
  )
  // Nothing of the failed calls was queued: the next call gets the next offset.
  assert.equal(await stream.ingestRecordsOffset([{ id: 9 }, { id: 10 }]), 1n)
  await stream.flush()
  assert.equal(stream.metrics().recordsSent, 3)
  await stream.close()
})

test('from the table: an undeclared table fails at create', async () => {
  await rejectsWith(
    sdk.createStream({ tableName: 'main.default.undeclared' }, server.clientId, server.clientSecret, { recordType: RecordType.Proto, ...fast }),
    'NOT_FOUND',
    /main\.default\.undeclared/
  )
})
