//! The `managed-spawn.json` spec and its validator, field for field with minions'
//! `validateManagedSpawnRecord`: same checks in the same order, same stable reason
//! strings (`spec[0]: name-not-kebab-case (Bad_Name)`), same normalized value.
//!
//! Known, deliberate differences: `expect_regex` is compiled by Rust's `regex` crate,
//! so a JavaScript-only construct (look-around, back-references) is refused, and the
//! detail of `healthcheck-expect-regex-invalid (…)` is keel's; JSON text that is not
//! strict JSON (a lone UTF-16 surrogate escape) is refused at parse time.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::js;
use super::options::ServicesOptions;

/// The sidecar file name (`agents/<id>/managed-spawn.json`).
pub const MANAGED_SPAWN_FILENAME: &str = "managed-spawn.json";
/// Prefix of every reason that is about the working directory.
pub const INVALID_WORKDIR_REASON_PREFIX: &str = "invalid-workdir: ";
/// The healthcheck types.
pub const HEALTHCHECK_TYPES: &[&str] = &["http", "command"];

/// The reference validator's result: `{ok:true, value}` or `{ok:false, reason}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Validation {
    /// Whether the input is valid.
    pub ok: bool,
    /// Why not (a stable reason string, redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The normalized record when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub value: Option<Value>,
    /// `validateManagedSpecName` only: the name length cap.
    #[serde(default, rename = "maxLength", skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

impl Validation {
    fn fail(reason: impl Into<String>) -> Self {
        Validation {
            ok: false,
            reason: Some(crate::redact::redact_secrets(&reason.into())),
            value: None,
            max_length: None,
        }
    }

    fn pass(value: Value) -> Self {
        Validation {
            ok: true,
            reason: None,
            value: Some(value),
            max_length: None,
        }
    }
}

/// Per-call validator options (minions' `opts`): JSON
/// `{"requireGitWorkdir":false,"allowedCwdRoot":"/work/wt","extraDenyPatterns":["^DB_"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ValidateOptions {
    /// Overrides [`ServicesOptions::require_git_workdir`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_git_workdir: Option<bool>,
    /// Every `cwd` must be inside this directory (and present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_cwd_root: Option<String>,
    /// More env-key deny regexes (a project's `managedSpawnExtraDenyPatterns`).
    pub extra_deny_patterns: Vec<String>,
    /// minions' `opts.projects`: a spec whose `cwd` is inside a project's `localPath`
    /// (the longest match wins) is also checked against that project's
    /// `managedSpawnExtraDenyPatterns` (projects only tighten). Other fields of a
    /// minions project object are ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<ProjectDeny>,
}

/// The part of a minions project (`config.projects[N]`) the validator reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProjectDeny {
    /// The project's checkout.
    pub local_path: String,
    /// Its extra env-key deny regexes.
    pub managed_spawn_extra_deny_patterns: Vec<String>,
}

/// The project of `cwd` (minions' `_resolveProjectForCwd`): the one whose `localPath`
/// contains it, the longest such path winning.
fn project_for_cwd<'a>(cwd: &str, projects: &'a [ProjectDeny]) -> Option<&'a ProjectDeny> {
    if cwd.is_empty() {
        return None;
    }
    let c = real_path(cwd).unwrap_or_else(|_| resolve(cwd));
    projects
        .iter()
        .filter(|p| !p.local_path.is_empty())
        .filter_map(|p| {
            let lp = real_path(&p.local_path).unwrap_or_else(|_| resolve(&p.local_path));
            inside_or_equal(&c, &lp).then(|| (resolve(&p.local_path).as_os_str().len(), p))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p)
}

