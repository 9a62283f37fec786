// What bench/DRIVER.md fixes for every driver, shared by the Node drivers (ours and the
// published SDK's): the command line, the environment, the record pool and the taxi pool
// directory (`--pool DIR`, read by the `taxi-arrow`, `taxi` and `taxi-typed` formats).
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'

/** Records in the pool. */
export const POOL = 1000

/** The formats whose rows are the pool directory's (`--pool DIR`, batch mode only). */
const TAXI_FORMATS = ['taxi-arrow', 'taxi', 'taxi-typed']

const USAGE =
  'usage: DRIVER --mode single|nowait|batch [--format FORMAT] --size BYTES --records N [--batch B] [--seconds S] ' +
  '[--pool DIR] [--max-inflight-requests N]  (env ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ' +
  'ZEROBUS_CLIENT_SECRET, ZEROBUS_TABLE)'

function fail(message) {
  console.error(`driver: ${message}`)
  console.error(USAGE)
  process.exit(2)
}

/**
 * The command line and the ZEROBUS_* environment; exits 2 with the usage on a mistake. `formats`:
 * the `--format` values the driver takes (`json`, and `taxi-arrow` for ours).
 */
export function parseArgs(argv, { formats = ['json'] } = {}) {
  const env = (k) => process.env[k] || fail(`${k} is not set`)
  const args = {
    mode: 'single',
    format: 'json',
    pool: undefined,
    size: 220,
    records: 100_000,
    batch: 1000,
    seconds: undefined,
    maxInflightRequests: undefined,
    endpoint: env('ZEROBUS_ENDPOINT'),
    workspaceUrl: env('ZEROBUS_WORKSPACE_URL'),
    clientId: env('ZEROBUS_CLIENT_ID'),
    clientSecret: env('ZEROBUS_CLIENT_SECRET'),
    table: env('ZEROBUS_TABLE'),
  }
  const whole = (flag, v) => (/^\d+$/.test(v) ? Number(v) : fail(`${flag} ${JSON.stringify(v)} is not a number`))
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]
    const value = argv[i + 1]
    if (value === undefined) fail(`${flag} needs a value`)
    switch (flag) {
      case '--mode':
        if (!['single', 'nowait', 'batch'].includes(value)) fail(`unknown mode ${JSON.stringify(value)}`)
        args.mode = value
        break
      case '--format':
        // Proto records are for the drivers the runner names in --proto-surfaces.
        if (!formats.includes(value)) fail(`--format ${JSON.stringify(value)}: this driver takes ${formats.join(', ')}`)
        args.format = value
        break
      case '--pool':
        args.pool = value
        break
      case '--size':
        args.size = whole(flag, value)
        break
      case '--records':
        args.records = whole(flag, value)
        break
      case '--batch':
        args.batch = Math.max(1, whole(flag, value))
        break
      case '--seconds':
        args.seconds = Number(value)
        if (!Number.isFinite(args.seconds)) fail(`--seconds ${JSON.stringify(value)} is not a number`)
        break
      case '--max-inflight-requests':
        args.maxInflightRequests = whole(flag, value)
        break
      default:
        fail(`unknown option ${flag}`)
    }
  }
  if (TAXI_FORMATS.includes(args.format)) {
    // --size is ignored: the rows are the pool directory's.
    if (args.mode !== 'batch') fail(`--format ${args.format} takes --mode batch only`)
    if (args.pool === undefined) fail(`--format ${args.format} needs --pool DIR`)
    return args
  }
  if (args.size < 20) fail(`--size ${args.size} is below the 20-byte minimum`)
  if (args.mode === 'batch' && POOL % args.batch !== 0) fail(`--batch ${args.batch} does not divide the pool of ${POOL}`)
  return args
}

/**
 * The pool directory's Arrow batches: `DIR/0.arrows`, `DIR/1.arrows`, … read until the next
 * number is missing, each an IPC stream of one batch of exactly `--batch` rows, read with
 * apache-arrow's `tableFromIPC` (passed in, so this file needs no apache-arrow). Returns the
 * schema of `0.arrows` and one `RecordBatch` per file; throws on a pool that is not that.
 */
export function arrowPool(args, tableFromIPC) {
  const batches = []
  let schema
  for (let k = 0; existsSync(path.join(args.pool, `${k}.arrows`)); k++) {
    const file = path.join(args.pool, `${k}.arrows`)
    const table = tableFromIPC(readFileSync(file))
    if (table.batches.length !== 1 || table.batches[0].numRows !== args.batch) {
      const rows = table.batches.map((b) => b.numRows).join(', ')
      throw new Error(`${file}: expected one record batch of --batch ${args.batch} rows, found [${rows}]`)
    }
    if (k === 0) schema = table.schema
    batches.push(table.batches[0])
  }
  if (batches.length === 0) throw new Error(`${path.join(args.pool, '0.arrows')} is missing (--pool ${args.pool})`)
  return { schema, batches }
}

/**
 * The `taxi` / `taxi-typed` records: the R lines of `DIR/rows.jsonl` as JSON strings (the form
 * the binding's batch call takes fastest: an array of strings, converted by Rust in one call),
 * cut before the clock starts into the calls' arrays. Record k is line `k % R`; call `j` passes
 * records `(j*B) % R .. +B`, wrapping round the pool. The starts repeat after
 * `L = R / gcd(R, B)` calls, so only `min(L, calls)` distinct arrays are built (`batches[j % L]`,
 * as `runPoolCalls` takes them); a short last call is the first rows of its array.
 */
