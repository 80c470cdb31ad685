// Node surface of managed services (node/managed-spawn.js over keel_core::services) on
// real processes: a Python HTTP server brought up and probed healthy, listed with its
// health and ETag, shown in the prompt block, restarted (the old tree gone), expired by
// TTL and killed with its whole tree, reconciled by a new instance after the host
// "restarts"; a reused pid never signalled; and bad input refused with stable codes.
// Timings have generous margins: the machine is shared.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')
const dropIns = require('../../node/managed-spawn.js')

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-svc-node-'))
const strays = []
after(() => {
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  fs.rmSync(root, { recursive: true, force: true })
})

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const alive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
async function gone(pid, ms = 10_000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (!alive(pid)) return true
    await sleep(50)
  }
  return false
}
async function freePort() {
  const s = net.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address()
  await new Promise((r) => s.close(r))
  return port
}

let n = 0
function fresh(options) {
  const dir = path.join(root, `state-${n++}`)
  return createWith(dir, options)
}
function createWith(dir, options) {
  return keel.createManagedSpawn({ stateDir: dir, agentsDir: path.join(dir, 'agents'), configPath: path.join(dir, 'none.json'), options })
}

async function webSpec(name = 'web', over = {}) {
  const port = await freePort()
  return {
    name,
    cmd: 'python3',
    args: ['-m', 'http.server', String(port), '--bind', '127.0.0.1'],
    ports: [port],
    attrs: { base_url: `http://127.0.0.1:${port}` },
    healthcheck: { type: 'http', url: `http://127.0.0.1:${port}/`, expect_status: 200, interval_s: 0.2, timeout_s: 15 },
    ...over,
  }
}

function editState(ms, edit) {
  const state = JSON.parse(fs.readFileSync(ms.statePath, 'utf8'))
  edit(state.specs)
  fs.writeFileSync(ms.statePath, JSON.stringify(state), { mode: 0o600 })
}

