// Types of node/exit-cause.js (the JavaScript half of keel's exit-cause recorder).
// The option and view shapes are generated from keel-core's serde types into types.d.ts.
import type { EnsureOutcome, ExitCauseOptions } from './types'

/**
 * Ensure one detached watcher process records the dirty death of `options.pid` (a
 * signal, a non-zero exit, or an unknown status — not a death after
 * `disarmExitCauseWatcher`): one `ev=server-exit` logfmt line in the exit log
 * (`<stateDir>/exits.log` by default) and a forensics snapshot (memory, cgroup OOM
 * counters, kernel OOM lines, top RSS processes, crash files). Idempotent: a live
 * watcher of the same process is reported (`state: 'already'`), not doubled. The
 * watcher is never the service's parent: if it dies, the service runs on.
 *
 * Without `watcherCommand`, the watcher is this Node (`process.execPath`) running the
 * package's `exit-cause-watcher.js`. Rejects with `code` `KEEL_INVALID_ARGUMENT`
 * (TypeError), `KEEL_INVALID_OPTION` (RangeError), `KEEL_EXIT_CAUSE_NOT_RUNNING`,
 * `KEEL_EXIT_CAUSE_WATCHER_FAILED`, `KEEL_MALFORMED_STATE`, `KEEL_INSECURE_FILE`,
 * `KEEL_LOCK_TIMEOUT` or `KEEL_IO`.
 */
export function ensureExitCauseWatcher(options: ExitCauseOptions): Promise<EnsureOutcome>

/** The watcher program used when `options.watcherCommand` is absent. */
export const DEFAULT_WATCHER_COMMAND: ReadonlyArray<string>
