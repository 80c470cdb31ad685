// Node surface of the supervisor: the Supervisor class over async JS callbacks (replenish,
// the observed backoff sequence, shutdown during a backoff and during a run, callback
// errors as failed cycles, bad input refused by field, a prompt process exit after
// stop() in a child node process, SIGTERM with installSignalHandlers), startActionsRunner
// over core's ActionsRunnerCycle against a fake config.sh/run.sh pair (the whole worker
// tree is gone after shutdown: /proc is scanned), and the service helpers
// (generateLaunchdPlist parsed back with python3's plistlib, generateSystemdUnit checked
// by systemd-analyze verify when present, parseLaunchctlPrint / parseSystemctlShow on
// captures, doctorCheck). Timings have generous margins: the machine is shared.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'keel-sv-'))

test('generateLaunchdPlist: a property list with the expected keys, values escaped', () => {
  const xml = keel.generateLaunchdPlist({
    programArguments: ['/usr/local/bin/keel', 'supervise', 'a&b<c>'],
    mode: 'system',
    userName: '_hive',
    logDir: '/var/log/keel',
  })
  const f = path.join(tmp(), 'p.plist')
  fs.writeFileSync(f, xml)
  const json = execFileSync('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', f])
  const p = JSON.parse(json)
  assert.equal(p.Label, 'dev.keel.supervisor')
  assert.deepEqual(p.ProgramArguments, ['/usr/local/bin/keel', 'supervise', 'a&b<c>'])
  assert.equal(p.KeepAlive, true)
  assert.equal(p.RunAtLoad, true)
  assert.equal(p.EnvironmentVariables.PATH, '/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin')
  assert.equal(p.EnvironmentVariables.HOME, '/var/_hive')
  assert.equal(p.StandardErrorPath, '/var/log/keel/dev.keel.supervisor.err.log')
})

test('generateSystemdUnit: Type=notify, watchdog, restart policy; verified by systemd-analyze', () => {
  const unit = keel.generateSystemdUnit({ execStart: ['/bin/sh', '-c', 'exec sleep 100'], watchdogMs: 30000 })
  for (const line of ['Type=notify', 'WatchdogSec=30s', 'Restart=always', 'KillMode=control-group', 'ExecStart=/bin/sh -c "exec sleep 100"']) {
    assert.ok(unit.split('\n').includes(line), `${line} in\n${unit}`)
  }
  if (fs.existsSync('/usr/bin/systemd-analyze')) {
    const f = path.join(tmp(), 'keel-sv-test.service')
    fs.writeFileSync(f, unit)
    execFileSync('/usr/bin/systemd-analyze', ['verify', f], { stdio: 'pipe' })
  }
})

test('parseLaunchctlPrint / parseSystemctlShow / doctorCheck', () => {
  const crash = 'gui/501/dev.keel.supervisor = {\n\tstate = spawn scheduled\n\tlast exit code = 1\n\tendpoints = {\n\t\tstate = active\n\t}\n}\n'
  const h = keel.parseLaunchctlPrint(crash)
  assert.deepEqual(h, { loaded: true, state: 'spawn-scheduled', rawState: 'spawn scheduled', lastExitCode: 1, lastSignal: null, pid: null, manager: 'launchd' })
  const c = keel.doctorCheck(h)
  assert.equal(c.status, 'fail')
  assert.match(c.message, /last exit code = 1/)
  assert.ok(c.fix)

  const s = keel.parseSystemctlShow('LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=42\nExecMainCode=0\nExecMainStatus=0\n')
  assert.equal(s.state, 'running')
  assert.equal(s.pid, 42)
  assert.equal(s.lastExitCode, null)
  assert.equal(keel.doctorCheck(s).status, 'pass')
  assert.equal(keel.parseSystemctlShow('LoadState=not-found\n').loaded, false)

  // a signal crash loop: launchd prints the signal instead of an exit code
  const segv = keel.parseLaunchctlPrint('gui/501/x = {\n\tstate = spawn scheduled\n\truns = 6\n\tlast terminating signal = Segmentation fault: 11\n}\n')
  assert.equal(segv.lastSignal, 11)
  assert.equal(segv.lastExitCode, null)
  const sc = keel.doctorCheck(segv)
  assert.equal(sc.status, 'fail')
  assert.match(sc.message, /killed by signal 11/)
})

