// Generated from keel-core's serde option types by core/tests/ts_types.rs (ts-rs).
// Do not edit: run `KEEL_UPDATE_TYPES=1 cargo test -p agent-keel-core --features ts --test ts_types`.

export type RedactorOptions = { 
/**
 * Text that replaces each masked span (default `***`, not empty).
 */
mask?: string, 
/**
 * Known secrets shorter than this many bytes are ignored (default 6, at least 1).
 */
minSecretLength?: number, 
/**
 * Names of built-in rules to turn off (see the rule list).
 */
disableRules?: Array<string>, 
/**
 * Extra rules: every match of `pattern` is masked.
 */
customRules?: Array<CustomRuleOptions>, 
/**
 * Known secret values (with their base64, percent, form and JSON encodings).
 * Node also accepts `Uint8Array`s here; it takes them out before parsing.
 */
secrets?: Array<string | Uint8Array>, 
/**
 * Credential blobs: each is a secret and, when it is JSON, so is every string leaf
 * of at least 12 characters.
 */
jsonSecrets?: Array<string>, 
/**
 * Threads one one-shot call of 4 MiB or more may use (default: the CPUs
 * available, at most 4; 1 to 64; 1 = only the calling thread). The output
 * does not depend on it; streams always run on the calling thread.
 */
threads?: number, };

export type CustomRuleOptions = { 
/**
 * Unique name, not one of the built-in rules' names.
 */
name: string, 
/**
 * Regular expression (Rust `regex` syntax).
 */
pattern: string, 
/**
 * Cap on a match's length in bytes (default [`DEFAULT_CUSTOM_MAX_LEN`]).
 */
maxLen?: number, };

export type EnrollmentStoreOptions = { 
/**
 * The reference's name of the keyring service (wins over `serviceName`).
 */
service?: string, 
/**
 * The reference's store choice: `"keyring"` (default) or `"memory"`.
 */
store?: StoreChoice, 
/**
 * Application name: the default keyring service name and the default mirror
 * directory `~/.<appName>/`. Default `"keel"`.
 */
appName?: string, 
/**
 * Keyring service name. Default: `appName`.
 */
serviceName?: string, 
/**
 * Prefix of the five keyring keys. Default `"agent-enrollment."`.
 */
keyPrefix?: string, 
/**
 * Whether to keep the file mirror. Default `true`.
 */
mirror?: boolean, 
/**
 * Mirror path. Default `~/.<appName>/agent-enrollment.cred`.
 */
mirrorPath?: string, 
/**
 * The secret store. Default `"platform"`.
 */
keyring?: KeyringChoice, 
/**
 * Timeout of each keyring call, in milliseconds. Default 5000.
 */
keyringTimeoutMs?: number, 
/**
 * How long to wait for the mirror's lock, in milliseconds. Default 10000.
 */
lockTimeoutMs?: number, };

export type KeyringChoice = "platform" | "keyutils" | "secretService" | "macosKeychain" | "windowsCredentialManager" | "memory";

export type StoreChoice = "keyring" | "memory";

export type CredentialFileOptions = { 
/**
 * The file.
 */
path?: string, 
/**
 * The home directory holding `.<appName>/` (default: the user's home).
 */
homeDir?: string, 
/**
 * Application name (default `"keel"`).
 */
appName?: string, 
/**
 * How long to wait for the file's lock, in milliseconds (default 10000).
 */
lockTimeoutMs?: number, };

export type RegistryOptions = { 
/**
 * Inactivity window (absent: 10 min; 0: off).
 */
inactivityMs?: number, 
/**
 * Max-duration window (absent: 60 min; 0: off).
 */
maxDurationMs?: number, 
/**
 * Tool-silence window (absent or 0: off).
 */
toolSilenceMs?: number, 
/**
 * The reference's cold-start warning window: accepted, not implemented.
 */
coldStartMs?: number, 
/**
 * How long a finished job stays readable (default 1 h).
 */
retentionMs?: number, 
/**
 * How long `abort` waits for the work to settle.
 */
abortSettleMs?: number, 
/**
 * How long cancelled work may take to return before it is dropped (default 10 s).
 */
cancelGraceMs?: number, };

export type CommandOptions = { 
/**
 * The program (`argv[0]`), looked up on `PATH` when it has no `/`. Required.
 */
cmd: string, 
/**
 * Its arguments.
 */
args?: Array<string>, 
/**
 * Working directory (default: inherited).
 */
cwd?: string, 
/**
 * Variables set on top of the inherited environment (a JSON object of strings).
 */
env?: { [key in string]: string }, 
/**
 * Inactivity window (absent: 10 min; 0: off). Ignored inside a registry job,
 * whose own watchdogs apply.
 */
inactivityMs?: number, 
/**
 * Max-duration window (absent: 60 min; 0: off). Ignored inside a registry job.
 */
maxDurationMs?: number, 
/**
 * Tool-silence window (absent or 0: off). Ignored inside a registry job.
 */
toolSilenceMs?: number, 
/**
 * Grace between SIGTERM and SIGKILL (absent: 5 s).
 */
killGraceMs?: number, 
/**
 * Extra secrets to mask (registered process-wide).
 */
knownSecrets?: Array<string>, 
/**
 * Characters of output tail to keep (absent: 16,000).
 */
tailChars?: number, 
/**
 * Idle flush: after this many milliseconds without output, held-back text that
 * cannot be the start of a secret is emitted (absent: 200; 0: only at the end).
 */
idleFlushMs?: number, };

