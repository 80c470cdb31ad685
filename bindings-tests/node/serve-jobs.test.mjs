// serveJobs: keel's job HTTP server inside a Node host with the host's JobRegistry as a
// kind, over real loopback HTTP: every route, the shared secret (401), unknown kind and
// id (404), a bad body (400, redacted), the body limit (413), idempotent re-attach,
// DELETE reaching the job's AbortSignal, the reference env names, keel's default kinds,
// and close() with running jobs leaving none running. Bad options are refused by name.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import net from 'node:net'
import { after, test } from 'node:test'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')

const servers = []
after(async () => {
  for (const s of servers) await s.close().catch(() => {})
})

const SECRET = 'harness-secret-' + 'q'.repeat(24)
const H = { 'x-harness-secret': SECRET, 'content-type': 'application/json' }

function registry() {
  const aborted = []
  const reg = new keel.JobRegistry({ inactivityMs: 60_000 }, async (job, { signal, onActivity, onPhase }) => {
    onActivity()
    onPhase('work')
    if (job.wait) {
      await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, 60_000)
        signal.addEventListener('abort', () => {
          clearTimeout(t)
          aborted.push(job)
          reject(signal.reason)
        })
      })
    }
    if (job.fail) throw new Error('the work failed')
    return { doubled: job.n * 2 }
  })
  return { reg, aborted }
}

async function serve(options) {
  const s = await keel.serveJobs({ port: 0, sharedSecret: SECRET, env: {}, ...options })
  servers.push(s)
  return s
}

async function until(fn, ms = 10_000) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const v = await fn()
    if (v) return v
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('timed out')
}

test('a host JobRegistry served over HTTP: start, poll, re-attach, abort, errors', async () => {
  const { reg, aborted } = registry()
  const s = await serve({ kinds: { math: reg } })
  assert.equal(s.host, '127.0.0.1')
  assert.equal(s.url, `http://127.0.0.1:${s.port}`)

  const health = await (await fetch(s.url + '/health')).json()
  assert.equal(health.status, 'ok')
  assert.deepEqual(health.kinds, ['math'])

  let r = await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: JSON.stringify({ kind: 'math', jobId: 'j1', n: 21 }) })
  assert.equal(r.status, 202)
  assert.deepEqual(await r.json(), { jobId: 'j1', state: 'running' })
  const view = await until(async () => {
    const v = await (await fetch(s.url + '/jobs/j1', { headers: H })).json()
    return v.state === 'done' && v
  })
  assert.deepEqual(view.result, { doubled: 42 })
  assert.equal(reg.get('j1').state, 'done', 'the host sees the same job')

  // Idempotent: a re-dispatched POST re-attaches, the work does not run twice.
  r = await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: JSON.stringify({ kind: 'math', jobId: 'j1', n: 1 }) })
  assert.equal(r.status, 202)
  assert.deepEqual(await r.json(), { jobId: 'j1', state: 'done' })

  // A failing job.
  await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: JSON.stringify({ kind: 'math', jobId: 'j2', fail: true }) })
  const failed = await until(async () => {
    const v = await (await fetch(s.url + '/jobs/j2', { headers: H })).json()
    return v.state === 'failed' && v
  })
  assert.equal(failed.error, 'the work failed')

  // DELETE reaches the work's AbortSignal and answers the state reached.
  r = await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: JSON.stringify({ kind: 'math', jobId: 'j3', wait: true }) })
  assert.deepEqual(await r.json(), { jobId: 'j3', state: 'running' })
  r = await fetch(s.url + '/jobs/j3', { method: 'DELETE', headers: H })
  assert.equal(r.status, 200)
  assert.deepEqual(await r.json(), { jobId: 'j3', state: 'failed' })
  assert.equal(aborted.length, 1)

  // Errors.
  r = await fetch(s.url + '/jobs/j1')
  assert.equal(r.status, 401)
  r = await fetch(s.url + '/jobs/j1', { headers: { 'x-harness-secret': 'wrong' } })
  assert.equal(r.status, 401)
  r = await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: JSON.stringify({ kind: 'nope', jobId: 'x' }) })
  assert.equal(r.status, 404)
  r = await fetch(s.url + '/jobs/absent', { headers: H })
  assert.equal(r.status, 404)
  r = await fetch(s.url + '/jobs/absent', { method: 'DELETE', headers: H })
  assert.equal(r.status, 404)
  const leaked = 'ghp_' + 'L'.repeat(36)
  r = await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: JSON.stringify({ kind: 'math', jobId: 7, token: leaked }) })
  assert.equal(r.status, 400)
  const body = await r.text()
  assert.ok(!body.includes(leaked), body)
  assert.match(body, /jobId/)
  r = await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: '{not json' })
  assert.equal(r.status, 400)

  const metrics = await (await fetch(s.url + '/metrics', { headers: H })).text()
  assert.match(metrics, /kind="math"/)
})

