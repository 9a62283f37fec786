// Records/s for 220-byte JSON records through the Node binding, and through the Rust core
// (`zerobus ingest`) on the same mock server in the same run.
//
//   cargo build -p zerobus-cli && make -f bindings-node/node.mk node-build
//   node bindings-node/bench/ingest.mjs [records]
//
// Both sides are debug builds (the workspace's dev profile compiles the core at opt-level 1).
import { spawn, execFileSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const require = createRequire(import.meta.url)
const { ZerobusSdk, RecordType } = require('../index.js')
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const zerobus = path.join(root, 'target', 'debug', 'zerobus')
const N = Number(process.argv[2] || 300_000)
const SIZE = 220
const TABLE = 'main.default.events'

const server = spawn(zerobus, ['serve', '--exit-on-stdin-close', '--no-payloads'], { stdio: ['pipe', 'pipe', 'ignore'] })
const env = {}
for await (const line of createInterface({ input: server.stdout })) {
  const m = /^(ZEROBUS_[A-Z_]+)=(.*)$/.exec(line)
  if (m) env[m[1]] = m[2]
  if (env.ZEROBUS_TABLES) break
}

function record(i) {
  const head = `{"seed":1,"seq":${i},"pad":"`
  return head + 'x'.repeat(SIZE - head.length - 2) + '"}'
}
const records = Array.from({ length: N }, (_, i) => record(i))

const sdk = new ZerobusSdk(env.ZEROBUS_ENDPOINT, env.ZEROBUS_WORKSPACE_URL)
async function run(name, body) {
  const stream = await sdk.createStream({ tableName: TABLE }, env.ZEROBUS_CLIENT_ID, env.ZEROBUS_CLIENT_SECRET, { recordType: RecordType.Json })
  const t0 = process.hrtime.bigint()
  await body(stream)
  await stream.flush()
  const s = Number(process.hrtime.bigint() - t0) / 1e9
  await stream.close()
  return { name, rate: Math.round(N / s) }
}

function rust(batch) {
  const out = execFileSync(zerobus, ['ingest', '--generate', String(N), '--size', String(SIZE), '--batch-size', String(batch)], {
    env: { ...process.env, ...env, ZEROBUS_TABLE: TABLE },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return Number(/rate: (\d+) records\/s/.exec(out)[1])
}

const variants = {
  // What ingestRecordsOffset does: one contiguous buffer + lengths, one native call.
  contiguous: (s) => async () => {
    for (let i = 0; i < N; i += 1000) await s.ingestRecordsOffset(records.slice(i, i + 1000))
  },
  // The alternative: the array of strings, one native call with a conversion per element.
  array: (s) => async () => {
    for (let i = 0; i < N; i += 1000) {
      const batch = records.slice(i, i + 1000)
      { const q = s._native.queueRecords(batch); if (q !== null && typeof q !== 'number') await q.wait() }
    }
  },
  single: (s) => async () => {
    for (let i = 0; i < N; i++) await s.ingestRecordOffset(records[i])
  },
}
// The machine may be shared: interleave ROUNDS runs of everything and keep each one's best.
const ROUNDS = Number(process.env.ROUNDS || 3)
const best = { contiguous: 0, array: 0, single: 0, rustBatch: 0, rustSingle: 0 }
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, body] of Object.entries(variants)) {
    const { rate } = await run(name, (s) => body(s)())
    best[name] = Math.max(best[name], rate)
  }
  best.rustBatch = Math.max(best.rustBatch, rust(1000))
  best.rustSingle = Math.max(best.rustSingle, rust(1))
}
server.stdin.end()
const ratio = (r, base) => `${(r / base).toFixed(2)}× Rust`
console.log(`${N} JSON records of ${SIZE} bytes, best of ${ROUNDS} interleaved runs`)
console.log(`  ingestRecordsOffset, batches of 1,000 (one buffer + lengths): ${best.contiguous} records/s (${ratio(best.contiguous, best.rustBatch)})`)
console.log(`  same batches as an array of strings (the form not used):     ${best.array} records/s (${ratio(best.array, best.rustBatch)})`)
console.log(`  ingestRecordOffset, one record per call:                      ${best.single} records/s (${ratio(best.single, best.rustSingle)})`)
console.log(`  Rust core (zerobus ingest), batches of 1,000:                 ${best.rustBatch} records/s`)
console.log(`  Rust core (zerobus ingest), single records:                   ${best.rustSingle} records/s`)
