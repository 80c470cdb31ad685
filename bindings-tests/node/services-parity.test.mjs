// keel's managed-spawn drop-ins side by side with minions' own module
// (@yemi33/minions, a pinned dev dependency): the same corpus of valid and hostile
// specs must get the same accept/reject and the same reason string (and, when valid,
// the same normalized value); the sidecar reader and the acceptance gate must answer
// the same objects; the name validator and the probes the same results.
//
// minions ≥ 0.1.2000 keeps its state in SQLite through node:sqlite (Node ≥ 22.5), so
// on this Node its stateful functions (list, sweep, ETag of the live state) cannot run;
// those are tested against the reference's JSON state format in core/tests/services.rs
// and in services.test.mjs.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'

const require = createRequire(import.meta.url)
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-minions-parity-'))
// minions resolves its home when its module loads.
process.env.MINIONS_TEST_DIR = home
fs.mkdirSync(path.join(home, 'agents'), { recursive: true })
fs.mkdirSync(path.join(home, 'engine'), { recursive: true })
const minions = require('../../node/node_modules/@yemi33/minions/engine/processes/managed-spawn.js')
const keelModule = require('../../node/managed-spawn.js')
const keel = keelModule.createManagedSpawn({ stateDir: path.join(home, 'engine'), agentsDir: path.join(home, 'agents') })

after(() => fs.rmSync(home, { recursive: true, force: true }))

const hc = { type: 'http', url: 'http://127.0.0.1:8765/', expect_status: 200, timeout_s: 10 }
const spec = (over) => ({ name: 'web', cmd: 'python3', args: ['-m', 'http.server', '8765'], healthcheck: hc, ...over })
const rec = (...specs) => ({ specs })

const git = fs.mkdtempSync(path.join(home, 'repo-'))
execFileSync('git', ['init', '-q', git])
fs.mkdirSync(path.join(git, 'packages', 'server'), { recursive: true })
const plain = fs.mkdtempSync(path.join(home, 'plain-'))

