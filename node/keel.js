'use strict'
// Package entry (CommonJS): the generated napi-rs binding (index.js) plus the
// pieces written in JavaScript. keel.mjs re-exports the same names for `import`.
const native = require('./index.js')
const { createRedactStream, RedactStream } = require('./redact-stream.js')
const jobs = require('./jobs.js')

// The native halves of jobs.js are not part of the API.
const {
  JobRegistry: _nativeJobRegistry,
  JobRegistryNative: _jobRegistryNative,
  runCommandNative: _runCommandNative,
  killProcessTreeNative: _killProcessTreeNative,
  loadRunnerLimitsNative: _loadRunnerLimitsNative,
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
}
