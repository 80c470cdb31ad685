// Generated from keel-core's serde option types by core/tests/ts_types.rs (ts-rs).
// Do not edit: run `KEEL_UPDATE_TYPES=1 cargo test -p keel-core --features ts --test ts_types`.

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
tailChars?: number, };