export type JsonValue = number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null;

export type JobState = "running" | "done" | "failed";

export type FailureCause = "inactivity-timeout" | "max-duration" | "no-tool-progress" | "agent" | "git" | "api" | "llm-upstream" | "no-usable-output" | "no-changes" | "aborted";

export type Progress = { 
/**
 * Tasks done.
 */
completed: number, 
/**
 * Total tasks.
 */
total: number, 
/**
 * Tasks being worked on now.
 */
inProgress?: number | null, 
/**
 * The individual tasks, free-form.
 */
items?: JsonValue | null, };

export type ToolSpan = { 
/**
 * The tool's name.
 */
tool: string, 
/**
 * The call's ordinal within the job.
 */
seq: number, 
/**
 * Epoch ms the call started.
 */
startedAt: number, 
/**
 * Epoch ms the call ended (0: the registry stamps the time it was reported).
 */
endedAt: number, 
/**
 * Whether the call succeeded.
 */
ok: boolean, } & ({ [key in string]: number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null });

export type CallMetric = { 
/**
 * Job-scoped sequence number (stamped by the registry).
 */
seq: number, 
/**
 * Phase at emit time (stamped by the registry).
 */
phase: string, } & ({ [key in string]: number | string | boolean | Array<JsonValue> | { [key in string]: JsonValue } | null });

export type Dropped = { 
/**
 * Tool spans dropped.
 */
spans: number, 
/**
 * Follow-up items dropped.
 */
followUps: number, 
/**
 * Call metrics dropped.
 */
callMetrics: number, };

export type ColdStart = { 
/**
 * Epoch ms the diagnostic was recorded.
 */
atMs: number, 
/**
 * `agent produced no output 120s after start; possible onboarding/auth wedge (phase: clone)`.
 */
message: string, };

export type JobView<R> = { 
/**
 * The job id.
 */
id: string, 
/**
 * Lifecycle state.
 */
state: JobState, 
/**
 * Epoch ms the job started.
 */
startedAt: number, 
/**
 * Epoch ms of the last sign of life (start, last activity, or settling).
 */
heartbeatAt: number, 
/**
 * The phase the job is in (`starting` first; `done` / `failed` at the end).
 */
phase?: string, 
/**
 * Latest progress.
 */
progress?: Progress, 
/**
 * The work's result (when `done`).
 */
result?: R, 
/**
 * One-line, redacted failure message (when `failed`).
 */
error?: string, 
/**
 * Structured failure cause.
 */
failureCause?: FailureCause, 
/**
 * Redacted diagnostic: phase timings and last-tool breadcrumb (when `failed`).
 */
detail?: string, 
/**
 * The cold-start diagnostic, once recorded.
 */
coldStart?: ColdStart, 
/**
 * Tool spans since the previous read.
 */
spans?: Array<ToolSpan>, 
/**
 * Follow-up items since the previous read.
 */
followUps?: Array<JsonValue>, 
/**
 * Call metrics since the previous read.
 */
callMetrics?: Array<CallMetric>, 
/**
 * Items dropped from full buffers since the previous read.
 */
dropped?: Dropped, };

export type Survivor = { 
/**
 * The pid.
 */
pid: number, 
/**
 * `/proc/<pid>/cmdline` with NULs as spaces, redacted, at most 256 characters.
 */
command: string, };

export type CommandResult = { 
/**
 * The leader's pid (and process-group id).
 */
pid: number, 
/**
 * How it ended.
 */
exit: ExitClass, 
/**
 * Wall-clock milliseconds from spawn to the end of draining.
 */
durationMs: number, 
/**
 * Redacted tail of stdout + stderr (capture_redacted_output semantics); `None` when
 * both were empty.
 */
tail: string | null, 
/**
 * Which watchdog (or abort) killed it.
 */
killReason: KillReason | null, 
/**
 * SIGTERM was not enough and the group was SIGKILLed.
 */
escalated: boolean, 
/**
 * No process of the leader's process group was left at the end (kept for
 * compatibility; see `tree_cleared`).
 */
groupCleared: boolean, 
/**
 * No process of the job's whole tree was left at the end — also none that left the
 * process group (Linux subreaper shim; elsewhere the same as `group_cleared`).
 * Never true while something of the tree lives.
 */
treeCleared: boolean, 
/**
 * What was still alive when keel gave up (pid and redacted command line).
 */
survivors: Array<Survivor>, 
/**
 * A pipe was still held open after the drain timeout and reading stopped early.
 */
drainTimedOut: boolean, 
/**
 * Bytes read from stdout.
 */
stdoutBytes: number, 
/**
 * Bytes read from stderr.
 */
stderrBytes: number, 
/**
 * Why the run counts as failed (`None` for exit code 0).
 */
error: string | null, };

export type EnrollmentRecord = { 
/**
 * The agent's JWT.
 */
jwt: string, 
/**
 * The JWT's expiry, seconds since the epoch (0 = unknown).
 */
jwtExpiresAtUnix: number, 
/**
 * The agent id.
 */
agentId: string, 
/**
 * The tenant id.
 */
tenantId: string, 
/**
 * The platform URL the agent enrolled against.
 */
platformUrl: string, };

