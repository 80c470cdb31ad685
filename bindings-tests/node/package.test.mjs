// Packaging: a consumer resolves the package by name through its "exports" map,
// with `import` (keel.mjs) and `require` (keel.js), and both expose the same names.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createRequire } from 'node:module'

import { nodeDir } from './reference.mjs'

const pkg = JSON.parse(fs.readFileSync(path.join(nodeDir, 'package.json'), 'utf8'))
let consumer

before(() => {
  // A throwaway consumer project with the package linked into node_modules.
  consumer = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-node-consumer-'))
  const link = path.join(consumer, 'node_modules', ...pkg.name.split('/'))
  fs.mkdirSync(path.dirname(link), { recursive: true })
  fs.symlinkSync(nodeDir, link, 'dir')
})

after(() => {
  if (consumer) fs.rmSync(consumer, { recursive: true, force: true })
})

function run(args) {
  const r = spawnSync(process.execPath, args, { cwd: consumer, encoding: 'utf8', timeout: 30_000 })
  assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`)
  return r.stdout.trim()
}

describe(`package ${pkg.name}`, () => {
  const probe = (keel) =>
    `JSON.stringify({ keys: Object.keys(${keel}).filter((k) => k !== 'default').sort(), ` +
    `out: ${keel}.redact('POSTGRES_PASSWORD=hunter2'), stream: typeof ${keel}.createRedactStream })`

  test('import { redact } from the package name (ESM)', () => {
    const out = run([
      '--input-type=module',
      '-e',
      `import * as keel from '${pkg.name}'; import { redact, createRedactStream } from '${pkg.name}';` +
        `if (redact !== keel.redact || typeof createRedactStream !== 'function') throw new Error('named exports');` +
        `console.log(${probe('keel')})`,
    ])
    const esm = JSON.parse(out)
    assert.equal(esm.out, 'POSTGRES_PASSWORD=***')
    assert.equal(esm.stream, 'function')

    const cjs = JSON.parse(run(['-e', `const keel = require('${pkg.name}'); console.log(${probe('keel')})`]))
    assert.equal(cjs.out, 'POSTGRES_PASSWORD=***')
    // keel.mjs lists its named exports by hand: they must match keel.js exactly
    assert.deepEqual(esm.keys, cjs.keys)
  })

  test('the managed-spawn subpath: minions\' function names, by require and import', () => {
    const names = [
      'validateManagedSpecName', 'validateManagedSpawnRecord', 'readManagedSpawnFile',
      'evaluateManagedSpawnAcceptance', 'spawnManagedSpec', 'listManagedSpecs', 'restartManagedSpec',
      'sweepManagedSpawn', 'bootReconcileManagedSpawn', 'removeManagedSpecsForProject',
      'computeManagedSpecsEtag', 'buildLiveManagedProcessesBlock', 'runHealthcheck', 'waitForFirstHealth',
    ]
    const probe = (m) => `JSON.stringify({ fns: ${JSON.stringify(names)}.filter((n) => typeof ${m}[n] === 'function'), ` +
      `reason: ${m}.validateManagedSpecName('Bad_Name').reason })`
    const cjs = JSON.parse(run(['-e', `const m = require('${pkg.name}/managed-spawn'); console.log(${probe('m')})`]))
    assert.deepEqual(cjs.fns, names)
    assert.equal(cjs.reason, 'name-not-kebab-case (Bad_Name)')
    const esm = JSON.parse(run(['--input-type=module', '-e', `import m from '${pkg.name}/managed-spawn'; console.log(${probe('m')})`]))
    assert.deepEqual(esm, cjs)
    assert.ok(fs.existsSync(path.join(nodeDir, pkg.exports['./managed-spawn'].types)))
  })

  test('types entry points exist', () => {
    for (const f of [pkg.types, pkg.exports['.'].types, 'index.d.ts', 'redact-stream.d.ts']) {
      assert.ok(fs.existsSync(path.join(nodeDir, f)), f)
    }
    const dts = fs.readFileSync(path.join(nodeDir, 'keel.d.ts'), 'utf8')
    assert.match(dts, /export \* from '\.\/index'/)
    assert.match(dts, /createRedactStream/)
  })

  test('files listed for publishing exist', () => {
    const require = createRequire(path.join(nodeDir, 'package.json'))
    for (const f of pkg.files.filter((f) => !f.includes('*'))) {
      assert.ok(fs.existsSync(path.join(nodeDir, f)), f)
    }
    assert.equal(require.resolve(path.join(nodeDir, pkg.main)), path.join(nodeDir, 'keel.js'))
  })
})