const noGit = { requireGitWorkdir: false, projects: [] }
const corpus = [
  // valid
  [rec(spec()), noGit],
  [rec(spec({ ttl_minutes: 5, ports: [8765, '9000'], attrs: { base_url: 'http://127.0.0.1:8765' } })), noGit],
  [rec(spec({ env: { NODE_ENV: 'development', PORT: '8765', AWS_REGION: 'us-east-1' } })), noGit],
  [rec(spec(), spec({ name: 'db', cmd: 'docker', args: ['run', 'postgres'] })), noGit],
  [rec(spec({ healthcheck: { type: 'command', cmd: 'curl -sf http://127.0.0.1:8765/', expect_regex: '.*', shell: true, timeout_s: 3 } })), noGit],
  [rec(spec({ healthcheck: { ...hc, interval_s: 2 } })), noGit],
  [{ ...rec(spec()), written_by: 'dallas', wi_id: 'W-1' }, noGit],
  [rec(spec({ cwd: git })), { projects: [] }],
  [rec(spec({ cwd: path.join(git, 'packages', 'server') })), { projects: [] }],
  [rec(spec({ ttl_minutes: '30' })), noGit],
  [rec(spec({ cmd: '/usr/bin/python3' })), noGit],
  // hostile or malformed
  [null, noGit],
  [[], noGit],
  ['specs', noGit],
  [{}, noGit],
  [{ specs: {} }, noGit],
  [rec(), noGit],
  [rec(spec(), spec({ name: 'b' }), spec({ name: 'c' }), spec({ name: 'd' }), spec({ name: 'e' }), spec({ name: 'f' })), noGit],
  [rec(spec({ name: 'Bad_Name' })), noGit],
  [rec(spec({ name: '' })), noGit],
  [rec(spec({ name: 'a'.repeat(65) })), noGit],
  [rec(spec({ name: '-lead' })), noGit],
  [rec(spec({ name: 42 })), noGit],
  [rec(spec(), spec()), noGit],
  [rec(spec({ cmd: 'bash' })), noGit],
  [rec(spec({ cmd: 'rm', args: ['-rf', '/'] })), noGit],
  [rec(spec({ cmd: '' })), noGit],
  [rec(spec({ cmd: undefined })), noGit],
  [rec(spec({ args: 'x' })), noGit],
  [rec(spec({ args: [1] })), noGit],
  [rec(spec({ args: Array(65).fill('a') })), noGit],
  [rec(spec({ args: ['x'.repeat(501)] })), noGit],
  [rec(spec({ cwd: 7 })), noGit],
  [rec(spec({ cwd: plain })), { projects: [] }],
  [rec(spec({ cwd: '/no/such/dir' })), { projects: [] }],
  [rec(spec({ cwd: git })), { requireGitWorkdir: false, allowedCwdRoot: plain, projects: [] }],
  [rec(spec({ env: [] })), noGit],
  [rec(spec({ env: { GITHUB_TOKEN: 'ghp_' + 'a'.repeat(36) } })), noGit],
  [rec(spec({ env: { DB_PASSWORD: 'hunter2' } })), noGit],
  [rec(spec({ env: { OPENAI_API_KEY: 'x' } })), noGit],
  [rec(spec({ env: { 'BAD-KEY': 'x' } })), noGit],
  [rec(spec({ env: { OK: 1 } })), noGit],
  [rec(spec({ env: { OK: 'x'.repeat(1001) } })), noGit],
  [rec(spec({ env: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`K${i}`, 'v'])) })), noGit],
  [rec(spec({ cwd: git, env: { DB_HOST: 'x' } })), { requireGitWorkdir: false, projects: [{ name: 'p', localPath: git, managedSpawnExtraDenyPatterns: ['^DB_'] }] }],
  [rec(spec({ env: { DB_HOST: 'x' } })), { requireGitWorkdir: false, project: { name: 'p', managedSpawnExtraDenyPatterns: ['^DB_'] } }],
  [rec(spec({ ports: 8765 })), noGit],
  [rec(spec({ ports: [80] })), noGit],
  [rec(spec({ ports: [70000] })), noGit],
  [rec(spec({ ports: [8765.5] })), noGit],
  [rec(spec({ ports: Array.from({ length: 21 }, (_, i) => 9000 + i) })), noGit],
  [rec(spec({ ttl_minutes: 0 })), noGit],
  [rec(spec({ ttl_minutes: -1 })), noGit],
  [rec(spec({ ttl_minutes: 100000 })), noGit],
  [rec(spec({ ttl_minutes: 'soon' })), noGit],
  [rec(spec({ attrs: [] })), noGit],
  [rec(spec({ attrs: { blob: 'x'.repeat(3000) } })), noGit],
  [rec(spec({ healthcheck: undefined })), noGit],
  [rec(spec({ healthcheck: 'http' })), noGit],
  [rec(spec({ healthcheck: { type: 'tcp' } })), noGit],
  [rec(spec({ healthcheck: { ...hc, url: 'ftp://x/' } })), noGit],
  [rec(spec({ healthcheck: { ...hc, url: 'not a url' } })), noGit],
  [rec(spec({ healthcheck: { ...hc, expect_status: 99 } })), noGit],
  [rec(spec({ healthcheck: { ...hc, timeout_s: 0 } })), noGit],
  [rec(spec({ healthcheck: { ...hc, timeout_s: 10000 } })), noGit],
  [rec(spec({ healthcheck: { ...hc, interval_s: -1 } })), noGit],
  [rec(spec({ healthcheck: { type: 'command', cmd: 'bash -c true', expect_regex: 'x', timeout_s: 3 } })), noGit],
  [rec(spec({ healthcheck: { type: 'command', cmd: '', expect_regex: 'x', timeout_s: 3 } })), noGit],
  [rec(spec({ healthcheck: { type: 'command', cmd: 'curl x', timeout_s: 3 } })), noGit],
  [{ ...rec(spec()), written_by: 5 }, noGit],
  [{ ...rec(spec()), wi_id: {} }, noGit],
  [rec('not a spec'), noGit],
  [rec(null), noGit],
]

test('validateManagedSpawnRecord: same accept/reject, reason and value as minions on the corpus', () => {
  let valid = 0
  for (const [i, [input, opts]] of corpus.entries()) {
    const want = minions.validateManagedSpawnRecord(input, opts)
    const got = keel.validateManagedSpawnRecord(input, opts)
    assert.equal(got.ok, want.ok, `case ${i}: ok (minions: ${want.reason})`)
    assert.equal(got.reason, want.reason, `case ${i}: reason`)
    if (want.ok) {
      valid++
      assert.deepEqual(got.value, want.value, `case ${i}: value`)
    }
  }
  // The corpus exercises both sides.
  assert.ok(valid >= 10 && corpus.length - valid >= 50, `${valid} valid of ${corpus.length}`)
})

