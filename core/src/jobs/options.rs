//! The camelCase option shapes every surface accepts for supervised commands and
//! registries — THE schema: the C ABI parses JSON text into these types, the Node addon
//! converts JS objects into them (`crate::options::from_value`) and `keel run` fills
//! them from flags; all three turn them into core types here.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::command::CommandSpec;
use super::registry::JobRegistryBuilder;
use super::watchdog::WatchdogLimits;
use crate::options::{self, OptionsError};
use crate::process::Command;

/// `null` counts as absent: the default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// `env`: a JSON object of strings, kept in order.
fn env_map<'de, D>(d: D) -> Result<Vec<(String, String)>, D::Error>
where
    D: Deserializer<'de>,
{
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(V)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0).min(1024));
            while let Some((k, v)) = m.next_entry::<String, String>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_option(V)
}

fn env_ser<S: serde::Serializer>(env: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(env.len()))?;
    for (k, v) in env {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

/// A registry's limits object as every surface takes it (camelCase milliseconds): the
/// reference's `RunnerLimits` (`inactivityMs`, `maxDurationMs`, `toolSilenceMs`,
/// `coldStartMs` — accepted so a `loadRunnerLimits()` object passes as is, not used)
/// plus keel's `retentionMs`, `abortSettleMs` and `cancelGraceMs`. Unknown fields are
/// refused.
///
/// ```
/// use keel_core::jobs::RegistryOptions;
///
/// let o = RegistryOptions::from_json(r#"{"inactivityMs":30000,"coldStartMs":120000}"#).unwrap();
/// assert_eq!(o.inactivity_ms, Some(30_000));
/// assert!(RegistryOptions::from_json(r#"{"inactivity":5}"#).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RegistryOptions {
    /// Inactivity window (absent: 10 min; 0: off).
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub inactivity_ms: Option<u64>,
    /// Max-duration window (absent: 60 min; 0: off).
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub max_duration_ms: Option<u64>,
    /// Tool-silence window (absent or 0: off).
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub tool_silence_ms: Option<u64>,
    /// The reference's cold-start warning window: accepted, not implemented.
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub cold_start_ms: Option<u64>,
    /// How long a finished job stays readable (default 1 h).
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub retention_ms: Option<u64>,
    /// How long `abort` waits for the work to settle.
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub abort_settle_ms: Option<u64>,
    /// How long cancelled work may take to return before it is dropped (default 10 s).
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub cancel_grace_ms: Option<u64>,
}

impl RegistryOptions {
    /// Parse limits JSON (empty text or `null`: every default); fields are named under
    /// `limits`.
    pub fn from_json(text: &str) -> Result<Self, OptionsError> {
        options::from_json(text, "limits_json", "limits")
    }

    /// The watchdog limits these options ask for.
    pub fn watchdogs(&self) -> WatchdogLimits {
        WatchdogLimits::from_millis(
            self.inactivity_ms,
            self.max_duration_ms,
            self.tool_silence_ms,
        )
    }

    /// Apply these options to a registry builder.
    pub fn apply<J, R>(&self, b: JobRegistryBuilder<J, R>) -> JobRegistryBuilder<J, R>
    where
        J: Send + 'static,
        R: super::JobResult,
    {
        let mut b = b.limits(self.watchdogs());
        if let Some(ms) = self.retention_ms {
            b = b.retention(Duration::from_millis(ms));
        }
        if let Some(ms) = self.abort_settle_ms {
            b = b.abort_settle(Duration::from_millis(ms));
        }
        if let Some(ms) = self.cancel_grace_ms {
            b = b.cancel_grace(Duration::from_millis(ms));
        }
        b
    }
}

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
/// maxDurationMs, toolSilenceMs, killGraceMs, knownSecrets, tailChars, idleFlushMs }`).
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
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CommandOptions {
    /// The program (`argv[0]`), looked up on `PATH` when it has no `/`. Required.
    pub cmd: String,
    /// Its arguments.
    #[serde(default, deserialize_with = "null_as_default")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>"))]
    pub args: Vec<String>,
    /// Working directory (default: inherited).
    pub cwd: Option<PathBuf>,
    /// Variables set on top of the inherited environment (a JSON object of strings).
    #[serde(default, deserialize_with = "env_map", serialize_with = "env_ser")]
    #[cfg_attr(
        feature = "ts",
        ts(as = "Option<std::collections::HashMap<String, String>>")
    )]
    pub env: Vec<(String, String)>,
    /// Inactivity window (absent: 10 min; 0: off). Ignored inside a registry job,
    /// whose own watchdogs apply.
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub inactivity_ms: Option<u64>,
    /// Max-duration window (absent: 60 min; 0: off). Ignored inside a registry job.
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub max_duration_ms: Option<u64>,
    /// Tool-silence window (absent or 0: off). Ignored inside a registry job.
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub tool_silence_ms: Option<u64>,
    /// Grace between SIGTERM and SIGKILL (absent: 5 s).
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub kill_grace_ms: Option<u64>,
    /// Extra secrets to mask (registered process-wide).
    #[serde(default, deserialize_with = "null_as_default")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<String>>"))]
    pub known_secrets: Vec<String>,
    /// Characters of output tail to keep (absent: 16,000).
    pub tail_chars: Option<usize>,
    /// Idle flush: after this many milliseconds without output, held-back text that
    /// cannot be the start of a secret is emitted (absent: 200; 0: only at the end).
    #[cfg_attr(feature = "ts", ts(as = "Option<u32>"))]
    pub idle_flush_ms: Option<u64>,
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
            .field("idle_flush_ms", &self.idle_flush_ms)
            .finish()
    }
}

