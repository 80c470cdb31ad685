// Side-by-side: keel's `redact(input, knownSecrets)` against the reference
// `redact()` of @cat-factory/executor-harness (dist/redact.js, a devDependency
// used only here and in parity tests), in the same process, on the same input and
// secrets.
//
//   cargo run --release -p agent-keel-core --example gen_corpus -- bench-data/log64.txt bench-data/s10.txt 64 10
//   (cd node && npm ci && npm run build)
//   node --expose-gc node/bench/redact.mjs bench-data/log64.txt bench-data/s10.txt
//
// With --expose-gc a full collection runs before every timed call, so neither side
// pays for the other's garbage (64 MB strings). keel's default calls split a 64 MB
// input across the CPUs (up to 4); the last row keeps it on the calling thread.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const nodeDir = path.resolve(here, '..')
const require = createRequire(path.join(nodeDir, 'package.json'))
const keel = require(path.join(nodeDir, 'keel.js'))
const harnessMain = require.resolve('@cat-factory/executor-harness')
const ref = await import(pathToFileURL(path.join(path.dirname(harnessMain), 'redact.js')).href)

const [corpusPath = 'bench-data/log64.txt', secretsPath = 'bench-data/s10.txt'] = process.argv.slice(2)
const input = readFileSync(corpusPath, 'utf8')
const secrets = readFileSync(secretsPath, 'utf8').split('\n').filter(Boolean)
const mb = Buffer.byteLength(input) / 1e6

function measure(name, fn, runs) {
  fn() // warm-up (and compile the secret set once)
  const times = []
  let out
  for (let i = 0; i < runs; i++) {
    globalThis.gc?.()
    const t = process.hrtime.bigint()
    out = fn()
    times.push(Number(process.hrtime.bigint() - t) / 1e9)
  }
  times.sort((a, b) => a - b)
  const median = times[Math.floor(times.length / 2)]
  console.log(`${name.padEnd(34)} ${(mb / median).toFixed(0).padStart(6)} MB/s  (median of ${runs}, ${median.toFixed(3)} s)`)
  return { median, out }
}

console.log(`input ${mb.toFixed(1)} MB, ${secrets.length} known secrets, node ${process.version}`)
const r = measure('reference redact(input, secrets)', () => ref.redact(input, secrets), 5)
const k = measure('keel redact(input, secrets)', () => keel.redact(input, secrets), 5)
const redactor = new keel.Redactor({ secrets })
const buf = Buffer.from(input)
const kb = measure('keel Redactor.redact(Buffer)', () => redactor.redact(buf), 5)
// The same string call kept on the calling thread (large calls are split across
// up to 4 CPUs by default), so the single-core ratio is on record too.
const one = new keel.Redactor({ secrets, threads: 1 })
const k1 = measure('keel Redactor({threads: 1}).redact', () => one.redact(input), 5)
if (k1.out !== k.out) throw new Error('the one-thread output differs')
console.log(`keel / reference: ${(r.median / k.median).toFixed(1)}x (string), ${(r.median / kb.median).toFixed(1)}x (Buffer), ${(r.median / k1.median).toFixed(1)}x (string, one thread)`)
for (const s of secrets) {
  if (k.out.includes(s)) throw new Error('keel left a known secret in the output')
}
