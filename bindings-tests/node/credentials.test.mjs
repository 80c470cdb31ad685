// Node surface of the credentials capability: EnrollmentStore (compatible with the
// reference's AgentEnrollmentKeyringStore) and CredentialFileStore, against real
// temp files and the real Linux kernel keyring (keyutils), each test with its own
// keyring service name, cleared again afterwards.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, test } from 'node:test'

import keel from '../../node/keel.js'

const { EnrollmentStore, CredentialFileStore } = keel

// Not JWT-shaped: no redaction rule masks it, so any appearance in an error is a leak.
const JWT = 'opaque-token-Q7x9Lp2Vw4Zr8Kd1Mn5Bv'
const CREDS = Object.freeze({
  jwt: JWT,
  jwtExpiresAtUnix: 1900000000,
  agentId: 'agent-7',
  tenantId: 'tenant-3',
  platformUrl: 'https://platform.example.com',
})

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-node-cred-'))
const cleanups = []
after(async () => {
  for (const c of cleanups) await c().catch(() => undefined)
  fs.rmSync(root, { recursive: true, force: true })
})

let n = 0
/** A fresh mirror path (in a directory that does not exist yet). */
function mirrorPath() {
  n += 1
  return path.join(root, `t${n}`, 'agent', 'agent-enrollment.cred')
}
function service(tag) {
  return `keel-nodetest-${tag}-${process.pid}`
}
function keyutilsStore(tag, mirror) {
  const s = new EnrollmentStore({ service: service(tag), keyring: 'keyutils', mirrorPath: mirror })
  cleanups.push(() => s.clear())
  return s
}

let keyutils
async function keyutilsUsable() {
  if (keyutils === undefined) {
    try {
      const s = keyutilsStore('probe', mirrorPath())
      await s.write(CREDS)
      await s.clear()
      keyutils = true
    } catch (e) {
      keyutils = false
    }
  }
  return keyutils
}

/** Assert a rejection with `code` whose message never contains the JWT. */
async function rejectsWith(promise, code, messagePattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof Error, `not an Error: ${e}`)
    assert.equal(e.code, code, e.message)
    assert.ok(!e.message.includes(JWT), `the JWT leaked: ${e.message}`)
    if (messagePattern) assert.match(e.message, messagePattern)
    return true
  })
}

