// The standalone tool-silence watchdog (issue 8 item 5): keel's ToolSilenceWatchdog
// against the reference's (`tool-silence.ts` of @cat-factory/executor-harness), scenario
// by scenario on real timers, plus keel's argument checks. The decisions are keel-core's
// (`keel_core::jobs::ToolSilence`, shared with the job registry's watchdog); the timer
// and the host's callbacks stay in JavaScript, on Date.now().
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import path from 'node:path'
import { describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'

import { nodeDir } from './reference.mjs'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')

const harnessDist = path.dirname(
  createRequire(path.join(nodeDir, 'package.json')).resolve('@cat-factory/executor-harness'),
)
const ref = await import(pathToFileURL(path.join(harnessDist, 'tool-silence.js')).href)

const tick = (ms) => new Promise((r) => setTimeout(r, ms))

function build(Impl, windowMs) {
  let last
  const expirations = []
  const watchdog = new Impl({
    windowMs,
    lastActivityAt: () => last,
    onExpired: () => expirations.push(Date.now()),
  })
  return {
    watchdog,
    expirations,
    speak: () => {
      last = Date.now()
    },
  }
}

// Each scenario returns how many times onExpired fired; both implementations must agree
// on whether it fired (counts may differ by timer jitter on a loaded machine).
const scenarios = {
  'talking without tool calls fires': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 40)
    const w = watchdog.open()
    const chatter = setInterval(speak, 5)
    await tick(150)
    clearInterval(chatter)
    w.close()
    return expirations.length
  },
  'completed tool calls keep it quiet': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 80)
    const w = watchdog.open()
    const work = setInterval(() => {
      speak()
      w.toolCompleted()
    }, 10)
    await tick(250)
    clearInterval(work)
    w.close()
    return expirations.length
  },
  'a window that elapsed in silence is deferred': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 30)
    speak()
    await tick(2)
    const w = watchdog.open()
    await tick(120)
    w.close()
    return expirations.length
  },
  'quiet then talking again is caught one window later': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 30)
    const w = watchdog.open()
    await tick(80)
    const before = expirations.length
    const chatter = setInterval(speak, 5)
    await tick(150)
    clearInterval(chatter)
    w.close()
    assert.equal(before, 0, 'fired during silence')
    return expirations.length
  },
  'closing the window stops it': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 30)
    watchdog.open().close()
    const chatter = setInterval(speak, 5)
    await tick(120)
    clearInterval(chatter)
    return expirations.length
  },
  'a superseded handle cannot disarm the live window': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 40)
    const stale = watchdog.open()
    const live = watchdog.open()
    stale.close()
    stale.toolCompleted()
    const chatter = setInterval(speak, 5)
    await tick(150)
    clearInterval(chatter)
    live.close()
    return expirations.length
  },
  'a late toolCompleted after close does not re-arm': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 30)
    const w = watchdog.open()
    w.close()
    w.toolCompleted()
    const chatter = setInterval(speak, 5)
    await tick(120)
    clearInterval(chatter)
    return expirations.length
  },
  'stop disarms the open window': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 30)
    watchdog.open()
    watchdog.stop()
    watchdog.stop()
    const chatter = setInterval(speak, 5)
    await tick(120)
    clearInterval(chatter)
    return expirations.length
  },
  'disabled hands out inert windows': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, 0)
    const w = watchdog.open()
    w.toolCompleted()
    const chatter = setInterval(speak, 5)
    await tick(100)
    clearInterval(chatter)
    w.close()
    return expirations.length
  },
  'a negative window is disabled too': async (Impl) => {
    const { watchdog, expirations, speak } = build(Impl, -5)
    watchdog.open()
    const chatter = setInterval(speak, 5)
    await tick(60)
    clearInterval(chatter)
    return expirations.length
  },
}

const expectFires = new Set([
  'talking without tool calls fires',
  'quiet then talking again is caught one window later',
  'a superseded handle cannot disarm the live window',
])

describe('ToolSilenceWatchdog: keel against the reference', () => {
  for (const [name, run] of Object.entries(scenarios)) {
    test(name, async () => {
      const [k, r] = await Promise.all([run(keel.ToolSilenceWatchdog), run(ref.ToolSilenceWatchdog)])
      assert.equal(r > 0, expectFires.has(name), `reference fired ${r} times`)
      assert.equal(k > 0, r > 0, `keel fired ${k} times, the reference ${r}`)
    })
  }

  test('fires once per window, like the reference, until a tool call re-arms it', async () => {
    const { watchdog, expirations, speak } = build(keel.ToolSilenceWatchdog, 30)
    const w = watchdog.open()
    const chatter = setInterval(speak, 5)
    await tick(150)
    assert.equal(expirations.length, 1)
    w.toolCompleted()
    await tick(150)
    clearInterval(chatter)
    w.close()
    assert.equal(expirations.length, 2)
  })

  test('disabled windows are the shared NO_TOOL_WINDOW', () => {
    const { watchdog } = build(keel.ToolSilenceWatchdog, 0)
    assert.equal(watchdog.open(), keel.NO_TOOL_WINDOW)
  })
})

describe('ToolSilenceWatchdog: bad input names what was wrong', () => {
  const ok = { windowMs: 10, lastActivityAt: () => undefined, onExpired: () => {} }
  const cases = [
    [undefined, /deps must be an object \(got undefined\)/],
    [{ ...ok, windowMs: '10' }, /deps\.windowMs must be a number \(got string\)/],
    [{ ...ok, lastActivityAt: 5 }, /deps\.lastActivityAt must be a function \(got number\)/],
    [{ ...ok, onExpired: null }, /deps\.onExpired must be a function \(got null\)/],
  ]
  for (const [deps, re] of cases) {
    test(String(re), () => {
      assert.throws(() => new keel.ToolSilenceWatchdog(deps), (e) => {
        assert.ok(e instanceof TypeError)
        assert.equal(e.code, 'KEEL_INVALID_ARGUMENT')
        assert.match(e.message, re)
        return true
      })
    })
  }
  test('a NaN window is a RangeError naming windowMs', () => {
    assert.throws(() => new keel.ToolSilenceWatchdog({ ...ok, windowMs: NaN }), (e) => {
      assert.ok(e instanceof RangeError)
      assert.equal(e.code, 'KEEL_INVALID_OPTION')
      assert.match(e.message, /windowMs must be a finite number/)
      return true
    })
  })
  test('a lastActivityAt() that returns a non-number warns and counts as no output', async () => {
    const warnings = []
    const onWarning = (w) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const expirations = []
      const watchdog = new keel.ToolSilenceWatchdog({
        windowMs: 20,
        lastActivityAt: () => 'yesterday',
        onExpired: () => expirations.push(1),
      })
      const w = watchdog.open()
      await tick(80)
      w.close()
      assert.equal(expirations.length, 0)
      assert.ok(warnings.some((x) => x.code === 'KEEL_INVALID_ARGUMENT' && /lastActivityAt\(\) must return a finite number/.test(x.message)))
      assert.ok(warnings.every((x) => !/yesterday/.test(x.message)), 'the value itself is never quoted')
    } finally {
      process.off('warning', onWarning)
    }
  })
})
