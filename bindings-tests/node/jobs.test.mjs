// Node surface of the job watchdogs: keel's JobRegistry (watchdog timers in Rust, the JS
// work aborted through its AbortSignal), runCommand and killProcessTree — each scenario
// also run through the reference JobRegistry (@cat-factory/executor-harness dist/runner.js,
// a devDependency) to compare JobView field names and failure messages.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'

import { nodeDir } from './reference.mjs'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')
const { JobRegistry, runCommand, killProcessTree } = keel

const here = path.dirname(fileURLToPath(import.meta.url))
const harnessDist = path.dirname(
  createRequire(path.join(nodeDir, 'package.json')).resolve('@cat-factory/executor-harness'),
)
const refRunner = await import(pathToFileURL(path.join(harnessDist, 'runner.js')).href)
const refFailure = await import(pathToFileURL(path.join(harnessDist, 'failure.js')).href)

// The reference logs JSON lines for every job; keep them out of the test output.
const quiet = { log: console.log }
function silenceReference() {
  const write = process.stdout.write.bind(process.stdout)
  const writeErr = process.stderr.write.bind(process.stderr)
  const drop = (chunk, ...rest) => {
    const s = String(chunk)
    if (s.startsWith('{"jobId"')) {
      const cb = rest.find((r) => typeof r === 'function')
      if (cb) cb()
      return true
    }
    return null
  }
  process.stdout.write = (chunk, ...rest) => drop(chunk, ...rest) ?? write(chunk, ...rest)
  process.stderr.write = (chunk, ...rest) => drop(chunk, ...rest) ?? writeErr(chunk, ...rest)
  quiet.restore = () => {
    process.stdout.write = write
    process.stderr.write = writeErr
  }
}
silenceReference()

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function idle(reg, timeoutMs = 10_000) {
  const t = Date.now()
  while (reg.runningCount() > 0) {
    if (Date.now() - t > timeoutMs) throw new Error('jobs did not settle')
    await sleep(10)
  }
}

/** Run one scenario on keel's and the reference's registry; both views after settling. */
async function bothWays(limits, run, job = {}) {
  const out = {}
  for (const [name, Registry] of [
    ['keel', JobRegistry],
    ['ref', refRunner.JobRegistry],
  ]) {
    const reg = new Registry(
      name === 'ref' ? { coldStartMs: 0, toolSilenceMs: 0, ...limits } : limits,
      run,
    )
    const started = reg.start('job-1', job)
    assert.equal(started.state, 'running')
    out[`${name}Started`] = started
    await idle(reg)
    out[name] = reg.get('job-1')
  }
  // What the work did synchronously shows in start's view, in both.
  assert.equal(out.keelStarted.phase, out.refStarted.phase)
  assert.deepEqual(sortedKeys(out.keelStarted), sortedKeys(out.refStarted))
  return out
}

function waitAborted(signal) {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason)
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })
}

const sortedKeys = (o) => Object.keys(o).sort()

