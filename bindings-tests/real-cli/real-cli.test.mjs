// The real agent CLIs (@anthropic-ai/claude-code and @openai/codex from npm, pinned in
// this directory's package-lock.json) driven through keel's runTurn against a fake model
// server on loopback (fake-model.mjs): the Anthropic Messages API for Claude Code
// (ANTHROPIC_BASE_URL + a dummy key), the Responses API for Codex (a model_providers
// entry in $CODEX_HOME/config.toml with a loopback base_url). Nothing reaches beyond
// loopback: HTTP(S)_PROXY points at the fake server, which refuses and records every
// proxy request, and run.sh runs this file in a network namespace with only `lo` when
// the kernel allows one. Bounded: every turn has a stall watchdog of seconds and the
// whole file a timeout.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { startFakeModel } from './fake-model.mjs'

const require = createRequire(import.meta.url)
const { runTurn } = require('../../node/keel.js')
const here = path.dirname(fileURLToPath(import.meta.url))
const bins = {
  claude: path.join(here, 'node_modules', '.bin', 'claude'),
  codex: path.join(here, 'node_modules', '.bin', 'codex'),
}

let model
let hangPidFile
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-real-cli-'))

before(async () => {
  hangPidFile = path.join(work, 'hang.pid')
  model = await startFakeModel({ hangCommand: `echo $$ > ${hangPidFile}; sleep 1000` })
})
after(async () => {
  await model.close()
  // Nothing tried to leave loopback without being refused (and recorded) here.
  for (const p of model.proxied) assert.match(p, /^CONNECT |^GET |^POST /)
})

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function setup(runtime, name) {
  const home = fs.mkdtempSync(path.join(work, `${runtime}-${name}-`))
  const env = {
    HOME: home,
    HTTPS_PROXY: model.url,
    HTTP_PROXY: model.url,
    https_proxy: model.url,
    http_proxy: model.url,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  }
  let args
  if (runtime === 'claude') {
    Object.assign(env, {
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'sk-ant-dummy-key-for-the-fake-model',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
    })
    args = ['--allowedTools', 'Bash']
  } else {
    const codexHome = path.join(home, '.codex')
    fs.mkdirSync(codexHome)
    fs.writeFileSync(
      path.join(codexHome, 'config.toml'),
      [
        'model = "fake-model"',
        'model_provider = "fake"',
        'check_for_update_on_startup = false',
        '[model_providers.fake]',
        'name = "fake"',
        `base_url = "${model.url}/v1"`,
        'wire_api = "responses"',
        'env_key = "FAKE_MODEL_KEY"',
        'request_max_retries = 0',
        'stream_max_retries = 0',
        '',
      ].join('\n'),
    )
    Object.assign(env, { CODEX_HOME: codexHome, FAKE_MODEL_KEY: 'dummy' })
    args = ['--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox']
  }
  return {
    home,
    opts: (input, extra = {}) => ({
      agentName: `${runtime}-${name}`,
      runtime,
      stateDir: path.join(home, 'state'),
      bin: bins[runtime],
      cwd: home,
      args,
      env,
      input,
      stallMs: 20_000,
      resultGraceMs: 3_000,
      killGraceMs: 1_000,
      drainMs: 1_000,
      ...extra,
    }),
  }
}

async function turn(o) {
  const events = []
  const r = await runTurn({ ...o, onEvent: (e) => events.push(e) })
  return { r, events, text: events.map((e) => e.text ?? '').join('\n') }
}