export function taxiRowBatches(args) {
  const file = path.join(args.pool, 'rows.jsonl')
  if (!existsSync(file)) throw new Error(`${file} is missing (--pool ${args.pool})`)
  const rows = readFileSync(file, 'utf8').split('\n')
  if (rows.length > 0 && rows[rows.length - 1] === '') rows.pop()
  const R = rows.length
  if (R === 0) throw new Error(`${file} holds no rows`)
  const B = args.batch
  const gcd = (a, b) => (b === 0 ? a : gcd(b, a % b))
  const cycle = R / gcd(R, B)
  const calls = Math.ceil(args.records / B)
  const batches = []
  for (let j = 0; j < Math.min(cycle, calls); j++) {
    const batch = new Array(B)
    for (let i = 0, k = (j * B) % R; i < B; i++, k = k + 1 === R ? 0 : k + 1) batch[i] = rows[k]
    batches.push(batch)
  }
  return batches
}

/** Record k is `{"i":K,"p":"x…x"}`, exactly `size` bytes (ASCII, so bytes = characters). */
export function recordPool(size) {
  const pool = new Array(POOL)
  for (let k = 0; k < POOL; k++) {
    const head = `{"i":${k},"p":"`
    pool[k] = head + 'x'.repeat(Math.max(0, size - head.length - 2)) + '"}'
  }
  return pool
}

/** The pool cut into arrays of `b` records (b divides the pool), built before the clock starts. */
export function batchPool(pool, b) {
  const out = []
  for (let q = 0; q < POOL; q += b) out.push(pool.slice(q, q + b))
  return out
}

/**
 * DRIVER.md's loop and clock: `calls.single(record)`, `calls.nowait(record)` or
 * `calls.batch(records)`, each awaited, until `args.records` are ingested or the time cap passes;
 * then `calls.flush()`, which stops the clock, and the RESULT line.
 */
export async function runCalls(args, pool, calls) {
  const batches = args.mode === 'batch' ? batchPool(pool, args.batch) : null
  const capNs = args.seconds === undefined ? null : BigInt(Math.round(args.seconds * 1e9))
  const t0 = process.hrtime.bigint()
  const expired = () => capNs !== null && process.hrtime.bigint() - t0 >= capNs
  let done = 0
  if (args.mode === 'batch') {
    const B = args.batch
    // The clock is read at least every 1024 records: every call once a call carries that many.
    const every = Math.max(1, Math.floor(1024 / B))
    for (let j = 0; done < args.records; j++) {
      if (j % every === 0 && expired()) break
      const n = Math.min(B, args.records - done)
      const q = (j * B) % POOL
      // The last call may be shorter: sliced then, outside the steady loop.
      await calls.batch(n === B ? batches[q / B] : pool.slice(q, q + n))
      done += n
    }
  } else {
    // Awaited in nowait mode too: the promise settles once the record is queued, which is where
    // the call would otherwise wait for room. Not awaiting would pile up calls, not go faster.
    const one = args.mode === 'nowait' ? calls.nowait : calls.single
    for (let j = 0; done < args.records; j++, done++) {
      if ((j & 1023) === 0 && expired()) break
      await one(pool[j % POOL])
    }
  }
  await calls.flush()
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  process.stdout.write(`RESULT records=${done} seconds=${seconds.toFixed(6)}\n`)
}

/**
 * DRIVER.md's loop and clock for the pool directory's formats: call `j` is
 * `calls.batch(batches[j % K])`, awaited, the last call, if short, the first rows of its batch
 * (`slice(0, rest)`: `RecordBatch.slice` for `taxi-arrow`, `Array.slice` for `taxi` /
 * `taxi-typed`, cut before the clock starts); until `args.records` rows are ingested or the time
 * cap passes; then `calls.flush()`, which stops the clock, and the RESULT line.
 */
export async function runPoolCalls(args, batches, calls, warmup = null) {
  const B = args.batch
  const K = batches.length
  const rest = args.records % B
  const last = rest === 0 ? null : batches[Math.floor(args.records / B) % K].slice(0, rest)
  const capNs = args.seconds === undefined ? null : BigInt(Math.round(args.seconds * 1e9))
  if (warmup !== null) {
    // Untimed, as the Rust and JVM drivers warm up (bench/DRIVER.md): V8 compiles the call path
    // before the clock starts.
    const w0 = process.hrtime.bigint()
    const warmNs = BigInt(Math.round(warmup.seconds * 1e9))
    for (let j = 0, rows = 0; rows + B <= warmup.rows && process.hrtime.bigint() - w0 < warmNs; j++) {
      await calls.batch(batches[j % K])
      rows += B
    }
    await calls.flush()
  }
  const t0 = process.hrtime.bigint()
  const expired = () => capNs !== null && process.hrtime.bigint() - t0 >= capNs
  const every = Math.max(1, Math.floor(1024 / B))
  let done = 0
  for (let j = 0; done < args.records; j++) {
    if (j % every === 0 && expired()) break
    const n = Math.min(B, args.records - done)
    await calls.batch(n === B ? batches[j % K] : last)
    done += n
  }
  await calls.flush()
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  process.stdout.write(`RESULT records=${done} seconds=${seconds.toFixed(6)}\n`)
}
