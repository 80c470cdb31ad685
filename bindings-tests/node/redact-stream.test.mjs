// createRedactStream(): the stream.Transform over keel-core's StreamRedactor, and
// the native StreamRedactor itself. The invariant under test: the output equals
// one-shot redaction of everything written, however the input is chunked.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import * as keel from '../../node/keel.mjs'

const SECRET = 'hunter2-correct-horse-battery'

/** Write `chunks` through a fresh stream from `createRedactStream(options)`; resolve the whole output. */
async function runStream(chunks, options) {
  const stream = keel.createRedactStream(options)
  const out = []
  stream.on('data', (b) => out.push(b))
  for (const c of chunks) stream.write(c)
  stream.end()
  await once(stream, 'end')
  return Buffer.concat(out)
}

/** Every split of `input` into two chunks, plus one-byte chunks. */
function* splits(input) {
  for (let i = 0; i <= input.length; i++) yield [input.subarray(0, i), input.subarray(i)]
  yield Array.from(input, (b) => Buffer.from([b]))
}

describe('createRedactStream', () => {
  test('a known secret split across chunks at every byte boundary never escapes', async () => {
    const redactor = new keel.Redactor({ secrets: [SECRET] })
    const input = Buffer.from(`before ${SECRET} middle ${SECRET}\nafter ghp_abcdefghijklmnop1234 end`)
    const want = redactor.redact(input)
    assert.equal(want.toString(), 'before *** middle ***\nafter ghp_*** end')
    for (const chunks of splits(input)) {
      const got = await runStream(chunks, { redactor })
      assert.deepEqual(got, want, `chunks ${chunks.map((c) => c.length).join('+')}`)
    }
  })

  test('shape rules hold across chunk boundaries too', async () => {
    const input = Buffer.from(
      'db | POSTGRES_PASSWORD=hunter2\ngit https://x-access-token:ghs_abcdefghij0123456789@github.com/o/r\n',
    )
    const want = Buffer.from(keel.redactSecrets(input.toString()))
    for (const chunks of splits(input)) {
      assert.deepEqual(await runStream(chunks), want, `chunks ${chunks.map((c) => c.length).join('+')}`)
    }
  })

  test('Buffer chunks not on UTF-8 boundaries', async () => {
    const secret = 'ünïcödé-sécret-välue'
    const redactor = new keel.Redactor({ secrets: [secret] })
    const text = `日本語 ${secret} émoji 😀 ${secret}😀 fin`
    const input = Buffer.from(text)
    const want = Buffer.from(redactor.redact(text))
    assert.equal(want.toString(), '日本語 *** émoji 😀 ***😀 fin')
    for (const chunks of splits(input)) {
      assert.deepEqual(await runStream(chunks, { redactor }), want)
    }
    // and the output decodes as the same text when the consumer sets an encoding
    const stream = keel.createRedactStream({ redactor })
    stream.setEncoding('utf8')
    let s = ''
    stream.on('data', (d) => (s += d))
    for (const b of input) stream.write(Buffer.from([b]))
    stream.end()
    await once(stream, 'end')
    assert.equal(s, '日本語 *** émoji 😀 ***😀 fin')
  })

  test('string chunks, Uint8Array chunks and pipeline()', async () => {
    const out = []
    await pipeline(
      Readable.from(['x ', 'hunter2-correct-', new TextEncoder().encode('horse-battery y'), '\n']),
      keel.createRedactStream({ secrets: [SECRET] }),
      async function* (source) {
        for await (const chunk of source) out.push(chunk)
      },
    )
    assert.equal(Buffer.concat(out).toString(), 'x *** y\n')
  })

  test('default: the process-wide redactor (registerKnownSecrets applies)', async () => {
    const registered = 'stream-registered-secret-42'
    assert.equal((await runStream([`a ${registered} b`])).toString(), `a ${registered} b`)
    keel.registerKnownSecrets([registered])
    assert.equal((await runStream([`a ${registered.slice(0, 9)}`, `${registered.slice(9)} b`])).toString(), 'a *** b')
  })

  test('Redactor options build a dedicated redactor', async () => {
    const got = await runStream(['TICKET-12', '3456 ghp_abcdefghijklmnop1234'], {
      mask: '[X]',
      disableRules: ['github-token'],
      customRules: [{ name: 'ticket', pattern: 'TICKET-[0-9]{6}' }],
    })
    assert.equal(got.toString(), '[X] ghp_abcdefghijklmnop1234')
  })

  test('secrets added to the redactor apply from the next write', async () => {
    const redactor = new keel.Redactor()
    const stream = keel.createRedactStream({ redactor })
    const out = []
    stream.on('data', (b) => out.push(b))
    stream.write('first late-added-secret-1\n')
    redactor.addSecret('late-added-secret-1')
    stream.write('second late-added-secret-1\n')
    stream.end()
    await once(stream, 'end')
    const text = Buffer.concat(out).toString()
    assert.ok(text.endsWith('second ***\n'), text)
  })

  test('large input in many chunks equals one-shot redaction', async () => {
    const redactor = new keel.Redactor({ secrets: [SECRET, 'another-known-value-xyz'] })
    const lines = []
    for (let i = 0; i < 2_000; i++) {
      lines.push(
        i % 7 === 0 ? `line ${i} ${SECRET} https://u:p${i}@h.example/x` : `line ${i} another-known-value-xyz ok`,
      )
    }
    const input = Buffer.from(lines.join('\n'))
    const chunks = []
    for (let at = 0, n = 1; at < input.length; at += n, n = (n * 7 + 3) % 4093 || 1) {
      chunks.push(input.subarray(at, at + n))
    }
    const got = await runStream(chunks, { redactor })
    assert.ok(got.equals(redactor.redact(input)))
  })

  test('an empty stream ends with no output', async () => {
    assert.equal((await runStream([])).length, 0)
  })

  test('pending holds back only a possible secret prefix', async () => {
    const stream = keel.createRedactStream({ secrets: [SECRET] })
    stream.write(`visible hunter2-cor`)
    await sleep(5)
    assert.ok(stream.pending > 0)
    assert.ok(stream.pending <= SECRET.length)
    stream.destroy()
  })
})

