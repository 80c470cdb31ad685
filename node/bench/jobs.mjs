// Side-by-side: keel's JobRegistry against the reference JobRegistry of
// @cat-factory/executor-harness (dist/runner.js, a devDependency), same script: N
// concurrent JS jobs, each calling onActivity every 100 ms for a while, then finishing.
// Each side runs in a fresh Node process of its own (so RSS growth is that side's alone),
// one after the other, in the same invocation.
//
//   (cd node && npm ci && npm run build)
//   node node/bench/jobs.mjs                # 10,000 jobs, 5 s chatty phase
//   node node/bench/jobs.mjs 10000 5000
//
// Reported per side: RSS growth with every job running (after a full GC), process CPU
// (user+sys, both threads) during the chatty phase as a share of one core, and the cost
// of one onActivity call (a tight loop on one job, ns per call).
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const nodeDir = path.resolve(here, '..')

async function side(which, n, chattyMs) {
  const require = createRequire(path.join(nodeDir, 'package.json'))
  let JobRegistry
  if (which === 'keel') {
    JobRegistry = require(path.join(nodeDir, 'keel.js')).JobRegistry
  } else {
    const dist = path.dirname(require.resolve('@cat-factory/executor-harness'))
    JobRegistry = (await import(pathToFileURL(path.join(dist, 'runner.js')).href)).JobRegistry
    // The reference logs a JSON line per job start/finish; keep them off the terminal.
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = (chunk, ...rest) => (String(chunk).startsWith('{"jobId"') ? true : write(chunk, ...rest))
  }
  const limits = { maxDurationMs: 60 * 60_000, inactivityMs: 10 * 60_000, coldStartMs: 0, toolSilenceMs: 0 }

  // onActivity cost: one job, a tight loop.
  let activity
  const probe = new JobRegistry(limits, (_job, opts) => {
    activity = opts.onActivity
    return new Promise((resolve) => setTimeout(() => resolve({}), 10))
  })
  probe.start('probe', {})
  const calls = 2_000_000
  for (let i = 0; i < 100_000; i++) activity()
  let t = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) activity()
  const nsPerCall = Number(process.hrtime.bigint() - t) / calls
  while (probe.runningCount() > 0) await new Promise((r) => setTimeout(r, 20))

  globalThis.gc()
  await new Promise((r) => setTimeout(r, 200))
  globalThis.gc()
  const rss0 = process.memoryUsage().rss

  const registry = new JobRegistry(limits, (_job, opts) => {
    return new Promise((resolve) => {
      const beat = setInterval(() => opts.onActivity(), 100)
      setTimeout(() => {
        clearInterval(beat)
        resolve({ ok: true })
      }, chattyMs + 5000)
    })
  })
  for (let i = 0; i < n; i++) registry.start(`job-${i}`, { i })
  // Let every interval get going, then measure CPU over the chatty phase.
  await new Promise((r) => setTimeout(r, 500))
  const cpu0 = process.cpuUsage()
  t = process.hrtime.bigint()
  await new Promise((r) => setTimeout(r, chattyMs))
  const cpu = process.cpuUsage(cpu0)
  const wallUs = Number(process.hrtime.bigint() - t) / 1000
  globalThis.gc()
  const rss1 = process.memoryUsage().rss
  const running = registry.runningCount()
  while (registry.runningCount() > 0) await new Promise((r) => setTimeout(r, 50))
  let done = 0
  for (let i = 0; i < n; i++) if (registry.get(`job-${i}`)?.state === 'done') done++
  return {
    which,
    running,
    done,
    rssGrowthMB: (rss1 - rss0) / 1e6,
    cpuPct: ((cpu.user + cpu.system) / wallUs) * 100,
    nsPerCall,
  }
}

const [, , arg1, arg2, arg3] = process.argv
if (arg1 === '--side') {
  const r = await side(arg2, Number(arg3), Number(process.argv[5]))
  process.stdout.write(`${JSON.stringify(r)}\n`)
} else {
  const n = Number(arg1 ?? 10_000)
  const chattyMs = Number(arg2 ?? 5_000)
  console.log(`${n} concurrent JS jobs, onActivity every 100 ms for ${chattyMs} ms, node ${process.version}`)
  const rows = []
  for (const which of ['reference', 'keel']) {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url), '--side', which, String(n), String(chattyMs)],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    )
    const r = JSON.parse(out.trim().split('\n').pop())
    rows.push(r)
    console.log(
      `${which.padEnd(10)} RSS growth ${r.rssGrowthMB.toFixed(1).padStart(6)} MB   chatty CPU ${r.cpuPct
        .toFixed(1)
        .padStart(5)} %   onActivity ${r.nsPerCall.toFixed(0).padStart(5)} ns   (${r.running} running, ${r.done} done)`,
    )
  }
  const [ref, keel] = rows
  console.log(
    `keel/reference: RSS ${(keel.rssGrowthMB / ref.rssGrowthMB).toFixed(2)}x, CPU ${(keel.cpuPct / ref.cpuPct).toFixed(
      2,
    )}x, onActivity ${(keel.nsPerCall / ref.nsPerCall).toFixed(2)}x`,
  )
}
