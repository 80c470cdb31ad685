// Reference parity of keel's job watchdogs on the Node surface (issue 8 item 5, issue 7
// item 8): loadRunnerLimits, killChildProcess / spawnDetached, the cold-start diagnostic,
// tool-silence windows, a state that is final before the work's promise is observable,
// and hardening (a throwing describe() leaves nothing behind; list lengths are checked
// before anything is allocated). Where keel deliberately differs from the reference, the
// test asserts keel's behaviour and says why.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'

import { nodeDir } from './reference.mjs'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')
const { JobRegistry, loadRunnerLimits, killChildProcess, spawnDetached, runCommand } = keel

const harnessDist = path.dirname(
  createRequire(path.join(nodeDir, 'package.json')).resolve('@cat-factory/executor-harness'),
)
const refRunner = await import(pathToFileURL(path.join(harnessDist, 'runner.js')).href)
const refProcess = await import(pathToFileURL(path.join(harnessDist, 'process.js')).href)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const tick = (ms = 0) => sleep(ms)

async function idle(reg, timeoutMs = 10_000) {
  const t = Date.now()
  while (reg.runningCount() > 0) {
    if (Date.now() - t > timeoutMs) throw new Error('jobs did not settle')
    await sleep(5)
  }
}

const hang = (signal) =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))

describe('loadRunnerLimits: the reference env names and defaults (policy in keel-core)', () => {
  const cases = [
    {},
    { JOB_MAX_DURATION_MS: '1000', JOB_INACTIVITY_MS: 'nope' },
    { JOB_COLD_START_MS: '0' },
    { JOB_TOOL_SILENCE_MS: '0' },
    { JOB_MAX_DURATION_MS: String(20 * 60_000) },
    { JOB_MAX_DURATION_MS: '60000', JOB_INACTIVITY_MS: '50000' },
    { JOB_MAX_DURATION_MS: '-5', JOB_INACTIVITY_MS: '0', JOB_COLD_START_MS: ' 300 ', JOB_TOOL_SILENCE_MS: '1e3' },
    { JOB_MAX_DURATION_MS: '', JOB_COLD_START_MS: '' },
    { JOB_MAX_DURATION_MS: '1000001' },
  ]
  for (const env of cases) {
    test(`same limits as the reference for ${JSON.stringify(env)}`, () => {
      assert.deepEqual(loadRunnerLimits(env), refRunner.loadRunnerLimits(env))
    })
  }

  test('defaults: tool silence on, derived from the cap; cold start 2 min', () => {
    assert.deepEqual(loadRunnerLimits({}), {
      maxDurationMs: 3_600_000,
      inactivityMs: 600_000,
      coldStartMs: 120_000,
      toolSilenceMs: 1_800_000,
    })
  })

  test('reads process.env by default, and its result is accepted by JobRegistry', () => {
    assert.deepEqual(loadRunnerLimits(), refRunner.loadRunnerLimits())
    const reg = new JobRegistry(loadRunnerLimits(), async () => ({}))
    reg.start('a', {})
  })

  test('deliberate difference: a fraction is rounded up to whole milliseconds', () => {
    // The reference keeps 1.5 (setTimeout truncates it); keel's windows are integers.
    assert.equal(loadRunnerLimits({ JOB_INACTIVITY_MS: '1.5' }).inactivityMs, 2)
    assert.equal(refRunner.loadRunnerLimits({ JOB_INACTIVITY_MS: '1.5' }).inactivityMs, 1.5)
  })

  test('a non-object env is a coded error', () => {
    assert.throws(() => loadRunnerLimits(42), (e) => e.code === 'KEEL_INVALID_ARGUMENT')
  })
})