export type JwtInfo = { 
/**
 * The JWT.
 */
jwt: string, 
/**
 * Expiry, seconds since the epoch (0 = unknown).
 */
expiresAtUnix: number, };

export type CredentialSource = "keyring" | "fileMirror";

export type Resolved<T> = T & { source: CredentialSource, notes: Array<string> };

export type WriteReport = { 
/**
 * The keyring backend written to.
 */
keyringBackend: string, 
/**
 * The keyring keys written.
 */
keyringKeysWritten: Array<string>, 
/**
 * The mirror path (`None` when the mirror is off).
 */
mirrorPath: string | null, 
/**
 * Whether the mirror was written.
 */
mirrorWritten: boolean, 
/**
 * Problems that did not fail the write (a mirror write failure is one).
 */
warnings: Array<Problem>, };

export type ClearReport = { 
/**
 * Keyring keys that existed and were removed.
 */
keyringKeysRemoved: Array<string>, 
/**
 * Whether the mirror file existed and was removed.
 */
mirrorRemoved: boolean, 
/**
 * Temp files of the mirror that were removed.
 */
tempFilesRemoved: Array<string>, 
/**
 * What could not be removed (empty when clearing succeeded fully).
 */
problems: Array<Problem>, };

export type Severity = "error" | "warning" | "info";

export type Problem = { 
/**
 * How bad.
 */
severity: Severity, 
/**
 * A stable camelCase code, for example `"mirrorTooOpen"`, or a `KEEL_*` error
 * code for errors reported as warnings.
 */
code: string, 
/**
 * What is wrong (no secret values).
 */
message: string, 
/**
 * A one-line fix, when there is one.
 */
fix: string | null, };

export type FieldPresence = { 
/**
 * The record field (`jwt`, `jwtExpiresAtUnix`, `agentId`, `tenantId`,
 * `platformUrl`).
 */
field: string, 
/**
 * The keyring key, for keyring fields.
 */
key: string | null, 
/**
 * Whether the store holds a non-empty value.
 */
present: boolean | null, };

export type KeyringDiagnosis = { 
/**
 * The backend name.
 */
backend: string, 
/**
 * The keyring service name.
 */
service: string, 
/**
 * Whether every call answered (with a value or "absent").
 */
answered: boolean, 
/**
 * The error code when it did not.
 */
errorCode: string | null, 
/**
 * The error message when it did not.
 */
error: string | null, 
/**
 * Which fields it holds.
 */
fields: Array<FieldPresence>, };

export type MirrorDiagnosis = { 
/**
 * Whether the mirror is on.
 */
enabled: boolean, 
/**
 * Its path.
 */
path: string | null, 
/**
 * Whether something exists at the path.
 */
exists: boolean, 
/**
 * What is at the path (`file`, `directory`, `symlink`, `special file`).
 */
kind: string | null, 
/**
 * Its permission bits in octal, for example `"0600"`.
 */
mode: string | null, 
/**
 * Its owner uid.
 */
ownerUid: number | null, 
/**
 * Whether the current user owns it.
 */
ownedByCurrentUser: boolean | null, 
/**
 * Its directory.
 */
dirPath: string | null, 
/**
 * The directory's permission bits in octal.
 */
dirMode: string | null, 
/**
 * Whether the file holds a usable record.
 */
valid: boolean, 
/**
 * Why not.
 */
invalidReason: string | null, 
/**
 * Tolerated oddities of a usable record.
 */
notes: Array<string>, 
/**
 * Which fields the file holds.
 */
fields: Array<FieldPresence>, 
/**
 * Leftover temp files of the mirror.
 */
tempFiles: Array<string>, };

export type JwtDiagnosis = { 
/**
 * Where the record came from.
 */
source: CredentialSource, 
/**
 * The stored expiry, seconds since the epoch (0 = unknown).
 */
expiresAtUnix: number, 
/**
 * The same in milliseconds.
 */
expiresAtMs: number, 
/**
 * Milliseconds until expiry (negative once expired).
 */
timeLeftMs: number, 
/**
 * Whether it has expired (an unknown expiry counts as expired, as in the
 * reference).
 */
expired: boolean, 
/**
 * The token's own `exp` claim, when it decodes.
 */
expClaimUnix: number | null, 
/**
 * Why the token's payload did not decode.
 */
decodeError: string | null, };

export type Diagnosis = { 
/**
 * When the check ran, milliseconds since the epoch.
 */
checkedAtMs: number, 
/**
 * The keyring.
 */
keyring: KeyringDiagnosis, 
/**
 * The file mirror.
 */
mirror: MirrorDiagnosis, 
/**
 * Where a read would resolve from now (`None` when it would fail).
 */
resolvedFrom: CredentialSource | null, 
/**
 * Whether keyring and mirror hold the same record (`None` unless both hold a
 * complete one).
 */
inSync: boolean | null, 
/**
 * The JWT's expiry.
 */
jwt: JwtDiagnosis | null, 
/**
 * Every problem found, each with a one-line fix where there is one.
 */
problems: Array<Problem>, };