test('bad input is refused with keel codes, never a crash', () => {
  assert.throws(() => keel.generateSystemdUnit({ execStart: ['sleep'] }), (e) => e.code === 'KEEL_INVALID_OPTION' && /execStart/.test(e.message))
  assert.throws(() => keel.generateLaunchdPlist({ programArguments: ['/x'], bogus: 1 }), (e) => typeof e.code === 'string' && /unknown field/.test(e.message) && !/bogus/.test(e.message))
  assert.throws(() => keel.generateLaunchdPlist('nope'), (e) => typeof e.code === 'string')
  assert.throws(() => keel.parseLaunchctlPrint(42), (e) => typeof e.code === 'string')
})

// ---- the Supervisor class -----------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Resolves once `pred()` is true (polled), or fails after `ms`. */
async function until(pred, ms, what) {
  const deadline = Date.now() + ms
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(10)
  }
}

/** Pids of live processes whose environment holds `KEY=value`. */
function pidsWithEnv(entry) {
  const out = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let env
    try {
      env = fs.readFileSync(`/proc/${name}/environ`)
    } catch {
      continue
    }
    if (env.toString('latin1').split('\0').includes(entry)) {
      // a zombie has no environment left to match, so this one is alive
      out.push(Number(name))
    }
  }
  return out
}

const fast = { backoffBaseMs: 40, backoffMaxMs: 100, jitter: 0, minCycleMs: 20, runFailureBackoffMs: 30 }
const brief = (e) => (e.state === 'backing-off' || e.state === 'degraded' ? `${e.state}(${e.attempt},${e.delayMs})` : e.state)

/** Spawn `sh -c script` in its own process group; resolves with its exit code. */
function runShell(script, signal, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore', env: { ...process.env, ...env } })
    const onAbort = () => {
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {}
    }
    signal.addEventListener('abort', onAbort, { once: true })
    if (signal.aborted) onAbort()
    child.on('error', reject)
    child.on('exit', (code, sig) => {
      signal.removeEventListener('abort', onAbort)
      resolve(sig ? { exitCode: null, signal: sig } : code)
    })
  })
}

test('Supervisor: replenishes after each run exits (real child processes)', async () => {
  const events = []
  let registered = 0
  let ran = 0
  const cleaned = []
  const sup = new keel.Supervisor({
    ...fast,
    register: async (ctx) => {
      assert.equal(ctx.slot, 0)
      assert.ok(ctx.signal instanceof AbortSignal)
      return { n: ++registered }
    },
    run: async (reg, signal, ctx) => {
      assert.equal(reg.n, registered)
      assert.equal(ctx.slot, 0)
      ran++
      return runShell('exit 0', signal)
    },
    cleanup: async (reg) => {
      cleaned.push(reg.n)
    },
    onStatus: (e) => events.push(e),
  })
  const done = sup.start()
  assert.equal(sup.done, done)
  await until(() => ran >= 6, 20_000, 'six runs')
  const report = await sup.stop()
  assert.equal(report.exitCode, 0)
  assert.equal(report.reason, 'requested')
  assert.equal(report.forced, false)
  assert.ok(report.cycles >= 6, JSON.stringify(report))
  const snap = sup.status()
  assert.equal(snap.status.state, 'offline')
  assert.equal(snap.version, 1)
  assert.equal(snap.ready, true)
  assert.equal(snap.slots[0].registrationFailures, 0)
  assert.equal(snap.slots[0].runFailures, 0)
  assert.ok(snap.slots[0].registrations >= 6)
  // the last run may have been cut short by stop(): never a failure
  assert.equal(snap.slots[0].lastRun.failed, false)
  assert.equal(events[0].state, 'online')
  assert.equal(events.at(-1).state, 'offline')
  assert.ok(events.filter((e) => e.state === 'running').length >= 6)
  assert.ok(events.every((e) => e.slot === 0 && typeof e.at === 'number'))
  // every finished run was cleaned up, in order
  assert.deepEqual(cleaned, Array.from({ length: cleaned.length }, (_, i) => i + 1))
  assert.ok(cleaned.length >= 6)
  assert.deepEqual(await sup.done, report)
})

