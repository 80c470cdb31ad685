//! The camelCase option shapes every surface accepts for supervised commands and
//! registries, as typed values: the C ABI reads them from JSON, the Node addon from JS
//! objects and `keel run` from flags, and all three turn them into core types here.

use std::path::PathBuf;
use std::time::Duration;

use super::command::CommandSpec;
use super::watchdog::WatchdogLimits;
use crate::process::Command;

/// A watchdog window in milliseconds as surfaces take it: absent → the default, `0` →
/// disabled, otherwise that many milliseconds.
fn window(ms: Option<u64>, default: Option<Duration>) -> Option<Duration> {
    match ms {
        None => default,
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
    }
}

impl WatchdogLimits {
    /// Limits from the reference's `RunnerLimits` fields (`inactivityMs`,
    /// `maxDurationMs`, `toolSilenceMs`): absent keeps the default (10 min, 60 min, off),
    /// `0` disables that watchdog.
    ///
    /// ```
    /// use std::time::Duration;
    /// use keel_core::jobs::WatchdogLimits;
    ///
    /// let l = WatchdogLimits::from_millis(Some(30_000), Some(0), None);
    /// assert_eq!(l.inactivity_window(), Some(Duration::from_secs(30)));
    /// assert_eq!(l.max_duration_window(), None);
    /// assert_eq!(l.tool_silence_window(), None);
    /// ```
    pub fn from_millis(
        inactivity_ms: Option<u64>,
        max_duration_ms: Option<u64>,
        tool_silence_ms: Option<u64>,
    ) -> WatchdogLimits {
        let d = WatchdogLimits::default();
        WatchdogLimits::none()
            .inactivity(window(inactivity_ms, d.inactivity_window()))
            .max_duration(window(max_duration_ms, d.max_duration_window()))
            .tool_silence(window(tool_silence_ms, d.tool_silence_window()))
    }
}

/// A supervised command in the surfaces' shape (`{ cmd, args, cwd, env, inactivityMs,
/// maxDurationMs, toolSilenceMs, killGraceMs, knownSecrets, tailChars }`).
///
/// `knownSecrets` are registered with the process-wide redactor
/// ([`crate::redact::register_known_secrets`]) when the spec is built, so they are masked
/// in this command's output and tail — and in every later log, error and output of the
/// process, which is the safe direction for a secret.
///
/// ```
/// use keel_core::jobs::CommandOptions;
///
/// let mut o = CommandOptions::new("sh");
/// o.args = vec!["-c".into(), "echo hi".into()];
/// o.inactivity_ms = Some(5_000);
/// let spec = o.into_spec();
/// # let _ = spec;
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOptions {
    /// The program (`argv[0]`), looked up on `PATH` when it has no `/`.
    pub cmd: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory (default: inherited).
    pub cwd: Option<PathBuf>,
    /// Variables set on top of the inherited environment.
    pub env: Vec<(String, String)>,
    /// Inactivity window (absent: 10 min; 0: off). Ignored inside a registry job,
    /// whose own watchdogs apply.
    pub inactivity_ms: Option<u64>,
    /// Max-duration window (absent: 60 min; 0: off). Ignored inside a registry job.
    pub max_duration_ms: Option<u64>,
    /// Tool-silence window (absent or 0: off). Ignored inside a registry job.
    pub tool_silence_ms: Option<u64>,
    /// Grace between SIGTERM and SIGKILL (absent: 5 s).
    pub kill_grace_ms: Option<u64>,
    /// Extra secrets to mask (registered process-wide).
    pub known_secrets: Vec<String>,
    /// Characters of output tail to keep (absent: 16,000).
    pub tail_chars: Option<usize>,
}

impl std::fmt::Debug for CommandOptions {
    // args, env values and secrets may be secrets: show names and counts only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandOptions")
            .field("cmd", &self.cmd)
            .field("args", &format_args!("[{} args: ***]", self.args.len()))
            .field("cwd", &self.cwd)
            .field(
                "env",
                &self
                    .env
                    .iter()
                    .map(|(k, _)| format!("{k}=***"))
                    .collect::<Vec<_>>(),
            )
            .field("inactivity_ms", &self.inactivity_ms)
            .field("max_duration_ms", &self.max_duration_ms)
            .field("tool_silence_ms", &self.tool_silence_ms)
            .field("kill_grace_ms", &self.kill_grace_ms)
            .field(
                "known_secrets",
                &format_args!("<{} secrets: ***>", self.known_secrets.len()),
            )
            .field("tail_chars", &self.tail_chars)
            .finish()
    }
}

impl CommandOptions {
    /// Options running `cmd` with no arguments and every default.
    pub fn new(cmd: impl Into<String>) -> CommandOptions {
        CommandOptions {
            cmd: cmd.into(),
            ..CommandOptions::default()
        }
    }

    /// The watchdog limits these options ask for.
    pub fn limits(&self) -> WatchdogLimits {
        WatchdogLimits::from_millis(
            self.inactivity_ms,
            self.max_duration_ms,
            self.tool_silence_ms,
        )
    }

    /// Build the [`CommandSpec`] (registering `knownSecrets` process-wide). An empty
    /// `cmd` is reported by [`super::run_command`] when it spawns.
    pub fn into_spec(self) -> CommandSpec {
        if !self.known_secrets.is_empty() {
            crate::redact::register_known_secrets(&self.known_secrets);
        }
        let limits = self.limits();
        let mut argv = Vec::with_capacity(self.args.len() + 1);
        argv.push(self.cmd);
        argv.extend(self.args);
        let mut command = Command::new(argv);
        if let Some(cwd) = self.cwd {
            command = command.cwd(cwd);
        }
        for (k, v) in self.env {
            command = command.env(k, v);
        }
        let mut spec = CommandSpec::new(command).limits(limits);
        if let Some(ms) = self.kill_grace_ms {
            spec = spec.kill_grace(Duration::from_millis(ms));
        }
        if let Some(n) = self.tail_chars {
            spec = spec.tail_chars(n);
        }
        spec
    }
}