impl CommandOptions {
    /// Parse a spec from JSON (fields named under `spec`) and [`validate`](Self::validate) it.
    pub fn from_json(text: &str) -> Result<Self, OptionsError> {
        let o: CommandOptions = options::from_json(text, "spec_json", "spec")?;
        o.validate()?;
        Ok(o)
    }

    /// Check what serde cannot: `cmd` is not empty.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.cmd.is_empty() {
            return Err(OptionsError::shape("spec.cmd", "is empty"));
        }
        Ok(())
    }

    /// Every secret-bearing string of the spec (`args`, `env` values, `knownSecrets`),
    /// to mask in error messages about it.
    pub fn secret_values(&self) -> Vec<&str> {
        self.args
            .iter()
            .chain(self.known_secrets.iter())
            .chain(self.env.iter().map(|(_, v)| v))
            .map(String::as_str)
            .collect()
    }

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
        if let Some(ms) = self.idle_flush_ms {
            spec = spec.idle_flush(Some(Duration::from_millis(ms)));
        }
        spec
    }
}

/// Environment variable of the max-duration window (the reference's name).
pub const ENV_MAX_DURATION_MS: &str = "JOB_MAX_DURATION_MS";
/// Environment variable of the inactivity window.
pub const ENV_INACTIVITY_MS: &str = "JOB_INACTIVITY_MS";
/// Environment variable of the cold-start window (`0` disables it).
pub const ENV_COLD_START_MS: &str = "JOB_COLD_START_MS";
/// Environment variable of the tool-silence window (`0` disables it).
pub const ENV_TOOL_SILENCE_MS: &str = "JOB_TOOL_SILENCE_MS";
/// The cold-start window [`RunnerLimits::from_env`] uses when none is set: 2 minutes.
pub const DEFAULT_COLD_START: Duration = Duration::from_secs(2 * 60);

/// The reference's `RunnerLimits` as `loadRunnerLimits()` builds them from the
/// environment, in milliseconds (`0`: that watchdog is off):
///
/// * `maxDurationMs` ← `JOB_MAX_DURATION_MS` (a positive number; default 60 min),
/// * `inactivityMs` ← `JOB_INACTIVITY_MS` (a positive number; default 10 min),
/// * `coldStartMs` ← `JOB_COLD_START_MS` (`0` allowed; default 2 min),
/// * `toolSilenceMs` ← `JOB_TOOL_SILENCE_MS` (`0` allowed; default half the max duration,
///   but at least the inactivity window — derived, so a shorter cap tightens it too).
///
/// Junk (not a number, negative, or `0` where zero is not allowed) falls back to the
/// default, as in the reference. Values are read like JavaScript's `Number(text)`
/// (surrounding whitespace ignored, `1e3` allowed; a fraction is rounded up to whole
/// milliseconds — keel's windows are integers).
///
/// ```
/// use keel_core::jobs::RunnerLimits;
///
/// let l = RunnerLimits::from_lookup(|name| match name {
///     "JOB_MAX_DURATION_MS" => Some("1200000".into()),
///     "JOB_INACTIVITY_MS" => Some("nope".into()),
///     _ => None,
/// });
/// assert_eq!(l.max_duration_ms, 1_200_000);
/// assert_eq!(l.inactivity_ms, 600_000);
/// assert_eq!(l.cold_start_ms, 120_000);
/// assert_eq!(l.tool_silence_ms, 600_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RunnerLimits {
    /// Hard ceiling on a job's wall-clock.
    pub max_duration_ms: u64,
    /// Fail the job after this long without activity.
    pub inactivity_ms: u64,
    /// Record the cold-start diagnostic after this long without any activity (0: off).
    pub cold_start_ms: u64,
    /// Fail a job whose open tool window sees output but no completed tool call for
    /// this long (0: off).
    pub tool_silence_ms: u64,
}

