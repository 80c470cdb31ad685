// Hand-written types for redact-stream.js (the parts of the package written in
// JavaScript). The native API's types are generated into index.d.ts.
import { Transform } from 'node:stream'
import type { Redactor, RedactorOptions } from './index'

export interface RedactStreamOptions extends RedactorOptions {
  /**
   * Redact with this redactor (it shares its secrets with the stream, including
   * ones added later). Cannot be combined with the RedactorOptions fields.
   * Default: a new Redactor when any RedactorOptions field is given, else the
   * process-wide redactor used by redact()/redactSecrets()/registerKnownSecrets().
   */
  redactor?: Redactor
  /**
   * When no input arrives for this many milliseconds, emit the held-back bytes
   * that cannot be the start of a secret (for interactive output). The timer is
   * unref'd. Default: off (bytes are held until more input or the end).
   */
  flushIntervalMs?: number
}

/** The Transform returned by createRedactStream(). */
export declare class RedactStream extends Transform {
  /** Bytes written but not yet emitted. */
  readonly pending: number
}

/**
 * A Transform that redacts what flows through it; the output equals one-shot
 * redaction of everything written, however it is chunked (a secret split across
 * chunks never escapes). Throws KEEL_INVALID_ARGUMENT / KEEL_INVALID_OPTION and
 * the Redactor constructor's errors.
 */
export declare function createRedactStream(options?: RedactStreamOptions): RedactStream
