// Render node/index.d.ts and node/index.js from the type definitions napi-derive
// wrote while cargo compiled keel-node (NAPI_TYPE_DEF_TMP_FOLDER, see
// scripts/build.sh), with @napi-rs/cli's own generateTypeDef / writeJsBinding and the
// options `napi build --platform --js index.js --dts index.d.ts` passes them. This
// lets the one workspace build serve the freshness check: `napi build` always adds
// `--target <triple>`, which puts every crate in a second target directory.
//
//   node scripts/gen-bindings.mjs <type-def-dir> <output-dir>
import { writeFile, mkdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateTypeDef, readNapiConfig, writeJsBinding } from '@napi-rs/cli'

const nodeDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const [typeDefDir, outDir] = process.argv.slice(2)
if (!typeDefDir || !outDir) {
  console.error('usage: node scripts/gen-bindings.mjs <type-def-dir> <output-dir>')
  process.exit(2)
}
const typeDefFile = join(typeDefDir, 'keel-node')
try {
  await stat(typeDefFile)
} catch {
  console.error(`gen-bindings: ${typeDefFile} is missing: build keel-node with NAPI_TYPE_DEF_TMP_FOLDER=${typeDefDir} (scripts/build.sh)`)
  process.exit(1)
}
const config = await readNapiConfig(join(nodeDir, 'package.json'))
const { exports, dts } = await generateTypeDef({
  typeDefDir,
  configDtsHeader: config.dtsHeader,
  configDtsHeaderFile: config.dtsHeaderFile,
  constEnum: config.constEnum,
  runtimeStringEnum: config.runtimeStringEnum,
  cwd: nodeDir,
  // As `napi build --platform` decides: a root loader declares its binding target
  // when it exports anything (no WASI flavour is configured here).
  declareBindingTarget: (idents) => idents.length > 0,
})
await mkdir(outDir, { recursive: true })
await writeFile(join(outDir, 'index.d.ts'), dts, 'utf8')
await writeJsBinding({
  platform: true,
  idents: exports,
  jsBinding: 'index.js',
  binaryName: config.binaryName,
  packageName: config.packageName,
  version: config.packageJson.version,
  outputDir: outDir,
  wasiFlavors: [],
})