/// A validated healthcheck (the `healthcheck` object of a spec and of a state record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Healthcheck {
    /// `GET url`, healthy when the status is `expect_status`.
    Http {
        /// Absolute `http://` URL.
        url: String,
        /// Expected status code.
        expect_status: u16,
        /// Seconds between first-health probes.
        interval_s: f64,
        /// First-health deadline, seconds (a probe's own timeout is capped at 5 s).
        timeout_s: f64,
    },
    /// Run `cmd`, healthy when it exits 0 and stdout matches `expect_regex`.
    Command {
        /// The command line (its first word is on the executable allowlist).
        cmd: String,
        /// Run through `sh -c` (else split on white space, no shell).
        shell: bool,
        /// Regex stdout must match.
        expect_regex: String,
        /// Seconds between first-health probes.
        interval_s: f64,
        /// First-health deadline, seconds.
        timeout_s: f64,
    },
}

impl Healthcheck {
    /// `interval_s` as milliseconds (at least 100).
    pub fn interval_ms(&self) -> u64 {
        let s = match self {
            Healthcheck::Http { interval_s, .. } | Healthcheck::Command { interval_s, .. } => {
                *interval_s
            }
        };
        ((s * 1000.0) as u64).max(100)
    }

    /// `timeout_s` as milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        let s = match self {
            Healthcheck::Http { timeout_s, .. } | Healthcheck::Command { timeout_s, .. } => {
                *timeout_s
            }
        };
        (s * 1000.0) as u64
    }
}

/// One validated spec (the normalized `value.specs[i]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManagedSpec {
    /// Kebab-case name, unique in the state file.
    pub name: String,
    /// The executable (on the allowlist).
    pub cmd: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory (`""` = the host's).
    #[serde(default)]
    pub cwd: String,
    /// Environment given to the service (plus PATH and platform essentials).
    #[serde(default)]
    pub env: Map<String, Value>,
    /// Ports the service listens on (informational).
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Lifetime, minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_minutes: Option<u64>,
    /// Opaque attributes surfaced to later agents.
    #[serde(default)]
    pub attrs: Map<String, Value>,
    /// How to tell it is healthy.
    pub healthcheck: Option<Healthcheck>,
}

/// `validateManagedSpecName(name)`: `{ok, value|reason, maxLength}`.
pub fn validate_name(name: Option<&Value>, limits: &ServicesOptions) -> Validation {
    let max = limits.max_name_length.max(8);
    let mut v = match name {
        Some(Value::String(s)) if !s.is_empty() => {
            if js::len(s) > max as usize {
                Validation::fail(format!("name-too-long (>{max})"))
            } else if !is_kebab(s) {
                Validation::fail(format!("name-not-kebab-case ({s})"))
            } else {
                Validation::pass(Value::String(s.clone()))
            }
        }
        _ => Validation::fail("name-missing"),
    };
    v.max_length = Some(max);
    v
}

