// The shared option cases (bindings-tests/options-cases.json), run against the Node
// addon: bindings-tests/c/options.c runs the same file against the C ABI, so the two
// surfaces accept and refuse the same options with the same codes and wording.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import * as keel from '../../node/keel.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const data = JSON.parse(fs.readFileSync(path.join(here, '..', 'options-cases.json'), 'utf8'))

// How each section's options reach the addon. A section listed in `pendingOnNode` is
// not run here, and says why in the data file; the test below fails once its runner
// exists but the section is still marked pending, so the mark cannot be forgotten.
const runners = {
  redactor: (o) => new keel.Redactor(o),
  enrollmentStore: (o) => new keel.EnrollmentStore(o),
  // The cycle's functions ride in the same object; anything but an object is passed as is.
  supervisor: (o) =>
    o === undefined || (o !== null && typeof o === 'object' && !Array.isArray(o))
      ? new keel.Supervisor({ ...o, register: async () => 0, run: async () => 0 })
      : new keel.Supervisor(o),
  // A Promise: a refusal is its rejection.
  exitCause: (o) => keel.ensureExitCauseWatcher(o),
  // Bad options throw synchronously; the accepted cases have no input: no-op turns.
  turn: (o) => keel.runTurn(o),
  registry: (o) => new keel.JobRegistry(o, async () => 0),
  // Bad specs throw synchronously; an accepted one runs (`true`) and resolves its result.
  command: (o) => keel.runCommand(o),
}

// A shape error is KEEL_INVALID_JSON in C (its argument is JSON text) and a TypeError
// KEEL_INVALID_ARGUMENT here (a JS value); every other code is the same string.
const nodeCode = (c) => (c === 'KEEL_INVALID_JSON' ? 'KEEL_INVALID_ARGUMENT' : c)

function parse(text) {
  if (text.trim() === '') return { ok: true, value: undefined }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

describe('shared option cases', () => {
  const pending = data.pendingOnNode ?? {}
  for (const section of Object.keys(data.sections)) {
    const cases = data.cases.filter((c) => c.section === section)
    if (pending[section]) {
      test(`${section}: pending on Node (${pending[section]})`, () => {
        assert.equal(runners[section], undefined, `${section} has a Node runner: remove it from pendingOnNode`)
        assert.ok(cases.length >= 5)
      })
      continue
    }
    describe(section, () => {
      assert.ok(runners[section], `no Node runner for section ${section}`)
      for (const c of cases) {
        const parsed = parse(c.options)
        if (!parsed.ok) continue // malformed JSON text: a C-only case
        test(c.name, async () => {
          let made
          try {
            made = await runners[section](parsed.value)
          } catch (e) {
            assert.notEqual(c.code, 'KEEL_OK', `refused: ${e.code} ${e.message}`)
            assert.equal(e.code, nodeCode(c.code), e.message)
            if (c.code === 'KEEL_INVALID_JSON') assert.ok(e instanceof TypeError, `${e.constructor.name}: ${e.message}`)
            assert.ok(e.message.includes(c.field), `"${e.message}" does not name "${c.field}"`)
            assert.ok(!/s3cr3t/i.test(e.message), `echoes a value: ${e.message}`)
            assert.ok(e.message.length < 400)
            return
          }
          assert.equal(c.code, 'KEEL_OK', `accepted, expected ${c.code}`)
          assert.ok(made)
          if (typeof made.then === 'function') assert.equal((await made).noOp, true)
          if (section === 'command') assert.deepEqual(made.exit, { kind: 'exited', code: 0 })
        })
      }
    })
  }
})

describe('Node-only option inputs', () => {
  test('secrets may be Uint8Arrays (taken out before the JSON schema)', () => {
    const r = new keel.Redactor({ secrets: [new TextEncoder().encode('bytes-secret-123')] })
    assert.equal(r.redact('x bytes-secret-123 y'), 'x *** y')
  })

  test('values JSON cannot carry are refused by field, never shown', () => {
    for (const [options, field] of [
      [{ mask: () => 's3cr3t' }, 'options.mask'],
      [{ customRules: [{ name: 'x', pattern: Symbol('s3cr3t') }] }, 'options.customRules[0].pattern'],
      [{ minSecretLength: 10n }, 'options.minSecretLength'],
      [{ disableRules: [Buffer.from('s3cr3t')] }, 'options.disableRules[0]'],
    ]) {
      assert.throws(() => new keel.Redactor(options), (e) => {
        assert.equal(e.code, 'KEEL_INVALID_ARGUMENT')
        assert.ok(e instanceof TypeError)
        assert.ok(e.message.includes(field), e.message)
        assert.ok(!/s3cr3t/i.test(e.message), e.message)
        return true
      })
    }
    assert.throws(() => new keel.Redactor({ minSecretLength: NaN }), (e) => e.code === 'KEEL_INVALID_OPTION' && e instanceof RangeError)
  })

  test('undefined fields are absent, as in JSON.stringify', () => {
    assert.ok(new keel.Redactor({ mask: undefined, secrets: undefined }))
  })

  test('an options array longer than any real one is refused before it is read', () => {
    const started = Date.now()
    assert.throws(() => new keel.Redactor({ disableRules: new Array(2 ** 32 - 1) }), (e) => e.code === 'KEEL_INVALID_OPTION' && /more than/.test(e.message))
    assert.ok(Date.now() - started < 10_000)
  })
})
