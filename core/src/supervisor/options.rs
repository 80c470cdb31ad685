//! The supervisor's options: one serde type, camelCase on the wire, durations in ms.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SupervisorError;

/// Default first backoff after a failed registration (the reference's 2 s).
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Default backoff cap (the reference's 30 s).
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Default stable period: a run at least this long resets the failure count.
pub const DEFAULT_STABLE_AFTER: Duration = Duration::from_secs(60);
/// Default short fixed backoff after a non-zero run exit (the reference uses the base).
pub const DEFAULT_RUN_FAILURE_BACKOFF: Duration = Duration::from_secs(2);
/// Default minimum length of one cycle: a cycle that registers and runs successfully in
/// less waits out the rest, so a worker that exits 0 instantly cannot spin.
pub const DEFAULT_MIN_CYCLE: Duration = Duration::from_secs(1);
/// Default grace between SIGTERM and SIGKILL when a running worker is stopped.
pub const DEFAULT_STOP_GRACE: Duration = crate::process::DEFAULT_KILL_GRACE;

/// How a failed run (non-zero exit, signal, error) is backed off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RunFailurePolicy {
    /// A short fixed delay ([`SupervisorOptions::run_failure_backoff_ms`]); the worker's
    /// own health, not the registration path (the actions/runner default).
    #[default]
    Fixed,
    /// The same capped exponential backoff as a failed registration (each exit of a
    /// supervised command is one cycle: `keel supervise command`).
    Exponential,
}

/// An optional burst limit: `failures` failures within `windowMs` → status `degraded`
/// and every further backoff at the cap until a run succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BurstLimit {
    /// How many failures (registration or run) trip the limit.
    pub failures: u32,
    /// Within how many milliseconds.
    pub window_ms: u64,
}

/// Options of a [`Supervisor`](super::Supervisor). JSON (C, Node) uses the same
/// camelCase names; every field is optional.
///
/// ```
/// use keel_core::supervisor::SupervisorOptions;
/// let o: SupervisorOptions = serde_json::from_str(r#"{"backoffBaseMs": 500, "pool": 4}"#).unwrap();
/// assert_eq!(o.backoff_base_ms, 500);
/// assert_eq!(o.backoff_max_ms, 30_000);
/// assert!(serde_json::from_str::<SupervisorOptions>(r#"{"bogus": 1}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SupervisorOptions {
    /// First backoff after a failed registration, ms (default 2000).
    pub backoff_base_ms: u64,
    /// Backoff cap, ms (default 30000).
    pub backoff_max_ms: u64,
    /// Jitter ratio in `[0, 1]`: each backoff is drawn from `[(1-j)·d, d]` (default 0.2;
    /// 0 gives the exact sequence 2 s, 4 s, 8 s, 16 s, 30 s, …).
    pub jitter: f64,
    /// A run at least this long resets the failure count, ms (default 60000).
    pub stable_after_ms: u64,
    /// How failed runs back off (default `fixed`).
    pub run_failure: RunFailurePolicy,
    /// The fixed backoff after a failed run, ms (default 2000).
    pub run_failure_backoff_ms: u64,
    /// Minimum length of a successful cycle, ms (default 1000; never 0 for a worker
    /// that could exit at once, or it would spin).
    pub min_cycle_ms: u64,
    /// Optional burst limit → `degraded`.
    pub burst: Option<BurstLimit>,
    /// Grace between SIGTERM and SIGKILL when stopping a running worker, ms (default 5000).
    pub stop_grace_ms: u64,
    /// Install SIGTERM/SIGINT handlers for the duration of `run` (default false; the CLI
    /// turns it on). They are removed on every exit path.
    pub install_signal_handlers: bool,
    /// Talk to systemd when `NOTIFY_SOCKET` is set (`READY=1`, `WATCHDOG=1`,
    /// `STOPPING=1`; default true).
    pub systemd_notify: bool,
    /// Watchdog ping interval, ms; default: half of `WATCHDOG_USEC` when systemd set it.
    pub watchdog_interval_ms: Option<u64>,
    /// Number of slots (pool mode; default 1). Each slot runs its own cycle and its own
    /// working directory; a failing slot never stops the others.
    pub pool: u32,
    /// Base directory of the slots' working directories (`<workDir>/slot-<i>`), created
    /// when missing. Without it slots get no working directory.
    pub work_dir: Option<String>,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            backoff_base_ms: DEFAULT_BACKOFF_BASE.as_millis() as u64,
            backoff_max_ms: DEFAULT_BACKOFF_MAX.as_millis() as u64,
            jitter: 0.2,
            stable_after_ms: DEFAULT_STABLE_AFTER.as_millis() as u64,
            run_failure: RunFailurePolicy::Fixed,
            run_failure_backoff_ms: DEFAULT_RUN_FAILURE_BACKOFF.as_millis() as u64,
            min_cycle_ms: DEFAULT_MIN_CYCLE.as_millis() as u64,
            burst: None,
            stop_grace_ms: DEFAULT_STOP_GRACE.as_millis() as u64,
            install_signal_handlers: false,
            systemd_notify: true,
            watchdog_interval_ms: None,
            pool: 1,
            work_dir: None,
        }
    }
}

