// Bench driver for the published Node SDK (bench/DRIVER.md), the peer our Node binding is compared
// with. It loads the published native addon (`@databricks/zerobus-ingest-sdk-linux-x64-gnu`
// 1.3.0, installed by `make node-bench-published`): see ../README.md for why not the main
// package. Its classes are the SDK's API (`ZerobusSdk`, `createStream`, `ingestRecordOffset`,
// `ingestRecordsOffset`, `flush`, `close`); it has no fire-and-forget call, so `nowait` uses
// `ingestRecordOffset` too, which resolves once the record is queued. Default options unless
// `--max-inflight-requests` is given.
import { createRequire } from 'node:module'
import { parseArgs, recordPool, batchPool, POOL } from '../contract.mjs'

const require = createRequire(import.meta.url)
let published
try {
  published = require('zerobus-published-native')
} catch (e) {
  console.error(`published-node driver: the published addon is not installed (make node-bench-published): ${e.message}`)
  process.exit(2)
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const pool = recordPool(args.size)
  const batches = args.mode === 'batch' ? batchPool(pool, args.batch) : null

  const sdk = new published.ZerobusSdk(args.endpoint, args.workspaceUrl)
  // The published RecordType.Json is 0 (ours is the wire value 2).
  const options = { recordType: published.RecordType.Json }
  if (args.maxInflightRequests !== undefined) options.maxInflightRequests = args.maxInflightRequests
  const stream = await sdk.createStream({ tableName: args.table }, args.clientId, args.clientSecret, options)

  const capNs = args.seconds === undefined ? null : BigInt(Math.round(args.seconds * 1e9))
  const t0 = process.hrtime.bigint()
  const expired = () => capNs !== null && process.hrtime.bigint() - t0 >= capNs
  let done = 0
  if (args.mode === 'single' || args.mode === 'nowait') {
    for (let j = 0; done < args.records; j++, done++) {
      if ((j & 1023) === 0 && expired()) break
      await stream.ingestRecordOffset(pool[j % POOL])
    }
  } else {
    const B = args.batch
    for (let j = 0; done < args.records; j++) {
      if ((j & 1023) === 0 && expired()) break
      const n = Math.min(B, args.records - done)
      const q = (j * B) % POOL
      await stream.ingestRecordsOffset(n === B ? batches[q / B] : pool.slice(q, q + n))
      done += n
    }
  }
  await stream.flush()
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  process.stdout.write(`RESULT records=${done} seconds=${seconds.toFixed(6)}\n`)
  await stream.close()
}

main().catch((e) => {
  console.error(`published-node driver: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
