// Process trees and job output through Node (issue 8): nothing of a runCommand tree
// outlives a SIGKILLed Node host, a secret in a job's result never reaches a get()
// caller, and a quiet job's last line shows after the idle-flush window. Real child
// processes; kills are verified by scanning /proc for a per-job environment mark.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const keelJs = path.join(here, '../../node/keel.js')
const keel = require(keelJs)
const { JobRegistry, runCommand, registerKnownSecrets } = keel

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Live (non-zombie) processes whose environment carries KEEL_TREE_MARK=<mark>. */
function marked(mark) {
  const needle = Buffer.from(`KEEL_TREE_MARK=${mark}`)
  const out = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let env, stat
    try {
      env = fs.readFileSync(`/proc/${name}/environ`)
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue
    }
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    if (state === 'Z' || state === 'X') continue
    let start = 0
    for (let i = 0; i <= env.length; i++) {
      if (i === env.length || env[i] === 0) {
        if (env.subarray(start, i).equals(needle)) out.push(Number(name))
        start = i + 1
      }
    }
  }
  return out
}

async function waitFor(pred, timeoutMs) {
  const t = Date.now()
  while (!pred()) {
    if (Date.now() - t > timeoutMs) return false
    await sleep(20)
  }
  return true
}

describe('a SIGKILLed Node host leaves nothing of its runCommand trees', () => {
  test('setsid, setpgid, a double-forked daemon ignoring SIGTERM, and the leader all die', async () => {
    const mark = `node-host-${process.pid}-${Date.now()}`
    // Every escape form the issue lists: a setsid'd grandchild, one that moved to its own
    // process group, a double-forked daemon that ignores SIGTERM; then the leader hangs.
    const script =
      'setsid sleep 3000 & ' +
      "perl -e 'setpgrp(0,0); exec \"sleep\", \"3000\"' & " +
      "(setsid sh -c 'trap \"\" TERM; sleep 3000 & exit 0' &); " +
      'sleep 0.3; echo ready; sleep 3000'
    const host = `
      const { runCommand } = require(${JSON.stringify(keelJs)})
      runCommand({
        cmd: 'sh', args: ['-c', ${JSON.stringify(script)}],
        env: { KEEL_TREE_MARK: ${JSON.stringify(mark)} },
        onStdout: (t) => { if (t.includes('ready')) process.stdout.write('ready\\n') },
      })
      setInterval(() => {}, 1000)
    `
    const child = spawn(process.execPath, ['-e', host], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    const ready = new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d
        if (out.includes('ready')) resolve()
      })
      child.on('exit', (code) => reject(new Error(`host exited early (${code}): ${out}`)))
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await ready
    clearTimeout(timer)
    // Four sleeps (setsid, setpgid, the daemon's, the leader's) plus the leader's sh.
    assert.ok(await waitFor(() => marked(mark).length >= 4, 5_000), `tree never formed: ${marked(mark)}`)
    child.removeAllListeners('exit')
    const exited = new Promise((r) => child.on('exit', (_code, signal) => r(signal)))
    child.kill('SIGKILL')
    assert.equal(await exited, 'SIGKILL')
    const cleared = await waitFor(() => marked(mark).length === 0, 10_000)
    const left = marked(mark)
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    assert.ok(cleared, `processes outlived the SIGKILLed Node host: ${left}`)
  })
})

