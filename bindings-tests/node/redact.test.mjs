// Node surface of the redact capability: keel's reference-compatible API compared
// with the reference module itself on the same inputs, keel's own additions
// (Redactor, listRules), and argument / error handling.
//
// Every test file runs in its own process under `node --test`, so secrets
// registered here with registerKnownSecrets (process-wide, permanent) stay here.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import * as keel from '../../node/keel.mjs'
import { ref } from './reference.mjs'

/** Inputs on which keel and the reference must agree (shape rules only). */
const SHAPE_CASES = [
  // URL userinfo
  'fatal: could not read from https://x-access-token:ghs_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r.git',
  'remote: https://user:p4ss@example.com/repo',
  'http://user@example.com/path',
  'HTTPS://USER:PW@host.example',
  'clone https://oauth2:glpat-abcdefghij1234567890@gitlab.example/x.git failed',
  'no userinfo: https://example.com/a@b',
  // x-access-token
  'x-access-token:abc123',
  'x-access-token:Zq9r8s7t6u5v then more',
  // GitHub token shapes
  'token ghp_abcdefghijklmnop1234 here',
  'gho_ABCDEFGHIJKLMNOP and ghs_x and github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz',
  'ghp_ alone',
  // credential-named assignments
  'POSTGRES_PASSWORD=hunter2',
  'DATABASE_PASSWORD: hunter2',
  'db-1  | POSTGRES_PASSWORD=hunter2 MYSQL_ROOT_PASSWORD=s3cr3t!',
  'PASSWORD=hunter2 and more',
  'client_secret: Zx8yW7vU6t',
  'api_key=sk_live_51HqT9x2abcdefgh',
  'DB_ACCESS_KEY = AKxyz9872hjsQ01',
  'GITHUB_TOKEN=Zq9r8s7t6u5v4w3x',
  'credentials=foo',
  // must stay untouched in both
  'Author: Jane Doe <jane@example.com>',
  'my password is hunter2',
  'nothing to see here',
  '',
  'multi\nline\r\ntext with POSTGRES_PASSWORD=hunter2\nand https://u:p@h.example',
]

describe('reference parity: shapes', () => {
  for (const input of SHAPE_CASES) {
    test(`redact ${JSON.stringify(input).slice(0, 70)}`, () => {
      assert.equal(keel.redact(input), ref.redact(input))
      assert.equal(keel.redactSecrets(input), ref.redactSecrets(input))
      assert.equal(keel.redact(input, []), ref.redact(input, []))
    })
  }

  test('idempotent, like the reference', () => {
    for (const input of SHAPE_CASES) {
      const once = keel.redact(input)
      assert.equal(keel.redact(once), once)
      assert.equal(once, ref.redact(ref.redact(input)))
    }
  })

  test('MAX_CAPTURED_OUTPUT_CHARS', () => {
    assert.equal(keel.MAX_CAPTURED_OUTPUT_CHARS, 16_000)
    assert.equal(keel.MAX_CAPTURED_OUTPUT_CHARS, ref.MAX_CAPTURED_OUTPUT_CHARS)
  })
})

// A Codex auth.json blob: the whole blob is a secret, and so is every string leaf
// of at least 12 characters; short leaves (`chatgpt`) are not.
const CODEX_BLOB = JSON.stringify({
  auth_mode: 'chatgpt',
  OPENAI_API_KEY: null,
  tokens: {
    id_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl',
    access_token: 'at-0123456789abcdef',
    refresh_token: 'rt-abcdefghijklmnop',
    account_id: 'acct-1234567890ab',
  },
  last_refresh: '2025-01-01T00:00:00Z',
  scopes: ['openid', 'offline_access_scope_long'],
})

