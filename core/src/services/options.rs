//! The one option set of managed services: minions' `ENGINE_DEFAULTS.managedSpawn`
//! limits (same names, same defaults) plus keel's additions (liveness loop, kill grace).

use serde::{Deserialize, Serialize};

use crate::options::OptionsError;

/// Specs per `managed-spawn.json` file.
pub const DEFAULT_MAX_SPECS_PER_FILE: u32 = 5;
/// Longest spec name (kebab-case).
pub const DEFAULT_MAX_NAME_LENGTH: u32 = 64;
/// Most arguments per spec.
pub const DEFAULT_MAX_ARGS_COUNT: u32 = 64;
/// Most environment variables per spec.
pub const DEFAULT_MAX_ENV_VARS: u32 = 32;
/// Largest serialized `attrs` blob, bytes.
pub const DEFAULT_MAX_ATTRS_BYTES: u32 = 2048;
/// Hard cap of a spec's `ttl_minutes`.
pub const DEFAULT_MAX_TTL_MINUTES: u32 = 1440;
/// `ttl_minutes` when a spec has none.
pub const DEFAULT_TTL_MINUTES: u32 = 720;
/// Healthcheck `interval_s` when a spec has none.
pub const DEFAULT_HEALTH_INTERVAL_SEC: u32 = 1;
/// A survivor healthy within this many seconds is not re-probed by boot reconcile.
pub const DEFAULT_HEALTH_BACKOFF_SEC: u32 = 30;
/// A log larger than this is rotated to `.1` (on open and by the sweep).
pub const DEFAULT_LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;
/// Bound of a whole boot reconcile, ms.
pub const DEFAULT_BOOT_RECONCILE_MAX_MS: u64 = 2000;
/// Byte cap of the "live managed processes" prompt block.
pub const DEFAULT_PROMPT_CONTEXT_MAX_BYTES: u32 = 2048;
/// Parent directories the git-worktree check walks.
pub const DEFAULT_GIT_WORKTREE_MAX_PARENT_DEPTH: u32 = 6;
/// Grace between `SIGTERM` and `SIGKILL` when a service tree is killed, ms.
pub const DEFAULT_KILL_GRACE_MS: u64 = 3000;
/// Liveness loop: wait after the first healthy probe before probing again, ms.
pub const DEFAULT_LIVENESS_INITIAL_DELAY_MS: u64 = 0;
/// Liveness loop: consecutive failed probes before a healthy service is unhealthy.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// Liveness loop: consecutive passing probes before an unhealthy service is healthy.
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
/// Ceiling of one probe, ms (the reference's `_HC_CMD_TIMEOUT_MS`).
pub const PROBE_TIMEOUT_CEILING_MS: u64 = 5000;

/// The executables a spec (and a `command` healthcheck) may run: minions' allowlist.
pub const DEFAULT_EXECUTABLE_ALLOWLIST: &[&str] = &[
    "node",
    "bun",
    "npm",
    "npx",
    "pnpm",
    "yarn",
    "python",
    "python3",
    "pip",
    "pip3",
    "docker",
    "podman",
    "adb",
    "emulator",
    "maestro",
    "gradle",
    "gradlew",
    "mvn",
    "pwsh",
    "powershell",
    "bash",
    "sh",
    "curl",
    "wget",
    "git",
];

/// Environment keys refused in a spec (regexes, case-insensitive, first match named in
/// the reason): minions' deny patterns.
pub const DEFAULT_ENV_KEY_DENY_PATTERNS: &[&str] = &[
    "^AWS_",
    "^AZURE_",
    "^GCP_",
    "^GOOGLE_APPLICATION_CREDENTIALS",
    "^GH_TOKEN",
    "^GITHUB_TOKEN",
    "^OPENAI_",
    "^ANTHROPIC_",
    "^COPILOT_",
    "^DOCKER_AUTH",
    "^NPM_TOKEN",
    "_SECRET",
    "_TOKEN",
    "_API_KEY",
    "_APIKEY",
    "_PASSWORD",
    "_PASSWD",
    "_PRIVATE_KEY",
    "_PRIVKEY",
    "_CREDENTIALS",
    "_AUTH",
    "_PAT",
];