/// JavaScript's `Number(text)` for the decimal and `0x`/`0o`/`0b` forms (`''` is 0).
fn js_number(text: &str) -> f64 {
    let t = text.trim();
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            return u64::from_str_radix(digits, radix)
                .map(|n| n as f64)
                .unwrap_or(f64::NAN);
        }
    }
    let unsigned = t.trim_start_matches(['+', '-']);
    if unsigned == "Infinity" {
        return if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    // Rust also reads `inf` / `nan` (JavaScript does not); both are non-finite → junk.
    if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return f64::NAN;
    }
    t.parse::<f64>().unwrap_or(f64::NAN)
}

fn to_ms(n: f64) -> u64 {
    n.ceil().min(9_007_199_254_740_991.0) as u64
}

impl RunnerLimits {
    /// Limits from the process environment (see [`RunnerLimits::from_lookup`]).
    pub fn from_env() -> RunnerLimits {
        RunnerLimits::from_lookup(|name| std::env::var(name).ok())
    }

    /// Limits from `lookup(name)` (the value of environment variable `name`, if set).
    pub fn from_lookup(mut lookup: impl FnMut(&str) -> Option<String>) -> RunnerLimits {
        // The reference's `intEnv`: unset or empty → default; a positive number wins.
        let mut positive = |name: &str, fallback: u64| match lookup(name) {
            Some(v) if !v.is_empty() => {
                let n = js_number(&v);
                if n.is_finite() && n > 0.0 {
                    to_ms(n)
                } else {
                    fallback
                }
            }
            _ => fallback,
        };
        let max_duration_ms = positive(ENV_MAX_DURATION_MS, DEFAULT_MAX_DURATION_MS);
        let inactivity_ms = positive(ENV_INACTIVITY_MS, DEFAULT_INACTIVITY_MS);
        // `intEnvAllowZero`: unset → default; a number ≥ 0 wins (`''` reads as 0).
        let mut zero_ok = |name: &str, fallback: u64| match lookup(name) {
            None => fallback,
            Some(v) => {
                let n = js_number(&v);
                if n.is_finite() && n >= 0.0 {
                    to_ms(n)
                } else {
                    fallback
                }
            }
        };
        let cold_start_ms = zero_ok(ENV_COLD_START_MS, DEFAULT_COLD_START.as_millis() as u64);
        let tool_silence_ms = zero_ok(
            ENV_TOOL_SILENCE_MS,
            RunnerLimits::tool_silence_default(max_duration_ms, inactivity_ms),
        );
        RunnerLimits {
            max_duration_ms,
            inactivity_ms,
            cold_start_ms,
            tool_silence_ms,
        }
    }

    /// The tool-silence window when none is configured: half the max duration (rounded),
    /// floored at the inactivity window.
    pub fn tool_silence_default(max_duration_ms: u64, inactivity_ms: u64) -> u64 {
        max_duration_ms.div_ceil(2).max(inactivity_ms)
    }

    /// The watchdog windows these limits ask for (`0` turns a watchdog off).
    pub fn watchdog_limits(&self) -> WatchdogLimits {
        let on = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        WatchdogLimits::none()
            .max_duration(on(self.max_duration_ms))
            .inactivity(on(self.inactivity_ms))
            .tool_silence(on(self.tool_silence_ms))
            .cold_start(on(self.cold_start_ms))
    }
}

const DEFAULT_MAX_DURATION_MS: u64 = super::watchdog::DEFAULT_MAX_DURATION.as_millis() as u64;
const DEFAULT_INACTIVITY_MS: u64 = super::watchdog::DEFAULT_INACTIVITY.as_millis() as u64;
