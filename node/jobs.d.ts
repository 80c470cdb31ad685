// Types of node/jobs.js (the JavaScript half of keel's job watchdogs). The shapes
// (RunnerLimits, RunOptions, …) are generated from node/src/jobs.rs into index.d.ts; the
// views (JobView, CommandResult, …) from keel-core's own types into types.d.ts.
import type {
  CommandResult,
  JobLogger,
  JobView,
  RunCommandOptions,
  RunnerLimits,
  RunOptions,
  ToolProgressWindow,
} from './index'

/**
 * Tracks background jobs by id, each bounded by keel's inactivity, max-duration,
 * tool-silence and cold-start watchdogs and aborted through its AbortSignal (the
 * reference's JobRegistry).
 */
export declare class JobRegistry<TJob = any, TResult = any> {
  constructor(
    limits: RunnerLimits,
    run: (job: TJob, opts: RunOptions) => Promise<TResult> | TResult,
    describe?: (job: TJob) => Record<string, unknown>,
  )
  /** Start the job for `id`, or return the existing one (idempotent re-attach). */
  start(id: string, job: TJob): JobView<TResult>
  /** Poll the job, draining its spans, follow-ups and call metrics. */
  get(id: string): JobView<TResult> | undefined
  /** Abort one job; resolves with the state it settled in. */
  abort(id: string, reason: string): Promise<'running' | 'done' | 'failed' | undefined>
  /** Abort every running job; returns how many were running. */
  abortAll(reason: string): number
  /** How many jobs are running. */
  runningCount(): number
}

/** The inert tool window (tool silence off). */
export declare const NO_TOOL_WINDOW: ToolProgressWindow

/** keel's process-wide logger (redacted JSON lines). */
export declare const log: JobLogger

/** Run a command under its own watchdogs. */
export declare function runCommand(options: RunCommandOptions): Promise<CommandResult>

/** SIGTERM, then SIGKILL after `graceMs`, for `pid` and its process group. */
export declare function killProcessTree(
  pid: number,
  graceMs?: number,
): Promise<{ escalated: boolean; groupCleared: boolean }>

/** The reference's `loadRunnerLimits(env = process.env)`. */
export declare function loadRunnerLimits(env?: Record<string, string | undefined>): {
  maxDurationMs: number
  inactivityMs: number
  coldStartMs: number
  toolSilenceMs: number
}

/** The reference's `killChildProcess(child, graceMs = 5000, logger = log)`. */
export declare function killChildProcess(
  child: import('node:child_process').ChildProcess,
  graceMs?: number,
  logger?: Pick<JobLogger, 'warn'>,
): void

/** The reference's `spawnDetached` (true on POSIX). */
export declare const spawnDetached: boolean