/// Keys exempt from the deny patterns (exact, case-sensitive).
pub const DEFAULT_ENV_KEY_DENY_OVERRIDES: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AZURE_REGION",
    "GCP_REGION",
    "AWS_PROFILE",
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Limits and behaviour of managed services. JSON (camelCase, every field optional):
/// `{"maxSpecsPerFile":5,"defaultTtlMinutes":720,"requireGitWorkdir":false,"failureThreshold":3}`.
///
/// The fields up to `envKeyDenyOverrides` are minions' `managedSpawn` limits with its
/// names and defaults; `envKeyAllowlist` / `envKeyAllowlistPrefixes` are the older
/// minions allowlist mode (when either is non-empty, a key must be on it, and the deny
/// patterns still apply); the rest are keel's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ServicesOptions {
    /// Specs per file (≥ 1).
    pub max_specs_per_file: u32,
    /// Longest name (≥ 8).
    pub max_name_length: u32,
    /// Most args per spec (≥ 1).
    pub max_args_count: u32,
    /// Most env vars per spec (≥ 1).
    pub max_env_vars: u32,
    /// Largest serialized attrs, bytes (≥ 64).
    pub max_attrs_bytes: u32,
    /// TTL cap, minutes (≥ 1).
    pub max_ttl_minutes: u32,
    /// Default TTL, minutes (≥ 1).
    pub default_ttl_minutes: u32,
    /// Default healthcheck interval, seconds.
    pub default_health_interval_sec: u32,
    /// Boot reconcile skips survivors healthy within this many seconds.
    pub health_backoff_sec: u32,
    /// Log rotation threshold, bytes (0 = never rotate).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub log_rotate_bytes: u64,
    /// Bound of a boot reconcile, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub boot_reconcile_max_ms: u64,
    /// Byte cap of the live-processes prompt block (≥ 256).
    pub prompt_context_max_bytes: u32,
    /// Refuse a `cwd` that is not inside a git worktree.
    pub require_git_workdir: bool,
    /// Parent directories the worktree check walks.
    pub git_worktree_max_parent_depth: u32,
    /// Executables a spec may run (basename, case-insensitive, `.exe`/`.cmd`/`.bat`/
    /// `.ps1`/`.sh` stripped).
    pub executable_allowlist: Vec<String>,
    /// Env-key deny regexes (case-insensitive).
    pub env_key_deny_patterns: Vec<String>,
    /// Env keys exempt from the deny regexes.
    pub env_key_deny_overrides: Vec<String>,
    /// Optional env-key allowlist (exact keys).
    pub env_key_allowlist: Vec<String>,
    /// Optional env-key allowlist prefixes.
    pub env_key_allowlist_prefixes: Vec<String>,
    /// keel: grace between `SIGTERM` and `SIGKILL` of a service tree, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub kill_grace_ms: u64,
    /// keel: liveness loop delay after the first healthy probe, ms.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub liveness_initial_delay_ms: u64,
    /// keel: liveness period, ms (0 = the spec's `interval_s`).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub liveness_period_ms: u64,
    /// keel: consecutive failures before healthy → unhealthy (≥ 1).
    pub failure_threshold: u32,
    /// keel: consecutive successes before unhealthy → healthy (≥ 1).
    pub success_threshold: u32,
}

impl Default for ServicesOptions {
    fn default() -> Self {
        ServicesOptions {
            max_specs_per_file: DEFAULT_MAX_SPECS_PER_FILE,
            max_name_length: DEFAULT_MAX_NAME_LENGTH,
            max_args_count: DEFAULT_MAX_ARGS_COUNT,
            max_env_vars: DEFAULT_MAX_ENV_VARS,
            max_attrs_bytes: DEFAULT_MAX_ATTRS_BYTES,
            max_ttl_minutes: DEFAULT_MAX_TTL_MINUTES,
            default_ttl_minutes: DEFAULT_TTL_MINUTES,
            default_health_interval_sec: DEFAULT_HEALTH_INTERVAL_SEC,
            health_backoff_sec: DEFAULT_HEALTH_BACKOFF_SEC,
            log_rotate_bytes: DEFAULT_LOG_ROTATE_BYTES,
            boot_reconcile_max_ms: DEFAULT_BOOT_RECONCILE_MAX_MS,
            prompt_context_max_bytes: DEFAULT_PROMPT_CONTEXT_MAX_BYTES,
            require_git_workdir: true,
            git_worktree_max_parent_depth: DEFAULT_GIT_WORKTREE_MAX_PARENT_DEPTH,
            executable_allowlist: strings(DEFAULT_EXECUTABLE_ALLOWLIST),
            env_key_deny_patterns: strings(DEFAULT_ENV_KEY_DENY_PATTERNS),
            env_key_deny_overrides: strings(DEFAULT_ENV_KEY_DENY_OVERRIDES),
            env_key_allowlist: Vec::new(),
            env_key_allowlist_prefixes: Vec::new(),
            kill_grace_ms: DEFAULT_KILL_GRACE_MS,
            liveness_initial_delay_ms: DEFAULT_LIVENESS_INITIAL_DELAY_MS,
            liveness_period_ms: 0,
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            success_threshold: DEFAULT_SUCCESS_THRESHOLD,
        }
    }
}

impl ServicesOptions {
    /// Parse from JSON text (empty / `null` = every default), with range checks.
    pub fn from_json(text: &str) -> Result<Self, OptionsError> {
        let o: ServicesOptions = crate::options::from_json(text, "options_json", "options")?;
        o.validate()?;
        Ok(o)
    }

    /// Range checks (every surface gets them).
    pub fn validate(&self) -> Result<(), OptionsError> {
        let at_least = |v: u64, min: u64, field: &str| {
            if v < min {
                Err(OptionsError::range(
                    format!("options.{field}"),
                    format!("must be at least {min}"),
                ))
            } else {
                Ok(())
            }
        };
        at_least(self.max_specs_per_file.into(), 1, "maxSpecsPerFile")?;
        at_least(self.max_name_length.into(), 8, "maxNameLength")?;
        at_least(self.max_args_count.into(), 1, "maxArgsCount")?;
        at_least(self.max_env_vars.into(), 1, "maxEnvVars")?;
        at_least(self.max_attrs_bytes.into(), 64, "maxAttrsBytes")?;
        at_least(self.max_ttl_minutes.into(), 1, "maxTtlMinutes")?;
        at_least(self.default_ttl_minutes.into(), 1, "defaultTtlMinutes")?;
        at_least(
            self.prompt_context_max_bytes.into(),
            256,
            "promptContextMaxBytes",
        )?;
        at_least(self.failure_threshold.into(), 1, "failureThreshold")?;
        at_least(self.success_threshold.into(), 1, "successThreshold")?;
        for (i, p) in self.env_key_deny_patterns.iter().enumerate() {
            if regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .build()
                .is_err()
            {
                return Err(OptionsError::range(
                    format!("options.envKeyDenyPatterns[{i}]"),
                    "is not a valid regular expression",
                ));
            }
        }
        Ok(())
    }
}
