// Package types: the generated index.d.ts plus the hand-written JavaScript parts.
export * from './index'
export { createRedactStream, RedactStream, type RedactStreamOptions } from './redact-stream'
export {
  JobRegistry,
  NO_TOOL_WINDOW,
  killChildProcess,
  killProcessTree,
  loadRunnerLimits,
  log,
  runCommand,
  spawnDetached,
} from './jobs'
export {
  Supervisor,
  startActionsRunner,
  type CycleContext,
  type DrainReport,
  type RunResult,
  type StartActionsRunnerOptions,
  type SupervisorCycleOptions,
} from './supervisor'
export { ensureExitCauseWatcher } from './exit-cause'
export { runTurn, turnSession, type RunTurnOptions } from './turns'
export { ToolSilenceWatchdog, type ToolSilenceDeps } from './tool-silence'
export { createManagedSpawn, type ManagedSpawn, type ManagedSpawnFactoryOptions } from './managed-spawn'
export { serveJobs, type ServeJobsOptions, type JobServer } from './serve-jobs'
