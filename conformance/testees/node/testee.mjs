// Conformance testee for the Node binding (see conformance/TESTEE.md): one request per stdin
// line, one response per stdout line, no logic beyond mapping requests to the package's public API.
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { ZerobusSdk, ZerobusError, RecordType } = require('../../../bindings-node/index.js')

// apache-arrow (the binding's optional peer, a dev dependency of bindings-node) turns the cases'
// IPC bytes into the objects an application would hand over.
const arrow = createRequire(new URL('../../../bindings-node/index.js', import.meta.url))('apache-arrow')

// ---- records, exactly as conformance/src/records.rs --------------------------------------------
const MASK = (1n << 64n) - 1n

function pad(seed, index, len) {
  let x = (BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(index) + 1n) & MASK
  const out = Buffer.allocUnsafe(len)
  for (let i = 0; i < len; i++) {
    x ^= (x << 13n) & MASK
    x ^= x >> 7n
    x ^= (x << 17n) & MASK
    out[i] = 97 + Number(x % 26n)
  }
  return out
}

function jsonRecord(seed, index, size) {
  const head = `{"seed":${seed},"seq":${index},"pad":"`
  const tail = '"}'
  const len = Math.max(0, size - head.length - tail.length)
  return head + pad(seed, index, len).toString('latin1') + tail
}

function varint(v) {
  const out = []
  let x = BigInt(v)
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80)
    x >>= 7n
  }
  out.push(Number(x))
  return out
}

function protoRecord(seed, index, size) {
  const head = [0x08, ...varint(seed), 0x10, ...varint(index)]
  const fixed = head.length + 1
  let len = Math.max(0, size - (fixed + 1))
  while (len > 0 && fixed + varint(len).length + len > size) len--
  return Buffer.concat([Buffer.from([...head, 0x1a, ...varint(len)]), pad(seed, index, len)])
}

// ---- the testee ------------------------------------------------------------------------------
let stream = null
let headersCalls = 0
const acks = []
const errors = []
// Set when the `close` op returns (whatever its result); callbacks after that are counted.
let closeReturned = false
let late = 0

function noteCallback() {
  if (closeReturned) late++
}

function bad(message) {
  return new ZerobusError('INVALID_ARGUMENT', message)
}

function current() {
  if (!stream) throw bad('no stream was created')
  return stream
}

const OPTIONS = {
  max_inflight_requests: 'maxInflightRequests',
  max_inflight_bytes: 'maxInflightBytes',
  recovery: 'recovery',
  recovery_timeout_ms: 'recoveryTimeoutMs',
  recovery_backoff_ms: 'recoveryBackoffMs',
  recovery_backoff_max_ms: 'recoveryBackoffMaxMs',
  recovery_retries: 'recoveryRetries',
  server_lack_of_ack_timeout_ms: 'serverLackOfAckTimeoutMs',
  flush_timeout_ms: 'flushTimeoutMs',
  stream_paused_max_wait_time_ms: 'streamPausedMaxWaitTimeMs',
  callback_max_wait_time_ms: 'callbackMaxWaitTimeMs',
}

const ARROW_OPTIONS = {
  ...OPTIONS,
  max_inflight_batches: 'maxInflightBatches',
  connection_timeout_ms: 'connectionTimeoutMs',
  ipc_compression: 'ipcCompression',
}
delete ARROW_OPTIONS.max_inflight_requests

function newSdk(req) {
  const sdkOptions = {}
  if (typeof req.ca_pem === 'string') sdkOptions.caCertificatesPem = req.ca_pem
  if (typeof req.application_name === 'string') sdkOptions.applicationName = req.application_name
  return new ZerobusSdk(req.endpoint || '', req.workspace_url || '', sdkOptions)
}

// `auth` → [clientId, clientSecret, headersProvider or undefined].
function credentials(req) {
  const auth = req.auth || {}
  if (auth.kind !== 'headers') return [auth.client_id || '', auth.client_secret || '', undefined]
  const headers = auth.headers || []
  const fail = auth.fail
  const provider = {
    async getHeaders() {
      headersCalls++
      if (fail) throw new ZerobusError(fail.code, fail.message || '')
      return headers
    },
  }
  return ['', '', provider]
}