describe('JobRegistry: watchdogs abort the JS work through its AbortSignal', () => {
  test('inactivity: same message, cause and fields as the reference', async () => {
    const reasons = []
    const run = async (_job, { signal, onPhase, onActivity }) => {
      onPhase('agent')
      onActivity()
      try {
        await waitAborted(signal)
      } catch (e) {
        reasons.push(e.message)
        throw e
      }
    }
    const { keel: k, ref: r } = await bothWays({ inactivityMs: 300, maxDurationMs: 60_000 }, run)
    assert.equal(k.state, 'failed')
    assert.equal(k.failureCause, 'inactivity-timeout')
    assert.equal(
      k.error,
      'Aborted: no agent activity for 300ms (likely hung in agent phase; no tool had completed yet)',
    )
    // Deliberate difference: the reference rounds a sub-second window to a misleading "0s".
    assert.equal(r.error, k.error.replace('300ms', '0s'))
    assert.equal(k.failureCause, r.failureCause)
    assert.equal(k.phase, r.phase)
    assert.match(k.detail, /^Phase timings: starting=0s, agent=0s\. no tool had completed yet\.$/)
    assert.equal(k.detail, r.detail)
    assert.deepEqual(sortedKeys(k), sortedKeys(r))
    assert.deepEqual(reasons, ['inactivity timeout', 'inactivity timeout'])
  })

  test('max duration: same message and cause as the reference', async () => {
    const run = async (_job, { signal, onActivity }) => {
      const tick = setInterval(onActivity, 20)
      try {
        await waitAborted(signal)
      } finally {
        clearInterval(tick)
      }
    }
    const { keel: k, ref: r } = await bothWays({ inactivityMs: 60_000, maxDurationMs: 400 }, run)
    assert.equal(k.error, 'Aborted: exceeded max duration of 400ms')
    assert.equal(k.failureCause, 'max-duration')
    // Deliberate difference: the reference rounds a sub-second window to a misleading "0s".
    assert.equal(r.error, 'Aborted: exceeded max duration of 0s')
    assert.equal(k.failureCause, r.failureCause)
    assert.deepEqual(sortedKeys(k), sortedKeys(r))
  })

  test('an aborted job: abort() resolves with the settled state; the signal carries the reason', async () => {
    let seen
    const run = async (_job, { signal }) => {
      try {
        await waitAborted(signal)
      } catch (e) {
        seen = e
        throw e
      }
    }
    const reg = new JobRegistry({}, run)
    reg.start('a', {})
    assert.equal(reg.runningCount(), 1)
    assert.equal(await reg.abort('a', 'user cancelled'), 'failed')
    assert.ok(seen instanceof Error)
    assert.equal(seen.message, 'user cancelled')
    const v = reg.get('a')
    assert.equal(v.state, 'failed')
    // Deliberate difference: the reference reports the work's rejection ("user
    // cancelled", cause "agent"); keel says it was an abort, with the reason.
    assert.equal(v.error, 'Aborted: user cancelled')
    assert.equal(v.failureCause, 'aborted')
    assert.equal(await reg.abort('a', 'again'), 'failed')
    assert.equal(await reg.abort('nobody', 'x'), undefined)
    assert.equal(reg.runningCount(), 0)

    const ref = new refRunner.JobRegistry({ inactivityMs: 60_000, maxDurationMs: 60_000, coldStartMs: 0, toolSilenceMs: 0 }, run)
    ref.start('a', {})
    assert.equal(await ref.abort('a', 'user cancelled'), 'failed')
    assert.equal(ref.get('a').error, 'user cancelled')
  })

  test('abortAll aborts every running job', async () => {
    const reg = new JobRegistry({}, (_job, { signal }) => waitAborted(signal))
    reg.start('x', {})
    reg.start('y', {})
    assert.equal(reg.abortAll('shutting down'), 2)
    await idle(reg)
    assert.equal(reg.get('x').error, 'Aborted: shutting down')
    assert.equal(reg.abortAll('again'), 0)
  })

  test('work that ignores its signal is abandoned after the cancel grace', async () => {
    const reg = new JobRegistry({ inactivityMs: 200, cancelGraceMs: 200 }, () => new Promise(() => {}))
    reg.start('stuck', {})
    await idle(reg, 5000)
    assert.equal(reg.get('stuck').failureCause, 'inactivity-timeout')
  })
})

