'use strict'
// Managed services, JavaScript half: drop-ins for the functions a host calls from
// minions' engine/processes/managed-spawn.js — same names, arguments and result shapes —
// over the native half (node/src/services.rs, keel_core::services). The validator, the
// state file, spawning, probes, the sweep and the prompt block are core's; this file only
// maps minions' argument objects onto core's options and reads the sidecar file.
//
// Differences from minions, all deliberate:
// - spawnManagedSpec, restartManagedSpec, sweepManagedSpawn and
//   removeManagedSpecsForProject return Promises (minions' are synchronous): they kill
//   whole process trees with a grace period, which must not block the event loop.
// - spawnManagedSpec also records the service (minions' caller calls recordManagedSpec
//   next); the record carries keel's PID-reuse-safe identity under `keel`.
// - State lives in <stateDir>/managed-processes.json (the reference's JSON file, advisory
//   lock + atomic replace); minions ≥ 0.1.2000 moved it to SQLite (engine/state.db).
// - waitForFirstHealth with no healthcheck resolves at once ("spec.healthcheck missing")
//   instead of polling until the deadline.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { ServicesNative } = require('./index.js')
const { codes, keelError, typeName } = require('./errors.js')

const MANAGED_SPAWN_FILENAME = 'managed-spawn.json'
const MANAGED_LOGS_DIR = 'managed-logs'
const INVALID_WORKDIR_REASON_PREFIX = 'invalid-workdir: '
const HEALTHCHECK_TYPES = Object.freeze(['http', 'command'])
const NO_HEALTHCHECK = 'spec.healthcheck missing'
const OWNER_FIELDS = ['owner_agent', 'owner_wi', 'owner_project', 'owner_work_type', 'dispatch_root', 'checkout_mode']
const FACTORY_FIELDS = new Set(['stateDir', 'agentsDir', 'configPath', 'options'])

/** minions' home: MINIONS_TEST_DIR, MINIONS_HOME, else ~/.minions. */
function minionsHome() {
  return path.resolve(process.env.MINIONS_TEST_DIR || process.env.MINIONS_HOME || path.join(os.homedir(), '.minions'))
}

function invalid(message) {
  return keelError(TypeError, codes.INVALID_ARGUMENT, message)
}