describe('reference parity: known secrets', () => {
  test('Codex auth.json blob: whole blob and each harvested leaf', () => {
    const secrets = keel.secretsToRedact(CODEX_BLOB)
    const msg =
      `auth failed: access token at-0123456789abcdef, refresh rt-abcdefghijklmnop, ` +
      `account acct-1234567890ab, mode chatgpt; raw=${CODEX_BLOB}`
    const out = keel.redact(msg, secrets)
    assert.equal(out, ref.redact(msg, ref.secretsToRedact(CODEX_BLOB)))
    assert.equal(out, 'auth failed: access token ***, refresh ***, account ***, mode chatgpt; raw=***')
  })

  test('a secret occurring several times is masked everywhere (split/join)', () => {
    const msg = 'a tok-123456 b tok-123456 c\ntok-123456'
    assert.equal(keel.redact(msg, ['tok-123456']), ref.redact(msg, ['tok-123456']))
  })

  test('known secrets shorter than 6 characters are ignored', () => {
    const msg = 'abc 12345 x abcde'
    assert.equal(keel.redact(msg, ['abc', '12345', 'abcde', '']), ref.redact(msg, ['abc', '12345', 'abcde', '']))
    assert.equal(keel.redact(msg, ['abc', '12345']), msg)
  })

  test('a 6-character known secret is masked', () => {
    assert.equal(keel.redact('val 123456 x', ['123456']), ref.redact('val 123456 x', ['123456']))
  })

  test('several known secrets plus shapes', () => {
    const msg = 'leased sk-ant-oat01-AAAABBBBCCCC at https://u:pw@h.example with POSTGRES_PASSWORD=hunter2 and pw-777777'
    const secrets = ['sk-ant-oat01-AAAABBBBCCCC', 'pw-777777']
    assert.equal(keel.redact(msg, secrets), ref.redact(msg, secrets))
  })

  test('a multi-line known secret', () => {
    const s = 'line1-abcdef\nline2-ghijkl'
    assert.equal(keel.redact(`x ${s} y`, [s]), ref.redact(`x ${s} y`, [s]))
  })

  test('per-call secrets do not stick', () => {
    assert.equal(keel.redact('once-only-secret', ['once-only-secret']), '***')
    assert.equal(keel.redact('once-only-secret'), 'once-only-secret')
    assert.equal(keel.redactSecrets('once-only-secret'), 'once-only-secret')
  })

  test('registerKnownSecrets: every later redaction masks them', () => {
    const a = 'registered-secret-aaaa'
    const b = 'registered-secret-bbbb'
    assert.equal(keel.redactSecrets(`x ${a} y`), `x ${a} y`)
    ref.registerKnownSecrets([a, b, 'short'])
    // keel returns how many were new (the reference returns nothing); short ones are ignored
    assert.equal(keel.registerKnownSecrets([a, b, 'short']), 2)
    assert.equal(keel.registerKnownSecrets([a]), 0)
    const msg = `x ${a} y ${b} z short`
    assert.equal(keel.redactSecrets(msg), ref.redactSecrets(msg))
    assert.equal(keel.redact(msg, ['zzzzzz-other']), ref.redact(msg, ['zzzzzz-other']))
    assert.equal(keel.redactSecrets(msg), 'x *** y *** z short')
    assert.equal(keel.captureRedactedOutput(a, b), '***\n***')
    assert.equal(keel.captureRedactedOutput(a, b), ref.captureRedactedOutput(a, b))
    // and the process-wide Redactor sees them
    assert.equal(keel.Redactor.global().redact(a), '***')
  })
})

describe('reference parity: secretsToRedact', () => {
  const tokens = [
    '',
    'sk-ant-oat01-plain-token',
    '"a-json-string-value-of-length"',
    '[1, 2, "aaaaaaaaaaaaaaaa", ["bbbbbbbbbbbbbbbbbb"]]',
    'null',
    '42',
    '{"a":"short"}',
    '{"a":"dupdupdupdupdup","b":{"c":"dupdupdupdupdup"}}',
    '{not json',
    CODEX_BLOB,
  ]
  for (const t of tokens) {
    test(`same values for ${JSON.stringify(t).slice(0, 50)}`, () => {
      assert.deepEqual(new Set(keel.secretsToRedact(t)), new Set(ref.secretsToRedact(t)))
      assert.equal(keel.secretsToRedact(t).length, ref.secretsToRedact(t).length)
    })
  }
  test('the whole token comes first, then leaves in document order (arrays)', () => {
    const t = '["cccccccccccccc", "aaaaaaaaaaaaaa", "bbbbbbbbbbbbbb"]'
    assert.deepEqual(keel.secretsToRedact(t), ref.secretsToRedact(t))
  })
  // keel-core parses JSON with serde_json without `preserve_order`, so object leaves
  // come in key order, not insertion order. Redaction output is unaffected (the set
  // is the same); only the array order differs. Reported to core.
  test('object leaves in insertion order', () => {
    assert.deepEqual(keel.secretsToRedact(CODEX_BLOB), ref.secretsToRedact(CODEX_BLOB))
  })
})