describe('JobRegistry: results and failures of the JS work', () => {
  test('a JS job that throws: message, cause and detail as the reference', async () => {
    const run = async (_job, { onPhase }) => {
      onPhase('clone')
      throw new Error('clone failed: repository not found')
    }
    const { keel: k, ref: r } = await bothWays({}, run)
    assert.equal(k.state, 'failed')
    assert.equal(k.error, 'clone failed: repository not found')
    assert.equal(k.failureCause, 'agent')
    assert.equal(k.detail, 'Phase timings: starting=0s, clone=0s. Failed in clone phase; no tool had completed yet.')
    assert.equal(k.error, r.error)
    assert.equal(k.failureCause, r.failureCause)
    assert.equal(k.detail, r.detail)
    assert.deepEqual(sortedKeys(k), sortedKeys(r))
  })

  test('a thrown HarnessFailure keeps its structured cause; a sync throw and a non-Error too', async () => {
    const tagged = await bothWays({}, async () => {
      throw new refFailure.HarnessFailure('git', 'push rejected')
    })
    assert.equal(tagged.keel.failureCause, 'git')
    assert.equal(tagged.keel.failureCause, tagged.ref.failureCause)
    assert.equal(tagged.keel.error, tagged.ref.error)

    const reg = new JobRegistry({}, () => {
      throw new Error('sync boom')
    })
    reg.start('s', {})
    await idle(reg)
    assert.equal(reg.get('s').error, 'sync boom')
    const reg2 = new JobRegistry({}, async () => {
      throw 'a string' // eslint-disable-line no-throw-literal
    })
    reg2.start('t', {})
    await idle(reg2)
    assert.equal(reg2.get('t').error, 'a string')
  })

  test('error messages are redacted', async () => {
    const reg = new JobRegistry({}, async () => {
      throw new Error('push to https://x-access-token:ghs_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r failed')
    })
    reg.start('r', {})
    await idle(reg)
    const v = reg.get('r')
    assert.ok(!v.error.includes('ghs_abcdefghijklmnopqrstuvwxyz0123456789'), v.error)
  })

  test('a finished job: result, progress, spans, follow-ups, call metrics; drain-on-read', async () => {
    const span = { tool: 'Bash', seq: 0, startedAt: 1, endedAt: Date.now(), ok: true, args: 'ls' }
    const run = async (job, { onActivity, onPhase, onProgress, onSpan, onFollowUp }) => {
      onPhase('agent')
      onActivity()
      onProgress({ completed: 1, total: 2 })
      onSpan(span)
      onFollowUp([{ kind: 'question', text: 'why?' }])
      return { prUrl: `https://example.invalid/${job.n}` }
    }
    const { keel: k, ref: r } = await bothWays({}, run, { n: 7 })
    assert.equal(k.state, 'done')
    assert.equal(k.phase, 'done')
    assert.deepEqual(k.result, { prUrl: 'https://example.invalid/7' })
    assert.deepEqual(k.progress, { completed: 1, total: 2 })
    assert.deepEqual(k.spans, [span])
    assert.deepEqual(k.followUps, [{ kind: 'question', text: 'why?' }])
    for (const key of ['state', 'phase', 'result', 'progress', 'spans', 'followUps']) {
      assert.deepEqual(k[key], r[key], key)
    }
    assert.deepEqual(sortedKeys(k), sortedKeys(r))
    assert.equal(typeof k.startedAt, 'number')
    assert.ok(k.heartbeatAt >= k.startedAt)

    const reg = new JobRegistry({}, run)
    reg.start('d', { n: 1 })
    await idle(reg)
    assert.ok(reg.get('d').spans)
    assert.equal(reg.get('d').spans, undefined, 'drained by the first get')
  })

  test('start is idempotent: a second start re-attaches without running again', async () => {
    let runs = 0
    const reg = new JobRegistry({}, async () => {
      runs += 1
      await sleep(50)
      return { ok: true }
    })
    const a = reg.start('same', {})
    const b = reg.start('same', {})
    assert.equal(a.id, 'same')
    assert.equal(b.startedAt, a.startedAt)
    await idle(reg)
    assert.equal(reg.start('same', {}).state, 'done')
    assert.equal(runs, 1)
  })

  test('call metrics are stamped with seq and phase; currentPhase and log are there', async () => {
    const lines = []
    const reg = new JobRegistry(
      {},
      async (_job, { onPhase, onCallMetric, currentPhase, log }) => {
        onPhase('agent')
        const call = { model: 'm' }
        onCallMetric(call)
        lines.push(call, currentPhase(), typeof log.info, typeof log.child('x').warn)
        return {}
      },
      (job) => ({ repo: job.repo }),
    )
    reg.start('m', { repo: 'o/r' })
    await idle(reg)
    assert.deepEqual(lines, [{ model: 'm', seq: 0, phase: 'agent' }, 'agent', 'function', 'function'])
    assert.deepEqual(reg.get('m').callMetrics, [{ seq: 0, phase: 'agent', model: 'm' }])
  })

  test('argument errors are coded JS errors', () => {
    const err = (code, name) => (e) => e.code === code && (!name || e.name === name)
    // null limits are the defaults, as NULL options are in C (one parser: core's RegistryOptions)
    assert.doesNotThrow(() => new JobRegistry(null, async () => {}))
    assert.throws(() => new JobRegistry(5, async () => {}), err('KEEL_INVALID_ARGUMENT', 'TypeError'))
    assert.throws(() => new JobRegistry([], async () => {}), err('KEEL_INVALID_ARGUMENT', 'TypeError'))
    assert.throws(() => new JobRegistry({}, 'not a function'), err('KEEL_INVALID_ARGUMENT', 'TypeError'))
    assert.throws(() => new JobRegistry({ inactivityMs: -1 }, async () => {}), err('KEEL_INVALID_OPTION', 'RangeError'))
    assert.throws(() => new JobRegistry({ maxDurationMs: 'soon' }, async () => {}), err('KEEL_INVALID_ARGUMENT'))
    const reg = new JobRegistry({}, async () => {})
    assert.throws(() => reg.start(42, {}), err('KEEL_INVALID_ARGUMENT'))
    assert.throws(() => reg.start('', {}), err('KEEL_INVALID_ARGUMENT'))
    assert.equal(reg.get('unknown'), undefined)
  })
})

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

