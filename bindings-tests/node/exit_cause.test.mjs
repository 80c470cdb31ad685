// Node surface of the exit-cause recorder: ensureExitCauseWatcher starting the package's
// default watcher (this Node running node/exit-cause-watcher.js) against real services,
// a SIGKILLed service recorded by exactly one ev=server-exit line with a forensics
// snapshot, a disarmed (deliberate) stop recording nothing, a SIGKILLed watcher leaving
// the service running, and bad input refused by field with stable codes. Timings have
// generous margins: the machine is shared.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-ec-node-'))
const cleanup = []
after(() => {
  for (const pid of cleanup) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  fs.rmSync(root, { recursive: true, force: true })
})

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Whether `pid` is a live, non-zombie process. */
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0]
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

async function waitUntil(what, f, ms = 20_000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await f()) return
    await sleep(25)
  }
  assert.fail(`timed out waiting for ${what}`)
}

/**
 * A real service that is not this process's child: `sleep 120` started in the
 * background by a shell that then becomes `sleep 600` and never reaps it. Its zombie
 * therefore stays readable after a SIGKILL, so the watcher can read the signal (Node
 * itself reaps its own children at once, which would leave `signal=unknown`).
 */
async function service() {
  const holder = spawn('sh', ['-c', 'sleep 120 & echo $!; exec sleep 600'], { stdio: ['ignore', 'pipe', 'inherit'] })
  cleanup.push(holder.pid)
  let out = ''
  for await (const chunk of holder.stdout) {
    out += chunk
    if (out.includes('\n')) break
  }
  const pid = Number(out.trim())
  assert.ok(pid > 1 && alive(pid), `service pid ${out}`)
  cleanup.push(pid)
  return { pid, holder }
}

const logLines = (file) =>
  fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('ev=server-exit')) : []

test('a SIGKILLed service records exactly one server-exit line with a snapshot; ensure is idempotent', async () => {
  const { pid } = await service()
  const stateDir = path.join(root, 'a')
  const first = await keel.ensureExitCauseWatcher({ name: 'web', pid, stateDir, topProcesses: 5 })
  assert.equal(first.state, 'spawned')
  assert.equal(first.name, 'web')
  assert.equal(first.pid, pid)
  assert.equal(first.logFile, path.join(stateDir, 'exits.log'))
  assert.ok(alive(first.watcherPid), 'the watcher runs')
  cleanup.push(first.watcherPid)
  // The default watcher is this Node running the package's script.
  const cmdline = fs.readFileSync(`/proc/${first.watcherPid}/cmdline`, 'utf8').split('\0')
  assert.equal(cmdline[0], process.execPath)
  assert.ok(cmdline[1].endsWith(path.join('node', 'exit-cause-watcher.js')), cmdline[1])

  const again = await keel.ensureExitCauseWatcher({ name: 'web', pid, stateDir })
  assert.equal(again.state, 'already')
  assert.equal(again.watcherPid, first.watcherPid)
  const st = await keel.exitCauseWatcherStatus(stateDir, 'web')
  assert.equal(st.alive, true)
  assert.equal(st.watcherAlive, true)
  assert.equal(st.firedAt, null)

  process.kill(pid, 'SIGKILL')
  await waitUntil('the server-exit line', () => logLines(first.logFile).length > 0)
  await waitUntil('the watcher to end', () => !alive(first.watcherPid))
  await sleep(200) // a second line, were one written, would be there by now

  const lines = await keel.tailExitLog(first.logFile, 10)
  assert.equal(lines.length, 1, JSON.stringify(lines))
  const f = lines[0].fields
  assert.equal(f.ev, 'server-exit')
  assert.equal(f.name, 'web')
  assert.equal(f.pid, String(pid))
  assert.equal(f.status, 'signaled')
  assert.equal(f.signal, 'SIGKILL')
  assert.equal(f.status_source, 'proc-stat')
  assert.equal(f.watcher_pid, String(first.watcherPid))
  assert.match(f.uptime_ms, /^\d+$/)
  assert.ok(f.forensics.startsWith(first.forensicsDir + path.sep), f.forensics)
  const snap = fs.readFileSync(f.forensics, 'utf8')
  assert.ok(snap.startsWith('server-death '), snap.slice(0, 200))
  for (const s of ['--- meminfo', '--- cgroup', '--- kernel-log', '--- top-rss', '--- crash-files']) {
    assert.ok(snap.includes(s), `snapshot lacks ${s}`)
  }
  assert.equal(fs.statSync(f.forensics).mode & 0o777, 0o600)
  assert.equal(fs.readdirSync(first.forensicsDir).length, 1)
  const after = await keel.exitCauseWatcherStatus(stateDir, 'web')
  assert.equal(after.alive, false)
  assert.equal(after.watcherAlive, false)
  assert.equal(typeof after.firedAt, 'number')
})

