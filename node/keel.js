'use strict'
// Package entry (CommonJS): the generated napi-rs binding (index.js) plus the
// pieces written in JavaScript. keel.mjs re-exports the same names for `import`.
const native = loadNative()
const { createRedactStream, RedactStream } = require('./redact-stream.js')
const jobs = require('./jobs.js')
const supervisor = require('./supervisor.js')
const exitCause = require('./exit-cause.js')
const turns = require('./turns.js')
const toolSilence = require('./tool-silence.js')
const managedSpawn = require('./managed-spawn.js')
const serve = require('./serve-jobs.js')

// The native halves of jobs.js, supervisor.js and turns.js are not part of the API.
const {
  JobRegistry: _nativeJobRegistry,
  JobRegistryNative: _jobRegistryNative,
  runCommandNative: _runCommandNative,
  killProcessTreeNative: _killProcessTreeNative,
  loadRunnerLimitsNative: _loadRunnerLimitsNative,
  SupervisorNative: _supervisorNative,
  ensureExitCauseWatcherNative: _ensureExitCauseWatcherNative,
  TurnNative: _turnNative,
  ToolSilenceNative: _toolSilenceNative,
  ServicesNative: _servicesNative,
  JobServerNative: _jobServerNative,
  serveJobsNative: _serveJobsNative,
  turnSessionNative: _turnSessionNative,
  ...exported
} = native

module.exports = {
  ...exported,
  createRedactStream,
  RedactStream,
  JobRegistry: jobs.JobRegistry,
  NO_TOOL_WINDOW: jobs.NO_TOOL_WINDOW,
  killChildProcess: jobs.killChildProcess,
  killProcessTree: jobs.killProcessTree,
  loadRunnerLimits: jobs.loadRunnerLimits,
  log: jobs.log,
  runCommand: jobs.runCommand,
  spawnDetached: jobs.spawnDetached,
  Supervisor: supervisor.Supervisor,
  startActionsRunner: supervisor.startActionsRunner,
  ensureExitCauseWatcher: exitCause.ensureExitCauseWatcher,
  runTurn: turns.runTurn,
  turnSession: turns.turnSession,
  ToolSilenceWatchdog: toolSilence.ToolSilenceWatchdog,
  createManagedSpawn: managedSpawn.createManagedSpawn,
  serveJobs: serve.serveJobs,
}

// napi-rs's loader blames an npm bug when no compiled addon is found; the usual
// cause is that the package was installed or packed before the addon was built.
function loadNative () {
  try {
    return require('./index.js')
  } catch (e) {
    const { BUILD_HINT, addons } = require('./check-addon.js')
    if (!/Cannot find native binding/.test(String(e && e.message)) || addons(__dirname).length > 0) {
      throw e
    }
    const err = new Error(
      `@keel/core: the compiled addon for ${process.platform}-${process.arch} ` +
        `(keel.<platform>.node) is missing from ${__dirname}; ${BUILD_HINT}`,
      { cause: e })
    throw err
  }
}
