//! Status values, the events handed to callbacks, and the JSON snapshot for `doctor`.

use serde::{Deserialize, Serialize};

/// Where a supervisor (or one of its slots) is.
///
/// JSON: `{"state":"backing-off","attempt":3,"delayMs":8000}`, `{"state":"running"}`, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Status {
    /// Started, before the first registration.
    Online,
    /// Calling `register()`.
    Registering,
    /// Calling `run(registration)`: the worker is up.
    Running,
    /// Waiting before the next registration.
    #[serde(rename_all = "camelCase")]
    BackingOff {
        /// Consecutive failures so far (0 after a fixed run-failure backoff following a
        /// stable run).
        attempt: u32,
        /// How long this wait is.
        delay_ms: u64,
    },
    /// The burst limit tripped: still retrying, at the cap.
    #[serde(rename_all = "camelCase")]
    Degraded {
        /// Consecutive failures so far.
        attempt: u32,
        /// How long this wait is.
        delay_ms: u64,
    },
    /// Stopped. Always the last status, also after an error.
    Offline,
}

impl Status {
    /// The state's name (`online`, `registering`, `running`, `backing-off`, `degraded`,
    /// `offline`).
    pub fn name(&self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Registering => "registering",
            Status::Running => "running",
            Status::BackingOff { .. } => "backing-off",
            Status::Degraded { .. } => "degraded",
            Status::Offline => "offline",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::BackingOff { attempt, delay_ms } | Status::Degraded { attempt, delay_ms } => {
                write!(f, "{} (attempt {attempt}, {delay_ms} ms)", self.name())
            }
            s => f.write_str(s.name()),
        }
    }
}

/// One status change, handed to the status callback.
///
/// JSON: `{"slot":0,"at":1700000000000,"state":"running"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    /// The slot (0 for a single supervisor).
    pub slot: u32,
    /// Epoch ms of the change.
    pub at: u64,
    /// The new status.
    #[serde(flatten)]
    pub status: Status,
    /// Why, when the change follows a failure (redacted).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// How one run ended, as recorded in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// Epoch ms the run ended.
    pub ended_at: u64,
    /// How long it ran, ms.
    pub duration_ms: u64,
    /// The worker's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// True when the outcome cannot tell success from a fatal stop (an ephemeral
    /// `run.sh` exits 0 both after its job and on some fatal errors).
    pub ambiguous: bool,
    /// Counted as a failure (non-zero, signal, error).
    pub failed: bool,
}

/// One slot's state in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SlotSnapshot {
    /// The slot.
    pub slot: u32,
    /// Its current status.
    pub status: Status,
    /// Epoch ms of its last status change.
    pub since: u64,
    /// Cycles started.
    pub cycles: u64,
    /// Successful registrations.
    pub registrations: u64,
    /// Failed registrations.
    pub registration_failures: u64,
    /// Failed runs.
    pub run_failures: u64,
    /// Consecutive failures now.
    pub consecutive_failures: u32,
    /// Its working directory, if any.
    pub work_dir: Option<String>,
    /// The last error (redacted).
    pub last_error: Option<String>,
    /// The last run.
    pub last_run: Option<RunRecord>,
}

/// The JSON status snapshot (`doctor`, `keel_supervisor_status`, `status()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StatusSnapshot {
    /// Snapshot format version (1).
    pub version: u32,
    /// The overall status: `offline` when stopped, else `degraded` when any slot is,
    /// else `running` when any slot runs, else the first slot's status.
    pub status: Status,
    /// Epoch ms the supervisor started (`None` before `run`).
    pub started_at: Option<u64>,
    /// Epoch ms of the snapshot.
    pub at: u64,
    /// `READY=1` went to systemd (or would have: the first registration succeeded).
    pub ready: bool,
    /// Per-slot detail.
    pub slots: Vec<SlotSnapshot>,
}

impl StatusSnapshot {
    /// The snapshot as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}
