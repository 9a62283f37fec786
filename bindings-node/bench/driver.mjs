// Bench driver for the Node binding (bench/DRIVER.md): one process per run, JSON records, default
// options, one `RESULT records=N seconds=S` line on stdout.
//
//   make node-bench-build      # release addon → target/node-release/zerobus.node
//   node bindings-node/bench/driver.mjs --mode single|nowait|batch --size 220 --records 100000 [--batch 1000] [--seconds S]
//
// The release addon is loaded unless ZEROBUS_NODE_ADDON names another one, so a benchmark never
// measures the debug build that `make node-test` uses.
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { parseArgs, recordPool, runCalls } from './contract.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const release = path.resolve(here, '..', '..', 'target', 'node-release', 'zerobus.node')
if (!process.env.ZEROBUS_NODE_ADDON) {
  if (!existsSync(release)) {
    console.error(`node driver: ${release} is missing; build it with \`make node-bench-build\``)
    process.exit(2)
  }
  process.env.ZEROBUS_NODE_ADDON = release
}
const { ZerobusSdk, RecordType } = createRequire(import.meta.url)('../index.js')

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const pool = recordPool(args.size)

  const sdk = new ZerobusSdk(args.endpoint, args.workspaceUrl)
  const stream = await sdk.createStream({ tableName: args.table }, args.clientId, args.clientSecret, {
    recordType: RecordType.Json,
  })

  await runCalls(args, pool, {
    single: (r) => stream.ingestRecordOffset(r),
    nowait: (r) => stream.ingestRecordNowait(r),
    batch: (rs) => stream.ingestRecordsOffset(rs),
    flush: () => stream.flush(),
  })
  await stream.close()
}

main().catch((e) => {
  console.error(`node driver: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
