// Loads the reference implementation (`redact.ts` of @cat-factory/executor-harness,
// compiled to dist/redact.js), pinned as a devDependency of node/ for parity
// tests only. The package's "exports" map does not expose dist/redact.js, so it is
// imported by file URL next to the package's main entry.
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const nodeDir = path.resolve(here, '../../node')

const requireFromNode = createRequire(path.join(nodeDir, 'package.json'))
const harnessMain = requireFromNode.resolve('@cat-factory/executor-harness')

/** The reference module: redact, redactSecrets, registerKnownSecrets, secretsToRedact, captureRedactedOutput, MAX_CAPTURED_OUTPUT_CHARS. */
export const ref = await import(pathToFileURL(path.join(path.dirname(harnessMain), 'redact.js')).href)
