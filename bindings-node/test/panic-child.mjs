// Child process of test/panic.test.mjs: arms the addon's test-only panic hook at one place
// (argv[2]), makes the call that reaches it, and prints one JSON line: how the call failed, and
// whether the process still works afterwards. Run with ZEROBUS_NODE_TEST_HOOKS=1 against a
// debug build (the hook does not exist in release builds).
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { ZerobusSdk, ZerobusError, RecordType } = require(path.join(root, 'index.js'))
const native = require(process.env.ZEROBUS_NODE_ADDON || path.join(root, 'zerobus.node'))

const [place, endpoint, workspaceUrl, clientId, clientSecret] = process.argv.slice(2)
const TABLE = 'main.default.json_table'

function describe(e) {
  return {
    zerobus: e instanceof ZerobusError,
    code: e && e.code,
    message: e && String(e.message),
  }
}

async function outcome(call) {
  try {
    await call()
    return { threw: false }
  } catch (e) {
    return { threw: true, ...describe(e) }
  }
}

const sdk = new ZerobusSdk(endpoint, workspaceUrl)
const open = (options = {}) =>
  sdk.createStream({ tableName: TABLE }, clientId, clientSecret, { recordType: RecordType.Json, ...options })

// Arrow: a schema-only IPC stream and one batch of the cars table (name STRING NOT NULL,
// seats INT), written with apache-arrow.
const arrow = require('apache-arrow')
const CARS = 'main.default.cars'
const carsBatch = () =>
  new arrow.Table({ name: arrow.vectorFromArray(['a'], new arrow.LargeUtf8()), seats: arrow.vectorFromArray([1], new arrow.Int32()) })
const openArrow = () => sdk.createArrowStream(CARS, null, clientId, clientSecret)

let result
let stream = null
let arrowStream = null
switch (place) {
  case 'errorCodes':
    native.testArmPanic(place)
    result = await outcome(() => native.errorCodes())
    break
  case 'NativeSdk.constructor':
    native.testArmPanic(place)
    result = await outcome(() => new ZerobusSdk(endpoint, workspaceUrl))
    break
  case 'NativeSdk.createStream':
    native.testArmPanic(place)
    result = await outcome(() => open())
    break
  case 'NativeSdk.getTableSchema':
    native.testArmPanic(place)
    result = await outcome(() => sdk.getTableSchema(TABLE, clientId, clientSecret))
    break
  case 'NativeStream.metrics':
    stream = await open()
    native.testArmPanic(place)
    result = await outcome(() => stream.metrics())
    break
  case 'NativeStream.flush':
    stream = await open()
    await stream.ingestRecordOffset({ a: 1 })
    native.testArmPanic(place)
    result = await outcome(() => stream.flush())
    break
  case 'NativeStream.queueBatch':
    stream = await open()
    native.testArmPanic(place)
    // A batch with bytes in it is packed in JavaScript and handed to queueBatch (objects and
    // text alone go to fast.texts).
    result = await outcome(() => stream.ingestRecordsOffset([{ a: 1 }, Buffer.from('{"a":2}')]))
    break
  case 'fast.one':
    stream = await open()
    native.testArmPanic(place)
    result = await outcome(() => stream.ingestRecordOffset('{"a":1}'))
    break
  case 'fast.texts':
    stream = await open()
    native.testArmPanic(place)
    result = await outcome(() => stream.ingestRecordsOffset(['{"a":1}', '{"a":2}']))
    break
  case 'NativeSdk.createArrowStream':
    native.testArmPanic(place)
    result = await outcome(() => openArrow())
    break
  case 'NativeArrowStream.queueIpc':
    arrowStream = await openArrow()
    native.testArmPanic(place)
    result = await outcome(() => arrowStream.ingestBatch(arrow.tableToIPC(carsBatch(), 'stream')))
    break
  case 'NativeArrowStream.queueColumns':
    arrowStream = await openArrow()
    native.testArmPanic(place)
    result = await outcome(() => arrowStream.ingestBatch(carsBatch()))
    break
  case 'NativePending.wait': {
    // One call in flight at a time: later calls wait (a NativePending each); the first wait to
    // run panics, which drops that call and gives its place in line up. An ack can come back
    // before the next call is made, so a round of calls may have no waiting call at all: go on
    // until the hook has fired.
    stream = await open({ maxInflightRequests: 1 })
    native.testArmPanic(place)
    const failed = []
    const offsets = []
    let calls = 0
    for (let round = 0; round < 50 && failed.length === 0; round++) {
      const settled = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => stream.ingestRecordOffset({ i })))
      calls += settled.length
      for (const s of settled) {
        if (s.status === 'rejected') failed.push(s.reason)
        else offsets.push(Number(s.value))
      }
    }
    result = {
      threw: failed.length > 0,
      ...(failed[0] ? describe(failed[0]) : {}),
      failures: failed.length,
      // Every other call got the next offset, in call order.
      offsetsInOrder: offsets.every((o, i) => o === i),
      resolved: offsets.length,
      calls,
    }
    break
  }
  default:
    throw new Error(`unknown place ${place}`)
}

// The process carries on: a stream (the one above, or a new one) still ingests, flushes, closes.
let after
try {
  stream = stream || (await open())
  await stream.ingestRecordOffset({ after: true })
  await stream.flush()
  await stream.close()
  // After a panic in an Arrow call, Arrow streams still work too.
  if (place.includes('Arrow')) {
    arrowStream = arrowStream || (await openArrow())
    await arrowStream.ingestBatch(carsBatch())
    await arrowStream.flush()
    await arrowStream.close()
  }
  after = 'ok'
} catch (e) {
  after = `failed: ${e && e.code} ${e && e.message}`
}
process.stdout.write(JSON.stringify({ place, ...result, after }) + '\n')
