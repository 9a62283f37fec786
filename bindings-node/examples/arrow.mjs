// Ingests apache-arrow Tables into a table over Arrow Flight, the schema read from the table.
//
//   target/debug/zerobus serve --table 'main.default.cars(name STRING NOT NULL, seats INT)'
//   # export the ZEROBUS_* lines it prints, then:
//   node bindings-node/examples/arrow.mjs [batches]
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
// In an application: import { ZerobusSdk } from '@databricks/zerobus-ingest-sdk' and
// import { Table, vectorFromArray, LargeUtf8, Int32 } from 'apache-arrow'
const { ZerobusSdk, ZerobusError } = require('../index.js')
const { Table, vectorFromArray, LargeUtf8, Int32 } = require('apache-arrow')

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`set ${name} (zerobus serve prints it)`)
  return v
}

const batches = Number(process.argv[2] || 100)
const rows = 10_000
const sdk = new ZerobusSdk(env('ZEROBUS_ENDPOINT'), env('ZEROBUS_WORKSPACE_URL'))

// null: the schema comes from the table (STRING → LargeUtf8, INT → Int32).
const stream = await sdk.createArrowStream('main.default.cars', null, env('ZEROBUS_CLIENT_ID'), env('ZEROBUS_CLIENT_SECRET'), {
  ipcCompression: 'none',
  ackCallback: (offset) => {
    if ((offset + 1n) % 10n === 0n) console.log('durable up to batch', offset)
  },
})
console.log('schema', stream.schema.toString())
try {
  let last
  for (let b = 0; b < batches; b++) {
    const ids = Array.from({ length: rows }, (_, i) => b * rows + i)
    // Give every column its Arrow type: vectorFromArray would make strings a dictionary.
    const table = new Table({
      name: vectorFromArray(ids.map((i) => `car-${i}`), new LargeUtf8()),
      seats: vectorFromArray(ids.map((i) => i % 9), new Int32()),
    })
    last = await stream.ingestBatch(table) // queued → offset (bigint), one per call
  }
  await stream.waitForOffset(last)
  console.log(`acked ${batches * rows} rows in ${batches} batches (last offset ${last})`, stream.metrics())
} catch (e) {
  if (e instanceof ZerobusError) console.error(e.code, e.message)
  console.error('unacked rows:', (await stream.getUnackedBatches()).reduce((n, b) => n + b.numRows, 0))
  throw e
} finally {
  await stream.close()
}