/// `/^[a-z0-9]+(?:-[a-z0-9]+)*$/`.
pub fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// POSIX `path.basename`.
fn basename(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "";
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// `_isOnAllowlist`.
pub(crate) fn on_allowlist(name: &str, allowlist: &[String]) -> bool {
    if name.is_empty() {
        return false;
    }
    let base = basename(name).to_lowercase();
    let no_ext = ["exe", "cmd", "bat", "ps1", "sh"]
        .iter()
        .find_map(|e| base.strip_suffix(&format!(".{e}")))
        .unwrap_or(&base)
        .to_owned();
    allowlist.iter().any(|e| {
        let e = e.to_lowercase();
        e == base || e == no_ext
    })
}

/// `_firstExecutable`: the first word of a command line, quotes honoured.
pub(crate) fn first_executable(cmd: &str) -> &str {
    let t = js::trim(cmd);
    if t.is_empty() {
        return "";
    }
    let q = t.as_bytes()[0];
    if q == b'"' || q == b'\'' {
        if let Some(close) = t[1..].find(q as char) {
            return &t[1..1 + close];
        }
    }
    t.split(js::is_space).next().unwrap_or("")
}

fn validate_healthcheck(hc: Option<&Value>, limits: &ServicesOptions) -> Result<Value, String> {
    let Some(Value::Object(hc)) = hc else {
        return Err("healthcheck-missing".into());
    };
    let ty = hc.get("type");
    let ty_str = match ty {
        Some(Value::String(s)) if HEALTHCHECK_TYPES.contains(&s.as_str()) => s.as_str(),
        _ => return Err(format!("healthcheck-type-invalid ({})", js::string(ty))),
    };
    let timeout = js::number(hc.get("timeout_s"));
    if !timeout.is_finite() || timeout <= 0.0 || timeout > 3600.0 {
        return Err("healthcheck-timeout-invalid".into());
    }
    let interval = match hc.get("interval_s") {
        None | Some(Value::Null) => {
            if limits.default_health_interval_sec == 0 {
                1.0
            } else {
                f64::from(limits.default_health_interval_sec)
            }
        }
        v => js::number(v),
    };
    if !interval.is_finite() || interval <= 0.0 || interval > 600.0 {
        return Err("healthcheck-interval-invalid".into());
    }
    let mut out = Map::new();
    if ty_str == "http" {
        let url = match hc.get("url") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err("healthcheck-url-missing".into()),
        };
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err("healthcheck-url-not-absolute".into());
        }
        let status = match hc.get("expect_status") {
            None | Some(Value::Null) => return Err("healthcheck-expect-status-missing".into()),
            v => js::number(v),
        };
        if !js::is_integer(status) || !(100.0..=599.0).contains(&status) {
            return Err("healthcheck-expect-status-invalid".into());
        }
        out.insert("type".into(), "http".into());
        out.insert("url".into(), url.clone().into());
        out.insert("expect_status".into(), js::number_value(status));
    } else {
        let cmd = match hc.get("cmd") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err("healthcheck-cmd-missing".into()),
        };
        if js::len(cmd) > 1000 {
            return Err("healthcheck-cmd-too-long".into());
        }
        let shell = match hc.get("shell") {
            Some(Value::Bool(b)) => *b,
            _ => return Err("healthcheck-shell-not-boolean".into()),
        };
        let re = match hc.get("expect_regex") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err("healthcheck-expect-regex-missing".into()),
        };
        if js::len(re) > 500 {
            return Err("healthcheck-expect-regex-too-long".into());
        }
        if let Err(e) = regex::Regex::new(re) {
            return Err(format!(
                "healthcheck-expect-regex-invalid ({})",
                regex_error_summary(&e)
            ));
        }
        let exe = first_executable(cmd);
        if !on_allowlist(exe, &limits.executable_allowlist) {
            return Err(format!("healthcheck-cmd-not-on-allowlist ({exe})"));
        }
        out.insert("type".into(), "command".into());
        out.insert("cmd".into(), cmd.clone().into());
        out.insert("shell".into(), shell.into());
        out.insert("expect_regex".into(), re.clone().into());
    }
    out.insert("interval_s".into(), js::number_value(interval));
    out.insert("timeout_s".into(), js::number_value(timeout));
    Ok(Value::Object(out))
}

/// The last line of a regex error (the problem, without the echoed pattern).
fn regex_error_summary(e: &regex::Error) -> String {
    let s = e.to_string();
    let line = s
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| {
            l.trim_start()
                .trim_start_matches("error:")
                .trim()
                .to_owned()
        });
    line.unwrap_or_else(|| "Invalid regular expression".into())
}

struct DenyRules {
    sources: Vec<String>,
    compiled: Vec<regex::Regex>,
    overrides: Vec<String>,
}

fn deny_rules(limits: &ServicesOptions, extra: &[String]) -> DenyRules {
    let mut sources = Vec::new();
    let mut compiled = Vec::new();
    for src in limits.env_key_deny_patterns.iter().chain(extra) {
        if src.is_empty() {
            continue;
        }
        // Invalid patterns are skipped, as in the reference.
        if let Ok(re) = regex::RegexBuilder::new(src).case_insensitive(true).build() {
            sources.push(src.clone());
            compiled.push(re);
        }
    }
    DenyRules {
        sources,
        compiled,
        overrides: limits.env_key_deny_overrides.clone(),
    }
}

