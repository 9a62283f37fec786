// Bench driver for the published Node SDK (bench/DRIVER.md), the peer our Node binding is compared
// with. It loads the published native addon (`@databricks/zerobus-ingest-sdk-linux-x64-gnu`
// 1.3.0, installed by `make node-bench-published`): see ../README.md for why not the main
// package. Its classes are the SDK's API (`ZerobusSdk`, `createStream`, `ingestRecordOffset`,
// `ingestRecordsOffset`, `flush`, `close`); it has no fire-and-forget call, so `nowait` uses
// `ingestRecordOffset` too, which resolves once the record is queued. Default options unless
// `--max-inflight-requests` is given.
import { createRequire } from 'node:module'
import { parseArgs, recordPool, runCalls } from '../contract.mjs'

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

  const sdk = new published.ZerobusSdk(args.endpoint, args.workspaceUrl)
  // The published RecordType.Json is 0 (ours is the wire value 2).
  const options = { recordType: published.RecordType.Json }
  if (args.maxInflightRequests !== undefined) options.maxInflightRequests = args.maxInflightRequests
  const stream = await sdk.createStream({ tableName: args.table }, args.clientId, args.clientSecret, options)

  await runCalls(args, pool, {
    single: (r) => stream.ingestRecordOffset(r),
    nowait: (r) => stream.ingestRecordOffset(r),
    batch: (rs) => stream.ingestRecordsOffset(rs),
    flush: () => stream.flush(),
  })
  await stream.close()
}

main().catch((e) => {
  console.error(`published-node driver: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