export type SupervisorOptions = { 
/**
 * First backoff after a failed registration, ms (default 2000).
 */
backoffBaseMs: number, 
/**
 * Backoff cap, ms (default 30000).
 */
backoffMaxMs: number, 
/**
 * Jitter ratio in `[0, 1]`: each backoff is drawn from `[(1-j)·d, d]` (default 0.2;
 * 0 gives the exact sequence 2 s, 4 s, 8 s, 16 s, 30 s, …).
 */
jitter: number, 
/**
 * A run at least this long resets the failure count, ms (default 60000).
 */
stableAfterMs: number, 
/**
 * How failed runs back off (default `fixed`).
 */
runFailure: RunFailurePolicy, 
/**
 * The fixed backoff after a failed run, ms (default 2000).
 */
runFailureBackoffMs: number, 
/**
 * Minimum length of a successful cycle, ms (default 1000; never 0 for a worker
 * that could exit at once, or it would spin).
 */
minCycleMs: number, 
/**
 * Optional burst limit → `degraded`.
 */
burst: BurstLimit | null, 
/**
 * Grace between SIGTERM and SIGKILL when stopping a running worker, ms (default 5000).
 */
stopGraceMs: number, 
/**
 * Install SIGTERM/SIGINT handlers for the duration of `run` (default false; the CLI
 * turns it on). They are removed on every exit path.
 */
installSignalHandlers: boolean, 
/**
 * Talk to systemd when `NOTIFY_SOCKET` is set (`READY=1`, `WATCHDOG=1`,
 * `STOPPING=1`; default true).
 */
systemdNotify: boolean, 
/**
 * Watchdog ping interval, ms; default: half of `WATCHDOG_USEC` when systemd set it.
 */
watchdogIntervalMs: number | null, 
/**
 * Number of slots (pool mode; default 1). Each slot runs its own cycle and its own
 * working directory; a failing slot never stops the others.
 */
pool: number, 
/**
 * Base directory of the slots' working directories (`<workDir>/slot-<i>`), created
 * when missing. Without it slots get no working directory.
 */
workDir: string | null, };

export type RunFailurePolicy = "fixed" | "exponential";

export type BurstLimit = { 
/**
 * How many failures (registration or run) trip the limit.
 */
failures: number, 
/**
 * Within how many milliseconds.
 */
windowMs: number, };

export type ActionsRunnerOptions = { 
/**
 * The extracted actions/runner directory (holds `config.sh` and `run.sh`). In pool
 * mode with a supervisor `workDir`, each slot uses its own working directory
 * instead, which must hold its own runner copy.
 */
runnerDir: string, 
/**
 * Repository or organisation URL (`https://github.com/OWNER/REPO`).
 */
url: string, 
/**
 * Runner name prefix; the name is `<prefix>-<8 hex>` (default `keel`).
 */
namePrefix: string, 
/**
 * Labels (default `self-hosted`).
 */
labels: Array<string>, 
/**
 * Extra environment for `run.sh`.
 */
extraEnv: { [key in string]: string }, 
/**
 * Kill `config.sh` after this long, ms (default 300000).
 */
configTimeoutMs: number, 
/**
 * Append `run.sh`'s output to this file (default: inherit the supervisor's).
 */
runLog: string | null, };

export type Status = { "state": "online" } | { "state": "registering" } | { "state": "running" } | { "state": "backing-off", 
/**
 * Consecutive failures so far (0 after a fixed run-failure backoff following a
 * stable run).
 */
attempt: number, 
/**
 * How long this wait is.
 */
delayMs: number, } | { "state": "degraded", 
/**
 * Consecutive failures so far.
 */
attempt: number, 
/**
 * How long this wait is.
 */
delayMs: number, } | { "state": "offline" };

export type StatusEvent = { 
/**
 * The slot (0 for a single supervisor).
 */
slot: number, 
/**
 * Epoch ms of the change.
 */
at: number, 
/**
 * Why, when the change follows a failure (redacted).
 */
reason?: string | null, } & ({ "state": "online" } | { "state": "registering" } | { "state": "running" } | { "state": "backing-off", 
/**
 * Consecutive failures so far (0 after a fixed run-failure backoff following a
 * stable run).
 */
attempt: number, 
/**
 * How long this wait is.
 */
delayMs: number, } | { "state": "degraded", 
/**
 * Consecutive failures so far.
 */
attempt: number, 
/**
 * How long this wait is.
 */
delayMs: number, } | { "state": "offline" });

export type RunRecord = { 
/**
 * Epoch ms the run ended.
 */
endedAt: number, 
/**
 * How long it ran, ms.
 */
durationMs: number, 
/**
 * The worker's exit code, when it exited.
 */
exitCode: number | null, 
/**
 * The signal that ended it, when one did.
 */
signal: number | null, 
/**
 * True when the outcome cannot tell success from a fatal stop (an ephemeral
 * `run.sh` exits 0 both after its job and on some fatal errors).
 */
ambiguous: boolean, 
/**
 * Counted as a failure (non-zero, signal, error).
 */
failed: boolean, };

