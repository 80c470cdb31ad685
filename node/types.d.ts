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