async function readPid(file) {
  for (let i = 0; i < 500; i++) {
    try {
      const pid = Number(fs.readFileSync(file, 'utf8').trim())
      if (pid > 1) return pid
    } catch {}
    await sleep(10)
  }
  throw new Error('no pid file')
}

describe('runCommand and killProcessTree', () => {
  test('a hanging child is killed for inactivity, with its grandchildren', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-jobs-'))
    const pidfile = path.join(dir, 'pid')
    const out = []
    const p = runCommand({
      cmd: 'sh',
      args: ['-c', `sleep 60 & echo $! > ${pidfile}; echo working; wait`],
      inactivityMs: 400,
      killGraceMs: 1000,
      onStdout: (t) => out.push(t),
    })
    const grandchild = await readPid(pidfile)
    assert.ok(alive(grandchild))
    const r = await p
    assert.equal(r.killReason, 'inactivity-timeout')
    assert.equal(r.exit.kind, 'killed')
    assert.equal(r.exit.reason, 'inactivity-timeout')
    assert.equal(r.groupCleared, true)
    assert.equal(r.tail, 'working')
    assert.deepEqual(out, ['working\n'])
    assert.ok(!alive(grandchild), 'grandchild survived')
    fs.rmSync(dir, { recursive: true, force: true })
  })

  test('max duration, exit codes, redacted output and stderr', async () => {
    const r = await runCommand({ cmd: 'sh', args: ['-c', 'while :; do echo tick; sleep 0.05; done'], maxDurationMs: 300 })
    assert.equal(r.killReason, 'max-duration')
    const err = []
    const e = await runCommand({
      cmd: 'sh',
      args: ['-c', 'echo token=node-run-secret-0123456789 >&2; exit 3'],
      env: { KEEL_T: '1' },
      knownSecrets: ['node-run-secret-0123456789'],
      onStderr: (t) => err.push(t),
    })
    assert.deepEqual(e.exit, { kind: 'exited', code: 3 })
    assert.equal(e.error, 'command sh: exited with code 3')
    assert.equal(e.killReason, null)
    assert.ok(!err.join('').includes('node-run-secret-0123456789'), err.join(''))
    assert.ok(!e.tail.includes('node-run-secret-0123456789'))
  })

  test('a command that cannot start rejects with a coded error; bad options throw', async () => {
    await assert.rejects(runCommand({ cmd: '/nonexistent/keel-cmd' }), (e) => e.code === 'KEEL_SPAWN_FAILED' && /not found/.test(e.message))
    assert.throws(() => runCommand({}), (e) => e.code === 'KEEL_INVALID_ARGUMENT')
    assert.throws(() => runCommand({ cmd: 'true', args: 'x' }), (e) => e.code === 'KEEL_INVALID_ARGUMENT')
    assert.throws(() => runCommand({ cmd: 'true', inactivityMs: -5 }), (e) => e.code === 'KEEL_INVALID_OPTION')
    assert.throws(() => runCommand({ cmd: 'true', onStdout: 1 }), (e) => e.code === 'KEEL_INVALID_ARGUMENT')
  })

  test('killProcessTree kills a detached child and its group', async () => {
    const child = spawn('sh', ['-c', '(trap "" TERM; sleep 60) & sleep 60 & wait'], { detached: true, stdio: 'ignore' })
    await sleep(200)
    const members = execFileSync('sh', ['-c', `ps -o pid= -g ${child.pid} || true`]).toString().trim().split(/\s+/).filter(Boolean)
    assert.ok(members.length >= 3, `group: ${members}`)
    const exited = new Promise((r) => child.on('exit', r))
    const t = await killProcessTree(child.pid, 300)
    assert.equal(t.escalated, true)
    assert.equal(t.groupCleared, true)
    await exited
    for (const pid of members) assert.ok(!alive(Number(pid)), `pid ${pid} survived`)
    assert.deepEqual(await killProcessTree(child.pid, 10), { escalated: false, groupCleared: true })
    assert.throws(() => killProcessTree(-1), (e) => e.code === 'KEEL_INVALID_OPTION')
  })
})