test('Supervisor: failed registrations back off 40, 80, 100 (capped), then run', async () => {
  const events = []
  let calls = 0
  const sup = new keel.Supervisor({
    ...fast,
    register: async () => {
      if (++calls <= 4) throw new Error(`backend unavailable ${calls}`)
      return 'reg'
    },
    run: async (reg) => {
      assert.equal(reg, 'reg')
      return 0
    },
    onStatus: (e) => events.push(e),
  })
  sup.start()
  await until(() => events.some((e) => e.state === 'running'), 20_000, 'a run')
  await sup.stop()
  const seq = events.map(brief)
  assert.deepEqual(seq.slice(0, 10), [
    'online',
    'registering',
    'backing-off(1,40)',
    'registering',
    'backing-off(2,80)',
    'registering',
    'backing-off(3,100)',
    'registering',
    'backing-off(4,100)',
    'registering',
  ])
  assert.equal(seq[10], 'running')
  assert.equal(events[2].reason, 'registration failed: Error: backend unavailable 1')
  const snap = sup.status()
  assert.equal(snap.slots[0].registrationFailures, 4)
  assert.match(snap.slots[0].lastError, /backend unavailable 4/)
})

test('Supervisor: a burst of failures turns the status degraded', async () => {
  const events = []
  const sup = new keel.Supervisor({
    ...fast,
    burst: { failures: 2, windowMs: 60_000 },
    register: async () => {
      throw new Error('down')
    },
    run: async () => 0,
    onStatus: (e) => events.push(e),
  })
  sup.start()
  await until(() => events.some((e) => e.state === 'degraded'), 20_000, 'degraded')
  assert.equal(sup.status().status.state, 'degraded')
  await sup.stop()
  assert.deepEqual(events.map(brief).slice(0, 5), ['online', 'registering', 'backing-off(1,40)', 'registering', 'degraded(2,100)'])
})

test('Supervisor: shutdown during a backoff returns at once', async () => {
  const events = []
  const sup = new keel.Supervisor({
    backoffBaseMs: 600_000,
    backoffMaxMs: 600_000,
    register: () => {
      throw new Error('nope')
    },
    run: async () => 0,
    onStatus: (e) => events.push(e),
  })
  sup.start()
  await until(() => events.some((e) => e.state === 'backing-off'), 10_000, 'a backoff')
  const t0 = Date.now()
  const report = await sup.stop()
  const took = Date.now() - t0
  assert.ok(took < 5_000, `drain took ${took} ms`)
  assert.equal(report.exitCode, 0)
  assert.equal(events.at(-1).state, 'offline')
})

test('Supervisor: shutdown during a run aborts its signal; the worker tree is gone', async () => {
  const mark = `KEEL_SV_NODE_RUN=${process.pid}-${Date.now()}`
  const [key, value] = mark.split('=')
  let started = false
  let aborted = false
  const sup = new keel.Supervisor({
    ...fast,
    register: async () => 'r',
    run: async (_reg, signal) => {
      signal.addEventListener('abort', () => {
        aborted = true
      })
      started = true
      // a worker with a grandchild, both in one process group
      return runShell('sleep 300 & sleep 300', signal, { [key]: value })
    },
  })
  sup.start()
  await until(() => started && pidsWithEnv(mark).length >= 2, 10_000, 'the worker and its grandchild')
  const t0 = Date.now()
  const report = await sup.stop()
  assert.ok(Date.now() - t0 < 10_000)
  assert.ok(aborted)
  assert.equal(report.forced, false)
  await until(() => pidsWithEnv(mark).length === 0, 10_000, 'no process of the worker tree')
  const snap = sup.status()
  // stopped by the shutdown: not counted as a failed run
  assert.equal(snap.slots[0].runFailures, 0)
  assert.equal(snap.slots[0].lastRun.failed, false)
})