describe('reference parity: captureRedactedOutput', () => {
  const same = (stdout, stderr) => {
    const got = keel.captureRedactedOutput(stdout, stderr)
    const want = ref.captureRedactedOutput(stdout, stderr)
    if (typeof got === 'string' && typeof want === 'string' && got.length + want.length > 400) {
      // keep failure output readable for long strings
      assert.ok(got === want, `differs: keel ${got.length} chars ${JSON.stringify(got.slice(0, 60))}…, reference ${want.length} chars ${JSON.stringify(want.slice(0, 60))}…`)
    } else {
      assert.equal(got, want)
    }
    return got
  }

  test('undefined (not null) for empty output', () => {
    assert.equal(same('', ''), undefined)
    assert.equal(same(undefined, undefined), undefined)
    assert.equal(same(null, null), undefined)
    assert.equal(same(undefined, null), undefined)
    assert.equal(same('  \n\t', '\r\n'), undefined)
    assert.equal(keel.captureRedactedOutput(), undefined)
  })

  test('trims each part, drops empty parts, joins with a newline', () => {
    assert.equal(same('out\n', ''), 'out')
    assert.equal(same('', '  err  '), 'err')
    assert.equal(same('\n  out \n', '\n err\n'), 'out\nerr')
    assert.equal(same('done\n', 'error: PASSWORD=hunter2\n'), 'done\nerror: PASSWORD=***')
  })

  test('redacts shapes in the merged text', () => {
    same('cloning https://x-access-token:ghs_abcdefghij0123456789@github.com/o/r', 'db | POSTGRES_PASSWORD=hunter2')
  })

  test('non-strings go through String(x ?? "")', () => {
    assert.equal(same(42, 0), '42\n0')
    assert.equal(same(false, true), 'false\ntrue')
    assert.equal(same({ toString: () => 'obj' }, [1, 2]), 'obj\n1,2')
    assert.equal(same(Buffer.from('buf ghp_abcdefgh12345678\n'), undefined), 'buf ghp_***')
    assert.equal(same(Symbol('s'), 10n), 'Symbol(s)\n10')
    assert.equal(same({}, null), '[object Object]')
  })

  test("a throwing toString propagates the caller's own error", () => {
    const boom = new Error('boom from toString')
    const bad = {
      toString() {
        throw boom
      },
    }
    assert.throws(() => ref.captureRedactedOutput(bad, ''), (e) => e === boom)
    assert.throws(() => keel.captureRedactedOutput(bad, ''), (e) => e === boom)
  })

  test('exactly MAX_CAPTURED_OUTPUT_CHARS is kept whole', () => {
    const out = same('a'.repeat(16_000), '')
    assert.equal(out.length, 16_000)
  })

  test('one more char: tail kept behind the trim marker', () => {
    const out = same('a'.repeat(16_000) + 'b', '')
    assert.ok(out.startsWith('…(1 earlier chars trimmed)\n'))
    assert.ok(out.endsWith('ab'))
  })

  test('the tail marker counts what was cut after redaction', () => {
    const out = same('x'.repeat(20_000), 'tail POSTGRES_PASSWORD=hunter2')
    assert.match(out, /^…\(\d+ earlier chars trimmed\)\n/)
    assert.ok(out.endsWith('tail POSTGRES_PASSWORD=***'))
  })

  test('multi-byte (BMP) characters are counted as characters', () => {
    same('é'.repeat(17_000), '')
    same('日本語'.repeat(6_000), 'ünïcödé')
  })

  // JavaScript counts UTF-16 code units; keel-core counts the same units.
  test('astral characters counted as UTF-16 units', () => {
    same('😀'.repeat(9_000), '')
  })
})