describe('the event loop', () => {
  const script = (body) => `
    const { JobRegistry, runCommand } = require(${JSON.stringify(path.join(nodeDir, 'keel.js'))})
    const t0 = Date.now()
    process.on('exit', () => process.stderr.write('EXIT ' + (Date.now() - t0) + '\\n'))
    ${body}
  `
  function runNode(body, timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script(body)], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`node did not exit within ${timeoutMs}ms; stdout ${out} stderr ${err}`))
      }, timeoutMs)
      child.on('exit', (code) => {
        clearTimeout(timer)
        const m = /EXIT (\d+)/.exec(err)
        resolve({ code, out, err, ms: m ? Number(m[1]) : NaN })
      })
    })
  }

  test('a Node process exits promptly once every job has settled (10 min default watchdogs)', async () => {
    const r = await runNode(`
      const reg = new JobRegistry({}, async (job) => { await new Promise((r) => setTimeout(r, 50)); return { n: job.n } })
      reg.start('a', { n: 1 })
      reg.start('b', { n: 2 })
      runCommand({ cmd: 'true' }).then((res) => console.log('command', res.exit.code))
    `)
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /command 0/)
    assert.ok(r.ms < 2000, `took ${r.ms}ms`)
  })

  test('a running job keeps Node alive until its watchdog settles it, then Node exits', async () => {
    const r = await runNode(`
      const reg = new JobRegistry({ inactivityMs: 400 }, (job, { signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => { console.log('aborted:', signal.reason.message); reject(signal.reason) })))
      reg.start('hung', {})
    `)
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, /aborted: inactivity timeout/)
    assert.ok(r.ms >= 350 && r.ms < 3000, `took ${r.ms}ms`)
  })
})
