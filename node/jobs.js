'use strict'
// Job watchdogs, JavaScript half: the reference's JobRegistry class, runCommand,
// killProcessTree, loadRunnerLimits, killChildProcess and spawnDetached.
//
// Thin by design. The registry, its watchdogs (inactivity, max duration, tool silence,
// cold start), every view, message and redaction live in keel-core behind the native
// JobRegistryNative (node/src/jobs.rs). This file only calls `run(job, opts)`, forwards
// each `opts` callback to one native method (addressing the job by its slot), turns the
// work's promise into complete/fail, and aborts the job's AbortController when keel
// says so. Per job it holds one small record, its AbortController and the `opts`
// closures; no native function is created per job.

const {
  JobRegistryNative,
  runCommandNative,
  killProcessTreeNative,
  loadRunnerLimitsNative,
  redactSecrets,
} = require('./index.js')

const { codes, keelError, typeName } = require('./errors.js')

const INVALID_ARGUMENT = codes.INVALID_ARGUMENT

const json = (v) => JSON.stringify(v === undefined ? null : v)

// ---- logging (the reference's logger: JSON lines, warn/error on stderr) ----------

function emit(level, msg, bound, fields) {
  const line = redactSecrets(JSON.stringify({ ...bound, ...fields, level, time: new Date().toISOString(), msg }))
  if (level === 'error' || level === 'warn') process.stderr.write(`${line}\n`)
  else process.stdout.write(`${line}\n`)
}

function makeLogger(bound) {
  return {
    debug: (msg, fields) => emit('debug', msg, bound, fields),
    info: (msg, fields) => emit('info', msg, bound, fields),
    warn: (msg, fields) => emit('warn', msg, bound, fields),
    error: (msg, fields) => emit('error', msg, bound, fields),
    child: (extra) => makeLogger({ ...bound, ...extra }),
  }
}

/** keel's process-wide logger (redacted JSON lines), the default of `killChildProcess`. */
const log = makeLogger({})

// ---- the registry ------------------------------------------------------------------

/** The inert window of the reference (`NO_TOOL_WINDOW`): tool silence is off. */
const NO_TOOL_WINDOW = Object.freeze({ toolCompleted() {}, close() {} })

/** Slots per activity page (node/src/jobs.rs PAGE). */
const PAGE = 1024

/** One running job's JavaScript state. */
class Job {
  constructor(native, slot, id, page, bound) {
    this.native = native
    this.slot = slot
    this.id = id
    this.page = page
    /** The fields `opts.log` binds (undefined: just `jobId`, made on first use). */
    this.bound = bound
    /** The callbacks of `opts`, made on first read (the object too). */
    this.fns = undefined
    this.done = false
    // Made on first use: work that never reads opts.signal costs no AbortController (the
    // reason is still recorded, for a signal read after the abort).
    this.controller = undefined
    this.aborted = undefined
  }

  get signal() {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.aborted !== undefined) this.controller.abort(new Error(this.aborted))
    }
    return this.controller.signal
  }

  abort(message) {
    if (this.done || this.aborted !== undefined) return
    this.aborted = message
    this.controller?.abort(new Error(message))
  }

  /** The reference's RunOptions for this job (see OPTIONS). */
  options() {
    const opts = {}
    Object.defineProperty(opts, kJob, { value: this })
    return Object.defineProperties(opts, OPTIONS)
  }
}

const kJob = Symbol('keel.job')

/**
 * The RunOptions properties, shared by every job: each is an accessor whose getter makes
 * the job's callback on first read (and keeps it), so a job costs one small object
 * whatever it uses, and only the callbacks its work touches are ever created. They are
 * own, enumerable and configurable, so `{ ...opts }` and `const { onActivity } = opts`
 * work as with the reference's plain object, and assigning one replaces it.
 */
