// Cost of one replenish cycle through the Node surface (JS async register/run, status
// events to a JS callback) and shutdown latency (stop() → drained) during a backoff and
// during a run that ends when its AbortSignal fires.
//
//   node node/bench/supervisor.mjs [cycles=20000] [runs=20]
import { createRequire } from 'node:module'

const keel = createRequire(import.meta.url)('../keel.js')
const cycles = Number(process.argv[2] ?? 20000)
const runs = Number(process.argv[3] ?? 20)

async function replenish(n, withStatus) {
  let done = 0
  let events = 0
  let resolveAll
  const all = new Promise((r) => (resolveAll = r))
  const sup = new keel.Supervisor({
    minCycleMs: 0,
    systemdNotify: false,
    register: async () => 1,
    run: async () => {
      if (++done === n) resolveAll()
      return 0
    },
    onStatus: withStatus ? () => events++ : undefined,
  })
  const t0 = process.hrtime.bigint()
  sup.start()
  await all
  const ns = Number(process.hrtime.bigint() - t0)
  await sup.stop()
  return ns / n
}

async function shutdownLatency(kind) {
  const out = []
  for (let i = 0; i < runs; i++) {
    let reached
    const there = new Promise((r) => (reached = r))
    const sup = new keel.Supervisor({
      systemdNotify: false,
      backoffBaseMs: 60_000,
      backoffMaxMs: 60_000,
      register: async () => {
        if (kind === 'backoff') throw new Error('down')
        return 1
      },
      run: (_r, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(0))),
      onStatus: (e) => {
        if ((kind === 'backoff' && e.state === 'backing-off') || (kind === 'run' && e.state === 'running')) reached()
      },
    })
    sup.start()
    await there
    await new Promise((r) => setTimeout(r, 5))
    const t0 = process.hrtime.bigint()
    await sup.stop()
    out.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  out.sort((a, b) => a - b)
  return { median: out[out.length >> 1], max: out[out.length - 1] }
}

const warm = await replenish(1000, true)
void warm
const a = await replenish(cycles, true)
const b = await replenish(cycles, false)
console.log(`replenish cycle (JS register + run, onStatus): ${(a / 1000).toFixed(1)} µs per cycle (${cycles} cycles)`)
console.log(`replenish cycle (JS register + run, no onStatus): ${(b / 1000).toFixed(1)} µs per cycle (${cycles} cycles)`)
for (const kind of ['backoff', 'run']) {
  const r = await shutdownLatency(kind)
  console.log(`shutdown during a ${kind}: median ${r.median.toFixed(2)} ms, max ${r.max.toFixed(2)} ms (${runs} runs)`)
}