test('Supervisor: throwing and rejecting callbacks are failed cycles, never a crash', async () => {
  const events = []
  let n = 0
  const script = [
    () => {
      throw new TypeError('sync throw in register')
    },
    async () => Promise.reject('a plain string'), // eslint-disable-line prefer-promise-reject-errors
    async () => 'ok-1', // then run throws
    async () => 'ok-2', // then run resolves to a wrong type
    async () => 'ok-3', // then run exits 3
    async () => 'ok-4', // then run succeeds, cleanup throws
    async () => 'ok-5',
  ]
  const runs = {
    'ok-1': () => {
      throw new Error('run exploded')
    },
    'ok-2': async () => 'not an exit code',
    'ok-3': async () => ({ exitCode: 3, signal: null }),
    'ok-4': async () => true,
    'ok-5': async () => ({ ok: true }),
  }
  let cleanupCalls = 0
  const sup = new keel.Supervisor({
    ...fast,
    register: (ctx) => script[Math.min(n++, script.length - 1)](ctx),
    run: (reg) => runs[reg](),
    cleanup: (reg) => {
      cleanupCalls++
      if (reg === 'ok-4') throw new Error('cleanup failed')
    },
    onStatus: (e) => {
      events.push(e)
      throw new Error('a throwing status listener')
    },
  })
  sup.start()
  await until(() => n >= 8, 20_000, 'eight registrations')
  await sup.stop()
  const reasons = events.filter((e) => e.reason).map((e) => e.reason)
  assert.equal(reasons[0], 'registration failed: TypeError: sync throw in register')
  assert.equal(reasons[1], 'registration failed: a plain string')
  assert.equal(reasons[2], 'run failed: Error: run exploded')
  assert.match(reasons[3], /^run failed: run\(\) must resolve to an exit code.*got string.*KEEL_INVALID_ARGUMENT/)
  assert.equal(reasons[4], 'worker exited with code 3')
  assert.equal(reasons[5], 'run failed: cleanup() failed: Error: cleanup failed')
  assert.ok(cleanupCalls >= 5)
  const snap = sup.status()
  assert.equal(snap.slots[0].registrationFailures, 2)
  assert.equal(snap.slots[0].runFailures, 4)
  assert.equal(events.at(-1).state, 'offline')
})

test('Supervisor: a callback error carrying a secret is redacted in the status', async () => {
  const events = []
  const token = 'ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'
  const sup = new keel.Supervisor({
    ...fast,
    register: async () => {
      throw new Error(`token ${token} was refused`)
    },
    run: async () => 0,
    onStatus: (e) => events.push(e),
  })
  sup.start()
  await until(() => events.some((e) => e.reason), 10_000, 'a failure')
  await sup.stop()
  const text = JSON.stringify(events) + JSON.stringify(sup.status())
  assert.ok(!text.includes(token), text)
  assert.match(text, /token ghp_\*\*\* was refused/)
})

test('Supervisor: bad input is refused with coded errors naming the field', async () => {
  const cycle = { register: async () => 1, run: async () => 0 }
  const refuse = (f, code, Ctor, field) =>
    assert.throws(f, (e) => {
      assert.equal(e.code, code, e.message)
      assert.ok(e instanceof Ctor, `${e.constructor.name}: ${e.message}`)
      assert.ok(e.message.includes(field), `"${e.message}" does not name ${field}`)
      assert.ok(!/s3cr3t/i.test(e.message), e.message)
      return true
    })
  refuse(() => new keel.Supervisor(), 'KEEL_INVALID_ARGUMENT', TypeError, 'options')
  refuse(() => new keel.Supervisor([]), 'KEEL_INVALID_ARGUMENT', TypeError, 'options')
  refuse(() => new keel.Supervisor({ run: cycle.run }), 'KEEL_INVALID_ARGUMENT', TypeError, 'options.register')
  refuse(() => new keel.Supervisor({ register: 's3cr3t', run: cycle.run }), 'KEEL_INVALID_ARGUMENT', TypeError, 'options.register must be a function (got string)')
  refuse(() => new keel.Supervisor({ register: cycle.register }), 'KEEL_INVALID_ARGUMENT', TypeError, 'options.run')
  refuse(() => new keel.Supervisor({ ...cycle, cleanup: 5 }), 'KEEL_INVALID_ARGUMENT', TypeError, 'options.cleanup')
  refuse(() => new keel.Supervisor({ ...cycle, onStatus: {} }), 'KEEL_INVALID_ARGUMENT', TypeError, 'options.onStatus')
  refuse(() => new keel.Supervisor({ ...cycle, backoffBaseMs: 's3cr3t' }), 'KEEL_INVALID_ARGUMENT', TypeError, 'backoffBaseMs')
  refuse(() => new keel.Supervisor({ ...cycle, backoffBaseMs: -1 }), 'KEEL_INVALID_OPTION', RangeError, 'backoffBaseMs')
  refuse(() => new keel.Supervisor({ ...cycle, backoffBaseMs: 0 }), 'KEEL_INVALID_OPTION', RangeError, 'backoffBaseMs')
  refuse(() => new keel.Supervisor({ ...cycle, jitter: 2 }), 'KEEL_INVALID_OPTION', RangeError, 'jitter')
  refuse(() => new keel.Supervisor({ ...cycle, pool: 0 }), 'KEEL_INVALID_OPTION', RangeError, 'pool')
  refuse(() => new keel.Supervisor({ ...cycle, burst: { failures: 1 } }), 'KEEL_INVALID_ARGUMENT', TypeError, 'burst.windowMs')
  refuse(() => new keel.Supervisor({ ...cycle, runFailure: 'sometimes' }), 'KEEL_INVALID_ARGUMENT', TypeError, 'runFailure')
  refuse(() => new keel.Supervisor({ ...cycle, 's3cr3t-key': 1 }), 'KEEL_INVALID_ARGUMENT', TypeError, 'unknown field')
  refuse(() => new keel.Supervisor({ ...cycle, backoffMaxMs: () => 1 }), 'KEEL_INVALID_ARGUMENT', TypeError, 'options.backoffMaxMs')

  // start() once
  const sup = new keel.Supervisor({ ...cycle, ...fast })
  sup.start()
  await assert.rejects(sup.start(), (e) => e.code === 'KEEL_SUPERVISOR_ALREADY_RUNNING')
  await sup.stop()
  await assert.rejects(sup.start(), (e) => e.code === 'KEEL_SUPERVISOR_ALREADY_RUNNING')
  // stop() before start(): nothing ran
  const idle = new keel.Supervisor(cycle)
  assert.equal(idle.status().status.state, 'online')
  assert.equal(idle.done, undefined)
  assert.deepEqual(await idle.stop(), { exitCode: 0, reason: 'requested', signal: null, cycles: 0, forced: false })
})

