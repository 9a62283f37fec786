// Completes package-lock.json with the platform packages the registry this lock was made
// against did not serve (the napi CLI's own optional native dependencies for other platforms).
// npm leaves such entries out, and `npm ci` then refuses the lock as out of sync. Each added
// entry carries the os/cpu/libc its name encodes, so npm skips it on every other platform.
// Run after `npm install` changes the lock:  node scripts/complete-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const lockPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'package-lock.json')
const lock = JSON.parse(readFileSync(lockPath, 'utf8'))

const CPUS = ['arm64', 'arm', 'x64', 'ia32', 'ppc64', 'riscv64', 's390x', 'wasm32']
function platformOf(name) {
  const suffix = name.split('/').pop()
  const m = /-(android|darwin|freebsd|linux|win32|wasm32)-?(.*)$/.exec(suffix)
  if (!m) return null
  if (m[1] === 'wasm32') return { cpu: ['wasm32'] }
  const rest = m[2].split('-')
  const cpu = CPUS.find((c) => rest[0] === c)
  if (!cpu) return null
  const out = { os: [m[1]], cpu: [cpu] }
  if (m[1] === 'linux') out.libc = [rest.includes('musl') ? 'musl' : 'glibc']
  return out
}

let added = 0
for (const [key, entry] of Object.entries({ ...lock.packages })) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies || {})) {
    const at = `node_modules/${dep}`
    if (lock.packages[at] || lock.packages[`${key}/${at}`]) continue
    const platform = platformOf(dep)
    if (!platform) continue
    lock.packages[at] = { version, dev: entry.dev || undefined, optional: true, ...platform }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)))
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n')
console.log(`complete-lock: added ${added} platform entries`)