export type SlotSnapshot = { 
/**
 * The slot.
 */
slot: number, 
/**
 * Its current status.
 */
status: Status, 
/**
 * Epoch ms of its last status change.
 */
since: number, 
/**
 * Cycles started.
 */
cycles: number, 
/**
 * Successful registrations.
 */
registrations: number, 
/**
 * Failed registrations.
 */
registrationFailures: number, 
/**
 * Failed runs.
 */
runFailures: number, 
/**
 * Consecutive failures now.
 */
consecutiveFailures: number, 
/**
 * Its working directory, if any.
 */
workDir: string | null, 
/**
 * The last error (redacted).
 */
lastError: string | null, 
/**
 * The last run.
 */
lastRun: RunRecord | null, };

export type StatusSnapshot = { 
/**
 * Snapshot format version (1).
 */
version: number, 
/**
 * The overall status: `offline` when stopped, else `degraded` when any slot is,
 * else `running` when any slot runs, else the first slot's status.
 */
status: Status, 
/**
 * Epoch ms the supervisor started (`None` before `run`).
 */
startedAt: number | null, 
/**
 * Epoch ms of the snapshot.
 */
at: number, 
/**
 * `READY=1` went to systemd (or would have: the first registration succeeded).
 */
ready: boolean, 
/**
 * Per-slot detail.
 */
slots: Array<SlotSnapshot>, };

export type ExitCauseOptions = { 
/**
 * The watched service's name.
 */
name: string, 
/**
 * The watched process id.
 */
pid: number, 
/**
 * The watched process's start time (PidRecord units); captured when absent.
 */
startTime?: number, 
/**
 * The watcher's state directory.
 */
stateDir: string, 
/**
 * The exit log (default `<stateDir>/exits.log`).
 */
logFile?: string, 
/**
 * The snapshot directory (default `<stateDir>/server-deaths`).
 */
forensicsDir?: string, 
/**
 * Crash-file directories listed in the snapshot (default: the platform's).
 */
crashDirs?: Array<string>, 
/**
 * Processes listed in the top-RSS section.
 */
topProcesses?: number, 
/**
 * Record an exit with status 0 as well.
 */
recordCleanExit?: boolean, 
/**
 * Bounded wait for the watcher's readiness, in milliseconds.
 */
readyTimeoutMs?: number, 
/**
 * The argv prefix that starts a watcher (keel appends the spec JSON).
 */
watcherCommand?: Array<string>, };

export type EnsureState = "spawned" | "already";

export type EnsureOutcome = { 
/**
 * Spawned or already.
 */
state: EnsureState, 
/**
 * The watched service.
 */
name: string, 
/**
 * The watched pid.
 */
pid: number, 
/**
 * The watcher's pid.
 */
watcherPid: number, 
/**
 * The exit log.
 */
logFile: string, 
/**
 * The snapshot directory.
 */
forensicsDir: string, };

export type DisarmState = "disarmed" | "absent";

export type DisarmOutcome = { 
/**
 * Disarmed or absent.
 */
state: DisarmState, 
/**
 * The watched service.
 */
name: string, 
/**
 * Whether no watcher process is left (it was gone already or stopped in time).
 */
watcherStopped: boolean, };

export type WatcherStatus = { 
/**
 * The watched service.
 */
name: string, 
/**
 * The watched pid.
 */
pid: number, 
/**
 * Whether the watched process is alive.
 */
alive: boolean, 
/**
 * The watcher's pid.
 */
watcherPid: number, 
/**
 * Whether the watcher is alive.
 */
watcherAlive: boolean, 
/**
 * Epoch ms the watcher armed.
 */
armedAt: number, 
/**
 * Epoch ms of the disarm, if any.
 */
disarmedAt: number | null, 
/**
 * Epoch ms the death was recorded, if it was.
 */
firedAt: number | null, 
/**
 * The exit log.
 */
logFile: string, 
/**
 * The snapshot directory.
 */
forensicsDir: string, };

export type ExitLogLine = { 
/**
 * The line as written (without its newline).
 */
line: string, 
/**
 * Its `key=value` pairs.
 */
fields: { [key in string]: string }, };

export type TurnOptions = { 
/**
 * The agent: `[A-Za-z0-9._-]`, 1–128 characters, not starting with `.`.
 */
agentName: string, 
/**
 * `claude` or `codex`.
 */
runtime: Runtime, 
/**
 * Holds `turns.db`, `agents/<name>/` (lock, `turn.pid`) and `logs/<name>/<ts>/`.
 */
stateDir: string, 
/**
 * The user turn (text). Empty: nothing is run and the result says so.
 */
input?: string, 
/**
 * The CLI to run (default `claude` / `codex` on `PATH`).
 */
bin?: string, 
/**
 * Extra arguments after keel's own.
 */
args?: Array<string>, 
/**
 * Working directory of the CLI.
 */
cwd?: string, 
/**
 * Variables added to the host environment for the CLI.
 */
env?: { [key in string]: string }, 
/**
 * Resume the session id stored for the agent (Claude `--resume`, Codex `resume`).
 */
resume?: boolean, 
/**
 * Resume this session id instead of the stored one.
 */
resumeSessionId?: string, 
/**
 * The agent to notify (`worker_died`) when this one dies; stored on the session.
 */
parentAgent?: string, 
/**
 * The run id teed with every event.
 */
runId?: string, 
/**
 * Stall watchdog: terminate the tree after this long without an event (0 = off).
 */
stallMs?: number, 
/**
 * How long the CLI may live on after its final event.
 */
resultGraceMs?: number, 
/**
 * SIGTERM → SIGKILL grace for every termination.
 */
killGraceMs?: number, 
/**
 * How long output is still read after the CLI exited.
 */
drainMs?: number, 
/**
 * Bounded wait for the agent's turn lock.
 */
lockTimeoutMs?: number, 
/**
 * NDJSON line cap; longer lines are reported and skipped.
 */
maxLineBytes?: number, 
/**
 * Message types (from the agent, in the `messages` table) that signal it finished.
 */
terminalMessageTypes?: Array<string>, 
/**
 * The SQLite store (default `<stateDir>/turns.db`).
 */
dbPath?: string, 
/**
 * Known secrets to mask everywhere (registered with the global redactor).
 */
secrets?: Array<string>, };