describe('createRedactStream flushIntervalMs', () => {
  test('an idle stream emits the held-back bytes that cannot start a secret', async () => {
    const stream = keel.createRedactStream({ secrets: [SECRET], flushIntervalMs: 20 })
    const out = []
    stream.on('data', (b) => out.push(b))
    stream.write('visible text hunter2-cor')
    await sleep(150)
    const early = Buffer.concat(out).toString()
    assert.ok(early.startsWith('visible text'), JSON.stringify(early))
    assert.ok(!early.includes('hunter2'), 'a secret prefix must stay held back')
    stream.end('rect-horse-battery!')
    await once(stream, 'end')
    assert.equal(Buffer.concat(out).toString(), 'visible text ***!')
  })

  test('without flushIntervalMs nothing is emitted while idle', async () => {
    const stream = keel.createRedactStream({ secrets: [SECRET] })
    const out = []
    stream.on('data', (b) => out.push(b))
    stream.write('hunter2-cor')
    await sleep(60)
    assert.equal(Buffer.concat(out).toString(), '')
    stream.end()
    await once(stream, 'end')
    assert.equal(Buffer.concat(out).toString(), 'hunter2-cor')
  })

  test('the timer is unref’d: a stream left open does not keep the process alive', () => {
    const keelJs = fileURLToPath(new URL('../../node/keel.js', import.meta.url))
    const script = `
      const keel = require(${JSON.stringify(keelJs)})
      const s = keel.createRedactStream({ secrets: ['abcdef-secret'], flushIntervalMs: 60000 })
      s.resume()
      s.write('held abcdef-sec')
      setTimeout(() => { console.log('pending', s.pending > 0) }, 10)
    `
    const started = Date.now()
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), 'pending true')
    assert.ok(Date.now() - started < 15_000)
  })

  test('no output after end or destroy', async () => {
    const stream = keel.createRedactStream({ secrets: [SECRET], flushIntervalMs: 10 })
    const out = []
    stream.on('data', (b) => out.push(b))
    stream.write('abc hunter2-c')
    stream.destroy()
    await sleep(50)
    assert.equal(Buffer.concat(out).toString(), '')
  })
})

