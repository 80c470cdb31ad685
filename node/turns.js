'use strict'
// Turn runner, JavaScript half: `runTurn(options)` → Promise<TurnResult> and
// `turnSession(stateDir, agentName, dbPath?)`.
//
// Thin by design. The turn (lock, store, spawn, stdin, NDJSON, redaction, watchdogs,
// CAS, parent notification) is keel-core's TurnRunner behind TurnNative
// (node/src/turns.rs), on a keel thread. This file only takes out what JSON cannot
// carry (`onEvent`, the AbortSignal), wires the signal to the native abort, hands
// events to `onEvent` and settles the promise.

const { TurnNative, turnSessionNative } = require('./index.js')

const { codes, keelError, typeName } = require('./errors.js')

function isAbortSignal(s) {
  return (
    s !== null &&
    typeof s === 'object' &&
    typeof s.aborted === 'boolean' &&
    typeof s.addEventListener === 'function' &&
    typeof s.removeEventListener === 'function'
  )
}

function takeOut(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    return { onEvent: undefined, signal: undefined }
  }
  const onEvent = options.onEvent ?? undefined
  if (onEvent !== undefined && typeof onEvent !== 'function') {
    throw keelError(TypeError, codes.INVALID_ARGUMENT, `options.onEvent must be a function (got ${typeName(onEvent)})`)
  }
  if (options.signal != null && options.abortSignal != null && options.signal !== options.abortSignal) {
    throw keelError(TypeError, codes.INVALID_ARGUMENT, 'options.signal and options.abortSignal are different signals (give one)')
  }
  const field = options.signal != null ? 'signal' : 'abortSignal'
  const signal = options[field] ?? undefined
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw keelError(TypeError, codes.INVALID_ARGUMENT, `options.${field} must be an AbortSignal (got ${typeName(signal)})`)
  }
  return { onEvent, signal }
}

/**
 * Run one headless agent-CLI turn (Claude Code or Codex) to its end. Options are
 * keel-core's `TurnOptions` plus `onEvent(event)` (every redacted event, in order,
 * before the promise settles) and `signal` (an AbortSignal; `abortSignal`, the
 * reference's name, is accepted too). Bad options throw synchronously (`TypeError`
 * `KEEL_INVALID_ARGUMENT` naming the field, or `RangeError` `KEEL_INVALID_OPTION`). A
 * turn that ran resolves, also when it failed, stalled or was aborted (`finalState`
 * says how it ended); the promise rejects only when no turn could run (lock timeout,
 * store failure, a CLI that cannot be spawned), with a coded Error.
 */
function runTurn(options) {
  const { onEvent, signal } = takeOut(options)
  const native = TurnNative.create(options)
  return new Promise((resolve, reject) => {
    const onAbort = () => native.abort()
    if (signal) {
      if (signal.aborted) native.abort()
      else signal.addEventListener('abort', onAbort, { once: true })
    }
    const settle = () => {
      if (signal) signal.removeEventListener('abort', onAbort)
    }
    native.run(onEvent !== undefined, (kind, payload) => {
      switch (kind) {
        case 'event':
          try {
            onEvent(JSON.parse(payload))
          } catch {
            // A throwing listener never breaks the turn (the reference's event sink is
            // best-effort too).
          }
          break
        case 'resolve':
          settle()
          resolve(JSON.parse(payload))
          break
        default: {
          settle()
          const { code, message } = JSON.parse(payload)
          reject(keelError(Error, code, message))
        }
      }
    })
  })
}

/** An agent's durable session, or `null` when it never ran. */
function turnSession(stateDir, agentName, dbPath) {
  const text = turnSessionNative(stateDir, agentName, dbPath)
  return text === null ? null : JSON.parse(text)
}

module.exports = { runTurn, turnSession }