export type Runtime = "claude" | "codex";

export type AgentState = "booting" | "working" | "stalled" | "completed" | "zombie";

export type EventKind = "session_start" | "progress" | "tool_start" | "tool_end" | "result" | "error" | "custom";

export type TurnEvent = { 
/**
 * What it means.
 */
type: EventKind, 
/**
 * The runtime's own type (`assistant`, `item.completed`, …) or keel's
 * (`keel.resume_mismatch`, `keel.line_too_long`, `keel.non_json`).
 */
rawType: string, 
/**
 * `info`, `warn` or `error`.
 */
level: string, 
/**
 * The session id this event carried.
 */
sessionId?: string, 
/**
 * The tool of a tool event.
 */
toolName?: string, 
/**
 * A tool call's arguments.
 */
toolArgs?: unknown, 
/**
 * Text (an assistant message, a result, an error message).
 */
text?: string, 
/**
 * For results and tool ends: whether it reports a failure.
 */
isError?: boolean, 
/**
 * A duration the runtime reported.
 */
durationMs?: number, 
/**
 * The whole event as the runtime sent it (redacted); a content block's own JSON for
 * events split out of one message.
 */
data: unknown, };

export type KillReason = "inactivity-timeout" | "max-duration" | "no-tool-progress" | "aborted";

export type ExitClass = { "kind": "exited", 
/**
 * The exit code.
 */
code: number, } | { "kind": "signalled", 
/**
 * The signal number.
 */
signal: number, } | { "kind": "killed", 
/**
 * Which watchdog fired (or `aborted`).
 */
reason: KillReason, 
/**
 * The signal that ended it, when it died of one.
 */
signal?: number, 
/**
 * The exit code, when it exited (e.g. a shell trapping `SIGTERM`).
 */
code?: number, };

export type RecoveredTurn = { 
/**
 * The pid the dead runner's CLI had.
 */
pid: number | null, 
/**
 * Whether that CLI was still alive (it was then killed).
 */
wasAlive: boolean, 
/**
 * The session's state when found.
 */
previousState: AgentState | null, 
/**
 * Whether the parent was sent `worker_died`.
 */
parentNotified: boolean, };

export type TurnResult = { 
/**
 * The CLI's exit code; `null` when it was killed or died of a signal.
 */
exitCode: number | null, 
/**
 * A final event reported success (`result` without `is_error`, `turn.completed`).
 */
cleanResult: boolean, 
/**
 * The session id this turn reported.
 */
newSessionId: string | null, 
/**
 * A session was resumed and the CLI answered with a different id.
 */
resumeMismatch: boolean, 
/**
 * The terminal check saw the agent's terminal signal.
 */
terminalMailObserved: boolean, 
/**
 * Wall-clock duration.
 */
durationMs: number, 
/**
 * The session's state when the turn started.
 */
initialState: AgentState, 
/**
 * The session's state when it ended (what the store holds).
 */
finalState: AgentState, 
/**
 * The stall watchdog killed the turn.
 */
stallAborted: boolean, 
/**
 * Contract violation: a clean end without the terminal signal.
 */
terminalMailMissing: boolean, 
/**
 * The turn was aborted through its [`TurnAbort`].
 */
aborted: boolean, 
/**
 * The CLI lingered after its final event and was terminated.
 */
lingerKilled: boolean, 
/**
 * `stall`, `abort` or `linger` when keel terminated the tree.
 */
killReason: string | null, 
/**
 * How the CLI ended.
 */
exit: ExitClass | null, 
/**
 * Events handed to the callback.
 */
eventCount: number, 
/**
 * Lines over the cap that were skipped.
 */
skippedLines: number, 
/**
 * The parent was sent `worker_died`.
 */
parentNotified: boolean, 
/**
 * The final CAS was refused (a concurrent writer won): the state it found.
 */
transitionRejected: AgentState | null, 
/**
 * The input was empty and nothing ran.
 */
noOp: boolean, 
/**
 * A previous runner's crash that this turn recovered from.
 */
recovered: RecoveredTurn | null, 
/**
 * The turn's log directory (`stderr.log`, `runner.log`).
 */
logDir: string | null, 
/**
 * The agent.
 */
agentName: string, 
/**
 * The run id.
 */
runId: string | null, };

