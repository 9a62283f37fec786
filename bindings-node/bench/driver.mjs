// Bench driver for the Node binding (bench/DRIVER.md): one process per run, JSON records (or the
// taxi pool directory's Arrow batches or JSON rows), default options, one
// `RESULT records=N seconds=S` line on stdout.
//
//   make node-bench-build      # release addon → target/node-release/zerobus.node (and npm ci: apache-arrow)
//   node bindings-node/bench/driver.mjs --mode single|nowait|batch --size 220 --records 100000 [--batch 1000] [--seconds S]
//   node bindings-node/bench/driver.mjs --mode batch --format taxi-arrow --batch 10000 --records 200000 --pool DIR
//   node bindings-node/bench/driver.mjs --mode batch --format taxi|taxi-typed --batch 1000 --records 100000 --pool DIR
//
// The release addon is loaded unless ZEROBUS_NODE_ADDON names another one, so a benchmark never
// measures the debug build that `make node-test` uses.
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { arrowPool, parseArgs, recordPool, runCalls, runPoolCalls, taxiRowBatches } from './contract.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const release = path.resolve(here, '..', '..', 'target', 'node-release', 'zerobus.node')
if (!process.env.ZEROBUS_NODE_ADDON) {
  if (!existsSync(release)) {
    console.error(`node driver: ${release} is missing; build it with \`make node-bench-build\``)
    process.exit(2)
  }
  process.env.ZEROBUS_NODE_ADDON = release
}
const require = createRequire(import.meta.url)
const { ZerobusSdk, RecordType } = require('../index.js')

async function main() {
  const args = parseArgs(process.argv.slice(2), { formats: ['json', 'taxi-arrow', 'taxi', 'taxi-typed'] })
  const sdk = new ZerobusSdk(args.endpoint, args.workspaceUrl)
  if (args.format === 'taxi-arrow') return taxiArrow(args, sdk)
  if (args.format === 'taxi' || args.format === 'taxi-typed') return taxiRows(args, sdk)

  const pool = recordPool(args.size)
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

// The untimed warm-up of `--format taxi-arrow`, as bench/src/taxi.rs's ARROW_WARMUP_ROWS and
// ARROW_WARMUP give it to the Rust and JVM drivers.
const TAXI_ARROW_WARMUP = { rows: 10_000_000, seconds: 3 }

// `--format taxi-arrow`: an Arrow stream with the schema of the pool's 0.arrows, and per call one
// apache-arrow RecordBatch (the binding's native Arrow form), read from the pool before the clock,
// sent with `ingestBatchNoCopy`.
async function taxiArrow(args, sdk) {
  let tableFromIPC
  try {
    // The binding's optional peer: a dev dependency of bindings-node, installed by its `npm ci`
    // (make node-bench-build), found here in bindings-node/node_modules.
    tableFromIPC = require('apache-arrow').tableFromIPC
  } catch (e) {
    throw new Error(`--format taxi-arrow needs apache-arrow (make node-bench-build runs npm ci in bindings-node): ${e.message}`)
  }
  const { schema, batches } = arrowPool(args, tableFromIPC)

  const stream = await sdk.createArrowStream(args.table, schema, args.clientId, args.clientSecret)
  await runPoolCalls(args, batches, {
    // The pool outlives the run and nothing writes it: the call that lends it without a copy.
    batch: (b) => stream.ingestBatchNoCopy(b),
    flush: () => stream.flush(),
  }, TAXI_ARROW_WARMUP)
  await stream.close()
}

// `--format taxi`: the pool's rows.jsonl lines as JSON strings on a JSON stream. `taxi-typed`:
// the same strings on a PROTO stream opened from the table (no descriptorProto: the binding reads
// the table's schema and the core encodes each JSON record by the columns' types). Either way one
// `ingestRecordsOffset(array of strings)` per call, the arrays cut before the clock.
async function taxiRows(args, sdk) {
  const batches = taxiRowBatches(args)
  const recordType = args.format === 'taxi' ? RecordType.Json : RecordType.Proto
  const stream = await sdk.createStream({ tableName: args.table }, args.clientId, args.clientSecret, { recordType })
  if (args.format === 'taxi-typed' && stream.tableSchema === null) {
    throw new Error('--format taxi-typed: the PROTO stream was not opened from the table (no tableSchema)')
  }
  await runPoolCalls(args, batches, {
    batch: (rs) => stream.ingestRecordsOffset(rs),
    flush: () => stream.flush(),
  })
  await stream.close()
}

main().catch((e) => {
  console.error(`node driver: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