for (const runtime of ['claude', 'codex']) {
  describe(`real ${runtime}`, { timeout: 120_000 }, () => {
    test('a plain turn completes with its session id and the model text', async () => {
      const s = setup(runtime, 'plain')
      const { r, events, text } = await turn(s.opts('say hello'))
      assert.equal(r.cleanResult, true, JSON.stringify(r))
      assert.equal(r.finalState, 'completed')
      assert.equal(r.exitCode, 0)
      assert.ok(r.newSessionId, 'no session id')
      assert.ok(events.some((e) => e.type === 'session_start'))
      assert.ok(events.some((e) => e.type === 'result'))
      assert.match(text, /Hello from the fake model/)
      assert.ok(model.requests.length > 0)
    })

    test('a resume continues the session (the model sees the first turn)', async () => {
      const s = setup(runtime, 'resume')
      const first = await turn(s.opts('REMEMBER the number 42'))
      assert.equal(first.r.finalState, 'completed', JSON.stringify(first.r))
      const second = await turn(s.opts('what number did I give you?', { resume: true }))
      assert.equal(second.r.cleanResult, true, JSON.stringify(second.r))
      assert.match(second.text, /I remember the earlier turn/)
      assert.equal(second.r.resumeMismatch, second.r.newSessionId !== first.r.newSessionId)
    })

    test('an API error is a failed turn, never a clean one', async () => {
      const s = setup(runtime, 'apierr')
      const { r, events } = await turn(s.opts('APIERR please'))
      assert.equal(r.cleanResult, false, JSON.stringify(r))
      assert.notEqual(r.finalState, 'completed')
      assert.ok(events.some((e) => e.isError === true || e.type === 'error'), JSON.stringify(events.map((e) => e.rawType)))
    })

    test('a tool call running a command that hangs: the stall watchdog kills the whole tree', async () => {
      const s = setup(runtime, 'hang')
      fs.rmSync(hangPidFile, { force: true })
      const { r } = await turn(s.opts('HANG now', { stallMs: 4_000 }))
      assert.equal(r.stallAborted, true, JSON.stringify(r))
      assert.equal(r.finalState, 'zombie')
      const pid = Number(fs.readFileSync(hangPidFile, 'utf8').trim())
      assert.ok(pid > 0)
      const end = Date.now() + 5_000
      while (alive(pid) && Date.now() < end) await new Promise((res) => setTimeout(res, 50))
      assert.ok(!alive(pid), `the hanging command ${pid} survived the kill`)
    })
  })
}

// A CLI that stays alive after its final event: Claude Code running a SessionEnd hook
// that sleeps (terminated after resultGraceMs); Codex's `notify` program, which Codex
// leaves running when it exits (killed with the rest of the turn's tree).
for (const runtime of ['claude', 'codex']) {
  test(`real ${runtime}: a CLI lingering after its final event is terminated after the grace`, { timeout: 60_000 }, async () => {
    const s = setup(runtime, 'linger')
    const pidFile = path.join(s.home, 'linger.pid')
    const cmd = `echo $$ > ${pidFile}; sleep 30`
    if (runtime === 'claude') {
      fs.mkdirSync(path.join(s.home, '.claude'), { recursive: true })
      fs.writeFileSync(
        path.join(s.home, '.claude', 'settings.json'),
        JSON.stringify({ hooks: { SessionEnd: [{ hooks: [{ type: 'command', command: cmd, timeout: 60 }] }] } }),
      )
    } else {
      const cfg = path.join(s.home, '.codex', 'config.toml')
      fs.writeFileSync(cfg, `notify = ["sh", "-c", ${JSON.stringify(cmd)}]\n` + fs.readFileSync(cfg, 'utf8'))
    }
    const t0 = Date.now()
    const { r } = await turn(s.opts('say hello', { resultGraceMs: 1_500 }))
    assert.equal(r.cleanResult, true, JSON.stringify(r))
    assert.equal(r.finalState, 'completed')
    assert.ok(Date.now() - t0 < 20_000)
    if (runtime === 'claude') {
      // Claude Code waits for its SessionEnd hook after printing `result`.
      assert.equal(r.lingerKilled, true, JSON.stringify(r))
      assert.equal(r.killReason, 'linger')
    } else {
      // Codex 0.171 does not wait for `notify` (it exits at once, exit 0); the notify
      // program is left running as a descendant of the turn's tree — keel kills it.
      assert.equal(r.lingerKilled, false, JSON.stringify(r))
      assert.equal(r.exitCode, 0)
    }
    const end0 = Date.now() + 5_000
    while (!fs.existsSync(pidFile) && Date.now() < end0) await new Promise((res) => setTimeout(res, 50))
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim())
    assert.ok(pid > 0)
    const end = Date.now() + 5_000
    while (alive(pid) && Date.now() < end) await new Promise((res) => setTimeout(res, 50))
    assert.ok(!alive(pid), `the lingering ${pid} survived the turn`)
  })
}