export type TurnSession = { 
/**
 * The agent's name.
 */
name: string, 
/**
 * Its state.
 */
state: AgentState, 
/**
 * The runtime's session (Claude) or thread (Codex) id of its last turn.
 */
sessionId: string | null, 
/**
 * The agent to notify when it dies.
 */
parentAgent: string | null, 
/**
 * `claude` or `codex`, when known.
 */
runtime: string | null, 
/**
 * Epoch ms.
 */
createdAt: number, 
/**
 * Epoch ms of the last turn's end.
 */
lastActivity: number, };

export type ServicesOptions = { 
/**
 * Specs per file (≥ 1).
 */
maxSpecsPerFile: number, 
/**
 * Longest name (≥ 8).
 */
maxNameLength: number, 
/**
 * Most args per spec (≥ 1).
 */
maxArgsCount: number, 
/**
 * Most env vars per spec (≥ 1).
 */
maxEnvVars: number, 
/**
 * Largest serialized attrs, bytes (≥ 64).
 */
maxAttrsBytes: number, 
/**
 * TTL cap, minutes (≥ 1).
 */
maxTtlMinutes: number, 
/**
 * Default TTL, minutes (≥ 1).
 */
defaultTtlMinutes: number, 
/**
 * Default healthcheck interval, seconds.
 */
defaultHealthIntervalSec: number, 
/**
 * Boot reconcile skips survivors healthy within this many seconds.
 */
healthBackoffSec: number, 
/**
 * Log rotation threshold, bytes (0 = never rotate).
 */
logRotateBytes: number, 
/**
 * Bound of a boot reconcile, ms.
 */
bootReconcileMaxMs: number, 
/**
 * Byte cap of the live-processes prompt block (≥ 256).
 */
promptContextMaxBytes: number, 
/**
 * Refuse a `cwd` that is not inside a git worktree.
 */
requireGitWorkdir: boolean, 
/**
 * Parent directories the worktree check walks.
 */
gitWorktreeMaxParentDepth: number, 
/**
 * Executables a spec may run (basename, case-insensitive, `.exe`/`.cmd`/`.bat`/
 * `.ps1`/`.sh` stripped).
 */
executableAllowlist: Array<string>, 
/**
 * Env-key deny regexes (case-insensitive).
 */
envKeyDenyPatterns: Array<string>, 
/**
 * Env keys exempt from the deny regexes.
 */
envKeyDenyOverrides: Array<string>, 
/**
 * Optional env-key allowlist (exact keys).
 */
envKeyAllowlist: Array<string>, 
/**
 * Optional env-key allowlist prefixes.
 */
envKeyAllowlistPrefixes: Array<string>, 
/**
 * keel: grace between `SIGTERM` and `SIGKILL` of a service tree, ms.
 */
killGraceMs: number, 
/**
 * keel: liveness loop delay after the first healthy probe, ms.
 */
livenessInitialDelayMs: number, 
/**
 * keel: liveness period, ms (0 = the spec's `interval_s`).
 */
livenessPeriodMs: number, 
/**
 * keel: consecutive failures before healthy → unhealthy (≥ 1).
 */
failureThreshold: number, 
/**
 * keel: consecutive successes before unhealthy → healthy (≥ 1).
 */
successThreshold: number, };

export type ProjectDeny = { 
/**
 * The project's checkout.
 */
localPath: string, 
/**
 * Its extra env-key deny regexes.
 */
managedSpawnExtraDenyPatterns: Array<string>, };

export type ValidateOptions = { 
/**
 * Overrides [`ServicesOptions::require_git_workdir`].
 */
requireGitWorkdir: boolean | null, 
/**
 * Every `cwd` must be inside this directory (and present).
 */
allowedCwdRoot: string | null, 
/**
 * More env-key deny regexes (a project's `managedSpawnExtraDenyPatterns`).
 */
extraDenyPatterns: Array<string>, 
/**
 * minions' `opts.projects`: a spec whose `cwd` is inside a project's `localPath`
 * (the longest match wins) is also checked against that project's
 * `managedSpawnExtraDenyPatterns` (projects only tighten). Other fields of a
 * minions project object are ignored.
 */
projects: Array<ProjectDeny>, };

export type Validation = { 
/**
 * Whether the input is valid.
 */
ok: boolean, 
/**
 * Why not (a stable reason string, redacted).
 */
reason?: string | null, 
/**
 * The normalized record when valid.
 */
value?: unknown, 
/**
 * `validateManagedSpecName` only: the name length cap.
 */
maxLength?: number | null, };

export type Owner = { 
/**
 * The agent.
 */
owner_agent: string, 
/**
 * The work item.
 */
owner_wi: string, 
/**
 * The project.
 */
owner_project: string, 
/**
 * The work type (minions ≥ 0.1.2000).
 */
owner_work_type: string, 
/**
 * The dispatch root.
 */
dispatch_root: string, 
/**
 * The checkout mode.
 */
checkout_mode: string, };

export type Health = "starting" | "healthy" | "unhealthy" | "dead";

