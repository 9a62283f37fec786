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
import { parseArgs, recordPool, batchPool, POOL } from './contract.mjs'

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
  const batches = args.mode === 'batch' ? batchPool(pool, args.batch) : null

  const sdk = new ZerobusSdk(args.endpoint, args.workspaceUrl)
  const stream = await sdk.createStream({ tableName: args.table }, args.clientId, args.clientSecret, {
    recordType: RecordType.Json,
  })

  const capNs = args.seconds === undefined ? null : BigInt(Math.round(args.seconds * 1e9))
  const t0 = process.hrtime.bigint()
  const expired = () => capNs !== null && process.hrtime.bigint() - t0 >= capNs
  let done = 0
  if (args.mode === 'single') {
    for (let j = 0; done < args.records; j++, done++) {
      if ((j & 1023) === 0 && expired()) break
      await stream.ingestRecordOffset(pool[j % POOL])
    }
  } else if (args.mode === 'nowait') {
    // Awaited: the promise settles once the record is queued, which is where the call would
    // otherwise wait for room. Not awaiting would pile up pending calls, not go faster.
    for (let j = 0; done < args.records; j++, done++) {
      if ((j & 1023) === 0 && expired()) break
      await stream.ingestRecordNowait(pool[j % POOL])
    }
  } else {
    const B = args.batch
    for (let j = 0; done < args.records; j++) {
      if ((j & 1023) === 0 && expired()) break
      const n = Math.min(B, args.records - done)
      const q = (j * B) % POOL
      // The last call may be shorter: sliced then, outside the steady loop.
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
  console.error(`node driver: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
