'use strict'
// Replenishing supervisor, JavaScript half: `new Supervisor({ register, run, cleanup,
// onStatus, ...SupervisorOptions })` and `startActionsRunner({ ...ActionsRunnerOptions,
// fetchRunnerToken, onStatus, supervisor })`.
//
// Thin by design. The loop, its backoff (capped exponential with jitter, stable-run
// reset, burst limit), the status, the drain and the actions/runner cycle live in
// keel-core behind SupervisorNative (node/src/supervisor.rs), on one keel thread per
// started supervisor. This file only calls the cycle's async functions when keel asks
// (`host(kind, id, payload)`), answers with the result once their promise settles, hands
// status events to `onStatus`, aborts the cycle's AbortSignal on shutdown, and installs
// SIGTERM/SIGINT listeners when asked.

const os = require('node:os')
const { SupervisorNative } = require('./index.js')

const { codes, keelError, typeName } = require('./errors.js')

/** What a thrown value says (never throws itself; redacted by keel before it is shown). */
function errorText(e) {
  try {
    if (e instanceof Error) {
      const code = typeof e.code === 'string' ? ` [${e.code}]` : ''
      return `${e.name}: ${e.message}${code}`
    }
    return String(e)
  } catch {
    return 'a value that cannot be shown'
  }
}