fn env_key_shape_ok(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `path.resolve` (lexical) against the current directory.
fn resolve(p: &str) -> PathBuf {
    let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let joined = base.join(p);
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// `realPathForComparison`: realpath, or the realpath of the nearest existing ancestor
/// plus the missing parts.
fn real_path(p: &str) -> Result<PathBuf, String> {
    let resolved = resolve(p);
    let missing = |e: &std::io::Error| {
        e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
    };
    match std::fs::canonicalize(&resolved) {
        Ok(r) => return Ok(r),
        Err(e) if missing(&e) => {}
        Err(e) => return Err(e.to_string()),
    }
    let mut existing = resolved.clone();
    let mut parts: Vec<std::ffi::OsString> = Vec::new();
    loop {
        let Some(parent) = existing.parent().map(Path::to_path_buf) else {
            return Ok(resolved);
        };
        if let Some(n) = existing.file_name() {
            parts.insert(0, n.to_owned());
        }
        existing = parent;
        match std::fs::canonicalize(&existing) {
            Ok(mut r) => {
                for p in parts {
                    r.push(p);
                }
                return Ok(r);
            }
            Err(e) if missing(&e) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn inside_or_equal(child: &Path, parent: &Path) -> bool {
    child == parent || child.starts_with(parent)
}

/// JavaScript `path.dirname` for the worktree walk.
fn dirname(p: &str) -> String {
    let t = if p.len() > 1 {
        p.trim_end_matches('/')
    } else {
        p
    };
    match t.rfind('/') {
        None => ".".into(),
        Some(0) => "/".into(),
        Some(i) => t[..i].to_owned(),
    }
}

struct Probe {
    ok: bool,
    exists: bool,
    reason: String,
}

fn probe_git(dir: &str) -> Probe {
    let fail = |exists: bool, reason: String| Probe {
        ok: false,
        exists,
        reason,
    };
    match std::fs::metadata(dir) {
        Err(_) => return fail(false, format!("directory does not exist: {dir}")),
        Ok(m) if !m.is_dir() => return fail(true, format!("path is not a directory: {dir}")),
        Ok(_) => {}
    }
    let git = Path::new(dir).join(".git");
    match std::fs::metadata(&git) {
        Err(_) => fail(
            true,
            format!("no .git directory or worktree pointer at {dir}"),
        ),
        Ok(m) if m.is_dir() => Probe {
            ok: true,
            exists: true,
            reason: String::new(),
        },
        Ok(m) if m.is_file() => {
            let head = match std::fs::read(&git) {
                Ok(b) => String::from_utf8_lossy(&b[..b.len().min(1024)]).into_owned(),
                Err(e) => return fail(true, format!(".git file unreadable: {e}")),
            };
            let ok = head
                .strip_prefix("gitdir:")
                .map(|rest| {
                    rest.trim_start_matches(js::is_space)
                        .chars()
                        .next()
                        .is_some_and(|c| !js::is_space(c))
                })
                .unwrap_or(false);
            if ok {
                Probe {
                    ok: true,
                    exists: true,
                    reason: String::new(),
                }
            } else {
                fail(
                    true,
                    format!(
                        ".git file present but not a worktree pointer (no \"gitdir:\" prefix): {dir}"
                    ),
                )
            }
        }
        Ok(_) => fail(
            true,
            format!(
                ".git entry is neither a file nor a directory: {}",
                git.display()
            ),
        ),
    }
}

/// `isValidGitWorktree` failure detail, `None` when `dir` is inside a worktree.
fn git_worktree_failure(dir: &str, max_depth: u32) -> Option<String> {
    let direct = probe_git(dir);
    if direct.ok {
        return None;
    }
    let detail = |reason: String, exists: bool| {
        format!("{reason} | cwd-exists:{exists} | nearest-ancestor:null | worktree-root:null")
    };
    if !direct.exists {
        return Some(detail(direct.reason, false));
    }
    let mut cur = dir.to_owned();
    let mut walked = 0;
    for i in 1..=max_depth {
        let parent = dirname(&cur);
        if parent == cur {
            break;
        }
        walked = i;
        if probe_git(&parent).ok {
            return None;
        }
        cur = parent;
    }
    Some(detail(
        format!(
            "{} (and no .git directory or worktree pointer in any of {walked} parent directories up to depth {max_depth})",
            direct.reason
        ),
        true,
    ))
}

fn validate_spec(
    spec: &Value,
    limits: &ServicesOptions,
    opts: &ValidateOptions,
    rules: &DenyRules,
) -> Result<Value, String> {
    let Value::Object(spec) = spec else {
        return Err("not-an-object".into());
    };
    let name = validate_name(spec.get("name"), limits);
    if !name.ok {
        return Err(name.reason.unwrap_or_default());
    }
    let name = spec["name"].as_str().unwrap_or_default().to_owned();

    let cmd = match spec.get("cmd") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("cmd-missing".into()),
    };
    if js::len(&cmd) > 200 {
        return Err("cmd-too-long".into());
    }
    if !on_allowlist(&cmd, &limits.executable_allowlist) {
        return Err(format!("cmd-not-on-allowlist ({cmd})"));
    }

    let empty_arr = Value::Array(Vec::new());
    let args_raw = match spec.get("args") {
        None | Some(Value::Null) => &empty_arr,
        Some(v) => v,
    };
    let Value::Array(args_raw) = args_raw else {
        return Err("args-not-array".into());
    };
    let max_args = limits.max_args_count.max(1) as usize;
    if args_raw.len() > max_args {
        return Err(format!("args-too-many (>{max_args})"));
    }
    let mut args = Vec::new();
    for a in args_raw {
        let Value::String(a) = a else {
            return Err("arg-not-string".into());
        };
        if js::len(a) > 500 {
            return Err("arg-too-long".into());
        }
        args.push(Value::String(a.clone()));
    }

    let cwd_raw = match spec.get("cwd") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err("cwd-not-string".into()),
    };
    if cwd_raw.is_some_and(|c| js::len(c) > 500) {
        return Err("cwd-too-long".into());
    }
    let w = INVALID_WORKDIR_REASON_PREFIX;
    if let Some(root) = opts.allowed_cwd_root.as_deref().filter(|r| !r.is_empty()) {
        let Some(cwd) = cwd_raw.filter(|c| !c.is_empty()) else {
            return Err(format!("{w}cwd-required-for-dispatch-confinement"));
        };
        match (real_path(cwd), real_path(root)) {
            (Ok(c), Ok(r)) => {
                if !inside_or_equal(&c, &r) {
                    return Err(format!("{w}cwd-outside-dispatch-worktree"));
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                return Err(format!("{w}cwd-containment-check-failed ({e})"))
            }
        }
    }
    let mut cwd = cwd_raw.unwrap_or("").to_owned();
    let require_git = opts
        .require_git_workdir
        .unwrap_or(limits.require_git_workdir);
    if require_git && !cwd.is_empty() {
        if let Some(detail) = git_worktree_failure(&cwd, limits.git_worktree_max_parent_depth) {
            return Err(format!("{w}{detail}"));
        }
    }
    if !cwd.is_empty() {
        cwd = match real_path(&cwd) {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(e) => return Err(format!("{w}cwd-canonicalization-failed ({e})")),
        };
    }

    let empty_obj = Value::Object(Map::new());
    let env_raw = match spec.get("env") {
        None | Some(Value::Null) => &empty_obj,
        Some(v) => v,
    };
    let Value::Object(env_raw) = env_raw else {
        return Err("env-not-object".into());
    };
    let max_env = limits.max_env_vars.max(1) as usize;
    if env_raw.len() > max_env {
        return Err(format!("env-too-many (>{max_env})"));
    }
    let project_rules = project_for_cwd(cwd_raw.unwrap_or(""), &opts.projects)
        .filter(|p| !p.managed_spawn_extra_deny_patterns.is_empty())
        .map(|p| {
            let mut extra = opts.extra_deny_patterns.clone();
            extra.extend(p.managed_spawn_extra_deny_patterns.iter().cloned());
            deny_rules(limits, &extra)
        });
    let rules = project_rules.as_ref().unwrap_or(rules);
    let mut env = Map::new();
    for k in js::keys(env_raw) {
        if !env_key_shape_ok(k) {
            return Err(format!("env-key-invalid-shape ({k})"));
        }
        let allow_mode =
            !limits.env_key_allowlist.is_empty() || !limits.env_key_allowlist_prefixes.is_empty();
        if allow_mode
            && !limits.env_key_allowlist.iter().any(|a| a == k)
            && !limits
                .env_key_allowlist_prefixes
                .iter()
                .any(|p| !p.is_empty() && k.starts_with(p.as_str()))
        {
            return Err(format!("env-key-not-on-allowlist ({k})"));
        }
        if !rules.overrides.iter().any(|o| o == k) {
            if let Some(i) = rules.compiled.iter().position(|re| re.is_match(k)) {
                return Err(format!(
                    "env-key-denied (matched pattern {})",
                    rules.sources[i]
                ));
            }
        }
        let Value::String(v) = &env_raw[k] else {
            return Err(format!("env-value-not-string ({k})"));
        };
        if js::len(v) > 1000 {
            return Err(format!("env-value-too-long ({k})"));
        }
        env.insert(k.clone(), Value::String(v.clone()));
    }

    let ports_raw = match spec.get("ports") {
        None | Some(Value::Null) => &empty_arr,
        Some(v) => v,
    };
    let Value::Array(ports_raw) = ports_raw else {
        return Err("ports-not-array".into());
    };
    if ports_raw.len() > 20 {
        return Err("ports-too-many (>20)".into());
    }
    let mut ports = Vec::new();
    for p in ports_raw {
        let n = js::number(Some(p));
        if !js::is_integer(n) || !(1024.0..=65535.0).contains(&n) {
            return Err(format!("port-invalid ({})", js::string(Some(p))));
        }
        ports.push(js::number_value(n));
    }

    let max_ttl = limits.max_ttl_minutes.max(1);
    let ttl = match spec.get("ttl_minutes") {
        None | Some(Value::Null) => f64::from(limits.default_ttl_minutes.max(1)),
        v => {
            let n = js::number(v);
            if !n.is_finite() || n <= 0.0 {
                return Err("ttl-invalid".into());
            }
            if n > f64::from(max_ttl) {
                return Err(format!("ttl-too-long (>{max_ttl}min)"));
            }
            n.floor()
        }
    };

    let attrs_raw = match spec.get("attrs") {
        None | Some(Value::Null) => &empty_obj,
        Some(v) => v,
    };
    if !attrs_raw.is_object() {
        return Err("attrs-not-object".into());
    }
    let max_attrs = limits.max_attrs_bytes.max(64) as usize;
    if js::stringify_len(attrs_raw) > max_attrs {
        return Err(format!("attrs-too-large (>{max_attrs}B)"));
    }

    let hc = validate_healthcheck(spec.get("healthcheck"), limits)?;

    let mut out = Map::new();
    out.insert("name".into(), name.into());
    out.insert("cmd".into(), cmd.into());
    out.insert("args".into(), Value::Array(args));
    out.insert("cwd".into(), cwd.into());
    out.insert("env".into(), Value::Object(env));
    out.insert("ports".into(), Value::Array(ports));
    out.insert("ttl_minutes".into(), js::number_value(ttl));
    out.insert("attrs".into(), js::normalize(attrs_raw));
    out.insert("healthcheck".into(), hc);
    Ok(Value::Object(out))
}

/// `validateManagedSpawnRecord(parsed, opts)`.
///
/// ```
/// use keel_core::services::{validate_record, ServicesOptions, ValidateOptions};
/// let spec = serde_json::json!({"specs": [{"name": "Bad_Name", "cmd": "node"}]});
/// let v = validate_record(&spec, &ServicesOptions::default(), &ValidateOptions::default());
/// assert!(!v.ok);
/// assert_eq!(v.reason.as_deref(), Some("spec[0]: name-not-kebab-case (Bad_Name)"));
/// ```
pub fn validate_record(
    parsed: &Value,
    limits: &ServicesOptions,
    opts: &ValidateOptions,
) -> Validation {
    let max_specs = limits.max_specs_per_file.max(1) as usize;
    let Value::Object(obj) = parsed else {
        return Validation::fail("not-an-object");
    };
    let Some(Value::Array(specs)) = obj.get("specs") else {
        return Validation::fail("specs-missing");
    };
    if specs.is_empty() {
        return Validation::fail("specs-empty");
    }
    if specs.len() > max_specs {
        return Validation::fail(format!("specs-too-many (>{max_specs})"));
    }
    let rules = deny_rules(limits, &opts.extra_deny_patterns);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        match validate_spec(s, limits, opts, &rules) {
            Err(reason) => {
                if let Some(rest) = reason.strip_prefix(INVALID_WORKDIR_REASON_PREFIX) {
                    return Validation::fail(format!(
                        "{INVALID_WORKDIR_REASON_PREFIX}spec[{i}]: {rest}"
                    ));
                }
                return Validation::fail(format!("spec[{i}]: {reason}"));
            }
            Ok(v) => {
                let name = v["name"].as_str().unwrap_or_default().to_owned();
                if !seen.insert(name.clone()) {
                    return Validation::fail(format!("spec[{i}]: duplicate-name ({name})"));
                }
                out.push(v);
            }
        }
    }
    let text_field = |k: &str| -> Result<String, Validation> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(Validation::fail(format!("{k}-not-string"))),
        }
    };
    let written_by = match text_field("written_by") {
        Ok(s) => s,
        Err(v) => return v,
    };
    let wi_id = match text_field("wi_id") {
        Ok(s) => s,
        Err(v) => return v,
    };
    Validation::pass(serde_json::json!({
        "specs": out,
        "written_by": written_by,
        "wi_id": wi_id,
    }))
}

/// Validate JSON text: a syntax error is `json-parse: <message>` as in
/// `readManagedSpawnFile` (keel's wording of the message).
pub fn validate_text(text: &str, limits: &ServicesOptions, opts: &ValidateOptions) -> Validation {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => validate_record(&v, limits, opts),
        Err(e) => Validation::fail(format!("json-parse: {}", json_error_summary(&e))),
    }
}