test('validateManagedSpecName: same answers as minions', () => {
  for (const name of ['web', 'a', 'a-b-c', 'Bad', 'a--b', '-a', 'a-', '', null, undefined, 5, {}, 'x'.repeat(64), 'x'.repeat(65), 'é', 'a_b']) {
    assert.deepEqual(keel.validateManagedSpecName(name), minions.validateManagedSpecName(name), String(name))
  }
})

test('readManagedSpawnFile and evaluateManagedSpawnAcceptance: the same objects for the same sidecars', () => {
  const write = (agent, text) => {
    fs.mkdirSync(path.join(home, 'agents', agent), { recursive: true })
    fs.writeFileSync(path.join(home, 'agents', agent, 'managed-spawn.json'), text)
  }
  write('good', JSON.stringify({ ...rec(spec()), written_by: 'good', wi_id: 'W-7' }))
  write('bad-json', '{"specs": [')
  write('bad-spec', JSON.stringify(rec(spec({ cmd: 'bash' }))))
  write('workdir', JSON.stringify(rec(spec({ cwd: plain }))))
  const cases = [
    ['good', noGit],
    ['good', { ...noGit, expectedAgentId: 'good', expectedWorkItemId: 'W-7' }],
    ['good', { ...noGit, expectedAgentId: 'other' }],
    ['good', { ...noGit, expectedWorkItemId: 'W-8' }],
    ['bad-json', noGit],
    ['bad-spec', noGit],
    ['workdir', { projects: [] }],
    ['absent', noGit],
    ['absent', { ...noGit, required: true }],
    [undefined, noGit],
  ]
  for (const [agent, opts] of cases) {
    assert.deepEqual(keel.readManagedSpawnFile(agent, opts), minions.readManagedSpawnFile(agent, opts), `read ${agent}`)
    assert.deepEqual(
      keel.evaluateManagedSpawnAcceptance(agent, opts),
      minions.evaluateManagedSpawnAcceptance(agent, opts),
      `accept ${agent} ${JSON.stringify(opts)}`,
    )
  }
  assert.equal(keel.evaluateManagedSpawnAcceptance('workdir', { projects: [] }).isWorkdirRejection, true)
})

let server
let port
before(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(req.url === '/ok' ? 200 : 503)
    res.end('x')
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  port = server.address().port
})
after(() => server?.close())

test('runHealthcheck: the same verdict and error text as minions', async () => {
  const specs = [
    { healthcheck: { type: 'http', url: `http://127.0.0.1:${port}/ok`, expect_status: 200, timeout_s: 2 } },
    { healthcheck: { type: 'http', url: `http://127.0.0.1:${port}/down`, expect_status: 200, timeout_s: 2 } },
    { healthcheck: { type: 'tcp' } },
    {},
    null,
  ]
  for (const s of specs) {
    const [want, got] = await Promise.all([minions.runHealthcheck(s), keel.runHealthcheck(s)])
    assert.equal(got.healthy, want.healthy, JSON.stringify(s))
    assert.equal(got.error, want.error, JSON.stringify(s))
    assert.equal(typeof got.lastCheckAt, 'number')
    assert.ok(Math.abs(got.lastCheckAt - Date.now()) < 60_000)
  }
})

test('computeManagedSpecsEtag: minions\' algorithm (sha1 of the name-sorted records, 16 hex chars)', async () => {
  const { createHash } = await import('node:crypto')
  const state = path.join(home, 'engine', 'managed-processes.json')
  const records = [
    { name: 'zeta', pid: null, owner_project: 'p', healthy: false, alive: false },
    { name: 'alpha', pid: null, owner_project: 'q', healthy: false, alive: false },
  ]
  fs.writeFileSync(state, JSON.stringify({ specs: records }), { mode: 0o600 })
  const expected = (list) =>
    createHash('sha1')
      .update(JSON.stringify(list.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)))))
      .digest('hex')
      .slice(0, 16)
  // The records as stored hash to what minions' function computes when it reads them.
  assert.equal(keel.computeManagedSpecsEtag(), expected(records))
  assert.equal(keel.computeManagedSpecsEtag({ project: 'p' }), expected(records.filter((r) => r.owner_project === 'p')))
  assert.match(keel.computeManagedSpecsEtag(), /^[0-9a-f]{16}$/)
  fs.rmSync(state)
})
