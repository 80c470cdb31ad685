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
jsonSecrets?: Array<string>, };

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