/// A serde_json error without the input it may quote.
pub(crate) fn json_error_summary(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "Unexpected end of JSON input",
        Category::Syntax => "Unexpected token",
        Category::Data => "Invalid value",
        Category::Io => "Read error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// The specs of a valid [`Validation`]'s value.
pub fn specs_of(value: &Value) -> Vec<ManagedSpec> {
    value
        .get("specs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| serde_json::from_value(s.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_and_allowlist() {
        assert!(is_kebab("web-1"));
        assert!(!is_kebab("web--1"));
        assert!(!is_kebab("-web"));
        assert!(!is_kebab("Web"));
        let l = ServicesOptions::default().executable_allowlist;
        assert!(on_allowlist("/usr/bin/python3", &l));
        assert!(on_allowlist("NODE.EXE", &l));
        assert!(on_allowlist("run.sh", &["run".into()]));
        assert!(!on_allowlist("rm", &l));
        assert!(!on_allowlist("python3/", &["".into()]));
        assert_eq!(
            first_executable("  \"C:/Program Files/x/adb.exe\" devices"),
            "C:/Program Files/x/adb.exe"
        );
        assert_eq!(first_executable("'curl -s"), "'curl");
        assert_eq!(dirname("/a/b/"), "/a");
        assert_eq!(dirname("a"), ".");
        assert_eq!(dirname("/"), "/");
    }
}
