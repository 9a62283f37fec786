// Starts `zerobus serve` (the mock server from conformance/) for a test file and reads its
// ZEROBUS_* lines. The server stops when this process closes its stdin. `args` are more
// `zerobus serve` flags (e.g. `--table 'main.default.t(id BIGINT NOT NULL)'`).
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export const ZEROBUS_BIN = process.env.ZEROBUS_BIN || path.join(root, 'target', 'debug', 'zerobus')

export async function startServer(args = []) {
  const child = spawn(ZEROBUS_BIN, ['serve', '--exit-on-stdin-close', ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const env = {}
  const lines = createInterface({ input: child.stdout })
  await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`zerobus serve exited early (${code}); build it with cargo build -p zerobus-cli`)))
    lines.on('line', (line) => {
      const m = /^(ZEROBUS_[A-Z_]+)=(.*)$/.exec(line)
      if (m) env[m[1]] = m[2]
      if (env.ZEROBUS_ENDPOINT && env.ZEROBUS_WORKSPACE_URL && env.ZEROBUS_CLIENT_ID && env.ZEROBUS_CLIENT_SECRET && env.ZEROBUS_TABLES) resolve()
    })
  })
  child.removeAllListeners('exit')
  return {
    env,
    endpoint: env.ZEROBUS_ENDPOINT,
    workspaceUrl: env.ZEROBUS_WORKSPACE_URL,
    clientId: env.ZEROBUS_CLIENT_ID,
    clientSecret: env.ZEROBUS_CLIENT_SECRET,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin.end()
      await exited
    },
  }
}
