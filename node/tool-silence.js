'use strict'
// The standalone tool-silence watchdog (the reference's `tool-silence.ts` API):
// `new ToolSilenceWatchdog({ windowMs, lastActivityAt, onExpired })`, `open()` returning a
// `ToolProgressWindow` (`toolCompleted()`, `close()`), `stop()`, and `NO_TOOL_WINDOW`.
// Every decision (which window is live, when it is due, whether an elapsed window fires
// or defers because it passed in silence) is keel-core's `ToolSilence`; this file owns
// only the host's timer and callbacks, on the host's clock (`Date.now()`), so the window
// is measured on the same clock as the host's `lastActivityAt()`.
const { ToolSilenceNative } = require('./index.js')
const { NO_TOOL_WINDOW } = require('./jobs.js')
const { codes, keelError, typeName } = require('./errors.js')

/** Longest delay setTimeout honours; a later deadline is re-checked when it passes. */
const MAX_DELAY = 2 ** 31 - 1

function invalid (message) {
  return keelError(TypeError, codes.INVALID_ARGUMENT, message)
}


class ToolSilenceWatchdog {
  #native
  #lastActivityAt
  #onExpired
  #timer

  /**
   * @param {{ windowMs: number, lastActivityAt: () => number | undefined, onExpired: () => void }} deps
   *   `windowMs <= 0` disables the watchdog (every window is inert).
   */
  constructor (deps) {
    if (deps === null || typeof deps !== 'object') {
      throw invalid(`ToolSilenceWatchdog deps must be an object (got ${typeName(deps)})`)
    }
    if (typeof deps.windowMs !== 'number') {
      throw invalid(`ToolSilenceWatchdog deps.windowMs must be a number (got ${typeName(deps.windowMs)})`)
    }
    for (const name of ['lastActivityAt', 'onExpired']) {
      if (typeof deps[name] !== 'function') {
        throw invalid(`ToolSilenceWatchdog deps.${name} must be a function (got ${typeName(deps[name])})`)
      }
    }
    this.#native = new ToolSilenceNative(deps.windowMs)
    this.#lastActivityAt = deps.lastActivityAt
    this.#onExpired = deps.onExpired
  }

  /** Open a window for one agent stream. Returns an inert handle when disabled. */
  open () {
    const id = this.#native.open(Date.now())
    if (id === 0) return NO_TOOL_WINDOW
    this.#arm()
    return {
      toolCompleted: () => {
        if (this.#native.toolCompleted(id, Date.now())) this.#arm()
      },
      close: () => {
        if (this.#native.close(id)) this.#clear()
      },
    }
  }

  /** Disarm for good (the job settled). Safe to call with no window open. */
  stop () {
    this.#native.stop()
    this.#clear()
  }

  #clear () {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm () {
    this.#clear()
    const due = this.#native.dueAt()
    if (due === null || due === undefined) return
    const delay = Math.min(MAX_DELAY, Math.max(0, due - Date.now()))
    this.#timer = setTimeout(() => this.#expire(), delay)
  }

  #expire () {
    this.#timer = undefined
    const last = this.#lastActivity()
    const verdict = this.#native.check(Date.now(), last)
    if (verdict.expired) {
      this.#onExpired()
      return
    }
    this.#arm()
  }

  /** The host's last output time; anything but a finite number counts as "never". */
  #lastActivity () {
    const v = this.#lastActivityAt()
    if (v === undefined || v === null) return null
    if (typeof v === 'number' && Number.isFinite(v)) return v
    process.emitWarning(
      `ToolSilenceWatchdog: lastActivityAt() must return a finite number or undefined ` +
        `(got ${typeName(v)}); treated as no output`,
      { code: codes.INVALID_ARGUMENT })
    return null
  }
}

module.exports = { ToolSilenceWatchdog, NO_TOOL_WINDOW }
