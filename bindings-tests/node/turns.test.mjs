// Node surface of the turn runner: runTurn(options) → Promise<TurnResult> with onEvent
// and signal (AbortSignal), and turnSession, against the fake agent CLI
// (core/tests/fixtures/turns/fake_agent.py: recorded stream-json / codex json, stalls,
// lingers). The contract of this surface: options through core's TurnOptions (wrong JS
// types get coded TypeErrors naming the field), every event redacted before onEvent,
// abort through the signal kills the whole tree, and a script that awaits a turn exits
// promptly after it (no handle left behind).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')
const { runTurn, turnSession } = keel

const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = path.join(here, '..', '..', 'core', 'tests', 'fixtures', 'turns', 'fake_agent.py')
const SECRET = 'sk-ant-api03-NODETESTSECRETvalue0123456789abcdefABCDEF'

function env() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-node-turns-'))
  const bin = path.join(dir, 'fake-agent')
  const py = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
  fs.writeFileSync(bin, `#!/bin/sh\nexec ${py} ${fixture} "$@"\n`, { mode: 0o755 })
  return { dir, bin, state: path.join(dir, 'state'), record: path.join(dir, 'record.json') }
}

function opts(e, mode, extra = {}) {
  return {
    agentName: 'bob',
    runtime: 'claude',
    stateDir: e.state,
    bin: e.bin,
    input: 'do the work',
    parentAgent: 'lead',
    runId: 'run-1',
    env: { FAKE_MODE: mode, FAKE_SECRET: SECRET, FAKE_RECORD: e.record },
    secrets: [SECRET],
    stallMs: 20_000,
    killGraceMs: 500,
    resultGraceMs: 1_500,
    drainMs: 500,
    ...extra,
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function waitFor(what, f, ms = 10_000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (f()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.fail(`timed out waiting for ${what}`)
}

describe('runTurn', () => {
  test('a Claude turn completes; every event is redacted before onEvent and in the result', async () => {
    const e = env()
    const events = []
    const r = await runTurn({ ...opts(e, 'ok'), onEvent: (ev) => events.push(ev) })
    assert.equal(r.finalState, 'completed')
    assert.equal(r.initialState, 'booting')
    assert.equal(r.cleanResult, true)
    assert.equal(r.exitCode, 0)
    assert.equal(r.newSessionId, 'sess-1')
    assert.equal(r.terminalMailMissing, true) // FAKE_DONE unset: the contract flag
    assert.equal(r.noOp, false)
    assert.equal(r.agentName, 'bob')
    assert.equal(r.runId, 'run-1')
    assert.equal(r.eventCount, events.length)
    const kinds = events.map((ev) => ev.type)
    assert.deepEqual(kinds, ['session_start', 'progress', 'tool_start', 'tool_end', 'result'])
    const tool = events[2]
    assert.equal(tool.toolName, 'Bash')
    assert.match(tool.toolArgs.command, /^curl -H 'Authorization: Bearer /)
    assert.equal(events[3].toolName, 'Bash') // tool_result named after its tool_use
    const all = JSON.stringify(events) + JSON.stringify(r)
    assert.ok(!all.includes(SECRET), 'a secret reached onEvent or the result')
    assert.ok(!all.includes('NODETESTSECRET'))
    // stderr.log is redacted too; the runner published and removed turn.pid.
    const stderr = fs.readFileSync(path.join(r.logDir, 'stderr.log'), 'utf8')
    assert.match(stderr, /fake stderr/)
    assert.ok(!stderr.includes(SECRET))
    assert.ok(!fs.existsSync(path.join(e.state, 'agents', 'bob', 'turn.pid')))
    // The CLI got the stream-json user line on stdin, then EOF.
    const rec = JSON.parse(fs.readFileSync(e.record, 'utf8'))
    assert.deepEqual(rec.argv.slice(0, 6), ['-p', '--output-format', 'stream-json', '--input-format', 'stream-json', '--verbose'])
    assert.equal(JSON.parse(rec.stdin.trim()).message.content[0].text, 'do the work')
    const s = turnSession(e.state, 'bob')
    assert.equal(s.state, 'completed')
    assert.equal(s.sessionId, 'sess-1')
    assert.equal(s.parentAgent, 'lead')
    assert.equal(turnSession(e.state, 'nobody'), null)
  })

  test('resume passes the stored session id; a Codex turn resolves too', async () => {
    const e = env()
    await runTurn(opts(e, 'ok'))
    const r = await runTurn({ ...opts(e, 'ok'), resume: true })
    assert.equal(r.resumeMismatch, false)
    const rec = JSON.parse(fs.readFileSync(e.record, 'utf8'))
    assert.deepEqual(rec.argv.slice(-2), ['--resume', 'sess-1'])
    const m = await runTurn({ ...opts(e, 'mismatch', { env: { FAKE_MODE: 'mismatch', FAKE_SESSION: 'other' } }), resume: true })
    assert.equal(m.resumeMismatch, true)
    assert.equal(m.newSessionId, 'other')
    const c = await runTurn({ ...opts(e, 'ok'), agentName: 'cody', runtime: 'codex' })
    assert.equal(c.finalState, 'completed')
    assert.equal(c.newSessionId, 'sess-1')
  })

  test('abort through the signal kills the whole tree and ends zombie', async () => {
    const e = env()
    const ac = new AbortController()
    const events = []
    const p = runTurn({
      ...opts(e, 'stall'),
      signal: ac.signal,
      onEvent: (ev) => events.push(ev),
    })
    await waitFor('the first event', () => events.length > 0)
    const pid = JSON.parse(fs.readFileSync(e.record, 'utf8')).pid
    assert.ok(alive(pid))
    const t0 = Date.now()
    ac.abort()
    const r = await p
    assert.ok(Date.now() - t0 < 5_000, `abort took ${Date.now() - t0} ms`)
    assert.equal(r.aborted, true)
    assert.equal(r.killReason, 'abort')
    assert.equal(r.finalState, 'zombie')
    assert.equal(r.parentNotified, true)
    assert.equal(r.exitCode, null)
    assert.equal(r.exit.kind, 'killed')
    assert.equal(r.exit.reason, 'aborted')
    await waitFor('the CLI to be gone', () => !alive(pid))
  })

  test('an already-aborted signal (the reference name abortSignal) ends the turn at once', async () => {
    const e = env()
    const t0 = Date.now()
    const r = await runTurn({ ...opts(e, 'stall'), abortSignal: AbortSignal.abort() })
    assert.ok(Date.now() - t0 < 5_000)
    assert.equal(r.aborted, true)
    assert.equal(r.finalState, 'zombie')
  })

  test('the stall watchdog kills a silent CLI', async () => {
    const e = env()
    const r = await runTurn(opts(e, 'stall', { stallMs: 400 }))
    assert.equal(r.stallAborted, true)
    assert.equal(r.killReason, 'stall')
    assert.equal(r.finalState, 'zombie')
  })

  test('a throwing onEvent never breaks the turn', async () => {
    const e = env()
    let calls = 0
    const r = await runTurn({
      ...opts(e, 'ok'),
      onEvent: () => {
        calls++
        throw new Error('listener bug')
      },
    })
    assert.equal(r.finalState, 'completed')
    assert.equal(calls, r.eventCount)
  })

  test('empty input is a no-op that runs nothing', async () => {
    const e = env()
    const r = await runTurn({ ...opts(e, 'ok'), input: '' })
    assert.equal(r.noOp, true)
    assert.ok(!fs.existsSync(e.record))
  })

  test('a busy agent rejects with KEEL_TURN_LOCK_TIMEOUT naming the holder', async () => {
    const e = env()
    const ac = new AbortController()
    const events = []
    const first = runTurn({ ...opts(e, 'stall'), signal: ac.signal, onEvent: (ev) => events.push(ev) })
    await waitFor('the first turn to start', () => events.length > 0)
    await assert.rejects(runTurn({ ...opts(e, 'ok'), lockTimeoutMs: 200 }), (err) => {
      assert.equal(err.code, 'KEEL_TURN_LOCK_TIMEOUT')
      assert.match(err.message, /bob/)
      assert.match(err.message, /held by/)
      return true
    })
    ac.abort()
    assert.equal((await first).aborted, true)
  })

  test('a CLI that cannot be spawned rejects with a coded error', async () => {
    const e = env()
    await assert.rejects(runTurn({ ...opts(e, 'ok'), bin: path.join(e.dir, 'no-such-cli') }), (err) => {
      assert.equal(err.code, 'KEEL_SPAWN_FAILED')
      assert.ok(!err.message.includes(SECRET))
      return true
    })
    // The lock and turn.pid are released on that path too.
    assert.ok(!fs.existsSync(path.join(e.state, 'agents', 'bob', 'turn.pid')))
    const r = await runTurn(opts(e, 'ok', { lockTimeoutMs: 1000 }))
    assert.equal(r.finalState, 'completed')
  })
})

describe('runTurn bad input', () => {
  const e = env()
  const cases = [
    ['options missing', () => runTurn(), TypeError, 'KEEL_INVALID_ARGUMENT', 'options'],
    ['options a string', () => runTurn('bob'), TypeError, 'KEEL_INVALID_ARGUMENT', 'options is not an object'],
    ['onEvent not a function', () => runTurn({ ...opts(e, 'ok'), onEvent: 'x' }), TypeError, 'KEEL_INVALID_ARGUMENT', 'options.onEvent'],
    ['signal not an AbortSignal', () => runTurn({ ...opts(e, 'ok'), signal: {} }), TypeError, 'KEEL_INVALID_ARGUMENT', 'options.signal'],
    ['two different signals', () => runTurn({ ...opts(e, 'ok'), signal: new AbortController().signal, abortSignal: new AbortController().signal }), TypeError, 'KEEL_INVALID_ARGUMENT', 'options.signal'],
    ['unknown runtime', () => runTurn({ ...opts(e, 'ok'), runtime: 's3cr3t' }), TypeError, 'KEEL_INVALID_ARGUMENT', 'options.runtime'],
    ['stallMs a string', () => runTurn({ ...opts(e, 'ok'), stallMs: 's3cr3t' }), TypeError, 'KEEL_INVALID_ARGUMENT', 'options.stallMs'],
    ['stallMs negative', () => runTurn({ ...opts(e, 'ok'), stallMs: -1 }), RangeError, 'KEEL_INVALID_OPTION', 'options.stallMs'],
    ['a function where JSON belongs', () => runTurn({ ...opts(e, 'ok'), env: { A: () => 1 } }), TypeError, 'KEEL_INVALID_ARGUMENT', 'options.env.A'],
    ['a typo', () => runTurn({ ...opts(e, 'ok'), stalMs: 5 }), TypeError, 'KEEL_INVALID_ARGUMENT', 'did you mean "stallMs"'],
    ['agent name with a path', () => runTurn({ ...opts(e, 'ok'), agentName: '../x' }), RangeError, 'KEEL_INVALID_OPTION', 'options.agentName'],
    ['turnSession without a name', () => turnSession(e.state, ''), TypeError, 'KEEL_INVALID_ARGUMENT', 'agentName'],
    ['turnSession with a number', () => turnSession(7, 'bob'), TypeError, 'KEEL_INVALID_ARGUMENT', 'stateDir'],
  ]
  for (const [name, f, Ctor, code, field] of cases) {
    test(name, () => {
      assert.throws(f, (err) => {
        assert.ok(err instanceof Ctor, `${err.constructor.name}: ${err.message}`)
        assert.equal(err.code, code, err.message)
        assert.ok(err.message.includes(field), `"${err.message}" does not name ${field}`)
        assert.ok(!/s3cr3t/.test(err.message))
        return true
      })
    })
  }
})

describe('process lifetime', () => {
  function node(script, e) {
    const file = path.join(e.dir, 'script.cjs')
    fs.writeFileSync(file, script)
    return new Promise((resolve) => {
      const t0 = Date.now()
      const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      child.on('exit', (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal, out, ms: Date.now() - t0 })
      })
    })
  }

  test('a script awaiting one turn exits promptly after it (and a pending turn keeps it alive)', async () => {
    const e = env()
    const o = JSON.stringify(opts(e, 'slow', { env: { FAKE_MODE: 'slow', FAKE_INTERVALS: path.join(e.dir, 'iv'), FAKE_SLEEP: '1.0' } }))
    const keelPath = JSON.stringify(path.join(here, '..', '..', 'node', 'keel.js'))
    // Not awaited at the top level: only the pending turn keeps the loop alive.
    const r = await node(
      `const { runTurn } = require(${keelPath})\n` +
        `runTurn(${o}).then((r) => { console.log(JSON.stringify({ t: Date.now(), state: r.finalState })) })\n`,
      e,
    )
    assert.equal(r.signal, null)
    assert.equal(r.code, 0)
    const line = JSON.parse(r.out.trim())
    assert.equal(line.state, 'completed')
    // The process exited soon after the promise settled (no lingering thread or handle).
    const exitedAt = Date.now()
    assert.ok(exitedAt - line.t < 3_000, `exited ${exitedAt - line.t} ms after the result`)
  })
})
