// Ingests JSON records into a Zerobus server and prints how many were acknowledged.
//
//   target/debug/zerobus serve        # prints ZEROBUS_* lines; export them, then:
//   node bindings-node/examples/ingest.mjs [count]
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
// In an application: import { ZerobusSdk, RecordType } from '@databricks/zerobus-ingest-sdk'
const { ZerobusSdk, RecordType, ZerobusError } = require('../index.js')

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`set ${name} (zerobus serve prints it)`)
  return v
}

const count = Number(process.argv[2] || 10_000)
const sdk = new ZerobusSdk(env('ZEROBUS_ENDPOINT'), env('ZEROBUS_WORKSPACE_URL'))
let acked = 0 // records acknowledged, counted by the ack callback
const BATCH = 1000
const stream = await sdk.createStream(
  { tableName: process.env.ZEROBUS_TABLE || 'main.default.events' },
  env('ZEROBUS_CLIENT_ID'),
  env('ZEROBUS_CLIENT_SECRET'),
  {
    recordType: RecordType.Json,
    // Offsets count calls from 0, so call `offset` carried records offset*BATCH onwards.
    ackCallback: (offset) => {
      acked += Math.min(BATCH, count - Number(offset) * BATCH)
    },
    errorCallback: (offset, message) => console.error(`offset ${offset} failed: ${message}`),
  }
)
try {
  // Batches of 1,000 records, one offset (and one ack) each.
  for (let start = 0; start < count; start += BATCH) {
    const batch = []
    for (let i = start; i < Math.min(start + BATCH, count); i++) batch.push({ id: i, name: `event ${i}`, at: Date.now() })
    await stream.ingestRecordsOffset(batch)
  }
  await stream.flush()
} catch (e) {
  if (e instanceof ZerobusError) console.error(`${e.code} (retryable: ${e.retryable}): ${e.message}`)
  throw e
} finally {
  await stream.close()
}
console.log(`acked ${acked} records (last acked offset ${stream.metrics().lastAckedOffset})`)