/** JSON text of a value (`undefined` is `null`); a cyclic or BigInt value is a TypeError. */
function toJson(what, v) {
  let text
  try {
    text = JSON.stringify(v)
  } catch (e) {
    throw invalid(`${what} cannot be converted to JSON (${e && e.name === 'TypeError' ? 'cyclic or BigInt' : 'error'})`)
  }
  return text === undefined ? 'null' : text
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function strings(v) {
  return Array.isArray(v) ? v.filter((s) => typeof s === 'string') : []
}

/** A rejected native call as an Error carrying core's code. */
function nativeError(payload) {
  let code = codes.INTERNAL
  let message = 'keel services call failed'
  try {
    const p = JSON.parse(payload)
    code = p.code || code
    message = p.message || message
  } catch (_) {}
  const Ctor = code === codes.INVALID_ARGUMENT ? TypeError : code === codes.INVALID_OPTION ? RangeError : Error
  return keelError(Ctor, code, message)
}

/**
 * Managed services over one state directory, with minions' function names.
 *
 * `options`: `stateDir` (default `<minions home>/engine`, where minions keeps
 * `managed-logs/`), `agentsDir` (default `<minions home>/agents`, where the
 * `<agentId>/managed-spawn.json` sidecars are), `configPath` (default
 * `<minions home>/config.json`, read for `projects` when a call passes none), `options`
 * (core's ServicesOptions: limits, allowlists, thresholds).
 */
function createManagedSpawn(options) {
  if (options === undefined || options === null) options = {}
  if (!isObject(options)) {
    throw invalid(`createManagedSpawn: options must be an object (got ${typeName(options)})`)
  }
  for (const k of Object.keys(options)) {
    if (!FACTORY_FIELDS.has(k)) throw invalid(`createManagedSpawn: unknown option ${JSON.stringify(k.slice(0, 40))}`)
  }
  for (const k of ['stateDir', 'agentsDir', 'configPath']) {
    if (options[k] !== undefined && (typeof options[k] !== 'string' || options[k] === '')) {
      throw invalid(`createManagedSpawn: ${k} must be a non-empty string (got ${typeName(options[k])})`)
    }
  }
  const home = minionsHome()
  const stateDir = options.stateDir || path.join(home, 'engine')
  const agentsDir = options.agentsDir || path.join(home, 'agents')
  const configPath = options.configPath || path.join(home, 'config.json')
  const native = new ServicesNative(stateDir, options.options)

  function call(op, args) {
    return new Promise((resolve, reject) => {
      native.call(op, toJson('arguments', args), (kind, payload) => {
        if (kind === 'resolve') resolve(JSON.parse(payload))
        else reject(nativeError(payload))
      })
    })
  }

  /** `config.json`'s projects (minions' getProjects): `[]` when unreadable. */
  function configProjects() {
    try {
      const c = JSON.parse(fs.readFileSync(configPath, 'utf8'))
      if (!c || !Array.isArray(c.projects)) return []
      return c.projects.filter((p) => {
        if (!isObject(p)) return false
        const name = String(p.name || '').trim()
        return name !== '' && name !== 'YOUR_PROJECT_NAME'
      })
    } catch (_) {
      return []
    }
  }

  /** minions' validator `opts` as core's ValidateOptions. */
  function validateOptions(opts) {
    const o = {}
    if (!isObject(opts)) opts = {}
    if (Object.prototype.hasOwnProperty.call(opts, 'requireGitWorkdir')) o.requireGitWorkdir = !!opts.requireGitWorkdir
    if (typeof opts.allowedCwdRoot === 'string' && opts.allowedCwdRoot) o.allowedCwdRoot = opts.allowedCwdRoot
    const extra = strings(opts.extraDenyPatterns)
    if (isObject(opts.project)) {
      // minions: an explicit project applies to every spec, whatever its cwd.
      extra.push(...strings(opts.project.managedSpawnExtraDenyPatterns))
    } else {
      const projects = Array.isArray(opts.projects) ? opts.projects : configProjects()
      o.projects = projects
        .filter((p) => isObject(p) && typeof p.localPath === 'string' && p.localPath)
        .map((p) => ({ localPath: p.localPath, managedSpawnExtraDenyPatterns: strings(p.managedSpawnExtraDenyPatterns) }))
    }
    if (extra.length) o.extraDenyPatterns = extra
    return o
  }

  function validateManagedSpecName(name) {
    return JSON.parse(native.validateName(toJson('name', name)))
  }

  function validateManagedSpawnRecord(parsed, opts) {
    return JSON.parse(native.validate(toJson('parsed', parsed), validateOptions(opts)))
  }

  function sidecarPath(agentId) {
    return path.join(agentsDir, String(agentId || ''), MANAGED_SPAWN_FILENAME)
  }

  function readManagedSpawnFile(agentId, opts) {
    const filePath = sidecarPath(agentId)
    let raw
    try {
      raw = fs.readFileSync(filePath, 'utf8')
    } catch (_) {
      return null
    }
    let parsed
    try {
      parsed = JSON.parse(raw)
    } catch (e) {
      return { agentId, filePath, valid: false, reason: 'json-parse: ' + e.message, parsed: null }
    }
    const v = validateManagedSpawnRecord(parsed, opts)
    return v.ok
      ? { agentId, filePath, valid: true, value: v.value, parsed }
      : { agentId, filePath, valid: false, reason: v.reason, parsed }
  }

  function evaluateManagedSpawnAcceptance(agentId, opts) {
    if (!isObject(opts)) opts = {}
    const missing = (filePath) => ({
      exists: false,
      accepted: false,
      isWorkdirRejection: false,
      reason: opts.required ? 'sidecar-missing' : null,
      record: null,
      filePath,
    })
    const filePath = sidecarPath(agentId)
    if (!fs.existsSync(filePath)) return missing(filePath)
    const rec = readManagedSpawnFile(agentId, opts)
    if (!rec) return missing(filePath)
    const refuse = (reason, isWorkdirRejection) => ({
      exists: true,
      accepted: false,
      isWorkdirRejection,
      reason,
      record: null,
      filePath: rec.filePath,
      parsedRaw: rec.parsed || null,
    })
    if (!rec.valid) {
      const reason = rec.reason || 'unknown'
      return refuse(reason, reason.startsWith(INVALID_WORKDIR_REASON_PREFIX))
    }
    const wantAgent = typeof opts.expectedAgentId === 'string' ? opts.expectedAgentId : ''
    if (wantAgent && rec.value.written_by !== wantAgent) {
      return refuse(`written-by-mismatch (expected ${wantAgent}, got ${rec.value.written_by || 'missing'})`, false)
    }
    const wantWi = typeof opts.expectedWorkItemId === 'string' ? opts.expectedWorkItemId : ''
    if (wantWi && rec.value.wi_id !== wantWi) {
      return refuse(`wi-id-mismatch (expected ${wantWi}, got ${rec.value.wi_id || 'missing'})`, false)
    }
    return { exists: true, accepted: true, isWorkdirRejection: false, reason: null, record: rec.value, filePath: rec.filePath }
  }

  function ownerOf(ctx) {
    const o = {}
    if (isObject(ctx)) for (const k of OWNER_FIELDS) if (typeof ctx[k] === 'string') o[k] = ctx[k]
    return o
  }

  function runtimeOf(rec) {
    return { pid: rec.pid, started_at: rec.started_at, log_path: rec.log_path, record: rec }
  }

  async function spawnManagedSpec(spec, ctx) {
    if (!isObject(spec)) throw invalid('spawnManagedSpec: spec required')
    if (typeof spec.cmd !== 'string' || spec.cmd.length === 0) throw invalid('spawnManagedSpec: spec.cmd required')
    return runtimeOf(await call('spawn', [spec, ownerOf(ctx)]))
  }

  /** keel: validate a whole sidecar record, spawn every spec and wait for each one's first health. */
  function upManagedSpecs(record, opts, ctx) {
    return call('up', [record, validateOptions(opts), ownerOf(ctx)])
  }

  function listManagedSpecs(opts) {
    const project = isObject(opts) && typeof opts.project === 'string' && opts.project ? opts.project : null
    return JSON.parse(native.records(project))
  }

  /** keel: the list view (health, last error) and its ETag, as `GET /managed-processes` serves it. */
  function listManagedServices(opts) {
    const project = isObject(opts) && typeof opts.project === 'string' && opts.project ? opts.project : null
    return JSON.parse(native.list(project))
  }

  function getManagedSpecByName(name) {
    if (typeof name !== 'string' || !name) return null
    return listManagedSpecs().find((s) => s && s.name === name) || null
  }

  async function restartManagedSpec(name) {
    if (!validateManagedSpecName(name).ok) throw invalid('restartManagedSpec: name required')
    try {
      return runtimeOf(await call('restart', [name]))
    } catch (e) {
      if (e.code === codes.SERVICE_NOT_FOUND) {
        e.message = 'restartManagedSpec: spec not found: ' + name
        e.statusCode = 404
      }
      throw e
    }
  }

  /** minions' removeManagedSpec: `{removed, killed}` (a reused pid is never signalled). */
  function removeManagedSpec(name) {
    if (typeof name !== 'string' || !name) return Promise.reject(invalid('removeManagedSpec: name required'))
    return call('remove', [name])
  }

  function sweepManagedSpawn() {
    return call('sweep', [])
  }

  function bootReconcileManagedSpawn() {
    return call('bootReconcile', [])
  }

  async function removeManagedSpecsForProject(projectName) {
    if (typeof projectName !== 'string' || projectName.length === 0) return { killed: 0, unlinked: 0, scanned: 0 }
    return call('removeProject', [projectName])
  }

  function computeManagedSpecsEtag(opts) {
    const project = isObject(opts) && typeof opts.project === 'string' && opts.project ? opts.project : null
    return native.etag(project)
  }

  function buildLiveManagedProcessesBlock(opts) {
    if (!isObject(opts)) opts = {}
    const project = typeof opts.project === 'string' ? opts.project : ''
    if (!project) return ''
    const p = Number(opts.dashboardPort)
    const port = Number.isInteger(p) && p > 0 && p <= 65535 ? p : null
    return native.liveBlock(project, port)
  }

  /** A healthcheck object (as minions stores it) in core's complete shape, or a reason it is not one. */
  function healthcheckOf(hc) {
    const seconds = (v, d) => (Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d)
    if (hc.type === 'http') {
      if (typeof hc.url !== 'string') return { error: 'http probe threw: url is not a string' }
      return { hc: { type: 'http', url: hc.url, expect_status: Number(hc.expect_status) || 0, interval_s: seconds(hc.interval_s, 1), timeout_s: seconds(hc.timeout_s, 5) } }
    }
    if (typeof hc.cmd !== 'string') return { error: 'healthcheck command threw: cmd is not a string' }
    return {
      hc: {
        type: 'command',
        cmd: hc.cmd,
        shell: !!hc.shell,
        expect_regex: hc.expect_regex === undefined || hc.expect_regex === null ? '' : String(hc.expect_regex),
        interval_s: seconds(hc.interval_s, 1),
        timeout_s: seconds(hc.timeout_s, 5),
      },
    }
  }

  /** The probe of `spec.healthcheck` or the answer that needs none. */
  function probeInput(spec) {
    if (!isObject(spec) || !isObject(spec.healthcheck)) return { done: { healthy: false, error: NO_HEALTHCHECK } }
    const hc = spec.healthcheck
    if (!HEALTHCHECK_TYPES.includes(hc.type)) return { done: { healthy: false, error: 'healthcheck type unknown: ' + hc.type } }
    const n = healthcheckOf(hc)
    return n.error ? { done: { healthy: false, error: n.error } } : { hc: n.hc }
  }

  async function runHealthcheck(spec) {
    const p = probeInput(spec)
    if (p.done) return { ...p.done, lastCheckAt: Date.now() }
    try {
      return await call('runHealthcheck', [p.hc])
    } catch (e) {
      return { healthy: false, error: String(e.message), lastCheckAt: Date.now() }
    }
  }

  function tailLog(name, lines) {
    try {
      const raw = fs.readFileSync(path.join(native.logsDir, name + '.log'), 'utf8')
      return raw.split(/\r?\n/).slice(-lines - 1).join('\n').slice(-2048)
    } catch (_) {
      return ''
    }
  }

  async function waitForFirstHealth(spec, opts) {
    if (!isObject(spec) || typeof spec.name !== 'string' || !spec.name) throw invalid('waitForFirstHealth: spec.name required')
    if (!isObject(opts)) opts = {}
    const p = probeInput(spec)
    if (p.done) return { ...p.done, lastCheckAt: Date.now() }
    const waiting = call('waitForFirstHealth', [spec.name, p.hc]).catch((e) => ({ healthy: false, error: String(e.message), lastCheckAt: Date.now() }))
    const exit = opts.exit
    if (!exit || typeof exit.then !== 'function') return waiting
    const exited = Promise.resolve(exit).then(
      (outcome) => {
        const code = outcome && Number.isInteger(outcome.code) ? outcome.code : null
        const signal = outcome && typeof outcome.signal === 'string' && outcome.signal ? outcome.signal : null
        const why = outcome && outcome.error ? ': ' + String(outcome.error) : ''
        return {
          healthy: false,
          error: `process exited before first health (code=${code === null ? 'null' : code}, signal=${signal || 'null'})${why}`,
          log_tail: tailLog(spec.name, 20),
          exit: outcome || null,
          lastCheckAt: Date.now(),
        }
      },
      (error) => ({
        healthy: false,
        error: 'process exit observation failed before first health (code=null, signal=null): ' + String((error && error.message) || error),
        log_tail: tailLog(spec.name, 20),
        lastCheckAt: Date.now(),
      }),
    )
    return Promise.race([waiting, exited])
  }

  return Object.freeze({
    stateDir,
    agentsDir,
    statePath: native.statePath,
    logsDir: native.logsDir,
    validateManagedSpecName,
    validateManagedSpawnRecord,
    readManagedSpawnFile,
    evaluateManagedSpawnAcceptance,
    spawnManagedSpec,
    upManagedSpecs,
    listManagedSpecs,
    listManagedServices,
    getManagedSpecByName,
    restartManagedSpec,
    removeManagedSpec,
    sweepManagedSpawn,
    bootReconcileManagedSpawn,
    removeManagedSpecsForProject,
    computeManagedSpecsEtag,
    buildLiveManagedProcessesBlock,
    runHealthcheck,
    waitForFirstHealth,
  })
}

// The module-level drop-ins use the default directories, resolved on first use (so a
// host may set MINIONS_TEST_DIR / MINIONS_HOME after requiring the module).
let defaultInstance = null
function instance() {
  if (!defaultInstance) defaultInstance = createManagedSpawn()
  return defaultInstance
}

const DROP_INS = [
  'validateManagedSpecName',
  'validateManagedSpawnRecord',
  'readManagedSpawnFile',
  'evaluateManagedSpawnAcceptance',
  'spawnManagedSpec',
  'upManagedSpecs',
  'listManagedSpecs',
  'listManagedServices',
  'getManagedSpecByName',
  'restartManagedSpec',
  'removeManagedSpec',
  'sweepManagedSpawn',
  'bootReconcileManagedSpawn',
  'removeManagedSpecsForProject',
  'computeManagedSpecsEtag',
  'buildLiveManagedProcessesBlock',
  'runHealthcheck',
  'waitForFirstHealth',
]

const dropIns = {}
for (const name of DROP_INS) dropIns[name] = (...args) => instance()[name](...args)

module.exports = {
  MANAGED_SPAWN_FILENAME,
  MANAGED_LOGS_DIR,
  INVALID_WORKDIR_REASON_PREFIX,
  HEALTHCHECK_TYPES,
  createManagedSpawn,
  ...dropIns,
}