describe('EnrollmentStore', () => {
  test('memory store round trip: write, readAll, readJwt, hasEnrollment, diagnose, clear', async () => {
    const mirror = mirrorPath()
    const s = new EnrollmentStore({ store: 'memory', mirrorPath: mirror })
    assert.equal(s.keyringBackend, 'memory')
    assert.equal(s.mirrorPath, mirror)
    assert.equal(await s.hasEnrollment(), false)

    const report = await s.write(CREDS)
    assert.equal(report.mirrorWritten, true)
    assert.deepEqual(report.warnings, [])
    assert.equal(fs.statSync(mirror).mode & 0o777, 0o600)
    assert.equal(fs.statSync(path.dirname(mirror)).mode & 0o777, 0o700)

    const all = await s.readAll()
    assert.deepEqual(all, { ...CREDS, source: 'keyring', notes: [] })
    assert.deepEqual(await s.readJwt(), { jwt: JWT, expiresAtUnix: 1900000000, source: 'keyring', notes: [] })
    assert.equal(await s.hasEnrollment(), true)

    const d = await s.diagnose()
    assert.equal(d.resolvedFrom, 'keyring')
    assert.equal(d.inSync, true)
    assert.equal(d.mirror.mode, '0600')
    assert.ok(!JSON.stringify(d).includes(JWT))

    const cleared = await s.clear()
    assert.equal(cleared.mirrorRemoved, true)
    assert.equal(cleared.keyringKeysRemoved.length, 5)
    assert.equal(fs.existsSync(mirror), false)
    assert.equal(await s.hasEnrollment(), false)
    await rejectsWith(s.readAll(), 'KEEL_NOT_ENROLLED', /not enrolled/)
    await rejectsWith(s.readJwt(), 'KEEL_NOT_ENROLLED')
    const again = await s.clear()
    assert.deepEqual(again.keyringKeysRemoved, [])
  })

  test('like the reference, an in-memory store without a mirror path never touches the home directory', async () => {
    const s = new EnrollmentStore({ store: 'memory' })
    assert.equal(s.mirrorPath, null)
    const report = await s.write(CREDS)
    assert.equal(report.mirrorWritten, false)
    assert.equal(report.mirrorPath, null)
    const off = new EnrollmentStore({ store: 'memory', mirrorPath: mirrorPath(), fileStore: null })
    assert.equal(off.mirrorPath, null)
  })

  test('keyutils round trip, and a process without the keyring entries falls back to the mirror and says so', async (t) => {
    if (!(await keyutilsUsable())) return t.skip('the kernel keyring is not usable here')
    const mirror = mirrorPath()
    const fg = keyutilsStore('fg', mirror)
    const report = await fg.write(CREDS)
    assert.equal(report.keyringBackend, 'keyutils')
    assert.ok(report.keyringKeysWritten.includes('agent-enrollment.jwt'))
    assert.equal((await fg.readAll()).source, 'keyring')

    // The daemon: another (empty) keyring service, the same mirror file.
    const daemon = keyutilsStore('daemon', mirror)
    const all = await daemon.readAll()
    assert.equal(all.source, 'fileMirror')
    assert.equal(all.jwt, JWT)
    assert.equal(all.tenantId, 'tenant-3')
    assert.ok(all.notes.length > 0 && /file mirror/.test(all.notes[0]), all.notes.join('\n'))
    const jwt = await daemon.readJwt()
    assert.deepEqual([jwt.jwt, jwt.expiresAtUnix, jwt.source], [JWT, 1900000000, 'fileMirror'])
    assert.equal(await daemon.hasEnrollment(), true)
    assert.equal(await daemon.assertPlatformUrlMatches('HTTPS://Platform.Example.com:443/'), 'fileMirror')
    const d = await daemon.diagnose()
    assert.equal(d.resolvedFrom, 'fileMirror')
    assert.ok(d.problems.some((p) => p.code === 'keyringEmpty'), JSON.stringify(d.problems))

    // The same mirror through a CredentialFileStore instance (the reference's option).
    const viaFileStore = new EnrollmentStore({ store: 'memory', fileStore: new CredentialFileStore({ path: mirror }) })
    assert.equal((await viaFileStore.readAll()).source, 'fileMirror')

    await fg.clear()
    await rejectsWith(daemon.readAll(), 'KEEL_NOT_ENROLLED')
  })

  test('platform URL mismatch names both URLs, masks userinfo', async () => {
    const s = new EnrollmentStore({ store: 'memory', mirrorPath: mirrorPath() })
    await rejectsWith(s.assertPlatformUrlMatches('https://platform.example.com'), 'KEEL_NOT_ENROLLED')
    await s.write(CREDS)
    assert.equal(await s.assertPlatformUrlMatches('https://PLATFORM.example.com/'), 'keyring')
    await rejectsWith(
      s.assertPlatformUrlMatches('https://user:pa55w0rd-xyz@other.example.com'),
      'KEEL_PLATFORM_URL_MISMATCH',
      /platform\.example\.com.*other\.example\.com/s,
    )
    await assert.rejects(s.assertPlatformUrlMatches('https://user:pa55w0rd-xyz@other.example.com'), (e) => {
      assert.ok(!e.message.includes('pa55w0rd-xyz'), e.message)
      return true
    })
    await rejectsWith(s.assertPlatformUrlMatches(''), 'KEEL_INVALID_ARGUMENT', /currentPlatformUrl/)
  })

  test('a mirror that others can read is refused with the fix; the keyring still answers', async () => {
    const mirror = mirrorPath()
    const fg = new EnrollmentStore({ store: 'memory', mirrorPath: mirror })
    await fg.write(CREDS)
    fs.chmodSync(mirror, 0o644)
    const daemon = new EnrollmentStore({ store: 'memory', mirrorPath: mirror })
    await rejectsWith(daemon.readAll(), 'KEEL_INSECURE_FILE', /0644.*too open.*chmod 600/s)
    await rejectsWith(daemon.hasEnrollment(), 'KEEL_INSECURE_FILE')
    await rejectsWith(new CredentialFileStore({ path: mirror }).read(), 'KEEL_INSECURE_FILE', /chmod 600/)
    const d = await daemon.diagnose()
    const p = d.problems.find((x) => x.code === 'mirrorTooOpen')
    assert.ok(p, JSON.stringify(d.problems))
    assert.match(p.fix, /^chmod 600 /)
    assert.equal((await fg.readAll()).source, 'keyring')
  })

  test('a mirror write failure is a warning, not a rejection', async () => {
    const dir = path.join(root, 'blocked')
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, 'agent'), 'a file where the directory should be')
    const s = new EnrollmentStore({ store: 'memory', mirrorPath: path.join(dir, 'agent', 'agent-enrollment.cred') })
    const report = await s.write(CREDS)
    assert.equal(report.mirrorWritten, false)
    assert.equal(report.warnings.length, 1)
    assert.equal(report.warnings[0].severity, 'warning')
    assert.ok(!JSON.stringify(report).includes(JWT))
    assert.equal((await s.readAll()).source, 'keyring')
  })

  test('wrong argument types reject with a TypeError and code, naming the field, never the value', async () => {
    const s = new EnrollmentStore({ store: 'memory', mirrorPath: mirrorPath() })
    const cases = [
      [undefined, /creds must be an object/],
      ['a string', /creds must be an object \(got string\)/],
      [{ ...CREDS, jwt: 42 }, /creds\.jwt must be a string \(got number\)/],
      [{ ...CREDS, agentId: undefined }, /creds\.agentId must be a string/],
      [{ ...CREDS, jwtExpiresAtUnix: '1900000000' }, /creds\.jwtExpiresAtUnix must be a number \(got string\)/],
      [{ ...CREDS, tenantId: '' }, /creds\.tenantId must not be empty/],
    ]
    for (const [arg, pattern] of cases) {
      await assert.rejects(s.write(arg), (e) => {
        assert.ok(e instanceof TypeError, `${e}`)
        assert.equal(e.code, 'KEEL_INVALID_ARGUMENT')
        assert.match(e.message, pattern)
        assert.ok(!e.message.includes(JWT))
        return true
      })
    }
    await rejectsWith(s.write({ ...CREDS, jwtExpiresAtUnix: Infinity }), 'KEEL_INVALID_ARGUMENT')
    await rejectsWith(s.assertPlatformUrlMatches(42), 'KEEL_INVALID_ARGUMENT', /currentPlatformUrl must be a string/)
    assert.equal(await s.hasEnrollment(), false, 'nothing was stored by the failed writes')

    for (const [options, pattern] of [
      // One parser with C (core's EnrollmentStoreOptions): the same wording on both surfaces.
      [{ store: 'vault' }, /options\.store is not a known name \(5 characters; expected one of: keyring, memory\)/],
      [{ keyring: 'vault' }, /options\.keyring is not a known name/],
      [{ service: 5 }, /options\.service is not a string \(got a number\)/],
      [{ mirorPath: '/tmp/x' }, /options has an unknown field \(9 characters; did you mean "mirrorPath"\?\)/],
      [{ fileStore: {} }, /options\.fileStore must be a CredentialFileStore or null/],
      [{ store: 'memory', appName: '../x', mirrorPath: '/tmp/x' }, /options\.appName/],
      ['memory', /options is not an object \(got a string\)/],
    ]) {
      assert.throws(
        () => new EnrollmentStore(options),
        (e) => e instanceof Error && e.code === 'KEEL_INVALID_ARGUMENT' && pattern.test(e.message),
        `${JSON.stringify(options)}`,
      )
    }
  })
})