// The request's options under the binding's names, with the callbacks when asked for.
function streamOptions(req, names) {
  const o = req.options || {}
  const options = {}
  for (const [wire, name] of Object.entries(names)) if (o[wire] !== undefined && o[wire] !== null) options[name] = o[wire]
  if (o.ack_callback === true) {
    options.ackCallback = (offset) => {
      noteCallback()
      acks.push(Number(offset))
    }
    options.errorCallback = (offset) => {
      noteCallback()
      errors.push(Number(offset))
    }
  }
  return options
}

async function create(req) {
  const sdk = newSdk(req)
  const options = streamOptions(req, OPTIONS)
  const table = { tableName: req.table || '' }
  if (req.record_type === 'proto') {
    options.recordType = RecordType.Proto
    // No descriptor: the stream is created from the table.
    if (req.descriptor_hex != null) table.descriptorProto = Buffer.from(req.descriptor_hex, 'hex')
  } else {
    options.recordType = RecordType.Json
  }
  const [clientId, clientSecret, provider] = credentials(req)
  stream = await sdk.createStream(table, clientId, clientSecret, options, provider)
  return {}
}

// `schema_hex` → an apache-arrow Schema (absent: null, the schema comes from the table).
async function createArrow(req) {
  const sdk = newSdk(req)
  const options = streamOptions(req, ARROW_OPTIONS)
  const schema = req.schema_hex == null ? null : arrow.tableFromIPC(Buffer.from(req.schema_hex, 'hex')).schema
  const [clientId, clientSecret, provider] = credentials(req)
  stream = await sdk.createArrowStream(req.table || '', schema, clientId, clientSecret, options, provider)
  return {}
}

// form `native`: an apache-arrow Table read from the bytes; `ipc`: the bytes themselves.
async function ingestArrow(req) {
  if (req.form !== 'native' && req.form !== 'ipc' && req.form != null) throw bad(`unknown ingest_arrow form ${JSON.stringify(req.form)}`)
  const bytes = new Uint8Array(Buffer.from(req.ipc_hex || '', 'hex'))
  const data = req.form === 'native' ? arrow.tableFromIPC(bytes) : bytes
  return { offset: Number(await current().ingestBatch(data)) }
}

async function tableSchema(req) {
  const [clientId, clientSecret, provider] = credentials(req)
  const schema = await newSdk(req).getTableSchema(req.table || '', clientId, clientSecret, provider)
  return {
    columns: schema.columns.map((c) => ({ name: c.name, type: c.typeText, nullable: c.nullable, position: c.position })),
    descriptor_hex: schema.descriptorProto === null ? null : schema.descriptorProto.toString('hex'),
  }
}

async function ingest(req) {
  const s = current()
  return { offsets: await produce(s, req, req.seed ?? 1) }
}

// `producers` concurrent promise chains on the one stream, producer k with seed seed + k.
async function ingestConcurrent(req) {
  const s = current()
  const seed = req.seed ?? 1
  const producers = Math.max(1, req.producers || 1)
  const offsets = await Promise.all(Array.from({ length: producers }, (_, k) => produce(s, req, seed + k)))
  return { offsets }
}

// One producer: records start…start+count−1 of `seed` in calls of `batch`; the offsets.
async function produce(s, req, seed) {
  const { start = 0, count = 0, size = 100 } = req
  const batch = Math.max(1, req.batch || 1)
  const mode = req.mode || 'offset'
  const proto = s.recordType === RecordType.Proto
  const make = (i) => (proto ? protoRecord(seed, i, size) : jsonRecord(seed, i, size))
  const offsets = []
  for (let i = start; i < start + count; ) {
    const end = Math.min(i + batch, start + count)
    const records = []
    for (let j = i; j < end; j++) records.push(make(j))
    if (mode === 'try') {
      const offset = batch === 1 ? s.tryIngestRecordOffset(records[0]) : s.tryIngestRecordsOffset(records)
      offsets.push(offset === null ? null : Number(offset))
    } else if (mode === 'nowait') {
      if (batch === 1) await s.ingestRecordNowait(records[0])
      else await s.ingestRecordsNowait(records)
    } else {
      const offset = batch === 1 ? await s.ingestRecordOffset(records[0]) : await s.ingestRecordsOffset(records)
      offsets.push(offset === null ? null : Number(offset))
    }
    i = end
  }
  return offsets
}

