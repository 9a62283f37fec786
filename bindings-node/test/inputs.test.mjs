// Bad inputs get a clean ZerobusError naming what was wrong: options (converted here, range-checked
// by the core), SDK options, and headers providers that fail. Against the mock (`zerobus serve`).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { startServer } from './server.mjs'

const require = createRequire(import.meta.url)
const { ZerobusSdk, ZerobusError, RecordType } = require('../index.js')

let server
let sdk
before(async () => {
  server = await startServer()
  sdk = new ZerobusSdk(server.endpoint, server.workspaceUrl)
})
after(async () => {
  await server.stop()
})

const JSON_TABLE = 'main.default.json_table'
const STATIC_TOKEN = 'zerobus-dev-static-token'

function open(options) {
  return sdk.createStream({ tableName: JSON_TABLE }, server.clientId, server.clientSecret, {
    recordType: RecordType.Json,
    ...options,
  })
}

function fails(code, ...includes) {
  return (e) => {
    assert.ok(e instanceof ZerobusError, `expected a ZerobusError, got ${e && e.stack}`)
    assert.equal(e.code, code, e.message)
    for (const text of includes) assert.ok(e.message.includes(text), `${JSON.stringify(e.message)} lacks ${JSON.stringify(text)}`)
    return true
  }
}

test('options that are not integers are rejected at conversion, naming the option', async () => {
  await assert.rejects(open({ maxInflightRequests: -1 }), fails('INVALID_ARGUMENT', 'maxInflightRequests', '-1'))
  await assert.rejects(open({ flushTimeoutMs: 1.5 }), fails('INVALID_ARGUMENT', 'flushTimeoutMs', '1.5'))
  await assert.rejects(open({ recoveryTimeoutMs: NaN }), fails('INVALID_ARGUMENT', 'recoveryTimeoutMs', 'NaN'))
  await assert.rejects(open({ recoveryBackoffMaxMs: Infinity }), fails('INVALID_ARGUMENT', 'recoveryBackoffMaxMs', 'Infinity'))
  await assert.rejects(open({ serverLackOfAckTimeoutMs: 1e300 }), fails('INVALID_ARGUMENT', 'serverLackOfAckTimeoutMs', '1e300'))
  await assert.rejects(open({ recoveryRetries: 2 ** 32 }), fails('INVALID_ARGUMENT', 'recoveryRetries', '4294967296', '32 bits'))
  await assert.rejects(open({ maxInflightBytes: '5' }), fails('INVALID_ARGUMENT', 'maxInflightBytes', 'must be a number', 'string'))
  await assert.rejects(open({ callbackMaxWaitTimeMs: 10n }), fails('INVALID_ARGUMENT', 'callbackMaxWaitTimeMs', 'bigint'))
  await assert.rejects(open({ recovery: 'yes' }), fails('INVALID_ARGUMENT', 'recovery', 'boolean'))
  await assert.rejects(open({ ackCallback: 5 }), fails('INVALID_ARGUMENT', 'ackCallback', 'function'))
  await assert.rejects(open({ recordType: 7 }), fails('INVALID_ARGUMENT', 'recordType 7'))
})

test('option ranges are the core\'s: its error names the option, the value and the range', async () => {
  await assert.rejects(open({ maxInflightRequests: 1e12 }), fails('INVALID_ARGUMENT', 'max_inflight_requests', '1000000000000', 'between 0 and 100000000'))
  await assert.rejects(open({ flushTimeoutMs: 0 }), fails('INVALID_ARGUMENT', 'flush_timeout_ms', 'between 1 and 86400000'))
  await assert.rejects(open({ recoveryRetries: 20_000 }), fails('INVALID_ARGUMENT', 'recovery_retries', '20000', 'between 0 and 10000'))
  await assert.rejects(open({ recoveryBackoffMaxMs: 86_400_001 }), fails('INVALID_ARGUMENT', 'recovery_backoff_max_ms', '86400001'))
  await assert.rejects(
    open({ recoveryBackoffMs: 500, recoveryBackoffMaxMs: 100 }),
    fails('INVALID_ARGUMENT', 'recovery_backoff_max_ms', 'recovery_backoff_ms')
  )
})

test('recoveryBackoffMaxMs is passed to the core (every value in range is accepted)', async () => {
  for (const options of [{ recoveryBackoffMaxMs: 0, recoveryBackoffMs: 0 }, { recoveryBackoffMs: 200, recoveryBackoffMaxMs: 1000 }, { recoveryBackoffMaxMs: 86_400_000 }]) {
    const stream = await open(options)
    assert.equal(await stream.ingestRecordOffset({ a: 1 }), 0n)
    await stream.close()
  }
})

test('SDK options: bad CA PEM, wrong types', () => {
  assert.throws(() => new ZerobusSdk(server.endpoint, server.workspaceUrl, { caCertificatesPem: 'not a pem' }), fails('INVALID_ARGUMENT', 'CERTIFICATE'))
  assert.throws(() => new ZerobusSdk(server.endpoint, server.workspaceUrl, { caCertificatesPem: [42] }), fails('INVALID_ARGUMENT', 'caCertificatesPem'))
  assert.throws(() => new ZerobusSdk(server.endpoint, server.workspaceUrl, { applicationName: 5 }), fails('INVALID_ARGUMENT', 'applicationName'))
  assert.throws(() => new ZerobusSdk(server.endpoint, server.workspaceUrl, 'nope'), fails('INVALID_ARGUMENT', 'SDK options'))
  assert.throws(() => new ZerobusSdk(42, server.workspaceUrl), fails('INVALID_ARGUMENT'))
  // Well-formed options work.
  new ZerobusSdk(server.endpoint, server.workspaceUrl, { applicationName: 'my-app', caCertificatesPem: [] })
})