describe('keel differs from the reference on purpose', () => {
  // The reference masks any value after a key containing password|passwd|pwd|
  // secret|token|key|credential. keel-core masks token/key-named values only when
  // they look like a credential, so settings and ordinary words survive.
  test('numeric settings and non-secret keys are kept', () => {
    // prose and code after a password-like key: "secret: a …", "secrets: the …"
    assert.equal(ref.redact('secret=a b'), 'secret=*** b')
    assert.equal(keel.redact('secret=a b'), 'secret=a b')
    assert.equal(keel.redact('const creds = await this.fileStore.read()'), 'const creds = await this.fileStore.read()')
    assert.equal(ref.redact('max_tokens=4096'), 'max_tokens=***')
    assert.equal(keel.redact('max_tokens=4096'), 'max_tokens=4096')
    assert.equal(ref.redact('token_type: bearer'), 'token_type: ***')
    assert.equal(keel.redact('token_type: bearer'), 'token_type: bearer')
    assert.equal(keel.redact('monkey=banana keyboard: qwerty tokenizer=bpe'), 'monkey=banana keyboard: qwerty tokenizer=bpe')
    assert.equal(ref.redact('monkey=banana'), 'monkey=***')
  })

  // Same heuristic: a token-class key (`*_key`, `*_token`) needs a value that looks
  // random (≥ 8 chars, mixed classes). The reference masks these short test values.
  test('short, non-random values of token-named keys are kept', () => {
    assert.equal(ref.redact('api_key=abc'), 'api_key=***')
    assert.equal(keel.redact('api_key=abc'), 'api_key=abc')
    assert.equal(keel.redact('DB_ACCESS_KEY = xyz'), 'DB_ACCESS_KEY = xyz')
    // password-class keys are masked whatever the value
    assert.equal(keel.redact('pwd=hunter2'), ref.redact('pwd=hunter2'))
    assert.equal(keel.redact('password=abc'), 'password=***')
  })

  // The reference rewrites the prefix in lowercase; keel keeps the text as written.
  test('x-access-token keeps its original case', () => {
    assert.equal(ref.redact('X-Access-Token:Zq9r8s7t6u5v then'), 'x-access-token:*** then')
    assert.equal(keel.redact('X-Access-Token:Zq9r8s7t6u5v then'), 'X-Access-Token:*** then')
  })

  test('quoted values keep their quotes', () => {
    assert.equal(ref.redact('password: "hunter2"'), 'password: ***')
    assert.equal(keel.redact('password: "hunter2"'), 'password: "***"')
    assert.equal(keel.redact('{"password":"hunter2"}'), '{"password":"***"}')
  })

  // keel merges overlapping and adjacent masked spans into one mask.
  test('adjacent or overlapping known secrets become one mask', () => {
    assert.equal(ref.redact('x tok-123456tok-123456 y', ['tok-123456']), 'x ****** y')
    assert.equal(keel.redact('x tok-123456tok-123456 y', ['tok-123456']), 'x *** y')
    assert.equal(ref.redact('xx abcdefgh yy', ['abcdef', 'cdefgh']), 'xx ***gh yy')
    assert.equal(keel.redact('xx abcdefgh yy', ['abcdef', 'cdefgh']), 'xx *** yy')
  })

  // keel counts a known secret's length in UTF-8 bytes (the reference: UTF-16
  // units), so a few short non-ASCII values are masked that the reference keeps.
  test('minimum secret length is in bytes', () => {
    assert.equal(ref.redact('x héllo y', ['héllo']), 'x héllo y')
    assert.equal(keel.redact('x héllo y', ['héllo']), 'x *** y')
  })

  // keel goes beyond: more credential shapes and encoded forms of known secrets.
  test('more shapes and encodings are masked', () => {
    const cases = [
      // (not AWS's documented AKIAIOSFODNN7EXAMPLE: keel keeps documented example keys)
      ['key AKIA2OGYBAH6TVWZ3XQ7', 'key AKIA***'],
      ['Authorization: Bearer abcdef0123456789xyz', 'Authorization: Bearer ***'],
      ['-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----', null],
      ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop', 'jwt ***'],
    ]
    for (const [input, want] of cases) {
      const out = keel.redact(input)
      assert.notEqual(out, input, input)
      if (want) assert.equal(out, want)
    }
    const b64 = Buffer.from('user:base64-known-secret').toString('base64')
    assert.ok(!keel.redact(`Basic ${b64}`, ['base64-known-secret']).includes(b64.slice(8, 20)))
  })
})