test('Supervisor: pool slots get their own working directories', async () => {
  const base = tmp()
  const seen = new Set()
  const sup = new keel.Supervisor({
    ...fast,
    pool: 3,
    workDir: base,
    register: async (ctx) => {
      seen.add(`${ctx.slot}:${ctx.workDir}`)
      if (ctx.slot === 1) throw new Error('slot 1 is broken')
      return ctx.slot
    },
    run: async (slot, _signal, ctx) => {
      assert.equal(slot, ctx.slot)
      assert.ok(fs.statSync(ctx.workDir).isDirectory())
      return 0
    },
  })
  sup.start()
  await until(() => sup.status().slots.every((s) => s.cycles >= 2), 20_000, 'two cycles per slot')
  await sup.stop()
  const snap = sup.status()
  assert.equal(snap.slots.length, 3)
  assert.ok(snap.slots[0].registrations >= 1 && snap.slots[2].registrations >= 1)
  assert.equal(snap.slots[1].registrations, 0)
  for (const i of [0, 1, 2]) assert.ok(seen.has(`${i}:${path.join(base, `slot-${i}`)}`), [...seen].join(' '))
})

// ---- the process exits promptly after stop() ----------------------------------------

/** Run `code` (an ES module) in a child node; resolves with { code, signal, stdout, stderr, ms }. */
function childNode(code, { timeoutMs = 30_000, onLine } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.stdout.on('data', (d) => {
      const before = stdout.length
      stdout += d
      if (onLine) for (const line of stdout.slice(before).split('\n')) if (line) onLine(line, child)
    })
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 })
    })
  })
}