// `kind`: json → the text as is; proto → bytes; object → the parsed object (the native-object call).
const RAW = { json: (r) => r, proto: (r) => Buffer.from(r, 'hex'), object: (r) => JSON.parse(r) }

async function ingestRaw(req) {
  const s = current()
  const convert = RAW[req.kind]
  if (!convert) throw bad(`unknown ingest_raw kind ${JSON.stringify(req.kind)}`)
  const records = (req.records || []).map(convert)
  const offsets = []
  if (req.batch === true) {
    const o = await s.ingestRecordsOffset(records)
    offsets.push(o === null ? null : Number(o))
  } else {
    for (const r of records) offsets.push(Number(await s.ingestRecordOffset(r)))
  }
  return { offsets }
}

async function handle(req) {
  switch (req.op) {
    case 'create_stream':
      return create(req)
    case 'ingest':
      return ingest(req)
    case 'ingest_concurrent':
      return ingestConcurrent(req)
    case 'ingest_empty_batch': {
      const o = await current().ingestRecordsOffset([])
      return { offsets: [o === null ? null : Number(o)] }
    }
    case 'ingest_raw':
      return ingestRaw(req)
    case 'table_schema':
      return tableSchema(req)
    case 'create_arrow_stream':
      return createArrow(req)
    case 'ingest_arrow':
      return ingestArrow(req)
    case 'arrow_unacked':
      return { ipc_hex: (await current().getUnackedIpc()).toString('hex') }
    case 'wait_for_offset':
      await current().waitForOffset(BigInt(req.offset ?? -1))
      return {}
    case 'flush':
      await current().flush()
      return {}
    case 'close': {
      const s = current()
      try {
        await s.close()
      } finally {
        closeReturned = true
      }
      return {}
    }
    case 'is_closed':
      return { closed: current().isClosed }
    case 'unacked': {
      const s = current()
      const proto = s.recordType === RecordType.Proto
      const batches = (await s.getUnackedBatches()).map((b) => b.map((r) => (proto ? r.toString('hex') : r.toString('utf8'))))
      return { batches }
    }
    case 'metrics': {
      const m = current().metrics()
      return {
        metrics: {
          inflight_requests: m.inflightRequests,
          inflight_records: m.inflightRecords,
          inflight_bytes: m.inflightBytes,
          last_acked_offset: m.lastAckedOffset,
          records_sent: m.recordsSent,
          records_resent: m.recordsResent,
          recoveries: m.recoveries,
          token_fetches: m.tokenFetches,
        },
      }
    }
    case 'callbacks':
      return { acks, errors, late }
    case 'headers_provider_calls':
      return { count: headersCalls }
    default:
      throw bad(`unknown op ${JSON.stringify(req.op)}`)
  }
}

function errorJson(e) {
  if (e instanceof ZerobusError) {
    return { code: e.code, grpc_status: e.grpcStatus, retryable: e.retryable, message: e.message }
  }
  return { code: 'INTERNAL', grpc_status: null, retryable: false, message: String(e && e.stack ? e.stack : e) }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  let req
  try {
    req = JSON.parse(line)
  } catch (e) {
    process.stderr.write(`testee-node: bad request line: ${e}\n`)
    continue
  }
  if (req.op === 'quit') break
  let reply
  try {
    reply = { ...(await handle(req)), ok: true }
  } catch (e) {
    reply = { ok: false, error: errorJson(e) }
  }
  reply.id = req.id
  process.stdout.write(JSON.stringify(reply) + '\n')
}
// The runner may keep our stdin open after `quit`: let go of it so the process can exit.
lines.close()
process.stdin.destroy()
// Close explicitly so a stream left open by a case is shut down before the process goes; nothing
// else should keep the process alive after that.
if (stream) await stream.close().catch(() => {})