describe('a secret in a job result is redacted through Node', () => {
  const SECRET = 'node-result-secret-0123456789abcdef'
  const TOKEN = 'ghp_R7mK2pX9vL4qT8nW1yZ6bC3dF5hJ0sA2uE4i'

  test('JobRegistry: nested strings and keys of the result, on every get()', async () => {
    registerKnownSecrets([SECRET])
    const reg = new JobRegistry({}, async () => ({
      log: { lines: [`auth ${SECRET} ok`, `push with ${TOKEN}`] },
      [SECRET]: 1,
      count: 2,
      ok: true,
    }))
    reg.start('secret-result', {})
    assert.ok(await waitFor(() => reg.runningCount() === 0, 10_000))
    for (let i = 0; i < 2; i++) {
      const v = reg.get('secret-result')
      assert.equal(v.state, 'done')
      const json = JSON.stringify(v)
      assert.ok(!json.includes(SECRET), json)
      assert.ok(!json.includes(TOKEN), json)
      assert.equal(v.result.log.lines[0], 'auth *** ok')
      assert.equal(v.result.count, 2)
      assert.equal(v.result.ok, true)
      assert.ok(Object.keys(v.result).includes('***'), json)
    }
  })

  test('runCommand: the tail, the error and the output callbacks', async () => {
    const secret = 'node-run-result-secret-0123456789ab'
    const seen = []
    const r = await runCommand({
      cmd: 'sh',
      args: ['-c', `echo "key ${secret} here"; echo "${TOKEN}" >&2; exit 3`],
      knownSecrets: [secret],
      onStdout: (t) => seen.push(t),
      onStderr: (t) => seen.push(t),
    })
    const json = JSON.stringify(r) + seen.join('')
    assert.equal(r.exit.code, 3)
    assert.ok(!json.includes(secret), json)
    assert.ok(!json.includes(TOKEN), json)
    assert.match(r.tail, /key \*\*\* here/)
  })
})

describe('idle flush through Node', () => {
  // A 40-character known secret, as in the measurement.
  const SECRET = 'node-idle-flush-secret-0123456789abcdefg'
  assert.equal(SECRET.length, 40)

  /** runCommand with SECRET known; stdout chunks with their arrival time after start. */
  async function quiet(script, extra = {}) {
    const chunks = []
    const t0 = Date.now()
    const result = await runCommand({
      cmd: 'sh',
      args: ['-c', script],
      knownSecrets: [SECRET],
      onStdout: (text) => chunks.push({ at: Date.now() - t0, text }),
      ...extra,
    })
    return { chunks, result, took: Date.now() - t0 }
  }

  test("a quiet job's last line shows within ~the idle window, long before the end", async () => {
    const { chunks, took } = await quiet("echo 'step 1 done'; sleep 4")
    assert.equal(chunks[0]?.text, 'step 1 done\n', JSON.stringify(chunks))
    // Default window 200 ms; generous margins for a loaded machine.
    assert.ok(chunks[0].at < 2_500, `the line took ${chunks[0].at} ms (run took ${took} ms)`)
    assert.ok(took - chunks[0].at > 1_000, `the line showed only at the end (${chunks[0].at}/${took} ms)`)
  })

  test('idleFlushMs: 0 holds the line until the stream ends (the control)', async () => {
    const { chunks, took } = await quiet("echo 'step 1 done'; sleep 2", { idleFlushMs: 0 })
    assert.equal(chunks[0]?.text, 'step 1 done\n')
    assert.ok(chunks[0].at >= 1_800, `without idle flush the line showed after ${chunks[0].at} ms of ${took}`)
  })

  test('a secret split across the flush boundary never leaks', async () => {
    const head = SECRET.slice(0, 20)
    const tail = SECRET.slice(20)
    const { chunks } = await quiet(`printf 'token: ${head}'; sleep 1; printf '${tail} ok\\nstep 2 done\\n'`, {
      idleFlushMs: 50,
    })
    const all = chunks.map((c) => c.text).join('')
    assert.equal(all, 'token: *** ok\nstep 2 done\n')
    for (const c of chunks) assert.ok(!c.text.includes(head.slice(0, 8)), JSON.stringify(chunks))
    assert.ok(chunks.length >= 2, `nothing was flushed early: ${JSON.stringify(chunks)}`)
  })

  test('a bad idleFlushMs is a coded error naming the field', async () => {
    assert.throws(
      () => runCommand({ cmd: 'true', idleFlushMs: 'soon' }),
      (e) => /^KEEL_INVALID_/.test(e.code) && /idleFlushMs/.test(e.message),
    )
  })
})
