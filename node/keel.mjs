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
  doctorCheck,
  errorCodes,
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
  runTurn,
  secretsToRedact,
  spawnDetached,
  startActionsRunner,
  turnSession,
  __napiBindingTarget,
} = keel

export default keel