const OPTIONS = {}
function option(name, make) {
  OPTIONS[name] = {
    enumerable: true,
    configurable: true,
    get() {
      const job = this[kJob]
      return ((job.fns ??= {})[name] ??= make(job))
    },
    set(value) {
      Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true })
    },
  }
}
OPTIONS.signal = {
  enumerable: true,
  configurable: true,
  get() {
    return this[kJob].signal
  },
  set(value) {
    Object.defineProperty(this, 'signal', { value, writable: true, enumerable: true, configurable: true })
  },
}
// onActivity is the hot call (every chunk of agent output): it stamps the job's slot of a
// Float64Array keel's watchdog reads, instead of calling native code.
option('onActivity', (job) => {
  const page = job.page
  const at = job.slot & (PAGE - 1)
  return () => {
    if (!job.done) page[at] = performance.now()
  }
})
option('onPhase', (job) => (phase) => {
  if (!job.done) job.native.phase(job.slot, String(phase))
})
option('onProgress', (job) => (progress) => {
  if (!job.done) job.native.progress(job.slot, json(progress))
})
option('onSpan', (job) => (span) => {
  if (!job.done) job.native.span(job.slot, json(span))
})
option('onFollowUp', (job) => (items) => {
  if (!job.done) job.native.followUp(job.slot, json(items))
})
option('onCallMetric', (job) => (call) => {
  if (job.done) return
  const seq = job.native.metric(job.slot, json(call))
  // The reference stamps the caller's object, so its result carries the same seq.
  if (call !== null && typeof call === 'object') {
    call.seq = seq
    call.phase = job.native.currentPhase(job.slot)
  }
})
option('currentPhase', (job) => () => (job.done ? 'done' : job.native.currentPhase(job.slot)))
option('beginToolWindow', (job) => () => {
  if (job.done) return NO_TOOL_WINDOW
  const id = job.native.openWindow(job.slot)
  if (id === 0) return NO_TOOL_WINDOW
  return {
    toolCompleted: () => {
      if (!job.done) job.native.windowCompleted(job.slot, id)
    },
    close: () => {
      if (!job.done) job.native.closeWindow(job.slot, id)
    },
  }
})
option('log', (job) => makeLogger(job.bound ?? { jobId: job.id }))

/**
 * Tracks background jobs by id, each bounded by keel's inactivity, max-duration,
 * tool-silence and cold-start watchdogs (which run on keel's thread, not on the event
 * loop) and aborted through its AbortSignal. Names, arguments and the JobView shape
 * follow the reference's JobRegistry.
 */
/** Each JobRegistry's native half, for serveJobs (serve-jobs.js); not part of the API. */
const NATIVES = new WeakMap()

class JobRegistry {
  #native
  #run
  #describe
  /** Running jobs by id (for aborts); a job leaves when its work settles. */
  #jobs = new Map()
  /** Activity pages (Float64Arrays over keel's memory), by slot / PAGE. */
  #pages = []

  /**
   * @param limits the reference's RunnerLimits (`loadRunnerLimits()` passes as is), plus
   *   keel's retentionMs, abortSettleMs and cancelGraceMs
   * @param run the unit of work, `run(job, opts)`
   * @param describe non-secret fields bound on `opts.log` (`describe(job)`)
   */
  constructor(limits, run, describe) {
    if (typeof run !== 'function') {
      throw keelError(TypeError, INVALID_ARGUMENT, `run must be a function (got ${typeName(run)})`)
    }
    if (describe !== undefined && describe !== null && typeof describe !== 'function') {
      throw keelError(TypeError, INVALID_ARGUMENT, `describe must be a function (got ${typeName(describe)})`)
    }
    this.#run = run
    this.#describe = describe ?? undefined
    this.#native = new JobRegistryNative(limits, (id, message) => this.#onEvent(id, message), performance.now())
    NATIVES.set(this, this.#native)
  }

  #onEvent(id, message) {
    const job = this.#jobs.get(id)
    if (job === undefined) return
    if (message !== null && message !== undefined) {
      job.abort(message)
    } else {
      // keel settled the job without its work (it ignored its signal past the cancel
      // grace): forget it; a late settle of the work is ignored.
      this.#finish(job)
      this.#native.release(job.slot)
    }
  }