test('a deliberate stop (disarm, then stop) records nothing', async () => {
  const { pid } = await service()
  const stateDir = path.join(root, 'b')
  const e = await keel.ensureExitCauseWatcher({ name: 'db', pid, stateDir })
  cleanup.push(e.watcherPid)
  const d = await keel.disarmExitCauseWatcher(stateDir, 'db')
  assert.deepEqual(d, { state: 'disarmed', name: 'db', watcherStopped: true })
  assert.equal(alive(e.watcherPid), false)
  process.kill(pid, 'SIGKILL')
  await waitUntil('the service to die', () => !alive(pid))
  await sleep(500)
  assert.deepEqual(logLines(e.logFile), [])
  assert.deepEqual(await keel.tailExitLog(e.logFile), [])
  const st = await keel.exitCauseWatcherStatus(stateDir, 'db')
  assert.equal(typeof st.disarmedAt, 'number')
  assert.equal(st.firedAt, null)
  // Idempotent, and absent for a name that never had a watcher.
  assert.equal((await keel.disarmExitCauseWatcher(stateDir, 'db', 500)).state, 'disarmed')
  assert.deepEqual(await keel.disarmExitCauseWatcher(stateDir, 'never'), {
    state: 'absent',
    name: 'never',
    watcherStopped: true,
  })
  assert.equal(await keel.exitCauseWatcherStatus(stateDir, 'never'), null)
})

test('the watcher dying does not affect the service; the next ensure starts a new one', async () => {
  const { pid } = await service()
  const stateDir = path.join(root, 'c')
  const e = await keel.ensureExitCauseWatcher({ name: 'api', pid, stateDir })
  cleanup.push(e.watcherPid)
  process.kill(e.watcherPid, 'SIGKILL')
  await waitUntil('the watcher to die', () => !alive(e.watcherPid))
  await sleep(300)
  assert.ok(alive(pid), 'the service still runs')
  assert.deepEqual(logLines(e.logFile), [], 'a watcher killed records nothing')
  const st = await keel.exitCauseWatcherStatus(stateDir, 'api')
  assert.equal(st.alive, true)
  assert.equal(st.watcherAlive, false)
  const again = await keel.ensureExitCauseWatcher({ name: 'api', pid, stateDir })
  cleanup.push(again.watcherPid)
  assert.equal(again.state, 'spawned')
  assert.notEqual(again.watcherPid, e.watcherPid)
  assert.equal((await keel.disarmExitCauseWatcher(stateDir, 'api')).watcherStopped, true)
})

/** The rejection of `p`, asserted to carry `code` and to be a `Ctor`. */
async function rejects(p, Ctor, code, field) {
  const err = await p.then(
    () => assert.fail(`resolved, expected ${code}`),
    (e) => e,
  )
  assert.ok(err instanceof Ctor, `${err.constructor.name}: ${err.message}`)
  assert.equal(err.code, code, err.message)
  if (field) assert.ok(err.message.includes(field), `"${err.message}" does not name ${field}`)
  assert.ok(!/s3cr3t/i.test(err.message), `echoes a value: ${err.message}`)
  return err
}