/// Upper bound of every duration option (one day), so arithmetic never overflows.
const MAX_MS: u64 = 86_400_000;

impl SupervisorOptions {
    /// Parse options from JSON text (the C and Node surfaces). An empty text means
    /// defaults. Errors name the field, never echo a value.
    pub fn from_json(text: &str) -> Result<Self, SupervisorError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let o: Self = crate::options::from_json(text, "options_json", "options")
            .map_err(SupervisorError::from_options)?;
        o.validate()?;
        Ok(o)
    }

    /// Parse options from a JSON value (the Node surface converts its JS object to one),
    /// with the same errors as [`from_json`](Self::from_json); `null` means defaults.
    pub fn from_value(value: serde_json::Value) -> Result<Self, SupervisorError> {
        let o: Self =
            crate::options::from_value(value, "options").map_err(SupervisorError::from_options)?;
        o.validate()?;
        Ok(o)
    }

    /// Check ranges: durations up to one day, `backoffBaseMs ≥ 1`,
    /// `backoffMaxMs ≥ backoffBaseMs`, jitter in `[0, 1]`, `pool` 1..=1024.
    pub fn validate(&self) -> Result<(), SupervisorError> {
        let durations = [
            ("backoffBaseMs", self.backoff_base_ms),
            ("backoffMaxMs", self.backoff_max_ms),
            ("stableAfterMs", self.stable_after_ms),
            ("runFailureBackoffMs", self.run_failure_backoff_ms),
            ("minCycleMs", self.min_cycle_ms),
            ("stopGraceMs", self.stop_grace_ms),
        ];
        for (field, v) in durations {
            if v > MAX_MS {
                return Err(SupervisorError::field(field, "must be at most one day"));
            }
        }
        if self.backoff_base_ms == 0 {
            return Err(SupervisorError::field(
                "backoffBaseMs",
                "must be at least 1 ms (0 would retry in a hot loop)",
            ));
        }
        if self.backoff_max_ms < self.backoff_base_ms {
            return Err(SupervisorError::field(
                "backoffMaxMs",
                "must be at least backoffBaseMs",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) || self.jitter.is_nan() {
            return Err(SupervisorError::field("jitter", "must be between 0 and 1"));
        }
        if self.pool == 0 || self.pool > 1024 {
            return Err(SupervisorError::field("pool", "must be between 1 and 1024"));
        }
        if let Some(b) = self.burst {
            if b.failures == 0 {
                return Err(SupervisorError::field(
                    "burst.failures",
                    "must be at least 1",
                ));
            }
            if b.window_ms == 0 || b.window_ms > MAX_MS {
                return Err(SupervisorError::field(
                    "burst.windowMs",
                    "must be between 1 ms and one day",
                ));
            }
        }
        if let Some(w) = self.watchdog_interval_ms {
            if w == 0 || w > MAX_MS {
                return Err(SupervisorError::field(
                    "watchdogIntervalMs",
                    "must be between 1 ms and one day",
                ));
            }
        }
        Ok(())
    }
}