describe('the state is final before the work settles observably', () => {
  test('get() right after the work resolves says done (no tick needed)', async () => {
    let resolveWork
    const reg = new JobRegistry({}, () => new Promise((r) => (resolveWork = r)))
    reg.start('j', {})
    const p = new Promise((r) => setTimeout(r, 5)).then(() => resolveWork({ n: 1 }))
    await p
    // One microtask for the registry's reaction to the work's promise, none for keel's
    // thread: the view is final as soon as the work's own promise has settled.
    await Promise.resolve()
    const view = reg.get('j')
    assert.equal(view.state, 'done')
    assert.deepEqual(view.result, { n: 1 })
    assert.equal(reg.runningCount(), 0)
  })

  test('a rejected work is failed one setTimeout(0) later, as in the reference', async () => {
    const reg = new JobRegistry({}, async () => {
      throw new Error('boom')
    })
    reg.start('j', {})
    await tick()
    assert.equal(reg.get('j').state, 'failed')
    assert.equal(reg.get('j').error, 'boom')
  })

  test('abort() resolves failed with runningCount already 0', async () => {
    const reg = new JobRegistry(loadRunnerLimits(), (_j, { signal }) => hang(signal))
    reg.start('one', {})
    assert.equal(await reg.abort('one', 'stopped by the backend'), 'failed')
    assert.equal(reg.runningCount(), 0)
    assert.equal(await reg.abort('never-existed', 'x'), undefined)
  })

  test('abortAll: the views are failed one tick later', async () => {
    const reg = new JobRegistry({}, (_j, { signal }) => hang(signal))
    reg.start('a', {})
    reg.start('b', {})
    assert.equal(reg.abortAll('harness shutting down (SIGTERM)'), 2)
    await tick()
    assert.equal(reg.get('a').state, 'failed')
    assert.match(reg.get('a').error, /shutting down/)
    assert.equal(reg.runningCount(), 0)
  })
})

describe('hardening: a throwing describe() or run() leaves nothing behind', () => {
  test('describe() throws: start throws, no job exists, a retry runs the work', async () => {
    let runs = 0
    let fail = true
    const reg = new JobRegistry(
      {},
      async () => {
        runs++
        return { ok: true }
      },
      () => {
        if (fail) throw new Error('describe failed')
        return { repo: 'r' }
      },
    )
    assert.throws(() => reg.start('j', {}), /describe failed/)
    assert.equal(reg.get('j'), undefined)
    assert.equal(reg.runningCount(), 0)
    fail = false
    assert.equal(reg.start('j', {}).state, 'running')
    await idle(reg)
    assert.equal(runs, 1)
    assert.equal(reg.get('j').state, 'done')
  })

  test('run() throws synchronously: a failed job (as the reference), nothing running', async () => {
    const reg = new JobRegistry({}, () => {
      throw new Error('sync boom')
    })
    reg.start('j', {})
    await tick()
    assert.equal(reg.get('j').state, 'failed')
    assert.equal(reg.get('j').error, 'sync boom')
    assert.equal(reg.runningCount(), 0)
  })

  test('a result that is not JSON fails the job with a clear message', async () => {
    const reg = new JobRegistry({}, async () => ({ n: 1n }))
    reg.start('j', {})
    await tick()
    assert.equal(reg.get('j').state, 'failed')
    assert.match(reg.get('j').error, /not JSON-serializable/)
  })

  test('list options: the length is checked before anything is allocated', () => {
    const huge = new Array(2 ** 32 - 1)
    // core's CommandOptions limit (2^24 entries, a range error on every surface), named by field
    const tooMany = (field) => (e) => e.code === 'KEEL_INVALID_OPTION' && e.name === 'RangeError' && e.message.includes(`spec.${field} has 4294967295 elements`)
    assert.throws(() => runCommand({ cmd: 'true', args: huge }), tooMany('args'))
    assert.throws(() => runCommand({ cmd: 'true', knownSecrets: huge }), tooMany('knownSecrets'))
  })

  test('bad arguments are coded errors', () => {
    assert.throws(() => new JobRegistry({}, async () => {}, 'nope'), (e) => e.code === 'KEEL_INVALID_ARGUMENT')
    assert.throws(() => new JobRegistry({ coldStartMs: -1 }, async () => {}), (e) => e.code === 'KEEL_INVALID_OPTION')
    assert.throws(() => runCommand({ cmd: 'true', onStdout: 5 }), (e) => e.code === 'KEEL_INVALID_ARGUMENT')
  })
})