describe('Redactor', () => {
  test('default options behave like redactSecrets (without registered secrets)', () => {
    const r = new keel.Redactor()
    for (const input of SHAPE_CASES) assert.equal(r.redact(input), keel.redact(input))
    assert.equal(r.secretCount, 0)
  })

  test('options: mask, secrets (string and Buffer), jsonSecrets, minSecretLength', () => {
    const r = new keel.Redactor({
      mask: '[REDACTED]',
      secrets: ['leased-token-123', Buffer.from('buffer-secret-456')],
      jsonSecrets: ['{"access_token":"json-leaf-token-789"}'],
      minSecretLength: 4,
    })
    assert.equal(
      r.redact('a leased-token-123 b buffer-secret-456 c json-leaf-token-789 d'),
      'a [REDACTED] b [REDACTED] c [REDACTED] d',
    )
    assert.equal(r.secretCount, 4) // two secrets, the blob, its leaf
    assert.equal(r.addSecret('abcd'), true) // min length 4
    assert.equal(r.addSecret('abc'), false)
    assert.equal(r.addSecret('abcd'), false) // already there
    assert.equal(r.addSecret(Buffer.from('bytes-secret')), true)
    assert.equal(r.addJsonSecret('{"a":"another-json-leaf","b":"tiny"}'), 2)
    assert.equal(r.secretCount, 8)
    assert.equal(r.redact('abcd another-json-leaf bytes-secret'), '[REDACTED] [REDACTED] [REDACTED]')
  })

  test('short secrets are reported: addSecrets and shortSecretsIgnored', () => {
    const r = new keel.Redactor({ minSecretLength: 8, secrets: ['tiny', 'options-secret-1'] })
    assert.equal(r.shortSecretsIgnored, 1)
    const report = r.addSecrets(['batch-secret-1', 'abc', 'batch-secret-1', Buffer.from('xy'), 'options-secret-1'])
    assert.deepEqual(report, { added: 1, duplicates: 2, tooShort: 2, tooShortIndices: [1, 3] })
    assert.equal(r.addSecret('1234567'), false)
    assert.equal(r.shortSecretsIgnored, 4)
    assert.equal(r.redact('a batch-secret-1 b options-secret-1 c abc'), 'a *** b *** c abc')
    assert.throws(() => r.addSecrets('not-an-array'), { code: 'KEEL_INVALID_ARGUMENT' })
    assert.throws(() => r.addSecrets([null]), { code: 'KEEL_INVALID_ARGUMENT' })
  })

  test('disableRules and customRules, reflected by rules()', () => {
    const r = new keel.Redactor({
      disableRules: ['github-token'],
      customRules: [{ name: 'ticket', pattern: 'TICKET-[0-9]{6}' }],
    })
    assert.equal(r.redact('ghp_abcdefghijklmnop1234 TICKET-123456'), 'ghp_abcdefghijklmnop1234 ***')
    const rules = r.rules()
    assert.equal(rules.find((x) => x.name === 'github-token').enabled, false)
    assert.deepEqual(
      { ...rules.find((x) => x.name === 'ticket'), description: undefined },
      { name: 'ticket', kind: 'custom', enabled: true, description: undefined },
    )
  })

  test('listRules() lists the built-in rules, all enabled', () => {
    const rules = keel.listRules()
    const names = rules.map((r) => r.name)
    for (const n of ['url-userinfo', 'x-access-token', 'github-token', 'credential-assignment', 'known-secret']) {
      assert.ok(names.includes(n), n)
    }
    for (const r of rules) {
      assert.equal(typeof r.description, 'string')
      assert.equal(r.enabled, true)
      assert.equal(r.kind, 'builtin')
    }
  })

  test('redact(Buffer) returns a Buffer; invalid UTF-8 passes through', () => {
    const r = new keel.Redactor({ secrets: ['hunter2-horse'] })
    const input = Buffer.concat([Buffer.from([0xff, 0xfe, 0x80]), Buffer.from(' hunter2-horse '), Buffer.from([0xc3])])
    const out = r.redact(input)
    assert.ok(Buffer.isBuffer(out))
    assert.deepEqual(out, Buffer.concat([Buffer.from([0xff, 0xfe, 0x80]), Buffer.from(' *** '), Buffer.from([0xc3])]))
    const u8 = r.redact(new TextEncoder().encode('x hunter2-horse'))
    assert.ok(Buffer.isBuffer(u8))
    assert.equal(u8.toString(), 'x ***')
    const unchanged = Buffer.from('nothing here')
    const copy = r.redact(unchanged)
    assert.deepEqual(copy, unchanged)
    assert.equal(typeof r.redact('x hunter2-horse'), 'string')
    assert.equal(r.redact(Buffer.alloc(0)).length, 0)
  })

  test('instances are independent; Redactor.global() is the process-wide one', () => {
    const a = new keel.Redactor()
    const b = new keel.Redactor()
    a.addSecret('only-in-instance-a')
    assert.equal(a.redact('only-in-instance-a'), '***')
    assert.equal(b.redact('only-in-instance-a'), 'only-in-instance-a')
    assert.equal(keel.redactSecrets('only-in-instance-a'), 'only-in-instance-a')
    keel.Redactor.global().addSecret('global-via-instance-z')
    assert.equal(keel.redactSecrets('global-via-instance-z'), '***')
  })
})