test('bad input is refused by field with a stable code, never echoing a value', async () => {
  const dir = path.join(root, 'd')
  const ok = { name: 'x', pid: 4194000, stateDir: dir }
  await rejects(keel.ensureExitCauseWatcher(), TypeError, 'KEEL_INVALID_ARGUMENT', 'name')
  await rejects(keel.ensureExitCauseWatcher([1]), TypeError, 'KEEL_INVALID_ARGUMENT', 'not an object')
  await rejects(keel.ensureExitCauseWatcher('s3cr3t'), TypeError, 'KEEL_INVALID_ARGUMENT')
  await rejects(keel.ensureExitCauseWatcher({ ...ok, pid: 's3cr3t' }), TypeError, 'KEEL_INVALID_ARGUMENT', 'pid')
  await rejects(keel.ensureExitCauseWatcher({ ...ok, s3cr3tKey: 1 }), TypeError, 'KEEL_INVALID_ARGUMENT', 'unknown field')
  await rejects(keel.ensureExitCauseWatcher({ ...ok, name: 'S3CR3T x' }), RangeError, 'KEEL_INVALID_OPTION', 'options.name')
  await rejects(keel.ensureExitCauseWatcher({ ...ok, pid: 1 }), RangeError, 'KEEL_INVALID_OPTION', 'options.pid')
  await rejects(keel.ensureExitCauseWatcher({ ...ok, readyTimeoutMs: 0 }), RangeError, 'KEEL_INVALID_OPTION', 'readyTimeoutMs')
  await rejects(keel.ensureExitCauseWatcher(ok), Error, 'KEEL_EXIT_CAUSE_NOT_RUNNING', 'not running')
  await rejects(
    keel.ensureExitCauseWatcher({ ...ok, watcherCommand: [1] }),
    TypeError,
    'KEEL_INVALID_ARGUMENT',
    'watcherCommand',
  )

  // A watcher program that never reports readiness is a failure, not a pretence.
  const { pid } = await service()
  await rejects(
    keel.ensureExitCauseWatcher({ name: 'x', pid, stateDir: dir, watcherCommand: ['true'], readyTimeoutMs: 3000 }),
    Error,
    'KEEL_EXIT_CAUSE_WATCHER_FAILED',
    'readiness',
  )

  await rejects(keel.disarmExitCauseWatcher(), TypeError, 'KEEL_INVALID_ARGUMENT', 'stateDir')
  await rejects(keel.disarmExitCauseWatcher(dir, 5), TypeError, 'KEEL_INVALID_ARGUMENT', 'name')
  await rejects(keel.disarmExitCauseWatcher(dir, 'x', -1), RangeError, 'KEEL_INVALID_OPTION', 'timeoutMs')
  await rejects(keel.disarmExitCauseWatcher(dir, 'Bad Name'), RangeError, 'KEEL_INVALID_OPTION', 'name')
  await rejects(keel.exitCauseWatcherStatus(dir, '../s3cr3t'), RangeError, 'KEEL_INVALID_OPTION', 'name')
  await rejects(keel.tailExitLog({}), TypeError, 'KEEL_INVALID_ARGUMENT', 'logFile')
  await rejects(keel.tailExitLog('/x', 1e9), RangeError, 'KEEL_INVALID_OPTION', 'lines')
  assert.deepEqual(await keel.tailExitLog(path.join(dir, 'nonexistent.log')), [])

  // A malformed watcher record.
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.writeFileSync(path.join(dir, 'm.watcher.json'), '{oops', { mode: 0o600 })
  await rejects(keel.exitCauseWatcherStatus(dir, 'm'), Error, 'KEEL_MALFORMED_STATE')
  await rejects(keel.disarmExitCauseWatcher(dir, 'm'), Error, 'KEEL_MALFORMED_STATE')

  // The watcher entry point refuses a malformed spec with status 2 (in a child: it takes
  // over stdout and the termination signals).
  const r = await new Promise((resolve) => {
    const c = spawn(process.execPath, [require.resolve('../../node/exit-cause-watcher.js'), '{nope'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.on('exit', (code) => resolve({ code, out }))
  })
  assert.equal(r.code, 2)
  assert.match(r.out, /^keel-exit-cause-watcher error /)
  assert.throws(() => keel.runExitCauseWatcher(5), { name: 'TypeError', code: 'KEEL_INVALID_ARGUMENT' })
})
