//! The options of one turn (`TurnOptions`): one serde type for Rust, C (JSON) and Node.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Runtime, TurnError};
use crate::options::OptionsError;

/// Default stall watchdog: 10 minutes without an event.
pub const DEFAULT_STALL_MS: u64 = 600_000;
/// Default time a CLI may linger after its final event before its tree is terminated.
pub const DEFAULT_RESULT_GRACE_MS: u64 = 5_000;
/// Default SIGTERM → SIGKILL grace.
pub const DEFAULT_KILL_GRACE_MS: u64 = 2_000;
/// Default time stdout/stderr are still read after the CLI exited (a grandchild may
/// hold them open).
pub const DEFAULT_DRAIN_MS: u64 = 2_000;
/// Default bounded wait for the agent's turn lock.
pub const DEFAULT_LOCK_TIMEOUT_MS: u64 = 60_000;
/// Default NDJSON line cap (64 MiB).
pub const DEFAULT_MAX_LINE_BYTES: u64 = super::ndjson::DEFAULT_MAX_LINE_BYTES as u64;
/// Message types that count as an agent's terminal signal by default.
pub const DEFAULT_TERMINAL_MESSAGE_TYPES: &[&str] = &["worker_done", "result"];

fn d_stall() -> u64 {
    DEFAULT_STALL_MS
}
fn d_result_grace() -> u64 {
    DEFAULT_RESULT_GRACE_MS
}
fn d_kill_grace() -> u64 {
    DEFAULT_KILL_GRACE_MS
}
fn d_drain() -> u64 {
    DEFAULT_DRAIN_MS
}
fn d_lock() -> u64 {
    DEFAULT_LOCK_TIMEOUT_MS
}
fn d_line() -> u64 {
    DEFAULT_MAX_LINE_BYTES
}
fn d_terminal() -> Vec<String> {
    DEFAULT_TERMINAL_MESSAGE_TYPES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// One turn. JSON (camelCase):
///
/// ```json
/// {"agentName": "builder-1", "runtime": "claude", "stateDir": "/var/lib/host",
///  "input": "Fix the failing test", "resume": true, "parentAgent": "lead",
///  "stallMs": 600000}
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TurnOptions {
    /// The agent: `[A-Za-z0-9._-]`, 1–128 characters, not starting with `.`.
    pub agent_name: String,
    /// `claude` or `codex`.
    pub runtime: Runtime,
    /// Holds `turns.db`, `agents/<name>/` (lock, `turn.pid`) and `logs/<name>/<ts>/`.
    #[cfg_attr(feature = "ts", ts(as = "String"))]
    pub state_dir: PathBuf,
    /// The user turn (text). Empty: nothing is run and the result says so.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub input: String,
    /// The CLI to run (default `claude` / `codex` on `PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub bin: Option<PathBuf>,
    /// Extra arguments after keel's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>"))]
    pub args: Vec<String>,
    /// Working directory of the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub cwd: Option<PathBuf>,
    /// Variables added to the host environment for the CLI.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<BTreeMap<String, String>>"))]
    pub env: BTreeMap<String, String>,
    /// Resume the session id stored for the agent (Claude `--resume`, Codex `resume`).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>"))]
    pub resume: bool,
    /// Resume this session id instead of the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_session_id: Option<String>,
    /// The agent to notify (`worker_died`) when this one dies; stored on the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_agent: Option<String>,
    /// The run id teed with every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Stall watchdog: terminate the tree after this long without an event (0 = off).
    #[serde(default = "d_stall")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub stall_ms: u64,
    /// How long the CLI may live on after its final event.
    #[serde(default = "d_result_grace")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub result_grace_ms: u64,
    /// SIGTERM → SIGKILL grace for every termination.
    #[serde(default = "d_kill_grace")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub kill_grace_ms: u64,
    /// How long output is still read after the CLI exited.
    #[serde(default = "d_drain")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub drain_ms: u64,
    /// Bounded wait for the agent's turn lock.
    #[serde(default = "d_lock")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub lock_timeout_ms: u64,
    /// NDJSON line cap; longer lines are reported and skipped.
    #[serde(default = "d_line")]
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub max_line_bytes: u64,
    /// Message types (from the agent, in the `messages` table) that signal it finished.
    #[serde(default = "d_terminal")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>"))]
    pub terminal_message_types: Vec<String>,
    /// The SQLite store (default `<stateDir>/turns.db`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>"))]
    pub db_path: Option<PathBuf>,
    /// Known secrets to mask everywhere (registered with the global redactor).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>"))]
    pub secrets: Vec<String>,
}

impl fmt::Debug for TurnOptions {
    // input, env values, args and secrets may carry secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnOptions")
            .field("agent_name", &self.agent_name)
            .field("runtime", &self.runtime)
            .field("state_dir", &self.state_dir)
            .field("input", &format_args!("[{} bytes: ***]", self.input.len()))
            .field("bin", &self.bin)
            .field("args", &format_args!("[{} args: ***]", self.args.len()))
            .field(
                "env",
                &self
                    .env
                    .keys()
                    .map(|k| format!("{k}=***"))
                    .collect::<Vec<_>>(),
            )
            .field("resume", &self.resume)
            .field("parent_agent", &self.parent_agent)
            .field("stall_ms", &self.stall_ms)
            .field("secrets", &format_args!("[{}: ***]", self.secrets.len()))
            .finish_non_exhaustive()
    }
}

