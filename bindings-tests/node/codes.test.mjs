// One code vocabulary: every error code the addon can throw is a keel_result value
// of the C header with the same name, and every C failure value is one the addon
// knows. A code added to core without a C value (or the reverse) fails here.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import * as keel from '../../node/keel.mjs'
import { nodeDir } from './reference.mjs'

const header = fs.readFileSync(path.join(nodeDir, '..', 'include', 'keel.h'), 'utf8')

function cResults() {
  const m = header.match(/enum keel_result\s*\{([\s\S]*?)\}/)
  assert.ok(m, 'keel.h declares enum keel_result')
  return [...m[1].matchAll(/^\s*(KEEL_[A-Z0-9_]+)\s*=\s*(\d+)/gm)].map((x) => [x[1], Number(x[2])])
}

test('Node and C name every code identically', () => {
  const node = keel.errorCodes()
  const c = cResults().filter(([name]) => name !== 'KEEL_OK').map(([name]) => name)
  assert.ok(node.length >= 25, `only ${node.length} codes`)
  assert.deepEqual([...node].sort(), [...c].sort())
})

test('a panic and a spawn failure have the same code on both surfaces', () => {
  const c = new Map(cResults())
  for (const code of ['KEEL_PANIC', 'KEEL_SPAWN_FAILED', 'KEEL_INVALID_OPTION']) {
    assert.ok(keel.errorCodes().includes(code), code)
    assert.ok(c.has(code), code)
  }
})

test('errors the addon throws carry vocabulary codes', () => {
  const codes = new Set(keel.errorCodes())
  const cases = [
    () => new keel.Redactor({ mask: '' }),
    () => new keel.Redactor({ disableRules: ['no-such-rule'] }),
    () => new keel.Redactor({ customRules: [{ name: 'x', pattern: '(' }] }),
    () => keel.redact(42),
  ]
  for (const f of cases) {
    assert.throws(f, (e) => codes.has(e.code) || assert.fail(`${e.code} not in the vocabulary`))
  }
})

test('the JS wrappers type no code: every one they throw comes from core (errors.js)', () => {
  const wrappers = fs.readdirSync(nodeDir).filter((f) => f.endsWith('.js') && f !== 'index.js')
  assert.ok(wrappers.includes('jobs.js') && wrappers.includes('errors.js'), wrappers.join(' '))
  for (const f of wrappers) {
    if (f === 'errors.js') continue
    // code only: comments may name a code for the reader
    const src = fs
      .readFileSync(path.join(nodeDir, f), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '')
    const literals = [...src.matchAll(/KEEL_[A-Z0-9_]+/g)].map((m) => m[0])
    assert.deepEqual(literals, [], `${f} types a code literal instead of using errors.js`)
  }
})