describe('opts behaves like the reference plain object', () => {
  test('spread, destructure, assign: every callback still reaches keel', async () => {
    let seen
    const reg = new JobRegistry({}, async (_job, opts) => {
      const copy = { ...opts }
      const { onPhase, currentPhase } = opts
      seen = Object.keys(copy).sort()
      onPhase('agent')
      copy.onProgress({ completed: 1, total: 2 })
      assert.equal(currentPhase(), 'agent')
      assert.equal(copy.signal, opts.signal)
      assert.equal(opts.onActivity, opts.onActivity) // one function per job, kept
      opts.onActivity = () => 'mine'
      assert.equal(opts.onActivity(), 'mine')
      return { ok: true }
    })
    reg.start('j', {})
    await idle(reg)
    const v = reg.get('j')
    assert.equal(v.state, 'done')
    assert.deepEqual(v.progress, { completed: 1, total: 2 })
    for (const k of ['signal', 'onActivity', 'onPhase', 'onProgress', 'onSpan', 'onFollowUp', 'onCallMetric', 'currentPhase', 'beginToolWindow', 'log']) {
      assert.ok(seen.includes(k), k)
    }
  })

  test('a signal first read after the abort is already aborted with the reason', async () => {
    let opts
    const reg = new JobRegistry({ cancelGraceMs: 100 }, (_job, o) => {
      opts = o
      return new Promise(() => {})
    })
    reg.start('j', {})
    reg.abortAll('shutting down')
    assert.equal(opts.signal.aborted, true)
    assert.equal(opts.signal.reason.message, 'shutting down')
  })
})

describe('cold start: a diagnostic in the view and in the failure detail, never a kill', () => {
  test('no output within the window: coldStart is recorded, the job keeps running', async () => {
    const reg = new JobRegistry({ coldStartMs: 30 }, (_j, opts) => {
      opts.onPhase('agent')
      return hang(opts.signal)
    })
    reg.start('j', {})
    await sleep(150)
    const view = reg.get('j')
    assert.equal(view.state, 'running')
    assert.match(view.coldStart.message, /no output/)
    assert.match(view.coldStart.message, /phase: agent/)
    assert.equal(typeof view.coldStart.atMs, 'number')
    await reg.abort('j', 'done testing')
    assert.match(reg.get('j').detail, /Cold start: agent produced no output/)
  })

  test('prompt output: no coldStart', async () => {
    const reg = new JobRegistry({ coldStartMs: 40 }, async (_j, opts) => {
      opts.onActivity()
      await sleep(100)
      return {}
    })
    reg.start('j', {})
    await idle(reg)
    assert.equal(reg.get('j').coldStart, undefined)
  })

  test('a thrown failure after a cold start carries it in detail (as the reference)', async () => {
    let fail
    const reg = new JobRegistry({ coldStartMs: 20 }, () => new Promise((_, rej) => (fail = rej)))
    reg.start('j', {})
    await sleep(120)
    fail(new Error('claude exited with code 1'))
    await tick()
    const view = reg.get('j')
    assert.equal(view.error, 'claude exited with code 1')
    assert.match(view.detail, /Cold start: agent produced no output .* after start; possible onboarding\/auth wedge \(phase: starting\)\./)
  })
})