  #finish(job) {
    job.done = true
    if (this.#jobs.get(job.id) === job) this.#jobs.delete(job.id)
  }

  /** Start the job for `id`, or return the existing one (idempotent re-attach). */
  start(id, job) {
    const existing = this.#native.peek(id)
    if (existing !== undefined && existing !== null) return JSON.parse(existing)
    // describe() runs before anything exists: when it throws, nothing is left behind and
    // a retry starts the job afresh.
    const bound = this.#describe !== undefined ? { jobId: id, ...this.#describe(job) } : undefined
    const slot = this.#native.begin(id)
    if (slot < 0) return JSON.parse(this.#native.peek(id))
    const p0 = slot >>> 10
    const page = (this.#pages[p0] ??= this.#native.page(p0))
    const rec = new Job(this.#native, slot, id, page, bound)
    this.#jobs.set(id, rec)
    let p
    try {
      p = Promise.resolve(this.#run(job, rec.options()))
    } catch (e) {
      p = Promise.reject(e)
    }
    p.then(
      (value) => {
        if (rec.done) return
        let text
        try {
          text = json(value)
        } catch (e) {
          this.#settleFailed(rec, `job result is not JSON-serializable: ${e && e.message}`, undefined)
          return
        }
        this.#finish(rec)
        this.#native.complete(slot, text)
      },
      (e) => {
        if (rec.done) return
        let message = 'job failed'
        let cause
        try {
          message = e instanceof Error ? e.message : String(e)
          if (e !== null && typeof e === 'object' && typeof e.failureCause === 'string') cause = e.failureCause
        } catch {}
        this.#settleFailed(rec, String(message), cause)
      },
    )
    // Like the reference, the view reflects what the work did synchronously.
    return JSON.parse(this.#native.peek(id))
  }

  #settleFailed(rec, message, cause) {
    this.#finish(rec)
    this.#native.fail(rec.slot, message, cause)
  }

  /**
   * Poll the job — and drain its spans, follow-ups and call metrics (drain-on-read).
   * `undefined` for an unknown or evicted id.
   */
  get(id) {
    const view = this.#native.get(id)
    return view === undefined || view === null ? undefined : JSON.parse(view)
  }

  /**
   * Abort one job and resolve with the state it settled in (`running` if it did not
   * settle within the abort-settle window, `undefined` for an unknown id).
   */
  abort(id, reason) {
    const settled = this.#native.abort(id, reason)
    this.#abortLocal(this.#jobs.get(id))
    return settled.then((s) => s ?? undefined)
  }

  /** Abort every running job (without waiting); returns how many were running. */
  abortAll(reason) {
    const n = this.#native.abortAll(reason)
    for (const job of this.#jobs.values()) this.#abortLocal(job)
    return n
  }

  // The signal fires now rather than after a trip through keel's thread.
  #abortLocal(job) {
    if (job === undefined || job.done) return
    const message = this.#native.abortMessage(job.slot)
    if (message !== undefined && message !== null) job.abort(message)
  }

  /** How many jobs are running. */
  runningCount() {
    return this.#native.runningCount()
  }
}

// ---- runCommand / killProcessTree ---------------------------------------------------

/** A promise settled by keel's thread through `dispatch(kind, payload)`. */
function pending(onStdout, onStderr) {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  const dispatch = (kind, payload) => {
    switch (kind) {
      case 'stdout':
        if (typeof onStdout === 'function') onStdout(payload)
        break
      case 'stderr':
        if (typeof onStderr === 'function') onStderr(payload)
        break
      case 'resolve':
        resolve(JSON.parse(payload))
        break
      default: {
        const { code, message } = JSON.parse(payload)
        reject(keelError(Error, code, message))
      }
    }
  }
  return { promise, dispatch }
}

function checkCallback(options, name) {
  if (options === null || typeof options !== 'object') return undefined
  const f = options[name]
  if (f !== undefined && typeof f !== 'function') {
    throw keelError(TypeError, INVALID_ARGUMENT, `options.${name} must be a function (got ${typeName(f)})`)
  }
  return f
}

/**
 * Run a command under its own watchdogs and resolve with its result (see index.d.ts,
 * CommandResult); its redacted output goes to `onStdout` / `onStderr`, whole lines, in
 * order, before the promise settles.
 */
function runCommand(options) {
  const onStdout = checkCallback(options, 'onStdout')
  const onStderr = checkCallback(options, 'onStderr')
  const { promise, dispatch } = pending(onStdout, onStderr)
  runCommandNative(options, dispatch)
  return promise
}

/**
 * Terminate `pid` and, when it leads a process group, every process in that group:
 * SIGTERM, then SIGKILL after `graceMs` (default 5000). Resolves with
 * `{ escalated, groupCleared }`.
 */
function killProcessTree(pid, graceMs) {
  const { promise, dispatch } = pending()
  killProcessTreeNative(pid, graceMs, dispatch)
  return promise
}

// ---- the reference's runner.ts / process.ts helpers ----------------------------------

/**
 * The reference's `loadRunnerLimits(env = process.env)`: `JOB_MAX_DURATION_MS`,
 * `JOB_INACTIVITY_MS`, `JOB_COLD_START_MS`, `JOB_TOOL_SILENCE_MS` with its defaults (the
 * policy is keel-core's RunnerLimits).
 */
function loadRunnerLimits(env = process.env) {
  return JSON.parse(loadRunnerLimitsNative(env))
}

/** How long `killChildProcess` waits after SIGTERM by default (the reference's). */
const KILL_GRACE_MS = 5_000

/**
 * The reference's `killChildProcess(child, graceMs = 5000, logger = log)` on a Node
 * ChildProcess: SIGTERM, then SIGKILL after `graceMs` for whatever has not exited, with
 * the reference's warning on escalation. A live child with a pid goes through keel's
 * killProcessTree (its whole group, escalation timed in keel); one without (not yet
 * spawned, or already exited) gets the reference's signals on the child and its group,
 * with an unref'd timer. Safe to call more than once.
 */
function killChildProcess(child, graceMs = KILL_GRACE_MS, logger = log) {
  const live = child.pid !== undefined && child.exitCode === null && child.signalCode === null
  if (live && process.platform !== 'win32') {
    killProcessTree(child.pid, graceMs).then(
      (r) => {
        if (r.escalated) logger.warn('killChildProcess: process ignored SIGTERM, escalating to SIGKILL', { graceMs })
      },
      () => signalTree(child, 'SIGKILL'),
    )
    return
  }
  signalTree(child, 'SIGTERM')
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) {
      logger.warn('killChildProcess: process ignored SIGTERM, escalating to SIGKILL', { graceMs })
      signalTree(child, 'SIGKILL')
    }
  }, graceMs).unref()
}

function signalTree(child, signal) {
  if (child.pid !== undefined && process.platform !== 'win32') {
    try {
      process.kill(-child.pid, signal)
      return
    } catch {
      // Not a group leader (or already reaped): signal the child itself.
    }
  }
  child.kill(signal)
}

/**
 * The reference's `spawnDetached`: whether to spawn an agent CLI as its own process-group
 * leader so `killChildProcess` reaches its grandchildren (POSIX: true).
 */
const spawnDetached = process.platform !== 'win32'

module.exports = {
  NATIVES,
  JobRegistry,
  NO_TOOL_WINDOW,
  killChildProcess,
  killProcessTree,
  loadRunnerLimits,
  log,
  runCommand,
  spawnDetached,
}