// Core's wording for a value that is not an options object.
function checkObject(what, v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    const t = typeName(v)
    const got = t === 'null' || t === 'undefined' ? t : /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`
    throw keelError(TypeError, codes.INVALID_ARGUMENT, `${what} is not an object (got ${got})`)
  }
}

function checkFunction(what, v, required) {
  if (v === undefined && !required) return undefined
  if (typeof v !== 'function') {
    throw keelError(TypeError, codes.INVALID_ARGUMENT, `${what} must be a function (got ${typeName(v)})`)
  }
  return v
}

const SIGNALS = os.constants.signals
const kInternal = Symbol('keel.supervisor.internal')

/**
 * How a `run()` result becomes an outcome: `undefined`/`null`/`true` exit 0, `false`
 * exit 1, a number is the exit code, `{ exitCode, signal, ok }` (the reference's
 * `RunnerExitResult`; `signal` a name or a number). Anything else is a failed run.
 */
function outcome(r) {
  if (r === undefined || r === null || r === true) return { exitCode: 0, signal: null }
  if (r === false) return { exitCode: 1, signal: null }
  if (typeof r === 'number') {
    if (Number.isInteger(r) && r >= -2147483648 && r <= 2147483647) return { exitCode: r, signal: null }
    return { error: `run() resolved to a number that is not an exit code [${codes.INVALID_ARGUMENT}]` }
  }
  if (typeof r === 'object' && !Array.isArray(r)) {
    let exitCode = r.exitCode ?? null
    let signal = r.signal ?? null
    if (exitCode !== null && !(Number.isInteger(exitCode) && Math.abs(exitCode) <= 2147483647)) {
      return { error: `run() result exitCode must be an integer or null (got ${typeName(exitCode)}) [${codes.INVALID_ARGUMENT}]` }
    }
    if (typeof signal === 'string') {
      const n = SIGNALS[signal]
      if (n === undefined) return { error: `run() result signal is not a known signal name [${codes.INVALID_ARGUMENT}]` }
      signal = n
    } else if (signal !== null && !(Number.isInteger(signal) && signal > 0 && signal < 128)) {
      return { error: `run() result signal must be a signal name or number (got ${typeName(signal)}) [${codes.INVALID_ARGUMENT}]` }
    }
    if (exitCode === null && signal === null && typeof r.ok === 'boolean') exitCode = r.ok ? 0 : 1
    return { exitCode, signal }
  }
  return {
    error: `run() must resolve to an exit code, a boolean, undefined or { exitCode, signal } (got ${typeName(r)}) [${codes.INVALID_ARGUMENT}]`,
  }
}

/**
 * The replenishing supervisor: `register()` → `run(registration, signal)` → again, until
 * `stop()` (or SIGTERM/SIGINT with `installSignalHandlers`), backing off on failure; a
 * throwing or rejecting callback is a failed registration or run, never a crash.
 */
class Supervisor {
  #native
  #cb
  #controller = new AbortController()
  #regs = new Map()
  #done = undefined
  #settle = undefined
  #signalHandler = undefined
  #stopped = false

  /**
   * @param {object} options `register(ctx)` and `run(registration, signal, ctx)` (async
   *   functions), optional `cleanup(registration, ctx)` and `onStatus(event)`, and any
   *   `SupervisorOptions` field (`backoffBaseMs`, `backoffMaxMs`, `jitter`, …).
   */
  constructor(options, native) {
    if (options === kInternal) {
      this.#native = native.native
      this.#cb = native.callbacks
      return
    }
    checkObject('options', options)
    const cb = {
      register: checkFunction('options.register', options.register, true),
      run: checkFunction('options.run', options.run, true),
      cleanup: checkFunction('options.cleanup', options.cleanup, false),
      onStatus: checkFunction('options.onStatus', options.onStatus, false),
    }
    this.#native = SupervisorNative.create(options)
    this.#cb = cb
  }

  /**
   * Start replenishing. Resolves with the drain report (`{ exitCode: 0, reason, signal,
   * cycles, forced }`) once the supervisor has stopped; call once.
   */
  start() {
    if (this.#done !== undefined || this.#stopped) {
      return Promise.reject(
        keelError(Error, codes.SUPERVISOR_ALREADY_RUNNING, 'the supervisor is already running or has already run'),
      )
    }
    this.#done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject }
    })
    // A failure is reported through the promise and the final `offline` status; an
    // unobserved one must not take the process down.
    this.#done.catch(() => {})
    if (this.#native.installSignalHandlers) {
      this.#signalHandler = (name) => {
        this.#native.shutdown(SIGNALS[name])
        this.#abort(`received ${name}`)
      }
      process.on('SIGTERM', this.#signalHandler)
      process.on('SIGINT', this.#signalHandler)
    }
    try {
      this.#native.start((kind, id, payload) => this.#host(kind, id, payload))
    } catch (e) {
      this.#removeSignalHandlers()
      this.#settle.reject(e)
    }
    return this.#done
  }

  /** Request shutdown: a backoff wakes at once, a run's signal aborts. Idempotent. */
  shutdown() {
    this.#native.shutdown()
    this.#abort('supervisor shutting down')
  }

  /** Shut down and resolve with the drain report once drained. */
  stop() {
    this.shutdown()
    if (this.#done === undefined) {
      this.#stopped = true
      return Promise.resolve({ exitCode: 0, reason: 'requested', signal: null, cycles: 0, forced: false })
    }
    return this.#done
  }

  /** The drain promise (`undefined` before `start()`). */
  get done() {
    return this.#done
  }

  /** The status snapshot (`{ version, status, startedAt, at, ready, slots }`). */
  status() {
    return JSON.parse(this.#native.status())
  }

  #abort(why) {
    if (!this.#controller.signal.aborted) this.#controller.abort(new Error(why))
  }

  #removeSignalHandlers() {
    if (this.#signalHandler) {
      process.removeListener('SIGTERM', this.#signalHandler)
      process.removeListener('SIGINT', this.#signalHandler)
      this.#signalHandler = undefined
    }
  }

  // Called by keel (through a threadsafe function) for every step; never throws.
  #host(kind, id, payload) {
    try {
      const p = JSON.parse(payload)
      switch (kind) {
        case 'register':
          this.#register(id, p)
          break
        case 'run':
          this.#run(id, p)
          break
        case 'token':
          this.#token(id)
          break
        case 'status':
          this.#status(p)
          break
        case 'drained':
          this.#removeSignalHandlers()
          this.#abort('supervisor stopped')
          this.#settle.resolve(p)
          break
        case 'failed':
          this.#removeSignalHandlers()
          this.#abort('supervisor stopped')
          this.#settle.reject(keelError(Error, p.code, p.message))
          break
      }
    } catch {
      // A bug here must not become an uncaught exception inside a threadsafe call.
    }
  }

  #ctx(p) {
    return { slot: p.slot, workDir: p.workDir ?? undefined, signal: this.#controller.signal }
  }

  async #register(id, p) {
    const ctx = this.#ctx(p)
    let reg
    try {
      reg = await this.#cb.register(ctx)
    } catch (e) {
      this.#native.completeRegister(id, errorText(e))
      return
    }
    this.#regs.set(id, reg)
    if (!this.#native.completeRegister(id, null)) {
      // Nobody waits for it any more (shutdown during the registration): release it.
      this.#regs.delete(id)
      await this.#cleanup(reg, ctx)
    }
  }

  async #cleanup(reg, ctx) {
    if (!this.#cb.cleanup) return null
    try {
      await this.#cb.cleanup(reg, ctx)
      return null
    } catch (e) {
      return `cleanup() failed: ${errorText(e)}`
    }
  }

  async #run(id, p) {
    const ctx = this.#ctx(p)
    const reg = this.#regs.get(p.registration)
    this.#regs.delete(p.registration)
    let result
    let error = null
    try {
      result = await this.#cb.run(reg, ctx.signal, ctx)
    } catch (e) {
      error = errorText(e)
    }
    const cleanupError = await this.#cleanup(reg, ctx)
    if (error === null && cleanupError !== null) error = cleanupError
    if (error !== null) {
      this.#native.completeRun(id, error, null, null)
      return
    }
    const o = outcome(result)
    if (o.error) this.#native.completeRun(id, o.error, null, null)
    else this.#native.completeRun(id, null, o.exitCode, o.signal)
  }

  async #token(id) {
    try {
      let t = await this.#cb.fetchRunnerToken()
      if (t !== null && typeof t === 'object' && typeof t.token === 'string') t = t.token
      if (typeof t !== 'string') {
        this.#native.completeToken(id, `fetchRunnerToken() must resolve to a string or { token } (got ${typeName(t)}) [${codes.INVALID_ARGUMENT}]`, null)
        return
      }
      this.#native.completeToken(id, null, t)
    } catch (e) {
      this.#native.completeToken(id, errorText(e), null)
    }
  }

  #status(ev) {
    const f = this.#cb.onStatus
    if (!f) return
    try {
      const r = f(ev)
      if (r && typeof r.then === 'function') r.then(undefined, () => {})
    } catch {
      // A throwing status listener changes nothing.
    }
  }
}

/**
 * Keep an ephemeral GitHub Actions runner registered and running (core's
 * ActionsRunnerCycle): every cycle a fresh token from `fetchRunnerToken()`, stale
 * registration files removed, `config.sh --ephemeral …` (healed once on "already
 * configured", retried once with a fresh token), then `run.sh` in its own process tree.
 * Returns the started Supervisor (`stop()`, `status()`, `done`).
 */
function startActionsRunner(options) {
  checkObject('options', options)
  const callbacks = {
    fetchRunnerToken: checkFunction('options.fetchRunnerToken', options.fetchRunnerToken, true),
    onStatus: checkFunction('options.onStatus', options.onStatus, false),
  }
  const native = SupervisorNative.actionsRunner(options)
  const sup = new Supervisor(kInternal, { native, callbacks })
  sup.start()
  return sup
}

module.exports = { Supervisor, startActionsRunner }