/** Assert a keel error: constructor, stable code, message without `secret`. */
function assertKeelError(fn, name, code, secret) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, 'an Error')
    assert.equal(e.name, name, e.message)
    assert.equal(e.code, code, e.message)
    assert.ok(e.message.length > 0)
    if (secret) assert.ok(!e.message.includes(secret), `message leaks the secret: ${e.message}`)
    return true
  })
}

describe('errors', () => {
  const SECRET = 'ghp_topsecretvalue1234567890'
  const bad = [
    ['redact(number)', () => keel.redact(42)],
    ['redact()', () => keel.redact()],
    ['redact(object)', () => keel.redact({ toString: () => SECRET })],
    ['redact(Buffer)', () => keel.redact(Buffer.from(SECRET))],
    ['redact(s, string)', () => keel.redact('x', SECRET)],
    ['redact(s, [number])', () => keel.redact('x', [1])],
    ['redact(s, object)', () => keel.redact('x', { 0: SECRET, length: 1 })],
    ['redactSecrets(null)', () => keel.redactSecrets(null)],
    ['redactSecrets(symbol)', () => keel.redactSecrets(Symbol(SECRET))],
    ['registerKnownSecrets(string)', () => keel.registerKnownSecrets(SECRET)],
    ['registerKnownSecrets([null])', () => keel.registerKnownSecrets([null])],
    ['registerKnownSecrets()', () => keel.registerKnownSecrets()],
    ['secretsToRedact(object)', () => keel.secretsToRedact({ token: SECRET })],
    ['secretsToRedact(undefined)', () => keel.secretsToRedact(undefined)],
    ['new Redactor(number)', () => new keel.Redactor(5)],
    ['new Redactor(array)', () => new keel.Redactor([SECRET])],
    ['new Redactor({mask: 1})', () => new keel.Redactor({ mask: 1 })],
    ['new Redactor({minSecretLength: "3"})', () => new keel.Redactor({ minSecretLength: '3' })],
    ['new Redactor({disableRules: "jwt"})', () => new keel.Redactor({ disableRules: 'jwt' })],
    ['new Redactor({customRules: [1]})', () => new keel.Redactor({ customRules: [1] })],
    ['new Redactor({customRules: [{name}]})', () => new keel.Redactor({ customRules: [{ name: 'x' }] })],
    ['new Redactor({secrets: [1]})', () => new keel.Redactor({ secrets: [1] })],
    ['new Redactor({jsonSecrets: [{}]})', () => new keel.Redactor({ jsonSecrets: [{}] })],
    ['addSecret(null)', () => new keel.Redactor().addSecret(null)],
    ['addSecret(number)', () => new keel.Redactor().addSecret(123456789)],
    ['addJsonSecret(object)', () => new keel.Redactor().addJsonSecret({ a: SECRET })],
    ['Redactor#redact(number)', () => new keel.Redactor().redact(1)],
    ['Redactor#redact(undefined)', () => new keel.Redactor().redact()],
    ['new StreamRedactor({})', () => new keel.StreamRedactor({})],
    ['new StreamRedactor(number)', () => new keel.StreamRedactor(1)],
    ['StreamRedactor#write(number)', () => new keel.StreamRedactor().write(1)],
  ]
  for (const [name, fn] of bad) {
    test(`${name}: TypeError KEEL_INVALID_ARGUMENT`, () => {
      assertKeelError(fn, 'TypeError', 'KEEL_INVALID_ARGUMENT', SECRET)
    })
  }

  test('the message names the argument and the type received', () => {
    assert.throws(() => keel.redact('x', ['ok-secret', 7]), { message: 'knownSecrets[1] must be a string (got number)' })
    assert.throws(() => new keel.Redactor({ customRules: [{ name: 'x', pattern: null }] }), {
      message: /options\.customRules\[0\]\.pattern is not a string \(got null\)/,
    })
  })

  test('core configuration errors carry their codes', () => {
    assertKeelError(() => new keel.Redactor({ disableRules: ['no-such-rule'] }), 'Error', 'KEEL_UNKNOWN_RULE')
    assertKeelError(() => new keel.Redactor({ customRules: [{ name: 'x', pattern: '(' }] }), 'Error', 'KEEL_INVALID_PATTERN')
    assertKeelError(() => new keel.Redactor({ customRules: [{ name: 'x', pattern: 'a*' }] }), 'Error', 'KEEL_INVALID_PATTERN')
    assertKeelError(() => new keel.Redactor({ customRules: [{ name: 'jwt', pattern: 'a' }] }), 'Error', 'KEEL_INVALID_RULE_NAME')
    assertKeelError(
      () => new keel.Redactor({ customRules: [{ name: 'a', pattern: 'a' }, { name: 'a', pattern: 'b' }] }),
      'Error',
      'KEEL_INVALID_RULE_NAME',
    )
    assertKeelError(() => new keel.Redactor({ mask: '' }), 'Error', 'KEEL_INVALID_OPTION')
    assertKeelError(() => new keel.Redactor({ minSecretLength: 0 }), 'Error', 'KEEL_INVALID_OPTION')
    assertKeelError(() => new keel.Redactor({ minSecretLength: -1 }), 'RangeError', 'KEEL_INVALID_OPTION')
    assertKeelError(() => new keel.Redactor({ minSecretLength: 1.5 }), 'RangeError', 'KEEL_INVALID_OPTION')
    assertKeelError(() => new keel.Redactor({ minSecretLength: NaN }), 'RangeError', 'KEEL_INVALID_OPTION')
  })

  test('error messages are redacted', () => {
    assertKeelError(
      () => new keel.Redactor({ customRules: [{ name: SECRET, pattern: '(' }] }),
      'Error',
      'KEEL_INVALID_PATTERN',
      SECRET,
    )
    assertKeelError(() => new keel.Redactor({ disableRules: [SECRET] }), 'Error', 'KEEL_UNKNOWN_RULE', SECRET)
  })

  test("a throwing getter on an options object propagates the caller's error", () => {
    const boom = new Error('getter boom')
    const opts = {
      get mask() {
        throw boom
      },
    }
    assert.throws(() => new keel.Redactor(opts), (e) => e === boom)
  })

  test('null and undefined optional arguments are accepted', () => {
    assert.equal(keel.redact('x', undefined), 'x')
    assert.equal(keel.redact('x', null), 'x')
    assert.equal(new keel.Redactor(null).redact('x'), 'x')
    assert.equal(new keel.Redactor({ mask: undefined, secrets: null }).redact('x'), 'x')
  })

  test('wrong receivers and missing constructors throw, never crash', () => {
    const r = new keel.Redactor()
    assert.throws(() => keel.Redactor.prototype.redact.call({}, 'x'))
    assert.throws(() => keel.StreamRedactor.prototype.write.call(r, 'x'))
    assert.throws(() => keel.Redactor.prototype.redact.call(new keel.StreamRedactor(), 'x'))
    // napi-rs lets a class be called without `new`; it must not crash either way
    try {
      keel.Redactor.call({})
    } catch (e) {
      assert.ok(e instanceof Error)
    }
  })
})