export type KeelFields = { 
/**
 * The service leader's start time (`/proc/<pid>/stat` field 22, clock ticks since
 * boot): `pid` is signalled only while this still matches.
 */
pidStartTime: number | null, 
/**
 * Linux boot id when the record was made.
 */
bootId: string | null, 
/**
 * The subreaper shim holding the service's tree.
 */
shimPid: number | null, 
/**
 * The shim's start time.
 */
shimStartTime: number | null, 
/**
 * Health state.
 */
health: Health, 
/**
 * The last probe's error (redacted), `None` after a passing probe.
 */
lastError: string | null, 
/**
 * Epoch ms of the last probe.
 */
lastCheckAt: number | null, };

export type ManagedRecord = { 
/**
 * Kebab-case name (unique).
 */
name: string, 
/**
 * The service leader's pid (`null` while reserved).
 */
pid: number | null, 
/**
 * The agent that asked for it.
 */
owner_agent: string, 
/**
 * Its work item.
 */
owner_wi: string, 
/**
 * Its project.
 */
owner_project: string, 
/**
 * The executable.
 */
cmd: string, 
/**
 * Arguments.
 */
args: Array<string>, 
/**
 * Working directory.
 */
cwd: string, 
/**
 * Environment from the spec.
 */
env: { [key in string]: JsonValue }, 
/**
 * Ports.
 */
ports: Array<JsonValue>, 
/**
 * Opaque attributes.
 */
attrs: { [key in string]: JsonValue }, 
/**
 * The healthcheck.
 */
healthcheck: JsonValue | null, 
/**
 * Epoch ms of the spawn.
 */
started_at: number | null, 
/**
 * Epoch ms when the TTL expires.
 */
ttl_expires_at: number | null, 
/**
 * Epoch ms of the last passing probe.
 */
last_health_at: number | null, 
/**
 * Passing its healthchecks.
 */
healthy: boolean, 
/**
 * Believed running.
 */
alive: boolean, 
/**
 * The service's log.
 */
log_path: string, 
/**
 * keel's additions.
 */
keel?: KeelFields | null, };

export type ServiceView = { 
/**
 * Name.
 */
name: string, 
/**
 * Leader pid.
 */
pid: number | null, 
/**
 * Alive right now (checked PID-reuse-safely at list time).
 */
alive: boolean, 
/**
 * Passing its healthchecks.
 */
healthy: boolean, 
/**
 * Owning agent.
 */
owner_agent: string, 
/**
 * Owning work item.
 */
owner_wi: string, 
/**
 * Owning project.
 */
owner_project: string, 
/**
 * Attributes.
 */
attrs: { [key in string]: JsonValue }, 
/**
 * Ports.
 */
ports: Array<JsonValue>, 
/**
 * Epoch ms of the spawn.
 */
started_at: number | null, 
/**
 * Epoch ms of TTL expiry.
 */
ttl_expires_at: number | null, 
/**
 * Epoch ms of the last passing probe.
 */
last_health_at: number | null, 
/**
 * Log file.
 */
log_path: string, 
/**
 * Executable.
 */
cmd: string, 
/**
 * Arguments.
 */
args: Array<string>, 
/**
 * Working directory.
 */
cwd: string, 
/**
 * Healthcheck.
 */
healthcheck: JsonValue | null, 
/**
 * keel: `starting`, `healthy`, `unhealthy` or `dead`.
 */
health: Health, 
/**
 * keel: the last probe's error (redacted).
 */
last_error: string | null, 
/**
 * keel: epoch ms of the last probe.
 */
last_check_at: number | null, };

export type ProbeResult = { 
/**
 * The probe passed.
 */
healthy: boolean, 
/**
 * Why not (redacted); `null` when healthy.
 */
error: string | null, 
/**
 * Epoch ms when the probe finished.
 */
lastCheckAt: number, };

export type SweepStats = { 
/**
 * Well-formed records looked at.
 */
scanned: number, 
/**
 * Records past their TTL (dropped; their trees killed).
 */
ttlExpired: number, 
/**
 * Records whose process was gone (dropped, nothing signalled).
 */
deadDropped: number, 
/**
 * Trees killed.
 */
killedPids: number, 
/**
 * Logs rotated to `.1`.
 */
rotatedLogs: number, 
/**
 * Malformed entries dropped.
 */
malformed: number, };

export type Probed = { 
/**
 * The service.
 */
name: string, 
/**
 * Its probe passed.
 */
healthy: boolean, };

export type ReconcileReport = { 
/**
 * The sweep.
 */
stats: SweepStats, 
/**
 * The survivors probed (within `bootReconcileMaxMs`).
 */
probed: Array<Probed>, };

export type ProjectRemoval = { 
/**
 * Trees killed.
 */
killed: number, 
/**
 * Log files unlinked (`.log` and `.log.1`).
 */
unlinked: number, 
/**
 * Records of the project.
 */
scanned: number, 
/**
 * Records dropped (all of them: keel never preserves one).
 */
removed: number, };

export type Removal = { 
/**
 * The record was removed.
 */
removed: boolean, 
/**
 * Its tree was signalled (it was alive and provably this service).
 */
killed: boolean, };

export type UpOutcome = { 
/**
 * The service.
 */
name: string, 
/**
 * Its leader's pid (when it was spawned).
 */
pid: number | null, 
/**
 * It passed its first healthcheck (a failing one is killed and removed).
 */
healthy: boolean, 
/**
 * Why not (redacted).
 */
error: string | null, 
/**
 * Its log.
 */
logPath: string, };

