// A process that creates a stream, ingests and closes exits on its own: nothing the SDK holds
// (threadsafe functions for callbacks and headers, the tokio runtime, sockets) keeps Node alive.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { startServer } from './server.mjs'

const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'index.js')

let server
before(async () => {
  server = await startServer()
})
after(async () => {
  await server.stop()
})

const CHILD = `
const { ZerobusSdk, RecordType } = require(${JSON.stringify(index)})
const [endpoint, workspaceUrl, clientId, clientSecret, withCallbacks] = process.argv.slice(1)
;(async () => {
  const sdk = new ZerobusSdk(endpoint, workspaceUrl)
  let acked = 0
  const options = { recordType: RecordType.Json }
  if (withCallbacks !== '0') {
    options.ackCallback = () => { acked++ }
    options.errorCallback = () => {}
  }
  // '2': a headers provider (the mock's static token) instead of OAuth.
  const headers = withCallbacks === '2'
    ? { getHeaders: async () => [['authorization', 'Bearer zerobus-dev-static-token'], ['x-databricks-zerobus-table-name', 'main.default.json_table']] }
    : undefined
  const stream = await sdk.createStream({ tableName: 'main.default.json_table' }, clientId, clientSecret, options, headers)
  for (let i = 0; i < 100; i++) await stream.ingestRecordOffset({ i })
  await stream.ingestRecordsOffset([{ a: 1 }, { a: 2 }])
  await stream.close()
  console.log('closed', acked)
})()
`

const LIMIT_MS = 5_000

async function runChild(withCallbacks) {
  const child = spawn(
    process.execPath,
    ['-e', CHILD, server.endpoint, server.workspaceUrl, server.clientId, server.clientSecret, String(withCallbacks)],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  )
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const started = Date.now()
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const timer = new Promise((resolve) => setTimeout(() => resolve('timeout'), LIMIT_MS).unref())
  const result = await Promise.race([exited, timer])
  if (result === 'timeout') child.kill('SIGKILL')
  return { result, out, ms: Date.now() - started }
}

test('a process that creates a stream, ingests and closes exits on its own', async () => {
  const { result, out, ms } = await runChild(0)
  assert.notEqual(result, 'timeout', `the child process did not exit within ${LIMIT_MS} ms`)
  assert.equal(result.code, 0)
  assert.match(out, /closed 0/)
  assert.ok(ms < LIMIT_MS)
})

test('... also with ack and error callbacks installed', async () => {
  const { result, out } = await runChild(1)
  assert.notEqual(result, 'timeout', `the child process did not exit within ${LIMIT_MS} ms`)
  assert.equal(result.code, 0)
  assert.match(out, /closed 101/)
})

test('... also with a headers provider instead of OAuth', async () => {
  const { result, out } = await runChild(2)
  assert.notEqual(result, 'timeout', `the child process did not exit within ${LIMIT_MS} ms`)
  assert.equal(result.code, 0)
  assert.match(out, /closed 101/)
})