describe('hardening (issue 7 item 8)', () => {
  test('a list argument is checked before anything is allocated for it', () => {
    // Used to abort the process: Vec::with_capacity(2**32 - 1) before any element was read.
    assert.throws(() => keel.redact('x', new Array(2 ** 32 - 1)), (e) => e instanceof TypeError && e.code === 'KEEL_INVALID_ARGUMENT' && /knownSecrets\[0\]/.test(e.message))
    assert.throws(() => keel.registerKnownSecrets(new Array(2 ** 32 - 1)), (e) => e.code === 'KEEL_INVALID_ARGUMENT')
    assert.throws(() => new keel.Redactor({ secrets: new Array(2 ** 32 - 1) }), (e) => e.code === 'KEEL_INVALID_OPTION' && /more than/.test(e.message))
  })

  test('a result longer than a JS string can hold is KEEL_RESULT_TOO_LARGE and says so', () => {
    const r = new keel.Redactor({ mask: '#'.repeat(64), minSecretLength: 1, secrets: ['z'] })
    const input = 'z '.repeat(9_000_000) // 18 MB in, 585 MB out
    assert.throws(() => r.redact(input), (e) => {
      assert.equal(e.code, 'KEEL_RESULT_TOO_LARGE', e.message)
      assert.match(e.message, /more than a JavaScript string can hold/)
      return true
    })
    // The same input as a Buffer works (a Buffer has no such limit).
    assert.equal(r.redact(Buffer.from('z ')).length, 65)
  })
})

