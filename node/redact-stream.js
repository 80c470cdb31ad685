'use strict'
// createRedactStream(): a stream.Transform over the native StreamRedactor.
// Thin by design: all redaction (and the bounded hold-back that keeps a secret
// split across chunks from escaping) happens in keel-core; this file only adapts
// the napi class to Node's stream API and adds the optional idle flush timer.

const { Transform } = require('node:stream')
const { Redactor, StreamRedactor } = require('./index.js')

const REDACTOR_OPTION_KEYS = ['mask', 'minSecretLength', 'disableRules', 'customRules', 'secrets', 'jsonSecrets']

const { codes, keelError, typeName } = require('./errors.js')

class RedactStream extends Transform {
  #native
  #flushIntervalMs
  #timer = null

  /**
   * @param {StreamRedactor} native
   * @param {number | undefined} flushIntervalMs
   */
  constructor(native, flushIntervalMs) {
    super()
    this.#native = native
    this.#flushIntervalMs = flushIntervalMs
  }

  /** Bytes written but not yet emitted (held back because they may start a secret). */
  get pending() {
    return this.#native.pending
  }

  _transform(chunk, encoding, callback) {
    let out
    try {
      out = this.#native.write(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk)
    } catch (err) {
      callback(err)
      return
    }
    if (out.length > 0) this.push(out)
    this.#armTimer()
    callback()
  }

  _flush(callback) {
    this.#clearTimer()
    let out
    try {
      out = this.#native.finish()
    } catch (err) {
      callback(err)
      return
    }
    if (out.length > 0) this.push(out)
    callback()
  }

  _destroy(err, callback) {
    this.#clearTimer()
    callback(err)
  }

  // Idle flush: when no input arrives for flushIntervalMs, emit every held-back
  // byte that cannot be the start of a secret. The timer is unref'd so it never
  // keeps the process alive, and it never fires after the stream ended.
  #armTimer() {
    if (this.#flushIntervalMs === undefined) return
    this.#clearTimer()
    if (this.#native.pending === 0) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      if (this.destroyed || this.writableEnded) return
      let out
      try {
        out = this.#native.flush()
      } catch (err) {
        this.destroy(err)
        return
      }
      if (out.length > 0) this.push(out)
    }, this.#flushIntervalMs)
    this.#timer.unref()
  }

  #clearTimer() {
    if (this.#timer !== null) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
  }
}

/**
 * A Transform that redacts what flows through it. Output equals one-shot
 * redaction of everything written, however the input is chunked.
 *
 * Uses `options.redactor` when given, else a new Redactor built from the
 * Redactor options in `options` when any is present, else the process-wide
 * redactor (so secrets registered with registerKnownSecrets apply).
 */
function createRedactStream(options) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw keelError(TypeError, codes.INVALID_ARGUMENT, `options must be an object (got ${typeName(options)})`)
  }
  const { redactor, flushIntervalMs, ...redactorOptions } = options
  if (flushIntervalMs !== undefined && flushIntervalMs !== null) {
    if (typeof flushIntervalMs !== 'number') {
      throw keelError(
        TypeError,
        codes.INVALID_ARGUMENT,
        `options.flushIntervalMs must be a number (got ${typeName(flushIntervalMs)})`,
      )
    }
    if (!Number.isFinite(flushIntervalMs) || flushIntervalMs <= 0 || flushIntervalMs > 2 ** 31 - 1) {
      throw keelError(
        RangeError,
        codes.INVALID_OPTION,
        `options.flushIntervalMs must be a positive number of milliseconds (got ${flushIntervalMs})`,
      )
    }
  }
  const hasRedactorOptions = REDACTOR_OPTION_KEYS.some((k) => options[k] !== undefined)
  let native
  if (redactor !== undefined && redactor !== null) {
    if (!(redactor instanceof Redactor)) {
      throw keelError(TypeError, codes.INVALID_ARGUMENT, `options.redactor must be a Redactor (got ${typeName(redactor)})`)
    }
    if (hasRedactorOptions) {
      throw keelError(
        TypeError,
        codes.INVALID_ARGUMENT,
        `options.redactor cannot be combined with ${REDACTOR_OPTION_KEYS.filter((k) => options[k] !== undefined).join(', ')}`,
      )
    }
    native = redactor.stream()
  } else if (hasRedactorOptions) {
    native = new Redactor(redactorOptions).stream()
  } else {
    native = new StreamRedactor()
  }
  return new RedactStream(native, flushIntervalMs ?? undefined)
}

module.exports = { createRedactStream, RedactStream }
