// Opens a stream from a table (PROTO, no descriptor: the SDK reads the table's schema) and
// ingests plain objects, encoded to proto by the table's column types in the Rust core.
//
//   target/debug/zerobus serve --table 'main.default.air_quality(device_name STRING NOT NULL,
//     temp INT, humidity BIGINT, at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)'
//   # export the ZEROBUS_* lines it prints, then:
//   node bindings-node/examples/from_table.mjs [count]
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
// In an application: import { ZerobusSdk, RecordType } from '@databricks/zerobus-ingest-sdk'
const { ZerobusSdk, RecordType, ZerobusError } = require('../index.js')

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`set ${name} (zerobus serve prints it)`)
  return v
}

const table = process.env.ZEROBUS_TABLE || 'main.default.air_quality'
const count = Number(process.argv[2] || 10_000)
const sdk = new ZerobusSdk(env('ZEROBUS_ENDPOINT'), env('ZEROBUS_WORKSPACE_URL'))
const [clientId, clientSecret] = [env('ZEROBUS_CLIENT_ID'), env('ZEROBUS_CLIENT_SECRET')]

// The schema, as Unity Catalog describes it (also what the stream below reads for itself).
const schema = await sdk.getTableSchema(table, clientId, clientSecret)
console.log(schema.columns.map((c) => `${c.name} ${c.typeText}${c.nullable ? '' : ' NOT NULL'}`).join(', '))

const stream = await sdk.createStream({ tableName: table }, clientId, clientSecret, { recordType: RecordType.Proto })
try {
  const BATCH = 1000
  for (let start = 0; start < count; start += BATCH) {
    const batch = []
    for (let i = start; i < Math.min(start + BATCH, count); i++) {
      batch.push({
        device_name: `sensor-${i % 10}`,
        temp: 20 + (i % 15),
        humidity: BigInt(i) * 1_000_000_000n, // a bigint goes as its decimal text
        at: new Date(), // RFC 3339 text → TIMESTAMP µs
        tags: ['outdoor'],
        loc: { lat: 52.52, lon: 13.4 },
      })
    }
    await stream.ingestRecordsOffset(batch) // one call, one offset, encoded in Rust
  }
  await stream.flush()
} catch (e) {
  // A record that does not fit the table fails its call with the record and the column, e.g.
  // INVALID_RECORD: record 3 of the batch: table …: loc.lat: expected DOUBLE, got string "north"
  if (e instanceof ZerobusError) console.error(`${e.code}: ${e.message}`)
  throw e
} finally {
  await stream.close()
}
console.log(`ingested ${count} records (last acked offset ${stream.metrics().lastAckedOffset})`)
