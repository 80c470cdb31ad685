// Types of node/supervisor.js (the JavaScript half of keel's replenishing supervisor).
// The option and view shapes are generated from keel-core's serde types into types.d.ts.
import type { ActionsRunnerOptions, StatusEvent, StatusSnapshot, SupervisorOptions } from './types'

/** Where a cycle step runs. */
export interface CycleContext {
  /** The slot (0..pool). */
  slot: number
  /** The slot's working directory (`<workDir>/slot-<i>`), when `workDir` is set. */
  workDir?: string
  /** Aborted once the supervisor shuts down: stop the worker and return. */
  signal: AbortSignal
}

/**
 * How a run ended: an exit code, a boolean (`true` = 0), nothing (= 0), or the
 * reference's `RunnerExitResult` shape.
 */
export type RunResult =
  | number
  | boolean
  | void
  | null
  | { exitCode?: number | null; signal?: NodeJS.Signals | number | null; ok?: boolean }

/** `new Supervisor(options)`: the cycle's functions plus any SupervisorOptions field. */
export interface SupervisorCycleOptions<TReg = unknown> extends Partial<SupervisorOptions> {
  /** Obtain a registration; a throw or rejection is a failed registration (backoff). */
  register: (ctx: CycleContext) => Promise<TReg> | TReg
  /** Run the worker until it ends; a throw or rejection is a failed run. */
  run: (registration: TReg, signal: AbortSignal, ctx: CycleContext) => Promise<RunResult> | RunResult
  /** Called after every run (and for a registration made while shutting down). */
  cleanup?: (registration: TReg, ctx: CycleContext) => Promise<void> | void
  /** Every status change (`online`, `registering`, `running`, `backing-off`, `degraded`, `offline`). */
  onStatus?: (event: StatusEvent) => void
}

/** What `start()` / `stop()` resolve with once the supervisor has drained. */
export interface DrainReport {
  /** The exit code of a clean drain: 0. */
  exitCode: 0
  /** `signal` when SIGTERM/SIGINT stopped it (with `installSignalHandlers`). */
  reason: 'requested' | 'signal'
  /** The signal number, when one stopped it. */
  signal: number | null
  /** Cycles started, over all slots. */
  cycles: number
  /** A run did not return within the stop grace + 2 s and was abandoned. */
  forced: boolean
}

/** The replenishing supervisor: register → run → again, until stop(). */
export declare class Supervisor<TReg = unknown> {
  constructor(options: SupervisorCycleOptions<TReg>)
  /** Start; resolves with the drain report once stopped. Call once. */
  start(): Promise<DrainReport>
  /** Request shutdown (idempotent): a backoff wakes at once, the run's signal aborts. */
  shutdown(): void
  /** Shut down and resolve once drained. */
  stop(): Promise<DrainReport>
  /** The drain promise (`undefined` before start()). */
  readonly done: Promise<DrainReport> | undefined
  /** The JSON status snapshot. */
  status(): StatusSnapshot
}

/** `startActionsRunner(options)`. */
export interface StartActionsRunnerOptions
  extends Pick<ActionsRunnerOptions, 'runnerDir' | 'url'>,
    Partial<Omit<ActionsRunnerOptions, 'runnerDir' | 'url'>> {
  /** A fresh registration token each call (a string, or the reference's `{ token }`). */
  fetchRunnerToken: () => Promise<string | { token: string }> | string | { token: string }
  /** Every status change. */
  onStatus?: (event: StatusEvent) => void
  /** The supervisor's options (backoff, pool, signals, …). */
  supervisor?: Partial<SupervisorOptions>
}

/** Keep an ephemeral actions/runner registered and running; returns the started supervisor. */
export declare function startActionsRunner(options: StartActionsRunnerOptions): Supervisor<never>