function headersOptions(extra = {}) {
  return { recordType: RecordType.Json, recoveryBackoffMs: 10, ...extra }
}

test('a headers provider error carrying a code of the closed list reaches the core as that code', async () => {
  for (const make of [
    () => new ZerobusError('UNAUTHENTICATED', 'no credentials in the vault'),
    () => Object.assign(new Error('no credentials in the vault'), { code: 'UNAUTHENTICATED' }),
  ]) {
    let calls = 0
    const provider = async () => {
      calls++
      throw make()
    }
    await assert.rejects(
      sdk.createStream({ tableName: JSON_TABLE }, '', '', headersOptions(), provider),
      (e) => {
        fails('UNAUTHENTICATED', 'no credentials in the vault', 'headers provider')(e)
        assert.equal(e.retryable, false)
        assert.equal(e.grpcStatus, null)
        return true
      }
    )
    assert.equal(calls, 1, 'a final code is not retried')
  }
  // Synchronous throws count the same.
  const refusing = { getHeaders() { throw Object.assign(new Error('not for this table'), { code: 'PERMISSION_DENIED' }) } }
  await assert.rejects(sdk.createStream({ tableName: JSON_TABLE }, '', '', headersOptions(), refusing), fails('PERMISSION_DENIED', 'not for this table'))
})

test('any other headers provider error is UNAVAILABLE, retried within the budget', async () => {
  for (const thrown of [
    Object.assign(new Error('vault unreachable'), { code: 'ECONNREFUSED' }),
    new TypeError('vault unreachable'),
    'vault unreachable',
    Object.assign(new Error('vault unreachable'), { code: 42 }),
  ]) {
    let calls = 0
    const provider = {
      getHeadersCallback: async () => {
        calls++
        throw thrown
      },
    }
    await assert.rejects(
      sdk.createStream({ tableName: JSON_TABLE }, '', '', headersOptions({ recoveryRetries: 2 }), provider),
      (e) => {
        fails('UNAVAILABLE', 'vault unreachable', 'headers provider')(e)
        assert.equal(e.retryable, true)
        return true
      }
    )
    assert.equal(calls, 2, `asked once per attempt (${String(thrown)})`)
  }
})

test('a headers provider that returns something other than pairs fails INVALID_ARGUMENT', async () => {
  await assert.rejects(
    sdk.createStream({ tableName: JSON_TABLE }, '', '', headersOptions(), async () => [42]),
    fails('INVALID_ARGUMENT', 'headers provider', '[name, value] pairs')
  )
  // A Map and a plain object are fine.
  for (const headers of [
    new Map([['authorization', `Bearer ${STATIC_TOKEN}`], ['x-databricks-zerobus-table-name', JSON_TABLE]]),
    { authorization: `Bearer ${STATIC_TOKEN}`, 'x-databricks-zerobus-table-name': JSON_TABLE },
  ]) {
    const stream = await sdk.createStream({ tableName: JSON_TABLE }, '', '', headersOptions(), () => headers)
    await stream.ingestRecordOffset({ a: 1 })
    await stream.close()
  }
})

test('recoveryBackoffMaxMs caps the waits between connection attempts', async () => {
  // A provider that always fails UNAVAILABLE: 4 attempts, 3 waits of 100 ms doubling (100, 200,
  // 400 ms) by default, or 100 ms each when capped at 100 ms (plus up to a quarter of jitter).
  const failing = async () => {
    throw new Error('vault unreachable')
  }
  const attempt = async (extra) => {
    const started = Date.now()
    await assert.rejects(
      sdk.createStream({ tableName: JSON_TABLE }, '', '', { recordType: RecordType.Json, recoveryRetries: 4, recoveryBackoffMs: 100, ...extra }, failing),
      fails('UNAVAILABLE', 'vault unreachable')
    )
    return Date.now() - started
  }
  const capped = await attempt({ recoveryBackoffMaxMs: 100 })
  const uncapped = await attempt({})
  assert.ok(capped >= 300 && capped < 650, `capped: ${capped} ms`)
  assert.ok(uncapped >= 700, `uncapped: ${uncapped} ms`)
})

test('a headers provider that never answers: the core bounds the attempt (TIMEOUT)', async () => {
  let calls = 0
  const hanging = () => {
    calls++
    return new Promise(() => {})
  }
  const started = Date.now()
  await assert.rejects(
    sdk.createStream({ tableName: JSON_TABLE }, '', '', { recordType: RecordType.Json, recoveryRetries: 1, recoveryTimeoutMs: 200 }, hanging),
    fails('TIMEOUT', 'recovery_timeout_ms')
  )
  assert.ok(Date.now() - started < 5_000)
  assert.equal(calls, 1)
})