test('the body limit, the env names of the reference server, and keel\'s default kinds', async () => {
  const { reg } = registry()
  const s = await keel.serveJobs({ kinds: { math: reg }, maxBodyBytes: 1024, defaultKinds: true, env: { PORT: '0', HARNESS_SHARED_SECRET: SECRET } })
  servers.push(s)
  let r = await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: JSON.stringify({ kind: 'math', jobId: 'big', pad: 'x'.repeat(4096) }) })
  assert.equal(r.status, 413)
  r = await fetch(s.url + '/jobs/none')
  assert.equal(r.status, 401, 'HARNESS_SHARED_SECRET was applied')
  const health = await (await fetch(s.url + '/health')).json()
  assert.deepEqual([...health.kinds].sort(), ['command', 'math', 'turn'])
  r = await fetch(s.url + '/jobs', { method: 'POST', headers: H, body: JSON.stringify({ kind: 'command', jobId: 'c1', cmd: 'true' }) })
  assert.equal(r.status, 202)
  const v = await until(async () => {
    const x = await (await fetch(s.url + '/jobs/c1', { headers: H })).json()
    return x.state !== 'running' && x
  })
  assert.equal(v.state, 'done')
  assert.deepEqual(v.result.exit, { kind: 'exited', code: 0 })
})

test('close() aborts running jobs and waits for them: none is left running', async () => {
  const { reg, aborted } = registry()
  const s = await keel.serveJobs({ port: 0, kinds: { math: reg }, env: {} })
  for (const id of ['w1', 'w2', 'w3']) {
    const r = await fetch(s.url + '/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'math', jobId: id, wait: true }) })
    assert.equal(r.status, 202)
  }
  assert.equal(reg.runningCount(), 3)
  await s.close()
  await s.closed
  assert.equal(reg.runningCount(), 0)
  assert.equal(aborted.length, 3)
  for (const id of ['w1', 'w2', 'w3']) assert.equal(reg.get(id).state, 'failed')
  await assert.rejects(fetch(s.url + '/health'))
  await s.close() // idempotent
})

test('bad options are refused by name; a taken port rejects with the bind error', async () => {
  await assert.rejects(keel.serveJobs(null), { name: 'TypeError', code: 'KEEL_INVALID_ARGUMENT' })
  await assert.rejects(keel.serveJobs({ kinds: [] }), { name: 'TypeError', message: /options.kinds must be an object/ })
  await assert.rejects(keel.serveJobs({ kinds: { math: {} } }), { name: 'TypeError', message: /options.kinds.math must be a JobRegistry \(got object\)/ })
  await assert.rejects(keel.serveJobs({ port: 'x', env: {} }), { name: 'TypeError', code: 'KEEL_INVALID_ARGUMENT', message: /port/ })
  await assert.rejects(keel.serveJobs({ port: 70000, env: {} }), (e) => e.code === 'KEEL_INVALID_ARGUMENT' || e.code === 'KEEL_INVALID_OPTION')
  await assert.rejects(keel.serveJobs({ env: { PORT: 'eighty' } }), { name: 'RangeError', code: 'KEEL_INVALID_OPTION', message: /PORT/ })
  await assert.rejects(keel.serveJobs({ prot: 1, env: {} }), { name: 'TypeError', code: 'KEEL_INVALID_ARGUMENT' })
  await assert.rejects(keel.serveJobs({ bindHost: '0.0.0.0', port: 0, env: {} }), (e) => typeof e.code === 'string' && /secret/i.test(e.message))
  const blocker = net.createServer()
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r))
  try {
    await assert.rejects(keel.serveJobs({ port: blocker.address().port, env: {} }), (e) => typeof e.code === 'string' && e.code.startsWith('KEEL_'))
  } finally {
    blocker.close()
  }
})