describe('threads (large one-shot calls)', () => {
  test('a split call returns exactly the single-threaded output, for strings and Buffers', () => {
    const secret = 'lease-0042-Zq8xK2mN7pR4t'
    const line = 'INFO runner: job 8812 step=clone status=ok key=deps-linux-x64\n'
    // 8 MiB, with secrets planted across the halves and quarters (the piece boundaries).
    const parts = []
    for (let k = 0; k < 4; k++) {
      parts.push(line.repeat(Math.floor((2 << 20) / line.length) - 1))
      parts.push(`export LEASE=${secret} && POSTGRES_PASSWORD=Summer.Breeze2024 ghp_0123456789abcdefghijABCDEFGHIJ012345\n`)
    }
    const input = parts.join('')
    const one = new keel.Redactor({ threads: 1, secrets: [secret] })
    const four = new keel.Redactor({ threads: 4, secrets: [secret] })
    const want = one.redact(input)
    assert.notEqual(want, input)
    assert.ok(!want.includes(secret) && !want.includes('Summer.Breeze'))
    assert.equal(four.redact(input), want)
    assert.ok(four.redact(Buffer.from(input)).equals(Buffer.from(want)))
  })

  test('threads out of range is KEEL_INVALID_OPTION (as minSecretLength 0), a wrong type a TypeError', () => {
    for (const threads of [0, 65]) {
      assertKeelError(() => new keel.Redactor({ threads }), 'Error', 'KEEL_INVALID_OPTION')
      assert.throws(() => new keel.Redactor({ threads }), /threads: must be 1 to 64/)
    }
    assertKeelError(() => new keel.Redactor({ threads: -1 }), 'RangeError', 'KEEL_INVALID_OPTION')
    assert.throws(() => new keel.Redactor({ threads: 'many' }), (e) => e instanceof TypeError && /threads/.test(e.message))
  })
})