const keelPath = JSON.stringify(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../node/keel.js'))

test('Supervisor: the Node process exits by itself promptly after stop() (no handle, no thread left)', async () => {
  const r = await childNode(`
    import { createRequire } from 'node:module'
    import fs from 'node:fs'
    const keel = createRequire(import.meta.url)(${keelPath})
    const threads = () => fs.readdirSync('/proc/self/task').map((t) => { try { return fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() } catch { return '' } })
    let running = false
    const sup = new keel.Supervisor({
      backoffBaseMs: 50, minCycleMs: 20,
      register: async () => 'r',
      run: (reg, signal) => new Promise((resolve) => { running = true; signal.addEventListener('abort', () => resolve(0)) }),
    })
    sup.start()
    while (!running) await new Promise((r) => setTimeout(r, 10))
    console.log('during:' + threads().filter((t) => t === 'keel-supervisor').length)
    const t0 = Date.now()
    const report = await sup.stop()
    console.log('stopped:' + JSON.stringify(report) + ':' + (Date.now() - t0))
    const deadline = Date.now() + 5000
    while (threads().includes('keel-supervisor') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    console.log('after:' + threads().filter((t) => t === 'keel-supervisor').length)
    globalThis.stoppedAt = Date.now()
  `)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /during:1/)
  assert.match(r.stdout, /stopped:\{"exitCode":0,"reason":"requested"/)
  assert.match(r.stdout, /after:0/)
  // the child ended on its own (no process.exit, no kill), well inside the 30 s timeout
  assert.equal(r.signal, null)
  assert.ok(r.ms < 20_000, `${r.ms} ms`)
})

test('Supervisor: a running supervisor keeps Node alive; SIGTERM (installSignalHandlers) drains it and exits 0', async () => {
  let sentAt = 0
  const r = await childNode(
    `
    import { createRequire } from 'node:module'
    const keel = createRequire(import.meta.url)(${keelPath})
    const sup = new keel.Supervisor({
      installSignalHandlers: true, minCycleMs: 20,
      register: async () => 'r',
      run: (reg, signal) => new Promise((resolve) => { signal.addEventListener('abort', () => resolve(0)) }),
      onStatus: (e) => { if (e.state === 'running') console.log('running') },
    })
    sup.start().then((report) => {
      console.log('drained:' + JSON.stringify(report))
      console.log('listeners:' + process.listenerCount('SIGTERM') + ',' + process.listenerCount('SIGINT'))
    })
  `,
    {
      onLine: (line, child) => {
        if (line === 'running' && !sentAt) {
          // still alive well after the cycle started: the supervisor holds the loop
          setTimeout(() => {
            sentAt = Date.now()
            child.kill('SIGTERM')
          }, 1500)
        }
      },
    },
  )
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`)
  assert.equal(r.code, 0, r.stderr)
  assert.ok(sentAt > 0)
  assert.match(r.stdout, /drained:\{"exitCode":0,"reason":"signal","signal":15,/)
  assert.match(r.stdout, /listeners:0,0/)
})

test('Supervisor: terminating the worker thread that runs one stops its keel thread', async () => {
  const worker = path.join(tmp(), 'worker.cjs')
  fs.writeFileSync(
    worker,
    `const { parentPort } = require('node:worker_threads')
const keel = require(${keelPath})
const sup = new keel.Supervisor({
  stopGraceMs: 100, minCycleMs: 20,
  register: async () => 'r',
  // never settles: the drain has to give up on it
  run: () => new Promise(() => { parentPort.postMessage('running') }),
})
sup.start()
`,
  )
  const r = await childNode(`
    import { Worker } from 'node:worker_threads'
    import fs from 'node:fs'
    const threads = () => fs.readdirSync('/proc/self/task').map((t) => { try { return fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() } catch { return '' } }).filter((t) => t === 'keel-supervisor').length
    const w = new Worker(${JSON.stringify(worker)})
    await new Promise((r) => w.once('message', r))
    console.log('during:' + threads())
    await w.terminate()
    const deadline = Date.now() + 10000
    while (threads() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    console.log('after:' + threads())
  `)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /during:1/)
  assert.match(r.stdout, /after:0/)
})

// ---- startActionsRunner over a fake config.sh / run.sh ------------------------------

const FAKE_CONFIG = `#!/bin/sh
dir=$(cd "$(dirname "$0")" && pwd)
tok=""; prev=""
for a in "$@"; do [ "$prev" = "--token" ] && tok=$a; prev=$a; done
echo "$*" >> "$dir/config.log"
if [ -f "$dir/ghost" ]; then
  rm -f "$dir/ghost"
  echo "Cannot configure the runner because it is already configured."
  exit 1
fi
if [ -f "$dir/fail-config" ]; then
  echo "Http response code: Unauthorized for token $tok" >&2
  exit 1
fi
if [ -f "$dir/.runner" ]; then
  echo "Cannot configure the runner because it is already configured."
  exit 1
fi
printf '{"agentName":"x"}' > "$dir/.runner"
echo '{}' > "$dir/.credentials"
echo "Settings Saved."
exit 0
`

const FAKE_RUN = `#!/bin/sh
dir=$(cd "$(dirname "$0")" && pwd)
echo "job EXTRA=$KEEL_EXTRA" >> "$dir/run.log"
if [ -f "$dir/hang" ]; then
  echo started > "$dir/run-started"
  sleep 300 &
  sleep 300
fi
rm -f "$dir/.runner" "$dir/.credentials"
exit 0
`

function runnerDir() {
  const d = tmp()
  fs.writeFileSync(path.join(d, 'config.sh'), FAKE_CONFIG, { mode: 0o755 })
  fs.writeFileSync(path.join(d, 'run.sh'), FAKE_RUN, { mode: 0o755 })
  return d
}

const readLines = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : [])

test('startActionsRunner: replenishes with a fresh token every cycle, stale files removed', async () => {
  const dir = runnerDir()
  // left behind by an unclean stop: removed before the first config.sh
  fs.writeFileSync(path.join(dir, '.runner'), '{}')
  fs.writeFileSync(path.join(dir, '.credentials_rsaparams'), '{}')
  let tokens = 0
  const events = []
  const sup = startActionsRunner({
    runnerDir: dir,
    url: 'https://github.com/acme/app',
    namePrefix: 'nodetest',
    labels: ['self-hosted', 'keel'],
    extraEnv: { KEEL_EXTRA: 'yes' },
    runLog: path.join(dir, 'run.out'),
    fetchRunnerToken: async () => (++tokens % 2 ? `tok-${tokens}` : { token: `tok-${tokens}` }),
    onStatus: (e) => events.push(e),
    supervisor: { minCycleMs: 20 },
  })
  assert.ok(sup instanceof keel.Supervisor)
  await until(() => readLines(path.join(dir, 'run.log')).length >= 5, 30_000, 'five runs')
  const report = await sup.stop()
  assert.equal(report.exitCode, 0)
  const config = readLines(path.join(dir, 'config.log'))
  assert.ok(config.length >= 5)
  const used = config.map((l) => l.match(/--token (\S+)/)[1])
  assert.equal(new Set(used).size, used.length, `a token was reused: ${used}`)
  for (const l of config) {
    assert.match(l, /^--unattended --ephemeral --url https:\/\/github.com\/acme\/app --token tok-\d+ --name nodetest-[0-9a-f]{8} --labels self-hosted,keel --replace$/)
  }
  assert.ok(readLines(path.join(dir, 'run.log')).every((l) => l === 'job EXTRA=yes'))
  assert.ok(!fs.existsSync(path.join(dir, '.credentials_rsaparams')))
  const snap = sup.status()
  assert.equal(snap.slots[0].registrationFailures, 0)
  // run.sh exit 0 cannot tell a finished job from a fatal stop (the last run may have
  // been cut short by stop(): then it is not an exit 0)
  const last = snap.slots[0].lastRun
  assert.equal(last.ambiguous, last.exitCode === 0, JSON.stringify(last))
  assert.equal(last.failed, false)
  assert.equal(events.at(-1).state, 'offline')
})

test('startActionsRunner: token and config.sh failures back off, and the token never shows', async () => {
  const dir = runnerDir()
  fs.writeFileSync(path.join(dir, 'fail-config'), '')
  const events = []
  let calls = 0
  const sup = startActionsRunner({
    runnerDir: dir,
    url: 'https://github.com/acme/app',
    runLog: path.join(dir, 'run.out'),
    fetchRunnerToken: async () => {
      calls++
      if (calls === 1) throw new Error('platform unreachable')
      if (calls === 2) return 42
      return `ghs_${'Z'.repeat(30)}${calls}`
    },
    onStatus: (e) => events.push(e),
    supervisor: { backoffBaseMs: 30, backoffMaxMs: 60, jitter: 0, minCycleMs: 20 },
  })
  await until(() => events.filter((e) => e.state === 'backing-off').length >= 3, 30_000, 'three backoffs')
  await sup.stop()
  const reasons = events.filter((e) => e.reason).map((e) => e.reason)
  assert.match(reasons[0], /registration token provider failed: Error: platform unreachable/)
  assert.match(reasons[1], /fetchRunnerToken\(\) must resolve to a string or \{ token \} \(got number\)/)
  assert.match(reasons[2], /runner registration failed: config.sh exited with code 1/)
  const text = JSON.stringify(events) + JSON.stringify(sup.status())
  assert.ok(!/ghs_Z{30}/.test(text), text)
  // two config.sh runs per failed cycle: the try and the fresh-token retry
  assert.ok(readLines(path.join(dir, 'config.log')).length >= 2)
})

test('startActionsRunner: "already configured" is healed within the cycle', async () => {
  const dir = runnerDir()
  fs.writeFileSync(path.join(dir, 'ghost'), '')
  const events = []
  const sup = startActionsRunner({
    runnerDir: dir,
    url: 'https://github.com/acme/app',
    runLog: path.join(dir, 'run.out'),
    fetchRunnerToken: async () => 'tok',
    onStatus: (e) => events.push(e),
    supervisor: { minCycleMs: 20 },
  })
  await until(() => readLines(path.join(dir, 'run.log')).length >= 1, 20_000, 'a run')
  await sup.stop()
  assert.equal(events.filter((e) => e.state === 'backing-off').length, 0)
  assert.equal(sup.status().slots[0].registrationFailures, 0)
})

test('startActionsRunner: shutdown during run.sh stops its whole tree (no process left)', async () => {
  const dir = runnerDir()
  fs.writeFileSync(path.join(dir, 'hang'), '')
  const mark = `KEEL_SV_NODE_RUNNER=${process.pid}-${Date.now()}`
  const [key, value] = mark.split('=')
  const sup = startActionsRunner({
    runnerDir: dir,
    url: 'https://github.com/acme/app',
    runLog: path.join(dir, 'run.out'),
    extraEnv: { [key]: value },
    fetchRunnerToken: async () => 'tok',
    supervisor: { stopGraceMs: 500, minCycleMs: 20 },
  })
  await until(() => fs.existsSync(path.join(dir, 'run-started')) && pidsWithEnv(mark).length >= 3, 20_000, 'run.sh and its children')
  const t0 = Date.now()
  const report = await sup.stop()
  const took = Date.now() - t0
  assert.ok(took < 500 + 5_000, `drain took ${took} ms`)
  assert.equal(report.forced, false)
  await until(() => pidsWithEnv(mark).length === 0, 5_000, 'no process of the runner tree')
  assert.equal(sup.status().slots[0].lastRun.failed, false)
})

test('startActionsRunner: bad input is refused with coded errors naming the field', () => {
  const ok = { runnerDir: '/tmp', url: 'https://github.com/acme/app', fetchRunnerToken: async () => 't' }
  const refuse = (o, code, field) =>
    assert.throws(() => startActionsRunner(o), (e) => {
      assert.equal(e.code, code, e.message)
      assert.ok(e.message.includes(field), `"${e.message}" does not name ${field}`)
      assert.ok(!/s3cr3t/i.test(e.message), e.message)
      return true
    })
  refuse(undefined, 'KEEL_INVALID_ARGUMENT', 'options')
  refuse({ ...ok, fetchRunnerToken: undefined }, 'KEEL_INVALID_ARGUMENT', 'options.fetchRunnerToken')
  refuse({ ...ok, onStatus: 'x' }, 'KEEL_INVALID_ARGUMENT', 'options.onStatus')
  refuse({ ...ok, url: undefined }, 'KEEL_INVALID_ARGUMENT', 'url')
  refuse({ ...ok, url: 'ftp://s3cr3t@example.com' }, 'KEEL_INVALID_OPTION', 'url')
  refuse({ ...ok, labels: ['a,b'] }, 'KEEL_INVALID_OPTION', 'labels')
  refuse({ ...ok, namePrefix: 'has space' }, 'KEEL_INVALID_OPTION', 'namePrefix')
  refuse({ ...ok, extraEnv: { A: 1 } }, 'KEEL_INVALID_ARGUMENT', 'extraEnv')
  refuse({ ...ok, supervisor: { pool: 0 } }, 'KEEL_INVALID_OPTION', 'supervisor.pool')
  refuse({ ...ok, supervisor: { bogus: 1 } }, 'KEEL_INVALID_ARGUMENT', 'supervisor')
  refuse({ ...ok, supervisor: 5 }, 'KEEL_INVALID_ARGUMENT', 'options.supervisor')
  refuse({ ...ok, 's3cr3t-key': 1 }, 'KEEL_INVALID_ARGUMENT', 'unknown field')
})

const { startActionsRunner } = keel
