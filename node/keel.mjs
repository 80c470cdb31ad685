// Package entry for `import`: the same module as keel.js (CommonJS), with named
// exports listed explicitly. bindings-tests/node checks this list against keel.js.
import keel from './keel.js'

export const {
  CredentialFileStore,
  EnrollmentStore,
  JobRegistry,
  MAX_CAPTURED_OUTPUT_CHARS,
  NO_TOOL_WINDOW,
  RedactStream,
  Redactor,
  StreamRedactor,
  Supervisor,
  captureRedactedOutput,
  createRedactStream,
  disarmExitCauseWatcher,
  doctorCheck,
  ensureExitCauseWatcher,
  errorCodes,
  exitCauseWatcherStatus,
  generateLaunchdPlist,
  generateSystemdUnit,
  killChildProcess,
  killProcessTree,
  listRules,
  loadRunnerLimits,
  log,
  parseLaunchctlPrint,
  parseSystemctlShow,
  redact,
  redactSecrets,
  registerKnownSecrets,
  runCommand,
  runExitCauseWatcher,
  secretsToRedact,
  spawnDetached,
  startActionsRunner,
  tailExitLog,
  __napiBindingTarget,
} = keel

export default keel