/** Assert a thrown keel error with its stable code. */
function assertCode(fn, name, code) {
  assert.throws(fn, (e) => e instanceof Error && e.name === name && e.code === code)
}

describe('createRedactStream errors', () => {
  test('wrong option types', () => {
    assertCode(() => keel.createRedactStream(5), 'TypeError', 'KEEL_INVALID_ARGUMENT')
    assertCode(() => keel.createRedactStream('x'), 'TypeError', 'KEEL_INVALID_ARGUMENT')
    assertCode(() => keel.createRedactStream([]), 'TypeError', 'KEEL_INVALID_ARGUMENT')
    assertCode(() => keel.createRedactStream({ flushIntervalMs: '10' }), 'TypeError', 'KEEL_INVALID_ARGUMENT')
    assertCode(() => keel.createRedactStream({ redactor: {} }), 'TypeError', 'KEEL_INVALID_ARGUMENT')
    assertCode(() => keel.createRedactStream({ redactor: new keel.StreamRedactor() }), 'TypeError', 'KEEL_INVALID_ARGUMENT')
    assertCode(
      () => keel.createRedactStream({ redactor: new keel.Redactor(), mask: '#' }),
      'TypeError',
      'KEEL_INVALID_ARGUMENT',
    )
    assertCode(() => keel.createRedactStream({ secrets: 'one' }), 'TypeError', 'KEEL_INVALID_ARGUMENT')
  })

  test('out-of-range flushIntervalMs', () => {
    for (const v of [0, -1, NaN, Infinity, 2 ** 31]) {
      assertCode(() => keel.createRedactStream({ flushIntervalMs: v }), 'RangeError', 'KEEL_INVALID_OPTION')
    }
  })

  test('Redactor configuration errors', () => {
    assertCode(() => keel.createRedactStream({ disableRules: ['nope'] }), 'Error', 'KEEL_UNKNOWN_RULE')
    assertCode(
      () => keel.createRedactStream({ customRules: [{ name: 'r', pattern: '[' }] }),
      'Error',
      'KEEL_INVALID_PATTERN',
    )
  })

  test('writing a non-chunk is refused by Node, not a crash', async () => {
    const stream = keel.createRedactStream()
    stream.on('error', () => {})
    assert.throws(() => stream.write(42), { code: 'ERR_INVALID_ARG_TYPE' })
    stream.destroy()
  })
})

describe('StreamRedactor (native)', () => {
  test('write/flush/finish return Buffers and equal one-shot output', () => {
    const r = new keel.Redactor({ secrets: [SECRET] })
    const s = r.stream()
    const parts = [s.write('a hunter2-cor'), s.write(Buffer.from('rect-horse-battery b')), s.flush(), s.finish()]
    for (const p of parts) assert.ok(Buffer.isBuffer(p))
    assert.equal(Buffer.concat(parts).toString(), 'a *** b')
    assert.equal(s.pending, 0)
    // reusable after finish
    assert.equal(Buffer.concat([s.write(`${SECRET}!`), s.finish()]).toString(), '***!')
  })

  test('new StreamRedactor() uses the process-wide redactor', () => {
    keel.registerKnownSecrets(['native-stream-global-1'])
    const s = new keel.StreamRedactor()
    assert.equal(Buffer.concat([s.write('x native-stream-global-1 y'), s.finish()]).toString(), 'x *** y')
    const r = new keel.Redactor({ secrets: ['only-here-secret'] })
    const s2 = new keel.StreamRedactor(r)
    assert.equal(Buffer.concat([s2.write('only-here-secret'), s2.finish()]).toString(), '***')
  })
})