describe('CredentialFileStore', () => {
  test('path, write, read, delete (idempotent), like the reference', async () => {
    const home = path.join(root, 'home')
    const f = new CredentialFileStore({ homeDir: home, appName: 'buildhive' })
    assert.equal(f.path, path.join(home, '.buildhive', 'agent-enrollment.cred'))
    assert.equal(await f.read(), null)
    await f.write(CREDS)
    assert.equal(fs.statSync(f.path).mode & 0o777, 0o600)
    assert.deepEqual(await f.read(), { ...CREDS })
    // byte-for-byte what the reference writes: JSON.stringify of the five fields
    assert.equal(fs.readFileSync(f.path, 'utf8'), JSON.stringify({ ...CREDS }))
    await f.delete()
    await f.delete()
    assert.equal(fs.existsSync(f.path), false)
    assert.equal(await f.read(), null)
  })

  test('malformed or incomplete files read as null, like the reference', async () => {
    const f = new CredentialFileStore({ path: mirrorPath() })
    fs.mkdirSync(path.dirname(f.path), { recursive: true, mode: 0o700 })
    for (const text of ['', 'not json', '[1]', JSON.stringify({ ...CREDS, agentId: '' }), JSON.stringify({ jwt: JWT })]) {
      fs.writeFileSync(f.path, text, { mode: 0o600 })
      assert.equal(await f.read(), null, text)
    }
    // a missing or non-numeric expiry reads as 0, like the reference
    fs.writeFileSync(f.path, JSON.stringify({ ...CREDS, jwtExpiresAtUnix: 'soon' }), { mode: 0o600 })
    assert.equal((await f.read()).jwtExpiresAtUnix, 0)
  })

  test('format compatibility: a file written the reference way is read by keel, and keel\'s by the reference\'s rules', async () => {
    // The reference writer: mkdir 0700, JSON.stringify, tmp.<pid> with 0600, chmod, rename.
    const file = mirrorPath()
    const dir = path.dirname(file)
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const tmp = `${file}.tmp.${process.pid}`
    fs.writeFileSync(tmp, JSON.stringify({ ...CREDS }), { encoding: 'utf8', mode: 0o600 })
    fs.chmodSync(tmp, 0o600)
    fs.renameSync(tmp, file)
    const store = new EnrollmentStore({ store: 'memory', mirrorPath: file })
    const all = await store.readAll()
    assert.equal(all.source, 'fileMirror')
    assert.deepEqual({ ...all, source: undefined, notes: undefined }, { ...CREDS, source: undefined, notes: undefined })

    // keel's file through the reference reader's rules (JSON.parse + type checks).
    const other = new CredentialFileStore({ path: mirrorPath() })
    await other.write({ ...CREDS, platformUrl: 'https://p.example/ünïcode?x="q"' })
    const parsed = JSON.parse(fs.readFileSync(other.path, 'utf8'))
    for (const k of ['jwt', 'agentId', 'tenantId', 'platformUrl']) {
      assert.equal(typeof parsed[k], 'string')
      assert.ok(parsed[k].length > 0)
    }
    assert.equal(typeof parsed.jwtExpiresAtUnix, 'number')
    assert.equal(parsed.platformUrl, 'https://p.example/ünïcode?x="q"')
    assert.deepEqual(Object.keys(parsed), ['jwt', 'jwtExpiresAtUnix', 'agentId', 'tenantId', 'platformUrl'])
  })

  test('a file written here is read by another keel process (the CLI)', async () => {
    // run.sh builds the CLI and sets KEEL_BIN; otherwise look in the cargo target dir.
    const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..')
    const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target')
    const candidates = [process.env.KEEL_BIN, path.join(targetDir, 'release/keel'), path.join(targetDir, 'debug/keel')]
    const bin = candidates.find((c) => c && fs.existsSync(c))
    assert.ok(bin, `no keel binary (build it: cargo build --release -p keel-cli); looked at ${candidates.filter(Boolean).join(', ')}`)
    const file = mirrorPath()
    await new CredentialFileStore({ path: file }).write(CREDS)
    const r = spawnSync(bin, ['cred', 'read', '--keyring', 'memory', '--mirror-path', file, '--json', '--show-secret'], {
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).jwt, JWT)
  })

  test('wrong argument types', async () => {
    assert.throws(() => new CredentialFileStore({ path: 5 }), (e) => e.code === 'KEEL_INVALID_ARGUMENT' && /options\.path is not a string \(got a number\)/.test(e.message))
    assert.throws(() => new CredentialFileStore({ path: '' }), (e) => e.code === 'KEEL_INVALID_ARGUMENT')
    const f = new CredentialFileStore({ path: mirrorPath() })
    await rejectsWith(f.write({ ...CREDS, platformUrl: null }), 'KEEL_INVALID_ARGUMENT', /creds\.platformUrl/)
  })
})
