// A panic inside the addon becomes a JavaScript error (ZerobusError INTERNAL) instead of aborting
// Node. Each case runs in a child process with ZEROBUS_NODE_TEST_HOOKS=1 (test/panic-child.mjs),
// which arms the debug build's test-only hook (`test_hooks` in src/lib.rs) at one place, makes
// the call that reaches it, and then checks that the process still ingests, flushes and closes.
// A child that aborted would show here as a signal instead of a result line.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { startServer } from './server.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const native = require(process.env.ZEROBUS_NODE_ADDON || path.join(here, '..', 'zerobus.node'))
const hooks = typeof native.testArmPanic === 'function'
const skip = hooks ? false : 'the addon is a release build (test hooks exist in debug builds only)'

let server
before(async () => {
  server = await startServer(['--table', 'main.default.cars(name STRING NOT NULL, seats INT)'])
})
after(async () => {
  await server.stop()
})

function runChild(place) {
  const child = spawn(
    process.execPath,
    [path.join(here, 'panic-child.mjs'), place, server.endpoint, server.workspaceUrl, server.clientId, server.clientSecret],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ZEROBUS_NODE_TEST_HOOKS: '1' } }
  )
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out, err })
    })
  })
}

async function panicsCleanly(place, check) {
  const { code, signal, out, err } = await runChild(place)
  assert.equal(signal, null, `the child was killed by ${signal} (an abort?)\n${err}`)
  assert.equal(code, 0, `the child exited with ${code}\n${err}`)
  // The default panic hook reports the panic on stderr: it really happened.
  assert.match(err, new RegExp(`test panic at ${place.replace('.', '\\.')}`), 'no panic was reported')
  const result = JSON.parse(out.trim().split('\n').pop())
  assert.equal(result.threw, true, `the call did not fail: ${out}`)
  check(result)
  assert.equal(result.after, 'ok', 'the process no longer works after the panic')
}

function internal(place) {
  return (r) => {
    assert.equal(r.zerobus, true, `not a ZerobusError: ${JSON.stringify(r)}`)
    assert.equal(r.code, 'INTERNAL')
    assert.match(r.message, /panicked/)
    assert.match(r.message, new RegExp(`test panic at ${place.replace('.', '\\.')}`))
  }
}

test('the test hooks are off unless the process opts in', { skip }, () => {
  assert.equal(process.env.ZEROBUS_NODE_TEST_HOOKS, undefined)
  assert.throws(() => native.testArmPanic('fast.one'), /test hooks are off/)
})

test('a panic in an exported function is thrown, not an abort', { skip }, async () => {
  await panicsCleanly('errorCodes', (r) => {
    // The raw addon's error, as index.js receives it: the core's INTERNAL code, tagged.
    assert.match(r.message, /\|INTERNAL\|/)
    assert.match(r.message, /test panic at errorCodes/)
  })
})

test('a panic in a constructor is thrown as ZerobusError INTERNAL', { skip }, async () => {
  await panicsCleanly('NativeSdk.constructor', internal('NativeSdk.constructor'))
})

test('a panic in an async method rejects its promise with INTERNAL', { skip }, async () => {
  await panicsCleanly('NativeSdk.createStream', internal('NativeSdk.createStream'))
  await panicsCleanly('NativeSdk.getTableSchema', internal('NativeSdk.getTableSchema'))
  await panicsCleanly('NativeStream.flush', internal('NativeStream.flush'))
  await panicsCleanly('NativeSdk.createArrowStream', internal('NativeSdk.createArrowStream'))
})

test('a panic in a class method is thrown as INTERNAL', { skip }, async () => {
  await panicsCleanly('NativeStream.metrics', internal('NativeStream.metrics'))
  await panicsCleanly('NativeStream.queueBatch', internal('NativeStream.queueBatch'))
  await panicsCleanly('NativeArrowStream.queueIpc', internal('NativeArrowStream.queueIpc'))
  await panicsCleanly('NativeArrowStream.queueColumns', internal('NativeArrowStream.queueColumns'))
})

test('a panic in the raw N-API ingest functions (fast.rs) rejects with INTERNAL', { skip }, async () => {
  await panicsCleanly('fast.one', internal('fast.one'))
  await panicsCleanly('fast.texts', internal('fast.texts'))
})

test('a panic while a call waits for room fails that call only; the others keep their order', { skip }, async () => {
  await panicsCleanly('NativePending.wait', (r) => {
    internal('NativePending.wait')(r)
    assert.equal(r.failures, 1)
    assert.equal(r.resolved, r.calls - 1)
    assert.equal(r.offsetsInOrder, true)
  })
})
