// The CommonJS entry: `require()` of the package's main file gives the same API
// as `import`, and it works end to end.
'use strict'
const assert = require('node:assert/strict')
const { once } = require('node:events')
const { describe, test } = require('node:test')

const keel = require('../../node/keel.js')

describe('require()', () => {
  test('exports the reference names and keel additions', () => {
    for (const name of ['redact', 'redactSecrets', 'registerKnownSecrets', 'secretsToRedact', 'captureRedactedOutput']) {
      assert.equal(typeof keel[name], 'function', name)
    }
    assert.equal(keel.MAX_CAPTURED_OUTPUT_CHARS, 16_000)
    for (const name of ['Redactor', 'StreamRedactor', 'listRules', 'createRedactStream', 'RedactStream']) {
      assert.equal(typeof keel[name], 'function', name)
    }
  })

  test('the same module instance as import()', async () => {
    const esm = await import('../../node/keel.mjs')
    assert.equal(esm.redact, keel.redact)
    assert.equal(esm.Redactor, keel.Redactor)
    assert.equal(esm.createRedactStream, keel.createRedactStream)
    assert.equal(esm.default, keel)
  })

  test('redaction works', async () => {
    assert.equal(keel.redact('POSTGRES_PASSWORD=hunter2 tok-abcdef', ['tok-abcdef']), 'POSTGRES_PASSWORD=*** ***')
    assert.equal(keel.redactSecrets('https://u:p@h.example'), 'https://***@h.example')
    assert.deepEqual(keel.secretsToRedact('plain-token'), ['plain-token'])
    assert.equal(keel.captureRedactedOutput(undefined, ''), undefined)
    const r = new keel.Redactor({ secrets: ['cjs-secret-value'] })
    assert.equal(r.redact('x cjs-secret-value'), 'x ***')
    const s = keel.createRedactStream({ redactor: r })
    const out = []
    s.on('data', (b) => out.push(b))
    s.end('y cjs-secret-value')
    await once(s, 'end')
    assert.equal(Buffer.concat(out).toString(), 'y ***')
  })

  test('errors carry codes', () => {
    assert.throws(() => keel.redact(1), { name: 'TypeError', code: 'KEEL_INVALID_ARGUMENT' })
    assert.throws(() => new keel.Redactor({ disableRules: ['x'] }), { code: 'KEEL_UNKNOWN_RULE' })
  })
})