describe('tool-silence windows (beginToolWindow)', () => {
  const chatty = (opts, ms, resolveWith) => {
    const beat = setInterval(() => opts.onActivity(), 5)
    return new Promise((resolve, reject) => {
      const done = setTimeout(() => {
        clearInterval(beat)
        resolve(resolveWith)
      }, ms)
      opts.signal.addEventListener('abort', () => {
        clearInterval(beat)
        clearTimeout(done)
        reject(opts.signal.reason)
      })
    })
  }

  test('an open window with output but no completed tool call fails no-tool-progress', async () => {
    const reg = new JobRegistry({ toolSilenceMs: 40 }, (_j, opts) => {
      opts.onPhase('agent')
      opts.beginToolWindow()
      return chatty(opts, 5000, {})
    })
    reg.start('j', {})
    await idle(reg)
    const v = reg.get('j')
    assert.equal(v.failureCause, 'no-tool-progress')
    assert.match(v.error, /completed no tool call/)
  })

  test('work that never opens a window is never timed by it', async () => {
    const reg = new JobRegistry({ toolSilenceMs: 30 }, (_j, opts) => chatty(opts, 200, { ok: 1 }))
    reg.start('j', {})
    await idle(reg)
    assert.equal(reg.get('j').state, 'done')
  })

  test('toolCompleted() keeps it alive; spans alone do not count (as the reference)', async () => {
    const reg = new JobRegistry({ toolSilenceMs: 60 }, (_j, opts) => {
      const w = opts.beginToolWindow()
      const work = setInterval(() => w.toolCompleted(), 10)
      return chatty(opts, 250, {}).finally(() => clearInterval(work))
    })
    reg.start('beats', {})
    const spans = new JobRegistry({ toolSilenceMs: 40 }, (_j, opts) => {
      opts.beginToolWindow()
      const work = setInterval(() => opts.onSpan({ tool: 'Bash', endedAt: Date.now() }), 10)
      return chatty(opts, 5000, {}).finally(() => clearInterval(work))
    })
    spans.start('spans', {})
    await idle(reg)
    await idle(spans)
    assert.equal(reg.get('beats').state, 'done')
    assert.equal(spans.get('spans').failureCause, 'no-tool-progress')
  })

  test('closing the window ends it; a superseded handle cannot disarm the live one', async () => {
    const closed = new JobRegistry({ toolSilenceMs: 30 }, (_j, opts) => {
      const w = opts.beginToolWindow()
      w.toolCompleted()
      w.close()
      return chatty(opts, 200, {})
    })
    closed.start('j', {})
    const superseded = new JobRegistry({ toolSilenceMs: 40 }, (_j, opts) => {
      const stale = opts.beginToolWindow()
      opts.beginToolWindow()
      stale.close()
      stale.toolCompleted()
      return chatty(opts, 5000, {})
    })
    superseded.start('j', {})
    await idle(closed)
    await idle(superseded)
    assert.equal(closed.get('j').state, 'done')
    assert.equal(superseded.get('j').failureCause, 'no-tool-progress')
  })

  test('a window that elapses in silence is left to the inactivity watchdog', async () => {
    const reg = new JobRegistry({ inactivityMs: 150, toolSilenceMs: 30 }, (_j, opts) => {
      opts.beginToolWindow().toolCompleted()
      return hang(opts.signal)
    })
    reg.start('j', {})
    await idle(reg)
    assert.equal(reg.get('j').failureCause, 'inactivity-timeout')
  })

  test('tool silence off: beginToolWindow() hands out an inert window', () => {
    let w
    const reg = new JobRegistry({ toolSilenceMs: 0 }, (_j, opts) => {
      w = opts.beginToolWindow()
      return {}
    })
    reg.start('j', {})
    assert.equal(w, keel.NO_TOOL_WINDOW)
    w.toolCompleted()
    w.close()
  })
})

describe('killChildProcess and spawnDetached (the reference process.ts API)', () => {
  test('spawnDetached is the reference constant', () => {
    assert.equal(spawnDetached, refProcess.spawnDetached)
  })

  function fakeChild(exitsAfterTerm) {
    return {
      signals: [],
      exitCode: null,
      signalCode: null,
      kill(signal) {
        this.signals.push(String(signal))
        if (signal === 'SIGTERM' && exitsAfterTerm) this.exitCode = 0
        return true
      },
    }
  }

  test('a child without a pid: SIGTERM, then SIGKILL and the warning after the grace', async () => {
    const warned = []
    const logger = { warn: (msg, fields) => warned.push([msg, fields]) }
    const stubborn = fakeChild(false)
    killChildProcess(stubborn, 50, logger)
    assert.deepEqual(stubborn.signals, ['SIGTERM'])
    const polite = fakeChild(true)
    killChildProcess(polite, 50, logger)
    await sleep(150)
    assert.deepEqual(stubborn.signals, ['SIGTERM', 'SIGKILL'])
    assert.deepEqual(polite.signals, ['SIGTERM'])
    assert.equal(warned.length, 1)
    assert.match(warned[0][0], /escalating to SIGKILL/)
    assert.deepEqual(warned[0][1], { graceMs: 50 })
  })

  test('a live detached child that ignores SIGTERM: its group is killed, with the warning', async () => {
    const child = spawn('sh', ['-c', "trap '' TERM; sleep 30 & wait"], { detached: spawnDetached, stdio: 'ignore' })
    await sleep(100)
    const warned = []
    killChildProcess(child, 200, { warn: (msg, fields) => warned.push([msg, fields]) })
    const exited = await new Promise((r) => child.on('exit', (code, signal) => r(signal)))
    assert.equal(exited, 'SIGKILL')
    for (let i = 0; i < 100 && warned.length === 0; i++) await sleep(20)
    assert.equal(warned.length, 1)
    assert.deepEqual(warned[0][1], { graceMs: 200 })
    // The group is gone (its last member reaped): signalling it fails.
    const gone = () => {
      try {
        process.kill(-child.pid, 0)
        return false
      } catch {
        return true
      }
    }
    for (let i = 0; i < 200 && !gone(); i++) await sleep(10)
    assert.ok(gone(), 'the process group outlived killChildProcess')
  })
})