/// Whether `name` can be an agent name (it becomes a path component).
pub(crate) fn valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

const DAY_MS: u64 = 86_400_000;

impl TurnOptions {
    /// Options with every default.
    pub fn new(
        agent_name: impl Into<String>,
        runtime: Runtime,
        state_dir: impl Into<PathBuf>,
    ) -> Self {
        TurnOptions {
            agent_name: agent_name.into(),
            runtime,
            state_dir: state_dir.into(),
            input: String::new(),
            bin: None,
            args: Vec::new(),
            cwd: None,
            env: BTreeMap::new(),
            resume: false,
            resume_session_id: None,
            parent_agent: None,
            run_id: None,
            stall_ms: DEFAULT_STALL_MS,
            result_grace_ms: DEFAULT_RESULT_GRACE_MS,
            kill_grace_ms: DEFAULT_KILL_GRACE_MS,
            drain_ms: DEFAULT_DRAIN_MS,
            lock_timeout_ms: DEFAULT_LOCK_TIMEOUT_MS,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            terminal_message_types: d_terminal(),
            db_path: None,
            secrets: Vec::new(),
        }
    }

    /// Parse options JSON through the shared parser ([`crate::options::from_json`]) and
    /// [`validate`](TurnOptions::validate) them: errors name the field
    /// (`options.stallMs is not a non-negative integer (got a string)`), never a value
    /// or an unknown key.
    pub fn from_json(text: &str) -> Result<Self, TurnError> {
        let o: TurnOptions = crate::options::from_json(text, "options_json", "options")?;
        o.validate()?;
        Ok(o)
    }

    /// [`from_json`](TurnOptions::from_json) for a JSON value (what the Node addon
    /// builds from a JS object); `root` names it in field paths.
    pub fn from_value(value: serde_json::Value, root: &str) -> Result<Self, TurnError> {
        let o: TurnOptions = crate::options::from_value(value, root)?;
        o.validate()?;
        Ok(o)
    }

    /// Range and shape checks (every surface runs them): `KEEL_INVALID_OPTION` naming
    /// the field (`options.maxLineBytes must be between …`), never its value.
    pub fn validate(&self) -> Result<(), TurnError> {
        if !valid_agent_name(&self.agent_name) {
            return Err(range(
                "agentName",
                "must be 1-128 characters of [A-Za-z0-9._-], not starting with '.'",
            ));
        }
        if let Some(p) = &self.parent_agent {
            if !valid_agent_name(p) {
                return Err(range(
                    "parentAgent",
                    "must be 1-128 characters of [A-Za-z0-9._-], not starting with '.'",
                ));
            }
        }
        if self.state_dir.as_os_str().is_empty() {
            return Err(range("stateDir", "must not be empty"));
        }
        if self.bin.as_ref().is_some_and(|b| b.as_os_str().is_empty()) {
            return Err(range("bin", "must not be empty"));
        }
        if self.input.contains('\0') {
            return Err(range("input", "must not contain NUL"));
        }
        for (field, v, max) in [
            ("stallMs", self.stall_ms, 7 * DAY_MS),
            ("resultGraceMs", self.result_grace_ms, DAY_MS),
            ("killGraceMs", self.kill_grace_ms, 3_600_000),
            ("drainMs", self.drain_ms, 3_600_000),
            ("lockTimeoutMs", self.lock_timeout_ms, 7 * DAY_MS),
        ] {
            if v > max {
                return Err(range(field, format!("must be at most {max}")));
            }
        }
        if !(1024..=(1 << 30)).contains(&self.max_line_bytes) {
            return Err(range("maxLineBytes", "must be between 1024 and 1073741824"));
        }
        if self
            .terminal_message_types
            .iter()
            .any(|t| t.is_empty() || t.len() > 64)
        {
            return Err(range(
                "terminalMessageTypes",
                "entries must be 1-64 characters",
            ));
        }
        for k in self.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(range("env", "names must be non-empty without '=' or NUL"));
            }
        }
        Ok(())
    }
}

/// A value out of range, named `options.<field>`.
fn range(field: &str, problem: impl Into<String>) -> TurnError {
    TurnError::Options(OptionsError::range(format!("options.{field}"), problem))
}
