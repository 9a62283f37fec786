// The TypeScript API is reviewed like code: index.d.ts must match the committed snapshot, so any
// change to the API shows in review as a change to test/index.d.ts.snapshot.
//
// To accept a deliberate API change:  UPDATE_SNAPSHOT=1 node --test test/types.test.mjs
// (then review and commit both files).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const dts = path.join(root, 'index.d.ts')
const snapshot = path.join(here, 'index.d.ts.snapshot')
const require = createRequire(import.meta.url)

test('index.d.ts matches the reviewed snapshot', () => {
  const current = readFileSync(dts, 'utf8')
  if (process.env.UPDATE_SNAPSHOT) writeFileSync(snapshot, current)
  assert.ok(existsSync(snapshot), 'no snapshot: run UPDATE_SNAPSHOT=1 node --test test/types.test.mjs')
  assert.equal(
    current,
    readFileSync(snapshot, 'utf8'),
    'index.d.ts changed: review the API change, then UPDATE_SNAPSHOT=1 node --test test/types.test.mjs'
  )
})

test('every runtime export is declared, and every declared value exists', () => {
  const runtime = Object.keys(require('../index.js')).sort()
  const text = readFileSync(dts, 'utf8')
  const declared = [...text.matchAll(/^export declare (?:class|enum|const|function) (\w+)/gm)].map((m) => m[1]).sort()
  assert.deepEqual(runtime, declared)
})

test('index.d.ts type-checks, used the way the README shows', () => {
  const tsc = path.join(root, 'node_modules', '.bin', 'tsc')
  const args = ['--noEmit', '--strict', '--target', 'es2022', '--lib', 'esnext,esnext.disposable',
    '--module', 'nodenext', '--types', 'node', path.join(here, 'types', 'usage.ts')]
  try {
    execFileSync(tsc, args, { cwd: root, stdio: 'pipe' })
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`)
  }
})
