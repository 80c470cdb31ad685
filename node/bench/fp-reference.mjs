// False-positive scan with the reference `redact()` (@cat-factory/executor-harness,
// a devDependency): count the lines of each file that it changes. keel's side is
// `cargo run --release -p agent-keel-core --example fp_scan -- FILE...`.
//
//   node node/bench/fp-reference.mjs FILE...
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const nodeDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(path.join(nodeDir, 'package.json'))
const harnessMain = require.resolve('@cat-factory/executor-harness')
const ref = await import(pathToFileURL(path.join(path.dirname(harnessMain), 'redact.js')).href)

let total = 0
let changed = 0
for (const file of process.argv.slice(2)) {
  const lines = readFileSync(file, 'utf8').split('\n')
  let c = 0
  for (const line of lines) {
    const out = ref.redact(line)
    if (out !== line) {
      c++
      console.log(`${file}\n  - ${line}\n  + ${out}`)
    }
  }
  console.log(`# ${file}: ${lines.length} lines, ${c} changed`)
  total += lines.length
  changed += c
}
console.log(`# total: ${total} lines, ${changed} changed`)