test('up, list, ETag, prompt block, restart: a real HTTP server', async () => {
  const ms = fresh()
  const spec = await webSpec()
  const out = await ms.upManagedSpecs({ specs: [spec], written_by: 'a1' }, { requireGitWorkdir: false }, { owner_project: 'p1', owner_agent: 'a1' })
  assert.equal(out.length, 1)
  assert.equal(out[0].healthy, true, out[0].error)
  const pid = out[0].pid
  strays.push(pid)
  assert.ok(alive(pid))

  const recs = ms.listManagedSpecs({ project: 'p1' })
  assert.equal(recs.length, 1)
  assert.equal(recs[0].name, 'web')
  assert.equal(recs[0].healthy, true)
  assert.equal(recs[0].owner_agent, 'a1')
  assert.equal(recs[0].keel.health, 'healthy')
  assert.deepEqual(ms.listManagedSpecs({ project: 'other' }), [])
  assert.equal(ms.getManagedSpecByName('web').pid, pid)
  assert.equal(ms.getManagedSpecByName('nope'), null)

  const { etag, services } = ms.listManagedServices({ project: 'p1' })
  assert.equal(etag, ms.computeManagedSpecsEtag({ project: 'p1' }))
  assert.equal(services[0].health, 'healthy')
  assert.equal(services[0].alive, true)
  assert.equal('env' in services[0], false)

  const block = ms.buildLiveManagedProcessesBlock({ project: 'p1', dashboardPort: 9999 })
  assert.match(block, /## Live managed processes for project p1/)
  assert.match(block, new RegExp(`### web[\\s\\S]*- pid: ${pid}`))
  assert.match(block, /localhost:9999\/api\/managed-processes\?project=p1/)
  assert.equal(ms.buildLiveManagedProcessesBlock({ project: 'other' }), '')
  assert.equal(ms.buildLiveManagedProcessesBlock({}), '')

  const rt = await ms.restartManagedSpec('web')
  strays.push(rt.pid)
  assert.notEqual(rt.pid, pid)
  assert.ok(await gone(pid), 'the old server was killed')
  assert.notEqual(ms.computeManagedSpecsEtag({ project: 'p1' }), etag)
  const h = await ms.waitForFirstHealth(ms.getManagedSpecByName('web'))
  assert.equal(h.healthy, true, h.error)
  assert.equal(ms.getManagedSpecByName('web').healthy, true)

  const removal = await ms.removeManagedSpecsForProject('p1')
  assert.deepEqual(removal, { killed: 1, unlinked: 1, scanned: 1, removed: 1 })
  assert.ok(await gone(rt.pid))
  assert.deepEqual(ms.listManagedSpecs(), [])
  assert.deepEqual(await ms.removeManagedSpecsForProject(''), { killed: 0, unlinked: 0, scanned: 0 })
})

test('a failing first healthcheck: the service is killed and removed, with the reason', async () => {
  const ms = fresh()
  const spec = await webSpec('down')
  // The probe asks a port nobody serves.
  spec.healthcheck = { type: 'http', url: `http://127.0.0.1:${await freePort()}/`, expect_status: 200, interval_s: 0.2, timeout_s: 1 }
  const [o] = await ms.upManagedSpecs({ specs: [spec] }, { requireGitWorkdir: false })
  assert.equal(o.healthy, false)
  assert.match(o.error, /^timeout: spec down did not become healthy within 1s \(last: http request error/)
  assert.ok(await gone(o.pid))
  assert.deepEqual(ms.listManagedSpecs(), [])
})

test('TTL expiry kills the whole tree; a dead record is dropped; a new instance reconciles survivors', async () => {
  const dir = path.join(root, 'ttl')
  // A shell whose child is the server: the TTL kill must take both.
  const port = await freePort()
  // A host narrows the allowlist: sh is refused.
  const narrow = createWith(dir, { executableAllowlist: ['python3'] })
  const v = narrow.validateManagedSpawnRecord({ specs: [{ name: 'tree', cmd: 'sh' }] }, { requireGitWorkdir: false })
  assert.equal(v.ok, false)
  assert.equal(v.reason, 'spec[0]: cmd-not-on-allowlist (sh)')
  const allowing = createWith(dir, { executableAllowlist: ['sh', 'python3'] })
  const v2 = allowing.validateManagedSpawnRecord(
    { specs: [{ name: 'tree', cmd: 'sh', args: ['-c', `python3 -m http.server ${port} --bind 127.0.0.1 & wait`], healthcheck: { type: 'http', url: `http://127.0.0.1:${port}/`, expect_status: 200, interval_s: 0.2, timeout_s: 15 } }] },
    { requireGitWorkdir: false },
  )
  assert.equal(v2.ok, true, v2.reason)
  const [o] = await allowing.upManagedSpecs(v2.value, { requireGitWorkdir: false })
  assert.equal(o.healthy, true, o.error)
  strays.push(o.pid)
  const web = await webSpec('keeper')
  const [k] = await allowing.upManagedSpecs({ specs: [web] }, { requireGitWorkdir: false })
  assert.equal(k.healthy, true, k.error)
  strays.push(k.pid)
  // the python child of the shell
  const kids = fs.readFileSync(`/proc/${o.pid}/task/${o.pid}/children`, 'utf8').trim().split(/\s+/).map(Number)
  assert.ok(kids.length >= 1)
  strays.push(...kids)

  // The host restarts: a new instance over the same directory reconciles.
  const after1 = createWith(dir, { executableAllowlist: ['sh', 'python3'], healthBackoffSec: 0 })
  const r = await after1.bootReconcileManagedSpawn()
  assert.equal(r.stats.scanned, 2)
  assert.deepEqual(r.probed.map((p) => [p.name, p.healthy]).sort(), [['keeper', true], ['tree', true]])

  // 'tree' expires; 'ghost' points at a process that is gone.
  editState(after1, (specs) => {
    specs.find((s) => s.name === 'tree').ttl_expires_at = Date.now() - 1000
    specs.push({ name: 'ghost', pid: 2 ** 22 - 3, started_at: Date.now(), ttl_expires_at: Date.now() + 3_600_000, owner_project: 'p' })
  })
  const s = await after1.sweepManagedSpawn()
  assert.deepEqual([s.scanned, s.ttlExpired, s.deadDropped, s.killedPids], [3, 1, 1, 1])
  assert.ok(await gone(o.pid), 'the shell is gone')
  for (const kid of kids) assert.ok(await gone(kid), `its child ${kid} is gone`)
  assert.ok(alive(k.pid), 'the unexpired service runs on')
  assert.deepEqual(after1.listManagedSpecs().map((x) => x.name), ['keeper'])
  const removal = await after1.removeManagedSpec('keeper')
  assert.deepEqual(removal, { removed: true, killed: true })
  assert.ok(await gone(k.pid))
})

test('a reused pid is never signalled, by the sweep or by removal', async () => {
  const ms = fresh()
  const stranger = spawn('sleep', ['300'], { stdio: 'ignore' })
  strays.push(stranger.pid)
  await sleep(100)
  const then = Date.now() - 3_600_000
  fs.mkdirSync(ms.stateDir, { recursive: true })
  // minions' record (no identity) written an hour before the process started, expired.
  fs.writeFileSync(
    ms.statePath,
    JSON.stringify({ specs: [{ name: 'old', pid: stranger.pid, started_at: then, ttl_expires_at: then + 60_000, owner_project: 'p' }] }),
    { mode: 0o600 },
  )
  assert.equal(ms.listManagedServices().services[0].alive, false)
  const s = await ms.sweepManagedSpawn()
  assert.equal(s.killedPids, 0)
  assert.ok(alive(stranger.pid), 'the stranger survived the sweep')
  fs.writeFileSync(ms.statePath, JSON.stringify({ specs: [{ name: 'old', pid: stranger.pid, started_at: then, owner_project: 'p' }] }), { mode: 0o600 })
  const r = await ms.removeManagedSpec('old')
  assert.equal(r.killed, false)
  await sleep(200)
  assert.ok(alive(stranger.pid), 'the stranger survived removal')
  stranger.kill('SIGKILL')
})

test('waitForFirstHealth settles when the exit observation does', async () => {
  const ms = fresh()
  const spec = await webSpec('quick')
  const t0 = Date.now()
  const r = await ms.waitForFirstHealth(
    { name: 'quick', healthcheck: { ...spec.healthcheck, url: `http://127.0.0.1:${await freePort()}/`, timeout_s: 30 } },
    { exit: Promise.resolve({ code: 3, signal: null }) },
  )
  assert.equal(r.healthy, false)
  assert.equal(r.error, 'process exited before first health (code=3, signal=null)')
  assert.deepEqual(r.exit, { code: 3, signal: null })
  assert.ok(Date.now() - t0 < 10_000)
  const none = await ms.waitForFirstHealth({ name: 'quick' })
  assert.equal(none.error, 'spec.healthcheck missing')
})

test('the module-level drop-ins use MINIONS_TEST_DIR', async () => {
  const home = path.join(root, 'minions-home')
  fs.mkdirSync(path.join(home, 'agents', 'a1'), { recursive: true })
  const before = process.env.MINIONS_TEST_DIR
  process.env.MINIONS_TEST_DIR = home
  try {
    fs.writeFileSync(path.join(home, 'agents', 'a1', 'managed-spawn.json'), JSON.stringify({ specs: [await webSpec()], written_by: 'a1' }))
    const acc = dropIns.evaluateManagedSpawnAcceptance('a1', { requireGitWorkdir: false, expectedAgentId: 'a1' })
    assert.equal(acc.accepted, true, acc.reason)
    assert.equal(acc.filePath, path.join(home, 'agents', 'a1', 'managed-spawn.json'))
    assert.deepEqual(dropIns.listManagedSpecs(), [])
    assert.equal(dropIns.MANAGED_SPAWN_FILENAME, 'managed-spawn.json')
    assert.deepEqual([...dropIns.HEALTHCHECK_TYPES], ['http', 'command'])
  } finally {
    if (before === undefined) delete process.env.MINIONS_TEST_DIR
    else process.env.MINIONS_TEST_DIR = before
  }
})

test('bad input: clear errors with stable codes, never a crash or a torn state file', async () => {
  const codeOf = (fn) => {
    try {
      fn()
    } catch (e) {
      return [e.name, e.code, e.message]
    }
    return null
  }
  assert.deepEqual(codeOf(() => keel.createManagedSpawn('x')).slice(0, 2), ['TypeError', 'KEEL_INVALID_ARGUMENT'])
  assert.match(codeOf(() => keel.createManagedSpawn({ statedir: '/tmp' }))[2], /unknown option "statedir"/)
  assert.deepEqual(codeOf(() => keel.createManagedSpawn({ stateDir: '' })).slice(0, 2), ['TypeError', 'KEEL_INVALID_ARGUMENT'])
  const range = codeOf(() => fresh({ maxSpecsPerFile: 0 }))
  assert.deepEqual(range.slice(0, 2), ['RangeError', 'KEEL_INVALID_OPTION'])
  assert.match(range[2], /maxSpecsPerFile/)
  const shape = codeOf(() => fresh({ killGraceMs: 'soon' }))
  assert.deepEqual(shape.slice(0, 2), ['TypeError', 'KEEL_INVALID_ARGUMENT'])
  assert.match(shape[2], /killGraceMs/)
  // An unknown field is refused without echoing its name (it may be a pasted secret).
  assert.match(codeOf(() => fresh({ nope: 1 }))[2], /options has an unknown field \(4 characters/)

  const ms = fresh()
  const cyclic = { specs: [] }
  cyclic.specs.push(cyclic)
  assert.deepEqual(codeOf(() => ms.validateManagedSpawnRecord(cyclic)).slice(0, 2), ['TypeError', 'KEEL_INVALID_ARGUMENT'])
  assert.deepEqual(codeOf(() => ms.validateManagedSpawnRecord({ specs: [{ name: 1n }] })).slice(0, 2), ['TypeError', 'KEEL_INVALID_ARGUMENT'])
  await assert.rejects(ms.spawnManagedSpec(null), { name: 'TypeError', code: 'KEEL_INVALID_ARGUMENT', message: 'spawnManagedSpec: spec required' })
  await assert.rejects(ms.spawnManagedSpec({ name: 'x', cmd: 'rm', args: ['-rf', '/'] }), (e) => e.code === 'KEEL_INVALID_ARGUMENT' || e.code === 'KEEL_SERVICE_SPEC_INVALID')
  await assert.rejects(ms.restartManagedSpec('Not A Name'), { name: 'TypeError', message: 'restartManagedSpec: name required' })
  await assert.rejects(ms.restartManagedSpec('absent'), { code: 'KEEL_SERVICE_NOT_FOUND', statusCode: 404 })
  await assert.rejects(ms.removeManagedSpec(5), { code: 'KEEL_INVALID_ARGUMENT' })
  await assert.rejects(ms.upManagedSpecs({ specs: [{ name: 'Bad_Name', cmd: 'node' }] }), {
    code: 'KEEL_SERVICE_SPEC_INVALID',
    message: /spec\[0\]: name-not-kebab-case \(Bad_Name\)/,
  })
  // A secret in a refused spec never reaches the reason.
  const token = 'ghp_' + 'Z9'.repeat(18)
  const v = ms.validateManagedSpawnRecord({ specs: [{ name: 'x', cmd: token }] })
  assert.equal(v.ok, false)
  assert.ok(!v.reason.includes(token), v.reason)

  // A state file that is not JSON: reads and sweeps refuse with a code, and leave it as it is.
  fs.mkdirSync(ms.stateDir, { recursive: true })
  fs.writeFileSync(ms.statePath, '{"specs": [', { mode: 0o600 })
  assert.equal(codeOf(() => ms.listManagedSpecs())[1], 'KEEL_MALFORMED_STATE')
  await assert.rejects(ms.sweepManagedSpawn(), { code: 'KEEL_MALFORMED_STATE' })
  assert.equal(fs.readFileSync(ms.statePath, 'utf8'), '{"specs": [')
  // The ETag and the prompt block degrade, as minions' do.
  assert.equal(ms.buildLiveManagedProcessesBlock({ project: 'p' }), '')
  // A world-writable state file is refused.
  fs.writeFileSync(ms.statePath, '{"specs": []}')
  fs.chmodSync(ms.statePath, 0o666)
  assert.equal(codeOf(() => ms.listManagedSpecs())[1], 'KEEL_INSECURE_FILE')

  // The native half checks its own arguments.
  const { ServicesNative } = require('../../node/index.js')
  const native = new ServicesNative(path.join(root, 'native'))
  assert.deepEqual(codeOf(() => native.validate(5)).slice(0, 2), ['TypeError', 'KEEL_INVALID_ARGUMENT'])
  assert.match(codeOf(() => native.validate('{not json'))[2], /recordJson is not JSON text/)
  assert.match(codeOf(() => native.call('nope', '[]', () => {}))[2], /unknown services operation "nope"/)
  assert.match(codeOf(() => native.call('sweep', '{}', () => {}))[2], /argsJson is not a JSON array/)
  assert.match(codeOf(() => native.call('sweep', '[]', 5))[2], /done must be a function/)
})
